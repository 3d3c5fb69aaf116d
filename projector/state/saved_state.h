/*
 * saved_state.h - checkpoints and snapshots that clients save in the projector
 * (saved_state.c).
 */
#ifndef EVS_SAVED_STATE_H
#define EVS_SAVED_STATE_H

#include "http/http_util.h"

/* GET, PUT, DELETE /checkpoints/{name} */
enum MHD_Result evs_checkpoint_handle(const evs_http_request *request);
/* GET, PUT /snapshots/{stream} */
enum MHD_Result evs_snapshot_handle(const evs_http_request *request);

#endif /* EVS_SAVED_STATE_H */
