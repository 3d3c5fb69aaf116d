/*
 * test_apply.c - applying records to a real RocksDB store (projector/apply.h, store.h),
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

#include "apply.h"

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
    evs_input_record r = {0, f->next_offset++, key, key ? strlen(key) : 0, value, len};
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
    evs_input_record r = {0, 0, "Order-1", 7, e.buf.data, e.buf.len};
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
static void test_large_batch_reads_its_own_writes(void **unused)
{
    enum { N = 1200, EVENTS = 4 };
    static encoded recs[N];
    static evs_input_record in[N];
    uint64_t versions[7] = {0};
    for (uint32_t i = 0; i < N; i++) {
        char stream[16];
        int s = (int)(i % 7);
        snprintf(stream, sizeof stream, "Ship-%d", s);
        uint32_t first_id = 1000 + i * EVENTS;
        uint32_t append_no = i;
        evs_expected_kind kind = EVS_EXPECT_EXACT;
        uint64_t expected = versions[s];
        if (i % 10 == 9) {
            first_id = 1000 + (i - 7) * EVENTS; /* a retry of an append 7 records back */
            kind = EVS_EXPECT_ANY;
            expected = 0;
        } else if (i % 10 == 5) {
            append_no = i - 1; /* a repeated append id: skipped, the first verdict stands */
        } else if (i % 10 == 3) {
            expected += 1; /* a stale expectation */
        } else {
            versions[s] += EVENTS;
        }
        encode_append_wide(&recs[i], stream, append_no, kind, expected, first_id, EVENTS);
        in[i] = (evs_input_record){0, (int64_t)i, recs[i].stream, strlen(recs[i].stream),
                                   recs[i].buf.data, recs[i].buf.len};
    }
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

    evs_store_digest da, db;
    assert_int_equal(evs_store_digest_compute(a.store, &da), 0);
    assert_int_equal(evs_store_digest_compute(b.store, &db), 0);
    assert_int_equal(da.version_table, db.version_table);
    assert_int_equal(da.streams, db.streams);
    assert_int_equal(da.event_count, db.event_count);
    assert_int_equal(a.applier.stats.skipped, N / 10);
    assert_int_equal(a.applier.last_position[0], b.applier.last_position[0]);
    assert_int_equal(da.event_count, a.applier.last_position[0]);
    for (int s = 0; s < 7; s++) {
        char stream[16];
        uint64_t version = 0;
        int n = snprintf(stream, sizeof stream, "Ship-%d", s);
        assert_int_equal(evs_store_stream_version(a.store, stream, (size_t)n, &version), 0);
        assert_int_equal(version, versions[s]);
    }
    size_t duplicates = 0;
    for (uint32_t i = 0; i < N; i++) {
        if (i % 10 == 5)
            continue;
        uint8_t id[16];
        int found_a = 0, found_b = 0;
        evs_stored_verdict va, vb;
        memset(id, 0xEE, 16);
        memcpy(id, &i, 4);
        assert_int_equal(evs_store_verdict_get(a.store, id, &found_a, &va), 0);
        assert_int_equal(evs_store_verdict_get(b.store, id, &found_b, &vb), 0);
        assert_true(found_a && found_b);
        assert_memory_equal(&va, &vb, sizeof va);
        if (i % 10 == 9 && va.verdict.status == EVS_VERDICT_DUPLICATE)
            duplicates++;
    }
    assert_true(duplicates > N / 20); /* the retries of accepted appends were recognised */
    for (size_t i = 0; i < N; i++)
        evs_buf_free(&recs[i].buf);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts_are_stored),
        cmocka_unit_test(test_bad_records_are_skipped_or_invalid),
        cmocka_unit_test(test_redelivered_offsets_are_ignored),
        cmocka_unit_test(test_batching_does_not_change_the_result),
        cmocka_unit_test(test_large_batch_reads_its_own_writes),
        cmocka_unit_test(test_reads_forwards_backwards_and_all),
        cmocka_unit_test(test_category_and_type_indexes),
        cmocka_unit_test(test_local_state_survives_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
