/*
 * cli_lifecycle.c - `evstore delete`, `truncate`, `limits` and `info` (usage in cli_args.c,
 * which has already checked the words and options): thin wrappers over evs_stream_delete,
 * evs_stream_truncate, evs_stream_set_limits and evs_stream_metadata_get.
 *
 * A set_limits record carries both limits, so `limits` with one option reads the stream's
 * metadata first and sends the other limit as it is. Two such commands at once may each
 * send the other's old value; --expected guards a change that must not be lost.
 */
#include <stdio.h>

#include "cli_json.h"
#include "cli_lifecycle.h"
#include "cli_output.h"

static int print_metadata(evs_client *client, const char *stream)
{
    evs_stream_metadata metadata;
    evs_cli_buf out = {0};
    int rc = evs_stream_metadata_get(client, stream, &metadata);
    if (rc != 0)
        return evs_cli_fail_evs(rc);
    evs_cli_format_stream_metadata(&out, &metadata);
    int write_rc = evs_cli_write(&out);
    evs_cli_buf_free(&out);
    return write_rc == 0 ? EVS_CLI_EXIT_OK : EVS_CLI_EXIT_OTHER;
}

/* The limits to send: the options given, the stream's current ones for the others (none
 * for a stream that does not exist yet). Returns 0 or an exit code after reporting. */
static int limits_to_set(evs_client *client, const evs_cli_args *args, uint64_t *max_count,
                         uint64_t *max_age_ms)
{
    *max_count = args->max_count;
    *max_age_ms = args->max_age_ms;
    if (args->max_count_given && args->max_age_given)
        return 0;
    evs_stream_metadata metadata;
    int rc = evs_stream_metadata_get(client, args->target, &metadata);
    if (rc == EVS_ENOT_FOUND)
        return 0;
    if (rc != 0)
        return evs_cli_fail_evs(rc);
    if (!args->max_count_given)
        *max_count = metadata.max_count;
    if (!args->max_age_given)
        *max_age_ms = metadata.max_age_ms;
    return 0;
}

int evs_cli_lifecycle(evs_client *client, const evs_cli_args *args)
{
    evs_append_result result;
    const char *operation;
    int rc;

    switch (args->command) {
    case EVS_CLI_INFO:
        return print_metadata(client, args->target);
    case EVS_CLI_DELETE:
        operation = args->hard ? "hard_delete" : "delete";
        rc = evs_stream_delete(client, args->target, args->expected, args->hard, args->append_id,
                               &result);
        break;
    case EVS_CLI_TRUNCATE:
        operation = "truncate";
        rc = evs_stream_truncate(client, args->target, args->expected, args->before,
                                 args->append_id, &result);
        break;
    case EVS_CLI_LIMITS: {
        if (!args->max_count_given && !args->max_age_given)
            return print_metadata(client, args->target);
        uint64_t max_count, max_age_ms;
        int code = limits_to_set(client, args, &max_count, &max_age_ms);
        if (code != 0)
            return code;
        operation = "set_limits";
        rc = evs_stream_set_limits(client, args->target, args->expected, max_count, max_age_ms,
                                   args->append_id, &result);
        break;
    }
    default:
        return evs_cli_fail(EVS_CLI_EXIT_OTHER, "not a lifecycle command");
    }
    if (rc != 0)
        return evs_cli_fail_evs(rc);
    evs_cli_buf out = {0};
    evs_cli_format_command_result(&out, operation, &result);
    int write_rc = evs_cli_write(&out);
    evs_cli_buf_free(&out);
    return write_rc == 0 ? EVS_CLI_EXIT_OK : EVS_CLI_EXIT_OTHER;
}
