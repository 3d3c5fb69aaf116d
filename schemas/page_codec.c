/*
 * page_codec.c - the hand-written encoder and decoder of evstore.EventPage (page_codec.h has
 * the byte layout).
 *
 * Avro binary encoding, as the specification defines it for the types used here:
 *  - int and long: zigzag ((n << 1) ^ (n >> 63)), then 7 bits per byte, least significant
 *    group first, the high bit set on every byte but the last: at most 5 bytes for an int,
 *    10 for a long.
 *  - string and bytes: a long length, then that many bytes.
 *  - union: a long branch index, then the value of that branch (null has no bytes).
 *  - boolean: one byte, 0 or 1.
 *  - array: blocks, each a long count followed by that many items; a count of 0 ends the
 *    array. A negative count -n means n items preceded by a long byte size of the block.
 *
 * Invariants of the decoder:
 *  1. No byte is read before checking that it lies before the end (rd_need / the varint
 *     loop), and every length is checked against the bytes left before it is added to a
 *     pointer, so truncation at any byte is an error, never a read past the buffer.
 *  2. Lengths are compared with their limit (evstore_limits.h) as signed 64-bit values
 *     before any conversion to size_t, so a negative or huge length cannot wrap.
 *  3. The decoder allocates nothing; the only thing the input sizes is the visitor's work.
 *  4. A page is accepted only when its last byte is the last byte of the input.
 *
 * Versions: the encoder writes the current schema (EventPage v2, EVS_PAGE_SCHEMA_FILE); the
 * decoder also reads v1 pages (evstore.EventPage.v1.avsc: an older projector's), which have
 * none of v2's trailing fields, and gives them their defaults (no subject, not erased, not
 * sealed, no first_version).
 *
 * The encoder knows first_version at evs_page_encode_begin but writes it last, after end;
 * evs_page_encoder has no member for it, so begin parks its encoding in the buffer where the
 * events' block count goes (stash: the union's 1..11 bytes, then one byte with their
 * number), and evs_page_encode_end takes it back while it moves the events into place.
 */
#include "page_codec.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evstore_limits.h"
#include "schema_canonical.h"
#include "schemas_builtin.h"

/* ---- The fingerprint --------------------------------------------------------------------- */

/* The released EventPage v1, which the decoder still reads. */
#define PAGE_SCHEMA_V1_FILE "evstore.EventPage.v1.avsc"

static pthread_once_t fingerprint_once = PTHREAD_ONCE_INIT;
static uint64_t page_fingerprint;    /* the current schema (v2) */
static uint64_t page_fingerprint_v1; /* v1 */

static void fingerprint_of(const char *file, uint64_t *out)
{
    char err[256] = "";
    for (size_t i = 0; i < evs__builtin_schema_count; i++) {
        const evs_builtin_schema *b = &evs__builtin_schemas[i];
        if (strcmp(b->file_name, file) != 0)
            continue;
        if (evs__schema_canonical(b->json, b->json_len, NULL, out, err, sizeof err) == 0)
            return;
        break;
    }
    /* A build without the schema, or with a broken one: the unit tests catch it. */
    fprintf(stderr, "evstore: built-in schema %s: %s\n", file, err[0] ? err : "missing");
    abort();
}

static void fingerprint_init(void)
{
    fingerprint_of(EVS_PAGE_SCHEMA_FILE, &page_fingerprint);
    fingerprint_of(PAGE_SCHEMA_V1_FILE, &page_fingerprint_v1);
}

uint64_t evs_page_fingerprint(void)
{
    pthread_once(&fingerprint_once, fingerprint_init);
    return page_fingerprint;
}

/* ---- Encoding ------------------------------------------------------------------------------ */

static void put_reserve(evs_page_encoder *enc, size_t n)
{
    evs_buf *b = enc->out;
    if (enc->oom || b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->len + n)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
        enc->oom = 1;
        return;
    }
    b->data = p;
    b->cap = cap;
}

/* Writes v as a zigzag varint at p; returns the number of bytes (1..10). */
static size_t varint_write(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (z >= 0x80) {
        p[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    p[n++] = (uint8_t)z;
    return n;
}

static void put_long(evs_page_encoder *enc, int64_t v)
{
    put_reserve(enc, 10);
    if (!enc->oom)
        enc->out->len += varint_write(enc->out->data + enc->out->len, v);
}

static void put_raw(evs_page_encoder *enc, const void *p, size_t n)
{
    put_reserve(enc, n);
    if (!enc->oom && n > 0) {
        memcpy(enc->out->data + enc->out->len, p, n);
        enc->out->len += n;
    }
}

static void put_bytes(evs_page_encoder *enc, const void *p, size_t n)
{
    put_long(enc, (int64_t)n);
    put_raw(enc, p, n);
}

/* A union {null, string|bytes}: branch 0 for NULL, else branch 1 and the bytes. */
static void put_optional(evs_page_encoder *enc, const void *p, size_t n)
{
    put_long(enc, p ? 1 : 0);
    if (p)
        put_bytes(enc, p, n);
}

void evs_page_encode_begin(evs_page_encoder *enc, evs_buf *out, const evs_page_info *info)
{
    enc->out = out;
    enc->count = 0;
    enc->oom = 0;
    out->len = 0;
    put_reserve(enc, EVS_RECORD_HEADER_LEN);
    if (enc->oom)
        return;
    uint64_t fp = evs_page_fingerprint();
    out->data[0] = EVS_RECORD_MAGIC0;
    out->data[1] = EVS_RECORD_MAGIC1;
    for (int i = 0; i < 8; i++)
        out->data[2 + i] = (uint8_t)(fp >> (8 * i));
    out->len = EVS_RECORD_HEADER_LEN;
    put_optional(enc, info->stream, info->stream_len);
    put_long(enc, info->has_current_version ? 1 : 0);
    if (info->has_current_version)
        put_long(enc, (int64_t)info->current_version);
    put_optional(enc, info->category, info->category_len);
    put_optional(enc, info->type, info->type_len);
    put_long(enc, info->has_partition ? 1 : 0);
    if (info->has_partition)
        put_long(enc, info->partition);
    /* The stash (see the top of the file): first_version's union, then its length. */
    size_t stash_at = out->len;
    put_long(enc, info->has_first_version ? 1 : 0);
    if (info->has_first_version)
        put_long(enc, (int64_t)info->first_version);
    uint8_t stash_len = (uint8_t)(out->len - stash_at);
    put_raw(enc, &stash_len, 1);
    enc->events_at = out->len;
}

void evs_page_encode_event(evs_page_encoder *enc, const evs_page_event *e)
{
    /* Everything but the payloads fits in this much: one reservation per event. */
    put_reserve(enc, 36 + e->stream_len + e->type_len + e->content_type_len +
                         e->correlation_id_len + e->causation_id_len + e->subject_len + 15 * 10);
    put_bytes(enc, e->event_id, 36);
    put_bytes(enc, e->stream, e->stream_len);
    put_bytes(enc, e->type, e->type_len);
    put_long(enc, (int64_t)e->version);
    put_long(enc, (int64_t)e->position);
    put_long(enc, e->partition);
    put_long(enc, e->created_us);
    put_bytes(enc, e->content_type, e->content_type_len);
    put_bytes(enc, e->data, e->data_len);
    put_optional(enc, e->metadata_len ? (const void *)e->metadata : NULL, e->metadata_len);
    put_optional(enc, e->correlation_id, e->correlation_id_len);
    put_optional(enc, e->causation_id, e->causation_id_len);
    put_optional(enc, e->subject, e->subject_len);
    uint8_t flags[2] = {e->erased ? 1 : 0, e->sealed ? 1 : 0}; /* erased, sealed */
    put_raw(enc, flags, 2);
    enc->count++;
}

int evs_page_encode_end(evs_page_encoder *enc, uint64_t next, int end)
{
    uint8_t first_version[11];
    size_t first_len = 0;
    if (!enc->oom) {
        /* Take the stash back, and put the events' block count (one block; none for no
         * events) where it was: the events move by the difference of the two lengths. */
        evs_buf *b = enc->out;
        first_len = b->data[enc->events_at - 1];
        size_t stash_at = enc->events_at - 1 - first_len;
        memcpy(first_version, b->data + stash_at, first_len);
        uint8_t count[10];
        size_t k = enc->count > 0 ? varint_write(count, (int64_t)enc->count) : 0;
        size_t events_len = b->len - enc->events_at;
        if (stash_at + k > enc->events_at)
            put_reserve(enc, stash_at + k - enc->events_at);
        if (!enc->oom) {
            memmove(b->data + stash_at + k, b->data + enc->events_at, events_len);
            memcpy(b->data + stash_at, count, k);
            b->len = stash_at + k + events_len;
            enc->events_at = stash_at;
        }
    }
    put_long(enc, 0); /* the end of the array */
    put_long(enc, (int64_t)next);
    uint8_t flag = end ? 1 : 0;
    put_raw(enc, &flag, 1);
    put_raw(enc, first_version, first_len);
    if (enc->oom) {
        enc->out->len = 0;
        return EVS_RECORD_ENOMEM;
    }
    return 0;
}

/* ---- Decoding ------------------------------------------------------------------------------ */

typedef struct rd {
    const uint8_t *start, *p, *end;
    char *err;
    size_t err_len;
} rd;

static int rd_fail(rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int rd_fail(rd *r, const char *fmt, ...)
{
    if (r->err && r->err_len) {
        int n =
            snprintf(r->err, r->err_len, "malformed page at byte %zu: ", (size_t)(r->p - r->start));
        if (n >= 0 && (size_t)n < r->err_len) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(r->err + n, r->err_len - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return EVS_RECORD_EMALFORMED;
}

/* Reads a zigzag varint of at most max_bytes (10 for a long, 5 for an int). The last
 * possible byte may only carry the bits the type has left: 1 for a long, 4 for an int. */
static int rd_varint(rd *r, int max_bytes, const char *what, int64_t *out)
{
    uint64_t v = 0;
    const uint8_t last_max = max_bytes == 10 ? 0x01 : 0x0F;
    for (int i = 0; i < max_bytes; i++) {
        if (r->p == r->end)
            return rd_fail(r, "truncated in %s", what);
        uint8_t b = *r->p;
        if (i == max_bytes - 1 && b > last_max)
            return rd_fail(r, "%s is a varint longer than %d bytes or out of range", what,
                           max_bytes);
        r->p++;
        v |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            *out = (int64_t)((v >> 1) ^ (0 - (v & 1)));
            return 0;
        }
    }
    return rd_fail(r, "%s is a varint longer than %d bytes", what, max_bytes); /* unreached */
}

static int rd_long(rd *r, const char *what, int64_t *out)
{
    return rd_varint(r, 10, what, out);
}

/* A long that must be 0..max (versions, positions, counts). */
static int rd_count(rd *r, const char *what, int64_t max, uint64_t *out)
{
    int64_t v;
    int rc = rd_long(r, what, &v);
    if (rc)
        return rc;
    if (v < 0 || v > max)
        return rd_fail(r, "%s is %" PRId64 ", outside 0..%" PRId64, what, v, max);
    *out = (uint64_t)v;
    return 0;
}

static int rd_int(rd *r, const char *what, int32_t *out)
{
    int64_t v = 0;
    int rc = rd_varint(r, 5, what, &v);
    if (rc)
        return rc;
    if (v < INT32_MIN || v > INT32_MAX)
        return rd_fail(r, "%s (%" PRId64 ") does not fit an int", what, v);
    *out = (int32_t)v;
    return 0;
}

/* A string or bytes of min..max bytes; *p points into the input (invariants 1 and 2). */
static int rd_bytes(rd *r, const char *what, int64_t min, int64_t max, const void **p, size_t *len)
{
    int64_t n;
    int rc = rd_long(r, what, &n);
    if (rc)
        return rc;
    if (n < 0)
        return rd_fail(r, "%s has a negative length (%" PRId64 ")", what, n);
    if (n < min || n > max)
        return rd_fail(r, "%s is %" PRId64 " bytes, outside %" PRId64 "..%" PRId64, what, n, min,
                       max);
    if ((uint64_t)n > (uint64_t)(r->end - r->p))
        return rd_fail(r, "truncated in %s (%" PRId64 " bytes, %zu left)", what, n,
                       (size_t)(r->end - r->p));
    *p = r->p;
    *len = (size_t)n;
    r->p += n;
    return 0;
}

/* A union branch index of {null, X}: 0 or 1. */
static int rd_branch(rd *r, const char *what, int *is_set)
{
    int64_t b;
    int rc = rd_long(r, what, &b);
    if (rc)
        return rc;
    if (b != 0 && b != 1)
        return rd_fail(r, "%s has union branch %" PRId64 " (the union has 0 and 1)", what, b);
    *is_set = (int)b;
    return 0;
}

/* A union {null, string|bytes}: *p NULL for null. */
static int rd_optional(rd *r, const char *what, int64_t max, const void **p, size_t *len)
{
    int set = 0, rc;
    *p = NULL;
    *len = 0;
    if ((rc = rd_branch(r, what, &set)) != 0 || !set)
        return rc;
    return rd_bytes(r, what, 0, max, p, len);
}

/* A boolean: one byte, 0 or 1. */
static int rd_bool(rd *r, const char *what, int *out)
{
    if (r->p == r->end)
        return rd_fail(r, "truncated in %s", what);
    if (*r->p > 1)
        return rd_fail(r, "%s is the byte 0x%02x, not a boolean", what, *r->p);
    *out = *r->p++;
    return 0;
}

/* One PageEvent; v2 (the current schema) has subject, erased and sealed after
 * causation_id. */
static int rd_event(rd *r, evs_page_event *e, int v2)
{
    int rc;
    const void *p = NULL;
    size_t n = 0;
    int64_t created;
    if ((rc = rd_bytes(r, "event_id", EVS_UUID_TEXT_LEN, EVS_UUID_TEXT_LEN, &p, &n)) != 0)
        return rc;
    uint8_t id[16];
    if (evs_uuid_parse(p, n, id) != 0) {
        r->p -= n; /* name the offset of the text */
        return rd_fail(r, "event_id is not a UUID");
    }
    memcpy(e->event_id, p, n);
    e->event_id[n] = '\0';
    if ((rc = rd_bytes(r, "stream", 1, EVS_STREAM_NAME_MAX, &p, &e->stream_len)) != 0)
        return rc;
    e->stream = p;
    if (!evs_stream_name_valid(e->stream, e->stream_len)) {
        r->p -= e->stream_len;
        return rd_fail(r, "stream is not a valid stream name");
    }
    if ((rc = rd_bytes(r, "type", 1, EVS_EVENT_TYPE_MAX, &p, &e->type_len)) != 0)
        return rc;
    e->type = p;
    if (!evs_event_type_valid(e->type, e->type_len)) {
        r->p -= e->type_len;
        return rd_fail(r, "type is not a valid event type");
    }
    if ((rc = rd_count(r, "version", INT64_MAX, &e->version)) != 0 ||
        (rc = rd_count(r, "position", INT64_MAX, &e->position)) != 0 ||
        (rc = rd_int(r, "partition", &e->partition)) != 0 ||
        (rc = rd_long(r, "created_us", &created)) != 0)
        return rc;
    if (e->partition < 0)
        return rd_fail(r, "partition is negative (%" PRId32 ")", e->partition);
    e->created_us = created;
    if ((rc = rd_bytes(r, "content_type", 1, EVS_CONTENT_TYPE_MAX, &p, &e->content_type_len)) != 0)
        return rc;
    e->content_type = p;
    if ((rc = rd_bytes(r, "data", 0, EVS_EVENT_DATA_MAX, &p, &e->data_len)) != 0)
        return rc;
    e->data = p;
    if ((rc = rd_optional(r, "metadata", EVS_EVENT_METADATA_MAX, &p, &e->metadata_len)) != 0)
        return rc;
    /* Empty metadata is no metadata, in both directions (the encoder writes null for it). */
    e->metadata = e->metadata_len ? p : NULL;
    if ((rc = rd_optional(r, "correlation_id", EVS_CORRELATION_ID_MAX, &p,
                          &e->correlation_id_len)) != 0)
        return rc;
    e->correlation_id = p;
    if ((rc = rd_optional(r, "causation_id", EVS_CORRELATION_ID_MAX, &p, &e->causation_id_len)) !=
        0)
        return rc;
    e->causation_id = p;
    e->subject = NULL;
    e->subject_len = 0;
    e->erased = 0;
    e->sealed = 0;
    if (!v2)
        return 0;
    if ((rc = rd_optional(r, "subject", EVS_STREAM_NAME_MAX, &p, &e->subject_len)) != 0)
        return rc;
    e->subject = p;
    /* A subject has the rule of stream names (evs_subject_valid, sealing.h). */
    if (e->subject && !evs_stream_name_valid(e->subject, e->subject_len)) {
        r->p -= e->subject_len;
        return rd_fail(r, "subject is not a valid subject");
    }
    if ((rc = rd_bool(r, "erased", &e->erased)) != 0)
        return rc;
    return rd_bool(r, "sealed", &e->sealed);
}

static int rd_page(rd *r, evs_page_info *info, evs_page_visitor visit, void *ctx, int v2)
{
    int rc, set = 0;
    const void *p;
    if ((rc = rd_optional(r, "page stream", EVS_STREAM_NAME_MAX, &p, &info->stream_len)) != 0)
        return rc;
    info->stream = p;
    if (info->stream && !evs_stream_name_valid(info->stream, info->stream_len))
        return rd_fail(r, "page stream is not a valid stream name");
    if ((rc = rd_branch(r, "current_version", &set)) != 0)
        return rc;
    info->has_current_version = set;
    if (set && (rc = rd_count(r, "current_version", INT64_MAX, &info->current_version)) != 0)
        return rc;
    if ((rc = rd_optional(r, "page category", EVS_STREAM_NAME_MAX, &p, &info->category_len)) != 0)
        return rc;
    info->category = p;
    if ((rc = rd_optional(r, "page type", EVS_EVENT_TYPE_MAX, &p, &info->type_len)) != 0)
        return rc;
    info->type = p;
    if ((rc = rd_branch(r, "page partition", &set)) != 0)
        return rc;
    info->has_partition = set;
    if (set) {
        if ((rc = rd_int(r, "page partition", &info->partition)) != 0)
            return rc;
        if (info->partition < 0)
            return rd_fail(r, "page partition is negative (%" PRId32 ")", info->partition);
    }

    size_t total = 0;
    for (;;) {
        int64_t count;
        if ((rc = rd_long(r, "events block count", &count)) != 0)
            return rc;
        if (count == 0)
            break;
        if (count < 0) {
            /* -n items, preceded by the block's size in bytes, which must fit. */
            if (count < -(int64_t)EVS_READ_LIMIT_MAX)
                return rd_fail(r, "more than %d events", EVS_READ_LIMIT_MAX);
            count = -count;
            uint64_t size;
            if ((rc = rd_count(r, "events block size", (int64_t)(r->end - r->p), &size)) != 0)
                return rc;
        }
        if (count > (int64_t)(EVS_READ_LIMIT_MAX - total))
            return rd_fail(r, "more than %d events", EVS_READ_LIMIT_MAX);
        for (int64_t i = 0; i < count; i++) {
            evs_page_event e;
            if ((rc = rd_event(r, &e, v2)) != 0)
                return rc;
            if (visit && (rc = visit(ctx, &e)) != 0)
                return rc;
        }
        total += (size_t)count;
    }
    info->event_count = total;
    if ((rc = rd_count(r, "next", INT64_MAX, &info->next)) != 0)
        return rc;
    if ((rc = rd_bool(r, "end", &info->end)) != 0)
        return rc;
    if (v2) {
        if ((rc = rd_branch(r, "first_version", &set)) != 0)
            return rc;
        info->has_first_version = set;
        if (set && (rc = rd_count(r, "first_version", INT64_MAX, &info->first_version)) != 0)
            return rc;
    }
    if (r->p != r->end) /* invariant 4 */
        return rd_fail(r, "%zu bytes follow the page", (size_t)(r->end - r->p));
    return 0;
}

int evs_page_decode(const void *value, size_t len, evs_page_info *info, evs_page_visitor visit,
                    void *ctx, char *err, size_t err_len)
{
    const uint8_t *v = value;
    memset(info, 0, sizeof *info);
    if (err && err_len)
        err[0] = '\0';
    if (len < EVS_RECORD_HEADER_LEN || v[0] != EVS_RECORD_MAGIC0 || v[1] != EVS_RECORD_MAGIC1) {
        if (err && err_len)
            snprintf(err, err_len,
                     len >= 2 && v[0] == EVS_RECORD_MAGIC0 && v[1] == EVS_RECORD_MAGIC1
                         ? "not an evstore page: %zu bytes, shorter than the 10-byte header"
                         : "not an evstore page: %zu bytes without the 0xC3 0x01 marker",
                     len);
        return EVS_RECORD_EMAGIC;
    }
    uint64_t fp = 0;
    for (int i = 0; i < 8; i++)
        fp |= (uint64_t)v[2 + i] << (8 * i);
    uint64_t current = evs_page_fingerprint();
    if (fp != current && fp != page_fingerprint_v1) {
        if (err && err_len)
            snprintf(err, err_len,
                     "page written with an unknown schema (fingerprint 0x%016" PRIx64
                     ", this build reads 0x%016" PRIx64 ", schemas/%s, and 0x%016" PRIx64
                     ", schemas/%s)",
                     fp, current, EVS_PAGE_SCHEMA_FILE, page_fingerprint_v1,
                     PAGE_SCHEMA_V1_FILE);
        return EVS_RECORD_ESCHEMA;
    }
    rd r = {v, v + EVS_RECORD_HEADER_LEN, v + len, err, err_len};
    int rc = rd_page(&r, info, visit, ctx, fp == current);
    if (rc != 0)
        memset(info, 0, sizeof *info);
    return rc;
}
