/*
 * cli_ndjson.c - parsing of one NDJSON line of `evstore append --file` (format in
 * cli_ndjson.h). jansson checks the line and the member types; the data and metadata
 * bytes are then taken from the line's own text (evs_cli_json_member_span) and compacted,
 * so numbers and strings are stored exactly as written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli_json.h"
#include "cli_ndjson.h"

void evs_cli_event_free(evs_cli_event *event)
{
    if (!event)
        return;
    free(event->type);
    free(event->data);
    free(event->metadata);
    free(event->event_id);
    free(event->correlation_id);
    free(event->causation_id);
    memset(event, 0, sizeof *event);
}

int evs_cli_ndjson_blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '\n')
            return 0;
    return 1;
}

/* A copy of an optional string member; -1 if present but not a string. */
static int optional_string(json_t *object, const char *key, char **out, char *err, size_t err_len)
{
    json_t *v = json_object_get(object, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        snprintf(err, err_len, "\"%s\" must be a string", key);
        return -1;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(err, err_len, "\"%s\" contains a NUL character", key);
        return -1;
    }
    *out = strdup(json_string_value(v));
    if (!*out) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    return 0;
}

/* The compact JSON text of member key (which must exist in line) as a malloc'd string. */
static char *member_compact(const char *line, size_t len, const char *key, size_t *out_len)
{
    size_t start = 0, span = 0;
    evs_cli_buf buf = {0};
    if (!evs_cli_json_member_span(line, len, key, &start, &span))
        return NULL;
    evs_cli_json_compact(&buf, line + start, span);
    *out_len = buf.len;
    return buf.data;
}

int evs_cli_ndjson_parse(const char *line, size_t len, evs_cli_event *out, char *err,
                         size_t err_len)
{
    json_error_t jerr;
    json_t *root = NULL;

    memset(out, 0, sizeof *out);
    root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL,
                      &jerr);
    if (!root) {
        snprintf(err, err_len, "not valid JSON: %s (column %d)", jerr.text, jerr.column);
        goto fail;
    }
    if (!json_is_object(root)) {
        snprintf(err, err_len, "not a JSON object");
        goto fail;
    }
    json_t *type = json_object_get(root, "type");
    if (!json_is_string(type) || json_string_length(type) == 0) {
        snprintf(err, err_len, "\"type\" is missing or not a non-empty string");
        goto fail;
    }
    if (!json_object_get(root, "data")) {
        snprintf(err, err_len, "\"data\" is missing");
        goto fail;
    }
    if (optional_string(root, "type", &out->type, err, err_len) != 0 ||
        optional_string(root, "event_id", &out->event_id, err, err_len) != 0 ||
        optional_string(root, "correlation_id", &out->correlation_id, err, err_len) != 0 ||
        optional_string(root, "causation_id", &out->causation_id, err, err_len) != 0)
        goto fail;
    if (out->event_id && !evs_cli_uuid_valid(out->event_id)) {
        snprintf(err, err_len, "\"event_id\" \"%.40s\" is not a UUID", out->event_id);
        goto fail;
    }
    out->data = member_compact(line, len, "data", &out->data_len);
    if (!out->data) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    json_t *metadata = json_object_get(root, "metadata");
    if (metadata && !json_is_null(metadata)) {
        out->metadata = member_compact(line, len, "metadata", &out->metadata_len);
        if (!out->metadata) {
            snprintf(err, err_len, "out of memory");
            goto fail;
        }
    }
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    evs_cli_event_free(out);
    return -1;
}

void evs_cli_event_to_data(const evs_cli_event *event, evs_event_data *data)
{
    memset(data, 0, sizeof *data);
    data->event_id = event->event_id;
    data->type = event->type;
    data->data = event->data;
    data->data_len = event->data_len;
    data->content_type = "application/json";
    data->metadata = event->metadata;
    data->metadata_len = event->metadata_len;
    data->correlation_id = event->correlation_id;
    data->causation_id = event->causation_id;
}
