/*
 * test_client_across.c - libevstore across partitions (evstore.h, "Across partitions"):
 * position vectors, reads of $all across partitions, and subscriptions with partition
 * EVS_PARTITION_ALL, against two fake projectors on 127.0.0.1 (threads of this test)
 * that split a topic of 3 partitions as shards: A serves 0 and 1, B serves 2, each
 * answering 421 for the others, both listing the same /cluster.
 *
 * Partition p holds EVENTS[p] events at positions 1..EVENTS[p]; an event's stream is
 * "S-p" and its version its position, so every event says where it came from.
 *
 * What it pins down:
 *  - the text form of a vector: round trip, any order, partitions left out are 0, and
 *    malformed ones (blanks, signs, repeats, too large, empty) refused;
 *  - evs_client_partitions learns 3 from /cluster;
 *  - paging with evs_all_read_across returns every event once, one partition per page,
 *    each in position order, with end_of_stream only at the end and the cursor at each
 *    partition's end; a cursor naming partition 3 is refused and left alone;
 *  - a subscription across partitions delivers every event once, each partition in
 *    position order, reports caught-up once and only after the slowest partition's
 *    history, then ends; each partition's connection went to the shard serving it;
 *  - stopped part-way, its vector (per partition: the last position delivered + 1)
 *    resumes a new subscription that delivers exactly the rest: no gap, no duplicate;
 *  - from "now", a partition without events still gets a resume position from its
 *    caught-up marker; a vector naming a partition the topic lacks is refused at open.
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
#include <sys/socket.h>
#include <unistd.h>

#include "evstore.h"
#include "test_http_server.h"

#define PARTITIONS 3
#define TOTAL_EVENTS (7 + 0 + 12)
static const uint64_t EVENTS[PARTITIONS] = {7, 0, 12}; /* partition 1 has none */

/* ---- The fake shards ------------------------------------------------------------------ */

typedef struct shard {
    test_http_server server;
    int serves[PARTITIONS];
    char cluster[1024];
    atomic_int history_delay_ms; /* before a subscription's history */
    atomic_int not_served;       /* 421 answers given */
    atomic_int subscriptions[PARTITIONS];
} shard;

/* Writes the event object of position `position` of partition p into out. */
static size_t event_json(char *out, size_t cap, int p, uint64_t position)
{
    return (size_t)snprintf(out, cap,
                            "{\"event_id\":\"5f0c2a3e-1b2c-4d5e-8f90-%04d%08llu\","
                            "\"stream\":\"S-%d\",\"type\":\"T\",\"version\":%llu,"
                            "\"position\":%llu,\"partition\":%d,"
                            "\"created_us\":5,\"content_type\":\"application/octet-stream\","
                            "\"data\":\"AAE=\",\"metadata\":\"\",\"correlation_id\":null,"
                            "\"causation_id\":null}",
                            p, (unsigned long long)position, p, (unsigned long long)position,
                            (unsigned long long)position, p);
}

/* GET /all?partition=P&from=F&limit=L: a page of partition P. */
static int answer_all(int fd, int p, const char *path)
{
    static char body[64 * 1024];
    uint64_t from = (uint64_t)test_http_query_number(path, "from", 1);
    uint64_t limit = (uint64_t)test_http_query_number(path, "limit", 100);
    if (from == 0)
        from = 1;
    size_t n = (size_t)snprintf(body, sizeof body, "{\"events\":[");
    uint64_t position = from;
    for (; position <= EVENTS[p] && position < from + limit; position++) {
        if (position > from)
            body[n++] = ',';
        n += event_json(body + n, sizeof body - n, p, position);
    }
    snprintf(body + n, sizeof body - n, "],\"next\":%llu,\"end\":%s}",
             (unsigned long long)position, position > EVENTS[p] ? "true" : "false");
    return test_http_send_json(fd, 200, body);
}

/* GET /subscriptions/all?partition=P&from=F&follow=...: the history from F (or after the
 * Last-Event-ID), caught-up, then the end or, following, nothing until the client closes. */
static void answer_subscription(shard *s, int fd, int p, const char *path, long last_event_id)
{
    char buf[2048];
    atomic_fetch_add(&s->subscriptions[p], 1);
    const char *head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                       "Connection: close\r\n\r\n";
    if (test_http_send_all(fd, head, strlen(head)) != 0)
        return;
    uint64_t from = strstr(path, "from=now") ? EVENTS[p] + 1
                                              : (uint64_t)test_http_query_number(path, "from", 1);
    if (last_event_id > 0)
        from = (uint64_t)last_event_id + 1;
    if (from == 0)
        from = 1;
    int delay = atomic_load(&s->history_delay_ms);
    if (delay > 0)
        usleep((useconds_t)delay * 1000);
    for (uint64_t position = from; position <= EVENTS[p]; position++) {
        size_t n = (size_t)snprintf(buf, sizeof buf, "id: %llu\nevent: event\ndata: ",
                                    (unsigned long long)position);
        n += event_json(buf + n, sizeof buf - n, p, position);
        n += (size_t)snprintf(buf + n, sizeof buf - n, "\n\n");
        if (test_http_send_all(fd, buf, n) != 0)
            return;
    }
    int n = snprintf(buf, sizeof buf, "event: caught-up\ndata: {\"next\": %llu}\n\n",
                     (unsigned long long)(from > EVENTS[p] ? from : EVENTS[p] + 1));
    if (test_http_send_all(fd, buf, (size_t)n) != 0)
        return;
    if (strstr(path, "follow=false"))
        return;
    while (recv(fd, buf, sizeof buf, 0) > 0) { /* until the client closes it */
    }
}

/* Answers one request (test_http_serve_fn); -1 to close the connection. */
static int shard_serve(void *user, int fd, const char *path, const char *head, size_t head_len)
{
    shard *s = user;
    const char *resume = memmem(head, head_len, "Last-Event-ID: ", 15);
    long last_event_id = resume ? atol(resume + 15) : 0;
    if (strcmp(path, "/cluster") == 0)
        return test_http_send_json(fd, 200, s->cluster);
    int p = (int)test_http_query_number(path, "partition", 0);
    int all = strncmp(path, "/all?", 5) == 0;
    int subscription = strncmp(path, "/subscriptions/all?", 19) == 0;
    if (!all && !subscription)
        return test_http_send_json(fd, 404, "{\"error\":\"no such path\"}");
    if (p < 0 || p >= PARTITIONS)
        return test_http_send_json(fd, 400, "{\"error\":\"no such partition\"}");
    if (!s->serves[p]) {
        atomic_fetch_add(&s->not_served, 1);
        return test_http_send_json(fd, 421,
                                   "{\"error\":\"partition is not served by this projector\","
                                   "\"error_type\":\"not_served\"}");
    }
    if (all)
        return answer_all(fd, p, path);
    answer_subscription(s, fd, p, path, last_event_id);
    return -1;
}

static shard *shard_start(const int *serves)
{
    shard *s = calloc(1, sizeof *s);
    assert_non_null(s);
    memcpy(s->serves, serves, sizeof s->serves);
    test_http_server_listen(&s->server);
    return s;
}

static void shard_stop(shard *s)
{
    test_http_server_stop(&s->server);
    free(s);
}

static shard *shard_a, *shard_b;

/* A serves 0 and 1, B serves 2; both list both. */
static int group_setup(void **state)
{
    static const int a_serves[PARTITIONS] = {1, 1, 0}, b_serves[PARTITIONS] = {0, 0, 1};
    shard_a = shard_start(a_serves);
    shard_b = shard_start(b_serves);
    for (int i = 0; i < 2; i++) {
        shard *s = i ? shard_b : shard_a;
        snprintf(s->cluster, sizeof s->cluster,
                 "{\"topic\":\"t\",\"partitions\":%d,\"self\":\"%s\",\"lease_ms\":6000,"
                 "\"members\":[{\"id\":\"a\",\"url\":\"%s\",\"partitions\":[0,1],\"applied\":{},"
                 "\"live\":true,\"heartbeat_age_ms\":1,\"state\":\"running\"},"
                 "{\"id\":\"b\",\"url\":\"%s\",\"partitions\":[2],\"applied\":{},"
                 "\"live\":true,\"heartbeat_age_ms\":1,\"state\":\"running\"}]}",
                 PARTITIONS, i ? "b" : "a", shard_a->server.url, shard_b->server.url);
        test_http_server_run(&s->server, shard_serve, s);
    }
    return 0;
}

static int group_teardown(void **state)
{
    shard_stop(shard_a);
    shard_stop(shard_b);
    return 0;
}

/* A client seeded with B only: A is learned from B's /cluster. */
static evs_client *open_client(void)
{
    evs_client_options options;
    evs_client_options_init(&options);
    options.projector_url = shard_b->server.url;
    options.request_timeout_ms = 3000;
    evs_client *client = NULL;
    int rc = evs_client_open(&options, &client);
    if (rc != 0)
        fail_msg("evs_client_open: %s", evs_last_error());
    return client;
}

/* ---- What a reader saw ------------------------------------------------------------------ */

typedef struct seen {
    int count[PARTITIONS][64]; /* how often each position of each partition came */
    uint64_t last[PARTITIONS]; /* the last position of each partition, for the order */
    int total;
} seen;

static void seen_add(seen *w, const evs_event *e)
{
    char stream[16];
    assert_true(e->partition >= 0 && e->partition < PARTITIONS);
    assert_true(e->position >= 1 && e->position <= EVENTS[e->partition]);
    snprintf(stream, sizeof stream, "S-%d", (int)e->partition);
    assert_string_equal(e->stream, stream); /* the event is the one of that partition */
    assert_int_equal(e->version, e->position);
    if (e->position <= w->last[e->partition])
        fail_msg("partition %d: position %llu after %llu", (int)e->partition,
                 (unsigned long long)e->position, (unsigned long long)w->last[e->partition]);
    w->last[e->partition] = e->position;
    w->count[e->partition][e->position]++;
    w->total++;
}

/* Every event of every partition exactly once. */
static void seen_all_once(const seen *w)
{
    for (int p = 0; p < PARTITIONS; p++)
        for (uint64_t position = 1; position <= EVENTS[p]; position++)
            if (w->count[p][position] != 1)
                fail_msg("partition %d position %llu delivered %d times", p,
                         (unsigned long long)position, w->count[p][position]);
    assert_int_equal(w->total, TOTAL_EVENTS);
}

/* ---- Tests ------------------------------------------------------------------------------ */

static void parse_fails(const char *text, const char *message)
{
    evs_position_vector v = {NULL, 0};
    assert_int_equal(evs_position_vector_parse(text, &v), EVS_EINVAL);
    assert_null(v.positions);
    assert_int_equal(v.count, 0);
    if (!strstr(evs_last_error(), message))
        fail_msg("\"%s\": message \"%s\" does not say \"%s\"", text, evs_last_error(), message);
}

static void test_vector_text(void **state)
{
    evs_position_vector v = {NULL, 0};
    char *text = NULL;
    assert_int_equal(evs_position_vector_parse("0:13,1:41,2:8", &v), 0);
    assert_int_equal(v.count, 3);
    assert_true(v.positions[0] == 13 && v.positions[1] == 41 && v.positions[2] == 8);
    assert_int_equal(evs_position_vector_format(&v, &text), 0);
    assert_string_equal(text, "0:13,1:41,2:8");
    free(text);
    evs_position_vector_free(&v);
    assert_null(v.positions);
    assert_int_equal(v.count, 0);

    /* Any order; partitions left out are 0; the largest position there is. */
    assert_int_equal(evs_position_vector_parse("3:9223372036854775807,1:2", &v), 0);
    assert_int_equal(v.count, 4);
    assert_int_equal(evs_position_vector_format(&v, &text), 0);
    assert_string_equal(text, "0:0,1:2,2:0,3:9223372036854775807");
    free(text);
    evs_position_vector_free(&v);

    evs_position_vector empty = {NULL, 0};
    assert_int_equal(evs_position_vector_format(&empty, &text), 0);
    assert_string_equal(text, "");
    free(text);

    parse_fails("", "at least one");
    parse_fails("0:1,0:2", "names partition 0 twice");
    parse_fails("0:1, 1:2", "\" 1:2\" is not PARTITION:POSITION");
    parse_fails("0:-1", "is not PARTITION:POSITION");
    parse_fails("+0:1", "is not PARTITION:POSITION");
    parse_fails("0:1,", "is not PARTITION:POSITION");
    parse_fails("0:", "is not PARTITION:POSITION");
    parse_fails("0=1", "is not PARTITION:POSITION");
    parse_fails("0:9223372036854775808", "is not PARTITION:POSITION");
    parse_fails("65536:1", "is not PARTITION:POSITION");
    evs_position_vector_free(NULL);
}

static void test_partition_count(void **state)
{
    evs_client *client = open_client();
    int32_t count = 0;
    assert_int_equal(evs_client_partitions(client, &count), 0);
    assert_int_equal(count, PARTITIONS);
    evs_client_close(client);
}

static void test_read_across_pages_every_partition_once(void **state)
{
    evs_client *client = open_client();
    evs_position_vector cursor = {NULL, 0};
    seen w = {0};
    int pages = 0, ended = 0;
    int32_t last_page_partition = -1;
    while (!ended) {
        evs_event_list *list = NULL;
        int rc = evs_all_read_across(client, &cursor, 4, &list);
        if (rc != 0)
            fail_msg("page %d: %s", pages, evs_last_error());
        assert_true(list->count <= 4);
        for (size_t i = 0; i < list->count; i++) {
            assert_int_equal(list->events[i].partition, list->events[0].partition);
            seen_add(&w, &list->events[i]);
        }
        if (list->count > 0) { /* pages come partition after partition */
            assert_true(list->events[0].partition >= last_page_partition);
            last_page_partition = list->events[0].partition;
            assert_int_equal(cursor.positions[last_page_partition], list->next);
        }
        ended = list->end_of_stream;
        if (!ended)
            assert_true(list->count > 0); /* an empty page is the last one */
        evs_event_list_free(list);
        assert_true(++pages <= 20);
    }
    seen_all_once(&w);
    /* 7 events in pages of 4, none in partition 1, 12 in pages of 4: 2 + 3 pages, the
     * last of which says the end of every partition. */
    assert_int_equal(pages, 5);
    assert_int_equal(cursor.count, PARTITIONS);
    assert_true(cursor.positions[0] == 8 && cursor.positions[1] == 0 && cursor.positions[2] == 13);

    /* Resumed from a vector in the middle of partition 2, it gives the rest of it only. */
    evs_position_vector_free(&cursor);
    assert_int_equal(evs_position_vector_parse("0:8,2:10", &cursor), 0);
    evs_event_list *list = NULL;
    assert_int_equal(evs_all_read_across(client, &cursor, 100, &list), 0);
    assert_int_equal(list->count, 3);
    assert_true(list->events[0].partition == 2 && list->events[0].position == 10);
    assert_true(list->end_of_stream);
    evs_event_list_free(list);

    /* A vector of a larger topic is refused, and left as it was. */
    evs_position_vector_free(&cursor);
    assert_int_equal(evs_position_vector_parse("3:1", &cursor), 0);
    assert_int_equal(evs_all_read_across(client, &cursor, 10, &list), EVS_EINVAL);
    assert_null(list);
    assert_true(strstr(evs_last_error(), "names partition 3") != NULL);
    assert_true(cursor.count == 4 && cursor.positions[3] == 1);
    evs_position_vector_free(&cursor);
    evs_client_close(client);
}

/* Takes events from sub until EVS_EEND (max < 0) or max events, recording them in w;
 * counts the caught-ups in *caught_ups and the events before the first in *before. */
static void take(evs_subscription *sub, int max, seen *w, int *caught_ups, int *before)
{
    for (int taken = 0; max < 0 || taken < max;) {
        evs_event *e = NULL;
        int rc = evs_subscription_next(sub, 5000, &e);
        if (rc == 0) {
            seen_add(w, e);
            assert_int_equal(evs_subscription_position(sub), e->position);
            taken++;
            continue;
        }
        if (rc == EVS_ECAUGHT_UP) {
            if ((*caught_ups)++ == 0)
                *before = w->total;
            assert_true(evs_subscription_caught_up(sub));
            continue;
        }
        if (rc == EVS_EEND && max < 0)
            return;
        fail_msg("evs_subscription_next: %s: %s", evs_strerror(rc), evs_last_error());
    }
}

static void test_subscription_across_delivers_every_event_once(void **state)
{
    evs_client *client = open_client();
    evs_subscription_options options;
    evs_subscription *sub = NULL;
    seen w = {0};
    int caught_ups = 0, before = -1;
    int subscriptions_before = atomic_load(&shard_b->subscriptions[2]);

    /* Partition 2's history comes late: caught-up must wait for it. */
    atomic_store(&shard_b->history_delay_ms, 300);
    evs_subscription_options_init(&options);
    options.partition = EVS_PARTITION_ALL;
    options.follow = 0;
    int rc = evs_subscription_open(client, &options, &sub);
    if (rc != 0)
        fail_msg("open: %s", evs_last_error());
    take(sub, -1, &w, &caught_ups, &before);
    atomic_store(&shard_b->history_delay_ms, 0);
    seen_all_once(&w);
    assert_int_equal(caught_ups, 1);
    assert_int_equal(before, TOTAL_EVENTS); /* after the history of every partition */
    evs_event *e = NULL;
    assert_int_equal(evs_subscription_next(sub, 0, &e), EVS_EEND); /* and stays ended */
    assert_null(e);

    /* Every partition was subscribed to once, at the shard that serves it, and no shard was
     * asked about a partition of the other (the client knew from /cluster). */
    assert_int_equal(atomic_load(&shard_b->subscriptions[2]) - subscriptions_before, 1);
    assert_int_equal(atomic_load(&shard_a->subscriptions[2]), 0);
    assert_int_equal(atomic_load(&shard_b->subscriptions[0]), 0);
    assert_int_equal(atomic_load(&shard_a->not_served) + atomic_load(&shard_b->not_served), 0);

    evs_position_vector v = {NULL, 0};
    assert_int_equal(evs_subscription_positions(sub, &v), 0);
    char *text = NULL;
    assert_int_equal(evs_position_vector_format(&v, &text), 0);
    assert_string_equal(text, "0:8,1:1,2:13"); /* partition 1 was empty: its marker's next */
    free(text);
    evs_position_vector_free(&v);
    evs_subscription_close(sub);
    evs_client_close(client);
}

static void test_subscription_resumes_from_its_vector(void **state)
{
    evs_client *client = open_client();
    for (int stop_after = 1; stop_after < TOTAL_EVENTS; stop_after += 4) {
        evs_subscription_options options;
        evs_subscription *sub = NULL;
        seen first = {0}, rest = {0};
        int caught_ups = 0, before = -1;

        evs_subscription_options_init(&options);
        options.partition = EVS_PARTITION_ALL; /* following: it is stopped part-way */
        assert_int_equal(evs_subscription_open(client, &options, &sub), 0);
        take(sub, stop_after, &first, &caught_ups, &before);
        evs_position_vector v = {NULL, 0};
        assert_int_equal(evs_subscription_positions(sub, &v), 0);
        assert_int_equal(v.count, PARTITIONS);
        for (int p = 0; p < PARTITIONS; p++) /* after the last event delivered there */
            if (first.last[p] > 0)
                assert_int_equal(v.positions[p], first.last[p] + 1);
        evs_subscription_close(sub);

        /* The text form is what a program saves; the new subscription starts from it. */
        char *text = NULL;
        evs_position_vector back = {NULL, 0};
        assert_int_equal(evs_position_vector_format(&v, &text), 0);
        assert_int_equal(evs_position_vector_parse(text, &back), 0);
        free(text);
        options.from_positions = &back;
        options.follow = 0;
        assert_int_equal(evs_subscription_open(client, &options, &sub), 0);
        evs_position_vector_free(&back); /* copied at open */
        take(sub, -1, &rest, &caught_ups, &before);
        evs_subscription_close(sub);
        evs_position_vector_free(&v);

        /* The union is every event once: no gap, no duplicate. */
        for (int p = 0; p < PARTITIONS; p++)
            for (uint64_t position = 1; position <= EVENTS[p]; position++)
                rest.count[p][position] += first.count[p][position];
        rest.total += first.total;
        seen_all_once(&rest);
    }
    evs_client_close(client);
}

static void test_subscription_from_now_and_bad_vectors(void **state)
{
    evs_client *client = open_client();
    evs_subscription_options options;
    evs_subscription *sub = NULL;
    evs_event *e = NULL;

    evs_subscription_options_init(&options);
    options.partition = EVS_PARTITION_ALL;
    options.from = EVS_FROM_NOW;
    options.follow = 0;
    assert_int_equal(evs_subscription_open(client, &options, &sub), 0);
    evs_position_vector v = {NULL, 0};
    assert_int_equal(evs_subscription_next(sub, 5000, &e), EVS_ECAUGHT_UP);
    assert_int_equal(evs_subscription_positions(sub, &v), 0);
    assert_true(v.count == PARTITIONS && v.positions[0] == 8 && v.positions[1] == 1 &&
                v.positions[2] == 13);
    evs_position_vector_free(&v);
    assert_int_equal(evs_subscription_next(sub, 5000, &e), EVS_EEND);
    evs_subscription_close(sub);

    /* A vector of a larger topic: refused before any partition is subscribed to. */
    int a0 = atomic_load(&shard_a->subscriptions[0]);
    assert_int_equal(evs_position_vector_parse("0:1,3:1", &v), 0);
    options.from = EVS_FROM_START;
    options.from_positions = &v;
    assert_int_equal(evs_subscription_open(client, &options, &sub), EVS_EINVAL);
    assert_null(sub);
    assert_true(strstr(evs_last_error(), "names partition 3") != NULL);
    assert_int_equal(atomic_load(&shard_a->subscriptions[0]), a0);
    evs_position_vector_free(&v);

    /* One partition: its vector names that partition alone, and it resumes from it. */
    options.from_positions = NULL;
    options.partition = 2;
    assert_int_equal(evs_subscription_open(client, &options, &sub), 0);
    assert_int_equal(evs_subscription_next(sub, 5000, &e), 0);
    assert_int_equal(evs_subscription_next(sub, 5000, &e), 0);
    assert_int_equal(evs_subscription_positions(sub, &v), 0);
    assert_true(v.count == 3 && v.positions[0] == 0 && v.positions[1] == 0 &&
                v.positions[2] == 3);
    evs_subscription_close(sub);
    options.from_positions = &v;
    assert_int_equal(evs_subscription_open(client, &options, &sub), 0);
    assert_int_equal(evs_subscription_next(sub, 5000, &e), 0);
    assert_int_equal(e->position, 3);
    evs_subscription_close(sub);
    evs_position_vector_free(&v);

    /* For a stream the partition is ignored, EVS_PARTITION_ALL too: it asks for the stream
     * (which these shards do not know). */
    options.from_positions = NULL;
    options.target = EVS_SUBSCRIBE_STREAM;
    options.name = "S-2";
    options.partition = EVS_PARTITION_ALL;
    assert_int_equal(evs_subscription_open(client, &options, &sub), EVS_ENOT_FOUND);
    evs_client_close(client);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector_text),
        cmocka_unit_test(test_partition_count),
        cmocka_unit_test(test_read_across_pages_every_partition_once),
        cmocka_unit_test(test_subscription_across_delivers_every_event_once),
        cmocka_unit_test(test_subscription_resumes_from_its_vector),
        cmocka_unit_test(test_subscription_from_now_and_bad_vectors),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
