/*
 * cli_export.c - `evstore export` (cli_transfer.h): pages through a stream, or through $all,
 * a category or a type one partition at a time, writing each event as an export line.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli_output.h"
#include "cli_progress.h"
#include "cli_transfer.h"

/* Events per read request. */
#define EXPORT_PAGE_EVENTS 1000

typedef struct export_run {
    evs_client *client;
    const evs_cli_args *args;
    evs_cli_buf out;
    evs_cli_progress progress;
    uint64_t written;
} export_run;

/* The events $all holds from `from` to `to` in every partition, by the home projector's
 * /status (last_position per partition): the progress bar's total. 0 when not known. */
static uint64_t all_total(evs_client *client, const evs_cli_args *args, const uint64_t *from,
                          int32_t count)
{
    char *json = NULL;
    uint64_t total = 0;
    if (evs_client_status(client, &json) != 0)
        return 0;
    json_t *root = json_loads(json, 0, NULL);
    free(json);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(root, "partitions"), i, p)
    {
        json_int_t partition = json_integer_value(json_object_get(p, "partition"));
        json_int_t last = json_integer_value(json_object_get(p, "last_position"));
        if (partition < 0 || partition >= count || last <= 0)
            continue;
        if (args->partition_given && partition != args->partition)
            continue;
        uint64_t end = args->to && args->to < (uint64_t)last ? args->to : (uint64_t)last;
        uint64_t start = from[partition] ? from[partition] : 1;
        if (end >= start)
            total += end - start + 1;
    }
    json_decref(root);
    return total;
}

/* Writes a page's events up to `to` (0: all). Returns 1 when an event beyond `to` ended the
 * page, 0 when all were written, -1 when standard output failed. */
static int write_page(export_run *run, const evs_event_list *list, int by_version)
{
    int beyond = 0;
    for (size_t i = 0; i < list->count; i++) {
        const evs_event *event = &list->events[i];
        uint64_t at = by_version ? event->version : event->position;
        if (run->args->to && at > run->args->to) {
            beyond = 1;
            break;
        }
        evs_cli_format_export_event(&run->out, event);
        run->written++;
    }
    int rc = evs_cli_write(&run->out);
    run->out.len = 0;
    evs_cli_progress_update(&run->progress, run->written, NULL, 0);
    return rc != 0 ? -1 : beyond;
}

/* One page of what the command exports, of partition p (not for a stream). */
static int read_page(export_run *run, int32_t p, uint64_t from, evs_event_list **list)
{
    const evs_cli_args *args = run->args;
    if (args->category)
        return evs_category_read(run->client, args->category, p, from, EXPORT_PAGE_EVENTS, list);
    if (args->type)
        return evs_type_read(run->client, args->type, p, from, EXPORT_PAGE_EVENTS, list);
    return evs_all_read(run->client, p, from, EXPORT_PAGE_EVENTS, list);
}

/* Exports a stream (p < 0) or partition p of the source from `from` to the end or `to`. */
static int export_range(export_run *run, int32_t p, uint64_t from)
{
    for (;;) {
        evs_event_list *list = NULL;
        int rc = p < 0 ? evs_stream_read(run->client, run->args->stream, from, EXPORT_PAGE_EVENTS,
                                         EVS_FORWARDS, &list)
                       : read_page(run, p, from, &list);
        if (rc != 0)
            return evs_cli_fail_evs(rc);
        int written = write_page(run, list, p < 0);
        int done = written != 0 || list->end_of_stream || list->count == 0 || list->next <= from;
        from = list->next;
        evs_event_list_free(list);
        if (written < 0)
            return evs_cli_fail(EVS_CLI_EXIT_OTHER, "cannot write the export to standard output");
        if (done)
            return EVS_CLI_EXIT_OK;
    }
}

int evs_cli_export(evs_client *client, const evs_cli_args *args)
{
    export_run run = {.client = client, .args = args};
    evs_position_vector vector = {NULL, 0};
    uint64_t *from = NULL;
    int32_t count = 1;
    int code = EVS_CLI_EXIT_OK;

    if (args->stream) {
        evs_cli_progress_start(&run.progress, "export", 0);
        code = export_range(&run, -1, args->from);
        goto done;
    }
    int rc = evs_client_partitions(client, &count);
    if (rc != 0) {
        code = evs_cli_fail_evs(rc);
        goto done;
    }
    if (args->from_positions && (rc = evs_position_vector_parse(args->from_positions, &vector))) {
        code = evs_cli_fail_evs(rc);
        goto done;
    }
    if (vector.count > count) {
        code = evs_cli_fail(EVS_CLI_EXIT_USAGE, "--from names partition %" PRId32
                            ", but the topic has %" PRId32 " partitions",
                            vector.count - 1, count);
        goto done;
    }
    if (args->partition_given && args->partition >= count) {
        code = evs_cli_fail(EVS_CLI_EXIT_USAGE,
                            "--partition %" PRId32 ": the topic has %" PRId32 " partitions",
                            args->partition, count);
        goto done;
    }
    from = calloc((size_t)count, sizeof *from);
    if (!from) {
        code = evs_cli_fail(EVS_CLI_EXIT_OTHER, "out of memory");
        goto done;
    }
    for (int32_t p = 0; p < count; p++)
        from[p] = p < vector.count && vector.positions[p] ? vector.positions[p] : args->from;
    evs_cli_progress_start(&run.progress, "export",
                           args->category || args->type ? 0 : all_total(client, args, from, count));
    for (int32_t p = 0; p < count && code == EVS_CLI_EXIT_OK; p++)
        if (!args->partition_given || p == args->partition)
            code = export_range(&run, p, from[p]);
done:
    evs_cli_progress_update(&run.progress, run.written, NULL, 1);
    evs_cli_progress_end(&run.progress);
    evs_cli_buf_free(&run.out);
    evs_position_vector_free(&vector);
    free(from);
    return code;
}
