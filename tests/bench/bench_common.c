/*
 * bench_common.c - what evs_bench and pg_bench share (bench_common.h says what and why).
 */
#include "bench_common.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evstore_limits.h"

/* ---- Command line ---------------------------------------------------------------------- */

static const char *program = "bench";

void bench_program_set(const char *name)
{
    program = name;
}

int bench_usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", program);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(%s --help lists the options)\n", program);
    return 2;
}

int bench_parse_long(const char *name, const char *text, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (!*text || *end || errno || v < min || v > max)
        return bench_usage_error("--%s needs a whole number from %ld to %ld, not \"%s\"", name, min,
                                 max, text);
    *out = v;
    return 0;
}

int bench_parse_zipf_s(const char *text, double *out)
{
    char *end = NULL;
    double v = strtod(text, &end);
    if (!*text || *end || !(v > 0.0 && v <= 10.0))
        return bench_usage_error("--zipf-s needs a number above 0 and at most 10, not \"%s\"",
                                 text);
    *out = v;
    return 0;
}

int bench_parse_label(const char *text, char *out, size_t out_size)
{
    assert(out_size > BENCH_LABEL_MAX);
    if (strlen(text) > BENCH_LABEL_MAX || strpbrk(text, "\"\\"))
        return bench_usage_error("--label takes at most %d characters, without \" or \\",
                                 BENCH_LABEL_MAX);
    for (const char *ch = text; *ch; ch++)
        if ((unsigned char)*ch < 0x20)
            return bench_usage_error("--label must not hold control characters");
    snprintf(out, out_size, "%s", text);
    return 0;
}

int bench_stream_chars_ok(const char *name)
{
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("_.:@-", *c)))
            return 0;
    return 1;
}

int bench_stream_name_ok(const char *name)
{
    size_t n = strlen(name);
    return n >= 1 && n <= EVS_STREAM_NAME_MAX && bench_stream_chars_ok(name);
}

int bench_option_next(int argc, char **argv, const struct option *options, int first_option,
                      const char *const *commands, int command_count, int *command)
{
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "+", options, NULL);
        if (c == -1) {
            if (optind >= argc)
                return 0;
            /* A word that is not an option: the command (only one). Continue after it. */
            if (*command != 0) {
                bench_usage_error("unexpected argument \"%s\"", argv[optind]);
                return -1;
            }
            for (int i = 1; i < command_count; i++)
                if (!strcmp(argv[optind], commands[i]))
                    *command = i;
            if (*command == 0) {
                bench_usage_error("unknown command \"%s\"", argv[optind]);
                return -1;
            }
            optind++;
            continue;
        }
        if (c == '?' || c == ':') {
            if (optopt >= first_option)
                bench_usage_error("option %s needs a value", argv[optind - 1]);
            else
                bench_usage_error("unknown option \"%s\"", argv[optind - 1]);
            return -1;
        }
        return c;
    }
}

int bench_options_check(const int *seen, int first_option, int last_option,
                        const struct option *options, unsigned (*option_commands)(int option),
                        int command)
{
    for (int i = first_option; i <= last_option; i++) {
        if (seen[i] && !(option_commands(i) & (1u << command))) {
            const char *name = "?";
            for (const struct option *lo = options; lo->name; lo++)
                if (lo->val == i)
                    name = lo->name;
            return bench_usage_error("--%s does not apply to this command", name);
        }
    }
    return 0;
}

/* ---- Clock and randomness -------------------------------------------------------------- */

uint64_t bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t bench_rng_next(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

double bench_rng_unit(uint64_t *state)
{
    return (double)(bench_rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

double *bench_zipf_cdf_new(long n, double s)
{
    assert(n >= 1);
    double *cdf = malloc((size_t)n * sizeof *cdf);
    if (!cdf)
        return NULL;
    double sum = 0;
    for (long k = 0; k < n; k++) {
        sum += 1.0 / pow((double)(k + 1), s);
        cdf[k] = sum;
    }
    for (long k = 0; k < n; k++)
        cdf[k] /= sum;
    cdf[n - 1] = 1.0;
    return cdf;
}

long bench_stream_pick(const double *zipf_cdf, long n, uint64_t *rng)
{
    if (!zipf_cdf)
        return (long)(bench_rng_next(rng) % (uint64_t)n);
    double u = bench_rng_unit(rng);
    long lo = 0, hi = n - 1; /* the first k with cdf[k] >= u */
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        if (zipf_cdf[mid] >= u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void bench_version_raise(_Atomic uint64_t *slot, uint64_t v)
{
    uint64_t seen = atomic_load(slot);
    while (seen < v && !atomic_compare_exchange_weak(slot, &seen, v))
        ;
}

/* ---- The events' JSON ------------------------------------------------------------------ */

int bench_payload_init(bench_payload *p, size_t event_count, size_t data_bytes,
                       size_t metadata_bytes)
{
    memset(p, 0, sizeof *p);
    p->event_count = event_count;
    p->data_target = data_bytes;
    p->metadata_target = metadata_bytes;
    p->data_cap = data_bytes + BENCH_PAYLOAD_FIELDS_MAX;
    p->metadata_cap = metadata_bytes ? metadata_bytes + BENCH_PAYLOAD_FIELDS_MAX : 0;
    p->buffers = malloc(event_count * (p->data_cap + p->metadata_cap));
    if (!p->buffers) {
        memset(p, 0, sizeof *p);
        return -1;
    }
    return 0;
}

void bench_payload_free(bench_payload *p)
{
    free(p->buffers);
    memset(p, 0, sizeof *p);
}

size_t bench_json_object_fill(char *buf, size_t cap, size_t target, const char *fields)
{
    size_t fields_len = strlen(fields);
    size_t base = 1 + fields_len + strlen(",\"pad\":\"") + strlen("\"}");
    size_t pad = target > base ? target - base : 0;
    assert(base + pad + 1 <= cap);
    size_t n = 0;
    buf[n++] = '{';
    memcpy(buf + n, fields, fields_len);
    n += fields_len;
    memcpy(buf + n, ",\"pad\":\"", 8);
    n += 8;
    memset(buf + n, 'x', pad);
    n += pad;
    memcpy(buf + n, "\"}", 3);
    return n + 2;
}

void bench_payload_fill(bench_payload *p, size_t index, uint64_t serial, uint64_t *rng,
                        bench_event_json *out)
{
    assert(index < p->event_count);
    char fields[BENCH_PAYLOAD_FIELDS_MAX - 32];
    char *data = p->buffers + index * (p->data_cap + p->metadata_cap);
    char *metadata = data + p->data_cap;
    uint64_t r = bench_rng_next(rng);
    snprintf(fields, sizeof fields,
             "\"order_id\":\"ord-%012" PRIu64 "-%04zu\",\"customer\":\"cust-%05u\","
             "\"lines\":[{\"sku\":\"A-%u\",\"qty\":%u,\"price_cents\":%u}],"
             "\"total_cents\":%u,\"currency\":\"EUR\"",
             serial, index, (unsigned)(r % 100000), (unsigned)(r >> 20) % 1000,
             1 + (unsigned)(r >> 30) % 9, (unsigned)(r >> 34) % 100000,
             (unsigned)(r >> 40) % 1000000);
    out->data = data;
    out->data_len = bench_json_object_fill(data, p->data_cap, p->data_target, fields);
    out->metadata = NULL;
    out->metadata_len = 0;
    if (p->metadata_target) {
        snprintf(fields, sizeof fields, "\"user\":\"u-%04u\",\"trace_id\":\"%016" PRIx64 "\"",
                 (unsigned)(r % 10000), bench_rng_next(rng));
        out->metadata = metadata;
        out->metadata_len =
            bench_json_object_fill(metadata, p->metadata_cap, p->metadata_target, fields);
    }
}

/* ---- Error tally ----------------------------------------------------------------------- */

void bench_errors_add(bench_errors *e, unsigned slot, const char *message)
{
    assert(slot < BENCH_ERROR_SLOTS_MAX);
    if (e->count[slot]++ == 0)
        snprintf(e->first_message[slot], sizeof e->first_message[slot], "%s", message);
}

void bench_errors_merge(bench_errors *dst, const bench_errors *src)
{
    for (unsigned i = 0; i < BENCH_ERROR_SLOTS_MAX; i++) {
        if (src->count[i] && !dst->count[i])
            memcpy(dst->first_message[i], src->first_message[i], sizeof dst->first_message[i]);
        dst->count[i] += src->count[i];
    }
}

uint64_t bench_errors_total(const bench_errors *e)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < BENCH_ERROR_SLOTS_MAX; i++)
        n += e->count[i];
    return n;
}

/* The name of a slot that has counts: the caller named every slot it uses. */
static const char *slot_name(const char *const *slot_names, unsigned slot)
{
    for (unsigned i = 0; i < slot; i++)
        assert(slot_names[i]);
    assert(slot_names[slot]);
    return slot_names[slot];
}

void bench_errors_print(const bench_errors *e, const char *const *slot_names)
{
    if (bench_errors_total(e) == 0) {
        printf("  errors: none\n");
        return;
    }
    for (unsigned i = 0; i < BENCH_ERROR_SLOTS_MAX; i++)
        if (e->count[i])
            printf("  errors: %" PRIu64 " x %s, first: %s\n", e->count[i], slot_name(slot_names, i),
                   e->first_message[i]);
}

void bench_errors_json(const bench_errors *e, const char *const *slot_names)
{
    printf(",\"errors\":{");
    int first = 1;
    for (unsigned i = 0; i < BENCH_ERROR_SLOTS_MAX; i++) {
        if (e->count[i]) {
            printf("%s\"%s\":%" PRIu64, first ? "" : ",", slot_name(slot_names, i), e->count[i]);
            first = 0;
        }
    }
    printf("}");
}

/* ---- Latency output -------------------------------------------------------------------- */

void bench_latency_print(const char *what, const bench_histogram *h)
{
    printf("  %s latency (us): p50 %" PRIu64 "  p95 %" PRIu64 "  p99 %" PRIu64 "  p99.9 %" PRIu64
           "  max %" PRIu64 "  min %" PRIu64 "  mean %.0f  (n=%" PRIu64 ")\n",
           what, bench_histogram_percentile(h, 50), bench_histogram_percentile(h, 95),
           bench_histogram_percentile(h, 99), bench_histogram_percentile(h, 99.9), h->max_us,
           h->total ? h->min_us : 0, bench_histogram_mean(h), h->total);
}

void bench_latency_json(const char *prefix, const bench_histogram *h)
{
    const char *p = prefix;
    printf(",\"%sn\":%" PRIu64 ",\"%sp50_us\":%" PRIu64 ",\"%sp95_us\":%" PRIu64
           ",\"%sp99_us\":%" PRIu64 ",\"%sp999_us\":%" PRIu64 ",\"%smax_us\":%" PRIu64
           ",\"%smin_us\":%" PRIu64 ",\"%smean_us\":%.1f",
           p, h->total, p, bench_histogram_percentile(h, 50), p, bench_histogram_percentile(h, 95),
           p, bench_histogram_percentile(h, 99), p, bench_histogram_percentile(h, 99.9), p,
           h->max_us, p, h->total ? h->min_us : 0, p, bench_histogram_mean(h));
}

/* ---- A multi-writer run ---------------------------------------------------------------- */

int bench_run_init(bench_run *r, long writers, long count, long max_errors)
{
    memset(r, 0, sizeof *r);
    r->writers = writers;
    r->count = count;
    r->max_errors = max_errors;
    atomic_init(&r->next_call, 0);
    atomic_init(&r->failed_calls, 0);
    atomic_init(&r->finished_calls, 0);
    atomic_init(&r->finished_writers, 0);
    atomic_init(&r->stop, 0);
    r->threads = calloc((size_t)writers, sizeof *r->threads);
    if (!r->threads)
        return -1;
    if (pthread_barrier_init(&r->start, NULL, (unsigned)writers + 1) != 0) {
        free(r->threads);
        r->threads = NULL;
        return -1;
    }
    return 0;
}

void bench_run_start(bench_run *r, void *(*writer_main)(void *arg), void *args, size_t arg_size)
{
    for (long i = r->started; i < r->writers; i++) {
        if (pthread_create(&r->threads[i], NULL, writer_main,
                           (char *)args + (size_t)i * arg_size) != 0) {
            fprintf(stderr, "%s: cannot start writer %ld; aborting\n", program, i);
            exit(1);
        }
        r->started = i + 1;
    }
}

void bench_run_join(bench_run *r)
{
    while (r->started > 0)
        pthread_join(r->threads[--r->started], NULL);
}

void bench_run_destroy(bench_run *r)
{
    assert(r->started == 0);
    pthread_barrier_destroy(&r->start);
    free(r->threads);
    r->threads = NULL;
}

void bench_run_ready(bench_run *r, int setup_failed)
{
    if (setup_failed)
        atomic_store(&r->stop, 1);
    pthread_barrier_wait(&r->start);
}

long bench_run_claim(bench_run *r)
{
    if (atomic_load(&r->stop))
        return -1;
    long serial = atomic_fetch_add(&r->next_call, 1);
    return serial < r->count ? serial : -1;
}

void bench_run_call_done(bench_run *r, int failed)
{
    if (failed && atomic_fetch_add(&r->failed_calls, 1) + 1 >= r->max_errors)
        atomic_store(&r->stop, 1);
    atomic_fetch_add(&r->finished_calls, 1);
}

void bench_run_stop(bench_run *r)
{
    atomic_store(&r->stop, 1);
}

void bench_run_writer_done(bench_run *r)
{
    atomic_fetch_add(&r->finished_writers, 1);
}

double bench_run_wait(bench_run *r, int progress, const char *calls)
{
    pthread_barrier_wait(&r->start);
    uint64_t started = bench_now_us();
    uint64_t last_progress = started;
    while (atomic_load(&r->finished_writers) < r->started) {
        struct timespec pause_time = {0, 20 * 1000 * 1000};
        nanosleep(&pause_time, NULL);
        if (progress && bench_now_us() - last_progress >= 5000000) {
            last_progress = bench_now_us();
            long done_now = atomic_load(&r->finished_calls);
            double elapsed = (double)(last_progress - started) / 1e6;
            fprintf(stderr, "%s: %ld of %ld %s after %.0f s (%.0f %s/s)\n", program, done_now,
                    r->count, calls, elapsed, (double)done_now / elapsed, calls);
        }
    }
    return (double)(bench_now_us() - started) / 1e6;
}

int bench_run_completed(bench_run *r)
{
    return atomic_load(&r->failed_calls) < r->max_errors;
}
