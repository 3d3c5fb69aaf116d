/*
 * object_codec.c - built-in schemas and single-object framing for the generic codecs
 * (object_codec.h).
 */
#include "object_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema_canonical.h"
#include "schemas_builtin.h"

#define HEADER_LEN 10

static evs_object_schema *loading;
static pthread_mutex_t loading_lock = PTHREAD_MUTEX_INITIALIZER;

static void load(void)
{
    evs_object_schema *s = loading;
    char err[256] = "";
    const evs_builtin_schema *b = NULL;
    char *canonical = NULL;
    for (size_t i = 0; i < evs__builtin_schema_count && !b; i++)
        if (!strcmp(evs__builtin_schemas[i].file_name, s->file_name))
            b = &evs__builtin_schemas[i];
    if (!b)
        snprintf(err, sizeof err, "missing");
    else if (evs__schema_canonical(b->json, b->json_len, &canonical, &s->fingerprint, err,
                                   sizeof err) == 0 &&
             evs__schema_graph_build(canonical, &s->graph, err, sizeof err) == 0 &&
             avro_schema_from_json_length(b->json, b->json_len, &s->schema) == 0 &&
             (s->iface = avro_generic_class_from_schema(s->schema)) != NULL) {
        free(canonical);
        return;
    }
    fprintf(stderr, "evstore: built-in schema %s: %s\n", s->file_name,
            err[0] ? err : avro_strerror());
    abort();
}

evs_object_schema *evs__object_schema_get(evs_object_schema *s)
{
    /* pthread_once takes no argument: hand the schema over under a lock, which also keeps
     * two first uses of different schemas apart. */
    pthread_mutex_lock(&loading_lock);
    loading = s;
    pthread_once(&s->once, load);
    pthread_mutex_unlock(&loading_lock);
    return s;
}

int evs__object_write(evs_object_schema *s, avro_value_t *v, evs_buf *out)
{
    size_t body = 0;
    if (avro_value_sizeof(v, &body))
        return -1;
    uint8_t *data = realloc(out->data, HEADER_LEN + body);
    if (!data)
        return -1;
    out->data = data;
    out->cap = HEADER_LEN + body;
    data[0] = 0xC3;
    data[1] = 0x01;
    for (int i = 0; i < 8; i++)
        data[2 + i] = (uint8_t)(s->fingerprint >> (8 * i));
    avro_writer_t w = avro_writer_memory((char *)data + HEADER_LEN, (int64_t)body);
    if (!w)
        return -1;
    int rc = avro_value_write(w, v) ? -1 : 0;
    avro_writer_free(w);
    out->len = rc == 0 ? HEADER_LEN + body : 0;
    return rc;
}

int evs__object_read(evs_object_schema *s, const void *record, size_t len, avro_value_t *v,
                     char *err, size_t err_len)
{
    const uint8_t *p = record;
    if (!p || len < HEADER_LEN || p[0] != 0xC3 || p[1] != 0x01) {
        snprintf(err, err_len, "not an Avro single-object record");
        return -1;
    }
    uint64_t fp = 0;
    for (int i = 0; i < 8; i++)
        fp |= (uint64_t)p[2 + i] << (8 * i);
    if (fp != s->fingerprint) {
        snprintf(err, err_len, "unknown writer schema (fingerprint 0x%016llx)",
                 (unsigned long long)fp);
        return -1;
    }
    if (evs__schema_body_check(s->graph, p + HEADER_LEN, len - HEADER_LEN, err, err_len) < 0)
        return -1;
    if (avro_generic_value_new(s->iface, v) != 0) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    avro_reader_t r = avro_reader_memory((const char *)p + HEADER_LEN, (int64_t)(len - HEADER_LEN));
    if (!r || avro_value_read(r, v)) {
        if (r)
            avro_reader_free(r);
        avro_value_decref(v);
        snprintf(err, err_len, "cannot read the record");
        return -1;
    }
    avro_reader_free(r);
    return 0;
}

int evs__object_get_text(avro_value_t *v, int index, char *dst, size_t cap)
{
    avro_value_t f;
    const char *s;
    size_t size; /* with the NUL avro-c adds */
    if (avro_value_get_by_index(v, index, &f, NULL) || avro_value_get_string(&f, &s, &size) ||
        size == 0 || size > cap || memchr(s, 0, size - 1))
        return -1;
    memcpy(dst, s, size - 1);
    dst[size - 1] = 0;
    return 0;
}
