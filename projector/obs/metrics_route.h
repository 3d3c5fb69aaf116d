/*
 * metrics_route.h - GET /metrics: the projector's metrics in the Prometheus text exposition
 * format (every metric is in docs/OPERATIONS.md, "Metrics").
 *
 * A scrape reads the counters of obs/metrics.h and, at that moment, the state that is not
 * counted: offsets and lag per partition (the high watermark from the consumer's last fetch,
 * never a request to Kafka, so a scrape does not wait on the brokers), consumer groups,
 * membership, the state topic, RocksDB properties and the process. It holds no lock of the
 * hot path longer than a copy of the offsets.
 */
#ifndef EVS_METRICS_ROUTE_H
#define EVS_METRICS_ROUTE_H

#include "http/http_util.h"

/* The media type of the answer. */
#define EVS_METRICS_MEDIA_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* GET /metrics */
enum MHD_Result evs_metrics_handle(const evs_http_request *request);

#endif /* EVS_METRICS_ROUTE_H */
