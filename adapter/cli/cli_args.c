/*
 * cli_args.c - parsing of the `evstore` command line (see cli_args.h for the grammar) and
 * the CLI's usage text and exit codes.
 *
 * Options may come before the command, so parsing is two passes: the first sorts argv into
 * option values and positional words without knowing the command; the second checks the
 * options against the command and converts their values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"

const char EVS_CLI_USAGE[] =
    "Usage: evstore [GLOBAL OPTIONS] COMMAND [ARGUMENTS] [OPTIONS]\n"
    "\n"
    "Appends events to streams of an evstore (Kafka + evstore-projector) and reads them.\n"
    "\n"
    "Commands:\n"
    "  append STREAM --type TYPE --data JSON [--metadata JSON] [--event-id UUID]\n"
    "         [--append-id UUID] [--content-type CT] [--correlation-id ID]\n"
    "         [--causation-id ID] [--expected EXPECTED] [--subject S [--seal-metadata]]\n"
    "      Appends one event. With the default content type application/json, --data must\n"
    "      be valid JSON; its bytes are stored exactly as given. --metadata must be JSON.\n"
    "  append STREAM --file FILE [--append-id UUID] [--expected EXPECTED]\n"
    "         [--subject S [--seal-metadata]]\n"
    "      Appends every line of an NDJSON file (\"-\" = standard input) atomically, as one\n"
    "      append. Each line is an object {\"type\": ..., \"data\": JSON, \"metadata\": JSON,\n"
    "      \"event_id\": UUID} (metadata and event_id optional; \"correlation_id\" and\n"
    "      \"causation_id\" strings allowed; other members ignored). data and metadata are\n"
    "      stored as compact JSON. Blank lines are ignored; a bad line appends nothing.\n"
    "      EXPECTED is any (default), no_stream, stream_exists or a version N (0 = no\n"
    "      stream). On success prints one JSON line:\n"
    "      {\"stream\",\"first_version\",\"last_version\",\"first_position\",\n"
    "       \"last_position\",\"append_id\",\"duplicate\"}\n"
    "      --subject S marks the event(s) as personal data of data subject S: data (and\n"
    "      with --seal-metadata the metadata) is sealed with S's key before it leaves,\n"
    "      which needs --master-key. With --file, a line's own \"subject\" (and\n"
    "      \"seal_metadata\": true) overrides them.\n"
    "  read STREAM [--from VERSION] [--limit N] [--backwards]\n"
    "      Prints the stream's events, one JSON object per line (all of them unless --limit):\n"
    "      {\"event_id\",\"stream\",\"type\",\"version\",\"position\",\"created\",\"data\",\n"
    "       \"metadata\"}, and \"subject\" for personal data, with \"erased\": true and\n"
    "      \"data\": null once its subject was forgotten (\"sealed\": true from a\n"
    "      projector without the master key). created is ISO-8601 UTC with\n"
    "      microseconds. data and metadata are\n"
    "      embedded as JSON when they are JSON, else base64 strings (then \"data_encoding\"\n"
    "      or \"metadata_encoding\" is \"base64\"); metadata is null when empty.\n"
    "  read-all [--from POSITION|VECTOR] [--limit N] [--partition P]\n"
    "      Prints the accepted events of $all, same format. A topic of one partition has\n"
    "      one order. On a topic of several, without --partition, it prints every\n"
    "      partition, partition 0 first, each in its own order (there is no order across\n"
    "      partitions), and each line also says its \"partition\" after \"position\";\n"
    "      positions count per partition. --partition P prints partition P only.\n"
    "  read-category CATEGORY [--from POSITION|VECTOR] [--limit N] [--partition P]\n"
    "  read-type TYPE [--from POSITION|VECTOR] [--limit N] [--partition P]\n"
    "      The same, restricted to the streams of one category (the part of a stream name\n"
    "      before its first '-') or to one event type.\n"
    "  subscribe (STREAM | --all | --category C | --type T)\n"
    "            [--from POSITION|start|now|VECTOR] [--partition P] [--no-follow]\n"
    "            [--count N]\n"
    "      Prints the events from POSITION (a version for a stream; default start) as\n"
    "      `read` does, then follows live events until interrupted (Ctrl-C exits 0).\n"
    "      With --no-follow it exits once the history is printed, with --count N after N\n"
    "      events. A lost connection is resumed where it stopped; no event is printed\n"
    "      twice. On a topic of several partitions, --all, --category and --type without\n"
    "      --partition follow every partition at once: each partition's events in order,\n"
    "      partitions interleaved, lines with \"partition\" as in read-all; on exit it\n"
    "      prints \"evstore: resume with --from VECTOR\" to standard error, and\n"
    "      --from VECTOR goes on after the last event printed, in every partition.\n"
    "      A VECTOR is where to begin in each partition, PARTITION:POSITION pairs\n"
    "      comma-separated (0:13,1:41,2:8); a partition it leaves out, or gives as 0,\n"
    "      begins at its start. Across partitions a plain POSITION applies in each.\n"
    "  checkpoint save NAME POSITION | checkpoint load NAME | checkpoint delete NAME\n"
    "      Saves, prints ({\"name\",\"position\"}) or deletes a named position kept by\n"
    "      the projector (exit 6 if there is no such checkpoint).\n"
    "  snapshot save STREAM --version V (--data JSON | --file FILE) [--content-type CT]\n"
    "           [--schema-version N]\n"
    "      Saves a snapshot of the stream's state at version V (bytes stored as given;\n"
    "      --data must be JSON with a JSON content type, the default).\n"
    "  snapshot load STREAM [--version V]\n"
    "      Prints the latest snapshot (at or below V) as one JSON line: {\"stream\",\n"
    "      \"version\",\"content_type\",\"schema_version\",\"created\",\"data\"}, data as in\n"
    "      `read`. Exit 6 if there is none.\n"
    "  verdict APPEND_ID [--timeout-ms N]\n"
    "      Prints the verdict of an append as one JSON line: {\"append_id\",\"status\",\n"
    "      \"stream\",\"first_version\",\"last_version\",\"first_position\",\"last_position\",\n"
    "      \"partition\",\"offset\",\"duplicate\"}; status is accepted, duplicate,\n"
    "      wrong_expected_version (then also \"current_version\"), idempotency_conflict\n"
    "      or invalid. The exit code is that of the same outcome of an append.\n"
    "  export [--stream S | --category C | --type T] [--from POSITION|VECTOR]\n"
    "         [--to POSITION] [--partition P]\n"
    "      Writes $all (or one stream, category or type) as NDJSON to standard output, one\n"
    "      event per line with everything `import` needs to append it again:\n"
    "      {\"stream\",\"version\",\"type\",\"event_id\",\"content_type\",\"data\",\n"
    "       \"metadata\",\"correlation_id\",\"causation_id\",\"partition\",\"position\",\n"
    "       \"created\"}; data and metadata are JSON when they are compact JSON, else base64\n"
    "      with \"data_encoding\"/\"metadata_encoding\": \"base64\", so the bytes survive.\n"
    "      --from/--to bound positions (versions with --stream), inclusive; every\n"
    "      partition is exported, partition 0 first, unless --partition. On a terminal,\n"
    "      standard error shows a progress bar.\n"
    "  import FILE | import --from-pg DSN [--pg-table T] [--pg-columns C,C,C,C,C,C]\n"
    "      Appends the events of an export (\"-\" = standard input) again, keeping their\n"
    "      event ids: each run of lines of one stream is one append expecting the exact\n"
    "      version before its first line, so streams come out identical, a second import\n"
    "      stores nothing (every event is a duplicate) and a stream that differs fails\n"
    "      visibly. A malformed line stops the import, naming its line number; what came\n"
    "      before it stays imported. --from-pg reads the classic PostgreSQL events table\n"
    "      (columns: stream, version, type, data, metadata, event id; defaults\n"
    "      events and stream_id,version,event_type,data,metadata,event_id) in\n"
    "      stream and version order. Prints {\"appended\",\"duplicate\",\"failed\",\n"
    "      \"events\"} at the end; exit 0 only when nothing failed.\n"
    "  delete STREAM [--hard] [--expected EXPECTED] [--append-id UUID]\n"
    "      Deletes the stream. Reads of it then fail (exit 7) until an append recreates\n"
    "      it, its versions going on after the deleted ones. --hard leaves a tombstone:\n"
    "      every later append, delete, truncate or limit to the stream fails (exit 7).\n"
    "      On success prints one JSON line:\n"
    "      {\"stream\",\"operation\",\"current_version\",\"append_id\"}\n"
    "      (operation is delete, hard_delete, truncate or set_limits).\n"
    "  truncate STREAM --before VERSION [--expected EXPECTED] [--append-id UUID]\n"
    "      Removes the versions below VERSION; VERSION becomes the first readable one.\n"
    "  limits STREAM [--max-count N] [--max-age DURATION] [--expected EXPECTED]\n"
    "         [--append-id UUID]\n"
    "      Keeps at most N events of the stream, none older than DURATION (milliseconds,\n"
    "      or a number with ms, s, m, h or d: 30d); 0 clears a limit. A limit not given\n"
    "      keeps the stream's current one. With neither option, prints the metadata as\n"
    "      `info` does.\n"
    "  info STREAM\n"
    "      Prints the stream's metadata as one JSON line: {\"stream\",\"partition\",\n"
    "      \"current_version\",\"first_version\",\"deleted\",\"max_count\",\"max_age_ms\"};\n"
    "      deleted is null, \"soft\" or \"hard\", a limit null when there is none. Exit 6\n"
    "      if the stream never existed.\n"
    "  forget SUBJECT\n"
    "      Forgets a data subject: the projector destroys its data keys, so every event\n"
    "      of it reads as erased, everywhere, for good. Prints one JSON line:\n"
    "      {\"subject\",\"forgotten\",\"keys_destroyed\"}: the ids of the keys destroyed\n"
    "      and how many (none when it had no key left).\n"
    "  keygen FILE\n"
    "      Writes a new random master key to FILE (mode 0600; an existing FILE is\n"
    "      refused) and prints {\"master_key_file\",\"master_key_id\"}. Give the same\n"
    "      file to the projectors (--master-key) and to writers of personal data.\n"
    "  status     Prints the projector's status JSON.\n"
    "  version    Prints the version of evstore.\n"
    "\n"
    "Global options (before or after the command):\n"
    "  --brokers B       Kafka bootstrap servers (env EVSTORE_BROKERS; default " EVS_DEFAULT_BROKERS
    ")\n"
    "  --projector URLS  projector HTTP API: one URL, or several comma-separated seed URLs of\n"
    "                    replicas (env EVSTORE_PROJECTOR; default " EVS_DEFAULT_PROJECTOR ").\n"
    "                    The client learns which projector serves which partition from\n"
    "                    GET /cluster, sends each request to one serving it and moves to\n"
    "                    another when one is down or behind; checkpoints, snapshots and\n"
    "                    groups go to the first projector that answers (each keeps its own)\n"
    "  --topic T         events topic (env EVSTORE_TOPIC; default " EVS_DEFAULT_TOPIC ")\n"
    "  --timeout-ms N    produce, verdict and request timeout (default 10000)\n"
    "  --kafka-config F  librdkafka properties, key=value lines as kcat -F reads them\n"
    "                    (security.protocol, sasl.*, ssl.*; env EVSTORE_KAFKA_CONFIG)\n"
    "  --ca-file F       PEM CA that https:// projectors are verified against (env\n"
    "                    EVSTORE_CA_FILE; default the system's CAs)\n"
    "  --token T         bearer token for the projector (env EVSTORE_TOKEN; make one with\n"
    "                    `evstore token new --scope read ...`, docs/SECURITY.md)\n"
    "  --master-key F    the master key file that seals personal data (--subject); the\n"
    "                    projectors' own (env EVSTORE_MASTER_KEY_FILE; make one with\n"
    "                    `evstore keygen F`)\n"
    "  -h, --help        this text\n"
    "\n"
    "Exit codes:\n"
    "  0  success\n"
    "  1  other failure\n"
    "  2  bad usage or invalid input (the message names the problem)\n"
    "  3  wrong expected version (the message names the expected and current version)\n"
    "  4  idempotency conflict\n"
    "  5  outcome unknown or store unavailable (the message gives the append id to look up\n"
    "     with `evstore verdict` when there is one), or credentials refused (Kafka login,\n"
    "     TLS certificate, projector token)\n"
    "  6  no such stream (or, for verdict, no such append id; for checkpoint and snapshot,\n"
    "     no such checkpoint or snapshot)\n"
    "  7  the stream was deleted: a read of a deleted stream, or any write to a\n"
    "     hard-deleted one (a tombstone)\n"
    "Errors are printed to standard error as \"evstore: <message>\".\n";

/* Option table. Each option may be given once. */
enum {
    OPT_BROKERS,
    OPT_PROJECTOR,
    OPT_TOPIC,
    OPT_TIMEOUT,
    OPT_KAFKA_CONFIG,
    OPT_CA_FILE,
    OPT_TOKEN,
    OPT_MASTER_KEY,
    OPT_HELP,
    OPT_VERSION,
    OPT_TYPE,
    OPT_DATA,
    OPT_METADATA,
    OPT_EVENT_ID,
    OPT_APPEND_ID,
    OPT_CONTENT_TYPE,
    OPT_CORRELATION_ID,
    OPT_CAUSATION_ID,
    OPT_FILE,
    OPT_EXPECTED,
    OPT_FROM,
    OPT_LIMIT,
    OPT_BACKWARDS,
    OPT_PARTITION,
    OPT_ALL,
    OPT_CATEGORY,
    OPT_NO_FOLLOW,
    OPT_COUNT_EVENTS,
    OPT_SCHEMA_VERSION,
    OPT_STREAM,
    OPT_TO,
    OPT_FROM_PG,
    OPT_PG_TABLE,
    OPT_PG_COLUMNS,
    OPT_HARD,
    OPT_BEFORE,
    OPT_MAX_COUNT,
    OPT_MAX_AGE,
    OPT_SUBJECT,
    OPT_SEAL_METADATA,
    OPT_COUNT
};

#define FOR(c) (1u << (c))
#define ALL_COMMANDS 0xffffffffu
#define LIFECYCLE_COMMANDS (FOR(EVS_CLI_DELETE) | FOR(EVS_CLI_TRUNCATE) | FOR(EVS_CLI_LIMITS))

static const struct option_spec {
    const char *name;
    int takes_value;
    unsigned commands; /* FOR(command) bits where the option applies */
} options[OPT_COUNT] = {
    [OPT_BROKERS] = {"brokers", 1, ALL_COMMANDS},
    [OPT_PROJECTOR] = {"projector", 1, ALL_COMMANDS},
    [OPT_TOPIC] = {"topic", 1, ALL_COMMANDS},
    [OPT_TIMEOUT] = {"timeout-ms", 1, ALL_COMMANDS},
    [OPT_KAFKA_CONFIG] = {"kafka-config", 1, ALL_COMMANDS},
    [OPT_CA_FILE] = {"ca-file", 1, ALL_COMMANDS},
    [OPT_TOKEN] = {"token", 1, ALL_COMMANDS},
    [OPT_MASTER_KEY] = {"master-key", 1, ALL_COMMANDS},
    [OPT_HELP] = {"help", 0, ALL_COMMANDS},
    /* Takes a value (V) after the snapshot command: see pass 1. */
    [OPT_VERSION] = {"version", 0, FOR(EVS_CLI_VERSION) | FOR(EVS_CLI_SNAPSHOT)},
    [OPT_TYPE] = {"type", 1, FOR(EVS_CLI_APPEND) | FOR(EVS_CLI_SUBSCRIBE) | FOR(EVS_CLI_EXPORT)},
    [OPT_DATA] = {"data", 1, FOR(EVS_CLI_APPEND) | FOR(EVS_CLI_SNAPSHOT)},
    [OPT_METADATA] = {"metadata", 1, FOR(EVS_CLI_APPEND)},
    [OPT_EVENT_ID] = {"event-id", 1, FOR(EVS_CLI_APPEND)},
    [OPT_APPEND_ID] = {"append-id", 1, FOR(EVS_CLI_APPEND) | LIFECYCLE_COMMANDS},
    [OPT_CONTENT_TYPE] = {"content-type", 1, FOR(EVS_CLI_APPEND) | FOR(EVS_CLI_SNAPSHOT)},
    [OPT_CORRELATION_ID] = {"correlation-id", 1, FOR(EVS_CLI_APPEND)},
    [OPT_CAUSATION_ID] = {"causation-id", 1, FOR(EVS_CLI_APPEND)},
    [OPT_FILE] = {"file", 1, FOR(EVS_CLI_APPEND) | FOR(EVS_CLI_SNAPSHOT)},
    [OPT_EXPECTED] = {"expected", 1, FOR(EVS_CLI_APPEND) | LIFECYCLE_COMMANDS},
    [OPT_FROM] = {"from", 1,
                  FOR(EVS_CLI_READ) | FOR(EVS_CLI_READ_ALL) | FOR(EVS_CLI_READ_CATEGORY) |
                      FOR(EVS_CLI_READ_TYPE) | FOR(EVS_CLI_SUBSCRIBE) | FOR(EVS_CLI_EXPORT)},
    [OPT_LIMIT] = {"limit", 1,
                   FOR(EVS_CLI_READ) | FOR(EVS_CLI_READ_ALL) | FOR(EVS_CLI_READ_CATEGORY) |
                       FOR(EVS_CLI_READ_TYPE)},
    [OPT_BACKWARDS] = {"backwards", 0, FOR(EVS_CLI_READ)},
    [OPT_PARTITION] = {"partition", 1,
                       FOR(EVS_CLI_READ_ALL) | FOR(EVS_CLI_READ_CATEGORY) | FOR(EVS_CLI_READ_TYPE) |
                           FOR(EVS_CLI_SUBSCRIBE) | FOR(EVS_CLI_EXPORT)},
    [OPT_ALL] = {"all", 0, FOR(EVS_CLI_SUBSCRIBE)},
    [OPT_CATEGORY] = {"category", 1, FOR(EVS_CLI_SUBSCRIBE) | FOR(EVS_CLI_EXPORT)},
    [OPT_NO_FOLLOW] = {"no-follow", 0, FOR(EVS_CLI_SUBSCRIBE)},
    [OPT_COUNT_EVENTS] = {"count", 1, FOR(EVS_CLI_SUBSCRIBE)},
    [OPT_SCHEMA_VERSION] = {"schema-version", 1, FOR(EVS_CLI_SNAPSHOT)},
    [OPT_STREAM] = {"stream", 1, FOR(EVS_CLI_EXPORT)},
    [OPT_TO] = {"to", 1, FOR(EVS_CLI_EXPORT)},
    [OPT_FROM_PG] = {"from-pg", 1, FOR(EVS_CLI_IMPORT)},
    [OPT_PG_TABLE] = {"pg-table", 1, FOR(EVS_CLI_IMPORT)},
    [OPT_PG_COLUMNS] = {"pg-columns", 1, FOR(EVS_CLI_IMPORT)},
    [OPT_HARD] = {"hard", 0, FOR(EVS_CLI_DELETE)},
    [OPT_BEFORE] = {"before", 1, FOR(EVS_CLI_TRUNCATE)},
    [OPT_MAX_COUNT] = {"max-count", 1, FOR(EVS_CLI_LIMITS)},
    [OPT_MAX_AGE] = {"max-age", 1, FOR(EVS_CLI_LIMITS)},
    [OPT_SUBJECT] = {"subject", 1, FOR(EVS_CLI_APPEND)},
    [OPT_SEAL_METADATA] = {"seal-metadata", 0, FOR(EVS_CLI_APPEND)},
};

static const struct {
    const char *name;
    evs_cli_command command;
    int needs_target; /* 1: a positional argument after the command is required */
    const char *target_name;
    int optional_words; /* positional words allowed besides the required one */
} commands[] = {
    {"append", EVS_CLI_APPEND, 1, "STREAM", 0},
    {"read", EVS_CLI_READ, 1, "STREAM", 0},
    {"read-all", EVS_CLI_READ_ALL, 0, NULL, 0},
    {"verdict", EVS_CLI_VERDICT, 1, "APPEND_ID", 0},
    {"status", EVS_CLI_STATUS, 0, NULL, 0},
    {"version", EVS_CLI_VERSION, 0, NULL, 0},
    {"help", EVS_CLI_HELP, 0, NULL, 0},
    {"subscribe", EVS_CLI_SUBSCRIBE, 0, NULL, 1},
    {"read-category", EVS_CLI_READ_CATEGORY, 1, "CATEGORY", 0},
    {"read-type", EVS_CLI_READ_TYPE, 1, "TYPE", 0},
    {"checkpoint", EVS_CLI_CHECKPOINT, 1, "save, load or delete", 2},
    {"snapshot", EVS_CLI_SNAPSHOT, 1, "save or load", 1},
    {"export", EVS_CLI_EXPORT, 0, NULL, 0},
    {"import", EVS_CLI_IMPORT, 0, NULL, 1},
    {"delete", EVS_CLI_DELETE, 1, "STREAM", 0},
    {"truncate", EVS_CLI_TRUNCATE, 1, "STREAM", 0},
    {"limits", EVS_CLI_LIMITS, 1, "STREAM", 0},
    {"info", EVS_CLI_INFO, 1, "STREAM", 0},
    {"forget", EVS_CLI_FORGET, 1, "SUBJECT", 0},
    {"keygen", EVS_CLI_KEYGEN, 1, "FILE", 0},
};

int evs_cli_u64_parse(const char *text, uint64_t max, uint64_t *out)
{
    uint64_t value = 0;
    if (!text || !*text)
        return -1;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned digit = (unsigned)(*p - '0');
        if (value > (max - digit) / 10)
            return -1;
        value = value * 10 + digit;
    }
    *out = value;
    return 0;
}

int evs_cli_expected_parse(const char *text, evs_expected *out)
{
    uint64_t version;
    if (!text)
        return -1;
    if (strcmp(text, "any") == 0) {
        *out = (evs_expected){EVS_EXPECT_ANY, 0};
    } else if (strcmp(text, "no_stream") == 0) {
        *out = (evs_expected){EVS_EXPECT_NO_STREAM, 0};
    } else if (strcmp(text, "stream_exists") == 0) {
        *out = (evs_expected){EVS_EXPECT_STREAM_EXISTS, 0};
    } else if (evs_cli_u64_parse(text, INT64_MAX, &version) == 0) {
        *out = (evs_expected){EVS_EXPECT_EXACT, version};
    } else {
        return -1;
    }
    return 0;
}

int evs_cli_duration_parse(const char *text, uint64_t *ms_out)
{
    static const struct {
        const char *suffix;
        uint64_t ms;
    } units[] = {{"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    char digits[24];
    size_t n = 0;
    if (!text)
        return -1;
    while (text[n] >= '0' && text[n] <= '9')
        n++;
    if (n == 0 || n >= sizeof digits)
        return -1;
    memcpy(digits, text, n);
    digits[n] = '\0';
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        uint64_t value;
        if (strcmp(text + n, units[u].suffix) != 0)
            continue;
        if (evs_cli_u64_parse(digits, INT64_MAX / units[u].ms, &value) != 0)
            return -1;
        *ms_out = value * units[u].ms;
        return 0;
    }
    return -1;
}

int evs_cli_exit_code(int evs_code)
{
    switch (evs_code) {
    case EVS_OK:
        return EVS_CLI_EXIT_OK;
    case EVS_EINVAL:
    case EVS_EREJECTED:
        return EVS_CLI_EXIT_USAGE;
    case EVS_EWRONG_VERSION:
        return EVS_CLI_EXIT_WRONG_VERSION;
    case EVS_EIDEMPOTENCY:
        return EVS_CLI_EXIT_IDEMPOTENCY;
    case EVS_EUNKNOWN_OUTCOME:
    case EVS_EUNAVAILABLE:
    case EVS_ETIMEOUT:
    case EVS_EAUTH:
        return EVS_CLI_EXIT_UNKNOWN;
    case EVS_ENOT_FOUND:
        return EVS_CLI_EXIT_NOT_FOUND;
    case EVS_ESTREAM_DELETED:
        return EVS_CLI_EXIT_STREAM_DELETED;
    default:
        return EVS_CLI_EXIT_OTHER;
    }
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *value = getenv(name);
    return value && value[0] ? value : fallback;
}

/* Converts a numeric option; returns 0 or -1 with err set. */
static int number_option(const char *name, const char *text, uint64_t min, uint64_t max,
                         uint64_t *out, char *err, size_t err_len)
{
    if (evs_cli_u64_parse(text, max, out) != 0 || *out < min) {
        snprintf(err, err_len, "--%s \"%s\" is not a whole number from %llu to %llu", name, text,
                 (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    return 0;
}

/* --from VECTOR: only where a position per partition means something, and well formed. */
static int vector_option(evs_cli_args *args, const char *text, int partition_given, char *err,
                         size_t err_len)
{
    int by_position = args->command == EVS_CLI_READ_ALL ||
                      args->command == EVS_CLI_READ_CATEGORY ||
                      args->command == EVS_CLI_READ_TYPE ||
                      (args->command == EVS_CLI_SUBSCRIBE && !args->target) ||
                      (args->command == EVS_CLI_EXPORT && !args->stream);
    if (!by_position) {
        snprintf(err, err_len,
                 "--from \"%.100s\" is a position vector, which only $all, a category or a "
                 "type has (not a stream)",
                 text);
        return -1;
    }
    if (partition_given) {
        snprintf(err, err_len,
                 "--from \"%.100s\" is a position vector, for every partition: it cannot be "
                 "combined with --partition (give that partition's position alone)",
                 text);
        return -1;
    }
    evs_position_vector vector = {NULL, 0};
    if (evs_position_vector_parse(text, &vector) != 0) {
        snprintf(err, err_len, "--from: %s", evs_last_error());
        return -1;
    }
    evs_position_vector_free(&vector);
    args->from_positions = text;
    return 0;
}

/* checkpoint save NAME POSITION | load NAME | delete NAME */
static int checkpoint_args(evs_cli_args *args, char *err, size_t err_len)
{
    const char *sub = args->target;
    int is_save = strcmp(sub, "save") == 0;
    if (!is_save && strcmp(sub, "load") != 0 && strcmp(sub, "delete") != 0) {
        snprintf(err, err_len, "unknown checkpoint command \"%s\"; use save, load or delete", sub);
        return -1;
    }
    if (!args->extra[0]) {
        snprintf(err, err_len, "checkpoint %s needs a NAME argument", sub);
        return -1;
    }
    if (!is_save && args->extra[1]) {
        snprintf(err, err_len, "unexpected argument \"%s\" after checkpoint %s NAME",
                 args->extra[1], sub);
        return -1;
    }
    if (is_save &&
        (!args->extra[1] || evs_cli_u64_parse(args->extra[1], INT64_MAX, &args->position) != 0)) {
        snprintf(err, err_len,
                 "checkpoint save NAME POSITION needs a POSITION from 0 to %lld%s%s%s",
                 (long long)INT64_MAX, args->extra[1] ? " (got \"" : "",
                 args->extra[1] ? args->extra[1] : "", args->extra[1] ? "\")" : "");
        return -1;
    }
    return 0;
}

/* snapshot save STREAM --version V (--data JSON | --file FILE) [--content-type CT]
 * [--schema-version N] | snapshot load STREAM [--version V] */
static int snapshot_args(evs_cli_args *args, const char *const *values, const int *seen, char *err,
                         size_t err_len)
{
    const char *sub = args->target;
    int is_save = strcmp(sub, "save") == 0;
    if (!is_save && strcmp(sub, "load") != 0) {
        snprintf(err, err_len, "unknown snapshot command \"%s\"; use save or load", sub);
        return -1;
    }
    if (!args->extra[0]) {
        snprintf(err, err_len, "snapshot %s needs a STREAM argument", sub);
        return -1;
    }
    if (seen[OPT_VERSION] &&
        number_option("version", values[OPT_VERSION], 1, INT64_MAX, &args->version, err, err_len))
        return -1;
    args->schema_version = 1;
    uint64_t number;
    if (seen[OPT_SCHEMA_VERSION]) {
        if (number_option("schema-version", values[OPT_SCHEMA_VERSION], 0, UINT32_MAX, &number, err,
                          err_len) != 0)
            return -1;
        args->schema_version = (uint32_t)number;
    }
    if (!is_save) {
        static const int save_only[] = {OPT_DATA, OPT_FILE, OPT_CONTENT_TYPE, OPT_SCHEMA_VERSION};
        for (size_t k = 0; k < sizeof save_only / sizeof save_only[0]; k++) {
            if (seen[save_only[k]]) {
                snprintf(err, err_len, "option --%s does not apply to snapshot load",
                         options[save_only[k]].name);
                return -1;
            }
        }
        return 0;
    }
    if (!seen[OPT_VERSION]) {
        snprintf(err, err_len, "snapshot save needs --version V (the version the state is at)");
        return -1;
    }
    if (seen[OPT_DATA] == seen[OPT_FILE]) {
        snprintf(err, err_len, "snapshot save needs exactly one of --data JSON and --file FILE");
        return -1;
    }
    return 0;
}

/* export [--stream S | --category C | --type T] [--from ...] [--to POSITION] [--partition P]
 * (from, from_positions and partition are converted by the caller) */
static int export_args(evs_cli_args *args, const char *const *values, const int *seen, char *err,
                       size_t err_len)
{
    if ((args->stream != NULL) + (args->category != NULL) + (args->type != NULL) > 1) {
        snprintf(err, err_len, "export takes at most one of --stream, --category and --type");
        return -1;
    }
    if (args->stream && seen[OPT_PARTITION]) {
        snprintf(err, err_len, "--partition does not apply to export --stream (a stream is in "
                               "one partition)");
        return -1;
    }
    if (seen[OPT_TO] &&
        number_option("to", values[OPT_TO], 1, INT64_MAX, &args->to, err, err_len) != 0)
        return -1;
    if (args->to && args->from > args->to) {
        snprintf(err, err_len, "--from %llu is after --to %llu: nothing to export",
                 (unsigned long long)args->from, (unsigned long long)args->to);
        return -1;
    }
    return 0;
}

/* delete STREAM [--hard] | truncate STREAM --before VERSION | limits STREAM [--max-count N]
 * [--max-age DURATION] (expected and append_id are converted by the caller) */
static int lifecycle_args(evs_cli_args *args, const char *const *values, const int *seen,
                          char *err, size_t err_len)
{
    args->hard = seen[OPT_HARD];
    if (args->command == EVS_CLI_TRUNCATE) {
        if (!seen[OPT_BEFORE]) {
            snprintf(err, err_len, "truncate needs --before VERSION (the first version kept)");
            return -1;
        }
        return number_option("before", values[OPT_BEFORE], 1, INT64_MAX, &args->before, err,
                             err_len);
    }
    if (args->command != EVS_CLI_LIMITS)
        return 0;
    args->max_count_given = seen[OPT_MAX_COUNT];
    args->max_age_given = seen[OPT_MAX_AGE];
    if (seen[OPT_MAX_COUNT] && number_option("max-count", values[OPT_MAX_COUNT], 0, INT64_MAX,
                                             &args->max_count, err, err_len) != 0)
        return -1;
    if (seen[OPT_MAX_AGE] && evs_cli_duration_parse(values[OPT_MAX_AGE], &args->max_age_ms) != 0) {
        snprintf(err, err_len,
                 "--max-age \"%.100s\" is not a duration: a whole number of milliseconds, or "
                 "a number with ms, s, m, h or d (30d), 0 for no limit",
                 values[OPT_MAX_AGE]);
        return -1;
    }
    if (!seen[OPT_MAX_COUNT] && !seen[OPT_MAX_AGE] && (seen[OPT_EXPECTED] || seen[OPT_APPEND_ID])) {
        snprintf(err, err_len, "limits with --%s needs --max-count or --max-age (without them "
                               "it only prints the metadata)",
                 seen[OPT_EXPECTED] ? "expected" : "append-id");
        return -1;
    }
    return 0;
}

/* import FILE | import --from-pg DSN [--pg-table T] [--pg-columns C,...] */
static int import_args(evs_cli_args *args, const char *const *values, const int *seen, char *err,
                       size_t err_len)
{
    args->from_pg = values[OPT_FROM_PG];
    if ((args->target != NULL) == (args->from_pg != NULL)) {
        snprintf(err, err_len, "import needs exactly one of FILE (\"-\" for standard input) "
                               "and --from-pg DSN");
        return -1;
    }
    if (!args->from_pg && (seen[OPT_PG_TABLE] || seen[OPT_PG_COLUMNS])) {
        snprintf(err, err_len, "--pg-table and --pg-columns only apply with --from-pg");
        return -1;
    }
    args->pg_table = seen[OPT_PG_TABLE] ? values[OPT_PG_TABLE] : "events";
    args->pg_columns = seen[OPT_PG_COLUMNS] ? values[OPT_PG_COLUMNS]
                                            : "stream_id,version,event_type,data,metadata,event_id";
    return 0;
}

int evs_cli_args_parse(int argc, char **argv, evs_cli_args *args, char *err, size_t err_len)
{
    const char *values[OPT_COUNT] = {0};
    int seen[OPT_COUNT] = {0};
    const char *words[4] = {0}; /* the command and up to three positional words */
    int word_count = 0;
    int options_done = 0;

    memset(args, 0, sizeof *args);
    err[0] = '\0';

    /* Pass 1: sort argv into options and words. */
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = 1;
            continue;
        }
        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            if (word_count == 4) {
                snprintf(err, err_len, "unexpected argument \"%s\"", arg);
                return -1;
            }
            words[word_count++] = arg;
            continue;
        }
        if (strcmp(arg, "-h") == 0)
            arg = "--help";
        if (arg[1] != '-') {
            snprintf(err, err_len, "unknown option \"%s\"; options start with --", arg);
            return -1;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        int opt = -1;
        for (int k = 0; k < OPT_COUNT; k++) {
            if (strlen(options[k].name) == name_len &&
                strncmp(options[k].name, name, name_len) == 0) {
                opt = k;
                break;
            }
        }
        if (opt < 0) {
            snprintf(err, err_len, "unknown option \"--%.*s\"; see evstore --help", (int)name_len,
                     name);
            return -1;
        }
        if (seen[opt]) {
            snprintf(err, err_len, "option --%s given twice", options[opt].name);
            return -1;
        }
        seen[opt] = 1;
        /* --version prints the version, except after `snapshot` where it takes one. */
        int takes_value = options[opt].takes_value ||
                          (opt == OPT_VERSION && words[0] && strcmp(words[0], "snapshot") == 0);
        if (!takes_value) {
            if (eq) {
                snprintf(err, err_len, "option --%s takes no value", options[opt].name);
                return -1;
            }
        } else if (eq) {
            values[opt] = eq + 1;
        } else if (i + 1 < argc) {
            values[opt] = argv[++i];
        } else {
            snprintf(err, err_len, "option --%s needs a value", options[opt].name);
            return -1;
        }
    }

    /* Pass 2: the command, then the options that apply to it. */
    if (seen[OPT_HELP]) {
        args->command = EVS_CLI_HELP;
        return 0;
    }
    if (word_count == 0) {
        if (seen[OPT_VERSION]) {
            args->command = EVS_CLI_VERSION;
            return 0;
        }
        snprintf(err, err_len, "no command given; see evstore --help");
        return -1;
    }
    size_t c = 0;
    while (c < sizeof commands / sizeof commands[0] && strcmp(commands[c].name, words[0]) != 0)
        c++;
    if (c == sizeof commands / sizeof commands[0]) {
        snprintf(err, err_len, "unknown command \"%s\"; see evstore --help", words[0]);
        return -1;
    }
    args->command = commands[c].command;
    if (commands[c].needs_target && word_count < 2) {
        snprintf(err, err_len, "%s needs a %s argument", commands[c].name, commands[c].target_name);
        return -1;
    }
    args->target = words[1];
    args->extra[0] = words[2];
    args->extra[1] = words[3];
    int expected_words = 1 + commands[c].needs_target + commands[c].optional_words;
    if (word_count > expected_words) {
        snprintf(err, err_len, "unexpected argument \"%s\" after %s", words[expected_words],
                 commands[c].name);
        return -1;
    }
    for (int k = 0; k < OPT_COUNT; k++) {
        if (seen[k] && !(options[k].commands & FOR(args->command))) {
            snprintf(err, err_len, "option --%s does not apply to %s", options[k].name,
                     commands[c].name);
            return -1;
        }
    }

    args->brokers =
        values[OPT_BROKERS] ? values[OPT_BROKERS] : env_or("EVSTORE_BROKERS", EVS_DEFAULT_BROKERS);
    args->projector = values[OPT_PROJECTOR] ? values[OPT_PROJECTOR]
                                            : env_or("EVSTORE_PROJECTOR", EVS_DEFAULT_PROJECTOR);
    args->topic =
        values[OPT_TOPIC] ? values[OPT_TOPIC] : env_or("EVSTORE_TOPIC", EVS_DEFAULT_TOPIC);
    args->kafka_config = values[OPT_KAFKA_CONFIG] ? values[OPT_KAFKA_CONFIG]
                                                  : env_or("EVSTORE_KAFKA_CONFIG", NULL);
    args->ca_file = values[OPT_CA_FILE] ? values[OPT_CA_FILE] : env_or("EVSTORE_CA_FILE", NULL);
    args->token = values[OPT_TOKEN] ? values[OPT_TOKEN] : env_or("EVSTORE_TOKEN", NULL);
    args->master_key = values[OPT_MASTER_KEY] ? values[OPT_MASTER_KEY]
                                              : env_or("EVSTORE_MASTER_KEY_FILE", NULL);
    uint64_t number;
    if (seen[OPT_TIMEOUT]) {
        if (number_option("timeout-ms", values[OPT_TIMEOUT], 1, 3600000, &number, err, err_len) !=
            0)
            return -1;
        args->timeout_ms = (int)number;
    }

    args->type = values[OPT_TYPE];
    args->data = values[OPT_DATA];
    args->metadata = values[OPT_METADATA];
    args->event_id = values[OPT_EVENT_ID];
    args->append_id = values[OPT_APPEND_ID];
    args->content_type = values[OPT_CONTENT_TYPE];
    args->correlation_id = values[OPT_CORRELATION_ID];
    args->causation_id = values[OPT_CAUSATION_ID];
    args->file = values[OPT_FILE];
    args->expected = (evs_expected){EVS_EXPECT_ANY, 0};
    if (seen[OPT_EXPECTED] && evs_cli_expected_parse(values[OPT_EXPECTED], &args->expected)) {
        snprintf(err, err_len,
                 "--expected \"%s\" is not any, no_stream, stream_exists or a "
                 "version number",
                 values[OPT_EXPECTED]);
        return -1;
    }
    args->subject = values[OPT_SUBJECT];
    args->seal_metadata = seen[OPT_SEAL_METADATA];
    if (args->seal_metadata && !args->subject) {
        snprintf(err, err_len, "--seal-metadata needs --subject S (whose key seals it)");
        return -1;
    }
    if (args->command == EVS_CLI_APPEND) {
        if (args->file) {
            static const int single_event_only[] = {
                OPT_TYPE,         OPT_DATA,           OPT_METADATA,    OPT_EVENT_ID,
                OPT_CONTENT_TYPE, OPT_CORRELATION_ID, OPT_CAUSATION_ID};
            for (size_t k = 0; k < sizeof single_event_only / sizeof single_event_only[0]; k++) {
                if (seen[single_event_only[k]]) {
                    snprintf(err, err_len,
                             "--file cannot be combined with --%s (give those "
                             "in the file's lines)",
                             options[single_event_only[k]].name);
                    return -1;
                }
            }
        } else if (!args->type || !args->data) {
            snprintf(err, err_len, "append needs --type and --data, or --file");
            return -1;
        }
    }

    args->stream = values[OPT_STREAM];
    if (seen[OPT_FROM] && strchr(values[OPT_FROM], ':')) {
        if (vector_option(args, values[OPT_FROM], seen[OPT_PARTITION], err, err_len) != 0)
            return -1;
    } else if (seen[OPT_FROM] && args->command == EVS_CLI_SUBSCRIBE &&
               (strcmp(values[OPT_FROM], "start") == 0 || strcmp(values[OPT_FROM], "now") == 0)) {
        args->from = values[OPT_FROM][0] == 's' ? EVS_FROM_START : EVS_FROM_NOW;
    } else if (seen[OPT_FROM] &&
               number_option("from", values[OPT_FROM], 0, INT64_MAX, &args->from, err, err_len)) {
        if (args->command == EVS_CLI_SUBSCRIBE)
            snprintf(err, err_len, "--from \"%s\" is not a position, start or now",
                     values[OPT_FROM]);
        return -1;
    }
    if (seen[OPT_LIMIT] &&
        number_option("limit", values[OPT_LIMIT], 1, INT64_MAX, &args->limit, err, err_len))
        return -1;
    args->backwards = seen[OPT_BACKWARDS];
    if (seen[OPT_PARTITION]) {
        if (number_option("partition", values[OPT_PARTITION], 0, INT32_MAX, &number, err,
                          err_len) != 0)
            return -1;
        args->partition = (int32_t)number;
        args->partition_given = 1;
    }
    if (seen[OPT_COUNT_EVENTS] &&
        number_option("count", values[OPT_COUNT_EVENTS], 1, INT64_MAX, &args->count, err,
                      err_len))
        return -1;
    args->all = seen[OPT_ALL];
    args->category = values[OPT_CATEGORY];
    args->no_follow = seen[OPT_NO_FOLLOW];
    if (args->command == EVS_CLI_SUBSCRIBE &&
        (args->target != NULL) + args->all + (args->category != NULL) + (args->type != NULL) != 1) {
        snprintf(err, err_len,
                 "subscribe needs exactly one of STREAM, --all, --category C and --type T");
        return -1;
    }
    if (args->command == EVS_CLI_EXPORT)
        return export_args(args, values, seen, err, err_len);
    if (args->command == EVS_CLI_IMPORT)
        return import_args(args, values, seen, err, err_len);
    if (args->command == EVS_CLI_CHECKPOINT)
        return checkpoint_args(args, err, err_len);
    if (args->command == EVS_CLI_SNAPSHOT)
        return snapshot_args(args, values, seen, err, err_len);
    if (args->command == EVS_CLI_DELETE || args->command == EVS_CLI_TRUNCATE ||
        args->command == EVS_CLI_LIMITS)
        return lifecycle_args(args, values, seen, err, err_len);
    return 0;
}
