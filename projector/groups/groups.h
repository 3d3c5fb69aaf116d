/*
 * groups.h - consumer groups (competing consumers) over HTTP (groups.c; the rules are in
 * group_logic.h, the endpoints in docs/HTTP-API.md, "Consumer groups").
 */
#ifndef EVS_GROUPS_H
#define EVS_GROUPS_H

#include "http/http_util.h"

/* GET /groups */
enum MHD_Result evs_groups_list_handle(const evs_http_request *request);
/* /groups/{name}[/members[/{id}[/events]] | /ack | /nack | /parked[/replay]] */
enum MHD_Result evs_groups_handle(const evs_http_request *request);

/* Drops the in-memory state of every group whose keys are in state partition `partition`,
 * each under its lock: the partition was handed to another coordinator (coordinator.h,
 * K2). */
void evs_groups_release_partition(evs_projector *p, int32_t partition);

#endif /* EVS_GROUPS_H */
