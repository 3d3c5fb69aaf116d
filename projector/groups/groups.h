/*
 * groups.h - consumer groups (competing consumers) over HTTP (groups.c; the rules are in
 * group_logic.h, the endpoints in docs/HTTP-API.md, "Consumer groups").
 */
#ifndef EVS_GROUPS_H
#define EVS_GROUPS_H

#include "groups/group_logic.h"
#include "http/http_util.h"

/* GET /groups */
enum MHD_Result evs_groups_list_handle(const evs_http_request *request);
/* /groups/{name}[/members[/{id}[/events]] | /ack | /nack | /parked[/replay]] */
enum MHD_Result evs_groups_handle(const evs_http_request *request);

/* A consumer group as /metrics shows it (obs/metrics_route.c). */
typedef struct evs_group_metric {
    char name[EVS_STREAM_NAME_MAX + 1];
    int32_t partition;   /* of the events topic, the group's source */
    int coordinated;     /* this projector coordinates it: stats are valid */
    evs_group_stats stats;
} evs_group_metric;
/* Describes up to max groups (EVS_GROUPS_MAX at most) into out; returns the count, or -1
 * when the store cannot be read. Takes each group's lock briefly, one at a time. */
int evs_groups_metrics(evs_projector *p, evs_group_metric *out, size_t max);

/* Drops the in-memory state of every group whose keys are in state partition `partition`,
 * each under its lock: the partition was handed to another coordinator (coordinator.h,
 * K2). */
void evs_groups_release_partition(evs_projector *p, int32_t partition);

#endif /* EVS_GROUPS_H */
