/*
 * test_files.h - reading the files a unit test checks against (schemas, test data).
 * Included after <cmocka.h> by the tests that need it.
 */
#ifndef EVS_TEST_FILES_H
#define EVS_TEST_FILES_H

#include <stdio.h>
#include <stdlib.h>

/* The whole file at path as a NUL-terminated string (free it); fails the test if it cannot
 * be read. */
static inline char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

#endif /* EVS_TEST_FILES_H */
