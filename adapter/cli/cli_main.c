/*
 * cli_main.c - the `evstore` command-line tool: appends events, reads streams and $all,
 * deletes, truncates and limits streams, forgets data subjects, makes master keys, looks up
 * verdicts, shows the projector's status. It uses libevstore's public header only,
 * like any other program would. The contract (commands, output lines, exit codes) is the
 * usage text in cli_args.c, printed by `evstore --help`.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_across.h"
#include "cli_args.h"
#include "cli_group.h"
#include "cli_lifecycle.h"
#include "cli_token.h"
#include "cli_json.h"
#include "cli_ndjson.h"
#include "cli_output.h"
#include "cli_pg.h"
#include "cli_snapshot.h"
#include "cli_subscribe.h"
#include "cli_transfer.h"
#include "evstore.h"

/* Events per read request while paging through a stream or $all. */
#define READ_PAGE_EVENTS 1000

static int fail_with(int exit_code, const char *format, ...) __attribute__((format(printf, 2, 3)));

static int fail_with(int exit_code, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("evstore: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    return exit_code;
}

/* Reports a failed evs_* call and returns its exit code. */
static int fail_evs(int rc)
{
    const char *detail = evs_last_error();
    return fail_with(evs_cli_exit_code(rc), "%s", detail[0] ? detail : evs_strerror(rc));
}

static int write_out(const evs_cli_buf *buf)
{
    if (buf->len && fwrite(buf->data, 1, buf->len, stdout) != buf->len)
        return -1;
    return 0;
}

static int append_one(evs_client *client, const evs_cli_args *args)
{
    char err[512];
    evs_append_result result;
    evs_cli_buf out = {0};

    if (evs_cli_is_json_content_type(args->content_type) &&
        !evs_cli_json_valid(args->data, strlen(args->data), err, sizeof err))
        return fail_with(EVS_CLI_EXIT_USAGE, "--data is not valid JSON: %s", err);
    if (args->metadata && args->metadata[0] &&
        !evs_cli_json_valid(args->metadata, strlen(args->metadata), err, sizeof err))
        return fail_with(EVS_CLI_EXIT_USAGE, "--metadata is not valid JSON: %s", err);

    evs_event_data event = {
        .event_id = args->event_id,
        .type = args->type,
        .data = args->data,
        .data_len = strlen(args->data),
        .content_type = args->content_type,
        .metadata = args->metadata,
        .metadata_len = args->metadata ? strlen(args->metadata) : 0,
        .correlation_id = args->correlation_id,
        .causation_id = args->causation_id,
        .subject = args->subject,
        .seal_metadata = args->seal_metadata,
    };
    int rc = evs_append(client, args->target, args->expected, &event, 1, args->append_id, &result);
    if (rc != 0)
        return fail_evs(rc);
    evs_cli_format_append_result(&out, &result);
    int write_rc = write_out(&out);
    evs_cli_buf_free(&out);
    return write_rc == 0 ? EVS_CLI_EXIT_OK : EVS_CLI_EXIT_OTHER;
}

static int append_file(evs_client *client, const evs_cli_args *args)
{
    int code;
    FILE *in = NULL;
    char *line = NULL;
    size_t line_cap = 0;
    size_t count = 0;
    evs_cli_event *events = NULL;
    evs_event_data *data = NULL;
    evs_cli_buf out = {0};
    char err[512];

    int is_stdin = strcmp(args->file, "-") == 0;
    in = is_stdin ? stdin : fopen(args->file, "r");
    if (!in) {
        code = fail_with(EVS_CLI_EXIT_USAGE, "cannot open %s: %s", args->file, strerror(errno));
        goto done;
    }
    events = calloc(EVS_APPEND_EVENTS_MAX, sizeof *events);
    data = calloc(EVS_APPEND_EVENTS_MAX, sizeof *data);
    if (!events || !data) {
        code = fail_with(EVS_CLI_EXIT_OTHER, "out of memory");
        goto done;
    }
    ssize_t n;
    unsigned long line_no = 0;
    while ((n = getline(&line, &line_cap, in)) >= 0) {
        line_no++;
        size_t len = (size_t)n;
        if (len && line[len - 1] == '\n')
            len--;
        if (evs_cli_ndjson_blank(line, len))
            continue;
        if (count == EVS_APPEND_EVENTS_MAX) {
            code = fail_with(EVS_CLI_EXIT_USAGE,
                             "%s line %lu: more than %d events; one append "
                             "holds at most %d",
                             args->file, line_no, EVS_APPEND_EVENTS_MAX, EVS_APPEND_EVENTS_MAX);
            goto done;
        }
        if (evs_cli_ndjson_parse(line, len, &events[count], err, sizeof err) != 0) {
            code = fail_with(EVS_CLI_EXIT_USAGE, "%s line %lu: %s; nothing was appended",
                             args->file, line_no, err);
            goto done;
        }
        evs_cli_event_to_data(&events[count], &data[count]);
        if (!data[count].subject) { /* --subject: for the lines that name none */
            data[count].subject = args->subject;
            data[count].seal_metadata = args->seal_metadata;
        }
        count++;
    }
    if (ferror(in)) {
        code = fail_with(EVS_CLI_EXIT_USAGE, "cannot read %s: %s", args->file, strerror(errno));
        goto done;
    }
    if (count == 0) {
        code = fail_with(EVS_CLI_EXIT_USAGE, "%s has no events; nothing was appended", args->file);
        goto done;
    }

    evs_append_result result;
    int rc =
        evs_append(client, args->target, args->expected, data, count, args->append_id, &result);
    if (rc != 0) {
        code = fail_evs(rc);
        goto done;
    }
    evs_cli_format_append_result(&out, &result);
    code = write_out(&out) == 0 ? EVS_CLI_EXIT_OK : EVS_CLI_EXIT_OTHER;
done:
    if (events)
        for (size_t i = 0; i < count; i++)
            evs_cli_event_free(&events[i]);
    free(events);
    free(data);
    free(line);
    evs_cli_buf_free(&out);
    if (in && !is_stdin)
        fclose(in);
    return code;
}

/* Reads the next page of $all, a category or an event type (by the command) across every
 * partition from cursor, which it moves on (evstore.h, "Across partitions"). */
static int read_page_across(evs_client *client, const evs_cli_args *args,
                            evs_position_vector *cursor, size_t page, evs_event_list **list)
{
    if (args->command == EVS_CLI_READ_CATEGORY)
        return evs_category_read_across(client, args->target, cursor, page, list);
    if (args->command == EVS_CLI_READ_TYPE)
        return evs_type_read_across(client, args->target, cursor, page, list);
    return evs_all_read_across(client, cursor, page, list);
}

/* Pages through a stream (stream != NULL), $all, a category or an event type (by the
 * command), printing every event: of one partition, or across partitions from scope.from
 * (cli_across.h), with each line's partition when the topic has several. */
static int read_events(evs_client *client, const evs_cli_args *args, const char *stream)
{
    evs_cli_scope scope;
    int code = evs_cli_scope_open(client, args, &scope);
    if (code != 0)
        return code;
    uint64_t remaining = args->limit ? args->limit : UINT64_MAX;
    uint64_t from = args->from;
    evs_direction direction = args->backwards ? EVS_BACKWARDS : EVS_FORWARDS;
    evs_cli_buf out = {0};

    while (remaining > 0) {
        evs_event_list *list = NULL;
        size_t page = remaining < READ_PAGE_EVENTS ? (size_t)remaining : READ_PAGE_EVENTS;
        int rc = scope.across ? read_page_across(client, args, &scope.from, page, &list)
                 : stream     ? evs_stream_read(client, stream, from, page, direction, &list)
                 : args->command == EVS_CLI_READ_CATEGORY
                     ? evs_category_read(client, args->target, args->partition, from, page, &list)
                 : args->command == EVS_CLI_READ_TYPE
                     ? evs_type_read(client, args->target, args->partition, from, page, &list)
                     : evs_all_read(client, args->partition, from, page, &list);
        if (rc != 0) {
            code = fail_evs(rc);
            break;
        }
        for (size_t i = 0; i < list->count; i++)
            if (scope.with_partition)
                evs_cli_format_event_with_partition(&out, &list->events[i]);
            else
                evs_cli_format_event(&out, &list->events[i]);
        int write_rc = write_out(&out);
        out.len = 0;
        size_t count = list->count;
        int end = list->end_of_stream;
        uint64_t next = list->next;
        evs_event_list_free(list);
        if (write_rc != 0) {
            code = EVS_CLI_EXIT_OTHER;
            break;
        }
        remaining -= count;
        if (end || count == 0) /* across partitions: empty only at the end of every one */
            break;
        if (scope.across) /* the cursor moved on in the page's partition */
            continue;
        /* Stop rather than loop if the projector's `next` does not move on. */
        if (direction == EVS_FORWARDS && next <= from)
            break;
        if (direction == EVS_BACKWARDS && (next == 0 || (from != 0 && next >= from)))
            break;
        from = next;
    }
    evs_cli_buf_free(&out);
    evs_cli_scope_free(&scope);
    return code;
}

static int show_verdict(evs_client *client, const evs_cli_args *args)
{
    evs_append_result result;
    evs_cli_buf out = {0};
    int rc =
        evs_append_lookup(client, args->target, args->timeout_ms ? args->timeout_ms : -1, &result);
    int code = EVS_CLI_EXIT_OK;
    if (evs_cli_format_verdict(&out, rc, &result) == 0 && write_out(&out) != 0)
        code = EVS_CLI_EXIT_OTHER;
    evs_cli_buf_free(&out);
    if (rc != 0) {
        fflush(stdout);
        code = fail_evs(rc);
    }
    return code;
}

/* evstore forget SUBJECT: {"subject","forgotten","keys_destroyed"}. */
static int forget_subject(evs_client *client, const evs_cli_args *args)
{
    char *answer = NULL;
    int rc = evs_subject_forget_json(client, args->target, &answer);
    if (rc != 0)
        return fail_evs(rc);
    evs_cli_buf out = {0};
    evs_cli_format_forget(&out, args->target, answer);
    free(answer);
    int write_rc = write_out(&out);
    evs_cli_buf_free(&out);
    return write_rc == 0 ? EVS_CLI_EXIT_OK : EVS_CLI_EXIT_OTHER;
}

/* evstore keygen FILE: {"master_key_file","master_key_id"}; needs no client. */
static int make_master_key(const evs_cli_args *args)
{
    char id[17];
    int rc = evs_master_key_create(args->target, id);
    if (rc != 0)
        return fail_evs(rc);
    evs_cli_buf out = {0};
    evs_cli_buf_puts(&out, "{\"master_key_file\":");
    evs_cli_json_string(&out, args->target, strlen(args->target));
    evs_cli_buf_puts(&out, ",\"master_key_id\":");
    evs_cli_json_string(&out, id, strlen(id));
    evs_cli_buf_puts(&out, "}\n");
    int write_rc = write_out(&out);
    evs_cli_buf_free(&out);
    return write_rc == 0 ? EVS_CLI_EXIT_OK : EVS_CLI_EXIT_OTHER;
}

static int show_status(evs_client *client)
{
    char *json = NULL;
    int rc = evs_client_status(client, &json);
    if (rc != 0)
        return fail_evs(rc);
    size_t len = strlen(json);
    int ok = fwrite(json, 1, len, stdout) == len &&
             (len > 0 && json[len - 1] == '\n' ? 1 : fputc('\n', stdout) != EOF);
    free(json);
    return ok ? EVS_CLI_EXIT_OK : EVS_CLI_EXIT_OTHER;
}

int main(int argc, char **argv)
{
    evs_cli_args args;
    char err[512];
    evs_client *client = NULL;
    int code;

    if (evs_cli_group_wanted(argc, argv)) /* `evstore group ...`: cli_group.c */
        return evs_cli_group_main(argc, argv);
    if (evs_cli_token_wanted(argc, argv)) /* `evstore token ...`: cli_token.c */
        return evs_cli_token_main(argc, argv);
    if (evs_cli_args_parse(argc, argv, &args, err, sizeof err) != 0)
        return fail_with(EVS_CLI_EXIT_USAGE, "%s", err);
    if (args.command == EVS_CLI_HELP) {
        fputs(EVS_CLI_USAGE, stdout);
        return EVS_CLI_EXIT_OK;
    }
    if (args.command == EVS_CLI_VERSION) {
        printf("evstore %s\n", evs_version());
        return EVS_CLI_EXIT_OK;
    }
    if (args.command == EVS_CLI_KEYGEN) {
        code = make_master_key(&args);
        if (fflush(stdout) != 0 && code == EVS_CLI_EXIT_OK)
            code = fail_with(EVS_CLI_EXIT_OTHER, "cannot write the output: %s", strerror(errno));
        return code;
    }

    evs_client_options options;
    evs_client_options_init(&options);
    options.brokers = args.brokers;
    options.topic = args.topic;
    options.projector_url = args.projector;
    options.kafka_config_file = args.kafka_config;
    options.ca_file = args.ca_file;
    options.token = args.token;
    options.master_key_file = args.master_key;
    if (args.timeout_ms > 0) {
        options.produce_timeout_ms = args.timeout_ms;
        options.verdict_timeout_ms = args.timeout_ms;
        options.request_timeout_ms = args.timeout_ms;
    }
    int rc = evs_client_open(&options, &client);
    if (rc != 0)
        return fail_evs(rc);

    switch (args.command) {
    case EVS_CLI_APPEND:
        code = args.file ? append_file(client, &args) : append_one(client, &args);
        break;
    case EVS_CLI_READ:
        code = read_events(client, &args, args.target);
        break;
    case EVS_CLI_READ_ALL:
    case EVS_CLI_READ_CATEGORY:
    case EVS_CLI_READ_TYPE:
        code = read_events(client, &args, NULL);
        break;
    case EVS_CLI_SUBSCRIBE:
        code = evs_cli_subscribe(client, &args);
        break;
    case EVS_CLI_CHECKPOINT:
        code = evs_cli_checkpoint(client, &args);
        break;
    case EVS_CLI_SNAPSHOT:
        code = evs_cli_snapshot(client, &args);
        break;
    case EVS_CLI_VERDICT:
        code = show_verdict(client, &args);
        break;
    case EVS_CLI_STATUS:
        code = show_status(client);
        break;
    case EVS_CLI_EXPORT:
        code = evs_cli_export(client, &args);
        break;
    case EVS_CLI_DELETE:
    case EVS_CLI_TRUNCATE:
    case EVS_CLI_LIMITS:
    case EVS_CLI_INFO:
        code = evs_cli_lifecycle(client, &args);
        break;
    case EVS_CLI_FORGET:
        code = forget_subject(client, &args);
        break;
    case EVS_CLI_IMPORT:
        code = args.from_pg ? evs_cli_import_pg(client, &args)
                            : evs_cli_import_file(client, args.target);
        break;
    default:
        code = fail_with(EVS_CLI_EXIT_OTHER, "command not implemented");
        break;
    }
    evs_client_close(client);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (code == EVS_CLI_EXIT_OK)
            code = fail_with(EVS_CLI_EXIT_OTHER, "cannot write the output: %s", strerror(errno));
    }
    return code;
}
