#!/usr/bin/env bash
# feed_test.sh - the accepted-events feed (projector/feed/feed.h): what reaches Kafka's
# ecosystem is exactly the accepted events.
#   A. a workload with conflicts (appends with a wrong expected version, whose data says
#      "rejected") through two hot replicas, both with --feed: kcat shows the headers of
#      every record, and the feed equals $all: the same events (stream, version, position,
#      event id, data) in position order, none rejected.
#   B. a real Kafka Connect worker (deploy/connect.sh: connect-runtime and the file
#      connector from Maven Central) runs a file sink on the feed: the file holds exactly
#      the accepted events' data, in order, and none of the rejected.
#   C. the publishing projector is killed (SIGKILL) four times in a row while evs_it_load
#      appends (with conflicts of its own) through both seeds, and started again each
#      time: the feed still holds every accepted event once, in position order.
source "$(dirname "$0")/lib.sh"
it_init feed "$@"

KCAT=$(command -v kcat || command -v kafkacat || true)
[[ -n "$KCAT" ]] || fail "kcat is missing (deploy/setup.sh installs it)"
LOAD=$BIN_DIR/evs_it_load
[[ -x "$LOAD" ]] || fail "missing program $LOAD; build first"
FEED=$TOPIC.accepted
EVS_READ_ALL_MAX=1000000

start_projector p1 --feed
start_projector p2 --feed
SEEDS="$P1_URL,$P2_URL"

# feed_rows: every feed record as one JSON object per line, read from the broker by kcat:
# the headers, the key and the value.
feed_rows() {
  "$KCAT" -b "$BROKERS" -C -t "$FEED" -o beginning -e -q -f '%h\t%k\t%s\n' 2>"$T/kcat.err" |
    python3 -c '
import json, sys
for line in sys.stdin:
    line = line.rstrip("\n")
    if not line:
        continue
    headers, key, value = line.split("\t", 2)
    h = dict(kv.split("=", 1) for kv in headers.split(","))
    print(json.dumps({"headers": h, "key": key, "value": value}))'
}

# feed_equals_all WHAT: the feed holds $all exactly: every accepted event once, in position
# order, with its headers (waits up to 60 s for the publisher to catch up).
feed_equals_all() {
  local deadline=$((SECONDS + 60)) result
  expect_ok "read-all" read-all --limit "$EVS_READ_ALL_MAX"
  printf '%s\n' "$OUT" >"$T/all.ndjson"
  while :; do
    feed_rows >"$T/feed.ndjson"
    result=$(python3 - "$T/all.ndjson" "$T/feed.ndjson" <<'EOF'
import json, sys
all_events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
feed = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
if len(feed) < len(all_events):
    print("behind %d of %d" % (len(feed), len(all_events)))
    sys.exit(0)
problems = []
if len(feed) != len(all_events):
    problems.append("the feed has %d records, $all %d events" % (len(feed), len(all_events)))
for i, (e, r) in enumerate(zip(all_events, feed)):
    h = r["headers"]
    want = {"evstore.stream": e["stream"], "evstore.version": str(e["version"]),
            "evstore.position": str(e["position"]), "evstore.event_id": e["event_id"],
            "evstore.type": e["type"], "evstore.partition": "0", "evstore.format": "raw",
            "content-type": "application/json"}
    got = {k: h.get(k) for k in want}
    if got != want or r["key"] != e["stream"] or json.loads(r["value"]) != e["data"]:
        problems.append("record %d: %s %s %r, expected %s %r" % (i, got, r["key"], r["value"],
                                                                  want, e["data"]))
    if len(h.get("evstore.schema", "")) != 16:
        problems.append("record %d has no 16-digit evstore.schema header" % i)
    if len(problems) > 5:
        break
if any("rejected" in r["value"] for r in feed):
    problems.append("a rejected append's event is in the feed")
print("; ".join(problems) if problems else "ok %d" % len(feed))
EOF
    )
    [[ "$result" == ok* ]] && { pass; log "$1: the feed equals \$all (${result#ok } events)"; return 0; }
    [[ "$result" == behind* ]] || fail "$1: $result"
    ((SECONDS < deadline)) || fail "$1: the feed stayed $result for 60 s"
    sleep 0.5
  done
}

# ---- A. a workload with conflicts ------------------------------------------------------

for s in 1 2 3; do
  for v in 1 2 3 4; do
    EVS_SEEDS=$SEEDS expect_ok "append Order-$s v$v" append "Order-$s" --type Placed \
      --data "{\"stream\":$s,\"n\":$v}" --expected $((v - 1)) --correlation-id "c-$s"
    # The same expected version again: refused, and never in the feed.
    EVS_SEEDS=$SEEDS expect_rc 3 "conflicting append to Order-$s" append "Order-$s" \
      --type Placed --data "{\"rejected\":\"$s-$v\"}" --expected $((v - 1))
  done
done
feed_equals_all "phase A"
jcheck 'all(r["headers"].get("evstore.correlation_id", "").startswith("c-") for r in L)' \
  "$(cat "$T/feed.ndjson")" "every record carries its correlation id header"
publishing=0
for n in p1 p2; do
  HTTP_PROJ=$n http GET /status
  [[ "$(jget 'd["feed"]["partitions"][0]["publishing"] == True' "$HTTP_BODY")" == true ]] &&
    publishing=$((publishing + 1))
done
assert_eq "$publishing" 1 "replicas that publish partition 0"

# ---- B. a Kafka Connect file sink ---------------------------------------------------------

bash "$IT_SRC_DIR/../../deploy/connect.sh" fetch || fail "cannot fetch the Kafka Connect jars"
cat >"$T/worker.properties" <<EOF
bootstrap.servers=$BROKERS
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.storage.StringConverter
offset.storage.file.filename=$T/connect.offsets
offset.flush.interval.ms=1000
listeners=http://127.0.0.1:$(free_port)
plugin.discovery=only_scan
consumer.auto.offset.reset=earliest
EOF
cat >"$T/sink.properties" <<EOF
name=evstore-feed-file-sink
connector.class=org.apache.kafka.connect.file.FileStreamSinkConnector
tasks.max=1
topics=$FEED
file=$T/sink.txt
EOF
bash "$IT_SRC_DIR/../../deploy/connect.sh" standalone "$T/worker.properties" \
  "$T/sink.properties" >"$T/connect.log" 2>&1 &
CONNECT_PID=$!
track_pid "$CONNECT_PID"
expected=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    if l.strip():
        print(json.dumps(json.loads(l)["data"], separators=(",", ":")))' "$T/all.ndjson")
deadline=$((SECONDS + 120))
until [[ -f "$T/sink.txt" && $(wc -l <"$T/sink.txt") -ge $(wc -l <<<"$expected") ]]; do
  kill -0 "$CONNECT_PID" 2>/dev/null || fail "the Connect worker exited: $(tail -n 20 "$T/connect.log")"
  ((SECONDS < deadline)) || fail "the file sink wrote $(wc -l <"$T/sink.txt" 2>/dev/null || echo 0) of $(wc -l <<<"$expected") lines in 120 s: $(tail -n 5 "$T/connect.log")"
  sleep 0.5
done
sleep 1 # anything more it would (wrongly) write
got=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    if l.strip():
        print(json.dumps(json.loads(l), separators=(",", ":")))' "$T/sink.txt")
assert_eq "$got" "$expected" "the file sink holds the accepted events' data in order"
grep -q rejected "$T/sink.txt" && fail "the file sink holds a rejected event"
pass
kill -TERM "$CONNECT_PID" 2>/dev/null || true
wait "$CONNECT_PID" 2>/dev/null || true
log "phase B: Kafka Connect's file sink wrote exactly the $(wc -l <"$T/sink.txt") accepted events"

# ---- C. the publisher killed in a loop ---------------------------------------------------

# publisher: which of p1 and p2 publishes partition 0 now (waits up to 30 s for one).
publisher() {
  local n deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    for n in p1 p2; do
      HTTP_PROJ=$n http GET /status
      [[ "$HTTP_CODE" == 200 ]] &&
        [[ "$(jget 'd["feed"]["partitions"][0]["publishing"] == True' "$HTTP_BODY")" == true ]] &&
        { printf '%s\n' "$n"; return 0; }
    done
    sleep 0.2
  done
  return 1
}
EVSTORE_PROJECTOR=$SEEDS "$LOAD" --prefix Load --streams 4 --threads 4 --any-every 0 \
  --stop-file "$T/stop.load" --out "$T/load.txt" >"$T/load.json" 2>"$T/load.err" &
LOAD_PID=$!
track_pid "$LOAD_PID"
for round in 1 2 3 4; do
  sleep 2
  who=$(publisher) || fail "round $round: no replica publishes partition 0"
  log "round $round: $who publishes"
  kill9_projector "$who"
  # Odd rounds: back within Kafka's session timeout, so it keeps the partition (static
  # membership) and reads where the feed ends itself; even rounds: away long enough for the
  # other replica to take the partition over.
  sleep $((round % 2 ? 1 : 9))
  start_projector "$who" --feed
done
touch "$T/stop.load"
wait "$LOAD_PID" || fail "evs_it_load failed: $(tail -n 5 "$T/load.err")"
jcheck 'd["violations"] == 0 and d["appends"] > 0' "$(cat "$T/load.json")" "the load ran cleanly"
log "phase C: $(cat "$T/load.json")"
feed_equals_all "phase C (4 publisher kills)"
