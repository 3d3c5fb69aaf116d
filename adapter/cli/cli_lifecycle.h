/*
 * cli_lifecycle.h - `evstore delete`, `truncate`, `limits` and `info`: a stream's lifecycle
 * commands and its metadata.
 */
#ifndef EVS_CLI_LIFECYCLE_H
#define EVS_CLI_LIFECYCLE_H

#include "cli_args.h"
#include "evstore.h"

/* Runs args->command (EVS_CLI_DELETE, EVS_CLI_TRUNCATE, EVS_CLI_LIMITS or EVS_CLI_INFO) on
 * the stream args->target; returns the exit code. */
int evs_cli_lifecycle(evs_client *client, const evs_cli_args *args);

#endif /* EVS_CLI_LIFECYCLE_H */
