/*
 * errors.c - error codes, their sentences, the thread-local last-error message and the
 * library version.
 */
#include <stdarg.h>
#include <stdio.h>

#include "errors.h"
#include "evstore.h"

static _Thread_local char last_error[EVS__ERROR_MAX];

const char *evs_version(void)
{
    return EVS_VERSION_STRING;
}

const char *evs_strerror(int code)
{
    switch (code) {
    case EVS_OK:
        return "success";
    case EVS_EINVAL:
        return "invalid argument or input; nothing was written";
    case EVS_EWRONG_VERSION:
        return "wrong expected version; nothing was stored";
    case EVS_EIDEMPOTENCY:
        return "idempotency conflict: some, not all, of the event ids were stored before";
    case EVS_EUNKNOWN_OUTCOME:
        return "outcome unknown: the append may or may not have been stored; look it up by "
               "its append id";
    case EVS_EUNAVAILABLE:
        return "broker or projector unavailable; nothing was written";
    case EVS_ENOT_FOUND:
        return "not found";
    case EVS_ETIMEOUT:
        return "timed out";
    case EVS_ENOMEM:
        return "out of memory";
    case EVS_EPROTOCOL:
        return "the projector answered something unexpected";
    case EVS_EREJECTED:
        return "the projector rejected the record as invalid";
    case EVS_EINTERNAL:
        return "internal error";
    case EVS_ECAUGHT_UP:
        return "the subscription has delivered its history (not an error)";
    case EVS_EEND:
        return "the subscription has ended (not an error)";
    case EVS_EAUTH:
        return "authentication or authorization refused (Kafka login, TLS certificate, or "
               "projector token); nothing was written";
    case EVS_ESTREAM_DELETED:
        return "the stream was deleted: a hard-deleted stream (a tombstone) rejects every "
               "later append, delete, truncate or limit, and reads of a deleted stream "
               "find nothing";
    default:
        return "unknown error code";
    }
}

const char *evs_last_error(void)
{
    return last_error;
}

int evs__set_error(int code, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(last_error, sizeof last_error, format, args);
    va_end(args);
    return code;
}

void evs__clear_error(void)
{
    last_error[0] = '\0';
}
