/*
 * schema_canonical.h - Avro Parsing Canonical Form and the CRC-64-AVRO (Rabin) fingerprint.
 *
 * The public entry point, evs_schema_canonical(), is declared in record_codec.h; this header
 * adds what other modules of schemas/ need: the raw fingerprint function. See
 * schema_canonical.c for the rules.
 */
#ifndef EVS_SCHEMA_CANONICAL_H
#define EVS_SCHEMA_CANONICAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The CRC-64-AVRO fingerprint of len bytes (the Avro specification's "Rabin" fingerprint:
 * empty value 0xc15d213aa4d7a795, reflected polynomial). Written little-endian in the
 * single-object header. */
uint64_t evs__fingerprint64(const void *data, size_t len);

/* evs_schema_canonical() for json_len bytes of JSON (not necessarily NUL-terminated), with a
 * message naming the problem in err (NUL-terminated, truncated to err_len) on failure. */
int evs__schema_canonical(const char *json, size_t json_len, char **canonical_out,
                          uint64_t *fingerprint, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif /* EVS_SCHEMA_CANONICAL_H */
