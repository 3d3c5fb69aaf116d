/*
 * http_auth.h - who may call which route of the HTTP API: bearer tokens from the token file
 * (schemas/access_token.h) and the access each route of the routing table needs
 * (http_api.c, docs/SECURITY.md "Scopes").
 *
 * Without a token file every route is open, as before (the plain local default). With one,
 * every route but those of EVS_ACCESS_OPEN needs "Authorization: Bearer TOKEN" naming a
 * token of the file: 401 (with WWW-Authenticate: Bearer) without one, with a malformed
 * header or an unknown token; 403 when the token's scopes do not cover the request.
 *
 * The file is read again when its modification time changes (checked at most once a
 * second), so tokens are added and revoked without a restart; a file that no longer
 * parses keeps the tokens read before, and says so on stderr.
 */
#ifndef EVS_HTTP_AUTH_H
#define EVS_HTTP_AUTH_H

#include <stddef.h>

#include <microhttpd.h>

#include "access_token.h"

/* The access a route needs: a field of every routing table entry, so that the compiler
 * makes whoever adds a route choose one (it stands before the handler). The "rest" is the
 * part of the path after the route's prefix. A scope with a prefix covers:
 *  - a stream whose name starts with the prefix;
 *  - a category C when the prefix is a prefix of C itself (then every stream of C, "C" and
 *    "C-...", starts with it): read:Order covers category Order, read:Order- does not;
 *  - for admin, a checkpoint, snapshot (its stream) or consumer group whose name starts
 *    with the prefix.
 * $all, event types and the list of groups span every stream: only a scope without a
 * prefix covers them. */
typedef enum evs_access {
    EVS_ACCESS_UNSET = 0,         /* never valid: evs_http_start refuses such a table */
    EVS_ACCESS_OPEN,              /* anyone, no token (/health) */
    EVS_ACCESS_ANY,               /* any valid token, whatever its scopes (/status,
                                     /cluster: every client asks them first) */
    EVS_ACCESS_READ,              /* read, any prefix (nothing stream-specific) */
    EVS_ACCESS_READ_ALL,          /* read without a prefix ($all, types) */
    EVS_ACCESS_READ_STREAM,       /* read of the stream named by the rest */
    EVS_ACCESS_READ_CATEGORY,     /* read of the category named by the rest */
    EVS_ACCESS_READ_SUBSCRIPTION, /* read of the rest: all, streams/S, categories/C, types/T */
    EVS_ACCESS_APPEND_STREAM,     /* append to the stream named by the rest */
    EVS_ACCESS_VERDICT,           /* read or append, any prefix: a verdict is asked by an
                                     append id, a random UUID only its writer knows */
    EVS_ACCESS_ADMIN_ALL,         /* admin without a prefix */
    EVS_ACCESS_ADMIN_NAME,        /* admin of the name that the rest starts with (up to
                                     its first '/'): a checkpoint, snapshot or group */
} evs_access;

typedef struct evs_http_auth evs_http_auth;

/* Reads the token file at path. Returns 0 with *out set, or -1 with err naming the file,
 * the line and the problem. */
int evs_http_auth_open(const char *path, evs_http_auth **out, char *err, size_t err_len);

/* NULL is allowed. */
void evs_http_auth_close(evs_http_auth *auth);

/* Accepts token (not in any file) too, for read and append: the token of the projector's
 * own client, which asks for the verdicts of HTTP appends over HTTP (main.c). Call before
 * serving. 0, or -1 out of memory. */
int evs_http_auth_set_internal(evs_http_auth *auth, const char *token);

/* Tokens in the file as last read. */
size_t evs_http_auth_token_count(evs_http_auth *auth);

/* Checks the request on c against access (rest as above). auth NULL: everything is open.
 * Returns 1 to go on; 0 after queueing 401 or 403 into *ret. */
int evs_http_auth_check(evs_http_auth *auth, struct MHD_Connection *c, evs_access access,
                        const char *rest, enum MHD_Result *ret);

/* Parses an Authorization header value: "Bearer" (any case), blanks, and a token of
 * [A-Za-z0-9._~+/-] with '=' padding allowed at its end, nothing after but blanks.
 * Returns 1 with the token's span in *token / *len, or -1 when malformed. */
int evs_http_bearer_parse(const char *header, const char **token, size_t *len);

/* 1 if entry's scopes cover access to rest, else 0. */
int evs_http_access_granted(const evs_token_entry *entry, evs_access access, const char *rest);

/* Reads the whole (small, at most 1 MiB) file at path into *out, NUL-terminated, for the TLS
 * certificate and key; what names it in messages. 0, or -1 with err set. */
int evs_http_read_file(const char *path, const char *what, char **out, char *err,
                       size_t err_len);

#endif /* EVS_HTTP_AUTH_H */
