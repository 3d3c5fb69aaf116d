/*
 * evstore_limits.h - every limit evstore enforces, in one place.
 *
 * These are compile-time constants on purpose: the projector applies them when it judges
 * a record, and the concurrency rule must not depend on configuration that could differ
 * between two projectors (docs/ARCHITECTURE.md, "The rule"). Changing one is a format
 * change.
 */
#ifndef EVSTORE_LIMITS_H
#define EVSTORE_LIMITS_H

/* Stream names: 1..200 bytes of [A-Za-z0-9_.:@-]; must not start with '$' (reserved). The
 * category of a stream is the part before its first '-'. */
#define EVS_STREAM_NAME_MAX 200
/* Event types: 1..200 bytes of [A-Za-z0-9_.:@/-]. */
#define EVS_EVENT_TYPE_MAX 200
/* Content types: 1..100 printable ASCII bytes. */
#define EVS_CONTENT_TYPE_MAX 100
/* Correlation and causation ids: up to 100 printable ASCII bytes. */
#define EVS_CORRELATION_ID_MAX 100
/* One event's data: at most 256 KiB. */
#define EVS_EVENT_DATA_MAX (256 * 1024)
/* One event's metadata: at most 16 KiB. */
#define EVS_EVENT_METADATA_MAX (16 * 1024)
/* Events in one append: 1..1000. */
#define EVS_APPEND_EVENTS_MAX 1000
/* One encoded append record: at most 900 KiB, below the topic's max.message.bytes
 * (EVS_TOPIC_MAX_MESSAGE_BYTES), which the projector sets and checks. */
#define EVS_APPEND_BYTES_MAX (900 * 1024)
#define EVS_TOPIC_MAX_MESSAGE_BYTES (1024 * 1024)
/* Events returned by one read call. */
#define EVS_READ_LIMIT_MAX 10000
/* A UUID in text form (8-4-4-4-12 hex digits), without the terminating NUL. */
#define EVS_UUID_TEXT_LEN 36

/* ---- Client-side limits of libevstore (not part of the format; changing them changes no
 * verdict). */
/* Idle HTTP connections (curl handles) one client keeps alive to the projector. More
 * threads than this may run requests at once; the extra handles are closed after use. */
#define EVS_CLIENT_HTTP_POOL_MAX 64
/* The largest answer the client accepts from the projector (a read of EVS_READ_LIMIT_MAX
 * large events can approach it; read fewer events per call if it is hit). */
#define EVS_CLIENT_RESPONSE_BYTES_MAX (1024 * 1024 * 1024)

#endif /* EVSTORE_LIMITS_H */
