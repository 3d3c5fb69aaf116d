/*
 * kafka_properties.h - the Kafka connection settings file: librdkafka properties, one
 * `key=value` per line, as kcat's -F reads them (docs/SECURITY.md, "Kafka").
 *
 * Format: a line is trimmed of blanks (spaces, tabs, CR) at both ends; a line that is then
 * empty or starts with '#' is skipped; any other line is KEY=VALUE, split at the first
 * '=', key and value each trimmed again. A key is 1..EVS_KAFKA_PROPERTY_KEY_MAX bytes of
 * [A-Za-z0-9._-]; a value may be empty (librdkafka's "unset"). A key given twice keeps
 * its last value. bootstrap.servers and metadata.broker.list are refused: the brokers are
 * always named by --brokers / EVSTORE_BROKERS / evs_client_options.brokers, so one file
 * serves every program. At most EVS_KAFKA_PROPERTIES_MAX properties and
 * EVS_KAFKA_PROPERTIES_BYTES_MAX bytes.
 *
 * Secrets (evs_kafka_property_secret) are never printed: every message this module or a
 * caller makes shows such a value as EVS_KAFKA_REDACTED.
 *
 * Nothing here depends on librdkafka; kafka_properties_apply.h hands the properties to an
 * rd_kafka_conf_t.
 */
#ifndef EVS_KAFKA_PROPERTIES_H
#define EVS_KAFKA_PROPERTIES_H

#include <stddef.h>

#define EVS_KAFKA_PROPERTIES_MAX 256
#define EVS_KAFKA_PROPERTIES_BYTES_MAX (64 * 1024)
#define EVS_KAFKA_PROPERTY_KEY_MAX 128
#define EVS_KAFKA_REDACTED "[redacted]"

typedef struct evs_kafka_property {
    char *key;
    char *value;
} evs_kafka_property;

/* An ordered list of properties; {0} is the empty list. */
typedef struct evs_kafka_properties {
    evs_kafka_property *items;
    size_t count;
} evs_kafka_properties;

/* Parses text[0..len) (NUL bytes are refused) into *out, which must be empty ({0}) and is
 * freed by evs_kafka_properties_free whatever the result. origin names the text in
 * messages (a file name). Returns 0, or -1 with err naming origin, the line and the
 * problem (never a value). */
int evs_kafka_properties_parse(const char *text, size_t len, const char *origin,
                               evs_kafka_properties *out, char *err, size_t err_len);

/* Reads the file at path and parses it (evs_kafka_properties_parse). */
int evs_kafka_properties_load(const char *path, evs_kafka_properties *out, char *err,
                              size_t err_len);

/* Copies src into *out (empty), for a caller that must own its list. 0, or -1 out of
 * memory. */
int evs_kafka_properties_copy(const evs_kafka_properties *src, evs_kafka_properties *out);

void evs_kafka_properties_free(evs_kafka_properties *props);

/* 1 if the value of key is a secret: any key containing "password", "secret" or
 * "ssl.key.pem", and every sasl.oauthbearer.* and sasl.jaas.config key. */
int evs_kafka_property_secret(const char *key);

/* value, or EVS_KAFKA_REDACTED when key is a secret: what a message may show. */
const char *evs_kafka_property_shown(const char *key, const char *value);

/* The properties as a JSON object, secrets redacted (for GET /status): a malloc'd string
 * the caller frees, or NULL out of memory. */
char *evs_kafka_properties_json(const evs_kafka_properties *props);

#endif /* EVS_KAFKA_PROPERTIES_H */
