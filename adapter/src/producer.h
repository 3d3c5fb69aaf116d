/*
 * producer.h - the client's idempotent Kafka producer (two lanes: an adaptive linger) and
 * its delivery-report threads (private to libevstore).
 *
 * evs__producer_send() blocks the calling thread until Kafka acknowledges (or refuses) its
 * one record; many threads may send at once and their records share produce requests.
 */
#ifndef EVS_PRODUCER_H
#define EVS_PRODUCER_H

#include <stddef.h>
#include <stdint.h>

#include "kafka_properties.h"

typedef struct evs_producer evs_producer;

typedef struct evs_producer_options {
    const char *brokers;    /* bootstrap servers, copied */
    const char *topic;      /* events topic, copied */
    int produce_timeout_ms; /* message.timeout.ms; > 0 */
    int linger_ms;          /* linger.ms of the batching lane; >= 0 (0: one lane) */
    const evs_kafka_properties *kafka; /* the Kafka settings file's properties, applied
                                          first; NULL: none. Must outlive the producer. */
} evs_producer_options;

/* Checks that librdkafka accepts every setting the options lead to, without creating a
 * producer or connecting. Returns 0 or EVS_EINVAL/EVS_ENOMEM with the last error set. */
int evs__producer_check(const evs_producer_options *options);

/* Creates the producer and starts its polling thread. Returns 0, EVS_EINVAL (a setting
 * librdkafka refuses), EVS_ENOMEM or EVS_EINTERNAL, with the last error set. */
int evs__producer_open(const evs_producer_options *options, evs_producer **out);

/* Waits up to the produce timeout for records in flight, stops the polling thread and
 * frees the producer. No send may be running. NULL is allowed. */
void evs__producer_close(evs_producer *producer);

/* Produces one record (key and value are copied) and waits for its delivery report.
 * what names the record in messages ("append <id> to stream <s>"). alone: the caller runs
 * no other command beside this one, so the record may skip the linger (see producer.c,
 * "Two lanes"). Returns
 *   0                     acknowledged by all in-sync replicas; *partition and *offset set;
 *   EVS_EUNAVAILABLE      librdkafka knows the record was NOT persisted (never sent, or
 *                         refused): nothing was written;
 *   EVS_EUNKNOWN_OUTCOME  the record may have been persisted (in flight when it timed out
 *                         or the connection broke);
 *   EVS_EINVAL            the record is too large for the producer or the topic;
 *   EVS_EAUTH             the brokers refused the login or the TLS handshake: nothing
 *                         was written.
 * and sets the thread's last error on failure. */
int evs__producer_send(evs_producer *producer, const void *key, size_t key_len, const void *value,
                       size_t value_len, const char *what, int alone, int32_t *partition,
                       int64_t *offset);

/* How many records went to the quick lane (linger 0: no other record was waiting for its
 * delivery report) and to the batching lane (linger_ms). See producer.c, "Two lanes". */
void evs__producer_lane_counts(const evs_producer *producer, uint64_t *quick,
                               uint64_t *batched);

/* How many times a record was handed to librdkafka again because its local queue was full
 * (evs_client_metrics.produce_retries). */
uint64_t evs__producer_queue_retries(const evs_producer *producer);

#endif /* EVS_PRODUCER_H */
