/*
 * base64_decode.c - standard base64 decoding (RFC 4648 section 4, alphabet A-Z a-z 0-9 + /).
 *
 * Invariant: a successful decode consumes every character of the input; the decoded length
 * is 3 bytes per full quantum plus 1 or 2 for a final quantum of 2 or 3 characters.
 */
#include "base64_decode.h"

/* 0..63 for alphabet characters, 64 for '=', 255 for anything else. */
static uint8_t sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return (uint8_t)(c - 'A');
    if (c >= 'a' && c <= 'z')
        return (uint8_t)(c - 'a' + 26);
    if (c >= '0' && c <= '9')
        return (uint8_t)(c - '0' + 52);
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    if (c == '=')
        return 64;
    return 255;
}

int evs__base64_decode(const char *text, size_t text_len, uint8_t *out, size_t *out_len)
{
    size_t n = 0; /* bytes written */
    uint32_t acc = 0;
    int have = 0; /* sextets in acc, 0..3 */
    size_t i = 0;

    for (; i < text_len; i++) {
        uint8_t v = sextet((unsigned char)text[i]);
        if (v == 255)
            return -1;
        if (v == 64)
            break;
        acc = (acc << 6) | v;
        if (++have == 4) {
            out[n++] = (uint8_t)(acc >> 16);
            out[n++] = (uint8_t)(acc >> 8);
            out[n++] = (uint8_t)acc;
            acc = 0;
            have = 0;
        }
    }
    /* A final quantum of one character cannot encode a whole byte. */
    if (have == 1)
        return -1;
    if (have == 2) {
        out[n++] = (uint8_t)(acc >> 4);
    } else if (have == 3) {
        out[n++] = (uint8_t)(acc >> 10);
        out[n++] = (uint8_t)(acc >> 2);
    }
    /* Padding: only '=' may follow, and only as many as complete the quantum. */
    if (i < text_len) {
        size_t pad = text_len - i;
        if (have == 0 || pad != (size_t)(4 - have))
            return -1;
        for (; i < text_len; i++)
            if (text[i] != '=')
                return -1;
    }
    *out_len = n;
    return 0;
}
