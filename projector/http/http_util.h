/*
 * http_util.h - what every HTTP endpoint module of the projector shares: a JSON text
 * builder, the event object of docs/HTTP-API.md, answers, and query-parameter parsing.
 *
 * Every answer is JSON, except the binary pages of events a read sends when asked for them
 * (Accept: application/vnd.evstore.page+avro), and every error is {"error": "..."}
 * (docs/HTTP-API.md).
 */
#ifndef EVS_HTTP_UTIL_H
#define EVS_HTTP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "judge/projector.h"

/* A growable NUL-terminated text buffer. Zero-initialise; an allocation failure sets oom
 * and later appends do nothing, so a handler checks once, at the end (send_json does). */
typedef struct evs_out {
    char *p;
    size_t len, cap;
    int oom;
} evs_out;

void evs_out_raw(evs_out *o, const void *s, size_t n);
void evs_out_str(evs_out *o, const char *s);
void evs_out_fmt(evs_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string; bytes that are not UTF-8 become U+FFFD. */
void evs_out_jstr(evs_out *o, const char *s, size_t n);
/* p as a quoted base64 string. */
void evs_out_base64(evs_out *o, const uint8_t *p, size_t n);
/* A time in microseconds as a quoted ISO-8601 UTC string with microseconds. */
void evs_out_iso_time(evs_out *o, int64_t us);
/* One event object; base64 forces data and metadata to base64 strings. */
void evs_out_event(evs_out *o, const evs_stored_event *e, int base64);
/* evs_out_event of what a read shows of e: personal data opened by kr (keys/keyring.h, K4;
 * kr NULL: shown sealed). Sets o->oom when memory ran out. */
struct evs_keyring;
void evs_out_event_revealed(evs_out *o, const evs_stored_event *e, int base64,
                            struct evs_keyring *kr);
/* Whether a stored content type says JSON (application/json or any +json type). */
int evs_content_type_is_json(const char *content_type, size_t len);
/* Whether p..n is one JSON value. */
int evs_is_json(const uint8_t *p, size_t n);

/* Whether the request's Accept header names media_type (case-insensitive) with a quality
 * above 0. Wildcards do not count: a client gets a non-JSON form only by naming it. */
int evs_http_accepts(struct MHD_Connection *c, const char *media_type);
/* Queues len bytes at data (taking the malloc'd memory, NULL when len is 0) as the answer,
 * with the given status and content type. A NULL data with len > 0 means memory ran out:
 * a 500 JSON error is sent instead. */
enum MHD_Result evs_http_send_bytes(struct MHD_Connection *c, unsigned status,
                                    const char *content_type, void *data, size_t len);
/* Queues o as the answer (taking its memory) with the given status. */
enum MHD_Result evs_http_send_json(struct MHD_Connection *c, unsigned status, evs_out *o);
/* Queues {"error": message}. */
enum MHD_Result evs_http_send_error(struct MHD_Connection *c, unsigned status, const char *fmt,
                                    ...) __attribute__((format(printf, 3, 4)));
/* Queues 405 {"error": ...} with an Allow header naming the methods the path takes
 * (`allowed`, comma-separated; HEAD is added after GET, which also answers it). */
enum MHD_Result evs_http_send_not_allowed(struct MHD_Connection *c, const char *method,
                                          const char *allowed);
/* Parses an optional unsigned query parameter in [min, max] (def when absent). Returns 0,
 * or -1 after queueing a 400 answer into *ret. */
int evs_http_query_u64(struct MHD_Connection *c, const char *name, uint64_t def, uint64_t min,
                       uint64_t max, uint64_t *value, enum MHD_Result *ret);
/* The encoding parameter: 1 for base64, 0 for json (default), -1 after queueing a 400. */
int evs_http_query_encoding(struct MHD_Connection *c, enum MHD_Result *ret);
/* Whether this projector serves `partition` (its --serve-partitions shard). When it does
 * not, queues 421 Misdirected Request, {"error": ..., "error_type": "not_served",
 * "partition": N, "served": [...]}, into *ret and returns 0: nothing here can answer for
 * that partition, and no answer (not even a 404) is given from its unconsumed state. */
int evs_http_served(evs_projector *p, struct MHD_Connection *c, int32_t partition,
                    enum MHD_Result *ret);
/* The same for the partition of a stream. */
int evs_http_stream_served(evs_projector *p, struct MHD_Connection *c, const char *name,
                           size_t len, enum MHD_Result *ret);

/* Adds e, as a read shows it (already revealed by the keyring: e->reveal), to a binary
 * page (schemas/page_codec.h). */
struct evs_page_encoder;
void evs_page_add_stored(struct evs_page_encoder *enc, const evs_stored_event *e);

/* libmicrohttpd's unescape callback (a decoded NUL becomes 0x01, which no name accepts). */
size_t evs_http_unescape(void *cls, struct MHD_Connection *c, char *s);

/* One request, as routed to an endpoint handler. */
typedef struct evs_http_request {
    evs_projector *projector;
    struct MHD_Connection *connection;
    const char *method;
    const char *path;     /* the decoded path */
    const char *rest;     /* the part of the path after the route's prefix */
    const char *body;     /* the request body, NUL-terminated ("" when none) */
    size_t body_len;
} evs_http_request;

typedef enum MHD_Result (*evs_http_handler)(const evs_http_request *request);

/* Request bodies larger than this are refused with 413. */
#define EVS_HTTP_BODY_MAX (8u << 20)

#endif /* EVS_HTTP_UTIL_H */
