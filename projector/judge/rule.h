/*
 * rule.h - the concurrency rule: "the log decides".
 *
 * The projector judges every append request of a partition in offset order with
 * evs_rule_judge(). The verdict is a pure function of the request and of the state left by
 * the records before it (the stream's current version and the event ids stored so far):
 * no clock, no configuration, no randomness. Any replica, and any rebuild from offset 0,
 * reaches the same verdicts (docs/ARCHITECTURE.md, "The rule").
 *
 * The rule, in order:
 *  R1. every event id of the request is already stored, in the same stream, at contiguous
 *      versions in request order           -> DUPLICATE (original versions and positions)
 *  R2. some (or all, but not as in R1) event ids are stored   -> IDEMPOTENCY_CONFLICT
 *  R3. the expectation does not hold for the current version -> WRONG_EXPECTED_VERSION
 *  R4. otherwise -> ACCEPTED at versions current+1 .. current+N.
 * Requests that break a limit (evs_record_validate) are INVALID before R1.
 *
 * Lifecycle commands (operation other than append; docs/ARCHITECTURE.md, "Lifecycle") and
 * hard-deleted streams:
 *  R0. the stream is hard-deleted (a tombstone)              -> STREAM_DELETED, for every
 *      record, append or command
 *  L1. a command whose expectation does not hold            -> WRONG_EXPECTED_VERSION
 *  L2. otherwise a command is ACCEPTED; it takes no version (first/last version 0).
 * A soft-deleted stream does not exist for the expectation (no_stream holds, stream_exists
 * does not) but keeps its version: exact holds for its current version, and an append
 * recreates it at current+1.
 */
#ifndef EVS_RULE_H
#define EVS_RULE_H

#include <stddef.h>
#include <stdint.h>

#include "record_codec.h"

typedef enum evs_verdict_status {
    EVS_VERDICT_ACCEPTED = 1,
    EVS_VERDICT_DUPLICATE = 2,
    EVS_VERDICT_WRONG_EXPECTED_VERSION = 3,
    EVS_VERDICT_IDEMPOTENCY_CONFLICT = 4,
    EVS_VERDICT_INVALID = 5,
    EVS_VERDICT_STREAM_DELETED = 6,
} evs_verdict_status;

/* Where a stream is in its lifecycle (the version table's entry beside its version). */
typedef enum evs_stream_deleted {
    EVS_STREAM_LIVE = 0,
    EVS_STREAM_SOFT_DELETED = 1, /* reads as deleted until an append recreates it */
    EVS_STREAM_HARD_DELETED = 2, /* a tombstone: every later record is rejected */
} evs_stream_deleted;

typedef struct evs_stream_lifecycle {
    uint64_t first_version; /* the first version kept: 1 until something was removed */
    evs_stream_deleted deleted;
    uint64_t max_count;  /* 0: no limit */
    uint64_t max_age_ms; /* 0: no limit; log time (Kafka timestamps), never a clock */
} evs_stream_lifecycle;

/* Where a stored event lives. */
typedef struct evs_event_location {
    const char *stream; /* valid until the next call of the lookup function */
    size_t stream_len;
    uint64_t version;
    uint64_t position;
} evs_event_location;

/* The state the rule reads. Both callbacks return 0 on success, or a negative value on a
 * storage error (which aborts judging: the projector must stop rather than guess). */
typedef struct evs_rule_state {
    /* Sets *version to the stream's current version (0 if the stream does not exist). */
    int (*stream_version)(void *ctx, const char *stream, size_t len, uint64_t *version);
    /* Sets *found to 1 and fills *loc if the event id is stored, else sets *found to 0. */
    int (*event_lookup)(void *ctx, const uint8_t event_id[16], int *found,
                        evs_event_location *loc);
    void *ctx;
    /* Fills *out with the stream's lifecycle. NULL: every stream is live, nothing removed. */
    int (*stream_lifecycle)(void *ctx, const char *stream, size_t len,
                            evs_stream_lifecycle *out);
} evs_rule_state;

typedef struct evs_verdict {
    evs_verdict_status status;
    uint64_t current_version; /* the stream's version before this request */
    uint64_t first_version;   /* ACCEPTED: current+1; DUPLICATE: original first version */
    uint64_t last_version;
    uint64_t first_position;  /* DUPLICATE only: the original positions (ACCEPTED positions
                                 are assigned by the caller, who owns the counter) */
    uint64_t last_position;
} evs_verdict;

/* Judges req against state. Returns 0 and fills *out, or the negative error of a state
 * callback. Does not validate limits: the caller runs evs_record_validate first and records
 * INVALID itself. */
int evs_rule_judge(const evs_append_request *req, const evs_rule_state *state,
                   evs_verdict *out);

/* "accepted", "duplicate", "wrong_expected_version", "idempotency_conflict", "invalid",
 * "stream_deleted". */
const char *evs_verdict_status_name(evs_verdict_status status);

/* Whether `expected` holds for a live stream at `current` version (rule R3). */
int evs_expectation_holds(evs_expected_kind kind, uint64_t expected_version, uint64_t current);
/* The same for a stream that may be soft-deleted: it keeps `current` but does not exist. */
int evs_expectation_holds_for(evs_expected_kind kind, uint64_t expected_version,
                              uint64_t current, int exists);

/* The default lifecycle: live, from version 1, no limits. */
void evs_stream_lifecycle_init(evs_stream_lifecycle *life);

#endif /* EVS_RULE_H */
