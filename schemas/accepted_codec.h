/*
 * accepted_codec.h - the accepted-events feed's Avro envelope
 * (schemas/evstore.AcceptedEvent.avsc), for consumers that want one schema rather than the
 * raw data bytes and headers (projector/feed/feed.h).
 *
 * Wire format: Avro single-object encoding (object_codec.h). The decoder checks the body
 * against the schema first; strings come back NUL-terminated, bytes with their length, all
 * pointing into one allocation of the decoded record.
 *
 * Thread safety: every function may be called from any number of threads at once.
 */
#ifndef EVS_ACCEPTED_CODEC_H
#define EVS_ACCEPTED_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "record_codec.h" /* evs_buf */

#define EVS_ACCEPTED_SCHEMA_FILE "evstore.AcceptedEvent.avsc"

typedef struct evs_accepted_event {
    const char *stream;
    uint64_t version;
    uint64_t position;
    int32_t partition;
    const char *type;
    const char *event_id; /* UUID text */
    const char *content_type;
    const void *data;
    size_t data_len;
    const void *metadata;
    size_t metadata_len;
    const char *correlation_id; /* NULL when absent */
    const char *causation_id;   /* NULL when absent */
    int64_t created_us;
} evs_accepted_event;

/* Encodes e into out (replacing its contents). Returns 0 or -1. */
int evs_accepted_encode(const evs_accepted_event *e, evs_buf *out);

/* Decodes a record into *out, its strings and bytes in *storage (malloc'd; free() it).
 * Returns 0, or -1 with the reason in err. */
int evs_accepted_decode(const void *record, size_t len, evs_accepted_event *out, void **storage,
                        char *err, size_t err_len);

/* The fingerprint of evstore.AcceptedEvent (the feed's evstore.schema header). */
uint64_t evs_accepted_fingerprint(void);

#endif /* EVS_ACCEPTED_CODEC_H */
