/*
 * frame_parser.c - the incremental parser of a subscription's binary framing (see
 * frame_parser.h for the format and the invariants F1-F3).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evstore.h"
#include "frame_parser.h"

void evs__frame_init(evs_frame_parser *parser, size_t max_body)
{
    memset(parser, 0, sizeof *parser);
    parser->max_body = max_body < EVS_FRAME_BODY_MAX ? max_body : EVS_FRAME_BODY_MAX;
}

void evs__frame_reset(evs_frame_parser *parser)
{
    parser->head_len = 0;
    parser->body_need = 0;
    parser->body_len = 0;
    parser->offset = 0;
    parser->failed = 0;
    parser->error[0] = '\0';
}

void evs__frame_free(evs_frame_parser *parser)
{
    free(parser->body);
    memset(parser, 0, sizeof *parser);
}

static int fail(evs_frame_parser *parser, uint64_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(evs_frame_parser *parser, uint64_t at, const char *fmt, ...)
{
    int n = snprintf(parser->error, sizeof parser->error, "at byte %" PRIu64 ": ", at);
    if (n >= 0 && (size_t)n < sizeof parser->error) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(parser->error + n, sizeof parser->error - (size_t)n, fmt, args);
        va_end(args);
    }
    parser->failed = 1;
    return EVS_EPROTOCOL;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* F1: checks a complete head (at byte `at` of the stream); 0 with parser->body_need set. */
static int head_check(evs_frame_parser *parser, const uint8_t *head, uint64_t at)
{
    uint8_t kind = head[0];
    uint32_t len = be32(head + 1);
    switch (kind) {
    case EVS_FRAME_EVENTS:
        if (len < EVS_FRAME_EVENTS_MIN || len > parser->max_body)
            return fail(parser, at, "an events frame of %" PRIu32 " bytes (allowed: %d to %zu)",
                        len, EVS_FRAME_EVENTS_MIN, parser->max_body);
        break;
    case EVS_FRAME_CAUGHT_UP:
        if (len != EVS_FRAME_CAUGHT_UP_LEN)
            return fail(parser, at, "a caught-up frame of %" PRIu32 " bytes, not %d", len,
                        EVS_FRAME_CAUGHT_UP_LEN);
        break;
    case EVS_FRAME_HEARTBEAT:
        if (len != 0)
            return fail(parser, at, "a heartbeat frame of %" PRIu32 " bytes, not 0", len);
        break;
    default:
        return fail(parser, at, "a frame of unknown kind 0x%02x", kind);
    }
    parser->body_need = len;
    return 0;
}

/* Hands out one complete frame whose head started at byte `at`. */
static int dispatch(evs_frame_parser *parser, uint8_t kind, const uint8_t *body, size_t len,
                    uint64_t at, evs_frame_callback callback, void *user)
{
    evs_frame frame = {.kind = kind, .body = body, .len = len, .next = 0};
    if (kind == EVS_FRAME_CAUGHT_UP) {
        for (int i = 0; i < 8; i++)
            frame.next = frame.next << 8 | body[i];
        if (frame.next == 0 || frame.next > INT64_MAX)
            return fail(parser, at, "a caught-up frame at position %" PRIu64
                        " (allowed: 1 to 2^63-1)", frame.next);
    }
    parser->frames++;
    if (kind == EVS_FRAME_HEARTBEAT)
        parser->heartbeats++;
    return callback(user, &frame);
}

/* Makes room for a split frame's whole body (bounded by F1). */
static int body_reserve(evs_frame_parser *parser, size_t need)
{
    if (need <= parser->body_cap)
        return 0;
    size_t cap = (need + 0xFFFF) & ~(size_t)0xFFFF; /* 64 KiB steps */
    uint8_t *grown = realloc(parser->body, cap);
    if (!grown)
        return EVS_ENOMEM;
    parser->body = grown;
    parser->body_cap = cap;
    return 0;
}

int evs__frame_feed(evs_frame_parser *parser, const char *bytes, size_t len,
                    evs_frame_callback callback, void *user)
{
    const uint8_t *p = (const uint8_t *)bytes, *end = p + len;
    int rc;
    if (parser->failed) /* F3 */
        return EVS_EPROTOCOL;
    while (p < end) {
        size_t left = (size_t)(end - p);
        if (parser->head_len == 0 && left >= EVS_FRAME_HEAD_LEN) {
            /* A head that is here whole, and maybe its body too (F2). */
            uint64_t at = parser->offset;
            if ((rc = head_check(parser, p, at)) != 0)
                return rc;
            uint8_t kind = p[0];
            size_t need = parser->body_need;
            if (left - EVS_FRAME_HEAD_LEN >= need) {
                const uint8_t *body = p + EVS_FRAME_HEAD_LEN;
                parser->offset += EVS_FRAME_HEAD_LEN + need;
                p += EVS_FRAME_HEAD_LEN + need;
                parser->body_need = 0;
                if ((rc = dispatch(parser, kind, body, need, at, callback, user)) != 0)
                    return rc;
                continue;
            }
            memcpy(parser->head, p, EVS_FRAME_HEAD_LEN);
            parser->head_len = EVS_FRAME_HEAD_LEN;
            parser->body_len = 0;
            parser->offset += EVS_FRAME_HEAD_LEN;
            p += EVS_FRAME_HEAD_LEN;
            if ((rc = body_reserve(parser, need)) != 0)
                return rc;
            continue;
        }
        if (parser->head_len < EVS_FRAME_HEAD_LEN) { /* a head split across pieces */
            size_t take = EVS_FRAME_HEAD_LEN - parser->head_len;
            if (take > left)
                take = left;
            memcpy(parser->head + parser->head_len, p, take);
            parser->head_len += take;
            parser->offset += take;
            p += take;
            if (parser->head_len < EVS_FRAME_HEAD_LEN)
                return 0;
            if ((rc = head_check(parser, parser->head, parser->offset - EVS_FRAME_HEAD_LEN)) != 0)
                return rc;
            if ((rc = body_reserve(parser, parser->body_need)) != 0)
                return rc;
            parser->body_len = 0;
        }
        /* The body of a frame whose head is in. */
        size_t take = parser->body_need - parser->body_len;
        if (take > (size_t)(end - p))
            take = (size_t)(end - p);
        if (take > 0) {
            memcpy(parser->body + parser->body_len, p, take);
            parser->body_len += take;
            parser->offset += take;
            p += take;
        }
        if (parser->body_len < parser->body_need)
            return 0;
        uint64_t at = parser->offset - EVS_FRAME_HEAD_LEN - parser->body_need;
        size_t need = parser->body_need;
        parser->head_len = 0;
        parser->body_need = 0;
        parser->body_len = 0;
        if ((rc = dispatch(parser, parser->head[0], parser->body, need, at, callback, user)) != 0)
            return rc;
    }
    return 0;
}
