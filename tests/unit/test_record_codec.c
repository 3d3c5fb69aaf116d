/*
 * test_record_codec.c - unit tests of schemas/: the append record codec, Parsing Canonical
 * Form and fingerprints, validation rules, UUIDs, and schema evolution.
 *
 * Expected values that prove interoperability were computed independently with Python's
 * fastavro 1.13.1 (pip install fastavro), not with this code:
 *   fastavro.schema.to_parsing_canonical_form(schema) and
 *   fastavro.schema.fingerprint(canonical, "CRC-64-AVRO") (a hex string of the fingerprint's
 *   little-endian bytes, which we turn into the uint64 below), and
 *   fastavro.schemaless_writer(...) for the golden record bytes (GOLDEN_HEX).
 * The fingerprint of "null" is also the Avro project's own test vector (0x63dd24e7cc258f8a).
 *
 * Data files: EVS_TEST_DATA_DIR (tests/data) holds the older and newer writer schemas of the
 * evolution tests; EVS_TEST_SCHEMA_DIR is schemas/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <avro.h>
#include <jansson.h>
#include <pthread.h>

#include "record_codec.h"
#include "test_files.h"

#ifndef EVS_TEST_DATA_DIR
#error "EVS_TEST_DATA_DIR must name tests/data"
#endif
#ifndef EVS_TEST_SCHEMA_DIR
#error "EVS_TEST_SCHEMA_DIR must name schemas/"
#endif

/* ---- Helpers ------------------------------------------------------------------------- */

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

static void id_from(uint8_t id[16], const char *text)
{
    assert_int_equal(evs_uuid_parse(text, strlen(text), id), 0);
}

/* n times c, NUL-terminated, in a static buffer (the last call wins). */
static char big_text[EVS_STREAM_NAME_MAX + 2];

static const char *repeat(char c, size_t n)
{
    assert_true(n < sizeof big_text);
    memset(big_text, c, n);
    big_text[n] = '\0';
    return big_text;
}

/* A request with up to MAX_EVENTS events whose buffers live in the struct. */
#define MAX_EVENTS 1000
typedef struct sample {
    evs_append_request req;
    evs_record_event events[MAX_EVENTS];
    char types[MAX_EVENTS][32];
    uint8_t data[MAX_EVENTS][24];
    char corr[MAX_EVENTS][32];
} sample;

/* Event i of a sample: varied, binary data with zeros, optional ids sometimes absent. */
static void sample_init(sample *s, size_t count)
{
    memset(s, 0, sizeof *s);
    id_from(s->req.append_id, "0f8fad5b-d9cb-469f-a165-70867728950e");
    s->req.stream = "Order-7";
    s->req.stream_len = 7;
    s->req.expected_kind = EVS_EXPECT_EXACT;
    s->req.expected_version = 41;
    s->req.events = s->events;
    s->req.event_count = count;
    for (size_t i = 0; i < count; i++) {
        evs_record_event *e = &s->events[i];
        for (int b = 0; b < 16; b++)
            e->event_id[b] = (uint8_t)(i * 31 + b * 7 + (i >> 8));
        e->event_id[0] = (uint8_t)i;
        e->event_id[1] = (uint8_t)(i >> 8);
        snprintf(s->types[i], sizeof s->types[i], "Type.%zu", i);
        e->type = s->types[i];
        e->type_len = strlen(s->types[i]);
        e->content_type = i % 2 ? "application/octet-stream" : "application/json";
        e->content_type_len = strlen(e->content_type);
        for (size_t b = 0; b < sizeof s->data[i]; b++)
            s->data[i][b] = (uint8_t)(b % 3 == 0 ? 0 : i * 13 + b);
        e->data = s->data[i];
        e->data_len = i % sizeof s->data[i];
        if (i % 3 != 0) {
            e->metadata = (const uint8_t *)"{\"m\":\"\\u0000\"}";
            e->metadata_len = 14;
        }
        if (i % 4 != 1) {
            snprintf(s->corr[i], sizeof s->corr[i], "corr-%zu", i);
            e->correlation_id = s->corr[i];
            e->correlation_id_len = strlen(s->corr[i]);
        }
        if (i % 5 == 2) {
            e->causation_id = "";
            e->causation_id_len = 0;
        }
        e->created_us = i % 2 ? (int64_t)1700000000000000 + (int64_t)i : -(int64_t)i;
    }
}

/* Gives every other event of a sample (0, 2, ...) a subject, key id and data nonce, with
 * sealed data of 16.. bytes (the tag and more), and every fourth one sealed metadata too. */
static void sample_seal(sample *s)
{
    static const char *const subjects[] = {"customer:42@eu", "u", "Az09_.:@-"};
    for (size_t i = 0; i < s->req.event_count; i += 2) {
        evs_record_event *e = &s->events[i];
        e->subject = subjects[i / 2 % 3];
        e->subject_len = strlen(e->subject);
        for (int b = 0; b < 16; b++)
            e->key_id[b] = (uint8_t)(0xa0 + i + (size_t)b);
        for (int b = 0; b < 24; b++)
            e->data_nonce[b] = (uint8_t)(i * 3 + (size_t)b);
        e->data_len = 16 + i % 9;
        if (i % 4 == 0) {
            e->metadata = (const uint8_t *)"0123456789abcdef+sealed";
            e->metadata_len = 16 + i % 8;
            e->metadata_sealed = 1;
            for (int b = 0; b < 24; b++)
                e->metadata_nonce[b] = (uint8_t)(0xff - i - (size_t)b);
        }
    }
}

static void assert_blob_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    assert_int_equal(alen, blen);
    if (alen > 0)
        assert_memory_equal(a, b, alen);
}

/* Optional strings: both absent, or both present and equal. */
static void assert_opt_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    if (a == NULL || b == NULL) {
        assert_null(a);
        assert_null(b);
        return;
    }
    assert_blob_equal(a, alen, b, blen);
}

static void assert_requests_equal(const evs_append_request *a, const evs_append_request *b)
{
    assert_memory_equal(a->append_id, b->append_id, 16);
    assert_blob_equal(a->stream, a->stream_len, b->stream, b->stream_len);
    assert_int_equal(a->expected_kind, b->expected_kind);
    assert_int_equal(a->expected_version, b->expected_version);
    assert_int_equal(a->event_count, b->event_count);
    assert_int_equal(a->operation, b->operation);
    assert_int_equal(a->truncate_before, b->truncate_before);
    assert_int_equal(a->max_count, b->max_count);
    assert_int_equal(a->max_age_ms, b->max_age_ms);
    for (size_t i = 0; i < a->event_count; i++) {
        const evs_record_event *x = &a->events[i], *y = &b->events[i];
        assert_memory_equal(x->event_id, y->event_id, 16);
        assert_blob_equal(x->type, x->type_len, y->type, y->type_len);
        assert_blob_equal(x->content_type, x->content_type_len, y->content_type,
                          y->content_type_len);
        assert_blob_equal(x->data, x->data_len, y->data, y->data_len);
        assert_blob_equal(x->metadata, x->metadata_len, y->metadata, y->metadata_len);
        assert_opt_equal(x->correlation_id, x->correlation_id_len, y->correlation_id,
                         y->correlation_id_len);
        assert_opt_equal(x->causation_id, x->causation_id_len, y->causation_id,
                         y->causation_id_len);
        assert_int_equal(x->created_us, y->created_us);
        assert_opt_equal(x->subject, x->subject_len, y->subject, y->subject_len);
        if (x->subject != NULL) {
            assert_memory_equal(x->key_id, y->key_id, 16);
            assert_memory_equal(x->data_nonce, y->data_nonce, 24);
        }
        assert_int_equal(x->metadata_sealed != 0, y->metadata_sealed != 0);
        if (x->metadata_sealed)
            assert_memory_equal(x->metadata_nonce, y->metadata_nonce, 24);
        assert_int_equal(x->key_id_mismatch, y->key_id_mismatch);
        assert_int_equal(x->data_nonce_mismatch, y->data_nonce_mismatch);
    }
}

/* evs_record_decode, checked against the generic path (evs__record_decode_generic, which
 * never takes the fast path for current-schema records): the same code, the same message,
 * the same request field by field. Every decode in these tests goes through here. */
static int decode_both(const void *p, size_t len, evs_append_request **out, char *err,
                       size_t err_len)
{
    char gerr[256] = "unset";
    evs_append_request *generic = (evs_append_request *)gerr;
    int rc = evs_record_decode(p, len, out, err, err_len);
    int grc = evs__record_decode_generic(p, len, &generic, gerr, sizeof gerr);
    if (rc != grc)
        fail_msg("fast path %d (%s), generic path %d (%s)", rc, err ? err : "", grc, gerr);
    if (err != NULL && err_len > 0 && strncmp(err, gerr, err_len - 1) != 0)
        fail_msg("messages differ: \"%s\" vs \"%s\"", err, gerr);
    if (rc == EVS_RECORD_OK) {
        assert_requests_equal(*out, generic);
        for (size_t i = 0; i < generic->event_count; i++)
            assert_int_equal((*out)->events[i].metadata == NULL,
                             generic->events[i].metadata == NULL);
        evs_append_request_free(generic);
    } else {
        assert_null(generic);
    }
    return rc;
}

static void encode_ok(const evs_append_request *req, evs_buf *out)
{
    assert_int_equal(evs_record_encode(req, out), EVS_RECORD_OK);
    assert_int_equal(out->len, evs_record_encoded_size(req));
}

static evs_append_request *decode_ok(const void *p, size_t len)
{
    char err[256];
    evs_append_request *req = NULL;
    int rc = decode_both(p, len, &req, err, sizeof err);
    if (rc != EVS_RECORD_OK)
        fail_msg("decode failed (%d): %s", rc, err);
    assert_non_null(req);
    return req;
}

/* Decodes and expects code; err must contain want (if not NULL). */
static void decode_fails(const void *p, size_t len, int code, const char *want)
{
    char err[256] = "unset";
    evs_append_request *req = (evs_append_request *)&err; /* must be reset to NULL */
    int rc = decode_both(p, len, &req, err, sizeof err);
    if (rc != code)
        fail_msg("expected %d, got %d (%s)", code, rc, err);
    assert_null(req);
    assert_true(strlen(err) > 0);
    if (want != NULL && strstr(err, want) == NULL)
        fail_msg("message \"%s\" does not contain \"%s\"", err, want);
}

/* ---- Canonical form and fingerprints ------------------------------------------------- */

static void test_canonical_small_schema(void **state)
{
    (void)state;
    /* doc, aliases, defaults, a namespace reset to "", a dotted name, a reference by short
     * name, an object-form primitive and a logical type. */
    const char *schema =
        "{\"type\": \"record\", \"name\": \"Point\", \"namespace\": \"geo\", \"doc\": \"d\", "
        "\"aliases\": [\"P\"], \"fields\": [{\"name\": \"x\", \"type\": {\"type\": \"int\"}, "
        "\"default\": 0, \"doc\": \"x\"}, {\"name\": \"tag\", \"type\": {\"type\": \"enum\", "
        "\"name\": \"Tag\", \"symbols\": [\"A\", \"B\"], \"default\": \"A\"}}, {\"name\": "
        "\"t2\", \"type\": \"Tag\"}, {\"name\": \"h\", \"type\": {\"type\": \"fixed\", "
        "\"name\": \"other.H\", \"size\": 4}}, {\"name\": \"m\", \"type\": {\"type\": \"map\", "
        "\"values\": [\"null\", \"other.H\", {\"type\": \"long\", \"logicalType\": "
        "\"timestamp-micros\"}]}}, {\"name\": \"n\", \"type\": {\"type\": \"record\", "
        "\"name\": \"Inner\", \"namespace\": \"\", \"fields\": []}}]}";
    /* From fastavro 1.13.1 to_parsing_canonical_form / fingerprint (hex 13c5e920981fe012,
     * little-endian bytes). */
    const char *expected =
        "{\"name\":\"geo.Point\",\"type\":\"record\",\"fields\":[{\"name\":\"x\",\"type\":"
        "\"int\"},{\"name\":\"tag\",\"type\":{\"name\":\"geo.Tag\",\"type\":\"enum\","
        "\"symbols\":[\"A\",\"B\"]}},{\"name\":\"t2\",\"type\":\"geo.Tag\"},{\"name\":\"h\","
        "\"type\":{\"name\":\"other.H\",\"type\":\"fixed\",\"size\":4}},{\"name\":\"m\","
        "\"type\":{\"type\":\"map\",\"values\":[\"null\",\"other.H\",\"long\"]}},{\"name\":"
        "\"n\",\"type\":{\"name\":\"Inner\",\"type\":\"record\",\"fields\":[]}}]}";
    char *canonical = NULL;
    uint64_t fp = 0;
    assert_int_equal(evs_schema_canonical(schema, &canonical, &fp), 0);
    assert_string_equal(canonical, expected);
    assert_int_equal(fp, UINT64_C(0x12e01f9820e9c513));
    free(canonical);
}

static void test_canonical_primitives(void **state)
{
    (void)state;
    struct {
        const char *schema, *canonical;
        uint64_t fp;
    } cases[] = {
        /* The Avro spec's test vector, also fastavro: 8a8f25cce724dd63. */
        {"\"null\"", "\"null\"", UINT64_C(0x63dd24e7cc258f8a)},
        {" \"int\" ", "\"int\"", UINT64_C(0x7275d51a3f395c8f)}, /* 8f5c393f1ad57572 */
        {"{\"type\":\"string\"}", "\"string\"", UINT64_C(0x8f014872634503c7)}, /* c703456372.. */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *canonical;
        uint64_t fp;
        assert_int_equal(evs_schema_canonical(cases[i].schema, &canonical, &fp), 0);
        assert_string_equal(canonical, cases[i].canonical);
        assert_int_equal(fp, cases[i].fp);
        free(canonical);
    }
}

static void test_canonical_rejects(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "{",
        "42",
        "\"Unknown\"",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"R2\"}]}",
        "{\"type\":\"record\",\"name\":\"1R\",\"fields\":[]}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a-b\",\"type\":\"int\"}]}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
        "{\"name\":\"a\",\"type\":\"int\"}]}",
        "[{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]},"
        "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"B\"]}]",
        "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"A\"]}",
        "{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}",
        "{\"type\":\"record\",\"name\":\"int\",\"fields\":[]}",
        "{\"type\":\"array\"}",
        "[\"int\",[\"null\"]]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *canonical = (char *)"untouched";
        if (evs_schema_canonical(bad[i], &canonical, NULL) != -1)
            fail_msg("accepted bad schema %zu: %s", i, bad[i]);
        assert_null(canonical);
    }
    /* Recursion through a name is fine and written once. */
    char *canonical;
    assert_int_equal(
        evs_schema_canonical("{\"type\":\"record\",\"name\":\"L\",\"namespace\":\"n\",\"fields\":"
                             "[{\"name\":\"next\",\"type\":[\"null\",\"L\"]}]}",
                             &canonical, NULL),
        0);
    assert_string_equal(canonical, "{\"name\":\"n.L\",\"type\":\"record\",\"fields\":[{\"name\":"
                                   "\"next\",\"type\":[\"null\",\"n.L\"]}]}");
    free(canonical);
}

static void test_append_request_fingerprint(void **state)
{
    (void)state;
    /* fastavro 1.13.1: to_parsing_canonical_form(evstore.AppendRequest.v1.avsc) and its
     * CRC-64-AVRO, hex 41980b1db253501d (little-endian bytes). */
    const char *expected =
        "{\"name\":\"evstore.AppendRequest\",\"type\":\"record\",\"fields\":[{\"name\":"
        "\"append_id\",\"type\":\"string\"},{\"name\":\"stream\",\"type\":\"string\"},"
        "{\"name\":\"expected_kind\",\"type\":{\"name\":\"evstore.ExpectedKind\",\"type\":"
        "\"enum\",\"symbols\":[\"ANY\",\"NO_STREAM\",\"STREAM_EXISTS\",\"EXACT\"]}},"
        "{\"name\":\"expected_version\",\"type\":\"long\"},{\"name\":\"events\",\"type\":"
        "{\"type\":\"array\",\"items\":{\"name\":\"evstore.Event\",\"type\":\"record\","
        "\"fields\":[{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"type\",\"type\":"
        "\"string\"},{\"name\":\"content_type\",\"type\":\"string\"},{\"name\":\"data\","
        "\"type\":\"bytes\"},{\"name\":\"metadata\",\"type\":\"bytes\"},{\"name\":"
        "\"correlation_id\",\"type\":[\"null\",\"string\"]},{\"name\":\"causation_id\","
        "\"type\":[\"null\",\"string\"]},{\"name\":\"created\",\"type\":\"long\"}]}}}]}";
    char *text = read_text(EVS_TEST_SCHEMA_DIR "/evstore.AppendRequest.v1.avsc");
    char *canonical;
    uint64_t fp;
    assert_int_equal(evs_schema_canonical(text, &canonical, &fp), 0);
    assert_string_equal(canonical, expected);
    assert_int_equal(fp, UINT64_C(0x1d5053b21d0b9841));
    free(canonical);
    free(text);
    /* The current schema (the fingerprint records carry) is checked against fastavro by
     * tests/interop; here: it is the one the encoder writes. */
    text = read_text(EVS_TEST_SCHEMA_DIR "/evstore.AppendRequest.avsc");
    assert_int_equal(evs_schema_canonical(text, &canonical, &fp), 0);
    assert_true(fp != UINT64_C(0x1d5053b21d0b9841));
    assert_int_equal(evs_record_fingerprint(), fp);
    free(canonical);
    free(text);
}

/* The decoder's defaults for fields an older writer lacked must be the current schema's. */
static void test_defaults_match_schema(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *doc = json_load_file(EVS_TEST_SCHEMA_DIR "/evstore.AppendRequest.avsc", 0, &jerr);
    assert_non_null(doc);
    json_t *events = NULL, *fields = json_object_get(doc, "fields");
    for (size_t i = 0; i < json_array_size(fields); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(fields, i), "name")),
                   "events") == 0)
            events = json_object_get(json_object_get(json_array_get(fields, i), "type"), "items");
    assert_non_null(events);
    json_t *ef = json_object_get(events, "fields");
    int seen = 0;
    for (size_t i = 0; i < json_array_size(ef); i++) {
        json_t *f = json_array_get(ef, i);
        const char *name = json_string_value(json_object_get(f, "name"));
        json_t *def = json_object_get(f, "default");
        if (strcmp(name, "content_type") == 0) {
            assert_string_equal(json_string_value(def), "application/json");
            seen++;
        } else if (strcmp(name, "metadata") == 0) {
            assert_string_equal(json_string_value(def), "");
            seen++;
        } else if (strcmp(name, "correlation_id") == 0 || strcmp(name, "causation_id") == 0 ||
                   strcmp(name, "subject") == 0 || strcmp(name, "key_id") == 0) {
            assert_true(json_is_null(def));
            seen++;
        } else if (strcmp(name, "data_nonce") == 0 || strcmp(name, "metadata_nonce") == 0) {
            assert_string_equal(json_string_value(def), "");
            seen++;
        } else {
            assert_null(def); /* required: the decoder rejects writers without it */
        }
    }
    assert_int_equal(seen, 8);
    json_decref(doc);
}

/* ---- Round trips --------------------------------------------------------------------- */

static void test_round_trip_one(void **state)
{
    (void)state;
    sample *s = calloc(1, sizeof *s);
    sample_init(s, 1);
    s->events[0].causation_id = "cause-1";
    s->events[0].causation_id_len = 7;
    s->events[0].metadata = (const uint8_t *)"{\"k\":1}";
    s->events[0].metadata_len = 7;
    s->events[0].data_len = 20;
    char err[256];
    assert_int_equal(evs_record_validate(&s->req, err, sizeof err), 0);
    evs_buf buf = {0};
    encode_ok(&s->req, &buf);
    assert_int_equal(buf.data[0], 0xC3);
    assert_int_equal(buf.data[1], 0x01);
    uint64_t fp = 0;
    for (int i = 7; i >= 0; i--)
        fp = fp << 8 | buf.data[2 + i];
    assert_int_equal(fp, evs_record_fingerprint());
    evs_append_request *got = decode_ok(buf.data, buf.len);
    assert_requests_equal(&s->req, got);
    /* Decoded strings are NUL-terminated (record_codec.h). */
    assert_string_equal(got->stream, "Order-7");
    assert_string_equal(got->events[0].causation_id, "cause-1");
    assert_int_equal(evs_record_validate(got, err, sizeof err), 0);
    evs_append_request_free(got);
    evs_buf_free(&buf);
    free(s);
}

static void test_round_trip_many(void **state)
{
    (void)state;
    sample *s = calloc(1, sizeof *s);
    evs_buf buf = {0};
    size_t counts[] = {2, 3, 17, 64, 999, 1000};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        sample_init(s, counts[c]);
        s->req.expected_kind = (evs_expected_kind)(c % 4);
        s->req.expected_version =
            s->req.expected_kind == EVS_EXPECT_EXACT ? (uint64_t)INT64_MAX : 0;
        char err[256];
        if (evs_record_validate(&s->req, err, sizeof err) != 0)
            fail_msg("%s", err);
        encode_ok(&s->req, &buf);
        evs_append_request *got = decode_ok(buf.data, buf.len);
        assert_requests_equal(&s->req, got);
        evs_append_request_free(got);
    }
    evs_buf_free(&buf);
    free(s);
}

/* Events with a subject, with and without sealed metadata, among plain ones. */
static void test_round_trip_sealed(void **state)
{
    (void)state;
    sample *s = calloc(1, sizeof *s);
    evs_buf buf = {0}, again = {0};
    size_t counts[] = {1, 2, 7, 64, 1000};
    char err[256];
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        sample_init(s, counts[c]);
        sample_seal(s);
        if (evs_record_validate(&s->req, err, sizeof err) != 0)
            fail_msg("%s", err);
        encode_ok(&s->req, &buf);
        evs_append_request *got = decode_ok(buf.data, buf.len);
        assert_requests_equal(&s->req, got);
        for (size_t i = 0; i < got->event_count; i++) {
            const evs_record_event *e = &got->events[i];
            if (i % 2 == 0)
                assert_int_equal(strlen(e->subject), e->subject_len); /* NUL-terminated */
            else
                assert_null(e->subject);
            assert_int_equal(e->metadata_sealed, i % 4 == 0);
        }
        if (evs_record_validate(got, err, sizeof err) != 0)
            fail_msg("%s", err);
        /* Re-encoding the decoded request gives the same bytes. */
        encode_ok(got, &again);
        assert_int_equal(again.len, buf.len);
        assert_memory_equal(again.data, buf.data, buf.len);
        evs_append_request_free(got);
    }
    evs_buf_free(&buf);
    evs_buf_free(&again);
    free(s);
}

/* Payloads come back byte for byte: every byte value, zeros, the maximum size. */
static void test_payload_bytes_exact(void **state)
{
    (void)state;
    sample *s = calloc(1, sizeof *s);
    sample_init(s, 2);
    uint8_t *data = malloc(EVS_EVENT_DATA_MAX);
    uint8_t *meta = malloc(EVS_EVENT_METADATA_MAX);
    for (size_t i = 0; i < EVS_EVENT_DATA_MAX; i++)
        data[i] = (uint8_t)(i * 7 + (i >> 8));
    memset(data, 0, 300);
    for (size_t i = 0; i < EVS_EVENT_METADATA_MAX; i++)
        meta[i] = (uint8_t)(255 - i);
    s->events[0].data = data;
    s->events[0].data_len = EVS_EVENT_DATA_MAX;
    s->events[0].metadata = meta;
    s->events[0].metadata_len = EVS_EVENT_METADATA_MAX;
    s->events[1].data = (const uint8_t *)"\0\0\0";
    s->events[1].data_len = 3;
    s->events[1].metadata = NULL;
    s->events[1].metadata_len = 0;
    evs_buf buf = {0};
    encode_ok(&s->req, &buf);
    evs_append_request *got = decode_ok(buf.data, buf.len);
    assert_int_equal(got->events[0].data_len, EVS_EVENT_DATA_MAX);
    assert_memory_equal(got->events[0].data, data, EVS_EVENT_DATA_MAX);
    assert_memory_equal(got->events[0].metadata, meta, EVS_EVENT_METADATA_MAX);
    assert_int_equal(got->events[1].data_len, 3);
    assert_memory_equal(got->events[1].data, "\0\0\0", 3);
    assert_int_equal(got->events[1].metadata_len, 0);
    evs_append_request_free(got);
    evs_buf_free(&buf);
    free(data);
    free(meta);
    free(s);
}

/* Records written by fastavro (schemaless_writer + the single-object header with
 * fastavro's fingerprint) for the request built in golden_request(): GOLDEN_HEX with schema
 * v1 (evstore.AppendRequest.v1.avsc; the decode error tests patch it), GOLDEN_V2_HEX with
 * v2 (evstore.AppendRequest.v2.avsc), GOLDEN_V3_HEX with the current schema (v3), and
 * GOLDEN_SEALED_HEX with the current schema for sealed_request(). */
#define GOLDEN_HEX                                                                                 \
    "c30141980b1db253501d4830663866616435622d643963622d343639662d613136352d37303836373732383935"   \
    "30650e4f726465722d37060a044837633965363637392d373432352d343064652d393434622d6530376663316"    \
    "6393061653716"                                                                                \
    "4f72646572506c61636564206170706c69636174696f6e2f6a736f6e127b2261223a317d00"                   \
    "ff0000020a636d642d318080f281838985064831366664323730362d386261662d343333622d383265622d38"     \
    "633766616461383437646106782f79306170706c69636174696f6e2f6f637465742d73747265616d000e7b22"     \
    "6d223a327d020263000100"
#define GOLDEN_V2_HEX                                                                              \
    "c301372fe99dd51677b74830663866616435622d643963622d343639662d613136352d373038363737323839"     \
    "3530650e4f726465722d37060a044837633965363637392d373432352d343064652d393434622d6530376663"     \
    "31663930616537164f72646572506c61636564206170706c69636174696f6e2f6a736f6e127b2261223a317d"     \
    "00ff0000020a636d642d318080f281838985064831366664323730362d386261662d343333622d383265622d"     \
    "38633766616461383437646106782f79306170706c69636174696f6e2f6f637465742d73747265616d000e7b"     \
    "226d223a327d02026300010000000000"
#define GOLDEN_V3_HEX                                                                              \
    "c3012b78edf7001938e44830663866616435622d643963622d343639662d613136352d373038363737323839"     \
    "3530650e4f726465722d37060a044837633965363637392d373432352d343064652d393434622d6530376663"     \
    "31663930616537164f72646572506c61636564206170706c69636174696f6e2f6a736f6e127b2261223a317d"     \
    "00ff0000020a636d642d318080f28183898506000000004831366664323730362d386261662d343333622d38"     \
    "3265622d38633766616461383437646106782f79306170706c69636174696f6e2f6f637465742d7374726561"     \
    "6d000e7b226d223a327d0202630001000000000000000000"
#define GOLDEN_SEALED_HEX                                                                          \
    "c3012b78edf7001938e44830663866616435622d643963622d343639662d613136352d373038363737323839"     \
    "3530650e4f726465722d37060a044837633965363637392d373432352d343064652d393434622d6530376663"     \
    "31663930616537164f72646572506c61636564206170706c69636174696f6e2f6a736f6e3220212223242526"     \
    "2728292a2b2c2d2e2f30313233343536373822808182838485868788898a8b8c8d8e8f9000020a636d642d31"     \
    "8080f28183898506021c637573746f6d65723a3432406575024839623266346331652d356436612d34653762"     \
    "2d386339642d306131623263336434653566300102030405060708090a0b0c0d0e0f10111213141516171830"     \
    "a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b84831366664323730362d386261662d343333622d"     \
    "383265622d38633766616461383437646106782f79306170706c69636174696f6e2f6f637465742d73747265"     \
    "616d000e7b226d223a327d0202630001000000000000000000"

/* The fingerprints fastavro computed for the headers above (little-endian bytes 2..9). */
#define FP_V2 UINT64_C(0xb77716d59de92f37)
#define FP_V3 UINT64_C(0xe4381900f7ed782b)

static void golden_request(evs_append_request *req, evs_record_event ev[2])
{
    memset(req, 0, sizeof *req);
    memset(ev, 0, 2 * sizeof *ev);
    id_from(req->append_id, "0f8fad5b-d9cb-469f-a165-70867728950e");
    req->stream = "Order-7";
    req->stream_len = 7;
    req->expected_kind = EVS_EXPECT_EXACT;
    req->expected_version = 5;
    req->events = ev;
    req->event_count = 2;
    id_from(ev[0].event_id, "7c9e6679-7425-40de-944b-e07fc1f90ae7");
    ev[0].type = "OrderPlaced";
    ev[0].type_len = 11;
    ev[0].content_type = "application/json";
    ev[0].content_type_len = 16;
    ev[0].data = (const uint8_t *)"{\"a\":1}\0\xff";
    ev[0].data_len = 9;
    ev[0].causation_id = "cmd-1";
    ev[0].causation_id_len = 5;
    ev[0].created_us = 1700000000000000;
    id_from(ev[1].event_id, "16fd2706-8baf-433b-82eb-8c7fada847da");
    ev[1].type = "x/y";
    ev[1].type_len = 3;
    ev[1].content_type = "application/octet-stream";
    ev[1].content_type_len = 24;
    ev[1].data = (const uint8_t *)"";
    ev[1].metadata = (const uint8_t *)"{\"m\":2}";
    ev[1].metadata_len = 7;
    ev[1].correlation_id = "c";
    ev[1].correlation_id_len = 1;
    ev[1].created_us = -1;
}

/* golden_request() with event 1 personal data: a subject, its data key, the data sealed
 * (25 bytes standing for ciphertext) and the metadata sealed too (17 bytes). */
static const uint8_t sealed_data[25] = {0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
                                        0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31,
                                        0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38};
static const uint8_t sealed_metadata[17] = {0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88,
                                            0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f, 0x90};

static void sealed_request(evs_append_request *req, evs_record_event ev[2])
{
    golden_request(req, ev);
    ev[0].data = sealed_data;
    ev[0].data_len = sizeof sealed_data;
    ev[0].metadata = sealed_metadata;
    ev[0].metadata_len = sizeof sealed_metadata;
    ev[0].subject = "customer:42@eu";
    ev[0].subject_len = 14;
    id_from(ev[0].key_id, "9b2f4c1e-5d6a-4e7b-8c9d-0a1b2c3d4e5f");
    for (int i = 0; i < 24; i++) {
        ev[0].data_nonce[i] = (uint8_t)(1 + i);
        ev[0].metadata_nonce[i] = (uint8_t)(0xa1 + i);
    }
    ev[0].metadata_sealed = 1;
}

static void test_golden_bytes(void **state)
{
    (void)state;
    uint8_t v1[512], v2[512], v3[512], sealed[512];
    size_t v1_len = unhex(GOLDEN_HEX, v1), v2_len = unhex(GOLDEN_V2_HEX, v2);
    size_t v3_len = unhex(GOLDEN_V3_HEX, v3), sealed_len = unhex(GOLDEN_SEALED_HEX, sealed);
    assert_int_equal(evs_record_fingerprint(), FP_V3);
    evs_append_request req;
    evs_record_event ev[2];
    golden_request(&req, ev);
    /* The encoder writes v3, byte for byte as fastavro does. */
    evs_buf buf = {0};
    encode_ok(&req, &buf);
    assert_int_equal(buf.len, v3_len);
    assert_memory_equal(buf.data, v3, v3_len);
    /* Encoding reuses the buffer and replaces its contents. */
    encode_ok(&req, &buf);
    assert_int_equal(buf.len, v3_len);
    /* Every released version decodes to the same request: v1 and v2 with the defaults of
     * the fields they lack (operation APPEND, no subject, nothing sealed). */
    const uint8_t *records[] = {v1, v2, v3};
    const size_t lens[] = {v1_len, v2_len, v3_len};
    for (size_t r = 0; r < 3; r++) {
        evs_append_request *got = decode_ok(records[r], lens[r]);
        assert_requests_equal(&req, got);
        assert_int_equal(got->operation, EVS_OP_APPEND);
        for (size_t i = 0; i < got->event_count; i++) {
            assert_null(got->events[i].subject);
            assert_int_equal(got->events[i].metadata_sealed, 0);
            assert_int_equal(got->events[i].key_id_mismatch, 0);
            assert_int_equal(got->events[i].data_nonce_mismatch, 0);
        }
        char err[256];
        assert_int_equal(evs_record_validate(got, err, sizeof err), 0);
        evs_append_request_free(got);
    }
    /* Personal data: subject, key_id, nonces, as fastavro writes them. */
    sealed_request(&req, ev);
    char err[256];
    if (evs_record_validate(&req, err, sizeof err) != 0)
        fail_msg("%s", err);
    encode_ok(&req, &buf);
    assert_int_equal(buf.len, sealed_len);
    assert_memory_equal(buf.data, sealed, sealed_len);
    evs_append_request *got = decode_ok(sealed, sealed_len);
    assert_requests_equal(&req, got);
    assert_string_equal(got->events[0].subject, "customer:42@eu"); /* NUL-terminated */
    assert_int_equal(got->events[0].metadata_sealed, 1);
    assert_null(got->events[1].subject);
    assert_int_equal(got->events[1].metadata_sealed, 0);
    assert_int_equal(evs_record_validate(got, err, sizeof err), 0);
    evs_append_request_free(got);
    evs_buf_free(&buf);
}

/* Lifecycle commands: no events, the fields of their operation, both decode paths. */
static void test_lifecycle_round_trip(void **state)
{
    (void)state;
    evs_append_request req;
    memset(&req, 0, sizeof req);
    id_from(req.append_id, "0f8fad5b-d9cb-469f-a165-70867728950e");
    req.stream = "Order-7";
    req.stream_len = 7;
    req.expected_kind = EVS_EXPECT_EXACT;
    req.expected_version = 12;
    char err[256];
    evs_buf buf = {0};
    const struct {
        evs_operation op;
        uint64_t before, count, age;
    } cases[] = {
        {EVS_OP_DELETE, 0, 0, 0},
        {EVS_OP_HARD_DELETE, 0, 0, 0},
        {EVS_OP_TRUNCATE, 9, 0, 0},
        {EVS_OP_TRUNCATE, (uint64_t)INT64_MAX, 0, 0},
        {EVS_OP_SET_LIMITS, 0, 100, 0},
        {EVS_OP_SET_LIMITS, 0, 0, 86400000},
        {EVS_OP_SET_LIMITS, 0, 0, 0}, /* clears both limits */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        req.operation = cases[i].op;
        req.truncate_before = cases[i].before;
        req.max_count = cases[i].count;
        req.max_age_ms = cases[i].age;
        assert_int_equal(evs_record_validate(&req, err, sizeof err), 0);
        encode_ok(&req, &buf);
        evs_append_request *got = decode_ok(buf.data, buf.len);
        assert_requests_equal(&req, got);
        evs_append_request_free(got);
    }
    /* What validation refuses. */
    req.operation = EVS_OP_TRUNCATE;
    req.truncate_before = 0;
    assert_int_equal(evs_record_validate(&req, err, sizeof err), -1);
    assert_non_null(strstr(err, "truncate_before 0 is not a version"));
    req.operation = EVS_OP_DELETE;
    req.truncate_before = 3;
    assert_int_equal(evs_record_validate(&req, err, sizeof err), -1);
    assert_non_null(strstr(err, "only a truncate has it"));
    req.truncate_before = 0;
    req.max_count = 5;
    assert_int_equal(evs_record_validate(&req, err, sizeof err), -1);
    assert_non_null(strstr(err, "only set_limits has them"));
    req.max_count = 0;
    evs_record_event ev;
    memset(&ev, 0, sizeof ev);
    id_from(ev.event_id, "7c9e6679-7425-40de-944b-e07fc1f90ae7");
    ev.type = "T";
    ev.type_len = 1;
    ev.content_type = "application/json";
    ev.content_type_len = 16;
    req.events = &ev;
    req.event_count = 1;
    assert_int_equal(evs_record_validate(&req, err, sizeof err), -1);
    assert_non_null(strstr(err, "a delete carries no events"));
    req.operation = (evs_operation)7;
    assert_int_equal(evs_record_validate(&req, err, sizeof err), -1);
    assert_non_null(strstr(err, "operation 7 is not one of"));
    /* A negative count is malformed on the wire: flip max_count's zig-zag 0 to -1 (0x01). */
    req.operation = EVS_OP_SET_LIMITS;
    req.events = NULL;
    req.event_count = 0;
    encode_ok(&req, &buf);
    buf.data[buf.len - 2] = 0x01;
    decode_fails(buf.data, buf.len, EVS_RECORD_EMALFORMED, "max_count -1 is negative");
    evs_buf_free(&buf);
}

static void test_encoded_size_exact(void **state)
{
    (void)state;
    sample *s = calloc(1, sizeof *s);
    evs_buf buf = {0};
    for (size_t n = 1; n < 140; n += 7) {
        sample_init(s, n);
        s->req.expected_version = n * UINT64_C(1000003) * n * n;
        s->events[0].created_us = INT64_MIN;
        s->events[n - 1].created_us = INT64_MAX;
        encode_ok(&s->req, &buf); /* asserts the size */
        sample_seal(s);
        s->events[0].subject = repeat('s', EVS_STREAM_NAME_MAX); /* a two-byte length */
        s->events[0].subject_len = EVS_STREAM_NAME_MAX;
        encode_ok(&s->req, &buf);
        s->events[n - 1].metadata_sealed = 1; /* without a subject: invalid, but encodable */
        encode_ok(&s->req, &buf);
    }
    evs_buf_free(&buf);
    free(s);
}

/* ---- Decode errors ------------------------------------------------------------------- */

static void golden_bytes(uint8_t *out, size_t *len)
{
    *len = unhex(GOLDEN_HEX, out);
}

static void test_decode_bad_magic(void **state)
{
    (void)state;
    uint8_t rec[512];
    size_t len;
    golden_bytes(rec, &len);
    decode_fails(rec, 0, EVS_RECORD_EMAGIC, "too short");
    decode_fails(rec, 1, EVS_RECORD_EMAGIC, "too short");
    decode_fails(NULL, 0, EVS_RECORD_EMAGIC, NULL);
    rec[0] = 0xC2;
    decode_fails(rec, len, EVS_RECORD_EMAGIC, "0xC2 0x01");
    rec[0] = 0xC3;
    rec[1] = 0x00;
    decode_fails(rec, len, EVS_RECORD_EMAGIC, "marker");
    decode_fails("{\"json\":1}", 10, EVS_RECORD_EMAGIC, NULL);
}

static void test_decode_unknown_fingerprint(void **state)
{
    (void)state;
    uint8_t rec[512];
    size_t len;
    golden_bytes(rec, &len);
    rec[5] ^= 0x40;
    decode_fails(rec, len, EVS_RECORD_ESCHEMA, "fingerprint");
}

/* Every proper prefix of a valid record is rejected, without leaks or crashes. */
static void test_decode_truncated_everywhere(void **state)
{
    (void)state;
    sample *s = calloc(1, sizeof *s);
    sample_init(s, 5);
    evs_buf buf = {0};
    encode_ok(&s->req, &buf);
    for (size_t n = 0; n < buf.len; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact size, so ASan sees any overread */
        memcpy(copy, buf.data, n);
        decode_fails(copy, n, n < 2 ? EVS_RECORD_EMAGIC : EVS_RECORD_EMALFORMED, NULL);
        free(copy);
    }
    evs_append_request_free(decode_ok(buf.data, buf.len));
    evs_buf_free(&buf);
    free(s);
}

static void test_decode_trailing_garbage(void **state)
{
    (void)state;
    uint8_t rec[512];
    size_t len;
    golden_bytes(rec, &len);
    rec[len] = 0;
    decode_fails(rec, len + 1, EVS_RECORD_EMALFORMED, "1 trailing bytes");
    memset(rec + len, 0x55, 10);
    decode_fails(rec, len + 10, EVS_RECORD_EMALFORMED, "trailing");
}

static void test_decode_oversized(void **state)
{
    (void)state;
    size_t n = EVS_APPEND_BYTES_MAX + 1;
    uint8_t *big = calloc(1, n);
    uint8_t rec[512];
    size_t len;
    golden_bytes(rec, &len);
    memcpy(big, rec, len);
    decode_fails(big, n, EVS_RECORD_ETOO_LARGE, "more than the limit");
    free(big);
}

/* Offsets into GOLDEN_HEX's record: body at 10; append_id length byte, then 36 chars. */
#define G_APPEND_ID 11
#define G_STREAM_LEN 47
#define G_KIND 55
#define G_VERSION 56
#define G_EVENTS 57
#define G_EVENT_ID 59

static void test_decode_invalid_uuid(void **state)
{
    (void)state;
    uint8_t rec[512];
    size_t len;
    golden_bytes(rec, &len);
    assert_memory_equal(rec + G_APPEND_ID, "0f8fad5b-", 9);
    rec[G_APPEND_ID] = 'x';
    decode_fails(rec, len, EVS_RECORD_EMALFORMED, "append_id \"xf8fad5b");
    golden_bytes(rec, &len);
    rec[G_APPEND_ID + 8] = '_';
    decode_fails(rec, len, EVS_RECORD_EMALFORMED, "is not a UUID");
    golden_bytes(rec, &len);
    assert_memory_equal(rec + G_EVENT_ID, "7c9e6679", 8);
    rec[G_EVENT_ID + 3] = 0;
    decode_fails(rec, len, EVS_RECORD_EMALFORMED, "event 1: event_id \"7c9\\x00");
}

/* Bodies that would make avro-c crash or allocate without bound if it saw them. */
static void test_decode_hostile_bodies(void **state)
{
    (void)state;
    uint8_t rec[512];
    size_t len;
    struct {
        size_t at;
        const char *hex; /* replaces one byte at `at` by these bytes */
        const char *want;
    } cases[] = {
        {G_STREAM_LEN, "01", "negative length"},         /* stream length -1 */
        {G_STREAM_LEN, "feffffffffffffffff01", "needs"}, /* length 2^63-1 */
        {G_STREAM_LEN, "ffffffffffffffffff7f", "longer than 64 bits"},
        {G_STREAM_LEN, "80808080808080808080", "longer than 64 bits"},
        {G_KIND, "08", "enum index 4 out of range"},
        {G_KIND, "01", "enum index -1"},
        {G_EVENTS, "feffffff0f", "cannot fit"},                         /* 2^31-1 events */
        {G_EVENTS, "ffffffffffffffffff01", "block count out of range"}, /* -2^63 */
        {G_EVENTS, "0301", "negative block size"},
        {G_EVENTS, "0302", "does not match"}, /* wrong block size */
        {G_EVENTS, "00", "trailing"},         /* no events, then junk */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t patch[32];
        size_t plen = unhex(cases[i].hex, patch);
        golden_bytes(rec, &len);
        memmove(rec + cases[i].at + plen, rec + cases[i].at + 1, len - cases[i].at - 1);
        memcpy(rec + cases[i].at, patch, plen);
        decode_fails(rec, len - 1 + plen, EVS_RECORD_EMALFORMED, cases[i].want);
    }
    /* The correlation_id union index of event 1 (null, 0) set to 2 and to -1. */
    golden_bytes(rec, &len);
    /* After event_id (37 bytes), type (12), content_type (17), data (10), metadata (1). */
    size_t at = (G_EVENT_ID - 1) + 37 + 12 + 17 + 10 + 1;
    assert_int_equal(rec[at], 0x00);
    assert_int_equal(rec[at + 1], 0x02); /* causation_id: string branch */
    rec[at] = 0x04;
    decode_fails(rec, len, EVS_RECORD_EMALFORMED, "union branch 2 out of range");
    rec[at] = 0x01;
    decode_fails(rec, len, EVS_RECORD_EMALFORMED, "union branch -1");
    /* A block with a negative count and the right byte size is valid Avro. */
    golden_bytes(rec, &len);
    size_t events_bytes = len - 1 - (G_EVENTS + 1); /* from after the count to the end 0 */
    uint8_t blocked[600];
    memcpy(blocked, rec, G_EVENTS);
    size_t o = G_EVENTS;
    blocked[o++] = 0x03; /* count -2 */
    uint64_t zz = (uint64_t)events_bytes << 1;
    while (zz >= 0x80) {
        blocked[o++] = (uint8_t)(zz | 0x80);
        zz >>= 7;
    }
    blocked[o++] = (uint8_t)zz;
    memcpy(blocked + o, rec + G_EVENTS + 1, len - G_EVENTS - 1);
    o += len - G_EVENTS - 1;
    evs_append_request *got = decode_ok(blocked, o);
    assert_int_equal(got->event_count, 2);
    evs_append_request_free(got);
}

/* The fast path's lengths and counts, corrupted: every byte of a valid record set to values
 * that make a varint long, negative, huge or short. Both paths must agree (decode_both), and
 * nothing may read outside the exact-size copy (ASan). */
static void test_decode_corrupted_lengths(void **state)
{
    (void)state;
    static const uint8_t values[] = {0x00, 0x01, 0x02, 0x03, 0x7e, 0x7f, 0x80, 0x81, 0xfe, 0xff};
    sample *s = calloc(1, sizeof *s);
    evs_buf buf = {0};
    for (int sealed = 0; sealed < 2; sealed++) { /* plain events, then sealing fields too */
        sample_init(s, 3);
        if (sealed)
            sample_seal(s);
        encode_ok(&s->req, &buf);
        uint8_t *copy = malloc(buf.len);
        for (size_t pos = EVS_RECORD_HEADER_LEN; pos < buf.len; pos++) {
            for (size_t v = 0; v < sizeof values + 2; v++) {
                memcpy(copy, buf.data, buf.len);
                copy[pos] = v < sizeof values ? values[v]
                                              : (uint8_t)(buf.data[pos] + (v == 10 ? 2 : -2));
                evs_append_request *got = NULL;
                char err[256];
                if (decode_both(copy, buf.len, &got, err, sizeof err) == EVS_RECORD_OK)
                    evs_append_request_free(got);
            }
        }
        free(copy);
    }
    evs_buf_free(&buf);
    free(s);
}

/* An events array the fast path leaves to the generic path: a block with a negative count
 * and its byte size. It is valid Avro and decodes to the same request as one plain block. */
static void test_decode_array_blocks(void **state)
{
    (void)state;
    sample *s = calloc(1, sizeof *s);
    sample_init(s, 2);
    evs_buf buf = {0};
    encode_ok(&s->req, &buf);
    evs_append_request *one = decode_ok(buf.data, buf.len);
    /* Find the events block count (2, zig-zag 0x04) after the header fields. */
    size_t at = EVS_RECORD_HEADER_LEN;
    at += 1 + 36;                /* append_id */
    at += 1 + s->req.stream_len; /* stream (short name) */
    at += 1;                     /* expected_kind */
    for (; buf.data[at] & 0x80; at++) {
    } /* expected_version */
    at++;
    assert_int_equal(buf.data[at], 0x04);
    /* After the events: the closing 0, then operation, truncate_before, max_count and
     * max_age_ms, one byte each when 0. */
    size_t tail = 4;
    size_t items = buf.len - 1 - tail - (at + 1); /* the two events' bytes */
    assert_true(items < 8192);             /* so the byte size is a two-byte varint */
    uint8_t *rec = malloc(buf.len + 8);
    /* count -2 (0x03), byte size (zig-zag, two bytes), the items, 0 */
    memcpy(rec, buf.data, at);
    rec[at] = 0x03;
    rec[at + 1] = (uint8_t)(((items * 2) & 0x7f) | 0x80);
    rec[at + 2] = (uint8_t)((items * 2) >> 7);
    memcpy(rec + at + 3, buf.data + at + 1, items + 1 + tail);
    evs_append_request *neg = decode_ok(rec, buf.len + 2);
    assert_requests_equal(one, neg);
    evs_append_request_free(neg);
    free(rec);
    evs_append_request_free(one);
    evs_buf_free(&buf);
    free(s);
}

/* Random corruption of valid records: every outcome must be a clean result. Run under
 * ASan/UBSan (EVS_SANITIZE=ON) this is a small deterministic fuzz test. */
static void test_decode_random_corruption(void **state)
{
    (void)state;
    sample *s = calloc(1, sizeof *s);
    sample_init(s, 4);
    sample_seal(s); /* events 1 and 3 personal data, event 1 with sealed metadata */
    evs_buf buf = {0};
    encode_ok(&s->req, &buf);
    uint64_t x = 0x9e3779b97f4a7c15u;
    uint8_t *copy = malloc(buf.len + 16);
    size_t ok = 0;
    for (int iter = 0; iter < 30000; iter++) {
        memcpy(copy, buf.data, buf.len);
        size_t len = buf.len;
        int edits = 1 + iter % 4;
        for (int e = 0; e < edits; e++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t pos = EVS_RECORD_HEADER_LEN + (x >> 8) % (len - EVS_RECORD_HEADER_LEN);
            switch (x % 4) {
            case 0:
                copy[pos] = (uint8_t)(x >> 40);
                break;
            case 1:
                copy[pos] ^= (uint8_t)(1u << ((x >> 20) % 8));
                break;
            case 2:
                len = pos + 1;
                break;
            default:
                copy[pos] = (x >> 30) % 2 ? 0xff : 0x80;
                break;
            }
        }
        evs_append_request *got = NULL;
        char err[128];
        int rc = decode_both(copy, len, &got, err, sizeof err);
        if (rc == EVS_RECORD_OK) {
            ok++;
            evs_append_request_free(got);
        } else {
            assert_int_equal(rc, EVS_RECORD_EMALFORMED);
            assert_null(got);
        }
    }
    assert_true(ok > 0); /* some mutations only change content */
    free(copy);
    evs_buf_free(&buf);
    free(s);
}

/* ---- Validation ---------------------------------------------------------------------- */

static void expect_valid(const evs_append_request *req)
{
    char err[256];
    if (evs_record_validate(req, err, sizeof err) != 0)
        fail_msg("rejected a valid request: %s", err);
}

static void expect_invalid(const evs_append_request *req, const char *want)
{
    char err[256];
    assert_int_equal(evs_record_validate(req, err, sizeof err), -1);
    if (strstr(err, want) == NULL)
        fail_msg("message \"%s\" does not contain \"%s\"", err, want);
}

static void test_validate_request_rules(void **state)
{
    (void)state;
    sample *s = calloc(1, sizeof *s);
    evs_append_request *r = &s->req;
#define RESET() sample_init(s, 3)

    RESET();
    expect_valid(r);
    assert_int_equal(evs_record_validate(NULL, NULL, 0), -1);
    /* stream */
    RESET();
    r->stream_len = 0;
    expect_invalid(r, "stream name is empty");
    RESET();
    r->stream = repeat('a', EVS_STREAM_NAME_MAX);
    r->stream_len = EVS_STREAM_NAME_MAX;
    expect_valid(r);
    r->stream = repeat('a', EVS_STREAM_NAME_MAX + 1);
    r->stream_len = EVS_STREAM_NAME_MAX + 1;
    expect_invalid(r, "stream name is 201 bytes, more than the limit of 200");
    RESET();
    r->stream = "Az09_.:@-";
    r->stream_len = 9;
    expect_valid(r);
    r->stream = "a b";
    r->stream_len = 3;
    expect_invalid(r, "stream name \"a b\" contains ' ' (allowed: letters, digits and _.:@-)");
    r->stream = "a/b";
    expect_invalid(r, "contains '/'");
    r->stream = "$all";
    r->stream_len = 4;
    expect_invalid(r, "starts with '$'");
    r->stream = "a\0b";
    r->stream_len = 3;
    expect_invalid(r, "contains '\\x00'");
    /* expected version */
    RESET();
    r->expected_kind = (evs_expected_kind)4;
    expect_invalid(r, "expected kind 4");
    RESET();
    r->expected_version = (uint64_t)INT64_MAX;
    expect_valid(r);
    r->expected_version = (uint64_t)INT64_MAX + 1;
    expect_invalid(r, "is more than the largest version");
    RESET();
    r->expected_version = 0;
    expect_valid(r);
    for (int k = EVS_EXPECT_ANY; k < EVS_EXPECT_EXACT; k++) {
        r->expected_kind = (evs_expected_kind)k;
        r->expected_version = 0;
        expect_valid(r);
        r->expected_version = 1;
        expect_invalid(r, "expected version 1 given without expected kind exact");
    }
    /* event count */
    RESET();
    r->event_count = 0;
    expect_invalid(r, "no events");
    sample_init(s, EVS_APPEND_EVENTS_MAX);
    expect_valid(r);
    r->event_count = EVS_APPEND_EVENTS_MAX + 1;
    expect_invalid(r, "1001 events, more than the limit of 1000");
    RESET();
    r->events = NULL;
    expect_invalid(r, "events is NULL");
    /* type */
    RESET();
    s->events[2].type_len = 0;
    expect_invalid(r, "event 3: type is empty");
    RESET();
    s->events[2].type = "a b";
    s->events[2].type_len = 3;
    char err[256];
    assert_int_equal(evs_record_validate(r, err, sizeof err), -1);
    assert_string_equal(err,
                        "event 3: type \"a b\" contains ' ' (allowed: letters, digits and _.:@/-)");
    s->events[2].type = "Orders/v2:Placed@x_y.z-1";
    s->events[2].type_len = strlen(s->events[2].type);
    expect_valid(r);
    s->events[2].type = repeat('T', EVS_EVENT_TYPE_MAX);
    s->events[2].type_len = EVS_EVENT_TYPE_MAX;
    expect_valid(r);
    s->events[2].type = repeat('T', EVS_EVENT_TYPE_MAX + 1);
    s->events[2].type_len = EVS_EVENT_TYPE_MAX + 1;
    expect_invalid(r, "event 3: type is 201 bytes, more than the limit of 200");
    s->events[2].type = "$x";
    s->events[2].type_len = 2;
    expect_invalid(r, "contains '$'");
    /* content type */
    RESET();
    s->events[0].content_type_len = 0;
    expect_invalid(r, "event 1: content type is empty");
    s->events[0].content_type = repeat('c', EVS_CONTENT_TYPE_MAX);
    s->events[0].content_type_len = EVS_CONTENT_TYPE_MAX;
    expect_valid(r);
    s->events[0].content_type = repeat('c', EVS_CONTENT_TYPE_MAX + 1);
    s->events[0].content_type_len = EVS_CONTENT_TYPE_MAX + 1;
    expect_invalid(r, "content type is 101 bytes, more than the limit of 100");
    s->events[0].content_type = "text/plain; charset=utf-8";
    s->events[0].content_type_len = strlen(s->events[0].content_type);
    expect_valid(r);
    s->events[0].content_type = "text\x7f";
    s->events[0].content_type_len = 5;
    expect_invalid(r, "contains '\\x7f' (allowed: printable ASCII)");
    /* data and metadata */
    RESET();
    static uint8_t payload[EVS_EVENT_DATA_MAX + 1];
    s->events[1].data = payload;
    s->events[1].data_len = EVS_EVENT_DATA_MAX;
    expect_valid(r);
    s->events[1].data_len = EVS_EVENT_DATA_MAX + 1;
    expect_invalid(r, "event 2: data is 262145 bytes, more than the limit of 262144");
    s->events[1].data = NULL;
    s->events[1].data_len = 1;
    expect_invalid(r, "event 2: data is NULL");
    RESET();
    s->events[1].metadata = payload;
    s->events[1].metadata_len = EVS_EVENT_METADATA_MAX;
    expect_valid(r);
    s->events[1].metadata_len = EVS_EVENT_METADATA_MAX + 1;
    expect_invalid(r, "event 2: metadata is 16385 bytes, more than the limit of 16384");
    /* correlation and causation ids */
    RESET();
    s->events[0].correlation_id = repeat('k', EVS_CORRELATION_ID_MAX);
    s->events[0].correlation_id_len = EVS_CORRELATION_ID_MAX;
    expect_valid(r);
    s->events[0].correlation_id_len = 0;
    expect_valid(r);
    s->events[0].correlation_id = repeat('k', EVS_CORRELATION_ID_MAX + 1);
    s->events[0].correlation_id_len = EVS_CORRELATION_ID_MAX + 1;
    expect_invalid(r, "event 1: correlation id is 101 bytes, more than the limit of 100");
    s->events[0].correlation_id = "a\nb";
    s->events[0].correlation_id_len = 3;
    expect_invalid(r, "correlation id \"a\\x0ab\" contains '\\x0a'");
    RESET();
    s->events[2].causation_id = repeat('k', EVS_CORRELATION_ID_MAX);
    s->events[2].causation_id_len = EVS_CORRELATION_ID_MAX;
    expect_valid(r);
    s->events[2].causation_id = repeat('k', EVS_CORRELATION_ID_MAX + 1);
    s->events[2].causation_id_len = EVS_CORRELATION_ID_MAX + 1;
    expect_invalid(r, "event 3: causation id is 101 bytes");
    /* distinct event ids */
    RESET();
    memcpy(s->events[2].event_id, s->events[0].event_id, 16);
    expect_invalid(r, "event 3: event id");
    expect_invalid(r, "is also the id of event 1");
    sample_init(s, EVS_APPEND_EVENTS_MAX);
    memcpy(s->events[999].event_id, s->events[500].event_id, 16);
    expect_invalid(r, "event 1000: event id");
#undef RESET
    free(s);
}

/* The encoded size limit, at exactly EVS_APPEND_BYTES_MAX and one past it. */
static void test_validate_encoded_size_limit(void **state)
{
    (void)state;
    sample *s = calloc(1, sizeof *s);
    sample_init(s, 4);
    uint8_t *payload = calloc(1, EVS_EVENT_DATA_MAX);
    for (int i = 0; i < 4; i++) {
        s->events[i].data = payload;
        s->events[i].data_len = EVS_EVENT_DATA_MAX;
    }
    expect_invalid(&s->req, "the encoded append would be");
    /* Shrink the last payload until the record is exactly at the limit. */
    size_t d = EVS_EVENT_DATA_MAX;
    while (evs_record_encoded_size(&s->req) > EVS_APPEND_BYTES_MAX)
        s->events[3].data_len = --d;
    assert_int_equal(evs_record_encoded_size(&s->req), EVS_APPEND_BYTES_MAX);
    expect_valid(&s->req);
    evs_buf buf = {0};
    encode_ok(&s->req, &buf);
    assert_int_equal(buf.len, EVS_APPEND_BYTES_MAX);
    evs_append_request_free(decode_ok(buf.data, buf.len));
    s->events[3].data_len++;
    assert_int_equal(evs_record_encoded_size(&s->req), EVS_APPEND_BYTES_MAX + 1);
    expect_invalid(&s->req, "would be 921601 bytes, more than the limit of 921600");
    encode_ok(&s->req, &buf);                                     /* encode does not validate... */
    decode_fails(buf.data, buf.len, EVS_RECORD_ETOO_LARGE, NULL); /* ...decode refuses */
    evs_buf_free(&buf);
    free(payload);
    free(s);
}

/* The sealing fields of a request a caller builds. */
static void test_validate_sealing(void **state)
{
    (void)state;
    sample *s = calloc(1, sizeof *s);
    evs_append_request *r = &s->req;
    evs_record_event *e = &s->events[1];
#define RESET() (sample_init(s, 3), sample_seal(s))

    RESET();
    expect_valid(r);
    /* subject: the rule of stream names */
    e->subject = "a";
    e->subject_len = 1;
    e->data_len = 16;
    expect_valid(r);
    e->subject = repeat('s', EVS_STREAM_NAME_MAX);
    e->subject_len = EVS_STREAM_NAME_MAX;
    expect_valid(r);
    e->subject = repeat('s', EVS_STREAM_NAME_MAX + 1);
    e->subject_len = EVS_STREAM_NAME_MAX + 1;
    expect_invalid(r, "event 2: subject is 201 bytes, more than the limit of 200");
    e->subject = "";
    e->subject_len = 0;
    expect_invalid(r, "event 2: subject is empty");
    e->subject = "a b";
    e->subject_len = 3;
    char err[256];
    assert_int_equal(evs_record_validate(r, err, sizeof err), -1);
    assert_string_equal(
        err, "event 2: subject \"a b\" contains ' ' (allowed: letters, digits and _.:@-)");
    e->subject = "a/b";
    expect_invalid(r, "event 2: subject \"a/b\" contains '/'");
    e->subject = "$me";
    expect_invalid(r, "starts with '$'");
    e->subject = "a\0b";
    expect_invalid(r, "contains '\\x00'");
    /* sealed data and metadata hold at least the 16-byte tag */
    RESET();
    s->events[2].data_len = 15;
    expect_invalid(r, "event 3: sealed data is 15 bytes, shorter than the 16-byte tag");
    s->events[2].data_len = 16;
    expect_valid(r);
    s->events[0].metadata_len = 15;
    expect_invalid(r, "event 1: sealed metadata is 15 bytes, shorter than the 16-byte tag");
    s->events[0].metadata_len = 0;
    expect_invalid(r, "event 1: sealed metadata is 0 bytes");
    s->events[0].metadata_sealed = 0; /* plain metadata of any length */
    expect_valid(r);
    /* sealed metadata needs a subject */
    RESET();
    e->metadata_sealed = 1;
    e->metadata = (const uint8_t *)"0123456789abcdef";
    e->metadata_len = 16;
    expect_invalid(r, "event 2: metadata is sealed but the event has no subject");
    /* the flags only a decoder sets */
    RESET();
    s->events[0].key_id_mismatch = 1;
    expect_invalid(r, "event 1: the record has a subject but no key_id");
    RESET();
    e->key_id_mismatch = 1;
    expect_invalid(r, "event 2: the record has a key_id but no subject");
    RESET();
    s->events[2].data_nonce_mismatch = 1;
    expect_invalid(r, "event 3: the record has a subject but no data_nonce");
    RESET();
    e->data_nonce_mismatch = 1;
    expect_invalid(r, "event 2: the record has a data_nonce but no subject");
#undef RESET
    free(s);
}

static void test_name_helpers(void **state)
{
    (void)state;
    assert_true(evs_stream_name_valid("a", 1));
    assert_true(evs_stream_name_valid("Order-7", 7));
    assert_true(evs_stream_name_valid(repeat('x', EVS_STREAM_NAME_MAX), EVS_STREAM_NAME_MAX));
    assert_false(
        evs_stream_name_valid(repeat('x', EVS_STREAM_NAME_MAX + 1), EVS_STREAM_NAME_MAX + 1));
    assert_false(evs_stream_name_valid("", 0));
    assert_false(evs_stream_name_valid(NULL, 0));
    assert_false(evs_stream_name_valid("$all", 4));
    assert_false(evs_stream_name_valid("a/b", 3));
    assert_false(evs_stream_name_valid("é", strlen("é")));
    assert_true(evs_event_type_valid("a/b", 3));
    assert_true(evs_event_type_valid("Az09_.:@/-", 10));
    assert_true(evs_event_type_valid(repeat('y', EVS_EVENT_TYPE_MAX), EVS_EVENT_TYPE_MAX));
    assert_false(evs_event_type_valid(repeat('y', EVS_EVENT_TYPE_MAX + 1), EVS_EVENT_TYPE_MAX + 1));
    assert_false(evs_event_type_valid("", 0));
    assert_false(evs_event_type_valid("a b", 3));
    assert_false(evs_event_type_valid("a\0", 2));
}

static void test_uuid(void **state)
{
    (void)state;
    uint8_t id[16], again[16];
    char text[37];
    const char *t = "0F8FAD5B-D9CB-469F-A165-70867728950E";
    assert_int_equal(evs_uuid_parse(t, 36, id), 0);
    assert_int_equal(id[0], 0x0f);
    assert_int_equal(id[15], 0x0e);
    evs_uuid_format(id, text);
    assert_string_equal(text, "0f8fad5b-d9cb-469f-a165-70867728950e");
    const char *bad[] = {
        "0f8fad5b-d9cb-469f-a165-70867728950",  "0f8fad5b-d9cb-469f-a165-70867728950e0",
        "0f8fad5bd-9cb-469f-a165-70867728950e", "0f8fad5b-d9cb-469f-a165-70867728950g",
        "0f8fad5b_d9cb_469f_a165_70867728950e", "{f8fad5b-d9cb-469f-a165-70867728950e",
        " f8fad5b-d9cb-469f-a165-70867728950e",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(evs_uuid_parse(bad[i], strlen(bad[i]), id), -1);
    assert_int_equal(evs_uuid_parse(NULL, 36, id), -1);
    /* Every byte value at every position: accepted exactly when it is a hex digit (or the
     * dash at a dash position), and then the parsed byte holds its value. */
    for (size_t pos = 0; pos < 36; pos++) {
        for (int c = 0; c < 256; c++) {
            char u[37];
            memcpy(u, "0f8fad5b-d9cb-469f-a165-70867728950e", 37);
            u[pos] = (char)c;
            int dash = pos == 8 || pos == 13 || pos == 18 || pos == 23;
            int digit = (c >= '0' && c <= '9')   ? c - '0'
                        : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                        : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                 : -1;
            int ok = dash ? c == '-' : digit >= 0;
            assert_int_equal(evs_uuid_parse(u, 36, id), ok ? 0 : -1);
            if (ok && !dash) {
                size_t text_bytes = pos - (pos > 8) - (pos > 13) - (pos > 18) - (pos > 23);
                uint8_t b = id[text_bytes / 2];
                assert_int_equal(text_bytes % 2 ? (b & 0x0f) : (b >> 4), digit);
            }
        }
    }
    evs_uuid_generate(id);
    evs_uuid_generate(again);
    assert_memory_not_equal(id, again, 16);
    assert_int_equal(id[6] >> 4, 4);      /* version 4 */
    assert_int_equal(id[8] & 0xc0, 0x80); /* RFC 4122 variant */
    /* Many at once: each a version 4 UUID, all different, and the random bits vary (every
     * bit outside the version and variant is set in some id and clear in another). */
    enum { MANY = 300 };
    static uint8_t many[MANY][16];
    uint8_t ones[16] = {0}, zeros[16] = {0};
    evs_uuid_generate_n(many, MANY);
    for (size_t i = 0; i < MANY; i++) {
        assert_int_equal(many[i][6] >> 4, 4);
        assert_int_equal(many[i][8] & 0xc0, 0x80);
        for (size_t j = 0; j < i; j++)
            assert_memory_not_equal(many[i], many[j], 16);
        for (size_t b = 0; b < 16; b++) {
            ones[b] |= many[i][b];
            zeros[b] |= (uint8_t)~many[i][b];
        }
    }
    for (size_t b = 0; b < 16; b++) {
        uint8_t fixed = b == 6 ? 0xf0 : b == 8 ? 0xc0 : 0;
        assert_int_equal(ones[b] | fixed, 0xff);
        assert_int_equal(zeros[b] | fixed, 0xff);
    }
    evs_uuid_format(id, text);
    assert_int_equal(evs_uuid_parse(text, 36, again), 0);
    assert_memory_equal(id, again, 16);
}

/* ---- Schema evolution ---------------------------------------------------------------- */

static avro_value_t field(avro_value_t *record, const char *name)
{
    avro_value_t f;
    if (avro_value_get_by_name(record, name, &f, NULL) != 0)
        fail_msg("no field %s", name);
    return f;
}

static void set_text(avro_value_t *record, const char *name, const char *s)
{
    avro_value_t f = field(record, name);
    assert_int_equal(avro_value_set_string(&f, s), 0);
}

static void set_bytes(avro_value_t *record, const char *name, const void *p, size_t n)
{
    avro_value_t f = field(record, name);
    assert_int_equal(avro_value_set_bytes(&f, (void *)p, n), 0);
}

static void set_long(avro_value_t *record, const char *name, int64_t v)
{
    avro_value_t f = field(record, name);
    assert_int_equal(avro_value_set_long(&f, v), 0);
}

/* Writes a single-object record with an arbitrary writer schema, using avro-c directly
 * (not the code under test) for the body and evs_schema_canonical for the fingerprint. */
typedef void fill_fn(avro_value_t *top, int variant);
static size_t encode_with_schema(const char *json, fill_fn *fill, int variant, uint8_t *out,
                                 size_t cap)
{
    avro_schema_t schema;
    if (avro_schema_from_json_length(json, strlen(json), &schema) != 0)
        fail_msg("avro-c: %s", avro_strerror());
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t top;
    assert_int_equal(avro_generic_value_new(iface, &top), 0);
    fill(&top, variant);
    size_t size;
    assert_int_equal(avro_value_sizeof(&top, &size), 0);
    assert_true(size + 10 <= cap);
    uint64_t fp;
    assert_int_equal(evs_schema_canonical(json, NULL, &fp), 0);
    out[0] = 0xC3;
    out[1] = 0x01;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(fp >> (8 * i));
    avro_writer_t w = avro_writer_memory((const char *)out + 10, (int64_t)size);
    assert_int_equal(avro_value_write(w, &top), 0);
    avro_writer_free(w);
    avro_value_decref(&top);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    return size + 10;
}

static void fill_v0(avro_value_t *top, int variant)
{
    (void)variant;
    set_text(top, "append_id", "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
    set_text(top, "stream", "Cart-12");
    avro_value_t kind = field(top, "expected_kind");
    assert_int_equal(avro_value_set_enum(&kind, 2), 0); /* STREAM_EXISTS */
    set_long(top, "expected_version", 0);
    avro_value_t events = field(top, "events"), ev;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(avro_value_append(&events, &ev, NULL), 0);
        set_text(&ev, "event_id",
                 i ? "6ba7b811-9dad-11d1-80b4-00c04fd430c8"
                   : "6ba7b812-9dad-11d1-80b4-00c04fd430c8");
        set_text(&ev, "type", i ? "ItemRemoved" : "ItemAdded");
        set_bytes(&ev, "data", i ? "\0x" : "{\"sku\":1}", i ? 2 : 9);
        set_long(&ev, "created", 1600000000000000 + i);
    }
}

static void test_evolution_older_writer(void **state)
{
    (void)state;
    char *json = read_text(EVS_TEST_DATA_DIR "/AppendRequest.v0.avsc");
    uint8_t rec[1024];
    size_t len = encode_with_schema(json, fill_v0, 0, rec, sizeof rec);
    /* Unknown until registered. */
    decode_fails(rec, len, EVS_RECORD_ESCHEMA, "unknown writer schema");
    assert_int_equal(evs_record_register_schema(json), 0);
    assert_int_equal(evs_record_register_schema(json), 0); /* idempotent */
    evs_append_request *got = decode_ok(rec, len);
    char text[37];
    evs_uuid_format(got->append_id, text);
    assert_string_equal(text, "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
    assert_string_equal(got->stream, "Cart-12");
    assert_int_equal(got->expected_kind, EVS_EXPECT_STREAM_EXISTS);
    assert_int_equal(got->expected_version, 0);
    assert_int_equal(got->event_count, 2);
    for (size_t i = 0; i < 2; i++) {
        const evs_record_event *e = &got->events[i];
        evs_uuid_format(e->event_id, text);
        assert_string_equal(text, i ? "6ba7b811-9dad-11d1-80b4-00c04fd430c8"
                                    : "6ba7b812-9dad-11d1-80b4-00c04fd430c8");
        assert_string_equal(e->type, i ? "ItemRemoved" : "ItemAdded");
        assert_blob_equal(e->data, e->data_len, i ? "\0x" : "{\"sku\":1}", i ? 2 : 9);
        assert_int_equal(e->created_us, 1600000000000000 + (int64_t)i);
        /* The defaults of the current schema. */
        assert_blob_equal(e->content_type, e->content_type_len, "application/json", 16);
        assert_int_equal(e->metadata_len, 0);
        assert_null(e->correlation_id);
        assert_null(e->causation_id);
    }
    char err[256];
    assert_int_equal(evs_record_validate(got, err, sizeof err), 0);
    /* Re-encoding writes the current schema, which decodes to the same request. */
    evs_buf buf = {0};
    encode_ok(got, &buf);
    evs_append_request *again = decode_ok(buf.data, buf.len);
    assert_requests_equal(got, again);
    evs_append_request_free(again);
    evs_append_request_free(got);
    evs_buf_free(&buf);
    free(json);
}

static void fill_newer(avro_value_t *top, int variant)
{
    avro_value_t f, b;
    set_text(top, "tenant", "acme");
    set_text(top, "append_id", "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
    set_text(top, "stream", "Cart-13");
    f = field(top, "expected_kind");
    assert_int_equal(avro_value_set_enum(&f, variant == 1 ? 4 : 3), 0); /* AT_LEAST : EXACT */
    set_long(top, "expected_version", 9);
    avro_value_t events = field(top, "events"), ev;
    assert_int_equal(avro_value_append(&events, &ev, NULL), 0);
    set_text(&ev, "event_id", "6ba7b812-9dad-11d1-80b4-00c04fd430c8");
    set_text(&ev, "type", "ItemAdded");
    f = field(&ev, "tags");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(avro_value_append(&f, &b, NULL), 0);
        assert_int_equal(avro_value_set_string(&b, "tag"), 0);
    }
    set_text(&ev, "content_type", "application/vnd.x+json");
    set_bytes(&ev, "data", "{}", 2);
    set_bytes(&ev, "metadata", "m", 1);
    f = field(&ev, "correlation_id"); /* ["string","null"] */
    assert_int_equal(avro_value_set_branch(&f, variant == 2 ? 1 : 0, &b), 0);
    if (variant == 2)
        assert_int_equal(avro_value_set_null(&b), 0);
    else
        assert_int_equal(avro_value_set_string(&b, "corr-9"), 0);
    f = field(&ev, "causation_id");
    assert_int_equal(avro_value_set_branch(&f, 0, &b), 0);
    assert_int_equal(avro_value_set_null(&b), 0);
    f = field(&ev, "priority");
    assert_int_equal(avro_value_set_branch(&f, 2, &b), 0);
    assert_int_equal(avro_value_set_double(&b, 0.5), 0);
    f = field(&ev, "created");
    assert_int_equal(avro_value_set_int(&f, -7), 0);
}

static void test_evolution_newer_writer(void **state)
{
    (void)state;
    char *json = read_text(EVS_TEST_DATA_DIR "/AppendRequest.newer.avsc");
    uint8_t rec[1024];
    assert_int_equal(evs_record_register_schema(json), 0);

    size_t len = encode_with_schema(json, fill_newer, 0, rec, sizeof rec);
    evs_append_request *got = decode_ok(rec, len);
    assert_string_equal(got->stream, "Cart-13");
    assert_int_equal(got->expected_kind, EVS_EXPECT_EXACT);
    assert_int_equal(got->expected_version, 9);
    assert_int_equal(got->event_count, 1);
    const evs_record_event *e = &got->events[0];
    assert_string_equal(e->type, "ItemAdded");
    assert_string_equal(e->content_type, "application/vnd.x+json");
    assert_blob_equal(e->data, e->data_len, "{}", 2);
    assert_blob_equal(e->metadata, e->metadata_len, "m", 1);
    assert_string_equal(e->correlation_id, "corr-9");
    assert_null(e->causation_id);
    assert_int_equal(e->created_us, -7);
    evs_append_request_free(got);

    /* The null branch of a ["string","null"] union. */
    len = encode_with_schema(json, fill_newer, 2, rec, sizeof rec);
    got = decode_ok(rec, len);
    assert_null(got->events[0].correlation_id);
    evs_append_request_free(got);

    /* An expected kind this build does not know is not guessed. */
    len = encode_with_schema(json, fill_newer, 1, rec, sizeof rec);
    decode_fails(rec, len, EVS_RECORD_EMALFORMED, "expected_kind AT_LEAST");
    free(json);
}

/* An optional string: NULL for the null branch (0), else the string branch (1). */
static void set_opt(avro_value_t *record, const char *name, const char *s)
{
    avro_value_t f = field(record, name), b;
    assert_int_equal(avro_value_set_branch(&f, s ? 1 : 0, &b), 0);
    if (s)
        assert_int_equal(avro_value_set_string(&b, s), 0);
    else
        assert_int_equal(avro_value_set_null(&b), 0);
}

/* The sealing fields as a foreign writer of the current schema may set them: variant
 * SEAL_OK is consistent, the others each break one thing. */
enum {
    SEAL_OK,
    SEAL_DATA_NONCE_23,
    SEAL_METADATA_NONCE_25,
    SEAL_KEY_ID_NOT_UUID,
    SEAL_KEY_ID_NO_SUBJECT,
    SEAL_SUBJECT_NO_KEY_ID,
    SEAL_DATA_NONCE_NO_SUBJECT,
    SEAL_SUBJECT_NO_DATA_NONCE,
    SEAL_METADATA_NONCE_NO_SUBJECT,
    SEAL_SUBJECT_INVALID,
    SEAL_DATA_SHORT,
};

static void fill_sealing(avro_value_t *top, int variant)
{
    static const uint8_t nonce[25] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                                      14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25};
    const char *key = "9b2f4c1e-5d6a-4e7b-8c9d-0a1b2c3d4e5f";
    set_text(top, "append_id", "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
    set_text(top, "stream", "Cart-14");
    avro_value_t f = field(top, "expected_kind"), events = field(top, "events"), ev;
    assert_int_equal(avro_value_set_enum(&f, 0), 0);
    set_long(top, "expected_version", 0);
    f = field(top, "operation");
    assert_int_equal(avro_value_set_enum(&f, 0), 0);
    set_long(top, "truncate_before", 0);
    set_long(top, "max_count", 0);
    set_long(top, "max_age_ms", 0);
    for (int i = 0; i < 2; i++) { /* event 2 is the one the variant changes */
        int v = i ? variant : SEAL_OK;
        int subject = v != SEAL_KEY_ID_NO_SUBJECT && v != SEAL_DATA_NONCE_NO_SUBJECT &&
                      v != SEAL_METADATA_NONCE_NO_SUBJECT;
        assert_int_equal(avro_value_append(&events, &ev, NULL), 0);
        set_text(&ev, "event_id",
                 i ? "6ba7b811-9dad-11d1-80b4-00c04fd430c8"
                   : "6ba7b812-9dad-11d1-80b4-00c04fd430c8");
        set_text(&ev, "type", "Registered");
        set_text(&ev, "content_type", "application/json");
        set_bytes(&ev, "data", "0123456789abcdef-ciphertext", v == SEAL_DATA_SHORT ? 15 : 27);
        set_bytes(&ev, "metadata", "fedcba9876543210", 16);
        set_opt(&ev, "correlation_id", NULL);
        set_opt(&ev, "causation_id", NULL);
        set_long(&ev, "created", 1600000000000000);
        set_opt(&ev, "subject", v == SEAL_SUBJECT_INVALID ? "a b" : subject ? "customer:42" : NULL);
        const char *key_id = subject || v == SEAL_KEY_ID_NO_SUBJECT ? key : NULL;
        if (v == SEAL_KEY_ID_NOT_UUID)
            key_id = "9b2f4c1e-5d6a-4e7b-8c9d-0a1b2c3d4e5"; /* one digit short */
        else if (v == SEAL_SUBJECT_NO_KEY_ID)
            key_id = NULL;
        set_opt(&ev, "key_id", key_id);
        size_t data_nonce = subject || v == SEAL_DATA_NONCE_NO_SUBJECT ? 24 : 0;
        if (v == SEAL_DATA_NONCE_23)
            data_nonce = 23;
        else if (v == SEAL_SUBJECT_NO_DATA_NONCE)
            data_nonce = 0;
        set_bytes(&ev, "data_nonce", nonce, data_nonce);
        size_t metadata_nonce = subject || v == SEAL_METADATA_NONCE_NO_SUBJECT ? 24 : 0;
        if (v == SEAL_METADATA_NONCE_25)
            metadata_nonce = 25;
        set_bytes(&ev, "metadata_nonce", nonce, metadata_nonce);
    }
}

/* Records of the current schema whose sealing fields a foreign writer got wrong: what
 * cannot be represented does not decode (both paths agree), the rest decodes and is
 * refused by validation. */
static void test_decode_sealing_fields(void **state)
{
    (void)state;
    char *json = read_text(EVS_TEST_SCHEMA_DIR "/evstore.AppendRequest.avsc");
    uint8_t rec[2048];
    char err[256];
    size_t len = encode_with_schema(json, fill_sealing, SEAL_OK, rec, sizeof rec);
    evs_append_request *got = decode_ok(rec, len);
    assert_string_equal(got->events[1].subject, "customer:42");
    assert_int_equal(got->events[1].metadata_sealed, 1);
    assert_int_equal(got->events[1].data_nonce[23], 24);
    assert_int_equal(got->events[1].metadata_nonce[0], 1);
    if (evs_record_validate(got, err, sizeof err) != 0)
        fail_msg("%s", err);
    /* The codec's own encoding of the decoded request is the same record. */
    evs_buf buf = {0};
    encode_ok(got, &buf);
    assert_int_equal(buf.len, len);
    assert_memory_equal(buf.data, rec, len);
    evs_buf_free(&buf);
    evs_append_request_free(got);

    const struct {
        int variant;
        const char *decode; /* the decode error, or NULL if it decodes */
        const char *validate;
    } cases[] = {
        {SEAL_DATA_NONCE_23, "event 2: data_nonce is 23 bytes (a nonce is empty or 24 bytes)",
         NULL},
        {SEAL_METADATA_NONCE_25, "event 2: metadata_nonce is 25 bytes", NULL},
        {SEAL_KEY_ID_NOT_UUID,
         "event 2: key_id \"9b2f4c1e-5d6a-4e7b-8c9d-0a1b2c3d4e5\" is not a UUID", NULL},
        {SEAL_KEY_ID_NO_SUBJECT, NULL, "event 2: the record has a key_id but no subject"},
        {SEAL_SUBJECT_NO_KEY_ID, NULL, "event 2: the record has a subject but no key_id"},
        {SEAL_DATA_NONCE_NO_SUBJECT, NULL, "event 2: the record has a data_nonce but no subject"},
        {SEAL_SUBJECT_NO_DATA_NONCE, NULL, "event 2: the record has a subject but no data_nonce"},
        {SEAL_METADATA_NONCE_NO_SUBJECT, NULL,
         "event 2: metadata is sealed but the event has no subject"},
        {SEAL_SUBJECT_INVALID, NULL, "event 2: subject \"a b\" contains ' '"},
        {SEAL_DATA_SHORT, NULL, "event 2: sealed data is 15 bytes, shorter than the 16-byte tag"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        len = encode_with_schema(json, fill_sealing, cases[i].variant, rec, sizeof rec);
        if (cases[i].decode != NULL) {
            decode_fails(rec, len, EVS_RECORD_EMALFORMED, cases[i].decode);
            continue;
        }
        got = decode_ok(rec, len);
        assert_int_equal(evs_record_validate(got, err, sizeof err), -1);
        if (strstr(err, cases[i].validate) == NULL)
            fail_msg("case %zu: message \"%s\" does not contain \"%s\"", i, err,
                     cases[i].validate);
        evs_append_request_free(got);
    }
    free(json);
}

static void fill_no_created(avro_value_t *top, int variant)
{
    (void)variant;
    set_text(top, "append_id", "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
    set_text(top, "stream", "s");
    set_long(top, "expected_version", 0);
    avro_value_t events = field(top, "events"), ev;
    assert_int_equal(avro_value_append(&events, &ev, NULL), 0);
    set_text(&ev, "event_id", "6ba7b812-9dad-11d1-80b4-00c04fd430c8");
    set_text(&ev, "type", "t");
    set_bytes(&ev, "data", "", 0);
}

static void test_evolution_missing_required_field(void **state)
{
    (void)state;
    const char *json =
        "{\"type\":\"record\",\"name\":\"AppendRequest\",\"namespace\":\"evstore\","
        "\"fields\":[{\"name\":\"append_id\",\"type\":\"string\"},{\"name\":\"stream\","
        "\"type\":\"string\"},{\"name\":\"expected_kind\",\"type\":{\"type\":\"enum\","
        "\"name\":\"ExpectedKind\",\"symbols\":[\"ANY\"]}},{\"name\":\"expected_version\","
        "\"type\":\"long\"},{\"name\":\"events\",\"type\":{\"type\":\"array\",\"items\":"
        "{\"type\":\"record\",\"name\":\"Event\",\"fields\":[{\"name\":\"event_id\",\"type\":"
        "\"string\"},{\"name\":\"type\",\"type\":\"string\"},{\"name\":\"data\",\"type\":"
        "\"bytes\"}]}}}]}";
    uint8_t rec[512];
    assert_int_equal(evs_record_register_schema(json), 0);
    size_t len = encode_with_schema(json, fill_no_created, 0, rec, sizeof rec);
    decode_fails(rec, len, EVS_RECORD_EMALFORMED, "no field events.created, which has no default");

    /* A field of a type that cannot be read as the current one. */
    const char *wrong =
        "{\"type\":\"record\",\"name\":\"AppendRequest\",\"namespace\":\"evstore\","
        "\"fields\":[{\"name\":\"append_id\",\"type\":\"string\"},{\"name\":\"stream\","
        "\"type\":\"long\"},{\"name\":\"expected_kind\",\"type\":{\"type\":\"enum\","
        "\"name\":\"ExpectedKind\",\"symbols\":[\"ANY\"]}},{\"name\":\"expected_version\","
        "\"type\":\"long\"},{\"name\":\"events\",\"type\":{\"type\":\"array\",\"items\":"
        "\"string\"}}]}";
    assert_int_equal(evs_record_register_schema(wrong), 0);
    uint8_t hdr[10] = {0xC3, 0x01};
    uint64_t fp;
    assert_int_equal(evs_schema_canonical(wrong, NULL, &fp), 0);
    for (int i = 0; i < 8; i++)
        hdr[2 + i] = (uint8_t)(fp >> (8 * i));
    decode_fails(hdr, sizeof hdr, EVS_RECORD_EMALFORMED, "field stream has a type");
}

static void test_register_rejects(void **state)
{
    (void)state;
    assert_int_equal(evs_record_register_schema(NULL), -1);
    assert_int_equal(evs_record_register_schema("not json"), -1);
    assert_int_equal(evs_record_register_schema("\"string\""), -1);
    assert_int_equal(
        evs_record_register_schema("{\"type\":\"record\",\"name\":\"Other\",\"fields\":[]}"), -1);
    /* The built-in schema is known already. */
    char *json = read_text(EVS_TEST_SCHEMA_DIR "/evstore.AppendRequest.avsc");
    assert_int_equal(evs_record_register_schema(json), 0);
    free(json);
}

/* ---- Threads ------------------------------------------------------------------------- */

typedef struct thread_job {
    int seed;
    int failures;
} thread_job;

static void *thread_main(void *arg)
{
    thread_job *job = arg;
    sample *s = calloc(1, sizeof *s);
    evs_buf buf = {0};
    for (int i = 0; i < 3000; i++) {
        sample_init(s, 1 + (size_t)(i + job->seed) % 7);
        s->req.expected_version = (uint64_t)(job->seed * 100000 + i);
        if (evs_record_encode(&s->req, &buf) != 0) {
            job->failures++;
            continue;
        }
        evs_append_request *got = NULL;
        if (decode_both(buf.data, buf.len, &got, NULL, 0) != 0 ||
            got->expected_version != s->req.expected_version ||
            got->event_count != s->req.event_count ||
            memcmp(got->events[0].data, s->events[0].data, s->events[0].data_len) != 0)
            job->failures++;
        evs_append_request_free(got);
    }
    evs_buf_free(&buf);
    free(s);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    enum { N = 4 };
    pthread_t t[N];
    thread_job jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (thread_job){.seed = i + 1};
        assert_int_equal(pthread_create(&t[i], NULL, thread_main, &jobs[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(jobs[i].failures, 0);
    }
}

static void test_strerror(void **state)
{
    (void)state;
    int codes[] = {EVS_RECORD_OK,         EVS_RECORD_EMAGIC,     EVS_RECORD_ESCHEMA,
                   EVS_RECORD_EMALFORMED, EVS_RECORD_ETOO_LARGE, EVS_RECORD_ENOMEM};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        assert_true(strlen(evs_record_strerror(codes[i])) > 0);
    assert_string_equal(evs_record_strerror(-99), "unknown record codec error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_small_schema),
        cmocka_unit_test(test_canonical_primitives),
        cmocka_unit_test(test_canonical_rejects),
        cmocka_unit_test(test_append_request_fingerprint),
        cmocka_unit_test(test_defaults_match_schema),
        cmocka_unit_test(test_round_trip_one),
        cmocka_unit_test(test_round_trip_many),
        cmocka_unit_test(test_round_trip_sealed),
        cmocka_unit_test(test_payload_bytes_exact),
        cmocka_unit_test(test_golden_bytes),
        cmocka_unit_test(test_encoded_size_exact),
        cmocka_unit_test(test_decode_bad_magic),
        cmocka_unit_test(test_decode_unknown_fingerprint),
        cmocka_unit_test(test_decode_truncated_everywhere),
        cmocka_unit_test(test_decode_trailing_garbage),
        cmocka_unit_test(test_decode_oversized),
        cmocka_unit_test(test_decode_invalid_uuid),
        cmocka_unit_test(test_decode_hostile_bodies),
        cmocka_unit_test(test_decode_random_corruption),
        cmocka_unit_test(test_decode_corrupted_lengths),
        cmocka_unit_test(test_decode_array_blocks),
        cmocka_unit_test(test_lifecycle_round_trip),
        cmocka_unit_test(test_validate_request_rules),
        cmocka_unit_test(test_validate_encoded_size_limit),
        cmocka_unit_test(test_validate_sealing),
        cmocka_unit_test(test_name_helpers),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_evolution_older_writer),
        cmocka_unit_test(test_evolution_newer_writer),
        cmocka_unit_test(test_evolution_missing_required_field),
        cmocka_unit_test(test_decode_sealing_fields),
        cmocka_unit_test(test_register_rejects),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests_name("record_codec", tests, NULL, NULL);
}
