/*
 * http_util.c - shared pieces of the projector's HTTP endpoints (see http_util.h).
 */
#include "http/http_util.h"

#include "keys/keyring.h"
#include "page_codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "json_text.h"
#include "partitioner.h"

/* ---- A small JSON text builder ------------------------------------------------------ */


static void evs_out_reserve(evs_out *o, size_t n)
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

void evs_out_raw(evs_out *o, const void *s, size_t n)
{
    evs_out_reserve(o, n);
    if (o->oom)
        return;
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = 0;
}

void evs_out_str(evs_out *o, const char *s)
{
    evs_out_raw(o, s, strlen(s));
}

void evs_out_fmt(evs_out *o, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        evs_out_raw(o, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* Appends s as a JSON string; bytes that are not valid UTF-8 are replaced by U+FFFD. */
void evs_out_jstr(evs_out *o, const char *s, size_t n)
{
    evs_out_raw(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            evs_out_raw(o, e, 2);
        } else if (c < 0x20) {
            evs_out_fmt(o, "\\u%04x", c);
        } else if (c < 0x80) {
            evs_out_raw(o, &s[i], 1);
        } else {
            /* RFC 3629: C2..DF, E0..EF, F0..F4 lead bytes; no overlong forms (E0 A0.., F0
             * 90..), no surrogates (ED ..9F), nothing above U+10FFFF (F4 ..8F). */
            size_t len = c >= 0xF5 ? 0 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
            unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
            unsigned char hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
            int ok = len > 0 && i + len <= n && (unsigned char)s[i + 1] >= lo &&
                     (unsigned char)s[i + 1] <= hi;
            for (size_t k = 2; ok && k < len; k++)
                ok = ((unsigned char)s[i + k] & 0xC0) == 0x80;
            if (ok) {
                evs_out_raw(o, &s[i], len);
                i += len - 1;
            } else {
                evs_out_str(o, "\\ufffd");
            }
        }
    }
    evs_out_raw(o, "\"", 1);
}

void evs_out_base64(evs_out *o, const uint8_t *p, size_t n)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    evs_out_reserve(o, (n + 2) / 3 * 4 + 2);
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

int evs_is_json(const uint8_t *p, size_t n)
{
    /* The same test as appends use (json_text.h), so JSON that was appended (integers beyond
     * 64 bits included) reads back as JSON, not base64. */
    return n > 0 && evs_json_text_valid((const char *)p, n, NULL, 0);
}

void evs_out_iso_time(evs_out *o, int64_t us)
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
    evs_out_fmt(o, "\"%s.%06ldZ\"", buf, frac);
}

/* Writes one event object (docs/HTTP-API.md, "Event objects"). */
int evs_content_type_is_json(const char *content_type, size_t len)
{
    char buf[EVS_CONTENT_TYPE_MAX + 1];
    if (len > EVS_CONTENT_TYPE_MAX)
        return 0;
    memcpy(buf, content_type, len);
    buf[len] = 0;
    return evs_json_text_content_type_is_json(buf);
}

void evs_out_event(evs_out *o, const evs_stored_event *e, int base64)
{
    char id[37];
    evs_uuid_format(e->event_id, id);
    evs_out_fmt(o, "{\"event_id\":\"%s\",\"stream\":", id);
    evs_out_jstr(o, e->stream, e->stream_len);
    evs_out_str(o, ",\"type\":");
    evs_out_jstr(o, e->type, e->type_len);
    evs_out_fmt(o, ",\"version\":%llu,\"position\":%llu,\"partition\":%d,\"created\":",
            (unsigned long long)e->version, (unsigned long long)e->position, e->partition);
    evs_out_iso_time(o, e->created_us);
    evs_out_fmt(o, ",\"created_us\":%lld,\"content_type\":", (long long)e->created_us);
    evs_out_jstr(o, e->content_type, e->content_type_len);

    if (e->subject) {
        /* Personal data (keys/keyring.h, K4): what the keyring revealed of it. */
        evs_out_str(o, ",\"subject\":");
        evs_out_jstr(o, e->subject, e->subject_len);
        if (e->reveal == EVS_REVEAL_ERASED)
            evs_out_str(o, ",\"erased\":true");
        else if (e->reveal != EVS_REVEAL_OPENED)
            evs_out_str(o, ",\"sealed\":true");
    }
    int hidden = e->subject && e->reveal != EVS_REVEAL_OPENED;
    int data_json = !base64 && evs_content_type_is_json(e->content_type, e->content_type_len) &&
                    evs_is_json(e->data, e->data_len);
    evs_out_str(o, ",\"data\":");
    if (hidden)
        evs_out_str(o, "null");
    else if (data_json)
        evs_out_raw(o, e->data, e->data_len);
    else
        evs_out_base64(o, e->data, e->data_len);
    if (!base64 && !data_json && !hidden)
        evs_out_str(o, ",\"data_encoding\":\"base64\"");

    evs_out_str(o, ",\"metadata\":");
    if (hidden && e->metadata_nonce) {
        evs_out_str(o, "null");
    } else if (base64) {
        evs_out_base64(o, e->metadata, e->metadata_len);
    } else if (e->metadata_len == 0) {
        evs_out_str(o, "null");
    } else if (evs_is_json(e->metadata, e->metadata_len)) {
        evs_out_raw(o, e->metadata, e->metadata_len);
    } else {
        evs_out_base64(o, e->metadata, e->metadata_len);
        evs_out_str(o, ",\"metadata_encoding\":\"base64\"");
    }
    evs_out_str(o, ",\"correlation_id\":");
    if (e->correlation_id)
        evs_out_jstr(o, e->correlation_id, e->correlation_id_len);
    else
        evs_out_str(o, "null");
    evs_out_str(o, ",\"causation_id\":");
    if (e->causation_id)
        evs_out_jstr(o, e->causation_id, e->causation_id_len);
    else
        evs_out_str(o, "null");
    evs_out_str(o, "}");
}

void evs_out_event_revealed(evs_out *o, const evs_stored_event *e, int base64,
                            struct evs_keyring *kr)
{
    if (!e->subject) { /* nothing to reveal: the common case of every read */
        evs_out_event(o, e, base64);
        return;
    }
    evs_stored_event shown;
    evs_reveal_buf buf;
    memset(&buf, 0, sizeof buf);
    if (evs_keyring_reveal(kr, e, &shown, &buf) < 0)
        o->oom = 1;
    else
        evs_out_event(o, &shown, base64);
    evs_reveal_buf_free(&buf);
}

static int evs_http_hex_value(char ch)
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

/* Queues o (taking its memory) with the given status, and one more header when name is
 * not NULL. */
static enum MHD_Result send_json_with(struct MHD_Connection *c, unsigned status, evs_out *o,
                                      const char *name, const char *value)
{
    if (o->oom) {
        free(o->p);
        o->p = NULL;
        o->len = 0;
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        const char *msg = "{\"error\":\"evs_out of memory\"}";
        o->p = strdup(msg);
        o->len = o->p ? strlen(msg) : 0;
    }
    struct MHD_Response *r =
        o->p ? MHD_create_response_from_buffer(o->len, o->p, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    o->p = NULL;
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (name)
        MHD_add_response_header(r, name, value);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result evs_http_send_json(struct MHD_Connection *c, unsigned status, evs_out *o)
{
    return send_json_with(c, status, o, NULL, NULL);
}

int evs_http_accepts(struct MHD_Connection *c, const char *media_type)
{
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    size_t want = strlen(media_type);
    for (const char *s = accept; s && *s;) {
        /* One media range: "type/subtype *(; param)", ranges separated by ','. */
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        const char *end = s + strcspn(s, ",");
        const char *type_end = s + strcspn(s, ";,");
        const char *t = type_end;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        int match = (size_t)(t - s) == want && !strncasecmp(s, media_type, want);
        /* A quality of 0 ("q=0", "q=0.0"...) means "not this one". */
        for (const char *q = type_end; match && q < end && *q == ';';) {
            q++;
            while (*q == ' ' || *q == '\t')
                q++;
            if ((q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
                const char *v = q + 2;
                int zero = *v == '0';
                for (v++; zero && v < end && *v != ';' && *v != ' '; v++)
                    zero = *v == '0' || *v == '.';
                if (zero)
                    match = 0;
            }
            q += strcspn(q, ";,");
        }
        if (match)
            return 1;
        s = end;
    }
    return 0;
}

enum MHD_Result evs_http_send_bytes(struct MHD_Connection *c, unsigned status,
                                    const char *content_type, void *data, size_t len)
{
    if (!data && len > 0)
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    struct MHD_Response *r =
        data ? MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", content_type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result evs_http_send_error(struct MHD_Connection *c, unsigned status, const char *fmt,
                                  ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    evs_out o = {0};
    evs_out_str(&o, "{\"error\":");
    evs_out_jstr(&o, msg, strlen(msg));
    evs_out_str(&o, "}");
    return evs_http_send_json(c, status, &o);
}

enum MHD_Result evs_http_send_not_allowed(struct MHD_Connection *c, const char *method,
                                          const char *allowed)
{
    /* "GET,PUT" -> "GET, HEAD, PUT" (RFC 9110 10.2.1: the methods the resource supports). */
    evs_out allow = {0};
    for (const char *m = allowed; *m;) {
        size_t len = strcspn(m, ",");
        evs_out_fmt(&allow, "%s%.*s", allow.len ? ", " : "", (int)len, m);
        if (len == 3 && !strncmp(m, "GET", 3))
            evs_out_str(&allow, ", HEAD");
        m += len;
        if (*m)
            m++;
    }
    char msg[256];
    snprintf(msg, sizeof msg, "%.20s is not allowed here; use %s", method,
             allow.p ? allow.p : allowed);
    evs_out o = {0};
    evs_out_str(&o, "{\"error\":");
    evs_out_jstr(&o, msg, strlen(msg));
    evs_out_str(&o, "}");
    if (allow.oom)
        o.oom = 1;
    enum MHD_Result ret = send_json_with(c, MHD_HTTP_METHOD_NOT_ALLOWED, &o, MHD_HTTP_HEADER_ALLOW,
                                         allow.p ? allow.p : allowed);
    free(allow.p);
    return ret;
}

int evs_http_served(evs_projector *p, struct MHD_Connection *c, int32_t partition,
                    enum MHD_Result *ret)
{
    if (p->serves_all || (partition >= 0 && partition < p->partition_count &&
                          p->assigned[partition]))
        return 1;
    evs_out served = {0};
    for (int32_t i = 0, n = 0; i < p->partition_count; i++)
        if (p->assigned[i])
            evs_out_fmt(&served, "%s%d", n++ ? "," : "", i);
    char msg[256];
    snprintf(msg, sizeof msg,
             "partition %d is not served by this projector (it serves %s); ask a projector "
             "that serves it", (int)partition, served.p ? served.p : "none");
    evs_out o = {0};
    evs_out_str(&o, "{\"error\":");
    evs_out_jstr(&o, msg, strlen(msg));
    evs_out_fmt(&o, ",\"error_type\":\"not_served\",\"partition\":%d,\"served\":[%s]}",
                (int)partition, served.p ? served.p : "");
    free(served.p);
    *ret = evs_http_send_json(c, MHD_HTTP_MISDIRECTED_REQUEST, &o);
    return 0;
}

int evs_http_stream_served(evs_projector *p, struct MHD_Connection *c, const char *name,
                           size_t len, enum MHD_Result *ret)
{
    return evs_http_served(p, c, evs_stream_partition(name, len, p->partition_count), ret);
}

/* Parses an optional unsigned query parameter in [min, max]. Returns 0, or -1 after sending
 * a 400 answer. */
int evs_http_query_u64(struct MHD_Connection *c, const char *name, uint64_t def, uint64_t min,
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
        *ret = evs_http_send_error(c, MHD_HTTP_BAD_REQUEST,
                          "query parameter %s must be a whole number from %llu to %llu", name,
                          (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *value = v;
    return 0;
}

/* Parses the optional encoding parameter: 1 for base64, 0 for the default, -1 after sending a
 * 400 answer. */
int evs_http_query_encoding(struct MHD_Connection *c, enum MHD_Result *ret)
{
    const char *s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "encoding");
    if (!s || !strcmp(s, "json"))
        return 0;
    if (!strcmp(s, "base64"))
        return 1;
    *ret = evs_http_send_error(c, MHD_HTTP_BAD_REQUEST, "query parameter encoding must be json or base64");
    return -1;
}

/* Percent-decodes a URL path or query value in place. A decoded NUL would cut the string
 * short and silently name something else ("Order-1%00x" would read Order-1), so it becomes
 * 0x01 instead, which no name or number accepts. */
size_t evs_http_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        int hi, lo;
        if (*r == '%' && (hi = evs_http_hex_value(r[1])) >= 0 && (lo = evs_http_hex_value(r[2])) >= 0) {
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

void evs_page_add_stored(evs_page_encoder *enc, const evs_stored_event *e)
{
    evs_page_event pe = {
        .stream = e->stream,
        .stream_len = e->stream_len,
        .type = e->type,
        .type_len = e->type_len,
        .version = e->version,
        .position = e->position,
        .partition = e->partition,
        .created_us = e->created_us,
        .content_type = e->content_type,
        .content_type_len = e->content_type_len,
        .data = e->data,
        .data_len = e->data_len,
        .metadata = e->metadata,
        .metadata_len = e->metadata_len,
        .correlation_id = e->correlation_id,
        .correlation_id_len = e->correlation_id_len,
        .causation_id = e->causation_id,
        .causation_id_len = e->causation_id_len,
        .subject = e->subject,
        .subject_len = e->subject_len,
        .erased = e->reveal == EVS_REVEAL_ERASED,
        .sealed = e->reveal == EVS_REVEAL_SEALED,
    };
    evs_uuid_format(e->event_id, pe.event_id);
    evs_page_encode_event(enc, &pe);
}
