/*
 * test_state_codec.c - state topic records (schemas/state_codec.c): every kind of saved
 * state goes from its store pair to a record and back unchanged; the decoder refuses a
 * record under another entry's key, another schema, every truncation, and values out of
 * the limits; the encoder refuses keys and values that do not fit the layout.
 */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "state_codec.h"

typedef struct pair {
    uint8_t key[EVS_STATE_KEY_MAX];
    size_t key_len;
    uint8_t value[256];
    size_t value_len;
} pair;

static void add(uint8_t *p, size_t *len, const void *s, size_t n)
{
    memcpy(p + *len, s, n);
    *len += n;
}

static void add_be(uint8_t *p, size_t *len, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--)
        p[(*len)++] = (uint8_t)(v >> (8 * i));
}

/* One store pair of each kind, in the layout state_codec.h gives. */
static pair sample(evs_state_kind kind)
{
    pair x;
    memset(&x, 0, sizeof x);
    switch (kind) {
    case EVS_STATE_CHECKPOINT:
        add(x.key, &x.key_len, "C/orders-view", 13);
        add_be(x.value, &x.value_len, 41, 8);
        add_be(x.value, &x.value_len, 1765000000123456ULL, 8);
        break;
    case EVS_STATE_SNAPSHOT:
        add(x.key, &x.key_len, "S/Order-7\0", 10);
        add_be(x.key, &x.key_len, 12, 8);
        add_be(x.value, &x.value_len, 3, 4);
        add_be(x.value, &x.value_len, 1765000000000001ULL, 8);
        add_be(x.value, &x.value_len, 16, 4);
        add(x.value, &x.value_len, "application/json{\"total\":1.10}", 30);
        break;
    case EVS_STATE_GROUP_DEFINITION:
        add(x.key, &x.key_len, "GD/billing", 10);
        add(x.value, &x.value_len, "{\"category\":\"Order\",\"partition\":0}", 34);
        break;
    case EVS_STATE_GROUP_PROGRESS:
        add(x.key, &x.key_len, "GS/billing\0c", 12);
        add_be(x.value, &x.value_len, 1001, 8);
        add_be(x.value, &x.value_len, 2, 8);
        break;
    case EVS_STATE_GROUP_EVENT:
        add(x.key, &x.key_len, "GS/billing\0e", 12);
        add_be(x.key, &x.key_len, 1003, 8);
        add(x.value, &x.value_len, "a", 1);
        add_be(x.value, &x.value_len, 2, 4);
        add(x.value, &x.value_len, "Order-9", 7);
        break;
    case EVS_STATE_GROUP_PARKED:
        add(x.key, &x.key_len, "GS/billing\0p", 12);
        add_be(x.key, &x.key_len, 1002, 8);
        add_be(x.value, &x.value_len, 5, 4);
        add_be(x.value, &x.value_len, 1765000000000002ULL, 8);
        x.value[x.value_len++] = 1; /* nacked */
        add(x.value, &x.value_len, "Order-8", 7);
        break;
    case EVS_STATE_BARRIER:
        break;
    }
    return x;
}

static void test_round_trip_every_kind(void **state)
{
    (void)state;
    for (int k = EVS_STATE_CHECKPOINT; k <= EVS_STATE_GROUP_PARKED; k++) {
        pair x = sample((evs_state_kind)k);
        evs_buf rec = {0}, back = {0};
        char err[256];
        evs_state_kind kind = EVS_STATE_BARRIER;
        assert_int_equal(evs_state_encode(x.key, x.key_len, x.value, x.value_len, &rec), 0);
        assert_int_equal(evs_state_decode(x.key, x.key_len, rec.data, rec.len, &kind, &back, err,
                                          sizeof err),
                         0);
        assert_int_equal(kind, k);
        assert_int_equal(back.len, x.value_len);
        assert_memory_equal(back.data, x.value, x.value_len);
        const char *name;
        size_t name_len;
        assert_int_equal(evs_state_key_kind(x.key, x.key_len, &name, &name_len), k);
        assert_true(name_len == 7 || name_len == 11);
        evs_buf_free(&rec);
        evs_buf_free(&back);
    }
}

static void test_barrier(void **state)
{
    (void)state;
    char key[EVS_STATE_KEY_MAX];
    evs_buf rec = {0}, back = {0};
    char err[256];
    evs_state_kind kind = EVS_STATE_CHECKPOINT;
    int n = evs_state_barrier_encode("host:18080", 77, key, &rec);
    assert_int_equal(n, 12);
    assert_memory_equal(key, "B/host:18080", 12);
    assert_int_equal(evs_state_decode(key, (size_t)n, rec.data, rec.len, &kind, &back, err,
                                      sizeof err),
                     0);
    assert_int_equal(kind, EVS_STATE_BARRIER);
    assert_int_equal(back.len, 0);
    assert_int_equal(evs_state_barrier_encode("bad id!", 1, key, &rec), -1);
    evs_buf_free(&rec);
    evs_buf_free(&back);
}

static void test_decode_refuses_another_key(void **state)
{
    (void)state;
    pair x = sample(EVS_STATE_GROUP_EVENT), y = sample(EVS_STATE_GROUP_PARKED);
    evs_buf rec = {0}, back = {0};
    char err[256] = "";
    evs_state_kind kind;
    assert_int_equal(evs_state_encode(x.key, x.key_len, x.value, x.value_len, &rec), 0);
    /* The parked key of another position, and the same key one byte shorter. */
    assert_int_equal(evs_state_decode(y.key, y.key_len, rec.data, rec.len, &kind, &back, err,
                                      sizeof err),
                     -1);
    assert_non_null(strstr(err, "key"));
    assert_int_equal(evs_state_decode(x.key, x.key_len - 1, rec.data, rec.len, &kind, &back,
                                      err, sizeof err),
                     -1);
    evs_buf_free(&rec);
    evs_buf_free(&back);
}

static void test_decode_refuses_truncation_and_garbage(void **state)
{
    (void)state;
    pair x = sample(EVS_STATE_SNAPSHOT);
    evs_buf rec = {0}, back = {0};
    char err[256];
    evs_state_kind kind;
    assert_int_equal(evs_state_encode(x.key, x.key_len, x.value, x.value_len, &rec), 0);
    for (size_t n = 0; n < rec.len; n++)
        assert_int_equal(evs_state_decode(x.key, x.key_len, rec.data, n, &kind, &back, err,
                                          sizeof err),
                         -1);
    uint8_t *longer = malloc(rec.len + 1);
    memcpy(longer, rec.data, rec.len);
    longer[rec.len] = 0;
    assert_int_equal(evs_state_decode(x.key, x.key_len, longer, rec.len + 1, &kind, &back, err,
                                      sizeof err),
                     -1);
    longer[3] ^= 1; /* another fingerprint */
    assert_int_equal(evs_state_decode(x.key, x.key_len, longer, rec.len, &kind, &back, err,
                                      sizeof err),
                     -1);
    assert_non_null(strstr(err, "fingerprint"));
    free(longer);
    evs_buf_free(&rec);
    evs_buf_free(&back);
}

static void test_encode_refuses_bad_pairs(void **state)
{
    (void)state;
    evs_buf rec = {0};
    pair x = sample(EVS_STATE_CHECKPOINT);
    /* A checkpoint value of the wrong size; a key of no kind; a name that is not one. */
    assert_int_equal(evs_state_encode(x.key, x.key_len, x.value, 15, &rec), -1);
    assert_int_equal(evs_state_encode("T/x", 3, x.value, x.value_len, &rec), -1);
    assert_int_equal(evs_state_encode("C/$bad", 6, x.value, x.value_len, &rec), -1);
    /* A group event whose flag is neither acked nor waiting, a parked reason past the last. */
    pair e = sample(EVS_STATE_GROUP_EVENT);
    e.value[0] = 'x';
    assert_int_equal(evs_state_encode(e.key, e.key_len, e.value, e.value_len, &rec), -1);
    pair p = sample(EVS_STATE_GROUP_PARKED);
    p.value[12] = 6;
    assert_int_equal(evs_state_encode(p.key, p.key_len, p.value, p.value_len, &rec), -1);
    /* A snapshot at version 0; a group event at position 0. */
    pair s = sample(EVS_STATE_SNAPSHOT);
    memset(s.key + s.key_len - 8, 0, 8);
    assert_int_equal(evs_state_encode(s.key, s.key_len, s.value, s.value_len, &rec), -1);
    e = sample(EVS_STATE_GROUP_EVENT);
    memset(e.key + e.key_len - 8, 0, 8);
    assert_int_equal(evs_state_encode(e.key, e.key_len, e.value, e.value_len, &rec), -1);
    evs_buf_free(&rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_kind),
        cmocka_unit_test(test_barrier),
        cmocka_unit_test(test_decode_refuses_another_key),
        cmocka_unit_test(test_decode_refuses_truncation_and_garbage),
        cmocka_unit_test(test_encode_refuses_bad_pairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
