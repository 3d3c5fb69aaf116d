/*
 * keyring.h - the data keys of crypto-shredding (docs/ARCHITECTURE.md, "Erasure"): the key
 * topic applied into the store, keys made and destroyed, and personal data opened on reads.
 *
 * An event that is personal data names a subject and one of its data keys, and its data
 * (and metadata, when the writer asked) is sealed by that key (schemas/sealing.h). Keys are
 * records of the key topic, "<events topic>.keys": one partition, compacted, each record
 * keyed "<subject>/<key id>" and holding the data key sealed by a master key
 * (schemas/key_codec.h). Forgetting a subject is a tombstone under each of its keys.
 *
 * Invariants:
 *  K1. The store's key table ('K', index/store.h) is what a prefix of the key topic says,
 *      applied in order by one thread, each record with the topic's next offset in one
 *      write. A tombstone deletes the key, and a compaction of the key table follows on a
 *      thread of its own (so the key's bytes leave the store's files within a few seconds,
 *      without holding up the applier); a record for a key id the table already has
 *      changes nothing (a key never changes).
 *  K2. A subject's key is its first: of the subject's records in the table, the one at the
 *      lowest key-topic offset. Every replica reads the same topic in the same order, so
 *      every replica picks the same one. evs_keyring_create produces a new key only when
 *      the subject has none, then waits until its record is applied and answers the winner
 *      (its own, or one another projector produced first).
 *  K3. The applier's barrier (evs_keyring_ready): an append whose events name a key is
 *      made visible only once that key is in the table, or the key topic has been read up
 *      to its end as of after the append was read and the key is still not there (it was
 *      destroyed, or never existed). Writers produce a key before any event sealed by it,
 *      so a replica that lags on the key topic delays the event rather than showing it
 *      erased for a while. The key ids found missing are remembered (a small cache), so a
 *      rebuild over a forgotten subject's events waits for the key topic once per key, not
 *      once per event.
 *  K4. Reads open personal data with the master key (--master-key); without it, or for a
 *      key it did not seal, events read as sealed (no data). An event whose key is not in
 *      the table reads as erased. Plaintext exists only in the answer being built and is
 *      wiped after.
 */
#ifndef EVS_KEYRING_H
#define EVS_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#include "index/store.h"
#include "judge/projector.h"
#include "key_codec.h"
#include "sealing.h"

/* How long evs_keyring_create and evs_keyring_forget wait for Kafka and the applier. */
#define EVS_KEYRING_WAIT_MS 15000

typedef struct evs_keyring evs_keyring;

/* Creates the key topic when missing, loads the master key (master_key_file NULL: none;
 * reads then show personal data as sealed, and no key can be made here), starts the applier
 * and waits until it has read the topic to its end; sets p->keyring. Returns 0, or -1 with
 * the reason in err. */
int evs_keyring_start(evs_projector *p, const char *master_key_file, char *err,
                      size_t err_len);
/* Stops the applier and frees everything; p->keyring NULL is allowed. */
void evs_keyring_stop(evs_projector *p);

/* Whether a master key was loaded, and its id (16 hex digits and a NUL) when it was. */
int evs_keyring_master_id(const evs_keyring *kr, char id_out[EVS_MASTER_KEY_ID_LEN + 1]);

/* Waits until the applier has read the key topic up to its end as of now. Returns 0, or -1
 * with the reason in err. */
int evs_keyring_sync(evs_keyring *kr, int timeout_ms, char *err, size_t err_len);

/* The applier's barrier K3 for one judged append (judge/apply.h, keys_ready): returns when
 * every key its events name is known present or known gone; 0, or -1 when the projector is
 * stopping. Waits (retrying) while Kafka cannot be reached. */
int evs_keyring_ready(void *keyring, const evs_append_request *req);

/* Every key record of subject, the winner (K2) first; *n is how many. out holds up to max.
 * Returns 0 or a negative errno. */
int evs_keyring_list(evs_keyring *kr, const char *subject, size_t len, evs_key_record *out,
                     size_t max, size_t *n);

/* K2: the subject's key, made here when it has none. *created is 1 when this call's key
 * won. Returns 0, or -1 with the reason in err (no master key: EVS_SEAL_EMASTER is put in
 * *code; Kafka or the wait failed: EVS_SEAL_EFILE). */
int evs_keyring_create(evs_keyring *kr, const char *subject, size_t len, evs_key_record *out,
                       int *created, int *code, char *err, size_t err_len);

/* Forgets a subject: a tombstone for every key of it, then waits until this projector has
 * applied them (every replica then compacts its key table, K1). ids receives up to max forgotten key
 * ids, *n how many there were. Returns 0, or -1 with the reason in err. */
int evs_keyring_forget(evs_keyring *kr, const char *subject, size_t len,
                       uint8_t (*ids)[EVS_KEY_ID_BYTES], size_t max, size_t *n, char *err,
                       size_t err_len);

/* What a read shows of a stored event. */
typedef enum evs_reveal {
    EVS_REVEAL_PLAIN = 0,  /* not personal data: as stored */
    EVS_REVEAL_OPENED = 1, /* personal data, opened with its key */
    EVS_REVEAL_ERASED = 2, /* its subject's key is gone: no data, ever again */
    EVS_REVEAL_SEALED = 3, /* this projector cannot open it (no master key, or another's) */
} evs_reveal;

/* Scratch space of evs_keyring_reveal: zero-initialise, reuse, free with
 * evs_reveal_buf_free (which wipes the plaintext). */
typedef struct evs_reveal_buf {
    evs_buf data;
    evs_buf metadata;
} evs_reveal_buf;
void evs_reveal_buf_free(evs_reveal_buf *buf);

/* Sets *out to *in with its data and metadata as a read shows them (K4): opened into buf,
 * or emptied when erased or sealed; out->reveal says which. kr NULL: no keyring (every
 * personal event reads as sealed). Returns out->reveal; -ENOMEM when memory ran out. */
int evs_keyring_reveal(evs_keyring *kr, const evs_stored_event *in, evs_stored_event *out,
                       evs_reveal_buf *buf);

/* Counters for GET /metrics and the status page. */
typedef struct evs_keyring_stats {
    uint64_t applied;    /* key-topic records applied */
    uint64_t tombstones; /* of which tombstones */
    uint64_t skipped;    /* records refused (K1: not a key record of its key) */
    uint64_t syncs;      /* barriers that had to read the topic to its end (K3) */
    uint64_t compactions; /* of the key table, after tombstones (K1) */
    int64_t next_offset; /* the key topic's next offset to apply */
} evs_keyring_stats;
void evs_keyring_stats_get(evs_keyring *kr, evs_keyring_stats *out);

#endif /* EVS_KEYRING_H */
