/*
 * partitioner.h - which partition of the events topic holds a stream.
 *
 * libevstore produces every append record with the stream name as its key and
 * librdkafka's "murmur2_random" partitioner, which for a non-empty key is Kafka's default
 * (the Java client's): murmur2 of the key bytes with seed 0x9747b28c, the sign bit
 * cleared, modulo the partition count. The projector and the client compute the same
 * function here, so that a projector can tell the streams of the partitions it serves
 * from the others, and a client can send a stream's reads to a projector that serves it.
 * It is part of the format: changing it moves streams between partitions.
 */
#ifndef EVS_PARTITIONER_H
#define EVS_PARTITIONER_H

#include <stddef.h>
#include <stdint.h>

/* Kafka's murmur2 of len bytes (the 32-bit value, before the sign bit is cleared). */
uint32_t evs_murmur2(const void *key, size_t len);

/* The partition of a stream named by name[0..len) in a topic of `partitions` (>= 1). */
int32_t evs_stream_partition(const char *name, size_t len, int32_t partitions);

#endif /* EVS_PARTITIONER_H */
