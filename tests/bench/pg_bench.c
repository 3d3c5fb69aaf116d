/*
 * pg_bench.c - the classic PostgreSQL event-store design, measured with evs_bench's workloads
 * so that evstore can be compared with it side by side on one machine. A benchmark, not a
 * test: it asserts nothing about speed (style.md, "Tests").
 *
 *   pg_bench [--dsn DSN] append-latency --count N [--stream S]
 *   pg_bench [--dsn DSN] append-throughput --writers W --count N --streams K ...
 *   pg_bench [--dsn DSN] read-latency --stream S --count N [--limit L] [--prepare]
 *   pg_bench [--dsn DSN] read-all [--count N] [--page P]
 *   pg_bench [--dsn DSN] prefill --events N [--streams K] [--events-per-append E]
 *   pg_bench [--dsn DSN] check [--stream-prefix P]
 *   pg_bench [--dsn DSN] occ-loop --writers W --count N --streams K [--read-limit L]
 *
 * `pg_bench --help` lists every option. Each run prints human-readable lines, then exactly
 * one line that starts with {"bench": and has evs_bench's field names, plus "system" and the
 * server's durability settings (tests/bench/run.sh collects them).
 *
 * The design (tests/bench/pg.sh creates the table and says why each column has its type):
 *
 *   bench.events(global_position bigserial PRIMARY KEY, stream_id text, version bigint,
 *                event_id uuid UNIQUE, event_type text, data jsonb, metadata jsonb,
 *                created_at timestamptz DEFAULT now(), UNIQUE (stream_id, version))
 *
 * An append is one transaction at READ COMMITTED, PostgreSQL's default:
 *
 *   BEGIN; SELECT coalesce(max(version), 0) FROM bench.events WHERE stream_id = $1
 *   -- the client checks the expected version; on a mismatch: ROLLBACK, wrong version
 *   INSERT INTO bench.events (...) VALUES (<E rows: versions current+1 .. current+E>)
 *   COMMIT
 *
 * The statements are prepared once per connection, and sent in libpq's pipeline mode as two
 * round trips, BEGIN + SELECT, then INSERT + COMMIT: the fewest that still let the client see
 * the current version before it writes (a driver such as PgJDBC also sends BEGIN with the
 * first statement). The E events go in one multi-row INSERT (one statement per event would
 * cost E round trips). The commit waits for its WAL flush (synchronous_commit = on).
 *
 * Concurrency. Two appends to one stream can both read version v and both insert v + 1; the
 * unique index on (stream_id, version) makes the second wait for the first and then fail
 * with unique_violation (23505) if the first committed. That is the design's optimistic-
 * concurrency conflict: the transaction is rolled back and the append retried, with
 * expectation `any` as with an exact one (`any` has no conflicts in evstore, where the log
 * orders appends; here it does). Invariant, checked after every append run ("check"): each
 * stream's versions are 1..n without a gap, and the table gained exactly the events that
 * were acknowledged. The first half holds because a version is only ever max + 1.. and the
 * index refuses a duplicate; the second because an acknowledged COMMIT is durable and a
 * failed one wrote nothing.
 *
 * What is timed: each append (all its attempts) or read, from just before the first
 * statement is sent until its last result is read, with CLOCK_MONOTONIC, into a per-thread
 * bench_histogram merged at the end. Connecting, preparing, warm-up calls and the checks are
 * never timed.
 *
 * occ-loop, a command handler's loop: read the stream's last L events (one SELECT, newest
 * first, outside any transaction), then the append above with the exact version that read
 * showed; a wrong version (a concurrent append got in between, seen by the append's own
 * SELECT or by the unique index) means reading again and appending again. The whole command
 * is timed, and each read apart.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "bench_common.h"
#include "bench_histogram.h"
#include "evstore_limits.h" /* evstore's own limits: the same events are valid on both sides */

/* Limits of the benchmark's own knobs (style.md: a limit on everything). */
#define PGB_WRITERS_MAX 500 /* one connection each; pg.sh's server allows 200 */
#define PGB_STREAMS_MAX 10000000L
#define PGB_COUNT_MAX 1000000000L
#define PGB_PREFILL_EVENTS_MAX 100000000L
#define PGB_PAGE_MAX 100000L
#define PGB_STREAM_PREFIX_MAX 64
#define PGB_DSN_MAX 1024
#define PGB_MESSAGE_MAX 512
/* INSERT shapes (events per append) one connection prepares; a run uses one or two. */
#define PGB_SHAPES_MAX 8
/* prefill: rows per COPY (each COPY is one transaction) and the send buffer. */
#define PGB_PREFILL_BATCH_ROWS 100000L
#define PGB_COPY_BUFFER_BYTES (1024 * 1024)

#define PGB_TABLE "bench.events"
#define PGB_EVENT_TYPE "OrderPlaced"
/* The unique constraint whose violation is a concurrency conflict (pg.sh names it). */
#define PGB_VERSION_CONSTRAINT "events_stream_version"
#define PGB_DEFAULT_PORT "15432"

/* Error slots: named as evs_bench's where they mean the same, so that the reports line up. */
enum {
    SLOT_WRONG_VERSION,   /* retries exhausted, or a wrong expected version in W1 */
    SLOT_UNKNOWN_OUTCOME, /* the connection failed after COMMIT was sent */
    SLOT_UNAVAILABLE,     /* no connection, or it failed before anything was committed */
    SLOT_TIMEOUT,         /* statement_timeout (--timeout-ms) */
    SLOT_OTHER,           /* any other SQL error (its SQLSTATE is in the message) */
    SLOT_BAD_ANSWER,      /* a read that returned the wrong rows */
    SLOT_COUNT
};

static const char *const slot_names[SLOT_COUNT + 1] = {
    "EVS_EWRONG_VERSION",
    "EVS_EUNKNOWN_OUTCOME",
    "EVS_EUNAVAILABLE",
    "EVS_ETIMEOUT",
    "other",
    "wrong_answer",
    NULL,
};
_Static_assert(SLOT_COUNT <= BENCH_ERROR_SLOTS_MAX, "room for every slot");

/* ---- Options ------------------------------------------------------------------------- */

typedef enum pgb_command {
    CMD_NONE = 0,
    CMD_APPEND_LATENCY,
    CMD_APPEND_THROUGHPUT,
    CMD_READ_LATENCY,
    CMD_READ_ALL,
    CMD_PREFILL,
    CMD_CHECK,
    CMD_OCC_LOOP,
} pgb_command;

typedef struct pgb_options {
    const char *dsn;
    int timeout_ms;
    char label[BENCH_LABEL_MAX + 1];
    pgb_command command;
    long count;
    const char *stream;
    long writers;
    long streams;
    long events_per_append;
    int zipf;
    double zipf_s;
    int exact;
    const char *stream_prefix;
    long warmup;
    long limit;
    long read_limit; /* occ-loop: the events of a stream's tail a command reads */
    int prepare;
    long page;
    long events;
    long data_bytes;
    long metadata_bytes;
    long max_errors;
    long max_retries;
    uint64_t seed;
    int progress;
} pgb_options;

enum {
    OPT_DSN = 256,
    OPT_TIMEOUT,
    OPT_LABEL,
    OPT_COUNT,
    OPT_STREAM,
    OPT_WRITERS,
    OPT_STREAMS,
    OPT_EVENTS_PER_APPEND,
    OPT_ZIPF,
    OPT_ZIPF_S,
    OPT_EXACT,
    OPT_STREAM_PREFIX,
    OPT_WARMUP,
    OPT_LIMIT,
    OPT_PREPARE,
    OPT_PAGE,
    OPT_EVENTS,
    OPT_DATA_BYTES,
    OPT_METADATA_BYTES,
    OPT_MAX_ERRORS,
    OPT_MAX_RETRIES,
    OPT_SEED,
    OPT_PROGRESS,
    OPT_READ_LIMIT,
    OPT_HELP,
};

#define FOR_LAT (1u << CMD_APPEND_LATENCY)
#define FOR_TPUT (1u << CMD_APPEND_THROUGHPUT)
#define FOR_READ (1u << CMD_READ_LATENCY)
#define FOR_ALLR (1u << CMD_READ_ALL)
#define FOR_FILL (1u << CMD_PREFILL)
#define FOR_CHECK (1u << CMD_CHECK)
#define FOR_OCC (1u << CMD_OCC_LOOP)
#define FOR_ALL (FOR_LAT | FOR_TPUT | FOR_READ | FOR_ALLR | FOR_FILL | FOR_CHECK | FOR_OCC)

static const struct option long_options[] = {
    {"dsn", required_argument, 0, OPT_DSN},
    {"timeout-ms", required_argument, 0, OPT_TIMEOUT},
    {"label", required_argument, 0, OPT_LABEL},
    {"count", required_argument, 0, OPT_COUNT},
    {"stream", required_argument, 0, OPT_STREAM},
    {"writers", required_argument, 0, OPT_WRITERS},
    {"streams", required_argument, 0, OPT_STREAMS},
    {"events-per-append", required_argument, 0, OPT_EVENTS_PER_APPEND},
    {"zipf", no_argument, 0, OPT_ZIPF},
    {"zipf-s", required_argument, 0, OPT_ZIPF_S},
    {"exact", no_argument, 0, OPT_EXACT},
    {"stream-prefix", required_argument, 0, OPT_STREAM_PREFIX},
    {"warmup", required_argument, 0, OPT_WARMUP},
    {"limit", required_argument, 0, OPT_LIMIT},
    {"prepare", no_argument, 0, OPT_PREPARE},
    {"page", required_argument, 0, OPT_PAGE},
    {"events", required_argument, 0, OPT_EVENTS},
    {"data-bytes", required_argument, 0, OPT_DATA_BYTES},
    {"metadata-bytes", required_argument, 0, OPT_METADATA_BYTES},
    {"max-errors", required_argument, 0, OPT_MAX_ERRORS},
    {"max-retries", required_argument, 0, OPT_MAX_RETRIES},
    {"seed", required_argument, 0, OPT_SEED},
    {"progress", no_argument, 0, OPT_PROGRESS},
    {"read-limit", required_argument, 0, OPT_READ_LIMIT},
    {"help", no_argument, 0, OPT_HELP},
    {0, 0, 0, 0},
};

static unsigned option_commands(int option)
{
    switch (option) {
    case OPT_COUNT:
        return FOR_LAT | FOR_TPUT | FOR_READ | FOR_ALLR | FOR_OCC;
    case OPT_DATA_BYTES:
    case OPT_METADATA_BYTES:
        return FOR_LAT | FOR_TPUT | FOR_READ | FOR_FILL | FOR_OCC;
    case OPT_WARMUP:
        return FOR_LAT | FOR_TPUT | FOR_READ | FOR_OCC;
    case OPT_MAX_ERRORS:
        return FOR_LAT | FOR_TPUT | FOR_READ | FOR_ALLR | FOR_OCC;
    case OPT_STREAM:
        return FOR_LAT | FOR_READ;
    case OPT_WRITERS:
    case OPT_MAX_RETRIES:
        return FOR_TPUT | FOR_OCC;
    case OPT_ZIPF:
    case OPT_ZIPF_S:
    case OPT_EXACT:
        return FOR_TPUT;
    case OPT_STREAMS:
    case OPT_SEED:
        return FOR_TPUT | FOR_FILL | FOR_OCC;
    case OPT_EVENTS_PER_APPEND:
        return FOR_TPUT | FOR_FILL;
    case OPT_STREAM_PREFIX:
        return FOR_TPUT | FOR_FILL | FOR_CHECK | FOR_OCC;
    case OPT_READ_LIMIT:
        return FOR_OCC;
    case OPT_LIMIT:
    case OPT_PREPARE:
        return FOR_READ;
    case OPT_PAGE:
        return FOR_ALLR;
    case OPT_EVENTS:
        return FOR_FILL;
    case OPT_PROGRESS:
        return FOR_TPUT | FOR_ALLR | FOR_FILL | FOR_OCC;
    default:
        return FOR_ALL; /* --dsn, --timeout-ms, --label, --help */
    }
}

static const char usage_text[] =
    "usage: pg_bench [global options] COMMAND [options]\n"
    "\n"
    "The classic PostgreSQL event-store design (one events table, an append = one\n"
    "transaction that reads the stream's version and inserts after it), measured with\n"
    "evs_bench's workloads. Prints human-readable lines, then one JSON line that starts with\n"
    "{\"bench\":. Not a test. tests/bench/pg.sh starts the server and creates the table.\n"
    "\n"
    "Commands:\n"
    "  append-latency --count N [--stream S] [--warmup N]\n"
    "      one writer, one event per append, exact expected versions (the stream's version is\n"
    "      read first, then tracked from each answer). Default stream: Bench-latency-<pid>.\n"
    "  append-throughput --writers W --count N --streams K [--events-per-append E]\n"
    "                    [--zipf [--zipf-s S]] [--exact] [--max-retries R]\n"
    "                    [--stream-prefix P] [--seed X] [--progress]\n"
    "      W threads, one connection each, share N appends (in total) to the streams\n"
    "      <P>1..<P>K (P defaults to \"Order-\"), picked uniformly or Zipf-skewed (exponent S,\n"
    "      default 1.0; <P>1 is the hottest). Expectation `any`: the append reads the\n"
    "      current version and inserts after it; a concurrent insert of the same version\n"
    "      (unique violation) is a conflict, retried. With --exact: the version last seen\n"
    "      for the stream, retried on a conflict with the current version. At most R retries\n"
    "      (default 50). Each writer first makes one untimed append to <P>warmup-<n>.\n"
    "      Latency includes the retries. Ends with a check of the streams (see check).\n"
    "  read-latency --stream S --count N [--limit L] [--prepare] [--warmup N]\n"
    "      reads the stream's first L events (default 100) in version order, every column,\n"
    "      N times. --prepare writes L events to S first if it does not exist.\n"
    "  read-all [--count N] [--page P] [--progress]\n"
    "      reads the table from global position 1 in order, P rows per query (default\n"
    "      1000, keyset: WHERE global_position > last), to the end or N events: events/s,\n"
    "      MB/s of data and metadata, the latency of each page.\n"
    "  prefill --events N [--streams K] [--events-per-append E] [--stream-prefix P]\n"
    "      fills the table up to N events with COPY (not a workload: no latencies): E\n"
    "      events at a time (default 100) to the streams <P>1..<P>K in turn (P defaults to\n"
    "      \"Fill-\", K to 1000), continuing each stream's versions; then VACUUM ANALYZE and\n"
    "      a CHECKPOINT.\n"
    "  check [--stream-prefix P]\n"
    "      checks that every stream whose name starts with P (default: every stream) has\n"
    "      the versions 1..n without a gap.\n"
    "  occ-loop --writers W --count N --streams K [--read-limit L] [--stream-prefix P]\n"
    "           [--max-retries R] [--seed X] [--progress]\n"
    "      the optimistic-concurrency loop of a command handler, as evs_bench occ-loop: W\n"
    "      threads, one connection each, share N commands; a command picks one of the\n"
    "      streams <P>1..<P>K (P defaults to \"Order-\") uniformly, reads its last L events\n"
    "      (default 20; one SELECT, newest first, every column), takes the stream's version\n"
    "      from the newest (0 if none) and appends one event expecting exactly that version\n"
    "      (the append of append-throughput --exact). On a wrong version it counts a\n"
    "      conflict and reads and appends again (at most R retries, default 50). Latency:\n"
    "      the whole command, and each read apart. Each writer first runs --warmup untimed\n"
    "      commands (default 1) on <P>warmup-<n>. Ends with a check of the streams.\n"
    "\n"
    "Options of the commands that write:\n"
    "  --data-bytes N      JSON data per event, about N bytes (default 256)\n"
    "  --metadata-bytes N  JSON metadata per event, about N bytes (default 64; 0: none)\n"
    "  --warmup N          untimed calls first (default 20; append-throughput and\n"
    "                      occ-loop: 1 per writer)\n"
    "  --max-errors N      stop after N failed calls (default 100)\n"
    "\n"
    "Global options:\n"
    "  --dsn DSN           libpq connection string (env EVSTORE_PG_DSN; default\n"
    "                      \"host=127.0.0.1 port=$EVSTORE_PG_PORT dbname=evstore user=evstore\",\n"
    "                      the port defaulting to " PGB_DEFAULT_PORT
    ": tests/bench/pg.sh's server)\n"
    "  --timeout-ms N      connect and statement timeout (default 10000)\n"
    "  --label TEXT        copied into the JSON line, to tell runs apart\n"
    "\n"
    "Exit status: 0 when the run completed (even with some failed calls), 1 when it stopped\n"
    "early (--max-errors reached, set-up failed) or a check failed, 2 on bad usage.\n";

/* The commands' names, indexed by pgb_command. */
static const char *const command_names[] = {
    [CMD_APPEND_LATENCY] = "append-latency",
    [CMD_APPEND_THROUGHPUT] = "append-throughput",
    [CMD_READ_LATENCY] = "read-latency",
    [CMD_READ_ALL] = "read-all",
    [CMD_PREFILL] = "prefill",
    [CMD_CHECK] = "check",
    [CMD_OCC_LOOP] = "occ-loop",
};

static char default_dsn[PGB_DSN_MAX];

/* Returns 0, 2 (usage error, reported) or 1 (--help printed: exit 0). */
static int options_parse(int argc, char **argv, pgb_options *o)
{
    memset(o, 0, sizeof *o);
    const char *env_dsn = getenv("EVSTORE_PG_DSN");
    const char *env_port = getenv("EVSTORE_PG_PORT");
    snprintf(default_dsn, sizeof default_dsn, "host=127.0.0.1 port=%s dbname=evstore user=evstore",
             env_port && *env_port ? env_port : PGB_DEFAULT_PORT);
    o->dsn = env_dsn && *env_dsn ? env_dsn : default_dsn;
    o->timeout_ms = 10000;
    o->count = -1;
    o->writers = 1;
    o->streams = -1;
    o->events_per_append = -1;
    o->zipf_s = 1.0;
    o->warmup = -1;
    o->limit = 100;
    o->read_limit = 20;
    o->page = 1000;
    o->events = -1;
    o->data_bytes = 256;
    o->metadata_bytes = 64;
    o->max_errors = 100;
    o->max_retries = 50;
    o->seed = 1;

    int seen[OPT_HELP + 1] = {0};
    int c, command = CMD_NONE;
    long v;
    while ((c = bench_option_next(argc, argv, long_options, OPT_DSN, command_names,
                                  (int)(sizeof command_names / sizeof command_names[0]),
                                  &command)) > 0) {
        seen[c] = 1;
        switch (c) {
        case OPT_DSN:
            if (strlen(optarg) >= PGB_DSN_MAX)
                return bench_usage_error("--dsn takes at most %d characters", PGB_DSN_MAX - 1);
            o->dsn = optarg;
            break;
        case OPT_TIMEOUT:
            if (bench_parse_long("timeout-ms", optarg, 1000, 3600000, &v))
                return 2;
            o->timeout_ms = (int)v;
            break;
        case OPT_LABEL:
            if (bench_parse_label(optarg, o->label, sizeof o->label))
                return 2;
            break;
        case OPT_COUNT:
            if (bench_parse_long("count", optarg, 1, PGB_COUNT_MAX, &o->count))
                return 2;
            break;
        case OPT_STREAM:
            o->stream = optarg;
            break;
        case OPT_WRITERS:
            if (bench_parse_long("writers", optarg, 1, PGB_WRITERS_MAX, &o->writers))
                return 2;
            break;
        case OPT_STREAMS:
            if (bench_parse_long("streams", optarg, 1, PGB_STREAMS_MAX, &o->streams))
                return 2;
            break;
        case OPT_EVENTS_PER_APPEND:
            if (bench_parse_long("events-per-append", optarg, 1, EVS_APPEND_EVENTS_MAX,
                                 &o->events_per_append))
                return 2;
            break;
        case OPT_ZIPF:
            o->zipf = 1;
            break;
        case OPT_ZIPF_S:
            if (bench_parse_zipf_s(optarg, &o->zipf_s))
                return 2;
            o->zipf = 1;
            break;
        case OPT_EXACT:
            o->exact = 1;
            break;
        case OPT_STREAM_PREFIX:
            if (strlen(optarg) > PGB_STREAM_PREFIX_MAX || !bench_stream_chars_ok(optarg))
                return bench_usage_error("--stream-prefix takes at most %d characters of "
                                         "[A-Za-z0-9_.:@-]",
                                         PGB_STREAM_PREFIX_MAX);
            o->stream_prefix = optarg;
            break;
        case OPT_WARMUP:
            if (bench_parse_long("warmup", optarg, 0, 1000000, &o->warmup))
                return 2;
            break;
        case OPT_LIMIT:
            if (bench_parse_long("limit", optarg, 1, EVS_READ_LIMIT_MAX, &o->limit))
                return 2;
            break;
        case OPT_READ_LIMIT:
            if (bench_parse_long("read-limit", optarg, 1, EVS_READ_LIMIT_MAX, &o->read_limit))
                return 2;
            break;
        case OPT_PREPARE:
            o->prepare = 1;
            break;
        case OPT_PAGE:
            if (bench_parse_long("page", optarg, 1, PGB_PAGE_MAX, &o->page))
                return 2;
            break;
        case OPT_EVENTS:
            if (bench_parse_long("events", optarg, 1, PGB_PREFILL_EVENTS_MAX, &o->events))
                return 2;
            break;
        case OPT_DATA_BYTES:
            if (bench_parse_long("data-bytes", optarg, 1, EVS_EVENT_DATA_MAX, &o->data_bytes))
                return 2;
            break;
        case OPT_METADATA_BYTES:
            if (bench_parse_long("metadata-bytes", optarg, 0, EVS_EVENT_METADATA_MAX,
                                 &o->metadata_bytes))
                return 2;
            break;
        case OPT_MAX_ERRORS:
            if (bench_parse_long("max-errors", optarg, 1, PGB_COUNT_MAX, &o->max_errors))
                return 2;
            break;
        case OPT_MAX_RETRIES:
            if (bench_parse_long("max-retries", optarg, 0, 1000000, &o->max_retries))
                return 2;
            break;
        case OPT_SEED:
            if (bench_parse_long("seed", optarg, 0, 0x7fffffffL, &v))
                return 2;
            o->seed = (uint64_t)v;
            break;
        case OPT_PROGRESS:
            o->progress = 1;
            break;
        case OPT_HELP:
            fputs(usage_text, stdout);
            return 1;
        default:
            return bench_usage_error("unknown option \"%s\"", argv[optind - 1]);
        }
    }
    if (c < 0)
        return 2;
    o->command = (pgb_command)command;
    if (o->command == CMD_NONE)
        return bench_usage_error("no command: append-latency, append-throughput, read-latency, "
                                 "read-all, prefill, check or occ-loop");
    if (bench_options_check(seen, OPT_DSN, OPT_HELP, long_options, option_commands, o->command))
        return 2;
    if (o->command == CMD_APPEND_THROUGHPUT && (o->count < 0 || o->streams < 0))
        return bench_usage_error("append-throughput needs --count and --streams");
    if (o->command == CMD_OCC_LOOP && o->count < 0)
        return bench_usage_error("occ-loop needs --count");
    if (o->command == CMD_PREFILL && o->events < 0)
        return bench_usage_error("prefill needs --events");
    if (o->command == CMD_READ_LATENCY && !o->stream)
        return bench_usage_error("read-latency needs --stream");
    if (o->stream && !bench_stream_name_ok(o->stream))
        return bench_usage_error("--stream \"%s\" is not a valid stream name (1..%d characters of "
                                 "[A-Za-z0-9_.:@-])",
                                 o->stream, EVS_STREAM_NAME_MAX);
    if (o->count < 0)
        o->count = o->command == CMD_READ_ALL ? 0 : 1000; /* read-all: 0 = to the end */
    if (o->streams < 0)
        o->streams = 1000;
    if (o->events_per_append < 0)
        o->events_per_append = o->command == CMD_PREFILL ? 100 : 1;
    if (!o->stream_prefix)
        o->stream_prefix = o->command == CMD_PREFILL ? "Fill-"
                           : o->command == CMD_CHECK ? ""
                                                     : "Order-";
    if (o->warmup < 0)
        o->warmup = o->command == CMD_APPEND_THROUGHPUT || o->command == CMD_OCC_LOOP ? 1 : 20;
    /* The longest name made from the prefix: <P>warmup-<writer> or <P><stream number>. */
    if (strlen(o->stream_prefix) + 7 + 20 > EVS_STREAM_NAME_MAX)
        return bench_usage_error("--stream-prefix is too long for the stream names made from it");
    return 0;
}

/* ---- Event ids ------------------------------------------------------------------------- */

/* n fresh random (version 4) UUIDs in text form, from the kernel's generator: event ids
 * must be unique across runs (the table's event_id is UNIQUE), which a seeded generator
 * would not give. 0, or -1 if getrandom failed. */
static int uuids_fill(char (*out)[EVS_UUID_TEXT_LEN + 1], size_t n)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[16 * 16];
    for (size_t done = 0; done < n;) {
        size_t batch = n - done < 16 ? n - done : 16;
        size_t got = 0;
        while (got < batch * 16) {
            ssize_t r = getrandom(raw + got, batch * 16 - got, 0);
            if (r < 0 && errno != EINTR)
                return -1;
            if (r > 0)
                got += (size_t)r;
        }
        for (size_t i = 0; i < batch; i++) {
            unsigned char *b = raw + i * 16;
            b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
            b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
            char *t = out[done + i];
            for (int j = 0, k = 0; j < 16; j++) {
                if (j == 4 || j == 6 || j == 8 || j == 10)
                    t[k++] = '-';
                t[k++] = hex[b[j] >> 4];
                t[k++] = hex[b[j] & 15];
            }
            t[EVS_UUID_TEXT_LEN] = '\0';
        }
        done += batch;
    }
    return 0;
}

/* ---- Output ---------------------------------------------------------------------------- */

/* A JSON string: the text with ", \ and control characters escaped. */
static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

/* The server as a run found it: version, durability settings, the table's size. */
typedef struct server_info {
    char version[64];
    char fsync[16];
    char synchronous_commit[16];
    char full_page_writes[16];
    char wal_sync_method[32];
    char shared_buffers[32];
    int c_collation; /* the database sorts text byte by byte: prefix ranges use the index */
    int64_t table_events;
} server_info;

/* The JSON line's common head (no closing brace). */
static void json_head(const char *bench, const pgb_options *o, const server_info *si)
{
    printf("{\"bench\":\"%s\",\"label\":\"%s\",\"system\":\"postgresql\",\"server_version\":",
           bench, o->label);
    json_string(si->version);
    printf(",\"fsync\":");
    json_string(si->fsync);
    printf(",\"synchronous_commit\":");
    json_string(si->synchronous_commit);
    printf(",\"full_page_writes\":");
    json_string(si->full_page_writes);
    printf(",\"wal_sync_method\":");
    json_string(si->wal_sync_method);
    printf(",\"shared_buffers\":");
    json_string(si->shared_buffers);
    printf(",\"table_events\":%" PRId64, si->table_events);
}

/* ---- Payloads -------------------------------------------------------------------------- */

/* The events of one append, as evs_bench makes them (bench_payload's JSON, bench_common.h),
 * and a fresh event id each. Text is NUL-terminated (libpq text parameters). */
typedef struct payload {
    bench_payload json; /* the data and metadata buffers, room for json.event_count */
    const char **data;
    const char **metadata; /* NULL entries when there is no metadata */
    size_t *data_len, *metadata_len;
    char (*event_ids)[EVS_UUID_TEXT_LEN + 1];
} payload;

static void payload_free(payload *p)
{
    bench_payload_free(&p->json);
    free(p->data);
    free(p->metadata);
    free(p->data_len);
    free(p->metadata_len);
    free(p->event_ids);
    memset(p, 0, sizeof *p);
}

static int payload_init(payload *p, size_t event_count, size_t data_bytes, size_t metadata_bytes)
{
    memset(p, 0, sizeof *p);
    p->data = calloc(event_count, sizeof *p->data);
    p->metadata = calloc(event_count, sizeof *p->metadata);
    p->data_len = calloc(event_count, sizeof *p->data_len);
    p->metadata_len = calloc(event_count, sizeof *p->metadata_len);
    p->event_ids = calloc(event_count, sizeof *p->event_ids);
    if (!p->data || !p->metadata || !p->data_len || !p->metadata_len || !p->event_ids ||
        bench_payload_init(&p->json, event_count, data_bytes, metadata_bytes) != 0) {
        payload_free(p);
        return -1;
    }
    return 0;
}

/* Fills the first count events for append number serial (the same JSON as evs_bench's) and
 * gives them fresh ids. 0, or -1 if no random bytes could be had. */
static int payload_fill(payload *p, size_t count, uint64_t serial, uint64_t *rng)
{
    assert(count <= p->json.event_count);
    for (size_t i = 0; i < count; i++) {
        bench_event_json json;
        bench_payload_fill(&p->json, i, serial, rng, &json);
        p->data[i] = json.data;
        p->data_len[i] = json.data_len;
        p->metadata[i] = json.metadata;
        p->metadata_len[i] = json.metadata_len;
    }
    return uuids_fill(p->event_ids, count);
}

/* ---- Connections ----------------------------------------------------------------------- */

/* One connection and what it has prepared. Used by one thread at a time (libpq's rule). */
typedef struct session {
    PGconn *conn;
    const pgb_options *o;
    long shapes[PGB_SHAPES_MAX]; /* events per append of the prepared INSERTs "ins_<n>" */
    int shape_count;
    const char **params; /* 2 + 4 * EVS_APPEND_EVENTS_MAX parameter values */
} session;

/* The message of a failed result or connection, on one line: "SQLSTATE: text". */
static void result_message(const PGresult *r, PGconn *c, char *msg, size_t len)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *text = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!text || !*text)
        text = r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r) : PQerrorMessage(c);
    if (!text || !*text)
        text = "no message (the connection was lost?)";
    snprintf(msg, len, "%s%s%s", state ? state : "", state ? ": " : "", text);
    /* libpq's messages span lines, indented with tabs: one line, single spaces. */
    size_t n = 0;
    for (const char *ch = msg; *ch; ch++) {
        char c1 = (*ch == '\n' || *ch == '\r' || *ch == '\t') ? ' ' : *ch;
        if (c1 != ' ' || (n && msg[n - 1] != ' '))
            msg[n++] = c1;
    }
    msg[n] = '\0';
    while (n && msg[n - 1] == ' ')
        msg[--n] = '\0';
}

static unsigned slot_of(const PGresult *r, PGconn *c)
{
    if (PQstatus(c) != CONNECTION_OK)
        return SLOT_UNAVAILABLE;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (state && !strcmp(state, "57014"))
        return SLOT_TIMEOUT;
    if (state && !strncmp(state, "08", 2)) /* connection exception */
        return SLOT_UNAVAILABLE;
    return SLOT_OTHER;
}

/* Runs a statement that returns no rows outside pipeline mode. */
static int exec_command(PGconn *c, const char *sql, char *msg, size_t len)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        result_message(r, c, msg, len);
    PQclear(r);
    return ok ? 0 : -1;
}

static int prepare(PGconn *c, const char *name, const char *sql, int params, char *msg, size_t len)
{
    PGresult *r = PQprepare(c, name, sql, params, NULL);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        result_message(r, c, msg, len);
    PQclear(r);
    return ok ? 0 : -1;
}

/* The columns every read returns: the whole event. */
#define PGB_COLUMNS                                                                                \
    "global_position, stream_id, version, event_id, event_type, data, metadata, created_at"

static int session_setup(session *s, char *msg, size_t len)
{
    char sql[128];
    s->shape_count = 0;
    snprintf(sql, sizeof sql, "SET statement_timeout = %d", s->o->timeout_ms);
    if (exec_command(s->conn, sql, msg, len) != 0)
        return -1;
    if (prepare(s->conn, "cur",
                "SELECT coalesce(max(version), 0) FROM " PGB_TABLE " WHERE stream_id = $1::text", 1,
                msg, len) != 0 ||
        prepare(s->conn, "read",
                "SELECT " PGB_COLUMNS " FROM " PGB_TABLE " WHERE stream_id = $1::text"
                " ORDER BY version LIMIT $2::bigint",
                2, msg, len) != 0 ||
        prepare(s->conn, "tail",
                "SELECT " PGB_COLUMNS " FROM " PGB_TABLE " WHERE stream_id = $1::text"
                " ORDER BY version DESC LIMIT $2::bigint",
                2, msg, len) != 0 ||
        prepare(s->conn, "page",
                "SELECT " PGB_COLUMNS " FROM " PGB_TABLE " WHERE global_position > $1::bigint"
                " ORDER BY global_position LIMIT $2::bigint",
                2, msg, len) != 0) {
        if (strstr(msg, "42P01")) /* undefined_table */
            snprintf(msg, len,
                     "the table " PGB_TABLE " does not exist (bash tests/bench/pg.sh start or "
                     "reset creates it)");
        return -1;
    }
    return 0;
}

/* Connects with the DSN (which wins over the defaults given here) and prepares. */
static int session_connect(session *s, char *msg, size_t len)
{
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", (s->o->timeout_ms + 999) / 1000);
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *values[] = {timeout, "pg_bench", s->o->dsn, NULL};
    s->conn = PQconnectdbParams(keys, values, 1);
    if (!s->conn) {
        snprintf(msg, len, "out of memory");
        return -1;
    }
    if (PQstatus(s->conn) != CONNECTION_OK) {
        snprintf(msg, len, "cannot connect with \"%s\": ", s->o->dsn);
        size_t n = strlen(msg);
        result_message(NULL, s->conn, msg + n, len - n);
        strncat(msg, " (is the server up? bash tests/bench/pg.sh start)", len - strlen(msg) - 1);
        return -1;
    }
    return session_setup(s, msg, len);
}

static int session_open(const pgb_options *o, session *s, char *msg, size_t len)
{
    memset(s, 0, sizeof *s);
    s->o = o;
    s->params = calloc(2 + 4 * (size_t)EVS_APPEND_EVENTS_MAX, sizeof *s->params);
    if (!s->params) {
        snprintf(msg, len, "out of memory");
        return -1;
    }
    return session_connect(s, msg, len);
}

static void session_close(session *s)
{
    if (s->conn)
        PQfinish(s->conn);
    free(s->params);
    memset(s, 0, sizeof *s);
}

/* After the connection failed: a new one, prepared again. */
static int session_reconnect(session *s, char *msg, size_t len)
{
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
    return session_connect(s, msg, len);
}

/* Prepares "ins_<count>" if this connection has not: one INSERT of count rows,
 *   ($1, $2 + i, $(3+4i)::uuid, $(4+4i), $(5+4i)::jsonb, $(6+4i)::jsonb)
 * $1 the stream, $2 the first version; the rest per event. */
static int ensure_insert(session *s, long count, char *name, size_t name_len, char *msg, size_t len)
{
    snprintf(name, name_len, "ins_%ld", count);
    for (int i = 0; i < s->shape_count; i++)
        if (s->shapes[i] == count)
            return 0;
    if (s->shape_count == PGB_SHAPES_MAX) {
        snprintf(msg, len, "more than %d append sizes on one connection", PGB_SHAPES_MAX);
        return -1;
    }
    size_t cap = 160 + (size_t)count * 96;
    char *sql = malloc(cap);
    if (!sql) {
        snprintf(msg, len, "out of memory");
        return -1;
    }
    size_t n = (size_t)snprintf(sql, cap,
                                "INSERT INTO " PGB_TABLE " (stream_id, version, event_id, "
                                "event_type, data, metadata) VALUES ");
    for (long i = 0; i < count; i++) {
        long p = 3 + 4 * i;
        n += (size_t)snprintf(sql + n, cap - n,
                              "%s($1::text, $2::bigint + %ld, $%ld::uuid, $%ld::text, $%ld::jsonb, "
                              "$%ld::jsonb)",
                              i ? ", " : "", i, p, p + 1, p + 2, p + 3);
        assert(n < cap);
    }
    int rc = prepare(s->conn, name, sql, (int)(2 + 4 * count), msg, len);
    free(sql);
    if (rc == 0)
        s->shapes[s->shape_count++] = count;
    return rc;
}

/* The stream's current version (0 if it has no events), outside a transaction. */
static int stream_version(session *s, const char *stream, int64_t *version, char *msg, size_t len)
{
    PGresult *r = PQexecPrepared(s->conn, "cur", 1, &stream, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (ok)
        *version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        result_message(r, s->conn, msg, len);
    PQclear(r);
    return ok ? 0 : -1;
}

static int server_info_read(session *s, server_info *si, char *msg, size_t len)
{
    memset(si, 0, sizeof *si);
    PGresult *r =
        PQexec(s->conn, "SELECT current_setting('server_version'), "
                        "current_setting('fsync'), current_setting('synchronous_commit'), "
                        "current_setting('full_page_writes'), "
                        "current_setting('wal_sync_method'), "
                        "current_setting('shared_buffers'), "
                        "(SELECT datcollate IN ('C', 'POSIX') FROM pg_database "
                        "WHERE datname = current_database()), "
                        "(SELECT count(*) FROM " PGB_TABLE ")");
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (ok) {
        /* "15.18 (Debian 15.18-0+deb12u1)": the number is enough for the report. */
        snprintf(si->version, sizeof si->version, "%.*s", (int)strcspn(PQgetvalue(r, 0, 0), " "),
                 PQgetvalue(r, 0, 0));
        snprintf(si->fsync, sizeof si->fsync, "%s", PQgetvalue(r, 0, 1));
        snprintf(si->synchronous_commit, sizeof si->synchronous_commit, "%s", PQgetvalue(r, 0, 2));
        snprintf(si->full_page_writes, sizeof si->full_page_writes, "%s", PQgetvalue(r, 0, 3));
        snprintf(si->wal_sync_method, sizeof si->wal_sync_method, "%s", PQgetvalue(r, 0, 4));
        snprintf(si->shared_buffers, sizeof si->shared_buffers, "%s", PQgetvalue(r, 0, 5));
        si->c_collation = !strcmp(PQgetvalue(r, 0, 6), "t");
        si->table_events = strtoll(PQgetvalue(r, 0, 7), NULL, 10);
    } else {
        result_message(r, s->conn, msg, len);
    }
    PQclear(r);
    return ok ? 0 : -1;
}

static void server_info_print(const server_info *si)
{
    printf("  server: PostgreSQL %s, fsync=%s, synchronous_commit=%s, full_page_writes=%s, "
           "wal_sync_method=%s, shared_buffers=%s; %s holds %" PRId64 " events\n",
           si->version, si->fsync, si->synchronous_commit, si->full_page_writes,
           si->wal_sync_method, si->shared_buffers, PGB_TABLE, si->table_events);
    if (strcmp(si->fsync, "on") || strcmp(si->synchronous_commit, "on") ||
        strcmp(si->full_page_writes, "on"))
        printf("  WARNING: the server does not flush every commit to disk: not comparable with "
               "a durable store (tests/bench/pg.sh sets all three on)\n");
}

/* The benchmark's first connection: opened, and the server described. */
static int main_session_open(const pgb_options *o, session *s, server_info *si)
{
    char msg[PGB_MESSAGE_MAX];
    if (session_open(o, s, msg, sizeof msg) != 0 || server_info_read(s, si, msg, sizeof msg) != 0) {
        fprintf(stderr, "pg_bench: %s\n", msg);
        return -1;
    }
    return 0;
}

/* ---- Checks ------------------------------------------------------------------------------ */

typedef struct check_result {
    int64_t streams;     /* streams with a matching name */
    int64_t events;      /* their events */
    int64_t bad_streams; /* streams whose versions are not exactly 1..n */
    char first_bad[EVS_STREAM_NAME_MAX + 1];
} check_result;

/* Counts the streams named <prefix>* (one stream: exactly that name) and their events, and
 * finds those whose versions are not 1..n. With (stream_id, version) unique, min = 1 and
 * max = count is exactly "1..n without a gap". Under a byte-order collation the prefix is an
 * index range; otherwise starts_with() alone, a full scan. */
static int check_streams(session *s, const server_info *si, const char *name, int exact_name,
                         check_result *out, char *msg, size_t len)
{
    char upper[PGB_STREAM_PREFIX_MAX + 2];
    const char *where;
    const char *values[2] = {name, upper};
    int nparams = 1;
    size_t n = strlen(name);
    memset(out, 0, sizeof *out);
    if (exact_name) {
        where = "stream_id = $1::text";
    } else if (n == 0) {
        where = "$1::text = ''";
    } else if (si->c_collation) {
        /* Names are ASCII without DEL (bench_stream_chars_ok), so the next byte exists. */
        assert(n <= PGB_STREAM_PREFIX_MAX);
        memcpy(upper, name, n + 1);
        upper[n - 1] = (char)(upper[n - 1] + 1);
        where = "stream_id >= $1::text AND stream_id < $2::text AND starts_with(stream_id, $1)";
        nparams = 2;
    } else {
        where = "starts_with(stream_id, $1::text)";
    }
    char sql[640];
    snprintf(sql, sizeof sql,
             "SELECT count(*), coalesce(sum(n), 0), count(*) FILTER (WHERE lo <> 1 OR hi <> n), "
             "coalesce(min(stream_id) FILTER (WHERE lo <> 1 OR hi <> n), '') "
             "FROM (SELECT stream_id, count(*) AS n, min(version) AS lo, max(version) AS hi "
             "FROM " PGB_TABLE " WHERE %s GROUP BY stream_id) AS s",
             where);
    PGresult *r = PQexecParams(s->conn, sql, nparams, NULL, values, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (ok) {
        out->streams = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        out->events = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
        out->bad_streams = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
        snprintf(out->first_bad, sizeof out->first_bad, "%s", PQgetvalue(r, 0, 3));
    } else {
        result_message(r, s->conn, msg, len);
    }
    PQclear(r);
    return ok ? 0 : -1;
}

/* ---- An append ------------------------------------------------------------------------- */

/* Reads the results of the n statements sent since the last sync and the sync itself.
 * res[i] gets statement i's result (the caller clears them; NULL if none came). Returns 0,
 * or -1 if the connection failed or the results did not match what was sent. Does not rely
 * on the exact pattern of NULLs between results: it reads until the sync. */
static int pipe_read(PGconn *c, PGresult **res, int n)
{
    int got = 0, nulls = 0;
    for (int i = 0; i < n; i++)
        res[i] = NULL;
    for (;;) {
        PGresult *r = PQgetResult(c);
        if (!r) {
            if (PQstatus(c) != CONNECTION_OK || ++nulls > n + 1)
                return -1;
            continue;
        }
        if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            return got == n && PQstatus(c) == CONNECTION_OK ? 0 : -1;
        }
        if (PQresultStatus(r) == PGRES_FATAL_ERROR && PQstatus(c) != CONNECTION_OK) {
            /* The connection is gone: keep the message for the caller, no sync will come. */
            if (got < n)
                res[got++] = r;
            else
                PQclear(r);
            return -1;
        }
        nulls = 0;
        if (got < n)
            res[got++] = r;
        else
            PQclear(r);
    }
}

static void results_clear(PGresult **res, int n)
{
    for (int i = 0; i < n; i++) {
        PQclear(res[i]);
        res[i] = NULL;
    }
}

typedef enum attempt {
    ATTEMPT_OK,
    ATTEMPT_WRONG_VERSION, /* expectation not met, or a concurrent insert won (conflict) */
    ATTEMPT_FAILED,
} attempt;

typedef struct outcome {
    int64_t current; /* ATTEMPT_WRONG_VERSION: the stream's version (-1: not read) */
    int64_t last;    /* ATTEMPT_OK: the last version written */
    int conflict;    /* ATTEMPT_WRONG_VERSION from a unique violation */
    unsigned slot;   /* ATTEMPT_FAILED: the error slot */
    char message[PGB_MESSAGE_MAX];
} outcome;

/* Ends the failed or refused transaction: ROLLBACK, and with want_current the stream's
 * version after it (in the same round trip). */
static int pipe_rollback(session *s, const char *stream, int want_current, int64_t *current,
                         outcome *out)
{
    PGresult *res[2];
    int n = want_current ? 2 : 1;
    int sent = PQsendQueryParams(s->conn, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0) &&
               (!want_current || PQsendQueryPrepared(s->conn, "cur", 1, &stream, NULL, NULL, 0)) &&
               PQpipelineSync(s->conn);
    if (!sent || pipe_read(s->conn, res, n) != 0) {
        if (out) {
            out->slot = SLOT_UNAVAILABLE;
            result_message(sent ? res[0] : NULL, s->conn, out->message, sizeof out->message);
        }
        if (sent)
            results_clear(res, n);
        return -1;
    }
    int ok = PQresultStatus(res[0]) == PGRES_COMMAND_OK;
    if (ok && want_current) {
        ok = PQresultStatus(res[1]) == PGRES_TUPLES_OK && PQntuples(res[1]) == 1;
        if (ok)
            *current = strtoll(PQgetvalue(res[1], 0, 0), NULL, 10);
    }
    if (!ok && out) {
        PGresult *bad = PQresultStatus(res[0]) != PGRES_COMMAND_OK ? res[0] : res[1];
        out->slot = slot_of(bad, s->conn);
        result_message(bad, s->conn, out->message, sizeof out->message);
    }
    results_clear(res, n);
    return ok ? 0 : -1;
}

/* One attempt at appending the first count events of p to stream, in one transaction (the
 * file's head comment). With exact, the stream must be at version expected. want_current:
 * after a conflict, also read the version the winner left (the answer evstore gives with a
 * wrong expected version). */
static attempt append_once(session *s, const char *stream, int exact, int64_t expected,
                           const payload *p, size_t count, int want_current, outcome *out)
{
    PGconn *c = s->conn;
    PGresult *res[2] = {NULL, NULL};
    char name[32];
    char version_text[24];
    attempt result = ATTEMPT_FAILED;
    out->current = -1;
    out->conflict = 0;
    out->slot = SLOT_OTHER;
    out->message[0] = '\0';

    if (ensure_insert(s, (long)count, name, sizeof name, out->message, sizeof out->message) != 0) {
        out->slot = slot_of(NULL, c);
        return ATTEMPT_FAILED;
    }
    if (PQenterPipelineMode(c) != 1) {
        out->slot = slot_of(NULL, c);
        result_message(NULL, c, out->message, sizeof out->message);
        return ATTEMPT_FAILED;
    }

    /* Round trip 1: BEGIN and the current version. */
    if (!PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) ||
        !PQsendQueryPrepared(c, "cur", 1, &stream, NULL, NULL, 0) || !PQpipelineSync(c) ||
        pipe_read(c, res, 2) != 0) {
        out->slot = SLOT_UNAVAILABLE; /* nothing was written */
        result_message(res[1] ? res[1] : res[0], c, out->message, sizeof out->message);
        goto done;
    }
    if (PQresultStatus(res[0]) != PGRES_COMMAND_OK || PQresultStatus(res[1]) != PGRES_TUPLES_OK ||
        PQntuples(res[1]) != 1) {
        PGresult *bad = PQresultStatus(res[0]) != PGRES_COMMAND_OK ? res[0] : res[1];
        out->slot = slot_of(bad, c);
        result_message(bad, c, out->message, sizeof out->message);
        pipe_rollback(s, stream, 0, NULL, NULL);
        goto done;
    }
    int64_t current = strtoll(PQgetvalue(res[1], 0, 0), NULL, 10);
    results_clear(res, 2);
    if (exact && current != expected) {
        out->current = current;
        snprintf(out->message, sizeof out->message,
                 "wrong expected version for stream %s: expected %" PRId64
                 ", stream is at %" PRId64,
                 stream, expected, current);
        result =
            pipe_rollback(s, stream, 0, NULL, out) == 0 ? ATTEMPT_WRONG_VERSION : ATTEMPT_FAILED;
        goto done;
    }

    /* Round trip 2: the events, versions current+1..current+count, and COMMIT. */
    const char **v = s->params;
    snprintf(version_text, sizeof version_text, "%" PRId64, current + 1);
    v[0] = stream;
    v[1] = version_text;
    for (size_t i = 0; i < count; i++) {
        v[2 + 4 * i] = p->event_ids[i];
        v[3 + 4 * i] = PGB_EVENT_TYPE;
        v[4 + 4 * i] = p->data[i];
        v[5 + 4 * i] = p->metadata[i]; /* NULL: SQL NULL */
    }
    int sent = PQsendQueryPrepared(c, name, (int)(2 + 4 * count), v, NULL, NULL, 0) &&
               PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) && PQpipelineSync(c);
    if (!sent || pipe_read(c, res, 2) != 0) {
        /* Unless the INSERT itself was refused, the COMMIT may have been carried out. */
        int refused =
            res[0] && PQresultStatus(res[0]) == PGRES_FATAL_ERROR && PQstatus(c) == CONNECTION_OK;
        out->slot = refused ? SLOT_UNAVAILABLE : SLOT_UNKNOWN_OUTCOME;
        result_message(res[1] ? res[1] : res[0], c, out->message, sizeof out->message);
        goto done;
    }
    if (PQresultStatus(res[0]) == PGRES_COMMAND_OK && PQresultStatus(res[1]) == PGRES_COMMAND_OK &&
        !strcmp(PQcmdStatus(res[1]), "COMMIT")) {
        out->last = current + (int64_t)count;
        result = ATTEMPT_OK;
        goto done;
    }
    if (PQresultStatus(res[0]) == PGRES_FATAL_ERROR) {
        const char *state = PQresultErrorField(res[0], PG_DIAG_SQLSTATE);
        const char *constraint = PQresultErrorField(res[0], PG_DIAG_CONSTRAINT_NAME);
        if (state && !strcmp(state, "23505") && constraint &&
            !strcmp(constraint, PGB_VERSION_CONSTRAINT)) {
            /* A concurrent append to the stream committed version current+1 first. */
            out->conflict = 1;
            int64_t now_version = -1;
            if (pipe_rollback(s, stream, want_current, &now_version, out) == 0) {
                out->current = now_version;
                snprintf(out->message, sizeof out->message,
                         "wrong expected version for stream %s: a concurrent append wrote "
                         "version %" PRId64 " first",
                         stream, current + 1);
                result = ATTEMPT_WRONG_VERSION;
            }
            goto done;
        }
        out->slot = slot_of(res[0], c);
        result_message(res[0], c, out->message, sizeof out->message);
    } else {
        /* The INSERT succeeded but COMMIT failed or rolled back: nothing was stored. */
        out->slot = slot_of(res[1], c);
        result_message(res[1], c, out->message, sizeof out->message);
        if (!out->message[0])
            snprintf(out->message, sizeof out->message, "COMMIT answered %s", PQcmdStatus(res[1]));
    }
    if (PQtransactionStatus(c) != PQTRANS_IDLE)
        pipe_rollback(s, stream, 0, NULL, NULL);
done:
    results_clear(res, 2);
    if (PQstatus(c) == CONNECTION_OK)
        PQexitPipelineMode(c);
    return result;
}

/* ---- append-latency -------------------------------------------------------------------- */

/* What an append run leaves behind, checked: the stream(s) gapless, and the table grown by
 * exactly the acknowledged events (or by up to `unknown` more, appends whose COMMIT outcome
 * was lost with the connection). Prints the verdict; returns 1 if it holds. */
static int check_growth(session *s, const server_info *si, const char *name, int exact_name,
                        int64_t before, uint64_t acknowledged, uint64_t unknown_events,
                        check_result *after)
{
    char msg[PGB_MESSAGE_MAX];
    memset(after, 0, sizeof *after);
    /* The run may have cost this idle connection too (a server restart), which libpq only
     * notices when it is used: then once more on a new one. */
    int rc = check_streams(s, si, name, exact_name, after, msg, sizeof msg);
    if (rc != 0 && PQstatus(s->conn) != CONNECTION_OK && session_reconnect(s, msg, sizeof msg) == 0)
        rc = check_streams(s, si, name, exact_name, after, msg, sizeof msg);
    if (rc != 0) {
        printf("  check: FAILED to run: %s\n", msg);
        return 0;
    }
    int64_t grown = after->events - before;
    int ok = after->bad_streams == 0 && grown >= (int64_t)acknowledged &&
             grown <= (int64_t)(acknowledged + unknown_events);
    if (ok && !unknown_events)
        printf("  check: ok: %" PRId64 " streams %s%s, %" PRId64 " events, every one's versions "
               "1..n; the table grew by the %" PRIu64 " events acknowledged\n",
               after->streams, name, exact_name ? "" : "*", after->events, acknowledged);
    else if (ok)
        printf("  check: ok: %" PRId64 " streams %s%s, %" PRId64 " events, every one's versions "
               "1..n; the table grew by the %" PRIu64 " events acknowledged and %" PRId64
               " of the %" PRIu64 " whose outcome was lost with the connection\n",
               after->streams, name, exact_name ? "" : "*", after->events, acknowledged,
               grown - (int64_t)acknowledged, unknown_events);
    else
        printf("  check: FAILED: %" PRId64 " of %" PRId64 " streams %s%s have versions that are "
               "not 1..n%s%s; the table grew by %" PRId64 " events, %" PRIu64
               " were acknowledged (%" PRIu64 " more unknown)\n",
               after->bad_streams, after->streams, name, exact_name ? "" : "*",
               after->bad_streams ? ", the first: " : "", after->first_bad, grown, acknowledged,
               unknown_events);
    return ok;
}

static int run_append_latency(const pgb_options *o)
{
    int status = 1;
    char default_stream[64];
    char msg[PGB_MESSAGE_MAX];
    session s = {0};
    server_info si;
    bench_histogram *h = malloc(sizeof *h);
    bench_errors *errors = calloc(1, sizeof *errors);
    payload p = {0};
    uint64_t rng = o->seed ^ UINT64_C(0x5eed);
    outcome out;

    snprintf(default_stream, sizeof default_stream, "Bench-latency-%ld", (long)getpid());
    const char *stream = o->stream ? o->stream : default_stream;
    if (!h || !errors || payload_init(&p, 1, (size_t)o->data_bytes, (size_t)o->metadata_bytes)) {
        fprintf(stderr, "pg_bench: out of memory\n");
        goto done;
    }
    bench_histogram_init(h);
    if (main_session_open(o, &s, &si) != 0)
        goto done;
    check_result before;
    if (check_streams(&s, &si, stream, 1, &before, msg, sizeof msg) != 0) {
        fprintf(stderr, "pg_bench: cannot read stream %s: %s\n", stream, msg);
        goto done;
    }
    int64_t version;
    if (stream_version(&s, stream, &version, msg, sizeof msg) != 0) {
        fprintf(stderr, "pg_bench: cannot read stream %s: %s\n", stream, msg);
        goto done;
    }
    printf("append-latency: stream %s (at version %" PRId64 "), %ld warm-up + %ld timed appends"
           " of 1 event (%ld B data, %ld B metadata), exact expected versions\n",
           stream, version, o->warmup, o->count, o->data_bytes, o->metadata_bytes);
    server_info_print(&si);
    fflush(stdout);

    uint64_t serial = 0, warm_ok = 0, ok = 0, failed = 0, unknown = 0;
    uint64_t started = 0;
    for (long i = -o->warmup; i < o->count; i++) {
        if (i == 0) {
            memset(errors, 0, sizeof *errors);
            started = bench_now_us();
        }
        if (payload_fill(&p, 1, serial++, &rng) != 0) {
            fprintf(stderr, "pg_bench: getrandom failed\n");
            goto done;
        }
        uint64_t t0 = bench_now_us();
        attempt a = append_once(&s, stream, 1, version, &p, 1, 1, &out);
        uint64_t t1 = bench_now_us();
        if (a == ATTEMPT_OK) {
            version = out.last;
            if (i < 0) {
                warm_ok++;
            } else {
                bench_histogram_record(h, t1 - t0);
                ok++;
            }
            continue;
        }
        if (i < 0 && a == ATTEMPT_FAILED) {
            fprintf(stderr, "pg_bench: a warm-up append failed: %s\n", out.message);
            goto done;
        }
        /* A lone writer should never see a wrong version: count it as the error it is. */
        bench_errors_add(errors, a == ATTEMPT_WRONG_VERSION ? SLOT_WRONG_VERSION : out.slot,
                         out.message);
        unknown += a == ATTEMPT_FAILED && out.slot == SLOT_UNKNOWN_OUTCOME;
        if (PQstatus(s.conn) != CONNECTION_OK && session_reconnect(&s, msg, sizeof msg) != 0)
            bench_errors_add(errors, SLOT_UNAVAILABLE, msg);
        if (out.current >= 0)
            version = out.current;
        else if (PQstatus(s.conn) == CONNECTION_OK)
            stream_version(&s, stream, &version, msg, sizeof msg);
        if (i >= 0 && ++failed >= (uint64_t)o->max_errors) {
            fprintf(stderr, "pg_bench: stopping after %" PRIu64 " failed appends\n", failed);
            break;
        }
    }
    double seconds = (double)(bench_now_us() - started) / 1e6;
    int completed = failed < (uint64_t)o->max_errors;

    printf("append-latency: %" PRIu64 " appends in %.2f s: %.0f appends/s (one at a time), "
           "stream now at version %" PRId64 "%s\n",
           ok, seconds, (double)ok / seconds, version, completed ? "" : " (STOPPED EARLY)");
    bench_latency_print("append", h);
    bench_errors_print(errors, slot_names);
    check_result after;
    int checked = check_growth(&s, &si, stream, 1, before.events, ok + warm_ok, unknown, &after);
    json_head("append-latency", o, &si);
    printf(",\"stream\":\"%s\",\"writers\":1,\"connections\":1,\"streams\":1,"
           "\"expectation\":\"exact\",\"events_per_append\":1,\"data_bytes\":%ld,"
           "\"metadata_bytes\":%ld,\"appends\":%" PRIu64 ",\"events\":%" PRIu64
           ",\"seconds\":%.3f,\"appends_per_s\":%.1f,\"events_per_s\":%.1f,\"conflicts\":0",
           stream, o->data_bytes, o->metadata_bytes, ok, ok, seconds, (double)ok / seconds,
           (double)ok / seconds);
    bench_latency_json("", h);
    bench_errors_json(errors, slot_names);
    printf(",\"check\":\"%s\",\"completed\":%s}\n", checked ? "ok" : "failed",
           completed ? "true" : "false");
    status = completed && checked ? 0 : 1;
done:
    session_close(&s);
    payload_free(&p);
    free(h);
    free(errors);
    return status;
}

/* ---- append-throughput ----------------------------------------------------------------- */

typedef struct throughput_run throughput_run;

typedef struct writer {
    long index;
    throughput_run *run;
    session session;
    bench_histogram histogram;
    bench_errors errors;
    uint64_t appends, events, unknown_events, warmup_events;
    uint64_t conflicts;        /* attempts refused and retried */
    uint64_t conflicts_insert; /* of them, a concurrent insert of the version (23505) */
    int setup_failed;
} writer;

struct throughput_run {
    const pgb_options *o;
    bench_run calls;            /* the appends: claimed, failed (--max-errors), finished */
    _Atomic uint64_t *versions; /* --exact: the highest version seen per stream */
    double *zipf_cdf;           /* --zipf: cumulative probabilities of ranks 1..K */
};

static void *writer_main(void *arg)
{
    writer *w = arg;
    throughput_run *run = w->run;
    const pgb_options *o = run->o;
    uint64_t rng = o->seed * UINT64_C(0x100000001b3) + (uint64_t)w->index;
    char stream[EVS_STREAM_NAME_MAX + 1];
    char msg[PGB_MESSAGE_MAX];
    size_t epa = (size_t)o->events_per_append;
    payload p = {0};
    outcome out;

    bench_histogram_init(&w->histogram);
    if (payload_init(&p, epa, (size_t)o->data_bytes, (size_t)o->metadata_bytes) != 0) {
        fprintf(stderr, "pg_bench: writer %ld: out of memory\n", w->index);
        w->setup_failed = 1;
    } else if (session_open(o, &w->session, msg, sizeof msg) != 0) {
        fprintf(stderr, "pg_bench: writer %ld: %s\n", w->index, msg);
        w->setup_failed = 1;
    }
    /* Warm-up, untimed: the connection's first statements, the INSERT's first plan. */
    snprintf(stream, sizeof stream, "%swarmup-%ld", o->stream_prefix, w->index + 1);
    for (long i = 0; i < o->warmup && !w->setup_failed; i++) {
        attempt a = ATTEMPT_FAILED;
        if (payload_fill(&p, epa, (uint64_t)i, &rng) == 0) {
            for (long tries = 0; tries <= o->max_retries; tries++)
                if ((a = append_once(&w->session, stream, 0, 0, &p, epa, 0, &out)) !=
                    ATTEMPT_WRONG_VERSION)
                    break;
        } else {
            snprintf(out.message, sizeof out.message, "getrandom failed");
        }
        if (a == ATTEMPT_OK) {
            w->warmup_events += epa;
        } else {
            fprintf(stderr, "pg_bench: writer %ld: the warm-up append to %s failed: %s\n", w->index,
                    stream, out.message);
            w->setup_failed = 1;
        }
    }
    bench_run_ready(&run->calls, w->setup_failed);

    long serial;
    while ((serial = bench_run_claim(&run->calls)) >= 0) {
        long k = bench_stream_pick(run->zipf_cdf, o->streams, &rng);
        snprintf(stream, sizeof stream, "%s%ld", o->stream_prefix, k + 1);
        if (payload_fill(&p, epa, (uint64_t)serial, &rng) != 0) {
            bench_errors_add(&w->errors, SLOT_OTHER, "getrandom failed");
            bench_run_stop(&run->calls);
            break;
        }
        attempt a;
        long attempts = 0;
        uint64_t t0 = bench_now_us();
        for (;;) {
            int64_t expected = o->exact ? (int64_t)atomic_load(&run->versions[k]) : 0;
            a = append_once(&w->session, stream, o->exact, expected, &p, epa, o->exact, &out);
            if (a == ATTEMPT_OK) {
                if (o->exact)
                    bench_version_raise(&run->versions[k], (uint64_t)out.last);
                break;
            }
            if (a != ATTEMPT_WRONG_VERSION || attempts >= o->max_retries)
                break;
            w->conflicts++;
            w->conflicts_insert += (uint64_t)out.conflict;
            attempts++;
            if (o->exact && out.current >= 0)
                bench_version_raise(&run->versions[k], (uint64_t)out.current);
        }
        uint64_t t1 = bench_now_us();
        if (a == ATTEMPT_OK) {
            bench_histogram_record(&w->histogram, t1 - t0);
            w->appends++;
            w->events += epa;
        } else {
            bench_errors_add(&w->errors, a == ATTEMPT_WRONG_VERSION ? SLOT_WRONG_VERSION : out.slot,
                             out.message);
            if (a == ATTEMPT_FAILED && out.slot == SLOT_UNKNOWN_OUTCOME)
                w->unknown_events += epa;
            if (PQstatus(w->session.conn) != CONNECTION_OK &&
                session_reconnect(&w->session, msg, sizeof msg) != 0)
                bench_errors_add(&w->errors, SLOT_UNAVAILABLE, msg);
        }
        bench_run_call_done(&run->calls, a != ATTEMPT_OK);
    }
    bench_run_writer_done(&run->calls);
    payload_free(&p);
    return NULL;
}

static int run_append_throughput(const pgb_options *o)
{
    int status = 1;
    long w_count = o->writers;
    writer *writers = calloc((size_t)w_count, sizeof *writers);
    session s = {0};
    server_info si;
    bench_histogram *h = malloc(sizeof *h);
    bench_errors *errors = calloc(1, sizeof *errors);
    throughput_run run;
    int barrier_ready = 0;
    char msg[PGB_MESSAGE_MAX];

    memset(&run, 0, sizeof run);
    run.o = o;
    if (!writers || !h || !errors) {
        fprintf(stderr, "pg_bench: out of memory\n");
        goto done;
    }
    if (o->exact && !(run.versions = calloc((size_t)o->streams, sizeof *run.versions))) {
        fprintf(stderr, "pg_bench: out of memory\n");
        goto done;
    }
    if (o->zipf && !(run.zipf_cdf = bench_zipf_cdf_new(o->streams, o->zipf_s))) {
        fprintf(stderr, "pg_bench: out of memory\n");
        goto done;
    }
    if (main_session_open(o, &s, &si) != 0)
        goto done;
    /* The streams' events before the run (the warm-up streams share the prefix). */
    check_result before;
    if (check_streams(&s, &si, o->stream_prefix, 0, &before, msg, sizeof msg) != 0) {
        fprintf(stderr, "pg_bench: cannot count the streams %s*: %s\n", o->stream_prefix, msg);
        goto done;
    }
    printf("append-throughput: %ld writers (one connection each), %ld appends of %ld event(s) "
           "(%ld B data, %ld B metadata each) to %ld streams %s1..%s%ld (%s), expectation %s\n",
           w_count, o->count, o->events_per_append, o->data_bytes, o->metadata_bytes, o->streams,
           o->stream_prefix, o->stream_prefix, o->streams, o->zipf ? "zipf" : "uniform",
           o->exact ? "exact version (retried on conflict)" : "any (retried on conflict)");
    server_info_print(&si);
    fflush(stdout);

    if (bench_run_init(&run.calls, w_count, o->count, o->max_errors) != 0) {
        fprintf(stderr, "pg_bench: cannot create a barrier\n");
        goto done;
    }
    barrier_ready = 1;
    for (long i = 0; i < w_count; i++) {
        writers[i].index = i;
        writers[i].run = &run;
    }
    bench_run_start(&run.calls, writer_main, writers, sizeof *writers);
    double seconds = bench_run_wait(&run.calls, o->progress, "appends");
    bench_run_join(&run.calls);

    bench_histogram_init(h);
    uint64_t appends = 0, events = 0, conflicts = 0, conflicts_insert = 0, unknown_events = 0,
             warmup_events = 0;
    int setup_failed = 0;
    for (long i = 0; i < w_count; i++) {
        bench_histogram_merge(h, &writers[i].histogram);
        bench_errors_merge(errors, &writers[i].errors);
        appends += writers[i].appends;
        events += writers[i].events;
        conflicts += writers[i].conflicts;
        conflicts_insert += writers[i].conflicts_insert;
        unknown_events += writers[i].unknown_events;
        warmup_events += writers[i].warmup_events;
        setup_failed |= writers[i].setup_failed;
    }
    if (setup_failed)
        goto done;
    int completed = bench_run_completed(&run.calls);
    printf("append-throughput: %" PRIu64 " appends, %" PRIu64 " events in %.2f s: %.0f appends/s, "
           "%.0f events/s%s\n",
           appends, events, seconds, (double)appends / seconds, (double)events / seconds,
           completed ? "" : " (STOPPED EARLY)");
    printf("  conflicts retried: %" PRIu64 " (%.2f per append): %" PRIu64 " a concurrent insert "
           "of the same version, %" PRIu64 " a stale expected version\n",
           conflicts, appends ? (double)conflicts / (double)appends : 0.0, conflicts_insert,
           conflicts - conflicts_insert);
    bench_latency_print("append (incl. retries)", h);
    bench_errors_print(errors, slot_names);
    check_result after;
    int checked = check_growth(&s, &si, o->stream_prefix, 0, before.events, events + warmup_events,
                               unknown_events, &after);
    json_head("append-throughput", o, &si);
    printf(",\"writers\":%ld,\"connections\":%ld,\"streams\":%ld,\"distribution\":\"%s\","
           "\"zipf_s\":%.2f,\"expectation\":\"%s\",\"events_per_append\":%ld,\"data_bytes\":%ld,"
           "\"metadata_bytes\":%ld,\"appends\":%" PRIu64 ",\"events\":%" PRIu64
           ",\"seconds\":%.3f,\"appends_per_s\":%.1f,\"events_per_s\":%.1f,\"conflicts\":%" PRIu64
           ",\"conflicts_insert\":%" PRIu64 ",\"max_retries\":%ld",
           w_count, w_count, o->streams, o->zipf ? "zipf" : "uniform", o->zipf ? o->zipf_s : 0.0,
           o->exact ? "exact" : "any", o->events_per_append, o->data_bytes, o->metadata_bytes,
           appends, events, seconds, (double)appends / seconds, (double)events / seconds, conflicts,
           conflicts_insert, o->max_retries);
    bench_latency_json("", h);
    bench_errors_json(errors, slot_names);
    printf(",\"check\":\"%s\",\"check_streams\":%" PRId64 ",\"check_events\":%" PRId64
           ",\"completed\":%s}\n",
           checked ? "ok" : "failed", after.streams, after.events, completed ? "true" : "false");
    status = completed && checked ? 0 : 1;
done:
    if (barrier_ready) {
        bench_run_join(&run.calls);
        bench_run_destroy(&run.calls);
    }
    if (writers)
        for (long i = 0; i < w_count; i++)
            session_close(&writers[i].session);
    session_close(&s);
    free(run.versions);
    free(run.zipf_cdf);
    free(writers);
    free(h);
    free(errors);
    return status;
}

/* ---- Reads ----------------------------------------------------------------------------- */

static int64_t be64(const char *p)
{
    const unsigned char *b = (const unsigned char *)p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return (int64_t)v;
}

/* One event of a binary-format result, as a client would take it: the fixed-size columns
 * decoded, the text ones pointing into the PGresult (valid until it is cleared). */
typedef struct event_view {
    int64_t position, version, created_us;
    const char *stream, *event_id, *type, *data, *metadata;
    size_t data_len, metadata_len;
} event_view;

/* Decodes row i of a read (PGB_COLUMNS, binary). 0, or -1 if a column has the wrong size. */
static int event_decode(const PGresult *r, int i, event_view *e)
{
    if (PQgetlength(r, i, 0) != 8 || PQgetlength(r, i, 2) != 8 || PQgetlength(r, i, 3) != 16 ||
        PQgetlength(r, i, 7) != 8 || PQgetisnull(r, i, 5) || PQgetlength(r, i, 5) < 1)
        return -1;
    e->position = be64(PQgetvalue(r, i, 0));
    e->stream = PQgetvalue(r, i, 1);
    e->version = be64(PQgetvalue(r, i, 2));
    e->event_id = PQgetvalue(r, i, 3);
    e->type = PQgetvalue(r, i, 4);
    /* jsonb's binary form: a format version byte (1), then the JSON text. */
    const char *data = PQgetvalue(r, i, 5);
    if (data[0] != 1)
        return -1;
    e->data = data + 1;
    e->data_len = (size_t)PQgetlength(r, i, 5) - 1;
    e->metadata = NULL;
    e->metadata_len = 0;
    if (!PQgetisnull(r, i, 6)) {
        const char *metadata = PQgetvalue(r, i, 6);
        if (PQgetlength(r, i, 6) < 1 || metadata[0] != 1)
            return -1;
        e->metadata = metadata + 1;
        e->metadata_len = (size_t)PQgetlength(r, i, 6) - 1;
    }
    e->created_us = be64(PQgetvalue(r, i, 7));
    return 0;
}

/* Writes count events to a stream that has none yet, in appends of at most
 * EVS_APPEND_EVENTS_MAX events. */
static int stream_prepare(const pgb_options *o, session *s, const char *stream, long count)
{
    int rc = 0;
    payload p;
    outcome out;
    uint64_t rng = o->seed ^ UINT64_C(0xbeef);
    int64_t version = 0;
    long chunk = count < EVS_APPEND_EVENTS_MAX ? count : EVS_APPEND_EVENTS_MAX;
    if (payload_init(&p, (size_t)chunk, (size_t)o->data_bytes, (size_t)o->metadata_bytes) != 0)
        return -1;
    for (long written = 0; written < count && rc == 0;) {
        size_t n = (size_t)(count - written < chunk ? count - written : chunk);
        if (payload_fill(&p, n, (uint64_t)written, &rng) != 0 ||
            append_once(s, stream, 1, version, &p, n, 0, &out) != ATTEMPT_OK) {
            fprintf(stderr, "pg_bench: cannot write stream %s: %s\n", stream, out.message);
            rc = -1;
        } else {
            version = out.last;
            written += (long)n;
        }
    }
    payload_free(&p);
    if (rc == 0)
        printf("read-latency: wrote %ld events to %s (--prepare)\n", count, stream);
    return rc;
}

/* One read of the stream's first `limit` events, every column, checked: versions 1, 2, ...
 * of this stream, and expected_rows of them unless that is -1. Returns 0 or an error slot
 * (its message in msg); *rows gets the events read, *bytes their data and metadata bytes. */
static unsigned stream_read(session *s, const char *stream, const char *limit_text,
                            int expected_rows, int *rows_out, size_t *bytes, char *msg, size_t len)
{
    const char *values[2] = {stream, limit_text};
    PGresult *r = PQexecPrepared(s->conn, "read", 2, values, NULL, NULL, 1);
    unsigned slot = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        slot = slot_of(r, s->conn);
        result_message(r, s->conn, msg, len);
        goto done;
    }
    int rows = PQntuples(r);
    *rows_out = rows;
    if (expected_rows >= 0 && rows != expected_rows) {
        slot = SLOT_BAD_ANSWER;
        snprintf(msg, len, "read returned %d events, not %d", rows, expected_rows);
        goto done;
    }
    *bytes = 0;
    for (int i = 0; i < rows; i++) {
        event_view e;
        if (event_decode(r, i, &e) != 0 || e.version != i + 1 || strcmp(e.stream, stream) != 0 ||
            strcmp(e.type, PGB_EVENT_TYPE) != 0) {
            slot = SLOT_BAD_ANSWER;
            snprintf(msg, len, "row %d of the read is not version %d of %s", i, i + 1, stream);
            goto done;
        }
        *bytes += e.data_len + e.metadata_len;
    }
done:
    PQclear(r);
    return slot;
}

static int run_read_latency(const pgb_options *o)
{
    int status = 1;
    session s = {0};
    server_info si;
    bench_histogram *h = malloc(sizeof *h);
    bench_errors *errors = calloc(1, sizeof *errors);
    char msg[PGB_MESSAGE_MAX];
    char limit_text[24];
    const char *stream = o->stream;
    size_t bytes = 0;

    if (!h || !errors) {
        fprintf(stderr, "pg_bench: out of memory\n");
        goto done;
    }
    bench_histogram_init(h);
    if (main_session_open(o, &s, &si) != 0)
        goto done;
    snprintf(limit_text, sizeof limit_text, "%ld", o->limit);
    int expected_rows = 0, rows = 0;
    if (stream_read(&s, stream, limit_text, -1, &expected_rows, &bytes, msg, sizeof msg) != 0) {
        fprintf(stderr, "pg_bench: cannot read stream %s: %s\n", stream, msg);
        goto done;
    }
    if (expected_rows == 0 && o->prepare) {
        if (stream_prepare(o, &s, stream, o->limit) != 0)
            goto done;
        if (stream_read(&s, stream, limit_text, -1, &expected_rows, &bytes, msg, sizeof msg) != 0) {
            fprintf(stderr, "pg_bench: cannot read stream %s: %s\n", stream, msg);
            goto done;
        }
    }
    if (expected_rows == 0) {
        fprintf(stderr, "pg_bench: stream %s has no events (--prepare writes them first)\n",
                stream);
        goto done;
    }
    size_t payload_bytes = bytes;
    printf("read-latency: stream %s, %ld warm-up + %ld timed reads of %d events (limit %ld, "
           "%zu B of data and metadata), every column, binary results\n",
           stream, o->warmup, o->count, expected_rows, o->limit, payload_bytes);
    server_info_print(&si);
    fflush(stdout);

    uint64_t ok = 0, failed = 0;
    uint64_t started = 0;
    for (long i = -o->warmup; i < o->count; i++) {
        if (i == 0)
            started = bench_now_us();
        uint64_t t0 = bench_now_us();
        unsigned slot =
            stream_read(&s, stream, limit_text, expected_rows, &rows, &bytes, msg, sizeof msg);
        uint64_t t1 = bench_now_us();
        if (i < 0) {
            if (slot != 0) {
                fprintf(stderr, "pg_bench: a warm-up read failed: %s\n", msg);
                goto done;
            }
            continue;
        }
        if (slot == 0) {
            bench_histogram_record(h, t1 - t0);
            ok++;
        } else {
            bench_errors_add(errors, slot, msg);
            if (PQstatus(s.conn) != CONNECTION_OK && session_reconnect(&s, msg, sizeof msg) != 0)
                bench_errors_add(errors, SLOT_UNAVAILABLE, msg);
            if (++failed >= (uint64_t)o->max_errors) {
                fprintf(stderr, "pg_bench: stopping after %" PRIu64 " failed reads\n", failed);
                break;
            }
        }
    }
    double seconds = (double)(bench_now_us() - started) / 1e6;
    int completed = failed < (uint64_t)o->max_errors;
    printf("read-latency: %" PRIu64 " reads in %.2f s: %.0f reads/s, %.0f events/s "
           "(one at a time)%s\n",
           ok, seconds, (double)ok / seconds, (double)ok * expected_rows / seconds,
           completed ? "" : " (STOPPED EARLY)");
    bench_latency_print("read", h);
    bench_errors_print(errors, slot_names);
    json_head("read-latency", o, &si);
    printf(",\"mode\":\"libpq-binary\",\"stream\":\"%s\",\"limit\":%ld,\"events_per_read\":%d,"
           "\"payload_bytes\":%zu,\"reads\":%" PRIu64 ",\"seconds\":%.3f,\"reads_per_s\":%.1f,"
           "\"events_per_s\":%.1f",
           stream, o->limit, expected_rows, payload_bytes, ok, seconds, (double)ok / seconds,
           (double)ok * expected_rows / seconds);
    bench_latency_json("", h);
    bench_errors_json(errors, slot_names);
    printf(",\"completed\":%s}\n", completed ? "true" : "false");
    status = completed ? 0 : 1;
done:
    session_close(&s);
    free(h);
    free(errors);
    return status;
}

/* read-all: the table in global_position order, a page at a time. Positions must increase;
 * they may skip (a sequence value taken by a rolled-back append is never used). */
static int run_read_all(const pgb_options *o)
{
    int status = 1;
    session s = {0};
    server_info si;
    bench_histogram *pages_h = malloc(sizeof *pages_h);
    bench_errors *errors = calloc(1, sizeof *errors);
    char msg[PGB_MESSAGE_MAX];

    if (!pages_h || !errors) {
        fprintf(stderr, "pg_bench: out of memory\n");
        goto done;
    }
    bench_histogram_init(pages_h);
    if (main_session_open(o, &s, &si) != 0)
        goto done;
    printf("read-all: %s from global position 1 in pages of %ld (keyset), every column, "
           "binary results\n",
           o->count ? "the table up to --count events" : "the whole table", o->page);
    server_info_print(&si);
    fflush(stdout);

    uint64_t events = 0, bytes = 0, pages = 0, skips = 0, out_of_order = 0;
    int64_t first_position = 0, last_position = 0;
    uint64_t t0 = bench_now_us(), t_first = 0, last_progress = t0;
    const char *ended = "error";
    char after_text[24], page_text[24];
    const char *values[2] = {after_text, page_text};
    for (;;) {
        long want = o->page;
        if (o->count && (uint64_t)o->count - events < (uint64_t)want)
            want = (long)((uint64_t)o->count - events);
        snprintf(after_text, sizeof after_text, "%" PRId64, last_position);
        snprintf(page_text, sizeof page_text, "%ld", want);
        uint64_t p0 = bench_now_us();
        PGresult *r = PQexecPrepared(s.conn, "page", 2, values, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            result_message(r, s.conn, msg, sizeof msg);
            bench_errors_add(errors, slot_of(r, s.conn), msg);
            fprintf(stderr, "pg_bench: a page read failed after %" PRIu64 " events: %s\n", events,
                    msg);
            PQclear(r);
            break;
        }
        int rows = PQntuples(r);
        for (int i = 0; i < rows; i++) {
            event_view e;
            if (event_decode(r, i, &e) != 0) {
                bench_errors_add(errors, SLOT_BAD_ANSWER, "a row with a column of the wrong size");
                continue;
            }
            if (events == 0 && i == 0)
                first_position = e.position;
            else if (e.position <= last_position)
                out_of_order++;
            else if (e.position != last_position + 1)
                skips++;
            last_position = e.position;
            bytes += e.data_len + e.metadata_len;
        }
        uint64_t p1 = bench_now_us();
        PQclear(r);
        if (rows > 0) {
            bench_histogram_record(pages_h, p1 - p0);
            if (!t_first)
                t_first = p1;
            pages++;
        }
        events += (uint64_t)rows;
        if (rows < want) {
            ended = "end";
            break;
        }
        if (o->count && events >= (uint64_t)o->count) {
            ended = "count";
            break;
        }
        if (o->progress && p1 - last_progress >= 5000000) {
            last_progress = p1;
            fprintf(stderr, "pg_bench: %" PRIu64 " events after %.0f s (%.0f events/s)\n", events,
                    (double)(p1 - t0) / 1e6, (double)events / ((double)(p1 - t0) / 1e6));
        }
    }
    double seconds = (double)(bench_now_us() - t0) / 1e6;
    if (out_of_order)
        bench_errors_add(errors, SLOT_BAD_ANSWER, "positions did not increase");
    int completed = strcmp(ended, "error") != 0 && out_of_order == 0;
    printf("read-all: %" PRIu64 " events (positions %" PRId64 "..%" PRId64 "), %.1f MB of data and "
           "metadata, in %.2f s: %.0f events/s, %.1f MB/s; %" PRIu64 " pages; ended by %s%s\n",
           events, first_position, last_position, (double)bytes / 1e6, seconds,
           (double)events / seconds, (double)bytes / 1e6 / seconds, pages,
           !strcmp(ended, "end")     ? "the end of the table"
           : !strcmp(ended, "count") ? "--count"
                                     : "a failure",
           completed ? "" : " (FAILED)");
    printf("  first page after %.1f ms; %" PRIu64 " times a position skipped ahead (sequence "
           "values of rolled-back appends)\n",
           t_first ? (double)(t_first - t0) / 1000.0 : 0.0, skips);
    bench_latency_print("page", pages_h);
    bench_errors_print(errors, slot_names);
    json_head("read-all", o, &si);
    printf(",\"page\":%ld,\"events\":%" PRIu64 ",\"payload_bytes\":%" PRIu64 ",\"pages\":%" PRIu64
           ",\"first_position\":%" PRId64 ",\"last_position\":%" PRId64
           ",\"position_skips\":%" PRIu64
           ",\"seconds\":%.3f,\"events_per_s\":%.1f,\"mb_per_s\":%.2f,\"first_event_ms\":%.1f,"
           "\"ended\":\"%s\"",
           o->page, events, bytes, pages, first_position, last_position, skips, seconds,
           (double)events / seconds, (double)bytes / 1e6 / seconds,
           t_first ? (double)(t_first - t0) / 1000.0 : 0.0, ended);
    bench_latency_json("page_", pages_h);
    bench_errors_json(errors, slot_names);
    printf(",\"completed\":%s}\n", completed ? "true" : "false");
    status = completed ? 0 : 1;
done:
    session_close(&s);
    free(pages_h);
    free(errors);
    return status;
}

/* ---- occ-loop -------------------------------------------------------------------------- */

/* The optimistic-concurrency loop of a command handler (the file's head comment): read the
 * stream's tail, append one event at the version it showed, start again on a conflict. */

typedef struct occ_run occ_run;

typedef struct occ_writer {
    long index;
    occ_run *run;
    session session;
    bench_histogram histogram;      /* each command that succeeded, retries included */
    bench_histogram read_histogram; /* each read of the timed commands that answered */
    bench_errors errors;
    uint64_t commands;         /* commands whose append committed */
    uint64_t conflicts;        /* wrong versions, each followed by a new read */
    uint64_t conflicts_insert; /* of them, a concurrent insert of the version (23505) */
    uint64_t reads;            /* reads that answered */
    uint64_t reads_not_found;  /* of them, of a stream without events */
    uint64_t read_events;      /* events those reads returned */
    uint64_t command_us;       /* the time of the commands that succeeded ... */
    uint64_t read_us;          /* ... and of their reads */
    uint64_t unknown_events, warmup_events;
    int setup_failed;
} occ_writer;

struct occ_run {
    const pgb_options *o;
    char limit_text[24]; /* --read-limit as the SELECT's parameter */
    bench_run calls;     /* the commands: claimed, failed (--max-errors), finished */
};

/* What one read of a stream's tail showed. */
typedef struct occ_tail {
    int64_t version; /* the stream's current version: its newest event's, 0 if none */
    int events;      /* events returned */
    size_t bytes;    /* their data and metadata: what a handler would fold into its state */
} occ_tail;

/* Reads the last `limit` events of stream, newest first, every column, and checks them:
 * versions falling one by one from the newest, rows of this stream, and min(limit, version)
 * of them (versions start at 1 and none is ever removed here). Returns 0, or an error slot
 * (its message in msg). */
static unsigned occ_read_tail(session *s, const char *stream, const occ_run *run, occ_tail *t,
                              char *msg, size_t len)
{
    const char *values[2] = {stream, run->limit_text};
    PGresult *r = PQexecPrepared(s->conn, "tail", 2, values, NULL, NULL, 1);
    unsigned slot = 0;
    memset(t, 0, sizeof *t);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        slot = slot_of(r, s->conn);
        result_message(r, s->conn, msg, len);
        goto done;
    }
    int rows = PQntuples(r);
    for (int i = 0; i < rows; i++) {
        event_view e;
        if (event_decode(r, i, &e) != 0 || strcmp(e.stream, stream) != 0 ||
            strcmp(e.type, PGB_EVENT_TYPE) != 0 || (i > 0 && e.version != t->version - i)) {
            slot = SLOT_BAD_ANSWER;
            snprintf(msg, len, "row %d of the read of %s's tail is not the next older event",
                     i, stream);
            goto done;
        }
        if (i == 0)
            t->version = e.version;
        t->bytes += e.data_len + e.metadata_len;
    }
    t->events = rows;
    int64_t want = t->version < run->o->read_limit ? t->version : run->o->read_limit;
    if (rows != want) {
        slot = SLOT_BAD_ANSWER;
        snprintf(msg, len, "the read of %s's tail returned %d events, not %" PRId64, stream, rows,
                 want);
    }
done:
    PQclear(r);
    return slot;
}

/* One command on stream: read, append p's event at the version read, and again from the
 * read after each wrong version (at most --max-retries times). With timed, the reads and
 * conflicts are counted in w and each read's latency recorded; *read_us gets the time spent
 * reading, *unknown whether the outcome of the last append was lost with the connection.
 * Returns 0, or the error slot of the failure that ended the command (its message in msg). */
static unsigned occ_command(occ_writer *w, const char *stream, const payload *p, int timed,
                            uint64_t *read_us, int *unknown, char *msg, size_t len)
{
    const pgb_options *o = w->run->o;
    outcome out;
    *read_us = 0;
    *unknown = 0;
    for (long attempts = 0;; attempts++) {
        occ_tail tail;
        uint64_t t0 = bench_now_us();
        unsigned slot = occ_read_tail(&w->session, stream, w->run, &tail, msg, len);
        uint64_t t1 = bench_now_us();
        if (slot != 0)
            return slot;
        *read_us += t1 - t0;
        if (timed) {
            bench_histogram_record(&w->read_histogram, t1 - t0);
            w->reads++;
            w->reads_not_found += tail.events == 0;
            w->read_events += (uint64_t)tail.events;
        }
        attempt a = append_once(&w->session, stream, 1, tail.version, p, 1, 0, &out);
        if (a == ATTEMPT_OK)
            return 0;
        if (a == ATTEMPT_FAILED) {
            *unknown = out.slot == SLOT_UNKNOWN_OUTCOME;
            snprintf(msg, len, "%s", out.message);
            return out.slot;
        }
        if (attempts >= o->max_retries) {
            snprintf(msg, len, "retries exhausted: %.400s", out.message);
            return SLOT_WRONG_VERSION;
        }
        if (timed) {
            w->conflicts++;
            w->conflicts_insert += (uint64_t)out.conflict;
        }
    }
}

static void *occ_writer_main(void *arg)
{
    occ_writer *w = arg;
    occ_run *run = w->run;
    const pgb_options *o = run->o;
    uint64_t rng = o->seed * UINT64_C(0x100000001b3) + (uint64_t)w->index;
    char stream[EVS_STREAM_NAME_MAX + 1];
    char msg[PGB_MESSAGE_MAX];
    uint64_t read_us;
    int unknown = 0;
    payload p = {0};

    bench_histogram_init(&w->histogram);
    bench_histogram_init(&w->read_histogram);
    if (payload_init(&p, 1, (size_t)o->data_bytes, (size_t)o->metadata_bytes) != 0) {
        fprintf(stderr, "pg_bench: writer %ld: out of memory\n", w->index);
        w->setup_failed = 1;
    } else if (session_open(o, &w->session, msg, sizeof msg) != 0) {
        fprintf(stderr, "pg_bench: writer %ld: %s\n", w->index, msg);
        w->setup_failed = 1;
    }
    /* Warm-up, untimed: whole commands on a stream of the writer's own (the connection's
     * first statements, the plans of the SELECTs and the INSERT). */
    snprintf(stream, sizeof stream, "%swarmup-%ld", o->stream_prefix, w->index + 1);
    for (long i = 0; i < o->warmup && !w->setup_failed; i++) {
        unsigned slot = SLOT_OTHER;
        if (payload_fill(&p, 1, (uint64_t)i, &rng) == 0)
            slot = occ_command(w, stream, &p, 0, &read_us, &unknown, msg, sizeof msg);
        else
            snprintf(msg, sizeof msg, "getrandom failed");
        if (slot == 0) {
            w->warmup_events++;
        } else {
            fprintf(stderr, "pg_bench: writer %ld: the warm-up command on %s failed: %s\n",
                    w->index, stream, msg);
            w->unknown_events += (uint64_t)unknown;
            w->setup_failed = 1;
        }
    }
    bench_run_ready(&run->calls, w->setup_failed);

    long serial;
    while ((serial = bench_run_claim(&run->calls)) >= 0) {
        long k = bench_stream_pick(NULL, o->streams, &rng);
        snprintf(stream, sizeof stream, "%s%ld", o->stream_prefix, k + 1);
        if (payload_fill(&p, 1, (uint64_t)serial, &rng) != 0) {
            bench_errors_add(&w->errors, SLOT_OTHER, "getrandom failed");
            bench_run_stop(&run->calls);
            break;
        }
        uint64_t t0 = bench_now_us();
        unsigned slot = occ_command(w, stream, &p, 1, &read_us, &unknown, msg, sizeof msg);
        uint64_t t1 = bench_now_us();
        if (slot == 0) {
            bench_histogram_record(&w->histogram, t1 - t0);
            w->commands++;
            w->command_us += t1 - t0;
            w->read_us += read_us;
        } else {
            bench_errors_add(&w->errors, slot, msg);
            w->unknown_events += (uint64_t)unknown;
            if (PQstatus(w->session.conn) != CONNECTION_OK &&
                session_reconnect(&w->session, msg, sizeof msg) != 0)
                bench_errors_add(&w->errors, SLOT_UNAVAILABLE, msg);
        }
        bench_run_call_done(&run->calls, slot != 0);
    }
    bench_run_writer_done(&run->calls);
    payload_free(&p);
    return NULL;
}

static int run_occ_loop(const pgb_options *o)
{
    int status = 1;
    long w_count = o->writers;
    occ_writer *writers = calloc((size_t)w_count, sizeof *writers);
    session s = {0};
    server_info si;
    bench_histogram *h = malloc(sizeof *h);
    bench_histogram *read_h = malloc(sizeof *read_h);
    bench_errors *errors = calloc(1, sizeof *errors);
    occ_run run;
    int barrier_ready = 0;
    char msg[PGB_MESSAGE_MAX];

    memset(&run, 0, sizeof run);
    run.o = o;
    snprintf(run.limit_text, sizeof run.limit_text, "%ld", o->read_limit);
    if (!writers || !h || !read_h || !errors) {
        fprintf(stderr, "pg_bench: out of memory\n");
        goto done;
    }
    if (main_session_open(o, &s, &si) != 0)
        goto done;
    /* The streams' events before the run (the warm-up streams share the prefix). */
    check_result before;
    if (check_streams(&s, &si, o->stream_prefix, 0, &before, msg, sizeof msg) != 0) {
        fprintf(stderr, "pg_bench: cannot count the streams %s*: %s\n", o->stream_prefix, msg);
        goto done;
    }
    printf("occ-loop: %ld writer%s (one connection each), %ld commands on %ld streams %s1..%s%ld "
           "(uniform); a command reads the stream's last %ld events (one SELECT, newest first), "
           "then appends 1 event (%ld B data, %ld B metadata) expecting exactly the version "
           "read, and on a conflict reads again (at most %ld retries)\n",
           w_count, w_count == 1 ? "" : "s", o->count, o->streams, o->stream_prefix,
           o->stream_prefix, o->streams, o->read_limit, o->data_bytes, o->metadata_bytes,
           o->max_retries);
    printf("  before: %" PRId64 " streams %s*, %" PRId64 " events\n", before.streams,
           o->stream_prefix, before.events);
    server_info_print(&si);
    fflush(stdout);

    if (bench_run_init(&run.calls, w_count, o->count, o->max_errors) != 0) {
        fprintf(stderr, "pg_bench: cannot create a barrier\n");
        goto done;
    }
    barrier_ready = 1;
    for (long i = 0; i < w_count; i++) {
        writers[i].index = i;
        writers[i].run = &run;
    }
    bench_run_start(&run.calls, occ_writer_main, writers, sizeof *writers);
    double seconds = bench_run_wait(&run.calls, o->progress, "commands");
    bench_run_join(&run.calls);

    bench_histogram_init(h);
    bench_histogram_init(read_h);
    uint64_t commands = 0, conflicts = 0, conflicts_insert = 0, reads = 0, not_found = 0,
             read_events = 0, command_us = 0, read_us = 0, unknown_events = 0, warmup_events = 0;
    int setup_failed = 0;
    for (long i = 0; i < w_count; i++) {
        const occ_writer *w = &writers[i];
        bench_histogram_merge(h, &w->histogram);
        bench_histogram_merge(read_h, &w->read_histogram);
        bench_errors_merge(errors, &w->errors);
        commands += w->commands;
        conflicts += w->conflicts;
        conflicts_insert += w->conflicts_insert;
        reads += w->reads;
        not_found += w->reads_not_found;
        read_events += w->read_events;
        command_us += w->command_us;
        read_us += w->read_us;
        unknown_events += w->unknown_events;
        warmup_events += w->warmup_events;
        setup_failed |= w->setup_failed;
    }
    if (setup_failed)
        goto done;
    int completed = bench_run_completed(&run.calls);
    double per_s = (double)commands / seconds;
    double read_share = command_us ? (double)read_us / (double)command_us : 0.0;
    printf("occ-loop: %" PRIu64 " commands in %.2f s: %.0f commands/s%s\n", commands, seconds,
           per_s, completed ? "" : " (STOPPED EARLY)");
    printf("  conflicts (wrong version, read and appended again): %" PRIu64 " (%.3f per "
           "command): %" PRIu64 " a concurrent insert of the same version, %" PRIu64
           " seen by the append's own SELECT\n",
           conflicts, commands ? (double)conflicts / (double)commands : 0.0, conflicts_insert,
           conflicts - conflicts_insert);
    printf("  reads: %" PRIu64 ", %.1f events each on average; %" PRIu64 " found no events "
           "(appended at version 0)\n",
           reads, reads ? (double)read_events / (double)reads : 0.0, not_found);
    bench_latency_print("command (reads + appends)", h);
    bench_latency_print("read", read_h);
    printf("  reads' share of the commands' time: %.1f %%\n", 100.0 * read_share);
    bench_errors_print(errors, slot_names);
    check_result after;
    int checked = check_growth(&s, &si, o->stream_prefix, 0, before.events,
                               commands + warmup_events, unknown_events, &after);
    json_head("occ-loop", o, &si);
    printf(",\"writers\":%ld,\"connections\":%ld,\"streams\":%ld,\"stream_prefix\":\"%s\","
           "\"distribution\":\"uniform\",\"read_limit\":%ld,\"read_direction\":\"backwards\","
           "\"expectation\":\"exact\",\"events_per_append\":1,\"data_bytes\":%ld,"
           "\"metadata_bytes\":%ld,\"max_retries\":%ld,\"commands\":%" PRIu64
           ",\"appends\":%" PRIu64 ",\"events\":%" PRIu64 ",\"seconds\":%.3f,"
           "\"commands_per_s\":%.1f,\"appends_per_s\":%.1f,\"events_per_s\":%.1f,"
           "\"conflicts\":%" PRIu64 ",\"conflicts_insert\":%" PRIu64 ",\"reads\":%" PRIu64
           ",\"reads_not_found\":%" PRIu64 ",\"read_events\":%" PRIu64 ",\"read_share\":%.4f",
           w_count, w_count, o->streams, o->stream_prefix, o->read_limit, o->data_bytes,
           o->metadata_bytes, o->max_retries, commands, commands, commands, seconds, per_s, per_s,
           per_s, conflicts, conflicts_insert, reads, not_found, read_events, read_share);
    bench_latency_json("", h);
    bench_latency_json("read_", read_h);
    bench_errors_json(errors, slot_names);
    printf(",\"check\":\"%s\",\"check_streams\":%" PRId64 ",\"check_events\":%" PRId64
           ",\"completed\":%s}\n",
           checked ? "ok" : "failed", after.streams, after.events, completed ? "true" : "false");
    status = completed && checked ? 0 : 1;
done:
    if (barrier_ready) {
        bench_run_join(&run.calls);
        bench_run_destroy(&run.calls);
    }
    if (writers)
        for (long i = 0; i < w_count; i++)
            session_close(&writers[i].session);
    session_close(&s);
    free(writers);
    free(h);
    free(read_h);
    free(errors);
    return status;
}

/* ---- prefill --------------------------------------------------------------------------- */

/* The COPY text format's escapes (backslash, tab, newline, carriage return); the generated
 * JSON has none of them, but a payload must not be able to break a row. */
static size_t copy_escape(char *dst, const char *src)
{
    size_t n = 0;
    for (; *src; src++) {
        switch (*src) {
        case '\\':
            dst[n++] = '\\';
            dst[n++] = '\\';
            break;
        case '\t':
            dst[n++] = '\\';
            dst[n++] = 't';
            break;
        case '\n':
            dst[n++] = '\\';
            dst[n++] = 'n';
            break;
        case '\r':
            dst[n++] = '\\';
            dst[n++] = 'r';
            break;
        default:
            dst[n++] = *src;
        }
    }
    return n;
}

typedef struct copy_state {
    PGconn *conn;
    char *buf;
    size_t len;
    long rows; /* in the current COPY */
    int open;
} copy_state;

static int copy_flush(copy_state *cs, char *msg, size_t len)
{
    if (cs->len && PQputCopyData(cs->conn, cs->buf, (int)cs->len) != 1) {
        result_message(NULL, cs->conn, msg, len);
        return -1;
    }
    cs->len = 0;
    return 0;
}

static int copy_begin(copy_state *cs, char *msg, size_t len)
{
    PGresult *r = PQexec(cs->conn, "COPY " PGB_TABLE " (stream_id, version, event_id, event_type, "
                                   "data, metadata) FROM STDIN");
    int ok = PQresultStatus(r) == PGRES_COPY_IN;
    if (!ok)
        result_message(r, cs->conn, msg, len);
    PQclear(r);
    cs->open = ok;
    cs->rows = 0;
    return ok ? 0 : -1;
}

/* Ends the COPY: its rows are committed (COPY outside BEGIN is its own transaction). */
static int copy_end(copy_state *cs, char *msg, size_t len)
{
    if (copy_flush(cs, msg, len) != 0)
        return -1;
    cs->open = 0;
    if (PQputCopyEnd(cs->conn, NULL) != 1) {
        result_message(NULL, cs->conn, msg, len);
        return -1;
    }
    PGresult *r;
    int ok = 1;
    while ((r = PQgetResult(cs->conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            if (ok)
                result_message(r, cs->conn, msg, len);
            ok = 0;
        }
        PQclear(r);
    }
    return ok ? 0 : -1;
}

static int run_prefill(const pgb_options *o)
{
    int status = 1;
    session s = {0};
    server_info si;
    char msg[PGB_MESSAGE_MAX];
    int64_t *versions = NULL;
    payload p = {0};
    copy_state cs = {0};
    PGresult *r = NULL;
    uint64_t rng = o->seed ^ UINT64_C(0xf111);
    size_t epa = (size_t)o->events_per_append;
    size_t row_max;

    if (payload_init(&p, epa, (size_t)o->data_bytes, (size_t)o->metadata_bytes) != 0 ||
        !(versions = calloc((size_t)o->streams, sizeof *versions))) {
        fprintf(stderr, "pg_bench: out of memory\n");
        goto done;
    }
    /* One row at most: the escaped texts (at most twice as long) and the fixed fields. */
    row_max = 2 * (p.json.data_cap + p.json.metadata_cap) + 512;
    if (!(cs.buf = malloc(PGB_COPY_BUFFER_BYTES + row_max))) {
        fprintf(stderr, "pg_bench: out of memory\n");
        goto done;
    }
    if (main_session_open(o, &s, &si) != 0)
        goto done;
    cs.conn = s.conn;
    int64_t to_add = o->events - si.table_events;
    printf("prefill: %s holds %" PRId64 " events; %s\n", PGB_TABLE, si.table_events,
           to_add > 0 ? "filling it up" : "nothing to add");
    server_info_print(&si);
    fflush(stdout);
    if (to_add < 0)
        to_add = 0;

    /* Each stream continues from its current version. */
    char upper[PGB_STREAM_PREFIX_MAX + 2];
    size_t plen = strlen(o->stream_prefix);
    snprintf(upper, sizeof upper, "%s", o->stream_prefix);
    assert(plen > 0 || !*upper);
    if (plen)
        upper[plen - 1] = (char)(upper[plen - 1] + 1);
    const char *values[2] = {o->stream_prefix, upper};
    r = PQexecParams(s.conn,
                     si.c_collation && plen
                         ? "SELECT stream_id, max(version) FROM " PGB_TABLE
                           " WHERE stream_id >= $1::text AND stream_id < $2::text"
                           " AND starts_with(stream_id, $1) GROUP BY stream_id"
                         : "SELECT stream_id, max(version) FROM " PGB_TABLE
                           " WHERE starts_with(stream_id, $1::text) AND $2::text IS NOT NULL"
                           " GROUP BY stream_id",
                     2, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        result_message(r, s.conn, msg, sizeof msg);
        fprintf(stderr, "pg_bench: cannot read the streams' versions: %s\n", msg);
        goto done;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const char *suffix = PQgetvalue(r, i, 0) + plen;
        char *end = NULL;
        long k = strtol(suffix, &end, 10);
        if (*suffix >= '1' && *suffix <= '9' && !*end && k >= 1 && k <= o->streams)
            versions[k - 1] = strtoll(PQgetvalue(r, i, 1), NULL, 10);
    }
    PQclear(r);
    r = NULL;

    uint64_t t0 = bench_now_us(), last_progress = t0;
    int64_t added = 0;
    char stream[EVS_STREAM_NAME_MAX + 1];
    for (uint64_t chunk = 0; added < to_add; chunk++) {
        long k = (long)(chunk % (uint64_t)o->streams);
        size_t n = (size_t)(to_add - added < (int64_t)epa ? to_add - added : (int64_t)epa);
        snprintf(stream, sizeof stream, "%s%ld", o->stream_prefix, k + 1);
        if (payload_fill(&p, n, chunk, &rng) != 0) {
            fprintf(stderr, "pg_bench: getrandom failed\n");
            goto done;
        }
        if (!cs.open && copy_begin(&cs, msg, sizeof msg) != 0) {
            fprintf(stderr, "pg_bench: COPY failed: %s\n", msg);
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            char *b = cs.buf + cs.len;
            size_t m = 0;
            m += (size_t)sprintf(b + m, "%s\t%" PRId64 "\t%s\t" PGB_EVENT_TYPE "\t", stream,
                                 versions[k] + 1 + (int64_t)i, p.event_ids[i]);
            m += copy_escape(b + m, p.data[i]);
            b[m++] = '\t';
            if (p.metadata[i]) {
                m += copy_escape(b + m, p.metadata[i]);
            } else {
                memcpy(b + m, "\\N", 2);
                m += 2;
            }
            b[m++] = '\n';
            assert(m <= row_max);
            cs.len += m;
            if (cs.len >= PGB_COPY_BUFFER_BYTES && copy_flush(&cs, msg, sizeof msg) != 0) {
                fprintf(stderr, "pg_bench: COPY failed: %s\n", msg);
                goto done;
            }
        }
        versions[k] += (int64_t)n;
        added += (int64_t)n;
        cs.rows += (long)n;
        if (cs.rows >= PGB_PREFILL_BATCH_ROWS || added == to_add) {
            if (copy_end(&cs, msg, sizeof msg) != 0) {
                fprintf(stderr, "pg_bench: COPY failed: %s\n", msg);
                goto done;
            }
            uint64_t t = bench_now_us();
            if (o->progress && t - last_progress >= 5000000) {
                last_progress = t;
                fprintf(stderr, "pg_bench: %" PRId64 " of %" PRId64 " events after %.0f s\n", added,
                        to_add, (double)(t - t0) / 1e6);
            }
        }
    }
    double seconds = (double)(bench_now_us() - t0) / 1e6;
    printf("prefill: added %" PRId64 " events to %ld streams %s1..%s%ld in %.2f s (%.0f events/s, "
           "COPY, %ld rows per transaction)\n",
           added, o->streams, o->stream_prefix, o->stream_prefix, o->streams, seconds,
           seconds > 0 ? (double)added / seconds : 0.0, PGB_PREFILL_BATCH_ROWS);

    /* What an operator does after a bulk load: statistics and the visibility map for the
     * planner and index-only scans, and a checkpoint so the timed runs do not start with
     * the load's dirty pages still to be written. */
    uint64_t v0 = bench_now_us();
    if (exec_command(s.conn, "VACUUM (ANALYZE) " PGB_TABLE, msg, sizeof msg) != 0) {
        fprintf(stderr, "pg_bench: VACUUM failed: %s\n", msg);
        goto done;
    }
    if (exec_command(s.conn, "CHECKPOINT", msg, sizeof msg) != 0)
        printf("  (no CHECKPOINT: %s; pg.sh grants pg_checkpoint)\n", msg);
    double vacuum_seconds = (double)(bench_now_us() - v0) / 1e6;
    printf("  VACUUM (ANALYZE) and CHECKPOINT: %.2f s\n", vacuum_seconds);

    check_result after;
    if (check_streams(&s, &si, o->stream_prefix, 0, &after, msg, sizeof msg) != 0) {
        fprintf(stderr, "pg_bench: the check failed to run: %s\n", msg);
        goto done;
    }
    int checked = after.bad_streams == 0;
    printf("  check: %s: %" PRId64 " streams %s*, %" PRId64 " events%s%s\n",
           checked ? "ok" : "FAILED", after.streams, o->stream_prefix, after.events,
           checked ? ", every one's versions 1..n" : "; versions not 1..n in ", after.first_bad);
    server_info end_si;
    if (server_info_read(&s, &end_si, msg, sizeof msg) != 0) {
        fprintf(stderr, "pg_bench: %s\n", msg);
        goto done;
    }
    json_head("prefill", o, &end_si);
    printf(",\"streams\":%ld,\"events_per_append\":%ld,\"data_bytes\":%ld,\"metadata_bytes\":%ld,"
           "\"events\":%" PRId64 ",\"seconds\":%.3f,\"events_per_s\":%.1f,"
           "\"vacuum_seconds\":%.3f,\"check\":\"%s\",\"completed\":true}\n",
           o->streams, o->events_per_append, o->data_bytes, o->metadata_bytes, added, seconds,
           seconds > 0 ? (double)added / seconds : 0.0, vacuum_seconds, checked ? "ok" : "failed");
    status = checked ? 0 : 1;
done:
    PQclear(r);
    if (cs.open) {
        PQputCopyEnd(s.conn, "pg_bench stopped");
        while ((r = PQgetResult(s.conn)) != NULL)
            PQclear(r);
    }
    free(cs.buf);
    session_close(&s);
    payload_free(&p);
    free(versions);
    return status;
}

/* ---- check ----------------------------------------------------------------------------- */

static int run_check(const pgb_options *o)
{
    session s = {0};
    server_info si;
    char msg[PGB_MESSAGE_MAX];
    int status = 1;
    if (main_session_open(o, &s, &si) != 0)
        goto done;
    check_result c;
    uint64_t t0 = bench_now_us();
    if (check_streams(&s, &si, o->stream_prefix, 0, &c, msg, sizeof msg) != 0) {
        fprintf(stderr, "pg_bench: the check failed to run: %s\n", msg);
        goto done;
    }
    double seconds = (double)(bench_now_us() - t0) / 1e6;
    int ok = c.bad_streams == 0;
    printf("check: %s: %" PRId64 " streams %s*, %" PRId64 " events (of %" PRId64 " in %s)%s%s; "
           "%.2f s\n",
           ok ? "ok" : "FAILED", c.streams, o->stream_prefix, c.events, si.table_events, PGB_TABLE,
           ok ? ", every one's versions 1..n" : "; versions not 1..n in ", c.first_bad, seconds);
    json_head("check", o, &si);
    printf(",\"stream_prefix\":\"%s\",\"streams\":%" PRId64 ",\"events\":%" PRId64
           ",\"bad_streams\":%" PRId64 ",\"seconds\":%.3f,\"check\":\"%s\",\"completed\":true}\n",
           o->stream_prefix, c.streams, c.events, c.bad_streams, seconds, ok ? "ok" : "failed");
    status = ok ? 0 : 1;
done:
    session_close(&s);
    return status;
}

/* ---- main ------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    pgb_options o;
    bench_program_set("pg_bench");
    int rc = options_parse(argc, argv, &o);
    if (rc == 1)
        return 0;
    if (rc != 0)
        return 2;
    if (!PQisthreadsafe()) {
        fprintf(stderr, "pg_bench: this libpq is not thread-safe\n");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    switch (o.command) {
    case CMD_APPEND_LATENCY:
        return run_append_latency(&o);
    case CMD_APPEND_THROUGHPUT:
        return run_append_throughput(&o);
    case CMD_READ_LATENCY:
        return run_read_latency(&o);
    case CMD_READ_ALL:
        return run_read_all(&o);
    case CMD_PREFILL:
        return run_prefill(&o);
    case CMD_CHECK:
        return run_check(&o);
    case CMD_OCC_LOOP:
        return run_occ_loop(&o);
    default:
        return 2;
    }
}
