/*
 * cli_import.c - `evstore import` (cli_transfer.h): appends the events of a source (an
 * export file, or PostgreSQL through cli_pg.c) run by run, each run one append of one
 * stream at exact versions with the original event ids.
 *
 * What each outcome of a run's append does:
 *  - accepted: counted appended; duplicate (imported before): counted duplicate;
 *  - idempotency conflict (some of the run's events are stored, not all: an import that
 *    stopped half-way through a run, or a file cut differently): the run is appended again
 *    one event at a time, so each event is a duplicate or appended on its own;
 *  - wrong expected version (the stream holds other events there), invalid: the run's
 *    events are counted failed with a message naming the stream and versions; the import
 *    goes on with the next run;
 *  - unknown outcome, unavailable: retried with the same event ids (safe: a stored run
 *    answers duplicate) up to IMPORT_RETRIES times, then the import stops.
 * A source that stops at bad input (a malformed line) stops the import there: the runs
 * before it are appended first, so what came before stays imported.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_output.h"
#include "cli_progress.h"
#include "cli_transfer.h"

/* A run's encoded size is kept below this (the limit is EVS_APPEND_BYTES_MAX, 900 KiB, of
 * which ids, types and the record's framing take a share per event). */
#define IMPORT_BATCH_BYTES (700 * 1024)
/* Per-event bytes of the encoded append besides data, metadata and strings (ids, lengths). */
#define IMPORT_EVENT_OVERHEAD 64
#define IMPORT_RETRIES 3

typedef struct import_run {
    evs_client *client;
    evs_cli_export_line lines[EVS_APPEND_EVENTS_MAX]; /* the pending run, owned */
    evs_event_data data[EVS_APPEND_EVENTS_MAX];
    size_t count;
    size_t bytes;
    uint64_t events, appended, duplicate, failed;
    int first_failure; /* exit code of the first failure, 0 while none */
    int stop;          /* an exit code that ends the import (unavailable after retries) */
    evs_cli_progress progress;
} import_run;

static size_t line_bytes(const evs_cli_export_line *line)
{
    const evs_cli_event *e = &line->event;
    return e->data_len + e->metadata_len + strlen(e->type) +
           (e->content_type ? strlen(e->content_type) : 16) +
           (e->correlation_id ? strlen(e->correlation_id) : 0) +
           (e->causation_id ? strlen(e->causation_id) : 0) + IMPORT_EVENT_OVERHEAD;
}

static void draw(import_run *run, int force)
{
    char note[96];
    snprintf(note, sizeof note, "%" PRIu64 " appended, %" PRIu64 " duplicate, %" PRIu64 " failed",
             run->appended, run->duplicate, run->failed);
    evs_cli_progress_update(&run->progress, run->events, note, force);
}

/* Prints a failure of the run's lines [first, first + n) on its own line. */
static void report(import_run *run, size_t first, size_t n, int rc)
{
    const evs_cli_export_line *line = &run->lines[first];
    if (run->progress.drawn)
        fputc('\n', stderr);
    run->progress.drawn = 0;
    const char *detail = evs_last_error();
    evs_cli_fail(evs_cli_exit_code(rc),
                 "import of %s versions %" PRIu64 "..%" PRIu64 " failed: %s", line->stream,
                 line->version, line->version + n - 1, detail[0] ? detail : evs_strerror(rc));
    run->failed += n;
    if (!run->first_failure)
        run->first_failure = evs_cli_exit_code(rc);
}

/* Appends lines [first, first + n) of the run, all of one stream at consecutive versions,
 * retrying an unknown outcome with the same ids. Returns evs_append's code. */
static int append_lines(import_run *run, size_t first, size_t n)
{
    const evs_cli_export_line *line = &run->lines[first];
    evs_expected expected = {EVS_EXPECT_EXACT, line->version - 1};
    evs_append_result result;
    int rc = EVS_EUNAVAILABLE;
    for (int attempt = 0; attempt <= IMPORT_RETRIES; attempt++) {
        rc = evs_append(run->client, line->stream, expected, &run->data[first], n, NULL, &result);
        if (rc != EVS_EUNKNOWN_OUTCOME && rc != EVS_EUNAVAILABLE && rc != EVS_ETIMEOUT)
            break;
    }
    if (rc == 0 && result.duplicate)
        run->duplicate += n;
    else if (rc == 0)
        run->appended += n;
    return rc;
}

/* Appends the pending run and empties it. */
static void flush(import_run *run)
{
    if (run->count == 0)
        return;
    int rc = append_lines(run, 0, run->count);
    if (rc == EVS_EIDEMPOTENCY) {
        /* Part of the run is stored: one event at a time, each is a duplicate or new. */
        for (size_t i = 0; i < run->count && !run->stop; i++) {
            int one = append_lines(run, i, 1);
            if (one != 0)
                report(run, i, 1, one);
            if (one == EVS_EUNKNOWN_OUTCOME || one == EVS_EUNAVAILABLE || one == EVS_ETIMEOUT)
                run->stop = evs_cli_exit_code(one);
        }
    } else if (rc != 0) {
        report(run, 0, run->count, rc);
        if (rc == EVS_EUNKNOWN_OUTCOME || rc == EVS_EUNAVAILABLE || rc == EVS_ETIMEOUT)
            run->stop = evs_cli_exit_code(rc);
    }
    for (size_t i = 0; i < run->count; i++)
        evs_cli_export_line_free(&run->lines[i]);
    run->count = 0;
    run->bytes = 0;
    draw(run, 0);
}

/* 1 if line continues the pending run: the same stream, the next version, and room left. */
static int continues_run(const import_run *run, const evs_cli_export_line *line, size_t bytes)
{
    if (run->count == 0)
        return 1;
    const evs_cli_export_line *last = &run->lines[run->count - 1];
    return run->count < EVS_APPEND_EVENTS_MAX && run->bytes + bytes <= IMPORT_BATCH_BYTES &&
           strcmp(last->stream, line->stream) == 0 && line->version == last->version + 1;
}

int evs_cli_import_run(evs_client *client, evs_cli_import_source *source)
{
    import_run *run = calloc(1, sizeof *run);
    if (!run)
        return evs_cli_fail(EVS_CLI_EXIT_OTHER, "out of memory");
    run->client = client;
    evs_cli_progress_start(&run->progress, "import", source->total);
    int code = EVS_CLI_EXIT_OK;
    evs_cli_export_line line;
    int got;
    while (!run->stop && (got = source->next(source->ctx, &line)) == 1) {
        size_t bytes = line_bytes(&line);
        if (!continues_run(run, &line, bytes))
            flush(run);
        run->lines[run->count] = line;
        evs_cli_event_to_data(&run->lines[run->count].event, &run->data[run->count]);
        run->count++;
        run->bytes += bytes;
        run->events++;
    }
    if (!run->stop && got < 0)
        code = EVS_CLI_EXIT_USAGE; /* the source named the bad input */
    if (!run->stop)
        flush(run); /* what came before bad input stays imported */
    draw(run, 1);
    evs_cli_progress_end(&run->progress);
    for (size_t i = 0; i < run->count; i++) /* left by a stop */
        evs_cli_export_line_free(&run->lines[i]);
    printf("{\"appended\":%" PRIu64 ",\"duplicate\":%" PRIu64 ",\"failed\":%" PRIu64
           ",\"events\":%" PRIu64 "}\n",
           run->appended, run->duplicate, run->failed, run->events);
    if (run->stop) {
        code = run->stop;
        evs_cli_fail(code, "import stopped: the store did not answer; what is counted appended or "
                           "duplicate is stored: run the same import again to go on");
    } else if (code == EVS_CLI_EXIT_OK && run->first_failure) {
        code = run->first_failure;
    }
    free(run);
    return code;
}

/* ---- The file source ---------------------------------------------------------------- */

typedef struct file_source {
    FILE *in;
    const char *name;
    char *buf;
    size_t cap;
    unsigned long line_no;
} file_source;

static int file_next(void *ctx, evs_cli_export_line *line)
{
    file_source *f = ctx;
    char err[512];
    ssize_t n;
    while ((n = getline(&f->buf, &f->cap, f->in)) >= 0) {
        f->line_no++;
        size_t len = (size_t)n;
        if (len && f->buf[len - 1] == '\n')
            len--;
        if (evs_cli_ndjson_blank(f->buf, len))
            continue;
        if (evs_cli_export_line_parse(f->buf, len, line, err, sizeof err) == 0)
            return 1;
        evs_cli_fail(EVS_CLI_EXIT_USAGE,
                     "%s line %lu: %s; the import stopped there: the lines before it are "
                     "imported (see the summary), none after it. Fix the line and run the same "
                     "import again (what is stored already counts as duplicate)",
                     f->name, f->line_no, err);
        return -1;
    }
    if (ferror(f->in)) {
        evs_cli_fail(EVS_CLI_EXIT_USAGE, "cannot read %s: %s", f->name, strerror(errno));
        return -1;
    }
    return 0;
}

int evs_cli_import_file(evs_client *client, const char *path)
{
    int is_stdin = strcmp(path, "-") == 0;
    file_source f = {.in = is_stdin ? stdin : fopen(path, "r"),
                     .name = is_stdin ? "standard input" : path};
    if (!f.in)
        return evs_cli_fail(EVS_CLI_EXIT_USAGE, "cannot open %s: %s", path, strerror(errno));
    evs_cli_import_source source = {.next = file_next, .ctx = &f, .name = f.name};
    int code = evs_cli_import_run(client, &source);
    free(f.buf);
    if (!is_stdin)
        fclose(f.in);
    return code;
}
