/*
 * topic_dump.c - evs_topic_dump: copies every record value of one partition of a Kafka
 * topic into files, for tests that read the topic with other tools (decode_fastavro.py).
 *
 *   evs_topic_dump --brokers HOST:PORT --topic T --out DIR [--partition P] [--timeout-ms N]
 *
 * Reads partition P (default 0) from the beginning to its end as it is when the tool
 * reaches it, and writes each value to DIR/<offset>.bin. It also decodes each value with
 * evs_record_decode() and writes what the C codec saw to DIR/expect.json (format in
 * interop_json.h), the expectation decode_fastavro.py compares fastavro's decoding with.
 *
 * It is a plain reader: the partition is assigned, not subscribed, no offsets are committed
 * or stored, and the group id is only there because librdkafka's consumer wants one.
 * Exit status: 0 all records dumped and decoded; 1 a record did not decode (the files are
 * still written, the error is in expect.json); 2 usage, Kafka or file errors, or the end
 * of the partition was not reached within the timeout (default 30 s).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "interop_json.h"
#include "record_codec.h"

static void usage(void)
{
    fprintf(stderr, "usage: evs_topic_dump --brokers HOST:PORT --topic TOPIC --out DIR "
                    "[--partition P] [--timeout-ms N]\n");
    exit(2);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char err[256];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "evs_topic_dump: %s=%s: %s\n", key, value, err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *topic = NULL, *out = NULL;
    int32_t partition = 0;
    int64_t timeout_ms = 30000;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--brokers") == 0)
            brokers = argv[++i];
        else if (strcmp(argv[i], "--topic") == 0)
            topic = argv[++i];
        else if (strcmp(argv[i], "--out") == 0)
            out = argv[++i];
        else if (strcmp(argv[i], "--partition") == 0)
            partition = (int32_t)atoi(argv[++i]);
        else if (strcmp(argv[i], "--timeout-ms") == 0)
            timeout_ms = atoll(argv[++i]);
        else
            usage();
    }
    if (brokers == NULL || topic == NULL || out == NULL)
        usage();
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "evs_topic_dump: mkdir %s: %s\n", out, strerror(errno));
        return 2;
    }

    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", brokers) || set(conf, "group.id", "evs-topic-dump") ||
        set(conf, "enable.auto.commit", "false") ||
        set(conf, "enable.auto.offset.store", "false") ||
        set(conf, "enable.partition.eof", "true") || set(conf, "socket.nagle.disable", "true") ||
        set(conf, "auto.offset.reset", "earliest"))
        return 2;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == NULL) {
        fprintf(stderr, "evs_topic_dump: %s\n", err);
        return 2;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, partition)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t kerr = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "evs_topic_dump: assign: %s\n", rd_kafka_err2str(kerr));
        rd_kafka_destroy(rk);
        return 2;
    }

    json_t *records = json_array();
    int status = 2, undecodable = 0;
    size_t count = 0;
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (now_ms() > deadline) {
            fprintf(stderr,
                    "evs_topic_dump: end of %s [%" PRId32 "] not reached in %" PRId64
                    " ms (%zu records so far)\n",
                    topic, partition, timeout_ms, count);
            goto done;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            break;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            /* A topic that is still being created answers "unknown" for a moment. */
            fprintf(stderr, "evs_topic_dump: %s\n", rd_kafka_message_errstr(m));
            int transient = m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                            m->err == RD_KAFKA_RESP_ERR__TRANSPORT;
            rd_kafka_message_destroy(m);
            if (transient)
                continue;
            goto done;
        }
        char name[64], path[4096];
        snprintf(name, sizeof name, "%" PRId64 ".bin", m->offset);
        snprintf(path, sizeof path, "%s/%s", out, name);
        if (evs_interop_write_file(path, m->payload, m->len) != 0) {
            fprintf(stderr, "evs_topic_dump: write %s: %s\n", path, strerror(errno));
            rd_kafka_message_destroy(m);
            goto done;
        }
        evs_append_request *req = NULL;
        char derr[256];
        int rc = evs_record_decode(m->payload, m->len, &req, derr, sizeof derr);
        json_t *j;
        if (rc == EVS_RECORD_OK) {
            j = evs_interop_request_json(req, name);
            evs_append_request_free(req);
            if (j == NULL)
                j = json_pack("{s:s, s:s}", "file", name, "error", "not representable in JSON");
        } else {
            j = json_pack("{s:s, s:s}", "file", name, "error", derr);
        }
        if (j == NULL || json_object_get(j, "error") != NULL) {
            fprintf(stderr, "evs_topic_dump: offset %" PRId64 ": %s\n", m->offset,
                    j ? json_string_value(json_object_get(j, "error")) : "out of memory");
            undecodable++;
        }
        json_array_append_new(records, j);
        count++;
        rd_kafka_message_destroy(m);
    }

    json_t *doc = json_pack("{s:s, s:i, s:o}", "topic", topic, "partition", (int)partition,
                            "records", json_incref(records));
    char path[4096];
    snprintf(path, sizeof path, "%s/expect.json", out);
    if (doc == NULL || json_dump_file(doc, path, JSON_INDENT(1) | JSON_SORT_KEYS) != 0) {
        fprintf(stderr, "evs_topic_dump: cannot write %s\n", path);
        json_decref(doc);
        goto done;
    }
    json_decref(doc);
    printf("%zu records from %s [%" PRId32 "] written to %s\n", count, topic, partition, out);
    status = undecodable ? 1 : 0;
done:
    json_decref(records);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return status;
}
