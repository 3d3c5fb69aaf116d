/*
 * event_page.c - the binary page of events (page_codec.h) mapped onto evs_event_list.
 *
 * The list has the layout of event_json.c: ONE allocation holding
 *     evs_event_list | evs_event[count] | the strings and payload bytes of every event,
 * each followed by a NUL byte not counted in its length. The page is decoded twice: the
 * first pass checks all of it and sizes the allocation exactly, the second copies. So a
 * malformed page allocates nothing, and the allocation is sized by bytes the first pass
 * found inside the body, never by a length it did not check.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "event_page.h"
#include "page_codec.h"

/* Bytes a field needs in the arena: its length and a NUL; 0 when absent. */
static size_t need(const void *p, size_t len)
{
    return p ? len + 1 : 0;
}

static int size_event(void *ctx, const evs_page_event *e)
{
    size_t *arena = ctx;
    *arena += e->stream_len + 1 + e->type_len + 1 + e->content_type_len + 1 + e->data_len + 1 +
              (e->metadata_len ? e->metadata_len + 1 : 0) +
              need(e->correlation_id, e->correlation_id_len) +
              need(e->causation_id, e->causation_id_len) + need(e->subject, e->subject_len);
    return 0;
}

typedef struct fill_ctx {
    evs_event_list *list;
    size_t index;
    char *cursor;
} fill_ctx;

/* Copies len bytes and a NUL to the cursor; returns where they went. */
static char *copy(fill_ctx *f, const void *p, size_t len)
{
    char *dst = f->cursor;
    if (len)
        memcpy(dst, p, len);
    dst[len] = '\0';
    f->cursor += len + 1;
    return dst;
}

static int fill_event(void *ctx, const evs_page_event *in)
{
    fill_ctx *f = ctx;
    evs_event *e = &f->list->events[f->index++];
    memcpy(e->event_id, in->event_id, sizeof e->event_id);
    e->stream = copy(f, in->stream, in->stream_len);
    e->type = copy(f, in->type, in->type_len);
    e->version = in->version;
    e->position = in->position;
    e->partition = in->partition;
    e->created_us = in->created_us;
    e->content_type = copy(f, in->content_type, in->content_type_len);
    e->data = copy(f, in->data, in->data_len);
    e->data_len = in->data_len;
    /* As from JSON: no metadata and empty metadata are both NULL with length 0. */
    e->metadata = in->metadata_len ? copy(f, in->metadata, in->metadata_len) : NULL;
    e->metadata_len = in->metadata_len;
    e->correlation_id =
        in->correlation_id ? copy(f, in->correlation_id, in->correlation_id_len) : NULL;
    e->causation_id = in->causation_id ? copy(f, in->causation_id, in->causation_id_len) : NULL;
    e->subject = in->subject ? copy(f, in->subject, in->subject_len) : NULL;
    e->erased = in->erased != 0;
    e->sealed = in->sealed != 0;
    return 0;
}

int evs__event_list_from_page(const void *body, size_t body_len, evs_event_list **out)
{
    char err[256];
    evs_page_info info;
    size_t arena = 0;

    *out = NULL;
    if (evs_page_decode(body, body_len, &info, size_event, &arena, err, sizeof err) != 0)
        return evs__set_error(EVS_EPROTOCOL, "projector answer is not a valid event page: %s", err);
    size_t head = sizeof(evs_event_list) + info.event_count * sizeof(evs_event);
    evs_event_list *list = calloc(1, head + arena);
    if (!list)
        return evs__set_error(EVS_ENOMEM, "out of memory reading %zu events", info.event_count);
    list->events = info.event_count ? (evs_event *)(list + 1) : NULL;
    list->count = info.event_count;
    fill_ctx f = {list, 0, (char *)list + head};
    /* The same bytes decoded a moment ago: this pass cannot fail. */
    int rc = evs_page_decode(body, body_len, &info, fill_event, &f, NULL, 0);
    assert(rc == 0 && f.index == list->count && f.cursor == (char *)list + head + arena);
    (void)rc;
    list->next = info.next;
    list->end_of_stream = info.end;
    list->first_version = info.has_first_version ? info.first_version : 0;
    *out = list;
    return 0;
}
