/*
 * record_validate.c - the rules every append request must satisfy (evstore_limits.h), the
 * name checks shared by the CLI, the C API and the projector, UUID text conversion, and the
 * exact encoded size of a request.
 *
 * The projector applies evs_record_validate() when it judges a record, so these rules are
 * part of the format: a verdict must not depend on anything but the record (docs: "The
 * rule"). They therefore use only the compile-time limits and never the locale (character
 * classes are spelled out, not <ctype.h>).
 *
 * Messages name the first problem found, number events from 1 ("event 3: ..."), and quote
 * offending text with non-printable bytes escaped as \xNN and long text cut at
 * QUOTE_MAX bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <uuid/uuid.h>

#include "record_codec.h"
#include "sealing.h" /* EVS_SUBJECT_MAX, EVS_SEAL_NONCE_BYTES, EVS_SEAL_TAG_BYTES */

#define QUOTE_MAX 40

static int is_alnum(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_printable(unsigned char c)
{
    return c >= 0x20 && c <= 0x7e;
}

static int stream_char_ok(unsigned char c)
{
    return is_alnum(c) || c == '_' || c == '.' || c == ':' || c == '@' || c == '-';
}

static int type_char_ok(unsigned char c)
{
    return stream_char_ok(c) || c == '/';
}

int evs_stream_name_valid(const char *name, size_t len)
{
    if (name == NULL || len == 0 || len > EVS_STREAM_NAME_MAX || name[0] == '$')
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!stream_char_ok((unsigned char)name[i]))
            return 0;
    return 1;
}

int evs_event_type_valid(const char *type, size_t len)
{
    if (type == NULL || len == 0 || len > EVS_EVENT_TYPE_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!type_char_ok((unsigned char)type[i]))
            return 0;
    return 1;
}

/* ---- UUIDs --------------------------------------------------------------------------- */

/* The value + 1 of each byte as a hex digit (either case), 0 if it is none. A table: the
 * projector parses an event id per event (and an append id per record) on its main thread. */
static const int8_t hex_values[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* Text positions of the 16 bytes of 8-4-4-4-12. */
static const uint8_t uuid_byte_at[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};

int evs_uuid_parse(const char *text, size_t len, uint8_t out[16])
{
    uint8_t id[16];
    if (text == NULL || len != EVS_UUID_TEXT_LEN)
        return -1;
    if (text[8] != '-' || text[13] != '-' || text[18] != '-' || text[23] != '-')
        return -1;
    for (size_t n = 0; n < 16; n++) {
        const unsigned char *t = (const unsigned char *)text + uuid_byte_at[n];
        int hi = hex_values[t[0]] - 1, lo = hex_values[t[1]] - 1;
        if (hi < 0 || lo < 0)
            return -1;
        id[n] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(out, id, sizeof id);
    return 0;
}

void evs_uuid_format(const uint8_t id[16], char out[37])
{
    static const char digits[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = digits[id[i] >> 4];
        out[o++] = digits[id[i] & 0x0f];
    }
    out[o] = '\0';
}

void evs_uuid_generate_n(uint8_t (*out)[16], size_t n)
{
    /* One getrandom() for all of them: libuuid's uuid_generate_random reseeds a PRNG and
     * makes several system calls per UUID, which was 40 % of a client's CPU time on an
     * append of 100 events. Nothing is kept between calls, so a forked process never
     * repeats its parent's ids. */
    uint8_t *bytes = (uint8_t *)out;
    size_t want = n * 16, got = 0;
    while (got < want) {
        ssize_t r = getrandom(bytes + got, want - got, 0);
        if (r > 0) {
            got += (size_t)r;
        } else if (r < 0 && errno != EINTR) {
            for (size_t i = got / 16; i < n; i++) /* no getrandom: libuuid's own sources */
                uuid_generate_random(out[i]);
            return;
        }
    }
    for (size_t i = 0; i < n; i++) {
        out[i][6] = (uint8_t)((out[i][6] & 0x0f) | 0x40); /* version 4 */
        out[i][8] = (uint8_t)((out[i][8] & 0x3f) | 0x80); /* variant 10 (RFC 9562) */
    }
}

void evs_uuid_generate(uint8_t out[16])
{
    evs_uuid_generate_n((uint8_t(*)[16])out, 1);
}

/* ---- Encoded size -------------------------------------------------------------------- */

/* Bytes of the zig-zag varint of v (Avro int and long). */
static size_t varint_size(int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;
    while (u >= 0x80) {
        u >>= 7;
        n++;
    }
    return n;
}

/* An Avro string or bytes value: length then content. */
static size_t blob_size(size_t len)
{
    return varint_size((int64_t)len) + len;
}

/* A ["null","string"] union: branch index, then the string if present. */
static size_t optional_size(const char *s, size_t len)
{
    return 1 + (s != NULL ? blob_size(len) : 0);
}

size_t evs_record_encoded_size(const evs_append_request *req)
{
    /* Mirrors schemas/evstore.AppendRequest.avsc field by field; the unit tests compare it
     * with the length evs_record_encode() produces. */
    size_t size = EVS_RECORD_HEADER_LEN;
    size += blob_size(EVS_UUID_TEXT_LEN);                /* append_id */
    size += blob_size(req->stream_len);                  /* stream */
    size += varint_size((int64_t)req->expected_kind);    /* expected_kind */
    size += varint_size((int64_t)req->expected_version); /* expected_version */
    if (req->event_count > 0)                            /* events: one block */
        size += varint_size((int64_t)req->event_count);
    for (size_t i = 0; i < req->event_count; i++) {
        const evs_record_event *e = &req->events[i];
        size += blob_size(EVS_UUID_TEXT_LEN);   /* event_id */
        size += blob_size(e->type_len);         /* type */
        size += blob_size(e->content_type_len); /* content_type */
        size += blob_size(e->data_len);         /* data */
        size += blob_size(e->metadata_len);     /* metadata */
        size += optional_size(e->correlation_id, e->correlation_id_len);
        size += optional_size(e->causation_id, e->causation_id_len);
        size += varint_size(e->created_us); /* created */
        int sealed = e->subject != NULL;
        int has_key_id = sealed != (e->key_id_mismatch != 0); /* as evs_record_encode */
        int has_nonce = sealed != (e->data_nonce_mismatch != 0);
        size += optional_size(e->subject, e->subject_len);                 /* subject */
        size += has_key_id ? 1 + blob_size(EVS_UUID_TEXT_LEN) : 1;        /* key_id */
        size += blob_size(has_nonce ? EVS_SEAL_NONCE_BYTES : 0);           /* data_nonce */
        size += blob_size(e->metadata_sealed ? EVS_SEAL_NONCE_BYTES : 0); /* metadata_nonce */
    }
    size += 1; /* the array's closing 0 count */
    size += varint_size((int64_t)req->operation);       /* operation */
    size += varint_size((int64_t)req->truncate_before); /* truncate_before */
    size += varint_size((int64_t)req->max_count);       /* max_count */
    size += varint_size((int64_t)req->max_age_ms);      /* max_age_ms */
    return size;
}

/* ---- Validation ---------------------------------------------------------------------- */

typedef struct msg {
    char *buf;
    size_t cap;
    size_t len;
} msg;

static void msg_add(msg *m, const char *fmt, ...)
{
    if (m->buf == NULL || m->cap == 0 || m->len + 1 >= m->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(m->buf + m->len, m->cap - m->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        m->len = (size_t)n >= m->cap - m->len ? m->cap - 1 : m->len + (size_t)n;
}

/* Appends "text" quoted, escaping non-printable bytes, cut after QUOTE_MAX bytes. */
static void msg_quote(msg *m, const char *s, size_t len)
{
    msg_add(m, "\"");
    for (size_t i = 0; i < len && i < QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            msg_add(m, "\\%c", c);
        else if (is_printable(c))
            msg_add(m, "%c", c);
        else
            msg_add(m, "\\x%02x", c);
    }
    msg_add(m, len > QUOTE_MAX ? "\"..." : "\"");
}

static void msg_char(msg *m, unsigned char c)
{
    if (is_printable(c) && c != '\'' && c != '\\')
        msg_add(m, "'%c'", c);
    else
        msg_add(m, "'\\x%02x'", c);
}

/* Checks a name (stream or event type) and describes the problem. what is "stream name" or
 * "type"; allowed describes the character set. Returns 0 or -1. */
static int check_name(msg *m, const char *what, const char *s, size_t len, size_t max,
                      int (*char_ok)(unsigned char), const char *allowed)
{
    if (len == 0) {
        msg_add(m, "%s is empty", what);
        return -1;
    }
    if (s == NULL) {
        msg_add(m, "%s is NULL", what);
        return -1;
    }
    if (len > max) {
        msg_add(m, "%s is %zu bytes, more than the limit of %zu", what, len, max);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '$' && i == 0 && char_ok == stream_char_ok) {
            msg_add(m, "%s ", what);
            msg_quote(m, s, len);
            msg_add(m, " starts with '$', which is reserved for system streams");
            return -1;
        }
        if (!char_ok(c)) {
            msg_add(m, "%s ", what);
            msg_quote(m, s, len);
            msg_add(m, " contains ");
            msg_char(m, c);
            msg_add(m, " (allowed: %s)", allowed);
            return -1;
        }
    }
    return 0;
}

/* Printable ASCII text of min..max bytes. */
static int check_text(msg *m, const char *what, const char *s, size_t len, size_t min, size_t max)
{
    if (len < min) {
        msg_add(m, "%s is empty", what);
        return -1;
    }
    if (len > 0 && s == NULL) {
        msg_add(m, "%s is NULL but its length is %zu", what, len);
        return -1;
    }
    if (len > max) {
        msg_add(m, "%s is %zu bytes, more than the limit of %zu", what, len, max);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (!is_printable((unsigned char)s[i])) {
            msg_add(m, "%s ", what);
            msg_quote(m, s, len);
            msg_add(m, " contains ");
            msg_char(m, (unsigned char)s[i]);
            msg_add(m, " (allowed: printable ASCII)");
            return -1;
        }
    }
    return 0;
}

static int check_blob(msg *m, const char *what, const void *p, size_t len, size_t max)
{
    if (len > 0 && p == NULL) {
        msg_add(m, "%s is NULL but its length is %zu", what, len);
        return -1;
    }
    if (len > max) {
        msg_add(m, "%s is %zu bytes, more than the limit of %zu", what, len, max);
        return -1;
    }
    return 0;
}

/* Finds two events with the same id. Event ids are random UUIDs, so their first 8 bytes
 * make a good hash; an open-addressing table of event indexes needs no allocation. */
static int find_duplicate_id(const evs_append_request *req, size_t *first, size_t *second)
{
    enum { SLOTS = 2048 }; /* a power of two > 2 * EVS_APPEND_EVENTS_MAX */
    uint16_t slots[SLOTS]; /* event index + 1; 0 = empty */
    _Static_assert(SLOTS >= 2 * EVS_APPEND_EVENTS_MAX, "hash table too small");
    memset(slots, 0, sizeof slots);
    for (size_t i = 0; i < req->event_count; i++) {
        uint64_t h;
        memcpy(&h, req->events[i].event_id, sizeof h);
        h *= UINT64_C(0x9e3779b97f4a7c15);
        for (size_t s = (size_t)(h >> 53) & (SLOTS - 1);; s = (s + 1) & (SLOTS - 1)) {
            if (slots[s] == 0) {
                slots[s] = (uint16_t)(i + 1);
                break;
            }
            size_t j = slots[s] - 1u;
            if (memcmp(req->events[j].event_id, req->events[i].event_id, 16) == 0) {
                *first = j;
                *second = i;
                return 1;
            }
        }
    }
    return 0;
}

const char *evs_operation_name(evs_operation op)
{
    switch (op) {
    case EVS_OP_APPEND: return "append";
    case EVS_OP_DELETE: return "delete";
    case EVS_OP_HARD_DELETE: return "hard_delete";
    case EVS_OP_TRUNCATE: return "truncate";
    case EVS_OP_SET_LIMITS: return "set_limits";
    }
    return "unknown";
}

/* A lifecycle command has no events and sets only the fields of its operation; an append
 * sets none of them. */
static int check_operation(msg *m, const evs_append_request *req)
{
    if ((unsigned)req->operation >= EVS_OP_COUNT) {
        msg_add(m, "operation %d is not one of append, delete, hard_delete, truncate, "
                   "set_limits",
                (int)req->operation);
        return -1;
    }
    const char *name = evs_operation_name(req->operation);
    if (req->operation != EVS_OP_APPEND && req->event_count != 0) {
        msg_add(m, "a %s carries no events, this one has %zu", name, req->event_count);
        return -1;
    }
    if (req->operation != EVS_OP_TRUNCATE && req->truncate_before != 0) {
        msg_add(m, "truncate_before is set on a %s (only a truncate has it)", name);
        return -1;
    }
    if (req->operation != EVS_OP_SET_LIMITS && (req->max_count != 0 || req->max_age_ms != 0)) {
        msg_add(m, "max_count or max_age_ms is set on a %s (only set_limits has them)", name);
        return -1;
    }
    const uint64_t top = (uint64_t)INT64_MAX;
    if (req->operation == EVS_OP_TRUNCATE && (req->truncate_before < 1 ||
                                              req->truncate_before > top)) {
        msg_add(m, "truncate_before %" PRIu64 " is not a version (1 to %" PRId64 ")",
                req->truncate_before, INT64_MAX);
        return -1;
    }
    if (req->max_count > top || req->max_age_ms > top) {
        msg_add(m, "max_count or max_age_ms is more than %" PRId64, INT64_MAX);
        return -1;
    }
    return 0;
}

/* The sealing fields of one event (record_codec.h, sealing.h): a valid subject; key_id
 * and data_nonce exactly with it (only a decoded record can break that); sealed metadata
 * only with a subject; and each sealed payload at least the AEAD tag long. */
static int check_sealing(msg *m, const evs_record_event *e)
{
    if (e->subject != NULL &&
        check_name(m, "subject", e->subject, e->subject_len, EVS_SUBJECT_MAX, stream_char_ok,
                   "letters, digits and _.:@-") != 0)
        return -1;
    if (e->key_id_mismatch) {
        msg_add(m, e->subject ? "the record has a subject but no key_id"
                              : "the record has a key_id but no subject");
        return -1;
    }
    if (e->data_nonce_mismatch) {
        msg_add(m, e->subject ? "the record has a subject but no data_nonce"
                              : "the record has a data_nonce but no subject");
        return -1;
    }
    if (e->metadata_sealed && e->subject == NULL) {
        msg_add(m, "metadata is sealed but the event has no subject");
        return -1;
    }
    if (e->subject != NULL && e->data_len < EVS_SEAL_TAG_BYTES) {
        msg_add(m, "sealed data is %zu bytes, shorter than the %d-byte tag", e->data_len,
                EVS_SEAL_TAG_BYTES);
        return -1;
    }
    if (e->metadata_sealed && e->metadata_len < EVS_SEAL_TAG_BYTES) {
        msg_add(m, "sealed metadata is %zu bytes, shorter than the %d-byte tag", e->metadata_len,
                EVS_SEAL_TAG_BYTES);
        return -1;
    }
    return 0;
}

int evs_record_validate(const evs_append_request *req, char *err, size_t err_len)
{
    msg m = {.buf = err, .cap = err_len};
    char what[64];
    if (err != NULL && err_len > 0)
        err[0] = '\0';
    if (req == NULL) {
        msg_add(&m, "request is NULL");
        return -1;
    }
    if (check_name(&m, "stream name", req->stream, req->stream_len, EVS_STREAM_NAME_MAX,
                   stream_char_ok, "letters, digits and _.:@-") != 0)
        return -1;
    if ((unsigned)req->expected_kind > EVS_EXPECT_EXACT) {
        msg_add(&m, "expected kind %d is not one of any, no_stream, stream_exists, exact",
                (int)req->expected_kind);
        return -1;
    }
    if (req->expected_version > (uint64_t)INT64_MAX) {
        msg_add(&m, "expected version %" PRIu64 " is more than the largest version (%" PRId64 ")",
                req->expected_version, INT64_MAX);
        return -1;
    }
    if (req->expected_kind != EVS_EXPECT_EXACT && req->expected_version != 0) {
        msg_add(&m,
                "expected version %" PRIu64
                " given without expected kind exact (it must be 0 for any, no_stream and "
                "stream_exists)",
                req->expected_version);
        return -1;
    }
    if (check_operation(&m, req) != 0)
        return -1;
    if (req->operation != EVS_OP_APPEND)
        return 0; /* no events: nothing below applies */
    if (req->event_count == 0) {
        msg_add(&m, "no events (an append has 1 to %d)", EVS_APPEND_EVENTS_MAX);
        return -1;
    }
    if (req->event_count > EVS_APPEND_EVENTS_MAX) {
        msg_add(&m, "%zu events, more than the limit of %d per append", req->event_count,
                EVS_APPEND_EVENTS_MAX);
        return -1;
    }
    if (req->events == NULL) {
        msg_add(&m, "events is NULL");
        return -1;
    }
    for (size_t i = 0; i < req->event_count; i++) {
        const evs_record_event *e = &req->events[i];
        msg_add(&m, "event %zu: ", i + 1);
        if (check_name(&m, "type", e->type, e->type_len, EVS_EVENT_TYPE_MAX, type_char_ok,
                       "letters, digits and _.:@/-") != 0 ||
            check_text(&m, "content type", e->content_type, e->content_type_len, 1,
                       EVS_CONTENT_TYPE_MAX) != 0 ||
            check_blob(&m, "data", e->data, e->data_len, EVS_EVENT_DATA_MAX) != 0 ||
            check_blob(&m, "metadata", e->metadata, e->metadata_len, EVS_EVENT_METADATA_MAX) != 0)
            return -1;
        if (e->correlation_id != NULL &&
            check_text(&m, "correlation id", e->correlation_id, e->correlation_id_len, 0,
                       EVS_CORRELATION_ID_MAX) != 0)
            return -1;
        if (e->causation_id != NULL &&
            check_text(&m, "causation id", e->causation_id, e->causation_id_len, 0,
                       EVS_CORRELATION_ID_MAX) != 0)
            return -1;
        if (check_sealing(&m, e) != 0)
            return -1;
        m.len = 0; /* this event is fine: drop its prefix */
        if (m.buf != NULL && m.cap > 0)
            m.buf[0] = '\0';
    }
    size_t first, second;
    if (find_duplicate_id(req, &first, &second)) {
        evs_uuid_format(req->events[second].event_id, what);
        msg_add(&m, "event %zu: event id %s is also the id of event %zu (ids must be distinct)",
                second + 1, what, first + 1);
        return -1;
    }
    size_t size = evs_record_encoded_size(req);
    if (size > EVS_APPEND_BYTES_MAX) {
        msg_add(&m,
                "the encoded append would be %zu bytes, more than the limit of %d; split it "
                "into smaller appends",
                size, EVS_APPEND_BYTES_MAX);
        return -1;
    }
    return 0;
}
