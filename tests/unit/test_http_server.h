/*
 * test_http_server.h - the request reader of the tiny HTTP/1.1 servers that stand in for the
 * projector in the client unit tests (test_client_append.c, test_client_route.c).
 * Included after <cmocka.h>; needs _GNU_SOURCE for memmem.
 */
#ifndef EVS_TEST_HTTP_SERVER_H
#define EVS_TEST_HTTP_SERVER_H

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

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

#endif /* EVS_TEST_HTTP_SERVER_H */
