/*
 * state_codec.h - the state topic's records (schemas/evstore.State.avsc): checkpoints,
 * snapshots and consumer groups, saved by clients and replicated to every projector through
 * Kafka (projector/state/state_log.h).
 *
 * A projector keeps this state in its store as (key, value) pairs of its own layout, and a
 * state-topic record is one pair: the Kafka key is the store key as it is, the value its
 * evstore.State record (a tombstone deletes the key). The layouts, after the store's 'L'
 * (be32/be64: big-endian; "name" follows the rules of stream names, so holds no 0x00):
 *   "C/" name                         -> checkpoint: be64 position, be64 updated_us
 *   "S/" stream 0x00 be64 version     -> snapshot: be32 schema_version, be64 created_us,
 *                                        be32 content type length, content type, data
 *   "GD/" group                       -> group definition: JSON text
 *   "GS/" group 0x00 'c'              -> group progress: be64 checkpoint, be64 parked count
 *   "GS/" group 0x00 'e' be64 position -> group event: u8 'a' (acked) | 'w' (waiting),
 *                                        be32 failed attempts, stream
 *   "GS/" group 0x00 'p' be64 position -> parked event: be32 attempts, be64 parked_us,
 *                                        u8 reason, stream
 *   "B/" member                       -> a barrier: sets nothing (never stored)
 *
 * The decoder rebuilds the store key from the record's fields and refuses a record whose
 * Kafka key is not that key, so a record can only set the entry it describes; it also
 * refuses names that are not valid, positions and versions of 0 or below, and sizes over
 * the limits of evstore_limits.h. Anything else refused is never half-applied.
 *
 * Thread safety: every function may be called from any number of threads at once.
 */
#ifndef EVS_STATE_CODEC_H
#define EVS_STATE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "record_codec.h" /* evs_buf */

#define EVS_STATE_SCHEMA_FILE "evstore.State.avsc"
/* The longest store key of state ("GS/", a group name, 0x00, 'e', be64). */
#define EVS_STATE_KEY_MAX (3 + 200 + 2 + 8)

typedef enum evs_state_kind {
    EVS_STATE_CHECKPOINT = 0,
    EVS_STATE_SNAPSHOT = 1,
    EVS_STATE_GROUP_DEFINITION = 2,
    EVS_STATE_GROUP_PROGRESS = 3,
    EVS_STATE_GROUP_EVENT = 4,
    EVS_STATE_GROUP_PARKED = 5,
    EVS_STATE_BARRIER = 6,
} evs_state_kind;

/* The kind of a store key, and the name in it (a checkpoint's name, a snapshot's stream, a
 * group's name, a barrier's member) that chooses the key's state-topic partition. Returns
 * the kind, or -1 when key is not a state key. */
int evs_state_key_kind(const void *key, size_t key_len, const char **name, size_t *name_len);

/* Encodes the store pair (key, value) as a state record into out. Returns 0, or -1 when the
 * key is not a state key, the value does not fit its layout, or memory ran out. */
int evs_state_encode(const void *key, size_t key_len, const void *value, size_t value_len,
                     evs_buf *out);

/* Decodes a state record whose Kafka key is key into *kind and the store value
 * (value_out, replaced; empty for a barrier). Returns 0, or -1 with the reason in err. */
int evs_state_decode(const void *key, size_t key_len, const void *record, size_t record_len,
                     evs_state_kind *kind, evs_buf *value_out, char *err, size_t err_len);

/* A barrier record of member (a valid member id) into key_out ("B/" member;
 * EVS_STATE_KEY_MAX bytes) and out. Returns the key's length, or -1. */
int evs_state_barrier_encode(const char *member, int64_t nonce, char *key_out, evs_buf *out);

/* The fingerprint of evstore.State. */
uint64_t evs_state_fingerprint(void);

#endif /* EVS_STATE_CODEC_H */
