/*
 * test_cli_args.c - the `evstore` command line (adapter/cli/cli_args.c): commands, global
 * options before and after the command, defaults from the environment, expectation and
 * number parsing, position vectors, the lifecycle commands and their duration parser,
 * personal data (--master-key, append --subject/--seal-metadata, forget, keygen), the
 * errors that give exit code 2, and the exit-code mapping.
 */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "cli_ndjson.h"
#include "cli_output.h"

#define ARGV(...) ((char *[]){"evstore", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"evstore", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(args, err, ...)                                                                      \
    evs_cli_args_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (args), (err), sizeof(err))

static int setup(void **state)
{
    unsetenv("EVSTORE_BROKERS");
    unsetenv("EVSTORE_PROJECTOR");
    unsetenv("EVSTORE_TOPIC");
    return 0;
}

static void test_append_single(void **state)
{
    evs_cli_args a;
    char err[256];
    assert_int_equal(PARSE(&a, err, "append", "Order-7", "--type", "OrderPlaced", "--data",
                           "{\"total\": 12}", "--metadata={\"user\":\"ann\"}", "--expected", "3",
                           "--event-id", "5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6"),
                     0);
    assert_int_equal(a.command, EVS_CLI_APPEND);
    assert_string_equal(a.target, "Order-7");
    assert_string_equal(a.type, "OrderPlaced");
    assert_string_equal(a.data, "{\"total\": 12}");
    assert_string_equal(a.metadata, "{\"user\":\"ann\"}");
    assert_int_equal(a.expected.kind, EVS_EXPECT_EXACT);
    assert_int_equal(a.expected.version, 3);
    assert_string_equal(a.event_id, "5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6");
    assert_null(a.file);
    assert_null(a.content_type);
    /* defaults */
    assert_string_equal(a.brokers, EVS_DEFAULT_BROKERS);
    assert_string_equal(a.projector, EVS_DEFAULT_PROJECTOR);
    assert_string_equal(a.topic, EVS_DEFAULT_TOPIC);
    assert_int_equal(a.timeout_ms, 0);
}

static void test_default_expectation_is_any(void **state)
{
    evs_cli_args a;
    char err[256];
    assert_int_equal(PARSE(&a, err, "append", "S-1", "--file", "-"), 0);
    assert_int_equal(a.expected.kind, EVS_EXPECT_ANY);
    assert_string_equal(a.file, "-");
}

static void test_globals_before_and_after(void **state)
{
    evs_cli_args a;
    char err[256];
    assert_int_equal(PARSE(&a, err, "--brokers", "b1:9092", "--topic=t1", "read", "S-1",
                           "--projector", "http://p:1", "--timeout-ms", "250", "--limit", "5",
                           "--backwards", "--from", "9"),
                     0);
    assert_int_equal(a.command, EVS_CLI_READ);
    assert_string_equal(a.brokers, "b1:9092");
    assert_string_equal(a.topic, "t1");
    assert_string_equal(a.projector, "http://p:1");
    assert_int_equal(a.timeout_ms, 250);
    assert_int_equal(a.limit, 5);
    assert_int_equal(a.from, 9);
    assert_int_equal(a.backwards, 1);
    /* an option before the command that belongs to the command */
    assert_int_equal(PARSE(&a, err, "--partition", "2", "read-all"), 0);
    assert_int_equal(a.command, EVS_CLI_READ_ALL);
    assert_int_equal(a.partition, 2);
    assert_int_equal(a.limit, 0); /* no limit: read everything */
}

static void test_environment_defaults(void **state)
{
    evs_cli_args a;
    char err[256];
    setenv("EVSTORE_BROKERS", "envb:1", 1);
    setenv("EVSTORE_PROJECTOR", "http://envp:2", 1);
    setenv("EVSTORE_TOPIC", "", 1); /* empty counts as unset */
    assert_int_equal(PARSE(&a, err, "status"), 0);
    assert_string_equal(a.brokers, "envb:1");
    assert_string_equal(a.projector, "http://envp:2");
    assert_string_equal(a.topic, EVS_DEFAULT_TOPIC);
    /* the option beats the environment */
    assert_int_equal(PARSE(&a, err, "status", "--brokers", "optb:3"), 0);
    assert_string_equal(a.brokers, "optb:3");
    setup(state);
}

static void test_other_commands(void **state)
{
    evs_cli_args a;
    char err[256];
    assert_int_equal(
        PARSE(&a, err, "verdict", "5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6", "--timeout-ms", "100"),
        0);
    assert_int_equal(a.command, EVS_CLI_VERDICT);
    assert_string_equal(a.target, "5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6");
    assert_int_equal(PARSE(&a, err, "version"), 0);
    assert_int_equal(a.command, EVS_CLI_VERSION);
    assert_int_equal(PARSE(&a, err, "--version"), 0);
    assert_int_equal(a.command, EVS_CLI_VERSION);
    assert_int_equal(PARSE(&a, err, "--help"), 0);
    assert_int_equal(a.command, EVS_CLI_HELP);
    assert_int_equal(PARSE(&a, err, "append", "-h"), 0);
    assert_int_equal(a.command, EVS_CLI_HELP);
    assert_int_equal(PARSE(&a, err, "help"), 0);
    assert_int_equal(a.command, EVS_CLI_HELP);
    /* "--" ends the options: a stream name starting with '-' */
    assert_int_equal(PARSE(&a, err, "read", "--limit", "1", "--", "-odd"), 0);
    assert_string_equal(a.target, "-odd");
}

/* Each bad command line fails with a message containing `needle`. */
static void expect_error(int rc, const char *err, const char *needle)
{
    assert_int_equal(rc, -1);
    if (!strstr(err, needle))
        fail_msg("message \"%s\" does not contain \"%s\"", err, needle);
}

static void test_usage_errors(void **state)
{
    evs_cli_args a;
    char err[256];
    expect_error(evs_cli_args_parse(1, ARGV(NULL), &a, err, sizeof err), err, "no command");
    expect_error(PARSE(&a, err, "frobnicate"), err, "unknown command \"frobnicate\"");
    expect_error(PARSE(&a, err, "read", "S", "--colour", "red"), err, "unknown option");
    expect_error(PARSE(&a, err, "read", "S", "-x"), err, "unknown option");
    expect_error(PARSE(&a, err, "read"), err, "read needs a STREAM");
    expect_error(PARSE(&a, err, "verdict"), err, "APPEND_ID");
    expect_error(PARSE(&a, err, "read", "S", "T"), err, "unexpected argument \"T\"");
    expect_error(PARSE(&a, err, "status", "x"), err, "unexpected argument");
    expect_error(PARSE(&a, err, "read", "S", "--type", "T"), err, "--type does not apply to read");
    expect_error(PARSE(&a, err, "read-all", "--backwards"), err, "--backwards does not apply");
    expect_error(PARSE(&a, err, "read", "S", "--limit"), err, "--limit needs a value");
    expect_error(PARSE(&a, err, "read", "S", "--limit", "0"), err, "--limit");
    expect_error(PARSE(&a, err, "read", "S", "--limit", "-3"), err, "--limit");
    expect_error(PARSE(&a, err, "read", "S", "--limit", "12x"), err, "--limit");
    expect_error(PARSE(&a, err, "read", "S", "--from", "99999999999999999999"), err, "--from");
    expect_error(PARSE(&a, err, "read-all", "--partition", "2147483648"), err, "--partition");
    expect_error(PARSE(&a, err, "status", "--timeout-ms", "0"), err, "--timeout-ms");
    expect_error(PARSE(&a, err, "read", "S", "--limit", "1", "--limit", "2"), err, "twice");
    expect_error(PARSE(&a, err, "read", "S", "--backwards=yes"), err, "takes no value");
    expect_error(PARSE(&a, err, "append", "S"), err, "--type and --data");
    expect_error(PARSE(&a, err, "append", "S", "--type", "T"), err, "--type and --data");
    expect_error(PARSE(&a, err, "append", "S", "--file", "f", "--type", "T"), err,
                 "--file cannot be combined with --type");
    expect_error(PARSE(&a, err, "append", "S", "--type", "T", "--data", "1", "--expected", "maybe"),
                 err, "--expected \"maybe\"");
    expect_error(PARSE(&a, err, "read", "S", "--version"), err, "--version does not apply");
}

static void test_subscribe_and_index_reads(void **state)
{
    evs_cli_args a;
    char err[256];
    assert_int_equal(PARSE(&a, err, "subscribe", "Order-1"), 0);
    assert_int_equal(a.command, EVS_CLI_SUBSCRIBE);
    assert_string_equal(a.target, "Order-1");
    assert_int_equal(a.from, EVS_FROM_START);
    assert_int_equal(a.no_follow, 0);
    assert_int_equal(PARSE(&a, err, "subscribe", "--all", "--from", "now", "--partition", "2"), 0);
    assert_int_equal(a.all, 1);
    assert_null(a.target);
    assert_true(a.from == EVS_FROM_NOW);
    assert_int_equal(a.partition, 2);
    assert_int_equal(PARSE(&a, err, "subscribe", "--category", "Order", "--from=start"), 0);
    assert_string_equal(a.category, "Order");
    assert_int_equal(a.from, EVS_FROM_START);
    assert_int_equal(PARSE(&a, err, "--projector", "http://x:1", "subscribe", "--type", "a/b",
                           "--from", "17", "--no-follow"),
                     0);
    assert_string_equal(a.type, "a/b");
    assert_int_equal(a.from, 17);
    assert_int_equal(a.no_follow, 1);
    assert_string_equal(a.projector, "http://x:1");
    expect_error(PARSE(&a, err, "subscribe"), err, "exactly one of STREAM, --all");
    expect_error(PARSE(&a, err, "subscribe", "S", "--all"), err, "exactly one");
    expect_error(PARSE(&a, err, "subscribe", "--category", "C", "--type", "T"), err, "exactly one");
    expect_error(PARSE(&a, err, "subscribe", "--all", "--from", "later"), err,
                 "--from \"later\" is not a position, start or now");
    expect_error(PARSE(&a, err, "subscribe", "--all", "--limit", "3"), err,
                 "--limit does not apply to subscribe");
    expect_error(PARSE(&a, err, "read", "S", "--from", "now"), err, "--from");
    expect_error(PARSE(&a, err, "read", "S", "--no-follow"), err, "does not apply to read");

    assert_int_equal(PARSE(&a, err, "read-category", "Order", "--from", "5", "--limit", "10"), 0);
    assert_int_equal(a.command, EVS_CLI_READ_CATEGORY);
    assert_string_equal(a.target, "Order");
    assert_int_equal(a.from, 5);
    assert_int_equal(a.limit, 10);
    assert_int_equal(PARSE(&a, err, "read-type", "OrderPaid", "--partition", "1"), 0);
    assert_int_equal(a.command, EVS_CLI_READ_TYPE);
    assert_string_equal(a.target, "OrderPaid");
    assert_int_equal(a.partition, 1);
    expect_error(PARSE(&a, err, "read-category"), err, "read-category needs a CATEGORY");
    expect_error(PARSE(&a, err, "read-type", "T", "--backwards"), err,
                 "--backwards does not apply");
}

/* --from VECTOR, --partition and --count: where a read or subscription across partitions
 * begins, and what it cannot be combined with. */
static void test_position_vectors(void **state)
{
    evs_cli_args a;
    char err[512];
    assert_int_equal(PARSE(&a, err, "read-all", "--from", "0:13,1:41,2:8"), 0);
    assert_string_equal(a.from_positions, "0:13,1:41,2:8");
    assert_int_equal(a.from, 0);
    assert_int_equal(a.partition_given, 0);
    assert_int_equal(PARSE(&a, err, "subscribe", "--category", "Order", "--from=2:5",
                           "--count", "40"),
                     0);
    assert_string_equal(a.from_positions, "2:5");
    assert_int_equal(a.count, 40);
    assert_int_equal(PARSE(&a, err, "read-type", "T", "--partition", "0"), 0);
    assert_null(a.from_positions);
    assert_int_equal(a.partition_given, 1); /* partition 0 given is not partition 0 unsaid */
    assert_int_equal(PARSE(&a, err, "subscribe", "--all"), 0);
    assert_int_equal(a.partition_given, 0);
    assert_int_equal(a.count, 0);

    expect_error(PARSE(&a, err, "read-all", "--from", "0:1", "--partition", "1"), err,
                 "cannot be combined with --partition");
    expect_error(PARSE(&a, err, "subscribe", "S-1", "--from", "0:1"), err, "not a stream");
    expect_error(PARSE(&a, err, "read", "S-1", "--from", "0:1"), err, "not a stream");
    expect_error(PARSE(&a, err, "read-all", "--from", "0:1,0:2"), err,
                 "names partition 0 twice");
    expect_error(PARSE(&a, err, "read-all", "--from", "0:x"), err, "is not PARTITION:POSITION");
    expect_error(PARSE(&a, err, "subscribe", "--all", "--count", "0"), err, "--count");
    expect_error(PARSE(&a, err, "read-all", "--count", "3"), err,
                 "--count does not apply to read-all");
}

static void test_checkpoint_and_snapshot(void **state)
{
    evs_cli_args a;
    char err[256];
    assert_int_equal(PARSE(&a, err, "checkpoint", "save", "proj-a", "42"), 0);
    assert_int_equal(a.command, EVS_CLI_CHECKPOINT);
    assert_string_equal(a.target, "save");
    assert_string_equal(a.extra[0], "proj-a");
    assert_int_equal(a.position, 42);
    assert_int_equal(PARSE(&a, err, "checkpoint", "load", "proj-a"), 0);
    assert_string_equal(a.target, "load");
    assert_int_equal(PARSE(&a, err, "checkpoint", "delete", "proj-a", "--timeout-ms", "5"), 0);
    assert_string_equal(a.target, "delete");
    expect_error(PARSE(&a, err, "checkpoint"), err, "checkpoint needs a save, load or delete");
    expect_error(PARSE(&a, err, "checkpoint", "show", "x"), err, "unknown checkpoint command");
    expect_error(PARSE(&a, err, "checkpoint", "save", "x"), err, "POSITION");
    expect_error(PARSE(&a, err, "checkpoint", "save", "x", "4x"), err, "POSITION");
    expect_error(PARSE(&a, err, "checkpoint", "load"), err, "needs a NAME");
    expect_error(PARSE(&a, err, "checkpoint", "load", "x", "7"), err, "unexpected argument \"7\"");
    expect_error(PARSE(&a, err, "checkpoint", "save", "x", "1", "2"), err, "unexpected argument");

    assert_int_equal(PARSE(&a, err, "snapshot", "save", "Order-1", "--version", "7", "--data", "{}",
                           "--schema-version", "3", "--content-type", "application/x"),
                     0);
    assert_int_equal(a.command, EVS_CLI_SNAPSHOT);
    assert_string_equal(a.target, "save");
    assert_string_equal(a.extra[0], "Order-1");
    assert_int_equal(a.version, 7);
    assert_int_equal(a.schema_version, 3);
    assert_string_equal(a.data, "{}");
    assert_string_equal(a.content_type, "application/x");
    /* --version takes a value after `snapshot`, even before the subcommand. */
    assert_int_equal(PARSE(&a, err, "snapshot", "--version=2", "save", "S", "--file", "f"), 0);
    assert_int_equal(a.version, 2);
    assert_string_equal(a.file, "f");
    assert_int_equal(a.schema_version, 1);
    assert_int_equal(PARSE(&a, err, "snapshot", "load", "S"), 0);
    assert_int_equal(a.version, 0);
    assert_int_equal(PARSE(&a, err, "snapshot", "load", "S", "--version", "9"), 0);
    assert_int_equal(a.version, 9);
    assert_int_equal(PARSE(&a, err, "--version"), 0); /* still the version flag on its own */
    assert_int_equal(a.command, EVS_CLI_VERSION);
    expect_error(PARSE(&a, err, "snapshot", "save", "S", "--data", "{}"), err, "needs --version");
    expect_error(PARSE(&a, err, "snapshot", "save", "S", "--version", "1"), err, "exactly one of");
    expect_error(
        PARSE(&a, err, "snapshot", "save", "S", "--version", "1", "--data", "1", "--file", "f"),
        err, "exactly one of");
    expect_error(PARSE(&a, err, "snapshot", "save", "S", "--version", "0", "--data", "1"), err,
                 "--version");
    expect_error(PARSE(&a, err, "snapshot", "load", "S", "--data", "1"), err,
                 "--data does not apply to snapshot load");
    expect_error(PARSE(&a, err, "snapshot", "load"), err, "needs a STREAM");
    expect_error(PARSE(&a, err, "snapshot", "drop", "S"), err, "unknown snapshot command");
    expect_error(PARSE(&a, err, "snapshot", "load", "S", "--version"), err, "needs a value");
    expect_error(PARSE(&a, err, "snapshot", "save", "S", "--version", "1", "--data", "1",
                       "--schema-version", "4294967296"),
                 err, "--schema-version");
}

static void test_expected_parse(void **state)
{
    evs_expected e;
    assert_int_equal(evs_cli_expected_parse("any", &e), 0);
    assert_int_equal(e.kind, EVS_EXPECT_ANY);
    assert_int_equal(evs_cli_expected_parse("no_stream", &e), 0);
    assert_int_equal(e.kind, EVS_EXPECT_NO_STREAM);
    assert_int_equal(evs_cli_expected_parse("stream_exists", &e), 0);
    assert_int_equal(e.kind, EVS_EXPECT_STREAM_EXISTS);
    assert_int_equal(evs_cli_expected_parse("0", &e), 0);
    assert_int_equal(e.kind, EVS_EXPECT_EXACT);
    assert_int_equal(e.version, 0);
    assert_int_equal(evs_cli_expected_parse("9223372036854775807", &e), 0);
    assert_int_equal(e.version, INT64_MAX);
    const char *bad[] = {"",    "ANY",  "no-stream",           "-1",     "+1", " 1", "1 ",
                         "1.0", "0x10", "9223372036854775808", "exists", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(evs_cli_expected_parse(bad[i], &e), -1);
}

static void test_u64_parse(void **state)
{
    uint64_t v;
    assert_int_equal(evs_cli_u64_parse("18446744073709551615", UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(evs_cli_u64_parse("18446744073709551616", UINT64_MAX, &v), -1);
    assert_int_equal(evs_cli_u64_parse("10", 9, &v), -1);
    assert_int_equal(evs_cli_u64_parse("9", 9, &v), 0);
    assert_int_equal(evs_cli_u64_parse("007", 9, &v), 0);
    assert_int_equal(v, 7);
}

static void test_exit_codes(void **state)
{
    assert_int_equal(evs_cli_exit_code(EVS_OK), 0);
    assert_int_equal(evs_cli_exit_code(EVS_EINVAL), 2);
    assert_int_equal(evs_cli_exit_code(EVS_EREJECTED), 2);
    assert_int_equal(evs_cli_exit_code(EVS_EWRONG_VERSION), 3);
    assert_int_equal(evs_cli_exit_code(EVS_EIDEMPOTENCY), 4);
    assert_int_equal(evs_cli_exit_code(EVS_EUNKNOWN_OUTCOME), 5);
    assert_int_equal(evs_cli_exit_code(EVS_EUNAVAILABLE), 5);
    assert_int_equal(evs_cli_exit_code(EVS_ETIMEOUT), 5);
    assert_int_equal(evs_cli_exit_code(EVS_ENOT_FOUND), 6);
    assert_int_equal(evs_cli_exit_code(EVS_EPROTOCOL), 1);
    assert_int_equal(evs_cli_exit_code(EVS_ENOMEM), 1);
    assert_int_equal(evs_cli_exit_code(EVS_EINTERNAL), 1);
    assert_int_equal(evs_cli_exit_code(EVS_ESTREAM_DELETED), 7);
}

static void test_duration_parse(void **state)
{
    static const struct {
        const char *text;
        uint64_t ms;
    } good[] = {{"0", 0},          {"250", 250},          {"250ms", 250},
                {"90s", 90000},    {"5m", 300000},        {"2h", 7200000},
                {"30d", 2592000000ull}, {"0d", 0},
                {"9223372036854775807", INT64_MAX}, {"106751991167d", 106751991167ull * 86400000}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t ms = 1;
        if (evs_cli_duration_parse(good[i].text, &ms) != 0 || ms != good[i].ms)
            fail_msg("\"%s\": got %llu, want %llu", good[i].text, (unsigned long long)ms,
                     (unsigned long long)good[i].ms);
    }
    static const char *const bad[] = {"",    "d",   "-5",  "5x",   "5 s",  "5S",
                                      "5sm", "1.5h", " 5", "5ms ", "9223372036854775808",
                                      "106751991168d", "99999999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t ms = 7;
        if (evs_cli_duration_parse(bad[i], &ms) != -1)
            fail_msg("\"%s\" was taken for %llu ms", bad[i], (unsigned long long)ms);
        assert_int_equal(ms, 7);
    }
    uint64_t ms;
    assert_int_equal(evs_cli_duration_parse(NULL, &ms), -1);
}

static void test_lifecycle_commands(void **state)
{
    evs_cli_args a;
    char err[256];
    assert_int_equal(PARSE(&a, err, "delete", "Order-7", "--hard", "--expected", "4",
                           "--append-id", "5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6"),
                     0);
    assert_int_equal(a.command, EVS_CLI_DELETE);
    assert_string_equal(a.target, "Order-7");
    assert_int_equal(a.hard, 1);
    assert_int_equal(a.expected.kind, EVS_EXPECT_EXACT);
    assert_int_equal(a.expected.version, 4);
    assert_string_equal(a.append_id, "5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6");
    assert_int_equal(PARSE(&a, err, "delete", "Order-7"), 0);
    assert_int_equal(a.hard, 0);
    assert_int_equal(a.expected.kind, EVS_EXPECT_ANY);

    assert_int_equal(PARSE(&a, err, "truncate", "Order-7", "--before=12", "--expected",
                           "stream_exists"),
                     0);
    assert_int_equal(a.command, EVS_CLI_TRUNCATE);
    assert_int_equal(a.before, 12);
    assert_int_equal(a.expected.kind, EVS_EXPECT_STREAM_EXISTS);

    assert_int_equal(PARSE(&a, err, "limits", "Order-7", "--max-count", "100", "--max-age", "30d"),
                     0);
    assert_int_equal(a.command, EVS_CLI_LIMITS);
    assert_int_equal(a.max_count, 100);
    assert_int_equal(a.max_age_ms, 2592000000ull);
    assert_true(a.max_count_given && a.max_age_given);
    assert_int_equal(PARSE(&a, err, "limits", "Order-7", "--max-age", "0"), 0);
    assert_true(!a.max_count_given && a.max_age_given);
    assert_int_equal(a.max_age_ms, 0);
    assert_int_equal(PARSE(&a, err, "limits", "Order-7"), 0);
    assert_true(!a.max_count_given && !a.max_age_given);
    assert_int_equal(PARSE(&a, err, "info", "Order-7"), 0);
    assert_int_equal(a.command, EVS_CLI_INFO);

    const struct {
        char **argv;
        int argc;
        const char *message;
    } bad[] = {
#define BAD(message, ...) {ARGV(__VA_ARGS__), ARGC(__VA_ARGS__), message}
        BAD("delete needs a STREAM argument", "delete"),
        BAD("truncate needs --before VERSION", "truncate", "S-1"),
        BAD("--before \"0\" is not a whole number", "truncate", "S-1", "--before", "0"),
        BAD("--max-age \"5y\" is not a duration", "limits", "S-1", "--max-age", "5y"),
        BAD("--max-count \"-1\" is not a whole number", "limits", "S-1", "--max-count", "-1"),
        BAD("limits with --expected needs --max-count or --max-age", "limits", "S-1",
            "--expected", "3"),
        BAD("option --hard does not apply to truncate", "truncate", "S-1", "--before", "2",
            "--hard"),
        BAD("option --before does not apply to delete", "delete", "S-1", "--before", "2"),
        BAD("option --expected does not apply to info", "info", "S-1", "--expected", "3"),
        BAD("unexpected argument \"x\" after info", "info", "S-1", "x"),
#undef BAD
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(evs_cli_args_parse(bad[i].argc, bad[i].argv, &a, err, sizeof err), -1);
        if (!strstr(err, bad[i].message))
            fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err, bad[i].message);
    }
}

static void test_personal_data(void **state)
{
    evs_cli_args a;
    char err[256];
    unsetenv("EVSTORE_MASTER_KEY_FILE");
    assert_int_equal(PARSE(&a, err, "append", "Customer-42", "--type", "Registered", "--data",
                           "{}", "--subject", "customer:42", "--seal-metadata", "--master-key",
                           "/etc/evstore/master.key"),
                     0);
    assert_int_equal(a.command, EVS_CLI_APPEND);
    assert_string_equal(a.subject, "customer:42");
    assert_int_equal(a.seal_metadata, 1);
    assert_string_equal(a.master_key, "/etc/evstore/master.key");
    /* With --file too; the master key from the environment. */
    setenv("EVSTORE_MASTER_KEY_FILE", "/env/master.key", 1);
    assert_int_equal(PARSE(&a, err, "append", "Customer-42", "--file", "-", "--subject=c:1"), 0);
    assert_string_equal(a.subject, "c:1");
    assert_int_equal(a.seal_metadata, 0);
    assert_string_equal(a.master_key, "/env/master.key");
    /* A global option: before the command, and for reads too. */
    assert_int_equal(PARSE(&a, err, "--master-key", "k", "read", "Customer-42"), 0);
    assert_string_equal(a.master_key, "k");
    assert_null(a.subject);
    unsetenv("EVSTORE_MASTER_KEY_FILE");
    assert_int_equal(PARSE(&a, err, "read", "Customer-42"), 0);
    assert_null(a.master_key);

    assert_int_equal(PARSE(&a, err, "forget", "customer:42"), 0);
    assert_int_equal(a.command, EVS_CLI_FORGET);
    assert_string_equal(a.target, "customer:42");
    assert_int_equal(PARSE(&a, err, "keygen", "/tmp/master.key"), 0);
    assert_int_equal(a.command, EVS_CLI_KEYGEN);
    assert_string_equal(a.target, "/tmp/master.key");

    expect_error(PARSE(&a, err, "append", "S-1", "--type", "T", "--data", "{}", "--seal-metadata"),
                 err, "--seal-metadata needs --subject");
    expect_error(PARSE(&a, err, "read", "S-1", "--subject", "x"), err,
                 "option --subject does not apply to read");
    expect_error(PARSE(&a, err, "forget", "x", "--seal-metadata"), err,
                 "option --seal-metadata does not apply to forget");
    expect_error(PARSE(&a, err, "forget"), err, "forget needs a SUBJECT argument");
    expect_error(PARSE(&a, err, "keygen"), err, "keygen needs a FILE argument");
    expect_error(PARSE(&a, err, "keygen", "a", "b"), err, "unexpected argument \"b\" after keygen");
    expect_error(PARSE(&a, err, "forget", "x", "--subject", "y"), err,
                 "option --subject does not apply to forget");
    assert_non_null(strstr(EVS_CLI_USAGE, "forget SUBJECT"));
    assert_non_null(strstr(EVS_CLI_USAGE, "keygen FILE"));
    assert_non_null(strstr(EVS_CLI_USAGE, "--subject S [--seal-metadata]"));
    assert_non_null(strstr(EVS_CLI_USAGE, "EVSTORE_MASTER_KEY_FILE"));
}

/* What the commands of personal data print and read (cli_output.c, cli_ndjson.c). */
static void test_personal_data_lines(void **state)
{
    (void)state;
    evs_event e = {.event_id = "5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6",
                   .stream = "Customer-42",
                   .type = "Registered",
                   .version = 1,
                   .position = 7,
                   .content_type = "application/json",
                   .data = "",
                   .data_len = 0,
                   .subject = "customer:42",
                   .erased = 1};
    evs_cli_buf out = {0};
    evs_cli_format_event(&out, &e);
    evs_cli_buf_puts(&out, ""); /* NUL-terminates */
    assert_non_null(strstr(out.data, ",\"data\":null,\"metadata\":null,\"subject\":"
                                     "\"customer:42\",\"erased\":true}\n"));
    out.len = 0;
    e.erased = 0;
    e.data = "{\"a\":1}";
    e.data_len = 7;
    evs_cli_format_event(&out, &e);
    evs_cli_buf_puts(&out, "");
    assert_non_null(strstr(out.data, ",\"data\":{\"a\":1},\"metadata\":null,\"subject\":"
                                     "\"customer:42\"}\n"));
    out.len = 0;
    e.subject = NULL;
    evs_cli_format_event(&out, &e);
    evs_cli_buf_puts(&out, "");
    assert_null(strstr(out.data, "subject"));
    assert_null(strstr(out.data, "erased"));
    out.len = 0;
    e.subject = "customer:42";
    e.sealed = 1;
    evs_cli_format_event(&out, &e);
    evs_cli_buf_puts(&out, "");
    assert_non_null(strstr(out.data, ",\"data\":null,\"metadata\":null,\"subject\":"
                                     "\"customer:42\",\"sealed\":true}\n"));
    out.len = 0;
    evs_cli_format_forget(&out, "customer:42",
                          "{\"subject\":\"customer:42\",\"forgotten\":[\"a\",\"b\"]}");
    evs_cli_buf_puts(&out, "");
    assert_string_equal(out.data, "{\"subject\":\"customer:42\",\"forgotten\":[\"a\",\"b\"],"
                                  "\"keys_destroyed\":2}\n");
    out.len = 0;
    evs_cli_format_forget(&out, "x", "{\"subject\":\"x\",\"forgotten\":[]}");
    evs_cli_buf_puts(&out, "");
    assert_string_equal(out.data, "{\"subject\":\"x\",\"forgotten\":[],\"keys_destroyed\":0}\n");
    evs_cli_buf_free(&out);

    /* append --file lines may name their subject. */
    evs_cli_event line;
    evs_event_data data;
    char err[256];
    const char *text = "{\"type\":\"T\",\"data\":{},\"metadata\":{\"ip\":1},"
                       "\"subject\":\"c:1\",\"seal_metadata\":true}";
    assert_int_equal(evs_cli_ndjson_parse(text, strlen(text), &line, err, sizeof err), 0);
    evs_cli_event_to_data(&line, &data);
    assert_string_equal(data.subject, "c:1");
    assert_int_equal(data.seal_metadata, 1);
    evs_cli_event_free(&line);
    text = "{\"type\":\"T\",\"data\":{},\"seal_metadata\":true}";
    assert_int_equal(evs_cli_ndjson_parse(text, strlen(text), &line, err, sizeof err), -1);
    assert_non_null(strstr(err, "needs a \"subject\""));
    /* An export line keeps its subject; an erased one cannot be imported. */
    evs_cli_export_line export_line;
    text = "{\"stream\":\"S-1\",\"version\":1,\"type\":\"T\",\"event_id\":"
           "\"5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6\",\"data\":{},\"subject\":\"c:1\"}";
    assert_int_equal(evs_cli_export_line_parse(text, strlen(text), &export_line, err, sizeof err),
                     0);
    assert_string_equal(export_line.event.subject, "c:1");
    evs_cli_export_line_free(&export_line);
    text = "{\"stream\":\"S-1\",\"version\":1,\"type\":\"T\",\"event_id\":"
           "\"5f0c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6\",\"data\":null,\"subject\":\"c:1\","
           "\"erased\":true}";
    assert_int_equal(evs_cli_export_line_parse(text, strlen(text), &export_line, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "erased"));
}

static void test_usage_text_documents_contract(void **state)
{
    const char *needles[] = {
        "append STREAM", "--file FILE", "read STREAM",     "read-all",          "verdict APPEND_ID",
        "status",        "version",     "EVSTORE_BROKERS", "EVSTORE_PROJECTOR", "EVSTORE_TOPIC",
        "--timeout-ms",  "no_stream",   "stream_exists",   "Exit codes"};
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
        assert_non_null(strstr(EVS_CLI_USAGE, needles[i]));
    const char *subscription_needles[] = {
        "read-category CATEGORY",    "read-type TYPE",
        "subscribe (STREAM | --all", "--no-follow",
        "--from POSITION|start|now", "checkpoint save NAME POSITION",
        "snapshot save STREAM",      "snapshot load STREAM",
        "delete STREAM [--hard]",    "truncate STREAM --before VERSION",
        "limits STREAM",             "info STREAM",
        "  7  the stream was deleted"};
    for (size_t i = 0; i < sizeof subscription_needles / sizeof subscription_needles[0]; i++)
        assert_non_null(strstr(EVS_CLI_USAGE, subscription_needles[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_append_single, setup),
        cmocka_unit_test_setup(test_default_expectation_is_any, setup),
        cmocka_unit_test_setup(test_globals_before_and_after, setup),
        cmocka_unit_test_setup(test_environment_defaults, setup),
        cmocka_unit_test_setup(test_other_commands, setup),
        cmocka_unit_test_setup(test_usage_errors, setup),
        cmocka_unit_test_setup(test_subscribe_and_index_reads, setup),
        cmocka_unit_test_setup(test_position_vectors, setup),
        cmocka_unit_test_setup(test_checkpoint_and_snapshot, setup),
        cmocka_unit_test(test_expected_parse),
        cmocka_unit_test(test_u64_parse),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_duration_parse),
        cmocka_unit_test_setup(test_lifecycle_commands, setup),
        cmocka_unit_test_setup(test_personal_data, setup),
        cmocka_unit_test(test_personal_data_lines),
        cmocka_unit_test(test_usage_text_documents_contract),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
