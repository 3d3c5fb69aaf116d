/*
 * cli_subscribe.c - `evstore subscribe` (usage in cli_args.c): opens a subscription with the
 * C API and prints every event as one JSON line, in the format of `evstore read`.
 *
 * Output is flushed whenever no further event is ready at once, so a reader of a pipe sees
 * live events as they come while a long history is still written in large blocks. SIGINT
 * and SIGTERM only set a flag; the loop checks it at least every WAIT_SLICE_MS, closes the
 * subscription and exits 0 with everything printed so far flushed.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

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

    catch_signals();
    int rc = evs_subscription_open(client, &options, &sub);
    if (rc != 0)
        return evs_cli_fail_evs(rc);
    int flushed = 1;
    while (!interrupted) {
        evs_event *event;
        /* Ask without waiting first: flush only when nothing more is ready. */
        rc = evs_subscription_next(sub, flushed ? WAIT_SLICE_MS : 0, &event);
        if (rc == 0) {
            out.len = 0;
            evs_cli_format_event(&out, event);
            if (evs_cli_write(&out) != 0) {
                code = EVS_CLI_EXIT_OTHER;
                break;
            }
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
    evs_subscription_close(sub);
    evs_cli_buf_free(&out);
    return code;
}
