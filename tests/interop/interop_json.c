/*
 * interop_json.c - writes decoded append requests as the JSON expectation file that
 * decode_fastavro.py checks (format in interop_json.h). Test tooling only.
 */
#include "interop_json.h"

#include <stdio.h>
#include <stdlib.h>

static json_t *hex_json(const uint8_t *p, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char *s = malloc(2 * len + 1);
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    s[2 * len] = '\0';
    json_t *j = json_string(s);
    free(s);
    return j;
}

/* A string field, or null when absent. NULL (an error) if it is not UTF-8. */
static json_t *text_json(const char *s, size_t len)
{
    return s == NULL ? json_null() : json_stringn(s, len);
}

static json_t *uuid_json(const uint8_t id[16])
{
    char text[37];
    evs_uuid_format(id, text);
    return json_string(text);
}

json_t *evs_interop_request_json(const evs_append_request *req, const char *file)
{
    static const char *const kinds[] = {"ANY", "NO_STREAM", "STREAM_EXISTS", "EXACT"};
    json_t *events = json_array();
    json_t *o = json_object();
    int bad = events == NULL || o == NULL || (unsigned)req->expected_kind > 3;
    for (size_t i = 0; !bad && i < req->event_count; i++) {
        const evs_record_event *e = &req->events[i];
        json_t *ev = json_object();
        json_t *type = json_stringn(e->type, e->type_len);
        json_t *ct = json_stringn(e->content_type, e->content_type_len);
        json_t *corr = text_json(e->correlation_id, e->correlation_id_len);
        json_t *caus = text_json(e->causation_id, e->causation_id_len);
        bad = ev == NULL || type == NULL || ct == NULL || corr == NULL || caus == NULL;
        if (!bad) {
            json_object_set_new(ev, "event_id", uuid_json(e->event_id));
            json_object_set_new(ev, "type", type);
            json_object_set_new(ev, "content_type", ct);
            json_object_set_new(ev, "data_hex", hex_json(e->data, e->data_len));
            json_object_set_new(ev, "metadata_hex", hex_json(e->metadata, e->metadata_len));
            json_object_set_new(ev, "correlation_id", corr);
            json_object_set_new(ev, "causation_id", caus);
            json_object_set_new(ev, "created", json_integer(e->created_us));
            json_array_append_new(events, ev);
        } else {
            json_decref(ev);
            json_decref(type);
            json_decref(ct);
            json_decref(corr);
            json_decref(caus);
        }
    }
    json_t *stream = bad ? NULL : json_stringn(req->stream, req->stream_len);
    if (bad || stream == NULL) {
        json_decref(events);
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "file", json_string(file));
    json_object_set_new(o, "append_id", uuid_json(req->append_id));
    json_object_set_new(o, "stream", stream);
    json_object_set_new(o, "expected_kind", json_string(kinds[req->expected_kind]));
    json_object_set_new(o, "expected_version", json_integer((json_int_t)req->expected_version));
    json_object_set_new(o, "events", events);
    return o;
}

int evs_interop_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    int ok = fwrite(data, 1, len, f) == len;
    if (fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}
