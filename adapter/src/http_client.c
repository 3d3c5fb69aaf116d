/*
 * http_client.c - blocking requests to the projector with a pool of kept-alive curl
 * handles (see http_client.h for the threading contract).
 *
 * Invariants:
 *  1. A handle is either in pool->idle[0..idle_count) or owned by exactly one running
 *     request, never both; only the pool is touched under the mutex.
 *  2. Every handle has CURLOPT_NOSIGNAL set, so no request installs signal handlers or uses
 *     alarm() (libcurl's requirement for multi-threaded use), and TCP_NODELAY so a small
 *     request is not held back by Nagle's algorithm.
 *  3. A handle goes back to the pool with no pointer into a request's memory (error
 *     buffer, headers, body), and every request sets its method, body and headers afresh.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "errors.h"
#include "evstore.h"
#include "http_client.h"

struct evs_http {
    char *base_url;
    int connect_timeout_ms;
    const evs_http_security *security; /* the client's, may be NULL */
    pthread_mutex_t lock;
    CURL *idle[EVS_CLIENT_HTTP_POOL_MAX];
    size_t idle_count;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void)
{
    /* Never paired with curl_global_cleanup(): other users of libcurl in the process may
     * still need it, and the OS reclaims everything at exit. */
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void evs__http_response_free(evs_http_response *response)
{
    if (!response)
        return;
    free(response->body);
    memset(response, 0, sizeof *response);
}

int evs__http_secure(void *curl, const evs_http_security *security, struct curl_slist **headers)
{
    if (!security)
        return 0;
    if (security->ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, security->ca_file);
    if (security->token) {
        char line[16 + 512];
        snprintf(line, sizeof line, "Authorization: Bearer %s", security->token);
        struct curl_slist *more = curl_slist_append(*headers, line);
        if (!more)
            return EVS_ENOMEM;
        *headers = more;
    }
    return 0;
}

int evs__http_open(const char *base_url, int connect_timeout_ms,
                   const evs_http_security *security, evs_http **out)
{
    int rc;
    evs_http *http = NULL;

    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_result != CURLE_OK) {
        rc = evs__set_error(EVS_EINTERNAL, "libcurl initialisation failed: %s",
                            curl_easy_strerror(curl_init_result));
        goto fail;
    }
    if (!base_url ||
        (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0)) {
        rc = evs__set_error(EVS_EINVAL,
                            "projector URL \"%s\" must start with http:// or "
                            "https://",
                            base_url ? base_url : "(null)");
        goto fail;
    }
    http = calloc(1, sizeof *http);
    if (!http || !(http->base_url = strdup(base_url))) {
        rc = evs__set_error(EVS_ENOMEM, "out of memory opening the HTTP client");
        goto fail;
    }
    size_t n = strlen(http->base_url);
    while (n > 0 && http->base_url[n - 1] == '/')
        http->base_url[--n] = '\0';
    http->connect_timeout_ms = connect_timeout_ms > 0 ? connect_timeout_ms : 5000;
    http->security = security;
    if (pthread_mutex_init(&http->lock, NULL) != 0) {
        rc = evs__set_error(EVS_EINTERNAL, "cannot create a mutex");
        goto fail;
    }
    *out = http;
    return 0;
fail:
    if (http)
        free(http->base_url);
    free(http);
    return rc;
}

void evs__http_close(evs_http *http)
{
    if (!http)
        return;
    for (size_t i = 0; i < http->idle_count; i++)
        curl_easy_cleanup(http->idle[i]);
    pthread_mutex_destroy(&http->lock);
    free(http->base_url);
    free(http);
}

const char *evs__http_base_url(const evs_http *http)
{
    return http->base_url;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    evs_http_response *response = user;
    size_t n = size * nmemb;
    if (n > EVS_CLIENT_RESPONSE_BYTES_MAX - response->body_len)
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    if (response->body_len + n + 1 > response->body_cap) {
        size_t cap = response->body_cap ? response->body_cap : 4096;
        while (cap < response->body_len + n + 1)
            cap *= 2;
        char *grown = realloc(response->body, cap);
        if (!grown)
            return 0;
        response->body = grown;
        response->body_cap = cap;
    }
    memcpy(response->body + response->body_len, data, n);
    response->body_len += n;
    response->body[response->body_len] = '\0';
    return n;
}

/* Takes a handle from the pool or makes a configured new one; NULL when out of memory. */
static CURL *handle_acquire(evs_http *http)
{
    CURL *curl = NULL;
    pthread_mutex_lock(&http->lock);
    if (http->idle_count > 0)
        curl = http->idle[--http->idle_count];
    pthread_mutex_unlock(&http->lock);
    if (curl)
        return curl;

    curl = curl_easy_init();
    if (!curl)
        return NULL;
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)http->connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    /* The projector is a local service: ignore http_proxy and friends. */
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "libevstore/" EVS_VERSION_STRING);
    return curl;
}

/* Returns a handle to the pool, keeping its connection alive, or frees it when the pool
 * is full. A handle whose request failed at the transport level is freed so that a broken
 * connection is never reused. */
static void handle_release(evs_http *http, CURL *curl, int healthy)
{
    if (healthy) {
        pthread_mutex_lock(&http->lock);
        if (http->idle_count < EVS_CLIENT_HTTP_POOL_MAX) {
            http->idle[http->idle_count++] = curl;
            curl = NULL;
        }
        pthread_mutex_unlock(&http->lock);
    }
    if (curl)
        curl_easy_cleanup(curl);
}

static int http_perform(evs_http *http, const char *method, const char *path_and_query,
                        const char *accept, const char *body, size_t body_len, long timeout_ms,
                        evs_http_response *response);

int evs__http_get(evs_http *http, const char *path_and_query, long timeout_ms,
                  evs_http_response *response)
{
    return http_perform(http, "GET", path_and_query, NULL, NULL, 0, timeout_ms, response);
}

int evs__http_get_accept(evs_http *http, const char *path_and_query, const char *accept,
                         long timeout_ms, evs_http_response *response)
{
    return http_perform(http, "GET", path_and_query, accept, NULL, 0, timeout_ms, response);
}

int evs__http_request(evs_http *http, const char *method, const char *path_and_query,
                      const char *body, size_t body_len, long timeout_ms,
                      evs_http_response *response)
{
    return http_perform(http, method, path_and_query, NULL, body, body_len, timeout_ms,
                        response);
}

/* Copies a Content-Type without its parameters, lowercase, into out (see http_client.h). */
static void content_type_copy(const char *type, char *out, size_t out_len)
{
    size_t n = type ? strcspn(type, "; \t") : 0;
    out[0] = '\0';
    if (n == 0 || n >= out_len)
        return;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)((type[i] >= 'A' && type[i] <= 'Z') ? type[i] + 32 : type[i]);
    out[n] = '\0';
}

static int http_perform(evs_http *http, const char *method, const char *path_and_query,
                        const char *accept, const char *body, size_t body_len, long timeout_ms,
                        evs_http_response *response)
{
    int rc;
    char *url = NULL;
    CURL *curl = NULL;
    struct curl_slist *headers = NULL;
    char curl_error[CURL_ERROR_SIZE] = "";

    memset(response, 0, sizeof *response);
    size_t url_len = strlen(http->base_url) + strlen(path_and_query) + 1;
    url = malloc(url_len);
    curl = handle_acquire(http);
    if (!url || !curl) {
        rc = evs__set_error(EVS_ENOMEM, "out of memory preparing an HTTP request");
        goto fail;
    }
    snprintf(url, url_len, "%s%s", http->base_url, path_and_query);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    /* A pooled handle keeps the options of its previous request: set the method, body and
     * headers every time (invariant 3). */
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, NULL);
        if (accept) {
            char line[128];
            snprintf(line, sizeof line, "Accept: %s", accept);
            if (!(headers = curl_slist_append(NULL, line))) {
                rc = evs__set_error(EVS_ENOMEM, "out of memory preparing an HTTP request");
                goto fail;
            }
        }
    } else {
        if (body_len > 0 || strcmp(method, "DELETE") != 0) {
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body_len ? body : "");
            /* No "Expect: 100-continue" round trip before a large body. */
            struct curl_slist *with_type =
                curl_slist_append(NULL, "Content-Type: application/json");
            headers = with_type ? curl_slist_append(with_type, "Expect:") : NULL;
            if (!headers) {
                curl_slist_free_all(with_type);
                rc = evs__set_error(EVS_ENOMEM, "out of memory preparing an HTTP request");
                goto fail;
            }
        } else {
            curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        }
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }
    if (evs__http_secure(curl, http->security, &headers) != 0) {
        rc = evs__set_error(EVS_ENOMEM, "out of memory preparing an HTTP request");
        goto fail;
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 10000L);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, response);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);

    CURLcode res = curl_easy_perform(curl);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL); /* curl_error dies with this frame */
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);  /* and headers with this call */
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, NULL);  /* body belongs to the caller */
    const char *detail = curl_error[0] ? curl_error : curl_easy_strerror(res);
    switch (res) {
    case CURLE_OK:
        break;
    case CURLE_OPERATION_TIMEDOUT:
        rc = evs__set_error(EVS_ETIMEOUT, "projector at %s did not answer %s %s within %ld ms: %s",
                            http->base_url, method, path_and_query, timeout_ms, detail);
        goto fail;
    case CURLE_WRITE_ERROR:
        rc = evs__set_error(EVS_EPROTOCOL,
                            "projector answer to %s is larger than %d bytes or "
                            "memory ran out",
                            path_and_query, EVS_CLIENT_RESPONSE_BYTES_MAX);
        goto fail;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        rc = evs__set_error(EVS_EINVAL, "bad projector URL %s: %s", url, detail);
        goto fail;
    case CURLE_OUT_OF_MEMORY:
        rc = evs__set_error(EVS_ENOMEM, "out of memory in libcurl");
        goto fail;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
        rc = evs__set_error(EVS_EAUTH,
                            "projector at %s: TLS failed (%s); is its certificate signed by "
                            "the CA file given (--ca-file, EVSTORE_CA_FILE)?",
                            http->base_url, detail);
        goto fail;
    case CURLE_WEIRD_SERVER_REPLY:
        rc = evs__set_error(EVS_EPROTOCOL, "projector at %s did not answer HTTP: %s",
                            http->base_url, detail);
        goto fail;
    default:
        rc = evs__set_error(EVS_EUNAVAILABLE,
                            "projector at %s is unreachable (%s); is "
                            "evstore-projector running there?",
                            http->base_url, detail);
        goto fail;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response->status);
    char *type = NULL;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    content_type_copy(type, response->content_type, sizeof response->content_type);
    if (!response->body) {
        /* An empty body still gets a NUL-terminated buffer, so callers need no NULL check. */
        response->body = calloc(1, 1);
        if (!response->body) {
            rc = evs__set_error(EVS_ENOMEM, "out of memory reading an HTTP answer");
            goto fail;
        }
        response->body_cap = 1;
    }
    handle_release(http, curl, 1);
    curl_slist_free_all(headers);
    free(url);
    return 0;
fail:
    if (curl)
        handle_release(http, curl, 0);
    curl_slist_free_all(headers);
    free(url);
    evs__http_response_free(response);
    return rc;
}

void evs__url_segment_escape(const char *name, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            strchr("-._~:@", c)) {
            *out++ = (char)c;
        } else {
            *out++ = '%';
            *out++ = hex[c >> 4];
            *out++ = hex[c & 15];
        }
    }
    *out = '\0';
}
