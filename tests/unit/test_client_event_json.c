/*
 * test_client_event_json.c - libevstore's pure modules: the mapping of the projector's
 * verdict and read answers (event_json.c), the base64 decoder (base64_decode.c) and the
 * error strings and thread-local last error (errors.c). No broker, no projector.
 */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "base64_decode.h"
#include "errors.h"
#include "event_json.h"
#include "evstore.h"

#define ID "5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6"

static int verdict(long status, const char *body, const char *expected, evs_append_result *r)
{
    memset(r, 0, sizeof *r);
    r->partition = -1;
    r->offset = -1;
    memcpy(r->append_id, ID, sizeof ID);
    return evs__verdict_from_http(status, body, strlen(body), expected, r);
}

static void test_verdict_accepted(void **state)
{
    evs_append_result r;
    int rc = verdict(200,
                     "{\"append_id\":\"" ID "\",\"status\":\"accepted\",\"stream\":\"Order-42\","
                     "\"partition\":0,\"offset\":119,\"first_version\":6,\"last_version\":7,"
                     "\"first_position\":309,\"last_position\":310,\"current_version\":7,"
                     "\"event_count\":2,\"reason\":\"\"}",
                     NULL, &r);
    assert_int_equal(rc, 0);
    assert_int_equal(r.duplicate, 0);
    assert_int_equal(r.first_version, 6);
    assert_int_equal(r.last_version, 7);
    assert_int_equal(r.first_position, 309);
    assert_int_equal(r.last_position, 310);
    assert_int_equal(r.partition, 0);
    assert_int_equal(r.offset, 119);
    assert_string_equal(r.stream, "Order-42");
    assert_string_equal(r.append_id, ID);
}

static void test_verdict_duplicate(void **state)
{
    evs_append_result r;
    int rc = verdict(200,
                     "{\"append_id\":\"" ID "\",\"status\":\"duplicate\",\"stream\":\"S-1\","
                     "\"first_version\":1,\"last_version\":1,\"first_position\":4,"
                     "\"last_position\":4}",
                     NULL, &r);
    assert_int_equal(rc, 0);
    assert_int_equal(r.duplicate, 1);
    assert_int_equal(r.first_position, 4);
}

static void test_verdict_wrong_version_message(void **state)
{
    evs_append_result r;
    const char *body = "{\"append_id\":\"" ID "\",\"status\":\"wrong_expected_version\","
                       "\"stream\":\"Order-7\",\"current_version\":5,\"expected\":\"3\"}";
    assert_int_equal(verdict(200, body, "3", &r), EVS_EWRONG_VERSION);
    assert_int_equal(r.current_version, 5);
    assert_string_equal(evs_last_error(),
                        "wrong expected version for stream Order-7: expected 3, stream is at 5");
    /* Without the caller's expectation the verdict's own is used (string or number). */
    assert_int_equal(verdict(200, body, NULL, &r), EVS_EWRONG_VERSION);
    assert_non_null(strstr(evs_last_error(), "expected 3, stream is at 5"));
    body = "{\"status\":\"wrong_expected_version\",\"stream\":\"Order-7\",\"current_version\":0,"
           "\"expected\":\"stream_exists\"}";
    assert_int_equal(verdict(200, body, NULL, &r), EVS_EWRONG_VERSION);
    assert_non_null(strstr(evs_last_error(), "expected stream_exists, stream is at 0"));
}

static void test_verdict_rejections(void **state)
{
    evs_append_result r;
    assert_int_equal(
        verdict(200, "{\"status\":\"idempotency_conflict\",\"stream\":\"A-1\"}", NULL, &r),
        EVS_EIDEMPOTENCY);
    assert_non_null(strstr(evs_last_error(), "A-1"));
    assert_int_equal(verdict(200,
                             "{\"status\":\"invalid\",\"stream\":\"A-1\",\"reason\":"
                             "\"event 2: type is empty\"}",
                             NULL, &r),
                     EVS_EREJECTED);
    assert_non_null(strstr(evs_last_error(), "event 2: type is empty"));
}

static void test_verdict_http_statuses(void **state)
{
    evs_append_result r;
    assert_int_equal(verdict(404, "{\"error\":\"no append with id " ID "\"}", NULL, &r),
                     EVS_ENOT_FOUND);
    assert_non_null(strstr(evs_last_error(), ID));
    assert_int_equal(verdict(422,
                             "{\"error\":\"record at partition 0 offset 3 was skipped: "
                             "bad magic\"}",
                             NULL, &r),
                     EVS_EREJECTED);
    assert_non_null(strstr(evs_last_error(), "bad magic"));
    assert_int_equal(verdict(504,
                             "{\"error\":\"projector has not applied partition 0 offset 9 "
                             "within 10 ms\",\"next_offset\":4}",
                             NULL, &r),
                     EVS_ETIMEOUT);
    assert_int_equal(verdict(400, "{\"error\":\"bad id\"}", NULL, &r), EVS_EINVAL);
    assert_int_equal(verdict(503, "{\"error\":\"refusing\"}", NULL, &r), EVS_EUNAVAILABLE);
    assert_int_equal(verdict(302, "", NULL, &r), EVS_EPROTOCOL);
}

static void test_verdict_malformed(void **state)
{
    evs_append_result r;
    assert_int_equal(verdict(200, "not json", NULL, &r), EVS_EPROTOCOL);
    assert_int_equal(verdict(200, "[1,2]", NULL, &r), EVS_EPROTOCOL);
    assert_int_equal(verdict(200, "{\"stream\":\"x\"}", NULL, &r), EVS_EPROTOCOL);
    assert_int_equal(verdict(200, "{\"status\":\"maybe\"}", NULL, &r), EVS_EPROTOCOL);
    assert_non_null(strstr(evs_last_error(), "maybe"));
}

static void test_expected_format(void **state)
{
    char text[32];
    evs__expected_format((evs_expected){EVS_EXPECT_ANY, 0}, text);
    assert_string_equal(text, "any");
    evs__expected_format((evs_expected){EVS_EXPECT_NO_STREAM, 0}, text);
    assert_string_equal(text, "no_stream");
    evs__expected_format((evs_expected){EVS_EXPECT_STREAM_EXISTS, 0}, text);
    assert_string_equal(text, "stream_exists");
    evs__expected_format((evs_expected){EVS_EXPECT_EXACT, 18446744073709551615ull}, text);
    assert_string_equal(text, "18446744073709551615");
}

/* "AAEC/w==" is 00 01 02 ff; "aGk=" is "hi". */
static const char *const list_body =
    "{\"stream\":\"Order-42\",\"current_version\":7,\"next\":8,\"end_of_stream\":true,"
    "\"events\":["
    "{\"event_id\":\"" ID "\",\"stream\":\"Order-42\",\"type\":\"OrderPlaced\",\"version\":3,"
    "\"position\":17,\"partition\":0,\"created\":\"2026-11-28T10:00:00.123456Z\","
    "\"created_us\":1795860000123456,\"content_type\":\"application/octet-stream\","
    "\"data\":\"AAEC/w==\",\"metadata\":\"\",\"correlation_id\":null,\"causation_id\":\"c-1\"},"
    "{\"event_id\":\"" ID "\",\"stream\":\"Order-42\",\"type\":\"OrderPaid\",\"version\":4,"
    "\"position\":18,\"partition\":2,\"created_us\":1,\"content_type\":\"application/json\","
    "\"data\":\"\",\"metadata\":\"aGk=\"}"
    "]}";

static void test_event_list(void **state)
{
    evs_event_list *list = NULL;
    assert_int_equal(evs__event_list_from_json(list_body, strlen(list_body), &list), 0);
    assert_non_null(list);
    assert_int_equal(list->count, 2);
    assert_int_equal(list->next, 8);
    assert_int_equal(list->end_of_stream, 1);

    evs_event *e = &list->events[0];
    assert_string_equal(e->event_id, ID);
    assert_string_equal(e->stream, "Order-42");
    assert_string_equal(e->type, "OrderPlaced");
    assert_int_equal(e->version, 3);
    assert_int_equal(e->position, 17);
    assert_int_equal(e->partition, 0);
    assert_int_equal(e->created_us, 1795860000123456);
    assert_string_equal(e->content_type, "application/octet-stream");
    assert_int_equal(e->data_len, 4);
    assert_memory_equal(e->data, "\x00\x01\x02\xff", 4);
    assert_null(e->metadata);
    assert_int_equal(e->metadata_len, 0);
    assert_null(e->correlation_id);
    assert_string_equal(e->causation_id, "c-1");

    e = &list->events[1];
    assert_int_equal(e->partition, 2);
    assert_int_equal(e->data_len, 0);
    assert_non_null(e->data);
    assert_int_equal(e->metadata_len, 2);
    assert_memory_equal(e->metadata, "hi", 2);
    evs_event_list_free(list);
}

static void test_event_list_all_form_and_empty(void **state)
{
    const char *body = "{\"partition\":0,\"events\":[],\"next\":311,\"end\":true}";
    evs_event_list *list = NULL;
    assert_int_equal(evs__event_list_from_json(body, strlen(body), &list), 0);
    assert_int_equal(list->count, 0);
    assert_null(list->events);
    assert_int_equal(list->next, 311);
    assert_int_equal(list->end_of_stream, 1);
    evs_event_list_free(list);
}

static void test_event_list_malformed(void **state)
{
    evs_event_list *list = (evs_event_list *)1;
    const char *bad[] = {
        "nope",
        "{\"next\":1}",
        "{\"events\":[{\"event_id\":\"short\"}]}",
        /* data not base64 (the client always asks for encoding=base64) */
        "{\"events\":[{\"event_id\":\"" ID "\",\"stream\":\"a\",\"type\":\"t\","
        "\"content_type\":\"x\",\"data\":\"{not base64}\",\"version\":1,\"position\":1,"
        "\"partition\":0,\"created_us\":1}]}",
        /* embedded JSON instead of a base64 string */
        "{\"events\":[{\"event_id\":\"" ID "\",\"stream\":\"a\",\"type\":\"t\","
        "\"content_type\":\"x\",\"data\":{\"a\":1},\"version\":1,\"position\":1,"
        "\"partition\":0,\"created_us\":1}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(evs__event_list_from_json(bad[i], strlen(bad[i]), &list), EVS_EPROTOCOL);
        assert_null(list);
        assert_true(strlen(evs_last_error()) > 0);
    }
}

static void test_http_error(void **state)
{
    const char *body = "{\"error\":\"stream Order-9 does not exist\"}";
    assert_int_equal(evs__http_error(404, body, strlen(body), "stream Order-9"), EVS_ENOT_FOUND);
    assert_non_null(strstr(evs_last_error(), "does not exist"));
    assert_int_equal(evs__http_error(400, "x", 1, "w"), EVS_EINVAL);
    assert_int_equal(evs__http_error(500, "", 0, "w"), EVS_EUNAVAILABLE);
    assert_int_equal(evs__http_error(418, "", 0, "w"), EVS_EPROTOCOL);
}

static int decode(const char *text, uint8_t *out, size_t *len)
{
    return evs__base64_decode(text, strlen(text), out, len);
}

static void test_base64(void **state)
{
    uint8_t out[64];
    size_t len = 99;
    assert_int_equal(decode("", out, &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(decode("Zg==", out, &len), 0);
    assert_int_equal(len, 1);
    assert_memory_equal(out, "f", 1);
    assert_int_equal(decode("Zm8=", out, &len), 0);
    assert_memory_equal(out, "fo", 2);
    assert_int_equal(len, 2);
    assert_int_equal(decode("Zm9v", out, &len), 0);
    assert_int_equal(len, 3);
    assert_int_equal(decode("Zm9vYmFy", out, &len), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(out, "foobar", 6);
    assert_int_equal(decode("Zm9vYg", out, &len), 0); /* unpadded */
    assert_memory_equal(out, "foob", 4);
    assert_int_equal(decode("+/+/", out, &len), 0);
    assert_memory_equal(out, "\xfb\xff\xbf", 3);
    assert_int_equal(evs__base64_decoded_max(8), 6);

    uint8_t all[256];
    /* every byte value: the encoding of 00..ff, produced independently (Python base64) */
    const char *every =
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0"
        "BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+A"
        "gYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wM"
        "HCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==";
    uint8_t big[256];
    assert_int_equal(evs__base64_decode(every, strlen(every), big, &len), 0);
    assert_int_equal(len, 256);
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    assert_memory_equal(big, all, 256);
}

static void test_base64_rejects(void **state)
{
    uint8_t out[64];
    size_t len;
    const char *bad[] = {"Z",      "Zm9vY", "Zg=",      "Zg===", "Z===", "=",
                         "Zm9v\n", "Zm 9",  "Zg==Zg==", "Zm9v*", "Z=g="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(decode(bad[i], out, &len), -1);
}

static void test_strerror_every_code(void **state)
{
    for (int code = EVS_OK; code >= EVS_EINTERNAL; code--) {
        const char *text = evs_strerror(code);
        assert_non_null(text);
        assert_string_not_equal(text, "unknown error code");
        for (int other = code - 1; other >= EVS_EINTERNAL; other--)
            assert_string_not_equal(text, evs_strerror(other));
    }
    assert_string_equal(evs_strerror(-999), "unknown error code");
    assert_string_equal(evs_version(), EVS_VERSION_STRING);
}

static void *set_error_in_thread(void *arg)
{
    evs__set_error(EVS_EINVAL, "thread message %d", 2);
    assert_string_equal(evs_last_error(), "thread message 2");
    return NULL;
}

static void test_last_error_is_thread_local(void **state)
{
    pthread_t t;
    assert_int_equal(evs__set_error(EVS_ETIMEOUT, "main %s", "message"), EVS_ETIMEOUT);
    assert_int_equal(pthread_create(&t, NULL, set_error_in_thread, NULL), 0);
    pthread_join(t, NULL);
    assert_string_equal(evs_last_error(), "main message");
    evs__clear_error();
    assert_string_equal(evs_last_error(), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdict_accepted),
        cmocka_unit_test(test_verdict_duplicate),
        cmocka_unit_test(test_verdict_wrong_version_message),
        cmocka_unit_test(test_verdict_rejections),
        cmocka_unit_test(test_verdict_http_statuses),
        cmocka_unit_test(test_verdict_malformed),
        cmocka_unit_test(test_expected_format),
        cmocka_unit_test(test_event_list),
        cmocka_unit_test(test_event_list_all_form_and_empty),
        cmocka_unit_test(test_event_list_malformed),
        cmocka_unit_test(test_http_error),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_base64_rejects),
        cmocka_unit_test(test_strerror_every_code),
        cmocka_unit_test(test_last_error_is_thread_local),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
