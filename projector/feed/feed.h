/*
 * feed.h - the accepted-events feed: every accepted event, once, in position order, on a
 * Kafka topic the rest of the Kafka world can read (docs/ARCHITECTURE.md, "The accepted-
 * events feed").
 *
 * The events topic holds proposals, rejected ones too; the feed topic (--feed, by default
 * "<events topic>.accepted", as many partitions as the events topic) holds what the rule
 * accepted. Feed partition k carries the events of events partition k, one record per
 * event: key = the stream, value = the event's data as stored (or, with --feed-format avro,
 * an evstore.AcceptedEvent), headers evstore.type, content-type, evstore.stream,
 * evstore.version, evstore.position, evstore.partition, evstore.event_id,
 * evstore.correlation_id and evstore.causation_id (when present), evstore.created_us,
 * evstore.format (raw|avro) and evstore.schema (the envelope's fingerprint, 16 hex digits).
 * Personal data (keys/keyring.h) is published sealed, as stored, with evstore.subject,
 * evstore.key_id, evstore.data_nonce (24 bytes) and evstore.metadata_nonce (when the
 * metadata is sealed too): a consumer holding the master key opens it with the key topic's
 * key; once the subject is forgotten nobody can.
 *
 * Invariants:
 *  F1. One publisher per partition at a time, chosen by Kafka's consumer-group protocol:
 *      every projector serving partition k joins the Kafka group
 *      "evstore-feed.<events topic>.<k>" on the members topic (one partition, read by nobody
 *      through this group), with static membership by member id; the member Kafka assigns
 *      it publishes partition k.
 *  F2. The feed is a prefix of the accepted events of the partition, in position order:
 *      a publisher publishes position n only after every position below n is in the feed
 *      (one batch at a time, each delivered before the next starts; the producer is
 *      idempotent, so retries neither reorder nor repeat within a run).
 *  F3. Where the feed ends is read from the feed itself: a new publisher reads the
 *      evstore.position header of the partition's last record and goes on from the next
 *      position (1 for an empty feed). Kafka gives the partition to a new publisher only
 *      after the old one revoked it or its session timed out (6 s), by when every record
 *      the old one produced is in the log, so nothing is skipped or published twice.
 *      A publisher that fails a delivery reads the end again before it goes on.
 *  F4. A revocation arrives on the feed thread between batches (the same thread polls the
 *      group and publishes), so a publisher never writes after it gave the partition up.
 * What F3 does not cover: a publisher that lost its group session but still reaches the
 * partition leader (a network split, a process paused longer than the session timeout) may
 * publish a batch its successor publishes too; the evstore.position header lets consumers
 * drop such repeats. The feed needs no Kafka transactions for the rest.
 */
#ifndef EVS_FEED_H
#define EVS_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "judge/projector.h"

#define EVS_FEED_SESSION_MS 6000
#define EVS_FEED_BATCH_MAX 1000

typedef struct evs_feed evs_feed;

typedef struct evs_feed_config {
    const char *topic; /* the feed topic; NULL or "" = no feed */
    int avro;          /* values are evstore.AcceptedEvent records, not the raw data */
} evs_feed_config;

/* Creates the feed topic when missing (same partition count as the events topic, the
 * events topic's retention), joins the publishers' groups of the served partitions and
 * starts the feed thread; sets p->feed. With no topic configured does nothing. Returns 0,
 * or -1 with the reason in err. */
int evs_feed_start(evs_projector *p, const evs_feed_config *config, const char *member_id,
                   char *err, size_t err_len);

/* Stops publishing and frees everything; p->feed NULL is allowed. */
void evs_feed_stop(evs_projector *p);

/* For GET /status: null when the feed is off, else {"topic": ..., "format": "raw"|"avro",
 * "partitions": [{"partition": k, "publishing": bool, "next_position": n}, ...]} for the
 * served partitions (next_position 0 while the publisher has not read where the feed
 * ends). */
struct evs_out;
void evs_feed_status(evs_projector *p, struct evs_out *o);

#endif /* EVS_FEED_H */
