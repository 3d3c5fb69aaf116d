/*
 * test_metrics.c - the projector's counters and histograms (projector/obs/metrics.c) and
 * their Prometheus text: values land in the right series and buckets, the text keeps the
 * format's rules (families announced before their samples, cumulative buckets ending in
 * +Inf equal to _count), labels stay within their bounded sets (M5), and concurrent
 * updates lose nothing (M1).
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

#include "obs/metrics.h"

/* The text m writes; the caller frees it. */
static char *render(evs_metrics *m)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    evs_metrics_write(m, f);
    assert_int_equal(fclose(f), 0);
    return text;
}

/* The value of the sample line that starts with `series ` (name and labels exactly), or
 * -1 when there is none. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (!strncmp(line, series, n) && line[n] == ' ')
            return strtod(line + n + 1, NULL);
    return -1;
}

/* Every sample's family was announced by # TYPE before it, and every line is a comment or
 * "name[{labels}] value". */
static void assert_well_formed(const char *text)
{
    char families[64][96];
    size_t count = 0;
    char *copy = strdup(text);
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "# TYPE ", 7)) {
            assert_true(count < 64);
            sscanf(line + 7, "%95s", families[count++]);
            continue;
        }
        if (line[0] == '#')
            continue;
        size_t name_len = strcspn(line, "{ ");
        assert_true(name_len > 0);
        assert_non_null(strchr(line, ' '));
        int announced = 0;
        for (size_t i = 0; i < count && !announced; i++) {
            size_t f = strlen(families[i]);
            announced = !strncmp(line, families[i], f) &&
                        (name_len == f || !strncmp(line + f, "_bucket", 7) ||
                         !strncmp(line + f, "_sum", 4) || !strncmp(line + f, "_count", 6));
        }
        if (!announced)
            fail_msg("sample before its # TYPE: %s", line);
    }
    free(copy);
}

static void test_zero_is_valid(void **state)
{
    (void)state;
    evs_metrics *m = calloc(1, sizeof *m); /* M4: zeroed is ready */
    char *text = render(m);
    assert_well_formed(text);
    assert_true(sample(text, "evstore_appends_judged_total{verdict=\"accepted\"}") == 0);
    assert_true(sample(text, "evstore_events_accepted_total") == 0);
    assert_true(sample(text, "evstore_batch_records_count") == 0);
    assert_true(sample(text, "evstore_judge_duration_seconds_bucket{le=\"+Inf\"}") == 0);
    assert_null(strstr(text, "evstore_http_requests_total{")); /* no request, no series */
    free(text);
    free(m);
}

static void test_batches(void **state)
{
    (void)state;
    evs_metrics *m = calloc(1, sizeof *m);
    uint64_t statuses[EVS_METRICS_VERDICTS] = {0, 2, 1, 1, 0, 0};
    evs_metrics_batch_judged(m, 5, 1, 300000, statuses, 7);  /* 0.3 ms */
    statuses[1] = 1;
    statuses[2] = statuses[3] = 0;
    evs_metrics_batch_judged(m, 1, 0, 20000000, statuses, 3); /* 20 ms */
    evs_metrics_batch_written(m, 4000000);                    /* 4 ms */
    char *text = render(m);
    assert_well_formed(text);
    assert_true(sample(text, "evstore_appends_judged_total{verdict=\"accepted\"}") == 3);
    assert_true(sample(text, "evstore_appends_judged_total{verdict=\"duplicate\"}") == 1);
    assert_true(
        sample(text, "evstore_appends_judged_total{verdict=\"wrong_expected_version\"}") == 1);
    assert_true(sample(text, "evstore_events_accepted_total") == 10);
    assert_true(sample(text, "evstore_records_skipped_total") == 1);
    /* Buckets are cumulative: 1 record <= 1, 5 records <= 5. */
    assert_true(sample(text, "evstore_batch_records_bucket{le=\"1\"}") == 1);
    assert_true(sample(text, "evstore_batch_records_bucket{le=\"2\"}") == 1);
    assert_true(sample(text, "evstore_batch_records_bucket{le=\"5\"}") == 2);
    assert_true(sample(text, "evstore_batch_records_bucket{le=\"+Inf\"}") == 2);
    assert_true(sample(text, "evstore_batch_records_sum") == 6);
    assert_true(sample(text, "evstore_batch_records_count") == 2);
    assert_true(sample(text, "evstore_judge_duration_seconds_bucket{le=\"0.00025\"}") == 0);
    assert_true(sample(text, "evstore_judge_duration_seconds_bucket{le=\"0.0005\"}") == 1);
    assert_true(sample(text, "evstore_judge_duration_seconds_bucket{le=\"0.01\"}") == 1);
    assert_true(sample(text, "evstore_judge_duration_seconds_bucket{le=\"0.025\"}") == 2);
    double sum = sample(text, "evstore_judge_duration_seconds_sum");
    assert_true(sum > 0.0202999 && sum < 0.0203001);
    assert_true(sample(text, "evstore_write_duration_seconds_bucket{le=\"0.0025\"}") == 0);
    assert_true(sample(text, "evstore_write_duration_seconds_bucket{le=\"0.005\"}") == 1);
    free(text);
    free(m);
}

static void test_http_labels(void **state)
{
    (void)state;
    evs_metrics *m = calloc(1, sizeof *m);
    const char *names[] = {"/health", "/streams/"};
    evs_metrics_set_routes(m, names, 2);
    evs_metrics_http_request(m, 1, "GET", 200, 1000);
    evs_metrics_http_request(m, 1, "GET", 200, 1000);
    evs_metrics_http_request(m, 2, "POST", 409, 3000000);
    evs_metrics_http_request(m, 0, "GET", 404, 1000);
    evs_metrics_http_request(m, 2, "PATCH", 299, 1000); /* method and code: "other" */
    evs_metrics_http_request(m, 99, "GET", 404, 1000);  /* a route beyond the table: none */
    evs_metrics_http_request(m, 1, "GET", 0, 1000);     /* no answer queued: not counted */
    char *text = render(m);
    assert_well_formed(text);
    assert_true(sample(text, "evstore_http_requests_total{route=\"/health\",method=\"GET\","
                             "code=\"200\"}") == 2);
    assert_true(sample(text, "evstore_http_requests_total{route=\"/streams/\",method=\"POST\","
                             "code=\"409\"}") == 1);
    assert_true(sample(text, "evstore_http_requests_total{route=\"none\",method=\"GET\","
                             "code=\"404\"}") == 2);
    assert_true(sample(text, "evstore_http_requests_total{route=\"/streams/\",method=\"other\","
                             "code=\"other\"}") == 1);
    assert_true(sample(text, "evstore_http_request_duration_seconds_count{route=\"/health\","
                             "method=\"GET\"}") == 2);
    assert_true(sample(text, "evstore_http_request_duration_seconds_bucket{route=\"/streams/\","
                             "method=\"POST\",le=\"0.0025\"}") == 0);
    assert_true(sample(text, "evstore_http_request_duration_seconds_bucket{route=\"/streams/\","
                             "method=\"POST\",le=\"0.005\"}") == 1);
    free(text);
    free(m);
}

static void test_gauges(void **state)
{
    (void)state;
    evs_metrics *m = calloc(1, sizeof *m);
    evs_metrics_subscriptions_add(m, 1);
    evs_metrics_subscriptions_add(m, 1);
    evs_metrics_subscriptions_add(m, -1);
    evs_metrics_long_polls_add(m, EVS_POLL_GROUP_FETCH, 1);
    evs_metrics_long_polls_add(m, EVS_METRICS_POLLS, 1); /* no such kind: ignored */
    char *text = render(m);
    assert_true(sample(text, "evstore_subscriptions_open") == 1);
    assert_true(sample(text, "evstore_long_polls{kind=\"group_fetch\"}") == 1);
    assert_true(sample(text, "evstore_long_polls{kind=\"verdict\"}") == 0);
    free(text);
    free(m);
}

#define THREADS 4
#define ROUNDS 100000

static void *hammer(void *arg)
{
    evs_metrics *m = arg;
    uint64_t statuses[EVS_METRICS_VERDICTS] = {0, 1};
    for (int i = 0; i < ROUNDS; i++) {
        evs_metrics_batch_judged(m, 1, 0, 1000, statuses, 2);
        evs_metrics_http_request(m, 0, "GET", 200, 1000);
    }
    return NULL;
}

static void test_concurrent_updates(void **state)
{
    (void)state;
    evs_metrics *m = calloc(1, sizeof *m);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, m), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    char *text = render(m);
    assert_true(sample(text, "evstore_appends_judged_total{verdict=\"accepted\"}") ==
                THREADS * ROUNDS);
    assert_true(sample(text, "evstore_events_accepted_total") == 2.0 * THREADS * ROUNDS);
    assert_true(sample(text, "evstore_batch_records_count") == THREADS * ROUNDS);
    assert_true(sample(text, "evstore_http_requests_total{route=\"none\",method=\"GET\","
                             "code=\"200\"}") == THREADS * ROUNDS);
    free(text);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_is_valid),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_http_labels),
        cmocka_unit_test(test_gauges),
        cmocka_unit_test(test_concurrent_updates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
