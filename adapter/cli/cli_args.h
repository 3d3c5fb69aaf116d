/*
 * cli_args.h - the command line of the `evstore` CLI, parsed into a struct.
 *
 * Pure functions of argv and the environment, so the unit tests cover them without a
 * broker. The grammar (also printed by `evstore --help`, EVS_CLI_USAGE):
 *
 *   evstore [GLOBAL...] COMMAND [ARGS...] [GLOBAL...]
 *
 * Global options may come before or after the command. Every option takes its value as the
 * next argument or after '=' (--limit 10, --limit=10); "--" ends the options.
 */
#ifndef EVS_CLI_ARGS_H
#define EVS_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "evstore.h"

typedef enum evs_cli_command {
    EVS_CLI_NONE = 0,
    EVS_CLI_APPEND,
    EVS_CLI_READ,
    EVS_CLI_READ_ALL,
    EVS_CLI_VERDICT,
    EVS_CLI_STATUS,
    EVS_CLI_VERSION,
    EVS_CLI_HELP,
    EVS_CLI_SUBSCRIBE,
    EVS_CLI_READ_CATEGORY,
    EVS_CLI_READ_TYPE,
    EVS_CLI_CHECKPOINT,
    EVS_CLI_SNAPSHOT,
    EVS_CLI_EXPORT,
    EVS_CLI_IMPORT,
    EVS_CLI_DELETE,
    EVS_CLI_TRUNCATE,
    EVS_CLI_LIMITS,
    EVS_CLI_INFO,
    EVS_CLI_FORGET,
    EVS_CLI_KEYGEN,
} evs_cli_command;

/* Exit codes (the CLI's contract with scripts; see EVS_CLI_USAGE). */
enum {
    EVS_CLI_EXIT_OK = 0,
    EVS_CLI_EXIT_OTHER = 1,
    EVS_CLI_EXIT_USAGE = 2, /* bad usage or invalid input */
    EVS_CLI_EXIT_WRONG_VERSION = 3,
    EVS_CLI_EXIT_IDEMPOTENCY = 4,
    EVS_CLI_EXIT_UNKNOWN = 5,   /* outcome unknown, store unavailable, or credentials
                                   refused (EVS_EAUTH) */
    EVS_CLI_EXIT_NOT_FOUND = 6, /* no such stream / append id */
    EVS_CLI_EXIT_STREAM_DELETED = 7, /* the stream was deleted (EVS_ESTREAM_DELETED) */
};

/* Every string points into argv or the environment (or is a static default): nothing is
 * allocated, nothing needs freeing. */
typedef struct evs_cli_args {
    evs_cli_command command;
    const char *target; /* STREAM (append, read, subscribe, delete, truncate, limits, info),
                           APPEND_ID (verdict), CATEGORY
                           (read-category), TYPE (read-type), the subcommand (checkpoint,
                           snapshot: "save", "load" or "delete"), FILE (import; NULL
                           with --from-pg), SUBJECT (forget), FILE (keygen), else NULL */
    const char *extra[2]; /* positional words after target: checkpoint NAME [POSITION],
                             snapshot STREAM; NULL when absent */

    /* global */
    const char *brokers;   /* --brokers, $EVSTORE_BROKERS, EVS_DEFAULT_BROKERS */
    const char *projector; /* --projector, $EVSTORE_PROJECTOR, EVS_DEFAULT_PROJECTOR */
    const char *topic;     /* --topic, $EVSTORE_TOPIC, EVS_DEFAULT_TOPIC */
    int timeout_ms;        /* --timeout-ms; 0 when not given */
    const char *kafka_config; /* --kafka-config, $EVSTORE_KAFKA_CONFIG, NULL */
    const char *ca_file;      /* --ca-file, $EVSTORE_CA_FILE, NULL */
    const char *token;        /* --token, $EVSTORE_TOKEN, NULL */
    const char *master_key;   /* --master-key, $EVSTORE_MASTER_KEY_FILE, NULL */

    /* append; append_id and expected also for delete, truncate and limits */
    const char *type;
    const char *data;
    const char *metadata; /* NULL when not given */
    const char *event_id;
    const char *append_id;
    const char *content_type; /* NULL means application/json */
    const char *correlation_id;
    const char *causation_id;
    const char *file;      /* --file: NDJSON, "-" for standard input */
    evs_expected expected; /* --expected; default any */
    const char *subject;   /* --subject: the data subject of the event(s), NULL if none
                              (with --file, of the lines that name none themselves) */
    int seal_metadata;     /* --seal-metadata (needs --subject) */

    /* read, read-all, read-category, read-type, subscribe */
    uint64_t from;     /* --from; 0 = from the start (or the end, backwards); for subscribe
                          "start" is EVS_FROM_START and "now" EVS_FROM_NOW */
    const char *from_positions; /* --from given a position vector ("0:13,1:41,2:8", checked
                                   with evs_position_vector_parse) for read-all,
                                   read-category, read-type or subscribe without a stream
                                   and without --partition; else NULL (from applies) */
    uint64_t limit;    /* --limit; 0 = no limit (read everything) */
    int backwards;     /* --backwards */
    int32_t partition; /* --partition; default 0 */
    int partition_given; /* --partition was given: one partition, even on a topic of many */

    /* subscribe: exactly one of target (a stream), all, category, type */
    int all;              /* --all */
    const char *category; /* --category */
    int no_follow;        /* --no-follow */
    uint64_t count;       /* --count: exit after that many events; 0 = no such bound */

    /* checkpoint save */
    uint64_t position; /* the POSITION word */

    /* snapshot; data, file and content_type above are shared with append */
    uint64_t version;        /* --version V (snapshot save: required; load: 0 = latest) */
    uint32_t schema_version; /* --schema-version; default 1 */

    /* export: at most one of stream, category (above) and type (above, --type); from and
       from_positions above; partition above */
    const char *stream; /* --stream */
    uint64_t to;        /* --to: the last position (version, for --stream) to export,
                           inclusive; 0 = to the end */

    /* delete, truncate, limits */
    int hard;             /* delete --hard: a tombstone */
    uint64_t before;      /* truncate --before VERSION (required, 1..INT64_MAX) */
    uint64_t max_count;   /* limits --max-count N (0 clears) */
    uint64_t max_age_ms;  /* limits --max-age DURATION (0 clears) */
    int max_count_given;  /* --max-count was given */
    int max_age_given;    /* --max-age was given; with neither, limits prints the metadata */

    /* import: FILE is target; --from-pg reads PostgreSQL instead (cli_pg.h) */
    const char *from_pg;    /* --from-pg DSN, a libpq connection string; NULL when not given */
    const char *pg_table;   /* --pg-table; default "events" */
    const char *pg_columns; /* --pg-columns; default "stream_id,version,event_type,data,
                               metadata,event_id" (cli_pg.h) */
} evs_cli_args;

/* Parses argv[1..argc) into *args, taking defaults from the environment (getenv). Returns 0,
 * or -1 with a message in err naming the problem (exit code EVS_CLI_EXIT_USAGE). */
int evs_cli_args_parse(int argc, char **argv, evs_cli_args *args, char *err, size_t err_len);

/* Parses an expectation: "any", "no_stream", "stream_exists" or a decimal version
 * 0..INT64_MAX. Returns 0 or -1. */
int evs_cli_expected_parse(const char *text, evs_expected *out);

/* Parses a decimal unsigned integer (digits only, no sign, no spaces) up to max.
 * Returns 0 or -1. */
int evs_cli_u64_parse(const char *text, uint64_t max, uint64_t *out);

/* Parses a duration into milliseconds: a decimal number, alone (milliseconds) or followed
 * by one of the units ms, s, m, h, d ("30d", "90s", "250"), at most INT64_MAX ms in all.
 * Returns 0 or -1. */
int evs_cli_duration_parse(const char *text, uint64_t *ms_out);

/* The exit code for an evs_* return code. */
int evs_cli_exit_code(int evs_code);

/* The usage text of `evstore --help`. */
extern const char EVS_CLI_USAGE[];

#endif /* EVS_CLI_ARGS_H */
