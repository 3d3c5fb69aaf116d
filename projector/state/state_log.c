/*
 * state_log.c - the state topic: a transactional writer, an applier, barriers and the
 * one-time move of old local state (state_log.h, S1..S5).
 *
 * Threads: the writer thread owns the transactional producer and runs one transaction per
 * turn for every write queued since the last one (so concurrent saves share a commit); the
 * applier thread owns the consumer. Callers of evs_state_write queue a request, wait for
 * the writer to finish it, then wait for the applier to pass its offsets. `lock` guards the
 * queue, the applied offsets and the counters.
 */
#include "state/state_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "index/byte_order.h"
#include "member_codec.h"
#include "partitioner.h"
#include "state_codec.h"

#define ADMIN_TIMEOUT_MS 10000
#define INIT_TIMEOUT_MS 30000
#define CATCH_UP_TIMEOUT_MS 60000
#define APPLY_BATCH 1000
#define MOVE_CHUNK 256 /* records per transaction when old local state moves to the topic */
#define COMMIT_ATTEMPTS 3

typedef struct item {
    uint8_t key[EVS_STATE_KEY_MAX];
    size_t key_len;
    evs_buf record; /* empty: a tombstone */
    int32_t partition;
    int64_t offset; /* from the delivery report; -1 until then */
    rd_kafka_resp_err_t err;
} item;

typedef struct request {
    item *items;
    size_t n;
    int done, rc;
    char err[256];
    struct request *next;
} request;

struct evs_state_log {
    evs_projector *p;
    char topic[512];
    char member[EVS_MEMBER_ID_MAX + 1];
    char txn_id[700];
    int32_t partitions;
    rd_kafka_t *producer; /* writer thread only, after start */
    rd_kafka_t *consumer; /* applier thread only, after start */
    pthread_t writer, applier;
    int writer_started, applier_started;
    volatile int stop;
    int64_t nonce;
    int wait_ms; /* EVS_STATE_WAIT_MS, or the test hook's */

    pthread_mutex_t lock;
    pthread_cond_t changed; /* an applied offset moved, or a request is done */
    pthread_cond_t queued;  /* a request was queued */
    int64_t *applied;       /* per partition: the next offset to apply */
    uint64_t generation;    /* group definitions applied */
    uint64_t applied_count, skipped_count;
    request *head, **tail;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void deadline_ts(int64_t deadline_ms, struct timespec *ts)
{
    /* pthread_cond_timedwait's clock is CLOCK_REALTIME: convert the monotonic deadline. */
    int64_t left = deadline_ms - mono_ms();
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += left / 1000;
    ts->tv_nsec += (left % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* ---- Partitions ---------------------------------------------------------------------- */

const char *evs_state_topic(const evs_projector *p)
{
    return p->state_log ? p->state_log->topic : NULL;
}

int32_t evs_state_partition_count(const evs_projector *p)
{
    return p->state_log ? p->state_log->partitions : 0;
}

int32_t evs_state_partition_of(const evs_projector *p, const char *name, size_t len)
{
    return evs_stream_partition(name, len, p->state_log->partitions);
}

uint64_t evs_state_definitions_generation(const evs_projector *p)
{
    evs_state_log *sl = p->state_log;
    if (!sl)
        return 0;
    pthread_mutex_lock(&sl->lock);
    uint64_t g = sl->generation;
    pthread_mutex_unlock(&sl->lock);
    return g;
}

void evs_state_counts(const evs_projector *p, uint64_t *applied, uint64_t *skipped)
{
    evs_state_log *sl = p->state_log;
    *applied = *skipped = 0;
    if (!sl)
        return;
    pthread_mutex_lock(&sl->lock);
    *applied = sl->applied_count;
    *skipped = sl->skipped_count;
    pthread_mutex_unlock(&sl->lock);
}

/* ---- The writer ---------------------------------------------------------------------- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    item *it = m->_private;
    it->err = m->err;
    it->offset = m->err ? -1 : m->offset;
}

static rd_kafka_t *make_producer(evs_state_log *sl, char *err, size_t err_len)
{
    char timeout[32], max_bytes[32];
    snprintf(timeout, sizeof timeout, "%d", EVS_STATE_TXN_TIMEOUT_MS);
    snprintf(max_bytes, sizeof max_bytes, "%d", EVS_SNAPSHOT_DATA_MAX + (1 << 20));
    const char *const settings[][2] = {
        {"transactional.id", sl->txn_id},
        {"transaction.timeout.ms", timeout},
        {"linger.ms", "1"},
        {"message.max.bytes", max_bytes},
        {"socket.nagle.disable", "true"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = evs_projector_kafka_client(sl->p, RD_KAFKA_PRODUCER, "state topic", conf,
                                                settings, sizeof settings / sizeof settings[0],
                                                err, err_len);
    if (!rk)
        return NULL;
    /* Also aborts a transaction a previous run under the same id left open (S3). */
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, INIT_TIMEOUT_MS);
    if (e) {
        snprintf(err, err_len, "state topic %s: cannot start transactions: %s", sl->topic,
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        rd_kafka_destroy(rk);
        return NULL;
    }
    /* The topic's metadata now: a producer that learns it from its first record sends
     * that record only about a second later, and every start waits on that first
     * barrier. */
    if (evs_projector_topic_partitions(rk, sl->topic, err, err_len) < 0) {
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

/* After a failed step: abort when Kafka asks for it, start over with a new producer when
 * the error is fatal (fenced by another projector with the same member id, for one). */
static void recover(evs_state_log *sl, rd_kafka_error_t *e)
{
    if (rd_kafka_error_txn_requires_abort(e)) {
        rd_kafka_error_t *a = rd_kafka_abort_transaction(sl->producer, EVS_STATE_WAIT_MS);
        if (!a)
            return;
        rd_kafka_error_destroy(a);
    } else if (!rd_kafka_error_is_fatal(e)) {
        return;
    }
    char err[512];
    fprintf(stderr, "evstore-projector: state topic %s: %s; reconnecting the writer\n",
            sl->topic, rd_kafka_error_string(e));
    rd_kafka_destroy(sl->producer);
    while (!(sl->producer = make_producer(sl, err, sizeof err)) && !sl->stop) {
        fprintf(stderr, "evstore-projector: %s; trying again\n", err);
        struct timespec pause = {1, 0};
        nanosleep(&pause, NULL);
    }
}

/* One transaction for every item of every request in batch. Returns 0 or -1 with err. */
static int transact(evs_state_log *sl, request *batch, char *err, size_t err_len)
{
    if (!sl->producer) {
        snprintf(err, err_len, "the state topic's writer is not connected");
        return -1;
    }
    rd_kafka_error_t *e = rd_kafka_begin_transaction(sl->producer);
    const char *step = "begin";
    for (request *r = batch; !e && r; r = r->next) {
        for (size_t i = 0; !e && i < r->n; i++) {
            item *it = &r->items[i];
            it->offset = -1;
            it->err = RD_KAFKA_RESP_ERR__IN_PROGRESS;
            rd_kafka_resp_err_t pe = rd_kafka_producev(
                sl->producer, RD_KAFKA_V_TOPIC(sl->topic), RD_KAFKA_V_PARTITION(it->partition),
                RD_KAFKA_V_KEY(it->key, it->key_len),
                RD_KAFKA_V_VALUE(it->record.len ? it->record.data : NULL, it->record.len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(it), RD_KAFKA_V_END);
            if (pe) {
                e = rd_kafka_error_new(pe, "%s", rd_kafka_err2str(pe));
                step = "produce";
            }
        }
    }
    if (!e) {
        /* Serves the delivery reports, which commit_transaction does not. */
        rd_kafka_flush(sl->producer, EVS_STATE_WAIT_MS);
        for (request *r = batch; !e && r; r = r->next)
            for (size_t i = 0; !e && i < r->n; i++)
                if (r->items[i].err) {
                    e = rd_kafka_error_new(r->items[i].err, "%s",
                                           rd_kafka_err2str(r->items[i].err));
                    step = "deliver";
                }
    }
    for (int attempt = 0; !e && attempt < COMMIT_ATTEMPTS; attempt++) {
        e = rd_kafka_commit_transaction(sl->producer, EVS_STATE_WAIT_MS);
        step = "commit";
        if (!e)
            return 0;
        if (!rd_kafka_error_is_retriable(e) || attempt + 1 == COMMIT_ATTEMPTS)
            break;
        rd_kafka_error_destroy(e);
        e = NULL;
    }
    snprintf(err, err_len, "state topic: %s failed: %s", step,
             rd_kafka_error_string(e));
    if (!rd_kafka_error_txn_requires_abort(e) && !rd_kafka_error_is_fatal(e)) {
        /* Not committed, and Kafka did not ask for an abort: abort anyway, so that the next
         * turn starts clean. */
        rd_kafka_error_t *a = rd_kafka_abort_transaction(sl->producer, EVS_STATE_WAIT_MS);
        if (a) {
            recover(sl, a);
            rd_kafka_error_destroy(a);
        }
    } else {
        recover(sl, e);
    }
    rd_kafka_error_destroy(e);
    return -1;
}

static void *writer_thread(void *arg)
{
    evs_state_log *sl = arg;
    for (;;) {
        pthread_mutex_lock(&sl->lock);
        while (!sl->head && !sl->stop)
            pthread_cond_wait(&sl->queued, &sl->lock);
        request *batch = sl->head;
        sl->head = NULL;
        sl->tail = &sl->head;
        pthread_mutex_unlock(&sl->lock);
        if (!batch)
            return NULL; /* stopping, and nothing is queued */
        char err[256] = "";
        int rc = transact(sl, batch, err, sizeof err);
        pthread_mutex_lock(&sl->lock);
        for (request *r = batch, *next; r; r = next) {
            next = r->next; /* r belongs to its waiter once done is set */
            r->rc = rc;
            snprintf(r->err, sizeof r->err, "%s", err);
            r->done = 1;
        }
        pthread_cond_broadcast(&sl->changed);
        pthread_mutex_unlock(&sl->lock);
    }
}

/* Queues r, waits for the writer, then for the applier to pass every offset of it. */
static int run_request(evs_state_log *sl, request *r, int timeout_ms, char *err, size_t err_len)
{
    pthread_mutex_lock(&sl->lock);
    r->next = NULL;
    *sl->tail = r;
    sl->tail = &r->next;
    pthread_cond_signal(&sl->queued);
    while (!r->done)
        pthread_cond_wait(&sl->changed, &sl->lock);
    int rc = r->rc;
    if (rc < 0)
        snprintf(err, err_len, "%s", r->err);
    int64_t deadline = mono_ms() + timeout_ms;
    struct timespec ts;
    deadline_ts(deadline, &ts);
    for (size_t i = 0; rc == 0 && i < r->n; i++) {
        const item *it = &r->items[i];
        while (sl->applied[it->partition] <= it->offset && !sl->stop && mono_ms() < deadline)
            pthread_cond_timedwait(&sl->changed, &sl->lock, &ts);
        if (sl->applied[it->partition] <= it->offset) {
            snprintf(err, err_len,
                     "saved in the state topic, but this projector has not applied it within "
                     "%d ms",
                     timeout_ms);
            rc = -1;
        }
    }
    pthread_mutex_unlock(&sl->lock);
    return rc;
}

static void request_free(request *r)
{
    for (size_t i = 0; i < r->n; i++)
        evs_buf_free(&r->items[i].record);
    free(r->items);
}

int evs_state_write(evs_projector *p, const evs_local_op *ops, size_t n, char *err,
                    size_t err_len)
{
    evs_state_log *sl = p->state_log;
    if (!sl) {
        /* No state topic: a program that embeds the HTTP API without Kafka (the HTTP
         * fuzzer). The projector itself never serves before its state log runs. */
        if (evs_store_local_write(p->store, ops, n) == 0)
            return 0;
        snprintf(err, err_len, "store write failed");
        return -1;
    }
    if (n == 0)
        return 0;
    request r = {calloc(n, sizeof(item)), n, 0, 0, "", NULL};
    int rc = r.items ? 0 : -1;
    snprintf(err, err_len, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        item *it = &r.items[i];
        const char *name;
        size_t name_len;
        if (ops[i].key_len > sizeof it->key ||
            evs_state_key_kind(ops[i].key, ops[i].key_len, &name, &name_len) < 0 ||
            (ops[i].value && evs_state_encode(ops[i].key, ops[i].key_len, ops[i].value,
                                              ops[i].value_len, &it->record) < 0)) {
            snprintf(err, err_len, "cannot encode a state record");
            rc = -1;
            break;
        }
        memcpy(it->key, ops[i].key, ops[i].key_len);
        it->key_len = ops[i].key_len;
        it->partition = evs_stream_partition(name, name_len, sl->partitions);
    }
    if (rc == 0)
        rc = run_request(sl, &r, sl->wait_ms, err, err_len);
    if (r.items)
        request_free(&r);
    return rc;
}

/* Barriers (S3) on partitions[0..n), all written in one transaction and waited for
 * together: one round trip to the broker for the lot. */
static int barriers(evs_state_log *sl, const int32_t *partitions, size_t n, int timeout_ms,
                    char *err, size_t err_len)
{
    request r = {calloc(n, sizeof(item)), n, 0, 0, "", NULL};
    if (!r.items) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        pthread_mutex_lock(&sl->lock);
        int64_t nonce = ++sl->nonce;
        pthread_mutex_unlock(&sl->lock);
        int klen = evs_state_barrier_encode(sl->member, nonce, (char *)r.items[i].key,
                                            &r.items[i].record);
        if (klen < 0) {
            snprintf(err, err_len, "cannot encode a barrier");
            rc = -1;
        }
        r.items[i].key_len = klen < 0 ? 0 : (size_t)klen;
        r.items[i].partition = partitions[i];
    }
    if (rc == 0)
        rc = run_request(sl, &r, timeout_ms, err, err_len);
    request_free(&r);
    return rc;
}

int evs_state_barrier(evs_projector *p, int32_t partition, int timeout_ms, char *err,
                      size_t err_len)
{
    evs_state_log *sl = p->state_log;
    if (!sl || partition < 0 || partition >= sl->partitions) {
        snprintf(err, err_len, "no state partition %d", (int)partition);
        return -1;
    }
    return barriers(sl, &partition, 1, timeout_ms, err, err_len);
}

/* ---- The applier --------------------------------------------------------------------- */

static void offset_key(uint8_t key[6], int32_t partition)
{
    key[0] = 'T';
    key[1] = '/';
    put_be32(key + 2, (uint32_t)partition);
}

/* Applies one batch of records (S1, S4): their pairs and the partitions' new offsets in one
 * store write, retried until it succeeds (a store that cannot be written stops everything
 * else too). */
static void apply_batch(evs_state_log *sl, rd_kafka_message_t **msgs, size_t n)
{
    evs_local_op *ops = calloc(n + (size_t)sl->partitions, sizeof *ops);
    evs_buf *values = calloc(n, sizeof *values);
    int64_t *next = malloc((size_t)sl->partitions * sizeof *next);
    uint8_t(*okeys)[6] = malloc((size_t)sl->partitions * sizeof *okeys);
    uint8_t(*ovals)[8] = malloc((size_t)sl->partitions * sizeof *ovals);
    if (!ops || !values || !next || !okeys || !ovals) {
        fprintf(stderr, "evstore-projector: state topic: out of memory\n");
        abort(); /* nothing sensible is left to do, and the store is consistent */
    }
    for (int32_t i = 0; i < sl->partitions; i++)
        next[i] = -1;
    size_t count = 0, skipped = 0, applied = 0;
    int definitions = 0;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = msgs[i];
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "evstore-projector: state topic: %s\n", rd_kafka_message_errstr(m));
            continue;
        }
        if (m->partition < 0 || m->partition >= sl->partitions)
            continue;
        next[m->partition] = m->offset + 1;
        const char *name;
        size_t name_len;
        int kind = m->key ? evs_state_key_kind(m->key, m->key_len, &name, &name_len) : -1;
        char err[256] = "not a state key";
        evs_state_kind decoded = EVS_STATE_BARRIER;
        if (kind < 0 || (m->payload && evs_state_decode(m->key, m->key_len, m->payload, m->len,
                                                        &decoded, &values[i], err,
                                                        sizeof err) < 0)) {
            fprintf(stderr,
                    "evstore-projector: state topic %s partition %d offset %lld: %s; skipped\n",
                    sl->topic, (int)m->partition, (long long)m->offset, err);
            skipped++;
            continue;
        }
        if (kind == EVS_STATE_BARRIER)
            continue;
        definitions |= kind == EVS_STATE_GROUP_DEFINITION;
        if (m->payload) /* the decoded store value; never NULL, even when empty */
            ops[count++] = (evs_local_op){m->key, m->key_len,
                                          values[i].data ? (void *)values[i].data : (void *)"",
                                          values[i].len};
        else
            ops[count++] = (evs_local_op){m->key, m->key_len, NULL, 0};
        applied++;
    }
    for (int32_t i = 0; i < sl->partitions; i++) {
        if (next[i] < 0)
            continue;
        offset_key(okeys[i], i);
        put_be64(ovals[i], (uint64_t)next[i]);
        ops[count++] = (evs_local_op){okeys[i], 6, ovals[i], 8};
    }
    while (count && evs_store_local_write(sl->p->store, ops, count) < 0 && !sl->stop) {
        fprintf(stderr, "evstore-projector: state topic: store write failed; trying again\n");
        struct timespec pause = {1, 0};
        nanosleep(&pause, NULL);
    }
    pthread_mutex_lock(&sl->lock);
    for (int32_t i = 0; i < sl->partitions; i++)
        if (next[i] >= 0)
            sl->applied[i] = next[i];
    sl->generation += (uint64_t)definitions;
    sl->applied_count += applied;
    sl->skipped_count += skipped;
    pthread_cond_broadcast(&sl->changed);
    pthread_mutex_unlock(&sl->lock);
    for (size_t i = 0; i < n; i++)
        evs_buf_free(&values[i]);
    free(values);
    free(ops);
    free(next);
    free(okeys);
    free(ovals);
}

static void *applier_thread(void *arg)
{
    evs_state_log *sl = arg;
    rd_kafka_message_t **msgs = malloc(APPLY_BATCH * sizeof *msgs);
    if (!msgs)
        return NULL;
    const char *pause_file = sl->p->config.test_pause_file;
    while (!sl->stop) {
        if (pause_file && access(pause_file, F_OK) == 0) {
            /* The test hook of a replica that lags (projector.h): apply nothing meanwhile. */
            struct timespec pause = {0, 20 * 1000000};
            nanosleep(&pause, NULL);
            continue;
        }
        size_t n = 0;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(sl->consumer, 100);
        while (m) {
            msgs[n++] = m;
            m = n < APPLY_BATCH ? rd_kafka_consumer_poll(sl->consumer, 0) : NULL;
        }
        if (n)
            apply_batch(sl, msgs, n);
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(msgs[i]);
    }
    free(msgs);
    return NULL;
}

/* ---- Start: old local state, offsets, catching up ------------------------------------- */

static const char *const state_prefixes[] = {"C/", "S/", "GD/", "GS/"};

typedef struct chunk {
    uint8_t (*keys)[EVS_STATE_KEY_MAX];
    size_t *key_lens;
    char **values;
    size_t *value_lens;
    size_t count;
} chunk;

static int collect(void *ctx, const char *key, size_t key_len, const char *value,
                   size_t value_len)
{
    chunk *c = ctx;
    if (key_len > EVS_STATE_KEY_MAX)
        return 0;
    memcpy(c->keys[c->count], key, key_len);
    c->key_lens[c->count] = key_len;
    if (c->values) {
        c->values[c->count] = malloc(value_len ? value_len : 1);
        if (!c->values[c->count])
            return 1;
        memcpy(c->values[c->count], value, value_len);
        c->value_lens[c->count] = value_len;
    }
    c->count++;
    return c->count == MOVE_CHUNK;
}

static void chunk_clear(chunk *c)
{
    for (size_t i = 0; c->values && i < c->count; i++)
        free(c->values[i]);
    c->count = 0;
}

/* Visits the old local state in chunks: move (write it to the topic) or drop (delete it
 * from the store). Returns the number of records, or -1 with err. */
static long old_state(evs_state_log *sl, int move, char *err, size_t err_len)
{
    chunk c = {malloc(MOVE_CHUNK * sizeof *c.keys), malloc(MOVE_CHUNK * sizeof(size_t)),
               calloc(MOVE_CHUNK, sizeof(char *)), malloc(MOVE_CHUNK * sizeof(size_t)), 0};
    evs_local_op *ops = malloc(MOVE_CHUNK * sizeof *ops);
    long total = 0;
    int rc = c.keys && c.key_lens && c.values && c.value_lens && ops ? 0 : -1;
    for (size_t k = 0; rc == 0 && k < sizeof state_prefixes / sizeof *state_prefixes; k++) {
        const char *prefix = state_prefixes[k];
        uint8_t after[EVS_STATE_KEY_MAX];
        size_t after_len = 0;
        do {
            chunk_clear(&c);
            if (evs_store_local_scan(sl->p->store, prefix, strlen(prefix),
                                     after_len ? after : NULL, after_len, collect, &c) < 0) {
                rc = -1;
                break;
            }
            for (size_t i = 0; i < c.count; i++)
                ops[i] = (evs_local_op){c.keys[i], c.key_lens[i], move ? c.values[i] : NULL,
                                        move ? c.value_lens[i] : 0};
            if (c.count && (move ? evs_state_write(sl->p, ops, c.count, err, err_len)
                                 : evs_store_local_write(sl->p->store, ops, c.count)) < 0)
                rc = -1;
            if (c.count) {
                after_len = c.key_lens[c.count - 1];
                memcpy(after, c.keys[c.count - 1], after_len);
            }
            total += (long)c.count;
        } while (rc == 0 && c.count == MOVE_CHUNK);
    }
    chunk_clear(&c);
    free(c.keys);
    free(c.key_lens);
    free(c.values);
    free(c.value_lens);
    free(ops);
    if (rc < 0 && !err[0])
        snprintf(err, err_len, "cannot read or write the local state");
    return rc < 0 ? -1 : total;
}

static int any_key(void *ctx, const char *key, size_t key_len, const char *value, size_t vlen)
{
    (void)key, (void)key_len, (void)value, (void)vlen;
    *(int *)ctx = 1;
    return 1;
}

static int has_keys(evs_store *store, const char *prefix, int *out)
{
    *out = 0;
    return evs_store_local_scan(store, prefix, strlen(prefix), NULL, 0, any_key, out);
}

static int topic_is_empty(evs_state_log *sl, int *empty, char *err, size_t err_len)
{
    *empty = 1;
    for (int32_t i = 0; i < sl->partitions; i++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e = 0;
        if (evs_projector_partition_ends(sl->consumer, sl->topic, i, &lo, &hi,
                                         ADMIN_TIMEOUT_MS, &e) < 0) {
            snprintf(err, err_len, "state topic %s: %s", sl->topic, rd_kafka_err2str(e));
            return -1;
        }
        if (hi > 0)
            *empty = 0;
    }
    return 0;
}

static int partition_count(evs_state_log *sl, char *err, size_t err_len)
{
    sl->partitions = evs_projector_topic_partitions(sl->consumer, sl->topic, err, err_len);
    return sl->partitions > 0 ? 0 : -1;
}

/* Assigns every partition to the consumer from the stored offsets (S1). */
static int assign(evs_state_log *sl, char *err, size_t err_len)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(sl->partitions);
    for (int32_t i = 0; i < sl->partitions; i++) {
        uint8_t key[6];
        char *value = NULL;
        size_t len = 0;
        offset_key(key, i);
        if (evs_store_local_get(sl->p->store, key, sizeof key, &value, &len) < 0) {
            rd_kafka_topic_partition_list_destroy(parts);
            snprintf(err, err_len, "cannot read the state topic's offsets from the store");
            return -1;
        }
        int64_t offset = value && len == 8 ? (int64_t)get_be64((uint8_t *)value)
                                           : RD_KAFKA_OFFSET_BEGINNING;
        free(value);
        sl->applied[i] = offset < 0 ? 0 : offset;
        rd_kafka_topic_partition_list_add(parts, sl->topic, i)->offset = offset;
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(sl->consumer, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (e)
        snprintf(err, err_len, "cannot read topic %s: %s", sl->topic, rd_kafka_err2str(e));
    return e ? -1 : 0;
}

static int connect_topic(evs_state_log *sl, char *err, size_t err_len)
{
    char max_bytes[32];
    snprintf(max_bytes, sizeof max_bytes, "%d", EVS_SNAPSHOT_DATA_MAX + (1 << 20));
    /* Only the latest record of each key is needed; a deleted key's tombstone stays a day
     * so that a replica that was away that long still sees the delete. */
    const char *const topic_settings[][2] = {
        {"cleanup.policy", "compact"},
        {"delete.retention.ms", "86400000"},
        {"max.message.bytes", max_bytes},
        {"segment.ms", "3600000"},
    };
    if (evs_projector_create_topic(sl->p, sl->topic, EVS_STATE_PARTITIONS, topic_settings,
                                   sizeof topic_settings / sizeof topic_settings[0], err,
                                   err_len) < 0)
        return -1;
    const char *const consumer_settings[][2] = {
        {"group.id", "evstore-projector"}, /* required by librdkafka; never joined */
        {"isolation.level", "read_committed"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"fetch.wait.max.ms", "20"},
    };
    sl->consumer = evs_projector_kafka_client(sl->p, RD_KAFKA_CONSUMER, "state topic", NULL,
                                              consumer_settings,
                                              sizeof consumer_settings / sizeof *consumer_settings,
                                              err, err_len);
    if (!sl->consumer)
        return -1;
    rd_kafka_poll_set_consumer(sl->consumer);
    if (partition_count(sl, err, err_len) < 0)
        return -1;
    sl->applied = calloc((size_t)sl->partitions, sizeof *sl->applied);
    if (!sl->applied) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    sl->producer = make_producer(sl, err, err_len);
    return sl->producer ? 0 : -1;
}

int evs_state_log_start(evs_projector *p, const char *member_id, char *err, size_t err_len)
{
    evs_state_log *sl = calloc(1, sizeof *sl);
    if (!sl) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    sl->p = p;
    sl->tail = &sl->head;
    pthread_mutex_init(&sl->lock, NULL);
    pthread_cond_init(&sl->changed, NULL);
    pthread_cond_init(&sl->queued, NULL);
    p->state_log = sl;
    snprintf(sl->topic, sizeof sl->topic, "%s.state", p->config.topic);
    sl->wait_ms = p->config.test_state_wait_ms > 0 ? p->config.test_state_wait_ms
                                                   : EVS_STATE_WAIT_MS;
    snprintf(sl->member, sizeof sl->member, "%s", member_id);
    snprintf(sl->txn_id, sizeof sl->txn_id, "evstore-state.%s.%s", p->config.topic, member_id);
    int64_t started = mono_ms();
    if (connect_topic(sl, err, err_len) < 0)
        goto fail;

    /* S5: old local state, before anything is applied. */
    int applied_before = 0, old = 0, empty = 1;
    for (size_t k = 0; k < sizeof state_prefixes / sizeof *state_prefixes && !old; k++)
        if (has_keys(p->store, state_prefixes[k], &old) < 0)
            goto store_failed;
    if (has_keys(p->store, "T/", &applied_before) < 0)
        goto store_failed;
    int move = old && !applied_before;
    if (move && topic_is_empty(sl, &empty, err, err_len) < 0)
        goto fail;
    if (move && !empty) {
        long dropped = old_state(sl, 0, err, err_len);
        if (dropped < 0)
            goto fail;
        fprintf(stderr,
                "evstore-projector: state topic %s already holds saved state: it replaces the "
                "%ld records of this store's own\n",
                sl->topic, dropped);
        move = 0;
    }
    if (assign(sl, err, err_len) < 0)
        goto fail;
    sl->applier_started = pthread_create(&sl->applier, NULL, applier_thread, sl) == 0;
    sl->writer_started = pthread_create(&sl->writer, NULL, writer_thread, sl) == 0;
    if (!sl->applier_started || !sl->writer_started) {
        snprintf(err, err_len, "cannot start the state topic's threads");
        goto fail;
    }
    if (move) {
        long moved = old_state(sl, 1, err, err_len);
        if (moved < 0)
            goto fail;
        fprintf(stderr,
                "evstore-projector: moved %ld records of saved state (checkpoints, snapshots, "
                "consumer groups) from the store to topic %s, once\n",
                moved, sl->topic);
    }
    int32_t *all = malloc((size_t)sl->partitions * sizeof *all);
    if (!all) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    for (int32_t i = 0; i < sl->partitions; i++)
        all[i] = i;
    int caught_up = barriers(sl, all, (size_t)sl->partitions, CATCH_UP_TIMEOUT_MS, err, err_len);
    free(all);
    if (caught_up < 0)
        goto fail;
    uint64_t applied, skipped;
    evs_state_counts(p, &applied, &skipped);
    fprintf(stderr,
            "evstore-projector: state topic %s (%d partitions): caught up in %lld ms, %llu "
            "records applied\n",
            sl->topic, (int)sl->partitions, (long long)(mono_ms() - started),
            (unsigned long long)applied);
    return 0;
store_failed:
    snprintf(err, err_len, "cannot read the local state from the store");
fail:
    evs_state_log_stop(p);
    return -1;
}

void evs_state_log_stop(evs_projector *p)
{
    evs_state_log *sl = p->state_log;
    if (!sl)
        return;
    pthread_mutex_lock(&sl->lock);
    sl->stop = 1;
    pthread_cond_broadcast(&sl->queued);
    pthread_cond_broadcast(&sl->changed);
    pthread_mutex_unlock(&sl->lock);
    if (sl->writer_started)
        pthread_join(sl->writer, NULL);
    if (sl->applier_started)
        pthread_join(sl->applier, NULL);
    if (sl->consumer) {
        rd_kafka_consumer_close(sl->consumer);
        rd_kafka_destroy(sl->consumer);
    }
    if (sl->producer)
        rd_kafka_destroy(sl->producer);
    free(sl->applied);
    pthread_cond_destroy(&sl->changed);
    pthread_cond_destroy(&sl->queued);
    pthread_mutex_destroy(&sl->lock);
    free(sl);
    p->state_log = NULL;
}
