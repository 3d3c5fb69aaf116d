/*
 * text_file.h - reads a small settings file whole (the Kafka settings file, the token
 * file, the projector's TLS certificate and key).
 */
#ifndef EVS_TEXT_FILE_H
#define EVS_TEXT_FILE_H

#include <stddef.h>

/* Reads the file at path, at most max bytes, into *out (malloc'd, NUL-terminated; the
 * caller frees it) and *len. what names the file in messages ("token file"). Returns 0, or
 * -1 with err naming the file and the problem (cannot open, cannot read, larger than max,
 * out of memory). */
int evs_text_file_read(const char *path, const char *what, size_t max, char **out, size_t *len,
                       char *err, size_t err_len);

/* The lines of a settings file, one at a time: each trimmed of blanks (space, tab, CR), with
 * empty lines and '#' comments skipped. Zero-initialise, then set text and len. */
typedef struct evs_text_lines {
    const char *text;
    size_t len;
    size_t pos;     /* private */
    unsigned line;  /* the number of the line last returned, from 1 */
} evs_text_lines;

/* Sets [*s, *e) to the next line with content and returns 1; returns 0 at the end. */
int evs_text_next_line(evs_text_lines *lines, const char **s, const char **e);

/* A blank inside a line (space, tab, CR). */
int evs_text_blank(char c);

#endif /* EVS_TEXT_FILE_H */
