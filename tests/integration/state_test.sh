#!/usr/bin/env bash
# state_test.sh - saved state lives in Kafka (docs/ARCHITECTURE.md, "The state topic"):
#   A. checkpoints, snapshots and a consumer group saved through replica a are served by
#      replica b; a delete through b is seen by a.
#   B. b's disk is deleted: restarted empty, it serves everything saved through a, the
#      group's progress included.
#   C. the consumer group's coordinator is killed (SIGKILL) while its members, seeded with
#      both replicas, work: the other replica takes the group over; every event is
#      processed, each stream in version order, and nothing below the checkpoint stored
#      before the kill is processed again.
#   D. a store from before the state topic (its local state, no state-topic offsets; made
#      with RocksDB's ldb) moves its state to an empty state topic once at start, with a
#      line in the log; a new replica then serves it.
source "$(dirname "$0")/lib.sh"
it_init state "$@"

MEMBER=$BIN_DIR/evs_it_group_member
[[ -x "$MEMBER" ]] || fail "missing program $MEMBER; build first"
LDB=$(command -v ldb || command -v rocksdb_ldb || true)
[[ -n "$LDB" ]] || fail "RocksDB's ldb is missing (deploy/setup.sh installs rocksdb-tools)"

start_projector a
start_projector b
SEEDS="$A_URL,$B_URL"

# on NAME METHOD PATH [CURL ARGS...]: http against projector NAME.
on() { local name=$1; shift; HTTP_PROJ=$name http "$@"; }

# until_code NAME CODE SECONDS METHOD PATH: retries the request until it answers CODE.
until_code() {
  local name=$1 code=$2 secs=$3 deadline
  shift 3
  deadline=$((SECONDS + secs))
  while :; do
    on "$name" "$@"
    [[ "$HTTP_CODE" == "$code" ]] && { pass; return 0; }
    ((SECONDS < deadline)) || fail "$* on $name answered $HTTP_CODE, not $code, for ${secs}s: $HTTP_BODY"
    sleep 0.1
  done
}

produce() {
  "$MEMBER" produce --projector "$SEEDS" "$@" 2>"$T/produce.err" ||
    fail "evs_it_group_member produce $* failed: $(cat "$T/produce.err")"
}

# ---- A. saved through a, served by b ---------------------------------------------------

produce --category Order --streams 6 --events 60 >/dev/null
on a PUT /checkpoints/reader-1 -d '{"position":41}'
assert_eq "$HTTP_CODE" 200 "checkpoint saved through a"
on a PUT /snapshots/Order-1 -d '{"version":3,"schema_version":2,"data":{"total":1.10}}'
assert_eq "$HTTP_CODE" 200 "snapshot saved through a"
on a PUT /checkpoints/gone-1 -d '{"position":7}'
assert_eq "$HTTP_CODE" 200 "a second checkpoint saved through a"
# b applies the state topic on its own: what a saved reaches it within moments.
until_code b 200 10 GET /checkpoints/reader-1
jcheck 'd["position"] == 41' "$HTTP_BODY" "b serves the checkpoint saved through a"
until_code b 200 10 GET /snapshots/Order-1
jcheck 'd["version"] == 3 and d["schema_version"] == 2 and d["data"] == {"total": 1.10}' \
  "$HTTP_BODY" "b serves the snapshot saved through a, data as written"
until_code b 200 10 DELETE /checkpoints/gone-1
until_code a 404 10 GET /checkpoints/gone-1

# A group, coordinated by whichever replica Kafka chose; the other answers 421.
EVS_SEEDS=$SEEDS expect_ok "group create" group create billing --category Order \
  --ack-timeout-ms 5000 --member-timeout-ms 2000
on a GET /groups/billing
CODE_A=$HTTP_CODE
on b GET /groups/billing
CODE_B=$HTTP_CODE
if [[ $CODE_A == 200 && $CODE_B == 421 ]]; then COORD=a OTHER=b
elif [[ $CODE_A == 421 && $CODE_B == 200 ]]; then COORD=b OTHER=a
else fail "GET /groups/billing answered $CODE_A on a and $CODE_B on b: one coordinator expected"
fi
on "$OTHER" GET /groups/billing
jcheck 'd["error_type"] == "not_coordinator" and d["group"] == "billing"' "$HTTP_BODY" \
  "the other replica's 421 names the group"
log "consumer group billing is coordinated by $COORD"
# Half the events, acked by one member through the seeds.
"$MEMBER" consume --projector "$SEEDS" --group billing --out "$T/first.out" --max-events 30 \
  >"$T/first.log" 2>&1 || fail "the first member failed: $(tail -n 5 "$T/first.log")"
on "$COORD" GET /groups/billing
CHECKPOINT_A=$(jget 'd["checkpoint"]' "$HTTP_BODY")
((CHECKPOINT_A > 1)) || fail "the group's checkpoint did not move: $HTTP_BODY"
pass

# ---- B. b's disk deleted -----------------------------------------------------------------

# coordinator NAME...: prints which of the replicas answers the group's status.
coordinator() {
  local n
  for n in "$@"; do
    on "$n" GET /groups/billing
    [[ "$HTTP_CODE" == 200 ]] && { printf '%s\n' "$n"; return 0; }
  done
  return 1
}

kill9_projector b
rm -rf "$B_DIR"
start_projector b
on b GET /checkpoints/reader-1
jcheck 'd["position"] == 41' "$HTTP_BODY" "b, restarted on an empty disk, serves the checkpoint"
on b GET /snapshots/Order-1
jcheck 'd["version"] == 3 and d["data"] == {"total": 1.10}' "$HTTP_BODY" \
  "b, restarted on an empty disk, serves the snapshot"
on b GET /checkpoints/gone-1
assert_eq "$HTTP_CODE" 404 "the deleted checkpoint stays deleted on the rebuilt b"
on b GET /groups
jcheck '[g["name"] for g in d["groups"]] == ["billing"]' "$HTTP_BODY" "b lists the group"
# Whoever coordinates the group now has its progress (b may have taken some partitions).
deadline=$((SECONDS + 20))
until COORD=$(coordinator a b); do
  ((SECONDS < deadline)) || fail "no replica serves group billing after b's restart"
  sleep 0.2
done
on "$COORD" GET /groups/billing
jcheck "d[\"checkpoint\"] >= $CHECKPOINT_A" "$HTTP_BODY" "the group's progress survived b's disk"

# ---- C. the coordinator killed while members work ----------------------------------------

wait_caught_up a
FROM_C=1
LAST_C=$(produce --category Order --streams 12 --events 240)
for m in c1 c2; do
  "$MEMBER" consume --projector "$SEEDS" --group billing --out "$T/$m.out" --delay-ms 20 \
    >>"$T/$m.log" 2>&1 </dev/null &
  track_pid "$!"
  eval "PID_$m=$!"
  touch "$T/$m.out"
done
deadline=$((SECONDS + 60))
while :; do
  COORD=$(coordinator a b) || COORD=
  if [[ -n "$COORD" ]]; then
    on "$COORD" GET /groups/billing
    [[ "$(jget "d[\"checkpoint\"] >= $CHECKPOINT_A + 60" "$HTTP_BODY")" == true ]] && break
  fi
  ((SECONDS < deadline)) || fail "the members made no progress: $HTTP_BODY"
  sleep 0.2
done
CHECKPOINT_BEFORE=$(jget 'd["checkpoint"]' "$HTTP_BODY")
jcheck "d[\"checkpoint\"] <= $LAST_C" "$HTTP_BODY" "phase C: still working at the kill"
if [[ $COORD == a ]]; then SURVIVOR=b; else SURVIVOR=a; fi
kill9_projector "$COORD"
KILL_US=$(($(date +%s%N) / 1000))
# The survivor takes the group over after Kafka's session timeout, and finishes it.
deadline=$((SECONDS + 90))
while :; do
  on "$SURVIVOR" GET /groups/billing
  [[ "$HTTP_CODE" == 200 ]] &&
    [[ "$(jget "d[\"checkpoint\"] == d[\"last_position\"] + 1 and d[\"last_position\"] >= $LAST_C and d[\"in_flight\"] == 0" "$HTTP_BODY")" == true ]] &&
    break
  ((SECONDS < deadline)) || fail "the survivor $SURVIVOR did not finish the group: $HTTP_CODE $HTTP_BODY"
  sleep 0.2
done
pass
TAKEOVER_S=$(( ($(date +%s%N) / 1000 - KILL_US) / 1000000 ))
jcheck "d[\"checkpoint\"] >= $CHECKPOINT_BEFORE" "$HTTP_BODY" \
  "the survivor resumed at or after the checkpoint stored before the kill"
EVS_PROJ=$SURVIVOR read_all_json >"$T/all.ndjson"
python3 "$IT_SRC_DIR/group_check.py" processed "$T/all.ndjson" Order "$T/first.out" \
  "$T/c1.out" "$T/c2.out" --from-position "$FROM_C" --restart-us "$KILL_US" \
  --checkpoint-before "$CHECKPOINT_BEFORE" >"$T/check.out" 2>&1 ||
  fail "phase C: $(cat "$T/check.out")"
pass
log "phase C: coordinator $COORD killed, $SURVIVOR finished the group (done ${TAKEOVER_S}s after the kill): $(cat "$T/check.out")"
kill -TERM "$PID_c1" "$PID_c2" 2>/dev/null || true
wait "$PID_c1" "$PID_c2" 2>/dev/null || true

# ---- D. a store from before the state topic ---------------------------------------------

MAIN_TOPIC=$TOPIC
TOPIC=$MAIN_TOPIC.old
start_projector old
EVS_PROJ=old expect_ok "append to the old store" append Order-9 --type Placed --data '{}'
on old PUT /checkpoints/legacy-1 -d '{"position":9}'
assert_eq "$HTTP_CODE" 200 "checkpoint saved on the old store"
on old PUT /snapshots/Order-9 -d '{"version":1,"data":{"n":9}}'
assert_eq "$HTTP_CODE" 200 "snapshot saved on the old store"
stop_projector old
# What a store written before the state topic looks like: the same local state, and no
# offsets of a state topic ('L' "T/" keys), which does not exist.
"$TOPIC_TOOL" delete "$BROKERS" "$TOPIC.state" >/dev/null || fail "could not delete $TOPIC.state"
"$LDB" --db="$OLD_DIR" deleterange 0x4C542F 0x4C5430 --hex >"$T/ldb.out" 2>&1 ||
  fail "ldb deleterange failed: $(cat "$T/ldb.out")"
"$LDB" --db="$OLD_DIR" scan --from=0x4C542F --to=0x4C5430 --hex >"$T/ldb.scan" 2>&1 ||
  fail "ldb scan failed: $(cat "$T/ldb.scan")"
[[ ! -s "$T/ldb.scan" ]] || fail "state-topic offsets left in the old store: $(head -n 3 "$T/ldb.scan")"
# Wait until the broker no longer has the topic, so that the projector creates it anew.
deadline=$((SECONDS + 30))
while "$TOPIC_TOOL" end-offsets "$BROKERS" "$TOPIC.state" >/dev/null 2>&1; do
  ((SECONDS < deadline)) || fail "$TOPIC.state still exists 30 s after its deletion"
  sleep 0.5
done
start_projector old
grep -q "moved [0-9]* records of saved state" "$OLD_LOG" ||
  fail "no log line about moving the old store's state: $(tail -n 5 "$OLD_LOG")"
MOVED=$(grep -o "moved [0-9]* records" "$OLD_LOG" | tail -n 1)
assert_eq "$MOVED" "moved 2 records" "the old store's checkpoint and snapshot moved"
start_projector fresh
on fresh GET /checkpoints/legacy-1
jcheck 'd["position"] == 9' "$HTTP_BODY" "a new replica serves the moved checkpoint"
on fresh GET /snapshots/Order-9
jcheck 'd["version"] == 1 and d["data"] == {"n": 9}' "$HTTP_BODY" \
  "a new replica serves the moved snapshot"
stop_projector fresh
stop_projector old
# A second start moves nothing again.
start_projector old
assert_eq "$(grep -c "moved [0-9]* records of saved state" "$OLD_LOG")" 1 "the move happens once"
stop_projector old
"$TOPIC_TOOL" delete "$BROKERS" "$TOPIC" >/dev/null || true
"$TOPIC_TOOL" delete "$BROKERS" "$TOPIC.state" >/dev/null || true
"$TOPIC_TOOL" delete "$BROKERS" "$TOPIC.members" >/dev/null || true
TOPIC=$MAIN_TOPIC

