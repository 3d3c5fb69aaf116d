/*
 * sse_parser.h - an incremental parser of Server-Sent Events (the text/event-stream format
 * of the WHATWG HTML standard, section "Server-sent events"), as the projector's
 * subscription endpoints send them (docs/HTTP-API.md, "Subscriptions").
 *
 * The parser is fed the bytes of a response in pieces of any size, split anywhere (inside a
 * line, between a CR and its LF), and calls back once per complete event. It does no I/O,
 * so the unit tests drive it byte by byte without a server.
 *
 * What it implements of the standard:
 *  - lines end with CRLF, LF or CR; a leading UTF-8 byte order mark is dropped;
 *  - a line starting with ':' is a comment (the projector's heartbeat) and is counted;
 *  - "field: value" and "field:value" (one space after the colon is dropped), and a line
 *    without a colon is a field with an empty value;
 *  - event sets the type, data appends its value and a LF to the data buffer, id sets the
 *    last event id (persisting across events; ignored if it contains NUL), retry sets the
 *    reconnection time when it is all digits; other fields are ignored;
 *  - an empty line dispatches the event when the data buffer is not empty (the trailing LF
 *    removed; the type defaults to "message"), then resets the type and the data buffer.
 * Limits: a line, the data buffer and the type are each bounded by the max_event_bytes given
 * at init; anything longer makes evs__sse_feed fail rather than grow.
 */
#ifndef EVS_SSE_PARSER_H
#define EVS_SSE_PARSER_H

#include <stddef.h>

/* One dispatched event. Every pointer is owned by the parser and valid during the callback
 * only; each string is also NUL-terminated (not counted in its length). */
typedef struct evs_sse_event {
    const char *type; /* "message" unless an event field said otherwise */
    size_t type_len;
    const char *data; /* the data lines joined by LF */
    size_t data_len;
    const char *id; /* the last event id so far ("" if none was ever set) */
    size_t id_len;
} evs_sse_event;

/* Called once per event. Return 0 to go on, anything else to stop: evs__sse_feed returns
 * that value at once, leaving the rest of its input unread. */
typedef int (*evs_sse_callback)(void *user, const evs_sse_event *event);

/* Growable text that never exceeds the parser's bound. */
typedef struct evs_sse_text {
    char *bytes;
    size_t len;
    size_t cap;
} evs_sse_text;

typedef struct evs_sse_parser {
    size_t max_event_bytes;
    evs_sse_text line;      /* the current incomplete line */
    evs_sse_text data;      /* the data buffer of the current event */
    evs_sse_text type;      /* the event type buffer of the current event */
    evs_sse_text last_id;   /* the last event id */
    int after_cr;           /* the previous byte was CR: an LF right after it ends nothing */
    int first_line;         /* no line has been completed yet (for the byte order mark) */
    long retry_ms;          /* the last valid retry field, or -1 */
    unsigned long comments; /* comment lines seen */
    unsigned long events;   /* events dispatched */
} evs_sse_parser;

/* Initialises a parser that accepts lines and events up to max_event_bytes. */
void evs__sse_init(evs_sse_parser *parser, size_t max_event_bytes);

/* Forgets any partial line and event (a new connection starts), keeping the last event id,
 * the retry time, the counters and the buffers' memory. */
void evs__sse_reset(evs_sse_parser *parser);

/* Frees the parser's buffers. */
void evs__sse_free(evs_sse_parser *parser);

/* Parses bytes[0..len), calling callback for every event completed. Returns 0; a nonzero
 * value the callback returned; EVS_EPROTOCOL if a line or an event is longer than
 * max_event_bytes; or EVS_ENOMEM. After a failure the parser must be reset before it is fed
 * again. Does not set the thread's last error (the caller names the connection). */
int evs__sse_feed(evs_sse_parser *parser, const char *bytes, size_t len, evs_sse_callback callback,
                  void *user);

#endif /* EVS_SSE_PARSER_H */
