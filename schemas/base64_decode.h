/*
 * base64_decode.h - decoding of standard base64 (RFC 4648 section 4), the form in which the
 * projector's query API returns payload bytes (`encoding=base64`).
 */
#ifndef EVS_BASE64_DECODE_H
#define EVS_BASE64_DECODE_H

#include <stddef.h>
#include <stdint.h>

/* The most bytes that text of length text_len can decode to. */
static inline size_t evs__base64_decoded_max(size_t text_len)
{
    return (text_len + 3) / 4 * 3;
}

/* Decodes text[0..text_len) into out, which must hold evs__base64_decoded_max(text_len)
 * bytes. Padding ('=') is optional; whitespace and any other character are rejected, as is
 * anything after padding. Returns 0 and sets *out_len, or -1 if the text is not base64. */
int evs__base64_decode(const char *text, size_t text_len, uint8_t *out, size_t *out_len);

#endif /* EVS_BASE64_DECODE_H */
