/*
 * apply.c - applying records to the store (rules A1..A5 in apply.h).
 */
#include "apply.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load_partitions(evs_applier *a)
{
    for (int32_t p = 0; p < a->partition_count; p++) {
        int rc = evs_store_partition_state(a->store, p, &a->next_offset[p],
                                           &a->last_position[p]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int evs_applier_init(evs_applier *a, evs_store *store, int32_t partition_count)
{
    memset(a, 0, sizeof *a);
    a->store = store;
    a->partition_count = partition_count;
    a->next_offset = calloc((size_t)partition_count, sizeof *a->next_offset);
    a->last_position = calloc((size_t)partition_count, sizeof *a->last_position);
    if (!a->next_offset || !a->last_position) {
        evs_applier_free(a);
        return -ENOMEM;
    }
    return load_partitions(a);
}

void evs_applier_free(evs_applier *a)
{
    free(a->next_offset);
    free(a->last_position);
    a->next_offset = NULL;
    a->last_position = NULL;
}

static int skip_record(evs_applier *a, evs_store_batch *b, const evs_input_record *r,
                       const char *reason)
{
    if (!a->quiet)
        fprintf(stderr, "evstore-projector: skipped record at partition %d offset %lld: %s\n",
                r->partition, (long long)r->offset, reason);
    a->stats.skipped++;
    return evs_store_batch_put_skip(b, r->partition, r->offset, reason);
}

/* Applies one record whose offset is new (A2..A5). */
static int apply_one(evs_applier *a, evs_store_batch *b, const evs_input_record *r)
{
    char reason[256];
    evs_append_request *req = NULL;
    int rc = evs_record_decode(r->value, r->value_len, &req, reason, sizeof reason);
    if (rc == EVS_RECORD_ENOMEM)
        return -ENOMEM; /* not a property of the record: stop rather than skip */
    if (rc < 0)
        return skip_record(a, b, r, reason); /* A2 */

    int exists = 0;
    rc = evs_store_batch_has_verdict(b, req->append_id, &exists);
    if (rc < 0)
        goto done;
    if (exists) {
        char id[37];
        evs_uuid_format(req->append_id, id);
        snprintf(reason, sizeof reason, "append id %s was judged before; the first verdict stands",
                 id);
        rc = skip_record(a, b, r, reason); /* A3 */
        goto done;
    }

    evs_stored_verdict v;
    memset(&v, 0, sizeof v);
    v.partition = r->partition;
    v.offset = r->offset;
    v.expected_kind = req->expected_kind;
    v.expected_version = req->expected_version;
    v.event_count = (uint32_t)req->event_count;
    size_t slen = req->stream_len < EVS_STREAM_NAME_MAX ? req->stream_len : EVS_STREAM_NAME_MAX;
    memcpy(v.stream, req->stream, slen);

    if (r->key_len != req->stream_len || (r->key_len && memcmp(r->key, req->stream, r->key_len))) {
        v.verdict.status = EVS_VERDICT_INVALID; /* A4 */
        snprintf(v.reason, sizeof v.reason, "the record key is not the stream name");
    } else if (evs_record_validate(req, v.reason, sizeof v.reason) < 0) {
        v.verdict.status = EVS_VERDICT_INVALID; /* A4 */
    } else {
        rc = evs_store_batch_prefetch_ids(b, req);
        if (rc == 0)
            rc = evs_rule_judge(req, evs_store_batch_rule_state(b), &v.verdict); /* A5 */
        if (rc < 0)
            goto done;
        if (v.verdict.status == EVS_VERDICT_ACCEPTED) {
            uint64_t first_position = a->last_position[r->partition] + 1;
            v.verdict.first_position = first_position;
            v.verdict.last_position = first_position + req->event_count - 1;
            rc = evs_store_batch_put_events(b, req, r->partition, v.verdict.first_version,
                                            first_position);
            if (rc < 0)
                goto done;
            a->last_position[r->partition] = v.verdict.last_position;
            a->stats.events += req->event_count;
        }
    }
    a->stats.records++;
    rc = evs_store_batch_put_verdict(b, req->append_id, &v);
done:
    evs_append_request_free(req);
    return rc;
}

int evs_applier_apply(evs_applier *a, const evs_input_record *records, size_t n, char *err,
                      size_t err_len)
{
    evs_store_batch *b = NULL;
    int rc = evs_store_batch_begin(a->store, &b);
    if (rc < 0)
        return rc;
    int touched = 0;
    for (size_t i = 0; i < n; i++) {
        const evs_input_record *r = &records[i];
        if (r->partition < 0 || r->partition >= a->partition_count) {
            snprintf(err, err_len, "record from partition %d, but the topic has %d partitions",
                     r->partition, a->partition_count);
            rc = -EINVAL;
            goto fail;
        }
        if (r->offset < a->next_offset[r->partition]) {
            a->stats.ignored++; /* A1 */
            continue;
        }
        rc = apply_one(a, b, r);
        if (rc < 0) {
            snprintf(err, err_len, "applying partition %d offset %lld failed: %s",
                     r->partition, (long long)r->offset, strerror(-rc));
            goto fail;
        }
        a->next_offset[r->partition] = r->offset + 1;
        touched = 1;
    }
    if (!touched) {
        evs_store_batch_abort(b);
        return 0;
    }
    for (int32_t p = 0; p < a->partition_count; p++)
        evs_store_batch_set_partition(b, p, a->next_offset[p], a->last_position[p]);
    rc = evs_store_batch_commit(b, 0, err, err_len);
    b = NULL;
    if (rc < 0)
        goto fail;
    return 0;
fail:
    evs_store_batch_abort(b);
    load_partitions(a);
    return rc;
}
