/*
 * evstore_limits.h - every limit evstore enforces, and the expected-version kinds an append
 * record carries: the constants of the format, in one place, shared by libevstore,
 * schemas/ and the projector without the client API.
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
/* One snapshot's data: at most 4 MiB (docs/HTTP-API.md, "Snapshots"). */
#define EVS_SNAPSHOT_DATA_MAX (4 * 1024 * 1024)
/* A UUID in text form (8-4-4-4-12 hex digits), without the terminating NUL. */
#define EVS_UUID_TEXT_LEN 36

/* ---- What an append expects of its stream's version: the record's ExpectedKind. The
 * values are the format's; the rule judges them (docs/ARCHITECTURE.md, "The rule"). */
typedef enum evs_expected_kind {
    EVS_EXPECT_ANY = 0,           /* append whatever the stream's version */
    EVS_EXPECT_NO_STREAM = 1,     /* the stream must not exist yet */
    EVS_EXPECT_STREAM_EXISTS = 2, /* the stream must have at least one event */
    EVS_EXPECT_EXACT = 3,         /* the stream must be at exactly `version` (0 = no stream) */
} evs_expected_kind;

/* ---- Client-side limits of libevstore (not part of the format; changing them changes no
 * verdict). */
/* Idle HTTP connections (curl handles) one client keeps alive to the projector. More
 * threads than this may run requests at once; the extra handles are closed after use. */
#define EVS_CLIENT_HTTP_POOL_MAX 64
/* The largest answer the client accepts from the projector (a read of EVS_READ_LIMIT_MAX
 * large events can approach it; read fewer events per call if it is hit). */
#define EVS_CLIENT_RESPONSE_BYTES_MAX (1024 * 1024 * 1024)
/* Received events one subscription holds for its caller, by count and by bytes as
 * received (an event's JSON text, or a whole binary page); beyond either it stops
 * reading from its connection (evstore.h, "Subscriptions"). It may exceed them by what one
 * network read completes: one Server-Sent Event (at most EVS_CLIENT_SSE_EVENT_BYTES_MAX)
 * or one binary frame (at most 2 MiB), plus 16 KiB. */
#define EVS_CLIENT_SUBSCRIPTION_QUEUE_EVENTS_MAX 1000
#define EVS_CLIENT_SUBSCRIPTION_QUEUE_BYTES_MAX (4 * 1024 * 1024)
/* The largest Server-Sent Event a subscription accepts: an event object with the largest
 * data and metadata in base64 fits with room to spare. */
#define EVS_CLIENT_SSE_EVENT_BYTES_MAX (1024 * 1024)
/* A following subscription that receives nothing, not even the projector's heartbeat
 * (every 10 s), for this long takes its connection for dead and reconnects. */
#define EVS_CLIENT_SUBSCRIPTION_IDLE_MS 35000
/* Reconnection attempts in a row before a subscription gives up (EVS_EUNAVAILABLE); the
 * pause before attempt n is 100 ms * 2^(n-1), at most 5 s (about 16 s in all). */
#define EVS_CLIENT_SUBSCRIPTION_RETRIES_MAX 8
/* Projectors one client knows: the seed URLs of evs_client_options.projector_url (more is
 * EVS_EINVAL) plus the members GET /cluster lists (members beyond the bound are not used). */
#define EVS_CLIENT_PROJECTORS_MAX 32
/* The longest projector URL, a seed's or one a /cluster answer lists (longer ones are
 * refused at open, or not used). */
#define EVS_CLIENT_PROJECTOR_URL_MAX 512
/* The largest partition count the client routes by; a /cluster answer naming more
 * partitions is not used (requests then go to any projector, as with one). */
#define EVS_CLIENT_PARTITIONS_MAX 65536
/* The client asks GET /cluster again before a request when its view of the cluster is
 * older than this, and when a request fails over and the view is older than
 * EVS_CLIENT_CLUSTER_FAILOVER_REFRESH_MS, so that many failing requests do not hammer the
 * projectors. */
#define EVS_CLIENT_CLUSTER_REFRESH_MS 1000
#define EVS_CLIENT_CLUSTER_FAILOVER_REFRESH_MS 100

#endif /* EVSTORE_LIMITS_H */
