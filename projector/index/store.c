/*
 * store.c - the projector's RocksDB state (layout and invariants in store.h).
 *
 * Stored event value ('s' keys), big-endian:
 *   u8  format (2; 1 before log times were kept)
 *   u8  flags: bit0 correlation id present, bit1 causation id present
 *   u8[16] event id
 *   be64 position, be32 partition, be64 created_us
 *   format 2 only: be64 log time (the Kafka timestamp of its record, ms)
 *   then, each as be32 length + bytes: type, content type, data, metadata,
 *   correlation id (if present), causation id (if present)
 *   flags bit2 (personal data: data is sealed, schemas/sealing.h): be32 length + subject,
 *   u8[16] key id, u8[24] data nonce; and with bit3 (metadata sealed too) u8[24] metadata
 *   nonce
 *
 * Version-table value ('v' keys): be64 current version; for a stream whose lifecycle is
 * not the default (something removed, deleted, or limited) followed by be64 first version
 * kept, u8 deleted (evs_stream_deleted), be64 max count, be64 max age ms.
 *
 * Verdict value ('a' keys), big-endian:
 *   u8 format (2; 1 without the operation), u8 status, u8 expected kind, be32 partition,
 *   be64 offset, be64 expected version, be64 current, first version, last version, first
 *   position, last position, be32 event count, be32 stream length + stream, be32 reason
 *   length + reason, format 2: u8 operation
 */
#include "index/store.h"

#include "index/byte_order.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

struct evs_store {
    rocksdb_t *db;
    rocksdb_column_family_handle_t *cf_default; /* for rocksdb_batched_multi_get_cf */
    rocksdb_options_t *options;
    rocksdb_readoptions_t *read_options;
    rocksdb_writeoptions_t *write_options;
    rocksdb_writeoptions_t *write_options_sync;
    rocksdb_block_based_table_options_t *table_options;
    rocksdb_cache_t *cache;
    rocksdb_filterpolicy_t *filter; /* owned by table_options */
    struct evs_store_batch *spare[2]; /* reused by the next batches (B3) */
};

static void batch_free(evs_store_batch *b);


/* ---- Byte helpers ------------------------------------------------------------------- */

/* A bounded reader over a stored value; `ok` turns 0 at the first overrun. */
typedef struct reader {
    const uint8_t *p;
    size_t left;
    int ok;
} reader;

static const uint8_t *read_bytes(reader *r, size_t n)
{
    if (!r->ok || r->left < n) {
        r->ok = 0;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

static uint64_t read_u64(reader *r)
{
    const uint8_t *p = read_bytes(r, 8);
    return p ? get_be64(p) : 0;
}

static uint32_t read_u32(reader *r)
{
    const uint8_t *p = read_bytes(r, 4);
    return p ? get_be32(p) : 0;
}

static uint8_t read_u8(reader *r)
{
    const uint8_t *p = read_bytes(r, 1);
    return p ? *p : 0;
}

static const uint8_t *read_lenbytes(reader *r, size_t *len)
{
    *len = read_u32(r);
    return read_bytes(r, *len);
}

/* A growable writer for values and keys. */
typedef struct writer {
    uint8_t *p;
    size_t len, cap;
    int oom;
} writer;

static void w_reserve(writer *w, size_t n)
{
    if (w->oom || w->len + n <= w->cap)
        return;
    size_t cap = w->cap ? w->cap * 2 : 256;
    while (cap < w->len + n)
        cap *= 2;
    uint8_t *p = realloc(w->p, cap);
    if (!p) {
        w->oom = 1;
        return;
    }
    w->p = p;
    w->cap = cap;
}

static void w_bytes(writer *w, const void *src, size_t n)
{
    w_reserve(w, n);
    if (w->oom)
        return;
    if (n)
        memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void w_u8(writer *w, uint8_t v)
{
    w_bytes(w, &v, 1);
}

static void w_u32(writer *w, uint32_t v)
{
    uint8_t b[4];
    put_be32(b, v);
    w_bytes(w, b, 4);
}

static void w_u64(writer *w, uint64_t v)
{
    uint8_t b[8];
    put_be64(b, v);
    w_bytes(w, b, 8);
}

static void w_lenbytes(writer *w, const void *src, size_t n)
{
    w_u32(w, (uint32_t)n);
    w_bytes(w, src, n);
}

/* ---- Keys --------------------------------------------------------------------------- */

static size_t key_stream_event(uint8_t *key, const char *stream, size_t len, uint64_t version)
{
    key[0] = 's';
    memcpy(key + 1, stream, len);
    key[1 + len] = 0;
    put_be64(key + 2 + len, version);
    return len + 10;
}

static size_t key_partition(uint8_t *key, char prefix, int32_t partition)
{
    key[0] = (uint8_t)prefix;
    put_be32(key + 1, (uint32_t)partition);
    return 5;
}

static size_t key_partition_u64(uint8_t *key, char prefix, int32_t partition, uint64_t n)
{
    key_partition(key, prefix, partition);
    put_be64(key + 5, n);
    return 13;
}

static size_t key_id(uint8_t *key, char prefix, const uint8_t id[16])
{
    key[0] = (uint8_t)prefix;
    memcpy(key + 1, id, 16);
    return 17;
}

static size_t key_version(uint8_t *key, const char *stream, size_t len)
{
    key[0] = 'v';
    memcpy(key + 1, stream, len);
    return len + 1;
}

/* 'c' category 0x00 be32 partition be64 position, and the same with 't' and a type. */
static size_t key_index(uint8_t *key, char prefix, const char *name, size_t len,
                        int32_t partition, uint64_t position)
{
    key[0] = (uint8_t)prefix;
    memcpy(key + 1, name, len);
    key[1 + len] = 0;
    put_be32(key + 2 + len, (uint32_t)partition);
    put_be64(key + 6 + len, position);
    return len + 14;
}

/* 'l' be32 partition stream: the streams of a partition that have limits (the sweep's). */
static size_t key_limited(uint8_t *key, int32_t partition, const char *stream, size_t len)
{
    key_partition(key, 'l', partition);
    memcpy(key + 5, stream, len);
    return len + 5;
}

size_t evs_category_len(const char *stream, size_t len)
{
    const char *dash = memchr(stream, '-', len);
    return dash ? (size_t)(dash - stream) : len;
}

enum { KEY_MAX = (EVS_STREAM_NAME_MAX > EVS_EVENT_TYPE_MAX ? EVS_STREAM_NAME_MAX
                                                           : EVS_EVENT_TYPE_MAX) + 16 };

/* ---- Open and close ------------------------------------------------------------------ */

static void set_err(char *err, size_t err_len, const char *what, const char *detail)
{
    if (err && err_len)
        snprintf(err, err_len, "%s: %s", what, detail ? detail : "unknown error");
}

/* Opens the database without looking at its format (evs_store_reset opens any). */
static int store_open(const char *dir, const evs_store_memory *memory, evs_store **out,
                      char *err, size_t err_len)
{
    evs_store_memory limits = {EVS_STORE_BLOCK_CACHE_DEFAULT, EVS_STORE_MEMTABLE_DEFAULT};
    if (memory && memory->block_cache_bytes)
        limits.block_cache_bytes = memory->block_cache_bytes;
    if (memory && memory->memtable_bytes)
        limits.memtable_bytes = memory->memtable_bytes;
    char *rerr = NULL;
    evs_store *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->options = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(s->options, 1);
    rocksdb_options_increase_parallelism(s->options, 2);
    rocksdb_options_set_max_background_jobs(s->options, 2);
    /* M1: at most two memtables (the one written, the one being flushed) of this size. */
    rocksdb_options_set_write_buffer_size(s->options, limits.memtable_bytes);
    rocksdb_options_set_max_write_buffer_number(s->options, 2);
    rocksdb_options_set_compression(s->options, rocksdb_lz4_compression);
    /* Most lookups while applying are misses (a new event id, a new stream): a bloom filter
     * over the memtable answers those without searching its skip list. */
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(s->options, 0.1);
    rocksdb_options_set_memtable_whole_key_filtering(s->options, 1);
    s->table_options = rocksdb_block_based_options_create();
    /* M2: the block cache also holds the index and filter blocks, so SST files add no
     * memory beyond it. */
    s->cache = rocksdb_cache_create_lru(limits.block_cache_bytes);
    rocksdb_block_based_options_set_block_cache(s->table_options, s->cache);
    s->filter = rocksdb_filterpolicy_create_bloom_full(10);
    rocksdb_block_based_options_set_filter_policy(s->table_options, s->filter);
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(s->table_options, 1);
    /* Every event id looked up while applying probes the filter of each level-0 file; a
     * pinned one is read without a block cache lookup each time. */
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(s->table_options, 1);
    rocksdb_options_set_block_based_table_factory(s->options, s->table_options);

    s->read_options = rocksdb_readoptions_create();
    s->write_options = rocksdb_writeoptions_create();
    s->write_options_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(s->write_options_sync, 1);

    const char *cf_name = "default";
    const rocksdb_options_t *cf_options = s->options;
    s->db = rocksdb_open_column_families(s->options, dir, 1, &cf_name, &cf_options,
                                         &s->cf_default, &rerr);
    if (rerr) {
        set_err(err, err_len, "cannot open the RocksDB store", rerr);
        free(rerr);
        evs_store_close(s);
        return -EIO;
    }
    *out = s;
    return 0;
}

int evs_store_open(const char *dir, evs_store **out, char *err, size_t err_len)
{
    return evs_store_open_sized(dir, NULL, out, err, err_len);
}

int evs_store_open_sized(const char *dir, const evs_store_memory *memory, evs_store **out,
                         char *err, size_t err_len)
{
    evs_store *s;
    int rc = store_open(dir, memory, &s, err, err_len);
    if (rc < 0)
        return rc;
    /* A store written in another layout would be misread: refuse it (the format is
     * recorded at the first start, projector.c; a new store has none yet). */
    char *format = NULL;
    rc = evs_store_meta_get(s, "format", &format);
    if (rc < 0) {
        set_err(err, err_len, "cannot open the RocksDB store", "cannot read its format");
    } else if (format && strcmp(format, EVS_STORE_FORMAT) != 0) {
        if (err && err_len)
            snprintf(err, err_len,
                     "the store in %s has format %s but this projector reads format %s: "
                     "run evstore-projector --rebuild to rebuild it from the topic",
                     dir, format, EVS_STORE_FORMAT);
        rc = -EPROTO;
    }
    free(format);
    if (rc < 0) {
        evs_store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void evs_store_close(evs_store *s)
{
    if (!s)
        return;
    batch_free(s->spare[0]);
    batch_free(s->spare[1]);
    if (s->cf_default)
        rocksdb_column_family_handle_destroy(s->cf_default);
    if (s->db)
        rocksdb_close(s->db);
    if (s->read_options)
        rocksdb_readoptions_destroy(s->read_options);
    if (s->write_options)
        rocksdb_writeoptions_destroy(s->write_options);
    if (s->write_options_sync)
        rocksdb_writeoptions_destroy(s->write_options_sync);
    if (s->options)
        rocksdb_options_destroy(s->options);
    if (s->table_options)
        rocksdb_block_based_options_destroy(s->table_options);
    if (s->cache)
        rocksdb_cache_destroy(s->cache);
    free(s);
}

int evs_store_destroy(const char *dir, char *err, size_t err_len)
{
    char *rerr = NULL;
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_destroy_db(o, dir, &rerr);
    rocksdb_options_destroy(o);
    if (rerr) {
        set_err(err, err_len, "cannot delete the RocksDB store", rerr);
        free(rerr);
        return -EIO;
    }
    return 0;
}

/* ---- Plain gets ------------------------------------------------------------------------ */

static int db_get(evs_store *s, const void *key, size_t klen, char **val, size_t *vlen)
{
    char *rerr = NULL;
    *val = rocksdb_get(s->db, s->read_options, key, klen, vlen, &rerr);
    if (rerr) {
        fprintf(stderr, "evstore-projector: RocksDB read failed: %s\n", rerr);
        free(rerr);
        return -EIO;
    }
    return 0;
}

int evs_store_meta_get(evs_store *s, const char *name, char **value)
{
    uint8_t key[128];
    size_t n = strlen(name);
    assert(n + 1 < sizeof key);
    key[0] = 'm';
    memcpy(key + 1, name, n);
    char *val;
    size_t vlen;
    int rc = db_get(s, key, n + 1, &val, &vlen);
    if (rc < 0)
        return rc;
    *value = NULL;
    if (val) {
        *value = malloc(vlen + 1);
        if (*value) {
            memcpy(*value, val, vlen);
            (*value)[vlen] = 0;
        }
        rocksdb_free(val);
        if (!*value)
            return -ENOMEM;
    }
    return 0;
}

int evs_store_meta_put(evs_store *s, const char *name, const char *value)
{
    uint8_t key[128];
    size_t n = strlen(name);
    assert(n + 1 < sizeof key);
    key[0] = 'm';
    memcpy(key + 1, name, n);
    char *rerr = NULL;
    rocksdb_put(s->db, s->write_options_sync, (const char *)key, n + 1, value, strlen(value),
                &rerr);
    if (rerr) {
        fprintf(stderr, "evstore-projector: RocksDB write failed: %s\n", rerr);
        free(rerr);
        return -EIO;
    }
    return 0;
}

static int get_u64(evs_store *s, const uint8_t *key, size_t klen, uint64_t *out)
{
    char *val;
    size_t vlen;
    int rc = db_get(s, key, klen, &val, &vlen);
    if (rc < 0)
        return rc;
    *out = 0;
    if (val) {
        if (vlen == 8)
            *out = get_be64((const uint8_t *)val);
        else
            rc = -EIO;
        rocksdb_free(val);
    }
    return rc;
}

/* ---- The version table's values ---------------------------------------------------- */

#define VERSION_VALUE_LEN 8
#define LIFECYCLE_VALUE_LEN (8 + 8 + 1 + 8 + 8)

static int lifecycle_is_default(const evs_stream_lifecycle *life)
{
    return life->first_version <= 1 && life->deleted == EVS_STREAM_LIVE &&
           life->max_count == 0 && life->max_age_ms == 0;
}

/* Decodes a 'v' value; a plain version means the default lifecycle. */
static int version_value_decode(const uint8_t *v, size_t vlen, uint64_t *version,
                                evs_stream_lifecycle *life)
{
    evs_stream_lifecycle_init(life);
    if (vlen != VERSION_VALUE_LEN && vlen != LIFECYCLE_VALUE_LEN)
        return -EIO;
    *version = get_be64(v);
    if (vlen == LIFECYCLE_VALUE_LEN) {
        life->first_version = get_be64(v + 8);
        life->deleted = (evs_stream_deleted)v[16];
        life->max_count = get_be64(v + 17);
        life->max_age_ms = get_be64(v + 25);
        if (v[16] > EVS_STREAM_HARD_DELETED)
            return -EIO;
    }
    return 0;
}

static size_t version_value_encode(uint8_t *v, uint64_t version, const evs_stream_lifecycle *life)
{
    put_be64(v, version);
    if (!life || lifecycle_is_default(life))
        return VERSION_VALUE_LEN;
    put_be64(v + 8, life->first_version);
    v[16] = (uint8_t)life->deleted;
    put_be64(v + 17, life->max_count);
    put_be64(v + 25, life->max_age_ms);
    return LIFECYCLE_VALUE_LEN;
}

int evs_store_stream_state(evs_store *s, const char *stream, size_t len, uint64_t *version,
                           evs_stream_lifecycle *life)
{
    uint8_t key[KEY_MAX];
    char *val;
    size_t vlen;
    *version = 0;
    evs_stream_lifecycle_init(life);
    if (len > EVS_STREAM_NAME_MAX)
        return -EINVAL;
    int rc = db_get(s, key, key_version(key, stream, len), &val, &vlen);
    if (rc < 0 || !val)
        return rc;
    rc = version_value_decode((const uint8_t *)val, vlen, version, life);
    rocksdb_free(val);
    return rc;
}

int evs_store_partition_log_time(evs_store *s, int32_t partition, int64_t *log_time_ms)
{
    uint8_t key[8];
    uint64_t t;
    int rc = get_u64(s, key, key_partition(key, 'w', partition), &t);
    *log_time_ms = (int64_t)t;
    return rc;
}

int evs_store_partition_state(evs_store *s, int32_t partition, int64_t *next_offset,
                              uint64_t *last_position)
{
    uint8_t key[8];
    uint64_t off;
    int rc = get_u64(s, key, key_partition(key, 'o', partition), &off);
    if (rc < 0)
        return rc;
    *next_offset = (int64_t)off;
    return get_u64(s, key, key_partition(key, 'p', partition), last_position);
}

int evs_store_stream_version(evs_store *s, const char *stream, size_t len, uint64_t *version)
{
    evs_stream_lifecycle life;
    return evs_store_stream_state(s, stream, len, version, &life);
}

/* ---- Batches -------------------------------------------------------------------------
 *
 * A batch keeps its puts in memory (keys and values back to back in one arena) and hands
 * them to RocksDB at commit in one plain WriteBatch, sorted by key. Two measured reasons:
 *  - RocksDB's WriteBatchWithIndex keeps every put in a skip list of its own (and, to
 *    overwrite, searches it at every put): a fifth of the apply path's time, while the rule
 *    reads back only three kinds of keys. Those ('v', 'e', 'a') go in a small hash table
 *    here, the overlay; everything else is only written.
 *  - The memtable is a skip list that remembers where its previous insert went; a key that
 *    sorts right after the previous one goes in without a search. The keys of one stream
 *    ('s'), of one partition ('g') and of one category or type ('c', 't') are each appended
 *    at the end of their range, so in key order nearly every insert is such a cheap one,
 *    while in the order they are made (s, g, e, c, t, s, g, ...) each insert was a full
 *    search from the top of the skip list.
 * The order of the puts inside one write batch changes nothing a reader can see: RocksDB
 * applies a write batch atomically, and every key is written once (B1).
 *
 * B1. At commit each key is written once, with the value of its last put (as an
 *     overwriting WriteBatchWithIndex did): the sort orders equal keys by put order and
 *     only the last of them is written.
 * B2. The rule reads its own writes: a lookup of a 'v', 'e' or 'a' key finds the batch's
 *     last put of it in the overlay, and only otherwise reads the database.
 * B3. Only the consumer thread makes batches (projector.c, P3); the store keeps two spare
 *     batches so that their buffers are reused instead of reallocated for every batch.
 * B4. Before the rule judges a record, the record's event ids are read from the database
 *     in one batched MultiGet (evs_store_batch_prefetch_ids) instead of one Get each. The
 *     database does not change during a batch, so the fetched values stay true until
 *     commit; the overlay is still asked first (B2), so an id put earlier in the batch is
 *     found there.
 * B6. The rule reads a stream's 'v' entry for its version and again for its lifecycle,
 *     and the applier once more for an accepted append: the last one read is kept decoded
 *     until the batch puts a 'v' key, so that a stream not in the overlay costs one
 *     database read, not three.
 * B5. A batch may be judged while the one before it is still being written by another
 *     thread (apply.c, "The writer"). Its lookups then ask its own overlay, then the
 *     earlier batch's (`behind`), then the database: the earlier batch's puts are found
 *     whether or not its write has reached the database yet, and a key in neither overlay
 *     reads the same before and after that write. Writing a batch reads its puts and
 *     arena and changes neither, so the judging thread may read them meanwhile; only the
 *     judging thread recycles a batch, after its write has finished.
 */

/* What a batch entry does; deletes come from lifecycle batches only (L1). */
typedef enum put_kind {
    PUT_VALUE = 0,
    PUT_DELETE = 1,       /* deletes the key; no value */
    PUT_DELETE_RANGE = 2, /* deletes [key, value): the value is the end key */
} put_kind;

typedef struct batch_put {
    size_t key_off; /* in the arena; the value follows the key */
    size_t key_len;
    size_t value_len;
    put_kind kind;
} batch_put;

struct evs_store_batch {
    evs_store *store;
    const struct evs_store_batch *behind; /* looked up after this one's overlay (B5) */
    evs_rule_state rule_state;
    writer arena;           /* keys and values of the puts */
    batch_put *puts;
    size_t put_count, put_cap;
    uint32_t *overlay;      /* open addressing over readable puts: put index + 1, 0 empty */
    size_t overlay_cap;     /* a power of two, at least twice overlay_count */
    size_t overlay_count;
    int oom;
    char *lookup_value;     /* value behind the last evs_event_location read from the db */
    /* The event ids of the record being judged, read from the database in one batched
     * lookup (B4), in request order; `fetch_next` is the one the rule looks up next. */
    size_t fetch_count, fetch_cap, fetch_next;
    uint8_t (*fetch_keys)[17];
    const char **fetch_key_ptrs;
    size_t *fetch_key_sizes;
    rocksdb_pinnableslice_t **fetch_values; /* NULL: absent from the database */
    char **fetch_errs;
    rocksdb_writebatch_t *wb;
    struct sorted_put *sorted;
    size_t sorted_cap;
    /* The last 'v' entry the rule read, decoded (B6), until the next put of a 'v' key. */
    int v_cached;
    size_t v_key_len;
    uint8_t v_key[1 + EVS_STREAM_NAME_MAX];
    uint64_t v_version;
    evs_stream_lifecycle v_life;
};

typedef struct sorted_put {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
    size_t order; /* put index: the later put of a key wins (B1) */
    put_kind kind;
} sorted_put;

static uint64_t key_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

/* The overlay slot of key: the one holding it, or the empty one where it would go. */
static uint32_t *overlay_slot(evs_store_batch *b, const uint8_t *key, size_t klen)
{
    size_t mask = b->overlay_cap - 1;
    for (size_t i = key_hash(key, klen) & mask;; i = (i + 1) & mask) {
        uint32_t *slot = &b->overlay[i];
        if (*slot == 0)
            return slot;
        const batch_put *p = &b->puts[*slot - 1];
        if (p->key_len == klen && memcmp(b->arena.p + p->key_off, key, klen) == 0)
            return slot;
    }
}

/* The last put of a readable key in b's overlay or, failing that, in the batch behind it
 * (B2, B5); NULL if neither has it. *arena receives the arena the put points into. */
static const batch_put *overlay_find(const evs_store_batch *b, const uint8_t *key,
                                     size_t klen, const uint8_t **arena)
{
    for (; b; b = b->behind) {
        if (!b->overlay_count)
            continue;
        uint32_t slot = *overlay_slot((evs_store_batch *)b, key, klen);
        if (slot) {
            *arena = b->arena.p;
            return &b->puts[slot - 1];
        }
    }
    return NULL;
}

static int overlay_grow(evs_store_batch *b)
{
    size_t cap = b->overlay_cap ? b->overlay_cap * 2 : 1024;
    uint32_t *old = b->overlay;
    size_t old_cap = b->overlay_cap;
    b->overlay = calloc(cap, sizeof *b->overlay);
    if (!b->overlay) {
        b->overlay = old;
        return -ENOMEM;
    }
    b->overlay_cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i]) {
            const batch_put *p = &b->puts[old[i] - 1];
            *overlay_slot(b, b->arena.p + p->key_off, p->key_len) = old[i];
        }
    }
    free(old);
    return 0;
}

/* Starts a put: appends the key to the arena; the caller appends the value with the w_
 * helpers on &b->arena, then calls put_end. Returns the put's key offset. */
static size_t put_begin(evs_store_batch *b, const uint8_t *key, size_t klen)
{
    size_t off = b->arena.len;
    w_bytes(&b->arena, key, klen);
    return off;
}

/* Records the put started at key_off; `readable` puts go in the overlay (B2). */
static int put_end(evs_store_batch *b, size_t key_off, size_t klen, int readable)
{
    if (b->arena.oom || b->oom)
        goto oom;
    if (b->put_count == b->put_cap) {
        size_t cap = b->put_cap ? b->put_cap * 2 : 4096;
        batch_put *puts = realloc(b->puts, cap * sizeof *puts);
        if (!puts)
            goto oom;
        b->puts = puts;
        b->put_cap = cap;
    }
    if (b->put_count >= UINT32_MAX - 1)
        goto oom; /* overlay slots hold 32-bit indexes; batches are far smaller */
    batch_put *p = &b->puts[b->put_count++];
    p->key_off = key_off;
    p->key_len = klen;
    p->value_len = b->arena.len - key_off - klen;
    p->kind = PUT_VALUE;
    if (readable) {
        if (2 * (b->overlay_count + 1) > b->overlay_cap && overlay_grow(b) < 0)
            goto oom;
        uint32_t *slot = overlay_slot(b, b->arena.p + key_off, klen);
        if (*slot == 0)
            b->overlay_count++;
        *slot = (uint32_t)b->put_count; /* a later put of the key replaces it (B1) */
    }
    return 0;
oom:
    b->oom = 1;
    return -ENOMEM;
}

static int put_kv(evs_store_batch *b, const uint8_t *key, size_t klen, const void *value,
                  size_t vlen, int readable)
{
    size_t off = put_begin(b, key, klen);
    w_bytes(&b->arena, value, vlen);
    return put_end(b, off, klen, readable);
}

/* A delete of key (kind PUT_DELETE), or of the keys from key up to end (PUT_DELETE_RANGE).
 * Never readable: a lifecycle batch judges nothing after its removals (L1). */
static int put_delete(evs_store_batch *b, const uint8_t *key, size_t klen, const uint8_t *end,
                      size_t end_len, put_kind kind)
{
    size_t off = put_begin(b, key, klen);
    if (kind == PUT_DELETE_RANGE)
        w_bytes(&b->arena, end, end_len);
    int rc = put_end(b, off, klen, 0);
    if (rc == 0)
        b->puts[b->put_count - 1].kind = kind;
    return rc;
}

/* Reads a readable key through the batch (B2). *val points into the batch (*owned 0) or is
 * a copy from the database to free (*owned 1); NULL if the key is absent. */
static int batch_get(evs_store_batch *b, const uint8_t *key, size_t klen, char **val,
                     size_t *vlen, int *owned)
{
    *owned = 0;
    const uint8_t *arena;
    const batch_put *p = overlay_find(b, key, klen, &arena);
    if (p) {
        *val = (char *)arena + p->key_off + p->key_len;
        *vlen = p->value_len;
        return 0;
    }
    char *rerr = NULL;
    *val = rocksdb_get(b->store->db, b->store->read_options, (const char *)key, klen, vlen,
                       &rerr);
    if (rerr) {
        fprintf(stderr, "evstore-projector: RocksDB read failed: %s\n", rerr);
        free(rerr);
        return -EIO;
    }
    *owned = *val != NULL;
    return 0;
}

/* Reads a stream's 'v' entry through the batch (B2, B6). */
static int batch_stream_state(evs_store_batch *b, const char *stream, size_t len,
                              uint64_t *version, evs_stream_lifecycle *life)
{
    uint8_t key[KEY_MAX];
    if (len > EVS_STREAM_NAME_MAX)
        return -EINVAL;
    size_t klen = key_version(key, stream, len);
    if (b->v_cached && b->v_key_len == klen && !memcmp(b->v_key, key, klen)) {
        *version = b->v_version;
        *life = b->v_life;
        return 0;
    }
    char *val;
    size_t vlen;
    int owned;
    int rc = batch_get(b, key, klen, &val, &vlen, &owned);
    if (rc < 0)
        return rc;
    *version = 0;
    evs_stream_lifecycle_init(life);
    if (val) {
        rc = version_value_decode((const uint8_t *)val, vlen, version, life);
        if (owned)
            free(val);
    }
    if (rc == 0) {
        memcpy(b->v_key, key, klen);
        b->v_key_len = klen;
        b->v_version = *version;
        b->v_life = *life;
        b->v_cached = 1;
    }
    return rc;
}

static int rule_stream_version(void *ctx, const char *stream, size_t len, uint64_t *version)
{
    evs_stream_lifecycle life;
    return batch_stream_state(ctx, stream, len, version, &life);
}

static int rule_stream_lifecycle(void *ctx, const char *stream, size_t len,
                                 evs_stream_lifecycle *life)
{
    uint64_t version;
    return batch_stream_state(ctx, stream, len, &version, life);
}

static void fetch_clear(evs_store_batch *b)
{
    for (size_t i = 0; i < b->fetch_count; i++) {
        if (b->fetch_values[i])
            rocksdb_pinnableslice_destroy(b->fetch_values[i]);
        free(b->fetch_errs[i]);
    }
    b->fetch_count = b->fetch_next = 0;
}

static int fetch_reserve(evs_store_batch *b, size_t n)
{
    if (n <= b->fetch_cap)
        return 0;
    void *k = realloc(b->fetch_keys, n * sizeof *b->fetch_keys);
    if (k)
        b->fetch_keys = k;
    void *kp = realloc(b->fetch_key_ptrs, n * sizeof *b->fetch_key_ptrs);
    if (kp)
        b->fetch_key_ptrs = kp;
    void *ks = realloc(b->fetch_key_sizes, n * sizeof *b->fetch_key_sizes);
    if (ks)
        b->fetch_key_sizes = ks;
    void *v = realloc(b->fetch_values, n * sizeof *b->fetch_values);
    if (v)
        b->fetch_values = v;
    void *e = realloc(b->fetch_errs, n * sizeof *b->fetch_errs);
    if (e)
        b->fetch_errs = e;
    if (!k || !kp || !ks || !v || !e)
        return -ENOMEM;
    b->fetch_cap = n;
    return 0;
}

int evs_store_batch_prefetch_ids(evs_store_batch *b, const evs_append_request *req)
{
    size_t n = req->event_count;
    fetch_clear(b);
    if (n == 0)
        return 0;
    if (fetch_reserve(b, n) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        key_id(b->fetch_keys[i], 'e', req->events[i].event_id);
        b->fetch_key_ptrs[i] = (const char *)b->fetch_keys[i];
        b->fetch_key_sizes[i] = 17;
        b->fetch_values[i] = NULL;
        b->fetch_errs[i] = NULL;
    }
    rocksdb_batched_multi_get_cf(b->store->db, b->store->read_options, b->store->cf_default,
                                 n, b->fetch_key_ptrs, b->fetch_key_sizes, b->fetch_values,
                                 b->fetch_errs, 0);
    b->fetch_count = n;
    for (size_t i = 0; i < n; i++) {
        if (b->fetch_errs[i]) {
            fprintf(stderr, "evstore-projector: RocksDB read failed: %s\n", b->fetch_errs[i]);
            fetch_clear(b);
            return -EIO;
        }
    }
    return 0;
}

/* loc->stream stays valid until the next lookup or put of this batch. */
static int rule_event_lookup(void *ctx, const uint8_t id[16], int *found,
                             evs_event_location *loc)
{
    evs_store_batch *b = ctx;
    uint8_t key[17];
    char *val = NULL;
    size_t vlen = 0;
    int owned = 0;
    key_id(key, 'e', id);
    /* The prefetched entry for this id, if the rule asks in request order (B4). */
    rocksdb_pinnableslice_t **fetched = NULL;
    if (b->fetch_next < b->fetch_count && memcmp(b->fetch_keys[b->fetch_next], key, 17) == 0)
        fetched = &b->fetch_values[b->fetch_next++];
    const uint8_t *arena;
    const batch_put *p = overlay_find(b, key, 17, &arena);
    if (p) { /* B2, B5 */
        val = (char *)arena + p->key_off + p->key_len;
        vlen = p->value_len;
    } else if (fetched) {
        if (*fetched)
            val = (char *)rocksdb_pinnableslice_value(*fetched, &vlen);
    } else {
        int rc = batch_get(b, key, 17, &val, &vlen, &owned);
        if (rc < 0)
            return rc;
    }
    *found = 0;
    if (!val)
        return 0;
    if (vlen < 16) {
        if (owned)
            free(val);
        return -EIO;
    }
    if (owned) {
        free(b->lookup_value);
        b->lookup_value = val;
    }
    loc->version = get_be64((const uint8_t *)val);
    loc->position = get_be64((const uint8_t *)val + 8);
    loc->stream = val + 16;
    loc->stream_len = vlen - 16;
    *found = 1;
    return 0;
}

static void batch_free(evs_store_batch *b)
{
    if (!b)
        return;
    if (b->wb)
        rocksdb_writebatch_destroy(b->wb);
    free(b->arena.p);
    free(b->puts);
    free(b->overlay);
    free(b->sorted);
    free(b->lookup_value);
    fetch_clear(b);
    free(b->fetch_keys);
    free(b->fetch_key_ptrs);
    free(b->fetch_key_sizes);
    free(b->fetch_values);
    free(b->fetch_errs);
    free(b);
}

int evs_store_batch_begin(evs_store *s, evs_store_batch **out)
{
    evs_store_batch *b = s->spare[0]; /* B3 */
    s->spare[0] = s->spare[1];
    s->spare[1] = NULL;
    /* RocksDB counts every key comparison and read in a thread-local perf context unless
     * told not to (its default level counts); nobody reads those counts here, and on the
     * apply path they cost several percent. The level is per thread: this is the one that
     * writes (B3). */
    rocksdb_set_perf_level(rocksdb_disable);
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b)
            return -ENOMEM;
        b->wb = rocksdb_writebatch_create();
    } else {
        b->arena.len = 0;
        b->put_count = 0;
        if (b->overlay_count)
            memset(b->overlay, 0, b->overlay_cap * sizeof *b->overlay);
        b->overlay_count = 0;
        b->oom = 0;
        rocksdb_writebatch_clear(b->wb);
    }
    b->store = s;
    b->behind = NULL;
    b->v_cached = 0;
    b->rule_state.stream_version = rule_stream_version;
    b->rule_state.event_lookup = rule_event_lookup;
    b->rule_state.stream_lifecycle = rule_stream_lifecycle;
    b->rule_state.ctx = b;
    *out = b;
    return 0;
}

const evs_rule_state *evs_store_batch_rule_state(evs_store_batch *b)
{
    return &b->rule_state;
}

static void encode_event(writer *w, const evs_record_event *e, uint64_t position,
                         int32_t partition, int64_t log_time_ms)
{
    w_u8(w, 2);
    w_u8(w, (uint8_t)((e->correlation_id ? 1 : 0) | (e->causation_id ? 2 : 0) |
                      (e->subject ? 4 : 0) | (e->subject && e->metadata_sealed ? 8 : 0)));
    w_bytes(w, e->event_id, 16);
    w_u64(w, position);
    w_u32(w, (uint32_t)partition);
    w_u64(w, (uint64_t)e->created_us);
    w_u64(w, (uint64_t)log_time_ms);
    w_lenbytes(w, e->type, e->type_len);
    w_lenbytes(w, e->content_type, e->content_type_len);
    w_lenbytes(w, e->data, e->data_len);
    w_lenbytes(w, e->metadata, e->metadata_len);
    if (e->correlation_id)
        w_lenbytes(w, e->correlation_id, e->correlation_id_len);
    if (e->causation_id)
        w_lenbytes(w, e->causation_id, e->causation_id_len);
    if (e->subject) {
        w_lenbytes(w, e->subject, e->subject_len);
        w_bytes(w, e->key_id, 16);
        w_bytes(w, e->data_nonce, 24);
        if (e->metadata_sealed)
            w_bytes(w, e->metadata_nonce, 24);
    }
}

/* The value of a position-index entry (I1): be64 first version, be32 count, stream. */
static size_t index_value(uint8_t *v, uint64_t first_version, uint32_t count,
                          const char *stream, size_t len)
{
    put_be64(v, first_version);
    put_be32(v + 8, count);
    memcpy(v + 12, stream, len);
    return 12 + len;
}

int evs_store_batch_put_events(evs_store_batch *b, const evs_append_request *req,
                               int32_t partition, uint64_t first_version,
                               uint64_t first_position, int64_t log_time_ms,
                               const evs_stream_lifecycle *life)
{
    uint8_t key[KEY_MAX];
    uint8_t ref[12 + EVS_STREAM_NAME_MAX];
    uint8_t loc[16 + EVS_STREAM_NAME_MAX];
    if (req->stream_len > EVS_STREAM_NAME_MAX || req->event_count == 0 ||
        req->event_count > UINT32_MAX)
        return -EINVAL;
    memcpy(loc + 16, req->stream, req->stream_len);
    size_t category_len = evs_category_len(req->stream, req->stream_len);
    int rc = 0;
    for (size_t i = 0; i < req->event_count && rc == 0; i++) {
        const evs_record_event *e = &req->events[i];
        uint64_t version = first_version + i, position = first_position + i;
        size_t klen = key_stream_event(key, req->stream, req->stream_len, version);
        size_t off = put_begin(b, key, klen);
        encode_event(&b->arena, e, position, partition, log_time_ms);
        rc |= put_end(b, off, klen, 0);

        put_be64(loc, version);
        put_be64(loc + 8, position);
        klen = key_id(key, 'e', e->event_id);
        rc |= put_kv(b, key, klen, loc, 16 + req->stream_len, 1);
    }
    /* I1: one '$all' and one category entry for the whole append, one type entry per run
     * of consecutive events of the same type. */
    uint32_t count = (uint32_t)req->event_count;
    size_t vlen = index_value(ref, first_version, count, req->stream, req->stream_len);
    size_t klen = key_partition_u64(key, 'g', partition, first_position);
    rc |= put_kv(b, key, klen, ref, vlen, 0);
    klen = key_index(key, 'c', req->stream, category_len, partition, first_position);
    rc |= put_kv(b, key, klen, ref, vlen, 0);
    for (size_t i = 0; i < req->event_count;) {
        const evs_record_event *e = &req->events[i];
        size_t j = i + 1;
        while (j < req->event_count && req->events[j].type_len == e->type_len &&
               memcmp(req->events[j].type, e->type, e->type_len) == 0)
            j++;
        vlen = index_value(ref, first_version + i, (uint32_t)(j - i), req->stream,
                           req->stream_len);
        klen = key_index(key, 't', e->type, e->type_len, partition, first_position + i);
        rc |= put_kv(b, key, klen, ref, vlen, 0);
        i = j;
    }
    /* An append recreates a soft-deleted stream; what was removed stays removed. */
    evs_stream_lifecycle after;
    evs_stream_lifecycle_init(&after);
    if (life) {
        after = *life;
        after.deleted = EVS_STREAM_LIVE;
    }
    uint8_t v[LIFECYCLE_VALUE_LEN];
    size_t vl = version_value_encode(v, first_version + req->event_count - 1, &after);
    klen = key_version(key, req->stream, req->stream_len);
    rc |= put_kv(b, key, klen, v, vl, 1);
    b->v_cached = 0; /* B6 */
    return rc ? -ENOMEM : 0;
}

int evs_store_batch_has_verdict(evs_store_batch *b, const uint8_t append_id[16], int *exists)
{
    uint8_t key[17];
    char *val;
    size_t vlen;
    int owned;
    int rc = batch_get(b, key, key_id(key, 'a', append_id), &val, &vlen, &owned);
    if (rc < 0)
        return rc;
    *exists = val != NULL;
    if (owned)
        free(val);
    return 0;
}

int evs_store_batch_put_verdict(evs_store_batch *b, const uint8_t append_id[16],
                                const evs_stored_verdict *v)
{
    uint8_t key[17];
    size_t klen = key_id(key, 'a', append_id);
    size_t off = put_begin(b, key, klen);
    writer *w = &b->arena;
    w_u8(w, 2);
    w_u8(w, (uint8_t)v->verdict.status);
    w_u8(w, (uint8_t)v->expected_kind);
    w_u32(w, (uint32_t)v->partition);
    w_u64(w, (uint64_t)v->offset);
    w_u64(w, v->expected_version);
    w_u64(w, v->verdict.current_version);
    w_u64(w, v->verdict.first_version);
    w_u64(w, v->verdict.last_version);
    w_u64(w, v->verdict.first_position);
    w_u64(w, v->verdict.last_position);
    w_u32(w, v->event_count);
    w_lenbytes(w, v->stream, strlen(v->stream));
    w_lenbytes(w, v->reason, strlen(v->reason));
    w_u8(w, (uint8_t)v->operation);
    return put_end(b, off, klen, 1);
}

int evs_store_batch_put_skip(evs_store_batch *b, int32_t partition, int64_t offset,
                             const char *reason)
{
    uint8_t key[13];
    size_t klen = key_partition_u64(key, 'x', partition, (uint64_t)offset);
    return put_kv(b, key, klen, reason, strlen(reason), 0);
}

int evs_store_batch_set_partition(evs_store_batch *b, int32_t partition, int64_t next_offset,
                                  uint64_t last_position, int64_t log_time_ms)
{
    uint8_t key[5], v[8];
    put_be64(v, (uint64_t)next_offset);
    int rc = put_kv(b, key, key_partition(key, 'o', partition), v, 8, 0);
    put_be64(v, last_position);
    rc |= put_kv(b, key, key_partition(key, 'p', partition), v, 8, 0);
    put_be64(v, (uint64_t)log_time_ms);
    rc |= put_kv(b, key, key_partition(key, 'w', partition), v, 8, 0);
    return rc ? -ENOMEM : 0;
}

static int sorted_put_cmp(const void *x, const void *y)
{
    const sorted_put *a = x, *b = y;
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(a->key, b->key, n);
    if (c)
        return c;
    if (a->key_len != b->key_len)
        return a->key_len < b->key_len ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

int evs_store_batch_write(evs_store_batch *b, int sync, char *err, size_t err_len)
{
    evs_store *s = b->store;
    char *rerr = NULL;
    int rc = 0;
    rocksdb_set_perf_level(rocksdb_disable); /* per thread: see evs_store_batch_begin */
    if (b->oom || b->arena.oom) {
        set_err(err, err_len, "RocksDB write failed", "out of memory building the batch");
        return -ENOMEM;
    }
    if (b->sorted_cap < b->put_count) {
        sorted_put *sp = realloc(b->sorted, b->put_count * sizeof *sp);
        if (!sp) {
            set_err(err, err_len, "RocksDB write failed", "out of memory sorting the batch");
            return -ENOMEM;
        }
        b->sorted = sp;
        b->sorted_cap = b->put_count;
    }
    /* The arena does not move any more, so pointers into it are stable from here on. */
    for (size_t i = 0; i < b->put_count; i++) {
        const batch_put *p = &b->puts[i];
        const char *k = (const char *)b->arena.p + p->key_off;
        b->sorted[i] = (sorted_put){k, p->key_len, k + p->key_len, p->value_len, i, p->kind};
    }
    qsort(b->sorted, b->put_count, sizeof *b->sorted, sorted_put_cmp);
    for (size_t i = 0; i < b->put_count; i++) {
        const sorted_put *p = &b->sorted[i];
        const sorted_put *next = i + 1 < b->put_count ? p + 1 : NULL;
        if (next && next->key_len == p->key_len && !memcmp(next->key, p->key, p->key_len))
            continue; /* B1: a later put of the same key follows */
        if (p->kind == PUT_DELETE)
            rocksdb_writebatch_delete(b->wb, p->key, p->key_len);
        else if (p->kind == PUT_DELETE_RANGE)
            rocksdb_writebatch_delete_range(b->wb, p->key, p->key_len, p->value, p->value_len);
        else
            rocksdb_writebatch_put(b->wb, p->key, p->key_len, p->value, p->value_len);
    }
    rocksdb_write(s->db, sync ? s->write_options_sync : s->write_options, b->wb, &rerr);
    if (rerr) {
        set_err(err, err_len, "RocksDB write failed", rerr);
        free(rerr);
        rc = -EIO;
    }
    return rc;
}

int evs_store_batch_commit(evs_store_batch *b, int sync, char *err, size_t err_len)
{
    int rc = evs_store_batch_write(b, sync, err, err_len);
    evs_store_batch_abort(b);
    return rc;
}

void evs_store_batch_set_behind(evs_store_batch *b, const evs_store_batch *behind)
{
    b->behind = behind;
    b->v_cached = 0; /* B6: what the batch reads through changed */
}

void evs_store_batch_abort(evs_store_batch *b)
{
    if (!b)
        return;
    evs_store *s = b->store;
    free(b->lookup_value);
    b->lookup_value = NULL;
    fetch_clear(b);
    if (!s->spare[0])
        s->spare[0] = b; /* B3 */
    else if (!s->spare[1])
        s->spare[1] = b;
    else
        batch_free(b);
}

/* ---- Reads ------------------------------------------------------------------------------ */

/* 0, or -EIO (reported) when the iterator met an error. */
static int iter_error(rocksdb_iterator_t *it)
{
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    if (!rerr)
        return 0;
    fprintf(stderr, "evstore-projector: RocksDB iteration failed: %s\n", rerr);
    free(rerr);
    return -EIO;
}

/* Ends an iteration: destroys it, and returns -EIO (logged) if it failed, else rc. */
static int iter_finish(rocksdb_iterator_t *it, int rc)
{
    int failed = iter_error(it);
    rocksdb_iter_destroy(it);
    return failed ? failed : rc;
}

static int decode_event(evs_stored_event *ev, const uint8_t *val, size_t vlen)
{
    reader r = {val, vlen, 1};
    uint8_t format = read_u8(&r);
    if (format != 1 && format != 2)
        return -EIO;
    uint8_t flags = read_u8(&r);
    const uint8_t *id = read_bytes(&r, 16);
    if (id)
        memcpy(ev->event_id, id, 16);
    ev->position = read_u64(&r);
    ev->partition = (int32_t)read_u32(&r);
    ev->created_us = (int64_t)read_u64(&r);
    /* Format 1 kept no log time: the writer's creation time stands in for it. */
    ev->log_time_ms = format == 2 ? (int64_t)read_u64(&r) : ev->created_us / 1000;
    ev->type = (const char *)read_lenbytes(&r, &ev->type_len);
    ev->content_type = (const char *)read_lenbytes(&r, &ev->content_type_len);
    ev->data = read_lenbytes(&r, &ev->data_len);
    ev->metadata = read_lenbytes(&r, &ev->metadata_len);
    ev->correlation_id = NULL;
    ev->causation_id = NULL;
    ev->correlation_id_len = ev->causation_id_len = 0;
    if (flags & 1)
        ev->correlation_id = (const char *)read_lenbytes(&r, &ev->correlation_id_len);
    if (flags & 2)
        ev->causation_id = (const char *)read_lenbytes(&r, &ev->causation_id_len);
    ev->subject = NULL;
    ev->subject_len = 0;
    ev->key_id = ev->data_nonce = ev->metadata_nonce = NULL;
    if (flags & 4) {
        ev->subject = (const char *)read_lenbytes(&r, &ev->subject_len);
        ev->key_id = read_bytes(&r, 16);
        ev->data_nonce = read_bytes(&r, 24);
        if (flags & 8)
            ev->metadata_nonce = read_bytes(&r, 24);
    }
    return r.ok && r.left == 0 ? 0 : -EIO;
}

int evs_store_read_stream(evs_store *s, const char *stream, size_t len, uint64_t from,
                          size_t limit, int backwards, evs_event_visitor visit, void *ctx)
{
    uint8_t key[KEY_MAX];
    if (len > EVS_STREAM_NAME_MAX)
        return -EINVAL;
    int rc = 0;
    rocksdb_iterator_t *it = rocksdb_create_iterator(s->db, s->read_options);
    size_t klen = key_stream_event(key, stream, len, from);
    size_t prefix_len = len + 2; /* 's' stream 0x00 */
    if (backwards)
        rocksdb_iter_seek_for_prev(it, (const char *)key, klen);
    else
        rocksdb_iter_seek(it, (const char *)key, klen);
    for (size_t n = 0; n < limit && rocksdb_iter_valid(it);) {
        size_t ik_len, iv_len;
        const uint8_t *ik = (const uint8_t *)rocksdb_iter_key(it, &ik_len);
        if (ik_len != klen || memcmp(ik, key, prefix_len) != 0)
            break;
        const uint8_t *iv = (const uint8_t *)rocksdb_iter_value(it, &iv_len);
        evs_stored_event ev;
        memset(&ev, 0, sizeof ev);
        if (decode_event(&ev, iv, iv_len) < 0) {
            rc = -EIO;
            break;
        }
        ev.stream = stream;
        ev.stream_len = len;
        ev.version = get_be64(ik + prefix_len);
        n++;
        if (visit(ctx, &ev))
            break;
        if (backwards)
            rocksdb_iter_prev(it);
        else
            rocksdb_iter_next(it);
    }
    return iter_finish(it, rc);
}

/* Visits up to limit events of an ordered position index (I1, I2): keys `prefix` be64
 * first position, values be64 first version, be32 count, stream; an entry stands for
 * `count` events at consecutive positions and versions of one stream. Used by the global
 * order and by the category and type indexes. The scan starts at the entry covering
 * `from` (I2) and skips its events before `from`. */
/* Decodes one stored event of stream/version at position and hands it to visit; *stop is
 * what visit returned. Returns 0, or -EIO when the value is not the event it should be. */
static int visit_stored(const char *val, size_t vlen, const char *stream, size_t slen,
                        uint64_t version, uint64_t position, evs_event_visitor visit, void *ctx,
                        int *stop)
{
    evs_stored_event ev;
    memset(&ev, 0, sizeof ev);
    if (decode_event(&ev, (const uint8_t *)val, vlen) < 0 || ev.position != position)
        return -EIO;
    ev.stream = stream;
    ev.stream_len = slen;
    ev.version = version;
    *stop = visit(ctx, &ev);
    return 0;
}

/* Events of one-event entries, looked up together: the reads of many small appends ask
 * RocksDB for up to SINGLES_MAX stream keys in one batched MultiGet instead of a Get each. */
#define SINGLES_MAX 64
typedef struct singles {
    size_t n;
    uint8_t keys[SINGLES_MAX][KEY_MAX]; /* 's' stream 0x00 be64 version */
    const char *key_ptrs[SINGLES_MAX];
    size_t key_sizes[SINGLES_MAX];
    uint64_t positions[SINGLES_MAX];
    rocksdb_pinnableslice_t *values[SINGLES_MAX];
    char *errs[SINGLES_MAX];
} singles;

static void singles_add(singles *sg, const char *stream, size_t slen, uint64_t version,
                        uint64_t position)
{
    size_t i = sg->n++;
    sg->key_sizes[i] = key_stream_event(sg->keys[i], stream, slen, version);
    sg->key_ptrs[i] = (const char *)sg->keys[i];
    sg->positions[i] = position;
}

/* Looks the pending events up and visits those still stored, in order, until visit stops
 * (*stop); *n counts the visited. Returns 0 or -EIO. */
static int singles_flush(evs_store *s, rocksdb_readoptions_t *ro, singles *sg,
                         evs_event_visitor visit, void *ctx, int *stop, size_t *n)
{
    int rc = 0;
    if (sg->n == 0)
        return 0;
    memset(sg->values, 0, sg->n * sizeof *sg->values);
    memset(sg->errs, 0, sg->n * sizeof *sg->errs);
    rocksdb_batched_multi_get_cf(s->db, ro, s->cf_default, sg->n, sg->key_ptrs, sg->key_sizes,
                                 sg->values, sg->errs, 0);
    for (size_t i = 0; i < sg->n; i++) {
        if (sg->errs[i] && rc == 0) {
            fprintf(stderr, "evstore-projector: RocksDB read failed: %s\n", sg->errs[i]);
            rc = -EIO;
        }
        if (rc == 0 && !*stop && sg->values[i]) { /* none: removed (L4) */
            size_t vlen;
            const char *val = rocksdb_pinnableslice_value(sg->values[i], &vlen);
            size_t klen = sg->key_sizes[i];
            rc = visit_stored(val, vlen, (const char *)sg->keys[i] + 1, klen - 10,
                              get_be64(sg->keys[i] + klen - 8), sg->positions[i], visit, ctx,
                              stop);
            (*n)++;
        }
        if (sg->values[i])
            rocksdb_pinnableslice_destroy(sg->values[i]);
        free(sg->errs[i]);
    }
    sg->n = 0;
    return rc;
}

#define SCAN_FILL_MAX 100

static int read_position_index(evs_store *s, const uint8_t *key, size_t prefix_len,
                               uint64_t from, size_t limit, evs_event_visitor visit,
                               void *ctx)
{
    uint8_t ekey[KEY_MAX];
    size_t klen = prefix_len + 8;
    int rc = 0, stop = 0;
    if (limit == 0)
        return 0;
    singles *sg = malloc(sizeof *sg);
    if (!sg)
        return -ENOMEM;
    sg->n = 0;
    /* One snapshot for the scan and the lookups, so an append is seen whole or not at all. */
    const rocksdb_snapshot_t *snap = rocksdb_create_snapshot(s->db);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_snapshot(ro, snap);
    /* A page of more than SCAN_FILL_MAX events is a scan (a catch-up, a replay, a rebuilt
     * read model): its blocks are read once, so they would only push out of the cache the
     * blocks the rule and the stream reads use again, and inserting and evicting them costs
     * the scan itself a fifth of its time. Blocks already cached are still used. */
    if (limit > SCAN_FILL_MAX)
        rocksdb_readoptions_set_fill_cache(ro, 0);
    rocksdb_iterator_t *it = rocksdb_create_iterator(s->db, ro);
    rocksdb_iterator_t *events = NULL; /* the stream keys of entries of several events */
    /* The entry covering `from`, if any, is the last one at or before it. */
    rocksdb_iter_seek_for_prev(it, (const char *)key, klen);
    int covering = 0;
    if (rocksdb_iter_valid(it)) {
        size_t ik_len, iv_len;
        const uint8_t *ik = (const uint8_t *)rocksdb_iter_key(it, &ik_len);
        const uint8_t *iv = (const uint8_t *)rocksdb_iter_value(it, &iv_len);
        if (ik_len == klen && memcmp(ik, key, prefix_len) == 0 && iv_len >= 12 &&
            from - get_be64(ik + prefix_len) < get_be32(iv + 8))
            covering = 1;
    }
    if (!covering)
        rocksdb_iter_seek(it, (const char *)key, klen);
    size_t n = 0;   /* events visited */
    int ended = 0;  /* the scan left the index */
    while (!stop && rc == 0 && n < limit) {
        /* Entries until the pending lookups would fill the page, or the index ends. */
        while (!stop && rc == 0 && n + sg->n < limit) {
            if (!rocksdb_iter_valid(it)) {
                ended = 1;
                break;
            }
            size_t ik_len, iv_len;
            const uint8_t *ik = (const uint8_t *)rocksdb_iter_key(it, &ik_len);
            if (ik_len != klen || memcmp(ik, key, prefix_len) != 0) {
                ended = 1;
                break;
            }
            const uint8_t *iv = (const uint8_t *)rocksdb_iter_value(it, &iv_len);
            if (iv_len < 13 || iv_len > 12 + EVS_STREAM_NAME_MAX || get_be32(iv + 8) == 0) {
                rc = -EIO;
                break;
            }
            uint64_t first_position = get_be64(ik + prefix_len);
            uint64_t first_version = get_be64(iv);
            uint32_t count = get_be32(iv + 8);
            const char *stream = (const char *)iv + 12;
            size_t slen = iv_len - 12;
            uint32_t i = from > first_position ? (uint32_t)(from - first_position) : 0;
            if (count - i == 1) {
                singles_add(sg, stream, slen, first_version + i, first_position + i);
                if (sg->n == SINGLES_MAX)
                    rc = singles_flush(s, ro, sg, visit, ctx, &stop, &n);
                rocksdb_iter_next(it);
                continue;
            }
            /* An entry of several events is one run of the stream's keys: one seek and
             * then the next key each, instead of a lookup per event. Removed events (L4)
             * are simply not among the keys. The pending lookups come first. */
            if ((rc = singles_flush(s, ro, sg, visit, ctx, &stop, &n)) != 0 || stop)
                break;
            if (!events && !(events = rocksdb_create_iterator(s->db, ro))) {
                rc = -ENOMEM;
                break;
            }
            size_t eklen = key_stream_event(ekey, stream, slen, first_version + i);
            rocksdb_iter_seek(events, (const char *)ekey, eklen);
            while (!stop && rc == 0 && n < limit && rocksdb_iter_valid(events)) {
                size_t ek_len, ev_len;
                const uint8_t *ek = (const uint8_t *)rocksdb_iter_key(events, &ek_len);
                if (ek_len != eklen || memcmp(ek, ekey, eklen - 8) != 0)
                    break; /* past the stream's last event */
                uint64_t version = get_be64(ek + eklen - 8);
                if (version - first_version >= count)
                    break; /* past the entry */
                const char *val = rocksdb_iter_value(events, &ev_len);
                rc = visit_stored(val, ev_len, stream, slen, version,
                                  first_position + (version - first_version), visit, ctx, &stop);
                n++;
                rocksdb_iter_next(events);
            }
            if (rc == 0)
                rc = iter_error(events);
            if (rc < 0 || stop || n >= limit)
                break;
            rocksdb_iter_next(it);
        }
        /* The pending lookups; some may be removed events, leaving room for more. */
        if (rc == 0 && !stop)
            rc = singles_flush(s, ro, sg, visit, ctx, &stop, &n);
        if (ended)
            break;
    }
    free(sg);
    rc = iter_finish(it, rc);
    if (events)
        rocksdb_iter_destroy(events);
    rocksdb_readoptions_destroy(ro);
    rocksdb_release_snapshot(s->db, snap);
    return rc;
}

int evs_store_read_all(evs_store *s, int32_t partition, uint64_t from, size_t limit,
                       evs_event_visitor visit, void *ctx)
{
    uint8_t key[13];
    key_partition_u64(key, 'g', partition, from);
    return read_position_index(s, key, 5, from, limit, visit, ctx);
}

int evs_store_read_index(evs_store *s, evs_store_index index, const char *name, size_t len,
                         int32_t partition, uint64_t from, size_t limit,
                         evs_event_visitor visit, void *ctx)
{
    uint8_t key[KEY_MAX];
    if (len > EVS_STREAM_NAME_MAX || len > EVS_EVENT_TYPE_MAX)
        return -EINVAL;
    size_t klen = key_index(key, index == EVS_INDEX_CATEGORY ? 'c' : 't', name, len, partition,
                            from);
    return read_position_index(s, key, klen - 8, from, limit, visit, ctx);
}

int evs_store_verdict_get(evs_store *s, const uint8_t append_id[16], int *found,
                          evs_stored_verdict *v)
{
    uint8_t key[17];
    char *val;
    size_t vlen;
    int rc = db_get(s, key, key_id(key, 'a', append_id), &val, &vlen);
    if (rc < 0)
        return rc;
    *found = 0;
    if (!val)
        return 0;
    memset(v, 0, sizeof *v);
    reader r = {(const uint8_t *)val, vlen, 1};
    size_t n;
    uint8_t format = read_u8(&r);
    if (format != 1 && format != 2)
        r.ok = 0;
    v->verdict.status = (evs_verdict_status)read_u8(&r);
    v->expected_kind = (evs_expected_kind)read_u8(&r);
    v->partition = (int32_t)read_u32(&r);
    v->offset = (int64_t)read_u64(&r);
    v->expected_version = read_u64(&r);
    v->verdict.current_version = read_u64(&r);
    v->verdict.first_version = read_u64(&r);
    v->verdict.last_version = read_u64(&r);
    v->verdict.first_position = read_u64(&r);
    v->verdict.last_position = read_u64(&r);
    v->event_count = read_u32(&r);
    const uint8_t *p = read_lenbytes(&r, &n);
    if (p && n < sizeof v->stream)
        memcpy(v->stream, p, n);
    p = read_lenbytes(&r, &n);
    if (p)
        memcpy(v->reason, p, n < sizeof v->reason ? n : sizeof v->reason - 1);
    v->operation = format == 2 ? (evs_operation)read_u8(&r) : EVS_OP_APPEND;
    rocksdb_free(val);
    if (!r.ok)
        return -EIO;
    *found = 1;
    return 0;
}

int evs_store_skip_get(evs_store *s, int32_t partition, int64_t offset, char **reason)
{
    uint8_t key[13];
    char *val;
    size_t vlen;
    int rc = db_get(s, key, key_partition_u64(key, 'x', partition, (uint64_t)offset), &val,
                    &vlen);
    *reason = NULL;
    if (rc < 0 || !val)
        return rc;
    *reason = strndup(val, vlen);
    rocksdb_free(val);
    return *reason ? 0 : -ENOMEM;
}

/* Calls fn for every key with the one-byte prefix, in key order. */
static int scan_prefix(evs_store *s, char prefix,
                       void (*fn)(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v,
                                  size_t vl),
                       void *ctx)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator(s->db, s->read_options);
    rocksdb_iter_seek(it, &prefix, 1);
    while (rocksdb_iter_valid(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        if (kl == 0 || k[0] != (uint8_t)prefix)
            break;
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
        fn(ctx, k, kl, v, vl);
        rocksdb_iter_next(it);
    }
    return iter_finish(it, 0);
}

static void count_one(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (*(uint64_t *)ctx)++;
}

int evs_store_skip_count(evs_store *s, uint64_t *count)
{
    *count = 0;
    return scan_prefix(s, 'x', count_one, count);
}

int evs_store_property(evs_store *s, const char *name, uint64_t *value)
{
    return rocksdb_property_int(s->db, name, value) == 0 ? 0 : -1;
}

typedef struct digest_ctx {
    uint64_t hash;
    uint64_t count;
} digest_ctx;

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void digest_one(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    digest_ctx *d = ctx;
    uint8_t lens[8];
    put_be32(lens, (uint32_t)kl);
    put_be32(lens + 4, (uint32_t)vl);
    d->hash = fnv1a(d->hash, lens, 8);
    d->hash = fnv1a(d->hash, k, kl);
    d->hash = fnv1a(d->hash, v, vl);
    d->count++;
}

int evs_store_digest_compute(evs_store *s, evs_store_digest *out)
{
    digest_ctx vt = {14695981039346656037ULL, 0}, st = {14695981039346656037ULL, 0};
    int rc = scan_prefix(s, 'v', digest_one, &vt);
    if (rc == 0)
        rc = scan_prefix(s, 's', digest_one, &st);
    out->version_table = vt.hash;
    out->stream_count = vt.count;
    out->streams = st.hash;
    out->event_count = st.count;
    return rc;
}

/* Writes wb (then destroys it) with the given options. Returns 0 or -EIO (logged). */
static int write_and_destroy(evs_store *s, rocksdb_writebatch_t *wb,
                             const rocksdb_writeoptions_t *options)
{
    char *rerr = NULL;
    rocksdb_write(s->db, options, wb, &rerr);
    rocksdb_writebatch_destroy(wb);
    if (rerr) {
        fprintf(stderr, "evstore-projector: RocksDB write failed: %s\n", rerr);
        free(rerr);
        return -EIO;
    }
    return 0;
}

/* ---- Local state ('L' keys) -------------------------------------------------------------- */

static size_t key_local(uint8_t *key, const void *k, size_t klen)
{
    key[0] = 'L';
    memcpy(key + 1, k, klen);
    return klen + 1;
}

int evs_store_local_write(evs_store *s, const evs_local_op *ops, size_t n)
{
    uint8_t key[EVS_LOCAL_KEY_MAX + 1];
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    for (size_t i = 0; i < n; i++) {
        if (ops[i].key_len > EVS_LOCAL_KEY_MAX) {
            rocksdb_writebatch_destroy(wb);
            return -EINVAL;
        }
        size_t klen = key_local(key, ops[i].key, ops[i].key_len);
        if (ops[i].value)
            rocksdb_writebatch_put(wb, (const char *)key, klen, ops[i].value, ops[i].value_len);
        else
            rocksdb_writebatch_delete(wb, (const char *)key, klen);
    }
    return write_and_destroy(s, wb, s->write_options_sync);
}

int evs_store_local_put(evs_store *s, const void *key, size_t key_len, const void *value,
                        size_t value_len)
{
    evs_local_op op = {key, key_len, value ? value : "", value_len};
    return evs_store_local_write(s, &op, 1);
}

int evs_store_local_delete(evs_store *s, const void *key, size_t key_len)
{
    evs_local_op op = {key, key_len, NULL, 0};
    return evs_store_local_write(s, &op, 1);
}

int evs_store_local_get(evs_store *s, const void *key, size_t key_len, char **value,
                        size_t *value_len)
{
    uint8_t k[EVS_LOCAL_KEY_MAX + 1];
    if (key_len > EVS_LOCAL_KEY_MAX)
        return -EINVAL;
    char *val;
    int rc = db_get(s, k, key_local(k, key, key_len), &val, value_len);
    *value = NULL;
    if (rc < 0 || !val)
        return rc;
    *value = malloc(*value_len + 1);
    if (*value) {
        memcpy(*value, val, *value_len);
        (*value)[*value_len] = 0;
    }
    rocksdb_free(val);
    return *value ? 0 : -ENOMEM;
}

int evs_store_local_scan(evs_store *s, const void *prefix, size_t prefix_len,
                         const void *start_after, size_t start_after_len,
                         evs_local_visitor visit, void *ctx)
{
    uint8_t key[EVS_LOCAL_KEY_MAX + 1];
    if (prefix_len > EVS_LOCAL_KEY_MAX || start_after_len > EVS_LOCAL_KEY_MAX)
        return -EINVAL;
    rocksdb_iterator_t *it = rocksdb_create_iterator(s->db, s->read_options);
    size_t plen = key_local(key, prefix, prefix_len);
    if (start_after) {
        uint8_t sk[EVS_LOCAL_KEY_MAX + 1];
        size_t sklen = key_local(sk, start_after, start_after_len);
        rocksdb_iter_seek(it, (const char *)sk, sklen);
        if (rocksdb_iter_valid(it)) {
            size_t kl;
            const char *k = rocksdb_iter_key(it, &kl);
            if (kl == sklen && !memcmp(k, sk, sklen))
                rocksdb_iter_next(it);
        }
    } else {
        rocksdb_iter_seek(it, (const char *)key, plen);
    }
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl < plen || memcmp(k, key, plen))
            break;
        const char *v = rocksdb_iter_value(it, &vl);
        if (visit(ctx, k + 1, kl - 1, v, vl))
            break;
    }
    return iter_finish(it, 0);
}

int evs_store_list_streams(evs_store *s, const char *prefix, size_t prefix_len, const char *after,
                           size_t after_len, evs_stream_name_visitor visit, void *ctx)
{
    uint8_t key[KEY_MAX];
    if (prefix_len > EVS_STREAM_NAME_MAX || after_len > EVS_STREAM_NAME_MAX)
        return -EINVAL;
    size_t plen = key_version(key, prefix, prefix_len);
    rocksdb_iterator_t *it = rocksdb_create_iterator(s->db, s->read_options);
    /* 'v' keys are ordered by name (byte order): seek to the prefix, or just past `after`. */
    if (after && after_len >= prefix_len && !memcmp(after, prefix, prefix_len)) {
        uint8_t ak[KEY_MAX];
        size_t aklen = key_version(ak, after, after_len);
        rocksdb_iter_seek(it, (const char *)ak, aklen);
        size_t kl;
        if (rocksdb_iter_valid(it)) {
            const char *k = rocksdb_iter_key(it, &kl);
            if (kl == aklen && !memcmp(k, ak, aklen))
                rocksdb_iter_next(it);
        }
    } else {
        rocksdb_iter_seek(it, (const char *)key, plen);
    }
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl < plen || memcmp(k, key, plen))
            break;
        const char *v = rocksdb_iter_value(it, &vl);
        uint64_t version = vl >= 8 ? get_be64((const uint8_t *)v) : 0;
        if (visit(ctx, k + 1, kl - 1, version))
            break;
    }
    return iter_finish(it, 0);
}

/* Keeps the local state aside while the derived state is deleted. */
typedef struct local_copy {
    evs_local_op *ops;
    size_t n, cap;
    int oom;
} local_copy;

static int copy_local(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    local_copy *c = ctx;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        evs_local_op *ops = realloc(c->ops, cap * sizeof *ops);
        if (!ops) {
            c->oom = 1;
            return 1;
        }
        c->ops = ops;
        c->cap = cap;
    }
    char *key = malloc(kl + vl + 1);
    if (!key) {
        c->oom = 1;
        return 1;
    }
    memcpy(key, k, kl);
    memcpy(key + kl, v, vl);
    c->ops[c->n++] = (evs_local_op){key, kl, key + kl, vl};
    return 0;
}

int evs_store_reset(const char *dir, char *err, size_t err_len)
{
    evs_store *s = NULL;
    local_copy c = {0};
    int rc = store_open(dir, NULL, &s, err, err_len); /* any format: it is being rebuilt */
    if (rc < 0)
        return rc;
    rc = evs_store_local_scan(s, "", 0, NULL, 0, copy_local, &c);
    evs_store_close(s);
    s = NULL;
    if (rc == 0 && c.oom)
        rc = -ENOMEM;
    if (rc < 0) {
        set_err(err, err_len, "cannot keep the local state for the rebuild", strerror(-rc));
        goto out;
    }
    rc = evs_store_destroy(dir, err, err_len);
    if (rc < 0)
        goto out;
    rc = evs_store_open(dir, &s, err, err_len);
    if (rc == 0 && c.n)
        rc = evs_store_local_write(s, c.ops, c.n);
    evs_store_close(s);
out:
    for (size_t i = 0; i < c.n; i++)
        free((void *)c.ops[i].key);
    free(c.ops);
    return rc;
}

/* ---- Lifecycle: removing versions, the limited streams ------------------------------------
 *
 * L1. Lifecycle commands and limit sweeps are applied in a batch of their own, after every
 *     batch before it is written, and the next batch starts only once theirs is written
 *     (judge/apply.c). So the database holds everything they read, and nothing judged
 *     later reads through their deletes (which are not in the overlay).
 * L4. Removing versions [from, to) of a stream deletes its events (one range delete of the
 *     's' keys), their event ids ('e'), and every '$all', category and type entry whose
 *     events all lie below `to`. An entry whose events are only partly removed stays; the
 *     readers skip its missing events, and a later removal deletes it.
 */

/* The index entry (I1) covering `position` under `prefix` (prefix_len bytes, then be64
 * position): sets *start and *count, or *count 0 when there is none. */
static int covering_entry(rocksdb_iterator_t *it, uint8_t *key, size_t prefix_len,
                          uint64_t position, uint64_t *start, uint64_t *first_version,
                          uint32_t *count)
{
    put_be64(key + prefix_len, position);
    *count = 0;
    rocksdb_iter_seek_for_prev(it, (const char *)key, prefix_len + 8);
    if (!rocksdb_iter_valid(it))
        return 0;
    size_t kl, vl;
    const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
    const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
    if (kl != prefix_len + 8 || memcmp(k, key, prefix_len) != 0)
        return 0;
    if (vl < 13)
        return -EIO;
    *start = get_be64(k + prefix_len);
    *first_version = get_be64(v);
    if (position - *start < get_be32(v + 8))
        *count = get_be32(v + 8);
    return 0;
}

int evs_store_batch_remove_versions(evs_store_batch *b, const char *stream, size_t len,
                                    int32_t partition, uint64_t from, uint64_t to)
{
    evs_store *s = b->store;
    uint8_t key[KEY_MAX], end[KEY_MAX], ikey[KEY_MAX];
    if (len > EVS_STREAM_NAME_MAX)
        return -EINVAL;
    if (from >= to)
        return 0;
    size_t klen = key_stream_event(key, stream, len, from);
    size_t elen = key_stream_event(end, stream, len, to);
    size_t category_len = evs_category_len(stream, len);
    rocksdb_iterator_t *it = rocksdb_create_iterator(s->db, s->read_options);
    rocksdb_iterator_t *ix = rocksdb_create_iterator(s->db, s->read_options);
    int rc = 0;
    /* The entries of the event looked at last: each is deleted once, when its last
     * version is below `to`. */
    uint64_t g_start = 0, g_end = 0, t_start = 0, t_end = 0;
    for (rocksdb_iter_seek(it, (const char *)key, klen); rc == 0 && rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        if (kl != elen || memcmp(k, end, elen - 8) != 0 || memcmp(k, end, elen) >= 0)
            break;
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
        evs_stored_event ev;
        memset(&ev, 0, sizeof ev);
        if (decode_event(&ev, v, vl) < 0) {
            rc = -EIO;
            break;
        }
        rc = put_delete(b, ikey, key_id(ikey, 'e', ev.event_id), NULL, 0, PUT_DELETE);
        if (rc == 0 && !(ev.position >= g_start && ev.position < g_end)) {
            uint64_t fv = 0;
            uint32_t count = 0;
            key_partition(ikey, 'g', partition);
            rc = covering_entry(ix, ikey, 5, ev.position, &g_start, &fv, &count);
            g_end = g_start + count;
            if (rc == 0 && count > 0 && fv + count <= to) {
                rc = put_delete(b, ikey, key_partition_u64(ikey, 'g', partition, g_start),
                                NULL, 0, PUT_DELETE);
                size_t cl = key_index(ikey, 'c', stream, category_len, partition, g_start);
                if (rc == 0)
                    rc = put_delete(b, ikey, cl, NULL, 0, PUT_DELETE);
            }
        }
        if (rc == 0 && !(ev.position >= t_start && ev.position < t_end)) {
            uint64_t fv = 0;
            uint32_t count = 0;
            size_t tl = key_index(ikey, 't', ev.type, ev.type_len, partition, 0);
            rc = covering_entry(ix, ikey, tl - 8, ev.position, &t_start, &fv, &count);
            t_end = t_start + count;
            if (rc == 0 && count > 0 && fv + count <= to) {
                put_be64(ikey + tl - 8, t_start);
                rc = put_delete(b, ikey, tl, NULL, 0, PUT_DELETE);
            }
        }
    }
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    if (!rerr)
        rocksdb_iter_get_error(ix, &rerr);
    if (rerr) {
        fprintf(stderr, "evstore-projector: RocksDB iteration failed: %s\n", rerr);
        free(rerr);
        rc = -EIO;
    }
    rocksdb_iter_destroy(ix);
    rocksdb_iter_destroy(it);
    if (rc == 0)
        rc = put_delete(b, key, klen, end, elen, PUT_DELETE_RANGE);
    return rc;
}

int evs_store_batch_put_stream_state(evs_store_batch *b, const char *stream, size_t len,
                                     int32_t partition, uint64_t version,
                                     const evs_stream_lifecycle *life)
{
    uint8_t key[KEY_MAX], v[LIFECYCLE_VALUE_LEN];
    if (len > EVS_STREAM_NAME_MAX)
        return -EINVAL;
    size_t vl = version_value_encode(v, version, life);
    int rc = put_kv(b, key, key_version(key, stream, len), v, vl, 1);
    b->v_cached = 0; /* B6 */
    size_t kl = key_limited(key, partition, stream, len);
    if (rc == 0 && (life->max_count || life->max_age_ms))
        rc = put_kv(b, key, kl, "", 0, 0);
    else if (rc == 0)
        rc = put_delete(b, key, kl, NULL, 0, PUT_DELETE);
    return rc;
}

int evs_store_limited_streams(evs_store *s, int32_t partition, evs_stream_name_visitor visit,
                              void *ctx)
{
    uint8_t key[5];
    key_partition(key, 'l', partition);
    rocksdb_iterator_t *it = rocksdb_create_iterator(s->db, s->read_options);
    for (rocksdb_iter_seek(it, (const char *)key, 5); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl <= 5 || memcmp(k, key, 5) != 0)
            break;
        if (visit(ctx, k + 5, kl - 5, 0))
            break;
    }
    return iter_finish(it, 0);
}

int evs_store_first_not_older(evs_store *s, const char *stream, size_t len, uint64_t from,
                              uint64_t last, int64_t cutoff_ms, uint64_t *first)
{
    uint8_t key[KEY_MAX];
    if (len > EVS_STREAM_NAME_MAX)
        return -EINVAL;
    *first = from;
    size_t klen = key_stream_event(key, stream, len, from);
    rocksdb_iterator_t *it = rocksdb_create_iterator(s->db, s->read_options);
    int rc = 0;
    for (rocksdb_iter_seek(it, (const char *)key, klen); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        if (kl != klen || memcmp(k, key, klen - 8) != 0)
            break;
        uint64_t version = get_be64(k + kl - 8);
        if (version > last)
            break;
        evs_stored_event ev;
        memset(&ev, 0, sizeof ev);
        const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
        if (decode_event(&ev, v, vl) < 0) {
            rc = -EIO;
            break;
        }
        if (ev.log_time_ms >= cutoff_ms)
            break;
        *first = version + 1;
    }
    return iter_finish(it, rc);
}

/* ---- Data keys ('K', 'q') ------------------------------------------------------------------
 * Written by the key topic's applier only (keys/keyring.c), one write per record, each with
 * the topic's next offset, so the table is always what a prefix of the key topic says. */

static size_t key_data_key(uint8_t *key, const char *subject, size_t len,
                           const uint8_t key_id[16])
{
    key[0] = 'K';
    memcpy(key + 1, subject, len);
    key[1 + len] = 0;
    if (key_id)
        memcpy(key + 2 + len, key_id, 16);
    return key_id ? len + 18 : len + 2;
}

int evs_store_key_write(evs_store *s, const char *subject, size_t len, const uint8_t key_id[16],
                        const void *value, size_t value_len, int64_t next_offset)
{
    uint8_t key[2 + EVS_STREAM_NAME_MAX + 16], off[8];
    if (len == 0 || len > EVS_STREAM_NAME_MAX)
        return -EINVAL;
    size_t klen = key_data_key(key, subject, len, key_id);
    put_be64(off, (uint64_t)next_offset);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    if (value)
        rocksdb_writebatch_put(wb, (const char *)key, klen, value, value_len);
    else
        rocksdb_writebatch_delete(wb, (const char *)key, klen);
    rocksdb_writebatch_put(wb, "q", 1, (const char *)off, sizeof off);
    return write_and_destroy(s, wb, s->write_options);
}

int evs_store_key_offset(evs_store *s, int64_t *next_offset)
{
    char *val;
    size_t vlen;
    uint8_t key[1] = {'q'};
    int rc = db_get(s, key, 1, &val, &vlen);
    *next_offset = 0;
    if (rc == 0 && val) {
        if (vlen == 8)
            *next_offset = (int64_t)get_be64((const uint8_t *)val);
        else
            rc = -EIO;
        rocksdb_free(val);
    }
    return rc;
}

int evs_store_key_get(evs_store *s, const char *subject, size_t len, const uint8_t key_id[16],
                      char **value, size_t *value_len)
{
    uint8_t key[2 + EVS_STREAM_NAME_MAX + 16];
    *value = NULL;
    if (len == 0 || len > EVS_STREAM_NAME_MAX)
        return -EINVAL;
    char *val;
    int rc = db_get(s, key, key_data_key(key, subject, len, key_id), &val, value_len);
    if (rc < 0 || !val)
        return rc;
    *value = malloc(*value_len ? *value_len : 1);
    if (*value)
        memcpy(*value, val, *value_len);
    rocksdb_free(val);
    return *value ? 0 : -ENOMEM;
}

int evs_store_keys_of(evs_store *s, const char *subject, size_t len, evs_key_visitor visit,
                      void *ctx)
{
    uint8_t prefix[2 + EVS_STREAM_NAME_MAX];
    if (len == 0 || len > EVS_STREAM_NAME_MAX)
        return -EINVAL;
    size_t plen = key_data_key(prefix, subject, len, NULL);
    rocksdb_iterator_t *it = rocksdb_create_iterator(s->db, s->read_options);
    int rc = 0;
    for (rocksdb_iter_seek(it, (const char *)prefix, plen); rocksdb_iter_valid(it) && rc == 0;
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
        if (kl != plen + 16 || memcmp(k, prefix, plen) != 0)
            break;
        const char *v = rocksdb_iter_value(it, &vl);
        rc = visit(ctx, k + plen, v, vl);
    }
    return iter_finish(it, rc);
}

void evs_store_compact_keys(evs_store *s, const char *subject, size_t len)
{
    uint8_t from[2 + EVS_STREAM_NAME_MAX], to[2 + EVS_STREAM_NAME_MAX];
    if (!subject) { /* the whole key table */
        rocksdb_compact_range(s->db, "K", 1, "L", 1);
        return;
    }
    if (len == 0 || len > EVS_STREAM_NAME_MAX)
        return;
    size_t flen = key_data_key(from, subject, len, NULL);
    memcpy(to, from, flen);
    to[flen - 1] = 1; /* just past every key of the subject ('K' subject 0x00 ...) */
    rocksdb_compact_range(s->db, (const char *)from, flen, (const char *)to, flen);
}
