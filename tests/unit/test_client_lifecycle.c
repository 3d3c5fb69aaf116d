/*
 * test_client_lifecycle.c - libevstore's stream lifecycle (evstore.h, "Stream lifecycle"):
 * the verdicts of delete, hard delete, truncate and limits, the 410 of a deleted stream's
 * read, the metadata answer (event_json.c), and the commands end to end against
 * librdkafka's mock cluster and a fake projector (test_http_server.h).
 *
 * What it pins down:
 *  - "stream_deleted" verdicts are EVS_ESTREAM_DELETED naming the stream, for appends and
 *    lifecycle commands; an accepted lifecycle verdict is 0 with its current version; a
 *    verdict of another operation, or a "duplicate" one, is EVS_EPROTOCOL;
 *  - a read's 410 {"error":"stream_deleted"} is EVS_ESTREAM_DELETED (soft and hard), any
 *    other 410 is not;
 *  - the metadata JSON: values, nulls as 0, malformed members named;
 *  - a stream page's first_version reaches the list;
 *  - each command produces ONE record that decodes to its operation and fields, on the
 *    append path (its verdict asked with partition and offset), and a command the codec
 *    refuses produces nothing;
 *  - evs_stream_metadata_get asks GET /streams/{s}/metadata; 404 is EVS_ENOT_FOUND.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "errors.h"
#include "event_json.h"
#include "evstore.h"
#include "record_codec.h"
#include "test_http_server.h"

#define TOPIC "evstore.lifecycle"
#define ID "5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6"

static const evs_expected any = {EVS_EXPECT_ANY, 0};

/* ---- Verdicts, 410 and metadata (pure) ------------------------------------------------- */

static int verdict_for(const char *body, const char *operation, evs_append_result *r)
{
    memset(r, 0, sizeof *r);
    r->partition = -1;
    r->offset = -1;
    memcpy(r->append_id, ID, sizeof ID);
    return evs__verdict_from_http_for(200, body, strlen(body), "any", operation, r);
}

static void test_verdict_stream_deleted(void **state)
{
    evs_append_result r;
    const char *body = "{\"append_id\":\"" ID "\",\"status\":\"stream_deleted\","
                       "\"operation\":\"append\",\"stream\":\"Order-9\",\"partition\":0,"
                       "\"offset\":12,\"current_version\":4,\"reason\":\"\"}";
    assert_int_equal(verdict_for(body, "append", &r), EVS_ESTREAM_DELETED);
    assert_non_null(strstr(evs_last_error(), "stream Order-9 was hard-deleted"));
    assert_non_null(strstr(evs_last_error(), "append " ID));
    assert_int_equal(r.offset, 12);
    /* The same from a lookup, which does not know the operation. */
    memset(&r, 0, sizeof r);
    assert_int_equal(evs__verdict_from_http(200, body, strlen(body), NULL, &r),
                     EVS_ESTREAM_DELETED);
    /* And for a lifecycle command. */
    body = "{\"append_id\":\"" ID "\",\"status\":\"stream_deleted\",\"operation\":\"truncate\","
           "\"stream\":\"Order-9\",\"current_version\":4}";
    assert_int_equal(verdict_for(body, "truncate", &r), EVS_ESTREAM_DELETED);
    assert_non_null(strstr(evs_last_error(), "truncate " ID));
    assert_string_equal(r.stream, "Order-9");
}

static void test_verdict_lifecycle_accepted(void **state)
{
    evs_append_result r;
    const char *body = "{\"append_id\":\"" ID "\",\"status\":\"accepted\",\"operation\":"
                       "\"hard_delete\",\"stream\":\"Order-3\",\"partition\":0,\"offset\":41,"
                       "\"first_version\":0,\"last_version\":0,\"current_version\":7,"
                       "\"event_count\":0,\"reason\":\"\"}";
    assert_int_equal(verdict_for(body, "hard_delete", &r), 0);
    assert_int_equal(r.duplicate, 0);
    assert_int_equal(r.current_version, 7);
    assert_int_equal(r.first_version, 0);
    assert_int_equal(r.last_version, 0);
    assert_int_equal(r.offset, 41);
    assert_string_equal(r.stream, "Order-3");
    /* A verdict without "operation" (an older projector) is taken for the one asked. */
    body = "{\"status\":\"accepted\",\"stream\":\"Order-3\",\"current_version\":7}";
    assert_int_equal(verdict_for(body, "set_limits", &r), 0);
    /* The verdict of another operation is not this command's. */
    body = "{\"status\":\"accepted\",\"operation\":\"append\",\"stream\":\"Order-3\"}";
    assert_int_equal(verdict_for(body, "delete", &r), EVS_EPROTOCOL);
    assert_non_null(strstr(evs_last_error(), "verdict of a append, not of a delete"));
    /* Only an append can be a duplicate. */
    body = "{\"status\":\"duplicate\",\"operation\":\"delete\",\"stream\":\"Order-3\"}";
    assert_int_equal(verdict_for(body, "delete", &r), EVS_EPROTOCOL);
    assert_int_equal(r.duplicate, 0);
    body = "{\"status\":\"duplicate\",\"stream\":\"Order-3\"}";
    assert_int_equal(verdict_for(body, "append", &r), 0);
    assert_int_equal(r.duplicate, 1);
    /* Wrong version and invalid keep their codes. */
    body = "{\"status\":\"wrong_expected_version\",\"operation\":\"truncate\",\"stream\":\"S-1\","
           "\"current_version\":5,\"expected\":\"3\"}";
    assert_int_equal(verdict_for(body, "truncate", &r), EVS_EWRONG_VERSION);
    assert_int_equal(r.current_version, 5);
    body = "{\"status\":\"invalid\",\"operation\":\"truncate\",\"stream\":\"S-1\","
           "\"reason\":\"truncate_before 9 is beyond the stream\"}";
    assert_int_equal(verdict_for(body, "truncate", &r), EVS_EREJECTED);
    assert_non_null(strstr(evs_last_error(), "truncate_before 9 is beyond the stream"));
}

static void test_http_410_stream_deleted(void **state)
{
    const char *hard = "{\"error\":\"stream_deleted\",\"message\":\"stream Order-5 was "
                       "hard-deleted\",\"stream\":\"Order-5\",\"deleted\":\"hard\","
                       "\"current_version\":3}";
    assert_int_equal(evs__http_error(410, hard, strlen(hard), "stream Order-5"),
                     EVS_ESTREAM_DELETED);
    assert_non_null(strstr(evs_last_error(), "stream Order-5 was hard-deleted at version 3"));
    const char *soft = "{\"error\":\"stream_deleted\",\"stream\":\"Order-6\",\"deleted\":"
                       "\"soft\",\"current_version\":8}";
    assert_int_equal(evs__http_error(410, soft, strlen(soft), "stream Order-6"),
                     EVS_ESTREAM_DELETED);
    assert_non_null(strstr(evs_last_error(), "stream Order-6 was deleted at version 8"));
    assert_non_null(strstr(evs_last_error(), "an append recreates it"));
    /* The projector's shape: the message in "error", the kind in "error_type". */
    const char *typed = "{\"error\":\"stream Order-7 was deleted: an append recreates it\","
                        "\"error_type\":\"stream_deleted\",\"stream\":\"Order-7\","
                        "\"deleted\":\"soft\",\"current_version\":2}";
    assert_int_equal(evs__http_error(410, typed, strlen(typed), "stream Order-7"),
                     EVS_ESTREAM_DELETED);
    assert_non_null(strstr(evs_last_error(), "stream Order-7 was deleted at version 2"));
    /* Another 410 is not a deleted stream. */
    const char *other = "{\"error\":\"gone\"}";
    assert_int_equal(evs__http_error(410, other, strlen(other), "stream Order-6"),
                     EVS_EPROTOCOL);
    assert_int_equal(evs__http_error(410, "", 0, "stream Order-6"), EVS_EPROTOCOL);
    assert_string_not_equal(evs_strerror(EVS_ESTREAM_DELETED), "unknown error code");
    assert_int_equal(EVS_ESTREAM_DELETED, -15);
}

static void test_metadata_json(void **state)
{
    evs_stream_metadata m;
    const char *body = "{\"stream\":\"Order-1\",\"partition\":2,\"current_version\":9,"
                       "\"first_version\":4,\"deleted\":null,\"max_count\":100,"
                       "\"max_age_ms\":2592000000}";
    assert_int_equal(evs__stream_metadata_from_json(body, strlen(body), &m), 0);
    assert_string_equal(m.stream, "Order-1");
    assert_int_equal(m.partition, 2);
    assert_int_equal(m.current_version, 9);
    assert_int_equal(m.first_version, 4);
    assert_int_equal(m.deleted, 0);
    assert_int_equal(m.max_count, 100);
    assert_int_equal(m.max_age_ms, 2592000000ull);

    body = "{\"stream\":\"Order-1\",\"partition\":0,\"current_version\":9,\"first_version\":10,"
           "\"deleted\":\"soft\",\"max_count\":null,\"max_age_ms\":null}";
    assert_int_equal(evs__stream_metadata_from_json(body, strlen(body), &m), 0);
    assert_int_equal(m.deleted, 1);
    assert_int_equal(m.first_version, 10);
    assert_int_equal(m.max_count, 0);
    assert_int_equal(m.max_age_ms, 0);
    body = "{\"stream\":\"Order-1\",\"partition\":0,\"current_version\":9,\"first_version\":10,"
           "\"deleted\":\"hard\"}"; /* limits absent: none */
    assert_int_equal(evs__stream_metadata_from_json(body, strlen(body), &m), 0);
    assert_int_equal(m.deleted, 2);

    static const struct {
        const char *body;
        const char *member;
    } bad[] = {
        {"{\"partition\":0,\"current_version\":1,\"first_version\":1}", "\"stream\""},
        {"{\"stream\":\"$x\",\"partition\":0,\"current_version\":1,\"first_version\":1}",
         "\"stream\""},
        {"{\"stream\":\"S\",\"current_version\":1,\"first_version\":1}", "\"partition\""},
        {"{\"stream\":\"S\",\"partition\":0,\"current_version\":-1,\"first_version\":1}",
         "\"current_version\""},
        {"{\"stream\":\"S\",\"partition\":0,\"current_version\":1}", "\"first_version\""},
        {"{\"stream\":\"S\",\"partition\":0,\"current_version\":1,\"first_version\":1,"
         "\"max_count\":\"5\"}",
         "\"max_count\""},
        {"{\"stream\":\"S\",\"partition\":0,\"current_version\":1,\"first_version\":1,"
         "\"max_age_ms\":-3}",
         "\"max_age_ms\""},
        {"{\"stream\":\"S\",\"partition\":0,\"current_version\":1,\"first_version\":1,"
         "\"deleted\":\"yes\"}",
         "\"deleted\""},
        {"[1]", "not a JSON object"},
        {"{", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m.partition = 5;
        assert_int_equal(evs__stream_metadata_from_json(bad[i].body, strlen(bad[i].body), &m),
                         EVS_EPROTOCOL);
        if (!strstr(evs_last_error(), bad[i].member))
            fail_msg("case %zu: \"%s\" does not name %s", i, evs_last_error(), bad[i].member);
        assert_int_equal(m.partition, -1);
    }
}

static void test_event_list_first_version(void **state)
{
    evs_event_list *list = NULL;
    const char *body = "{\"stream\":\"S-1\",\"current_version\":9,\"first_version\":7,"
                       "\"events\":[],\"next\":10,\"end_of_stream\":true}";
    assert_int_equal(evs__event_list_from_json(body, strlen(body), &list), 0);
    assert_int_equal(list->first_version, 7);
    assert_int_equal(list->next, 10);
    evs_event_list_free(list);
    body = "{\"partition\":0,\"events\":[],\"next\":3,\"end\":true}";
    assert_int_equal(evs__event_list_from_json(body, strlen(body), &list), 0);
    assert_int_equal(list->first_version, 0);
    evs_event_list_free(list);
}

/* ---- End to end: the mock cluster and a fake projector ---------------------------------- */

typedef enum fake_mode {
    FAKE_ACCEPT,  /* verdicts accepted, echoing the operation asked for by the test */
    FAKE_DELETED, /* verdicts stream_deleted; stream reads 410 */
} fake_mode;

static struct fake {
    test_http_server server;
    atomic_int mode;
    pthread_mutex_t lock;
    char operation[16];    /* the verdict's "operation" */
    char last_path[512];   /* the last request's path, /cluster aside */
} fake;

static int fake_serve(void *user, int fd, const char *path, const char *head, size_t head_len)
{
    (void)user, (void)head, (void)head_len;
    char body[1024];
    pthread_mutex_lock(&fake.lock);
    if (strcmp(path, "/cluster") != 0)
        snprintf(fake.last_path, sizeof fake.last_path, "%s", path);
    char operation[16];
    snprintf(operation, sizeof operation, "%s", fake.operation);
    pthread_mutex_unlock(&fake.lock);
    int deleted = atomic_load(&fake.mode) == FAKE_DELETED;

    if (strncmp(path, "/verdicts/", 10) == 0) {
        snprintf(body, sizeof body,
                 "{\"append_id\":\"%.36s\",\"status\":\"%s\",\"operation\":\"%s\","
                 "\"stream\":\"Order-1\",\"partition\":%lld,\"offset\":%lld,"
                 "\"first_version\":0,\"last_version\":0,\"first_position\":0,"
                 "\"last_position\":0,\"current_version\":12,\"event_count\":0,\"reason\":\"\"}",
                 path + 10, deleted ? "stream_deleted" : "accepted", operation,
                 test_http_query_number(path, "partition", -1),
                 test_http_query_number(path, "offset", -1));
        return test_http_send_json(fd, 200, body);
    }
    if (strcmp(path, "/streams/Order-1/metadata") == 0)
        return test_http_send_json(
            fd, 200,
            deleted ? "{\"stream\":\"Order-1\",\"partition\":0,\"current_version\":12,"
                      "\"first_version\":13,\"deleted\":\"hard\",\"max_count\":null,"
                      "\"max_age_ms\":null}"
                    : "{\"stream\":\"Order-1\",\"partition\":0,\"current_version\":12,"
                      "\"first_version\":5,\"deleted\":null,\"max_count\":50,"
                      "\"max_age_ms\":86400000}");
    if (strncmp(path, "/streams/Order-1?", 17) == 0 && deleted)
        return test_http_send_json(fd, 410,
                                   "{\"error\":\"stream Order-1 was hard-deleted: it is a "
                                   "tombstone, and takes no more appends\",\"error_type\":"
                                   "\"stream_deleted\",\"stream\":\"Order-1\",\"deleted\":"
                                   "\"hard\",\"current_version\":12}");
    if (strncmp(path, "/streams/", 9) == 0 && strstr(path, "/metadata"))
        return test_http_send_json(fd, 404, "{\"error\":\"stream Order-2 not found\"}");
    /* /cluster included: an older projector's 404, so one URL serves every partition. */
    return test_http_send_json(fd, 404, "{\"error\":\"no such endpoint\"}");
}

static void fake_set_operation(const char *operation)
{
    pthread_mutex_lock(&fake.lock);
    snprintf(fake.operation, sizeof fake.operation, "%s", operation);
    pthread_mutex_unlock(&fake.lock);
}

static void fake_last_path(char *out, size_t out_len)
{
    pthread_mutex_lock(&fake.lock);
    snprintf(out, out_len, "%s", fake.last_path);
    pthread_mutex_unlock(&fake.lock);
}

static rd_kafka_t *mock_owner;
static rd_kafka_mock_cluster_t *mock_cluster;
static char bootstraps[256];

static void quiet_log(const rd_kafka_t *rk, int level, const char *facility, const char *text)
{
    (void)rk, (void)level, (void)facility, (void)text;
}

static int group_setup(void **state)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    mock_owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!mock_owner)
        return -1;
    mock_cluster = rd_kafka_mock_cluster_new(mock_owner, 1);
    if (!mock_cluster ||
        rd_kafka_mock_topic_create(mock_cluster, TOPIC, 1, 1) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    snprintf(bootstraps, sizeof bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(mock_cluster));
    pthread_mutex_init(&fake.lock, NULL);
    test_http_server_listen(&fake.server);
    test_http_server_run(&fake.server, fake_serve, NULL);
    return 0;
}

static int group_teardown(void **state)
{
    test_http_server_stop(&fake.server);
    pthread_mutex_destroy(&fake.lock);
    rd_kafka_mock_cluster_destroy(mock_cluster);
    rd_kafka_destroy(mock_owner);
    return 0;
}

static evs_client *open_client(void)
{
    evs_client_options options;
    evs_client *client = NULL;
    evs_client_options_init(&options);
    options.brokers = bootstraps;
    options.topic = TOPIC;
    options.projector_url = fake.server.url;
    options.produce_timeout_ms = 5000;
    options.verdict_timeout_ms = 5000;
    options.request_timeout_ms = 5000;
    int rc = evs_client_open(&options, &client);
    if (rc != 0)
        fail_msg("evs_client_open: %d %s", rc, evs_last_error());
    return client;
}

/* The topic's high watermark: how many records were ever produced to it. */
static int64_t records_in_topic(void)
{
    char errstr[256];
    int64_t low = -1, high = -1;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, errstr, sizeof errstr);
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    rd_kafka_t *probe = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    assert_non_null(probe);
    assert_int_equal(rd_kafka_query_watermark_offsets(probe, TOPIC, 0, &low, &high, 10000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(probe);
    return high;
}

/* Reads the record at offset of partition 0 and decodes it; free with
 * evs_append_request_free. */
static evs_append_request *record_at(int64_t offset)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, errstr, sizeof errstr);
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    assert_non_null(consumer);
    rd_kafka_topic_t *topic = rd_kafka_topic_new(consumer, TOPIC, NULL);
    assert_non_null(topic);
    assert_int_equal(rd_kafka_consume_start(topic, 0, offset), 0);
    rd_kafka_message_t *message = NULL;
    for (int i = 0; i < 50 && !message; i++) {
        message = rd_kafka_consume(topic, 0, 200);
        if (message && message->err) {
            rd_kafka_message_destroy(message);
            message = NULL;
        }
    }
    assert_non_null(message);
    assert_int_equal(message->offset, offset);
    assert_int_equal(message->key_len, strlen("Order-1"));
    assert_memory_equal(message->key, "Order-1", message->key_len);
    evs_append_request *req = NULL;
    char err[256];
    if (evs_record_decode(message->payload, message->len, &req, err, sizeof err) != 0)
        fail_msg("record at offset %lld: %s", (long long)offset, err);
    rd_kafka_message_destroy(message);
    rd_kafka_consume_stop(topic, 0);
    rd_kafka_topic_destroy(topic);
    rd_kafka_destroy(consumer);
    return req;
}

/* The record of the command that result describes, checked against its verdict path. */
static evs_append_request *command_record(const evs_append_result *r)
{
    char path[512], expected[256];
    fake_last_path(path, sizeof path);
    snprintf(expected, sizeof expected, "/verdicts/%s?partition=0&offset=%lld&timeout_ms=5000",
             r->append_id, (long long)r->offset);
    assert_string_equal(path, expected);
    evs_append_request *req = record_at(r->offset);
    char id[37];
    evs_uuid_format(req->append_id, id);
    assert_string_equal(id, r->append_id);
    assert_int_equal(req->event_count, 0);
    return req;
}

static void test_commands_end_to_end(void **state)
{
    evs_client *client = open_client();
    evs_append_result r;
    atomic_store(&fake.mode, FAKE_ACCEPT);

    fake_set_operation("delete");
    int rc = evs_stream_delete(client, "Order-1", (evs_expected){EVS_EXPECT_EXACT, 12}, 0, ID, &r);
    if (rc != 0)
        fail_msg("delete: %d %s", rc, evs_last_error());
    assert_string_equal(r.append_id, ID);
    assert_int_equal(r.current_version, 12);
    assert_int_equal(r.duplicate, 0);
    evs_append_request *req = command_record(&r);
    assert_int_equal(req->operation, EVS_OP_DELETE);
    assert_int_equal(req->expected_kind, EVS_EXPECT_EXACT);
    assert_int_equal(req->expected_version, 12);
    evs_append_request_free(req);

    fake_set_operation("hard_delete");
    assert_int_equal(evs_stream_delete(client, "Order-1", any, 1, NULL, &r), 0);
    req = command_record(&r);
    assert_int_equal(req->operation, EVS_OP_HARD_DELETE);
    assert_int_equal(req->expected_kind, EVS_EXPECT_ANY);
    evs_append_request_free(req);

    fake_set_operation("truncate");
    assert_int_equal(evs_stream_truncate(client, "Order-1", any, 5, NULL, &r), 0);
    req = command_record(&r);
    assert_int_equal(req->operation, EVS_OP_TRUNCATE);
    assert_int_equal(req->truncate_before, 5);
    evs_append_request_free(req);

    fake_set_operation("set_limits");
    assert_int_equal(evs_stream_set_limits(client, "Order-1", any, 100, 30ull * 86400000, NULL, &r),
                     0);
    req = command_record(&r);
    assert_int_equal(req->operation, EVS_OP_SET_LIMITS);
    assert_int_equal(req->max_count, 100);
    assert_int_equal(req->max_age_ms, 30ull * 86400000);
    evs_append_request_free(req);

    /* A verdict for another operation than the one produced: the outcome is not known. */
    fake_set_operation("append");
    assert_int_equal(evs_stream_truncate(client, "Order-1", any, 5, NULL, &r),
                     EVS_EUNKNOWN_OUTCOME);

    /* Lifecycle commands are not appends in the client's counters. */
    evs_client_metrics m;
    assert_int_equal(evs_client_metrics_get(client, &m), 0);
    assert_int_equal(m.appends, 0);
    assert_int_equal(m.verdict_waits, 0);
    evs_client_close(client);
}

static void test_refused_commands_produce_nothing(void **state)
{
    evs_client *client = open_client();
    evs_append_result r;
    int64_t before = records_in_topic();

    assert_int_equal(evs_stream_truncate(client, "Order-1", any, 0, NULL, &r), EVS_EINVAL);
    assert_non_null(strstr(evs_last_error(), "invalid truncate of stream Order-1"));
    assert_int_equal(evs_stream_truncate(client, "Order-1", any, (uint64_t)INT64_MAX + 1, NULL, &r),
                     EVS_EINVAL);
    assert_int_equal(
        evs_stream_set_limits(client, "Order-1", any, (uint64_t)INT64_MAX + 1, 0, NULL, &r),
        EVS_EINVAL);
    assert_int_equal(evs_stream_delete(client, "$bad", any, 0, NULL, &r), EVS_EINVAL);
    assert_int_equal(evs_stream_delete(client, "Order-1", any, 0, "not-a-uuid", &r), EVS_EINVAL);
    assert_int_equal(evs_stream_delete(client, NULL, any, 0, NULL, &r), EVS_EINVAL);
    assert_int_equal(evs_stream_delete(client, "Order-1", (evs_expected){(evs_expected_kind)9, 0},
                                       0, NULL, &r),
                     EVS_EINVAL);
    assert_int_equal(evs_stream_delete(client, "Order-1", any, 0, NULL, NULL), EVS_EINVAL);
    assert_int_equal(records_in_topic(), before);
    evs_client_close(client);
}

static void test_deleted_stream(void **state)
{
    evs_client *client = open_client();
    evs_append_result r;
    atomic_store(&fake.mode, FAKE_DELETED);

    fake_set_operation("truncate");
    assert_int_equal(evs_stream_truncate(client, "Order-1", any, 3, NULL, &r),
                     EVS_ESTREAM_DELETED);
    assert_non_null(strstr(evs_last_error(), "stream Order-1 was hard-deleted"));
    assert_true(r.offset >= 0);

    const char *data = "{}";
    evs_event_data event = {.type = "T", .data = data, .data_len = 2};
    fake_set_operation("append");
    assert_int_equal(evs_append(client, "Order-1", any, &event, 1, NULL, &r), EVS_ESTREAM_DELETED);
    evs_client_metrics m;
    assert_int_equal(evs_client_metrics_get(client, &m), 0);
    assert_int_equal(m.appends, 1);
    assert_int_equal(m.appends_rejected, 1);

    evs_event_list *list = (evs_event_list *)1;
    assert_int_equal(evs_stream_read(client, "Order-1", 0, 10, EVS_FORWARDS, &list),
                     EVS_ESTREAM_DELETED);
    assert_null(list);
    assert_non_null(strstr(evs_last_error(), "Order-1 was hard-deleted at version 12"));

    evs_stream_metadata meta;
    assert_int_equal(evs_stream_metadata_get(client, "Order-1", &meta), 0);
    assert_int_equal(meta.deleted, 2);
    assert_int_equal(meta.first_version, 13);
    evs_client_close(client);
}

static void test_metadata_get(void **state)
{
    evs_client *client = open_client();
    evs_stream_metadata meta;
    char path[512];
    atomic_store(&fake.mode, FAKE_ACCEPT);

    assert_int_equal(evs_stream_metadata_get(client, "Order-1", &meta), 0);
    fake_last_path(path, sizeof path);
    assert_string_equal(path, "/streams/Order-1/metadata");
    assert_string_equal(meta.stream, "Order-1");
    assert_int_equal(meta.partition, 0);
    assert_int_equal(meta.current_version, 12);
    assert_int_equal(meta.first_version, 5);
    assert_int_equal(meta.deleted, 0);
    assert_int_equal(meta.max_count, 50);
    assert_int_equal(meta.max_age_ms, 86400000);

    assert_int_equal(evs_stream_metadata_get(client, "Order-2", &meta), EVS_ENOT_FOUND);
    assert_string_equal(evs_last_error(), "stream Order-2 does not exist (it never had an event)");
    assert_int_equal(meta.partition, -1);
    assert_int_equal(evs_stream_metadata_get(client, "$x", &meta), EVS_EINVAL);
    assert_int_equal(evs_stream_metadata_get(client, "Order-1", NULL), EVS_EINVAL);
    evs_client_close(client);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_verdict_stream_deleted),
        cmocka_unit_test(test_verdict_lifecycle_accepted),
        cmocka_unit_test(test_http_410_stream_deleted),
        cmocka_unit_test(test_metadata_json),
        cmocka_unit_test(test_event_list_first_version),
    };
    const struct CMUnitTest end_to_end[] = {
        cmocka_unit_test(test_commands_end_to_end),
        cmocka_unit_test(test_refused_commands_produce_nothing),
        cmocka_unit_test(test_deleted_stream),
        cmocka_unit_test(test_metadata_get),
    };
    int failed = cmocka_run_group_tests_name("lifecycle verdicts and answers", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("lifecycle end to end", end_to_end, group_setup,
                                          group_teardown);
    return failed;
}
