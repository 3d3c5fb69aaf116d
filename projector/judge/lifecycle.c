/*
 * lifecycle.c - lifecycle commands and the limit sweep (see lifecycle.h).
 */
#include "judge/lifecycle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint64_t evs_lifecycle_first_readable(uint64_t version, const evs_stream_lifecycle *life)
{
    uint64_t first = life->first_version ? life->first_version : 1;
    if (life->max_count && version >= life->max_count && version - life->max_count + 1 > first)
        first = version - life->max_count + 1;
    return first;
}

/* The first version the limits keep at log time now (never below the current first). */
static int limits_first(evs_store *store, const char *stream, size_t len, uint64_t version,
                        const evs_stream_lifecycle *life, int64_t now, uint64_t *first)
{
    *first = evs_lifecycle_first_readable(version, life);
    if (life->max_age_ms == 0 || *first > version)
        return 0;
    int64_t cutoff = now - (int64_t)(life->max_age_ms > (uint64_t)INT64_MAX / 2
                                         ? (uint64_t)INT64_MAX / 2
                                         : life->max_age_ms);
    return evs_store_first_not_older(store, stream, len, *first, version, cutoff, first);
}

/* Moves the stream's first kept version to `first` (when higher), removing what lies
 * below, and writes its state. */
static int keep_from(evs_store_batch *batch, const char *stream, size_t len, int32_t partition,
                     uint64_t version, evs_stream_lifecycle *life, uint64_t first)
{
    if (first > version + 1)
        first = version + 1;
    if (first > life->first_version) {
        int rc = evs_store_batch_remove_versions(batch, stream, len, partition,
                                                 life->first_version, first);
        if (rc < 0)
            return rc;
        life->first_version = first;
    }
    evs_stream_lifecycle plain;
    evs_stream_lifecycle_init(&plain);
    if (version == 0 && !memcmp(life, &plain, sizeof plain))
        return 0; /* a stream that never existed stays without an entry */
    return evs_store_batch_put_stream_state(batch, stream, len, partition, version, life);
}

int evs_lifecycle_apply(evs_store *store, evs_store_batch *batch, int32_t partition,
                        const evs_append_request *req, int64_t log_time_ms)
{
    uint64_t version;
    evs_stream_lifecycle life;
    int rc = evs_store_stream_state(store, req->stream, req->stream_len, &version, &life);
    if (rc < 0)
        return rc;
    uint64_t first = life.first_version;
    switch (req->operation) {
    case EVS_OP_DELETE:
        life.deleted = EVS_STREAM_SOFT_DELETED;
        first = version + 1;
        break;
    case EVS_OP_HARD_DELETE:
        life.deleted = EVS_STREAM_HARD_DELETED;
        life.max_count = life.max_age_ms = 0;
        first = version + 1;
        break;
    case EVS_OP_TRUNCATE:
        first = req->truncate_before;
        break;
    case EVS_OP_SET_LIMITS:
        life.max_count = req->max_count;
        life.max_age_ms = req->max_age_ms;
        rc = limits_first(store, req->stream, req->stream_len, version, &life, log_time_ms,
                          &first);
        if (rc < 0)
            return rc;
        break;
    case EVS_OP_APPEND:
        return -EINVAL;
    }
    return keep_from(batch, req->stream, req->stream_len, partition, version, &life, first);
}

/* The names of a partition's limited streams, collected before any is changed. */
typedef struct name_list {
    char **names;
    size_t *lens;
    size_t count, cap;
    int oom;
} name_list;

static int collect_name(void *ctx, const char *stream, size_t len, uint64_t version)
{
    (void)version;
    name_list *l = ctx;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **names = realloc(l->names, cap * sizeof *names);
        if (names)
            l->names = names;
        size_t *lens = realloc(l->lens, cap * sizeof *lens);
        if (lens)
            l->lens = lens;
        if (!names || !lens) {
            l->oom = 1;
            return 1;
        }
        l->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        l->oom = 1;
        return 1;
    }
    memcpy(copy, stream, len);
    copy[len] = '\0';
    l->names[l->count] = copy;
    l->lens[l->count++] = len;
    return 0;
}

static int first_name(void *ctx, const char *stream, size_t len, uint64_t version)
{
    (void)stream;
    (void)len;
    (void)version;
    *(int *)ctx = 1;
    return 1;
}

int evs_lifecycle_has_limits(evs_store *store, evs_store_batch *batch, int32_t partition,
                             int *limited)
{
    (void)batch; /* set_limits commands are written before anything after them (L1) */
    *limited = 0;
    return evs_store_limited_streams(store, partition, first_name, limited);
}

int evs_lifecycle_sweep(evs_store *store, evs_store_batch *batch, int32_t partition,
                        int64_t log_time_ms)
{
    name_list l = {0};
    int rc = evs_store_limited_streams(store, partition, collect_name, &l);
    if (rc == 0 && l.oom)
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < l.count; i++) {
        uint64_t version, first;
        evs_stream_lifecycle life;
        rc = evs_store_stream_state(store, l.names[i], l.lens[i], &version, &life);
        if (rc == 0)
            rc = limits_first(store, l.names[i], l.lens[i], version, &life, log_time_ms,
                              &first);
        if (rc == 0 && first > life.first_version)
            rc = keep_from(batch, l.names[i], l.lens[i], partition, version, &life, first);
    }
    for (size_t i = 0; i < l.count; i++)
        free(l.names[i]);
    free(l.names);
    free(l.lens);
    return rc;
}
