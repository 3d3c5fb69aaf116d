/*
 * fuzz_record_decode.c - libFuzzer target for the Avro codec of events-topic records
 * (schemas/record_codec.h): the bytes every projector decodes from a topic anyone can write.
 *
 * For each input:
 *   decode -> (fails: a known evs_record_error code, a message, *out NULL)
 *          -> validate (a pure function: twice the same answer)
 *          -> encode with the current schema: evs_record_encoded_size() bytes, and encoding
 *             again gives the same bytes
 *          -> decode again: the same request, field by field.
 * Every decode is also done by the generic path (evs__record_decode_generic: schema_graph
 * check + avro-c), and the fast path for current-schema records must agree with it: the
 * same code and message, or the same request field by field (NULL-ness included).
 * Every decoded request goes round the loop, whether or not it passes evs_record_validate:
 * the codec must not depend on the limits. ASan and UBSan catch what the asserts do not.
 *
 * The two test writer schemas of tests/data (an older one without the optional fields and a
 * newer one with extra fields, reordered fields, a [string, null] union and an int created)
 * are registered at start, so the schema-resolution paths are fuzzed too; the seeds
 * (tests/fuzz/corpus/fuzz_record_decode, written by make_seeds.c) have records of all three.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "record_codec.h"

#ifndef EVS_FUZZ_DATA_DIR
#error "EVS_FUZZ_DATA_DIR (tests/data) must be defined by the build"
#endif

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = NULL;
    long n;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (text = malloc((size_t)n + 1)) != NULL) {
        if (fread(text, 1, (size_t)n, f) != (size_t)n) {
            free(text);
            text = NULL;
        } else {
            text[n] = 0;
        }
    }
    fclose(f);
    return text;
}

static int verbose; /* EVS_FUZZ_VERBOSE=1: print each input's outcome (for checking seeds) */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    verbose = getenv("EVS_FUZZ_VERBOSE") != NULL;
    static const char *const schemas[] = {EVS_FUZZ_DATA_DIR "/AppendRequest.v0.avsc",
                                          EVS_FUZZ_DATA_DIR "/AppendRequest.newer.avsc"};
    for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++) {
        char *json = read_file(schemas[i]);
        if (!json || evs_record_register_schema(json) != 0) {
            fprintf(stderr, "fuzz_record_decode: cannot register the writer schema %s\n",
                    schemas[i]);
            exit(1);
        }
        free(json);
    }
    return 0;
}

static int blob_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* An optional string: NULL (absent) differs from "" (present, empty). */
static int optional_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    if (!a || !b)
        return !a && !b;
    return blob_equal(a, alen, b, blen);
}

static void check_same(const evs_append_request *a, const evs_append_request *b)
{
    CHECK(!memcmp(a->append_id, b->append_id, 16), "append_id");
    CHECK(blob_equal(a->stream, a->stream_len, b->stream, b->stream_len), "stream (%zu vs %zu bytes)",
          a->stream_len, b->stream_len);
    CHECK(a->expected_kind == b->expected_kind, "expected_kind %d vs %d", (int)a->expected_kind,
          (int)b->expected_kind);
    CHECK(a->expected_version == b->expected_version, "expected_version %llu vs %llu",
          (unsigned long long)a->expected_version, (unsigned long long)b->expected_version);
    CHECK(a->event_count == b->event_count, "event_count %zu vs %zu", a->event_count,
          b->event_count);
    for (size_t i = 0; i < a->event_count; i++) {
        const evs_record_event *x = &a->events[i], *y = &b->events[i];
        CHECK(!memcmp(x->event_id, y->event_id, 16), "event %zu: event_id", i + 1);
        CHECK(blob_equal(x->type, x->type_len, y->type, y->type_len), "event %zu: type", i + 1);
        CHECK(blob_equal(x->content_type, x->content_type_len, y->content_type,
                         y->content_type_len),
              "event %zu: content_type", i + 1);
        CHECK(blob_equal(x->data, x->data_len, y->data, y->data_len),
              "event %zu: data (%zu vs %zu bytes)", i + 1, x->data_len, y->data_len);
        CHECK(blob_equal(x->metadata, x->metadata_len, y->metadata, y->metadata_len),
              "event %zu: metadata (%zu vs %zu bytes)", i + 1, x->metadata_len, y->metadata_len);
        CHECK(optional_equal(x->correlation_id, x->correlation_id_len, y->correlation_id,
                             y->correlation_id_len),
              "event %zu: correlation_id", i + 1);
        CHECK(optional_equal(x->causation_id, x->causation_id_len, y->causation_id,
                             y->causation_id_len),
              "event %zu: causation_id", i + 1);
        CHECK(x->created_us == y->created_us, "event %zu: created %lld vs %lld", i + 1,
              (long long)x->created_us, (long long)y->created_us);
    }
}

/* record_codec.h: evs_record_decode NUL-terminates every string and byte field it returns. */
static void check_terminated(const evs_append_request *r)
{
    CHECK(r->stream && r->stream[r->stream_len] == 0, "stream not NUL-terminated");
    for (size_t i = 0; i < r->event_count; i++) {
        const evs_record_event *e = &r->events[i];
        CHECK(e->type && e->type[e->type_len] == 0, "event %zu: type", i + 1);
        CHECK(e->content_type && e->content_type[e->content_type_len] == 0,
              "event %zu: content_type", i + 1);
        CHECK(e->data && e->data[e->data_len] == 0, "event %zu: data", i + 1);
        CHECK(!e->metadata || e->metadata[e->metadata_len] == 0, "event %zu: metadata", i + 1);
        CHECK(e->metadata || e->metadata_len == 0, "event %zu: metadata NULL with length",
              i + 1);
        CHECK(!e->correlation_id || e->correlation_id[e->correlation_id_len] == 0,
              "event %zu: correlation_id", i + 1);
        CHECK(!e->causation_id || e->causation_id[e->causation_id_len] == 0,
              "event %zu: causation_id", i + 1);
    }
}

/* evs_record_decode and the generic path give the same outcome for data. */
static void check_paths_agree(const uint8_t *data, size_t size)
{
    evs_append_request *fast = (evs_append_request *)1, *generic = (evs_append_request *)1;
    char ferr[256], gerr[256];
    int frc = evs_record_decode(data, size, &fast, ferr, sizeof ferr);
    int grc = evs__record_decode_generic(data, size, &generic, gerr, sizeof gerr);
    CHECK(frc == grc, "decode %d (%s) but generic decode %d (%s)", frc, ferr, grc, gerr);
    CHECK(!strcmp(ferr, gerr), "messages differ: \"%s\" vs \"%s\"", ferr, gerr);
    if (frc == EVS_RECORD_OK) {
        check_same(fast, generic);
        for (size_t i = 0; i < fast->event_count; i++) {
            const evs_record_event *x = &fast->events[i], *y = &generic->events[i];
            CHECK(!x->metadata == !y->metadata && !x->correlation_id == !y->correlation_id &&
                      !x->causation_id == !y->causation_id,
                  "event %zu: NULL-ness differs", i + 1);
        }
    }
    evs_append_request_free(frc == EVS_RECORD_OK ? fast : NULL);
    evs_append_request_free(grc == EVS_RECORD_OK ? generic : NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    evs_append_request *req = (evs_append_request *)1;
    char err[256];
    check_paths_agree(data, size);
    int rc = evs_record_decode(data, size, &req, err, sizeof err);
    if (verbose)
        fprintf(stderr, "fuzz_record_decode: %zu bytes: decode %d %s\n", size, rc, err);
    if (rc != EVS_RECORD_OK) {
        CHECK(req == NULL, "a failed decode (%d) left *out set", rc);
        CHECK(rc == EVS_RECORD_EMAGIC || rc == EVS_RECORD_ESCHEMA || rc == EVS_RECORD_EMALFORMED ||
                  rc == EVS_RECORD_ETOO_LARGE,
              "unexpected decode error %d (%s)", rc, err);
        CHECK(err[0] != 0 && memchr(err, 0, sizeof err), "decode error %d without a message", rc);
        return 0;
    }
    CHECK(req != NULL, "decode succeeded without a request");
    check_terminated(req);

    /* Validation is a pure function of the request (the projector relies on it). */
    char verr1[256] = "", verr2[256] = "";
    int valid1 = evs_record_validate(req, verr1, sizeof verr1);
    int valid2 = evs_record_validate(req, verr2, sizeof verr2);
    if (verbose)
        fprintf(stderr, "fuzz_record_decode: validate %d %s\n", valid1, verr1);
    CHECK(valid1 == valid2 && !strcmp(verr1, verr2), "validate is not deterministic");
    CHECK(valid1 == 0 || (valid1 == -1 && verr1[0]), "validate returned %d (%s)", valid1, verr1);

    evs_buf enc = {0}, enc2 = {0};
    CHECK(evs_record_encode(req, &enc) == EVS_RECORD_OK, "re-encoding a decoded request failed");
    CHECK(enc.len == evs_record_encoded_size(req), "encoded %zu bytes, encoded_size says %zu",
          enc.len, evs_record_encoded_size(req));
    CHECK(evs_record_encode(req, &enc2) == EVS_RECORD_OK && blob_equal(enc.data, enc.len,
                                                                       enc2.data, enc2.len),
          "encoding is not deterministic");

    check_paths_agree(enc.data, enc.len);
    evs_append_request *again = NULL;
    rc = evs_record_decode(enc.data, enc.len, &again, err, sizeof err);
    CHECK(rc == EVS_RECORD_OK, "the re-encoded record does not decode: %d %s", rc, err);
    check_same(req, again);
    CHECK(evs_record_validate(again, verr2, sizeof verr2) == valid1 && !strcmp(verr1, verr2),
          "validation differs after the round trip: \"%s\" vs \"%s\"", verr1, verr2);

    /* The current schema's encoding is a fixed point. */
    evs_buf enc3 = {0};
    CHECK(evs_record_encode(again, &enc3) == EVS_RECORD_OK &&
              blob_equal(enc.data, enc.len, enc3.data, enc3.len),
          "encode(decode(encode(r))) differs from encode(r)");

    evs_buf_free(&enc);
    evs_buf_free(&enc2);
    evs_buf_free(&enc3);
    evs_append_request_free(again);
    evs_append_request_free(req);
    return 0;
}
