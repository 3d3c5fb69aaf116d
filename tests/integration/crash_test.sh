#!/usr/bin/env bash
# crash_test.sh - kill -9 the projector at random moments under a steady append load
# (reliability.md, "Projector crash").
#
# Several evs_it_load processes (load.c) append to 6 shared streams, with exact expected
# versions and sometimes `any`, settling every unknown outcome by its append id and
# recording every append they saw accepted. Meanwhile the projector is killed with SIGKILL
# EVS_IT_CRASH_KILLS times (default 5) at random moments (one of them right after it came
# back up) and restarted on the same data dir; after each restart the load must make
# progress again. Then the load stops and the test asserts:
#   - the load processes saw no contract violation and settled every append;
#   - verify_store.py on the crashed projector: every accepted append is stored once at its
#     version with its event id, nothing else is stored, streams and $all are gapless;
#   - its --hash equals the --hash of a fresh projector (new data dir, new group,
#     --rebuild) that replayed the topic from offset 0, and of the crashed data dir rebuilt
#     with --rebuild; the hash counts every recorded event and the stored next offset is
#     the topic's end offset.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init crash "$@"

KILLS=${EVS_IT_CRASH_KILLS:-5}
PROCS=${EVS_IT_CRASH_PROCS:-3}
THREADS=${EVS_IT_CRASH_THREADS:-4}
STREAMS=6

records_count() { cat "$T"/load.*.txt 2>/dev/null | wc -l; }

# wait_progress N SECONDS: waits until the writers have recorded more than N events.
wait_progress() {
  local base=$1 secs=$2 deadline=$((SECONDS + $2)) pid
  while (($(records_count) <= base)); do
    for pid in "${LOADS[@]}"; do
      kill -0 "$pid" 2>/dev/null || fail "load generator $pid died (stderr: $(cat "$T"/load.*.err))"
    done
    ((SECONDS < deadline)) || fail "the load made no progress within ${secs}s (still $base events)"
    sleep 0.1
  done
  pass
}

# rand_ms LO HI: a random number of milliseconds in [LO, HI], as seconds for sleep.
rand_sleep() { python3 -c "import random; print(random.uniform($1, $2))"; }

start_projector p1

LOADS=()
for ((i = 1; i <= PROCS; i++)); do
  EVSTORE_PROJECTOR=$P1_URL "$BIN_DIR/evs_it_load" --prefix Load --streams $STREAMS \
    --threads "$THREADS" --stop-file "$T/stop" --out "$T/load.$i.txt" --any-every 4 \
    --verdict-timeout-ms 3000 >"$T/load.$i.json" 2>"$T/load.$i.err" </dev/null &
  LOADS+=($!)
  track_pid "$!"
done
wait_progress 0 60
log "load running: ${#LOADS[@]} processes x $THREADS threads"

for ((k = 1; k <= KILLS; k++)); do
  if ((k == 3)); then
    : # kill right after the previous restart answered /health (during its catch-up)
  else
    wait_progress "$(records_count)" 60
    sleep "$(rand_sleep 0.3 2.5)"
  fi
  before=$(records_count)
  kill9_projector p1
  sleep "$(rand_sleep 0 0.8)"
  start_projector p1
  log "kill $k/$KILLS done; $before events accepted before it"
done
wait_progress "$(records_count)" 60
sleep 1

touch "$T/stop"
for ((i = 0; i < ${#LOADS[@]}; i++)); do
  pid=${LOADS[$i]}
  deadline=$((SECONDS + 200))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && fail "load generator $pid did not stop within 200 s"
  rc=0
  wait "$pid" || rc=$?
  summary=$(cat "$T/load.$((i + 1)).json")
  log "load $((i + 1)): exit $rc $summary"
  [[ -s "$T/load.$((i + 1)).err" ]] && sed 's/^/    /' "$T/load.$((i + 1)).err" | head -20 >&2
  assert_eq "$rc" 0 "load generator $((i + 1)) exit status (violations or unsettled appends)"
  jcheck 'd["violations"] == 0 and d["unsettled"] == 0 and d["appends"] > 0' "$summary" \
    "load generator $((i + 1)) settled every append with no contract violation"
done
TOTAL=$(records_count)
log "$TOTAL events accepted in total"

wait_caught_up p1 60
v=$(python3 "$IT_SRC_DIR/verify_store.py" --url "$P1_URL" --prefix Load --streams $STREAMS \
  --exact "$T"/load.*.txt) || fail "verify_store.py on the crashed projector: $v"
log "verify p1: $v"
jcheck 'd["recorded"] == '"$TOTAL"' and d["stored"] == d["recorded"] and d["all"] == d["stored"]' \
  "$v" "the crashed projector stores exactly the accepted events"
stop_projector p1
ENDS=$(topic_end_offsets)
h1=$(projector_hash p1)
log "hash p1 (crashed $KILLS times): $h1"
IT_E=$ENDS jcheck 'd["events"] == '"$TOTAL"' and d["streams_count"] == '"$STREAMS"' and d["next_offsets"] == E' \
  "$h1" "p1's hash counts every accepted event; its next offset is the topic's end"

start_projector p2 --rebuild
wait_caught_up p2 120
v=$(python3 "$IT_SRC_DIR/verify_store.py" --url "$P2_URL" --prefix Load --streams $STREAMS \
  --exact "$T"/load.*.txt) || fail "verify_store.py on the rebuilt projector: $v"
stop_projector p2
h2=$(projector_hash p2)
log "hash p2 (fresh dir, --rebuild): $h2"
IT_E=$h1 jcheck 'd == E' "$h2" "a clean rebuild from offset 0 has the same hash as the crashed projector"

start_projector p1 --rebuild
wait_caught_up p1 120
stop_projector p1
h3=$(projector_hash p1)
IT_E=$h1 jcheck 'd == E' "$h3" "--rebuild of the crashed data dir gives the same hash again"
