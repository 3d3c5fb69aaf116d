/*
 * test_member_codec.c - members topic records (schemas/member_codec.c): a round trip keeps
 * every field; the encoder refuses what breaks the format's rules; the decoder refuses
 * another schema, a bad header, every truncation and trailing bytes, and leaves nothing
 * allocated when it does.
 */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "member_codec.h"

static int32_t served[] = {0, 2, 5};
static int64_t applied[] = {120, 0, 7};
static int32_t coordinated[] = {1, 4};

static evs_member sample(void)
{
    evs_member m;
    memset(&m, 0, sizeof m);
    strcpy(m.id, "p1.host-a:18080");
    strcpy(m.url, "http://10.0.0.7:18080");
    strcpy(m.topic, "evstore.events");
    m.partition_count = 6;
    m.served_count = 3;
    m.served = served;
    m.applied = applied;
    m.lease_ms = 6000;
    m.state = EVS_MEMBER_RUNNING;
    m.started_us = 1765000000000000LL;
    m.heartbeat_us = 1765000001234567LL;
    m.coordinated_count = 2;
    m.coordinated = coordinated;
    return m;
}

static void test_round_trip(void **state)
{
    evs_member m = sample(), d;
    evs_buf buf = {0};
    char err[256];
    assert_int_equal(evs_member_encode(&m, &buf), 0);
    assert_int_equal(buf.data[0], 0xC3);
    assert_int_equal(buf.data[1], 0x01);
    assert_int_equal(evs_member_decode(buf.data, buf.len, &d, err, sizeof err), 0);
    assert_string_equal(d.id, m.id);
    assert_string_equal(d.url, m.url);
    assert_string_equal(d.topic, m.topic);
    assert_int_equal(d.partition_count, 6);
    assert_int_equal(d.served_count, 3);
    assert_memory_equal(d.served, served, sizeof served);
    assert_memory_equal(d.applied, applied, sizeof applied);
    assert_int_equal(d.lease_ms, 6000);
    assert_int_equal(d.state, EVS_MEMBER_RUNNING);
    assert_true(d.started_us == m.started_us && d.heartbeat_us == m.heartbeat_us);
    assert_int_equal(d.coordinated_count, 2);
    assert_memory_equal(d.coordinated, coordinated, sizeof coordinated);
    evs_member_clear(&d);

    /* A member that serves nothing yet (and a stopped one) round-trips too. */
    m.served_count = 0;
    m.state = EVS_MEMBER_STOPPED;
    assert_int_equal(evs_member_encode(&m, &buf), 0);
    assert_int_equal(evs_member_decode(buf.data, buf.len, &d, err, sizeof err), 0);
    assert_int_equal(d.served_count, 0);
    assert_int_equal(d.state, EVS_MEMBER_STOPPED);
    evs_member_clear(&d);
    evs_buf_free(&buf);
}

static void test_encoder_refuses(void **state)
{
    evs_buf buf = {0};
    evs_member m = sample();
    int32_t unordered[] = {2, 0, 5};
    m.served = unordered;
    assert_int_equal(evs_member_encode(&m, &buf), -1);
    m = sample();
    int32_t twice[] = {4, 4};
    m.coordinated = twice;
    assert_int_equal(evs_member_encode(&m, &buf), -1);
    m = sample();
    int32_t outside[] = {0, 2, 6};
    m.served = outside;
    assert_int_equal(evs_member_encode(&m, &buf), -1);
    m = sample();
    strcpy(m.id, "bad id");
    assert_int_equal(evs_member_encode(&m, &buf), -1);
    m = sample();
    m.id[0] = 0;
    assert_int_equal(evs_member_encode(&m, &buf), -1);
    m = sample();
    strcpy(m.url, "http://a b");
    assert_int_equal(evs_member_encode(&m, &buf), -1);
    m = sample();
    m.lease_ms = 0;
    assert_int_equal(evs_member_encode(&m, &buf), -1);
    evs_buf_free(&buf);
}

static void test_decoder_refuses(void **state)
{
    evs_member m = sample(), d;
    evs_buf buf = {0};
    char err[256];
    assert_int_equal(evs_member_encode(&m, &buf), 0);
    /* Every truncation. */
    for (size_t n = 0; n < buf.len; n++) {
        assert_int_equal(evs_member_decode(buf.data, n, &d, err, sizeof err), -1);
        assert_null(d.served);
    }
    /* Trailing bytes. */
    uint8_t *longer = malloc(buf.len + 1);
    memcpy(longer, buf.data, buf.len);
    longer[buf.len] = 0;
    assert_int_equal(evs_member_decode(longer, buf.len + 1, &d, err, sizeof err), -1);
    free(longer);
    /* Another schema's fingerprint. */
    buf.data[5] ^= 0xff;
    assert_int_equal(evs_member_decode(buf.data, buf.len, &d, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown writer schema"));
    buf.data[5] ^= 0xff;
    buf.data[0] = 0;
    assert_int_equal(evs_member_decode(buf.data, buf.len, &d, err, sizeof err), -1);
    assert_non_null(strstr(err, "single-object"));
    evs_buf_free(&buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_encoder_refuses),
        cmocka_unit_test(test_decoder_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
