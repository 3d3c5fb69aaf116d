/*
 * subscription_internal.h - what the unit tests may observe of a subscription beyond the
 * public API (evstore.h, "Subscriptions"): the flow-control bound of subscription.c
 * (its invariant 1) is a property of the queue, which nothing public shows.
 */
#ifndef EVS_SUBSCRIPTION_INTERNAL_H
#define EVS_SUBSCRIPTION_INTERNAL_H

#include <stddef.h>

#include "evstore.h"

/* The most records the subscription's queue has held at once, and (in *bytes, if not
 * NULL) the most bytes of their text. */
size_t evs__subscription_queue_high_water(const evs_subscription *subscription, size_t *bytes);

#endif /* EVS_SUBSCRIPTION_INTERNAL_H */
