/*
 * cli_across.h - which partitions a read or a subscription of the `evstore` CLI covers
 * (usage in cli_args.c; evstore.h, "Across partitions").
 *
 * The rule: a stream, or --partition P, is one partition, printed as always. $all, a
 * category or a type without --partition covers every partition of the topic: on a topic
 * of one partition that is the one-partition read, printed exactly as before, unless
 * --from gave a position vector; on a topic of several it is a read or a subscription
 * across partitions, whose lines also name their "partition".
 */
#ifndef EVS_CLI_ACROSS_H
#define EVS_CLI_ACROSS_H

#include "cli_args.h"
#include "evstore.h"

typedef struct evs_cli_scope {
    int across;               /* use the *_across reads, or EVS_PARTITION_ALL */
    int with_partition;       /* print "partition" in each line: the topic has several */
    evs_position_vector from; /* across: where to begin in each partition (--from VECTOR,
                                 else empty); owned, freed by evs_cli_scope_free */
} evs_cli_scope;

/* Decides the scope of args (asking the client for the topic's partition count when it
 * matters) into *scope. A client that cannot learn the count is taken to have one
 * partition, so the request itself reports why the projector cannot be reached. Returns 0
 * (then free it with evs_cli_scope_free), or an exit code after printing the failure (then
 * nothing is left to free). */
int evs_cli_scope_open(evs_client *client, const evs_cli_args *args, evs_cli_scope *scope);

void evs_cli_scope_free(evs_cli_scope *scope);

/* Prints "evstore: resume with --from VECTOR" to standard error for a subscription across
 * partitions, VECTOR its evs_subscription_positions(); nothing when that fails. */
void evs_cli_print_resume(const evs_subscription *subscription);

#endif /* EVS_CLI_ACROSS_H */
