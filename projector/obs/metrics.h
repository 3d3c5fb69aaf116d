/*
 * metrics.h - the projector's counters and histograms, and the Prometheus text format they
 * are written in (GET /metrics: obs/metrics_route.c; every metric is in docs/OPERATIONS.md).
 *
 * What is counted where: the consumer thread counts each judged batch once (verdicts by
 * status, accepted events, skipped records, the batch's size and judging time), the thread
 * that writes a batch its write time, the HTTP dispatch each request once (route, method,
 * status, time to the queued answer), and the subscription and long-poll code the
 * connections open in them. Everything else /metrics shows (offsets, lag, groups, RocksDB,
 * the process) is read when it is scraped, not kept here.
 *
 * Invariants:
 *  M1. The hot path takes no lock: every update is one or two relaxed atomic additions,
 *      made once per batch or per request, never per event.
 *  M2. Counters only grow (from 0 at the projector's start); gauges go up and down.
 *  M3. A histogram's buckets are kept non-cumulative and are read once per scrape, so the
 *      cumulative _bucket series, the +Inf bucket and _count written from that one reading
 *      agree; _sum is read separately and may include an observation more or less.
 *  M4. Every array is of fixed size, chosen at compile time: a struct evs_metrics is plain
 *      data, valid when zeroed (a static or calloc'd evs_projector has one ready), and
 *      needs no initialisation or cleanup. Only evs_metrics_set_routes() gives it names.
 *  M5. Labels have bounded values: route is one of the routing table's entries (or
 *      "none"), method one of EVS_METRICS_METHODS, code one of the statuses listed in
 *      metrics.c (any other is counted as code="other"). No label carries a stream name,
 *      id or anything else a client chooses.
 */
#ifndef EVS_METRICS_H
#define EVS_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Buckets of a histogram, +Inf not counted. */
#define EVS_METRICS_BUCKETS 16
/* Verdict statuses, indexed by evs_verdict_status (judge/rule.h: 1..5). */
#define EVS_METRICS_VERDICTS 6
/* HTTP routes: the routing table's entries plus "none" (no entry matches: 404). */
#define EVS_METRICS_ROUTES_MAX 32
/* HTTP methods: GET, HEAD, POST, PUT, DELETE, and "other". */
#define EVS_METRICS_METHODS 6
/* HTTP statuses: the codes metrics.c lists, and "other". */
#define EVS_METRICS_STATUSES 26

typedef struct evs_histogram {
    _Atomic uint64_t buckets[EVS_METRICS_BUCKETS + 1]; /* non-cumulative; last: above all */
    _Atomic uint64_t sum; /* nanoseconds for durations, records for sizes */
} evs_histogram;

/* The long polls counted by evstore_long_polls. */
typedef enum evs_metrics_poll {
    EVS_POLL_VERDICT = 0,     /* a verdict request waiting for its offset to be judged */
    EVS_POLL_GROUP_FETCH = 1, /* a consumer-group fetch waiting for events (wait_ms) */
    EVS_METRICS_POLLS = 2
} evs_metrics_poll;

typedef struct evs_metrics {
    _Atomic uint64_t verdicts[EVS_METRICS_VERDICTS]; /* appends judged, by status */
    _Atomic uint64_t events_accepted;
    _Atomic uint64_t records_skipped; /* rule A2 and A3 (judge/apply.h) */
    evs_histogram batch_records;      /* records per judged batch */
    evs_histogram judge_seconds;      /* time to judge a batch */
    evs_histogram write_seconds;      /* time to write a batch to RocksDB */
    _Atomic int64_t subscriptions_open;
    _Atomic int64_t long_polls[EVS_METRICS_POLLS];
    _Atomic uint64_t http_requests[EVS_METRICS_ROUTES_MAX][EVS_METRICS_METHODS]
                                  [EVS_METRICS_STATUSES];
    evs_histogram http_seconds[EVS_METRICS_ROUTES_MAX][EVS_METRICS_METHODS];
    const char *route_names[EVS_METRICS_ROUTES_MAX]; /* [0] is "none" */
    size_t route_count;
} evs_metrics;

/* Names the HTTP routes: route i + 1 of the counters is names[i] (route 0 is "none").
 * The strings must outlive m. At most EVS_METRICS_ROUTES_MAX - 1 are kept. */
void evs_metrics_set_routes(evs_metrics *m, const char *const *names, size_t count);

/* A monotonic clock in nanoseconds, for the durations below. */
uint64_t evs_metrics_now_ns(void);

/* One judged batch (M1): records judged (not those ignored as applied before), how many
 * of them were skipped, the time it took, its verdicts counted by status (indexed by
 * evs_verdict_status) and the events its accepted appends stored. */
void evs_metrics_batch_judged(evs_metrics *m, size_t records, size_t skipped,
                              uint64_t judge_ns, const uint64_t by_status[EVS_METRICS_VERDICTS],
                              uint64_t events_accepted);
/* One batch written to RocksDB, in write_ns. */
void evs_metrics_batch_written(evs_metrics *m, uint64_t write_ns);
/* One HTTP request answered: route as numbered by evs_metrics_set_routes (0: none), the
 * request's method, the status queued (0 when none was: not counted), and the time from
 * its dispatch to the queued answer. */
void evs_metrics_http_request(evs_metrics *m, size_t route, const char *method,
                              unsigned status, uint64_t duration_ns);
/* Gauges: delta is +1 when a subscription or long poll starts, -1 when it ends. */
void evs_metrics_subscriptions_add(evs_metrics *m, int delta);
void evs_metrics_long_polls_add(evs_metrics *m, evs_metrics_poll kind, int delta);

/* Writes the counters and histograms above in the Prometheus text exposition format
 * (version 0.0.4), each family with its # HELP and # TYPE lines. */
void evs_metrics_write(evs_metrics *m, FILE *out);
/* Writes a family's # HELP and # TYPE lines; what /metrics adds uses it too. */
void evs_metrics_family(FILE *out, const char *name, const char *type, const char *help);

#endif /* EVS_METRICS_H */
