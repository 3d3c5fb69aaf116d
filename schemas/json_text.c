/*
 * json_text.c - byte-exact handling of JSON text (see json_text.h for why JSON is kept as
 * text rather than re-serialised).
 *
 * The scanners below assume valid JSON: they know only that a string runs from '"' to the
 * next unescaped '"', that '{' '[' and '}' ']' nest, and that a scalar ends at whitespace,
 * ',', '}' or ']'. Every index is checked against len, so invalid input gives wrong spans,
 * never an out-of-bounds read.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "json_text.h"

int evs_json_text_valid(const char *text, size_t len, char *err, size_t err_len)
{
    json_error_t jerr;
    json_t *value =
        json_loadb(text, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &jerr);
    if (!value) {
        if (err)
            snprintf(err, err_len, "%s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
        return 0;
    }
    json_decref(value);
    return 1;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_space(const char *text, size_t len, size_t i)
{
    while (i < len && is_space(text[i]))
        i++;
    return i;
}

/* Index just past the string whose opening quote is at text[i]. */
static size_t skip_string(const char *text, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (text[i] == '\\')
            i++;
        else if (text[i] == '"')
            return i + 1;
    }
    return len;
}

/* Index just past the value starting at text[i]. */
static size_t skip_value(const char *text, size_t len, size_t i)
{
    if (i >= len)
        return len;
    if (text[i] == '"')
        return skip_string(text, len, i);
    if (text[i] == '{' || text[i] == '[') {
        int depth = 0;
        while (i < len) {
            char c = text[i];
            if (c == '"') {
                i = skip_string(text, len, i);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if (c == '}' || c == ']')
                depth--;
            i++;
            if (depth == 0)
                return i;
        }
        return len;
    }
    while (i < len && !is_space(text[i]) && text[i] != ',' && text[i] != '}' && text[i] != ']')
        i++;
    return i;
}

size_t evs_json_text_compact(const char *text, size_t len, char *out)
{
    size_t n = 0, i = 0;
    while (i < len) {
        size_t start = i;
        if (text[i] == '"') {
            i = skip_string(text, len, i);
        } else {
            while (i < len && text[i] != '"' && !is_space(text[i]))
                i++;
        }
        memcpy(out + n, text + start, i - start);
        n += i - start;
        i = skip_space(text, len, i);
    }
    return n;
}

/* 1 if the JSON string token text[start..end) (quotes included) decodes to key. */
static int key_equals(const char *text, size_t start, size_t end, const char *key)
{
    size_t inner = end - start - 2;
    size_t key_len = strlen(key);
    if (!memchr(text + start, '\\', end - start))
        return inner == key_len && memcmp(text + start + 1, key, inner) == 0;
    json_t *decoded = json_loadb(text + start, end - start, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    int equal = json_is_string(decoded) && json_string_length(decoded) == key_len &&
                memcmp(json_string_value(decoded), key, key_len) == 0;
    json_decref(decoded);
    return equal;
}

int evs_json_text_member(const char *text, size_t len, const char *key, size_t *start,
                         size_t *span_len)
{
    int found = 0;
    size_t i = skip_space(text, len, 0);
    if (i >= len || text[i] != '{')
        return 0;
    i++;
    for (;;) {
        i = skip_space(text, len, i);
        if (i >= len || text[i] != '"')
            break; /* '}' of an empty object, or the end */
        size_t key_end = skip_string(text, len, i);
        int match = key_end - i >= 2 && key_equals(text, i, key_end, key);
        i = skip_space(text, len, key_end);
        if (i >= len || text[i] != ':')
            break;
        i = skip_space(text, len, i + 1);
        size_t value_end = skip_value(text, len, i);
        if (match) {
            *start = i;
            *span_len = value_end - i;
            found = 1;
        }
        i = skip_space(text, len, value_end);
        if (i >= len || text[i] != ',')
            break;
        i++;
    }
    return found;
}

int evs_json_text_element(const char *text, size_t len, size_t *cursor, size_t *start,
                          size_t *span_len)
{
    size_t i = *cursor;
    if (i == 0) {
        /* First call: step into the array. Every later cursor is past its '['. */
        i = skip_space(text, len, 0);
        if (i >= len || text[i] != '[')
            return 0;
        i = skip_space(text, len, i + 1);
        if (i >= len || text[i] == ']')
            return 0;
    } else {
        i = skip_space(text, len, i);
        if (i >= len || text[i] != ',')
            return 0; /* ']' after the last element */
        i = skip_space(text, len, i + 1);
        if (i >= len)
            return 0;
    }
    size_t end = skip_value(text, len, i);
    *start = i;
    *span_len = end - i;
    *cursor = end;
    return 1;
}

int evs_json_text_content_type_is_json(const char *content_type)
{
    if (!content_type)
        return 1;
    size_t n = strcspn(content_type, ";");
    while (n > 0 && is_space(content_type[n - 1]))
        n--;
    if (n == 16 && strncasecmp(content_type, "application/json", 16) == 0)
        return 1;
    return n >= 5 && strncasecmp(content_type + n - 5, "+json", 5) == 0;
}
