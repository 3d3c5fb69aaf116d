/*
 * byte_order.h - big-endian integers in keys and values of the projector's store.
 *
 * Keys use big-endian so that byte order is numeric order (store.h); values use it too, so
 * one set of helpers serves every module that lays out bytes.
 */
#ifndef EVS_BYTE_ORDER_H
#define EVS_BYTE_ORDER_H

#include <stdint.h>

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static inline uint32_t get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t get_be64(const uint8_t *p)
{
    return ((uint64_t)get_be32(p) << 32) | get_be32(p + 4);
}

#endif /* EVS_BYTE_ORDER_H */
