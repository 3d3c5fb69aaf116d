/*
 * kafka_properties_apply.h - hands a Kafka settings file (kafka_properties.h) to a
 * librdkafka configuration. Header-only, so that schemas/ itself needs no librdkafka.
 */
#ifndef EVS_KAFKA_PROPERTIES_APPLY_H
#define EVS_KAFKA_PROPERTIES_APPLY_H

#include <stdio.h>

#include <librdkafka/rdkafka.h>

#include "kafka_properties.h"

/* Sets every property on conf, in order. Returns 0, or -1 with err naming the property,
 * its value (redacted when secret) and librdkafka's reason. */
static inline int evs_kafka_properties_apply(const evs_kafka_properties *props,
                                             rd_kafka_conf_t *conf, char *err, size_t err_len)
{
    char errstr[512];
    for (size_t i = 0; props && i < props->count; i++) {
        const evs_kafka_property *kp = &props->items[i];
        if (rd_kafka_conf_set(conf, kp->key, kp->value, errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK) {
            /* librdkafka's reason may quote the value: never show it for a secret. */
            snprintf(err, err_len, "Kafka setting %s=%.100s refused: %.300s", kp->key,
                     evs_kafka_property_shown(kp->key, kp->value),
                     evs_kafka_property_secret(kp->key) ? "invalid value" : errstr);
            return -1;
        }
    }
    return 0;
}

#endif /* EVS_KAFKA_PROPERTIES_APPLY_H */
