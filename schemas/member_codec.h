/*
 * member_codec.h - the members topic's records (schemas/evstore.Member.avsc): how each
 * projector announces itself to the others and to clients (GET /cluster).
 *
 * Wire format: Avro single-object encoding, like the append records (record_codec.h):
 * 0xC3 0x01, the CRC-64-AVRO fingerprint of evstore.Member's Parsing Canonical Form
 * (little-endian), then the Avro binary body. The decoder checks the body against the
 * schema before avro-c reads it (schema_graph.h), and then the values themselves: ids and
 * URLs within their limits, served partitions ascending and inside the topic, one applied
 * offset per served partition. Anything else is refused with a message; nothing is
 * half-filled.
 *
 * Thread safety: every function may be called from any number of threads at once.
 */
#ifndef EVS_MEMBER_CODEC_H
#define EVS_MEMBER_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "record_codec.h" /* evs_buf */

#define EVS_MEMBER_SCHEMA_FILE "evstore.Member.avsc"
/* A member id: 1..100 bytes of [A-Za-z0-9_.:@-]. */
#define EVS_MEMBER_ID_MAX 100
/* An advertised URL: 1..300 printable ASCII bytes. */
#define EVS_MEMBER_URL_MAX 300
/* Partitions one member may list. */
#define EVS_MEMBER_PARTITIONS_MAX 100000

typedef enum evs_member_state {
    EVS_MEMBER_RUNNING = 0,
    EVS_MEMBER_FAILED = 1,
    EVS_MEMBER_STOPPED = 2,
} evs_member_state;

typedef struct evs_member {
    char id[EVS_MEMBER_ID_MAX + 1];
    char url[EVS_MEMBER_URL_MAX + 1];
    char topic[256];
    int32_t partition_count;
    size_t served_count;
    int32_t *served;  /* ascending; malloc'd by the decoder, the caller's for the encoder */
    int64_t *applied; /* per served partition, the same order */
    int32_t lease_ms;
    evs_member_state state;
    int64_t started_us;
    int64_t heartbeat_us;
    size_t coordinated_count;
    int32_t *coordinated; /* state partitions whose groups it coordinates, ascending; owned
                             like served */
} evs_member;

/* Encodes m into out (replacing its contents). Returns 0, or -1 when m breaks a rule of
 * the format (the decoder's checks) or memory ran out. */
int evs_member_encode(const evs_member *m, evs_buf *out);

/* Decodes one record value into *out (its arrays malloc'd; free with evs_member_clear).
 * Returns 0, or -1 with the reason in err. */
int evs_member_decode(const void *value, size_t len, evs_member *out, char *err, size_t err_len);

void evs_member_clear(evs_member *m);

/* Whether name is a valid member id. */
int evs_member_id_valid(const char *id, size_t len);

/* The fingerprint of evstore.Member. */
uint64_t evs_member_fingerprint(void);

#endif /* EVS_MEMBER_CODEC_H */
