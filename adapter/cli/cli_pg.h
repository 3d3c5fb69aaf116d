/*
 * cli_pg.h - `evstore import --from-pg DSN`: the source of events that reads the classic
 * PostgreSQL event-store schema, one table with a row per event:
 *
 *   stream id (text), version (integer, 1-based), event type (text), data (json, jsonb or
 *   text), metadata (json, jsonb, text or NULL), event id (uuid or its text)
 *
 * --pg-table names the table (default events; schema.table allowed) and --pg-columns the
 * six columns in that order (default stream_id,version,event_type,data,metadata,event_id;
 * "-" for metadata when the table has none). Rows are read in (stream, version) order in
 * one read-only REPEATABLE READ transaction, so the import sees one consistent state of the
 * table, row by row (libpq's single-row mode: memory does not grow with the table).
 * Each column is read as text: data that is JSON is stored as its compact text with
 * content type application/json, other data as its bytes with text/plain; metadata that
 * is JSON as its compact text, NULL as none. A row with a NULL stream, type, data or event
 * id, a version below 1 or an event id that is not a UUID stops the import, naming the row.
 * Linked into the `evstore` program only (libpq).
 */
#ifndef EVS_CLI_PG_H
#define EVS_CLI_PG_H

#include "cli_args.h"
#include "evstore.h"

/* Runs the import from args->from_pg (table args->pg_table, columns args->pg_columns) and
 * returns the exit code (as evs_cli_import_run; 2 also for a bad table or column setting,
 * 5 when PostgreSQL cannot be reached). */
int evs_cli_import_pg(evs_client *client, const evs_cli_args *args);

#endif /* EVS_CLI_PG_H */
