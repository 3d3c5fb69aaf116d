/*
 * http_client.h - a small blocking HTTP/1.1 client (GET, and PUT/POST/DELETE with a JSON
 * body) for the projector's query API, built on libcurl.
 *
 * Thread safety: one evs_http is shared by every thread of a client. It keeps a pool of at
 * most EVS_CLIENT_HTTP_POOL_MAX idle curl easy handles under a mutex; a request takes a
 * handle out of the pool (or makes a new one), uses it without the lock, and puts it back,
 * so concurrent threads never share a handle while each handle's kept-alive connection is
 * reused by the next request.
 */
#ifndef EVS_HTTP_CLIENT_H
#define EVS_HTTP_CLIENT_H

#include <stddef.h>

struct curl_slist;

typedef struct evs_http evs_http;

/* How requests prove who they talk to and who they are (docs/SECURITY.md): the CA file
 * https:// projectors are verified against (NULL: the system's CAs) and the bearer token
 * sent in every request's Authorization header (NULL: none). Kept by pointer, so it must
 * outlive every evs_http and transfer that uses it (the client owns it). */
typedef struct evs_http_security {
    const char *ca_file;
    const char *token;
} evs_http_security;

/* Sets security's CA file on curl and appends its Authorization header to *headers (which
 * may start NULL). Returns 0, or EVS_ENOMEM with *headers left as it was. */
int evs__http_secure(void *curl, const evs_http_security *security, struct curl_slist **headers);

/* An HTTP answer. body is NUL-terminated (not counted in body_len) and owned by the
 * response; free with evs__http_response_free. */
typedef struct evs_http_response {
    long status;
    char *body;
    size_t body_len;
    size_t body_cap;
    /* The answer's Content-Type without parameters, lowercase, NUL-terminated; "" when the
     * answer had none (or one longer than the buffer). */
    char content_type[64];
} evs_http_response;

void evs__http_response_free(evs_http_response *response);

/* Opens a client for base_url (copied; a trailing '/' is dropped). connect_timeout_ms
 * bounds each TCP connect; security (may be NULL) is kept by pointer. Returns 0,
 * EVS_EINVAL or EVS_ENOMEM. */
int evs__http_open(const char *base_url, int connect_timeout_ms,
                   const evs_http_security *security, evs_http **out);

/* Frees the pool and its handles; no request may be running. NULL is allowed. */
void evs__http_close(evs_http *http);

/* The base URL as given to evs__http_open, without a trailing '/'. Owned by http. */
const char *evs__http_base_url(const evs_http *http);

/* GETs base_url + path_and_query (which starts with '/'), waiting at most timeout_ms for
 * the whole exchange. On 0 *response holds the status and body, whatever the status; the
 * caller frees it. On failure sets the thread's last error and returns EVS_EUNAVAILABLE
 * (cannot connect, connection lost), EVS_ETIMEOUT, EVS_EPROTOCOL (answer over
 * EVS_CLIENT_RESPONSE_BYTES_MAX or not HTTP), EVS_EAUTH (the projector's TLS certificate
 * is not trusted) or EVS_ENOMEM. */
int evs__http_get(evs_http *http, const char *path_and_query, long timeout_ms,
                  evs_http_response *response);

/* Like evs__http_get, sending "Accept: accept" (accept NULL: no Accept header). */
int evs__http_get_accept(evs_http *http, const char *path_and_query, const char *accept,
                         long timeout_ms, evs_http_response *response);

/* Like evs__http_get with another method ("PUT", "POST", "DELETE", ...) and an optional
 * request body (body may be NULL when body_len is 0), sent as application/json. */
int evs__http_request(evs_http *http, const char *method, const char *path_and_query,
                      const char *body, size_t body_len, long timeout_ms,
                      evs_http_response *response);

/* Writes name percent-encoded for one URL path segment into out (NUL-terminated): every
 * byte but A-Z a-z 0-9 - . _ ~ : @ becomes %XX, so an event type with '/' stays one
 * segment. out must hold 3 * strlen(name) + 1 bytes. */
void evs__url_segment_escape(const char *name, char *out);

#endif /* EVS_HTTP_CLIENT_H */
