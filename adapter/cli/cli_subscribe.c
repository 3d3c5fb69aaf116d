/*
 * cli_subscribe.c - `evstore subscribe` (usage in cli_args.c): opens a subscription with the
 * C API and prints every event as one JSON line, in the format of `evstore read`.
 *
 * Output is flushed whenever no further event is ready at once, so a reader of a pipe sees
 * live events as they come while a long history is still written in large blocks. SIGINT
 * and SIGTERM only set a flag; the loop checks it at least every WAIT_SLICE_MS, closes the
 * subscription and exits 0 with everything printed so far flushed.
 *
 * Across partitions (cli_across.h) the subscription is one of EVS_PARTITION_ALL, and on
 * every exit after it opened, the resume line goes to standard error once standard output
 * is flushed: its vector is after the last event printed, never after one that was not.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli_across.h"
#include "cli_json.h"
#include "cli_output.h"
#include "cli_subscribe.h"

#define WAIT_SLICE_MS 200

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void catch_signals(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

int evs_cli_subscribe(evs_client *client, const evs_cli_args *args)
{
    int code = EVS_CLI_EXIT_OK;
    evs_subscription *sub = NULL;
    evs_cli_buf out = {0};
    evs_subscription_options options;

    evs_subscription_options_init(&options);
    if (args->all) {
        options.target = EVS_SUBSCRIBE_ALL;
    } else if (args->category) {
        options.target = EVS_SUBSCRIBE_CATEGORY;
        options.name = args->category;
    } else if (args->type) {
        options.target = EVS_SUBSCRIBE_TYPE;
        options.name = args->type;
    } else {
        options.target = EVS_SUBSCRIBE_STREAM;
        options.name = args->target;
    }
    options.partition = args->partition;
    options.from = args->from;
    options.follow = !args->no_follow;
    evs_cli_scope scope;
    if ((code = evs_cli_scope_open(client, args, &scope)) != 0)
        return code;
    if (scope.across) {
        options.partition = EVS_PARTITION_ALL;
        options.from_positions = &scope.from;
    }

    catch_signals();
    int rc = evs_subscription_open(client, &options, &sub);
    if (rc != 0) {
        evs_cli_scope_free(&scope);
        return evs_cli_fail_evs(rc);
    }
    int flushed = 1;
    uint64_t printed = 0;
    while (!interrupted && (args->count == 0 || printed < args->count)) {
        evs_event *event;
        /* Ask without waiting first: flush only when nothing more is ready. */
        rc = evs_subscription_next(sub, flushed ? WAIT_SLICE_MS : 0, &event);
        if (rc == 0) {
            out.len = 0;
            if (scope.with_partition)
                evs_cli_format_event_with_partition(&out, event);
            else
                evs_cli_format_event(&out, event);
            if (evs_cli_write(&out) != 0) {
                code = EVS_CLI_EXIT_OTHER;
                break;
            }
            printed++;
            flushed = 0;
            continue;
        }
        if (rc == EVS_ETIMEOUT || rc == EVS_ECAUGHT_UP) {
            if (!flushed && fflush(stdout) != 0) {
                code = EVS_CLI_EXIT_OTHER;
                break;
            }
            flushed = 1;
            continue;
        }
        if (rc == EVS_EEND)
            break;
        fflush(stdout);
        code = evs_cli_fail_evs(rc);
        break;
    }
    if (scope.across && fflush(stdout) == 0)
        evs_cli_print_resume(sub);
    evs_subscription_close(sub);
    evs_cli_scope_free(&scope);
    evs_cli_buf_free(&out);
    return code;
}
