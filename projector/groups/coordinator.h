/*
 * coordinator.h - which projector coordinates which consumer groups, chosen by Kafka's own
 * consumer-group protocol (no election of evstore's).
 *
 * Every projector joins the Kafka consumer group "evstore-coordinators.<events topic>",
 * subscribed to the state topic (state/state_log.h) with the cooperative-sticky assignor,
 * and reads nothing through it (its partitions stay paused: the state log's applier reads
 * the topic). Kafka assigns each state partition to one live member; that member
 * coordinates every consumer group whose keys live in the partition
 * (evs_state_partition_of(group name)): it alone holds the group's members and deliveries
 * in memory and writes its progress. The others answer the group's requests with 421
 * not_coordinator, and clients move on (docs/HTTP-API.md).
 *
 * Invariants:
 *  K1. Before it serves a group of a partition newly assigned to it, a coordinator writes a
 *      barrier to the partition and applies the topic up to it (state_log.h, S3), so it
 *      loads the group with everything the previous coordinator committed.
 *  K2. When a partition is revoked (or lost), the coordinator first marks it not owned,
 *      then drops the in-memory state of its groups, each under the group's lock
 *      (evs_groups_release_partition), before the revocation returns to Kafka: a write of
 *      the old coordinator is either finished or never starts, before Kafka may hand the
 *      partition to another.
 *  K3. Every assignment and revocation of a partition bumps its epoch; a group's state
 *      remembers the epoch it was loaded in and is reloaded when that changed.
 * A coordinator that dies is replaced after Kafka's session timeout (EVS_COORD_SESSION_MS);
 * its members' events in flight are delivered again by the next one (at-least-once, in
 * per-stream order: group_logic.h, G2 and G5).
 */
#ifndef EVS_COORDINATOR_H
#define EVS_COORDINATOR_H

#include <stddef.h>
#include <stdint.h>

#include "judge/projector.h"

#define EVS_COORD_SESSION_MS 6000
#define EVS_COORD_BARRIER_MS 15000

typedef struct evs_coordinator evs_coordinator;

/* Joins the coordinators' Kafka group (needs p->state_log) and starts its thread; sets
 * p->coordinator. Returns 0, or -1 with the reason in err. */
int evs_coordinator_start(evs_projector *p, char *err, size_t err_len);

/* Closes the consumer (its revocation drops the groups held here), stops the thread and
 * frees everything. A static member sends Kafka no leave: the others take its partitions
 * over after the session timeout, unless it comes back with the same member id first.
 * p->coordinator NULL is allowed. */
void evs_coordinator_stop(evs_projector *p);

/* Whether this projector coordinates state partition `partition` and is ready to (K1: the
 * first caller after an assignment writes and waits for the barrier). Returns 1 with the
 * partition's epoch in *epoch, 0 when it does not coordinate it, -1 with the reason in err
 * when the barrier failed. Without a coordinator (p->coordinator NULL) every partition is
 * this projector's, epoch 0. */
int evs_coordinator_acquire(evs_projector *p, int32_t partition, uint64_t *epoch, char *err,
                            size_t err_len);

/* Whether the partition is still coordinated here in the given epoch (cheap; no wait). */
int evs_coordinator_current(evs_projector *p, int32_t partition, uint64_t epoch);

/* The state partitions coordinated here, ascending, into out (max entries); returns the
 * count. */
size_t evs_coordinator_partitions(evs_projector *p, int32_t *out, size_t max);

#endif /* EVS_COORDINATOR_H */
