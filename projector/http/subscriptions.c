/*
 * subscriptions.c - catch-up subscriptions as Server-Sent Events (docs/HTTP-API.md,
 * "Subscriptions").
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
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http_util.h"
#include "http/subscriptions.h"

#define SUBSCRIPTION_PAGE_EVENTS 1000
#define SUBSCRIPTION_PAGE_BYTES (1u << 20)
#define SUBSCRIPTION_HEARTBEAT_MS 10000

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
    int caught_up_sent;
    int finished;         /* nothing more to send after the buffer */
    evs_out buf;          /* a page of SSE text */
    size_t sent;          /* how much of buf the socket has taken */
    size_t page_events;
    evs_out event;        /* scratch: one event object */
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

/* Reads the next page from the store into buf. Returns the number of events, or -1. */
static long read_page(subscription *s)
{
    s->page_events = 0;
    int rc;
    switch (s->kind) {
    case TARGET_STREAM:
        rc = evs_store_read_stream(s->p->store, s->name, s->name_len, s->next,
                                   SUBSCRIPTION_PAGE_EVENTS, 0, visit, s);
        break;
    case TARGET_CATEGORY:
    case TARGET_TYPE:
        rc = evs_store_read_index(s->p->store,
                                  s->kind == TARGET_CATEGORY ? EVS_INDEX_CATEGORY : EVS_INDEX_TYPE,
                                  s->name, s->name_len, s->partition, s->next,
                                  SUBSCRIPTION_PAGE_EVENTS, visit, s);
        break;
    default:
        rc = evs_store_read_all(s->p->store, s->partition, s->next, SUBSCRIPTION_PAGE_EVENTS,
                                visit, s);
        break;
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

static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
    subscription *s = cls;
    for (;;) {
        if (s->sent < s->buf.len) {
            size_t n = s->buf.len - s->sent;
            if (n > max)
                n = max;
            memcpy(out, s->buf.p + s->sent, n);
            s->sent += n;
            return (ssize_t)n;
        }
        s->buf.len = 0;
        s->sent = 0;
        if (s->buf.oom || s->event.oom)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (s->finished || s->p->stop)
            return MHD_CONTENT_READER_END_OF_STREAM;

        /* Note the commit count first: a commit after this point wakes the wait below. */
        uint64_t seen = commits_now(s->p);
        long n = read_page(s);
        if (n < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (n > 0)
            continue;
        if (!s->caught_up_sent) {
            char json[64];
            int len = snprintf(json, sizeof json, "{\"next\":%llu}", (unsigned long long)s->next);
            sse_message(&s->buf, 0, "caught-up", json, (size_t)len);
            s->caught_up_sent = 1;
            s->finished = !s->follow;
            continue;
        }
        if (!wait_commit(s->p, seen))
            evs_out_str(&s->buf, ": heartbeat\n\n");
    }
}

static void release(void *cls)
{
    subscription *s = cls;
    evs_metrics_subscriptions_add(&s->p->metrics, -1);
    free(s->buf.p);
    free(s->event.p);
    free(s);
}

/* Parses from=start|now|N into the subscription's cursor. Returns 0 or -1 (400 queued). */
static int parse_from(subscription *s, struct MHD_Connection *c, enum MHD_Result *ret)
{
    const char *from = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "from");
    const char *last_id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    uint64_t v;
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
    if (!from || !strcmp(from, "start")) {
        s->next = 1;
        return 0;
    }
    if (!strcmp(from, "now")) {
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
    if (evs_http_query_u64(c, "from", 1, 0, INT64_MAX, &v, ret) < 0)
        return -1;
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
    evs_metrics_subscriptions_add(&p->metrics, 1); /* until release() */
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, reader, s, release);
    if (!resp) {
        release(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}
