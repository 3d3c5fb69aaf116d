/*
 * kafka_properties.c - the Kafka settings file (format in kafka_properties.h).
 *
 * Invariant: no message built here contains a value, secret or not; values only leave
 * through evs_kafka_property_shown and evs_kafka_properties_json, which redact secrets.
 */
#include "kafka_properties.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "text_file.h"


static int key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

void evs_kafka_properties_free(evs_kafka_properties *props)
{
    if (!props)
        return;
    for (size_t i = 0; i < props->count; i++) {
        free(props->items[i].key);
        free(props->items[i].value);
    }
    free(props->items);
    props->items = NULL;
    props->count = 0;
}

/* Sets key to value (replacing an earlier value of the same key). 0, or -1 out of memory. */
static int put(evs_kafka_properties *props, const char *key, size_t key_len, const char *value,
               size_t value_len)
{
    char *v = strndup(value, value_len);
    if (!v)
        return -1;
    for (size_t i = 0; i < props->count; i++) {
        if (strlen(props->items[i].key) == key_len && !memcmp(props->items[i].key, key, key_len)) {
            free(props->items[i].value);
            props->items[i].value = v;
            return 0;
        }
    }
    char *k = strndup(key, key_len);
    evs_kafka_property *items =
        k ? realloc(props->items, (props->count + 1) * sizeof *items) : NULL;
    if (!items) {
        free(k);
        free(v);
        return -1;
    }
    props->items = items;
    items[props->count].key = k;
    items[props->count].value = v;
    props->count++;
    return 0;
}

int evs_kafka_properties_parse(const char *text, size_t len, const char *origin,
                               evs_kafka_properties *out, char *err, size_t err_len)
{
    if (len > EVS_KAFKA_PROPERTIES_BYTES_MAX) {
        snprintf(err, err_len, "%s: longer than %d bytes", origin, EVS_KAFKA_PROPERTIES_BYTES_MAX);
        return -1;
    }
    if (memchr(text, 0, len)) {
        snprintf(err, err_len, "%s: contains a NUL byte; expected key=value text lines", origin);
        return -1;
    }
    evs_text_lines lines = {.text = text, .len = len};
    const char *s, *e;
    while (evs_text_next_line(&lines, &s, &e)) {
        size_t line_no = lines.line;
        const char *eq = memchr(s, '=', (size_t)(e - s));
        if (!eq) {
            snprintf(err, err_len, "%s line %zu: expected key=value", origin, line_no);
            return -1;
        }
        const char *ke = eq, *vs = eq + 1;
        while (ke > s && evs_text_blank(ke[-1]))
            ke--;
        while (vs < e && evs_text_blank(*vs))
            vs++;
        size_t key_len = (size_t)(ke - s);
        if (key_len == 0 || key_len > EVS_KAFKA_PROPERTY_KEY_MAX) {
            snprintf(err, err_len, "%s line %zu: a key must have 1 to %d characters", origin,
                     line_no, EVS_KAFKA_PROPERTY_KEY_MAX);
            return -1;
        }
        for (const char *k = s; k < ke; k++) {
            if (!key_char(*k)) {
                snprintf(err, err_len,
                         "%s line %zu: a key may only have letters, digits and ._- (a "
                         "librdkafka property name)",
                         origin, line_no);
                return -1;
            }
        }
        if ((key_len == 17 && !memcmp(s, "bootstrap.servers", 17)) ||
            (key_len == 20 && !memcmp(s, "metadata.broker.list", 20))) {
            snprintf(err, err_len,
                     "%s line %zu: %.*s is not taken from this file: name the brokers with "
                     "--brokers or EVSTORE_BROKERS",
                     origin, line_no, (int)key_len, s);
            return -1;
        }
        if (out->count == EVS_KAFKA_PROPERTIES_MAX) {
            snprintf(err, err_len, "%s: more than %d properties", origin,
                     EVS_KAFKA_PROPERTIES_MAX);
            return -1;
        }
        if (put(out, s, key_len, vs, (size_t)(e - vs)) < 0) {
            snprintf(err, err_len, "%s: out of memory", origin);
            return -1;
        }
    }
    return 0;
}

int evs_kafka_properties_load(const char *path, evs_kafka_properties *out, char *err,
                              size_t err_len)
{
    char *text;
    size_t len;
    if (evs_text_file_read(path, "Kafka settings file", EVS_KAFKA_PROPERTIES_BYTES_MAX, &text,
                           &len, err, err_len) < 0)
        return -1;
    int rc = evs_kafka_properties_parse(text, len, path, out, err, err_len);
    free(text);
    return rc;
}

int evs_kafka_properties_copy(const evs_kafka_properties *src, evs_kafka_properties *out)
{
    for (size_t i = 0; src && i < src->count; i++) {
        const evs_kafka_property *kp = &src->items[i];
        if (put(out, kp->key, strlen(kp->key), kp->value, strlen(kp->value)) < 0)
            return -1;
    }
    return 0;
}

int evs_kafka_property_secret(const char *key)
{
    return strstr(key, "password") || strstr(key, "secret") || strstr(key, "ssl.key.pem") ||
           !strncmp(key, "sasl.oauthbearer.", 17) || !strcmp(key, "sasl.jaas.config");
}

const char *evs_kafka_property_shown(const char *key, const char *value)
{
    return evs_kafka_property_secret(key) ? EVS_KAFKA_REDACTED : value;
}

char *evs_kafka_properties_json(const evs_kafka_properties *props)
{
    json_t *o = json_object();
    for (size_t i = 0; o && props && i < props->count; i++) {
        const evs_kafka_property *kp = &props->items[i];
        json_object_set_new(o, kp->key,
                            json_string(evs_kafka_property_shown(kp->key, kp->value)));
    }
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return text;
}
