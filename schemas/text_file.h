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

#endif /* EVS_TEXT_FILE_H */
