/*
 * schemas_builtin.h - the schema files of schemas/ (*.avsc), compiled into the library.
 *
 * The table is generated at build time by embed_schemas.cmake from every .avsc file in schemas/,
 * sorted by file name, and regenerated whenever one of them changes, so the decoder knows
 * every released writer schema by fingerprint. Rule for schema changes: the current
 * AppendRequest is always schemas/evstore.AppendRequest.avsc; before changing it, copy the
 * released version to schemas/evstore.AppendRequest.vN.avsc so that records written with it
 * stay readable.
 */
#ifndef EVS_SCHEMAS_BUILTIN_H
#define EVS_SCHEMAS_BUILTIN_H

#include <stddef.h>

typedef struct evs_builtin_schema {
    const char *file_name; /* e.g. "evstore.AppendRequest.avsc" */
    const char *json;      /* the file's bytes, NUL-terminated */
    size_t json_len;       /* without the NUL */
} evs_builtin_schema;

extern const evs_builtin_schema evs__builtin_schemas[];
extern const size_t evs__builtin_schema_count;

/* The file holding the current AppendRequest, the one evs_record_encode() writes. */
#define EVS_CURRENT_SCHEMA_FILE "evstore.AppendRequest.avsc"

#endif /* EVS_SCHEMAS_BUILTIN_H */
