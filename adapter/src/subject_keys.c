/*
 * subject_keys.c - personal data in libevstore (subject_keys.h; evstore.h, "Personal
 * data"): the data-key cache, getting a subject's key from the projector (POST
 * /keys/{subject}), sealing the events of an append, and forgetting a subject (DELETE
 * /keys/{subject}).
 *
 * Invariants:
 *   S1. A data key lives in a cache slot, or in a caller's evs_data_key that the caller
 *       wipes; every slot emptied (dropped, replaced, evicted, freed) is wiped first.
 *   S2. The cache's mutex is never held across I/O: a miss fetches without it, then puts.
 *       Two threads missing the same subject both ask; the projector answers both with the
 *       subject's one winning key, so they put the same key.
 *   S3. Sealing reads the caller's plaintext in place and writes only ciphertext: it makes
 *       no copy of the plaintext, so there is none to wipe.
 *   S4. A cached key is used for EVS__KEY_CACHE_TTL_MS after it was fetched, then fetched
 *       again. A subject forgotten through another client or projector is thus seen by
 *       this one within that time: events it seals meanwhile with the destroyed key read
 *       as erased (docs/ARCHITECTURE.md, "Erasure").
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base64_decode.h"
#include "client_internal.h"
#include "errors.h"
#include "event_json.h"
#include "evstore.h"
#include "subject_keys.h"

/* ---- The cache ----------------------------------------------------------------------- */

typedef struct key_slot {
    uint64_t stamp; /* when it was put (a counter); 0: the slot is empty */
    uint64_t hash;  /* of the subject (subject_hash): compared before the bytes */
    int64_t fetched_ms; /* CLOCK_MONOTONIC when it was put (S4) */
    size_t len;
    char subject[EVS_SUBJECT_MAX];
    evs_data_key key;
} key_slot;

struct evs_key_cache {
    pthread_mutex_t lock;
    uint64_t clock; /* the last stamp given */
    size_t capacity;
    size_t count;
    key_slot slots[];
};

evs_key_cache *evs__key_cache_new(size_t capacity)
{
    if (capacity < 1 || capacity > EVS__KEY_CACHE_SUBJECTS)
        return NULL;
    evs_key_cache *cache = calloc(1, sizeof *cache + capacity * sizeof(key_slot));
    if (!cache)
        return NULL;
    if (pthread_mutex_init(&cache->lock, NULL) != 0) {
        free(cache);
        return NULL;
    }
    cache->capacity = capacity;
    return cache;
}

static void slot_empty(evs_key_cache *cache, key_slot *slot) /* S1 */
{
    evs_data_key_wipe(&slot->key);
    memset(slot, 0, sizeof *slot);
    cache->count--;
}

void evs__key_cache_free(evs_key_cache *cache)
{
    if (!cache)
        return;
    for (size_t i = 0; i < cache->capacity; i++)
        evs_data_key_wipe(&cache->slots[i].key);
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}

/* The slot holding subject, or NULL. Under the lock. */
/* FNV-1a, 64 bits. */
static uint64_t subject_hash(const char *subject, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)subject[i]) * 1099511628211ULL;
    return h;
}

static key_slot *slot_find(evs_key_cache *cache, const char *subject, size_t len)
{
    uint64_t h = subject_hash(subject, len);
    for (size_t i = 0; i < cache->capacity; i++) {
        key_slot *slot = &cache->slots[i];
        if (slot->stamp && slot->hash == h && slot->len == len &&
            memcmp(slot->subject, subject, len) == 0)
            return slot;
    }
    return NULL;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int evs__key_cache_get(evs_key_cache *cache, const char *subject, size_t len, evs_data_key *out)
{
    pthread_mutex_lock(&cache->lock);
    key_slot *slot = slot_find(cache, subject, len);
    if (slot && mono_ms() - slot->fetched_ms >= EVS__KEY_CACHE_TTL_MS) {
        slot_empty(cache, slot); /* S4: ask again */
        slot = NULL;
    }
    if (slot)
        *out = slot->key;
    pthread_mutex_unlock(&cache->lock);
    return slot != NULL;
}

void evs__key_cache_put(evs_key_cache *cache, const char *subject, size_t len,
                        const evs_data_key *key)
{
    if (len == 0 || len > EVS_SUBJECT_MAX)
        return;
    pthread_mutex_lock(&cache->lock);
    key_slot *slot = slot_find(cache, subject, len);
    if (slot) {
        slot_empty(cache, slot); /* replaced: a forgotten subject's new key, say */
    } else {
        /* A free slot, else the oldest put (the smallest stamp). */
        key_slot *oldest = NULL;
        for (size_t i = 0; i < cache->capacity && !slot; i++) {
            key_slot *s = &cache->slots[i];
            if (!s->stamp)
                slot = s;
            else if (!oldest || s->stamp < oldest->stamp)
                oldest = s;
        }
        if (!slot) {
            slot = oldest;
            slot_empty(cache, slot);
        }
    }
    slot->stamp = ++cache->clock;
    slot->hash = subject_hash(subject, len);
    slot->fetched_ms = mono_ms();
    slot->len = len;
    memcpy(slot->subject, subject, len);
    slot->key = *key;
    cache->count++;
    pthread_mutex_unlock(&cache->lock);
}

int evs__key_cache_drop(evs_key_cache *cache, const char *subject, size_t len)
{
    pthread_mutex_lock(&cache->lock);
    key_slot *slot = slot_find(cache, subject, len);
    if (slot)
        slot_empty(cache, slot);
    pthread_mutex_unlock(&cache->lock);
    return slot != NULL;
}

size_t evs__key_cache_count(evs_key_cache *cache)
{
    pthread_mutex_lock(&cache->lock);
    size_t count = cache->count;
    pthread_mutex_unlock(&cache->lock);
    return count;
}

/* ---- A subject's key from the projector ------------------------------------------------ */

/* Decodes the base64 string member key of root into exactly len bytes at out; 0 or -1. */
static int base64_member(const json_t *root, const char *key, uint8_t *out, size_t len)
{
    const json_t *v = json_object_get(root, key);
    uint8_t buf[64];
    size_t n = 0;
    if (!json_is_string(v) || evs__base64_decoded_max(json_string_length(v)) > sizeof buf ||
        evs__base64_decode(json_string_value(v), json_string_length(v), buf, &n) != 0 ||
        n != len)
        return -1;
    memcpy(out, buf, len);
    return 0;
}

int evs__subject_key_from_json(const evs_master_key *mk, const char *subject, size_t len,
                               const char *body, size_t body_len, evs_data_key *out)
{
    int rc;
    json_error_t jerr;
    evs_sealed_key sealed;
    const char *bad = NULL;
    json_t *root = json_loadb(body, body_len, 0, &jerr);

    memset(out, 0, sizeof *out);
    memset(&sealed, 0, sizeof sealed);
    if (!json_is_object(root)) {
        rc = evs__set_error(EVS_EPROTOCOL, "the projector's key of subject %.*s is not a JSON "
                                           "object: %s",
                            (int)len, subject, root ? "wrong type" : jerr.text);
        goto done;
    }
    const json_t *answer_subject = json_object_get(root, "subject");
    const char *key_id = json_string_value(json_object_get(root, "key_id"));
    const char *master_key_id = json_string_value(json_object_get(root, "master_key_id"));
    if (!json_is_string(answer_subject) || json_string_length(answer_subject) != len ||
        memcmp(json_string_value(answer_subject), subject, len) != 0)
        bad = "subject";
    else if (!key_id || evs_uuid_parse(key_id, strlen(key_id), sealed.key_id) != 0)
        bad = "key_id";
    else if (!master_key_id || strlen(master_key_id) != EVS_MASTER_KEY_ID_LEN)
        bad = "master_key_id";
    else if (base64_member(root, "nonce", sealed.nonce, sizeof sealed.nonce) != 0)
        bad = "nonce";
    else if (base64_member(root, "sealed_key", sealed.sealed, sizeof sealed.sealed) != 0)
        bad = "sealed_key";
    if (bad) {
        rc = evs__set_error(EVS_EPROTOCOL,
                            "the projector's key of subject %.*s has a missing or malformed "
                            "\"%s\"",
                            (int)len, subject, bad);
        goto done;
    }
    if (strcmp(master_key_id, mk->id) != 0) {
        rc = evs__set_error(EVS_EINVAL,
                            "the projector's master key is not this client's: the key of "
                            "subject %.*s is sealed by master key %s, the client holds %s; "
                            "give the client the projector's master key file",
                            (int)len, subject, master_key_id, mk->id);
        goto done;
    }
    memcpy(sealed.master_key_id, master_key_id, EVS_MASTER_KEY_ID_LEN + 1);
    int seal_rc = evs_data_key_unseal(mk, subject, len, &sealed, out);
    if (seal_rc == EVS_SEAL_EMASTER)
        rc = evs__set_error(EVS_EINVAL, "the projector's master key is not this client's");
    else if (seal_rc != 0)
        rc = evs__set_error(EVS_EPROTOCOL,
                            "the projector's key of subject %.*s does not open with master "
                            "key %s: %s",
                            (int)len, subject, mk->id, evs_seal_strerror(seal_rc));
    else
        rc = 0;
done:
    json_decref(root);
    if (rc != 0)
        evs_data_key_wipe(out);
    return rc;
}

/* 0, or EVS_EINVAL naming the rule when subject[0..len) is not a valid subject. */
static int subject_check(const char *subject, size_t len)
{
    if (!evs_subject_valid(subject, len))
        return evs__set_error(EVS_EINVAL,
                              "invalid subject \"%.*s\": use 1 to %d characters of A-Z a-z 0-9 "
                              "_ . : @ -",
                              EVS_SUBJECT_MAX, subject, EVS_SUBJECT_MAX);
    return 0;
}

/* 1 when a 404 comes from a projector that has no /keys route at all. */
static int no_such_route(const evs_http_response *response)
{
    return response->status == 404 && response->body &&
           strstr(response->body, "no such endpoint") != NULL;
}

/* 1 when a 503 says the projector has no master key: {"error":"no_master_key"}, or
 * {"error": MESSAGE, "error_type": "no_master_key"}. */
static int no_master_key(const evs_http_response *response)
{
    if (response->status != 503)
        return 0;
    json_t *root = json_loadb(response->body, response->body_len, 0, NULL);
    const char *error = json_string_value(json_object_get(root, "error"));
    const char *type = json_string_value(json_object_get(root, "error_type"));
    int yes = (error && strcmp(error, "no_master_key") == 0) ||
              (type && strcmp(type, "no_master_key") == 0);
    json_decref(root);
    return yes;
}

int evs__subject_key(evs_client *client, const char *subject, size_t len, evs_data_key *out)
{
    int rc;
    evs_http_response response = {0};
    const evs_master_key *mk = evs__client_master_key(client);
    evs_key_cache *cache = evs__client_key_cache(client);

    if (!mk || !cache)
        return evs__set_error(EVS_EINVAL,
                              "an event of subject %.*s is personal data, and this client has "
                              "no master key to seal it with (evs_client_options."
                              "master_key_file, evstore --master-key)",
                              (int)len, subject);
    if ((rc = subject_check(subject, len)) != 0)
        return rc;
    if (evs__key_cache_get(cache, subject, len, out))
        return 0;
    char path[EVS_SUBJECT_MAX + 16];
    snprintf(path, sizeof path, "/keys/%.*s", (int)len, subject); /* S2: no lock held */
    rc = evs__client_home_request(client, "POST", path, NULL, 0,
                                  evs__client_request_timeout_ms(client), &response);
    if (rc != 0)
        goto done;
    char what[EVS_SUBJECT_MAX + 32];
    snprintf(what, sizeof what, "the key of subject %.*s", (int)len, subject);
    if (response.status == 200 || response.status == 201) {
        rc = evs__subject_key_from_json(mk, subject, len, response.body, response.body_len, out);
        if (rc == 0)
            evs__key_cache_put(cache, subject, len, out);
    } else if (no_master_key(&response)) {
        rc = evs__set_error(EVS_EUNAVAILABLE,
                            "the projector has no master key, so it keeps no data keys: start "
                            "it with --master-key (the client's master key, %s)",
                            mk->id);
    } else if (no_such_route(&response)) {
        rc = evs__set_error(EVS_EUNAVAILABLE,
                            "the projector does not keep data keys (no /keys route: an older "
                            "evstore-projector)");
    } else {
        rc = evs__http_error(response.status, response.body, response.body_len, what);
    }
done:
    evs__http_response_free(&response);
    return rc;
}

/* ---- Sealing ----------------------------------------------------------------------------- */

/* Sealing failures of evs_seal_payload as library codes. */
static int seal_error(int seal_rc, const char *part, size_t len)
{
    if (seal_rc == EVS_SEAL_ENOMEM)
        return evs__set_error(EVS_ENOMEM, "out of memory sealing %zu bytes of %s", len, part);
    return evs__set_error(seal_rc == EVS_SEAL_EINVAL ? EVS_EINVAL : EVS_EINTERNAL,
                          "cannot seal the %s (%zu bytes): %s", part, len,
                          evs_seal_strerror(seal_rc));
}

int evs__event_seal(evs_record_event *e, const char *subject, size_t subject_len,
                    int seal_metadata, const evs_data_key *dk, evs_buf *data_out,
                    evs_buf *metadata_out)
{
    int rc;
    uint8_t data_nonce[EVS_SEAL_NONCE_BYTES], metadata_nonce[EVS_SEAL_NONCE_BYTES];
    int sealing_metadata = seal_metadata && e->metadata_len > 0;

    if ((rc = subject_check(subject, subject_len)) != 0)
        return rc;
    /* S3: the plaintext is read where the caller keeps it. */
    rc = evs_seal_payload(dk, e->event_id, EVS_PAYLOAD_DATA, e->data, e->data_len, data_out,
                          data_nonce);
    if (rc != 0)
        return seal_error(rc, "data", e->data_len);
    if (sealing_metadata) {
        rc = evs_seal_payload(dk, e->event_id, EVS_PAYLOAD_METADATA, e->metadata, e->metadata_len,
                              metadata_out, metadata_nonce);
        if (rc != 0)
            return seal_error(rc, "metadata", e->metadata_len);
    }
    e->data = data_out->data;
    e->data_len = data_out->len;
    if (sealing_metadata) {
        e->metadata = metadata_out->data;
        e->metadata_len = metadata_out->len;
        e->metadata_sealed = 1;
        memcpy(e->metadata_nonce, metadata_nonce, sizeof e->metadata_nonce);
    }
    e->subject = subject;
    e->subject_len = subject_len;
    memcpy(e->key_id, dk->id, sizeof e->key_id);
    memcpy(e->data_nonce, data_nonce, sizeof e->data_nonce);
    return 0;
}

int evs__request_seal(evs_client *client, evs_append_request *req, const evs_event_data *events,
                      evs_buf *buffers)
{
    evs_data_key dk;
    const char *have = NULL; /* the subject dk is the key of: the events of an append are
                                mostly one subject's, so it is looked up once */
    size_t have_len = 0;
    int rc = 0;
    for (size_t i = 0; i < req->event_count && rc == 0; i++) {
        const char *subject = events[i].subject;
        if (!subject)
            continue;
        size_t len = strlen(subject);
        if (!have || have_len != len || memcmp(have, subject, len) != 0) {
            if (have)
                evs_data_key_wipe(&dk); /* S1 */
            have = NULL;
            rc = evs__subject_key(client, subject, len, &dk);
            if (rc == 0) {
                have = subject;
                have_len = len;
            }
        }
        if (rc == 0)
            rc = evs__event_seal(&req->events[i], subject, len, events[i].seal_metadata, &dk,
                                 &buffers[2 * i], &buffers[2 * i + 1]);
        if (rc != 0) {
            if (have)
                evs_data_key_wipe(&dk);
            char cause[EVS__ERROR_MAX];
            snprintf(cause, sizeof cause, "%s", evs_last_error());
            return evs__set_error(rc, "append to stream %.*s: event %zu: %s; nothing was "
                                      "written",
                                  (int)req->stream_len, req->stream, i + 1, cause);
        }
    }
    if (have)
        evs_data_key_wipe(&dk); /* S1 */
    return 0;
}

/* ---- Forgetting ---------------------------------------------------------------------------- */

/* DELETE /keys/{subject}: *keys_destroyed and *json_out (each may be NULL) receive the
 * number of ids and the answer. fn names the public call. */
static int forget(const char *fn, evs_client *client, const char *subject, size_t *keys_destroyed,
                  char **json_out)
{
    int rc;
    json_t *root = NULL;
    evs_http_response response = {0};

    if (keys_destroyed)
        *keys_destroyed = 0;
    if (json_out)
        *json_out = NULL;
    if (!client || !subject)
        return evs__set_error(EVS_EINVAL, "%s: %s is NULL", fn, client ? "subject" : "client");
    size_t len = strlen(subject);
    if ((rc = subject_check(subject, len)) != 0)
        return rc;
    /* Dropped before (no seal of this client uses the key while it is being destroyed) and
     * after (a key fetched meanwhile). */
    evs_key_cache *cache = evs__client_key_cache(client);
    if (cache)
        evs__key_cache_drop(cache, subject, len);
    char path[EVS_SUBJECT_MAX + 16];
    snprintf(path, sizeof path, "/keys/%s", subject);
    rc = evs__client_home_request(client, "DELETE", path, NULL, 0,
                                  evs__client_request_timeout_ms(client), &response);
    if (cache)
        evs__key_cache_drop(cache, subject, len);
    if (rc != 0)
        goto done;
    char what[EVS_SUBJECT_MAX + 32];
    snprintf(what, sizeof what, "forgetting subject %s", subject);
    if (no_such_route(&response)) {
        rc = evs__set_error(EVS_EUNAVAILABLE,
                            "the projector does not keep data keys (no /keys route: an older "
                            "evstore-projector); nothing was forgotten");
        goto done;
    }
    if (response.status != 200) {
        rc = evs__http_error(response.status, response.body, response.body_len, what);
        goto done;
    }
    root = json_loadb(response.body, response.body_len, 0, NULL);
    json_t *forgotten = json_object_get(root, "forgotten");
    if (!json_is_array(forgotten)) {
        rc = evs__set_error(EVS_EPROTOCOL,
                            "the projector's answer to %s has no \"forgotten\" array: %.200s",
                            what, response.body);
        goto done;
    }
    if (keys_destroyed)
        *keys_destroyed = json_array_size(forgotten);
    if (json_out) {
        *json_out = response.body; /* NUL-terminated; ownership passes to the caller */
        response.body = NULL;
    }
    rc = 0;
done:
    json_decref(root);
    evs__http_response_free(&response);
    return rc;
}

int evs_subject_forget(evs_client *client, const char *subject, size_t *keys_destroyed)
{
    return forget("evs_subject_forget", client, subject, keys_destroyed, NULL);
}

int evs_subject_forget_json(evs_client *client, const char *subject, char **json_out)
{
    if (!json_out)
        return evs__set_error(EVS_EINVAL, "evs_subject_forget_json: json_out is NULL");
    return forget("evs_subject_forget_json", client, subject, NULL, json_out);
}

/* ---- Master keys ----------------------------------------------------------------------------- */

int evs_master_key_create(const char *path, char *id_out)
{
    char err[512];
    evs_master_key mk;
    memset(&mk, 0, sizeof mk);
    if (id_out)
        id_out[0] = '\0';
    if (!path || !path[0])
        return evs__set_error(EVS_EINVAL, "evs_master_key_create: %s",
                              path ? "the path is empty" : "path is NULL");
    int rc = evs_master_key_generate_file(path, &mk, err, sizeof err);
    if (rc == 0 && id_out)
        memcpy(id_out, mk.id, EVS_MASTER_KEY_ID_LEN + 1);
    evs_master_key_wipe(&mk);
    if (rc == 0)
        return 0;
    if (rc == EVS_SEAL_EINIT)
        return evs__set_error(EVS_EINTERNAL, "%s", err);
    if (rc == EVS_SEAL_ENOMEM)
        return evs__set_error(EVS_ENOMEM, "%s", err);
    return evs__set_error(EVS_EINVAL, "%s", err);
}
