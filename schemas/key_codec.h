/*
 * key_codec.h - the key topic's records (schemas/evstore.DataKey.avsc): the data keys of
 * crypto-shredding, each sealed by a master key (sealing.h).
 *
 * The key topic is <events topic>.keys (EVS_KEY_TOPIC_SUFFIX), compacted. A record's Kafka
 * key is "<subject>/<key id>" (the key id as a lowercase UUID), its value an evstore.DataKey
 * in Avro single-object encoding: 0xC3 0x01, the CRC-64-AVRO fingerprint of the schema's
 * Parsing Canonical Form (little-endian), then the Avro binary body (object_codec.h). A
 * tombstone (a null value) under a key destroys that data key: the subject is forgotten
 * once every key of it is.
 *
 * Both directions enforce the same rules: a valid subject (evs_subject_valid), a master key
 * id of 16 lowercase hex digits, created_us not negative; the decoder also needs a key id
 * in lowercase UUID text, a 24-byte nonce and a 48-byte sealed key, and refuses a record
 * whose Kafka key is not "<subject>/<key id>" of its own value, so a record can only set
 * the key it names. Anything refused is not half-filled.
 *
 * Thread safety: every function may be called from any number of threads at once.
 */
#ifndef EVS_KEY_CODEC_H
#define EVS_KEY_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "record_codec.h" /* evs_buf */
#include "sealing.h"

#define EVS_KEY_SCHEMA_FILE "evstore.DataKey.avsc"
#define EVS_KEY_TOPIC_SUFFIX ".keys"
/* The longest Kafka key of the key topic, without the NUL. */
#define EVS_KEY_RECORD_KEY_MAX (EVS_SUBJECT_MAX + 1 + EVS_UUID_TEXT_LEN)

/* One record of the key topic. */
typedef struct evs_key_record {
    char subject[EVS_SUBJECT_MAX + 1]; /* NUL-terminated */
    evs_sealed_key sealed;             /* which master key, key id, nonce, sealed bytes */
    int64_t created_us;                /* microseconds since the epoch */
} evs_key_record;

/* Writes the Kafka key "<subject>/<key id>" into key_out (EVS_KEY_RECORD_KEY_MAX + 1
 * bytes, NUL-terminated). Returns its length, or -1 for an invalid subject. */
int evs_key_record_key(const char *subject, size_t subject_len,
                       const uint8_t key_id[EVS_KEY_ID_BYTES], char *key_out);

/* Parses a Kafka key of the key topic (a tombstone's, say) into subject_out
 * (EVS_SUBJECT_MAX + 1 bytes, NUL-terminated) and key_id. Returns 0, or -1 when key is not
 * "<subject>/<lowercase UUID>". */
int evs_key_record_key_parse(const void *key, size_t key_len, char *subject_out,
                             uint8_t key_id[EVS_KEY_ID_BYTES]);

/* Encodes r into out (replacing its contents). Returns 0, or -1 when r breaks a rule of the
 * format or memory ran out. */
int evs_key_record_encode(const evs_key_record *r, evs_buf *out);

/* Decodes the record value[0..value_len) whose Kafka key is key[0..key_len) into *out.
 * Returns 0, or -1 with the reason in err (and *out zeroed). A tombstone (no value) is the
 * caller's to recognise before: it is refused here. */
int evs_key_record_decode(const void *key, size_t key_len, const void *value, size_t value_len,
                          evs_key_record *out, char *err, size_t err_len);

/* The fingerprint of evstore.DataKey. */
uint64_t evs_key_record_fingerprint(void);

#endif /* EVS_KEY_CODEC_H */
