/*
 * group_logic.c - the consumer-group state machine (rules G1..G5 in group_logic.h).
 *
 * Data structures:
 *  - entries[0..count): the events the group holds, sorted by position, strictly
 *    increasing. The first `extras` of them are replayed events below the checkpoint; the
 *    rest (the window) are at or above it, read from the source in order up to the scan
 *    position. Done entries (acked, parked) stay in the window until the checkpoint passes
 *    them, so that the checkpoint can be computed and the store told what is done.
 *  - a hash table of the streams the entries belong to (refcounted by entries), each with
 *    `busy` (one of its entries is in flight: G2) and a cached owner (G1), valid while the
 *    membership epoch it was computed in is current.
 *  - members[]: fixed slots. An in-flight entry names its holder's slot; removing a member
 *    releases its entries first, so a reused slot never inherits deliveries.
 *
 * Persistence is derived from the state at each flush: every entry knows whether it has an
 * 'e' and a 'p' record in the store (e_stored, p_stored) and whether its 'e' value changed
 * (dirty); the flush writes what differs from what G5 wants stored.
 */
#include "index/byte_order.h"
#include "groups/group_logic.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_BUCKETS 1024

enum entry_state { ST_PENDING = 0, ST_IN_FLIGHT = 1, ST_ACKED = 2, ST_PARKED = 3 };

typedef struct stream_rec {
    struct stream_rec *next; /* hash chain */
    uint64_t hash;
    uint64_t owner_epoch; /* owner is valid when this equals the state's epoch */
    uint64_t walk;        /* the last fetch walk that met a not-done entry of it */
    uint32_t refs;        /* entries referring to it */
    int owner;            /* member slot, -1 for none */
    uint8_t busy;         /* one of its entries is in flight (G2) */
    uint16_t len;
    char name[]; /* NUL-terminated */
} stream_rec;

typedef struct entry {
    uint64_t position;
    stream_rec *stream;
    uint64_t deadline_ms; /* in flight: when the ack is due */
    int64_t parked_us;    /* parked: when */
    uint32_t attempts;    /* failed deliveries */
    int16_t member;       /* in flight: the holder's slot */
    uint8_t state;
    uint8_t reason;   /* parked: evs_group_reason */
    uint8_t extra;    /* a replayed event below the checkpoint */
    uint8_t dirty;    /* state or attempts changed since the last flush */
    uint8_t e_stored; /* an 'e' record exists */
    uint8_t p_stored; /* a 'p' record exists */
} entry;

typedef struct member {
    int used;
    char id[EVS_GROUP_MEMBER_ID_LEN + 1];
    uint64_t seed;
    uint64_t last_seen_ms;
    uint32_t polls; /* long polls running now */
    size_t in_flight;
    uint64_t delivered, acked;
} member;

/* A stored record at or above the checkpoint, met again when the window reads its event. */
typedef struct mark {
    uint64_t position;
    uint8_t kind; /* 'a', 'w' or 'p' */
    uint8_t reason;
    uint32_t attempts;
    int64_t parked_us;
} mark;

struct evs_group_state {
    evs_group_settings settings;
    uint64_t checkpoint; /* as of the last flush */
    uint64_t scan;       /* next position to read */
    uint64_t parked_count;
    uint64_t stored_checkpoint, stored_parked_count;
    entry *entries;
    size_t count, cap, extras;
    stream_rec *buckets[STREAM_BUCKETS];
    member members[EVS_GROUP_MEMBERS_MAX];
    uint64_t epoch; /* bumped by every membership change */
    uint64_t walk;
    uint64_t next_deadline_ms; /* no in-flight ack is due before this */
    mark *marks;
    size_t mark_count, mark_cap, mark_next;
    int marks_sorted;
};

/* ---- Hashing and ownership (G1) ------------------------------------------------------- */

uint64_t evs_group_hash(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t evs_group_score(uint64_t seed, uint64_t stream_hash)
{
    return mix64(seed ^ stream_hash);
}

int evs_group_owner(uint64_t stream_hash, const uint64_t *seeds, size_t n)
{
    int best = -1;
    uint64_t best_score = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t s = evs_group_score(seeds[i], stream_hash);
        if (best < 0 || s > best_score) {
            best = (int)i;
            best_score = s;
        }
    }
    return best;
}

static int stream_owner(evs_group_state *gs, stream_rec *s)
{
    if (s->owner_epoch == gs->epoch)
        return s->owner;
    int best = -1;
    uint64_t best_score = 0;
    for (int i = 0; i < EVS_GROUP_MEMBERS_MAX; i++) {
        if (!gs->members[i].used)
            continue;
        uint64_t score = evs_group_score(gs->members[i].seed, s->hash);
        if (best < 0 || score > best_score) {
            best = i;
            best_score = score;
        }
    }
    s->owner = best;
    s->owner_epoch = gs->epoch;
    return best;
}

const char *evs_group_reason_name(evs_group_reason reason)
{
    switch (reason) {
    case EVS_GROUP_REASON_NACKED:
        return "nacked";
    case EVS_GROUP_REASON_ACK_TIMEOUT:
        return "ack_timeout";
    case EVS_GROUP_REASON_MEMBER_TIMEOUT:
        return "member_timeout";
    case EVS_GROUP_REASON_MEMBER_LEFT:
        return "member_left";
    case EVS_GROUP_REASON_PARKED_BY_MEMBER:
        return "parked_by_member";
    case EVS_GROUP_REASON_NONE:
        break;
    }
    return "unknown";
}

/* ---- Streams ----------------------------------------------------------------------------- */

static stream_rec *stream_get(evs_group_state *gs, const char *name, size_t len)
{
    uint64_t h = evs_group_hash(name, len);
    stream_rec **bucket = &gs->buckets[h & (STREAM_BUCKETS - 1)];
    for (stream_rec *s = *bucket; s; s = s->next)
        if (s->hash == h && s->len == len && !memcmp(s->name, name, len))
            return s;
    stream_rec *s = calloc(1, sizeof *s + len + 1);
    if (!s)
        return NULL;
    s->hash = h;
    s->len = (uint16_t)len;
    s->owner = -1;
    memcpy(s->name, name, len);
    s->next = *bucket;
    *bucket = s;
    return s;
}

static void stream_release(evs_group_state *gs, stream_rec *s)
{
    assert(s->refs > 0);
    if (--s->refs)
        return;
    assert(!s->busy);
    stream_rec **p = &gs->buckets[s->hash & (STREAM_BUCKETS - 1)];
    while (*p != s)
        p = &(*p)->next;
    *p = s->next;
    free(s);
}

/* ---- Entries ------------------------------------------------------------------------------ */

static int entries_reserve(evs_group_state *gs, size_t n)
{
    if (gs->count + n <= gs->cap)
        return 0;
    size_t cap = gs->cap ? gs->cap : 64;
    while (cap < gs->count + n)
        cap *= 2;
    entry *e = realloc(gs->entries, cap * sizeof *e);
    if (!e)
        return -ENOMEM;
    gs->entries = e;
    gs->cap = cap;
    return 0;
}

/* The index of the first entry whose position is >= position. */
static size_t entry_lower_bound(const evs_group_state *gs, uint64_t position)
{
    size_t lo = 0, hi = gs->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (gs->entries[mid].position < position)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static entry *entry_find(evs_group_state *gs, uint64_t position)
{
    size_t i = entry_lower_bound(gs, position);
    return i < gs->count && gs->entries[i].position == position ? &gs->entries[i] : NULL;
}

static int is_done(const entry *e)
{
    return e->state == ST_ACKED || e->state == ST_PARKED;
}

/* G4: the position of the first window entry that is not done, else the scan position. */
static uint64_t current_checkpoint(const evs_group_state *gs)
{
    for (size_t i = gs->extras; i < gs->count; i++)
        if (!is_done(&gs->entries[i]))
            return gs->entries[i].position;
    return gs->scan;
}

/* Inserts a replayed entry below the checkpoint, keeping the order. */
static entry *insert_extra(evs_group_state *gs, uint64_t position, const char *stream,
                           size_t stream_len)
{
    if (entries_reserve(gs, 1) < 0)
        return NULL;
    stream_rec *s = stream_get(gs, stream, stream_len);
    if (!s)
        return NULL;
    size_t i = entry_lower_bound(gs, position);
    assert(i <= gs->extras);
    memmove(&gs->entries[i + 1], &gs->entries[i], (gs->count - i) * sizeof(entry));
    gs->count++;
    gs->extras++;
    entry *e = &gs->entries[i];
    memset(e, 0, sizeof *e);
    e->position = position;
    e->stream = s;
    e->member = -1;
    e->extra = 1;
    s->refs++;
    return e;
}

/* G3: an in-flight delivery failed. Returns RETRY or PARKED. */
static evs_group_outcome fail_attempt(evs_group_state *gs, entry *e, evs_group_reason reason,
                                      int park, int64_t wall_us)
{
    assert(e->state == ST_IN_FLIGHT && e->member >= 0);
    member *m = &gs->members[e->member];
    assert(m->in_flight > 0);
    m->in_flight--;
    e->stream->busy = 0;
    e->member = -1;
    if (e->attempts < UINT32_MAX)
        e->attempts++;
    e->dirty = 1;
    if (park || e->attempts >= gs->settings.max_attempts) {
        e->state = ST_PARKED;
        e->reason = (uint8_t)reason;
        e->parked_us = wall_us;
        gs->parked_count++;
        return EVS_GROUP_PARKED;
    }
    e->state = ST_PENDING;
    return EVS_GROUP_RETRY;
}

/* ---- Life cycle ----------------------------------------------------------------------------- */

int evs_group_state_new(const evs_group_settings *settings, uint64_t checkpoint,
                        uint64_t parked_count, evs_group_state **out)
{
    evs_group_state *gs = calloc(1, sizeof *gs);
    if (!gs)
        return -ENOMEM;
    gs->settings = *settings;
    if (checkpoint == 0)
        checkpoint = 1;
    gs->checkpoint = gs->stored_checkpoint = gs->scan = checkpoint;
    gs->parked_count = gs->stored_parked_count = parked_count;
    gs->epoch = 1;
    gs->next_deadline_ms = UINT64_MAX;
    gs->marks_sorted = 1;
    *out = gs;
    return 0;
}

void evs_group_state_free(evs_group_state *gs)
{
    if (!gs)
        return;
    for (size_t i = 0; i < STREAM_BUCKETS; i++) {
        stream_rec *s = gs->buckets[i];
        while (s) {
            stream_rec *next = s->next;
            free(s);
            s = next;
        }
    }
    free(gs->entries);
    free(gs->marks);
    free(gs);
}

void evs_group_state_set_settings(evs_group_state *gs, const evs_group_settings *settings)
{
    gs->settings = *settings;
}

/* ---- Encoding ----------------------------------------------------------------------------- */

size_t evs_group_state_prefix_len(const char *name)
{
    return 3 + strlen(name) + 1;
}

size_t evs_group_key(uint8_t *key, const char *name, char kind, uint64_t position)
{
    size_t n = strlen(name);
    assert(n <= EVS_STREAM_NAME_MAX);
    memcpy(key, "GS/", 3);
    memcpy(key + 3, name, n);
    key[3 + n] = 0;
    key[4 + n] = (uint8_t)kind;
    size_t len = 5 + n;
    if (kind == 'e' || kind == 'p') {
        put_be64(key + len, position);
        len += 8;
    }
    return len;
}

size_t evs_group_definition_key(uint8_t *key, const char *name)
{
    size_t n = strlen(name);
    assert(n <= EVS_STREAM_NAME_MAX);
    memcpy(key, "GD/", 3);
    memcpy(key + 3, name, n);
    return 3 + n;
}

int evs_group_parked_decode(const void *value, size_t len, uint32_t *attempts, int64_t *parked_us,
                            evs_group_reason *reason, const char **stream, size_t *stream_len)
{
    const uint8_t *v = value;
    if (len < 4 + 8 + 1 + 1 || len > 4 + 8 + 1 + EVS_STREAM_NAME_MAX)
        return -1;
    *attempts = get_be32(v);
    *parked_us = (int64_t)get_be64(v + 4);
    *reason = (evs_group_reason)v[12];
    *stream = (const char *)v + 13;
    *stream_len = len - 13;
    return 0;
}

int evs_group_progress_decode(const void *value, size_t len, uint64_t *checkpoint,
                              uint64_t *parked_count)
{
    if (len != 16)
        return -1;
    *checkpoint = get_be64(value);
    *parked_count = get_be64((const uint8_t *)value + 8);
    return 0;
}

/* ---- Loading -------------------------------------------------------------------------------- */

static int mark_add(evs_group_state *gs, const mark *m)
{
    if (gs->mark_count == gs->mark_cap) {
        size_t cap = gs->mark_cap ? gs->mark_cap * 2 : 64;
        mark *p = realloc(gs->marks, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        gs->marks = p;
        gs->mark_cap = cap;
    }
    gs->marks[gs->mark_count++] = *m;
    gs->marks_sorted = 0;
    return 0;
}

static int mark_cmp(const void *a, const void *b)
{
    const mark *x = a, *y = b;
    if (x->position != y->position)
        return x->position < y->position ? -1 : 1;
    /* A 'p' record wins over an 'e' record at the same position: sort it first. */
    return (x->kind != 'p') - (y->kind != 'p');
}

int evs_group_state_load(evs_group_state *gs, const void *key, size_t key_len, const void *value,
                         size_t value_len)
{
    const uint8_t *k = key, *v = value;
    if (key_len != 9 || (k[0] != 'e' && k[0] != 'p'))
        return 1;
    uint64_t position = get_be64(k + 1);
    if (position == 0)
        return 1;
    if (k[0] == 'p') {
        uint32_t attempts;
        int64_t parked_us;
        evs_group_reason reason;
        const char *stream;
        size_t stream_len;
        if (position < gs->checkpoint ||
            evs_group_parked_decode(value, value_len, &attempts, &parked_us, &reason, &stream,
                                    &stream_len) < 0)
            return 1;
        mark m = {position, 'p', (uint8_t)reason, attempts, parked_us};
        return mark_add(gs, &m);
    }
    if (value_len < 6 || value_len > 5 + EVS_STREAM_NAME_MAX || (v[0] != 'a' && v[0] != 'w'))
        return 1;
    uint32_t attempts = get_be32(v + 1);
    if (position >= gs->checkpoint) {
        mark m = {position, v[0], 0, attempts, 0};
        return mark_add(gs, &m);
    }
    /* Below the checkpoint: a replayed event ('w'), or an acked one whose record a flush
     * did not get to delete ('a'): held as done, so that the next flush deletes it. */
    if (entry_find(gs, position))
        return 1;
    entry *e = insert_extra(gs, position, (const char *)v + 5, value_len - 5);
    if (!e)
        return -ENOMEM;
    e->state = v[0] == 'a' ? ST_ACKED : ST_PENDING;
    e->attempts = attempts;
    e->e_stored = 1;
    return 0;
}

/* ---- Reading the source --------------------------------------------------------------------- */

uint64_t evs_group_state_scan_position(const evs_group_state *gs)
{
    return gs->scan;
}

size_t evs_group_state_window_room(const evs_group_state *gs)
{
    size_t window = gs->count - gs->extras;
    return window >= EVS_GROUP_WINDOW_MAX ? 0 : EVS_GROUP_WINDOW_MAX - window;
}

int evs_group_state_add_event(evs_group_state *gs, uint64_t position, const char *stream,
                              size_t stream_len)
{
    if (position < gs->scan)
        return 0;
    if (stream_len == 0 || stream_len > EVS_STREAM_NAME_MAX)
        return -EINVAL;
    if (evs_group_state_window_room(gs) == 0)
        return -ENOSPC;
    if (entries_reserve(gs, 1) < 0)
        return -ENOMEM;
    stream_rec *s = stream_get(gs, stream, stream_len);
    if (!s)
        return -ENOMEM;
    entry *e = &gs->entries[gs->count];
    memset(e, 0, sizeof *e);
    e->position = position;
    e->stream = s;
    e->member = -1;
    e->state = ST_PENDING;

    if (!gs->marks_sorted) {
        qsort(gs->marks, gs->mark_count, sizeof *gs->marks, mark_cmp);
        gs->marks_sorted = 1;
    }
    while (gs->mark_next < gs->mark_count && gs->marks[gs->mark_next].position < position)
        gs->mark_next++; /* a record of an event the source does not have: ignored */
    if (gs->mark_next < gs->mark_count && gs->marks[gs->mark_next].position == position) {
        const mark *m = &gs->marks[gs->mark_next];
        if (m->kind == 'p') {
            e->state = ST_PARKED;
            e->p_stored = 1;
            e->attempts = m->attempts;
            e->reason = m->reason;
            e->parked_us = m->parked_us;
        } else {
            e->state = m->kind == 'a' ? ST_ACKED : ST_PENDING;
            e->attempts = m->attempts;
            e->e_stored = 1;
        }
        while (gs->mark_next < gs->mark_count && gs->marks[gs->mark_next].position == position)
            gs->mark_next++;
    }
    if (gs->mark_next == gs->mark_count && gs->marks) {
        free(gs->marks);
        gs->marks = NULL;
        gs->mark_count = gs->mark_cap = gs->mark_next = 0;
    }
    s->refs++;
    gs->count++;
    gs->scan = position + 1;
    return 0;
}

void evs_group_state_skip_to(evs_group_state *gs, uint64_t position)
{
    if (position > gs->scan)
        gs->scan = position;
}

/* ---- Members ----------------------------------------------------------------------------------
 */

static int member_find(const evs_group_state *gs, const char *id)
{
    if (!id)
        return -1;
    for (int i = 0; i < EVS_GROUP_MEMBERS_MAX; i++)
        if (gs->members[i].used && !strcmp(gs->members[i].id, id))
            return i;
    return -1;
}

int evs_group_state_has_member(const evs_group_state *gs, const char *member_id)
{
    return member_find(gs, member_id) >= 0;
}

int evs_group_state_join(evs_group_state *gs, const char *member_id, uint64_t now_ms)
{
    if (strlen(member_id) != EVS_GROUP_MEMBER_ID_LEN)
        return -EINVAL;
    if (member_find(gs, member_id) >= 0)
        return -EEXIST;
    for (int i = 0; i < EVS_GROUP_MEMBERS_MAX; i++) {
        member *m = &gs->members[i];
        if (m->used)
            continue;
        memset(m, 0, sizeof *m);
        m->used = 1;
        memcpy(m->id, member_id, EVS_GROUP_MEMBER_ID_LEN + 1);
        m->seed = mix64(evs_group_hash(member_id, EVS_GROUP_MEMBER_ID_LEN));
        m->last_seen_ms = now_ms;
        gs->epoch++;
        return 0;
    }
    return -ENOSPC;
}

static size_t member_remove(evs_group_state *gs, int slot, evs_group_reason reason, int64_t wall_us)
{
    size_t released = 0;
    for (size_t i = 0; i < gs->count && gs->members[slot].in_flight; i++) {
        entry *e = &gs->entries[i];
        if (e->state == ST_IN_FLIGHT && e->member == slot) {
            fail_attempt(gs, e, reason, 0, wall_us);
            released++;
        }
    }
    assert(gs->members[slot].in_flight == 0);
    memset(&gs->members[slot], 0, sizeof gs->members[slot]);
    gs->epoch++;
    return released;
}

int evs_group_state_leave(evs_group_state *gs, const char *member_id, uint64_t now_ms,
                          int64_t wall_us)
{
    (void)now_ms;
    int slot = member_find(gs, member_id);
    if (slot < 0)
        return -ENOENT;
    return (int)member_remove(gs, slot, EVS_GROUP_REASON_MEMBER_LEFT, wall_us);
}

int evs_group_state_poll_begin(evs_group_state *gs, const char *member_id, uint64_t now_ms)
{
    int slot = member_find(gs, member_id);
    if (slot < 0)
        return -ENOENT;
    gs->members[slot].polls++;
    gs->members[slot].last_seen_ms = now_ms;
    return 0;
}

void evs_group_state_poll_end(evs_group_state *gs, const char *member_id, uint64_t now_ms)
{
    int slot = member_find(gs, member_id);
    if (slot < 0)
        return;
    if (gs->members[slot].polls)
        gs->members[slot].polls--;
    gs->members[slot].last_seen_ms = now_ms;
}

size_t evs_group_state_expire(evs_group_state *gs, uint64_t now_ms, int64_t wall_us)
{
    size_t released = 0;
    for (int i = 0; i < EVS_GROUP_MEMBERS_MAX; i++) {
        member *m = &gs->members[i];
        if (m->used && !m->polls && now_ms > m->last_seen_ms &&
            now_ms - m->last_seen_ms >= gs->settings.member_timeout_ms)
            released += member_remove(gs, i, EVS_GROUP_REASON_MEMBER_TIMEOUT, wall_us);
    }
    if (now_ms < gs->next_deadline_ms)
        return released;
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < gs->count; i++) {
        entry *e = &gs->entries[i];
        if (e->state != ST_IN_FLIGHT)
            continue;
        if (e->deadline_ms <= now_ms) {
            fail_attempt(gs, e, EVS_GROUP_REASON_ACK_TIMEOUT, 0, wall_us);
            released++;
        } else if (e->deadline_ms < next) {
            next = e->deadline_ms;
        }
    }
    gs->next_deadline_ms = next;
    return released;
}

/* ---- Delivery -----------------------------------------------------------------------------------
 */

int evs_group_state_fetch(evs_group_state *gs, const char *member_id, size_t max, uint64_t now_ms,
                          evs_group_delivery *out)
{
    int slot = member_find(gs, member_id);
    if (slot < 0)
        return -ENOENT;
    member *m = &gs->members[slot];
    m->last_seen_ms = now_ms;
    size_t n = 0;
    uint64_t walk = ++gs->walk;
    for (size_t i = 0; i < gs->count && n < max; i++) {
        entry *e = &gs->entries[i];
        if (is_done(e))
            continue;
        stream_rec *s = e->stream;
        /* G2: only the stream's earliest entry that is not done may be delivered, and only
         * when none of the stream's entries is in flight (a replayed entry is earlier than
         * an in-flight one of its stream). */
        if (s->walk == walk)
            continue;
        s->walk = walk;
        if (s->busy || stream_owner(gs, s) != slot)
            continue;
        assert(e->state == ST_PENDING);
        e->state = ST_IN_FLIGHT;
        e->member = (int16_t)slot;
        e->deadline_ms = now_ms + gs->settings.ack_timeout_ms;
        if (e->deadline_ms < gs->next_deadline_ms)
            gs->next_deadline_ms = e->deadline_ms;
        s->busy = 1;
        m->in_flight++;
        m->delivered++;
        out[n].position = e->position;
        out[n].attempt = e->attempts < UINT32_MAX ? e->attempts + 1 : UINT32_MAX;
        n++;
    }
    return (int)n;
}

void evs_group_state_ack(evs_group_state *gs, const char *member_id, const uint64_t *positions,
                         size_t n, uint64_t now_ms, evs_group_outcome *outcome)
{
    int slot = member_find(gs, member_id);
    if (slot >= 0)
        gs->members[slot].last_seen_ms = now_ms;
    for (size_t i = 0; i < n; i++) {
        entry *e = entry_find(gs, positions[i]);
        outcome[i] = EVS_GROUP_STALE;
        if (!e)
            continue;
        if (e->state == ST_IN_FLIGHT && e->member == slot) {
            member *m = &gs->members[slot];
            m->in_flight--;
            m->acked++;
            e->stream->busy = 0;
            e->member = -1;
        } else if (!(e->state == ST_PENDING && e->attempts > 0)) {
            continue;
        }
        e->state = ST_ACKED;
        e->dirty = 1;
        outcome[i] = EVS_GROUP_ACKED;
    }
}

void evs_group_state_nack(evs_group_state *gs, const char *member_id, const uint64_t *positions,
                          size_t n, int park, uint64_t now_ms, int64_t wall_us,
                          evs_group_outcome *outcome)
{
    int slot = member_find(gs, member_id);
    if (slot >= 0)
        gs->members[slot].last_seen_ms = now_ms;
    for (size_t i = 0; i < n; i++) {
        entry *e = slot >= 0 ? entry_find(gs, positions[i]) : NULL;
        if (!e || e->state != ST_IN_FLIGHT || e->member != slot) {
            outcome[i] = EVS_GROUP_STALE;
            continue;
        }
        outcome[i] =
            fail_attempt(gs, e, park ? EVS_GROUP_REASON_PARKED_BY_MEMBER : EVS_GROUP_REASON_NACKED,
                         park, wall_us);
    }
}

int evs_group_state_replay(evs_group_state *gs, const evs_group_parked_item *items, size_t n,
                           size_t *consumed)
{
    uint64_t checkpoint = current_checkpoint(gs);
    int replayed = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        entry *e = entry_find(gs, items[i].position);
        if (e) {
            if (e->state != ST_PARKED)
                continue; /* not parked (any more): nothing to do */
        } else {
            /* A parked event at or above the checkpoint is always in the window; one that
             * is not is unknown here and stays parked. */
            if (items[i].position >= checkpoint || items[i].stream_len == 0 ||
                items[i].stream_len > EVS_STREAM_NAME_MAX)
                continue;
            if (gs->extras >= EVS_GROUP_REPLAY_MAX)
                break;
            e = insert_extra(gs, items[i].position, items[i].stream, items[i].stream_len);
            if (!e) {
                *consumed = i;
                return -ENOMEM;
            }
            e->p_stored = 1;
        }
        e->state = ST_PENDING;
        e->attempts = 0;
        e->reason = 0;
        e->dirty = 1;
        if (gs->parked_count)
            gs->parked_count--;
        replayed++;
    }
    *consumed = i;
    return replayed;
}

/* ---- Persistence ------------------------------------------------------------------------------
 */

static uint8_t *op_add(evs_group_ops *out, const uint8_t *key, size_t key_len, size_t value_len,
                       int del)
{
    if (out->oom)
        return NULL;
    if (out->count == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 16;
        evs_local_op *ops = realloc(out->ops, cap * sizeof *ops);
        if (!ops) {
            out->oom = 1;
            return NULL;
        }
        out->ops = ops;
        uint8_t **buffers = realloc(out->buffers, cap * sizeof *buffers);
        if (!buffers) {
            out->oom = 1;
            return NULL;
        }
        out->buffers = buffers;
        out->cap = cap;
    }
    uint8_t *buf = malloc(key_len + value_len + 1);
    if (!buf) {
        out->oom = 1;
        return NULL;
    }
    memcpy(buf, key, key_len);
    out->buffers[out->count] = buf;
    out->ops[out->count] =
        (evs_local_op){buf, key_len, del ? NULL : buf + key_len, del ? 0 : value_len};
    out->count++;
    return buf + key_len;
}

static void op_delete(evs_group_ops *out, const char *name, char kind, uint64_t position)
{
    uint8_t key[EVS_GROUP_KEY_MAX];
    op_add(out, key, evs_group_key(key, name, kind, position), 0, 1);
}

static void op_put_e(evs_group_ops *out, const char *name, const entry *e)
{
    uint8_t key[EVS_GROUP_KEY_MAX];
    size_t klen = evs_group_key(key, name, 'e', e->position);
    uint8_t *v = op_add(out, key, klen, 5 + e->stream->len, 0);
    if (!v)
        return;
    v[0] = e->state == ST_ACKED ? 'a' : 'w';
    put_be32(v + 1, e->attempts);
    memcpy(v + 5, e->stream->name, e->stream->len);
}

static void op_put_p(evs_group_ops *out, const char *name, const entry *e)
{
    uint8_t key[EVS_GROUP_KEY_MAX];
    size_t klen = evs_group_key(key, name, 'p', e->position);
    uint8_t *v = op_add(out, key, klen, 13 + e->stream->len, 0);
    if (!v)
        return;
    put_be32(v, e->attempts);
    put_be64(v + 4, (uint64_t)e->parked_us);
    v[12] = e->reason;
    memcpy(v + 13, e->stream->name, e->stream->len);
}

int evs_group_state_flush(evs_group_state *gs, const char *name, evs_group_ops *out)
{
    uint64_t checkpoint = current_checkpoint(gs);
    assert(checkpoint >= gs->checkpoint);
    size_t w = 0, extras = 0;
    for (size_t i = 0; i < gs->count; i++) {
        entry *e = &gs->entries[i];
        int removable = is_done(e) && (e->extra || e->position < checkpoint);
        /* What G5 wants stored for this entry. */
        int want_p = e->state == ST_PARKED;
        int want_e = !removable && !want_p && (e->state == ST_ACKED || e->extra || e->attempts > 0);
        if (want_p && !e->p_stored) {
            op_put_p(out, name, e);
            e->p_stored = 1;
        } else if (!want_p && e->p_stored) {
            op_delete(out, name, 'p', e->position);
            e->p_stored = 0;
        }
        if (want_e && (!e->e_stored || e->dirty)) {
            op_put_e(out, name, e);
            e->e_stored = 1;
        } else if (!want_e && e->e_stored) {
            op_delete(out, name, 'e', e->position);
            e->e_stored = 0;
        }
        e->dirty = 0;
        if (removable) {
            stream_release(gs, e->stream);
            continue;
        }
        if (e->extra)
            extras++;
        if (w != i)
            gs->entries[w] = *e;
        w++;
    }
    gs->count = w;
    gs->extras = extras;
    gs->checkpoint = checkpoint;
    if (gs->checkpoint != gs->stored_checkpoint || gs->parked_count != gs->stored_parked_count) {
        uint8_t key[EVS_GROUP_KEY_MAX];
        uint8_t *v = op_add(out, key, evs_group_key(key, name, 'c', 0), 16, 0);
        if (v) {
            put_be64(v, gs->checkpoint);
            put_be64(v + 8, gs->parked_count);
        }
        gs->stored_checkpoint = gs->checkpoint;
        gs->stored_parked_count = gs->parked_count;
    }
    return out->oom ? -ENOMEM : 0;
}

void evs_group_ops_free(evs_group_ops *ops)
{
    for (size_t i = 0; i < ops->count; i++)
        free(ops->buffers[i]);
    free(ops->buffers);
    free(ops->ops);
    memset(ops, 0, sizeof *ops);
}

/* ---- Inspection
 * ---------------------------------------------------------------------------------- */

void evs_group_state_stats(const evs_group_state *gs, evs_group_stats *out)
{
    memset(out, 0, sizeof *out);
    out->checkpoint = current_checkpoint(gs);
    out->scan_position = gs->scan;
    out->parked = gs->parked_count;
    out->window = gs->count - gs->extras;
    for (size_t i = 0; i < gs->count; i++) {
        const entry *e = &gs->entries[i];
        if (e->extra && !is_done(e))
            out->replaying++;
        if (e->state == ST_PENDING)
            out->pending++;
        else if (e->state == ST_IN_FLIGHT)
            out->in_flight++;
        else if (e->state == ST_ACKED && !e->extra)
            out->acked++;
    }
    for (int i = 0; i < EVS_GROUP_MEMBERS_MAX; i++)
        out->members += gs->members[i].used != 0;
}

size_t evs_group_state_members(const evs_group_state *gs, uint64_t now_ms,
                               evs_group_member_info *out, size_t max)
{
    size_t n = 0;
    for (int i = 0; i < EVS_GROUP_MEMBERS_MAX && n < max; i++) {
        const member *m = &gs->members[i];
        if (!m->used)
            continue;
        evs_group_member_info *info = &out[n++];
        memcpy(info->member_id, m->id, sizeof info->member_id);
        info->polling = m->polls > 0;
        info->idle_ms = m->polls || now_ms < m->last_seen_ms ? 0 : now_ms - m->last_seen_ms;
        info->in_flight = m->in_flight;
        info->delivered = m->delivered;
        info->acked = m->acked;
    }
    return n;
}

int evs_group_state_check(const evs_group_state *gs)
{
    size_t member_in_flight[EVS_GROUP_MEMBERS_MAX] = {0};
    uint64_t checkpoint = current_checkpoint(gs);
    if (checkpoint < gs->checkpoint || gs->scan < checkpoint)
        return __LINE__;
    for (size_t i = 0; i < gs->count; i++) {
        const entry *e = &gs->entries[i];
        if (i && e->position <= gs->entries[i - 1].position)
            return __LINE__;
        if ((i < gs->extras) != (e->extra != 0))
            return __LINE__;
        if (e->extra ? e->position >= gs->checkpoint : e->position < gs->checkpoint)
            return __LINE__;
        if (e->position >= gs->scan)
            return __LINE__;
        if (e->state == ST_IN_FLIGHT) {
            if (e->member < 0 || !gs->members[e->member].used || !e->stream->busy)
                return __LINE__;
            member_in_flight[e->member]++;
            /* G2: nothing else of the stream is in flight. */
            for (size_t j = 0; j < gs->count; j++)
                if (j != i && gs->entries[j].stream == e->stream &&
                    gs->entries[j].state == ST_IN_FLIGHT)
                    return __LINE__;
        } else if (e->member != -1) {
            return __LINE__;
        }
    }
    for (int i = 0; i < EVS_GROUP_MEMBERS_MAX; i++)
        if (member_in_flight[i] != gs->members[i].in_flight)
            return __LINE__;
    for (size_t b = 0; b < STREAM_BUCKETS; b++) {
        for (const stream_rec *s = gs->buckets[b]; s; s = s->next) {
            uint32_t refs = 0;
            int busy = 0;
            for (size_t i = 0; i < gs->count; i++) {
                if (gs->entries[i].stream == s) {
                    refs++;
                    busy |= gs->entries[i].state == ST_IN_FLIGHT;
                }
            }
            if (refs != s->refs || refs == 0 || busy != s->busy)
                return __LINE__;
        }
    }
    if (gs->count - gs->extras > EVS_GROUP_WINDOW_MAX)
        return __LINE__;
    return 0;
}
