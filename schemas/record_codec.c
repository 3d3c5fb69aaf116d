/*
 * record_codec.c - encodes and decodes append records (record_codec.h) with avro-c.
 *
 * Wire format (single-object encoding, see record_codec.h):
 *   0xC3 0x01 | CRC-64-AVRO of the writer schema's canonical form, little-endian (8 bytes)
 *   | Avro binary body of evstore.AppendRequest
 *
 * The pieces:
 *  - The registry: every AppendRequest schema this process knows (built in from
 *    the .avsc files in schemas/ at first use, plus evs_record_register_schema()), each with its
 *    fingerprint, its parsed avro-c schema, a schema_graph for checking bodies, and a
 *    mapping plan: where each current field is in that writer's record, or -1 (default).
 *  - Decoding: size limit -> marker -> fingerprint lookup -> schema_graph body check ->
 *    avro_value_read with the WRITER schema -> copy fields by name into one arena. avro-c
 *    cannot resolve a writer schema against a reader schema with defaults, so the plan does
 *    that resolution (Avro spec "Schema Resolution", for the types AppendRequest uses:
 *    int->long, string<->bytes promotion, a writer union resolved by its written branch).
 *  - The fast path: a record written with the current schema is decoded by hand in one pass
 *    (decode_fast) into the same request; anything it cannot prove the generic path accepts
 *    identically, it hands to the generic path (evs__record_decode_generic), so both give
 *    the same result on every input. The rebuild's main thread decodes every record.
 *  - Encoding: always with the current schema (schemas/evstore.AppendRequest.avsc).
 *  - Sealing fields (v3): an event's key_id and data_nonce are written exactly when it has a
 *    subject (a decoded record's mismatch flags flip that, so it encodes back as it was),
 *    metadata_nonce when metadata_sealed. Both decode paths refuse a key_id that is
 *    not UUID text and a nonce that is neither empty nor 24 bytes, and record (but accept) a
 *    key_id or data_nonce that disagrees with the subject: that is evs_record_validate's
 *    verdict, as for every other rule of a well-formed record.
 *
 * Invariants:
 *  1. avro-c never sees a body that evs__schema_body_check() rejected, because avro-c does
 *     not bound-check union indexes, lengths or counts (it would crash or allocate without
 *     limit). Records longer than EVS_APPEND_BYTES_MAX are refused before any parsing.
 *  2. Registry entries are never removed or changed once published; readers find them
 *     without a lock (registry_count is stored with release, loaded with acquire).
 *  3. An avro-c value (decoder, encoder) is used by one thread at a time: it is taken from
 *     a pool under a mutex and given back after use. avro-c's schema and interface
 *     reference counts are atomic in the Debian build (checked: lock-prefixed increments),
 *     but its error message buffer is a process-wide static, so no code here reads
 *     avro_strerror() and no avro-c call can fail on input that passed invariant 1.
 *  4. A decoded request is one malloc block: the evs_append_request, then its events, then
 *     every copied string, each followed by a NUL. Its size is bounded by the body length
 *     plus a constant per event, so hostile input cannot make it large.
 */
#include "record_codec.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>

#include "schema_canonical.h"
#include "schema_graph.h"
#include "schemas_builtin.h"
#include "sealing.h" /* EVS_SEAL_NONCE_BYTES */

#define APPEND_REQUEST_NAME "evstore.AppendRequest"
/* Writer schemas one process can know; there is one per released schema version. */
#define REGISTRY_MAX 64
/* Defaults of the current schema for fields an older writer did not have. The unit tests
 * check them against the "default" attributes in evstore.AppendRequest.avsc. */
#define DEFAULT_CONTENT_TYPE "application/json"

/* ---- The mapping plan ---------------------------------------------------------------- */

/* What the current schema needs from a writer field. */
typedef enum want {
    WANT_STRING,     /* string (bytes promoted) */
    WANT_BYTES,      /* bytes (string promoted) */
    WANT_LONG,       /* long (int promoted) */
    WANT_OPT_STRING, /* null or string (bytes promoted) */
    WANT_ENUM,       /* an enum (ExpectedKind, Operation), mapped by symbol name */
    WANT_EVENTS,     /* an array of Event records */
} want;

typedef struct field_rule {
    const char *name;
    want want;
    int required; /* no default in the current schema */
} field_rule;

enum {
    TOP_APPEND_ID,
    TOP_STREAM,
    TOP_KIND,
    TOP_VERSION,
    TOP_EVENTS,
    TOP_OPERATION,
    TOP_TRUNCATE_BEFORE,
    TOP_MAX_COUNT,
    TOP_MAX_AGE,
    TOP_COUNT
};
static const field_rule top_rules[TOP_COUNT] = {
    {"append_id", WANT_STRING, 1},      {"stream", WANT_STRING, 1}, {"expected_kind", WANT_ENUM, 1},
    {"expected_version", WANT_LONG, 1}, {"events", WANT_EVENTS, 1}, {"operation", WANT_ENUM, 0},
    {"truncate_before", WANT_LONG, 0},  {"max_count", WANT_LONG, 0}, {"max_age_ms", WANT_LONG, 0},
};

enum {
    EV_EVENT_ID,
    EV_TYPE,
    EV_CONTENT_TYPE,
    EV_DATA,
    EV_METADATA,
    EV_CORRELATION_ID,
    EV_CAUSATION_ID,
    EV_CREATED,
    EV_SUBJECT,
    EV_KEY_ID,
    EV_DATA_NONCE,
    EV_METADATA_NONCE,
    EV_COUNT
};
static const field_rule event_rules[EV_COUNT] = {
    {"event_id", WANT_STRING, 1},         {"type", WANT_STRING, 1},
    {"content_type", WANT_STRING, 0},     {"data", WANT_BYTES, 1},
    {"metadata", WANT_BYTES, 0},          {"correlation_id", WANT_OPT_STRING, 0},
    {"causation_id", WANT_OPT_STRING, 0}, {"created", WANT_LONG, 1},
    {"subject", WANT_OPT_STRING, 0},      {"key_id", WANT_OPT_STRING, 0},
    {"data_nonce", WANT_BYTES, 0},        {"metadata_nonce", WANT_BYTES, 0},
};

/* The symbols of ExpectedKind, by evs_expected_kind value. */
static const char *const kind_symbols[] = {"ANY", "NO_STREAM", "STREAM_EXISTS", "EXACT"};
/* The symbols of Operation, by evs_operation value. */
static const char *const op_symbols[EVS_OP_COUNT] = {"APPEND", "DELETE", "HARD_DELETE",
                                                     "TRUNCATE", "SET_LIMITS"};

/* A pooled avro-c decoder or encoder for one schema (invariant 3). */
typedef struct avro_slot {
    avro_value_iface_t *iface;
    avro_value_t value;
    avro_reader_t reader; /* decoders */
    avro_writer_t writer; /* encoders */
    char *scratch;        /* encoders: NUL-terminated copies of the strings being written */
    size_t scratch_cap;
    struct avro_slot *next;
} avro_slot;

typedef struct known_schema {
    uint64_t fingerprint;
    avro_schema_t schema;
    evs_schema_graph *graph;
    int top[TOP_COUNT];        /* writer field index of each current field, or -1 */
    int event[EV_COUNT];       /* the same inside Event */
    int *kind_of_symbol;       /* writer enum symbol index -> evs_expected_kind, or -1 */
    int *op_of_symbol;         /* writer Operation symbol index -> evs_operation, or -1 */
    int null_branch[EV_COUNT]; /* encoder (current schema): union branch for null */
    int text_branch[EV_COUNT]; /* encoder: union branch for string */
    int kind_symbol[4];        /* encoder: enum symbol index of each evs_expected_kind */
    int op_symbol[EVS_OP_COUNT]; /* encoder: enum symbol index of each evs_operation */
    char plan_error[200];      /* why records of this writer cannot be mapped, or "" */
    pthread_mutex_t lock;      /* guards pool */
    avro_slot *pool;
} known_schema;

static known_schema *registry[REGISTRY_MAX];
static atomic_size_t registry_count;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static known_schema *current; /* set once by codec_init_once */
/* Whether decode_fast() may decode records of the current schema (plan_fast). */
static int fast_ok;

/* ---- Small helpers ------------------------------------------------------------------- */

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
    if (err == NULL || err_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* Writes len bytes of s into out[out_len] as a quoted excerpt: printable ASCII as is, other
 * bytes as \xNN, cut after 40 bytes. For messages about hostile input. */
static void quote(char *out, size_t out_len, const char *s, size_t len)
{
    size_t o = 0;
    if (out_len < 8) {
        if (out_len)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (size_t i = 0; i < len && i < 40 && o + 8 < out_len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c <= 0x7e && c != '"' && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, out_len - o, "\\x%02x", c);
    }
    out[o++] = '"';
    if (len > 40 && o + 4 < out_len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

void evs_buf_free(evs_buf *buf)
{
    if (buf == NULL)
        return;
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

static int buf_reserve(evs_buf *buf, size_t cap)
{
    if (buf->cap >= cap)
        return 0;
    size_t ncap = buf->cap ? buf->cap : 256;
    while (ncap < cap)
        ncap *= 2;
    uint8_t *p = realloc(buf->data, ncap);
    if (p == NULL)
        return -1;
    buf->data = p;
    buf->cap = ncap;
    return 0;
}

const char *evs_record_strerror(int code)
{
    switch (code) {
    case EVS_RECORD_OK:
        return "success";
    case EVS_RECORD_EMAGIC:
        return "not an evstore record (no single-object marker 0xC3 0x01)";
    case EVS_RECORD_ESCHEMA:
        return "written with a schema this build does not know";
    case EVS_RECORD_EMALFORMED:
        return "malformed record body";
    case EVS_RECORD_ETOO_LARGE:
        return "record larger than EVS_APPEND_BYTES_MAX";
    case EVS_RECORD_ENOMEM:
        return "out of memory";
    }
    return "unknown record codec error";
}

/* ---- Registry ------------------------------------------------------------------------ */

/* Whether a writer type can give the current schema what it wants (union: some branch). */
static int kind_fits(evs_avro_kind kind, want w)
{
    switch (w) {
    case WANT_STRING:
    case WANT_BYTES:
        return kind == EVS_AVRO_STRING || kind == EVS_AVRO_BYTES;
    case WANT_LONG:
        return kind == EVS_AVRO_LONG || kind == EVS_AVRO_INT;
    case WANT_OPT_STRING:
        return kind == EVS_AVRO_NULL || kind == EVS_AVRO_STRING || kind == EVS_AVRO_BYTES;
    case WANT_ENUM:
        return kind == EVS_AVRO_ENUM;
    case WANT_EVENTS:
        return kind == EVS_AVRO_ARRAY;
    }
    return 0;
}

static int node_fits(const evs_schema_node *n, want w)
{
    if (w == WANT_ENUM)
        return n->kind == EVS_AVRO_ENUM;
    if (w == WANT_EVENTS)
        return n->kind == EVS_AVRO_ARRAY && n->children[0]->kind == EVS_AVRO_RECORD;
    if (n->kind != EVS_AVRO_UNION)
        return kind_fits(n->kind, w);
    for (size_t i = 0; i < n->count; i++)
        if (kind_fits(n->children[i]->kind, w))
            return 1;
    return 0;
}

/* Finds each rule's field in record; records the first problem in ks->plan_error. */
static void plan_fields(known_schema *ks, const evs_schema_node *record, const field_rule *rules,
                        size_t count, int *index, const char *prefix)
{
    for (size_t i = 0; i < count; i++) {
        index[i] = evs__schema_field_index(record, rules[i].name);
        if (ks->plan_error[0] != '\0')
            continue;
        if (index[i] < 0 && rules[i].required)
            snprintf(ks->plan_error, sizeof ks->plan_error,
                     "the writer schema has no field %s%s, which has no default", prefix,
                     rules[i].name);
        else if (index[i] >= 0 && !node_fits(record->children[index[i]], rules[i].want))
            snprintf(ks->plan_error, sizeof ks->plan_error,
                     "the writer schema's field %s%s has a type the current schema cannot "
                     "read",
                     prefix, rules[i].name);
    }
}

static int plan_build(known_schema *ks)
{
    const evs_schema_node *root = evs__schema_graph_root(ks->graph);
    plan_fields(ks, root, top_rules, TOP_COUNT, ks->top, "");
    for (size_t i = 0; i < EV_COUNT; i++)
        ks->event[i] = -1;
    if (ks->plan_error[0] != '\0')
        return 0;
    const evs_schema_node *kind = root->children[ks->top[TOP_KIND]];
    ks->kind_of_symbol = malloc(kind->count * sizeof *ks->kind_of_symbol);
    if (ks->kind_of_symbol == NULL)
        return -1;
    for (size_t i = 0; i < kind->count; i++) {
        ks->kind_of_symbol[i] = -1;
        for (int k = 0; k < 4; k++)
            if (strcmp(kind->labels[i], kind_symbols[k]) == 0)
                ks->kind_of_symbol[i] = k;
    }
    if (ks->top[TOP_OPERATION] >= 0) {
        const evs_schema_node *op = root->children[ks->top[TOP_OPERATION]];
        ks->op_of_symbol = malloc(op->count * sizeof *ks->op_of_symbol);
        if (ks->op_of_symbol == NULL)
            return -1;
        for (size_t i = 0; i < op->count; i++) {
            ks->op_of_symbol[i] = -1;
            for (int k = 0; k < EVS_OP_COUNT; k++)
                if (strcmp(op->labels[i], op_symbols[k]) == 0)
                    ks->op_of_symbol[i] = k;
        }
    }
    const evs_schema_node *event = root->children[ks->top[TOP_EVENTS]]->children[0];
    plan_fields(ks, event, event_rules, EV_COUNT, ks->event, "events.");
    return 0;
}

static void known_schema_free(known_schema *ks)
{
    if (ks == NULL)
        return;
    if (ks->schema != NULL)
        avro_schema_decref(ks->schema);
    evs__schema_graph_free(ks->graph);
    free(ks->kind_of_symbol);
    free(ks->op_of_symbol);
    pthread_mutex_destroy(&ks->lock);
    free(ks);
}

static known_schema *registry_find(uint64_t fingerprint)
{
    size_t n = atomic_load_explicit(&registry_count, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (registry[i]->fingerprint == fingerprint)
            return registry[i];
    return NULL;
}

/* Registers an AppendRequest writer schema; the caller holds registry_lock. Returns 0 with
 * *out set (new or already known), 1 if the schema is valid but not an AppendRequest, -1
 * if it is invalid or memory ran out. */
static int register_locked(const char *json, size_t json_len, known_schema **out, char *err,
                           size_t err_len)
{
    char *canonical = NULL;
    uint64_t fp;
    known_schema *ks = NULL;
    int rc = -1;

    if (evs__schema_canonical(json, json_len, &canonical, &fp, err, err_len) != 0)
        goto done;
    if ((*out = registry_find(fp)) != NULL) {
        rc = 0;
        goto done;
    }
    ks = calloc(1, sizeof *ks);
    if (ks == NULL)
        goto done;
    pthread_mutex_init(&ks->lock, NULL);
    ks->fingerprint = fp;
    if (evs__schema_graph_build(canonical, &ks->graph, err, err_len) != 0)
        goto done;
    const evs_schema_node *root = evs__schema_graph_root(ks->graph);
    if (root->kind != EVS_AVRO_RECORD || strcmp(root->name, APPEND_REQUEST_NAME) != 0) {
        set_err(err, err_len, "not a record named " APPEND_REQUEST_NAME);
        rc = 1;
        goto done;
    }
    if (avro_schema_from_json_length(json, json_len, &ks->schema) != 0) {
        ks->schema = NULL;
        set_err(err, err_len, "avro-c cannot parse the schema");
        goto done;
    }
    if (plan_build(ks) != 0)
        goto done;
    size_t n = atomic_load_explicit(&registry_count, memory_order_relaxed);
    if (n == REGISTRY_MAX) {
        set_err(err, err_len, "too many schemas (%d)", REGISTRY_MAX);
        goto done;
    }
    registry[n] = ks;
    atomic_store_explicit(&registry_count, n + 1, memory_order_release); /* invariant 2 */
    *out = ks;
    ks = NULL;
    rc = 0;
done:
    known_schema_free(ks);
    free(canonical);
    return rc;
}

/* The encoder's view of the current schema: union branches and enum symbol indexes. A
 * mismatch with this code is a build error, reported loudly. */
static void plan_encoder(known_schema *ks)
{
    const evs_schema_node *root = evs__schema_graph_root(ks->graph);
    if (ks->plan_error[0] != '\0') {
        fprintf(stderr, "evstore: %s: %s\n", EVS_CURRENT_SCHEMA_FILE, ks->plan_error);
        abort();
    }
    const evs_schema_node *event = root->children[ks->top[TOP_EVENTS]]->children[0];
    if (root->count != TOP_COUNT || event->count != EV_COUNT) {
        fprintf(stderr, "evstore: %s has fields record_codec.c does not know\n",
                EVS_CURRENT_SCHEMA_FILE);
        abort();
    }
    for (int i = 0; i < EV_COUNT; i++) {
        ks->null_branch[i] = ks->text_branch[i] = -1;
        const evs_schema_node *t = event->children[ks->event[i]];
        for (size_t b = 0; t->kind == EVS_AVRO_UNION && b < t->count; b++) {
            if (t->children[b]->kind == EVS_AVRO_NULL)
                ks->null_branch[i] = (int)b;
            if (t->children[b]->kind == EVS_AVRO_STRING)
                ks->text_branch[i] = (int)b;
        }
    }
    for (int k = 0; k < 4; k++) {
        ks->kind_symbol[k] = -1;
        const evs_schema_node *kind = root->children[ks->top[TOP_KIND]];
        for (size_t i = 0; i < kind->count; i++)
            if (ks->kind_of_symbol[i] == k)
                ks->kind_symbol[k] = (int)i;
    }
    int ops_ok = ks->top[TOP_OPERATION] >= 0;
    for (int k = 0; ops_ok && k < EVS_OP_COUNT; k++) {
        ks->op_symbol[k] = -1;
        const evs_schema_node *op = root->children[ks->top[TOP_OPERATION]];
        for (size_t i = 0; i < op->count; i++)
            if (ks->op_of_symbol[i] == k)
                ks->op_symbol[k] = (int)i;
        ops_ok = ks->op_symbol[k] >= 0;
    }
    if (!ops_ok || ks->top[TOP_TRUNCATE_BEFORE] < 0 || ks->top[TOP_MAX_COUNT] < 0 ||
        ks->top[TOP_MAX_AGE] < 0 ||
        ks->null_branch[EV_CORRELATION_ID] < 0 || ks->text_branch[EV_CORRELATION_ID] < 0 ||
        ks->null_branch[EV_CAUSATION_ID] < 0 || ks->text_branch[EV_CAUSATION_ID] < 0 ||
        ks->event[EV_SUBJECT] < 0 || ks->null_branch[EV_SUBJECT] < 0 ||
        ks->text_branch[EV_SUBJECT] < 0 || ks->event[EV_KEY_ID] < 0 ||
        ks->null_branch[EV_KEY_ID] < 0 || ks->text_branch[EV_KEY_ID] < 0 ||
        ks->event[EV_DATA_NONCE] < 0 || ks->event[EV_METADATA_NONCE] < 0 ||
        ks->kind_symbol[0] < 0 || ks->kind_symbol[1] < 0 || ks->kind_symbol[2] < 0 ||
        ks->kind_symbol[3] < 0) {
        fprintf(stderr, "evstore: %s does not match record_codec.c\n", EVS_CURRENT_SCHEMA_FILE);
        abort();
    }
}

/* Enables decode_fast() if the current schema is exactly the field layout it hard-codes:
 * the fields in the order of top_rules and event_rules, with these types. Otherwise every
 * record takes the generic path (slower, same result). */
static void plan_fast(const known_schema *ks)
{
    static const evs_avro_kind top_kinds[TOP_COUNT] = {
        EVS_AVRO_STRING, EVS_AVRO_STRING, EVS_AVRO_ENUM, EVS_AVRO_LONG, EVS_AVRO_ARRAY,
        EVS_AVRO_ENUM,   EVS_AVRO_LONG,   EVS_AVRO_LONG, EVS_AVRO_LONG};
    static const evs_avro_kind event_kinds[EV_COUNT] = {
        EVS_AVRO_STRING, EVS_AVRO_STRING, EVS_AVRO_STRING, EVS_AVRO_BYTES,
        EVS_AVRO_BYTES,  EVS_AVRO_UNION,  EVS_AVRO_UNION,  EVS_AVRO_LONG,
        EVS_AVRO_UNION,  EVS_AVRO_UNION,  EVS_AVRO_BYTES,  EVS_AVRO_BYTES};
    const evs_schema_node *root = evs__schema_graph_root(ks->graph);
    if (root->kind != EVS_AVRO_RECORD || root->count != TOP_COUNT)
        return;
    for (int i = 0; i < TOP_COUNT; i++)
        if (ks->top[i] != i || root->children[i]->kind != top_kinds[i])
            return;
    const evs_schema_node *kind = root->children[TOP_KIND];
    const evs_schema_node *event = root->children[TOP_EVENTS]->children[0];
    if (kind->count != 4 || event->kind != EVS_AVRO_RECORD || event->count != EV_COUNT)
        return;
    for (int i = 0; i < 4; i++)
        if (ks->kind_of_symbol[i] < 0)
            return;
    if (root->children[TOP_OPERATION]->count != EVS_OP_COUNT)
        return;
    for (int i = 0; i < EVS_OP_COUNT; i++)
        if (ks->op_of_symbol[i] != i)
            return;
    for (int i = 0; i < EV_COUNT; i++)
        if (ks->event[i] != i || event->children[i]->kind != event_kinds[i])
            return;
    static const int unions[] = {EV_CORRELATION_ID, EV_CAUSATION_ID, EV_SUBJECT, EV_KEY_ID};
    for (size_t i = 0; i < sizeof unions / sizeof unions[0]; i++)
        if (event->children[unions[i]]->count != 2)
            return;
    fast_ok = 1;
}

static void codec_init_once(void)
{
    char err[256];
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; i < evs__builtin_schema_count; i++) {
        const evs_builtin_schema *b = &evs__builtin_schemas[i];
        known_schema *ks = NULL;
        int rc = register_locked(b->json, b->json_len, &ks, err, sizeof err);
        if (rc < 0) {
            /* A broken schema file is caught by the unit tests; say which one. */
            fprintf(stderr, "evstore: built-in schema %s: %s\n", b->file_name, err);
            abort();
        }
        if (rc == 0 && strcmp(b->file_name, EVS_CURRENT_SCHEMA_FILE) == 0)
            current = ks;
    }
    pthread_mutex_unlock(&registry_lock);
    if (current == NULL) {
        fprintf(stderr, "evstore: schemas/%s is not built in\n", EVS_CURRENT_SCHEMA_FILE);
        abort();
    }
    plan_encoder(current);
    plan_fast(current);
}

static void codec_init(void)
{
    pthread_once(&init_once, codec_init_once);
}

int evs_record_register_schema(const char *schema_json)
{
    known_schema *ks;
    if (schema_json == NULL)
        return -1;
    codec_init();
    pthread_mutex_lock(&registry_lock);
    int rc = register_locked(schema_json, strlen(schema_json), &ks, NULL, 0);
    pthread_mutex_unlock(&registry_lock);
    return rc == 0 ? 0 : -1;
}

uint64_t evs_record_fingerprint(void)
{
    codec_init();
    return current->fingerprint;
}

/* ---- avro-c slots (invariant 3) ------------------------------------------------------ */

static avro_slot *slot_take(known_schema *ks)
{
    pthread_mutex_lock(&ks->lock);
    avro_slot *s = ks->pool;
    if (s != NULL)
        ks->pool = s->next;
    pthread_mutex_unlock(&ks->lock);
    if (s != NULL)
        return s;

    /* A new slot. Creating interfaces only reads the shared schema and bumps its atomic
     * reference counts; registry_lock keeps avro-c's error state to one thread anyway. */
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    static const char empty[1];
    pthread_mutex_lock(&registry_lock);
    s->iface = avro_generic_class_from_schema(ks->schema);
    int ok = s->iface != NULL && avro_generic_value_new(s->iface, &s->value) == 0;
    if (ok) {
        s->reader = avro_reader_memory(empty, 0);
        s->writer = avro_writer_memory(empty, 0);
        ok = s->reader != NULL && s->writer != NULL;
    } else {
        s->value.iface = NULL;
    }
    pthread_mutex_unlock(&registry_lock);
    if (!ok) {
        if (s->reader)
            avro_reader_free(s->reader);
        if (s->writer)
            avro_writer_free(s->writer);
        if (s->value.iface)
            avro_value_decref(&s->value);
        if (s->iface)
            avro_value_iface_decref(s->iface);
        free(s);
        return NULL;
    }
    return s;
}

static void slot_give(known_schema *ks, avro_slot *s)
{
    pthread_mutex_lock(&ks->lock);
    s->next = ks->pool;
    ks->pool = s;
    pthread_mutex_unlock(&ks->lock);
}

/* ---- Decoding ------------------------------------------------------------------------ */

typedef struct arena {
    char *p;   /* next free byte */
    char *end; /* end of the block */
} arena;

/* One block for a request of n events decoded from a body of body_len bytes: the request,
 * its events (zeroed) and an arena for their strings, which *a receives; NULL when out of
 * memory. Every copied string or bytes value is a distinct piece of the body, so their
 * bytes add up to at most body_len; each gets a NUL: the stream, and per event at most seven
 * (type, content_type, data, metadata, correlation_id, causation_id, subject). UUIDs are
 * parsed and nonces copied into the event, not into the arena, and defaults point to static
 * storage (invariant 4). */
static evs_append_request *request_alloc(size_t n, size_t body_len, arena *a)
{
    size_t size = sizeof(evs_append_request) + n * sizeof(evs_record_event) + body_len + 1 + 7 * n;
    char *block = malloc(size);
    if (block == NULL)
        return NULL;
    evs_append_request *req = (evs_append_request *)block;
    memset(req, 0, sizeof *req);
    req->arena_ = block;
    req->events = n ? (evs_record_event *)(block + sizeof *req) : NULL;
    req->event_count = n;
    if (n)
        memset(req->events, 0, n * sizeof *req->events);
    a->p = block + sizeof *req + n * sizeof(evs_record_event);
    a->end = block + size;
    return req;
}

/* Copies len bytes plus a NUL into the arena (invariant 4 sized it). */
static const char *arena_copy(arena *a, const void *s, size_t len)
{
    char *p = a->p;
    if ((size_t)(a->end - p) < len + 1)
        abort(); /* the size computation in map_request is wrong: a bug, never input */
    if (len > 0)
        memcpy(p, s, len);
    p[len] = '\0';
    a->p += len + 1;
    return p;
}

/* Reads a writer value as text or bytes (or null, for WANT_OPT_STRING), resolving a writer
 * union by the branch it wrote. Returns 0, or -1 if the written branch does not fit. */
static int get_blob(avro_value_t *v, want w, const void **p, size_t *len, int *is_null)
{
    avro_value_t branch;
    if (avro_value_get_type(v) == AVRO_UNION) {
        if (avro_value_get_current_branch(v, &branch) != 0)
            return -1;
        v = &branch;
    }
    *is_null = 0;
    switch (avro_value_get_type(v)) {
    case AVRO_STRING: {
        const char *s;
        size_t size;
        if (avro_value_get_string(v, &s, &size) != 0 || size == 0)
            return -1;
        *p = s;
        *len = size - 1; /* avro-c counts the NUL */
        return 0;
    }
    case AVRO_BYTES:
        return avro_value_get_bytes(v, p, len) == 0 ? 0 : -1;
    case AVRO_NULL:
        if (w != WANT_OPT_STRING)
            return -1;
        *p = NULL;
        *len = 0;
        *is_null = 1;
        return 0;
    default:
        return -1;
    }
}

static int get_long(avro_value_t *v, int64_t *out)
{
    avro_value_t branch;
    if (avro_value_get_type(v) == AVRO_UNION) {
        if (avro_value_get_current_branch(v, &branch) != 0)
            return -1;
        v = &branch;
    }
    if (avro_value_get_type(v) == AVRO_INT64)
        return avro_value_get_long(v, out) == 0 ? 0 : -1;
    if (avro_value_get_type(v) == AVRO_INT32) {
        int32_t i;
        if (avro_value_get_int(v, &i) != 0)
            return -1;
        *out = i;
        return 0;
    }
    return -1;
}

/* The writer's field number `index` of record, or -1 with a message. */
static int field_of(avro_value_t *record, int index, avro_value_t *out)
{
    return avro_value_get_by_index(record, (size_t)index, out, NULL) == 0 ? 0 : -1;
}

/* Maps one field to text (copied into the arena) or reports why not. label names the field
 * in messages; event is 0 for a request field, else the 1-based event number. */
static int map_blob(avro_value_t *record, int index, want w, arena *a, const char **out,
                    size_t *out_len, size_t event, const char *label, char *err, size_t err_len)
{
    avro_value_t f;
    const void *p;
    size_t len;
    int is_null;
    if (field_of(record, index, &f) != 0 || get_blob(&f, w, &p, &len, &is_null) != 0) {
        if (event)
            set_err(err, err_len, "event %zu: %s: the writer wrote a value of the wrong type",
                    event, label);
        else
            set_err(err, err_len, "%s: the writer wrote a value of the wrong type", label);
        return -1;
    }
    *out = is_null ? NULL : arena_copy(a, p, len);
    *out_len = len;
    return 0;
}

static int map_uuid(avro_value_t *record, int index, uint8_t out[16], size_t event,
                    const char *label, char *err, size_t err_len)
{
    avro_value_t f;
    const void *p;
    size_t len;
    int is_null;
    char q[200];
    if (field_of(record, index, &f) != 0 || get_blob(&f, WANT_STRING, &p, &len, &is_null) != 0) {
        p = "";
        len = 0;
    }
    if (evs_uuid_parse(p, len, out) == 0)
        return 0;
    quote(q, sizeof q, p, len);
    if (event)
        set_err(err, err_len, "event %zu: %s %s is not a UUID (8-4-4-4-12 hex digits)", event,
                label, q);
    else
        set_err(err, err_len, "%s %s is not a UUID (8-4-4-4-12 hex digits)", label, q);
    return -1;
}

/* An optional UUID (the key_id union): *present 0 for null, else 1 with out parsed. */
static int map_opt_uuid(avro_value_t *record, int index, uint8_t out[16], int *present,
                        size_t event, const char *label, char *err, size_t err_len)
{
    avro_value_t f;
    const void *p;
    size_t len;
    int is_null;
    char q[200];
    if (field_of(record, index, &f) != 0 ||
        get_blob(&f, WANT_OPT_STRING, &p, &len, &is_null) != 0) {
        set_err(err, err_len, "event %zu: %s: the writer wrote a value of the wrong type", event,
                label);
        return -1;
    }
    *present = !is_null;
    if (is_null || evs_uuid_parse(p, len, out) == 0)
        return 0;
    quote(q, sizeof q, p, len);
    set_err(err, err_len, "event %zu: %s %s is not a UUID (8-4-4-4-12 hex digits)", event, label,
            q);
    return -1;
}

/* A nonce: empty (*present 0) or exactly EVS_SEAL_NONCE_BYTES, copied into out. */
static int map_nonce(avro_value_t *record, int index, uint8_t out[EVS_SEAL_NONCE_BYTES],
                     int *present, size_t event, const char *label, char *err, size_t err_len)
{
    avro_value_t f;
    const void *p;
    size_t len;
    int is_null;
    if (field_of(record, index, &f) != 0 || get_blob(&f, WANT_BYTES, &p, &len, &is_null) != 0) {
        set_err(err, err_len, "event %zu: %s: the writer wrote a value of the wrong type", event,
                label);
        return -1;
    }
    if (len != 0 && len != EVS_SEAL_NONCE_BYTES) {
        set_err(err, err_len, "event %zu: %s is %zu bytes (a nonce is empty or %d bytes)", event,
                label, len, EVS_SEAL_NONCE_BYTES);
        return -1;
    }
    *present = len != 0;
    if (len)
        memcpy(out, p, len);
    return 0;
}

/* The sealing fields of a decoded event, once read: metadata_sealed from the metadata
 * nonce, and whether key_id and data_nonce were present exactly when subject is (the
 * record_codec.h flags evs_record_validate checks). Both decode paths end with this. */
static void seal_flags(evs_record_event *e, int has_key_id, int has_data_nonce,
                       int has_metadata_nonce)
{
    int sealed = e->subject != NULL;
    e->metadata_sealed = has_metadata_nonce;
    e->key_id_mismatch = (uint8_t)(has_key_id != sealed);
    e->data_nonce_mismatch = (uint8_t)(has_data_nonce != sealed);
}

static int map_event(const known_schema *ks, avro_value_t *ev, evs_record_event *e, arena *a,
                     size_t number, char *err, size_t err_len)
{
    const int *ix = ks->event;
    int64_t created;
    if (map_uuid(ev, ix[EV_EVENT_ID], e->event_id, number, "event_id", err, err_len) != 0)
        return -1;
    if (map_blob(ev, ix[EV_TYPE], WANT_STRING, a, &e->type, &e->type_len, number, "type", err,
                 err_len) != 0)
        return -1;
    if (ix[EV_CONTENT_TYPE] < 0) {
        e->content_type = DEFAULT_CONTENT_TYPE;
        e->content_type_len = sizeof DEFAULT_CONTENT_TYPE - 1;
    } else if (map_blob(ev, ix[EV_CONTENT_TYPE], WANT_STRING, a, &e->content_type,
                        &e->content_type_len, number, "content_type", err, err_len) != 0) {
        return -1;
    }
    const char *data;
    if (map_blob(ev, ix[EV_DATA], WANT_BYTES, a, &data, &e->data_len, number, "data", err,
                 err_len) != 0)
        return -1;
    e->data = (const uint8_t *)data;
    if (ix[EV_METADATA] >= 0) {
        const char *metadata;
        if (map_blob(ev, ix[EV_METADATA], WANT_BYTES, a, &metadata, &e->metadata_len, number,
                     "metadata", err, err_len) != 0)
            return -1;
        e->metadata = (const uint8_t *)metadata;
    } /* else the default: empty (NULL, 0) */
    if (ix[EV_CORRELATION_ID] >= 0 &&
        map_blob(ev, ix[EV_CORRELATION_ID], WANT_OPT_STRING, a, &e->correlation_id,
                 &e->correlation_id_len, number, "correlation_id", err, err_len) != 0)
        return -1;
    if (ix[EV_CAUSATION_ID] >= 0 &&
        map_blob(ev, ix[EV_CAUSATION_ID], WANT_OPT_STRING, a, &e->causation_id,
                 &e->causation_id_len, number, "causation_id", err, err_len) != 0)
        return -1;
    avro_value_t f;
    if (field_of(ev, ix[EV_CREATED], &f) != 0 || get_long(&f, &created) != 0) {
        set_err(err, err_len, "event %zu: created: the writer wrote a value of the wrong type",
                number);
        return -1;
    }
    e->created_us = created;
    int has_key_id = 0, has_data_nonce = 0, has_metadata_nonce = 0;
    if (ix[EV_SUBJECT] >= 0 &&
        map_blob(ev, ix[EV_SUBJECT], WANT_OPT_STRING, a, &e->subject, &e->subject_len, number,
                 "subject", err, err_len) != 0)
        return -1;
    if (ix[EV_KEY_ID] >= 0 && map_opt_uuid(ev, ix[EV_KEY_ID], e->key_id, &has_key_id, number,
                                           "key_id", err, err_len) != 0)
        return -1;
    if (ix[EV_DATA_NONCE] >= 0 && map_nonce(ev, ix[EV_DATA_NONCE], e->data_nonce,
                                            &has_data_nonce, number, "data_nonce", err,
                                            err_len) != 0)
        return -1;
    if (ix[EV_METADATA_NONCE] >= 0 &&
        map_nonce(ev, ix[EV_METADATA_NONCE], e->metadata_nonce, &has_metadata_nonce, number,
                  "metadata_nonce", err, err_len) != 0)
        return -1;
    seal_flags(e, has_key_id, has_data_nonce, has_metadata_nonce); /* defaults: all absent */
    return 0;
}

/* Builds the decoded request from the writer value top (invariant 4). */
static int map_request(const known_schema *ks, avro_value_t *top, size_t body_len,
                       evs_append_request **out, char *err, size_t err_len)
{
    avro_value_t events, f;
    size_t n;
    int64_t version;
    int symbol;
    if (field_of(top, ks->top[TOP_EVENTS], &events) != 0 || avro_value_get_size(&events, &n) != 0) {
        set_err(err, err_len, "events: cannot read the array");
        return EVS_RECORD_EMALFORMED;
    }
    arena a;
    evs_append_request *req = request_alloc(n, body_len, &a);
    if (req == NULL) {
        set_err(err, err_len, "out of memory (%zu events, %zu bytes)", n, body_len);
        return EVS_RECORD_ENOMEM;
    }

    if (map_uuid(top, ks->top[TOP_APPEND_ID], req->append_id, 0, "append_id", err, err_len) != 0 ||
        map_blob(top, ks->top[TOP_STREAM], WANT_STRING, &a, &req->stream, &req->stream_len, 0,
                 "stream", err, err_len) != 0)
        goto malformed;
    if (field_of(top, ks->top[TOP_KIND], &f) != 0 || avro_value_get_enum(&f, &symbol) != 0 ||
        symbol < 0) {
        set_err(err, err_len, "expected_kind: cannot read the enum");
        goto malformed;
    }
    if (ks->kind_of_symbol[symbol] < 0) {
        avro_schema_t es = avro_value_get_schema(&f);
        const char *name = avro_schema_enum_get(es, symbol);
        set_err(err, err_len, "expected_kind %s is not a kind this build knows", name ? name : "?");
        goto malformed;
    }
    req->expected_kind = (evs_expected_kind)ks->kind_of_symbol[symbol];
    if (field_of(top, ks->top[TOP_VERSION], &f) != 0 || get_long(&f, &version) != 0) {
        set_err(err, err_len, "expected_version: the writer wrote a value of the wrong type");
        goto malformed;
    }
    if (version < 0) {
        set_err(err, err_len, "expected_version %" PRId64 " is negative", version);
        goto malformed;
    }
    req->expected_version = (uint64_t)version;
    for (size_t i = 0; i < n; i++) {
        avro_value_t ev;
        if (avro_value_get_by_index(&events, i, &ev, NULL) != 0 ||
            map_event(ks, &ev, &req->events[i], &a, i + 1, err, err_len) != 0)
            goto malformed;
    }
    req->operation = EVS_OP_APPEND; /* the default, for writers without the field */
    if (ks->top[TOP_OPERATION] >= 0) {
        if (field_of(top, ks->top[TOP_OPERATION], &f) != 0 ||
            avro_value_get_enum(&f, &symbol) != 0 || symbol < 0) {
            set_err(err, err_len, "operation: cannot read the enum");
            goto malformed;
        }
        if (ks->op_of_symbol[symbol] < 0) {
            const char *name = avro_schema_enum_get(avro_value_get_schema(&f), symbol);
            set_err(err, err_len, "operation %s is not one this build knows", name ? name : "?");
            goto malformed;
        }
        req->operation = (evs_operation)ks->op_of_symbol[symbol];
    }
    static const struct {
        int top;
        const char *name;
        size_t offset;
    } counts[] = {
        {TOP_TRUNCATE_BEFORE, "truncate_before", offsetof(evs_append_request, truncate_before)},
        {TOP_MAX_COUNT, "max_count", offsetof(evs_append_request, max_count)},
        {TOP_MAX_AGE, "max_age_ms", offsetof(evs_append_request, max_age_ms)},
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        if (ks->top[counts[i].top] < 0)
            continue; /* the default: 0 */
        int64_t v;
        if (field_of(top, ks->top[counts[i].top], &f) != 0 || get_long(&f, &v) != 0) {
            set_err(err, err_len, "%s: the writer wrote a value of the wrong type",
                    counts[i].name);
            goto malformed;
        }
        if (v < 0) {
            set_err(err, err_len, "%s %" PRId64 " is negative", counts[i].name, v);
            goto malformed;
        }
        *(uint64_t *)((char *)req + counts[i].offset) = (uint64_t)v;
    }
    *out = req;
    return EVS_RECORD_OK;
malformed:
    free(req); /* the whole block (request_alloc) */
    return EVS_RECORD_EMALFORMED;
}

/* ---- The fast path ---------------------------------------------------------------- */

/* decode_fast() decodes a body written with the CURRENT schema by hand, in one pass, into
 * exactly the request the generic path (schema_graph check, avro-c, map_request) builds:
 * the same block size, the same arena contents in the same order. It accepts only what it
 * can prove the generic path accepts with the same result; anything else (any malformed
 * body, but also valid rarities: an events array in several blocks or with a negative block
 * count, a varint longer than 9 bytes) returns -1 and the caller takes the generic path,
 * which then gives its own verdict and message. So the two paths agree on every input by
 * construction; tests/fuzz/fuzz_record_decode.c and the unit tests check it.
 * Every length and count is checked against the bytes left before it is used; the block is
 * sized as in map_request, after the event count is bounded by the body length. */

typedef struct cursor {
    const uint8_t *p;
    const uint8_t *end;
} cursor;

/* A zig-zag varint of at most 9 bytes (63 bits), so the value cannot overflow. */
static int fast_long(cursor *c, int64_t *out)
{
    uint64_t u = 0;
    for (unsigned shift = 0; shift < 63; shift += 7) {
        if (c->p == c->end)
            return -1;
        uint8_t b = *c->p++;
        u |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
            return 0;
        }
    }
    return -1;
}

/* A string or bytes value: its length, then that many bytes, all inside the body. */
static int fast_blob(cursor *c, const uint8_t **p, size_t *len)
{
    int64_t n;
    if (fast_long(c, &n) != 0 || n < 0 || (uint64_t)n > (uint64_t)(c->end - c->p))
        return -1;
    *p = c->p;
    *len = (size_t)n;
    c->p += n;
    return 0;
}

static int fast_copy(cursor *c, arena *a, const char **out, size_t *out_len)
{
    const uint8_t *p;
    if (fast_blob(c, &p, out_len) != 0 || (size_t)(a->end - a->p) < *out_len + 1)
        return -1;
    *out = arena_copy(a, p, *out_len);
    return 0;
}

static int fast_uuid(cursor *c, uint8_t out[16])
{
    const uint8_t *p;
    size_t len;
    return fast_blob(c, &p, &len) == 0 && evs_uuid_parse((const char *)p, len, out) == 0 ? 0 : -1;
}

/* A ["null","string"] union (branch order from the schema). */
static int fast_optional(cursor *c, const known_schema *ks, int field, arena *a, const char **out,
                         size_t *out_len)
{
    int64_t branch;
    if (fast_long(c, &branch) != 0)
        return -1;
    if (branch == ks->null_branch[field]) {
        *out = NULL;
        *out_len = 0;
        return 0;
    }
    if (branch == ks->text_branch[field])
        return fast_copy(c, a, out, out_len);
    return -1;
}

/* The key_id union: null (*present 0) or UUID text. */
static int fast_opt_uuid(cursor *c, const known_schema *ks, uint8_t out[16], int *present)
{
    int64_t branch;
    if (fast_long(c, &branch) != 0)
        return -1;
    *present = branch != ks->null_branch[EV_KEY_ID];
    if (!*present)
        return 0;
    return branch == ks->text_branch[EV_KEY_ID] ? fast_uuid(c, out) : -1;
}

/* A nonce: empty (*present 0) or EVS_SEAL_NONCE_BYTES bytes; other lengths are left to the
 * generic path's message. */
static int fast_nonce(cursor *c, uint8_t out[EVS_SEAL_NONCE_BYTES], int *present)
{
    const uint8_t *p;
    size_t len;
    if (fast_blob(c, &p, &len) != 0 || (len != 0 && len != EVS_SEAL_NONCE_BYTES))
        return -1;
    *present = len != 0;
    if (len)
        memcpy(out, p, len);
    return 0;
}

static int decode_fast(const known_schema *ks, const uint8_t *body, size_t body_len,
                       evs_append_request **out)
{
    cursor c = {.p = body, .end = body + body_len};
    const uint8_t *append_id, *stream;
    size_t append_id_len, stream_len;
    int64_t symbol, version, n, end;
    if (fast_blob(&c, &append_id, &append_id_len) != 0 ||
        fast_blob(&c, &stream, &stream_len) != 0 || fast_long(&c, &symbol) != 0 || symbol < 0 ||
        symbol > 3 || fast_long(&c, &version) != 0 || version < 0 || fast_long(&c, &n) != 0 ||
        n < 0)
        return -1;
    /* Every event encodes to at least one byte per field: this bounds the allocation. */
    if ((uint64_t)n > (uint64_t)(c.end - c.p) / EV_COUNT)
        return -1;
    size_t count = (size_t)n;
    arena a;
    evs_append_request *req = request_alloc(count, body_len, &a);
    if (req == NULL)
        return -1; /* the generic path reports it */

    if (evs_uuid_parse((const char *)append_id, append_id_len, req->append_id) != 0)
        goto fail;
    req->stream = arena_copy(&a, stream, stream_len);
    req->stream_len = stream_len;
    req->expected_kind = (evs_expected_kind)ks->kind_of_symbol[symbol];
    req->expected_version = (uint64_t)version;
    for (size_t i = 0; i < count; i++) {
        evs_record_event *e = &req->events[i];
        const char *data, *metadata;
        int has_key_id, has_data_nonce, has_metadata_nonce;
        if (fast_uuid(&c, e->event_id) != 0 || fast_copy(&c, &a, &e->type, &e->type_len) != 0 ||
            fast_copy(&c, &a, &e->content_type, &e->content_type_len) != 0 ||
            fast_copy(&c, &a, &data, &e->data_len) != 0 ||
            fast_copy(&c, &a, &metadata, &e->metadata_len) != 0 ||
            fast_optional(&c, ks, EV_CORRELATION_ID, &a, &e->correlation_id,
                          &e->correlation_id_len) != 0 ||
            fast_optional(&c, ks, EV_CAUSATION_ID, &a, &e->causation_id, &e->causation_id_len) !=
                0 ||
            fast_long(&c, &e->created_us) != 0 ||
            fast_optional(&c, ks, EV_SUBJECT, &a, &e->subject, &e->subject_len) != 0 ||
            fast_opt_uuid(&c, ks, e->key_id, &has_key_id) != 0 ||
            fast_nonce(&c, e->data_nonce, &has_data_nonce) != 0 ||
            fast_nonce(&c, e->metadata_nonce, &has_metadata_nonce) != 0)
            goto fail;
        e->data = (const uint8_t *)data;
        e->metadata = (const uint8_t *)metadata;
        seal_flags(e, has_key_id, has_data_nonce, has_metadata_nonce);
    }
    /* One block, then the closing 0 (none when the first count was already 0), then the end
     * of the body. */
    if (count > 0 && (fast_long(&c, &end) != 0 || end != 0))
        goto fail;
    int64_t op, before, max_count, max_age;
    if (fast_long(&c, &op) != 0 || op < 0 || op >= EVS_OP_COUNT ||
        fast_long(&c, &before) != 0 || before < 0 || fast_long(&c, &max_count) != 0 ||
        max_count < 0 || fast_long(&c, &max_age) != 0 || max_age < 0)
        goto fail;
    req->operation = (evs_operation)op;
    req->truncate_before = (uint64_t)before;
    req->max_count = (uint64_t)max_count;
    req->max_age_ms = (uint64_t)max_age;
    if (c.p != c.end)
        goto fail;
    *out = req;
    return 0;
fail:
    free(req); /* the whole block (request_alloc) */
    return -1;
}

int evs_record_decode(const void *value, size_t len, evs_append_request **out, char *err,
                      size_t err_len)
{
    const uint8_t *b = value;
    if (b != NULL && len >= EVS_RECORD_HEADER_LEN && len <= EVS_APPEND_BYTES_MAX &&
        b[0] == EVS_RECORD_MAGIC0 && b[1] == EVS_RECORD_MAGIC1) {
        uint64_t fp = 0;
        for (int i = 7; i >= 0; i--)
            fp = fp << 8 | b[2 + i];
        codec_init();
        if (fast_ok && fp == current->fingerprint &&
            decode_fast(current, b + EVS_RECORD_HEADER_LEN, len - EVS_RECORD_HEADER_LEN, out) ==
                0) {
            if (err != NULL && err_len > 0)
                err[0] = '\0';
            return EVS_RECORD_OK;
        }
    }
    return evs__record_decode_generic(value, len, out, err, err_len);
}

int evs__record_decode_generic(const void *value, size_t len, evs_append_request **out, char *err,
                               size_t err_len)
{
    const uint8_t *b = value;
    if (err != NULL && err_len > 0)
        err[0] = '\0';
    *out = NULL;
    if (b == NULL)
        len = 0;
    if (len > EVS_APPEND_BYTES_MAX) {
        set_err(err, err_len, "record is %zu bytes, more than the limit of %d", len,
                EVS_APPEND_BYTES_MAX);
        return EVS_RECORD_ETOO_LARGE;
    }
    if (len < 2) {
        set_err(err, err_len, "record is %zu bytes, too short for the marker 0xC3 0x01", len);
        return EVS_RECORD_EMAGIC;
    }
    if (b[0] != EVS_RECORD_MAGIC0 || b[1] != EVS_RECORD_MAGIC1) {
        set_err(err, err_len,
                "record starts with 0x%02X 0x%02X, not the single-object marker 0xC3 0x01", b[0],
                b[1]);
        return EVS_RECORD_EMAGIC;
    }
    if (len < EVS_RECORD_HEADER_LEN) {
        set_err(err, err_len, "record is %zu bytes, shorter than the %d-byte header", len,
                EVS_RECORD_HEADER_LEN);
        return EVS_RECORD_EMALFORMED;
    }
    uint64_t fp = 0;
    for (int i = 7; i >= 0; i--)
        fp = fp << 8 | b[2 + i];

    codec_init();
    known_schema *ks = registry_find(fp);
    if (ks == NULL) {
        set_err(err, err_len,
                "unknown writer schema (fingerprint 0x%016" PRIx64
                "); this build knows %zu AppendRequest schemas",
                fp, atomic_load(&registry_count));
        return EVS_RECORD_ESCHEMA;
    }
    if (ks->plan_error[0] != '\0') {
        set_err(err, err_len, "writer schema 0x%016" PRIx64 ": %s", fp, ks->plan_error);
        return EVS_RECORD_EMALFORMED;
    }
    const uint8_t *body = b + EVS_RECORD_HEADER_LEN;
    size_t body_len = len - EVS_RECORD_HEADER_LEN;
    if (evs__schema_body_check(ks->graph, body, body_len, err, err_len) != 0)
        return EVS_RECORD_EMALFORMED; /* invariant 1 */

    avro_slot *s = slot_take(ks);
    if (s == NULL) {
        set_err(err, err_len, "out of memory");
        return EVS_RECORD_ENOMEM;
    }
    int rc;
    avro_reader_memory_set_source(s->reader, (const char *)body, (int64_t)body_len);
    if (avro_value_read(s->reader, &s->value) != 0) {
        /* The check passed, so this is memory (or a disagreement with avro-c: a bug). */
        set_err(err, err_len, "avro-c could not read the body");
        rc = EVS_RECORD_ENOMEM;
    } else {
        rc = map_request(ks, &s->value, body_len, out, err, err_len);
    }
    avro_value_reset(&s->value); /* frees the decoded strings now, not at the next read */
    slot_give(ks, s);
    return rc;
}

void evs_append_request_free(evs_append_request *req)
{
    if (req != NULL && req->arena_ != NULL)
        free(req->arena_); /* the request itself lives in its arena */
}

/* ---- Encoding ------------------------------------------------------------------------ */

/* Gives a string to avro-c without a copy by avro-c: it is first copied, NUL-terminated,
 * into the encoder's scratch space (avro-c strings carry their NUL), and avro-c only keeps
 * a pointer until avro_value_reset. */
static int give_text(avro_value_t *v, char **scratch, const char *s, size_t len)
{
    char *p = *scratch;
    avro_wrapped_buffer_t wb;
    if (len > 0)
        memcpy(p, s, len);
    p[len] = '\0';
    *scratch += len + 1;
    if (avro_wrapped_buffer_new(&wb, p, len + 1) != 0)
        return -1;
    return avro_value_give_string_len(v, &wb);
}

/* Gives bytes to avro-c without copying them: the caller's buffer is only read by
 * avro_value_write and forgotten at avro_value_reset. */
static int give_blob(avro_value_t *v, const void *p, size_t len)
{
    static const char empty[1];
    avro_wrapped_buffer_t wb;
    if (avro_wrapped_buffer_new(&wb, len > 0 ? p : empty, len) != 0)
        return -1;
    return avro_value_give_bytes(v, &wb);
}

static int give_optional(const known_schema *ks, avro_value_t *record, int field, char **scratch,
                         const char *s, size_t len)
{
    avro_value_t f, branch;
    if (avro_value_get_by_index(record, (size_t)ks->event[field], &f, NULL) != 0)
        return -1;
    if (s == NULL)
        return avro_value_set_branch(&f, ks->null_branch[field], &branch) != 0 ||
               avro_value_set_null(&branch) != 0;
    if (avro_value_set_branch(&f, ks->text_branch[field], &branch) != 0)
        return -1;
    return give_text(&branch, scratch, s, len);
}

/* Fills the encoder's value from req. scratch has room for every string plus NULs. */
static int fill_value(const known_schema *ks, avro_value_t *top, char *scratch,
                      const evs_append_request *req)
{
    avro_value_t f, events;
    char id[37];
#define FIELD(rec, ix) (avro_value_get_by_index((rec), (size_t)(ix), &f, NULL) == 0)
    evs_uuid_format(req->append_id, id);
    if (!FIELD(top, ks->top[TOP_APPEND_ID]) || give_text(&f, &scratch, id, 36) != 0 ||
        !FIELD(top, ks->top[TOP_STREAM]) ||
        give_text(&f, &scratch, req->stream, req->stream_len) != 0 ||
        !FIELD(top, ks->top[TOP_KIND]) ||
        avro_value_set_enum(&f, ks->kind_symbol[req->expected_kind & 3]) != 0 ||
        !FIELD(top, ks->top[TOP_VERSION]) ||
        avro_value_set_long(&f, (int64_t)req->expected_version) != 0 ||
        !FIELD(top, ks->top[TOP_OPERATION]) ||
        avro_value_set_enum(&f, ks->op_symbol[(unsigned)req->operation % EVS_OP_COUNT]) != 0 ||
        !FIELD(top, ks->top[TOP_TRUNCATE_BEFORE]) ||
        avro_value_set_long(&f, (int64_t)req->truncate_before) != 0 ||
        !FIELD(top, ks->top[TOP_MAX_COUNT]) ||
        avro_value_set_long(&f, (int64_t)req->max_count) != 0 ||
        !FIELD(top, ks->top[TOP_MAX_AGE]) ||
        avro_value_set_long(&f, (int64_t)req->max_age_ms) != 0 ||
        avro_value_get_by_index(top, (size_t)ks->top[TOP_EVENTS], &events, NULL) != 0)
        return -1;
    for (size_t i = 0; i < req->event_count; i++) {
        const evs_record_event *e = &req->events[i];
        avro_value_t ev;
        const int *ix = ks->event;
        if (avro_value_append(&events, &ev, NULL) != 0)
            return -1;
        evs_uuid_format(e->event_id, id);
        if (!FIELD(&ev, ix[EV_EVENT_ID]) || give_text(&f, &scratch, id, 36) != 0 ||
            !FIELD(&ev, ix[EV_TYPE]) || give_text(&f, &scratch, e->type, e->type_len) != 0 ||
            !FIELD(&ev, ix[EV_CONTENT_TYPE]) ||
            give_text(&f, &scratch, e->content_type, e->content_type_len) != 0 ||
            !FIELD(&ev, ix[EV_DATA]) || give_blob(&f, e->data, e->data_len) != 0 ||
            !FIELD(&ev, ix[EV_METADATA]) || give_blob(&f, e->metadata, e->metadata_len) != 0 ||
            give_optional(ks, &ev, EV_CORRELATION_ID, &scratch, e->correlation_id,
                          e->correlation_id_len) != 0 ||
            give_optional(ks, &ev, EV_CAUSATION_ID, &scratch, e->causation_id,
                          e->causation_id_len) != 0 ||
            !FIELD(&ev, ix[EV_CREATED]) || avro_value_set_long(&f, e->created_us) != 0)
            return -1;
        /* Sealing: key_id and data_nonce exactly with a subject, metadata_nonce with
         * metadata_sealed (record_codec.h); a decoded record's mismatch flags flip the
         * first two, so that it encodes back as it was and validates the same. */
        int sealed = e->subject != NULL;
        int has_key_id = sealed != (e->key_id_mismatch != 0);
        int has_nonce = sealed != (e->data_nonce_mismatch != 0);
        evs_uuid_format(e->key_id, id);
        if (give_optional(ks, &ev, EV_SUBJECT, &scratch, e->subject, e->subject_len) != 0 ||
            give_optional(ks, &ev, EV_KEY_ID, &scratch, has_key_id ? id : NULL, 36) != 0 ||
            !FIELD(&ev, ix[EV_DATA_NONCE]) ||
            give_blob(&f, e->data_nonce, has_nonce ? EVS_SEAL_NONCE_BYTES : 0) != 0 ||
            !FIELD(&ev, ix[EV_METADATA_NONCE]) ||
            give_blob(&f, e->metadata_nonce, e->metadata_sealed ? EVS_SEAL_NONCE_BYTES : 0) != 0)
            return -1;
    }
#undef FIELD
    return 0;
}

int evs_record_encode(const evs_append_request *req, evs_buf *out)
{
    codec_init();
    known_schema *ks = current;
    int rc = EVS_RECORD_ENOMEM;

    /* Room for the NUL-terminated copies fill_value makes of every string. */
    size_t scratch = 2 * (EVS_UUID_TEXT_LEN + 1) + req->stream_len + 1;
    for (size_t i = 0; i < req->event_count; i++) {
        const evs_record_event *e = &req->events[i];
        scratch += EVS_UUID_TEXT_LEN + 1 + e->type_len + 1 + e->content_type_len + 1 +
                   e->correlation_id_len + 1 + e->causation_id_len + 1 + e->subject_len + 1 +
                   EVS_UUID_TEXT_LEN + 1;
    }
    avro_slot *s = slot_take(ks);
    if (s == NULL)
        return EVS_RECORD_ENOMEM;
    if (s->scratch_cap < scratch) {
        char *p = realloc(s->scratch, scratch);
        if (p == NULL)
            goto done;
        s->scratch = p;
        s->scratch_cap = scratch;
    }
    size_t size;
    avro_value_reset(&s->value);
    if (fill_value(ks, &s->value, s->scratch, req) != 0 ||
        avro_value_sizeof(&s->value, &size) != 0 ||
        buf_reserve(out, EVS_RECORD_HEADER_LEN + size) != 0)
        goto done;
    out->data[0] = EVS_RECORD_MAGIC0;
    out->data[1] = EVS_RECORD_MAGIC1;
    for (int i = 0; i < 8; i++)
        out->data[2 + i] = (uint8_t)(ks->fingerprint >> (8 * i));
    avro_writer_memory_set_dest(s->writer, (const char *)out->data + EVS_RECORD_HEADER_LEN,
                                (int64_t)size);
    if (avro_value_write(s->writer, &s->value) != 0 || avro_writer_tell(s->writer) != (int64_t)size)
        goto done;
    out->len = EVS_RECORD_HEADER_LEN + size;
    rc = EVS_RECORD_OK;
done:
    avro_value_reset(&s->value); /* forget the caller's buffers */
    slot_give(ks, s);
    return rc;
}
