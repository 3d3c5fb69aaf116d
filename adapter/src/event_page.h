/*
 * event_page.h - maps the projector's binary page of events (schemas/page_codec.h, media type
 * application/vnd.evstore.page+avro) onto evs_event_list. A pure function of the body: no
 * I/O, so it is unit-tested without a projector.
 */
#ifndef EVS_EVENT_PAGE_H
#define EVS_EVENT_PAGE_H

#include <stddef.h>

#include "evstore.h"

/* Decodes a 200 answer of a read sent as a binary page into a new event list, laid out
 * exactly as evs__event_list_from_json lays it out (one allocation; free with
 * evs_event_list_free), with each event's subject and erased flag, and the page's
 * first_version when it has one (EventPage v2). Returns 0, EVS_EPROTOCOL if the body is not a valid page (the last
 * error names the problem and its byte offset), or EVS_ENOMEM. */
int evs__event_list_from_page(const void *body, size_t body_len, evs_event_list **out);

#endif /* EVS_EVENT_PAGE_H */
