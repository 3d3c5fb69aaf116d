/*
 * checkpoint.c - named positions kept by the projector (evstore.h, "Checkpoints"; the HTTP
 * side is docs/HTTP-API.md, "Checkpoints"): PUT, GET and DELETE /checkpoints/{name}.
 *
 * A checkpoint name follows the rules of stream names, whose alphabet needs no escaping in
 * a URL path, and is checked here so that a bad name fails with EVS_EINVAL before any
 * request. Checkpoints belong to no partition: they go to the client's home projector
 * (router.h, R2), which saves them in the state topic that every projector applies.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "client_internal.h"
#include "errors.h"
#include "event_json.h"
#include "evstore.h"
#include "record_codec.h"

/* Checks the arguments every checkpoint call shares and builds the path. */
static int checkpoint_path(const evs_client *client, const char *name, const char *fn,
                           char path[EVS_STREAM_NAME_MAX + 16])
{
    if (!client || !name)
        return evs__set_error(EVS_EINVAL, "%s: %s is NULL", fn, client ? "name" : "client");
    if (!evs_stream_name_valid(name, strlen(name)))
        return evs__set_error(EVS_EINVAL,
                              "invalid checkpoint name \"%.*s\": use 1 to %d characters of "
                              "A-Z a-z 0-9 _ . : @ -, not starting with '$'",
                              EVS_STREAM_NAME_MAX, name, EVS_STREAM_NAME_MAX);
    snprintf(path, EVS_STREAM_NAME_MAX + 16, "/checkpoints/%s", name);
    return 0;
}

int evs_checkpoint_save(evs_client *client, const char *name, uint64_t position)
{
    int rc;
    char path[EVS_STREAM_NAME_MAX + 16];
    char what[EVS_STREAM_NAME_MAX + 16];
    char body[64];
    evs_http_response response = {0};

    if ((rc = checkpoint_path(client, name, "evs_checkpoint_save", path)) != 0)
        return rc;
    if (position > INT64_MAX)
        return evs__set_error(EVS_EINVAL, "checkpoint position %" PRIu64 " is beyond %" PRId64,
                              position, INT64_MAX);
    snprintf(what, sizeof what, "checkpoint %s", name);
    int n = snprintf(body, sizeof body, "{\"position\":%" PRIu64 "}", position);
    rc = evs__client_home_request(client, "PUT", path, body, (size_t)n,
                                  evs__client_request_timeout_ms(client), &response);
    if (rc != 0)
        goto done;
    if (response.status != 200)
        rc = evs__http_error(response.status, response.body, response.body_len, what);
done:
    evs__http_response_free(&response);
    return rc;
}

int evs_checkpoint_load(evs_client *client, const char *name, uint64_t *position)
{
    int rc;
    char path[EVS_STREAM_NAME_MAX + 16];
    char what[EVS_STREAM_NAME_MAX + 16];
    evs_http_response response = {0};
    json_t *root = NULL;

    if (!position)
        return evs__set_error(EVS_EINVAL, "evs_checkpoint_load: position is NULL");
    *position = 0;
    if ((rc = checkpoint_path(client, name, "evs_checkpoint_load", path)) != 0)
        return rc;
    snprintf(what, sizeof what, "checkpoint %s", name);
    rc = evs__client_home_request(client, "GET", path, NULL, 0,
                                  evs__client_request_timeout_ms(client), &response);
    if (rc != 0)
        goto done;
    if (response.status != 200) {
        rc = evs__http_error(response.status, response.body, response.body_len, what);
        goto done;
    }
    root = json_loadb(response.body, response.body_len, 0, NULL);
    json_t *value = json_object_get(root, "position");
    if (!json_is_integer(value) || json_integer_value(value) < 0) {
        rc = evs__set_error(EVS_EPROTOCOL, "projector answer for %s has no \"position\": %.200s",
                            what, response.body);
        goto done;
    }
    *position = (uint64_t)json_integer_value(value);
done:
    json_decref(root);
    evs__http_response_free(&response);
    return rc;
}

int evs_checkpoint_delete(evs_client *client, const char *name)
{
    int rc;
    char path[EVS_STREAM_NAME_MAX + 16];
    char what[EVS_STREAM_NAME_MAX + 16];
    evs_http_response response = {0};

    if ((rc = checkpoint_path(client, name, "evs_checkpoint_delete", path)) != 0)
        return rc;
    snprintf(what, sizeof what, "checkpoint %s", name);
    rc = evs__client_home_request(client, "DELETE", path, NULL, 0,
                                  evs__client_request_timeout_ms(client), &response);
    if (rc != 0)
        goto done;
    if (response.status != 200)
        rc = evs__http_error(response.status, response.body, response.body_len, what);
done:
    evs__http_response_free(&response);
    return rc;
}
