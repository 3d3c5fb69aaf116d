/*
 * http_keys.c - GET, POST and DELETE /keys/{subject} (http_keys.h).
 */
#include "http/http_keys.h"

#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

#include "keys/keyring.h"

#define LIST_MAX 64

/* One key as a JSON object, its subject first when with_subject. */
static void out_key(evs_out *o, const evs_key_record *k, int with_subject)
{
    char id[37];
    evs_uuid_format(k->sealed.key_id, id);
    evs_out_str(o, "{");
    if (with_subject) {
        evs_out_str(o, "\"subject\":");
        evs_out_jstr(o, k->subject, strlen(k->subject));
        evs_out_str(o, ",");
    }
    evs_out_fmt(o, "\"key_id\":\"%s\",\"master_key_id\":\"%s\",\"nonce\":", id,
                k->sealed.master_key_id);
    evs_out_base64(o, k->sealed.nonce, sizeof k->sealed.nonce);
    evs_out_str(o, ",\"sealed_key\":");
    evs_out_base64(o, k->sealed.sealed, sizeof k->sealed.sealed);
    evs_out_fmt(o, ",\"created_us\":%lld}", (long long)k->created_us);
}

static enum MHD_Result send_typed_error(struct MHD_Connection *c, unsigned status,
                                        const char *type, const char *message)
{
    evs_out o = {0};
    evs_out_str(&o, "{\"error\":");
    evs_out_jstr(&o, message, strlen(message));
    evs_out_fmt(&o, ",\"error_type\":\"%s\"}", type);
    return evs_http_send_json(c, status, &o);
}

static enum MHD_Result list_keys(evs_keyring *kr, struct MHD_Connection *c, const char *subject,
                                 size_t len)
{
    evs_key_record keys[LIST_MAX];
    size_t n = 0;
    if (evs_keyring_list(kr, subject, len, keys, LIST_MAX, &n) < 0)
        return evs_http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store read failed");
    if (n == 0)
        return send_typed_error(c, MHD_HTTP_NOT_FOUND, "subject_unknown",
                                "the subject has no key: never given one, or forgotten");
    evs_out o = {0};
    evs_out_str(&o, "{\"subject\":");
    evs_out_jstr(&o, subject, len);
    evs_out_str(&o, ",\"keys\":[");
    for (size_t i = 0; i < n && i < LIST_MAX; i++) {
        if (i)
            evs_out_str(&o, ",");
        out_key(&o, &keys[i], 0);
    }
    evs_out_str(&o, "]}");
    return evs_http_send_json(c, MHD_HTTP_OK, &o);
}

static enum MHD_Result create_key(evs_keyring *kr, struct MHD_Connection *c,
                                  const char *subject, size_t len)
{
    evs_key_record k;
    int created = 0, code = 0;
    char err[512];
    if (evs_keyring_create(kr, subject, len, &k, &created, &code, err, sizeof err) < 0) {
        if (code == EVS_SEAL_EMASTER)
            return send_typed_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no_master_key", err);
        if (code == EVS_SEAL_EINVAL)
            return evs_http_send_error(c, MHD_HTTP_BAD_REQUEST, "%s", err);
        return evs_http_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", err);
    }
    evs_out o = {0};
    out_key(&o, &k, 1);
    return evs_http_send_json(c, created ? MHD_HTTP_CREATED : MHD_HTTP_OK, &o);
}

static enum MHD_Result forget(evs_keyring *kr, struct MHD_Connection *c, const char *subject,
                              size_t len)
{
    uint8_t ids[LIST_MAX][EVS_KEY_ID_BYTES];
    size_t n = 0;
    char err[512];
    if (evs_keyring_forget(kr, subject, len, ids, LIST_MAX, &n, err, sizeof err) < 0)
        return evs_http_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", err);
    evs_out o = {0};
    evs_out_str(&o, "{\"subject\":");
    evs_out_jstr(&o, subject, len);
    evs_out_str(&o, ",\"forgotten\":[");
    for (size_t i = 0; i < n && i < LIST_MAX; i++) {
        char id[37];
        evs_uuid_format(ids[i], id);
        evs_out_fmt(&o, "%s\"%s\"", i ? "," : "", id);
    }
    evs_out_str(&o, "]}");
    return evs_http_send_json(c, MHD_HTTP_OK, &o);
}

enum MHD_Result evs_keys_handle(const evs_http_request *r)
{
    evs_keyring *kr = r->projector->keyring;
    const char *subject = r->rest;
    size_t len = strlen(subject);
    if (!evs_subject_valid(subject, len))
        return evs_http_send_error(r->connection, MHD_HTTP_BAD_REQUEST,
                                   "invalid subject: 1 to %d characters of A-Z a-z 0-9 _ . : @ -",
                                   EVS_SUBJECT_MAX);
    if (!kr)
        return evs_http_send_error(r->connection, MHD_HTTP_SERVICE_UNAVAILABLE,
                                   "this projector has no key topic");
    if (!strcmp(r->method, "GET") || !strcmp(r->method, "HEAD"))
        return list_keys(kr, r->connection, subject, len);
    if (!strcmp(r->method, "POST"))
        return create_key(kr, r->connection, subject, len);
    return forget(kr, r->connection, subject, len);
}
