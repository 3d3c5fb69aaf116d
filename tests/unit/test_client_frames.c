/*
 * test_client_frames.c - libevstore's parser of a subscription's binary framing
 * (frame_parser.c) without a server: a stream of frames written with the projector's own
 * frame writer (projector/http/page_stream.h) is fed whole, in two pieces cut at every byte
 * boundary, in three pieces cut at every pair of boundaries and byte by byte, and must give
 * the same frames each time; every way a frame can be wrong (an unknown kind, a length
 * wrong for its kind, a body above the limit, a caught-up position out of range) is
 * EVS_EPROTOCOL, found at the head, before any of the body is kept, and sticky until a
 * reset; the callback's stop is returned; a frame inside one piece is handed out in place.
 */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evstore.h"
#include "frame_parser.h"

/* The projector's side of the framing, to check that both sides agree. Its constants have
 * the same names as the parser's: keep the parser's under other names first. */
static const char client_media_type[] = EVS_PAGE_STREAM_MEDIA_TYPE;
enum {
    CLIENT_EVENTS = EVS_FRAME_EVENTS,
    CLIENT_CAUGHT_UP = EVS_FRAME_CAUGHT_UP,
    CLIENT_HEARTBEAT = EVS_FRAME_HEARTBEAT,
    CLIENT_HEAD_LEN = EVS_FRAME_HEAD_LEN,
    CLIENT_CAUGHT_UP_LEN = EVS_FRAME_CAUGHT_UP_LEN,
    CLIENT_BODY_MAX = EVS_FRAME_BODY_MAX,
};
#undef EVS_PAGE_STREAM_MEDIA_TYPE
#undef EVS_FRAME_EVENTS
#undef EVS_FRAME_CAUGHT_UP
#undef EVS_FRAME_HEARTBEAT
#undef EVS_FRAME_HEAD_LEN
#undef EVS_FRAME_CAUGHT_UP_LEN
#undef EVS_FRAME_BODY_MAX
#include "../../projector/http/page_stream.h"

#define MAX_FRAMES 32

/* What the callback saw: "kind|len|next|first byte of the body|hash of it" per frame. */
typedef struct seen {
    char frames[MAX_FRAMES][64];
    int count;
    int stop_after; /* return 77 after this many frames (0: never) */
    const uint8_t *input; /* the piece being fed, to see where bodies point */
    size_t input_len;
    int in_place; /* frames whose body pointed into the piece */
} seen;

static int record(void *user, const evs_frame *frame)
{
    seen *s = user;
    assert_true(s->count < MAX_FRAMES);
    uint32_t hash = 2166136261u; /* FNV-1a: every byte of the body counts */
    for (size_t i = 0; i < frame->len; i++)
        hash = (hash ^ frame->body[i]) * 16777619u;
    snprintf(s->frames[s->count], sizeof s->frames[0], "%c|%zu|%llu|%d|%08x", frame->kind,
             frame->len, (unsigned long long)frame->next, frame->len ? frame->body[0] : -1, hash);
    if (frame->len && s->input && frame->body >= s->input && frame->body < s->input + s->input_len)
        s->in_place++;
    s->count++;
    return s->stop_after && s->count >= s->stop_after ? 77 : 0;
}

/* A buffer of frames, written the way the projector writes them. */
typedef struct wire {
    uint8_t bytes[4096];
    size_t len;
} wire;

static void put_events(wire *w, uint8_t first, size_t body_len)
{
    assert_true(w->len + EVS_FRAME_HEAD_LEN + body_len <= sizeof w->bytes);
    evs_frame_head(w->bytes + w->len, EVS_FRAME_EVENTS, (uint32_t)body_len);
    w->len += EVS_FRAME_HEAD_LEN;
    for (size_t i = 0; i < body_len; i++) /* the parser does not look inside a page */
        w->bytes[w->len + i] = (uint8_t)(first + i);
    w->len += body_len;
}

static void put_caught_up(wire *w, uint64_t next)
{
    w->len += evs_frame_caught_up(w->bytes + w->len, next);
}

static void put_heartbeat(wire *w)
{
    evs_frame_head(w->bytes + w->len, EVS_FRAME_HEARTBEAT, 0);
    w->len += EVS_FRAME_HEAD_LEN;
}

static void put_raw(wire *w, const void *bytes, size_t len)
{
    memcpy(w->bytes + w->len, bytes, len);
    w->len += len;
}

/* Feeds w split at cuts[0..n) into a fresh parser; returns the first nonzero code, or 0. */
static int feed_cuts(const wire *w, const size_t *cuts, size_t n, seen *s, evs_frame_parser *parser)
{
    size_t at = 0;
    for (size_t i = 0; i <= n; i++) {
        size_t end = i < n ? cuts[i] : w->len;
        s->input = w->bytes + at;
        s->input_len = end - at;
        int rc = evs__frame_feed(parser, (const char *)w->bytes + at, end - at, record, s);
        if (rc != 0)
            return rc;
        at = end;
    }
    return 0;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void assert_same(const seen *a, const seen *b)
{
    assert_int_equal(a->count, b->count);
    for (int i = 0; i < a->count; i++)
        assert_string_equal(a->frames[i], b->frames[i]);
}

/* Feeds w every way (whole, two pieces at every cut, three at every pair, byte by byte) and
 * checks each gives what the whole feed gives; returns the whole feed's code into *whole. */
static void feed_every_way(const wire *w, seen *whole, int *whole_rc)
{
    evs_frame_parser parser;
    evs__frame_init(&parser, EVS_FRAME_BODY_MAX);
    memset(whole, 0, sizeof *whole);
    *whole_rc = feed_cuts(w, NULL, 0, whole, &parser);
    evs__frame_free(&parser);

    for (size_t cut = 0; cut <= w->len; cut++) {
        seen s = {0};
        evs__frame_init(&parser, EVS_FRAME_BODY_MAX);
        assert_int_equal(feed_cuts(w, &cut, 1, &s, &parser), *whole_rc);
        assert_same(&s, whole);
        evs__frame_free(&parser);
    }
    for (size_t a = 0; a <= w->len; a++) {
        for (size_t b = a; b <= w->len; b++) {
            size_t cuts[2] = {a, b};
            seen s = {0};
            evs__frame_init(&parser, EVS_FRAME_BODY_MAX);
            assert_int_equal(feed_cuts(w, cuts, 2, &s, &parser), *whole_rc);
            assert_same(&s, whole);
            evs__frame_free(&parser);
        }
    }
    size_t cuts[sizeof w->bytes];
    for (size_t i = 0; i < w->len; i++)
        cuts[i] = i + 1;
    seen s = {0};
    evs__frame_init(&parser, EVS_FRAME_BODY_MAX);
    assert_int_equal(feed_cuts(w, cuts, w->len ? w->len - 1 : 0, &s, &parser), *whole_rc);
    assert_same(&s, whole);
    evs__frame_free(&parser);
}

/* ---- Both sides agree -------------------------------------------------------------------- */

static void test_constants_agree(void **state)
{
    (void)state;
    assert_string_equal(EVS_PAGE_STREAM_MEDIA_TYPE, client_media_type);
    assert_int_equal(CLIENT_EVENTS, EVS_FRAME_EVENTS);
    assert_int_equal(CLIENT_CAUGHT_UP, EVS_FRAME_CAUGHT_UP);
    assert_int_equal(CLIENT_HEARTBEAT, EVS_FRAME_HEARTBEAT);
    assert_int_equal(CLIENT_HEAD_LEN, EVS_FRAME_HEAD_LEN);
    assert_int_equal(CLIENT_CAUGHT_UP_LEN, EVS_FRAME_CAUGHT_UP_LEN);
    assert_int_equal(CLIENT_BODY_MAX, EVS_FRAME_BODY_MAX);
    assert_int_equal(EVS_FRAME_EVENTS, 'E');
    assert_int_equal(EVS_FRAME_CAUGHT_UP, 'C');
    assert_int_equal(EVS_FRAME_HEARTBEAT, 'H');
    assert_int_equal(EVS_FRAME_HEAD_LEN, 5);
    assert_int_equal(EVS_FRAME_CAUGHT_UP_LEN, 8);
    assert_int_equal(EVS_FRAME_BODY_MAX, 2 * 1024 * 1024);
    /* The head is big-endian, the caught-up position too. */
    uint8_t head[EVS_FRAME_HEAD_LEN];
    evs_frame_head(head, EVS_FRAME_EVENTS, 0x01020304);
    assert_memory_equal(head, "E\x01\x02\x03\x04", 5);
    uint8_t cu[EVS_FRAME_HEAD_LEN + EVS_FRAME_CAUGHT_UP_LEN];
    assert_int_equal(evs_frame_caught_up(cu, 0x0102030405060708ull), 13);
    assert_memory_equal(cu, "C\x00\x00\x00\x08\x01\x02\x03\x04\x05\x06\x07\x08", 13);
}

/* ---- Splits ----------------------------------------------------------------------------- */

static void test_frames_split_anywhere(void **state)
{
    (void)state;
    wire w = {0};
    put_events(&w, 'a', 10);  /* the smallest events body: a page's header */
    put_heartbeat(&w);
    put_events(&w, 'b', 37);
    put_caught_up(&w, 38);
    put_heartbeat(&w);
    put_heartbeat(&w);
    put_events(&w, 'c', 12);
    put_caught_up(&w, INT64_MAX); /* the largest position */
    seen whole;
    int rc;
    feed_every_way(&w, &whole, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(whole.count, 8);
    assert_true(starts_with(whole.frames[0], "E|10|0|97|"));
    assert_true(starts_with(whole.frames[1], "H|0|0|-1|"));
    assert_true(starts_with(whole.frames[2], "E|37|0|98|"));
    assert_true(starts_with(whole.frames[3], "C|8|38|0|"));
    assert_true(starts_with(whole.frames[4], "H|0|0|-1|"));
    assert_true(starts_with(whole.frames[6], "E|12|0|99|"));
    assert_true(starts_with(whole.frames[7], "C|8|9223372036854775807|127|"));
}

static void test_whole_frames_are_not_copied(void **state)
{
    (void)state;
    wire w = {0};
    put_events(&w, 'a', 100);
    put_events(&w, 'b', 200);
    evs_frame_parser parser;
    evs__frame_init(&parser, EVS_FRAME_BODY_MAX);
    seen s = {0};
    assert_int_equal(feed_cuts(&w, NULL, 0, &s, &parser), 0);
    assert_int_equal(s.in_place, 2);
    assert_null(parser.body); /* nothing was gathered */
    /* Split inside the second: the first is handed out in place, the second gathered. */
    seen t = {0};
    size_t cut = EVS_FRAME_HEAD_LEN + 100 + 50;
    assert_int_equal(feed_cuts(&w, &cut, 1, &t, &parser), 0);
    assert_int_equal(t.count, 2);
    assert_int_equal(t.in_place, 1);
    assert_int_equal(parser.frames, 4);
    evs__frame_free(&parser);
}

/* ---- Bad frames ------------------------------------------------------------------------- */

/* Feeds good frames then the bad head `head` (and body bytes after it, so that nothing but
 * the head can be blamed) every way; checks the good frames come out, then EVS_EPROTOCOL
 * with the parser's message containing `why` and naming the bad frame's offset. */
static void expect_bad(const uint8_t head[EVS_FRAME_HEAD_LEN], const char *why)
{
    wire w = {0};
    put_events(&w, 'a', 11);
    put_heartbeat(&w);
    size_t at = w.len;
    put_raw(&w, head, EVS_FRAME_HEAD_LEN);
    put_raw(&w, "\x00\x00\x00\x00\x00\x00\x00\x01", 8);
    seen whole;
    int rc;
    feed_every_way(&w, &whole, &rc);
    assert_int_equal(rc, EVS_EPROTOCOL);
    assert_int_equal(whole.count, 2);

    evs_frame_parser parser;
    evs__frame_init(&parser, EVS_FRAME_BODY_MAX);
    seen s = {0};
    assert_int_equal(feed_cuts(&w, NULL, 0, &s, &parser), EVS_EPROTOCOL);
    if (!strstr(parser.error, why))
        fail_msg("error \"%s\" does not say \"%s\"", parser.error, why);
    char where[32];
    snprintf(where, sizeof where, "at byte %zu:", at);
    assert_non_null(strstr(parser.error, where));
    /* Sticky (F3) until a reset; after it, a good stream parses again. */
    assert_int_equal(evs__frame_feed(&parser, "H\0\0\0\0", 5, record, &s), EVS_EPROTOCOL);
    assert_int_equal(s.count, 2);
    evs__frame_reset(&parser);
    assert_int_equal(evs__frame_feed(&parser, "H\0\0\0\0", 5, record, &s), 0);
    assert_int_equal(s.count, 3);
    evs__frame_free(&parser);
}

static void test_unknown_kinds(void **state)
{
    (void)state;
    expect_bad((const uint8_t *)"X\0\0\0\0", "unknown kind 0x58");
    expect_bad((const uint8_t *)"\0\0\0\0\x08", "unknown kind 0x00");
    expect_bad((const uint8_t *)"e\0\0\0\x0a", "unknown kind 0x65"); /* kinds are exact */
    expect_bad((const uint8_t *)"\xff\0\0\0\0", "unknown kind 0xff");
}

static void test_bad_lengths(void **state)
{
    (void)state;
    expect_bad((const uint8_t *)"C\0\0\0\x07", "caught-up frame of 7 bytes, not 8");
    expect_bad((const uint8_t *)"C\0\0\0\x09", "caught-up frame of 9 bytes, not 8");
    expect_bad((const uint8_t *)"C\0\0\0\0", "caught-up frame of 0 bytes, not 8");
    expect_bad((const uint8_t *)"H\0\0\0\x01", "heartbeat frame of 1 bytes, not 0");
    expect_bad((const uint8_t *)"H\x80\0\0\0", "heartbeat frame of 2147483648 bytes");
    expect_bad((const uint8_t *)"E\0\0\0\x09", "events frame of 9 bytes");
    expect_bad((const uint8_t *)"E\0\0\0\0", "events frame of 0 bytes");
}

static void test_oversized_frames(void **state)
{
    (void)state;
    /* One byte above the limit, and the largest length a head can say. */
    expect_bad((const uint8_t *)"E\x00\x20\x00\x01", "events frame of 2097153 bytes");
    expect_bad((const uint8_t *)"E\xff\xff\xff\xff", "events frame of 4294967295 bytes");

    /* Refused at the head: nothing of the body is gathered (F1). */
    evs_frame_parser parser;
    evs__frame_init(&parser, EVS_FRAME_BODY_MAX);
    seen s = {0};
    assert_int_equal(evs__frame_feed(&parser, "E\xff\xff", 3, record, &s), 0);
    assert_int_equal(evs__frame_feed(&parser, "\xff\xff", 2, record, &s), EVS_EPROTOCOL);
    assert_null(parser.body);
    evs__frame_free(&parser);

    /* The limit is the parser's: a smaller one given at init applies, and the largest body
     * it allows still parses. */
    evs__frame_init(&parser, 64);
    wire w = {0};
    put_events(&w, 'a', 64);
    memset(&s, 0, sizeof s);
    assert_int_equal(feed_cuts(&w, NULL, 0, &s, &parser), 0);
    assert_int_equal(s.count, 1);
    w.len = 0;
    put_events(&w, 'a', 65);
    assert_int_equal(feed_cuts(&w, NULL, 0, &s, &parser), EVS_EPROTOCOL);
    assert_non_null(strstr(parser.error, "events frame of 65 bytes (allowed: 10 to 64)"));
    evs__frame_free(&parser);

    /* And one above EVS_FRAME_BODY_MAX cannot be asked for. */
    evs__frame_init(&parser, (size_t)EVS_FRAME_BODY_MAX * 2);
    assert_int_equal(parser.max_body, EVS_FRAME_BODY_MAX);
    evs__frame_free(&parser);
}

static void test_caught_up_positions(void **state)
{
    (void)state;
    /* A caught-up frame's position is 1 .. 2^63-1; its head is fine, its body is not. */
    const char *bad[] = {"\0\0\0\0\0\0\0\0", "\x80\0\0\0\0\0\0\0", "\xff\xff\xff\xff\xff\xff\xff\xff"};
    const char *says[] = {"position 0", "position 9223372036854775808",
                          "position 18446744073709551615"};
    for (size_t i = 0; i < 3; i++) {
        wire w = {0};
        put_heartbeat(&w);
        put_raw(&w, "C\0\0\0\x08", 5);
        put_raw(&w, bad[i], 8);
        seen whole;
        int rc;
        feed_every_way(&w, &whole, &rc);
        assert_int_equal(rc, EVS_EPROTOCOL);
        assert_int_equal(whole.count, 1);
        evs_frame_parser parser;
        evs__frame_init(&parser, EVS_FRAME_BODY_MAX);
        seen s = {0};
        assert_int_equal(feed_cuts(&w, NULL, 0, &s, &parser), EVS_EPROTOCOL);
        assert_non_null(strstr(parser.error, says[i]));
        assert_non_null(strstr(parser.error, "at byte 5:"));
        evs__frame_free(&parser);
    }
}

/* ---- The callback ----------------------------------------------------------------------- */

static void test_callback_stops(void **state)
{
    (void)state;
    wire w = {0};
    put_events(&w, 'a', 10);
    put_events(&w, 'b', 10);
    put_heartbeat(&w);
    evs_frame_parser parser;
    evs__frame_init(&parser, EVS_FRAME_BODY_MAX);
    seen s = {.stop_after = 2};
    assert_int_equal(feed_cuts(&w, NULL, 0, &s, &parser), 77);
    assert_int_equal(s.count, 2); /* the heartbeat after the stop was not read */
    /* A stop is not a failure: the rest parses when fed. */
    s.stop_after = 0;
    assert_int_equal(evs__frame_feed(&parser, "H\0\0\0\0", 5, record, &s), 0);
    assert_int_equal(s.count, 3);
    assert_int_equal(parser.heartbeats, 1);
    evs__frame_free(&parser);
}

static void test_reset_drops_a_partial_frame(void **state)
{
    (void)state;
    evs_frame_parser parser;
    evs__frame_init(&parser, EVS_FRAME_BODY_MAX);
    seen s = {0};
    /* Half a frame, then the connection drops and a new one starts. */
    assert_int_equal(evs__frame_feed(&parser, "E\0\0\0\x0a" "abc", 8, record, &s), 0);
    evs__frame_reset(&parser);
    wire w = {0};
    put_caught_up(&w, 7);
    assert_int_equal(feed_cuts(&w, NULL, 0, &s, &parser), 0);
    assert_int_equal(s.count, 1);
    assert_true(starts_with(s.frames[0], "C|8|7|0|"));
    evs__frame_free(&parser);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constants_agree),
        cmocka_unit_test(test_frames_split_anywhere),
        cmocka_unit_test(test_whole_frames_are_not_copied),
        cmocka_unit_test(test_unknown_kinds),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_oversized_frames),
        cmocka_unit_test(test_caught_up_positions),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_reset_drops_a_partial_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
