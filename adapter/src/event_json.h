/*
 * event_json.h - maps the projector's JSON answers (docs/HTTP-API.md) onto the public
 * result types. Pure functions of (HTTP status, body): no I/O, so they are unit-tested
 * without a broker or a projector.
 */
#ifndef EVS_EVENT_JSON_H
#define EVS_EVENT_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "evstore.h"

/* Writes the text form of an expectation ("any", "no_stream", "stream_exists" or the
 * decimal version) into out, NUL-terminated. */
void evs__expected_format(evs_expected expected, char out[32]);

/* Maps an answer of GET /verdicts/{id} onto result and a return code, and sets the
 * thread's last error on failure:
 *   200 accepted -> 0; duplicate -> 0 with result->duplicate = 1;
 *   200 wrong_expected_version -> EVS_EWRONG_VERSION (result->current_version filled);
 *   200 idempotency_conflict -> EVS_EIDEMPOTENCY; 200 invalid -> EVS_EREJECTED;
 *   404 -> EVS_ENOT_FOUND; 422 (record skipped) -> EVS_EREJECTED; 504 -> EVS_ETIMEOUT;
 *   400 -> EVS_EINVAL; 421 and other 5xx -> EVS_EUNAVAILABLE; anything else ->
 *   EVS_EPROTOCOL.
 *   200 stream_deleted -> EVS_ESTREAM_DELETED (the stream is a tombstone);
 * expected, if not NULL, is the text of the expectation the caller appended with; it is
 * used in the wrong-version message instead of the verdict's own `expected` field.
 * Fields the verdict lacks are left as they were in result. */
int evs__verdict_from_http(long http_status, const char *body, size_t body_len,
                           const char *expected, evs_append_result *result);

/* The same for the verdict of a record the caller produced with operation (the name
 * evs_operation_name gives: "append", "delete", "hard_delete", "truncate", "set_limits"),
 * or NULL when unknown (a lookup). A verdict whose own "operation" names another is
 * EVS_EPROTOCOL, and so is "duplicate" for anything but an append. The operation names the
 * record in messages ("delete <id> ..."). */
int evs__verdict_from_http_for(long http_status, const char *body, size_t body_len,
                               const char *expected, const char *operation,
                               evs_append_result *result);

/* The same for a 200 answer already parsed: root is the verdict object (an item's
 * "answer" of POST /verdicts, verdict_mux.h). */
int evs__verdict_from_json(const json_t *root, const char *expected, const char *operation,
                           evs_append_result *result);

/* Parses a 200 answer of GET /streams/{s}/metadata:
 *   {"stream","partition","current_version","first_version",
 *    "deleted": null|"soft"|"hard","max_count": N|null,"max_age_ms": N|null}
 * into *out (a null or absent limit is 0, "deleted" 0/1/2). Returns 0, or EVS_EPROTOCOL
 * naming the bad member with *out zeroed (partition -1); sets the last error. */
int evs__stream_metadata_from_json(const char *body, size_t body_len, evs_stream_metadata *out);

/* Parses a 200 answer of GET /streams/{s} or GET /all with encoding=base64 into a new
 * event list (one allocation; free with evs_event_list_free). Returns 0, EVS_EPROTOCOL if
 * the body is not what docs/HTTP-API.md describes, or EVS_ENOMEM; sets the last error.
 * A stream read's "first_version" goes to list->first_version (0 when absent). An event's
 * "subject" (a string, or null or absent for none) and "erased" (a boolean; an erased event
 * may have "data": null, read as empty data) go to its subject and erased, and "sealed"
 * (a boolean: the projector could not open the event; "data" null too) to sealed. */
int evs__event_list_from_json(const char *body, size_t body_len, evs_event_list **out);

/* Parses one event object (as a subscription sends it, with encoding=base64) into a new
 * list of one event, freed with evs_event_list_free. Returns 0, EVS_EPROTOCOL or
 * EVS_ENOMEM; sets the last error. */
int evs__event_from_json(const char *text, size_t text_len, evs_event_list **out);

/* Maps a non-200 answer of a read to a code and sets the last error from the body's
 * `error` member: 404 -> EVS_ENOT_FOUND, 400 -> EVS_EINVAL, 504 -> EVS_ETIMEOUT,
 * 410 with "error_type" (or "error") "stream_deleted" (a deleted stream) ->
 * EVS_ESTREAM_DELETED,
 * 421 (not served) and other 5xx -> EVS_EUNAVAILABLE, anything else -> EVS_EPROTOCOL. what names the request
 * ("stream Order-7") for the message. */
int evs__http_error(long http_status, const char *body, size_t body_len, const char *what);

#endif /* EVS_EVENT_JSON_H */
