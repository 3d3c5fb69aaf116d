/*
 * evs_bench.c - measures evstore end to end on a real broker and projector and prints the
 * numbers. A benchmark, not a test: it asserts nothing about speed (style.md, "Tests").
 *
 *   evs_bench [global options] append-latency --count N [--stream S]
 *   evs_bench [global options] append-throughput --writers W --count N --streams K ...
 *   evs_bench [global options] read-latency --stream S --count N [--raw-http] ...
 *   evs_bench [global options] subscribe-latency --count N --rate R [--writers W] ...
 *   evs_bench [global options] catch-up [--count N]
 *   evs_bench [global options] kafka-ceiling --count N [--events-per-append E] [--writers W]
 *   evs_bench [global options] occ-loop --writers W --count N --streams K [--read-limit L]
 *
 * `evs_bench --help` lists every option. Each run prints human-readable lines, then exactly
 * one machine-readable line that starts with {"bench": (tests/bench/run.sh collects them).
 *
 * It uses libevstore through its public header only, like any application; the read
 * benchmark's --raw-http variant also uses libcurl directly, to separate the projector's and
 * the network's share of a read from the client's JSON and base64 decoding.
 *
 * What is timed: each evs_append / evs_stream_read call (or raw HTTP GET), from just before
 * the call to just after it returns, with CLOCK_MONOTONIC, into a per-thread
 * bench_histogram merged at the end. Set-up (opening clients, the producer's first
 * connection, warm-up calls) is never timed. subscribe-latency also times each event from
 * just before its evs_append to its delivery by evs_subscription_next, with CLOCK_REALTIME
 * stamped into the event's data (the writers and the subscriber are threads of this
 * process, so they read the same clock); catch-up times a whole subscription, and the gap
 * between consecutive events. occ-loop times a whole command (its reads, its append and
 * every retry of the two) and, apart, each of its reads.
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
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>

#include "bench_common.h"
#include "bench_histogram.h"
#include "evstore.h"
#include "kafka_properties_apply.h"
#include "record_codec.h"

/* Limits of the benchmark's own knobs (style.md: a limit on everything). */
#define BENCH_WRITERS_MAX 1024
#define BENCH_STREAMS_MAX 10000000L
#define BENCH_COUNT_MAX 1000000000L
#define BENCH_STREAM_PREFIX_MAX 64
/* subscribe-latency keeps two bytes per event (sent, received) to name missing ones. */
#define BENCH_SUB_COUNT_MAX 10000000L
#define BENCH_RATE_MAX 1000000L
/* Error codes run from EVS_OK (0) to EVS_EINTERNAL (-11); one slot per code, plus one for
 * "other" (a code this build does not know) and one for "wrong answer" (a read that
 * returned the wrong number of events, an HTTP status other than 200). */
#define BENCH_CODE_SLOTS 14
#define BENCH_SLOT_OTHER 12
#define BENCH_SLOT_BAD_ANSWER 13

/* ---- Options ------------------------------------------------------------------------- */

typedef enum bench_command {
    CMD_NONE = 0,
    CMD_APPEND_LATENCY,
    CMD_APPEND_THROUGHPUT,
    CMD_READ_LATENCY,
    CMD_SUBSCRIBE_LATENCY,
    CMD_CATCH_UP,
    CMD_KAFKA_CEILING,
    CMD_READ_ALL,
    CMD_OCC_LOOP,
} bench_command;

typedef struct bench_options {
    /* global */
    const char *brokers;
    const char *projector;
    const char *topic;
    const char *kafka_config;    /* --kafka-config, $EVSTORE_KAFKA_CONFIG, NULL */
    evs_kafka_properties kafka;  /* what it holds, for kafka-ceiling's own clients */
    int topic_given; /* --topic on the command line */
    int timeout_ms;
    int linger_ms; /* -1: the library's default */
    char label[BENCH_LABEL_MAX + 1];
    /* the command's */
    bench_command command;
    long count;
    const char *stream;
    long writers;
    long streams;
    long events_per_append;
    int zipf;
    double zipf_s;
    int exact;
    int client_per_writer;
    const char *stream_prefix;
    long warmup;
    long limit;
    long read_limit; /* occ-loop: the events of a stream's tail a command reads */
    int raw_http;
    int prepare;
    long data_bytes;
    long metadata_bytes;
    long max_errors;
    long max_retries;
    uint64_t seed;
    int progress;
    long rate;
    long in_flight;
    long flush_messages; /* kafka-ceiling: the topic's flush.messages, 0: not set */
    const char *master_key; /* --master-key, $EVSTORE_MASTER_KEY_FILE, NULL */
    long subjects;          /* --subjects: personal data of this many subjects, 0: none */
} bench_options;

enum {
    OPT_BROKERS = 256,
    OPT_KAFKA_CONFIG,
    OPT_PROJECTOR,
    OPT_TOPIC,
    OPT_TIMEOUT,
    OPT_LINGER,
    OPT_LABEL,
    OPT_COUNT,
    OPT_STREAM,
    OPT_WRITERS,
    OPT_STREAMS,
    OPT_EVENTS_PER_APPEND,
    OPT_ZIPF,
    OPT_ZIPF_S,
    OPT_EXACT,
    OPT_CLIENT_PER_WRITER,
    OPT_STREAM_PREFIX,
    OPT_WARMUP,
    OPT_LIMIT,
    OPT_RAW_HTTP,
    OPT_PREPARE,
    OPT_DATA_BYTES,
    OPT_METADATA_BYTES,
    OPT_MAX_ERRORS,
    OPT_MAX_RETRIES,
    OPT_SEED,
    OPT_MASTER_KEY,
    OPT_SUBJECTS,
    OPT_PROGRESS,
    OPT_RATE,
    OPT_IN_FLIGHT,
    OPT_FLUSH_MESSAGES,
    OPT_READ_LIMIT,
    OPT_HELP,
};

/* Which command accepts which option: bit 1 << command. Global options take every bit. */
#define FOR_LAT (1u << CMD_APPEND_LATENCY)
#define FOR_TPUT (1u << CMD_APPEND_THROUGHPUT)
#define FOR_READ (1u << CMD_READ_LATENCY)
#define FOR_SUB (1u << CMD_SUBSCRIBE_LATENCY)
#define FOR_CATCH (1u << CMD_CATCH_UP)
#define FOR_KAFKA (1u << CMD_KAFKA_CEILING)
#define FOR_READ_ALL (1u << CMD_READ_ALL)
#define FOR_OCC (1u << CMD_OCC_LOOP)
#define FOR_ALL                                                                                    \
    (FOR_LAT | FOR_TPUT | FOR_READ | FOR_SUB | FOR_CATCH | FOR_KAFKA | FOR_READ_ALL | FOR_OCC)

static const struct option long_options[] = {
    {"brokers", required_argument, 0, OPT_BROKERS},
    {"kafka-config", required_argument, 0, OPT_KAFKA_CONFIG},
    {"projector", required_argument, 0, OPT_PROJECTOR},
    {"topic", required_argument, 0, OPT_TOPIC},
    {"timeout-ms", required_argument, 0, OPT_TIMEOUT},
    {"linger-ms", required_argument, 0, OPT_LINGER},
    {"label", required_argument, 0, OPT_LABEL},
    {"count", required_argument, 0, OPT_COUNT},
    {"stream", required_argument, 0, OPT_STREAM},
    {"writers", required_argument, 0, OPT_WRITERS},
    {"streams", required_argument, 0, OPT_STREAMS},
    {"events-per-append", required_argument, 0, OPT_EVENTS_PER_APPEND},
    {"zipf", no_argument, 0, OPT_ZIPF},
    {"zipf-s", required_argument, 0, OPT_ZIPF_S},
    {"exact", no_argument, 0, OPT_EXACT},
    {"client-per-writer", no_argument, 0, OPT_CLIENT_PER_WRITER},
    {"stream-prefix", required_argument, 0, OPT_STREAM_PREFIX},
    {"warmup", required_argument, 0, OPT_WARMUP},
    {"limit", required_argument, 0, OPT_LIMIT},
    {"raw-http", no_argument, 0, OPT_RAW_HTTP},
    {"prepare", no_argument, 0, OPT_PREPARE},
    {"data-bytes", required_argument, 0, OPT_DATA_BYTES},
    {"metadata-bytes", required_argument, 0, OPT_METADATA_BYTES},
    {"max-errors", required_argument, 0, OPT_MAX_ERRORS},
    {"max-retries", required_argument, 0, OPT_MAX_RETRIES},
    {"seed", required_argument, 0, OPT_SEED},
    {"master-key", required_argument, 0, OPT_MASTER_KEY},
    {"subjects", required_argument, 0, OPT_SUBJECTS},
    {"progress", no_argument, 0, OPT_PROGRESS},
    {"rate", required_argument, 0, OPT_RATE},
    {"in-flight", required_argument, 0, OPT_IN_FLIGHT},
    {"flush-messages", required_argument, 0, OPT_FLUSH_MESSAGES},
    {"read-limit", required_argument, 0, OPT_READ_LIMIT},
    {"help", no_argument, 0, OPT_HELP},
    {0, 0, 0, 0},
};

static unsigned option_commands(int option)
{
    switch (option) {
    case OPT_COUNT:
        return FOR_ALL;
    case OPT_DATA_BYTES:
    case OPT_METADATA_BYTES:
    case OPT_MAX_ERRORS:
        return FOR_LAT | FOR_TPUT | FOR_READ | FOR_SUB | FOR_KAFKA | FOR_OCC;
    case OPT_WARMUP:
        return FOR_LAT | FOR_TPUT | FOR_READ | FOR_SUB | FOR_OCC;
    case OPT_SUBJECTS:
        return FOR_LAT | FOR_TPUT;
    case OPT_STREAM:
        return FOR_LAT | FOR_READ;
    case OPT_WRITERS:
    case OPT_STREAMS:
    case OPT_STREAM_PREFIX:
        return FOR_TPUT | FOR_SUB | FOR_KAFKA | FOR_OCC;
    case OPT_IN_FLIGHT:
    case OPT_FLUSH_MESSAGES:
        return FOR_KAFKA;
    case OPT_RATE:
        return FOR_SUB;
    case OPT_EVENTS_PER_APPEND:
        return FOR_TPUT | FOR_KAFKA;
    case OPT_SEED:
        return FOR_TPUT | FOR_KAFKA | FOR_OCC;
    case OPT_ZIPF:
    case OPT_ZIPF_S:
    case OPT_EXACT:
    case OPT_CLIENT_PER_WRITER:
        return FOR_TPUT;
    case OPT_MAX_RETRIES:
        return FOR_TPUT | FOR_OCC;
    case OPT_READ_LIMIT:
        return FOR_OCC;
    case OPT_PROGRESS:
        return FOR_TPUT | FOR_CATCH | FOR_KAFKA | FOR_READ_ALL | FOR_OCC;
    case OPT_LIMIT:
        return FOR_READ | FOR_READ_ALL;
    case OPT_RAW_HTTP:
    case OPT_PREPARE:
        return FOR_READ;
    default:
        return FOR_ALL; /* the global options */
    }
}

static const char usage_text[] =
    "usage: evs_bench [global options] COMMAND [options]\n"
    "\n"
    "Measures evstore against a running broker and projector and prints numbers: human-\n"
    "readable lines, then one JSON line that starts with {\"bench\":. Not a test.\n"
    "\n"
    "Commands:\n"
    "  append-latency --count N [--stream S] [--warmup N]\n"
    "      one writer, one event per append, exact expected versions (read from the stream\n"
    "      first, 0 if it does not exist); latency of every append and throughput.\n"
    "      Default stream: Bench-latency-<pid>.\n"
    "  append-throughput --writers W --count N --streams K [--events-per-append E]\n"
    "                    [--zipf [--zipf-s S]] [--exact [--max-retries R]]\n"
    "                    [--client-per-writer] [--stream-prefix P] [--seed X] [--progress]\n"
    "      W threads share N appends (in total) to the streams <P>1..<P>K (P defaults to\n"
    "      \"Order-\"), each picked uniformly at random or Zipf-skewed (exponent S, default\n"
    "      1.0; <P>1 is the hottest). Expectation `any`, or with --exact the version last\n"
    "      seen for the stream, retried on a wrong expected version with the current\n"
    "      version the projector reported (at most R times, default 50). One shared client,\n"
    "      or one per writer. Each writer first makes one untimed warm-up append to\n"
    "      <P>warmup-<n>. Latency includes the retries of an append.\n"
    "  read-latency --stream S --count N [--limit L] [--raw-http] [--prepare] [--warmup N]\n"
    "      reads the stream's first L events (default 100) N times with evs_stream_read, or\n"
    "      with --raw-http as plain GET /streams/S requests through libcurl (same query,\n"
    "      body not parsed). --prepare writes L events to S in one append if S does not\n"
    "      exist yet.\n"
    "  subscribe-latency --count N [--rate R] [--writers W] [--streams K] [--stream-prefix P]\n"
    "      opens a subscription to $all (partition 0) from now and waits until it is caught\n"
    "      up; then W writers (default 4) append N events in total, one per append, at a\n"
    "      steady R appends/s in total (default 1000; each writer keeps its own schedule of\n"
    "      absolute deadlines), to the streams <P>1..<P>K (P defaults to \"Sub-\", K to 1000),\n"
    "      expectation `any`. Each event's data carries the wall-clock time (CLOCK_REALTIME,\n"
    "      us) taken just before its evs_append; the subscriber records, for each event it\n"
    "      receives, now minus that time: append-to-subscriber latency. Also reports the\n"
    "      append latency, and fails (exit 1) unless the subscriber received exactly the\n"
    "      events that were appended. At most 10000000 events.\n"
    "  read-all [--count N] [--limit L] [--progress]\n"
    "      reads $all (partition 0) from position 1 with evs_all_read, L events a page\n"
    "      (default 1000), until a page says end of stream or N events were read: events/s,\n"
    "      MB/s of data and metadata, the latency of each page. Checks that the positions\n"
    "      run 1, 2, 3, ... without a gap. Writes nothing.\n"
    "  catch-up [--count N] [--progress]\n"
    "      subscribes to $all (partition 0) from the start without follow and reads until\n"
    "      the end of the history (EVS_EEND) or N events: events/s, MB/s of event data and\n"
    "      metadata, the time to the first event, the gaps between events. Checks that the\n"
    "      positions run 1, 2, 3, ... without a gap. Writes nothing: point it at a filled\n"
    "      store.\n"
    "  kafka-ceiling --count N [--events-per-append E] [--writers W] [--in-flight K]\n"
    "                [--flush-messages F]\n"
    "                [--streams S] [--stream-prefix P] [--seed X] [--progress]\n"
    "      Kafka's own ceiling for the records evstore writes, without libevstore, the\n"
    "      projector, judging or an index: W threads (default 1) share one librdkafka\n"
    "      producer set up as libevstore's (idempotent, acks=all, linger.ms as --linger-ms\n"
    "      or 1, Nagle off, murmur2_random) and produce N real append records (Avro, E\n"
    "      events each, expectation any) keyed by the stream name <P>1..<P>S (uniform; P\n"
    "      defaults to \"Order-\", S to 1000), each thread with at most K records (default\n"
    "      1, as evs_append) awaiting their delivery report: records/s, events/s, MB/s and\n"
    "      the latency from produce to delivery report. Then one consumer reads partition 0\n"
    "      from the run's first offset to its end offset: records/s, events/s, MB/s. Uses a\n"
    "      topic it creates (1 partition, RF 1) and deletes at the end, or --topic if given\n"
    "      (kept; only partition 0 is read back). Needs no projector.\n"
    "      --flush-messages F sets the created topic's flush.messages (F = 1: the broker\n"
    "      fsyncs the log before it acknowledges each write, as run.sh sets on its topics).\n"
    "  occ-loop --writers W --count N --streams K [--read-limit L] [--stream-prefix P]\n"
    "           [--max-retries R] [--seed X] [--progress]\n"
    "      the optimistic-concurrency loop of a command handler. W threads share one client\n"
    "      and N commands (in total); a command picks one of the streams <P>1..<P>K (P\n"
    "      defaults to \"Order-\") uniformly at random, reads its last L events (default\n"
    "      20) with evs_stream_read backwards from the end, takes the stream's current\n"
    "      version from that read (0 if it does not exist) and appends one event expecting\n"
    "      exactly that version. On a wrong expected version it counts a conflict and does\n"
    "      it all again, read and append (at most R times, default 50). Latency: the whole\n"
    "      command, retries included; each read is also timed apart. Each writer first runs\n"
    "      --warmup untimed commands (default 1) on <P>warmup-<n>.\n"
    "\n"
    "Options of the commands that write (all but catch-up):\n"
    "  --data-bytes N      JSON data per event, about N bytes (default 256)\n"
    "  --metadata-bytes N  JSON metadata per event, about N bytes (default 64; 0: none)\n"
    "  --warmup N          untimed calls first (default 20; append-throughput,\n"
    "                      subscribe-latency and occ-loop: 1 per writer)\n"
    "  --max-errors N      stop after N failed calls (default 100)\n"
    "  --subjects K        (append-latency, append-throughput) every event is personal\n"
    "                      data of one of K subjects, Bench-subject-0..K-1 by append: its\n"
    "                      data is sealed before it is produced (needs --master-key)\n"
    "\n"
    "Options of all commands:\n"
    "  --label TEXT        copied into the JSON line, to tell runs apart\n"
    "\n"
    "Global options:\n"
    "  --brokers B         Kafka bootstrap servers (env EVSTORE_BROKERS; "
    "default " EVS_DEFAULT_BROKERS ")\n"
    "  --kafka-config F    librdkafka properties (key=value: security.protocol, sasl.*,\n"
    "                      ssl.*) for every Kafka client (env EVSTORE_KAFKA_CONFIG)\n"
    "  --projector URL     projector HTTP API (env EVSTORE_PROJECTOR; "
    "default " EVS_DEFAULT_PROJECTOR ")\n"
    "  --topic T           events topic (env EVSTORE_TOPIC; default " EVS_DEFAULT_TOPIC ")\n"
    "  --timeout-ms N      produce, verdict and request timeout, and how long a subscriber\n"
    "                      waits for the next event (default 10000)\n"
    "  --linger-ms N       the producer's batching delay, evs_client_options.linger_ms\n"
    "                      (default: the library's, 1 ms)\n"
    "  --master-key F      the master key file that seals personal data (env\n"
    "                      EVSTORE_MASTER_KEY_FILE)\n"
    "\n"
    "Exit status: 0 when the run completed (even with some failed calls), 1 when it stopped\n"
    "early (--max-errors reached, or set-up failed), 2 on bad usage.\n";

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

/* The commands' names, indexed by bench_command. */
static const char *const command_names[] = {
    [CMD_APPEND_LATENCY] = "append-latency",
    [CMD_APPEND_THROUGHPUT] = "append-throughput",
    [CMD_READ_LATENCY] = "read-latency",
    [CMD_SUBSCRIBE_LATENCY] = "subscribe-latency",
    [CMD_CATCH_UP] = "catch-up",
    [CMD_KAFKA_CEILING] = "kafka-ceiling",
    [CMD_READ_ALL] = "read-all",
    [CMD_OCC_LOOP] = "occ-loop",
};

/* Returns 0, 2 (usage error, reported) or 1 (--help printed: exit 0). */
static int options_parse(int argc, char **argv, bench_options *o)
{
    memset(o, 0, sizeof *o);
    o->brokers = env_or("EVSTORE_BROKERS", EVS_DEFAULT_BROKERS);
    o->kafka_config = env_or("EVSTORE_KAFKA_CONFIG", NULL);
    o->master_key = env_or("EVSTORE_MASTER_KEY_FILE", NULL);
    o->projector = env_or("EVSTORE_PROJECTOR", EVS_DEFAULT_PROJECTOR);
    o->topic = env_or("EVSTORE_TOPIC", EVS_DEFAULT_TOPIC);
    o->timeout_ms = 10000;
    o->linger_ms = -1;
    o->count = -1;
    o->writers = 1;
    o->streams = 1000;
    o->events_per_append = 1;
    o->zipf_s = 1.0;
    o->stream_prefix = "Order-";
    o->warmup = -1;
    o->limit = 100;
    o->read_limit = 20;
    o->data_bytes = 256;
    o->metadata_bytes = 64;
    o->max_errors = 100;
    o->max_retries = 50;
    o->seed = 1;
    o->rate = 1000;
    o->in_flight = 1;

    int seen[OPT_HELP + 1] = {0};
    int c, command = CMD_NONE;
    long v;
    while ((c = bench_option_next(argc, argv, long_options, OPT_BROKERS, command_names,
                                  (int)(sizeof command_names / sizeof command_names[0]),
                                  &command)) > 0) {
        seen[c] = 1;
        switch (c) {
        case OPT_BROKERS:
            o->brokers = optarg;
            break;
        case OPT_KAFKA_CONFIG:
            o->kafka_config = optarg;
            break;
        case OPT_PROJECTOR:
            o->projector = optarg;
            break;
        case OPT_TOPIC:
            o->topic = optarg;
            o->topic_given = 1;
            break;
        case OPT_TIMEOUT:
            if (bench_parse_long("timeout-ms", optarg, 1, 600000, &v))
                return 2;
            o->timeout_ms = (int)v;
            break;
        case OPT_LINGER:
            if (bench_parse_long("linger-ms", optarg, 0, 10000, &v))
                return 2;
            o->linger_ms = (int)v;
            break;
        case OPT_LABEL:
            if (bench_parse_label(optarg, o->label, sizeof o->label))
                return 2;
            break;
        case OPT_COUNT:
            if (bench_parse_long("count", optarg, 1, BENCH_COUNT_MAX, &o->count))
                return 2;
            break;
        case OPT_STREAM:
            o->stream = optarg;
            break;
        case OPT_WRITERS:
            if (bench_parse_long("writers", optarg, 1, BENCH_WRITERS_MAX, &o->writers))
                return 2;
            break;
        case OPT_STREAMS:
            if (bench_parse_long("streams", optarg, 1, BENCH_STREAMS_MAX, &o->streams))
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
        case OPT_CLIENT_PER_WRITER:
            o->client_per_writer = 1;
            break;
        case OPT_STREAM_PREFIX:
            if (strlen(optarg) > BENCH_STREAM_PREFIX_MAX)
                return bench_usage_error("--stream-prefix takes at most %d characters",
                                         BENCH_STREAM_PREFIX_MAX);
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
        case OPT_RAW_HTTP:
            o->raw_http = 1;
            break;
        case OPT_PREPARE:
            o->prepare = 1;
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
            if (bench_parse_long("max-errors", optarg, 1, BENCH_COUNT_MAX, &o->max_errors))
                return 2;
            break;
        case OPT_MAX_RETRIES:
            if (bench_parse_long("max-retries", optarg, 0, 1000000, &o->max_retries))
                return 2;
            break;
        case OPT_MASTER_KEY:
            o->master_key = optarg;
            break;
        case OPT_SUBJECTS:
            if (bench_parse_long("subjects", optarg, 0, BENCH_STREAMS_MAX, &o->subjects))
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
        case OPT_RATE:
            if (bench_parse_long("rate", optarg, 1, BENCH_RATE_MAX, &o->rate))
                return 2;
            break;
        case OPT_IN_FLIGHT:
            if (bench_parse_long("in-flight", optarg, 1, 100000, &o->in_flight))
                return 2;
            break;
        case OPT_FLUSH_MESSAGES:
            if (bench_parse_long("flush-messages", optarg, 1, 1000000000L, &o->flush_messages))
                return 2;
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
    o->command = (bench_command)command;
    if (o->command == CMD_NONE)
        return bench_usage_error("no command: append-latency, append-throughput, read-latency, "
                                 "subscribe-latency, catch-up, read-all, kafka-ceiling or "
                                 "occ-loop");
    if (bench_options_check(seen, OPT_BROKERS, OPT_HELP, long_options, option_commands, o->command))
        return 2;
    if (o->kafka_config) {
        char err[600];
        if (evs_kafka_properties_load(o->kafka_config, &o->kafka, err, sizeof err) != 0) {
            fprintf(stderr, "evs_bench: %s\n", err);
            return 2;
        }
    }
    if (o->count < 0 &&
        (o->command == CMD_APPEND_THROUGHPUT || o->command == CMD_SUBSCRIBE_LATENCY ||
         o->command == CMD_KAFKA_CEILING || o->command == CMD_OCC_LOOP))
        return bench_usage_error("--count is required");
    if (o->count < 0)
        o->count = o->command == CMD_CATCH_UP || o->command == CMD_READ_ALL
                       ? 0 /* to the end */
                       : 1000;
    if (o->command == CMD_READ_ALL && !seen[OPT_LIMIT])
        o->limit = 1000;
    if (o->command == CMD_SUBSCRIBE_LATENCY) {
        if (o->count > BENCH_SUB_COUNT_MAX)
            return bench_usage_error("subscribe-latency takes at most %ld events",
                                     BENCH_SUB_COUNT_MAX);
        if (!seen[OPT_WRITERS])
            o->writers = 4;
        if (!seen[OPT_STREAM_PREFIX])
            o->stream_prefix = "Sub-";
        if (o->writers > o->count)
            return bench_usage_error("--writers (%ld) is more than --count (%ld)", o->writers,
                                     o->count);
    }
    if (o->command == CMD_KAFKA_CEILING && o->writers > o->count)
        return bench_usage_error("--writers (%ld) is more than --count (%ld)", o->writers,
                                 o->count);
    /* occ-loop prints the prefix into its JSON line: only the characters of a stream name. */
    if (o->command == CMD_OCC_LOOP && !bench_stream_chars_ok(o->stream_prefix))
        return bench_usage_error("--stream-prefix \"%s\" holds characters a stream name cannot",
                                 o->stream_prefix);
    if (o->command == CMD_READ_LATENCY && !o->stream)
        return bench_usage_error("read-latency needs --stream");
    if (o->stream && !bench_stream_name_ok(o->stream))
        return bench_usage_error("--stream \"%s\" is not a valid stream name", o->stream);
    if (o->warmup < 0)
        o->warmup =
            o->command == CMD_APPEND_THROUGHPUT || o->command == CMD_SUBSCRIBE_LATENCY ||
                    o->command == CMD_OCC_LOOP
                ? 1
                : 20;
    return 0;
}

/* ---- Error slots ----------------------------------------------------------------------- */

static const char *const slot_names[BENCH_CODE_SLOTS + 1] = {
    "EVS_OK",
    "EVS_EINVAL",
    "EVS_EWRONG_VERSION",
    "EVS_EIDEMPOTENCY",
    "EVS_EUNKNOWN_OUTCOME",
    "EVS_EUNAVAILABLE",
    "EVS_ENOT_FOUND",
    "EVS_ETIMEOUT",
    "EVS_ENOMEM",
    "EVS_EPROTOCOL",
    "EVS_EREJECTED",
    "EVS_EINTERNAL",
    "other",
    "wrong_answer",
    NULL,
};

_Static_assert(BENCH_CODE_SLOTS <= BENCH_ERROR_SLOTS_MAX, "an error slot per code");

static unsigned slot_of(int code)
{
    return code <= 0 && code >= EVS_EINTERNAL ? (unsigned)-code : BENCH_SLOT_OTHER;
}

/* ---- Output ---------------------------------------------------------------------------- */

/* The JSON line's common head: {"bench":"...","label":"...","topic":"..." (no closing). */
static void json_head(const char *bench, const bench_options *o)
{
    /* Topic and stream names cannot hold '"' or '\\' (evstore_limits.h); the label is
     * checked when parsed. */
    printf("{\"bench\":\"%s\",\"label\":\"%s\",\"topic\":\"%s\"", bench, o->label, o->topic);
    if (o->linger_ms >= 0)
        printf(",\"linger_ms\":%d", o->linger_ms);
}

/* ---- Payloads -------------------------------------------------------------------------- */

/* The events of one append: bench_payload's JSON (bench_common.h), type OrderPlaced. */
/* --subjects: how many subjects the appends' events are personal data of (0: none). */
static long payload_subjects;

typedef struct payload {
    char subject[40];       /* the subject of the next append's events, with --subjects */
    bench_payload json;     /* the data and metadata buffers, room for json.event_count */
    size_t event_count;     /* events in the next append, at most json.event_count */
    evs_event_data *events; /* event_count entries pointing into json's buffers */
} payload;

static void payload_free(payload *p)
{
    bench_payload_free(&p->json);
    free(p->events);
    memset(p, 0, sizeof *p);
}

static int payload_init(payload *p, size_t event_count, size_t data_bytes, size_t metadata_bytes)
{
    memset(p, 0, sizeof *p);
    p->event_count = event_count;
    p->events = calloc(event_count, sizeof *p->events);
    if (!p->events || bench_payload_init(&p->json, event_count, data_bytes, metadata_bytes)) {
        payload_free(p);
        return -1;
    }
    return 0;
}

/* Fills the events for append number serial: type OrderPlaced, JSON data and metadata. */
static void payload_fill(payload *p, uint64_t serial, uint64_t *rng)
{
    if (payload_subjects > 0)
        snprintf(p->subject, sizeof p->subject, "Bench-subject-%llu",
                 (unsigned long long)(serial % (uint64_t)payload_subjects));
    for (size_t i = 0; i < p->event_count; i++) {
        bench_event_json json;
        bench_payload_fill(&p->json, i, serial, rng, &json);
        evs_event_data *e = &p->events[i];
        memset(e, 0, sizeof *e);
        e->type = "OrderPlaced";
        e->data = json.data;
        e->data_len = json.data_len;
        e->metadata = json.metadata;
        e->metadata_len = json.metadata_len;
        e->subject = payload_subjects > 0 ? p->subject : NULL;
    }
}

/* ---- Client helpers -------------------------------------------------------------------- */

static int client_open(const bench_options *o, evs_client **out)
{
    evs_client_options co;
    evs_client_options_init(&co);
    co.brokers = o->brokers;
    co.topic = o->topic;
    co.projector_url = o->projector;
    co.kafka_config_file = o->kafka_config;
    co.master_key_file = o->master_key;
    co.produce_timeout_ms = o->timeout_ms;
    co.verdict_timeout_ms = o->timeout_ms;
    co.request_timeout_ms = o->timeout_ms;
    if (o->linger_ms >= 0)
        co.linger_ms = o->linger_ms;
    int rc = evs_client_open(&co, out);
    if (rc != 0)
        fprintf(stderr, "evs_bench: cannot open a client: %s: %s\n", evs_strerror(rc),
                evs_last_error());
    return rc;
}

/* The stream's current version (0 if it does not exist), from the projector. */
static int stream_version(evs_client *client, const char *stream, uint64_t *version)
{
    evs_event_list *list = NULL;
    int rc = evs_stream_read(client, stream, 0, 1, EVS_BACKWARDS, &list);
    if (rc == EVS_ENOT_FOUND) {
        *version = 0;
        return 0;
    }
    if (rc != 0)
        return rc;
    *version = list->count ? list->events[0].version : 0;
    evs_event_list_free(list);
    return 0;
}

/* ---- append-latency -------------------------------------------------------------------- */

/* One append of p's events to stream, expecting exactly *version. A failure is counted in
 * errors (with its message) before anything else can overwrite evs_last_error(). Keeps
 * *version in step: the new last version on success, the projector's current version on a
 * wrong expected version, and otherwise (outcome unknown, projector or broker trouble)
 * whatever the projector says now. */
static int append_exact(evs_client *client, const char *stream, uint64_t *version, const payload *p,
                        evs_append_result *result, bench_errors *errors)
{
    evs_expected expected = {EVS_EXPECT_EXACT, *version};
    int rc = evs_append(client, stream, expected, p->events, p->event_count, NULL, result);
    if (rc == 0) {
        *version = result->last_version;
        return 0;
    }
    bench_errors_add(errors, slot_of(rc), evs_last_error());
    if (rc == EVS_EWRONG_VERSION) {
        *version = result->current_version;
    } else {
        uint64_t now_version;
        if (stream_version(client, stream, &now_version) == 0)
            *version = now_version;
    }
    return rc;
}

static int run_append_latency(const bench_options *o)
{
    int status = 1;
    char default_stream[64];
    evs_client *client = NULL;
    bench_histogram *h = malloc(sizeof *h);
    bench_errors *errors = calloc(1, sizeof *errors);
    payload p = {0};
    uint64_t rng = o->seed ^ UINT64_C(0x5eed);
    evs_append_result result;

    snprintf(default_stream, sizeof default_stream, "Bench-latency-%ld", (long)getpid());
    const char *stream = o->stream ? o->stream : default_stream;
    if (!h || !errors || payload_init(&p, 1, (size_t)o->data_bytes, (size_t)o->metadata_bytes)) {
        fprintf(stderr, "evs_bench: out of memory\n");
        goto done;
    }
    bench_histogram_init(h);
    if (client_open(o, &client) != 0)
        goto done;
    uint64_t version;
    int rc = stream_version(client, stream, &version);
    if (rc != 0) {
        fprintf(stderr, "evs_bench: cannot read stream %s from the projector at %s: %s: %s\n",
                stream, o->projector, evs_strerror(rc), evs_last_error());
        goto done;
    }
    printf("append-latency: stream %s (at version %" PRIu64 "), %ld warm-up + %ld timed appends"
           " of 1 event (%ld B data, %ld B metadata), exact expected versions\n",
           stream, version, o->warmup, o->count, o->data_bytes, o->metadata_bytes);
    fflush(stdout);

    uint64_t serial = 0;
    for (long i = 0; i < o->warmup; i++) {
        payload_fill(&p, serial++, &rng);
        if ((rc = append_exact(client, stream, &version, &p, &result, errors)) != 0 &&
            rc != EVS_EWRONG_VERSION) {
            fprintf(stderr,
                    "evs_bench: a warm-up append failed: %s: %s\n(is the projector at %s "
                    "following topic %s?)\n",
                    evs_strerror(rc), errors->first_message[slot_of(rc)], o->projector, o->topic);
            goto done;
        }
    }
    memset(errors, 0, sizeof *errors);

    uint64_t ok = 0, failed = 0;
    uint64_t started = bench_now_us();
    for (long i = 0; i < o->count; i++) {
        payload_fill(&p, serial++, &rng);
        uint64_t t0 = bench_now_us();
        rc = append_exact(client, stream, &version, &p, &result, errors);
        uint64_t t1 = bench_now_us();
        if (rc == 0) {
            bench_histogram_record(h, t1 - t0);
            ok++;
        } else {
            if (++failed >= (uint64_t)o->max_errors) {
                fprintf(stderr, "evs_bench: stopping after %" PRIu64 " failed appends\n", failed);
                break;
            }
        }
    }
    double seconds = (double)(bench_now_us() - started) / 1e6;
    int completed = failed < (uint64_t)o->max_errors;

    printf("append-latency: %" PRIu64 " appends in %.2f s: %.0f appends/s (one at a time), "
           "stream now at version %" PRIu64 "%s\n",
           ok, seconds, (double)ok / seconds, version, completed ? "" : " (STOPPED EARLY)");
    bench_latency_print("append", h);
    bench_errors_print(errors, slot_names);
    json_head("append-latency", o);
    printf(",\"stream\":\"%s\",\"writers\":1,\"events_per_append\":1,\"data_bytes\":%ld,"
           "\"metadata_bytes\":%ld,\"appends\":%" PRIu64 ",\"events\":%" PRIu64
           ",\"seconds\":%.3f,\"appends_per_s\":%.1f,\"events_per_s\":%.1f",
           stream, o->data_bytes, o->metadata_bytes, ok, ok, seconds, (double)ok / seconds,
           (double)ok / seconds);
    bench_latency_json("", h);
    bench_errors_json(errors, slot_names);
    printf(",\"completed\":%s}\n", completed ? "true" : "false");
    status = completed ? 0 : 1;
done:
    evs_client_close(client);
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
    evs_client *client; /* the shared client, or this writer's own */
    bench_histogram histogram;
    bench_errors errors;
    uint64_t appends, events, conflicts, duplicates;
    int setup_failed;
} writer;

struct throughput_run {
    const bench_options *o;
    bench_run calls;            /* the appends: claimed, failed (--max-errors), finished */
    _Atomic uint64_t *versions; /* --exact: the highest version seen per stream */
    double *zipf_cdf;           /* --zipf: cumulative probabilities of ranks 1..K */
};

static void *writer_main(void *arg)
{
    writer *w = arg;
    throughput_run *run = w->run;
    const bench_options *o = run->o;
    uint64_t rng = o->seed * UINT64_C(0x100000001b3) + (uint64_t)w->index;
    char stream[EVS_STREAM_NAME_MAX + 1];
    payload p;
    evs_append_result result;
    int have_payload = 0;

    bench_histogram_init(&w->histogram);
    if (payload_init(&p, (size_t)o->events_per_append, (size_t)o->data_bytes,
                     (size_t)o->metadata_bytes) != 0) {
        fprintf(stderr, "evs_bench: writer %ld: out of memory\n", w->index);
        w->setup_failed = 1;
    } else {
        have_payload = 1;
    }
    /* Warm-up, untimed: the producer's first connection, an HTTP connection per writer. */
    snprintf(stream, sizeof stream, "%swarmup-%ld", o->stream_prefix, w->index + 1);
    for (long i = 0; i < o->warmup && !w->setup_failed; i++) {
        payload_fill(&p, (uint64_t)i, &rng);
        evs_expected any = {EVS_EXPECT_ANY, 0};
        int rc = evs_append(w->client, stream, any, p.events, p.event_count, NULL, &result);
        if (rc != 0) {
            fprintf(stderr, "evs_bench: writer %ld: the warm-up append to %s failed: %s: %s\n",
                    w->index, stream, evs_strerror(rc), evs_last_error());
            w->setup_failed = 1;
        }
    }
    bench_run_ready(&run->calls, w->setup_failed);

    long serial;
    while ((serial = bench_run_claim(&run->calls)) >= 0) {
        long k = bench_stream_pick(run->zipf_cdf, o->streams, &rng);
        snprintf(stream, sizeof stream, "%s%ld", o->stream_prefix, k + 1);
        payload_fill(&p, (uint64_t)serial, &rng);
        int rc;
        long attempts = 0;
        uint64_t t0 = bench_now_us();
        for (;;) {
            evs_expected expected = {EVS_EXPECT_ANY, 0};
            if (o->exact)
                expected = (evs_expected){EVS_EXPECT_EXACT, atomic_load(&run->versions[k])};
            rc = evs_append(w->client, stream, expected, p.events, p.event_count, NULL, &result);
            if (rc == 0) {
                if (o->exact)
                    bench_version_raise(&run->versions[k], result.last_version);
                break;
            }
            if (rc != EVS_EWRONG_VERSION || !o->exact || attempts >= o->max_retries)
                break;
            w->conflicts++;
            attempts++;
            bench_version_raise(&run->versions[k], result.current_version);
        }
        uint64_t t1 = bench_now_us();
        if (rc == 0) {
            bench_histogram_record(&w->histogram, t1 - t0);
            w->appends++;
            w->events += p.event_count;
            w->duplicates += result.duplicate ? 1 : 0;
        } else {
            bench_errors_add(&w->errors, slot_of(rc), evs_last_error());
        }
        bench_run_call_done(&run->calls, rc != 0);
    }
    bench_run_writer_done(&run->calls);
    if (have_payload)
        payload_free(&p);
    return NULL;
}

static int run_append_throughput(const bench_options *o)
{
    int status = 1;
    long w_count = o->writers;
    writer *writers = calloc((size_t)w_count, sizeof *writers);
    evs_client *shared = NULL;
    bench_histogram *h = malloc(sizeof *h);
    bench_errors *errors = calloc(1, sizeof *errors);
    throughput_run run;
    int barrier_ready = 0;

    memset(&run, 0, sizeof run);
    run.o = o;
    if (!writers || !h || !errors) {
        fprintf(stderr, "evs_bench: out of memory\n");
        goto done;
    }
    if (o->exact && !(run.versions = calloc((size_t)o->streams, sizeof *run.versions))) {
        fprintf(stderr, "evs_bench: out of memory\n");
        goto done;
    }
    if (o->zipf && !(run.zipf_cdf = bench_zipf_cdf_new(o->streams, o->zipf_s))) {
        fprintf(stderr, "evs_bench: out of memory\n");
        goto done;
    }
    if (!o->client_per_writer && client_open(o, &shared) != 0)
        goto done;
    for (long i = 0; i < w_count; i++) {
        writers[i].index = i;
        writers[i].run = &run;
        writers[i].client = shared;
        if (o->client_per_writer && client_open(o, &writers[i].client) != 0)
            goto done;
    }
    printf("append-throughput: %ld writers (%s), %ld appends of %ld event(s) (%ld B data, %ld B "
           "metadata each) to %ld streams %s1..%s%ld (%s), expectation %s\n",
           w_count, o->client_per_writer ? "one client each" : "one shared client", o->count,
           o->events_per_append, o->data_bytes, o->metadata_bytes, o->streams, o->stream_prefix,
           o->stream_prefix, o->streams, o->zipf ? "zipf" : "uniform",
           o->exact ? "exact version (retried on conflict)" : "any");
    fflush(stdout);

    if (bench_run_init(&run.calls, w_count, o->count, o->max_errors) != 0) {
        fprintf(stderr, "evs_bench: cannot create a barrier\n");
        goto done;
    }
    barrier_ready = 1;
    bench_run_start(&run.calls, writer_main, writers, sizeof *writers);
    double seconds = bench_run_wait(&run.calls, o->progress, "appends");
    bench_run_join(&run.calls);

    bench_histogram_init(h);
    uint64_t appends = 0, events = 0, conflicts = 0, duplicates = 0;
    int setup_failed = 0;
    for (long i = 0; i < w_count; i++) {
        bench_histogram_merge(h, &writers[i].histogram);
        bench_errors_merge(errors, &writers[i].errors);
        appends += writers[i].appends;
        events += writers[i].events;
        conflicts += writers[i].conflicts;
        duplicates += writers[i].duplicates;
        setup_failed |= writers[i].setup_failed;
    }
    if (setup_failed)
        goto done;
    int completed = bench_run_completed(&run.calls);
    printf("append-throughput: %" PRIu64 " appends, %" PRIu64 " events in %.2f s: %.0f appends/s, "
           "%.0f events/s%s\n",
           appends, events, seconds, (double)appends / seconds, (double)events / seconds,
           completed ? "" : " (STOPPED EARLY)");
    if (o->exact)
        printf("  wrong-expected-version answers retried: %" PRIu64 " (%.2f per append)\n",
               conflicts, appends ? (double)conflicts / (double)appends : 0.0);
    if (duplicates)
        printf("  duplicates: %" PRIu64 " (unexpected: every append has fresh event ids)\n",
               duplicates);
    bench_latency_print(o->exact ? "append (incl. retries)" : "append", h);
    bench_errors_print(errors, slot_names);
    json_head("append-throughput", o);
    printf(",\"writers\":%ld,\"clients\":%ld,\"streams\":%ld,\"distribution\":\"%s\","
           "\"zipf_s\":%.2f,\"expectation\":\"%s\",\"events_per_append\":%ld,\"data_bytes\":%ld,"
           "\"metadata_bytes\":%ld,\"appends\":%" PRIu64 ",\"events\":%" PRIu64
           ",\"seconds\":%.3f,\"appends_per_s\":%.1f,\"events_per_s\":%.1f,\"conflicts\":%" PRIu64
           ",\"duplicates\":%" PRIu64,
           w_count, o->client_per_writer ? w_count : 1, o->streams, o->zipf ? "zipf" : "uniform",
           o->zipf ? o->zipf_s : 0.0, o->exact ? "exact" : "any", o->events_per_append,
           o->data_bytes, o->metadata_bytes, appends, events, seconds, (double)appends / seconds,
           (double)events / seconds, conflicts, duplicates);
    bench_latency_json("", h);
    bench_errors_json(errors, slot_names);
    printf(",\"completed\":%s}\n", completed ? "true" : "false");
    status = completed ? 0 : 1;
done:
    if (barrier_ready) {
        bench_run_join(&run.calls);
        bench_run_destroy(&run.calls);
    }
    if (writers && o->client_per_writer)
        for (long i = 0; i < w_count; i++)
            evs_client_close(writers[i].client);
    evs_client_close(shared);
    free(run.versions);
    free(run.zipf_cdf);
    free(writers);
    free(h);
    free(errors);
    return status;
}

/* ---- occ-loop -------------------------------------------------------------------------- */

/* The optimistic-concurrency loop of a command handler: read the stream's tail to rebuild
 * its state, append one event expecting exactly the version that read showed, and on a
 * wrong expected version start again from the read. */

typedef struct occ_run occ_run;

typedef struct occ_writer {
    long index;
    occ_run *run;
    evs_client *client;             /* the shared client */
    bench_histogram histogram;      /* each command that succeeded, retries included */
    bench_histogram read_histogram; /* each read of the timed commands that answered */
    bench_errors errors;
    uint64_t commands;        /* commands whose append was accepted */
    uint64_t conflicts;       /* wrong expected versions, each followed by a new read */
    uint64_t reads;           /* reads that answered (with events or "no such stream") */
    uint64_t reads_not_found; /* of them, of a stream that did not exist yet */
    uint64_t read_events;     /* events those reads returned */
    uint64_t command_us;      /* the time of the commands that succeeded ... */
    uint64_t read_us;         /* ... and of their reads */
    int setup_failed;
} occ_writer;

struct occ_run {
    const bench_options *o;
    bench_run calls; /* the commands: claimed, failed (--max-errors), finished */
};

/* What one read of a stream's tail showed. */
typedef struct occ_tail {
    uint64_t version; /* the stream's current version: its newest event's, 0 if none */
    size_t events;    /* events returned */
    size_t bytes;     /* their data and metadata: what a handler would fold into its state */
    int not_found;    /* the stream does not exist (yet) */
} occ_tail;

/* Reads the last `limit` events of stream, newest first (backwards from the end), and checks
 * the answer: at least one event, versions falling one by one from the newest, and as many
 * as the stream holds from its first readable version, up to limit. Returns 0, or the error
 * slot (its message in message). */
static unsigned occ_read_tail(evs_client *client, const char *stream, long limit, occ_tail *t,
                              char *message, size_t message_len)
{
    evs_event_list *list = NULL;
    memset(t, 0, sizeof *t);
    int rc = evs_stream_read(client, stream, 0, (size_t)limit, EVS_BACKWARDS, &list);
    if (rc == EVS_ENOT_FOUND) {
        t->not_found = 1;
        return 0;
    }
    if (rc != 0) {
        snprintf(message, message_len, "read of %s: %s", stream, evs_last_error());
        return slot_of(rc);
    }
    unsigned slot = 0;
    if (list->count == 0) {
        /* Nothing readable although the stream exists (truncated, or beyond its limits):
         * its version cannot be taken from the events. The benchmark's streams have none. */
        snprintf(message, message_len, "the read of %s returned no events", stream);
        slot = BENCH_SLOT_BAD_ANSWER;
        goto done;
    }
    t->events = list->count;
    t->version = list->events[0].version;
    uint64_t first = list->first_version ? list->first_version : 1;
    uint64_t readable = t->version >= first ? t->version - first + 1 : 0;
    size_t want = readable < (uint64_t)limit ? (size_t)readable : (size_t)limit;
    if (list->count != want) {
        snprintf(message, message_len, "the read of %s returned %zu events, not %zu", stream,
                 list->count, want);
        slot = BENCH_SLOT_BAD_ANSWER;
        goto done;
    }
    for (size_t i = 0; i < list->count; i++) {
        const evs_event *e = &list->events[i];
        if (e->version != t->version - i) {
            snprintf(message, message_len,
                     "event %zu of the read of %s is version %" PRIu64 ", not %" PRIu64, i,
                     stream, e->version, t->version - i);
            slot = BENCH_SLOT_BAD_ANSWER;
            goto done;
        }
        t->bytes += e->data_len + e->metadata_len;
    }
done:
    evs_event_list_free(list);
    return slot;
}

/* One command on stream: read, append p's event at the version read, and again from the
 * read after each wrong expected version (at most --max-retries times). With timed, the
 * reads and conflicts are counted in w and each read's latency recorded; *read_us gets the
 * time spent reading. Returns 0, or the error slot of the failure that ended the command
 * (its message in message). */
static unsigned occ_command(occ_writer *w, const char *stream, const payload *p, int timed,
                            uint64_t *read_us, char *message, size_t message_len)
{
    const bench_options *o = w->run->o;
    evs_append_result result;
    *read_us = 0;
    for (long attempts = 0;; attempts++) {
        occ_tail tail;
        uint64_t t0 = bench_now_us();
        unsigned slot = occ_read_tail(w->client, stream, o->read_limit, &tail, message,
                                      message_len);
        uint64_t t1 = bench_now_us();
        if (slot != 0)
            return slot;
        *read_us += t1 - t0;
        if (timed) {
            bench_histogram_record(&w->read_histogram, t1 - t0);
            w->reads++;
            w->reads_not_found += (uint64_t)tail.not_found;
            w->read_events += tail.events;
        }
        evs_expected expected = {EVS_EXPECT_EXACT, tail.version};
        int rc = evs_append(w->client, stream, expected, p->events, p->event_count, NULL, &result);
        if (rc == 0)
            return 0;
        if (rc != EVS_EWRONG_VERSION || attempts >= o->max_retries) {
            snprintf(message, message_len, "%s%s", evs_last_error(),
                     rc == EVS_EWRONG_VERSION ? " (retries exhausted)" : "");
            return slot_of(rc);
        }
        if (timed)
            w->conflicts++;
    }
}

static void *occ_writer_main(void *arg)
{
    occ_writer *w = arg;
    occ_run *run = w->run;
    const bench_options *o = run->o;
    uint64_t rng = o->seed * UINT64_C(0x100000001b3) + (uint64_t)w->index;
    char stream[EVS_STREAM_NAME_MAX + 1];
    char message[BENCH_ERROR_MESSAGE_MAX];
    uint64_t read_us;
    payload p;
    int have_payload = 0;

    bench_histogram_init(&w->histogram);
    bench_histogram_init(&w->read_histogram);
    if (payload_init(&p, 1, (size_t)o->data_bytes, (size_t)o->metadata_bytes) != 0) {
        fprintf(stderr, "evs_bench: writer %ld: out of memory\n", w->index);
        w->setup_failed = 1;
    } else {
        have_payload = 1;
    }
    /* Warm-up, untimed: whole commands on a stream of the writer's own (the producer's
     * first connection, HTTP connections for reads and verdicts). */
    snprintf(stream, sizeof stream, "%swarmup-%ld", o->stream_prefix, w->index + 1);
    for (long i = 0; i < o->warmup && !w->setup_failed; i++) {
        payload_fill(&p, (uint64_t)i, &rng);
        unsigned slot = occ_command(w, stream, &p, 0, &read_us, message, sizeof message);
        if (slot != 0) {
            fprintf(stderr, "evs_bench: writer %ld: the warm-up command on %s failed: %s: %s\n",
                    w->index, stream, slot_names[slot], message);
            w->setup_failed = 1;
        }
    }
    bench_run_ready(&run->calls, w->setup_failed);

    long serial;
    while ((serial = bench_run_claim(&run->calls)) >= 0) {
        long k = bench_stream_pick(NULL, o->streams, &rng);
        snprintf(stream, sizeof stream, "%s%ld", o->stream_prefix, k + 1);
        payload_fill(&p, (uint64_t)serial, &rng);
        uint64_t t0 = bench_now_us();
        unsigned slot = occ_command(w, stream, &p, 1, &read_us, message, sizeof message);
        uint64_t t1 = bench_now_us();
        if (slot == 0) {
            bench_histogram_record(&w->histogram, t1 - t0);
            w->commands++;
            w->command_us += t1 - t0;
            w->read_us += read_us;
        } else {
            bench_errors_add(&w->errors, slot, message);
        }
        bench_run_call_done(&run->calls, slot != 0);
    }
    bench_run_writer_done(&run->calls);
    if (have_payload)
        payload_free(&p);
    return NULL;
}

static int run_occ_loop(const bench_options *o)
{
    int status = 1;
    long w_count = o->writers;
    occ_writer *writers = calloc((size_t)w_count, sizeof *writers);
    evs_client *client = NULL;
    bench_histogram *h = malloc(sizeof *h);
    bench_histogram *read_h = malloc(sizeof *read_h);
    bench_errors *errors = calloc(1, sizeof *errors);
    occ_run run;
    int barrier_ready = 0;

    memset(&run, 0, sizeof run);
    run.o = o;
    if (!writers || !h || !read_h || !errors) {
        fprintf(stderr, "evs_bench: out of memory\n");
        goto done;
    }
    if (client_open(o, &client) != 0)
        goto done;
    for (long i = 0; i < w_count; i++) {
        writers[i].index = i;
        writers[i].run = &run;
        writers[i].client = client;
    }
    printf("occ-loop: %ld writer%s (one shared client), %ld commands on %ld streams %s1..%s%ld "
           "(uniform); a command reads the stream's last %ld events (evs_stream_read, backwards "
           "from the end), then appends 1 event (%ld B data, %ld B metadata) expecting exactly "
           "the version read, and on a conflict reads again (at most %ld retries)\n",
           w_count, w_count == 1 ? "" : "s", o->count, o->streams, o->stream_prefix,
           o->stream_prefix, o->streams, o->read_limit, o->data_bytes, o->metadata_bytes,
           o->max_retries);
    fflush(stdout);

    if (bench_run_init(&run.calls, w_count, o->count, o->max_errors) != 0) {
        fprintf(stderr, "evs_bench: cannot create a barrier\n");
        goto done;
    }
    barrier_ready = 1;
    bench_run_start(&run.calls, occ_writer_main, writers, sizeof *writers);
    double seconds = bench_run_wait(&run.calls, o->progress, "commands");
    bench_run_join(&run.calls);

    bench_histogram_init(h);
    bench_histogram_init(read_h);
    uint64_t commands = 0, conflicts = 0, reads = 0, not_found = 0, read_events = 0;
    uint64_t command_us = 0, read_us = 0;
    int setup_failed = 0;
    for (long i = 0; i < w_count; i++) {
        const occ_writer *w = &writers[i];
        bench_histogram_merge(h, &w->histogram);
        bench_histogram_merge(read_h, &w->read_histogram);
        bench_errors_merge(errors, &w->errors);
        commands += w->commands;
        conflicts += w->conflicts;
        reads += w->reads;
        not_found += w->reads_not_found;
        read_events += w->read_events;
        command_us += w->command_us;
        read_us += w->read_us;
        setup_failed |= w->setup_failed;
    }
    if (setup_failed)
        goto done;
    int completed = bench_run_completed(&run.calls);
    double per_s = (double)commands / seconds;
    double read_share = command_us ? (double)read_us / (double)command_us : 0.0;
    printf("occ-loop: %" PRIu64 " commands in %.2f s: %.0f commands/s%s\n", commands, seconds,
           per_s, completed ? "" : " (STOPPED EARLY)");
    printf("  conflicts (wrong expected version, read and appended again): %" PRIu64
           " (%.3f per command)\n",
           conflicts, commands ? (double)conflicts / (double)commands : 0.0);
    printf("  reads: %" PRIu64 ", %.1f events each on average; %" PRIu64 " found no stream "
           "(appended at version 0)\n",
           reads, reads ? (double)read_events / (double)reads : 0.0, not_found);
    bench_latency_print("command (reads + appends)", h);
    bench_latency_print("read", read_h);
    printf("  reads' share of the commands' time: %.1f %%\n", 100.0 * read_share);
    bench_errors_print(errors, slot_names);
    json_head("occ-loop", o);
    printf(",\"writers\":%ld,\"clients\":1,\"streams\":%ld,\"stream_prefix\":\"%s\","
           "\"distribution\":\"uniform\",\"read_limit\":%ld,\"read_direction\":\"backwards\","
           "\"expectation\":\"exact\",\"events_per_append\":1,\"data_bytes\":%ld,"
           "\"metadata_bytes\":%ld,\"max_retries\":%ld,\"commands\":%" PRIu64
           ",\"appends\":%" PRIu64 ",\"events\":%" PRIu64 ",\"seconds\":%.3f,"
           "\"commands_per_s\":%.1f,\"appends_per_s\":%.1f,\"events_per_s\":%.1f,"
           "\"conflicts\":%" PRIu64 ",\"reads\":%" PRIu64 ",\"reads_not_found\":%" PRIu64
           ",\"read_events\":%" PRIu64 ",\"read_share\":%.4f",
           w_count, o->streams, o->stream_prefix, o->read_limit, o->data_bytes, o->metadata_bytes,
           o->max_retries, commands, commands, commands, seconds, per_s, per_s, per_s, conflicts,
           reads, not_found, read_events, read_share);
    bench_latency_json("", h);
    bench_latency_json("read_", read_h);
    bench_errors_json(errors, slot_names);
    printf(",\"completed\":%s}\n", completed ? "true" : "false");
    status = completed ? 0 : 1;
done:
    if (barrier_ready) {
        bench_run_join(&run.calls);
        bench_run_destroy(&run.calls);
    }
    evs_client_close(client);
    free(writers);
    free(h);
    free(read_h);
    free(errors);
    return status;
}

/* ---- read-latency ---------------------------------------------------------------------- */

/* Writes count events to a stream that does not exist yet, in appends of at most
 * EVS_APPEND_EVENTS_MAX events. */
static int stream_prepare(const bench_options *o, evs_client *client, const char *stream,
                          long count)
{
    int rc = 0;
    payload p;
    uint64_t rng = o->seed ^ UINT64_C(0xbeef);
    uint64_t version = 0;
    long chunk = count < EVS_APPEND_EVENTS_MAX ? count : EVS_APPEND_EVENTS_MAX;
    if (payload_init(&p, (size_t)chunk, (size_t)o->data_bytes, (size_t)o->metadata_bytes) != 0)
        return EVS_ENOMEM;
    for (long written = 0; written < count && rc == 0;) {
        p.event_count = (size_t)(count - written < chunk ? count - written : chunk);
        payload_fill(&p, (uint64_t)written, &rng);
        evs_append_result result;
        evs_expected expected = {EVS_EXPECT_EXACT, version};
        rc = evs_append(client, stream, expected, p.events, p.event_count, NULL, &result);
        if (rc == 0) {
            version = result.last_version;
            written += (long)p.event_count;
        } else {
            fprintf(stderr, "evs_bench: cannot write stream %s: %s: %s\n", stream, evs_strerror(rc),
                    evs_last_error());
        }
    }
    payload_free(&p);
    if (rc == 0)
        printf("read-latency: wrote %ld events to %s (--prepare)\n", count, stream);
    return rc;
}

/* The body of a raw GET: kept (not parsed) so the cost of receiving it is like the
 * client's, which also accumulates the whole body before it parses. */
typedef struct raw_body {
    char *data;
    size_t len, cap;
} raw_body;

static size_t raw_body_write(char *data, size_t size, size_t nmemb, void *user)
{
    raw_body *b = user;
    size_t n = size * nmemb;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown)
            return 0;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return n;
}

/* One raw read: 0, or the error slot it failed with (its message in message). */
static unsigned raw_read(CURL *curl, raw_body *body, char *message, size_t message_len)
{
    body->len = 0;
    CURLcode res = curl_easy_perform(curl);
    if (res != CURLE_OK) {
        snprintf(message, message_len, "GET failed: %s", curl_easy_strerror(res));
        return res == CURLE_OPERATION_TIMEDOUT ? slot_of(EVS_ETIMEOUT) : slot_of(EVS_EUNAVAILABLE);
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        snprintf(message, message_len, "GET answered HTTP %ld: %.*s", status,
                 (int)(body->len < 160 ? body->len : 160), body->data ? body->data : "");
        return BENCH_SLOT_BAD_ANSWER;
    }
    return 0;
}

static int run_read_latency(const bench_options *o)
{
    int status = 1;
    evs_client *client = NULL;
    evs_event_list *list = NULL;
    CURL *curl = NULL;
    char *url = NULL;
    raw_body body = {0};
    bench_histogram *h = malloc(sizeof *h);
    bench_errors *errors = calloc(1, sizeof *errors);
    char message[256];
    const char *stream = o->stream;

    if (!h || !errors) {
        fprintf(stderr, "evs_bench: out of memory\n");
        goto done;
    }
    bench_histogram_init(h);
    if (client_open(o, &client) != 0)
        goto done;
    /* What a read returns: the count every timed read must match. */
    int rc = evs_stream_read(client, stream, 0, (size_t)o->limit, EVS_FORWARDS, &list);
    if (rc == EVS_ENOT_FOUND && o->prepare) {
        if (stream_prepare(o, client, stream, o->limit) != 0)
            goto done;
        rc = evs_stream_read(client, stream, 0, (size_t)o->limit, EVS_FORWARDS, &list);
    }
    if (rc != 0) {
        fprintf(stderr, "evs_bench: cannot read stream %s: %s: %s%s\n", stream, evs_strerror(rc),
                evs_last_error(), rc == EVS_ENOT_FOUND ? " (--prepare writes it first)" : "");
        goto done;
    }
    size_t expected_count = list->count;
    size_t data_bytes = 0;
    for (size_t i = 0; i < list->count; i++)
        data_bytes += list->events[i].data_len + list->events[i].metadata_len;
    evs_event_list_free(list);
    list = NULL;

    if (o->raw_http) {
        size_t base_len = strlen(o->projector);
        while (base_len > 0 && o->projector[base_len - 1] == '/')
            base_len--;
        size_t url_len = base_len + strlen(stream) + 128;
        if (!(url = malloc(url_len)) || !(curl = curl_easy_init())) {
            fprintf(stderr, "evs_bench: cannot set up libcurl\n");
            goto done;
        }
        /* The query evs_stream_read sends, so the projector does the same work. */
        snprintf(url, url_len,
                 "%.*s/streams/%s?from=0&limit=%ld&direction=forwards&encoding=base64",
                 (int)base_len, o->projector, stream, o->limit);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(curl, CURLOPT_PROXY, "");
        curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, raw_body_write);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    }
    printf("read-latency: stream %s, %ld warm-up + %ld timed reads of %zu events (limit %ld, "
           "%zu B of data and metadata) with %s\n",
           stream, o->warmup, o->count, expected_count, o->limit, data_bytes,
           o->raw_http ? "raw HTTP GETs (libcurl, body not parsed)" : "evs_stream_read");
    fflush(stdout);

    uint64_t ok = 0, failed = 0, body_bytes = 0;
    uint64_t started = 0;
    for (long i = -o->warmup; i < o->count; i++) {
        if (i == 0)
            started = bench_now_us();
        unsigned slot = 0;
        uint64_t t0 = bench_now_us();
        if (o->raw_http) {
            slot = raw_read(curl, &body, message, sizeof message);
        } else {
            rc = evs_stream_read(client, stream, 0, (size_t)o->limit, EVS_FORWARDS, &list);
            if (rc != 0) {
                slot = slot_of(rc);
                snprintf(message, sizeof message, "%s", evs_last_error());
            }
        }
        uint64_t t1 = bench_now_us();
        if (slot == 0 && !o->raw_http && list->count != expected_count) {
            slot = BENCH_SLOT_BAD_ANSWER;
            snprintf(message, sizeof message, "read returned %zu events, not %zu", list->count,
                     expected_count);
        }
        evs_event_list_free(list);
        list = NULL;
        if (i < 0) {
            if (slot != 0) {
                fprintf(stderr, "evs_bench: a warm-up read failed: %s\n", message);
                goto done;
            }
            continue;
        }
        if (slot == 0) {
            bench_histogram_record(h, t1 - t0);
            body_bytes += body.len;
            ok++;
        } else {
            bench_errors_add(errors, slot, message);
            if (++failed >= (uint64_t)o->max_errors) {
                fprintf(stderr, "evs_bench: stopping after %" PRIu64 " failed reads\n", failed);
                break;
            }
        }
    }
    double seconds = (double)(bench_now_us() - started) / 1e6;
    int completed = failed < (uint64_t)o->max_errors;
    const char *mode = o->raw_http ? "raw-http" : "client";
    printf("read-latency (%s): %" PRIu64 " reads in %.2f s: %.0f reads/s, %.0f events/s "
           "(one at a time)%s\n",
           mode, ok, seconds, (double)ok / seconds, (double)ok * (double)expected_count / seconds,
           completed ? "" : " (STOPPED EARLY)");
    if (o->raw_http && ok)
        printf("  response body: %" PRIu64 " bytes\n", body_bytes / ok);
    bench_latency_print("read", h);
    bench_errors_print(errors, slot_names);
    json_head("read-latency", o);
    printf(",\"mode\":\"%s\",\"stream\":\"%s\",\"limit\":%ld,\"events_per_read\":%zu,"
           "\"payload_bytes\":%zu,\"reads\":%" PRIu64 ",\"seconds\":%.3f,\"reads_per_s\":%.1f",
           mode, stream, o->limit, expected_count, data_bytes, ok, seconds, (double)ok / seconds);
    if (o->raw_http) /* only the raw reads see the HTTP body */
        printf(",\"response_bytes\":%" PRIu64, ok ? body_bytes / ok : 0);
    bench_latency_json("", h);
    bench_errors_json(errors, slot_names);
    printf(",\"completed\":%s}\n", completed ? "true" : "false");
    status = completed ? 0 : 1;
done:
    evs_event_list_free(list);
    if (curl)
        curl_easy_cleanup(curl);
    free(url);
    free(body.data);
    evs_client_close(client);
    free(h);
    free(errors);
    return status;
}

/* ---- subscribe-latency ----------------------------------------------------------------- */

/* What became of event k's append (sub_run.sent). */
#define SENT_NONE 0    /* never attempted (the run stopped early) */
#define SENT_OK 1      /* accepted */
#define SENT_FAILED 2  /* refused or not written: must not be delivered */
#define SENT_UNKNOWN 3 /* EVS_EUNKNOWN_OUTCOME: may or may not be delivered */
/* A writer is "late" when it starts an append more than this after its deadline. */
#define SUB_LATE_US 1000
/* How many missing or unexpected events an error message names. */
#define SUB_NAMED_MAX 10

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wall-clock microseconds: what goes into an event and what the subscriber compares it
 * with. Both are read in this process, so a step of the clock (NTP) is the only error; the
 * subscriber counts deliveries that appear to precede their append. */
static int64_t realtime_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_until_ns(uint64_t deadline)
{
    struct timespec ts = {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

typedef struct sub_run sub_run;

typedef struct sub_writer {
    pthread_t thread;
    int started;
    long index;
    sub_run *run;
    bench_histogram histogram; /* append latency */
    bench_errors errors;
    uint64_t appends, unknown;
    uint64_t late, max_late_us; /* appends started more than SUB_LATE_US after their deadline */
    uint64_t last_return_us;    /* bench_now_us() when its last append returned */
    int setup_failed;
} sub_writer;

struct sub_run {
    const bench_options *o;
    evs_client *client; /* the writers' (one shared client) */
    char run_id[40];    /* in every event's data, so this run's events are told from others */
    size_t prefix_len;  /* of {"run":"<run_id>","seq": */
    char prefix[64];
    pthread_barrier_t warmed, start;
    uint64_t start_ns;   /* CLOCK_MONOTONIC; event k is due at start_ns + k * 1e9 / rate */
    unsigned char *sent; /* per event k: SENT_*; each writer writes only its own k */
    atomic_long failed_appends;
    atomic_int stop;
    /* The subscriber thread's; read by the main thread after joining it. */
    evs_subscription *sub;
    pthread_t sub_thread;
    unsigned char *received; /* per event k: deliveries (saturating at 255) */
    bench_histogram delivery;
    bench_errors errors;
    uint64_t ours, duplicates, foreign, clock_back, out_of_range;
    uint64_t first_position, last_position;
    uint64_t last_delivery_us; /* bench_now_us() at this run's last first-time delivery */
    int sub_failed;
    /* Set by the main thread when the writers are done: how many distinct events to wait
     * for, and until when (CLOCK_MONOTONIC) at most. */
    atomic_long expect;
    _Atomic uint64_t drain_deadline_ns;
    atomic_int writers_done;
};

/* Writes event k's data: {"run":"<id>","seq":k,"t":<wall-clock us>,"pad":"xxx…"}, the
 * padding bringing it to --data-bytes. The metadata is payload_fill's. */
static void sub_payload_fill(sub_run *run, payload *p, long k, int64_t t_us, uint64_t *rng)
{
    char fields[BENCH_PAYLOAD_FIELDS_MAX - 32];
    payload_fill(p, (uint64_t)k, rng);
    snprintf(fields, sizeof fields, "\"run\":\"%s\",\"seq\":%ld,\"t\":%" PRId64, run->run_id, k,
             t_us);
    char *data = p->json.buffers; /* event 0's data buffer */
    p->events[0].data_len =
        bench_json_object_fill(data, p->json.data_cap, p->json.data_target, fields);
}

static void *sub_writer_main(void *arg)
{
    sub_writer *w = arg;
    sub_run *run = w->run;
    const bench_options *o = run->o;
    uint64_t rng = o->seed * UINT64_C(0x100000001b3) + (uint64_t)w->index;
    char stream[EVS_STREAM_NAME_MAX + 1];
    payload p;
    evs_append_result result;
    int have_payload = 0;

    bench_histogram_init(&w->histogram);
    if (payload_init(&p, 1, (size_t)o->data_bytes, (size_t)o->metadata_bytes) != 0) {
        fprintf(stderr, "evs_bench: writer %ld: out of memory\n", w->index);
        w->setup_failed = 1;
    } else {
        have_payload = 1;
    }
    /* Warm-up, untimed, before the subscription opens (so it never sees these): the
     * producer's first connection, an HTTP connection per writer. */
    snprintf(stream, sizeof stream, "%swarmup-%ld", o->stream_prefix, w->index + 1);
    for (long i = 0; i < o->warmup && !w->setup_failed; i++) {
        payload_fill(&p, (uint64_t)i, &rng);
        evs_expected any = {EVS_EXPECT_ANY, 0};
        int rc = evs_append(run->client, stream, any, p.events, 1, NULL, &result);
        if (rc != 0) {
            fprintf(stderr, "evs_bench: writer %ld: the warm-up append to %s failed: %s: %s\n",
                    w->index, stream, evs_strerror(rc), evs_last_error());
            w->setup_failed = 1;
        }
    }
    if (w->setup_failed)
        atomic_store(&run->stop, 1);
    pthread_barrier_wait(&run->warmed);
    pthread_barrier_wait(&run->start); /* the main thread has set start_ns */

    /* Writer i sends events i, i + W, i + 2W, ...: together one every 1/rate s. */
    for (long k = w->index; k < o->count && !atomic_load(&run->stop); k += o->writers) {
        uint64_t due = run->start_ns + (uint64_t)k * UINT64_C(1000000000) / (uint64_t)o->rate;
        sleep_until_ns(due);
        uint64_t late_us = (now_ns() - due) / 1000u;
        if (late_us > SUB_LATE_US)
            w->late++;
        if (late_us > w->max_late_us)
            w->max_late_us = late_us;
        snprintf(stream, sizeof stream, "%s%ld", o->stream_prefix,
                 (long)(bench_rng_next(&rng) % (uint64_t)o->streams) + 1);
        sub_payload_fill(run, &p, k, realtime_us(), &rng);
        evs_expected any = {EVS_EXPECT_ANY, 0};
        uint64_t t0 = bench_now_us();
        int rc = evs_append(run->client, stream, any, p.events, 1, NULL, &result);
        uint64_t t1 = bench_now_us();
        w->last_return_us = t1;
        if (rc == 0) {
            bench_histogram_record(&w->histogram, t1 - t0);
            w->appends++;
            run->sent[k] = SENT_OK;
        } else {
            bench_errors_add(&w->errors, slot_of(rc), evs_last_error());
            run->sent[k] = rc == EVS_EUNKNOWN_OUTCOME ? SENT_UNKNOWN : SENT_FAILED;
            w->unknown += rc == EVS_EUNKNOWN_OUTCOME;
            if (atomic_fetch_add(&run->failed_appends, 1) + 1 >= o->max_errors)
                atomic_store(&run->stop, 1);
        }
    }
    if (have_payload)
        payload_free(&p);
    return NULL;
}

/* One delivered event: this run's (timed) or another writer's (counted, not timed). */
static void sub_event(sub_run *run, const evs_event *e, int64_t now_real)
{
    const bench_options *o = run->o;
    if (run->ours + run->foreign == 0)
        run->first_position = e->position;
    run->last_position = e->position;
    const char *d = e->data;
    if (e->data_len <= run->prefix_len || memcmp(d, run->prefix, run->prefix_len) != 0) {
        run->foreign++;
        return;
    }
    /* The rest is <k>,"t":<us>,... : copy a bounded piece to parse it NUL-terminated. */
    char tail[64];
    size_t n = e->data_len - run->prefix_len;
    if (n >= sizeof tail)
        n = sizeof tail - 1;
    memcpy(tail, d + run->prefix_len, n);
    tail[n] = '\0';
    long k;
    int64_t t_us;
    if (sscanf(tail, "%ld,\"t\":%" SCNd64, &k, &t_us) != 2 || k < 0 || k >= o->count) {
        run->out_of_range++;
        return;
    }
    if (run->received[k]) {
        run->duplicates++;
        if (run->received[k] < 255)
            run->received[k]++;
        return;
    }
    run->received[k] = 1;
    run->ours++;
    run->last_delivery_us = bench_now_us();
    if (now_real < t_us) {
        run->clock_back++;
        bench_histogram_record(&run->delivery, 0);
    } else {
        bench_histogram_record(&run->delivery, (uint64_t)(now_real - t_us));
    }
}

static void *sub_subscriber_main(void *arg)
{
    sub_run *run = arg;
    for (;;) {
        evs_event *e = NULL;
        int rc = evs_subscription_next(run->sub, 100, &e);
        int64_t now_real = realtime_us();
        if (rc == 0) {
            sub_event(run, e, now_real);
        } else if (rc != EVS_ETIMEOUT) {
            /* Following, so even EVS_EEND would be wrong; anything else ended it. */
            bench_errors_add(&run->errors, slot_of(rc), evs_last_error());
            fprintf(stderr, "evs_bench: the subscription ended: %s: %s\n", evs_strerror(rc),
                    evs_last_error());
            run->sub_failed = 1;
            break;
        }
        if (atomic_load(&run->writers_done)) {
            if ((long)run->ours >= atomic_load(&run->expect))
                break;
            if (now_ns() >= atomic_load(&run->drain_deadline_ns))
                break;
        }
    }
    return NULL;
}

/* Counts the events that went wrong, naming the first SUB_NAMED_MAX of them (their numbers
 * k) in buf: with missing, those accepted but never delivered; otherwise those delivered
 * although their append failed (or was never made). */
static uint64_t sub_name_events(const sub_run *run, int missing, char *buf, size_t len)
{
    uint64_t found = 0;
    size_t used = 0;
    buf[0] = '\0';
    for (long k = 0; k < run->o->count; k++) {
        int hit = missing ? run->sent[k] == SENT_OK && !run->received[k]
                          : run->received[k] &&
                                (run->sent[k] == SENT_FAILED || run->sent[k] == SENT_NONE);
        if (!hit)
            continue;
        if (found < SUB_NAMED_MAX && used < len)
            used += (size_t)snprintf(buf + used, len - used, "%s%ld", found ? ", " : "", k);
        found++;
    }
    if (found > SUB_NAMED_MAX && used < len)
        snprintf(buf + used, len - used, ", ...");
    return found;
}

static int run_subscribe_latency(const bench_options *o)
{
    int status = 1;
    long w_count = o->writers;
    sub_run *run = calloc(1, sizeof *run);
    sub_writer *writers = calloc((size_t)w_count, sizeof *writers);
    bench_histogram *appends_h = malloc(sizeof *appends_h);
    bench_errors *errors = calloc(1, sizeof *errors);
    evs_client *sub_client = NULL;
    int barriers_ready = 0, sub_started = 0;

    if (!run || !writers || !appends_h || !errors || !(run->sent = calloc((size_t)o->count, 1)) ||
        !(run->received = calloc((size_t)o->count, 1))) {
        fprintf(stderr, "evs_bench: out of memory\n");
        goto done;
    }
    run->o = o;
    bench_histogram_init(&run->delivery);
    atomic_store(&run->expect, o->count);
    snprintf(run->run_id, sizeof run->run_id, "%ld-%" PRIx64, (long)getpid(),
             (uint64_t)realtime_us());
    run->prefix_len =
        (size_t)snprintf(run->prefix, sizeof run->prefix, "{\"run\":\"%s\",\"seq\":", run->run_id);
    /* The writers share one client; the subscriber has its own (it never produces). */
    if (client_open(o, &run->client) != 0 || client_open(o, &sub_client) != 0)
        goto done;
    if (pthread_barrier_init(&run->warmed, NULL, (unsigned)w_count + 1) != 0 ||
        pthread_barrier_init(&run->start, NULL, (unsigned)w_count + 1) != 0) {
        fprintf(stderr, "evs_bench: cannot create a barrier\n");
        goto done;
    }
    barriers_ready = 1;
    printf("subscribe-latency: a subscription to $all (partition 0) from now; %ld writers (one "
           "shared client) append %ld events, one per append (%ld B data, %ld B metadata), at "
           "%ld appends/s in total to %ld streams %s1..%s%ld, expectation any (run %s)\n",
           w_count, o->count, o->data_bytes, o->metadata_bytes, o->rate, o->streams,
           o->stream_prefix, o->stream_prefix, o->streams, run->run_id);
    fflush(stdout);
    for (long i = 0; i < w_count; i++) {
        writers[i].index = i;
        writers[i].run = run;
        if (pthread_create(&writers[i].thread, NULL, sub_writer_main, &writers[i]) != 0) {
            /* The barriers count on every writer: without this one nobody gets past them. */
            fprintf(stderr, "evs_bench: cannot start writer %ld; aborting\n", i);
            exit(1);
        }
        writers[i].started = 1;
    }
    pthread_barrier_wait(&run->warmed);

    /* Open the subscription once the warm-ups are in, and wait until it has caught up
     * (from now: at once), so that it is live before the first timed append. Whatever
     * fails here sets stop: the writers still pass the start barrier, then return. */
    uint64_t open_us = 0;
    if (!atomic_load(&run->stop)) {
        evs_subscription_options so;
        evs_subscription_options_init(&so);
        so.target = EVS_SUBSCRIBE_ALL;
        so.from = EVS_FROM_NOW;
        so.follow = 1;
        uint64_t t0 = bench_now_us();
        int rc = evs_subscription_open(sub_client, &so, &run->sub);
        while (rc == 0) {
            evs_event *e = NULL;
            rc = evs_subscription_next(run->sub, o->timeout_ms, &e);
            if (rc == 0)
                sub_event(run, e, realtime_us()); /* someone else's, this early */
            else if (rc == EVS_ECAUGHT_UP)
                break;
        }
        open_us = bench_now_us() - t0;
        if (rc != EVS_ECAUGHT_UP) {
            fprintf(stderr, "evs_bench: cannot open a subscription to $all at %s: %s: %s\n",
                    o->projector, evs_strerror(rc), evs_last_error());
            atomic_store(&run->stop, 1);
        } else if (pthread_create(&run->sub_thread, NULL, sub_subscriber_main, run) != 0) {
            fprintf(stderr, "evs_bench: cannot start the subscriber thread\n");
            atomic_store(&run->stop, 1);
        } else {
            sub_started = 1;
        }
    }
    run->start_ns = now_ns() + 1000000; /* the first deadline: 1 ms from now */
    pthread_barrier_wait(&run->start);
    uint64_t started = bench_now_us();

    bench_histogram_init(appends_h);
    uint64_t appended = 0, unknown = 0, late = 0, max_late_us = 0, last_return_us = 0;
    int setup_failed = 0;
    for (long i = 0; i < w_count; i++) {
        pthread_join(writers[i].thread, NULL);
        writers[i].started = 0;
        bench_histogram_merge(appends_h, &writers[i].histogram);
        bench_errors_merge(errors, &writers[i].errors);
        appended += writers[i].appends;
        unknown += writers[i].unknown;
        late += writers[i].late;
        if (writers[i].max_late_us > max_late_us)
            max_late_us = writers[i].max_late_us;
        if (writers[i].last_return_us > last_return_us)
            last_return_us = writers[i].last_return_us;
        setup_failed |= writers[i].setup_failed;
    }
    double seconds = (double)(bench_now_us() - started) / 1e6;
    if (setup_failed || !sub_started)
        goto done;

    /* Wait for the subscriber: every accepted event (and those of unknown outcome, which
     * may have been stored), or --timeout-ms more at most. */
    atomic_store(&run->expect, (long)(appended + unknown));
    atomic_store(&run->drain_deadline_ns, now_ns() + (uint64_t)o->timeout_ms * 1000000u);
    atomic_store(&run->writers_done, 1);
    pthread_join(run->sub_thread, NULL);
    sub_started = 0;
    /* Negative when the last event reached the subscriber before its writer had the
     * verdict. */
    double tail_ms = run->last_delivery_us
                         ? ((double)run->last_delivery_us - (double)last_return_us) / 1000.0
                         : 0.0;
    if (tail_ms > -0.05 && tail_ms < 0.05)
        tail_ms = 0.0; /* not "-0.0" */
    bench_errors_merge(errors, &run->errors);

    char missing_names[256], unexpected_names[256];
    uint64_t missing = sub_name_events(run, 1, missing_names, sizeof missing_names);
    uint64_t unexpected = sub_name_events(run, 0, unexpected_names, sizeof unexpected_names);
    uint64_t unknown_received = 0;
    for (long k = 0; k < o->count; k++)
        unknown_received += run->sent[k] == SENT_UNKNOWN && run->received[k];
    uint64_t wrong = missing + unexpected + run->duplicates + run->out_of_range;
    if (wrong) {
        bench_errors_add(errors, BENCH_SLOT_BAD_ANSWER,
                         "the subscription did not deliver exactly the appended events");
        errors->count[BENCH_SLOT_BAD_ANSWER] += wrong - 1;
    }
    int stopped = atomic_load(&run->failed_appends) >= o->max_errors;
    int delivered_ok = missing == 0 && unexpected == 0 && run->duplicates == 0 &&
                       run->out_of_range == 0 && !run->sub_failed;
    int completed = !stopped && delivered_ok;

    printf("subscribe-latency: %" PRIu64 " appends in %.2f s: %.0f appends/s (target %ld); %" PRIu64
           " started more than %d ms after their deadline (the latest by %" PRIu64 " us)%s\n",
           appended, seconds, (double)appended / seconds, o->rate, late, SUB_LATE_US / 1000,
           max_late_us, stopped ? " (STOPPED EARLY)" : "");
    printf("  events appended %" PRIu64 ", received by the subscriber %" PRIu64
           " (the last %.1f ms after the last append returned); duplicates %" PRIu64
           ", other writers' events %" PRIu64 ", positions %" PRIu64 "..%" PRIu64
           "; subscription opened and caught up in %.1f ms\n",
           appended, run->ours, tail_ms, run->duplicates, run->foreign, run->first_position,
           run->last_position, (double)open_us / 1000.0);
    if (unknown)
        printf("  appends of unknown outcome: %" PRIu64
               ", of which the subscriber received %" PRIu64 "\n",
               unknown, unknown_received);
    if (run->clock_back)
        printf("  %" PRIu64 " deliveries appear to precede their append (the wall clock was set "
               "back?); counted as 0 us\n",
               run->clock_back);
    bench_latency_print("append-to-subscriber", &run->delivery);
    bench_latency_print("append", appends_h);
    bench_errors_print(errors, slot_names);
    if (!delivered_ok) {
        fprintf(stderr,
                "evs_bench: ERROR: the subscription did not deliver exactly the appended events: "
                "%" PRIu64 " appended, %" PRIu64 " received",
                appended, run->ours);
        if (missing)
            fprintf(stderr,
                    "; %" PRIu64 " accepted but never delivered (within %d ms of the "
                    "last append): event %s",
                    missing, o->timeout_ms, missing_names);
        if (unexpected)
            fprintf(stderr, "; %" PRIu64 " delivered but their append failed: event %s", unexpected,
                    unexpected_names);
        if (run->duplicates)
            fprintf(stderr, "; %" PRIu64 " delivered twice", run->duplicates);
        if (run->out_of_range)
            fprintf(stderr, "; %" PRIu64 " with this run's id but unreadable data",
                    run->out_of_range);
        if (run->sub_failed)
            fprintf(stderr, "; the subscription failed (above)");
        fprintf(stderr, "\n");
    }
    json_head("subscribe-latency", o);
    printf(
        ",\"writers\":%ld,\"clients\":1,\"streams\":%ld,\"rate_target\":%ld,\"data_bytes\":%ld,"
        "\"metadata_bytes\":%ld,\"appends\":%" PRIu64 ",\"events\":%" PRIu64
        ",\"events_received\":%" PRIu64 ",\"events_missing\":%" PRIu64
        ",\"events_unexpected\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"unknown_outcome\":%" PRIu64
        ",\"foreign_events\":%" PRIu64 ",\"late_starts\":%" PRIu64 ",\"max_late_us\":%" PRIu64
        ",\"seconds\":%.3f,\"appends_per_s\":%.1f,\"events_per_s\":%.1f,\"last_delivery_ms\":%.1f",
        w_count, o->streams, o->rate, o->data_bytes, o->metadata_bytes, appended, appended,
        run->ours, missing, unexpected, run->duplicates, unknown, run->foreign, late, max_late_us,
        seconds, (double)appended / seconds, (double)appended / seconds, tail_ms);
    bench_latency_json("", &run->delivery);
    bench_latency_json("append_", appends_h);
    bench_errors_json(errors, slot_names);
    printf(",\"completed\":%s}\n", completed ? "true" : "false");
    status = completed ? 0 : 1;
done:
    if (writers) {
        for (long i = 0; i < w_count; i++)
            if (writers[i].started)
                pthread_join(writers[i].thread, NULL);
    }
    if (sub_started) {
        atomic_store(&run->expect, 0);
        atomic_store(&run->writers_done, 1);
        pthread_join(run->sub_thread, NULL);
    }
    if (run) {
        evs_subscription_close(run->sub);
        evs_client_close(run->client);
        if (barriers_ready) {
            pthread_barrier_destroy(&run->warmed);
            pthread_barrier_destroy(&run->start);
        }
        free(run->sent);
        free(run->received);
    }
    evs_client_close(sub_client);
    free(run);
    free(writers);
    free(appends_h);
    free(errors);
    return status;
}

/* ---- catch-up -------------------------------------------------------------------------- */

static int run_catch_up(const bench_options *o)
{
    int status = 1;
    evs_client *client = NULL;
    evs_subscription *sub = NULL;
    bench_histogram *gaps = malloc(sizeof *gaps);
    bench_errors *errors = calloc(1, sizeof *errors);

    if (!gaps || !errors) {
        fprintf(stderr, "evs_bench: out of memory\n");
        goto done;
    }
    bench_histogram_init(gaps);
    if (client_open(o, &client) != 0)
        goto done;
    printf("catch-up: a subscription to $all (partition 0) from the start, without follow, "
           "read %s\n",
           o->count ? "until the end of the history or the --count"
                    : "until the end of the history");
    fflush(stdout);

    evs_subscription_options so;
    evs_subscription_options_init(&so);
    so.target = EVS_SUBSCRIBE_ALL;
    so.from = EVS_FROM_START;
    so.follow = 0;
    uint64_t t0 = bench_now_us();
    int rc = evs_subscription_open(client, &so, &sub);
    uint64_t t_open = bench_now_us();
    if (rc != 0) {
        fprintf(stderr, "evs_bench: cannot open a subscription to $all at %s: %s: %s\n",
                o->projector, evs_strerror(rc), evs_last_error());
        goto done;
    }

    uint64_t events = 0, bytes = 0, position_gaps = 0, first_position = 0, last_position = 0;
    uint64_t t_first = 0, t_prev = 0, t_caught_up = 0, last_progress = t0;
    const char *ended = "error";
    for (;;) {
        evs_event *e = NULL;
        rc = evs_subscription_next(sub, o->timeout_ms, &e);
        uint64_t t = bench_now_us();
        if (rc == 0) {
            if (events == 0) {
                t_first = t;
                first_position = e->position;
                if (e->position != 1)
                    position_gaps++; /* from the start: the first position is 1 */
            } else {
                bench_histogram_record(gaps, t - t_prev);
                if (e->position != last_position + 1)
                    position_gaps++;
            }
            t_prev = t;
            last_position = e->position;
            bytes += e->data_len + e->metadata_len;
            events++;
            if (o->count && events >= (uint64_t)o->count) {
                ended = "count";
                break;
            }
            if (o->progress && t - last_progress >= 5000000) {
                last_progress = t;
                fprintf(stderr, "evs_bench: %" PRIu64 " events after %.0f s (%.0f events/s)\n",
                        events, (double)(t - t0) / 1e6, (double)events / ((double)(t - t0) / 1e6));
            }
        } else if (rc == EVS_ECAUGHT_UP) {
            t_caught_up = t;
        } else if (rc == EVS_EEND) {
            ended = "end";
            break;
        } else {
            bench_errors_add(errors, slot_of(rc), evs_last_error());
            fprintf(stderr, "evs_bench: the subscription failed after %" PRIu64 " events: %s: %s\n",
                    events, evs_strerror(rc), evs_last_error());
            break;
        }
    }
    uint64_t t_end = bench_now_us();
    double seconds = (double)(t_end - t0) / 1e6;
    double after_first_s = events > 1 ? (double)(t_prev - t_first) / 1e6 : 0.0;
    if (position_gaps)
        bench_errors_add(errors, BENCH_SLOT_BAD_ANSWER, "positions did not run 1, 2, 3, ...");
    int completed = strcmp(ended, "error") != 0 && position_gaps == 0;

    printf("catch-up: %" PRIu64 " events (positions %" PRIu64 "..%" PRIu64 "), %.1f MB of data and "
           "metadata, in %.2f s: %.0f events/s, %.1f MB/s; ended by %s%s\n",
           events, first_position, last_position, (double)bytes / 1e6, seconds,
           (double)events / seconds, (double)bytes / 1e6 / seconds,
           !strcmp(ended, "end")     ? "EVS_EEND (the whole history)"
           : !strcmp(ended, "count") ? "--count"
                                     : "a failure",
           completed ? "" : " (FAILED)");
    printf("  open %.1f ms, first event after %.1f ms; after the first event %.0f events/s%s\n",
           (double)(t_open - t0) / 1000.0, events ? (double)(t_first - t0) / 1000.0 : 0.0,
           after_first_s > 0 ? (double)(events - 1) / after_first_s : 0.0,
           t_caught_up ? "" : "; no caught-up seen");
    if (position_gaps)
        printf("  ERROR: %" PRIu64 " times a position was not the one after the previous\n",
               position_gaps);
    bench_latency_print("gap between events", gaps);
    bench_errors_print(errors, slot_names);
    json_head("catch-up", o);
    printf(",\"events\":%" PRIu64 ",\"payload_bytes\":%" PRIu64 ",\"first_position\":%" PRIu64
           ",\"last_position\":%" PRIu64 ",\"position_gaps\":%" PRIu64
           ",\"seconds\":%.3f,\"events_per_s\":%.1f,\"mb_per_s\":%.2f,\"open_ms\":%.1f,"
           "\"first_event_ms\":%.1f,\"events_per_s_after_first\":%.1f,\"ended\":\"%s\"",
           events, bytes, first_position, last_position, position_gaps, seconds,
           (double)events / seconds, (double)bytes / 1e6 / seconds, (double)(t_open - t0) / 1000.0,
           events ? (double)(t_first - t0) / 1000.0 : 0.0,
           after_first_s > 0 ? (double)(events - 1) / after_first_s : 0.0, ended);
    bench_latency_json("gap_", gaps);
    bench_errors_json(errors, slot_names);
    printf(",\"completed\":%s}\n", completed ? "true" : "false");
    status = completed ? 0 : 1;
done:
    evs_subscription_close(sub);
    evs_client_close(client);
    free(gaps);
    free(errors);
    return status;
}

/* ---- read-all ------------------------------------------------------------------------ */

static int run_read_all(const bench_options *o)
{
    int status = 1;
    evs_client *client = NULL;
    bench_histogram *pages = malloc(sizeof *pages);
    bench_errors *errors = calloc(1, sizeof *errors);

    if (!pages || !errors) {
        fprintf(stderr, "evs_bench: out of memory\n");
        goto done;
    }
    bench_histogram_init(pages);
    if (client_open(o, &client) != 0)
        goto done;
    printf("read-all: $all (partition 0) from position 1 in pages of %ld with evs_all_read, %s\n",
           o->limit, o->count ? "until the end or the --count" : "until the end");
    fflush(stdout);

    uint64_t events = 0, bytes = 0, page_count = 0, position_gaps = 0, last_position = 0;
    uint64_t from = 1, t0 = bench_now_us(), last_progress = t0;
    int ended = 0;
    while (!ended) {
        evs_event_list *list = NULL;
        uint64_t t = bench_now_us();
        int rc = evs_all_read(client, 0, from, (size_t)o->limit, &list);
        uint64_t t1 = bench_now_us();
        if (rc != 0) {
            bench_errors_add(errors, slot_of(rc), evs_last_error());
            fprintf(stderr, "evs_bench: evs_all_read from %" PRIu64 " failed: %s: %s\n", from,
                    evs_strerror(rc), evs_last_error());
            break;
        }
        bench_histogram_record(pages, t1 - t);
        page_count++;
        for (size_t i = 0; i < list->count; i++) {
            const evs_event *e = &list->events[i];
            if (e->position != last_position + 1)
                position_gaps++;
            last_position = e->position;
            bytes += e->data_len + e->metadata_len;
            events++;
        }
        if (list->end_of_stream || list->count == 0 ||
            (o->count && events >= (uint64_t)o->count))
            ended = 1;
        from = list->next;
        evs_event_list_free(list);
        if (o->progress && t1 - last_progress >= 5000000) {
            last_progress = t1;
            fprintf(stderr, "evs_bench: %" PRIu64 " events after %.0f s (%.0f events/s)\n",
                    events, (double)(t1 - t0) / 1e6, (double)events / ((double)(t1 - t0) / 1e6));
        }
    }
    double seconds = (double)(bench_now_us() - t0) / 1e6;
    if (position_gaps)
        bench_errors_add(errors, BENCH_SLOT_BAD_ANSWER, "positions did not run 1, 2, 3, ...");
    int completed = ended && position_gaps == 0;
    printf("read-all: %" PRIu64 " events (positions 1..%" PRIu64 ") in %" PRIu64
           " pages, %.1f MB of data and metadata, in %.2f s: %.0f events/s, %.1f MB/s%s\n",
           events, last_position, page_count, (double)bytes / 1e6, seconds,
           (double)events / seconds, (double)bytes / 1e6 / seconds, completed ? "" : " (FAILED)");
    bench_latency_print("page", pages);
    bench_errors_print(errors, slot_names);
    json_head("read-all", o);
    printf(",\"limit\":%ld,\"events\":%" PRIu64 ",\"pages\":%" PRIu64 ",\"payload_bytes\":%" PRIu64
           ",\"last_position\":%" PRIu64 ",\"position_gaps\":%" PRIu64
           ",\"seconds\":%.3f,\"events_per_s\":%.1f,\"mb_per_s\":%.2f",
           o->limit, events, page_count, bytes, last_position, position_gaps, seconds,
           (double)events / seconds, (double)bytes / 1e6 / seconds);
    bench_latency_json("page_", pages);
    bench_errors_json(errors, slot_names);
    printf(",\"completed\":%s}\n", completed ? "true" : "false");
    status = completed ? 0 : 1;
done:
    evs_client_close(client);
    free(pages);
    free(errors);
    return status;
}

/* ---- kafka-ceiling --------------------------------------------------------------------- */

/* W threads produce append records through one librdkafka producer configured as
 * libevstore's; a poller thread serves the delivery reports, records each record's latency
 * from rd_kafka_produce to its report and wakes the writer that waits for it. */

typedef struct kc_run kc_run;

typedef struct kc_writer {
    kc_run *run;
    long index;
    long records; /* this writer's share */
    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t acked;
    long in_flight; /* under lock */
    uint64_t bytes; /* record values produced */
} kc_writer;

/* One produced record's opaque: who sent it and when. */
typedef struct kc_sent {
    kc_writer *writer;
    uint64_t t0_us;
} kc_sent;

struct kc_run {
    const bench_options *o;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    pthread_barrier_t start;
    _Atomic int stop;           /* writers stop producing (too many failures) */
    _Atomic int poller_stop;    /* the poller ends */
    _Atomic long acked_records; /* delivered without error */
    _Atomic long failed_records;
    _Atomic long finished_writers;
    /* the poller's alone */
    bench_histogram latency;
    bench_errors errors;
};

static void kc_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    kc_run *run = opaque;
    kc_sent *sent = m->_private;
    uint64_t t1 = bench_now_us();
    if (m->err) {
        bench_errors_add(&run->errors, BENCH_SLOT_OTHER, rd_kafka_err2str(m->err));
        if (atomic_fetch_add(&run->failed_records, 1) + 1 >= run->o->max_errors)
            atomic_store(&run->stop, 1);
    } else {
        bench_histogram_record(&run->latency, t1 - sent->t0_us);
        atomic_fetch_add(&run->acked_records, 1);
    }
    kc_writer *w = sent->writer;
    free(sent);
    pthread_mutex_lock(&w->lock);
    w->in_flight--;
    pthread_cond_signal(&w->acked);
    pthread_mutex_unlock(&w->lock);
}

static void *kc_poller_main(void *arg)
{
    kc_run *run = arg;
    while (!atomic_load(&run->poller_stop))
        rd_kafka_poll(run->rk, 50);
    return NULL;
}

static void *kc_writer_main(void *arg)
{
    kc_writer *w = arg;
    kc_run *run = w->run;
    const bench_options *o = run->o;
    uint64_t rng = o->seed * 1000003u + (uint64_t)w->index;
    payload p;
    int have_payload = payload_init(&p, (size_t)o->events_per_append, (size_t)o->data_bytes,
                                    (size_t)o->metadata_bytes) == 0;
    evs_record_event *events = calloc((size_t)o->events_per_append, sizeof *events);
    uint8_t (*ids)[16] = calloc((size_t)o->events_per_append + 1, sizeof *ids);
    evs_buf buf = {0};
    char stream[BENCH_STREAM_PREFIX_MAX + 24];

    pthread_barrier_wait(&run->start);
    if (!have_payload || !events || !ids) {
        fprintf(stderr, "evs_bench: out of memory in writer %ld\n", w->index);
        atomic_store(&run->stop, 1);
        goto done;
    }
    for (long k = 0; k < w->records && !atomic_load(&run->stop); k++) {
        payload_fill(&p, (uint64_t)w->index * (uint64_t)BENCH_COUNT_MAX + (uint64_t)k, &rng);
        int n = snprintf(stream, sizeof stream, "%s%ld", o->stream_prefix,
                         1 + (long)(bench_rng_next(&rng) % (uint64_t)o->streams));
        evs_append_request req;
        memset(&req, 0, sizeof req);
        /* The append id and the event ids, from the generator libevstore uses. */
        evs_uuid_generate_n(ids, p.event_count + 1);
        memcpy(req.append_id, ids[p.event_count], 16);
        req.stream = stream;
        req.stream_len = (size_t)n;
        req.expected_kind = EVS_EXPECT_ANY;
        req.events = events;
        req.event_count = p.event_count;
        int64_t created = (int64_t)realtime_us();
        for (size_t i = 0; i < p.event_count; i++) {
            evs_record_event *e = &events[i];
            const evs_event_data *in = &p.events[i];
            memset(e, 0, sizeof *e);
            memcpy(e->event_id, ids[i], 16);
            e->type = in->type;
            e->type_len = strlen(in->type);
            e->content_type = "application/json";
            e->content_type_len = strlen(e->content_type);
            e->data = (const uint8_t *)in->data;
            e->data_len = in->data_len;
            e->metadata = in->metadata_len ? (const uint8_t *)in->metadata : NULL;
            e->metadata_len = in->metadata_len;
            e->created_us = created;
        }
        if (evs_record_encode(&req, &buf) != 0) {
            fprintf(stderr, "evs_bench: out of memory encoding a record\n");
            atomic_store(&run->stop, 1);
            break;
        }
        pthread_mutex_lock(&w->lock);
        while (w->in_flight >= o->in_flight)
            pthread_cond_wait(&w->acked, &w->lock);
        w->in_flight++;
        pthread_mutex_unlock(&w->lock);
        kc_sent *sent = malloc(sizeof *sent);
        if (!sent) {
            fprintf(stderr, "evs_bench: out of memory\n");
            atomic_store(&run->stop, 1);
            pthread_mutex_lock(&w->lock);
            w->in_flight--;
            pthread_mutex_unlock(&w->lock);
            break;
        }
        sent->writer = w;
        sent->t0_us = bench_now_us();
        /* BLOCK: wait for room in the local queue (only with a large --in-flight). */
        if (rd_kafka_produce(run->rkt, RD_KAFKA_PARTITION_UA,
                             RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_BLOCK, buf.data, buf.len, stream,
                             (size_t)n, sent) != 0) {
            fprintf(stderr, "evs_bench: produce failed: %s\n",
                    rd_kafka_err2str(rd_kafka_last_error()));
            free(sent);
            atomic_store(&run->stop, 1);
            pthread_mutex_lock(&w->lock);
            w->in_flight--;
            pthread_mutex_unlock(&w->lock);
            break;
        }
        w->bytes += buf.len;
    }
    /* Wait for the reports of this writer's last records. */
    pthread_mutex_lock(&w->lock);
    while (w->in_flight > 0)
        pthread_cond_wait(&w->acked, &w->lock);
    pthread_mutex_unlock(&w->lock);
done:
    evs_buf_free(&buf);
    free(events);
    free(ids);
    if (have_payload)
        payload_free(&p);
    atomic_fetch_add(&run->finished_writers, 1);
    return NULL;
}

static int kc_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "evs_bench: Kafka setting %s=%s: %s\n", name, value, errstr);
        return -1;
    }
    return 0;
}

/* Creates (create = 1) or deletes the topic through the admin API of rk; 0 or -1. */
static int kc_topic_admin(rd_kafka_t *rk, const char *topic, int create, long flush_messages,
                          int timeout_ms)
{
    char errstr[512];
    int rc = -1;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ANY);
    rd_kafka_NewTopic_t *nt = NULL;
    rd_kafka_DeleteTopic_t *dt = NULL;
    rd_kafka_event_t *ev = NULL;
    rd_kafka_AdminOptions_set_operation_timeout(ao, timeout_ms, errstr, sizeof errstr);
    if (create) {
        nt = rd_kafka_NewTopic_new(topic, 1, 1, errstr, sizeof errstr);
        if (!nt) {
            fprintf(stderr, "evs_bench: cannot describe topic %s: %s\n", topic, errstr);
            goto done;
        }
        snprintf(errstr, sizeof errstr, "%d", EVS_TOPIC_MAX_MESSAGE_BYTES);
        rd_kafka_NewTopic_set_config(nt, "max.message.bytes", errstr);
        if (flush_messages > 0) {
            snprintf(errstr, sizeof errstr, "%ld", flush_messages);
            rd_kafka_NewTopic_set_config(nt, "flush.messages", errstr);
        }
        rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    } else {
        dt = rd_kafka_DeleteTopic_new(topic);
        rd_kafka_DeleteTopics(rk, &dt, 1, ao, q);
    }
    ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
    if (!ev) {
        fprintf(stderr, "evs_bench: no answer to %s topic %s\n", create ? "create" : "delete",
                topic);
        goto done;
    }
    if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "evs_bench: %s topic %s: %s\n", create ? "create" : "delete", topic,
                rd_kafka_event_error_string(ev));
        goto done;
    }
    const rd_kafka_topic_result_t **res;
    size_t n = 0;
    if (create)
        res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    else
        res = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
    if (n == 1 && rd_kafka_topic_result_error(res[0])) {
        fprintf(stderr, "evs_bench: %s topic %s: %s\n", create ? "create" : "delete", topic,
                rd_kafka_topic_result_error_string(res[0]));
        goto done;
    }
    rc = 0;
done:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (nt)
        rd_kafka_NewTopic_destroy(nt);
    if (dt)
        rd_kafka_DeleteTopic_destroy(dt);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_queue_destroy(q);
    return rc;
}

/* Reads partition 0 of topic from offset from until the end offset (taken when the read
 * starts). Sets the records, bytes and seconds; 0, or -1 on a failure (reported). */
static int kc_consume(const bench_options *o, const char *topic, int64_t from, uint64_t *records,
                      uint64_t *bytes, double *seconds, int64_t *end_offset)
{
    char errstr[512];
    char group[128];
    int rc = -1;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(group, sizeof group, "evs-bench-kafka-ceiling-%ld", (long)getpid());
    if (evs_kafka_properties_apply(&o->kafka, conf, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "evs_bench: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    if (kc_conf_set(conf, "bootstrap.servers", o->brokers) ||
        kc_conf_set(conf, "group.id", group) || kc_conf_set(conf, "enable.auto.commit", "false") ||
        kc_conf_set(conf, "enable.partition.eof", "true")) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "evs_bench: cannot create a Kafka consumer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    int64_t low = 0, high = 0;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(rk, topic, 0, &low, &high, o->timeout_ms);
    if (err) {
        fprintf(stderr, "evs_bench: end offset of %s: %s\n", topic, rd_kafka_err2str(err));
        goto done;
    }
    *end_offset = high;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = from;
    uint64_t t0 = bench_now_us();
    err = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (err) {
        fprintf(stderr, "evs_bench: assign %s/0: %s\n", topic, rd_kafka_err2str(err));
        goto done;
    }
    int64_t next = from;
    uint64_t last_activity = bench_now_us();
    while (next < high) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            if (bench_now_us() - last_activity > (uint64_t)o->timeout_ms * 1000u) {
                fprintf(stderr, "evs_bench: no records for %d ms at offset %" PRId64 " of %" PRId64
                        "\n", o->timeout_ms, next, high);
                break;
            }
            continue;
        }
        last_activity = bench_now_us();
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            next = m->offset;
        } else if (m->err) {
            fprintf(stderr, "evs_bench: consume: %s\n", rd_kafka_message_errstr(m));
        } else {
            (*records)++;
            *bytes += m->len;
            next = m->offset + 1;
        }
        rd_kafka_message_destroy(m);
    }
    *seconds = (double)(bench_now_us() - t0) / 1e6;
    rc = next >= high ? 0 : -1;
done:
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

static int run_kafka_ceiling(const bench_options *o)
{
    int status = 1;
    char errstr[512];
    char number[32];
    char topic_buf[128];
    const char *topic = o->topic;
    int created = 0, barrier_ready = 0, poller_started = 0;
    pthread_t poller;
    long w_count = o->writers;
    kc_writer *writers = calloc((size_t)w_count, sizeof *writers);
    kc_run *run = calloc(1, sizeof *run);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    if (!writers || !run || !conf) {
        fprintf(stderr, "evs_bench: out of memory\n");
        goto done;
    }
    run->o = o;
    bench_histogram_init(&run->latency);
    snprintf(number, sizeof number, "%d", o->linger_ms >= 0 ? o->linger_ms : 1);
    if (evs_kafka_properties_apply(&o->kafka, conf, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "evs_bench: %s\n", errstr);
        goto done;
    }
    if (kc_conf_set(conf, "bootstrap.servers", o->brokers) ||
        kc_conf_set(conf, "client.id", "evs_bench-kafka-ceiling") ||
        kc_conf_set(conf, "enable.idempotence", "true") || kc_conf_set(conf, "acks", "all") ||
        kc_conf_set(conf, "socket.nagle.disable", "true") ||
        kc_conf_set(conf, "partitioner", "murmur2_random") ||
        kc_conf_set(conf, "linger.ms", number))
        goto done;
    snprintf(number, sizeof number, "%d", o->timeout_ms);
    if (kc_conf_set(conf, "message.timeout.ms", number))
        goto done;
    snprintf(number, sizeof number, "%d", o->timeout_ms < 30000 ? o->timeout_ms : 30000);
    if (kc_conf_set(conf, "request.timeout.ms", number))
        goto done;
    snprintf(number, sizeof number, "%d", EVS_TOPIC_MAX_MESSAGE_BYTES);
    if (kc_conf_set(conf, "message.max.bytes", number))
        goto done;
    rd_kafka_conf_set_dr_msg_cb(conf, kc_on_delivery);
    rd_kafka_conf_set_opaque(conf, run);
    run->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!run->rk) {
        fprintf(stderr, "evs_bench: cannot create a Kafka producer: %s\n", errstr);
        goto done;
    }
    conf = NULL; /* rd_kafka_new took it */

    if (!o->topic_given) {
        snprintf(topic_buf, sizeof topic_buf, "evstore.kafka-ceiling.%ld-%ld", (long)time(NULL),
                 (long)getpid());
        topic = topic_buf;
        if (kc_topic_admin(run->rk, topic, 1, o->flush_messages, o->timeout_ms) != 0)
            goto done;
        created = 1;
    }
    run->rkt = rd_kafka_topic_new(run->rk, topic, NULL);
    if (!run->rkt) {
        fprintf(stderr, "evs_bench: topic handle: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
        goto done;
    }
    /* One untimed record first: the producer's connection and idempotence set-up (its
     * producer id) are set-up, as for the other commands' warm-up. */
    {
        kc_writer warm;
        memset(&warm, 0, sizeof warm);
        pthread_mutex_init(&warm.lock, NULL);
        pthread_cond_init(&warm.acked, NULL);
        kc_sent *sent = malloc(sizeof *sent);
        if (!sent)
            goto done;
        sent->writer = &warm;
        sent->t0_us = bench_now_us();
        warm.in_flight = 1;
        if (rd_kafka_produce(run->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, "warm-up", 7,
                             "warmup", 6, sent) != 0) {
            fprintf(stderr, "evs_bench: warm-up produce failed: %s\n",
                    rd_kafka_err2str(rd_kafka_last_error()));
            free(sent);
            goto done;
        }
        rd_kafka_flush(run->rk, o->timeout_ms);
        int failed = atomic_load(&run->failed_records) != 0;
        pthread_mutex_destroy(&warm.lock);
        pthread_cond_destroy(&warm.acked);
        if (failed || warm.in_flight != 0) {
            fprintf(stderr, "evs_bench: the warm-up record was not delivered\n");
            goto done;
        }
        bench_histogram_init(&run->latency);
        atomic_store(&run->acked_records, 0);
    }
    /* The run's first offset of partition 0 (after the warm-up record, which was
     * acknowledged by all replicas): what the consumer reads from. */
    int64_t low = 0, from = 0;
    for (int tries = 0;; tries++) {
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(run->rk, topic, 0, &low, &from, o->timeout_ms);
        if (!err)
            break;
        if (tries >= 20) { /* a new topic's leader may take a moment */
            fprintf(stderr, "evs_bench: offsets of %s: %s\n", topic, rd_kafka_err2str(err));
            goto done;
        }
        struct timespec pause_time = {0, 250 * 1000 * 1000};
        nanosleep(&pause_time, NULL);
    }

    for (long i = 0; i < w_count; i++) {
        writers[i].run = run;
        writers[i].index = i;
        writers[i].records = o->count / w_count + (i < o->count % w_count ? 1 : 0);
        pthread_mutex_init(&writers[i].lock, NULL);
        pthread_cond_init(&writers[i].acked, NULL);
    }
    printf("kafka-ceiling: %ld writer thread(s), one librdkafka producer (idempotent, acks=all, "
           "linger.ms=%d), %ld record(s) in flight per writer, %ld records of %ld event(s) (%ld B "
           "data, %ld B metadata each) keyed %s1..%s%ld, topic %s (%s)\n",
           w_count, o->linger_ms >= 0 ? o->linger_ms : 1, o->in_flight, o->count,
           o->events_per_append, o->data_bytes, o->metadata_bytes, o->stream_prefix,
           o->stream_prefix, o->streams, topic, created ? "created, 1 partition, RF 1" : "given");
    fflush(stdout);
    if (pthread_create(&poller, NULL, kc_poller_main, run) != 0) {
        fprintf(stderr, "evs_bench: cannot start the poller\n");
        goto done;
    }
    poller_started = 1;
    if (pthread_barrier_init(&run->start, NULL, (unsigned)w_count + 1) != 0) {
        fprintf(stderr, "evs_bench: cannot create a barrier\n");
        goto done;
    }
    barrier_ready = 1;
    for (long i = 0; i < w_count; i++) {
        if (pthread_create(&writers[i].thread, NULL, kc_writer_main, &writers[i]) != 0) {
            fprintf(stderr, "evs_bench: cannot start writer %ld; aborting\n", i);
            exit(1);
        }
        writers[i].started = 1;
    }
    pthread_barrier_wait(&run->start);
    uint64_t started = bench_now_us();
    uint64_t last_progress = started;
    while (atomic_load(&run->finished_writers) < w_count) {
        struct timespec pause_time = {0, 5 * 1000 * 1000};
        nanosleep(&pause_time, NULL);
        if (o->progress && bench_now_us() - last_progress >= 5000000) {
            last_progress = bench_now_us();
            long n = atomic_load(&run->acked_records);
            fprintf(stderr, "evs_bench: %ld of %ld records after %.0f s (%.0f records/s)\n", n,
                    o->count, (double)(last_progress - started) / 1e6,
                    (double)n / ((double)(last_progress - started) / 1e6));
        }
    }
    double seconds = (double)(bench_now_us() - started) / 1e6;
    uint64_t bytes = 0;
    for (long i = 0; i < w_count; i++) {
        pthread_join(writers[i].thread, NULL);
        writers[i].started = 0;
        bytes += writers[i].bytes;
    }
    atomic_store(&run->poller_stop, 1);
    pthread_join(poller, NULL);
    poller_started = 0;

    uint64_t records = (uint64_t)atomic_load(&run->acked_records);
    uint64_t events = records * (uint64_t)o->events_per_append;
    int completed = records == (uint64_t)o->count;
    printf("kafka-ceiling produce: %" PRIu64 " records, %" PRIu64 " events, %.1f MB in %.2f s: "
           "%.0f records/s, %.0f events/s, %.2f MB/s (%.0f B/record)%s\n",
           records, events, (double)bytes / 1e6, seconds, (double)records / seconds,
           (double)events / seconds, (double)bytes / 1e6 / seconds,
           records ? (double)bytes / (double)records : 0.0, completed ? "" : " (STOPPED EARLY)");
    bench_latency_print("produce-to-delivery-report", &run->latency);
    bench_errors_print(&run->errors, slot_names);

    uint64_t c_records = 0, c_bytes = 0;
    double c_seconds = 0;
    int64_t end_offset = 0;
    int consumed = kc_consume(o, topic, from, &c_records, &c_bytes, &c_seconds, &end_offset) == 0;
    uint64_t c_events = c_records * (uint64_t)o->events_per_append;
    if (c_seconds <= 0)
        c_seconds = 1e-9;
    printf("kafka-ceiling consume: %" PRIu64 " records (offsets %" PRId64 "..%" PRId64 "), %" PRIu64
           " events, %.1f MB in %.2f s: %.0f records/s, %.0f events/s, %.2f MB/s%s\n",
           c_records, from, end_offset - 1, c_events, (double)c_bytes / 1e6, c_seconds,
           (double)c_records / c_seconds, (double)c_events / c_seconds,
           (double)c_bytes / 1e6 / c_seconds, consumed ? "" : " (INCOMPLETE)");

    bench_options shown = *o;
    shown.topic = topic;
    json_head("kafka-ceiling", &shown);
    printf(",\"flush_messages\":%ld", o->flush_messages);
    printf(",\"topic_created\":%s,\"writers\":%ld,\"in_flight\":%ld,"
           "\"streams\":%ld,\"events_per_append\":%ld,\"data_bytes\":%ld,\"metadata_bytes\":%ld,"
           "\"records\":%" PRIu64 ",\"events\":%" PRIu64 ",\"bytes\":%" PRIu64
           ",\"seconds\":%.3f,\"records_per_s\":%.1f,\"events_per_s\":%.1f,\"mb_per_s\":%.2f",
           created ? "true" : "false", w_count, o->in_flight, o->streams,
           o->events_per_append, o->data_bytes, o->metadata_bytes, records, events, bytes,
           seconds, (double)records / seconds, (double)events / seconds,
           (double)bytes / 1e6 / seconds);
    bench_latency_json("", &run->latency);
    bench_errors_json(&run->errors, slot_names);
    printf(",\"consume_records\":%" PRIu64 ",\"consume_events\":%" PRIu64
           ",\"consume_bytes\":%" PRIu64 ",\"consume_seconds\":%.3f,\"consume_records_per_s\":%.1f,"
           "\"consume_events_per_s\":%.1f,\"consume_mb_per_s\":%.2f,\"completed\":%s}\n",
           c_records, c_events, c_bytes, c_seconds, (double)c_records / c_seconds,
           (double)c_events / c_seconds, (double)c_bytes / 1e6 / c_seconds,
           completed && consumed ? "true" : "false");
    status = completed && consumed ? 0 : 1;
done:
    if (writers) {
        atomic_store(&run->stop, 1);
        for (long i = 0; i < w_count; i++)
            if (writers[i].started)
                pthread_join(writers[i].thread, NULL);
    }
    if (poller_started) {
        atomic_store(&run->poller_stop, 1);
        pthread_join(poller, NULL);
    }
    if (barrier_ready)
        pthread_barrier_destroy(&run->start);
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (run && run->rkt)
        rd_kafka_topic_destroy(run->rkt);
    if (run && run->rk) {
        if (created && kc_topic_admin(run->rk, topic, 0, 0, o->timeout_ms) == 0)
            printf("kafka-ceiling: deleted topic %s\n", topic);
        rd_kafka_flush(run->rk, o->timeout_ms);
        rd_kafka_destroy(run->rk);
    }
    if (writers)
        for (long i = 0; i < w_count; i++) {
            pthread_mutex_destroy(&writers[i].lock);
            pthread_cond_destroy(&writers[i].acked);
        }
    free(writers);
    free(run);
    return status;
}

/* ---- main ------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    bench_options o;
    bench_program_set("evs_bench");
    int rc = options_parse(argc, argv, &o);
    if (rc == 1)
        return 0;
    if (rc != 0)
        return 2;
    if (o.subjects > 0 && !o.master_key) {
        fprintf(stderr, "evs_bench: --subjects needs --master-key (or EVSTORE_MASTER_KEY_FILE)\n");
        return 2;
    }
    payload_subjects = o.subjects;
    /* libevstore initialises libcurl once for itself; the raw reads use it after a client
     * was opened, but initialise it here too so that order does not matter (it counts). */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "evs_bench: libcurl initialisation failed\n");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    switch (o.command) {
    case CMD_APPEND_LATENCY:
        rc = run_append_latency(&o);
        break;
    case CMD_APPEND_THROUGHPUT:
        rc = run_append_throughput(&o);
        break;
    case CMD_READ_LATENCY:
        rc = run_read_latency(&o);
        break;
    case CMD_SUBSCRIBE_LATENCY:
        rc = run_subscribe_latency(&o);
        break;
    case CMD_CATCH_UP:
        rc = run_catch_up(&o);
        break;
    case CMD_KAFKA_CEILING:
        rc = run_kafka_ceiling(&o);
        break;
    case CMD_READ_ALL:
        rc = run_read_all(&o);
        break;
    case CMD_OCC_LOOP:
        rc = run_occ_loop(&o);
        break;
    default:
        rc = 2;
        break;
    }
    curl_global_cleanup();
    return rc;
}
