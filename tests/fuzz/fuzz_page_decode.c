/*
 * fuzz_page_decode.c - libFuzzer target for the binary page codec (schemas/page_codec.h): the
 * bytes libevstore decodes from whatever answers at the projector's address.
 *
 * For each input:
 *   decode -> (fails: a known evs_record_error code and a NUL-terminated message)
 *          -> the visitor saw exactly info.event_count events
 *          -> encode the decoded page again, then decode that: the same page-level members
 *             and the same events, field by field
 *          -> encoding the second decoding gives the same bytes as the first encoding (the
 *             encoder's output is canonical even where the input was not: Avro allows
 *             several encodings of one value, e.g. negative block counts).
 * ASan and UBSan catch what the checks do not. The seeds (tests/fuzz/corpus/
 * fuzz_page_decode, written by make_seeds.c) are pages of every shape and broken ones.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evstore_limits.h"
#include "fuzz_check.h"
#include "page_codec.h"

typedef struct page {
    evs_page_info info;
    evs_page_event *events; /* pointers into the decoded bytes */
    size_t count;
} page;

static int collect(void *ctx, const evs_page_event *event)
{
    page *p = ctx;
    CHECK(p->count < EVS_READ_LIMIT_MAX, "more than %d events visited", EVS_READ_LIMIT_MAX);
    p->events[p->count++] = *event;
    return 0;
}

static int decode(const void *data, size_t len, page *p, char *err, size_t err_len)
{
    p->count = 0;
    memset(&p->info, 0, sizeof p->info);
    return evs_page_decode(data, len, &p->info, collect, p, err, err_len);
}

static void encode(const page *p, evs_buf *out)
{
    evs_page_encoder enc;
    evs_page_encode_begin(&enc, out, &p->info);
    for (size_t i = 0; i < p->count; i++)
        evs_page_encode_event(&enc, &p->events[i]);
    int rc = evs_page_encode_end(&enc, p->info.next, p->info.end);
    CHECK(rc == 0, "encoding a decoded page failed: %d", rc);
}

static int same_text(const char *a, size_t an, const char *b, size_t bn)
{
    if ((a == NULL) != (b == NULL) || an != bn)
        return 0;
    return an == 0 || memcmp(a, b, an) == 0;
}

static void check_same(const page *a, const page *b)
{
    const evs_page_info *x = &a->info, *y = &b->info;
    CHECK(same_text(x->stream, x->stream_len, y->stream, y->stream_len), "page stream differs");
    CHECK(same_text(x->category, x->category_len, y->category, y->category_len),
          "page category differs");
    CHECK(same_text(x->type, x->type_len, y->type, y->type_len), "page type differs");
    CHECK(x->has_current_version == y->has_current_version &&
              (!x->has_current_version || x->current_version == y->current_version),
          "current_version differs");
    CHECK(x->has_partition == y->has_partition &&
              (!x->has_partition || x->partition == y->partition),
          "partition differs");
    CHECK(x->has_first_version == y->has_first_version &&
              (!x->has_first_version || x->first_version == y->first_version),
          "first_version differs");
    CHECK(x->event_count == y->event_count && x->next == y->next && x->end == y->end,
          "count/next/end differ: %zu/%llu/%d vs %zu/%llu/%d", x->event_count,
          (unsigned long long)x->next, x->end, y->event_count, (unsigned long long)y->next,
          y->end);
    CHECK(a->count == b->count, "%zu vs %zu events", a->count, b->count);
    for (size_t i = 0; i < a->count; i++) {
        const evs_page_event *e = &a->events[i], *f = &b->events[i];
        CHECK(!strcmp(e->event_id, f->event_id), "event %zu: event_id", i);
        CHECK(same_text(e->stream, e->stream_len, f->stream, f->stream_len), "event %zu: stream",
              i);
        CHECK(same_text(e->type, e->type_len, f->type, f->type_len), "event %zu: type", i);
        CHECK(e->version == f->version && e->position == f->position &&
                  e->partition == f->partition && e->created_us == f->created_us,
              "event %zu: numbers", i);
        CHECK(same_text(e->content_type, e->content_type_len, f->content_type,
                        f->content_type_len),
              "event %zu: content_type", i);
        CHECK(e->data_len == f->data_len &&
                  (e->data_len == 0 || memcmp(e->data, f->data, e->data_len) == 0),
              "event %zu: data", i);
        CHECK(same_text((const char *)e->metadata, e->metadata_len, (const char *)f->metadata,
                        f->metadata_len),
              "event %zu: metadata", i);
        CHECK(same_text(e->correlation_id, e->correlation_id_len, f->correlation_id,
                        f->correlation_id_len),
              "event %zu: correlation_id", i);
        CHECK(same_text(e->causation_id, e->causation_id_len, f->causation_id,
                        f->causation_id_len),
              "event %zu: causation_id", i);
        CHECK(same_text(e->subject, e->subject_len, f->subject, f->subject_len),
              "event %zu: subject", i);
        CHECK(e->erased == f->erased && e->sealed == f->sealed, "event %zu: erased/sealed", i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static evs_page_event first_events[EVS_READ_LIMIT_MAX], second_events[EVS_READ_LIMIT_MAX];
    page first = {.events = first_events}, second = {.events = second_events};
    char err[256];

    memset(err, 'x', sizeof err);
    int rc = decode(data, size, &first, err, sizeof err);
    if (rc != 0) {
        CHECK(rc == EVS_RECORD_EMAGIC || rc == EVS_RECORD_ESCHEMA || rc == EVS_RECORD_EMALFORMED,
              "unknown error code %d", rc);
        CHECK(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0',
              "no NUL-terminated message for error %d", rc);
        return 0;
    }
    CHECK(first.count == first.info.event_count, "visited %zu events, info says %zu",
          first.count, first.info.event_count);

    evs_buf once = {0}, twice = {0};
    encode(&first, &once);
    rc = decode(once.data, once.len, &second, err, sizeof err);
    CHECK(rc == 0, "a re-encoded page does not decode: %d: %s", rc, err);
    check_same(&first, &second);
    encode(&second, &twice);
    CHECK(once.len == twice.len && memcmp(once.data, twice.data, once.len) == 0,
          "encoding is not canonical: %zu vs %zu bytes", once.len, twice.len);
    evs_buf_free(&once);
    evs_buf_free(&twice);
    return 0;
}
