/*
 * bench_histogram.c - the log-linear histogram of bench_histogram.h.
 *
 * Bucket index of a value v (SUB = BENCH_HISTOGRAM_SUB_COUNT = 2^SUB_BITS):
 *   v < 2*SUB:            index v                          (exact)
 *   2^k <= v < 2^(k+1):   index 2*SUB + (k - SUB_BITS - 1) * SUB + (v >> (k - SUB_BITS)) - SUB
 * For such a v, v >> (k - SUB_BITS) lies in [SUB, 2*SUB), so the 64 buckets of one power of
 * two are each 2^(k - SUB_BITS) wide, and consecutive powers of two take consecutive index
 * ranges: the index is monotonic in v, which percentile() relies on.
 */
#include "bench_histogram.h"

#include <assert.h>
#include <string.h>

static unsigned bucket_of(uint64_t v)
{
    if (v < BENCH_HISTOGRAM_EXACT_MAX)
        return (unsigned)v;
    if (v >> BENCH_HISTOGRAM_TOP_BIT)
        v = (UINT64_C(1) << BENCH_HISTOGRAM_TOP_BIT) - 1;
    unsigned k = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = k - BENCH_HISTOGRAM_SUB_BITS;
    unsigned index = BENCH_HISTOGRAM_EXACT_MAX +
                     (k - BENCH_HISTOGRAM_SUB_BITS - 1) * BENCH_HISTOGRAM_SUB_COUNT +
                     (unsigned)(v >> shift) - BENCH_HISTOGRAM_SUB_COUNT;
    assert(index < BENCH_HISTOGRAM_BUCKETS);
    return index;
}

/* The highest value that falls in bucket index. */
static uint64_t bucket_high(unsigned index)
{
    if (index < BENCH_HISTOGRAM_EXACT_MAX)
        return index;
    unsigned rest = index - BENCH_HISTOGRAM_EXACT_MAX;
    unsigned k = BENCH_HISTOGRAM_SUB_BITS + 1 + rest / BENCH_HISTOGRAM_SUB_COUNT;
    unsigned shift = k - BENCH_HISTOGRAM_SUB_BITS;
    uint64_t low = (uint64_t)(BENCH_HISTOGRAM_SUB_COUNT + rest % BENCH_HISTOGRAM_SUB_COUNT)
                   << shift;
    return low + (UINT64_C(1) << shift) - 1;
}

void bench_histogram_init(bench_histogram *h)
{
    memset(h, 0, sizeof *h);
    h->min_us = UINT64_MAX;
}

void bench_histogram_record(bench_histogram *h, uint64_t value_us)
{
    h->counts[bucket_of(value_us)]++;
    h->total++;
    h->sum_us += (double)value_us;
    if (value_us < h->min_us)
        h->min_us = value_us;
    if (value_us > h->max_us)
        h->max_us = value_us;
}

void bench_histogram_merge(bench_histogram *dst, const bench_histogram *src)
{
    for (unsigned i = 0; i < BENCH_HISTOGRAM_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->total += src->total;
    dst->sum_us += src->sum_us;
    if (src->min_us < dst->min_us)
        dst->min_us = src->min_us;
    if (src->max_us > dst->max_us)
        dst->max_us = src->max_us;
}

uint64_t bench_histogram_percentile(const bench_histogram *h, double p)
{
    if (h->total == 0)
        return 0;
    if (p >= 100.0)
        return h->max_us;
    /* The rank of the wanted value among all, 1-based: ceil(p% of total), at least 1. */
    double exact_rank = p / 100.0 * (double)h->total;
    uint64_t rank = (uint64_t)exact_rank;
    if ((double)rank < exact_rank)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < BENCH_HISTOGRAM_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = bucket_high(i);
            if (v > h->max_us)
                v = h->max_us;
            if (v < h->min_us)
                v = h->min_us;
            return v;
        }
    }
    return h->max_us;
}

double bench_histogram_mean(const bench_histogram *h)
{
    return h->total ? h->sum_us / (double)h->total : 0.0;
}
