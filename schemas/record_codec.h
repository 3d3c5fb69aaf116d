/*
 * record_codec.h - the Avro codec of the records evstore writes to Kafka.
 *
 * Wire format of one events-topic record value (Avro single-object encoding):
 *   byte 0..1   0xC3 0x01                  marker
 *   byte 2..9   CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form,
 *               little-endian
 *   byte 10..   the Avro binary encoding of evstore.AppendRequest (schemas/, .avsc files)
 *
 * Decoding looks the fingerprint up among the schemas this build knows (every version in
 * schemas/, plus any registered with evs_record_register_schema), decodes the body with that
 * writer schema, and maps its fields by name onto the current record, filling defaults for
 * fields the writer did not have. avro-c cannot do that resolution itself.
 *
 * Ownership: a decoded evs_append_request owns all its memory (one arena); every pointer in
 * it stays valid until evs_append_request_free(). Strings are NOT NUL-terminated unless the
 * field comment says so; use the _len fields. (evs_record_decode does NUL-terminate every
 * string and byte field it returns, but a request built by a caller need not be.)
 *
 * Thread safety: every function here may be called from any number of threads at once.
 */
#ifndef EVS_RECORD_CODEC_H
#define EVS_RECORD_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "evstore_limits.h" /* evs_expected_kind, limits */

#ifdef __cplusplus
extern "C" {
#endif

#define EVS_RECORD_MAGIC0 0xC3
#define EVS_RECORD_MAGIC1 0x01
#define EVS_RECORD_HEADER_LEN 10

typedef struct evs_record_event {
    uint8_t event_id[16];
    const char *type;
    size_t type_len;
    const char *content_type;
    size_t content_type_len;
    const uint8_t *data;
    size_t data_len;
    const uint8_t *metadata; /* may be NULL when metadata_len is 0 */
    size_t metadata_len;
    const char *correlation_id; /* NULL if absent */
    size_t correlation_id_len;
    const char *causation_id; /* NULL if absent */
    size_t causation_id_len;
    int64_t created_us;
    /* Crypto-shredding (schema v3; sealing.h). subject NULL: the event is no one's personal
     * data and data and metadata are plain. Otherwise data is ciphertext sealed by the data
     * key key_id of the subject with data_nonce, and metadata is too when metadata_sealed
     * (with metadata_nonce). Records of older schemas decode with subject NULL. */
    const char *subject; /* NULL if absent */
    size_t subject_len;
    uint8_t key_id[16];         /* when subject is set */
    uint8_t data_nonce[24];     /* when subject is set */
    int metadata_sealed;        /* 1: metadata is ciphertext (only with a subject) */
    uint8_t metadata_nonce[24]; /* when metadata_sealed */
    /* Set only by evs_record_decode, 0 in a request a caller builds: the record's key_id
     * (resp. data_nonce) disagreed with its subject, i.e. was present without a subject or
     * absent (null, empty) with one. The encoder writes them exactly when subject is set,
     * flipped by these flags (so a decoded record encodes back as it was and validates the
     * same); only a foreign writer produces a mismatch, and evs_record_validate refuses
     * such an event. A decoded metadata_sealed is 1 exactly when metadata_nonce was 24 bytes; a
     * nonce of any length but 0 and 24 does not decode (EVS_RECORD_EMALFORMED). */
    uint8_t key_id_mismatch;
    uint8_t data_nonce_mismatch;
} evs_record_event;

/* What a record asks for (the schema's Operation enum, in its order). Everything but
 * EVS_OP_APPEND is a lifecycle command: it carries no events and is judged like an append
 * (docs/ARCHITECTURE.md, "Lifecycle"). */
typedef enum evs_operation {
    EVS_OP_APPEND = 0,      /* add the events */
    EVS_OP_DELETE = 1,      /* soft delete: reads as deleted until an append recreates it */
    EVS_OP_HARD_DELETE = 2, /* a tombstone: every later record for the stream is rejected */
    EVS_OP_TRUNCATE = 3,    /* remove the versions below truncate_before */
    EVS_OP_SET_LIMITS = 4,  /* keep at most max_count events, none older than max_age_ms */
} evs_operation;
#define EVS_OP_COUNT 5

typedef struct evs_append_request {
    uint8_t append_id[16];
    const char *stream;
    size_t stream_len;
    evs_expected_kind expected_kind;
    uint64_t expected_version; /* meaningful for EVS_EXPECT_EXACT only */
    evs_record_event *events;
    size_t event_count;         /* 0 for a lifecycle command */
    evs_operation operation;    /* EVS_OP_APPEND for records of schemas without it */
    uint64_t truncate_before;   /* EVS_OP_TRUNCATE: the first version kept */
    uint64_t max_count;         /* EVS_OP_SET_LIMITS: 0 = no count limit */
    uint64_t max_age_ms;        /* EVS_OP_SET_LIMITS: 0 = no age limit (log time) */
    void *arena_; /* private: the memory this request owns (NULL for caller-built ones) */
} evs_append_request;

/* A growable byte buffer. Zero-initialise, then free with evs_buf_free. */
typedef struct evs_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} evs_buf;
void evs_buf_free(evs_buf *buf);

/* Decode failures. Each is a reason the projector reports and skips a record by rule. */
enum evs_record_error {
    EVS_RECORD_OK = 0,
    EVS_RECORD_EMAGIC = -1,     /* not single-object encoded (no 0xC3 0x01 marker) */
    EVS_RECORD_ESCHEMA = -2,    /* fingerprint of a schema this build does not know */
    EVS_RECORD_EMALFORMED = -3, /* the body does not decode with the writer schema */
    EVS_RECORD_ETOO_LARGE = -4, /* longer than EVS_APPEND_BYTES_MAX */
    EVS_RECORD_ENOMEM = -5,
};

/* A short sentence naming an evs_record_error code. Static storage. */
const char *evs_record_strerror(int code);

/* Encodes req (with the current schema) into out, replacing its contents. The request is
 * NOT validated here: call evs_record_validate first. Returns 0 or EVS_RECORD_ENOMEM. */
int evs_record_encode(const evs_append_request *req, evs_buf *out);

/* Decodes one record value. On success *out must be freed with evs_append_request_free.
 * On failure sets *out to NULL, returns a negative evs_record_error and, if err is not NULL,
 * writes a message (NUL-terminated, truncated to err_len) naming the problem. Thread-safe.
 * A decoded request has well-formed UUIDs (key_id included), nonces of 0 or 24 bytes and
 * 0 <= expected_version <= INT64_MAX but is not otherwise checked against the limits: call
 * evs_record_validate on it (which also judges the sealing fields against the subject). */
int evs_record_decode(const void *value, size_t len, evs_append_request **out, char *err,
                      size_t err_len);

/* Internal, for the tests: evs_record_decode without its fast path for records of the
 * current schema, i.e. always schema_graph check + avro-c + field mapping. Same contract and,
 * on every input, the same result as evs_record_decode. */
int evs__record_decode_generic(const void *value, size_t len, evs_append_request **out, char *err,
                               size_t err_len);

/* Frees a decoded request. NULL and caller-built requests (arena_ NULL) are ignored. */
void evs_append_request_free(evs_append_request *req);

/* Checks a request against evstore_limits.h: stream name, types, sizes, counts, characters,
 * distinct event ids, expected kind and version, encoded size, and each event's sealing
 * fields (a subject by the rule of stream names; key_id and data_nonce with it only, see
 * key_id_mismatch; sealed metadata only with a subject; sealed data and metadata at least
 * the 16-byte AEAD tag); a lifecycle command has no events and only the fields of its
 * operation. Returns 0, or -1 with a
 * message in err naming the first problem (events numbered from 1, e.g. "event 3: type is
 * empty"). Does not encode. Uses only compile-time limits, so its verdict is a pure function
 * of the request (the projector relies on that). */
int evs_record_validate(const evs_append_request *req, char *err, size_t err_len);

/* The exact length evs_record_encode() produces for req, header included. Cheap (no
 * allocation, no encoding); evs_record_validate() compares it with EVS_APPEND_BYTES_MAX. */
size_t evs_record_encoded_size(const evs_append_request *req);

/* Name checks shared by the CLI, the C API and the projector's HTTP API. Return 1 if valid. */
int evs_stream_name_valid(const char *name, size_t len);
int evs_event_type_valid(const char *type, size_t len);

/* "append", "delete", "hard_delete", "truncate", "set_limits". */
const char *evs_operation_name(evs_operation op);

/* UUIDs: parse 36-char text (either case) into 16 bytes; format as lowercase text plus NUL
 * into out[37]. evs_uuid_parse returns 0 or -1. */
int evs_uuid_parse(const char *text, size_t len, uint8_t out[16]);
void evs_uuid_format(const uint8_t id[16], char out[37]);
/* A random (version 4) UUID; n of them, from one request to the kernel's random source. */
void evs_uuid_generate(uint8_t out[16]);
void evs_uuid_generate_n(uint8_t (*out)[16], size_t n);

/* The CRC-64-AVRO (Rabin) fingerprint of the current AppendRequest schema's Parsing
 * Canonical Form, as written in bytes 2..9 of every record this build encodes. */
uint64_t evs_record_fingerprint(void);

/* Computes the Parsing Canonical Form of a schema given as JSON text, and its fingerprint.
 * *canonical_out (may be NULL) is malloc'd and owned by the caller. Returns 0 or -1. */
int evs_schema_canonical(const char *schema_json, char **canonical_out, uint64_t *fingerprint);

/* Makes an additional writer schema (an older or newer AppendRequest) known to the decoder.
 * Used by the schema-evolution tests; every released schema version is built in from
 * schemas/. Returns 0 (also if the schema was already known) or -1 if the JSON is not a
 * valid Avro record schema named evstore.AppendRequest. A schema whose fields cannot be
 * mapped onto the current ones (a required field missing or of an incompatible type) is
 * accepted, and records written with it decode to EVS_RECORD_EMALFORMED naming the field. */
int evs_record_register_schema(const char *schema_json);

#ifdef __cplusplus
}
#endif
#endif /* EVS_RECORD_CODEC_H */
