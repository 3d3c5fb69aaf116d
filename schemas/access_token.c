/*
 * access_token.c - bearer tokens and the token file (format in access_token.h), with
 * OpenSSL's SHA-256, constant-time comparison and random bytes.
 */
#include "access_token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "text_file.h"


static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == ':' || c == '@' || c == '-';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int evs_token_scope_parse(const char *text, size_t len, evs_token_scope *out)
{
    static const struct {
        const char *name;
        evs_scope scope;
    } names[] = {{"read", EVS_SCOPE_READ}, {"append", EVS_SCOPE_APPEND}, {"admin", EVS_SCOPE_ADMIN}};
    const char *colon = memchr(text, ':', len);
    size_t name_len = colon ? (size_t)(colon - text) : len;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == name_len && !memcmp(text, names[i].name, name_len))
            out->scope = names[i].scope;
    if (!out->scope)
        return -1;
    if (!colon)
        return 0;
    size_t prefix_len = len - name_len - 1;
    if (prefix_len == 0 || prefix_len > EVS_STREAM_NAME_MAX)
        return -1;
    for (size_t i = 0; i < prefix_len; i++)
        if (!name_char(colon[1 + i]))
            return -1;
    memcpy(out->prefix, colon + 1, prefix_len);
    out->prefix[prefix_len] = 0;
    return 0;
}

void evs_token_table_free(evs_token_table *table)
{
    if (!table)
        return;
    free(table->entries);
    table->entries = NULL;
    table->count = 0;
}

/* Parses one token line s[0..e), trimmed and not a comment, into *entry. 0, or -1 with a
 * problem in err. */
static int line_parse(const char *s, const char *e, evs_token_entry *entry, const char **problem)
{
    memset(entry, 0, sizeof *entry);
    if (e - s < 7 + 64 || memcmp(s, "sha256:", 7)) {
        *problem = "expected sha256:HASH and scopes (evstore token new prints such a line)";
        return -1;
    }
    for (int i = 0; i < 32; i++) {
        int hi = hex_value(s[7 + 2 * i]), lo = hex_value(s[8 + 2 * i]);
        if (hi < 0 || lo < 0) {
            *problem = "the hash must be 64 hex digits";
            return -1;
        }
        entry->hash[i] = (uint8_t)(hi << 4 | lo);
    }
    s += 7 + 64;
    if (s < e && !evs_text_blank(*s)) {
        *problem = "the hash must be 64 hex digits followed by a blank";
        return -1;
    }
    for (;;) {
        while (s < e && evs_text_blank(*s))
            s++;
        if (s == e || *s == '#')
            break;
        const char *w = s;
        while (s < e && !evs_text_blank(*s))
            s++;
        if (entry->scope_count == EVS_TOKEN_SCOPES_MAX) {
            *problem = "too many scopes";
            return -1;
        }
        if (evs_token_scope_parse(w, (size_t)(s - w), &entry->scopes[entry->scope_count]) < 0) {
            *problem = "a scope is read, append or admin, optionally with :PREFIX of "
                       "stream-name characters (append:Order-)";
            return -1;
        }
        entry->scope_count++;
    }
    if (entry->scope_count == 0) {
        *problem = "a token needs at least one scope (read, append, admin)";
        return -1;
    }
    return 0;
}

int evs_token_table_parse(const char *text, size_t len, const char *origin,
                          evs_token_table *out, char *err, size_t err_len)
{
    if (len > EVS_TOKEN_FILE_BYTES_MAX) {
        snprintf(err, err_len, "%s: longer than %d bytes", origin, EVS_TOKEN_FILE_BYTES_MAX);
        return -1;
    }
    if (memchr(text, 0, len)) {
        snprintf(err, err_len, "%s: contains a NUL byte; expected text lines", origin);
        return -1;
    }
    evs_text_lines lines = {.text = text, .len = len};
    const char *s, *e;
    while (evs_text_next_line(&lines, &s, &e)) {
        unsigned line_no = lines.line;
        if (out->count == EVS_TOKENS_MAX) {
            snprintf(err, err_len, "%s: more than %d tokens", origin, EVS_TOKENS_MAX);
            return -1;
        }
        evs_token_entry entry;
        const char *problem = NULL;
        if (line_parse(s, e, &entry, &problem) < 0) {
            snprintf(err, err_len, "%s line %u: %s", origin, line_no, problem);
            return -1;
        }
        entry.line = line_no;
        for (size_t i = 0; i < out->count; i++) {
            if (!memcmp(out->entries[i].hash, entry.hash, sizeof entry.hash)) {
                snprintf(err, err_len, "%s line %u: the same hash as line %u", origin, line_no,
                         out->entries[i].line);
                return -1;
            }
        }
        evs_token_entry *grown = realloc(out->entries, (out->count + 1) * sizeof *grown);
        if (!grown) {
            snprintf(err, err_len, "%s: out of memory", origin);
            return -1;
        }
        out->entries = grown;
        out->entries[out->count++] = entry;
    }
    return 0;
}

int evs_token_table_load(const char *path, evs_token_table *out, char *err, size_t err_len)
{
    char *text;
    size_t len;
    if (evs_text_file_read(path, "token file", EVS_TOKEN_FILE_BYTES_MAX, &text, &len, err,
                           err_len) < 0)
        return -1;
    int rc = evs_token_table_parse(text, len, path, out, err, err_len);
    free(text);
    return rc;
}

void evs_token_hash(const char *token, size_t len, uint8_t hash[EVS_TOKEN_HASH_LEN])
{
    unsigned int n = EVS_TOKEN_HASH_LEN;
    if (!EVP_Digest(token, len, hash, &n, EVP_sha256(), NULL))
        memset(hash, 0, EVS_TOKEN_HASH_LEN); /* matches no entry: a parsed hash is never
                                                all zero by chance */
}

const evs_token_entry *evs_token_table_find(const evs_token_table *table, const char *token,
                                            size_t len)
{
    uint8_t hash[EVS_TOKEN_HASH_LEN];
    evs_token_hash(token, len, hash);
    const evs_token_entry *found = NULL;
    for (size_t i = 0; i < table->count; i++) {
        /* Every entry is compared, whatever matched before. */
        int same = CRYPTO_memcmp(hash, table->entries[i].hash, sizeof hash) == 0;
        found = same ? &table->entries[i] : found;
    }
    return found;
}

int evs_token_generate(char token_out[EVS_TOKEN_TEXT_LEN + 1])
{
    uint8_t random[32];
    if (RAND_bytes(random, sizeof random) != 1)
        return -1;
    memcpy(token_out, EVS_TOKEN_PREFIX, 4);
    for (int i = 0; i < 32; i++)
        snprintf(token_out + 4 + 2 * i, 3, "%02x", random[i]);
    OPENSSL_cleanse(random, sizeof random);
    return 0;
}

void evs_token_hash_text(const char *token, size_t len, char out[7 + 64 + 1])
{
    uint8_t hash[EVS_TOKEN_HASH_LEN];
    evs_token_hash(token, len, hash);
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", hash[i]);
}
