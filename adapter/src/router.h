/*
 * router.h - which projector a request of libevstore goes to, and how it fails over to
 * another (evstore.h, evs_client_options.projector_url; docs/ARCHITECTURE.md, "Replicas
 * and shards").
 *
 * A client is given seed URLs and learns the cluster from GET /cluster of any seed that
 * answers: the topic's partition count and, for each member, its URL, the partitions it
 * serves and whether it is live. Every projector the client knows (a seed or a listed
 * member) is an endpoint with its own pool of kept-alive connections (http_client.h).
 *
 * Routing rules:
 *  R1. A request about one partition P goes to a member serving P: first the one a request
 *      about P last succeeded on (sticky), then the home projector if it serves P, then the
 *      others in order (seeds as given, then members as listed). A seed that answered 404
 *      to /cluster (an older projector) serves every partition. Endpoints whose shard is
 *      unknown (a seed neither listed nor heard from) come after all of those.
 *  R2. A request about no partition goes to the home projector: the first that answered
 *      such a request in that order, kept until it fails (a lost connection, a timeout, a
 *      503). A 421 from it moves that one request on, not the home.
 *  R3. A member the view lists with live false is never used, seed or not.
 *  R4. Failover: a transport failure (EVS_EUNAVAILABLE, EVS_ETIMEOUT), a 503, a 421, and
 *      for a verdict wait a 504, move the request to the next candidate, refreshing the view
 *      once, within the call's time budget; each endpoint is tried at most once per call.
 *      Any other answer is final and goes back to the caller as it is.
 *  R5. The view is asked for again before a request when it is older than
 *      EVS_CLIENT_CLUSTER_REFRESH_MS, and when a request fails over and it is older than
 *      EVS_CLIENT_CLUSTER_FAILOVER_REFRESH_MS; one thread refreshes at a time, the others
 *      go on with the view they have (except before the first view, which they wait for).
 *      The first endpoint that answers /cluster (200, or 404 for an older projector) ends
 *      a refresh.
 *
 *  R6. A request about a consumer group goes first to the live member the view lists as
 *      coordinating the group's state partition (Kafka's murmur2 of the group name modulo
 *      the view's state_partitions), then as R2 says. When every candidate answers 421
 *      (the group's coordinator is being chosen, a rebalance), the request waits
 *      EVS_ROUTE_GROUP_RETRY_MS, refreshes the view and tries them all again, within its
 *      budget.
 *
 * Read-your-writes: the router keeps, for each partition, the highest offset of the
 * client's own appends whose verdict it learned (evs__router_note_verdict); a read about
 * partition P then carries token=P:O, which a projector answers only once it has written
 * offset O of P (503 "behind" otherwise: a failover by R4).
 *
 * Thread safety: one router serves every thread of a client. Its state (endpoints, view,
 * sticky choices, offsets) is under one mutex that is never held during I/O; refreshes are
 * serialized by a second one. Endpoints are only ever added, so the URL and the evs_http of
 * an endpoint stay valid until evs__router_close. An evs_route_attempt belongs to one call
 * (one thread, or one subscription).
 */
#ifndef EVS_ROUTER_H
#define EVS_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "http_client.h"

typedef struct evs_router evs_router;

/* The partition of a request about no partition (R2). */
#define EVS_ROUTE_HOME (-1)
/* The pause before a group request tries every projector again (R6). */
#define EVS_ROUTE_GROUP_RETRY_MS 250

/* Parses seed_list (comma-separated http:// or https:// URLs; blanks around each are
 * ignored, duplicates dropped) and opens the router. Connects nowhere. request_timeout_ms
 * bounds each GET /cluster and connect_timeout_ms each connect; security (may be NULL) is
 * kept by pointer for every projector's connections. Returns 0, EVS_EINVAL
 * naming the bad element, or EVS_ENOMEM. */
int evs__router_open(const char *seed_list, int request_timeout_ms, int connect_timeout_ms,
                     const evs_http_security *security, evs_router **out);

/* The security every request of the router uses (evs__router_open's, kept by pointer). */
const evs_http_security *evs__router_security(const evs_router *router);

/* Frees everything; no request may be running. NULL is allowed. */
void evs__router_close(evs_router *router);

/* Before a write that cannot be taken back (an append's produce): asks GET /cluster when
 * the client has no view yet, within budget_ms, and returns EVS_EAUTH (the last error set)
 * when the projectors that answered the last such request all refused the client's token
 * (401/403), else 0, also when none answered. */
int evs__router_check(evs_router *router, long budget_ms);

/* The first seed's URL (without a trailing '/'). Owned by the router. */
const char *evs__router_first_url(const evs_router *router);

/* How many times a request moved on from a projector to another (R4, R6), subscriptions
 * included (evs_client_metrics.failovers). */
uint64_t evs__router_failovers(const evs_router *router);

/* The topic's partition count from the view, asking for one first (R5) when the client has
 * none yet or it is older than EVS_CLIENT_CLUSTER_REFRESH_MS, within budget_ms: the count,
 * 0 when the projectors that answered do not know the cluster (older projectors, 404), or
 * -1 when none answered. */
int32_t evs__router_partitions(evs_router *router, long budget_ms);

/* Remembers that the client learned the verdict of its own append at offset of partition:
 * later reads of that partition carry a token at least this high. */
void evs__router_note_verdict(evs_router *router, int32_t partition, int64_t offset);

/* ---- One call's attempts (R4) ------------------------------------------------------ */

/* How an attempt ended, for the sticky choices (R1, R2). */
typedef enum evs_route_outcome {
    EVS_ROUTE_OK = 0,         /* a final answer */
    EVS_ROUTE_GONE = 1,       /* no answer: connection refused or lost, or a timeout */
    EVS_ROUTE_BUSY = 2,       /* 503 (or a verdict wait's 504): cannot answer now */
    EVS_ROUTE_NOT_SERVED = 3, /* 421: does not serve the partition */
} evs_route_outcome;

typedef struct evs_route_attempt {
    evs_router *router;
    const char *stream; /* the stream the request is about (its partition), or NULL */
    const char *group;  /* the consumer group it is about (R6), or NULL */
    int32_t partition;  /* else the partition it is about, or EVS_ROUTE_HOME */
    int32_t resolved;   /* the partition routed by at the last pick, or EVS_ROUTE_HOME */
    int64_t deadline_ms;
    uint64_t tried;     /* endpoints picked in this call, one bit each */
    int endpoint;       /* the current attempt's endpoint, or -1 */
    int attempts;
    int failed;         /* an attempt failed since the last refresh check */
    int refreshed;      /* the failover refresh was done (at most once per call) */
} evs_route_attempt;

/* Starts a call about stream (if not NULL) or partition, that may take budget_ms in all. */
void evs__route_begin(evs_route_attempt *attempt, evs_router *router, int32_t partition,
                      const char *stream, long budget_ms);

/* Gives the attempt a fresh budget (a subscription reconnecting). keep_tried: the
 * endpoints tried since the last success stay out of the next picks; else every endpoint
 * may be picked again. */
void evs__route_restart(evs_route_attempt *attempt, long budget_ms, int keep_tried);

/* Picks the next endpoint to try (refreshing the view as R5 says): 1 with *url (and *http
 * if not NULL) owned by the router, or 0 when no candidate is left or the budget is spent
 * after at least one attempt. */
int evs__route_next(evs_route_attempt *attempt, const char **url, evs_http **http);

/* Reports how the attempt on the last picked endpoint ended. After EVS_ROUTE_OK only that
 * endpoint counts as tried, so a later pick of the same attempt goes elsewhere first. */
void evs__route_done(evs_route_attempt *attempt, evs_route_outcome outcome);

/* Milliseconds left of the call's budget (at least 1). */
long evs__route_remaining_ms(const evs_route_attempt *attempt);

/* Writes the read-your-writes token "P:O" for the partition the last pick routed by into
 * out and returns 1, or returns 0 when the client has none for it. */
int evs__route_token(const evs_route_attempt *attempt, char *out, size_t out_len);

/* ---- A whole request with failover ------------------------------------------------- */

typedef struct evs_route_request {
    const char *method;   /* "GET", "PUT", "POST", "DELETE" */
    const char *path;     /* path and query, starting with '/' */
    const char *accept;   /* for a GET: the Accept header, or NULL */
    const char *body;     /* the JSON body, or NULL */
    size_t body_len;
    int32_t partition;    /* the partition the request is about, or EVS_ROUTE_HOME */
    const char *stream;   /* or the stream whose partition it is about (partition unused) */
    const char *group;    /* a consumer group's request: its name (R6), else NULL */
    int read;             /* a read: add the read-your-writes token */
    int verdict_wait_ms;  /* >= 0: a verdict wait; the query gets timeout_ms = the rest of
                             this wait, and a 504 fails over. -1: not one */
    long budget_ms;       /* the whole call, every attempt and refresh included */
    /* Or NULL: shown every answer that moves the request on (421, 503, a verdict wait's
     * 504) before it does, so a caller asking about many records may keep what that
     * projector did answer (verdict_mux.h). The answer is the router's: not kept. */
    void (*failover_seen)(void *ctx, const evs_http_response *answer);
    void *failover_ctx;
} evs_route_request;

/* Runs request with failover (R4). Returns 0 with *response holding a final answer, or
 * the last failover answer (421, 503, 504) when every candidate gave one; the caller maps
 * its status and frees it. On failure returns the last transport error (EVS_EUNAVAILABLE,
 * EVS_ETIMEOUT), EVS_EUNAVAILABLE when no projector could take the request at all,
 * EVS_EPROTOCOL or EVS_ENOMEM, with the thread's last error set. */
int evs__router_request(evs_router *router, const evs_route_request *request,
                        evs_http_response *response);

#endif /* EVS_ROUTER_H */
