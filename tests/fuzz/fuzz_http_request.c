/*
 * fuzz_http_request.c - libFuzzer target for the projector's HTTP API: libmicrohttpd's
 * request parsing, the router (http_api.c) and every endpoint handler, over a real socket.
 *
 * Set-up (once, LLVMFuzzerInitialize): a real RocksDB store in a temporary directory
 * (/dev/shm when it is writable: checkpoint and snapshot writes sync the WAL), filled by
 * the real applier with the records of fixture_records[] below (accepted, wrong expected
 * version, skipped, duplicate, repeated and invalid appends); an evs_projector filled in
 * by hand around it (one partition, no consumer: nothing else writes the store); for the
 * broker queries of /status and /verdicts, a librdkafka handle on librdkafka's built-in mock
 * cluster (no Kafka; its topic is MOCK_RECORDS_AHEAD records ahead of the store); a
 * libevstore client producing to that mock cluster for POST /streams/{stream}; and the
 * projector's own libmicrohttpd daemon (evs_http_start) on a free loopback port. State
 * that requests create (checkpoints, snapshots, consumer groups, appended records) stays
 * from one input to the next, as in a running projector.
 *
 * Each input is sent verbatim as the bytes of one connection (method line, path and query,
 * headers, body: anything), then the write side is shut down and the answer read until the
 * server closes. Requests that legitimately wait (a verdict for an offset not applied yet,
 * a following subscription, an append's verdict, a group fetch with wait_ms) are released
 * the way a shutdown releases them: after IDLE_MS without a byte, the harness sets p->stop
 * and wakes the waiters, then clears stop once the connection is closed. Properties checked per input:
 *   H1. the server closes the connection within HANG_MS after that (no hang, no deadlock);
 *   H2. an answer, if any, starts with an HTTP status line, and its status is not 500
 *       (bad input gets a 4xx naming the problem; the store never fails here);
 *   H3. a complete application/json answer is one JSON object, valid by RFC 8259 with
 *       strings in valid UTF-8 (checked by json_object_text_valid below, not jansson,
 *       which refuses big numbers that are valid JSON), and a 4xx/5xx one has an "error"
 *       string (docs/HTTP-API.md);
 *   H4. afterwards GET /health still answers 200 {"status":"ok"}.
 * ASan and UBSan (the whole tree is built with them) catch memory and UB errors in the
 * handler threads; libFuzzer's counters see coverage from every thread.
 *
 * Environment: EVS_FUZZ_HTTP_PORT picks the port (default: a free one); EVS_FUZZ_VERBOSE=1
 * prints the status and the start of each answer (to check seeds and reproducers).
 * A crashed run leaves its store directory (evs-fuzz-http-PID-*) behind in /dev/shm; the
 * next run removes it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "evstore.h"
#include "judge/projector.h"
#include "record_codec.h"

#define IDLE_MS 40         /* no byte for this long: release waiting handlers (p->stop) */
#define HANG_MS 15000      /* after the release, the server must close within this (H1) */
#define ANSWER_KEPT 65536  /* bytes of an answer kept for the checks */
#define TOPIC "evstore.events"

#define FAIL(...)                                                                            \
    do {                                                                                     \
        fprintf(stderr, "fuzz_http_request: ");                                             \
        fprintf(stderr, __VA_ARGS__);                                                        \
        fputc('\n', stderr);                                                                 \
        abort();                                                                             \
    } while (0)

static struct {
    char dir[256];
    evs_projector p;
    rd_kafka_t *querier;
    evs_client *client;
    evs_http_server *server;
    uint16_t port;
} g;

/* ---- The fixture: records applied before fuzzing ------------------------------------
 * Append ids are 16 equal bytes (0xa1 -> a1a1a1a1-a1a1-a1a1-a1a1-a1a1a1a1a1a1), event ids
 * too; the seeds in corpus/fuzz_http_request ask about these (make_seeds.c). */
typedef struct fixture_event {
    uint8_t id;
    const char *type;
    const char *content_type;
    const char *data;
    size_t data_len;
    const char *metadata;
    const char *correlation_id;
} fixture_event;

typedef struct fixture_record {
    const char *key;          /* the Kafka key */
    const char *stream;       /* NULL: the value is `garbage`, not an append */
    uint8_t append_id;
    evs_expected_kind kind;
    uint64_t expected;
    fixture_event events[3];
    size_t event_count;
} fixture_record;

#define JSON_EVENT(id, type, data) {id, type, "application/json", data, sizeof data - 1, NULL, NULL}
static const fixture_record fixture_records[] = {
    /* offset 0: Order-1 v1..2 accepted, positions 1..2 */
    {"Order-1", "Order-1", 0xa1, EVS_EXPECT_NO_STREAM, 0,
     {{0x01, "OrderPlaced", "application/json", "{\"total\":12}", 12, "{\"user\":\"ann\"}", "corr-1"},
      JSON_EVENT(0x02, "OrderPaid", "{\"amount\":12}")}, 2},
    /* offset 1: wrong expected version */
    {"Order-1", "Order-1", 0xa2, EVS_EXPECT_EXACT, 5, {JSON_EVENT(0x03, "OrderShipped", "{}")}, 1},
    /* offset 2: not an append: skipped (422 for /verdicts/..?partition=0&offset=2) */
    {"Order-1", NULL, 0, 0, 0, {{0}}, 0},
    /* offset 3: Order-2 v1, binary data (served as base64) */
    {"Order-2", "Order-2", 0xa3, EVS_EXPECT_ANY, 0,
     {{0x04, "OrderPlaced", "application/octet-stream", "\x00\xff\x10 bin", 7, "\x01\x02", NULL}},
     1},
    /* offset 4: Cart-7 v1..3 */
    {"Cart-7", "Cart-7", 0xa4, EVS_EXPECT_ANY, 0,
     {JSON_EVENT(0x05, "CartItemAdded", "{\"sku\":1}"),
      JSON_EVENT(0x06, "CartItemAdded", "[1,2,3]"),
      {0x07, "Cart/Emptied", "text/plain", "not json", 8, "not json either", NULL}}, 3},
    /* offset 5: a repeat of append a1: skipped, the first verdict stands */
    {"Order-1", "Order-1", 0xa1, EVS_EXPECT_ANY, 0, {JSON_EVENT(0x08, "OrderPlaced", "{}")}, 1},
    /* offset 6: the events of a1 again under a new append id: duplicate */
    {"Order-1", "Order-1", 0xa5, EVS_EXPECT_ANY, 0,
     {{0x01, "OrderPlaced", "application/json", "{\"total\":12}", 12, "{\"user\":\"ann\"}", "corr-1"},
      JSON_EVENT(0x02, "OrderPaid", "{\"amount\":12}")}, 2},
    /* offset 7: key is not the stream: invalid */
    {"Order-9", "Order-1", 0xa6, EVS_EXPECT_ANY, 0, {JSON_EVENT(0x09, "OrderPlaced", "{}")}, 1},
    /* offset 8: Order-1 v3 with exact expectation */
    {"Order-1", "Order-1", 0xa7, EVS_EXPECT_EXACT, 2, {JSON_EVENT(0x0a, "OrderShipped", "{}")}, 1},
};

static void apply_fixture(evs_applier *a)
{
    char err[512];
    for (size_t i = 0; i < sizeof fixture_records / sizeof fixture_records[0]; i++) {
        const fixture_record *f = &fixture_records[i];
        evs_buf buf = {0};
        evs_input_record in = {0, (int64_t)i, f->key, strlen(f->key), "garbage", 7, 0};
        if (f->stream) {
            evs_record_event events[3];
            evs_append_request req;
            memset(&req, 0, sizeof req);
            memset(req.append_id, f->append_id, 16);
            req.stream = f->stream;
            req.stream_len = strlen(f->stream);
            req.expected_kind = f->kind;
            req.expected_version = f->expected;
            req.events = events;
            req.event_count = f->event_count;
            for (size_t k = 0; k < f->event_count; k++) {
                const fixture_event *fe = &f->events[k];
                evs_record_event *e = &events[k];
                memset(e, 0, sizeof *e);
                memset(e->event_id, fe->id, 16);
                e->type = fe->type;
                e->type_len = strlen(fe->type);
                e->content_type = fe->content_type;
                e->content_type_len = strlen(fe->content_type);
                e->data = (const uint8_t *)fe->data;
                e->data_len = fe->data_len;
                e->metadata = (const uint8_t *)fe->metadata;
                e->metadata_len = fe->metadata ? strlen(fe->metadata) : 0;
                e->correlation_id = fe->correlation_id;
                e->correlation_id_len = fe->correlation_id ? strlen(fe->correlation_id) : 0;
                e->created_us = 1795860000123456LL + (int64_t)(i * 10 + k);
            }
            if (evs_record_encode(&req, &buf) != 0)
                FAIL("cannot encode fixture record %zu", i);
            in.value = buf.data;
            in.value_len = buf.len;
        }
        if (evs_applier_apply(a, &in, 1, err, sizeof err) != 0)
            FAIL("cannot apply fixture record %zu: %s", i, err);
        evs_buf_free(&buf);
    }
}

/* ---- Set-up and tear-down ------------------------------------------------------------ */

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        FAIL("cannot find a free port: %s", strerror(errno));
    close(fd);
    return ntohs(sa.sin_port);
}

/* Records in the mock topic beyond the store's next offset, so /status shows a lag and a
 * verdict lookup without an offset has high watermarks to wait for (http_api.c). */
#define MOCK_RECORDS_AHEAD 3

static rd_kafka_t *mock_querier(int64_t records, char *bootstraps, size_t bootstraps_len)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr))
        FAIL("librdkafka configuration: %s", errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk)
        FAIL("cannot start librdkafka's mock cluster: %s", errstr);
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(rk);
    if (!mc || rd_kafka_mock_topic_create(mc, TOPIC, 1, 1))
        FAIL("cannot create the topic in the mock cluster");
    snprintf(bootstraps, bootstraps_len, "%s", rd_kafka_mock_cluster_bootstraps(mc));
    for (int64_t i = 0; i < records; i++)
        if (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(0),
                              RD_KAFKA_V_VALUE("x", 1), RD_KAFKA_V_END))
            FAIL("cannot produce to the mock cluster");
    if (rd_kafka_flush(rk, 10000))
        FAIL("mock cluster: produce timed out");
    int64_t low, high;
    rd_kafka_resp_err_t rc = rd_kafka_query_watermark_offsets(rk, TOPIC, 0, &low, &high, 10000);
    if (rc || high != records)
        FAIL("mock cluster: watermark query failed: %s (high %lld)", rd_kafka_err2str(rc),
             (long long)high);
    return rk;
}

static void teardown(void)
{
    char err[256];
    if (g.server)
        evs_http_stop(g.server); /* sets stop and wakes every waiter first */
    g.server = NULL;
    evs_client_close(g.client);
    g.client = g.p.client = NULL;
    if (g.querier)
        rd_kafka_destroy(g.querier);
    g.querier = NULL;
    evs_applier_free(&g.p.applier);
    evs_store_close(g.p.store);
    g.p.store = NULL;
    free(g.p.next_offset);
    free(g.p.judged_offset);
    free(g.p.last_position);
    free(g.p.assigned);
    if (g.dir[0]) {
        evs_store_destroy(g.dir, err, sizeof err);
        rmdir(g.dir);
    }
}

static int verbose; /* EVS_FUZZ_VERBOSE=1: print each answer (for checking seeds) */

/* Removes the store directories that crashed runs left in base: evs-fuzz-http-PID-* of
 * processes that no longer exist. */
static void remove_stale_dirs(const char *base)
{
    DIR *d = opendir(base);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        long pid;
        char path[512], err[256];
        if (sscanf(e->d_name, "evs-fuzz-http-%ld-", &pid) != 1 || pid <= 0 ||
            kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        snprintf(path, sizeof path, "%s/%s", base, e->d_name);
        evs_store_destroy(path, err, sizeof err);
        rmdir(path);
    }
    if (d)
        closedir(d);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[512];
    verbose = getenv("EVS_FUZZ_VERBOSE") != NULL;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    base = base ? base : "/tmp";
    remove_stale_dirs(base);
    snprintf(g.dir, sizeof g.dir, "%s/evs-fuzz-http-%ld-XXXXXX", base, (long)getpid());
    if (!mkdtemp(g.dir))
        FAIL("mkdtemp %s: %s", g.dir, strerror(errno));

    evs_projector *p = &g.p;
    p->config.brokers = "mock";
    p->config.topic = TOPIC;
    p->config.data_dir = g.dir;
    p->partition_count = 1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->applied, NULL);
    pthread_cond_init(&p->judged, NULL);
    if (evs_store_open(g.dir, &p->store, err, sizeof err) != 0)
        FAIL("cannot open the store in %s: %s", g.dir, err);
    if (evs_applier_init(&p->applier, p->store, 1) != 0)
        FAIL("cannot initialise the applier");
    p->applier.quiet = 1;
    apply_fixture(&p->applier);
    p->next_offset = calloc(1, sizeof *p->next_offset);
    p->judged_offset = calloc(1, sizeof *p->judged_offset);
    p->last_position = calloc(1, sizeof *p->last_position);
    p->assigned = calloc(1, sizeof *p->assigned);
    if (!p->next_offset || !p->judged_offset || !p->last_position || !p->assigned)
        FAIL("out of memory");
    p->next_offset[0] = p->applier.next_offset[0];
    p->judged_offset[0] = p->applier.next_offset[0]; /* everything judged is written */
    p->last_position[0] = p->applier.last_position[0];
    p->assigned[0] = 1;
    p->serves_all = 1;
    p->commits = 1;
    char bootstraps[256];
    p->querier = g.querier =
        mock_querier(p->next_offset[0] + MOCK_RECORDS_AHEAD, bootstraps, sizeof bootstraps);

    const char *port_env = getenv("EVS_FUZZ_HTTP_PORT");
    for (int attempt = 0; attempt < 20 && !g.server; attempt++) {
        char address[64];
        g.port = port_env ? (uint16_t)atoi(port_env) : free_port();
        snprintf(address, sizeof address, "127.0.0.1:%u", (unsigned)g.port);
        if (evs_http_start(p, address, &g.server, err, sizeof err) != 0 && port_env)
            break;
    }
    if (!g.server)
        FAIL("cannot start the projector's HTTP server: %s", err);

    /* The client of POST /streams/{stream}, as evs_http_append_client_open() opens it (the
     * mock cluster's brokers, this projector for verdicts) but with short timeouts: no
     * consumer applies what it produces, so its verdict wait ends in an unknown outcome
     * (504), after the harness releases the wait (IDLE_MS) or after 200 ms. */
    static char brokers[256], url[64];
    snprintf(brokers, sizeof brokers, "%s", bootstraps);
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)g.port);
    evs_client_options options;
    evs_client_options_init(&options);
    options.brokers = brokers;
    options.topic = TOPIC;
    options.projector_url = url;
    options.produce_timeout_ms = 5000;
    options.verdict_timeout_ms = 200;
    options.request_timeout_ms = 5000;
    options.linger_ms = 0;
    if (evs_client_open(&options, &g.client) != 0)
        FAIL("cannot open the append client: %s", evs_last_error());
    p->client = g.client;
    atexit(teardown);
    fprintf(stderr,
            "fuzz_http_request: projector HTTP on 127.0.0.1:%u, store %s (next offset %lld, "
            "last position %llu)\n",
            (unsigned)g.port, g.dir, (long long)p->next_offset[0],
            (unsigned long long)p->last_position[0]);
    return 0;
}

/* ---- One exchange -------------------------------------------------------------------- */

typedef struct answer {
    char data[ANSWER_KEPT + 1];
    size_t len;   /* bytes kept */
    size_t total; /* bytes received */
    int released; /* the harness had to set stop */
} answer;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void release_waiters(void)
{
    g.p.stop = 1;
    evs_projector_wake_all(&g.p);
}

/* Sends req as one connection and reads the answer until the server closes (H1). */
static void exchange(const uint8_t *req, size_t n, answer *a)
{
    a->len = a->total = 0;
    a->released = 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(g.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = -1;
    /* libFuzzer's timeout timer (SIGALRM) may interrupt connect: start again then. */
    for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            FAIL("socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            break;
        int e = errno;
        close(fd);
        fd = -1;
        if (e != EINTR)
            FAIL("cannot connect to the projector on port %u: %s", (unsigned)g.port,
                 strerror(e));
    }
    if (fd < 0)
        FAIL("cannot connect to the projector on port %u: interrupted 100 times",
             (unsigned)g.port);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* The server may answer and close before it has read everything (an error early in
     * the request): a failed send is not a failure of the server. */
    for (size_t off = 0; off < n;) {
        ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);

    int64_t last = now_ms(), hang_deadline = 0;
    for (;;) {
        int64_t now = now_ms();
        int timeout;
        if (!a->released) {
            timeout = (int)(last + IDLE_MS - now);
            if (timeout <= 0) {
                release_waiters();
                a->released = 1;
                hang_deadline = now + HANG_MS;
                continue;
            }
        } else {
            timeout = (int)(hang_deadline - now);
            if (timeout <= 0)
                FAIL("H1: the projector did not close the connection within %d ms after "
                     "releasing waiters (%zu bytes received)",
                     HANG_MS, a->total);
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        int rc = poll(&pfd, 1, timeout);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            continue;
        char buf[16384];
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* closed (a reset counts as closed) */
        size_t keep = (size_t)r;
        if (keep > ANSWER_KEPT - a->len)
            keep = ANSWER_KEPT - a->len;
        memcpy(a->data + a->len, buf, keep);
        a->len += keep;
        a->total += (size_t)r;
        last = now_ms();
    }
    a->data[a->len] = 0;
    close(fd);
    if (a->released) {
        g.p.stop = 0;
    }
}

/* ---- An independent strict JSON checker (RFC 8259, UTF-8 per RFC 3629) ----------------
 * jansson alone is not the oracle: it refuses integers beyond 64 bits and huge exponents,
 * which are valid JSON that the projector may pass through verbatim (schemas/json_text.h). */
typedef struct jcur {
    const unsigned char *p, *end;
    int depth;
} jcur;

static void j_ws(jcur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* One UTF-8 sequence starting at c->p (not ASCII); advances past it. */
static int j_utf8(jcur *c)
{
    unsigned char b = *c->p, lo = 0x80, hi = 0xBF;
    size_t len;
    if (b >= 0xC2 && b <= 0xDF)
        len = 2;
    else if (b >= 0xE0 && b <= 0xEF) {
        len = 3;
        lo = b == 0xE0 ? 0xA0 : 0x80;
        hi = b == 0xED ? 0x9F : 0xBF;
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4;
        lo = b == 0xF0 ? 0x90 : 0x80;
        hi = b == 0xF4 ? 0x8F : 0xBF;
    } else
        return 0;
    if ((size_t)(c->end - c->p) < len || c->p[1] < lo || c->p[1] > hi)
        return 0;
    for (size_t k = 2; k < len; k++)
        if (c->p[k] < 0x80 || c->p[k] > 0xBF)
            return 0;
    c->p += len;
    return 1;
}

static int j_string(jcur *c)
{
    c->p++; /* the opening quote */
    while (c->p < c->end) {
        unsigned char b = *c->p;
        if (b == '"') {
            c->p++;
            return 1;
        }
        if (b < 0x20)
            return 0;
        if (b == '\\') {
            if (++c->p >= c->end)
                return 0;
            if (*c->p == 'u') {
                if (c->end - c->p < 5)
                    return 0;
                for (int k = 1; k <= 4; k++)
                    if (!((c->p[k] >= '0' && c->p[k] <= '9') || (c->p[k] >= 'a' && c->p[k] <= 'f') ||
                          (c->p[k] >= 'A' && c->p[k] <= 'F')))
                        return 0;
                c->p += 5;
            } else if (*c->p && strchr("\"\\/bfnrt", *c->p)) {
                c->p++;
            } else {
                return 0;
            }
        } else if (b < 0x80) {
            c->p++;
        } else if (!j_utf8(c)) {
            return 0;
        }
    }
    return 0;
}

static int j_digits(jcur *c)
{
    const unsigned char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        c->p++;
    return c->p > start;
}

static int j_number(jcur *c)
{
    if (*c->p == '-')
        c->p++;
    if (c->p < c->end && *c->p == '0')
        c->p++;
    else if (!j_digits(c))
        return 0;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (!j_digits(c))
            return 0;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (!j_digits(c))
            return 0;
    }
    return 1;
}

static int j_literal(jcur *c, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n))
        return 0;
    c->p += n;
    return 1;
}

static int j_value(jcur *c)
{
    j_ws(c);
    if (c->p >= c->end || ++c->depth > 512)
        return 0;
    int ok;
    switch (*c->p) {
    case '{':
    case '[': {
        char close = *c->p == '{' ? '}' : ']';
        int object = close == '}';
        c->p++;
        j_ws(c);
        if (c->p < c->end && *c->p == close) {
            c->p++;
            ok = 1;
            break;
        }
        for (ok = 0;;) {
            if (object) {
                j_ws(c);
                if (c->p >= c->end || *c->p != '"' || !j_string(c))
                    break;
                j_ws(c);
                if (c->p >= c->end || *c->p++ != ':')
                    break;
            }
            if (!j_value(c))
                break;
            j_ws(c);
            if (c->p >= c->end)
                break;
            if (*c->p == close) {
                c->p++;
                ok = 1;
                break;
            }
            if (*c->p++ != ',')
                break;
        }
        break;
    }
    case '"': ok = j_string(c); break;
    case 't': ok = j_literal(c, "true"); break;
    case 'f': ok = j_literal(c, "false"); break;
    case 'n': ok = j_literal(c, "null"); break;
    default: ok = (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')) && j_number(c); break;
    }
    c->depth--;
    return ok;
}

/* 1 if p..n is exactly one JSON object, with optional whitespace around it. */
static int json_object_text_valid(const char *p, size_t n)
{
    jcur c = {(const unsigned char *)p, (const unsigned char *)p + n, 0};
    j_ws(&c);
    if (c.p >= c.end || *c.p != '{' || !j_value(&c))
        return 0;
    j_ws(&c);
    return c.p == c.end;
}

/* ---- Checks -------------------------------------------------------------------------- */

/* Whether the first request of the input is a HEAD request (its answer has no body, so
 * what follows the headers is the next pipelined answer). libmicrohttpd skips empty lines
 * before a request line and ends the method at a space or tab. */
static int first_method_is_head(const uint8_t *req, size_t n)
{
    size_t i = 0;
    while (i < n && (req[i] == '\r' || req[i] == '\n'))
        i++;
    return n - i > 4 && !memcmp(req + i, "HEAD", 4) && (req[i + 4] == ' ' || req[i + 4] == '\t');
}

/* Parses the status line at p (H2). Returns the status. */
static int status_of(const char *p, size_t len)
{
    if (len < 12 || strncmp(p, "HTTP/1.", 7) || p[8] != ' ' || p[9] < '1' || p[9] > '5' ||
        p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9')
        FAIL("H2: the answer does not start with a status line: \"%.60s\"", p);
    return (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
}

/* Checks the first final answer (H2, H3); returns its status, 0 when nothing was sent. */
static int check_answer(const answer *a, const uint8_t *req, size_t n)
{
    const char *p = a->data, *stop = a->data + a->len;
    if (a->len == 0)
        return 0;
    int status = status_of(p, a->len);
    const char *end = strstr(p, "\r\n\r\n");
    /* Interim answers (100 Continue) come before the final one. */
    while (status < 200 && end && end + 4 < stop) {
        p = end + 4;
        status = status_of(p, (size_t)(stop - p));
        end = strstr(p, "\r\n\r\n");
    }
    if (status == 500)
        FAIL("H2: 500 Internal Server Error for a request of %zu bytes:\n%.2000s", n, a->data);

    /* H3: a complete JSON answer. */
    if (!end || status < 200 || first_method_is_head(req, n))
        return status;
    const char *body = end + 4;
    int json = 0;
    long long content_length = -1;
    for (const char *line = strstr(p, "\r\n") + 2; line < end;) {
        const char *eol = strstr(line, "\r\n");
        if (!strncasecmp(line, "Content-Type: application/json", 30))
            json = 1;
        if (!strncasecmp(line, "Content-Length: ", 16))
            content_length = atoll(line + 16);
        line = eol + 2;
    }
    if (!json || content_length <= 0 || (size_t)content_length > (size_t)(stop - body))
        return status; /* not JSON, or cut */
    if (!json_object_text_valid(body, (size_t)content_length))
        FAIL("H3: a %d answer's body is not one valid JSON object (RFC 8259, UTF-8):\n%.2000s",
             status, a->data);
    if (status >= 400) {
        json_error_t jerr;
        json_t *v = json_loadb(body, (size_t)content_length, JSON_ALLOW_NUL, &jerr);
        if (!v || !json_is_string(json_object_get(v, "error")))
            FAIL("H3: a %d answer without an \"error\" string (%s):\n%.2000s", status,
                 v ? "no such member" : jerr.text, a->data);
        json_decref(v);
    }
    return status;
}

static void check_health(void)
{
    static const char health[] = "GET /health HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n";
    static answer a;
    exchange((const uint8_t *)health, sizeof health - 1, &a);
    if (strncmp(a.data, "HTTP/1.1 200 ", 13) || !strstr(a.data, "{\"status\":\"ok\"}"))
        FAIL("H4: GET /health after the input answered:\n%.2000s", a.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static answer a;
    exchange(data, size, &a);
    int status = check_answer(&a, data, size);
    if (verbose) {
        const char *body = strstr(a.data, "\r\n\r\n");
        fprintf(stderr, "fuzz_http_request: %d (%zu bytes%s): %.300s\n", status, a.total,
                a.released ? ", released" : "", body ? body + 4 : "");
    }
    check_health();
    return 0;
}
