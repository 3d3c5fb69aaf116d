/*
 * http_auth.c - bearer tokens and scopes on the HTTP API (see http_auth.h).
 *
 * Invariants:
 *  1. The token table is only replaced whole, under the write lock; a check holds the read
 *     lock while it looks a token up and reads its scopes.
 *  2. No message, log line or answer contains a presented token.
 */
#include "http/http_auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "http/http_util.h"
#include "text_file.h"

#define RELOAD_CHECK_MS 1000

struct evs_http_auth {
    char *path;
    pthread_rwlock_t lock; /* invariant 1 */
    evs_token_table table;
    struct timespec mtime; /* of the file as last read */
    pthread_mutex_t check_lock;
    int64_t checked_ms; /* when the file's mtime was last looked at; under check_lock */
    evs_token_table internal; /* the projector's own client's token, or empty */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int file_mtime(const char *path, struct timespec *out)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    *out = st.st_mtim;
    return 0;
}

int evs_http_auth_open(const char *path, evs_http_auth **out, char *err, size_t err_len)
{
    evs_http_auth *a = calloc(1, sizeof *a);
    if (!a || !(a->path = strdup(path))) {
        free(a);
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    file_mtime(path, &a->mtime);
    if (evs_token_table_load(path, &a->table, err, err_len) < 0) {
        evs_token_table_free(&a->table);
        free(a->path);
        free(a);
        return -1;
    }
    pthread_rwlock_init(&a->lock, NULL);
    pthread_mutex_init(&a->check_lock, NULL);
    a->checked_ms = now_ms();
    *out = a;
    return 0;
}

void evs_http_auth_close(evs_http_auth *a)
{
    if (!a)
        return;
    evs_token_table_free(&a->table);
    evs_token_table_free(&a->internal);
    pthread_rwlock_destroy(&a->lock);
    pthread_mutex_destroy(&a->check_lock);
    free(a->path);
    free(a);
}

int evs_http_auth_set_internal(evs_http_auth *a, const char *token)
{
    evs_token_entry *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    evs_token_hash(token, strlen(token), e->hash);
    e->scopes[0].scope = EVS_SCOPE_READ;
    e->scopes[1].scope = EVS_SCOPE_APPEND;
    e->scope_count = 2;
    evs_token_table_free(&a->internal);
    a->internal.entries = e;
    a->internal.count = 1;
    return 0;
}

size_t evs_http_auth_token_count(evs_http_auth *a)
{
    pthread_rwlock_rdlock(&a->lock);
    size_t n = a->table.count;
    pthread_rwlock_unlock(&a->lock);
    return n;
}

/* Reads the file again when its modification time changed (at most once a second). */
static void maybe_reload(evs_http_auth *a)
{
    int64_t now = now_ms();
    pthread_mutex_lock(&a->check_lock);
    if (now - a->checked_ms < RELOAD_CHECK_MS) {
        pthread_mutex_unlock(&a->check_lock);
        return;
    }
    a->checked_ms = now;
    struct timespec mtime;
    if (file_mtime(a->path, &mtime) == 0 &&
        (mtime.tv_sec != a->mtime.tv_sec || mtime.tv_nsec != a->mtime.tv_nsec)) {
        evs_token_table table = {0};
        char err[512];
        a->mtime = mtime;
        if (evs_token_table_load(a->path, &table, err, sizeof err) < 0) {
            fprintf(stderr, "evstore-projector: keeping the tokens read before: %s\n", err);
            evs_token_table_free(&table);
        } else {
            pthread_rwlock_wrlock(&a->lock);
            evs_token_table old = a->table;
            a->table = table;
            pthread_rwlock_unlock(&a->lock);
            evs_token_table_free(&old);
            fprintf(stderr, "evstore-projector: read %zu tokens from %s\n", table.count,
                    a->path);
        }
    }
    pthread_mutex_unlock(&a->check_lock);
}

static int token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '-';
}

int evs_http_bearer_parse(const char *h, const char **token, size_t *len)
{
    if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
        return -1;
    const char *s = h + 6;
    while (*s == ' ' || *s == '\t')
        s++;
    const char *t = s;
    while (token_char(*s))
        s++;
    if (s == t)
        return -1;
    while (*s == '=')
        s++;
    const char *end = s;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s)
        return -1;
    *token = t;
    *len = (size_t)(end - t);
    return 1;
}

static int starts_with(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return n <= len && !memcmp(s, prefix, n);
}

/* 1 if scope sc covers `name` of this kind: 's' a stream, 'c' a category, 0 nothing
 * stream-specific that only a scope without prefix covers. */
static int prefix_covers(const evs_token_scope *sc, char kind, const char *name, size_t len)
{
    if (!sc->prefix[0])
        return 1;
    if (kind == 's')
        return starts_with(name, len, sc->prefix);
    if (kind == 'c') /* the prefix is a prefix of the category itself */
        return starts_with(name, len, sc->prefix);
    return 0;
}

int evs_http_access_granted(const evs_token_entry *entry, evs_access access, const char *rest)
{
    unsigned scopes = 0;
    char kind = 0; /* what the prefix must cover, see prefix_covers; 'g' any prefix */
    const char *name = rest;
    size_t len = strlen(rest);
    switch (access) {
    case EVS_ACCESS_UNSET: return 0;
    case EVS_ACCESS_OPEN: return 1;
    case EVS_ACCESS_ANY: scopes = EVS_SCOPE_READ | EVS_SCOPE_APPEND | EVS_SCOPE_ADMIN; kind = 'g'; break;
    case EVS_ACCESS_READ: scopes = EVS_SCOPE_READ; kind = 'g'; break;
    case EVS_ACCESS_READ_ALL: scopes = EVS_SCOPE_READ; break;
    case EVS_ACCESS_READ_STREAM: scopes = EVS_SCOPE_READ; kind = 's'; break;
    case EVS_ACCESS_READ_CATEGORY: scopes = EVS_SCOPE_READ; kind = 'c'; break;
    case EVS_ACCESS_READ_SUBSCRIPTION:
        scopes = EVS_SCOPE_READ;
        if (!strncmp(rest, "streams/", 8)) {
            kind = 's';
            name += 8;
        } else if (!strncmp(rest, "categories/", 11)) {
            kind = 'c';
            name += 11;
        }
        len = strlen(name);
        break;
    case EVS_ACCESS_APPEND_STREAM: scopes = EVS_SCOPE_APPEND; kind = 's'; break;
    case EVS_ACCESS_VERDICT: scopes = EVS_SCOPE_READ | EVS_SCOPE_APPEND; kind = 'g'; break;
    case EVS_ACCESS_ADMIN_ALL: scopes = EVS_SCOPE_ADMIN; break;
    case EVS_ACCESS_ADMIN_NAME:
        scopes = EVS_SCOPE_ADMIN;
        kind = 's';
        len = strcspn(rest, "/");
        break;
    }
    for (size_t i = 0; i < entry->scope_count; i++) {
        const evs_token_scope *sc = &entry->scopes[i];
        if ((sc->scope & scopes) && (kind == 'g' || prefix_covers(sc, kind, name, len)))
            return 1;
    }
    return 0;
}

/* What access needs, for a 403's message. */
static const char *access_needs(evs_access access)
{
    switch (access) {
    case EVS_ACCESS_READ_ALL: return "read without a prefix (it spans every stream)";
    case EVS_ACCESS_READ_STREAM: return "read of this stream";
    case EVS_ACCESS_READ_CATEGORY: return "read with a prefix of this category's name";
    case EVS_ACCESS_READ_SUBSCRIPTION: return "read of what is subscribed to";
    case EVS_ACCESS_APPEND_STREAM: return "append to this stream";
    case EVS_ACCESS_VERDICT: return "read or append";
    case EVS_ACCESS_ADMIN_ALL: return "admin without a prefix";
    case EVS_ACCESS_ADMIN_NAME: return "admin of this name";
    case EVS_ACCESS_READ: return "read";
    default: return "a valid token";
    }
}

/* Queues 401 or 403 with the WWW-Authenticate header RFC 6750 asks for. */
static enum MHD_Result refuse(struct MHD_Connection *c, unsigned status, const char *challenge,
                              const char *msg)
{
    evs_out o = {0};
    evs_out_str(&o, "{\"error\":");
    evs_out_jstr(&o, msg, strlen(msg));
    evs_out_str(&o, "}");
    if (!o.p)
        return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(o.len, o.p, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(o.p);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "WWW-Authenticate", challenge);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

int evs_http_auth_check(evs_http_auth *a, struct MHD_Connection *c, evs_access access,
                        const char *rest, enum MHD_Result *ret)
{
    if (!a || access == EVS_ACCESS_OPEN)
        return 1;
    const char *header = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *token;
    size_t len;
    if (!header) {
        *ret = refuse(c, MHD_HTTP_UNAUTHORIZED, "Bearer realm=\"evstore\"",
                      "this projector needs a token: send Authorization: Bearer TOKEN "
                      "(evstore --token, EVSTORE_TOKEN)");
        return 0;
    }
    if (evs_http_bearer_parse(header, &token, &len) < 0) {
        *ret = refuse(c, MHD_HTTP_UNAUTHORIZED,
                      "Bearer realm=\"evstore\", error=\"invalid_request\"",
                      "malformed Authorization header: expected Bearer TOKEN");
        return 0;
    }
    maybe_reload(a);
    pthread_rwlock_rdlock(&a->lock);
    const evs_token_entry *entry = evs_token_table_find(&a->table, token, len);
    if (!entry)
        entry = evs_token_table_find(&a->internal, token, len);
    int granted = entry && evs_http_access_granted(entry, access, rest);
    pthread_rwlock_unlock(&a->lock);
    if (!entry) {
        *ret = refuse(c, MHD_HTTP_UNAUTHORIZED, "Bearer realm=\"evstore\", error=\"invalid_token\"",
                      "unknown token: it is not in this projector's token file (revoked, or "
                      "mistyped)");
        return 0;
    }
    if (!granted) {
        char msg[512];
        snprintf(msg, sizeof msg,
                 "the token's scopes do not cover this request: it needs %s "
                 "(docs/SECURITY.md, \"Scopes\")",
                 access_needs(access));
        *ret = refuse(c, MHD_HTTP_FORBIDDEN,
                      "Bearer realm=\"evstore\", error=\"insufficient_scope\"", msg);
        return 0;
    }
    return 1;
}

int evs_http_read_file(const char *path, const char *what, char **out, char *err,
                       size_t err_len)
{
    size_t len;
    if (evs_text_file_read(path, what, 1u << 20, out, &len, err, err_len) < 0)
        return -1;
    if (len == 0) {
        snprintf(err, err_len, "the %s %s is empty", what, path);
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}
