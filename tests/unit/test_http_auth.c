/*
 * test_http_auth.c - the security formats and decisions: the Kafka settings file and its
 * redaction (schemas/kafka_properties.h), tokens and the token file
 * (schemas/access_token.h), the Authorization header and which scope covers which route
 * (projector/http/http_auth.h, docs/SECURITY.md "Scopes").
 */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access_token.h"
#include "evstore.h"
#include "http/http_auth.h"
#include "kafka_properties.h"

static int parse_props(const char *text, evs_kafka_properties *p, char *err)
{
    memset(p, 0, sizeof *p);
    return evs_kafka_properties_parse(text, strlen(text), "f", p, err, 256);
}

static void test_properties_format(void **state)
{
    evs_kafka_properties p;
    char err[256];
    assert_int_equal(parse_props("# comment\n\n  security.protocol = SASL_SSL \r\n"
                                 "sasl.password=a=b\n\tclient.id=x\nclient.id=y\nempty.value=\n",
                                 &p, err),
                     0);
    assert_int_equal(p.count, 4);
    assert_string_equal(p.items[0].key, "security.protocol");
    assert_string_equal(p.items[0].value, "SASL_SSL");
    assert_string_equal(p.items[1].value, "a=b"); /* split at the first '=' */
    assert_string_equal(p.items[2].value, "y");   /* the last one wins */
    assert_string_equal(p.items[3].value, "");
    evs_kafka_properties_free(&p);

    static const char *const refused[] = {"novalue\n", "=x\n", "bad key=x\n",
                                          "bootstrap.servers=h:1\n",
                                          "metadata.broker.list=h:1\n"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(parse_props(refused[i], &p, err), -1);
        assert_non_null(strstr(err, "line 1"));
        evs_kafka_properties_free(&p);
    }
    /* A refusal never quotes a value. */
    assert_int_equal(parse_props("sasl.password=hunter2 x\nno equals hunter2\n", &p, err), -1);
    assert_null(strstr(err, "hunter2"));
    evs_kafka_properties_free(&p);
}

static void test_properties_redaction(void **state)
{
    static const char *const secret[] = {"sasl.password", "ssl.key.password",
                                         "ssl.keystore.password", "sasl.oauthbearer.client.secret",
                                         "sasl.oauthbearer.config", "sasl.jaas.config",
                                         "ssl.key.pem", "my.secret"};
    for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++) {
        assert_true(evs_kafka_property_secret(secret[i]));
        assert_string_equal(evs_kafka_property_shown(secret[i], "x"), EVS_KAFKA_REDACTED);
    }
    assert_false(evs_kafka_property_secret("sasl.username"));
    assert_false(evs_kafka_property_secret("ssl.ca.location"));
    evs_kafka_properties p;
    char err[256];
    assert_int_equal(parse_props("sasl.username=u\nsasl.password=hunter2\n", &p, err), 0);
    char *json = evs_kafka_properties_json(&p);
    assert_string_equal(json, "{\"sasl.username\":\"u\",\"sasl.password\":\"[redacted]\"}");
    free(json);
    evs_kafka_properties_free(&p);
}

static void test_token_new_and_file(void **state)
{
    const char *scopes[] = {"read", "append:Order-"};
    char token[EVS_TOKEN_TEXT_MAX + 1], line[EVS_TOKEN_LINE_MAX];
    assert_int_equal(evs_token_new(scopes, 2, token, line), 0);
    assert_int_equal(strlen(token), EVS_TOKEN_TEXT_MAX);
    assert_memory_equal(token, "evs_", 4);
    assert_null(strstr(line, token + 4)); /* the file line holds a hash, not the token */
    assert_non_null(strstr(line, " read append:Order-"));
    const char *bad[] = {"write"};
    assert_int_equal(evs_token_new(bad, 1, token, line), EVS_EINVAL);
    assert_int_equal(evs_token_new(scopes, 0, token, line), EVS_EINVAL);

    evs_token_table t = {0};
    char err[256];
    char text[2 * EVS_TOKEN_LINE_MAX + 64];
    snprintf(text, sizeof text, "# tokens\n\n%s # ci\n", line);
    assert_int_equal(evs_token_table_parse(text, strlen(text), "f", &t, err, sizeof err), 0);
    assert_int_equal(t.count, 1);
    assert_int_equal(t.entries[0].scope_count, 2);
    assert_string_equal(t.entries[0].scopes[1].prefix, "Order-");
    assert_ptr_equal(evs_token_table_find(&t, token, strlen(token)), &t.entries[0]);
    assert_null(evs_token_table_find(&t, token, strlen(token) - 1));
    assert_null(evs_token_table_find(&t, "evs_x", 5));
    evs_token_table_free(&t);

    snprintf(text, sizeof text, "%s\n%s\n", line, line);
    assert_int_equal(evs_token_table_parse(text, strlen(text), "f", &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "line 2: the same hash as line 1"));
    evs_token_table_free(&t);
    static const char *const refused[] = {
        "sha256:00 read\n", "md5:0000000000000000000000000000000000000000000000000000000000000000 read\n",
        "sha256:0000000000000000000000000000000000000000000000000000000000000000\n",
        "sha256:0000000000000000000000000000000000000000000000000000000000000000 read:\n",
        "sha256:0000000000000000000000000000000000000000000000000000000000000000 read:a/b\n"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(evs_token_table_parse(refused[i], strlen(refused[i]), "f", &t, err,
                                               sizeof err),
                         -1);
        assert_non_null(strstr(err, "f line 1: "));
        evs_token_table_free(&t);
    }
}

static void test_bearer_header(void **state)
{
    const char *tok;
    size_t len;
    assert_int_equal(evs_http_bearer_parse("Bearer evs_ab12", &tok, &len), 1);
    assert_int_equal(len, 8);
    assert_memory_equal(tok, "evs_ab12", 8);
    assert_int_equal(evs_http_bearer_parse("bearer \t abc== ", &tok, &len), 1);
    assert_int_equal(len, 5);
    static const char *const bad[] = {"", "Bearer", "Bearer ", "Bearer a b", "Basic abc",
                                      "Bearerabc", "Bearer a=b", "Bearer a,b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(evs_http_bearer_parse(bad[i], &tok, &len), -1);
}

static evs_token_entry entry(const char *a, const char *b)
{
    evs_token_entry e;
    memset(&e, 0, sizeof e);
    assert_int_equal(evs_token_scope_parse(a, strlen(a), &e.scopes[e.scope_count++]), 0);
    if (b)
        assert_int_equal(evs_token_scope_parse(b, strlen(b), &e.scopes[e.scope_count++]), 0);
    return e;
}

static void test_scopes(void **state)
{
    evs_token_entry read_all = entry("read", NULL);
    evs_token_entry order = entry("read:Order-", "append:Order-");
    evs_token_entry ord = entry("read:Ord", NULL);
    evs_token_entry admin_order = entry("admin:Order-", NULL);

    /* Streams: a prefix covers the names that start with it. */
    assert_true(evs_http_access_granted(&order, EVS_ACCESS_READ_STREAM, "Order-1"));
    assert_false(evs_http_access_granted(&order, EVS_ACCESS_READ_STREAM, "Invoice-1"));
    assert_false(evs_http_access_granted(&order, EVS_ACCESS_READ_STREAM, "Order"));
    assert_true(evs_http_access_granted(&order, EVS_ACCESS_APPEND_STREAM, "Order-1"));
    assert_false(evs_http_access_granted(&read_all, EVS_ACCESS_APPEND_STREAM, "Order-1"));
    /* Categories: the prefix must be a prefix of the category itself. */
    assert_false(evs_http_access_granted(&order, EVS_ACCESS_READ_CATEGORY, "Order"));
    assert_true(evs_http_access_granted(&ord, EVS_ACCESS_READ_CATEGORY, "Order"));
    assert_true(evs_http_access_granted(&ord, EVS_ACCESS_READ_CATEGORY, "OrderLine"));
    assert_true(evs_http_access_granted(&read_all, EVS_ACCESS_READ_CATEGORY, "Invoice"));
    /* What spans every stream needs a scope without a prefix. */
    assert_false(evs_http_access_granted(&order, EVS_ACCESS_READ_ALL, ""));
    assert_true(evs_http_access_granted(&read_all, EVS_ACCESS_READ_ALL, ""));
    /* Subscriptions by their target. */
    assert_true(evs_http_access_granted(&order, EVS_ACCESS_READ_SUBSCRIPTION, "streams/Order-1"));
    assert_false(evs_http_access_granted(&order, EVS_ACCESS_READ_SUBSCRIPTION, "streams/Cart-1"));
    assert_false(evs_http_access_granted(&order, EVS_ACCESS_READ_SUBSCRIPTION, "all"));
    assert_false(evs_http_access_granted(&order, EVS_ACCESS_READ_SUBSCRIPTION, "types/T"));
    assert_true(evs_http_access_granted(&ord, EVS_ACCESS_READ_SUBSCRIPTION, "categories/Order"));
    assert_true(evs_http_access_granted(&read_all, EVS_ACCESS_READ_SUBSCRIPTION, "all"));
    /* Admin names: the first segment of the rest. */
    assert_true(evs_http_access_granted(&admin_order, EVS_ACCESS_ADMIN_NAME, "Order-g/members"));
    assert_false(evs_http_access_granted(&admin_order, EVS_ACCESS_ADMIN_NAME, "Cart-g/ack"));
    assert_false(evs_http_access_granted(&admin_order, EVS_ACCESS_ADMIN_ALL, ""));
    assert_false(evs_http_access_granted(&order, EVS_ACCESS_ADMIN_NAME, "Order-g"));
    /* Verdicts: read or append, any prefix; status and cluster: any valid token. */
    assert_true(evs_http_access_granted(&order, EVS_ACCESS_VERDICT, "x"));
    assert_false(evs_http_access_granted(&admin_order, EVS_ACCESS_VERDICT, "x"));
    assert_true(evs_http_access_granted(&admin_order, EVS_ACCESS_ANY, ""));
    assert_true(evs_http_access_granted(&order, EVS_ACCESS_READ, ""));
    assert_false(evs_http_access_granted(&order, EVS_ACCESS_UNSET, ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_properties_format),
        cmocka_unit_test(test_properties_redaction),
        cmocka_unit_test(test_token_new_and_file),
        cmocka_unit_test(test_bearer_header),
        cmocka_unit_test(test_scopes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
