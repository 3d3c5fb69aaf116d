/*
 * test_key_codec.c - key topic records (schemas/key_codec.c): a record goes to bytes and
 * back unchanged, and the bytes are exactly the Avro single-object form written by hand;
 * a sealed data key survives the trip and still opens; the decoder refuses a record under
 * another key, every truncation, trailing bytes, another schema, garbage, and fields out of
 * the format's rules, and leaves nothing filled in when it does.
 */
#include <setjmp.h> /* cmocka needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key_codec.h"

#define SUBJECT "customer-42"

static const uint8_t key_id[EVS_KEY_ID_BYTES] = {0x3f, 0x2a, 0x91, 0x0c, 0x5d, 0x6e, 0x4b, 0x17,
                                                 0x8a, 0x01, 0xc2, 0xd3, 0xe4, 0xf5, 0x06, 0x17};
#define KEY_ID_TEXT "3f2a910c-5d6e-4b17-8a01-c2d3e4f50617"
#define KAFKA_KEY SUBJECT "/" KEY_ID_TEXT

static evs_key_record sample(void)
{
    evs_key_record r;
    memset(&r, 0, sizeof r);
    strcpy(r.subject, SUBJECT);
    strcpy(r.sealed.master_key_id, "89eb0d6a8a691dae");
    memcpy(r.sealed.key_id, key_id, sizeof key_id);
    for (size_t i = 0; i < sizeof r.sealed.nonce; i++)
        r.sealed.nonce[i] = (uint8_t)(0xa0 + i);
    for (size_t i = 0; i < sizeof r.sealed.sealed; i++)
        r.sealed.sealed[i] = (uint8_t)(3 * i);
    r.created_us = 1765000000123456LL;
    return r;
}

/* ---- Avro binary by hand, independent of avro-c -------------------------------------- */

/* fastavro 1.13.1: fingerprint(to_parsing_canonical_form(evstore.DataKey.avsc),
 * "CRC-64-AVRO") is hex c424d09eb9b55b7a (little-endian bytes). A change here is a format
 * change: every key record already written would no longer decode. */
#define DATA_KEY_FINGERPRINT UINT64_C(0x7a5bb5b99ed024c4)

typedef struct bytes {
    uint8_t data[1024];
    size_t len;
} bytes;

static void put_long(bytes *b, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        b->data[b->len++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    b->data[b->len++] = (uint8_t)z;
}

static void put_blob(bytes *b, const void *p, size_t n)
{
    put_long(b, (int64_t)n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_text(bytes *b, const char *s)
{
    put_blob(b, s, strlen(s));
}

/* The single-object form of a record with these fields. */
static bytes by_hand(const char *subject, const char *id_text, const char *master_key_id,
                     const void *nonce, size_t nonce_len, const void *sealed, size_t sealed_len,
                     int64_t created_us)
{
    bytes b = {.len = 0};
    b.data[b.len++] = 0xC3;
    b.data[b.len++] = 0x01;
    for (int i = 0; i < 8; i++)
        b.data[b.len++] = (uint8_t)(DATA_KEY_FINGERPRINT >> (8 * i));
    put_text(&b, subject);
    put_text(&b, id_text);
    put_text(&b, master_key_id);
    put_blob(&b, nonce, nonce_len);
    put_blob(&b, sealed, sealed_len);
    put_long(&b, created_us);
    return b;
}

static bytes sample_by_hand(void)
{
    evs_key_record r = sample();
    return by_hand(r.subject, KEY_ID_TEXT, r.sealed.master_key_id, r.sealed.nonce,
                   sizeof r.sealed.nonce, r.sealed.sealed, sizeof r.sealed.sealed, r.created_us);
}

static void decode_refused(const void *key, size_t key_len, const void *value, size_t len,
                           const char *message)
{
    evs_key_record d;
    char err[256] = "";
    memset(&d, 0x5a, sizeof d);
    assert_int_equal(evs_key_record_decode(key, key_len, value, len, &d, err, sizeof err), -1);
    assert_true(err[0] != 0);
    if (message && !strstr(err, message))
        fail_msg("expected \"%s\" in: %s", message, err);
    evs_key_record zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&d, &zero, sizeof d);
}

/* ---- Tests --------------------------------------------------------------------------- */

static void test_fingerprint(void **state)
{
    assert_int_equal(evs_key_record_fingerprint(), DATA_KEY_FINGERPRINT);
}

static void test_round_trip(void **state)
{
    evs_key_record r = sample(), d;
    evs_buf buf = {0};
    char err[256], key[EVS_KEY_RECORD_KEY_MAX + 1];
    assert_int_equal(evs_key_record_encode(&r, &buf), 0);
    bytes expected = sample_by_hand();
    assert_int_equal(buf.len, expected.len);
    assert_memory_equal(buf.data, expected.data, expected.len);
    int n = evs_key_record_key(r.subject, strlen(r.subject), r.sealed.key_id, key);
    assert_int_equal(n, (int)strlen(KAFKA_KEY));
    assert_string_equal(key, KAFKA_KEY);
    assert_int_equal(evs_key_record_decode(key, (size_t)n, buf.data, buf.len, &d, err, sizeof err),
                     0);
    assert_memory_equal(&d, &r, sizeof r);
    evs_buf_free(&buf);
}

/* What the key topic is for: a data key sealed, written, read back, opened, and a payload
 * it sealed opening with it. */
static void test_sealed_key_survives(void **state)
{
    evs_master_key mk;
    evs_data_key dk, opened;
    evs_key_record r, d;
    evs_buf buf = {0}, cipher = {0}, plain = {0};
    uint8_t master_bytes[EVS_SEAL_KEY_BYTES], nonce[EVS_SEAL_NONCE_BYTES];
    char err[256], key[EVS_KEY_RECORD_KEY_MAX + 1];
    memset(master_bytes, 7, sizeof master_bytes);
    assert_int_equal(evs_master_key_from_bytes(master_bytes, &mk), 0);
    assert_int_equal(evs_data_key_new(&dk), 0);
    memset(&r, 0, sizeof r);
    strcpy(r.subject, "alice@example.com");
    r.created_us = 1765000000000000LL;
    assert_int_equal(evs_data_key_seal(&mk, r.subject, strlen(r.subject), &dk, &r.sealed), 0);
    assert_int_equal(evs_seal_payload(&dk, key_id, EVS_PAYLOAD_DATA, (const uint8_t *)"{}", 2,
                                      &cipher, nonce),
                     0);
    assert_int_equal(evs_key_record_encode(&r, &buf), 0);
    int n = evs_key_record_key(r.subject, strlen(r.subject), dk.id, key);
    assert_true(n > 0);
    assert_int_equal(evs_key_record_decode(key, (size_t)n, buf.data, buf.len, &d, err, sizeof err),
                     0);
    assert_int_equal(evs_data_key_unseal(&mk, d.subject, strlen(d.subject), &d.sealed, &opened),
                     0);
    assert_memory_equal(&opened, &dk, sizeof dk);
    assert_int_equal(evs_open_payload(&opened, key_id, EVS_PAYLOAD_DATA, cipher.data, cipher.len,
                                      nonce, &plain),
                     0);
    assert_int_equal(plain.len, 2);
    assert_memory_equal(plain.data, "{}", 2);
    evs_master_key_wipe(&mk);
    evs_data_key_wipe(&dk);
    evs_data_key_wipe(&opened);
    evs_buf_free(&buf);
    evs_buf_free(&cipher);
    evs_buf_free(&plain);
}

static void test_key_mismatch(void **state)
{
    bytes b = sample_by_hand();
    const char *keys[] = {
        "customer-43/" KEY_ID_TEXT,                  /* another subject */
        SUBJECT "/3f2a910c-5d6e-4b17-8a01-c2d3e4f50618", /* another key id */
        SUBJECT "/3F2A910C-5D6E-4B17-8A01-C2D3E4F50617", /* the id in upper case */
        KAFKA_KEY "x",                               /* a byte more */
        SUBJECT,                                     /* the subject alone */
        KEY_ID_TEXT,                                 /* the key id alone */
        "",
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        decode_refused(keys[i], strlen(keys[i]), b.data, b.len, "Kafka key");
    /* A byte fewer, and no key. */
    decode_refused(KAFKA_KEY, strlen(KAFKA_KEY) - 1, b.data, b.len, "Kafka key");
    decode_refused(NULL, 0, b.data, b.len, "Kafka key");
}

static void test_decoder_refuses(void **state)
{
    bytes b = sample_by_hand();
    const char *k = KAFKA_KEY;
    size_t kl = strlen(KAFKA_KEY);
    /* Every truncation, and a byte more. */
    for (size_t n = 0; n < b.len; n++)
        decode_refused(k, kl, b.data, n, NULL);
    b.data[b.len] = 0;
    decode_refused(k, kl, b.data, b.len + 1, NULL);
    /* A tombstone, another schema's fingerprint, no marker. */
    decode_refused(k, kl, NULL, 0, "tombstone");
    b.data[5] ^= 0xff;
    decode_refused(k, kl, b.data, b.len, "unknown writer schema");
    b.data[5] ^= 0xff;
    b.data[1] = 0x02;
    decode_refused(k, kl, b.data, b.len, "single-object");
    /* Garbage after a good header: whatever it is, refused or read cleanly, never a crash
     * (ASan and valgrind watch the reads). */
    b = sample_by_hand();
    srand(42);
    for (int round = 0; round < 2000; round++) {
        bytes g = b;
        size_t len = 10 + (size_t)rand() % (b.len - 9);
        for (size_t i = 10; i < len; i++)
            g.data[i] = (uint8_t)rand();
        evs_key_record d;
        char err[256];
        int rc = evs_key_record_decode(k, kl, g.data, len, &d, err, sizeof err);
        assert_true(rc == 0 || rc == -1);
    }
}

static void test_fields_refused(void **state)
{
    evs_key_record r = sample();
    const char *k = KAFKA_KEY;
    size_t kl = strlen(KAFKA_KEY);
    const char *master = r.sealed.master_key_id;
    const uint8_t *nonce = r.sealed.nonce, *sealed = r.sealed.sealed;
    bytes b;
    b = by_hand(SUBJECT, KEY_ID_TEXT, master, nonce, 23, sealed, 48, 1);
    decode_refused(k, kl, b.data, b.len, "nonce");
    b = by_hand(SUBJECT, KEY_ID_TEXT, master, nonce, 24, sealed, 47, 1);
    decode_refused(k, kl, b.data, b.len, "sealed key");
    b = by_hand(SUBJECT, KEY_ID_TEXT, master, nonce, 24, sealed, 49, 1);
    decode_refused(k, kl, b.data, b.len, "sealed key");
    b = by_hand(SUBJECT, "3F2A910C-5D6E-4B17-8A01-C2D3E4F50617", master, nonce, 24, sealed, 48, 1);
    decode_refused(k, kl, b.data, b.len, "lowercase UUID");
    b = by_hand(SUBJECT, "3f2a910c5d6e4b178a01c2d3e4f50617", master, nonce, 24, sealed, 48, 1);
    decode_refused(k, kl, b.data, b.len, "lowercase UUID");
    b = by_hand(SUBJECT, KEY_ID_TEXT, "89EB0D6A8A691DAE", nonce, 24, sealed, 48, 1);
    decode_refused(k, kl, b.data, b.len, "master key id");
    b = by_hand(SUBJECT, KEY_ID_TEXT, "89eb0d6a8a691da", nonce, 24, sealed, 48, 1);
    decode_refused(k, kl, b.data, b.len, "master key id");
    b = by_hand(SUBJECT, KEY_ID_TEXT, "89eb0d6a8a691dae0", nonce, 24, sealed, 48, 1);
    decode_refused(k, kl, b.data, b.len, "too long");
    b = by_hand(SUBJECT, KEY_ID_TEXT, master, nonce, 24, sealed, 48, -1);
    decode_refused(k, kl, b.data, b.len, "negative");
    b = by_hand("customer 42", KEY_ID_TEXT, master, nonce, 24, sealed, 48, 1);
    decode_refused("customer 42/" KEY_ID_TEXT, kl, b.data, b.len, "invalid subject");
    b = by_hand("", KEY_ID_TEXT, master, nonce, 24, sealed, 48, 1);
    decode_refused("/" KEY_ID_TEXT, kl - strlen(SUBJECT), b.data, b.len, "invalid subject");
    /* A NUL inside a string. */
    b = by_hand(SUBJECT, KEY_ID_TEXT, master, nonce, 24, sealed, 48, 1);
    b.data[10 + 1 + 4] = 0; /* "cust\0mer-42" */
    decode_refused(k, kl, b.data, b.len, "not text");
    /* The longest subject still fits. */
    char subject[EVS_SUBJECT_MAX + 1], key[EVS_KEY_RECORD_KEY_MAX + 1];
    memset(subject, 's', EVS_SUBJECT_MAX);
    subject[EVS_SUBJECT_MAX] = 0;
    b = by_hand(subject, KEY_ID_TEXT, master, nonce, 24, sealed, 48, 0);
    int n = evs_key_record_key(subject, EVS_SUBJECT_MAX, key_id, key);
    assert_int_equal(n, EVS_KEY_RECORD_KEY_MAX);
    evs_key_record d;
    char err[256];
    assert_int_equal(evs_key_record_decode(key, (size_t)n, b.data, b.len, &d, err, sizeof err), 0);
    assert_string_equal(d.subject, subject);
}

static void test_encoder_refuses(void **state)
{
    evs_buf buf = {0};
    evs_key_record r = sample();
    strcpy(r.subject, "a/b");
    assert_int_equal(evs_key_record_encode(&r, &buf), -1);
    r = sample();
    r.subject[0] = 0;
    assert_int_equal(evs_key_record_encode(&r, &buf), -1);
    r = sample();
    memset(r.subject, 'a', sizeof r.subject); /* no NUL */
    assert_int_equal(evs_key_record_encode(&r, &buf), -1);
    r = sample();
    r.sealed.master_key_id[3] = 'G';
    assert_int_equal(evs_key_record_encode(&r, &buf), -1);
    r = sample();
    r.sealed.master_key_id[15] = 0;
    assert_int_equal(evs_key_record_encode(&r, &buf), -1);
    r = sample();
    r.created_us = -1;
    assert_int_equal(evs_key_record_encode(&r, &buf), -1);
    evs_buf_free(&buf);
}

static void test_key_parse(void **state)
{
    char subject[EVS_SUBJECT_MAX + 1];
    uint8_t id[EVS_KEY_ID_BYTES];
    assert_int_equal(evs_key_record_key_parse(KAFKA_KEY, strlen(KAFKA_KEY), subject, id), 0);
    assert_string_equal(subject, SUBJECT);
    assert_memory_equal(id, key_id, sizeof id);
    const char *bad[] = {
        SUBJECT "-" KEY_ID_TEXT,                      /* no '/' */
        "/" KEY_ID_TEXT,                              /* no subject */
        "a b/" KEY_ID_TEXT,                           /* invalid subject */
        "a/b/" KEY_ID_TEXT,                           /* '/' in the subject */
        SUBJECT "/3F2A910C-5D6E-4B17-8A01-C2D3E4F50617", /* upper case */
        SUBJECT "/3f2a910c-5d6e-4b17-8a01-c2d3e4f5061x", /* not hex */
        SUBJECT "/" KEY_ID_TEXT "0",                  /* longer id */
        KEY_ID_TEXT,
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(evs_key_record_key_parse(bad[i], strlen(bad[i]), subject, id), -1);
    char longest[EVS_KEY_RECORD_KEY_MAX + 2];
    memset(longest, 's', EVS_SUBJECT_MAX + 1);
    snprintf(longest + EVS_SUBJECT_MAX + 1, sizeof longest - EVS_SUBJECT_MAX - 1,
             "/%s", KEY_ID_TEXT);
    assert_int_equal(evs_key_record_key_parse(longest, strlen(longest), subject, id), -1);
    assert_int_equal(evs_key_record_key_parse(longest + 1, strlen(longest) - 1, subject, id), 0);
    assert_int_equal(strlen(subject), EVS_SUBJECT_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_sealed_key_survives),
        cmocka_unit_test(test_key_mismatch),
        cmocka_unit_test(test_decoder_refuses),
        cmocka_unit_test(test_fields_refused),
        cmocka_unit_test(test_encoder_refuses),
        cmocka_unit_test(test_key_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
