/*
 * metrics.c - counters and histograms of the projector, and their Prometheus text form
 * (metrics.h states the invariants M1-M5).
 */
#include <string.h>
#include <time.h>

#include "obs/metrics.h"

/* Upper bounds of the duration buckets, in nanoseconds: 100 us to 10 s. */
static const uint64_t duration_bounds_ns[EVS_METRICS_BUCKETS] = {
    100000,    250000,    500000,    1000000,    2500000,    5000000,    10000000,  25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000};
/* Upper bounds of the batch-size buckets, in records (the batch limit is 10,000). */
static const uint64_t records_bounds[EVS_METRICS_BUCKETS] = {
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000};

/* The statuses counted by code (M5); index EVS_METRICS_STATUSES - 1 is every other. */
static const unsigned statuses[EVS_METRICS_STATUSES - 1] = {
    200, 201, 204, 206, 304, 400, 401, 403, 404, 405, 406, 409, 410,
    411, 413, 414, 415, 416, 421, 422, 429, 431, 500, 503, 504};

static const char *const methods[EVS_METRICS_METHODS] = {"GET", "HEAD", "POST", "PUT",
                                                         "DELETE", "other"};

static const char *const verdict_names[EVS_METRICS_VERDICTS] = {
    NULL, "accepted", "duplicate", "wrong_expected_version", "idempotency_conflict", "invalid"};

#define ADD(counter, n) atomic_fetch_add_explicit(&(counter), (n), memory_order_relaxed)
#define GET(counter) atomic_load_explicit(&(counter), memory_order_relaxed)

uint64_t evs_metrics_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void observe(evs_histogram *h, const uint64_t *bounds, uint64_t value)
{
    size_t i = 0;
    while (i < EVS_METRICS_BUCKETS && value > bounds[i])
        i++;
    ADD(h->buckets[i], 1);
    ADD(h->sum, value);
}

void evs_metrics_set_routes(evs_metrics *m, const char *const *names, size_t count)
{
    if (count > EVS_METRICS_ROUTES_MAX - 1)
        count = EVS_METRICS_ROUTES_MAX - 1;
    m->route_names[0] = "none";
    for (size_t i = 0; i < count; i++)
        m->route_names[i + 1] = names[i];
    m->route_count = count + 1;
}

void evs_metrics_batch_judged(evs_metrics *m, size_t records, size_t skipped,
                              uint64_t judge_ns, const uint64_t by_status[EVS_METRICS_VERDICTS],
                              uint64_t events_accepted)
{
    for (int s = 1; s < EVS_METRICS_VERDICTS; s++)
        if (by_status[s])
            ADD(m->verdicts[s], by_status[s]);
    if (events_accepted)
        ADD(m->events_accepted, events_accepted);
    if (skipped)
        ADD(m->records_skipped, skipped);
    observe(&m->batch_records, records_bounds, records);
    observe(&m->judge_seconds, duration_bounds_ns, judge_ns);
}

void evs_metrics_batch_written(evs_metrics *m, uint64_t write_ns)
{
    observe(&m->write_seconds, duration_bounds_ns, write_ns);
}

static size_t method_index(const char *method)
{
    for (size_t i = 0; i < EVS_METRICS_METHODS - 1; i++)
        if (!strcmp(method, methods[i]))
            return i;
    return EVS_METRICS_METHODS - 1;
}

static size_t status_index(unsigned status)
{
    for (size_t i = 0; i < EVS_METRICS_STATUSES - 1; i++)
        if (statuses[i] == status)
            return i;
    return EVS_METRICS_STATUSES - 1;
}

void evs_metrics_http_request(evs_metrics *m, size_t route, const char *method,
                              unsigned status, uint64_t duration_ns)
{
    if (!status)
        return;
    if (route >= EVS_METRICS_ROUTES_MAX)
        route = 0;
    size_t mi = method_index(method ? method : "");
    ADD(m->http_requests[route][mi][status_index(status)], 1);
    observe(&m->http_seconds[route][mi], duration_bounds_ns, duration_ns);
}

void evs_metrics_subscriptions_add(evs_metrics *m, int delta)
{
    ADD(m->subscriptions_open, delta);
}

void evs_metrics_long_polls_add(evs_metrics *m, evs_metrics_poll kind, int delta)
{
    if ((unsigned)kind < EVS_METRICS_POLLS)
        ADD(m->long_polls[kind], delta);
}

/* ---- The text format ------------------------------------------------------------------ */

void evs_metrics_family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram's series; labels is "" or `key="value",...` without braces (M3). */
static void write_histogram(FILE *out, const char *name, const char *labels, evs_histogram *h,
                            const uint64_t *bounds, double scale)
{
    uint64_t counts[EVS_METRICS_BUCKETS + 1];
    for (size_t i = 0; i <= EVS_METRICS_BUCKETS; i++)
        counts[i] = GET(h->buckets[i]);
    const char *comma = labels[0] ? "," : "";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < EVS_METRICS_BUCKETS; i++) {
        cumulative += counts[i];
        fprintf(out, "%s_bucket{%s%sle=\"%.9g\"} %llu\n", name, labels, comma,
                (double)bounds[i] * scale, (unsigned long long)cumulative);
    }
    cumulative += counts[EVS_METRICS_BUCKETS];
    fprintf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, comma,
            (unsigned long long)cumulative);
    const char *open = labels[0] ? "{" : "", *close = labels[0] ? "}" : "";
    fprintf(out, "%s_sum%s%s%s %.9g\n", name, open, labels, close, (double)GET(h->sum) * scale);
    fprintf(out, "%s_count%s%s%s %llu\n", name, open, labels, close,
            (unsigned long long)cumulative);
}

static int histogram_empty(evs_histogram *h)
{
    for (size_t i = 0; i <= EVS_METRICS_BUCKETS; i++)
        if (GET(h->buckets[i]))
            return 0;
    return 1;
}

static void write_http(evs_metrics *m, FILE *out)
{
    size_t routes = m->route_count ? m->route_count : 1;
    evs_metrics_family(out, "evstore_http_requests_total", "counter",
                       "HTTP requests answered, by route (the routing table's path), method "
                       "and status code.");
    for (size_t r = 0; r < routes; r++)
        for (size_t mi = 0; mi < EVS_METRICS_METHODS; mi++)
            for (size_t s = 0; s < EVS_METRICS_STATUSES; s++) {
                uint64_t n = GET(m->http_requests[r][mi][s]);
                if (!n)
                    continue;
                char code[8];
                if (s == EVS_METRICS_STATUSES - 1)
                    snprintf(code, sizeof code, "other");
                else
                    snprintf(code, sizeof code, "%u", statuses[s]);
                fprintf(out,
                        "evstore_http_requests_total{route=\"%s\",method=\"%s\",code=\"%s\"} "
                        "%llu\n",
                        m->route_names[r] ? m->route_names[r] : "none", methods[mi], code,
                        (unsigned long long)n);
            }
    evs_metrics_family(out, "evstore_http_request_duration_seconds", "histogram",
                       "Time from a request's dispatch to its queued answer (for a "
                       "subscription: to its first byte), by route and method.");
    for (size_t r = 0; r < routes; r++)
        for (size_t mi = 0; mi < EVS_METRICS_METHODS; mi++) {
            evs_histogram *h = &m->http_seconds[r][mi];
            if (histogram_empty(h))
                continue;
            char labels[128];
            snprintf(labels, sizeof labels, "route=\"%s\",method=\"%s\"",
                     m->route_names[r] ? m->route_names[r] : "none", methods[mi]);
            write_histogram(out, "evstore_http_request_duration_seconds", labels, h,
                            duration_bounds_ns, 1e-9);
        }
}

void evs_metrics_write(evs_metrics *m, FILE *out)
{
    evs_metrics_family(out, "evstore_appends_judged_total", "counter",
                       "Append records judged since the start, by verdict.");
    for (int s = 1; s < EVS_METRICS_VERDICTS; s++)
        fprintf(out, "evstore_appends_judged_total{verdict=\"%s\"} %llu\n", verdict_names[s],
                (unsigned long long)GET(m->verdicts[s]));
    evs_metrics_family(out, "evstore_events_accepted_total", "counter",
                       "Events stored by accepted appends since the start.");
    fprintf(out, "evstore_events_accepted_total %llu\n",
            (unsigned long long)GET(m->events_accepted));
    evs_metrics_family(out, "evstore_records_skipped_total", "counter",
                       "Records of the events topic skipped since the start: not decodable, "
                       "or a repeated append id.");
    fprintf(out, "evstore_records_skipped_total %llu\n",
            (unsigned long long)GET(m->records_skipped));
    evs_metrics_family(out, "evstore_batch_records", "histogram",
                       "Records per judged batch.");
    write_histogram(out, "evstore_batch_records", "", &m->batch_records, records_bounds, 1);
    evs_metrics_family(out, "evstore_judge_duration_seconds", "histogram",
                       "Time to judge a batch of records.");
    write_histogram(out, "evstore_judge_duration_seconds", "", &m->judge_seconds,
                    duration_bounds_ns, 1e-9);
    evs_metrics_family(out, "evstore_write_duration_seconds", "histogram",
                       "Time to write a judged batch to RocksDB.");
    write_histogram(out, "evstore_write_duration_seconds", "", &m->write_seconds,
                    duration_bounds_ns, 1e-9);
    evs_metrics_family(out, "evstore_subscriptions_open", "gauge",
                       "Server-Sent-Events subscriptions open now.");
    fprintf(out, "evstore_subscriptions_open %lld\n", (long long)GET(m->subscriptions_open));
    evs_metrics_family(out, "evstore_long_polls", "gauge",
                       "Requests waiting now: verdicts waiting for their offset to be judged, "
                       "consumer-group fetches waiting for events.");
    fprintf(out, "evstore_long_polls{kind=\"verdict\"} %lld\n",
            (long long)GET(m->long_polls[EVS_POLL_VERDICT]));
    fprintf(out, "evstore_long_polls{kind=\"group_fetch\"} %lld\n",
            (long long)GET(m->long_polls[EVS_POLL_GROUP_FETCH]));
    write_http(m, out);
}
