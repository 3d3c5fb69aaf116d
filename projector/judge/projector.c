/*
 * projector.c - the consumer side of evstore-projector: topic checks, the partitions this
 * projector serves, and the apply loop.
 *
 * Every projector is a hot replica: it takes the partitions of its shard (--serve-partitions,
 * default all) by assignment, not through a consumer group, so any number of projectors on
 * one topic consume and judge every record of the partitions they serve at once, and by
 * the rule reach the same state. None waits as a standby; none replays on another's
 * failure.
 *
 * Invariants:
 *  P1. Offsets live in the store, never in Kafka: a served partition is read from the
 *      store's next offset (offset 0 with no state), and auto.offset.reset is "error",
 *      so records can never be skipped silently. Nothing is committed to Kafka.
 *  P2. The topic must not lose records: delete policy, infinite retention, no unclean
 *      leader election, min.insync.replicas >= 2 when replicated, and the partition count
 *      recorded at the first start. Otherwise the projector refuses to start.
 *  P3. Only this thread writes the store; readers learn progress through p->next_offset.
 *  P4. A verdict is answered once its record is judged, before the batch is written
 *      (p->judged_offset, p->ahead). Everything that reads the store for a client first
 *      waits until the batches judged before its request are written (the read barrier,
 *      evs_projector_wait_written), so an append whose verdict a client has seen is in
 *      every read it makes afterwards.
 */
#include "judge/projector.h"

#include "kafka_properties_apply.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ADMIN_TIMEOUT_MS 15000

static void publish(void *ctx, const evs_apply_commit *c);
static void publish_judged(void *ctx, const evs_apply_judged *j);

static void set_failure(evs_projector *p, const char *msg)
{
    pthread_mutex_lock(&p->lock);
    snprintf(p->failure, sizeof p->failure, "%s", msg);
    pthread_cond_broadcast(&p->applied);
    pthread_cond_broadcast(&p->judged);
    pthread_mutex_unlock(&p->lock);
}

/* ---- Topic: create when missing, then check that it cannot lose records ------------- */

int evs_projector_create_topic(evs_projector *p, const char *name, int partitions,
                               const char *const (*settings)[2], size_t count, char *err,
                               size_t err_len)
{
    int rf = p->config.replication_factor;
    if (rf <= 0)
        rf = p->broker_count < 3 ? p->broker_count : 3;
    char errstr[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, partitions, rf, errstr, sizeof errstr);
    if (!nt) {
        snprintf(err, err_len, "cannot create topic %s: %s", name, errstr);
        return -1;
    }
    char isr[16];
    snprintf(isr, sizeof isr, "%d", rf >= 3 ? 2 : 1);
    rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", isr);
    for (size_t i = 0; i < count; i++)
        rd_kafka_NewTopic_set_config(nt, settings[i][0], settings[i][1]);

    rd_kafka_queue_t *q = rd_kafka_queue_new(p->consumer);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(p->consumer,
                                                             RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, ADMIN_TIMEOUT_MS, NULL, 0);
    rd_kafka_CreateTopics(p->consumer, &nt, 1, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, ADMIN_TIMEOUT_MS + 5000);
    int rc = -1;
    if (!ev) {
        snprintf(err, err_len, "creating topic %s timed out", name);
    } else if (rd_kafka_event_error(ev)) {
        snprintf(err, err_len, "cannot create topic %s: %s", name, rd_kafka_event_error_string(ev));
    } else {
        size_t cnt;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        rd_kafka_resp_err_t terr = cnt ? rd_kafka_topic_result_error(res[0]) : 0;
        if (terr && terr != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            snprintf(err, err_len, "cannot create topic %s: %s", name,
                     rd_kafka_topic_result_error_string(res[0]));
        else
            rc = 0;
        if (!terr)
            fprintf(stderr, "evstore-projector: created topic %s (%d partitions, replication %d)\n",
                    name, partitions, rf);
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

/* The last refused Kafka login or TLS handshake of any client of this process ("" none),
 * kept for the messages of failures that follow from it (a metadata request that times
 * out). One projector per process; a global because the clients' opaques are their
 * owners' (the coordinator's is its own). */
static pthread_mutex_t kafka_auth_lock = PTHREAD_MUTEX_INITIALIZER;
static char kafka_auth_error[256];

static void on_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (err != RD_KAFKA_RESP_ERR__AUTHENTICATION &&
        err != RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED && err != RD_KAFKA_RESP_ERR__SSL)
        return;
    pthread_mutex_lock(&kafka_auth_lock);
    int first = !kafka_auth_error[0];
    snprintf(kafka_auth_error, sizeof kafka_auth_error, "%s", reason);
    pthread_mutex_unlock(&kafka_auth_lock);
    if (first) /* librdkafka's text names the mechanism and broker, never the secret */
        fprintf(stderr, "evstore-projector: Kafka authentication failed (%s): %s\n",
                rd_kafka_name(rk), reason);
}

int evs_projector_kafka_auth_error(char *out, size_t out_len)
{
    pthread_mutex_lock(&kafka_auth_lock);
    int failed = kafka_auth_error[0] != 0;
    snprintf(out, out_len, "%s", kafka_auth_error);
    pthread_mutex_unlock(&kafka_auth_lock);
    return failed;
}

rd_kafka_t *evs_projector_kafka_client(evs_projector *p, rd_kafka_type_t type, const char *what,
                                       rd_kafka_conf_t *conf, const char *const (*settings)[2],
                                       size_t count, char *err, size_t err_len)
{
    char errstr[512];
    if (!conf)
        conf = rd_kafka_conf_new();
    /* The settings file first: what evstore sets below wins (kafka_properties.h). */
    if (evs_kafka_properties_apply(&p->config.kafka, conf, errstr, sizeof errstr) < 0) {
        snprintf(err, err_len, "%s client: %s", what, errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_error_cb(conf, on_kafka_error);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", p->config.brokers, errstr, sizeof errstr)) {
        snprintf(err, err_len, "%s client: %s", what, errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], errstr, sizeof errstr)) {
            snprintf(err, err_len, "%s client setting %s: %s", what, settings[i][0], errstr);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk)
        snprintf(err, err_len, "cannot create the %s client: %s", what, errstr);
    return rk;
}

int32_t evs_projector_topic_partitions(rd_kafka_t *rk, const char *name, char *err,
                                       size_t err_len)
{
    rd_kafka_resp_err_t e = 0;
    int32_t count = -1;
    for (int attempt = 0; attempt < 50 && count <= 0; attempt++) {
        if (attempt) {
            struct timespec pause = {0, 200 * 1000000};
            nanosleep(&pause, NULL);
        }
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *t = rd_kafka_topic_new(rk, name, NULL);
        e = rd_kafka_metadata(rk, 0, t, &md, ADMIN_TIMEOUT_MS);
        rd_kafka_topic_destroy(t);
        if (!e && md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0)
            count = md->topics[0].partition_cnt;
        if (md)
            rd_kafka_metadata_destroy(md);
    }
    if (count <= 0)
        snprintf(err, err_len, "topic %s: no metadata (%s)", name,
                 e ? rd_kafka_err2str(e) : "no partitions yet");
    return count;
}

int evs_projector_partition_ends(rd_kafka_t *rk, const char *topic, int32_t partition,
                                 int64_t *low, int64_t *high, int timeout_ms,
                                 rd_kafka_resp_err_t *error)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(rk, topic, partition, low, high, timeout_ms);
        /* A topic created a moment ago may be missing from the metadata, or have no leader
         * yet: those answers change by themselves, so ask again until the time is up. */
        int passing = e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
                      e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                      e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                      e == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
                      e == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t spent = (int64_t)(now.tv_sec - start.tv_sec) * 1000 +
                        (now.tv_nsec - start.tv_nsec) / 1000000;
        if (!e || !passing || spent + 200 >= timeout_ms) {
            if (error)
                *error = e;
            return e ? -1 : 0;
        }
        struct timespec pause = {0, 200 * 1000000};
        nanosleep(&pause, NULL);
    }
}

int evs_projector_create_log_topic(evs_projector *p, const char *name, int partitions, char *err,
                                   size_t err_len)
{
    char max_bytes[32];
    snprintf(max_bytes, sizeof max_bytes, "%d", EVS_TOPIC_MAX_MESSAGE_BYTES);
    const char *const settings[][2] = {
        {"cleanup.policy", "delete"},
        {"retention.ms", "-1"},
        {"retention.bytes", "-1"},
        {"unclean.leader.election.enable", "false"},
        {"max.message.bytes", max_bytes},
    };
    return evs_projector_create_topic(p, name, partitions, settings,
                                      sizeof settings / sizeof settings[0], err, err_len);
}

/* Fetches the topic's metadata: partition count and replication factor; *partitions is 0
 * when the topic does not exist. */
static int topic_metadata(evs_projector *p, int *partitions, int *replication,
                          int *broker_count, char *err, size_t err_len)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(p->consumer, p->config.topic, NULL);
    /* In short tries, serving the query client's error callbacks between them, so that a
     * refused login ends the wait at once with its cause rather than after a timeout. */
    /* Any failure is tried again within ADMIN_TIMEOUT_MS (a broker still coming up answers
     * "transport failure" at once), a refused login is not. */
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    char auth[256];
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long spent = 0; spent < ADMIN_TIMEOUT_MS && e != RD_KAFKA_RESP_ERR_NO_ERROR;) {
        e = rd_kafka_metadata(p->consumer, 0, t, &md, 500);
        rd_kafka_poll(p->querier, e ? 100 : 0);
        clock_gettime(CLOCK_MONOTONIC, &now);
        spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (e && evs_projector_kafka_auth_error(auth, sizeof auth)) {
            rd_kafka_topic_destroy(t);
            snprintf(err, err_len,
                     "Kafka at %s refused the projector's credentials (authentication "
                     "failed: %s); check the sasl.* and ssl.* settings of --kafka-config",
                     p->config.brokers, auth);
            return -1;
        }
    }
    rd_kafka_topic_destroy(t);
    if (e) {
        snprintf(err, err_len, "cannot reach the Kafka brokers at %s: %s", p->config.brokers,
                 rd_kafka_err2str(e));
        return -1;
    }
    *partitions = 0;
    *replication = 0;
    *broker_count = md->broker_cnt;
    if (md->topic_cnt == 1 && !md->topics[0].err) {
        *partitions = md->topics[0].partition_cnt;
        if (md->topics[0].partition_cnt > 0)
            *replication = md->topics[0].partitions[0].replica_cnt;
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* P2: reads the topic's effective configuration and refuses settings that lose records. */
static int check_topic_config(evs_projector *p, int replication, char *err, size_t err_len)
{
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC,
                                                                  p->config.topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(p->consumer);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(p->consumer,
                                                             RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_AdminOptions_set_request_timeout(opt, ADMIN_TIMEOUT_MS, NULL, 0);
    rd_kafka_DescribeConfigs(p->consumer, &res, 1, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, ADMIN_TIMEOUT_MS + 5000);
    int rc = -1;
    if (!ev || rd_kafka_event_error(ev)) {
        snprintf(err, err_len, "cannot read the configuration of topic %s: %s", p->config.topic,
                 ev ? rd_kafka_event_error_string(ev) : "timed out");
        goto done;
    }
    size_t rcnt, ccnt;
    const rd_kafka_ConfigResource_t **rs = rd_kafka_DescribeConfigs_result_resources(
        rd_kafka_event_DescribeConfigs_result(ev), &rcnt);
    if (rcnt != 1 || rd_kafka_ConfigResource_error(rs[0])) {
        snprintf(err, err_len, "cannot read the configuration of topic %s: %s", p->config.topic,
                 rcnt ? rd_kafka_ConfigResource_error_string(rs[0]) : "no answer");
        goto done;
    }
    const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(rs[0], &ccnt);
    rc = 0;
    for (size_t i = 0; i < ccnt && rc == 0; i++) {
        const char *name = rd_kafka_ConfigEntry_name(entries[i]);
        const char *value = rd_kafka_ConfigEntry_value(entries[i]);
        if (!value)
            value = "";
        const char *problem = NULL;
        if (!strcmp(name, "cleanup.policy") && strstr(value, "compact"))
            problem = "compaction would delete events";
        else if (!strcmp(name, "retention.ms") && strcmp(value, "-1"))
            problem = "finite retention would delete events (need -1)";
        else if (!strcmp(name, "retention.bytes") && strcmp(value, "-1"))
            problem = "size-based retention would delete events (need -1)";
        else if (!strcmp(name, "unclean.leader.election.enable") && !strcmp(value, "true"))
            problem = "unclean leader election can lose acknowledged events";
        else if (!strcmp(name, "min.insync.replicas") && replication > 1 && atoi(value) < 2)
            problem = "a replicated topic needs min.insync.replicas >= 2";
        else if (!strcmp(name, "max.message.bytes") && atoll(value) < EVS_APPEND_BYTES_MAX + 1024)
            problem = "max.message.bytes is below evstore's append size limit";
        if (problem) {
            snprintf(err, err_len, "refusing topic %s: %s=%s: %s", p->config.topic, name,
                     value, problem);
            rc = -1;
        }
    }
done:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(res);
    return rc;
}

/* P2: the partition count is recorded at the first start and must never change. */
static int check_partition_count(evs_projector *p, int partitions, char *err, size_t err_len)
{
    char *stored = NULL, *topic = NULL;
    int rc = evs_store_meta_get(p->store, "partitions", &stored);
    if (rc == 0)
        rc = evs_store_meta_get(p->store, "topic", &topic);
    if (rc < 0) {
        snprintf(err, err_len, "cannot read the store's metadata");
        goto done;
    }
    if (topic && strcmp(topic, p->config.topic)) {
        snprintf(err, err_len, "the store in %s belongs to topic %s, not %s",
                 p->config.data_dir, topic, p->config.topic);
        rc = -1;
    } else if (stored && atoi(stored) != partitions) {
        snprintf(err, err_len,
                 "refusing topic %s: it has %d partitions but had %s when this store was "
                 "built; changing the count moves streams between partitions",
                 p->config.topic, partitions, stored);
        rc = -1;
    } else if (!stored) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", partitions);
        rc = evs_store_meta_put(p->store, "partitions", buf);
        if (rc == 0)
            rc = evs_store_meta_put(p->store, "topic", p->config.topic);
        if (rc == 0)
            rc = evs_store_meta_put(p->store, "format", EVS_STORE_FORMAT);
    }
done:
    free(stored);
    free(topic);
    return rc < 0 ? -1 : 0;
}

/* ---- The shard: which partitions this projector serves (P1) ------------------------ */

int evs_partition_set_parse(const char *spec, int32_t count, int *out, char *err, size_t err_len)
{
    for (int32_t i = 0; i < count; i++)
        out[i] = !spec || !*spec;
    if (!spec || !*spec)
        return 0;
    const char *s = spec;
    int any = 0;
    for (;;) {
        char *end;
        errno = 0;
        long lo = strtol(s, &end, 10), hi = lo;
        if (end == s || *s == '-' || *s == '+' || errno)
            goto bad;
        if (*end == '-') {
            const char *h = end + 1;
            hi = strtol(h, &end, 10);
            if (end == h || *h == '-' || *h == '+' || errno || hi < lo)
                goto bad;
        }
        if (hi >= count) {
            snprintf(err, err_len,
                     "--serve-partitions %s names partition %ld, but the topic has %d "
                     "partitions (0 to %d)", spec, hi, count, count - 1);
            return -1;
        }
        for (long i = lo; i <= hi; i++)
            out[i] = any = 1;
        if (*end == 0)
            break;
        if (*end != ',')
            goto bad;
        s = end + 1;
    }
    if (any)
        return 0;
bad:
    snprintf(err, err_len,
             "--serve-partitions %s: expected partition numbers and ranges, e.g. 0,2-3", spec);
    return -1;
}

/* Assigns the served partitions to the consumer, each from its stored next offset. */
static int assign_served(evs_projector *p, char *err, size_t err_len)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(p->partition_count);
    for (int32_t i = 0; i < p->partition_count; i++) {
        if (!p->assigned[i])
            continue;
        rd_kafka_topic_partition_list_add(parts, p->config.topic, i)->offset =
            p->applier.next_offset[i];
        fprintf(stderr, "evstore-projector: serving partition %d from offset %lld\n", i,
                (long long)p->applier.next_offset[i]);
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(p->consumer, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (e) {
        snprintf(err, err_len, "cannot assign the partitions of %s: %s", p->config.topic,
                 rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

static rd_kafka_t *make_consumer(evs_projector *p, char *err, size_t err_len)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *const settings[][2] = {
        /* librdkafka's consumer wants a group id even for assign(); none is ever joined
         * and no offset is committed or fetched under it, so replicas may share it. */
        {"group.id", "evstore-projector"},
        {"client.id", "evstore-projector"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "error"},
        {"enable.partition.eof", "false"},
        {"socket.nagle.disable", "true"},
        {"fetch.wait.max.ms", "100"},
        {"fetch.error.backoff.ms", "50"},
        {"queued.min.messages", "100000"},
    };
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_t *rk = evs_projector_kafka_client(p, RD_KAFKA_CONSUMER, "events consumer", conf,
                                                settings, sizeof settings / sizeof settings[0],
                                                err, err_len);
    if (rk)
        rd_kafka_poll_set_consumer(rk);
    return rk;
}

int evs_projector_start(evs_projector *p, const evs_projector_config *config, char *err,
                        size_t err_len)
{
    memset(p, 0, sizeof *p);
    p->config = *config;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->applied, NULL);
    pthread_cond_init(&p->judged, NULL);

    if (config->rebuild && evs_store_reset(config->data_dir, err, err_len) < 0)
        return -1;
    if (evs_store_open_sized(config->data_dir, &config->memory, &p->store, err, err_len) < 0)
        return -1;
    p->consumer = make_consumer(p, err, err_len);
    if (!p->consumer)
        return -1;

    static const char *const query_settings[][2] = {{"socket.nagle.disable", "true"}};
    p->querier = evs_projector_kafka_client(p, RD_KAFKA_PRODUCER, "query", NULL, query_settings,
                                            1, err, err_len);
    if (!p->querier)
        return -1;

    int partitions, replication, brokers;
    if (topic_metadata(p, &partitions, &replication, &brokers, err, err_len) < 0)
        return -1;
    p->broker_count = brokers;
    if (partitions == 0) {
        if (evs_projector_create_log_topic(p, p->config.topic, p->config.partitions, err,
                                           err_len) < 0)
            return -1;
        /* Metadata can lag behind the creation for a moment. */
        for (int i = 0; i < 100 && partitions == 0; i++) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
            if (topic_metadata(p, &partitions, &replication, &brokers, err, err_len) < 0)
                return -1;
        }
        if (partitions == 0) {
            snprintf(err, err_len, "topic %s does not appear after creation", config->topic);
            return -1;
        }
    }
    if (check_topic_config(p, replication, err, err_len) < 0)
        return -1;
    if (check_partition_count(p, partitions, err, err_len) < 0)
        return -1;

    p->partition_count = partitions;
    if (evs_applier_init(&p->applier, p->store, partitions) < 0) {
        snprintf(err, err_len, "cannot load the partition state from the store");
        return -1;
    }
    p->next_offset = calloc((size_t)partitions, sizeof *p->next_offset);
    p->judged_offset = calloc((size_t)partitions, sizeof *p->judged_offset);
    p->last_position = calloc((size_t)partitions, sizeof *p->last_position);
    p->assigned = calloc((size_t)partitions, sizeof *p->assigned);
    if (!p->next_offset || !p->judged_offset || !p->last_position || !p->assigned) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    if (evs_partition_set_parse(config->serve_partitions, partitions, p->assigned, err,
                                err_len) < 0)
        return -1;
    p->serves_all = 1;
    for (int32_t i = 0; i < partitions; i++)
        p->serves_all &= p->assigned[i];
    memcpy(p->next_offset, p->applier.next_offset, (size_t)partitions * sizeof(int64_t));
    memcpy(p->judged_offset, p->applier.next_offset, (size_t)partitions * sizeof(int64_t));
    memcpy(p->last_position, p->applier.last_position, (size_t)partitions * sizeof(uint64_t));
    evs_store_skip_count(p->store, &p->skipped_records);
    /* The applier counts on from the stored total, so that /status keeps counting the
     * records skipped before this start. */
    p->applier.stats.skipped = p->skipped_records;
    p->applier.on_commit = publish;
    p->applier.on_commit_ctx = p;
    p->applier.write_delay_ms = config->test_write_delay_ms;
    p->applier.on_judged = publish_judged;
    p->applier.on_judged_ctx = p;

    return assign_served(p, err, err_len);
}

/* ---- The apply loop ------------------------------------------------------------------ */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Counts a judged batch in p->metrics (obs/metrics.h): once per batch, outside the lock. */
static void count_judged(evs_projector *p, const evs_apply_judged *j)
{
    uint64_t by_status[EVS_METRICS_VERDICTS] = {0}, events = 0;
    for (size_t i = 0; i < j->count; i++) {
        const evs_stored_verdict *v = &j->verdicts[i];
        unsigned s = (unsigned)v->verdict.status;
        by_status[s < EVS_METRICS_VERDICTS ? s : 0]++;
        if (v->verdict.status == EVS_VERDICT_ACCEPTED)
            events += v->event_count;
    }
    evs_metrics_batch_judged(&p->metrics, j->records, j->records - j->count,
                             evs_metrics_now_ns() - p->judge_started_ns, by_status, events);
}

/* The applier's on_judged, before the batch is written: its verdicts can be answered (P4). */
static void publish_judged(void *ctx, const evs_apply_judged *j)
{
    evs_projector *p = ctx;
    count_judged(p, j);
    pthread_mutex_lock(&p->lock);
    p->ahead[j->batch % 2] = *j; /* valid until this batch's publish, which drops it */
    p->ahead[j->batch % 2].next_offset = NULL;
    memcpy(p->judged_offset, j->next_offset, (size_t)p->partition_count * sizeof(int64_t));
    p->judged_batches = j->batch;
    pthread_cond_broadcast(&p->judged);
    pthread_mutex_unlock(&p->lock);
}

/* The applier's on_commit, after the batch's write: makes it visible to readers,
 * subscribers and /status; a failed write stops the projector (P3). */
static void publish(void *ctx, const evs_apply_commit *c)
{
    evs_projector *p = ctx;
    if (c->rc == 0)
        evs_metrics_batch_written(&p->metrics, c->write_ns);
    pthread_mutex_lock(&p->lock);
    /* The applier may reuse the batch's verdicts from now on. */
    memset(&p->ahead[c->batch % 2], 0, sizeof p->ahead[0]);
    if (c->rc == 0) {
        memcpy(p->next_offset, c->next_offset, (size_t)p->partition_count * sizeof(int64_t));
        memcpy(p->last_position, c->last_position,
               (size_t)p->partition_count * sizeof(uint64_t));
        p->skipped_records = c->stats.skipped;
        p->applied_events = c->stats.events;
        p->commits++;
        p->written_batches = c->batch;
        pthread_cond_broadcast(&p->applied);
    }
    pthread_mutex_unlock(&p->lock);
    if (c->rc < 0) { /* the read barrier waits in vain from now on: readers get an error */
        char msg[sizeof p->failure];
        snprintf(msg, sizeof msg, "%s", c->err);
        fprintf(stderr, "evstore-projector: %s; stopping\n", msg);
        set_failure(p, msg);
        p->stop = 1;
    }
}

/* The high watermark of partition i from the consumer's latest fetch: 0, or -1 when the
 * partition is not consumed here or not fetched yet. The consumer always has a fetch waiting
 * at the leader, which answers as soon as a record arrives, so this is at most milliseconds
 * old, needs no request, and follows the leader when it moves. (A query of a leader that
 * went away can block far past its timeout in librdkafka 2.0.) */
static int cached_high_watermark(evs_projector *p, int32_t i, int64_t *high)
{
    int64_t low;
    *high = -1;
    if (!p->assigned[i] || !p->consumer || /* assigned is fixed at start: no lock */
        rd_kafka_get_watermark_offsets(p->consumer, p->config.topic, i, &low, high) ||
        *high < 0)
        return -1;
    return 0;
}

/* The sum of the high watermarks of the served partitions from the consumer's fetch cache
 * (no request), into *total; -1 if one is not fetched yet. */
static int cached_end(evs_projector *p, int64_t *total)
{
    *total = 0;
    for (int32_t i = 0; i < p->partition_count; i++) {
        int64_t high;
        if (!p->assigned[i])
            continue;
        if (cached_high_watermark(p, i, &high) < 0)
            return -1;
        *total += high;
    }
    return 0;
}

/* During --rebuild: prints progress once a second and once when caught up. Between the
 * seconds it also checks after every batch whether the end of the topic is reached, when
 * the consumer's cache can tell without a request, so that "rebuild complete in" is exact to
 * a batch rather than to a second. */
static void report_rebuild(evs_projector *p, double started, double *last_report, int *done)
{
    double now = now_seconds();
    int64_t applied = 0, total = 0;
    if (*done)
        return;
    uint64_t events;
    pthread_mutex_lock(&p->lock); /* what is written, not only judged */
    for (int32_t i = 0; i < p->partition_count; i++)
        if (p->assigned[i])
            applied += p->next_offset[i];
    events = p->applied_events;
    pthread_mutex_unlock(&p->lock);
    if (now - *last_report < 1.0) {
        if (cached_end(p, &total) < 0 || applied < total)
            return;
    } else {
        int64_t *hw = calloc((size_t)p->partition_count, sizeof *hw);
        if (!hw || evs_projector_high_watermarks(p, hw, 2000) < 0) {
            free(hw);
            return;
        }
        for (int32_t i = 0; i < p->partition_count; i++)
            if (p->assigned[i])
                total += hw[i];
        free(hw);
    }
    *last_report = now;
    double rate = (double)events / (now - started);
    fprintf(stderr, "evstore-projector: rebuild: %lld of %lld records, %llu events, %.0f events/s\n",
            (long long)applied, (long long)total, (unsigned long long)events, rate);
    if (applied >= total) {
        fprintf(stderr, "evstore-projector: rebuild complete in %.2f s\n", now - started);
        *done = 1;
    }
}

int evs_projector_run(evs_projector *p)
{
    int max = p->config.batch_records_max > 0 ? p->config.batch_records_max
                                              : EVS_BATCH_RECORDS_DEFAULT;
    rd_kafka_message_t **msgs = calloc((size_t)max, sizeof *msgs);
    evs_input_record *recs = calloc((size_t)max, sizeof *recs);
    char err[512];
    int rc = 0;
    double started = now_seconds(), last_report = started;
    int rebuild_done = !p->config.rebuild;
    if (!msgs || !recs) {
        set_failure(p, "out of memory");
        rc = -1;
        goto out;
    }
    size_t bytes_max = p->config.batch_bytes_max > 0 ? p->config.batch_bytes_max
                                                     : EVS_BATCH_BYTES_DEFAULT;
    while (!p->stop) {
        int n = 0;
        size_t bytes = 0;
        if (p->config.test_pause_file && access(p->config.test_pause_file, F_OK) == 0) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(p->consumer, 100);
        while (m) {
            if (m->err) {
                if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                    m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
                    snprintf(err, sizeof err,
                             "partition %d: the stored offset is not in the topic any more "
                             "(%s): records were deleted; refusing to continue",
                             m->partition, rd_kafka_message_errstr(m));
                    rd_kafka_message_destroy(m);
                    set_failure(p, err);
                    fprintf(stderr, "evstore-projector: %s\n", err);
                    rc = -1;
                    goto out;
                }
                fprintf(stderr, "evstore-projector: consumer: %s\n", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
            } else {
                msgs[n] = m;
                recs[n].partition = m->partition;
                recs[n].offset = m->offset;
                recs[n].key = m->key;
                recs[n].key_len = m->key_len;
                recs[n].value = m->payload;
                recs[n].value_len = m->len;
                rd_kafka_timestamp_type_t ts_type;
                int64_t ts = rd_kafka_message_timestamp(m, &ts_type);
                recs[n].timestamp_ms = ts > 0 ? ts : 0;
                bytes += m->len;
                n++;
            }
            /* A batch is held in memory until its commit (store.c, "Batches"), so cut by
             * bytes as well as by records. */
            if (n == max || bytes >= bytes_max)
                break;
            m = rd_kafka_consumer_poll(p->consumer, 0);
        }
        if (n > 0) {
            /* Judged here while the batch before is written (apply.h, "The writer");
             * publish() runs when it is. */
            p->judge_started_ns = evs_metrics_now_ns();
            int arc = evs_applier_submit(&p->applier, recs, (size_t)n, err, sizeof err);
            for (int i = 0; i < n; i++)
                rd_kafka_message_destroy(msgs[i]);
            if (arc < 0) {
                /* P3 and reliability promise 6: stop rather than guess. */
                fprintf(stderr, "evstore-projector: %s; stopping\n", err);
                set_failure(p, err);
                rc = -1;
                goto out;
            }
        }
        if (!rebuild_done)
            report_rebuild(p, started, &last_report, &rebuild_done);
    }
out:
    if (evs_applier_flush(&p->applier, err, sizeof err) < 0)
        rc = -1; /* reported by publish() */
    free(msgs);
    free(recs);
    return rc;
}

void evs_projector_free(evs_projector *p)
{
    evs_kafka_properties_free(&p->config.kafka);
    if (p->consumer) {
        rd_kafka_consumer_close(p->consumer);
        rd_kafka_destroy(p->consumer);
    }
    if (p->querier)
        rd_kafka_destroy(p->querier);
    evs_applier_free(&p->applier);
    evs_store_close(p->store);
    free(p->next_offset);
    free(p->judged_offset);
    free(p->last_position);
    free(p->assigned);
    pthread_cond_destroy(&p->applied);
    pthread_cond_destroy(&p->judged);
    pthread_mutex_destroy(&p->lock);
    memset(p, 0, sizeof *p);
}

uint64_t evs_projector_commits(evs_projector *p)
{
    pthread_mutex_lock(&p->lock);
    uint64_t n = p->commits;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void evs_projector_wait_commit(evs_projector *p, uint64_t seen, uint64_t wait_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)(wait_ms / 1000);
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    while (p->commits == seen && !p->stop)
        if (pthread_cond_timedwait(&p->applied, &p->lock, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&p->lock);
}

void evs_projector_wake_all(evs_projector *p)
{
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->applied);
    pthread_cond_broadcast(&p->judged);
    pthread_mutex_unlock(&p->lock);
}

static struct timespec deadline_after(int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    return deadline;
}

/* Waits on cond until next[partition] (one of p's published offset arrays) is above
 * offset, at most timeout_ms; what evs_projector_wait_judged and _wait_applied share. */
static int wait_offset(evs_projector *p, const int64_t *next, pthread_cond_t *cond,
                       int32_t partition, int64_t offset, int timeout_ms, int64_t *next_out)
{
    struct timespec deadline = deadline_after(timeout_ms);
    pthread_mutex_lock(&p->lock);
    int done;
    while (!(done = next[partition] > offset) && !p->failure[0] && !p->stop) {
        if (pthread_cond_timedwait(cond, &p->lock, &deadline) == ETIMEDOUT) {
            done = next[partition] > offset;
            break;
        }
    }
    *next_out = next[partition];
    pthread_mutex_unlock(&p->lock);
    return done;
}

int evs_projector_wait_judged(evs_projector *p, int32_t partition, int64_t offset,
                              int timeout_ms, int64_t *next_out)
{
    evs_metrics_long_polls_add(&p->metrics, EVS_POLL_VERDICT, 1);
    int done = wait_offset(p, p->judged_offset, &p->judged, partition, offset, timeout_ms,
                           next_out);
    evs_metrics_long_polls_add(&p->metrics, EVS_POLL_VERDICT, -1);
    return done;
}

int evs_projector_wait_applied(evs_projector *p, int32_t partition, int64_t offset,
                               int timeout_ms, int64_t *next_out)
{
    return wait_offset(p, p->next_offset, &p->applied, partition, offset, timeout_ms, next_out);
}

int evs_projector_verdict_ahead(evs_projector *p, const uint8_t append_id[16],
                                evs_stored_verdict *out)
{
    int found = 0;
    pthread_mutex_lock(&p->lock);
    for (int k = 0; k < 2 && !found; k++) {
        const evs_apply_judged *j = &p->ahead[k];
        for (size_t i = 0; i < j->count; i++) {
            if (!memcmp(j->append_ids[i], append_id, 16)) {
                *out = j->verdicts[i];
                found = 1;
                break;
            }
        }
    }
    pthread_mutex_unlock(&p->lock);
    return found;
}

int evs_projector_wait_written(evs_projector *p, int timeout_ms)
{
    struct timespec deadline = deadline_after(timeout_ms);
    pthread_mutex_lock(&p->lock);
    uint64_t target = p->judged_batches;
    int done;
    while (!(done = p->written_batches >= target) && !p->failure[0] && !p->stop) {
        if (pthread_cond_timedwait(&p->applied, &p->lock, &deadline) == ETIMEDOUT) {
            done = p->written_batches >= target;
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return done;
}

int evs_projector_cached_high_watermark(evs_projector *p, int32_t i, int64_t *high)
{
    return cached_high_watermark(p, i, high);
}

int evs_projector_high_watermarks(evs_projector *p, int64_t *hw, int timeout_ms)
{
    for (int32_t i = 0; i < p->partition_count; i++) {
        int64_t low;
        if (cached_high_watermark(p, i, &hw[i]) == 0)
            continue;
        if (rd_kafka_query_watermark_offsets(p->querier, p->config.topic, i, &low, &hw[i],
                                             timeout_ms))
            return -1;
    }
    return 0;
}
