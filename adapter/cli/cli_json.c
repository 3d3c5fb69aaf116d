/*
 * cli_json.c - JSON text helpers of the `evstore` CLI (see cli_json.h for why JSON is kept
 * as text rather than re-serialised). The byte-exact JSON handling itself is shared with
 * the projector's POST /streams/{stream}: schemas/json_text.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_json.h"
#include "json_text.h"

static void out_of_memory(void)
{
    fputs("evstore: out of memory\n", stderr);
    exit(1);
}

static void buf_reserve(evs_cli_buf *buf, size_t extra)
{
    if (extra > SIZE_MAX - buf->len - 1)
        out_of_memory();
    size_t need = buf->len + extra + 1;
    if (need <= buf->cap)
        return;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *grown = realloc(buf->data, cap);
    if (!grown)
        out_of_memory();
    buf->data = grown;
    buf->cap = cap;
}

void evs_cli_buf_append(evs_cli_buf *buf, const void *bytes, size_t len)
{
    buf_reserve(buf, len);
    if (len)
        memcpy(buf->data + buf->len, bytes, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}

void evs_cli_buf_puts(evs_cli_buf *buf, const char *text)
{
    evs_cli_buf_append(buf, text, strlen(text));
}

void evs_cli_buf_printf(evs_cli_buf *buf, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int n = vsnprintf(NULL, 0, format, args);
    va_end(args);
    if (n < 0)
        return;
    buf_reserve(buf, (size_t)n);
    va_start(args, format);
    vsnprintf(buf->data + buf->len, (size_t)n + 1, format, args);
    va_end(args);
    buf->len += (size_t)n;
}

void evs_cli_buf_free(evs_cli_buf *buf)
{
    free(buf->data);
    memset(buf, 0, sizeof *buf);
}

void evs_cli_json_string(evs_cli_buf *buf, const char *bytes, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    buf_reserve(buf, len + 2);
    evs_cli_buf_append(buf, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)bytes[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            evs_cli_buf_append(buf, esc, 2);
        } else if (c == '\n') {
            evs_cli_buf_append(buf, "\\n", 2);
        } else if (c == '\t') {
            evs_cli_buf_append(buf, "\\t", 2);
        } else if (c == '\r') {
            evs_cli_buf_append(buf, "\\r", 2);
        } else if (c < 0x20 || c == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            evs_cli_buf_append(buf, esc, 6);
        } else {
            evs_cli_buf_append(buf, &bytes[i], 1);
        }
    }
    evs_cli_buf_append(buf, "\"", 1);
}

void evs_cli_base64(evs_cli_buf *buf, const void *bytes, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = bytes;
    buf_reserve(buf, (len + 2) / 3 * 4);
    char *out = buf->data + buf->len;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = alphabet[v >> 18];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = alphabet[(v >> 6) & 63];
        *out++ = alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *out++ = alphabet[v >> 18];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *out++ = alphabet[v >> 18];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = alphabet[(v >> 6) & 63];
        *out++ = '=';
    }
    buf->len = (size_t)(out - buf->data);
    buf->data[buf->len] = '\0';
}

int evs_cli_json_valid(const char *text, size_t len, char *err, size_t err_len)
{
    return evs_json_text_valid(text, len, err, err_len);
}

void evs_cli_json_compact(evs_cli_buf *buf, const char *text, size_t len)
{
    buf_reserve(buf, len);
    buf->len += evs_json_text_compact(text, len, buf->data + buf->len);
    buf->data[buf->len] = '\0';
}

int evs_cli_json_member_span(const char *text, size_t len, const char *key, size_t *start,
                             size_t *span_len)
{
    return evs_json_text_member(text, len, key, start, span_len);
}

int evs_cli_is_json_content_type(const char *content_type)
{
    return evs_json_text_content_type_is_json(content_type);
}

int evs_cli_uuid_valid(const char *text)
{
    if (!text || strlen(text) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        char c = text[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return 1;
}

void evs_cli_format_time(int64_t us, char out[40])
{
    int64_t seconds = us / 1000000;
    int64_t micros = us % 1000000;
    if (micros < 0) { /* floor, so times before 1970 print correctly */
        micros += 1000000;
        seconds -= 1;
    }
    time_t t = (time_t)seconds;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
        snprintf(out, 40, "%lld", (long long)us);
        return;
    }
    /* The modulos only tell the compiler the ranges it cannot see (checked above). */
    snprintf(out, 40, "%04u-%02u-%02uT%02u:%02u:%02u.%06uZ", (unsigned)(tm.tm_year + 1900) % 10000u,
             (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u,
             (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u,
             (unsigned)micros % 1000000u);
}
