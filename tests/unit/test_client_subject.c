/*
 * test_client_subject.c - personal data in libevstore (evstore.h, "Personal data";
 * adapter/src/subject_keys.c): the data-key cache, a subject's key from the projector's
 * POST /keys answer, sealing an event of an append request, forgetting a subject, and the
 * subject and erased flag of read results, against a fake projector (test_http_server.h).
 *
 * What it pins down:
 *  - the cache gives back what was put, drops what is forgotten, and evicts the oldest put
 *    when full;
 *  - a POST /keys answer opens with the client's master key to the key the projector
 *    sealed; a key sealed by another master key is EVS_EINVAL ("the projector's master key
 *    is not this client's"), a malformed or tampered one EVS_EPROTOCOL;
 *  - a sealed event's data (and metadata with seal_metadata) open with evs_open_payload to
 *    the original, bound to the event id and part; the record names subject, key id and
 *    nonces; without seal_metadata the metadata stays plain;
 *  - the client asks POST /keys/{subject} once per subject and then uses its cache;
 *    evs_subject_forget sends DELETE /keys/{subject}, counts the "forgotten" ids and drops
 *    the subject from the cache; a projector without a master key is EVS_EUNAVAILABLE;
 *  - an event with a subject on a client without a master key is EVS_EINVAL and asks
 *    nothing of anyone; so are an invalid subject and seal_metadata without a subject;
 *  - a master key file that is missing or open to others fails evs_client_open;
 *  - read results carry "subject", "erased" and "sealed", from JSON and binary pages.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "client_internal.h"
#include "errors.h"
#include "event_json.h"
#include "event_page.h"
#include "evstore.h"
#include "page_codec.h"
#include "record_codec.h"
#include "sealing.h"
#include "subject_keys.h"
#include "test_http_server.h"

#define KEY_ID_TEXT "0b6f3c1e-7d2a-4e5f-9a8b-c1d2e3f4a5b6"

/* ---- Helpers ---------------------------------------------------------------------------- */

static void base64(const uint8_t *in, size_t len, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? abc[v & 63] : '=';
    }
    out[o] = '\0';
}

/* The POST /keys answer for dk of subject sealed by mk. */
static void key_answer(const evs_master_key *mk, const char *subject, const evs_data_key *dk,
                       char *out, size_t out_len)
{
    evs_sealed_key sealed;
    assert_int_equal(evs_data_key_seal(mk, subject, strlen(subject), dk, &sealed), 0);
    char id[37], nonce[64], sealed_text[96];
    evs_uuid_format(sealed.key_id, id);
    base64(sealed.nonce, sizeof sealed.nonce, nonce);
    base64(sealed.sealed, sizeof sealed.sealed, sealed_text);
    snprintf(out, out_len,
             "{\"subject\":\"%s\",\"key_id\":\"%s\",\"master_key_id\":\"%s\",\"nonce\":\"%s\","
             "\"sealed_key\":\"%s\",\"created_us\":1700000000000000}",
             subject, id, sealed.master_key_id, nonce, sealed_text);
}

static char tmp_dir[64];

static void tmp_path(const char *name, char *out, size_t out_len)
{
    snprintf(out, out_len, "%s/%s", tmp_dir, name);
}

/* ---- The cache ---------------------------------------------------------------------------- */

static void test_cache(void **state)
{
    (void)state;
    evs_key_cache *cache = evs__key_cache_new(3);
    assert_non_null(cache);
    assert_null(evs__key_cache_new(0));
    assert_null(evs__key_cache_new(EVS__KEY_CACHE_SUBJECTS + 1));
    evs_data_key keys[4], got;
    for (int i = 0; i < 4; i++)
        assert_int_equal(evs_data_key_new(&keys[i]), 0);
    assert_int_equal(evs__key_cache_get(cache, "alice", 5, &got), 0);
    evs__key_cache_put(cache, "alice", 5, &keys[0]);
    evs__key_cache_put(cache, "bob", 3, &keys[1]);
    assert_int_equal(evs__key_cache_count(cache), 2);
    assert_int_equal(evs__key_cache_get(cache, "alice", 5, &got), 1);
    assert_memory_equal(&got, &keys[0], sizeof got);
    assert_int_equal(evs__key_cache_get(cache, "ali", 3, &got), 0); /* a prefix is not it */
    /* Replacing keeps one entry. */
    evs__key_cache_put(cache, "bob", 3, &keys[2]);
    assert_int_equal(evs__key_cache_count(cache), 2);
    assert_int_equal(evs__key_cache_get(cache, "bob", 3, &got), 1);
    assert_memory_equal(&got, &keys[2], sizeof got);
    /* Full: the oldest put (alice) goes. */
    evs__key_cache_put(cache, "carol", 5, &keys[3]);
    evs__key_cache_put(cache, "dave", 4, &keys[0]);
    assert_int_equal(evs__key_cache_count(cache), 3);
    assert_int_equal(evs__key_cache_get(cache, "alice", 5, &got), 0);
    assert_int_equal(evs__key_cache_get(cache, "bob", 3, &got), 1);
    assert_int_equal(evs__key_cache_get(cache, "dave", 4, &got), 1);
    /* Dropped. */
    assert_int_equal(evs__key_cache_drop(cache, "bob", 3), 1);
    assert_int_equal(evs__key_cache_drop(cache, "bob", 3), 0);
    assert_int_equal(evs__key_cache_get(cache, "bob", 3, &got), 0);
    assert_int_equal(evs__key_cache_count(cache), 2);
    evs_data_key_wipe(&got);
    evs__key_cache_free(cache);
    evs__key_cache_free(NULL);
}

/* ---- The POST /keys answer ------------------------------------------------------------------ */

static void test_key_from_json(void **state)
{
    (void)state;
    uint8_t bytes[EVS_SEAL_KEY_BYTES];
    evs_master_key mk, other;
    evs_data_key dk, got;
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (uint8_t)i;
    assert_int_equal(evs_master_key_from_bytes(bytes, &mk), 0);
    bytes[0] ^= 1;
    assert_int_equal(evs_master_key_from_bytes(bytes, &other), 0);
    assert_int_equal(evs_data_key_new(&dk), 0);
    char body[1024];

    key_answer(&mk, "alice", &dk, body, sizeof body);
    assert_int_equal(evs__subject_key_from_json(&mk, "alice", 5, body, strlen(body), &got), 0);
    assert_memory_equal(&got, &dk, sizeof got);

    /* Sealed by another master key: refused, by its id, before anything is tried. */
    key_answer(&other, "alice", &dk, body, sizeof body);
    assert_int_equal(evs__subject_key_from_json(&mk, "alice", 5, body, strlen(body), &got),
                     EVS_EINVAL);
    assert_non_null(strstr(evs_last_error(), "the projector's master key is not this client's"));
    assert_non_null(strstr(evs_last_error(), other.id));
    assert_non_null(strstr(evs_last_error(), mk.id));

    /* Another subject's key, a malformed answer, a changed sealed key. */
    key_answer(&mk, "bob", &dk, body, sizeof body);
    assert_int_equal(evs__subject_key_from_json(&mk, "alice", 5, body, strlen(body), &got),
                     EVS_EPROTOCOL);
    assert_non_null(strstr(evs_last_error(), "\"subject\""));
    const char *bad = "{\"subject\":\"alice\",\"key_id\":\"nope\"}";
    assert_int_equal(evs__subject_key_from_json(&mk, "alice", 5, bad, strlen(bad), &got),
                     EVS_EPROTOCOL);
    assert_non_null(strstr(evs_last_error(), "\"key_id\""));
    assert_int_equal(evs__subject_key_from_json(&mk, "alice", 5, "[1]", 3, &got), EVS_EPROTOCOL);
    key_answer(&mk, "alice", &dk, body, sizeof body);
    char *sealed_at = strstr(body, "\"sealed_key\":\"") + 14;
    sealed_at[0] = sealed_at[0] == 'A' ? 'B' : 'A';
    assert_int_equal(evs__subject_key_from_json(&mk, "alice", 5, body, strlen(body), &got),
                     EVS_EPROTOCOL);
    assert_non_null(strstr(evs_last_error(), "does not open"));
    /* A nonce of the wrong size. */
    key_answer(&mk, "alice", &dk, body, sizeof body);
    char *nonce_at = strstr(body, "\"nonce\":\"") + 9;
    memmove(nonce_at, nonce_at + 4, strlen(nonce_at + 4) + 1);
    assert_int_equal(evs__subject_key_from_json(&mk, "alice", 5, body, strlen(body), &got),
                     EVS_EPROTOCOL);
    assert_non_null(strstr(evs_last_error(), "\"nonce\""));
    evs_data_key_wipe(&dk);
    evs_master_key_wipe(&mk);
    evs_master_key_wipe(&other);
}

/* ---- Sealing an event ------------------------------------------------------------------------ */

static void test_event_seal(void **state)
{
    (void)state;
    evs_data_key dk;
    assert_int_equal(evs_data_key_new(&dk), 0);
    const char *data = "{\"name\":\"Alice\",\"email\":\"alice@example.com\"}";
    const char *metadata = "{\"ip\":\"192.0.2.7\"}";
    evs_record_event e = {0};
    evs_uuid_generate(e.event_id);
    e.type = "CustomerRegistered";
    e.type_len = strlen(e.type);
    e.content_type = "application/json";
    e.content_type_len = strlen(e.content_type);
    e.data = (const uint8_t *)data;
    e.data_len = strlen(data);
    e.metadata = (const uint8_t *)metadata;
    e.metadata_len = strlen(metadata);
    evs_buf data_out = {0}, metadata_out = {0}, plain = {0};

    /* Data only. */
    evs_record_event plain_metadata = e;
    assert_int_equal(evs__event_seal(&plain_metadata, "customer:42", 11, 0, &dk, &data_out,
                                     &metadata_out),
                     0);
    assert_ptr_equal(plain_metadata.data, data_out.data);
    assert_int_equal(plain_metadata.data_len, strlen(data) + EVS_SEAL_TAG_BYTES);
    assert_null(memmem(plain_metadata.data, plain_metadata.data_len, "Alice", 5));
    assert_ptr_equal(plain_metadata.metadata, (const uint8_t *)metadata);
    assert_int_equal(plain_metadata.metadata_sealed, 0);
    assert_int_equal(plain_metadata.subject_len, 11);
    assert_memory_equal(plain_metadata.subject, "customer:42", 11);
    assert_memory_equal(plain_metadata.key_id, dk.id, 16);
    assert_int_equal(evs_open_payload(&dk, e.event_id, EVS_PAYLOAD_DATA, plain_metadata.data,
                                      plain_metadata.data_len, plain_metadata.data_nonce, &plain),
                     0);
    assert_int_equal(plain.len, strlen(data));
    assert_memory_equal(plain.data, data, plain.len);
    /* Bound to its event and part. */
    uint8_t other_id[16];
    evs_uuid_generate(other_id);
    assert_int_equal(evs_open_payload(&dk, other_id, EVS_PAYLOAD_DATA, plain_metadata.data,
                                      plain_metadata.data_len, plain_metadata.data_nonce, &plain),
                     EVS_SEAL_EAUTH);
    assert_int_equal(evs_open_payload(&dk, e.event_id, EVS_PAYLOAD_METADATA, plain_metadata.data,
                                      plain_metadata.data_len, plain_metadata.data_nonce, &plain),
                     EVS_SEAL_EAUTH);

    /* Metadata too. */
    evs_record_event both = e;
    assert_int_equal(evs__event_seal(&both, "customer:42", 11, 1, &dk, &data_out, &metadata_out),
                     0);
    assert_int_equal(both.metadata_sealed, 1);
    assert_ptr_equal(both.metadata, metadata_out.data);
    assert_int_equal(both.metadata_len, strlen(metadata) + EVS_SEAL_TAG_BYTES);
    assert_memory_not_equal(both.data_nonce, both.metadata_nonce, EVS_SEAL_NONCE_BYTES);
    assert_int_equal(evs_open_payload(&dk, e.event_id, EVS_PAYLOAD_METADATA, both.metadata,
                                      both.metadata_len, both.metadata_nonce, &plain),
                     0);
    assert_int_equal(plain.len, strlen(metadata));
    assert_memory_equal(plain.data, metadata, plain.len);
    /* A fresh nonce for every seal. */
    assert_memory_not_equal(both.data_nonce, plain_metadata.data_nonce, EVS_SEAL_NONCE_BYTES);

    /* No metadata to seal: nothing marked sealed. */
    evs_record_event empty = e;
    empty.metadata = NULL;
    empty.metadata_len = 0;
    assert_int_equal(evs__event_seal(&empty, "customer:42", 11, 1, &dk, &data_out, &metadata_out),
                     0);
    assert_int_equal(empty.metadata_sealed, 0);
    assert_null(empty.metadata);

    /* An invalid subject changes nothing. */
    evs_record_event invalid = e;
    assert_int_equal(evs__event_seal(&invalid, "a/b", 3, 0, &dk, &data_out, &metadata_out),
                     EVS_EINVAL);
    assert_memory_equal(&invalid, &e, sizeof e);

    evs_buf_free(&data_out);
    evs_buf_free(&metadata_out);
    evs_buf_free(&plain);
    evs_data_key_wipe(&dk);
}

/* ---- Read results ----------------------------------------------------------------------------- */

static void test_event_list_json_subject(void **state)
{
    (void)state;
    const char *body =
        "{\"stream\":\"Customer-42\",\"events\":["
        "{\"event_id\":\"" KEY_ID_TEXT "\",\"stream\":\"Customer-42\",\"type\":\"Registered\","
        "\"version\":1,\"position\":1,\"partition\":0,\"created_us\":1,\"content_type\":"
        "\"application/json\",\"data\":\"e30=\",\"metadata\":null,\"subject\":\"customer:42\"},"
        "{\"event_id\":\"" KEY_ID_TEXT "\",\"stream\":\"Customer-42\",\"type\":\"Moved\","
        "\"version\":2,\"position\":2,\"partition\":0,\"created_us\":2,\"content_type\":"
        "\"application/json\",\"data\":null,\"metadata\":null,\"subject\":\"customer:42\","
        "\"erased\":true},"
        "{\"event_id\":\"" KEY_ID_TEXT "\",\"stream\":\"Customer-42\",\"type\":\"Sealed\","
        "\"version\":3,\"position\":3,\"partition\":0,\"created_us\":3,\"content_type\":"
        "\"application/json\",\"data\":null,\"metadata\":null,\"subject\":\"customer:42\","
        "\"sealed\":true},"
        "{\"event_id\":\"" KEY_ID_TEXT "\",\"stream\":\"Customer-42\",\"type\":\"Noted\","
        "\"version\":3,\"position\":3,\"partition\":0,\"created_us\":3,\"content_type\":"
        "\"application/json\",\"data\":\"e30=\",\"metadata\":null}"
        "],\"next\":4,\"end_of_stream\":true,\"first_version\":1}";
    evs_event_list *list = NULL;
    assert_int_equal(evs__event_list_from_json(body, strlen(body), &list), 0);
    assert_int_equal(list->count, 4);
    assert_string_equal(list->events[0].subject, "customer:42");
    assert_int_equal(list->events[0].erased, 0);
    assert_int_equal(list->events[0].data_len, 2);
    assert_string_equal(list->events[1].subject, "customer:42");
    assert_int_equal(list->events[1].erased, 1);
    assert_int_equal(list->events[1].data_len, 0);
    assert_non_null(list->events[1].data);
    assert_int_equal(list->events[1].sealed, 0);
    assert_int_equal(list->events[2].sealed, 1);
    assert_int_equal(list->events[2].erased, 0);
    assert_int_equal(list->events[2].data_len, 0);
    assert_null(list->events[3].subject);
    assert_int_equal(list->events[3].erased, 0);
    assert_int_equal(list->events[3].sealed, 0);
    evs_event_list_free(list);

    /* null data only for an erased event; erased a boolean. */
    const char *bad =
        "{\"events\":[{\"event_id\":\"" KEY_ID_TEXT "\",\"stream\":\"S-1\",\"type\":\"T\","
        "\"version\":1,\"position\":1,\"partition\":0,\"created_us\":1,\"content_type\":"
        "\"application/json\",\"data\":null}],\"next\":2}";
    assert_int_equal(evs__event_list_from_json(bad, strlen(bad), &list), EVS_EPROTOCOL);
    assert_non_null(strstr(evs_last_error(), "\"data\""));
    bad = "{\"events\":[{\"event_id\":\"" KEY_ID_TEXT "\",\"stream\":\"S-1\",\"type\":\"T\","
          "\"version\":1,\"position\":1,\"partition\":0,\"created_us\":1,\"content_type\":"
          "\"application/json\",\"data\":\"\",\"erased\":1}],\"next\":2}";
    assert_int_equal(evs__event_list_from_json(bad, strlen(bad), &list), EVS_EPROTOCOL);
    assert_non_null(strstr(evs_last_error(), "\"erased\""));
    bad = "{\"events\":[{\"event_id\":\"" KEY_ID_TEXT "\",\"stream\":\"S-1\",\"type\":\"T\","
          "\"version\":1,\"position\":1,\"partition\":0,\"created_us\":1,\"content_type\":"
          "\"application/json\",\"data\":\"\",\"subject\":7}],\"next\":2}";
    assert_int_equal(evs__event_list_from_json(bad, strlen(bad), &list), EVS_EPROTOCOL);
    assert_non_null(strstr(evs_last_error(), "\"subject\""));
}

static void test_event_list_page_subject(void **state)
{
    (void)state;
    evs_buf page = {0};
    evs_page_encoder enc;
    evs_page_info info = {.stream = "Customer-42",
                          .stream_len = 11,
                          .has_current_version = 1,
                          .current_version = 9,
                          .has_first_version = 1,
                          .first_version = 8};
    evs_page_encode_begin(&enc, &page, &info);
    evs_page_event e = {.stream = "Customer-42",
                        .stream_len = 11,
                        .type = "Moved",
                        .type_len = 5,
                        .version = 8,
                        .position = 20,
                        .created_us = 5,
                        .content_type = "application/json",
                        .content_type_len = 16,
                        .data = (const uint8_t *)"",
                        .data_len = 0,
                        .subject = "customer:42",
                        .subject_len = 11,
                        .erased = 1};
    memcpy(e.event_id, KEY_ID_TEXT, sizeof e.event_id);
    evs_page_encode_event(&enc, &e);
    e.version = 9;
    e.erased = 0;
    e.sealed = 1; /* a projector without the master key */
    evs_page_encode_event(&enc, &e);
    e.version = 10;
    e.subject = NULL;
    e.subject_len = 0;
    e.sealed = 0;
    e.data = (const uint8_t *)"{}";
    e.data_len = 2;
    evs_page_encode_event(&enc, &e);
    assert_int_equal(evs_page_encode_end(&enc, 11, 1), 0);

    evs_event_list *list = NULL;
    assert_int_equal(evs__event_list_from_page(page.data, page.len, &list), 0);
    assert_int_equal(list->count, 3);
    assert_int_equal(list->first_version, 8);
    assert_string_equal(list->events[0].subject, "customer:42");
    assert_int_equal(list->events[0].erased, 1);
    assert_int_equal(list->events[0].sealed, 0);
    assert_int_equal(list->events[0].data_len, 0);
    assert_string_equal(list->events[1].subject, "customer:42");
    assert_int_equal(list->events[1].erased, 0);
    assert_int_equal(list->events[1].sealed, 1);
    assert_null(list->events[2].subject);
    assert_int_equal(list->events[2].erased, 0);
    assert_int_equal(list->events[2].sealed, 0);
    assert_int_equal(list->events[2].data_len, 2);
    evs_event_list_free(list);
    evs_buf_free(&page);
}

/* ---- Against a fake projector ------------------------------------------------------------------ */

static struct fake {
    test_http_server server;
    pthread_mutex_t lock;
    evs_master_key projector_key; /* the master key the fake's keys are sealed by */
    evs_master_key other_key;     /* another projector's */
    evs_data_key alice;           /* the subjects' keys */
    atomic_int posts, deletes, others;
    char last_method[16];
    char last_path[512];
} fake;

static int fake_serve(void *user, int fd, const char *path, const char *head, size_t head_len)
{
    (void)user, (void)head_len;
    char method[16] = "";
    sscanf(head, "%15s", method);
    pthread_mutex_lock(&fake.lock);
    if (strcmp(path, "/cluster") != 0) {
        snprintf(fake.last_method, sizeof fake.last_method, "%s", method);
        snprintf(fake.last_path, sizeof fake.last_path, "%s", path);
    }
    pthread_mutex_unlock(&fake.lock);
    char body[1024];
    if (strcmp(method, "POST") == 0 && strncmp(path, "/keys/", 6) == 0) {
        atomic_fetch_add(&fake.posts, 1);
        const char *subject = path + 6;
        if (strcmp(subject, "alice") == 0) {
            key_answer(&fake.projector_key, "alice", &fake.alice, body, sizeof body);
            return test_http_send_json(fd, 201, body);
        }
        if (strcmp(subject, "bob") == 0) { /* sealed by another master key */
            key_answer(&fake.other_key, "bob", &fake.alice, body, sizeof body);
            return test_http_send_json(fd, 200, body);
        }
        if (strcmp(subject, "carol") == 0)
            return test_http_send_json(fd, 503,
                                       "{\"error\":\"this projector has no master key\","
                                       "\"error_type\":\"no_master_key\"}");
        if (strcmp(subject, "dave") == 0)
            return test_http_send_json(fd, 403, "{\"error\":\"outside the token's scopes\"}");
        return test_http_send_json(fd, 400, "{\"error\":\"invalid subject\"}");
    }
    if (strcmp(method, "DELETE") == 0 && strncmp(path, "/keys/", 6) == 0) {
        atomic_fetch_add(&fake.deletes, 1);
        if (strcmp(path + 6, "alice") == 0)
            return test_http_send_json(fd, 200,
                                       "{\"subject\":\"alice\",\"forgotten\":[\"" KEY_ID_TEXT
                                       "\",\"1b6f3c1e-7d2a-4e5f-9a8b-c1d2e3f4a5b6\"]}");
        if (strcmp(path + 6, "erin") == 0)
            return test_http_send_json(fd, 200, "{\"subject\":\"erin\",\"forgotten\":[]}");
        return test_http_send_json(fd, 200, "{\"subject\":\"x\"}"); /* no array */
    }
    if (strcmp(path, "/cluster") != 0)
        atomic_fetch_add(&fake.others, 1);
    /* /cluster included: an older projector's 404, so one URL serves every partition. */
    return test_http_send_json(fd, 404, "{\"error\":\"no such endpoint\"}");
}

static char master_key_file[128];

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/evs_subject_XXXXXX");
    if (!mkdtemp(tmp_dir))
        return -1;
    char err[256];
    tmp_path("master.key", master_key_file, sizeof master_key_file);
    if (evs_master_key_generate_file(master_key_file, &fake.projector_key, err, sizeof err) != 0)
        return -1;
    uint8_t bytes[EVS_SEAL_KEY_BYTES] = {7};
    if (evs_master_key_from_bytes(bytes, &fake.other_key) != 0 ||
        evs_data_key_new(&fake.alice) != 0)
        return -1;
    pthread_mutex_init(&fake.lock, NULL);
    test_http_server_listen(&fake.server);
    test_http_server_run(&fake.server, fake_serve, NULL);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    test_http_server_stop(&fake.server);
    pthread_mutex_destroy(&fake.lock);
    char path[192];
    static const char *const names[] = {"master.key", "open.key", "new.key"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tmp_path(names[i], path, sizeof path);
        remove(path);
    }
    rmdir(tmp_dir);
    return 0;
}

/* A client of the fake; with the master key file when with_key. The brokers are never
 * reached: nothing here produces. */
static evs_client *open_client(int with_key)
{
    evs_client_options options;
    evs_client *client = NULL;
    evs_client_options_init(&options);
    options.brokers = "127.0.0.1:1";
    options.projector_url = fake.server.url;
    options.request_timeout_ms = 5000;
    options.master_key_file = with_key ? master_key_file : NULL;
    int rc = evs_client_open(&options, &client);
    if (rc != 0)
        fail_msg("evs_client_open: %d %s", rc, evs_last_error());
    return client;
}

static void last_request(char *method, char *path)
{
    pthread_mutex_lock(&fake.lock);
    snprintf(method, 16, "%s", fake.last_method);
    snprintf(path, 512, "%s", fake.last_path);
    pthread_mutex_unlock(&fake.lock);
}

static void test_key_fetch_cache_and_forget(void **state)
{
    (void)state;
    evs_client *client = open_client(1);
    evs_key_cache *cache = evs__client_key_cache(client);
    assert_non_null(cache);
    assert_non_null(evs__client_master_key(client));
    evs_data_key got;
    char method[16], path[512];
    int posts = atomic_load(&fake.posts);

    assert_int_equal(evs__subject_key(client, "alice", 5, &got), 0);
    assert_memory_equal(&got, &fake.alice, sizeof got);
    last_request(method, path);
    assert_string_equal(method, "POST");
    assert_string_equal(path, "/keys/alice");
    assert_int_equal(atomic_load(&fake.posts), posts + 1);
    /* From the cache now. */
    assert_int_equal(evs__subject_key(client, "alice", 5, &got), 0);
    assert_memory_equal(&got, &fake.alice, sizeof got);
    assert_int_equal(atomic_load(&fake.posts), posts + 1);
    assert_int_equal(evs__key_cache_count(cache), 1);

    /* Forgotten: DELETE, the ids counted, out of the cache, asked again next time. */
    size_t destroyed = 99;
    assert_int_equal(evs_subject_forget(client, "alice", &destroyed), 0);
    assert_int_equal(destroyed, 2);
    last_request(method, path);
    assert_string_equal(method, "DELETE");
    assert_string_equal(path, "/keys/alice");
    assert_int_equal(evs__key_cache_get(cache, "alice", 5, &got), 0);
    assert_int_equal(evs__key_cache_count(cache), 0);
    assert_int_equal(evs__subject_key(client, "alice", 5, &got), 0);
    assert_int_equal(atomic_load(&fake.posts), posts + 2);
    assert_int_equal(evs_subject_forget(client, "erin", &destroyed), 0);
    assert_int_equal(destroyed, 0);
    char *json = NULL;
    assert_int_equal(evs_subject_forget_json(client, "alice", &json), 0);
    assert_non_null(strstr(json, "\"forgotten\":[\"" KEY_ID_TEXT "\","));
    free(json);
    assert_int_equal(evs_subject_forget_json(client, "frank", &json), EVS_EPROTOCOL);
    assert_null(json);
    assert_int_equal(evs_subject_forget_json(client, "alice", NULL), EVS_EINVAL);
    assert_int_equal(evs_subject_forget(client, "frank", NULL), EVS_EPROTOCOL);
    assert_non_null(strstr(evs_last_error(), "\"forgotten\""));
    int deletes = atomic_load(&fake.deletes);
    assert_int_equal(evs_subject_forget(client, "no/slash", &destroyed), EVS_EINVAL);
    assert_int_equal(evs_subject_forget(client, NULL, &destroyed), EVS_EINVAL);
    assert_int_equal(evs_subject_forget(NULL, "alice", &destroyed), EVS_EINVAL);
    assert_int_equal(atomic_load(&fake.deletes), deletes);

    /* The projector's master key is another: refused, and not cached. */
    assert_int_equal(evs__subject_key(client, "bob", 3, &got), EVS_EINVAL);
    assert_non_null(strstr(evs_last_error(), "the projector's master key is not this client's"));
    assert_int_equal(evs__key_cache_get(cache, "bob", 3, &got), 0);
    /* A projector without a master key; a refused token; a refused subject. */
    assert_int_equal(evs__subject_key(client, "carol", 5, &got), EVS_EUNAVAILABLE);
    assert_non_null(strstr(evs_last_error(), "no master key"));
    assert_int_equal(evs__subject_key(client, "dave", 4, &got), EVS_EAUTH);
    assert_int_equal(evs__subject_key(client, "zed", 3, &got), EVS_EINVAL);
    assert_int_equal(evs__key_cache_count(cache), 0); /* alice was forgotten again */
    evs_data_key_wipe(&got);

    /* Forgetting needs no master key. */
    evs_client *plain = open_client(0);
    assert_null(evs__client_key_cache(plain));
    assert_int_equal(evs_subject_forget(plain, "alice", &destroyed), 0);
    assert_int_equal(destroyed, 2);
    assert_int_equal(evs__subject_key(plain, "alice", 5, &got), EVS_EINVAL);
    evs_client_close(plain);
    evs_client_close(client);
}

static void test_append_refusals_ask_nothing(void **state)
{
    (void)state;
    evs_client *plain = open_client(0);
    evs_client *keyed = open_client(1);
    int before = atomic_load(&fake.posts) + atomic_load(&fake.others);
    evs_append_result result;
    evs_expected any = {EVS_EXPECT_ANY, 0};
    evs_event_data events[2] = {
        {.type = "Noted", .data = "{}", .data_len = 2},
        {.type = "Registered", .data = "{}", .data_len = 2, .subject = "alice"},
    };
    evs_client_metrics metrics;

    /* A subject and no master key. */
    assert_int_equal(evs_append(plain, "Customer-1", any, events, 2, NULL, &result), EVS_EINVAL);
    assert_non_null(strstr(evs_last_error(), "no master key"));
    assert_non_null(strstr(evs_last_error(), "event 2"));
    assert_int_equal(evs_client_metrics_get(plain, &metrics), 0);
    assert_int_equal(metrics.appends_invalid, 1);
    /* An invalid subject; seal_metadata without a subject. */
    events[1].subject = "not valid";
    assert_int_equal(evs_append(keyed, "Customer-1", any, events, 2, NULL, &result), EVS_EINVAL);
    assert_non_null(strstr(evs_last_error(), "subject"));
    events[1].subject = NULL;
    events[1].seal_metadata = 1;
    assert_int_equal(evs_append(keyed, "Customer-1", any, events, 2, NULL, &result), EVS_EINVAL);
    assert_non_null(strstr(evs_last_error(), "seal_metadata needs a subject"));
    /* An append the validator refuses fetches no key. */
    events[1].subject = "alice";
    events[1].type = "";
    assert_int_equal(evs_append(keyed, "Customer-1", any, events, 2, NULL, &result), EVS_EINVAL);
    assert_int_equal(atomic_load(&fake.posts) + atomic_load(&fake.others), before);
    /* A key the client cannot have fails the append before anything is produced. */
    events[1].type = "Registered";
    events[1].subject = "carol";
    assert_int_equal(evs_append(keyed, "Customer-1", any, events, 2, NULL, &result),
                     EVS_EUNAVAILABLE);
    assert_non_null(strstr(evs_last_error(), "event 2"));
    assert_non_null(strstr(evs_last_error(), "nothing was written"));
    assert_int_equal(result.offset, -1);
    evs_client_close(keyed);
    evs_client_close(plain);
}

static void test_master_key_files(void **state)
{
    (void)state;
    evs_client_options options;
    evs_client *client = NULL;
    char path[192];
    evs_client_options_init(&options);
    options.projector_url = fake.server.url;

    tmp_path("missing.key", path, sizeof path);
    options.master_key_file = path;
    assert_int_equal(evs_client_open(&options, &client), EVS_EINVAL);
    assert_null(client);
    assert_non_null(strstr(evs_last_error(), "missing.key"));

    /* Made by evs_master_key_create: opens; made again: refused. */
    char id[17];
    tmp_path("new.key", path, sizeof path);
    assert_int_equal(evs_master_key_create(path, id), 0);
    assert_int_equal(strlen(id), 16);
    char again[17];
    assert_int_equal(evs_master_key_create(path, again), EVS_EINVAL);
    assert_string_equal(again, "");
    assert_non_null(strstr(evs_last_error(), "new.key"));
    assert_int_equal(evs_client_open(&options, &client), 0);
    assert_string_equal(((const evs_master_key *)evs__client_master_key(client))->id, id);
    evs_client_close(client);
    client = NULL;

    /* Open to others. */
    tmp_path("open.key", path, sizeof path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", f);
    fclose(f);
    chmod(path, 0644);
    assert_int_equal(evs_client_open(&options, &client), EVS_EINVAL);
    assert_null(client);
    assert_non_null(strstr(evs_last_error(), "open.key"));
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_key_from_json),
        cmocka_unit_test(test_event_seal),
        cmocka_unit_test(test_event_list_json_subject),
        cmocka_unit_test(test_event_list_page_subject),
    };
    const struct CMUnitTest with_projector[] = {
        cmocka_unit_test(test_key_fetch_cache_and_forget),
        cmocka_unit_test(test_append_refusals_ask_nothing),
        cmocka_unit_test(test_master_key_files),
    };
    int failed = cmocka_run_group_tests_name("personal data, pure", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("personal data against a fake projector",
                                          with_projector, group_setup, group_teardown);
    return failed;
}
