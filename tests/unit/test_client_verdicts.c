/*
 * test_client_verdicts.c - libevstore's shared verdict waits (adapter/src/verdict_mux.h)
 * against fake projectors (test_http_server.h) and librdkafka's mock cluster (1
 * partition) for the appends.
 *
 * The fakes judge by offset: an even offset is accepted (first_version = offset + 1), an
 * odd one a wrong expected version (current_version = offset + 1000), so every thread can
 * tell whether the verdict it got is its own. A fake can hold its first verdict request
 * until the test opens a gate: by then every other thread of the test has produced its
 * record and waits behind that request.
 *
 * What it pins down:
 *  - one append alone asks one GET /verdicts/{id}, no POST;
 *  - many threads' waits end up in fewer requests than appends, with a POST /verdicts
 *    listing several of them, and each thread gets its own verdict and counts its wait;
 *  - a POST that one replica answers 504 with some items judged moves on to the next
 *    replica, and each item keeps the answer of the replica that judged it;
 *  - a projector that answers 404 to the POST (an older one) makes every wait a GET, and
 *    the client does not POST again;
 *  - a POST answered 503 by every replica is an unknown outcome for every waiter;
 *  - a verdict request held by the projector does not hold the other waits: they go in a
 *    second request (EVS_VERDICT_MUX_IN_FLIGHT) and end before the held one.
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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "evstore.h"
#include "test_http_server.h"

#define TOPIC "evstore.verdicts"
#define THREADS 16

/* How a fake answers POST /verdicts. */
typedef enum post_mode {
    POST_ALL,          /* every item judged: 200 */
    POST_FIRST_ONLY,   /* item 0 judged, the others 504 items: 504 */
    POST_ALL_BUT_FIRST,/* item 0 a 504 item, the others judged: 504 */
    POST_UNKNOWN,      /* 404: an older projector without the route */
    POST_UNAVAILABLE,  /* 503 */
} post_mode;

typedef struct fake {
    test_http_server server;
    atomic_int post_mode;
    atomic_int gets, posts, post_items;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int hold_first; /* the next verdict request waits for the gate */
    int gate_open;
} fake;

static fake *fake_start(void)
{
    fake *f = calloc(1, sizeof *f);
    assert_non_null(f);
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    test_http_server_listen(&f->server);
    return f;
}

static void fake_stop(fake *f)
{
    test_http_server_stop(&f->server);
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->cond);
    free(f);
}

/* The fake's verdict of the record at offset, as GET /verdicts/{id} answers it. */
static void verdict_of(const char *id, long long offset, char *out, size_t len)
{
    if (offset % 2 == 0)
        snprintf(out, len,
                 "{\"append_id\":\"%s\",\"status\":\"accepted\",\"operation\":\"append\","
                 "\"stream\":\"S\",\"partition\":0,\"offset\":%lld,\"first_version\":%lld,"
                 "\"last_version\":%lld,\"first_position\":%lld,\"last_position\":%lld,"
                 "\"current_version\":0,\"event_count\":1,\"expected\":\"any\",\"reason\":\"\"}",
                 id, offset, offset + 1, offset + 1, offset + 1, offset + 1);
    else
        snprintf(out, len,
                 "{\"append_id\":\"%s\",\"status\":\"wrong_expected_version\","
                 "\"operation\":\"append\",\"stream\":\"S\",\"partition\":0,\"offset\":%lld,"
                 "\"first_version\":0,\"last_version\":0,\"first_position\":0,"
                 "\"last_position\":0,\"current_version\":%lld,\"event_count\":1,"
                 "\"expected\":\"3\",\"reason\":\"\"}",
                 id, offset, offset + 1000);
}

/* Holds a verdict request while the fake is told to hold the first one and the gate is
 * shut. */
static void gate_pass(fake *f)
{
    pthread_mutex_lock(&f->lock);
    if (f->hold_first) {
        f->hold_first = 0;
        while (!f->gate_open)
            pthread_cond_wait(&f->cond, &f->lock);
    }
    pthread_mutex_unlock(&f->lock);
}

static void gate_shut(fake *f)
{
    pthread_mutex_lock(&f->lock);
    f->hold_first = 1;
    f->gate_open = 0;
    pthread_mutex_unlock(&f->lock);
}

static void gate_open(fake *f)
{
    pthread_mutex_lock(&f->lock);
    f->gate_open = 1;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

/* Answers POST /verdicts: body is the request's JSON, as libevstore writes it. */
static int answer_post(fake *f, int fd, const char *body)
{
    post_mode mode = (post_mode)atomic_load(&f->post_mode);
    if (mode == POST_UNKNOWN)
        return test_http_send_json(fd, 404, "{\"error\":\"no such endpoint: /verdicts\"}");
    if (mode == POST_UNAVAILABLE)
        return test_http_send_json(fd, 503, "{\"error\":\"the projector stopped: test\"}");
    static __thread char out[65536];
    size_t len = (size_t)snprintf(out, sizeof out, "{\"verdicts\":[");
    int i = 0, pending = 0;
    for (const char *p = body; (p = strstr(p, "\"append_id\":\"")) != NULL; i++) {
        char id[37];
        snprintf(id, sizeof id, "%.36s", p + 13);
        const char *o = strstr(p, "\"offset\":");
        assert_non_null(o);
        long long offset = atoll(o + 9);
        p = o;
        int judged = !((mode == POST_FIRST_ONLY && i > 0) ||
                       (mode == POST_ALL_BUT_FIRST && i == 0));
        char answer[1024];
        if (judged)
            verdict_of(id, offset, answer, sizeof answer);
        else
            snprintf(answer, sizeof answer,
                     "{\"error\":\"projector has not judged partition 0 offset %lld\"}", offset);
        pending |= !judged;
        len += (size_t)snprintf(out + len, sizeof out - len,
                                "%s{\"append_id\":\"%s\",\"http_status\":%d,\"answer\":%s}",
                                i ? "," : "", id, judged ? 200 : 504, answer);
    }
    atomic_fetch_add(&f->post_items, i);
    snprintf(out + len, sizeof out - len, "]}");
    return test_http_send_json(fd, pending ? 504 : 200, out);
}

static int fake_serve(void *user, int fd, const char *path, const char *head, size_t head_len)
{
    fake *f = user;
    if (strcmp(path, "/cluster") == 0) /* an older projector: serves every partition */
        return test_http_send_json(fd, 404, "{\"error\":\"no such endpoint: /cluster\"}");
    if (strncmp(head, "POST ", 5) == 0 && strncmp(path, "/verdicts?", 10) == 0) {
        atomic_fetch_add(&f->posts, 1);
        gate_pass(f);
        const char *length = memmem(head, head_len, "Content-Length:", 15);
        size_t n = length ? (size_t)atol(length + 15) : 0;
        char *body = malloc(n + 1); /* the body follows the head in the request's buffer */
        assert_non_null(body);
        memcpy(body, head + head_len, n);
        body[n] = 0;
        int rc = answer_post(f, fd, body);
        free(body);
        return rc;
    }
    if (strncmp(head, "GET ", 4) == 0 && strncmp(path, "/verdicts/", 10) == 0) {
        atomic_fetch_add(&f->gets, 1);
        gate_pass(f);
        char id[37], answer[1024];
        snprintf(id, sizeof id, "%.36s", path + 10);
        verdict_of(id, test_http_query_number(path, "offset", -1), answer, sizeof answer);
        return test_http_send_json(fd, 200, answer);
    }
    return test_http_send_json(fd, 404, "{\"error\":\"no such path\"}");
}

/* ---- The mock cluster ----------------------------------------------------------------- */

static rd_kafka_t *mock_owner;
static rd_kafka_mock_cluster_t *mock_cluster;
static char bootstraps[256];

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
    if (!mock_cluster || rd_kafka_mock_topic_create(mock_cluster, TOPIC, 1, 1) != 0)
        return -1;
    snprintf(bootstraps, sizeof bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(mock_cluster));
    return 0;
}

static int group_teardown(void **state)
{
    rd_kafka_mock_cluster_destroy(mock_cluster);
    rd_kafka_destroy(mock_owner);
    return 0;
}

/* How many records were ever produced to the topic. */
static int64_t records_in_topic(void)
{
    char errstr[256];
    int64_t low = -1, high = -1;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, errstr, sizeof errstr);
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    rd_kafka_t *probe = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    assert_non_null(probe);
    assert_int_equal(rd_kafka_query_watermark_offsets(probe, TOPIC, 0, &low, &high, 10000), 0);
    rd_kafka_destroy(probe);
    return high;
}

static evs_client *open_client(const char *seeds)
{
    evs_client_options options;
    evs_client *client = NULL;
    evs_client_options_init(&options);
    options.brokers = bootstraps;
    options.topic = TOPIC;
    options.projector_url = seeds;
    options.produce_timeout_ms = 10000;
    options.verdict_timeout_ms = 10000;
    options.request_timeout_ms = 10000;
    if (evs_client_open(&options, &client) != 0)
        fail_msg("evs_client_open: %s", evs_last_error());
    return client;
}

/* ---- Appending threads ---------------------------------------------------------------- */

typedef struct writer {
    pthread_t thread;
    evs_client *client;
    int index;
    int rc;
    evs_append_result result;
    char error[1024];
} writer;

static atomic_int writers_done; /* writers whose append returned */

static void *writer_main(void *arg)
{
    writer *w = arg;
    char stream[32];
    snprintf(stream, sizeof stream, "S-%d", w->index);
    evs_event_data e = {.type = "T", .data = "{}", .data_len = 2};
    w->rc = evs_append(w->client, stream, (evs_expected){EVS_EXPECT_ANY, 0}, &e, 1, NULL,
                       &w->result);
    snprintf(w->error, sizeof w->error, "%s", evs_last_error());
    atomic_fetch_add(&writers_done, 1);
    return NULL;
}

/* Runs THREADS appends at once on client, the first verdict request held at gated until
 * every record is in the topic and a little longer (so that the others wait behind it). */
static void run_writers(evs_client *client, fake *gated, writer *w)
{
    int64_t before = records_in_topic();
    if (gated)
        gate_shut(gated);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (writer){.client = client, .index = i};
        assert_int_equal(pthread_create(&w[i].thread, NULL, writer_main, &w[i]), 0);
    }
    if (gated) {
        for (int i = 0; i < 1000 && records_in_topic() < before + THREADS; i++)
            usleep(10000);
        usleep(200000); /* the last producers' threads reach their verdict waits */
        gate_open(gated);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(w[i].thread, NULL);
}

/* Each writer got the verdict of its own record, as the fakes judge it. */
static void assert_own_verdicts(const writer *w)
{
    for (int i = 0; i < THREADS; i++) {
        const evs_append_result *r = &w[i].result;
        assert_true(r->offset >= 0);
        if (r->offset % 2 == 0) {
            if (w[i].rc != 0)
                fail_msg("writer %d (offset %lld): %d %s", i, (long long)r->offset, w[i].rc,
                         w[i].error);
            assert_int_equal(r->first_version, (uint64_t)r->offset + 1);
        } else {
            if (w[i].rc != EVS_EWRONG_VERSION)
                fail_msg("writer %d (offset %lld): %d %s", i, (long long)r->offset, w[i].rc,
                         w[i].error);
            assert_int_equal(r->current_version, (uint64_t)r->offset + 1000);
        }
        for (int j = 0; j < i; j++) /* every writer its own record, its own append id */
            assert_true(w[j].result.offset != r->offset &&
                        strcmp(w[j].result.append_id, r->append_id) != 0);
    }
}

/* ---- Tests ---------------------------------------------------------------------------- */

static void test_a_lone_append_asks_one_get(void **state)
{
    fake *f = fake_start();
    test_http_server_run(&f->server, fake_serve, f);
    evs_client *client = open_client(f->server.url);
    evs_append_result r;
    evs_event_data e = {.type = "T", .data = "{}", .data_len = 2};
    int rc = evs_append(client, "Lone-1", (evs_expected){EVS_EXPECT_ANY, 0}, &e, 1, NULL, &r);
    assert_int_equal(rc, r.offset % 2 == 0 ? 0 : EVS_EWRONG_VERSION);
    assert_int_equal(atomic_load(&f->gets), 1);
    assert_int_equal(atomic_load(&f->posts), 0);
    evs_client_close(client);
    fake_stop(f);
}

static void test_waits_share_requests(void **state)
{
    fake *f = fake_start();
    test_http_server_run(&f->server, fake_serve, f);
    evs_client *client = open_client(f->server.url);
    writer w[THREADS];
    run_writers(client, f, w);
    assert_own_verdicts(w);

    int gets = atomic_load(&f->gets), posts = atomic_load(&f->posts);
    assert_true(posts >= 1);
    assert_true(gets + posts < THREADS);
    assert_int_equal(gets + atomic_load(&f->post_items), THREADS); /* each wait asked once */
    evs_client_metrics m;
    assert_int_equal(evs_client_metrics_get(client, &m), 0);
    assert_int_equal(m.verdict_waits, THREADS);
    assert_int_equal(m.appends, THREADS);
    assert_int_equal(m.appends_unknown_outcome, 0);
    evs_client_close(client);
    fake_stop(f);
}

static void test_a_shared_wait_fails_over_keeping_judged_items(void **state)
{
    fake *f[2] = {fake_start(), fake_start()};
    /* The first replica judges only the first item of a POST, the second all but it: each
     * waiter can only get its own verdict if the first one's judged item is kept. */
    atomic_store(&f[0]->post_mode, POST_FIRST_ONLY);
    atomic_store(&f[1]->post_mode, POST_ALL_BUT_FIRST);
    test_http_server_run(&f[0]->server, fake_serve, f[0]);
    test_http_server_run(&f[1]->server, fake_serve, f[1]);
    char seeds[160];
    snprintf(seeds, sizeof seeds, "%s,%s", f[0]->server.url, f[1]->server.url);
    evs_client *client = open_client(seeds);
    writer w[THREADS];
    run_writers(client, f[0], w);
    assert_own_verdicts(w);
    int posts0 = atomic_load(&f[0]->posts), posts1 = atomic_load(&f[1]->posts);
    assert_true(posts0 >= 1);
    assert_int_equal(posts1, posts0); /* every POST moved on to the second replica */
    evs_client_metrics m;
    assert_int_equal(evs_client_metrics_get(client, &m), 0);
    assert_true(m.failovers >= (uint64_t)posts0);
    evs_client_close(client);
    fake_stop(f[0]);
    fake_stop(f[1]);
}

static void test_an_older_projector_gets_one_get_per_wait(void **state)
{
    fake *f = fake_start();
    atomic_store(&f->post_mode, POST_UNKNOWN);
    test_http_server_run(&f->server, fake_serve, f);
    evs_client *client = open_client(f->server.url);
    writer w[THREADS];
    run_writers(client, f, w);
    assert_own_verdicts(w);
    assert_int_equal(atomic_load(&f->posts), 1); /* the one that learned it */
    assert_int_equal(atomic_load(&f->gets), THREADS);

    run_writers(client, f, w); /* remembered: no POST again */
    assert_own_verdicts(w);
    assert_int_equal(atomic_load(&f->posts), 1);
    assert_int_equal(atomic_load(&f->gets), 2 * THREADS);
    evs_client_close(client);
    fake_stop(f);
}

static void test_a_shared_wait_nobody_answers_is_unknown(void **state)
{
    fake *f = fake_start();
    atomic_store(&f->post_mode, POST_UNAVAILABLE);
    test_http_server_run(&f->server, fake_serve, f);
    evs_client *client = open_client(f->server.url);
    writer w[THREADS];
    run_writers(client, f, w);
    int unknown = 0;
    for (int i = 0; i < THREADS; i++) {
        if (w[i].rc == EVS_EUNKNOWN_OUTCOME) {
            unknown++;
            assert_non_null(strstr(w[i].error, w[i].result.append_id));
        } else { /* the lone GET of the first */
            assert_int_equal(w[i].rc, w[i].result.offset % 2 == 0 ? 0 : EVS_EWRONG_VERSION);
        }
    }
    assert_true(atomic_load(&f->posts) >= 1);
    assert_int_equal(unknown, THREADS - atomic_load(&f->gets));
    evs_client_metrics m;
    assert_int_equal(evs_client_metrics_get(client, &m), 0);
    assert_int_equal(m.appends_unknown_outcome, (uint64_t)unknown);
    evs_client_close(client);
    fake_stop(f);
}

static void test_a_held_request_does_not_hold_the_others(void **state)
{
    fake *f = fake_start();
    test_http_server_run(&f->server, fake_serve, f);
    evs_client *client = open_client(f->server.url);
    writer w[THREADS];
    atomic_store(&writers_done, 0);
    gate_shut(f); /* the first verdict request waits until the end */
    for (int i = 0; i < THREADS; i++) {
        w[i] = (writer){.client = client, .index = i};
        assert_int_equal(pthread_create(&w[i].thread, NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < 1000 && atomic_load(&writers_done) < THREADS - 1; i++)
        usleep(10000);
    int done_while_held = atomic_load(&writers_done);
    gate_open(f);
    for (int i = 0; i < THREADS; i++)
        pthread_join(w[i].thread, NULL);
    assert_int_equal(done_while_held, THREADS - 1);
    assert_own_verdicts(w);
    assert_int_equal(atomic_load(&f->gets) + atomic_load(&f->post_items), THREADS);
    evs_client_close(client);
    fake_stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_lone_append_asks_one_get),
        cmocka_unit_test(test_waits_share_requests),
        cmocka_unit_test(test_a_shared_wait_fails_over_keeping_judged_items),
        cmocka_unit_test(test_an_older_projector_gets_one_get_per_wait),
        cmocka_unit_test(test_a_shared_wait_nobody_answers_is_unknown),
        cmocka_unit_test(test_a_held_request_does_not_hold_the_others),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
