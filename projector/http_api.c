/*
 * http_api.c - the projector's HTTP query API (documented in docs/HTTP-API.md).
 *
 * libmicrohttpd runs one thread per connection, so a verdict request may block waiting for
 * the consumer thread to apply an offset without holding up other requests. Connections are
 * capped (HTTP_CONNECTIONS_MAX). Every answer is JSON; every error is {"error": "..."}.
 * Handlers only read the store, which RocksDB allows from any thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "projector.h"

#define HTTP_CONNECTIONS_MAX 512
#define HTTP_URL_MAX 2048
#define READ_LIMIT_DEFAULT 100
#define VERDICT_TIMEOUT_DEFAULT_MS 10000
#define VERDICT_TIMEOUT_MAX_MS 60000

struct evs_http_server {
    struct MHD_Daemon *daemon;
    evs_projector *projector;
};

/* ---- A small JSON text builder ------------------------------------------------------ */

typedef struct out {
    char *p;
    size_t len, cap;
    int oom;
} out;

static void out_reserve(out *o, size_t n)
{
    if (o->oom || o->len + n + 1 <= o->cap)
        return;
    size_t cap = o->cap ? o->cap * 2 : 1024;
    while (cap < o->len + n + 1)
        cap *= 2;
    char *p = realloc(o->p, cap);
    if (!p) {
        o->oom = 1;
        return;
    }
    o->p = p;
    o->cap = cap;
}

static void out_raw(out *o, const void *s, size_t n)
{
    out_reserve(o, n);
    if (o->oom)
        return;
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = 0;
}

static void out_str(out *o, const char *s)
{
    out_raw(o, s, strlen(s));
}

static void out_fmt(out *o, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        out_raw(o, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* Appends s as a JSON string; bytes that are not valid UTF-8 are replaced by U+FFFD. */
static void out_jstr(out *o, const char *s, size_t n)
{
    out_raw(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            out_raw(o, e, 2);
        } else if (c < 0x20) {
            out_fmt(o, "\\u%04x", c);
        } else if (c < 0x80) {
            out_raw(o, &s[i], 1);
        } else {
            size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
            int ok = len > 0 && i + len <= n;
            for (size_t k = 1; ok && k < len; k++)
                ok = ((unsigned char)s[i + k] & 0xC0) == 0x80;
            if (ok) {
                out_raw(o, &s[i], len);
                i += len - 1;
            } else {
                out_str(o, "\\ufffd");
            }
        }
    }
    out_raw(o, "\"", 1);
}

static void out_base64(out *o, const uint8_t *p, size_t n)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    out_reserve(o, (n + 2) / 3 * 4 + 2);
    if (o->oom)
        return;
    char *d = o->p + o->len;
    *d++ = '"';
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8) | p[i + 2];
        *d++ = tbl[v >> 18];
        *d++ = tbl[(v >> 12) & 63];
        *d++ = tbl[(v >> 6) & 63];
        *d++ = tbl[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        *d++ = tbl[v >> 18];
        *d++ = tbl[(v >> 12) & 63];
        *d++ = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        *d++ = '=';
    }
    *d++ = '"';
    o->len = (size_t)(d - o->p);
    o->p[o->len] = 0;
}

static int is_json(const uint8_t *p, size_t n)
{
    if (n == 0)
        return 0;
    json_t *j = json_loadb((const char *)p, n, JSON_DECODE_ANY, NULL);
    if (!j)
        return 0;
    json_decref(j);
    return 1;
}

static void out_iso_time(out *o, int64_t us)
{
    time_t secs = (time_t)(us / 1000000);
    long frac = (long)(us % 1000000);
    if (frac < 0) {
        frac += 1000000;
        secs--;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    out_fmt(o, "\"%s.%06ldZ\"", buf, frac);
}

/* Writes one event object (docs/HTTP-API.md, "Event objects"). */
static void out_event(out *o, const evs_stored_event *e, int base64)
{
    char id[37];
    evs_uuid_format(e->event_id, id);
    out_fmt(o, "{\"event_id\":\"%s\",\"stream\":", id);
    out_jstr(o, e->stream, e->stream_len);
    out_str(o, ",\"type\":");
    out_jstr(o, e->type, e->type_len);
    out_fmt(o, ",\"version\":%llu,\"position\":%llu,\"partition\":%d,\"created\":",
            (unsigned long long)e->version, (unsigned long long)e->position, e->partition);
    out_iso_time(o, e->created_us);
    out_fmt(o, ",\"created_us\":%lld,\"content_type\":", (long long)e->created_us);
    out_jstr(o, e->content_type, e->content_type_len);

    int data_json = !base64 && e->content_type_len >= 16 &&
                    !strncmp(e->content_type, "application/json", 16) &&
                    is_json(e->data, e->data_len);
    out_str(o, ",\"data\":");
    if (data_json)
        out_raw(o, e->data, e->data_len);
    else
        out_base64(o, e->data, e->data_len);
    if (!base64 && !data_json)
        out_str(o, ",\"data_encoding\":\"base64\"");

    out_str(o, ",\"metadata\":");
    if (base64) {
        out_base64(o, e->metadata, e->metadata_len);
    } else if (e->metadata_len == 0) {
        out_str(o, "null");
    } else if (is_json(e->metadata, e->metadata_len)) {
        out_raw(o, e->metadata, e->metadata_len);
    } else {
        out_base64(o, e->metadata, e->metadata_len);
        out_str(o, ",\"metadata_encoding\":\"base64\"");
    }
    out_str(o, ",\"correlation_id\":");
    if (e->correlation_id)
        out_jstr(o, e->correlation_id, e->correlation_id_len);
    else
        out_str(o, "null");
    out_str(o, ",\"causation_id\":");
    if (e->causation_id)
        out_jstr(o, e->causation_id, e->causation_id_len);
    else
        out_str(o, "null");
    out_str(o, "}");
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* ---- Responses -------------------------------------------------------------------------- */

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, out *o)
{
    if (o->oom) {
        free(o->p);
        o->p = NULL;
        o->len = 0;
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        const char *msg = "{\"error\":\"out of memory\"}";
        o->p = strdup(msg);
        o->len = o->p ? strlen(msg) : 0;
    }
    struct MHD_Response *r =
        o->p ? MHD_create_response_from_buffer(o->len, o->p, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    o->p = NULL;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *fmt,
                                  ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    out o = {0};
    out_str(&o, "{\"error\":");
    out_jstr(&o, msg, strlen(msg));
    out_str(&o, "}");
    return send_json(c, status, &o);
}

/* Parses an optional unsigned query parameter in [min, max]. Returns 0, or -1 after sending
 * a 400 answer. */
static int query_u64(struct MHD_Connection *c, const char *name, uint64_t def, uint64_t min,
                     uint64_t max, uint64_t *value, enum MHD_Result *ret)
{
    const char *s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    *value = def;
    if (!s)
        return 0;
    uint64_t v = 0;
    int ok = *s != 0;
    for (const char *q = s; ok && *q; q++) {
        if (*q < '0' || *q > '9' || v > (UINT64_MAX - 9) / 10)
            ok = 0;
        else
            v = v * 10 + (uint64_t)(*q - '0');
    }
    if (!ok || v < min || v > max) {
        *ret = send_error(c, MHD_HTTP_BAD_REQUEST,
                          "query parameter %s must be a whole number from %llu to %llu", name,
                          (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *value = v;
    return 0;
}

/* Parses the optional encoding parameter: 1 for base64, 0 for the default, -1 after sending a
 * 400 answer. */
static int query_encoding(struct MHD_Connection *c, enum MHD_Result *ret)
{
    const char *s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "encoding");
    if (!s || !strcmp(s, "json"))
        return 0;
    if (!strcmp(s, "base64"))
        return 1;
    *ret = send_error(c, MHD_HTTP_BAD_REQUEST, "query parameter encoding must be json or base64");
    return -1;
}

/* Percent-decodes a URL path or query value in place. A decoded NUL would cut the string
 * short and silently name something else ("Order-1%00x" would read Order-1), so it becomes
 * 0x01 instead, which no name or number accepts. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        int hi, lo;
        if (*r == '%' && (hi = hex_value(r[1])) >= 0 && (lo = hex_value(r[2])) >= 0) {
            char v = (char)(hi * 16 + lo);
            *w++ = v ? v : 1;
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = 0;
    return (size_t)(w - s);
}

/* ---- Endpoints ---------------------------------------------------------------------- */

typedef struct read_ctx {
    out *o;
    int base64;
    size_t count;
    uint64_t last; /* last version or position visited */
} read_ctx;

static int visit_stream(void *ctx, const evs_stored_event *e)
{
    read_ctx *r = ctx;
    if (r->count++)
        out_raw(r->o, ",", 1);
    out_event(r->o, e, r->base64);
    r->last = e->version;
    return 0;
}

static int visit_all(void *ctx, const evs_stored_event *e)
{
    read_ctx *r = ctx;
    if (r->count++)
        out_raw(r->o, ",", 1);
    out_event(r->o, e, r->base64);
    r->last = e->position;
    return 0;
}

static enum MHD_Result get_stream(evs_projector *p, struct MHD_Connection *c, const char *name)
{
    enum MHD_Result ret = MHD_NO;
    size_t len = strlen(name);
    if (!evs_stream_name_valid(name, len))
        return send_error(c, MHD_HTTP_BAD_REQUEST,
                          "invalid stream name: use 1 to %d of letters, digits and _.:@- "
                          "(not starting with $)",
                          EVS_STREAM_NAME_MAX);
    uint64_t from, limit;
    if (query_u64(c, "from", 0, 0, INT64_MAX, &from, &ret) < 0 ||
        query_u64(c, "limit", READ_LIMIT_DEFAULT, 1, EVS_READ_LIMIT_MAX, &limit, &ret) < 0)
        return ret;
    const char *dir = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "direction");
    int backwards = 0;
    if (dir && !strcmp(dir, "backwards"))
        backwards = 1;
    else if (dir && strcmp(dir, "forwards"))
        return send_error(c, MHD_HTTP_BAD_REQUEST, "direction must be forwards or backwards");

    uint64_t current;
    if (evs_store_stream_version(p->store, name, len, &current) < 0)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store read failed");
    if (current == 0)
        return send_error(c, MHD_HTTP_NOT_FOUND, "stream %s not found", name);
    if (from == 0)
        from = backwards ? current : 1;

    int base64 = query_encoding(c, &ret);
    if (base64 < 0)
        return ret;
    out o = {0};
    read_ctx r = {&o, base64, 0, 0};
    out_str(&o, "{\"stream\":");
    out_jstr(&o, name, len);
    out_fmt(&o, ",\"current_version\":%llu,\"events\":[", (unsigned long long)current);
    if (evs_store_read_stream(p->store, name, len, from, limit, backwards, visit_stream, &r) <
        0) {
        free(o.p);
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store read failed");
    }
    uint64_t next;
    int end;
    if (backwards) {
        next = r.count ? r.last - 1 : (from > current ? current : from) - 1;
        end = next == 0;
    } else {
        next = r.count ? r.last + 1 : from;
        end = next > current;
    }
    out_fmt(&o, "],\"next\":%llu,\"end_of_stream\":%s}", (unsigned long long)next,
            end ? "true" : "false");
    return send_json(c, MHD_HTTP_OK, &o);
}

static enum MHD_Result get_all(evs_projector *p, struct MHD_Connection *c)
{
    enum MHD_Result ret = MHD_NO;
    uint64_t partition, from, limit;
    if (query_u64(c, "partition", 0, 0, (uint64_t)p->partition_count - 1, &partition, &ret) < 0 ||
        query_u64(c, "from", 1, 0, INT64_MAX, &from, &ret) < 0 ||
        query_u64(c, "limit", READ_LIMIT_DEFAULT, 1, EVS_READ_LIMIT_MAX, &limit, &ret) < 0)
        return ret;
    if (from == 0)
        from = 1;
    int base64 = query_encoding(c, &ret);
    if (base64 < 0)
        return ret;
    pthread_mutex_lock(&p->lock);
    uint64_t last = p->last_position[partition];
    pthread_mutex_unlock(&p->lock);

    out o = {0};
    read_ctx r = {&o, base64, 0, 0};
    out_fmt(&o, "{\"partition\":%d,\"events\":[", (int)partition);
    if (evs_store_read_all(p->store, (int32_t)partition, from, limit, visit_all, &r) < 0) {
        free(o.p);
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store read failed");
    }
    uint64_t next = r.count ? r.last + 1 : from;
    out_fmt(&o, "],\"next\":%llu,\"end\":%s}", (unsigned long long)next,
            next > last ? "true" : "false");
    return send_json(c, MHD_HTTP_OK, &o);
}

static const char *expected_text(const evs_stored_verdict *v, char *buf, size_t n)
{
    switch (v->expected_kind) {
    case EVS_EXPECT_ANY: return "any";
    case EVS_EXPECT_NO_STREAM: return "no_stream";
    case EVS_EXPECT_STREAM_EXISTS: return "stream_exists";
    case EVS_EXPECT_EXACT: snprintf(buf, n, "%llu", (unsigned long long)v->expected_version); return buf;
    }
    return "?";
}

static enum MHD_Result get_verdict(evs_projector *p, struct MHD_Connection *c, const char *id)
{
    enum MHD_Result ret = MHD_NO;
    uint8_t append_id[16];
    if (evs_uuid_parse(id, strlen(id), append_id) < 0)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid append id: expected a UUID");
    uint64_t timeout_ms, partition, offset;
    int has_offset = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "offset") != NULL;
    if (query_u64(c, "timeout_ms", VERDICT_TIMEOUT_DEFAULT_MS, 0, VERDICT_TIMEOUT_MAX_MS,
                  &timeout_ms, &ret) < 0 ||
        query_u64(c, "partition", 0, 0, (uint64_t)p->partition_count - 1, &partition, &ret) < 0 ||
        query_u64(c, "offset", 0, 0, INT64_MAX, &offset, &ret) < 0)
        return ret;

    int64_t next = 0;
    if (has_offset) {
        if (!evs_projector_wait_applied(p, (int32_t)partition, (int64_t)offset, (int)timeout_ms,
                                        &next))
            return send_error(c, MHD_HTTP_GATEWAY_TIMEOUT,
                              "projector has not applied partition %d offset %llu within %d ms "
                              "(next offset %lld)",
                              (int)partition, (unsigned long long)offset, (int)timeout_ms,
                              (long long)next);
    } else if (timeout_ms > 0) {
        /* Catch up with everything in the topic now: the high watermarks. */
        int64_t *hw = calloc((size_t)p->partition_count, sizeof *hw);
        if (!hw)
            return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        if (evs_projector_high_watermarks(p, hw, (int)timeout_ms) < 0) {
            free(hw);
            return send_error(c, MHD_HTTP_GATEWAY_TIMEOUT, "cannot read the topic's end offsets");
        }
        for (int32_t i = 0; i < p->partition_count; i++) {
            if (hw[i] > 0 && !evs_projector_wait_applied(p, i, hw[i] - 1, (int)timeout_ms, &next)) {
                free(hw);
                return send_error(c, MHD_HTTP_GATEWAY_TIMEOUT,
                                  "projector has not applied partition %d offset %lld within "
                                  "%d ms (next offset %lld)",
                                  i, (long long)hw[i] - 1, (int)timeout_ms, (long long)next);
            }
        }
        free(hw);
    }

    evs_stored_verdict v;
    int found = 0;
    if (evs_store_verdict_get(p->store, append_id, &found, &v) < 0)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store read failed");
    if (!found) {
        char *reason = NULL;
        if (has_offset)
            evs_store_skip_get(p->store, (int32_t)partition, (int64_t)offset, &reason);
        if (reason) {
            ret = send_error(c, MHD_HTTP_UNPROCESSABLE_CONTENT,
                             "record at partition %d offset %llu was skipped: %s",
                             (int)partition, (unsigned long long)offset, reason);
            free(reason);
            return ret;
        }
        return send_error(c, MHD_HTTP_NOT_FOUND, "no append with id %s", id);
    }
    char canonical[37], expbuf[32];
    evs_uuid_format(append_id, canonical);
    out o = {0};
    out_fmt(&o, "{\"append_id\":\"%s\",\"status\":\"%s\",\"stream\":", canonical,
            evs_verdict_status_name(v.verdict.status));
    out_jstr(&o, v.stream, strlen(v.stream));
    out_fmt(&o,
            ",\"partition\":%d,\"offset\":%lld,\"first_version\":%llu,\"last_version\":%llu,"
            "\"first_position\":%llu,\"last_position\":%llu,\"current_version\":%llu,"
            "\"event_count\":%u,\"expected\":\"%s\",\"reason\":",
            v.partition, (long long)v.offset, (unsigned long long)v.verdict.first_version,
            (unsigned long long)v.verdict.last_version,
            (unsigned long long)v.verdict.first_position,
            (unsigned long long)v.verdict.last_position,
            (unsigned long long)v.verdict.current_version, v.event_count,
            expected_text(&v, expbuf, sizeof expbuf));
    out_jstr(&o, v.reason, strlen(v.reason));
    out_str(&o, "}");
    return send_json(c, MHD_HTTP_OK, &o);
}

static enum MHD_Result get_status(evs_projector *p, struct MHD_Connection *c)
{
    int32_t n = p->partition_count;
    int64_t *hw = calloc((size_t)n, sizeof *hw);
    if (!hw)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    int have_hw = evs_projector_high_watermarks(p, hw, 2000) == 0;
    out o = {0};
    out_str(&o, "{\"topic\":");
    out_jstr(&o, p->config.topic, strlen(p->config.topic));
    out_str(&o, ",\"brokers\":");
    out_jstr(&o, p->config.brokers, strlen(p->config.brokers));
    out_str(&o, ",\"group\":");
    out_jstr(&o, p->config.group, strlen(p->config.group));
    pthread_mutex_lock(&p->lock);
    out_fmt(&o, ",\"state\":\"%s\",\"skipped_records\":%llu", p->failure[0] ? "failed" : "running",
            (unsigned long long)p->skipped_records);
    if (p->failure[0]) {
        out_str(&o, ",\"reason\":");
        out_jstr(&o, p->failure, strlen(p->failure));
    }
    out_str(&o, ",\"partitions\":[");
    for (int32_t i = 0; i < n; i++) {
        out_fmt(&o, "%s{\"partition\":%d,\"assigned\":%s,\"next_offset\":%lld,", i ? "," : "", i,
                p->assigned[i] ? "true" : "false", (long long)p->next_offset[i]);
        if (have_hw)
            out_fmt(&o, "\"high_watermark\":%lld,\"lag\":%lld,", (long long)hw[i],
                    (long long)(hw[i] - p->next_offset[i]));
        else
            out_str(&o, "\"high_watermark\":null,\"lag\":null,");
        out_fmt(&o, "\"last_position\":%llu}", (unsigned long long)p->last_position[i]);
    }
    pthread_mutex_unlock(&p->lock);
    out_str(&o, "]}");
    free(hw);
    return send_json(c, MHD_HTTP_OK, &o);
}

static enum MHD_Result get_health(evs_projector *p, struct MHD_Connection *c)
{
    out o = {0};
    pthread_mutex_lock(&p->lock);
    int failed = p->failure[0] != 0;
    if (failed) {
        out_str(&o, "{\"status\":\"refusing\",\"reason\":");
        out_jstr(&o, p->failure, strlen(p->failure));
        out_str(&o, "}");
    } else {
        out_str(&o, "{\"status\":\"ok\"}");
    }
    pthread_mutex_unlock(&p->lock);
    return send_json(c, failed ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK, &o);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    evs_http_server *s = cls;
    evs_projector *p = s->projector;
    /* A request body is not part of any endpoint: consume it, then answer. */
    if (*state == NULL) {
        *state = (void *)1;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (strlen(url) > HTTP_URL_MAX)
        return send_error(c, MHD_HTTP_URI_TOO_LONG, "URL longer than %d bytes", HTTP_URL_MAX);
    int is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    const char *name = NULL;
    enum { HEALTH, STATUS, STREAM, ALL, VERDICT, NONE } route = NONE;
    if (!strcmp(url, "/health"))
        route = HEALTH;
    else if (!strcmp(url, "/status"))
        route = STATUS;
    else if (!strcmp(url, "/all"))
        route = ALL;
    else if (!strncmp(url, "/streams/", 9) && url[9])
        route = STREAM, name = url + 9;
    else if (!strncmp(url, "/verdicts/", 10) && url[10])
        route = VERDICT, name = url + 10;
    if (route == NONE)
        return send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint: %.200s", url);
    if (!is_get)
        return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "%.20s is not allowed here; use GET",
                          method);
    switch (route) {
    case HEALTH: return get_health(p, c);
    case STATUS: return get_status(p, c);
    case ALL: return get_all(p, c);
    case STREAM: return get_stream(p, c, name);
    case VERDICT: return get_verdict(p, c, name);
    case NONE: break;
    }
    return MHD_NO;
}

int evs_http_start(evs_projector *p, const char *address, evs_http_server **out_server,
                   char *err, size_t err_len)
{
    char host[256];
    const char *colon = strrchr(address, ':');
    if (!colon || (size_t)(colon - address) >= sizeof host) {
        snprintf(err, err_len, "invalid --http address %s: expected HOST:PORT", address);
        return -1;
    }
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (*end || port <= 0 || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        snprintf(err, err_len, "invalid --http address %s: expected IPv4:PORT", address);
        return -1;
    }
    evs_http_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    s->projector = p;
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                     MHD_USE_ERROR_LOG,
                                 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, &sa,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS_MAX,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                                 MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                                 MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
                                 MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, err_len, "cannot listen on %s: %s", address, strerror(errno));
        free(s);
        return -1;
    }
    *out_server = s;
    return 0;
}

void evs_http_stop(evs_http_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon);
    free(s);
}
