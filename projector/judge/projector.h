/*
 * projector.h - the running projector: shared state of the consumer loop and the HTTP API.
 *
 * The consumer thread judges every record; the applier's writer thread writes the batches
 * (apply.h, "The writer"). After each written batch the writer publishes the partitions'
 * next offsets under `lock` and broadcasts `applied`, which is what a verdict request waits
 * on (docs/HTTP-API.md, /verdicts).
 */
#ifndef EVS_PROJECTOR_H
#define EVS_PROJECTOR_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "judge/apply.h"
#include "evstore.h"
#include "index/store.h"
#include "kafka_properties.h"
#include "obs/metrics.h"

/* A batch of records ends at this many records or bytes of records, whichever comes
 * first. Batches are this large only while the projector catches up (a rebuild, a
 * restart); live, a batch is whatever arrived while the one before was written. Larger
 * batches amortise each write's fixed costs and insert keys closer together in the
 * memtable: a rebuild of 100-event appends ran 1.26x, of mostly 1-event appends 1.32x
 * faster than with 2000 records / 1 MiB (docs/BENCHMARKS.md). Both batches in memory
 * (one judged, one written) hold about twice the bytes in keys and values. */
#define EVS_BATCH_RECORDS_DEFAULT 10000
#define EVS_BATCH_BYTES_DEFAULT ((size_t)16 << 20)

typedef struct evs_projector_config {
    const char *brokers;
    const char *topic;
    const char *serve_partitions; /* the shard: "0,2-3"; NULL or "" = every partition */
    const char *data_dir;
    const char *http_address; /* host:port */
    int32_t partitions;       /* used when creating the topic */
    int replication_factor;   /* used when creating the topic; -1 = min(3, brokers) */
    int batch_records_max;    /* records per write batch */
    size_t batch_bytes_max;   /* record bytes per write batch */
    int rebuild;
    int test_write_delay_ms;  /* tests only: see evs_applier.write_delay_ms */
    const char *test_pause_file; /* tests only: while this file exists, nothing is consumed
                                    (a replica that lags on purpose), the state topic neither */
    int test_state_wait_ms;      /* tests only: how long a save waits to be applied
                                    (state_log.h, EVS_STATE_WAIT_MS when 0) */
    /* Security (docs/SECURITY.md). */
    const char *kafka_config_file; /* librdkafka properties for every Kafka client
                                      (schemas/kafka_properties.h); NULL: none */
    evs_kafka_properties kafka;    /* what main.c read from it; the projector owns it once
                                      evs_projector_start copied the config (freed by
                                      evs_projector_free) */
    const char *tls_cert_file;     /* PEM certificate (chain) of the HTTP API; NULL: plain
                                      HTTP */
    const char *tls_key_file;      /* its PEM private key */
    const char *token_file;        /* bearer tokens (http/http_auth.h); NULL: no tokens */
    int insecure;                  /* listen beyond loopback without TLS and tokens */
    int subscriptions_max;         /* open subscriptions at most (--max-subscriptions); 0:
                                      the default, 1000 (http_api.c) */
    const char *master_key_file;   /* opens personal data (keys/keyring.h); NULL: none */
    evs_store_memory memory;       /* the store's block cache and memtables (--block-cache-mb,
                                      --memtable-mb); zero members: the defaults */
    const char *internal_token;    /* the token of the projector's own client (main.c),
                                      accepted for read and append; NULL: none */
} evs_projector_config;

typedef struct evs_projector {
    evs_projector_config config;
    evs_store *store;
    evs_applier applier;       /* consumer thread only */
    rd_kafka_t *consumer;
    rd_kafka_t *querier;       /* a second connection for offset queries: a query on the
                                  consumer's connection would queue behind its fetch wait */
    int32_t partition_count;
    int broker_count;          /* brokers in the cluster's metadata at start */
    struct evs_membership *membership; /* cluster/membership.h; set and stopped by main.c */
    struct evs_state_log *state_log;   /* state/state_log.h; set and stopped by main.c */
    struct evs_coordinator *coordinator; /* groups/coordinator.h; set and stopped by main.c */
    struct evs_feed *feed;             /* feed/feed.h; set and stopped by main.c; NULL: off */
    struct evs_keyring *keyring;       /* keys/keyring.h; set and stopped by main.c */
    evs_client *client;        /* appends of POST /streams/{stream} (http_append.c); set
                                  and closed by main.c, NULL when appends are off */

    pthread_mutex_t lock;      /* guards the fields below */
    pthread_cond_t applied;    /* broadcast after every commit */
    pthread_cond_t judged;     /* broadcast after every batch judged (verdict waiters) */
    int64_t *next_offset;      /* per partition: next offset written to the store */
    int64_t *judged_offset;    /* per partition: next offset judged (its verdict known) */
    evs_apply_judged ahead[2]; /* verdicts judged but not written yet, by batch number
                                  modulo 2: at most two batches are (P4) */
    uint64_t judged_batches;   /* the number of the last batch judged (P4) */
    uint64_t written_batches;  /* the number of the last batch written */
    uint64_t *last_position;   /* published copy of applier.last_position */
    int *assigned;             /* 1 if this projector serves the partition (its shard,
                                  fixed at start); the others are not consumed here */
    int serves_all;            /* every partition is assigned */
    uint64_t skipped_records;
    uint64_t applied_events;   /* events accepted since this start */
    uint64_t commits;          /* counts committed batches: what subscribers wait on */
    char failure[512];         /* set when the projector stopped applying, and why */

    evs_metrics metrics;       /* counters of GET /metrics (obs/metrics.h: no lock needed) */
    uint64_t judge_started_ns; /* consumer thread only: when the batch being judged began */

    volatile sig_atomic_t stop;
} evs_projector;

/* Parses a --serve-partitions list ("0,2-3") over a topic of count partitions into
 * out[count] (1 = served). NULL or "" serves all. Returns 0, or -1 with the reason in err
 * (bad syntax, a partition the topic does not have, an empty list). */
int evs_partition_set_parse(const char *spec, int32_t count, int *out, char *err, size_t err_len);

/* Connects to Kafka, creates or checks the topic, opens the store, and assigns the served
 * partitions to the consumer. On a refusal (unsafe topic, changed partition count, a shard
 * outside the topic) returns -1 with the reason in err. */
int evs_projector_start(evs_projector *p, const evs_projector_config *config, char *err,
                        size_t err_len);
/* Creates topic `name` unless it exists, with the replication of the events topic
 * (--replication-factor, else min(3, brokers)), min.insync.replicas 2 when replicated to 3 or
 * more, and the given settings. Returns 0, or -1 with the reason in err. */
int evs_projector_create_topic(evs_projector *p, const char *name, int partitions,
                               const char *const (*settings)[2], size_t count, char *err,
                               size_t err_len);

/* 1 with the reason in out when a Kafka client of this process had its login or TLS
 * handshake refused (the last such reason), else 0. */
int evs_projector_kafka_auth_error(char *out, size_t out_len);
/* Creates topic `name` unless it exists, as a log that keeps every record: no retention by
 * time or size, no unclean leader election, records up to EVS_TOPIC_MAX_MESSAGE_BYTES (the
 * events topic, the accepted-events feed). Returns 0, or -1 with the reason in err. */
int evs_projector_create_log_topic(evs_projector *p, const char *name, int partitions, char *err,
                                   size_t err_len);

/* A Kafka client of the projector's brokers with the given settings, on top of conf (taken;
 * NULL for a new one, else one with callbacks set); `what` names it in err ("members
 * topic"). Every Kafka client of the projector is made here: the Kafka settings file
 * (--kafka-config) is applied first, then the brokers and the settings, and an error
 * callback notes refused logins (evs_projector_kafka_auth_error). Admin requests go
 * through these clients too. Returns NULL with the reason in err. */
rd_kafka_t *evs_projector_kafka_client(evs_projector *p, rd_kafka_type_t type, const char *what,
                                       rd_kafka_conf_t *conf, const char *const (*settings)[2],
                                       size_t count, char *err, size_t err_len);

/* The partition count of topic `name` from rk's metadata, asking again for a few seconds
 * while a topic created a moment ago is not in it yet. Returns the count, or -1 with the
 * reason in err. */
int32_t evs_projector_topic_partitions(rd_kafka_t *rk, const char *name, char *err,
                                       size_t err_len);

/* Reads where partition `partition` of `topic` begins and ends, asking again for up to
 * timeout_ms while a topic created a moment ago has no metadata or leader yet. librdkafka
 * gives any error of the topic's metadata as "Unknown partition" here, so a lasting one is
 * waited out too. Returns 0, or -1 with librdkafka's error in *error (when not NULL). */
int evs_projector_partition_ends(rd_kafka_t *rk, const char *topic, int32_t partition,
                                 int64_t *low, int64_t *high, int timeout_ms,
                                 rd_kafka_resp_err_t *error);

/* Runs the consumer loop until p->stop is set or applying fails. Returns 0 or -1. */
int evs_projector_run(evs_projector *p);
void evs_projector_free(evs_projector *p);

/* Waits until the record at partition/offset is judged, at most timeout_ms. Returns 1 if
 * it was, 0 on timeout. *next_out receives the next offset to judge seen last. */
int evs_projector_wait_judged(evs_projector *p, int32_t partition, int64_t offset,
                              int timeout_ms, int64_t *next_out);
/* Looks append_id up among the verdicts judged but not written yet. Returns 1 and fills
 * *out when found there; 0 otherwise (the verdict, if any, is then in the store or in a
 * batch judged later). */
int evs_projector_verdict_ahead(evs_projector *p, const uint8_t append_id[16],
                                evs_stored_verdict *out);
/* Waits until offset `offset` of `partition` is written to the store (next_offset above
 * it), at most timeout_ms: what a read's causal token asks (docs/HTTP-API.md, "Causal
 * tokens"). Returns 1 if so; 0 on timeout or when the projector stopped. *next_out receives
 * the partition's next offset seen last. */
int evs_projector_wait_applied(evs_projector *p, int32_t partition, int64_t offset,
                               int timeout_ms, int64_t *next_out);
/* The read barrier (P4): waits until every batch judged before the call is written, at
 * most timeout_ms. Returns 1 if so; 0 on timeout, or when the projector stopped first. */
int evs_projector_wait_written(evs_projector *p, int timeout_ms);
/* The high watermark of partition i as the consumer's latest fetch saw it, without asking
 * the brokers (for /metrics: a scrape never waits on Kafka). Returns 0, or -1 when the
 * partition is not consumed here or not fetched yet. */
int evs_projector_cached_high_watermark(evs_projector *p, int32_t i, int64_t *high);
/* Asks the brokers for the high watermarks of every partition (for /status and lookups
 * without an offset). hw must hold partition_count entries. Returns 0 or -1. */
int evs_projector_high_watermarks(evs_projector *p, int64_t *hw, int timeout_ms);

/* The number of batches committed so far (`commits`), and a wait until it moves past seen,
 * at most wait_ms (or the projector stops): how readers of the store wait for news. */
uint64_t evs_projector_commits(evs_projector *p);
void evs_projector_wait_commit(evs_projector *p, uint64_t seen, uint64_t wait_ms);

/* Wakes every thread waiting on `applied` or `judged` (at shutdown, after setting stop). */
void evs_projector_wake_all(evs_projector *p);

/* The HTTP API (http_api.c). */
typedef struct evs_http_server evs_http_server;
int evs_http_start(evs_projector *p, const char *address, evs_http_server **out, char *err,
                   size_t err_len);
void evs_http_stop(evs_http_server *server);

#endif /* EVS_PROJECTOR_H */
