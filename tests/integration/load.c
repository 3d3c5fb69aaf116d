/*
 * load.c - evs_it_load: a steady append load that survives projector crashes, and keeps a
 * record of every append it saw accepted.
 *
 *   evs_it_load --prefix P --streams S --threads W --stop-file F --out FILE
 *               [--any-every K] [--verdict-timeout-ms T] [--seed N]
 *
 * Brokers, topic and projector come from EVSTORE_BROKERS, EVSTORE_TOPIC, EVSTORE_PROJECTOR.
 * W threads share one evs_client. Each appends batches of 1..3 events to a random stream of
 * P-0 .. P-(S-1) (shared with every other thread and process of the test) with an exact
 * expected version, or `any` for every K-th append, until the stop file exists or SIGTERM.
 *
 * Every append is settled, never dropped and never blindly re-sent with new event ids:
 *  - accepted        -> one line per event in FILE: "stream version event_id append_id";
 *  - wrong version   -> new expectation from current_version, same event ids again;
 *  - unknown outcome -> evs_append_lookup(append id) until it gives an answer; not found
 *                       (never applied) -> the same event ids again, which is safe because
 *                       a stored event answers duplicate;
 *  - unavailable     -> nothing was written: the same event ids again after a pause.
 * Contract checks (counted as violations, exit 1): a duplicate answer for events whose
 * earlier attempts were all definite rejections or "nothing written"; accepted versions
 * other than expected+1..expected+k for an exact expectation; an idempotency conflict; an
 * error code evs_append() does not document. An append it could not settle within
 * 180 s is counted as unsettled (exit 1).
 *
 * Prints a one-line JSON summary on stdout at exit, with the slowest evs_append call.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uuid/uuid.h>

#include "evstore.h"

#define MAX_BATCH 3
#define SETTLE_LIMIT_S 180

static const char *prefix = "Load", *stop_file, *out_path;
static int n_streams = 6, n_threads = 4, any_every = 4;
static unsigned seed;
static evs_client *client;
static FILE *out;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int stop_flag;

static atomic_long max_append_ms; /* the slowest evs_append call: a stall */
static atomic_long n_appends, n_events, n_wrong, n_unknown, n_unavailable, n_duplicates,
    n_violations, n_unsettled, n_lookups, n_other_codes;

static void on_term(int sig)
{
    (void)sig;
    atomic_store(&stop_flag, 1);
}

static int stopping(void)
{
    if (atomic_load(&stop_flag))
        return 1;
    if (stop_file && access(stop_file, F_OK) == 0) {
        atomic_store(&stop_flag, 1);
        return 1;
    }
    return 0;
}

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&out_lock);
    fprintf(stderr, "evs_it_load: VIOLATION: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&out_lock);
    va_end(ap);
    atomic_fetch_add(&n_violations, 1);
}

static void new_uuid(char out_text[37])
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out_text);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void record(const char *stream, const evs_append_result *r, char ids[][37], int k)
{
    pthread_mutex_lock(&out_lock);
    for (int i = 0; i < k; i++)
        fprintf(out, "%s %llu %s %s\n", stream,
                (unsigned long long)(r->first_version + (uint64_t)i), ids[i], r->append_id);
    fflush(out);
    pthread_mutex_unlock(&out_lock);
    atomic_fetch_add(&n_appends, 1);
    atomic_fetch_add(&n_events, k);
}

/* Looks an append up until the answer is definite. Returns the code evs_append would have
 * returned (0, EVS_EWRONG_VERSION, EVS_ENOT_FOUND, ...) or 1 if it could not be settled. */
static int settle(const char *append_id, evs_append_result *r)
{
    double deadline = now_s() + SETTLE_LIMIT_S;
    while (now_s() < deadline) {
        atomic_fetch_add(&n_lookups, 1);
        int rc = evs_append_lookup(client, append_id, 5000, r);
        if (rc == 0 || rc == EVS_EWRONG_VERSION || rc == EVS_EIDEMPOTENCY || rc == EVS_ENOT_FOUND)
            return rc;
        sleep_ms(200); /* projector down or still catching up */
    }
    return 1;
}

static void *thread_main(void *arg)
{
    unsigned rnd = seed ^ (unsigned)(uintptr_t)arg * 2654435761u;
    uint64_t known[64] = {0};
    long appends = 0;
    while (!stopping()) {
        int s = (int)(rand_r(&rnd) % (unsigned)n_streams);
        int k = 1 + (int)(rand_r(&rnd) % MAX_BATCH);
        int use_any = any_every > 0 && appends % any_every == (long)(uintptr_t)arg % any_every;
        char stream[128];
        snprintf(stream, sizeof stream, "%s-%d", prefix, s);
        char ids[MAX_BATCH][37];
        char data[MAX_BATCH][128];
        evs_event_data evs[MAX_BATCH];
        memset(evs, 0, sizeof evs);
        for (int i = 0; i < k; i++) {
            new_uuid(ids[i]);
            snprintf(data[i], sizeof data[i], "{\"thread\":%d,\"append\":%ld,\"i\":%d}",
                     (int)(uintptr_t)arg, appends, i);
            evs[i].event_id = ids[i];
            evs[i].type = "Load";
            evs[i].data = data[i];
            evs[i].data_len = strlen(data[i]);
        }
        appends++;
        int maybe_stored = 0; /* an earlier attempt with these ids may have been stored */
        double deadline = now_s() + SETTLE_LIMIT_S;
        for (;;) {
            if (now_s() > deadline) {
                atomic_fetch_add(&n_unsettled, 1);
                fprintf(stderr, "evs_it_load: gave up on an append to %s after %d s\n", stream,
                        SETTLE_LIMIT_S);
                break;
            }
            evs_append_result r;
            memset(&r, 0, sizeof r);
            evs_expected e = {use_any ? EVS_EXPECT_ANY : EVS_EXPECT_EXACT, known[s]};
            double t0 = now_s();
            int rc = evs_append(client, stream, e, evs, (size_t)k, NULL, &r);
            long took_ms = (long)((now_s() - t0) * 1000);
            for (long max = atomic_load(&max_append_ms);
                 took_ms > max && !atomic_compare_exchange_weak(&max_append_ms, &max, took_ms);)
                ;
            if (rc != 0 && rc != EVS_EWRONG_VERSION && rc != EVS_EUNAVAILABLE &&
                rc != EVS_EUNKNOWN_OUTCOME) {
                /* Not one of the documented answers. If an append id came back, the record
                 * may be in the log: settle it like an unknown outcome. */
                atomic_fetch_add(&n_other_codes, 1);
                fprintf(stderr, "evs_it_load: evs_append returned %d (%s): %s\n", rc,
                        evs_strerror(rc), evs_last_error());
                if (rc == EVS_EIDEMPOTENCY)
                    violation("idempotency conflict for an append whose events are all ours");
                if (strlen(r.append_id) == 36) {
                    rc = EVS_EUNKNOWN_OUTCOME;
                } else {
                    sleep_ms(200);
                    continue;
                }
            }
            if (rc == EVS_EUNKNOWN_OUTCOME) {
                atomic_fetch_add(&n_unknown, 1);
                maybe_stored = 1;
                char aid[37];
                memcpy(aid, r.append_id, 37);
                rc = settle(aid, &r);
                if (rc == 1) {
                    atomic_fetch_add(&n_unsettled, 1);
                    fprintf(stderr, "evs_it_load: could not settle append %s\n", aid);
                    break;
                }
                if (rc == EVS_ENOT_FOUND) {
                    /* Never applied (the lookup waited for the high watermark): the same
                     * event ids again. */
                    sleep_ms(50);
                    continue;
                }
                if (rc == EVS_EIDEMPOTENCY) {
                    violation("lookup of %s: idempotency conflict for events that are all ours",
                              aid);
                    break;
                }
                /* 0 or EVS_EWRONG_VERSION: handled below as if evs_append had said so. */
            }
            if (rc == EVS_EUNAVAILABLE) {
                atomic_fetch_add(&n_unavailable, 1);
                sleep_ms(100);
                continue;
            }
            if (rc == EVS_EWRONG_VERSION) {
                atomic_fetch_add(&n_wrong, 1);
                if (use_any)
                    violation("expected any was rejected as a wrong version on %s", stream);
                known[s] = r.current_version;
                continue;
            }
            /* rc == 0 */
            if (r.duplicate) {
                atomic_fetch_add(&n_duplicates, 1);
                if (!maybe_stored)
                    violation("duplicate answer on %s for event ids no earlier attempt could "
                              "have stored (versions %llu..%llu)",
                              stream, (unsigned long long)r.first_version,
                              (unsigned long long)r.last_version);
            } else if (!use_any && r.first_version != known[s] + 1) {
                violation("%s: expected %llu, accepted at %llu", stream,
                          (unsigned long long)known[s], (unsigned long long)r.first_version);
            }
            if (r.last_version != r.first_version + (uint64_t)k - 1)
                violation("%s: %d events accepted at versions %llu..%llu", stream, k,
                          (unsigned long long)r.first_version, (unsigned long long)r.last_version);
            record(stream, &r, ids, k);
            if (r.last_version > known[s])
                known[s] = r.last_version;
            break;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int verdict_timeout_ms = 4000;
    seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (strcmp(o, "--prefix") == 0)
            prefix = v;
        else if (strcmp(o, "--streams") == 0)
            n_streams = atoi(v);
        else if (strcmp(o, "--threads") == 0)
            n_threads = atoi(v);
        else if (strcmp(o, "--stop-file") == 0)
            stop_file = v;
        else if (strcmp(o, "--out") == 0)
            out_path = v;
        else if (strcmp(o, "--any-every") == 0)
            any_every = atoi(v);
        else if (strcmp(o, "--verdict-timeout-ms") == 0)
            verdict_timeout_ms = atoi(v);
        else if (strcmp(o, "--seed") == 0)
            seed = (unsigned)strtoul(v, NULL, 10);
        else {
            fprintf(stderr, "evs_it_load: unknown option %s\n", o);
            return 2;
        }
    }
    if (!out_path || n_streams < 1 || n_streams > 64 || n_threads < 1 || n_threads > 64) {
        fprintf(stderr, "evs_it_load: need --out, 1..64 streams and threads\n");
        return 2;
    }
    out = fopen(out_path, "a");
    if (!out) {
        perror(out_path);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    evs_client_options opts;
    evs_client_options_init(&opts);
    opts.brokers = getenv("EVSTORE_BROKERS");
    opts.topic = getenv("EVSTORE_TOPIC");
    opts.projector_url = getenv("EVSTORE_PROJECTOR");
    opts.verdict_timeout_ms = verdict_timeout_ms;
    opts.request_timeout_ms = 3000;
    int rc = evs_client_open(&opts, &client);
    if (rc) {
        fprintf(stderr, "evs_it_load: evs_client_open: %s\n", evs_last_error());
        return 1;
    }
    pthread_t threads[64];
    for (int i = 0; i < n_threads; i++)
        pthread_create(&threads[i], NULL, thread_main, (void *)(uintptr_t)i);
    for (int i = 0; i < n_threads; i++)
        pthread_join(threads[i], NULL);
    evs_client_close(client);
    fclose(out);
    printf("{\"appends\":%ld,\"events\":%ld,\"wrong_version\":%ld,\"unknown_outcome\":%ld,"
           "\"unavailable\":%ld,\"duplicates\":%ld,\"lookups\":%ld,\"other_codes\":%ld,"
           "\"violations\":%ld,\"unsettled\":%ld,\"max_append_ms\":%ld}\n",
           atomic_load(&n_appends), atomic_load(&n_events), atomic_load(&n_wrong),
           atomic_load(&n_unknown), atomic_load(&n_unavailable), atomic_load(&n_duplicates),
           atomic_load(&n_lookups), atomic_load(&n_other_codes), atomic_load(&n_violations),
           atomic_load(&n_unsettled), atomic_load(&max_append_ms));
    return (atomic_load(&n_violations) || atomic_load(&n_unsettled)) ? 1 : 0;
}
