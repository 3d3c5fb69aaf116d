/*
 * evstore.h - the public C API of libevstore, the evstore client library.
 *
 * A client appends events to streams by producing one Avro record per append to the
 * events topic in Kafka, then waits for the projector's verdict on that record (the log
 * decides: see docs/ARCHITECTURE.md). Reads go to the projector's HTTP query API.
 *
 * Conventions:
 *  - Every function that can fail returns an int: 0 on success, a negative EVS_E* code on
 *    failure. evs_strerror() turns a code into a sentence; evs_last_error() gives the
 *    detailed message of the calling thread's last failure (naming the cause).
 *  - Handles are opaque. An evs_client is safe to use from many threads at once.
 *  - Memory that a call returns through an out-pointer belongs to the caller and is freed
 *    with the matching evs_*_free function, unless the comment says otherwise.
 *  - Versions are 1-based: the first event of a stream has version 1; a stream that does not
 *    exist has version 0. Positions number the accepted events of one partition of the
 *    events topic without gaps, from 1.
 */
#ifndef EVSTORE_H
#define EVSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "evstore_limits.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EVS_VERSION_MAJOR 0
#define EVS_VERSION_MINOR 1
#define EVS_VERSION_PATCH 0
#define EVS_VERSION_STRING "0.1.0"

/* The library's version at run time, e.g. "0.1.0". Static storage. */
const char *evs_version(void);

/* ---- Error codes ------------------------------------------------------------------- */
enum evs_error {
    EVS_OK = 0,
    EVS_EINVAL = -1,             /* invalid argument or input; nothing was written */
    EVS_EWRONG_VERSION = -2,     /* the expected version did not hold; nothing was stored */
    EVS_EIDEMPOTENCY = -3,       /* some, not all, of the event ids were stored before */
    EVS_EUNKNOWN_OUTCOME = -4,   /* the append may or may not have been stored: look it up
                                    by its append id (evs_append_lookup) */
    EVS_EUNAVAILABLE = -5,       /* broker or projector unreachable; nothing was written */
    EVS_ENOT_FOUND = -6,         /* no such stream / append id */
    EVS_ETIMEOUT = -7,           /* a read or lookup did not answer in time */
    EVS_ENOMEM = -8,             /* out of memory */
    EVS_EPROTOCOL = -9,          /* the projector answered something unexpected */
    EVS_EREJECTED = -10,         /* the projector rejected the record as invalid */
    EVS_EINTERNAL = -11,         /* any other failure; see evs_last_error() */
};

/* A sentence describing an error code. Static storage. */
const char *evs_strerror(int code);

/* The detailed message of the calling thread's last failed evs_* call, or "" if none.
 * Thread-local storage, valid until the thread's next evs_* call. */
const char *evs_last_error(void);

/* ---- Client ------------------------------------------------------------------------ */
typedef struct evs_client evs_client;

typedef struct evs_client_options {
    const char *brokers;       /* Kafka bootstrap servers; default EVS_DEFAULT_BROKERS */
    const char *topic;         /* events topic; default EVS_DEFAULT_TOPIC */
    const char *projector_url; /* projector HTTP base URL; default EVS_DEFAULT_PROJECTOR */
    int produce_timeout_ms;    /* how long Kafka may take to acknowledge; default 10000 */
    int verdict_timeout_ms;    /* how long to wait for the verdict; default 10000 */
    int request_timeout_ms;    /* HTTP read timeout; default 10000 */
    int linger_ms;             /* producer batching delay; default 1 */
} evs_client_options;

#define EVS_DEFAULT_BROKERS "127.0.0.1:18092"
#define EVS_DEFAULT_TOPIC "evstore.events"
#define EVS_DEFAULT_PROJECTOR "http://127.0.0.1:18080"

/* Fills *options with the defaults (all pointers NULL, meaning "default"). */
void evs_client_options_init(evs_client_options *options);

/* Opens a client. options may be NULL for all defaults. The strings in options are
 * copied. On success *out is a client to close with evs_client_close().
 * Opening checks the settings but connects nowhere: the client's one Kafka producer is
 * created by the first evs_append() (a client that only reads never needs a broker), and
 * HTTP connections to the projector are made on first use and kept alive.
 * The producer is idempotent with acks=all; records are keyed by stream name and placed
 * with the murmur2 partitioner (librdkafka's "murmur2_random", the Java client's default),
 * which is pinned: every writer, in any language, must place a stream on the same
 * partition. librdkafka's own log lines are dropped unless the environment variable
 * EVSTORE_KAFKA_LOG is set (to anything but "" or "0"); broker errors still appear in
 * evs_last_error() messages. */
int evs_client_open(const evs_client_options *options, evs_client **out);

/* Waits for in-flight produces to finish, then frees the client. NULL is allowed. */
void evs_client_close(evs_client *client);

/* ---- Appending --------------------------------------------------------------------- */
typedef enum evs_expected_kind {
    EVS_EXPECT_ANY = 0,           /* append whatever the stream's version */
    EVS_EXPECT_NO_STREAM = 1,     /* the stream must not exist yet */
    EVS_EXPECT_STREAM_EXISTS = 2, /* the stream must have at least one event */
    EVS_EXPECT_EXACT = 3,         /* the stream must be at exactly `version` (0 = no stream) */
} evs_expected_kind;

typedef struct evs_expected {
    evs_expected_kind kind;
    uint64_t version; /* used with EVS_EXPECT_EXACT only */
} evs_expected;

/* One event to append. The library copies nothing until evs_append() runs; the caller keeps
 * ownership of every buffer. */
typedef struct evs_event_data {
    const char *event_id;       /* UUID text; NULL to let the library generate one */
    const char *type;           /* event type, see EVS_EVENT_TYPE_MAX */
    const void *data;           /* payload bytes, stored as given */
    size_t data_len;
    const char *content_type;   /* NULL means "application/json" */
    const void *metadata;       /* optional JSON metadata bytes (may be NULL) */
    size_t metadata_len;
    const char *correlation_id; /* optional, may be NULL */
    const char *causation_id;   /* optional, may be NULL */
} evs_event_data;

/* The result of an append. */
typedef struct evs_append_result {
    char append_id[37];         /* the append id, also filled on EVS_EUNKNOWN_OUTCOME */
    uint64_t first_version;     /* versions of the appended (or originally stored) events */
    uint64_t last_version;
    uint64_t first_position;    /* global positions within `partition` */
    uint64_t last_position;
    int32_t partition;          /* the events-topic partition of the stream */
    int64_t offset;             /* the Kafka offset of the append record, or -1 */
    int duplicate;              /* 1 if every event was already stored (idempotent retry) */
    uint64_t current_version;   /* on EVS_EWRONG_VERSION: the stream's version at judgement */
    char stream[EVS_STREAM_NAME_MAX + 1]; /* the stream appended to (NUL-terminated; from the
                                             verdict for evs_append_lookup, "" if unknown) */
} evs_append_result;

/* Appends n events (1..EVS_APPEND_EVENTS_MAX) to stream atomically. append_id may be NULL
 * (one is generated) or a UUID chosen by the caller. Blocks until the verdict is known.
 * Returns 0 (accepted or duplicate: see result->duplicate), EVS_EWRONG_VERSION,
 * EVS_EIDEMPOTENCY, EVS_EINVAL, EVS_EUNAVAILABLE (nothing written) or EVS_EUNKNOWN_OUTCOME
 * (result->append_id names the append to look up). result is always filled as far as
 * known. */
int evs_append(evs_client *client, const char *stream, evs_expected expected,
               const evs_event_data *events, size_t n, const char *append_id,
               evs_append_result *result);

/* Looks up the verdict of an earlier append by its id, waiting up to timeout_ms for the
 * projector to catch up with the log. Returns what evs_append() would have returned, or
 * EVS_ENOT_FOUND if no record with that append id has been applied. */
int evs_append_lookup(evs_client *client, const char *append_id, int timeout_ms,
                      evs_append_result *result);

/* ---- Reading ----------------------------------------------------------------------- */
typedef struct evs_event {
    char event_id[37];
    char *stream;
    char *type;
    uint64_t version;
    uint64_t position;
    int32_t partition;
    int64_t created_us;     /* writer's creation time, microseconds since the epoch */
    char *content_type;
    void *data;             /* payload bytes exactly as appended */
    size_t data_len;
    void *metadata;         /* metadata bytes, may be NULL */
    size_t metadata_len;
    char *correlation_id;   /* NULL if absent */
    char *causation_id;     /* NULL if absent */
} evs_event;

typedef struct evs_event_list {
    evs_event *events;
    size_t count;
    uint64_t next;          /* the version or position to read from next */
    int end_of_stream;      /* 1 if there was nothing after the last event returned */
} evs_event_list;

typedef enum evs_direction { EVS_FORWARDS = 0, EVS_BACKWARDS = 1 } evs_direction;

/* Reads up to limit (1..EVS_READ_LIMIT_MAX) events of stream from version from (inclusive;
 * 0 means the first event forwards and the last event backwards). Returns EVS_ENOT_FOUND if
 * the stream does not exist. On success *out is freed with evs_event_list_free(). */
int evs_stream_read(evs_client *client, const char *stream, uint64_t from, size_t limit,
                    evs_direction direction, evs_event_list **out);

/* Reads up to limit accepted events of one partition's global order ($all) from position
 * from (inclusive; 0 means the first). */
int evs_all_read(evs_client *client, int32_t partition, uint64_t from, size_t limit,
                 evs_event_list **out);

void evs_event_list_free(evs_event_list *list);

/* ---- Operations -------------------------------------------------------------------- */

/* The projector's status as a JSON object (topic, brokers, per-partition applied offsets,
 * high watermarks and lag, skipped records). *json_out is a NUL-terminated malloc'd string
 * owned by the caller (free()). */
int evs_client_status(evs_client *client, char **json_out);

#ifdef __cplusplus
}
#endif
#endif /* EVSTORE_H */
