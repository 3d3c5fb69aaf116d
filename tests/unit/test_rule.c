/*
 * test_rule.c - the concurrency rule (projector/judge/rule.h), table-driven.
 *
 * A fake state holds one stream's current version and a table of stored event ids (and,
 * for the lifecycle cases, whether it is deleted); each case names the request and the
 * verdict the rule must reach.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "judge/rule.h"

typedef struct stored_id {
    uint8_t id;           /* event ids are 16 bytes of this value */
    const char *stream;
    uint64_t version;
    uint64_t position;
} stored_id;

typedef struct fake_state {
    const char *stream;
    uint64_t version;
    const stored_id *ids;
    size_t id_count;
    int fail;             /* make lookups fail */
} fake_state;

static int fake_stream_version(void *ctx, const char *stream, size_t len, uint64_t *version)
{
    fake_state *s = ctx;
    if (s->fail)
        return -5;
    *version = strlen(s->stream) == len && !memcmp(s->stream, stream, len) ? s->version : 0;
    return 0;
}

static int fake_event_lookup(void *ctx, const uint8_t id[16], int *found, evs_event_location *loc)
{
    fake_state *s = ctx;
    *found = 0;
    for (size_t i = 0; i < s->id_count; i++) {
        if (id[0] == s->ids[i].id) {
            *found = 1;
            loc->stream = s->ids[i].stream;
            loc->stream_len = strlen(s->ids[i].stream);
            loc->version = s->ids[i].version;
            loc->position = s->ids[i].position;
        }
    }
    return 0;
}

typedef struct rule_case {
    const char *name;
    uint64_t current;              /* version of stream "S" */
    evs_expected_kind kind;
    uint64_t expected;
    uint8_t ids[4];                /* request event ids (0 = end) */
    evs_verdict_status status;
    uint64_t first_version, last_version;
    uint64_t first_position, last_position;
} rule_case;

/* Stored ids: 1..3 are versions 1..3 of S at positions 11..13; 7 is in stream T. */
static const stored_id stored[] = {
    {1, "S", 1, 11}, {2, "S", 2, 12}, {3, "S", 3, 13}, {7, "T", 1, 20},
};

static const rule_case cases[] = {
    /* R4/R3: expectations against a stream at version 3 */
    {"any on existing", 3, EVS_EXPECT_ANY, 0, {10}, EVS_VERDICT_ACCEPTED, 4, 4, 0, 0},
    {"any on new", 0, EVS_EXPECT_ANY, 0, {10}, EVS_VERDICT_ACCEPTED, 1, 1, 0, 0},
    {"no_stream on new", 0, EVS_EXPECT_NO_STREAM, 0, {10}, EVS_VERDICT_ACCEPTED, 1, 1, 0, 0},
    {"no_stream on existing", 3, EVS_EXPECT_NO_STREAM, 0, {10},
     EVS_VERDICT_WRONG_EXPECTED_VERSION, 0, 0, 0, 0},
    {"stream_exists on existing", 3, EVS_EXPECT_STREAM_EXISTS, 0, {10}, EVS_VERDICT_ACCEPTED,
     4, 4, 0, 0},
    {"stream_exists on new", 0, EVS_EXPECT_STREAM_EXISTS, 0, {10},
     EVS_VERDICT_WRONG_EXPECTED_VERSION, 0, 0, 0, 0},
    {"exact match", 3, EVS_EXPECT_EXACT, 3, {10}, EVS_VERDICT_ACCEPTED, 4, 4, 0, 0},
    {"exact behind", 3, EVS_EXPECT_EXACT, 2, {10}, EVS_VERDICT_WRONG_EXPECTED_VERSION, 0, 0, 0, 0},
    {"exact ahead", 3, EVS_EXPECT_EXACT, 4, {10}, EVS_VERDICT_WRONG_EXPECTED_VERSION, 0, 0, 0, 0},
    {"exact 0 on new", 0, EVS_EXPECT_EXACT, 0, {10}, EVS_VERDICT_ACCEPTED, 1, 1, 0, 0},
    {"exact 0 on existing", 3, EVS_EXPECT_EXACT, 0, {10}, EVS_VERDICT_WRONG_EXPECTED_VERSION,
     0, 0, 0, 0},
    {"multi-event accepted", 3, EVS_EXPECT_EXACT, 3, {10, 11, 12}, EVS_VERDICT_ACCEPTED, 4, 6,
     0, 0},
    /* R1: duplicates, whatever the expectation says now */
    {"duplicate single", 3, EVS_EXPECT_NO_STREAM, 0, {2}, EVS_VERDICT_DUPLICATE, 2, 2, 12, 12},
    {"duplicate multi", 3, EVS_EXPECT_EXACT, 0, {1, 2, 3}, EVS_VERDICT_DUPLICATE, 1, 3, 11, 13},
    {"duplicate tail", 3, EVS_EXPECT_ANY, 0, {2, 3}, EVS_VERDICT_DUPLICATE, 2, 3, 12, 13},
    /* R2: partial duplicates and ids that are not the same append */
    {"partial old+new", 3, EVS_EXPECT_ANY, 0, {3, 10}, EVS_VERDICT_IDEMPOTENCY_CONFLICT, 0, 0,
     0, 0},
    {"partial new+old", 3, EVS_EXPECT_ANY, 0, {10, 1}, EVS_VERDICT_IDEMPOTENCY_CONFLICT, 0, 0,
     0, 0},
    {"stored out of order", 3, EVS_EXPECT_ANY, 0, {2, 1}, EVS_VERDICT_IDEMPOTENCY_CONFLICT, 0,
     0, 0, 0},
    {"stored with a gap", 3, EVS_EXPECT_ANY, 0, {1, 3}, EVS_VERDICT_IDEMPOTENCY_CONFLICT, 0, 0,
     0, 0},
    {"stored in another stream", 3, EVS_EXPECT_ANY, 0, {7}, EVS_VERDICT_IDEMPOTENCY_CONFLICT, 0,
     0, 0, 0},
    {"stored across streams", 3, EVS_EXPECT_ANY, 0, {3, 7}, EVS_VERDICT_IDEMPOTENCY_CONFLICT, 0,
     0, 0, 0},
};

static void build_request(const rule_case *c, evs_append_request *req, evs_record_event *events)
{
    memset(req, 0, sizeof *req);
    req->stream = "S";
    req->stream_len = 1;
    req->expected_kind = c->kind;
    req->expected_version = c->expected;
    req->events = events;
    for (size_t i = 0; i < 4 && c->ids[i]; i++) {
        memset(&events[i], 0, sizeof events[i]);
        memset(events[i].event_id, c->ids[i], 16);
        req->event_count++;
    }
}

static void test_rule_table(void **unused)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const rule_case *c = &cases[i];
        fake_state fs = {"S", c->current, stored, 4, 0};
        evs_rule_state st = {fake_stream_version, fake_event_lookup, &fs, NULL};
        evs_append_request req;
        evs_record_event events[4];
        build_request(c, &req, events);
        evs_verdict v;
        assert_int_equal(evs_rule_judge(&req, &st, &v), 0);
        if (v.status != c->status)
            fail_msg("case '%s': status %s, expected %s", c->name,
                     evs_verdict_status_name(v.status), evs_verdict_status_name(c->status));
        assert_int_equal(v.current_version, c->current);
        if (v.first_version != c->first_version || v.last_version != c->last_version ||
            v.first_position != c->first_position || v.last_position != c->last_position)
            fail_msg("case '%s': versions %llu..%llu positions %llu..%llu", c->name,
                     (unsigned long long)v.first_version, (unsigned long long)v.last_version,
                     (unsigned long long)v.first_position, (unsigned long long)v.last_position);
    }
}

static void test_rule_storage_error_aborts(void **unused)
{
    fake_state fs = {"S", 3, stored, 4, 1};
    evs_rule_state st = {fake_stream_version, fake_event_lookup, &fs, NULL};
    evs_append_request req;
    evs_record_event events[4];
    build_request(&cases[0], &req, events);
    evs_verdict v;
    assert_int_equal(evs_rule_judge(&req, &st, &v), -5);
}

static void test_rule_is_deterministic(void **unused)
{
    /* The same request against the same state gives byte-identical verdicts. */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_state fs = {"S", cases[i].current, stored, 4, 0};
        evs_rule_state st = {fake_stream_version, fake_event_lookup, &fs, NULL};
        evs_append_request req;
        evs_record_event events[4];
        build_request(&cases[i], &req, events);
        evs_verdict a, b;
        memset(&a, 0xAA, sizeof a);
        memset(&b, 0x55, sizeof b);
        assert_int_equal(evs_rule_judge(&req, &st, &a), 0);
        assert_int_equal(evs_rule_judge(&req, &st, &b), 0);
        assert_memory_equal(&a, &b, sizeof a);
    }
}

static evs_stream_deleted fake_deleted;

static int fake_lifecycle(void *ctx, const char *stream, size_t len, evs_stream_lifecycle *out)
{
    (void)ctx;
    (void)stream;
    (void)len;
    evs_stream_lifecycle_init(out);
    out->deleted = fake_deleted;
    return 0;
}

/* R0, L1, L2 and the expectations of a soft-deleted stream (rule.h). */
static void test_rule_lifecycle(void **unused)
{
    static const struct {
        const char *name;
        evs_stream_deleted deleted;
        evs_operation op;
        evs_expected_kind kind;
        uint64_t expected;
        evs_verdict_status status;
        uint64_t first_version;
    } lc[] = {
        {"append to a tombstone", EVS_STREAM_HARD_DELETED, EVS_OP_APPEND, EVS_EXPECT_ANY, 0,
         EVS_VERDICT_STREAM_DELETED, 0},
        {"delete of a tombstone", EVS_STREAM_HARD_DELETED, EVS_OP_DELETE, EVS_EXPECT_ANY, 0,
         EVS_VERDICT_STREAM_DELETED, 0},
        {"no_stream recreates a soft-deleted stream", EVS_STREAM_SOFT_DELETED, EVS_OP_APPEND,
         EVS_EXPECT_NO_STREAM, 0, EVS_VERDICT_ACCEPTED, 4},
        {"stream_exists fails on a soft-deleted stream", EVS_STREAM_SOFT_DELETED,
         EVS_OP_APPEND, EVS_EXPECT_STREAM_EXISTS, 0, EVS_VERDICT_WRONG_EXPECTED_VERSION, 0},
        {"exact current holds on a soft-deleted stream", EVS_STREAM_SOFT_DELETED,
         EVS_OP_APPEND, EVS_EXPECT_EXACT, 3, EVS_VERDICT_ACCEPTED, 4},
        {"a command takes no version", EVS_STREAM_LIVE, EVS_OP_TRUNCATE, EVS_EXPECT_EXACT, 3,
         EVS_VERDICT_ACCEPTED, 0},
        {"a command's expectation", EVS_STREAM_LIVE, EVS_OP_SET_LIMITS, EVS_EXPECT_EXACT, 2,
         EVS_VERDICT_WRONG_EXPECTED_VERSION, 0},
        {"delete with no_stream on a live stream", EVS_STREAM_LIVE, EVS_OP_DELETE,
         EVS_EXPECT_NO_STREAM, 0, EVS_VERDICT_WRONG_EXPECTED_VERSION, 0},
    };
    for (size_t i = 0; i < sizeof lc / sizeof lc[0]; i++) {
        fake_state fs = {"S", 3, stored, 4, 0};
        evs_rule_state st = {fake_stream_version, fake_event_lookup, &fs, fake_lifecycle};
        fake_deleted = lc[i].deleted;
        rule_case c = {lc[i].name, 3, lc[i].kind, lc[i].expected, {10}, 0, 0, 0, 0, 0};
        evs_append_request req;
        evs_record_event events[4];
        build_request(&c, &req, events);
        req.operation = lc[i].op;
        if (lc[i].op != EVS_OP_APPEND)
            req.event_count = 0;
        evs_verdict v;
        assert_int_equal(evs_rule_judge(&req, &st, &v), 0);
        if (v.status != lc[i].status || v.first_version != lc[i].first_version)
            fail_msg("case '%s': %s at %llu", lc[i].name, evs_verdict_status_name(v.status),
                     (unsigned long long)v.first_version);
        assert_int_equal(v.current_version, 3);
    }
}

static void test_expectation_names(void **unused)
{
    assert_string_equal(evs_verdict_status_name(EVS_VERDICT_ACCEPTED), "accepted");
    assert_string_equal(evs_verdict_status_name(EVS_VERDICT_DUPLICATE), "duplicate");
    assert_string_equal(evs_verdict_status_name(EVS_VERDICT_WRONG_EXPECTED_VERSION),
                        "wrong_expected_version");
    assert_string_equal(evs_verdict_status_name(EVS_VERDICT_IDEMPOTENCY_CONFLICT),
                        "idempotency_conflict");
    assert_string_equal(evs_verdict_status_name(EVS_VERDICT_INVALID), "invalid");
    assert_string_equal(evs_verdict_status_name(EVS_VERDICT_STREAM_DELETED), "stream_deleted");
    assert_true(evs_expectation_holds(EVS_EXPECT_EXACT, UINT64_MAX, UINT64_MAX));
    assert_false(evs_expectation_holds(EVS_EXPECT_EXACT, 1, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_table),
        cmocka_unit_test(test_rule_storage_error_aborts),
        cmocka_unit_test(test_rule_is_deterministic),
        cmocka_unit_test(test_rule_lifecycle),
        cmocka_unit_test(test_expectation_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
