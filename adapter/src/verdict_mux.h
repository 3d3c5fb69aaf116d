/*
 * verdict_mux.h - an append's wait for its verdict (client.c, step 3), shared by the
 * appends of one client that wait at the same time (docs/ARCHITECTURE.md, "An append, step
 * by step").
 *
 * Combining, with no thread of its own: per partition, at most one verdict request of the
 * client is in flight. A waiter that finds none becomes the leader: it takes every wait
 * queued for that partition (itself first, at most EVS_VERDICT_MUX_BATCH_MAX), asks
 * for them all in one POST /verdicts through the router (router.h: the same replica
 * choice, failover on 421, 503 and 504, and the same time budget as one GET), hands each
 * waiter its own item of the answer, and passes the lead to the oldest wait queued
 * meanwhile. A leader alone in its batch asks GET /verdicts/{id}?partition=P&offset=O at
 * once, exactly as a client that waits for one verdict, so a lone append is not slowed.
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

#include "http_client.h"
#include "router.h"

/* The most waits one request takes (the projector's cap on POST /verdicts). */
#define EVS_VERDICT_MUX_BATCH_MAX 1000
/* Partitions from this one on are waited for one GET each. */
#define EVS_VERDICT_MUX_PARTITIONS_MAX 4096

typedef struct evs_verdict_mux evs_verdict_mux;

/* Opens the waits of a client whose requests go through router (kept by pointer);
 * request_timeout_ms is added to each wait's budget. Returns 0 or EVS_ENOMEM. */
int evs__verdict_mux_open(evs_router *router, int request_timeout_ms, evs_verdict_mux **out);

/* Frees it; no wait may be running. NULL is allowed. */
void evs__verdict_mux_close(evs_verdict_mux *mux);

/* Waits, at most wait_ms on the projectors, for the verdict of append_id (its text form),
 * the record at offset of partition. Returns 0 with *response holding the answer to map
 * (evs__verdict_from_http_for; the caller frees it), or the router's error with the
 * thread's last error set (evs__router_request). */
int evs__verdict_mux_wait(evs_verdict_mux *mux, const char *append_id, int32_t partition,
                          int64_t offset, int wait_ms, evs_http_response *response);

/* Whether the client waits with one GET per append from now on (a projector without
 * POST /verdicts answered). */
int evs__verdict_mux_uses_get(const evs_verdict_mux *mux);

#endif /* EVS_VERDICT_MUX_H */
