/*
 * test_apply.c - applying records to a real RocksDB store (projector/judge/apply.h, store.h),
 * without Kafka: the records are encoded with the real codec and fed in offset order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "judge/apply.h"

/* ---- Fixtures ------------------------------------------------------------------------ */

typedef struct fixture {
    char dir[256];
    evs_store *store;
    evs_applier applier;
    int64_t next_offset;
} fixture;

static void open_fixture(fixture *f, const char *tag)
{
    char err[256];
    snprintf(f->dir, sizeof f->dir, "/tmp/evs-test-apply-%s-%d", tag, (int)getpid());
    evs_store_destroy(f->dir, err, sizeof err);
    assert_int_equal(evs_store_open(f->dir, &f->store, err, sizeof err), 0);
    assert_int_equal(evs_applier_init(&f->applier, f->store, 1), 0);
    f->applier.quiet = 1;
    f->next_offset = 0;
}

static void close_fixture(fixture *f)
{
    char err[256];
    evs_applier_free(&f->applier);
    evs_store_close(f->store);
    evs_store_destroy(f->dir, err, sizeof err);
}

typedef struct encoded {
    evs_buf buf;
    char stream[64];
} encoded;

/* Encodes an append of n events with ids id_base, id_base+1, ... (16 equal bytes each). */
static void encode_append(encoded *e, const char *stream, uint8_t append_id,
                          evs_expected_kind kind, uint64_t expected, uint8_t id_base, size_t n)
{
    evs_record_event events[8];
    evs_append_request req;
    assert_true(n <= 8);
    memset(&req, 0, sizeof req);
    memset(req.append_id, append_id, 16);
    req.stream = stream;
    req.stream_len = strlen(stream);
    req.expected_kind = kind;
    req.expected_version = expected;
    req.events = events;
    req.event_count = n;
    for (size_t i = 0; i < n; i++) {
        memset(&events[i], 0, sizeof events[i]);
        memset(events[i].event_id, (int)(id_base + i), 16);
        events[i].type = "Happened";
        events[i].type_len = 8;
        events[i].content_type = "application/json";
        events[i].content_type_len = 16;
        events[i].data = (const uint8_t *)"{\"n\":1}";
        events[i].data_len = 7;
        events[i].created_us = 1700000000000000LL + (int64_t)i;
    }
    snprintf(e->stream, sizeof e->stream, "%s", stream);
    memset(&e->buf, 0, sizeof e->buf);
    assert_int_equal(evs_record_encode(&req, &e->buf), 0);
}

/* Encodes an append of n events whose ids carry the 32-bit numbers first_id, first_id+1,
 * ..., so that a workload can have many more distinct ids than encode_append allows. */
static void encode_append_wide(encoded *e, const char *stream, uint32_t append_no,
                               evs_expected_kind kind, uint64_t expected, uint32_t first_id,
                               size_t n)
{
    evs_record_event events[8];
    evs_append_request req;
    assert_true(n <= 8);
    memset(&req, 0, sizeof req);
    memset(req.append_id, 0xEE, 16);
    memcpy(req.append_id, &append_no, 4);
    req.stream = stream;
    req.stream_len = strlen(stream);
    req.expected_kind = kind;
    req.expected_version = expected;
    req.events = events;
    req.event_count = n;
    for (size_t i = 0; i < n; i++) {
        uint32_t id = first_id + (uint32_t)i;
        memset(&events[i], 0, sizeof events[i]);
        memset(events[i].event_id, 0x77, 16);
        memcpy(events[i].event_id, &id, 4);
        events[i].type = i % 2 ? "Shipped" : "Placed";
        events[i].type_len = strlen(events[i].type);
        events[i].content_type = "application/json";
        events[i].content_type_len = 16;
        events[i].data = (const uint8_t *)"{}";
        events[i].data_len = 2;
        events[i].created_us = 1700000000000000LL;
    }
    snprintf(e->stream, sizeof e->stream, "%s", stream);
    memset(&e->buf, 0, sizeof e->buf);
    assert_int_equal(evs_record_encode(&req, &e->buf), 0);
}

/* Applies one raw record at the fixture's next offset. */
static void apply_raw(fixture *f, const char *key, const void *value, size_t len)
{
    char err[256];
    evs_input_record r = {0, f->next_offset++, key, key ? strlen(key) : 0, value, len, 0};
    assert_int_equal(evs_applier_apply(&f->applier, &r, 1, err, sizeof err), 0);
}

static void apply_append(fixture *f, const char *stream, uint8_t append_id,
                         evs_expected_kind kind, uint64_t expected, uint8_t id_base, size_t n)
{
    encoded e;
    encode_append(&e, stream, append_id, kind, expected, id_base, n);
    apply_raw(f, stream, e.buf.data, e.buf.len);
    evs_buf_free(&e.buf);
}

static evs_stored_verdict verdict_of(fixture *f, uint8_t append_id)
{
    uint8_t id[16];
    int found = 0;
    evs_stored_verdict v;
    memset(id, append_id, 16);
    assert_int_equal(evs_store_verdict_get(f->store, id, &found, &v), 0);
    assert_true(found);
    return v;
}

/* ---- Tests ---------------------------------------------------------------------------- */

static void test_verdicts_are_stored(void **unused)
{
    fixture f;
    open_fixture(&f, "verdicts");
    apply_append(&f, "Order-1", 0xA1, EVS_EXPECT_NO_STREAM, 0, 1, 2);    /* v1..2 */
    apply_append(&f, "Order-1", 0xA2, EVS_EXPECT_EXACT, 1, 3, 1);        /* wrong */
    apply_append(&f, "Order-1", 0xA3, EVS_EXPECT_EXACT, 2, 3, 1);        /* v3 */
    apply_append(&f, "Order-1", 0xA4, EVS_EXPECT_EXACT, 0, 1, 2);        /* duplicate */
    apply_append(&f, "Order-1", 0xA5, EVS_EXPECT_ANY, 0, 3, 2);          /* conflict */
    apply_append(&f, "Order-2", 0xA6, EVS_EXPECT_ANY, 0, 9, 1);          /* v1 */

    evs_stored_verdict v = verdict_of(&f, 0xA1);
    assert_int_equal(v.verdict.status, EVS_VERDICT_ACCEPTED);
    assert_int_equal(v.verdict.first_version, 1);
    assert_int_equal(v.verdict.last_version, 2);
    assert_int_equal(v.verdict.first_position, 1);
    assert_int_equal(v.verdict.last_position, 2);
    assert_int_equal(v.offset, 0);
    assert_string_equal(v.stream, "Order-1");

    v = verdict_of(&f, 0xA2);
    assert_int_equal(v.verdict.status, EVS_VERDICT_WRONG_EXPECTED_VERSION);
    assert_int_equal(v.verdict.current_version, 2);
    assert_int_equal(v.expected_version, 1);

    v = verdict_of(&f, 0xA3);
    assert_int_equal(v.verdict.status, EVS_VERDICT_ACCEPTED);
    assert_int_equal(v.verdict.first_version, 3);
    assert_int_equal(v.verdict.first_position, 3);

    v = verdict_of(&f, 0xA4);
    assert_int_equal(v.verdict.status, EVS_VERDICT_DUPLICATE);
    assert_int_equal(v.verdict.first_version, 1);
    assert_int_equal(v.verdict.last_version, 2);
    assert_int_equal(v.verdict.first_position, 1);

    v = verdict_of(&f, 0xA5);
    assert_int_equal(v.verdict.status, EVS_VERDICT_IDEMPOTENCY_CONFLICT);

    v = verdict_of(&f, 0xA6);
    assert_int_equal(v.verdict.status, EVS_VERDICT_ACCEPTED);
    assert_int_equal(v.verdict.first_version, 1);
    assert_int_equal(v.verdict.first_position, 4); /* positions are per partition */

    uint64_t version;
    assert_int_equal(evs_store_stream_version(f.store, "Order-1", 7, &version), 0);
    assert_int_equal(version, 3);
    assert_int_equal(f.applier.stats.events, 4);
    close_fixture(&f);
}

static void test_bad_records_are_skipped_or_invalid(void **unused)
{
    fixture f;
    open_fixture(&f, "bad");
    apply_raw(&f, "x", "garbage", 7);                                   /* offset 0: skip */
    encoded e;
    encode_append(&e, "Order-1", 0xB1, EVS_EXPECT_ANY, 0, 1, 1);
    apply_raw(&f, e.buf.data ? "Order-1" : NULL, e.buf.data, e.buf.len / 2); /* 1: truncated */
    apply_raw(&f, "Other-1", e.buf.data, e.buf.len);                    /* 2: key mismatch */
    apply_raw(&f, "Order-1", e.buf.data, e.buf.len);                    /* 3: repeat id */
    evs_buf_free(&e.buf);
    apply_append(&f, "$bad", 0xB2, EVS_EXPECT_ANY, 0, 5, 1);            /* 4: invalid name */
    apply_append(&f, "Order-1", 0xB3, EVS_EXPECT_ANY, 0, 1, 1);         /* 5: accepted */

    char *reason = NULL;
    assert_int_equal(evs_store_skip_get(f.store, 0, 0, &reason), 0);
    assert_non_null(reason);
    free(reason);
    assert_int_equal(evs_store_skip_get(f.store, 0, 1, &reason), 0);
    assert_non_null(reason);
    free(reason);
    assert_int_equal(evs_store_skip_get(f.store, 0, 3, &reason), 0);
    assert_non_null(reason);
    assert_non_null(strstr(reason, "first verdict stands"));
    free(reason);

    evs_stored_verdict v = verdict_of(&f, 0xB1);
    assert_int_equal(v.verdict.status, EVS_VERDICT_INVALID);
    assert_int_equal(v.offset, 2);
    assert_non_null(strstr(v.reason, "key"));
    v = verdict_of(&f, 0xB2);
    assert_int_equal(v.verdict.status, EVS_VERDICT_INVALID);
    v = verdict_of(&f, 0xB3);
    assert_int_equal(v.verdict.status, EVS_VERDICT_ACCEPTED);
    assert_int_equal(v.verdict.first_position, 1); /* nothing before it took a position */

    uint64_t skipped;
    assert_int_equal(evs_store_skip_count(f.store, &skipped), 0);
    assert_int_equal(skipped, 3);
    close_fixture(&f);
}

static void test_redelivered_offsets_are_ignored(void **unused)
{
    fixture f;
    open_fixture(&f, "redeliver");
    encoded e;
    encode_append(&e, "Order-1", 0xC1, EVS_EXPECT_ANY, 0, 1, 1);
    char err[256];
    evs_input_record r = {0, 0, "Order-1", 7, e.buf.data, e.buf.len, 0};
    evs_input_record twice[2] = {r, r};
    assert_int_equal(evs_applier_apply(&f.applier, twice, 2, err, sizeof err), 0);
    assert_int_equal(evs_applier_apply(&f.applier, &r, 1, err, sizeof err), 0);
    evs_buf_free(&e.buf);
    assert_int_equal(f.applier.stats.ignored, 2);
    assert_int_equal(f.applier.stats.events, 1);

    /* The next offset survives a reopen: a restart resumes after it. */
    evs_applier_free(&f.applier);
    assert_int_equal(evs_applier_init(&f.applier, f.store, 1), 0);
    assert_int_equal(f.applier.next_offset[0], 1);
    assert_int_equal(f.applier.last_position[0], 1);
    close_fixture(&f);
}

/* A deterministic mixed workload: exact expectations that sometimes miss, retries. */
static size_t make_workload(encoded *recs, size_t n)
{
    uint32_t seed = 12345;
    uint64_t versions[4] = {0};
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        int s = (int)((seed >> 16) % 4);
        char stream[16];
        snprintf(stream, sizeof stream, "Order-%d", s);
        uint64_t expected = versions[s] + ((seed >> 8) % 5 == 0 ? 1 : 0); /* 20% stale-ahead */
        uint8_t id_base = (uint8_t)(1 + (i * 2) % 250);
        if ((seed >> 4) % 7 == 0 && i > 0)
            id_base = (uint8_t)(1 + ((i - 1) * 2) % 250); /* a retry of the previous ids */
        encode_append(&recs[i], stream, (uint8_t)i, EVS_EXPECT_EXACT, expected, id_base, 2);
        if (expected == versions[s])
            versions[s] += 2;
    }
    return n;
}

static void test_batching_does_not_change_the_result(void **unused)
{
    enum { N = 120 };
    encoded recs[N];
    make_workload(recs, N);
    evs_input_record in[N];
    for (size_t i = 0; i < N; i++) {
        in[i].partition = 0;
        in[i].offset = (int64_t)i;
        in[i].key = recs[i].stream;
        in[i].key_len = strlen(recs[i].stream);
        in[i].value = recs[i].buf.data;
        in[i].value_len = recs[i].buf.len;
    }
    char err[256];
    fixture a, b;
    open_fixture(&a, "batch-a");
    open_fixture(&b, "batch-b");
    assert_int_equal(evs_applier_apply(&a.applier, in, N, err, sizeof err), 0);
    /* b: uneven batches that overlap, as after a consumer rebalance */
    size_t start = 0, step = 1;
    while (start < N) {
        size_t end = start + step < N ? start + step : N;
        assert_int_equal(evs_applier_apply(&b.applier, in + start, end - start, err, sizeof err),
                         0);
        if (end == N)
            break;
        start = end > 3 && step > 2 ? end - 2 : end; /* re-feed the last two */
        step = step * 2 % 17 + 1;
    }
    evs_store_digest da, db;
    assert_int_equal(evs_store_digest_compute(a.store, &da), 0);
    assert_int_equal(evs_store_digest_compute(b.store, &db), 0);
    assert_int_equal(da.version_table, db.version_table);
    assert_int_equal(da.streams, db.streams);
    assert_int_equal(da.event_count, db.event_count);
    assert_true(da.event_count > 20);
    assert_int_equal(da.event_count, a.applier.last_position[0]); /* gapless positions */
    for (size_t i = 0; i < N; i++) {
        evs_stored_verdict va = verdict_of(&a, (uint8_t)i), vb = verdict_of(&b, (uint8_t)i);
        assert_memory_equal(&va, &vb, sizeof va);
    }
    for (size_t i = 0; i < N; i++)
        evs_buf_free(&recs[i].buf);
    close_fixture(&a);
    close_fixture(&b);
}

/* One large batch must read its own writes (store.c, B2) exactly as record-by-record
 * application reads committed state: thousands of event ids (more than the batch's first
 * hash table holds), stream versions updated many times in the batch (B1: the last one is
 * stored), repeated append ids, and retries of ids both from this batch and from an
 * earlier one. */
enum { RETRY_N = 1200, RETRY_EVENTS = 4, RETRY_STREAMS = 7 };

/* The workload of the batch tests: RETRY_N appends of 4 events to Ship-0..Ship-6 with exact
 * expectations, except that every tenth is a retry (expectation any) of the append 7
 * records back, in the same stream; every tenth repeats the previous append id (skipped,
 * the first verdict stands); every tenth has a stale expectation. Free it with
 * free_retry_workload. */
typedef struct retry_workload {
    encoded recs[RETRY_N];
    evs_input_record in[RETRY_N];
    uint64_t versions[RETRY_STREAMS]; /* each stream's final version */
} retry_workload;

static retry_workload workload; /* the tests' one workload, made anew by each */

static void make_retry_workload(retry_workload *w)
{
    encoded *recs = w->recs;
    evs_input_record *in = w->in;
    uint64_t *versions = w->versions;
    memset(versions, 0, RETRY_STREAMS * sizeof *versions);
    for (uint32_t i = 0; i < RETRY_N; i++) {
        char stream[16];
        int s = (int)(i % RETRY_STREAMS);
        snprintf(stream, sizeof stream, "Ship-%d", s);
        uint32_t first_id = 1000 + i * RETRY_EVENTS;
        uint32_t append_no = i;
        evs_expected_kind kind = EVS_EXPECT_EXACT;
        uint64_t expected = versions[s];
        if (i % 10 == 9) {
            first_id = 1000 + (i - 7) * RETRY_EVENTS; /* a retry of an append 7 records back */
            kind = EVS_EXPECT_ANY;
            expected = 0;
        } else if (i % 10 == 5) {
            append_no = i - 1; /* a repeated append id: skipped, the first verdict stands */
        } else if (i % 10 == 3) {
            expected += 1; /* a stale expectation */
        } else {
            versions[s] += RETRY_EVENTS;
        }
        encode_append_wide(&recs[i], stream, append_no, kind, expected, first_id,
                           RETRY_EVENTS);
        in[i] = (evs_input_record){0, (int64_t)i, recs[i].stream, strlen(recs[i].stream),
                                   recs[i].buf.data, recs[i].buf.len, 0};
    }
}

static void free_retry_workload(retry_workload *w)
{
    for (size_t i = 0; i < RETRY_N; i++)
        evs_buf_free(&w->recs[i].buf);
}

/* Submits in[0..n) in batches of 1, 2, 3, 4, 1, ... records, so that the workload's retries
 * straddle batches, then flushes; returns the number of batches. With judged_next, asserts
 * after each submit that it holds the next offset to judge (as on_judged reported it). */
static size_t submit_small_batches(evs_applier *a, const evs_input_record *in, size_t n,
                                   const int64_t *judged_next)
{
    char err[256];
    size_t batches = 0;
    for (size_t i = 0; i < n; batches++) {
        size_t k = 1 + batches % 4;
        if (k > n - i)
            k = n - i;
        assert_int_equal(evs_applier_submit(a, in + i, k, err, sizeof err), 0);
        i += k;
        if (judged_next)
            assert_int_equal(*judged_next, (int64_t)i);
    }
    assert_int_equal(evs_applier_flush(a, err, sizeof err), 0);
    return batches;
}

/* Asserts that two stores that applied the retry workload hold the same state and the
 * same verdict for every append; returns how many retries were judged duplicates. */
static size_t assert_same_outcome(fixture *a, fixture *b)
{
    evs_store_digest da, db;
    assert_int_equal(evs_store_digest_compute(a->store, &da), 0);
    assert_int_equal(evs_store_digest_compute(b->store, &db), 0);
    assert_int_equal(da.version_table, db.version_table);
    assert_int_equal(da.streams, db.streams);
    assert_int_equal(da.event_count, db.event_count);
    assert_int_equal(a->applier.last_position[0], b->applier.last_position[0]);
    assert_int_equal(da.event_count, a->applier.last_position[0]); /* gapless positions */
    size_t duplicates = 0;
    for (uint32_t i = 0; i < RETRY_N; i++) {
        if (i % 10 == 5)
            continue; /* a repeated append id: the verdict is the one before */
        uint8_t id[16];
        int found_a = 0, found_b = 0;
        evs_stored_verdict va, vb;
        memset(id, 0xEE, 16);
        memcpy(id, &i, 4);
        assert_int_equal(evs_store_verdict_get(a->store, id, &found_a, &va), 0);
        assert_int_equal(evs_store_verdict_get(b->store, id, &found_b, &vb), 0);
        assert_true(found_a && found_b);
        assert_memory_equal(&va, &vb, sizeof va);
        if (i % 10 == 9 && va.verdict.status == EVS_VERDICT_DUPLICATE)
            duplicates++;
    }
    return duplicates;
}

static void test_large_batch_reads_its_own_writes(void **unused)
{
    enum { N = RETRY_N };
    const evs_input_record *in = workload.in;
    make_retry_workload(&workload);
    char err[256];
    fixture a, b;
    open_fixture(&a, "large-a");
    open_fixture(&b, "large-b");
    /* a: the first half in one batch, then the second half (whose retries reach back into
     * the committed first half) in another; b: one record per batch. */
    assert_int_equal(evs_applier_apply(&a.applier, in, N / 2, err, sizeof err), 0);
    assert_int_equal(evs_applier_apply(&a.applier, in + N / 2, N - N / 2, err, sizeof err), 0);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(evs_applier_apply(&b.applier, in + i, 1, err, sizeof err), 0);

    size_t duplicates = assert_same_outcome(&a, &b);
    assert_true(duplicates > N / 20); /* the retries of accepted appends were recognised */
    assert_int_equal(a.applier.stats.skipped, N / 10);
    for (int s = 0; s < RETRY_STREAMS; s++) {
        char stream[16];
        uint64_t version = 0;
        int n = snprintf(stream, sizeof stream, "Ship-%d", s);
        assert_int_equal(evs_store_stream_version(a.store, stream, (size_t)n, &version), 0);
        assert_int_equal(version, workload.versions[s]);
    }
    free_retry_workload(&workload);
    close_fixture(&a);
    close_fixture(&b);
}

typedef struct collect {
    uint64_t versions[64];
    size_t n;
} collect;

static int collect_version(void *ctx, const evs_stored_event *e)
{
    collect *c = ctx;
    c->versions[c->n++] = e->version;
    return c->n == 64;
}

static void test_reads_forwards_backwards_and_all(void **unused)
{
    fixture f;
    open_fixture(&f, "reads");
    apply_append(&f, "Order-1", 0xD1, EVS_EXPECT_ANY, 0, 1, 3);
    apply_append(&f, "Order-10", 0xD2, EVS_EXPECT_ANY, 0, 10, 2); /* a name with Order-1 as prefix */
    apply_append(&f, "Order-1", 0xD3, EVS_EXPECT_ANY, 0, 20, 2);
    collect c = {{0}, 0};
    assert_int_equal(evs_store_read_stream(f.store, "Order-1", 7, 1, 100, 0, collect_version, &c), 0);
    assert_int_equal(c.n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(c.versions[i], i + 1);
    c.n = 0;
    assert_int_equal(evs_store_read_stream(f.store, "Order-1", 7, 4, 2, 1, collect_version, &c), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.versions[0], 4);
    assert_int_equal(c.versions[1], 3);
    c.n = 0;
    assert_int_equal(evs_store_read_all(f.store, 0, 3, 100, collect_version, &c), 0);
    assert_int_equal(c.n, 5); /* positions 3..7 */
    assert_int_equal(c.versions[0], 3); /* Order-1 v3 */
    assert_int_equal(c.versions[1], 1); /* Order-10 v1 */
    close_fixture(&f);
}

typedef struct positions {
    uint64_t at[1000];
    size_t n;
} positions;

static int collect_position(void *ctx, const evs_stored_event *e)
{
    positions *c = ctx;
    assert_true(c->n < 1000);
    c->at[c->n++] = e->position;
    return 0;
}

/* Pages of $all and of an index over many one-event appends among larger ones (a read
 * looks one-event entries up in batches, store.c): from every start and at page sizes
 * around the batch's, exactly the events that follow, in position order. */
static void test_pages_over_many_small_appends(void **unused)
{
    enum { APPENDS = 300 };
    fixture f;
    open_fixture(&f, "small-pages");
    uint64_t total = 0, small = 0;
    uint32_t id = 1;
    for (uint32_t a = 0; a < APPENDS; a++) {
        char stream[32];
        size_t n = a % 25 == 0 ? 5 : 1;
        snprintf(stream, sizeof stream, "%s-%u", n > 1 ? "Big" : "One", a % 9);
        encoded e;
        encode_append_wide(&e, stream, a, EVS_EXPECT_ANY, 0, id, n);
        apply_raw(&f, stream, e.buf.data, e.buf.len);
        evs_buf_free(&e.buf);
        id += (uint32_t)n;
        total += n;
        small += n == 1;
    }
    static const size_t limits[] = {1, 2, 63, 64, 65, 129, 1000};
    positions *c = malloc(sizeof *c);
    assert_non_null(c);
    for (uint64_t from = 1; from <= total + 1; from += 3) {
        for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
            c->n = 0;
            assert_int_equal(evs_store_read_all(f.store, 0, from, limits[l], collect_position, c),
                             0);
            uint64_t left = total + 1 - from;
            assert_int_equal(c->n, limits[l] < left ? limits[l] : left);
            for (size_t k = 0; k < c->n; k++)
                assert_int_equal(c->at[k], from + k);
        }
    }
    /* The category One, page after page of 50: its events, each once, in order. */
    uint64_t from = 1, seen = 0, last = 0;
    for (;;) {
        c->n = 0;
        assert_int_equal(evs_store_read_index(f.store, EVS_INDEX_CATEGORY, "One", 3, 0, from, 50,
                                              collect_position, c),
                         0);
        if (c->n == 0)
            break;
        for (size_t k = 0; k < c->n; k++) {
            assert_true(c->at[k] > last);
            last = c->at[k];
        }
        seen += c->n;
        from = last + 1;
    }
    assert_int_equal(seen, small);
    free(c);
    close_fixture(&f);
}

static void test_category_and_type_indexes(void **unused)
{
    fixture f;
    open_fixture(&f, "index");
    apply_append(&f, "Order-1", 0xE1, EVS_EXPECT_ANY, 0, 1, 2);  /* positions 1, 2 */
    apply_append(&f, "Orders-1", 0xE2, EVS_EXPECT_ANY, 0, 10, 1); /* category Orders */
    apply_append(&f, "Order", 0xE3, EVS_EXPECT_ANY, 0, 20, 1);    /* no '-': own category */
    apply_append(&f, "Order-2", 0xE4, EVS_EXPECT_ANY, 0, 30, 1);
    apply_append(&f, "Order-3", 0xE5, EVS_EXPECT_NO_STREAM, 0, 1, 1); /* conflict: not indexed */
    collect c = {{0}, 0};
    assert_int_equal(evs_store_read_index(f.store, EVS_INDEX_CATEGORY, "Order", 5, 0, 1, 100,
                                          collect_version, &c), 0);
    /* Order-1 v1, v2, the stream "Order" v1 and Order-2 v1, in global order */
    assert_int_equal(c.n, 4);
    c.n = 0;
    assert_int_equal(evs_store_read_index(f.store, EVS_INDEX_CATEGORY, "Order", 5, 0, 3, 100,
                                          collect_version, &c), 0);
    assert_int_equal(c.n, 2); /* from position 3: positions 4 and 5 */
    c.n = 0;
    assert_int_equal(evs_store_read_index(f.store, EVS_INDEX_TYPE, "Happened", 8, 0, 1, 100,
                                          collect_version, &c), 0);
    assert_int_equal(c.n, 5);
    c.n = 0;
    assert_int_equal(evs_store_read_index(f.store, EVS_INDEX_TYPE, "Happen", 6, 0, 1, 100,
                                          collect_version, &c), 0);
    assert_int_equal(c.n, 0); /* a prefix of a type is another type */
    assert_int_equal(evs_category_len("Order-1-2", 9), 5);
    assert_int_equal(evs_category_len("Order", 5), 5);
    close_fixture(&f);
}

static int count_local(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    (*(int *)ctx)++;
    return 0;
}

/* A lifecycle command as a record at the fixture's next offset. */
static void apply_command(fixture *f, const char *stream, uint8_t append_id, evs_operation op,
                          evs_expected_kind kind, uint64_t expected, uint64_t before,
                          uint64_t max_count, int64_t timestamp_ms)
{
    evs_append_request req;
    memset(&req, 0, sizeof req);
    memset(req.append_id, append_id, 16);
    req.stream = stream;
    req.stream_len = strlen(stream);
    req.expected_kind = kind;
    req.expected_version = expected;
    req.operation = op;
    req.truncate_before = before;
    req.max_count = max_count;
    evs_buf buf = {0};
    assert_int_equal(evs_record_encode(&req, &buf), 0);
    char err[256];
    evs_input_record r = {0, f->next_offset++, stream, strlen(stream), buf.data, buf.len,
                          timestamp_ms};
    assert_int_equal(evs_applier_apply(&f->applier, &r, 1, err, sizeof err), 0);
    evs_buf_free(&buf);
}

/* Truncate and delete remove events from the stream, $all, the category and type indexes
 * and the event-id table (L4), and the rule sees it. */
static void test_lifecycle_removes_from_every_index(void **unused)
{
    fixture f;
    open_fixture(&f, "lifecycle");
    apply_append(&f, "Order-1", 0xA1, EVS_EXPECT_ANY, 0, 1, 3);  /* v1..3, positions 1..3 */
    apply_append(&f, "Order-2", 0xA2, EVS_EXPECT_ANY, 0, 10, 1); /* position 4 */
    apply_append(&f, "Order-1", 0xA3, EVS_EXPECT_ANY, 0, 20, 2); /* v4..5, positions 5..6 */
    /* A truncate with a wrong expectation is refused and removes nothing. */
    apply_command(&f, "Order-1", 0xB0, EVS_OP_TRUNCATE, EVS_EXPECT_EXACT, 4, 5, 0, 0);
    assert_int_equal(verdict_of(&f, 0xB0).verdict.status, EVS_VERDICT_WRONG_EXPECTED_VERSION);
    /* Truncate before 5: v1..4 go; the first append's entries go whole, the second's stays
     * with one event left. */
    apply_command(&f, "Order-1", 0xB1, EVS_OP_TRUNCATE, EVS_EXPECT_EXACT, 5, 5, 0, 0);
    evs_stored_verdict v = verdict_of(&f, 0xB1);
    assert_int_equal(v.verdict.status, EVS_VERDICT_ACCEPTED);
    assert_int_equal(v.operation, EVS_OP_TRUNCATE);
    assert_int_equal(v.verdict.first_version, 0);
    collect c = {{0}, 0};
    assert_int_equal(evs_store_read_stream(f.store, "Order-1", 7, 1, 100, 0, collect_version,
                                           &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.versions[0], 5);
    c.n = 0;
    assert_int_equal(evs_store_read_all(f.store, 0, 1, 100, collect_version, &c), 0);
    assert_int_equal(c.n, 2); /* Order-2 v1 and Order-1 v5 */
    assert_int_equal(c.versions[0], 1);
    assert_int_equal(c.versions[1], 5);
    c.n = 0;
    assert_int_equal(evs_store_read_index(f.store, EVS_INDEX_CATEGORY, "Order", 5, 0, 1, 100,
                                          collect_version, &c), 0);
    assert_int_equal(c.n, 2);
    c.n = 0;
    assert_int_equal(evs_store_read_index(f.store, EVS_INDEX_TYPE, "Happened", 8, 0, 1, 100,
                                          collect_version, &c), 0);
    assert_int_equal(c.n, 2);
    uint64_t version;
    evs_stream_lifecycle life;
    assert_int_equal(evs_store_stream_state(f.store, "Order-1", 7, &version, &life), 0);
    assert_int_equal(version, 5);
    assert_int_equal(life.first_version, 5);
    assert_int_equal(life.deleted, EVS_STREAM_LIVE);
    /* The removed event ids left the id table: the same ids in a new append (new append
     * id) are new events, at the next versions. */
    apply_append(&f, "Order-1", 0xA4, EVS_EXPECT_EXACT, 5, 1, 2);
    v = verdict_of(&f, 0xA4);
    assert_int_equal(v.verdict.status, EVS_VERDICT_ACCEPTED);
    assert_int_equal(v.verdict.first_version, 6);
    /* Soft delete: everything goes, the version stays; no_stream holds, stream_exists not. */
    apply_command(&f, "Order-1", 0xB2, EVS_OP_DELETE, EVS_EXPECT_ANY, 0, 0, 0, 0);
    assert_int_equal(evs_store_stream_state(f.store, "Order-1", 7, &version, &life), 0);
    assert_int_equal(version, 7);
    assert_int_equal(life.deleted, EVS_STREAM_SOFT_DELETED);
    assert_int_equal(life.first_version, 8);
    c.n = 0;
    assert_int_equal(evs_store_read_all(f.store, 0, 1, 100, collect_version, &c), 0);
    assert_int_equal(c.n, 1); /* Order-2 alone */
    apply_append(&f, "Order-1", 0xA5, EVS_EXPECT_STREAM_EXISTS, 0, 40, 1);
    assert_int_equal(verdict_of(&f, 0xA5).verdict.status, EVS_VERDICT_WRONG_EXPECTED_VERSION);
    apply_append(&f, "Order-1", 0xA6, EVS_EXPECT_NO_STREAM, 0, 41, 1);
    v = verdict_of(&f, 0xA6);
    assert_int_equal(v.verdict.status, EVS_VERDICT_ACCEPTED);
    assert_int_equal(v.verdict.first_version, 8); /* versions continue */
    assert_int_equal(evs_store_stream_state(f.store, "Order-1", 7, &version, &life), 0);
    assert_int_equal(life.deleted, EVS_STREAM_LIVE);
    /* Hard delete: a tombstone; every later record is stream_deleted. */
    apply_command(&f, "Order-2", 0xB3, EVS_OP_HARD_DELETE, EVS_EXPECT_EXACT, 1, 0, 0, 0);
    apply_append(&f, "Order-2", 0xA7, EVS_EXPECT_ANY, 0, 50, 1);
    assert_int_equal(verdict_of(&f, 0xA7).verdict.status, EVS_VERDICT_STREAM_DELETED);
    apply_command(&f, "Order-2", 0xB4, EVS_OP_DELETE, EVS_EXPECT_ANY, 0, 0, 0, 0);
    assert_int_equal(verdict_of(&f, 0xB4).verdict.status, EVS_VERDICT_STREAM_DELETED);
    assert_int_equal(evs_store_stream_state(f.store, "Order-2", 7, &version, &life), 0);
    assert_int_equal(life.deleted, EVS_STREAM_HARD_DELETED);
    c.n = 0;
    assert_int_equal(evs_store_read_stream(f.store, "Order-2", 7, 1, 100, 0, collect_version,
                                           &c), 0);
    assert_int_equal(c.n, 0);
    close_fixture(&f);
}

/* Max count: the command removes the oldest at once; later appends go at the sweep of the
 * next new second of log time (A7), the same on every run. */
static void test_max_count_is_swept_in_log_time(void **unused)
{
    fixture f;
    open_fixture(&f, "limits");
    apply_append(&f, "Tick-1", 0xA1, EVS_EXPECT_ANY, 0, 1, 5);
    apply_command(&f, "Tick-1", 0xB1, EVS_OP_SET_LIMITS, EVS_EXPECT_ANY, 0, 0, 2, 1000);
    collect c = {{0}, 0};
    assert_int_equal(evs_store_read_stream(f.store, "Tick-1", 6, 1, 100, 0, collect_version,
                                           &c), 0);
    assert_int_equal(c.n, 2); /* v4, v5 */
    assert_int_equal(c.versions[0], 4);
    apply_append(&f, "Tick-1", 0xA2, EVS_EXPECT_ANY, 0, 10, 2); /* v6, v7; log time 0 */
    c.n = 0;
    assert_int_equal(evs_store_read_all(f.store, 0, 1, 100, collect_version, &c), 0);
    assert_int_equal(c.n, 4); /* not swept yet: v4..7 */
    /* A record in a new second of log time: the sweep before it keeps v6, v7. */
    apply_command(&f, "Other", 0xB2, EVS_OP_TRUNCATE, EVS_EXPECT_ANY, 0, 1, 0, 2500);
    c.n = 0;
    assert_int_equal(evs_store_read_all(f.store, 0, 1, 100, collect_version, &c), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.versions[0], 6);
    int64_t log_time;
    assert_int_equal(evs_store_partition_log_time(f.store, 0, &log_time), 0);
    assert_int_equal(log_time, 2500);
    close_fixture(&f);
}

static void test_local_state_survives_reset(void **unused)
{
    fixture f;
    char err[256];
    open_fixture(&f, "local");
    apply_append(&f, "Order-1", 0xF1, EVS_EXPECT_ANY, 0, 1, 2);
    assert_int_equal(evs_store_local_put(f.store, "C/a", 3, "1", 1), 0);
    assert_int_equal(evs_store_local_put(f.store, "C/b", 3, "22", 2), 0);
    assert_int_equal(evs_store_local_put(f.store, "D/c", 3, "3", 1), 0);
    assert_int_equal(evs_store_local_delete(f.store, "D/c", 3), 0);
    int n = 0;
    assert_int_equal(evs_store_local_scan(f.store, "C/", 2, NULL, 0, count_local, &n), 0);
    assert_int_equal(n, 2);
    n = 0;
    assert_int_equal(evs_store_local_scan(f.store, "C/", 2, "C/a", 3, count_local, &n), 0);
    assert_int_equal(n, 1); /* starts after C/a */

    evs_applier_free(&f.applier);
    evs_store_close(f.store);
    assert_int_equal(evs_store_reset(f.dir, err, sizeof err), 0);
    assert_int_equal(evs_store_open(f.dir, &f.store, err, sizeof err), 0);
    assert_int_equal(evs_applier_init(&f.applier, f.store, 1), 0);
    uint64_t version = 99;
    assert_int_equal(evs_store_stream_version(f.store, "Order-1", 7, &version), 0);
    assert_int_equal(version, 0); /* derived state is gone */
    assert_int_equal(f.applier.next_offset[0], 0);
    char *value = NULL;
    size_t len = 0;
    assert_int_equal(evs_store_local_get(f.store, "C/b", 3, &value, &len), 0);
    assert_non_null(value); /* local state is kept */
    assert_int_equal(len, 2);
    assert_memory_equal(value, "22", 2);
    free(value);
    assert_int_equal(evs_store_local_get(f.store, "D/c", 3, &value, &len), 0);
    assert_null(value);
    close_fixture(&f);
}

typedef struct keys_probe {
    int calls;
    size_t subjects; /* events with a subject in the appends it saw */
} keys_probe;

static int probe_keys_ready(void *ctx, const evs_append_request *req)
{
    keys_probe *k = ctx;
    k->calls++;
    for (size_t i = 0; i < req->event_count; i++)
        k->subjects += req->events[i].subject != NULL;
    return 0;
}

typedef struct seen_event {
    int found;
    char subject[32];
    uint8_t key_id[16], data_nonce[24], metadata_nonce[24];
    int metadata_sealed;
    uint8_t data[64];
    size_t data_len;
} seen_event;

static int keep_event(void *ctx, const evs_stored_event *e)
{
    seen_event *s = ctx;
    s->found = 1;
    snprintf(s->subject, sizeof s->subject, "%.*s", (int)e->subject_len,
             e->subject ? e->subject : "");
    if (e->subject) {
        memcpy(s->key_id, e->key_id, 16);
        memcpy(s->data_nonce, e->data_nonce, 24);
    }
    s->metadata_sealed = e->metadata_nonce != NULL;
    if (e->metadata_nonce)
        memcpy(s->metadata_nonce, e->metadata_nonce, 24);
    s->data_len = e->data_len < sizeof s->data ? e->data_len : sizeof s->data;
    memcpy(s->data, e->data, s->data_len);
    return 1;
}

/* An append of personal data: the applier asks for its keys before it makes it visible
 * (keyring.h, K3), and the stored event keeps the subject, key id and nonces, byte for
 * byte, beside the ciphertext; plain events keep none. */
static void test_personal_data_is_stored_sealed(void **unused)
{
    fixture f;
    keys_probe probe = {0, 0};
    open_fixture(&f, "sealed");
    f.applier.keys_ready = probe_keys_ready;
    f.applier.keys_ready_ctx = &probe;

    evs_record_event events[2];
    evs_append_request req;
    memset(&req, 0, sizeof req);
    memset(events, 0, sizeof events);
    memset(req.append_id, 0xA1, 16);
    req.stream = "Person-1";
    req.stream_len = 8;
    req.expected_kind = EVS_EXPECT_ANY;
    req.events = events;
    req.event_count = 2;
    static const uint8_t cipher[24] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                       13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24};
    for (int i = 0; i < 2; i++) {
        memset(events[i].event_id, 0x30 + i, 16);
        events[i].type = "Registered";
        events[i].type_len = 10;
        events[i].content_type = "application/json";
        events[i].content_type_len = 16;
        events[i].created_us = 1700000000000000LL;
    }
    events[0].data = cipher;
    events[0].data_len = sizeof cipher;
    events[0].metadata = cipher;
    events[0].metadata_len = 20;
    events[0].subject = "customer:7";
    events[0].subject_len = 10;
    memset(events[0].key_id, 0x4B, 16);
    memset(events[0].data_nonce, 0x4E, 24);
    events[0].metadata_sealed = 1;
    memset(events[0].metadata_nonce, 0x4D, 24);
    events[1].data = (const uint8_t *)"{}";
    events[1].data_len = 2;
    char err[256];
    assert_int_equal(evs_record_validate(&req, err, sizeof err), 0);
    evs_buf buf = {0};
    assert_int_equal(evs_record_encode(&req, &buf), 0);
    apply_raw(&f, "Person-1", buf.data, buf.len);
    evs_buf_free(&buf);
    assert_int_equal(verdict_of(&f, 0xA1).verdict.status, EVS_VERDICT_ACCEPTED);
    assert_int_equal(probe.calls, 1);
    assert_int_equal(probe.subjects, 1);

    seen_event s;
    memset(&s, 0, sizeof s);
    assert_int_equal(evs_store_read_stream(f.store, "Person-1", 8, 1, 1, 0, keep_event, &s), 0);
    assert_true(s.found);
    assert_string_equal(s.subject, "customer:7");
    uint8_t want[24];
    memset(want, 0x4B, 16);
    assert_memory_equal(s.key_id, want, 16);
    memset(want, 0x4E, 24);
    assert_memory_equal(s.data_nonce, want, 24);
    assert_true(s.metadata_sealed);
    memset(want, 0x4D, 24);
    assert_memory_equal(s.metadata_nonce, want, 24);
    assert_int_equal(s.data_len, sizeof cipher);
    assert_memory_equal(s.data, cipher, sizeof cipher);
    memset(&s, 0, sizeof s);
    assert_int_equal(evs_store_read_stream(f.store, "Person-1", 8, 2, 1, 0, keep_event, &s), 0);
    assert_true(s.found);
    assert_string_equal(s.subject, "");
    assert_false(s.metadata_sealed);

    /* A plain append does not ask for keys. */
    apply_append(&f, "Order-1", 0xA2, EVS_EXPECT_ANY, 0, 0x60, 1);
    assert_int_equal(probe.calls, 1);
    close_fixture(&f);
}

typedef struct key_list {
    int n;
    uint8_t ids[4][16];
} key_list;

static int keep_key(void *ctx, const uint8_t key_id[16], const char *value, size_t len)
{
    key_list *l = ctx;
    (void)value;
    (void)len;
    if (l->n < 4)
        memcpy(l->ids[l->n], key_id, 16);
    l->n++;
    return 0;
}

/* The key table: puts and tombstones with the key topic's offset, a subject's keys only
 * (not another subject's that starts with the same bytes), and --rebuild forgets it (it is
 * derived from the key topic). */
static void test_key_table(void **unused)
{
    fixture f;
    char err[256];
    uint8_t a[16], b[16];
    memset(a, 0xAA, 16);
    memset(b, 0xBB, 16);
    open_fixture(&f, "keys");
    int64_t next = -1;
    assert_int_equal(evs_store_key_offset(f.store, &next), 0);
    assert_int_equal(next, 0);
    assert_int_equal(evs_store_key_write(f.store, "ann", 3, a, "k1", 2, 1), 0);
    assert_int_equal(evs_store_key_write(f.store, "ann", 3, b, "k2", 2, 2), 0);
    assert_int_equal(evs_store_key_write(f.store, "anne", 4, a, "k3", 2, 3), 0);
    assert_int_equal(evs_store_key_offset(f.store, &next), 0);
    assert_int_equal(next, 3);
    key_list l = {0};
    assert_int_equal(evs_store_keys_of(f.store, "ann", 3, keep_key, &l), 0);
    assert_int_equal(l.n, 2);
    assert_memory_equal(l.ids[0], a, 16);
    assert_memory_equal(l.ids[1], b, 16);

    assert_int_equal(evs_store_key_write(f.store, "ann", 3, a, NULL, 0, 4), 0); /* tombstone */
    evs_store_compact_keys(f.store, "ann", 3);
    char *value = NULL;
    size_t len = 0;
    assert_int_equal(evs_store_key_get(f.store, "ann", 3, a, &value, &len), 0);
    assert_null(value);
    assert_int_equal(evs_store_key_get(f.store, "ann", 3, b, &value, &len), 0);
    assert_non_null(value);
    assert_int_equal(len, 2);
    assert_memory_equal(value, "k2", 2);
    free(value);
    assert_int_equal(evs_store_key_get(f.store, "anne", 4, a, &value, &len), 0);
    assert_non_null(value); /* another subject's key of the same id is untouched */
    free(value);
    assert_int_equal(evs_store_key_offset(f.store, &next), 0);
    assert_int_equal(next, 4);

    evs_applier_free(&f.applier);
    evs_store_close(f.store);
    assert_int_equal(evs_store_reset(f.dir, err, sizeof err), 0);
    assert_int_equal(evs_store_open(f.dir, &f.store, err, sizeof err), 0);
    assert_int_equal(evs_applier_init(&f.applier, f.store, 1), 0);
    assert_int_equal(evs_store_key_offset(f.store, &next), 0);
    assert_int_equal(next, 0);
    l.n = 0;
    assert_int_equal(evs_store_keys_of(f.store, "ann", 3, keep_key, &l), 0);
    assert_int_equal(l.n, 0);
    close_fixture(&f);
}

/* The event ids of a record are read in one batched lookup before the rule runs (store.c,
 * B4): ids stored by earlier batches, by earlier records of the same batch, and a mix. */
static void test_prefetched_id_lookups(void **unused)
{
    fixture f;
    char err[256];
    open_fixture(&f, "prefetch");
    apply_append(&f, "Order-1", 0x31, EVS_EXPECT_ANY, 0, 0x40, 3); /* v1..3, committed */
    apply_append(&f, "Order-1", 0x32, EVS_EXPECT_ANY, 0, 0x40, 3); /* retry: from the db */
    evs_stored_verdict v = verdict_of(&f, 0x32);
    assert_int_equal(v.verdict.status, EVS_VERDICT_DUPLICATE);
    assert_int_equal(v.verdict.first_version, 1);
    assert_int_equal(v.verdict.last_version, 3);
    assert_int_equal(v.verdict.first_position, 1);
    apply_append(&f, "Order-1", 0x33, EVS_EXPECT_ANY, 0, 0x42, 2); /* 0x42 stored, 0x43 not */
    assert_int_equal(verdict_of(&f, 0x33).verdict.status, EVS_VERDICT_IDEMPOTENCY_CONFLICT);
    apply_append(&f, "Order-1", 0x34, EVS_EXPECT_ANY, 0, 0x41, 2); /* a part, in order (R1) */
    v = verdict_of(&f, 0x34);
    assert_int_equal(v.verdict.status, EVS_VERDICT_DUPLICATE);
    assert_int_equal(v.verdict.first_version, 2);
    assert_int_equal(v.verdict.last_version, 3);

    /* One batch: a new append, its retry, a retry of a committed one, and a conflict that
     * mixes an id of this batch with one of the database. */
    encoded e[4];
    encode_append(&e[0], "Order-2", 0x35, EVS_EXPECT_ANY, 0, 0x50, 2);
    encode_append(&e[1], "Order-2", 0x36, EVS_EXPECT_ANY, 0, 0x50, 2);
    encode_append(&e[2], "Order-1", 0x37, EVS_EXPECT_ANY, 0, 0x40, 3);
    encode_append(&e[3], "Order-2", 0x38, EVS_EXPECT_ANY, 0, 0x51, 1);
    evs_input_record recs[4];
    for (int i = 0; i < 4; i++)
        recs[i] = (evs_input_record){0, f.next_offset++, e[i].stream, strlen(e[i].stream),
                                     e[i].buf.data, e[i].buf.len, 0};
    assert_int_equal(evs_applier_apply(&f.applier, recs, 4, err, sizeof err), 0);
    for (int i = 0; i < 4; i++)
        evs_buf_free(&e[i].buf);
    v = verdict_of(&f, 0x35);
    assert_int_equal(v.verdict.status, EVS_VERDICT_ACCEPTED);
    assert_int_equal(v.verdict.first_position, 4);
    v = verdict_of(&f, 0x36);
    assert_int_equal(v.verdict.status, EVS_VERDICT_DUPLICATE);
    assert_int_equal(v.verdict.first_version, 1);
    assert_int_equal(v.verdict.first_position, 4);
    v = verdict_of(&f, 0x37);
    assert_int_equal(v.verdict.status, EVS_VERDICT_DUPLICATE);
    assert_int_equal(v.verdict.first_position, 1);
    v = verdict_of(&f, 0x38);
    assert_int_equal(v.verdict.status, EVS_VERDICT_DUPLICATE); /* 0x51 alone is v2 of Order-2 */
    assert_int_equal(v.verdict.first_version, 2);
    close_fixture(&f);
}

/* ---- Index entries per append (store.h I1, I2) -------------------------------------------
 * A model: every accepted event with its position, stream, version, category and type, and
 * reads compared, for every start position and many limits, with a plain filter over it. */

typedef struct model_event {
    uint64_t position, version;
    char stream[16];
    char category[16];
    char type[4];
} model_event;

enum { MODEL_MAX = 400 };

typedef struct model {
    model_event ev[MODEL_MAX];
    size_t n;
} model;

/* Appends n events to stream with the given types; event ids 0x55.. carry a counter. */
static void model_append(fixture *f, model *m, const char *stream, const char *const *types,
                         size_t n, uint32_t *id_counter, uint32_t append_no)
{
    evs_record_event events[8];
    evs_append_request req;
    evs_buf buf;
    assert_true(n >= 1 && n <= 8);
    memset(&req, 0, sizeof req);
    memset(req.append_id, 0xAB, 16);
    memcpy(req.append_id, &append_no, 4);
    req.stream = stream;
    req.stream_len = strlen(stream);
    req.expected_kind = EVS_EXPECT_ANY;
    req.events = events;
    req.event_count = n;
    for (size_t i = 0; i < n; i++) {
        uint32_t id = (*id_counter)++;
        memset(&events[i], 0, sizeof events[i]);
        memset(events[i].event_id, 0x55, 16);
        memcpy(events[i].event_id, &id, 4);
        events[i].type = types[i];
        events[i].type_len = strlen(types[i]);
        events[i].content_type = "application/json";
        events[i].content_type_len = 16;
        events[i].data = (const uint8_t *)"{}";
        events[i].data_len = 2;
        events[i].created_us = 1700000000000000LL;
    }
    memset(&buf, 0, sizeof buf);
    assert_int_equal(evs_record_encode(&req, &buf), 0);
    apply_raw(f, stream, buf.data, buf.len);
    evs_buf_free(&buf);
    uint64_t version = 0;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->ev[i].stream, stream) == 0)
            version = m->ev[i].version;
    for (size_t i = 0; i < n; i++) {
        model_event *e = &m->ev[m->n];
        assert_true(m->n < MODEL_MAX);
        e->position = m->n + 1;
        e->version = version + 1 + i;
        snprintf(e->stream, sizeof e->stream, "%s", stream);
        snprintf(e->category, sizeof e->category, "%.*s",
                 (int)evs_category_len(stream, strlen(stream)), stream);
        snprintf(e->type, sizeof e->type, "%s", types[i]);
        m->n++;
    }
}

typedef struct seen {
    uint64_t position[MODEL_MAX], version[MODEL_MAX];
    char stream[MODEL_MAX][16];
    size_t n;
    size_t stop_after; /* the visitor returns non-zero after this many (0: never) */
} seen;

static int seen_visit(void *ctx, const evs_stored_event *e)
{
    seen *s = ctx;
    assert_true(s->n < MODEL_MAX);
    assert_true(e->stream_len < 16);
    s->position[s->n] = e->position;
    s->version[s->n] = e->version;
    memcpy(s->stream[s->n], e->stream, e->stream_len);
    s->stream[s->n][e->stream_len] = 0;
    s->n++;
    return s->stop_after && s->n == s->stop_after;
}

/* kind: 0 $all, 1 category, 2 type. */
static int model_match(const model_event *e, int kind, const char *name)
{
    return kind == 0 || strcmp(kind == 1 ? e->category : e->type, name) == 0;
}

static void check_read(fixture *f, const model *m, int kind, const char *name, uint64_t from,
                       size_t limit, size_t stop_after)
{
    seen s;
    memset(&s, 0, sizeof s);
    s.stop_after = stop_after;
    int rc = kind == 0 ? evs_store_read_all(f->store, 0, from, limit, seen_visit, &s)
                       : evs_store_read_index(f->store,
                                              kind == 1 ? EVS_INDEX_CATEGORY : EVS_INDEX_TYPE,
                                              name, strlen(name), 0, from, limit, seen_visit,
                                              &s);
    assert_int_equal(rc, 0);
    size_t want = 0;
    for (size_t i = 0; i < m->n; i++) {
        const model_event *e = &m->ev[i];
        if (e->position < from || !model_match(e, kind, name))
            continue;
        if (want == limit || (stop_after && want == stop_after))
            break;
        assert_true(want < s.n);
        assert_int_equal(s.position[want], e->position);
        assert_int_equal(s.version[want], e->version);
        assert_string_equal(s.stream[want], e->stream);
        want++;
    }
    assert_int_equal(s.n, want);
}

static void test_index_entries_per_append(void **unused)
{
    static const char *const type_sets[][8] = {
        {"A", "A", "A", "A", "A", "A", "A", "A"},
        {"A", "B", "A", "B", "A", "B", "A", "B"}, /* alternating: runs of one */
        {"A", "A", "B", "B", "B", "A", "C", "C"},
        {"C", "B", "B", "A", "A", "A", "B", "C"},
    };
    static const char *const streams[] = {"Order-1", "Order-2", "Ship-1", "Order",
                                          "Orders-1", "Ship-2", "Order-10"};
    fixture f;
    model *m = calloc(1, sizeof *m);
    uint32_t ids = 1;
    assert_non_null(m);
    open_fixture(&f, "perappend");
    /* Empty store: nothing anywhere, from any position. */
    check_read(&f, m, 0, "", 0, 100, 0);
    check_read(&f, m, 1, "Order", 1, 100, 0);
    check_read(&f, m, 2, "A", 5, 100, 0);
    for (uint32_t a = 0; a < 60; a++) {
        size_t n = 1 + (a * 5 + 3) % 8;
        model_append(&f, m, streams[(a * 3 + a / 7) % 7], type_sets[(a + a / 4) % 4], n, &ids,
                     a);
    }
    /* A rejected append (wrong expected version) writes no index entry. */
    encoded e;
    encode_append(&e, "Order-1", 0xC7, EVS_EXPECT_EXACT, 999, 0xC0, 3);
    apply_raw(&f, "Order-1", e.buf.data, e.buf.len);
    evs_buf_free(&e.buf);
    assert_true(m->n > 200);

    static const size_t limits[] = {0, 1, 2, 3, 5, 7, 8, 9, 13, 100, 10000};
    static const struct {
        int kind;
        const char *name;
    } reads[] = {{0, ""},      {1, "Order"}, {1, "Ship"}, {1, "Orders"}, {1, "Ord"},
                 {1, "Nope"},  {2, "A"},     {2, "B"},    {2, "C"},      {2, "AB"}};
    for (size_t r = 0; r < sizeof reads / sizeof reads[0]; r++)
        for (uint64_t from = 0; from <= m->n + 3; from++)
            for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++)
                check_read(&f, m, reads[r].kind, reads[r].name, from, limits[l], 0);
    /* A visitor that stops in the middle of an entry. */
    for (size_t stop = 1; stop < 12; stop++) {
        check_read(&f, m, 0, "", 4, 100, stop);
        check_read(&f, m, 2, "B", 3, 100, stop);
    }
    /* Positions far beyond the end and another partition are empty. */
    check_read(&f, m, 0, "", UINT64_MAX, 100, 0);
    check_read(&f, m, 1, "Order", (uint64_t)1 << 40, 100, 0);
    seen s;
    memset(&s, 0, sizeof s);
    assert_int_equal(evs_store_read_all(f.store, 1, 1, 100, seen_visit, &s), 0);
    assert_int_equal(s.n, 0);
    free(m);
    close_fixture(&f);
}

/* The writer (apply.h): records submitted in many small batches, each judged while the one
 * before is still being written, reach the same state and verdicts as records applied one
 * by one with nothing in flight (those small batches are written on the caller's thread,
 * apply.c W4); on_commit sees every batch, in order, each with the offsets it committed.
 * The workload's retries reach back 7 records, so they are found in the batch being
 * judged, in the batch being written, or in the database. */
typedef struct commits_seen {
    size_t count;
    int64_t last_next_offset;
    int in_order;
    int failed;
} commits_seen;

static void note_commit(void *ctx, const evs_apply_commit *c)
{
    commits_seen *log = ctx;
    if (c->rc < 0)
        log->failed = 1;
    if (c->next_offset[0] <= log->last_next_offset)
        log->in_order = 0;
    log->last_next_offset = c->next_offset[0];
    log->count++;
}

static void test_pipelined_batches_match_one_by_one(void **unused)
{
    enum { N = RETRY_N };
    const evs_input_record *in = workload.in;
    make_retry_workload(&workload);
    char err[256];
    fixture a, b;
    commits_seen commits = {0, -1, 1, 0}, inline_commits = {0, -1, 1, 0};
    open_fixture(&a, "pipe-a");
    open_fixture(&b, "pipe-b");
    a.applier.on_commit = note_commit; /* small batches: written inline (apply.c, W4) */
    a.applier.on_commit_ctx = &inline_commits;
    b.applier.on_commit = note_commit;
    b.applier.on_commit_ctx = &commits;
    b.applier.inline_bytes = 0; /* every batch through the writer thread (apply.c, W4) */
    for (size_t i = 0; i < N; i++)
        assert_int_equal(evs_applier_apply(&a.applier, in + i, 1, err, sizeof err), 0);
    size_t batches = submit_small_batches(&b.applier, in, N, NULL);
    assert_int_equal(commits.count, batches);
    assert_true(commits.in_order);
    assert_false(commits.failed);
    assert_int_equal(commits.last_next_offset, N);
    assert_int_equal(inline_commits.count, N);
    assert_true(inline_commits.in_order);
    assert_false(inline_commits.failed);

    assert_true(assert_same_outcome(&a, &b) > N / 20); /* the retries were recognised */
    free_retry_workload(&workload);
    close_fixture(&a);
    close_fixture(&b);
}

/* What on_judged and on_commit reported, for test_verdicts_are_reported_before_the_write. */
typedef struct judged_seen {
    evs_store *store;
    evs_stored_verdict verdicts[RETRY_N]; /* by append number */
    int reported[RETRY_N];
    uint64_t judged, committed;  /* the last batch numbers seen */
    int in_order;                /* batches numbered 1, 2, ...; each judged before its commit */
    int written_early;           /* a reported verdict was in the store already */
    int64_t next_offset;         /* as the last on_judged saw it */
} judged_seen;

static void note_judged(void *ctx, const evs_apply_judged *j)
{
    judged_seen *s = ctx;
    if (j->batch != s->judged + 1 || j->batch > s->committed + 2)
        s->in_order = 0;
    s->judged = j->batch;
    s->next_offset = j->next_offset[0];
    for (size_t i = 0; i < j->count; i++) {
        uint32_t no;
        memcpy(&no, j->append_ids[i], 4);
        if (no >= RETRY_N || s->reported[no]++)
            s->in_order = 0; /* not an append of the workload, or reported twice */
        else
            s->verdicts[no] = j->verdicts[i];
        int found = 1;
        evs_stored_verdict stored;
        evs_store_verdict_get(s->store, j->append_ids[i], &found, &stored);
        if (found)
            s->written_early = 1;
    }
}

static void note_judged_commit(void *ctx, const evs_apply_commit *c)
{
    judged_seen *s = ctx;
    if (c->rc < 0 || c->batch != s->committed + 1 || c->batch > s->judged)
        s->in_order = 0;
    s->committed = c->batch;
}

/* apply.c, W5: every verdict reaches on_judged before its batch is written (while the batch
 * before may still be written), once, numbered in order, and equal to the stored one. */
static void test_verdicts_are_reported_before_the_write(void **unused)
{
    enum { N = RETRY_N };
    const evs_input_record *in = workload.in;
    static judged_seen reports[2];
    make_retry_workload(&workload);
    for (int inline_writes = 0; inline_writes < 2; inline_writes++) {
        fixture f;
        judged_seen *s = &reports[inline_writes];
        open_fixture(&f, inline_writes ? "judged-inline" : "judged-writer");
        memset(s, 0, sizeof *s);
        s->store = f.store;
        s->in_order = 1;
        f.applier.on_judged = note_judged;
        f.applier.on_judged_ctx = s;
        f.applier.on_commit = note_judged_commit;
        f.applier.on_commit_ctx = s;
        if (!inline_writes)
            f.applier.inline_bytes = 0; /* every batch through the writer thread */
        size_t batches = submit_small_batches(&f.applier, in, N, &s->next_offset);
        assert_true(s->in_order);
        assert_false(s->written_early);
        assert_int_equal(s->judged, batches);
        assert_int_equal(s->committed, batches);
        for (uint32_t i = 0; i < N; i++) {
            if (i % 10 == 5) { /* a repeated append id: skipped, nothing to report */
                assert_int_equal(s->reported[i], 0);
                continue;
            }
            assert_int_equal(s->reported[i], 1);
            uint8_t id[16];
            int found = 0;
            evs_stored_verdict stored;
            memset(id, 0xEE, 16);
            memcpy(id, &i, 4);
            assert_int_equal(evs_store_verdict_get(f.store, id, &found, &stored), 0);
            assert_true(found);
            /* The reason is compared as a string: the bytes after its NUL are not stored. */
            assert_memory_equal(&stored, &s->verdicts[i], offsetof(evs_stored_verdict, reason));
            assert_string_equal(stored.reason, s->verdicts[i].reason);
        }
        close_fixture(&f);
    }
    free_retry_workload(&workload);
}

/* store.c, B5: a batch judged on top of one that is not written yet reads that batch's
 * puts (stream version, event ids, verdicts), its own puts before them, and the database
 * after both; still so once the earlier batch is written. */
static void test_batch_reads_through_the_batch_behind(void **unused)
{
    fixture f;
    char err[256];
    open_fixture(&f, "behind");
    apply_append(&f, "Order-1", 0x21, EVS_EXPECT_ANY, 0, 0x60, 2); /* in the database */

    evs_record_event events[2];
    evs_append_request req;
    memset(&req, 0, sizeof req);
    memset(events, 0, sizeof events);
    req.stream = "Order-2";
    req.stream_len = 7;
    req.events = events;
    req.event_count = 2;
    for (int i = 0; i < 2; i++) {
        memset(events[i].event_id, 0x70 + i, 16);
        events[i].type = "Placed";
        events[i].type_len = 6;
        events[i].content_type = "application/json";
        events[i].content_type_len = 16;
        events[i].data = (const uint8_t *)"{}";
        events[i].data_len = 2;
    }
    evs_store_batch *first, *second;
    assert_int_equal(evs_store_batch_begin(f.store, &first), 0);
    assert_int_equal(evs_store_batch_put_events(first, &req, 0, 1, 3, 0, NULL), 0);
    evs_stored_verdict v;
    memset(&v, 0, sizeof v);
    v.verdict.status = EVS_VERDICT_ACCEPTED;
    snprintf(v.stream, sizeof v.stream, "Order-2");
    uint8_t append_id[16];
    memset(append_id, 0x22, 16);
    assert_int_equal(evs_store_batch_put_verdict(first, append_id, &v), 0);

    assert_int_equal(evs_store_batch_begin(f.store, &second), 0);
    evs_store_batch_set_behind(second, first);
    const evs_rule_state *st = evs_store_batch_rule_state(second);
    for (int written = 0; written < 2; written++) {
        uint64_t version = 0;
        assert_int_equal(st->stream_version(st->ctx, "Order-2", 7, &version), 0);
        assert_int_equal(version, 2); /* from the batch behind */
        assert_int_equal(st->stream_version(st->ctx, "Order-1", 7, &version), 0);
        assert_int_equal(version, 2); /* from the database */
        int found = 0;
        evs_event_location loc;
        assert_int_equal(st->event_lookup(st->ctx, events[1].event_id, &found, &loc), 0);
        assert_true(found);
        assert_int_equal(loc.version, 2);
        assert_int_equal(loc.position, 4);
        assert_int_equal(loc.stream_len, 7);
        assert_memory_equal(loc.stream, "Order-2", 7);
        uint8_t stored_id[16];
        memset(stored_id, 0x61, 16);
        assert_int_equal(st->event_lookup(st->ctx, stored_id, &found, &loc), 0);
        assert_true(found);
        assert_int_equal(loc.version, 2);
        int exists = 0;
        assert_int_equal(evs_store_batch_has_verdict(second, append_id, &exists), 0);
        assert_true(exists);
        if (!written)
            assert_int_equal(evs_store_batch_write(first, 0, err, sizeof err), 0);
    }
    /* The batch's own put of a key comes before the one behind it. */
    req.events = NULL;
    evs_record_event more[1] = {events[0]};
    memset(more[0].event_id, 0x7A, 16);
    req.events = more;
    req.event_count = 1;
    assert_int_equal(evs_store_batch_put_events(second, &req, 0, 3, 5, 0, NULL), 0);
    uint64_t version = 0;
    assert_int_equal(st->stream_version(st->ctx, "Order-2", 7, &version), 0);
    assert_int_equal(version, 3);
    evs_store_batch_abort(second);
    evs_store_batch_abort(first);
    close_fixture(&f);
}

static void test_old_format_store_is_refused(void **unused)
{
    fixture f;
    char err[512];
    open_fixture(&f, "format");
    apply_append(&f, "Order-1", 0xF2, EVS_EXPECT_ANY, 0, 1, 2);
    assert_int_equal(evs_store_meta_put(f.store, "format", EVS_STORE_FORMAT), 0);
    evs_applier_free(&f.applier);
    evs_store_close(f.store);
    /* The current format opens again. */
    assert_int_equal(evs_store_open(f.dir, &f.store, err, sizeof err), 0);
    assert_int_equal(evs_store_meta_put(f.store, "format", "1"), 0);
    evs_store_close(f.store);
    f.store = NULL;
    err[0] = 0;
    assert_true(evs_store_open(f.dir, &f.store, err, sizeof err) < 0);
    assert_non_null(strstr(err, "--rebuild"));
    assert_non_null(strstr(err, "format 1"));
    /* --rebuild resets it, after which it opens (and has no format until the first start). */
    assert_int_equal(evs_store_reset(f.dir, err, sizeof err), 0);
    assert_int_equal(evs_store_open(f.dir, &f.store, err, sizeof err), 0);
    char *format = NULL;
    assert_int_equal(evs_store_meta_get(f.store, "format", &format), 0);
    assert_null(format);
    assert_int_equal(evs_applier_init(&f.applier, f.store, 1), 0);
    close_fixture(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts_are_stored),
        cmocka_unit_test(test_bad_records_are_skipped_or_invalid),
        cmocka_unit_test(test_redelivered_offsets_are_ignored),
        cmocka_unit_test(test_batching_does_not_change_the_result),
        cmocka_unit_test(test_large_batch_reads_its_own_writes),
        cmocka_unit_test(test_reads_forwards_backwards_and_all),
        cmocka_unit_test(test_pages_over_many_small_appends),
        cmocka_unit_test(test_category_and_type_indexes),
        cmocka_unit_test(test_lifecycle_removes_from_every_index),
        cmocka_unit_test(test_max_count_is_swept_in_log_time),
        cmocka_unit_test(test_local_state_survives_reset),
        cmocka_unit_test(test_personal_data_is_stored_sealed),
        cmocka_unit_test(test_key_table),
        cmocka_unit_test(test_prefetched_id_lookups),
        cmocka_unit_test(test_index_entries_per_append),
        cmocka_unit_test(test_old_format_store_is_refused),
        cmocka_unit_test(test_pipelined_batches_match_one_by_one),
        cmocka_unit_test(test_batch_reads_through_the_batch_behind),
        cmocka_unit_test(test_verdicts_are_reported_before_the_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
