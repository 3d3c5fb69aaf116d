/*
 * producer.c - one idempotent librdkafka producer per client, a thread that serves its
 * delivery reports, and a per-record waiter that hands each report to the thread that
 * produced the record.
 *
 * Settings and why (the store relies on them; docs/ARCHITECTURE.md, "Kafka settings"):
 *  - enable.idempotence=true, acks=all: a record acknowledged is on every in-sync replica,
 *    and librdkafka's retries never duplicate or reorder it.
 *  - partitioner=murmur2_random: PINNED. It is the Java client's default partitioner
 *    (murmur2 of the key; random only for a NULL key, which we never send), so a writer in
 *    any language puts a stream on the same partition as we do. Changing it would split a
 *    stream over two partitions and break its ordering; never change it on a live topic.
 *  - message.max.bytes = EVS_TOPIC_MAX_MESSAGE_BYTES: the topic's max.message.bytes, so a
 *    batch the producer builds is never larger than the broker accepts; a single append
 *    record is at most EVS_APPEND_BYTES_MAX, well below it.
 *  - socket.nagle.disable=true, and an adaptive linger (two lanes below): a lone append is
 *    sent at once, while concurrent appends still share produce requests.
 *  - message.timeout.ms = produce_timeout_ms: the bound after which librdkafka gives up
 *    and reports whether the record was possibly persisted.
 *  - The Kafka settings file (evs_client_options.kafka_config_file, kafka_properties.h) is
 *    applied first, so that it can set anything (security.protocol, sasl.*, ssl.*) except
 *    the settings above, which are set after it and win.
 *
 * Two lanes. librdkafka's linger.ms is fixed per producer, so the client keeps two: the
 * batching lane (linger.ms as configured, default 1) and the quick lane (linger.ms=0). A
 * record goes to the quick lane when its sender says it is alone (client.c: no other
 * command of the client runs, and none of another thread ended in the last 5 ms) and no
 * other record is waiting for its delivery report; to the batching lane otherwise. A lone writer never waits for the
 * linger, and appends that run beside others are batched as before: counting only the
 * records waiting for Kafka is not enough, since writers that wait for verdicts would then
 * send alone and cost the broker one produce request (one fsync, with flush.messages=1)
 * each. Each lane is its own
 * idempotent producer (its own producer id, connection and polling thread); records of
 * different lanes were in flight at the same time, so no order between them was promised
 * anyway. With linger.ms=0 configured there is one lane.
 *
 * A refused login (SASL) or TLS handshake reaches the error callback, never a delivery
 * report: the callback notes it, and the polling thread then purges the records still
 * queued (none of them can have been sent over a connection that never authenticated),
 * so that their senders learn EVS_EAUTH at once instead of after message.timeout.ms.
 *
 * The waiter protocol (invariants):
 *  1. Each record's opaque is a heap waiter with two references: the sending thread's and
 *     the delivery report's. Whoever drops the last reference frees it, so a sender that
 *     gives up waiting (a delivery report overdue past the produce timeout, which
 *     librdkafka should never allow) leaves no dangling pointer behind.
 *  2. librdkafka calls the delivery report exactly once per record that rd_kafka_produce()
 *     accepted, on the polling thread (rd_kafka_poll), after which it never touches the
 *     opaque again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "errors.h"
#include "evstore.h"
#include "kafka_properties_apply.h"
#include "producer.h"

/* How long a sender waits for a delivery report beyond message.timeout.ms before it gives
 * the outcome up as unknown: librdkafka scans for timed-out messages about once a second. */
#define DELIVERY_GRACE_MS 10000
/* The polling thread's wait per rd_kafka_poll call; bounds how long close takes to stop it. */
#define POLL_INTERVAL_MS 10
/* How long a sender retries a full local queue before it calls the broker unavailable. */
#define QUEUE_FULL_BACKOFF_MS 5

typedef struct lane {
    evs_producer *owner;
    rd_kafka_t *rk;
    rd_kafka_topic_t *topic;
    pthread_t poller;
    int poller_started;
    int auth_failures_purged; /* polling thread only: failures its purges answered */
    atomic_ulong sent;        /* records this lane accepted */
} lane;

enum { LANE_BATCHING, LANE_QUICK, LANES_MAX };

struct evs_producer {
    lane lanes[LANES_MAX];
    int lane_count;
    atomic_int waiting; /* records between their produce call and their delivery report */
    char *brokers;
    char *topic_name;
    int produce_timeout_ms;
    atomic_int stop;
    atomic_ulong queue_retries;        /* records handed to librdkafka again: queue full */
    int log_to_stderr;                 /* EVSTORE_KAFKA_LOG set: pass librdkafka logs on */
    pthread_mutex_t broker_error_lock; /* guards broker_error */
    char broker_error[256];            /* librdkafka's last error callback text, for messages */
    char auth_error[256];              /* the last refused login or handshake, "" if none;
                                          under broker_error_lock */
    atomic_int auth_failures;          /* refused logins or handshakes seen (any lane) */
};

typedef struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int references; /* see invariant 1 */
    int done;
    rd_kafka_resp_err_t err;
    rd_kafka_msg_status_t status;
    int32_t partition;
    int64_t offset;
} waiter;

static void waiter_unref(waiter *w)
{
    pthread_mutex_lock(&w->lock);
    int left = --w->references;
    pthread_mutex_unlock(&w->lock);
    if (left == 0) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
    }
}

static waiter *waiter_new(void)
{
    waiter *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int ok = pthread_mutex_init(&w->lock, NULL) == 0;
    if (ok && pthread_cond_init(&w->cond, &attr) != 0) {
        pthread_mutex_destroy(&w->lock);
        ok = 0;
    }
    pthread_condattr_destroy(&attr);
    if (!ok) {
        free(w);
        return NULL;
    }
    w->references = 2;
    w->offset = -1;
    w->partition = -1;
    return w;
}

/* Runs on the polling thread (invariant 2). */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque)
{
    waiter *w = message->_private;
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->err = message->err;
    w->status = rd_kafka_message_status(message);
    w->partition = message->partition;
    w->offset = message->offset;
    w->done = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    waiter_unref(w);
}

/* 1 if err is a refused login or TLS handshake: credentials, not the network. */
static int auth_refused(int err)
{
    return err == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
           err == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED ||
           err == RD_KAFKA_RESP_ERR__SSL || err == RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE ||
           err == RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    evs_producer *p = opaque;
    pthread_mutex_lock(&p->broker_error_lock);
    snprintf(p->broker_error, sizeof p->broker_error, "%s", reason);
    if (auth_refused(err))
        snprintf(p->auth_error, sizeof p->auth_error, "%s", reason);
    pthread_mutex_unlock(&p->broker_error_lock);
    if (auth_refused(err))
        atomic_fetch_add(&p->auth_failures, 1);
    if (p->log_to_stderr)
        fprintf(stderr, "evstore: kafka error: %s: %s\n", rd_kafka_err2str(err), reason);
}

static void on_log(const rd_kafka_t *rk, int level, const char *facility, const char *text)
{
    const evs_producer *p = rd_kafka_opaque(rk);
    /* Quiet by default: the CLI and applications report failures through return codes;
     * broker errors also reach on_error and the messages built from it. */
    if (p && p->log_to_stderr)
        fprintf(stderr, "evstore: kafka %d %s: %s\n", level, facility, text);
}

static void *poll_loop(void *arg)
{
    lane *l = arg;
    evs_producer *p = l->owner;
    while (!atomic_load(&p->stop)) {
        rd_kafka_poll(l->rk, POLL_INTERVAL_MS);
        int failures = atomic_load(&p->auth_failures);
        if (failures != l->auth_failures_purged) { /* see the top of this file */
            l->auth_failures_purged = failures;
            rd_kafka_purge(l->rk, RD_KAFKA_PURGE_F_QUEUE);
        }
    }
    return NULL;
}

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        return evs__set_error(EVS_EINVAL, "Kafka producer setting %s=%s refused: %s", name, value,
                              errstr);
    return 0;
}

/* Builds the producer configuration described at the top of this file. On 0 *out is a
 * configuration owned by the caller. */
static int conf_build(const evs_producer_options *options, int linger_ms, rd_kafka_conf_t **out)
{
    int rc;
    char number[32];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    *out = NULL;
    if (!conf)
        return evs__set_error(EVS_ENOMEM, "out of memory configuring the Kafka producer");
    char err[600];
    if (evs_kafka_properties_apply(options->kafka, conf, err, sizeof err) != 0) {
        rc = evs__set_error(EVS_EINVAL, "%s", err);
        goto fail;
    }
    if ((rc = conf_set(conf, "bootstrap.servers", options->brokers)) ||
        (rc = conf_set(conf, "client.id", "libevstore")) ||
        (rc = conf_set(conf, "enable.idempotence", "true")) ||
        (rc = conf_set(conf, "acks", "all")) ||
        (rc = conf_set(conf, "socket.nagle.disable", "true")) ||
        (rc = conf_set(conf, "partitioner", "murmur2_random")))
        goto fail;
    snprintf(number, sizeof number, "%d", linger_ms);
    if ((rc = conf_set(conf, "linger.ms", number)))
        goto fail;
    snprintf(number, sizeof number, "%d", options->produce_timeout_ms);
    if ((rc = conf_set(conf, "message.timeout.ms", number)))
        goto fail;
    /* A produce request should fail over (and be retried idempotently) well within the
     * message timeout rather than after librdkafka's 30 s default. */
    snprintf(number, sizeof number, "%d",
             options->produce_timeout_ms < 30000 ? options->produce_timeout_ms : 30000);
    if ((rc = conf_set(conf, "request.timeout.ms", number)))
        goto fail;
    snprintf(number, sizeof number, "%d", EVS_TOPIC_MAX_MESSAGE_BYTES);
    if ((rc = conf_set(conf, "message.max.bytes", number)))
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    *out = conf;
    return 0;
fail:
    rd_kafka_conf_destroy(conf);
    return rc;
}

int evs__producer_check(const evs_producer_options *options)
{
    rd_kafka_conf_t *conf = NULL;
    int rc = conf_build(options, options->linger_ms, &conf);
    if (conf)
        rd_kafka_conf_destroy(conf);
    return rc;
}

/* Creates lane l with the given linger and starts its polling thread. */
static int lane_open(evs_producer *p, lane *l, const evs_producer_options *options,
                     int linger_ms)
{
    rd_kafka_conf_t *conf = NULL;
    char errstr[512];
    l->owner = p;
    int rc = conf_build(options, linger_ms, &conf);
    if (rc != 0)
        return rc;
    rd_kafka_conf_set_opaque(conf, p);
    l->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!l->rk) {
        rd_kafka_conf_destroy(conf);
        return evs__set_error(EVS_EINVAL, "cannot create the Kafka producer: %s", errstr);
    }
    /* conf is owned by l->rk now */
    l->topic = rd_kafka_topic_new(l->rk, options->topic, NULL);
    if (!l->topic)
        return evs__set_error(EVS_EINVAL, "cannot use topic \"%s\": %s", options->topic,
                              rd_kafka_err2str(rd_kafka_last_error()));
    if (pthread_create(&l->poller, NULL, poll_loop, l) != 0)
        return evs__set_error(EVS_EINTERNAL, "cannot start the delivery-report thread");
    l->poller_started = 1;
    return 0;
}

int evs__producer_open(const evs_producer_options *options, evs_producer **out)
{
    int rc;
    evs_producer *p = NULL;

    *out = NULL;
    p = calloc(1, sizeof *p);
    if (!p)
        return evs__set_error(EVS_ENOMEM, "out of memory opening the Kafka producer");
    if (pthread_mutex_init(&p->broker_error_lock, NULL) != 0) {
        free(p);
        return evs__set_error(EVS_EINTERNAL, "cannot create a mutex");
    }
    /* From here on evs__producer_close(p) undoes whatever was done. */
    atomic_init(&p->stop, 0);
    p->produce_timeout_ms = options->produce_timeout_ms;
    const char *log_env = getenv("EVSTORE_KAFKA_LOG");
    p->log_to_stderr = log_env && log_env[0] && strcmp(log_env, "0") != 0;
    if (!(p->brokers = strdup(options->brokers)) || !(p->topic_name = strdup(options->topic))) {
        rc = evs__set_error(EVS_ENOMEM, "out of memory opening the Kafka producer");
        goto fail;
    }
    p->lane_count = options->linger_ms > 0 ? 2 : 1;
    for (int i = 0; i < p->lane_count; i++)
        if ((rc = lane_open(p, &p->lanes[i], options,
                            i == LANE_QUICK ? 0 : options->linger_ms)) != 0)
            goto fail;
    *out = p;
    return 0;
fail:
    evs__producer_close(p);
    return rc;
}

void evs__producer_close(evs_producer *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, 1);
    for (int i = 0; i < LANES_MAX; i++) {
        lane *l = &p->lanes[i];
        if (l->poller_started)
            pthread_join(l->poller, NULL);
        if (l->rk) {
            /* Serves the remaining delivery reports on this thread. */
            rd_kafka_flush(l->rk, p->produce_timeout_ms + 1000);
            if (l->topic)
                rd_kafka_topic_destroy(l->topic);
            rd_kafka_destroy(l->rk);
        }
    }
    pthread_mutex_destroy(&p->broker_error_lock);
    free(p->brokers);
    free(p->topic_name);
    free(p);
}

static void broker_error_copy(evs_producer *p, char *out, size_t out_len)
{
    pthread_mutex_lock(&p->broker_error_lock);
    snprintf(out, out_len, "%s", p->broker_error[0] ? p->broker_error : "none reported");
    pthread_mutex_unlock(&p->broker_error_lock);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

uint64_t evs__producer_queue_retries(const evs_producer *p)
{
    return atomic_load_explicit(&((evs_producer *)p)->queue_retries, memory_order_relaxed);
}

void evs__producer_lane_counts(const evs_producer *p, uint64_t *quick, uint64_t *batched)
{
    evs_producer *m = (evs_producer *)p;
    *batched = atomic_load(&m->lanes[LANE_BATCHING].sent);
    *quick = m->lane_count > 1 ? atomic_load(&m->lanes[LANE_QUICK].sent) : 0;
}

int evs__producer_send(evs_producer *p, const void *key, size_t key_len, const void *value,
                       size_t value_len, const char *what, int alone, int32_t *partition,
                       int64_t *offset)
{
    int rc;
    char broker_error[256];
    waiter *w = waiter_new();

    *partition = -1;
    *offset = -1;
    if (!w)
        return evs__set_error(EVS_ENOMEM, "out of memory producing %s", what);

    /* The quick lane when no other record is waiting for its report (see the top). */
    int others = atomic_fetch_add(&p->waiting, 1);
    lane *l = &p->lanes[alone && others == 0 && p->lane_count > 1 ? LANE_QUICK : LANE_BATCHING];
    /* Hand the record to librdkafka; retry while its local queue is full. */
    int64_t deadline_ms = monotonic_ms() + p->produce_timeout_ms;
    for (;;) {
        if (rd_kafka_produce(l->topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)value,
                             value_len, key, key_len, w) == 0) {
            atomic_fetch_add(&l->sent, 1);
            break;
        }
        rd_kafka_resp_err_t err = rd_kafka_last_error();
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && monotonic_ms() < deadline_ms) {
            atomic_fetch_add_explicit(&p->queue_retries, 1, memory_order_relaxed);
            sleep_ms(QUEUE_FULL_BACKOFF_MS);
            continue;
        }
        /* Not accepted: no delivery report will come, drop its reference too. */
        atomic_fetch_sub(&p->waiting, 1);
        waiter_unref(w);
        waiter_unref(w);
        if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
            return evs__set_error(EVS_EINVAL,
                                  "%s is too large for Kafka (%zu bytes); nothing "
                                  "was written",
                                  what, value_len);
        broker_error_copy(p, broker_error, sizeof broker_error);
        return evs__set_error(EVS_EUNAVAILABLE,
                              "Kafka producer refused %s: %s (last broker "
                              "error: %s); nothing was written",
                              what, rd_kafka_err2str(err), broker_error);
    }

    /* Wait for the delivery report. */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t wait_ms = (int64_t)p->produce_timeout_ms + DELIVERY_GRACE_MS;
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->lock);
    while (!w->done) {
        if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT)
            break;
    }
    int done = w->done;
    rd_kafka_resp_err_t err = w->err;
    rd_kafka_msg_status_t status = w->status;
    *partition = w->partition;
    *offset = w->offset;
    pthread_mutex_unlock(&w->lock);
    waiter_unref(w);
    atomic_fetch_sub(&p->waiting, 1);

    if (!done) {
        rc = evs__set_error(EVS_EUNKNOWN_OUTCOME,
                            "no delivery report for %s within %lld ms; "
                            "it may or may not have been stored",
                            what, (long long)wait_ms);
        goto fail;
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;

    broker_error_copy(p, broker_error, sizeof broker_error);
    char fatal[256] = "";
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char reason[200];
        rd_kafka_fatal_error(l->rk, reason, sizeof reason);
        snprintf(fatal, sizeof fatal,
                 " (fatal producer error: %s; close and reopen the "
                 "client)",
                 reason);
    }
    char auth_error[256];
    pthread_mutex_lock(&p->broker_error_lock);
    snprintf(auth_error, sizeof auth_error, "%s", p->auth_error);
    pthread_mutex_unlock(&p->broker_error_lock);
    if (err == RD_KAFKA_RESP_ERR__PURGE_QUEUE && auth_error[0]) {
        rc = evs__set_error(EVS_EAUTH,
                            "Kafka at %s refused the client's credentials (authentication "
                            "failed: %s); check sasl.username, sasl.password and ssl.* in the "
                            "Kafka settings file; nothing was written",
                            p->brokers, auth_error);
    } else if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
               err == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE) {
        rc = evs__set_error(EVS_EINVAL, "Kafka refused %s: %s; nothing was written", what,
                            rd_kafka_err2str(err));
    } else if (status == RD_KAFKA_MSG_STATUS_NOT_PERSISTED) {
        const char *hint = err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT
                               ? "; is the broker up and does the topic exist?"
                               : "";
        rc = evs__set_error(EVS_EUNAVAILABLE,
                            "Kafka at %s did not store %s in topic %s: %s%s%s "
                            "(last broker error: %s); nothing was written",
                            p->brokers, what, p->topic_name, rd_kafka_err2str(err), fatal, hint,
                            broker_error);
    } else {
        rc = evs__set_error(EVS_EUNKNOWN_OUTCOME,
                            "Kafka at %s did not confirm %s: %s%s (last "
                            "broker error: %s); it may or may not have been stored",
                            p->brokers, what, rd_kafka_err2str(err), fatal, broker_error);
    }
fail:
    return rc;
}
