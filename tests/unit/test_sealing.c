/*
 * test_sealing.c - the cryptography of crypto-shredding (schemas/sealing.c): payloads and
 * data keys go through a seal and come back unchanged; a changed byte, a cut ciphertext,
 * another key, event, part or subject does not open (EVS_SEAL_EAUTH, nothing output); two
 * seals never share a nonce; master key files are read only when they are exactly 64 hex
 * digits in a file nobody else may open, and a master key's id is stable and the one the
 * format documents.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sealing.h"

static const uint8_t event_a[EVS_EVENT_ID_BYTES] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x47, 0x88,
                                                    0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01};
static const uint8_t event_b[EVS_EVENT_ID_BYTES] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x47, 0x88,
                                                    0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x02};
static const char plain[] = "{\"name\":\"Alice\",\"email\":\"alice@example.com\"}";
#define PLAIN_LEN (sizeof plain - 1)

static char dir[64];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/test_sealing.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes text into dir/name with mode and returns its path (static storage). */
static const char *key_file(const char *name, const char *text, size_t len, mode_t mode)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static void master(evs_master_key *mk, uint8_t fill)
{
    uint8_t bytes[EVS_SEAL_KEY_BYTES];
    memset(bytes, fill, sizeof bytes);
    assert_int_equal(evs_master_key_from_bytes(bytes, mk), 0);
}

/* ---- Payloads ------------------------------------------------------------------------ */

static void test_payload_round_trip(void **state)
{
    evs_data_key dk;
    evs_buf cipher = {0}, opened = {0};
    uint8_t nonce[EVS_SEAL_NONCE_BYTES];
    assert_int_equal(evs_data_key_new(&dk), 0);
    for (int part = EVS_PAYLOAD_DATA; part <= EVS_PAYLOAD_METADATA; part++) {
        assert_int_equal(evs_seal_payload(&dk, event_a, part, (const uint8_t *)plain, PLAIN_LEN,
                                          &cipher, nonce),
                         0);
        assert_int_equal(cipher.len, PLAIN_LEN + EVS_SEAL_TAG_BYTES);
        assert_null(memmem(cipher.data, cipher.len, "Alice", 5));
        assert_int_equal(
            evs_open_payload(&dk, event_a, part, cipher.data, cipher.len, nonce, &opened), 0);
        assert_int_equal(opened.len, PLAIN_LEN);
        assert_memory_equal(opened.data, plain, PLAIN_LEN);
    }
    /* An empty payload seals to its tag alone, and opens to nothing. */
    assert_int_equal(evs_seal_payload(&dk, event_a, EVS_PAYLOAD_DATA, NULL, 0, &cipher, nonce), 0);
    assert_int_equal(cipher.len, EVS_SEAL_TAG_BYTES);
    assert_int_equal(evs_open_payload(&dk, event_a, EVS_PAYLOAD_DATA, cipher.data, cipher.len,
                                      nonce, &opened),
                     0);
    assert_int_equal(opened.len, 0);
    /* The largest payload. */
    uint8_t *big = calloc(1, EVS_SEAL_PAYLOAD_MAX);
    assert_non_null(big);
    big[EVS_SEAL_PAYLOAD_MAX - 1] = 7;
    assert_int_equal(evs_seal_payload(&dk, event_a, EVS_PAYLOAD_DATA, big, EVS_SEAL_PAYLOAD_MAX,
                                      &cipher, nonce),
                     0);
    assert_int_equal(evs_open_payload(&dk, event_a, EVS_PAYLOAD_DATA, cipher.data, cipher.len,
                                      nonce, &opened),
                     0);
    assert_int_equal(opened.len, EVS_SEAL_PAYLOAD_MAX);
    assert_memory_equal(opened.data, big, EVS_SEAL_PAYLOAD_MAX);
    free(big);
    evs_data_key_wipe(&dk);
    evs_buf_free(&cipher);
    evs_buf_free(&opened);
}

/* Opens cipher and expects EVS_SEAL_EAUTH with nothing output. */
static void refused(const evs_data_key *dk, const uint8_t *event_id, int part,
                    const uint8_t *cipher, size_t len, const uint8_t *nonce)
{
    evs_buf opened = {0};
    assert_int_equal(evs_open_payload(dk, event_id, part, cipher, len, nonce, &opened),
                     EVS_SEAL_EAUTH);
    assert_int_equal(opened.len, 0);
    evs_buf_free(&opened);
}

static void test_payload_refused(void **state)
{
    evs_data_key dk, other;
    evs_buf cipher = {0};
    uint8_t nonce[EVS_SEAL_NONCE_BYTES];
    assert_int_equal(evs_data_key_new(&dk), 0);
    assert_int_equal(evs_data_key_new(&other), 0);
    assert_int_equal(evs_seal_payload(&dk, event_a, EVS_PAYLOAD_DATA, (const uint8_t *)plain,
                                      PLAIN_LEN, &cipher, nonce),
                     0);
    /* Every byte of the ciphertext and of the tag, and every byte of the nonce. */
    for (size_t i = 0; i < cipher.len; i++) {
        cipher.data[i] ^= 0x01;
        refused(&dk, event_a, EVS_PAYLOAD_DATA, cipher.data, cipher.len, nonce);
        cipher.data[i] ^= 0x01;
    }
    for (size_t i = 0; i < sizeof nonce; i++) {
        nonce[i] ^= 0x80;
        refused(&dk, event_a, EVS_PAYLOAD_DATA, cipher.data, cipher.len, nonce);
        nonce[i] ^= 0x80;
    }
    /* Cut, at every length; shorter than a tag is refused the same way. */
    for (size_t n = 0; n < cipher.len; n++)
        refused(&dk, event_a, EVS_PAYLOAD_DATA, cipher.data, n, nonce);
    /* Replayed onto another event, swapped into the metadata, opened with another key. */
    refused(&dk, event_b, EVS_PAYLOAD_DATA, cipher.data, cipher.len, nonce);
    refused(&dk, event_a, EVS_PAYLOAD_METADATA, cipher.data, cipher.len, nonce);
    refused(&other, event_a, EVS_PAYLOAD_DATA, cipher.data, cipher.len, nonce);
    /* Untouched, it still opens: the refusals above were for the changes. */
    evs_buf opened = {0};
    assert_int_equal(evs_open_payload(&dk, event_a, EVS_PAYLOAD_DATA, cipher.data, cipher.len,
                                      nonce, &opened),
                     0);
    evs_buf_free(&opened);
    evs_data_key_wipe(&dk);
    evs_data_key_wipe(&other);
    evs_buf_free(&cipher);
}

static void test_payload_nonces_differ(void **state)
{
    evs_data_key dk;
    evs_buf one = {0}, two = {0};
    uint8_t nonce1[EVS_SEAL_NONCE_BYTES], nonce2[EVS_SEAL_NONCE_BYTES];
    assert_int_equal(evs_data_key_new(&dk), 0);
    assert_int_equal(evs_seal_payload(&dk, event_a, EVS_PAYLOAD_DATA, (const uint8_t *)plain,
                                      PLAIN_LEN, &one, nonce1),
                     0);
    assert_int_equal(evs_seal_payload(&dk, event_a, EVS_PAYLOAD_DATA, (const uint8_t *)plain,
                                      PLAIN_LEN, &two, nonce2),
                     0);
    assert_memory_not_equal(nonce1, nonce2, sizeof nonce1);
    assert_memory_not_equal(one.data, two.data, one.len);
    evs_data_key_wipe(&dk);
    evs_buf_free(&one);
    evs_buf_free(&two);
}

static void test_payload_invalid(void **state)
{
    evs_data_key dk;
    evs_buf cipher = {0};
    uint8_t nonce[EVS_SEAL_NONCE_BYTES] = {0};
    uint8_t byte = 0;
    assert_int_equal(evs_data_key_new(&dk), 0);
    assert_int_equal(evs_seal_payload(&dk, event_a, 2, &byte, 1, &cipher, nonce), EVS_SEAL_EINVAL);
    assert_int_equal(evs_seal_payload(&dk, event_a, -1, &byte, 1, &cipher, nonce),
                     EVS_SEAL_EINVAL);
    assert_int_equal(evs_seal_payload(&dk, event_a, EVS_PAYLOAD_DATA, &byte,
                                      EVS_SEAL_PAYLOAD_MAX + 1, &cipher, nonce),
                     EVS_SEAL_EINVAL);
    assert_int_equal(evs_seal_payload(&dk, event_a, EVS_PAYLOAD_DATA, NULL, 1, &cipher, nonce),
                     EVS_SEAL_EINVAL);
    assert_int_equal(evs_open_payload(&dk, event_a, 2, &byte, 1, nonce, &cipher), EVS_SEAL_EINVAL);
    assert_string_equal(evs_seal_strerror(EVS_SEAL_EAUTH),
                        "ciphertext does not authenticate (wrong key, or changed or moved bytes)");
    evs_data_key_wipe(&dk);
    evs_buf_free(&cipher);
}

/* ---- Data keys ----------------------------------------------------------------------- */

static void test_data_key_new(void **state)
{
    evs_data_key a, b;
    assert_int_equal(evs_data_key_new(&a), 0);
    assert_int_equal(evs_data_key_new(&b), 0);
    assert_memory_not_equal(a.key, b.key, sizeof a.key);
    assert_memory_not_equal(a.id, b.id, sizeof a.id);
    assert_int_equal(a.id[6] >> 4, 4);      /* UUID version 4 */
    assert_int_equal(a.id[8] & 0xC0, 0x80); /* RFC 4122 variant */
    evs_data_key_wipe(&a);
    uint8_t zero[sizeof a] = {0};
    assert_memory_equal(&a, zero, sizeof a);
    evs_data_key_wipe(&b);
}

static void test_data_key_round_trip(void **state)
{
    evs_master_key mk;
    evs_data_key dk, opened;
    evs_sealed_key sealed, again;
    master(&mk, 0x42);
    assert_int_equal(evs_data_key_new(&dk), 0);
    assert_int_equal(evs_data_key_seal(&mk, "customer-42", 11, &dk, &sealed), 0);
    assert_string_equal(sealed.master_key_id, mk.id);
    assert_memory_equal(sealed.key_id, dk.id, sizeof dk.id);
    assert_null(memmem(sealed.sealed, sizeof sealed.sealed, dk.key, 8));
    assert_int_equal(evs_data_key_unseal(&mk, "customer-42", 11, &sealed, &opened), 0);
    assert_memory_equal(&opened, &dk, sizeof dk);
    /* A second seal of the same key has its own nonce. */
    assert_int_equal(evs_data_key_seal(&mk, "customer-42", 11, &dk, &again), 0);
    assert_memory_not_equal(sealed.nonce, again.nonce, sizeof sealed.nonce);
    assert_memory_not_equal(sealed.sealed, again.sealed, sizeof sealed.sealed);
    /* The subject is a byte range: a longer string is cut where the length says. */
    assert_int_equal(evs_data_key_unseal(&mk, "customer-42/x", 11, &sealed, &opened), 0);
    evs_master_key_wipe(&mk);
    evs_data_key_wipe(&dk);
    evs_data_key_wipe(&opened);
}

static void unseal_refused(const evs_master_key *mk, const char *subject,
                           const evs_sealed_key *sealed, int code)
{
    evs_data_key out;
    memset(&out, 0x5a, sizeof out);
    assert_int_equal(evs_data_key_unseal(mk, subject, strlen(subject), sealed, &out), code);
    uint8_t zero[sizeof out] = {0};
    assert_memory_equal(&out, zero, sizeof out); /* wiped */
}

static void test_data_key_refused(void **state)
{
    evs_master_key mk, other;
    evs_data_key dk;
    evs_sealed_key sealed, changed;
    master(&mk, 0x42);
    master(&other, 0x43);
    assert_int_equal(evs_data_key_new(&dk), 0);
    assert_int_equal(evs_data_key_seal(&mk, "customer-42", 11, &dk, &sealed), 0);
    /* Another master key: named, or with the id forged to match. */
    unseal_refused(&other, "customer-42", &sealed, EVS_SEAL_EMASTER);
    changed = sealed;
    memcpy(changed.master_key_id, other.id, sizeof other.id);
    unseal_refused(&other, "customer-42", &changed, EVS_SEAL_EAUTH);
    /* Moved to another subject, or renamed to another key id. */
    unseal_refused(&mk, "customer-43", &sealed, EVS_SEAL_EAUTH);
    unseal_refused(&mk, "customer-4", &sealed, EVS_SEAL_EAUTH);
    changed = sealed;
    changed.key_id[15] ^= 1;
    unseal_refused(&mk, "customer-42", &changed, EVS_SEAL_EAUTH);
    /* Every byte of the sealed key and of the nonce. */
    for (size_t i = 0; i < sizeof sealed.sealed; i++) {
        changed = sealed;
        changed.sealed[i] ^= 0x10;
        unseal_refused(&mk, "customer-42", &changed, EVS_SEAL_EAUTH);
    }
    for (size_t i = 0; i < sizeof sealed.nonce; i++) {
        changed = sealed;
        changed.nonce[i] ^= 0x10;
        unseal_refused(&mk, "customer-42", &changed, EVS_SEAL_EAUTH);
    }
    /* Subjects that are not valid are refused before anything is tried. */
    unseal_refused(&mk, "", &sealed, EVS_SEAL_EINVAL);
    unseal_refused(&mk, "a/b", &sealed, EVS_SEAL_EINVAL);
    assert_int_equal(evs_data_key_seal(&mk, "a b", 3, &dk, &changed), EVS_SEAL_EINVAL);
    char long_subject[EVS_SUBJECT_MAX + 2];
    memset(long_subject, 'a', sizeof long_subject - 1);
    long_subject[sizeof long_subject - 1] = 0;
    assert_int_equal(evs_data_key_seal(&mk, long_subject, EVS_SUBJECT_MAX + 1, &dk, &changed),
                     EVS_SEAL_EINVAL);
    assert_int_equal(evs_data_key_seal(&mk, long_subject, EVS_SUBJECT_MAX, &dk, &changed), 0);
    evs_master_key_wipe(&mk);
    evs_master_key_wipe(&other);
    evs_data_key_wipe(&dk);
}

/* ---- Master keys --------------------------------------------------------------------- */

/* The key bytes 00 01 .. 1f in hex. */
static const char key_hex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static void test_master_key_load(void **state)
{
    evs_master_key mk, again;
    char err[512];
    uint8_t expected[EVS_SEAL_KEY_BYTES];
    for (int i = 0; i < EVS_SEAL_KEY_BYTES; i++)
        expected[i] = (uint8_t)i;
    /* Without a newline, with one, and in upper case. */
    const char *path = key_file("plain", key_hex, 64, 0600);
    assert_int_equal(evs_master_key_load(path, &mk, err, sizeof err), 0);
    assert_memory_equal(mk.key, expected, sizeof expected);
    /* BLAKE2b-256 of the bytes 00..1f, its first 8 bytes (hashlib.blake2b(digest_size=32)). */
    assert_string_equal(mk.id, "cb2f5160fc1f7e05");
    char text[80];
    snprintf(text, sizeof text, "%s\n", key_hex);
    path = key_file("newline", text, 65, 0400);
    assert_int_equal(evs_master_key_load(path, &again, err, sizeof err), 0);
    assert_memory_equal(&again, &mk, sizeof mk);
    for (size_t i = 0; i < 64; i++)
        text[i] = (char)(text[i] >= 'a' ? text[i] - 32 : text[i]);
    path = key_file("upper", text, 65, 0600);
    assert_int_equal(evs_master_key_load(path, &again, err, sizeof err), 0);
    assert_memory_equal(&again, &mk, sizeof mk);
    evs_master_key_wipe(&mk);
    evs_master_key_wipe(&again);
}

static void load_refused(const char *name, const char *text, size_t len, mode_t mode, int code,
                         const char *message)
{
    evs_master_key mk;
    char err[512] = "";
    const char *path = key_file(name, text, len, mode);
    assert_int_equal(evs_master_key_load(path, &mk, err, sizeof err), code);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, message));
    assert_null(strstr(err, "0001020304")); /* never the key in a message */
    uint8_t zero[sizeof mk] = {0};
    assert_memory_equal(&mk, zero, sizeof mk);
}

static void test_master_key_refused(void **state)
{
    char text[160];
    load_refused("empty", "", 0, 0600, EVS_SEAL_EFORMAT, "too short");
    load_refused("short", key_hex, 62, 0600, EVS_SEAL_EFORMAT, "too short");
    load_refused("odd", key_hex, 63, 0600, EVS_SEAL_EFORMAT, "too short");
    snprintf(text, sizeof text, "%s00", key_hex);
    load_refused("long", text, 66, 0600, EVS_SEAL_EFORMAT, "too long");
    snprintf(text, sizeof text, "%s\n\n", key_hex);
    load_refused("two-newlines", text, 66, 0600, EVS_SEAL_EFORMAT, "too long");
    snprintf(text, sizeof text, "%s\r\n", key_hex);
    load_refused("crlf", text, 66, 0600, EVS_SEAL_EFORMAT, "too long");
    snprintf(text, sizeof text, "%s", key_hex);
    text[0] = ' ';
    load_refused("blank", text, 64, 0600, EVS_SEAL_EFORMAT, "byte 1 is not a hex digit");
    snprintf(text, sizeof text, "%s", key_hex);
    text[9] = 'g';
    load_refused("non-hex", text, 64, 0600, EVS_SEAL_EFORMAT, "byte 10 is not a hex digit");
    /* Twice as long: the text of a 64-byte key. */
    snprintf(text, sizeof text, "%s%s", key_hex, key_hex);
    load_refused("double", text, 128, 0600, EVS_SEAL_EFORMAT, "too long");
    /* Open to group or others: refused whatever the content, the message says what to do. */
    load_refused("0644", key_hex, 64, 0644, EVS_SEAL_EMODE, "chmod 600");
    load_refused("0640", key_hex, 64, 0640, EVS_SEAL_EMODE, "mode 640");
    load_refused("0604", key_hex, 64, 0604, EVS_SEAL_EMODE, "chmod 600");
    load_refused("0602", key_hex, 64, 0602, EVS_SEAL_EMODE, "chmod 600");
    /* No such file, and a directory. */
    evs_master_key mk;
    char err[512], path[128];
    snprintf(path, sizeof path, "%s/missing", dir);
    assert_int_equal(evs_master_key_load(path, &mk, err, sizeof err), EVS_SEAL_EFILE);
    assert_non_null(strstr(err, "cannot open"));
    assert_int_equal(evs_master_key_load(dir, &mk, err, sizeof err), EVS_SEAL_EFILE);
    assert_non_null(strstr(err, "not a regular file"));
}

static void test_master_key_id(void **state)
{
    evs_master_key a, b;
    uint8_t zero[EVS_SEAL_KEY_BYTES] = {0};
    assert_int_equal(evs_master_key_from_bytes(zero, &a), 0);
    /* BLAKE2b-256 of 32 zero bytes, its first 8 bytes. */
    assert_string_equal(a.id, "89eb0d6a8a691dae");
    assert_int_equal(evs_master_key_from_bytes(zero, &b), 0);
    assert_string_equal(a.id, b.id);
    master(&b, 0x01);
    assert_string_not_equal(a.id, b.id);
    assert_int_equal(strlen(b.id), EVS_MASTER_KEY_ID_LEN);
}

static void test_master_key_generate(void **state)
{
    evs_master_key made, loaded;
    char err[512], path[128];
    struct stat st;
    snprintf(path, sizeof path, "%s/generated", dir);
    mode_t old = umask(077);
    assert_int_equal(evs_master_key_generate_file(path, &made, err, sizeof err), 0);
    umask(old);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 65);
    assert_int_equal(evs_master_key_load(path, &loaded, err, sizeof err), 0);
    assert_memory_equal(&loaded, &made, sizeof made);
    /* Never over an existing key. */
    assert_int_equal(evs_master_key_generate_file(path, NULL, err, sizeof err), EVS_SEAL_EFILE);
    assert_non_null(strstr(err, "never overwritten"));
    assert_int_equal(evs_master_key_load(path, &loaded, err, sizeof err), 0);
    assert_memory_equal(&loaded, &made, sizeof made);
    /* Two new keys differ. */
    snprintf(path, sizeof path, "%s/generated-2", dir);
    assert_int_equal(evs_master_key_generate_file(path, &loaded, err, sizeof err), 0);
    assert_memory_not_equal(loaded.key, made.key, sizeof made.key);
    /* A directory that does not exist. */
    snprintf(path, sizeof path, "%s/no/such/dir", dir);
    assert_int_equal(evs_master_key_generate_file(path, NULL, err, sizeof err), EVS_SEAL_EFILE);
    assert_non_null(strstr(err, "cannot create"));
    evs_master_key_wipe(&made);
    evs_master_key_wipe(&loaded);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_round_trip),
        cmocka_unit_test(test_payload_refused),
        cmocka_unit_test(test_payload_nonces_differ),
        cmocka_unit_test(test_payload_invalid),
        cmocka_unit_test(test_data_key_new),
        cmocka_unit_test(test_data_key_round_trip),
        cmocka_unit_test(test_data_key_refused),
        cmocka_unit_test(test_master_key_load),
        cmocka_unit_test(test_master_key_refused),
        cmocka_unit_test(test_master_key_id),
        cmocka_unit_test(test_master_key_generate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
