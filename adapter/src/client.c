/*
 * client.c - the public API of libevstore (evstore.h): open/close, append with its
 * verdict, lookup, reads and status.
 *
 * An append runs in three steps (docs/ARCHITECTURE.md, "The concurrency rule"), and so does
 * a lifecycle command (delete, hard delete, truncate, limits: a record without events), on
 * the same path (command_begin, then command_run):
 *  1. Build the evs_append_request and validate it with the codec's rule
 *     (evs_record_validate). Invalid input returns EVS_EINVAL and produces NOTHING.
 *  2. Produce it as one Kafka record, key = stream, and wait for the acknowledgement that
 *     gives its partition and offset (producer.c).
 *  3. Ask a projector serving the record's partition for the verdict of the append id,
 *     telling it the partition and offset to wait for
 *     (GET /verdicts/{id}?partition=P&offset=O, or, for the commands of the client that
 *     wait at the same time, one POST /verdicts for many: verdict_mux.h). A replica that
 *     is gone, unavailable (503) or has not judged the offset in time (504) hands the
 *     question to the next one with what is left of the wait (router.h, R4). Once step 2
 *     succeeded the record IS in the log: from here on failing to learn the verdict from
 *     every replica is EVS_EUNKNOWN_OUTCOME with the append id, never "nothing was
 *     written".
 *  4. A verdict learned (by the append or a lookup) is noted with the router, so that later
 *     reads of its partition carry the read-your-writes token (router.h).
 *
 * Every request goes through the router (router.h): reads about a stream go to a projector
 * serving the stream's partition, reads of $all, a category or a type to one serving the
 * partition asked for, the status to the home projector. A read across partitions
 * (evs_all_read_across, ...) is one such read per partition, from partition 0 on, until one
 * has events: its page is that partition's, and the cursor moves in that partition only.
 *
 * The Kafka producer is created by the first append (its settings are checked at open), so
 * a client that only reads never connects to Kafka. Besides that one-time creation, guarded
 * by producer_lock, a client holds no mutable state but the producer, the router and the
 * cache of data keys (subject_keys.c, under its own mutex), all thread-safe, so every call
 * may run from any number of threads at once.
 *
 * Personal data (evstore.h, "Personal data"): an append whose events have subjects builds
 * and checks its request with plaintext as any other, then seals those events' payloads
 * with their subjects' data keys (subject_keys.c) into buffers it owns; the sealed request
 * is validated, encoded once and produced like any other, so a retry within the call
 * (producer.c) resends those same bytes. The plaintext is never encoded.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_internal.h"
#include "errors.h"
#include "event_json.h"
#include "event_page.h"
#include "evstore.h"
#include "http_client.h"
#include "kafka_properties.h"
#include "page_codec.h"
#include "position_vector.h"
#include "producer.h"
#include "record_codec.h"
#include "router.h"
#include "sealing.h"
#include "subject_keys.h"
#include "verdict_mux.h"

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_LINGER_MS 1
/* The projector caps a verdict wait at 60 s (docs/HTTP-API.md). */
#define VERDICT_WAIT_MAX_MS 60000

struct evs_client {
    pthread_mutex_t producer_lock;         /* guards producer's creation */
    evs_producer *producer;                /* NULL until the first append */
    evs_producer_options producer_options; /* brokers and topic owned by the client */
    evs_router *router;
    evs_verdict_mux *verdicts;             /* the appends' verdict waits (verdict_mux.h) */
    _Atomic int64_t last_done_us;          /* when a command last ended (monotonic_us) ... */
    _Atomic uintptr_t last_done_thread;    /* ... and on which thread (thread_mark) */
    atomic_int commands_running;           /* appends and lifecycle commands between their
                                              produce and their verdict (or failure) */
    struct {                               /* evs_client_metrics_get; relaxed atomics */
        _Atomic uint64_t appends, accepted, duplicate, wrong_version, idempotency, rejected,
            invalid, unknown, failed, verdict_waits, verdict_wait_us;
    } counters;
    evs_kafka_properties kafka;            /* the Kafka settings file's, applied first */
    evs_http_security security;            /* CA file and token, owned by the client */
    int produce_timeout_ms;
    int verdict_timeout_ms;
    int request_timeout_ms;
    int has_master_key;
    evs_master_key master_key;  /* secret: wiped at close */
    evs_key_cache *keys;        /* the subjects' data keys; NULL without a master key */
};

void evs_client_options_init(evs_client_options *options)
{
    memset(options, 0, sizeof *options);
    options->produce_timeout_ms = DEFAULT_TIMEOUT_MS;
    options->verdict_timeout_ms = DEFAULT_TIMEOUT_MS;
    options->request_timeout_ms = DEFAULT_TIMEOUT_MS;
    options->linger_ms = DEFAULT_LINGER_MS;
}

int evs_client_open(const evs_client_options *options, evs_client **out)
{
    int rc;
    evs_client_options defaults;
    evs_client *client = NULL;

    if (!out)
        return evs__set_error(EVS_EINVAL, "evs_client_open: out is NULL");
    *out = NULL;
    if (!options) {
        evs_client_options_init(&defaults);
        options = &defaults;
    }
    client = calloc(1, sizeof *client);
    if (!client)
        return evs__set_error(EVS_ENOMEM, "out of memory opening a client");
    /* Non-positive timeouts mean "default" so a zeroed struct works too. */
    client->produce_timeout_ms =
        options->produce_timeout_ms > 0 ? options->produce_timeout_ms : DEFAULT_TIMEOUT_MS;
    client->verdict_timeout_ms =
        options->verdict_timeout_ms > 0 ? options->verdict_timeout_ms : DEFAULT_TIMEOUT_MS;
    client->request_timeout_ms =
        options->request_timeout_ms > 0 ? options->request_timeout_ms : DEFAULT_TIMEOUT_MS;
    if (client->verdict_timeout_ms > VERDICT_WAIT_MAX_MS)
        client->verdict_timeout_ms = VERDICT_WAIT_MAX_MS;

    if (pthread_mutex_init(&client->producer_lock, NULL) != 0) {
        free(client);
        return evs__set_error(EVS_EINTERNAL, "cannot create a mutex");
    }
    /* From here on evs_client_close(client) undoes whatever was done. */
    const char *brokers =
        options->brokers && options->brokers[0] ? options->brokers : EVS_DEFAULT_BROKERS;
    const char *topic = options->topic && options->topic[0] ? options->topic : EVS_DEFAULT_TOPIC;
    client->producer_options.brokers = strdup(brokers);
    client->producer_options.topic = strdup(topic);
    client->producer_options.produce_timeout_ms = client->produce_timeout_ms;
    client->producer_options.linger_ms =
        options->linger_ms >= 0 ? options->linger_ms : DEFAULT_LINGER_MS;
    if (!client->producer_options.brokers || !client->producer_options.topic) {
        rc = evs__set_error(EVS_ENOMEM, "out of memory opening a client");
        goto fail;
    }
    if (options->kafka_config_file && options->kafka_config_file[0]) {
        char err[512];
        if (evs_kafka_properties_load(options->kafka_config_file, &client->kafka, err,
                                      sizeof err) != 0) {
            rc = evs__set_error(EVS_EINVAL, "%s", err);
            goto fail;
        }
        client->producer_options.kafka = &client->kafka;
    }
    if ((rc = evs__producer_check(&client->producer_options)) != 0)
        goto fail;
    if (options->master_key_file && options->master_key_file[0]) {
        char err[512];
        if (evs_master_key_load(options->master_key_file, &client->master_key, err,
                                sizeof err) != 0) {
            rc = evs__set_error(EVS_EINVAL, "%s", err);
            goto fail;
        }
        client->has_master_key = 1;
        if (!(client->keys = evs__key_cache_new(EVS__KEY_CACHE_SUBJECTS))) {
            rc = evs__set_error(EVS_ENOMEM, "out of memory opening a client");
            goto fail;
        }
    }
    if ((options->ca_file && options->ca_file[0] &&
         !(client->security.ca_file = strdup(options->ca_file))) ||
        (options->token && options->token[0] && !(client->security.token = strdup(options->token)))) {
        rc = evs__set_error(EVS_ENOMEM, "out of memory opening a client");
        goto fail;
    }
    if (client->security.token && strpbrk(client->security.token, "\r\n \t")) {
        rc = evs__set_error(EVS_EINVAL, "the token has a blank or a line break; give the "
                                        "token alone, as `evstore token new` printed it");
        goto fail;
    }
    if (client->security.token && strlen(client->security.token) > 256) {
        rc = evs__set_error(EVS_EINVAL, "the token is longer than 256 characters");
        goto fail;
    }
    const char *projector = options->projector_url && options->projector_url[0]
                                ? options->projector_url
                                : EVS_DEFAULT_PROJECTOR;
    int connect_timeout_ms = client->request_timeout_ms < 5000 ? client->request_timeout_ms : 5000;
    if ((rc = evs__router_open(projector, client->request_timeout_ms, connect_timeout_ms,
                               &client->security, &client->router)) != 0 ||
        (rc = evs__verdict_mux_open(client->router, client->request_timeout_ms,
                                    &client->verdicts)) != 0)
        goto fail;
    *out = client;
    return 0;
fail:
    evs_client_close(client);
    return rc;
}

void evs_client_close(evs_client *client)
{
    if (!client)
        return;
    evs__producer_close(client->producer);
    evs__verdict_mux_close(client->verdicts);
    evs__router_close(client->router);
    pthread_mutex_destroy(&client->producer_lock);
    free((char *)client->producer_options.brokers);
    free((char *)client->producer_options.topic);
    evs_kafka_properties_free(&client->kafka);
    free((char *)client->security.ca_file);
    free((char *)client->security.token);
    evs__key_cache_free(client->keys);
    evs_master_key_wipe(&client->master_key);
    free(client);
}

const struct evs_master_key *evs__client_master_key(const evs_client *client)
{
    return client->has_master_key ? &client->master_key : NULL;
}

struct evs_key_cache *evs__client_key_cache(const evs_client *client)
{
    return client->keys;
}

evs_router *evs__client_router(const evs_client *client)
{
    return client->router;
}

int evs__client_request_timeout_ms(const evs_client *client)
{
    return client->request_timeout_ms;
}

int evs__client_home_request(evs_client *client, const char *method, const char *path,
                             const char *body, size_t body_len, long budget_ms,
                             evs_http_response *response)
{
    return evs__client_group_request(client, NULL, method, path, body, body_len, budget_ms,
                                     response);
}

int evs__client_group_request(evs_client *client, const char *group, const char *method,
                              const char *path, const char *body, size_t body_len,
                              long budget_ms, evs_http_response *response)
{
    evs_route_request request = {.method = method,
                                 .path = path,
                                 .body = body,
                                 .body_len = body_len,
                                 .partition = EVS_ROUTE_HOME,
                                 .group = group,
                                 .verdict_wait_ms = -1,
                                 .budget_ms = budget_ms};
    return evs__router_request(client->router, &request, response);
}

/* 1 if rc says a verdict was learned (whatever it was), so its offset was judged. */
static int verdict_learned(int rc)
{
    return rc == 0 || rc == EVS_EWRONG_VERSION || rc == EVS_EIDEMPOTENCY || rc == EVS_EREJECTED ||
           rc == EVS_ESTREAM_DELETED;
}

/* ---- Appending ----------------------------------------------------------------------- */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Fills req->events from the caller's events (pointers only, nothing copied; plaintext:
 * the subjects are set by sealing) and checks what the codec's validator cannot see (NULL
 * pointers, UUID text, a subject without a master key). *subjects_out counts the events
 * with a subject. */
static int request_build(const char *stream, const evs_event_data *events, size_t n,
                         int has_master_key, evs_record_event *out_events,
                         evs_append_request *req, size_t *subjects_out)
{
    *subjects_out = 0;
    int64_t created_us = now_us();
    req->events = out_events;
    req->event_count = n;
    uint8_t fresh[64][16]; /* event ids to give, made 64 at a time */
    size_t fresh_next = 0, fresh_count = 0;
    for (size_t i = 0; i < n; i++) {
        const evs_event_data *in = &events[i];
        evs_record_event *e = &out_events[i];
        memset(e, 0, sizeof *e);
        if (in->event_id) {
            if (evs_uuid_parse(in->event_id, strlen(in->event_id), e->event_id) != 0)
                return evs__set_error(EVS_EINVAL,
                                      "invalid append to stream %s: event %zu: "
                                      "event_id \"%.40s\" is not a UUID",
                                      stream, i + 1, in->event_id);
        } else {
            if (fresh_next == fresh_count) {
                fresh_count = n - i < 64 ? n - i : 64;
                fresh_next = 0;
                evs_uuid_generate_n(fresh, fresh_count);
            }
            memcpy(e->event_id, fresh[fresh_next++], 16);
        }
        if (!in->type)
            return evs__set_error(EVS_EINVAL,
                                  "invalid append to stream %s: event %zu: type "
                                  "is missing",
                                  stream, i + 1);
        if (!in->data && in->data_len > 0)
            return evs__set_error(EVS_EINVAL,
                                  "invalid append to stream %s: event %zu: data "
                                  "is NULL but data_len is %zu",
                                  stream, i + 1, in->data_len);
        if (!in->metadata && in->metadata_len > 0)
            return evs__set_error(EVS_EINVAL,
                                  "invalid append to stream %s: event %zu: "
                                  "metadata is NULL but metadata_len is %zu",
                                  stream, i + 1, in->metadata_len);
        e->type = in->type;
        e->type_len = strlen(in->type);
        e->content_type = in->content_type ? in->content_type : "application/json";
        e->content_type_len = strlen(e->content_type);
        e->data = in->data ? in->data : (const uint8_t *)"";
        e->data_len = in->data_len;
        e->metadata = in->metadata_len ? in->metadata : NULL;
        e->metadata_len = in->metadata_len;
        e->correlation_id = in->correlation_id;
        e->correlation_id_len = in->correlation_id ? strlen(in->correlation_id) : 0;
        e->causation_id = in->causation_id;
        e->causation_id_len = in->causation_id ? strlen(in->causation_id) : 0;
        e->created_us = created_us;
        if (in->subject) {
            if (!evs_subject_valid(in->subject, strlen(in->subject)))
                return evs__set_error(EVS_EINVAL,
                                      "invalid append to stream %s: event %zu: subject "
                                      "\"%.*s\" is not valid: use 1 to %d characters of "
                                      "A-Z a-z 0-9 _ . : @ -",
                                      stream, i + 1, EVS_SUBJECT_MAX, in->subject,
                                      EVS_SUBJECT_MAX);
            if (!has_master_key)
                return evs__set_error(EVS_EINVAL,
                                      "invalid append to stream %s: event %zu is personal data "
                                      "of subject %s, and this client has no master key to "
                                      "seal it with (evs_client_options.master_key_file, "
                                      "evstore --master-key); nothing was written",
                                      stream, i + 1, in->subject);
            (*subjects_out)++;
        } else if (in->seal_metadata) {
            return evs__set_error(EVS_EINVAL,
                                  "invalid append to stream %s: event %zu: seal_metadata "
                                  "needs a subject (whose key would seal it)",
                                  stream, i + 1);
        }
    }
    return 0;
}

/* The client's producer, created on first use. Returns 0 and sets *out, or an error. */
static int producer_get(evs_client *client, evs_producer **out)
{
    int rc = 0;
    pthread_mutex_lock(&client->producer_lock);
    if (!client->producer)
        rc = evs__producer_open(&client->producer_options, &client->producer);
    *out = client->producer;
    pthread_mutex_unlock(&client->producer_lock);
    return rc;
}

/* ---- Counters (evs_client_metrics_get) ------------------------------------------------ */

static void count(_Atomic uint64_t *counter, uint64_t n)
{
    atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

static int64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Counts one finished evs_append by its outcome (evstore.h, evs_client_metrics). */
static void count_append(evs_client *client, int rc, const evs_append_result *result)
{
    count(&client->counters.appends, 1);
    _Atomic uint64_t *outcome;
    switch (rc) {
    case 0: outcome = result->duplicate ? &client->counters.duplicate : &client->counters.accepted; break;
    case EVS_EWRONG_VERSION: outcome = &client->counters.wrong_version; break;
    case EVS_EIDEMPOTENCY: outcome = &client->counters.idempotency; break;
    case EVS_EREJECTED:
    case EVS_ESTREAM_DELETED: outcome = &client->counters.rejected; break;
    case EVS_EINVAL: outcome = &client->counters.invalid; break;
    case EVS_EUNKNOWN_OUTCOME: outcome = &client->counters.unknown; break;
    default: outcome = &client->counters.failed; break;
    }
    count(outcome, 1);
}

int evs_client_metrics_get(const evs_client *client, evs_client_metrics *out)
{
    if (!client || !out)
        return evs__set_error(EVS_EINVAL, "evs_client_metrics_get: %s is NULL",
                              client ? "out" : "client");
    evs_client *c = (evs_client *)client; /* atomics are read through a non-const pointer */
#define READ(field) atomic_load_explicit(&c->counters.field, memory_order_relaxed)
    *out = (evs_client_metrics){
        .appends = READ(appends),
        .appends_accepted = READ(accepted),
        .appends_duplicate = READ(duplicate),
        .conflicts_wrong_version = READ(wrong_version),
        .conflicts_idempotency = READ(idempotency),
        .appends_rejected = READ(rejected),
        .appends_invalid = READ(invalid),
        .appends_unknown_outcome = READ(unknown),
        .appends_failed = READ(failed),
        .verdict_waits = READ(verdict_waits),
        .verdict_wait_us_total = READ(verdict_wait_us),
    };
#undef READ
    pthread_mutex_lock(&c->producer_lock);
    out->produce_retries = c->producer ? evs__producer_queue_retries(c->producer) : 0;
    uint64_t batched = 0;
    out->produce_alone = 0;
    if (c->producer)
        evs__producer_lane_counts(c->producer, &out->produce_alone, &batched);
    pthread_mutex_unlock(&c->producer_lock);
    out->failovers = evs__router_failovers(c->router);
    return 0;
}

/* After a successful produce, any failure to learn the verdict leaves the outcome unknown:
 * the record is in the log and the projector will judge it. */
static int unknown_after_produce(const char *operation, evs_append_result *result)
{
    char cause[EVS__ERROR_MAX];
    snprintf(cause, sizeof cause, "%s", evs_last_error());
    return evs__set_error(EVS_EUNKNOWN_OUTCOME,
                          "%s %s was written to Kafka (partition %" PRId32 ", offset %" PRId64
                          ") but its verdict is unknown: %s; look it up by its append id "
                          "(evstore verdict %s)",
                          operation, result->append_id, result->partition, result->offset, cause,
                          result->append_id);
}

/* The start every command shares (an append or a lifecycle command): resets result (the
 * caller checked it is not NULL), takes the caller's append id or makes one, checks client,
 * stream and the expectation, and fills req's head for operation (no events, no lifecycle
 * fields: the caller adds those). fn names the public call in messages. */
static int command_begin(const char *fn, evs_client *client, const char *stream,
                         evs_expected expected, const char *append_id, evs_operation operation,
                         evs_append_request *req, evs_append_result *result)
{
    memset(result, 0, sizeof *result);
    result->partition = -1;
    result->offset = -1;
    memset(req, 0, sizeof *req);
    req->operation = operation;
    if (!client || !stream)
        return evs__set_error(EVS_EINVAL, "%s: %s is NULL", fn, client ? "stream" : "client");
    if (append_id) {
        if (evs_uuid_parse(append_id, strlen(append_id), req->append_id) != 0)
            return evs__set_error(EVS_EINVAL, "append id \"%.40s\" is not a UUID", append_id);
    } else {
        evs_uuid_generate(req->append_id);
    }
    evs_uuid_format(req->append_id, result->append_id);
    size_t stream_len = strlen(stream);
    if (stream_len <= EVS_STREAM_NAME_MAX)
        memcpy(result->stream, stream, stream_len + 1);
    if ((unsigned)expected.kind > EVS_EXPECT_EXACT)
        return evs__set_error(EVS_EINVAL, "invalid expected version kind %d", (int)expected.kind);
    req->stream = stream;
    req->stream_len = stream_len;
    req->expected_kind = expected.kind;
    req->expected_version = expected.kind == EVS_EXPECT_EXACT ? expected.version : 0;
    return 0;
}

/* Runs a built request to its verdict: validate, encode, produce, ask for the verdict
 * (steps 1 to 4 at the top of this file). Counts the verdict wait of an append. alone: no
 * other command of this client is running, so the record may skip the linger. */
static int command_steps(evs_client *client, const evs_append_request *req,
                         evs_expected expected, evs_append_result *result, int alone)
{
    int rc;
    evs_buf encoded = {0};
    evs_http_response response = {0};
    char err[512];
    char what[EVS_STREAM_NAME_MAX + 80];
    const char *operation = evs_operation_name(req->operation);
    const char *to = req->operation == EVS_OP_APPEND ? "to" : "of"; /* "delete of stream S" */
    int stream_len = (int)(req->stream_len < EVS_STREAM_NAME_MAX ? req->stream_len
                                                                 : EVS_STREAM_NAME_MAX);

    /* Step 1: validate and encode; nothing is produced unless this passes. */
    if (evs_record_validate(req, err, sizeof err) != 0) {
        rc = evs__set_error(EVS_EINVAL, "invalid %s %s stream %.*s: %s", operation, to, stream_len,
                            req->stream, err);
        goto fail;
    }
    if (evs_record_encode(req, &encoded) != 0) {
        rc = evs__set_error(EVS_ENOMEM, "out of memory encoding the %s", operation);
        goto fail;
    }
    if (encoded.len > EVS_APPEND_BYTES_MAX) {
        rc = evs__set_error(EVS_EINVAL,
                            "invalid %s %s stream %.*s: the encoded record is %zu bytes, more "
                            "than the limit of %d; append fewer or smaller events",
                            operation, to, stream_len, req->stream, encoded.len,
                            EVS_APPEND_BYTES_MAX);
        goto fail;
    }

    /* Step 2: produce and wait for the acknowledgement; not when the projectors refuse
     * the client's token, since its verdict could then never be learned. */
    if ((rc = evs__router_check(client->router, client->verdict_timeout_ms)) != 0) {
        char refused[512]; /* the message, copied: it is the buffer set_error writes */
        snprintf(refused, sizeof refused, "%s", evs_last_error());
        rc = evs__set_error(rc, "%s; nothing was written", refused);
        goto fail;
    }
    evs_producer *producer;
    if ((rc = producer_get(client, &producer)) != 0)
        goto fail;
    snprintf(what, sizeof what, "%s %s %s stream %.*s", operation, result->append_id, to,
             stream_len, req->stream);
    rc = evs__producer_send(producer, req->stream, req->stream_len, encoded.data, encoded.len,
                            what, alone, &result->partition, &result->offset);
    if (rc != 0)
        goto fail;

    /* Step 3: the verdict, once a replica serving the partition has judged our offset
     * (the router appends timeout_ms: the rest of the wait, on each replica it asks). The
     * commands of this client waiting at the same time share requests (verdict_mux.h). */
    int64_t wait_started_us = monotonic_us();
    json_t *verdict = NULL;
    rc = evs__verdict_mux_wait(client->verdicts, result->append_id, result->partition,
                               result->offset, client->verdict_timeout_ms, &response, &verdict);
    if (req->operation == EVS_OP_APPEND) {
        count(&client->counters.verdict_waits, 1);
        count(&client->counters.verdict_wait_us, (uint64_t)(monotonic_us() - wait_started_us));
    }
    if (rc != 0) {
        rc = unknown_after_produce(operation, result);
        goto fail;
    }
    char expected_text[32];
    evs__expected_format(expected, expected_text);
    rc = verdict ? evs__verdict_from_json(verdict, expected_text, operation, result)
                 : evs__verdict_from_http_for(response.status, response.body, response.body_len,
                                              expected_text, operation, result);
    json_decref(verdict);
    if (verdict_learned(rc)) /* step 4 */
        evs__router_note_verdict(client->router, result->partition, result->offset);
    else
        rc = unknown_after_produce(operation, result);
fail:
    evs__http_response_free(&response);
    evs_buf_free(&encoded);
    return rc;
}

/* A command is alone (producer.c, "Two lanes") when no other command of the client runs
 * and none of another thread ended in the last ALONE_GAP_US: writers that append one after
 * the other in several threads leave short gaps between their commands, and the first of a
 * round should not go out by itself, ahead of the others' records. A thread appending on
 * its own is alone every time. */
#define ALONE_GAP_US 5000

static uintptr_t thread_mark(void)
{
    static _Thread_local char mark; /* its address names the thread */
    return (uintptr_t)&mark;
}

/* command_steps, counted in commands_running, and told whether it is alone. */
static int command_run(evs_client *client, const evs_append_request *req, evs_expected expected,
                       evs_append_result *result)
{
    uintptr_t me = thread_mark();
    int others = atomic_fetch_add(&client->commands_running, 1);
    int alone = others == 0 && (atomic_load(&client->last_done_thread) == me ||
                                monotonic_us() - atomic_load(&client->last_done_us) >=
                                    ALONE_GAP_US);
    int rc = command_steps(client, req, expected, result, alone);
    atomic_store(&client->last_done_us, monotonic_us());
    atomic_store(&client->last_done_thread, me);
    atomic_fetch_sub(&client->commands_running, 1);
    return rc;
}

int evs_append(evs_client *client, const char *stream, evs_expected expected,
               const evs_event_data *events, size_t n, const char *append_id,
               evs_append_result *result)
{
    int rc;
    evs_record_event *record_events = NULL;
    evs_buf *sealed = NULL; /* 2 per event when some have a subject: data, metadata */
    size_t subjects = 0;
    evs_append_request req;
    char err[512];

    if (!result)
        return evs__set_error(EVS_EINVAL, "evs_append: result is NULL");
    rc = command_begin("evs_append", client, stream, expected, append_id, EVS_OP_APPEND, &req,
                       result);
    if (rc != 0)
        goto fail;
    if (n < 1 || n > EVS_APPEND_EVENTS_MAX || !events) {
        rc = evs__set_error(EVS_EINVAL,
                            "invalid append to stream %.*s: %zu events (must be 1 "
                            "to %d)",
                            EVS_STREAM_NAME_MAX, stream, events ? n : 0, EVS_APPEND_EVENTS_MAX);
        goto fail;
    }
    record_events = malloc(n * sizeof *record_events);
    if (!record_events) {
        rc = evs__set_error(EVS_ENOMEM, "out of memory appending %zu events", n);
        goto fail;
    }
    if ((rc = request_build(stream, events, n, client->has_master_key, record_events, &req,
                            &subjects)) != 0)
        goto fail;
    if (subjects > 0) {
        /* Check the plaintext request first: an invalid append fetches no key (a fetch
         * makes the subject's key when it has none). command_run checks the sealed one. */
        if (evs_record_validate(&req, err, sizeof err) != 0) {
            rc = evs__set_error(EVS_EINVAL, "invalid append to stream %.*s: %s",
                                EVS_STREAM_NAME_MAX, stream, err);
            goto fail;
        }
        if (!(sealed = calloc(2 * n, sizeof *sealed))) {
            rc = evs__set_error(EVS_ENOMEM, "out of memory appending %zu events", n);
            goto fail;
        }
        if ((rc = evs__request_seal(client, &req, events, sealed)) != 0)
            goto fail;
    }
    rc = command_run(client, &req, expected, result);
fail:
    if (client)
        count_append(client, rc, result);
    if (sealed)
        for (size_t i = 0; i < 2 * n; i++)
            evs_buf_free(&sealed[i]);
    free(sealed);
    free(record_events);
    return rc;
}

/* One lifecycle command (evstore.h, "Stream lifecycle"): the fields of its operation, then
 * the path every append takes. */
static int lifecycle_command(const char *fn, evs_client *client, const char *stream,
                             evs_expected expected, evs_operation operation,
                             uint64_t truncate_before, uint64_t max_count, uint64_t max_age_ms,
                             const char *append_id, evs_append_result *result)
{
    evs_append_request req;
    if (!result)
        return evs__set_error(EVS_EINVAL, "%s: result is NULL", fn);
    int rc = command_begin(fn, client, stream, expected, append_id, operation, &req, result);
    if (rc != 0)
        return rc;
    req.truncate_before = truncate_before;
    req.max_count = max_count;
    req.max_age_ms = max_age_ms;
    return command_run(client, &req, expected, result);
}

int evs_stream_delete(evs_client *client, const char *stream, evs_expected expected, int hard,
                      const char *append_id, evs_append_result *result)
{
    return lifecycle_command("evs_stream_delete", client, stream, expected,
                             hard ? EVS_OP_HARD_DELETE : EVS_OP_DELETE, 0, 0, 0, append_id, result);
}

int evs_stream_truncate(evs_client *client, const char *stream, evs_expected expected,
                        uint64_t before, const char *append_id, evs_append_result *result)
{
    return lifecycle_command("evs_stream_truncate", client, stream, expected, EVS_OP_TRUNCATE,
                             before, 0, 0, append_id, result);
}

int evs_stream_set_limits(evs_client *client, const char *stream, evs_expected expected,
                          uint64_t max_count, uint64_t max_age_ms, const char *append_id,
                          evs_append_result *result)
{
    return lifecycle_command("evs_stream_set_limits", client, stream, expected,
                             EVS_OP_SET_LIMITS, 0, max_count, max_age_ms, append_id, result);
}

int evs_append_lookup(evs_client *client, const char *append_id, int timeout_ms,
                      evs_append_result *result)
{
    int rc;
    uint8_t id[16];
    evs_http_response response = {0};

    if (!result)
        return evs__set_error(EVS_EINVAL, "evs_append_lookup: result is NULL");
    memset(result, 0, sizeof *result);
    result->partition = -1;
    result->offset = -1;
    if (!client || !append_id) {
        rc = evs__set_error(EVS_EINVAL, "evs_append_lookup: %s is NULL",
                            client ? "append_id" : "client");
        goto fail;
    }
    if (evs_uuid_parse(append_id, strlen(append_id), id) != 0) {
        rc = evs__set_error(EVS_EINVAL, "append id \"%.40s\" is not a UUID", append_id);
        goto fail;
    }
    evs_uuid_format(id, result->append_id);
    if (timeout_ms < 0)
        timeout_ms = client->verdict_timeout_ms;
    if (timeout_ms > VERDICT_WAIT_MAX_MS)
        timeout_ms = VERDICT_WAIT_MAX_MS;
    /* By id alone: the home projector first; a shard that has not judged it answers 421
     * and a replica that has not caught up 504, and the next one is asked. */
    char path[120];
    snprintf(path, sizeof path, "/verdicts/%s", result->append_id);
    evs_route_request request = {.method = "GET",
                                 .path = path,
                                 .partition = EVS_ROUTE_HOME,
                                 .verdict_wait_ms = timeout_ms,
                                 .budget_ms = (long)timeout_ms + client->request_timeout_ms};
    rc = evs__router_request(client->router, &request, &response);
    if (rc != 0)
        goto fail;
    rc = evs__verdict_from_http(response.status, response.body, response.body_len, NULL, result);
    if (verdict_learned(rc) && result->partition >= 0 && result->offset >= 0)
        evs__router_note_verdict(client->router, result->partition, result->offset);
fail:
    evs__http_response_free(&response);
    return rc;
}

/* ---- Reading ------------------------------------------------------------------------- */

/* GETs path from a projector serving stream's partition (stream not NULL) or partition,
 * and parses an event list; what names the request in messages. The read carries the
 * read-your-writes token of its partition. It asks for the binary page (page_codec.h),
 * which costs a fraction of the JSON page to decode; a projector that does not know it
 * answers JSON (the path asks for base64 payloads, so the JSON holds the exact bytes too),
 * and the answer's Content-Type says which it is. */
static int read_events(evs_client *client, const char *stream, int32_t partition,
                       const char *path, const char *what, evs_event_list **out)
{
    int rc;
    evs_http_response response = {0};

    evs_route_request request = {.method = "GET",
                                 .path = path,
                                 .accept = EVS_PAGE_MEDIA_TYPE,
                                 .partition = partition,
                                 .stream = stream,
                                 .read = 1,
                                 .verdict_wait_ms = -1,
                                 .budget_ms = client->request_timeout_ms};
    rc = evs__router_request(client->router, &request, &response);
    if (rc != 0)
        goto fail;
    if (response.status != 200) {
        rc = evs__http_error(response.status, response.body, response.body_len, what);
        goto fail;
    }
    if (strcmp(response.content_type, EVS_PAGE_MEDIA_TYPE) == 0)
        rc = evs__event_list_from_page(response.body, response.body_len, out);
    else
        rc = evs__event_list_from_json(response.body, response.body_len, out);
fail:
    evs__http_response_free(&response);
    return rc;
}

/* 0, or EVS_EINVAL naming the rule when stream is not a valid stream name. */
static int stream_name_check(const char *stream)
{
    if (!evs_stream_name_valid(stream, strlen(stream)))
        return evs__set_error(EVS_EINVAL,
                              "invalid stream name \"%.*s\": use 1 to %d "
                              "characters of A-Z a-z 0-9 _ . : @ -, not starting with '$'",
                              EVS_STREAM_NAME_MAX, stream, EVS_STREAM_NAME_MAX);
    return 0;
}

int evs_stream_read(evs_client *client, const char *stream, uint64_t from, size_t limit,
                    evs_direction direction, evs_event_list **out)
{
    if (!out)
        return evs__set_error(EVS_EINVAL, "evs_stream_read: out is NULL");
    *out = NULL;
    if (!client || !stream)
        return evs__set_error(EVS_EINVAL, "evs_stream_read: %s is NULL",
                              client ? "stream" : "client");
    if (stream_name_check(stream) != 0)
        return EVS_EINVAL;
    if (limit < 1 || limit > EVS_READ_LIMIT_MAX)
        return evs__set_error(EVS_EINVAL, "read limit %zu is out of range (1 to %d)", limit,
                              EVS_READ_LIMIT_MAX);
    if (direction != EVS_FORWARDS && direction != EVS_BACKWARDS)
        return evs__set_error(EVS_EINVAL, "invalid read direction %d", (int)direction);

    /* The stream name needs no escaping: its alphabet is all legal in a URL path. */
    char path[EVS_STREAM_NAME_MAX + 128];
    snprintf(path, sizeof path,
             "/streams/%s?from=%" PRIu64 "&limit=%zu&direction=%s"
             "&encoding=base64",
             stream, from, limit, direction == EVS_FORWARDS ? "forwards" : "backwards");
    char what[EVS_STREAM_NAME_MAX + 16];
    snprintf(what, sizeof what, "stream %s", stream);
    return read_events(client, stream, EVS_ROUTE_HOME, path, what, out);
}

int evs_stream_metadata_get(evs_client *client, const char *stream, evs_stream_metadata *out)
{
    int rc;
    evs_http_response response = {0};

    if (!out)
        return evs__set_error(EVS_EINVAL, "evs_stream_metadata_get: out is NULL");
    memset(out, 0, sizeof *out);
    out->partition = -1;
    if (!client || !stream)
        return evs__set_error(EVS_EINVAL, "evs_stream_metadata_get: %s is NULL",
                              client ? "stream" : "client");
    if (stream_name_check(stream) != 0)
        return EVS_EINVAL;
    /* As a stream read: to a projector serving the stream's partition, with its token. */
    char path[EVS_STREAM_NAME_MAX + 32];
    snprintf(path, sizeof path, "/streams/%s/metadata", stream);
    evs_route_request request = {.method = "GET",
                                 .path = path,
                                 .partition = EVS_ROUTE_HOME,
                                 .stream = stream,
                                 .read = 1,
                                 .verdict_wait_ms = -1,
                                 .budget_ms = client->request_timeout_ms};
    rc = evs__router_request(client->router, &request, &response);
    if (rc != 0)
        goto fail;
    /* 404 {"error":"not_found"}; a projector without the route says "no such endpoint". */
    if (response.status == 404 &&
        !(response.body && strstr(response.body, "no such endpoint"))) {
        rc = evs__set_error(EVS_ENOT_FOUND, "stream %s does not exist (it never had an event)",
                            stream);
        goto fail;
    }
    if (response.status != 200) {
        char what[EVS_STREAM_NAME_MAX + 32];
        snprintf(what, sizeof what, "the metadata of stream %s", stream);
        rc = evs__http_error(response.status, response.body, response.body_len, what);
        goto fail;
    }
    rc = evs__stream_metadata_from_json(response.body, response.body_len, out);
fail:
    evs__http_response_free(&response);
    return rc;
}

int evs_all_read(evs_client *client, int32_t partition, uint64_t from, size_t limit,
                 evs_event_list **out)
{
    if (!out)
        return evs__set_error(EVS_EINVAL, "evs_all_read: out is NULL");
    *out = NULL;
    if (!client)
        return evs__set_error(EVS_EINVAL, "evs_all_read: client is NULL");
    if (partition < 0)
        return evs__set_error(EVS_EINVAL, "partition %" PRId32 " is negative", partition);
    if (limit < 1 || limit > EVS_READ_LIMIT_MAX)
        return evs__set_error(EVS_EINVAL, "read limit %zu is out of range (1 to %d)", limit,
                              EVS_READ_LIMIT_MAX);
    char path[128];
    /* Position 0 means "the first": let the projector apply its default (1). */
    if (from > 0)
        snprintf(path, sizeof path,
                 "/all?partition=%" PRId32 "&from=%" PRIu64 "&limit=%zu&encoding=base64", partition,
                 from, limit);
    else
        snprintf(path, sizeof path, "/all?partition=%" PRId32 "&limit=%zu&encoding=base64",
                 partition, limit);
    char what[64];
    snprintf(what, sizeof what, "$all of partition %" PRId32, partition);
    return read_events(client, NULL, partition, path, what, out);
}

/* Reads the category (is_type 0) or event type index named name. */
static int index_read(evs_client *client, int is_type, const char *name, int32_t partition,
                      uint64_t from, size_t limit, evs_event_list **out)
{
    const char *fn = is_type ? "evs_type_read" : "evs_category_read";
    if (!out)
        return evs__set_error(EVS_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (!client || !name)
        return evs__set_error(EVS_EINVAL, "%s: %s is NULL", fn, client ? "name" : "client");
    size_t len = strlen(name);
    if (is_type && !evs_event_type_valid(name, len))
        return evs__set_error(EVS_EINVAL,
                              "invalid event type \"%.*s\": use 1 to %d characters of A-Z a-z "
                              "0-9 _ . : @ / -",
                              EVS_EVENT_TYPE_MAX, name, EVS_EVENT_TYPE_MAX);
    if (!is_type && (!evs_stream_name_valid(name, len) || memchr(name, '-', len)))
        return evs__set_error(EVS_EINVAL,
                              "invalid category \"%.*s\": use 1 to %d characters of A-Z a-z "
                              "0-9 _ . : @, not starting with '$' (a category has no '-')",
                              EVS_STREAM_NAME_MAX, name, EVS_STREAM_NAME_MAX);
    if (partition < 0)
        return evs__set_error(EVS_EINVAL, "partition %" PRId32 " is negative", partition);
    if (limit < 1 || limit > EVS_READ_LIMIT_MAX)
        return evs__set_error(EVS_EINVAL, "read limit %zu is out of range (1 to %d)", limit,
                              EVS_READ_LIMIT_MAX);
    _Static_assert(EVS_STREAM_NAME_MAX <= EVS_EVENT_TYPE_MAX, "escaped must hold a category");
    char escaped[3 * EVS_EVENT_TYPE_MAX + 1];
    evs__url_segment_escape(name, escaped);
    char path[sizeof escaped + 128];
    snprintf(path, sizeof path,
             "/%s/%s?partition=%" PRId32 "&from=%" PRIu64 "&limit=%zu&encoding=base64",
             is_type ? "types" : "categories", escaped, partition, from > 0 ? from : 1, limit);
    char what[EVS_EVENT_TYPE_MAX + 64];
    snprintf(what, sizeof what, "%s %s of partition %" PRId32, is_type ? "event type" : "category",
             name, partition);
    return read_events(client, NULL, partition, path, what, out);
}

int evs_category_read(evs_client *client, const char *category, int32_t partition, uint64_t from,
                      size_t limit, evs_event_list **out)
{
    return index_read(client, 0, category, partition, from, limit, out);
}

int evs_type_read(evs_client *client, const char *type, int32_t partition, uint64_t from,
                  size_t limit, evs_event_list **out)
{
    return index_read(client, 1, type, partition, from, limit, out);
}

/* ---- Across partitions ---------------------------------------------------------------- */

int evs_client_partitions(evs_client *client, int32_t *count_out)
{
    if (!count_out)
        return evs__set_error(EVS_EINVAL, "evs_client_partitions: count_out is NULL");
    *count_out = 0;
    if (!client)
        return evs__set_error(EVS_EINVAL, "evs_client_partitions: client is NULL");
    int32_t count = evs__router_partitions(client->router, client->request_timeout_ms);
    if (count < 0)
        return evs__set_error(EVS_EUNAVAILABLE,
                              "no projector answered GET /cluster (seeds: %s); is "
                              "evstore-projector running there?",
                              evs__router_first_url(client->router));
    *count_out = count > 0 ? count : 1; /* an older projector: one partition it serves */
    return 0;
}

/* The next page of $all (type_index -1), a category (0) or a type (1) across partitions:
 * the first partition, from 0, with events at or after its cursor position. Only the
 * page's partition moves in the cursor, and only on success. */
static int read_across(evs_client *client, int type_index, const char *name,
                       evs_position_vector *cursor, size_t limit, evs_event_list **out)
{
    int rc;
    int32_t partitions;

    if (!out)
        return evs__set_error(EVS_EINVAL, "reading across partitions: out is NULL");
    *out = NULL;
    if (!client || !cursor)
        return evs__set_error(EVS_EINVAL, "reading across partitions: %s is NULL",
                              client ? "cursor" : "client");
    if ((rc = evs_client_partitions(client, &partitions)) != 0)
        return rc;
    if ((rc = evs__position_vector_check(cursor, partitions, "reading across partitions")) != 0)
        return rc;
    int every_ended = 1; /* each partition before this one answered an empty end page */
    for (int32_t p = 0; p < partitions; p++) {
        evs_event_list *list = NULL;
        uint64_t from = evs__position_vector_get(cursor, p);
        rc = type_index < 0 ? evs_all_read(client, p, from, limit, &list)
                            : index_read(client, type_index, name, p, from, limit, &list);
        if (rc != 0)
            return rc;
        if (list->count == 0 && p + 1 < partitions) {
            every_ended &= list->end_of_stream;
            evs_event_list_free(list);
            continue;
        }
        if (list->count > 0 && list->next > from) {
            if ((rc = evs__position_vector_resize(cursor, partitions)) != 0) {
                evs_event_list_free(list);
                return rc;
            }
            cursor->positions[p] = list->next;
        }
        list->end_of_stream = every_ended && list->end_of_stream && p + 1 == partitions;
        *out = list;
        return 0;
    }
    return evs__set_error(EVS_EINTERNAL, "a topic of no partitions"); /* count is >= 1 */
}

int evs_all_read_across(evs_client *client, evs_position_vector *cursor, size_t limit,
                        evs_event_list **out)
{
    return read_across(client, -1, NULL, cursor, limit, out);
}

int evs_category_read_across(evs_client *client, const char *category,
                             evs_position_vector *cursor, size_t limit, evs_event_list **out)
{
    return read_across(client, 0, category, cursor, limit, out);
}

int evs_type_read_across(evs_client *client, const char *type, evs_position_vector *cursor,
                         size_t limit, evs_event_list **out)
{
    return read_across(client, 1, type, cursor, limit, out);
}

/* ---- Operations ---------------------------------------------------------------------- */

int evs_client_status(evs_client *client, char **json_out)
{
    int rc;
    evs_http_response response = {0};

    if (!json_out)
        return evs__set_error(EVS_EINVAL, "evs_client_status: json_out is NULL");
    *json_out = NULL;
    if (!client)
        return evs__set_error(EVS_EINVAL, "evs_client_status: client is NULL");
    rc = evs__client_home_request(client, "GET", "/status", NULL, 0, client->request_timeout_ms,
                                  &response);
    if (rc != 0)
        goto fail;
    if (response.status != 200) {
        rc = evs__http_error(response.status, response.body, response.body_len,
                             "the projector status");
        goto fail;
    }
    *json_out = response.body; /* NUL-terminated; ownership passes to the caller */
    response.body = NULL;
    rc = 0;
fail:
    evs__http_response_free(&response);
    return rc;
}
