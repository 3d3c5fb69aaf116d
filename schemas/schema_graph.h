/*
 * schema_graph.h - a writer schema compiled into a small read-only graph, and a bounded
 * checker of Avro binary bodies against it.
 *
 * Internal to schemas/. The decoder runs evs__schema_body_check() on every record body
 * before handing it to avro-c, because avro-c trusts its input: it indexes union branches
 * without a bound check, allocates whatever length a string claims before reading it, and
 * loops over any block count. After the check has passed, avro-c reads exactly the bytes the
 * check accepted and cannot fail except for lack of memory.
 *
 * A graph is immutable after evs__schema_graph_build() returns, so any number of threads
 * may read it at once.
 */
#ifndef EVS_SCHEMA_GRAPH_H
#define EVS_SCHEMA_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum evs_avro_kind {
    EVS_AVRO_NULL,
    EVS_AVRO_BOOLEAN,
    EVS_AVRO_INT,
    EVS_AVRO_LONG,
    EVS_AVRO_FLOAT,
    EVS_AVRO_DOUBLE,
    EVS_AVRO_BYTES,
    EVS_AVRO_STRING,
    EVS_AVRO_RECORD,
    EVS_AVRO_ENUM,
    EVS_AVRO_ARRAY,
    EVS_AVRO_MAP,
    EVS_AVRO_UNION,
    EVS_AVRO_FIXED,
} evs_avro_kind;

typedef struct evs_schema_node evs_schema_node;
struct evs_schema_node {
    evs_avro_kind kind;
    const char *name;    /* fullname of a record, enum or fixed; NULL otherwise */
    size_t count;        /* fields (record), symbols (enum), branches (union), bytes (fixed) */
    const char **labels; /* field names (record) or symbols (enum); count entries */
    evs_schema_node **children; /* field types (record) or branches (union), count entries;
                                   children[0] is the items (array) or values (map) type */
    size_t min_bytes;           /* fewest bytes any value of this type encodes to (a lower
                                   bound for recursive types) */
    int min_state_;             /* private: 0 new, 1 computing, 2 done */
};

typedef struct evs_schema_graph evs_schema_graph;

/* Builds the graph of a schema given in Parsing Canonical Form (evs_schema_canonical()).
 * Returns 0 with *out to free with evs__schema_graph_free(), or -1 with a message. */
int evs__schema_graph_build(const char *canonical, evs_schema_graph **out, char *err,
                            size_t err_len);
const evs_schema_node *evs__schema_graph_root(const evs_schema_graph *graph);
void evs__schema_graph_free(evs_schema_graph *graph);

/* The index of the record field called name in record node, or -1. */
int evs__schema_field_index(const evs_schema_node *record, const char *name);

/* Checks that body[0..len) is exactly one Avro binary value of the graph's root type: no
 * truncation, no trailing bytes, lengths and counts that fit in what is left, union and
 * enum indexes in range, ints in range, booleans 0 or 1, varints of at most 64 bits, block
 * byte sizes that match, at most 64 levels of nesting and at most 65536 items of types
 * that encode to zero bytes. Returns 0, or -1 with a message naming the problem and where.
 * Thread-safe; allocates nothing. */
int evs__schema_body_check(const evs_schema_graph *graph, const uint8_t *body, size_t len,
                           char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif /* EVS_SCHEMA_GRAPH_H */
