/*
 * cli_snapshot.h - `evstore snapshot` and `evstore checkpoint`: the state a subscriber or
 * an aggregate keeps in the projector.
 */
#ifndef EVS_CLI_SNAPSHOT_H
#define EVS_CLI_SNAPSHOT_H

#include "cli_args.h"
#include "evstore.h"

/* `evstore snapshot save|load ...`; returns the exit code. */
int evs_cli_snapshot(evs_client *client, const evs_cli_args *args);

/* `evstore checkpoint save|load|delete ...`; returns the exit code. */
int evs_cli_checkpoint(evs_client *client, const evs_cli_args *args);

#endif /* EVS_CLI_SNAPSHOT_H */
