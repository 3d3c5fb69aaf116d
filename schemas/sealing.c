/*
 * sealing.c - master keys, data keys and sealed payloads (sealing.h), on libsodium.
 *
 * Invariants:
 *   K1. Every libsodium call comes after sodium_init() succeeded (ready()).
 *   K2. Every copy of secret bytes this file makes outside the caller's structs (the key
 *       file's text, a key before it is handed out) is wiped with sodium_memzero before
 *       its storage is left or freed, on every path.
 *   K3. A failed open leaves no plaintext behind: the output is wiped and emptied.
 */
#include "sealing.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_HEX_LEN (2 * EVS_SEAL_KEY_BYTES)

/* The sizes this file promises are libsodium's. */
_Static_assert(EVS_SEAL_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(EVS_SEAL_NONCE_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
               "nonce size");
_Static_assert(EVS_SEAL_TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(EVS_MASTER_KEY_ID_LEN / 2 <= crypto_generichash_BYTES, "master key id size");

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_ok;

static void sodium_init_once(void)
{
    sodium_ok = sodium_init() >= 0; /* 1: already initialised by someone else, also fine */
}

/* K1. */
static int ready(void)
{
    pthread_once(&sodium_once, sodium_init_once);
    return sodium_ok;
}

static int fail(int code, char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(int code, char *err, size_t err_len, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *evs_seal_strerror(int code)
{
    switch (code) {
    case EVS_SEAL_OK:
        return "success";
    case EVS_SEAL_EINVAL:
        return "invalid argument";
    case EVS_SEAL_EAUTH:
        return "ciphertext does not authenticate (wrong key, or changed or moved bytes)";
    case EVS_SEAL_EMASTER:
        return "sealed by another master key";
    case EVS_SEAL_EFILE:
        return "cannot open, read or write the master key file";
    case EVS_SEAL_EFORMAT:
        return "the master key file is not 64 hex digits";
    case EVS_SEAL_EMODE:
        return "the master key file is open to group or others";
    case EVS_SEAL_ENOMEM:
        return "out of memory";
    case EVS_SEAL_EINIT:
        return "libsodium cannot be initialised";
    }
    return "unknown error";
}

int evs_subject_valid(const char *subject, size_t len)
{
    return subject && len <= EVS_SUBJECT_MAX && evs_stream_name_valid(subject, len);
}

/* ---- Master keys --------------------------------------------------------------------- */

int evs_master_key_from_bytes(const uint8_t key[EVS_SEAL_KEY_BYTES], evs_master_key *out)
{
    uint8_t hash[crypto_generichash_BYTES];
    if (!ready())
        return EVS_SEAL_EINIT;
    memmove(out->key, key, EVS_SEAL_KEY_BYTES);
    crypto_generichash(hash, sizeof hash, out->key, EVS_SEAL_KEY_BYTES, NULL, 0);
    sodium_bin2hex(out->id, sizeof out->id, hash, EVS_MASTER_KEY_ID_LEN / 2);
    return 0;
}

void evs_master_key_wipe(evs_master_key *mk)
{
    sodium_memzero(mk, sizeof *mk);
}

int evs_master_key_load(const char *path, evs_master_key *out, char *err, size_t err_len)
{
    /* Room for one byte more than a valid file, to tell "too long" from "just right". */
    char text[KEY_FILE_HEX_LEN + 2];
    uint8_t key[EVS_SEAL_KEY_BYTES];
    size_t len = 0;
    struct stat st;
    int rc;
    memset(out, 0, sizeof *out);
    if (!ready())
        return fail(EVS_SEAL_EINIT, err, err_len, "libsodium cannot be initialised");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return fail(EVS_SEAL_EFILE, err, err_len, "master key file %s: cannot open: %s", path,
                    strerror(errno));
    /* The mode is checked on the open file, and before its secret is read. */
    if (fstat(fd, &st) < 0) {
        rc = fail(EVS_SEAL_EFILE, err, err_len, "master key file %s: cannot stat: %s", path,
                  strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = fail(EVS_SEAL_EFILE, err, err_len, "master key file %s: not a regular file", path);
        goto done;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        rc = fail(EVS_SEAL_EMODE, err, err_len,
                  "master key file %s: mode %03o lets group or others at it; "
                  "run chmod 600 %s (and check who could have read it)",
                  path, (unsigned)(st.st_mode & 0777), path);
        goto done;
    }
    while (len < sizeof text) {
        ssize_t n = read(fd, text + len, sizeof text - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = fail(EVS_SEAL_EFILE, err, err_len, "master key file %s: cannot read: %s",
                      path, strerror(errno));
            goto done;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len == KEY_FILE_HEX_LEN + 1 && text[KEY_FILE_HEX_LEN] == '\n')
        len--;
    if (len != KEY_FILE_HEX_LEN) {
        rc = fail(EVS_SEAL_EFORMAT, err, err_len,
                  "master key file %s: %s; it must hold 64 hex digits (32 bytes) and at most "
                  "a newline (evstore keygen writes one)",
                  path, len < KEY_FILE_HEX_LEN ? "too short" : "too long");
        goto done;
    }
    size_t key_len = 0;
    if (sodium_hex2bin(key, sizeof key, text, len, NULL, &key_len, NULL) != 0 ||
        key_len != sizeof key) {
        size_t at = 0;
        while (at < len && ((text[at] >= '0' && text[at] <= '9') ||
                            ((text[at] | 0x20) >= 'a' && (text[at] | 0x20) <= 'f')))
            at++;
        rc = fail(EVS_SEAL_EFORMAT, err, err_len,
                  "master key file %s: byte %zu is not a hex digit; it must hold 64 hex "
                  "digits (32 bytes) and at most a newline",
                  path, at + 1);
        goto done;
    }
    rc = evs_master_key_from_bytes(key, out);
done:
    sodium_memzero(text, sizeof text); /* K2 */
    sodium_memzero(key, sizeof key);
    close(fd);
    return rc;
}

/* Flushes the directory holding path, so that a new file's name is on disk too. */
static int sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int evs_master_key_generate_file(const char *path, evs_master_key *out, char *err,
                                 size_t err_len)
{
    uint8_t key[EVS_SEAL_KEY_BYTES];
    char text[KEY_FILE_HEX_LEN + 2]; /* hex, "\n", and the NUL sodium_bin2hex writes */
    evs_master_key mk;
    int rc;
    if (!ready())
        return fail(EVS_SEAL_EINIT, err, err_len, "libsodium cannot be initialised");
    /* O_EXCL: never replace a master key; O_NOFOLLOW: nor write through a planted link. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(EVS_SEAL_EFILE, err, err_len, "master key file %s: cannot create: %s%s",
                    path, strerror(errno),
                    errno == EEXIST ? " (a master key is never overwritten)" : "");
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(text, sizeof text, key, sizeof key);
    text[KEY_FILE_HEX_LEN] = '\n';
    size_t done = 0;
    /* The umask may have taken the owner's bits too; the owner must be able to read it. */
    if (fchmod(fd, 0600) < 0)
        goto io_fail;
    while (done < KEY_FILE_HEX_LEN + 1) {
        ssize_t n = write(fd, text + done, KEY_FILE_HEX_LEN + 1 - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto io_fail;
        done += (size_t)n;
    }
    if (fsync(fd) < 0)
        goto io_fail;
    if (close(fd) < 0) {
        fd = -1;
        goto io_fail;
    }
    fd = -1;
    if (sync_parent(path) < 0)
        goto io_fail;
    rc = evs_master_key_from_bytes(key, &mk);
    if (rc == 0 && out)
        *out = mk;
    evs_master_key_wipe(&mk);
    goto wipe;
io_fail:
    rc = fail(EVS_SEAL_EFILE, err, err_len, "master key file %s: cannot write: %s", path,
              strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(path);
wipe:
    sodium_memzero(key, sizeof key); /* K2 */
    sodium_memzero(text, sizeof text);
    return rc;
}

/* ---- Data keys ----------------------------------------------------------------------- */

int evs_data_key_new(evs_data_key *out)
{
    if (!ready())
        return EVS_SEAL_EINIT;
    randombytes_buf(out->key, sizeof out->key);
    randombytes_buf(out->id, sizeof out->id);
    out->id[6] = (uint8_t)((out->id[6] & 0x0F) | 0x40); /* version 4 */
    out->id[8] = (uint8_t)((out->id[8] & 0x3F) | 0x80); /* variant 10 (RFC 4122) */
    return 0;
}

void evs_data_key_wipe(evs_data_key *dk)
{
    sodium_memzero(dk, sizeof *dk);
}

/* The associated data of a sealed key: its id, then its subject (sealing.h). Returns the
 * length. */
static size_t key_ad(uint8_t ad[EVS_KEY_ID_BYTES + EVS_SUBJECT_MAX], const uint8_t *key_id,
                     const char *subject, size_t subject_len)
{
    memcpy(ad, key_id, EVS_KEY_ID_BYTES);
    memcpy(ad + EVS_KEY_ID_BYTES, subject, subject_len);
    return EVS_KEY_ID_BYTES + subject_len;
}

int evs_data_key_seal(const evs_master_key *mk, const char *subject, size_t subject_len,
                      const evs_data_key *dk, evs_sealed_key *out)
{
    uint8_t ad[EVS_KEY_ID_BYTES + EVS_SUBJECT_MAX];
    if (!ready())
        return EVS_SEAL_EINIT;
    if (!evs_subject_valid(subject, subject_len))
        return EVS_SEAL_EINVAL;
    size_t ad_len = key_ad(ad, dk->id, subject, subject_len);
    memcpy(out->master_key_id, mk->id, sizeof out->master_key_id);
    memcpy(out->key_id, dk->id, sizeof out->key_id);
    randombytes_buf(out->nonce, sizeof out->nonce);
    /* A 32-byte key always seals to EVS_SEALED_KEY_BYTES (the static asserts above). */
    crypto_aead_xchacha20poly1305_ietf_encrypt(out->sealed, NULL, dk->key, sizeof dk->key, ad,
                                               ad_len, NULL, out->nonce, mk->key);
    return 0;
}

int evs_data_key_unseal(const evs_master_key *mk, const char *subject, size_t subject_len,
                        const evs_sealed_key *sealed, evs_data_key *out)
{
    uint8_t ad[EVS_KEY_ID_BYTES + EVS_SUBJECT_MAX];
    unsigned long long key_len = 0;
    sodium_memzero(out, sizeof *out);
    if (!ready())
        return EVS_SEAL_EINIT;
    if (!evs_subject_valid(subject, subject_len))
        return EVS_SEAL_EINVAL;
    if (strncmp(sealed->master_key_id, mk->id, sizeof mk->id) != 0)
        return EVS_SEAL_EMASTER;
    size_t ad_len = key_ad(ad, sealed->key_id, subject, subject_len);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out->key, &key_len, NULL, sealed->sealed,
                                                   sizeof sealed->sealed, ad, ad_len,
                                                   sealed->nonce, mk->key) != 0 ||
        key_len != sizeof out->key) {
        sodium_memzero(out, sizeof *out); /* K3 */
        return EVS_SEAL_EAUTH;
    }
    memcpy(out->id, sealed->key_id, sizeof out->id);
    return 0;
}

/* ---- Payloads ------------------------------------------------------------------------ */

#define PAYLOAD_AD_LEN (EVS_EVENT_ID_BYTES + 1)

/* Makes room for n bytes in b (its contents are not kept). Returns 0 or -1. */
static int buf_fit(evs_buf *b, size_t n)
{
    if (b->cap >= n && b->data)
        return 0;
    uint8_t *p = realloc(b->data, n ? n : 1);
    if (!p)
        return -1;
    b->data = p;
    b->cap = n ? n : 1;
    return 0;
}

static void payload_ad(uint8_t ad[PAYLOAD_AD_LEN], const uint8_t *event_id, int part)
{
    memcpy(ad, event_id, EVS_EVENT_ID_BYTES);
    ad[EVS_EVENT_ID_BYTES] = (uint8_t)part;
}

static int part_valid(int part)
{
    return part == EVS_PAYLOAD_DATA || part == EVS_PAYLOAD_METADATA;
}

int evs_seal_payload(const evs_data_key *dk, const uint8_t event_id[EVS_EVENT_ID_BYTES],
                     int part, const uint8_t *plain, size_t len, evs_buf *out_cipher,
                     uint8_t nonce_out[EVS_SEAL_NONCE_BYTES])
{
    uint8_t ad[PAYLOAD_AD_LEN];
    if (!ready())
        return EVS_SEAL_EINIT;
    if (!part_valid(part) || len > EVS_SEAL_PAYLOAD_MAX || (!plain && len))
        return EVS_SEAL_EINVAL;
    out_cipher->len = 0;
    if (buf_fit(out_cipher, len + EVS_SEAL_TAG_BYTES) < 0)
        return EVS_SEAL_ENOMEM;
    payload_ad(ad, event_id, part);
    randombytes_buf(nonce_out, EVS_SEAL_NONCE_BYTES);
    unsigned long long cipher_len = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out_cipher->data, &cipher_len, plain, len, ad,
                                               sizeof ad, NULL, nonce_out, dk->key);
    out_cipher->len = (size_t)cipher_len;
    return 0;
}

int evs_open_payload(const evs_data_key *dk, const uint8_t event_id[EVS_EVENT_ID_BYTES],
                     int part, const uint8_t *cipher, size_t len,
                     const uint8_t nonce[EVS_SEAL_NONCE_BYTES], evs_buf *out_plain)
{
    uint8_t ad[PAYLOAD_AD_LEN];
    out_plain->len = 0;
    if (!ready())
        return EVS_SEAL_EINIT;
    if (!part_valid(part) || (!cipher && len))
        return EVS_SEAL_EINVAL;
    if (len < EVS_SEAL_TAG_BYTES)
        return EVS_SEAL_EAUTH; /* cut below its tag: not a ciphertext of ours */
    if (len - EVS_SEAL_TAG_BYTES > EVS_SEAL_PAYLOAD_MAX)
        return EVS_SEAL_EINVAL;
    size_t plain_cap = len - EVS_SEAL_TAG_BYTES;
    if (buf_fit(out_plain, plain_cap) < 0)
        return EVS_SEAL_ENOMEM;
    payload_ad(ad, event_id, part);
    unsigned long long plain_len = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out_plain->data, &plain_len, NULL, cipher,
                                                   len, ad, sizeof ad, nonce, dk->key) != 0) {
        sodium_memzero(out_plain->data, plain_cap); /* K3 */
        return EVS_SEAL_EAUTH;
    }
    out_plain->len = (size_t)plain_len;
    return 0;
}
