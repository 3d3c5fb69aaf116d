/*
 * bench_record_codec.c - how fast the append record codec runs on one core.
 *
 * Not a test: it asserts nothing about speed, it prints rates. Usage:
 *   bench_record_codec [events_per_record] [seconds_per_measure]
 * Measures evs_record_encode, evs_record_decode (+ free), evs_record_validate and
 * decode+validate on a typical record: a 100-byte JSON payload, 30 bytes of metadata and a
 * correlation id per event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "record_codec.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atoi(argv[1]) : 1;
    double seconds = argc > 2 ? atof(argv[2]) : 1.0;
    if (n < 1 || n > EVS_APPEND_EVENTS_MAX)
        return 2;
    static char data[] = "{\"order_id\":\"ord-000123\",\"customer\":\"cust-42\",\"lines\":"
                         "[{\"sku\":\"A-1\",\"qty\":2}],\"total_cents\":12345}";
    evs_record_event *ev = calloc(n, sizeof *ev);
    evs_append_request req = {.stream = "Order-000123",
                              .stream_len = 12,
                              .expected_kind = EVS_EXPECT_EXACT,
                              .expected_version = 7,
                              .events = ev,
                              .event_count = n};
    evs_uuid_generate(req.append_id);
    for (size_t i = 0; i < n; i++) {
        evs_uuid_generate(ev[i].event_id);
        ev[i].type = "OrderPlaced";
        ev[i].type_len = 11;
        ev[i].content_type = "application/json";
        ev[i].content_type_len = 16;
        ev[i].data = (const uint8_t *)data;
        ev[i].data_len = sizeof data - 1;
        ev[i].metadata = (const uint8_t *)"{\"user\":\"u-1\",\"ip\":\"10.0.0.1\"}";
        ev[i].metadata_len = 30;
        ev[i].correlation_id = "req-8c1f2a";
        ev[i].correlation_id_len = 10;
        ev[i].created_us = 1700000000000000;
    }
    evs_buf buf = {0};
    if (evs_record_encode(&req, &buf) != 0)
        return 1;
    printf("record: %zu events, %zu bytes\n", n, buf.len);

    const char *names[] = {"encode", "decode", "validate", "decode+validate"};
    for (int m = 0; m < 4; m++) {
        long iters = 0;
        double start = now_s(), end = start + seconds;
        while (now_s() < end) {
            for (int k = 0; k < 1000; k++) {
                evs_append_request *got = NULL;
                char err[128];
                switch (m) {
                case 0:
                    if (evs_record_encode(&req, &buf) != 0)
                        return 1;
                    break;
                case 1:
                    if (evs_record_decode(buf.data, buf.len, &got, err, sizeof err) != 0)
                        return 1;
                    evs_append_request_free(got);
                    break;
                case 2:
                    if (evs_record_validate(&req, err, sizeof err) != 0)
                        return 1;
                    break;
                default:
                    if (evs_record_decode(buf.data, buf.len, &got, err, sizeof err) != 0 ||
                        evs_record_validate(got, err, sizeof err) != 0)
                        return 1;
                    evs_append_request_free(got);
                    break;
                }
            }
            iters += 1000;
        }
        double t = now_s() - start;
        printf("%-16s %10.0f records/s  %10.0f events/s  %7.2f us/record\n", names[m],
               (double)iters / t, (double)iters * (double)n / t, t / (double)iters * 1e6);
    }
    evs_buf_free(&buf);
    free(ev);
    return 0;
}
