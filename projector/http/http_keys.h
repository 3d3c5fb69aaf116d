/*
 * http_keys.h - the data keys of crypto-shredding over HTTP (docs/HTTP-API.md, "Personal
 * data and forgetting"): GET /keys/{subject} lists a subject's keys, POST makes its key
 * when it has none and answers the winner (keys/keyring.h, K2), DELETE forgets the subject.
 * Keys travel sealed by the master key: only a holder of the master key can open them.
 */
#ifndef EVS_HTTP_KEYS_H
#define EVS_HTTP_KEYS_H

#include "http/http_util.h"

enum MHD_Result evs_keys_handle(const evs_http_request *r);

#endif /* EVS_HTTP_KEYS_H */
