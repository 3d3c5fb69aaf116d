/*
 * test_http_server.h - the tiny HTTP/1.1 servers that stand in for the projector in the
 * client unit tests (test_client_append.c, test_client_route.c, test_client_across.c): the
 * request reader, answers, and a server on 127.0.0.1 that serves each connection on a
 * thread of its own. Included after <cmocka.h>; needs _GNU_SOURCE for memmem.
 */
#ifndef EVS_TEST_HTTP_SERVER_H
#define EVS_TEST_HTTP_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

/* Reads from fd until buf (cap bytes, of which *have are already held, kept-alive requests
 * included) holds one whole request: its head and a body of its Content-Length. Returns
 * the request's length, head and body, with *head_len the head's; 0 when the connection
 * closed first or the request does not fit in buf. */
static inline size_t test_http_read_request(int fd, char *buf, size_t cap, size_t *have,
                                            size_t *head_len)
{
    char *end;
    while (!(end = *have ? memmem(buf, *have, "\r\n\r\n", 4) : NULL)) {
        if (*have == cap)
            return 0;
        ssize_t n = recv(fd, buf + *have, cap - *have, 0);
        if (n <= 0)
            return 0;
        *have += (size_t)n;
    }
    *head_len = (size_t)(end - buf) + 4;
    const char *length = memmem(buf, *head_len, "Content-Length:", 15);
    size_t total = *head_len + (length ? (size_t)atol(length + 15) : 0);
    while (*have < total) {
        if (*have == cap)
            return 0;
        ssize_t n = recv(fd, buf + *have, cap - *have, 0);
        if (n <= 0)
            return 0;
        *have += (size_t)n;
    }
    return total;
}

/* Drops the first len bytes of buf (a request answered), keeping what followed it. */
static inline void test_http_consume(char *buf, size_t *have, size_t len)
{
    memmove(buf, buf + len, *have - len);
    *have -= len;
}

/* Sends all of bytes[0..len); 0, or -1 when the client is gone. */
static inline int test_http_send_all(int fd, const char *bytes, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, bytes + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

/* Sends a JSON answer with its Content-Length (the connection stays open); 0, or -1 when
 * the client is gone. */
static inline int test_http_send_json(int fd, int status, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d Fake\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     status, strlen(body));
    return test_http_send_all(fd, head, (size_t)n) == 0
               ? test_http_send_all(fd, body, strlen(body))
               : -1;
}

/* The integer query parameter `name` of path, or def when it has none. */
static inline long long test_http_query_number(const char *path, const char *name, long long def)
{
    char key[32];
    snprintf(key, sizeof key, "%s=", name);
    const char *q = strchr(path, '?');
    for (const char *p = q; p && (p = strstr(p, key)) != NULL; p++)
        if (p[-1] == '?' || p[-1] == '&')
            return atoll(p + strlen(key));
    return def;
}

/* Answers one request of a kept-alive connection: path is the request target, head the
 * whole request head (for its headers). Returns 0 to read the next request, non-zero to
 * close the connection. Runs on the connection's thread. */
typedef int (*test_http_serve_fn)(void *user, int fd, const char *path, const char *head,
                                  size_t head_len);

typedef struct test_http_server {
    int listen_fd;
    int port;
    char url[64]; /* http://127.0.0.1:PORT */
    pthread_t thread;
    atomic_int open_connections;
    test_http_serve_fn serve;
    void *user;
} test_http_server;

typedef struct test_http_connection {
    test_http_server *server;
    int fd;
} test_http_connection;

/* Serves one kept-alive connection until the client closes it or serve says to close. */
static inline void *test_http_connection_main(void *arg)
{
    test_http_connection *c = arg;
    test_http_server *server = c->server;
    int fd = c->fd;
    free(c);
    char request[8192];
    size_t have = 0, request_len, head_len;
    while ((request_len = test_http_read_request(fd, request, sizeof request, &have,
                                                 &head_len)) != 0) { /* bodies are ignored */
        char method[16] = "", path[512] = "";
        sscanf(request, "%15s %511s", method, path);
        if (server->serve(server->user, fd, path, request, head_len) != 0)
            break;
        test_http_consume(request, &have, request_len);
    }
    close(fd);
    atomic_fetch_sub(&server->open_connections, 1);
    return NULL;
}

static inline void *test_http_accept_main(void *arg)
{
    test_http_server *server = arg;
    for (;;) {
        int fd = accept(server->listen_fd, NULL, NULL);
        if (fd < 0)
            return NULL; /* the listening socket was shut down */
        test_http_connection *c = malloc(sizeof *c);
        pthread_t t;
        atomic_fetch_add(&server->open_connections, 1);
        if (!c || (c->server = server, c->fd = fd,
                   pthread_create(&t, NULL, test_http_connection_main, c) != 0)) {
            free(c);
            close(fd);
            atomic_fetch_sub(&server->open_connections, 1);
            continue;
        }
        pthread_detach(t);
    }
}

/* Listens on a free port of 127.0.0.1 (connections wait in the backlog until
 * test_http_server_run). */
static inline void test_http_server_listen(test_http_server *server)
{
    server->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(server->listen_fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    assert_int_equal(bind(server->listen_fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(server->listen_fd, 64), 0);
    assert_int_equal(getsockname(server->listen_fd, (struct sockaddr *)&addr, &len), 0);
    server->port = ntohs(addr.sin_port);
    snprintf(server->url, sizeof server->url, "http://127.0.0.1:%d", server->port);
}

/* Starts accepting: every request is answered by serve(user, ...). */
static inline void test_http_server_run(test_http_server *server, test_http_serve_fn serve,
                                        void *user)
{
    server->serve = serve;
    server->user = user;
    assert_int_equal(pthread_create(&server->thread, NULL, test_http_accept_main, server), 0);
}

/* Stops listening, then waits (5 s at most) until every connection was closed: by then the
 * clients talking to it must have been closed. */
static inline void test_http_server_stop(test_http_server *server)
{
    shutdown(server->listen_fd, SHUT_RDWR);
    close(server->listen_fd);
    pthread_join(server->thread, NULL);
    for (int i = 0; i < 500 && atomic_load(&server->open_connections) > 0; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&server->open_connections), 0);
}

#endif /* EVS_TEST_HTTP_SERVER_H */
