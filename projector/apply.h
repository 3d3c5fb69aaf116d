/*
 * apply.h - applies records of the events topic to the store, in offset order.
 *
 * For each record of a partition, in offset order (docs/ARCHITECTURE.md, "Applying"):
 *  A1. a record below the partition's next offset was applied before: ignored;
 *  A2. a value that does not decode is skipped: the reason is stored under its offset;
 *  A3. a record whose append id already has a verdict is a repeat: skipped the same way,
 *      the first verdict stands;
 *  A4. a record whose key is not its stream, or that breaks a limit, gets verdict INVALID;
 *  A5. otherwise the rule (rule.h) judges it; accepted events get the next positions.
 * Every rule reads only the record and the state before it, so any projector applying the
 * same log reaches the same state. A batch of records is committed in one write batch
 * together with each partition's next offset (store.h, S1).
 */
#ifndef EVS_APPLY_H
#define EVS_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct evs_input_record {
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
} evs_input_record;

typedef struct evs_apply_stats {
    uint64_t records;   /* records applied (any verdict) */
    uint64_t events;    /* events accepted */
    uint64_t skipped;   /* records skipped (A2, A3) */
    uint64_t ignored;   /* records ignored as already applied (A1) */
} evs_apply_stats;

typedef struct evs_applier {
    evs_store *store;
    int32_t partition_count;
    int64_t *next_offset;     /* per partition: next offset to apply */
    uint64_t *last_position;  /* per partition: last position assigned */
    evs_apply_stats stats;
    int quiet;                /* do not log skipped records */
} evs_applier;

/* Loads each partition's state from the store. */
int evs_applier_init(evs_applier *a, evs_store *store, int32_t partition_count);
void evs_applier_free(evs_applier *a);

/* Applies n records (any partitions, each partition's records in offset order) and commits
 * them in one write batch. On a storage error nothing of the batch is kept, the in-memory
 * state is reloaded from the store, and a negative code is returned with err set. */
int evs_applier_apply(evs_applier *a, const evs_input_record *records, size_t n, char *err,
                      size_t err_len);

#endif /* EVS_APPLY_H */
