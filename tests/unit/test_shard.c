/*
 * test_shard.c - the --serve-partitions list (evs_partition_set_parse in
 * projector/judge/projector.c): numbers and ranges, the default of every partition, and
 * refusals of what is malformed, empty or outside the topic.
 */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "judge/projector.h"

static void expect_set(const char *spec, int32_t count, const char *want)
{
    int out[16];
    char err[256] = "";
    assert_int_equal(evs_partition_set_parse(spec, count, out, err, sizeof err), 0);
    char got[17] = "";
    for (int32_t i = 0; i < count; i++)
        got[i] = out[i] ? '1' : '0';
    assert_string_equal(got, want);
}

static void expect_refused(const char *spec, int32_t count, const char *in_message)
{
    int out[16];
    char err[256] = "";
    assert_int_equal(evs_partition_set_parse(spec, count, out, err, sizeof err), -1);
    assert_non_null(strstr(err, in_message));
}

static void test_lists(void **state)
{
    expect_set(NULL, 3, "111");
    expect_set("", 3, "111");
    expect_set("1", 3, "010");
    expect_set("0,2-3", 5, "10110");
    expect_set("3-3,0", 4, "1001");
    expect_set("0-4,2", 5, "11111");
}

static void test_refusals(void **state)
{
    expect_refused("5", 2, "names partition 5, but the topic has 2 partitions");
    expect_refused("0-2", 2, "names partition 2");
    expect_refused("x", 2, "expected partition numbers and ranges");
    expect_refused("-1", 2, "expected partition numbers");
    expect_refused("1-0", 2, "expected partition numbers");
    expect_refused("0,,1", 2, "expected partition numbers");
    expect_refused("0,", 2, "expected partition numbers");
    expect_refused("1-", 2, "expected partition numbers");
    expect_refused("0;1", 2, "expected partition numbers");
    expect_refused("99999999999999999999", 2, "expected partition numbers");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
