/*
 * subscription.c - catch-up subscriptions (evstore.h, "Subscriptions"): a pull iterator
 * over the projector's subscription endpoints (docs/HTTP-API.md), driven by libcurl's
 * multi interface in the caller's thread; the library starts no thread.
 *
 * Two framings of the same subscription (invariant 9): the binary one (frames of Avro
 * event pages, frame_parser.h), asked for by default, and Server-Sent Events of JSON, which
 * an older projector answers, and which EVSTORE_SUBSCRIPTION_FRAMING=sse forces.
 *
 * Data flow: the response's bytes -> on_body (curl's write callback) -> the frame parser
 * (frame_parser.c) -> on_frame, which decodes each page into an event list
 * (event_page.c), or the SSE parser (sse_parser.c) -> on_sse_event -> the queue of received
 * records -> evs_subscription_next pops one event (of a page, or an SSE record whose JSON it
 * parses then) and hands it out.
 *
 * Invariants:
 *  1. Flow control. on_body refuses a piece of the response (CURL_WRITEFUNC_PAUSE: curl keeps
 *     that piece and stops reading the socket, so TCP pushes back on the projector) while the
 *     queue holds EVS_CLIENT_SUBSCRIPTION_QUEUE_EVENTS_MAX events or _QUEUE_BYTES_MAX bytes.
 *     An accepted piece is at most CURL_MAX_WRITE_SIZE (16 KiB) and completes what the
 *     parser was holding (SSE: one event, <= EVS_CLIENT_SSE_EVENT_BYTES_MAX; binary: one
 *     frame, <= EVS_FRAME_BODY_MAX bytes and the page decoder's EVS_READ_LIMIT_MAX events)
 *     plus what lies whole inside the piece, so the queue exceeds its bounds by at most
 *     that much, however slow the consumer. A pop that brings the queue down to half of
 *     both bounds resumes the transfer. A page's events count one by one as they are
 *     handed out; its bytes (the frame's) until its last event is.
 *  2. Order. The ids of received events strictly increase (anything else is EVS_EPROTOCOL;
 *     a page is checked whole before any of it is queued); last_received is the id of the
 *     newest event queued and delivered <= last_received the newest handed out. A
 *     reconnection resumes after last_received (Last-Event-ID, which the projector takes
 *     in either framing), not after delivered: what is queued is delivered from the
 *     queue, never fetched twice.
 *  3. A record's bytes are used only before anything is pushed again: next() copies an SSE
 *     event out of the queue before it resumes a paused transfer, because resuming may run
 *     on_body at once and a push may move the queue's memory. A page's event list is an
 *     allocation of its own, which the queue's moves do not touch: the record holds it
 *     until its last event is handed out, then sub->current does, until the next call.
 *  4. At most one connection (easy handle) exists, and it is in multi exactly while it
 *     exists. Between connections reconnect_at_ms says when to try again.
 *  5. A failure that ends the subscription is sticky: failed_rc and failed_message are set
 *     once and every later call returns them.
 *  6. Which projector. Every connection goes to the projector the router picks (router.h)
 *     for the subscription's partition (a stream's, or the one asked for): at open, a
 *     projector that cannot be reached or answers 503 or 421 hands over to the next
 *     candidate within the request timeout; after a lost connection the reconnection goes
 *     to another candidate when there is one, resuming after last_received there, since
 *     positions and versions are the same on every replica. Each connection of a
 *     subscription that does not start from "now" carries the client's read-your-writes
 *     token for the partition.
 *  7. Across partitions. A $all, category or type subscription opened with partition
 *     EVS_PARTITION_ALL is an owner of parts: one subscription of one partition per
 *     partition of the topic, each keeping invariants 1-6 on its own (its connection,
 *     queue, progress, failure). The owner has no connection and no queue; its multi
 *     handle holds every part's connection (the parts borrow it, shared_multi), so one
 *     poll waits for all, and a finished transfer is settled on the part whose easy handle
 *     it was (CURLOPT_PRIVATE). next() hands out the parts' events, taking the parts in
 *     turn from the one after the last that delivered, so a busy partition cannot starve
 *     the others; it reports caught-up once, when the last part has delivered its
 *     caught-up marker; it ends when every part has ended; a part's failure ends the owner
 *     (invariant 5, with the part's message, which names its partition).
 *  8. Resume positions. delivered_next is the position to resume from after what was
 *     handed out: the last event's id + 1, or the caught-up marker's next once the marker
 *     was handed out (everything before it was), whichever is higher; at open, `from` when
 *     it is a position (1 for "start"), 0 (not known) for "now".
 *  9. Framing. Each connection asks for the framings sub->framing_asked allows (Accept) and
 *     takes the answer's Content-Type as the framing of that connection (connection_framing):
 *     one the subscription did not ask for is EVS_EPROTOCOL. Both framings feed the same
 *     queue and progress, so a reconnection may change framing (another replica, an
 *     upgraded one) without losing or repeating an event.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "client_internal.h"
#include "errors.h"
#include "event_json.h"
#include "event_page.h"
#include "evstore.h"
#include "frame_parser.h"
#include "record_codec.h"
#include "position_vector.h"
#include "router.h"
#include "sse_parser.h"
#include "subscription_internal.h"

#define ERROR_BODY_MAX (64 * 1024)
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define POLL_SLICE_MS 1000

enum record_kind { RECORD_EVENT = 1, RECORD_CAUGHT_UP = 2, RECORD_PAGE = 3 };

/* How a subscription asks (framing_asked) and how a connection answers (framing). */
enum framing { FRAMING_NONE = 0, FRAMING_SSE = 1, FRAMING_BINARY = 2, FRAMING_ANY = 3 };

/* A queued record: this head, then len bytes of JSON text and a NUL, padded to 8 bytes. */
typedef struct record_head {
    uint64_t id; /* the event's id (a page's last), or the caught-up marker's next position */
    size_t len;  /* the text's length (0 for a page and a marker) */
    size_t bytes; /* what the record counts towards the byte bound */
    evs_event_list *page; /* RECORD_PAGE: the decoded page, owned by the record */
    size_t taken;         /* RECORD_PAGE: its events handed out so far */
    int kind;
} record_head;

typedef struct record_queue {
    unsigned char *buf;
    size_t start, end, cap; /* live records are buf[start..end) */
    size_t count;           /* records queued */
    size_t events;          /* events not handed out yet, the measure of the count bound */
    size_t bytes;           /* their bytes (text or frames), the measure of the byte bound */
    size_t high_count;      /* the most events and bytes ever queued at once */
    size_t high_bytes;
} record_queue;

struct evs_subscription {
    /* What and where (fixed at open). */
    evs_subscription_options options; /* options.name points to name */
    char *name;
    char *path;                         /* path and query without the starting point */
    char what[EVS_EVENT_TYPE_MAX + 64]; /* names the subscription in messages */
    int request_timeout_ms;

    /* Where (invariant 6). */
    evs_route_attempt route;
    const char *url;   /* the current projector's base URL, owned by the client's router */
    int open_rc;       /* at open: why the last projector tried refused, and its message */
    char open_message[EVS__ERROR_MAX];

    /* The connection (invariant 4). */
    CURLM *multi;
    CURL *easy;
    struct curl_slist *headers;
    char curl_error[CURL_ERROR_SIZE];
    int opening; /* evs_subscription_open is waiting for the first answer */
    int headers_done;
    long status;
    int framing_asked;   /* FRAMING_ANY, _SSE or _BINARY (invariant 9) */
    int framing;         /* the 200 answer's framing, FRAMING_NONE until then */
    int callback_failed; /* on_sse_event or on_frame refused what came (its message is set) */
    int paused;
    int got_body;             /* this connection delivered body bytes with status 200 */
    int connection_caught_up; /* this connection sent caught-up */
    int64_t last_bytes_ms;    /* when this connection last delivered bytes (or resumed) */
    char *error_body;         /* the body of a non-200 answer, at most ERROR_BODY_MAX */
    size_t error_body_len;
    int attempts; /* reconnection attempts in a row without progress */
    int64_t reconnect_at_ms;

    evs_sse_parser parser;
    evs_frame_parser frames;
    record_queue queue;

    /* Progress (invariant 2). */
    uint64_t last_received;
    uint64_t delivered;
    uint64_t resume_from; /* the caught-up marker's next, to resume from before any event */
    int caught_up_queued;
    int caught_up;           /* EVS_ECAUGHT_UP was returned */
    int ended;               /* a subscription without follow got everything */
    evs_event_list *current; /* the event last handed out */

    int failed_rc; /* invariant 5 */
    char failed_message[EVS__ERROR_MAX];

    /* Across partitions (invariant 7). */
    evs_subscription **parts;    /* the owner's parts, one per partition; NULL otherwise */
    int32_t part_count;
    int32_t turn;                /* the part the next call of next() asks first */
    evs_subscription *last_part; /* the part whose event was handed out last */
    int shared_multi;            /* a part: multi is the owner's */
    uint64_t delivered_next;     /* invariant 8 */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ends the subscription with the thread's last error as its message (invariant 5). */
static int fail_sticky(evs_subscription *sub, int rc)
{
    if (!sub->failed_rc) {
        sub->failed_rc = rc;
        snprintf(sub->failed_message, sizeof sub->failed_message, "%s", evs_last_error());
    }
    return sub->failed_rc;
}

/* ---- The record queue ---------------------------------------------------------------- */

static size_t record_size(size_t len)
{
    return (sizeof(record_head) + len + 1 + 7) & ~(size_t)7;
}

/* Queues a record: an SSE event's text, a caught-up marker (text NULL), or a page (taking
 * it; bytes its frame's length). */
static int queue_push(record_queue *q, int kind, uint64_t id, const char *text, size_t len,
                      evs_event_list *page, size_t bytes)
{
    size_t need = record_size(len);
    if (q->end + need > q->cap && q->start > 0) {
        memmove(q->buf, q->buf + q->start, q->end - q->start);
        q->end -= q->start;
        q->start = 0;
    }
    if (q->end + need > q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64 * 1024;
        while (cap < q->end + need)
            cap *= 2;
        unsigned char *grown = realloc(q->buf, cap);
        if (!grown)
            return EVS_ENOMEM;
        q->buf = grown;
        q->cap = cap;
    }
    record_head head = {.id = id, .len = len, .bytes = bytes, .page = page, .kind = kind};
    memcpy(q->buf + q->end, &head, sizeof head);
    if (len)
        memcpy(q->buf + q->end + sizeof head, text, len);
    q->buf[q->end + sizeof head + len] = '\0';
    q->end += need;
    q->count++;
    q->events += kind == RECORD_PAGE ? page->count : kind == RECORD_EVENT ? 1 : 0;
    q->bytes += bytes;
    if (q->events > q->high_count)
        q->high_count = q->events;
    if (q->bytes > q->high_bytes)
        q->high_bytes = q->bytes;
    return 0;
}

/* The oldest record (its text follows the head), or NULL when empty. */
static record_head *queue_front(const record_queue *q)
{
    return q->count ? (record_head *)(q->buf + q->start) : NULL;
}

/* Drops the front record; a page's list is the caller's to free or keep (invariant 3). */
static void queue_pop(record_queue *q)
{
    const record_head *head = queue_front(q);
    assert(head);
    q->bytes -= head->bytes;
    if (head->kind == RECORD_EVENT)
        q->events--;
    q->start += record_size(head->len);
    if (--q->count == 0)
        q->start = q->end = 0;
}

/* Frees the queue and the pages it holds. */
static void queue_free(record_queue *q)
{
    for (size_t at = q->start; at < q->end;) {
        const record_head *head = (const record_head *)(q->buf + at);
        if (head->kind == RECORD_PAGE)
            evs_event_list_free(head->page);
        at += record_size(head->len);
    }
    free(q->buf);
    memset(q, 0, sizeof *q);
}

static int queue_full(const record_queue *q)
{
    return q->events >= EVS_CLIENT_SUBSCRIPTION_QUEUE_EVENTS_MAX ||
           q->bytes >= EVS_CLIENT_SUBSCRIPTION_QUEUE_BYTES_MAX;
}

static int queue_low(const record_queue *q)
{
    return q->events <= EVS_CLIENT_SUBSCRIPTION_QUEUE_EVENTS_MAX / 2 &&
           q->bytes <= EVS_CLIENT_SUBSCRIPTION_QUEUE_BYTES_MAX / 2;
}

/* ---- Receiving ----------------------------------------------------------------------- */

/* Parses a decimal id of 1 to 20 digits; 0 on success. */
static int id_parse(const char *text, size_t len, uint64_t *out)
{
    uint64_t value = 0;
    if (len == 0 || len > 20)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        unsigned digit = (unsigned)(text[i] - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return -1;
        value = value * 10 + digit;
    }
    *out = value;
    return 0;
}

static int type_is(const evs_sse_event *event, const char *literal)
{
    return event->type_len == strlen(literal) && memcmp(event->type, literal, event->type_len) == 0;
}

/* A caught-up marker (either framing) giving where live events start. */
static int caught_up_received(evs_subscription *sub, uint64_t next_position)
{
    sub->connection_caught_up = 1;
    if (next_position > sub->resume_from)
        sub->resume_from = next_position;
    if (!sub->caught_up_queued) {
        if (queue_push(&sub->queue, RECORD_CAUGHT_UP, next_position, NULL, 0, NULL, 0) != 0)
            return evs__set_error(EVS_ENOMEM, "%s: out of memory", sub->what);
        sub->caught_up_queued = 1;
    }
    return 0;
}

/* The SSE parser's callback: queues events and the caught-up marker; ignores other types. */
static int on_sse_event(void *user, const evs_sse_event *event)
{
    evs_subscription *sub = user;
    sub->callback_failed = 1; /* until it returns 0 */
    if (type_is(event, "event")) {
        uint64_t id;
        if (id_parse(event->id, event->id_len, &id) != 0)
            return evs__set_error(EVS_EPROTOCOL,
                                  "%s: the projector sent an event with id \"%.40s\"", sub->what,
                                  event->id);
        if (id <= sub->last_received) /* invariant 2 */
            return evs__set_error(EVS_EPROTOCOL,
                                  "%s: the projector sent event %" PRIu64 " after event %" PRIu64
                                  ": out of order or repeated",
                                  sub->what, id, sub->last_received);
        if (queue_push(&sub->queue, RECORD_EVENT, id, event->data, event->data_len, NULL,
                       event->data_len) != 0)
            return evs__set_error(EVS_ENOMEM, "%s: out of memory queueing an event", sub->what);
        sub->last_received = id;
        sub->callback_failed = 0;
        return 0;
    }
    if (type_is(event, "caught-up")) {
        json_t *root = json_loadb(event->data, event->data_len, 0, NULL);
        json_t *next = json_object_get(root, "next");
        uint64_t next_position = 0;
        if (json_is_integer(next) && json_integer_value(next) > 0)
            next_position = (uint64_t)json_integer_value(next);
        json_decref(root);
        if (!root)
            return evs__set_error(EVS_EPROTOCOL, "%s: caught-up data is not JSON: %.100s",
                                  sub->what, event->data);
        int rc = caught_up_received(sub, next_position);
        if (rc != 0)
            return rc;
    }
    sub->callback_failed = 0;
    return 0;
}

/* The frame parser's callback (invariant 9): queues a page's events and the caught-up
 * marker; a heartbeat only shows the connection is alive (on_body noted the bytes). */
static int on_frame(void *user, const evs_frame *frame)
{
    evs_subscription *sub = user;
    sub->callback_failed = 1; /* until it returns 0 */
    if (frame->kind == EVS_FRAME_CAUGHT_UP) {
        int rc = caught_up_received(sub, frame->next);
        if (rc != 0)
            return rc;
    } else if (frame->kind == EVS_FRAME_EVENTS) {
        evs_event_list *page = NULL;
        int rc = evs__event_list_from_page(frame->body, frame->len, &page);
        if (rc != 0) { /* the last error names what is wrong with the page; add who sent it */
            char why[EVS__ERROR_MAX];
            snprintf(why, sizeof why, "%s", evs_last_error()); /* not formatted into itself */
            return evs__set_error(rc, "%s: %s", sub->what, why);
        }
        /* Invariant 2, for the whole page before any of it is queued. */
        uint64_t last = sub->last_received;
        for (size_t i = 0; i < page->count; i++) {
            const evs_event *e = &page->events[i];
            uint64_t id = sub->options.target == EVS_SUBSCRIBE_STREAM ? e->version : e->position;
            if (id <= last) {
                evs_event_list_free(page);
                return evs__set_error(EVS_EPROTOCOL,
                                      "%s: the projector sent event %" PRIu64
                                      " after event %" PRIu64 ": out of order or repeated",
                                      sub->what, id, last);
            }
            last = id;
        }
        if (page->count == 0) { /* nothing to hand out; the projector sends none such */
            evs_event_list_free(page);
        } else if (queue_push(&sub->queue, RECORD_PAGE, last, NULL, 0, page, frame->len) != 0) {
            evs_event_list_free(page);
            return evs__set_error(EVS_ENOMEM, "%s: out of memory queueing events", sub->what);
        }
        sub->last_received = last;
    }
    sub->callback_failed = 0;
    return 0;
}

static size_t on_body(char *bytes, size_t size, size_t nmemb, void *user)
{
    evs_subscription *sub = user;
    size_t n = size * nmemb;
    if (sub->status != 200) { /* an error answer: keep its start for the message */
        size_t room = ERROR_BODY_MAX - sub->error_body_len;
        size_t take = n < room ? n : room;
        if (!sub->error_body && !(sub->error_body = malloc(ERROR_BODY_MAX + 1)))
            return n;
        memcpy(sub->error_body + sub->error_body_len, bytes, take);
        sub->error_body_len += take;
        sub->error_body[sub->error_body_len] = '\0';
        return n;
    }
    if (queue_full(&sub->queue)) { /* invariant 1 */
        sub->paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }
    sub->got_body = 1;
    sub->last_bytes_ms = now_ms();
    sub->callback_failed = 0;
    if (sub->framing == FRAMING_BINARY) {
        int rc = evs__frame_feed(&sub->frames, bytes, n, on_frame, sub);
        if (rc != 0) {
            if (!sub->callback_failed && rc == EVS_EPROTOCOL) /* the framing's own failures */
                evs__set_error(rc, "%s: the projector sent a broken frame %s", sub->what,
                               sub->frames.error);
            else if (!sub->callback_failed)
                evs__set_error(rc, "%s: out of memory reading frames", sub->what);
            fail_sticky(sub, rc);
            return 0; /* aborts the transfer */
        }
        return n;
    }
    int rc = evs__sse_feed(&sub->parser, bytes, n, on_sse_event, sub);
    if (rc != 0) {
        if (!sub->callback_failed && rc == EVS_EPROTOCOL) /* the parser's own failures */
            evs__set_error(rc, "%s: the projector sent a line or event longer than %d bytes",
                           sub->what, EVS_CLIENT_SSE_EVENT_BYTES_MAX);
        else if (!sub->callback_failed)
            evs__set_error(rc, "%s: out of memory parsing events", sub->what);
        fail_sticky(sub, rc);
        return 0; /* aborts the transfer */
    }
    return n;
}

/* Whether a Content-Type names media_type (case does not matter; parameters may follow). */
static int media_type_is(const char *content_type, const char *media_type)
{
    size_t n = strlen(media_type);
    if (strncasecmp(content_type, media_type, n) != 0)
        return 0;
    char after = content_type[n];
    return after == '\0' || after == ';' || after == ' ' || after == '\t';
}

/* The framing a 200 answer's Content-Type says (invariant 9), FRAMING_NONE for neither. */
static int connection_framing(const char *content_type)
{
    if (!content_type)
        return FRAMING_NONE;
    if (media_type_is(content_type, EVS_PAGE_STREAM_MEDIA_TYPE))
        return FRAMING_BINARY;
    if (media_type_is(content_type, "text/event-stream"))
        return FRAMING_SSE;
    return FRAMING_NONE;
}

static size_t on_header(char *bytes, size_t size, size_t nitems, void *user)
{
    evs_subscription *sub = user;
    size_t n = size * nitems;
    if ((n == 2 && bytes[0] == '\r' && bytes[1] == '\n') || (n == 1 && bytes[0] == '\n')) {
        long status = 0;
        curl_easy_getinfo(sub->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200) { /* a 1xx block is followed by the real one */
            char *content_type = NULL;
            curl_easy_getinfo(sub->easy, CURLINFO_CONTENT_TYPE, &content_type);
            sub->framing = connection_framing(content_type) & sub->framing_asked;
            sub->status = status;
            sub->headers_done = 1;
            if (status == 200 && sub->framing)
                evs__route_done(&sub->route, EVS_ROUTE_OK); /* sticky (router.h, R1) */
            if (status == 200 && !sub->framing) {
                evs__set_error(EVS_EPROTOCOL, "%s: the projector answered %s, not %s", sub->what,
                               content_type ? content_type : "without a content type",
                               sub->framing_asked == FRAMING_SSE      ? "text/event-stream"
                               : sub->framing_asked == FRAMING_BINARY ? EVS_PAGE_STREAM_MEDIA_TYPE
                                                                      : "text/event-stream or "
                                                                        EVS_PAGE_STREAM_MEDIA_TYPE);
                fail_sticky(sub, EVS_EPROTOCOL);
                return 0; /* aborts the transfer */
            }
        }
    }
    return n;
}

/* ---- Connections --------------------------------------------------------------------- */

static void connection_close(evs_subscription *sub)
{
    if (sub->easy) {
        curl_multi_remove_handle(sub->multi, sub->easy);
        curl_easy_cleanup(sub->easy);
        sub->easy = NULL;
    }
    curl_slist_free_all(sub->headers);
    sub->headers = NULL;
    sub->paused = 0;
}

/* Starts a connection that resumes where the subscription is (invariant 2). */
static int connection_open(evs_subscription *sub)
{
    int rc;
    char from[48] = "";
    char token[96] = "";
    char last_event_id[64] = "";
    char *url = NULL;

    assert(!sub->easy);
    if (sub->last_received > 0) /* either framing: the projector takes it for both */
        snprintf(last_event_id, sizeof last_event_id, "Last-Event-ID: %" PRIu64,
                 sub->last_received);
    else if (sub->resume_from > 0)
        snprintf(from, sizeof from, "&from=%" PRIu64, sub->resume_from);
    else if (sub->options.from == EVS_FROM_NOW)
        snprintf(from, sizeof from, "&from=now");
    else if (sub->options.from != EVS_FROM_START)
        snprintf(from, sizeof from, "&from=%" PRIu64, sub->options.from);

    char value[64];
    if (strcmp(from, "&from=now") != 0 && evs__route_token(&sub->route, value, sizeof value))
        snprintf(token, sizeof token, "&token=%s", value);

    size_t url_len = strlen(sub->url) + strlen(sub->path) + strlen(from) + strlen(token) + 1;
    url = malloc(url_len);
    /* Invariant 9. The binary framing first; SSE at a lower quality for the projectors that
     * know only SSE (they ignore Accept on these routes anyway). */
    const char *accept_header =
        sub->framing_asked == FRAMING_SSE      ? "Accept: text/event-stream"
        : sub->framing_asked == FRAMING_BINARY ? "Accept: " EVS_PAGE_STREAM_MEDIA_TYPE
                                               : "Accept: " EVS_PAGE_STREAM_MEDIA_TYPE
                                                 ", text/event-stream;q=0.5";
    struct curl_slist *accept = curl_slist_append(NULL, accept_header);
    sub->headers = accept && last_event_id[0] ? curl_slist_append(accept, last_event_id) : accept;
    sub->easy = curl_easy_init();
    if (sub->headers && sub->easy &&
        evs__http_secure(sub->easy, evs__router_security(sub->route.router), &sub->headers) != 0) {
        curl_slist_free_all(sub->headers);
        sub->headers = NULL;
        accept = NULL; /* freed with the list */
    }
    if (!url || !sub->headers || !sub->easy) {
        if (!sub->headers)
            curl_slist_free_all(accept);
        rc = evs__set_error(EVS_ENOMEM, "%s: out of memory connecting", sub->what);
        goto fail;
    }
    snprintf(url, url_len, "%s%s%s%s", sub->url, sub->path, from, token);
    CURL *e = sub->easy;
    curl_easy_setopt(e, CURLOPT_URL, url); /* curl copies the URL */
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    long connect_ms = sub->request_timeout_ms < 5000 ? sub->request_timeout_ms : 5000;
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* a local service: ignore http_proxy */
    curl_easy_setopt(e, CURLOPT_USERAGENT, "libevstore/" EVS_VERSION_STRING);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, sub->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, sub);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, sub);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)sub); /* invariant 7 */
    sub->curl_error[0] = '\0';
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, sub->curl_error);
    if (curl_multi_add_handle(sub->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        sub->easy = NULL;
        rc = evs__set_error(EVS_EINTERNAL, "%s: cannot start a transfer", sub->what);
        goto fail;
    }
    evs__sse_reset(&sub->parser);
    evs__frame_reset(&sub->frames);
    sub->headers_done = 0;
    sub->status = 0;
    sub->framing = FRAMING_NONE;
    sub->paused = 0;
    sub->got_body = 0;
    sub->connection_caught_up = 0;
    sub->error_body_len = 0;
    sub->last_bytes_ms = now_ms();
    free(url);
    return 0;
fail:
    free(url);
    connection_close(sub);
    return rc;
}

static long backoff_ms(int attempt)
{
    long ms = BACKOFF_FIRST_MS;
    for (int i = 1; i < attempt && ms < BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

/* After a connection ended without ending the subscription: try again later, or give up
 * after EVS_CLIENT_SUBSCRIPTION_RETRIES_MAX attempts without progress. */
static void reconnect_later(evs_subscription *sub, int made_progress, const char *cause)
{
    if (made_progress)
        sub->attempts = 0;
    sub->attempts++;
    if (sub->attempts > EVS_CLIENT_SUBSCRIPTION_RETRIES_MAX) {
        evs__set_error(EVS_EUNAVAILABLE,
                       "%s: connection lost and %d reconnection attempts failed (last: %s); "
                       "open a new subscription from position %" PRIu64 " + 1",
                       sub->what, EVS_CLIENT_SUBSCRIPTION_RETRIES_MAX, cause, sub->delivered);
        fail_sticky(sub, EVS_EUNAVAILABLE);
        return;
    }
    sub->reconnect_at_ms = now_ms() + backoff_ms(sub->attempts);
}

/* After a connection was lost (or refused in a way another projector may not refuse):
 * tells the router, then reconnects later, to another projector when there is one
 * (invariant 6). */
static void connection_lost(evs_subscription *sub, int made_progress, evs_route_outcome outcome,
                            const char *cause)
{
    evs__route_done(&sub->route, outcome);
    reconnect_later(sub, made_progress, cause);
}

/* Chooses the projector of the next connection (invariant 6): 0 with sub->url set, or
 * EVS_EUNAVAILABLE. may_restart: when every candidate was tried since the last success,
 * start over with all of them. */
static int projector_pick(evs_subscription *sub, int may_restart)
{
    if (evs__route_next(&sub->route, &sub->url, NULL))
        return 0;
    if (may_restart) {
        evs__route_restart(&sub->route, sub->request_timeout_ms, 0);
        if (evs__route_next(&sub->route, &sub->url, NULL))
            return 0;
    }
    return evs__set_error(EVS_EUNAVAILABLE, "%s: no live projector serves it", sub->what);
}

/* 1 if an answer with this status may come out otherwise from another projector, or from
 * the same one later: 421 and 503 always, any 5xx once the subscription was accepted. */
static int status_moves_on(const evs_subscription *sub, long status)
{
    return status == 421 || status == 503 || (!sub->opening && status >= 500);
}

/* Settles a finished connection: the end of a subscription without follow, a refusal that
 * ends the subscription, or a loss to reconnect from (at open: a refusal that the next
 * projector is asked about instead, by evs_subscription_open). */
static void connection_finished(evs_subscription *sub, CURLcode result)
{
    char cause[CURL_ERROR_SIZE + 600];
    int progress = sub->got_body;
    long status = sub->headers_done ? sub->status : 0;
    evs_route_outcome outcome = EVS_ROUTE_GONE;

    if (sub->failed_rc) { /* set by a callback (a protocol error, no memory) */
        connection_close(sub);
        return;
    }
    if (result == CURLE_OK && status == 200 && sub->connection_caught_up && !sub->options.follow) {
        sub->ended = 1;
        connection_close(sub);
        return;
    }
    if (status != 0 && status != 200) {
        const char *body = sub->error_body ? sub->error_body : "";
        int rc = evs__http_error(status, body, sub->error_body_len, sub->what);
        if (!status_moves_on(sub, status)) { /* refused: retrying cannot help */
            fail_sticky(sub, rc);
            connection_close(sub);
            return;
        }
        if (sub->opening) {
            sub->open_rc = rc;
            snprintf(sub->open_message, sizeof sub->open_message, "%s", evs_last_error());
        }
        outcome = status == 421 ? EVS_ROUTE_NOT_SERVED : EVS_ROUTE_BUSY;
        snprintf(cause, sizeof cause, "HTTP %ld: %.500s", status, body);
    } else if (result == CURLE_PEER_FAILED_VERIFICATION || result == CURLE_SSL_CACERT_BADFILE) {
        /* An untrusted certificate stays untrusted: retrying cannot help. */
        evs__set_error(EVS_EAUTH,
                       "%s: projector at %.300s: TLS failed (%.300s); is its certificate "
                       "signed by the CA file given (--ca-file, EVSTORE_CA_FILE)?",
                       sub->what, sub->url,
                       sub->curl_error[0] ? sub->curl_error : curl_easy_strerror(result));
        fail_sticky(sub, EVS_EAUTH);
        connection_close(sub);
        return;
    } else if (result != CURLE_OK) {
        snprintf(cause, sizeof cause, "%s",
                 sub->curl_error[0] ? sub->curl_error : curl_easy_strerror(result));
    } else if (status == 200) {
        snprintf(cause, sizeof cause, "the projector closed the connection");
    } else {
        snprintf(cause, sizeof cause, "no answer");
    }
    connection_close(sub);
    if (sub->opening && status != 200) { /* once accepted, a drop is a drop like any other */
        evs__route_done(&sub->route, outcome);
        if (status == 0) {
            sub->open_rc = EVS_EUNAVAILABLE;
            snprintf(sub->open_message, sizeof sub->open_message,
                     "%s: projector at %.300s is unreachable (%.300s); is evstore-projector "
                     "running there?",
                     sub->what, sub->url, cause);
        }
        return; /* evs_subscription_open asks the next projector, or fails with open_rc */
    }
    connection_lost(sub, progress, outcome, cause);
}

/* One round of the transfers of owner's multi handle (its own connection, or its parts'):
 * lets curl move bytes, then settles each finished connection on its subscription. */
static void transfer_step(evs_subscription *owner)
{
    int running;
    CURLMcode mc = curl_multi_perform(owner->multi, &running);
    if (mc != CURLM_OK) {
        evs__set_error(EVS_EINTERNAL, "%s: libcurl failed: %s", owner->what,
                       curl_multi_strerror(mc));
        fail_sticky(owner, EVS_EINTERNAL);
        return;
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(owner->multi, &left)) != NULL) {
        char *private = NULL;
        if (msg->msg != CURLMSG_DONE ||
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &private) != CURLE_OK)
            continue;
        evs_subscription *sub = (evs_subscription *)private;
        if (sub && msg->easy_handle == sub->easy)
            connection_finished(sub, msg->data.result);
    }
}

/* Starts sub's next connection when it has none and its pause before reconnecting is over
 * (not when it failed or ended). */
static void reconnect_if_due(evs_subscription *sub, int64_t now)
{
    if (sub->easy || sub->failed_rc || sub->ended || now < sub->reconnect_at_ms)
        return;
    /* A fresh budget; the projectors tried since the last success come last. */
    evs__route_restart(&sub->route, sub->request_timeout_ms, 1);
    if (projector_pick(sub, 1) != 0) { /* nobody to ask: counts as a failed attempt */
        char cause[EVS__ERROR_MAX];
        snprintf(cause, sizeof cause, "%s", evs_last_error());
        reconnect_later(sub, 0, cause);
        return;
    }
    int rc = connection_open(sub);
    if (rc != 0)
        fail_sticky(sub, rc);
}

/* 1 when next() has something to report at once: a failure, a queued record, or the end
 * of every one of subs[0..n). */
static int has_news(const evs_subscription *owner, evs_subscription *const *subs, int32_t n)
{
    int ended = 1;
    if (owner->failed_rc)
        return 1;
    for (int32_t k = 0; k < n; k++) {
        if (subs[k]->failed_rc || subs[k]->queue.count)
            return 1;
        ended &= subs[k]->ended;
    }
    return ended;
}

/* Drives the connections of subs[0..n) (the subscription itself, or an owner's parts, all
 * in owner's multi handle) once: (re)connects those due, moves bytes, and waits at most
 * until deadline_ms for more, or for the first reconnection or idle deadline. Returns
 * after any progress, a state change, or the wait. */
static void pump(evs_subscription *owner, evs_subscription *const *subs, int32_t n,
                 int64_t deadline_ms)
{
    int64_t now = now_ms();
    for (int32_t k = 0; k < n; k++)
        reconnect_if_due(subs[k], now);
    transfer_step(owner);
    if (has_news(owner, subs, n))
        return;
    now = now_ms();
    int64_t wake = deadline_ms;
    for (int32_t k = 0; k < n; k++) {
        evs_subscription *sub = subs[k];
        if (sub->failed_rc || sub->ended)
            continue;
        if (!sub->easy) {
            if (sub->reconnect_at_ms < wake)
                wake = sub->reconnect_at_ms;
            continue;
        }
        if (sub->paused) /* its queue is full: nothing to wait for from it */
            continue;
        int64_t idle_deadline = sub->last_bytes_ms + EVS_CLIENT_SUBSCRIPTION_IDLE_MS;
        if (now >= idle_deadline) {
            int progress = sub->got_body;
            connection_close(sub);
            char cause[96];
            snprintf(cause, sizeof cause, "nothing received for %d ms, not even a heartbeat",
                     EVS_CLIENT_SUBSCRIPTION_IDLE_MS);
            connection_lost(sub, progress, EVS_ROUTE_GONE, cause);
            return;
        }
        if (idle_deadline < wake)
            wake = idle_deadline;
    }
    int64_t wait = wake - now;
    if (wait > POLL_SLICE_MS)
        wait = POLL_SLICE_MS;
    if (wait > 0)
        curl_multi_poll(owner->multi, NULL, 0, (int)wait, NULL);
    transfer_step(owner);
}

/* ---- The public API ------------------------------------------------------------------ */

void evs_subscription_options_init(evs_subscription_options *options)
{
    memset(options, 0, sizeof *options);
    options->target = EVS_SUBSCRIBE_ALL;
    options->from = EVS_FROM_START;
    options->follow = 1;
}

/* The framings to ask for (invariant 9): EVSTORE_SUBSCRIPTION_FRAMING says "sse" (only
 * Server-Sent Events, as libevstore before the binary framing asked), "binary" (only the
 * binary framing: a projector answering SSE is EVS_EPROTOCOL), or "auto", empty or unset
 * (the binary framing, else SSE). 0, or EVS_EINVAL for another value. */
static int framing_from_environment(int *asked)
{
    const char *v = getenv("EVSTORE_SUBSCRIPTION_FRAMING");
    if (!v || !*v || strcmp(v, "auto") == 0)
        *asked = FRAMING_ANY;
    else if (strcmp(v, "sse") == 0)
        *asked = FRAMING_SSE;
    else if (strcmp(v, "binary") == 0)
        *asked = FRAMING_BINARY;
    else
        return evs__set_error(EVS_EINVAL,
                              "subscription: EVSTORE_SUBSCRIPTION_FRAMING is \"%.40s\"; use "
                              "auto, binary or sse",
                              v);
    return 0;
}

/* Checks the options and builds the path and the description; 0 or EVS_EINVAL/ENOMEM. */
static int subscription_prepare(evs_subscription *sub, const evs_subscription_options *options)
{
    const char *name = options->name;
    size_t len = name ? strlen(name) : 0;
    const char *follow = options->follow ? "true" : "false";
    char escaped[3 * EVS_EVENT_TYPE_MAX + 1];
    char path[sizeof escaped + 128];
    _Static_assert(EVS_STREAM_NAME_MAX <= EVS_EVENT_TYPE_MAX, "escaped must hold a stream name");

    int rc = framing_from_environment(&sub->framing_asked);
    if (rc != 0)
        return rc;
    if (options->partition < 0 && options->target != EVS_SUBSCRIBE_STREAM)
        return evs__set_error(EVS_EINVAL,
                              "subscription: partition %" PRId32 " is neither a partition nor "
                              "EVS_PARTITION_ALL",
                              options->partition);
    switch (options->target) {
    case EVS_SUBSCRIBE_ALL:
        snprintf(sub->what, sizeof sub->what, "subscription to $all of partition %" PRId32,
                 options->partition);
        snprintf(path, sizeof path,
                 "/subscriptions/all?partition=%" PRId32 "&follow=%s&encoding=base64",
                 options->partition, follow);
        break;
    case EVS_SUBSCRIBE_STREAM:
        if (!name || !evs_stream_name_valid(name, len))
            return evs__set_error(EVS_EINVAL,
                                  "subscription: invalid stream name \"%.*s\": use 1 to %d "
                                  "characters of A-Z a-z 0-9 _ . : @ -, not starting with '$'",
                                  EVS_STREAM_NAME_MAX, name ? name : "", EVS_STREAM_NAME_MAX);
        evs__url_segment_escape(name, escaped);
        snprintf(sub->what, sizeof sub->what, "subscription to stream %s", name);
        snprintf(path, sizeof path, "/subscriptions/streams/%s?follow=%s&encoding=base64", escaped,
                 follow);
        break;
    case EVS_SUBSCRIBE_CATEGORY:
        if (!name || !evs_stream_name_valid(name, len) || memchr(name, '-', len))
            return evs__set_error(EVS_EINVAL,
                                  "subscription: invalid category \"%.*s\": use 1 to %d "
                                  "characters of A-Z a-z 0-9 _ . : @, not starting with '$' "
                                  "(a category has no '-')",
                                  EVS_STREAM_NAME_MAX, name ? name : "", EVS_STREAM_NAME_MAX);
        evs__url_segment_escape(name, escaped);
        snprintf(sub->what, sizeof sub->what, "subscription to category %s of partition %" PRId32,
                 name, options->partition);
        snprintf(path, sizeof path,
                 "/subscriptions/categories/%s?partition=%" PRId32 "&follow=%s&encoding=base64",
                 escaped, options->partition, follow);
        break;
    case EVS_SUBSCRIBE_TYPE:
        if (!name || !evs_event_type_valid(name, len))
            return evs__set_error(EVS_EINVAL,
                                  "subscription: invalid event type \"%.*s\": use 1 to %d "
                                  "characters of A-Z a-z 0-9 _ . : @ / -",
                                  EVS_EVENT_TYPE_MAX, name ? name : "", EVS_EVENT_TYPE_MAX);
        evs__url_segment_escape(name, escaped);
        snprintf(sub->what, sizeof sub->what, "subscription to event type %s of partition %" PRId32,
                 name, options->partition);
        snprintf(path, sizeof path,
                 "/subscriptions/types/%s?partition=%" PRId32 "&follow=%s&encoding=base64", escaped,
                 options->partition, follow);
        break;
    default:
        return evs__set_error(EVS_EINVAL, "subscription: invalid target %d", (int)options->target);
    }
    sub->options = *options;
    sub->options.follow = options->follow ? 1 : 0;
    sub->options.name = NULL;
    sub->options.from_positions = NULL; /* not the subscription's to keep: applied at open */
    sub->delivered_next = options->from == EVS_FROM_START ? 1
                          : options->from == EVS_FROM_NOW ? 0
                                                          : options->from; /* invariant 8 */
    if (options->target != EVS_SUBSCRIBE_ALL) {
        if (!(sub->name = strdup(name)))
            return evs__set_error(EVS_ENOMEM, "out of memory opening a subscription");
        sub->options.name = sub->name;
    }
    if (!(sub->path = strdup(path)))
        return evs__set_error(EVS_ENOMEM, "out of memory opening a subscription");
    return 0;
}

/* Opens a subscription of one partition (or a stream) and waits until a projector accepted
 * it (evs_subscription_open). owner NULL: it gets a multi handle of its own; else it is a
 * part of owner and its connections go into owner's multi handle (invariant 7). */
static int subscription_open_one(evs_client *client, const evs_subscription_options *options,
                                 evs_subscription *owner, evs_subscription **out)
{
    int rc;
    evs_subscription *sub = NULL;

    *out = NULL;
    sub = calloc(1, sizeof *sub);
    if (!sub)
        return evs__set_error(EVS_ENOMEM, "out of memory opening a subscription");
    evs__sse_init(&sub->parser, EVS_CLIENT_SSE_EVENT_BYTES_MAX);
    evs__frame_init(&sub->frames, EVS_FRAME_BODY_MAX);
    if ((rc = subscription_prepare(sub, options)) != 0)
        goto fail;
    sub->request_timeout_ms = evs__client_request_timeout_ms(client);
    sub->shared_multi = owner != NULL;
    sub->multi = owner ? owner->multi : curl_multi_init();
    if (!sub->multi) {
        rc = evs__set_error(EVS_ENOMEM, "out of memory opening a subscription");
        goto fail;
    }
    if (!owner)
        owner = sub;
    evs__route_begin(&sub->route, evs__client_router(client), sub->options.partition,
                     sub->options.target == EVS_SUBSCRIBE_STREAM ? sub->name : NULL,
                     sub->request_timeout_ms);

    /* Wait for a projector's answer so that a refusal is reported here. */
    sub->opening = 1;
    if ((rc = projector_pick(sub, 0)) != 0 || (rc = connection_open(sub)) != 0)
        goto fail;
    int64_t deadline = now_ms() + sub->request_timeout_ms;
    for (;;) {
        /* Accepted: what follows (events, even an error or a drop) is for next() to report,
         * after the events received before it. */
        if (sub->headers_done && sub->status == 200 && sub->framing)
            break;
        if (sub->failed_rc || owner->failed_rc) {
            rc = sub->failed_rc ? evs__set_error(sub->failed_rc, "%s", sub->failed_message)
                                : evs__set_error(owner->failed_rc, "%s", owner->failed_message);
            goto fail;
        }
        if (!sub->easy) { /* refused or unreachable: the next projector, if any (inv. 6) */
            if (projector_pick(sub, 0) != 0) {
                rc = evs__set_error(sub->open_rc ? sub->open_rc : EVS_EUNAVAILABLE, "%s",
                                    sub->open_message);
                goto fail;
            }
            if ((rc = connection_open(sub)) != 0)
                goto fail;
            continue;
        }
        if (now_ms() >= deadline) {
            rc = evs__set_error(EVS_ETIMEOUT, "%s: projector at %s did not answer within %d ms",
                                sub->what, sub->url, sub->request_timeout_ms);
            goto fail;
        }
        int wait = (int)(deadline - now_ms());
        curl_multi_poll(sub->multi, NULL, 0, wait < POLL_SLICE_MS ? wait : POLL_SLICE_MS, NULL);
        transfer_step(owner);
    }
    sub->opening = 0;
    *out = sub;
    return 0;
fail:
    evs_subscription_close(sub);
    return rc;
}

/* Opens an owner and one part per partition of the topic (invariant 7). */
static int subscription_open_across(evs_client *client, const evs_subscription_options *options,
                                    evs_subscription **out)
{
    int rc;
    int32_t partitions;
    evs_subscription_options first = *options;
    evs_subscription *owner = calloc(1, sizeof *owner);

    if (!owner)
        return evs__set_error(EVS_ENOMEM, "out of memory opening a subscription");
    /* The options are checked as those of the first part would be, before asking anyone. */
    first.partition = 0;
    if ((rc = subscription_prepare(owner, &first)) != 0)
        goto fail;
    owner->options.partition = EVS_PARTITION_ALL;
    snprintf(owner->what, sizeof owner->what, "subscription to %s%.*s of every partition",
             options->target == EVS_SUBSCRIBE_ALL        ? "$all"
             : options->target == EVS_SUBSCRIBE_CATEGORY ? "category "
                                                         : "event type ",
             EVS_EVENT_TYPE_MAX, owner->name ? owner->name : "");
    if ((rc = evs_client_partitions(client, &partitions)) != 0)
        goto fail;
    const evs_position_vector *from_positions = options->from_positions;
    if ((rc = evs__position_vector_check(from_positions, partitions, owner->what)) != 0)
        goto fail;
    owner->multi = curl_multi_init();
    owner->parts = calloc((size_t)partitions, sizeof *owner->parts);
    if (!owner->multi || !owner->parts) {
        rc = evs__set_error(EVS_ENOMEM, "out of memory opening a subscription");
        goto fail;
    }
    for (int32_t p = 0; p < partitions; p++) {
        evs_subscription_options part = *options;
        part.partition = p;
        part.from_positions = NULL;
        if (evs__position_vector_get(from_positions, p) > 0)
            part.from = evs__position_vector_get(from_positions, p);
        if ((rc = subscription_open_one(client, &part, owner, &owner->parts[p])) != 0)
            goto fail;
        owner->part_count = p + 1;
    }
    *out = owner;
    return 0;
fail:
    evs_subscription_close(owner);
    return rc;
}

int evs_subscription_open(evs_client *client, const evs_subscription_options *options,
                          evs_subscription **out)
{
    int rc;

    if (!out)
        return evs__set_error(EVS_EINVAL, "evs_subscription_open: out is NULL");
    *out = NULL;
    if (!client || !options)
        return evs__set_error(EVS_EINVAL, "evs_subscription_open: %s is NULL",
                              client ? "options" : "client");
    if (options->target != EVS_SUBSCRIBE_STREAM && options->partition == EVS_PARTITION_ALL) {
        rc = subscription_open_across(client, options, out);
    } else {
        evs_subscription_options one = *options;
        one.from_positions = NULL;
        uint64_t from = evs__position_vector_get(options->from_positions, options->partition);
        if (options->target != EVS_SUBSCRIBE_STREAM && from > 0)
            one.from = from;
        rc = subscription_open_one(client, &one, NULL, out);
    }
    if (rc == 0)
        evs__clear_error();
    return rc;
}

/* Resumes a paused transfer once the queue is down to half its bounds (invariant 1). */
static void resume_if_low(evs_subscription *sub)
{
    if (sub->paused && sub->easy && queue_low(&sub->queue)) {
        sub->paused = 0;
        sub->last_bytes_ms = now_ms();
        curl_easy_pause(sub->easy, CURLPAUSE_CONT); /* may run on_body at once */
    }
}

/* Hands out the next event of the page at the front of the queue (invariant 3). */
static int deliver_from_page(evs_subscription *sub, record_head *head, evs_event **event_out)
{
    evs_event_list *page = head->page;
    evs_event *event = &page->events[head->taken++];
    sub->queue.events--;
    if (head->taken == page->count) {
        queue_pop(&sub->queue); /* head is gone: the list is sub->current's until next() */
        sub->current = page;
    }
    resume_if_low(sub);
    uint64_t id = sub->options.target == EVS_SUBSCRIBE_STREAM ? event->version : event->position;
    sub->delivered = id;
    sub->delivered_next = id + 1; /* invariant 8 */
    *event_out = event;
    return 0;
}

/* Hands out the front record: 0 with an event, EVS_ECAUGHT_UP, or 1 for "skip it". */
static int deliver_front(evs_subscription *sub, evs_event **event_out)
{
    record_head *head = queue_front(&sub->queue);
    if (head->kind == RECORD_PAGE)
        return deliver_from_page(sub, head, event_out);
    int kind = head->kind;
    uint64_t id = head->id;
    int rc = 0;
    if (kind == RECORD_EVENT) {
        const char *text = (const char *)(head + 1);
        rc = evs__event_from_json(text, head->len, &sub->current); /* invariant 3: a copy */
        if (rc == 0) {
            evs_event *event = &sub->current->events[0];
            uint64_t expected =
                sub->options.target == EVS_SUBSCRIBE_STREAM ? event->version : event->position;
            if (expected != id)
                rc = evs__set_error(
                    EVS_EPROTOCOL, "%s: event id %" PRIu64 " is not the event's %s %" PRIu64,
                    sub->what, id,
                    sub->options.target == EVS_SUBSCRIBE_STREAM ? "version" : "position", expected);
        }
    }
    queue_pop(&sub->queue);
    resume_if_low(sub);
    if (rc != 0) {
        evs_event_list_free(sub->current);
        sub->current = NULL;
        return fail_sticky(sub, rc);
    }
    if (kind == RECORD_EVENT) {
        sub->delivered = id;
        sub->delivered_next = id + 1; /* invariant 8: ids increase (invariant 2) */
        *event_out = &sub->current->events[0];
        return 0;
    }
    if (kind == RECORD_CAUGHT_UP && id > sub->delivered_next)
        sub->delivered_next = id; /* every event before the marker was handed out */
    if (kind == RECORD_CAUGHT_UP && !sub->caught_up) {
        sub->caught_up = 1;
        evs__set_error(EVS_ECAUGHT_UP, "%s has delivered its history", sub->what);
        return EVS_ECAUGHT_UP;
    }
    return 1;
}

/* 1 once every part of owner has handed out its caught-up marker. */
static int parts_caught_up(const evs_subscription *owner)
{
    for (int32_t k = 0; k < owner->part_count; k++)
        if (!owner->parts[k]->caught_up)
            return 0;
    return 1;
}

/* evs_subscription_next of an owner (invariant 7). */
static int next_across(evs_subscription *owner, int64_t deadline, int timeout_ms,
                       evs_event **event_out)
{
    if (owner->last_part) { /* the event handed out last is no longer the caller's */
        evs_event_list_free(owner->last_part->current);
        owner->last_part->current = NULL;
        owner->last_part = NULL;
    }
    int waited = 0;
    for (;;) {
        if (owner->failed_rc)
            return evs__set_error(owner->failed_rc, "%s", owner->failed_message);
        int ended = 1;
        for (int32_t k = 0; k < owner->part_count; k++) {
            int32_t i = (owner->turn + k) % owner->part_count;
            evs_subscription *part = owner->parts[i];
            while (part->queue.count && !part->failed_rc) {
                int rc = deliver_front(part, event_out);
                if (rc == 0) {
                    owner->turn = (i + 1) % owner->part_count;
                    owner->last_part = part;
                    owner->delivered = part->delivered;
                    return 0;
                }
                if (rc == EVS_ECAUGHT_UP && parts_caught_up(owner)) {
                    owner->caught_up = 1;
                    return evs__set_error(EVS_ECAUGHT_UP, "%s has delivered its history",
                                          owner->what);
                }
            }
            if (part->failed_rc) { /* invariant 5, with the part's message */
                evs__set_error(part->failed_rc, "%s", part->failed_message);
                return fail_sticky(owner, part->failed_rc);
            }
            ended &= part->ended;
        }
        if (ended) {
            owner->ended = 1;
            return evs__set_error(EVS_EEND, "%s has ended: every event was delivered",
                                  owner->what);
        }
        if (waited && now_ms() >= deadline)
            return evs__set_error(EVS_ETIMEOUT, "%s: no event within %d ms", owner->what,
                                  timeout_ms);
        pump(owner, owner->parts, owner->part_count, deadline);
        waited = 1;
    }
}

int evs_subscription_next(evs_subscription *sub, int timeout_ms, evs_event **event_out)
{
    if (!event_out)
        return evs__set_error(EVS_EINVAL, "evs_subscription_next: event_out is NULL");
    *event_out = NULL;
    if (!sub)
        return evs__set_error(EVS_EINVAL, "evs_subscription_next: subscription is NULL");
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;
    if (sub->parts)
        return next_across(sub, deadline, timeout_ms, event_out);
    evs_event_list_free(sub->current);
    sub->current = NULL;

    int waited = 0;
    for (;;) {
        if (sub->queue.count) {
            int rc = deliver_front(sub, event_out);
            if (rc <= 0)
                return rc;
            continue;
        }
        if (sub->failed_rc)
            return evs__set_error(sub->failed_rc, "%s", sub->failed_message);
        if (sub->ended)
            return evs__set_error(EVS_EEND, "%s has ended: every event was delivered", sub->what);
        if (waited && now_ms() >= deadline)
            return evs__set_error(EVS_ETIMEOUT, "%s: no event within %d ms", sub->what, timeout_ms);
        pump(sub, &sub, 1, deadline);
        waited = 1;
    }
}

uint64_t evs_subscription_position(const evs_subscription *sub)
{
    return sub ? sub->delivered : 0;
}

int evs_subscription_caught_up(const evs_subscription *sub)
{
    return sub ? sub->caught_up : 0;
}

int evs_subscription_positions(const evs_subscription *sub, evs_position_vector *out)
{
    int rc;
    if (!out)
        return evs__set_error(EVS_EINVAL, "evs_subscription_positions: out is NULL");
    out->positions = NULL;
    out->count = 0;
    if (!sub)
        return evs__set_error(EVS_EINVAL, "evs_subscription_positions: subscription is NULL");
    if (sub->options.target == EVS_SUBSCRIBE_STREAM)
        return evs__set_error(EVS_EINVAL, "%s counts versions, not positions of partitions: "
                              "resume it from evs_subscription_position() + 1", sub->what);
    if (sub->parts) {
        if ((rc = evs__position_vector_resize(out, sub->part_count)) != 0)
            return rc;
        for (int32_t p = 0; p < sub->part_count; p++)
            out->positions[p] = sub->parts[p]->delivered_next;
        return 0;
    }
    if ((rc = evs__position_vector_resize(out, sub->options.partition + 1)) != 0)
        return rc;
    out->positions[sub->options.partition] = sub->delivered_next;
    return 0;
}

size_t evs__subscription_queue_high_water(const evs_subscription *sub, size_t *bytes)
{
    if (bytes)
        *bytes = sub->queue.high_bytes;
    return sub->queue.high_count;
}

void evs_subscription_close(evs_subscription *sub)
{
    if (!sub)
        return;
    for (int32_t k = 0; k < sub->part_count; k++) /* before the multi handle they use */
        evs_subscription_close(sub->parts[k]);
    free(sub->parts);
    connection_close(sub);
    if (sub->multi && !sub->shared_multi)
        curl_multi_cleanup(sub->multi);
    evs__sse_free(&sub->parser);
    evs__frame_free(&sub->frames);
    evs_event_list_free(sub->current);
    queue_free(&sub->queue);
    free(sub->error_body);
    free(sub->path);
    free(sub->name);
    free(sub);
}
