/*
 * member_codec.c - evstore.Member records (member_codec.h), through avro-c's generic values:
 * one record a second per projector does not need the hand-written paths of the hot codecs.
 */
#include "member_codec.h"

#include <avro.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "object_codec.h"

/* Field order of evstore.Member. */
enum { F_ID, F_URL, F_TOPIC, F_COUNT, F_PARTITIONS, F_APPLIED, F_LEASE, F_STATE, F_STARTED,
       F_HEARTBEAT, F_COORDINATES, F_FIELDS };

static evs_object_schema member_schema = EVS_OBJECT_SCHEMA(EVS_MEMBER_SCHEMA_FILE);

uint64_t evs_member_fingerprint(void)
{
    return evs__object_schema_get(&member_schema)->fingerprint;
}

int evs_member_id_valid(const char *id, size_t len)
{
    if (len == 0 || len > EVS_MEMBER_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("_.:@-", c)) || c == 0)
            return 0;
    }
    return 1;
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

static int printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return 0;
    return 1;
}

/* The rules both directions enforce. */
static int member_check(const evs_member *m, char *err, size_t err_len)
{
    size_t url_len = strlen(m->url), topic_len = strlen(m->topic);
    if (!evs_member_id_valid(m->id, strlen(m->id)))
        return fail(err, err_len, "invalid member id");
    if (url_len == 0 || url_len > EVS_MEMBER_URL_MAX || !printable(m->url, url_len))
        return fail(err, err_len, "member %s: invalid url", m->id);
    if (topic_len == 0 || !printable(m->topic, topic_len))
        return fail(err, err_len, "member %s: invalid topic", m->id);
    if (m->partition_count < 1 || m->partition_count > EVS_MEMBER_PARTITIONS_MAX)
        return fail(err, err_len, "member %s: partition count %d out of range", m->id,
                    (int)m->partition_count);
    if (m->served_count > (size_t)m->partition_count)
        return fail(err, err_len, "member %s: serves more partitions than the topic has", m->id);
    for (size_t i = 0; i < m->served_count; i++) {
        if (m->served[i] < 0 || m->served[i] >= m->partition_count ||
            (i > 0 && m->served[i] <= m->served[i - 1]))
            return fail(err, err_len, "member %s: served partitions not ascending in 0..%d",
                        m->id, (int)m->partition_count - 1);
        if (m->applied[i] < 0)
            return fail(err, err_len, "member %s: negative applied offset", m->id);
    }
    for (size_t i = 0; i < m->coordinated_count; i++)
        if (m->coordinated[i] < 0 || (i > 0 && m->coordinated[i] <= m->coordinated[i - 1]))
            return fail(err, err_len, "member %s: coordinated partitions not ascending", m->id);
    if (m->lease_ms < 1)
        return fail(err, err_len, "member %s: lease must be positive", m->id);
    if ((unsigned)m->state > EVS_MEMBER_STOPPED)
        return fail(err, err_len, "member %s: unknown state", m->id);
    return 0;
}

int evs_member_encode(const evs_member *m, evs_buf *out)
{
    evs_object_schema *s = evs__object_schema_get(&member_schema);
    if (member_check(m, NULL, 0) < 0)
        return -1;
    avro_value_t v, f, item;
    if (avro_generic_value_new(s->iface, &v) != 0)
        return -1;
    int rc = -1;
    if (avro_value_get_by_index(&v, F_ID, &f, NULL) || avro_value_set_string(&f, m->id) ||
        avro_value_get_by_index(&v, F_URL, &f, NULL) || avro_value_set_string(&f, m->url) ||
        avro_value_get_by_index(&v, F_TOPIC, &f, NULL) || avro_value_set_string(&f, m->topic) ||
        avro_value_get_by_index(&v, F_COUNT, &f, NULL) ||
        avro_value_set_int(&f, m->partition_count))
        goto done;
    if (avro_value_get_by_index(&v, F_PARTITIONS, &f, NULL))
        goto done;
    for (size_t i = 0; i < m->served_count; i++)
        if (avro_value_append(&f, &item, NULL) || avro_value_set_int(&item, m->served[i]))
            goto done;
    if (avro_value_get_by_index(&v, F_APPLIED, &f, NULL))
        goto done;
    for (size_t i = 0; i < m->served_count; i++)
        if (avro_value_append(&f, &item, NULL) || avro_value_set_long(&item, m->applied[i]))
            goto done;
    if (avro_value_get_by_index(&v, F_LEASE, &f, NULL) || avro_value_set_int(&f, m->lease_ms) ||
        avro_value_get_by_index(&v, F_STATE, &f, NULL) || avro_value_set_enum(&f, (int)m->state) ||
        avro_value_get_by_index(&v, F_STARTED, &f, NULL) ||
        avro_value_set_long(&f, m->started_us) ||
        avro_value_get_by_index(&v, F_HEARTBEAT, &f, NULL) ||
        avro_value_set_long(&f, m->heartbeat_us) ||
        avro_value_get_by_index(&v, F_COORDINATES, &f, NULL))
        goto done;
    for (size_t i = 0; i < m->coordinated_count; i++)
        if (avro_value_append(&f, &item, NULL) || avro_value_set_int(&item, m->coordinated[i]))
            goto done;
    rc = evs__object_write(s, &v, out);
done:
    avro_value_decref(&v);
    return rc;
}

int evs_member_decode(const void *value, size_t len, evs_member *out, char *err, size_t err_len)
{
    evs_object_schema *s = evs__object_schema_get(&member_schema);
    memset(out, 0, sizeof *out);
    avro_value_t v, f, item;
    if (evs__object_read(s, value, len, &v, err, err_len) < 0)
        return -1;
    int rc = fail(err, err_len, "cannot read the member record");
    size_t n = 0, napplied = 0;
    int state = 0;
    if (evs__object_get_text(&v, F_ID, out->id, sizeof out->id) ||
        evs__object_get_text(&v, F_URL, out->url, sizeof out->url) ||
        evs__object_get_text(&v, F_TOPIC, out->topic, sizeof out->topic)) {
        rc = fail(err, err_len, "member id, url or topic too long or not text");
        goto done;
    }
    if (avro_value_get_by_index(&v, F_COUNT, &f, NULL) ||
        avro_value_get_int(&f, &out->partition_count) ||
        avro_value_get_by_index(&v, F_PARTITIONS, &f, NULL) || avro_value_get_size(&f, &n))
        goto done;
    avro_value_t applied;
    if (avro_value_get_by_index(&v, F_APPLIED, &applied, NULL) ||
        avro_value_get_size(&applied, &napplied))
        goto done;
    if (n != napplied || n > EVS_MEMBER_PARTITIONS_MAX) {
        rc = fail(err, err_len, "member %s: %zu served partitions but %zu applied offsets",
                  out->id, n, napplied);
        goto done;
    }
    out->served = malloc((n ? n : 1) * sizeof *out->served);
    out->applied = malloc((n ? n : 1) * sizeof *out->applied);
    if (!out->served || !out->applied) {
        rc = fail(err, err_len, "out of memory");
        goto done;
    }
    out->served_count = n;
    for (size_t i = 0; i < n; i++)
        if (avro_value_get_by_index(&f, i, &item, NULL) ||
            avro_value_get_int(&item, &out->served[i]) ||
            avro_value_get_by_index(&applied, i, &item, NULL) ||
            avro_value_get_long(&item, &out->applied[i]))
            goto done;
    if (avro_value_get_by_index(&v, F_LEASE, &f, NULL) || avro_value_get_int(&f, &out->lease_ms) ||
        avro_value_get_by_index(&v, F_STATE, &f, NULL) || avro_value_get_enum(&f, &state) ||
        avro_value_get_by_index(&v, F_STARTED, &f, NULL) ||
        avro_value_get_long(&f, &out->started_us) ||
        avro_value_get_by_index(&v, F_HEARTBEAT, &f, NULL) ||
        avro_value_get_long(&f, &out->heartbeat_us) ||
        avro_value_get_by_index(&v, F_COORDINATES, &f, NULL) || avro_value_get_size(&f, &n) ||
        n > EVS_MEMBER_PARTITIONS_MAX)
        goto done;
    out->coordinated = malloc((n ? n : 1) * sizeof *out->coordinated);
    if (!out->coordinated) {
        rc = fail(err, err_len, "out of memory");
        goto done;
    }
    out->coordinated_count = n;
    for (size_t i = 0; i < n; i++)
        if (avro_value_get_by_index(&f, i, &item, NULL) ||
            avro_value_get_int(&item, &out->coordinated[i]))
            goto done;
    out->state = (evs_member_state)state;
    rc = member_check(out, err, err_len);
done:
    avro_value_decref(&v);
    if (rc < 0)
        evs_member_clear(out);
    return rc;
}

void evs_member_clear(evs_member *m)
{
    free(m->served);
    free(m->applied);
    free(m->coordinated);
    m->served = NULL;
    m->applied = NULL;
    m->coordinated = NULL;
    m->served_count = 0;
    m->coordinated_count = 0;
}
