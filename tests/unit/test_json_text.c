/*
 * test_json_text.c - byte-exact JSON text handling (schemas/json_text.c): validity with
 * integers beyond 64 bits, compaction that keeps numbers and strings as written, member
 * spans, array element iteration (what POST /streams/{stream} walks), and JSON content
 * types.
 */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "json_text.h"

static void test_valid(void **state)
{
    char err[200];
    const char *big = "{\"n\": 123456789012345678901234567890, \"s\": \"a\\u0000b\"}";
    assert_int_equal(evs_json_text_valid(big, strlen(big), err, sizeof err), 1);
    assert_int_equal(evs_json_text_valid("1.10", 4, NULL, 0), 1);
    assert_int_equal(evs_json_text_valid("null", 4, NULL, 0), 1);
    assert_int_equal(evs_json_text_valid("", 0, err, sizeof err), 0);
    assert_int_equal(evs_json_text_valid("{\"a\":}", 6, err, sizeof err), 0);
    assert_non_null(strstr(err, "column"));
    assert_int_equal(evs_json_text_valid("1e999", 5, NULL, 0), 0); /* no double holds it */
}

static void check_compact(const char *in, const char *want)
{
    char out[256];
    size_t n = evs_json_text_compact(in, strlen(in), out);
    assert_true(n <= strlen(in));
    out[n] = 0;
    assert_string_equal(out, want);
}

static void test_compact(void **state)
{
    check_compact(" { \"a\" : 1.10 ,\n\t\"b\" : [ 1 , 2.50e-3 ] } ",
                  "{\"a\":1.10,\"b\":[1,2.50e-3]}");
    check_compact("\"  spaces \\\" kept  \"", "\"  spaces \\\" kept  \"");
    check_compact("{\"k\\\\\": \"v\\\\\" , \"z\":-0.0}", "{\"k\\\\\":\"v\\\\\",\"z\":-0.0}");
    check_compact("123456789012345678901234567890", "123456789012345678901234567890");
    check_compact("", "");
}

static void test_member(void **state)
{
    const char *t = "{\"events\" : [ {\"data\": {\"x\": 1}} ], \"expected\" : 12 , "
                    "\"\\u0061\": \"escaped key\", \"s\": \"}]\"}";
    size_t start, span;
    assert_int_equal(evs_json_text_member(t, strlen(t), "expected", &start, &span), 1);
    assert_int_equal(span, 2);
    assert_memory_equal(t + start, "12", 2);
    assert_int_equal(evs_json_text_member(t, strlen(t), "events", &start, &span), 1);
    assert_memory_equal(t + start, "[ {\"data\": {\"x\": 1}} ]", span);
    assert_int_equal(evs_json_text_member(t, strlen(t), "a", &start, &span), 1);
    assert_memory_equal(t + start, "\"escaped key\"", span);
    assert_int_equal(evs_json_text_member(t, strlen(t), "s", &start, &span), 1);
    assert_memory_equal(t + start, "\"}]\"", span);
    assert_int_equal(evs_json_text_member(t, strlen(t), "data", &start, &span), 0); /* nested */
    assert_int_equal(evs_json_text_member("[1]", 3, "a", &start, &span), 0);
}

static void test_elements(void **state)
{
    const char *t = " [ {\"a\": [1, 2]} , \"x,]\" ,3.10,null , [ ] ] ";
    const char *want[] = {"{\"a\": [1, 2]}", "\"x,]\"", "3.10", "null", "[ ]"};
    size_t cursor = 0, start, span, count = 0;
    while (evs_json_text_element(t, strlen(t), &cursor, &start, &span)) {
        assert_true(count < 5);
        assert_int_equal(span, strlen(want[count]));
        assert_memory_equal(t + start, want[count], span);
        count++;
    }
    assert_int_equal(count, 5);
    cursor = 0;
    assert_int_equal(evs_json_text_element("[ ]", 3, &cursor, &start, &span), 0);
    cursor = 0;
    assert_int_equal(evs_json_text_element("{}", 2, &cursor, &start, &span), 0);
    cursor = 0;
    assert_int_equal(evs_json_text_element("", 0, &cursor, &start, &span), 0);
}

static void test_content_types(void **state)
{
    assert_int_equal(evs_json_text_content_type_is_json(NULL), 1);
    assert_int_equal(evs_json_text_content_type_is_json("application/json"), 1);
    assert_int_equal(evs_json_text_content_type_is_json("Application/JSON; charset=utf-8"), 1);
    assert_int_equal(evs_json_text_content_type_is_json("application/vnd.order+json"), 1);
    assert_int_equal(evs_json_text_content_type_is_json("application/octet-stream"), 0);
    assert_int_equal(evs_json_text_content_type_is_json("text/plain"), 0);
    assert_int_equal(evs_json_text_content_type_is_json("application/jsonx"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),         cmocka_unit_test(test_compact),
        cmocka_unit_test(test_member),        cmocka_unit_test(test_elements),
        cmocka_unit_test(test_content_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
