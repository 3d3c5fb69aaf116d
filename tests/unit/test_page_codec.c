/*
 * test_page_codec.c - unit tests of schemas/page_codec.c (the binary page of events) and of
 * adapter/src/event_page.c (the page mapped onto evs_event_list).
 *
 * Round trips go through the encoder and the decoder. The malformed pages are built by a
 * separate, deliberately naive writer in this file (slot by slot, following the schema
 * file), so a test does not depend on the encoder it checks; the writer's valid page is
 * compared byte for byte with the encoder's; it also writes the older v1 pages the decoder
 * still reads. The fingerprints are checked against the .avsc text and against the values
 * Python's fastavro 1.13.1 computes for them:
 *   fastavro.schema.fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO")
 *   == "f621ca1b558cd135" for evstore.EventPage.avsc (v2) and "58aaa41a7f12e9d1" for
 *   evstore.EventPage.v1.avsc (little-endian bytes),
 * and GOLDEN_V2_PAGE_HEX is a page fastavro's schemaless_writer wrote (the marker, that
 * fingerprint, then schemaless_writer(out, parse_schema(schema), page) of the page
 * test_v2_fields encodes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "event_page.h"
#include "evstore.h"
#include "page_codec.h"
#include "test_files.h"

#ifndef EVS_TEST_SCHEMA_DIR
#error "EVS_TEST_SCHEMA_DIR must name schemas/"
#endif

#define FASTAVRO_FINGERPRINT 0x35d18c551bca21f6ull    /* v2, the current schema */
#define FASTAVRO_FINGERPRINT_V1 0xd1e9127f1aa4aa58ull /* v1 */

static const char *const ID1 = "0f8fad5b-d9cb-469f-a165-70867728950e";
static const char *const ID2 = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

/* ---- Helpers ------------------------------------------------------------------------------ */

static evs_page_event make_event(const char *id, const char *stream, uint64_t version)
{
    evs_page_event e;
    memset(&e, 0, sizeof e);
    memcpy(e.event_id, id, 37);
    e.stream = stream;
    e.stream_len = strlen(stream);
    e.type = "OrderPlaced";
    e.type_len = strlen(e.type);
    e.version = version;
    e.position = version + 10;
    e.partition = 0;
    e.created_us = 1795860000123456;
    e.content_type = "application/json";
    e.content_type_len = strlen(e.content_type);
    e.data = (const uint8_t *)"{\"total\":12}";
    e.data_len = 12;
    return e;
}

typedef struct collected {
    evs_page_event events[1100];
    size_t count;
} collected;

static int collect(void *ctx, const evs_page_event *e)
{
    collected *c = ctx;
    assert_true(c->count < sizeof c->events / sizeof c->events[0]);
    c->events[c->count++] = *e;
    return 0;
}

static void assert_same_bytes(const void *a, size_t a_len, const void *b, size_t b_len)
{
    assert_int_equal(a_len, b_len);
    if (a_len)
        assert_memory_equal(a, b, a_len);
}

static void assert_same_optional(const void *a, size_t a_len, const void *b, size_t b_len)
{
    assert_int_equal(a == NULL, b == NULL);
    if (a)
        assert_same_bytes(a, a_len, b, b_len);
}

static void assert_same_event(const evs_page_event *want, const evs_page_event *got)
{
    assert_string_equal(want->event_id, got->event_id);
    assert_same_bytes(want->stream, want->stream_len, got->stream, got->stream_len);
    assert_same_bytes(want->type, want->type_len, got->type, got->type_len);
    assert_int_equal(want->version, got->version);
    assert_int_equal(want->position, got->position);
    assert_int_equal(want->partition, got->partition);
    assert_int_equal(want->created_us, got->created_us);
    assert_same_bytes(want->content_type, want->content_type_len, got->content_type,
                      got->content_type_len);
    assert_same_bytes(want->data, want->data_len, got->data, got->data_len);
    /* The encoder writes empty metadata as null. */
    assert_same_optional(want->metadata_len ? want->metadata : NULL, want->metadata_len,
                         got->metadata, got->metadata_len);
    assert_same_optional(want->correlation_id, want->correlation_id_len, got->correlation_id,
                         got->correlation_id_len);
    assert_same_optional(want->causation_id, want->causation_id_len, got->causation_id,
                         got->causation_id_len);
    assert_same_optional(want->subject, want->subject_len, got->subject, got->subject_len);
    assert_int_equal(!!want->erased, got->erased);
    assert_int_equal(!!want->sealed, got->sealed);
}

/* Encodes info and events, decodes the result, and checks that everything came back. */
static void round_trip(const evs_page_info *info, const evs_page_event *events, size_t n,
                       evs_buf *out)
{
    evs_page_encoder enc;
    evs_page_encode_begin(&enc, out, info);
    for (size_t i = 0; i < n; i++)
        evs_page_encode_event(&enc, &events[i]);
    assert_int_equal(evs_page_encode_end(&enc, info->next, info->end), 0);

    collected *c = calloc(1, sizeof *c);
    assert_non_null(c);
    evs_page_info got;
    char err[256];
    int rc = evs_page_decode(out->data, out->len, &got, collect, c, err, sizeof err);
    if (rc != 0)
        fail_msg("decode failed: %s", err);
    assert_int_equal(got.event_count, n);
    assert_int_equal(c->count, n);
    assert_same_optional(info->stream, info->stream_len, got.stream, got.stream_len);
    assert_same_optional(info->category, info->category_len, got.category, got.category_len);
    assert_same_optional(info->type, info->type_len, got.type, got.type_len);
    assert_int_equal(info->has_current_version, got.has_current_version);
    if (info->has_current_version)
        assert_int_equal(info->current_version, got.current_version);
    assert_int_equal(info->has_partition, got.has_partition);
    if (info->has_partition)
        assert_int_equal(info->partition, got.partition);
    assert_int_equal(info->has_first_version, got.has_first_version);
    if (info->has_first_version)
        assert_int_equal(info->first_version, got.first_version);
    assert_int_equal(info->next, got.next);
    assert_int_equal(!!info->end, got.end);
    for (size_t i = 0; i < n; i++)
        assert_same_event(&events[i], &c->events[i]);
    free(c);
}

/* ---- Round trips --------------------------------------------------------------------------- */

static void test_empty_pages(void **state)
{
    (void)state;
    evs_buf b = {0};
    evs_page_info stream = {.stream = "Order-1",
                            .stream_len = 7,
                            .has_current_version = 1,
                            .current_version = 0,
                            .next = 1,
                            .end = 1};
    round_trip(&stream, NULL, 0, &b);
    /* Header, 5 unions, the empty array (0), next, end, first_version (null): nothing
     * more. */
    assert_int_equal(b.len, 10 + (1 + 1 + 7) + (1 + 1) + 1 + 1 + 1 + 1 + 1 + 1 + 1);
    evs_page_info all = {.has_partition = 1, .partition = 0, .next = 1, .end = 0};
    round_trip(&all, NULL, 0, &b);
    evs_page_info category = {.category = "Order",
                              .category_len = 5,
                              .has_partition = 1,
                              .partition = 3,
                              .next = 77,
                              .end = 1};
    round_trip(&category, NULL, 0, &b);
    evs_page_info type = {.type = "a/b", .type_len = 3, .has_partition = 1, .next = 5};
    round_trip(&type, NULL, 0, &b);
    evs_buf_free(&b);
}

static void test_one_event(void **state)
{
    (void)state;
    evs_buf b = {0};
    evs_page_info info = {.stream = "Order-1",
                          .stream_len = 7,
                          .has_current_version = 1,
                          .current_version = 1,
                          .next = 2,
                          .end = 1};
    evs_page_event e = make_event(ID1, "Order-1", 1);
    e.metadata = (const uint8_t *)"{\"user\":\"ann\"}";
    e.metadata_len = 14;
    e.correlation_id = "c-1";
    e.correlation_id_len = 3;
    e.causation_id = "x-1";
    e.causation_id_len = 3;
    round_trip(&info, &e, 1, &b);
    evs_buf_free(&b);
}

static void test_thousand_events(void **state)
{
    (void)state;
    evs_buf b = {0};
    static evs_page_event events[1000];
    static char payloads[1000][16];
    for (size_t i = 0; i < 1000; i++) {
        events[i] = make_event(i % 2 ? ID1 : ID2, i % 3 ? "Order-1" : "Customer.7:eu@x_y", i + 1);
        snprintf(payloads[i], sizeof payloads[i], "{\"i\":%zu}", i);
        events[i].data = (const uint8_t *)payloads[i];
        events[i].data_len = strlen(payloads[i]);
        events[i].partition = (int32_t)(i % 7);
        events[i].created_us = -(int64_t)i * 1000003;
        if (i % 5 == 0) {
            events[i].metadata = (const uint8_t *)payloads[i];
            events[i].metadata_len = strlen(payloads[i]);
        }
    }
    evs_page_info info = {.has_partition = 1, .partition = 0, .next = 1011, .end = 0};
    round_trip(&info, events, 1000, &b);
    evs_buf_free(&b);
}

static void test_binary_and_empty_payloads(void **state)
{
    (void)state;
    evs_buf b = {0};
    uint8_t binary[256];
    for (int i = 0; i < 256; i++)
        binary[i] = (uint8_t)i; /* NUL bytes included */
    evs_page_event e[3] = {make_event(ID1, "Blob-1", 1), make_event(ID2, "Blob-1", 2),
                           make_event(ID1, "Blob-1", 3)};
    e[0].data = binary;
    e[0].data_len = sizeof binary;
    e[0].content_type = "application/octet-stream";
    e[0].content_type_len = strlen(e[0].content_type);
    e[0].metadata = binary;
    e[0].metadata_len = 3; /* 00 01 02 */
    e[1].data = NULL;
    e[1].data_len = 0; /* empty data */
    e[2].metadata = (const uint8_t *)"";
    e[2].metadata_len = 0; /* empty metadata reads back as absent */
    evs_page_info info = {.stream = "Blob-1",
                          .stream_len = 6,
                          .has_current_version = 1,
                          .current_version = 3,
                          .next = 0,
                          .end = 1};
    round_trip(&info, e, 3, &b);
    evs_buf_free(&b);
}

static void test_max_size_values(void **state)
{
    (void)state;
    evs_buf b = {0};
    static char stream[EVS_STREAM_NAME_MAX + 1], type[EVS_EVENT_TYPE_MAX + 1],
        content_type[EVS_CONTENT_TYPE_MAX + 1], id[EVS_CORRELATION_ID_MAX + 1];
    memset(stream, 'S', EVS_STREAM_NAME_MAX);
    memset(type, 'T', EVS_EVENT_TYPE_MAX);
    memset(content_type, 'c', EVS_CONTENT_TYPE_MAX);
    memset(id, 'i', EVS_CORRELATION_ID_MAX);
    uint8_t *data = malloc(EVS_EVENT_DATA_MAX);
    uint8_t *metadata = malloc(EVS_EVENT_METADATA_MAX);
    assert_non_null(data);
    assert_non_null(metadata);
    for (size_t i = 0; i < EVS_EVENT_DATA_MAX; i++)
        data[i] = (uint8_t)(i * 31);
    memset(metadata, 0, EVS_EVENT_METADATA_MAX);
    evs_page_event e = make_event(ID1, stream, INT64_MAX);
    e.type = type;
    e.type_len = EVS_EVENT_TYPE_MAX;
    e.position = INT64_MAX;
    e.partition = INT32_MAX;
    e.created_us = INT64_MIN;
    e.content_type = content_type;
    e.content_type_len = EVS_CONTENT_TYPE_MAX;
    e.data = data;
    e.data_len = EVS_EVENT_DATA_MAX;
    e.metadata = metadata;
    e.metadata_len = EVS_EVENT_METADATA_MAX;
    e.correlation_id = id;
    e.correlation_id_len = EVS_CORRELATION_ID_MAX;
    e.causation_id = id;
    e.causation_id_len = EVS_CORRELATION_ID_MAX;
    evs_page_event e2 = e;
    e2.created_us = INT64_MAX;
    evs_page_event pair[2] = {e, e2};
    evs_page_info info = {.stream = stream,
                          .stream_len = EVS_STREAM_NAME_MAX,
                          .has_current_version = 1,
                          .current_version = INT64_MAX,
                          .next = INT64_MAX,
                          .end = 1};
    round_trip(&info, pair, 2, &b);
    evs_page_info type_page = {.type = type,
                               .type_len = EVS_EVENT_TYPE_MAX,
                               .has_partition = 1,
                               .partition = INT32_MAX,
                               .next = INT64_MAX};
    round_trip(&type_page, pair, 1, &b);
    evs_buf_free(&b);
    free(data);
    free(metadata);
}

static void test_fingerprint(void **state)
{
    (void)state;
    char *text = read_text(EVS_TEST_SCHEMA_DIR "/" EVS_PAGE_SCHEMA_FILE);
    uint64_t fp = 0;
    assert_int_equal(evs_schema_canonical(text, NULL, &fp), 0);
    assert_true(fp == evs_page_fingerprint());
    assert_true(fp == FASTAVRO_FINGERPRINT);
    assert_true(fp != evs_record_fingerprint());
    free(text);
    text = read_text(EVS_TEST_SCHEMA_DIR "/evstore.EventPage.v1.avsc");
    uint64_t fp1 = 0;
    assert_int_equal(evs_schema_canonical(text, NULL, &fp1), 0);
    assert_true(fp1 == FASTAVRO_FINGERPRINT_V1);
    free(text);

    evs_buf b = {0};
    evs_page_encoder enc;
    evs_page_info info = {.has_partition = 1};
    evs_page_encode_begin(&enc, &b, &info);
    assert_int_equal(evs_page_encode_end(&enc, 1, 1), 0);
    assert_int_equal(b.data[0], 0xC3);
    assert_int_equal(b.data[1], 0x01);
    for (int i = 0; i < 8; i++)
        assert_int_equal(b.data[2 + i], (uint8_t)(fp >> (8 * i)));
    evs_buf_free(&b);
}

/* ---- A naive writer, slot by slot ---------------------------------------------------------- */

/* The slots of a page with one event, in wire order. */
enum {
    S_STREAM,
    S_CURRENT_VERSION,
    S_CATEGORY,
    S_TYPE,
    S_PARTITION,
    S_BLOCK,
    S_EV_ID,
    S_EV_STREAM,
    S_EV_TYPE,
    S_EV_VERSION,
    S_EV_POSITION,
    S_EV_PARTITION,
    S_EV_CREATED,
    S_EV_CONTENT_TYPE,
    S_EV_DATA,
    S_EV_METADATA,
    S_EV_CORRELATION,
    S_EV_CAUSATION,
    S_EV_SUBJECT, /* v2 */
    S_EV_ERASED,  /* v2 */
    S_EV_SEALED,  /* v2 */
    S_ARRAY_END,
    S_NEXT,
    S_END,
    S_FIRST_VERSION, /* v2 */
    S_COUNT
};

/* Whether a slot is in v1 pages too. */
static int slot_in_v1(int slot)
{
    return slot != S_EV_SUBJECT && slot != S_EV_ERASED && slot != S_EV_SEALED &&
           slot != S_FIRST_VERSION;
}

typedef struct wbuf {
    uint8_t *p;
    size_t len;
} wbuf;

static void w_raw(wbuf *w, const void *p, size_t n)
{
    w->p = realloc(w->p, w->len + n + 1);
    assert_non_null(w->p);
    if (n)
        memcpy(w->p + w->len, p, n);
    w->len += n;
}

static void w_long(wbuf *w, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    do {
        uint8_t b = (uint8_t)(z & 0x7F);
        z >>= 7;
        if (z)
            b |= 0x80;
        w_raw(w, &b, 1);
    } while (z);
}

static void w_str(wbuf *w, const char *s)
{
    w_long(w, (int64_t)strlen(s));
    w_raw(w, s, strlen(s));
}

/* A bad slot: its replacement bytes. */
typedef struct bad {
    int slot; /* -1: none */
    const uint8_t *bytes;
    size_t len;
} bad;

static void w_slot(wbuf *w, int slot, const bad *x)
{
    if (x && x->slot == slot) {
        w_raw(w, x->bytes, x->len);
        return;
    }
    switch (slot) {
    case S_STREAM:
        w_long(w, 1);
        w_str(w, "Order-1");
        break;
    case S_CURRENT_VERSION:
        w_long(w, 1);
        w_long(w, 300);
        break;
    case S_CATEGORY:
        w_long(w, 0);
        break;
    case S_TYPE:
        w_long(w, 0);
        break;
    case S_PARTITION:
        w_long(w, 0);
        break;
    case S_BLOCK:
        w_long(w, 1);
        break;
    case S_EV_ID:
        w_str(w, ID1);
        break;
    case S_EV_STREAM:
        w_str(w, "Order-1");
        break;
    case S_EV_TYPE:
        w_str(w, "OrderPlaced");
        break;
    case S_EV_VERSION:
        w_long(w, 300);
        break;
    case S_EV_POSITION:
        w_long(w, 1000000);
        break;
    case S_EV_PARTITION:
        w_long(w, 2);
        break;
    case S_EV_CREATED:
        w_long(w, 1795860000123456);
        break;
    case S_EV_CONTENT_TYPE:
        w_str(w, "application/json");
        break;
    case S_EV_DATA:
        w_str(w, "{\"total\":12}");
        break;
    case S_EV_METADATA:
        w_long(w, 1);
        w_str(w, "{}");
        break;
    case S_EV_CORRELATION:
        w_long(w, 1);
        w_str(w, "c-1");
        break;
    case S_EV_CAUSATION:
        w_long(w, 0);
        break;
    case S_EV_SUBJECT:
        w_long(w, 1);
        w_str(w, "customer:7@eu");
        break;
    case S_EV_ERASED:
        w_raw(w, "\x00", 1);
        break;
    case S_EV_SEALED:
        w_raw(w, "\x00", 1);
        break;
    case S_ARRAY_END:
        w_long(w, 0);
        break;
    case S_NEXT:
        w_long(w, 301);
        break;
    case S_END:
        w_raw(w, "\x01", 1);
        break;
    case S_FIRST_VERSION:
        w_long(w, 1);
        w_long(w, 299);
        break;
    }
}

/* A page of the current schema (v2), or with v1 a page of EventPage v1 (its fingerprint,
 * none of v2's slots). */
static wbuf w_page_version(const bad *x, int v1)
{
    wbuf w = {0};
    uint64_t fp = v1 ? FASTAVRO_FINGERPRINT_V1 : evs_page_fingerprint();
    uint8_t header[10] = {0xC3, 0x01};
    for (int i = 0; i < 8; i++)
        header[2 + i] = (uint8_t)(fp >> (8 * i));
    w_raw(&w, header, 10);
    for (int s = 0; s < S_COUNT; s++)
        if (!v1 || slot_in_v1(s))
            w_slot(&w, s, x);
    return w;
}

static wbuf w_page(const bad *x)
{
    return w_page_version(x, 0);
}

static int decode(const wbuf *w, char *err, size_t err_len)
{
    evs_page_info info;
    return evs_page_decode(w->p, w->len, &info, NULL, NULL, err, err_len);
}

/* Decodes the page with slot replaced by bytes; it must fail with code (and a message). */
static void expect_bad(int slot, const void *bytes, size_t len, int code, const char *what)
{
    bad x = {slot, bytes, len};
    wbuf w = w_page(&x);
    char err[256] = "";
    int rc = decode(&w, err, sizeof err);
    if (rc != code)
        fail_msg("%s: decode returned %d (%s), expected %d", what, rc, err, code);
    assert_true(err[0] != '\0');
    free(w.p);
}

static void test_naive_writer_agrees(void **state)
{
    (void)state;
    wbuf w = w_page(NULL);
    char err[256] = "";
    evs_page_info info;
    collected *c = calloc(1, sizeof *c);
    assert_non_null(c);
    if (evs_page_decode(w.p, w.len, &info, collect, c, err, sizeof err) != 0)
        fail_msg("the naive page does not decode: %s", err);
    assert_int_equal(c->count, 1);

    /* The encoder writes the same bytes for the same values. */
    evs_buf b = {0};
    evs_page_encoder enc;
    evs_page_encode_begin(&enc, &b, &info);
    evs_page_encode_event(&enc, &c->events[0]);
    assert_int_equal(evs_page_encode_end(&enc, info.next, info.end), 0);
    assert_same_bytes(w.p, w.len, b.data, b.len);
    evs_buf_free(&b);
    free(c);
    free(w.p);
}

static void test_truncation_at_every_byte(void **state)
{
    (void)state;
    /* A page with every kind of field set, from the encoder and from the naive writer. */
    evs_page_event e[2] = {make_event(ID1, "Order-1", 1), make_event(ID2, "Order-1", 2)};
    e[0].metadata = (const uint8_t *)"\x00\x01";
    e[0].metadata_len = 2;
    e[0].correlation_id = "corr";
    e[0].correlation_id_len = 4;
    e[1].causation_id = "cause";
    e[1].causation_id_len = 5;
    e[1].created_us = INT64_MIN;
    e[1].version = INT64_MAX;
    evs_page_info info = {.category = "Order",
                          .category_len = 5,
                          .has_partition = 1,
                          .partition = 1,
                          .next = INT64_MAX,
                          .end = 1};
    evs_buf b = {0};
    round_trip(&info, e, 2, &b);
    for (size_t len = 0; len < b.len; len++) {
        evs_page_info got;
        char err[256] = "";
        int rc = evs_page_decode(b.data, len, &got, NULL, NULL, err, sizeof err);
        if (rc == 0)
            fail_msg("a page cut to %zu of %zu bytes decoded", len, b.len);
        assert_true(err[0] != '\0');
        /* A copy on the heap of exactly len bytes, so ASan sees any read beyond it. */
        uint8_t *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, b.data, len);
        assert_int_not_equal(evs_page_decode(copy, len, &got, NULL, NULL, NULL, 0), 0);
        free(copy);
    }
    wbuf w = w_page(NULL);
    for (size_t len = 0; len < w.len; len++) {
        evs_page_info got;
        assert_int_not_equal(evs_page_decode(w.p, len, &got, NULL, NULL, NULL, 0), 0);
    }
    free(w.p);
    evs_buf_free(&b);
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    wbuf w = w_page(NULL);
    w_raw(&w, "\x00", 1);
    char err[256];
    assert_int_equal(decode(&w, err, sizeof err), EVS_RECORD_EMALFORMED);
    assert_non_null(strstr(err, "follow"));
    free(w.p);
}

static void test_bad_magic_and_fingerprint(void **state)
{
    (void)state;
    wbuf w = w_page(NULL);
    char err[256];
    for (int i = 0; i < 10; i++) {
        for (int bit = 0; bit < 8; bit++) {
            w.p[i] ^= (uint8_t)(1u << bit);
            int rc = decode(&w, err, sizeof err);
            assert_int_equal(rc, i < 2 ? EVS_RECORD_EMAGIC : EVS_RECORD_ESCHEMA);
            w.p[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(decode(&w, err, sizeof err), 0);
    /* The append records' fingerprint is not a page's. */
    uint64_t other = evs_record_fingerprint();
    for (int i = 0; i < 8; i++)
        w.p[2 + i] = (uint8_t)(other >> (8 * i));
    assert_int_equal(decode(&w, err, sizeof err), EVS_RECORD_ESCHEMA);
    assert_non_null(strstr(err, "unknown schema"));
    free(w.p);
    /* Shorter than the header, and not even a marker. */
    assert_int_equal(
        evs_page_decode("\xC3\x01\x00", 3, &(evs_page_info){0}, NULL, NULL, err, sizeof err),
        EVS_RECORD_EMAGIC);
    assert_int_equal(
        evs_page_decode("{\"events\":[]}", 13, &(evs_page_info){0}, NULL, NULL, err, sizeof err),
        EVS_RECORD_EMAGIC);
}

static void test_bad_union_branches(void **state)
{
    (void)state;
    static const int unions[] = {S_STREAM,       S_CURRENT_VERSION, S_CATEGORY,
                                 S_TYPE,         S_PARTITION,       S_EV_METADATA,
                                 S_EV_CORRELATION, S_EV_CAUSATION,  S_EV_SUBJECT,
                                 S_FIRST_VERSION};
    static const uint8_t two[] = {0x04}, minus_one[] = {0x01},
                         big[] = {0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    for (size_t i = 0; i < sizeof unions / sizeof unions[0]; i++) {
        expect_bad(unions[i], two, 1, EVS_RECORD_EMALFORMED, "union branch 2");
        expect_bad(unions[i], minus_one, 1, EVS_RECORD_EMALFORMED, "union branch -1");
        expect_bad(unions[i], big, sizeof big, EVS_RECORD_EMALFORMED, "union branch 2^63-1");
    }
    /* A boolean other than 0 or 1. */
    static const uint8_t end2[] = {0x02}, ff[] = {0xFF};
    expect_bad(S_END, end2, 1, EVS_RECORD_EMALFORMED, "end 2");
    expect_bad(S_EV_ERASED, end2, 1, EVS_RECORD_EMALFORMED, "erased 2");
    expect_bad(S_EV_ERASED, ff, 1, EVS_RECORD_EMALFORMED, "erased 0xff");
    expect_bad(S_EV_ERASED, NULL, 0, EVS_RECORD_EMALFORMED, "erased missing");
    expect_bad(S_EV_SEALED, end2, 1, EVS_RECORD_EMALFORMED, "sealed 2");
    expect_bad(S_EV_SEALED, ff, 1, EVS_RECORD_EMALFORMED, "sealed 0xff");
    expect_bad(S_EV_SEALED, NULL, 0, EVS_RECORD_EMALFORMED, "sealed missing");
}

/* Writes a length-prefixed field of n bytes of c (with a union branch first if branch). */
static wbuf field(int branch, int64_t n, char c)
{
    wbuf w = {0};
    if (branch)
        w_long(&w, 1);
    w_long(&w, n);
    for (int64_t i = 0; i < n; i++)
        w_raw(&w, &c, 1);
    return w;
}

static void test_bad_lengths(void **state)
{
    (void)state;
    struct {
        int slot, branch;
        int64_t max;
        char fill;
    } strings[] = {
        {S_STREAM, 1, EVS_STREAM_NAME_MAX, 'a'},
        {S_CATEGORY, 1, EVS_STREAM_NAME_MAX, 'a'},
        {S_TYPE, 1, EVS_EVENT_TYPE_MAX, 'a'},
        {S_EV_ID, 0, EVS_UUID_TEXT_LEN, 'a'},
        {S_EV_STREAM, 0, EVS_STREAM_NAME_MAX, 'a'},
        {S_EV_TYPE, 0, EVS_EVENT_TYPE_MAX, 'a'},
        {S_EV_CONTENT_TYPE, 0, EVS_CONTENT_TYPE_MAX, 'a'},
        {S_EV_DATA, 0, EVS_EVENT_DATA_MAX, 'a'},
        {S_EV_METADATA, 1, EVS_EVENT_METADATA_MAX, 'a'},
        {S_EV_CORRELATION, 1, EVS_CORRELATION_ID_MAX, 'a'},
        {S_EV_CAUSATION, 1, EVS_CORRELATION_ID_MAX, 'a'},
        {S_EV_SUBJECT, 1, EVS_STREAM_NAME_MAX, 'a'},
    };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "slot %d", strings[i].slot);
        /* One byte above the limit, with every byte present. */
        wbuf over = field(strings[i].branch, strings[i].max + 1, strings[i].fill);
        expect_bad(strings[i].slot, over.p, over.len, EVS_RECORD_EMALFORMED, what);
        free(over.p);
        /* A negative length. */
        wbuf neg = {0};
        if (strings[i].branch)
            w_long(&neg, 1);
        w_long(&neg, -1);
        expect_bad(strings[i].slot, neg.p, neg.len, EVS_RECORD_EMALFORMED, what);
        free(neg.p);
        wbuf most_negative = {0};
        if (strings[i].branch)
            w_long(&most_negative, 1);
        w_long(&most_negative, INT64_MIN);
        expect_bad(strings[i].slot, most_negative.p, most_negative.len, EVS_RECORD_EMALFORMED,
                   what);
        free(most_negative.p);
        /* A length far past the end (and past every limit). */
        wbuf past = {0};
        if (strings[i].branch)
            w_long(&past, 1);
        w_long(&past, INT64_MAX);
        expect_bad(strings[i].slot, past.p, past.len, EVS_RECORD_EMALFORMED, what);
        free(past.p);
    }
    /* A length within the limit but past the end: data claims 40 bytes, and only the 34
     * bytes of the page's remaining slots follow (14 of them in v1). */
    static const uint8_t forty[] = {80};
    expect_bad(S_EV_DATA, forty, 1, EVS_RECORD_EMALFORMED, "data past the end");
    /* Empty strings where at least one byte is required. */
    static const uint8_t zero[] = {0x00};
    expect_bad(S_EV_STREAM, zero, 1, EVS_RECORD_EMALFORMED, "empty stream");
    expect_bad(S_EV_TYPE, zero, 1, EVS_RECORD_EMALFORMED, "empty type");
    expect_bad(S_EV_CONTENT_TYPE, zero, 1, EVS_RECORD_EMALFORMED, "empty content type");
    expect_bad(S_EV_ID, zero, 1, EVS_RECORD_EMALFORMED, "empty event id");
}

static void test_bad_varints_and_values(void **state)
{
    (void)state;
    /* Eleven bytes; ten with a last byte above 1; an int of six bytes, or five with a last
     * byte above 0x0F. */
    static const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                     0x80, 0x80, 0x80, 0x80, 0x00};
    static const uint8_t ten_high[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02};
    static const uint8_t int6[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    static const uint8_t int5_high[] = {0x80, 0x80, 0x80, 0x80, 0x10};
    static const uint8_t minus_one[] = {0x01};
    static const int longs[] = {S_EV_VERSION, S_EV_POSITION, S_EV_CREATED, S_NEXT, S_BLOCK};
    static const uint8_t first_eleven[] = {0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                           0x80, 0x80, 0x80, 0x80, 0x00};
    static const uint8_t first_ten_high[] = {0x02, 0x80, 0x80, 0x80, 0x80, 0x80,
                                             0x80, 0x80, 0x80, 0x80, 0x02};
    expect_bad(S_FIRST_VERSION, first_eleven, sizeof first_eleven, EVS_RECORD_EMALFORMED,
               "first_version 11-byte varint");
    expect_bad(S_FIRST_VERSION, first_ten_high, sizeof first_ten_high, EVS_RECORD_EMALFORMED,
               "first_version overflow");
    for (size_t i = 0; i < sizeof longs / sizeof longs[0]; i++) {
        expect_bad(longs[i], eleven, sizeof eleven, EVS_RECORD_EMALFORMED, "11-byte varint");
        expect_bad(longs[i], ten_high, sizeof ten_high, EVS_RECORD_EMALFORMED, "overflow");
    }
    expect_bad(S_EV_PARTITION, int6, sizeof int6, EVS_RECORD_EMALFORMED, "6-byte int");
    expect_bad(S_EV_PARTITION, int5_high, sizeof int5_high, EVS_RECORD_EMALFORMED, "int overflow");
    expect_bad(S_EV_PARTITION, minus_one, 1, EVS_RECORD_EMALFORMED, "negative partition");
    expect_bad(S_EV_VERSION, minus_one, 1, EVS_RECORD_EMALFORMED, "negative version");
    expect_bad(S_EV_POSITION, minus_one, 1, EVS_RECORD_EMALFORMED, "negative position");
    expect_bad(S_NEXT, minus_one, 1, EVS_RECORD_EMALFORMED, "negative next");
    static const uint8_t cv_negative[] = {0x02, 0x01};
    expect_bad(S_CURRENT_VERSION, cv_negative, 2, EVS_RECORD_EMALFORMED, "negative version");
    static const uint8_t partition_negative[] = {0x02, 0x01};
    expect_bad(S_PARTITION, partition_negative, 2, EVS_RECORD_EMALFORMED, "negative partition");
    static const uint8_t first_negative[] = {0x02, 0x01}, first_missing[] = {0x02};
    expect_bad(S_FIRST_VERSION, first_negative, 2, EVS_RECORD_EMALFORMED,
               "negative first_version");
    expect_bad(S_FIRST_VERSION, first_missing, 1, EVS_RECORD_EMALFORMED,
               "first_version branch 1 without its long");
    expect_bad(S_FIRST_VERSION, NULL, 0, EVS_RECORD_EMALFORMED, "first_version missing");

    /* Not a UUID; not a stream name; not an event type. */
    wbuf w = {0};
    w_str(&w, "0f8fad5b-d9cb-469f-a165-70867728950z");
    expect_bad(S_EV_ID, w.p, w.len, EVS_RECORD_EMALFORMED, "bad uuid");
    free(w.p);
    w = (wbuf){0};
    w_str(&w, "$all");
    expect_bad(S_EV_STREAM, w.p, w.len, EVS_RECORD_EMALFORMED, "bad stream");
    free(w.p);
    w = (wbuf){0};
    w_str(&w, "a b");
    expect_bad(S_EV_TYPE, w.p, w.len, EVS_RECORD_EMALFORMED, "bad type");
    free(w.p);
    /* Subjects have the rule of stream names. */
    static const char *const bad_subjects[] = {"a b", "$x", "a/b", "\xc3\xa9", ""};
    for (size_t i = 0; i < sizeof bad_subjects / sizeof bad_subjects[0]; i++) {
        w = (wbuf){0};
        w_long(&w, 1);
        w_str(&w, bad_subjects[i]);
        expect_bad(S_EV_SUBJECT, w.p, w.len, EVS_RECORD_EMALFORMED, "bad subject");
        free(w.p);
    }
}

static void test_block_counts(void **state)
{
    (void)state;
    /* More events than a read may return; negative counts beyond the limit. */
    wbuf w = {0};
    w_long(&w, EVS_READ_LIMIT_MAX + 1);
    expect_bad(S_BLOCK, w.p, w.len, EVS_RECORD_EMALFORMED, "too many events");
    free(w.p);
    w = (wbuf){0};
    w_long(&w, -(int64_t)EVS_READ_LIMIT_MAX - 1);
    expect_bad(S_BLOCK, w.p, w.len, EVS_RECORD_EMALFORMED, "too many events (negative)");
    free(w.p);
    w = (wbuf){0};
    w_long(&w, INT64_MIN);
    expect_bad(S_BLOCK, w.p, w.len, EVS_RECORD_EMALFORMED, "INT64_MIN events");
    free(w.p);
    /* A count of 2 with one event: the second starts where the array's end is. */
    w = (wbuf){0};
    w_long(&w, 2);
    expect_bad(S_BLOCK, w.p, w.len, EVS_RECORD_EMALFORMED, "count beyond the events");
    free(w.p);
    /* A negative count is valid Avro: -1 item, then the block's size in bytes. */
    wbuf good = w_page(NULL);
    evs_page_info info;
    assert_int_equal(decode(&good, NULL, 0), 0);
    w = (wbuf){0};
    w_long(&w, -1);
    w_long(&w, 10);
    bad x = {S_BLOCK, w.p, w.len};
    wbuf negative = w_page(&x);
    char err[256] = "";
    if (evs_page_decode(negative.p, negative.len, &info, NULL, NULL, err, sizeof err) != 0)
        fail_msg("a negative block count does not decode: %s", err);
    assert_int_equal(info.event_count, 1);
    free(negative.p);
    free(w.p);
    /* ... but not a size past the end, nor a negative size. */
    w = (wbuf){0};
    w_long(&w, -1);
    w_long(&w, 100000);
    expect_bad(S_BLOCK, w.p, w.len, EVS_RECORD_EMALFORMED, "block size past the end");
    free(w.p);
    w = (wbuf){0};
    w_long(&w, -1);
    w_long(&w, -5);
    expect_bad(S_BLOCK, w.p, w.len, EVS_RECORD_EMALFORMED, "negative block size");
    free(w.p);
    free(good.p);
}

/* Metadata present but empty (the union's bytes branch, length 0) is no metadata: decoded as
 * NULL, as the encoder writes it, so the page re-encodes to the canonical form (found by
 * fuzz_page_decode: the regression input is tests/fuzz/regressions/fuzz_page_decode/). */
static void test_empty_metadata_is_none(void **state)
{
    (void)state;
    wbuf empty = field(1, 0, 'x');
    bad x = {S_EV_METADATA, empty.p, empty.len};
    wbuf w = w_page(&x);
    collected *c = calloc(2, sizeof *c), *again = c + 1;
    assert_non_null(c);
    evs_page_info info;
    char err[256];
    assert_int_equal(evs_page_decode(w.p, w.len, &info, collect, c, err, sizeof err), 0);
    assert_int_equal(c->count, 1);
    assert_null(c->events[0].metadata);
    assert_int_equal(c->events[0].metadata_len, 0);

    evs_buf once = {0};
    evs_page_encoder enc;
    evs_page_encode_begin(&enc, &once, &info);
    evs_page_encode_event(&enc, &c->events[0]);
    assert_int_equal(evs_page_encode_end(&enc, info.next, info.end), 0);
    evs_page_info info2;
    assert_int_equal(evs_page_decode(once.data, once.len, &info2, collect, again, err, sizeof err),
                     0);
    assert_int_equal(again->count, 1);
    assert_null(again->events[0].metadata);
    assert_int_equal(once.len, w.len - 1); /* null branch (1 byte) for branch + length (2) */
    evs_buf_free(&once);
    free(c);
    free(empty.p);
    free(w.p);
}

static int stop_at_first(void *ctx, const evs_page_event *e)
{
    (void)e;
    (*(int *)ctx)++;
    return 42;
}

static void test_visitor_stops(void **state)
{
    (void)state;
    wbuf w = w_page(NULL);
    int calls = 0;
    evs_page_info info;
    assert_int_equal(evs_page_decode(w.p, w.len, &info, stop_at_first, &calls, NULL, 0), 42);
    assert_int_equal(calls, 1);
    free(w.p);
}

/* ---- EventPage v2 and v1 ------------------------------------------------------------------- */

#define GOLDEN_V2_PAGE_HEX                                                                         \
    "c301f621ca1b558cd1350216437573746f6d65722d3432020c000000064830663866616435622d643963622d"     \
    "343639662d613136352d37303836373732383935306516437573746f6d65722d343214526567697374657265"     \
    "6408d0010480a9fdd5e7d4b006206170706c69636174696f6e2f6a736f6e1c7b226e616d65223a22416e6e22"     \
    "7d0000000216637573746f6d65723a343200004837633965363637392d373432352d343064652d393434622d"     \
    "65303766633166393061653716437573746f6d65722d343214526567697374657265640ad2010480a9fdd5e7"     \
    "d4b006206170706c69636174696f6e2f6a736f6e000000000216637573746f6d65723a343201004830663866"     \
    "616435622d643963622d343639662d613136352d37303836373732383935306516437573746f6d65722d3432"     \
    "164f72646572506c616365640cd4010480a9fdd5e7d4b006206170706c69636174696f6e2f6a736f6e000000"     \
    "000216637573746f6d65723a34320001000e010208"

/* subject, erased, sealed and first_version round trip, and the encoder writes what fastavro
 * does: a page of an opened, an erased and a sealed event (the two last with empty data). */
static void test_v2_fields(void **state)
{
    (void)state;
    evs_buf b = {0};
    evs_page_event e[3] = {make_event(ID1, "Customer-42", 4), make_event(ID2, "Customer-42", 5),
                           make_event(ID1, "Customer-42", 6)};
    for (int i = 0; i < 3; i++) {
        e[i].position = e[i].version + 100;
        e[i].partition = 2;
    }
    e[0].subject = "customer:42";
    e[0].subject_len = 11;
    e[0].type = e[1].type = "Registered";
    e[0].type_len = e[1].type_len = 10;
    e[0].data = e[1].data = (const uint8_t *)"{\"name\":\"Ann\"}";
    e[0].data_len = 14;
    e[1].subject = "customer:42";
    e[1].subject_len = 11;
    e[1].erased = 1;
    e[1].data_len = 0;
    e[2].subject = "customer:42";
    e[2].subject_len = 11;
    e[2].sealed = 1;
    e[2].data_len = 0;
    evs_page_info info = {.stream = "Customer-42",
                          .stream_len = 11,
                          .has_current_version = 1,
                          .current_version = 6,
                          .has_first_version = 1,
                          .first_version = 4,
                          .next = 7,
                          .end = 1};
    round_trip(&info, e, 3, &b);
    uint8_t golden[sizeof GOLDEN_V2_PAGE_HEX / 2];
    size_t golden_len = sizeof golden;
    for (size_t i = 0; i < golden_len; i++) {
        unsigned v;
        assert_int_equal(sscanf(GOLDEN_V2_PAGE_HEX + 2 * i, "%2x", &v), 1);
        golden[i] = (uint8_t)v;
    }
    assert_same_bytes(golden, golden_len, b.data, b.len);

    /* Other values: a subject of the longest length (sealed), erased without a subject, erased
     * and sealed together (the codec keeps each flag; any non-zero value is written as 1),
     * first_version 0 and INT64_MAX, and none; also on pages without events. */
    static char subject[EVS_STREAM_NAME_MAX + 1];
    memset(subject, 'k', EVS_STREAM_NAME_MAX);
    e[2].subject = subject;
    e[2].subject_len = EVS_STREAM_NAME_MAX;
    e[0].subject = NULL;
    e[0].subject_len = 0;
    e[0].erased = 1;
    e[1].sealed = 7;
    const uint64_t firsts[] = {0, 1, 127, 128, INT64_MAX};
    for (size_t i = 0; i < sizeof firsts / sizeof firsts[0]; i++) {
        info.first_version = firsts[i];
        round_trip(&info, e, 3, &b);
        round_trip(&info, e, 0, &b);
        round_trip(&info, e, 1, &b);
    }
    info.has_first_version = 0;
    round_trip(&info, e, 3, &b);
    round_trip(&info, e, 0, &b);
    /* The encoder parks first_version where the block count goes (page_codec.c), then
     * moves the events by the difference: counts shorter than what it parked (2 bytes for
     * 1000 or 64 events; 12 and 3 bytes parked for first_version INT64_MAX and 1). */
    static evs_page_event many[1000];
    for (size_t i = 0; i < 1000; i++)
        many[i] = e[i % 3];
    info.has_first_version = 1;
    info.first_version = INT64_MAX;
    round_trip(&info, many, 1000, &b);
    info.first_version = 1;
    round_trip(&info, many, 64, &b);
    /* ... and a count longer than it: 8192 events (3 bytes: 80 80 01) without first_version
     * (2 bytes parked). */
    static evs_page_event lots[8192];
    for (size_t i = 0; i < 8192; i++)
        lots[i] = e[0];
    evs_page_info all = {.has_partition = 1, .next = 9, .end = 1};
    evs_page_encoder enc;
    evs_page_encode_begin(&enc, &b, &all);
    evs_page_encode_event(&enc, &lots[0]);
    assert_int_equal(evs_page_encode_end(&enc, all.next, all.end), 0);
    size_t one = b.len - 16 - 1 - 4; /* minus header fields, count 02, tail 00 12 01 00 */
    evs_page_encode_begin(&enc, &b, &all);
    for (size_t i = 0; i < 8192; i++)
        evs_page_encode_event(&enc, &lots[i]);
    assert_int_equal(evs_page_encode_end(&enc, all.next, all.end), 0);
    assert_int_equal(b.len, 16 + 3 + 8192 * one + 4);
    assert_memory_equal(b.data + 16, "\x80\x80\x01", 3);
    assert_memory_equal(b.data + b.len - 4, "\x00\x12\x01\x00", 4);
    char err[256];
    if (evs_page_decode(b.data, b.len, &all, NULL, NULL, err, sizeof err) != 0)
        fail_msg("the page of 8192 events does not decode: %s", err);
    assert_int_equal(all.event_count, 8192);
    assert_int_equal(all.has_first_version, 0);
    evs_buf_free(&b);
}

/* A page of an older projector (EventPage v1) decodes, with the defaults of v2's fields. */
static void test_v1_page(void **state)
{
    (void)state;
    wbuf w = w_page_version(NULL, 1);
    collected *c = calloc(1, sizeof *c);
    assert_non_null(c);
    evs_page_info info;
    char err[256] = "";
    if (evs_page_decode(w.p, w.len, &info, collect, c, err, sizeof err) != 0)
        fail_msg("a v1 page does not decode: %s", err);
    assert_int_equal(c->count, 1);
    assert_null(c->events[0].subject);
    assert_int_equal(c->events[0].subject_len, 0);
    assert_int_equal(c->events[0].erased, 0);
    assert_int_equal(c->events[0].sealed, 0);
    assert_int_equal(info.has_first_version, 0);
    assert_int_equal(info.next, 301);
    assert_int_equal(info.end, 1);
    assert_same_bytes(c->events[0].correlation_id, c->events[0].correlation_id_len, "c-1", 3);

    /* It is the v2 page without v2's fields: re-encoded, it is the v2 page with them null. */
    evs_buf b = {0};
    evs_page_encoder enc;
    evs_page_encode_begin(&enc, &b, &info);
    evs_page_encode_event(&enc, &c->events[0]);
    assert_int_equal(evs_page_encode_end(&enc, info.next, info.end), 0);
    static const uint8_t no_subject[] = {0x00};
    bad x = {S_EV_SUBJECT, no_subject, 1};
    wbuf v2 = w_page(&x);
    /* The naive v2 page ends with first_version 299 (02 d6 04), the re-encoded one with
     * null (00): the same bytes before those. */
    assert_int_equal(b.len, v2.len - 2);
    assert_memory_equal(b.data, v2.p, b.len - 1);
    assert_int_equal(b.data[b.len - 1], 0x00);
    assert_memory_equal(v2.p + v2.len - 3, "\x02\xd6\x04", 3);
    evs_buf_free(&b);
    free(v2.p);

    /* v1 pages are strict too: a v2 field in a v1 page is trailing bytes; every cut fails. */
    w_raw(&w, "\x00", 1);
    assert_int_equal(decode(&w, err, sizeof err), EVS_RECORD_EMALFORMED);
    assert_non_null(strstr(err, "follow"));
    for (size_t len = 0; len + 1 < w.len; len++) {
        evs_page_info got;
        assert_int_not_equal(evs_page_decode(w.p, len, &got, NULL, NULL, NULL, 0), 0);
    }
    free(w.p);
    /* A v2 page under the v1 fingerprint has bytes v1 does not know. */
    w = w_page(NULL);
    for (int i = 0; i < 8; i++)
        w.p[2 + i] = (uint8_t)(FASTAVRO_FINGERPRINT_V1 >> (8 * i));
    assert_int_equal(decode(&w, err, sizeof err), EVS_RECORD_EMALFORMED);
    free(w.p);
    free(c);
}

/* ---- event_page.c: the page as an evs_event_list ------------------------------------------ */

static void test_event_list_from_page(void **state)
{
    (void)state;
    uint8_t binary[5] = {0, 'a', 0, 'b', 0xFF};
    evs_page_event e[2] = {make_event(ID1, "Blob-1", 1), make_event(ID2, "Blob-1", 2)};
    e[0].data = binary;
    e[0].data_len = sizeof binary;
    e[0].metadata = binary;
    e[0].metadata_len = 2;
    e[0].correlation_id = "c";
    e[0].correlation_id_len = 1;
    e[1].data_len = 0;
    e[1].data = NULL;
    e[1].causation_id = "cause";
    e[1].causation_id_len = 5;
    evs_buf b = {0};
    evs_page_info info = {.stream = "Blob-1",
                          .stream_len = 6,
                          .has_current_version = 1,
                          .current_version = 2,
                          .next = 3,
                          .end = 1};
    round_trip(&info, e, 2, &b);
    evs_event_list *list = NULL;
    assert_int_equal(evs__event_list_from_page(b.data, b.len, &list), 0);
    assert_non_null(list);
    assert_int_equal(list->count, 2);
    assert_int_equal(list->next, 3);
    assert_int_equal(list->end_of_stream, 1);
    evs_event *x = &list->events[0];
    assert_string_equal(x->event_id, ID1);
    assert_string_equal(x->stream, "Blob-1");
    assert_string_equal(x->type, "OrderPlaced");
    assert_string_equal(x->content_type, "application/json");
    assert_int_equal(x->version, 1);
    assert_int_equal(x->position, 11);
    assert_int_equal(x->created_us, 1795860000123456);
    assert_int_equal(x->data_len, 5);
    assert_memory_equal(x->data, binary, 5);
    assert_int_equal(((char *)x->data)[5], 0); /* NUL after the payload */
    assert_int_equal(x->metadata_len, 2);
    assert_memory_equal(x->metadata, binary, 2);
    assert_string_equal(x->correlation_id, "c");
    assert_null(x->causation_id);
    x = &list->events[1];
    assert_string_equal(x->event_id, ID2);
    assert_int_equal(x->data_len, 0);
    assert_non_null(x->data);
    assert_null(x->metadata);
    assert_int_equal(x->metadata_len, 0);
    assert_null(x->correlation_id);
    assert_string_equal(x->causation_id, "cause");
    evs_event_list_free(list);

    /* Malformed: EVS_EPROTOCOL with the decoder's message, and no list. */
    list = (evs_event_list *)&info;
    assert_int_equal(evs__event_list_from_page(b.data, b.len - 1, &list), EVS_EPROTOCOL);
    assert_null(list);
    assert_non_null(strstr(evs_last_error(), "not a valid event page"));

    /* An empty page. */
    evs_page_info empty = {.has_partition = 1, .next = 1};
    round_trip(&empty, NULL, 0, &b);
    assert_int_equal(evs__event_list_from_page(b.data, b.len, &list), 0);
    assert_int_equal(list->count, 0);
    assert_null(list->events);
    assert_int_equal(list->end_of_stream, 0);
    evs_event_list_free(list);
    evs_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_pages),
        cmocka_unit_test(test_one_event),
        cmocka_unit_test(test_thousand_events),
        cmocka_unit_test(test_binary_and_empty_payloads),
        cmocka_unit_test(test_max_size_values),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_naive_writer_agrees),
        cmocka_unit_test(test_truncation_at_every_byte),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_bad_magic_and_fingerprint),
        cmocka_unit_test(test_bad_union_branches),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_bad_varints_and_values),
        cmocka_unit_test(test_block_counts),
        cmocka_unit_test(test_empty_metadata_is_none),
        cmocka_unit_test(test_visitor_stops),
        cmocka_unit_test(test_v2_fields),
        cmocka_unit_test(test_v1_page),
        cmocka_unit_test(test_event_list_from_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
