/*
 * test_partitioner.c - schemas/partitioner.c against librdkafka's own murmur2 partitioner
 * (the one libevstore's producer is pinned to) and against hash values of Kafka's
 * Java client, over keys of every length mod 4 and partition counts 1..64.
 */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "partitioner.h"

/* murmur2 values of Kafka's Java client (signed, as Java prints them). */
static void test_known_hashes(void **state)
{
    static const struct {
        const char *key;
        int32_t hash;
    } known[] = {
        {"21", -973932308},
        {"foobar", -790332482},
        {"a-little-bit-long-string", -985981536},
        {"a-little-bit-longer-string", -1486304829},
        {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
        {"abc", 479470107},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        assert_int_equal((int32_t)evs_murmur2(known[i].key, strlen(known[i].key)), known[i].hash);
}

static void test_matches_librdkafka(void **state)
{
    char key[64];
    for (int i = 0; i < 5000; i++) {
        /* Stream-like names of lengths 1..40, so every tail length occurs. */
        int n = snprintf(key, sizeof key, "order-%d", i * 7919);
        n = 1 + (i % 40) < n ? 1 + (i % 40) : n;
        for (int32_t parts = 1; parts <= 64; parts += (parts < 8 ? 1 : 7)) {
            int32_t want = rd_kafka_msg_partitioner_murmur2(NULL, key, (size_t)n, parts, NULL, NULL);
            assert_int_equal(evs_stream_partition(key, (size_t)n, parts), want);
        }
    }
}

static void test_range(void **state)
{
    assert_int_equal(evs_stream_partition("x", 1, 1), 0);
    for (int i = 0; i < 1000; i++) {
        char key[32];
        int n = snprintf(key, sizeof key, "s-%d", i);
        int32_t part = evs_stream_partition(key, (size_t)n, 3);
        assert_true(part >= 0 && part < 3);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_hashes),
        cmocka_unit_test(test_matches_librdkafka),
        cmocka_unit_test(test_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
