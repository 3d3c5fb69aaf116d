/*
 * snapshot.c - stream snapshots kept by the projector (evstore.h, "Snapshots"; the HTTP side
 * is docs/HTTP-API.md, "Snapshots"): PUT and GET /snapshots/{stream}.
 *
 * Bytes travel as base64 both ways (data_base64 when saving, encoding=base64 when loading),
 * so a snapshot comes back byte for byte whatever its content type. A loaded snapshot is
 * ONE allocation laid out as
 *     evs_snapshot | stream NUL | content_type NUL | data bytes NUL
 * so evs_snapshot_free() is a single free().
 *
 * Snapshots go to the client's home projector (router.h, R2; one that does not serve the
 * stream's partition answers 421 and the next is asked), which saves them in the state
 * topic that every projector applies.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base64_decode.h"
#include "client_internal.h"
#include "errors.h"
#include "event_json.h"
#include "evstore.h"
#include "record_codec.h"

#define DEFAULT_CONTENT_TYPE "application/json"

/* Standard base64 with padding of bytes[0..len) into out (4 * ceil(len / 3) bytes + NUL). */
static void base64_encode(const unsigned char *bytes, size_t len, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)bytes[i] << 16 | (uint32_t)bytes[i + 1] << 8 | bytes[i + 2];
        *out++ = alphabet[v >> 18 & 63];
        *out++ = alphabet[v >> 12 & 63];
        *out++ = alphabet[v >> 6 & 63];
        *out++ = alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)bytes[i] << 16 | (i + 1 < len ? (uint32_t)bytes[i + 1] << 8 : 0);
        *out++ = alphabet[v >> 18 & 63];
        *out++ = alphabet[v >> 12 & 63];
        *out++ = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
        *out++ = '=';
    }
    *out = '\0';
}

/* 1 if a content type is 1..EVS_CONTENT_TYPE_MAX printable ASCII bytes. */
static int content_type_valid(const char *content_type)
{
    size_t len = strlen(content_type);
    if (len < 1 || len > EVS_CONTENT_TYPE_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (content_type[i] < 0x20 || content_type[i] > 0x7e)
            return 0;
    return 1;
}

static int stream_check(const evs_client *client, const char *stream, const char *fn)
{
    if (!client || !stream)
        return evs__set_error(EVS_EINVAL, "%s: %s is NULL", fn, client ? "stream" : "client");
    if (!evs_stream_name_valid(stream, strlen(stream)))
        return evs__set_error(EVS_EINVAL,
                              "invalid stream name \"%.*s\": use 1 to %d characters of A-Z a-z "
                              "0-9 _ . : @ -, not starting with '$'",
                              EVS_STREAM_NAME_MAX, stream, EVS_STREAM_NAME_MAX);
    return 0;
}

int evs_snapshot_save(evs_client *client, const char *stream, uint64_t version,
                      const char *content_type, uint32_t schema_version, const void *data,
                      size_t len)
{
    int rc;
    char *encoded = NULL;
    char *body = NULL;
    json_t *root = NULL;
    evs_http_response response = {0};
    char path[EVS_STREAM_NAME_MAX + 16];
    char what[EVS_STREAM_NAME_MAX + 48];

    if ((rc = stream_check(client, stream, "evs_snapshot_save")) != 0)
        return rc;
    if (!content_type)
        content_type = DEFAULT_CONTENT_TYPE;
    if (version < 1 || version > INT64_MAX) {
        rc = evs__set_error(EVS_EINVAL,
                            "invalid snapshot of stream %s: version %" PRIu64 " (must be 1 up "
                            "to the stream's current version)",
                            stream, version);
        goto done;
    }
    if (!content_type_valid(content_type)) {
        rc = evs__set_error(EVS_EINVAL,
                            "invalid snapshot of stream %s: content type must be 1 to %d "
                            "printable ASCII characters",
                            stream, EVS_CONTENT_TYPE_MAX);
        goto done;
    }
    if (len > EVS_SNAPSHOT_DATA_MAX || (!data && len > 0)) {
        rc = evs__set_error(EVS_EINVAL,
                            "invalid snapshot of stream %s: %zu bytes of data%s (at most %d)",
                            stream, len, data ? "" : " at NULL", EVS_SNAPSHOT_DATA_MAX);
        goto done;
    }
    encoded = malloc((len + 2) / 3 * 4 + 1);
    if (!encoded) {
        rc = evs__set_error(EVS_ENOMEM, "out of memory saving a snapshot of %zu bytes", len);
        goto done;
    }
    base64_encode(data, len, encoded);
    root =
        json_pack("{s:I,s:s,s:I,s:s}", "version", (json_int_t)version, "content_type", content_type,
                  "schema_version", (json_int_t)schema_version, "data_base64", encoded);
    body = root ? json_dumps(root, JSON_COMPACT) : NULL;
    if (!body) {
        rc = evs__set_error(EVS_ENOMEM, "out of memory saving a snapshot of %zu bytes", len);
        goto done;
    }
    free(encoded); /* the body holds a copy; do not keep two */
    encoded = NULL;
    snprintf(path, sizeof path, "/snapshots/%s", stream);
    snprintf(what, sizeof what, "a snapshot of stream %s", stream);
    rc = evs__client_home_request(client, "PUT", path, body, strlen(body),
                                  evs__client_request_timeout_ms(client), &response);
    if (rc != 0)
        goto done;
    if (response.status != 200)
        rc = evs__http_error(response.status, response.body, response.body_len, what);
done:
    evs__http_response_free(&response);
    free(body);
    json_decref(root);
    free(encoded);
    return rc;
}

int evs_snapshot_load(evs_client *client, const char *stream, uint64_t max_version,
                      evs_snapshot **out)
{
    int rc;
    json_t *root = NULL;
    evs_snapshot *snapshot = NULL;
    evs_http_response response = {0};
    char path[EVS_STREAM_NAME_MAX + 80];
    char what[EVS_STREAM_NAME_MAX + 48];

    if (!out)
        return evs__set_error(EVS_EINVAL, "evs_snapshot_load: out is NULL");
    *out = NULL;
    if ((rc = stream_check(client, stream, "evs_snapshot_load")) != 0)
        return rc;
    if (max_version > 0)
        snprintf(path, sizeof path, "/snapshots/%s?encoding=base64&version=%" PRIu64, stream,
                 max_version);
    else
        snprintf(path, sizeof path, "/snapshots/%s?encoding=base64", stream);
    snprintf(what, sizeof what, "the snapshot of stream %s", stream);
    rc = evs__client_home_request(client, "GET", path, NULL, 0,
                                  evs__client_request_timeout_ms(client), &response);
    if (rc != 0)
        goto done;
    if (response.status != 200) {
        rc = evs__http_error(response.status, response.body, response.body_len, what);
        goto done;
    }

    json_error_t jerr;
    root = json_loadb(response.body, response.body_len, 0, &jerr);
    json_t *j_stream = json_object_get(root, "stream");
    json_t *j_version = json_object_get(root, "version");
    json_t *j_type = json_object_get(root, "content_type");
    json_t *j_schema = json_object_get(root, "schema_version");
    json_t *j_created = json_object_get(root, "created_us");
    json_t *j_data = json_object_get(root, "data");
    const char *bad = !json_is_object(root)       ? "(the object)"
                      : !json_is_string(j_stream) ? "stream"
                      : !json_is_integer(j_version) || json_integer_value(j_version) < 1 ? "version"
                      : !json_is_string(j_type) ? "content_type"
                      : !json_is_integer(j_schema) || json_integer_value(j_schema) < 0 ||
                              json_integer_value(j_schema) > UINT32_MAX
                          ? "schema_version"
                      : !json_is_string(j_data) ? "data"
                                                : NULL;
    if (bad) {
        rc = evs__set_error(EVS_EPROTOCOL,
                            "projector answer for %s has a missing or malformed \"%s\": %.200s",
                            what, bad, root ? response.body : jerr.text);
        goto done;
    }
    size_t stream_len = json_string_length(j_stream);
    size_t type_len = json_string_length(j_type);
    size_t data_max = evs__base64_decoded_max(json_string_length(j_data));
    snapshot = calloc(1, sizeof *snapshot + stream_len + 1 + type_len + 1 + data_max + 1);
    if (!snapshot) {
        rc = evs__set_error(EVS_ENOMEM, "out of memory loading %s", what);
        goto done;
    }
    char *cursor = (char *)(snapshot + 1);
    snapshot->stream = cursor;
    memcpy(cursor, json_string_value(j_stream), stream_len + 1);
    cursor += stream_len + 1;
    snapshot->content_type = cursor;
    memcpy(cursor, json_string_value(j_type), type_len + 1);
    cursor += type_len + 1;
    snapshot->data = cursor;
    if (evs__base64_decode(json_string_value(j_data), json_string_length(j_data), (uint8_t *)cursor,
                           &snapshot->data_len) != 0) {
        rc = evs__set_error(EVS_EPROTOCOL, "projector answer for %s has data that is not base64",
                            what);
        goto done;
    }
    cursor[snapshot->data_len] = '\0';
    snapshot->version = (uint64_t)json_integer_value(j_version);
    snapshot->schema_version = (uint32_t)json_integer_value(j_schema);
    snapshot->created_us = json_is_integer(j_created) ? json_integer_value(j_created) : 0;
    *out = snapshot;
    snapshot = NULL;
done:
    free(snapshot);
    json_decref(root);
    evs__http_response_free(&response);
    return rc;
}

void evs_snapshot_free(evs_snapshot *snapshot)
{
    free(snapshot); /* one allocation: see the layout at the top of this file */
}
