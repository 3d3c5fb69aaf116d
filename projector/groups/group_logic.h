/*
 * group_logic.h - the state machine of one consumer group (competing consumers), with no
 * I/O: no clock, no store, no HTTP. groups.c feeds it events read from the store, the
 * members' requests and the time, and writes the store operations it asks for.
 *
 * A group reads one source (all events of a partition, or one category of it) in global
 * order. Its members fetch events, acknowledge (ack) or reject (nack) them. The rules:
 *
 *  G1. A stream belongs to one member at a time: the live member with the highest
 *      rendezvous score mix(member seed ^ stream hash) (evs_group_owner). Membership changes
 *      move only the streams whose winner changed.
 *  G2. At most one event of a stream is in flight, and it is the stream's earliest event
 *      that is neither acked nor parked. So a stream's events are processed in position
 *      order; the next one is released only when the previous one is acked or parked.
 *      An in-flight event stays with the member that holds it even when its stream moves
 *      (the new owner gets the stream's next event once it is acked or released).
 *  G3. An in-flight event that is nacked, not acked within ack_timeout_ms, or held by a
 *      member that leaves or is removed (no poll for member_timeout_ms), counts as a failed
 *      attempt. After max_attempts failed attempts (or a nack asking for it) it is parked;
 *      otherwise it is delivered again, with attempt number failures + 1.
 *  G4. The checkpoint C: every event of the source below C is acked or parked. It only
 *      grows. Replayed parked events (below C or not) are delivered again like new ones.
 *  G5. What survives a restart is in the store: the checkpoint and parked count, one 'e'
 *      record per event above C that is acked or has failed attempts, one 'e' record per
 *      replayed event below C, and one 'p' record per parked event. Members and in-flight
 *      deliveries do not: after a restart every event at or above C that is not acked or
 *      parked is delivered again (at-least-once).
 *
 * Memory is bounded: at most EVS_GROUP_WINDOW_MAX events at or above the checkpoint are
 * held (read ahead), at most EVS_GROUP_REPLAY_MAX replayed events below it, at most
 * EVS_GROUP_MEMBERS_MAX members. Parked events live in the store only.
 *
 * Not thread-safe: groups.c holds the group's mutex around every call.
 */
#ifndef EVS_GROUP_LOGIC_H
#define EVS_GROUP_LOGIC_H

#include <stddef.h>
#include <stdint.h>

#include "index/store.h" /* evs_local_op */

/* ---- Limits (docs/HTTP-API.md, "Consumer groups") ------------------------------------ */
#define EVS_GROUPS_MAX 64              /* groups per projector */
#define EVS_GROUP_MEMBERS_MAX 64       /* members per group */
#define EVS_GROUP_WINDOW_MAX 4096      /* events held at or above the checkpoint */
#define EVS_GROUP_REPLAY_MAX 1024      /* replayed events held below the checkpoint */
#define EVS_GROUP_FETCH_MAX 1000       /* events per fetch */
#define EVS_GROUP_POSITIONS_MAX 1000   /* positions per ack or nack */
#define EVS_GROUP_PARKED_PAGE_MAX 1000 /* parked entries per listing page */
#define EVS_GROUP_WAIT_MAX_MS 30000    /* a fetch's long poll */
#define EVS_GROUP_MEMBER_ID_LEN 32     /* hex digits */

#define EVS_GROUP_ACK_TIMEOUT_MIN_MS 100
#define EVS_GROUP_ACK_TIMEOUT_MAX_MS 3600000
#define EVS_GROUP_ACK_TIMEOUT_DEFAULT_MS 30000
#define EVS_GROUP_MAX_ATTEMPTS_MAX 1000
#define EVS_GROUP_MAX_ATTEMPTS_DEFAULT 5
#define EVS_GROUP_MEMBER_TIMEOUT_MIN_MS 100
#define EVS_GROUP_MEMBER_TIMEOUT_MAX_MS 600000
#define EVS_GROUP_MEMBER_TIMEOUT_DEFAULT_MS 10000

typedef struct evs_group_settings {
    uint32_t ack_timeout_ms;    /* EVS_GROUP_ACK_TIMEOUT_MIN_MS..MAX */
    uint32_t max_attempts;      /* 1..EVS_GROUP_MAX_ATTEMPTS_MAX */
    uint32_t member_timeout_ms; /* EVS_GROUP_MEMBER_TIMEOUT_MIN_MS..MAX */
} evs_group_settings;

/* Why an event was parked (stored in its 'p' record). */
typedef enum evs_group_reason {
    EVS_GROUP_REASON_NONE = 0,
    EVS_GROUP_REASON_NACKED = 1,          /* nacked max_attempts times */
    EVS_GROUP_REASON_ACK_TIMEOUT = 2,     /* last attempt not acked in time */
    EVS_GROUP_REASON_MEMBER_TIMEOUT = 3,  /* last holder removed for not polling */
    EVS_GROUP_REASON_MEMBER_LEFT = 4,     /* last holder left the group */
    EVS_GROUP_REASON_PARKED_BY_MEMBER = 5 /* nack with park */
} evs_group_reason;

/* "nacked", "ack_timeout", ... (static storage). */
const char *evs_group_reason_name(evs_group_reason reason);

/* The owner of a stream among n member seeds (G1): the index with the highest
 * evs_group_score, the lowest index on a tie; -1 when n is 0. */
int evs_group_owner(uint64_t stream_hash, const uint64_t *seeds, size_t n);
uint64_t evs_group_score(uint64_t seed, uint64_t stream_hash);
/* FNV-1a 64 of bytes (stream names, member ids). */
uint64_t evs_group_hash(const void *p, size_t n);

typedef struct evs_group_state evs_group_state;

/* A new group state whose checkpoint is `checkpoint` (>= 1) with parked_count parked
 * events. Returns 0 or -ENOMEM. */
int evs_group_state_new(const evs_group_settings *settings, uint64_t checkpoint,
                        uint64_t parked_count, evs_group_state **out);
void evs_group_state_free(evs_group_state *gs);
void evs_group_state_set_settings(evs_group_state *gs, const evs_group_settings *settings);

/* ---- Loading (after new, before anything else) ----------------------------------------
 * Feed every 'e' record and every 'p' record at or above the checkpoint, in any order
 * (key and value as stored, the key without the group's prefix: see evs_group_key). Records
 * that do not parse are ignored (returns 1), 0 when taken, -ENOMEM. */
int evs_group_state_load(evs_group_state *gs, const void *key, size_t key_len, const void *value,
                         size_t value_len);

/* ---- Reading the source ---------------------------------------------------------------- */

/* The next position to read from, and how many events the window has room for. */
uint64_t evs_group_state_scan_position(const evs_group_state *gs);
size_t evs_group_state_window_room(const evs_group_state *gs);
/* Adds the source's event at position (>= the scan position; smaller ones are ignored) to
 * the window. Returns 0 or -ENOMEM; -ENOSPC when the window is full. */
int evs_group_state_add_event(evs_group_state *gs, uint64_t position, const char *stream,
                              size_t stream_len);
/* The source has no event from the scan position up to (not including) position: move the
 * scan position there (used when a category read found nothing more). */
void evs_group_state_skip_to(evs_group_state *gs, uint64_t position);

/* ---- Members ----------------------------------------------------------------------------- */

/* Adds a member with the given id (EVS_GROUP_MEMBER_ID_LEN characters). Returns 0, -ENOSPC
 * (EVS_GROUP_MEMBERS_MAX reached) or -EEXIST. */
int evs_group_state_join(evs_group_state *gs, const char *member_id, uint64_t now_ms);
/* Removes a member (G3: its in-flight events fail with MEMBER_LEFT). Returns the number
 * of events released, or -ENOENT. */
int evs_group_state_leave(evs_group_state *gs, const char *member_id, uint64_t now_ms,
                          int64_t wall_us);
/* Whether the member exists. */
int evs_group_state_has_member(const evs_group_state *gs, const char *member_id);
/* A long poll begins or ends: a member that is polling is alive whatever the time. Both
 * count as a heartbeat. -ENOENT for an unknown member. */
int evs_group_state_poll_begin(evs_group_state *gs, const char *member_id, uint64_t now_ms);
void evs_group_state_poll_end(evs_group_state *gs, const char *member_id, uint64_t now_ms);

/* Applies the clock (G3): removes members silent for member_timeout_ms (not polling), and
 * fails in-flight events whose ack is overdue. Returns the number of events released. */
size_t evs_group_state_expire(evs_group_state *gs, uint64_t now_ms, int64_t wall_us);

/* ---- Delivery ----------------------------------------------------------------------------- */

typedef struct evs_group_delivery {
    uint64_t position;
    uint32_t attempt; /* 1 on the first delivery */
} evs_group_delivery;

/* Takes up to max events for the member (G1, G2), puts them in flight until now_ms +
 * ack_timeout_ms, and describes them in out[0..returned). Returns the count, or -ENOENT
 * for an unknown member. Counts as a heartbeat. */
int evs_group_state_fetch(evs_group_state *gs, const char *member_id, size_t max, uint64_t now_ms,
                          evs_group_delivery *out);

typedef enum evs_group_outcome {
    EVS_GROUP_STALE = 0, /* not held by the member (acked, parked, redelivered, unknown) */
    EVS_GROUP_ACKED = 1,
    EVS_GROUP_RETRY = 2,  /* nacked: will be delivered again */
    EVS_GROUP_PARKED = 3, /* nacked: parked */
} evs_group_outcome;

/* Acks positions. An ack is taken from the member holding the event, and for an event
 * that was delivered and released but not yet delivered again (a late ack after a
 * timeout: the work was done). outcome[i] receives ACKED or STALE. member_id may be one the
 * group does not know (its acks of released events still count). */
void evs_group_state_ack(evs_group_state *gs, const char *member_id, const uint64_t *positions,
                         size_t n, uint64_t now_ms, evs_group_outcome *outcome);
/* Nacks positions held by the member: each fails one attempt (G3), or is parked at once
 * when park is set. outcome[i] receives RETRY, PARKED or STALE. */
void evs_group_state_nack(evs_group_state *gs, const char *member_id, const uint64_t *positions,
                          size_t n, int park, uint64_t now_ms, int64_t wall_us,
                          evs_group_outcome *outcome);

/* One parked event, as listed from the store, to replay. */
typedef struct evs_group_parked_item {
    uint64_t position;
    const char *stream;
    size_t stream_len;
} evs_group_parked_item;
/* Replays parked events in order: each becomes deliverable again with a fresh attempt
 * count. The items must be what 'p' records say is parked; an item held here that is not
 * parked, or one at or above the checkpoint that is not held, is skipped. Stops early when
 * EVS_GROUP_REPLAY_MAX replayed events below the checkpoint are held. *consumed receives how
 * many items were handled (replayed or skipped): the rest stay parked. Returns how many were
 * replayed, or -ENOMEM. */
int evs_group_state_replay(evs_group_state *gs, const evs_group_parked_item *items, size_t n,
                           size_t *consumed);

/* ---- Persistence -------------------------------------------------------------------------
 * Store keys (after the store's 'L'), with the group name following stream-name rules (so
 * it holds no 0x00 and one group's keys never interleave with another's):
 *   "GD/" name                        -> the definition (JSON text, groups.c)
 *   "GS/" name 0x00 'c'               -> be64 checkpoint, be64 parked count
 *   "GS/" name 0x00 'e' be64 position -> u8 'a' (acked) | 'w' (waiting), be32 failed
 *                                        attempts, stream
 *   "GS/" name 0x00 'p' be64 position -> be32 attempts, be64 parked_us, u8 reason, stream
 */
#define EVS_GROUP_KEY_MAX (4 + EVS_STREAM_NAME_MAX + 1 + 1 + 8)
/* Writes "GS/" name 0x00 kind [be64 position] into key (EVS_GROUP_KEY_MAX bytes); the
 * position is written when kind is 'e' or 'p'. Returns the length. */
size_t evs_group_key(uint8_t *key, const char *name, char kind, uint64_t position);
/* Writes "GD/" name. Returns the length. */
size_t evs_group_definition_key(uint8_t *key, const char *name);
/* The length of "GS/" name 0x00: the prefix of every state key of the group. */
size_t evs_group_state_prefix_len(const char *name);

/* Decodes a 'p' record's value. *stream points into value. Returns 0 or -1. */
int evs_group_parked_decode(const void *value, size_t len, uint32_t *attempts, int64_t *parked_us,
                            evs_group_reason *reason, const char **stream, size_t *stream_len);
/* Decodes a 'c' record. Returns 0 or -1. */
int evs_group_progress_decode(const void *value, size_t len, uint64_t *checkpoint,
                              uint64_t *parked_count);

/* The store writes that make the store match the state (G5), for everything changed since
 * the last flush; removes entries that are done and below the checkpoint. */
typedef struct evs_group_ops {
    evs_local_op *ops;
    size_t count, cap;
    uint8_t **buffers; /* one per op: its key and value */
    int oom;
} evs_group_ops;

int evs_group_state_flush(evs_group_state *gs, const char *name, evs_group_ops *out);
void evs_group_ops_free(evs_group_ops *ops);

/* ---- Inspection ---------------------------------------------------------------------------- */

typedef struct evs_group_stats {
    uint64_t checkpoint;
    uint64_t scan_position;
    uint64_t parked; /* parked events (in the store) */
    size_t window;   /* events held at or above the checkpoint */
    size_t pending;  /* held, waiting for delivery (first time or again) */
    size_t in_flight;
    size_t acked;     /* acked above the checkpoint */
    size_t replaying; /* replayed events below the checkpoint not yet acked */
    size_t members;
} evs_group_stats;
void evs_group_state_stats(const evs_group_state *gs, evs_group_stats *out);

typedef struct evs_group_member_info {
    char member_id[EVS_GROUP_MEMBER_ID_LEN + 1];
    uint64_t idle_ms; /* since the last heartbeat; 0 while polling */
    int polling;
    size_t in_flight;
    uint64_t delivered; /* deliveries to this member */
    uint64_t acked;
} evs_group_member_info;
/* Describes up to max members into out; returns the count. */
size_t evs_group_state_members(const evs_group_state *gs, uint64_t now_ms,
                               evs_group_member_info *out, size_t max);

/* Consistency check for tests and asserts: 0 when the invariants hold, else a line number
 * of the failed check. */
int evs_group_state_check(const evs_group_state *gs);

#endif /* EVS_GROUP_LOGIC_H */
