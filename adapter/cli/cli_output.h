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
 * empty. */
void evs_cli_format_event(evs_cli_buf *buf, const evs_event *event);

/* {"stream","first_version","last_version","first_position","last_position","append_id",
 *  "duplicate"} for a successful append. */
void evs_cli_format_append_result(evs_cli_buf *buf, const evs_append_result *result);

/* The status word of a verdict for the code evs_append_lookup returned, or NULL if the code
 * is not a verdict (not found, timeout, unavailable, ...). */
const char *evs_cli_verdict_status(int evs_code, const evs_append_result *result);

/* {"append_id","status","stream","first_version","last_version","first_position",
 *  "last_position","partition","offset","duplicate"} plus "current_version" for
 * wrong_expected_version. Returns 0, or -1 (nothing appended) if code is not a verdict. */
int evs_cli_format_verdict(evs_cli_buf *buf, int evs_code, const evs_append_result *result);

#endif /* EVS_CLI_OUTPUT_H */
