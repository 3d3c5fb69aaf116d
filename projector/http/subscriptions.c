/*
 * subscriptions.c - catch-up subscriptions (docs/HTTP-API.md, "Subscriptions"), sent as
 * Server-Sent Events of JSON, or as binary frames of event pages (http/page_stream.h) to a
 * request whose Accept header names EVS_PAGE_STREAM_MEDIA_TYPE.
 *
 * A subscription is a cursor (the next position, or version for a stream) and nothing
 * else: every event it delivers is read from the store, in the store's order. History and
 * live events go through the same path, so the switch between them can neither skip nor
 * repeat an event, and a subscriber that falls behind just reads further back. When the
 * cursor reaches the end it waits for the consumer thread's next commit (p->commits).
 *
 * Invariants:
 *  U1. The cursor only moves past an event after the event is in the output buffer.
 *  U2. At most one page (SUBSCRIPTION_PAGE_EVENTS events, or SUBSCRIPTION_PAGE_BYTES of
 *      output, whichever comes first) is buffered per subscriber; libmicrohttpd asks for
 *      more only when the socket takes it, so a stalled subscriber costs one page.
 *  U3. The framing only changes how a page is written: both read the same pages through
 *      the same cursor (read_page), so they deliver the same events, caught-up position
 *      and end. In the binary framing a page read is one events frame: its head (in
 *      s->head) is sent first, then the page (s->page).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http_util.h"
#include "http/page_stream.h"
#include "http/subscriptions.h"
#include "keys/keyring.h"
#include "page_codec.h"

#define SUBSCRIPTION_PAGE_EVENTS 1000
#define SUBSCRIPTION_PAGE_BYTES (1u << 20)
#define SUBSCRIPTION_HEARTBEAT_MS 10000
/* An event's page encoding: its data and metadata, its strings, and 200 bytes of lengths,
 * flags and numbers. A page is at most SUBSCRIPTION_PAGE_BYTES plus one event. */
#define SUBSCRIPTION_EVENT_MAX_BYTES                                                           \
    (EVS_EVENT_DATA_MAX + EVS_EVENT_METADATA_MAX + 36 + 2 * EVS_STREAM_NAME_MAX +            \
     EVS_EVENT_TYPE_MAX + EVS_CONTENT_TYPE_MAX + 2 * EVS_CORRELATION_ID_MAX + 200)
_Static_assert(SUBSCRIPTION_PAGE_BYTES + SUBSCRIPTION_EVENT_MAX_BYTES + EVS_RECORD_HEADER_LEN +
                       64 <=
                   EVS_FRAME_BODY_MAX,
               "an events frame must stay within the framing's limit");

typedef enum target_kind { TARGET_ALL, TARGET_STREAM, TARGET_CATEGORY, TARGET_TYPE } target_kind;

typedef struct subscription {
    evs_projector *p;
    target_kind kind;
    char name[EVS_STREAM_NAME_MAX > EVS_EVENT_TYPE_MAX ? EVS_STREAM_NAME_MAX + 1
                                                       : EVS_EVENT_TYPE_MAX + 1];
    size_t name_len;
    int32_t partition;
    uint64_t next;        /* the next position (version for a stream) to deliver */
    int follow;
    int base64;
    int binary;           /* the binary framing (http/page_stream.h), else SSE */
    int caught_up_sent;
    int finished;         /* nothing more to send after the buffer */
    evs_out buf;          /* SSE: a page of SSE text */
    size_t sent;          /* how much of buf (SSE) or page (binary) the socket has taken */
    size_t page_events;
    evs_out event;        /* SSE scratch: one event object */
    /* The binary framing (U3): the head of the frame being sent, then its page, if any. */
    uint8_t head[EVS_FRAME_HEAD_LEN + EVS_FRAME_CAUGHT_UP_LEN];
    size_t head_len, head_sent;
    evs_buf page;            /* an EventPage, the body of an events frame */
    evs_page_encoder enc;
    evs_reveal_buf reveal;   /* personal data opened for the page; wiped after each page */
    int oom;
} subscription;

/* Appends one SSE message whose data is json. A JSON text never has a raw CR or LF inside a
 * string, only as whitespace between tokens, so each line of it becomes a "data:" line and
 * the reader's joining them with LF keeps the same JSON value. */
static void sse_message(evs_out *o, uint64_t id, const char *type, const char *json, size_t n)
{
    if (id)
        evs_out_fmt(o, "id: %llu\n", (unsigned long long)id);
    evs_out_fmt(o, "event: %s\ndata: ", type);
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (json[i] != '\n' && json[i] != '\r')
            continue;
        evs_out_raw(o, json + start, i - start);
        evs_out_str(o, "\ndata: ");
        if (json[i] == '\r' && i + 1 < n && json[i + 1] == '\n')
            i++;
        start = i + 1;
    }
    evs_out_raw(o, json + start, n - start);
    evs_out_str(o, "\n\n");
}

static int visit(void *ctx, const evs_stored_event *e)
{
    subscription *s = ctx;
    s->event.len = 0;
    evs_out_event_revealed(&s->event, e, s->base64, s->p->keyring);
    uint64_t id = s->kind == TARGET_STREAM ? e->version : e->position;
    sse_message(&s->buf, id, "event", s->event.p ? s->event.p : "", s->event.len);
    s->next = id + 1; /* U1 */
    s->page_events++;
    return s->buf.len >= SUBSCRIPTION_PAGE_BYTES;
}

/* The binary framing's visitor: adds the event, as a read shows it (personal data opened
 * or not by the keyring, K4), to the page. */
static int visit_binary(void *ctx, const evs_stored_event *stored)
{
    subscription *s = ctx;
    evs_stored_event shown;
    const evs_stored_event *e = stored;
    if (stored->subject) {
        if (evs_keyring_reveal(s->p->keyring, stored, &shown, &s->reveal) < 0) {
            s->oom = 1;
            return 1;
        }
        e = &shown;
    }
    evs_page_add_stored(&s->enc, e);
    s->next = (s->kind == TARGET_STREAM ? e->version : e->position) + 1; /* U1 */
    s->page_events++;
    return s->page.len >= SUBSCRIPTION_PAGE_BYTES;
}

/* Starts the EventPage of the binary framing's next page: it names what is read, as the
 * page of the matching read does. */
static void page_begin(subscription *s)
{
    evs_page_info info = {0};
    if (s->kind == TARGET_STREAM) {
        info.stream = s->name;
        info.stream_len = s->name_len;
    } else {
        info.has_partition = 1;
        info.partition = s->partition;
        if (s->kind == TARGET_CATEGORY) {
            info.category = s->name;
            info.category_len = s->name_len;
        } else if (s->kind == TARGET_TYPE) {
            info.type = s->name;
            info.type_len = s->name_len;
        }
    }
    evs_page_encode_begin(&s->enc, &s->page, &info);
}

/* Reads the next page from the store into buf (SSE) or into an events frame (binary).
 * Returns the number of events, or -1. */
static long read_page(subscription *s)
{
    evs_event_visitor v = s->binary ? visit_binary : visit;
    s->page_events = 0;
    if (s->binary)
        page_begin(s);
    int rc;
    switch (s->kind) {
    case TARGET_STREAM:
        rc = evs_store_read_stream(s->p->store, s->name, s->name_len, s->next,
                                   SUBSCRIPTION_PAGE_EVENTS, 0, v, s);
        break;
    case TARGET_CATEGORY:
    case TARGET_TYPE:
        rc = evs_store_read_index(s->p->store,
                                  s->kind == TARGET_CATEGORY ? EVS_INDEX_CATEGORY : EVS_INDEX_TYPE,
                                  s->name, s->name_len, s->partition, s->next,
                                  SUBSCRIPTION_PAGE_EVENTS, v, s);
        break;
    default:
        rc = evs_store_read_all(s->p->store, s->partition, s->next, SUBSCRIPTION_PAGE_EVENTS, v,
                                s);
        break;
    }
    if (s->binary) {
        evs_reveal_buf_free(&s->reveal); /* the page holds its copy; wipe the plaintext */
        if (s->page_events > 0 && evs_page_encode_end(&s->enc, s->next, 0) != 0)
            s->oom = 1;
        if (rc < 0 || s->oom)
            return -1;
        if (s->page_events > 0) {
            evs_frame_head(s->head, EVS_FRAME_EVENTS, (uint32_t)s->page.len);
            s->head_len = EVS_FRAME_HEAD_LEN;
        } else {
            s->page.len = 0; /* nothing to send */
        }
    }
    return rc < 0 ? -1 : (long)s->page_events;
}

/* Waits until the consumer thread commits after `seen`, or the heartbeat interval ends.
 * Returns 1 on a commit, 0 on a timeout. */
static int wait_commit(evs_projector *p, uint64_t seen)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += SUBSCRIPTION_HEARTBEAT_MS / 1000;
    int committed = 0;
    pthread_mutex_lock(&p->lock);
    while (!(committed = p->commits != seen) && !p->stop) {
        if (pthread_cond_timedwait(&p->applied, &p->lock, &deadline) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&p->lock);
    return committed;
}

static uint64_t commits_now(evs_projector *p)
{
    pthread_mutex_lock(&p->lock);
    uint64_t n = p->commits;
    pthread_mutex_unlock(&p->lock);
    return n;
}

/* Copies what is left of src[0..len) after *done, at most max bytes, to out. */
static size_t take(char *out, size_t max, const void *src, size_t len, size_t *done)
{
    size_t n = len - *done;
    if (n > max)
        n = max;
    memcpy(out, (const char *)src + *done, n);
    *done += n;
    return n;
}

static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
    subscription *s = cls;
    (void)pos;
    for (;;) {
        /* What is buffered: SSE text, or a frame's head and then its page (U3). */
        size_t n = 0;
        if (s->head_sent < s->head_len)
            n = take(out, max, s->head, s->head_len, &s->head_sent);
        if (s->binary && s->sent < s->page.len && n < max)
            n += take(out + n, max - n, s->page.data, s->page.len, &s->sent);
        if (!s->binary && s->sent < s->buf.len)
            n = take(out, max, s->buf.p, s->buf.len, &s->sent);
        if (n > 0)
            return (ssize_t)n;
        s->buf.len = 0;
        s->page.len = 0;
        s->sent = 0;
        s->head_len = s->head_sent = 0;
        if (s->buf.oom || s->event.oom || s->oom)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (s->finished || s->p->stop)
            return MHD_CONTENT_READER_END_OF_STREAM;

        /* Note the commit count first: a commit after this point wakes the wait below. */
        uint64_t seen = commits_now(s->p);
        long got = read_page(s);
        if (got < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (got > 0)
            continue;
        if (!s->caught_up_sent) {
            if (s->binary) {
                s->head_len = evs_frame_caught_up(s->head, s->next);
            } else {
                char json[64];
                int len =
                    snprintf(json, sizeof json, "{\"next\":%llu}", (unsigned long long)s->next);
                sse_message(&s->buf, 0, "caught-up", json, (size_t)len);
            }
            s->caught_up_sent = 1;
            s->finished = !s->follow;
            continue;
        }
        if (!wait_commit(s->p, seen)) {
            if (s->binary) {
                evs_frame_head(s->head, EVS_FRAME_HEARTBEAT, 0);
                s->head_len = EVS_FRAME_HEAD_LEN;
            } else {
                evs_out_str(&s->buf, ": heartbeat\n\n");
            }
        }
    }
}

static void release(void *cls)
{
    subscription *s = cls;
    evs_metrics_subscriptions_add(&s->p->metrics, -1);
    free(s->buf.p);
    free(s->event.p);
    evs_buf_free(&s->page);
    evs_reveal_buf_free(&s->reveal);
    free(s);
}

/* Parses from=start|now|N, or the Last-Event-ID header, into the subscription's cursor.
 * from is checked even when the header overrides it, so a malformed request is refused
 * whichever way it resumes. Returns 0 or -1 (400 queued). */
static int parse_from(subscription *s, struct MHD_Connection *c, enum MHD_Result *ret)
{
    const char *from = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "from");
    const char *last_id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    bool from_now = from && !strcmp(from, "now");
    uint64_t v = 1;
    if (from && !from_now && strcmp(from, "start") &&
        evs_http_query_u64(c, "from", 1, 0, INT64_MAX, &v, ret) < 0)
        return -1;
    if (last_id) {
        /* The id of the last event received: resume after it. */
        char *end;
        errno = 0;
        unsigned long long id = strtoull(last_id, &end, 10);
        if (!*last_id || *end || errno || id >= INT64_MAX || *last_id == '-') {
            *ret = evs_http_send_error(c, MHD_HTTP_BAD_REQUEST,
                                       "Last-Event-ID must be a whole number");
            return -1;
        }
        s->next = id + 1;
        return 0;
    }
    if (from_now) {
        if (s->kind == TARGET_STREAM) {
            if (evs_store_stream_version(s->p->store, s->name, s->name_len, &v) < 0) {
                *ret = evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store read failed");
                return -1;
            }
        } else {
            pthread_mutex_lock(&s->p->lock);
            v = s->p->last_position[s->partition];
            pthread_mutex_unlock(&s->p->lock);
        }
        s->next = v + 1;
        return 0;
    }
    s->next = v ? v : 1;
    return 0;
}

enum MHD_Result evs_subscription_handle(const evs_http_request *r)
{
    evs_projector *p = r->projector;
    struct MHD_Connection *c = r->connection;
    enum MHD_Result ret = MHD_NO;
    subscription *s = calloc(1, sizeof *s);
    if (!s)
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    s->p = p;
    const char *name = NULL;
    if (!strcmp(r->rest, "all")) {
        s->kind = TARGET_ALL;
    } else if (!strncmp(r->rest, "streams/", 8)) {
        s->kind = TARGET_STREAM;
        name = r->rest + 8;
    } else if (!strncmp(r->rest, "categories/", 11)) {
        s->kind = TARGET_CATEGORY;
        name = r->rest + 11;
    } else if (!strncmp(r->rest, "types/", 6)) {
        s->kind = TARGET_TYPE;
        name = r->rest + 6;
    } else {
        free(s);
        return evs_http_send_error(c, MHD_HTTP_NOT_FOUND,
                                   "no such subscription target: use all, streams/NAME, "
                                   "categories/NAME or types/NAME");
    }
    if (name) {
        s->name_len = strlen(name);
        int ok = s->kind == TARGET_TYPE ? evs_event_type_valid(name, s->name_len)
                                        : evs_stream_name_valid(name, s->name_len);
        if (s->kind == TARGET_CATEGORY && memchr(name, '-', s->name_len))
            ok = 0;
        if (!ok) {
            const char *what = s->kind == TARGET_TYPE       ? "event type"
                               : s->kind == TARGET_CATEGORY ? "category"
                                                            : "stream";
            free(s);
            return evs_http_send_error(c, MHD_HTTP_BAD_REQUEST, "invalid %s name", what);
        }
        memcpy(s->name, name, s->name_len);
    }
    uint64_t partition = 0;
    const char *follow = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "follow");
    if (follow && strcmp(follow, "true") && strcmp(follow, "false")) {
        free(s);
        return evs_http_send_error(c, MHD_HTTP_BAD_REQUEST, "follow must be true or false");
    }
    s->follow = !follow || !strcmp(follow, "true");
    if (evs_http_query_u64(c, "partition", 0, 0, (uint64_t)p->partition_count - 1, &partition,
                           &ret) < 0 ||
        (s->base64 = evs_http_query_encoding(c, &ret)) < 0) {
        free(s);
        return ret;
    }
    s->partition = (int32_t)partition;
    if (s->kind == TARGET_STREAM ? !evs_http_stream_served(p, c, s->name, s->name_len, &ret)
                                 : !evs_http_served(p, c, s->partition, &ret)) {
        free(s);
        return ret;
    }
    if (parse_from(s, c, &ret) < 0) {
        free(s);
        return ret;
    }
    /* Named in Accept, the binary framing; anything else (a wildcard, text/event-stream,
     * no Accept at all) gets Server-Sent Events, as browsers and curl expect. */
    s->binary = evs_http_accepts(c, EVS_PAGE_STREAM_MEDIA_TYPE);
    evs_metrics_subscriptions_add(&p->metrics, 1); /* until release() */
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, reader, s, release);
    if (!resp) {
        release(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type",
                            s->binary ? EVS_PAGE_STREAM_MEDIA_TYPE : "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}
