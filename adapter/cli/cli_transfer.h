/*
 * cli_transfer.h - `evstore export` and `evstore import`: moving events out of a store and
 * into one as NDJSON (the line format: evs_cli_format_export_event and
 * evs_cli_export_line_parse; docs/OPERATIONS.md, "Export and import").
 *
 * Export reads through libevstore's public API, one partition after the other (partition 0
 * first; each in position order, a stream in version order), so a file holds every
 * partition's events once. Import appends every run of consecutive lines of one stream
 * (at most EVS_APPEND_EVENTS_MAX events and IMPORT_BATCH_BYTES) as one append that keeps
 * the event ids and expects the exact version before the run's first line:
 *  - into an empty store, every stream comes out identical (ids, types, data, versions);
 *  - again, every event is already stored at those versions: the rule answers duplicate
 *    (docs/ARCHITECTURE.md, R1) and nothing new is stored;
 *  - a stream that holds other events there fails its append (wrong expected version,
 *    counted as failed) instead of merging silently.
 */
#ifndef EVS_CLI_TRANSFER_H
#define EVS_CLI_TRANSFER_H

#include "cli_args.h"
#include "cli_ndjson.h"
#include "evstore.h"

/* Runs `evstore export ...` and returns the exit code. */
int evs_cli_export(evs_client *client, const evs_cli_args *args);

/* Where import takes its events from: a function that fills *line with the next event and
 * returns 1, returns 0 at the end, or -1 after printing a message that names the bad input
 * (a line number, a row). *line is then the caller's to free with
 * evs_cli_export_line_free. */
typedef struct evs_cli_import_source {
    int (*next)(void *ctx, evs_cli_export_line *line);
    void *ctx;
    const char *name;    /* for messages: the file name, "PostgreSQL" */
    uint64_t total;      /* events expected, for the progress bar; 0 when not known */
} evs_cli_import_source;

/* Appends every event of source and prints the summary {"appended","duplicate","failed",
 * "events"} to standard output. Returns the exit code: 0 when nothing failed; 2 when the
 * source stopped at bad input (what came before it stays imported); else the code of the
 * first failure (3 wrong expected version, 5 unavailable, ...). */
int evs_cli_import_run(evs_client *client, evs_cli_import_source *source);

/* `evstore import FILE` ("-": standard input). */
int evs_cli_import_file(evs_client *client, const char *path);

#endif /* EVS_CLI_TRANSFER_H */
