/*
 * accepted_codec.c - evstore.AcceptedEvent records (accepted_codec.h), through avro-c's
 * generic values and the shared single-object framing (object_codec.h).
 */
#include "accepted_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "object_codec.h"

/* Field order of evstore.AcceptedEvent. */
enum { F_STREAM, F_VERSION, F_POSITION, F_PARTITION, F_TYPE, F_EVENT_ID, F_CONTENT_TYPE, F_DATA,
       F_METADATA, F_CORRELATION, F_CAUSATION, F_CREATED };

static evs_object_schema accepted_schema = EVS_OBJECT_SCHEMA(EVS_ACCEPTED_SCHEMA_FILE);

uint64_t evs_accepted_fingerprint(void)
{
    return evs__object_schema_get(&accepted_schema)->fingerprint;
}

static int put_str(avro_value_t *v, int i, const char *s)
{
    avro_value_t f;
    return avro_value_get_by_index(v, i, &f, NULL) || avro_value_set_string(&f, s);
}

static int put_long(avro_value_t *v, int i, int64_t n)
{
    avro_value_t f;
    return avro_value_get_by_index(v, i, &f, NULL) || avro_value_set_long(&f, n);
}

static int put_bytes(avro_value_t *v, int i, const void *p, size_t n)
{
    avro_value_t f;
    return avro_value_get_by_index(v, i, &f, NULL) ||
           avro_value_set_bytes(&f, (void *)(p ? p : ""), n);
}

/* An optional string: the union's null branch (0) or its string (1). */
static int put_optional(avro_value_t *v, int i, const char *s)
{
    avro_value_t f, b;
    if (avro_value_get_by_index(v, i, &f, NULL) || avro_value_set_branch(&f, s ? 1 : 0, &b))
        return -1;
    return s ? avro_value_set_string(&b, s) : avro_value_set_null(&b);
}

int evs_accepted_encode(const evs_accepted_event *e, evs_buf *out)
{
    evs_object_schema *s = evs__object_schema_get(&accepted_schema);
    avro_value_t v, f;
    if (avro_generic_value_new(s->iface, &v) != 0)
        return -1;
    int rc = put_str(&v, F_STREAM, e->stream) || put_long(&v, F_VERSION, (int64_t)e->version) ||
                     put_long(&v, F_POSITION, (int64_t)e->position) ||
                     avro_value_get_by_index(&v, F_PARTITION, &f, NULL) ||
                     avro_value_set_int(&f, e->partition) || put_str(&v, F_TYPE, e->type) ||
                     put_str(&v, F_EVENT_ID, e->event_id) ||
                     put_str(&v, F_CONTENT_TYPE, e->content_type) ||
                     put_bytes(&v, F_DATA, e->data, e->data_len) ||
                     put_bytes(&v, F_METADATA, e->metadata, e->metadata_len) ||
                     put_optional(&v, F_CORRELATION, e->correlation_id) ||
                     put_optional(&v, F_CAUSATION, e->causation_id) ||
                     put_long(&v, F_CREATED, e->created_us)
                 ? -1
                 : evs__object_write(s, &v, out);
    avro_value_decref(&v);
    return rc;
}

/* Appends field i's string (or bytes) to the storage at *at; *out points at the copy. */
static int take(avro_value_t *v, int i, int optional, int bytes, char *storage, size_t *at,
                const char **out, size_t *len)
{
    avro_value_t f, b;
    const void *p = NULL;
    size_t n = 0;
    if (avro_value_get_by_index(v, i, &f, NULL))
        return -1;
    if (optional) {
        int disc;
        if (avro_value_get_discriminant(&f, &disc) || avro_value_get_current_branch(&f, &b))
            return -1;
        if (disc == 0) {
            *out = NULL;
            return 0;
        }
        f = b;
    }
    if (bytes ? avro_value_get_bytes(&f, &p, &n)
              : avro_value_get_string(&f, (const char **)&p, &n))
        return -1;
    if (!bytes)
        n = n ? n - 1 : 0; /* avro-c counts the NUL it adds */
    memcpy(storage + *at, p, n);
    storage[*at + n] = 0;
    *out = storage + *at;
    if (len)
        *len = n;
    *at += n + 1;
    return 0;
}

int evs_accepted_decode(const void *record, size_t len, evs_accepted_event *out, void **storage,
                        char *err, size_t err_len)
{
    evs_object_schema *s = evs__object_schema_get(&accepted_schema);
    avro_value_t v, f;
    memset(out, 0, sizeof *out);
    *storage = NULL;
    if (evs__object_read(s, record, len, &v, err, err_len) < 0)
        return -1;
    /* Every string and byte field fits in the record itself, plus one NUL each. */
    char *st = malloc(len + 16);
    size_t at = 0;
    int64_t version = 0, position = 0;
    int rc = -1;
    const char *data = NULL, *metadata = NULL;
    if (st && !take(&v, F_STREAM, 0, 0, st, &at, &out->stream, NULL) &&
        !take(&v, F_TYPE, 0, 0, st, &at, &out->type, NULL) &&
        !take(&v, F_EVENT_ID, 0, 0, st, &at, &out->event_id, NULL) &&
        !take(&v, F_CONTENT_TYPE, 0, 0, st, &at, &out->content_type, NULL) &&
        !take(&v, F_DATA, 0, 1, st, &at, &data, &out->data_len) &&
        !take(&v, F_METADATA, 0, 1, st, &at, &metadata, &out->metadata_len) &&
        !take(&v, F_CORRELATION, 1, 0, st, &at, &out->correlation_id, NULL) &&
        !take(&v, F_CAUSATION, 1, 0, st, &at, &out->causation_id, NULL) &&
        !avro_value_get_by_index(&v, F_VERSION, &f, NULL) && !avro_value_get_long(&f, &version) &&
        !avro_value_get_by_index(&v, F_POSITION, &f, NULL) &&
        !avro_value_get_long(&f, &position) &&
        !avro_value_get_by_index(&v, F_PARTITION, &f, NULL) &&
        !avro_value_get_int(&f, &out->partition) &&
        !avro_value_get_by_index(&v, F_CREATED, &f, NULL) &&
        !avro_value_get_long(&f, &out->created_us) && version > 0 && position > 0 &&
        out->partition >= 0)
        rc = 0;
    avro_value_decref(&v);
    if (rc < 0) {
        free(st);
        memset(out, 0, sizeof *out);
        snprintf(err, err_len, "not a valid accepted event (a version, position or partition "
                               "out of range)");
        return -1;
    }
    out->version = (uint64_t)version;
    out->position = (uint64_t)position;
    out->data = data;
    out->metadata = metadata;
    *storage = st;
    return 0;
}
