/*
 * saved_state.c - checkpoints and snapshots: state that clients save in the projector
 * (docs/HTTP-API.md, "Checkpoints" and "Snapshots").
 *
 * Both are saved through the state topic (state_log.h): a save returns once this projector
 * has applied it, and every replica applies it too. They live in the store's local state
 * (store.h, 'L' keys), kept across --rebuild:
 *   "C/" name                          -> checkpoint: be64 position, be64 updated_us
 *   "S/" stream 0x00 be64 version      -> snapshot: be32 schema_version, be64 created_us,
 *                                         be32 content type length, content type, data
 * Snapshot keys sort by version within a stream, so the latest at or below a version is one
 * backwards step; only the SNAPSHOTS_KEPT latest of a stream are kept.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <jansson.h>

#include "base64_decode.h"
#include "json_text.h"
#include "index/byte_order.h"
#include "state/saved_state.h"
#include "state/state_log.h"

#define SNAPSHOTS_KEPT 5

static int64_t now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Parses a JSON object body; on failure queues a 400 and returns NULL. */
static json_t *parse_body(const evs_http_request *r, enum MHD_Result *ret)
{
    json_error_t jerr;
    /* Integers are decoded as reals so that any valid JSON (even an integer beyond 64 bits
     * inside snapshot data) parses; member_u64 checks the numbers it reads. */
    json_t *body = json_loadb(r->body, r->body_len,
                              JSON_DECODE_INT_AS_REAL | JSON_REJECT_DUPLICATES, &jerr);
    if (!body || !json_is_object(body)) {
        *ret = evs_http_send_error(r->connection, MHD_HTTP_BAD_REQUEST,
                                   "the request body must be a JSON object%s%s",
                                   body ? "" : ": ", body ? "" : jerr.text);
        json_decref(body);
        return NULL;
    }
    return body;
}

/* Reads an optional non-negative integer member; returns 0, or -1 after a 400. */
static int member_u64(const evs_http_request *r, json_t *obj, const char *name, int required,
                      uint64_t def, uint64_t *out, enum MHD_Result *ret)
{
    json_t *v = json_object_get(obj, name);
    *out = def;
    if (!v && !required)
        return 0;
    /* The body is parsed with integers as doubles, so an integer is read from its text:
     * through a double, 2^53 + 1 became 2^53 and was stored as a position nobody asked
     * for. Another number (5.0, 1e3) must be whole and below 2^53, where a double still
     * holds every integer exactly. Top-level members only: obj is the body. */
    const uint64_t max = (uint64_t)1 << 53;
    size_t start, span;
    if (json_is_number(v) && obj && r->body &&
        evs_json_text_member(r->body, r->body_len, name, &start, &span) && span > 0 &&
        span <= 20 && strspn(r->body + start, "0123456789") == span) {
        char digits[21];
        memcpy(digits, r->body + start, span);
        digits[span] = 0;
        errno = 0;
        unsigned long long n = strtoull(digits, NULL, 10);
        if (errno || n > max) {
            *ret = evs_http_send_error(r->connection, MHD_HTTP_BAD_REQUEST,
                                       "\"%s\" must be a whole number from 0 to 2^53", name);
            return -1;
        }
        *out = n;
        return 0;
    }
    double d = json_is_number(v) ? json_number_value(v) : -1;
    if (d < 0 || d >= (double)max || d != (double)(uint64_t)d) {
        *ret = evs_http_send_error(r->connection, MHD_HTTP_BAD_REQUEST,
                                   "\"%s\" must be a whole number from 0 to 2^53", name);
        return -1;
    }
    *out = (uint64_t)d;
    return 0;
}

/* A save the state topic did not take, or whose outcome this projector has not seen in
 * time: 503, so that a client tries again (saving the same value twice is harmless). */
static enum MHD_Result save_failed(struct MHD_Connection *c, const char *err)
{
    return evs_http_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "not saved: %s", err);
}

/* ---- Checkpoints --------------------------------------------------------------------- */

static enum MHD_Result checkpoint_answer(struct MHD_Connection *c, const char *name,
                                         uint64_t position, int64_t updated_us)
{
    evs_out o = {0};
    evs_out_str(&o, "{\"name\":");
    evs_out_jstr(&o, name, strlen(name));
    evs_out_fmt(&o, ",\"position\":%llu,\"updated_us\":%lld}", (unsigned long long)position,
                (long long)updated_us);
    return evs_http_send_json(c, MHD_HTTP_OK, &o);
}

enum MHD_Result evs_checkpoint_handle(const evs_http_request *r)
{
    struct MHD_Connection *c = r->connection;
    evs_store *store = r->projector->store;
    enum MHD_Result ret = MHD_NO;
    size_t len = strlen(r->rest);
    if (!evs_stream_name_valid(r->rest, len))
        return evs_http_send_error(c, MHD_HTTP_BAD_REQUEST,
                                   "invalid checkpoint name: use 1 to %d of letters, digits "
                                   "and _.:@- (not starting with $)",
                                   EVS_STREAM_NAME_MAX);
    char key[2 + EVS_STREAM_NAME_MAX];
    memcpy(key, "C/", 2);
    memcpy(key + 2, r->rest, len);
    size_t klen = len + 2;

    if (!strcmp(r->method, "PUT")) {
        json_t *body = parse_body(r, &ret);
        uint64_t position;
        if (!body)
            return ret;
        int rc = member_u64(r, body, "position", 1, 0, &position, &ret);
        json_decref(body);
        if (rc < 0)
            return ret;
        if (position > INT64_MAX)
            return evs_http_send_error(c, MHD_HTTP_BAD_REQUEST, "position is too large");
        uint8_t value[16];
        int64_t updated = now_us();
        put_be64(value, position);
        put_be64(value + 8, (uint64_t)updated);
        char err[512];
        evs_local_op op = {key, klen, value, sizeof value};
        if (evs_state_write(r->projector, &op, 1, err, sizeof err) < 0)
            return save_failed(c, err);
        return checkpoint_answer(c, r->rest, position, updated);
    }

    char *value = NULL;
    size_t vlen = 0;
    if (evs_store_local_get(store, key, klen, &value, &vlen) < 0)
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store read failed");
    if (!value || vlen != 16) {
        free(value);
        return evs_http_send_error(c, MHD_HTTP_NOT_FOUND, "no checkpoint named %s", r->rest);
    }
    uint64_t position = get_be64((const uint8_t *)value);
    int64_t updated = (int64_t)get_be64((const uint8_t *)value + 8);
    free(value);
    if (!strcmp(r->method, "DELETE")) {
        char err[512];
        evs_local_op op = {key, klen, NULL, 0};
        if (evs_state_write(r->projector, &op, 1, err, sizeof err) < 0)
            return save_failed(c, err);
        evs_out o = {0};
        evs_out_str(&o, "{\"name\":");
        evs_out_jstr(&o, r->rest, len);
        evs_out_str(&o, ",\"deleted\":true}");
        return evs_http_send_json(c, MHD_HTTP_OK, &o);
    }
    return checkpoint_answer(c, r->rest, position, updated);
}

/* ---- Snapshots ----------------------------------------------------------------------- */

static size_t snapshot_key(char *key, const char *stream, size_t len, uint64_t version)
{
    memcpy(key, "S/", 2);
    memcpy(key + 2, stream, len);
    key[2 + len] = 0;
    put_be64((uint8_t *)key + 3 + len, version);
    return len + 11;
}

/* Decodes data or data_base64 into *data (malloc'd). Returns 0 or -1 after a 400. */
static int snapshot_data(const evs_http_request *r, json_t *body, const char *content_type,
                         uint8_t **data, size_t *len, enum MHD_Result *ret)
{
    json_t *text = json_object_get(body, "data_base64");
    json_t *value = json_object_get(body, "data");
    *data = NULL;
    if (!!text == !!value) {
        *ret = evs_http_send_error(r->connection, MHD_HTTP_BAD_REQUEST,
                                   "give exactly one of \"data\" (JSON) and \"data_base64\"");
        return -1;
    }
    if (text) {
        size_t tlen = json_string_length(text);
        *data = malloc(evs__base64_decoded_max(tlen) + 1);
        if (!json_is_string(text) || !*data ||
            evs__base64_decode(json_string_value(text), tlen, *data, len) < 0) {
            free(*data);
            *data = NULL;
            *ret = evs_http_send_error(r->connection, MHD_HTTP_BAD_REQUEST,
                                       "\"data_base64\" is not base64");
            return -1;
        }
        return 0;
    }
    if (!evs_json_text_content_type_is_json(content_type)) {
        *ret = evs_http_send_error(r->connection, MHD_HTTP_BAD_REQUEST,
                                   "\"data\" is JSON, so the content type must be "
                                   "application/json; use \"data_base64\" for other bytes");
        return -1;
    }
    /* Keep the value's own text (numbers as written), compacted: jansson would turn 1.10
     * into 1.1000000000000001. */
    size_t start, span;
    if (!evs_json_text_member(r->body, r->body_len, "data", &start, &span) ||
        !(*data = malloc(span + 1))) {
        *ret = evs_http_send_error(r->connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return -1;
    }
    *len = evs_json_text_compact(r->body + start, span, (char *)*data);
    return 0;
}

/* The versions of a stream's snapshots, ascending (key order). */
#define SNAPSHOTS_LISTED_MAX 64
typedef struct snapshot_list {
    uint64_t versions[SNAPSHOTS_LISTED_MAX];
    size_t count;
    size_t prefix_len;
} snapshot_list;

static int list_snapshot(void *ctx, const char *key, size_t klen, const char *v, size_t vl)
{
    snapshot_list *l = ctx;
    if (klen == l->prefix_len + 8 && l->count < SNAPSHOTS_LISTED_MAX)
        l->versions[l->count++] = get_be64((const uint8_t *)key + l->prefix_len);
    return l->count == SNAPSHOTS_LISTED_MAX;
}

static enum MHD_Result snapshot_put(const evs_http_request *r, const char *stream, size_t len)
{
    struct MHD_Connection *c = r->connection;
    enum MHD_Result ret = MHD_NO;
    json_t *body = parse_body(r, &ret);
    if (!body)
        return ret;
    uint64_t version, schema_version, current = 0;
    uint8_t *data = NULL;
    size_t data_len = 0;
    json_t *ct = json_object_get(body, "content_type");
    const char *content_type = json_is_string(ct) ? json_string_value(ct) : "application/json";
    size_t ct_len = strlen(content_type);
    if (member_u64(r, body, "version", 1, 0, &version, &ret) < 0 ||
        member_u64(r, body, "schema_version", 0, 1, &schema_version, &ret) < 0)
        goto done;
    if ((ct && !json_is_string(ct)) || ct_len == 0 || ct_len > EVS_CONTENT_TYPE_MAX) {
        ret = evs_http_send_error(c, MHD_HTTP_BAD_REQUEST,
                                  "\"content_type\" must be a string of 1 to %d bytes",
                                  EVS_CONTENT_TYPE_MAX);
        goto done;
    }
    if (schema_version > UINT32_MAX) {
        ret = evs_http_send_error(c, MHD_HTTP_BAD_REQUEST, "\"schema_version\" is too large");
        goto done;
    }
    if (evs_store_stream_version(r->projector->store, stream, len, &current) < 0) {
        ret = evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store read failed");
        goto done;
    }
    if (current == 0) {
        ret = evs_http_send_error(c, MHD_HTTP_NOT_FOUND, "stream %s not found", stream);
        goto done;
    }
    if (version == 0 || version > current) {
        ret = evs_http_send_error(c, MHD_HTTP_BAD_REQUEST,
                                  "snapshot version %llu is not a version of stream %s "
                                  "(1 to %llu)",
                                  (unsigned long long)version, stream,
                                  (unsigned long long)current);
        goto done;
    }
    if (snapshot_data(r, body, content_type, &data, &data_len, &ret) < 0)
        goto done;
    if (data_len > EVS_SNAPSHOT_DATA_MAX) {
        ret = evs_http_send_error(c, MHD_HTTP_CONTENT_TOO_LARGE,
                                  "snapshot data is %zu bytes; the limit is %d", data_len,
                                  EVS_SNAPSHOT_DATA_MAX);
        goto done;
    }

    /* Write the new snapshot and delete all but the SNAPSHOTS_KEPT latest versions, the new
     * one included, in one batch. A snapshot older than the kept ones is not written. */
    char key[16 + EVS_STREAM_NAME_MAX];
    size_t klen = snapshot_key(key, stream, len, version);
    snapshot_list list = {{0}, 0, len + 3};
    if (evs_store_local_scan(r->projector->store, key, len + 3, NULL, 0, list_snapshot, &list) <
        0) {
        ret = evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store read failed");
        goto done;
    }
    /* U = the existing versions and the new one, ascending; the first `drop` of U go. */
    uint64_t all[SNAPSHOTS_LISTED_MAX + 1];
    size_t n = 0, i = 0;
    for (; i < list.count && list.versions[i] < version; i++)
        all[n++] = list.versions[i];
    all[n++] = version;
    if (i < list.count && list.versions[i] == version)
        i++; /* a new snapshot at an existing version replaces it */
    for (; i < list.count; i++)
        all[n++] = list.versions[i];
    size_t drop = n > SNAPSHOTS_KEPT ? n - SNAPSHOTS_KEPT : 0;
    int kept = 1;
    char old_keys[SNAPSHOTS_LISTED_MAX][16 + EVS_STREAM_NAME_MAX];
    evs_local_op ops[SNAPSHOTS_LISTED_MAX + 1];
    size_t nops = 0;
    for (i = 0; i < drop; i++) {
        /* The new version in the dropped part: older than every kept one, so not written
         * (and an existing snapshot at that version goes too). */
        if (all[i] == version)
            kept = 0;
        ops[nops].key = old_keys[nops];
        ops[nops].key_len = snapshot_key(old_keys[nops], stream, len, all[i]);
        ops[nops].value = NULL;
        ops[nops].value_len = 0;
        nops++;
    }
    size_t vlen = 16 + ct_len + data_len;
    uint8_t *value = NULL;
    if (kept) {
        value = malloc(vlen);
        if (!value) {
            ret = evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
            goto done;
        }
        put_be32(value, (uint32_t)schema_version);
        put_be64(value + 4, (uint64_t)now_us());
        put_be32(value + 12, (uint32_t)ct_len);
        memcpy(value + 16, content_type, ct_len);
        memcpy(value + 16 + ct_len, data, data_len);
        ops[nops++] = (evs_local_op){key, klen, value, vlen};
    }
    /* One transaction: the deletes of the older snapshots and the new one. */
    char err[512];
    int rc = evs_state_write(r->projector, ops, nops, err, sizeof err);
    free(value);
    if (rc < 0) {
        ret = save_failed(c, err);
        goto done;
    }
    evs_out o = {0};
    evs_out_str(&o, "{\"stream\":");
    evs_out_jstr(&o, stream, len);
    evs_out_fmt(&o, ",\"version\":%llu,\"kept\":%s}", (unsigned long long)version,
                kept ? "true" : "false");
    ret = evs_http_send_json(c, MHD_HTTP_OK, &o);
done:
    free(data);
    json_decref(body);
    return ret;
}

typedef struct snapshot_found {
    uint64_t version;
    char *value;
    size_t value_len;
    size_t prefix_len;
    uint64_t max_version;
} snapshot_found;

static int keep_latest(void *ctx, const char *key, size_t klen, const char *v, size_t vl)
{
    snapshot_found *f = ctx;
    if (klen != f->prefix_len + 8 || get_be64((const uint8_t *)key + f->prefix_len) > f->max_version)
        return 1;
    free(f->value);
    f->value = malloc(vl ? vl : 1);
    if (!f->value)
        return 1;
    memcpy(f->value, v, vl);
    f->value_len = vl;
    f->version = get_be64((const uint8_t *)key + f->prefix_len);
    return 0;
}

static enum MHD_Result snapshot_get(const evs_http_request *r, const char *stream, size_t len)
{
    struct MHD_Connection *c = r->connection;
    enum MHD_Result ret = MHD_NO;
    uint64_t max_version;
    if (evs_http_query_u64(c, "version", UINT64_MAX, 1, UINT64_MAX, &max_version, &ret) < 0)
        return ret;
    int base64 = evs_http_query_encoding(c, &ret);
    if (base64 < 0)
        return ret;
    char prefix[16 + EVS_STREAM_NAME_MAX];
    snapshot_key(prefix, stream, len, 0);
    /* At most SNAPSHOTS_KEPT keys per stream, so a forward scan is cheap. */
    snapshot_found f = {0, NULL, 0, len + 3, max_version};
    if (evs_store_local_scan(r->projector->store, prefix, len + 3, NULL, 0, keep_latest, &f) < 0) {
        free(f.value);
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store read failed");
    }
    if (!f.value || f.value_len < 16 || get_be32((uint8_t *)f.value + 12) > f.value_len - 16) {
        free(f.value);
        return evs_http_send_error(c, MHD_HTTP_NOT_FOUND, "stream %s has no snapshot%s", stream,
                                   max_version == UINT64_MAX ? "" : " at or below that version");
    }
    const uint8_t *v = (const uint8_t *)f.value;
    uint32_t schema_version = get_be32(v);
    int64_t created = (int64_t)get_be64(v + 4);
    uint32_t ct_len = get_be32(v + 12);
    const char *ct = f.value + 16;
    const uint8_t *data = v + 16 + ct_len;
    size_t data_len = f.value_len - 16 - ct_len;

    evs_out o = {0};
    evs_out_str(&o, "{\"stream\":");
    evs_out_jstr(&o, stream, len);
    evs_out_fmt(&o, ",\"version\":%llu,\"content_type\":", (unsigned long long)f.version);
    evs_out_jstr(&o, ct, ct_len);
    evs_out_fmt(&o, ",\"schema_version\":%u,\"created_us\":%lld,\"data\":", schema_version,
                (long long)created);
    if (!base64 && evs_content_type_is_json(ct, ct_len) && evs_is_json(data, data_len)) {
        evs_out_raw(&o, data, data_len);
    } else {
        evs_out_base64(&o, data, data_len);
        if (!base64)
            evs_out_str(&o, ",\"data_encoding\":\"base64\"");
    }
    evs_out_str(&o, "}");
    free(f.value);
    return evs_http_send_json(c, MHD_HTTP_OK, &o);
}

enum MHD_Result evs_snapshot_handle(const evs_http_request *r)
{
    size_t len = strlen(r->rest);
    if (!evs_stream_name_valid(r->rest, len))
        return evs_http_send_error(r->connection, MHD_HTTP_BAD_REQUEST,
                                   "invalid stream name: use 1 to %d of letters, digits and "
                                   "_.:@- (not starting with $)",
                                   EVS_STREAM_NAME_MAX);
    /* A snapshot is checked against its stream's version: only where the stream is. */
    enum MHD_Result ret;
    if (!evs_http_stream_served(r->projector, r->connection, r->rest, len, &ret))
        return ret;
    if (!strcmp(r->method, "PUT"))
        return snapshot_put(r, r->rest, len);
    return snapshot_get(r, r->rest, len);
}
