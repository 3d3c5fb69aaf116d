/*
 * subscriber.c - evs_it_subscriber: a catch-up subscription through the public C API
 * (evstore.h), checking the iterator's contract while it records what it receives.
 *
 *   evs_it_subscriber (--all | --stream S | --category C | --type T) [--partition P]
 *                     [--from N|start|now] [--no-follow] [--count N] [--out FILE]
 *                     [--stall-ms MS] [--timeout-s S]
 *
 * Projector and timeouts come from EVSTORE_PROJECTOR. Every event received is written to
 * FILE as one line "position version stream event_id type data_len"; the run ends after N
 * events (--count), at the end of a --no-follow subscription, on SIGTERM / SIGINT, or after
 * S seconds (default 120; exit 3). With --stall-ms the program takes one event, then stops
 * calling evs_subscription_next for MS milliseconds (a stalled consumer) and records its
 * resident memory before and after the stall.
 *
 * Contract checks (exit 1, message on stderr): ids strictly increase and equal the event's
 * position (version for a stream); for $all from the start they are 1, 2, 3, ... with no
 * gap; EVS_ECAUGHT_UP comes at most once and evs_subscription_caught_up() agrees with it;
 * evs_subscription_position() is the last id; EVS_EEND comes only without follow and only
 * after EVS_ECAUGHT_UP; any other code but EVS_ETIMEOUT ends the run with exit 1.
 *
 * Prints a one-line JSON summary on stdout at exit:
 *   {"events","caught_up","ended","last_position","rss_before_kb","rss_stalled_kb",
 *    "rss_max_kb","violations"}
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evstore.h"

static volatile sig_atomic_t stop_flag;
static long violations;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void violation(const char *what, uint64_t a, uint64_t b)
{
    fprintf(stderr, "evs_it_subscriber: VIOLATION: %s (%" PRIu64 ", %" PRIu64 ")\n", what, a, b);
    violations++;
}

/* Resident memory of this process in KiB, from /proc/self/status (0 if unknown). */
static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr, "usage: evs_it_subscriber (--all | --stream S | --category C | --type T) "
                    "[--partition P] [--from N|start|now] [--no-follow] [--count N] "
                    "[--out FILE] [--stall-ms MS] [--timeout-s S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    evs_subscription_options options;
    evs_subscription_options_init(&options);
    int have_target = 0;
    uint64_t count = 0;
    long stall_ms = 0;
    double timeout_s = 120;
    const char *out_path = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--all") == 0) {
            options.target = EVS_SUBSCRIBE_ALL;
            have_target++;
        } else if (strcmp(a, "--no-follow") == 0) {
            options.follow = 0;
        } else if (!v) {
            usage();
        } else if (strcmp(a, "--stream") == 0 || strcmp(a, "--category") == 0 ||
                   strcmp(a, "--type") == 0) {
            options.target = a[2] == 's'   ? EVS_SUBSCRIBE_STREAM
                             : a[2] == 'c' ? EVS_SUBSCRIBE_CATEGORY
                                           : EVS_SUBSCRIBE_TYPE;
            options.name = v;
            have_target++;
            i++;
        } else if (strcmp(a, "--partition") == 0) {
            options.partition = atoi(v);
            i++;
        } else if (strcmp(a, "--from") == 0) {
            options.from = strcmp(v, "start") == 0 ? EVS_FROM_START
                           : strcmp(v, "now") == 0 ? EVS_FROM_NOW
                                                   : strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--count") == 0) {
            count = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--out") == 0) {
            out_path = v;
            i++;
        } else if (strcmp(a, "--stall-ms") == 0) {
            stall_ms = atol(v);
            i++;
        } else if (strcmp(a, "--timeout-s") == 0) {
            timeout_s = atof(v);
            i++;
        } else {
            usage();
        }
    }
    if (have_target != 1)
        usage();

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    FILE *out = out_path ? fopen(out_path, "w") : NULL;
    if (out_path && !out) {
        perror(out_path);
        return 2;
    }

    evs_client_options client_options;
    evs_client_options_init(&client_options);
    client_options.projector_url = getenv("EVSTORE_PROJECTOR");
    evs_client *client;
    int rc = evs_client_open(&client_options, &client);
    if (rc != 0) {
        fprintf(stderr, "evs_it_subscriber: open client: %s\n", evs_last_error());
        return 1;
    }
    evs_subscription *sub;
    rc = evs_subscription_open(client, &options, &sub);
    if (rc != 0) {
        fprintf(stderr, "evs_it_subscriber: open subscription: %s: %s\n", evs_strerror(rc),
                evs_last_error());
        evs_client_close(client);
        return 1;
    }

    int exit_code = 0;
    uint64_t events = 0, last = 0;
    int caught_up = 0, ended = 0, stalled = 0;
    long rss_before = 0, rss_stalled = 0, rss_max = 0;
    int gapless = options.target == EVS_SUBSCRIBE_ALL && options.from == EVS_FROM_START;
    double deadline = now_s() + timeout_s;

    while (!stop_flag && (count == 0 || events < count)) {
        if (now_s() > deadline) {
            fprintf(stderr, "evs_it_subscriber: timed out after %.0f s with %" PRIu64 " events\n",
                    timeout_s, events);
            exit_code = 3;
            break;
        }
        if (stall_ms > 0 && events == 1 && !stalled) {
            /* A stalled consumer: the library must stop reading, not buffer everything. */
            stalled = 1;
            rss_before = rss_kb();
            usleep((useconds_t)stall_ms * 1000);
            rss_stalled = rss_kb();
        }
        evs_event *event = NULL;
        rc = evs_subscription_next(sub, 500, &event);
        long rss = rss_kb();
        if (rss > rss_max)
            rss_max = rss;
        if (rc == 0) {
            uint64_t id = options.target == EVS_SUBSCRIBE_STREAM ? event->version : event->position;
            if (id <= last)
                violation("event ids do not increase", last, id);
            if (gapless && id != last + 1)
                violation("a gap in $all", last, id);
            if (evs_subscription_position(sub) != id)
                violation("evs_subscription_position is not the last id",
                          evs_subscription_position(sub), id);
            last = id;
            events++;
            if (out)
                fprintf(out, "%" PRIu64 " %" PRIu64 " %s %s %s %zu\n", event->position,
                        event->version, event->stream, event->event_id, event->type,
                        event->data_len);
            continue;
        }
        if (out)
            fflush(out);
        if (rc == EVS_ETIMEOUT)
            continue;
        if (rc == EVS_ECAUGHT_UP) {
            caught_up++;
            if (caught_up > 1)
                violation("EVS_ECAUGHT_UP returned more than once", (uint64_t)caught_up, 1);
            if (!evs_subscription_caught_up(sub))
                violation("evs_subscription_caught_up is 0 after EVS_ECAUGHT_UP", 0, 1);
            continue;
        }
        if (rc == EVS_EEND) {
            if (options.follow)
                violation("EVS_EEND while following", 0, 0);
            if (!caught_up)
                violation("EVS_EEND before EVS_ECAUGHT_UP", 0, 0);
            ended = 1;
            break;
        }
        fprintf(stderr, "evs_it_subscriber: next: %s: %s\n", evs_strerror(rc), evs_last_error());
        exit_code = 1;
        break;
    }
    if (out)
        fclose(out);
    evs_subscription_close(sub);
    evs_client_close(client);
    printf("{\"events\":%" PRIu64 ",\"caught_up\":%d,\"ended\":%s,\"last_position\":%" PRIu64
           ",\"rss_before_kb\":%ld,\"rss_stalled_kb\":%ld,\"rss_max_kb\":%ld,\"violations\":%ld}\n",
           events, caught_up, ended ? "true" : "false", last, rss_before, rss_stalled, rss_max,
           violations);
    if (violations)
        return 1;
    return exit_code;
}
