/*
 * test_group_logic.c - the consumer-group state machine (projector/groups/group_logic.h): stream
 * ownership, per-stream order, the checkpoint, retries and parking, member and ack
 * timeouts, replays, and that what a flush stores is enough to resume after a restart.
 *
 * Time is a number the tests choose; the store is a small in-memory map that applies the
 * ops a flush returns.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "groups/group_logic.h"

#define NAME "g"

/* ---- A fake store: the group's keys, applied from flushes ---------------------------- */

typedef struct kv {
    uint8_t key[EVS_GROUP_KEY_MAX];
    size_t key_len;
    uint8_t value[512];
    size_t value_len;
} kv;

typedef struct fake_store {
    kv items[8192];
    size_t count;
} fake_store;

static kv *store_find(fake_store *s, const void *key, size_t len)
{
    for (size_t i = 0; i < s->count; i++)
        if (s->items[i].key_len == len && !memcmp(s->items[i].key, key, len))
            return &s->items[i];
    return NULL;
}

static void store_apply(fake_store *s, const evs_group_ops *ops)
{
    for (size_t i = 0; i < ops->count; i++) {
        const evs_local_op *op = &ops->ops[i];
        kv *item = store_find(s, op->key, op->key_len);
        if (!op->value) {
            if (item)
                *item = s->items[--s->count];
            continue;
        }
        if (!item) {
            assert_true(s->count < 8192);
            item = &s->items[s->count++];
            memcpy(item->key, op->key, op->key_len);
            item->key_len = op->key_len;
        }
        assert_true(op->value_len <= sizeof item->value);
        memcpy(item->value, op->value, op->value_len);
        item->value_len = op->value_len;
    }
}

/* Flushes gs into s and checks the invariants. */
static void flush(evs_group_state *gs, fake_store *s)
{
    evs_group_ops ops = {0};
    assert_int_equal(evs_group_state_flush(gs, NAME, &ops), 0);
    store_apply(s, &ops);
    evs_group_ops_free(&ops);
    assert_int_equal(evs_group_state_check(gs), 0);
}

static size_t store_count_kind(fake_store *s, char kind)
{
    size_t prefix = evs_group_state_prefix_len(NAME), n = 0;
    for (size_t i = 0; i < s->count; i++)
        n += s->items[i].key_len > prefix && s->items[i].key[prefix] == (uint8_t)kind;
    return n;
}

/* A new state as the projector would load it from s (group_logic.h, G5). */
static evs_group_state *reload(fake_store *s, const evs_group_settings *settings)
{
    uint8_t key[EVS_GROUP_KEY_MAX];
    uint64_t checkpoint = 1, parked = 0;
    kv *c = store_find(s, key, evs_group_key(key, NAME, 'c', 0));
    if (c)
        assert_int_equal(evs_group_progress_decode(c->value, c->value_len, &checkpoint, &parked),
                         0);
    evs_group_state *gs;
    assert_int_equal(evs_group_state_new(settings, checkpoint, parked, &gs), 0);
    size_t prefix = evs_group_state_prefix_len(NAME);
    for (size_t i = 0; i < s->count; i++) {
        kv *item = &s->items[i];
        if (item->key_len <= prefix || (item->key[prefix] != 'e' && item->key[prefix] != 'p'))
            continue;
        assert_true(evs_group_state_load(gs, item->key + prefix, item->key_len - prefix,
                                         item->value, item->value_len) >= 0);
    }
    return gs;
}

/* ---- Helpers --------------------------------------------------------------------------- */

static const evs_group_settings SETTINGS = {1000, 3, 5000};

static const char *member_id(int i)
{
    static char ids[8][EVS_GROUP_MEMBER_ID_LEN + 1];
    snprintf(ids[i], sizeof ids[i], "%032x", 0xabc0 + i);
    return ids[i];
}

static void add(evs_group_state *gs, uint64_t position, const char *stream)
{
    assert_int_equal(evs_group_state_add_event(gs, position, stream, strlen(stream)), 0);
}

/* Fetches for member m and returns the count; positions and attempts in out. */
static int fetch(evs_group_state *gs, int m, uint64_t now, evs_group_delivery *out)
{
    int n = evs_group_state_fetch(gs, member_id(m), EVS_GROUP_FETCH_MAX, now, out);
    assert_true(n >= 0);
    return n;
}

static evs_group_outcome ack1(evs_group_state *gs, int m, uint64_t position, uint64_t now)
{
    evs_group_outcome o;
    evs_group_state_ack(gs, member_id(m), &position, 1, now, &o);
    return o;
}

static evs_group_outcome nack1(evs_group_state *gs, int m, uint64_t position, int park,
                               uint64_t now)
{
    evs_group_outcome o;
    evs_group_state_nack(gs, member_id(m), &position, 1, park, now, 0, &o);
    return o;
}

static uint64_t checkpoint(evs_group_state *gs)
{
    evs_group_stats st;
    evs_group_state_stats(gs, &st);
    return st.checkpoint;
}

/* ---- Ownership (G1) ------------------------------------------------------------------- */

static void test_owner_spreads_and_moves_little(void **state)
{
    (void)state;
    uint64_t seeds[4] = {11, 22, 33, 44};
    size_t counts[3] = {0}, moved = 0;
    assert_int_equal(evs_group_owner(1, seeds, 0), -1);
    for (int i = 0; i < 3000; i++) {
        char name[32];
        snprintf(name, sizeof name, "Order-%d", i);
        uint64_t h = evs_group_hash(name, strlen(name));
        int three = evs_group_owner(h, seeds, 3);
        assert_true(three >= 0 && three < 3);
        assert_int_equal(evs_group_owner(h, seeds, 3), three); /* deterministic */
        counts[three]++;
        int four = evs_group_owner(h, seeds, 4);
        /* A fourth member takes streams from the others; no stream moves between them. */
        if (four != three) {
            assert_int_equal(four, 3);
            moved++;
        }
    }
    for (int i = 0; i < 3; i++)
        assert_true(counts[i] > 800 && counts[i] < 1200);
    assert_true(moved > 500 && moved < 1000);
}

/* ---- Order (G2) and the checkpoint (G4) ----------------------------------------------- */

static void test_one_in_flight_per_stream(void **state)
{
    (void)state;
    evs_group_state *gs;
    fake_store *s = calloc(1, sizeof *s);
    evs_group_delivery d[EVS_GROUP_FETCH_MAX];
    assert_int_equal(evs_group_state_new(&SETTINGS, 1, 0, &gs), 0);
    assert_int_equal(evs_group_state_join(gs, member_id(0), 0), 0);
    add(gs, 1, "A-1");
    add(gs, 2, "B-1");
    add(gs, 3, "A-1");
    add(gs, 4, "A-1");
    add(gs, 5, "B-1");
    assert_int_equal(fetch(gs, 0, 0, d), 2);
    assert_int_equal(d[0].position, 1);
    assert_int_equal(d[0].attempt, 1);
    assert_int_equal(d[1].position, 2);
    flush(gs, s);
    assert_int_equal(fetch(gs, 0, 0, d), 0); /* both streams are busy */

    /* Out of order: B's 2 acked first; the checkpoint waits for 1. */
    assert_int_equal(ack1(gs, 0, 2, 0), EVS_GROUP_ACKED);
    flush(gs, s);
    assert_int_equal(checkpoint(gs), 1);
    assert_int_equal(store_count_kind(s, 'e'), 1); /* 2 is acked above the checkpoint */
    assert_int_equal(fetch(gs, 0, 0, d), 1);
    assert_int_equal(d[0].position, 5);

    assert_int_equal(ack1(gs, 0, 1, 0), EVS_GROUP_ACKED);
    flush(gs, s);
    assert_int_equal(checkpoint(gs), 3);
    assert_int_equal(store_count_kind(s, 'e'), 0); /* passed: deleted */
    uint8_t key[EVS_GROUP_KEY_MAX];
    uint64_t stored_checkpoint, stored_parked;
    kv *c = store_find(s, key, evs_group_key(key, NAME, 'c', 0));
    assert_non_null(c);
    assert_int_equal(
        evs_group_progress_decode(c->value, c->value_len, &stored_checkpoint, &stored_parked), 0);
    assert_int_equal(stored_checkpoint, 3);
    assert_int_equal(stored_parked, 0);
    assert_int_equal(fetch(gs, 0, 0, d), 1);
    assert_int_equal(d[0].position, 3);
    assert_int_equal(ack1(gs, 0, 3, 0), EVS_GROUP_ACKED);
    assert_int_equal(ack1(gs, 0, 3, 0), EVS_GROUP_STALE); /* twice */
    assert_int_equal(fetch(gs, 0, 0, d), 1);
    assert_int_equal(d[0].position, 4);
    assert_int_equal(ack1(gs, 0, 4, 0), EVS_GROUP_ACKED);
    assert_int_equal(ack1(gs, 0, 5, 0), EVS_GROUP_ACKED);
    flush(gs, s);
    assert_int_equal(checkpoint(gs), 6);
    evs_group_stats st;
    evs_group_state_stats(gs, &st);
    assert_int_equal(st.window, 0);
    evs_group_state_free(gs);
    free(s);
}

static void test_category_gap_moves_checkpoint(void **state)
{
    (void)state;
    evs_group_state *gs;
    assert_int_equal(evs_group_state_new(&SETTINGS, 1, 0, &gs), 0);
    add(gs, 4, "A-1");
    evs_group_state_skip_to(gs, 10);
    assert_int_equal(evs_group_state_scan_position(gs), 10);
    assert_int_equal(checkpoint(gs), 4);
    assert_int_equal(evs_group_state_join(gs, member_id(0), 0), 0);
    evs_group_delivery d[4];
    assert_int_equal(fetch(gs, 0, 0, d), 1);
    assert_int_equal(ack1(gs, 0, 4, 0), EVS_GROUP_ACKED);
    assert_int_equal(checkpoint(gs), 10);
    /* Positions below the scan position are not taken again. */
    assert_int_equal(evs_group_state_add_event(gs, 7, "A-1", 3), 0);
    evs_group_stats st;
    evs_group_state_stats(gs, &st);
    assert_int_equal(st.pending, 0);
    evs_group_state_free(gs);
}

static void test_window_is_bounded(void **state)
{
    (void)state;
    evs_group_state *gs;
    assert_int_equal(evs_group_state_new(&SETTINGS, 1, 0, &gs), 0);
    for (uint64_t p = 1; p <= EVS_GROUP_WINDOW_MAX; p++)
        add(gs, p, p % 2 ? "A-1" : "B-2");
    assert_int_equal(evs_group_state_window_room(gs), 0);
    assert_int_equal(evs_group_state_add_event(gs, EVS_GROUP_WINDOW_MAX + 1, "A-1", 3), -ENOSPC);
    assert_int_equal(evs_group_state_check(gs), 0);
    evs_group_state_free(gs);
}

/* ---- Retries and parking (G3) ---------------------------------------------------------- */

static void test_nack_retries_then_parks(void **state)
{
    (void)state;
    evs_group_state *gs;
    fake_store *s = calloc(1, sizeof *s);
    evs_group_delivery d[8];
    assert_int_equal(evs_group_state_new(&SETTINGS, 1, 0, &gs), 0); /* max_attempts 3 */
    assert_int_equal(evs_group_state_join(gs, member_id(0), 0), 0);
    add(gs, 1, "A-1");
    add(gs, 2, "A-1");
    for (uint32_t attempt = 1; attempt <= 3; attempt++) {
        assert_int_equal(fetch(gs, 0, 0, d), 1);
        assert_int_equal(d[0].position, 1);
        assert_int_equal(d[0].attempt, attempt);
        assert_int_equal(nack1(gs, 0, 1, 0, 0), attempt < 3 ? EVS_GROUP_RETRY : EVS_GROUP_PARKED);
        flush(gs, s);
        assert_int_equal(store_count_kind(s, 'e'), attempt < 3 ? 1 : 0); /* attempts kept */
    }
    assert_int_equal(store_count_kind(s, 'p'), 1);
    assert_int_equal(checkpoint(gs), 2); /* parked counts as done */
    assert_int_equal(nack1(gs, 0, 1, 0, 0), EVS_GROUP_STALE);
    /* The stream goes on with its next event. */
    assert_int_equal(fetch(gs, 0, 0, d), 1);
    assert_int_equal(d[0].position, 2);
    /* Another member's nack is stale; the holder may park at once. */
    assert_int_equal(evs_group_state_join(gs, member_id(1), 0), 0);
    assert_int_equal(nack1(gs, 1, 2, 0, 0), EVS_GROUP_STALE);
    assert_int_equal(nack1(gs, 0, 2, 1, 0), EVS_GROUP_PARKED);
    flush(gs, s);
    evs_group_stats st;
    evs_group_state_stats(gs, &st);
    assert_int_equal(st.parked, 2);
    assert_int_equal(st.checkpoint, 3);
    uint32_t attempts;
    int64_t parked_us;
    evs_group_reason reason;
    const char *stream;
    size_t stream_len;
    uint8_t key[EVS_GROUP_KEY_MAX];
    kv *p = store_find(s, key, evs_group_key(key, NAME, 'p', 2));
    assert_non_null(p);
    assert_int_equal(evs_group_parked_decode(p->value, p->value_len, &attempts, &parked_us, &reason,
                                             &stream, &stream_len),
                     0);
    assert_int_equal(reason, EVS_GROUP_REASON_PARKED_BY_MEMBER);
    assert_int_equal(attempts, 1);
    assert_int_equal(stream_len, 3);
    assert_memory_equal(stream, "A-1", 3);
    evs_group_state_free(gs);
    free(s);
}

static void test_ack_timeout_redelivers(void **state)
{
    (void)state;
    evs_group_state *gs;
    evs_group_delivery d[8];
    assert_int_equal(evs_group_state_new(&SETTINGS, 1, 0, &gs), 0); /* ack timeout 1000 */
    assert_int_equal(evs_group_state_join(gs, member_id(0), 0), 0);
    add(gs, 1, "A-1");
    assert_int_equal(fetch(gs, 0, 100, d), 1);
    assert_int_equal(evs_group_state_expire(gs, 1099, 0), 0);
    assert_int_equal(evs_group_state_poll_begin(gs, member_id(0), 1099), 0);
    assert_int_equal(evs_group_state_expire(gs, 1100, 0), 1);
    assert_int_equal(fetch(gs, 0, 1100, d), 1);
    assert_int_equal(d[0].attempt, 2);
    assert_int_equal(evs_group_state_expire(gs, 2100, 0), 1);
    /* A late ack of a released event counts: the work was done. */
    assert_int_equal(ack1(gs, 0, 1, 2200), EVS_GROUP_ACKED);
    assert_int_equal(checkpoint(gs), 2);
    evs_group_state_poll_end(gs, member_id(0), 2200);
    evs_group_state_free(gs);
}

static void test_member_timeout_moves_streams(void **state)
{
    (void)state;
    evs_group_state *gs;
    evs_group_delivery d[64];
    evs_group_settings settings = {60000, 5, 5000};
    assert_int_equal(evs_group_state_new(&settings, 1, 0, &gs), 0);
    assert_int_equal(evs_group_state_join(gs, member_id(0), 0), 0);
    assert_int_equal(evs_group_state_join(gs, member_id(1), 0), 0);
    for (uint64_t p = 1; p <= 40; p++) {
        char stream[16];
        snprintf(stream, sizeof stream, "S-%d", (int)(p % 20));
        add(gs, p, stream);
    }
    int n0 = fetch(gs, 0, 0, d);
    int n1 = fetch(gs, 1, 0, d);
    assert_int_equal(n0 + n1, 20); /* one event per stream */
    assert_true(n0 > 0 && n1 > 0);
    /* Member 1 keeps polling; member 0 goes silent and is removed after 5 s. */
    assert_int_equal(evs_group_state_poll_begin(gs, member_id(1), 1000), 0);
    assert_int_equal(evs_group_state_expire(gs, 4999, 0), 0);
    assert_int_equal(evs_group_state_expire(gs, 5000, 0), (size_t)n0);
    assert_false(evs_group_state_has_member(gs, member_id(0)));
    assert_true(evs_group_state_has_member(gs, member_id(1)));
    /* Member 1 now owns every stream and gets member 0's events again, attempt 2. */
    int again = fetch(gs, 1, 5000, d);
    assert_int_equal(again, n0);
    for (int i = 0; i < again; i++)
        assert_int_equal(d[i].attempt, 2);
    assert_int_equal(evs_group_state_fetch(gs, member_id(0), 10, 5000, d), -ENOENT);
    evs_group_state_poll_end(gs, member_id(1), 5000);
    assert_int_equal(evs_group_state_check(gs), 0);
    evs_group_state_free(gs);
}

static void test_join_keeps_in_flight_with_holder(void **state)
{
    (void)state;
    evs_group_state *gs;
    evs_group_delivery d[64];
    assert_int_equal(evs_group_state_new(&SETTINGS, 1, 0, &gs), 0);
    assert_int_equal(evs_group_state_join(gs, member_id(0), 0), 0);
    /* Streams enough that a second member takes some of them. */
    for (uint64_t p = 1; p <= 64; p++) {
        char stream[16];
        snprintf(stream, sizeof stream, "S-%d", (int)(p % 32));
        add(gs, p, stream);
    }
    assert_int_equal(fetch(gs, 0, 0, d), 32);
    assert_int_equal(evs_group_state_join(gs, member_id(1), 0), 0);
    /* Member 1 owns some streams now, but their first events are in flight with 0. */
    assert_int_equal(fetch(gs, 1, 0, d), 0);
    evs_group_outcome o[32];
    uint64_t positions[32];
    for (int i = 0; i < 32; i++)
        positions[i] = (uint64_t)i + 1;
    evs_group_state_ack(gs, member_id(0), positions, 32, 0, o);
    for (int i = 0; i < 32; i++)
        assert_int_equal(o[i], EVS_GROUP_ACKED);
    int n1 = fetch(gs, 1, 0, d), n0 = fetch(gs, 0, 0, d);
    assert_true(n1 > 0 && n0 > 0);
    assert_int_equal(n0 + n1, 32);
    assert_int_equal(evs_group_state_leave(gs, member_id(1), 0, 0), n1);
    assert_int_equal(fetch(gs, 0, 0, d), n1); /* its streams came back, attempt 2 */
    assert_int_equal(d[0].attempt, 2);
    assert_int_equal(evs_group_state_check(gs), 0);
    evs_group_state_free(gs);
}

/* ---- Replay ------------------------------------------------------------------------------ */

static void test_replay_goes_first_in_its_stream(void **state)
{
    (void)state;
    evs_group_state *gs;
    fake_store *s = calloc(1, sizeof *s);
    evs_group_delivery d[8];
    assert_int_equal(evs_group_state_new(&SETTINGS, 1, 0, &gs), 0);
    assert_int_equal(evs_group_state_join(gs, member_id(0), 0), 0);
    add(gs, 1, "A-1");
    add(gs, 2, "A-1");
    add(gs, 3, "A-1");
    assert_int_equal(fetch(gs, 0, 0, d), 1);
    assert_int_equal(nack1(gs, 0, 1, 1, 0), EVS_GROUP_PARKED);
    flush(gs, s);
    assert_int_equal(fetch(gs, 0, 0, d), 1);
    assert_int_equal(d[0].position, 2);
    assert_int_equal(ack1(gs, 0, 2, 0), EVS_GROUP_ACKED);
    flush(gs, s);
    assert_int_equal(checkpoint(gs), 3);
    assert_int_equal(fetch(gs, 0, 0, d), 1); /* 3 in flight */
    assert_int_equal(d[0].position, 3);

    evs_group_parked_item item = {1, "A-1", 3};
    size_t consumed;
    assert_int_equal(evs_group_state_replay(gs, &item, 1, &consumed), 1);
    assert_int_equal(consumed, 1);
    flush(gs, s);
    assert_int_equal(store_count_kind(s, 'p'), 0);
    assert_int_equal(store_count_kind(s, 'e'), 1); /* the replay survives a restart */
    evs_group_stats st;
    evs_group_state_stats(gs, &st);
    assert_int_equal(st.parked, 0);
    assert_int_equal(st.replaying, 1);
    /* The stream is busy with 3: the replayed 1 waits for it. */
    assert_int_equal(fetch(gs, 0, 0, d), 0);
    assert_int_equal(ack1(gs, 0, 3, 0), EVS_GROUP_ACKED);
    assert_int_equal(fetch(gs, 0, 0, d), 1);
    assert_int_equal(d[0].position, 1);
    assert_int_equal(d[0].attempt, 1);
    assert_int_equal(ack1(gs, 0, 1, 0), EVS_GROUP_ACKED);
    flush(gs, s);
    assert_int_equal(store_count_kind(s, 'e'), 0);
    evs_group_state_free(gs);
    free(s);
}

/* ---- Restart (G5) ------------------------------------------------------------------------- */

static void test_restart_resumes_from_store(void **state)
{
    (void)state;
    evs_group_state *gs;
    fake_store *s = calloc(1, sizeof *s);
    evs_group_delivery d[16];
    assert_int_equal(evs_group_state_new(&SETTINGS, 1, 0, &gs), 0);
    assert_int_equal(evs_group_state_join(gs, member_id(0), 0), 0);
    const char *streams[] = {"A-1", "B-1", "C-1", "D-1", "A-1", "B-1", "E-1", "F-1"};
    for (uint64_t p = 1; p <= 8; p++)
        add(gs, p, streams[p - 1]);
    flush(gs, s);
    assert_int_equal(fetch(gs, 0, 0, d), 6);                  /* 1,2,3,4,7,8 */
    assert_int_equal(ack1(gs, 0, 2, 0), EVS_GROUP_ACKED);     /* acked above the checkpoint */
    assert_int_equal(nack1(gs, 0, 3, 0, 0), EVS_GROUP_RETRY); /* one failed attempt */
    assert_int_equal(nack1(gs, 0, 4, 1, 0), EVS_GROUP_PARKED);
    assert_int_equal(ack1(gs, 0, 7, 0), EVS_GROUP_ACKED);
    flush(gs, s);
    /* 1 and 8 are in flight, 3 waits, 5 and 6 were never delivered. */
    evs_group_state_free(gs);

    gs = reload(s, &SETTINGS);
    assert_int_equal(checkpoint(gs), 1);
    for (uint64_t p = 1; p <= 8; p++)
        add(gs, p, streams[p - 1]);
    assert_int_equal(evs_group_state_check(gs), 0);
    evs_group_stats st;
    evs_group_state_stats(gs, &st);
    assert_int_equal(st.parked, 1);
    assert_int_equal(st.acked, 2);
    assert_int_equal(evs_group_state_join(gs, member_id(1), 0), 0);
    int n = fetch(gs, 1, 0, d);
    /* Not 2, 4 or 7; 3 with its second attempt; 5, 6 wait for 1, 2's streams. */
    uint64_t want[] = {1, 3, 8, 6};
    uint32_t attempt[] = {1, 2, 1, 1};
    assert_int_equal(n, 4);
    for (int i = 0; i < n; i++) {
        int found = 0;
        for (int j = 0; j < 4; j++)
            if (d[i].position == want[j]) {
                assert_int_equal(d[i].attempt, attempt[j]);
                found = 1;
            }
        assert_true(found);
    }
    evs_group_state_free(gs);
    free(s);
}

/* ---- A random run: every event is acked or parked, in stream order ------------------------- */

static void test_random_run_keeps_order(void **state)
{
    (void)state;
    enum { EVENTS = 3000, STREAMS = 37, MEMBERS = 4 };
    /* Attempts enough that only a nack with park parks: the model sees every parking. */
    evs_group_settings settings = {500, EVS_GROUP_MAX_ATTEMPTS_MAX, 2000};
    evs_group_state *gs;
    fake_store *s = calloc(1, sizeof *s);
    static uint8_t done[EVENTS + 1];
    static int stream_of[EVENTS + 1];
    static evs_group_delivery d[EVS_GROUP_FETCH_MAX];
    memset(done, 0, sizeof done);
    assert_int_equal(evs_group_state_new(&settings, 1, 0, &gs), 0);
    uint64_t now = 0, added = 0;
    int alive[MEMBERS] = {0};
    unsigned seed = 12345;
    for (int step = 0; step < 200000; step++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = (seed >> 8) % 1000;
        now += r % 7;
        /* The source grows. */
        while (added < EVENTS && evs_group_state_window_room(gs) && r % 3 == 0) {
            added++;
            stream_of[added] = (int)((added * 7919) % STREAMS);
            char name[16];
            snprintf(name, sizeof name, "S-%d", stream_of[added]);
            add(gs, added, name);
        }
        int m = (int)(r % MEMBERS);
        if (!alive[m] || !evs_group_state_has_member(gs, member_id(m))) {
            alive[m] = evs_group_state_join(gs, member_id(m), now) == 0;
            continue;
        }
        if (r < 5) { /* a member leaves now and then */
            evs_group_state_leave(gs, member_id(m), now, 0);
            alive[m] = 0;
            continue;
        }
        evs_group_state_expire(gs, now, 0);
        int n = evs_group_state_fetch(gs, member_id(m), 1 + r % 20, now, d);
        if (n < 0)
            continue;
        for (int i = 0; i < n; i++) {
            uint64_t p = d[i].position;
            /* G2: every earlier event of the stream is done. */
            for (uint64_t q = 1; q < p; q++)
                if (stream_of[q] == stream_of[p])
                    assert_true(done[q]);
            evs_group_outcome o;
            unsigned what = (r + (unsigned)i * 31) % 10;
            if (what < 7) {
                evs_group_state_ack(gs, member_id(m), &p, 1, now, &o);
                assert_int_equal(o, EVS_GROUP_ACKED);
                done[p] = 1;
            } else if (what < 9) {
                evs_group_state_nack(gs, member_id(m), &p, 1, what == 8, now, 0, &o);
                assert_int_equal(o, what == 8 ? EVS_GROUP_PARKED : EVS_GROUP_RETRY);
                done[p] = what == 8;
            } /* else: left to time out */
        }
        evs_group_state_expire(gs, now, 0);
        flush(gs, s);
        if (added == EVENTS && checkpoint(gs) == EVENTS + 1)
            break;
        if (step % 1000 == 0) /* the full check is slow: now and then */
            assert_int_equal(evs_group_state_check(gs), 0);
    }
    assert_int_equal(checkpoint(gs), EVENTS + 1);
    evs_group_stats st;
    evs_group_state_stats(gs, &st);
    assert_int_equal(st.window, 0);
    assert_int_equal(store_count_kind(s, 'e'), 0);
    assert_int_equal(store_count_kind(s, 'p'), st.parked);
    evs_group_state_free(gs);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owner_spreads_and_moves_little),
        cmocka_unit_test(test_one_in_flight_per_stream),
        cmocka_unit_test(test_category_gap_moves_checkpoint),
        cmocka_unit_test(test_window_is_bounded),
        cmocka_unit_test(test_nack_retries_then_parks),
        cmocka_unit_test(test_ack_timeout_redelivers),
        cmocka_unit_test(test_member_timeout_moves_streams),
        cmocka_unit_test(test_join_keeps_in_flight_with_holder),
        cmocka_unit_test(test_replay_goes_first_in_its_stream),
        cmocka_unit_test(test_restart_resumes_from_store),
        cmocka_unit_test(test_random_run_keeps_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
