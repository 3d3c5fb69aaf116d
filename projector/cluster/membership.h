/*
 * membership.h - who serves what: each projector announces itself in the members topic and
 * learns the others from it; GET /cluster lists them (docs/HTTP-API.md, "GET /cluster").
 *
 * The members topic is "<events topic>.members": one partition, compacted, keyed by member
 * id, with broker-assigned timestamps (message.timestamp.type=LogAppendTime). Every
 * heartbeat (EVS_HEARTBEAT_MS) a projector writes its evstore.Member record: id, advertised
 * URL, the partitions it serves and how far it has applied each, its lease, its state. It
 * reads the whole topic from the start and keeps the latest record of each member.
 *
 * Invariants:
 *  M1. A member is live while its state is RUNNING and its latest record is younger than
 *      its lease, by the broker's timestamp against this projector's clock (so projectors'
 *      clocks must agree within a fraction of the lease: run NTP). A member never seen again
 *      stays listed as gone; one that stopped cleanly wrote a STOPPED record last.
 *  M2. The table is written by the membership thread only and read under `lock`; the
 *      answer for this projector itself is built from its live state, not from the topic,
 *      so /cluster always lists it with current offsets.
 *  M3. Membership is advisory: it routes clients and never changes a verdict or the store.
 *      A projector that cannot reach the members topic keeps judging and serving.
 */
#ifndef EVS_MEMBERSHIP_H
#define EVS_MEMBERSHIP_H

#include "http/http_util.h"
#include "judge/projector.h"

#define EVS_HEARTBEAT_MS 1000
#define EVS_LEASE_MS_DEFAULT 6000

typedef struct evs_membership evs_membership;

typedef struct evs_membership_config {
    const char *id;  /* --member-id; NULL = "<hostname>:<port of --http>" */
    const char *url; /* --advertise; NULL = "http://<--http address>" (0.0.0.0: the host name) */
    int lease_ms;    /* how long a heartbeat keeps this member live */
} evs_membership_config;

/* Checks the id and URL, creates the members topic when missing and connects to it; sets
 * p->membership. Announces nothing yet. Returns 0, or -1 with the reason in err (a bad id
 * or URL, no topic). */
int evs_membership_start(evs_projector *p, const evs_membership_config *config, char *err,
                         size_t err_len);

/* Starts the membership thread: heartbeats, and reading everyone's records. Called once
 * the HTTP API listens, so that what is announced answers. Returns 0 or -1. */
int evs_membership_announce(evs_projector *p, char *err, size_t err_len);

/* Writes this member's STOPPED record if it announced (best effort, bounded), stops the
 * thread, frees everything and clears p->membership. p->membership NULL is allowed. */
void evs_membership_stop(evs_projector *p);

/* This projector's member id (set by evs_membership_start; NULL before). */
const char *evs_membership_id(const evs_projector *p);

/* For /metrics: the members of the topic this projector knows (itself included) and how
 * many of them are live (their last heartbeat younger than their lease). Both 0 when
 * membership is not running. */
void evs_membership_counts(const evs_projector *p, size_t *members, size_t *live);

/* GET /cluster. */
enum MHD_Result evs_cluster_handle(const evs_http_request *r);

#endif /* EVS_MEMBERSHIP_H */
