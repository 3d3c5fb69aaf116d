/*
 * state_log.h - the replicated state: checkpoints, snapshots and consumer groups, saved by
 * clients, kept in the state topic and applied by every projector into its store.
 *
 * The state topic is "<events topic>.state": compacted, EVS_STATE_PARTITIONS partitions
 * when it is created. Each record is one store pair of the local state (the layouts are in
 * schemas/state_codec.h): the Kafka key is the store key, the value its evstore.State
 * record, a tombstone deletes the key. A key's partition is Kafka's murmur2 of the name in
 * it (a checkpoint's name, a snapshot's stream, a group's name), so everything of one group
 * is in one partition, in order.
 *
 * Invariants:
 *  S1. The store's local state is what the topic says, applied in order: an applier thread
 *      reads every partition (read_committed, from the offsets stored with what they
 *      applied, 'L' "T/" be32 partition -> be64 next offset) and writes each batch of
 *      records and the new offsets in one store write. Nothing else writes these keys.
 *  S2. A write (evs_state_write) is atomic: its records go to Kafka in one transaction, so
 *      every replica applies all of them or none. It returns once the transaction is
 *      committed and this projector has applied every record of it, so a reader of this
 *      projector sees what was saved through it.
 *  S3. A barrier (evs_state_barrier) is a record written through the same producer and read
 *      back: once applied, everything committed to that partition before it is applied too,
 *      whoever wrote it. A record of a transaction still open (a writer that died) is not
 *      readable until Kafka aborts it (transaction.timeout.ms, EVS_STATE_TXN_TIMEOUT_MS), so
 *      a barrier waits that long at most for it.
 *  S4. A record the applier cannot decode (not evstore.State, a key that is not its entry's)
 *      is skipped with a log line and counted; it changes nothing.
 *  S5. At start, a store that has never applied the topic (no "T/" keys) but has local
 *      state from before the state topic existed moves it to the topic once, when the
 *      topic is empty (a log line says how many records); when the topic already holds
 *      state, the topic's state replaces the local one (also said in the log). Then the
 *      projector reads the topic up to a barrier before it serves anything.
 */
#ifndef EVS_STATE_LOG_H
#define EVS_STATE_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "judge/projector.h"

#define EVS_STATE_PARTITIONS 8
#define EVS_STATE_TXN_TIMEOUT_MS 10000
/* How long a write or a barrier waits, at most, for Kafka and then for this projector to
 * apply it. */
#define EVS_STATE_WAIT_MS 15000

typedef struct evs_state_log evs_state_log;

/* Creates the state topic when missing, connects (the transactional producer's id is
 * "evstore-state.<events topic>.<member id>"), moves old local state (S5), starts the
 * applier and waits until it has caught up; sets p->state_log. Returns 0, or -1 with the
 * reason in err. */
int evs_state_log_start(evs_projector *p, const char *member_id, char *err, size_t err_len);

/* Stops the threads and frees everything; p->state_log NULL is allowed. */
void evs_state_log_stop(evs_projector *p);

/* Writes ops (store keys and values without the 'L'; a NULL value deletes) as one
 * transaction and waits until this projector has applied them (S2). Returns 0, or -1 with
 * the reason in err (nothing was written, or the outcome is not known in time). Without a
 * state log (p->state_log NULL: a program embedding the HTTP API with no Kafka, such as
 * the HTTP fuzzer) the ops go straight to the store in one write. */
int evs_state_write(evs_projector *p, const evs_local_op *ops, size_t n, char *err,
                    size_t err_len);

/* Writes a barrier to state partition `partition` and waits until it is applied (S3), at
 * most timeout_ms. Returns 0, or -1 with the reason in err. */
int evs_state_barrier(evs_projector *p, int32_t partition, int timeout_ms, char *err,
                      size_t err_len);

/* The state topic, its partition count, and the partition of a name's keys. */
const char *evs_state_topic(const evs_projector *p);
int32_t evs_state_partition_count(const evs_projector *p);
int32_t evs_state_partition_of(const evs_projector *p, const char *name, size_t len);

/* Bumped whenever a group definition ("GD/") is applied, whoever wrote it: groups.c
 * reloads the definitions when it changed. */
uint64_t evs_state_definitions_generation(const evs_projector *p);

/* For /status: records applied and skipped (S4) since the start. */
void evs_state_counts(const evs_projector *p, uint64_t *applied, uint64_t *skipped);

#endif /* EVS_STATE_LOG_H */
