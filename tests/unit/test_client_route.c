/*
 * test_client_route.c - libevstore's routing over several projectors and its failover
 * (adapter/src/router.h), against fake projectors: small HTTP/1.1 servers on 127.0.0.1
 * run by threads of this test, each with a /cluster answer and a behaviour per kind of
 * request set by the test, and librdkafka's mock cluster (3 partitions) for appends.
 *
 * What it pins down:
 *  - the seed list is parsed (blanks, trailing '/', repeats) and bad lists are refused;
 *  - /cluster is read from a seed, and stream reads and verdict waits go to the member
 *    serving the stream's partition (evs_stream_partition), members learned from it too;
 *  - a seed where nothing listens is skipped without an error to the caller;
 *  - a 503 or a 421 moves the request to the next member, which is then kept (sticky),
 *    for reads and for the home projector of requests about no partition;
 *  - a member the view lists with live false is never asked anything;
 *  - a verdict wait whose replica closes the connection or answers 504 is answered by
 *    another replica, and the append returns 0; when every replica fails it is
 *    EVS_EUNKNOWN_OUTCOME with the append id;
 *  - after an append judged at partition P offset O, reads of P ($all, a stream of P, a
 *    subscription) carry token=P:O, and reads of other partitions none;
 *  - a subscription whose first projector answers 503 opens on the next, and one whose
 *    connection drops resumes on another replica after the last event it received;
 *  - one URL of an older projector (404 to /cluster) works as before;
 *  - a consumer group's request goes to the member listed as coordinating its state
 *    partition, even when another is the home, and one that every member refuses with 421
 *    (a coordinator being chosen) is tried again until one takes it.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
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
#include "partitioner.h"

#define TOPIC "evstore.route"
#define PARTITIONS 3
#define LOG_MAX 64
#define ANSWER_CLOSE (-1) /* read the request, then close the connection without answering */
/* subscribe_status values besides 200 (history: caught-up, then the end) and 503: */
#define SUBSCRIBE_ONE_THEN_DROP 1 /* event 1, then the connection drops */
#define SUBSCRIBE_HOLD 2          /* caught-up at 2, then the connection stays open */

/* ---- Fake projectors ------------------------------------------------------------------ */

typedef struct fake {
    test_http_server server; /* its port and url, its threads */
    pthread_mutex_t lock;    /* guards everything below */
    char cluster[4096];   /* the /cluster answer; "" answers 404 (an older projector) */
    int read_status;      /* streams and $all: 200, 503, 421 or ANSWER_CLOSE */
    int verdict_status;   /* verdicts: 200, 503, 504 or ANSWER_CLOSE */
    int status_status;    /* /status: 200 or 503 */
    int subscribe_status; /* subscriptions: 200, 503 or a SUBSCRIBE_* mode */
    int group_status;     /* /groups/...: 200 or 421 (not the coordinator) */
    int group_requests;
    long last_event_id;   /* the Last-Event-ID of the latest request, 0 if none */
    int cluster_requests;
    int requests;         /* every request but /cluster */
    char log[LOG_MAX][512]; /* their paths, the first LOG_MAX */
} fake;

static fake *fake_start(void)
{
    fake *f = calloc(1, sizeof *f);
    assert_non_null(f);
    pthread_mutex_init(&f->lock, NULL);
    f->read_status = f->verdict_status = f->status_status = f->subscribe_status = 200;
    test_http_server_listen(&f->server);
    return f;
}

static void fake_set(fake *f, int *field, int value)
{
    pthread_mutex_lock(&f->lock);
    *field = value;
    pthread_mutex_unlock(&f->lock);
}

static int fake_requests(fake *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->requests;
    pthread_mutex_unlock(&f->lock);
    return n;
}

static int fake_cluster_requests(fake *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->cluster_requests;
    pthread_mutex_unlock(&f->lock);
    return n;
}

/* The path of request number i (from 0) that was not /cluster, or "" if none yet. */
static void fake_path(fake *f, int i, char *out, size_t out_len)
{
    pthread_mutex_lock(&f->lock);
    snprintf(out, out_len, "%s", i < f->requests && i < LOG_MAX ? f->log[i] : "");
    pthread_mutex_unlock(&f->lock);
}

static void fake_last_path(fake *f, char *out, size_t out_len)
{
    fake_path(f, fake_requests(f) - 1, out, out_len);
}

/* The answer to one request; -1 to close the connection (after the answer, if any). */
static int fake_answer(fake *f, int fd, const char *path)
{
    char body[2048];
    pthread_mutex_lock(&f->lock);
    int cluster = strcmp(path, "/cluster") == 0;
    if (cluster)
        f->cluster_requests++;
    else if (f->requests++ < LOG_MAX)
        snprintf(f->log[f->requests - 1], sizeof f->log[0], "%s", path);
    char cluster_text[sizeof f->cluster];
    snprintf(cluster_text, sizeof cluster_text, "%s", f->cluster);
    int read_status = f->read_status, verdict_status = f->verdict_status;
    int status_status = f->status_status, subscribe_status = f->subscribe_status;
    int group_status = f->group_status;
    if (strncmp(path, "/groups/", 8) == 0)
        f->group_requests++;
    pthread_mutex_unlock(&f->lock);

    if (cluster)
        return cluster_text[0] ? test_http_send_json(fd, 200, cluster_text)
                               : test_http_send_json(fd, 404, "{\"error\":\"no such path\"}");
    if (strncmp(path, "/verdicts/", 10) == 0) {
        long long partition = test_http_query_number(path, "partition", 0);
        long long offset = test_http_query_number(path, "offset", 0);
        if (verdict_status == ANSWER_CLOSE)
            return -1;
        if (verdict_status != 200) {
            snprintf(body, sizeof body,
                     "{\"error\":\"projector has not judged partition %lld offset %lld\"}",
                     partition, offset);
            return test_http_send_json(fd, verdict_status, body);
        }
        snprintf(body, sizeof body,
                 "{\"append_id\":\"%.36s\",\"status\":\"accepted\",\"stream\":\"S\","
                 "\"partition\":%lld,\"offset\":%lld,\"first_version\":1,\"last_version\":1,"
                 "\"first_position\":%lld,\"last_position\":%lld,\"current_version\":1,"
                 "\"event_count\":1,\"reason\":\"\",\"server\":%d}",
                 path + 10, partition, offset, offset + 1, offset + 1, f->server.port);
        return test_http_send_json(fd, 200, body);
    }
    if (strncmp(path, "/streams/", 9) == 0 || strncmp(path, "/all?", 5) == 0) {
        if (read_status == ANSWER_CLOSE)
            return -1;
        if (read_status == 421)
            return test_http_send_json(
                fd, 421,
                "{\"error\":\"partition 0 is not served by this projector\","
                "\"error_type\":\"not_served\",\"partition\":0,\"served\":[]}");
        if (read_status != 200)
            return test_http_send_json(
                fd, read_status,
                "{\"error\":\"behind\",\"error_type\":\"behind\",\"partition\":0,"
                "\"offset\":9,\"applied\":3}");
        /* One event whose position says which projector answered. */
        snprintf(body, sizeof body,
                 "{\"stream\":\"S\",\"current_version\":1,\"next\":2,\"end_of_stream\":true,"
                 "\"end\":true,\"events\":[{\"event_id\":\"5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6\","
                 "\"stream\":\"S\",\"type\":\"T\",\"version\":1,\"position\":%d,\"partition\":0,"
                 "\"created_us\":5,\"content_type\":\"application/octet-stream\","
                 "\"data\":\"AAE=\",\"metadata\":\"\",\"correlation_id\":null,"
                 "\"causation_id\":null}]}",
                 f->server.port);
        return test_http_send_json(fd, 200, body);
    }
    if (strncmp(path, "/groups/", 8) == 0) {
        if (group_status == 421)
            return test_http_send_json(
                fd, 421,
                "{\"error\":\"this projector does not coordinate consumer group "
                "billing\",\"error_type\":\"not_coordinator\",\"group\":"
                "\"billing\"}");
        snprintf(body, sizeof body, "{\"name\":\"billing\",\"server\":%d}", f->server.port);
        return test_http_send_json(fd, 200, body);
    }
    if (strcmp(path, "/status") == 0) {
        snprintf(body, sizeof body, "{\"server\":%d}", f->server.port);
        return test_http_send_json(fd, status_status, body);
    }
    if (strncmp(path, "/subscriptions/", 15) == 0) {
        if (subscribe_status >= 400) {
            test_http_send_json(fd, subscribe_status, "{\"error\":\"stopping\"}");
            return -1;
        }
        const char *head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                           "Connection: close\r\n\r\n";
        test_http_send_all(fd, head, strlen(head));
        if (subscribe_status == SUBSCRIBE_ONE_THEN_DROP) {
            snprintf(body, sizeof body,
                     "id: 1\nevent: event\ndata: {\"event_id\":\"5f0c2a3e-1b2c-4d5e-8f90-"
                     "a1b2c3d4e5f6\",\"stream\":\"S\",\"type\":\"T\",\"version\":1,"
                     "\"position\":1,\"partition\":0,\"created_us\":5,\"content_type\":"
                     "\"application/octet-stream\",\"data\":\"AAE=\",\"metadata\":\"\","
                     "\"correlation_id\":null,\"causation_id\":null}\n\n");
            test_http_send_all(fd, body, strlen(body));
            return -1;
        }
        const char *caught_up = subscribe_status == SUBSCRIBE_HOLD
                                    ? "event: caught-up\ndata: {\"next\": 2}\n\n"
                                    : "event: caught-up\ndata: {\"next\": 1}\n\n";
        test_http_send_all(fd, caught_up, strlen(caught_up));
        if (subscribe_status == SUBSCRIBE_HOLD) /* until the client closes it */
            while (recv(fd, body, sizeof body, 0) > 0) {
            }
        return -1;
    }
    return test_http_send_json(fd, 404, "{\"error\":\"no such path\"}");
}

/* Answers one request (test_http_serve_fn), noting its Last-Event-ID first. */
static int fake_serve(void *user, int fd, const char *path, const char *head, size_t head_len)
{
    fake *f = user;
    const char *resume = memmem(head, head_len, "Last-Event-ID: ", 15);
    pthread_mutex_lock(&f->lock);
    f->last_event_id = resume ? atol(resume + 15) : 0;
    pthread_mutex_unlock(&f->lock);
    return fake_answer(f, fd, path);
}

static void fake_run(fake *f)
{
    test_http_server_run(&f->server, fake_serve, f);
}

/* Stops f after every client talking to it was closed. */
static void fake_stop(fake *f)
{
    test_http_server_stop(&f->server);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

/* Appends one member to a /cluster members array being built in out. */
static void member_add(char *out, size_t out_len, const char *id, const char *url,
                       const char *partitions, int live)
{
    size_t n = strlen(out);
    snprintf(out + n, out_len - n,
             "%s{\"id\":\"%s\",\"url\":\"%s\",\"partitions\":[%s],\"applied\":{},"
             "\"live\":%s,\"heartbeat_age_ms\":10,\"state\":\"running\"}",
             n ? "," : "", id, url, partitions, live ? "true" : "false");
}

/* Gives every fake in fakes[0..n) the same /cluster answer, with members listed. */
static void cluster_set(fake **fakes, int n, const char *members)
{
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&fakes[i]->lock);
        snprintf(fakes[i]->cluster, sizeof fakes[i]->cluster,
                 "{\"topic\":\"" TOPIC "\",\"partitions\":%d,\"self\":\"m%d\",\"lease_ms\":6000,"
                 "\"members\":[%s]}",
                 PARTITIONS, i, members);
        pthread_mutex_unlock(&fakes[i]->lock);
    }
}

/* A port on 127.0.0.1 where nothing listens. */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

/* ---- The mock cluster, clients -------------------------------------------------------- */

static rd_kafka_t *mock_owner;
static rd_kafka_mock_cluster_t *mock_cluster;
static char bootstraps[256];

static void quiet_log(const rd_kafka_t *rk, int level, const char *facility, const char *text)
{
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
    if (!mock_cluster)
        return -1;
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mock_cluster, TOPIC, PARTITIONS, 1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    snprintf(bootstraps, sizeof bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(mock_cluster));
    return 0;
}

static int group_teardown(void **state)
{
    if (mock_cluster)
        rd_kafka_mock_cluster_destroy(mock_cluster);
    if (mock_owner)
        rd_kafka_destroy(mock_owner);
    return 0;
}

static evs_client *open_client(const char *projectors)
{
    evs_client_options options;
    evs_client_options_init(&options);
    options.brokers = bootstraps;
    options.topic = TOPIC;
    options.projector_url = projectors;
    options.produce_timeout_ms = 5000;
    options.verdict_timeout_ms = 2000;
    options.request_timeout_ms = 3000;
    evs_client *client = NULL;
    int rc = evs_client_open(&options, &client);
    if (rc != 0)
        fail_msg("evs_client_open(%s): %d %s", projectors, rc, evs_last_error());
    return client;
}

static int32_t partition_of(const char *stream)
{
    return evs_stream_partition(stream, strlen(stream), PARTITIONS);
}

/* A stream name Route-N whose partition is partition, into out. */
static void stream_in(int32_t partition, int skip, char *out, size_t out_len)
{
    for (int n = 0;; n++) {
        snprintf(out, out_len, "Route-%d", n);
        if (partition_of(out) == partition && skip-- == 0)
            return;
    }
}

/* Reads stream and returns the port of the projector that answered (the event's position),
 * failing the test on an error. */
static int read_port(evs_client *client, const char *stream)
{
    evs_event_list *list = NULL;
    int rc = evs_stream_read(client, stream, 0, 10, EVS_FORWARDS, &list);
    if (rc != 0)
        fail_msg("reading %s: %s: %s", stream, evs_strerror(rc), evs_last_error());
    assert_int_equal(list->count, 1);
    int port = (int)list->events[0].position;
    evs_event_list_free(list);
    return port;
}

static const evs_expected any = {EVS_EXPECT_ANY, 0};

static int append_one(evs_client *client, const char *stream, evs_append_result *r)
{
    const char *data = "{}";
    evs_event_data e = {.type = "T", .data = data, .data_len = strlen(data)};
    return evs_append(client, stream, any, &e, 1, NULL, r);
}

/* ---- Tests ---------------------------------------------------------------------------- */

static void open_code(const char *projectors, int expected, const char *message)
{
    evs_client_options options;
    evs_client_options_init(&options);
    options.projector_url = projectors;
    evs_client *client = (evs_client *)(uintptr_t)1;
    int rc = evs_client_open(&options, &client);
    if (rc != expected)
        fail_msg("\"%s\": got %d (%s), expected %d", projectors, rc, evs_last_error(), expected);
    if (rc == 0) {
        evs_client_close(client);
        return;
    }
    assert_null(client);
    if (message && !strstr(evs_last_error(), message))
        fail_msg("\"%s\": message \"%s\" does not say \"%s\"", projectors, evs_last_error(),
                 message);
}

static void test_seed_lists(void **state)
{
    open_code("http://127.0.0.1:1", 0, NULL);
    open_code("http://127.0.0.1:1,http://127.0.0.1:2", 0, NULL);
    open_code(" http://127.0.0.1:1/ ,\thttps://127.0.0.1:2 , http://127.0.0.1:1", 0, NULL);
    open_code("http://127.0.0.1:1,,http://127.0.0.1:2", EVS_EINVAL, "empty element (number 2)");
    open_code("http://127.0.0.1:1,", EVS_EINVAL, "empty element (number 2)");
    open_code(",http://127.0.0.1:1", EVS_EINVAL, "empty element (number 1)");
    open_code("http://127.0.0.1:1, ", EVS_EINVAL, "empty element");
    open_code("http://127.0.0.1:1,ftp://127.0.0.1:2", EVS_EINVAL, "\"ftp://127.0.0.1:2\"");
    open_code("127.0.0.1:18080", EVS_EINVAL, "must start with http://");
    open_code("http://", EVS_EINVAL, "name a host");

    char many[64 * (EVS_CLIENT_PROJECTORS_MAX + 1)] = "";
    for (int i = 0; i <= EVS_CLIENT_PROJECTORS_MAX; i++) {
        size_t n = strlen(many);
        snprintf(many + n, sizeof many - n, "%shttp://127.0.0.1:%d", i ? "," : "", 1000 + i);
    }
    open_code(many, EVS_EINVAL, "more than");
}

static void test_reads_and_verdicts_go_to_the_serving_member(void **state)
{
    fake *f[PARTITIONS];
    char members[2048] = "";
    for (int i = 0; i < PARTITIONS; i++)
        f[i] = fake_start();
    for (int i = 0; i < PARTITIONS; i++) { /* member i serves partition i only */
        char id[8], parts[8];
        snprintf(id, sizeof id, "m%d", i);
        snprintf(parts, sizeof parts, "%d", i);
        member_add(members, sizeof members, id, f[i]->server.url, parts, 1);
    }
    cluster_set(f, PARTITIONS, members);
    for (int i = 0; i < PARTITIONS; i++)
        fake_run(f[i]);

    /* Only the first member is a seed: the others are learned from its /cluster. */
    evs_client *client = open_client(f[0]->server.url);
    for (int32_t p = 0; p < PARTITIONS; p++) {
        for (int k = 0; k < 3; k++) {
            char stream[32];
            stream_in(p, k, stream, sizeof stream);
            assert_int_equal(read_port(client, stream), f[p]->server.port);
        }
    }
    assert_true(fake_cluster_requests(f[0]) >= 1);
    for (int i = 0; i < PARTITIONS; i++) /* nobody was asked about another's partition */
        assert_int_equal(fake_requests(f[i]), 3);

    /* The verdict wait of an append goes to the member serving the record's partition. */
    for (int32_t p = 0; p < PARTITIONS; p++) {
        char stream[32], path[512], expected[128];
        evs_append_result r;
        stream_in(p, 0, stream, sizeof stream);
        int rc = append_one(client, stream, &r);
        if (rc != 0)
            fail_msg("append to %s: %s", stream, evs_last_error());
        assert_int_equal(r.partition, p); /* the producer's partitioner agrees */
        fake_last_path(f[p], path, sizeof path);
        snprintf(expected, sizeof expected, "/verdicts/%s?partition=%d&offset=%lld&timeout_ms=2000",
                 r.append_id, (int)p, (long long)r.offset);
        assert_string_equal(path, expected);
        assert_int_equal(fake_requests(f[p]), 4);
    }
    evs_client_close(client);
    for (int i = 0; i < PARTITIONS; i++)
        fake_stop(f[i]);
}

static void test_dead_seed_is_skipped(void **state)
{
    fake *f = fake_start();
    char members[512] = "";
    member_add(members, sizeof members, "m0", f->server.url, "0,1,2", 1);
    cluster_set(&f, 1, members);
    fake_run(f);

    char seeds[160];
    snprintf(seeds, sizeof seeds, "http://127.0.0.1:%d,%s", dead_port(), f->server.url);
    evs_client *client = open_client(seeds);
    assert_int_equal(read_port(client, "Order-1"), f->server.port);
    char *json = NULL;
    assert_int_equal(evs_client_status(client, &json), 0);
    char expected[64];
    snprintf(expected, sizeof expected, "{\"server\":%d}", f->server.port);
    assert_string_equal(json, expected);
    free(json);
    evs_event_list *list = NULL;
    assert_int_equal(evs_all_read(client, 1, 0, 10, &list), 0);
    evs_event_list_free(list);
    evs_client_close(client);

    /* A member that just died, still listed as live, and first in line: every request
     * moves on from it. */
    char dead_url[64];
    snprintf(dead_url, sizeof dead_url, "http://127.0.0.1:%d", dead_port());
    members[0] = '\0';
    member_add(members, sizeof members, "m9", dead_url, "0,1,2", 1);
    member_add(members, sizeof members, "m0", f->server.url, "0,1,2", 1);
    cluster_set(&f, 1, members);
    snprintf(seeds, sizeof seeds, "%s,%s", dead_url, f->server.url);
    client = open_client(seeds);
    assert_int_equal(read_port(client, "Order-1"), f->server.port);
    assert_int_equal(evs_all_read(client, 2, 0, 10, &list), 0);
    evs_event_list_free(list);
    assert_int_equal(evs_client_status(client, &json), 0);
    assert_string_equal(json, expected);
    free(json);
    evs_append_result r;
    assert_int_equal(append_one(client, "Order-1", &r), 0);
    evs_client_close(client);
    fake_stop(f);
}

/* Two replicas serving everything, seeds in that order. */
static void replicas_start(fake *f[2])
{
    char members[1024] = "";
    f[0] = fake_start();
    f[1] = fake_start();
    member_add(members, sizeof members, "m0", f[0]->server.url, "0,1,2", 1);
    member_add(members, sizeof members, "m1", f[1]->server.url, "0,1,2", 1);
    cluster_set(f, 2, members);
    fake_run(f[0]);
    fake_run(f[1]);
}

static evs_client *replicas_client(fake *f[2])
{
    char seeds[160];
    snprintf(seeds, sizeof seeds, "%s,%s", f[0]->server.url, f[1]->server.url);
    return open_client(seeds);
}

static void test_503_and_421_move_to_the_next_member(void **state)
{
    fake *f[2];
    replicas_start(f);

    /* 503 (a replica behind, or stopping): the second answers, and stays the choice. */
    fake_set(f[0], &f[0]->read_status, 503);
    evs_client *client = replicas_client(f);
    assert_int_equal(read_port(client, "Order-1"), f[1]->server.port);
    assert_int_equal(fake_requests(f[0]), 1);
    assert_int_equal(read_port(client, "Order-1"), f[1]->server.port);
    assert_int_equal(fake_requests(f[0]), 1); /* sticky: not asked again */
    evs_client_close(client);

    /* 421 (not served there) likewise. */
    fake_set(f[0], &f[0]->read_status, 421);
    client = replicas_client(f);
    int before = fake_requests(f[0]);
    assert_int_equal(read_port(client, "Order-2"), f[1]->server.port);
    assert_int_equal(fake_requests(f[0]), before + 1);
    evs_client_close(client);

    /* Every replica 421: the read fails as unavailable, naming the cause. */
    fake_set(f[1], &f[1]->read_status, 421);
    client = replicas_client(f);
    evs_event_list *list = NULL;
    assert_int_equal(evs_stream_read(client, "Order-2", 0, 10, EVS_FORWARDS, &list),
                     EVS_EUNAVAILABLE);
    assert_null(list);
    assert_non_null(strstr(evs_last_error(), "not served"));
    evs_client_close(client);

    /* The home projector (requests about no partition) moves on a 503 and stays moved. */
    fake_set(f[0], &f[0]->status_status, 503);
    client = replicas_client(f);
    char *json = NULL, expected[64];
    snprintf(expected, sizeof expected, "{\"server\":%d}", f[1]->server.port);
    assert_int_equal(evs_client_status(client, &json), 0);
    assert_string_equal(json, expected);
    free(json);
    fake_set(f[0], &f[0]->status_status, 200);
    assert_int_equal(evs_client_status(client, &json), 0);
    assert_string_equal(json, expected); /* still the second: the home is sticky */
    free(json);
    evs_client_close(client);

    fake_stop(f[0]);
    fake_stop(f[1]);
}

static void test_member_not_live_is_never_used(void **state)
{
    fake *live = fake_start(), *gone = fake_start();
    fake *both[2] = {live, gone};
    char members[1024] = "";
    member_add(members, sizeof members, "m0", live->server.url, "0,1", 1);
    member_add(members, sizeof members, "m1", gone->server.url, "0,1,2", 0);
    cluster_set(both, 2, members);
    fake_run(live);
    fake_run(gone);

    char seeds[160];
    snprintf(seeds, sizeof seeds, "%s,%s", live->server.url, gone->server.url);
    evs_client *client = open_client(seeds);
    fake_set(live, &live->read_status, 503); /* even when the live one fails */
    for (int32_t p = 0; p < 2; p++) {
        char stream[32];
        stream_in(p, 0, stream, sizeof stream);
        evs_event_list *list = NULL;
        assert_int_equal(evs_stream_read(client, stream, 0, 10, EVS_FORWARDS, &list),
                         EVS_EUNAVAILABLE);
    }
    /* Partition 2 is served by the gone member only: nobody is asked. */
    char stream[32];
    stream_in(2, 0, stream, sizeof stream);
    evs_event_list *list = NULL;
    int before = fake_requests(live);
    assert_int_equal(evs_stream_read(client, stream, 0, 10, EVS_FORWARDS, &list),
                     EVS_EUNAVAILABLE);
    assert_non_null(strstr(evs_last_error(), "no live projector serves partition 2"));
    assert_int_equal(fake_requests(live), before);
    fake_set(live, &live->read_status, 200);
    char *json = NULL;
    assert_int_equal(evs_client_status(client, &json), 0);
    free(json);
    assert_int_equal(fake_requests(gone) + fake_cluster_requests(gone), 0);
    evs_client_close(client);
    fake_stop(live);
    fake_stop(gone);
}

static void test_verdict_from_another_replica(void **state)
{
    static const int failures[] = {ANSWER_CLOSE, 504, 503};
    fake *f[2];
    replicas_start(f);
    for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++) {
        fake_set(f[0], &f[0]->verdict_status, failures[i]);
        evs_client *client = replicas_client(f);
        evs_append_result r;
        int before = fake_requests(f[1]);
        int rc = append_one(client, "Order-1", &r);
        if (rc != 0)
            fail_msg("verdict failure %d on the first replica: %s: %s", failures[i],
                     evs_strerror(rc), evs_last_error());
        assert_int_equal(fake_requests(f[1]), before + 1);
        char path[512];
        fake_last_path(f[0], path, sizeof path);
        assert_non_null(strstr(path, r.append_id)); /* the first replica was asked first */
        fake_last_path(f[1], path, sizeof path);
        assert_non_null(strstr(path, r.append_id));
        assert_true(test_http_query_number(path, "timeout_ms", -1) >= 0);
        assert_true(test_http_query_number(path, "timeout_ms", -1) <= 2000);
        evs_client_close(client);
    }

    /* Every replica fails: the outcome is unknown, with the append id. */
    for (size_t i = 0; i < 2; i++) {
        fake_set(f[0], &f[0]->verdict_status, failures[i]);
        fake_set(f[1], &f[1]->verdict_status, failures[i]);
        evs_client *client = replicas_client(f);
        evs_append_result r;
        assert_int_equal(append_one(client, "Order-1", &r), EVS_EUNKNOWN_OUTCOME);
        assert_int_equal(strlen(r.append_id), 36);
        assert_true(r.offset >= 0);
        assert_non_null(strstr(evs_last_error(), r.append_id));
        evs_client_close(client);
    }
    fake_stop(f[0]);
    fake_stop(f[1]);
}

static void test_reads_carry_the_token_of_own_appends(void **state)
{
    fake *f[2];
    replicas_start(f);
    evs_client *client = replicas_client(f);
    const char *stream = "Order-7";
    int32_t p = partition_of(stream);
    char other[32], same[32], path[512], token[64];
    stream_in((p + 1) % PARTITIONS, 0, other, sizeof other);
    stream_in(p, 1, same, sizeof same);

    /* Before any append: no token. */
    read_port(client, stream);
    fake_last_path(f[0], path, sizeof path);
    assert_null(strstr(path, "token="));

    evs_append_result r;
    assert_int_equal(append_one(client, stream, &r), 0);
    assert_int_equal(r.partition, p);
    evs_append_result second;
    assert_int_equal(append_one(client, stream, &second), 0);
    assert_true(second.offset > r.offset);
    snprintf(token, sizeof token, "token=%d:%lld", (int)p, (long long)second.offset);

    read_port(client, same); /* another stream of the same partition */
    fake_last_path(f[0], path, sizeof path);
    assert_non_null(strstr(path, token));
    assert_non_null(strstr(path, "/streams/"));
    read_port(client, other); /* a partition without own appends: none */
    fake_last_path(f[0], path, sizeof path);
    assert_non_null(strstr(path, other));
    assert_null(strstr(path, "token="));

    evs_event_list *list = NULL;
    assert_int_equal(evs_all_read(client, p, 0, 10, &list), 0);
    evs_event_list_free(list);
    fake_last_path(f[0], path, sizeof path);
    assert_non_null(strstr(path, "/all?"));
    assert_non_null(strstr(path, token));

    /* A subscription from history carries it too; the first replica refuses (503), so the
     * subscription opens on the second. */
    fake_set(f[0], &f[0]->subscribe_status, 503);
    evs_subscription_options options;
    evs_subscription_options_init(&options);
    options.target = EVS_SUBSCRIBE_STREAM;
    options.name = same;
    options.follow = 0;
    evs_subscription *sub = NULL;
    int rc = evs_subscription_open(client, &options, &sub);
    if (rc != 0)
        fail_msg("evs_subscription_open: %s", evs_last_error());
    evs_event *event;
    assert_int_equal(evs_subscription_next(sub, 3000, &event), EVS_ECAUGHT_UP);
    assert_int_equal(evs_subscription_next(sub, 3000, &event), EVS_EEND);
    evs_subscription_close(sub);
    fake_last_path(f[0], path, sizeof path);
    assert_non_null(strstr(path, "/subscriptions/streams/"));
    fake_last_path(f[1], path, sizeof path);
    assert_non_null(strstr(path, "/subscriptions/streams/"));
    assert_non_null(strstr(path, token));

    evs_client_close(client);
    fake_stop(f[0]);
    fake_stop(f[1]);
}

static void test_subscription_reconnects_to_another_replica(void **state)
{
    fake *f[2];
    replicas_start(f);
    fake_set(f[0], &f[0]->subscribe_status, SUBSCRIBE_ONE_THEN_DROP);
    fake_set(f[1], &f[1]->subscribe_status, SUBSCRIBE_HOLD);
    evs_client *client = replicas_client(f);
    evs_subscription_options options;
    evs_subscription_options_init(&options);
    evs_subscription *sub = NULL;
    int rc = evs_subscription_open(client, &options, &sub);
    if (rc != 0)
        fail_msg("evs_subscription_open: %s", evs_last_error());
    evs_event *event = NULL;
    assert_int_equal(evs_subscription_next(sub, 3000, &event), 0);
    assert_int_equal(event->position, 1);
    /* The first replica dropped the connection: the second resumes after event 1. */
    rc = evs_subscription_next(sub, 3000, &event);
    if (rc != EVS_ECAUGHT_UP)
        fail_msg("after the drop: %s: %s", evs_strerror(rc), evs_last_error());
    char path[512];
    fake_last_path(f[1], path, sizeof path);
    assert_non_null(strstr(path, "/subscriptions/all?partition=0"));
    pthread_mutex_lock(&f[1]->lock);
    long resumed_after = f[1]->last_event_id;
    pthread_mutex_unlock(&f[1]->lock);
    assert_int_equal(resumed_after, 1);
    assert_int_equal(fake_requests(f[0]), 1); /* and the first was not asked again */
    evs_subscription_close(sub);
    evs_client_close(client);
    fake_stop(f[0]);
    fake_stop(f[1]);
}

typedef struct flip {
    fake *f;
    int after_ms;
} flip;

/* Makes f answer its group requests after after_ms (a coordinator chosen at last). */
static void *flip_group_status(void *arg)
{
    flip *x = arg;
    struct timespec pause = {x->after_ms / 1000, (x->after_ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
    fake_set(x->f, &x->f->group_status, 200);
    return NULL;
}

static int group_requests(fake *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->group_requests;
    pthread_mutex_unlock(&f->lock);
    return n;
}

static void test_group_requests_go_to_the_coordinator(void **state)
{
    fake *f[2];
    replicas_start(f);
    /* m1 coordinates every state partition; m0, the first seed (so the home), none. */
    char members[1024];
    snprintf(members, sizeof members,
             "{\"id\":\"m0\",\"url\":\"%s\",\"partitions\":[0,1,2],\"applied\":{},"
             "\"coordinates\":[],\"live\":true,\"heartbeat_age_ms\":10,\"state\":\"running\"},"
             "{\"id\":\"m1\",\"url\":\"%s\",\"partitions\":[0,1,2],\"applied\":{},"
             "\"coordinates\":[0,1,2,3,4,5,6,7],\"live\":true,\"heartbeat_age_ms\":10,"
             "\"state\":\"running\"}",
             f[0]->server.url, f[1]->server.url);
    for (int i = 0; i < 2; i++) {
        pthread_mutex_lock(&f[i]->lock);
        snprintf(f[i]->cluster, sizeof f[i]->cluster,
                 "{\"topic\":\"" TOPIC "\",\"partitions\":%d,\"state_partitions\":8,"
                 "\"self\":\"m%d\",\"lease_ms\":6000,\"members\":[%s]}",
                 PARTITIONS, i, members);
        pthread_mutex_unlock(&f[i]->lock);
    }
    fake_set(f[0], &f[0]->group_status, 421);
    fake_set(f[1], &f[1]->group_status, 200);
    evs_client *client = replicas_client(f);
    char *json = NULL, expected[96];
    assert_int_equal(evs_client_status(client, &json), 0); /* the home: m0 */
    free(json);
    snprintf(expected, sizeof expected, "{\"name\":\"billing\",\"server\":%d}", f[1]->server.port);
    assert_int_equal(evs_group_status(client, "billing", &json), 0);
    assert_string_equal(json, expected);
    free(json);
    assert_int_equal(group_requests(f[0]), 0); /* the coordinator first, not the home */

    /* Both refuse for 600 ms (a rebalance): the request waits and gets the answer. */
    fake_set(f[1], &f[1]->group_status, 421);
    flip x = {f[1], 600};
    pthread_t t;
    pthread_create(&t, NULL, flip_group_status, &x);
    int before = group_requests(f[1]);
    assert_int_equal(evs_group_status(client, "billing", &json), 0);
    assert_string_equal(json, expected);
    free(json);
    pthread_join(t, NULL);
    assert_true(group_requests(f[1]) >= before + 2);
    evs_client_close(client);
    fake_stop(f[0]);
    fake_stop(f[1]);
}

static void test_one_url_of_an_older_projector(void **state)
{
    fake *f = fake_start(); /* cluster "": /cluster answers 404 */
    fake_run(f);
    evs_client *client = open_client(f->server.url);
    for (int32_t p = 0; p < PARTITIONS; p++) {
        char stream[32];
        stream_in(p, 0, stream, sizeof stream);
        assert_int_equal(read_port(client, stream), f->server.port);
    }
    assert_true(fake_cluster_requests(f) >= 1);
    evs_append_result r;
    assert_int_equal(append_one(client, "Order-1", &r), 0);
    char path[512], expected[160];
    fake_last_path(f, path, sizeof path);
    snprintf(expected, sizeof expected, "/verdicts/%s?partition=%d&offset=%lld&timeout_ms=2000",
             r.append_id, (int)r.partition, (long long)r.offset);
    assert_string_equal(path, expected);
    char *json = NULL;
    assert_int_equal(evs_client_status(client, &json), 0);
    free(json);
    assert_int_equal(fake_requests(f), PARTITIONS + 2);
    evs_client_close(client);
    fake_stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_lists),
        cmocka_unit_test(test_reads_and_verdicts_go_to_the_serving_member),
        cmocka_unit_test(test_dead_seed_is_skipped),
        cmocka_unit_test(test_503_and_421_move_to_the_next_member),
        cmocka_unit_test(test_member_not_live_is_never_used),
        cmocka_unit_test(test_verdict_from_another_replica),
        cmocka_unit_test(test_reads_carry_the_token_of_own_appends),
        cmocka_unit_test(test_subscription_reconnects_to_another_replica),
        cmocka_unit_test(test_one_url_of_an_older_projector),
        cmocka_unit_test(test_group_requests_go_to_the_coordinator),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
