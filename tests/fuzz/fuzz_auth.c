/*
 * fuzz_auth.c - libFuzzer target for what the projector parses of credentials before it
 * trusts anything: the Authorization header (http/http_auth.h), the token file
 * (schemas/access_token.h) and the Kafka settings file (schemas/kafka_properties.h).
 *
 * The first byte picks the parser (modulo 3), the rest is its input:
 *   0  Authorization header: evs_http_bearer_parse succeeds only with "Bearer", blanks and
 *      a token of the allowed characters wholly inside the header; the token is then
 *      looked up in a fixed table (one entry per scope and prefix kind) and every access
 *      kind decided for a rest made of the token's bytes: no crash, and a token that is not
 *      the table's is never found;
 *   1  token file: parse; on success every entry has 1..EVS_TOKEN_SCOPES_MAX scopes, each a
 *      known scope with a prefix of stream-name characters, no two entries share a hash,
 *      and the access decision for every kind runs on every entry;
 *   2  Kafka settings: parse; on success no key is bootstrap.servers, and the JSON shown by
 *      GET /status parses back with every secret's value "[redacted]" and every other value
 *      as given.
 * Seeds: tests/fuzz/corpus/fuzz_auth (make_seeds.c "auth").
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "access_token.h"
#include "fuzz_check.h"
#include "http/http_auth.h"
#include "kafka_properties.h"

static const char *const table_text =
    "sha256:0000000000000000000000000000000000000000000000000000000000000001 read\n"
    "sha256:0000000000000000000000000000000000000000000000000000000000000002 append:Order-\n"
    "sha256:0000000000000000000000000000000000000000000000000000000000000003 admin:Ord read:O\n";

static void all_accesses(const evs_token_entry *e, const char *rest)
{
    for (int a = EVS_ACCESS_UNSET; a <= EVS_ACCESS_ADMIN_NAME; a++) {
        int granted = evs_http_access_granted(e, (evs_access)a, rest);
        CHECK(granted == 0 || granted == 1, "access %d decided %d", a, granted);
        if (a == EVS_ACCESS_UNSET)
            CHECK(!granted, "an unset access was granted");
        if (a == EVS_ACCESS_OPEN)
            CHECK(granted, "an open route was refused");
    }
}

static void header_case(const char *text, size_t len)
{
    char *h = strndup(text, len); /* a header value ends at the first NUL */
    CHECK(h != NULL, "out of memory");
    const char *token = NULL;
    size_t token_len = 0;
    int rc = evs_http_bearer_parse(h, &token, &token_len);
    CHECK(rc == 1 || rc == -1, "bearer parse returned %d", rc);
    if (rc == 1) {
        size_t n = strlen(h);
        CHECK(token > h && token + token_len <= h + n, "the token is not inside the header");
        CHECK(token_len > 0, "an empty token was accepted");
        CHECK(!strncasecmp(h, "Bearer", 6), "a header without Bearer was accepted");
        for (size_t i = 0; i < token_len; i++)
            CHECK(token[i] != ' ' && token[i] != '\t' && token[i] != ',',
                  "a blank or comma inside the token");
        evs_token_table table = {0};
        char err[256];
        CHECK(evs_token_table_parse(table_text, strlen(table_text), "fixed", &table, err,
                                    sizeof err) == 0,
              "the fixed table does not parse: %s", err);
        /* The table's hashes have no known preimage: nothing is found. */
        CHECK(evs_token_table_find(&table, token, token_len) == NULL, "an unknown token matched");
        char *rest = strndup(token, token_len);
        CHECK(rest != NULL, "out of memory");
        for (size_t i = 0; i < table.count; i++)
            all_accesses(&table.entries[i], rest);
        free(rest);
        evs_token_table_free(&table);
    }
    free(h);
}

static void token_file_case(const char *text, size_t len)
{
    evs_token_table table = {0};
    char err[512];
    int rc = evs_token_table_parse(text, len, "input", &table, err, sizeof err);
    CHECK(rc == 0 || rc == -1, "token file parse returned %d", rc);
    if (rc == 0) {
        for (size_t i = 0; i < table.count; i++) {
            const evs_token_entry *e = &table.entries[i];
            CHECK(e->scope_count >= 1 && e->scope_count <= EVS_TOKEN_SCOPES_MAX,
                  "entry %zu has %zu scopes", i, e->scope_count);
            for (size_t k = 0; k < e->scope_count; k++) {
                evs_scope s = e->scopes[k].scope;
                CHECK(s == EVS_SCOPE_READ || s == EVS_SCOPE_APPEND || s == EVS_SCOPE_ADMIN,
                      "unknown scope %d", (int)s);
                CHECK(strlen(e->scopes[k].prefix) <= EVS_STREAM_NAME_MAX, "prefix too long");
                CHECK(!strpbrk(e->scopes[k].prefix, " \t\r\n/$#"), "a prefix with %s",
                      e->scopes[k].prefix);
            }
            for (size_t j = 0; j < i; j++)
                CHECK(memcmp(table.entries[j].hash, e->hash, EVS_TOKEN_HASH_LEN),
                      "entries %zu and %zu share a hash", j, i);
            all_accesses(e, "Order-1");
            all_accesses(e, "streams/Order-1");
            all_accesses(e, "");
        }
    } else {
        CHECK(memchr(err, 0, sizeof err) && err[0], "a refusal without a message");
    }
    evs_token_table_free(&table);
}

static void kafka_case(const char *text, size_t len)
{
    evs_kafka_properties props = {0};
    char err[512];
    int rc = evs_kafka_properties_parse(text, len, "input", &props, err, sizeof err);
    CHECK(rc == 0 || rc == -1, "properties parse returned %d", rc);
    if (rc == 0) {
        char *shown = evs_kafka_properties_json(&props);
        json_t *o = shown ? json_loads(shown, 0, NULL) : NULL;
        for (size_t i = 0; i < props.count; i++) {
            const char *k = props.items[i].key, *v = props.items[i].value;
            CHECK(strcmp(k, "bootstrap.servers") && strcmp(k, "metadata.broker.list"),
                  "%s was taken from the file", k);
            const char *got = o ? json_string_value(json_object_get(o, k)) : NULL;
            if (evs_kafka_property_secret(k))
                CHECK(!got || !strcmp(got, EVS_KAFKA_REDACTED), "secret %s shown as %s", k, got);
            else if (got)
                CHECK(!strcmp(got, v), "%s shown as %s, not %s", k, got, v);
        }
        json_decref(o);
        free(shown);
    }
    evs_kafka_properties_free(&props);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 3) {
    case 0: header_case(text, len); break;
    case 1: token_file_case(text, len); break;
    default: kafka_case(text, len); break;
    }
    return 0;
}
