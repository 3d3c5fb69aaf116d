/*
 * cli_pg.c - reading the classic PostgreSQL events table for `evstore import --from-pg`
 * (cli_pg.h), through libpq.
 */
#include "cli_pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cli_json.h"
#include "cli_output.h"
#include "cli_transfer.h"

enum { COL_STREAM, COL_VERSION, COL_TYPE, COL_DATA, COL_METADATA, COL_EVENT_ID, COLS };
static const char *const column_role[COLS] = {"stream", "version", "type",
                                              "data",   "metadata", "event id"};

typedef struct pg_source {
    PGconn *conn;
    PGresult *row; /* the last row returned, freed by the next call */
    uint64_t row_no;
    int failed;    /* the query failed: message printed */
} pg_source;

/* Appends the quoted identifier of a name, schema.table allowed. Returns 0 or -1. */
static int append_identifier(evs_cli_buf *sql, PGconn *conn, const char *name, int dotted)
{
    const char *start = name;
    for (;;) {
        const char *dot = dotted ? strchr(start, '.') : NULL;
        size_t len = dot ? (size_t)(dot - start) : strlen(start);
        if (len == 0)
            return -1;
        char *quoted = PQescapeIdentifier(conn, start, len);
        if (!quoted)
            return -1;
        evs_cli_buf_puts(sql, quoted);
        PQfreemem(quoted);
        if (!dot)
            return 0;
        evs_cli_buf_puts(sql, ".");
        start = dot + 1;
    }
}

/* Builds SELECT <columns as text> FROM <table> [ORDER BY stream, version] into sql (with
 * count: SELECT count(*)). Returns 0, or -1 after a message. */
static int build_query(evs_cli_buf *sql, PGconn *conn, const evs_cli_args *args, int count)
{
    char names[COLS][128] = {{0}};
    const char *p = args->pg_columns;
    for (int c = 0; c < COLS; c++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len >= sizeof names[c] || (c < COLS - 1 && !comma) ||
            (c == COLS - 1 && comma)) {
            evs_cli_fail(EVS_CLI_EXIT_USAGE,
                         "--pg-columns \"%s\" must name six columns, comma-separated: stream, "
                         "version, type, data, metadata (\"-\" for none), event id",
                         args->pg_columns);
            return -1;
        }
        memcpy(names[c], p, len);
        p = comma ? comma + 1 : p + len;
    }
    evs_cli_buf_puts(sql, "SELECT ");
    if (count) {
        evs_cli_buf_puts(sql, "count(*)");
    } else {
        for (int c = 0; c < COLS; c++) {
            if (c)
                evs_cli_buf_puts(sql, ", ");
            if (c == COL_METADATA && strcmp(names[c], "-") == 0) {
                evs_cli_buf_printf(sql, "NULL::text AS evs_column_%d", c);
                continue;
            }
            if (append_identifier(sql, conn, names[c], 0) != 0)
                goto bad_name;
            /* Aliased, so that ORDER BY below names the table's column, not this text. */
            evs_cli_buf_printf(sql, "::text AS evs_column_%d", c);
        }
    }
    evs_cli_buf_puts(sql, " FROM ");
    if (append_identifier(sql, conn, args->pg_table, 1) != 0)
        goto bad_name;
    if (!count) {
        evs_cli_buf_puts(sql, " ORDER BY ");
        append_identifier(sql, conn, names[COL_STREAM], 0);
        evs_cli_buf_puts(sql, ", ");
        append_identifier(sql, conn, names[COL_VERSION], 0);
    }
    return 0;
bad_name:
    evs_cli_fail(EVS_CLI_EXIT_USAGE, "--pg-table \"%s\" or --pg-columns \"%s\" is not a valid name",
                 args->pg_table, args->pg_columns);
    return -1;
}

static char *copy_text(const char *text, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, text, len);
        copy[len] = '\0';
    }
    return copy;
}

/* JSON as its compact text; other text as its bytes, with *is_json 0. */
static char *payload(const char *text, size_t len, size_t *out_len, int *is_json)
{
    *is_json = evs_cli_json_valid(text, len, NULL, 0);
    if (!*is_json) {
        *out_len = len;
        return copy_text(text, len);
    }
    evs_cli_buf buf = {0};
    evs_cli_json_compact(&buf, text, len);
    *out_len = buf.len;
    return buf.data;
}

/* Fills line from the current row. Returns 0, or -1 with err naming the problem. */
static int row_to_line(const PGresult *row, evs_cli_export_line *line, char *err, size_t err_len)
{
    evs_cli_event *e = &line->event;
    memset(line, 0, sizeof *line);
    for (int c = 0; c < COLS; c++) {
        if (c != COL_METADATA && PQgetisnull(row, 0, c)) {
            snprintf(err, err_len, "the %s column is NULL", column_role[c]);
            return -1;
        }
    }
    const char *version = PQgetvalue(row, 0, COL_VERSION);
    if (evs_cli_u64_parse(version, INT64_MAX, &line->version) != 0 || line->version == 0) {
        snprintf(err, err_len, "version \"%.40s\" is not a whole number from 1 (evstore's "
                 "versions are 1-based)", version);
        return -1;
    }
    const char *event_id = PQgetvalue(row, 0, COL_EVENT_ID);
    if (!evs_cli_uuid_valid(event_id)) {
        snprintf(err, err_len, "event id \"%.40s\" is not a UUID", event_id);
        return -1;
    }
    int is_json = 0, metadata_json = 0;
    line->stream = strdup(PQgetvalue(row, 0, COL_STREAM));
    e->type = strdup(PQgetvalue(row, 0, COL_TYPE));
    e->event_id = strdup(event_id);
    e->data = payload(PQgetvalue(row, 0, COL_DATA), (size_t)PQgetlength(row, 0, COL_DATA),
                      &e->data_len, &is_json);
    if (!is_json)
        e->content_type = strdup("text/plain; charset=utf-8");
    if (!PQgetisnull(row, 0, COL_METADATA) && PQgetlength(row, 0, COL_METADATA) > 0)
        e->metadata = payload(PQgetvalue(row, 0, COL_METADATA),
                              (size_t)PQgetlength(row, 0, COL_METADATA), &e->metadata_len,
                              &metadata_json);
    if (!line->stream || !e->type || !e->event_id || !e->data || (!is_json && !e->content_type) ||
        (!PQgetisnull(row, 0, COL_METADATA) && PQgetlength(row, 0, COL_METADATA) > 0 &&
         !e->metadata)) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    return 0;
}

static int pg_next(void *ctx, evs_cli_export_line *line)
{
    pg_source *s = ctx;
    char err[256];
    PQclear(s->row);
    s->row = PQgetResult(s->conn);
    if (!s->row)
        return 0;
    ExecStatusType status = PQresultStatus(s->row);
    if (status == PGRES_TUPLES_OK) { /* the end: drain to the terminating NULL */
        PQclear(s->row);
        s->row = NULL;
        while ((s->row = PQgetResult(s->conn)) != NULL)
            PQclear(s->row);
        return 0;
    }
    if (status != PGRES_SINGLE_TUPLE) {
        evs_cli_fail(EVS_CLI_EXIT_USAGE, "PostgreSQL: %s", PQresultErrorMessage(s->row));
        s->failed = 1;
        return -1;
    }
    s->row_no++;
    if (row_to_line(s->row, line, err, sizeof err) == 0)
        return 1;
    evs_cli_fail(EVS_CLI_EXIT_USAGE,
                 "PostgreSQL row %" PRIu64 " (stream \"%.200s\", version %.40s): %s; the import "
                 "stopped there: the rows before it are imported (see the summary)",
                 s->row_no, PQgetvalue(s->row, 0, COL_STREAM), PQgetvalue(s->row, 0, COL_VERSION),
                 err);
    evs_cli_export_line_free(line);
    return -1;
}

/* Runs one statement that must succeed; returns its result (PQclear it) or NULL after a
 * message. */
static PGresult *exec_ok(PGconn *conn, const char *sql, ExecStatusType want)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) == want)
        return res;
    evs_cli_fail(EVS_CLI_EXIT_USAGE, "PostgreSQL: %s", PQresultErrorMessage(res));
    PQclear(res);
    return NULL;
}

int evs_cli_import_pg(evs_client *client, const evs_cli_args *args)
{
    int code = EVS_CLI_EXIT_USAGE;
    evs_cli_buf sql = {0}, count_sql = {0};
    pg_source s = {0};
    PGresult *res = NULL;

    s.conn = PQconnectdb(args->from_pg);
    if (PQstatus(s.conn) != CONNECTION_OK) {
        /* The message names the host and the cause, never the password. */
        code = evs_cli_fail(EVS_CLI_EXIT_UNKNOWN, "cannot connect to PostgreSQL: %s",
                            PQerrorMessage(s.conn));
        goto done;
    }
    if (build_query(&sql, s.conn, args, 0) != 0 || build_query(&count_sql, s.conn, args, 1) != 0)
        goto done;
    /* One snapshot for the count and the rows. */
    if (!(res = exec_ok(s.conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                        PGRES_COMMAND_OK)))
        goto done;
    PQclear(res);
    if (!(res = exec_ok(s.conn, count_sql.data, PGRES_TUPLES_OK)))
        goto done;
    uint64_t total = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    res = NULL;
    if (!PQsendQuery(s.conn, sql.data) || !PQsetSingleRowMode(s.conn)) {
        code = evs_cli_fail(EVS_CLI_EXIT_USAGE, "PostgreSQL: %s", PQerrorMessage(s.conn));
        goto done;
    }
    evs_cli_import_source source = {.next = pg_next, .ctx = &s, .name = "PostgreSQL",
                                     .total = total};
    code = evs_cli_import_run(client, &source);
    PQclear(s.row);
    s.row = NULL;
    /* After a stop the server may still be sending rows: cancel rather than read them all
     * (after the last row this does nothing). */
    PGcancel *cancel = PQgetCancel(s.conn);
    if (cancel) {
        char cancel_err[256];
        PQcancel(cancel, cancel_err, sizeof cancel_err);
        PQfreeCancel(cancel);
    }
    while ((res = PQgetResult(s.conn)) != NULL)
        PQclear(res);
done:
    PQclear(res);
    evs_cli_buf_free(&sql);
    evs_cli_buf_free(&count_sql);
    PQfinish(s.conn);
    return code;
}
