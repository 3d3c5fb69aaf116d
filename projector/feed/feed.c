/*
 * feed.c - the accepted-events feed (feed.h, F1..F4).
 *
 * One thread does everything: it polls each served partition's publishers' group (so the
 * rebalance callbacks run here, between batches: F4), finds where the feed of a partition
 * it was given ends (F3), and publishes the store's next accepted events of each partition
 * it holds, one batch at a time (F2). `lock` guards only what evs_feed_partition reads.
 */
#include "feed/feed.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uuid/uuid.h>

#include "accepted_codec.h"
#include "http/http_util.h"

#define ADMIN_TIMEOUT_MS 10000
#define DELIVERY_TIMEOUT_MS 30000
#define IDLE_WAIT_MS 50

typedef struct slot {
    struct evs_feed *feed;
    int32_t k;
    rd_kafka_t *group; /* the publishers' group of partition k (F1) */
    int owned;         /* this projector publishes k now */
    uint64_t next;     /* the next position to publish; 0: read where the feed ends first */
} slot;

struct evs_feed {
    evs_projector *p;
    char topic[512];
    char members_topic[512];
    char member[128];
    int avro;
    rd_kafka_t *producer;
    rd_kafka_t *reader; /* reads the last record of a feed partition (F3) */
    slot *slots;
    size_t count;
    pthread_t thread;
    int started;
    volatile int stop;
    pthread_mutex_t lock; /* guards owned and next for evs_feed_partition */
    int delivery_failed;  /* a record of the current batch was not delivered */
};

/* ---- The publishers' groups (F1, F4) -------------------------------------------------- */

static void set_owned(slot *s, int owned)
{
    pthread_mutex_lock(&s->feed->lock);
    s->owned = owned;
    s->next = 0; /* a new holder reads where the feed ends (F3) */
    pthread_mutex_unlock(&s->feed->lock);
}

static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    slot *s = opaque;
    int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_error_t *e = cooperative ? rd_kafka_incremental_assign(rk, parts) : NULL;
        if (!cooperative)
            rd_kafka_assign(rk, parts);
        if (e) {
            rd_kafka_error_destroy(e);
            return;
        }
        rd_kafka_pause_partitions(rk, parts); /* nothing is read through this group */
        if (parts->cnt > 0) {
            set_owned(s, 1);
            fprintf(stderr, "evstore-projector: feed: publishing partition %d of %s\n",
                    (int)s->k, s->feed->topic);
        }
        return;
    }
    if (parts->cnt > 0 && s->owned) {
        set_owned(s, 0);
        fprintf(stderr, "evstore-projector: feed: partition %d %s\n", (int)s->k,
                rd_kafka_assignment_lost(rk) ? "lost (session timed out)" : "handed over");
    }
    if (cooperative) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
        if (e)
            rd_kafka_error_destroy(e);
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

static int join_group(evs_feed *f, slot *s, char *err, size_t err_len)
{
    char group_id[700], session[32];
    snprintf(group_id, sizeof group_id, "evstore-feed.%s.%d", f->p->config.topic, (int)s->k);
    snprintf(session, sizeof session, "%d", EVS_FEED_SESSION_MS);
    const char *const settings[][2] = {
        {"group.id", group_id},
        {"group.instance.id", f->member},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"session.timeout.ms", session},
        {"heartbeat.interval.ms", "1000"},
        {"enable.auto.commit", "false"},
        {"auto.offset.reset", "latest"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_rebalance_cb(conf, rebalance);
    rd_kafka_conf_set_opaque(conf, s);
    s->group = evs_projector_kafka_client(f->p, RD_KAFKA_CONSUMER, "feed group", conf, settings,
                                          sizeof settings / sizeof *settings, err, err_len);
    if (!s->group)
        return -1;
    rd_kafka_poll_set_consumer(s->group);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, f->members_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(s->group, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e)
        snprintf(err, err_len, "cannot join consumer group %s: %s", group_id, rd_kafka_err2str(e));
    return e ? -1 : 0;
}

/* ---- Where the feed ends (F3) -------------------------------------------------------- */

/* The value of header name of m as a number, or -1. */
static int64_t header_number(const rd_kafka_message_t *m, const char *name)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t n;
    char text[32];
    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &n) ||
        n == 0 || n >= sizeof text)
        return -1;
    memcpy(text, v, n);
    text[n] = 0;
    char *end;
    long long x = strtoll(text, &end, 10);
    return *end || x < 1 ? -1 : x;
}

/* Sets s->next from the feed partition's last record. Returns 0, or -1 (try again later). */
static int find_end(evs_feed *f, slot *s)
{
    int64_t lo, hi;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(f->reader, f->topic, s->k, &lo, &hi, ADMIN_TIMEOUT_MS);
    if (e) {
        fprintf(stderr, "evstore-projector: feed: where partition %d ends: %s\n", (int)s->k,
                rd_kafka_err2str(e));
        return -1;
    }
    uint64_t next = 1;
    if (hi > 0 && hi <= lo) {
        /* Records were deleted from the feed: its end says nothing about what it holds. */
        fprintf(stderr,
                "evstore-projector: feed: partition %d of %s is empty but has held records "
                "(offsets up to %lld): not publishing it; the feed topic must keep every "
                "record\n",
                (int)s->k, f->topic, (long long)hi);
        return -1;
    }
    if (hi > 0) {
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(parts, f->topic, s->k)->offset = hi - 1;
        rd_kafka_assign(f->reader, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        int64_t position = -1;
        for (int i = 0; i < 100 && position < 0 && !f->stop; i++) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(f->reader, 100);
            if (!m)
                continue;
            if (!m->err && m->partition == s->k && m->offset == hi - 1) {
                position = header_number(m, "evstore.position");
                if (position < 0) {
                    fprintf(stderr,
                            "evstore-projector: feed: the last record of partition %d (offset "
                            "%lld) has no evstore.position header: not publishing it\n",
                            (int)s->k, (long long)m->offset);
                    rd_kafka_message_destroy(m);
                    break;
                }
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_assign(f->reader, NULL);
        if (position < 0)
            return -1;
        next = (uint64_t)position + 1;
    }
    pthread_mutex_lock(&f->lock);
    s->next = next;
    pthread_mutex_unlock(&f->lock);
    fprintf(stderr, "evstore-projector: feed: partition %d goes on from position %" PRIu64 "\n",
            (int)s->k, next);
    return 0;
}

/* ---- Publishing (F2) ----------------------------------------------------------------- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    evs_feed *f = opaque;
    if (m->err) {
        if (!f->delivery_failed)
            fprintf(stderr, "evstore-projector: feed: a record was not delivered: %s\n",
                    rd_kafka_err2str(m->err));
        f->delivery_failed = 1;
    }
}

typedef struct batch {
    evs_feed *f;
    slot *s;
    uint64_t expected; /* the next position the batch must see */
    size_t produced;
    int failed;
} batch;

static void header(rd_kafka_headers_t *h, const char *name, const void *v, size_t n)
{
    rd_kafka_header_add(h, name, -1, v, (ssize_t)n);
}

static void header_u64(rd_kafka_headers_t *h, const char *name, uint64_t v)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%" PRIu64, v);
    header(h, name, text, (size_t)n);
}

static int publish_one(void *ctx, const evs_stored_event *e)
{
    batch *b = ctx;
    evs_feed *f = b->f;
    /* A gap is events removed by a lifecycle command before they were published
     * (judge/lifecycle.h): positions are never reused, so only a step back is wrong. */
    if (e->position < b->expected) {
        fprintf(stderr, "evstore-projector: feed: partition %d: position %" PRIu64
                        " where %" PRIu64 " or later was expected; stopping the batch\n",
                (int)b->s->k, e->position, b->expected);
        b->failed = 1;
        return 1;
    }
    char id[37], stream[EVS_STREAM_NAME_MAX + 1], type[EVS_EVENT_TYPE_MAX + 1];
    char content_type[EVS_CONTENT_TYPE_MAX + 1], schema[17];
    uuid_unparse_lower(e->event_id, id);
    snprintf(stream, sizeof stream, "%.*s", (int)e->stream_len, e->stream);
    snprintf(type, sizeof type, "%.*s", (int)e->type_len, e->type);
    snprintf(content_type, sizeof content_type, "%.*s", (int)e->content_type_len,
             e->content_type);
    snprintf(schema, sizeof schema, "%016" PRIx64, evs_accepted_fingerprint());
    rd_kafka_headers_t *h = rd_kafka_headers_new(13);
    header(h, "evstore.type", e->type, e->type_len);
    header(h, "content-type", e->content_type, e->content_type_len);
    header(h, "evstore.stream", e->stream, e->stream_len);
    header_u64(h, "evstore.version", e->version);
    header_u64(h, "evstore.position", e->position);
    header_u64(h, "evstore.partition", (uint64_t)e->partition);
    header(h, "evstore.event_id", id, 36);
    if (e->correlation_id)
        header(h, "evstore.correlation_id", e->correlation_id, e->correlation_id_len);
    if (e->causation_id)
        header(h, "evstore.causation_id", e->causation_id, e->causation_id_len);
    header_u64(h, "evstore.created_us", (uint64_t)e->created_us);
    if (e->subject) {
        /* Personal data stays sealed in the feed (keys/keyring.h): the value is the
         * ciphertext, and these say what opens it. */
        char key_id[37];
        uuid_unparse_lower(e->key_id, key_id);
        header(h, "evstore.subject", e->subject, e->subject_len);
        header(h, "evstore.key_id", key_id, 36);
        header(h, "evstore.data_nonce", e->data_nonce, 24);
        if (e->metadata_nonce)
            header(h, "evstore.metadata_nonce", e->metadata_nonce, 24);
    }
    header(h, "evstore.format", f->avro ? "avro" : "raw", f->avro ? 4 : 3);
    header(h, "evstore.schema", schema, 16);

    evs_buf envelope = {0};
    const void *value = e->data;
    size_t value_len = e->data_len;
    if (f->avro) {
        char correlation[EVS_CORRELATION_ID_MAX + 1], causation[EVS_CORRELATION_ID_MAX + 1];
        snprintf(correlation, sizeof correlation, "%.*s", (int)e->correlation_id_len,
                 e->correlation_id ? e->correlation_id : "");
        snprintf(causation, sizeof causation, "%.*s", (int)e->causation_id_len,
                 e->causation_id ? e->causation_id : "");
        evs_accepted_event a = {stream,
                                e->version,
                                e->position,
                                e->partition,
                                type,
                                id,
                                content_type,
                                e->data,
                                e->data_len,
                                e->metadata,
                                e->metadata_len,
                                e->correlation_id ? correlation : NULL,
                                e->causation_id ? causation : NULL,
                                e->created_us};
        if (evs_accepted_encode(&a, &envelope) < 0) {
            rd_kafka_headers_destroy(h);
            b->failed = 1;
            return 1;
        }
        value = envelope.data;
        value_len = envelope.len;
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(
        f->producer, RD_KAFKA_V_TOPIC(f->topic), RD_KAFKA_V_PARTITION(b->s->k),
        RD_KAFKA_V_KEY(e->stream, e->stream_len), RD_KAFKA_V_VALUE((void *)value, value_len),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    evs_buf_free(&envelope);
    if (err) {
        rd_kafka_headers_destroy(h); /* not taken on failure */
        fprintf(stderr, "evstore-projector: feed: cannot produce: %s\n", rd_kafka_err2str(err));
        b->failed = 1;
        return 1;
    }
    b->produced++;
    b->expected = e->position + 1;
    return 0;
}

/* Publishes the partition's next batch of accepted events. Returns how many. */
static size_t publish_batch(evs_feed *f, slot *s)
{
    evs_projector *p = f->p;
    pthread_mutex_lock(&p->lock);
    uint64_t last = p->last_position[s->k];
    pthread_mutex_unlock(&p->lock);
    if (s->next == 0 || s->next > last)
        return 0;
    batch b = {f, s, s->next, 0, 0};
    f->delivery_failed = 0;
    if (evs_store_read_all(p->store, s->k, s->next, EVS_FEED_BATCH_MAX, publish_one, &b) < 0)
        b.failed = 1;
    /* Every record of the batch delivered before the next batch starts (F2). */
    if (rd_kafka_flush(f->producer, DELIVERY_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
        f->delivery_failed = 1;
    pthread_mutex_lock(&f->lock);
    if (f->delivery_failed || b.failed)
        s->next = 0; /* some may be in the feed: read where it ends again (F3) */
    else
        /* A short batch read to the end: what it did not see up to last was removed. */
        s->next = b.produced < EVS_FEED_BATCH_MAX && b.expected <= last ? last + 1 : b.expected;
    pthread_mutex_unlock(&f->lock);
    return b.produced;
}

static void *feed_thread(void *arg)
{
    evs_feed *f = arg;
    while (!f->stop) {
        uint64_t seen = evs_projector_commits(f->p);
        size_t work = 0;
        for (size_t i = 0; i < f->count && !f->stop; i++) {
            slot *s = &f->slots[i];
            rd_kafka_message_t *m = rd_kafka_consumer_poll(s->group, 0); /* callbacks (F4) */
            if (m)
                rd_kafka_message_destroy(m);
            if (!s->owned)
                continue;
            if (s->next == 0 && find_end(f, s) < 0)
                continue;
            work += publish_batch(f, s);
        }
        if (!work)
            evs_projector_wait_commit(f->p, seen, IDLE_WAIT_MS);
    }
    return NULL;
}

/* ---- Start and stop -------------------------------------------------------------------- */

static int feed_topic(evs_feed *f, char *err, size_t err_len)
{
    /* F3 reads the end of the feed: it must keep every record, like the events topic. */
    if (evs_projector_create_log_topic(f->p, f->topic, f->p->partition_count, err, err_len) < 0)
        return -1;
    int32_t count = evs_projector_topic_partitions(f->reader, f->topic, err, err_len);
    if (count < 0)
        return -1;
    if (count != f->p->partition_count) {
        snprintf(err, err_len,
                 "feed topic %s has %d partitions, the events topic %d: they must be equal "
                 "(feed partition k holds the events of partition k)",
                 f->topic, count, (int)f->p->partition_count);
        return -1;
    }
    return 0;
}

int evs_feed_start(evs_projector *p, const evs_feed_config *config, const char *member_id,
                   char *err, size_t err_len)
{
    if (!config->topic || !*config->topic)
        return 0;
    evs_feed *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    f->p = p;
    f->avro = config->avro;
    pthread_mutex_init(&f->lock, NULL);
    p->feed = f;
    snprintf(f->topic, sizeof f->topic, "%s", config->topic);
    snprintf(f->members_topic, sizeof f->members_topic, "%s.members", p->config.topic);
    snprintf(f->member, sizeof f->member, "%s", member_id);
    char max_bytes[32];
    snprintf(max_bytes, sizeof max_bytes, "%d", EVS_TOPIC_MAX_MESSAGE_BYTES + (64 << 10));
    const char *const producer_settings[][2] = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "5"},
        {"message.max.bytes", max_bytes},
        {"socket.nagle.disable", "true"},
    };
    const char *const reader_settings[][2] = {
        {"group.id", "evstore-projector"}, /* required by librdkafka; never joined */
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "false"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, f);
    f->producer = evs_projector_kafka_client(p, RD_KAFKA_PRODUCER, "feed", conf,
                                             producer_settings,
                                             sizeof producer_settings / sizeof *producer_settings,
                                             err, err_len);
    if (!f->producer)
        goto fail;
    f->reader = evs_projector_kafka_client(p, RD_KAFKA_CONSUMER, "feed reader", NULL,
                                           reader_settings,
                                           sizeof reader_settings / sizeof *reader_settings, err,
                                           err_len);
    if (!f->reader || feed_topic(f, err, err_len) < 0)
        goto fail;
    rd_kafka_poll_set_consumer(f->reader);
    f->slots = calloc((size_t)p->partition_count, sizeof *f->slots);
    if (!f->slots) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    for (int32_t k = 0; k < p->partition_count; k++) {
        if (!p->assigned[k])
            continue;
        slot *s = &f->slots[f->count++];
        s->feed = f;
        s->k = k;
        if (join_group(f, s, err, err_len) < 0)
            goto fail;
    }
    if (pthread_create(&f->thread, NULL, feed_thread, f) != 0) {
        snprintf(err, err_len, "cannot start the feed thread");
        goto fail;
    }
    f->started = 1;
    fprintf(stderr, "evstore-projector: feed: accepted events go to %s (%s values)\n", f->topic,
            f->avro ? "evstore.AcceptedEvent" : "raw data");
    return 0;
fail:
    evs_feed_stop(p);
    return -1;
}

void evs_feed_stop(evs_projector *p)
{
    evs_feed *f = p->feed;
    if (!f)
        return;
    if (f->started) {
        f->stop = 1;
        evs_projector_wake_all(p);
        pthread_join(f->thread, NULL);
    }
    for (size_t i = 0; i < f->count; i++) {
        if (f->slots[i].group) {
            rd_kafka_consumer_close(f->slots[i].group);
            rd_kafka_destroy(f->slots[i].group);
        }
    }
    if (f->producer) {
        rd_kafka_flush(f->producer, DELIVERY_TIMEOUT_MS);
        rd_kafka_destroy(f->producer);
    }
    if (f->reader) {
        rd_kafka_consumer_close(f->reader);
        rd_kafka_destroy(f->reader);
    }
    free(f->slots);
    pthread_mutex_destroy(&f->lock);
    free(f);
    p->feed = NULL;
}

void evs_feed_status(evs_projector *p, evs_out *o)
{
    evs_feed *f = p->feed;
    if (!f) {
        evs_out_str(o, "null");
        return;
    }
    evs_out_str(o, "{\"topic\":");
    evs_out_jstr(o, f->topic, strlen(f->topic));
    evs_out_fmt(o, ",\"format\":\"%s\",\"partitions\":[", f->avro ? "avro" : "raw");
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->count; i++)
        evs_out_fmt(o, "%s{\"partition\":%d,\"publishing\":%s,\"next_position\":%" PRIu64 "}",
                    i ? "," : "", (int)f->slots[i].k, f->slots[i].owned ? "true" : "false",
                    f->slots[i].next);
    pthread_mutex_unlock(&f->lock);
    evs_out_str(o, "]}");
}
