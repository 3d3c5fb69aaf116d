/*
 * keyring.c - the key topic's applier, key making and forgetting, and opening personal data
 * on reads (invariants K1..K4 in keyring.h).
 */
#include "keys/keyring.h"

#include "index/byte_order.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <sodium.h>

#define CATCH_UP_TIMEOUT_MS 60000
#define READY_SYNC_MS 5000
#define KEY_CACHE 256  /* opened data keys, by key id (direct-mapped) */
#define GONE_CACHE 1024 /* key ids found missing after a sync (K3) */
#define LIST_MAX 64    /* key records of one subject handled per round */

typedef struct cached_key {
    int used;
    evs_data_key dk; /* dk.id is the key id */
} cached_key;

struct evs_keyring {
    evs_projector *p;
    char topic[256];
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    int has_master;
    evs_master_key master;

    pthread_t thread;
    int started;
    pthread_t compactor; /* compacts the key table after tombstones (K1) */
    int compactor_started;
    pthread_mutex_t create_lock; /* one key made at a time (K2) */

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t applied_cond;
    pthread_cond_t compact_cond;
    int compact_due; /* a tombstone was applied since the last compaction */
    int64_t next_offset;
    uint64_t generation; /* bumped by every tombstone: a key opened before is not cached */
    int stop;
    evs_keyring_stats stats;
    cached_key keys[KEY_CACHE];
    uint8_t gone[GONE_CACHE][EVS_KEY_ID_BYTES];
    uint8_t gone_used[GONE_CACHE];
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t slot_of(const uint8_t id[EVS_KEY_ID_BYTES], size_t n)
{
    /* Key ids are random (UUID v4), so any of their bytes spread evenly. */
    return ((size_t)id[0] << 8 | id[1]) % n;
}

/* ---- Caches (under kr->lock) ------------------------------------------------------------ */

static int gone_has(const evs_keyring *kr, const uint8_t id[EVS_KEY_ID_BYTES])
{
    size_t i = slot_of(id, GONE_CACHE);
    return kr->gone_used[i] && memcmp(kr->gone[i], id, EVS_KEY_ID_BYTES) == 0;
}

static void gone_add(evs_keyring *kr, const uint8_t id[EVS_KEY_ID_BYTES])
{
    size_t i = slot_of(id, GONE_CACHE);
    memcpy(kr->gone[i], id, EVS_KEY_ID_BYTES);
    kr->gone_used[i] = 1;
}

static void cache_drop(evs_keyring *kr, const uint8_t id[EVS_KEY_ID_BYTES])
{
    cached_key *c = &kr->keys[slot_of(id, KEY_CACHE)];
    if (c->used && memcmp(c->dk.id, id, EVS_KEY_ID_BYTES) == 0) {
        evs_data_key_wipe(&c->dk);
        c->used = 0;
    }
}

/* ---- The key table ---------------------------------------------------------------------- */

/* A stored key record: be64 key-topic offset, then the evstore.DataKey value. */
static int parse_stored(const char *subject, const uint8_t id[EVS_KEY_ID_BYTES],
                        const char *value, size_t len, evs_key_record *out, int64_t *offset)
{
    char key[EVS_KEY_RECORD_KEY_MAX + 1];
    if (len < 8)
        return -1;
    int klen = evs_key_record_key(subject, strlen(subject), id, key);
    if (klen < 0)
        return -1;
    *offset = (int64_t)get_be64((const uint8_t *)value);
    return evs_key_record_decode(key, (size_t)klen, value + 8, len - 8, out, NULL, 0);
}

typedef struct list_ctx {
    const char *subject;
    evs_key_record *out;
    int64_t *offsets;
    size_t max, n, kept;
} list_ctx;

/* Keeps the max records of lowest offset. */
static int list_one(void *ctx, const uint8_t key_id[16], const char *value, size_t len)
{
    list_ctx *l = ctx;
    evs_key_record r;
    int64_t offset;
    if (parse_stored(l->subject, key_id, value, len, &r, &offset) < 0)
        return 0; /* only the applier writes the table, and only what decodes (K1) */
    l->n++;
    size_t at = l->kept;
    if (l->kept == l->max) {
        at = 0;
        for (size_t i = 1; i < l->kept; i++)
            if (l->offsets[i] > l->offsets[at])
                at = i;
        if (l->kept == 0 || l->offsets[at] < offset)
            return 0;
    } else {
        l->kept++;
    }
    l->out[at] = r;
    l->offsets[at] = offset;
    return 0;
}

int evs_keyring_list(evs_keyring *kr, const char *subject, size_t len, evs_key_record *out,
                     size_t max, size_t *n)
{
    char name[EVS_SUBJECT_MAX + 1];
    *n = 0;
    if (!evs_subject_valid(subject, len))
        return -EINVAL;
    memcpy(name, subject, len);
    name[len] = 0;
    int64_t *offsets = calloc(max ? max : 1, sizeof *offsets);
    if (!offsets)
        return -ENOMEM;
    list_ctx l = {name, out, offsets, max, 0, 0};
    int rc = evs_store_keys_of(kr->p->store, subject, len, list_one, &l);
    /* The winner (K2) first: order the kept ones by offset (few: insertion sort). */
    for (size_t i = 1; i < l.kept; i++)
        for (size_t j = i; j > 0 && offsets[j - 1] > offsets[j]; j--) {
            int64_t o = offsets[j];
            offsets[j] = offsets[j - 1];
            offsets[j - 1] = o;
            evs_key_record r = out[j];
            out[j] = out[j - 1];
            out[j - 1] = r;
        }
    free(offsets);
    *n = l.n;
    return rc;
}

/* 1 when the table has key id of subject, 0 when not. */
static int key_present(evs_keyring *kr, const char *subject, size_t len,
                       const uint8_t id[EVS_KEY_ID_BYTES])
{
    char *value = NULL;
    size_t vlen;
    int rc = evs_store_key_get(kr->p->store, subject, len, id, &value, &vlen);
    free(value);
    return rc < 0 ? rc : value != NULL;
}

/* The data key id of subject, opened: 1, or 0 when the table does not have it, or
 * EVS_SEAL_EMASTER / EVS_SEAL_EAUTH when it cannot be opened here. */
static int data_key(evs_keyring *kr, const char *subject, size_t len,
                    const uint8_t id[EVS_KEY_ID_BYTES], evs_data_key *out)
{
    pthread_mutex_lock(&kr->lock);
    cached_key *c = &kr->keys[slot_of(id, KEY_CACHE)];
    if (c->used && memcmp(c->dk.id, id, EVS_KEY_ID_BYTES) == 0) {
        *out = c->dk;
        pthread_mutex_unlock(&kr->lock);
        return 1;
    }
    uint64_t generation = kr->generation;
    pthread_mutex_unlock(&kr->lock);

    char name[EVS_SUBJECT_MAX + 1], *value = NULL;
    size_t vlen;
    if (len > EVS_SUBJECT_MAX)
        return 0;
    memcpy(name, subject, len);
    name[len] = 0;
    int rc = evs_store_key_get(kr->p->store, subject, len, id, &value, &vlen);
    if (rc < 0 || !value)
        return rc < 0 ? rc : 0;
    evs_key_record r;
    int64_t offset;
    rc = parse_stored(name, id, value, vlen, &r, &offset);
    free(value);
    if (rc < 0)
        return EVS_SEAL_EAUTH;
    if (!kr->has_master)
        return EVS_SEAL_EMASTER; /* there, but not to be opened here */
    rc = evs_data_key_unseal(&kr->master, name, len, &r.sealed, out);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&kr->lock);
    if (kr->generation == generation) { /* no tombstone since the read: safe to keep */
        if (c->used)
            evs_data_key_wipe(&c->dk);
        c->dk = *out;
        c->used = 1;
    }
    pthread_mutex_unlock(&kr->lock);
    return 1;
}

/* ---- The applier (K1) --------------------------------------------------------------------- */

static void apply_message(evs_keyring *kr, const rd_kafka_message_t *m)
{
    char subject[EVS_SUBJECT_MAX + 1], why[256];
    uint8_t id[EVS_KEY_ID_BYTES];
    int skipped = 0, tombstone = !m->payload, rc = 0;
    if (evs_key_record_key_parse(m->key, m->key_len, subject, id) < 0) {
        snprintf(why, sizeof why, "its key is not \"<subject>/<key id>\"");
        skipped = 1;
    } else if (tombstone) {
        rc = evs_store_key_write(kr->p->store, subject, strlen(subject), id, NULL, 0,
                                 m->offset + 1);
        pthread_mutex_lock(&kr->lock);
        /* The key's bytes leave this store's files now, not at some later compaction: the
         * compactor does it beside the applier (it takes a second on a busy store). */
        kr->compact_due = 1;
        pthread_cond_signal(&kr->compact_cond);
        cache_drop(kr, id);
        gone_add(kr, id);
        kr->generation++;
        pthread_mutex_unlock(&kr->lock);
    } else {
        evs_key_record r;
        if (evs_key_record_decode(m->key, m->key_len, m->payload, m->len, &r, why,
                                  sizeof why) < 0) {
            skipped = 1;
        } else if ((rc = key_present(kr, subject, strlen(subject), id)) == 0) {
            uint8_t *value = malloc(m->len + 8);
            if (!value) {
                rc = -ENOMEM;
            } else {
                put_be64(value, (uint64_t)m->offset);
                memcpy(value + 8, m->payload, m->len);
                rc = evs_store_key_write(kr->p->store, subject, strlen(subject), id, value,
                                         m->len + 8, m->offset + 1);
                free(value);
            }
        } /* else: present already, a key never changes (K1) */
    }
    if (rc < 0) {
        /* The store failed: stop applying; the barrier then waits, reads go on. */
        fprintf(stderr, "evstore-projector: key topic %s: cannot apply offset %lld: %s\n",
                kr->topic, (long long)m->offset, strerror(-rc));
        pthread_mutex_lock(&kr->lock);
        kr->stop = 1;
        pthread_cond_broadcast(&kr->applied_cond);
        pthread_mutex_unlock(&kr->lock);
        return;
    }
    if (skipped)
        fprintf(stderr, "evstore-projector: key topic %s: skipped offset %lld: %s\n", kr->topic,
                (long long)m->offset, why);
    pthread_mutex_lock(&kr->lock);
    kr->next_offset = m->offset + 1;
    kr->stats.applied++;
    kr->stats.tombstones += tombstone && !skipped;
    kr->stats.skipped += skipped;
    pthread_cond_broadcast(&kr->applied_cond);
    pthread_mutex_unlock(&kr->lock);
}

static void *applier_thread(void *arg)
{
    evs_keyring *kr = arg;
    const char *pause_file = kr->p->config.test_pause_file;
    for (;;) {
        pthread_mutex_lock(&kr->lock);
        int stop = kr->stop;
        pthread_mutex_unlock(&kr->lock);
        if (stop)
            break;
        if (pause_file && access(pause_file, F_OK) == 0) {
            /* The test hook of a replica that lags (projector.h): apply nothing meanwhile. */
            struct timespec pause = {0, 20 * 1000000};
            nanosleep(&pause, NULL);
            continue;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(kr->consumer, 100);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "evstore-projector: key topic %s: %s\n", kr->topic,
                        rd_kafka_message_errstr(m));
        } else {
            apply_message(kr, m);
        }
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

static void *compactor_thread(void *arg)
{
    evs_keyring *kr = arg;
    pthread_mutex_lock(&kr->lock);
    for (;;) {
        while (!kr->compact_due && !kr->stop)
            pthread_cond_wait(&kr->compact_cond, &kr->lock);
        if (kr->stop)
            break;
        kr->compact_due = 0;
        pthread_mutex_unlock(&kr->lock);
        evs_store_compact_keys(kr->p->store, NULL, 0); /* K1 */
        pthread_mutex_lock(&kr->lock);
        kr->stats.compactions++;
    }
    pthread_mutex_unlock(&kr->lock);
    return NULL;
}

int evs_keyring_sync(evs_keyring *kr, int timeout_ms, char *err, size_t err_len)
{
    int64_t low = 0, high = 0, deadline = mono_ms() + timeout_ms;
    rd_kafka_resp_err_t e = 0;
    if (evs_projector_partition_ends(kr->producer, kr->topic, 0, &low, &high, timeout_ms,
                                     &e) < 0) {
        snprintf(err, err_len, "key topic %s: cannot read where it ends: %s", kr->topic,
                 rd_kafka_err2str(e));
        return -1;
    }
    pthread_mutex_lock(&kr->lock);
    kr->stats.syncs++;
    while (kr->next_offset < high && !kr->stop) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(left / 1000);
        ts.tv_nsec += (long)(left % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&kr->applied_cond, &kr->lock, &ts);
    }
    int64_t reached = kr->next_offset;
    pthread_mutex_unlock(&kr->lock);
    if (reached < high) {
        snprintf(err, err_len,
                 "key topic %s: read up to offset %lld of %lld within %d ms", kr->topic,
                 (long long)reached, (long long)high, timeout_ms);
        return -1;
    }
    return 0;
}

int evs_keyring_ready(void *keyring, const evs_append_request *req)
{
    evs_keyring *kr = keyring;
    if (!kr)
        return 0;
    const evs_record_event *known = NULL; /* the last event whose key was settled */
    for (size_t i = 0; i < req->event_count; i++) {
        const evs_record_event *e = &req->events[i];
        if (!e->subject)
            continue;
        /* The events of an append are mostly sealed by one key: settle it once. */
        if (known && memcmp(known->key_id, e->key_id, EVS_KEY_ID_BYTES) == 0 &&
            known->subject_len == e->subject_len &&
            memcmp(known->subject, e->subject, e->subject_len) == 0)
            continue;
        known = e;
        pthread_mutex_lock(&kr->lock);
        int gone = gone_has(kr, e->key_id);
        pthread_mutex_unlock(&kr->lock);
        if (gone)
            continue;
        int rc = key_present(kr, e->subject, e->subject_len, e->key_id);
        if (rc < 0)
            return -1;
        if (rc == 1)
            continue;
        /* K3: read the key topic to its end before deciding the key is gone. */
        char err[256];
        int warned = 0;
        while (evs_keyring_sync(kr, READY_SYNC_MS, err, sizeof err) < 0) {
            if (kr->p->stop || kr->stop)
                return -1;
            if (!warned++)
                fprintf(stderr, "evstore-projector: %s; applying waits for it\n", err);
        }
        rc = key_present(kr, e->subject, e->subject_len, e->key_id);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            pthread_mutex_lock(&kr->lock);
            gone_add(kr, e->key_id);
            pthread_mutex_unlock(&kr->lock);
        }
    }
    return 0;
}

/* ---- Making and destroying keys --------------------------------------------------------- */

typedef struct delivery {
    int done;
    rd_kafka_resp_err_t err;
} delivery;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    delivery *d = m->_private;
    d->err = m->err;
    __atomic_store_n(&d->done, 1, __ATOMIC_RELEASE);
}

/* Produces value (NULL: a tombstone) under key and waits for Kafka's acknowledgement. */
static int produce(evs_keyring *kr, const char *key, size_t key_len, const void *value,
                   size_t value_len, char *err, size_t err_len)
{
    delivery d = {0, RD_KAFKA_RESP_ERR_NO_ERROR};
    rd_kafka_resp_err_t e = rd_kafka_producev(
        kr->producer, RD_KAFKA_V_TOPIC(kr->topic), RD_KAFKA_V_PARTITION(0),
        RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END);
    if (e) {
        snprintf(err, err_len, "key topic %s: cannot produce: %s", kr->topic, rd_kafka_err2str(e));
        return -1;
    }
    int64_t deadline = mono_ms() + EVS_KEYRING_WAIT_MS;
    while (!__atomic_load_n(&d.done, __ATOMIC_ACQUIRE) && mono_ms() < deadline)
        rd_kafka_poll(kr->producer, 10);
    if (!__atomic_load_n(&d.done, __ATOMIC_ACQUIRE)) {
        /* The delivery report still points at d: wait it out rather than leave it dangling.
         * message.timeout.ms (EVS_KEYRING_WAIT_MS) bounds this. */
        while (!__atomic_load_n(&d.done, __ATOMIC_ACQUIRE))
            rd_kafka_poll(kr->producer, 100);
        if (!d.err)
            d.err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    }
    if (d.err) {
        snprintf(err, err_len, "key topic %s: not written: %s", kr->topic,
                 rd_kafka_err2str(d.err));
        return -1;
    }
    return 0;
}

int evs_keyring_create(evs_keyring *kr, const char *subject, size_t len, evs_key_record *out,
                       int *created, int *code, char *err, size_t err_len)
{
    evs_key_record found[1];
    size_t n = 0;
    *created = 0;
    *code = 0;
    if (!evs_subject_valid(subject, len)) {
        *code = EVS_SEAL_EINVAL;
        snprintf(err, err_len, "invalid subject: 1 to %d characters of A-Z a-z 0-9 _ . : @ -",
                 EVS_SUBJECT_MAX);
        return -1;
    }
    pthread_mutex_lock(&kr->create_lock);
    int rc = evs_keyring_list(kr, subject, len, found, 1, &n);
    if (rc == 0 && n == 0) {
        /* None here yet: read the key topic to its end first, so that a replica that lags
         * on it does not make a second key for a subject that has one (which would lose
         * to it, K2, and only be extra). */
        rc = evs_keyring_sync(kr, EVS_KEYRING_WAIT_MS, err, err_len);
        if (rc == 0)
            rc = evs_keyring_list(kr, subject, len, found, 1, &n);
    }
    if (rc == 0 && n == 0) {
        if (!kr->has_master) {
            *code = EVS_SEAL_EMASTER;
            snprintf(err, err_len, "this projector has no master key (--master-key)");
            rc = -1;
            goto out;
        }
        evs_data_key dk;
        evs_key_record r;
        memset(&r, 0, sizeof r);
        memcpy(r.subject, subject, len);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        r.created_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
        evs_buf value = {0};
        char key[EVS_KEY_RECORD_KEY_MAX + 1];
        rc = evs_data_key_new(&dk);
        if (rc == 0)
            rc = evs_data_key_seal(&kr->master, subject, len, &dk, &r.sealed);
        evs_data_key_wipe(&dk);
        if (rc == 0)
            rc = evs_key_record_encode(&r, &value);
        int klen = evs_key_record_key(subject, len, r.sealed.key_id, key);
        if (rc < 0 || klen < 0) {
            snprintf(err, err_len, "cannot make a data key: %s", evs_seal_strerror(rc));
            rc = -1;
        } else {
            rc = produce(kr, key, (size_t)klen, value.data, value.len, err, err_len);
        }
        evs_buf_free(&value);
        if (rc == 0)
            rc = evs_keyring_sync(kr, EVS_KEYRING_WAIT_MS, err, err_len);
        if (rc == 0)
            rc = evs_keyring_list(kr, subject, len, found, 1, &n);
        if (rc == 0 && n > 0)
            *created = memcmp(found[0].sealed.key_id, r.sealed.key_id, EVS_KEY_ID_BYTES) == 0;
        if (rc == 0 && n == 0) { /* forgotten between our write and the read back */
            snprintf(err, err_len, "the subject was forgotten while its key was made; retry");
            rc = -1;
        }
    }
    if (rc < -1) {
        snprintf(err, err_len, "cannot read the key table: %s", strerror(-rc));
        rc = -1;
    }
    if (rc < 0 && !*code)
        *code = EVS_SEAL_EFILE;
    if (rc == 0)
        *out = found[0];
out:
    pthread_mutex_unlock(&kr->create_lock);
    return rc;
}

int evs_keyring_forget(evs_keyring *kr, const char *subject, size_t len,
                       uint8_t (*ids)[EVS_KEY_ID_BYTES], size_t max, size_t *n, char *err,
                       size_t err_len)
{
    evs_key_record *found = calloc(LIST_MAX, sizeof *found);
    *n = 0;
    if (!found) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    int rc = 0;
    pthread_mutex_lock(&kr->create_lock); /* no key is made meanwhile through this projector */
    for (int round = 0; rc == 0 && round < 8; round++) {
        size_t count = 0;
        rc = evs_keyring_list(kr, subject, len, found, LIST_MAX, &count);
        if (rc < 0) {
            snprintf(err, err_len, "cannot read the key table: %s", strerror(-rc));
            break;
        }
        if (count == 0)
            break;
        if (count > LIST_MAX)
            count = LIST_MAX;
        for (size_t i = 0; i < count && rc == 0; i++) {
            char key[EVS_KEY_RECORD_KEY_MAX + 1];
            int klen = evs_key_record_key(subject, len, found[i].sealed.key_id, key);
            rc = produce(kr, key, (size_t)klen, NULL, 0, err, err_len);
            if (rc == 0 && *n < max)
                memcpy(ids[*n], found[i].sealed.key_id, EVS_KEY_ID_BYTES);
            if (rc == 0)
                (*n)++;
        }
        if (rc == 0)
            rc = evs_keyring_sync(kr, EVS_KEYRING_WAIT_MS, err, err_len);
    }
    pthread_mutex_unlock(&kr->create_lock);
    free(found);
    return rc < 0 ? -1 : 0;
}

/* ---- Reads (K4) --------------------------------------------------------------------------- */

void evs_reveal_buf_free(evs_reveal_buf *buf)
{
    if (buf->data.data)
        sodium_memzero(buf->data.data, buf->data.cap);
    if (buf->metadata.data)
        sodium_memzero(buf->metadata.data, buf->metadata.cap);
    evs_buf_free(&buf->data);
    evs_buf_free(&buf->metadata);
}

int evs_keyring_reveal(evs_keyring *kr, const evs_stored_event *in, evs_stored_event *out,
                       evs_reveal_buf *buf)
{
    *out = *in;
    out->reveal = EVS_REVEAL_PLAIN;
    if (!in->subject)
        return EVS_REVEAL_PLAIN;
    evs_data_key dk;
    int rc = kr ? data_key(kr, in->subject, in->subject_len, in->key_id, &dk) : EVS_SEAL_EMASTER;
    if (rc == 1) {
        rc = evs_open_payload(&dk, in->event_id, EVS_PAYLOAD_DATA, in->data, in->data_len,
                              in->data_nonce, &buf->data);
        if (rc == 0 && in->metadata_nonce)
            rc = evs_open_payload(&dk, in->event_id, EVS_PAYLOAD_METADATA, in->metadata,
                                  in->metadata_len, in->metadata_nonce, &buf->metadata);
        evs_data_key_wipe(&dk);
        if (rc == EVS_SEAL_ENOMEM)
            return -ENOMEM;
        if (rc == 0) {
            out->data = buf->data.data;
            out->data_len = buf->data.len;
            if (in->metadata_nonce) {
                out->metadata = buf->metadata.data;
                out->metadata_len = buf->metadata.len;
            }
            out->reveal = EVS_REVEAL_OPENED;
            return out->reveal;
        }
        rc = EVS_SEAL_EAUTH; /* a key that does not open its own event: show it sealed */
    }
    /* 0: the key is not in the table. Anything else (no master key, another master key,
     * the table could not be read) never claims the event erased. */
    out->reveal = rc == 0 ? EVS_REVEAL_ERASED : EVS_REVEAL_SEALED;
    out->data = NULL;
    out->data_len = 0;
    if (in->metadata_nonce) {
        out->metadata = NULL;
        out->metadata_len = 0;
    }
    return out->reveal;
}

/* ---- Start and stop ----------------------------------------------------------------------- */

int evs_keyring_master_id(const evs_keyring *kr, char id_out[EVS_MASTER_KEY_ID_LEN + 1])
{
    if (!kr || !kr->has_master)
        return 0;
    memcpy(id_out, kr->master.id, EVS_MASTER_KEY_ID_LEN + 1);
    return 1;
}

void evs_keyring_stats_get(evs_keyring *kr, evs_keyring_stats *out)
{
    pthread_mutex_lock(&kr->lock);
    *out = kr->stats;
    out->next_offset = kr->next_offset;
    pthread_mutex_unlock(&kr->lock);
}

static int connect_topic(evs_keyring *kr, char *err, size_t err_len)
{
    /* Compacted: the latest record of each key stays. A tombstone stays 7 days, so that a
     * replica away for less still applies it; the segment rolls every hour and is compacted
     * within a day (max.compaction.lag.ms), after which a destroyed key's bytes are gone
     * from Kafka too (docs/ARCHITECTURE.md, "Erasure"). */
    const char *const topic_settings[][2] = {
        {"cleanup.policy", "compact"},
        {"delete.retention.ms", "604800000"},
        {"segment.ms", "3600000"},
        {"max.compaction.lag.ms", "86400000"},
    };
    if (evs_projector_create_topic(kr->p, kr->topic, 1, topic_settings,
                                   sizeof topic_settings / sizeof *topic_settings, err,
                                   err_len) < 0)
        return -1;
    const char *const consumer_settings[][2] = {
        {"group.id", "evstore-projector"}, /* required by librdkafka; never joined */
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"fetch.wait.max.ms", "20"},
    };
    kr->consumer = evs_projector_kafka_client(kr->p, RD_KAFKA_CONSUMER, "key topic", NULL,
                                              consumer_settings,
                                              sizeof consumer_settings / sizeof *consumer_settings,
                                              err, err_len);
    if (!kr->consumer)
        return -1;
    rd_kafka_poll_set_consumer(kr->consumer);
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", EVS_KEYRING_WAIT_MS);
    const char *const producer_settings[][2] = {
        {"message.timeout.ms", timeout}, /* produce() waits no longer (keyring.h) */
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "0"},
        {"socket.nagle.disable", "true"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    kr->producer = evs_projector_kafka_client(kr->p, RD_KAFKA_PRODUCER, "key topic", conf,
                                              producer_settings,
                                              sizeof producer_settings / sizeof *producer_settings,
                                              err, err_len);
    /* The topic's metadata now, so that the first key is not sent a second late (a
     * producer that learns the metadata from its first record waits that long). */
    if (!kr->producer || evs_projector_topic_partitions(kr->producer, kr->topic, err, err_len) < 0)
        return -1;
    int64_t next = 0;
    if (evs_store_key_offset(kr->p->store, &next) < 0) {
        snprintf(err, err_len, "cannot read the key topic's offset from the store");
        return -1;
    }
    kr->next_offset = next;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, kr->topic, 0)->offset =
        next > 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(kr->consumer, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (e) {
        snprintf(err, err_len, "cannot read topic %s: %s", kr->topic, rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

int evs_keyring_start(evs_projector *p, const char *master_key_file, char *err,
                      size_t err_len)
{
    evs_keyring *kr = calloc(1, sizeof *kr);
    if (!kr) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    kr->p = p;
    pthread_mutex_init(&kr->lock, NULL);
    pthread_mutex_init(&kr->create_lock, NULL);
    pthread_cond_init(&kr->applied_cond, NULL);
    pthread_cond_init(&kr->compact_cond, NULL);
    p->keyring = kr;
    snprintf(kr->topic, sizeof kr->topic, "%s%s", p->config.topic, EVS_KEY_TOPIC_SUFFIX);
    if (master_key_file && *master_key_file) {
        if (evs_master_key_load(master_key_file, &kr->master, err, err_len) < 0)
            goto fail;
        kr->has_master = 1;
    }
    int64_t started = mono_ms();
    if (connect_topic(kr, err, err_len) < 0)
        goto fail;
    kr->started = pthread_create(&kr->thread, NULL, applier_thread, kr) == 0;
    kr->compactor_started = pthread_create(&kr->compactor, NULL, compactor_thread, kr) == 0;
    if (!kr->started || !kr->compactor_started) {
        snprintf(err, err_len, "cannot start the key topic's thread");
        goto fail;
    }
    if (evs_keyring_sync(kr, CATCH_UP_TIMEOUT_MS, err, err_len) < 0)
        goto fail;
    fprintf(stderr,
            "evstore-projector: key topic %s: caught up in %lld ms at offset %lld; master key "
            "%s\n",
            kr->topic, (long long)(mono_ms() - started), (long long)kr->next_offset,
            kr->has_master ? kr->master.id : "none (personal data reads as sealed)");
    return 0;
fail:
    evs_keyring_stop(p);
    return -1;
}

void evs_keyring_stop(evs_projector *p)
{
    evs_keyring *kr = p->keyring;
    if (!kr)
        return;
    pthread_mutex_lock(&kr->lock);
    kr->stop = 1;
    pthread_cond_broadcast(&kr->applied_cond);
    pthread_cond_broadcast(&kr->compact_cond);
    pthread_mutex_unlock(&kr->lock);
    if (kr->started)
        pthread_join(kr->thread, NULL);
    if (kr->compactor_started)
        pthread_join(kr->compactor, NULL);
    if (kr->consumer) {
        rd_kafka_consumer_close(kr->consumer);
        rd_kafka_destroy(kr->consumer);
    }
    if (kr->producer) {
        rd_kafka_flush(kr->producer, 5000);
        rd_kafka_destroy(kr->producer);
    }
    for (size_t i = 0; i < KEY_CACHE; i++)
        if (kr->keys[i].used)
            evs_data_key_wipe(&kr->keys[i].dk);
    evs_master_key_wipe(&kr->master);
    pthread_cond_destroy(&kr->applied_cond);
    pthread_cond_destroy(&kr->compact_cond);
    pthread_mutex_destroy(&kr->create_lock);
    pthread_mutex_destroy(&kr->lock);
    free(kr);
    p->keyring = NULL;
}
