/*
 * group_member.c - the consumer-group test program (group_test.sh), using evstore.h only.
 *
 *   evs_it_group_member produce --projector URL --category C --streams N --events M
 *       Appends M events of type Work round-robin to streams C-1..C-N, one append each, and
 *       prints the last position.
 *
 *   evs_it_group_member consume --projector URL --group G --out FILE [--delay-ms D]
 *                               [--max-events K] [--ack-all 1]
 *       Joins group G and processes events until SIGTERM (then leaves) or, with
 *       --max-events, until K events were acked (then leaves). For every event delivered it
 *       first appends one line to FILE:
 *           TIME_US STREAM VERSION POSITION ATTEMPT MEMBER TYPE
 *       then settles it by its type: "Nack" is nacked (a failed attempt), "Silent" is left
 *       to its ack timeout, anything else is acked after D ms of "work" (with --ack-all 1,
 *       every event is). When an ack is stale the rest of the batch is dropped (another
 *       member has those events now). A projector that is
 *       unreachable for a moment (a restart) is waited for; a fetch joins again by itself
 *       when the projector no longer knows the member.
 *
 * Exit status 0, or 1 with a message on stderr.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evstore.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR && !stop)
        ;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "evs_it_group_member: %s: %s: %s\n", what, evs_strerror(rc), evs_last_error());
    return 1;
}

static const char *option(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 2; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return def;
}

static int produce(evs_client *client, int argc, char **argv)
{
    const char *category = option(argc, argv, "--category", "Order");
    int streams = atoi(option(argc, argv, "--streams", "10"));
    int events = atoi(option(argc, argv, "--events", "100"));
    uint64_t last = 0;
    for (int i = 0; i < events; i++) {
        char stream[128], data[64];
        snprintf(stream, sizeof stream, "%s-%d", category, i % streams + 1);
        int n = snprintf(data, sizeof data, "{\"n\":%d}", i);
        evs_event_data event = {.type = "Work", .data = data, .data_len = (size_t)n};
        evs_expected any = {EVS_EXPECT_ANY, 0};
        evs_append_result result;
        int rc = evs_append(client, stream, any, &event, 1, NULL, &result);
        if (rc != 0)
            return fail("append", rc);
        last = result.last_position;
    }
    printf("%llu\n", (unsigned long long)last);
    return 0;
}

/* A fetch, ack or nack that could not reach the projector (it restarts) is retried. */
static int transient(int rc)
{
    return rc == EVS_EUNAVAILABLE || rc == EVS_ETIMEOUT;
}

static int consume(evs_client *client, int argc, char **argv)
{
    const char *group = option(argc, argv, "--group", NULL);
    const char *path = option(argc, argv, "--out", NULL);
    long delay_ms = atol(option(argc, argv, "--delay-ms", "0"));
    long max_events = atol(option(argc, argv, "--max-events", "0"));
    int ack_all = atoi(option(argc, argv, "--ack-all", "0"));
    if (!group || !path) {
        fprintf(stderr, "evs_it_group_member consume: --group and --out are required\n");
        return 1;
    }
    FILE *out = fopen(path, "a");
    if (!out) {
        fprintf(stderr, "evs_it_group_member: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    evs_group_member *member = NULL;
    int rc;
    while ((rc = evs_group_join(client, group, &member)) != 0) {
        if (!transient(rc) || stop) {
            fclose(out);
            return fail("join", rc);
        }
        sleep_ms(200);
    }
    long acked = 0;
    int code = 0;
    while (!stop && (!max_events || acked < max_events)) {
        evs_group_batch *batch = NULL;
        rc = evs_group_fetch(member, 16, 500, &batch);
        if (transient(rc)) {
            sleep_ms(200);
            continue;
        }
        if (rc != 0) {
            code = fail("fetch", rc);
            break;
        }
        for (size_t i = 0; i < batch->count && !stop; i++) {
            const evs_group_event *ge = &batch->events[i];
            const evs_event *e = &ge->event;
            /* One line, one write, flushed: a kill -9 leaves whole lines only. */
            fprintf(out, "%lld %s %llu %llu %u %.8s %s\n", now_us(), e->stream,
                    (unsigned long long)e->version, (unsigned long long)e->position, ge->attempt,
                    evs_group_member_id(member), e->type);
            fflush(out);
            if (!ack_all && !strcmp(e->type, "Silent"))
                continue;
            uint64_t position = e->position;
            int nack = !ack_all && !strcmp(e->type, "Nack");
            if (!nack && delay_ms)
                sleep_ms(delay_ms);
            size_t stale = 0;
            do {
                rc = nack ? evs_group_nack(member, &position, 1, EVS_NACK_RETRY, &stale)
                          : evs_group_ack(member, &position, 1, &stale);
            } while (transient(rc) && !stop && (sleep_ms(200), 1));
            if (rc != 0 && !transient(rc)) {
                code = fail(nack ? "nack" : "ack", rc);
                break;
            }
            if (!nack && !stale)
                acked++;
            if (max_events && acked >= max_events)
                break;
            /* A stale ack: the member lost its events (it was removed, or the projector
             * restarted) and they go to whoever owns their streams now. Processing the
             * rest of this batch would race with that owner: fetch again instead. */
            if (stale)
                break;
        }
        evs_group_batch_free(batch);
        if (code)
            break;
    }
    rc = evs_group_leave(member);
    fclose(out);
    if (rc != 0 && !transient(rc) && !code)
        code = fail("leave", rc);
    return code;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "produce") && strcmp(argv[1], "consume"))) {
        fprintf(stderr, "usage: evs_it_group_member produce|consume --projector URL ...\n");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    evs_client_options options;
    evs_client_options_init(&options);
    options.projector_url = option(argc, argv, "--projector", NULL);
    options.brokers = getenv("EVSTORE_BROKERS");
    options.topic = getenv("EVSTORE_TOPIC");
    evs_client *client;
    int rc = evs_client_open(&options, &client);
    if (rc != 0)
        return fail("open", rc);
    int code =
        !strcmp(argv[1], "produce") ? produce(client, argc, argv) : consume(client, argc, argv);
    evs_client_close(client);
    return code;
}
