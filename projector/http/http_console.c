/*
 * http_console.c - the web console's files and GET /streams (http_console.h).
 */
#include "http/http_console.h"

#include <stdlib.h>
#include <string.h>

#include "record_codec.h"

/* ---- GET /streams ----------------------------------------------------------------------- */

typedef struct list_page {
    evs_out *out;
    uint64_t limit, count;
    int more; /* a stream beyond the page exists */
    char last[EVS_STREAM_NAME_MAX + 1];
} list_page;

static int list_one(void *ctx, const char *stream, size_t len, uint64_t version)
{
    list_page *page = ctx;
    if (page->count == page->limit) {
        page->more = 1;
        return 1;
    }
    evs_out_str(page->out, page->count ? ",{\"stream\":" : "{\"stream\":");
    evs_out_jstr(page->out, stream, len);
    evs_out_fmt(page->out, ",\"version\":%llu}", (unsigned long long)version);
    memcpy(page->last, stream, len);
    page->last[len] = '\0';
    page->count++;
    return 0;
}

/* An optional name parameter: absent, or a prefix of a valid stream name (any name
 * characters, possibly empty for prefix). Returns 0, or -1 after queueing a 400. */
static int name_param(struct MHD_Connection *c, const char *key, const char **value,
                      enum MHD_Result *ret)
{
    *value = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
    if (!*value || !(*value)[0]) {
        *value = NULL;
        return 0;
    }
    /* Every prefix of a valid name is a valid name, except that it may end anywhere. */
    if (!evs_stream_name_valid(*value, strlen(*value))) {
        *ret = evs_http_send_error(c, MHD_HTTP_BAD_REQUEST,
                                   "invalid %s \"%.200s\": stream names use 1 to %d of letters, "
                                   "digits and _.:@- (not starting with $)",
                                   key, *value, EVS_STREAM_NAME_MAX);
        return -1;
    }
    return 0;
}

enum MHD_Result evs_streams_list_handle(const evs_http_request *r)
{
    struct MHD_Connection *c = r->connection;
    enum MHD_Result ret = MHD_NO;
    const char *prefix, *after;
    uint64_t limit;
    if (name_param(c, "prefix", &prefix, &ret) < 0 || name_param(c, "after", &after, &ret) < 0 ||
        evs_http_query_u64(c, "limit", EVS_STREAMS_LIST_DEFAULT, 1, EVS_STREAMS_LIST_MAX, &limit,
                           &ret) < 0)
        return ret;
    evs_out out = {0};
    list_page page = {.out = &out, .limit = limit};
    evs_out_str(&out, "{\"streams\":[");
    int rc = evs_store_list_streams(r->projector->store, prefix ? prefix : "",
                                    prefix ? strlen(prefix) : 0, after, after ? strlen(after) : 0,
                                    list_one, &page);
    if (rc < 0) {
        free(out.p);
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                   "cannot read the version table: %s", strerror(-rc));
    }
    evs_out_str(&out, "],\"next\":");
    if (page.more)
        evs_out_jstr(&out, page.last, strlen(page.last));
    else
        evs_out_str(&out, "null");
    evs_out_str(&out, "}");
    return evs_http_send_json(c, MHD_HTTP_OK, &out);
}

/* ---- GET /ui ---------------------------------------------------------------------------- */

static const char *content_type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot && !strcmp(dot, ".html"))
        return "text/html; charset=utf-8";
    if (dot && !strcmp(dot, ".css"))
        return "text/css; charset=utf-8";
    if (dot && !strcmp(dot, ".js"))
        return "text/javascript; charset=utf-8";
    if (dot && !strcmp(dot, ".svg"))
        return "image/svg+xml";
    return "application/octet-stream";
}

enum MHD_Result evs_console_handle(const evs_http_request *r)
{
    const char *name = r->path + strlen("/ui");
    if (!name[0] || !strcmp(name, "/"))
        name = "/index.html";
    name++; /* past the '/' */
    for (size_t i = 0; i < evs__console_file_count; i++) {
        const evs_console_file *f = &evs__console_files[i];
        if (strcmp(f->name, name) != 0)
            continue;
        /* Static bytes: the response does not copy or free them. */
        struct MHD_Response *res =
            MHD_create_response_from_buffer(f->len, (void *)f->bytes, MHD_RESPMEM_PERSISTENT);
        if (!res)
            return MHD_NO;
        MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, content_type_of(f->name));
        MHD_add_response_header(res, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        /* Nothing but this origin: no inline scripts, no frames of it elsewhere. */
        MHD_add_response_header(res, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
        MHD_add_response_header(res, "X-Content-Type-Options", "nosniff");
        enum MHD_Result ret = MHD_queue_response(r->connection, MHD_HTTP_OK, res);
        MHD_destroy_response(res);
        return ret;
    }
    return evs_http_send_error(r->connection, MHD_HTTP_NOT_FOUND,
                               "no console file %.200s; the console is at /ui", r->path);
}
