/*
 * verdict_mux.h - an append's wait for its verdict (client.c, step 3), shared by the
 * appends of one client that wait at the same time (docs/ARCHITECTURE.md, "An append, step
 * by step").
 *
 * Combining, with no thread of its own: per partition, at most EVS_VERDICT_MUX_IN_FLIGHT
 * verdict requests of the client are in flight. A waiter that finds fewer becomes a
 * leader at once and asks GET /verdicts/{id}?partition=P&offset=O alone, exactly as a
 * client that waits for one verdict, so a lone append is not slowed. Other waiters queue.
 * A leader whose request ends passes its place to the oldest wait queued, which takes
 * the waits queued behind it too (itself first, at most EVS_VERDICT_MUX_BATCH_MAX), asks
 * for them all in one POST /verdicts through the router (router.h: the same replica
 * choice, failover on 421, 503 and 504, and the same time budget as one GET) and hands
 * each waiter its own item of the answer.
 *
 * Each waiter gets what that GET would have given it: the status and body of its item
 * (docs/HTTP-API.md, "POST /verdicts"), or the whole answer when it was not a list of
 * verdicts (a 401, a 503 from every replica), or the router's error. An item a replica
 * judged in an answer that then failed over (a 504: others were not judged yet) keeps
 * that replica's answer. A projector that does not know the route (404 or 405 to the
 * POST: an older one) makes every wait of the client, from then on, its own GET.
 */
#ifndef EVS_VERDICT_MUX_H
#define EVS_VERDICT_MUX_H

#include <stdint.h>

#include <jansson.h>

#include "http_client.h"
#include "router.h"

/* The most waits one request takes (the projector's cap on POST /verdicts). */
#define EVS_VERDICT_MUX_BATCH_MAX 1000
/* The most verdict requests of one client in flight per partition. A request waits for
 * its slowest item, so with one only, a wait that queues behind it waits for the rest of
 * that request and then its own; with two, the second request starts as soon as the
 * first ends or at once, and verdicts come back about twice as often. */
#define EVS_VERDICT_MUX_IN_FLIGHT 2
/* Partitions from this one on are waited for one GET each. */
#define EVS_VERDICT_MUX_PARTITIONS_MAX 4096

typedef struct evs_verdict_mux evs_verdict_mux;

/* Opens the waits of a client whose requests go through router (kept by pointer);
 * request_timeout_ms is added to each wait's budget. Returns 0 or EVS_ENOMEM. */
int evs__verdict_mux_open(evs_router *router, int request_timeout_ms, evs_verdict_mux **out);

/* Frees it; no wait may be running. NULL is allowed. */
void evs__verdict_mux_close(evs_verdict_mux *mux);

/* Waits, at most wait_ms on the projectors, for the verdict of append_id (its text form),
 * the record at offset of partition. Returns 0 with the answer to map, which the caller
 * frees: either *verdict, a verdict (HTTP 200) already parsed from a shared answer
 * (evs__verdict_from_json; json_decref it), or, with *verdict NULL, *response
 * (evs__verdict_from_http_for). Else the router's error with the thread's last error set
 * (evs__router_request), and nothing to free. */
int evs__verdict_mux_wait(evs_verdict_mux *mux, const char *append_id, int32_t partition,
                          int64_t offset, int wait_ms, evs_http_response *response,
                          json_t **verdict);

/* Whether the client waits with one GET per append from now on (a projector without
 * POST /verdicts answered). */
int evs__verdict_mux_uses_get(const evs_verdict_mux *mux);

#endif /* EVS_VERDICT_MUX_H */
