/*
 * subject_keys.h - personal data in libevstore (evstore.h, "Personal data"): the client's
 * cache of data keys, the answer of POST /keys/{subject} opened into a data key, and the
 * sealing of an append request's events. Private to the library.
 *
 * The cache holds at most EVS__KEY_CACHE_SUBJECTS subjects' data keys, each in place in one
 * slot of an array; putting a new subject into a full cache drops the oldest put (its key
 * wiped). Every function may be called from any number of threads at once (one mutex).
 * Keys handed out are copies: the caller wipes them (evs_data_key_wipe) when done.
 */
#ifndef EVS_SUBJECT_KEYS_H
#define EVS_SUBJECT_KEYS_H

#include <stddef.h>

#include "evstore.h"
#include "record_codec.h"
#include "sealing.h"

#define EVS__KEY_CACHE_SUBJECTS 1024
/* How long a cached data key is used before it is fetched again (subject_keys.c, S4). */
#define EVS__KEY_CACHE_TTL_MS 60000

typedef struct evs_key_cache evs_key_cache;

/* A cache of at most capacity subjects (1..EVS__KEY_CACHE_SUBJECTS); NULL when memory ran
 * out. */
evs_key_cache *evs__key_cache_new(size_t capacity);

/* Wipes every key and frees the cache. NULL is allowed. */
void evs__key_cache_free(evs_key_cache *cache);

/* Copies the data key of subject[0..len) into *out and returns 1, or returns 0 (and *out
 * is untouched) when the cache does not hold it. */
int evs__key_cache_get(evs_key_cache *cache, const char *subject, size_t len,
                       evs_data_key *out);

/* Puts (or replaces) the data key of subject[0..len), dropping the oldest subject when the
 * cache is full. A subject longer than EVS_SUBJECT_MAX is ignored. */
void evs__key_cache_put(evs_key_cache *cache, const char *subject, size_t len,
                        const evs_data_key *key);

/* Drops subject[0..len), wiping its key. Returns 1 if the cache held it, else 0. */
int evs__key_cache_drop(evs_key_cache *cache, const char *subject, size_t len);

/* How many subjects the cache holds. */
size_t evs__key_cache_count(evs_key_cache *cache);

/* Opens a 200 or 201 answer of POST /keys/{subject} (body[0..body_len), the JSON
 *   {"subject","key_id","master_key_id","nonce","sealed_key","created_us"})
 * for subject[0..len) with master key mk into *out. Returns 0; EVS_EINVAL when the answer's
 * master key is not mk; EVS_EPROTOCOL when the answer is malformed, names another subject,
 * or its sealed key does not open (with mk's id: a changed key). Sets the last error. *out
 * is wiped on failure. */
int evs__subject_key_from_json(const evs_master_key *mk, const char *subject, size_t len,
                               const char *body, size_t body_len, evs_data_key *out);

/* Seals event e (its data, and its metadata when seal_metadata and metadata_len > 0) with
 * dk, the data key of subject[0..subject_len), bound to e->event_id: the ciphertexts are
 * written into data_out and metadata_out (their contents replaced; the caller frees them
 * once e is encoded) and e points at them, with subject, key_id, data_nonce, and
 * metadata_sealed and metadata_nonce set. The plaintext e pointed at is only read. Returns
 * 0, or EVS_EINVAL (an invalid subject, data too large) or EVS_ENOMEM with the last error
 * set; e is unchanged then. */
int evs__event_seal(evs_record_event *e, const char *subject, size_t subject_len,
                    int seal_metadata, const evs_data_key *dk, evs_buf *data_out,
                    evs_buf *metadata_out);

/* The data key of subject[0..len) for client: from its cache, else from the home
 * projector (POST /keys/{subject}, which makes the subject's key when it has none), opened
 * with the client's master key and put into the cache. Returns 0 with *out to wipe, or
 * EVS_EINVAL (no master key in the client, an invalid subject, the projector's master key
 * is another), EVS_EUNAVAILABLE (no projector answered, or it has no master key or no
 * /keys route), EVS_EAUTH, EVS_EPROTOCOL; sets the last error. */
int evs__subject_key(evs_client *client, const char *subject, size_t len, evs_data_key *out);

/* Seals every event of req whose evs_event_data (events[i], req->events[i] built from it)
 * has a subject, with that subject's key (evs__subject_key), into buffers[2i] (data) and
 * buffers[2i + 1] (metadata): 2 * req->event_count zeroed evs_bufs, which the caller frees
 * after encoding. Returns 0 or the first failure, naming the event. */
int evs__request_seal(evs_client *client, evs_append_request *req, const evs_event_data *events,
                      evs_buf *buffers);

#endif /* EVS_SUBJECT_KEYS_H */
