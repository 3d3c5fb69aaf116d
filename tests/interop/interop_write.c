/*
 * interop_write.c - evs_interop_write: writes a fixed set of append records, encoded by
 * evs_record_encode(), to DIR/<n>.bin, plus DIR/expect.json (interop_json.h), so that
 * decode_fastavro.py can prove without Kafka that another Avro implementation reads them.
 *
 *   evs_interop_write DIR
 *
 * The set covers what is easy to get wrong between implementations: binary payloads with
 * zero and high bytes, empty and absent optional fields, every expected kind, the largest
 * version, negative and extreme varints, 1000 events in one record, and payloads at their
 * size limits. Deterministic: the same build always writes the same bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "interop_json.h"
#include "record_codec.h"

#define EVENTS_MAX 1000

typedef struct builder {
    evs_append_request req;
    evs_record_event events[EVENTS_MAX];
    char text[EVENTS_MAX][48];
} builder;

static uint64_t rng = 0x2545F4914F6CDD1Du;

static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void fill_id(uint8_t id[16])
{
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)next_random();
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x40);
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
}

static void start(builder *b, const char *stream, evs_expected_kind kind, uint64_t version,
                  size_t n)
{
    memset(b, 0, sizeof *b);
    fill_id(b->req.append_id);
    b->req.stream = stream;
    b->req.stream_len = strlen(stream);
    b->req.expected_kind = kind;
    b->req.expected_version = version;
    b->req.events = b->events;
    b->req.event_count = n;
    for (size_t i = 0; i < n; i++) {
        evs_record_event *e = &b->events[i];
        fill_id(e->event_id);
        snprintf(b->text[i], sizeof b->text[i], "Thing.Happened/v%zu", i % 7);
        e->type = b->text[i];
        e->type_len = strlen(b->text[i]);
        e->content_type = "application/json";
        e->content_type_len = 16;
        e->data = (const uint8_t *)"{\"n\":1}";
        e->data_len = 7;
        e->created_us = 1700000000000000 + (int64_t)i;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: evs_interop_write DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "evs_interop_write: mkdir %s: %s\n", dir, strerror(errno));
        return 2;
    }
    builder *b = calloc(1, sizeof *b);
    uint8_t *big = malloc(EVS_EVENT_DATA_MAX), *meta = malloc(EVS_EVENT_METADATA_MAX);
    static uint8_t all_bytes[256];
    static char long_stream[EVS_STREAM_NAME_MAX], long_type[EVS_EVENT_TYPE_MAX],
        long_text[EVS_CONTENT_TYPE_MAX];
    if (b == NULL || big == NULL || meta == NULL)
        return 2;
    for (int i = 0; i < 256; i++)
        all_bytes[i] = (uint8_t)i;
    for (size_t i = 0; i < EVS_EVENT_DATA_MAX; i++)
        big[i] = (uint8_t)next_random();
    for (size_t i = 0; i < EVS_EVENT_METADATA_MAX; i++)
        meta[i] = (uint8_t)(i % 5 ? next_random() : 0);

    json_t *records = json_array();
    evs_buf buf = {0};
    int status = 0;
    for (int n = 0; n < 7; n++) {
        switch (n) {
        case 0: /* one ordinary event with every field */
            start(b, "Order-1", EVS_EXPECT_NO_STREAM, 0, 1);
            b->events[0].metadata = (const uint8_t *)"{\"user\":\"u-1\"}";
            b->events[0].metadata_len = 14;
            b->events[0].correlation_id = "corr-1";
            b->events[0].correlation_id_len = 6;
            b->events[0].causation_id = "cause-1";
            b->events[0].causation_id_len = 7;
            break;
        case 1: /* binary payloads, empty optional values, negative and extreme times */
            start(b, "Bin.Stream:x@y_z-2", EVS_EXPECT_EXACT, (uint64_t)INT64_MAX, 4);
            b->events[0].content_type = "application/octet-stream";
            b->events[0].content_type_len = 24;
            b->events[0].data = all_bytes;
            b->events[0].data_len = sizeof all_bytes;
            b->events[0].created_us = INT64_MIN;
            b->events[1].data = (const uint8_t *)"";
            b->events[1].data_len = 0;
            b->events[1].correlation_id = "";
            b->events[1].causation_id = "";
            b->events[1].created_us = -1;
            b->events[2].data = (const uint8_t *)"\0\0\0";
            b->events[2].data_len = 3;
            b->events[2].created_us = INT64_MAX;
            b->events[3].created_us = 0;
            break;
        case 2:
            start(b, "Any-3", EVS_EXPECT_ANY, 0, 2);
            break;
        case 3:
            start(b, "Exists-4", EVS_EXPECT_STREAM_EXISTS, 0, 3);
            break;
        case 4: /* the most events one append may carry */
            start(b, "Many-5", EVS_EXPECT_EXACT, 127, EVENTS_MAX);
            for (size_t i = 0; i < EVENTS_MAX; i += 3) {
                b->events[i].correlation_id = "c";
                b->events[i].correlation_id_len = 1;
            }
            break;
        case 5: /* payloads at their limits */
            start(b, "Big-6", EVS_EXPECT_EXACT, 128, 2);
            b->events[0].content_type = "application/vnd.example+avro";
            b->events[0].content_type_len = strlen(b->events[0].content_type);
            b->events[0].data = big;
            b->events[0].data_len = EVS_EVENT_DATA_MAX;
            b->events[0].metadata = meta;
            b->events[0].metadata_len = EVS_EVENT_METADATA_MAX;
            b->events[1].data = big;
            b->events[1].data_len = EVS_EVENT_DATA_MAX - 1;
            break;
        default: /* names and ids at their length limits */
            start(b, "", EVS_EXPECT_EXACT, 16384, 1);
            memset(long_stream, 'S', EVS_STREAM_NAME_MAX);
            memset(long_type, 'T', EVS_EVENT_TYPE_MAX);
            memset(long_text, '~', EVS_CONTENT_TYPE_MAX);
            b->req.stream = long_stream;
            b->req.stream_len = EVS_STREAM_NAME_MAX;
            b->events[0].type = long_type;
            b->events[0].type_len = EVS_EVENT_TYPE_MAX;
            b->events[0].content_type = long_text;
            b->events[0].content_type_len = EVS_CONTENT_TYPE_MAX;
            b->events[0].correlation_id = long_text;
            b->events[0].correlation_id_len = EVS_CORRELATION_ID_MAX;
            b->events[0].causation_id = long_text;
            b->events[0].causation_id_len = EVS_CORRELATION_ID_MAX;
            break;
        }
        char err[256];
        if (evs_record_validate(&b->req, err, sizeof err) != 0) {
            fprintf(stderr, "evs_interop_write: record %d is invalid: %s\n", n, err);
            return 2;
        }
        if (evs_record_encode(&b->req, &buf) != 0)
            return 2;
        char name[32], path[4096];
        snprintf(name, sizeof name, "%d.bin", n);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (evs_interop_write_file(path, buf.data, buf.len) != 0) {
            fprintf(stderr, "evs_interop_write: %s: %s\n", path, strerror(errno));
            return 2;
        }
        /* The expectation is what our decoder reads back, which the unit tests tie to what
         * we encoded. */
        evs_append_request *got;
        if (evs_record_decode(buf.data, buf.len, &got, err, sizeof err) != 0) {
            fprintf(stderr, "evs_interop_write: record %d does not decode: %s\n", n, err);
            status = 1;
            continue;
        }
        json_array_append_new(records, evs_interop_request_json(got, name));
        evs_append_request_free(got);
    }
    json_t *doc = json_pack("{s:o}", "records", records);
    char path[4096];
    snprintf(path, sizeof path, "%s/expect.json", dir);
    if (json_dump_file(doc, path, JSON_INDENT(1) | JSON_SORT_KEYS) != 0)
        status = 2;
    json_decref(doc);
    evs_buf_free(&buf);
    free(big);
    free(meta);
    free(b);
    return status;
}
