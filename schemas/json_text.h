/*
 * json_text.h - byte-exact handling of JSON text that someone gave us (the CLI's --data and
 * NDJSON lines, the body of POST /streams/{stream} on the projector).
 *
 * Why not re-serialise with jansson: jansson turns 1.1 into 1.1000000000000001 and refuses
 * integers beyond 64 bits, so a payload that went through a jansson round trip would not be
 * the payload the user wrote. Instead the text is validated with jansson, the spans of the
 * values of interest are found in the text itself (evs_json_text_member,
 * evs_json_text_element), and a span is copied with only the whitespace between tokens
 * removed (evs_json_text_compact). Numbers, strings and member order stay as written.
 *
 * Every function but evs_json_text_valid assumes its input is valid JSON (it passed
 * evs_json_text_valid or jansson): they track only string boundaries and nesting, which is
 * all valid JSON needs, and never read past len, whatever the input.
 */
#ifndef EVS_JSON_TEXT_H
#define EVS_JSON_TEXT_H

#include <stddef.h>

/* 1 if text is one valid JSON value of any type (integers beyond 64 bits and "\u0000" in
 * strings allowed). On 0, err (if not NULL) says what is wrong and where. */
int evs_json_text_valid(const char *text, size_t len, char *err, size_t err_len);

/* Copies valid JSON text to out with the whitespace between tokens removed. out must hold
 * len bytes (compacting never lengthens); nothing is NUL-terminated. Returns the bytes
 * written. */
size_t evs_json_text_compact(const char *text, size_t len, char *out);

/* In valid JSON text whose top-level value is an object, finds the value of member key.
 * Returns 1 and its span [*start, *start + *span_len) (leading and trailing whitespace
 * excluded), or 0 if there is no such member (or the text is not an object). If the key
 * occurs more than once the last occurrence wins, as in jansson. */
int evs_json_text_member(const char *text, size_t len, const char *key, size_t *start,
                         size_t *span_len);

/* Iterates over the elements of valid JSON text whose top-level value is an array. Set
 * *cursor to 0 before the first call; each call returns 1 with the next element's span, or
 * 0 after the last element (or if the value is not an array). */
int evs_json_text_element(const char *text, size_t len, size_t *cursor, size_t *start,
                          size_t *span_len);

/* 1 if a content type says JSON: application/json or any +json type, parameters allowed,
 * case-insensitive. NULL counts as JSON (evstore's default content type). */
int evs_json_text_content_type_is_json(const char *content_type);

#endif /* EVS_JSON_TEXT_H */
