/*
 * test_cli_json.c - the CLI's JSON handling: NDJSON lines of `append --file`
 * (cli_ndjson.c), byte-exact compaction and member spans, base64 encoding, time format
 * (cli_json.c), the output lines of read, append and verdict (cli_output.c), and the
 * lines of export and import (evs_cli_format_export_event, evs_cli_export_line_parse).
 */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "cli_json.h"
#include "cli_ndjson.h"
#include "cli_output.h"

#define ID "5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6"

static int parse_line(const char *line, evs_cli_event *event, char *err, size_t err_len)
{
    return evs_cli_ndjson_parse(line, strlen(line), event, err, err_len);
}

static void test_ndjson_full_line(void **state)
{
    evs_cli_event e;
    char err[256];
    const char *line = "{\"type\": \"OrderPlaced\", \"data\": {\"total\": 1.10, \"big\": "
                       "123456789012345678901234567890, \"s\": \"a  b\\n\\\"c\"},"
                       " \"metadata\": {\"user\" : \"ann\"}, \"event_id\": \"" ID "\","
                       " \"correlation_id\": \"corr-1\", \"version\": 3}";
    assert_int_equal(parse_line(line, &e, err, sizeof err), 0);
    assert_string_equal(e.type, "OrderPlaced");
    /* numbers and strings exactly as written; only whitespace between tokens removed */
    assert_string_equal(
        e.data, "{\"total\":1.10,\"big\":123456789012345678901234567890,\"s\":\"a  b\\n\\\"c\"}");
    assert_int_equal(e.data_len, strlen(e.data));
    assert_string_equal(e.metadata, "{\"user\":\"ann\"}");
    assert_string_equal(e.event_id, ID);
    assert_string_equal(e.correlation_id, "corr-1");
    assert_null(e.causation_id);

    evs_event_data d;
    evs_cli_event_to_data(&e, &d);
    assert_ptr_equal(d.data, e.data);
    assert_int_equal(d.data_len, e.data_len);
    assert_string_equal(d.content_type, "application/json");
    assert_ptr_equal(d.event_id, e.event_id);
    evs_cli_event_free(&e);
}

static void test_ndjson_minimal_and_scalars(void **state)
{
    evs_cli_event e;
    char err[256];
    assert_int_equal(parse_line("{\"data\":42,\"type\":\"T\"}", &e, err, sizeof err), 0);
    assert_string_equal(e.data, "42");
    assert_null(e.metadata);
    assert_null(e.event_id);
    evs_cli_event_free(&e);
    assert_int_equal(
        parse_line("{\"type\":\"T\",\"data\":\"text\",\"metadata\":null}", &e, err, sizeof err), 0);
    assert_string_equal(e.data, "\"text\"");
    assert_null(e.metadata);
    evs_cli_event_free(&e);
    /* a member name written with an escape is still that member */
    assert_int_equal(parse_line("{\"type\":\"T\",\"\\u0064ata\":[1, 2]}", &e, err, sizeof err), 0);
    assert_string_equal(e.data, "[1,2]");
    evs_cli_event_free(&e);
    /* nested objects with a "data" member inside do not confuse the span finder */
    assert_int_equal(parse_line("{\"metadata\":{\"data\":1},\"type\":\"T\",\"data\":{\"x\":"
                                "{\"data\":\"}\"}}}",
                                &e, err, sizeof err),
                     0);
    assert_string_equal(e.data, "{\"x\":{\"data\":\"}\"}}");
    assert_string_equal(e.metadata, "{\"data\":1}");
    evs_cli_event_free(&e);
}

static void expect_line_error(const char *line, const char *needle)
{
    evs_cli_event e;
    char err[256];
    assert_int_equal(parse_line(line, &e, err, sizeof err), -1);
    if (!strstr(err, needle))
        fail_msg("message \"%s\" does not contain \"%s\"", err, needle);
    assert_null(e.type);
    assert_null(e.data);
}

static void test_ndjson_errors(void **state)
{
    expect_line_error("{\"type\":\"T\",\"data\":", "not valid JSON");
    expect_line_error("[1,2]", "not a JSON object");
    expect_line_error("{\"data\":1}", "\"type\"");
    expect_line_error("{\"type\":\"\",\"data\":1}", "\"type\"");
    expect_line_error("{\"type\":7,\"data\":1}", "\"type\"");
    expect_line_error("{\"type\":\"T\"}", "\"data\" is missing");
    expect_line_error("{\"type\":\"T\",\"data\":1,\"event_id\":\"nope\"}", "not a UUID");
    expect_line_error("{\"type\":\"T\",\"data\":1,\"event_id\":5}", "must be a string");
    expect_line_error("{\"type\":\"T\",\"data\":1,\"data\":2}", "not valid JSON");
    expect_line_error("{\"type\":\"T\",\"data\":\"\xff\xfe\"}", "not valid JSON");
}

static void test_ndjson_blank(void **state)
{
    assert_true(evs_cli_ndjson_blank("", 0));
    assert_true(evs_cli_ndjson_blank(" \t\r", 3));
    assert_false(evs_cli_ndjson_blank(" {", 2));
}

static void test_json_valid(void **state)
{
    char err[256];
    assert_true(evs_cli_json_valid("{\"a\":1}", 7, err, sizeof err));
    assert_true(evs_cli_json_valid("12345678901234567890123", 23, err, sizeof err));
    assert_true(evs_cli_json_valid("\"x\"", 3, NULL, 0));
    assert_true(evs_cli_json_valid("\"\\u0000\"", 8, NULL, 0));
    assert_false(evs_cli_json_valid("{\"a\":}", 6, err, sizeof err));
    assert_non_null(strstr(err, "column"));
    assert_false(evs_cli_json_valid("", 0, err, sizeof err));
    assert_false(evs_cli_json_valid("{} {}", 5, err, sizeof err));
    assert_false(evs_cli_json_valid("\"\xc3\x28\"", 4, err, sizeof err)); /* bad UTF-8 */
}

static void test_compact(void **state)
{
    evs_cli_buf b = {0};
    const char *in = " {\n  \"a b\" : [ 1 , 2.50 ,\t\"x \\\" y\" ],\r\n \"c\":{ } } ";
    evs_cli_json_compact(&b, in, strlen(in));
    assert_string_equal(b.data, "{\"a b\":[1,2.50,\"x \\\" y\"],\"c\":{}}");
    evs_cli_buf_free(&b);
}

static void test_member_span(void **state)
{
    size_t start, len;
    const char *text = "{\"a\":1,\"b\":{\"a\":2},\"a\" : [3]}";
    assert_true(evs_cli_json_member_span(text, strlen(text), "a", &start, &len));
    assert_int_equal(len, 3);
    assert_memory_equal(text + start, "[3]", 3); /* the last top-level occurrence */
    assert_true(evs_cli_json_member_span(text, strlen(text), "b", &start, &len));
    assert_memory_equal(text + start, "{\"a\":2}", len);
    assert_false(evs_cli_json_member_span(text, strlen(text), "c", &start, &len));
    assert_false(evs_cli_json_member_span("{}", 2, "a", &start, &len));
    assert_false(evs_cli_json_member_span("[]", 2, "a", &start, &len));
}

static void test_base64_encode(void **state)
{
    const char *cases[][2] = {{"", ""},
                              {"f", "Zg=="},
                              {"fo", "Zm8="},
                              {"foo", "Zm9v"},
                              {"foob", "Zm9vYg=="},
                              {"fooba", "Zm9vYmE="},
                              {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        evs_cli_buf b = {0};
        evs_cli_base64(&b, cases[i][0], strlen(cases[i][0]));
        assert_string_equal(b.data, cases[i][1]);
        evs_cli_buf_free(&b);
    }
    evs_cli_buf b = {0};
    evs_cli_base64(&b, "\x00\xff\xfe", 3);
    assert_string_equal(b.data, "AP/+");
    evs_cli_buf_free(&b);
}

static void test_json_string_escapes(void **state)
{
    evs_cli_buf b = {0};
    evs_cli_json_string(&b, "a\"b\\c\n\x01\xc3\xa9", 9);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"");
    evs_cli_buf_free(&b);
}

static void test_content_types(void **state)
{
    assert_true(evs_cli_is_json_content_type(NULL));
    assert_true(evs_cli_is_json_content_type("application/json"));
    assert_true(evs_cli_is_json_content_type("Application/JSON; charset=utf-8"));
    assert_true(evs_cli_is_json_content_type("application/vnd.acme+json"));
    assert_false(evs_cli_is_json_content_type("application/avro"));
    assert_false(evs_cli_is_json_content_type("text/plain"));
    assert_false(evs_cli_is_json_content_type("application/jsonx"));
}

static void test_uuid_valid(void **state)
{
    assert_true(evs_cli_uuid_valid(ID));
    assert_true(evs_cli_uuid_valid("5F0C2A3E-1B2C-4D5E-8F90-A1B2C3D4E5F6"));
    assert_false(evs_cli_uuid_valid("5f0c2a3e1b2c-4d5e-8f90-a1b2c3d4e5f6-"));
    assert_false(evs_cli_uuid_valid("5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f"));
    assert_false(evs_cli_uuid_valid("5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5fg"));
    assert_false(evs_cli_uuid_valid(NULL));
}

static void test_time_format(void **state)
{
    char out[40];
    evs_cli_format_time(1795860000123456, out); /* docs/HTTP-API.md's example */
    assert_string_equal(out, "2026-11-28T10:00:00.123456Z");
    evs_cli_format_time(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000000Z");
    evs_cli_format_time(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999999Z");
}

static evs_event sample_event(void)
{
    evs_event e;
    memset(&e, 0, sizeof e);
    memcpy(e.event_id, ID, sizeof ID);
    e.stream = "Order-42";
    e.type = "OrderPlaced";
    e.version = 3;
    e.position = 17;
    e.created_us = 1795860000123456;
    e.content_type = "application/json";
    e.data = "{ \"total\" : 12.50 }";
    e.data_len = strlen(e.data);
    return e;
}

static void test_format_event_json(void **state)
{
    evs_cli_buf b = {0};
    evs_event e = sample_event();
    e.metadata = "{\"user\":\"ann\"}";
    e.metadata_len = strlen(e.metadata);
    evs_cli_format_event(&b, &e);
    assert_string_equal(b.data,
                        "{\"event_id\":\"" ID "\",\"stream\":\"Order-42\",\"type\":\"OrderPlaced\","
                        "\"version\":3,\"position\":17,\"created\":\"2026-11-28T10:00:00.123456Z\","
                        "\"data\":{\"total\":12.50},\"metadata\":{\"user\":\"ann\"}}\n");
    evs_cli_buf_free(&b);
}

static void test_format_event_base64(void **state)
{
    evs_cli_buf b = {0};
    evs_event e = sample_event();
    /* binary data with a JSON content type, and metadata that is not JSON */
    e.data = "\x00\xff";
    e.data_len = 2;
    e.metadata = "hi";
    e.metadata_len = 2;
    evs_cli_format_event(&b, &e);
    assert_non_null(strstr(b.data, ",\"data\":\"AP8=\",\"data_encoding\":\"base64\","));
    assert_non_null(strstr(b.data, "\"metadata\":\"aGk=\",\"metadata_encoding\":\"base64\"}\n"));
    evs_cli_buf_free(&b);

    /* valid JSON bytes with a non-JSON content type stay base64; no metadata is null */
    e = sample_event();
    e.content_type = "application/avro";
    e.data = "42";
    e.data_len = 2;
    evs_cli_format_event(&b, &e);
    assert_non_null(strstr(b.data, "\"data\":\"NDI=\",\"data_encoding\":\"base64\""));
    assert_non_null(strstr(b.data, "\"metadata\":null}"));
    evs_cli_buf_free(&b);
}

static void test_format_append_result(void **state)
{
    evs_cli_buf b = {0};
    evs_append_result r;
    memset(&r, 0, sizeof r);
    memcpy(r.append_id, ID, sizeof ID);
    strcpy(r.stream, "Order-42");
    r.first_version = 6;
    r.last_version = 7;
    r.first_position = 309;
    r.last_position = 310;
    r.duplicate = 1;
    evs_cli_format_append_result(&b, &r);
    assert_string_equal(b.data, "{\"stream\":\"Order-42\",\"first_version\":6,\"last_version\":7,"
                                "\"first_position\":309,\"last_position\":310,\"append_id\":\"" ID
                                "\",\"duplicate\":true}\n");
    evs_cli_buf_free(&b);
}

static void test_format_lifecycle(void **state)
{
    evs_cli_buf b = {0};
    evs_append_result r;
    memset(&r, 0, sizeof r);
    memcpy(r.append_id, ID, sizeof ID);
    strcpy(r.stream, "Order-42");
    r.current_version = 9;
    evs_cli_format_command_result(&b, "hard_delete", &r);
    assert_string_equal(b.data, "{\"stream\":\"Order-42\",\"operation\":\"hard_delete\","
                                "\"current_version\":9,\"append_id\":\"" ID "\"}\n");
    b.len = 0;
    evs_stream_metadata m = {.stream = "Order-42", .partition = 1, .current_version = 9,
                             .first_version = 4, .deleted = 1, .max_count = 0,
                             .max_age_ms = 86400000};
    evs_cli_format_stream_metadata(&b, &m);
    assert_string_equal(b.data, "{\"stream\":\"Order-42\",\"partition\":1,\"current_version\":9,"
                                "\"first_version\":4,\"deleted\":\"soft\",\"max_count\":null,"
                                "\"max_age_ms\":86400000}\n");
    b.len = 0;
    m.deleted = 0;
    m.max_count = 5;
    evs_cli_format_stream_metadata(&b, &m);
    assert_non_null(strstr(b.data, "\"deleted\":null,\"max_count\":5,"));
    b.len = 0;
    assert_int_equal(evs_cli_format_verdict(&b, EVS_ESTREAM_DELETED, &r), 0);
    assert_non_null(strstr(b.data, "\"status\":\"stream_deleted\""));
    evs_cli_buf_free(&b);
}

static void test_format_verdict(void **state)
{
    evs_cli_buf b = {0};
    evs_append_result r;
    memset(&r, 0, sizeof r);
    memcpy(r.append_id, ID, sizeof ID);
    strcpy(r.stream, "Order-7");
    r.partition = 0;
    r.offset = 41;
    r.current_version = 5;

    assert_int_equal(evs_cli_format_verdict(&b, EVS_EWRONG_VERSION, &r), 0);
    assert_string_equal(b.data,
                        "{\"append_id\":\"" ID "\",\"status\":\"wrong_expected_version\","
                        "\"stream\":\"Order-7\",\"first_version\":0,\"last_version\":0,"
                        "\"first_position\":0,\"last_position\":0,\"partition\":0,\"offset\":41,"
                        "\"duplicate\":false,\"current_version\":5}\n");
    evs_cli_buf_free(&b);

    assert_string_equal(evs_cli_verdict_status(EVS_OK, &r), "accepted");
    r.duplicate = 1;
    assert_string_equal(evs_cli_verdict_status(EVS_OK, &r), "duplicate");
    assert_string_equal(evs_cli_verdict_status(EVS_EIDEMPOTENCY, &r), "idempotency_conflict");
    assert_string_equal(evs_cli_verdict_status(EVS_EREJECTED, &r), "invalid");
    assert_null(evs_cli_verdict_status(EVS_ENOT_FOUND, &r));
    assert_null(evs_cli_verdict_status(EVS_ETIMEOUT, &r));
    assert_int_equal(evs_cli_format_verdict(&b, EVS_EUNAVAILABLE, &r), -1);
    assert_int_equal(b.len, 0);
}

/* An export line parses back into the same event: ids, types, content type, and the exact
 * bytes of data and metadata, whether embedded as JSON or carried as base64. */
static void export_round_trip(const char *data, const char *content_type, const char *metadata,
                              const char *expect_data_member)
{
    evs_event event = {.stream = "Order-7", .type = "OrderPaid", .version = 42, .position = 9,
                       .partition = 1, .created_us = 1795860000123456,
                       .content_type = (char *)content_type, .data = (void *)data,
                       .data_len = strlen(data), .metadata = (void *)metadata,
                       .metadata_len = metadata ? strlen(metadata) : 0,
                       .correlation_id = "corr-1", .causation_id = NULL};
    memcpy(event.event_id, ID, sizeof event.event_id);
    evs_cli_buf buf = {0};
    evs_cli_format_export_event(&buf, &event);
    assert_non_null(strstr(buf.data, expect_data_member));
    assert_int_equal(buf.data[buf.len - 1], '\n');
    evs_cli_export_line line;
    char err[256];
    assert_int_equal(evs_cli_export_line_parse(buf.data, buf.len - 1, &line, err, sizeof err), 0);
    assert_string_equal(line.stream, "Order-7");
    assert_int_equal(line.version, 42);
    assert_string_equal(line.event.type, "OrderPaid");
    assert_string_equal(line.event.event_id, ID);
    assert_string_equal(line.event.content_type, content_type);
    assert_int_equal(line.event.data_len, strlen(data));
    assert_memory_equal(line.event.data, data, strlen(data));
    if (metadata) {
        assert_int_equal(line.event.metadata_len, strlen(metadata));
        assert_memory_equal(line.event.metadata, metadata, strlen(metadata));
    } else {
        assert_null(line.event.metadata);
    }
    assert_string_equal(line.event.correlation_id, "corr-1");
    assert_null(line.event.causation_id);
    evs_cli_export_line_free(&line);
    evs_cli_buf_free(&buf);
}

static void test_export_line_round_trip(void **state)
{
    (void)state;
    export_round_trip("{\"total\":1.10,\"n\":[1,2]}", "application/json", "{\"u\":\"ann\"}",
                      "\"data\":{\"total\":1.10,\"n\":[1,2]}");
    /* Not compact: embedding would change the bytes, so base64 keeps them. */
    export_round_trip("{ \"a\" : 1 }", "application/json", "{ \"m\": 2 }",
                      "\"data_encoding\":\"base64\"");
    export_round_trip("%PDF-1.4 \x01\x02", "application/pdf", NULL, "\"data_encoding\":\"base64\"");
    export_round_trip("[1,\"x\"]", "application/vnd.x+json", NULL, "\"data\":[1,\"x\"]");
}

static void test_export_line_errors(void **state)
{
    (void)state;
    static const struct {
        const char *line, *message;
    } cases[] = {
        {"{\"stream\":\"A-1\",\"version\":1,\"type\":", "not valid JSON"},
        {"[1]", "not a JSON object"},
        {"{\"version\":1,\"type\":\"T\",\"event_id\":\"" ID "\",\"data\":{}}",
         "\"stream\" is missing"},
        {"{\"stream\":\"A-1\",\"version\":1,\"type\":\"T\",\"data\":{}}",
         "\"event_id\" is missing"},
        {"{\"stream\":\"A-1\",\"version\":0,\"type\":\"T\",\"event_id\":\"" ID "\",\"data\":{}}",
         "\"version\" must be a whole number from 1"},
        {"{\"stream\":\"A-1\",\"version\":1.5,\"type\":\"T\",\"event_id\":\"" ID "\",\"data\":{}}",
         "\"version\" must be a whole number from 1"},
        {"{\"stream\":\"A-1\",\"version\":\"1\",\"type\":\"T\",\"event_id\":\"" ID "\",\"data\":{}}",
         "\"version\" must be a whole number from 1"},
        {"{\"stream\":\"A-1\",\"version\":1,\"type\":\"T\",\"event_id\":\"nope\",\"data\":{}}",
         "is not a UUID"},
        {"{\"stream\":7,\"version\":1,\"type\":\"T\",\"event_id\":\"" ID "\",\"data\":{}}",
         "\"stream\" must be a string"},
        {"{\"stream\":\"A-1\",\"version\":1,\"type\":\"T\",\"event_id\":\"" ID
         "\",\"data\":\"!!\",\"data_encoding\":\"base64\"}",
         "\"data\" is not valid base64"},
        {"{\"stream\":\"A-1\",\"version\":1,\"type\":\"T\",\"event_id\":\"" ID
         "\",\"data\":{},\"data_encoding\":\"hex\"}",
         "\"data_encoding\" must be \"base64\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        evs_cli_export_line line;
        char err[256] = "";
        assert_int_equal(
            evs_cli_export_line_parse(cases[i].line, strlen(cases[i].line), &line, err, sizeof err),
            -1);
        if (!strstr(err, cases[i].message))
            fail_msg("line %zu: error \"%s\" lacks \"%s\"", i, err, cases[i].message);
        assert_null(line.stream); /* nothing is left to free */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ndjson_full_line),
        cmocka_unit_test(test_ndjson_minimal_and_scalars),
        cmocka_unit_test(test_ndjson_errors),
        cmocka_unit_test(test_ndjson_blank),
        cmocka_unit_test(test_json_valid),
        cmocka_unit_test(test_compact),
        cmocka_unit_test(test_member_span),
        cmocka_unit_test(test_base64_encode),
        cmocka_unit_test(test_json_string_escapes),
        cmocka_unit_test(test_content_types),
        cmocka_unit_test(test_uuid_valid),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_format_event_json),
        cmocka_unit_test(test_format_event_base64),
        cmocka_unit_test(test_format_append_result),
        cmocka_unit_test(test_format_verdict),
        cmocka_unit_test(test_format_lifecycle),
        cmocka_unit_test(test_export_line_round_trip),
        cmocka_unit_test(test_export_line_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
