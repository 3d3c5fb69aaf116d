/*
 * it_produce.c - evs_it_produce, which writes one append record to the events topic with a
 * Kafka timestamp the test chooses, so that a test can place events in log time (max-age
 * limits measure it by those timestamps, never by a clock; judge/lifecycle.h).
 *
 *   evs_it_produce BROKERS TOPIC STREAM TIMESTAMP_MS TYPE DATA
 *
 * Encodes an append of one event (expected any, random append and event ids) with the
 * codec every writer uses, produces it keyed by STREAM to the stream's partition, and
 * prints {"append_id": ..., "partition": P, "offset": O} once the broker acknowledged it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "partitioner.h"
#include "record_codec.h"

static int32_t partition_count(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    int32_t n = -1;
    if (t && rd_kafka_metadata(rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (t)
        rd_kafka_topic_destroy(t);
    return n;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    int64_t *offset = m->_private;
    *offset = m->err ? -1 : m->offset;
    if (m->err)
        fprintf(stderr, "evs_it_produce: delivery failed: %s\n", rd_kafka_err2str(m->err));
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: evs_it_produce BROKERS TOPIC STREAM TIMESTAMP_MS TYPE DATA\n");
        return 2;
    }
    const char *stream = argv[3], *type = argv[5], *data = argv[6];
    int64_t timestamp = strtoll(argv[4], NULL, 10);
    evs_record_event ev = {0};
    evs_append_request req = {0};
    evs_uuid_generate(req.append_id);
    evs_uuid_generate(ev.event_id);
    ev.type = type;
    ev.type_len = strlen(type);
    ev.content_type = "application/json";
    ev.content_type_len = strlen(ev.content_type);
    ev.data = (const uint8_t *)data;
    ev.data_len = strlen(data);
    ev.created_us = timestamp * 1000;
    req.stream = stream;
    req.stream_len = strlen(stream);
    req.expected_kind = EVS_EXPECT_ANY;
    req.events = &ev;
    req.event_count = 1;
    char err[512];
    evs_buf value = {0};
    if (evs_record_validate(&req, err, sizeof err) != 0 || evs_record_encode(&req, &value) != 0) {
        fprintf(stderr, "evs_it_produce: %s\n", err);
        return 1;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof err) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err) !=
            RD_KAFKA_CONF_OK) {
        fprintf(stderr, "evs_it_produce: %s\n", err);
        return 1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "evs_it_produce: %s\n", err);
        return 1;
    }
    int rc = 1;
    int32_t n = partition_count(rk, argv[2]);
    int64_t offset = -2;
    if (n <= 0) {
        fprintf(stderr, "evs_it_produce: topic %s not found\n", argv[2]);
        goto out;
    }
    int32_t partition = evs_stream_partition(stream, req.stream_len, n);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(argv[2]), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(stream, req.stream_len), RD_KAFKA_V_VALUE(value.data, value.len),
        RD_KAFKA_V_TIMESTAMP(timestamp), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(&offset), RD_KAFKA_V_END);
    if (e) {
        fprintf(stderr, "evs_it_produce: %s\n", rd_kafka_err2str(e));
        goto out;
    }
    rd_kafka_flush(rk, 10000);
    if (offset >= 0) {
        char id[37];
        evs_uuid_format(req.append_id, id);
        printf("{\"append_id\":\"%s\",\"partition\":%" PRId32 ",\"offset\":%" PRId64 "}\n", id,
               partition, offset);
        rc = 0;
    }
out:
    rd_kafka_destroy(rk);
    evs_buf_free(&value);
    return rc;
}
