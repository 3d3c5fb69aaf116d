/*
 * test_client_sse.c - libevstore's Server-Sent Events parser (sse_parser.c) without a
 * server: every input is also fed split at every byte boundary and byte by byte, and must
 * give the same events; comments, multi-line data, CRLF / CR / LF line ends, ids, the byte
 * order mark, the bounds and the callback's stop are covered; and evs__event_from_json,
 * which turns a subscription's event data into an evs_event.
 */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_json.h"
#include "evstore.h"
#include "sse_parser.h"

#define MAX_EVENTS 16

/* What the callback saw: "type|id|data" per event. */
typedef struct seen {
    char events[MAX_EVENTS][256];
    int count;
    int stop_after; /* return 99 from the callback after this many events (0: never) */
} seen;

static int record(void *user, const evs_sse_event *event)
{
    seen *s = user;
    assert_true(s->count < MAX_EVENTS);
    /* The strings are NUL-terminated at their lengths. */
    assert_int_equal(strlen(event->type), event->type_len);
    assert_int_equal(strlen(event->id), event->id_len);
    assert_int_equal(event->data[event->data_len], '\0');
    snprintf(s->events[s->count], sizeof s->events[0], "%.*s|%.*s|%.*s", (int)event->type_len,
             event->type, (int)event->id_len, event->id, (int)event->data_len, event->data);
    s->count++;
    return s->stop_after && s->count >= s->stop_after ? 99 : 0;
}

/* Feeds text in pieces split at the given cut points; returns the last feed's code. */
static int feed_split(const char *text, size_t len, const size_t *cuts, size_t n_cuts, seen *s,
                      evs_sse_parser *parser)
{
    size_t at = 0;
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : len;
        int rc = evs__sse_feed(parser, text + at, end - at, record, s);
        if (rc != 0)
            return rc;
        at = end;
    }
    return 0;
}

/* Parses text whole, then cut in two at every byte boundary, then cut in three at every
 * pair of boundaries, then byte by byte, and checks that each gives exactly expected. */
static void check_parse(const char *text, const char *const *expected, int n_expected)
{
    size_t len = strlen(text);
    evs_sse_parser parser;
    seen s;

    /* Whole, and split in two at every boundary. */
    for (size_t cut = 0; cut <= len; cut++) {
        memset(&s, 0, sizeof s);
        evs__sse_init(&parser, 4096);
        assert_int_equal(feed_split(text, len, &cut, 1, &s, &parser), 0);
        if (s.count != n_expected)
            fail_msg("split at %zu of %s: %d events, expected %d", cut, text, s.count, n_expected);
        for (int i = 0; i < n_expected; i++)
            assert_string_equal(s.events[i], expected[i]);
        evs__sse_free(&parser);
    }
    /* Split in three at every pair of boundaries. */
    for (size_t a = 0; a <= len; a++) {
        for (size_t b = a; b <= len; b++) {
            size_t cuts[2] = {a, b};
            memset(&s, 0, sizeof s);
            evs__sse_init(&parser, 4096);
            assert_int_equal(feed_split(text, len, cuts, 2, &s, &parser), 0);
            assert_int_equal(s.count, n_expected);
            for (int i = 0; i < n_expected; i++)
                assert_string_equal(s.events[i], expected[i]);
            evs__sse_free(&parser);
        }
    }
    /* Byte by byte. */
    memset(&s, 0, sizeof s);
    evs__sse_init(&parser, 4096);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(evs__sse_feed(&parser, text + i, 1, record, &s), 0);
    assert_int_equal(s.count, n_expected);
    for (int i = 0; i < n_expected; i++)
        assert_string_equal(s.events[i], expected[i]);
    evs__sse_free(&parser);
}

static void test_projector_events(void **state)
{
    const char *text = "id: 17\nevent: event\ndata: {\"stream\":\"Order-42\",\"position\":17}\n\n"
                       "id: 18\nevent: event\ndata: {\"position\":18}\n\n"
                       "event: caught-up\ndata: {\"next\": 19}\n\n";
    const char *expected[] = {
        "event|17|{\"stream\":\"Order-42\",\"position\":17}", "event|18|{\"position\":18}",
        "caught-up|18|{\"next\": 19}", /* the last event id persists */
    };
    check_parse(text, expected, 3);
}

static void test_comments_are_skipped_and_counted(void **state)
{
    const char *text = ": heartbeat\n\n: another\nid: 1\n: inside an event\ndata: x\n\n";
    const char *expected[] = {"message|1|x"};
    check_parse(text, expected, 1);

    evs_sse_parser parser;
    seen s = {0};
    evs__sse_init(&parser, 4096);
    assert_int_equal(evs__sse_feed(&parser, text, strlen(text), record, &s), 0);
    assert_int_equal(parser.comments, 3);
    assert_int_equal(parser.events, 1);
    evs__sse_free(&parser);
}

static void test_multi_line_data(void **state)
{
    const char *text = "data: first\ndata: second\ndata\ndata: third\n\n";
    const char *expected[] = {"message||first\nsecond\n\nthird"};
    check_parse(text, expected, 1);
}

static void test_crlf_cr_and_lf_line_ends(void **state)
{
    const char *crlf =
        "id: 5\r\nevent: event\r\ndata: a\r\ndata: b\r\n\r\nid: 6\r\ndata: c\r\n\r\n";
    const char *expected_crlf[] = {"event|5|a\nb", "message|6|c"};
    check_parse(crlf, expected_crlf, 2);

    const char *cr = "id: 7\revent: e\rdata: x\r\rdata: y\r\r";
    const char *expected_cr[] = {"e|7|x", "message|7|y"};
    check_parse(cr, expected_cr, 2);

    /* Mixed: a CR ending one line and an LF ending the next empty line are two line ends,
     * but CR LF is one. */
    const char *mixed = "data: 1\r\n\ndata: 2\n\r";
    const char *expected_mixed[] = {"message||1", "message||2"};
    check_parse(mixed, expected_mixed, 2);
}

static void test_fields(void **state)
{
    /* No space after the colon; one space dropped, a second kept; a line without a colon is
     * a field with an empty value; unknown fields are ignored. */
    const char *text = "event:tight\ndata:no-space\ndata:  two spaces\nfoo: bar\n\n"
                       "data\n\n"
                       "event: typed\n\n"; /* no data: nothing is dispatched */
    const char *expected[] = {"tight||no-space\n two spaces", "message||"};
    check_parse(text, expected, 2);
}

static void test_ids(void **state)
{
    const char *text = "id: 1\ndata: a\n\n"
                       "data: b\n\n"                   /* keeps id 1 */
                       "id\ndata: c\n\n"               /* an empty id resets it */
                       "id: 99\nid: 100\ndata: d\n\n"; /* the last one wins */
    const char *expected[] = {"message|1|a", "message|1|b", "message||c", "message|100|d"};
    check_parse(text, expected, 4);

    /* An id containing NUL is ignored (fed with an explicit length). */
    static const char with_nul[] = "id: 3\n\nid: 4\0x\ndata: e\n\n";
    evs_sse_parser parser;
    seen s = {0};
    evs__sse_init(&parser, 4096);
    assert_int_equal(evs__sse_feed(&parser, with_nul, sizeof with_nul - 1, record, &s), 0);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.events[0], "message|3|e");
    evs__sse_free(&parser);
}

static void test_retry_and_bom(void **state)
{
    const char *text = "\xEF\xBB\xBF"
                       "data: after bom\n\nretry: 2500\nretry: 12x\n\n";
    const char *expected[] = {"message||after bom"};
    check_parse(text, expected, 1);

    evs_sse_parser parser;
    seen s = {0};
    evs__sse_init(&parser, 4096);
    assert_int_equal(parser.retry_ms, -1);
    assert_int_equal(evs__sse_feed(&parser, text, strlen(text), record, &s), 0);
    assert_int_equal(parser.retry_ms, 2500);
    evs__sse_free(&parser);

    /* A BOM is dropped only at the very start. */
    const char *late = "data: a\n\n\xEF\xBB\xBF"
                       "data: b\n\n";
    const char *expected_late[] = {"message||a"};
    check_parse(late, expected_late, 1);
}

static void test_reset_forgets_partial_input(void **state)
{
    evs_sse_parser parser;
    seen s = {0};
    evs__sse_init(&parser, 4096);
    const char *first = "id: 9\ndata: whole\n\ndata: half an ev";
    assert_int_equal(evs__sse_feed(&parser, first, strlen(first), record, &s), 0);
    assert_int_equal(s.count, 1);
    evs__sse_reset(&parser); /* the connection dropped */
    const char *second = "data: fresh\n\n";
    assert_int_equal(evs__sse_feed(&parser, second, strlen(second), record, &s), 0);
    assert_int_equal(s.count, 2);
    assert_string_equal(s.events[1], "message|9|fresh"); /* the last id is kept */

    /* A CR at the end of the old connection must not swallow the new one's first LF... */
    evs__sse_reset(&parser);
    assert_int_equal(evs__sse_feed(&parser, "data: x\r", 8, record, &s), 0);
    evs__sse_reset(&parser);
    assert_int_equal(evs__sse_feed(&parser, "\ndata: y\n\n", 10, record, &s), 0);
    assert_int_equal(s.count, 3);
    assert_string_equal(s.events[2], "message|9|y");
    evs__sse_free(&parser);
}

static void test_bounds(void **state)
{
    evs_sse_parser parser;
    seen s = {0};
    char line[200];

    /* A line longer than the bound fails, whole or in pieces. */
    memset(line, 'x', sizeof line);
    memcpy(line, "data: ", 6);
    line[sizeof line - 1] = '\n';
    evs__sse_init(&parser, 64);
    assert_int_equal(evs__sse_feed(&parser, line, sizeof line, record, &s), EVS_EPROTOCOL);
    evs__sse_free(&parser);
    evs__sse_init(&parser, 64);
    int rc = 0;
    for (size_t i = 0; i < sizeof line && rc == 0; i += 10)
        rc = evs__sse_feed(&parser, line + i, sizeof line - i < 10 ? sizeof line - i : 10, record,
                           &s);
    assert_int_equal(rc, EVS_EPROTOCOL);
    assert_true(parser.line.cap <= 65); /* never grew past the bound */
    evs__sse_free(&parser);

    /* Many short data lines that add up beyond the bound fail too. */
    evs__sse_init(&parser, 64);
    rc = 0;
    for (int i = 0; i < 20 && rc == 0; i++)
        rc = evs__sse_feed(&parser, "data: 0123456789\n", 17, record, &s);
    assert_int_equal(rc, EVS_EPROTOCOL);
    assert_int_equal(s.count, 0);
    evs__sse_free(&parser);

    /* Exactly at the bound is fine. */
    evs__sse_init(&parser, 16);
    assert_int_equal(evs__sse_feed(&parser, "data: 0123456789\n\n", 18, record, &s), 0);
    assert_int_equal(s.count, 1);
    evs__sse_free(&parser);
}

static void test_callback_stops_feeding(void **state)
{
    evs_sse_parser parser;
    seen s = {.stop_after = 2};
    const char *text = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
    evs__sse_init(&parser, 4096);
    assert_int_equal(evs__sse_feed(&parser, text, strlen(text), record, &s), 99);
    assert_int_equal(s.count, 2);
    evs__sse_free(&parser);
}

static void test_event_from_json(void **state)
{
    const char *json =
        "{\"event_id\":\"5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6\",\"stream\":\"Order-42\","
        "\"type\":\"OrderPlaced\",\"version\":3,\"position\":17,\"partition\":0,"
        "\"created\":\"2026-11-28T10:00:00.123456Z\",\"created_us\":1795860000123456,"
        "\"content_type\":\"application/octet-stream\",\"data\":\"AAEC/w==\",\"metadata\":\"\","
        "\"correlation_id\":null,\"causation_id\":\"c-1\"}";
    evs_event_list *list = NULL;
    assert_int_equal(evs__event_from_json(json, strlen(json), &list), 0);
    assert_non_null(list);
    assert_int_equal(list->count, 1);
    evs_event *e = &list->events[0];
    assert_string_equal(e->stream, "Order-42");
    assert_string_equal(e->type, "OrderPlaced");
    assert_int_equal(e->version, 3);
    assert_int_equal(e->position, 17);
    assert_int_equal(e->data_len, 4);
    assert_memory_equal(e->data, "\x00\x01\x02\xff", 4);
    assert_null(e->metadata);
    assert_null(e->correlation_id);
    assert_string_equal(e->causation_id, "c-1");
    evs_event_list_free(list);

    assert_int_equal(evs__event_from_json("{\"stream\":1}", 12, &list), EVS_EPROTOCOL);
    assert_null(list);
    assert_int_equal(evs__event_from_json("not json", 8, &list), EVS_EPROTOCOL);
    assert_null(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_projector_events),
        cmocka_unit_test(test_comments_are_skipped_and_counted),
        cmocka_unit_test(test_multi_line_data),
        cmocka_unit_test(test_crlf_cr_and_lf_line_ends),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_retry_and_bom),
        cmocka_unit_test(test_reset_forgets_partial_input),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_callback_stops_feeding),
        cmocka_unit_test(test_event_from_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
