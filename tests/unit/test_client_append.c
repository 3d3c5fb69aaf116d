/*
 * test_client_append.c - libevstore's append, lookup and read paths end to end, without a
 * real broker or projector: librdkafka's built-in mock cluster stands in for Kafka and a
 * tiny HTTP/1.1 server in this file stands in for the projector's query API.
 *
 * What it pins down:
 *  - invalid input returns EVS_EINVAL and produces nothing (the topic stays empty);
 *  - an unreachable broker gives EVS_EUNAVAILABLE (nothing written) with the append id;
 *    a produce request in flight when the produce timeout expires gives
 *    EVS_EUNKNOWN_OUTCOME (librdkafka: "possibly persisted");
 *  - after a successful produce, the verdict request carries the record's partition and
 *    offset, and any failure to learn the verdict (504, projector down) is
 *    EVS_EUNKNOWN_OUTCOME naming the append id;
 *  - the verdict mapping (accepted, wrong expected version with its message);
 *  - HTTP keep-alive: sequential requests from one thread reuse one connection;
 *  - many threads on one client, and one client per thread, each get their own delivery
 *    report (the offsets they see are exactly 0..N-1, each once).
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "evstore.h"
#include "test_http_server.h"

#define TOPIC "evstore.unit"
#define ID "5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6"

/* ---- A stub projector ------------------------------------------------------------------ */

typedef enum stub_mode {
    STUB_ACCEPT,    /* verdicts: accepted, echoing partition and offset from the query */
    STUB_WRONG,     /* verdicts: wrong_expected_version, stream at 5 */
    STUB_TIMEOUT,   /* verdicts: 504 */
    STUB_NOT_FOUND, /* verdicts: 404 */
} stub_mode;

static struct stub {
    int listen_fd;
    int port;
    pthread_t thread;
    atomic_int mode;
    atomic_int connections; /* accepted so far */
    atomic_int open_connections;
    atomic_int requests;
    atomic_int hold_next; /* 1: the next verdict request waits until release is set */
    atomic_int held;      /* a verdict request is waiting */
    atomic_int release;
    pthread_mutex_t lock;
    char last_path[512];
} stub;

static void stub_respond(const char *path, int *status, char *body, size_t body_len)
{
    char id[37] = "";
    long long partition = -1, offset = -1;
    const char *query = strchr(path, '?');
    if (strncmp(path, "/verdicts/", 10) == 0) {
        snprintf(id, sizeof id, "%.36s", path + 10);
        const char *p = query ? strstr(query, "partition=") : NULL;
        if (p)
            partition = atoll(p + 10);
        p = query ? strstr(query, "offset=") : NULL;
        if (p)
            offset = atoll(p + 7);
        switch ((stub_mode)atomic_load(&stub.mode)) {
        case STUB_ACCEPT:
            *status = 200;
            snprintf(body, body_len,
                     "{\"append_id\":\"%s\",\"status\":\"accepted\",\"stream\":\"Order-1\","
                     "\"partition\":%lld,\"offset\":%lld,\"first_version\":%lld,"
                     "\"last_version\":%lld,\"first_position\":%lld,\"last_position\":%lld,"
                     "\"current_version\":%lld,\"event_count\":1,\"reason\":\"\"}",
                     id, partition, offset < 0 ? 0 : offset, offset + 1, offset + 1, offset + 1,
                     offset + 1, offset + 1);
            return;
        case STUB_WRONG:
            *status = 200;
            snprintf(body, body_len,
                     "{\"append_id\":\"%s\",\"status\":\"wrong_expected_version\","
                     "\"stream\":\"Order-7\",\"partition\":%lld,\"offset\":%lld,"
                     "\"current_version\":5,\"expected\":\"3\",\"reason\":\"\"}",
                     id, partition, offset);
            return;
        case STUB_TIMEOUT:
            *status = 504;
            snprintf(body, body_len,
                     "{\"error\":\"projector has not applied partition %lld "
                     "offset %lld within 1 ms\",\"next_offset\":0}",
                     partition, offset);
            return;
        case STUB_NOT_FOUND:
            *status = 404;
            snprintf(body, body_len, "{\"error\":\"no append with id %s\"}", id);
            return;
        }
    }
    if (strncmp(path, "/streams/Order-1?", 17) == 0 || strncmp(path, "/all?", 5) == 0) {
        *status = 200;
        /* data 00 ff 7b ("AP97"), metadata {"m":1} ("eyJtIjoxfQ==") */
        snprintf(body, body_len,
                 "{\"stream\":\"Order-1\",\"current_version\":1,\"next\":2,\"end_of_stream\":true,"
                 "\"end\":true,\"events\":[{\"event_id\":\"" ID "\",\"stream\":\"Order-1\","
                 "\"type\":\"T\",\"version\":1,\"position\":1,\"partition\":0,"
                 "\"created_us\":5,\"content_type\":\"application/octet-stream\","
                 "\"data\":\"AP97\",\"metadata\":\"eyJtIjoxfQ==\",\"correlation_id\":null,"
                 "\"causation_id\":null}]}");
        return;
    }
    if (strncmp(path, "/streams/", 9) == 0) {
        *status = 404;
        snprintf(body, body_len, "{\"error\":\"stream does not exist\"}");
        return;
    }
    if (strcmp(path, "/status") == 0) {
        *status = 200;
        snprintf(body, body_len, "{\"topic\":\"" TOPIC "\",\"state\":\"running\"}");
        return;
    }
    *status = 404;
    snprintf(body, body_len, "{\"error\":\"no such path\"}");
}

/* Serves GET requests on one kept-alive connection until the client closes it. */
static void *stub_connection(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char request[4096];
    size_t have = 0;
    size_t request_len, head_len;
    while ((request_len = test_http_read_request(fd, request, sizeof request, &have,
                                                 &head_len)) != 0) {
        char path[512] = "";
        sscanf(request, "GET %511s", path);
        pthread_mutex_lock(&stub.lock);
        snprintf(stub.last_path, sizeof stub.last_path, "%s", path);
        pthread_mutex_unlock(&stub.lock);
        atomic_fetch_add(&stub.requests, 1);
        if (strncmp(path, "/verdicts/", 10) == 0 && atomic_exchange(&stub.hold_next, 0)) {
            atomic_store(&stub.held, 1);
            while (!atomic_load(&stub.release))
                usleep(1000);
        }

        int status = 500;
        char body[2048];
        stub_respond(path, &status, body, sizeof body);
        char response[2400];
        int n = snprintf(response, sizeof response,
                         "HTTP/1.1 %d Stub\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\n\r\n%s",
                         status, strlen(body), body);
        if (send(fd, response, (size_t)n, MSG_NOSIGNAL) != n)
            break;
        test_http_consume(request, &have, request_len);
    }
    close(fd);
    atomic_fetch_sub(&stub.open_connections, 1);
    return NULL;
}

static void *stub_accept_loop(void *arg)
{
    for (;;) {
        int fd = accept(stub.listen_fd, NULL, NULL);
        if (fd < 0)
            return NULL; /* the listening socket was shut down */
        atomic_fetch_add(&stub.connections, 1);
        atomic_fetch_add(&stub.open_connections, 1);
        pthread_t t;
        if (pthread_create(&t, NULL, stub_connection, (void *)(intptr_t)fd) != 0) {
            close(fd);
            atomic_fetch_sub(&stub.open_connections, 1);
            continue;
        }
        pthread_detach(t);
    }
}

static void stub_start(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    stub.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(stub.listen_fd >= 0);
    assert_int_equal(bind(stub.listen_fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(stub.listen_fd, 64), 0);
    assert_int_equal(getsockname(stub.listen_fd, (struct sockaddr *)&addr, &len), 0);
    stub.port = ntohs(addr.sin_port);
    pthread_mutex_init(&stub.lock, NULL);
    assert_int_equal(pthread_create(&stub.thread, NULL, stub_accept_loop, NULL), 0);
}

static void stub_stop(void)
{
    shutdown(stub.listen_fd, SHUT_RDWR);
    close(stub.listen_fd);
    pthread_join(stub.thread, NULL);
    /* Connection threads end when their clients close; clients are closed by now. */
    for (int i = 0; i < 500 && atomic_load(&stub.open_connections) > 0; i++)
        usleep(10000);
    pthread_mutex_destroy(&stub.lock);
}

static void stub_last_path(char *out, size_t out_len)
{
    pthread_mutex_lock(&stub.lock);
    snprintf(out, out_len, "%s", stub.last_path);
    pthread_mutex_unlock(&stub.lock);
}

/* ---- The mock cluster ------------------------------------------------------------------ */

static rd_kafka_t *mock_owner;
static rd_kafka_mock_cluster_t *mock_cluster;
static char bootstraps[256];
static char projector_url[64];

static void quiet_log(const rd_kafka_t *rk, int level, const char *facility, const char *text) {}

static int group_setup(void **state)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    mock_owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!mock_owner)
        return -1;
    mock_cluster = rd_kafka_mock_cluster_new(mock_owner, 1);
    if (!mock_cluster)
        return -1;
    if (rd_kafka_mock_topic_create(mock_cluster, TOPIC, 1, 1) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    snprintf(bootstraps, sizeof bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(mock_cluster));
    stub_start();
    snprintf(projector_url, sizeof projector_url, "http://127.0.0.1:%d/", stub.port);
    return 0;
}

static int group_teardown(void **state)
{
    stub_stop();
    rd_kafka_mock_cluster_destroy(mock_cluster);
    rd_kafka_destroy(mock_owner);
    return 0;
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
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(probe, TOPIC, 0, &low, &high, 10000);
    assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(probe);
    return high;
}

static evs_client *open_client(const char *brokers, const char *projector, int timeout_ms)
{
    evs_client_options options;
    evs_client *client = NULL;
    evs_client_options_init(&options);
    options.brokers = brokers;
    options.topic = TOPIC;
    options.projector_url = projector;
    options.produce_timeout_ms = timeout_ms;
    options.verdict_timeout_ms = timeout_ms;
    options.request_timeout_ms = timeout_ms;
    int rc = evs_client_open(&options, &client);
    if (rc != 0)
        fail_msg("evs_client_open: %d %s", rc, evs_last_error());
    return client;
}

static evs_event_data one_event(const char *type, const char *json)
{
    evs_event_data e;
    memset(&e, 0, sizeof e);
    e.type = type;
    e.data = json;
    e.data_len = strlen(json);
    return e;
}

static const evs_expected any = {EVS_EXPECT_ANY, 0};

/* ---- Tests ----------------------------------------------------------------------------- */

static void test_open_defaults_and_bad_settings(void **state)
{
    evs_client *client = NULL;
    evs_client_options options;
    /* defaults only: opening does not connect anywhere */
    assert_int_equal(evs_client_open(NULL, &client), 0);
    evs_client_close(client);
    evs_client_close(NULL);

    evs_client_options_init(&options);
    assert_null(options.brokers);
    assert_int_equal(options.produce_timeout_ms, 10000);
    assert_int_equal(options.linger_ms, 1);
    options.projector_url = "ftp://nowhere";
    assert_int_equal(evs_client_open(&options, &client), EVS_EINVAL);
    assert_null(client);
    assert_non_null(strstr(evs_last_error(), "http://"));
}

/* The client's counters now (evs_client_metrics_get). */
static evs_client_metrics metrics_of(evs_client *client)
{
    evs_client_metrics m;
    assert_int_equal(evs_client_metrics_get(client, &m), 0);
    return m;
}

static void test_invalid_input_produces_nothing(void **state)
{
    evs_client *client = open_client(bootstraps, projector_url, 5000);
    evs_append_result r;
    evs_event_data e = one_event("OrderPlaced", "{}");
    int64_t before = records_in_topic();

    assert_int_equal(evs_append(client, "$reserved", any, &e, 1, NULL, &r), EVS_EINVAL);
    assert_non_null(strstr(evs_last_error(), "$reserved"));
    assert_int_equal(strlen(r.append_id), 36); /* filled even on failure */
    evs_event_data empty_type = one_event("", "{}");
    assert_int_equal(evs_append(client, "Order-1", any, &empty_type, 1, NULL, &r), EVS_EINVAL);
    assert_non_null(strstr(evs_last_error(), "Order-1"));
    evs_event_data no_type = one_event(NULL, "{}");
    no_type.type = NULL;
    assert_int_equal(evs_append(client, "Order-1", any, &no_type, 1, NULL, &r), EVS_EINVAL);
    assert_int_equal(evs_append(client, "Order-1", any, &e, 0, NULL, &r), EVS_EINVAL);
    assert_int_equal(evs_append(client, "Order-1", any, &e, EVS_APPEND_EVENTS_MAX + 1, NULL, &r),
                     EVS_EINVAL);
    assert_int_equal(evs_append(client, "Order-1", any, &e, 1, "not-a-uuid", &r), EVS_EINVAL);
    assert_non_null(strstr(evs_last_error(), "not-a-uuid"));
    evs_event_data bad_id = e;
    bad_id.event_id = "1234";
    assert_int_equal(evs_append(client, "Order-1", any, &bad_id, 1, NULL, &r), EVS_EINVAL);
    assert_non_null(strstr(evs_last_error(), "event 1"));
    size_t big_len = EVS_EVENT_DATA_MAX + 1;
    char *big = calloc(1, big_len);
    assert_non_null(big);
    evs_event_data too_big = e;
    too_big.data = big;
    too_big.data_len = big_len;
    assert_int_equal(evs_append(client, "Order-1", any, &too_big, 1, NULL, &r), EVS_EINVAL);
    free(big);
    assert_int_equal(evs_append(client, NULL, any, &e, 1, NULL, &r), EVS_EINVAL);
    assert_int_equal(evs_append(NULL, "Order-1", any, &e, 1, NULL, &r), EVS_EINVAL);

    assert_int_equal(records_in_topic(), before);
    /* Nine refusals on this client (the NULL client has none to count on), nothing else. */
    evs_client_metrics m = metrics_of(client);
    assert_int_equal(m.appends, 9);
    assert_int_equal(m.appends_invalid, 9);
    assert_int_equal(m.appends_accepted + m.appends_failed + m.verdict_waits, 0);
    assert_int_equal(evs_client_metrics_get(NULL, &m), EVS_EINVAL);
    assert_int_equal(evs_client_metrics_get(client, NULL), EVS_EINVAL);
    evs_client_close(client);
}

static void test_unreachable_broker_is_unavailable(void **state)
{
    /* Port 1 on loopback refuses connections: the record is never sent. */
    evs_client *client = open_client("127.0.0.1:1", projector_url, 1500);
    evs_append_result r;
    evs_event_data e = one_event("OrderPlaced", "{}");
    assert_int_equal(evs_append(client, "Order-1", any, &e, 1, ID, &r), EVS_EUNAVAILABLE);
    assert_string_equal(r.append_id, ID);
    assert_non_null(strstr(evs_last_error(), "nothing was written"));
    assert_non_null(strstr(evs_last_error(), ID));
    evs_client_metrics m = metrics_of(client);
    assert_int_equal(m.appends, 1);
    assert_int_equal(m.appends_failed, 1); /* nothing written: no verdict to wait for */
    assert_int_equal(m.verdict_waits, 0);
    evs_client_close(client);
}

static void test_accepted_with_partition_and_offset(void **state)
{
    evs_client *client = open_client(bootstraps, projector_url, 5000);
    evs_append_result r;
    evs_event_data e = one_event("OrderPlaced", "{\"total\":12}");
    char path[512];
    atomic_store(&stub.mode, STUB_ACCEPT);
    int64_t before = records_in_topic();
    int connections_before = atomic_load(&stub.connections);

    for (int i = 0; i < 20; i++) {
        int rc = evs_append(client, "Order-1", any, &e, 1, NULL, &r);
        if (rc != 0)
            fail_msg("append %d: %d %s", i, rc, evs_last_error());
        assert_int_equal(r.duplicate, 0);
        assert_int_equal(r.partition, 0);
        assert_int_equal(r.offset, before + i);
        assert_int_equal(r.first_version, before + i + 1);
        assert_string_equal(r.stream, "Order-1");
        stub_last_path(path, sizeof path);
        char expected_path[256];
        snprintf(expected_path, sizeof expected_path,
                 "/verdicts/%s?partition=0&offset=%lld&timeout_ms=5000", r.append_id,
                 (long long)(before + i));
        assert_string_equal(path, expected_path);
    }
    assert_int_equal(records_in_topic(), before + 20);
    /* keep-alive: twenty verdicts over one connection */
    assert_int_equal(atomic_load(&stub.connections) - connections_before, 1);
    evs_client_metrics m = metrics_of(client);
    assert_int_equal(m.appends, 20);
    assert_int_equal(m.appends_accepted, 20);
    assert_int_equal(m.appends_duplicate, 0);
    assert_int_equal(m.verdict_waits, 20);
    assert_true(m.verdict_wait_us_total > 0);
    assert_int_equal(m.failovers, 0);
    evs_client_close(client);
}

static void test_wrong_expected_version(void **state)
{
    evs_client *client = open_client(bootstraps, projector_url, 5000);
    evs_append_result r;
    evs_event_data e = one_event("OrderPlaced", "{}");
    atomic_store(&stub.mode, STUB_WRONG);
    assert_int_equal(
        evs_append(client, "Order-7", (evs_expected){EVS_EXPECT_EXACT, 3}, &e, 1, NULL, &r),
        EVS_EWRONG_VERSION);
    assert_int_equal(r.current_version, 5);
    assert_string_equal(evs_last_error(),
                        "wrong expected version for stream Order-7: expected 3, stream is at 5");
    evs_client_metrics m = metrics_of(client);
    assert_int_equal(m.conflicts_wrong_version, 1);
    assert_int_equal(m.appends_accepted + m.conflicts_idempotency, 0);
    evs_client_close(client);
}

static void test_verdict_failures_are_unknown_outcome(void **state)
{
    evs_append_result r;
    evs_event_data e = one_event("OrderPlaced", "{}");

    evs_client *client = open_client(bootstraps, projector_url, 5000);
    atomic_store(&stub.mode, STUB_TIMEOUT);
    int64_t before = records_in_topic();
    assert_int_equal(evs_append(client, "Order-1", any, &e, 1, ID, &r), EVS_EUNKNOWN_OUTCOME);
    assert_string_equal(r.append_id, ID);
    assert_non_null(strstr(evs_last_error(), ID));
    assert_int_equal(r.offset, before);
    assert_int_equal(records_in_topic(), before + 1); /* the record IS in the log */
    atomic_store(&stub.mode, STUB_NOT_FOUND);
    assert_int_equal(evs_append(client, "Order-1", any, &e, 1, NULL, &r), EVS_EUNKNOWN_OUTCOME);
    evs_client_metrics m = metrics_of(client);
    assert_int_equal(m.appends_unknown_outcome, 2);
    assert_int_equal(m.verdict_waits, 2);
    assert_true(m.failovers >= 1); /* the verdict's 504 moved the request on */
    evs_client_close(client);

    /* projector down: nothing listens on the port any more */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    char dead_url[64];
    snprintf(dead_url, sizeof dead_url, "http://127.0.0.1:%d", ntohs(addr.sin_port));
    close(fd);
    client = open_client(bootstraps, dead_url, 2000);
    assert_int_equal(evs_append(client, "Order-1", any, &e, 1, NULL, &r), EVS_EUNKNOWN_OUTCOME);
    assert_non_null(strstr(evs_last_error(), r.append_id));
    assert_int_equal(r.offset, before + 2);
    m = metrics_of(client);
    assert_int_equal(m.appends_unknown_outcome, 1);
    assert_true(m.failovers >= 1); /* the refused connection */
    /* reads against a dead projector: unavailable */
    evs_event_list *list = NULL;
    assert_int_equal(evs_stream_read(client, "Order-1", 0, 10, EVS_FORWARDS, &list),
                     EVS_EUNAVAILABLE);
    assert_null(list);
    evs_client_close(client);
}

static void test_lookup(void **state)
{
    evs_client *client = open_client(bootstraps, projector_url, 5000);
    evs_append_result r;
    char path[512];
    atomic_store(&stub.mode, STUB_ACCEPT);
    assert_int_equal(evs_append_lookup(client, ID, 250, &r), 0);
    stub_last_path(path, sizeof path);
    assert_string_equal(path, "/verdicts/" ID "?timeout_ms=250");
    assert_string_equal(r.append_id, ID);
    assert_string_equal(r.stream, "Order-1");
    /* upper-case ids are normalised */
    assert_int_equal(evs_append_lookup(client, "5F0C2A3E-1B2C-4D5E-8F90-A1B2C3D4E5F6", 1, &r), 0);
    atomic_store(&stub.mode, STUB_NOT_FOUND);
    assert_int_equal(evs_append_lookup(client, ID, 1, &r), EVS_ENOT_FOUND);
    atomic_store(&stub.mode, STUB_TIMEOUT);
    assert_int_equal(evs_append_lookup(client, ID, 1, &r), EVS_ETIMEOUT);
    assert_int_equal(evs_append_lookup(client, "nope", 1, &r), EVS_EINVAL);
    evs_client_close(client);
}

static void test_reads_and_status(void **state)
{
    evs_client *client = open_client(bootstraps, projector_url, 5000);
    evs_event_list *list = NULL;
    char path[512];

    assert_int_equal(evs_stream_read(client, "Order-1", 0, 10, EVS_BACKWARDS, &list), 0);
    stub_last_path(path, sizeof path);
    assert_string_equal(path,
                        "/streams/Order-1?from=0&limit=10&direction=backwards&encoding=base64");
    assert_int_equal(list->count, 1);
    assert_int_equal(list->events[0].data_len, 3);
    assert_memory_equal(list->events[0].data, "\x00\xff\x7b", 3);
    assert_int_equal(list->events[0].metadata_len, 7);
    assert_memory_equal(list->events[0].metadata, "{\"m\":1}", 7);
    assert_int_equal(list->next, 2);
    assert_int_equal(list->end_of_stream, 1);
    evs_event_list_free(list);

    assert_int_equal(evs_stream_read(client, "Order-9", 0, 10, EVS_FORWARDS, &list),
                     EVS_ENOT_FOUND);
    assert_null(list);
    assert_int_equal(evs_stream_read(client, "bad/name", 0, 10, EVS_FORWARDS, &list), EVS_EINVAL);
    assert_int_equal(evs_stream_read(client, "Order-1", 0, 0, EVS_FORWARDS, &list), EVS_EINVAL);
    assert_int_equal(
        evs_stream_read(client, "Order-1", 0, EVS_READ_LIMIT_MAX + 1, EVS_FORWARDS, &list),
        EVS_EINVAL);

    assert_int_equal(evs_all_read(client, 0, 0, 5, &list), 0);
    stub_last_path(path, sizeof path);
    assert_string_equal(path, "/all?partition=0&limit=5&encoding=base64");
    assert_int_equal(list->count, 1);
    evs_event_list_free(list);
    assert_int_equal(evs_all_read(client, 3, 42, 5, &list), 0);
    stub_last_path(path, sizeof path);
    assert_string_equal(path, "/all?partition=3&from=42&limit=5&encoding=base64");
    evs_event_list_free(list);
    assert_int_equal(evs_all_read(client, -1, 0, 5, &list), EVS_EINVAL);

    char *json = NULL;
    assert_int_equal(evs_client_status(client, &json), 0);
    assert_string_equal(json, "{\"topic\":\"" TOPIC "\",\"state\":\"running\"}");
    free(json);
    evs_client_close(client);
}

/* ---- Many writers ---------------------------------------------------------------------- */

#define SHARED_WRITERS 16
#define OWN_CLIENT_WRITERS 4
#define APPENDS_PER_WRITER 25
#define TOTAL_APPENDS ((SHARED_WRITERS + OWN_CLIENT_WRITERS) * APPENDS_PER_WRITER)

typedef struct writer {
    evs_client *client; /* NULL: open an own client */
    int64_t offsets[APPENDS_PER_WRITER];
    int failures;
    char first_error[256];
} writer;

static void *writer_run(void *arg)
{
    writer *w = arg;
    int own = w->client == NULL;
    evs_client *client = own ? open_client(bootstraps, projector_url, 10000) : w->client;
    char stream[32];
    snprintf(stream, sizeof stream, "Race-%d", (int)((intptr_t)w % 7));
    evs_event_data e = one_event("Raced", "{\"n\":1}");
    for (int i = 0; i < APPENDS_PER_WRITER; i++) {
        evs_append_result r;
        int rc = evs_append(client, stream, any, &e, 1, NULL, &r);
        w->offsets[i] = rc == 0 ? r.offset : -1;
        if (rc != 0 && w->failures++ == 0)
            snprintf(w->first_error, sizeof w->first_error, "%d %s", rc, evs_last_error());
    }
    if (own)
        evs_client_close(client);
    return NULL;
}

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void test_many_writers(void **state)
{
    static writer writers[SHARED_WRITERS + OWN_CLIENT_WRITERS];
    pthread_t threads[SHARED_WRITERS + OWN_CLIENT_WRITERS];
    evs_client *shared = open_client(bootstraps, projector_url, 10000);
    atomic_store(&stub.mode, STUB_ACCEPT);
    int64_t before = records_in_topic();

    for (int i = 0; i < SHARED_WRITERS + OWN_CLIENT_WRITERS; i++) {
        memset(&writers[i], 0, sizeof writers[i]);
        writers[i].client = i < SHARED_WRITERS ? shared : NULL;
        assert_int_equal(pthread_create(&threads[i], NULL, writer_run, &writers[i]), 0);
    }
    static int64_t all[TOTAL_APPENDS];
    size_t n = 0;
    for (int i = 0; i < SHARED_WRITERS + OWN_CLIENT_WRITERS; i++) {
        pthread_join(threads[i], NULL);
        if (writers[i].failures)
            fail_msg("writer %d: %d failures, first: %s", i, writers[i].failures,
                     writers[i].first_error);
        for (int k = 0; k < APPENDS_PER_WRITER; k++)
            all[n++] = writers[i].offsets[k];
    }
    evs_client_close(shared);

    /* Every writer saw its own record's offset: together exactly before..before+N-1. */
    qsort(all, n, sizeof all[0], compare_i64);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(all[i], before + (int64_t)i);
    assert_int_equal(records_in_topic(), before + TOTAL_APPENDS);
}

static void *append_one(void *arg)
{
    evs_event_data e = one_event("Held", "{}");
    evs_append_result r;
    intptr_t rc = evs_append(arg, "Order-1", any, &e, 1, NULL, &r);
    return (void *)rc;
}

/* A lone thread's appends skip the producer's linger (produce_alone); an append that runs
 * while another thread's waits for its verdict does not. */
static void test_appends_alone_skip_the_linger(void **state)
{
    evs_client *c = open_client(bootstraps, projector_url, 10000);
    atomic_store(&stub.mode, STUB_ACCEPT);
    evs_event_data e = one_event("Alone", "{}");
    evs_append_result r;
    evs_client_metrics m;
    for (int i = 0; i < 5; i++)
        assert_int_equal(evs_append(c, "Order-1", any, &e, 1, NULL, &r), EVS_OK);
    assert_int_equal(evs_client_metrics_get(c, &m), 0);
    assert_int_equal(m.produce_alone, 5);

    /* The first writer's verdict is held; a second writer's record is produced meanwhile
     * (its verdict then waits behind the first's request). */
    atomic_store(&stub.held, 0);
    atomic_store(&stub.release, 0);
    atomic_store(&stub.hold_next, 1);
    int64_t before = records_in_topic();
    pthread_t first, second;
    assert_int_equal(pthread_create(&first, NULL, append_one, c), 0);
    for (int i = 0; i < 10000 && !atomic_load(&stub.held); i++)
        usleep(1000);
    assert_true(atomic_load(&stub.held));
    assert_int_equal(evs_client_metrics_get(c, &m), 0);
    uint64_t alone_before = m.produce_alone;
    assert_int_equal(pthread_create(&second, NULL, append_one, c), 0);
    for (int i = 0; i < 10000 && records_in_topic() < before + 2; i++)
        usleep(1000);
    assert_int_equal(records_in_topic(), before + 2);
    assert_int_equal(evs_client_metrics_get(c, &m), 0);
    assert_int_equal(m.produce_alone, alone_before); /* it ran beside the held one */
    atomic_store(&stub.release, 1);
    void *rc;
    pthread_join(first, &rc);
    assert_int_equal((intptr_t)rc, EVS_OK);
    pthread_join(second, &rc);
    assert_int_equal((intptr_t)rc, EVS_OK);
    evs_client_close(c);
}

/* Runs last: the slow record may land in the topic after the test gave up on it. */
static void test_in_flight_timeout_is_unknown_outcome(void **state)
{
    evs_client *client = open_client(bootstraps, projector_url, 1000);
    evs_append_result r;
    evs_event_data e = one_event("OrderPlaced", "{}");
    atomic_store(&stub.mode, STUB_ACCEPT);
    /* A first append connects and obtains the idempotent producer id. */
    assert_int_equal(evs_append(client, "Order-1", any, &e, 1, NULL, &r), 0);
    /* Now every broker answer takes 3 s: the next record is sent, then times out. */
    assert_int_equal(rd_kafka_mock_broker_set_rtt(mock_cluster, 1, 3000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    int rc = evs_append(client, "Order-1", any, &e, 1, ID, &r);
    rd_kafka_mock_broker_set_rtt(mock_cluster, 1, 0);
    assert_int_equal(rc, EVS_EUNKNOWN_OUTCOME);
    assert_string_equal(r.append_id, ID);
    assert_non_null(strstr(evs_last_error(), "may or may not have been stored"));
    evs_client_close(client);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_defaults_and_bad_settings),
        cmocka_unit_test(test_invalid_input_produces_nothing),
        cmocka_unit_test(test_unreachable_broker_is_unavailable),
        cmocka_unit_test(test_accepted_with_partition_and_offset),
        cmocka_unit_test(test_wrong_expected_version),
        cmocka_unit_test(test_verdict_failures_are_unknown_outcome),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_reads_and_status),
        cmocka_unit_test(test_many_writers),
        cmocka_unit_test(test_appends_alone_skip_the_linger),
        cmocka_unit_test(test_in_flight_timeout_is_unknown_outcome),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
