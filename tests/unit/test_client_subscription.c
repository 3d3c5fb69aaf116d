/*
 * test_client_subscription.c - libevstore's subscription iterator (subscription.c) against a
 * scripted server on 127.0.0.1 run by a thread of this test: no projector, no broker. Like
 * the projector, the server answers in the binary framing (frames of event pages) when the
 * request's Accept names application/vnd.evstore.page-stream and in Server-Sent Events
 * otherwise, and every test runs twice: as libevstore subscribes by default (binary), and
 * with EVSTORE_SUBSCRIPTION_FRAMING=sse (the JSON path). Each test scripts what the server
 * answers on each connection and checks what evs_subscription_next() returns and what the
 * client asked for:
 *   history then caught-up then the end; reconnection after a drop with Last-Event-ID (and
 *   with from=N when the only progress was a caught-up marker); caught-up reported once;
 *   out-of-order ids and an id that is not the event's position are protocol errors that
 *   end the subscription; refusals at open (400, 503, nobody listening); reconnection
 *   attempts that all fail end in EVS_EUNAVAILABLE; a burst larger than the queue pauses
 *   the transfer instead of queueing it all (subscription.c, invariant 1). And, for the
 *   framings: a subscription whose reconnection lands on a projector answering the other
 *   framing goes on without a gap; a forced framing refuses the other; a broken frame, a
 *   page that does not decode and a page out of order end the subscription.
 * The server answers GET /cluster with 404, as a projector that knows no cluster, and
 * does not count those requests as connections.
 */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "evstore.h"
#include "page_codec.h"
#include "subscription_internal.h"

#define PAGE_STREAM "application/vnd.evstore.page-stream"

#define MAX_CONNECTIONS 16

typedef struct fake_server fake_server;
/* Serves connection number index (from 0) on fd, after its request was read. */
typedef void (*serve_fn)(fake_server *server, int index, int fd);

struct fake_server {
    int listen_fd;
    int port;
    pthread_t thread;
    serve_fn serve;
    volatile int stop;
    int close_listener_after; /* stop listening after this many connections (0: never) */
    int sse_only;             /* answer SSE whatever Accept says (a projector before the
                                 binary framing) */
    pthread_mutex_t lock;
    char requests[MAX_CONNECTIONS][2048];
    int connections;
};

static void send_text(int fd, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void send_text(int fd, const char *format, ...)
{
    char buf[4096];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(buf, sizeof buf, format, args);
    va_end(args);
    for (int off = 0; off < n;) {
        ssize_t w = send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the client went away; the test checks what it saw */
        off += (int)w;
    }
}

/* Whether the suite runs with EVSTORE_SUBSCRIPTION_FRAMING=sse (main). */
static int forced_sse;
/* The framing of the connection being served: the server thread sets it from the request
 * before it calls serve, and the send_ helpers below write in it. */
static int wire_binary;

static void send_bytes(int fd, const void *bytes, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t w = send(fd, (const char *)bytes + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

static void send_ok(int fd)
{
    send_text(fd, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
                  "Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
              wire_binary ? PAGE_STREAM : "text/event-stream");
}

/* An events frame holding n events of stream S-1 with the positions and versions given. */
static size_t page_frame(evs_buf *out, const uint64_t *positions, const uint64_t *versions,
                         size_t n)
{
    evs_buf page = {0};
    evs_page_encoder enc;
    evs_page_info info = {.has_partition = 1, .partition = 0};
    evs_page_encode_begin(&enc, &page, &info);
    for (size_t i = 0; i < n; i++) {
        evs_page_event e = {
            .stream = "S-1", .stream_len = 3, .type = "T", .type_len = 1,
            .version = versions[i], .position = positions[i], .partition = 0, .created_us = 1,
            .content_type = "application/octet-stream", .content_type_len = 24,
            .data = (const uint8_t *)"\x00\x01", .data_len = 2,
        };
        snprintf(e.event_id, sizeof e.event_id, "5f0c2a3e-1b2c-4d5e-8f90-%012" PRIu64,
                 (uint64_t)(positions[i] % 1000000000000ull));
        evs_page_encode_event(&enc, &e);
    }
    assert_int_equal(evs_page_encode_end(&enc, n ? positions[n - 1] + 1 : 1, 0), 0);
    out->len = 0;
    out->data = malloc(page.len + 5);
    assert_non_null(out->data);
    out->data[0] = 'E';
    for (int i = 0; i < 4; i++)
        out->data[1 + i] = (uint8_t)(page.len >> (24 - 8 * i));
    memcpy(out->data + 5, page.data, page.len);
    out->len = out->cap = page.len + 5;
    evs_buf_free(&page);
    return out->len;
}

static void send_page(int fd, const uint64_t *positions, const uint64_t *versions, size_t n)
{
    evs_buf frame = {0};
    page_frame(&frame, positions, versions, n);
    send_bytes(fd, frame.data, frame.len);
    evs_buf_free(&frame);
}

/* One event of stream S-1 whose SSE id is id and whose position and version are given (in
 * the binary framing there is no id apart: it is the position). */
static void send_event_as(int fd, uint64_t id, uint64_t position, uint64_t version)
{
    if (wire_binary) {
        send_page(fd, &position, &version, 1);
        return;
    }
    send_text(fd,
              "id: %" PRIu64 "\nevent: event\ndata: {\"event_id\":\"5f0c2a3e-1b2c-4d5e-8f90-"
              "%012" PRIu64 "\",\"stream\":\"S-1\",\"type\":\"T\",\"version\":%" PRIu64
              ",\"position\":%" PRIu64 ",\"partition\":0,\"created_us\":1,\"content_type\":"
              "\"application/octet-stream\",\"data\":\"AAE=\",\"metadata\":\"\","
              "\"correlation_id\":null,\"causation_id\":null}\n\n",
              id, position, version, position);
}

static void send_event(int fd, uint64_t position)
{
    send_event_as(fd, position, position, 1);
}

static void send_caught_up(int fd, uint64_t next)
{
    if (wire_binary) {
        uint8_t frame[13] = {'C', 0, 0, 0, 8};
        for (int i = 0; i < 8; i++)
            frame[5 + i] = (uint8_t)(next >> (56 - 8 * i));
        send_bytes(fd, frame, sizeof frame);
        return;
    }
    send_text(fd, "event: caught-up\ndata: {\"next\": %" PRIu64 "}\n\n", next);
}

/* A heartbeat: a comment in SSE, a heartbeat frame in the binary framing. */
static void send_heartbeat(int fd)
{
    if (wire_binary)
        send_bytes(fd, "H\0\0\0\0", 5);
    else
        send_text(fd, ": a comment\n\n");
}

/* The first half of event `position`'s message or frame (the connection drops after it). */
static void send_half_event(int fd, uint64_t position)
{
    if (wire_binary) {
        evs_buf frame = {0};
        uint64_t version = 1;
        page_frame(&frame, &position, &version, 1);
        send_bytes(fd, frame.data, frame.len / 2);
        evs_buf_free(&frame);
        return;
    }
    send_text(fd, "id: %" PRIu64 "\nevent: event\ndata: {\"event_id\":", position);
}

/* Blocks until the client closes the connection. */
static void wait_for_close(int fd)
{
    char buf[256];
    while (recv(fd, buf, sizeof buf, 0) > 0) {
    }
}

static void *server_main(void *arg)
{
    fake_server *server = arg;
    while (!server->stop) {
        struct pollfd p = {.fd = server->listen_fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(server->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        char request[2048] = "";
        size_t len = 0;
        while (len < sizeof request - 1 && !strstr(request, "\r\n\r\n")) {
            ssize_t r = recv(fd, request + len, sizeof request - 1 - len, 0);
            if (r <= 0)
                break;
            len += (size_t)r;
            request[len] = '\0';
        }
        request[len] = '\0';
        if (strncmp(request, "GET /cluster ", 13) == 0) {
            /* The client asks for the cluster first: answer as a projector without one, and
             * do not count it among the subscription's connections. */
            send_text(fd, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                          "Content-Length: 2\r\nConnection: close\r\n\r\n{}");
            close(fd);
            continue;
        }
        /* As the projector: the binary framing when Accept names it (the client asks for
         * it with a quality; q=0 would decline it, which libevstore never sends). */
        wire_binary = !server->sse_only && strstr(request, PAGE_STREAM) != NULL;
        pthread_mutex_lock(&server->lock);
        int index = server->connections++;
        if (index < MAX_CONNECTIONS)
            memcpy(server->requests[index], request, len + 1);
        pthread_mutex_unlock(&server->lock);
        if (server->close_listener_after && server->connections >= server->close_listener_after) {
            close(server->listen_fd); /* later connections are refused */
            server->listen_fd = -1;
            server->serve(server, index, fd);
            close(fd);
            return NULL;
        }
        server->serve(server, index, fd);
        close(fd);
    }
    return NULL;
}

static fake_server *server_start(serve_fn serve, int close_listener_after)
{
    fake_server *server = calloc(1, sizeof *server);
    assert_non_null(server);
    server->serve = serve;
    server->close_listener_after = close_listener_after;
    pthread_mutex_init(&server->lock, NULL);
    server->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(server->listen_fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(server->listen_fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(server->listen_fd, 8), 0);
    socklen_t alen = sizeof addr;
    getsockname(server->listen_fd, (struct sockaddr *)&addr, &alen);
    server->port = ntohs(addr.sin_port);
    assert_int_equal(pthread_create(&server->thread, NULL, server_main, server), 0);
    return server;
}

static void server_stop(fake_server *server)
{
    server->stop = 1;
    pthread_join(server->thread, NULL);
    if (server->listen_fd >= 0)
        close(server->listen_fd);
    pthread_mutex_destroy(&server->lock);
    free(server);
}

static const char *request_of(fake_server *server, int index)
{
    pthread_mutex_lock(&server->lock);
    const char *r = index < server->connections ? server->requests[index] : "";
    pthread_mutex_unlock(&server->lock);
    return r;
}

static evs_client *client_for(int port)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    evs_client_options options;
    evs_client_options_init(&options);
    options.projector_url = url;
    options.request_timeout_ms = 3000;
    evs_client *client = NULL;
    assert_int_equal(evs_client_open(&options, &client), 0);
    return client;
}

/* Opens a subscription of target kind to the fake server. */
static evs_subscription *subscribe(evs_client *client, evs_subscription_target target,
                                   uint64_t from, int follow)
{
    evs_subscription_options options;
    evs_subscription_options_init(&options);
    options.target = target;
    options.name = target == EVS_SUBSCRIBE_STREAM     ? "S-1"
                   : target == EVS_SUBSCRIBE_CATEGORY ? "S"
                   : target == EVS_SUBSCRIBE_TYPE     ? "T"
                                                      : NULL;
    options.from = from;
    options.follow = follow;
    evs_subscription *sub = NULL;
    int rc = evs_subscription_open(client, &options, &sub);
    if (rc != 0)
        fail_msg("evs_subscription_open: %s", evs_last_error());
    return sub;
}

/* The next call's code, waiting at most 5 s; *position gets the event's position if any. */
static int next_code(evs_subscription *sub, uint64_t *position)
{
    evs_event *event = NULL;
    int rc = evs_subscription_next(sub, 5000, &event);
    if (rc == 0) {
        assert_non_null(event);
        assert_int_equal(event->data_len, 2);
        assert_memory_equal(event->data, "\x00\x01", 2);
        if (position)
            *position = event->position;
    } else {
        assert_null(event);
    }
    return rc;
}

static void expect_events(evs_subscription *sub, uint64_t first, uint64_t last)
{
    for (uint64_t p = first; p <= last; p++) {
        uint64_t got = 0;
        int rc = next_code(sub, &got);
        if (rc != 0)
            fail_msg("expected event %" PRIu64 ", got %s: %s", p, evs_strerror(rc),
                     evs_last_error());
        assert_int_equal(got, p);
        assert_int_equal(evs_subscription_position(sub), p);
    }
}

/* ---- History, caught-up, end ----------------------------------------------------------- */

static void serve_history(fake_server *server, int index, int fd)
{
    send_ok(fd);
    for (uint64_t p = 1; p <= 3; p++)
        send_event(fd, p);
    send_heartbeat(fd);
    send_caught_up(fd, 4);
}

static void test_history_then_end(void **state)
{
    fake_server *server = server_start(serve_history, 0);
    evs_client *client = client_for(server->port);
    evs_subscription *sub = subscribe(client, EVS_SUBSCRIBE_ALL, EVS_FROM_START, 0);
    assert_int_equal(evs_subscription_caught_up(sub), 0);
    expect_events(sub, 1, 3);
    assert_int_equal(next_code(sub, NULL), EVS_ECAUGHT_UP);
    assert_int_equal(evs_subscription_caught_up(sub), 1);
    assert_int_equal(next_code(sub, NULL), EVS_EEND);
    assert_int_equal(next_code(sub, NULL), EVS_EEND); /* and it stays ended */
    assert_int_equal(evs_subscription_position(sub), 3);
    const char *request = request_of(server, 0);
    assert_non_null(
        strstr(request, "GET /subscriptions/all?partition=0&follow=false&encoding=base64 "));
    if (forced_sse)
        assert_non_null(strstr(request, "Accept: text/event-stream\r\n"));
    else
        assert_non_null(strstr(request, "Accept: " PAGE_STREAM ", text/event-stream;q=0.5\r\n"));
    assert_null(strstr(request, "Last-Event-ID"));
    evs_subscription_close(sub);
    evs_client_close(client);
    server_stop(server);
}

/* ---- Reconnection ---------------------------------------------------------------------- */

static void serve_drops(fake_server *server, int index, int fd)
{
    send_ok(fd);
    if (index == 0) { /* events 1..3, then half of event 4, then the connection drops */
        for (uint64_t p = 1; p <= 3; p++)
            send_event(fd, p);
        send_half_event(fd, 4);
    } else if (index == 1) { /* the rest of the history, caught-up, one live event, drop */
        send_event(fd, 4);
        send_event(fd, 5);
        send_caught_up(fd, 6);
        send_event(fd, 6);
    } else { /* the next connection sends caught-up again, then a live event */
        send_caught_up(fd, 7);
        send_event(fd, 7);
        wait_for_close(fd);
    }
}

static void test_reconnects_after_last_received(void **state)
{
    fake_server *server = server_start(serve_drops, 0);
    evs_client *client = client_for(server->port);
    evs_subscription *sub = subscribe(client, EVS_SUBSCRIBE_CATEGORY, 1, 1);
    expect_events(sub, 1, 5);
    assert_int_equal(next_code(sub, NULL), EVS_ECAUGHT_UP);
    expect_events(sub, 6, 7); /* the second caught-up is not reported */
    assert_int_equal(evs_subscription_next(sub, 200, &(evs_event *){NULL}), EVS_ETIMEOUT);
    assert_non_null(
        strstr(request_of(server, 0),
               "GET /subscriptions/categories/S?partition=0&follow=true&encoding=base64&from=1 "));
    /* Either framing resumes with Last-Event-ID (the projector takes it for both). */
    assert_non_null(strstr(request_of(server, 1), "Last-Event-ID: 3\r\n"));
    assert_non_null(strstr(request_of(server, 2), "Last-Event-ID: 6\r\n"));
    evs_subscription_close(sub);
    evs_client_close(client);
    server_stop(server);
}

static void serve_caught_up_only(fake_server *server, int index, int fd)
{
    send_ok(fd);
    if (index == 0) {
        send_caught_up(fd, 10); /* from=now: nothing yet, live events start at 10 */
    } else {
        send_event(fd, 10);
        wait_for_close(fd);
    }
}

static void test_reconnects_from_caught_up_next(void **state)
{
    fake_server *server = server_start(serve_caught_up_only, 0);
    evs_client *client = client_for(server->port);
    evs_subscription *sub = subscribe(client, EVS_SUBSCRIBE_ALL, EVS_FROM_NOW, 1);
    assert_int_equal(next_code(sub, NULL), EVS_ECAUGHT_UP);
    expect_events(sub, 10, 10);
    assert_non_null(strstr(request_of(server, 0), "follow=true&encoding=base64&from=now "));
    assert_non_null(strstr(request_of(server, 1), "&from=10 "));
    assert_null(strstr(request_of(server, 1), "Last-Event-ID"));
    evs_subscription_close(sub);
    evs_client_close(client);
    server_stop(server);
}

static void serve_then_vanish(fake_server *server, int index, int fd)
{
    send_ok(fd);
    send_event(fd, 1);
}

static void test_gives_up_after_bounded_retries(void **state)
{
    /* One connection, then nobody listens: every reconnection attempt is refused. */
    fake_server *server = server_start(serve_then_vanish, 1);
    evs_client *client = client_for(server->port);
    evs_subscription *sub = subscribe(client, EVS_SUBSCRIBE_ALL, EVS_FROM_START, 1);
    expect_events(sub, 1, 1);
    time_t started = time(NULL);
    evs_event *event;
    int rc;
    while ((rc = evs_subscription_next(sub, 1000, &event)) == EVS_ETIMEOUT)
        assert_true(time(NULL) - started < 60);
    assert_int_equal(rc, EVS_EUNAVAILABLE);
    assert_non_null(strstr(evs_last_error(), "reconnection attempts failed"));
    assert_non_null(strstr(evs_last_error(), "position 1"));
    assert_true(time(NULL) - started >= 10); /* the pauses between attempts grew */
    assert_int_equal(evs_subscription_next(sub, 0, &event), EVS_EUNAVAILABLE); /* sticky */
    assert_int_equal(evs_subscription_position(sub), 1);
    evs_subscription_close(sub);
    evs_client_close(client);
    server_stop(server);
}

/* ---- Protocol errors ------------------------------------------------------------------- */

static void serve_repeat(fake_server *server, int index, int fd)
{
    send_ok(fd);
    send_event(fd, 1);
    send_event(fd, 2);
    send_event(fd, 2);
    wait_for_close(fd);
}

static void serve_wrong_id(fake_server *server, int index, int fd)
{
    send_ok(fd);
    send_event_as(fd, 1, 1, 1);
    send_event_as(fd, 5, 2, 1); /* id 5, position 2 */
    wait_for_close(fd);
}

static void test_protocol_errors_end_the_subscription(void **state)
{
    fake_server *server = server_start(serve_repeat, 0);
    evs_client *client = client_for(server->port);
    evs_subscription *sub = subscribe(client, EVS_SUBSCRIBE_ALL, EVS_FROM_START, 1);
    /* Events 1 and 2 were queued before the repeat arrived: they are delivered, then the
     * error. */
    int rc = next_code(sub, NULL);
    assert_int_equal(rc, 0);
    rc = next_code(sub, NULL);
    assert_int_equal(rc, 0);
    assert_int_equal(next_code(sub, NULL), EVS_EPROTOCOL);
    assert_non_null(strstr(evs_last_error(), "event 2 after event 2"));
    assert_int_equal(next_code(sub, NULL), EVS_EPROTOCOL);
    evs_subscription_close(sub);
    evs_client_close(client);
    server_stop(server);
    if (!forced_sse)
        return; /* the binary framing has no event id apart from the event's position */

    server = server_start(serve_wrong_id, 0);
    client = client_for(server->port);
    sub = subscribe(client, EVS_SUBSCRIBE_ALL, EVS_FROM_START, 1);
    expect_events(sub, 1, 1);
    assert_int_equal(next_code(sub, NULL), EVS_EPROTOCOL);
    assert_non_null(strstr(evs_last_error(), "is not the event's position 2"));
    evs_subscription_close(sub);
    evs_client_close(client);
    server_stop(server);
}

/* ---- Refusals at open ------------------------------------------------------------------ */

static void serve_400(fake_server *server, int index, int fd)
{
    const char *body = "{\"error\":\"invalid category name\"}";
    send_text(fd,
              "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
              "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
              strlen(body), body);
}

static void serve_503(fake_server *server, int index, int fd)
{
    send_text(fd, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n"
                  "Connection: close\r\n\r\n{}");
}

static void serve_not_sse(fake_server *server, int index, int fd)
{
    send_text(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                  "Connection: close\r\n\r\n{}");
}

static int open_code(fake_server *server)
{
    evs_client *client = client_for(server ? server->port : 1);
    evs_subscription_options options;
    evs_subscription_options_init(&options);
    options.target = EVS_SUBSCRIBE_TYPE;
    options.name = "a/b";
    evs_subscription *sub = (evs_subscription *)(uintptr_t)1; /* must be reset to NULL */
    int rc = evs_subscription_open(client, &options, &sub);
    assert_null(sub);
    evs_client_close(client);
    return rc;
}

static void test_refusals_at_open(void **state)
{
    fake_server *server = server_start(serve_400, 0);
    assert_int_equal(open_code(server), EVS_EINVAL);
    assert_non_null(strstr(evs_last_error(), "invalid category name"));
    /* The type's '/' travels escaped, as one path segment. */
    assert_non_null(strstr(request_of(server, 0), "GET /subscriptions/types/a%2Fb?partition=0"));
    server_stop(server);

    server = server_start(serve_503, 0);
    assert_int_equal(open_code(server), EVS_EUNAVAILABLE);
    server_stop(server);

    server = server_start(serve_not_sse, 0);
    assert_int_equal(open_code(server), EVS_EPROTOCOL);
    assert_non_null(strstr(evs_last_error(), "not text/event-stream"));
    server_stop(server);

    assert_int_equal(open_code(NULL), EVS_EUNAVAILABLE); /* port 1: nobody listens */

    /* Options the library refuses before connecting. */
    evs_client *client = client_for(1);
    evs_subscription_options options;
    evs_subscription *sub;
    evs_subscription_options_init(&options);
    options.target = EVS_SUBSCRIBE_CATEGORY;
    options.name = "Has-dash";
    assert_int_equal(evs_subscription_open(client, &options, &sub), EVS_EINVAL);
    options.target = EVS_SUBSCRIBE_STREAM;
    options.name = NULL;
    assert_int_equal(evs_subscription_open(client, &options, &sub), EVS_EINVAL);
    options.target = EVS_SUBSCRIBE_ALL;
    options.partition = -2; /* negative, and not EVS_PARTITION_ALL */
    assert_int_equal(evs_subscription_open(client, &options, &sub), EVS_EINVAL);
    options.partition = 0;
    options.target = (evs_subscription_target)9;
    assert_int_equal(evs_subscription_open(client, &options, &sub), EVS_EINVAL);
    evs_client_close(client);
}

/* ---- Flow control ---------------------------------------------------------------------- */

#define BURST_EVENTS 4000
#define BURST_PAGE 100 /* events per frame in the binary framing */

static void serve_burst(fake_server *server, int index, int fd)
{
    send_ok(fd);
    for (uint64_t p = 1; p <= BURST_EVENTS; p += wire_binary ? BURST_PAGE : 1) {
        if (!wire_binary) {
            send_event(fd, p);
            continue;
        }
        uint64_t positions[BURST_PAGE], versions[BURST_PAGE];
        for (size_t i = 0; i < BURST_PAGE; i++) {
            positions[i] = p + i;
            versions[i] = 1;
        }
        send_page(fd, positions, versions, BURST_PAGE);
    }
    send_caught_up(fd, BURST_EVENTS + 1);
}

static void test_burst_pauses_instead_of_queueing(void **state)
{
    fake_server *server = server_start(serve_burst, 0);
    evs_client *client = client_for(server->port);
    evs_subscription *sub = subscribe(client, EVS_SUBSCRIBE_ALL, EVS_FROM_START, 0);
    usleep(300 * 1000); /* let the whole burst reach the client's socket */
    expect_events(sub, 1, BURST_EVENTS);
    assert_int_equal(next_code(sub, NULL), EVS_ECAUGHT_UP);
    assert_int_equal(next_code(sub, NULL), EVS_EEND);
    size_t bytes = 0;
    size_t high = evs__subscription_queue_high_water(sub, &bytes);
    /* Invariant 1: the bound plus at most what one 16 KiB network read completes: SSE, the
     * events it holds whole and the one it ends; binary, the frame it ends and the frames it
     * holds whole, a page each. */
    size_t over;
    if (wire_binary) {
        uint64_t positions[BURST_PAGE], versions[BURST_PAGE];
        for (size_t i = 0; i < BURST_PAGE; i++)
            positions[i] = versions[i] = i + 1;
        evs_buf frame = {0};
        size_t frame_size = page_frame(&frame, positions, versions, BURST_PAGE);
        evs_buf_free(&frame);
        over = (16384 / frame_size + 1) * BURST_PAGE;
    } else {
        size_t event_size = 200; /* each event is longer than this on the wire (about 280) */
        over = 16384 / event_size + 1;
    }
    if (high < EVS_CLIENT_SUBSCRIPTION_QUEUE_EVENTS_MAX ||
        high > EVS_CLIENT_SUBSCRIPTION_QUEUE_EVENTS_MAX + over)
        fail_msg("the queue held at most %zu events (%zu bytes)", high, bytes);
    assert_true(bytes < EVS_CLIENT_SUBSCRIPTION_QUEUE_BYTES_MAX);
    evs_subscription_close(sub);
    evs_client_close(client);
    server_stop(server);
}

/* ---- Framings ------------------------------------------------------------------------- */

/* Connection 0 answers as asked; connection 1 comes from a projector that knows only SSE. */
static void serve_mixed(fake_server *server, int index, int fd)
{
    if (index == 1)
        wire_binary = 0;
    send_ok(fd);
    if (index == 0) {
        for (uint64_t p = 1; p <= 3; p++)
            send_event(fd, p);
        send_half_event(fd, 4);
    } else {
        for (uint64_t p = 4; p <= 5; p++)
            send_event(fd, p);
        send_caught_up(fd, 6);
    }
}

static void test_framing_may_change_on_reconnecting(void **state)
{
    fake_server *server = server_start(serve_mixed, 0);
    evs_client *client = client_for(server->port);
    evs_subscription *sub = subscribe(client, EVS_SUBSCRIBE_ALL, EVS_FROM_START, 0);
    expect_events(sub, 1, 5);
    assert_int_equal(next_code(sub, NULL), EVS_ECAUGHT_UP);
    assert_int_equal(next_code(sub, NULL), EVS_EEND);
    assert_int_equal(server->connections, 2);
    evs_subscription_close(sub);
    evs_client_close(client);
    server_stop(server);
}

/* Sets EVSTORE_SUBSCRIPTION_FRAMING to value (NULL: unset) for one test; restore() puts
 * back the suite's. */
static void framing_env(const char *value)
{
    if (value)
        setenv("EVSTORE_SUBSCRIPTION_FRAMING", value, 1);
    else
        unsetenv("EVSTORE_SUBSCRIPTION_FRAMING");
}

static void framing_env_restore(void)
{
    framing_env(forced_sse ? "sse" : NULL);
}

static void test_forced_framings(void **state)
{
    /* binary: an SSE answer is refused. */
    framing_env("binary");
    fake_server *server = server_start(serve_history, 0);
    server->sse_only = 1;
    assert_int_equal(open_code(server), EVS_EPROTOCOL);
    assert_non_null(strstr(evs_last_error(), "not " PAGE_STREAM));
    assert_non_null(strstr(request_of(server, 0), "Accept: " PAGE_STREAM "\r\n"));
    server_stop(server);

    /* ... and the binary answer taken. */
    server = server_start(serve_history, 0);
    evs_client *client = client_for(server->port);
    evs_subscription *sub = subscribe(client, EVS_SUBSCRIBE_CATEGORY, 1, 0);
    expect_events(sub, 1, 3);
    assert_int_equal(next_code(sub, NULL), EVS_ECAUGHT_UP);
    assert_int_equal(next_code(sub, NULL), EVS_EEND);
    evs_subscription_close(sub);
    evs_client_close(client);
    server_stop(server);

    /* auto (and unset, above) falls back to SSE from a projector that knows only SSE. */
    framing_env("auto");
    server = server_start(serve_history, 0);
    server->sse_only = 1;
    client = client_for(server->port);
    sub = subscribe(client, EVS_SUBSCRIBE_ALL, EVS_FROM_START, 0);
    expect_events(sub, 1, 3);
    assert_int_equal(next_code(sub, NULL), EVS_ECAUGHT_UP);
    assert_int_equal(next_code(sub, NULL), EVS_EEND);
    evs_subscription_close(sub);
    evs_client_close(client);
    server_stop(server);

    /* Anything else is refused at open, before any connection. */
    framing_env("json");
    assert_int_equal(open_code(NULL), EVS_EINVAL);
    assert_non_null(strstr(evs_last_error(), "EVSTORE_SUBSCRIPTION_FRAMING"));
    framing_env_restore();
}

/* Binary only: events 1 and 2, then what index 0 of the test's script says. */
static int broken_kind;

static void serve_broken(fake_server *server, int index, int fd)
{
    send_ok(fd);
    send_event(fd, 1);
    send_event(fd, 2);
    if (broken_kind == 0) {
        send_bytes(fd, "Z\0\0\0\0", 5); /* an unknown kind */
    } else if (broken_kind == 1) {
        /* A frame whose page is cut short: its length covers what is sent. */
        evs_buf frame = {0};
        uint64_t position = 3, version = 1;
        page_frame(&frame, &position, &version, 1);
        size_t cut = frame.len - 7;
        uint32_t body = (uint32_t)(cut - 5);
        frame.data[1] = (uint8_t)(body >> 24);
        frame.data[2] = (uint8_t)(body >> 16);
        frame.data[3] = (uint8_t)(body >> 8);
        frame.data[4] = (uint8_t)body;
        send_bytes(fd, frame.data, cut);
        evs_buf_free(&frame);
    } else {
        uint64_t positions[3] = {3, 5, 4}, versions[3] = {1, 1, 1}; /* back within a page */
        send_page(fd, positions, versions, 3);
    }
    wait_for_close(fd);
}

static void test_broken_frames_end_the_subscription(void **state)
{
    const char *says[] = {"broken frame at byte", "not a valid event page",
                          "event 4 after event 5"};
    for (broken_kind = 0; broken_kind < 3; broken_kind++) {
        fake_server *server = server_start(serve_broken, 0);
        evs_client *client = client_for(server->port);
        evs_subscription *sub = subscribe(client, EVS_SUBSCRIBE_ALL, EVS_FROM_START, 1);
        expect_events(sub, 1, 2); /* what came before is delivered, then the error */
        assert_int_equal(next_code(sub, NULL), EVS_EPROTOCOL);
        if (!strstr(evs_last_error(), says[broken_kind]))
            fail_msg("case %d: \"%s\" does not say \"%s\"", broken_kind, evs_last_error(),
                     says[broken_kind]);
        assert_non_null(strstr(evs_last_error(), "subscription to $all of partition 0"));
        assert_int_equal(next_code(sub, NULL), EVS_EPROTOCOL); /* sticky */
        assert_int_equal(evs_subscription_position(sub), 2); /* nothing of the bad page */
        evs_subscription_close(sub);
        evs_client_close(client);
        server_stop(server);
    }
}

static int binary_suite(void **state)
{
    forced_sse = 0;
    framing_env_restore();
    return 0;
}

static int sse_suite(void **state)
{
    forced_sse = 1;
    framing_env_restore();
    return 0;
}

int main(void)
{
    /* Both framings run every test but those of one framing only. */
    const struct CMUnitTest common[] = {
        cmocka_unit_test(test_history_then_end),
        cmocka_unit_test(test_reconnects_after_last_received),
        cmocka_unit_test(test_reconnects_from_caught_up_next),
        cmocka_unit_test(test_protocol_errors_end_the_subscription),
        cmocka_unit_test(test_refusals_at_open),
        cmocka_unit_test(test_burst_pauses_instead_of_queueing),
        cmocka_unit_test(test_gives_up_after_bounded_retries),
    };
    const struct CMUnitTest binary_only[] = {
        cmocka_unit_test(test_framing_may_change_on_reconnecting),
        cmocka_unit_test(test_forced_framings),
        cmocka_unit_test(test_broken_frames_end_the_subscription),
    };
    int failed = cmocka_run_group_tests_name("binary framing", common, binary_suite, NULL);
    failed += cmocka_run_group_tests_name("binary framing only", binary_only, binary_suite, NULL);
    failed += cmocka_run_group_tests_name("SSE (EVSTORE_SUBSCRIPTION_FRAMING=sse)", common,
                                          sse_suite, NULL);
    return failed;
}
