/*
 * object_codec.h - the shared half of the codecs for evstore's low-rate records (the
 * members topic's and the state topic's), which go through avro-c's generic values: one
 * built-in schema per codec, loaded once, and Avro single-object framing around the body.
 *
 * Internal to schemas/. Single-object encoding: 0xC3 0x01, the CRC-64-AVRO fingerprint of
 * the schema's Parsing Canonical Form (little-endian), then the Avro binary body. A body is
 * checked against the schema graph (schema_graph.h) before avro-c reads it, so avro-c never
 * sees bytes it could misread.
 *
 * Thread safety: after evs__object_schema_get() returns, every function may be called from
 * any number of threads at once.
 */
#ifndef EVS_OBJECT_CODEC_H
#define EVS_OBJECT_CODEC_H

#include <avro.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "record_codec.h" /* evs_buf */
#include "schema_graph.h"

typedef struct evs_object_schema {
    const char *file_name; /* in schemas/, e.g. "evstore.Member.avsc" */
    pthread_once_t once;
    uint64_t fingerprint;
    evs_schema_graph *graph;
    avro_schema_t schema;
    avro_value_iface_t *iface;
} evs_object_schema;

#define EVS_OBJECT_SCHEMA(file) {(file), PTHREAD_ONCE_INIT, 0, NULL, NULL, NULL}

/* Loads s on first use (a build whose schema is missing or broken aborts: the unit tests
 * catch it) and returns it. */
evs_object_schema *evs__object_schema_get(evs_object_schema *s);

/* Writes the single-object form of v (a value of s's schema) into out, replacing its
 * contents. Returns 0 or -1. */
int evs__object_write(evs_object_schema *s, avro_value_t *v, evs_buf *out);

/* Checks the framing and the body of record[0..len) and reads it into *v, a new generic
 * value the caller releases with avro_value_decref() (only on success). Returns 0, or -1
 * with the reason in err. */
int evs__object_read(evs_object_schema *s, const void *record, size_t len, avro_value_t *v,
                     char *err, size_t err_len);

/* Copies string field `index` of record v into dst (cap bytes with the NUL); fails on a
 * string that is too long or holds a NUL. Returns 0 or -1. */
int evs__object_get_text(avro_value_t *v, int index, char *dst, size_t cap);

#endif /* EVS_OBJECT_CODEC_H */
