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
 *  A6. an accepted lifecycle command removes what it says (judge/lifecycle.h), in a batch
 *      of its own (store.h, L1);
 *  A7. before the first record of each new second of a partition's log time (the latest
 *      Kafka timestamp applied in it), the partition's limited streams are swept
 *      (judge/lifecycle.h), in a batch of their own.
 * Every rule reads only the record and the state before it, so any projector applying the
 * same log reaches the same state. A batch of records is committed in one write batch
 * together with each partition's next offset (store.h, S1).
 *
 * The writer. Writing a batch to RocksDB (mostly memtable inserts) costs about as much as
 * judging it, so the applier writes on a thread of its own while the caller judges the next
 * batch: evs_applier_submit judges records into a batch that reads through the one still
 * being written (store.c, B5), then hands it over once the writer is free. Small batches
 * (live traffic, where latency counts) are written on the caller's thread instead. Batches
 * are written, and on_commit is called, in submission order; at most one batch is being
 * written at a time. The caller's thread is the only one that judges.
 *
 * Verdicts ahead of the write. A verdict depends only on the records before it, so it is
 * final once judged: on_judged receives each batch's verdicts just before the batch is
 * written, and the projector answers verdict requests from them while the write goes on
 * (docs/ARCHITECTURE.md, "Verdicts before the write").
 */
#ifndef EVS_APPLY_H
#define EVS_APPLY_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "index/store.h"

/* Batches below this many bytes of records are written without the writer thread. */
#define EVS_APPLY_INLINE_BYTES_DEFAULT ((size_t)1 << 20)

typedef struct evs_input_record {
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t timestamp_ms; /* the record's Kafka timestamp (0 when the broker gave none) */
} evs_input_record;

typedef struct evs_apply_stats {
    uint64_t records;   /* records applied (any verdict) */
    uint64_t events;    /* events accepted */
    uint64_t skipped;   /* records skipped (A2, A3) */
    uint64_t ignored;   /* records ignored as already applied (A1) */
} evs_apply_stats;

/* What a written batch made true, as on_commit receives it (pointers valid during the
 * call only). */
typedef struct evs_apply_commit {
    uint64_t batch;                 /* the batch's number, as on_judged received it */
    int rc;                         /* 0, or the write's negative error code */
    const char *err;                /* why, when rc < 0 */
    const int64_t *next_offset;     /* per partition, as committed */
    const uint64_t *last_position;  /* per partition, as committed */
    evs_apply_stats stats;          /* totals up to and including this batch */
    uint64_t write_ns;              /* how long the RocksDB write took */
} evs_apply_commit;

typedef void (*evs_apply_commit_fn)(void *ctx, const evs_apply_commit *commit);

/* What a judged batch decided, as on_judged receives it before the batch is written: the
 * verdict of every record that has one (A3..A5; verdicts[i] is append_ids[i]'s) and each
 * partition's next offset after it. The pointers stay valid until this batch's on_commit
 * has returned, and not longer; next_offset only during the call. */
typedef struct evs_apply_judged {
    uint64_t batch;                 /* numbers the batches judged: 1, 2, ... */
    size_t count;
    const uint8_t (*append_ids)[16];
    const evs_stored_verdict *verdicts;
    const int64_t *next_offset;
    size_t records;                 /* records judged (A2..A5; not those ignored by A1) */
} evs_apply_judged;

typedef void (*evs_apply_judged_fn)(void *ctx, const evs_apply_judged *judged);

/* The verdicts of one batch (the applier keeps two: the batch being judged's, or judged
 * and waiting for the writer, and the batch being written's). */
typedef struct evs_judged_set {
    uint8_t (*append_ids)[16];
    evs_stored_verdict *verdicts;
    size_t count, cap;
} evs_judged_set;

typedef struct evs_applier {
    evs_store *store;
    int32_t partition_count;
    int64_t *next_offset;     /* per partition: next offset to apply (judged so far) */
    uint64_t *last_position;  /* per partition: last position assigned (judged so far) */
    int64_t *log_time_ms;     /* per partition: the latest record timestamp (judged so far) */
    evs_apply_stats stats;    /* judged so far */
    int quiet;                /* do not log skipped records */
    /* Called after each batch is written (or fails), in order: on the writer thread, or
     * on the caller's for a batch written there (apply.c, W4). */
    evs_apply_commit_fn on_commit;
    void *on_commit_ctx;
    /* Called with each batch's verdicts once it is judged, on the caller's thread, in
     * order, possibly while the batch before is still being written (W5). */
    evs_apply_judged_fn on_judged;
    void *on_judged_ctx;
    /* Called with each accepted append whose events are personal data, before it is
     * written (keys/keyring.h, K3): returns once their keys are known present or gone, 0,
     * or -1 to stop. NULL: not called. */
    int (*keys_ready)(void *ctx, const evs_append_request *req);
    void *keys_ready_ctx;
    /* Batches of fewer bytes of records than this are written on the caller's thread
     * (apply.c, W4); 0: every batch goes to the writer thread. */
    size_t inline_bytes;
    /* For tests only: milliseconds to wait before each write, so that a test can observe
     * what is judged but not written yet (EVSTORE_TEST_WRITE_DELAY_MS). */
    int write_delay_ms;

    /* The writer (apply.c); the fields below are the applier's own. */
    pthread_t writer;
    int writer_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;           /* to the writer: a batch to write, or stop */
    pthread_cond_t idle;           /* from the writer: the batch is written */
    evs_store_batch *in_flight;    /* handed to the writer; kept until recycled */
    int writing;                   /* the writer has not finished in_flight yet */
    int stopping;
    int write_rc;                  /* result of the last write */
    char write_err[512];
    size_t record_bytes;           /* of the records in the batch being judged */
    size_t record_count;           /* records in the batch being judged (A2..A5) */
    int64_t *commit_next_offset;   /* the state in_flight commits, for on_commit */
    uint64_t *commit_last_position;
    int64_t *commit_log_time_ms;
    evs_apply_stats commit_stats;
    uint64_t commit_batch;
    uint64_t batches;              /* batches judged */
    evs_judged_set judged[2];      /* [judging]: the batch being judged's verdicts */
    int judging;
} evs_applier;

/* Loads each partition's state from the store and starts the writer. */
int evs_applier_init(evs_applier *a, evs_store *store, int32_t partition_count);
/* Waits for the batch being written, stops the writer and frees the applier. */
void evs_applier_free(evs_applier *a);

/* Judges n records (any partitions, each partition's records in offset order) into one
 * write batch and hands it to the writer, after the batch before it is written. Returns 0,
 * or a negative code with err set when judging failed or the earlier batch could not be
 * written: then neither batch is kept and the in-memory state is reloaded from the store. */
int evs_applier_submit(evs_applier *a, const evs_input_record *records, size_t n, char *err,
                       size_t err_len);
/* Waits until every submitted batch is written. Returns 0, or the failed write's negative
 * code with err set (the in-memory state is then reloaded from the store). */
int evs_applier_flush(evs_applier *a, char *err, size_t err_len);
/* Submit, then flush: the records are in the store when it returns 0. */
int evs_applier_apply(evs_applier *a, const evs_input_record *records, size_t n, char *err,
                      size_t err_len);

#endif /* EVS_APPLY_H */
