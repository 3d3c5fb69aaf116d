/*
 * bench_histogram.h - a log-linear latency histogram with microsecond resolution, for the
 * benchmarks (tests/bench). Not part of libevstore.
 *
 * Layout (the same idea as HdrHistogram, much smaller):
 *  - values below BENCH_HISTOGRAM_EXACT_MAX (128 us) each have their own bucket, so they are
 *    exact;
 *  - every power-of-two range [2^k, 2^(k+1)) above that is split into
 *    BENCH_HISTOGRAM_SUB_COUNT (64) equal buckets, so a reported value is at most 1/64
 *    (1.6 %) above the true one;
 *  - values of 2^BENCH_HISTOGRAM_TOP_BIT us (about 12.7 days) or more are counted in the
 *    last bucket. The exact minimum, maximum and sum are kept beside the buckets.
 *
 * A histogram is a plain struct with no pointers: one per thread, no locking, merged at the
 * end with bench_histogram_merge(). It is about 18 KiB; allocate it, do not put it on a
 * small stack.
 */
#ifndef BENCH_HISTOGRAM_H
#define BENCH_HISTOGRAM_H

#include <stdint.h>

#define BENCH_HISTOGRAM_SUB_BITS 6
#define BENCH_HISTOGRAM_SUB_COUNT (1u << BENCH_HISTOGRAM_SUB_BITS)
#define BENCH_HISTOGRAM_EXACT_MAX (2u * BENCH_HISTOGRAM_SUB_COUNT)
#define BENCH_HISTOGRAM_TOP_BIT 40
#define BENCH_HISTOGRAM_BUCKETS                                                                    \
    (BENCH_HISTOGRAM_EXACT_MAX +                                                                   \
     (BENCH_HISTOGRAM_TOP_BIT - BENCH_HISTOGRAM_SUB_BITS - 1) * BENCH_HISTOGRAM_SUB_COUNT)

typedef struct bench_histogram {
    uint64_t counts[BENCH_HISTOGRAM_BUCKETS];
    uint64_t total;  /* values recorded */
    uint64_t min_us; /* exact; UINT64_MAX while empty */
    uint64_t max_us; /* exact */
    double sum_us;   /* for the mean */
} bench_histogram;

/* Empties h. */
void bench_histogram_init(bench_histogram *h);

/* Records one value in microseconds. */
void bench_histogram_record(bench_histogram *h, uint64_t value_us);

/* Adds every value of src to dst. */
void bench_histogram_merge(bench_histogram *dst, const bench_histogram *src);

/* The value at percentile p (0 < p <= 100): the highest value of the bucket holding the
 * ceil(p% * total)-th smallest value, never more than the exact maximum. 0 when empty. */
uint64_t bench_histogram_percentile(const bench_histogram *h, double p);

/* The mean in microseconds, 0 when empty. */
double bench_histogram_mean(const bench_histogram *h);

#endif /* BENCH_HISTOGRAM_H */
