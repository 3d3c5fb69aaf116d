/*
 * store.h - the projector's RocksDB state: layout, batches and reads.
 *
 * One RocksDB database, one column family, keys prefixed by one byte. Integers in keys are
 * big-endian so that byte order is numeric order; integers in values are big-endian too.
 *
 *   'm' name                         -> meta value (format version, topic, partitions)
 *   'o' be32 partition               -> be64 next offset to apply
 *   'p' be32 partition               -> be64 last global position assigned
 *   'v' stream                       -> be64 current version [lifecycle] (version table)
 *   's' stream 0x00 be64 version     -> stored event (see store.c)       (stream index)
 *   'g' be32 partition be64 position -> be64 version, be32 count, stream (global order, I1)
 *   'e' event id (16 bytes)          -> be64 version, be64 position, stream
 *   'a' append id (16 bytes)         -> verdict (see store.c)
 *   'x' be32 partition be64 offset   -> reason text of a skipped record
 *   'w' be32 partition               -> be64 log time: the latest Kafka timestamp applied (ms)
 *   'l' be32 partition stream        -> "" for each stream with limits (the sweep's list)
 *   'c' category 0x00 be32 partition be64 position -> be64 version, be32 count, stream
 *                                                     (category index, I1)
 *   't' type 0x00 be32 partition be64 position     -> be64 version, be32 count, stream
 *                                                     (event-type index, I1)
 *   'L' ...                          -> local state (checkpoints, snapshots, consumer
 *                                       groups): written through the HTTP API, not derived
 *                                       from the log, kept across --rebuild
 *
 * Invariants (asserted by the tests that compare a crashed store with a rebuild):
 *  S1. Everything a record changes, plus the partition's next offset, is in one write batch
 *      with the WAL on: after any crash the store holds a prefix of the log, exactly.
 *  S2. Stream names never contain 0x00 (evs_stream_name_valid), so 's' keys of different
 *      streams never interleave.
 *  S3. Versions of a stream are 1..current without gaps; positions of a partition are
 *      1..last without gaps.
 *  I1. An index entry ('g', 'c', 't') stands for `count` >= 1 events of one stream at the
 *      consecutive positions position.. and versions version..: the events of one append
 *      are all in one stream (so one category) and get consecutive positions and versions,
 *      so 'g' and 'c' hold one entry per append and 't' one per run of consecutive events
 *      of the same type within an append. Entries of one index never overlap.
 *  I2. A read from position `from` starts at the entry covering it (the last entry at or
 *      before `from`, if its range reaches `from`), else at the first entry after it, and
 *      expands entries into events, so it may start and stop in the middle of an entry.
 *
 * EVS_STORE_FORMAT is recorded in the store ('m' "format"); evs_store_open refuses a store
 * of another format and tells the user to run --rebuild (format 1 had one index entry per
 * event).
 */
#ifndef EVS_STORE_H
#define EVS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "judge/rule.h"

typedef struct evs_store evs_store;

#define EVS_STORE_FORMAT "2"

/* The store's memory, fixed at open (docs/OPERATIONS.md, "Memory"): RocksDB's block cache
 * (data, index and filter blocks) and the size of a memtable, of which there are at most
 * two. A zero member takes the default. */
#define EVS_STORE_BLOCK_CACHE_DEFAULT ((size_t)256 << 20)
#define EVS_STORE_MEMTABLE_DEFAULT ((size_t)64 << 20)
typedef struct evs_store_memory {
    size_t block_cache_bytes;
    size_t memtable_bytes;
} evs_store_memory;

/* Opens (creating if missing) the store in dir, with the default memory. err receives a
 * message on failure; a store of another format is refused with -EPROTO. */
int evs_store_open(const char *dir, evs_store **out, char *err, size_t err_len);
/* The same with the memory given (NULL: the defaults). */
int evs_store_open_sized(const char *dir, const evs_store_memory *memory, evs_store **out,
                         char *err, size_t err_len);
void evs_store_close(evs_store *store);
/* Deletes the store in dir (for --rebuild). */
int evs_store_destroy(const char *dir, char *err, size_t err_len);

/* Meta values ('m' keys). *value is malloc'd NUL-terminated, NULL if absent. */
int evs_store_meta_get(evs_store *store, const char *name, char **value);
int evs_store_meta_put(evs_store *store, const char *name, const char *value);

/* The committed next offset of a partition (0 if none) and its last position. */
int evs_store_partition_state(evs_store *store, int32_t partition, int64_t *next_offset,
                              uint64_t *last_position);

/* Called per stream of the version table with its name (not NUL-terminated) and current
 * version; return non-zero to stop. */
typedef int (*evs_stream_name_visitor)(void *ctx, const char *stream, size_t len,
                                       uint64_t version);

/* ---- Applying records ----------------------------------------------------------------
 * A batch reads its own writes (its puts are kept in memory until commit; store.c, B1-B3),
 * so the rule sees the effect of earlier records of the same batch. Nothing is visible to
 * readers until commit, which writes the whole batch atomically. Batches are made by one
 * thread at a time (the consumer thread). */
typedef struct evs_store_batch evs_store_batch;

int evs_store_batch_begin(evs_store *store, evs_store_batch **out);
/* The evs_rule_state reading through this batch. */
const evs_rule_state *evs_store_batch_rule_state(evs_store_batch *batch);

/* Writes the events of an accepted request at versions first_version.. and positions
 * first_position.., each with log_time_ms (its record's Kafka timestamp), and the new
 * current version. life is the stream's lifecycle before (NULL: the default); an append
 * makes a soft-deleted stream live again and keeps the rest. */
int evs_store_batch_put_events(evs_store_batch *batch, const evs_append_request *req,
                               int32_t partition, uint64_t first_version,
                               uint64_t first_position, int64_t log_time_ms,
                               const evs_stream_lifecycle *life);

/* ---- Lifecycle (store.c, L1 and L4) ---------------------------------------------------
 * Only in a batch of its own, judged once everything before it is written (L1): these
 * read the database, not the batch. */

/* Removes versions [from, to) of a stream: events, event ids, and the '$all', category and
 * type entries left with no event. */
int evs_store_batch_remove_versions(evs_store_batch *batch, const char *stream, size_t len,
                                    int32_t partition, uint64_t from, uint64_t to);
/* Writes a stream's version and lifecycle, and keeps it on (or off) the partition's list of
 * limited streams. */
int evs_store_batch_put_stream_state(evs_store_batch *batch, const char *stream, size_t len,
                                     int32_t partition, uint64_t version,
                                     const evs_stream_lifecycle *life);
/* Visits the streams of a partition that have limits (version passed as 0). */
int evs_store_limited_streams(evs_store *store, int32_t partition,
                              evs_stream_name_visitor visit, void *ctx);
/* The first version from `from` up to `last` whose log time is at or after cutoff_ms
 * (last + 1 when all are older). */
int evs_store_first_not_older(evs_store *store, const char *stream, size_t len, uint64_t from,
                              uint64_t last, int64_t cutoff_ms, uint64_t *first);

/* Reads the event ids of req from the database in one batched lookup, for the rule's
 * lookups of them that follow (store.c, B4). Optional: without it each lookup reads alone. */
int evs_store_batch_prefetch_ids(evs_store_batch *batch, const evs_append_request *req);

/* A stored verdict. */
typedef struct evs_stored_verdict {
    evs_verdict verdict;
    int32_t partition;
    int64_t offset;
    evs_expected_kind expected_kind;
    uint64_t expected_version;
    uint32_t event_count;
    char stream[EVS_STREAM_NAME_MAX + 1]; /* NUL-terminated */
    char reason[256];                    /* NUL-terminated, "" if none */
    evs_operation operation;             /* what the record asked for */
} evs_stored_verdict;

/* Sets *exists if the append id has a verdict (in the batch or the store). */
int evs_store_batch_has_verdict(evs_store_batch *batch, const uint8_t append_id[16],
                                int *exists);
int evs_store_batch_put_verdict(evs_store_batch *batch, const uint8_t append_id[16],
                                const evs_stored_verdict *v);
int evs_store_batch_put_skip(evs_store_batch *batch, int32_t partition, int64_t offset,
                             const char *reason);
/* Records the partition's next offset, last position and log time (written at commit). */
int evs_store_batch_set_partition(evs_store_batch *batch, int32_t partition,
                                  int64_t next_offset, uint64_t last_position,
                                  int64_t log_time_ms);
/* Writes the batch atomically (WAL on, synced when sync is set) and frees it. */
int evs_store_batch_commit(evs_store_batch *batch, int sync, char *err, size_t err_len);
void evs_store_batch_abort(evs_store_batch *batch);

/* Pipelined applying (store.c, B5). evs_store_batch_write writes the batch like commit
 * but keeps it: it may run on another thread while the consumer thread judges the next
 * batch, which reads through this one after set_behind(next, this). The consumer thread
 * frees it with evs_store_batch_abort once the write has returned (and no batch has it
 * behind any more). At most two batches exist at a time. */
int evs_store_batch_write(evs_store_batch *batch, int sync, char *err, size_t err_len);
void evs_store_batch_set_behind(evs_store_batch *batch, const evs_store_batch *behind);

/* ---- Reading -------------------------------------------------------------------------- */

/* A stored event as read back. Pointers point into `blob_` and live as long as it. */
typedef struct evs_stored_event {
    uint8_t event_id[16];
    const char *stream;
    size_t stream_len;
    uint64_t version;
    uint64_t position;
    int32_t partition;
    int64_t created_us;
    int64_t log_time_ms; /* its record's Kafka timestamp (format 1: created_us / 1000) */
    const char *type;
    size_t type_len;
    const char *content_type;
    size_t content_type_len;
    const uint8_t *data;
    size_t data_len;
    const uint8_t *metadata;
    size_t metadata_len;
    const char *correlation_id; /* NULL if absent */
    size_t correlation_id_len;
    const char *causation_id; /* NULL if absent */
    size_t causation_id_len;
    /* Personal data (keys/keyring.h): data (and metadata when metadata_nonce is set) is
     * ciphertext sealed by data key key_id of subject. NULL for everything else. */
    const char *subject;
    size_t subject_len;
    const uint8_t *key_id;         /* 16 bytes */
    const uint8_t *data_nonce;     /* 24 bytes */
    const uint8_t *metadata_nonce; /* 24 bytes, NULL: metadata is plain */
    int reveal; /* as read: 0; evs_keyring_reveal sets what a read shows (evs_reveal) */
    char *blob_; /* private */
    char *stream_blob_; /* private */
} evs_stored_event;

/* Called for each event read; return non-zero to stop. The event is valid only during the
 * call. */
typedef int (*evs_event_visitor)(void *ctx, const evs_stored_event *event);

/* Current version of a stream (0 if it does not exist). */
int evs_store_stream_version(evs_store *store, const char *stream, size_t len,
                             uint64_t *version);
/* Its version and lifecycle (the default for a stream that does not exist). */
int evs_store_stream_state(evs_store *store, const char *stream, size_t len, uint64_t *version,
                           evs_stream_lifecycle *life);
/* The latest Kafka timestamp applied in a partition (0 before any). */
int evs_store_partition_log_time(evs_store *store, int32_t partition, int64_t *log_time_ms);
/* Visits up to limit events of stream from version `from` forwards or backwards. */
int evs_store_read_stream(evs_store *store, const char *stream, size_t len, uint64_t from,
                          size_t limit, int backwards, evs_event_visitor visit, void *ctx);
/* Visits up to limit events of a partition's global order from position `from`. */
int evs_store_read_all(evs_store *store, int32_t partition, uint64_t from, size_t limit,
                       evs_event_visitor visit, void *ctx);
/* The category of a stream: its name up to the first '-' (all of it without one). */
size_t evs_category_len(const char *stream, size_t len);

typedef enum evs_store_index { EVS_INDEX_CATEGORY, EVS_INDEX_TYPE } evs_store_index;
/* Visits up to limit events of a partition whose category (or type) is name, in global
 * order, from position `from`. */
int evs_store_read_index(evs_store *store, evs_store_index index, const char *name, size_t len,
                         int32_t partition, uint64_t from, size_t limit,
                         evs_event_visitor visit, void *ctx);

/* Visits the streams whose names start with prefix (prefix_len 0: every stream) in name
 * order (byte order: the 'v' keys'), from the first one after `after` (NULL: from the
 * first), until visit returns non-zero. A scan of the version table, no index of its own. */
int evs_store_list_streams(evs_store *store, const char *prefix, size_t prefix_len,
                           const char *after, size_t after_len, evs_stream_name_visitor visit,
                           void *ctx);
/* Looks a verdict up; *found is 0 if there is none. */
int evs_store_verdict_get(evs_store *store, const uint8_t append_id[16], int *found,
                          evs_stored_verdict *out);
/* The reason a record was skipped; *reason is malloc'd, NULL if the record was not. */
int evs_store_skip_get(evs_store *store, int32_t partition, int64_t offset, char **reason);
/* Number of skipped records. */
int evs_store_skip_count(evs_store *store, uint64_t *count);
/* An integer RocksDB property of the store ("rocksdb.cur-size-all-mem-tables", ...), for
 * /metrics. Returns 0, or -1 when RocksDB does not know it. Cheap: no I/O. */
int evs_store_property(evs_store *store, const char *name, uint64_t *value);

/* Hashes of the version table and of every stream (FNV-1a 64 over keys and values, in key
 * order), with counts. Two stores that applied the same log are equal here. */
typedef struct evs_store_digest {
    uint64_t version_table;
    uint64_t streams;
    uint64_t event_count;
    uint64_t stream_count;
} evs_store_digest;
int evs_store_digest_compute(evs_store *store, evs_store_digest *out);

/* ---- Local state ------------------------------------------------------------------------
 * Checkpoints, snapshots and consumer-group progress are written by clients, not derived
 * from the log, so they live beside the derived state under 'L' keys, are written with a
 * synced WAL, and survive --rebuild (evs_store_reset). Keys given here exclude the 'L'. */
#define EVS_LOCAL_KEY_MAX 1024

typedef struct evs_local_op {
    const void *key;
    size_t key_len;
    const void *value; /* NULL deletes the key */
    size_t value_len;
} evs_local_op;

/* Applies all ops atomically. */
int evs_store_local_write(evs_store *store, const evs_local_op *ops, size_t n);
int evs_store_local_put(evs_store *store, const void *key, size_t key_len, const void *value,
                        size_t value_len);
int evs_store_local_delete(evs_store *store, const void *key, size_t key_len);
/* *value is malloc'd and NUL-terminated (NULL if the key is absent). */
int evs_store_local_get(evs_store *store, const void *key, size_t key_len, char **value,
                        size_t *value_len);
/* Called per key in order; key excludes the 'L'. Return non-zero to stop. */
typedef int (*evs_local_visitor)(void *ctx, const char *key, size_t key_len, const char *value,
                                 size_t value_len);
/* Visits the keys that start with prefix, in key order, from the first one after
 * start_after (NULL: from the start of the prefix). */
int evs_store_local_scan(evs_store *store, const void *prefix, size_t prefix_len,
                         const void *start_after, size_t start_after_len,
                         evs_local_visitor visit, void *ctx);

/* ---- Data keys (keys/keyring.h) ---------------------------------------------------------
 *   'K' subject 0x00 key id (16 bytes) -> the key record: be64 its key-topic offset, then
 *                                         its evstore.DataKey value (schemas/key_codec.h)
 *   'q'                                -> be64 the key topic's next offset to apply
 * Derived from the key topic, so a --rebuild reads it again from its start. Subjects follow
 * the rules of stream names, so hold no 0x00. */

/* Puts (value not NULL) or deletes (NULL: a tombstone) one key record and sets the key
 * topic's next offset, in one write. */
int evs_store_key_write(evs_store *store, const char *subject, size_t len,
                        const uint8_t key_id[16], const void *value, size_t value_len,
                        int64_t next_offset);
/* The key topic's next offset to apply (0 for a store that never applied it). */
int evs_store_key_offset(evs_store *store, int64_t *next_offset);
/* *value is malloc'd (NULL if the key is absent). */
int evs_store_key_get(evs_store *store, const char *subject, size_t len,
                      const uint8_t key_id[16], char **value, size_t *value_len);
/* Called per key record of a subject, in key-id order; return non-zero to stop (returned). */
typedef int (*evs_key_visitor)(void *ctx, const uint8_t key_id[16], const char *value,
                               size_t value_len);
int evs_store_keys_of(evs_store *store, const char *subject, size_t len, evs_key_visitor visit,
                      void *ctx);
/* Compacts the range of a subject's key records (subject NULL: of every subject), so that
 * the bytes of keys deleted there leave the database files (and the memtable) now rather
 * than at some later compaction. It flushes the memtable first: on a busy store it takes
 * a second or more. */
void evs_store_compact_keys(evs_store *store, const char *subject, size_t len);

/* For --rebuild: deletes everything derived from the log in dir, keeping the local state. */
int evs_store_reset(const char *dir, char *err, size_t err_len);

#endif /* EVS_STORE_H */
