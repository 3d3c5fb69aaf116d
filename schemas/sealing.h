/*
 * sealing.h - the cryptography of crypto-shredding (design.md, "Lifecycle and erasure"):
 * master keys, one data key per data subject sealed by a master key, and event payloads
 * sealed by a data key. Forgetting a subject destroys its data keys (tombstones in the key
 * topic, key_codec.h); its events then no longer open anywhere.
 *
 * One construction everywhere, libsodium's XChaCha20-Poly1305-IETF AEAD: a 32-byte key, a
 * 24-byte nonce drawn at random for every seal (random nonces of this size do not collide
 * in practice, so no counter has to be kept across processes), a 16-byte tag after the
 * ciphertext. What is sealed with what:
 *
 *   master key   32 random bytes, read from a file of 64 hex digits and an optional "\n",
 *                mode 0600 (group and others may do nothing with it). Its id is the first
 *                8 bytes of BLAKE2b-256 (crypto_generichash, 32-byte output, no key) of the
 *                32 bytes, as 16 lowercase hex digits: records name the master key that
 *                sealed them without revealing it.
 *   data key     32 random bytes and an id, a random UUID v4. Sealed by a master key:
 *                  ciphertext = key (32) + tag (16) = EVS_SEALED_KEY_BYTES
 *                  associated data = key id (16 bytes) then the subject's bytes
 *                so a sealed key opens only under the subject and id it was sealed for: it
 *                cannot be copied to another subject's record or renamed.
 *   payload      an event's data or metadata, sealed by its subject's data key:
 *                  ciphertext = plain length + 16 (EVS_SEAL_TAG_BYTES)
 *                  associated data = event id (16 bytes) then one byte, the part (0 data,
 *                  1 metadata)
 *                so a ciphertext cannot be replayed onto another event or swapped between
 *                an event's data and its metadata. The nonce is returned beside the
 *                ciphertext; the record format stores both.
 *
 * Failures: 0 is success, errors are negative evs_seal_error codes (evs_seal_strerror).
 * EVS_SEAL_EAUTH means a ciphertext did not authenticate: the wrong key, or bytes that were
 * changed, cut, or moved to another subject, key id, event or part. Nothing is output then
 * (no partial plaintext). The master-key file functions also write a message for the user
 * into err.
 *
 * Secrets: the key structs hold key bytes in place; whoever owns one wipes it with
 * evs_master_key_wipe / evs_data_key_wipe (sodium_memzero) when done. This module wipes
 * every temporary copy it makes. Plaintext written into an evs_buf is the caller's to wipe.
 *
 * Thread safety: every function may be called from any number of threads at once
 * (sodium_init runs once, on first use, under pthread_once).
 */
#ifndef EVS_SEALING_H
#define EVS_SEALING_H

#include <stddef.h>
#include <stdint.h>

#include "evstore_limits.h"
#include "record_codec.h" /* evs_buf */

#define EVS_SEAL_KEY_BYTES 32   /* master and data keys */
#define EVS_SEAL_NONCE_BYTES 24 /* XChaCha20-Poly1305-IETF */
#define EVS_SEAL_TAG_BYTES 16   /* Poly1305 */
#define EVS_SEALED_KEY_BYTES (EVS_SEAL_KEY_BYTES + EVS_SEAL_TAG_BYTES)
#define EVS_KEY_ID_BYTES 16        /* a data key's id: a UUID v4 */
#define EVS_MASTER_KEY_ID_LEN 16   /* a master key's id: 16 hex digits, without the NUL */
#define EVS_EVENT_ID_BYTES 16      /* an event id (a UUID), bound into payload ciphertexts */
/* A subject: 1..200 bytes of [A-Za-z0-9_.:@-], the rules of stream names
 * (evs_stream_name_valid). It never holds '/' or 0x00, so "<subject>/<key id>" keys are
 * unambiguous. */
#define EVS_SUBJECT_MAX 200
/* The largest plaintext evs_seal_payload takes: the largest event data (evstore_limits.h). */
#define EVS_SEAL_PAYLOAD_MAX EVS_EVENT_DATA_MAX

typedef enum evs_seal_error {
    EVS_SEAL_OK = 0,
    EVS_SEAL_EINVAL = -1,  /* an argument breaks a rule: an invalid subject, part or size */
    EVS_SEAL_EAUTH = -2,   /* a ciphertext did not authenticate (wrong key or tampering) */
    EVS_SEAL_EMASTER = -3, /* the sealed key names another master key than the one given */
    EVS_SEAL_EFILE = -4,   /* the master-key file cannot be opened, read or written */
    EVS_SEAL_EFORMAT = -5, /* the master-key file is not 64 hex digits and a newline */
    EVS_SEAL_EMODE = -6,   /* the master-key file is open to group or others */
    EVS_SEAL_ENOMEM = -7,
    EVS_SEAL_EINIT = -8, /* libsodium could not be initialised */
} evs_seal_error;

/* The parts of an event a payload seal binds to (its associated data's last byte). */
typedef enum evs_payload_part {
    EVS_PAYLOAD_DATA = 0,
    EVS_PAYLOAD_METADATA = 1,
} evs_payload_part;

typedef struct evs_master_key {
    uint8_t key[EVS_SEAL_KEY_BYTES];    /* secret */
    char id[EVS_MASTER_KEY_ID_LEN + 1]; /* lowercase hex, NUL-terminated */
} evs_master_key;

typedef struct evs_data_key {
    uint8_t key[EVS_SEAL_KEY_BYTES]; /* secret */
    uint8_t id[EVS_KEY_ID_BYTES];    /* UUID v4 */
} evs_data_key;

/* A data key sealed by a master key: everything of the key record but its subject and its
 * time (key_codec.h). Not secret. */
typedef struct evs_sealed_key {
    char master_key_id[EVS_MASTER_KEY_ID_LEN + 1];
    uint8_t key_id[EVS_KEY_ID_BYTES];
    uint8_t nonce[EVS_SEAL_NONCE_BYTES];
    uint8_t sealed[EVS_SEALED_KEY_BYTES];
} evs_sealed_key;

/* A short sentence naming an evs_seal_error code. Static storage. */
const char *evs_seal_strerror(int code);

/* Whether subject[0..len) is a valid subject (EVS_SUBJECT_MAX). */
int evs_subject_valid(const char *subject, size_t len);

/* ---- Master keys --------------------------------------------------------------------- */

/* Reads the master key from the file at path into *out. The file must be a regular file
 * with no permission for group or others (else EVS_SEAL_EMODE, the message says to chmod
 * 600 it) holding exactly 64 hex digits, either case, and an optional "\n" (else
 * EVS_SEAL_EFORMAT). Returns 0, or a negative code with err naming the file and the
 * problem; the key's bytes never appear in a message. */
int evs_master_key_load(const char *path, evs_master_key *out, char *err, size_t err_len);

/* Makes a new random master key and writes it to a new file at path (mode 0600, 64
 * lowercase hex digits and "\n", flushed to disk). Refuses a path that exists: overwriting a
 * master key would make every data key it sealed unreadable. Fills *out when out is not
 * NULL. Returns 0, or a negative code with err naming the file and the problem (a file
 * left half-written is removed). */
int evs_master_key_generate_file(const char *path, evs_master_key *out, char *err,
                                 size_t err_len);

/* Sets *out to the master key of the 32 bytes key, and computes its id. Returns 0 or
 * EVS_SEAL_EINIT. */
int evs_master_key_from_bytes(const uint8_t key[EVS_SEAL_KEY_BYTES], evs_master_key *out);

void evs_master_key_wipe(evs_master_key *mk);

/* ---- Data keys ----------------------------------------------------------------------- */

/* A new data key: 32 random bytes, and a random UUID v4 as its id. Returns 0 or
 * EVS_SEAL_EINIT. */
int evs_data_key_new(evs_data_key *out);

/* Seals dk for subject[0..subject_len) with mk into *out (a fresh random nonce). Returns 0,
 * or EVS_SEAL_EINVAL for an invalid subject. */
int evs_data_key_seal(const evs_master_key *mk, const char *subject, size_t subject_len,
                      const evs_data_key *dk, evs_sealed_key *out);

/* Opens a key sealed for subject[0..subject_len) with mk into *out. Returns 0;
 * EVS_SEAL_EMASTER when sealed names another master key than mk (nothing is tried);
 * EVS_SEAL_EAUTH when it does not authenticate (another master key with a forged id, a
 * changed byte, another subject or key id); EVS_SEAL_EINVAL for an invalid subject. *out is
 * wiped on failure. */
int evs_data_key_unseal(const evs_master_key *mk, const char *subject, size_t subject_len,
                        const evs_sealed_key *sealed, evs_data_key *out);

void evs_data_key_wipe(evs_data_key *dk);

/* ---- Payloads ------------------------------------------------------------------------ */

/* Seals plain[0..len) (at most EVS_SEAL_PAYLOAD_MAX bytes; plain may be NULL when len is 0)
 * as part `part` of event event_id with dk: out_cipher's contents are replaced by the len +
 * EVS_SEAL_TAG_BYTES bytes of ciphertext, and nonce_out receives the fresh nonce. Returns
 * 0, EVS_SEAL_EINVAL (part, size) or EVS_SEAL_ENOMEM. */
int evs_seal_payload(const evs_data_key *dk, const uint8_t event_id[EVS_EVENT_ID_BYTES],
                     int part, const uint8_t *plain, size_t len, evs_buf *out_cipher,
                     uint8_t nonce_out[EVS_SEAL_NONCE_BYTES]);

/* Opens cipher[0..len) sealed as part `part` of event event_id with dk and nonce: out_plain's
 * contents are replaced by the len - EVS_SEAL_TAG_BYTES bytes of plaintext. Returns 0,
 * EVS_SEAL_EAUTH (the wrong key, event or part, a changed or cut ciphertext; out_plain is
 * then empty), EVS_SEAL_EINVAL (part, size) or EVS_SEAL_ENOMEM. */
int evs_open_payload(const evs_data_key *dk, const uint8_t event_id[EVS_EVENT_ID_BYTES],
                     int part, const uint8_t *cipher, size_t len,
                     const uint8_t nonce[EVS_SEAL_NONCE_BYTES], evs_buf *out_plain);

#endif /* EVS_SEALING_H */
