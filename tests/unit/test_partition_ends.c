/*
 * test_partition_ends.c - evs_projector_partition_ends (judge/projector.h) against
 * librdkafka's mock cluster.
 *
 * What it pins down:
 *  - a topic created a moment ago (as a projector's key topic or state topic is, just
 *    before it is read), which the broker still answers for as unknown or without a
 *    leader, is answered once the broker knows it, not refused at the first error;
 *  - a topic that stays unknown is refused with librdkafka's error once the time is up;
 *  - a topic that exists is answered at once with its ends, records included.
 */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "judge/projector.h"

static rd_kafka_t *mock_owner;
static rd_kafka_mock_cluster_t *mock_cluster;
static rd_kafka_t *consumer;

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
    if (!mock_cluster)
        return -1;
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    /* The projector's readers never create topics by asking for them; neither does this. */
    if (rd_kafka_conf_set(conf, "bootstrap.servers",
                          rd_kafka_mock_cluster_bootstraps(mock_cluster), errstr,
                          sizeof errstr) ||
        rd_kafka_conf_set(conf, "group.id", "test_partition_ends", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "allow.auto.create.topics", "false", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "topic.metadata.refresh.interval.ms", "100", errstr,
                          sizeof errstr))
        return -1;
    consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    return consumer ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    if (consumer)
        rd_kafka_destroy(consumer);
    if (mock_cluster)
        rd_kafka_mock_cluster_destroy(mock_cluster);
    if (mock_owner)
        rd_kafka_destroy(mock_owner);
    return 0;
}

/* The mock broker answers for a topic with `error` until the thread below clears it: what a
 * broker answers for a topic it has just created and whose metadata has not spread yet. */
static void *clear_later(void *arg)
{
    struct timespec pause = {0, 700 * 1000000};
    nanosleep(&pause, NULL);
    rd_kafka_mock_topic_set_error(mock_cluster, arg, RD_KAFKA_RESP_ERR_NO_ERROR);
    return NULL;
}

static void answered_once_known(const char *topic, rd_kafka_resp_err_t error)
{
    assert_int_equal(rd_kafka_mock_topic_create(mock_cluster, topic, 1, 1), 0);
    rd_kafka_mock_topic_set_error(mock_cluster, topic, error);
    /* Asked once, the answer is the error: what the projector's start-up used to give up on. */
    int64_t low = -1, high = -1;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(consumer, topic, 0, &low, &high, 2000);
    assert_int_not_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);

    pthread_t clearer;
    assert_int_equal(pthread_create(&clearer, NULL, clear_later, (void *)topic), 0);
    e = RD_KAFKA_RESP_ERR_UNKNOWN;
    low = high = -1;
    int rc = evs_projector_partition_ends(consumer, topic, 0, &low, &high, 10000, &e);
    pthread_join(clearer, NULL);
    assert_int_equal(rc, 0);
    assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(low, 0);
    assert_int_equal(high, 0);
}

static void test_topic_not_yet_known(void **state)
{
    (void)state;
    answered_once_known("late.keys", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
}

static void test_topic_without_leader_yet(void **state)
{
    (void)state;
    answered_once_known("late.state", RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE);
}

static void test_topic_that_never_appears(void **state)
{
    (void)state;
    assert_int_equal(rd_kafka_mock_topic_create(mock_cluster, "never.there", 1, 1), 0);
    rd_kafka_mock_topic_set_error(mock_cluster, "never.there",
                                  RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    int64_t low = -1, high = -1;
    int rc = evs_projector_partition_ends(consumer, "never.there", 0, &low, &high, 1500, &e);
    assert_int_equal(rc, -1);
    assert_int_not_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void test_existing_topic_with_records(void **state)
{
    (void)state;
    assert_int_equal(rd_kafka_mock_topic_create(mock_cluster, "full", 2, 1), 0);
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers",
                                       rd_kafka_mock_cluster_bootstraps(mock_cluster), errstr,
                                       sizeof errstr),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    assert_non_null(producer);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rd_kafka_producev(producer, RD_KAFKA_V_TOPIC("full"),
                                           RD_KAFKA_V_PARTITION(1), RD_KAFKA_V_VALUE("x", 1),
                                           RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(producer, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(producer);

    int64_t low = -1, high = -1;
    assert_int_equal(evs_projector_partition_ends(consumer, "full", 1, &low, &high, 5000, NULL),
                     0);
    assert_int_equal(low, 0);
    assert_int_equal(high, 3);
    assert_int_equal(evs_projector_partition_ends(consumer, "full", 0, &low, &high, 5000, NULL),
                     0);
    assert_int_equal(high, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_not_yet_known),
        cmocka_unit_test(test_topic_without_leader_yet),
        cmocka_unit_test(test_topic_that_never_appears),
        cmocka_unit_test(test_existing_topic_with_records),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
