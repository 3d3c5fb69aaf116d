#!/usr/bin/env bash
# replica_kill.sh - kill -9 one of three hot replicas while clients that know all three seed
# URLs append and read: no client sees an error (single local broker).
#
# p1, p2 and p3 serve the topic; every client is given "P1_URL,P2_URL,P3_URL" and routes by
# GET /cluster (libevstore). Writers: 2 evs_it_load x 2 threads. Readers: 2 loops of
# `evstore read` of the writers' streams. p1, the first seed (the one the clients use
# first), is killed with SIGKILL mid-run. Asserts:
#   - every append was accepted without an unknown outcome or "unavailable", every read
#     exited 0: nothing visible to a client; the longest append and read are printed;
#   - no accepted event lost or stored twice (verify_store.py --exact on p2);
#   - p1, restarted on its disk, catches up and stores the same; all three --hash are equal,
#     and equal to a fresh --rebuild's.
# shellcheck source=tests/failover/failover_lib.sh
source "$(dirname "$0")/failover_lib.sh"
fo_init replica_kill "$@"

start_projector p1
start_projector p2
start_projector p3
SEEDS="$P1_URL,$P2_URL,$P3_URL"
for n in p1 p2 p3; do
  deadline=$((SECONDS + 20))
  until HTTP_PROJ=$n http GET /cluster &&
    [[ "$(jget 'sum(m["live"] for m in d["members"]) == 3' "$HTTP_BODY")" == true ]]; do
    ((SECONDS < deadline)) || fail "$n's /cluster does not list three live members: $HTTP_BODY"
    sleep 0.3
  done
done
pass

fo_start_load 2 2 Load 6 "$SEEDS"
fo_wait_progress 0 60
# Readers start once every stream has an event (a read of a stream not created yet is 404).
for s in 0 1 2 3 4 5; do
  deadline=$((SECONDS + 30))
  until HTTP_PROJ=p2 http GET "/streams/Load-$s" && [[ "$HTTP_CODE" == 200 ]]; do
    ((SECONDS < deadline)) || fail "stream Load-$s has no event after 30 s"
    sleep 0.2
  done
done
# reader N: reads the streams in turn through the seed list until $T/stop.read exists;
# one line "exit_code ms" per read in $T/reader.N.txt.
reader() {
  local r=$1 i=0 t0 rc
  while [[ ! -e "$T/stop.read" ]]; do
    t0=$(now_ms)
    rc=0
    timeout -k 5 60 "$CLI_BIN" --brokers "$BROKERS" --projector "$SEEDS" --topic "$TOPIC" \
      --timeout-ms 10000 read "Load-$((i % 6))" >/dev/null 2>>"$T/reader.$r.err" || rc=$?
    echo "$rc $(($(now_ms) - t0))" >>"$T/reader.$r.txt"
    i=$((i + 1))
  done
}
reader 1 &
READER1=$!
track_pid "$READER1"
reader 2 &
READER2=$!
track_pid "$READER2"
sleep 4
before=$(records_count)
kill9_projector p1
log "killed p1 after $before accepted events"
sleep 6
fo_wait_progress "$before" 30
touch "$T/stop.read"
wait "$READER1" "$READER2"
fo_stop_load Load

for f in "$T"/load.Load.*.json; do
  jcheck 'd["unknown_outcome"] == 0 and d["unavailable"] == 0' "$(cat "$f")" \
    "${f##*/}: no append ended in an unknown outcome or unavailable"
done
MAX_APPEND=$(cat "$T"/load.Load.*.json | python3 -c 'import json,sys; print(max(json.loads(l)["max_append_ms"] for l in sys.stdin))')
READS=$(cat "$T"/reader.*.txt | wc -l)
FAILED_READS=$(awk '$1 != 0' "$T"/reader.*.txt | wc -l)
MAX_READ=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$T"/reader.*.txt)
((READS > 20)) || fail "only $READS reads ran"
assert_eq "$FAILED_READS" 0 "reads that exited non-zero (stderr: $(head -c 400 "$T"/reader.*.err 2>/dev/null))"
log "appends: $FO_LOAD_APPENDS, longest $MAX_APPEND ms; reads: $READS, longest $MAX_READ ms"

fo_wait_applied p2 60
fo_verify p2 Load 6 "$T"/load.Load.*.txt
start_projector p1
wait_caught_up p1 60
fo_verify p1 Load 6 "$T"/load.Load.*.txt
stop_projector p1
stop_projector p3
H1=$(projector_hash p1)
H3=$(projector_hash p3)
fo_hash_equal_rebuild p2 p4
IT_E=$FO_HASH jcheck 'd == E' "$H1" "the restarted p1's store equals p2's and a rebuild's"
IT_E=$FO_HASH jcheck 'd == E' "$H3" "p3's store equals p2's and a rebuild's"
fo_fact "kill -9 of 1 of 3 replicas under load: $FO_LOAD_APPENDS appends (longest $MAX_APPEND ms) and $READS reads (longest $MAX_READ ms), none failed; $FO_VERIFIED events verified; 3 stores equal a rebuild"
