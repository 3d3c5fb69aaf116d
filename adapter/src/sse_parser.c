/*
 * sse_parser.c - the incremental Server-Sent Events parser (see sse_parser.h for the
 * format and what of it is implemented).
 *
 * Invariants:
 *  1. parser->line holds the bytes of the current line received so far, never a CR or LF;
 *     a line that arrives whole inside one piece is processed in place, without copying.
 *  2. Every buffer's len stays <= max_event_bytes, and each is NUL-terminated when it has
 *     memory, so a dispatched event's strings can be used as C strings.
 *  3. after_cr is set exactly when the last byte consumed was a CR, so an LF that follows
 *     in the next piece is recognised as the second half of a CRLF.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "evstore.h"
#include "sse_parser.h"

static const char bom[] = "\xEF\xBB\xBF";

void evs__sse_init(evs_sse_parser *parser, size_t max_event_bytes)
{
    memset(parser, 0, sizeof *parser);
    parser->max_event_bytes = max_event_bytes;
    parser->first_line = 1;
    parser->retry_ms = -1;
}

void evs__sse_reset(evs_sse_parser *parser)
{
    parser->line.len = 0;
    parser->data.len = 0;
    parser->type.len = 0;
    parser->after_cr = 0;
    parser->first_line = 1;
}

void evs__sse_free(evs_sse_parser *parser)
{
    free(parser->line.bytes);
    free(parser->data.bytes);
    free(parser->type.bytes);
    free(parser->last_id.bytes);
    memset(parser, 0, sizeof *parser);
}

/* Appends bytes to text within the bound; 0, EVS_EPROTOCOL (too long) or EVS_ENOMEM. */
static int text_append(evs_sse_text *text, const char *bytes, size_t len, size_t max)
{
    if (len > max - text->len)
        return EVS_EPROTOCOL;
    if (text->len + len + 1 > text->cap) {
        size_t cap = text->cap ? text->cap : 256;
        while (cap < text->len + len + 1)
            cap *= 2;
        if (cap > max + 1)
            cap = max + 1;
        char *grown = realloc(text->bytes, cap);
        if (!grown)
            return EVS_ENOMEM;
        text->bytes = grown;
        text->cap = cap;
    }
    memcpy(text->bytes + text->len, bytes, len);
    text->len += len;
    text->bytes[text->len] = '\0';
    return 0;
}

static int text_set(evs_sse_text *text, const char *bytes, size_t len, size_t max)
{
    text->len = 0;
    return text_append(text, bytes, len, max);
}

static int dispatch(evs_sse_parser *parser, evs_sse_callback callback, void *user)
{
    int rc = 0;
    if (parser->data.len > 0) {
        size_t data_len = parser->data.len - 1; /* the last byte is the LF of a data line */
        assert(parser->data.bytes[data_len] == '\n');
        parser->data.bytes[data_len] = '\0';
        evs_sse_event event = {
            .type = parser->type.len ? parser->type.bytes : "message",
            .type_len = parser->type.len ? parser->type.len : 7,
            .data = parser->data.bytes,
            .data_len = data_len,
            .id = parser->last_id.len ? parser->last_id.bytes : "",
            .id_len = parser->last_id.len,
        };
        parser->events++;
        rc = callback(user, &event);
    }
    parser->data.len = 0;
    parser->type.len = 0;
    return rc;
}

static int field_is(const char *name, size_t name_len, const char *literal)
{
    return name_len == strlen(literal) && memcmp(name, literal, name_len) == 0;
}

/* Processes one complete line (without its end) per the standard's rules. */
static int process_line(evs_sse_parser *parser, const char *line, size_t len,
                        evs_sse_callback callback, void *user)
{
    size_t max = parser->max_event_bytes;
    if (parser->first_line) {
        parser->first_line = 0;
        if (len >= 3 && memcmp(line, bom, 3) == 0) {
            line += 3;
            len -= 3;
        }
    }
    if (len == 0)
        return dispatch(parser, callback, user);
    if (line[0] == ':') {
        parser->comments++;
        return 0;
    }
    const char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t value_len = (size_t)(line + len - value);
    if (value_len > 0 && value[0] == ' ') {
        value++;
        value_len--;
    }
    if (field_is(line, name_len, "data")) {
        int rc = text_append(&parser->data, value, value_len, max);
        return rc ? rc : text_append(&parser->data, "\n", 1, max);
    }
    if (field_is(line, name_len, "event"))
        return text_set(&parser->type, value, value_len, max);
    if (field_is(line, name_len, "id")) {
        if (memchr(value, '\0', value_len))
            return 0;
        return text_set(&parser->last_id, value, value_len, max);
    }
    if (field_is(line, name_len, "retry")) {
        long ms = 0;
        for (size_t i = 0; i < value_len; i++) {
            if (value[i] < '0' || value[i] > '9' || ms > 100000000)
                return 0;
            ms = ms * 10 + (value[i] - '0');
        }
        if (value_len > 0)
            parser->retry_ms = ms;
    }
    return 0; /* unknown fields are ignored */
}

int evs__sse_feed(evs_sse_parser *parser, const char *bytes, size_t len, evs_sse_callback callback,
                  void *user)
{
    const char *p = bytes, *end = bytes + len;
    while (p < end) {
        if (parser->after_cr) { /* invariant 3 */
            parser->after_cr = 0;
            if (*p == '\n') {
                p++;
                continue;
            }
        }
        /* The next line end in this piece, CR or LF. */
        const char *eol = p;
        while (eol < end && *eol != '\n' && *eol != '\r')
            eol++;
        if (eol == end) { /* an incomplete line: keep it for the next piece */
            return text_append(&parser->line, p, (size_t)(end - p), parser->max_event_bytes);
        }
        int rc;
        if (parser->line.len == 0) { /* invariant 1: the whole line is here */
            if ((size_t)(eol - p) > parser->max_event_bytes)
                return EVS_EPROTOCOL;
            rc = process_line(parser, p, (size_t)(eol - p), callback, user);
        } else {
            rc = text_append(&parser->line, p, (size_t)(eol - p), parser->max_event_bytes);
            if (rc == 0)
                rc = process_line(parser, parser->line.bytes, parser->line.len, callback, user);
            parser->line.len = 0;
        }
        parser->after_cr = *eol == '\r';
        p = eol + 1;
        if (rc != 0)
            return rc;
    }
    return 0;
}
