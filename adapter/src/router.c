/*
 * router.c - the client's view of the projectors, the choice of one per request, and
 * failover (the rules R1-R5 and the threading contract are in router.h).
 *
 * Invariants:
 *  1. endpoints[0..endpoint_count) only grow; endpoints[0..seed_count) are the seeds in
 *     the order given. An endpoint's http (and so its URL) lives until evs__router_close.
 *  2. Everything in struct evs_router but refresh_lock is read and written under lock, and
 *     lock is never held across I/O: a refresh copies what it needs, asks without the
 *     lock, then applies the answer under it.
 *  3. An endpoint is listed, legacy (answered 404 to /cluster) or neither, never both:
 *     a view that lists it clears legacy, a 404 clears listed.
 *  4. sticky has `partitions` entries (NULL while partitions is 0), each an endpoint index
 *     or -1; home is an endpoint index or -1.
 *  5. written[p] is the highest offset + 1 of partition p the client has a verdict for,
 *     0 for none; it only grows.
 */
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "errors.h"
#include "event_json.h"
#include "evstore.h"
#include "partitioner.h"
#include "router.h"

_Static_assert(EVS_CLIENT_PROJECTORS_MAX <= 64, "tried is a 64-bit mask of endpoints");
_Static_assert(EVS_CLIENT_PROJECTORS_MAX <= 127, "sticky holds endpoint indexes as int8_t");

typedef struct endpoint {
    evs_http *http;     /* its connection pool; evs__http_base_url() is its URL */
    int listed;         /* in the last view from /cluster */
    int live;           /* when listed: the view's "live" */
    int legacy;         /* answered 404 to /cluster: an older projector serving everything */
    int32_t *served;    /* when listed: the partitions it serves, sorted, no repeats */
    size_t served_count;
    int32_t *coordinates; /* when listed: the state partitions whose consumer groups it
                             coordinates, sorted (R6) */
    size_t coordinated_count;
} endpoint;

struct evs_router {
    pthread_mutex_t lock;         /* invariant 2 */
    pthread_mutex_t refresh_lock; /* one refresh at a time (R5) */
    int request_timeout_ms;
    int connect_timeout_ms;
    const evs_http_security *security; /* the client's, may be NULL */
    endpoint endpoints[EVS_CLIENT_PROJECTORS_MAX];
    int endpoint_count;
    int seed_count;
    int32_t partitions; /* the topic's partition count from /cluster; 0 while unknown */
    _Atomic uint64_t failovers; /* requests moved on from an endpoint (R4) */
    int32_t state_partitions; /* the state topic's, for consumer groups (R6); 0: unknown */
    int8_t *sticky;     /* invariant 4 */
    int home;
    int64_t refreshed_ms; /* when the last refresh began; 0 for never */
    long refused_status;  /* 401 or 403 when the last refresh found only projectors that
                             refused the client's token, else 0 (evs__router_check) */
    char refused_body[512]; /* the last such answer's body, NUL-terminated */
    int64_t *written;     /* invariant 5 */
    int32_t written_count;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *endpoint_url(const endpoint *e)
{
    return evs__http_base_url(e->http);
}

/* ---- Endpoints (under lock) ------------------------------------------------------------ */

/* Copies url[0..len) without trailing '/' into out (EVS_CLIENT_PROJECTOR_URL_MAX + 1 bytes),
 * as evs__http_open keeps it; 0, or -1 when it is too long. */
static int url_normalize(const char *url, size_t len, char *out)
{
    while (len > 0 && url[len - 1] == '/')
        len--;
    if (len > EVS_CLIENT_PROJECTOR_URL_MAX)
        return -1;
    memcpy(out, url, len);
    out[len] = '\0';
    return 0;
}

/* 1 if url starts with http:// or https:// and names a host. */
static int url_acceptable(const char *url)
{
    size_t scheme = strncmp(url, "http://", 7) == 0    ? 7
                    : strncmp(url, "https://", 8) == 0 ? 8
                                                       : 0;
    return scheme > 0 && url[scheme] != '\0' && url[scheme] != '/';
}

static int endpoint_find(const evs_router *r, const char *url)
{
    for (int i = 0; i < r->endpoint_count; i++)
        if (strcmp(endpoint_url(&r->endpoints[i]), url) == 0)
            return i;
    return -1;
}

/* Adds an endpoint for a normalized, acceptable url and sets *index: 0, EVS_EINVAL when
 * the table is full, or evs__http_open's code, with the thread's last error set. */
static int endpoint_add(evs_router *r, const char *url, int *index)
{
    if (r->endpoint_count == EVS_CLIENT_PROJECTORS_MAX)
        return evs__set_error(EVS_EINVAL, "the client knows %d projectors already; %s is not "
                              "used", EVS_CLIENT_PROJECTORS_MAX, url);
    endpoint *e = &r->endpoints[r->endpoint_count];
    memset(e, 0, sizeof *e);
    int rc = evs__http_open(url, r->connect_timeout_ms, r->security, &e->http);
    if (rc != 0)
        return rc;
    *index = r->endpoint_count++;
    return 0;
}

static int served_compare(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* 1 if endpoint e serves partition (R1); partition EVS_ROUTE_HOME is served by all. */
static int endpoint_serves(const endpoint *e, int32_t partition)
{
    if (e->legacy || partition < 0)
        return 1;
    return bsearch(&partition, e->served, e->served_count, sizeof partition, served_compare) !=
           NULL;
}

/* How e ranks as a candidate for a request about partition: 2 known to serve it, 1 shard
 * unknown (last resort), 0 never (R1, R3). */
static int endpoint_rank(const endpoint *e, int32_t partition)
{
    if (e->listed && !e->live)
        return 0;
    if (!e->listed && !e->legacy)
        return 1;
    return endpoint_serves(e, partition) ? 2 : 0;
}

/* The best endpoint not in tried for a request about partition, or -1 (R1, R2). */
static int endpoint_pick(const evs_router *r, int32_t partition, uint64_t tried)
{
    int preferred[2] = {partition >= 0 && partition < r->partitions ? r->sticky[partition] : -1,
                        r->home};
    for (int k = 0; k < 2; k++) {
        int i = preferred[k];
        if (i >= 0 && !(tried >> i & 1) && endpoint_rank(&r->endpoints[i], partition) == 2)
            return i;
    }
    for (int rank = 2; rank >= 1; rank--)
        for (int i = 0; i < r->endpoint_count; i++)
            if (!(tried >> i & 1) && endpoint_rank(&r->endpoints[i], partition) == rank)
                return i;
    return -1;
}

/* ---- Open, close -------------------------------------------------------------------------- */

/* Adds the seed list[0..len) (already trimmed), element number n of the whole list. */
static int seed_add(evs_router *r, const char *list, const char *seed, size_t len, int n)
{
    char url[EVS_CLIENT_PROJECTOR_URL_MAX + 1];
    if (len == 0)
        return evs__set_error(EVS_EINVAL,
                              "projector URL list \"%.300s\" has an empty element (number %d); "
                              "separate URLs with single commas",
                              list, n);
    if (url_normalize(seed, len, url) != 0)
        return evs__set_error(EVS_EINVAL, "projector URL number %d is longer than %d bytes", n,
                              EVS_CLIENT_PROJECTOR_URL_MAX);
    if (!url_acceptable(url))
        return evs__set_error(EVS_EINVAL,
                              "projector URL \"%.300s\" must start with http:// or https:// "
                              "and name a host",
                              url);
    if (endpoint_find(r, url) >= 0)
        return 0; /* named twice: one endpoint */
    if (r->endpoint_count == EVS_CLIENT_PROJECTORS_MAX)
        return evs__set_error(EVS_EINVAL, "more than %d projector URLs in \"%.300s\"",
                              EVS_CLIENT_PROJECTORS_MAX, list);
    int index, rc = endpoint_add(r, url, &index);
    if (rc != 0)
        return rc;
    r->seed_count = r->endpoint_count;
    return 0;
}

static int seeds_parse(evs_router *r, const char *list)
{
    const char *p = list;
    for (int n = 1;; n++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        int rc = seed_add(r, list, p, len, n);
        if (rc != 0)
            return rc;
        if (!end)
            return 0;
        p = end + 1;
    }
}

const evs_http_security *evs__router_security(const evs_router *router)
{
    return router->security;
}

int evs__router_open(const char *seed_list, int request_timeout_ms, int connect_timeout_ms,
                     const evs_http_security *security, evs_router **out)
{
    int rc;
    evs_router *r;

    *out = NULL;
    if (!seed_list)
        return evs__set_error(EVS_EINVAL, "projector URL is NULL");
    if (!(r = calloc(1, sizeof *r)))
        return evs__set_error(EVS_ENOMEM, "out of memory opening a client");
    r->request_timeout_ms = request_timeout_ms;
    r->connect_timeout_ms = connect_timeout_ms;
    r->security = security;
    r->home = -1;
    if (pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r);
        return evs__set_error(EVS_EINTERNAL, "cannot create a mutex");
    }
    if (pthread_mutex_init(&r->refresh_lock, NULL) != 0) {
        pthread_mutex_destroy(&r->lock);
        free(r);
        return evs__set_error(EVS_EINTERNAL, "cannot create a mutex");
    }
    if ((rc = seeds_parse(r, seed_list)) != 0) {
        evs__router_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

void evs__router_close(evs_router *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->endpoint_count; i++) {
        evs__http_close(r->endpoints[i].http);
        free(r->endpoints[i].served);
        free(r->endpoints[i].coordinates);
    }
    free(r->sticky);
    free(r->written);
    pthread_mutex_destroy(&r->refresh_lock);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

uint64_t evs__router_failovers(const evs_router *r)
{
    return atomic_load_explicit(&((evs_router *)r)->failovers, memory_order_relaxed);
}

const char *evs__router_first_url(const evs_router *r)
{
    return endpoint_url(&r->endpoints[0]);
}

/* ---- The view ----------------------------------------------------------------------------- */

/* Sets the topic's partition count; the sticky choices start over when it changes. */
static void view_set_partitions(evs_router *r, int32_t partitions)
{
    if (partitions == r->partitions)
        return;
    int8_t *sticky = malloc((size_t)partitions * sizeof *sticky);
    if (!sticky)
        return; /* keep the old count: routing by it is still routing */
    memset(sticky, -1, (size_t)partitions);
    free(r->sticky);
    r->sticky = sticky;
    r->partitions = partitions;
}

/* Parses member[name], a list of partitions below limit, into *out (sorted, no repeats;
 * malloc'd) and *count; 0, or -1 when out of memory. */
static int partition_list(json_t *member, const char *name, int32_t limit, int32_t **out,
                          size_t *count)
{
    json_t *list = json_object_get(member, name);
    size_t n = json_is_array(list) ? json_array_size(list) : 0;
    int32_t *parts = malloc((n ? n : 1) * sizeof *parts);
    if (!parts)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(list, i);
        if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < limit)
            parts[k++] = (int32_t)json_integer_value(v);
    }
    qsort(parts, k, sizeof *parts, served_compare);
    size_t unique = 0;
    for (size_t i = 0; i < k; i++)
        if (unique == 0 || parts[unique - 1] != parts[i])
            parts[unique++] = parts[i];
    free(*out);
    *out = parts;
    *count = unique;
    return 0;
}

/* Fills e from one member object of /cluster; 0, or -1 when out of memory. */
static int member_fill(endpoint *e, json_t *member, int32_t partitions, int32_t state_partitions)
{
    if (partition_list(member, "partitions", partitions, &e->served, &e->served_count) < 0 ||
        partition_list(member, "coordinates", state_partitions, &e->coordinates,
                       &e->coordinated_count) < 0)
        return -1;
    e->live = !json_is_false(json_object_get(member, "live")); /* absent: live */
    e->listed = 1;
    e->legacy = 0; /* invariant 3 */
    return 0;
}

/* Applies the 200 answer to GET /cluster that endpoint `asked` gave: 0, or -1 when the body
 * is not a view (then nothing changes). Under lock; parsing only, no I/O. */
static int view_apply(evs_router *r, int asked, const char *body, size_t body_len)
{
    json_t *root = json_loadb(body, body_len, 0, NULL);
    json_t *count = json_object_get(root, "partitions");
    json_t *members = json_object_get(root, "members");
    if (!json_is_integer(count) || json_integer_value(count) < 1 ||
        json_integer_value(count) > EVS_CLIENT_PARTITIONS_MAX || !json_is_array(members)) {
        json_decref(root);
        return -1;
    }
    int32_t partitions = (int32_t)json_integer_value(count);
    view_set_partitions(r, partitions);
    json_t *state = json_object_get(root, "state_partitions"); /* absent: an older projector */
    int32_t state_partitions = json_is_integer(state) && json_integer_value(state) > 0 &&
                                       json_integer_value(state) <= EVS_CLIENT_PARTITIONS_MAX
                                   ? (int32_t)json_integer_value(state)
                                   : 0;
    r->state_partitions = state_partitions;
    for (int i = 0; i < r->endpoint_count; i++)
        r->endpoints[i].listed = 0;

    char url[EVS_CLIENT_PROJECTOR_URL_MAX + 1];
    json_t *self_member = NULL;
    const char *self = json_string_value(json_object_get(root, "self"));
    size_t index;
    json_t *member;
    json_array_foreach(members, index, member)
    {
        const char *text = json_string_value(json_object_get(member, "url"));
        const char *id = json_string_value(json_object_get(member, "id"));
        if (self && id && strcmp(self, id) == 0)
            self_member = member;
        if (!text || url_normalize(text, strlen(text), url) != 0 || !url_acceptable(url))
            continue; /* not a URL this client can use */
        int e = endpoint_find(r, url);
        if (e < 0 && endpoint_add(r, url, &e) != 0)
            continue; /* more members than EVS_CLIENT_PROJECTORS_MAX, or no memory */
        member_fill(&r->endpoints[e], member, partitions, state_partitions);
    }
    /* The projector that answered knows itself by its id, maybe under another URL than the
     * one this client reached it by: that endpoint is the same member. */
    if (!r->endpoints[asked].listed && self_member)
        member_fill(&r->endpoints[asked], self_member, partitions, state_partitions);
    json_decref(root);
    return 0;
}

/* Asks GET /cluster of one endpoint after another, home first, until one answers (R5),
 * never those in avoid nor those listed as gone. */
static void view_refresh(evs_router *r, int64_t deadline_ms, uint64_t avoid)
{
    int order[EVS_CLIENT_PROJECTORS_MAX];
    evs_http *https[EVS_CLIENT_PROJECTORS_MAX];
    int n = 0;

    pthread_mutex_lock(&r->lock);
    r->refreshed_ms = now_ms();
    for (int k = -1; k < r->endpoint_count; k++) {
        int i = k < 0 ? r->home : k;
        if (i < 0 || (k >= 0 && i == r->home) || (avoid >> i & 1))
            continue;
        if (r->endpoints[i].listed && !r->endpoints[i].live)
            continue;
        order[n] = i;
        https[n++] = r->endpoints[i].http;
    }
    pthread_mutex_unlock(&r->lock);

    for (int k = 0; k < n; k++) {
        long timeout_ms = (long)(deadline_ms - now_ms());
        if (timeout_ms <= 0)
            return;
        if (timeout_ms > r->request_timeout_ms)
            timeout_ms = r->request_timeout_ms;
        evs_http_response response;
        if (evs__http_get(https[k], "/cluster", timeout_ms, &response) != 0)
            continue; /* not reachable: ask the next */
        int answered = 0;
        pthread_mutex_lock(&r->lock);
        if (response.status == 401 || response.status == 403) {
            r->refused_status = response.status;
            snprintf(r->refused_body, sizeof r->refused_body, "%.*s",
                     (int)(response.body_len < 511 ? response.body_len : 511),
                     response.body ? response.body : "");
        } else {
            r->refused_status = 0;
        }
        if (response.status == 404) { /* an older projector: serves every partition */
            endpoint *e = &r->endpoints[order[k]];
            e->legacy = 1;
            e->listed = 0; /* invariant 3 */
            answered = 1;
        } else if (response.status == 200) {
            answered = view_apply(r, order[k], response.body, response.body_len) == 0;
        }
        pthread_mutex_unlock(&r->lock);
        evs__http_response_free(&response);
        if (answered)
            return;
    }
}

/* Refreshes the view when the last refresh began max_age_ms ago or more (R5). Before the
 * first refresh every caller waits for it; after that, a caller that finds a refresh
 * running goes on with the view it has. */
static void view_refresh_if_older(evs_router *r, int max_age_ms, const evs_route_attempt *a)
{
    pthread_mutex_lock(&r->lock);
    int64_t last = r->refreshed_ms;
    pthread_mutex_unlock(&r->lock);
    if (last != 0 && now_ms() - last < max_age_ms)
        return;
    if (last == 0)
        pthread_mutex_lock(&r->refresh_lock);
    else if (pthread_mutex_trylock(&r->refresh_lock) != 0)
        return;
    pthread_mutex_lock(&r->lock);
    last = r->refreshed_ms; /* another thread may have refreshed while this one waited */
    pthread_mutex_unlock(&r->lock);
    if (last == 0 || now_ms() - last >= max_age_ms)
        view_refresh(r, a->deadline_ms, a->tried);
    pthread_mutex_unlock(&r->refresh_lock);
}

int evs__router_check(evs_router *r, long budget_ms)
{
    evs_route_attempt a;
    evs__route_begin(&a, r, EVS_ROUTE_HOME, NULL, budget_ms);
    view_refresh_if_older(r, INT_MAX, &a); /* only when the client has no view yet */
    char body[sizeof r->refused_body];
    pthread_mutex_lock(&r->lock);
    long status = r->refused_status;
    snprintf(body, sizeof body, "%s", r->refused_body);
    pthread_mutex_unlock(&r->lock);
    return status ? evs__http_error(status, body, strlen(body), "the client's credentials")
                  : 0;
}

int32_t evs__router_partitions(evs_router *r, long budget_ms)
{
    evs_route_attempt a;
    evs__route_begin(&a, r, EVS_ROUTE_HOME, NULL, budget_ms);
    view_refresh_if_older(r, EVS_CLIENT_CLUSTER_REFRESH_MS, &a);
    pthread_mutex_lock(&r->lock);
    int32_t count = r->partitions > 0 ? r->partitions : -1;
    for (int i = 0; count < 0 && i < r->endpoint_count; i++)
        if (r->endpoints[i].legacy)
            count = 0;
    pthread_mutex_unlock(&r->lock);
    return count;
}

/* ---- Read-your-writes ------------------------------------------------------------------- */

void evs__router_note_verdict(evs_router *r, int32_t partition, int64_t offset)
{
    if (partition < 0 || partition >= EVS_CLIENT_PARTITIONS_MAX || offset < 0)
        return;
    pthread_mutex_lock(&r->lock);
    if (partition >= r->written_count) {
        int32_t count = partition + 1 > r->partitions ? partition + 1 : r->partitions;
        int64_t *grown = realloc(r->written, (size_t)count * sizeof *grown);
        if (grown) {
            memset(grown + r->written_count, 0,
                   (size_t)(count - r->written_count) * sizeof *grown);
            r->written = grown;
            r->written_count = count;
        }
    }
    if (partition < r->written_count && r->written[partition] < offset + 1)
        r->written[partition] = offset + 1; /* invariant 5 */
    pthread_mutex_unlock(&r->lock);
}

int evs__route_token(const evs_route_attempt *a, char *out, size_t out_len)
{
    evs_router *r = a->router;
    int32_t partition = a->resolved;
    int64_t next = 0;
    if (partition < 0)
        return 0;
    pthread_mutex_lock(&r->lock);
    if (partition < r->written_count)
        next = r->written[partition];
    pthread_mutex_unlock(&r->lock);
    if (next == 0)
        return 0;
    snprintf(out, out_len, "%" PRId32 ":%" PRId64, partition, next - 1);
    return 1;
}

/* ---- Attempts ----------------------------------------------------------------------------- */

void evs__route_begin(evs_route_attempt *a, evs_router *router, int32_t partition,
                      const char *stream, long budget_ms)
{
    memset(a, 0, sizeof *a);
    a->router = router;
    a->stream = stream;
    a->partition = stream ? EVS_ROUTE_HOME : partition;
    a->resolved = a->partition;
    a->endpoint = -1;
    a->deadline_ms = now_ms() + (budget_ms > 0 ? budget_ms : 1);
}

void evs__route_restart(evs_route_attempt *a, long budget_ms, int keep_tried)
{
    if (!keep_tried)
        a->tried = 0;
    a->attempts = 0;
    a->refreshed = 0; /* a->failed stays: a failure before the restart still refreshes */
    a->deadline_ms = now_ms() + (budget_ms > 0 ? budget_ms : 1);
}

long evs__route_remaining_ms(const evs_route_attempt *a)
{
    int64_t left = a->deadline_ms - now_ms();
    return left > 0 ? (long)left : 1;
}

/* The partition to route by now: a stream's by the view's partition count (none while it
 * is unknown), a partition the topic does not have as none (any projector refuses it). */
static int32_t route_partition(const evs_router *r, const evs_route_attempt *a)
{
    if (a->stream)
        return r->partitions > 0
                   ? evs_stream_partition(a->stream, strlen(a->stream), r->partitions)
                   : EVS_ROUTE_HOME;
    if (r->partitions > 0 && a->partition >= r->partitions)
        return EVS_ROUTE_HOME;
    return a->partition;
}

/* The live endpoint not in tried that the view says coordinates the group (R6), or -1. */
static int coordinator_pick(const evs_router *r, const char *group, uint64_t tried)
{
    if (!group || r->state_partitions <= 0)
        return -1;
    int32_t k = evs_stream_partition(group, strlen(group), r->state_partitions);
    for (int i = 0; i < r->endpoint_count; i++) {
        const endpoint *e = &r->endpoints[i];
        if (!(tried >> i & 1) && e->listed && e->live &&
            bsearch(&k, e->coordinates, e->coordinated_count, sizeof k, served_compare))
            return i;
    }
    return -1;
}

/* Picks under lock; the endpoint index or -1. */
static int route_pick(evs_route_attempt *a, const char **url, evs_http **http)
{
    evs_router *r = a->router;
    pthread_mutex_lock(&r->lock);
    a->resolved = route_partition(r, a);
    int e = coordinator_pick(r, a->group, a->tried);
    if (e < 0)
        e = endpoint_pick(r, a->resolved, a->tried);
    if (e >= 0) {
        *url = endpoint_url(&r->endpoints[e]);
        if (http)
            *http = r->endpoints[e].http;
    }
    pthread_mutex_unlock(&r->lock);
    return e;
}

int evs__route_next(evs_route_attempt *a, const char **url, evs_http **http)
{
    evs_router *r = a->router;
    if (a->attempts > 0 && now_ms() >= a->deadline_ms)
        return 0;
    if (a->attempts == 0)
        view_refresh_if_older(r, EVS_CLIENT_CLUSTER_REFRESH_MS, a);
    if (a->failed && !a->refreshed) { /* R4: refresh once when failing over */
        a->refreshed = 1;
        view_refresh_if_older(r, EVS_CLIENT_CLUSTER_FAILOVER_REFRESH_MS, a);
    }
    a->failed = 0;
    int e = route_pick(a, url, http);
    if (e < 0 && !a->refreshed) { /* nobody to ask: the view may be stale */
        a->refreshed = 1;
        view_refresh_if_older(r, EVS_CLIENT_CLUSTER_FAILOVER_REFRESH_MS, a);
        e = route_pick(a, url, http);
    }
    if (e < 0)
        return 0;
    a->endpoint = e;
    a->tried |= (uint64_t)1 << e;
    a->attempts++;
    return 1;
}

void evs__route_done(evs_route_attempt *a, evs_route_outcome outcome)
{
    evs_router *r = a->router;
    int e = a->endpoint;
    int32_t p = a->resolved;
    if (e < 0)
        return;
    if (outcome != EVS_ROUTE_OK) {
        a->failed = 1;
        atomic_fetch_add_explicit(&r->failovers, 1, memory_order_relaxed);
    }
    else
        a->tried = (uint64_t)1 << e;
    pthread_mutex_lock(&r->lock);
    int has_sticky = p >= 0 && p < r->partitions;
    switch (outcome) {
    case EVS_ROUTE_OK:
        if (has_sticky)
            r->sticky[p] = (int8_t)e;
        if (p < 0 && r->home < 0) /* R2: the home is chosen by requests about no partition */
            r->home = e;
        break;
    case EVS_ROUTE_GONE: /* probably down: forget it everywhere */
        if (r->home == e)
            r->home = -1;
        for (int32_t q = 0; q < r->partitions; q++)
            if (r->sticky[q] == e)
                r->sticky[q] = -1;
        break;
    case EVS_ROUTE_BUSY:
        if (has_sticky && r->sticky[p] == e)
            r->sticky[p] = -1;
        if (p < 0 && r->home == e)
            r->home = -1;
        break;
    case EVS_ROUTE_NOT_SERVED: /* R2: says nothing about the home's other requests */
        if (has_sticky && r->sticky[p] == e)
            r->sticky[p] = -1;
        break;
    }
    pthread_mutex_unlock(&r->lock);
}

/* ---- A whole request -------------------------------------------------------------------- */

/* The answers that move a request to another projector (R4). */
static int status_fails_over(long status, int verdict_wait)
{
    return status == 421 || status == 503 || (verdict_wait && status == 504);
}

/* Writes the attempt's path: the request's, plus the token and the rest of a verdict wait. */
static void attempt_path(const evs_route_attempt *a, const evs_route_request *q,
                         int64_t wait_deadline_ms, char *out, size_t out_len)
{
    char token[64];
    int n = snprintf(out, out_len, "%s", q->path);
    char separator = strchr(q->path, '?') ? '&' : '?';
    if (q->read && evs__route_token(a, token, sizeof token)) {
        n += snprintf(out + n, out_len - (size_t)n, "%ctoken=%s", separator, token);
        separator = '&';
    }
    if (q->verdict_wait_ms >= 0) {
        /* The first attempt waits as long as asked; a later one what is left of it. */
        int64_t left = wait_deadline_ms - now_ms();
        long wait_ms = a->attempts == 1 ? q->verdict_wait_ms : left > 0 ? (long)left : 0;
        snprintf(out + n, out_len - (size_t)n, "%ctimeout_ms=%ld", separator, wait_ms);
    }
}

int evs__router_request(evs_router *r, const evs_route_request *q, evs_http_response *response)
{
    int rc = 0;
    int last_rc = 0;
    char cause[EVS__ERROR_MAX] = "";
    evs_route_attempt a;
    const char *url;
    evs_http *http;
    size_t path_len = strlen(q->path) + 96;
    char *path = malloc(path_len);

    memset(response, 0, sizeof *response);
    if (!path)
        return evs__set_error(EVS_ENOMEM, "out of memory preparing an HTTP request");
    int64_t wait_deadline_ms = now_ms() + (q->verdict_wait_ms > 0 ? q->verdict_wait_ms : 0);
    evs__route_begin(&a, r, q->partition, q->stream, q->budget_ms);
    a.group = q->group;
again:
    while (evs__route_next(&a, &url, &http)) {
        evs__http_response_free(response); /* the previous candidate's failover answer */
        attempt_path(&a, q, wait_deadline_ms, path, path_len);
        long timeout_ms = evs__route_remaining_ms(&a);
        if (strcmp(q->method, "GET") == 0)
            rc = evs__http_get_accept(http, path, q->accept, timeout_ms, response);
        else
            rc = evs__http_request(http, q->method, path, q->body, q->body_len, timeout_ms,
                                   response);
        if (rc == 0 && !status_fails_over(response->status, q->verdict_wait_ms >= 0)) {
            evs__route_done(&a, EVS_ROUTE_OK);
            goto done;
        }
        if (rc != 0 && rc != EVS_EUNAVAILABLE && rc != EVS_ETIMEOUT)
            goto done; /* a local failure (memory, a malformed answer): final */
        if (rc == 0 && q->failover_seen)
            q->failover_seen(q->failover_ctx, response);
        evs__route_done(&a, rc != 0                  ? EVS_ROUTE_GONE
                            : response->status == 421 ? EVS_ROUTE_NOT_SERVED
                                                      : EVS_ROUTE_BUSY);
        last_rc = rc;
        if (rc != 0)
            snprintf(cause, sizeof cause, "%s", evs_last_error());
    }
    /* R6: every projector refused the group; one is being chosen to coordinate it. */
    if (q->group && a.attempts > 0 && last_rc == 0 && response->status == 421 &&
        now_ms() + EVS_ROUTE_GROUP_RETRY_MS < a.deadline_ms) {
        struct timespec pause = {0, EVS_ROUTE_GROUP_RETRY_MS * 1000000L};
        nanosleep(&pause, NULL);
        a.tried = 0;
        a.refreshed = 0;
        a.failed = 1; /* refresh the view before the next pick */
        goto again;
    }
    if (a.attempts == 0) {
        char about[64] = "the request";
        if (a.resolved >= 0)
            snprintf(about, sizeof about, "partition %" PRId32, a.resolved);
        rc = evs__set_error(EVS_EUNAVAILABLE,
                            "no live projector serves %s (seeds: %s%s); is evstore-projector "
                            "running there?",
                            about, evs__router_first_url(r), r->seed_count > 1 ? ", ..." : "");
    } else if (last_rc != 0) {
        if (a.attempts > 1)
            rc = evs__set_error(last_rc, "%s (the last of %d projectors tried)", cause,
                                a.attempts);
        else
            rc = evs__set_error(last_rc, "%s", cause);
    } else {
        rc = 0; /* every candidate gave a failover answer: the last one is the answer */
    }
done:
    if (rc != 0)
        evs__http_response_free(response);
    free(path);
    return rc;
}
