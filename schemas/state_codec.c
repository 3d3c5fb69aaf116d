/*
 * state_codec.c - evstore.State records (state_codec.h), through avro-c's generic values
 * like the members topic's: saved state is written at the rate clients save it, not at the
 * rate of appends.
 *
 * Both directions go through one flat description of an entry (entry below): encoding
 * parses the store key and value into it and writes the Avro branch; decoding reads the
 * branch into it, checks it, and rebuilds the store key and value from it.
 */
#include "state_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evstore_limits.h"
#include "member_codec.h" /* evs_member_id_valid */
#include "object_codec.h"

static evs_object_schema state_schema = EVS_OBJECT_SCHEMA(EVS_STATE_SCHEMA_FILE);

uint64_t evs_state_fingerprint(void)
{
    return evs__object_schema_get(&state_schema)->fingerprint;
}

#define REASON_MAX 5 /* the last symbol of evstore.ParkReason */
#define NAME_CAP (EVS_STREAM_NAME_MAX + 1)

/* One entry, whatever its kind; which fields mean something depends on the kind. */
typedef struct entry {
    evs_state_kind kind;
    char name[NAME_CAP];   /* checkpoint name, snapshot stream, group, barrier member */
    uint64_t position;     /* checkpoint position, snapshot version, group checkpoint,
                              event position; barrier nonce */
    int64_t time_us;       /* updated_us, created_us, parked_us */
    uint64_t parked_count; /* group progress */
    uint32_t count;        /* schema_version, failed attempts, attempts */
    int acked;             /* group event */
    int reason;            /* parked event */
    char text[NAME_CAP];   /* snapshot content type, event stream */
    const uint8_t *bytes;  /* snapshot data, group definition text (not owned) */
    size_t bytes_len;
} entry;

/* ---- Big-endian fields of the store layout ------------------------------------------- */

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static uint8_t *put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
    return p + n;
}

static int set_name(char *dst, const uint8_t *s, size_t len)
{
    if (len == 0 || len >= NAME_CAP)
        return -1;
    memcpy(dst, s, len);
    dst[len] = 0;
    return 0;
}

/* ---- Store keys ---------------------------------------------------------------------- */

static int starts(const uint8_t *k, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len > n && !memcmp(k, prefix, n);
}

/* Parses a store key into e (kind, name, position). Returns 0 or -1. */
static int key_parse(const void *key, size_t len, entry *e)
{
    const uint8_t *k = key;
    memset(e, 0, sizeof *e);
    if (starts(k, len, "C/")) {
        e->kind = EVS_STATE_CHECKPOINT;
        return set_name(e->name, k + 2, len - 2);
    }
    if (starts(k, len, "GD/")) {
        e->kind = EVS_STATE_GROUP_DEFINITION;
        return set_name(e->name, k + 3, len - 3);
    }
    if (starts(k, len, "B/")) {
        e->kind = EVS_STATE_BARRIER;
        return set_name(e->name, k + 2, len - 2);
    }
    size_t at = starts(k, len, "S/") ? 2 : starts(k, len, "GS/") ? 3 : 0;
    if (!at)
        return -1;
    const uint8_t *zero = memchr(k + at, 0, len - at);
    if (!zero || set_name(e->name, k + at, (size_t)(zero - k) - at) < 0)
        return -1;
    size_t tail = len - (size_t)(zero + 1 - k);
    const uint8_t *t = zero + 1;
    if (at == 2) {
        e->kind = EVS_STATE_SNAPSHOT;
        e->position = tail == 8 ? get_be(t, 8) : 0;
        return tail == 8 ? 0 : -1;
    }
    if (tail == 1 && t[0] == 'c') {
        e->kind = EVS_STATE_GROUP_PROGRESS;
        return 0;
    }
    if (tail != 9 || (t[0] != 'e' && t[0] != 'p'))
        return -1;
    e->kind = t[0] == 'e' ? EVS_STATE_GROUP_EVENT : EVS_STATE_GROUP_PARKED;
    e->position = get_be(t + 1, 8);
    return 0;
}

/* The prefix of each kind's keys, and the byte after the name (0 for none). */
static const char *const key_prefix[] = {"C/", "S/", "GD/", "GS/", "GS/", "GS/", "B/"};
static const char key_tag[] = {0, 0, 0, 'c', 'e', 'p', 0};

/* Writes e's store key into key (EVS_STATE_KEY_MAX bytes). Returns its length. */
static size_t key_build(const entry *e, uint8_t *key)
{
    size_t n = strlen(key_prefix[e->kind]), len = strlen(e->name);
    memcpy(key, key_prefix[e->kind], n);
    memcpy(key + n, e->name, len);
    uint8_t *p = key + n + len;
    if (e->kind == EVS_STATE_SNAPSHOT || key_tag[e->kind])
        *p++ = 0;
    if (key_tag[e->kind])
        *p++ = (uint8_t)key_tag[e->kind];
    if (e->kind == EVS_STATE_SNAPSHOT || e->kind == EVS_STATE_GROUP_EVENT ||
        e->kind == EVS_STATE_GROUP_PARKED)
        p = put_be(p, e->position, 8);
    return (size_t)(p - key);
}

/* ---- Store values -------------------------------------------------------------------- */

/* Parses a store value of e's kind into e. Returns 0 or -1. */
static int value_parse(entry *e, const uint8_t *v, size_t len)
{
    switch (e->kind) {
    case EVS_STATE_CHECKPOINT:
        if (len != 16)
            return -1;
        e->position = get_be(v, 8);
        e->time_us = (int64_t)get_be(v + 8, 8);
        return 0;
    case EVS_STATE_SNAPSHOT: {
        if (len < 16)
            return -1;
        uint64_t ct = get_be(v + 12, 4);
        if (ct > len - 16 || set_name(e->text, v + 16, (size_t)ct) < 0)
            return -1;
        e->count = (uint32_t)get_be(v, 4);
        e->time_us = (int64_t)get_be(v + 4, 8);
        e->bytes = v + 16 + ct;
        e->bytes_len = len - 16 - (size_t)ct;
        return 0;
    }
    case EVS_STATE_GROUP_DEFINITION:
        e->bytes = v;
        e->bytes_len = len;
        return 0;
    case EVS_STATE_GROUP_PROGRESS:
        if (len != 16)
            return -1;
        e->position = get_be(v, 8);
        e->parked_count = get_be(v + 8, 8);
        return 0;
    case EVS_STATE_GROUP_EVENT:
        if (len < 6 || (v[0] != 'a' && v[0] != 'w'))
            return -1;
        e->acked = v[0] == 'a';
        e->count = (uint32_t)get_be(v + 1, 4);
        return set_name(e->text, v + 5, len - 5);
    case EVS_STATE_GROUP_PARKED:
        if (len < 14 || v[12] > REASON_MAX)
            return -1;
        e->count = (uint32_t)get_be(v, 4);
        e->time_us = (int64_t)get_be(v + 4, 8);
        e->reason = v[12];
        return set_name(e->text, v + 13, len - 13);
    case EVS_STATE_BARRIER:
        break;
    }
    return -1;
}

/* Writes e's store value into out. Returns 0 or -1. */
static int value_build(const entry *e, evs_buf *out)
{
    size_t text = strlen(e->text);
    size_t need = 16 + text + e->bytes_len + 16;
    if (need > out->cap) {
        uint8_t *d = realloc(out->data, need);
        if (!d)
            return -1;
        out->data = d;
        out->cap = need;
    }
    uint8_t *p = out->data;
    switch (e->kind) {
    case EVS_STATE_CHECKPOINT:
        p = put_be(p, e->position, 8);
        p = put_be(p, (uint64_t)e->time_us, 8);
        break;
    case EVS_STATE_SNAPSHOT:
        p = put_be(p, e->count, 4);
        p = put_be(p, (uint64_t)e->time_us, 8);
        p = put_be(p, text, 4);
        memcpy(p, e->text, text);
        p += text;
        memcpy(p, e->bytes, e->bytes_len);
        p += e->bytes_len;
        break;
    case EVS_STATE_GROUP_DEFINITION:
        memcpy(p, e->bytes, e->bytes_len);
        p += e->bytes_len;
        break;
    case EVS_STATE_GROUP_PROGRESS:
        p = put_be(p, e->position, 8);
        p = put_be(p, e->parked_count, 8);
        break;
    case EVS_STATE_GROUP_EVENT:
        *p++ = e->acked ? 'a' : 'w';
        p = put_be(p, e->count, 4);
        memcpy(p, e->text, text);
        p += text;
        break;
    case EVS_STATE_GROUP_PARKED:
        p = put_be(p, e->count, 4);
        p = put_be(p, (uint64_t)e->time_us, 8);
        *p++ = (uint8_t)e->reason;
        memcpy(p, e->text, text);
        p += text;
        break;
    case EVS_STATE_BARRIER:
        break;
    }
    out->len = (size_t)(p - out->data);
    return 0;
}

/* The rules of every entry, whichever way it came. Returns 0 or -1 with the reason. */
static int entry_check(const entry *e, char *err, size_t err_len)
{
    const char *what = NULL;
    size_t name_len = strlen(e->name);
    if (e->kind == EVS_STATE_BARRIER ? !evs_member_id_valid(e->name, name_len)
                                     : !evs_stream_name_valid(e->name, name_len))
        what = "an invalid name";
    else if (e->position > INT64_MAX || e->parked_count > INT64_MAX || e->count > INT32_MAX)
        what = "a number out of range";
    else if (e->kind == EVS_STATE_SNAPSHOT &&
             (e->position == 0 || e->bytes_len > EVS_SNAPSHOT_DATA_MAX ||
              strlen(e->text) > EVS_CONTENT_TYPE_MAX || !e->text[0]))
        what = "a snapshot out of its limits";
    else if ((e->kind == EVS_STATE_GROUP_PROGRESS || e->kind == EVS_STATE_GROUP_EVENT ||
              e->kind == EVS_STATE_GROUP_PARKED) &&
             e->position == 0)
        what = "position 0";
    else if ((e->kind == EVS_STATE_GROUP_EVENT || e->kind == EVS_STATE_GROUP_PARKED) &&
             !evs_stream_name_valid(e->text, strlen(e->text)))
        what = "an invalid stream name";
    else if (e->kind == EVS_STATE_GROUP_DEFINITION &&
             (e->bytes_len == 0 || e->bytes_len > 65536 || memchr(e->bytes, 0, e->bytes_len)))
        what = "a group definition that is not text of at most 64 KiB";
    if (what)
        snprintf(err, err_len, "state record with %s", what);
    return what ? -1 : 0;
}

/* ---- Avro ---------------------------------------------------------------------------- */

static int set_str(avro_value_t *r, int i, const char *s)
{
    avro_value_t f;
    return avro_value_get_by_index(r, i, &f, NULL) || avro_value_set_string(&f, s);
}

static int set_long(avro_value_t *r, int i, int64_t v)
{
    avro_value_t f;
    return avro_value_get_by_index(r, i, &f, NULL) || avro_value_set_long(&f, v);
}

static int set_int(avro_value_t *r, int i, int32_t v)
{
    avro_value_t f;
    return avro_value_get_by_index(r, i, &f, NULL) || avro_value_set_int(&f, v);
}

static int to_avro(const entry *e, avro_value_t *v)
{
    avro_value_t u, b, f;
    if (avro_value_get_by_index(v, 0, &u, NULL) || avro_value_set_branch(&u, (int)e->kind, &b) ||
        set_str(&b, 0, e->name))
        return -1;
    int64_t pos = (int64_t)e->position;
    switch (e->kind) {
    case EVS_STATE_CHECKPOINT:
        return set_long(&b, 1, pos) || set_long(&b, 2, e->time_us);
    case EVS_STATE_SNAPSHOT:
        return set_long(&b, 1, pos) || set_int(&b, 2, (int32_t)e->count) ||
               set_long(&b, 3, e->time_us) || set_str(&b, 4, e->text) ||
               avro_value_get_by_index(&b, 5, &f, NULL) ||
               avro_value_set_bytes(&f, (void *)e->bytes, e->bytes_len);
    case EVS_STATE_GROUP_DEFINITION: {
        char *text = malloc(e->bytes_len + 1);
        if (!text)
            return -1;
        memcpy(text, e->bytes, e->bytes_len);
        text[e->bytes_len] = 0;
        int rc = set_str(&b, 1, text);
        free(text);
        return rc;
    }
    case EVS_STATE_GROUP_PROGRESS:
        return set_long(&b, 1, pos) || set_long(&b, 2, (int64_t)e->parked_count);
    case EVS_STATE_GROUP_EVENT:
        return set_long(&b, 1, pos) || avro_value_get_by_index(&b, 2, &f, NULL) ||
               avro_value_set_boolean(&f, e->acked) || set_int(&b, 3, (int32_t)e->count) ||
               set_str(&b, 4, e->text);
    case EVS_STATE_GROUP_PARKED:
        return set_long(&b, 1, pos) || set_int(&b, 2, (int32_t)e->count) ||
               set_long(&b, 3, e->time_us) || avro_value_get_by_index(&b, 4, &f, NULL) ||
               avro_value_set_enum(&f, e->reason) || set_str(&b, 5, e->text);
    case EVS_STATE_BARRIER:
        return set_long(&b, 1, pos);
    }
    return -1;
}

static int get_long(avro_value_t *r, int i, int64_t *out)
{
    avro_value_t f;
    return avro_value_get_by_index(r, i, &f, NULL) || avro_value_get_long(&f, out);
}

/* Reads a non-negative number into an unsigned field. */
static int get_count(avro_value_t *r, int i, int is_long, uint64_t *out)
{
    avro_value_t f;
    int64_t l = -1;
    int32_t n = -1;
    if (avro_value_get_by_index(r, i, &f, NULL) ||
        (is_long ? avro_value_get_long(&f, &l) : avro_value_get_int(&f, &n)))
        return -1;
    if (!is_long)
        l = n;
    *out = (uint64_t)l;
    return l < 0 ? -1 : 0;
}

/* Reads the branch into e; the strings and bytes stay in v. Returns 0 or -1. */
static int from_avro(avro_value_t *v, entry *e)
{
    avro_value_t u, b, f;
    int disc;
    uint64_t count = 0;
    memset(e, 0, sizeof *e);
    if (avro_value_get_by_index(v, 0, &u, NULL) || avro_value_get_discriminant(&u, &disc) ||
        avro_value_get_current_branch(&u, &b) || disc < 0 || disc > EVS_STATE_BARRIER ||
        evs__object_get_text(&b, 0, e->name, sizeof e->name))
        return -1;
    e->kind = (evs_state_kind)disc;
    const void *bytes = NULL; /* set only when every get succeeds; read either way */
    size_t size = 0;
    int ok;
    switch (e->kind) {
    case EVS_STATE_CHECKPOINT:
        return get_count(&b, 1, 1, &e->position) || get_long(&b, 2, &e->time_us);
    case EVS_STATE_SNAPSHOT:
        ok = !get_count(&b, 1, 1, &e->position) && !get_count(&b, 2, 0, &count) &&
             !get_long(&b, 3, &e->time_us) &&
             !evs__object_get_text(&b, 4, e->text, EVS_CONTENT_TYPE_MAX + 1) &&
             !avro_value_get_by_index(&b, 5, &f, NULL) &&
             !avro_value_get_bytes(&f, &bytes, &size);
        e->count = (uint32_t)count;
        e->bytes = bytes;
        e->bytes_len = size;
        return ok ? 0 : -1;
    case EVS_STATE_GROUP_DEFINITION:
        if (avro_value_get_by_index(&b, 1, &f, NULL) ||
            avro_value_get_string(&f, (const char **)&bytes, &size) || size == 0)
            return -1;
        e->bytes = bytes;
        e->bytes_len = size - 1; /* avro-c counts the NUL it adds */
        return 0;
    case EVS_STATE_GROUP_PROGRESS:
        return get_count(&b, 1, 1, &e->position) || get_count(&b, 2, 1, &e->parked_count);
    case EVS_STATE_GROUP_EVENT:
        ok = !get_count(&b, 1, 1, &e->position) && !avro_value_get_by_index(&b, 2, &f, NULL) &&
             !avro_value_get_boolean(&f, &e->acked) && !get_count(&b, 3, 0, &count) &&
             !evs__object_get_text(&b, 4, e->text, sizeof e->text);
        e->count = (uint32_t)count;
        return ok ? 0 : -1;
    case EVS_STATE_GROUP_PARKED:
        ok = !get_count(&b, 1, 1, &e->position) && !get_count(&b, 2, 0, &count) &&
             !get_long(&b, 3, &e->time_us) && !avro_value_get_by_index(&b, 4, &f, NULL) &&
             !avro_value_get_enum(&f, &e->reason) &&
             !evs__object_get_text(&b, 5, e->text, sizeof e->text);
        e->count = (uint32_t)count;
        return ok ? 0 : -1;
    case EVS_STATE_BARRIER:
        return get_count(&b, 1, 1, &e->position);
    }
    return -1;
}

/* ---- The interface ------------------------------------------------------------------- */

int evs_state_key_kind(const void *key, size_t key_len, const char **name, size_t *name_len)
{
    entry e;
    if (key_parse(key, key_len, &e) < 0)
        return -1;
    *name = (const char *)key + strlen(key_prefix[e.kind]); /* in place in the key */
    *name_len = strlen(e.name);
    return (int)e.kind;
}

int evs_state_encode(const void *key, size_t key_len, const void *value, size_t value_len,
                     evs_buf *out)
{
    evs_object_schema *s = evs__object_schema_get(&state_schema);
    entry e;
    char err[128];
    if (key_parse(key, key_len, &e) < 0 || e.kind == EVS_STATE_BARRIER ||
        value_parse(&e, value, value_len) < 0 || entry_check(&e, err, sizeof err) < 0)
        return -1;
    avro_value_t v;
    if (avro_generic_value_new(s->iface, &v) != 0)
        return -1;
    int rc = to_avro(&e, &v) ? -1 : evs__object_write(s, &v, out);
    avro_value_decref(&v);
    return rc;
}

int evs_state_barrier_encode(const char *member, int64_t nonce, char *key_out, evs_buf *out)
{
    evs_object_schema *s = evs__object_schema_get(&state_schema);
    entry e = {.kind = EVS_STATE_BARRIER, .position = (uint64_t)nonce};
    char err[128];
    if (nonce < 0 || strlen(member) >= sizeof e.name)
        return -1;
    snprintf(e.name, sizeof e.name, "%s", member);
    if (entry_check(&e, err, sizeof err) < 0)
        return -1;
    avro_value_t v;
    if (avro_generic_value_new(s->iface, &v) != 0)
        return -1;
    int rc = to_avro(&e, &v) ? -1 : evs__object_write(s, &v, out);
    avro_value_decref(&v);
    return rc < 0 ? -1 : (int)key_build(&e, (uint8_t *)key_out);
}

int evs_state_decode(const void *key, size_t key_len, const void *record, size_t record_len,
                     evs_state_kind *kind, evs_buf *value_out, char *err, size_t err_len)
{
    evs_object_schema *s = evs__object_schema_get(&state_schema);
    avro_value_t v;
    if (evs__object_read(s, record, record_len, &v, err, err_len) < 0)
        return -1;
    entry e;
    uint8_t built[EVS_STATE_KEY_MAX];
    int rc = -1;
    if (from_avro(&v, &e) < 0) {
        snprintf(err, err_len, "state record with a negative number or a string too long");
    } else if (entry_check(&e, err, err_len) == 0) {
        size_t n = key_build(&e, built);
        if (n != key_len || memcmp(built, key, n))
            snprintf(err, err_len, "state record whose Kafka key is not its entry's key");
        else if (value_build(&e, value_out) < 0)
            snprintf(err, err_len, "out of memory");
        else
            rc = 0;
        *kind = e.kind;
    }
    avro_value_decref(&v);
    return rc;
}
