/*
 * partitioner.c - Kafka's default partitioner (partitioner.h).
 */
#include "partitioner.h"

#define MURMUR2_SEED 0x9747b28cu
#define MURMUR2_M 0x5bd1e995u

uint32_t evs_murmur2(const void *key, size_t len)
{
    const uint8_t *b = key;
    /* Kafka hashes an int length: keys are far below 2 GiB (EVS_STREAM_NAME_MAX). */
    uint32_t h = MURMUR2_SEED ^ (uint32_t)len;
    size_t whole = len & ~(size_t)3;
    for (size_t i = 0; i < whole; i += 4) {
        uint32_t k = (uint32_t)b[i] | (uint32_t)b[i + 1] << 8 | (uint32_t)b[i + 2] << 16 |
                     (uint32_t)b[i + 3] << 24;
        k *= MURMUR2_M;
        k ^= k >> 24;
        k *= MURMUR2_M;
        h *= MURMUR2_M;
        h ^= k;
    }
    switch (len & 3) {
    case 3: h ^= (uint32_t)b[whole + 2] << 16; /* fall through */
    case 2: h ^= (uint32_t)b[whole + 1] << 8;  /* fall through */
    case 1:
        h ^= b[whole];
        h *= MURMUR2_M;
    }
    h ^= h >> 13;
    h *= MURMUR2_M;
    h ^= h >> 15;
    return h;
}

int32_t evs_stream_partition(const char *name, size_t len, int32_t partitions)
{
    if (partitions <= 1)
        return 0;
    return (int32_t)((evs_murmur2(name, len) & 0x7fffffffu) % (uint32_t)partitions);
}
