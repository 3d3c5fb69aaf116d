/*
 * fuzz_check.h - CHECK(cond, fmt, ...) for the fuzz targets' own properties: when cond is
 * false it prints where and what differs, then aborts, so that libFuzzer keeps the input as
 * a crash artifact. (ASan and UBSan report the rest themselves.)
 */
#ifndef EVS_FUZZ_CHECK_H
#define EVS_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);         \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fputc('\n', stderr);                                                             \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

#endif /* EVS_FUZZ_CHECK_H */
