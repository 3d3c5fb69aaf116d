/*
 * client_internal.h - what the library's other modules (subscriptions, snapshots,
 * checkpoints, ...) may use of an evs_client, whose struct stays private to client.c.
 *
 * Everything returned here is owned by the client and lives as long as it: a module that
 * keeps a pointer (an open subscription keeps the router and the URLs it hands out)
 * requires that the client outlive it, which the public header states for each such
 * handle.
 */
#ifndef EVS_CLIENT_INTERNAL_H
#define EVS_CLIENT_INTERNAL_H

#include "evstore.h"
#include "router.h"

/* The client's shared, thread-safe router: every request to a projector goes through it
 * (router.h), so that it reaches a projector serving what it is about and fails over. */
evs_router *evs__client_router(const evs_client *client);

/* The client's request timeout (evs_client_options.request_timeout_ms, defaulted). */
int evs__client_request_timeout_ms(const evs_client *client);

/* One request about no partition (status, checkpoints, snapshots: router.h, R2) taking at
 * most budget_ms: evs__router_request with its return and ownership rules. */
int evs__client_home_request(evs_client *client, const char *method, const char *path,
                             const char *body, size_t body_len, long budget_ms,
                             evs_http_response *response);
/* The same for a request about consumer group `group`, sent to its coordinator (R6). */
int evs__client_group_request(evs_client *client, const char *group, const char *method,
                              const char *path, const char *body, size_t body_len,
                              long budget_ms, evs_http_response *response);

/* Personal data (subject_keys.c): the client's master key and its cache of data keys, both
 * NULL when the client was opened without a master key. */
struct evs_master_key;
struct evs_key_cache;
const struct evs_master_key *evs__client_master_key(const evs_client *client);
struct evs_key_cache *evs__client_key_cache(const evs_client *client);

#endif /* EVS_CLIENT_INTERNAL_H */
