/*
 * frame_parser.h - an incremental parser of a subscription's binary framing (media type
 * application/vnd.evstore.page-stream; docs/HTTP-API.md, "Subscriptions", "The binary
 * framing"), as the projector sends it instead of Server-Sent Events when asked.
 *
 * The body is a sequence of frames: one kind byte, a 4-byte big-endian body length, then
 * the body:
 *   'E' events     an EventPage (schemas/page_codec.h), 10 .. EVS_FRAME_BODY_MAX bytes
 *   'C' caught-up  8 bytes: the big-endian position live events start at (1 .. 2^63-1)
 *   'H' heartbeat  0 bytes
 * The parser is fed the bytes of a response in pieces of any size, split anywhere, and
 * calls back once per complete frame. It checks the framing only (kinds, lengths, the
 * caught-up position); the page inside an events frame is the caller's to decode. It does
 * no I/O, so the unit tests drive it byte by byte without a server.
 *
 * Invariants:
 *  F1. A frame's head is checked as soon as its 5 bytes are in, before any of its body is
 *      kept: an unknown kind or a length wrong for its kind fails at once, so no length
 *      read from the wire sizes an allocation beyond EVS_FRAME_BODY_MAX.
 *  F2. A frame that lies whole inside one piece is handed out in place, without copying;
 *      only a frame split across pieces is gathered into body.
 *  F3. After a failure the parser stays failed (every feed returns EVS_EPROTOCOL) until it
 *      is reset.
 */
#ifndef EVS_FRAME_PARSER_H
#define EVS_FRAME_PARSER_H

#include <stddef.h>
#include <stdint.h>

/* The media type the projector names the framing by (Accept and Content-Type). */
#define EVS_PAGE_STREAM_MEDIA_TYPE "application/vnd.evstore.page-stream"

#define EVS_FRAME_EVENTS ((uint8_t)'E')
#define EVS_FRAME_CAUGHT_UP ((uint8_t)'C')
#define EVS_FRAME_HEARTBEAT ((uint8_t)'H')
#define EVS_FRAME_HEAD_LEN 5
#define EVS_FRAME_CAUGHT_UP_LEN 8
/* The shortest events body: the page's single-object header. */
#define EVS_FRAME_EVENTS_MIN 10
/* The largest body a reader accepts (the projector sends at most about 1.3 MiB). */
#define EVS_FRAME_BODY_MAX (2u * 1024 * 1024)

/* One complete frame. body is the parser's or the piece's, valid during the callback only. */
typedef struct evs_frame {
    uint8_t kind;
    const uint8_t *body;
    size_t len;
    uint64_t next; /* a caught-up frame's position; 0 for the others */
} evs_frame;

/* Called once per frame. Return 0 to go on, anything else to stop: evs__frame_feed returns
 * that value at once, leaving the rest of its input unread. */
typedef int (*evs_frame_callback)(void *user, const evs_frame *frame);

typedef struct evs_frame_parser {
    size_t max_body;
    uint8_t head[EVS_FRAME_HEAD_LEN];
    size_t head_len;  /* bytes of the current head received */
    size_t body_need; /* the current frame's body length, once its head is in */
    uint8_t *body;    /* a split frame's body gathered so far (F2) */
    size_t body_len, body_cap;
    uint64_t offset;     /* bytes consumed since the last reset: where a failure is */
    int failed;          /* F3 */
    char error[160];     /* what failed, for the caller's message */
    unsigned long frames;     /* frames handed out */
    unsigned long heartbeats; /* of which heartbeats */
} evs_frame_parser;

/* Initialises a parser that accepts bodies up to max_body (at most EVS_FRAME_BODY_MAX). */
void evs__frame_init(evs_frame_parser *parser, size_t max_body);

/* Forgets any partial frame and a failure (a new connection starts), keeping the counters
 * and the body buffer's memory. */
void evs__frame_reset(evs_frame_parser *parser);

/* Frees the parser's buffer. */
void evs__frame_free(evs_frame_parser *parser);

/* Parses bytes[0..len), calling callback for every frame completed. Returns 0; a nonzero
 * value the callback returned; EVS_EPROTOCOL when the framing is broken (parser->error
 * names the problem and its byte offset); or EVS_ENOMEM. Does not set the thread's last
 * error (the caller names the connection). */
int evs__frame_feed(evs_frame_parser *parser, const char *bytes, size_t len,
                    evs_frame_callback callback, void *user);

#endif /* EVS_FRAME_PARSER_H */
