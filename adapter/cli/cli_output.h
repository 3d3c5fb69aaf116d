/*
 * cli_output.h - the JSON lines the `evstore` CLI prints (formats in EVS_CLI_USAGE).
 * Each function appends exactly one line, newline included, to buf.
 */
#ifndef EVS_CLI_OUTPUT_H
#define EVS_CLI_OUTPUT_H

#include "cli_json.h"
#include "evstore.h"

/* {"event_id","stream","type","version","position","created","data","metadata"}; data and
 * metadata embedded as JSON when they are JSON (data: only with a JSON content type), else
 * base64 strings with "data_encoding"/"metadata_encoding": "base64"; metadata null when
 * empty. Personal data adds "subject" at the end, and an erased event has "data": null and
 * "erased": true after it, a sealed one (the projector could not open it) "data": null and
 * "sealed": true. */
void evs_cli_format_event(evs_cli_buf *buf, const evs_event *event);

/* The same with "partition" after "position", for lines of several partitions, where a
 * position alone does not say which event it is. */
void evs_cli_format_event_with_partition(evs_cli_buf *buf, const evs_event *event);

/* The line of `evstore export` (cli_transfer.h): {"stream","version","type","event_id",
 * "content_type","data","metadata","correlation_id","causation_id","partition","position",
 * "created"}. data (with a JSON content type) and metadata are embedded only when they are
 * compact JSON, else base64 strings with "data_encoding"/"metadata_encoding": "base64", so
 * that the line gives back the exact bytes; metadata null when empty. "subject" and
 * "erased" end the line as in evs_cli_format_event. */
void evs_cli_format_export_event(evs_cli_buf *buf, const evs_event *event);

/* {"subject","forgotten","keys_destroyed"} of `evstore forget`: the ids of the destroyed
 * keys from answer (evs_subject_forget_json's JSON), and how many they are. */
void evs_cli_format_forget(evs_cli_buf *buf, const char *subject, const char *answer);

/* {"stream","first_version","last_version","first_position","last_position","append_id",
 *  "duplicate"} for a successful append. */
void evs_cli_format_append_result(evs_cli_buf *buf, const evs_append_result *result);

/* {"stream","operation","current_version","append_id"} for an accepted lifecycle command;
 * operation is "delete", "hard_delete", "truncate" or "set_limits". */
void evs_cli_format_command_result(evs_cli_buf *buf, const char *operation,
                                   const evs_append_result *result);

/* {"stream","partition","current_version","first_version","deleted","max_count",
 *  "max_age_ms"}: deleted null, "soft" or "hard"; a limit null when there is none (0). */
void evs_cli_format_stream_metadata(evs_cli_buf *buf, const evs_stream_metadata *metadata);

/* The status word of a verdict for the code evs_append_lookup returned, or NULL if the code
 * is not a verdict (not found, timeout, unavailable, ...). */
const char *evs_cli_verdict_status(int evs_code, const evs_append_result *result);

/* {"append_id","status","stream","first_version","last_version","first_position",
 *  "last_position","partition","offset","duplicate"} plus "current_version" for
 * wrong_expected_version (status stream_deleted for a write to a hard-deleted stream). Returns 0, or -1 (nothing appended) if code is not a verdict. */
int evs_cli_format_verdict(evs_cli_buf *buf, int evs_code, const evs_append_result *result);

/* {"stream","version","content_type","schema_version","created","data"}; data as in
 * evs_cli_format_event (JSON when the content type is JSON and the bytes are JSON, else a
 * base64 string with "data_encoding":"base64"). */
void evs_cli_format_snapshot(evs_cli_buf *buf, const evs_snapshot *snapshot);

/* {"name","position"} of a checkpoint. */
void evs_cli_format_checkpoint(evs_cli_buf *buf, const char *name, uint64_t position);

/* Prints "evstore: <message>" and a newline to standard error and returns exit_code. */
int evs_cli_fail(int exit_code, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Reports a failed evs_* call (its evs_last_error(), else its evs_strerror()) with
 * evs_cli_fail and returns the exit code for rc. */
int evs_cli_fail_evs(int rc);

/* Writes buf to standard output; 0, or -1 if the write failed. */
int evs_cli_write(const evs_cli_buf *buf);

#endif /* EVS_CLI_OUTPUT_H */
