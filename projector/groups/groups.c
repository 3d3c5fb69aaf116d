/*
 * groups.c - consumer groups over HTTP: definitions, membership, long-poll fetches, acks,
 * nacks and parked events (docs/HTTP-API.md, "Consumer groups").
 *
 * The rules of a group are in group_logic.c (G1..G5 in group_logic.h). This file keeps
 * every group's state in memory, feeds it the source's events from the store and the
 * clock, and writes to the store's local state what the state asks (the keys are listed in
 * group_logic.h).
 *
 * Concurrency:
 *  C1. registry.lock guards the list of groups and their reference counts; a group's lock
 *      guards its definition and state. Lock order: registry.lock, a group's lock,
 *      projector->lock. No thread waits for anything but the store while it holds a group's
 *      lock.
 *  C2. Every change of a group's state is followed, under its lock, by the store write that
 *      records it (commit()). When the write fails the in-memory state is dropped: the next
 *      request reloads it from the store, which may be behind but never ahead (at worst
 *      events are delivered again); members then get 410 and join again.
 *  C3. A long poll waits on projector->applied (new events) in slices of POLL_SLICE_MS, so
 *      that it also sees, soon, events that other requests release (acks, nacks, timeouts,
 *      rebalancing). While it waits, its member counts as alive.
 *  C4. Groups are loaded from the store on the first request that needs them; definitions
 *      under "GD/", state under "GS/" (group_logic.h). The registry serves one projector; a
 *      request from another (unit tests) reloads it. Every write goes through the state
 *      topic (state/state_log.h), so the store of every replica has every group; the
 *      registry follows definitions that other replicas wrote (evs_state_definitions_
 *      generation).
 *  C5. Only the group's coordinator (groups/coordinator.h) serves a group's requests and
 *      holds its state: it checks that it coordinates before it locks the group, and again
 *      under the lock with the epoch it was given; a state loaded in another epoch is
 *      dropped and loaded again. Anyone else answers 421 not_coordinator.
 */
#include "index/byte_order.h"
#include "groups/groups.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <jansson.h>

#include "groups/coordinator.h"
#include "groups/group_logic.h"
#include "state/state_log.h"

#define POLL_SLICE_MS 50
#define FETCH_DEFAULT 100
#define PARKED_PAGE_DEFAULT 100
#define DELETE_CHUNK_KEYS 1000
#define REPLAY_CHUNK 1000
#define SOURCE_TEXT_MAX (9 + EVS_STREAM_NAME_MAX + 1)

/* ---- Clocks ------------------------------------------------------------------------------ */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* ---- Groups and the registry ------------------------------------------------------------- */

typedef struct group_def {
    char category[EVS_STREAM_NAME_MAX + 1]; /* "" for $all */
    int32_t partition;
    uint64_t from;
    evs_group_settings settings;
    int64_t created_us;
} group_def;

typedef struct group {
    char name[EVS_STREAM_NAME_MAX + 1];
    pthread_mutex_t lock; /* guards the fields below */
    group_def def;
    evs_group_state *state;    /* NULL until loaded, or after a failed write (C2) */
    uint64_t state_generation; /* bumped whenever state is loaded or dropped */
    uint64_t epoch;            /* the coordination epoch the state was loaded in (C5) */
    int32_t state_partition;   /* the state-topic partition of the group's keys */
    int deleted;
    int seen;      /* registry.lock: found by the current load of the definitions */
    unsigned refs; /* registry.lock */
} group;

static struct {
    pthread_mutex_t lock;
    evs_projector *projector; /* the projector the groups were loaded for */
    uint64_t generation;      /* evs_state_definitions_generation when last loaded (C4) */
    group *groups[EVS_GROUPS_MAX];
    size_t count;
} registry = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void group_free(group *g)
{
    if (!g)
        return;
    evs_group_state_free(g->state);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

static group *group_new(evs_projector *p, const char *name, const group_def *def)
{
    group *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    snprintf(g->name, sizeof g->name, "%s", name);
    g->def = *def;
    g->state_partition = p->state_log ? evs_state_partition_of(p, name, strlen(name)) : 0;
    pthread_mutex_init(&g->lock, NULL);
    return g;
}

static void source_text(const group_def *d, char *out, size_t n)
{
    if (d->category[0])
        snprintf(out, n, "category:%s", d->category);
    else
        snprintf(out, n, "$all");
}

static int category_valid(const char *s, size_t len)
{
    return evs_stream_name_valid(s, len) && !memchr(s, '-', len);
}

/* Reads a definition from a JSON object (a request body, or a stored definition). Returns
 * 0, or -1 with the problem in err. */
static int def_parse(json_t *obj, int32_t partition_count, group_def *d, char *err, size_t err_len)
{
    memset(d, 0, sizeof *d);
    d->from = 1;
    d->settings =
        (evs_group_settings){EVS_GROUP_ACK_TIMEOUT_DEFAULT_MS, EVS_GROUP_MAX_ATTEMPTS_DEFAULT,
                             EVS_GROUP_MEMBER_TIMEOUT_DEFAULT_MS};
    const char *source = json_string_value(json_object_get(obj, "source"));
    if (!source) {
        snprintf(err, err_len, "\"source\" is required: \"$all\" or \"category:NAME\"");
        return -1;
    }
    if (!strncmp(source, "category:", 9)) {
        size_t len = strlen(source + 9);
        if (!category_valid(source + 9, len)) {
            snprintf(err, err_len,
                     "invalid category in \"source\": use 1 to %d of letters, digits and _.:@ "
                     "(a category has no '-')",
                     EVS_STREAM_NAME_MAX);
            return -1;
        }
        memcpy(d->category, source + 9, len + 1);
    } else if (strcmp(source, "$all")) {
        snprintf(err, err_len, "\"source\" must be \"$all\" or \"category:NAME\"");
        return -1;
    }
    static const struct {
        const char *name;
        uint64_t min, max;
    } ranges[] = {
        {"partition", 0, 0},
        {"from", 0, INT64_MAX},
        {"ack_timeout_ms", EVS_GROUP_ACK_TIMEOUT_MIN_MS, EVS_GROUP_ACK_TIMEOUT_MAX_MS},
        {"max_attempts", 1, EVS_GROUP_MAX_ATTEMPTS_MAX},
        {"member_timeout_ms", EVS_GROUP_MEMBER_TIMEOUT_MIN_MS, EVS_GROUP_MEMBER_TIMEOUT_MAX_MS},
        {"created_us", 0, INT64_MAX},
    };
    uint64_t values[6] = {
        0, 1, d->settings.ack_timeout_ms, d->settings.max_attempts, d->settings.member_timeout_ms,
        0};
    for (size_t i = 0; i < 6; i++) {
        json_t *v = json_object_get(obj, ranges[i].name);
        if (!v)
            continue;
        uint64_t max = i == 0 ? (uint64_t)partition_count - 1 : ranges[i].max;
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            (uint64_t)json_integer_value(v) < ranges[i].min ||
            (uint64_t)json_integer_value(v) > max) {
            snprintf(err, err_len, "\"%s\" must be a whole number from %llu to %llu",
                     ranges[i].name, (unsigned long long)ranges[i].min, (unsigned long long)max);
            return -1;
        }
        values[i] = (uint64_t)json_integer_value(v);
    }
    d->partition = (int32_t)values[0];
    d->from = values[1] ? values[1] : 1;
    d->settings.ack_timeout_ms = (uint32_t)values[2];
    d->settings.max_attempts = (uint32_t)values[3];
    d->settings.member_timeout_ms = (uint32_t)values[4];
    d->created_us = (int64_t)values[5];
    return 0;
}

/* The definition as a JSON object (without the name): what is stored and shown. */
static void out_def_fields(evs_out *o, const group_def *d)
{
    char source[SOURCE_TEXT_MAX];
    source_text(d, source, sizeof source);
    evs_out_str(o, "\"source\":");
    evs_out_jstr(o, source, strlen(source));
    evs_out_fmt(o,
                ",\"partition\":%d,\"from\":%llu,\"ack_timeout_ms\":%u,\"max_attempts\":%u,"
                "\"member_timeout_ms\":%u,\"created_us\":%lld",
                (int)d->partition, (unsigned long long)d->from, d->settings.ack_timeout_ms,
                d->settings.max_attempts, d->settings.member_timeout_ms, (long long)d->created_us);
}

static int def_equal(const group_def *a, const group_def *b)
{
    return !strcmp(a->category, b->category) && a->partition == b->partition &&
           a->from == b->from && a->created_us == b->created_us &&
           a->settings.ack_timeout_ms == b->settings.ack_timeout_ms &&
           a->settings.max_attempts == b->settings.max_attempts &&
           a->settings.member_timeout_ms == b->settings.member_timeout_ms;
}

static group *registry_find(const char *name);
static void group_drop_state(group *g);

static int load_definition(void *ctx, const char *key, size_t key_len, const char *value,
                           size_t value_len)
{
    evs_projector *p = ctx;
    char name[EVS_STREAM_NAME_MAX + 1], err[256];
    size_t name_len = key_len - 3;
    if (key_len <= 3 || name_len > EVS_STREAM_NAME_MAX || !evs_stream_name_valid(key + 3, name_len))
        return 0;
    memcpy(name, key + 3, name_len);
    name[name_len] = 0;
    json_t *obj = json_loadb(value, value_len, 0, NULL);
    group_def def;
    int rc = obj ? def_parse(obj, p->partition_count, &def, err, sizeof err) : -1;
    json_decref(obj);
    if (rc < 0) {
        fprintf(stderr,
                "evstore-projector: consumer group %s has an unreadable definition; "
                "ignored\n",
                name);
        return 0;
    }
    group *g = registry_find(name);
    if (g) {
        /* Known: take a changed definition (its settings), keep the state. */
        pthread_mutex_lock(&g->lock);
        g->seen = 1;
        if (!def_equal(&g->def, &def)) {
            g->def = def;
            if (g->state)
                evs_group_state_set_settings(g->state, &def.settings);
        }
        pthread_mutex_unlock(&g->lock);
        return 0;
    }
    if (registry.count == EVS_GROUPS_MAX)
        return 1;
    if (!(g = group_new(p, name, &def)))
        return 1;
    g->seen = 1;
    registry.groups[registry.count++] = g;
    return 0;
}

static group *registry_find(const char *name)
{
    for (size_t i = 0; i < registry.count; i++)
        if (!strcmp(registry.groups[i]->name, name))
            return registry.groups[i];
    return NULL;
}

static void registry_remove(group *g)
{
    for (size_t i = 0; i < registry.count; i++) {
        if (registry.groups[i] == g) {
            registry.groups[i] = registry.groups[--registry.count];
            return;
        }
    }
}

/* Takes g out of the registry (registry.lock held); freed now or by its last user. */
static void registry_drop(group *g)
{
    registry_remove(g);
    pthread_mutex_lock(&g->lock);
    g->deleted = 1;
    group_drop_state(g);
    pthread_mutex_unlock(&g->lock);
    if (g->refs == 0)
        group_free(g);
}

/* Makes the registry match the definitions in the store (C4): loads them for p, and again
 * whenever the state topic applied a definition since. Groups still defined keep their
 * state; groups no longer defined go. registry.lock held. */
static int registry_ensure(evs_projector *p)
{
    uint64_t generation = evs_state_definitions_generation(p);
    if (registry.projector == p && registry.generation == generation)
        return 0;
    if (registry.projector != p)
        while (registry.count)
            registry_drop(registry.groups[0]);
    registry.projector = NULL;
    for (size_t i = 0; i < registry.count; i++)
        registry.groups[i]->seen = 0;
    if (evs_store_local_scan(p->store, "GD/", 3, NULL, 0, load_definition, p) < 0)
        return -1;
    for (size_t i = registry.count; i-- > 0;)
        if (!registry.groups[i]->seen)
            registry_drop(registry.groups[i]);
    registry.projector = p;
    registry.generation = generation;
    return 0;
}

/* The group named name with a reference, NULL if there is none (*store_failed set when the
 * definitions could not be read). */
static group *group_acquire(evs_projector *p, const char *name, int *store_failed)
{
    group *g = NULL;
    *store_failed = 0;
    pthread_mutex_lock(&registry.lock);
    if (registry_ensure(p) < 0)
        *store_failed = 1;
    else if ((g = registry_find(name)))
        g->refs++;
    pthread_mutex_unlock(&registry.lock);
    return g;
}

static void group_release(group *g)
{
    pthread_mutex_lock(&registry.lock);
    int last = --g->refs == 0 && g->deleted;
    pthread_mutex_unlock(&registry.lock);
    if (last)
        group_free(g);
}

/* ---- A group's state ---------------------------------------------------------------------- */

typedef struct load_ctx {
    evs_group_state *gs;
    size_t prefix_len;
    int rc;
} load_ctx;

static int load_record(void *ctx, const char *key, size_t key_len, const char *value,
                       size_t value_len)
{
    load_ctx *l = ctx;
    if (key_len <= l->prefix_len)
        return 0;
    if (evs_group_state_load(l->gs, key + l->prefix_len, key_len - l->prefix_len, value,
                             value_len) < 0) {
        l->rc = -1;
        return 1;
    }
    return 0;
}

/* Loads g's state from the store when it is not in memory (G5). g->lock held. */
static int group_load_state(evs_projector *p, group *g)
{
    if (g->state)
        return 0;
    uint8_t key[EVS_GROUP_KEY_MAX], start[EVS_GROUP_KEY_MAX];
    uint64_t checkpoint = g->def.from, parked = 0;
    char *value = NULL;
    size_t value_len = 0;
    if (evs_store_local_get(p->store, key, evs_group_key(key, g->name, 'c', 0), &value,
                            &value_len) < 0)
        return -1;
    if (value && evs_group_progress_decode(value, value_len, &checkpoint, &parked) < 0)
        fprintf(stderr,
                "evstore-projector: consumer group %s: unreadable progress record, "
                "starting from its definition\n",
                g->name);
    free(value);
    evs_group_state *gs;
    if (evs_group_state_new(&g->def.settings, checkpoint, parked, &gs) < 0)
        return -1;
    size_t prefix_len = evs_group_state_prefix_len(g->name);
    load_ctx l = {gs, prefix_len, 0};
    /* Every 'e' record (bounded by the window and the replay limit), and the 'p' records
     * from the checkpoint on (bounded by the window): not the parked events below it. */
    size_t elen = evs_group_key(key, g->name, 'e', 0) - 8;
    int rc = evs_store_local_scan(p->store, key, elen, NULL, 0, load_record, &l);
    if (rc == 0 && l.rc == 0) {
        size_t plen = evs_group_key(key, g->name, 'p', 0) - 8;
        size_t slen = evs_group_key(start, g->name, 'p', checkpoint - 1);
        rc = evs_store_local_scan(p->store, key, plen, start, slen, load_record, &l);
    }
    if (rc < 0 || l.rc < 0) {
        evs_group_state_free(gs);
        return -1;
    }
    g->state = gs;
    g->state_generation++;
    return 0;
}

static void group_drop_state(group *g)
{
    evs_group_state_free(g->state);
    g->state = NULL;
    g->state_generation++;
}

/* Writes what the state changed (C2). Returns 0, or -1 after dropping the state. */
static int commit(evs_projector *p, group *g)
{
    evs_group_ops ops = {0};
    char err[512] = "out of memory";
    int rc = evs_group_state_flush(g->state, g->name, &ops);
    if (rc == 0 && ops.count)
        rc = evs_state_write(p, ops.ops, ops.count, err, sizeof err);
    evs_group_ops_free(&ops);
    if (rc < 0) {
        fprintf(stderr,
                "evstore-projector: consumer group %s: cannot save its progress (%s); "
                "reloading it from the store\n",
                g->name, err);
        group_drop_state(g);
        return -1;
    }
    return 0;
}

typedef struct refill_ctx {
    evs_group_state *gs;
    size_t visited;
    int rc;
} refill_ctx;

static int refill_visit(void *ctx, const evs_stored_event *e)
{
    refill_ctx *r = ctx;
    r->visited++;
    r->rc = evs_group_state_add_event(r->gs, e->position, e->stream, e->stream_len);
    return r->rc < 0;
}

/* Reads the source's next events into the window while it has room. g->lock held. */
static int refill(evs_projector *p, group *g)
{
    evs_group_state *gs = g->state;
    int32_t partition = g->def.partition;
    for (;;) {
        size_t room = evs_group_state_window_room(gs);
        if (room == 0)
            return 0;
        pthread_mutex_lock(&p->lock);
        uint64_t last = p->last_position[partition];
        pthread_mutex_unlock(&p->lock);
        uint64_t from = evs_group_state_scan_position(gs);
        if (from > last)
            return 0;
        if (room > EVS_READ_LIMIT_MAX)
            room = EVS_READ_LIMIT_MAX;
        refill_ctx r = {gs, 0, 0};
        int rc = g->def.category[0]
                     ? evs_store_read_index(p->store, EVS_INDEX_CATEGORY, g->def.category,
                                            strlen(g->def.category), partition, from, room,
                                            refill_visit, &r)
                     : evs_store_read_all(p->store, partition, from, room, refill_visit, &r);
        if (rc < 0 || (r.rc < 0 && r.rc != -ENOSPC))
            return -1;
        if (r.visited < room) {
            /* Everything up to `last` was committed before the read began: the source has
             * nothing more below last + 1. */
            evs_group_state_skip_to(gs, last + 1);
            return 0;
        }
    }
}

/* ---- Answers -------------------------------------------------------------------------------- */

static enum MHD_Result no_group(struct MHD_Connection *c, const char *name, int store_failed)
{
    if (store_failed)
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store read failed");
    return evs_http_send_error(c, MHD_HTTP_NOT_FOUND, "no consumer group %s", name);
}

static enum MHD_Result state_failed(struct MHD_Connection *c, group *g)
{
    pthread_mutex_unlock(&g->lock);
    group_release(g);
    return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                               "cannot read or write the group's state in the store");
}

/* 421 for a group this projector does not coordinate (C5), 503 when it cannot tell. */
static enum MHD_Result not_coordinator(struct MHD_Connection *c, const char *name, int failed,
                                       const char *err)
{
    if (failed)
        return evs_http_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                                   "cannot take over consumer group %s yet: %s", name, err);
    char message[EVS_STREAM_NAME_MAX + 200];
    snprintf(message, sizeof message,
             "this projector does not coordinate consumer group %s; ask another (GET /cluster "
             "lists the state partitions each one coordinates)",
             name);
    evs_out o = {0};
    evs_out_str(&o, "{\"error\":");
    evs_out_jstr(&o, message, strlen(message));
    evs_out_str(&o, ",\"error_type\":\"not_coordinator\",\"group\":");
    evs_out_jstr(&o, name, strlen(name));
    evs_out_str(&o, "}");
    return evs_http_send_json(c, MHD_HTTP_MISDIRECTED_REQUEST, &o);
}

/* Whether this projector coordinates the group named name now (C5). When it does not,
 * queues the answer into *ret and returns 0. */
static int coordinates(const evs_http_request *r, const char *name, uint64_t *epoch,
                       enum MHD_Result *ret)
{
    evs_projector *p = r->projector;
    char err[512] = "";
    int32_t k = p->state_log ? evs_state_partition_of(p, name, strlen(name)) : 0;
    int rc = evs_coordinator_acquire(p, k, epoch, err, sizeof err);
    if (rc == 1)
        return 1;
    *ret = not_coordinator(r->connection, name, rc < 0, err);
    return 0;
}

/* Locks g and loads its state. Returns 0, or -1 with g unlocked and released and an answer
 * queued into *ret. */
static int lock_state(const evs_http_request *r, group *g, enum MHD_Result *ret)
{
    uint64_t epoch;
    if (!coordinates(r, g->name, &epoch, ret)) {
        group_release(g);
        return -1;
    }
    pthread_mutex_lock(&g->lock);
    /* C5: handed over since, or state loaded in an earlier epoch. */
    if (!evs_coordinator_current(r->projector, g->state_partition, epoch)) {
        pthread_mutex_unlock(&g->lock);
        *ret = not_coordinator(r->connection, g->name, 0, "");
        group_release(g);
        return -1;
    }
    if (g->state && g->epoch != epoch)
        group_drop_state(g);
    g->epoch = epoch;
    if (g->deleted) {
        pthread_mutex_unlock(&g->lock);
        *ret =
            evs_http_send_error(r->connection, MHD_HTTP_NOT_FOUND, "no consumer group %s", g->name);
        group_release(g);
        return -1;
    }
    if (group_load_state(r->projector, g) < 0) {
        *ret = state_failed(r->connection, g);
        return -1;
    }
    return 0;
}

static json_t *parse_body(const evs_http_request *r, int optional, enum MHD_Result *ret)
{
    json_error_t jerr;
    if (optional && r->body_len == 0)
        return json_object();
    json_t *body = json_loadb(r->body, r->body_len, 0, &jerr);
    if (!body || !json_is_object(body)) {
        *ret = evs_http_send_error(r->connection, MHD_HTTP_BAD_REQUEST,
                                   "the request body must be a JSON object%s%s", body ? "" : ": ",
                                   body ? "" : jerr.text);
        json_decref(body);
        return NULL;
    }
    return body;
}

/* Reads "positions": 1..EVS_GROUP_POSITIONS_MAX positions (>= 1). Returns the count, or -1
 * after a 400. When optional and absent, returns 0. */
static long parse_positions(const evs_http_request *r, json_t *body, int optional, uint64_t *out,
                            enum MHD_Result *ret)
{
    json_t *a = json_object_get(body, "positions");
    if (!a && optional)
        return 0;
    size_t n = json_array_size(a);
    if (!json_is_array(a) || n == 0 || n > EVS_GROUP_POSITIONS_MAX) {
        *ret = evs_http_send_error(r->connection, MHD_HTTP_BAD_REQUEST,
                                   "\"positions\" must be an array of 1 to %d positions",
                                   EVS_GROUP_POSITIONS_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            *ret = evs_http_send_error(r->connection, MHD_HTTP_BAD_REQUEST,
                                       "\"positions\" must hold whole numbers of at least 1");
            return -1;
        }
        out[i] = (uint64_t)json_integer_value(v);
    }
    return (long)n;
}

/* ---- GET /groups, PUT/GET/DELETE /groups/{name} ------------------------------------------- */

enum MHD_Result evs_groups_list_handle(const evs_http_request *r)
{
    evs_out o = {0};
    pthread_mutex_lock(&registry.lock);
    if (registry_ensure(r->projector) < 0) {
        pthread_mutex_unlock(&registry.lock);
        return evs_http_send_error(r->connection, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                   "store read failed");
    }
    evs_out_str(&o, "{\"groups\":[");
    for (size_t i = 0; i < registry.count; i++) {
        group *g = registry.groups[i];
        pthread_mutex_lock(&g->lock);
        evs_out_str(&o, i ? ",{\"name\":" : "{\"name\":");
        evs_out_jstr(&o, g->name, strlen(g->name));
        evs_out_str(&o, ",");
        out_def_fields(&o, &g->def);
        evs_out_str(&o, "}");
        pthread_mutex_unlock(&g->lock);
    }
    pthread_mutex_unlock(&registry.lock);
    evs_out_fmt(&o, "],\"max_groups\":%d}", EVS_GROUPS_MAX);
    return evs_http_send_json(r->connection, MHD_HTTP_OK, &o);
}

int evs_groups_metrics(evs_projector *p, evs_group_metric *out, size_t max)
{
    pthread_mutex_lock(&registry.lock);
    if (registry_ensure(p) < 0) {
        pthread_mutex_unlock(&registry.lock);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < registry.count && n < max; i++) {
        group *g = registry.groups[i];
        evs_group_metric *m = &out[n++];
        memset(m, 0, sizeof *m);
        pthread_mutex_lock(&g->lock);
        snprintf(m->name, sizeof m->name, "%s", g->name);
        m->partition = g->def.partition;
        m->coordinated = g->state != NULL;
        if (g->state)
            evs_group_state_stats(g->state, &m->stats);
        pthread_mutex_unlock(&g->lock);
    }
    pthread_mutex_unlock(&registry.lock);
    return (int)n;
}

typedef struct key_list {
    uint8_t (*keys)[EVS_GROUP_KEY_MAX];
    size_t *lens;
    size_t count;
} key_list;

static int collect_key(void *ctx, const char *key, size_t key_len, const char *value,
                       size_t value_len)
{
    (void)value;
    (void)value_len;
    key_list *l = ctx;
    if (key_len > EVS_GROUP_KEY_MAX)
        return 0;
    memcpy(l->keys[l->count], key, key_len);
    l->lens[l->count++] = key_len;
    return l->count == DELETE_CHUNK_KEYS;
}

/* Deletes every state key of the group named name, in chunks, through the state topic. */
static int delete_state_keys(evs_projector *p, const char *name)
{
    evs_store *store = p->store;
    char err[512];
    uint8_t prefix[EVS_GROUP_KEY_MAX];
    size_t prefix_len = evs_group_key(prefix, name, 'c', 0) - 1;
    key_list l = {malloc(DELETE_CHUNK_KEYS * sizeof *l.keys),
                  malloc(DELETE_CHUNK_KEYS * sizeof *l.lens), 0};
    evs_local_op *ops = malloc(DELETE_CHUNK_KEYS * sizeof *ops);
    int rc = -1;
    if (!l.keys || !l.lens || !ops)
        goto done;
    for (;;) {
        l.count = 0;
        if (evs_store_local_scan(store, prefix, prefix_len, NULL, 0, collect_key, &l) < 0)
            goto done;
        if (l.count == 0)
            break;
        for (size_t i = 0; i < l.count; i++)
            ops[i] = (evs_local_op){l.keys[i], l.lens[i], NULL, 0};
        if (evs_state_write(p, ops, l.count, err, sizeof err) < 0) {
            fprintf(stderr, "evstore-projector: deleting consumer group %s: %s\n", name, err);
            goto done;
        }
    }
    rc = 0;
done:
    free(l.keys);
    free(l.lens);
    free(ops);
    return rc;
}

static enum MHD_Result put_group(const evs_http_request *r, const char *name)
{
    struct MHD_Connection *c = r->connection;
    evs_projector *p = r->projector;
    enum MHD_Result ret = MHD_NO;
    char err[512];
    group_def def;
    json_t *body = parse_body(r, 0, &ret);
    if (!body)
        return ret;
    int rc = def_parse(body, p->partition_count, &def, err, sizeof err);
    int has_from = json_object_get(body, "from") != NULL;
    json_decref(body);
    if (rc < 0)
        return evs_http_send_error(c, MHD_HTTP_BAD_REQUEST, "%s", err);
    uint64_t epoch;
    if (!evs_http_served(p, c, def.partition, &ret) || !coordinates(r, name, &epoch, &ret))
        return ret;

    pthread_mutex_lock(&registry.lock);
    if (registry_ensure(p) < 0) {
        pthread_mutex_unlock(&registry.lock);
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store read failed");
    }
    group *g = registry_find(name);
    unsigned status = MHD_HTTP_OK;
    if (g) {
        pthread_mutex_lock(&g->lock);
        if (strcmp(g->def.category, def.category) || g->def.partition != def.partition ||
            (has_from && g->def.from != def.from)) {
            char source[SOURCE_TEXT_MAX];
            source_text(&g->def, source, sizeof source);
            pthread_mutex_unlock(&g->lock);
            pthread_mutex_unlock(&registry.lock);
            return evs_http_send_error(c, MHD_HTTP_CONFLICT,
                                       "consumer group %s exists with source %s, partition %d "
                                       "and from %llu; only its settings can change (delete "
                                       "it to start over)",
                                       name, source, (int)g->def.partition,
                                       (unsigned long long)g->def.from);
        }
        def.from = g->def.from;
        def.created_us = g->def.created_us;
    } else {
        if (registry.count == EVS_GROUPS_MAX) {
            pthread_mutex_unlock(&registry.lock);
            return evs_http_send_error(c, MHD_HTTP_CONFLICT,
                                       "there are %d consumer groups, the most a projector "
                                       "holds; delete one first",
                                       EVS_GROUPS_MAX);
        }
        def.created_us = wall_us();
        status = MHD_HTTP_CREATED;
    }
    /* A new group: state left under its name (a deletion cut short) must not leak into
     * it. Then the definition. */
    evs_out stored = {0};
    evs_out_str(&stored, "{");
    out_def_fields(&stored, &def);
    evs_out_str(&stored, "}");
    uint8_t key[EVS_GROUP_KEY_MAX];
    evs_local_op op = {key, evs_group_definition_key(key, name), stored.p, stored.len};
    rc = stored.oom || (!g && delete_state_keys(p, name) < 0)
             ? -1
             : evs_state_write(p, &op, 1, err, sizeof err);
    free(stored.p);
    if (g) {
        if (rc == 0) {
            g->def = def;
            if (g->state)
                evs_group_state_set_settings(g->state, &def.settings);
        }
        pthread_mutex_unlock(&g->lock);
    } else if (rc == 0) {
        if ((g = group_new(p, name, &def)))
            registry.groups[registry.count++] = g;
        else
            rc = -1;
    }
    pthread_mutex_unlock(&registry.lock);
    if (rc < 0)
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store write failed");
    evs_out o = {0};
    evs_out_str(&o, "{\"name\":");
    evs_out_jstr(&o, name, strlen(name));
    evs_out_str(&o, ",");
    out_def_fields(&o, &def);
    evs_out_fmt(&o, ",\"created\":%s}", status == MHD_HTTP_CREATED ? "true" : "false");
    return evs_http_send_json(c, status, &o);
}

static enum MHD_Result delete_group(const evs_http_request *r, const char *name)
{
    struct MHD_Connection *c = r->connection;
    evs_projector *p = r->projector;
    uint64_t epoch;
    enum MHD_Result ret;
    if (!coordinates(r, name, &epoch, &ret))
        return ret;
    /* The registry stays locked until the keys are gone, so that a group created again
     * under the same name cannot see them (C1). */
    pthread_mutex_lock(&registry.lock);
    if (registry_ensure(p) < 0) {
        pthread_mutex_unlock(&registry.lock);
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store read failed");
    }
    group *g = registry_find(name);
    if (!g) {
        pthread_mutex_unlock(&registry.lock);
        return evs_http_send_error(c, MHD_HTTP_NOT_FOUND, "no consumer group %s", name);
    }
    if (!evs_http_served(p, c, g->def.partition, &ret)) {
        pthread_mutex_unlock(&registry.lock);
        return ret;
    }
    registry_drop(g);
    /* The state first, the definition last: a deletion cut short leaves a group that is
     * still defined, never state under no definition. */
    uint8_t key[EVS_GROUP_KEY_MAX];
    char err[512];
    evs_local_op op = {key, evs_group_definition_key(key, name), NULL, 0};
    int rc = delete_state_keys(p, name);
    if (rc == 0)
        rc = evs_state_write(p, &op, 1, err, sizeof err);
    pthread_mutex_unlock(&registry.lock);
    if (rc < 0)
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                   "store write failed while deleting group %s", name);
    evs_out o = {0};
    evs_out_str(&o, "{\"name\":");
    evs_out_jstr(&o, name, strlen(name));
    evs_out_str(&o, ",\"deleted\":true}");
    return evs_http_send_json(c, MHD_HTTP_OK, &o);
}

static enum MHD_Result get_group(const evs_http_request *r, group *g)
{
    enum MHD_Result ret = MHD_NO;
    evs_projector *p = r->projector;
    if (lock_state(r, g, &ret) < 0)
        return ret;
    uint64_t now = mono_ms();
    evs_group_state_expire(g->state, now, wall_us());
    if (commit(p, g) < 0)
        return state_failed(r->connection, g);
    evs_group_stats st;
    evs_group_state_stats(g->state, &st);
    evs_group_member_info members[EVS_GROUP_MEMBERS_MAX];
    size_t n = evs_group_state_members(g->state, now, members, EVS_GROUP_MEMBERS_MAX);
    pthread_mutex_lock(&p->lock);
    uint64_t last = p->last_position[g->def.partition];
    pthread_mutex_unlock(&p->lock);

    evs_out o = {0};
    evs_out_str(&o, "{\"name\":");
    evs_out_jstr(&o, g->name, strlen(g->name));
    evs_out_str(&o, ",");
    out_def_fields(&o, &g->def);
    evs_out_fmt(&o,
                ",\"checkpoint\":%llu,\"scan_position\":%llu,\"last_position\":%llu,"
                "\"window\":%zu,\"pending\":%zu,\"in_flight\":%zu,\"acked_above_checkpoint\":%zu,"
                "\"replaying\":%zu,\"parked\":%llu,\"members\":[",
                (unsigned long long)st.checkpoint, (unsigned long long)st.scan_position,
                (unsigned long long)last, st.window, st.pending, st.in_flight, st.acked,
                st.replaying, (unsigned long long)st.parked);
    for (size_t i = 0; i < n; i++)
        evs_out_fmt(&o,
                    "%s{\"member_id\":\"%s\",\"polling\":%s,\"idle_ms\":%llu,\"in_flight\":%zu,"
                    "\"delivered\":%llu,\"acked\":%llu}",
                    i ? "," : "", members[i].member_id, members[i].polling ? "true" : "false",
                    (unsigned long long)members[i].idle_ms, members[i].in_flight,
                    (unsigned long long)members[i].delivered, (unsigned long long)members[i].acked);
    evs_out_str(&o, "]}");
    pthread_mutex_unlock(&g->lock);
    group_release(g);
    return evs_http_send_json(r->connection, MHD_HTTP_OK, &o);
}

/* ---- Members --------------------------------------------------------------------------------- */

static enum MHD_Result join(const evs_http_request *r, group *g)
{
    enum MHD_Result ret = MHD_NO;
    uint8_t random[16];
    char id[EVS_GROUP_MEMBER_ID_LEN + 1];
    evs_uuid_generate(random);
    for (int i = 0; i < 16; i++)
        snprintf(id + 2 * i, 3, "%02x", random[i]);
    if (lock_state(r, g, &ret) < 0)
        return ret;
    uint64_t now = mono_ms();
    evs_group_state_expire(g->state, now, wall_us()); /* frees the slots of silent members */
    int rc = evs_group_state_join(g->state, id, now);
    if (commit(r->projector, g) < 0)
        return state_failed(r->connection, g);
    evs_group_settings s = g->def.settings;
    pthread_mutex_unlock(&g->lock);
    if (rc < 0) {
        if (rc == -ENOSPC)
            ret = evs_http_send_error(r->connection, MHD_HTTP_CONFLICT,
                                      "consumer group %s has %d members, the most a group may "
                                      "have",
                                      g->name, EVS_GROUP_MEMBERS_MAX);
        else
            ret = evs_http_send_error(r->connection, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                      "cannot add a member (%s)", strerror(-rc));
        group_release(g);
        return ret;
    }
    evs_out o = {0};
    evs_out_str(&o, "{\"group\":");
    evs_out_jstr(&o, g->name, strlen(g->name));
    evs_out_fmt(&o,
                ",\"member_id\":\"%s\",\"ack_timeout_ms\":%u,\"max_attempts\":%u,"
                "\"member_timeout_ms\":%u}",
                id, s.ack_timeout_ms, s.max_attempts, s.member_timeout_ms);
    group_release(g);
    return evs_http_send_json(r->connection, MHD_HTTP_CREATED, &o);
}

static enum MHD_Result leave(const evs_http_request *r, group *g, const char *member_id)
{
    enum MHD_Result ret = MHD_NO;
    if (lock_state(r, g, &ret) < 0)
        return ret;
    int released = evs_group_state_leave(g->state, member_id, mono_ms(), wall_us());
    if (commit(r->projector, g) < 0)
        return state_failed(r->connection, g);
    pthread_mutex_unlock(&g->lock);
    if (released < 0)
        ret = evs_http_send_error(r->connection, MHD_HTTP_NOT_FOUND,
                                  "no member %.64s in consumer group %s", member_id, g->name);
    else {
        evs_out o = {0};
        evs_out_fmt(&o, "{\"member_id\":\"%s\",\"left\":true,\"released\":%d}", member_id,
                    released);
        ret = evs_http_send_json(r->connection, MHD_HTTP_OK, &o);
    }
    group_release(g);
    return ret;
}

/* ---- Fetch (long poll) --------------------------------------------------------------------------
 */

typedef struct fetch_out {
    evs_out *o;
    int base64;
    struct evs_keyring *keyring;
    uint64_t position;
    uint32_t attempt;
    int found;
} fetch_out;

static int fetch_visit(void *ctx, const evs_stored_event *e)
{
    fetch_out *f = ctx;
    if (e->position != f->position)
        return 1;
    size_t start = f->o->len;
    evs_out_event_revealed(f->o, e, f->base64, f->keyring);
    /* The event object, with "attempt" added as its last member. */
    if (!f->o->oom && f->o->len > start && f->o->p[f->o->len - 1] == '}') {
        f->o->len--;
        evs_out_fmt(f->o, ",\"attempt\":%u}", f->attempt);
    }
    f->found = 1;
    return 1;
}

static enum MHD_Result fetch(const evs_http_request *r, group *g, const char *member_id)
{
    struct MHD_Connection *c = r->connection;
    evs_projector *p = r->projector;
    enum MHD_Result ret = MHD_NO;
    uint64_t max, wait_ms;
    int base64;
    if (evs_http_query_u64(c, "max", FETCH_DEFAULT, 1, EVS_GROUP_FETCH_MAX, &max, &ret) < 0 ||
        evs_http_query_u64(c, "wait_ms", 0, 0, EVS_GROUP_WAIT_MAX_MS, &wait_ms, &ret) < 0 ||
        (base64 = evs_http_query_encoding(c, &ret)) < 0) {
        group_release(g);
        return ret;
    }
    evs_group_delivery *d = malloc(max * sizeof *d);
    if (!d) {
        group_release(g);
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    if (lock_state(r, g, &ret) < 0) {
        free(d);
        return ret;
    }
    evs_group_state *gs = g->state;
    uint64_t generation = g->state_generation;
    uint64_t deadline = mono_ms() + wait_ms;
    int n = 0;
    unsigned status = 0; /* an error status, once known */
    if (evs_group_state_poll_begin(gs, member_id, mono_ms()) < 0)
        status = MHD_HTTP_GONE;
    while (!status) {
        uint64_t seen = evs_projector_commits(p);
        uint64_t now = mono_ms();
        evs_group_state_expire(gs, now, wall_us());
        if (refill(p, g) < 0) {
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
            commit(p, g);
            break;
        }
        n = evs_group_state_fetch(gs, member_id, max, now, d);
        if (commit(p, g) < 0) {
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
            break;
        }
        if (n < 0)
            status = MHD_HTTP_GONE; /* left (DELETE) while polling */
        if (n != 0 || now >= deadline || p->stop)
            break;
        pthread_mutex_unlock(&g->lock);
        evs_projector_wait_commit(p, seen,
                                  deadline - now < POLL_SLICE_MS ? deadline - now : POLL_SLICE_MS);
        pthread_mutex_lock(&g->lock);
        if (g->deleted || g->state_generation != generation) {
            status = g->deleted ? MHD_HTTP_NOT_FOUND : MHD_HTTP_GONE;
            break;
        }
    }
    if (!g->deleted && g->state_generation == generation)
        evs_group_state_poll_end(gs, member_id, mono_ms());
    int32_t partition = g->def.partition;
    pthread_mutex_unlock(&g->lock);

    if (status) {
        free(d);
        if (status == MHD_HTTP_GONE)
            ret = evs_http_send_error(c, MHD_HTTP_GONE,
                                      "member %.64s is not in consumer group %s (it left, was "
                                      "removed after its member timeout, or the projector "
                                      "restarted): join again",
                                      member_id, g->name);
        else if (status == MHD_HTTP_NOT_FOUND)
            ret = evs_http_send_error(c, status, "no consumer group %s", g->name);
        else
            ret = evs_http_send_error(c, status, "cannot read or write the group's state");
        group_release(g);
        return ret;
    }
    /* The events themselves are immutable: read them without the group's lock. */
    evs_out o = {0};
    evs_out_str(&o, "{\"group\":");
    evs_out_jstr(&o, g->name, strlen(g->name));
    evs_out_fmt(&o, ",\"member_id\":\"%s\",\"events\":[", member_id);
    size_t written = 0, removed = 0;
    uint64_t *gone = NULL; /* allocated at the first removed event */
    for (int i = 0; i < n; i++) {
        if (written)
            evs_out_str(&o, ",");
        size_t mark = o.len;
        fetch_out f = {&o, base64, p->keyring, d[i].position, d[i].attempt, 0};
        int rc = evs_store_read_all(p->store, partition, d[i].position, 1, fetch_visit, &f);
        if (rc < 0 || !f.found) {
            o.len = written ? mark - 1 : mark;
            /* It was in the store when it entered the window, so not there now means a
             * lifecycle command removed it (judge/lifecycle.h): it is done, not delivered
             * (acked below). A failed read leaves it in flight, delivered again after its
             * ack timeout. */
            if (rc == 0 && !gone)
                gone = malloc((size_t)n * sizeof *gone);
            if (rc == 0 && gone)
                gone[removed++] = d[i].position;
            continue;
        }
        written++;
    }
    evs_out_str(&o, "]}");
    free(d);
    if (removed) {
        evs_group_outcome *outcome = malloc(removed * sizeof *outcome);
        pthread_mutex_lock(&g->lock);
        if (outcome && !g->deleted && g->state_generation == generation) {
            evs_group_state_ack(g->state, member_id, gone, removed, mono_ms(), outcome);
            commit(p, g); /* on failure the events stay in flight: delivered again, skipped */
        }
        pthread_mutex_unlock(&g->lock);
        free(outcome);
    }
    free(gone);
    group_release(g);
    return evs_http_send_json(c, MHD_HTTP_OK, &o);
}

/* ---- Ack, nack
 * ------------------------------------------------------------------------------------ */

static void out_positions(evs_out *o, const char *name, const uint64_t *positions,
                          const evs_group_outcome *outcome, long n, evs_group_outcome which)
{
    evs_out_fmt(o, "\"%s\":[", name);
    int first = 1;
    for (long i = 0; i < n; i++) {
        if (outcome[i] != which)
            continue;
        evs_out_fmt(o, first ? "%llu" : ",%llu", (unsigned long long)positions[i]);
        first = 0;
    }
    evs_out_str(o, "]");
}

static enum MHD_Result ack_or_nack(const evs_http_request *r, group *g, int nack)
{
    struct MHD_Connection *c = r->connection;
    enum MHD_Result ret = MHD_NO;
    uint64_t positions[EVS_GROUP_POSITIONS_MAX];
    evs_group_outcome outcome[EVS_GROUP_POSITIONS_MAX];
    json_t *body = parse_body(r, 0, &ret);
    if (!body) {
        group_release(g);
        return ret;
    }
    const char *member_id = json_string_value(json_object_get(body, "member_id"));
    json_t *park = json_object_get(body, "park");
    long n = -1;
    if (!member_id || strlen(member_id) > 64)
        ret = evs_http_send_error(c, MHD_HTTP_BAD_REQUEST,
                                  "\"member_id\" is required: the id given by the join");
    else if (park && !json_is_boolean(park))
        ret = evs_http_send_error(c, MHD_HTTP_BAD_REQUEST, "\"park\" must be true or false");
    else
        n = parse_positions(r, body, 0, positions, &ret);
    char id[65];
    if (member_id)
        snprintf(id, sizeof id, "%s", member_id);
    int park_now = json_is_true(park);
    json_decref(body);
    if (n < 0) {
        group_release(g);
        return ret;
    }
    if (lock_state(r, g, &ret) < 0)
        return ret;
    uint64_t now = mono_ms();
    int64_t wall = wall_us();
    if (nack)
        evs_group_state_nack(g->state, id, positions, (size_t)n, park_now, now, wall, outcome);
    else
        evs_group_state_ack(g->state, id, positions, (size_t)n, now, outcome);
    evs_group_state_expire(g->state, now, wall);
    if (commit(r->projector, g) < 0)
        return state_failed(c, g);
    evs_group_stats st;
    evs_group_state_stats(g->state, &st);
    pthread_mutex_unlock(&g->lock);
    group_release(g);

    evs_out o = {0};
    evs_out_str(&o, "{");
    if (nack) {
        out_positions(&o, "retry", positions, outcome, n, EVS_GROUP_RETRY);
        evs_out_str(&o, ",");
        out_positions(&o, "parked", positions, outcome, n, EVS_GROUP_PARKED);
    } else {
        out_positions(&o, "acked", positions, outcome, n, EVS_GROUP_ACKED);
    }
    evs_out_str(&o, ",");
    out_positions(&o, "stale", positions, outcome, n, EVS_GROUP_STALE);
    evs_out_fmt(&o, ",\"checkpoint\":%llu}", (unsigned long long)st.checkpoint);
    return evs_http_send_json(c, MHD_HTTP_OK, &o);
}

/* ---- Parked events
 * ----------------------------------------------------------------------------------- */

typedef struct parked_page {
    evs_out *o;
    size_t limit, count;
    uint64_t last;
} parked_page;

static int visit_parked(void *ctx, const char *key, size_t key_len, const char *value,
                        size_t value_len)
{
    parked_page *pg = ctx;
    uint32_t attempts;
    int64_t parked_us;
    evs_group_reason reason;
    const char *stream;
    size_t stream_len;
    if (key_len < 8 || evs_group_parked_decode(value, value_len, &attempts, &parked_us, &reason,
                                               &stream, &stream_len) < 0)
        return 0;
    uint64_t position = get_be64((const uint8_t *)key + key_len - 8);
    evs_out_fmt(pg->o, "%s{\"position\":%llu,\"stream\":", pg->count ? "," : "",
                (unsigned long long)position);
    evs_out_jstr(pg->o, stream, stream_len);
    evs_out_fmt(pg->o,
                ",\"attempts\":%u,\"reason\":\"%s\",\"parked_us\":%lld,\"parked\":", attempts,
                evs_group_reason_name(reason), (long long)parked_us);
    evs_out_iso_time(pg->o, parked_us);
    evs_out_str(pg->o, "}");
    pg->last = position;
    return ++pg->count == pg->limit;
}

static enum MHD_Result list_parked(const evs_http_request *r, group *g)
{
    struct MHD_Connection *c = r->connection;
    enum MHD_Result ret = MHD_NO;
    uint64_t from, limit;
    if (evs_http_query_u64(c, "from", 1, 0, INT64_MAX, &from, &ret) < 0 ||
        evs_http_query_u64(c, "limit", PARKED_PAGE_DEFAULT, 1, EVS_GROUP_PARKED_PAGE_MAX, &limit,
                           &ret) < 0) {
        group_release(g);
        return ret;
    }
    if (from == 0)
        from = 1;
    if (lock_state(r, g, &ret) < 0)
        return ret;
    uint64_t total = 0;
    evs_group_stats st;
    evs_group_state_stats(g->state, &st);
    total = st.parked;
    evs_out o = {0};
    evs_out_str(&o, "{\"group\":");
    evs_out_jstr(&o, g->name, strlen(g->name));
    evs_out_fmt(&o, ",\"count\":%llu,\"parked\":[", (unsigned long long)total);
    parked_page pg = {&o, limit, 0, 0};
    uint8_t prefix[EVS_GROUP_KEY_MAX], start[EVS_GROUP_KEY_MAX];
    size_t plen = evs_group_key(prefix, g->name, 'p', 0) - 8;
    size_t slen = evs_group_key(start, g->name, 'p', from - 1);
    int rc =
        evs_store_local_scan(r->projector->store, prefix, plen, start, slen, visit_parked, &pg);
    pthread_mutex_unlock(&g->lock);
    group_release(g);
    if (rc < 0) {
        free(o.p);
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store read failed");
    }
    uint64_t next = pg.count ? pg.last + 1 : from;
    evs_out_fmt(&o, "],\"next\":%llu,\"end\":%s}", (unsigned long long)next,
                pg.count < limit ? "true" : "false");
    return evs_http_send_json(c, MHD_HTTP_OK, &o);
}

typedef struct parked_chunk {
    evs_group_parked_item items[REPLAY_CHUNK];
    char streams[REPLAY_CHUNK][EVS_STREAM_NAME_MAX];
    size_t count;
} parked_chunk;

static int collect_parked(void *ctx, const char *key, size_t key_len, const char *value,
                          size_t value_len)
{
    parked_chunk *ch = ctx;
    uint32_t attempts;
    int64_t parked_us;
    evs_group_reason reason;
    const char *stream;
    size_t stream_len;
    if (key_len < 8 || evs_group_parked_decode(value, value_len, &attempts, &parked_us, &reason,
                                               &stream, &stream_len) < 0)
        return 0;
    uint64_t position = get_be64((const uint8_t *)key + key_len - 8);
    memcpy(ch->streams[ch->count], stream, stream_len);
    ch->items[ch->count] = (evs_group_parked_item){position, ch->streams[ch->count], stream_len};
    return ++ch->count == REPLAY_CHUNK;
}

static enum MHD_Result replay_parked(const evs_http_request *r, group *g)
{
    struct MHD_Connection *c = r->connection;
    evs_projector *p = r->projector;
    enum MHD_Result ret = MHD_NO;
    uint64_t positions[EVS_GROUP_POSITIONS_MAX];
    json_t *body = parse_body(r, 1, &ret);
    long n = body ? parse_positions(r, body, 1, positions, &ret) : -1;
    json_decref(body);
    if (n < 0) {
        group_release(g);
        return ret;
    }
    parked_chunk *ch = malloc(sizeof *ch);
    if (!ch) {
        group_release(g);
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    if (lock_state(r, g, &ret) < 0) {
        free(ch);
        return ret;
    }
    /* Parked events at or above the checkpoint are replayed in the window: fill it. */
    if (refill(p, g) < 0) {
        free(ch);
        return state_failed(c, g);
    }
    uint8_t prefix[EVS_GROUP_KEY_MAX], start[EVS_GROUP_KEY_MAX];
    size_t plen = evs_group_key(prefix, g->name, 'p', 0) - 8;
    size_t replayed = 0, slen = 0;
    int more = 1, failed = 0;
    for (long done = 0; more;) {
        ch->count = 0;
        if (n > 0) {
            /* The positions asked for, one chunk (n <= REPLAY_CHUNK). */
            for (; done < n; done++) {
                uint8_t key[EVS_GROUP_KEY_MAX];
                char *value = NULL;
                size_t value_len;
                if (evs_store_local_get(p->store, key,
                                        evs_group_key(key, g->name, 'p', positions[done]), &value,
                                        &value_len) < 0) {
                    failed = 1;
                    break;
                }
                if (value)
                    collect_parked(ch, (const char *)key,
                                   evs_group_key(key, g->name, 'p', positions[done]), value,
                                   value_len);
                free(value);
            }
            more = 0;
        } else if (evs_store_local_scan(p->store, prefix, plen, slen ? start : NULL, slen,
                                        collect_parked, ch) < 0) {
            failed = 1;
        }
        if (failed || ch->count == 0)
            break;
        size_t consumed = 0;
        int rc = evs_group_state_replay(g->state, ch->items, ch->count, &consumed);
        if (rc > 0)
            replayed += (size_t)rc;
        if (commit(p, g) < 0 || rc < 0) {
            failed = 1;
            break;
        }
        if (consumed < ch->count)
            break; /* EVS_GROUP_REPLAY_MAX replayed events are held */
        slen = evs_group_key(start, g->name, 'p', ch->items[ch->count - 1].position);
    }
    free(ch);
    if (failed)
        return state_failed(c, g);
    evs_group_stats st;
    evs_group_state_stats(g->state, &st);
    pthread_mutex_unlock(&g->lock);
    group_release(g);
    evs_out o = {0};
    evs_out_fmt(&o, "{\"replayed\":%zu,\"parked\":%llu,\"replaying\":%zu}", replayed,
                (unsigned long long)st.parked, st.replaying);
    return evs_http_send_json(c, MHD_HTTP_OK, &o);
}

/* ---- Coordination ----------------------------------------------------------------------- */

void evs_groups_release_partition(evs_projector *p, int32_t partition)
{
    pthread_mutex_lock(&registry.lock);
    for (size_t i = 0; registry.projector == p && i < registry.count; i++) {
        group *g = registry.groups[i];
        if (g->state_partition != partition)
            continue;
        pthread_mutex_lock(&g->lock);
        group_drop_state(g);
        pthread_mutex_unlock(&g->lock);
    }
    pthread_mutex_unlock(&registry.lock);
}

/* ---- Routing
 * --------------------------------------------------------------------------------------- */

static enum MHD_Result wrong_method(const evs_http_request *r, const char *allowed)
{
    return evs_http_send_not_allowed(r->connection, r->method, allowed);
}

enum MHD_Result evs_groups_handle(const evs_http_request *r)
{
    struct MHD_Connection *c = r->connection;
    char path[2048];
    char *seg[5];
    size_t nseg = 0;
    if (strlen(r->rest) >= sizeof path)
        return evs_http_send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
    strcpy(path, r->rest);
    for (char *s = path; nseg < 5;) {
        seg[nseg++] = s;
        char *slash = strchr(s, '/');
        if (!slash)
            break;
        *slash = 0;
        s = slash + 1;
    }
    /* At most 4 segments (name/members/id/events), none empty. */
    int bad = nseg == 5;
    for (size_t i = 0; i < nseg; i++)
        bad |= !seg[i][0];
    if (bad)
        return evs_http_send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint: %.200s", r->path);
    const char *name = seg[0];
    if (!evs_stream_name_valid(name, strlen(name)))
        return evs_http_send_error(c, MHD_HTTP_BAD_REQUEST,
                                   "invalid group name: use 1 to %d of letters, digits and "
                                   "_.:@- (not starting with $)",
                                   EVS_STREAM_NAME_MAX);
    const char *m = r->method;
    int get = !strcmp(m, "GET") || !strcmp(m, "HEAD"), post = !strcmp(m, "POST");

    /* Which endpoint, and is the method right? */
    enum { E_GROUP, E_JOIN, E_MEMBER, E_FETCH, E_ACK, E_NACK, E_PARKED, E_REPLAY } which;
    if (nseg == 1) {
        if (!strcmp(m, "PUT"))
            return put_group(r, name);
        if (!strcmp(m, "DELETE"))
            return delete_group(r, name);
        if (!get)
            return wrong_method(r, "GET,PUT,DELETE");
        which = E_GROUP;
    } else if (!strcmp(seg[1], "members") && nseg == 2) {
        if (!post)
            return wrong_method(r, "POST");
        which = E_JOIN;
    } else if (!strcmp(seg[1], "members") && nseg == 3) {
        if (strcmp(m, "DELETE"))
            return wrong_method(r, "DELETE");
        which = E_MEMBER;
    } else if (!strcmp(seg[1], "members") && nseg == 4 && !strcmp(seg[3], "events")) {
        if (!get)
            return wrong_method(r, "GET");
        which = E_FETCH;
    } else if (nseg == 2 && (!strcmp(seg[1], "ack") || !strcmp(seg[1], "nack"))) {
        if (!post)
            return wrong_method(r, "POST");
        which = seg[1][0] == 'a' ? E_ACK : E_NACK;
    } else if (nseg == 2 && !strcmp(seg[1], "parked")) {
        if (!get)
            return wrong_method(r, "GET");
        which = E_PARKED;
    } else if (nseg == 3 && !strcmp(seg[1], "parked") && !strcmp(seg[2], "replay")) {
        if (!post)
            return wrong_method(r, "POST");
        which = E_REPLAY;
    } else {
        return evs_http_send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint: %.200s", r->path);
    }

    int store_failed;
    group *g = group_acquire(r->projector, name, &store_failed);
    if (!g)
        return no_group(c, name, store_failed);
    enum MHD_Result ret;
    if (!evs_http_served(r->projector, c, g->def.partition, &ret)) {
        group_release(g);
        return ret;
    }
    switch (which) {
    case E_GROUP:
        return get_group(r, g);
    case E_JOIN:
        return join(r, g);
    case E_MEMBER:
        return leave(r, g, seg[2]);
    case E_FETCH:
        return fetch(r, g, seg[2]);
    case E_ACK:
        return ack_or_nack(r, g, 0);
    case E_NACK:
        return ack_or_nack(r, g, 1);
    case E_PARKED:
        return list_parked(r, g);
    case E_REPLAY:
        return replay_parked(r, g);
    }
    group_release(g);
    return MHD_NO;
}
