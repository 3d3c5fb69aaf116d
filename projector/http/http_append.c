/*
 * http_append.c - POST /streams/{stream}: appends over HTTP (docs/HTTP-API.md, "Appending
 * events"; the answers are in docs/openapi.yaml).
 *
 * A request goes through two gates, and nothing is produced unless it passes both:
 *  1. this module checks the body (JSON, known members, member types, base64, JSON payloads
 *     for JSON content types) and builds the evs_event_data array;
 *  2. evs_append() (libevstore's public API, the one every C client uses) validates the
 *     append against evstore_limits.h, produces it, and waits for this projector's verdict.
 * So an HTTP append has exactly the semantics of evs_append(), and its return code alone
 * chooses the answer (answer_failure below is the whole mapping).
 *
 * Payload bytes are taken from the body's own text (schemas/json_text.h): "data" and
 * "metadata" are stored as their JSON text with only the whitespace between tokens removed,
 * so 1.10 stays 1.10 and member order stays as written; jansson is used to check the body
 * and read the plain string members, never to re-serialise a payload.
 *
 * Memory: one arena of body_len bytes holds every payload built here. It always suffices,
 * because each payload comes from its own span of the body and is never longer than it:
 * compacting never lengthens, and a base64 string of n characters (n + 2 with its quotes)
 * decodes to at most (n + 3) / 4 * 3 <= n + 2 bytes. arena_take asserts the bound.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base64_decode.h"
#include "http/http_append.h"
#include "json_text.h"

#define MESSAGE_MAX 1024

static const char *const request_members[] = {"expected", "append_id", "events", NULL};
static const char *const event_members[] = {
    "event_id",     "type",           "data",         "data_base64",   "content_type",
    "metadata",     "correlation_id", "causation_id", "subject",       "seal_metadata",
    NULL};

/* An append as the body asks for it. Strings point into the parsed body (jansson) or the
 * arena; both live until the request is answered. */
typedef struct append_input {
    evs_expected expected;
    const char *expected_text; /* the expectation as given, for the 409 answer (JSON text) */
    char expected_number[24];
    const char *append_id; /* NULL: libevstore generates one */
    evs_event_data *events;
    size_t count;
    char *arena;
    size_t arena_used, arena_cap;
} append_input;

static char *arena_take(append_input *in, size_t n)
{
    assert(in->arena_used + n <= in->arena_cap); /* the bound in the file comment */
    char *p = in->arena + in->arena_used;
    in->arena_used += n;
    return p;
}

/* The first member of object that is not in known, or NULL. */
static const char *unknown_member(json_t *object, const char *const *known)
{
    for (void *it = json_object_iter(object); it; it = json_object_iter_next(object, it)) {
        const char *key = json_object_iter_key(it);
        const char *const *k = known;
        while (*k && strcmp(*k, key))
            k++;
        if (!*k)
            return key;
    }
    return NULL;
}

/* An optional string member: *out is NULL when it is absent or null. Returns -1 with err
 * set when it is another type or holds a NUL character. */
static int string_member(json_t *object, const char *key, const char *where, const char **out,
                         char *err, size_t err_len)
{
    json_t *v = json_object_get(object, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        snprintf(err, err_len, "%s%s must be a string", where, key);
        return -1;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(err, err_len, "%s%s contains a NUL character", where, key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int parse_expected(const char *body, size_t body_len, json_t *root, append_input *in,
                          char *err, size_t err_len)
{
    static const char usage[] =
        "expected must be \"any\", \"no_stream\", \"stream_exists\" or a version number "
        "(0 means no stream yet)";
    json_t *e = json_object_get(root, "expected");
    in->expected.kind = EVS_EXPECT_ANY;
    in->expected.version = 0;
    in->expected_text = "\"any\"";
    if (!e || json_is_null(e))
        return 0;
    if (json_is_string(e)) {
        const char *s = json_string_value(e);
        if (!strcmp(s, "any")) {
            return 0;
        } else if (!strcmp(s, "no_stream")) {
            in->expected.kind = EVS_EXPECT_NO_STREAM;
            in->expected_text = "\"no_stream\"";
            return 0;
        } else if (!strcmp(s, "stream_exists")) {
            in->expected.kind = EVS_EXPECT_STREAM_EXISTS;
            in->expected_text = "\"stream_exists\"";
            return 0;
        }
        snprintf(err, err_len, "%s, not \"%.40s\"", usage, s);
        return -1;
    }
    /* A number: read its digits from the text (jansson holds it as a double). */
    size_t start, span;
    if (!json_is_number(e) || !evs_json_text_member(body, body_len, "expected", &start, &span)) {
        snprintf(err, err_len, "%s", usage);
        return -1;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < span; i++) {
        char c = body[start + i];
        if (c < '0' || c > '9' || v > ((uint64_t)INT64_MAX - 9) / 10) {
            snprintf(err, err_len, "%s; %.*s is not a whole number from 0 to %" PRId64, usage,
                     (int)(span < 40 ? span : 40), body + start, INT64_MAX);
            return -1;
        }
        v = v * 10 + (uint64_t)(c - '0');
    }
    in->expected.kind = EVS_EXPECT_EXACT;
    in->expected.version = v;
    snprintf(in->expected_number, sizeof in->expected_number, "%" PRIu64, v);
    in->expected_text = in->expected_number;
    return 0;
}

/* Builds in->events[i] from the event object ev, whose text is text[0..len). */
static int parse_event(json_t *ev, const char *text, size_t len, size_t i, append_input *in,
                       char *err, size_t err_len)
{
    char where[40];
    evs_event_data *out = &in->events[i];
    snprintf(where, sizeof where, "event %zu: ", i + 1);
    if (!json_is_object(ev)) {
        snprintf(err, err_len, "event %zu is not a JSON object", i + 1);
        return -1;
    }
    const char *unknown = unknown_member(ev, event_members);
    if (unknown) {
        snprintf(err, err_len,
                 "%sunknown member \"%.60s\" (an event has type, data or data_base64, and "
                 "optionally event_id, content_type, metadata, correlation_id, causation_id, "
                 "subject, seal_metadata)",
                 where, unknown);
        return -1;
    }
    if (string_member(ev, "type", where, &out->type, err, err_len) != 0 ||
        string_member(ev, "event_id", where, &out->event_id, err, err_len) != 0 ||
        string_member(ev, "content_type", where, &out->content_type, err, err_len) != 0 ||
        string_member(ev, "correlation_id", where, &out->correlation_id, err, err_len) != 0 ||
        string_member(ev, "causation_id", where, &out->causation_id, err, err_len) != 0 ||
        string_member(ev, "subject", where, &out->subject, err, err_len) != 0)
        return -1;
    /* Personal data: the projector's client seals it with the subject's key (needs
     * --master-key; docs/HTTP-API.md, "Personal data and forgetting"). */
    json_t *seal = json_object_get(ev, "seal_metadata");
    if (seal && !json_is_boolean(seal) && !json_is_null(seal)) {
        snprintf(err, err_len, "%sseal_metadata must be true or false", where);
        return -1;
    }
    out->seal_metadata = seal && json_is_true(seal);
    if (out->seal_metadata && !out->subject) {
        snprintf(err, err_len, "%sseal_metadata needs a subject", where);
        return -1;
    }
    if (!out->type) {
        snprintf(err, err_len, "%stype is missing", where);
        return -1;
    }

    json_t *data = json_object_get(ev, "data");
    json_t *data_base64 = json_object_get(ev, "data_base64");
    if (data && data_base64) {
        snprintf(err, err_len, "%sgive data or data_base64, not both", where);
        return -1;
    }
    if (!data && !data_base64) {
        snprintf(err, err_len, "%sdata (a JSON value) or data_base64 (any bytes) is missing",
                 where);
        return -1;
    }
    size_t start, span;
    if (data_base64) {
        if (!out->content_type)
            out->content_type = "application/octet-stream";
        if (!json_is_string(data_base64)) {
            snprintf(err, err_len, "%sdata_base64 must be a string", where);
            return -1;
        }
        const char *b64 = json_string_value(data_base64);
        size_t b64_len = json_string_length(data_base64);
        uint8_t *bytes = (uint8_t *)arena_take(in, evs__base64_decoded_max(b64_len));
        size_t n;
        if (evs__base64_decode(b64, b64_len, bytes, &n) != 0) {
            snprintf(err, err_len, "%sdata_base64 is not standard base64 (RFC 4648)", where);
            return -1;
        }
        in->arena_used -= evs__base64_decoded_max(b64_len) - n; /* give back the slack */
        char json_err[200];
        if (evs_json_text_content_type_is_json(out->content_type) &&
            !evs_json_text_valid((const char *)bytes, n, json_err, sizeof json_err)) {
            snprintf(err, err_len,
                     "%sthe bytes of data_base64 are not JSON (%s), but the content type %.100s "
                     "says JSON; give a content_type that fits the bytes",
                     where, json_err, out->content_type);
            return -1;
        }
        out->data = bytes;
        out->data_len = n;
    } else if (evs_json_text_content_type_is_json(out->content_type)) {
        /* jansson parsed the body, so the member is there and its text is valid JSON. */
        if (!evs_json_text_member(text, len, "data", &start, &span)) {
            snprintf(err, err_len, "%sdata not found in the body's text", where);
            return -1;
        }
        char *bytes = arena_take(in, span);
        out->data_len = evs_json_text_compact(text + start, span, bytes);
        in->arena_used -= span - out->data_len;
        out->data = bytes;
    } else {
        /* A non-JSON content type: data must be a string, stored as its UTF-8 bytes. */
        if (!json_is_string(data)) {
            snprintf(err, err_len,
                     "%swith the content type %.100s, which is not JSON, data must be a "
                     "string (stored as its UTF-8 bytes); use data_base64 for other bytes",
                     where, out->content_type);
            return -1;
        }
        out->data = json_string_value(data);
        out->data_len = json_string_length(data);
    }

    json_t *metadata = json_object_get(ev, "metadata");
    if (metadata && !json_is_null(metadata)) {
        if (!evs_json_text_member(text, len, "metadata", &start, &span)) {
            snprintf(err, err_len, "%smetadata not found in the body's text", where);
            return -1;
        }
        char *bytes = arena_take(in, span);
        out->metadata_len = evs_json_text_compact(text + start, span, bytes);
        in->arena_used -= span - out->metadata_len;
        out->metadata = bytes;
    }
    return 0;
}

/* Checks the body and fills in. Returns 0, -1 with err (the 400 answer's message), or -2 when
 * out of memory. */
static int parse_body(const char *body, size_t body_len, json_t *root, append_input *in, char *err,
                      size_t err_len)
{
    if (!json_is_object(root)) {
        snprintf(err, err_len, "the request body must be a JSON object with an events array");
        return -1;
    }
    const char *unknown = unknown_member(root, request_members);
    if (unknown) {
        snprintf(err, err_len,
                 "unknown member \"%.60s\" in the request body (it has events, and optionally "
                 "expected and append_id)",
                 unknown);
        return -1;
    }
    if (parse_expected(body, body_len, root, in, err, err_len) != 0 ||
        string_member(root, "append_id", "", &in->append_id, err, err_len) != 0)
        return -1;
    json_t *events = json_object_get(root, "events");
    size_t n = json_is_array(events) ? json_array_size(events) : 0;
    if (n < 1 || n > EVS_APPEND_EVENTS_MAX) {
        snprintf(err, err_len, "events must be an array of 1 to %d events%s", EVS_APPEND_EVENTS_MAX,
                 !events                  ? " (it is missing)"
                 : !json_is_array(events) ? " (it is not an array)"
                 : n == 0                 ? " (it is empty)"
                                          : "");
        return -1;
    }
    size_t events_start, events_span;
    if (!evs_json_text_member(body, body_len, "events", &events_start, &events_span)) {
        snprintf(err, err_len, "events not found in the body's text");
        return -1;
    }
    in->events = calloc(n, sizeof *in->events);
    in->arena = malloc(body_len ? body_len : 1);
    in->arena_cap = body_len;
    if (!in->events || !in->arena) {
        snprintf(err, err_len, "out of memory reading an append of %zu events", n);
        return -2;
    }
    const char *events_text = body + events_start;
    size_t cursor = 0, start, span;
    for (size_t i = 0; i < n; i++) {
        if (!evs_json_text_element(events_text, events_span, &cursor, &start, &span)) {
            snprintf(err, err_len, "event %zu not found in the body's text", i + 1);
            return -1;
        }
        if (parse_event(json_array_get(events, i), events_text + start, span, i, in, err,
                        err_len) != 0)
            return -1;
    }
    in->count = n;
    return 0;
}

/* ---- Answers --------------------------------------------------------------------------- */

/* {"error": message, "error_type": type, "append_id": id (if any)[, extra members]} */
static enum MHD_Result send_failure(struct MHD_Connection *c, unsigned status, const char *type,
                                    const char *message, const char *append_id,
                                    const evs_out *extra)
{
    evs_out o = {0};
    evs_out_str(&o, "{\"error\":");
    evs_out_jstr(&o, message, strlen(message));
    evs_out_fmt(&o, ",\"error_type\":\"%s\"", type);
    if (append_id && append_id[0])
        evs_out_fmt(&o, ",\"append_id\":\"%s\"", append_id);
    if (extra && extra->len)
        evs_out_raw(&o, extra->p, extra->len);
    if (extra && extra->oom)
        o.oom = 1;
    evs_out_str(&o, "}");
    return evs_http_send_json(c, status, &o);
}

static enum MHD_Result answer_success(struct MHD_Connection *c, const evs_append_result *r)
{
    evs_out o = {0};
    evs_out_str(&o, "{\"stream\":");
    evs_out_jstr(&o, r->stream, strlen(r->stream));
    evs_out_fmt(&o,
                ",\"first_version\":%" PRIu64 ",\"last_version\":%" PRIu64
                ",\"first_position\":%" PRIu64 ",\"last_position\":%" PRIu64,
                r->first_version, r->last_version, r->first_position, r->last_position);
    evs_out_fmt(&o, ",\"partition\":%" PRId32 ",\"append_id\":\"%s\",\"duplicate\":%s}",
                r->partition, r->append_id, r->duplicate ? "true" : "false");
    return evs_http_send_json(c, MHD_HTTP_OK, &o);
}

/* The whole mapping of evs_append()'s failures onto answers (docs/HTTP-API.md). */
static enum MHD_Result answer_failure(struct MHD_Connection *c, int rc, const char *stream,
                                      const append_input *in, const evs_append_result *r)
{
    char message[MESSAGE_MAX];
    snprintf(message, sizeof message, "%s",
             evs_last_error()[0] ? evs_last_error() : evs_strerror(rc));
    evs_out extra = {0};
    enum MHD_Result ret;
    switch (rc) {
    case EVS_EINVAL:
        ret = send_failure(c, MHD_HTTP_BAD_REQUEST, "invalid_input", message, NULL, NULL);
        break;
    case EVS_EWRONG_VERSION:
        evs_out_str(&extra, ",\"stream\":");
        evs_out_jstr(&extra, stream, strlen(stream));
        evs_out_fmt(&extra, ",\"expected\":%s,\"current_version\":%" PRIu64, in->expected_text,
                    r->current_version);
        ret = send_failure(c, MHD_HTTP_CONFLICT, "wrong_expected_version", message, r->append_id,
                           &extra);
        break;
    case EVS_EIDEMPOTENCY:
        evs_out_str(&extra, ",\"stream\":");
        evs_out_jstr(&extra, stream, strlen(stream));
        ret = send_failure(c, MHD_HTTP_CONFLICT, "idempotency_conflict", message, r->append_id,
                           &extra);
        break;
    case EVS_EREJECTED:
        ret = send_failure(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "rejected", message, r->append_id,
                           NULL);
        break;
    case EVS_EUNKNOWN_OUTCOME:
        ret = send_failure(c, MHD_HTTP_GATEWAY_TIMEOUT, "unknown_outcome", message, r->append_id,
                           NULL);
        break;
    case EVS_EUNAVAILABLE:
        ret = send_failure(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", message, r->append_id,
                           NULL);
        break;
    case EVS_ESTREAM_DELETED:
        evs_out_str(&extra, ",\"stream\":");
        evs_out_jstr(&extra, stream, strlen(stream));
        ret = send_failure(c, MHD_HTTP_GONE, "stream_deleted", message, r->append_id, &extra);
        break;
    default:
        ret = send_failure(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", message, r->append_id,
                           NULL);
        break;
    }
    free(extra.p);
    return ret;
}

enum MHD_Result evs_http_append(const evs_http_request *request)
{
    struct MHD_Connection *c = request->connection;
    evs_client *client = request->projector->client;
    append_input in = {0};
    json_t *root = NULL;
    json_error_t jerr;
    char err[MESSAGE_MAX];
    enum MHD_Result ret;

    if (!client)
        return send_failure(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                            "this projector does not take appends (it has no client)", NULL, NULL);
    root = json_loadb(request->body, request->body_len,
                      JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &jerr);
    if (!root) {
        snprintf(err, sizeof err, "the request body is not valid JSON: %s (line %d, column %d)",
                 jerr.text, jerr.line, jerr.column);
        ret = send_failure(c, MHD_HTTP_BAD_REQUEST, "invalid_input", err, NULL, NULL);
        goto done;
    }
    int parsed = parse_body(request->body, request->body_len, root, &in, err, sizeof err);
    if (parsed == -2) {
        ret = send_failure(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", err, NULL, NULL);
        goto done;
    }
    if (parsed != 0) {
        char message[MESSAGE_MAX + EVS_STREAM_NAME_MAX + 40];
        snprintf(message, sizeof message, "invalid append to stream %.*s: %s", EVS_STREAM_NAME_MAX,
                 request->rest, err);
        ret = send_failure(c, MHD_HTTP_BAD_REQUEST, "invalid_input", message, NULL, NULL);
        goto done;
    }
    const char *master = request->projector->config.master_key_file;
    for (size_t i = 0; i < in.count && !(master && *master); i++)
        if (in.events[i].subject) {
            ret = send_failure(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no_master_key",
                               "event with a subject: this projector has no master key "
                               "(--master-key) to seal it with",
                               NULL, NULL);
            goto done;
        }
    /* Refused before anything is produced: this projector could not judge it. */
    size_t name_len = strlen(request->rest);
    if (evs_stream_name_valid(request->rest, name_len) &&
        !evs_http_stream_served(request->projector, c, request->rest, name_len, &ret))
        goto done;
    evs_append_result result;
    int rc =
        evs_append(client, request->rest, in.expected, in.events, in.count, in.append_id, &result);
    ret = rc == 0 ? answer_success(c, &result) : answer_failure(c, rc, request->rest, &in, &result);
done:
    free(in.events);
    free(in.arena);
    json_decref(root);
    return ret;
}

/* ---- Lifecycle commands --------------------------------------------------------------
 * DELETE /streams/{stream}, POST /streams/{stream}/truncate, PUT /streams/{stream}/limits:
 * each body is optional JSON with "expected" and "append_id" as for an append, plus the
 * command's own members; each goes through the C API call of its command, so it has that
 * call's semantics and errors, answered by the same mapping as an append. */

typedef enum lifecycle_kind { CMD_DELETE, CMD_TRUNCATE, CMD_LIMITS } lifecycle_kind;

/* An optional whole number member in [min, INT64_MAX]: *present 0 when absent or null. */
static int count_member(const char *body, size_t body_len, json_t *root, const char *key,
                        uint64_t min, uint64_t *out, int *present, char *err, size_t err_len)
{
    json_t *v = json_object_get(root, key);
    size_t start, span;
    *present = 0;
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v) || !evs_json_text_member(body, body_len, key, &start, &span)) {
        snprintf(err, err_len, "%s must be a whole number", key);
        return -1;
    }
    uint64_t n = 0;
    for (size_t i = 0; i < span; i++) {
        char c = body[start + i];
        if (c < '0' || c > '9' || n > ((uint64_t)INT64_MAX - 9) / 10) {
            snprintf(err, err_len, "%s must be a whole number from %" PRIu64 " to %" PRId64,
                     key, min, INT64_MAX);
            return -1;
        }
        n = n * 10 + (uint64_t)(c - '0');
    }
    if (n < min) {
        snprintf(err, err_len, "%s must be a whole number from %" PRIu64 " to %" PRId64, key,
                 min, INT64_MAX);
        return -1;
    }
    *out = n;
    *present = 1;
    return 0;
}

static enum MHD_Result answer_command(struct MHD_Connection *c, const char *operation,
                                      const evs_append_result *r)
{
    evs_out o = {0};
    evs_out_str(&o, "{\"stream\":");
    evs_out_jstr(&o, r->stream, strlen(r->stream));
    evs_out_fmt(&o,
                ",\"operation\":\"%s\",\"current_version\":%" PRIu64 ",\"partition\":%" PRId32
                ",\"append_id\":\"%s\"}",
                operation, r->current_version, r->partition, r->append_id);
    return evs_http_send_json(c, MHD_HTTP_OK, &o);
}

static enum MHD_Result lifecycle_command(const evs_http_request *request, const char *stream,
                                         lifecycle_kind kind)
{
    static const char *const delete_members[] = {"expected", "append_id", "hard", NULL};
    static const char *const truncate_members[] = {"expected", "append_id", "before", NULL};
    static const char *const limits_members[] = {"expected", "append_id", "max_count",
                                                 "max_age_ms", NULL};
    static const char *const *const members[] = {delete_members, truncate_members,
                                                 limits_members};
    static const char *const names[] = {"delete", "truncate", "limits"};
    struct MHD_Connection *c = request->connection;
    evs_client *client = request->projector->client;
    append_input in = {0};
    char err[MESSAGE_MAX];
    enum MHD_Result ret;
    json_t *root = NULL;
    if (!client)
        return send_failure(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                            "this projector does not take writes (it has no client)", NULL,
                            NULL);
    size_t name_len = strlen(stream);
    if (!evs_stream_name_valid(stream, name_len))
        return send_failure(c, MHD_HTTP_BAD_REQUEST, "invalid_input",
                            "invalid stream name: use letters, digits and _.:@-", NULL, NULL);
    if (request->body_len > 0) {
        json_error_t jerr;
        root = json_loadb(request->body, request->body_len,
                          JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
        if (!json_is_object(root)) {
            snprintf(err, sizeof err, "the request body must be a JSON object%s%s",
                     root ? "" : ": ", root ? "" : jerr.text);
            ret = send_failure(c, MHD_HTTP_BAD_REQUEST, "invalid_input", err, NULL, NULL);
            goto done;
        }
    } else {
        root = json_object();
    }
    const char *unknown = unknown_member(root, members[kind]);
    uint64_t before = 0, max_count = 0, max_age = 0;
    int has_before = 0, has_count = 0, has_age = 0;
    json_t *hard = json_object_get(root, "hard");
    if (unknown)
        snprintf(err, sizeof err, "unknown member \"%.60s\" in the body of a %s", unknown,
                 names[kind]);
    if (unknown || parse_expected(request->body, request->body_len, root, &in, err,
                                  sizeof err) != 0 ||
        string_member(root, "append_id", "", &in.append_id, err, sizeof err) != 0 ||
        count_member(request->body, request->body_len, root, "before", 1, &before,
                     &has_before, err, sizeof err) != 0 ||
        count_member(request->body, request->body_len, root, "max_count", 0, &max_count,
                     &has_count, err, sizeof err) != 0 ||
        count_member(request->body, request->body_len, root, "max_age_ms", 0, &max_age,
                     &has_age, err, sizeof err) != 0) {
        ret = send_failure(c, MHD_HTTP_BAD_REQUEST, "invalid_input", err, NULL, NULL);
        goto done;
    }
    if (hard && !json_is_boolean(hard)) {
        ret = send_failure(c, MHD_HTTP_BAD_REQUEST, "invalid_input", "hard must be true or false",
                           NULL, NULL);
        goto done;
    }
    if (kind == CMD_TRUNCATE && !has_before) {
        ret = send_failure(c, MHD_HTTP_BAD_REQUEST, "invalid_input",
                           "a truncate needs before: the first version to keep", NULL, NULL);
        goto done;
    }
    if (kind == CMD_LIMITS && !has_count && !has_age) {
        ret = send_failure(c, MHD_HTTP_BAD_REQUEST, "invalid_input",
                           "limits need max_count, max_age_ms or both (0 clears one)", NULL,
                           NULL);
        goto done;
    }
    if (!evs_http_stream_served(request->projector, c, stream, name_len, &ret))
        goto done;
    evs_append_result result;
    int rc;
    const char *operation;
    if (kind == CMD_DELETE) {
        int is_hard = hard && json_is_true(hard);
        operation = is_hard ? "hard_delete" : "delete";
        rc = evs_stream_delete(client, stream, in.expected, is_hard, in.append_id, &result);
    } else if (kind == CMD_TRUNCATE) {
        operation = "truncate";
        rc = evs_stream_truncate(client, stream, in.expected, before, in.append_id, &result);
    } else {
        /* A limit left out keeps its value: read it first. */
        operation = "set_limits";
        if (!has_count || !has_age) {
            evs_stream_metadata md;
            int mrc = evs_stream_metadata_get(client, stream, &md);
            if (mrc == 0) {
                if (!has_count)
                    max_count = md.max_count;
                if (!has_age)
                    max_age = md.max_age_ms;
            } else if (mrc != EVS_ENOT_FOUND) {
                ret = answer_failure(c, mrc, stream, &in, &result);
                goto done;
            }
        }
        rc = evs_stream_set_limits(client, stream, in.expected, max_count, max_age, in.append_id,
                                   &result);
    }
    ret = rc == 0 ? answer_command(c, operation, &result)
                  : answer_failure(c, rc, stream, &in, &result);
done:
    json_decref(root);
    return ret;
}

enum MHD_Result evs_http_stream_lifecycle(const evs_http_request *request)
{
    /* The routing table sends "{stream}" (DELETE), "{stream}/truncate" (POST) and
     * "{stream}/limits" (PUT) here. */
    char name[EVS_STREAM_NAME_MAX + 1];
    size_t len = strcspn(request->rest, "/");
    if (len > EVS_STREAM_NAME_MAX)
        return send_failure(request->connection, MHD_HTTP_BAD_REQUEST, "invalid_input",
                            "invalid stream name: too long", NULL, NULL);
    memcpy(name, request->rest, len);
    name[len] = '\0';
    const char *sub = request->rest + len;
    lifecycle_kind kind = !*sub ? CMD_DELETE : !strcmp(sub, "/truncate") ? CMD_TRUNCATE
                                                                          : CMD_LIMITS;
    return lifecycle_command(request, name, kind);
}

int evs_http_append_client_open(const evs_projector_config *config, evs_client **out, char *err,
                                size_t err_len)
{
    char url[300];
    const char *address = config->http_address;
    const char *scheme = config->tls_cert_file ? "https" : "http";
    if (!strncmp(address, "0.0.0.0:", 8))
        snprintf(url, sizeof url, "%s://127.0.0.1:%s", scheme, address + 8);
    else
        snprintf(url, sizeof url, "%s://%s", scheme, address);
    evs_client_options options;
    evs_client_options_init(&options);
    options.brokers = config->brokers;
    options.topic = config->topic;
    options.projector_url = url;
    /* The same Kafka settings as the projector's own clients; for the verdicts over HTTPS
     * the CA of EVSTORE_CA_FILE, else the projector's own certificate as the trust anchor
     * (so it must name the --http address); the token of main.c (docs/SECURITY.md). */
    options.kafka_config_file = config->kafka_config_file;
    const char *ca = getenv("EVSTORE_CA_FILE");
    options.ca_file = ca && *ca ? ca : config->tls_cert_file;
    const char *token = getenv("EVSTORE_TOKEN");
    options.token = config->internal_token ? config->internal_token : token;
    options.master_key_file = config->master_key_file; /* seals events with a subject */
    int rc = evs_client_open(&options, out);
    if (rc != 0) {
        snprintf(err, err_len, "cannot open the client for POST /streams: %s", evs_last_error());
        return -1;
    }
    return 0;
}
