/*
 * evs_bench_cluster.c - the replica benchmarks of tests/bench/run.sh: reads spread over
 * replicas, the stall a client sees when a replica dies, and checkpoint saves through the
 * state topic. Prints numbers (human lines, then one {"bench": JSON line); never a test.
 *
 *   evs_bench_cluster [--projector SEEDS] [--brokers B] [--topic T] [--label L] MODE ...
 *
 *   reads --readers N --seconds S --streams K --prefix P [--limit L]
 *       N threads, each with its own client whose seed list is SEEDS rotated by the thread's
 *       number (so the clients' first choices spread over the replicas, as many
 *       independent clients' would), read the first L events (default 100) of a random
 *       stream <P>1..<P>K for S seconds: reads/s, events/s, latency.
 *   stall --seconds S --writers W --readers R --streams K --prefix P
 *       W writer and R reader threads, each with its own client knowing every seed,
 *       append one event (expectation any) to, and read, random streams for S seconds,
 *       while the caller kills a replica: the longest append and read (the stall), their
 *       p99, and every failed call by code (libevstore should hide the failure: 0).
 *   checkpoints --count N
 *       N checkpoint saves, one at a time (each one Kafka transaction, returned once the
 *       projector has applied it): latency.
 *   feed-lag --count N --rate R --feed-topic F
 *       one writer appends N one-event appends at R appends/s while a consumer reads the
 *       accepted-events feed F (from its end): for each event, the time from evs_append
 *       returning its verdict to the feed record arriving (0 when the record came first).
 */
#include <librdkafka/rdkafka.h>
#include <uuid/uuid.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_histogram.h"
#include "evstore.h"

#define THREADS_MAX 256
#define SEEDS_MAX 16

typedef struct options {
    const char *mode, *projector, *brokers, *topic, *label, *prefix, *feed_topic;
    long readers, writers, seconds, streams, limit, count, rate;
} options;

typedef struct worker {
    const options *o;
    int index;
    int writer;
    evs_client *client;
    bench_histogram latency;
    uint64_t calls, events, errors, first_error_code;
    char first_error[256];
} worker;

static atomic_int stop_flag;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The seed list rotated left by k entries, into out. */
static void seeds_rotated(const char *seeds, int k, char *out, size_t out_len)
{
    char copy[4096];
    const char *parts[SEEDS_MAX];
    int n = 0;
    snprintf(copy, sizeof copy, "%s", seeds);
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t && n < SEEDS_MAX;
         t = strtok_r(NULL, ",", &save))
        parts[n++] = t;
    out[0] = 0;
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, out_len - len, "%s%s", i ? "," : "",
                                parts[(i + k) % n]);
}

static int client_open(const options *o, const char *seeds, evs_client **out)
{
    evs_client_options co;
    evs_client_options_init(&co);
    co.brokers = o->brokers;
    co.topic = o->topic;
    co.projector_url = seeds;
    return evs_client_open(&co, out);
}

static void note_error(worker *w, int rc)
{
    if (w->errors++ == 0) {
        w->first_error_code = (uint64_t)-rc;
        snprintf(w->first_error, sizeof w->first_error, "%s: %s", evs_strerror(rc),
                 evs_last_error());
    }
}

static void one_read(worker *w, uint64_t *rng)
{
    char stream[256];
    snprintf(stream, sizeof stream, "%s%llu", w->o->prefix,
             (unsigned long long)(rng_next(rng) % (uint64_t)w->o->streams + 1));
    evs_event_list *list = NULL;
    uint64_t t0 = now_us();
    int rc = evs_stream_read(w->client, stream, 1, (size_t)w->o->limit, EVS_FORWARDS, &list);
    bench_histogram_record(&w->latency, now_us() - t0);
    w->calls++;
    if (rc == 0)
        w->events += list->count;
    else if (rc != EVS_ENOT_FOUND)
        note_error(w, rc);
    evs_event_list_free(list);
}

static void one_append(worker *w, uint64_t *rng)
{
    char stream[256], data[64];
    snprintf(stream, sizeof stream, "%s%llu", w->o->prefix,
             (unsigned long long)(rng_next(rng) % (uint64_t)w->o->streams));
    snprintf(data, sizeof data, "{\"writer\":%d,\"n\":%llu}", w->index,
             (unsigned long long)w->calls);
    evs_event_data e = {.type = "StallProbe", .data = data, .data_len = strlen(data)};
    evs_expected any = {EVS_EXPECT_ANY, 0};
    evs_append_result result;
    uint64_t t0 = now_us();
    int rc = evs_append(w->client, stream, any, &e, 1, NULL, &result);
    bench_histogram_record(&w->latency, now_us() - t0);
    w->calls++;
    if (rc == 0)
        w->events++;
    else
        note_error(w, rc);
}

static void *worker_run(void *arg)
{
    worker *w = arg;
    uint64_t rng = 0x5EED0000u + (uint64_t)w->index;
    while (!atomic_load(&stop_flag)) {
        if (w->writer)
            one_append(w, &rng);
        else
            one_read(w, &rng);
    }
    return NULL;
}

/* Runs the workers for o->seconds; returns the elapsed seconds. */
static double run_workers(const options *o, worker *w, long n)
{
    pthread_t threads[THREADS_MAX];
    uint64_t t0 = now_us();
    for (long i = 0; i < n; i++)
        pthread_create(&threads[i], NULL, worker_run, &w[i]);
    struct timespec span = {o->seconds, 0};
    nanosleep(&span, NULL);
    atomic_store(&stop_flag, 1);
    for (long i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    return (double)(now_us() - t0) / 1e6;
}

/* Sums workers [from, to) into one histogram and totals. */
static void summarize(worker *w, long from, long to, bench_histogram *h, uint64_t *calls,
                      uint64_t *events, uint64_t *errors, const char **first_error)
{
    bench_histogram_init(h);
    *calls = *events = *errors = 0;
    *first_error = "";
    for (long i = from; i < to; i++) {
        bench_histogram_merge(h, &w[i].latency);
        *calls += w[i].calls;
        *events += w[i].events;
        if (w[i].errors && !**first_error)
            *first_error = w[i].first_error;
        *errors += w[i].errors;
    }
}

static double ms(uint64_t us)
{
    return (double)us / 1000.0;
}

static int mode_workers(const options *o, int stall)
{
    long n = stall ? o->writers + o->readers : o->readers;
    if (n < 1 || n > THREADS_MAX) {
        fprintf(stderr, "evs_bench_cluster: 1 to %d threads\n", THREADS_MAX);
        return 2;
    }
    worker *w = calloc((size_t)n, sizeof *w);
    for (long i = 0; i < n; i++) {
        char seeds[4096];
        w[i].o = o;
        w[i].index = (int)i;
        w[i].writer = stall && i < o->writers;
        bench_histogram_init(&w[i].latency);
        seeds_rotated(o->projector, stall ? 0 : (int)i, seeds, sizeof seeds);
        int rc = client_open(o, seeds, &w[i].client);
        if (rc != 0) {
            fprintf(stderr, "evs_bench_cluster: cannot open a client: %s\n", evs_last_error());
            return 1;
        }
    }
    double seconds = run_workers(o, w, n);
    bench_histogram h;
    uint64_t calls, events, errors;
    const char *first;
    if (!stall) {
        summarize(w, 0, n, &h, &calls, &events, &errors, &first);
        printf("reads: %ld readers, %llu reads (%llu events) in %.1f s = %.0f reads/s, %.0f "
               "events/s; p50 %.2f ms, p99 %.2f ms; %llu errors %s\n",
               o->readers, (unsigned long long)calls, (unsigned long long)events, seconds,
               (double)calls / seconds, (double)events / seconds,
               ms(bench_histogram_percentile(&h, 50)), ms(bench_histogram_percentile(&h, 99)),
               (unsigned long long)errors, first);
        printf("{\"bench\":\"cluster-reads\",\"label\":\"%s\",\"readers\":%ld,\"seconds\":%.2f,"
               "\"reads\":%llu,\"reads_per_s\":%.1f,\"events_per_s\":%.1f,\"p50_ms\":%.3f,"
               "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"errors\":%llu,\"completed\":true}\n",
               o->label, o->readers, seconds, (unsigned long long)calls,
               (double)calls / seconds, (double)events / seconds,
               ms(bench_histogram_percentile(&h, 50)), ms(bench_histogram_percentile(&h, 99)),
               ms(h.max_us), (unsigned long long)errors);
    } else {
        bench_histogram r;
        uint64_t rcalls, revents, rerrors;
        const char *rfirst;
        summarize(w, 0, o->writers, &h, &calls, &events, &errors, &first);
        summarize(w, o->writers, n, &r, &rcalls, &revents, &rerrors, &rfirst);
        printf("stall: %llu appends (longest %.0f ms, p99 %.1f ms, %llu failed %s), %llu reads "
               "(longest %.0f ms, p99 %.1f ms, %llu failed %s) in %.1f s\n",
               (unsigned long long)calls, ms(h.max_us), ms(bench_histogram_percentile(&h, 99)),
               (unsigned long long)errors, first, (unsigned long long)rcalls, ms(r.max_us),
               ms(bench_histogram_percentile(&r, 99)), (unsigned long long)rerrors, rfirst,
               seconds);
        printf("{\"bench\":\"cluster-stall\",\"label\":\"%s\",\"seconds\":%.2f,\"appends\":%llu,"
               "\"max_append_ms\":%.1f,\"p99_append_ms\":%.2f,\"failed_appends\":%llu,"
               "\"reads\":%llu,\"max_read_ms\":%.1f,\"p99_read_ms\":%.2f,\"failed_reads\":%llu,"
               "\"completed\":true}\n",
               o->label, seconds, (unsigned long long)calls, ms(h.max_us),
               ms(bench_histogram_percentile(&h, 99)), (unsigned long long)errors,
               (unsigned long long)rcalls, ms(r.max_us), ms(bench_histogram_percentile(&r, 99)),
               (unsigned long long)rerrors);
    }
    for (long i = 0; i < n; i++)
        evs_client_close(w[i].client);
    free(w);
    return 0;
}

static int mode_checkpoints(const options *o)
{
    evs_client *client;
    if (client_open(o, o->projector, &client) != 0) {
        fprintf(stderr, "evs_bench_cluster: cannot open a client: %s\n", evs_last_error());
        return 1;
    }
    bench_histogram h;
    bench_histogram_init(&h);
    uint64_t errors = 0, t_start = now_us();
    for (long i = 0; i < o->count; i++) {
        uint64_t t0 = now_us();
        int rc = evs_checkpoint_save(client, "bench-checkpoint", (uint64_t)i);
        bench_histogram_record(&h, now_us() - t0);
        if (rc != 0 && errors++ == 0)
            fprintf(stderr, "evs_bench_cluster: checkpoint save: %s\n", evs_last_error());
    }
    double seconds = (double)(now_us() - t_start) / 1e6;
    printf("checkpoints: %ld saves in %.1f s; p50 %.2f ms, p99 %.2f ms, max %.1f ms; %llu "
           "errors\n",
           o->count, seconds, ms(bench_histogram_percentile(&h, 50)),
           ms(bench_histogram_percentile(&h, 99)), ms(h.max_us), (unsigned long long)errors);
    printf("{\"bench\":\"cluster-checkpoints\",\"label\":\"%s\",\"count\":%ld,\"p50_ms\":%.3f,"
           "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"errors\":%llu,\"completed\":true}\n",
           o->label, o->count, ms(bench_histogram_percentile(&h, 50)),
           ms(bench_histogram_percentile(&h, 99)), ms(h.max_us), (unsigned long long)errors);
    evs_client_close(client);
    return errors == (uint64_t)o->count ? 1 : 0;
}

/* ---- feed-lag ---------------------------------------------------------------------------- */

typedef struct lag_table {
    pthread_mutex_t lock;
    char (*ids)[37];
    uint64_t *verdict_us; /* 0 until the verdict */
    uint64_t *arrived_us; /* 0 until the feed record */
    long count;
    atomic_long arrived;
} lag_table;

static long lag_find(lag_table *t, const char *id, size_t len)
{
    for (long i = t->count - 1; i >= 0; i--) /* recent ones first */
        if (len == 36 && !memcmp(t->ids[i], id, 36))
            return i;
    return -1;
}

typedef struct feed_reader {
    const options *o;
    lag_table *t;
    rd_kafka_t *consumer;
} feed_reader;

static void *feed_read(void *arg)
{
    feed_reader *r = arg;
    while (!atomic_load(&stop_flag)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->consumer, 50);
        if (!m)
            continue;
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t n;
        if (!m->err && !rd_kafka_message_headers(m, &h) &&
            !rd_kafka_header_get_last(h, "evstore.event_id", &v, &n)) {
            uint64_t now = now_us();
            pthread_mutex_lock(&r->t->lock);
            long i = lag_find(r->t, v, n);
            if (i >= 0 && !r->t->arrived_us[i]) {
                r->t->arrived_us[i] = now;
                atomic_fetch_add(&r->t->arrived, 1);
            }
            pthread_mutex_unlock(&r->t->lock);
        }
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

static rd_kafka_t *feed_consumer(const options *o)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", o->brokers, errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "group.id", "evs-bench-feed", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr)) {
        fprintf(stderr, "evs_bench_cluster: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "evs_bench_cluster: %s\n", errstr);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, o->feed_topic, 0)->offset = RD_KAFKA_OFFSET_END;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    return rk;
}

static int mode_feed_lag(const options *o)
{
    if (!o->feed_topic) {
        fprintf(stderr, "evs_bench_cluster: feed-lag needs --feed-topic\n");
        return 2;
    }
    lag_table t = {.count = 0};
    pthread_mutex_init(&t.lock, NULL);
    t.ids = calloc((size_t)o->count, sizeof *t.ids);
    t.verdict_us = calloc((size_t)o->count, sizeof *t.verdict_us);
    t.arrived_us = calloc((size_t)o->count, sizeof *t.arrived_us);
    evs_client *client;
    feed_reader r = {o, &t, feed_consumer(o)};
    if (!r.consumer || client_open(o, o->projector, &client) != 0) {
        fprintf(stderr, "evs_bench_cluster: cannot connect: %s\n", evs_last_error());
        return 1;
    }
    /* Let the consumer reach the feed's end before the first append. */
    for (int i = 0; i < 20; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r.consumer, 100);
        if (m)
            rd_kafka_message_destroy(m);
    }
    pthread_t reader;
    pthread_create(&reader, NULL, feed_read, &r);
    uint64_t start = now_us(), gap = 1000000u / (uint64_t)o->rate, errors = 0;
    for (long i = 0; i < o->count; i++) {
        uint64_t due = start + (uint64_t)i * gap, now = now_us();
        if (due > now) {
            struct timespec pause = {0, (long)(due - now) * 1000};
            nanosleep(&pause, NULL);
        }
        char stream[64], data[64];
        snprintf(stream, sizeof stream, "FeedLag-%ld", i % 100);
        snprintf(data, sizeof data, "{\"n\":%ld}", i);
        uuid_t raw;
        char id[37];
        uuid_generate_random(raw);
        uuid_unparse_lower(raw, id);
        evs_event_data e = {
            .event_id = id, .type = "FeedProbe", .data = data, .data_len = strlen(data)};
        evs_expected any = {EVS_EXPECT_ANY, 0};
        evs_append_result result;
        /* Listed before the append: its feed record may come before its verdict does. */
        pthread_mutex_lock(&t.lock);
        long slot = t.count++;
        memcpy(t.ids[slot], id, sizeof id);
        pthread_mutex_unlock(&t.lock);
        int rc = evs_append(client, stream, any, &e, 1, NULL, &result);
        uint64_t done = now_us();
        pthread_mutex_lock(&t.lock);
        t.verdict_us[slot] = rc == 0 ? done : 0;
        pthread_mutex_unlock(&t.lock);
        if (rc != 0)
            errors++;
    }
    for (int i = 0; i < 200 && atomic_load(&t.arrived) < t.count; i++) {
        struct timespec pause = {0, 50 * 1000000};
        nanosleep(&pause, NULL);
    }
    atomic_store(&stop_flag, 1);
    pthread_join(reader, NULL);
    bench_histogram h;
    bench_histogram_init(&h);
    long first = 0, missing = 0;
    for (long i = 0; i < t.count; i++) {
        if (!t.verdict_us[i])
            continue; /* the append failed */
        if (!t.arrived_us[i])
            missing++;
        else if (t.arrived_us[i] <= t.verdict_us[i])
            first++, bench_histogram_record(&h, 0);
        else
            bench_histogram_record(&h, t.arrived_us[i] - t.verdict_us[i]);
    }
    printf("feed-lag: %ld appends at %ld/s; lag behind the verdict p50 %.2f ms, p99 %.2f ms, "
           "max %.1f ms; %ld records came before the verdict, %ld never came; %llu errors\n",
           t.count, o->rate, ms(bench_histogram_percentile(&h, 50)),
           ms(bench_histogram_percentile(&h, 99)), ms(h.max_us), first, missing,
           (unsigned long long)errors);
    printf("{\"bench\":\"feed-lag\",\"label\":\"%s\",\"count\":%ld,\"rate\":%ld,\"p50_ms\":%.3f,"
           "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"before_verdict\":%ld,\"missing\":%ld,"
           "\"errors\":%llu,\"completed\":true}\n",
           o->label, t.count, o->rate, ms(bench_histogram_percentile(&h, 50)),
           ms(bench_histogram_percentile(&h, 99)), ms(h.max_us), first, missing,
           (unsigned long long)errors);
    rd_kafka_consumer_close(r.consumer);
    rd_kafka_destroy(r.consumer);
    evs_client_close(client);
    return missing ? 1 : 0;
}

static int number(const char *name, const char *text, long min, long max, long *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < min || v > max) {
        fprintf(stderr, "evs_bench_cluster: --%s takes %ld to %ld, not \"%s\"\n", name, min, max,
                text);
        return -1;
    }
    *out = v;
    return 0;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

int main(int argc, char **argv)
{
    options o = {.projector = env_or("EVSTORE_PROJECTOR", "http://127.0.0.1:18080"),
                 .brokers = env_or("EVSTORE_BROKERS", "127.0.0.1:18092"),
                 .topic = env_or("EVSTORE_TOPIC", "evstore.events"),
                 .label = "",
                 .prefix = "Fill-",
                 .readers = 8,
                 .writers = 2,
                 .seconds = 10,
                 .streams = 1000,
                 .limit = 100,
                 .count = 1000,
                 .rate = 200};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (a[0] != '-') {
            o.mode = a;
            continue;
        }
        if (!v) {
            fprintf(stderr, "evs_bench_cluster: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--projector"))
            o.projector = v;
        else if (!strcmp(a, "--brokers"))
            o.brokers = v;
        else if (!strcmp(a, "--topic"))
            o.topic = v;
        else if (!strcmp(a, "--label"))
            o.label = v;
        else if (!strcmp(a, "--prefix"))
            o.prefix = v;
        else if (!strcmp(a, "--feed-topic"))
            o.feed_topic = v;
        else if (!strcmp(a, "--rate"))
            rc = number("rate", v, 1, 100000, &o.rate);
        else if (!strcmp(a, "--readers"))
            rc = number("readers", v, 0, THREADS_MAX, &o.readers);
        else if (!strcmp(a, "--writers"))
            rc = number("writers", v, 0, THREADS_MAX, &o.writers);
        else if (!strcmp(a, "--seconds"))
            rc = number("seconds", v, 1, 3600, &o.seconds);
        else if (!strcmp(a, "--streams"))
            rc = number("streams", v, 1, 100000000, &o.streams);
        else if (!strcmp(a, "--limit"))
            rc = number("limit", v, 1, EVS_READ_LIMIT_MAX, &o.limit);
        else if (!strcmp(a, "--count"))
            rc = number("count", v, 1, 10000000, &o.count);
        else {
            fprintf(stderr, "evs_bench_cluster: unknown option %s\n", a);
            return 2;
        }
        if (rc < 0)
            return 2;
    }
    if (o.mode && !strcmp(o.mode, "reads"))
        return mode_workers(&o, 0);
    if (o.mode && !strcmp(o.mode, "stall"))
        return mode_workers(&o, 1);
    if (o.mode && !strcmp(o.mode, "checkpoints"))
        return mode_checkpoints(&o);
    if (o.mode && !strcmp(o.mode, "feed-lag"))
        return mode_feed_lag(&o);
    fprintf(stderr, "usage: evs_bench_cluster [--projector SEEDS] reads|stall|checkpoints|feed-lag "
                    "[options] (see the head of tests/bench/evs_bench_cluster.c)\n");
    return 2;
}
