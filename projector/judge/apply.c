/*
 * apply.c - applying records to the store (rules A1..A5 in apply.h).
 */
#include "judge/apply.h"

#include "judge/lifecycle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int load_partitions(evs_applier *a)
{
    for (int32_t p = 0; p < a->partition_count; p++) {
        int rc = evs_store_partition_state(a->store, p, &a->next_offset[p],
                                           &a->last_position[p]);
        if (rc == 0)
            rc = evs_store_partition_log_time(a->store, p, &a->log_time_ms[p]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void *writer_main(void *arg);

int evs_applier_init(evs_applier *a, evs_store *store, int32_t partition_count)
{
    memset(a, 0, sizeof *a);
    a->store = store;
    a->partition_count = partition_count;
    a->inline_bytes = EVS_APPLY_INLINE_BYTES_DEFAULT;
    size_t n = (size_t)partition_count;
    a->next_offset = calloc(n, sizeof *a->next_offset);
    a->last_position = calloc(n, sizeof *a->last_position);
    a->commit_next_offset = calloc(n, sizeof *a->commit_next_offset);
    a->commit_last_position = calloc(n, sizeof *a->commit_last_position);
    a->log_time_ms = calloc(n, sizeof *a->log_time_ms);
    a->commit_log_time_ms = calloc(n, sizeof *a->commit_log_time_ms);
    if (!a->next_offset || !a->last_position || !a->commit_next_offset ||
        !a->commit_last_position || !a->log_time_ms || !a->commit_log_time_ms) {
        evs_applier_free(a);
        return -ENOMEM;
    }
    int rc = load_partitions(a);
    if (rc < 0) {
        evs_applier_free(a);
        return rc;
    }
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->wake, NULL);
    pthread_cond_init(&a->idle, NULL);
    if (pthread_create(&a->writer, NULL, writer_main, a) != 0) {
        pthread_cond_destroy(&a->idle);
        pthread_cond_destroy(&a->wake);
        pthread_mutex_destroy(&a->lock);
        evs_applier_free(a);
        return -EAGAIN;
    }
    a->writer_started = 1;
    return 0;
}

void evs_applier_free(evs_applier *a)
{
    if (a->writer_started) {
        char err[512];
        evs_applier_flush(a, err, sizeof err); /* a failure was reported to on_commit */
        pthread_mutex_lock(&a->lock);
        a->stopping = 1;
        pthread_cond_signal(&a->wake);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->writer, NULL);
        pthread_cond_destroy(&a->idle);
        pthread_cond_destroy(&a->wake);
        pthread_mutex_destroy(&a->lock);
        a->writer_started = 0;
    }
    free(a->next_offset);
    free(a->last_position);
    free(a->commit_next_offset);
    free(a->commit_last_position);
    free(a->log_time_ms);
    free(a->commit_log_time_ms);
    for (int i = 0; i < 2; i++) {
        free(a->judged[i].append_ids);
        free(a->judged[i].verdicts);
    }
    memset(a->judged, 0, sizeof a->judged);
    a->next_offset = NULL;
    a->last_position = NULL;
    a->commit_next_offset = NULL;
    a->commit_last_position = NULL;
    a->log_time_ms = NULL;
    a->commit_log_time_ms = NULL;
}

/* ---- The writer ----------------------------------------------------------------------
 *
 * W1. The consumer thread hands a batch over only while the writer is idle, after copying
 *     the state the batch commits into commit_*: the writer reads those and the batch,
 *     the consumer thread touches neither until the writer is idle again.
 * W2. The writer calls on_commit before it turns idle, so commits are reported in order
 *     and before the next batch can be handed over.
 * W3. Only the consumer thread recycles a written batch (after it is idle), and only once
 *     the batch being judged no longer reads through it (store.c, B5).
 * W4. A batch of fewer than inline_bytes bytes of records is written on the consumer
 *     thread itself, as the writer would (in order, on_commit, its result kept for the
 *     next wait): live, batches are small, and a hand-off to another thread and back costs
 *     two wake-ups, more than writing a few appends. Large batches (catching up) go to the
 *     writer so that judging and writing overlap.
 * W5. A batch's verdicts go to on_judged as soon as it is judged, before the wait for the
 *     writer. They come from one of two sets, which alternate: a set is judged into again
 *     only two batches later, after the batch it held was written and its on_commit
 *     returned (the batch in between was handed over, so the writer was idle).
 */
/* Writes b with the state in commit_* and reports it to on_commit (W2). */
static int write_batch(evs_applier *a, evs_store_batch *b, char *err, size_t err_len)
{
    if (a->write_delay_ms > 0) {
        struct timespec delay = {a->write_delay_ms / 1000, (a->write_delay_ms % 1000) * 1000000L};
        nanosleep(&delay, NULL);
    }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int rc = evs_store_batch_write(b, 0, err, err_len);
    clock_gettime(CLOCK_MONOTONIC, &end);
    if (a->on_commit) {
        evs_apply_commit c = {a->commit_batch, rc, err, a->commit_next_offset,
                              a->commit_last_position, a->commit_stats,
                              (uint64_t)((end.tv_sec - start.tv_sec) * 1000000000LL +
                                         (end.tv_nsec - start.tv_nsec))};
        a->on_commit(a->on_commit_ctx, &c);
    }
    return rc;
}

/* Keeps the result of a write for the next wait_writer; a->lock held. */
static void keep_result(evs_applier *a, int rc, const char *err)
{
    a->write_rc = rc;
    if (rc < 0)
        snprintf(a->write_err, sizeof a->write_err, "%s", err);
}

static void *writer_main(void *arg)
{
    evs_applier *a = arg;
    pthread_mutex_lock(&a->lock);
    for (;;) {
        while (!a->writing && !a->stopping)
            pthread_cond_wait(&a->wake, &a->lock);
        if (!a->writing)
            break;
        evs_store_batch *b = a->in_flight;
        pthread_mutex_unlock(&a->lock);

        char err[512] = "";
        int rc = write_batch(a, b, err, sizeof err);

        pthread_mutex_lock(&a->lock);
        keep_result(a, rc, err);
        a->writing = 0;
        pthread_cond_broadcast(&a->idle);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

/* Waits until the writer is idle and recycles the batch it wrote (W3). Returns the result
 * of that write, with err set on failure. */
static int wait_writer(evs_applier *a, char *err, size_t err_len)
{
    pthread_mutex_lock(&a->lock);
    while (a->writing)
        pthread_cond_wait(&a->idle, &a->lock);
    int rc = a->write_rc;
    if (rc < 0)
        snprintf(err, err_len, "%s", a->write_err);
    a->write_rc = 0;
    evs_store_batch *done = a->in_flight;
    a->in_flight = NULL;
    pthread_mutex_unlock(&a->lock);
    evs_store_batch_abort(done);
    return rc;
}

/* Tells on_judged what the batch just judged decided (W5). */
static void report_judged(evs_applier *a)
{
    evs_judged_set *js = &a->judged[a->judging];
    a->batches++;
    if (a->on_judged) {
        evs_apply_judged j = {a->batches, js->count, (const uint8_t(*)[16])js->append_ids,
                              js->verdicts, a->next_offset, a->record_count};
        a->on_judged(a->on_judged_ctx, &j);
    }
    a->judging ^= 1;
}

/* Hands b, the batch judged last, to the idle writer (W1), or writes it here when it is
 * small (W4). */
static void hand_over(evs_applier *a, evs_store_batch *b)
{
    size_t n = (size_t)a->partition_count;
    memcpy(a->commit_next_offset, a->next_offset, n * sizeof *a->next_offset);
    memcpy(a->commit_last_position, a->last_position, n * sizeof *a->last_position);
    memcpy(a->commit_log_time_ms, a->log_time_ms, n * sizeof *a->log_time_ms);
    a->commit_stats = a->stats;
    a->commit_batch = a->batches;
    if (a->record_bytes < a->inline_bytes) {
        /* W4: the writer is idle; writing here saves two thread hand-offs. */
        char err[512];
        int rc = write_batch(a, b, err, sizeof err);
        pthread_mutex_lock(&a->lock);
        a->in_flight = b;
        keep_result(a, rc, err);
        pthread_mutex_unlock(&a->lock);
        return;
    }
    pthread_mutex_lock(&a->lock);
    a->in_flight = b;
    a->writing = 1;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->lock);
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

static int grow_judged(evs_judged_set *js)
{
    size_t cap = js->cap ? js->cap * 2 : 64;
    void *ids = realloc(js->append_ids, cap * sizeof *js->append_ids);
    if (ids)
        js->append_ids = ids;
    void *verdicts = realloc(js->verdicts, cap * sizeof *js->verdicts);
    if (verdicts)
        js->verdicts = verdicts;
    if (!ids || !verdicts)
        return -ENOMEM;
    js->cap = cap;
    return 0;
}

static int has_subject(const evs_append_request *req)
{
    for (size_t i = 0; i < req->event_count; i++)
        if (req->events[i].subject)
            return 1;
    return 0;
}

/* Applies one decoded record whose offset is new (A3..A6). */
static int apply_one(evs_applier *a, evs_store_batch *b, const evs_input_record *r,
                     const evs_append_request *req)
{
    char reason[256];
    int exists = 0;
    int rc = evs_store_batch_has_verdict(b, req->append_id, &exists);
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

    evs_judged_set *js = &a->judged[a->judging];
    if (js->count == js->cap && grow_judged(js) < 0) {
        rc = -ENOMEM;
        goto done;
    }
    evs_stored_verdict *v = &js->verdicts[js->count];
    memset(v, 0, sizeof *v);
    v->partition = r->partition;
    v->offset = r->offset;
    v->expected_kind = req->expected_kind;
    v->expected_version = req->expected_version;
    v->event_count = (uint32_t)req->event_count;
    v->operation = req->operation;
    size_t slen = req->stream_len < EVS_STREAM_NAME_MAX ? req->stream_len : EVS_STREAM_NAME_MAX;
    memcpy(v->stream, req->stream, slen);

    if (r->key_len != req->stream_len || (r->key_len && memcmp(r->key, req->stream, r->key_len))) {
        v->verdict.status = EVS_VERDICT_INVALID; /* A4 */
        snprintf(v->reason, sizeof v->reason, "the record key is not the stream name");
    } else if (evs_record_validate(req, v->reason, sizeof v->reason) < 0) {
        v->verdict.status = EVS_VERDICT_INVALID; /* A4 */
    } else {
        rc = evs_store_batch_prefetch_ids(b, req);
        if (rc == 0)
            rc = evs_rule_judge(req, evs_store_batch_rule_state(b), &v->verdict); /* A5 */
        if (rc < 0)
            goto done;
        if (v->verdict.status == EVS_VERDICT_ACCEPTED && req->operation != EVS_OP_APPEND) {
            rc = evs_lifecycle_apply(a->store, b, r->partition, req,
                                     a->log_time_ms[r->partition]); /* A6 */
            if (rc < 0)
                goto done;
        } else if (v->verdict.status == EVS_VERDICT_ACCEPTED) {
            evs_stream_lifecycle life;
            const evs_rule_state *st = evs_store_batch_rule_state(b);
            rc = st->stream_lifecycle(st->ctx, req->stream, req->stream_len, &life);
            if (rc < 0)
                goto done;
            if (a->keys_ready && has_subject(req) && a->keys_ready(a->keys_ready_ctx, req) < 0) {
                rc = -ECANCELED; /* stopping */
                goto done;
            }
            uint64_t first_position = a->last_position[r->partition] + 1;
            v->verdict.first_position = first_position;
            v->verdict.last_position = first_position + req->event_count - 1;
            rc = evs_store_batch_put_events(b, req, r->partition, v->verdict.first_version,
                                            first_position, r->timestamp_ms, &life);
            if (rc < 0)
                goto done;
            a->last_position[r->partition] = v->verdict.last_position;
            a->stats.events += req->event_count;
        }
    }
    a->stats.records++;
    rc = evs_store_batch_put_verdict(b, req->append_id, v);
    if (rc == 0)
        memcpy(js->append_ids[js->count++], req->append_id, 16);
done:
    return rc;
}

/* Ends the batch being judged: records each partition's state in it, reports its verdicts
 * (W5) and hands it to the writer once the one before is written (W1, W4). */
static int finish_batch(evs_applier *a, evs_store_batch *b, char *err, size_t err_len)
{
    for (int32_t p = 0; p < a->partition_count; p++)
        evs_store_batch_set_partition(b, p, a->next_offset[p], a->last_position[p],
                                      a->log_time_ms[p]);
    evs_store_batch_set_behind(b, NULL); /* W3: judged; the earlier batch may go */
    report_judged(a); /* W5 */
    int rc = wait_writer(a, err, err_len);
    if (rc < 0)
        return rc; /* b was judged on top of a batch that is not in the store */
    hand_over(a, b);
    return 0;
}

/* A fresh batch to judge into, reading through the one being written (B5). */
static int begin_batch(evs_applier *a, evs_store_batch **out)
{
    int rc = evs_store_batch_begin(a->store, out);
    if (rc < 0)
        return rc;
    /* a->in_flight is written to, or already in, the database, and read only by this
     * thread: B5 lets the records below see it either way. */
    evs_store_batch_set_behind(*out, a->in_flight);
    a->record_bytes = 0;
    a->record_count = 0;
    a->judged[a->judging].count = 0;
    return 0;
}

/* L1: ends the batch being judged (if it holds anything), waits until everything is in the
 * database, and begins the next batch, which then reads the database alone. */
static int cut_batch(evs_applier *a, evs_store_batch **b, int *touched, char *err,
                     size_t err_len)
{
    int rc;
    if (*touched) {
        rc = finish_batch(a, *b, err, err_len);
        *b = NULL;
        if (rc < 0)
            return rc;
    } else {
        evs_store_batch_set_behind(*b, NULL);
        evs_store_batch_abort(*b);
        *b = NULL;
    }
    *touched = 0;
    rc = wait_writer(a, err, err_len);
    if (rc == 0)
        rc = begin_batch(a, b);
    return rc;
}

/* A7: whether r starts a new second of its partition's log time. */
static int new_log_second(const evs_applier *a, const evs_input_record *r)
{
    int64_t now = a->log_time_ms[r->partition];
    return r->timestamp_ms > now && r->timestamp_ms / 1000 > now / 1000;
}

int evs_applier_submit(evs_applier *a, const evs_input_record *records, size_t n, char *err,
                       size_t err_len)
{
    evs_store_batch *b = NULL;
    evs_append_request *req = NULL;
    if (err_len > 0)
        err[0] = '\0';
    int rc = begin_batch(a, &b);
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
        if (new_log_second(a, r)) {
            int limited = 0;
            rc = evs_lifecycle_has_limits(a->store, b, r->partition, &limited);
            if (rc == 0 && limited) { /* A7, in a batch of its own (L1) */
                rc = cut_batch(a, &b, &touched, err, err_len);
                if (rc == 0)
                    rc = evs_lifecycle_sweep(a->store, b, r->partition, r->timestamp_ms);
                touched = 1;
                a->log_time_ms[r->partition] = r->timestamp_ms;
                if (rc == 0)
                    rc = cut_batch(a, &b, &touched, err, err_len);
            }
            if (rc < 0) {
                if (!err[0])
                    snprintf(err, err_len, "sweeping the limited streams of partition %d "
                                           "failed: %s", r->partition, strerror(-rc));
                goto fail;
            }
        }
        if (r->timestamp_ms > a->log_time_ms[r->partition])
            a->log_time_ms[r->partition] = r->timestamp_ms;
        a->record_bytes += r->value_len;
        a->record_count++;
        char reason[256];
        rc = evs_record_decode(r->value, r->value_len, &req, reason, sizeof reason);
        if (rc == EVS_RECORD_ENOMEM) {
            rc = -ENOMEM; /* not a property of the record: stop rather than skip */
        } else if (rc < 0) {
            rc = skip_record(a, b, r, reason); /* A2 */
        } else if (req->operation != EVS_OP_APPEND) {
            /* A6: a batch of its own (L1) */
            rc = cut_batch(a, &b, &touched, err, err_len);
            if (rc == 0) {
                a->record_bytes = r->value_len;
                a->record_count = 1;
                rc = apply_one(a, b, r, req);
            }
            a->next_offset[r->partition] = r->offset + 1;
            touched = 1;
            if (rc == 0)
                rc = cut_batch(a, &b, &touched, err, err_len);
        } else {
            rc = apply_one(a, b, r, req);
        }
        evs_append_request_free(req);
        req = NULL;
        if (rc < 0) {
            if (!err[0])
                snprintf(err, err_len, "applying partition %d offset %lld failed: %s",
                         r->partition, (long long)r->offset, strerror(-rc));
            goto fail;
        }
        a->next_offset[r->partition] = r->offset + 1;
        touched = 1;
    }
    if (!touched) {
        evs_store_batch_set_behind(b, NULL);
        evs_store_batch_abort(b);
        return 0;
    }
    rc = finish_batch(a, b, err, err_len);
    b = NULL;
    if (rc < 0)
        goto fail;
    return 0;
fail:
    evs_append_request_free(req);
    evs_store_batch_abort(b);
    char scratch[512]; /* a failed earlier write was reported to on_commit already */
    wait_writer(a, scratch, sizeof scratch);
    load_partitions(a);
    return rc;
}

int evs_applier_flush(evs_applier *a, char *err, size_t err_len)
{
    int rc = wait_writer(a, err, err_len);
    if (rc < 0)
        load_partitions(a);
    return rc;
}

int evs_applier_apply(evs_applier *a, const evs_input_record *records, size_t n, char *err,
                      size_t err_len)
{
    int rc = evs_applier_submit(a, records, n, err, err_len);
    return rc < 0 ? rc : evs_applier_flush(a, err, err_len);
}
