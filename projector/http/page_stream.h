/*
 * page_stream.h - the binary framing of a subscription (docs/HTTP-API.md, "Subscriptions",
 * "The binary framing"): what subscriptions.c sends to a request whose Accept header names
 * EVS_PAGE_STREAM_MEDIA_TYPE, instead of Server-Sent Events.
 *
 * The answer's body is a sequence of frames, each
 *   byte 0      kind: EVS_FRAME_EVENTS, EVS_FRAME_CAUGHT_UP or EVS_FRAME_HEARTBEAT
 *   byte 1..4   the length of the body that follows, big-endian unsigned
 *   byte 5..    the body:
 *                 events     an EventPage (schemas/page_codec.h: single-object encoding)
 *                            holding 1 or more events in order, its `next` the position
 *                            (version, for a stream) after the last of them, `end` false;
 *                 caught-up  8 bytes: the position (version) live events start at, as a
 *                            big-endian unsigned integer (the SSE caught-up's {"next": N});
 *                 heartbeat  nothing (length 0).
 * No frame's length exceeds EVS_FRAME_BODY_MAX. A reader refuses a kind it does not know,
 * a length that is wrong for its kind (caught-up: not 8; heartbeat: not 0; events: below
 * the page header's 10 bytes or above EVS_FRAME_BODY_MAX), and a page that does not decode.
 *
 * Header-only and free of the projector's types: libevstore's reader (adapter/src/
 * frame_parser.h) has its own copy of these constants, and tests/unit/test_client_frames.c
 * includes both to check that they agree and that frames written here parse there.
 */
#ifndef EVS_PAGE_STREAM_H
#define EVS_PAGE_STREAM_H

#include <stddef.h>
#include <stdint.h>

/* The media type of the framing, for the Accept and Content-Type headers. Not "+avro":
 * the body as a whole is these frames, not one Avro value. */
#define EVS_PAGE_STREAM_MEDIA_TYPE "application/vnd.evstore.page-stream"

#define EVS_FRAME_EVENTS ((uint8_t)'E')
#define EVS_FRAME_CAUGHT_UP ((uint8_t)'C')
#define EVS_FRAME_HEARTBEAT ((uint8_t)'H')
#define EVS_FRAME_HEAD_LEN 5
#define EVS_FRAME_CAUGHT_UP_LEN 8
/* The largest body. The projector ends a page once its output passes 1 MiB, so a page is
 * at most 1 MiB plus one event (whose data and metadata are at most 256 + 16 KiB). */
#define EVS_FRAME_BODY_MAX (2u * 1024 * 1024)

/* Writes the head of a frame of `kind` with a body of len bytes at out. */
static inline void evs_frame_head(uint8_t out[EVS_FRAME_HEAD_LEN], uint8_t kind, uint32_t len)
{
    out[0] = kind;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

/* Writes a whole caught-up frame (EVS_FRAME_HEAD_LEN + EVS_FRAME_CAUGHT_UP_LEN bytes). */
static inline size_t evs_frame_caught_up(uint8_t out[EVS_FRAME_HEAD_LEN + EVS_FRAME_CAUGHT_UP_LEN],
                                         uint64_t next)
{
    evs_frame_head(out, EVS_FRAME_CAUGHT_UP, EVS_FRAME_CAUGHT_UP_LEN);
    for (int i = 0; i < 8; i++)
        out[EVS_FRAME_HEAD_LEN + i] = (uint8_t)(next >> (56 - 8 * i));
    return EVS_FRAME_HEAD_LEN + EVS_FRAME_CAUGHT_UP_LEN;
}

#endif /* EVS_PAGE_STREAM_H */
