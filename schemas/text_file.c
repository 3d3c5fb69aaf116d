/*
 * text_file.c - evs_text_file_read (text_file.h).
 */
#include "text_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int evs_text_file_read(const char *path, const char *what, size_t max, char **out, size_t *len,
                       char *err, size_t err_len)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "cannot open the %s %s: %s", what, path, strerror(errno));
        return -1;
    }
    char *text = malloc(max + 2);
    size_t n = text ? fread(text, 1, max + 1, f) : 0;
    int failed = ferror(f);
    fclose(f);
    if (!text || failed || n > max) {
        snprintf(err, err_len, "%s %s: %s", what, path,
                 !text ? "out of memory" : failed ? "cannot be read" : "too large");
        free(text);
        return -1;
    }
    text[n] = 0;
    *out = text;
    *len = n;
    return 0;
}
