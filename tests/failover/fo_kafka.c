/*
 * fo_kafka.c - evs_fo_kafka, the Kafka helper of the failover tests. It talks to the brokers
 * with librdkafka directly, never through libevstore or the projector, so a test can set up
 * what evstore must cope with (topics created by hand, raw records) without trusting the
 * code under test. One short-lived process per call; no JVM.
 *
 *   evs_fo_kafka create BROKERS TOPIC PARTITIONS RF [NAME=VALUE...]
 *       creates a topic with these topic settings; exit 1 (message on stderr) on error
 *   evs_fo_kafka add-partitions BROKERS TOPIC TOTAL
 *       raises the topic's partition count to TOTAL
 *   evs_fo_kafka config BROKERS TOPIC NAME
 *       prints the topic's effective value of setting NAME
 *   evs_fo_kafka produce BROKERS TOPIC PARTITION KEY FILE
 *       produces one record to PARTITION (acks=all) whose value is FILE's bytes, exactly
 *       (FILE "-null": a null value, a tombstone; KEY "-null": a null key) and prints
 *       {"partition":P,"offset":O}. The client's own size limit is raised to 100 MB, so
 *       a record too large is refused by the broker, not here: then it prints the broker's
 *       error name on stderr ("error: MSG_SIZE_TOO_LARGE: ...") and exits 3.
 *
 * Exit status: 0 done, 1 error, 2 usage, 3 the broker refused the record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#define TIMEOUT_MS 15000
#define VALUE_MAX (100 * 1000 * 1000)

static rd_kafka_t *open_client(const char *brokers, rd_kafka_type_t type, int big_messages)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *settings[][2] = {
        {"bootstrap.servers", brokers},
        {"log_level", "3"},
        {"acks", "all"},
        {"message.timeout.ms", "30000"},
        {"message.max.bytes", big_messages ? "100000000" : "1000000"},
    };
    size_t n = type == RD_KAFKA_PRODUCER ? 5 : 2;
    for (size_t i = 0; i < n; i++) {
        if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], err, sizeof err) !=
            RD_KAFKA_CONF_OK) {
            fprintf(stderr, "evs_fo_kafka: %s: %s\n", settings[i][0], err);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk)
        fprintf(stderr, "evs_fo_kafka: rd_kafka_new: %s\n", err);
    return rk;
}

/* Waits for the answer of an admin call; returns the event (caller destroys) or NULL. */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, const char *what)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, TIMEOUT_MS + 5000);
    if (!ev) {
        fprintf(stderr, "evs_fo_kafka: %s: no answer within %d ms\n", what, TIMEOUT_MS + 5000);
        return NULL;
    }
    if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "evs_fo_kafka: %s: %s\n", what, rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

static int topic_result(const rd_kafka_topic_result_t **res, size_t n, const char *what)
{
    if (n != 1) {
        fprintf(stderr, "evs_fo_kafka: %s: %zu results\n", what, n);
        return 1;
    }
    if (rd_kafka_topic_result_error(res[0])) {
        fprintf(stderr, "evs_fo_kafka: %s: %s\n", what, rd_kafka_topic_result_error_string(res[0]));
        return 1;
    }
    return 0;
}

static int create_topic(const char *brokers, const char *topic, int partitions, int rf,
                        char **settings, int nsettings)
{
    char err[512];
    int rc = 1;
    rd_kafka_t *rk = open_client(brokers, RD_KAFKA_PRODUCER, 0);
    if (!rk)
        return 1;
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, rf, err, sizeof err);
    if (!nt) {
        fprintf(stderr, "evs_fo_kafka: create %s: %s\n", topic, err);
        rd_kafka_destroy(rk);
        return 1;
    }
    for (int i = 0; i < nsettings; i++) {
        char *eq = strchr(settings[i], '=');
        if (!eq) {
            fprintf(stderr, "evs_fo_kafka: setting '%s' is not NAME=VALUE\n", settings[i]);
            goto out;
        }
        *eq = 0;
        if (rd_kafka_NewTopic_set_config(nt, settings[i], eq + 1)) {
            fprintf(stderr, "evs_fo_kafka: setting %s refused\n", settings[i]);
            goto out;
        }
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, TIMEOUT_MS, NULL, 0);
    rd_kafka_CreateTopics(rk, &nt, 1, opt, q);
    rd_kafka_event_t *ev = admin_wait(q, "create topic");
    if (ev) {
        size_t n = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rc = topic_result(res, n, "create topic");
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
out:
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
    return rc;
}

static int add_partitions(const char *brokers, const char *topic, int total)
{
    char err[512];
    int rc = 1;
    rd_kafka_t *rk = open_client(brokers, RD_KAFKA_PRODUCER, 0);
    if (!rk)
        return 1;
    rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(topic, (size_t)total, err, sizeof err);
    if (!np) {
        fprintf(stderr, "evs_fo_kafka: add partitions to %s: %s\n", topic, err);
        rd_kafka_destroy(rk);
        return 1;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, TIMEOUT_MS, NULL, 0);
    rd_kafka_CreatePartitions(rk, &np, 1, opt, q);
    rd_kafka_event_t *ev = admin_wait(q, "add partitions");
    if (ev) {
        size_t n = 0;
        const rd_kafka_topic_result_t **res = rd_kafka_CreatePartitions_result_topics(
            rd_kafka_event_CreatePartitions_result(ev), &n);
        rc = topic_result(res, n, "add partitions");
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewPartitions_destroy(np);
    rd_kafka_destroy(rk);
    return rc;
}

static int topic_config(const char *brokers, const char *topic, const char *name)
{
    int rc = 1;
    rd_kafka_t *rk = open_client(brokers, RD_KAFKA_PRODUCER, 0);
    if (!rk)
        return 1;
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DescribeConfigs(rk, &res, 1, NULL, q);
    rd_kafka_event_t *ev = admin_wait(q, "describe configs");
    if (ev) {
        size_t rcnt = 0, ccnt = 0;
        const rd_kafka_ConfigResource_t **rs = rd_kafka_DescribeConfigs_result_resources(
            rd_kafka_event_DescribeConfigs_result(ev), &rcnt);
        if (rcnt != 1 || rd_kafka_ConfigResource_error(rs[0])) {
            fprintf(stderr, "evs_fo_kafka: describe configs of %s: %s\n", topic,
                    rcnt ? rd_kafka_ConfigResource_error_string(rs[0]) : "no answer");
        } else {
            const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(rs[0], &ccnt);
            for (size_t i = 0; i < ccnt; i++) {
                if (strcmp(rd_kafka_ConfigEntry_name(entries[i]), name) == 0) {
                    const char *v = rd_kafka_ConfigEntry_value(entries[i]);
                    printf("%s\n", v ? v : "");
                    rc = 0;
                }
            }
            if (rc)
                fprintf(stderr, "evs_fo_kafka: topic %s has no setting %s\n", topic, name);
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_destroy(rk);
    return rc;
}

typedef struct delivery {
    int done;
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
} delivery;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    delivery *d = m->_private;
    d->done = 1;
    d->err = m->err;
    d->partition = m->partition;
    d->offset = m->offset;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        if (cap >= VALUE_MAX) {
            fprintf(stderr, "evs_fo_kafka: %s is larger than %d bytes\n", path, VALUE_MAX);
            free(buf);
            buf = NULL;
            break;
        }
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
        } else {
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static int produce(const char *brokers, const char *topic, int32_t partition, const char *key,
                   const char *path)
{
    char err[512];
    size_t len = 0;
    char *value = NULL;
    if (strcmp(path, "-null") != 0 && !(value = read_file(path, &len)))
        return 1;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    const char *settings[][2] = {
        {"bootstrap.servers", brokers},
        {"log_level", "3"},
        {"acks", "all"},
        {"message.timeout.ms", "30000"},
        {"message.max.bytes", "100000000"},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], err, sizeof err) !=
            RD_KAFKA_CONF_OK) {
            fprintf(stderr, "evs_fo_kafka: %s: %s\n", settings[i][0], err);
            rd_kafka_conf_destroy(conf);
            free(value);
            return 1;
        }
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "evs_fo_kafka: rd_kafka_new: %s\n", err);
        free(value);
        return 1;
    }
    delivery d = {0, 0, -1, -1};
    int null_key = strcmp(key, "-null") == 0;
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(value, len),
        RD_KAFKA_V_KEY(null_key ? NULL : key, null_key ? 0 : strlen(key)),
        RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END);
    int rc = 1;
    if (e) {
        fprintf(stderr, "error: %s: %s\n", rd_kafka_err2name(e), rd_kafka_err2str(e));
        rc = e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? 3 : 1;
        goto out;
    }
    rd_kafka_flush(rk, 40000);
    if (!d.done) {
        fprintf(stderr, "evs_fo_kafka: no delivery report within 40 s\n");
    } else if (d.err) {
        fprintf(stderr, "error: %s: %s\n", rd_kafka_err2name(d.err), rd_kafka_err2str(d.err));
        rc = (d.err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
              d.err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE ||
              d.err == RD_KAFKA_RESP_ERR_INVALID_RECORD)
                 ? 3
                 : 1;
    } else {
        printf("{\"partition\":%d,\"offset\":%lld}\n", d.partition, (long long)d.offset);
        rc = 0;
    }
out:
    rd_kafka_destroy(rk);
    free(value);
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: evs_fo_kafka create BROKERS TOPIC PARTITIONS RF [NAME=VALUE...]\n"
                    "       evs_fo_kafka add-partitions BROKERS TOPIC TOTAL\n"
                    "       evs_fo_kafka config BROKERS TOPIC NAME\n"
                    "       evs_fo_kafka produce BROKERS TOPIC PARTITION KEY|-null FILE|-null\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "create") == 0)
        return create_topic(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), argv + 6, argc - 6);
    if (argc == 5 && strcmp(argv[1], "add-partitions") == 0)
        return add_partitions(argv[2], argv[3], atoi(argv[4]));
    if (argc == 5 && strcmp(argv[1], "config") == 0)
        return topic_config(argv[2], argv[3], argv[4]);
    if (argc == 7 && strcmp(argv[1], "produce") == 0)
        return produce(argv[2], argv[3], (int32_t)atoi(argv[4]), argv[5], argv[6]);
    return usage();
}
