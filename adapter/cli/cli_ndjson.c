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

#include "base64_decode.h" /* schemas/: the formats layer, as schemas/json_text.c is */
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
    free(event->content_type);
    free(event->subject);
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
        optional_string(root, "causation_id", &out->causation_id, err, err_len) != 0 ||
        optional_string(root, "subject", &out->subject, err, err_len) != 0)
        goto fail;
    if (out->event_id && !evs_cli_uuid_valid(out->event_id)) {
        snprintf(err, err_len, "\"event_id\" \"%.40s\" is not a UUID", out->event_id);
        goto fail;
    }
    json_t *seal_metadata = json_object_get(root, "seal_metadata");
    if (seal_metadata && !json_is_null(seal_metadata) && !json_is_boolean(seal_metadata)) {
        snprintf(err, err_len, "\"seal_metadata\" must be true or false");
        goto fail;
    }
    out->seal_metadata = json_is_true(seal_metadata);
    if (out->seal_metadata && !out->subject) {
        snprintf(err, err_len, "\"seal_metadata\" needs a \"subject\" (whose key seals it)");
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

/* The bytes of payload member key (data or metadata, which must exist in root): its compact
 * JSON text, or, with "<key>_encoding": "base64", the bytes its base64 string holds. */
static int payload_bytes(json_t *root, const char *line, size_t len, const char *key,
                         char **out, size_t *out_len, char *err, size_t err_len)
{
    char encoding_key[32];
    snprintf(encoding_key, sizeof encoding_key, "%s_encoding", key);
    json_t *encoding = json_object_get(root, encoding_key);
    if (!encoding || json_is_null(encoding)) {
        *out = member_compact(line, len, key, out_len);
        if (!*out)
            goto no_memory;
        return 0;
    }
    json_t *text = json_object_get(root, key);
    if (!json_is_string(encoding) || strcmp(json_string_value(encoding), "base64") != 0 ||
        !json_is_string(text)) {
        snprintf(err, err_len, "\"%s\" must be \"base64\", with \"%s\" a base64 string",
                 encoding_key, key);
        return -1;
    }
    size_t text_len = json_string_length(text);
    *out = malloc(evs__base64_decoded_max(text_len) + 1);
    if (!*out)
        goto no_memory;
    if (evs__base64_decode(json_string_value(text), text_len, (uint8_t *)*out, out_len) != 0) {
        snprintf(err, err_len, "\"%s\" is not valid base64", key);
        return -1;
    }
    (*out)[*out_len] = '\0';
    return 0;
no_memory:
    snprintf(err, err_len, "out of memory");
    return -1;
}

int evs_cli_export_line_parse(const char *line, size_t len, evs_cli_export_line *out, char *err,
                              size_t err_len)
{
    json_error_t jerr;
    json_t *root = NULL;
    evs_cli_event *event = &out->event;

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
    static const char *const required[] = {"stream", "version", "type", "event_id", "data"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (!json_object_get(root, required[i])) {
            snprintf(err, err_len, "\"%s\" is missing (a line of evstore export has it)",
                     required[i]);
            goto fail;
        }
    }
    /* JSON_DECODE_INT_AS_REAL: a version is a real; exact up to 2^53, far above any stream. */
    json_t *version = json_object_get(root, "version");
    double v = json_is_number(version) ? json_number_value(version) : 0;
    if (!(v >= 1 && v <= 9007199254740992.0) || v != (double)(uint64_t)v) {
        snprintf(err, err_len, "\"version\" must be a whole number from 1 (versions are 1-based)");
        goto fail;
    }
    out->version = (uint64_t)v;
    if (optional_string(root, "stream", &out->stream, err, err_len) != 0 ||
        optional_string(root, "type", &event->type, err, err_len) != 0 ||
        optional_string(root, "event_id", &event->event_id, err, err_len) != 0 ||
        optional_string(root, "content_type", &event->content_type, err, err_len) != 0 ||
        optional_string(root, "correlation_id", &event->correlation_id, err, err_len) != 0 ||
        optional_string(root, "causation_id", &event->causation_id, err, err_len) != 0 ||
        optional_string(root, "subject", &event->subject, err, err_len) != 0)
        goto fail;
    if (json_is_true(json_object_get(root, "erased"))) {
        snprintf(err, err_len, "the event was erased (its subject was forgotten), so its data "
                               "is gone and it cannot be appended again");
        goto fail;
    }
    if (!out->stream || !event->type || !event->event_id) {
        snprintf(err, err_len, "\"stream\", \"type\" and \"event_id\" must be strings");
        goto fail;
    }
    if (!evs_cli_uuid_valid(event->event_id)) {
        snprintf(err, err_len, "\"event_id\" \"%.40s\" is not a UUID", event->event_id);
        goto fail;
    }
    if (payload_bytes(root, line, len, "data", &event->data, &event->data_len, err, err_len) != 0)
        goto fail;
    if (!event->content_type && json_object_get(root, "data_encoding") &&
        !(event->content_type = strdup("application/octet-stream"))) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    json_t *metadata = json_object_get(root, "metadata");
    if (metadata && !json_is_null(metadata) &&
        payload_bytes(root, line, len, "metadata", &event->metadata, &event->metadata_len, err,
                      err_len) != 0)
        goto fail;
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    evs_cli_export_line_free(out);
    return -1;
}

void evs_cli_export_line_free(evs_cli_export_line *line)
{
    if (!line)
        return;
    free(line->stream);
    evs_cli_event_free(&line->event);
    memset(line, 0, sizeof *line);
}

void evs_cli_event_to_data(const evs_cli_event *event, evs_event_data *data)
{
    memset(data, 0, sizeof *data);
    data->event_id = event->event_id;
    data->type = event->type;
    data->data = event->data;
    data->data_len = event->data_len;
    data->content_type = event->content_type ? event->content_type : "application/json";
    data->metadata = event->metadata;
    data->metadata_len = event->metadata_len;
    data->correlation_id = event->correlation_id;
    data->causation_id = event->causation_id;
    data->subject = event->subject;
    data->seal_metadata = event->subject ? event->seal_metadata : 0;
}
