#!/usr/bin/env bash
# prometheus_test.sh - GET /metrics scraped by a real Prometheus (docs/OPERATIONS.md,
# "Metrics").
#
# Asserts:
#  - the text of GET /metrics passes `promtool check metrics` (the exposition format and the
#    naming conventions: units in names, _total counters, histograms);
#  - after a known sequence (7 accepted appends of 1 + 2 + ... events, 2 wrong expected
#    versions, 1 idempotent retry, 1 HTTP append refused with 409) the counters are exact:
#    appends by verdict, events accepted, records judged (batch sizes' sum), the applied
#    offset and high watermark equal the broker's end offset, the lag is 0, and the HTTP
#    request counter holds the 409 of POST /streams/;
#  - a Prometheus started by this test (its own port, data dir and configuration scraping
#    this projector every second) reports the same through its HTTP API (/api/v1/query):
#    up is 1, the accepted-appends counter is 7, the lag 0;
#  - while the projector is paused (it consumes nothing), 3 appends written to Kafka show
#    in Prometheus as a lag of exactly 3 records; resumed, the lag goes back to 0 and the
#    accepted counter to 10;
#  - the memory options: the block cache metric is the size --block-cache-mb gave, and a
#    memtable size below the bound is refused.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init prometheus "$@"

PROMETHEUS=${EVS_PROMETHEUS:-$(command -v prometheus || true)}
PROMTOOL=${EVS_PROMTOOL:-$(command -v promtool || true)}
[[ -x "$PROMETHEUS" && -x "$PROMTOOL" ]] ||
  fail "prometheus and promtool are needed (Debian package prometheus; deploy/setup.sh installs it)"

start_projector p1 --block-cache-mb 48 --memtable-mb 16

# ---- a known sequence of appends ---------------------------------------------------------
events=0
for i in 1 2 3 4 5 6 7; do
  : >"$T/batch.ndjson"
  for ((k = 1; k <= i; k++)); do
    printf '{"type":"Counted","data":{"i":%d,"k":%d}}\n' "$i" "$k" >>"$T/batch.ndjson"
  done
  expect_ok "append $i" append "Metric-$i" --file "$T/batch.ndjson" --expected no_stream
  events=$((events + i))
done
expect_rc 3 "wrong expected version 1" append Metric-1 --type Counted --data '{}' --expected 5
expect_rc 3 "wrong expected version 2" append Metric-2 --type Counted --data '{}' --expected no_stream
id=$(uuid)
expect_ok "first of a retried append" append Metric-8 --type Counted --data '{}' --event-id "$id"
expect_ok "the retry: a duplicate" append Metric-8 --type Counted --data '{}' --event-id "$id"
jcheck 'd["duplicate"] is True' "$OUT" "the retry is answered as a duplicate"
accepted=8
events=$((events + 1))
http POST /streams/Metric-1 -H 'Content-Type: application/json' \
  --data-binary '{"expected":"no_stream","events":[{"type":"Counted","data":{}}]}'
assert_eq "$HTTP_CODE" 409 "HTTP append with a wrong expectation"
records=12 # 8 accepted, 2 + 1 wrong versions, 1 duplicate
wait_caught_up p1

# ---- the text itself -----------------------------------------------------------------------
metric() { # SERIES: the value of one sample line of $M (name{labels} exactly)
  awk -v s="$1" 'index($0, s " ") == 1 { print $2; found = 1 } END { if (!found) print "absent" }' <<<"$M"
}
http GET /metrics
assert_eq "$HTTP_CODE" 200 "GET /metrics"
M=$HTTP_BODY
assert_match "$(curl -s -o /dev/null -w '%{content_type}' "$P1_URL/metrics")" \
  '^text/plain; version=0\.0\.4' "the exposition format's content type"
"$PROMTOOL" check metrics <<<"$M" >"$T/promtool.out" 2>&1 ||
  fail "promtool check metrics: $(cat "$T/promtool.out")"
pass
end=$(topic_end_offsets | jget 'd["0"]')
assert_eq "$end" "$records" "records in the topic"
assert_eq "$(metric 'evstore_appends_judged_total{verdict="accepted"}')" "$accepted" "accepted appends"
assert_eq "$(metric 'evstore_appends_judged_total{verdict="wrong_expected_version"}')" 3 "wrong versions"
assert_eq "$(metric 'evstore_appends_judged_total{verdict="duplicate"}')" 1 "duplicates"
assert_eq "$(metric 'evstore_appends_judged_total{verdict="idempotency_conflict"}')" 0 "conflicts"
assert_eq "$(metric 'evstore_events_accepted_total')" "$events" "events accepted"
assert_eq "$(metric 'evstore_records_skipped_total')" 0 "records skipped"
assert_eq "$(metric 'evstore_batch_records_sum')" "$records" "records judged, over every batch"
assert_eq "$(metric 'evstore_batch_records_count')" "$(metric 'evstore_batch_records_bucket{le="+Inf"}')" \
  "batch histogram: _count equals the +Inf bucket"
assert_eq "$(metric 'evstore_partition_applied_offset{partition="0"}')" "$end" "applied offset"
assert_eq "$(metric 'evstore_partition_high_watermark{partition="0"}')" "$end" "high watermark"
assert_eq "$(metric 'evstore_partition_lag_records{partition="0"}')" 0 "lag"
assert_eq "$(metric 'evstore_partition_last_position{partition="0"}')" "$events" "last position"
assert_eq "$(metric 'evstore_http_requests_total{route="/streams/",method="POST",code="409"}')" 1 \
  "the refused HTTP append is counted by route, method and status"
assert_eq "$(metric 'evstore_applying')" 1 "applying"
assert_match "$(metric 'process_resident_memory_bytes')" '^[1-9][0-9]{6,}$' "resident memory"
assert_match "$(metric 'evstore_rocksdb_memtable_bytes')" '^[1-9][0-9]*$' "memtable bytes"
assert_eq "$(metric 'evstore_rocksdb_block_cache_capacity_bytes')" $((48 << 20)) \
  "the block cache has the size --block-cache-mb gave it"
assert_match "$(metric 'evstore_rocksdb_block_cache_usage_bytes')" '^[0-9]+$' "block cache usage"
"$PROJECTOR_BIN" --memtable-mb 3 >"$T/refused.out" 2>&1 && fail "--memtable-mb 3 was accepted"
assert_match "$(cat "$T/refused.out")" 'memtable-mb needs a number from 4 to 4096' \
  "a memtable below 4 MiB is refused"

# ---- the shipped configuration -----------------------------------------------------------
"$PROMTOOL" check config "$IT_SRC_DIR/../../deploy/prometheus.yml" >"$T/promtool.out" 2>&1 ||
  fail "promtool check config deploy/prometheus.yml (and its rules): $(cat "$T/promtool.out")"
pass

# ---- a real Prometheus -----------------------------------------------------------------------
prom_port=$(free_port)
PROM_URL="http://127.0.0.1:$prom_port"
cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: evstore
    static_configs:
      - targets: ["127.0.0.1:$P1_PORT"]
EOF
"$PROMTOOL" check config "$T/prometheus.yml" >"$T/promtool.out" 2>&1 ||
  fail "promtool check config: $(cat "$T/promtool.out")"
"$PROMETHEUS" --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prometheus-data" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$T/prometheus.log" 2>&1 </dev/null &
prom_pid=$!
track_pid "$prom_pid"
for ((i = 0; i < 150; i++)); do
  curl -sf "$PROM_URL/-/ready" >/dev/null 2>&1 && break
  kill -0 "$prom_pid" 2>/dev/null || fail "prometheus exited: $(tail -n 5 "$T/prometheus.log")"
  sleep 0.2
done
curl -sf "$PROM_URL/-/ready" >/dev/null || fail "prometheus not ready within 30 s"
log "prometheus up at $PROM_URL (pid $prom_pid)"

# promql QUERY: the value of an instant query's single result ("none" when there is none).
promql() {
  curl -s -G --max-time 5 "$PROM_URL/api/v1/query" --data-urlencode "query=$1" |
    jget 'd["data"]["result"][0]["value"][1] if d and d.get("status") == "success" and d["data"]["result"] else "none"'
}
# wait_promql QUERY WANT DESCRIPTION: waits (30 s at most) until QUERY has the value WANT.
wait_promql() {
  local got deadline=$((SECONDS + 30))
  while :; do
    got=$(promql "$1")
    [[ "$got" == "$2" ]] && { pass; return 0; }
    ((SECONDS < deadline)) || fail "$3: Prometheus says $1 = $got, expected $2"
    sleep 0.5
  done
}
wait_promql 'up{job="evstore"}' 1 "Prometheus scrapes the projector"
wait_promql 'evstore_appends_judged_total{verdict="accepted"}' "$accepted" "accepted appends"
wait_promql 'evstore_events_accepted_total' "$events" "events accepted"
wait_promql 'evstore_partition_lag_records{partition="0"}' 0 "lag after the appends"

# ---- lag, seen by Prometheus -------------------------------------------------------------
pause_projector p1
for i in 1 2 3; do
  # The projector judges nothing while paused: each append is in Kafka, its verdict unknown.
  EVS_TIMEOUT_MS=1500 evs append "Lagging-$i" --type Counted --data '{}'
  assert_eq "$RC" 5 "append $i while the projector is paused: outcome unknown (exit 5)"
done
assert_eq "$(topic_end_offsets | jget 'd["0"]')" $((records + 3)) "3 more records in the topic"
wait_promql 'evstore_partition_lag_records{partition="0"}' 3 "lag while paused"
wait_promql 'evstore_partition_high_watermark{partition="0"} - evstore_partition_applied_offset{partition="0"}' 3 \
  "high watermark minus applied offset while paused"
resume_projector p1
wait_caught_up p1
wait_promql 'evstore_partition_lag_records{partition="0"}' 0 "lag once resumed"
wait_promql 'evstore_appends_judged_total{verdict="accepted"}' $((accepted + 3)) "accepted after resuming"
wait_promql 'sum(evstore_http_requests_total{route="/metrics"}) > bool 0' 1 \
  "the scrapes themselves are counted"

kill -TERM "$prom_pid"
wait "$prom_pid" 2>/dev/null || true
stop_projector p1
