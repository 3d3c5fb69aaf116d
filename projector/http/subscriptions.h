/*
 * subscriptions.h - catch-up subscriptions, as Server-Sent Events or in the binary framing of
 * http/page_stream.h (subscriptions.c).
 */
#ifndef EVS_SUBSCRIPTIONS_H
#define EVS_SUBSCRIPTIONS_H

#include "http/http_util.h"

/* GET /subscriptions/{all | streams/NAME | categories/NAME | types/NAME} */
enum MHD_Result evs_subscription_handle(const evs_http_request *request);

#endif /* EVS_SUBSCRIPTIONS_H */
