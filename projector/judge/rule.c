/*
 * rule.c - the concurrency rule (see rule.h for the numbered clauses R1..R4).
 */
#include "judge/rule.h"

#include <assert.h>
#include <string.h>

const char *evs_verdict_status_name(evs_verdict_status status)
{
    switch (status) {
    case EVS_VERDICT_ACCEPTED: return "accepted";
    case EVS_VERDICT_DUPLICATE: return "duplicate";
    case EVS_VERDICT_WRONG_EXPECTED_VERSION: return "wrong_expected_version";
    case EVS_VERDICT_IDEMPOTENCY_CONFLICT: return "idempotency_conflict";
    case EVS_VERDICT_INVALID: return "invalid";
    case EVS_VERDICT_STREAM_DELETED: return "stream_deleted";
    }
    return "unknown";
}

int evs_expectation_holds_for(evs_expected_kind kind, uint64_t expected_version,
                              uint64_t current, int exists)
{
    switch (kind) {
    case EVS_EXPECT_ANY: return 1;
    case EVS_EXPECT_NO_STREAM: return !exists;
    case EVS_EXPECT_STREAM_EXISTS: return exists;
    case EVS_EXPECT_EXACT: return current == expected_version;
    }
    return 0;
}

int evs_expectation_holds(evs_expected_kind kind, uint64_t expected_version, uint64_t current)
{
    return evs_expectation_holds_for(kind, expected_version, current, current > 0);
}

void evs_stream_lifecycle_init(evs_stream_lifecycle *life)
{
    memset(life, 0, sizeof *life);
    life->first_version = 1;
    life->deleted = EVS_STREAM_LIVE;
}

/* R1/R2: counts the request's event ids that are stored, and tells whether they form the
 * exact original append (same stream, contiguous versions in request order). */
static int check_stored_ids(const evs_append_request *req, const evs_rule_state *state,
                            size_t *stored, int *same_append, evs_verdict *out)
{
    *stored = 0;
    *same_append = 1;
    for (size_t i = 0; i < req->event_count; i++) {
        int found = 0;
        evs_event_location loc;
        int rc = state->event_lookup(state->ctx, req->events[i].event_id, &found, &loc);
        if (rc < 0)
            return rc;
        if (!found) {
            *same_append = 0;
            continue;
        }
        (*stored)++;
        if (!*same_append)
            continue;
        int same_stream = loc.stream_len == req->stream_len &&
                          memcmp(loc.stream, req->stream, req->stream_len) == 0;
        if (i == 0) {
            out->first_version = loc.version;
            out->first_position = loc.position;
        }
        /* Contiguous in request order: event i sits at first_version + i. Positions of one
         * append are contiguous too, because an accepted append is applied as one unit. */
        if (!same_stream || loc.version != out->first_version + i)
            *same_append = 0;
        out->last_version = loc.version;
        out->last_position = loc.position;
    }
    return 0;
}

int evs_rule_judge(const evs_append_request *req, const evs_rule_state *state,
                   evs_verdict *out)
{
    assert(req && state && out);
    assert(req->operation != EVS_OP_APPEND || req->event_count > 0);
    memset(out, 0, sizeof *out);

    uint64_t current = 0;
    int rc = state->stream_version(state->ctx, req->stream, req->stream_len, &current);
    if (rc < 0)
        return rc;
    out->current_version = current;
    evs_stream_lifecycle life;
    evs_stream_lifecycle_init(&life);
    if (state->stream_lifecycle) {
        rc = state->stream_lifecycle(state->ctx, req->stream, req->stream_len, &life);
        if (rc < 0)
            return rc;
    }
    if (life.deleted == EVS_STREAM_HARD_DELETED) {
        out->status = EVS_VERDICT_STREAM_DELETED; /* R0 */
        return 0;
    }
    int exists = current > 0 && life.deleted == EVS_STREAM_LIVE;
    if (req->operation != EVS_OP_APPEND) {
        out->status = evs_expectation_holds_for(req->expected_kind, req->expected_version,
                                                current, exists)
                          ? EVS_VERDICT_ACCEPTED                  /* L2 */
                          : EVS_VERDICT_WRONG_EXPECTED_VERSION;   /* L1 */
        return 0;
    }

    size_t stored = 0;
    int same_append = 0;
    rc = check_stored_ids(req, state, &stored, &same_append, out);
    if (rc < 0)
        return rc;

    if (stored == req->event_count && same_append) {
        out->status = EVS_VERDICT_DUPLICATE; /* R1 */
        return 0;
    }
    out->first_version = out->last_version = 0;
    out->first_position = out->last_position = 0;
    if (stored > 0) {
        out->status = EVS_VERDICT_IDEMPOTENCY_CONFLICT; /* R2 */
        return 0;
    }
    if (!evs_expectation_holds_for(req->expected_kind, req->expected_version, current, exists)) {
        out->status = EVS_VERDICT_WRONG_EXPECTED_VERSION; /* R3 */
        return 0;
    }
    out->status = EVS_VERDICT_ACCEPTED; /* R4 */
    out->first_version = current + 1;
    out->last_version = current + req->event_count;
    return 0;
}
