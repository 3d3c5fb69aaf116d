/*
 * it_topic.c - evs_it_topic, a small Kafka helper of the integration tests. It asks the
 * broker directly, so a test can check the topic without trusting the code under test.
 *
 *   evs_it_topic end-offsets BROKERS TOPIC   prints {"0":N,...}: the end offset (high
 *                                            watermark) of every partition; exit 1 on error
 *   evs_it_topic delete BROKERS TOPIC        deletes the topic (test clean-up)
 *
 * It uses librdkafka directly, not libevstore, on purpose.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#define TIMEOUT_MS 10000

static rd_kafka_t *open_client(const char *brokers, rd_kafka_type_t type)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "evs_it_topic: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk)
        fprintf(stderr, "evs_it_topic: rd_kafka_new: %s\n", err);
    return rk;
}

static int end_offsets(const char *brokers, const char *topic)
{
    int rc = 1;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_t *rk = open_client(brokers, RD_KAFKA_CONSUMER);
    if (!rk)
        return 1;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, TIMEOUT_MS);
    if (err) {
        fprintf(stderr, "evs_it_topic: metadata of %s: %s\n", topic, rd_kafka_err2str(err));
        goto out;
    }
    if (md->topic_cnt != 1 || md->topics[0].err) {
        fprintf(stderr, "evs_it_topic: topic %s: %s\n", topic,
                md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not in metadata");
        goto out;
    }
    const rd_kafka_metadata_topic_t *t = &md->topics[0];
    int32_t count = t->partition_cnt;
    printf("{");
    for (int32_t p = 0; p < count; p++) {
        int64_t low = 0, high = 0;
        err = rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high, TIMEOUT_MS);
        if (err) {
            fprintf(stderr, "evs_it_topic: watermarks of %s/%d: %s\n", topic, p,
                    rd_kafka_err2str(err));
            goto out;
        }
        printf("%s\"%d\":%lld", p ? "," : "", p, (long long)high);
    }
    printf("}\n");
    rc = 0;
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return rc;
}

static int delete_topic(const char *brokers, const char *topic)
{
    int rc = 1;
    rd_kafka_t *rk = open_client(brokers, RD_KAFKA_PRODUCER);
    if (!rk)
        return 1;
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopic_t *del = rd_kafka_DeleteTopic_new(topic);
    rd_kafka_DeleteTopics(rk, &del, 1, NULL, queue);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(queue, TIMEOUT_MS);
    if (!ev) {
        fprintf(stderr, "evs_it_topic: delete %s: no answer\n", topic);
        goto out;
    }
    const rd_kafka_DeleteTopics_result_t *res = rd_kafka_event_DeleteTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t **results =
        res ? rd_kafka_DeleteTopics_result_topics(res, &n) : NULL;
    if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "evs_it_topic: delete %s: %s\n", topic, rd_kafka_event_error_string(ev));
    } else if (n == 1 && rd_kafka_topic_result_error(results[0])) {
        fprintf(stderr, "evs_it_topic: delete %s: %s\n", topic,
                rd_kafka_topic_result_error_string(results[0]));
    } else {
        rc = 0;
    }
    rd_kafka_event_destroy(ev);
out:
    rd_kafka_DeleteTopic_destroy(del);
    rd_kafka_queue_destroy(queue);
    rd_kafka_destroy(rk);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "end-offsets") == 0)
        return end_offsets(argv[2], argv[3]);
    if (argc == 4 && strcmp(argv[1], "delete") == 0)
        return delete_topic(argv[2], argv[3]);
    fprintf(stderr, "usage: evs_it_topic end-offsets|delete BROKERS TOPIC\n");
    return 2;
}
