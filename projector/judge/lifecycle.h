/*
 * lifecycle.h - what an accepted lifecycle command does to its stream, and the sweep of
 * the limited streams (docs/ARCHITECTURE.md, "Lifecycle").
 *
 * Each command moves the stream's first kept version up (never down) and removes the
 * versions below it from every index (store.h, L4):
 *  delete       -> first = current + 1, soft-deleted; an append recreates the stream at
 *                  current + 1 (versions continue), and what was removed stays removed
 *  hard_delete  -> first = current + 1, hard-deleted (a tombstone), limits cleared
 *  truncate     -> first = min(truncate_before, current + 1)
 *  set_limits   -> the limits replace the old ones (0 clears one); first moves to what
 *                  they allow now
 * Limits: max_count keeps the newest max_count versions; max_age_ms keeps the versions
 * whose log time (their record's Kafka timestamp) is at least the partition's log time
 * minus max_age_ms. The partition's log time is the latest Kafka timestamp applied in it:
 * nothing here reads a clock, so every replica and every rebuild remove the same versions
 * at the same record. Reads of a stream apply max_count exactly (http); the removal
 * itself happens at the command, and at the sweep before the first record of each new
 * second of log time (apply.h, A7).
 *
 * Every function here runs in a batch of its own (store.h, L1) and reads the database.
 */
#ifndef EVS_LIFECYCLE_H
#define EVS_LIFECYCLE_H

#include <stdint.h>

#include "index/store.h"

/* Applies an accepted command (req->operation is not append) to its stream. */
int evs_lifecycle_apply(evs_store *store, evs_store_batch *batch, int32_t partition,
                        const evs_append_request *req, int64_t log_time_ms);

/* Removes from every limited stream of the partition what its limits no longer allow at
 * log time log_time_ms. */
int evs_lifecycle_sweep(evs_store *store, evs_store_batch *batch, int32_t partition,
                        int64_t log_time_ms);

/* Sets *limited when the partition has a stream with limits. */
int evs_lifecycle_has_limits(evs_store *store, evs_store_batch *batch, int32_t partition,
                             int *limited);

/* The first version of a stream at `version` that its lifecycle lets a read return, by the
 * removals and by max_count (exact; the sweep may not have removed the rest yet). */
uint64_t evs_lifecycle_first_readable(uint64_t version, const evs_stream_lifecycle *life);

#endif /* EVS_LIFECYCLE_H */
