#!/usr/bin/env bash
# subscribers_test.sh - many idle subscribers cannot starve appends, verdicts and reads
# (http_api.c: subscriptions have a cap of their own and 300 connections stay for the rest).
#  1. 600 idle subscriptions open (idle_subscribers.py) while appends (CLI, so a produce
#     and a verdict each), HTTP appends and reads keep working; their latencies are printed
#     (no thresholds: tests do not assert on wall-clock speed), and all 600 are still open
#     35 s later (past the 30 s idle timeout: the heartbeat keeps them);
#  2. with --max-subscriptions 20, the 21st is refused at once with 503 naming the cap,
#     while appends and reads still work.
source "$(dirname "$0")/lib.sh"
it_init subscribers "$@"

start_projector p1
# timed DESCRIPTION CMD...: runs CMD (which must succeed), prints its latency in ms.
LAT=()
timed() {
  local desc=$1 t0 t1
  shift
  t0=$(date +%s%N)
  "$@" >"$T/timed.out" 2>&1 || fail "$desc failed while the subscribers were open: $(cat "$T/timed.out")"
  t1=$(date +%s%N)
  LAT+=($(((t1 - t0) / 1000000)))
}
round() { # LABEL: appends, HTTP appends, reads, each 10 times; prints the latencies
  local label=$1 i
  LAT=()
  for i in $(seq 1 10); do
    timed "append" "$CLI_BIN" --brokers "$BROKERS" --projector "$P1_URL" --topic "$TOPIC" \
      append "Load-$label" --type Tick --data "{\"i\":$i}"
  done
  log "$label: evstore append (produce + verdict), ms: ${LAT[*]}"
  LAT=()
  for i in $(seq 1 10); do
    timed "HTTP append" curl -sf --max-time 30 -X POST -H 'Content-Type: application/json' \
      -d '{"events":[{"type":"Tick","data":{}}]}' "$P1_URL/streams/Http-$label"
  done
  log "$label: POST /streams, ms: ${LAT[*]}"
  LAT=()
  for i in $(seq 1 10); do
    timed "read" curl -sf --max-time 30 "$P1_URL/streams/Load-$label"
  done
  log "$label: GET /streams/{stream}, ms: ${LAT[*]}"
  pass
}

round before
python3 "$IT_SRC_DIR/idle_subscribers.py" "$P1_URL" 600 "$T/ready" >"$T/subs.out" 2>&1 &
SUBS=$!
track_pid "$SUBS"
for _ in $(seq 1 1200); do
  [[ -s "$T/ready" ]] && break
  kill -0 "$SUBS" 2>/dev/null || fail "idle_subscribers.py ended early: $(cat "$T/subs.out")"
  sleep 0.1
done
assert_eq "$(cat "$T/ready")" "open 600" "600 subscriptions open: $(cat "$T/subs.out")"
log "$(head -1 "$T/subs.out")"
round with-600-subscribers
# Past the 30 s idle timeout: the heartbeat (every 10 s) keeps an idle subscription open.
sleep 35
round after-35-s
http GET /health
assert_eq "$HTTP_CODE" 200 "GET /health with 600 subscribers"
kill -TERM "$SUBS"
rc=0
wait "$SUBS" || rc=$?
assert_eq "$rc" 0 "every subscription stayed open: $(cat "$T/subs.out")"
log "$(tail -1 "$T/subs.out")"
stop_projector p1

# The cap: 20 open, the 21st refused at once; the reserve keeps appends and reads going.
start_projector p1 --max-subscriptions 20
python3 "$IT_SRC_DIR/idle_subscribers.py" "$P1_URL" 21 "$T/ready2" --expect-refused 1 \
  >"$T/subs2.out" 2>&1 &
SUBS=$!
track_pid "$SUBS"
for _ in $(seq 1 600); do
  [[ -s "$T/ready2" ]] && break
  kill -0 "$SUBS" 2>/dev/null || fail "idle_subscribers.py ended early: $(cat "$T/subs2.out")"
  sleep 0.1
done
assert_eq "$(cat "$T/ready2")" "open 20" "20 of 21 subscriptions open: $(cat "$T/subs2.out")"
assert_match "$(cat "$T/subs2.out")" 'refused as expected: .*20 subscriptions open, its most' \
  "the 21st is refused naming the cap"
round at-the-cap
kill -TERM "$SUBS"
rc=0
wait "$SUBS" || rc=$?
assert_eq "$rc" 0 "the 20 stayed open and the 21st was refused: $(cat "$T/subs2.out")"
stop_projector p1
log "passed: $IT_CHECKS checks"
