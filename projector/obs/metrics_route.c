/*
 * metrics_route.c - GET /metrics (metrics_route.h). Everything here is read at scrape time;
 * what is counted as it happens lives in obs/metrics.c.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cluster/membership.h"
#include "groups/groups.h"
#include "obs/metrics.h"
#include "obs/metrics_route.h"
#include "state/state_log.h"

/* One gauge per partition: values[i] for each i with values[i] >= 0. */
static void write_partition_gauge(FILE *out, const char *name, const char *help,
                                  const int64_t *values, int32_t n)
{
    evs_metrics_family(out, name, "gauge", help);
    for (int32_t i = 0; i < n; i++)
        if (values[i] >= 0)
            fprintf(out, "%s{partition=\"%d\"} %lld\n", name, (int)i, (long long)values[i]);
}

/* Offsets, high watermarks and lag of the partitions this projector serves (the others
 * are -1 below, and left out). */
static void write_partitions(evs_projector *p, FILE *out)
{
    int32_t n = p->partition_count;
    int64_t *v = calloc((size_t)n * 5, sizeof *v);
    if (!v)
        return;
    int64_t *next = v, *judged = v + n, *last = v + 2 * n, *hw = v + 3 * n, *lag = v + 4 * n;
    pthread_mutex_lock(&p->lock);
    for (int32_t i = 0; i < n; i++) {
        next[i] = p->assigned[i] ? p->next_offset[i] : -1;
        judged[i] = p->assigned[i] ? p->judged_offset[i] : -1;
        last[i] = p->assigned[i] ? (int64_t)p->last_position[i] : -1;
    }
    int failed = p->failure[0] != 0;
    pthread_mutex_unlock(&p->lock);
    for (int32_t i = 0; i < n; i++) {
        if (!p->assigned[i] || evs_projector_cached_high_watermark(p, i, &hw[i]) < 0)
            hw[i] = -1;
        lag[i] = hw[i] < 0 ? -1 : hw[i] > next[i] ? hw[i] - next[i] : 0;
    }

    evs_metrics_family(out, "evstore_applying", "gauge",
                       "1 while the projector applies records, 0 once it stopped (a failed "
                       "write; /health says why).");
    fprintf(out, "evstore_applying %d\n", !failed);
    write_partition_gauge(out, "evstore_partition_applied_offset",
                          "Next offset of the partition to write to the store: everything "
                          "below is applied.", next, n);
    write_partition_gauge(out, "evstore_partition_judged_offset",
                          "Next offset of the partition to judge: everything below has its "
                          "verdict.", judged, n);
    write_partition_gauge(out, "evstore_partition_last_position",
                          "Position of the partition's last accepted event.", last, n);
    write_partition_gauge(out, "evstore_partition_high_watermark",
                          "End offset of the partition in Kafka, from the consumer's last "
                          "fetch (absent until the first fetch).", hw, n);
    write_partition_gauge(out, "evstore_partition_lag_records",
                          "Records in Kafka not yet applied: high watermark minus applied "
                          "offset.", lag, n);
    free(v);
}

static void write_groups(evs_projector *p, FILE *out)
{
    evs_group_metric *g = calloc(EVS_GROUPS_MAX, sizeof *g);
    int n = g ? evs_groups_metrics(p, g, EVS_GROUPS_MAX) : -1;
    evs_metrics_family(out, "evstore_groups", "gauge",
                       "Consumer groups defined (in the state topic).");
    fprintf(out, "evstore_groups %d\n", n > 0 ? n : 0);
    static const struct {
        const char *name, *help;
    } families[] = {
        {"evstore_group_members", "Members of a consumer group this projector coordinates."},
        {"evstore_group_in_flight_events", "Events delivered to a member and not yet acked."},
        {"evstore_group_pending_events", "Events read for the group, waiting for delivery."},
        {"evstore_group_parked_events", "Events parked after their last attempt: replay them."},
        {"evstore_group_lag_events",
         "Positions of the source partition after the group's checkpoint: how far it is "
         "behind (for a category group, an upper bound)."},
    };
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        evs_metrics_family(out, families[f].name, "gauge", families[f].help);
        for (int i = 0; i < n; i++) {
            if (!g[i].coordinated)
                continue;
            const evs_group_stats *st = &g[i].stats;
            uint64_t value = 0;
            switch (f) {
            case 0: value = st->members; break;
            case 1: value = st->in_flight; break;
            case 2: value = st->pending; break;
            case 3: value = st->parked; break;
            case 4: {
                pthread_mutex_lock(&p->lock);
                uint64_t last = g[i].partition >= 0 && g[i].partition < p->partition_count
                                    ? p->last_position[g[i].partition]
                                    : 0;
                pthread_mutex_unlock(&p->lock);
                value = last + 1 > st->checkpoint ? last + 1 - st->checkpoint : 0;
                break;
            }
            }
            fprintf(out, "%s{group=\"%s\"} %llu\n", families[f].name, g[i].name,
                    (unsigned long long)value);
        }
    }
    free(g);
}

static void write_cluster(evs_projector *p, FILE *out)
{
    size_t members, live;
    evs_membership_counts(p, &members, &live);
    evs_metrics_family(out, "evstore_cluster_members", "gauge",
                       "Projectors of this topic known from the members topic, by liveness.");
    fprintf(out, "evstore_cluster_members{live=\"true\"} %zu\n", live);
    fprintf(out, "evstore_cluster_members{live=\"false\"} %zu\n", members - live);
    uint64_t applied, skipped;
    evs_state_counts(p, &applied, &skipped);
    evs_metrics_family(out, "evstore_state_records_applied_total", "counter",
                       "Records of the state topic (checkpoints, snapshots, groups) applied "
                       "since the start.");
    fprintf(out, "evstore_state_records_applied_total %llu\n", (unsigned long long)applied);
    evs_metrics_family(out, "evstore_state_records_skipped_total", "counter",
                       "Records of the state topic skipped since the start (not ours, or a "
                       "key that is not its entry's).");
    fprintf(out, "evstore_state_records_skipped_total %llu\n", (unsigned long long)skipped);
}

static void write_rocksdb(evs_projector *p, FILE *out)
{
    static const struct {
        const char *metric, *property, *help;
    } props[] = {
        {"evstore_rocksdb_memtable_bytes", "rocksdb.cur-size-all-mem-tables",
         "Bytes in RocksDB's memtables (active and immutable)."},
        {"evstore_rocksdb_pending_compaction_bytes", "rocksdb.estimate-pending-compaction-bytes",
         "RocksDB's estimate of the bytes compaction has to rewrite."},
        {"evstore_rocksdb_live_sst_bytes", "rocksdb.live-sst-files-size",
         "Bytes of the SST files of the current version of the store."},
        {"evstore_rocksdb_block_cache_capacity_bytes", "rocksdb.block-cache-capacity",
         "The block cache's size (--block-cache-mb)."},
        {"evstore_rocksdb_block_cache_usage_bytes", "rocksdb.block-cache-usage",
         "Bytes of the block cache in use: data, index and filter blocks."},
        {"evstore_rocksdb_table_readers_bytes", "rocksdb.estimate-table-readers-mem",
         "Memory of the open SST files outside the block cache."},
    };
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++) {
        uint64_t v;
        evs_metrics_family(out, props[i].metric, "gauge", props[i].help);
        if (p->store && evs_store_property(p->store, props[i].property, &v) == 0)
            fprintf(out, "%s %llu\n", props[i].metric, (unsigned long long)v);
    }
}

/* The process, under the names every Prometheus client library uses for them. */
static void write_process(FILE *out)
{
    long pages_total, pages_resident;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages_total, &pages_resident) == 2) {
            long page = sysconf(_SC_PAGESIZE);
            evs_metrics_family(out, "process_resident_memory_bytes", "gauge",
                               "Resident memory of the projector.");
            fprintf(out, "process_resident_memory_bytes %lld\n",
                    (long long)pages_resident * page);
            evs_metrics_family(out, "process_virtual_memory_bytes", "gauge",
                               "Virtual memory of the projector.");
            fprintf(out, "process_virtual_memory_bytes %lld\n", (long long)pages_total * page);
        }
        fclose(f);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        long fds = -1; /* the directory's own descriptor is not counted */
        while (readdir(d))
            fds++;
        closedir(d);
        fds -= 2; /* . and .. */
        evs_metrics_family(out, "process_open_fds", "gauge", "Open file descriptors.");
        fprintf(out, "process_open_fds %ld\n", fds);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        evs_metrics_family(out, "process_max_fds", "gauge", "Limit of open file descriptors.");
        fprintf(out, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    }
}

enum MHD_Result evs_metrics_handle(const evs_http_request *r)
{
    evs_projector *p = r->projector;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return evs_http_send_error(r->connection, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                   "out of memory");
    evs_metrics_write(&p->metrics, out);
    write_partitions(p, out);
    write_groups(p, out);
    write_cluster(p, out);
    write_rocksdb(p, out);
    write_process(out);
    if (fclose(out) != 0 || !text) {
        free(text);
        return evs_http_send_error(r->connection, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                   "out of memory");
    }
    return evs_http_send_bytes(r->connection, MHD_HTTP_OK, EVS_METRICS_MEDIA_TYPE, text, len);
}
