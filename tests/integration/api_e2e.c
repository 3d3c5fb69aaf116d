/*
 * api_e2e.c - the C API (evstore.h) end to end against a real projector and broker.
 * Run by api_e2e.sh, which starts a projector on a fresh topic and passes it through
 * EVSTORE_BROKERS, EVSTORE_TOPIC and EVSTORE_PROJECTOR. The topic must be empty at start.
 *
 * Asserts: append + read of a JSON event (every field, byte for byte); a binary payload with
 * zero bytes and invalid UTF-8 (application/octet-stream) round-trips byte-exact, also at
 * exactly EVS_EVENT_DATA_MAX bytes; multi-event appends get contiguous versions and
 * positions; evs_append_lookup returns the original verdict (accepted or wrong version) and
 * EVS_ENOT_FOUND for an unknown id; EVS_EWRONG_VERSION carries current_version for each
 * kind of expectation; idempotent retries answer duplicate with the original versions; a
 * partial duplicate is EVS_EIDEMPOTENCY; EVS_EINVAL for every kind of invalid input, with
 * nothing produced (the record offsets of two sentinel appends around the invalid calls are
 * consecutive, and the projector's judged_offset agrees); forwards/backwards reads with
 * from/limit/next/end_of_stream; $all in gapless position order.
 * Both forms of a page (docs/HTTP-API.md, "The binary page"): every read endpoint (streams
 * both ways, $all, categories, types, empty pages) fetched as JSON (encoding=base64) and as
 * the binary page (Accept: application/vnd.evstore.page+avro, decoded with
 * schemas/page_codec.h) gives the same page, member by member and payloads byte for byte;
 * errors stay JSON; the Accept header is negotiated as documented; and evs_stream_read,
 * evs_all_read, evs_category_read and evs_type_read (which use the binary form) return the
 * JSON page's events.
 *
 * Exit 0 if every check passed, 1 otherwise (every failed check is printed).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <uuid/uuid.h>

#include "base64_decode.h"
#include "evstore.h"
#include "page_codec.h"

static int checks;
static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            checks++;                                                                              \
        } else {                                                                                   \
            failures++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n    [%s] (evs_last_error: \"%s\")\n", #cond, evs_last_error());     \
        }                                                                                          \
    } while (0)

/* A check whose failure makes the rest of the test meaningless. */
#define REQUIRE(cond, ...)                                                                         \
    do {                                                                                           \
        CHECK(cond, __VA_ARGS__);                                                                  \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "api_e2e: stopping after a failed requirement\n");                     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_RC(rc, want, what)                                                                   \
    CHECK((rc) == (want), "%s: got %d (%s), expected %d (%s)", what, rc, evs_strerror(rc), want,   \
          evs_strerror(want))

static evs_client *client;

static void new_uuid(char out[37])
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

static evs_expected expect(evs_expected_kind kind, uint64_t version)
{
    evs_expected e = {kind, version};
    return e;
}

static evs_event_data json_event(const char *id, const char *type, const char *data)
{
    evs_event_data ev;
    memset(&ev, 0, sizeof ev);
    ev.event_id = id;
    ev.type = type;
    ev.data = data;
    ev.data_len = strlen(data);
    return ev;
}

static int append1(const char *stream, evs_expected e, const evs_event_data *ev,
                   evs_append_result *r)
{
    memset(r, 0xA5, sizeof *r); /* garbage, so that a field left unfilled shows */
    return evs_append(client, stream, e, ev, 1, NULL, r);
}

/* Reads a whole stream forwards (NULL if it fails). */
static evs_event_list *read_stream(const char *stream, uint64_t from, size_t limit,
                                   evs_direction dir, int *rc_out)
{
    evs_event_list *list = NULL;
    int rc = evs_stream_read(client, stream, from, limit, dir, &list);
    if (rc_out)
        *rc_out = rc;
    return rc == 0 ? list : NULL;
}

static size_t stream_count(const char *stream)
{
    int rc;
    evs_event_list *l = read_stream(stream, 0, EVS_READ_LIMIT_MAX, EVS_FORWARDS, &rc);
    if (rc == EVS_ENOT_FOUND)
        return 0;
    CHECK(rc == 0, "read %s: rc %d", stream, rc);
    size_t n = l ? l->count : 0;
    evs_event_list_free(l);
    return n;
}

/* The projector's judged_offset of partition 0, from evs_client_status(). -1 on failure.
 * Right after an append's verdict it is exactly the next offset; next_offset (written) may
 * still lag behind it by the batch being written. */
static long long status_judged_offset(void)
{
    char *text = NULL;
    long long next = -1;
    int rc = evs_client_status(client, &text);
    CHECK_RC(rc, 0, "evs_client_status");
    if (rc)
        return -1;
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    CHECK(root != NULL, "status is JSON: %s", text);
    json_t *parts = root ? json_object_get(root, "partitions") : NULL;
    json_t *p0 = parts ? json_array_get(parts, 0) : NULL;
    json_t *n = p0 ? json_object_get(p0, "judged_offset") : NULL;
    CHECK(json_is_integer(n), "status has partitions[0].judged_offset: %s", text);
    if (json_is_integer(n))
        next = json_integer_value(n);
    json_decref(root);
    free(text);
    return next;
}

static int has_event_id(const evs_event_list *l, const char *id)
{
    for (size_t i = 0; l && i < l->count; i++)
        if (strcasecmp(l->events[i].event_id, id) == 0)
            return 1;
    return 0;
}

/* ---- Both forms of a page ------------------------------------------------------------ */

typedef struct http_answer {
    long status;
    char content_type[128];
    char *body;
    size_t len;
} http_answer;

static size_t on_data(char *p, size_t size, size_t n, void *user)
{
    http_answer *a = user;
    char *grown = realloc(a->body, a->len + size * n + 1);
    if (!grown)
        return 0;
    a->body = grown;
    memcpy(a->body + a->len, p, size * n);
    a->len += size * n;
    a->body[a->len] = 0;
    return size * n;
}

/* GETs the projector's path with an optional Accept header. Returns 0 or -1. */
static int http_get(const char *path, const char *accept, http_answer *a)
{
    memset(a, 0, sizeof *a);
    char url[1024];
    snprintf(url, sizeof url, "%s%s", getenv("EVSTORE_PROJECTOR"), path);
    CURL *curl = curl_easy_init();
    if (!curl)
        return -1;
    struct curl_slist *headers = NULL;
    char line[256];
    if (accept) {
        snprintf(line, sizeof line, "Accept: %s", accept);
        headers = curl_slist_append(NULL, line);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 30000L);
    CURLcode res = curl_easy_perform(curl);
    char *type = NULL;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->status);
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    snprintf(a->content_type, sizeof a->content_type, "%s", type ? type : "");
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (!a->body)
        a->body = calloc(1, 1);
    return res == CURLE_OK && a->body ? 0 : -1;
}

static void http_answer_free(http_answer *a)
{
    free(a->body);
    a->body = NULL;
}

typedef struct page_events {
    evs_page_event *events;
    size_t count;
} page_events;

static int collect_event(void *ctx, const evs_page_event *e)
{
    page_events *c = ctx;
    if (c->count >= EVS_READ_LIMIT_MAX)
        return 1;
    c->events[c->count++] = *e;
    return 0;
}

/* Whether a JSON member (a base64 string, "" or null for none) holds exactly the bytes p. */
static int same_base64(const json_t *v, const void *p, size_t len)
{
    if (json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
        return len == 0;
    if (!json_is_string(v))
        return 0;
    size_t n = 0, text_len = json_string_length(v);
    uint8_t *out = malloc(evs__base64_decoded_max(text_len) + 1);
    int same = out && evs__base64_decode(json_string_value(v), text_len, out, &n) == 0 &&
               n == len && (len == 0 || memcmp(out, p, len) == 0);
    free(out);
    return same;
}

/* Whether a JSON member is the string p (len bytes), or null when p is NULL. */
static int same_text(const json_t *v, const char *p, size_t len)
{
    if (!p)
        return json_is_null(v) || v == NULL;
    return json_is_string(v) && json_string_length(v) == len &&
           memcmp(json_string_value(v), p, len) == 0;
}

static int same_integer(const json_t *v, long long want)
{
    return json_is_integer(v) && json_integer_value(v) == want;
}

/* Compares a binary page's event with a JSON event object (encoding=base64), member by
 * member; every member of the JSON object must be accounted for. */
static void check_same_event(const char *what, size_t i, const evs_page_event *e,
                             const json_t *j)
{
#define GET(name) json_object_get(j, name)
    CHECK(same_text(GET("event_id"), e->event_id, strlen(e->event_id)), "%s: event %zu event_id",
          what, i);
    CHECK(same_text(GET("stream"), e->stream, e->stream_len), "%s: event %zu stream", what, i);
    CHECK(same_text(GET("type"), e->type, e->type_len), "%s: event %zu type", what, i);
    CHECK(same_integer(GET("version"), (long long)e->version), "%s: event %zu version", what, i);
    CHECK(same_integer(GET("position"), (long long)e->position), "%s: event %zu position", what,
          i);
    CHECK(same_integer(GET("partition"), e->partition), "%s: event %zu partition", what, i);
    CHECK(same_integer(GET("created_us"), e->created_us), "%s: event %zu created_us", what, i);
    CHECK(json_is_string(GET("created")), "%s: event %zu created", what, i);
    CHECK(same_text(GET("content_type"), e->content_type, e->content_type_len),
          "%s: event %zu content_type", what, i);
    CHECK(same_base64(GET("data"), e->data, e->data_len), "%s: event %zu data (%zu bytes)", what,
          i, e->data_len);
    CHECK(same_base64(GET("metadata"), e->metadata, e->metadata_len),
          "%s: event %zu metadata (%zu bytes)", what, i, e->metadata_len);
    CHECK(same_text(GET("correlation_id"), e->correlation_id, e->correlation_id_len),
          "%s: event %zu correlation_id", what, i);
    CHECK(same_text(GET("causation_id"), e->causation_id, e->causation_id_len),
          "%s: event %zu causation_id", what, i);
    CHECK(json_object_size(j) == 13, "%s: event %zu has %zu members, 13 compared", what, i,
          json_object_size(j));
#undef GET
}

/* Fetches path (which has a query with encoding=base64) as JSON and as a binary page, and
 * checks they are the same page. Returns the JSON page (the caller frees it) or NULL. */
static json_t *check_both_forms(const char *path, size_t want_events)
{
    http_answer ja, ba;
    json_t *root = NULL;
    page_events pe = {calloc(EVS_READ_LIMIT_MAX, sizeof(evs_page_event)), 0};
    REQUIRE(pe.events, "calloc");
    int rc = http_get(path, NULL, &ja);
    CHECK(rc == 0 && ja.status == 200, "GET %s (JSON): status %ld", path, ja.status);
    CHECK(strcmp(ja.content_type, "application/json") == 0, "GET %s (JSON): content type %s",
          path, ja.content_type);
    rc = http_get(path, EVS_PAGE_MEDIA_TYPE, &ba);
    CHECK(rc == 0 && ba.status == 200, "GET %s (binary): status %ld", path, ba.status);
    CHECK(strcmp(ba.content_type, EVS_PAGE_MEDIA_TYPE) == 0,
          "GET %s (binary): content type %s", path, ba.content_type);
    evs_page_info info;
    char err[256] = "";
    rc = evs_page_decode(ba.body, ba.len, &info, collect_event, &pe, err, sizeof err);
    CHECK(rc == 0, "GET %s: the binary page decodes: %s", path, err);
    json_error_t jerr;
    root = json_loadb(ja.body, ja.len, 0, &jerr);
    CHECK(json_is_object(root), "GET %s: the JSON page parses: %s", path, jerr.text);
    if (rc != 0 || !json_is_object(root))
        goto done;

    json_t *events = json_object_get(root, "events");
    CHECK(json_array_size(events) == info.event_count && pe.count == info.event_count,
          "GET %s: %zu JSON events, %zu binary", path, json_array_size(events),
          info.event_count);
    CHECK(info.event_count == want_events, "GET %s: %zu events, expected %zu", path,
          info.event_count, want_events);
    size_t members = 3; /* events, next, end or end_of_stream */
    CHECK(same_integer(json_object_get(root, "next"), (long long)info.next), "GET %s: next", path);
    json_t *end = json_object_get(root, "end_of_stream");
    if (end) {
        CHECK(same_text(json_object_get(root, "stream"), info.stream, info.stream_len),
              "GET %s: stream", path);
        CHECK(info.has_current_version &&
                  same_integer(json_object_get(root, "current_version"),
                               (long long)info.current_version),
              "GET %s: current_version", path);
        CHECK(!info.has_partition && !info.category && !info.type,
              "GET %s: a stream page has no partition, category or type", path);
        members += 2;
        /* The first readable version is in the JSON page only (the binary page's schema
         * has no member for it; GET /streams/{stream}/metadata has it for both). */
        json_t *first = json_object_get(root, "first_version");
        CHECK(json_is_integer(first) && json_integer_value(first) >= 1,
              "GET %s: first_version", path);
        members++;
    } else {
        end = json_object_get(root, "end");
        CHECK(info.has_partition && same_integer(json_object_get(root, "partition"),
                                                 info.partition),
              "GET %s: partition", path);
        CHECK(!info.stream && !info.has_current_version, "GET %s: no stream members", path);
        members += 1;
        if (info.category || json_object_get(root, "category")) {
            CHECK(same_text(json_object_get(root, "category"), info.category,
                            info.category_len),
                  "GET %s: category", path);
            members++;
        }
        if (info.type || json_object_get(root, "type")) {
            CHECK(same_text(json_object_get(root, "type"), info.type, info.type_len),
                  "GET %s: type", path);
            members++;
        }
    }
    CHECK(json_is_boolean(end) && json_is_true(end) == (info.end != 0), "GET %s: end", path);
    CHECK(json_object_size(root) == members, "GET %s: %zu page members, %zu compared", path,
          json_object_size(root), members);
    for (size_t i = 0; i < pe.count && i < json_array_size(events); i++)
        check_same_event(path, i, &pe.events[i], json_array_get(events, i));

    /* encoding=base64 changes nothing in the binary form. */
    char plain[1024];
    snprintf(plain, sizeof plain, "%s", path);
    char *param = strstr(plain, "encoding=base64");
    if (param) {
        memmove(param, param + strlen("encoding=base64"), strlen(param + 15) + 1);
        http_answer pa;
        rc = http_get(plain, EVS_PAGE_MEDIA_TYPE, &pa);
        CHECK(rc == 0 && pa.status == 200 && pa.len == ba.len &&
                  memcmp(pa.body, ba.body, ba.len) == 0,
              "GET %s (binary) is the same page without encoding=base64", plain);
        http_answer_free(&pa);
    }
done:
    free(pe.events);
    http_answer_free(&ja);
    http_answer_free(&ba);
    if (!json_is_object(root)) {
        json_decref(root);
        root = NULL;
    }
    return root;
}

/* Compares a list libevstore returned with the events of a JSON page. */
static void check_list_matches(const char *what, const evs_event_list *l, const json_t *page)
{
    json_t *events = page ? json_object_get(page, "events") : NULL;
    CHECK(l && events && l->count == json_array_size(events), "%s: %zu events, JSON has %zu",
          what, l ? l->count : 0, json_array_size(events));
    if (!l || !events || l->count != json_array_size(events))
        return;
    CHECK(same_integer(json_object_get(page, "next"), (long long)l->next), "%s: next", what);
    for (size_t i = 0; i < l->count; i++) {
        const evs_event *e = &l->events[i];
        evs_page_event pe = {
            .stream = e->stream, .stream_len = strlen(e->stream), .type = e->type,
            .type_len = strlen(e->type), .version = e->version, .position = e->position,
            .partition = e->partition, .created_us = e->created_us,
            .content_type = e->content_type, .content_type_len = strlen(e->content_type),
            .data = e->data, .data_len = e->data_len, .metadata = e->metadata,
            .metadata_len = e->metadata_len, .correlation_id = e->correlation_id,
            .correlation_id_len = e->correlation_id ? strlen(e->correlation_id) : 0,
            .causation_id = e->causation_id,
            .causation_id_len = e->causation_id ? strlen(e->causation_id) : 0};
        memcpy(pe.event_id, e->event_id, sizeof pe.event_id);
        check_same_event(what, i, &pe, json_array_get(events, i));
    }
}

/* An answer that must stay JSON (an error, or a request that did not ask for the binary
 * form) whatever the Accept header says. */
static void check_json_answer(const char *path, const char *accept, long status)
{
    http_answer a;
    int rc = http_get(path, accept, &a);
    CHECK(rc == 0 && a.status == status, "GET %s (Accept: %s): status %ld, expected %ld", path,
          accept ? accept : "-", a.status, status);
    CHECK(strcmp(a.content_type, "application/json") == 0,
          "GET %s (Accept: %s): content type %s", path, accept ? accept : "-", a.content_type);
    json_t *root = json_loadb(a.body, a.len, 0, NULL);
    CHECK(json_is_object(root) && (status == 200 || json_is_string(json_object_get(root, "error"))),
          "GET %s (Accept: %s): a JSON answer: %.200s", path, accept ? accept : "-", a.body);
    json_decref(root);
    http_answer_free(&a);
}

static void check_binary_answer(const char *path, const char *accept)
{
    http_answer a;
    int rc = http_get(path, accept, &a);
    CHECK(rc == 0 && a.status == 200 && strcmp(a.content_type, EVS_PAGE_MEDIA_TYPE) == 0,
          "GET %s (Accept: %s): status %ld, content type %s", path, accept, a.status,
          a.content_type);
    http_answer_free(&a);
}

static void check_read_forms(void)
{
    json_t *page;
    int rc;
    evs_event_list *l;
    /* Streams: forwards, backwards, a window, binary payloads up to the size limit, past
     * the end. */
    json_decref(check_both_forms("/streams/Api-1?encoding=base64", 5));
    json_decref(check_both_forms("/streams/Api-1?from=0&direction=backwards&limit=2&encoding=base64", 2));
    json_decref(check_both_forms("/streams/Api-1?from=2&limit=2&encoding=base64", 2));
    json_decref(check_both_forms("/streams/Api-1?from=60&encoding=base64", 0));
    page = check_both_forms("/streams/Bin-1?encoding=base64", 2);
    l = read_stream("Bin-1", 0, 100, EVS_FORWARDS, &rc);
    CHECK_RC(rc, 0, "evs_stream_read Bin-1");
    check_list_matches("evs_stream_read Bin-1", l, page);
    evs_event_list_free(l);
    json_decref(page);
    page = check_both_forms("/streams/Sentinel-1?encoding=base64&limit=10000", 2);
    l = read_stream("Sentinel-1", 0, 10000, EVS_FORWARDS, &rc);
    check_list_matches("evs_stream_read Sentinel-1", l, page);
    evs_event_list_free(l);
    json_decref(page);

    /* $all, whole and a window. */
    l = NULL;
    rc = evs_all_read(client, 0, 0, EVS_READ_LIMIT_MAX, &l);
    CHECK_RC(rc, 0, "evs_all_read");
    page = check_both_forms("/all?limit=10000&encoding=base64", l ? l->count : 0);
    check_list_matches("evs_all_read", l, page);
    evs_event_list_free(l);
    json_decref(page);
    json_decref(check_both_forms("/all?partition=0&from=2&limit=2&encoding=base64", 2));
    json_decref(check_both_forms("/all?from=100000&encoding=base64", 0));

    /* Categories and types, through the C API too. */
    static const struct {
        const char *route, *name;
        int (*read)(evs_client *, const char *, int32_t, uint64_t, size_t, evs_event_list **);
    } indexes[] = {
        {"categories", "Api", evs_category_read},   {"categories", "Bin", evs_category_read},
        {"categories", "Sentinel", evs_category_read}, {"types", "OrderPlaced", evs_type_read},
        {"types", "Blob", evs_type_read},
    };
    for (size_t i = 0; i < sizeof indexes / sizeof indexes[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/%s/%s?limit=10000&encoding=base64", indexes[i].route,
                 indexes[i].name);
        l = NULL;
        rc = indexes[i].read(client, indexes[i].name, 0, 0, EVS_READ_LIMIT_MAX, &l);
        CHECK_RC(rc, 0, path);
        CHECK(l && l->count > 0, "%s has events", path);
        page = check_both_forms(path, l ? l->count : 0);
        check_list_matches(path, l, page);
        evs_event_list_free(l);
        json_decref(page);
    }
    json_decref(check_both_forms("/types/Nothing?encoding=base64", 0));
    json_decref(check_both_forms("/categories/Api?from=2&limit=1&encoding=base64", 1));

    /* Errors stay JSON when the binary form is asked for. */
    check_json_answer("/streams/No-Such-Stream", EVS_PAGE_MEDIA_TYPE, 404);
    check_json_answer("/streams/Api-1?limit=0", EVS_PAGE_MEDIA_TYPE, 400);
    check_json_answer("/all?partition=7", EVS_PAGE_MEDIA_TYPE, 400);
    check_json_answer("/categories/Api-1", EVS_PAGE_MEDIA_TYPE, 400);
    check_json_answer("/types/bad%20type", EVS_PAGE_MEDIA_TYPE, 400);
    check_json_answer("/streams/Api-1?encoding=hex", EVS_PAGE_MEDIA_TYPE, 400);
    /* Negotiation: only naming the media type (with a quality above 0) gets it. */
    check_json_answer("/streams/Api-1", NULL, 200);
    check_json_answer("/streams/Api-1", "application/json", 200);
    check_json_answer("/streams/Api-1", "*/*", 200);
    check_json_answer("/streams/Api-1", EVS_PAGE_MEDIA_TYPE ";q=0", 200);
    check_json_answer("/all", "application/vnd.evstore.page+avro2", 200);
    check_binary_answer("/streams/Api-1", "text/html, APPLICATION/VND.EVSTORE.PAGE+AVRO");
    check_binary_answer("/all", "application/json;q=0.5, " EVS_PAGE_MEDIA_TYPE ";q=0.9");
    check_binary_answer("/types/OrderPlaced", EVS_PAGE_MEDIA_TYPE "; q=1");
}

int main(void)
{
    evs_client_options opts;
    evs_client_options_init(&opts);
    opts.brokers = getenv("EVSTORE_BROKERS");
    opts.topic = getenv("EVSTORE_TOPIC");
    opts.projector_url = getenv("EVSTORE_PROJECTOR");
    REQUIRE(opts.topic && opts.projector_url, "EVSTORE_TOPIC and EVSTORE_PROJECTOR must be set");

    CHECK(strcmp(evs_version(), EVS_VERSION_STRING) == 0, "evs_version() = %s", evs_version());
    CHECK(strcmp(evs_strerror(EVS_EWRONG_VERSION), evs_strerror(EVS_EIDEMPOTENCY)) != 0,
          "distinct error codes have distinct messages");

    int rc = evs_client_open(&opts, &client);
    REQUIRE(rc == 0 && client, "evs_client_open: %d %s", rc, evs_strerror(rc));

    evs_append_result r, r1, rmulti, lr;
    uint64_t accepted_events = 0; /* events accepted in this topic, for the $all check */

    /* ---- 1. a JSON event, every field read back ---------------------------------------- */
    char e1[37];
    new_uuid(e1);
    const char *data1 = "{\"total\":12,\"items\":[\"a\",\"b\"],\"note\":\"caf\xc3\xa9\"}";
    const char *meta1 = "{\"user\":\"ann\"}";
    evs_event_data ev1 = json_event(e1, "OrderPlaced", data1);
    ev1.metadata = meta1;
    ev1.metadata_len = strlen(meta1);
    ev1.correlation_id = "corr-1";
    ev1.causation_id = "cause-1";
    time_t before = time(NULL);
    rc = append1("Api-1", expect(EVS_EXPECT_NO_STREAM, 0), &ev1, &r1);
    REQUIRE(rc == 0, "first append: rc %d %s", rc, evs_strerror(rc));
    accepted_events += 1;
    CHECK(r1.first_version == 1 && r1.last_version == 1, "versions %llu..%llu",
          (unsigned long long)r1.first_version, (unsigned long long)r1.last_version);
    CHECK(r1.first_position == 1 && r1.last_position == 1, "positions %llu..%llu",
          (unsigned long long)r1.first_position, (unsigned long long)r1.last_position);
    CHECK(r1.duplicate == 0, "duplicate %d", r1.duplicate);
    CHECK(r1.partition == 0, "partition %d", r1.partition);
    CHECK(r1.offset == 0, "first record of a fresh topic is at offset 0, got %lld",
          (long long)r1.offset);
    CHECK(strlen(r1.append_id) == EVS_UUID_TEXT_LEN, "append id '%s' filled in", r1.append_id);

    evs_event_list *l = read_stream("Api-1", 0, 100, EVS_FORWARDS, &rc);
    CHECK_RC(rc, 0, "read Api-1");
    if (l) {
        CHECK(l->count == 1, "Api-1 has %zu events", l->count);
        evs_event *e = &l->events[0];
        CHECK(strcasecmp(e->event_id, e1) == 0, "event id %s", e->event_id);
        CHECK(e->stream && strcmp(e->stream, "Api-1") == 0, "stream %s", e->stream);
        CHECK(e->type && strcmp(e->type, "OrderPlaced") == 0, "type %s", e->type);
        CHECK(e->version == 1 && e->position == 1 && e->partition == 0,
              "version/position/partition");
        CHECK(e->content_type && strcmp(e->content_type, "application/json") == 0,
              "default content type application/json, got %s", e->content_type);
        CHECK(e->data_len == strlen(data1) && memcmp(e->data, data1, e->data_len) == 0,
              "JSON data byte-exact (%zu bytes)", e->data_len);
        CHECK(e->metadata_len == strlen(meta1) && memcmp(e->metadata, meta1, e->metadata_len) == 0,
              "metadata byte-exact (%zu bytes)", e->metadata_len);
        CHECK(e->correlation_id && strcmp(e->correlation_id, "corr-1") == 0, "correlation id");
        CHECK(e->causation_id && strcmp(e->causation_id, "cause-1") == 0, "causation id");
        long long created_s = e->created_us / 1000000;
        CHECK(created_s >= before - 5 && created_s <= time(NULL) + 5,
              "created_us %lld is the writer's clock at append", (long long)e->created_us);
        CHECK(l->end_of_stream == 1 && l->next == 2, "end_of_stream %d next %llu", l->end_of_stream,
              (unsigned long long)l->next);
    }
    evs_event_list_free(l);

    /* ---- 2. binary payloads, byte-exact ---------------------------------------------- */
    enum { BIN_LEN = 4096 };
    static unsigned char bin[BIN_LEN];
    for (size_t i = 0; i < BIN_LEN; i++)
        bin[i] = (unsigned char)(i * 7 + (i >> 8));
    bin[0] = 0x00;
    bin[1] = 0xff;
    bin[2] = 0xc3; /* a truncated UTF-8 sequence */
    bin[3] = 0x00;
    bin[100] = 0x00;
    bin[BIN_LEN - 1] = 0x00;
    char eb[37];
    new_uuid(eb);
    evs_event_data evb;
    memset(&evb, 0, sizeof evb);
    evb.event_id = eb;
    evb.type = "Blob";
    evb.data = bin;
    evb.data_len = BIN_LEN;
    evb.content_type = "application/octet-stream";
    rc = append1("Bin-1", expect(EVS_EXPECT_ANY, 0), &evb, &r);
    CHECK_RC(rc, 0, "append of a binary payload");
    if (rc == 0)
        accepted_events += 1;

    /* Exactly the size limit is accepted. */
    unsigned char *maxbuf = malloc(EVS_EVENT_DATA_MAX + 1);
    REQUIRE(maxbuf, "malloc");
    for (size_t i = 0; i < EVS_EVENT_DATA_MAX + 1; i++)
        maxbuf[i] = (unsigned char)((i * 131) ^ (i >> 9));
    maxbuf[0] = 0;
    maxbuf[EVS_EVENT_DATA_MAX - 1] = 0;
    evs_event_data evmax = evb;
    char emax[37];
    new_uuid(emax);
    evmax.event_id = emax;
    evmax.data = maxbuf;
    evmax.data_len = EVS_EVENT_DATA_MAX;
    rc = append1("Bin-1", expect(EVS_EXPECT_EXACT, 1), &evmax, &r);
    CHECK_RC(rc, 0, "append of exactly EVS_EVENT_DATA_MAX bytes");
    if (rc == 0)
        accepted_events += 1;

    l = read_stream("Bin-1", 0, 10, EVS_FORWARDS, &rc);
    CHECK_RC(rc, 0, "read Bin-1");
    if (l) {
        CHECK(l->count == 2, "Bin-1 has %zu events", l->count);
        if (l->count >= 1) {
            evs_event *e = &l->events[0];
            CHECK(e->data_len == BIN_LEN && memcmp(e->data, bin, BIN_LEN) == 0,
                  "binary payload round-trips byte-exact (%zu bytes read)", e->data_len);
            CHECK(e->content_type && strcmp(e->content_type, "application/octet-stream") == 0,
                  "content type %s", e->content_type);
            CHECK(e->metadata_len == 0, "absent metadata reads back empty (%zu bytes)",
                  e->metadata_len);
            CHECK(e->correlation_id == NULL && e->causation_id == NULL,
                  "absent correlation/causation ids read back NULL");
        }
        if (l->count >= 2) {
            evs_event *e = &l->events[1];
            CHECK(e->data_len == EVS_EVENT_DATA_MAX &&
                      memcmp(e->data, maxbuf, EVS_EVENT_DATA_MAX) == 0,
                  "a payload of EVS_EVENT_DATA_MAX bytes round-trips byte-exact (%zu read)",
                  e->data_len);
        }
    }
    evs_event_list_free(l);

    /* ---- 3. a multi-event append ------------------------------------------------------ */
    char e2[37], e3[37], e4[37];
    new_uuid(e2);
    new_uuid(e3);
    new_uuid(e4);
    evs_event_data three[3] = {json_event(e2, "ItemAdded", "{\"sku\":\"A\"}"),
                               json_event(e3, "ItemAdded", "{\"sku\":\"B\"}"),
                               json_event(e4, "OrderConfirmed", "{}")};
    rc = evs_append(client, "Api-1", expect(EVS_EXPECT_EXACT, 1), three, 3, NULL, &rmulti);
    CHECK_RC(rc, 0, "append of three events at exact version 1");
    if (rc == 0)
        accepted_events += 3;
    CHECK(rmulti.first_version == 2 && rmulti.last_version == 4, "versions %llu..%llu",
          (unsigned long long)rmulti.first_version, (unsigned long long)rmulti.last_version);
    CHECK(rmulti.last_position == rmulti.first_position + 2 && rmulti.first_position == 4,
          "positions %llu..%llu (contiguous, after the 3 earlier events)",
          (unsigned long long)rmulti.first_position, (unsigned long long)rmulti.last_position);

    /* ---- 4. lookups -------------------------------------------------------------------- */
    memset(&lr, 0, sizeof lr);
    rc = evs_append_lookup(client, r1.append_id, 5000, &lr);
    CHECK_RC(rc, 0, "lookup of the first append");
    CHECK(lr.first_version == 1 && lr.last_version == 1 && lr.duplicate == 0 &&
              lr.first_position == r1.first_position && lr.offset == r1.offset &&
              lr.partition == r1.partition && strcmp(lr.append_id, r1.append_id) == 0,
          "lookup repeats the original verdict (versions %llu..%llu, offset %lld)",
          (unsigned long long)lr.first_version, (unsigned long long)lr.last_version,
          (long long)lr.offset);
    char unknown[37];
    new_uuid(unknown);
    rc = evs_append_lookup(client, unknown, 3000, &lr);
    CHECK_RC(rc, EVS_ENOT_FOUND, "lookup of an append id that was never written");

    /* ---- 5. wrong expected versions --------------------------------------------------- */
    char ew[37];
    new_uuid(ew);
    evs_event_data evw = json_event(ew, "Late", "{}");
    rc = append1("Api-1", expect(EVS_EXPECT_EXACT, 0), &evw, &r);
    CHECK_RC(rc, EVS_EWRONG_VERSION, "exact 0 on a stream at version 4");
    CHECK(r.current_version == 4, "current_version %llu, expected 4",
          (unsigned long long)r.current_version);
    CHECK(strstr(evs_last_error(), "4") != NULL, "the message names the current version: %s",
          evs_last_error());
    CHECK(strlen(r.append_id) == EVS_UUID_TEXT_LEN, "append id filled on a rejection");
    char wrong_id[37];
    snprintf(wrong_id, sizeof wrong_id, "%s", r.append_id);
    rc = evs_append_lookup(client, wrong_id, 5000, &lr);
    CHECK_RC(rc, EVS_EWRONG_VERSION, "lookup of the rejected append");
    CHECK(lr.current_version == 4, "lookup: current_version %llu",
          (unsigned long long)lr.current_version);

    rc = append1("Api-1", expect(EVS_EXPECT_EXACT, 7), &evw, &r);
    CHECK_RC(rc, EVS_EWRONG_VERSION, "exact 7 on a stream at version 4");
    CHECK(r.current_version == 4, "current_version %llu", (unsigned long long)r.current_version);
    rc = append1("Api-1", expect(EVS_EXPECT_NO_STREAM, 0), &evw, &r);
    CHECK_RC(rc, EVS_EWRONG_VERSION, "no_stream on an existing stream");
    CHECK(r.current_version == 4, "current_version %llu", (unsigned long long)r.current_version);
    rc = append1("Api-missing", expect(EVS_EXPECT_STREAM_EXISTS, 0), &evw, &r);
    CHECK_RC(rc, EVS_EWRONG_VERSION, "stream_exists on a missing stream");
    CHECK(r.current_version == 0, "current_version %llu", (unsigned long long)r.current_version);
    CHECK(stream_count("Api-1") == 4, "rejected appends stored nothing on Api-1");
    CHECK(stream_count("Api-missing") == 0, "a rejected append did not create its stream");
    /* The rejected event id was not stored: it can be appended now. */
    rc = append1("Api-1", expect(EVS_EXPECT_EXACT, 4), &evw, &r);
    CHECK_RC(rc, 0, "the event id of rejected appends is still free");
    CHECK(rc != 0 || (r.first_version == 5 && r.duplicate == 0),
          "accepted at version 5, not a duplicate");
    if (rc == 0)
        accepted_events += 1;

    /* ---- 6. idempotency --------------------------------------------------------------- */
    /* A retry with the same event id; its expectation would fail now, which must not matter. */
    rc = append1("Api-1", expect(EVS_EXPECT_NO_STREAM, 0), &ev1, &r);
    CHECK_RC(rc, 0, "retry of the first append");
    CHECK(r.duplicate == 1 && r.first_version == 1 && r.last_version == 1 &&
              r.first_position == r1.first_position && r.last_position == r1.last_position,
          "retry answers duplicate with the original version and position (dup %d, %llu..%llu)",
          r.duplicate, (unsigned long long)r.first_version, (unsigned long long)r.last_version);
    rc = evs_append(client, "Api-1", expect(EVS_EXPECT_EXACT, 1), three, 3, NULL, &r);
    CHECK_RC(rc, 0, "retry of the three-event append");
    CHECK(r.duplicate == 1 && r.first_version == 2 && r.last_version == 4 &&
              r.first_position == rmulti.first_position && r.last_position == rmulti.last_position,
          "retry of three answers duplicate 2..4 (dup %d, %llu..%llu)", r.duplicate,
          (unsigned long long)r.first_version, (unsigned long long)r.last_version);
    rc = evs_append(client, "Api-1", expect(EVS_EXPECT_ANY, 0), &three[1], 2, NULL, &r);
    CHECK_RC(rc, 0, "retry of a contiguous part (versions 3..4) of an earlier append");
    CHECK(r.duplicate == 1 && r.first_version == 3 && r.last_version == 4,
          "contiguous stored ids answer duplicate 3..4 (dup %d, %llu..%llu)", r.duplicate,
          (unsigned long long)r.first_version, (unsigned long long)r.last_version);

    char enew[37];
    new_uuid(enew);
    evs_event_data partial[2] = {ev1, json_event(enew, "Extra", "{}")};
    rc = evs_append(client, "Api-1", expect(EVS_EXPECT_ANY, 0), partial, 2, NULL, &r);
    CHECK_RC(rc, EVS_EIDEMPOTENCY, "one stored and one new event id");
    char enew2[37];
    new_uuid(enew2);
    evs_event_data twice[2] = {json_event(enew2, "Twice", "{}"), json_event(enew2, "Twice", "{}")};
    rc = evs_append(client, "Api-twice", expect(EVS_EXPECT_ANY, 0), twice, 2, NULL, &r);
    CHECK(rc != 0, "one append carrying the same event id twice is refused, got %d (%s)", rc,
          evs_strerror(rc));
    /* An event id stored in Api-1 appended to another stream is not a retry. */
    rc = append1("Api-2", expect(EVS_EXPECT_ANY, 0), &ev1, &r);
    CHECK(rc != 0, "an event id already stored in another stream is refused, got %d (%s)", rc,
          evs_strerror(rc));
    CHECK(stream_count("Api-1") == 5, "retries and conflicts stored nothing on Api-1");
    CHECK(stream_count("Api-2") == 0, "the event id of Api-1 was not stored again in Api-2");
    CHECK(stream_count("Api-twice") == 0, "the doubled event id was not stored");

    /* ---- 7. invalid input: EVS_EINVAL and nothing produced --------------------------- */
    char s1[37], s2[37];
    new_uuid(s1);
    new_uuid(s2);
    evs_event_data sentinel = json_event(s1, "Sentinel", "{}");
    evs_append_result rs1, rs2;
    rc = append1("Sentinel-1", expect(EVS_EXPECT_ANY, 0), &sentinel, &rs1);
    REQUIRE(rc == 0, "sentinel append before the invalid calls: %d", rc);
    accepted_events += 1;
    long long next_before = status_judged_offset();
    CHECK(next_before == rs1.offset + 1, "after the sentinel, judged_offset %lld == offset %lld + 1",
          next_before, (long long)rs1.offset);

    char long_name[EVS_STREAM_NAME_MAX + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0'; /* 201 bytes */
    const char *bad_streams[] = {
        "",          long_name, "bad name", "a/b",         "$all",     "$x", "\xff\xfe",
        "tab\there", "nl\n",    "q\"uote",  "caf\xc3\xa9", "per%cent", "a?b"};
    char eok[37];
    new_uuid(eok);
    evs_event_data okev = json_event(eok, "Fine", "{}");
    for (size_t i = 0; i < sizeof bad_streams / sizeof *bad_streams; i++) {
        rc = append1(bad_streams[i], expect(EVS_EXPECT_ANY, 0), &okev, &r);
        CHECK(rc == EVS_EINVAL, "invalid stream name #%zu ('%.20s'): got %d (%s)", i,
              bad_streams[i], rc, evs_strerror(rc));
        CHECK(strlen(evs_last_error()) > 0, "a message for invalid stream name #%zu", i);
        evs_event_list *bl = NULL;
        rc = evs_stream_read(client, bad_streams[i], 0, 10, EVS_FORWARDS, &bl);
        CHECK(rc == EVS_EINVAL, "read of invalid stream name #%zu: got %d", i, rc);
        evs_event_list_free(bl);
    }
    /* A 200-byte name is fine (checked later with a real append). */
    char max_name[EVS_STREAM_NAME_MAX + 1];
    memset(max_name, 'm', EVS_STREAM_NAME_MAX);
    max_name[EVS_STREAM_NAME_MAX] = '\0';

    char long_type[EVS_EVENT_TYPE_MAX + 2];
    memset(long_type, 't', sizeof long_type - 1);
    long_type[sizeof long_type - 1] = '\0';
    const char *bad_types[] = {"", "bad type", long_type, "\xff", "a\nb"};
    for (size_t i = 0; i < sizeof bad_types / sizeof *bad_types; i++) {
        evs_event_data e = okev;
        e.type = bad_types[i];
        rc = append1("Valid-1", expect(EVS_EXPECT_ANY, 0), &e, &r);
        CHECK(rc == EVS_EINVAL, "invalid event type #%zu: got %d (%s)", i, rc, evs_strerror(rc));
    }
    const char *bad_ids[] = {"not-a-uuid",
                             "1234",
                             "",
                             "0f8fad5b-d9cb-469f-a165-70867728950",
                             "0f8fad5b-d9cb-469f-a165-70867728950ez",
                             "0f8fad5b-d9cb-469f-a165-70867728950g",
                             "0f8fad5bd9cb469fa16570867728950e1234"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++) {
        evs_event_data e = okev;
        e.event_id = bad_ids[i];
        rc = append1("Valid-1", expect(EVS_EXPECT_ANY, 0), &e, &r);
        CHECK(rc == EVS_EINVAL, "invalid event id '%s': got %d (%s)", bad_ids[i], rc,
              evs_strerror(rc));
        rc = evs_append(client, "Valid-1", expect(EVS_EXPECT_ANY, 0), &okev, 1, bad_ids[i], &r);
        CHECK(rc == EVS_EINVAL, "invalid append id '%s': got %d (%s)", bad_ids[i], rc,
              evs_strerror(rc));
    }
    rc = evs_append_lookup(client, "not-a-uuid", 1000, &lr);
    CHECK(rc == EVS_EINVAL, "lookup of a malformed append id: got %d (%s)", rc, evs_strerror(rc));

    rc = evs_append(client, "Valid-1", expect(EVS_EXPECT_ANY, 0), &okev, 0, NULL, &r);
    CHECK(rc == EVS_EINVAL, "append of zero events: got %d", rc);
    evs_event_data *many = calloc(EVS_APPEND_EVENTS_MAX + 1, sizeof *many);
    REQUIRE(many, "calloc");
    for (size_t i = 0; i < EVS_APPEND_EVENTS_MAX + 1; i++)
        many[i] = json_event(NULL, "Many", "{}");
    rc = evs_append(client, "Valid-1", expect(EVS_EXPECT_ANY, 0), many, EVS_APPEND_EVENTS_MAX + 1,
                    NULL, &r);
    CHECK(rc == EVS_EINVAL, "append of EVS_APPEND_EVENTS_MAX + 1 events: got %d", rc);
    free(many);

    evs_event_data big = evb;
    big.event_id = NULL;
    big.data = maxbuf;
    big.data_len = EVS_EVENT_DATA_MAX + 1;
    rc = append1("Valid-1", expect(EVS_EXPECT_ANY, 0), &big, &r);
    CHECK(rc == EVS_EINVAL, "data of EVS_EVENT_DATA_MAX + 1 bytes: got %d", rc);
    CHECK(strlen(evs_last_error()) > 0, "a message for oversized data");

    char *bigmeta = malloc(EVS_EVENT_METADATA_MAX + 16);
    REQUIRE(bigmeta, "malloc");
    size_t ml = EVS_EVENT_METADATA_MAX + 1;
    memset(bigmeta, 'x', ml);
    bigmeta[0] = '"';
    bigmeta[ml - 1] = '"'; /* a valid JSON string, one byte too long */
    evs_event_data e_meta = okev;
    e_meta.event_id = NULL;
    e_meta.metadata = bigmeta;
    e_meta.metadata_len = ml;
    rc = append1("Valid-1", expect(EVS_EXPECT_ANY, 0), &e_meta, &r);
    CHECK(rc == EVS_EINVAL, "metadata of EVS_EVENT_METADATA_MAX + 1 bytes: got %d", rc);
    free(bigmeta);

    /* Four events of the maximum size: each is fine, the record is too big. */
    evs_event_data four[4];
    for (int i = 0; i < 4; i++) {
        four[i] = evb;
        four[i].event_id = NULL;
        four[i].data = maxbuf;
        four[i].data_len = EVS_EVENT_DATA_MAX;
    }
    rc = evs_append(client, "Valid-1", expect(EVS_EXPECT_ANY, 0), four, 4, NULL, &r);
    CHECK(rc == EVS_EINVAL, "an append over EVS_APPEND_BYTES_MAX in total: got %d (%s)", rc,
          evs_strerror(rc));

    char long_ct[EVS_CONTENT_TYPE_MAX + 2];
    memset(long_ct, 'c', sizeof long_ct - 1);
    long_ct[sizeof long_ct - 1] = '\0';
    const char *bad_cts[] = {"", "text/\x01plain", long_ct, "caf\xc3\xa9/x"};
    for (size_t i = 0; i < sizeof bad_cts / sizeof *bad_cts; i++) {
        evs_event_data e = okev;
        e.event_id = NULL;
        e.content_type = bad_cts[i];
        rc = append1("Valid-1", expect(EVS_EXPECT_ANY, 0), &e, &r);
        CHECK(rc == EVS_EINVAL, "invalid content type #%zu: got %d", i, rc);
    }
    char long_corr[EVS_CORRELATION_ID_MAX + 2];
    memset(long_corr, 'k', sizeof long_corr - 1);
    long_corr[sizeof long_corr - 1] = '\0';
    {
        evs_event_data e = okev;
        e.event_id = NULL;
        e.correlation_id = long_corr;
        rc = append1("Valid-1", expect(EVS_EXPECT_ANY, 0), &e, &r);
        CHECK(rc == EVS_EINVAL, "correlation id over EVS_CORRELATION_ID_MAX: got %d", rc);
        e.correlation_id = NULL;
        e.causation_id = long_corr;
        rc = append1("Valid-1", expect(EVS_EXPECT_ANY, 0), &e, &r);
        CHECK(rc == EVS_EINVAL, "causation id over EVS_CORRELATION_ID_MAX: got %d", rc);
    }
    /* Reads: limits out of range. */
    {
        evs_event_list *bl = NULL;
        rc = evs_stream_read(client, "Api-1", 0, 0, EVS_FORWARDS, &bl);
        CHECK(rc == EVS_EINVAL, "read limit 0: got %d", rc);
        evs_event_list_free(bl);
        bl = NULL;
        rc = evs_stream_read(client, "Api-1", 0, EVS_READ_LIMIT_MAX + 1, EVS_FORWARDS, &bl);
        CHECK(rc == EVS_EINVAL, "read limit EVS_READ_LIMIT_MAX + 1: got %d", rc);
        evs_event_list_free(bl);
        bl = NULL;
        rc = evs_all_read(client, 0, 0, 0, &bl);
        CHECK(rc == EVS_EINVAL, "$all read limit 0: got %d", rc);
        evs_event_list_free(bl);
    }

    evs_event_data sentinel2 = json_event(s2, "Sentinel", "{}");
    rc = append1("Sentinel-1", expect(EVS_EXPECT_EXACT, 1), &sentinel2, &rs2);
    REQUIRE(rc == 0, "sentinel append after the invalid calls: %d", rc);
    accepted_events += 1;
    CHECK(rs2.offset == rs1.offset + 1,
          "nothing was produced by the invalid calls: sentinel offsets %lld and %lld",
          (long long)rs1.offset, (long long)rs2.offset);
    long long next_after = status_judged_offset();
    CHECK(next_after == rs2.offset + 1, "judged_offset %lld after the second sentinel at %lld",
          next_after, (long long)rs2.offset);
    CHECK(stream_count("Valid-1") == 0, "no invalid append created a stream");

    /* The 200-byte stream name is valid. */
    rc = append1(max_name, expect(EVS_EXPECT_NO_STREAM, 0), &okev, &r);
    CHECK_RC(rc, 0, "append to a stream name of exactly EVS_STREAM_NAME_MAX bytes");
    if (rc == 0)
        accepted_events += 1;
    CHECK(stream_count(max_name) == 1, "the 200-byte stream reads back");

    /* ---- 8. reads: forwards, backwards, from, limit, next ------------------------------ */
    /* Api-1 holds versions 1..5 (e1, e2, e3, e4, ew). */
    const char *api1_ids[] = {e1, e2, e3, e4, ew};
    l = read_stream("Api-1", 0, 2, EVS_BACKWARDS, &rc);
    CHECK_RC(rc, 0, "read backwards from the end, limit 2");
    if (l) {
        CHECK(l->count == 2 && l->events[0].version == 5 && l->events[1].version == 4,
              "backwards limit 2 gives versions 5, 4 (count %zu)", l->count);
        CHECK(l->next == 3 && l->end_of_stream == 0, "next %llu end_of_stream %d",
              (unsigned long long)l->next, l->end_of_stream);
        for (size_t i = 0; i < l->count && i < 2; i++)
            CHECK(strcasecmp(l->events[i].event_id, api1_ids[4 - i]) == 0, "event id at %zu", i);
    }
    evs_event_list_free(l);
    l = read_stream("Api-1", 2, 10, EVS_BACKWARDS, &rc);
    CHECK_RC(rc, 0, "read backwards from 2");
    if (l) {
        CHECK(l->count == 2 && l->events[0].version == 2 && l->events[1].version == 1,
              "backwards from 2 gives versions 2, 1 (count %zu)", l->count);
        CHECK(l->end_of_stream == 1, "backwards read reached the start");
        if (l->count == 2)
            CHECK(strcasecmp(l->events[1].event_id, e1) == 0 &&
                      l->events[1].data_len == strlen(data1) &&
                      memcmp(l->events[1].data, data1, strlen(data1)) == 0,
                  "backwards read returns the same bytes");
    }
    evs_event_list_free(l);
    l = read_stream("Api-1", 2, 2, EVS_FORWARDS, &rc);
    CHECK_RC(rc, 0, "read forwards from 2, limit 2");
    if (l) {
        CHECK(l->count == 2 && l->events[0].version == 2 && l->events[1].version == 3,
              "forwards from 2 limit 2 gives versions 2, 3 (count %zu)", l->count);
        CHECK(l->next == 4 && l->end_of_stream == 0, "next %llu", (unsigned long long)l->next);
    }
    evs_event_list_free(l);
    l = read_stream("Api-1", 6, 10, EVS_FORWARDS, &rc);
    CHECK_RC(rc, 0, "read forwards past the end");
    if (l)
        CHECK(l->count == 0 && l->end_of_stream == 1, "past the end: %zu events", l->count);
    evs_event_list_free(l);
    l = read_stream("No-Such-Stream", 0, 10, EVS_FORWARDS, &rc);
    CHECK_RC(rc, EVS_ENOT_FOUND, "read of a missing stream");
    evs_event_list_free(l);

    /* ---- 9. $all ----------------------------------------------------------------------- */
    l = NULL;
    rc = evs_all_read(client, 0, 0, EVS_READ_LIMIT_MAX, &l);
    CHECK_RC(rc, 0, "read $all");
    if (l) {
        CHECK(l->count == accepted_events, "$all holds %zu events, %llu accepted", l->count,
              (unsigned long long)accepted_events);
        int gapless = 1;
        for (size_t i = 0; i < l->count; i++)
            if (l->events[i].position != i + 1)
                gapless = 0;
        CHECK(gapless, "$all positions are 1..N in order");
        CHECK(has_event_id(l, e1) && has_event_id(l, ew) && has_event_id(l, eb) &&
                  !has_event_id(l, enew) && !has_event_id(l, enew2),
              "$all holds the accepted events and none of the refused ones");
    }
    evs_event_list_free(l);
    l = NULL;
    rc = evs_all_read(client, 0, 2, 2, &l);
    CHECK_RC(rc, 0, "read $all from 2, limit 2");
    if (l)
        CHECK(l->count == 2 && l->events[0].position == 2 && l->events[1].position == 3 &&
                  l->next == 4,
              "$all from 2 limit 2 gives positions 2, 3 and next 4");
    evs_event_list_free(l);

    /* ---- 10. both forms of every read ----------------------------------------------- */
    check_read_forms();

    char *status = NULL;
    rc = evs_client_status(client, &status);
    CHECK_RC(rc, 0, "evs_client_status");
    CHECK(status && strstr(status, opts.topic), "status names the topic: %s", status);
    free(status);

    free(maxbuf);
    evs_client_close(client);
    fprintf(stderr, "api_e2e: %d checks, %d failed\n", checks + failures, failures);
    return failures ? 1 : 0;
}
