/*
 * cli_json.h - JSON text helpers of the `evstore` CLI: a growable output buffer, string
 * escaping, base64 encoding, and byte-exact handling of JSON the user gave us.
 *
 * Why not re-serialise with jansson: jansson turns 1.1 into 1.1000000000000001 and refuses
 * integers beyond 64 bits, so JSON that passes through the CLI (an NDJSON line's data,
 * a payload printed by `evstore read`) is handled as text: validated with jansson, then
 * copied with only the whitespace between tokens removed (evs_cli_json_compact). Numbers,
 * strings and member order stay exactly as written.
 */
#ifndef EVS_CLI_JSON_H
#define EVS_CLI_JSON_H

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer; zero-initialise. The CLI exits with "out of memory" (exit code 1)
 * if it cannot grow, so the append functions cannot fail. data is NUL-terminated whenever
 * len > 0. */
typedef struct evs_cli_buf {
    char *data;
    size_t len;
    size_t cap;
} evs_cli_buf;

void evs_cli_buf_append(evs_cli_buf *buf, const void *bytes, size_t len);
void evs_cli_buf_puts(evs_cli_buf *buf, const char *text);
void evs_cli_buf_printf(evs_cli_buf *buf, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
void evs_cli_buf_free(evs_cli_buf *buf);

/* Appends bytes as a quoted JSON string ("..."), escaping '"', '\\' and control bytes. */
void evs_cli_json_string(evs_cli_buf *buf, const char *bytes, size_t len);

/* Appends the standard base64 (with padding) of bytes, without quotes. */
void evs_cli_base64(evs_cli_buf *buf, const void *bytes, size_t len);

/* 1 if text is one valid JSON value of any type (jansson, integers beyond 64 bits allowed).
 * On 0, err (if not NULL) says what is wrong and where. */
int evs_cli_json_valid(const char *text, size_t len, char *err, size_t err_len);

/* Appends valid JSON text with the whitespace between tokens removed. */
void evs_cli_json_compact(evs_cli_buf *buf, const char *text, size_t len);

/* In valid JSON text whose top-level value is an object, finds the value of member key.
 * Returns 1 and its byte span [*start, *start + *span_len), or 0 if there is no such member.
 * If the key occurs more than once the last occurrence wins (as in jansson). */
int evs_cli_json_member_span(const char *text, size_t len, const char *key, size_t *start,
                             size_t *span_len);

/* 1 if a content type is JSON: application/json or a +json type, parameters allowed. */
int evs_cli_is_json_content_type(const char *content_type);

/* 1 if text is a UUID in 8-4-4-4-12 hex form. */
int evs_cli_uuid_valid(const char *text);

/* Formats microseconds since the epoch as ISO-8601 UTC, e.g. 2026-11-28T10:00:00.123456Z. */
void evs_cli_format_time(int64_t us, char out[40]);

#endif /* EVS_CLI_JSON_H */
