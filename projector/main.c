/*
 * main.c - evstore-projector: command line, signals, and the --hash tool.
 */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access_token.h"
#include "cluster/membership.h"
#include "feed/feed.h"
#include "keys/keyring.h"
#include "groups/coordinator.h"
#include "state/state_log.h"
#include "http/http_append.h"
#include "judge/projector.h"

static evs_projector projector;

static void on_signal(int sig)
{
    (void)sig;
    projector.stop = 1;
}

static void usage(FILE *f)
{
    fputs("usage: evstore-projector [options]\n"
          "  --brokers HOST:PORT[,...]  Kafka bootstrap servers (env EVSTORE_BROKERS;\n"
          "                             default 127.0.0.1:18092)\n"
          "  --topic NAME               events topic (env EVSTORE_TOPIC; default evstore.events)\n"
          "  --data-dir DIR             RocksDB state (env EVSTORE_DATA_DIR/projector;\n"
          "                             default ./var/projector)\n"
          "  --http HOST:PORT           query API address (env EVSTORE_PROJECTOR_HTTP;\n"
          "                             default 127.0.0.1:18080)\n"
          "  --member-id ID             this projector's id in GET /cluster (default\n"
          "                             HOSTNAME:PORT of --http)\n"
          "  --advertise URL            the URL clients reach it at (default http:// and the\n"
          "                             --http address; 0.0.0.0 becomes the host name)\n"
          "  --feed                     publish every accepted event to TOPIC.accepted, the\n"
          "                             accepted-events feed (default: off)\n"
          "  --feed-topic NAME          publish the feed to NAME instead (implies --feed)\n"
          "  --feed-format raw|avro     feed values: the event's data as stored (raw, the\n"
          "                             default) or an evstore.AcceptedEvent record\n"
          "  --partitions N             partitions when creating the topic (default 1)\n"
          "  --serve-partitions LIST    the shard this projector consumes and serves, e.g.\n"
          "                             0,2-3 (default: every partition)\n"
          "  --replication-factor N     replication when creating the topic\n"
          "                             (default: 3, or fewer if there are fewer brokers)\n"
          "  --batch-records N          most records per RocksDB write batch (default 10000;\n"
          "                             a batch also ends after 16 MiB of records)\n"
          "  --rebuild                  delete the state and replay the topic from offset 0\n"
          "  --master-key FILE          the master key that opens personal data (64 hex digits,\n"
          "                             mode 0600; env EVSTORE_MASTER_KEY_FILE; without it\n"
          "                             personal data reads as sealed; docs/SECURITY.md)\n"
          "  --kafka-config FILE        librdkafka properties (key=value lines: security.protocol,\n"
          "                             sasl.*, ssl.*) for every Kafka client (env\n"
          "                             EVSTORE_KAFKA_CONFIG; docs/SECURITY.md)\n"
          "  --tls-cert FILE            serve HTTPS with this PEM certificate (chain) ...\n"
          "  --tls-key FILE             ... and this PEM private key\n"
          "  --token-file FILE          require bearer tokens listed (hashed) in FILE on every\n"
          "                             route but /health (env EVSTORE_TOKEN_FILE; make one with\n"
          "                             evstore token new)\n"
          "  --insecure                 allow a non-loopback --http address without TLS and\n"
          "                             tokens (refused otherwise)\n"
          "  --max-subscriptions N      open subscriptions (SSE) at most (default 1000); more\n"
          "                             are refused with 503, and 300 connections stay for the\n"
          "                             rest whatever subscribers do\n"
          "  --block-cache-mb N         RocksDB's block cache: data, index and filter blocks\n"
          "                             (default 256)\n"
          "  --memtable-mb N            one RocksDB memtable; at most two exist (default 64)\n"
          "  --malloc-arenas N          glibc malloc arenas the threads share (default 1): each\n"
          "                             keeps the memory freed in it, so more arenas hold more\n"
          "                             of the block cache's evicted blocks\n"
          "  --hash                     print a digest of the state in --data-dir and exit\n"
          "  --help\n",
          f);
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

static int print_hash(const char *dir)
{
    char err[512];
    evs_store *store;
    if (evs_store_open(dir, &store, err, sizeof err) < 0) {
        fprintf(stderr, "evstore-projector: %s\n", err);
        return 1;
    }
    evs_store_digest d;
    char *partitions = NULL;
    int rc = evs_store_digest_compute(store, &d);
    if (rc == 0)
        rc = evs_store_meta_get(store, "partitions", &partitions);
    if (rc < 0) {
        fprintf(stderr, "evstore-projector: cannot read the store in %s\n", dir);
        evs_store_close(store);
        return 1;
    }
    printf("{\"version_table\":\"%016llx\",\"streams\":\"%016llx\",\"events\":%llu,"
           "\"streams_count\":%llu,\"next_offsets\":{",
           (unsigned long long)d.version_table, (unsigned long long)d.streams,
           (unsigned long long)d.event_count, (unsigned long long)d.stream_count);
    int n = partitions ? atoi(partitions) : 0;
    for (int i = 0; i < n; i++) {
        int64_t next;
        uint64_t last;
        evs_store_partition_state(store, i, &next, &last);
        printf("%s\"%d\":%lld", i ? "," : "", i, (long long)next);
    }
    printf("}}\n");
    free(partitions);
    evs_store_close(store);
    return 0;
}

/* Stops what started, in reverse order; each stop accepts what never started. The
 * coordination consumer first: it drops the consumer groups this projector runs, so that
 * nothing of theirs is written after the stop began. */
static void shut_down(evs_http_server *http)
{
    evs_feed_stop(&projector);
    evs_coordinator_stop(&projector);
    evs_membership_stop(&projector);
    if (http)
        evs_http_stop(http);
    evs_state_log_stop(&projector);
    evs_keyring_stop(&projector);
    evs_client_close(projector.client);
    evs_projector_free(&projector);
}

int main(int argc, char **argv)
{
    char default_dir[4096];
    const char *data_env = getenv("EVSTORE_DATA_DIR");
    snprintf(default_dir, sizeof default_dir, "%s/projector", data_env && *data_env ? data_env : "./var");
    evs_projector_config cfg = {
        .brokers = env_or("EVSTORE_BROKERS", "127.0.0.1:18092"),
        .topic = env_or("EVSTORE_TOPIC", "evstore.events"),
        .data_dir = default_dir,
        .http_address = env_or("EVSTORE_PROJECTOR_HTTP", "127.0.0.1:18080"),
        .partitions = 1,
        .replication_factor = -1,
        .batch_records_max = EVS_BATCH_RECORDS_DEFAULT,
        .batch_bytes_max = EVS_BATCH_BYTES_DEFAULT,
        /* A test hook, not an option: delays every RocksDB write (TESTING.md). */
        .test_write_delay_ms = atoi(env_or("EVSTORE_TEST_WRITE_DELAY_MS", "0")),
        /* A test hook too: consumes nothing while the named file exists (TESTING.md). */
        .test_pause_file = env_or("EVSTORE_TEST_PAUSE_FILE", NULL),
        /* And one more: how long a save waits to be applied here (TESTING.md). */
        .test_state_wait_ms = atoi(env_or("EVSTORE_TEST_STATE_WAIT_MS", "0")),
        .kafka_config_file = env_or("EVSTORE_KAFKA_CONFIG", NULL),
        .master_key_file = env_or("EVSTORE_MASTER_KEY_FILE", NULL),
        .token_file = env_or("EVSTORE_TOKEN_FILE", NULL),
    };
    int hash = 0;
    int arenas = 1;
    evs_membership_config member = {.lease_ms = EVS_LEASE_MS_DEFAULT};
    evs_feed_config feed = {0};
    int feed_on = 0;
    char feed_topic[512];
    enum { O_BROKERS = 1, O_TOPIC, O_DATA, O_HTTP, O_PARTS, O_SERVE, O_RF, O_BATCH, O_REBUILD,
           O_HASH, O_HELP, O_MEMBER, O_ADVERTISE, O_FEED, O_FEED_TOPIC, O_FEED_FORMAT,
           O_KAFKA_CONFIG, O_TLS_CERT, O_TLS_KEY, O_TOKEN_FILE, O_INSECURE,
           O_MAX_SUBSCRIPTIONS, O_MASTER_KEY, O_BLOCK_CACHE, O_MEMTABLE, O_ARENAS };
    static const struct option opts[] = {
        {"brokers", required_argument, 0, O_BROKERS},
        {"topic", required_argument, 0, O_TOPIC},
        {"data-dir", required_argument, 0, O_DATA},
        {"http", required_argument, 0, O_HTTP},
        {"partitions", required_argument, 0, O_PARTS},
        {"serve-partitions", required_argument, 0, O_SERVE},
        {"member-id", required_argument, 0, O_MEMBER},
        {"advertise", required_argument, 0, O_ADVERTISE},
        {"feed", no_argument, 0, O_FEED},
        {"feed-topic", required_argument, 0, O_FEED_TOPIC},
        {"feed-format", required_argument, 0, O_FEED_FORMAT},
        {"replication-factor", required_argument, 0, O_RF},
        {"batch-records", required_argument, 0, O_BATCH},
        {"rebuild", no_argument, 0, O_REBUILD},
        {"hash", no_argument, 0, O_HASH},
        {"kafka-config", required_argument, 0, O_KAFKA_CONFIG},
        {"master-key", required_argument, 0, O_MASTER_KEY},
        {"tls-cert", required_argument, 0, O_TLS_CERT},
        {"tls-key", required_argument, 0, O_TLS_KEY},
        {"token-file", required_argument, 0, O_TOKEN_FILE},
        {"insecure", no_argument, 0, O_INSECURE},
        {"max-subscriptions", required_argument, 0, O_MAX_SUBSCRIPTIONS},
        {"block-cache-mb", required_argument, 0, O_BLOCK_CACHE},
        {"memtable-mb", required_argument, 0, O_MEMTABLE},
        {"malloc-arenas", required_argument, 0, O_ARENAS},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end = NULL;
        long v = 0;
        if (c == O_PARTS || c == O_RF || c == O_BATCH || c == O_MAX_SUBSCRIPTIONS ||
            c == O_BLOCK_CACHE || c == O_MEMTABLE || c == O_ARENAS) {
            /* The memory sizes in MiB: a memtable of 1 MiB flushes all the time; 64 GiB is
             * beyond any machine this runs on. */
            long low = c == O_MEMTABLE ? 4 : 1, high = c == O_BLOCK_CACHE ? 65536
                                                     : c == O_MEMTABLE  ? 4096
                                                     : c == O_ARENAS    ? 64
                                                                        : 100000;
            v = strtol(optarg, &end, 10);
            if (*optarg == 0 || *end || v < low || v > high) {
                fprintf(stderr, "evstore-projector: --%s needs a number from %ld to %ld, not '%s'\n",
                        c == O_PARTS ? "partitions" : c == O_RF ? "replication-factor"
                        : c == O_MAX_SUBSCRIPTIONS ? "max-subscriptions"
                        : c == O_BLOCK_CACHE ? "block-cache-mb"
                        : c == O_MEMTABLE ? "memtable-mb"
                        : c == O_ARENAS ? "malloc-arenas" : "batch-records",
                        low, high, optarg);
                return 2;
            }
        }
        switch (c) {
        case O_BROKERS: cfg.brokers = optarg; break;
        case O_TOPIC: cfg.topic = optarg; break;
        case O_DATA: cfg.data_dir = optarg; break;
        case O_HTTP: cfg.http_address = optarg; break;
        case O_PARTS: cfg.partitions = (int32_t)v; break;
        case O_SERVE:
            if (!*optarg) {
                fprintf(stderr, "evstore-projector: --serve-partitions needs a list of "
                                "partitions, e.g. 0,2-3 (leave it out to serve every one)\n");
                return 2;
            }
            cfg.serve_partitions = optarg;
            break;
        case O_RF: cfg.replication_factor = (int)v; break;
        case O_BATCH: cfg.batch_records_max = (int)v; break;
        case O_MEMBER: member.id = optarg; break;
        case O_ADVERTISE: member.url = optarg; break;
        case O_FEED: feed_on = 1; break;
        case O_FEED_TOPIC: feed.topic = optarg; feed_on = 1; break;
        case O_FEED_FORMAT:
            if (strcmp(optarg, "raw") && strcmp(optarg, "avro")) {
                fprintf(stderr, "evstore-projector: --feed-format is raw or avro, not '%s'\n",
                        optarg);
                return 2;
            }
            feed.avro = !strcmp(optarg, "avro");
            break;
        case O_REBUILD: cfg.rebuild = 1; break;
        case O_HASH: hash = 1; break;
        case O_KAFKA_CONFIG: cfg.kafka_config_file = optarg; break;
        case O_MASTER_KEY: cfg.master_key_file = optarg; break;
        case O_TLS_CERT: cfg.tls_cert_file = optarg; break;
        case O_TLS_KEY: cfg.tls_key_file = optarg; break;
        case O_TOKEN_FILE: cfg.token_file = optarg; break;
        case O_INSECURE: cfg.insecure = 1; break;
        case O_MAX_SUBSCRIPTIONS: cfg.subscriptions_max = (int)v; break;
        case O_BLOCK_CACHE: cfg.memory.block_cache_bytes = (size_t)v << 20; break;
        case O_MEMTABLE: cfg.memory.memtable_bytes = (size_t)v << 20; break;
        case O_ARENAS: arenas = (int)v; break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "evstore-projector: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    /* Before any thread exists. glibc gives threads arenas of their own (up to 8 a core);
     * a block the block cache evicts goes back to the arena it came from, where only the
     * threads of that arena reuse it, so every arena a reading thread ever used keeps up to
     * the cache's size of freed blocks: three scans of $all on new connections took a
     * projector with a 256 MiB cache from 400 to 780 MiB resident (docs/OPERATIONS.md,
     * "Memory"). */
    if (!mallopt(M_ARENA_MAX, arenas))
        fprintf(stderr, "evstore-projector: warning: cannot limit malloc to %d arenas\n", arenas);
    if (hash)
        return print_hash(cfg.data_dir);
    if (feed_on && !feed.topic) {
        snprintf(feed_topic, sizeof feed_topic, "%s.accepted", cfg.topic);
        feed.topic = feed_topic;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    if (cfg.kafka_config_file &&
        evs_kafka_properties_load(cfg.kafka_config_file, &cfg.kafka, err, sizeof err) < 0) {
        fprintf(stderr, "evstore-projector: %s\n", err);
        evs_kafka_properties_free(&cfg.kafka);
        return 2;
    }
    /* One thread and descriptor per HTTP connection (up to 1500, http_api.c), besides
     * RocksDB's files: take the hard limit on descriptors. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    /* With tokens on, the projector's own client (HTTP appends ask their verdicts over HTTP)
     * needs one too: EVSTORE_TOKEN when given (a sharded cluster, where another member may
     * answer), else a token made now that only this process knows (http_auth.h). */
    char internal_token[EVS_TOKEN_TEXT_LEN + 1] = "";
    if (cfg.token_file && !env_or("EVSTORE_TOKEN", NULL)) {
        if (evs_token_generate(internal_token) < 0) {
            fprintf(stderr, "evstore-projector: no randomness for the internal token\n");
            evs_kafka_properties_free(&cfg.kafka);
            return 3;
        }
        cfg.internal_token = internal_token;
    }
    if (evs_projector_start(&projector, &cfg, err, sizeof err) < 0) {
        fprintf(stderr, "evstore-projector: %s\n", err);
        evs_projector_free(&projector);
        return 3;
    }
    /* POST /streams/{stream} appends through libevstore, like any client (http_append.h). */
    if (evs_http_append_client_open(&cfg, &projector.client, err, sizeof err) < 0) {
        fprintf(stderr, "evstore-projector: %s\n", err);
        evs_projector_free(&projector);
        return 3;
    }
    /* The members topic before the HTTP API, so that GET /cluster always answers; the
     * announcements once it listens. */
    if (evs_membership_start(&projector, &member, err, sizeof err) < 0) {
        fprintf(stderr, "evstore-projector: %s\n", err);
        evs_client_close(projector.client);
        evs_projector_free(&projector);
        return 3;
    }
    /* Saved state (checkpoints, snapshots, consumer groups) from the state topic, caught
     * up before anything is served; then the coordinators' Kafka group. */
    evs_http_server *http = NULL;
    if (evs_state_log_start(&projector, evs_membership_id(&projector), err, sizeof err) < 0 ||
        evs_keyring_start(&projector, cfg.master_key_file, err, sizeof err) < 0 ||
        evs_coordinator_start(&projector, err, sizeof err) < 0 ||
        evs_feed_start(&projector, &feed, evs_membership_id(&projector), err, sizeof err) < 0 ||
        evs_http_start(&projector, cfg.http_address, &http, err, sizeof err) < 0 ||
        evs_membership_announce(&projector, err, sizeof err) < 0) {
        fprintf(stderr, "evstore-projector: %s\n", err);
        shut_down(http);
        return 3;
    }
    fprintf(stderr, "evstore-projector: serving %s://%s, topic %s, state in %s%s\n",
            cfg.tls_cert_file ? "https" : "http", cfg.http_address, cfg.topic, cfg.data_dir, cfg.rebuild ? " (rebuilding)" : "");
    projector.applier.keys_ready = evs_keyring_ready; /* K3 */
    projector.applier.keys_ready_ctx = projector.keyring;
    int rc = evs_projector_run(&projector);
    /* After a failure keep answering /health with the reason until told to stop. */
    while (rc < 0 && !projector.stop)
        pause();
    shut_down(http);
    fprintf(stderr, "evstore-projector: stopped\n");
    return rc < 0 ? 1 : 0;
}
