/*
 * race.c - evs_it_race: many writer threads race for the versions of a few streams.
 *
 *   evs_it_race --mode shared|per-thread --prefix P [--writers 16] [--streams 4] [--events 50]
 *
 * Brokers, topic and projector come from EVSTORE_BROKERS, EVSTORE_TOPIC, EVSTORE_PROJECTOR.
 * Writer w appends `events` events to stream P-(w % streams), each append with an exact
 * expected version; odd writers sometimes append two events at once. On
 * EVS_EWRONG_VERSION a writer takes result.current_version as its new expectation and
 * retries the same events (same event ids: a rejected append stores nothing, so the ids
 * stay free). In shared mode all threads use one evs_client; in per-thread mode each thread
 * opens its own.
 *
 * Afterwards it asserts, reading through the projector:
 *  - every accepted append got exactly the versions it expected (known + 1 .. known + k);
 *  - no (stream, version) was accepted twice (two writers never both win a version);
 *  - every stream's versions are 1..n without gaps, and n equals the events accepted on it;
 *  - the event at each accepted (stream, version) has the event id that writer appended;
 *  - no event id is stored twice, and $all holds exactly the accepted events, with
 *    strictly increasing positions and each stream's versions rising along it;
 *  - evs_append_lookup of every accepted append id repeats its versions (each writer looks
 *    up its own appends, all writers in parallel, after every writer finished).
 * A rejected append whose current_version is not ahead of the writer's expectation is also
 * an error (versions never go back). Prints a one-line JSON summary; exit 0 if all held.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uuid/uuid.h>

#include "evstore.h"

#define MAX_BATCH 2

typedef struct accepted_event {
    int stream;
    uint64_t version;
    char event_id[37];
    char append_id[37];
    uint64_t first_version; /* of its append */
    uint64_t last_version;
} accepted_event;

typedef struct writer {
    int index;
    int stream;
    evs_client *client; /* shared or own */
    accepted_event *accepted;
    size_t accepted_count;
    long attempts;
    long wrong_version;
    long errors;
    long lookups;
} writer;

static int n_writers = 16, n_streams = 4, n_events = 50;
static const char *mode = "shared";
static const char *prefix = "Race";
static evs_client_options options;
static pthread_barrier_t start_barrier, done_barrier;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static int failures;

#define FAILF(...)                                                                                 \
    do {                                                                                           \
        pthread_mutex_lock(&print_lock);                                                           \
        failures++;                                                                                \
        fprintf(stderr, "FAIL race.c:%d: ", __LINE__);                                             \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        pthread_mutex_unlock(&print_lock);                                                         \
    } while (0)

static void stream_name(int s, char *out, size_t size)
{
    snprintf(out, size, "%s-%d", prefix, s);
}

static void new_uuid(char out[37])
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

static void append_all(writer *w)
{
    char stream[128];
    stream_name(w->stream, stream, sizeof stream);

    uint64_t known = 0; /* the version this writer believes the stream is at */
    int done = 0;
    int append_no = 0;
    while (done < n_events && !w->errors) {
        int k = (w->index % 2 == 1 && append_no % 3 == 0 && n_events - done >= 2) ? 2 : 1;
        char ids[MAX_BATCH][37];
        char data[MAX_BATCH][96];
        evs_event_data evs[MAX_BATCH];
        memset(evs, 0, sizeof evs);
        for (int i = 0; i < k; i++) {
            new_uuid(ids[i]);
            snprintf(data[i], sizeof data[i], "{\"writer\":%d,\"n\":%d}", w->index, done + i);
            evs[i].event_id = ids[i];
            evs[i].type = "Raced";
            evs[i].data = data[i];
            evs[i].data_len = strlen(data[i]);
        }
        append_no++;
        for (;;) {
            evs_append_result r;
            memset(&r, 0, sizeof r);
            evs_expected e = {EVS_EXPECT_EXACT, known};
            w->attempts++;
            int rc = evs_append(w->client, stream, e, evs, (size_t)k, NULL, &r);
            if (rc == 0) {
                if (r.duplicate)
                    FAILF("writer %d: fresh event ids answered duplicate (versions %llu..%llu)",
                          w->index, (unsigned long long)r.first_version,
                          (unsigned long long)r.last_version);
                if (r.first_version != known + 1 || r.last_version != known + (uint64_t)k)
                    FAILF("writer %d: expected version %llu accepted at %llu..%llu, want "
                          "%llu..%llu",
                          w->index, (unsigned long long)known, (unsigned long long)r.first_version,
                          (unsigned long long)r.last_version, (unsigned long long)known + 1,
                          (unsigned long long)known + k);
                for (int i = 0; i < k; i++) {
                    accepted_event *a = &w->accepted[w->accepted_count++];
                    a->stream = w->stream;
                    a->version = r.first_version + (uint64_t)i;
                    memcpy(a->event_id, ids[i], 37);
                    memcpy(a->append_id, r.append_id, 37);
                    a->first_version = r.first_version;
                    a->last_version = r.last_version;
                }
                known = r.last_version;
                done += k;
                break;
            }
            if (rc == EVS_EWRONG_VERSION) {
                w->wrong_version++;
                if (r.current_version <= known && known != 0)
                    FAILF("writer %d: rejected at expected %llu but current_version %llu is "
                          "not ahead",
                          w->index, (unsigned long long)known,
                          (unsigned long long)r.current_version);
                if (r.current_version == known) {
                    /* Would loop forever: the rule said the expectation failed although
                     * the stream is where we expected. */
                    FAILF("writer %d: wrong version reported with current_version == expected "
                          "(%llu)",
                          w->index, (unsigned long long)known);
                    w->errors++;
                    break;
                }
                known = r.current_version;
                continue;
            }
            FAILF("writer %d: append at expected %llu failed: %d %s (%s)", w->index,
                  (unsigned long long)known, rc, evs_strerror(rc), evs_last_error());
            w->errors++;
            break;
        }
    }
}

/* Looks up the verdict of each of the writer's accepted appends again. Run by every writer
 * in parallel once all writers are done (a lookup without an offset waits for the high
 * watermark, so one at a time would be slow). */
static void lookup_all(writer *w)
{
    for (size_t i = 0; i < w->accepted_count; i++) {
        accepted_event *a = &w->accepted[i];
        if (a->version != a->first_version)
            continue; /* one lookup per append */
        evs_append_result r;
        memset(&r, 0, sizeof r);
        int rc = evs_append_lookup(w->client, a->append_id, 10000, &r);
        w->lookups++;
        if (rc != 0 || r.first_version != a->first_version || r.last_version != a->last_version ||
            r.duplicate)
            FAILF("lookup of append %s: rc %d versions %llu..%llu dup %d, accepted as %llu..%llu",
                  a->append_id, rc, (unsigned long long)r.first_version,
                  (unsigned long long)r.last_version, r.duplicate,
                  (unsigned long long)a->first_version, (unsigned long long)a->last_version);
    }
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    if (!w->client && evs_client_open(&options, &w->client) != 0) {
        FAILF("writer %d: evs_client_open: %s", w->index, evs_last_error());
        w->errors++;
    }
    pthread_barrier_wait(&start_barrier);
    if (!w->errors)
        append_all(w);
    pthread_barrier_wait(&done_barrier);
    if (w->client)
        lookup_all(w);
    return NULL;
}

static int cmp_by_stream_version(const void *a, const void *b)
{
    const accepted_event *x = a, *y = b;
    if (x->stream != y->stream)
        return x->stream < y->stream ? -1 : 1;
    if (x->version != y->version)
        return x->version < y->version ? -1 : 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--writers") == 0)
            n_writers = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--streams") == 0)
            n_streams = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--events") == 0)
            n_events = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--mode") == 0)
            mode = argv[i + 1];
        else if (strcmp(argv[i], "--prefix") == 0)
            prefix = argv[i + 1];
        else {
            fprintf(stderr, "evs_it_race: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    int shared = strcmp(mode, "shared") == 0;
    if ((!shared && strcmp(mode, "per-thread") != 0) || n_writers < 1 || n_streams < 1 ||
        n_events < 1 || n_events * n_writers / n_streams + n_writers > EVS_READ_LIMIT_MAX) {
        fprintf(stderr, "evs_it_race: bad arguments\n");
        return 2;
    }
    evs_client_options_init(&options);
    options.brokers = getenv("EVSTORE_BROKERS");
    options.topic = getenv("EVSTORE_TOPIC");
    options.projector_url = getenv("EVSTORE_PROJECTOR");
    if (!options.topic || !options.projector_url) {
        fprintf(stderr, "evs_it_race: set EVSTORE_TOPIC and EVSTORE_PROJECTOR\n");
        return 2;
    }

    evs_client *shared_client = NULL;
    int rc = evs_client_open(&options, &shared_client);
    if (rc) {
        fprintf(stderr, "evs_it_race: evs_client_open: %s\n", evs_last_error());
        return 1;
    }

    writer *writers = calloc((size_t)n_writers, sizeof *writers);
    pthread_t *threads = calloc((size_t)n_writers, sizeof *threads);
    pthread_barrier_init(&start_barrier, NULL, (unsigned)n_writers);
    pthread_barrier_init(&done_barrier, NULL, (unsigned)n_writers);
    for (int i = 0; i < n_writers; i++) {
        writers[i].index = i;
        writers[i].stream = i % n_streams;
        writers[i].client = shared ? shared_client : NULL;
        writers[i].accepted = calloc((size_t)n_events, sizeof(accepted_event));
        pthread_create(&threads[i], NULL, writer_main, &writers[i]);
    }
    long attempts = 0, wrong = 0, errors = 0, lookups = 0;
    size_t total = 0;
    for (int i = 0; i < n_writers; i++) {
        pthread_join(threads[i], NULL);
        attempts += writers[i].attempts;
        wrong += writers[i].wrong_version;
        errors += writers[i].errors;
        lookups += writers[i].lookups;
        total += writers[i].accepted_count;
        if (!shared)
            evs_client_close(writers[i].client);
    }
    if (errors)
        FAILF("%ld writer errors; verification continues with what was accepted", errors);

    /* ---- verification ----------------------------------------------------------------- */
    accepted_event *all = calloc(total ? total : 1, sizeof *all);
    size_t n = 0;
    for (int i = 0; i < n_writers; i++)
        for (size_t j = 0; j < writers[i].accepted_count; j++)
            all[n++] = writers[i].accepted[j];
    qsort(all, n, sizeof *all, cmp_by_stream_version);
    for (size_t i = 1; i < n; i++)
        if (all[i].stream == all[i - 1].stream && all[i].version == all[i - 1].version)
            FAILF("%s-%d version %llu was accepted twice (event ids %s and %s)", prefix,
                  all[i].stream, (unsigned long long)all[i].version, all[i - 1].event_id,
                  all[i].event_id);

    size_t stored_total = 0;
    char **stored_ids = calloc(total + 16, sizeof(char *));
    size_t stored_ids_n = 0, stored_ids_cap = total + 16;
    size_t idx = 0;
    for (int s = 0; s < n_streams; s++) {
        char stream[128];
        stream_name(s, stream, sizeof stream);
        size_t expect_n = 0;
        while (idx + expect_n < n && all[idx + expect_n].stream == s)
            expect_n++;
        evs_event_list *list = NULL;
        rc = evs_stream_read(shared_client, stream, 1, EVS_READ_LIMIT_MAX, EVS_FORWARDS, &list);
        if (rc) {
            FAILF("read %s: %d %s", stream, rc, evs_last_error());
            idx += expect_n;
            continue;
        }
        stored_total += list->count;
        if (list->count != expect_n)
            FAILF("%s holds %zu events, writers had %zu accepted", stream, list->count, expect_n);
        for (size_t i = 0; i < list->count; i++) {
            evs_event *e = &list->events[i];
            if (e->version != i + 1)
                FAILF("%s: event %zu has version %llu (gap or disorder)", stream, i,
                      (unsigned long long)e->version);
            if (strcmp(e->stream, stream) != 0)
                FAILF("%s: event %zu names stream %s", stream, i, e->stream);
            if (stored_ids_n == stored_ids_cap) {
                stored_ids_cap *= 2;
                stored_ids = realloc(stored_ids, stored_ids_cap * sizeof(char *));
            }
            stored_ids[stored_ids_n++] = strdup(e->event_id);
        }
        for (size_t j = 0; j < expect_n; j++) {
            accepted_event *a = &all[idx + j];
            if (a->version < 1 || a->version > list->count) {
                FAILF("%s: accepted version %llu (event %s) is not stored", stream,
                      (unsigned long long)a->version, a->event_id);
                continue;
            }
            evs_event *e = &list->events[a->version - 1];
            if (e->version == a->version && strcasecmp(e->event_id, a->event_id) != 0)
                FAILF("%s version %llu holds event %s, the writer's accepted event was %s", stream,
                      (unsigned long long)a->version, e->event_id, a->event_id);
        }
        evs_event_list_free(list);
        idx += expect_n;
    }
    if (stored_total != total)
        FAILF("%zu events stored in the streams, %zu accepted by writers", stored_total, total);
    qsort(stored_ids, stored_ids_n, sizeof(char *), cmp_str);
    for (size_t i = 1; i < stored_ids_n; i++)
        if (strcasecmp(stored_ids[i], stored_ids[i - 1]) == 0)
            FAILF("event id %s is stored twice", stored_ids[i]);

    /* $all: this run's events, in strictly increasing positions, each stream ascending. */
    uint64_t *last_version = calloc((size_t)n_streams, sizeof *last_version);
    size_t in_all = 0;
    uint64_t from = 1, last_pos = 0;
    size_t plen = strlen(prefix);
    for (;;) {
        evs_event_list *list = NULL;
        rc = evs_all_read(shared_client, 0, from, EVS_READ_LIMIT_MAX, &list);
        if (rc) {
            FAILF("read $all from %llu: %d %s", (unsigned long long)from, rc, evs_last_error());
            break;
        }
        for (size_t i = 0; i < list->count; i++) {
            evs_event *e = &list->events[i];
            if (e->position <= last_pos)
                FAILF("$all position %llu after %llu", (unsigned long long)e->position,
                      (unsigned long long)last_pos);
            if (e->position != last_pos + 1)
                FAILF("$all gap: position %llu after %llu", (unsigned long long)e->position,
                      (unsigned long long)last_pos);
            last_pos = e->position;
            if (strncmp(e->stream, prefix, plen) != 0 || e->stream[plen] != '-')
                continue;
            int s = atoi(e->stream + plen + 1);
            if (s < 0 || s >= n_streams)
                continue;
            in_all++;
            if (e->version != last_version[s] + 1)
                FAILF("$all: %s version %llu follows version %llu", e->stream,
                      (unsigned long long)e->version, (unsigned long long)last_version[s]);
            last_version[s] = e->version;
        }
        int end = list->count == 0 || list->end_of_stream;
        from = list->next;
        evs_event_list_free(list);
        if (end)
            break;
    }
    if (in_all != total)
        FAILF("$all holds %zu events of this run, writers had %zu accepted", in_all, total);

    printf("{\"mode\":\"%s\",\"writers\":%d,\"streams\":%d,\"accepted_events\":%zu,"
           "\"stored_events\":%zu,\"attempts\":%ld,\"wrong_version\":%ld,\"lookups\":%ld,"
           "\"failures\":%d}\n",
           mode, n_writers, n_streams, total, stored_total, attempts, wrong, lookups, failures);
    if (wrong == 0)
        fprintf(stderr, "evs_it_race: warning: no append was rejected; the writers did not race\n");

    for (size_t i = 0; i < stored_ids_n; i++)
        free(stored_ids[i]);
    free(stored_ids);
    free(last_version);
    free(all);
    for (int i = 0; i < n_writers; i++)
        free(writers[i].accepted);
    free(writers);
    free(threads);
    pthread_barrier_destroy(&start_barrier);
    pthread_barrier_destroy(&done_barrier);
    evs_client_close(shared_client);
    return failures ? 1 : 0;
}
