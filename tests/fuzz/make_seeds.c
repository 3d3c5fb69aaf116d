/*
 * make_seeds.c - writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/).
 *
 *   evs_fuzz_make_seeds record DIR   records: valid ones of every shape from
 *                                    evs_record_encode, records of the older and newer
 *                                    test writer schemas (tests/data, written with avro-c
 *                                    directly), and broken ones
 *   evs_fuzz_make_seeds page DIR     binary pages of events (page_codec.h) of every read
 *                                    endpoint's shape, from evs_page_encode_*, and broken ones
 *   evs_fuzz_make_seeds http DIR     HTTP requests, valid and invalid, for every endpoint of
 *                                    docs/HTTP-API.md, about the fixture that
 *                                    fuzz_http_request.c applies (append ids a1.., streams
 *                                    Order-1, Order-2, Cart-7)
 *   evs_fuzz_make_seeds auth DIR     Authorization headers, token files and Kafka settings
 *                                    files, valid and invalid, for fuzz_auth.c (the first
 *                                    byte picks the parser: 0 header, 1 token file, 2 Kafka)
 *
 * The seeds are committed; `make fuzz-seeds` rewrites them. File names say what each is.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>

#include "page_codec.h"
#include "record_codec.h"

static const char *out_dir;
static int written;

static void die(const char *what)
{
    fprintf(stderr, "make_seeds: %s\n", what);
    exit(1);
}

static void write_seed(const char *name, const void *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "make_seeds: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
    written++;
}

/* ---- Records --------------------------------------------------------------------------- */

typedef struct req_builder {
    evs_append_request req;
    evs_record_event events[24];
} req_builder;

static void start(req_builder *b, uint8_t append_id, const char *stream, evs_expected_kind kind,
                  uint64_t expected)
{
    memset(b, 0, sizeof *b);
    memset(b->req.append_id, append_id, 16);
    b->req.stream = stream;
    b->req.stream_len = strlen(stream);
    b->req.expected_kind = kind;
    b->req.expected_version = expected;
    b->req.events = b->events;
}

static evs_record_event *add(req_builder *b, uint8_t id, const char *type, const char *ct,
                             const void *data, size_t data_len)
{
    evs_record_event *e = &b->events[b->req.event_count++];
    memset(e->event_id, id, 16);
    e->event_id[6] = 0x40 | (id & 0x0f); /* a version 4 UUID, as clients write */
    e->type = type;
    e->type_len = strlen(type);
    e->content_type = ct;
    e->content_type_len = strlen(ct);
    e->data = data;
    e->data_len = data_len;
    e->created_us = 1795860000123456LL + id;
    return e;
}

static void write_request(const char *name, const req_builder *b)
{
    evs_buf buf = {0};
    if (evs_record_encode(&b->req, &buf) != 0)
        die("evs_record_encode failed");
    write_seed(name, buf.data, buf.len);
    evs_buf_free(&buf);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    static char text[65536];
    size_t n = 0;
    if (!f || (n = fread(text, 1, sizeof text - 1, f)) == 0)
        die("cannot read a schema file of tests/data");
    fclose(f);
    text[n] = 0;
    return text;
}

static avro_value_t field(avro_value_t *rec, const char *name)
{
    avro_value_t f = {NULL, NULL};
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
        die(name);
    return f;
}

static void set_text(avro_value_t *rec, const char *name, const char *s)
{
    avro_value_t f = field(rec, name);
    if (avro_value_set_string(&f, s) != 0)
        die(name);
}

/* Writes a single-object record of another writer schema (avro-c, not the code under test). */
static void write_with_schema(const char *name, const char *json,
                              void (*fill)(avro_value_t *top, int variant), int variant)
{
    avro_schema_t schema;
    if (avro_schema_from_json_length(json, strlen(json), &schema) != 0)
        die("avro-c cannot parse a test schema");
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t top;
    size_t size;
    uint64_t fp;
    static uint8_t out[65536];
    if (avro_generic_value_new(iface, &top) != 0)
        die("avro_generic_value_new");
    fill(&top, variant);
    if (avro_value_sizeof(&top, &size) != 0 || size + 10 > sizeof out ||
        evs_schema_canonical(json, NULL, &fp) != 0)
        die("cannot size a test record");
    out[0] = EVS_RECORD_MAGIC0;
    out[1] = EVS_RECORD_MAGIC1;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(fp >> (8 * i));
    avro_writer_t w = avro_writer_memory((const char *)out + 10, (int64_t)size);
    if (avro_value_write(w, &top) != 0)
        die("avro_value_write");
    avro_writer_free(w);
    avro_value_decref(&top);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    write_seed(name, out, size + 10);
}

static void fill_v0(avro_value_t *top, int variant)
{
    avro_value_t f, events, ev;
    set_text(top, "append_id", "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
    set_text(top, "stream", variant ? "$not a stream" : "Cart-12");
    f = field(top, "expected_kind");
    avro_value_set_enum(&f, variant ? 3 : 2);
    f = field(top, "expected_version");
    avro_value_set_long(&f, variant ? 4 : 0);
    events = field(top, "events");
    for (int i = 0; i < 2; i++) {
        avro_value_append(&events, &ev, NULL);
        set_text(&ev, "event_id", i ? "6ba7b811-9dad-11d1-80b4-00c04fd430c8"
                                    : "6ba7b812-9dad-11d1-80b4-00c04fd430c8");
        set_text(&ev, "type", i ? "ItemRemoved" : "ItemAdded");
        f = field(&ev, "data");
        avro_value_set_bytes(&f, i ? "\0x" : "{\"sku\":1}", i ? 2 : 9);
        f = field(&ev, "created");
        avro_value_set_long(&f, 1600000000000000LL + i);
    }
}

static void fill_newer(avro_value_t *top, int variant)
{
    avro_value_t f, b, events, ev;
    set_text(top, "tenant", "acme");
    set_text(top, "append_id", "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
    set_text(top, "stream", "Cart-13");
    f = field(top, "expected_kind");
    avro_value_set_enum(&f, variant == 1 ? 4 : 3); /* AT_LEAST (unknown here) : EXACT */
    f = field(top, "expected_version");
    avro_value_set_long(&f, 9);
    events = field(top, "events");
    avro_value_append(&events, &ev, NULL);
    set_text(&ev, "event_id", "6ba7b812-9dad-11d1-80b4-00c04fd430c8");
    set_text(&ev, "type", "ItemAdded");
    f = field(&ev, "tags");
    for (int i = 0; i < 2; i++) {
        avro_value_append(&f, &b, NULL);
        avro_value_set_string(&b, "tag");
    }
    set_text(&ev, "content_type", "application/vnd.x+json");
    f = field(&ev, "data");
    avro_value_set_bytes(&f, "{}", 2);
    f = field(&ev, "metadata");
    avro_value_set_bytes(&f, "m", 1);
    f = field(&ev, "correlation_id"); /* ["string", "null"] */
    avro_value_set_branch(&f, variant == 2 ? 1 : 0, &b);
    if (variant == 2)
        avro_value_set_null(&b);
    else
        avro_value_set_string(&b, "corr-9");
    f = field(&ev, "causation_id");
    avro_value_set_branch(&f, 0, &b);
    avro_value_set_null(&b);
    f = field(&ev, "priority");
    avro_value_set_branch(&f, 2, &b);
    avro_value_set_double(&b, 0.5);
    f = field(&ev, "created");
    avro_value_set_int(&f, -7);
}

static void record_seeds(void)
{
    req_builder b;
    static const uint8_t binary[] = {0x00, 0xff, 0xc3, 0x01, 0x80, 0x7f, '"', '\\'};

    start(&b, 0x11, "Order-1", EVS_EXPECT_ANY, 0);
    add(&b, 0x21, "OrderPlaced", "application/json", "{\"total\":12}", 12);
    write_request("valid-one-event", &b);

    start(&b, 0x12, "Order-42", EVS_EXPECT_EXACT, 7);
    evs_record_event *e = add(&b, 0x22, "OrderPlaced", "application/json", "{\"a\":[1,2]}", 11);
    e->metadata = (const uint8_t *)"{\"user\":\"ann\"}";
    e->metadata_len = 14;
    e->correlation_id = "corr-1";
    e->correlation_id_len = 6;
    e = add(&b, 0x23, "OrderPaid", "application/json", "{}", 2);
    e->causation_id = "cause-2";
    e->causation_id_len = 7;
    e = add(&b, 0x24, "Order.Shipped/v2", "text/plain", "shipped", 7);
    e->correlation_id = "";
    e->correlation_id_len = 0;
    write_request("valid-three-events-all-fields", &b);

    start(&b, 0x13, "Blob_1:a@b.c", EVS_EXPECT_NO_STREAM, 0);
    add(&b, 0x25, "BinaryWritten", "application/octet-stream", binary, sizeof binary);
    write_request("valid-binary-data-no-stream", &b);

    start(&b, 0x14, "Cart-7", EVS_EXPECT_STREAM_EXISTS, 0);
    e = add(&b, 0x26, "CartEmptied", "application/json", "", 0);
    e->metadata = binary;
    e->metadata_len = sizeof binary;
    write_request("valid-empty-data-binary-metadata", &b);

    start(&b, 0x15, "Many", EVS_EXPECT_EXACT, 0);
    for (uint8_t i = 0; i < 20; i++)
        add(&b, (uint8_t)(0x30 + i), "Ticked", "application/json", "1", 1);
    write_request("valid-twenty-events", &b);

    /* Decodable, but evs_record_validate refuses them (the projector's verdict invalid). */
    start(&b, 0x16, "$all", EVS_EXPECT_ANY, 0);
    add(&b, 0x27, "Bad", "application/json", "{}", 2);
    write_request("invalid-stream-name", &b);

    start(&b, 0x17, "Order-1", EVS_EXPECT_ANY, 0);
    add(&b, 0x28, "", "application/json", "{}", 2);
    write_request("invalid-empty-type", &b);

    start(&b, 0x18, "Order-1", EVS_EXPECT_ANY, 0);
    add(&b, 0x29, "A", "application/json", "{}", 2);
    add(&b, 0x29, "B", "application/json", "{}", 2);
    write_request("invalid-duplicate-event-ids", &b);

    start(&b, 0x19, "Order-1", EVS_EXPECT_ANY, 0);
    write_request("invalid-no-events", &b);

    start(&b, 0x1a, "Order-1", EVS_EXPECT_ANY, 3); /* a version with kind any */
    add(&b, 0x2a, "Type with space", "", "{}", 2);
    write_request("invalid-type-chars-empty-content-type", &b);

    /* Other writer schemas (registered by the fuzzer from tests/data). */
    const char *v0 = read_text(EVS_FUZZ_DATA_DIR "/AppendRequest.v0.avsc");
    write_with_schema("older-writer-v0", v0, fill_v0, 0);
    write_with_schema("older-writer-v0-invalid-stream", v0, fill_v0, 1);
    const char *newer = read_text(EVS_FUZZ_DATA_DIR "/AppendRequest.newer.avsc");
    write_with_schema("newer-writer", newer, fill_newer, 0);
    write_with_schema("newer-writer-unknown-enum-symbol", newer, fill_newer, 1);
    write_with_schema("newer-writer-null-correlation", newer, fill_newer, 2);

    /* Broken records: every decode error. */
    write_seed("broken-empty", "", 0);
    write_seed("broken-one-byte", "\xc3", 1);
    write_seed("broken-json-not-avro", "{\"stream\":\"Order-1\"}", 20);
    write_seed("broken-header-only", "\xc3\x01\x01\x02\x03\x04\x05\x06\x07\x08", 10);
    evs_buf buf = {0};
    start(&b, 0x1b, "Order-1", EVS_EXPECT_ANY, 0);
    add(&b, 0x2b, "OrderPlaced", "application/json", "{\"total\":12}", 12);
    if (evs_record_encode(&b.req, &buf) != 0)
        die("evs_record_encode failed");
    write_seed("broken-truncated", buf.data, buf.len - 5);
    buf.data[5] ^= 0x40; /* a fingerprint nobody knows */
    write_seed("broken-unknown-fingerprint", buf.data, buf.len);
    buf.data[5] ^= 0x40;
    buf.data[10] = 0x7f; /* append_id length: -64 as a zigzag varint */
    write_seed("broken-negative-length", buf.data, buf.len);
    uint8_t huge_count[32];
    memcpy(huge_count, buf.data, 10);
    memcpy(huge_count + 10, "\x48", 1); /* a 36-byte append_id, then garbage */
    memset(huge_count + 11, 0xff, sizeof huge_count - 11);
    write_seed("broken-huge-varints", huge_count, sizeof huge_count);
    evs_buf_free(&buf);
}

/* ---- HTTP requests ---------------------------------------------------------------------- */

static void get(const char *name, const char *target, const char *extra_headers)
{
    char req[4096];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", target,
                     extra_headers ? extra_headers : "");
    write_seed(name, req, (size_t)n);
}

static void with_body(const char *name, const char *method, const char *target,
                      const char *body)
{
    char req[8192];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, target, strlen(body), body);
    write_seed(name, req, (size_t)n);
}

static void raw(const char *name, const char *text)
{
    write_seed(name, text, strlen(text));
}

#define A1 "a1a1a1a1-a1a1-a1a1-a1a1-a1a1a1a1a1a1"

/* A seed for fuzz_auth: the parser byte, then the text. */
static void auth_seed(const char *name, char parser, const char *text)
{
    size_t n = strlen(text);
    char *buf = malloc(n + 1);
    if (!buf)
        die("out of memory");
    buf[0] = parser;
    memcpy(buf + 1, text, n);
    write_seed(name, buf, n + 1);
    free(buf);
}

static void auth_seeds(void)
{
    const char *hash = "sha256:2a8c1d0a40bdc44c429a70596dd595456754668afcc24626a51442c91566dc72";
    char line[512];
    auth_seed("header-bearer", 0,
              "Bearer evs_6da542b1b1b3ed887489936607006afb2f113edd1b2322b3516e6c1d057e8196");
    auth_seed("header-bearer-lowercase-tabs", 0, "bearer\t\tevs_00ff  ");
    auth_seed("header-bearer-padding", 0, "Bearer abc.DEF-_~+/==");
    auth_seed("header-bearer-empty", 0, "Bearer ");
    auth_seed("header-bearer-two-words", 0, "Bearer a b");
    auth_seed("header-basic", 0, "Basic dXNlcjpwYXNz");
    auth_seed("header-no-space", 0, "Bearerevs_00");
    auth_seed("header-comma", 0, "Bearer ab,cd");
    snprintf(line, sizeof line, "%s read append:Order- admin:Order- # ci\n", hash);
    auth_seed("tokens-one", 1, line);
    snprintf(line, sizeof line,
             "# evstore tokens\n\n  %s read\r\nsha256:%064d admin\n", hash, 7);
    auth_seed("tokens-comments-crlf", 1, line);
    snprintf(line, sizeof line, "%s read\n%s admin\n", hash, hash);
    auth_seed("tokens-duplicate", 1, line);
    snprintf(line, sizeof line, "%s\n", hash);
    auth_seed("tokens-no-scope", 1, line);
    snprintf(line, sizeof line, "%s write read:\n", hash);
    auth_seed("tokens-bad-scope", 1, line);
    auth_seed("tokens-short-hash", 1, "sha256:abcd read\n");
    auth_seed("tokens-not-hex", 1,
              "sha256:zz8c1d0a40bdc44c429a70596dd595456754668afcc24626a51442c91566dc72 read\n");
    auth_seed("kafka-sasl-ssl", 2,
              "# kcat -F style\nsecurity.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
              "sasl.username=evstore\nsasl.password = s3cret \nssl.ca.location=/x/ca.pem\n");
    auth_seed("kafka-secrets", 2,
              "ssl.key.password=a\nssl.keystore.password=b\nsasl.oauthbearer.client.secret=c\n"
              "sasl.jaas.config=d\nmy.secret.thing=e\nsasl.password=\n");
    auth_seed("kafka-bootstrap-refused", 2, "bootstrap.servers=10.0.0.1:9092\n");
    auth_seed("kafka-no-equals", 2, "security.protocol SASL_SSL\n");
    auth_seed("kafka-bad-key", 2, "sasl password=x\n");
    auth_seed("kafka-repeated", 2, "client.id=a\nclient.id=b\n\t\n");
}

static void http_seeds(void)
{
    get("health", "/health", NULL);
    raw("health-head", "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n");
    raw("health-post-405", "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
    get("status", "/status", NULL);
    raw("status-http10", "GET /status HTTP/1.0\r\n\r\n");

    get("stream", "/streams/Order-1", NULL);
    get("stream-backwards-base64", "/streams/Order-1?from=3&limit=2&direction=backwards&encoding=base64", NULL);
    get("stream-binary", "/streams/Order-2", NULL);
    get("stream-from-past-end", "/streams/Cart-7?from=99&limit=10000", NULL);
    get("stream-not-found", "/streams/Nope-1", NULL);
    get("stream-bad-name", "/streams/$all", NULL);
    get("stream-bad-limit", "/streams/Order-1?limit=0", NULL);
    get("stream-bad-direction", "/streams/Order-1?direction=sideways", NULL);
    get("stream-bad-encoding", "/streams/Order-1?encoding=hex", NULL);
    get("stream-percent-nul", "/streams/Order%00-1?from=%31", NULL);
    get("stream-huge-from", "/streams/Order-1?from=18446744073709551616", NULL);

    get("all", "/all", NULL);
    get("all-page", "/all?partition=0&from=2&limit=2&encoding=base64", NULL);
    get("all-bad-partition", "/all?partition=1", NULL);
    get("all-negative-from", "/all?from=-1", NULL);

    get("verdict-accepted", "/verdicts/" A1 "?partition=0&offset=0&timeout_ms=0", NULL);
    get("verdict-wrong-expected", "/verdicts/a2a2a2a2-a2a2-a2a2-a2a2-a2a2a2a2a2a2?partition=0&offset=1", NULL);
    get("verdict-skipped-422", "/verdicts/b0b0b0b0-b0b0-b0b0-b0b0-b0b0b0b0b0b0?partition=0&offset=2", NULL);
    get("verdict-duplicate", "/verdicts/A5A5A5A5-A5A5-A5A5-A5A5-A5A5A5A5A5A5", NULL);
    get("verdict-invalid", "/verdicts/a6a6a6a6-a6a6-a6a6-a6a6-a6a6a6a6a6a6?timeout_ms=100", NULL);
    get("verdict-not-applied-504", "/verdicts/" A1 "?partition=0&offset=100&timeout_ms=20", NULL);
    get("verdict-unknown-404", "/verdicts/00000000-0000-4000-8000-000000000000?timeout_ms=0", NULL);
    get("verdict-bad-id", "/verdicts/not-a-uuid", NULL);
    get("verdict-bad-timeout", "/verdicts/" A1 "?timeout_ms=60001", NULL);

    get("category", "/categories/Order?from=1&limit=2", NULL);
    get("category-base64", "/categories/Cart?encoding=base64", NULL);
    get("category-with-dash", "/categories/Order-1", NULL);
    get("type", "/types/OrderPlaced", NULL);
    get("type-slash", "/types/Cart%2FEmptied?partition=0", NULL);
    get("type-bad", "/types/bad%20type", NULL);

    get("subscribe-all", "/subscriptions/all?follow=false", NULL);
    get("subscribe-all-follow", "/subscriptions/all?from=now", NULL);
    get("subscribe-stream", "/subscriptions/streams/Order-1?from=2&follow=false&encoding=base64", NULL);
    get("subscribe-category", "/subscriptions/categories/Cart?follow=false", NULL);
    get("subscribe-type-last-event-id", "/subscriptions/types/OrderPlaced?follow=false",
        "Last-Event-ID: 1\r\n");
    get("subscribe-bad-last-event-id", "/subscriptions/all", "Last-Event-ID: -5\r\n");
    get("subscribe-bad-follow", "/subscriptions/all?follow=maybe", NULL);
    get("subscribe-bad-target", "/subscriptions/nothing", NULL);

    with_body("checkpoint-put", "PUT", "/checkpoints/projection-1", "{\"position\":12}");
    get("checkpoint-get", "/checkpoints/projection-1", NULL);
    raw("checkpoint-delete", "DELETE /checkpoints/projection-1 HTTP/1.1\r\nHost: x\r\n\r\n");
    with_body("checkpoint-put-bad-json", "PUT", "/checkpoints/p", "{\"position\":");
    with_body("checkpoint-put-negative", "PUT", "/checkpoints/p", "{\"position\":-1}");
    with_body("checkpoint-put-too-large", "PUT", "/checkpoints/p", "{\"position\":9223372036854775808}");
    with_body("checkpoint-post-405", "POST", "/checkpoints/p", "{\"position\":1}");

    with_body("snapshot-put-json", "PUT", "/snapshots/Order-1",
              "{\"version\":2,\"content_type\":\"application/json\",\"schema_version\":3,\"data\":{\"total\":12,\"paid\":true}}");
    with_body("snapshot-put-base64", "PUT", "/snapshots/Cart-7",
              "{\"version\":3,\"content_type\":\"application/octet-stream\",\"data_base64\":\"AP8QIGJpbg==\"}");
    get("snapshot-get", "/snapshots/Order-1?version=2", NULL);
    get("snapshot-get-base64", "/snapshots/Cart-7?encoding=base64", NULL);
    get("snapshot-get-none", "/snapshots/Order-2", NULL);
    with_body("snapshot-put-version-too-high", "PUT", "/snapshots/Order-1", "{\"version\":99,\"data\":1}");
    with_body("snapshot-put-no-stream", "PUT", "/snapshots/Nope-1", "{\"version\":1,\"data\":1}");
    with_body("snapshot-put-both-data", "PUT", "/snapshots/Order-1",
              "{\"version\":1,\"data\":1,\"data_base64\":\"AA==\"}");
    with_body("snapshot-put-bad-base64", "PUT", "/snapshots/Order-1",
              "{\"version\":1,\"content_type\":\"x\",\"data_base64\":\"!!\"}");

    /* POST /streams/{stream}: valid appends end in 504 (nothing applies them, see
     * fuzz_http_request.c); invalid ones in 400. */
    with_body("append-post", "POST", "/streams/Order-1",
              "{\"expected\":\"any\",\"events\":[{\"type\":\"OrderNoted\",\"data\":{\"n\":1}}]}");
    with_body("append-post-all-members", "POST", "/streams/Cart-7",
              "{\"expected\":3,\"append_id\":\"6ba7b810-9dad-41d1-80b4-00c04fd430c8\",\"events\":["
              "{\"type\":\"CartItemAdded\",\"event_id\":\"6ba7b811-9dad-41d1-80b4-00c04fd430c8\","
              "\"data\": { \"sku\" : 1.10, \"big\": 123456789012345678901234567890 },"
              "\"metadata\":{\"user\":\"ann\"},\"correlation_id\":\"c-1\",\"causation_id\":\"c-0\"},"
              "{\"type\":\"Blob\",\"content_type\":\"application/octet-stream\",\"data_base64\":\"AP8Q\"}]}");
    with_body("append-post-no-stream", "POST", "/streams/New-1",
              "{\"expected\":\"no_stream\",\"events\":[{\"type\":\"Created\",\"data\":\"text\"}]}");
    with_body("append-post-unknown-member", "POST", "/streams/Order-1",
              "{\"expected\":\"any\",\"events\":[{\"type\":\"A\",\"data\":1,\"extra\":2}]}");
    with_body("append-post-duplicate-key", "POST", "/streams/Order-1",
              "{\"events\":[{\"type\":\"A\",\"data\":1}],\"events\":[]}");
    with_body("append-post-bad-base64", "POST", "/streams/Order-1",
              "{\"events\":[{\"type\":\"A\",\"content_type\":\"x\",\"data_base64\":\"@@\"}]}");
    with_body("append-post-bad-expected", "POST", "/streams/Order-1",
              "{\"expected\":-1,\"events\":[{\"type\":\"A\",\"data\":1}]}");
    with_body("append-post-bad-stream", "POST", "/streams/$all",
              "{\"events\":[{\"type\":\"A\",\"data\":1}]}");

    /* Consumer groups. Member ids are random, so most member requests name an unknown
     * member (410); "groups-session" pipelines a whole session on one connection. */
    with_body("group-put-all", "PUT", "/groups/g1", "{\"source\":\"$all\"}");
    with_body("group-put-category", "PUT", "/groups/g2",
              "{\"source\":\"category:Order\",\"partition\":0,\"from\":2,\"ack_timeout_ms\":100,"
              "\"max_attempts\":1,\"member_timeout_ms\":100}");
    with_body("group-put-bad-source", "PUT", "/groups/g3", "{\"source\":\"stream:Order-1\"}");
    with_body("group-put-bad-setting", "PUT", "/groups/g3",
              "{\"source\":\"$all\",\"ack_timeout_ms\":99}");
    with_body("group-put-bad-name", "PUT", "/groups/$g", "{\"source\":\"$all\"}");
    get("groups-list", "/groups", NULL);
    get("group-get", "/groups/g1", NULL);
    get("group-get-missing", "/groups/nope", NULL);
    raw("group-delete", "DELETE /groups/g2 HTTP/1.1\r\nHost: x\r\n\r\n");
    raw("group-join", "POST /groups/g1/members HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    raw("group-leave-unknown",
        "DELETE /groups/g1/members/0123456789abcdef0123456789abcdef HTTP/1.1\r\nHost: x\r\n\r\n");
    get("group-fetch-unknown-member",
        "/groups/g1/members/0123456789abcdef0123456789abcdef/events?max=5&wait_ms=0&encoding=base64",
        NULL);
    with_body("group-ack", "POST", "/groups/g1/ack",
              "{\"member_id\":\"0123456789abcdef0123456789abcdef\",\"positions\":[1,2,99]}");
    with_body("group-nack-park", "POST", "/groups/g1/nack",
              "{\"member_id\":\"0123456789abcdef0123456789abcdef\",\"positions\":[3],\"park\":true}");
    with_body("group-ack-bad", "POST", "/groups/g1/ack", "{\"positions\":\"all\"}");
    get("group-parked", "/groups/g1/parked?from=1&limit=10", NULL);
    with_body("group-replay", "POST", "/groups/g1/parked/replay", "{\"positions\":[3]}");
    raw("groups-session",
        "PUT /groups/s1 HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n{\"source\":\"$all\"}"
        "POST /groups/s1/members HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        "GET /groups/s1 HTTP/1.1\r\nHost: x\r\n\r\n"
        "POST /groups/s1/nack HTTP/1.1\r\nHost: x\r\nContent-Length: 64\r\n\r\n"
        "{\"member_id\":\"0123456789abcdef0123456789abcdef\",\"positions\":[1]}"
        "DELETE /groups/s1 HTTP/1.1\r\nHost: x\r\n\r\n");

    char long_url[2200] = "/streams/";
    memset(long_url + 9, 'a', sizeof long_url - 10);
    long_url[sizeof long_url - 1] = 0;
    get("url-too-long-414", long_url, NULL);
    get("unknown-path", "/nothing/here", NULL);
    get("root", "/", NULL);
    raw("chunked-put", "PUT /checkpoints/c2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\n{\"pos\r\n9\r\nition\":7}\r\n0\r\n\r\n");
    raw("pipelined", "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /streams/Cart-7?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    raw("no-host", "GET /all HTTP/1.1\r\n\r\n");
    raw("expect-continue", "PUT /checkpoints/e1 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                           "Content-Length: 14\r\n\r\n{\"position\":1}");
    raw("pipelined-head", "HEAD /nothing HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    raw("garbage", "\x00\x01\x02 / HTTP/9.9\r\n\r\n");
    raw("incomplete", "GET /streams/Order-1 HTTP/1.1\r\nHost: x\r\n");
    raw("short-body", "PUT /checkpoints/c3 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"position\":1}");
}

/* ---- Pages ----------------------------------------------------------------------------- */

static evs_page_event page_event(int i, const char *stream, const char *type)
{
    static const uint8_t binary[] = {0x00, 0xff, 0x00, 0x7b, 0x22};
    evs_page_event e;
    memset(&e, 0, sizeof e);
    snprintf(e.event_id, sizeof e.event_id, "00000000-0000-4000-8000-%012d", i + 1);
    e.stream = stream;
    e.stream_len = strlen(stream);
    e.type = type;
    e.type_len = strlen(type);
    e.version = (uint64_t)i + 1;
    e.position = (uint64_t)i * 3 + 1;
    e.created_us = 1795000000000000LL + i;
    if (i % 3 == 2) {
        e.content_type = "application/octet-stream";
        e.data = binary;
        e.data_len = sizeof binary;
    } else {
        e.content_type = "application/json";
        e.data = (const uint8_t *)"{\"total\":1.10,\"items\":[]}";
        e.data_len = strlen((const char *)e.data);
    }
    e.content_type_len = strlen(e.content_type);
    if (i % 5 == 3) { /* personal data: opened, erased, or sealed (EventPage v2) */
        e.subject = "customer:7";
        e.subject_len = 10;
        e.erased = i % 10 == 3;
        e.sealed = i % 10 == 8;
        if (e.erased || e.sealed) {
            e.data = NULL;
            e.data_len = 0;
        }
    }
    if (i % 2 == 0) {
        e.metadata = (const uint8_t *)"{\"user\":\"u-1\"}";
        e.metadata_len = strlen((const char *)e.metadata);
    }
    if (i % 4 == 1) {
        e.correlation_id = "corr-1";
        e.correlation_id_len = 6;
        e.causation_id = "cause-1";
        e.causation_id_len = 7;
    }
    return e;
}

/* Encodes a page of n events into buf. */
static void page_build(evs_buf *buf, const evs_page_info *info, int n, uint64_t next, int end)
{
    evs_page_encoder enc;
    evs_page_encode_begin(&enc, buf, info);
    for (int i = 0; i < n; i++) {
        evs_page_event e = page_event(i, info->stream ? info->stream : "Order-1",
                                      info->type ? info->type : (i % 2 ? "OrderPaid" : "OrderPlaced"));
        evs_page_encode_event(&enc, &e);
    }
    if (evs_page_encode_end(&enc, next, end) != 0)
        die("out of memory encoding a page");
}

static void page_seeds(void)
{
    evs_buf buf = {0};
    evs_page_info info;

    memset(&info, 0, sizeof info);
    info.stream = "Order-1";
    info.stream_len = 7;
    info.has_current_version = 1;
    info.current_version = 5;
    info.has_first_version = 1;
    info.first_version = 1;
    page_build(&buf, &info, 5, 6, 1);
    write_seed("stream-5-events-end", buf.data, buf.len);
    page_build(&buf, &info, 0, 6, 1);
    write_seed("stream-empty", buf.data, buf.len);

    memset(&info, 0, sizeof info);
    info.has_partition = 1;
    page_build(&buf, &info, 8, 25, 0);
    write_seed("all-8-events-more", buf.data, buf.len);
    /* Damaged copies of a valid page. */
    write_seed("broken-truncated", buf.data, buf.len - 3);
    write_seed("broken-header-only", buf.data, 10);
    buf.data[3] ^= 0x40;
    write_seed("broken-fingerprint", buf.data, buf.len);
    buf.data[3] ^= 0x40;
    buf.data[10] = 0x04; /* union branch 2 of a two-branch union */
    write_seed("broken-union-branch", buf.data, buf.len);
    page_build(&buf, &info, 1, 2, 1);
    uint8_t extra[4096];
    if (buf.len + 1 > sizeof extra)
        die("a one-event page is larger than expected");
    memcpy(extra, buf.data, buf.len);
    extra[buf.len] = 0;
    write_seed("broken-trailing-byte", extra, buf.len + 1);

    memset(&info, 0, sizeof info);
    info.category = "Order";
    info.category_len = 5;
    info.has_partition = 1;
    page_build(&buf, &info, 3, 10, 1);
    write_seed("category-3-events", buf.data, buf.len);

    memset(&info, 0, sizeof info);
    info.type = "OrderPlaced";
    info.type_len = 11;
    info.has_partition = 1;
    page_build(&buf, &info, 2, 7, 0);
    write_seed("type-2-events", buf.data, buf.len);

    write_seed("broken-empty", "", 0);
    write_seed("broken-json", "{\"events\":[]}", 13);
    evs_buf_free(&buf);
}

int main(int argc, char **argv)
{
    if (argc != 3 ||
        (strcmp(argv[1], "record") && strcmp(argv[1], "http") && strcmp(argv[1], "page") &&
         strcmp(argv[1], "auth"))) {
        fprintf(stderr, "usage: %s record|page|http|auth DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[2];
    if (!strcmp(argv[1], "record"))
        record_seeds();
    else if (!strcmp(argv[1], "page"))
        page_seeds();
    else if (!strcmp(argv[1], "auth"))
        auth_seeds();
    else
        http_seeds();
    printf("make_seeds: %d %s seeds in %s\n", written, argv[1], out_dir);
    return 0;
}
