/*
 * key_codec.c - evstore.DataKey records (key_codec.h), through avro-c's generic values like
 * the members and state topics' records: keys are written once per data subject, not at the
 * rate of appends.
 */
#include "key_codec.h"

#include <avro.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "object_codec.h"

/* Field order of evstore.DataKey. */
enum { F_SUBJECT, F_KEY_ID, F_MASTER_KEY_ID, F_NONCE, F_SEALED_KEY, F_CREATED };

static evs_object_schema key_schema = EVS_OBJECT_SCHEMA(EVS_KEY_SCHEMA_FILE);

uint64_t evs_key_record_fingerprint(void)
{
    return evs__object_schema_get(&key_schema)->fingerprint;
}

static int fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t err_len, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int evs_key_record_key(const char *subject, size_t subject_len,
                       const uint8_t key_id[EVS_KEY_ID_BYTES], char *key_out)
{
    if (!evs_subject_valid(subject, subject_len))
        return -1;
    memcpy(key_out, subject, subject_len);
    key_out[subject_len] = '/';
    evs_uuid_format(key_id, key_out + subject_len + 1);
    return (int)(subject_len + 1 + EVS_UUID_TEXT_LEN);
}

/* Parses text[0..len) as a UUID in the one form the format writes (lowercase). */
static int key_id_parse(const char *text, size_t len, uint8_t id[EVS_KEY_ID_BYTES])
{
    char again[EVS_UUID_TEXT_LEN + 1];
    if (evs_uuid_parse(text, len, id) != 0)
        return -1;
    evs_uuid_format(id, again);
    return memcmp(again, text, EVS_UUID_TEXT_LEN) ? -1 : 0;
}

int evs_key_record_key_parse(const void *key, size_t key_len, char *subject_out,
                             uint8_t key_id[EVS_KEY_ID_BYTES])
{
    const char *k = key;
    /* The key id has a fixed length and the subject holds no '/': split from the end. */
    if (!k || key_len < EVS_UUID_TEXT_LEN + 2 || key_len > EVS_KEY_RECORD_KEY_MAX)
        return -1;
    size_t subject_len = key_len - EVS_UUID_TEXT_LEN - 1;
    if (k[subject_len] != '/' || !evs_subject_valid(k, subject_len) ||
        key_id_parse(k + subject_len + 1, EVS_UUID_TEXT_LEN, key_id) != 0)
        return -1;
    memcpy(subject_out, k, subject_len);
    subject_out[subject_len] = 0;
    return 0;
}

static int master_key_id_valid(const char id[EVS_MASTER_KEY_ID_LEN + 1])
{
    for (size_t i = 0; i < EVS_MASTER_KEY_ID_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return id[EVS_MASTER_KEY_ID_LEN] == 0;
}

/* The rules both directions enforce. */
static int key_record_check(const evs_key_record *r, char *err, size_t err_len)
{
    if (!evs_subject_valid(r->subject, strnlen(r->subject, sizeof r->subject)))
        return fail(err, err_len, "key record with an invalid subject");
    if (!master_key_id_valid(r->sealed.master_key_id))
        return fail(err, err_len, "key record of %s: master key id is not 16 lowercase hex digits",
                    r->subject);
    if (r->created_us < 0)
        return fail(err, err_len, "key record of %s: negative created_us", r->subject);
    return 0;
}

static int set_bytes(avro_value_t *v, int index, const void *p, size_t len)
{
    avro_value_t f;
    return avro_value_get_by_index(v, index, &f, NULL) ||
           avro_value_set_bytes(&f, (void *)p, len);
}

/* Copies bytes field `index` of v into dst, which must be exactly len bytes. */
static int get_fixed_bytes(avro_value_t *v, int index, void *dst, size_t len)
{
    avro_value_t f;
    const void *p = NULL;
    size_t size = 0;
    if (avro_value_get_by_index(v, index, &f, NULL) || avro_value_get_bytes(&f, &p, &size) ||
        size != len)
        return -1;
    memcpy(dst, p, len);
    return 0;
}

int evs_key_record_encode(const evs_key_record *r, evs_buf *out)
{
    evs_object_schema *s = evs__object_schema_get(&key_schema);
    char key_id[EVS_UUID_TEXT_LEN + 1];
    if (key_record_check(r, NULL, 0) < 0)
        return -1;
    evs_uuid_format(r->sealed.key_id, key_id);
    avro_value_t v, f;
    if (avro_generic_value_new(s->iface, &v) != 0)
        return -1;
    int rc = -1;
    if (avro_value_get_by_index(&v, F_SUBJECT, &f, NULL) ||
        avro_value_set_string(&f, r->subject) ||
        avro_value_get_by_index(&v, F_KEY_ID, &f, NULL) || avro_value_set_string(&f, key_id) ||
        avro_value_get_by_index(&v, F_MASTER_KEY_ID, &f, NULL) ||
        avro_value_set_string(&f, r->sealed.master_key_id) ||
        set_bytes(&v, F_NONCE, r->sealed.nonce, sizeof r->sealed.nonce) ||
        set_bytes(&v, F_SEALED_KEY, r->sealed.sealed, sizeof r->sealed.sealed) ||
        avro_value_get_by_index(&v, F_CREATED, &f, NULL) ||
        avro_value_set_long(&f, r->created_us))
        goto done;
    rc = evs__object_write(s, &v, out);
done:
    avro_value_decref(&v);
    return rc;
}

int evs_key_record_decode(const void *key, size_t key_len, const void *value, size_t value_len,
                          evs_key_record *out, char *err, size_t err_len)
{
    evs_object_schema *s = evs__object_schema_get(&key_schema);
    char key_id[EVS_UUID_TEXT_LEN + 1];
    char built[EVS_KEY_RECORD_KEY_MAX + 1] = "";
    memset(out, 0, sizeof *out);
    if (!value)
        return fail(err, err_len, "a tombstone is not a key record");
    avro_value_t v, f;
    if (evs__object_read(s, value, value_len, &v, err, err_len) < 0)
        return -1;
    int rc = -1;
    if (evs__object_get_text(&v, F_SUBJECT, out->subject, sizeof out->subject) ||
        evs__object_get_text(&v, F_KEY_ID, key_id, sizeof key_id) ||
        evs__object_get_text(&v, F_MASTER_KEY_ID, out->sealed.master_key_id,
                             sizeof out->sealed.master_key_id)) {
        fail(err, err_len, "key record: subject, key id or master key id too long or not text");
        goto done;
    }
    if (key_id_parse(key_id, strlen(key_id), out->sealed.key_id) != 0) {
        fail(err, err_len, "key record of %s: key id is not a lowercase UUID", out->subject);
        goto done;
    }
    if (get_fixed_bytes(&v, F_NONCE, out->sealed.nonce, sizeof out->sealed.nonce) ||
        get_fixed_bytes(&v, F_SEALED_KEY, out->sealed.sealed, sizeof out->sealed.sealed)) {
        fail(err, err_len, "key record of %s: nonce is not %d bytes or sealed key not %d",
             out->subject, EVS_SEAL_NONCE_BYTES, EVS_SEALED_KEY_BYTES);
        goto done;
    }
    if (avro_value_get_by_index(&v, F_CREATED, &f, NULL) ||
        avro_value_get_long(&f, &out->created_us)) {
        fail(err, err_len, "cannot read the key record");
        goto done;
    }
    if (key_record_check(out, err, err_len) < 0)
        goto done;
    int n = evs_key_record_key(out->subject, strlen(out->subject), out->sealed.key_id, built);
    if (n < 0 || (size_t)n != key_len || !key || memcmp(built, key, key_len)) {
        fail(err, err_len, "key record whose Kafka key is not %s, its subject and key id",
             built);
        goto done;
    }
    rc = 0;
done:
    avro_value_decref(&v);
    if (rc < 0)
        memset(out, 0, sizeof *out);
    return rc;
}
