/*
 * page_codec.h - the Avro binary form of a page of events (schemas/evstore.EventPage.avsc),
 * as the projector's read endpoints send it for "Accept: application/vnd.evstore.page+avro"
 * and libevstore decodes it (docs/HTTP-API.md, "The binary page").
 *
 * Wire format (Avro single-object encoding, like the append records of record_codec.h):
 *   byte 0..1   0xC3 0x01                  marker
 *   byte 2..9   CRC-64-AVRO fingerprint of evstore.EventPage's Parsing Canonical Form,
 *               little-endian (evs_page_fingerprint())
 *   byte 10..   the Avro binary encoding of evstore.EventPage (v2), in field order:
 *                 stream          union {null, string}
 *                 current_version union {null, long}
 *                 category        union {null, string}
 *                 type            union {null, string}
 *                 partition       union {null, int}
 *                 events          array of PageEvent (the encoder writes one block)
 *                   event_id string (36 bytes), stream string, type string, version long,
 *                   position long, partition int, created_us long, content_type string,
 *                   data bytes, metadata union {null, bytes}, correlation_id and
 *                   causation_id union {null, string}, subject union {null, string} (v2),
 *                   erased boolean (v2), sealed boolean (v2)
 *                 next            long
 *                 end             boolean
 *                 first_version   union {null, long} (v2)
 *
 * Versions: the encoder writes v2 (EVS_PAGE_SCHEMA_FILE). The decoder reads v2 and v1
 * (schemas/evstore.EventPage.v1.avsc, the fields above without those marked v2), so a newer
 * client reads an older projector's pages; a v1 page decodes with every subject NULL, erased
 * and sealed 0, and has_first_version 0. Any other fingerprint is EVS_RECORD_ESCHEMA.
 *
 * Both directions are written by hand, without avro-c's generic values (which cost more
 * than the rest of a read together). The decoder trusts nothing: every length is checked
 * against the bytes left and against evstore_limits.h before it is used, and nothing is
 * allocated at all, so no length can drive an allocation; see page_codec.c for the rules.
 *
 * Thread safety: every function here may be called from any number of threads at once.
 */
#ifndef EVS_PAGE_CODEC_H
#define EVS_PAGE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "record_codec.h" /* evs_buf, EVS_RECORD_* error codes */

#ifdef __cplusplus
extern "C" {
#endif

/* The media type of the binary page, for the Accept and Content-Type headers. */
#define EVS_PAGE_MEDIA_TYPE "application/vnd.evstore.page+avro"
/* The schema file (schemas/) the page is written with. */
#define EVS_PAGE_SCHEMA_FILE "evstore.EventPage.avsc"

/* One event of a page. For the encoder every pointer is the caller's; for the decoder they
 * point into the decoded buffer and live as long as it. Strings are NOT NUL-terminated
 * (use the _len fields), except event_id. */
typedef struct evs_page_event {
    char event_id[37]; /* 36 characters of UUID text plus a NUL */
    const char *stream;
    size_t stream_len;
    const char *type;
    size_t type_len;
    uint64_t version;
    uint64_t position;
    int32_t partition;
    int64_t created_us;
    const char *content_type;
    size_t content_type_len;
    const uint8_t *data; /* may be NULL when data_len is 0 */
    size_t data_len;
    const uint8_t *metadata; /* NULL when absent or empty: the encoder writes null for
                              * length 0 and the decoder reads empty bytes as NULL */
    size_t metadata_len;
    const char *correlation_id; /* NULL if absent */
    size_t correlation_id_len;
    const char *causation_id; /* NULL if absent */
    size_t causation_id_len;
    /* EventPage v2 (a v1 page decodes with subject NULL, erased and sealed 0). */
    const char *subject; /* the data subject of personal data, NULL if none */
    size_t subject_len;
    int erased; /* 1: the subject was forgotten; data and metadata are empty */
    int sealed; /* 1: the projector that answered could not open the personal data (no
                 * master key, or not the one that sealed it): data (and sealed metadata)
                 * are empty, though the subject is not forgotten */
} evs_page_event;

/* The page-level members. A NULL string or has_ flag 0 is Avro null. */
typedef struct evs_page_info {
    const char *stream; /* stream reads */
    size_t stream_len;
    int has_current_version;
    uint64_t current_version;
    const char *category; /* category reads */
    size_t category_len;
    const char *type; /* type reads */
    size_t type_len;
    int has_partition;
    int32_t partition;
    int has_first_version; /* v2, stream reads: the first version still readable */
    uint64_t first_version;
    size_t event_count; /* decoder only: the number of events */
    uint64_t next;
    int end; /* end_of_stream of a stream read, end of the others */
} evs_page_info;

/* ---- Encoding (the projector) --------------------------------------------------------- */

/* An encoder writing into out. Fill it with evs_page_encode_begin, add events, finish with
 * evs_page_encode_end. The page-level members come first but next and end are only known
 * after the events, which is why they are passed to the end call. */
typedef struct evs_page_encoder {
    evs_buf *out;
    size_t events_at; /* where the events' block starts in out */
    size_t count;
    int oom;
} evs_page_encoder;

/* Starts a page in out (its contents are replaced): header and the members of info before
 * the events (info->event_count, next and end are ignored). */
void evs_page_encode_begin(evs_page_encoder *enc, evs_buf *out, const evs_page_info *info);
/* Appends one event. Its strings must respect evstore_limits.h (stored events do). */
void evs_page_encode_event(evs_page_encoder *enc, const evs_page_event *event);
/* Ends the page. Returns 0, or EVS_RECORD_ENOMEM if memory ran out at any step (out then
 * holds no valid page). */
int evs_page_encode_end(evs_page_encoder *enc, uint64_t next, int end);

/* ---- Decoding (libevstore) ------------------------------------------------------------- */

/* Called for each event in page order; the event is valid during the call, its pointers
 * as long as the decoded buffer. A non-zero return stops decoding and is returned. */
typedef int (*evs_page_visitor)(void *ctx, const evs_page_event *event);

/* Decodes one page of len bytes (EventPage v2 or v1), checking all of it: the marker, the
 * fingerprint, every length (non-negative, within the bytes left and within
 * evstore_limits.h: names, content types, ids, data, metadata, at most EVS_READ_LIMIT_MAX
 * events), every union branch and boolean, varints (at most 10 bytes for a long, 5 for an
 * int, no overflow), UUID text, stream names, subjects (the rule of stream names), event
 * types, and that nothing follows the page. visit (may be NULL) sees each event as it is
 * decoded: an error after some events were visited is still an error, so a caller that
 * copies events decodes twice (a counting pass, then a copying pass), or discards what it
 * copied on failure.
 * Returns 0 with *info filled, or EVS_RECORD_EMAGIC (no marker, or shorter than the
 * header), EVS_RECORD_ESCHEMA (a fingerprint of neither v2 nor v1), EVS_RECORD_EMALFORMED
 * (anything else) with a message naming the problem and its byte offset in err
 * (NUL-terminated, truncated to err_len; err may be NULL), or the visitor's non-zero
 * return. */
int evs_page_decode(const void *value, size_t len, evs_page_info *info, evs_page_visitor visit,
                    void *ctx, char *err, size_t err_len);

/* The CRC-64-AVRO fingerprint of evstore.EventPage's Parsing Canonical Form (computed once
 * from the built-in schemas/evstore.EventPage.avsc, v2), as the encoder writes it in bytes
 * 2..9. */
uint64_t evs_page_fingerprint(void);

#ifdef __cplusplus
}
#endif
#endif /* EVS_PAGE_CODEC_H */
