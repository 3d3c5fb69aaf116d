/*
 * schema_canonical.c - Avro Parsing Canonical Form (PCF) and CRC-64-AVRO fingerprints.
 *
 * A record's single-object header names its writer schema by the fingerprint of the schema's
 * Parsing Canonical Form, so this code decides which bytes every reader in every language
 * must agree on. It follows the Avro specification ("Parsing Canonical Form for Schemas"):
 *
 *   [PRIMITIVES] a primitive written as an object ({"type":"int", ...}) becomes the plain
 *                string "int" (logical types are dropped with every other attribute);
 *   [FULLNAMES]  every name of a named type (record, enum, fixed), and every reference to
 *                one, is written as its fullname; "namespace" attributes disappear;
 *   [STRIP]      only type, name, fields, symbols, items, values and size are kept
 *                (doc, aliases, default, order, logicalType, ... are dropped);
 *   [ORDER]      attributes appear in the order name, type, fields, symbols, items, values,
 *                size;
 *   [STRINGS]    strings are written without escapes (the names and symbols we accept are
 *                [A-Za-z_][A-Za-z0-9_]* so none are ever needed);
 *   [INTEGERS]   sizes are plain decimal without leading zeros or sign;
 *   [WHITESPACE] no whitespace outside strings.
 *
 * A named type is written in full at its first appearance (depth-first, in document order)
 * and by fullname afterwards. Name resolution follows the spec: a name containing a dot is
 * a fullname; otherwise the namespace is the type's "namespace" attribute if present, else
 * the namespace of the innermost enclosing named type. A reference that is not found in the
 * enclosing namespace is looked up in the null namespace, as the Java implementation does.
 * "error" (protocol records) is canonicalised as "record", as in Java.
 *
 * The fingerprint is the 64-bit Rabin fingerprint the spec calls CRC-64-AVRO, computed over
 * the canonical form's UTF-8 bytes.
 *
 * Invariants: the output is deterministic for a given input; anything we cannot
 * canonicalise with certainty (unknown type names, bad names, duplicate definitions, nesting
 * deeper than CANON_DEPTH_MAX) is an error, never a guess.
 */
#include "schema_canonical.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "record_codec.h"

/* Deeper schemas are rejected: it bounds our recursion on hostile JSON. */
#define CANON_DEPTH_MAX 64

uint64_t evs__fingerprint64(const void *data, size_t len)
{
    const uint64_t empty = UINT64_C(0xc15d213aa4d7a795);
    uint64_t table[256];
    for (unsigned i = 0; i < 256; i++) {
        uint64_t fp = i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (empty & (0 - (fp & 1)));
        table[i] = fp;
    }
    const uint8_t *p = data;
    uint64_t fp = empty;
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ table[(fp ^ p[i]) & 0xff];
    return fp;
}

typedef struct canon_state {
    char *out; /* the canonical form being built */
    size_t len;
    size_t cap;
    char **names; /* fullnames of the named types defined so far */
    size_t name_count;
    size_t name_cap;
    char *err;
    size_t err_len;
    int failed; /* set by fail() and by allocation failures; output is then discarded */
} canon_state;

static int fail(canon_state *st, const char *fmt, ...)
{
    if (!st->failed && st->err != NULL && st->err_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(st->err, st->err_len, fmt, ap);
        va_end(ap);
    }
    st->failed = 1;
    return -1;
}

static void put_len(canon_state *st, const char *s, size_t n)
{
    if (st->failed)
        return;
    if (st->len + n + 1 > st->cap) {
        size_t cap = st->cap ? st->cap : 256;
        while (cap < st->len + n + 1)
            cap *= 2;
        char *p = realloc(st->out, cap);
        if (p == NULL) {
            fail(st, "out of memory");
            return;
        }
        st->out = p;
        st->cap = cap;
    }
    memcpy(st->out + st->len, s, n);
    st->len += n;
    st->out[st->len] = '\0';
}

static void put(canon_state *st, const char *s)
{
    put_len(st, s, strlen(s));
}

/* Writes s as a JSON string. Callers only pass validated names and primitive type names,
 * which never need escaping ([STRINGS]). */
static void put_quoted(canon_state *st, const char *s)
{
    put(st, "\"");
    put(st, s);
    put(st, "\"");
}

static int is_primitive(const char *s)
{
    static const char *const primitives[] = {"null",  "boolean", "int",   "long",
                                             "float", "double",  "bytes", "string"};
    for (size_t i = 0; i < sizeof primitives / sizeof primitives[0]; i++)
        if (strcmp(s, primitives[i]) == 0)
            return 1;
    return 0;
}

/* A simple name per the spec: [A-Za-z_][A-Za-z0-9_]*, n bytes long. */
static int simple_name_valid(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        int digit = c >= '0' && c <= '9';
        if (!(alpha || (i > 0 && digit)))
            return 0;
    }
    return 1;
}

/* A fullname: one or more simple names joined by dots. */
static int fullname_valid(const char *s)
{
    const char *start = s;
    for (const char *p = s;; p++) {
        if (*p == '.' || *p == '\0') {
            if (!simple_name_valid(start, (size_t)(p - start)))
                return 0;
            if (*p == '\0')
                return 1;
            start = p + 1;
        }
    }
}

static char *join_name(const char *ns, const char *name)
{
    size_t nl = ns ? strlen(ns) : 0, ml = strlen(name);
    char *s = malloc(nl + ml + 2);
    if (s == NULL)
        return NULL;
    if (nl > 0) {
        memcpy(s, ns, nl);
        s[nl] = '.';
        memcpy(s + nl + 1, name, ml + 1);
    } else {
        memcpy(s, name, ml + 1);
    }
    return s;
}

static int name_defined(const canon_state *st, const char *fullname)
{
    for (size_t i = 0; i < st->name_count; i++)
        if (strcmp(st->names[i], fullname) == 0)
            return 1;
    return 0;
}

/* Takes ownership of fullname. */
static int add_name(canon_state *st, char *fullname)
{
    if (st->name_count == st->name_cap) {
        size_t cap = st->name_cap ? st->name_cap * 2 : 16;
        char **p = realloc(st->names, cap * sizeof *p);
        if (p == NULL) {
            free(fullname);
            return fail(st, "out of memory");
        }
        st->names = p;
        st->name_cap = cap;
    }
    st->names[st->name_count++] = fullname;
    return 0;
}

/* Writes a reference to a primitive or an already defined named type ([FULLNAMES]). */
static int put_reference(canon_state *st, const char *ref, const char *ns)
{
    if (is_primitive(ref)) {
        put_quoted(st, ref);
        return 0;
    }
    if (!fullname_valid(ref))
        return fail(st, "\"%.80s\" is not a valid type name", ref);
    if (strchr(ref, '.') == NULL && ns != NULL && ns[0] != '\0') {
        char *full = join_name(ns, ref);
        if (full == NULL)
            return fail(st, "out of memory");
        int found = name_defined(st, full);
        if (found)
            put_quoted(st, full);
        free(full);
        if (found)
            return 0;
    }
    if (name_defined(st, ref)) {
        put_quoted(st, ref);
        return 0;
    }
    return fail(st, "unknown type \"%.80s\" (named types must be defined before use)", ref);
}

/* Resolves and records the fullname of the named type obj. *fullname_out points into the
 * name table (owned by st) on success. */
static int define_name(canon_state *st, json_t *obj, const char *ns, const char **fullname_out)
{
    json_t *name = json_object_get(obj, "name");
    if (!json_is_string(name))
        return fail(st, "a named type has no \"name\" string");
    const char *n = json_string_value(name);
    char *full;
    if (strchr(n, '.') != NULL) {
        full = strdup(n);
    } else {
        json_t *nsj = json_object_get(obj, "namespace");
        if (nsj != NULL && !json_is_null(nsj)) {
            if (!json_is_string(nsj))
                return fail(st, "type \"%.80s\": \"namespace\" is not a string", n);
            ns = json_string_value(nsj);
            if (ns[0] != '\0' && !fullname_valid(ns))
                return fail(st, "type \"%.80s\": invalid namespace \"%.80s\"", n, ns);
        }
        full = join_name(ns, n);
    }
    if (full == NULL)
        return fail(st, "out of memory");
    if (!fullname_valid(full) || is_primitive(full)) {
        fail(st, "\"%.80s\" is not a valid name for a named type", full);
        free(full);
        return -1;
    }
    if (name_defined(st, full)) {
        fail(st, "type \"%.80s\" is defined twice", full);
        free(full);
        return -1;
    }
    if (add_name(st, full) != 0)
        return -1;
    *fullname_out = full;
    return 0;
}

/* The namespace a named type gives to the types nested in it: its fullname up to the last
 * dot. Returns a malloc'd string ("" for the null namespace) or NULL. */
static char *namespace_of(const char *fullname)
{
    const char *dot = strrchr(fullname, '.');
    size_t n = dot ? (size_t)(dot - fullname) : 0;
    char *s = malloc(n + 1);
    if (s != NULL) {
        memcpy(s, fullname, n);
        s[n] = '\0';
    }
    return s;
}

static int canon_schema(canon_state *st, json_t *schema, const char *ns, int depth);

static int canon_record(canon_state *st, json_t *obj, const char *ns, int depth)
{
    const char *full;
    if (define_name(st, obj, ns, &full) != 0)
        return -1;
    json_t *fields = json_object_get(obj, "fields");
    if (!json_is_array(fields))
        return fail(st, "record \"%.80s\" has no \"fields\" array", full);
    char *inner_ns = namespace_of(full);
    if (inner_ns == NULL)
        return fail(st, "out of memory");
    put(st, "{\"name\":");
    put_quoted(st, full);
    put(st, ",\"type\":\"record\",\"fields\":[");
    size_t n = json_array_size(fields);
    for (size_t i = 0; i < n && !st->failed; i++) {
        json_t *field = json_array_get(fields, i);
        json_t *fname = json_object_get(field, "name");
        json_t *ftype = json_object_get(field, "type");
        if (!json_is_object(field) || !json_is_string(fname) || ftype == NULL) {
            fail(st, "record \"%.80s\": field %zu needs a \"name\" and a \"type\"", full, i);
            break;
        }
        const char *fn = json_string_value(fname);
        if (!simple_name_valid(fn, strlen(fn))) {
            fail(st, "record \"%.80s\": \"%.80s\" is not a valid field name", full, fn);
            break;
        }
        for (size_t j = 0; j < i; j++) {
            json_t *other = json_object_get(json_array_get(fields, j), "name");
            if (strcmp(json_string_value(other), fn) == 0) {
                fail(st, "record \"%.80s\": field \"%.80s\" appears twice", full, fn);
                break;
            }
        }
        put(st, i ? ",{\"name\":" : "{\"name\":");
        put_quoted(st, fn);
        put(st, ",\"type\":");
        canon_schema(st, ftype, inner_ns, depth + 1);
        put(st, "}");
    }
    put(st, "]}");
    free(inner_ns);
    return st->failed ? -1 : 0;
}

static int canon_enum(canon_state *st, json_t *obj, const char *ns)
{
    const char *full;
    if (define_name(st, obj, ns, &full) != 0)
        return -1;
    json_t *symbols = json_object_get(obj, "symbols");
    if (!json_is_array(symbols) || json_array_size(symbols) == 0)
        return fail(st, "enum \"%.80s\" needs a non-empty \"symbols\" array", full);
    put(st, "{\"name\":");
    put_quoted(st, full);
    put(st, ",\"type\":\"enum\",\"symbols\":[");
    size_t n = json_array_size(symbols);
    for (size_t i = 0; i < n; i++) {
        json_t *sym = json_array_get(symbols, i);
        const char *s = json_string_value(sym);
        if (s == NULL || !simple_name_valid(s, strlen(s)))
            return fail(st, "enum \"%.80s\": symbol %zu is not a valid name", full, i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(json_string_value(json_array_get(symbols, j)), s) == 0)
                return fail(st, "enum \"%.80s\": symbol \"%s\" appears twice", full, s);
        if (i)
            put(st, ",");
        put_quoted(st, s);
    }
    put(st, "]}");
    return st->failed ? -1 : 0;
}

static int canon_fixed(canon_state *st, json_t *obj, const char *ns)
{
    const char *full;
    if (define_name(st, obj, ns, &full) != 0)
        return -1;
    json_t *size = json_object_get(obj, "size");
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return fail(st, "fixed \"%.80s\" needs a non-negative integer \"size\"", full);
    char num[32];
    snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(size));
    put(st, "{\"name\":");
    put_quoted(st, full);
    put(st, ",\"type\":\"fixed\",\"size\":");
    put(st, num);
    put(st, "}");
    return st->failed ? -1 : 0;
}

static int canon_schema(canon_state *st, json_t *schema, const char *ns, int depth)
{
    if (st->failed)
        return -1;
    if (depth > CANON_DEPTH_MAX)
        return fail(st, "schema nested deeper than %d levels", CANON_DEPTH_MAX);

    if (json_is_string(schema))
        return put_reference(st, json_string_value(schema), ns);

    if (json_is_array(schema)) { /* a union */
        put(st, "[");
        size_t n = json_array_size(schema);
        for (size_t i = 0; i < n && !st->failed; i++) {
            json_t *branch = json_array_get(schema, i);
            if (json_is_array(branch))
                return fail(st, "a union directly contains another union");
            if (i)
                put(st, ",");
            canon_schema(st, branch, ns, depth + 1);
        }
        put(st, "]");
        return st->failed ? -1 : 0;
    }

    if (!json_is_object(schema))
        return fail(st, "a schema must be a string, an object or an array");

    json_t *type = json_object_get(schema, "type");
    if (json_is_object(type) || json_is_array(type))
        return canon_schema(st, type, ns, depth + 1);
    if (!json_is_string(type))
        return fail(st, "a schema object has no \"type\"");
    const char *t = json_string_value(type);

    if (is_primitive(t)) { /* [PRIMITIVES] */
        put_quoted(st, t);
        return st->failed ? -1 : 0;
    }
    if (strcmp(t, "record") == 0 || strcmp(t, "error") == 0)
        return canon_record(st, schema, ns, depth);
    if (strcmp(t, "enum") == 0)
        return canon_enum(st, schema, ns);
    if (strcmp(t, "fixed") == 0)
        return canon_fixed(st, schema, ns);
    if (strcmp(t, "array") == 0) {
        json_t *items = json_object_get(schema, "items");
        if (items == NULL)
            return fail(st, "an array schema has no \"items\"");
        put(st, "{\"type\":\"array\",\"items\":");
        canon_schema(st, items, ns, depth + 1);
        put(st, "}");
        return st->failed ? -1 : 0;
    }
    if (strcmp(t, "map") == 0) {
        json_t *values = json_object_get(schema, "values");
        if (values == NULL)
            return fail(st, "a map schema has no \"values\"");
        put(st, "{\"type\":\"map\",\"values\":");
        canon_schema(st, values, ns, depth + 1);
        put(st, "}");
        return st->failed ? -1 : 0;
    }
    /* {"type": "some.Named"}: a reference written as an object. */
    return put_reference(st, t, ns);
}

int evs__schema_canonical(const char *json, size_t json_len, char **canonical_out,
                          uint64_t *fingerprint, char *err, size_t err_len)
{
    canon_state st = {.err = err, .err_len = err_len};
    json_error_t jerr;
    if (canonical_out != NULL)
        *canonical_out = NULL;
    if (err != NULL && err_len > 0)
        err[0] = '\0';

    json_t *doc = json_loadb(json, json_len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        fail(&st, "schema is not JSON: %s (line %d)", jerr.text, jerr.line);
        return -1;
    }
    canon_schema(&st, doc, "", 0);
    json_decref(doc);
    for (size_t i = 0; i < st.name_count; i++)
        free(st.names[i]);
    free(st.names);
    if (st.failed || st.out == NULL) {
        free(st.out);
        return -1;
    }
    if (fingerprint != NULL)
        *fingerprint = evs__fingerprint64(st.out, st.len);
    if (canonical_out != NULL)
        *canonical_out = st.out;
    else
        free(st.out);
    return 0;
}

int evs_schema_canonical(const char *schema_json, char **canonical_out, uint64_t *fingerprint)
{
    if (schema_json == NULL)
        return -1;
    return evs__schema_canonical(schema_json, strlen(schema_json), canonical_out, fingerprint, NULL,
                                 0);
}
