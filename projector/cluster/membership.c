/*
 * membership.c - the members topic and GET /cluster (membership.h).
 */
#include "cluster/membership.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "groups/coordinator.h"
#include "member_codec.h"
#include "state/state_log.h"

/* State partitions one member lists as coordinated. */
#define EVS_COORDINATED_MAX 1024

/* A heartbeat that Kafka has not taken within this long is dropped: the next one follows. */
#define HEARTBEAT_DELIVERY_MS 5000
/* The STOPPED record at shutdown waits at most this long. */
#define STOP_FLUSH_MS 3000

typedef struct entry {
    evs_member m;
    int64_t ts_ms; /* the record's Kafka timestamp (broker time, LogAppendTime) */
} entry;

struct evs_membership {
    evs_projector *p;
    char id[EVS_MEMBER_ID_MAX + 1];
    char url[EVS_MEMBER_URL_MAX + 1];
    char topic[512];
    int lease_ms;
    int64_t started_us;
    rd_kafka_t *producer;
    rd_kafka_t *consumer;
    pthread_t thread;
    int thread_started;
    volatile int stop;

    pthread_mutex_t lock; /* guards the table and last_beat_ms (M2) */
    entry *entries;
    size_t count, cap;
    int64_t last_beat_ms; /* when this member's last heartbeat was handed to Kafka */
};

static int64_t wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- This member's record ------------------------------------------------------------ */

/* Builds this member's record from the projector's published state (M2). The arrays are
 * malloc'd; evs_member_clear frees them. */
static int self_record(evs_membership *ms, evs_member_state state, evs_member *m)
{
    evs_projector *p = ms->p;
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "%s", ms->id);
    snprintf(m->url, sizeof m->url, "%s", ms->url);
    snprintf(m->topic, sizeof m->topic, "%s", p->config.topic);
    m->partition_count = p->partition_count;
    m->served = malloc((size_t)p->partition_count * sizeof *m->served);
    m->applied = malloc((size_t)p->partition_count * sizeof *m->applied);
    m->coordinated = malloc(EVS_COORDINATED_MAX * sizeof *m->coordinated);
    if (!m->served || !m->applied || !m->coordinated) {
        evs_member_clear(m);
        return -1;
    }
    pthread_mutex_lock(&p->lock);
    for (int32_t i = 0; i < p->partition_count; i++) {
        if (!p->assigned[i])
            continue;
        m->served[m->served_count] = i;
        m->applied[m->served_count++] = p->next_offset[i];
    }
    if (state == EVS_MEMBER_RUNNING && p->failure[0])
        state = EVS_MEMBER_FAILED;
    pthread_mutex_unlock(&p->lock);
    m->coordinated_count = evs_coordinator_partitions(p, m->coordinated, EVS_COORDINATED_MAX);
    m->lease_ms = ms->lease_ms;
    m->state = state;
    m->started_us = ms->started_us;
    m->heartbeat_us = wall_us();
    return 0;
}

static void announce(evs_membership *ms, evs_member_state state)
{
    evs_member m;
    evs_buf buf = {0};
    if (self_record(ms, state, &m) < 0)
        return;
    if (evs_member_encode(&m, &buf) == 0) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            ms->producer, RD_KAFKA_V_TOPIC(ms->topic), RD_KAFKA_V_KEY(ms->id, strlen(ms->id)),
            RD_KAFKA_V_VALUE(buf.data, buf.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        if (e == 0) {
            pthread_mutex_lock(&ms->lock);
            ms->last_beat_ms = mono_ms();
            pthread_mutex_unlock(&ms->lock);
        }
    }
    evs_buf_free(&buf);
    evs_member_clear(&m);
}

/* ---- Everyone's records -------------------------------------------------------------- */

static void table_put(evs_membership *ms, evs_member *m, int64_t ts_ms)
{
    pthread_mutex_lock(&ms->lock);
    size_t i = 0;
    while (i < ms->count && strcmp(ms->entries[i].m.id, m->id))
        i++;
    if (i == ms->count) {
        if (ms->count == ms->cap) {
            size_t cap = ms->cap ? ms->cap * 2 : 8;
            entry *e = realloc(ms->entries, cap * sizeof *e);
            if (!e) {
                pthread_mutex_unlock(&ms->lock);
                evs_member_clear(m);
                return;
            }
            ms->entries = e;
            ms->cap = cap;
        }
        ms->count++;
    } else {
        evs_member_clear(&ms->entries[i].m);
    }
    ms->entries[i].m = *m; /* takes the arrays */
    ms->entries[i].ts_ms = ts_ms;
    pthread_mutex_unlock(&ms->lock);
}

static void table_remove(evs_membership *ms, const char *id, size_t len)
{
    pthread_mutex_lock(&ms->lock);
    for (size_t i = 0; i < ms->count; i++) {
        if (strlen(ms->entries[i].m.id) == len && !memcmp(ms->entries[i].m.id, id, len)) {
            evs_member_clear(&ms->entries[i].m);
            ms->entries[i] = ms->entries[--ms->count];
            break;
        }
    }
    pthread_mutex_unlock(&ms->lock);
}

static void receive(evs_membership *ms, const rd_kafka_message_t *msg)
{
    if (msg->err) {
        if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            fprintf(stderr, "evstore-projector: members topic: %s\n",
                    rd_kafka_message_errstr(msg));
        return;
    }
    if (!msg->key || msg->key_len == 0)
        return;
    if (!msg->payload) { /* a tombstone: the member was removed */
        table_remove(ms, msg->key, msg->key_len);
        return;
    }
    evs_member m;
    char err[256];
    if (evs_member_decode(msg->payload, msg->len, &m, err, sizeof err) < 0) {
        fprintf(stderr, "evstore-projector: members topic offset %lld: %s; ignored\n",
                (long long)msg->offset, err);
        return;
    }
    if (strlen(m.id) != msg->key_len || memcmp(m.id, msg->key, msg->key_len) ||
        strcmp(m.topic, ms->p->config.topic)) {
        evs_member_clear(&m); /* another topic's member, or a key that lies */
        return;
    }
    rd_kafka_timestamp_type_t type;
    int64_t ts = rd_kafka_message_timestamp(msg, &type);
    table_put(ms, &m, ts >= 0 ? ts : m.heartbeat_us / 1000);
}

static void *membership_thread(void *arg)
{
    evs_membership *ms = arg;
    int64_t next_beat = 0;
    while (!ms->stop) {
        int64_t now = mono_ms();
        if (now >= next_beat) {
            announce(ms, EVS_MEMBER_RUNNING);
            next_beat = now + EVS_HEARTBEAT_MS;
        }
        rd_kafka_poll(ms->producer, 0);
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(ms->consumer, 100);
        while (msg) {
            receive(ms, msg);
            rd_kafka_message_destroy(msg);
            msg = rd_kafka_consumer_poll(ms->consumer, 0);
        }
    }
    return NULL;
}

/* ---- Start and stop ---------------------------------------------------------------- */

/* The default id and URL from the --http address (membership.h). Returns -1, with the
 * reason in err, when the id or the URL would not fit: cut short, they would name another
 * member or a wrong address. */
static int defaults(evs_projector *p, const evs_membership_config *c, evs_membership *ms,
                    char *err, size_t err_len)
{
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    const char *address = p->config.http_address;
    const char *colon = strrchr(address, ':');
    const char *port = colon ? colon + 1 : "18080";
    const char *scheme = p->config.tls_cert_file ? "https" : "http";
    int n;
    if (c->id && *c->id)
        n = snprintf(ms->id, sizeof ms->id, "%s", c->id);
    else
        n = snprintf(ms->id, sizeof ms->id, "%s:%s", host, port);
    if (n < 0 || (size_t)n >= sizeof ms->id) {
        snprintf(err, err_len, "the member id is longer than %d characters: %s%s",
                 EVS_MEMBER_ID_MAX, c->id && *c->id ? "" : "it is HOST:PORT by default, ",
                 "give a shorter one with --member-id");
        return -1;
    }
    if (c->url && *c->url)
        n = snprintf(ms->url, sizeof ms->url, "%s", c->url);
    else if (!strncmp(address, "0.0.0.0:", 8))
        n = snprintf(ms->url, sizeof ms->url, "%s://%s:%s", scheme, host, port);
    else
        n = snprintf(ms->url, sizeof ms->url, "%s://%s", scheme, address);
    if (n < 0 || (size_t)n >= sizeof ms->url) {
        snprintf(err, err_len, "the advertised URL is longer than %d characters: give a "
                 "shorter one with --advertise", EVS_MEMBER_URL_MAX);
        return -1;
    }
    while (ms->url[0] && ms->url[strlen(ms->url) - 1] == '/')
        ms->url[strlen(ms->url) - 1] = 0;
    return 0;
}

int evs_membership_start(evs_projector *p, const evs_membership_config *config, char *err,
                         size_t err_len)
{
    evs_membership *ms = calloc(1, sizeof *ms);
    if (!ms) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    ms->p = p;
    ms->lease_ms = config->lease_ms > 0 ? config->lease_ms : EVS_LEASE_MS_DEFAULT;
    ms->started_us = wall_us();
    pthread_mutex_init(&ms->lock, NULL);
    p->membership = ms;
    if (defaults(p, config, ms, err, err_len) < 0)
        goto fail;
    snprintf(ms->topic, sizeof ms->topic, "%s.members", p->config.topic);
    if (!evs_member_id_valid(ms->id, strlen(ms->id))) {
        snprintf(err, err_len, "invalid member id '%s': use 1 to %d of letters, digits and "
                 "_.:@- (--member-id)", ms->id, EVS_MEMBER_ID_MAX);
        goto fail;
    }
    if (strncmp(ms->url, "http://", 7) && strncmp(ms->url, "https://", 8)) {
        snprintf(err, err_len, "invalid --advertise URL '%s': expected http://HOST:PORT", ms->url);
        goto fail;
    }
    /* Every member record must stay while its member may come back; only a newer record
     * of the same member (or a tombstone) replaces it. */
    const char *const topic_settings[][2] = {
        {"cleanup.policy", "compact"},
        {"message.timestamp.type", "LogAppendTime"},
        {"segment.ms", "600000"},
    };
    if (evs_projector_create_topic(p, ms->topic, 1, topic_settings,
                                   sizeof topic_settings / sizeof topic_settings[0], err,
                                   err_len) < 0)
        goto fail;
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%d", HEARTBEAT_DELIVERY_MS);
    /* Advisory records (M3): a heartbeat needs only the leader; a lost one is replaced. */
    const char *const producer_settings[][2] = {
        {"acks", "1"},
        {"linger.ms", "0"},
        {"message.timeout.ms", timeout},
        {"socket.nagle.disable", "true"},
    };
    const char *const consumer_settings[][2] = {
        {"group.id", "evstore-projector"}, /* required by librdkafka; never joined */
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"fetch.wait.max.ms", "100"},
    };
    ms->producer = evs_projector_kafka_client(p, RD_KAFKA_PRODUCER, "members topic", NULL,
                                              producer_settings,
                                              sizeof producer_settings / sizeof producer_settings[0],
                                              err, err_len);
    if (!ms->producer)
        goto fail;
    ms->consumer = evs_projector_kafka_client(p, RD_KAFKA_CONSUMER, "members topic", NULL,
                                              consumer_settings,
                                              sizeof consumer_settings / sizeof consumer_settings[0],
                                              err, err_len);
    if (!ms->consumer)
        goto fail;
    rd_kafka_poll_set_consumer(ms->consumer);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, ms->topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(ms->consumer, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (e) {
        snprintf(err, err_len, "cannot read topic %s: %s", ms->topic, rd_kafka_err2str(e));
        goto fail;
    }
    return 0;
fail:
    evs_membership_stop(p);
    return -1;
}

int evs_membership_announce(evs_projector *p, char *err, size_t err_len)
{
    evs_membership *ms = p->membership;
    if (pthread_create(&ms->thread, NULL, membership_thread, ms) != 0) {
        snprintf(err, err_len, "cannot start the membership thread");
        return -1;
    }
    ms->thread_started = 1;
    fprintf(stderr, "evstore-projector: member %s at %s (topic %s)\n", ms->id, ms->url, ms->topic);
    return 0;
}

const char *evs_membership_id(const evs_projector *p)
{
    return p->membership ? p->membership->id : NULL;
}

void evs_membership_stop(evs_projector *p)
{
    evs_membership *ms = p->membership;
    if (!ms)
        return;
    if (ms->thread_started) {
        ms->stop = 1;
        pthread_join(ms->thread, NULL);
        announce(ms, EVS_MEMBER_STOPPED);
        rd_kafka_flush(ms->producer, STOP_FLUSH_MS);
    }
    if (ms->consumer) {
        rd_kafka_consumer_close(ms->consumer);
        rd_kafka_destroy(ms->consumer);
    }
    if (ms->producer)
        rd_kafka_destroy(ms->producer);
    for (size_t i = 0; i < ms->count; i++)
        evs_member_clear(&ms->entries[i].m);
    free(ms->entries);
    pthread_mutex_destroy(&ms->lock);
    free(ms);
    p->membership = NULL;
}

/* ---- GET /cluster -------------------------------------------------------------------- */

static const char *state_name(evs_member_state s)
{
    return s == EVS_MEMBER_RUNNING ? "running" : s == EVS_MEMBER_FAILED ? "failed" : "stopped";
}

void evs_membership_counts(const evs_projector *p, size_t *members, size_t *live)
{
    evs_membership *ms = p->membership;
    *members = *live = 0;
    if (!ms)
        return;
    int64_t now_ms = wall_us() / 1000;
    pthread_mutex_lock(&ms->lock);
    *members = *live = 1; /* this projector, running while it answers */
    for (size_t i = 0; i < ms->count; i++) {
        const entry *e = &ms->entries[i];
        if (!strcmp(e->m.id, ms->id))
            continue;
        (*members)++;
        int64_t age = now_ms - e->ts_ms;
        if (e->m.state == EVS_MEMBER_RUNNING && e->m.lease_ms > 0 && age <= e->m.lease_ms)
            (*live)++;
    }
    pthread_mutex_unlock(&ms->lock);
}

static void out_member(evs_out *o, const evs_member *m, int live, int64_t age_ms)
{
    evs_out_str(o, "{\"id\":");
    evs_out_jstr(o, m->id, strlen(m->id));
    evs_out_str(o, ",\"url\":");
    evs_out_jstr(o, m->url, strlen(m->url));
    evs_out_str(o, ",\"partitions\":[");
    for (size_t i = 0; i < m->served_count; i++)
        evs_out_fmt(o, "%s%d", i ? "," : "", (int)m->served[i]);
    evs_out_str(o, "],\"applied\":{");
    for (size_t i = 0; i < m->served_count; i++)
        evs_out_fmt(o, "%s\"%d\":%lld", i ? "," : "", (int)m->served[i],
                    (long long)m->applied[i]);
    evs_out_str(o, "},\"coordinates\":[");
    for (size_t i = 0; i < m->coordinated_count; i++)
        evs_out_fmt(o, "%s%d", i ? "," : "", (int)m->coordinated[i]);
    evs_out_fmt(o, "],\"live\":%s,\"heartbeat_age_ms\":%lld,\"state\":\"%s\"}",
                live ? "true" : "false", (long long)(age_ms > 0 ? age_ms : 0),
                state_name(m->state));
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->m.id, ((const entry *)b)->m.id);
}

enum MHD_Result evs_cluster_handle(const evs_http_request *r)
{
    evs_projector *p = r->projector;
    evs_membership *ms = p->membership;
    if (!ms)
        return evs_http_send_error(r->connection, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                   "membership is not running on this projector");
    evs_member self;
    if (self_record(ms, EVS_MEMBER_RUNNING, &self) < 0)
        return evs_http_send_error(r->connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    int64_t now_ms = wall_us() / 1000;
    evs_out o = {0};
    evs_out_str(&o, "{\"topic\":");
    evs_out_jstr(&o, p->config.topic, strlen(p->config.topic));
    evs_out_fmt(&o, ",\"partitions\":%d,\"state_partitions\":%d,\"self\":",
                (int)p->partition_count, (int)evs_state_partition_count(p));
    evs_out_jstr(&o, ms->id, strlen(ms->id));
    evs_out_fmt(&o, ",\"lease_ms\":%d,\"members\":[", ms->lease_ms);

    pthread_mutex_lock(&ms->lock);
    int64_t self_age = ms->last_beat_ms ? mono_ms() - ms->last_beat_ms : 0;
    entry *sorted = malloc((ms->count + 1) * sizeof *sorted);
    size_t n = 0;
    if (sorted) {
        for (size_t i = 0; i < ms->count; i++)
            if (strcmp(ms->entries[i].m.id, ms->id))
                sorted[n++] = ms->entries[i];
        sorted[n].m = self;
        sorted[n++].ts_ms = now_ms - self_age;
        qsort(sorted, n, sizeof *sorted, by_id);
        for (size_t i = 0; i < n; i++) {
            const entry *e = &sorted[i];
            int is_self = !strcmp(e->m.id, ms->id);
            int64_t age = now_ms - e->ts_ms;
            int live = e->m.state == EVS_MEMBER_RUNNING &&
                       (is_self || (age <= e->m.lease_ms && e->m.lease_ms > 0));
            if (i)
                evs_out_str(&o, ",");
            out_member(&o, &e->m, live, age);
        }
    } else {
        o.oom = 1;
    }
    pthread_mutex_unlock(&ms->lock);
    free(sorted);
    evs_member_clear(&self);
    evs_out_str(&o, "]}");
    return evs_http_send_json(r->connection, MHD_HTTP_OK, &o);
}
