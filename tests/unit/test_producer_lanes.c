/*
 * test_producer_lanes.c - the client producer's adaptive linger (adapter/src/producer.c,
 * "Two lanes") against librdkafka's mock cluster.
 *
 * What it pins down:
 *  - a lone sender's records all go to the quick lane (linger 0) and land in order;
 *  - records sent while others wait for their delivery reports go to the batching lane,
 *    and every record of many concurrent senders is delivered exactly once (the offsets
 *    they see are each seen once);
 *  - a sender that says it is not alone goes to the batching lane even when nothing waits;
 *  - with linger.ms=0 configured there is one lane, the batching one.
 */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "producer.h"

#define TOPIC "evstore.lanes"
#define SENDERS 8
#define SENDS_EACH 40
#define OFFSETS_MAX 4096

static rd_kafka_t *mock_owner;
static rd_kafka_mock_cluster_t *mock_cluster;
static char bootstraps[256];

static void quiet_log(const rd_kafka_t *rk, int level, const char *facility, const char *text)
{
    (void)rk, (void)level, (void)facility, (void)text;
}

static int group_setup(void **state)
{
    (void)state;
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    mock_owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!mock_owner)
        return -1;
    mock_cluster = rd_kafka_mock_cluster_new(mock_owner, 1);
    if (!mock_cluster || rd_kafka_mock_topic_create(mock_cluster, TOPIC, 1, 1))
        return -1;
    snprintf(bootstraps, sizeof bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(mock_cluster));
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (mock_cluster)
        rd_kafka_mock_cluster_destroy(mock_cluster);
    if (mock_owner)
        rd_kafka_destroy(mock_owner);
    return 0;
}

static evs_producer *open_producer(int linger_ms)
{
    evs_producer_options o = {bootstraps, TOPIC, 10000, linger_ms, NULL};
    evs_producer *p = NULL;
    assert_int_equal(evs__producer_open(&o, &p), 0);
    assert_non_null(p);
    return p;
}

static void test_lone_sender_uses_the_quick_lane(void **state)
{
    (void)state;
    evs_producer *p = open_producer(5);
    int64_t last = -1;
    for (int i = 0; i < 20; i++) {
        int32_t partition;
        int64_t offset;
        assert_int_equal(evs__producer_send(p, "k", 1, "v", 1, "a record", 1, &partition, &offset),
                         0);
        assert_int_equal(partition, 0);
        assert_true(offset > last);
        last = offset;
    }
    uint64_t quick, batched;
    evs__producer_lane_counts(p, &quick, &batched);
    assert_int_equal(quick, 20);
    assert_int_equal(batched, 0);
    evs__producer_close(p);
}

typedef struct sender {
    evs_producer *p;
    int64_t offsets[SENDS_EACH];
    int failures;
} sender;

static void *send_many(void *arg)
{
    sender *s = arg;
    for (int i = 0; i < SENDS_EACH; i++) {
        int32_t partition;
        if (evs__producer_send(s->p, "k", 1, "value", 5, "a record", 1, &partition,
                               &s->offsets[i]) != 0)
            s->failures++;
    }
    return NULL;
}

static void test_concurrent_senders_are_batched_and_each_delivered_once(void **state)
{
    (void)state;
    /* A slow broker keeps records waiting for their reports, as a loaded one does. */
    rd_kafka_mock_broker_set_rtt(mock_cluster, 1, 20);
    evs_producer *p = open_producer(5);
    sender senders[SENDERS];
    pthread_t threads[SENDERS];
    for (int i = 0; i < SENDERS; i++) {
        senders[i] = (sender){.p = p};
        assert_int_equal(pthread_create(&threads[i], NULL, send_many, &senders[i]), 0);
    }
    for (int i = 0; i < SENDERS; i++)
        pthread_join(threads[i], NULL);
    rd_kafka_mock_broker_set_rtt(mock_cluster, 1, 0);

    static unsigned char seen[OFFSETS_MAX];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < SENDERS; i++) {
        assert_int_equal(senders[i].failures, 0);
        for (int j = 0; j < SENDS_EACH; j++) {
            int64_t o = senders[i].offsets[j];
            assert_true(o >= 0 && o < OFFSETS_MAX);
            assert_int_equal(seen[o], 0);
            seen[o] = 1;
        }
    }
    uint64_t quick, batched;
    evs__producer_lane_counts(p, &quick, &batched);
    assert_int_equal(quick + batched, SENDERS * SENDS_EACH);
    assert_true(batched > 0);
    evs__producer_close(p);
}

static void test_sender_beside_others_is_batched(void **state)
{
    (void)state;
    evs_producer *p = open_producer(5);
    int32_t partition;
    int64_t offset;
    assert_int_equal(evs__producer_send(p, "k", 1, "v", 1, "a record", 0, &partition, &offset),
                     0);
    uint64_t quick, batched;
    evs__producer_lane_counts(p, &quick, &batched);
    assert_int_equal(quick, 0);
    assert_int_equal(batched, 1);
    evs__producer_close(p);
}

static void test_linger_zero_has_one_lane(void **state)
{
    (void)state;
    evs_producer *p = open_producer(0);
    for (int i = 0; i < 5; i++) {
        int32_t partition;
        int64_t offset;
        assert_int_equal(evs__producer_send(p, "k", 1, "v", 1, "a record", 1, &partition, &offset),
                         0);
    }
    uint64_t quick, batched;
    evs__producer_lane_counts(p, &quick, &batched);
    assert_int_equal(quick, 0);
    assert_int_equal(batched, 5);
    evs__producer_close(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lone_sender_uses_the_quick_lane),
        cmocka_unit_test(test_concurrent_senders_are_batched_and_each_delivered_once),
        cmocka_unit_test(test_sender_beside_others_is_batched),
        cmocka_unit_test(test_linger_zero_has_one_lane),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
