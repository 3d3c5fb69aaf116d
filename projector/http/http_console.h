/*
 * http_console.h - the web console (GET /ui, GET /ui/FILE) and the stream listing it pages
 * through (GET /streams?prefix=P&after=NAME&limit=N; docs/HTTP-API.md, docs/OPERATIONS.md).
 *
 * The console is the plain HTML, CSS and JavaScript of projector/ui/, embedded in the
 * binary at build time (embed_schemas.cmake): nothing is fetched from elsewhere at run time
 * and there is no front-end build step. The files hold no data; the page asks the API for
 * everything, with the token the user gives it.
 */
#ifndef EVS_HTTP_CONSOLE_H
#define EVS_HTTP_CONSOLE_H

#include <stddef.h>

#include "http/http_util.h"

/* One embedded file of projector/ui/ (the table is generated at build time). */
typedef struct evs_console_file {
    const char *name;  /* e.g. "console.js" */
    const char *bytes; /* the file, NUL-terminated */
    size_t len;        /* without the NUL */
} evs_console_file;

extern const evs_console_file evs__console_files[];
extern const size_t evs__console_file_count;

/* Streams listed per page of GET /streams: default and most. */
#define EVS_STREAMS_LIST_DEFAULT 100
#define EVS_STREAMS_LIST_MAX 1000

/* GET /streams: the streams of the version table whose names start with `prefix`, in name
 * order, after `after`, at most `limit`: {"streams": [{"stream", "version"}], "next": NAME
 * or null}. A projector serving a shard lists the streams of its partitions. */
enum MHD_Result evs_streams_list_handle(const evs_http_request *request);

/* GET /ui and GET /ui/FILE: index.html, or the file, with its content type; 404 else. */
enum MHD_Result evs_console_handle(const evs_http_request *request);

#endif /* EVS_HTTP_CONSOLE_H */
