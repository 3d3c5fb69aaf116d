/*
 * text_file.c - evs_text_file_read (text_file.h).
 */
#include "text_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int evs_text_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

int evs_text_next_line(evs_text_lines *l, const char **s, const char **e)
{
    while (l->pos < l->len) {
        const char *nl = memchr(l->text + l->pos, '\n', l->len - l->pos);
        size_t end = nl ? (size_t)(nl - l->text) : l->len;
        const char *a = l->text + l->pos, *b = l->text + end;
        l->pos = end + 1;
        l->line++;
        while (a < b && evs_text_blank(*a))
            a++;
        while (b > a && evs_text_blank(b[-1]))
            b--;
        if (a == b || *a == '#')
            continue;
        *s = a;
        *e = b;
        return 1;
    }
    return 0;
}

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
