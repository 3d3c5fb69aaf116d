/*
 * cli_output.c - formatting of the CLI's output lines (see cli_output.h). Lines are built
 * as text, not with jansson, so payload JSON appears exactly as stored (compacted only).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli_args.h"
#include "cli_output.h"

/* 1 if valid JSON text is already compact, so embedding it keeps its bytes. */
static int json_is_compact(evs_cli_buf *buf, const void *bytes, size_t len)
{
    size_t mark = buf->len;
    evs_cli_json_compact(buf, bytes, len);
    int same = buf->len - mark == len && memcmp(buf->data + mark, bytes, len) == 0;
    buf->len = mark;
    return same;
}

/* Appends "key": <bytes as JSON, or a base64 string>; and the encoding marker after it.
 * exact: embed JSON only when it is compact already, so the line gives the bytes back. */
static void payload_member_as(evs_cli_buf *buf, const char *key, const void *bytes, size_t len,
                              int may_be_json, int exact)
{
    evs_cli_buf_printf(buf, ",\"%s\":", key);
    if (len == 0 && strcmp(key, "metadata") == 0) {
        evs_cli_buf_puts(buf, "null");
        return;
    }
    if (may_be_json && len > 0 && evs_cli_json_valid(bytes, len, NULL, 0) &&
        (!exact || json_is_compact(buf, bytes, len))) {
        evs_cli_json_compact(buf, bytes, len);
        return;
    }
    evs_cli_buf_puts(buf, "\"");
    evs_cli_base64(buf, bytes, len);
    evs_cli_buf_printf(buf, "\",\"%s_encoding\":\"base64\"", key);
}

static void payload_member(evs_cli_buf *buf, const char *key, const void *bytes, size_t len,
                           int may_be_json)
{
    payload_member_as(buf, key, bytes, len, may_be_json, 0);
}

static void string_member(evs_cli_buf *buf, const char *key, const char *value, int first)
{
    evs_cli_buf_printf(buf, "%s\"%s\":", first ? "" : ",", key);
    if (value)
        evs_cli_json_string(buf, value, strlen(value));
    else
        evs_cli_buf_puts(buf, "null");
}

static void format_event(evs_cli_buf *buf, const evs_event *event, int with_partition)
{
    char created[40];
    evs_cli_format_time(event->created_us, created);
    evs_cli_buf_puts(buf, "{");
    string_member(buf, "event_id", event->event_id, 1);
    string_member(buf, "stream", event->stream, 0);
    string_member(buf, "type", event->type, 0);
    evs_cli_buf_printf(buf, ",\"version\":%" PRIu64 ",\"position\":%" PRIu64, event->version,
                       event->position);
    if (with_partition)
        evs_cli_buf_printf(buf, ",\"partition\":%" PRId32, event->partition);
    string_member(buf, "created", created, 0);
    if (event->erased || event->sealed)
        evs_cli_buf_puts(buf, ",\"data\":null");
    else
        payload_member(buf, "data", event->data, event->data_len,
                       evs_cli_is_json_content_type(event->content_type));
    payload_member(buf, "metadata", event->metadata, event->metadata_len, 1);
    /* Personal data: only on the events that are, so other lines stay as they were. */
    if (event->subject)
        string_member(buf, "subject", event->subject, 0);
    if (event->erased)
        evs_cli_buf_puts(buf, ",\"erased\":true");
    if (event->sealed)
        evs_cli_buf_puts(buf, ",\"sealed\":true");
    evs_cli_buf_puts(buf, "}\n");
}

void evs_cli_format_event(evs_cli_buf *buf, const evs_event *event)
{
    format_event(buf, event, 0);
}

void evs_cli_format_event_with_partition(evs_cli_buf *buf, const evs_event *event)
{
    format_event(buf, event, 1);
}

void evs_cli_format_export_event(evs_cli_buf *buf, const evs_event *event)
{
    char created[40];
    evs_cli_format_time(event->created_us, created);
    evs_cli_buf_puts(buf, "{");
    string_member(buf, "stream", event->stream, 1);
    evs_cli_buf_printf(buf, ",\"version\":%" PRIu64, event->version);
    string_member(buf, "type", event->type, 0);
    string_member(buf, "event_id", event->event_id, 0);
    string_member(buf, "content_type", event->content_type, 0);
    if (event->erased)
        evs_cli_buf_puts(buf, ",\"data\":null");
    else
        payload_member_as(buf, "data", event->data, event->data_len,
                          evs_cli_is_json_content_type(event->content_type), 1);
    payload_member_as(buf, "metadata", event->metadata, event->metadata_len, 1, 1);
    string_member(buf, "correlation_id", event->correlation_id, 0);
    string_member(buf, "causation_id", event->causation_id, 0);
    evs_cli_buf_printf(buf, ",\"partition\":%" PRId32 ",\"position\":%" PRIu64, event->partition,
                       event->position);
    string_member(buf, "created", created, 0);
    /* Personal data: so that an import seals it again under its subject. */
    if (event->subject)
        string_member(buf, "subject", event->subject, 0);
    if (event->erased)
        evs_cli_buf_puts(buf, ",\"erased\":true");
    evs_cli_buf_puts(buf, "}\n");
}

void evs_cli_format_forget(evs_cli_buf *buf, const char *subject, const char *answer)
{
    json_t *root = json_loads(answer, 0, NULL);
    json_t *forgotten = json_object_get(root, "forgotten");
    size_t count = 0;
    evs_cli_buf_puts(buf, "{");
    string_member(buf, "subject", subject, 1);
    evs_cli_buf_puts(buf, ",\"forgotten\":[");
    for (size_t i = 0; i < json_array_size(forgotten); i++) {
        const char *id = json_string_value(json_array_get(forgotten, i));
        if (!id)
            continue;
        if (count++)
            evs_cli_buf_puts(buf, ",");
        evs_cli_json_string(buf, id, strlen(id));
    }
    evs_cli_buf_printf(buf, "],\"keys_destroyed\":%zu}\n", count);
    json_decref(root);
}

void evs_cli_format_append_result(evs_cli_buf *buf, const evs_append_result *result)
{
    evs_cli_buf_puts(buf, "{");
    string_member(buf, "stream", result->stream, 1);
    evs_cli_buf_printf(buf,
                       ",\"first_version\":%" PRIu64 ",\"last_version\":%" PRIu64
                       ",\"first_position\":%" PRIu64 ",\"last_position\":%" PRIu64,
                       result->first_version, result->last_version, result->first_position,
                       result->last_position);
    string_member(buf, "append_id", result->append_id, 0);
    evs_cli_buf_printf(buf, ",\"duplicate\":%s}\n", result->duplicate ? "true" : "false");
}

void evs_cli_format_command_result(evs_cli_buf *buf, const char *operation,
                                   const evs_append_result *result)
{
    evs_cli_buf_puts(buf, "{");
    string_member(buf, "stream", result->stream, 1);
    string_member(buf, "operation", operation, 0);
    evs_cli_buf_printf(buf, ",\"current_version\":%" PRIu64, result->current_version);
    string_member(buf, "append_id", result->append_id, 0);
    evs_cli_buf_puts(buf, "}\n");
}

/* ,"key":N, or ,"key":null for 0 (no limit). */
static void limit_member(evs_cli_buf *buf, const char *key, uint64_t value)
{
    if (value)
        evs_cli_buf_printf(buf, ",\"%s\":%" PRIu64, key, value);
    else
        evs_cli_buf_printf(buf, ",\"%s\":null", key);
}

void evs_cli_format_stream_metadata(evs_cli_buf *buf, const evs_stream_metadata *metadata)
{
    static const char *const deleted[] = {NULL, "soft", "hard"};
    evs_cli_buf_puts(buf, "{");
    string_member(buf, "stream", metadata->stream, 1);
    evs_cli_buf_printf(buf,
                       ",\"partition\":%" PRId32 ",\"current_version\":%" PRIu64
                       ",\"first_version\":%" PRIu64,
                       metadata->partition, metadata->current_version, metadata->first_version);
    string_member(buf, "deleted",
                  metadata->deleted >= 0 && metadata->deleted <= 2 ? deleted[metadata->deleted]
                                                                   : NULL,
                  0);
    limit_member(buf, "max_count", metadata->max_count);
    limit_member(buf, "max_age_ms", metadata->max_age_ms);
    evs_cli_buf_puts(buf, "}\n");
}

const char *evs_cli_verdict_status(int evs_code, const evs_append_result *result)
{
    switch (evs_code) {
    case EVS_OK:
        return result->duplicate ? "duplicate" : "accepted";
    case EVS_EWRONG_VERSION:
        return "wrong_expected_version";
    case EVS_EIDEMPOTENCY:
        return "idempotency_conflict";
    case EVS_EREJECTED:
        return "invalid";
    case EVS_ESTREAM_DELETED:
        return "stream_deleted";
    default:
        return NULL;
    }
}

int evs_cli_format_verdict(evs_cli_buf *buf, int evs_code, const evs_append_result *result)
{
    const char *status = evs_cli_verdict_status(evs_code, result);
    if (!status)
        return -1;
    evs_cli_buf_puts(buf, "{");
    string_member(buf, "append_id", result->append_id, 1);
    string_member(buf, "status", status, 0);
    string_member(buf, "stream", result->stream[0] ? result->stream : NULL, 0);
    evs_cli_buf_printf(buf,
                       ",\"first_version\":%" PRIu64 ",\"last_version\":%" PRIu64
                       ",\"first_position\":%" PRIu64 ",\"last_position\":%" PRIu64
                       ",\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"duplicate\":%s",
                       result->first_version, result->last_version, result->first_position,
                       result->last_position, result->partition, result->offset,
                       result->duplicate ? "true" : "false");
    if (evs_code == EVS_EWRONG_VERSION)
        evs_cli_buf_printf(buf, ",\"current_version\":%" PRIu64, result->current_version);
    evs_cli_buf_puts(buf, "}\n");
    return 0;
}

void evs_cli_format_snapshot(evs_cli_buf *buf, const evs_snapshot *snapshot)
{
    char created[40];
    evs_cli_format_time(snapshot->created_us, created);
    evs_cli_buf_puts(buf, "{");
    string_member(buf, "stream", snapshot->stream, 1);
    evs_cli_buf_printf(buf, ",\"version\":%" PRIu64, snapshot->version);
    string_member(buf, "content_type", snapshot->content_type, 0);
    evs_cli_buf_printf(buf, ",\"schema_version\":%" PRIu32, snapshot->schema_version);
    string_member(buf, "created", created, 0);
    payload_member(buf, "data", snapshot->data, snapshot->data_len,
                   evs_cli_is_json_content_type(snapshot->content_type));
    evs_cli_buf_puts(buf, "}\n");
}

void evs_cli_format_checkpoint(evs_cli_buf *buf, const char *name, uint64_t position)
{
    evs_cli_buf_puts(buf, "{");
    string_member(buf, "name", name, 1);
    evs_cli_buf_printf(buf, ",\"position\":%" PRIu64 "}\n", position);
}

int evs_cli_fail(int exit_code, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("evstore: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    return exit_code;
}

int evs_cli_fail_evs(int rc)
{
    const char *detail = evs_last_error();
    return evs_cli_fail(evs_cli_exit_code(rc), "%s", detail[0] ? detail : evs_strerror(rc));
}

int evs_cli_write(const evs_cli_buf *buf)
{
    if (buf->len && fwrite(buf->data, 1, buf->len, stdout) != buf->len)
        return -1;
    return 0;
}
