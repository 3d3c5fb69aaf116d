/*
 * event_json.c - the projector's JSON answers mapped onto evs_append_result and
 * evs_event_list (see event_json.h and docs/HTTP-API.md).
 *
 * An event list is ONE allocation laid out as
 *     evs_event_list | evs_event[count] | the strings and payload bytes of every event
 * so evs_event_list_free() is a single free() and a read costs one allocation however many
 * events it returns (style.md: no per-event allocation on the read path). Every string in
 * it is NUL-terminated; data and metadata are followed by a NUL byte that is not counted in
 * their lengths, for callers that treat JSON payloads as text.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base64_decode.h"
#include "errors.h"
#include "event_json.h"
#include "record_codec.h" /* evs_stream_name_valid */

void evs__expected_format(evs_expected expected, char out[32])
{
    switch (expected.kind) {
    case EVS_EXPECT_ANY:
        snprintf(out, 32, "any");
        break;
    case EVS_EXPECT_NO_STREAM:
        snprintf(out, 32, "no_stream");
        break;
    case EVS_EXPECT_STREAM_EXISTS:
        snprintf(out, 32, "stream_exists");
        break;
    case EVS_EXPECT_EXACT:
        snprintf(out, 32, "%" PRIu64, expected.version);
        break;
    default:
        snprintf(out, 32, "?");
        break;
    }
}

/* Reads a non-negative integer member; returns 1 and sets *out if present. */
static int member_u64(const json_t *obj, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

static const char *member_string(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key)); /* NULL unless a string */
}

/* The `error` member of an error answer, else the start of the body, into out. */
static void error_text(const char *body, size_t body_len, char *out, size_t out_len)
{
    json_t *root = json_loadb(body, body_len, 0, NULL);
    const char *msg = member_string(root, "error");
    if (msg) {
        snprintf(out, out_len, "%s", msg);
    } else {
        size_t n = body_len < 200 ? body_len : 200;
        snprintf(out, out_len, "%.*s", (int)n, body);
        if (n == 0)
            snprintf(out, out_len, "(empty answer)");
    }
    json_decref(root);
}

/* A 410 of a read of a deleted stream: {"error": MESSAGE, "error_type": "stream_deleted",
 * "stream", "deleted": "soft"|"hard", "current_version"} (the projector's error shape), or
 * the same with "error": "stream_deleted". EVS_ESTREAM_DELETED naming the stream; 0 when the
 * body is not that answer. */
static int stream_deleted_error(const char *body, size_t body_len, const char *what)
{
    json_t *root = json_loadb(body, body_len, 0, NULL);
    const char *error = member_string(root, "error");
    const char *error_type = member_string(root, "error_type");
    if (!(error_type && strcmp(error_type, "stream_deleted") == 0) &&
        !(error && strcmp(error, "stream_deleted") == 0)) {
        json_decref(root);
        return 0;
    }
    const char *stream = member_string(root, "stream");
    const char *deleted = member_string(root, "deleted");
    uint64_t version = 0;
    int has_version = member_u64(root, "current_version", &version);
    char at[48] = "";
    if (has_version)
        snprintf(at, sizeof at, " at version %" PRIu64, version);
    int hard = deleted && strcmp(deleted, "hard") == 0;
    int rc = evs__set_error(EVS_ESTREAM_DELETED,
                            hard ? "%s%.*s was hard-deleted%s: it is a tombstone, and nothing "
                                   "can be read from or written to it again"
                                 : "%s%.*s was deleted%s; an append recreates it, its versions "
                                   "going on from there",
                            stream ? "stream " : "", EVS_STREAM_NAME_MAX, stream ? stream : what,
                            at);
    json_decref(root);
    return rc;
}

int evs__http_error(long http_status, const char *body, size_t body_len, const char *what)
{
    char text[512];
    int rc;
    if (http_status == 410 && (rc = stream_deleted_error(body, body_len, what)) != 0)
        return rc;
    error_text(body, body_len, text, sizeof text);
    if (http_status == 404) /* the projector's message names what is missing */
        return evs__set_error(EVS_ENOT_FOUND, "%s", body_len ? text : "not found");
    if (http_status == 400)
        return evs__set_error(EVS_EINVAL, "projector refused the request for %s: %s", what, text);
    if (http_status == 401)
        return evs__set_error(EVS_EAUTH, "the projector refused %s: authentication needed: %s",
                              what, text);
    if (http_status == 403)
        return evs__set_error(EVS_EAUTH, "the projector refused %s: not authorized: %s", what,
                              text);
    if (http_status == 504)
        return evs__set_error(EVS_ETIMEOUT, "projector timed out on %s: %s", what, text);
    if (http_status == 421) /* the last candidate did not serve it either (router.h, R4) */
        return evs__set_error(EVS_EUNAVAILABLE,
                              "no projector the client could reach serves %s: %s", what, text);
    if (http_status >= 500)
        return evs__set_error(EVS_EUNAVAILABLE, "projector unavailable for %s (HTTP %ld): %s", what,
                              http_status, text);
    return evs__set_error(EVS_EPROTOCOL, "unexpected HTTP %ld from projector for %s: %s",
                          http_status, what, text);
}

int evs__verdict_from_http(long http_status, const char *body, size_t body_len,
                           const char *expected, evs_append_result *result)
{
    return evs__verdict_from_http_for(http_status, body, body_len, expected, NULL, result);
}

int evs__verdict_from_http_for(long http_status, const char *body, size_t body_len,
                               const char *expected, const char *operation,
                               evs_append_result *result)
{
    json_t *root = NULL;
    json_error_t jerr;
    const char *id_text = result->append_id[0] ? result->append_id : "(unknown)";

    if (http_status != 200) {
        char what[80];
        snprintf(what, sizeof what, "the verdict of append %s", id_text);
        if (http_status == 404)
            return evs__set_error(
                EVS_ENOT_FOUND, "no append with id %s has been applied by the projector", id_text);
        if (http_status == 422) {
            char text[512];
            error_text(body, body_len, text, sizeof text);
            return evs__set_error(EVS_EREJECTED, "append %s was not stored: %s", id_text, text);
        }
        return evs__http_error(http_status, body, body_len, what);
    }

    root = json_loadb(body, body_len, 0, &jerr);
    if (!root)
        return evs__set_error(EVS_EPROTOCOL, "verdict of append %s is not a JSON object: %s",
                              id_text, jerr.text);
    int rc = evs__verdict_from_json(root, expected, operation, result);
    json_decref(root);
    return rc;
}

int evs__verdict_from_json(const json_t *root, const char *expected, const char *operation,
                           evs_append_result *result)
{
    int rc;
    const char *id_text = result->append_id[0] ? result->append_id : "(unknown)";
    if (!json_is_object(root))
        return evs__set_error(EVS_EPROTOCOL, "verdict of append %s is not a JSON object: wrong "
                              "type", id_text);
    const char *status = member_string(root, "status");
    const char *append_id = member_string(root, "append_id");
    const char *stream = member_string(root, "stream");
    if (!status) {
        rc = evs__set_error(EVS_EPROTOCOL, "verdict of append %s has no status", id_text);
        goto fail;
    }
    if (append_id && strlen(append_id) == EVS_UUID_TEXT_LEN)
        memcpy(result->append_id, append_id, EVS_UUID_TEXT_LEN + 1);
    if (stream && strlen(stream) <= EVS_STREAM_NAME_MAX)
        snprintf(result->stream, sizeof result->stream, "%s", stream);
    member_u64(root, "first_version", &result->first_version);
    member_u64(root, "last_version", &result->last_version);
    member_u64(root, "first_position", &result->first_position);
    member_u64(root, "last_position", &result->last_position);
    member_u64(root, "current_version", &result->current_version);
    uint64_t number;
    if (member_u64(root, "partition", &number) && number <= INT32_MAX)
        result->partition = (int32_t)number;
    if (member_u64(root, "offset", &number) && number <= INT64_MAX)
        result->offset = (int64_t)number;
    result->duplicate = 0;
    id_text = result->append_id[0] ? result->append_id : "(unknown)";
    const char *stream_text = result->stream[0] ? result->stream : "(unknown)";
    /* What the record asked for: the caller's word for it, else the verdict's (older
     * projectors, which know appends only, leave it out). */
    const char *verdict_operation = member_string(root, "operation");
    if (operation && verdict_operation && strcmp(operation, verdict_operation) != 0) {
        rc = evs__set_error(EVS_EPROTOCOL,
                            "the verdict of %s %s is the verdict of a %s, not of a %s", operation,
                            id_text, verdict_operation, operation);
        goto fail;
    }
    const char *op = operation          ? operation
                     : verdict_operation ? verdict_operation
                                         : "append";
    int lifecycle = strcmp(op, "append") != 0;

    if (strcmp(status, "accepted") == 0) {
        rc = 0;
    } else if (strcmp(status, "duplicate") == 0 && lifecycle) {
        rc = evs__set_error(EVS_EPROTOCOL,
                            "the verdict of %s %s of stream %s says duplicate, which only an "
                            "append can be",
                            op, id_text, stream_text);
    } else if (strcmp(status, "duplicate") == 0) {
        result->duplicate = 1;
        rc = 0;
    } else if (strcmp(status, "stream_deleted") == 0) {
        rc = evs__set_error(EVS_ESTREAM_DELETED,
                            "stream %s was hard-deleted: it is a tombstone, so %s %s to it was "
                            "rejected and nothing was stored (every later append, delete, "
                            "truncate or limit to it is rejected too)",
                            stream_text, op, id_text);
    } else if (strcmp(status, "wrong_expected_version") == 0) {
        char verdict_expected[32] = "?";
        json_t *e = json_object_get(root, "expected");
        if (json_is_integer(e))
            snprintf(verdict_expected, sizeof verdict_expected, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(e));
        else if (json_is_string(e))
            snprintf(verdict_expected, sizeof verdict_expected, "%s", json_string_value(e));
        rc = evs__set_error(EVS_EWRONG_VERSION,
                            "wrong expected version for stream %s: expected %s, stream is at "
                            "%" PRIu64,
                            stream_text, expected ? expected : verdict_expected,
                            result->current_version);
    } else if (strcmp(status, "idempotency_conflict") == 0) {
        rc = evs__set_error(EVS_EIDEMPOTENCY,
                            "idempotency conflict for stream %s (append %s): its event ids "
                            "were stored before, but not exactly as in this append (only some "
                            "of them, or in another stream); nothing was stored. Retry with "
                            "exactly the original events or with new event ids",
                            stream_text, id_text);
    } else if (strcmp(status, "invalid") == 0) {
        const char *reason = member_string(root, "reason");
        rc = evs__set_error(EVS_EREJECTED, "%s %s to stream %s was rejected as invalid: %s", op,
                            id_text, stream_text, reason && reason[0] ? reason : "(no reason)");
    } else {
        rc = evs__set_error(EVS_EPROTOCOL, "verdict of append %s has unknown status \"%s\"",
                            id_text, status);
    }
fail:
    return rc;
}

/* ---- Stream metadata ----------------------------------------------------------------- */

/* A limit member: a non-negative number, or null/absent for none (0). Returns 0 or -1. */
static int limit_member(const json_t *root, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(root, key);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    return member_u64(root, key, out) ? 0 : -1;
}

int evs__stream_metadata_from_json(const char *body, size_t body_len, evs_stream_metadata *out)
{
    int rc = 0;
    json_error_t jerr;
    json_t *root = json_loadb(body, body_len, 0, &jerr);
    const char *bad = NULL;

    memset(out, 0, sizeof *out);
    out->partition = -1;
    if (!json_is_object(root)) {
        rc = evs__set_error(EVS_EPROTOCOL, "stream metadata from the projector is not a JSON "
                                           "object: %s",
                            root ? "wrong type" : jerr.text);
        goto fail;
    }
    const char *stream = member_string(root, "stream");
    uint64_t partition = 0;
    json_t *deleted = json_object_get(root, "deleted");
    if (!stream || !evs_stream_name_valid(stream, strlen(stream)))
        bad = "stream";
    else if (!member_u64(root, "partition", &partition) || partition > INT32_MAX)
        bad = "partition";
    else if (!member_u64(root, "current_version", &out->current_version))
        bad = "current_version";
    else if (!member_u64(root, "first_version", &out->first_version))
        bad = "first_version";
    else if (limit_member(root, "max_count", &out->max_count) != 0)
        bad = "max_count";
    else if (limit_member(root, "max_age_ms", &out->max_age_ms) != 0)
        bad = "max_age_ms";
    else if (deleted && !json_is_null(deleted) &&
             !(json_is_string(deleted) && (strcmp(json_string_value(deleted), "soft") == 0 ||
                                           strcmp(json_string_value(deleted), "hard") == 0)))
        bad = "deleted";
    if (bad) {
        rc = evs__set_error(EVS_EPROTOCOL,
                            "stream metadata from the projector has a missing or malformed "
                            "\"%s\"",
                            bad);
        memset(out, 0, sizeof *out);
        out->partition = -1;
        goto fail;
    }
    snprintf(out->stream, sizeof out->stream, "%s", stream);
    out->partition = (int32_t)partition;
    if (json_is_string(deleted))
        out->deleted = strcmp(json_string_value(deleted), "hard") == 0 ? 2 : 1;
fail:
    json_decref(root);
    return rc;
}

/* ---- Event lists --------------------------------------------------------------------- */

/* Bytes an optional string member needs in the arena (0 when absent or null). */
static size_t string_need(const json_t *event, const char *key)
{
    json_t *v = json_object_get(event, key);
    return json_is_string(v) ? json_string_length(v) + 1 : 0;
}

/* Copies an optional string member into the arena; NULL when absent. */
static char *string_copy(const json_t *event, const char *key, char **cursor)
{
    json_t *v = json_object_get(event, key);
    if (!json_is_string(v))
        return NULL;
    size_t n = json_string_length(v);
    char *dst = *cursor;
    memcpy(dst, json_string_value(v), n);
    dst[n] = '\0';
    *cursor += n + 1;
    return dst;
}

/* Checks the members every event must have; returns NULL or the name of the bad one. */
static const char *event_shape_error(const json_t *event)
{
    if (!json_is_object(event))
        return "(not an object)";
    const char *id = member_string(event, "event_id");
    if (!id || strlen(id) != EVS_UUID_TEXT_LEN)
        return "event_id";
    static const char *const strings[] = {"stream", "type", "content_type"};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        if (!json_is_string(json_object_get(event, strings[i])))
            return strings[i];
    /* Personal data: an erased event (its subject forgotten) and a sealed one (the projector
     * cannot open it) have "data": null. */
    json_t *erased = json_object_get(event, "erased");
    if (erased && !json_is_boolean(erased))
        return "erased";
    json_t *sealed = json_object_get(event, "sealed");
    if (sealed && !json_is_boolean(sealed))
        return "sealed";
    json_t *data = json_object_get(event, "data");
    if (!json_is_string(data) &&
        !((json_is_true(erased) || json_is_true(sealed)) && json_is_null(data)))
        return "data";
    json_t *subject = json_object_get(event, "subject");
    if (subject && !json_is_string(subject) && !json_is_null(subject))
        return "subject";
    json_t *metadata = json_object_get(event, "metadata");
    if (metadata && !json_is_string(metadata) && !json_is_null(metadata))
        return "metadata";
    static const char *const numbers[] = {"version", "position", "partition", "created_us"};
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++)
        if (!json_is_integer(json_object_get(event, numbers[i])))
            return numbers[i];
    return NULL;
}

/* Decodes a base64 string member into the arena; empty or absent gives length 0. */
static int bytes_copy(const json_t *event, const char *key, char **cursor, void **out,
                      size_t *out_len)
{
    json_t *v = json_object_get(event, key);
    size_t n = 0;
    *out = NULL;
    *out_len = 0;
    if (!json_is_string(v))
        return 0;
    if (evs__base64_decode(json_string_value(v), json_string_length(v), (uint8_t *)*cursor, &n) !=
        0)
        return -1;
    *out = *cursor;
    (*cursor)[n] = '\0';
    *out_len = n;
    *cursor += n + 1;
    return 0;
}

/* Builds an event list (next and end_of_stream 0) from a JSON array of event objects. */
static int list_build(const json_t *events, evs_event_list **out)
{
    int rc;
    evs_event_list *list = NULL;
    size_t count = json_array_size(events);

    /* Pass 1: check every event and size the arena. */
    size_t arena = 0;
    for (size_t i = 0; i < count; i++) {
        json_t *event = json_array_get(events, i);
        const char *bad = event_shape_error(event);
        if (bad) {
            rc = evs__set_error(EVS_EPROTOCOL,
                                "event %zu of the projector's answer has a "
                                "missing or malformed \"%s\"",
                                i + 1, bad);
            goto fail;
        }
        arena += string_need(event, "stream") + string_need(event, "type") +
                 string_need(event, "content_type") + string_need(event, "correlation_id") +
                 string_need(event, "causation_id") + string_need(event, "subject");
        arena += evs__base64_decoded_max(string_need(event, "data")) + 1;
        arena += evs__base64_decoded_max(string_need(event, "metadata")) + 1;
    }

    size_t head = sizeof(evs_event_list) + count * sizeof(evs_event);
    list = calloc(1, head + arena);
    if (!list) {
        rc = evs__set_error(EVS_ENOMEM, "out of memory reading %zu events", count);
        goto fail;
    }
    list->events = count ? (evs_event *)(list + 1) : NULL;
    list->count = count;
    char *cursor = (char *)list + head;

    /* Pass 2: fill. */
    for (size_t i = 0; i < count; i++) {
        json_t *event = json_array_get(events, i);
        evs_event *e = &list->events[i];
        memcpy(e->event_id, member_string(event, "event_id"), EVS_UUID_TEXT_LEN + 1);
        e->stream = string_copy(event, "stream", &cursor);
        e->type = string_copy(event, "type", &cursor);
        e->content_type = string_copy(event, "content_type", &cursor);
        e->correlation_id = string_copy(event, "correlation_id", &cursor);
        e->causation_id = string_copy(event, "causation_id", &cursor);
        e->subject = string_copy(event, "subject", &cursor);
        e->erased = json_is_true(json_object_get(event, "erased"));
        e->sealed = json_is_true(json_object_get(event, "sealed"));
        e->version = (uint64_t)json_integer_value(json_object_get(event, "version"));
        e->position = (uint64_t)json_integer_value(json_object_get(event, "position"));
        e->partition = (int32_t)json_integer_value(json_object_get(event, "partition"));
        e->created_us = (int64_t)json_integer_value(json_object_get(event, "created_us"));
        if (bytes_copy(event, "data", &cursor, &e->data, &e->data_len) != 0 ||
            bytes_copy(event, "metadata", &cursor, &e->metadata, &e->metadata_len) != 0) {
            rc = evs__set_error(EVS_EPROTOCOL,
                                "event %zu of the projector's answer has data "
                                "or metadata that is not base64",
                                i + 1);
            goto fail;
        }
        if (!e->data) { /* an erased or sealed event's null: empty, as in the binary page */
            e->data = cursor;
            *cursor++ = '\0';
        }
        if (e->metadata_len == 0)
            e->metadata = NULL;
    }
    assert((size_t)(cursor - (char *)list) <= head + arena);
    *out = list;
    return 0;
fail:
    free(list);
    return rc;
}

int evs__event_list_from_json(const char *body, size_t body_len, evs_event_list **out)
{
    int rc;
    json_error_t jerr;
    json_t *root = json_loadb(body, body_len, 0, &jerr);

    *out = NULL;
    if (!json_is_object(root)) {
        rc = evs__set_error(EVS_EPROTOCOL, "projector answer is not a JSON object: %s",
                            root ? "wrong type" : jerr.text);
        goto fail;
    }
    json_t *events = json_object_get(root, "events");
    if (!json_is_array(events)) {
        rc = evs__set_error(EVS_EPROTOCOL, "projector answer has no \"events\" array");
        goto fail;
    }
    if ((rc = list_build(events, out)) != 0)
        goto fail;
    uint64_t next = 0, first_version = 0;
    member_u64(root, "next", &next);
    (*out)->next = next;
    member_u64(root, "first_version", &first_version); /* stream reads only */
    (*out)->first_version = first_version;
    json_t *end = json_object_get(root, "end_of_stream");
    if (!end)
        end = json_object_get(root, "end");
    (*out)->end_of_stream = json_is_true(end);
fail:
    json_decref(root);
    return rc;
}

int evs__event_from_json(const char *text, size_t text_len, evs_event_list **out)
{
    int rc;
    json_error_t jerr;
    json_t *events = NULL;
    json_t *event = json_loadb(text, text_len, 0, &jerr);

    *out = NULL;
    if (!event) {
        rc = evs__set_error(EVS_EPROTOCOL, "event from the projector is not JSON: %s", jerr.text);
        goto fail;
    }
    events = json_array();
    if (!events || json_array_append(events, event) != 0) {
        rc = evs__set_error(EVS_ENOMEM, "out of memory reading an event");
        goto fail;
    }
    rc = list_build(events, out);
fail:
    json_decref(events);
    json_decref(event);
    return rc;
}

void evs_event_list_free(evs_event_list *list)
{
    free(list); /* one allocation: see the layout at the top of this file */
}
