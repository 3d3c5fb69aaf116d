/*
 * cli_subscribe.h - `evstore subscribe`: a catch-up subscription printed as NDJSON.
 */
#ifndef EVS_CLI_SUBSCRIBE_H
#define EVS_CLI_SUBSCRIBE_H

#include "cli_args.h"
#include "evstore.h"

/* Runs `evstore subscribe` with parsed args until the subscription ends (--no-follow),
 * fails, or SIGINT / SIGTERM arrives (then exit code 0, standard output flushed). Returns
 * the exit code. */
int evs_cli_subscribe(evs_client *client, const evs_cli_args *args);

#endif /* EVS_CLI_SUBSCRIBE_H */
