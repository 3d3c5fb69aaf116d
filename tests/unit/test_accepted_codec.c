/*
 * test_accepted_codec.c - the accepted-events feed's Avro envelope (schemas/accepted_codec.c):
 * a round trip keeps every field (optional ids present and absent, empty metadata, bytes
 * with NULs); the decoder refuses every truncation, trailing bytes and another schema.
 */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "accepted_codec.h"

static evs_accepted_event sample(void)
{
    static const uint8_t data[] = {'{', '}', 0, 0xFF};
    evs_accepted_event e = {.stream = "Order-42",
                            .version = 3,
                            .position = 1001,
                            .partition = 2,
                            .type = "OrderPaid",
                            .event_id = "5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6",
                            .content_type = "application/octet-stream",
                            .data = data,
                            .data_len = sizeof data,
                            .metadata = "{\"by\":\"x\"}",
                            .metadata_len = 10,
                            .correlation_id = "corr-1",
                            .causation_id = NULL,
                            .created_us = 1765000000123456LL};
    return e;
}

static void test_round_trip(void **state)
{
    (void)state;
    evs_accepted_event e = sample(), d;
    evs_buf buf = {0};
    char err[256];
    void *storage;
    assert_int_equal(evs_accepted_encode(&e, &buf), 0);
    assert_int_equal(evs_accepted_decode(buf.data, buf.len, &d, &storage, err, sizeof err), 0);
    assert_string_equal(d.stream, e.stream);
    assert_true(d.version == 3 && d.position == 1001 && d.partition == 2);
    assert_string_equal(d.type, e.type);
    assert_string_equal(d.event_id, e.event_id);
    assert_string_equal(d.content_type, e.content_type);
    assert_int_equal(d.data_len, e.data_len);
    assert_memory_equal(d.data, e.data, e.data_len);
    assert_int_equal(d.metadata_len, 10);
    assert_memory_equal(d.metadata, e.metadata, 10);
    assert_string_equal(d.correlation_id, "corr-1");
    assert_null(d.causation_id);
    assert_true(d.created_us == e.created_us);
    free(storage);

    /* No metadata, both ids. */
    e.metadata = NULL;
    e.metadata_len = 0;
    e.causation_id = "cause-9";
    assert_int_equal(evs_accepted_encode(&e, &buf), 0);
    assert_int_equal(evs_accepted_decode(buf.data, buf.len, &d, &storage, err, sizeof err), 0);
    assert_int_equal(d.metadata_len, 0);
    assert_string_equal(d.causation_id, "cause-9");
    free(storage);
    evs_buf_free(&buf);
}

static void test_decoder_refuses(void **state)
{
    (void)state;
    evs_accepted_event e = sample(), d;
    evs_buf buf = {0};
    char err[256];
    void *storage;
    assert_int_equal(evs_accepted_encode(&e, &buf), 0);
    for (size_t n = 0; n < buf.len; n++) {
        assert_int_equal(evs_accepted_decode(buf.data, n, &d, &storage, err, sizeof err), -1);
        assert_null(storage);
    }
    uint8_t *longer = malloc(buf.len + 1);
    memcpy(longer, buf.data, buf.len);
    longer[buf.len] = 0;
    assert_int_equal(evs_accepted_decode(longer, buf.len + 1, &d, &storage, err, sizeof err), -1);
    longer[5] ^= 0x10;
    assert_int_equal(evs_accepted_decode(longer, buf.len, &d, &storage, err, sizeof err), -1);
    free(longer);
    /* A version of 0 is not an accepted event's. */
    e.version = 0;
    assert_int_equal(evs_accepted_encode(&e, &buf), 0);
    assert_int_equal(evs_accepted_decode(buf.data, buf.len, &d, &storage, err, sizeof err), -1);
    evs_buf_free(&buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_decoder_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
