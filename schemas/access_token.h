/*
 * access_token.h - the bearer tokens of the projector's HTTP API and the token file that
 * lists their hashes (docs/SECURITY.md, "Tokens").
 *
 * A token is "evs_" followed by 64 lowercase hex digits: 256 random bits. The projector
 * never stores it, only its SHA-256 ("sha256:" and 64 hex digits), which is enough for a
 * high-entropy secret: nobody can find a token from its hash.
 *
 * Token file format: a line is trimmed of blanks; an empty line or one starting with '#' is
 * skipped; any other line is
 *     sha256:HEX SCOPE [SCOPE ...] [# comment]
 * with blanks between the fields, and SCOPE one of read, append, admin, each optionally
 * limited to stream names with a prefix: "append:Order-". A prefix is 1..EVS_STREAM_NAME_MAX
 * bytes of the stream-name characters [A-Za-z0-9_.:@-]. At most EVS_TOKENS_MAX lines of
 * tokens, EVS_TOKEN_SCOPES_MAX scopes each, EVS_TOKEN_FILE_BYTES_MAX bytes. A hash listed
 * twice is refused (it would be ambiguous which scopes hold).
 *
 * Nothing here ever puts a token in a message; the hashes are not secret.
 */
#ifndef EVS_ACCESS_TOKEN_H
#define EVS_ACCESS_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "evstore_limits.h"

#define EVS_TOKEN_PREFIX "evs_"
#define EVS_TOKEN_TEXT_LEN (4 + 64) /* "evs_" and 64 hex digits */
#define EVS_TOKEN_HASH_LEN 32       /* SHA-256 */
#define EVS_TOKENS_MAX 1000
#define EVS_TOKEN_SCOPES_MAX 32
#define EVS_TOKEN_FILE_BYTES_MAX (1024 * 1024)

/* The scopes (bits, so that an access may accept several). */
typedef enum evs_scope {
    EVS_SCOPE_READ = 1,   /* reads, subscriptions, verdicts */
    EVS_SCOPE_APPEND = 2, /* appends and their verdicts */
    EVS_SCOPE_ADMIN = 4,  /* consumer groups, checkpoints, snapshots, lifecycle */
} evs_scope;

/* One scope of a token: which, and the stream-name prefix it is limited to ("" none). */
typedef struct evs_token_scope {
    evs_scope scope;
    char prefix[EVS_STREAM_NAME_MAX + 1];
} evs_token_scope;

typedef struct evs_token_entry {
    uint8_t hash[EVS_TOKEN_HASH_LEN];
    size_t scope_count;
    evs_token_scope scopes[EVS_TOKEN_SCOPES_MAX];
    unsigned line; /* in the file, for messages */
} evs_token_entry;

/* A parsed token file; {0} is the empty table. */
typedef struct evs_token_table {
    evs_token_entry *entries;
    size_t count;
} evs_token_table;

/* Parses one scope, "read", "append:Order-", ... (text[0..len)) into *out. 0 or -1. */
int evs_token_scope_parse(const char *text, size_t len, evs_token_scope *out);

/* Parses text[0..len) into *out (empty; freed by evs_token_table_free whatever the
 * result). origin names the text in messages. Returns 0, or -1 with err naming origin, the
 * line and the problem. */
int evs_token_table_parse(const char *text, size_t len, const char *origin,
                          evs_token_table *out, char *err, size_t err_len);

/* Reads and parses the file at path (evs_token_table_parse). */
int evs_token_table_load(const char *path, evs_token_table *out, char *err, size_t err_len);

void evs_token_table_free(evs_token_table *table);

/* SHA-256 of token[0..len). */
void evs_token_hash(const char *token, size_t len, uint8_t hash[EVS_TOKEN_HASH_LEN]);

/* The entry whose hash is the presented token's, comparing in constant time with every
 * entry (the time taken does not depend on which entry matches, nor on how much of a hash
 * does); NULL when none. token need not be well-formed. */
const evs_token_entry *evs_token_table_find(const evs_token_table *table, const char *token,
                                            size_t len);

/* Makes a new random token into token_out (EVS_TOKEN_TEXT_LEN + 1 bytes). 0, or -1 when
 * the system has no randomness to give. */
int evs_token_generate(char token_out[EVS_TOKEN_TEXT_LEN + 1]);

/* Writes "sha256:HEX" of token into out (7 + 64 + 1 bytes). */
void evs_token_hash_text(const char *token, size_t len, char out[7 + 64 + 1]);

#endif /* EVS_ACCESS_TOKEN_H */
