/*
 * interop_json.h - the expectation file the interop tools write for decode_fastavro.py.
 *
 * The C side decodes each record with evs_record_decode() and writes what it saw as JSON;
 * decode_fastavro.py decodes the same bytes with fastavro and compares. Format of one
 * request (bytes as lowercase hex, ids as lowercase UUID text, absent ids as null):
 *   {"file": "12.bin", "append_id": "...", "stream": "...", "expected_kind": "EXACT",
 *    "expected_version": 3, "events": [{"event_id": "...", "type": "...",
 *    "content_type": "...", "data_hex": "...", "metadata_hex": "...",
 *    "correlation_id": null, "causation_id": "...", "created": 1700000000000000}]}
 */
#ifndef EVS_INTEROP_JSON_H
#define EVS_INTEROP_JSON_H

#include <jansson.h>

#include "record_codec.h"

/* The JSON object above for req, with "file" set to file. NULL if out of memory or a
 * string is not UTF-8. The caller owns the reference. */
json_t *evs_interop_request_json(const evs_append_request *req, const char *file);

/* Writes len bytes to path (created or replaced). Returns 0 or -1 (errno set). */
int evs_interop_write_file(const char *path, const void *data, size_t len);

#endif /* EVS_INTEROP_JSON_H */
