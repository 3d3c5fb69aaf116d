/*
 * position_vector.c - position vectors (evstore.h, "Across partitions"): one position per
 * partition of the events topic, and their text form "0:13,1:41,2:8".
 *
 * Invariants of an evs_position_vector the library hands out or accepts:
 *  1. count is 0 exactly when positions is NULL (the empty vector); otherwise positions
 *     holds count entries, one malloc'd block, and 1 <= count <= EVS_CLIENT_PARTITIONS_MAX.
 *  2. An entry is 0 ("not known") or a position, at most INT64_MAX: what a projector's
 *     query parameter `from` accepts.
 * The text form names every partition 0..count-1 in order, so parsing what was formatted
 * gives the same vector back; parsing is lenient only about the order of the pairs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "evstore.h"
#include "position_vector.h"

void evs_position_vector_free(evs_position_vector *vector)
{
    if (!vector)
        return;
    free(vector->positions);
    vector->positions = NULL;
    vector->count = 0;
}

int evs__position_vector_resize(evs_position_vector *vector, int32_t count)
{
    if (count <= vector->count)
        return 0;
    if (count > EVS_CLIENT_PARTITIONS_MAX)
        return evs__set_error(EVS_EINVAL, "a position vector of %" PRId32 " partitions is more "
                              "than the %d the client handles", count, EVS_CLIENT_PARTITIONS_MAX);
    uint64_t *grown = realloc(vector->positions, (size_t)count * sizeof *grown);
    if (!grown)
        return evs__set_error(EVS_ENOMEM, "out of memory for a position vector");
    memset(grown + vector->count, 0, (size_t)(count - vector->count) * sizeof *grown);
    vector->positions = grown;
    vector->count = count;
    return 0;
}

uint64_t evs__position_vector_get(const evs_position_vector *vector, int32_t partition)
{
    if (!vector || partition < 0 || partition >= vector->count)
        return 0;
    return vector->positions[partition];
}

/* Parses decimal digits at *p up to max into *out and moves *p past them; 0 or -1. */
static int digits_parse(const char **p, uint64_t max, uint64_t *out)
{
    char *end;
    if (**p < '0' || **p > '9') /* strtoull would take blanks and signs */
        return -1;
    errno = 0;
    unsigned long long value = strtoull(*p, &end, 10);
    if (errno != 0 || value > max)
        return -1;
    *p = end;
    *out = value;
    return 0;
}

int evs__position_vector_check(const evs_position_vector *vector, int32_t partitions,
                               const char *what)
{
    if (!vector || vector->count <= partitions)
        return 0;
    return evs__set_error(EVS_EINVAL,
                          "%s: the position vector names partition %" PRId32 ", but the topic "
                          "has %" PRId32 " partition%s",
                          what, vector->count - 1, partitions, partitions == 1 ? "" : "s");
}

int evs_position_vector_parse(const char *text, evs_position_vector *out)
{
    int rc;
    evs_position_vector v = {NULL, 0};

    if (!out)
        return evs__set_error(EVS_EINVAL, "evs_position_vector_parse: out is NULL");
    out->positions = NULL;
    out->count = 0;
    if (!text || !*text)
        return evs__set_error(EVS_EINVAL, "a position vector needs at least one PARTITION:"
                              "POSITION pair, e.g. 0:13,1:41,2:8");
    /* Two passes: the first finds the highest partition, so that one allocation holds all
     * and a repeated partition is found in the second. */
    int32_t count = 0;
    for (const char *p = text;;) {
        uint64_t partition, position;
        const char *pair = p;
        if (digits_parse(&p, EVS_CLIENT_PARTITIONS_MAX - 1, &partition) != 0 || *p++ != ':' ||
            digits_parse(&p, INT64_MAX, &position) != 0 || (*p != ',' && *p != '\0')) {
            size_t len = strcspn(pair, ",");
            return evs__set_error(EVS_EINVAL,
                                  "position vector \"%.200s\": \"%.*s\" is not PARTITION:POSITION "
                                  "(a partition below %d and a position up to %lld, no blanks)",
                                  text, (int)(len < 100 ? len : 100), pair,
                                  EVS_CLIENT_PARTITIONS_MAX, (long long)INT64_MAX);
        }
        if ((int32_t)partition + 1 > count)
            count = (int32_t)partition + 1;
        if (*p == '\0')
            break;
        p++;
    }
    if ((rc = evs__position_vector_resize(&v, count)) != 0)
        return rc;
    /* Repeats are found with `seen`, not by a non-zero entry: a position may be 0. */
    unsigned char *seen = calloc((size_t)count, 1);
    if (!seen) {
        evs_position_vector_free(&v);
        return evs__set_error(EVS_ENOMEM, "out of memory for a position vector");
    }
    for (const char *p = text;;) {
        uint64_t partition = 0, position = 0;
        digits_parse(&p, EVS_CLIENT_PARTITIONS_MAX - 1, &partition); /* checked above */
        p++;
        digits_parse(&p, INT64_MAX, &position);
        if (seen[partition]) {
            rc = evs__set_error(EVS_EINVAL,
                                "position vector \"%.200s\" names partition %" PRIu64 " twice",
                                text, partition);
            free(seen);
            evs_position_vector_free(&v);
            return rc;
        }
        seen[partition] = 1;
        v.positions[partition] = position;
        if (*p == '\0')
            break;
        p++;
    }
    free(seen);
    *out = v;
    return 0;
}

int evs_position_vector_format(const evs_position_vector *vector, char **text_out)
{
    if (!text_out)
        return evs__set_error(EVS_EINVAL, "evs_position_vector_format: text_out is NULL");
    *text_out = NULL;
    int32_t count = vector && vector->positions ? vector->count : 0;
    /* "P:POS," is at most 10 + 1 + 20 + 1 bytes. */
    size_t cap = (size_t)count * 32 + 1;
    char *text = malloc(cap);
    if (!text)
        return evs__set_error(EVS_ENOMEM, "out of memory formatting a position vector");
    size_t len = 0;
    text[0] = '\0';
    for (int32_t p = 0; p < count; p++)
        len += (size_t)snprintf(text + len, cap - len, "%s%" PRId32 ":%" PRIu64, p ? "," : "", p,
                                vector->positions[p]);
    *text_out = text;
    return 0;
}
