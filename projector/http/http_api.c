/*
 * http_api.c - the projector's HTTP query API (documented in docs/HTTP-API.md).
 *
 * libmicrohttpd runs one thread per connection, so a verdict request may block waiting for
 * the consumer thread to apply an offset without holding up other requests. Connections are
 * capped (HTTP_CONNECTIONS_MAX), and within the cap subscriptions and long polls have caps
 * of their own (HTTP_SUBSCRIPTIONS_MAX, HTTP_LONG_POLLS_MAX), so that the rest,
 * HTTP_RESERVED_CONNECTIONS, stays free for appends, verdicts and reads however many
 * subscribers wait. Every route needs the access its table entry names (http_auth.h),
 * checked before anything else is done for it. Every answer is JSON, except that the reads of event pages
 * (streams, $all, categories, types) answer with the binary page of schemas/page_codec.h
 * when the Accept header names application/vnd.evstore.page+avro; every error is
 * {"error": "..."} whatever was asked for.
 * Handlers only read the store, which RocksDB allows from any thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "cluster/membership.h"
#include "feed/feed.h"
#include "groups/groups.h"
#include "http/http_append.h"
#include "http/http_console.h"
#include "http/http_keys.h"
#include "http/http_auth.h"
#include "http/http_util.h"
#include "http/subscriptions.h"
#include "judge/lifecycle.h"
#include "keys/keyring.h"
#include "obs/metrics_route.h"
#include "page_codec.h"
#include "partitioner.h"
#include "state/saved_state.h"

/* Connections: subscriptions (SSE), long polls (a consumer group's fetch) and the rest. A
 * request over its cap is answered 503 at once; the reserve is never taken by the first two.
 * One thread per connection, each with HTTP_THREAD_STACK_BYTES of stack. */
#define HTTP_SUBSCRIPTIONS_MAX 1000 /* the default of --max-subscriptions */
#define HTTP_LONG_POLLS_MAX 200
#define HTTP_RESERVED_CONNECTIONS 300
#define HTTP_CONNECTIONS_MAX (HTTP_SUBSCRIPTIONS_MAX + HTTP_LONG_POLLS_MAX + HTTP_RESERVED_CONNECTIONS)
#define HTTP_SUBSCRIPTIONS_LIMIT 20000 /* the most --max-subscriptions takes */
#define HTTP_THREAD_STACK_BYTES (2u << 20)
/* Slow clients: a connection silent this long is closed (libmicrohttpd's timeout, which
 * also bounds the wait between requests on a kept-alive connection; a subscription's
 * heartbeat every 10 s keeps it alive), and a request body must arrive within
 * HTTP_BODY_TIME_MAX_MS of its headers. */
#define HTTP_IDLE_TIMEOUT_S 30
#define HTTP_BODY_TIME_MAX_MS 30000
#define HTTP_URL_MAX 2048
#define READ_LIMIT_DEFAULT 100
#define VERDICT_TIMEOUT_DEFAULT_MS 10000
#define VERDICT_TIMEOUT_MAX_MS 60000
/* The most items one POST /verdicts lists. */
#define VERDICTS_BATCH_MAX 1000
/* How long a read waits for the batches judged before it to be written (P4). */
#define READ_BARRIER_TIMEOUT_MS 10000
/* How long a read waits for its causal token's offsets to be applied here. */
#define TOKEN_WAIT_MS 5000
#define TOKEN_WAIT_MAX_MS 60000

struct evs_http_server {
    struct MHD_Daemon *daemon;
    evs_projector *projector;
    evs_http_auth *auth; /* NULL: no token file, every route open */
    char *tls_cert, *tls_key; /* PEM text given to libmicrohttpd, NULL for plain HTTP */
    atomic_int slots_used[3]; /* requests holding a slot, by slot (request_slot) */
    int subscriptions_max;    /* --max-subscriptions, else HTTP_SUBSCRIPTIONS_MAX */
};

/* ---- Endpoints ---------------------------------------------------------------------- */

typedef struct read_ctx {
    evs_out *o;             /* the JSON page, when page is NULL */
    evs_page_encoder *page; /* the binary page (docs/HTTP-API.md, "The binary page") */
    int base64;
    size_t count;
    uint64_t last; /* last version or position visited */
    uint64_t first; /* stream reads: the first readable version */
    evs_keyring *keyring;  /* opens personal data (keys/keyring.h) */
    evs_reveal_buf reveal; /* its scratch space, wiped when the read ends */
    int oom;
} read_ctx;

/* Adds one event to the page being built, in whichever form was asked for. */
static void page_add(read_ctx *r, const evs_stored_event *stored)
{
    evs_stored_event shown;
    const evs_stored_event *e = stored;
    if (stored->subject) { /* personal data: what the keyring reveals of it (K4) */
        if (evs_keyring_reveal(r->keyring, stored, &shown, &r->reveal) < 0)
            r->oom = 1;
        e = &shown;
    }
    if (r->page) {
        evs_page_add_stored(r->page, e);
        r->count++;
        return;
    }
    if (r->count++)
        evs_out_raw(r->o, ",", 1);
    evs_out_event(r->o, e, r->base64);
}

static int visit_stream(void *ctx, const evs_stored_event *e)
{
    read_ctx *r = ctx;
    if (e->version < r->first)
        return 1; /* below max_count, not swept yet: gone for readers (lifecycle.h) */
    page_add(r, e);
    r->last = e->version;
    return 0;
}

static int visit_all(void *ctx, const evs_stored_event *e)
{
    read_ctx *r = ctx;
    page_add(r, e);
    r->last = e->position;
    return 0;
}

/* Sends a finished binary page (200) and frees it. */
static enum MHD_Result send_page(struct MHD_Connection *c, evs_page_encoder *enc, evs_buf *buf,
                                 uint64_t next, int end)
{
    if (evs_page_encode_end(enc, next, end) != 0) {
        evs_buf_free(buf);
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    void *data = buf->data;
    size_t len = buf->len;
    buf->data = NULL; /* the answer takes it */
    return evs_http_send_bytes(c, MHD_HTTP_OK, EVS_PAGE_MEDIA_TYPE, data, len);
}

static const char *deleted_name(evs_stream_deleted d)
{
    return d == EVS_STREAM_HARD_DELETED ? "hard" : d == EVS_STREAM_SOFT_DELETED ? "soft" : NULL;
}

/* 410 for a read of a deleted stream (docs/HTTP-API.md, "Stream lifecycle"). */
static enum MHD_Result send_stream_deleted(struct MHD_Connection *c, const char *name,
                                           size_t len, uint64_t current,
                                           const evs_stream_lifecycle *life)
{
    evs_out o = {0};
    evs_out_str(&o, "{\"error\":");
    char msg[EVS_STREAM_NAME_MAX + 120];
    snprintf(msg, sizeof msg, "stream %.*s was %s", (int)len, name,
             life->deleted == EVS_STREAM_HARD_DELETED
                 ? "hard-deleted: it is a tombstone, and takes no more appends"
                 : "deleted: an append recreates it");
    evs_out_jstr(&o, msg, strlen(msg));
    evs_out_str(&o, ",\"error_type\":\"stream_deleted\",\"stream\":");
    evs_out_jstr(&o, name, len);
    evs_out_fmt(&o, ",\"deleted\":\"%s\",\"current_version\":%llu}",
                deleted_name(life->deleted), (unsigned long long)current);
    return evs_http_send_json(c, MHD_HTTP_GONE, &o);
}

/* GET /streams/{stream}/metadata: its version and lifecycle. */
static enum MHD_Result get_stream_metadata(evs_projector *p, struct MHD_Connection *c,
                                           const char *name, size_t len)
{
    enum MHD_Result ret = MHD_NO;
    if (!evs_stream_name_valid(name, len))
        return evs_http_send_error(c, MHD_HTTP_BAD_REQUEST, "invalid stream name");
    if (!evs_http_stream_served(p, c, name, len, &ret))
        return ret;
    uint64_t current;
    evs_stream_lifecycle life;
    if (evs_store_stream_state(p->store, name, len, &current, &life) < 0)
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store read failed");
    if (current == 0 && life.deleted == EVS_STREAM_LIVE)
        return evs_http_send_error(c, MHD_HTTP_NOT_FOUND, "stream %.*s not found", (int)len,
                                   name);
    evs_out o = {0};
    evs_out_str(&o, "{\"stream\":");
    evs_out_jstr(&o, name, len);
    evs_out_fmt(&o, ",\"partition\":%d,\"current_version\":%llu,\"first_version\":%llu",
                (int)evs_stream_partition(name, len, p->partition_count),
                (unsigned long long)current,
                (unsigned long long)(life.deleted != EVS_STREAM_LIVE
                                         ? current + 1
                                         : evs_lifecycle_first_readable(current, &life)));
    const char *d = deleted_name(life.deleted);
    evs_out_fmt(&o, ",\"deleted\":%s%s%s", d ? "\"" : "", d ? d : "null", d ? "\"" : "");
    if (life.max_count)
        evs_out_fmt(&o, ",\"max_count\":%llu", (unsigned long long)life.max_count);
    else
        evs_out_str(&o, ",\"max_count\":null");
    if (life.max_age_ms)
        evs_out_fmt(&o, ",\"max_age_ms\":%llu}", (unsigned long long)life.max_age_ms);
    else
        evs_out_str(&o, ",\"max_age_ms\":null}");
    return evs_http_send_json(c, MHD_HTTP_OK, &o);
}

static enum MHD_Result get_stream(evs_projector *p, struct MHD_Connection *c, const char *name)
{
    enum MHD_Result ret = MHD_NO;
    size_t len = strlen(name);
    if (!evs_stream_name_valid(name, len))
        return evs_http_send_error(c, MHD_HTTP_BAD_REQUEST,
                          "invalid stream name: use 1 to %d of letters, digits and _.:@- "
                          "(not starting with $)",
                          EVS_STREAM_NAME_MAX);
    if (!evs_http_stream_served(p, c, name, len, &ret))
        return ret;
    uint64_t from, limit;
    if (evs_http_query_u64(c, "from", 0, 0, INT64_MAX, &from, &ret) < 0 ||
        evs_http_query_u64(c, "limit", READ_LIMIT_DEFAULT, 1, EVS_READ_LIMIT_MAX, &limit, &ret) < 0)
        return ret;
    const char *dir = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "direction");
    int backwards = 0;
    if (dir && !strcmp(dir, "backwards"))
        backwards = 1;
    else if (dir && strcmp(dir, "forwards"))
        return evs_http_send_error(c, MHD_HTTP_BAD_REQUEST, "direction must be forwards or backwards");

    /* Every parameter is checked before the stream's state: a bad request is a 400 even
     * for a deleted stream, never its 410. */
    int base64 = evs_http_query_encoding(c, &ret);
    if (base64 < 0)
        return ret;

    uint64_t current;
    evs_stream_lifecycle life;
    if (evs_store_stream_state(p->store, name, len, &current, &life) < 0)
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store read failed");
    if (life.deleted != EVS_STREAM_LIVE)
        return send_stream_deleted(c, name, len, current, &life);
    if (current == 0)
        return evs_http_send_error(c, MHD_HTTP_NOT_FOUND, "stream %s not found", name);
    uint64_t first = evs_lifecycle_first_readable(current, &life);
    if (from == 0)
        from = backwards ? current : first;
    if (!backwards && from < first)
        from = first; /* a truncated range reads from the first available version */
    int binary = evs_http_accepts(c, EVS_PAGE_MEDIA_TYPE);
    evs_out o = {0};
    evs_buf buf = {0};
    evs_page_encoder enc;
    read_ctx r = {&o, binary ? &enc : NULL, base64, 0, 0, first, p->keyring, {{0}, {0}}, 0};
    if (binary) {
        evs_page_info info = {.stream = name, .stream_len = len, .has_current_version = 1,
                              .current_version = current, .has_first_version = 1,
                              .first_version = first};
        evs_page_encode_begin(&enc, &buf, &info);
    } else {
        evs_out_str(&o, "{\"stream\":");
        evs_out_jstr(&o, name, len);
        evs_out_fmt(&o, ",\"current_version\":%llu,\"first_version\":%llu,\"events\":[",
                    (unsigned long long)current, (unsigned long long)first);
    }
    int rrc = evs_store_read_stream(p->store, name, len, from, limit, backwards, visit_stream,
                                    &r);
    evs_reveal_buf_free(&r.reveal);
    if (rrc < 0 || r.oom) {
        free(o.p);
        evs_buf_free(&buf);
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store read failed");
    }
    uint64_t next;
    int end;
    if (backwards) {
        next = r.count ? r.last - 1 : (from > current ? current : from) - 1;
        end = next < first;
        if (end)
            next = 0;
    } else {
        next = r.count ? r.last + 1 : from;
        end = next > current;
    }
    if (binary)
        return send_page(c, &enc, &buf, next, end);
    evs_out_fmt(&o, "],\"next\":%llu,\"end_of_stream\":%s}", (unsigned long long)next,
            end ? "true" : "false");
    return evs_http_send_json(c, MHD_HTTP_OK, &o);
}

/* Reads $all (index_name NULL) or the category or type index named index_name. */
static enum MHD_Result get_ordered(evs_projector *p, struct MHD_Connection *c,
                                   evs_store_index index, const char *index_name)
{
    enum MHD_Result ret = MHD_NO;
    uint64_t partition, from, limit;
    size_t name_len = index_name ? strlen(index_name) : 0;
    if (index_name && index == EVS_INDEX_CATEGORY &&
        (!evs_stream_name_valid(index_name, name_len) || memchr(index_name, '-', name_len)))
        return evs_http_send_error(c, MHD_HTTP_BAD_REQUEST,
                                   "invalid category: use 1 to %d of letters, digits and _.:@ "
                                   "(a category has no '-')",
                                   EVS_STREAM_NAME_MAX);
    if (index_name && index == EVS_INDEX_TYPE && !evs_event_type_valid(index_name, name_len))
        return evs_http_send_error(c, MHD_HTTP_BAD_REQUEST,
                                   "invalid event type: use 1 to %d of letters, digits and "
                                   "_.:@/-",
                                   EVS_EVENT_TYPE_MAX);
    if (evs_http_query_u64(c, "partition", 0, 0, (uint64_t)p->partition_count - 1, &partition,
                           &ret) < 0 ||
        evs_http_query_u64(c, "from", 1, 0, INT64_MAX, &from, &ret) < 0 ||
        evs_http_query_u64(c, "limit", READ_LIMIT_DEFAULT, 1, EVS_READ_LIMIT_MAX, &limit,
                           &ret) < 0 ||
        !evs_http_served(p, c, (int32_t)partition, &ret))
        return ret;
    if (from == 0)
        from = 1;
    int base64 = evs_http_query_encoding(c, &ret);
    if (base64 < 0)
        return ret;
    pthread_mutex_lock(&p->lock);
    uint64_t last = p->last_position[partition];
    pthread_mutex_unlock(&p->lock);

    int binary = evs_http_accepts(c, EVS_PAGE_MEDIA_TYPE);
    evs_out o = {0};
    evs_buf buf = {0};
    evs_page_encoder enc;
    read_ctx r = {&o, binary ? &enc : NULL, base64, 0, 0, 0, p->keyring, {{0}, {0}}, 0};
    if (binary) {
        evs_page_info info = {.has_partition = 1, .partition = (int32_t)partition};
        if (index_name && index == EVS_INDEX_CATEGORY) {
            info.category = index_name;
            info.category_len = name_len;
        } else if (index_name) {
            info.type = index_name;
            info.type_len = name_len;
        }
        evs_page_encode_begin(&enc, &buf, &info);
    } else {
        evs_out_str(&o, "{");
        if (index_name) {
            evs_out_str(&o, index == EVS_INDEX_CATEGORY ? "\"category\":" : "\"type\":");
            evs_out_jstr(&o, index_name, name_len);
            evs_out_str(&o, ",");
        }
        evs_out_fmt(&o, "\"partition\":%d,\"events\":[", (int)partition);
    }
    int rc = index_name ? evs_store_read_index(p->store, index, index_name, name_len,
                                               (int32_t)partition, from, limit, visit_all, &r)
                        : evs_store_read_all(p->store, (int32_t)partition, from, limit,
                                             visit_all, &r);
    evs_reveal_buf_free(&r.reveal);
    if (rc < 0 || r.oom) {
        free(o.p);
        evs_buf_free(&buf);
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store read failed");
    }
    /* Nothing visited: nothing is left below last + 1 (removed events are skipped, L4). */
    uint64_t next = r.count ? r.last + 1 : (from > last ? from : last + 1);
    int end = next > last || (index_name && r.count < limit);
    if (binary)
        return send_page(c, &enc, &buf, next, end);
    evs_out_fmt(&o, "],\"next\":%llu,\"end\":%s}", (unsigned long long)next,
                end ? "true" : "false");
    return evs_http_send_json(c, MHD_HTTP_OK, &o);
}

static enum MHD_Result get_all(evs_projector *p, struct MHD_Connection *c)
{
    return get_ordered(p, c, EVS_INDEX_CATEGORY, NULL);
}

/* The answer when the read barrier (P4 in projector.c) was not passed. */
static enum MHD_Result not_written(evs_projector *p, struct MHD_Connection *c)
{
    char failure[sizeof p->failure];
    pthread_mutex_lock(&p->lock);
    snprintf(failure, sizeof failure, "%s", p->failure);
    pthread_mutex_unlock(&p->lock);
    if (failure[0])
        return evs_http_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                                   "the projector stopped: %s", failure);
    return evs_http_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                               "the projector is stopping or has not written what it judged "
                               "within %d ms", READ_BARRIER_TIMEOUT_MS);
}

static const char *expected_text(const evs_stored_verdict *v, char *buf, size_t n)
{
    switch (v->expected_kind) {
    case EVS_EXPECT_ANY: return "any";
    case EVS_EXPECT_NO_STREAM: return "no_stream";
    case EVS_EXPECT_STREAM_EXISTS: return "stream_exists";
    case EVS_EXPECT_EXACT: snprintf(buf, n, "%llu", (unsigned long long)v->expected_version); return buf;
    }
    return "?";
}

static int64_t ms_since(const struct timespec *t);

/* Writes {"error": message} into o. */
static void out_error(evs_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_error(evs_out *o, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    evs_out_str(o, "{\"error\":");
    evs_out_jstr(o, msg, strlen(msg));
    evs_out_str(o, "}");
}

/* The answer to a verdict whose offset was judged (or, without one, once the wait is
 * over), written into o: 200 with the verdict, 422 for a record skipped at the offset,
 * 404 when no record with the id was applied (*absent set: the append may be in a
 * partition served elsewhere), 503 when what was judged is not written within timeout_ms,
 * 500 when the store fails. Judged is final (P4 in projector.c): the verdict of a batch
 * still being written is answered from memory; any other, or a skip, from the store once
 * that write is done. */
static unsigned verdict_answer(evs_projector *p, const uint8_t append_id[16], int has_offset,
                               int32_t partition, int64_t offset, int timeout_ms, int *absent,
                               evs_out *o)
{
    char canonical[37], expbuf[32];
    evs_uuid_format(append_id, canonical);
    *absent = 0;
    evs_stored_verdict v;
    int found = evs_projector_verdict_ahead(p, append_id, &v);
    if (!found && !evs_projector_wait_written(p, timeout_ms)) {
        char failure[sizeof p->failure];
        pthread_mutex_lock(&p->lock);
        snprintf(failure, sizeof failure, "%s", p->failure);
        pthread_mutex_unlock(&p->lock);
        if (failure[0])
            out_error(o, "the projector stopped: %s", failure);
        else
            out_error(o, "the projector is stopping or has not written what it judged within "
                         "%d ms", READ_BARRIER_TIMEOUT_MS);
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    if (!found && evs_store_verdict_get(p->store, append_id, &found, &v) < 0) {
        out_error(o, "store read failed");
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!found) {
        char *reason = NULL;
        if (has_offset)
            evs_store_skip_get(p->store, partition, offset, &reason);
        if (reason) {
            out_error(o, "record at partition %d offset %lld was skipped: %s", (int)partition,
                      (long long)offset, reason);
            free(reason);
            return MHD_HTTP_UNPROCESSABLE_CONTENT;
        }
        *absent = 1;
        out_error(o, "no append with id %s", canonical);
        return MHD_HTTP_NOT_FOUND;
    }
    evs_out_fmt(o, "{\"append_id\":\"%s\",\"status\":\"%s\",\"operation\":\"%s\",\"stream\":",
                canonical, evs_verdict_status_name(v.verdict.status),
                evs_operation_name(v.operation));
    evs_out_jstr(o, v.stream, strlen(v.stream));
    evs_out_fmt(o,
            ",\"partition\":%d,\"offset\":%lld,\"first_version\":%llu,\"last_version\":%llu,"
            "\"first_position\":%llu,\"last_position\":%llu,\"current_version\":%llu,"
            "\"event_count\":%u,\"expected\":\"%s\",\"reason\":",
            v.partition, (long long)v.offset, (unsigned long long)v.verdict.first_version,
            (unsigned long long)v.verdict.last_version,
            (unsigned long long)v.verdict.first_position,
            (unsigned long long)v.verdict.last_position,
            (unsigned long long)v.verdict.current_version, v.event_count,
            expected_text(&v, expbuf, sizeof expbuf));
    evs_out_jstr(o, v.reason, strlen(v.reason));
    evs_out_str(o, "}");
    return MHD_HTTP_OK;
}

static enum MHD_Result get_verdict(evs_projector *p, struct MHD_Connection *c, const char *id)
{
    enum MHD_Result ret = MHD_NO;
    uint8_t append_id[16];
    if (evs_uuid_parse(id, strlen(id), append_id) < 0)
        return evs_http_send_error(c, MHD_HTTP_BAD_REQUEST, "invalid append id: expected a UUID");
    uint64_t timeout_ms, partition, offset;
    int has_offset = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "offset") != NULL;
    if (evs_http_query_u64(c, "timeout_ms", VERDICT_TIMEOUT_DEFAULT_MS, 0, VERDICT_TIMEOUT_MAX_MS,
                  &timeout_ms, &ret) < 0 ||
        evs_http_query_u64(c, "partition", 0, 0, (uint64_t)p->partition_count - 1, &partition, &ret) < 0 ||
        evs_http_query_u64(c, "offset", 0, 0, INT64_MAX, &offset, &ret) < 0)
        return ret;

    int has_partition = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "partition") != NULL;
    if ((has_offset || has_partition) && !evs_http_served(p, c, (int32_t)partition, &ret))
        return ret;
    int64_t next = 0;
    if (has_offset) {
        if (!evs_projector_wait_judged(p, (int32_t)partition, (int64_t)offset, (int)timeout_ms,
                                       &next))
            return evs_http_send_error(c, MHD_HTTP_GATEWAY_TIMEOUT,
                              "projector has not judged partition %d offset %llu within %d ms "
                              "(next offset %lld)",
                              (int)partition, (unsigned long long)offset, (int)timeout_ms,
                              (long long)next);
    } else if (timeout_ms > 0) {
        /* Catch up with everything in the topic now: the high watermarks. */
        int64_t *hw = calloc((size_t)p->partition_count, sizeof *hw);
        if (!hw)
            return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "evs_out of memory");
        if (evs_projector_high_watermarks(p, hw, (int)timeout_ms) < 0) {
            free(hw);
            return evs_http_send_error(c, MHD_HTTP_GATEWAY_TIMEOUT, "cannot read the topic's end offsets");
        }
        for (int32_t i = 0; i < p->partition_count; i++) {
            int64_t last = hw[i] - 1;
            if (p->assigned[i] && last >= 0 && !evs_projector_wait_judged(p, i, last, (int)timeout_ms, &next)) {
                free(hw); /* not before: the message below used to read hw[i] after it */
                return evs_http_send_error(c, MHD_HTTP_GATEWAY_TIMEOUT,
                                  "projector has not judged partition %d offset %lld within "
                                  "%d ms (next offset %lld)",
                                  i, (long long)last, (int)timeout_ms, (long long)next);
            }
        }
        free(hw);
    }

    evs_out o = {0};
    int absent;
    unsigned status = verdict_answer(p, append_id, has_offset, (int32_t)partition,
                                     (int64_t)offset, (int)timeout_ms, &absent, &o);
    /* Not here is no answer when the append may be in a partition served elsewhere. */
    if (absent && !p->serves_all && !has_partition) {
        free(o.p);
        int32_t unserved = 0;
        while (p->assigned[unserved])
            unserved++;
        evs_http_served(p, c, unserved, &ret);
        return ret;
    }
    return evs_http_send_json(c, status, &o);
}

/* One item of POST /verdicts. */
typedef struct verdict_item {
    uint8_t append_id[16];
    int32_t partition;
    int64_t offset;
} verdict_item;

/* Parses the body of POST /verdicts into items (calloc'd, *count of them). Returns 0, or
 * -1 with msg naming the problem. */
static int verdict_items_parse(const evs_projector *p, const char *body, size_t len,
                               verdict_item **items, size_t *count, char *msg, size_t msg_len)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *list = root ? json_object_get(root, "verdicts") : NULL;
    *items = NULL;
    if (!json_is_object(root)) {
        snprintf(msg, msg_len, "the body must be a JSON object {\"verdicts\": [...]}%s%s",
                 root ? "" : ": ", root ? "" : jerr.text);
        goto bad;
    }
    if (!json_is_array(list) || json_object_size(root) != 1) {
        snprintf(msg, msg_len, "the body must have exactly one member, \"verdicts\", an array");
        goto bad;
    }
    size_t n = json_array_size(list);
    if (n < 1 || n > VERDICTS_BATCH_MAX) {
        snprintf(msg, msg_len, "\"verdicts\" has %zu items; 1 to %d are allowed", n,
                 VERDICTS_BATCH_MAX);
        goto bad;
    }
    *items = calloc(n, sizeof **items);
    if (!*items) {
        snprintf(msg, msg_len, "out of memory");
        goto bad;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(list, i);
        json_t *id = json_object_get(it, "append_id");
        json_t *part = json_object_get(it, "partition");
        json_t *off = json_object_get(it, "offset");
        if (!json_is_object(it) || json_object_size(it) != 3 || !json_is_string(id) ||
            !json_is_integer(part) || !json_is_integer(off)) {
            snprintf(msg, msg_len,
                     "verdicts[%zu] must be {\"append_id\": UUID, \"partition\": P, \"offset\": "
                     "O} and nothing else", i);
            goto bad;
        }
        if (evs_uuid_parse(json_string_value(id), json_string_length(id),
                           (*items)[i].append_id) < 0) {
            snprintf(msg, msg_len, "verdicts[%zu]: invalid append id: expected a UUID", i);
            goto bad;
        }
        json_int_t pv = json_integer_value(part), ov = json_integer_value(off);
        if (pv < 0 || pv >= p->partition_count) {
            snprintf(msg, msg_len, "verdicts[%zu]: partition %" JSON_INTEGER_FORMAT
                     " is not one of the topic's (0 to %d)", i, pv, (int)p->partition_count - 1);
            goto bad;
        }
        if (ov < 0) {
            snprintf(msg, msg_len, "verdicts[%zu]: offset %" JSON_INTEGER_FORMAT
                     " is negative", i, ov);
            goto bad;
        }
        (*items)[i].partition = (int32_t)pv;
        (*items)[i].offset = (int64_t)ov;
    }
    *count = n;
    json_decref(root);
    return 0;
bad:
    free(*items);
    *items = NULL;
    json_decref(root);
    return -1;
}

/* POST /verdicts?timeout_ms=T: many verdicts in one request (docs/HTTP-API.md). Waits, at
 * most T in all, until the highest listed offset of each partition is judged (a partition
 * is judged in offset order, so every listed offset below it is judged then too), then
 * answers each item with the status and body GET /verdicts/{id}?partition=P&offset=O would
 * give, and 504 for the items not judged yet; the whole answer is 200 when every item was
 * judged, else 504 (a client fails over with it, as for a single verdict). */
static enum MHD_Result post_verdicts(const evs_http_request *r)
{
    evs_projector *p = r->projector;
    struct MHD_Connection *c = r->connection;
    enum MHD_Result ret = MHD_NO;
    uint64_t timeout_ms;
    if (evs_http_query_u64(c, "timeout_ms", VERDICT_TIMEOUT_DEFAULT_MS, 0, VERDICT_TIMEOUT_MAX_MS,
                           &timeout_ms, &ret) < 0)
        return ret;
    verdict_item *items;
    size_t n;
    char msg[256];
    if (verdict_items_parse(p, r->body, r->body_len, &items, &n, msg, sizeof msg) < 0)
        return evs_http_send_error(c, MHD_HTTP_BAD_REQUEST, "%s", msg);
    /* judged[P]: first the highest offset of P listed (-1: P not listed), then the highest
     * offset of P known to be judged (-1: none). Inclusive, so that an offset of INT64_MAX
     * (which a GET accepts too) needs no "plus one". */
    int64_t *judged = malloc((size_t)p->partition_count * sizeof *judged);
    if (!judged) {
        free(items);
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    for (int32_t i = 0; i < p->partition_count; i++)
        judged[i] = -1;
    for (size_t i = 0; i < n; i++) {
        int32_t part = items[i].partition;
        if (judged[part] < 0 && !evs_http_served(p, c, part, &ret))
            goto done;
        if (items[i].offset > judged[part])
            judged[part] = items[i].offset; /* for now: the offset to wait for */
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int32_t i = 0; i < p->partition_count; i++) {
        if (judged[i] < 0)
            continue;
        int64_t spent = ms_since(&start), next = 0;
        int left = spent < (int64_t)timeout_ms ? (int)((int64_t)timeout_ms - spent) : 0;
        if (!evs_projector_wait_judged(p, i, judged[i], left, &next))
            judged[i] = next <= judged[i] ? next - 1 : judged[i] - 1;
    }
    evs_out o = {0};
    int pending = 0;
    evs_out_str(&o, "{\"verdicts\":[");
    for (size_t i = 0; i < n; i++) {
        char canonical[37];
        evs_uuid_format(items[i].append_id, canonical);
        evs_out_fmt(&o, "%s{\"append_id\":\"%s\",\"http_status\":", i ? "," : "", canonical);
        evs_out item = {0};
        unsigned status;
        if (items[i].offset <= judged[items[i].partition]) {
            /* The write of a judged batch is waited for as long as the GET waits for it
             * (the whole timeout, not what is left of it): a 503 says the projector is
             * stuck, never that the judging took the time. */
            int is_absent;
            status = verdict_answer(p, items[i].append_id, 1, items[i].partition,
                                    items[i].offset, (int)timeout_ms, &is_absent, &item);
            if (status == MHD_HTTP_SERVICE_UNAVAILABLE || status == MHD_HTTP_INTERNAL_SERVER_ERROR) {
                /* The whole request fails with it: nothing more can be answered. */
                free(o.p);
                o = item;
                ret = evs_http_send_json(c, status, &o);
                goto done;
            }
        } else {
            pending = 1;
            status = MHD_HTTP_GATEWAY_TIMEOUT;
            out_error(&item, "projector has not judged partition %d offset %lld within %d ms "
                             "(next offset %lld)", (int)items[i].partition,
                      (long long)items[i].offset, (int)timeout_ms,
                      (long long)judged[items[i].partition] + 1);
        }
        evs_out_fmt(&o, "%u,\"answer\":", status);
        evs_out_raw(&o, item.p ? item.p : "{}", item.p ? item.len : 2);
        if (item.oom)
            o.oom = 1;
        free(item.p);
        evs_out_str(&o, "}");
    }
    evs_out_str(&o, "]}");
    ret = evs_http_send_json(c, pending ? MHD_HTTP_GATEWAY_TIMEOUT : MHD_HTTP_OK, &o);
done:
    free(judged);
    free(items);
    return ret;
}

static enum MHD_Result get_status(evs_projector *p, struct MHD_Connection *c)
{
    int32_t n = p->partition_count;
    int64_t *hw = calloc((size_t)n, sizeof *hw);
    if (!hw)
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "evs_out of memory");
    int have_hw = evs_projector_high_watermarks(p, hw, 2000) == 0;
    evs_out o = {0};
    evs_out_str(&o, "{\"topic\":");
    evs_out_jstr(&o, p->config.topic, strlen(p->config.topic));
    evs_out_str(&o, ",\"brokers\":");
    evs_out_jstr(&o, p->config.brokers, strlen(p->config.brokers));
    /* The Kafka settings file's properties, secrets redacted (kafka_properties.h). */
    char *kafka = evs_kafka_properties_json(&p->config.kafka);
    evs_out_str(&o, ",\"kafka_config\":");
    evs_out_str(&o, kafka ? kafka : "{}");
    free(kafka);
    evs_out_fmt(&o, ",\"tls\":%s,\"tokens\":%s",
                p->config.tls_cert_file ? "true" : "false",
                p->config.token_file ? "true" : "false");
    pthread_mutex_lock(&p->lock);
    evs_out_fmt(&o, ",\"state\":\"%s\",\"skipped_records\":%llu", p->failure[0] ? "failed" : "running",
            (unsigned long long)p->skipped_records);
    if (p->failure[0]) {
        evs_out_str(&o, ",\"reason\":");
        evs_out_jstr(&o, p->failure, strlen(p->failure));
    }
    evs_out_str(&o, ",\"partitions\":[");
    for (int32_t i = 0; i < n; i++) {
        evs_out_fmt(&o, "%s{\"partition\":%d,\"assigned\":%s,\"next_offset\":%lld,"
                    "\"judged_offset\":%lld,", i ? "," : "", i,
                p->assigned[i] ? "true" : "false", (long long)p->next_offset[i],
                (long long)p->judged_offset[i]);
        if (have_hw)
            evs_out_fmt(&o, "\"high_watermark\":%lld,\"lag\":%lld,", (long long)hw[i],
                    (long long)(hw[i] - p->next_offset[i]));
        else
            evs_out_str(&o, "\"high_watermark\":null,\"lag\":null,");
        evs_out_fmt(&o, "\"last_position\":%llu}", (unsigned long long)p->last_position[i]);
    }
    pthread_mutex_unlock(&p->lock);
    evs_out_str(&o, "],\"feed\":");
    evs_feed_status(p, &o);
    evs_out_str(&o, ",\"keys\":");
    if (p->keyring) {
        evs_keyring_stats ks;
        char master[EVS_MASTER_KEY_ID_LEN + 1];
        evs_keyring_stats_get(p->keyring, &ks);
        evs_out_fmt(&o, "{\"topic\":\"%s%s\",\"next_offset\":%lld,\"applied\":%llu,"
                        "\"tombstones\":%llu,\"skipped\":%llu,\"syncs\":%llu,"
                        "\"compactions\":%llu,\"master_key_id\":",
                    p->config.topic, EVS_KEY_TOPIC_SUFFIX, (long long)ks.next_offset,
                    (unsigned long long)ks.applied, (unsigned long long)ks.tombstones,
                    (unsigned long long)ks.skipped, (unsigned long long)ks.syncs,
                    (unsigned long long)ks.compactions);
        if (evs_keyring_master_id(p->keyring, master))
            evs_out_fmt(&o, "\"%s\"}", master);
        else
            evs_out_str(&o, "null}");
    } else {
        evs_out_str(&o, "null");
    }
    evs_out_str(&o, "}");
    free(hw);
    return evs_http_send_json(c, MHD_HTTP_OK, &o);
}

static enum MHD_Result get_health(evs_projector *p, struct MHD_Connection *c)
{
    evs_out o = {0};
    pthread_mutex_lock(&p->lock);
    int failed = p->failure[0] != 0;
    if (failed) {
        evs_out_str(&o, "{\"status\":\"refusing\",\"reason\":");
        evs_out_jstr(&o, p->failure, strlen(p->failure));
        evs_out_str(&o, "}");
    } else {
        evs_out_str(&o, "{\"status\":\"ok\"}");
    }
    pthread_mutex_unlock(&p->lock);
    return evs_http_send_json(c, failed ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK, &o);
}

/* Handlers of the core endpoints, in the routing signature. */
static enum MHD_Result route_health(const evs_http_request *r)
{
    return get_health(r->projector, r->connection);
}

static enum MHD_Result route_status(const evs_http_request *r)
{
    return get_status(r->projector, r->connection);
}

static enum MHD_Result route_all(const evs_http_request *r)
{
    return get_all(r->projector, r->connection);
}

static enum MHD_Result route_stream(const evs_http_request *r)
{
    return get_stream(r->projector, r->connection, r->rest);
}

/* GET /streams/{stream}/metadata (the table's shape guarantees the suffix). */
static enum MHD_Result route_stream_metadata(const evs_http_request *r)
{
    return get_stream_metadata(r->projector, r->connection, r->rest, strcspn(r->rest, "/"));
}

static enum MHD_Result route_category(const evs_http_request *r)
{
    return get_ordered(r->projector, r->connection, EVS_INDEX_CATEGORY, r->rest);
}

static enum MHD_Result route_type(const evs_http_request *r)
{
    return get_ordered(r->projector, r->connection, EVS_INDEX_TYPE, r->rest);
}

static enum MHD_Result route_verdict(const evs_http_request *r)
{
    return get_verdict(r->projector, r->connection, r->rest);
}

/* The routing table: the first entry whose prefix matches and whose `methods` list the
 * request's method wins, so one path may have an entry per method, each in its own module.
 * An exact entry matches only the whole path; a prefix entry needs something after its
 * prefix. A path that some entry matches, but none with the method, answers 405 with an
 * Allow header listing the methods of the entries that match it; `methods` "*" takes every
 * method, for a handler that knows better which ones each of its paths takes (and answers
 * that 405 itself).
 * `access` is what a token must allow (http_auth.h); it stands before the handler so that
 * an entry without one does not compile. */
typedef struct route {
    const char *prefix;
    int exact;
    const char *methods;
    evs_access access;
    evs_http_handler handler;
    int reads_log; /* reads events: passes the read barrier first (P4 in projector.c) */
    /* A prefix entry's rest: NULL anything; "" one segment (no '/'); "/x" one segment
     * followed by "/x" (a stream's sub-resource). */
    const char *shape;
} route;

static const route routes[] = {
    {"/health", 1, "GET", EVS_ACCESS_OPEN, route_health, 0, NULL},
    {"/status", 1, "GET", EVS_ACCESS_ANY, route_status, 0, NULL},
    {"/cluster", 1, "GET", EVS_ACCESS_ANY, evs_cluster_handle, 0, NULL},
    {"/metrics", 1, "GET", EVS_ACCESS_READ, evs_metrics_handle, 0, NULL},
    {"/all", 1, "GET", EVS_ACCESS_READ_ALL, route_all, 1, NULL},
    {"/streams/", 0, "GET", EVS_ACCESS_READ_STREAM, route_stream, 1, ""},
    {"/streams/", 0, "POST", EVS_ACCESS_APPEND_STREAM, evs_http_append, 0, ""},
    {"/streams/", 0, "DELETE", EVS_ACCESS_APPEND_STREAM, evs_http_stream_lifecycle, 0, ""},
    {"/streams/", 0, "GET", EVS_ACCESS_READ_STREAM, route_stream_metadata, 1, "/metadata"},
    {"/streams/", 0, "POST", EVS_ACCESS_APPEND_STREAM, evs_http_stream_lifecycle, 0, "/truncate"},
    {"/streams/", 0, "PUT", EVS_ACCESS_APPEND_STREAM, evs_http_stream_lifecycle, 0, "/limits"},
    {"/verdicts/", 0, "GET", EVS_ACCESS_VERDICT, route_verdict, 0, NULL}, /* has a barrier of its own */
    {"/verdicts", 1, "POST", EVS_ACCESS_VERDICT, post_verdicts, 0, NULL}, /* so has this one */
    /* A subject's keys are sealed by the master key: anyone who may append somewhere may
     * fetch or make one; forgetting is an administrator's (http_keys.h). */
    {"/keys/", 0, "GET,POST", EVS_ACCESS_VERDICT, evs_keys_handle, 0, ""},
    {"/keys/", 0, "DELETE", EVS_ACCESS_ADMIN_ALL, evs_keys_handle, 0, ""},
    {"/categories/", 0, "GET", EVS_ACCESS_READ_CATEGORY, route_category, 1, NULL},
    {"/types/", 0, "GET", EVS_ACCESS_READ_ALL, route_type, 1, NULL},
    {"/subscriptions/", 0, "GET", EVS_ACCESS_READ_SUBSCRIPTION, evs_subscription_handle, 1, NULL},
    {"/checkpoints/", 0, "GET,PUT,DELETE", EVS_ACCESS_ADMIN_NAME, evs_checkpoint_handle, 0, NULL},
    {"/snapshots/", 0, "GET,PUT", EVS_ACCESS_ADMIN_NAME, evs_snapshot_handle, 0, NULL},
    {"/groups", 1, "GET", EVS_ACCESS_ADMIN_ALL, evs_groups_list_handle, 0, NULL},
    /* Which methods a group path takes depends on the rest of it: the handler answers 405. */
    {"/groups/", 0, "*", EVS_ACCESS_ADMIN_NAME, evs_groups_handle, 1, NULL},
    {"/streams", 1, "GET", EVS_ACCESS_READ_ALL, evs_streams_list_handle, 1, NULL},
    /* The console's files hold no data (the page asks the API, with the user's token), and
     * a browser cannot add a token to the page's own load: open, like /health. */
    {"/ui", 1, "GET", EVS_ACCESS_OPEN, evs_console_handle, 0, NULL},
    {"/ui/", 0, "GET", EVS_ACCESS_OPEN, evs_console_handle, 0, NULL},
};

#define ROUTE_COUNT (sizeof routes / sizeof routes[0])

/* Whether url is a path the entry serves (whatever the method). */
static int path_matches(const route *rt, const char *url)
{
    size_t n = strlen(rt->prefix);
    if (rt->exact)
        return !strcmp(url, rt->prefix);
    if (strncmp(url, rt->prefix, n) || !url[n])
        return 0;
    if (!rt->shape)
        return 1;
    const char *rest = url + n, *slash = strchr(rest, '/');
    if (!*rt->shape)
        return !slash;
    return slash && slash > rest && !strcmp(slash, rt->shape);
}

/* The route a request is counted under in /metrics: 1 + the first entry serving its path,
 * or 0 when none does. */
static size_t route_of(const char *url)
{
    for (size_t i = 0; i < ROUTE_COUNT; i++)
        if (path_matches(&routes[i], url))
            return i + 1;
    return 0;
}

/* What a request holds while it runs, within the connection caps (top of this file). */
typedef enum request_slot {
    SLOT_NONE = 0,     /* the reserve */
    SLOT_SUBSCRIPTION, /* an SSE subscription, until its stream ends */
    SLOT_LONG_POLL,    /* a consumer group's fetch (GET /groups/{g}/members/{m}/events) */
} request_slot;

/* Per-request state: the body as it arrives. */
typedef struct request_state {
    char *body;
    size_t len, cap;
    int too_large;
    struct timespec started; /* when the headers were in */
    request_slot slot;       /* taken at dispatch, given back by request_completed */
} request_state;

static int64_t ms_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* The slot a routed request needs. */
static request_slot slot_of(const route *rt, const char *method, const char *rest)
{
    if (rt->handler == evs_subscription_handle)
        return SLOT_SUBSCRIPTION;
    size_t n = strlen(rest);
    if (rt->handler == evs_groups_handle && !strcmp(method, "GET") && n > 7 &&
        !strcmp(rest + n - 7, "/events"))
        return SLOT_LONG_POLL;
    return SLOT_NONE;
}

/* Takes a slot for st, or queues 503 into *ret and returns 0 when its cap is reached. */
static int slot_take(evs_http_server *s, struct MHD_Connection *c, request_state *st,
                     request_slot slot, enum MHD_Result *ret)
{
    if (slot == SLOT_NONE)
        return 1;
    int cap = slot == SLOT_SUBSCRIPTION ? s->subscriptions_max : HTTP_LONG_POLLS_MAX;
    if (atomic_fetch_add(&s->slots_used[slot], 1) >= cap) {
        atomic_fetch_sub(&s->slots_used[slot], 1);
        *ret = evs_http_send_error(
            c, MHD_HTTP_SERVICE_UNAVAILABLE,
            "this projector has %d %s open, its most; retry later or use another replica "
            "(appends, verdicts and reads are not affected)",
            cap, slot == SLOT_SUBSCRIPTION ? "subscriptions" : "long polls");
        return 0;
    }
    st->slot = slot;
    return 1;
}

static int method_listed(const char *methods, const char *method)
{
    if (!strcmp(methods, "*"))
        return 1;
    size_t n = strlen(method);
    for (const char *m = methods; *m;) {
        const char *end = strchr(m, ',');
        size_t len = end ? (size_t)(end - m) : strlen(m);
        if (len == n && !strncmp(m, method, n))
            return 1;
        if (!end)
            break;
        m = end + 1;
    }
    return !strcmp(method, "HEAD") && method_listed(methods, "GET");
}

static int append_body(request_state *st, const char *data, size_t n)
{
    if (st->too_large || st->len + n > EVS_HTTP_BODY_MAX) {
        st->too_large = 1;
        return 0;
    }
    if (st->len + n + 1 > st->cap) {
        size_t cap = st->cap ? st->cap : 4096;
        while (cap < st->len + n + 1)
            cap *= 2;
        char *b = realloc(st->body, cap);
        if (!b) {
            st->too_large = 1;
            return 0;
        }
        st->body = b;
        st->cap = cap;
    }
    memcpy(st->body + st->len, data, n);
    st->len += n;
    st->body[st->len] = 0;
    return 0;
}

/* A read's causal token, "P:O[,P:O...]" (docs/HTTP-API.md, "Causal tokens"): waits until
 * this projector has written offset O of each partition P, at most token_wait_ms in all
 * (default TOKEN_WAIT_MS).
 * Returns 1 to go on with the read; 0 after queueing 400 (malformed), 421 (a partition not
 * served here) or 503 behind (not applied in time) into *ret. */
static int wait_token(evs_projector *p, struct MHD_Connection *c, enum MHD_Result *ret)
{
    const char *token = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
    if (!token)
        return 1;
    uint64_t wait_ms;
    if (evs_http_query_u64(c, "token_wait_ms", TOKEN_WAIT_MS, 0, TOKEN_WAIT_MAX_MS, &wait_ms,
                           ret) < 0)
        return 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    const char *s = token;
    int items = 0;
    do {
        char *end;
        if (*s < '0' || *s > '9')
            goto bad;
        errno = 0;
        unsigned long long part = strtoull(s, &end, 10);
        if (errno || *end != ':' || end[1] < '0' || end[1] > '9')
            goto bad;
        unsigned long long offset = strtoull(end + 1, &end, 10);
        if (errno || (*end && *end != ',') || offset > INT64_MAX || ++items > 1000)
            goto bad;
        if (part >= (unsigned long long)p->partition_count) {
            *ret = evs_http_send_error(c, MHD_HTTP_BAD_REQUEST,
                                       "token names partition %llu; the topic has %d", part,
                                       (int)p->partition_count);
            return 0;
        }
        if (!evs_http_served(p, c, (int32_t)part, ret))
            return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        int64_t next = 0;
        if (!evs_projector_wait_applied(p, (int32_t)part, (int64_t)offset,
                                        spent < (long)wait_ms ? (int)(wait_ms - spent) : 0,
                                        &next)) {
            char msg[256];
            snprintf(msg, sizeof msg,
                     "this projector has not applied partition %llu offset %llu within %d ms "
                     "(it is at %lld); ask another replica or retry", part, offset,
                     (int)wait_ms, (long long)next);
            evs_out o = {0};
            evs_out_str(&o, "{\"error\":");
            evs_out_jstr(&o, msg, strlen(msg));
            evs_out_fmt(&o, ",\"error_type\":\"behind\",\"partition\":%llu,\"offset\":%llu,"
                        "\"applied\":%lld}", part, offset, (long long)next);
            *ret = evs_http_send_json(c, MHD_HTTP_SERVICE_UNAVAILABLE, &o);
            return 0;
        }
        s = end;
        if (*s == ',' && !*++s)
            goto bad; /* a trailing comma */
    } while (*s);
    return 1;
bad:
    *ret = evs_http_send_error(c, MHD_HTTP_BAD_REQUEST,
                               "invalid token: expected PARTITION:OFFSET[,PARTITION:OFFSET...]");
    return 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    evs_http_server *s = cls;
    request_state *st = *state;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st)
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &st->started);
        *state = st;
        return MHD_YES;
    }
    if (*upload_size) {
        if (ms_since(&st->started) > HTTP_BODY_TIME_MAX_MS)
            return MHD_NO; /* a client this slow is dropped: closes the connection */
        append_body(st, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (strlen(url) > HTTP_URL_MAX)
        return evs_http_send_error(c, MHD_HTTP_URI_TOO_LONG, "URL longer than %d bytes",
                                   HTTP_URL_MAX);
    if (st->too_large)
        return evs_http_send_error(c, MHD_HTTP_CONTENT_TOO_LARGE,
                                   "request body larger than %u bytes", EVS_HTTP_BODY_MAX);
    char allowed[64] = ""; /* the methods of the entries that match the path */
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const route *rt = &routes[i];
        size_t n = strlen(rt->prefix);
        if (!path_matches(rt, url))
            continue;
        if (!method_listed(rt->methods, method)) {
            size_t used = strlen(allowed);
            snprintf(allowed + used, sizeof allowed - used, "%s%s", used ? "," : "",
                     rt->methods);
            continue;
        }
        enum MHD_Result ret;
        const char *rest = rt->exact ? "" : url + n;
        if (!evs_http_auth_check(s->auth, c, rt->access, rest, &ret) ||
            !slot_take(s, c, st, slot_of(rt, method, rest), &ret))
            return ret;
        if (rt->reads_log && !wait_token(s->projector, c, &ret))
            return ret;
        if (rt->reads_log && !evs_projector_wait_written(s->projector, READ_BARRIER_TIMEOUT_MS))
            return not_written(s->projector, c);
        evs_http_request req = {s->projector, c, method, url, rt->exact ? "" : url + n,
                                st->body ? st->body : "", st->len};
        return rt->handler(&req);
    }
    if (allowed[0])
        return evs_http_send_not_allowed(c, method, allowed);
    return evs_http_send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint: %.200s", url);
}

/* handle(), and each answered request counted once in /metrics (obs/metrics.h): its route,
 * method, status, and the time to its queued answer. */
static enum MHD_Result handle_counted(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version,
                                      const char *upload, size_t *upload_size, void **state)
{
    if (!*state || *upload_size) /* the headers' call, and the body as it arrives */
        return handle(cls, c, url, method, version, upload, upload_size, state);
    uint64_t start = evs_metrics_now_ns();
    enum MHD_Result ret = handle(cls, c, url, method, version, upload, upload_size, state);
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
    evs_http_server *s = cls;
    evs_metrics_http_request(&s->projector->metrics, route_of(url), method,
                             info ? info->http_status : 0, evs_metrics_now_ns() - start);
    return ret;
}

static void request_completed(void *cls, struct MHD_Connection *c, void **state,
                              enum MHD_RequestTerminationCode code)
{
    request_state *st = *state;
    evs_http_server *s = cls;
    if (st) {
        if (st->slot != SLOT_NONE)
            atomic_fetch_sub(&s->slots_used[st->slot], 1);
        free(st->body);
        free(st);
        *state = NULL;
    }
}

int evs_http_start(evs_projector *p, const char *address, evs_http_server **out_server,
                   char *err, size_t err_len)
{
    char host[256];
    const char *colon = strrchr(address, ':');
    if (!colon || (size_t)(colon - address) >= sizeof host) {
        snprintf(err, err_len, "invalid --http address %s: expected HOST:PORT", address);
        return -1;
    }
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (*end || port <= 0 || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        snprintf(err, err_len, "invalid --http address %s: expected IPv4:PORT", address);
        return -1;
    }
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (routes[i].access == EVS_ACCESS_UNSET) { /* a programmer error, but say which */
            snprintf(err, err_len, "route %s has no access (http_auth.h)", routes[i].prefix);
            return -1;
        }
    }
    const evs_projector_config *cfg = &p->config;
    int tls = cfg->tls_cert_file && cfg->tls_key_file;
    if ((cfg->tls_cert_file != NULL) != (cfg->tls_key_file != NULL)) {
        snprintf(err, err_len, "--tls-cert and --tls-key go together: give both or neither");
        return -1;
    }
    /* Safe defaults (docs/SECURITY.md): beyond loopback, only with TLS and tokens. */
    int loopback = (ntohl(sa.sin_addr.s_addr) >> 24) == 127;
    if (!loopback && (!tls || !cfg->token_file) && !cfg->insecure) {
        snprintf(err, err_len,
                 "refusing to listen on %s without %s%s%s: anyone who can reach it could "
                 "read every event, append to any stream and delete consumer groups. Give "
                 "--tls-cert/--tls-key and --token-file (docs/SECURITY.md), listen on "
                 "127.0.0.1, or pass --insecure on a network you trust",
                 address, tls ? "" : "TLS", !tls && !cfg->token_file ? " and " : "",
                 cfg->token_file ? "" : "tokens");
        return -1;
    }
    if (tls && !MHD_is_feature_supported(MHD_FEATURE_TLS)) {
        snprintf(err, err_len, "this libmicrohttpd was built without TLS (GnuTLS)");
        return -1;
    }
    evs_http_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "evs_out of memory");
        return -1;
    }
    s->projector = p;
    s->subscriptions_max = cfg->subscriptions_max > 0 ? cfg->subscriptions_max
                                                      : HTTP_SUBSCRIPTIONS_MAX;
    if (s->subscriptions_max > HTTP_SUBSCRIPTIONS_LIMIT) {
        snprintf(err, err_len, "--max-subscriptions is at most %d", HTTP_SUBSCRIPTIONS_LIMIT);
        goto fail;
    }
    if (tls && (evs_http_read_file(cfg->tls_cert_file, "TLS certificate", &s->tls_cert, err,
                                   err_len) < 0 ||
                evs_http_read_file(cfg->tls_key_file, "TLS key", &s->tls_key, err, err_len) < 0))
        goto fail;
    if (cfg->token_file && evs_http_auth_open(cfg->token_file, &s->auth, err, err_len) < 0)
        goto fail;
    if (s->auth && cfg->internal_token &&
        evs_http_auth_set_internal(s->auth, cfg->internal_token) < 0) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    static const char *route_names[ROUTE_COUNT];
    for (size_t i = 0; i < ROUTE_COUNT; i++)
        route_names[i] = routes[i].prefix;
    evs_metrics_set_routes(&p->metrics, route_names, ROUTE_COUNT);
    /* No MHD_OPTION_LISTENING_ADDRESS_REUSE: it sets SO_REUSEPORT, which lets a second
     * projector listen on the same address and take half of the connections (verdicts and
     * reads of another store). libmicrohttpd still sets SO_REUSEADDR, so a restart need not
     * wait for old connections in TIME_WAIT; a port in use is refused. */
    struct MHD_OptionItem tls_options[] = {
        {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, s->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                     MHD_USE_ERROR_LOG | (tls ? MHD_USE_TLS : 0),
                                 0, NULL, NULL, handle_counted, s, MHD_OPTION_SOCK_ADDR, &sa,
                                 MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned)(s->subscriptions_max + HTTP_LONG_POLLS_MAX +
                                            HTTP_RESERVED_CONNECTIONS),
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S,
                                 MHD_OPTION_THREAD_STACK_SIZE, (size_t)HTTP_THREAD_STACK_BYTES,
                                 MHD_OPTION_UNESCAPE_CALLBACK, evs_http_unescape, NULL,
                                 MHD_OPTION_NOTIFY_COMPLETED, request_completed, s,
                                 MHD_OPTION_ARRAY, tls_options, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, err_len, "cannot listen on %s%s: %s", address,
                 tls ? " with TLS (are the certificate and key PEM files that match?)" : "",
                 strerror(errno));
        goto fail;
    }
    if (s->auth)
        fprintf(stderr, "evstore-projector: %zu tokens from %s; every route but /health "
                        "needs one\n",
                evs_http_auth_token_count(s->auth), cfg->token_file);
    *out_server = s;
    return 0;
fail:
    evs_http_auth_close(s->auth);
    free(s->tls_cert);
    free(s->tls_key);
    free(s);
    return -1;
}

void evs_http_stop(evs_http_server *s)
{
    if (!s)
        return;
    s->projector->stop = 1; /* ends subscriptions waiting for commits */
    evs_projector_wake_all(s->projector);
    MHD_stop_daemon(s->daemon);
    evs_http_auth_close(s->auth);
    free(s->tls_cert);
    free(s->tls_key);
    free(s);
}
