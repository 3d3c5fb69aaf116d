/*
 * schema_graph.c - compiles a canonical schema into a graph; checks binary bodies against it.
 *
 * The graph is built from the Parsing Canonical Form, where every name is a fullname and a
 * named type is defined at its first appearance, so references resolve with one table.
 * Recursive schemas become cyclic graphs; all nodes are owned by the graph's node list.
 *
 * The body check walks the Avro binary encoding (spec, "Binary Encoding"):
 *   null: nothing; boolean: one byte 0 or 1; int, long: zig-zag varint (int within 32
 *   bits); float: 4 bytes; double: 8 bytes; bytes, string: long length >= 0 then that many
 *   bytes; fixed: size bytes; enum: int index; union: long branch index then the branch;
 *   record: fields in order; array, map: blocks of (long count, [if count < 0: long byte
 *   size, count = -count], count items (map: string key then value)) ending with count 0.
 * Invariants it enforces so that avro-c can then decode safely:
 *   1. every read stays inside [body, body + len) and the value ends exactly at len;
 *   2. nothing claims more items or bytes than the remaining input could hold (items of
 *      types that encode to zero bytes share a budget of ZERO_ITEMS_MAX per body);
 *   3. recursion is at most DEPTH_MAX deep.
 */
#include "schema_graph.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define DEPTH_MAX 64
#define ZERO_ITEMS_MAX 65536

struct evs_schema_graph {
    json_t *doc; /* the parsed canonical form; labels and names point into it */
    evs_schema_node **nodes;
    size_t node_count;
    size_t node_cap;
    evs_schema_node **named; /* nodes of named types, for references */
    size_t named_count;
    size_t named_cap;
    evs_schema_node *root;
};

typedef struct build_state {
    evs_schema_graph *g;
    char *err;
    size_t err_len;
} build_state;

static int build_fail(build_state *b, const char *fmt, ...)
{
    if (b->err != NULL && b->err_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->err, b->err_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int push_ptr(void ***array, size_t *count, size_t *cap, void *p)
{
    if (*count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 32;
        void **a = realloc(*array, ncap * sizeof *a);
        if (a == NULL)
            return -1;
        *array = a;
        *cap = ncap;
    }
    (*array)[(*count)++] = p;
    return 0;
}

static evs_schema_node *new_node(build_state *b, evs_avro_kind kind, size_t count)
{
    evs_schema_node *n = calloc(1, sizeof *n);
    if (n == NULL)
        return NULL;
    if (push_ptr((void ***)&b->g->nodes, &b->g->node_count, &b->g->node_cap, n) != 0) {
        free(n);
        return NULL;
    }
    n->kind = kind;
    n->count = count;
    if (count > 0 && (kind == EVS_AVRO_RECORD || kind == EVS_AVRO_UNION)) {
        n->children = calloc(count, sizeof *n->children);
        if (n->children == NULL)
            return NULL;
    }
    if (kind == EVS_AVRO_ARRAY || kind == EVS_AVRO_MAP) {
        n->children = calloc(1, sizeof *n->children);
        if (n->children == NULL)
            return NULL;
    }
    if (count > 0 && (kind == EVS_AVRO_RECORD || kind == EVS_AVRO_ENUM)) {
        n->labels = calloc(count, sizeof *n->labels);
        if (n->labels == NULL)
            return NULL;
    }
    return n;
}

static const struct {
    const char *name;
    evs_avro_kind kind;
} primitives[] = {
    {"null", EVS_AVRO_NULL},   {"boolean", EVS_AVRO_BOOLEAN}, {"int", EVS_AVRO_INT},
    {"long", EVS_AVRO_LONG},   {"float", EVS_AVRO_FLOAT},     {"double", EVS_AVRO_DOUBLE},
    {"bytes", EVS_AVRO_BYTES}, {"string", EVS_AVRO_STRING},
};

static evs_schema_node *build_node(build_state *b, json_t *j, int depth)
{
    if (depth > DEPTH_MAX) {
        build_fail(b, "schema nested deeper than %d levels", DEPTH_MAX);
        return NULL;
    }
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        for (size_t i = 0; i < sizeof primitives / sizeof primitives[0]; i++)
            if (strcmp(s, primitives[i].name) == 0)
                return new_node(b, primitives[i].kind, 0);
        for (size_t i = 0; i < b->g->named_count; i++)
            if (strcmp(b->g->named[i]->name, s) == 0)
                return b->g->named[i];
        build_fail(b, "unknown type \"%.80s\"", s);
        return NULL;
    }
    if (json_is_array(j)) {
        size_t n = json_array_size(j);
        evs_schema_node *u = new_node(b, EVS_AVRO_UNION, n);
        if (u == NULL)
            return NULL;
        for (size_t i = 0; i < n; i++)
            if ((u->children[i] = build_node(b, json_array_get(j, i), depth + 1)) == NULL)
                return NULL;
        return u;
    }
    const char *type = json_string_value(json_object_get(j, "type"));
    if (type == NULL) {
        build_fail(b, "schema is not in canonical form");
        return NULL;
    }
    if (strcmp(type, "record") == 0) {
        json_t *fields = json_object_get(j, "fields");
        size_t n = json_array_size(fields);
        evs_schema_node *r = new_node(b, EVS_AVRO_RECORD, n);
        if (r == NULL)
            return NULL;
        r->name = json_string_value(json_object_get(j, "name"));
        /* Registered before its fields, so that they may refer to it (recursion). */
        if (push_ptr((void ***)&b->g->named, &b->g->named_count, &b->g->named_cap, r) != 0)
            return NULL;
        for (size_t i = 0; i < n; i++) {
            json_t *f = json_array_get(fields, i);
            r->labels[i] = json_string_value(json_object_get(f, "name"));
            r->children[i] = build_node(b, json_object_get(f, "type"), depth + 1);
            if (r->labels[i] == NULL || r->children[i] == NULL)
                return NULL;
        }
        return r;
    }
    if (strcmp(type, "enum") == 0) {
        json_t *symbols = json_object_get(j, "symbols");
        size_t n = json_array_size(symbols);
        evs_schema_node *e = new_node(b, EVS_AVRO_ENUM, n);
        if (e == NULL)
            return NULL;
        e->name = json_string_value(json_object_get(j, "name"));
        for (size_t i = 0; i < n; i++)
            e->labels[i] = json_string_value(json_array_get(symbols, i));
        if (push_ptr((void ***)&b->g->named, &b->g->named_count, &b->g->named_cap, e) != 0)
            return NULL;
        return e;
    }
    if (strcmp(type, "fixed") == 0) {
        json_int_t size = json_integer_value(json_object_get(j, "size"));
        evs_schema_node *f = new_node(b, EVS_AVRO_FIXED, (size_t)size);
        if (f == NULL)
            return NULL;
        f->name = json_string_value(json_object_get(j, "name"));
        if (push_ptr((void ***)&b->g->named, &b->g->named_count, &b->g->named_cap, f) != 0)
            return NULL;
        return f;
    }
    if (strcmp(type, "array") == 0 || strcmp(type, "map") == 0) {
        int is_array = type[0] == 'a';
        evs_schema_node *c = new_node(b, is_array ? EVS_AVRO_ARRAY : EVS_AVRO_MAP, 0);
        if (c == NULL)
            return NULL;
        c->children[0] =
            build_node(b, json_object_get(j, is_array ? "items" : "values"), depth + 1);
        return c->children[0] ? c : NULL;
    }
    build_fail(b, "unknown type \"%.80s\"", type);
    return NULL;
}

/* Fewest bytes a value can encode to. A node met again while being computed (recursion)
 * counts as 0 there, which keeps the result a lower bound. */
static size_t compute_min(evs_schema_node *n)
{
    if (n->min_state_ == 2)
        return n->min_bytes;
    if (n->min_state_ == 1)
        return 0;
    n->min_state_ = 1;
    size_t m = 0;
    switch (n->kind) {
    case EVS_AVRO_NULL:
        m = 0;
        break;
    case EVS_AVRO_FLOAT:
        m = 4;
        break;
    case EVS_AVRO_DOUBLE:
        m = 8;
        break;
    case EVS_AVRO_FIXED:
        m = n->count;
        break;
    case EVS_AVRO_RECORD:
        for (size_t i = 0; i < n->count; i++)
            m += compute_min(n->children[i]);
        break;
    case EVS_AVRO_UNION:
        for (size_t i = 0; i < n->count; i++)
            compute_min(n->children[i]);
        m = 1; /* the branch index; the branch itself may be null */
        break;
    case EVS_AVRO_ARRAY:
    case EVS_AVRO_MAP:
        compute_min(n->children[0]);
        m = 1;
        break;
    default: /* boolean, int, long, bytes, string, enum */
        m = 1;
        break;
    }
    n->min_bytes = m;
    n->min_state_ = 2;
    return m;
}

int evs__schema_graph_build(const char *canonical, evs_schema_graph **out, char *err,
                            size_t err_len)
{
    build_state b = {.err = err, .err_len = err_len};
    json_error_t jerr;
    *out = NULL;
    if (err != NULL && err_len > 0)
        err[0] = '\0';
    b.g = calloc(1, sizeof *b.g);
    if (b.g == NULL)
        return build_fail(&b, "out of memory");
    b.g->doc = json_loads(canonical, JSON_DECODE_ANY, &jerr);
    if (b.g->doc == NULL) {
        build_fail(&b, "canonical schema is not JSON: %s", jerr.text);
        goto fail;
    }
    b.g->root = build_node(&b, b.g->doc, 0);
    if (b.g->root == NULL) {
        if (err != NULL && err_len > 0 && err[0] == '\0')
            build_fail(&b, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < b.g->node_count; i++)
        compute_min(b.g->nodes[i]);
    *out = b.g;
    return 0;
fail:
    evs__schema_graph_free(b.g);
    return -1;
}

const evs_schema_node *evs__schema_graph_root(const evs_schema_graph *graph)
{
    return graph->root;
}

void evs__schema_graph_free(evs_schema_graph *graph)
{
    if (graph == NULL)
        return;
    for (size_t i = 0; i < graph->node_count; i++) {
        free(graph->nodes[i]->children);
        free(graph->nodes[i]->labels);
        free(graph->nodes[i]);
    }
    free(graph->nodes);
    free(graph->named);
    json_decref(graph->doc);
    free(graph);
}

int evs__schema_field_index(const evs_schema_node *record, const char *name)
{
    if (record == NULL || record->kind != EVS_AVRO_RECORD)
        return -1;
    for (size_t i = 0; i < record->count; i++)
        if (strcmp(record->labels[i], name) == 0)
            return (int)i;
    return -1;
}

/* ---- The body check ------------------------------------------------------------------ */

typedef struct walk {
    const uint8_t *start;
    const uint8_t *p;
    const uint8_t *end;
    size_t zero_items_left;
    char *err;
    size_t err_len;
} walk;

static int walk_fail(walk *w, const char *field, const char *fmt, ...)
{
    if (w->err != NULL && w->err_len > 0) {
        char what[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        snprintf(w->err, w->err_len, "%s at body byte %zu (field \"%s\")", what,
                 (size_t)(w->p - w->start), field);
    }
    return -1;
}

static size_t left(const walk *w)
{
    return (size_t)(w->end - w->p);
}

static int read_varint(walk *w, const char *field, int64_t *out)
{
    uint64_t u = 0;
    for (int i = 0;; i++) {
        if (w->p == w->end)
            return walk_fail(w, field, "truncated inside a number");
        uint8_t byte = *w->p++;
        if (i == 9 && byte > 1)
            return walk_fail(w, field, "number longer than 64 bits");
        u |= (uint64_t)(byte & 0x7f) << (7 * i);
        if ((byte & 0x80) == 0)
            break;
    }
    *out = (int64_t)((u >> 1) ^ (0 - (u & 1)));
    return 0;
}

static int need(walk *w, const char *field, uint64_t n, const char *what)
{
    if (n > left(w))
        return walk_fail(w, field, "truncated: %s needs %llu bytes, %zu left", what,
                         (unsigned long long)n, left(w));
    return 0;
}

static int walk_value(walk *w, const evs_schema_node *n, const char *field, int depth);

static int walk_blocks(walk *w, const evs_schema_node *n, const char *field, int depth)
{
    const evs_schema_node *item = n->children[0];
    int is_map = n->kind == EVS_AVRO_MAP;
    size_t per_item = item->min_bytes + (is_map ? 1 : 0);
    for (;;) {
        int64_t count = 0, block_size = -1;
        if (read_varint(w, field, &count) != 0)
            return -1;
        if (count == 0)
            return 0;
        if (count < 0) {
            if (count == INT64_MIN)
                return walk_fail(w, field, "block count out of range");
            count = -count;
            if (read_varint(w, field, &block_size) != 0)
                return -1;
            if (block_size < 0)
                return walk_fail(w, field, "negative block size %lld", (long long)block_size);
            if (need(w, field, (uint64_t)block_size, "a block") != 0)
                return -1;
        }
        if (per_item > 0) {
            if ((uint64_t)count > left(w) / per_item)
                return walk_fail(w, field, "truncated: %lld items cannot fit in %zu bytes",
                                 (long long)count, left(w));
        } else {
            if ((uint64_t)count > w->zero_items_left)
                return walk_fail(w, field, "more than %d items of an empty type", ZERO_ITEMS_MAX);
            w->zero_items_left -= (size_t)count;
        }
        const uint8_t *block_start = w->p;
        for (int64_t i = 0; i < count; i++) {
            if (is_map &&
                walk_value(w, &(evs_schema_node){.kind = EVS_AVRO_STRING}, field, depth + 1) != 0)
                return -1;
            if (walk_value(w, item, field, depth + 1) != 0)
                return -1;
        }
        if (block_size >= 0 && (uint64_t)(w->p - block_start) != (uint64_t)block_size)
            return walk_fail(w, field, "block size %lld does not match its %zu bytes of items",
                             (long long)block_size, (size_t)(w->p - block_start));
    }
}

static int walk_value(walk *w, const evs_schema_node *n, const char *field, int depth)
{
    int64_t v = 0;
    if (depth > DEPTH_MAX)
        return walk_fail(w, field, "value nested deeper than %d levels", DEPTH_MAX);
    switch (n->kind) {
    case EVS_AVRO_NULL:
        return 0;
    case EVS_AVRO_BOOLEAN:
        if (need(w, field, 1, "a boolean") != 0)
            return -1;
        if (*w->p > 1)
            return walk_fail(w, field, "boolean byte 0x%02x is not 0 or 1", *w->p);
        w->p++;
        return 0;
    case EVS_AVRO_INT:
        if (read_varint(w, field, &v) != 0)
            return -1;
        if (v < INT32_MIN || v > INT32_MAX)
            return walk_fail(w, field, "int %lld out of range", (long long)v);
        return 0;
    case EVS_AVRO_LONG:
        return read_varint(w, field, &v);
    case EVS_AVRO_FLOAT:
        if (need(w, field, 4, "a float") != 0)
            return -1;
        w->p += 4;
        return 0;
    case EVS_AVRO_DOUBLE:
        if (need(w, field, 8, "a double") != 0)
            return -1;
        w->p += 8;
        return 0;
    case EVS_AVRO_BYTES:
    case EVS_AVRO_STRING:
        if (read_varint(w, field, &v) != 0)
            return -1;
        if (v < 0)
            return walk_fail(w, field, "negative length %lld", (long long)v);
        if (need(w, field, (uint64_t)v, n->kind == EVS_AVRO_BYTES ? "bytes" : "a string") != 0)
            return -1;
        w->p += v;
        return 0;
    case EVS_AVRO_FIXED:
        if (need(w, field, n->count, "a fixed") != 0)
            return -1;
        w->p += n->count;
        return 0;
    case EVS_AVRO_ENUM:
        if (read_varint(w, field, &v) != 0)
            return -1;
        if (v < 0 || (uint64_t)v >= n->count)
            return walk_fail(w, field, "enum index %lld out of range (%zu symbols)", (long long)v,
                             n->count);
        return 0;
    case EVS_AVRO_UNION:
        if (read_varint(w, field, &v) != 0)
            return -1;
        if (v < 0 || (uint64_t)v >= n->count)
            return walk_fail(w, field, "union branch %lld out of range (%zu branches)",
                             (long long)v, n->count);
        return walk_value(w, n->children[v], field, depth + 1);
    case EVS_AVRO_RECORD:
        for (size_t i = 0; i < n->count; i++)
            if (walk_value(w, n->children[i], n->labels[i], depth + 1) != 0)
                return -1;
        return 0;
    case EVS_AVRO_ARRAY:
    case EVS_AVRO_MAP:
        return walk_blocks(w, n, field, depth);
    }
    return walk_fail(w, field, "unknown schema type");
}

int evs__schema_body_check(const evs_schema_graph *graph, const uint8_t *body, size_t len,
                           char *err, size_t err_len)
{
    walk w = {.start = body,
              .p = body,
              .end = body + len,
              .zero_items_left = ZERO_ITEMS_MAX,
              .err = err,
              .err_len = err_len};
    if (walk_value(&w, graph->root, graph->root->name ? graph->root->name : "(root)", 0) != 0)
        return -1;
    if (w.p != w.end) {
        if (err != NULL && err_len > 0)
            snprintf(err, err_len, "%zu trailing bytes after the body (it ends at byte %zu)",
                     left(&w), (size_t)(w.p - w.start));
        return -1;
    }
    return 0;
}
