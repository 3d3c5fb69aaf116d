/*
 * group_client.c - consumer groups in libevstore (evstore.h, "Consumer groups"; the HTTP
 * side is docs/HTTP-API.md, "Consumer groups").
 *
 * Every call is one request to the projector, except:
 *  - evs_group_fetch, which joins again and fetches once more when the projector answers
 *    410 (it no longer knows the member), so that a member survives a projector restart
 *    or a long pause without its caller handling it;
 *  - evs_group_ack and evs_group_nack, which send more than EVS_GROUP_POSITIONS_PER_CALL
 *    positions in several requests.
 * Group names follow stream-name rules and member ids are hex, so paths need no escaping.
 * Every request goes to the projector that coordinates the group (router.h, R6): one at a
 * time, chosen by Kafka. When it dies another takes the group over from the state topic;
 * the members it knew are gone, so a fetch there joins again on its 410.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client_internal.h"
#include "errors.h"
#include "event_json.h"
#include "evstore.h"
#include "record_codec.h"

/* The projector's limits (docs/HTTP-API.md, "Consumer groups"). */
#define GROUP_POSITIONS_PER_CALL 1000
#define GROUP_FETCH_MAX 1000
#define GROUP_WAIT_MAX_MS 30000
#define MEMBER_ID_MAX 64
#define PATH_MAX_LEN (EVS_STREAM_NAME_MAX + MEMBER_ID_MAX + 96)

struct evs_group_member {
    evs_client *client;
    char group[EVS_STREAM_NAME_MAX + 1];
    char id[MEMBER_ID_MAX + 1];
};

/* The public batch and what its events point into. */
typedef struct batch_impl {
    evs_group_batch batch; /* first: evs_group_batch_free casts back */
    evs_event_list *list;
} batch_impl;

void evs_group_options_init(evs_group_options *options)
{
    memset(options, 0, sizeof *options);
}

static int check_group(const evs_client *client, const char *group, const char *fn)
{
    if (!client || !group)
        return evs__set_error(EVS_EINVAL, "%s: %s is NULL", fn, client ? "group" : "client");
    if (!evs_stream_name_valid(group, strlen(group)))
        return evs__set_error(EVS_EINVAL,
                              "invalid group name \"%.*s\": use 1 to %d characters of "
                              "A-Z a-z 0-9 _ . : @ -, not starting with '$'",
                              EVS_STREAM_NAME_MAX, group, EVS_STREAM_NAME_MAX);
    return 0;
}

/* Maps a non-2xx answer; 409 (the request conflicts with the group or a limit) and 410 are
 * EVS_EINVAL and EVS_ENOT_FOUND with the projector's message. */
static int answer_error(const evs_http_response *response, const char *what)
{
    long status = response->status;
    if (status == 409)
        status = 400;
    else if (status == 410)
        status = 404;
    return evs__http_error(status, response->body, response->body_len, what);
}

/* The group a path "/groups/NAME[/...][?...]" is about, into out (the limit's size + 1). */
static const char *path_group(const char *path, char *out, size_t out_len)
{
    const char *name = path + strlen("/groups/");
    size_t len = strcspn(name, "/?");
    if (len >= out_len)
        len = out_len - 1;
    memcpy(out, name, len);
    out[len] = 0;
    return out;
}

/* One request to the group's coordinator; 0 and the answer when its status is 2xx, else a
 * code (the answer freed). */
static int request(evs_client *client, const char *method, const char *path, const char *body,
                   long timeout_ms, const char *what, evs_http_response *response)
{
    char group[EVS_STREAM_NAME_MAX + 1];
    int rc = evs__client_group_request(client, path_group(path, group, sizeof group), method,
                                       path, body, body ? strlen(body) : 0, timeout_ms,
                                       response);
    if (rc != 0)
        return rc;
    if (response->status < 200 || response->status > 299) {
        rc = answer_error(response, what);
        evs__http_response_free(response);
    }
    return rc;
}

static json_t *parse_object(const evs_http_response *response, const char *what, int *rc)
{
    json_error_t jerr;
    json_t *root = json_loadb(response->body, response->body_len, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        *rc = evs__set_error(EVS_EPROTOCOL, "projector answer to %s is not a JSON object: %s", what,
                             jerr.text);
        return NULL;
    }
    *rc = 0;
    return root;
}

/* ---- Administration -------------------------------------------------------------------- */

int evs_group_create(evs_client *client, const char *group, const evs_group_options *options)
{
    int rc;
    evs_group_options defaults;
    evs_http_response response = {0};
    char path[PATH_MAX_LEN], what[PATH_MAX_LEN], body[EVS_STREAM_NAME_MAX + 256];

    if ((rc = check_group(client, group, "evs_group_create")) != 0)
        return rc;
    if (!options) {
        evs_group_options_init(&defaults);
        options = &defaults;
    }
    if (options->category &&
        (!evs_stream_name_valid(options->category, strlen(options->category)) ||
         strchr(options->category, '-')))
        return evs__set_error(EVS_EINVAL,
                              "invalid category \"%.*s\": use 1 to %d characters of "
                              "A-Z a-z 0-9 _ . : @ (no '-')",
                              EVS_STREAM_NAME_MAX, options->category, EVS_STREAM_NAME_MAX);
    if (options->partition < 0 || options->from > INT64_MAX || options->ack_timeout_ms < 0 ||
        options->max_attempts < 0 || options->member_timeout_ms < 0)
        return evs__set_error(EVS_EINVAL, "evs_group_create: negative or too large option");
    int n = snprintf(body, sizeof body, "{\"source\":\"%s%s\",\"partition\":%" PRId32,
                     options->category ? "category:" : "$all",
                     options->category ? options->category : "", options->partition);
    if (options->from)
        n += snprintf(body + n, sizeof body - (size_t)n, ",\"from\":%" PRIu64, options->from);
    if (options->ack_timeout_ms)
        n += snprintf(body + n, sizeof body - (size_t)n, ",\"ack_timeout_ms\":%d",
                      options->ack_timeout_ms);
    if (options->max_attempts)
        n += snprintf(body + n, sizeof body - (size_t)n, ",\"max_attempts\":%d",
                      options->max_attempts);
    if (options->member_timeout_ms)
        n += snprintf(body + n, sizeof body - (size_t)n, ",\"member_timeout_ms\":%d",
                      options->member_timeout_ms);
    snprintf(body + n, sizeof body - (size_t)n, "}");
    snprintf(path, sizeof path, "/groups/%s", group);
    snprintf(what, sizeof what, "group %s", group);
    rc =
        request(client, "PUT", path, body, evs__client_request_timeout_ms(client), what, &response);
    evs__http_response_free(&response);
    return rc;
}

int evs_group_delete(evs_client *client, const char *group)
{
    int rc;
    evs_http_response response = {0};
    char path[PATH_MAX_LEN], what[PATH_MAX_LEN];
    if ((rc = check_group(client, group, "evs_group_delete")) != 0)
        return rc;
    snprintf(path, sizeof path, "/groups/%s", group);
    snprintf(what, sizeof what, "group %s", group);
    rc = request(client, "DELETE", path, NULL, evs__client_request_timeout_ms(client), what,
                 &response);
    evs__http_response_free(&response);
    return rc;
}

/* GETs path and hands the body over as a string. */
static int get_json(evs_client *client, const char *path, const char *what, char **json_out)
{
    evs_http_response response = {0};
    *json_out = NULL;
    int rc =
        request(client, "GET", path, NULL, evs__client_request_timeout_ms(client), what, &response);
    if (rc != 0)
        return rc;
    *json_out = response.body; /* NUL-terminated, malloc'd: the caller's now */
    response.body = NULL;
    evs__http_response_free(&response);
    return 0;
}

int evs_group_status(evs_client *client, const char *group, char **json_out)
{
    int rc;
    char path[PATH_MAX_LEN], what[PATH_MAX_LEN];
    if (!json_out)
        return evs__set_error(EVS_EINVAL, "evs_group_status: json_out is NULL");
    *json_out = NULL;
    if ((rc = check_group(client, group, "evs_group_status")) != 0)
        return rc;
    snprintf(path, sizeof path, "/groups/%s", group);
    snprintf(what, sizeof what, "group %s", group);
    return get_json(client, path, what, json_out);
}

int evs_group_parked_list(evs_client *client, const char *group, uint64_t from, size_t limit,
                          char **json_out)
{
    int rc;
    char path[PATH_MAX_LEN], what[PATH_MAX_LEN];
    if (!json_out)
        return evs__set_error(EVS_EINVAL, "evs_group_parked_list: json_out is NULL");
    *json_out = NULL;
    if ((rc = check_group(client, group, "evs_group_parked_list")) != 0)
        return rc;
    if (limit < 1 || limit > 1000 || from > INT64_MAX)
        return evs__set_error(EVS_EINVAL, "evs_group_parked_list: limit must be 1..1000 (got %zu)",
                              limit);
    snprintf(path, sizeof path, "/groups/%s/parked?from=%" PRIu64 "&limit=%zu", group,
             from ? from : 1, limit);
    snprintf(what, sizeof what, "parked events of group %s", group);
    return get_json(client, path, what, json_out);
}

int evs_group_replay_parked(evs_client *client, const char *group, uint64_t *replayed_out)
{
    int rc;
    evs_http_response response = {0};
    char path[PATH_MAX_LEN], what[PATH_MAX_LEN];
    json_t *root = NULL;
    if (replayed_out)
        *replayed_out = 0;
    if ((rc = check_group(client, group, "evs_group_replay_parked")) != 0)
        return rc;
    snprintf(path, sizeof path, "/groups/%s/parked/replay", group);
    snprintf(what, sizeof what, "replay of group %s", group);
    rc = request(client, "POST", path, "{}", evs__client_request_timeout_ms(client), what,
                 &response);
    if (rc != 0)
        return rc;
    if ((root = parse_object(&response, what, &rc))) {
        json_t *v = json_object_get(root, "replayed");
        if (!json_is_integer(v))
            rc = evs__set_error(EVS_EPROTOCOL, "projector answer to %s has no \"replayed\"", what);
        else if (replayed_out)
            *replayed_out = (uint64_t)json_integer_value(v);
    }
    json_decref(root);
    evs__http_response_free(&response);
    return rc;
}

/* ---- Members ------------------------------------------------------------------------------- */

/* POST /groups/{group}/members: a new member id into m->id. */
static int join_once(evs_group_member *m)
{
    int rc;
    evs_http_response response = {0};
    char path[PATH_MAX_LEN], what[PATH_MAX_LEN];
    json_t *root = NULL;
    snprintf(path, sizeof path, "/groups/%s/members", m->group);
    snprintf(what, sizeof what, "join of group %s", m->group);
    rc = request(m->client, "POST", path, "{}", evs__client_request_timeout_ms(m->client), what,
                 &response);
    if (rc != 0)
        return rc;
    if ((root = parse_object(&response, what, &rc))) {
        const char *id = json_string_value(json_object_get(root, "member_id"));
        if (!id || !id[0] || strlen(id) > MEMBER_ID_MAX ||
            strspn(id, "0123456789abcdef") != strlen(id))
            rc = evs__set_error(EVS_EPROTOCOL, "projector answer to %s has no valid member_id",
                                what);
        else
            snprintf(m->id, sizeof m->id, "%s", id);
    }
    json_decref(root);
    evs__http_response_free(&response);
    return rc;
}

int evs_group_join(evs_client *client, const char *group, evs_group_member **out)
{
    int rc;
    if (!out)
        return evs__set_error(EVS_EINVAL, "evs_group_join: out is NULL");
    *out = NULL;
    if ((rc = check_group(client, group, "evs_group_join")) != 0)
        return rc;
    evs_group_member *m = calloc(1, sizeof *m);
    if (!m)
        return evs__set_error(EVS_ENOMEM, "out of memory joining group %s", group);
    m->client = client;
    snprintf(m->group, sizeof m->group, "%s", group);
    if ((rc = join_once(m)) != 0) {
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

const char *evs_group_member_id(const evs_group_member *member)
{
    return member ? member->id : "";
}

int evs_group_leave(evs_group_member *m)
{
    if (!m)
        return 0;
    evs_http_response response = {0};
    char path[PATH_MAX_LEN], what[PATH_MAX_LEN];
    snprintf(path, sizeof path, "/groups/%s/members/%s", m->group, m->id);
    snprintf(what, sizeof what, "member %s of group %s", m->id, m->group);
    int rc = request(m->client, "DELETE", path, NULL, evs__client_request_timeout_ms(m->client),
                     what, &response);
    evs__http_response_free(&response);
    if (rc == EVS_ENOT_FOUND)
        rc = 0; /* not a member any more: that is what leaving wants */
    free(m);
    return rc;
}

/* ---- Fetch ------------------------------------------------------------------------------------
 */

/* Builds a batch from a fetch answer: the events (event_json.c) and their attempts. */
static int batch_from_json(const evs_http_response *response, evs_group_batch **out)
{
    int rc;
    evs_event_list *list = NULL;
    json_t *root = NULL;
    batch_impl *b = NULL;
    if ((rc = evs__event_list_from_json(response->body, response->body_len, &list)) != 0)
        return rc;
    if (!(root = parse_object(response, "a fetch", &rc)))
        goto fail;
    json_t *events = json_object_get(root, "events");
    b = calloc(1, sizeof *b + list->count * sizeof(evs_group_event));
    if (!b) {
        rc = evs__set_error(EVS_ENOMEM, "out of memory reading %zu events", list->count);
        goto fail;
    }
    b->list = list;
    b->batch.events = list->count ? (evs_group_event *)(b + 1) : NULL;
    b->batch.count = list->count;
    for (size_t i = 0; i < list->count; i++) {
        json_t *a = json_object_get(json_array_get(events, i), "attempt");
        if (!json_is_integer(a) || json_integer_value(a) < 1) {
            rc = evs__set_error(EVS_EPROTOCOL,
                                "event %zu of the projector's fetch answer has no \"attempt\"",
                                i + 1);
            goto fail;
        }
        b->batch.events[i].event = list->events[i]; /* its pointers point into list */
        b->batch.events[i].attempt = (uint32_t)json_integer_value(a);
    }
    json_decref(root);
    *out = &b->batch;
    return 0;
fail:
    json_decref(root);
    free(b);
    evs_event_list_free(list);
    return rc;
}

int evs_group_fetch(evs_group_member *m, size_t max, int wait_ms, evs_group_batch **out)
{
    int rc;
    char path[PATH_MAX_LEN], what[PATH_MAX_LEN];
    if (!out)
        return evs__set_error(EVS_EINVAL, "evs_group_fetch: out is NULL");
    *out = NULL;
    if (!m)
        return evs__set_error(EVS_EINVAL, "evs_group_fetch: member is NULL");
    if (max < 1 || max > GROUP_FETCH_MAX || wait_ms < 0 || wait_ms > GROUP_WAIT_MAX_MS)
        return evs__set_error(EVS_EINVAL,
                              "evs_group_fetch: max must be 1..%d and wait_ms 0..%d (got %zu, "
                              "%d)",
                              GROUP_FETCH_MAX, GROUP_WAIT_MAX_MS, max, wait_ms);
    for (int attempt = 0;; attempt++) {
        evs_http_response response = {0};
        snprintf(path, sizeof path,
                 "/groups/%s/members/%s/events?max=%zu&wait_ms=%d&encoding=base64", m->group, m->id,
                 max, wait_ms);
        snprintf(what, sizeof what, "fetch of member %s of group %s", m->id, m->group);
        /* The long poll adds its wait to the usual request timeout. */
        rc = evs__client_group_request(m->client, m->group, "GET", path, NULL, 0,
                                       (long)evs__client_request_timeout_ms(m->client) + wait_ms,
                                       &response);
        if (rc != 0)
            return rc;
        if (response.status == 410 && attempt == 0) {
            evs__http_response_free(&response);
            if ((rc = join_once(m)) != 0)
                return rc;
            continue;
        }
        if (response.status != 200)
            rc = answer_error(&response, what);
        else
            rc = batch_from_json(&response, out);
        evs__http_response_free(&response);
        return rc;
    }
}

void evs_group_batch_free(evs_group_batch *batch)
{
    if (!batch)
        return;
    batch_impl *b = (batch_impl *)batch;
    evs_event_list_free(b->list);
    free(b);
}

/* ---- Ack, nack ----------------------------------------------------------------------------------
 */

static int settle(evs_group_member *m, const char *verb, const uint64_t *positions, size_t n,
                  int park, size_t *stale_out)
{
    int rc = 0;
    char path[PATH_MAX_LEN], what[PATH_MAX_LEN];
    if (stale_out)
        *stale_out = 0;
    if (!m || (!positions && n))
        return evs__set_error(EVS_EINVAL, "evs_group_%s: %s is NULL", verb,
                              m ? "positions" : "member");
    for (size_t i = 0; i < n; i++)
        if (positions[i] == 0 || positions[i] > INT64_MAX)
            return evs__set_error(EVS_EINVAL, "evs_group_%s: position %" PRIu64 " is not valid",
                                  verb, positions[i]);
    snprintf(path, sizeof path, "/groups/%s/%s", m->group, verb);
    snprintf(what, sizeof what, "%s of member %s of group %s", verb, m->id, m->group);
    /* {"member_id":"…","park":true,"positions":[…]}: 21 digits and a comma per position. */
    size_t cap = 128 + MEMBER_ID_MAX + 22 * GROUP_POSITIONS_PER_CALL;
    char *body = malloc(cap);
    if (!body)
        return evs__set_error(EVS_ENOMEM, "out of memory preparing a %s", verb);
    for (size_t start = 0; start < n && rc == 0; start += GROUP_POSITIONS_PER_CALL) {
        size_t count = n - start < GROUP_POSITIONS_PER_CALL ? n - start : GROUP_POSITIONS_PER_CALL;
        size_t len = (size_t)snprintf(body, cap, "{\"member_id\":\"%s\",%s\"positions\":[", m->id,
                                      park ? "\"park\":true," : "");
        for (size_t i = 0; i < count; i++)
            len += (size_t)snprintf(body + len, cap - len, i ? ",%" PRIu64 : "%" PRIu64,
                                    positions[start + i]);
        snprintf(body + len, cap - len, "]}");
        evs_http_response response = {0};
        rc = request(m->client, "POST", path, body, evs__client_request_timeout_ms(m->client), what,
                     &response);
        if (rc != 0)
            break;
        json_t *root = parse_object(&response, what, &rc);
        json_t *stale = json_object_get(root, "stale");
        if (root && !json_is_array(stale))
            rc = evs__set_error(EVS_EPROTOCOL, "projector answer to %s has no \"stale\"", what);
        else if (root && stale_out)
            *stale_out += json_array_size(stale);
        json_decref(root);
        evs__http_response_free(&response);
    }
    free(body);
    return rc;
}

int evs_group_ack(evs_group_member *member, const uint64_t *positions, size_t n, size_t *stale_out)
{
    return settle(member, "ack", positions, n, 0, stale_out);
}

int evs_group_nack(evs_group_member *member, const uint64_t *positions, size_t n,
                   evs_nack_action action, size_t *stale_out)
{
    return settle(member, "nack", positions, n, action == EVS_NACK_PARK, stale_out);
}
