#!/usr/bin/env bash
# stall_test.sh - stalled subscribers cost bounded memory (docs/HTTP-API.md, "Subscriptions":
# at most one page buffered per subscriber; evstore.h: the client pauses its transfer).
#
#   1. 15,000 events of about 1 KB are appended and read once (so the store's caches are
#      warm), then the projector's resident memory (VmRSS) is the baseline.
#   2. Six raw-socket clients (sse_client.py stall) each send GET /subscriptions/all from the
#      start, with a 4 KiB receive buffer, and read nothing. evs_it_subscriber (the C API)
#      subscribes too, takes one event and stalls for 15 s.
#   3. 5,000 more events are appended while they stall.
#   4. The projector's memory grew less than 60 MB (each stalled client has about 21 MB of
#      history to send it: buffering it would take over 120 MB), and it still answers.
#      The C client's own memory grew less than 25 MB during its stall (it must pause its
#      transfer, not buffer the history).
#   5. The clients resume reading: each receives all 20,000 events, in order, exactly
#      those of read-all.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init stall "$@"
# Under AddressSanitizer (make test-asan) freed memory waits in a quarantine (256 MB by
# default) instead of being reused, which would count as growth here: keep it small. Other
# builds ignore ASAN_OPTIONS.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1:thread_local_quarantine_size_kb=64"

SSE=$IT_SRC_DIR/sse_client.py
SUBSCRIBER=$BIN_DIR/evs_it_subscriber
[[ -x "$SUBSCRIBER" ]] || fail "missing $SUBSCRIBER; build first"
BATCH=500
HISTORY_BATCHES=30
LIVE_BATCHES=10
TOTAL=$(((HISTORY_BATCHES + LIVE_BATCHES) * BATCH))
CLIENTS=6
GROWTH_MAX_KB=$((60 * 1024))
CLIENT_GROWTH_MAX_KB=$((25 * 1024))

start_projector p1
PID=$(proj_var p1 PID)
rss_detail() { grep -E '^(VmRSS|RssAnon|RssFile|Threads)' "/proc/$PID/status" | tr -s ' \t\n' ' '; }

# One append of $BATCH events of about 1 KB each (JSON, so also readable as text).
python3 - "$T/batch.ndjson" "$BATCH" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(json.dumps({"type": "Big", "data": {"i": i, "pad": ("%04d" % i) * 250}}) + "\n")
EOF
append_batches() {
  local n=$1 i
  for ((i = 0; i < n; i++)); do
    expect_ok "append batch" append "Big-$((i % 4))" --file "$T/batch.ndjson"
  done
}

append_batches "$HISTORY_BATCHES"
wait_caught_up p1 60
curl -sN --max-time 60 "$P1_URL/subscriptions/all?follow=false&encoding=base64" >/dev/null ||
  fail "could not read the history once"
sleep 1
BASE_KB=$(rss_kb p1)
log "history appended; projector RSS $((BASE_KB / 1024)) MB ($(rss_detail))"

for ((c = 1; c <= CLIENTS; c++)); do
  python3 "$SSE" stall --url "$P1_URL/subscriptions/all?encoding=base64" --count "$TOTAL" \
    --ready "$T/ready.$c" --go "$T/go" --out "$T/client.$c.json" 2>"$T/client.$c.err" &
  track_pid "$!"
  CLIENT_PIDS+=("$!")
done
EVSTORE_PROJECTOR=$P1_URL "$SUBSCRIBER" --all --count "$TOTAL" --stall-ms 15000 \
  --out "$T/c_api.txt" --timeout-s 110 >"$T/c_api.json" 2>"$T/c_api.err" </dev/null &
C_API=$!
track_pid "$C_API"
for ((c = 1; c <= CLIENTS; c++)); do
  deadline=$((SECONDS + 10))
  while [[ ! -e "$T/ready.$c" ]] && ((SECONDS < deadline)); do sleep 0.1; done
  [[ -e "$T/ready.$c" ]] || fail "stalled client $c did not connect: $(cat "$T/client.$c.err")"
done
sleep 2

append_batches "$LIVE_BATCHES"
wait_caught_up p1 60
sleep 2
STALLED_KB=$(rss_kb p1)
log "while $CLIENTS clients stall: projector RSS $((STALLED_KB / 1024)) MB" \
  "(grew $(((STALLED_KB - BASE_KB) / 1024)) MB; $(rss_detail))"
((STALLED_KB - BASE_KB < GROWTH_MAX_KB)) ||
  fail "the projector's memory grew by $(((STALLED_KB - BASE_KB) / 1024)) MB with $CLIENTS" \
    "stalled subscribers (limit $((GROWTH_MAX_KB / 1024)) MB)"
pass
http GET /health
assert_eq "$HTTP_CODE" 200 "GET /health while subscribers stall"

touch "$T/go"
evs read-all
assert_eq "$RC" 0 "read-all: $ERR"
jget '[e["event_id"] for e in L]' "$OUT" >"$T/expected.json"
jcheck "len(d) == $TOTAL" "$(cat "$T/expected.json")" "read-all has every event"
EXPECTED="json.load(open('$T/expected.json'))"
for ((c = 1; c <= CLIENTS; c++)); do
  rc=0
  wait "${CLIENT_PIDS[$((c - 1))]}" || rc=$?
  assert_eq "$rc" 0 "stalled client $c exit status (stderr: $(cat "$T/client.$c.err"))"
  jcheck "d['status'].startswith('HTTP/1.1 200') and [e[0] for e in d['events']] == list(range(1, $TOTAL + 1)) and [e[1] for e in d['events']] == $EXPECTED" \
    "$(cat "$T/client.$c.json")" "stalled client $c received every event once, in order"
done

rc=0
wait "$C_API" || rc=$?
assert_eq "$rc" 0 "evs_it_subscriber exit status (stderr: $(cat "$T/c_api.err"))"
SUMMARY=$(cat "$T/c_api.json")
log "C API subscriber: $SUMMARY"
jcheck "d['events'] == $TOTAL and d['violations'] == 0 and d['rss_stalled_kb'] - d['rss_before_kb'] < $CLIENT_GROWTH_MAX_KB" \
  "$SUMMARY" "the C API subscriber got everything and its memory stayed bounded while stalled"
jcheck "$EXPECTED == [l.split()[3] for l in text.splitlines()]" "$(cat "$T/c_api.txt")" \
  "the C API subscriber's events are those of read-all"
