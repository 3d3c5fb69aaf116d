/*
 * cli_ndjson.h - one line of the NDJSON file of `evstore append STREAM --file FILE`.
 *
 * A line is a JSON object:
 *   {"type": "OrderPlaced", "data": <any JSON>, "metadata": <any JSON>, "event_id": "<uuid>",
 *    "correlation_id": "...", "causation_id": "...", "subject": "...", "seal_metadata": true}
 * type and data are required; metadata (null = none), event_id, correlation_id,
 * causation_id, subject (personal data of that data subject) and seal_metadata (only with
 * a subject) are optional; other members are ignored (so lines printed by `evstore read`
 * can be fed back). data and metadata are stored as their compact JSON text.
 */
#ifndef EVS_CLI_NDJSON_H
#define EVS_CLI_NDJSON_H

#include <stddef.h>
#include <stdint.h>

#include "evstore.h"

/* One parsed line. Every pointer is malloc'd and owned by the struct (NUL-terminated);
 * free with evs_cli_event_free. */
typedef struct evs_cli_event {
    char *type;
    char *data;
    size_t data_len;
    char *metadata; /* NULL when absent or null */
    size_t metadata_len;
    char *event_id; /* NULL when absent */
    char *correlation_id;
    char *causation_id;
    char *content_type; /* NULL means application/json (append --file lines have none) */
    char *subject;      /* append --file: the line's "subject", NULL when absent or null */
    int seal_metadata;  /* append --file: the line's "seal_metadata" (a boolean) */
} evs_cli_event;

void evs_cli_event_free(evs_cli_event *event);

/* 1 if the line holds only whitespace (it is skipped). */
int evs_cli_ndjson_blank(const char *line, size_t len);

/* Parses one line (without its newline). Returns 0, or -1 with a message in err naming the
 * problem (the caller adds the line number). */
int evs_cli_ndjson_parse(const char *line, size_t len, evs_cli_event *out, char *err,
                         size_t err_len);

/* One line of `evstore export`, as `evstore import` reads it (written by
 * evs_cli_format_export_event):
 *   {"stream": "Order-7", "version": 3, "type": "OrderPaid", "event_id": "<uuid>",
 *    "content_type": "application/json", "data": <JSON>, "metadata": <JSON> | null,
 *    "correlation_id": "..." | null, "causation_id": "..." | null, ...}
 * stream, version (1..2^63-1), type, event_id and data are required. data (or metadata) may
 * instead be a base64 string with "data_encoding" ("metadata_encoding") "base64": the exact
 * bytes. content_type defaults to application/json, or application/octet-stream for base64
 * data. Other members (partition, position, created) are ignored. JSON data and metadata are
 * taken as their compact text: an export's, which is the stored bytes. "subject" (personal
 * data: the import seals it again, with the importing client's master key; its metadata
 * stays plain) is kept; a line with "erased": true is refused (its data is gone). */
typedef struct evs_cli_export_line {
    char *stream;        /* malloc'd, owned */
    uint64_t version;
    evs_cli_event event; /* type, data, metadata, ids and content_type, owned */
} evs_cli_export_line;

/* Parses one line (without its newline) into *out, which is freed with
 * evs_cli_export_line_free. Returns 0, or -1 with a message in err naming the problem (the
 * caller adds the line number); then *out holds nothing. */
int evs_cli_export_line_parse(const char *line, size_t len, evs_cli_export_line *out, char *err,
                              size_t err_len);

void evs_cli_export_line_free(evs_cli_export_line *line);

/* Points data at the event's fields for evs_append(); valid while event lives. */
void evs_cli_event_to_data(const evs_cli_event *event, evs_event_data *data);

#endif /* EVS_CLI_NDJSON_H */
