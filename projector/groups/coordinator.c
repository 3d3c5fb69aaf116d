/*
 * coordinator.c - the coordinators' Kafka consumer group (coordinator.h, K1..K3).
 *
 * The rebalance callback runs on the coordinator thread, inside rd_kafka_consumer_poll;
 * `lock` guards the per-partition table, which request threads read.
 */
#include "groups/coordinator.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/membership.h"
#include "groups/groups.h"
#include "state/state_log.h"

typedef struct slot {
    int owned;
    int ready; /* the K1 barrier of this epoch is applied */
    uint64_t epoch;
} slot;

struct evs_coordinator {
    evs_projector *p;
    char group_id[600];
    rd_kafka_t *consumer;
    pthread_t thread;
    int thread_started;
    volatile int stop;
    pthread_mutex_t lock;
    pthread_cond_t first;   /* broadcast at the first assignment */
    int assigned_once;
    int32_t count;
    slot *slots;
};

/* Marks the listed partitions owned or not (K2, K3). */
static void mark(evs_coordinator *c, const rd_kafka_topic_partition_list_t *parts, int owned)
{
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < parts->cnt; i++) {
        int32_t k = parts->elems[i].partition;
        if (k < 0 || k >= c->count)
            continue;
        c->slots[k].owned = owned;
        c->slots[k].ready = 0;
        c->slots[k].epoch++;
    }
    if (owned) {
        c->assigned_once = 1;
        pthread_cond_broadcast(&c->first);
    }
    pthread_mutex_unlock(&c->lock);
}

static void log_change(evs_coordinator *c, const char *what,
                       const rd_kafka_topic_partition_list_t *parts)
{
    char list[512] = "";
    size_t len = 0;
    for (int i = 0; i < parts->cnt && len < sizeof list - 16; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%d", i ? "," : "",
                                (int)parts->elems[i].partition);
    fprintf(stderr, "evstore-projector: consumer-group coordination: %s state partitions %s\n",
            what, parts->cnt ? list : "(none)");
}

static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    evs_coordinator *c = opaque;
    int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_error_t *e = NULL;
        if (cooperative)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        if (e) {
            fprintf(stderr, "evstore-projector: coordination: %s\n", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            return;
        }
        /* Nothing is read through this consumer. */
        rd_kafka_pause_partitions(rk, parts);
        mark(c, parts, 1);
        if (parts->cnt)
            log_change(c, "took", parts);
        return;
    }
    /* Revoked or lost: not ours from now on, then drop what we hold (K2). */
    mark(c, parts, 0);
    for (int i = 0; i < parts->cnt; i++)
        evs_groups_release_partition(c->p, parts->elems[i].partition);
    if (parts->cnt)
        log_change(c, rd_kafka_assignment_lost(rk) ? "lost" : "handed over", parts);
    if (cooperative) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
        if (e)
            rd_kafka_error_destroy(e);
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

static void *coordinator_thread(void *arg)
{
    evs_coordinator *c = arg;
    while (!c->stop) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->consumer, 100);
        if (m) /* fetched before the pause took effect, or an error: nothing to do */
            rd_kafka_message_destroy(m);
    }
    return NULL;
}

int evs_coordinator_start(evs_projector *p, char *err, size_t err_len)
{
    evs_coordinator *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    c->p = p;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->first, NULL);
    p->coordinator = c;
    c->count = evs_state_partition_count(p);
    c->slots = calloc((size_t)(c->count > 0 ? c->count : 1), sizeof *c->slots);
    snprintf(c->group_id, sizeof c->group_id, "evstore-coordinators.%s", p->config.topic);
    char session[32];
    snprintf(session, sizeof session, "%d", EVS_COORD_SESSION_MS);
    const char *const settings[][2] = {
        {"group.id", c->group_id},
        /* Static membership: a projector that restarts within the session timeout gets its
         * partitions back at once, with no rebalance of the others. */
        {"group.instance.id", evs_membership_id(p)},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"session.timeout.ms", session},
        {"heartbeat.interval.ms", "1000"},
        {"enable.auto.commit", "false"},
        {"auto.offset.reset", "latest"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_rebalance_cb(conf, rebalance);
    rd_kafka_conf_set_opaque(conf, c);
    if (!c->slots)
        goto oom;
    c->consumer = evs_projector_kafka_client(p, RD_KAFKA_CONSUMER, "coordination", conf, settings,
                                             sizeof settings / sizeof *settings, err, err_len);
    if (!c->consumer)
        goto fail;
    rd_kafka_poll_set_consumer(c->consumer);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, evs_state_topic(p), RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        snprintf(err, err_len, "cannot join consumer group %s: %s", c->group_id,
                 rd_kafka_err2str(e));
        goto fail;
    }
    if (pthread_create(&c->thread, NULL, coordinator_thread, c) != 0) {
        snprintf(err, err_len, "cannot start the coordination thread");
        goto fail;
    }
    c->thread_started = 1;
    /* Serve groups from the start: wait for the first assignment (possibly of nothing, when
     * the others hold every partition), at most a session timeout and a little. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += EVS_COORD_SESSION_MS / 1000 + 4;
    pthread_mutex_lock(&c->lock);
    while (!c->assigned_once && pthread_cond_timedwait(&c->first, &c->lock, &until) == 0)
        ;
    int assigned = c->assigned_once;
    pthread_mutex_unlock(&c->lock);
    if (!assigned)
        fprintf(stderr, "evstore-projector: consumer-group coordination: no assignment from "
                        "Kafka yet; groups are served once it comes\n");
    return 0;
oom:
    rd_kafka_conf_destroy(conf);
    snprintf(err, err_len, "out of memory");
fail:
    evs_coordinator_stop(p);
    return -1;
}

void evs_coordinator_stop(evs_projector *p)
{
    evs_coordinator *c = p->coordinator;
    if (!c)
        return;
    if (c->thread_started) {
        c->stop = 1;
        pthread_join(c->thread, NULL);
    }
    pthread_mutex_lock(&c->lock);
    int assigned = c->assigned_once;
    pthread_mutex_unlock(&c->lock);
    if (c->consumer && !assigned) {
        /* librdkafka before 2.3.0 (Debian 12 has 2.0.2) aborts on an assertion when a
         * cooperative-sticky consumer that never had an assignment is closed or destroyed
         * (librdkafka issue 4312). Such a consumer holds nothing, and nothing polls it
         * any more (its callbacks run only inside rd_kafka_consumer_poll): it is left as it
         * is, reachable from here, to end with the process. */
        static rd_kafka_t *never_assigned;
        never_assigned = c->consumer;
        (void)never_assigned;
    } else if (c->consumer) {
        /* Leaves the group: the revocation runs the callback here, dropping what we hold. */
        rd_kafka_consumer_close(c->consumer);
        rd_kafka_destroy(c->consumer);
    }
    pthread_cond_destroy(&c->first);
    pthread_mutex_destroy(&c->lock);
    free(c->slots);
    free(c);
    p->coordinator = NULL;
}

int evs_coordinator_current(evs_projector *p, int32_t partition, uint64_t epoch)
{
    evs_coordinator *c = p->coordinator;
    if (!c)
        return epoch == 0;
    if (partition < 0 || partition >= c->count)
        return 0;
    pthread_mutex_lock(&c->lock);
    int yes = c->slots[partition].owned && c->slots[partition].ready &&
              c->slots[partition].epoch == epoch;
    pthread_mutex_unlock(&c->lock);
    return yes;
}

int evs_coordinator_acquire(evs_projector *p, int32_t partition, uint64_t *epoch, char *err,
                            size_t err_len)
{
    evs_coordinator *c = p->coordinator;
    *epoch = 0;
    if (!c)
        return 1;
    if (partition < 0 || partition >= c->count)
        return 0;
    pthread_mutex_lock(&c->lock);
    slot s = c->slots[partition];
    pthread_mutex_unlock(&c->lock);
    if (!s.owned)
        return 0;
    if (!s.ready) {
        /* K1; concurrent first callers may each write one, which is harmless. */
        if (evs_state_barrier(p, partition, EVS_COORD_BARRIER_MS, err, err_len) < 0)
            return -1;
        pthread_mutex_lock(&c->lock);
        if (c->slots[partition].owned && c->slots[partition].epoch == s.epoch)
            c->slots[partition].ready = 1;
        s = c->slots[partition];
        pthread_mutex_unlock(&c->lock);
        if (!s.owned || !s.ready)
            return 0;
    }
    *epoch = s.epoch;
    return 1;
}

size_t evs_coordinator_partitions(evs_projector *p, int32_t *out, size_t max)
{
    evs_coordinator *c = p->coordinator;
    size_t n = 0;
    if (!c)
        return 0;
    pthread_mutex_lock(&c->lock);
    for (int32_t k = 0; k < c->count && n < max; k++)
        if (c->slots[k].owned)
            out[n++] = k;
    pthread_mutex_unlock(&c->lock);
    return n;
}
