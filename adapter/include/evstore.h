/*
 * evstore.h - the public C API of libevstore, the evstore client library.
 *
 * A client appends events to streams by producing one Avro record per append to the
 * events topic in Kafka, then waits for the projector's verdict on that record (the log
 * decides: see docs/ARCHITECTURE.md). Reads go to the projectors' HTTP query API: any
 * number of projectors may serve one topic as hot replicas, each serving some or all of its
 * partitions, and the client sends each request to one that serves what it is about
 * (evs_client_open).
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
    EVS_ECAUGHT_UP = -12,        /* not a failure: a subscription has delivered its history
                                    (evs_subscription_next, once per subscription) */
    EVS_EEND = -13,              /* not a failure: a subscription without follow has
                                    delivered everything and ended */
    EVS_EAUTH = -14,             /* refused credentials: Kafka refused the login (SASL) or
                                    the TLS handshake, or a projector answered 401 (no or
                                    no valid token) or 403 (outside the token's scopes);
                                    nothing was written */
    EVS_ESTREAM_DELETED = -15,   /* the stream was hard-deleted (a tombstone): every later
                                    append, delete, truncate or limit to it is rejected;
                                    reads of a deleted stream (soft-deleted and not
                                    recreated, or hard-deleted) return it too */
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
    const char *projector_url; /* projector HTTP base URLs, comma-separated (seeds: see
                                  evs_client_open); default EVS_DEFAULT_PROJECTOR */
    int produce_timeout_ms;    /* how long Kafka may take to acknowledge; default 10000 */
    int verdict_timeout_ms;    /* how long to wait for the verdict; default 10000 */
    int request_timeout_ms;    /* HTTP request timeout, all projectors tried included;
                                  default 10000 */
    int linger_ms;             /* producer batching delay for appends that run beside
                                  others of this client; one that runs alone is sent at
                                  once. Default 1; 0: never wait */
    /* Added in 0.1 for security (docs/SECURITY.md). New fields only ever go at the end, and
     * evs_client_options_init sets them, so a caller that calls it keeps working. */
    const char *kafka_config_file; /* a file of librdkafka properties, key=value lines as
                                      kcat -F reads them (security.protocol, sasl.*, ssl.*,
                                      ...), read at open; NULL: none. bootstrap.servers is
                                      refused there (use brokers). Secret values never
                                      appear in a message. */
    const char *ca_file;       /* PEM CA bundle that https:// projectors are verified
                                  against; NULL: the system's default CAs */
    const char *token;         /* bearer token sent to every projector (Authorization:
                                  Bearer); NULL: none */
    /* Added for personal data (crypto-shredding, "Personal data" below). */
    const char *master_key_file; /* the master key's file (64 hex digits, mode 0600; make one
                                    with evs_master_key_create), read at open and wiped from
                                    memory at close; NULL: none, and events with a subject
                                    cannot be appended. A file that cannot be read, is open
                                    to group or others, or is not a key fails the open with
                                    EVS_EINVAL naming the file and the problem */
} evs_client_options;

#define EVS_DEFAULT_BROKERS "127.0.0.1:18092"
#define EVS_DEFAULT_TOPIC "evstore.events"
#define EVS_DEFAULT_PROJECTOR "http://127.0.0.1:18080"

/* Fills *options with the defaults (all pointers NULL, meaning "default"). A caller must
 * call it before setting fields, so that fields added later get their defaults. */
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
 * evs_last_error() messages.
 *
 * Projectors. projector_url is one URL or a comma-separated list of seed URLs, e.g.
 * "http://10.0.0.1:18080,http://10.0.0.2:18080" (blanks around each are ignored; at most
 * EVS_CLIENT_PROJECTORS_MAX). Each must start with http:// or https:// and name a host; an
 * empty element or any other URL fails with EVS_EINVAL naming it. The client learns the
 * cluster from GET /cluster of the first seed that answers (on first use, then at most once
 * a second, and when a request fails over): the topic's partition count and which member
 * serves which partitions. A seed that answers 404 there (an older projector) is taken to
 * serve every partition, so one URL works exactly as before. Then:
 *  - a request about one partition (a stream read, an append's verdict wait, a read or
 *    subscription of $all, a category or a type with its partition) goes to a live member
 *    serving that partition (a stream's partition is Kafka's murmur2 of its name,
 *    schemas/partitioner.h), preferring the one the last such request succeeded on;
 *  - a request about no partition (status, lookups by append id, checkpoints, snapshots,
 *    consumer groups) goes to the "home" projector: the first that answers, in the order
 *    of the seeds, kept until it fails;
 *  - a member the cluster lists as not live is never used; seeds not listed stay
 *    candidates, after the members known to serve the partition;
 *  - a projector that cannot be reached or does not answer in time, answers 503 (stopped,
 *    or behind the client's own writes: see "Read your writes") or 421 (does not serve the
 *    partition) hands the request to the next candidate, invisibly to the caller, within
 *    the call's own timeout. Any other answer (found, not found, refused, ...) is final.
 * Checkpoints, snapshots and consumer groups are saved in Kafka (the state topic) and
 * every projector has them, so any home answers for them; a consumer group's requests go
 * to the one projector that coordinates the group (Kafka's group protocol chooses it), and
 * wait for the next one while Kafka chooses it after a failure.
 *
 * Read your writes. The client remembers, per partition, the highest offset of its own
 * appends whose verdict it learned; a later read of that partition (stream reads, $all,
 * category and type reads, subscriptions from history) asks the projector to answer only
 * once it has written that offset (the query parameter token=P:O), so a read through any
 * replica sees the client's own accepted appends. */
int evs_client_open(const evs_client_options *options, evs_client **out);

/* Waits for in-flight produces to finish, then frees the client. NULL is allowed. */
void evs_client_close(evs_client *client);

/* ---- Appending --------------------------------------------------------------------- */
/* evs_expected_kind (EVS_EXPECT_*) is declared in evstore_limits.h with the format. */
typedef struct evs_expected {
    evs_expected_kind kind;
    uint64_t version; /* used with EVS_EXPECT_EXACT only */
} evs_expected;

/* One event to append. The library copies nothing until evs_append() runs; the caller keeps
 * ownership of every buffer.
 * The struct grew in 0.1 (subject and seal_metadata, at the end): a program built against
 * an older evstore.h must be rebuilt, since evs_append() takes an array of these. A caller
 * that zero-initialises its events ({0}, memset, calloc) gets the old behaviour. */
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
    /* Personal data ("Personal data" below). */
    const char *subject;        /* the data subject whose personal data the event is (1 to
                                   200 characters of A-Z a-z 0-9 _ . : @ -); NULL: nobody's.
                                   The data is sealed with the subject's data key before it
                                   is produced: no plaintext of it reaches Kafka. Needs a
                                   client opened with a master key (else EVS_EINVAL, nothing
                                   produced) */
    int seal_metadata;          /* with a subject: 1 seals the metadata too (else it stays
                                   plain, readable after the subject is forgotten); without
                                   a subject it must be 0 (EVS_EINVAL) */
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
 * known. The verdict is asked of a projector serving the record's partition; when that one
 * is lost, answers 503, or has not judged the record within the wait (504), the others
 * serving the partition are asked with what is left of verdict_timeout_ms, so
 * EVS_EUNKNOWN_OUTCOME means that no replica could give the verdict in time. Before the
 * client's first produce it asks the projectors for the cluster (GET /cluster): when they
 * refuse its token (401/403) it returns EVS_EAUTH and writes nothing. */
int evs_append(evs_client *client, const char *stream, evs_expected expected,
               const evs_event_data *events, size_t n, const char *append_id,
               evs_append_result *result);

/* Looks up the verdict of an earlier append by its id, waiting up to timeout_ms for the
 * projector to catch up with the log. It asks the home projector first; one that does not
 * serve every partition and has not judged the append (421), or has not caught up (504), or
 * is unavailable, hands over to the next. Returns what evs_append() would have returned, or
 * EVS_ENOT_FOUND if no record with that append id has been applied. */
int evs_append_lookup(evs_client *client, const char *append_id, int timeout_ms,
                      evs_append_result *result);

/* ---- Stream lifecycle --------------------------------------------------------------- */
/* A lifecycle command is produced and judged like an append (one record of the events
 * topic, no events; docs/ARCHITECTURE.md), so it has an append id, an expectation, and a
 * verdict; it is ordered with the stream's appends by the log. Each returns what
 * evs_append() returns: 0 (accepted; result->current_version is the stream's version after
 * it, first_version and last_version are 0, and result->duplicate is never set),
 * EVS_EWRONG_VERSION, EVS_EINVAL (nothing produced), EVS_EUNAVAILABLE (nothing written),
 * EVS_EUNKNOWN_OUTCOME (look result->append_id up with evs_append_lookup), EVS_EREJECTED,
 * or EVS_ESTREAM_DELETED when the stream is a tombstone. append_id may be NULL (one is
 * generated) or a UUID chosen by the caller. They are not counted in evs_client_metrics. */

/* Deletes stream. hard 0: a soft delete; reads answer EVS_ESTREAM_DELETED until an append
 * recreates the stream, whose versions continue after the deleted ones. hard 1: a tombstone;
 * every later append, delete, truncate or limit to the stream is rejected with
 * EVS_ESTREAM_DELETED, for good. */
int evs_stream_delete(evs_client *client, const char *stream, evs_expected expected, int hard,
                      const char *append_id, evs_append_result *result);

/* Removes the versions of stream below before (1..INT64_MAX): before becomes the first
 * readable version. Versions are not reused. */
int evs_stream_truncate(evs_client *client, const char *stream, evs_expected expected,
                        uint64_t before, const char *append_id, evs_append_result *result);

/* Sets both limits of stream: keep at most max_count events, none older than max_age_ms
 * (by the time of their append in the log); 0 removes that limit. Each at most INT64_MAX.
 * Events beyond a limit stop being readable, oldest first. */
int evs_stream_set_limits(evs_client *client, const char *stream, evs_expected expected,
                          uint64_t max_count, uint64_t max_age_ms, const char *append_id,
                          evs_append_result *result);

/* What the projector knows of a stream's lifecycle (GET /streams/{stream}/metadata). */
typedef struct evs_stream_metadata {
    char stream[EVS_STREAM_NAME_MAX + 1];
    int32_t partition;
    uint64_t current_version;   /* versions continue across a soft delete */
    uint64_t first_version;     /* the first version still readable (current+1 when none is) */
    int deleted;                /* 0 live, 1 soft-deleted, 2 hard-deleted (tombstone) */
    uint64_t max_count;         /* 0: no limit */
    uint64_t max_age_ms;        /* 0: no limit */
} evs_stream_metadata;

/* Fills *out with the metadata of stream, asked of a projector serving its partition (with
 * the read-your-writes token, as evs_stream_read). A deleted stream answers (deleted says
 * how). Returns 0, EVS_ENOT_FOUND when the stream never existed, or a read's errors. */
int evs_stream_metadata_get(evs_client *client, const char *stream, evs_stream_metadata *out);

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
    /* Added for personal data (the event is the library's allocation, so fields at the end
     * change no caller; evs_group_event, which embeds it, grew with it). */
    char *subject;          /* the data subject of personal data, NULL if none. The
                               projector opens its data (and sealed metadata) before it
                               answers, so data is the plaintext as appended */
    int erased;             /* 1: the subject was forgotten, so the event's sealed data (and
                               sealed metadata) can never be read again: data is empty
                               (data_len 0), and so is metadata if it was sealed */
    int sealed;             /* 1: the projector that answered could not open the event's
                               sealed data (it has no master key): data is empty, and so is
                               metadata if it was sealed; another projector may open it */
} evs_event;

typedef struct evs_event_list {
    evs_event *events;
    size_t count;
    uint64_t next;          /* the version or position to read from next */
    int end_of_stream;      /* 1 if there was nothing after the last event returned */
    /* Added for stream lifecycles (the list is the library's allocation, so a field at the
     * end changes no caller). */
    uint64_t first_version; /* a stream read: the first version still readable (a read
                               from below it starts there), when the projector says it (in
                               the JSON page, and in the binary page from EventPage v2);
                               else 0 (reads of $all, categories and types; an older
                               projector's binary page) */
} evs_event_list;

typedef enum evs_direction { EVS_FORWARDS = 0, EVS_BACKWARDS = 1 } evs_direction;

/* Reads up to limit (1..EVS_READ_LIMIT_MAX) events of stream from version from (inclusive;
 * 0 means the first event forwards and the last event backwards). Returns EVS_ENOT_FOUND if
 * the stream does not exist, EVS_ESTREAM_DELETED if it was deleted (soft-deleted and not
 * recreated since, or hard-deleted). Versions below list->first_version (truncated, or
 * beyond the stream's limits) are not read. On success *out is freed with
 * evs_event_list_free(). */
int evs_stream_read(evs_client *client, const char *stream, uint64_t from, size_t limit,
                    evs_direction direction, evs_event_list **out);

/* Reads up to limit accepted events of one partition's global order ($all) from position
 * from (inclusive; 0 means the first). */
int evs_all_read(evs_client *client, int32_t partition, uint64_t from, size_t limit,
                 evs_event_list **out);

void evs_event_list_free(evs_event_list *list);

/* ---- Categories and event types ----------------------------------------------------- */
/* The category of a stream is its name up to the first '-' ("Order-42" is in "Order"); a
 * name without '-' is its own category. Both indexes hold accepted events in the global
 * order of their partition, so these reads work like evs_all_read() restricted to one
 * category or one event type: from is a position (inclusive; 0 means the first), limit is
 * 1..EVS_READ_LIMIT_MAX, and list->next is the position to continue from. A category or
 * type without events gives an empty list, not EVS_ENOT_FOUND. On success *out is freed
 * with evs_event_list_free(). */
int evs_category_read(evs_client *client, const char *category, int32_t partition,
                      uint64_t from, size_t limit, evs_event_list **out);
int evs_type_read(evs_client *client, const char *type, int32_t partition, uint64_t from,
                  size_t limit, evs_event_list **out);

/* ---- Across partitions -------------------------------------------------------------- */
/* The events topic has one or more partitions; a stream lives in one of them (Kafka's
 * murmur2 of its name). What order holds:
 *  - within a stream, version order, always (a stream is in one partition);
 *  - within a partition, position order: $all, a category and a type are each one order
 *    per partition, the same on every replica;
 *  - across partitions, no order at all: two events of different partitions may be
 *    delivered in either order, whatever their creation times or positions (a position
 *    numbers the events of its own partition only). Do not compare positions of different
 *    partitions.
 * So a reader of $all, a category or a type over several partitions keeps one position per
 * partition: a position vector. The calls above read one partition; the calls below, and a
 * subscription with partition EVS_PARTITION_ALL, cover every partition of the topic and
 * keep the vector for the caller, who saves it and passes it back to go on where it was. */

/* evs_subscription_options.partition: every partition of the topic. */
#define EVS_PARTITION_ALL (-1)

/* Where to go on in each partition: positions[p] for p in 0..count is the next position to
 * read or deliver in partition p (inclusive, as `from` is), or 0 for "not known": the first
 * event for a read, the subscription's own `from` for a subscription. Partitions at count
 * or beyond are not known either. The vector owns positions, one block from malloc (the
 * library's, or the caller's own), freed with evs_position_vector_free(); the struct
 * itself is the caller's. A zeroed struct ({NULL, 0}) is the empty vector: nothing known.
 *
 * The text form, for saving and for the CLI, is "P:POS" for every partition, in partition
 * order, comma-separated: "0:13,1:41,2:8". */
typedef struct evs_position_vector {
    uint64_t *positions;
    int32_t count;
} evs_position_vector;

/* Frees vector->positions and empties the vector ({NULL, 0}). NULL is allowed. */
void evs_position_vector_free(evs_position_vector *vector);

/* Parses the text form into *out (which must be empty or zeroed; on failure it stays
 * empty). Pairs may come in any order and partitions missing from the text are 0 (not
 * known), so count is the highest partition named + 1; each partition may be named once;
 * a partition is below EVS_CLIENT_PARTITIONS_MAX and a position at most INT64_MAX; no
 * blanks. Returns 0, EVS_EINVAL naming the bad part, or EVS_ENOMEM. */
int evs_position_vector_parse(const char *text, evs_position_vector *out);

/* Writes the text form of vector into *text_out, a NUL-terminated malloc'd string owned by
 * the caller (free()); "" for the empty vector. Returns 0 or EVS_ENOMEM. */
int evs_position_vector_format(const evs_position_vector *vector, char **text_out);

/* The topic's partition count as the projectors tell it (GET /cluster), into *count_out:
 * at least 1 (1 when the projector is too old to say). Asks a projector when the client
 * has not learned the cluster yet. Returns 0, or EVS_EUNAVAILABLE when none answers. */
int evs_client_partitions(evs_client *client, int32_t *count_out);

/* Reads the next page of $all, of a category or of an event type across every partition.
 * The page is up to limit (1..EVS_READ_LIMIT_MAX) events of ONE partition, in position
 * order: of the first partition, in partition order, that has events at or after its
 * position in *cursor, each event saying its partition. On success *cursor is advanced
 * past the page (grown to the topic's partition count), so calling again with it goes on
 * where this call stopped; list->end_of_stream is 1 when every partition was read to its
 * end (then the list may be empty), and list->next is the position to go on from in the
 * page's partition (cursor says it too). A cursor naming a partition the topic does not
 * have is EVS_EINVAL. Reading pages until end_of_stream gives every partition's events
 * once, each partition in position order, partition 0 first: not a global order, which
 * there is none of (above). On failure *cursor is unchanged. On success *out is freed
 * with evs_event_list_free(). */
int evs_all_read_across(evs_client *client, evs_position_vector *cursor, size_t limit,
                        evs_event_list **out);
int evs_category_read_across(evs_client *client, const char *category,
                             evs_position_vector *cursor, size_t limit, evs_event_list **out);
int evs_type_read_across(evs_client *client, const char *type, evs_position_vector *cursor,
                         size_t limit, evs_event_list **out);

/* ---- Subscriptions ------------------------------------------------------------------ */
/* A catch-up subscription delivers the events of $all, of a stream, of a category or of an
 * event type in order: first the history from a starting point, then (with follow) live
 * events as they are accepted, with no gap and no duplicate at the switch. It is a pull
 * iterator over the projector's subscription endpoint (docs/HTTP-API.md, "Subscriptions"),
 * read in its binary framing of event pages, or as Server-Sent Events from a projector
 * that has no binary framing (EVSTORE_SUBSCRIPTION_FRAMING=sse|binary|auto forces one),
 * driven by the calling thread inside evs_subscription_next(): the library starts no
 * thread.
 *
 * Flow control: at most EVS_CLIENT_SUBSCRIPTION_QUEUE_EVENTS_MAX received events
 * (EVS_CLIENT_SUBSCRIPTION_QUEUE_BYTES_MAX bytes) wait in the subscription; when the caller
 * falls behind, the subscription stops reading from the connection until it catches up,
 * so a slow consumer slows only its own connection and memory stays bounded.
 *
 * Reconnection: when the connection drops (or stays silent for
 * EVS_CLIENT_SUBSCRIPTION_IDLE_MS) the subscription reconnects by itself, to another
 * projector serving its partition when there is one, and resumes after the last event it
 * received (Last-Event-ID; positions and versions are the same on every replica), retrying
 * up to EVS_CLIENT_SUBSCRIPTION_RETRIES_MAX times with growing pauses before it gives up
 * with EVS_EUNAVAILABLE. No event is lost or delivered twice across a reconnection.
 *
 * Positions: for $all, category and type subscriptions an event's position within its
 * partition; for a stream subscription its version.
 *
 * Across partitions: a $all, category or type subscription with partition
 * EVS_PARTITION_ALL covers every partition of the topic (as many as
 * evs_client_partitions() says at open). It holds one connection per partition, each
 * routed, resumed and flow-controlled as above on its own (so it may hold that many times
 * the queue bounds), and evs_subscription_next() hands out their events one at a time,
 * taking the partitions in turn. Each partition's events come in position order with no
 * gap and no duplicate; between partitions there is no order (see "Across partitions"
 * above), and every event says its partition and position. EVS_ECAUGHT_UP comes once,
 * when every partition has delivered its history; EVS_EEND when every partition has ended.
 * evs_subscription_positions() gives the position vector to resume from: a subscription
 * opened with it as from_positions delivers exactly the events after those delivered. */
typedef struct evs_subscription evs_subscription;

typedef enum evs_subscription_target {
    EVS_SUBSCRIBE_ALL = 0,      /* every accepted event of one partition */
    EVS_SUBSCRIBE_STREAM = 1,   /* one stream, by version */
    EVS_SUBSCRIBE_CATEGORY = 2, /* every stream of one category */
    EVS_SUBSCRIBE_TYPE = 3,     /* every event of one event type */
} evs_subscription_target;

/* Values of evs_subscription_options.from besides a position. */
#define EVS_FROM_START 0         /* the first event there is */
#define EVS_FROM_NOW UINT64_MAX  /* only events accepted after the subscription opened */

typedef struct evs_subscription_options {
    evs_subscription_target target; /* default EVS_SUBSCRIBE_ALL */
    const char *name;      /* the stream, category or type; NULL for EVS_SUBSCRIBE_ALL */
    int32_t partition;     /* the partition of $all, category and type subscriptions, or
                              EVS_PARTITION_ALL for every partition ("Across partitions"
                              below); default 0 (ignored for a stream) */
    uint64_t from;         /* the first position (version) to deliver, inclusive, or
                              EVS_FROM_START (default) or EVS_FROM_NOW; across partitions,
                              in each partition that from_positions does not know. To
                              resume after a saved position P, pass P + 1. */
    int follow;            /* 1 (default): after the history, deliver live events until
                              closed; 0: end after the history (EVS_EEND) */
    const evs_position_vector *from_positions; /* for $all, category and type: where to
                              begin in each partition, as evs_subscription_positions()
                              gave it (copied at open); where it says 0, `from` applies.
                              Default NULL: `from` everywhere */
} evs_subscription_options;

/* Fills *options with the defaults above. */
void evs_subscription_options_init(evs_subscription_options *options);

/* Opens a subscription and waits (at most the client's request timeout) until a projector
 * serving its partition has accepted it (one that is unreachable or answers 503 or 421
 * hands over to the next; across partitions, one for each partition in turn), so a bad
 * name or partition fails here with EVS_EINVAL, no reachable projector with
 * EVS_EUNAVAILABLE. A from_positions naming a partition the topic does not have is
 * EVS_EINVAL. The strings in options are copied. The client
 * must stay open until the subscription is closed. A subscription is used by one thread at
 * a time (any thread); many subscriptions may share a client. On success *out is closed with
 * evs_subscription_close(). */
int evs_subscription_open(evs_client *client, const evs_subscription_options *options,
                          evs_subscription **out);

/* Waits up to timeout_ms (0: do not wait; negative: without limit) for the next event.
 * Returns:
 *   0               *event_out is the next event. It is owned by the subscription and valid
 *                   until the next call of evs_subscription_next() or _close() on it;
 *   EVS_ECAUGHT_UP  once per subscription, when every event that existed at the start has
 *                   been delivered (*event_out NULL); live events follow if following;
 *   EVS_EEND        after the history of a subscription without follow, and on every later
 *                   call (*event_out NULL);
 *   EVS_ETIMEOUT    nothing arrived within timeout_ms; call again;
 *   EVS_EUNAVAILABLE the projector stayed unreachable through every reconnection attempt,
 *                   EVS_EPROTOCOL it sent something that is not a valid subscription
 *                   stream (for example an event out of order), EVS_EINVAL /
 *                   EVS_ENOT_FOUND it refused the subscription on reconnecting, EVS_ENOMEM.
 *                   These end the subscription: every later call returns the same code.
 *                   Open a new one from evs_subscription_position() + 1 (across
 *                   partitions: from_positions = evs_subscription_positions()). */
int evs_subscription_next(evs_subscription *subscription, int timeout_ms,
                          evs_event **event_out);

/* The position (version, for a stream) of the last event evs_subscription_next() delivered,
 * or 0 if none yet. Save it as a checkpoint to resume from position + 1 later. Across
 * partitions it is the position of that event within its own partition, which says
 * nothing of the others: save evs_subscription_positions() instead. */
uint64_t evs_subscription_position(const evs_subscription *subscription);

/* The position vector to resume a $all, category or type subscription from, into *out
 * (which must be empty or zeroed; free it with evs_position_vector_free()): for each
 * partition the subscription covers, the position after the last event delivered there,
 * or, once that partition's history was delivered, where its live events begin (so a
 * subscription from EVS_FROM_NOW that got nothing from a partition still resumes there
 * without replaying it); 0 where neither is known yet (a partition of a subscription from
 * EVS_FROM_NOW before its history was delivered). A one-partition subscription gives a
 * vector naming its partition only. Passed back as from_positions of a new subscription
 * (with the same from), it delivers every event after those delivered, none twice.
 * Returns 0, EVS_EINVAL for a stream subscription, or EVS_ENOMEM. */
int evs_subscription_positions(const evs_subscription *subscription, evs_position_vector *out);

/* 1 once the subscription has delivered its history (EVS_ECAUGHT_UP was returned), else 0. */
int evs_subscription_caught_up(const evs_subscription *subscription);

/* Closes the connection and frees the subscription, and with it the last event returned.
 * NULL is allowed. */
void evs_subscription_close(evs_subscription *subscription);

/* ---- Checkpoints -------------------------------------------------------------------- */
/* A checkpoint is a named position kept by the projector, for a subscriber to resume from
 * after a restart. Names follow the rules of stream names. Checkpoints survive projector
 * restarts and rebuilds. A save goes to the state topic in Kafka and returns once the
 * projector that took it has applied it; every other projector applies it moments later,
 * and a projector that lost its disk gets them back from the topic. */

/* Saves (creates or overwrites) checkpoint name at position. */
int evs_checkpoint_save(evs_client *client, const char *name, uint64_t position);

/* Loads checkpoint name into *position; EVS_ENOT_FOUND if there is none. */
int evs_checkpoint_load(evs_client *client, const char *name, uint64_t *position);

/* Deletes checkpoint name; EVS_ENOT_FOUND if there is none. */
int evs_checkpoint_delete(evs_client *client, const char *name);

/* ---- Snapshots ---------------------------------------------------------------------- */
/* A snapshot is a stream's state at a version, computed by the application and stored by
 * the projector as opaque bytes with a content type and a schema version. Loading the
 * latest snapshot, then reading the stream from its version + 1, gives the same state as
 * reading the whole stream. The projector keeps the latest few snapshots of each stream.
 * Like checkpoints, snapshots are saved in the state topic, so every projector serving the
 * stream's partition has them. */

typedef struct evs_snapshot {
    char *stream;
    uint64_t version;        /* the stream version the state reflects */
    char *content_type;
    uint32_t schema_version; /* the application's version of the snapshot's format */
    int64_t created_us;      /* when the projector stored it, microseconds since the epoch */
    void *data;              /* the bytes exactly as saved, followed by an uncounted NUL */
    size_t data_len;
} evs_snapshot;

/* Saves the state data[0..len) of stream at version (1 up to the stream's current
 * version). content_type NULL means "application/json"; the bytes are stored as given
 * whatever the content type. len is at most EVS_SNAPSHOT_DATA_MAX. Returns EVS_ENOT_FOUND
 * if the stream does not exist, EVS_EINVAL for a version beyond its current one. The
 * caller keeps ownership of every buffer. */
int evs_snapshot_save(evs_client *client, const char *stream, uint64_t version,
                      const char *content_type, uint32_t schema_version, const void *data,
                      size_t len);

/* Loads the latest snapshot of stream at or below max_version (0: the latest of all).
 * Returns EVS_ENOT_FOUND if there is none. On success *out is ONE allocation owned by the
 * caller, freed with evs_snapshot_free(); every pointer in it points into it. */
int evs_snapshot_load(evs_client *client, const char *stream, uint64_t max_version,
                      evs_snapshot **out);

/* Frees a snapshot from evs_snapshot_load(). NULL is allowed. */
void evs_snapshot_free(evs_snapshot *snapshot);

/* ---- Operations -------------------------------------------------------------------- */

/* The home projector's status (evs_client_open) as a JSON object (topic, brokers,
 * per-partition applied offsets, high watermarks and lag, skipped records). *json_out is a
 * NUL-terminated malloc'd string owned by the caller (free()). */
int evs_client_status(evs_client *client, char **json_out);

/* What this client did since evs_client_open, for the host program's own metrics (export
 * them as counters: every field only grows). Each field is read on its own, without a lock,
 * so a snapshot taken while other threads append may be between two of their updates.
 *  - appends: evs_append calls with a result pointer; each ends in exactly one of the
 *    outcomes below, so appends = accepted + duplicates + wrong_version + idempotency
 *    + rejected + invalid + unknown_outcome + failed (once no call is running).
 *  - appends_accepted: new events stored; appends_duplicate: an idempotent retry, answered
 *    with the original versions (EVS_OK with result.duplicate).
 *  - conflicts_wrong_version (EVS_EWRONG_VERSION), conflicts_idempotency (EVS_EIDEMPOTENCY):
 *    the concurrency rule said no; appends_rejected: EVS_EREJECTED, or
 *    EVS_ESTREAM_DELETED (an append to a tombstone).
 *  - appends_invalid: refused before anything was produced (EVS_EINVAL).
 *  - appends_unknown_outcome: EVS_EUNKNOWN_OUTCOME (settle them with evs_append_lookup);
 *    appends_failed: any other error (Kafka unavailable, refused credentials, memory):
 *    nothing was written.
 *  - produce_retries: times a record was handed to the Kafka producer again because its
 *    local queue was full (librdkafka's own idempotent retries to the broker are not seen).
 *  - verdict_waits, verdict_wait_us_total: appends that waited for their verdict after
 *    Kafka acknowledged them, and the total time of those waits in microseconds (divide
 *    for the mean wait; this is most of an append's latency after the produce).
 *  - failovers: requests (appends' verdict waits, reads, subscriptions, lookups) that a
 *    projector answered with a failover answer (a lost connection, a timeout, 503, 421,
 *    a verdict's 504), so that the router moved on to the next projector, if any.
 *  - produce_alone: records sent at once, without the producer's linger, because no other
 *    append of the client was running (docs/ARCHITECTURE.md, "Kafka settings"). */
typedef struct evs_client_metrics {
    uint64_t appends;
    uint64_t appends_accepted;
    uint64_t appends_duplicate;
    uint64_t conflicts_wrong_version;
    uint64_t conflicts_idempotency;
    uint64_t appends_rejected;
    uint64_t appends_invalid;
    uint64_t appends_unknown_outcome;
    uint64_t appends_failed;
    uint64_t produce_retries;
    uint64_t verdict_waits;
    uint64_t verdict_wait_us_total;
    uint64_t failovers;
    uint64_t produce_alone;
} evs_client_metrics;

/* Fills *out with the client's counters (above). Returns 0, or EVS_EINVAL when client or
 * out is NULL. Cheap (no I/O): call it as often as the host program scrapes. */
int evs_client_metrics_get(const evs_client *client, evs_client_metrics *out);

/* ---- Consumer groups (competing consumers) ----------------------------------------- */
/* A consumer group shares the events of one partition's $all, or of one category in it,
 * among its members; the projector keeps the group (docs/HTTP-API.md, "Consumer groups"):
 *  - All events of one stream go to the same member, in position order: the next event of
 *    a stream is delivered only after the previous one was acked or parked.
 *  - Delivery is at-least-once: ack each event with evs_group_ack() once it is processed.
 *    An event that is nacked, not acked within the group's ack timeout, or held by a member
 *    that leaves or stops fetching for the member timeout, is delivered again with a
 *    higher attempt number; after max_attempts failed attempts it is parked: listed by
 *    evs_group_parked_list() and delivered again after evs_group_replay_parked().
 *  - Members joining and leaving rebalance the streams among them. Fetching is the
 *    heartbeat: a member that does not fetch for member_timeout_ms is removed and its
 *    events go to the others.
 *  - The group's checkpoint (every event below it is acked or parked) is stored by the
 *    projector and survives its restarts; events that were in flight are delivered again.
 *  - A group's definition and progress are saved in the state topic; one projector at a
 *    time coordinates the group (it holds the members and deliveries), chosen by Kafka's
 *    consumer-group protocol, and the client sends it the group's requests. When it dies,
 *    another takes the group over after Kafka's session timeout (6 s): calls meanwhile
 *    wait within their timeout, members join again by themselves on their next fetch, and
 *    events that were in flight are delivered again.
 * Group names follow the rules of stream names. */

typedef struct evs_group_options {
    const char *category;  /* the category to share (e.g. "Order"); NULL for all events */
    int32_t partition;     /* the partition read; default 0 */
    uint64_t from;         /* the first position, when the group is created; 0 = the first */
    int ack_timeout_ms;    /* 0 = the projector's default, 30000 */
    int max_attempts;      /* 0 = the projector's default, 5 */
    int member_timeout_ms; /* 0 = the projector's default, 10000 */
} evs_group_options;

/* Fills *options with the defaults (all events of partition 0, projector defaults). */
void evs_group_options_init(evs_group_options *options);

/* Creates group `group`, or changes the settings (ack timeout, attempts, member timeout)
 * of the existing group of that name; its category, partition and from cannot change
 * (EVS_EINVAL: delete it and create it again). options may be NULL for the defaults. */
int evs_group_create(evs_client *client, const char *group, const evs_group_options *options);

/* Deletes a group with its progress and parked events; EVS_ENOT_FOUND if there is none. */
int evs_group_delete(evs_client *client, const char *group);

/* The group's status as a JSON object (definition, checkpoint, in-flight and parked counts,
 * members). *json_out is a NUL-terminated malloc'd string owned by the caller (free()). */
int evs_group_status(evs_client *client, const char *group, char **json_out);

/* One page of the group's parked events from position `from` (0 = the first), at most
 * limit (1..1000), as the JSON object of GET /groups/{name}/parked ("parked", "next",
 * "end", "count"). *json_out is owned by the caller (free()). */
int evs_group_parked_list(evs_client *client, const char *group, uint64_t from, size_t limit,
                          char **json_out);

/* Makes every parked event of the group deliverable again (fresh attempt count), as many
 * as the projector takes at once; *replayed_out (may be NULL) receives how many. */
int evs_group_replay_parked(evs_client *client, const char *group, uint64_t *replayed_out);

/* A member of a group. Used by one thread at a time; the client must stay open until the
 * member has left. */
typedef struct evs_group_member evs_group_member;

/* Joins group `group` as a new member. On success *out is released with
 * evs_group_leave(). */
int evs_group_join(evs_client *client, const char *group, evs_group_member **out);

/* The member's id as the projector knows it. Owned by the member; it changes when a fetch
 * joins again (see evs_group_fetch), so do not keep it across calls. */
const char *evs_group_member_id(const evs_group_member *member);

/* One delivered event: the event and its attempt number (1 on the first delivery). */
typedef struct evs_group_event {
    evs_event event;
    uint32_t attempt;
} evs_group_event;

typedef struct evs_group_batch {
    evs_group_event *events;
    size_t count;
} evs_group_batch;

/* Fetches up to max (1..1000) events for the member, waiting up to wait_ms (0..30000) for
 * one when none is ready. Every event returned is in flight with this member until it is
 * acked or nacked (or its ack timeout passes). If the projector no longer knows the member
 * (it was removed after the member timeout, or the projector restarted), the call joins
 * again under a new id and fetches for it: events the old membership held are delivered
 * again, to whichever member owns their streams. Returns 0 with *out (possibly empty, after
 * the wait) freed by evs_group_batch_free(); EVS_ENOT_FOUND when the group no longer
 * exists. */
int evs_group_fetch(evs_group_member *member, size_t max, int wait_ms, evs_group_batch **out);

/* Frees a batch and every event in it. NULL is allowed. */
void evs_group_batch_free(evs_group_batch *batch);

/* Acknowledges the events at positions[0..n) (their `position`s): they are done. An event
 * this member no longer holds (redelivered elsewhere, already acked, parked) is "stale":
 * *stale_out (may be NULL) receives how many were. An event released after a timeout but
 * not yet delivered again is taken as done. */
int evs_group_ack(evs_group_member *member, const uint64_t *positions, size_t n,
                  size_t *stale_out);

typedef enum evs_nack_action {
    EVS_NACK_RETRY = 0, /* a failed attempt: delivered again, parked after max_attempts */
    EVS_NACK_PARK = 1,  /* park now (a poison event) */
} evs_nack_action;

/* Rejects the events at positions[0..n) held by this member. *stale_out as for
 * evs_group_ack(). */
int evs_group_nack(evs_group_member *member, const uint64_t *positions, size_t n,
                   evs_nack_action action, size_t *stale_out);

/* Leaves the group (the events the member holds are delivered again to the others) and
 * frees the member, whatever the outcome. Returns 0 also when the projector had already
 * removed the member. NULL is allowed. */
int evs_group_leave(evs_group_member *member);

/* ---- Personal data (crypto-shredding) ------------------------------------------------ */
/* An event may be personal data of a data subject (evs_event_data.subject). Its data, and
 * its metadata if asked, are sealed (XChaCha20-Poly1305) with the subject's data key before
 * the record is produced, bound to the event's id. Each subject has its own data key, kept
 * by the projectors in the key topic sealed by the master key; the client and the projectors
 * hold the same master key (a file: evs_client_options.master_key_file), the client to open
 * the data key it seals with, the projectors to open the data at reads. Forgetting a subject
 * (evs_subject_forget) destroys its data keys: every event sealed with them reads as erased
 * (evs_event.erased) on every projector, for good, while the rest of the event (type,
 * stream, version, ids, unsealed metadata) stays.
 *
 * Appending an event with a subject asks the home projector for the subject's key
 * (POST /keys/{subject}: it makes one when the subject has none) the first time the client
 * needs it, and keeps it in memory (at most 1024 subjects, the oldest dropped first; wiped
 * at close). The key is refused with EVS_EINVAL when the projector's master key is not the
 * client's; a projector without a master key fails the append with EVS_EUNAVAILABLE.
 * Nothing is produced in either case. An idempotent retry of an append (the same append id
 * and event ids) seals anew, so its record differs in its ciphertexts only: the projector
 * judges it by its ids, as any retry. */

/* Forgets subject: the home projector destroys every data key of it (DELETE
 * /keys/{subject}) and the client drops it from its memory. *keys_destroyed (may be NULL)
 * receives how many keys were destroyed (0 when the subject had none, or was forgotten
 * before). Another client that still holds the subject's key in memory can seal new events
 * with it until it is closed; those read as erased too. Returns 0, EVS_EINVAL for an invalid
 * subject, EVS_EAUTH (the token lacks the scope), EVS_EUNAVAILABLE, or EVS_EPROTOCOL. Needs
 * no master key. */
int evs_subject_forget(evs_client *client, const char *subject, size_t *keys_destroyed);

/* The same, giving the projector's answer as a JSON object {"subject","forgotten":[the
 * destroyed keys' ids]} in *json_out, a NUL-terminated malloc'd string owned by the caller
 * (free()). */
int evs_subject_forget_json(evs_client *client, const char *subject, char **json_out);

/* Makes a new random master key and writes it to a new file at path (64 lowercase hex
 * digits and a newline, mode 0600), for evs_client_options.master_key_file and the
 * projectors' --master-key. Refuses a path that exists (overwriting a master key would
 * make every data key it sealed unreadable). id_out (may be NULL; 17 bytes) receives the
 * key's id, 16 hex digits that name it without revealing it. Returns 0, EVS_EINVAL naming
 * the file and the problem, or EVS_EINTERNAL when the system gives no randomness. */
int evs_master_key_create(const char *path, char *id_out);

/* ---- Tokens (docs/SECURITY.md) ------------------------------------------------------ */
/* The bearer tokens of the projector's HTTP API: "evs_" and 64 hex digits (256 random
 * bits). A projector given --token-file accepts the tokens whose SHA-256 the file lists,
 * each with its scopes. */
#define EVS_TOKEN_TEXT_MAX 68
#define EVS_TOKEN_LINE_MAX 8192

/* Makes a new random token with scopes[0..count) (1 to 32 of "read", "append", "admin",
 * each optionally limited to stream names with a prefix: "append:Order-") into token_out
 * (EVS_TOKEN_TEXT_MAX + 1 bytes), and the line of a token file that accepts it into
 * line_out (EVS_TOKEN_LINE_MAX bytes): its hash and scopes, not the token. Returns 0,
 * EVS_EINVAL naming a bad scope, or EVS_EINTERNAL when the system gives no randomness. */
int evs_token_new(const char *const *scopes, size_t count, char *token_out, char *line_out);

#ifdef __cplusplus
}
#endif
#endif /* EVSTORE_H */
