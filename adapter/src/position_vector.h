/*
 * position_vector.h - what the library's modules use of position vectors besides the public
 * calls (evstore.h, "Across partitions"; the invariants are in position_vector.c).
 */
#ifndef EVS_POSITION_VECTOR_H
#define EVS_POSITION_VECTOR_H

#include <stdint.h>

#include "evstore.h"

/* Grows vector to count entries (at most EVS_CLIENT_PARTITIONS_MAX), the new ones 0; one
 * that is as long already is left alone. Returns 0, EVS_EINVAL or EVS_ENOMEM (then vector
 * is unchanged), with the thread's last error set. */
int evs__position_vector_resize(evs_position_vector *vector, int32_t count);

/* 0 when vector (NULL allowed) names no partition beyond a topic of `partitions`, else
 * EVS_EINVAL with a message that starts with what. */
int evs__position_vector_check(const evs_position_vector *vector, int32_t partitions,
                               const char *what);

/* positions[partition], or 0 (not known) when vector is NULL or does not reach it. */
uint64_t evs__position_vector_get(const evs_position_vector *vector, int32_t partition);

#endif /* EVS_POSITION_VECTOR_H */
