/*
 * http_append.h - writes over HTTP, for services that do not link libevstore: appends
 * (POST /streams/{stream}; docs/HTTP-API.md, "Appending events") and lifecycle commands
 * (DELETE /streams/{stream}, POST .../truncate, PUT .../limits; "Stream lifecycle").
 *
 * The projector appends through libevstore's public API like any other client (one
 * evs_client, producing to the events topic and asking this projector's own /verdicts for
 * the verdict), so an HTTP append has exactly the semantics, limits and errors of
 * evs_append().
 */
#ifndef EVS_HTTP_APPEND_H
#define EVS_HTTP_APPEND_H

#include <stddef.h>

#include "evstore.h"
#include "http/http_util.h"

/* Opens the client that POST /streams/{stream} appends with: config's brokers and topic,
 * and the projector's own HTTP address (config->http_address, with 0.0.0.0 read as
 * 127.0.0.1) for verdicts. Connects nowhere yet (see evs_client_open). Returns 0 and sets
 * *out (close with evs_client_close), or -1 with the reason in err. */
int evs_http_append_client_open(const evs_projector_config *config, evs_client **out, char *err,
                                size_t err_len);

/* The handler of POST /streams/{stream}; request->projector->client appends (NULL: 503). */
enum MHD_Result evs_http_append(const evs_http_request *request);

/* DELETE /streams/{stream}, POST /streams/{stream}/truncate and PUT
 * /streams/{stream}/limits: lifecycle commands through evs_stream_delete,
 * evs_stream_truncate and evs_stream_set_limits. */
enum MHD_Result evs_http_stream_lifecycle(const evs_http_request *request);

#endif /* EVS_HTTP_APPEND_H */
