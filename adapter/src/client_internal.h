/*
 * client_internal.h - what the library's other modules (subscriptions, snapshots,
 * checkpoints, ...) may use of an evs_client, whose struct stays private to client.c.
 *
 * Everything returned here is owned by the client and lives as long as it: a module that
 * keeps a pointer (an open subscription keeps the base URL) requires that the client outlive
 * it, which the public header states for each such handle.
 */
#ifndef EVS_CLIENT_INTERNAL_H
#define EVS_CLIENT_INTERNAL_H

#include "evstore.h"
#include "http_client.h"

/* The client's shared, thread-safe HTTP client for the projector. */
evs_http *evs__client_http(const evs_client *client);

/* The client's request timeout (evs_client_options.request_timeout_ms, defaulted). */
int evs__client_request_timeout_ms(const evs_client *client);

#endif /* EVS_CLIENT_INTERNAL_H */
