#!/usr/bin/env bash
# group_test.sh - consumer groups end to end (docs/HTTP-API.md, "Consumer groups"), with
# the member program evs_it_group_member (group_member.c, the C API) and the CLI:
#   A. three members share a category; one is killed with SIGKILL mid-work. Every event is
#      processed at least once, events of other categories never, each stream's events are
#      processed in version order (a redelivery repeats a version, nothing goes back), only
#      the killed member's last events are processed twice, and its streams go on elsewhere.
#   B. nacks and ack timeouts: an event is delivered max_attempts times, then parked with
#      the reason; its stream goes on; `evstore group parked` lists it, `replay-parked`
#      delivers it again.
#   C. the projector is killed (SIGKILL) while members work and started again: the members
#      join again by themselves, nothing below the checkpoint stored before the kill is
#      delivered again, and everything is processed.
source "$(dirname "$0")/lib.sh"
it_init group "$@"

MEMBER=$BIN_DIR/evs_it_group_member
[[ -x "$MEMBER" ]] || fail "missing program $MEMBER; build first"

start_projector p1

# produce ARGS...: appends with the C API (see group_member.c); prints the last position.
produce() {
  "$MEMBER" produce --projector "$P1_URL" "$@" 2>"$T/produce.err" ||
    fail "evs_it_group_member produce $* failed: $(cat "$T/produce.err")"
}

# start_member NAME GROUP [ARGS...]: a member process writing $T/NAME.out; sets NAME's pid.
declare -A MEMBER_PID
start_member() {
  local name=$1 group=$2
  shift 2
  "$MEMBER" consume --projector "$P1_URL" --group "$group" --out "$T/$name.out" "$@" \
    >>"$T/$name.log" 2>&1 </dev/null &
  MEMBER_PID[$name]=$!
  track_pid "$!"
  touch "$T/$name.out"
}

# stop_member NAME: SIGTERM (the member leaves), and a clean exit.
stop_member() {
  local name=$1 pid rc=0
  pid=${MEMBER_PID[$name]}
  kill -TERM "$pid" 2>/dev/null || fail "member $name (pid $pid) was not running"
  wait "$pid" || rc=$?
  [[ $rc -eq 0 ]] || fail "member $name exited $rc: $(tail -n 5 "$T/$name.log")"
  pass
}

# group_status GROUP: GET /groups/GROUP (must answer 200).
group_status() {
  http GET "/groups/$1"
  [[ "$HTTP_CODE" == 200 ]] || fail "GET /groups/$1 answered $HTTP_CODE: $HTTP_BODY"
  printf '%s\n' "$HTTP_BODY"
}

# wait_group GROUP EXPR SECONDS: waits until EXPR holds for the group's status.
wait_group() {
  local group=$1 expr=$2 secs=$3 deadline status
  deadline=$((SECONDS + secs))
  while :; do
    status=$(group_status "$group")
    [[ "$(jget "$expr" "$status")" == true ]] && { pass; return 0; }
    ((SECONDS < deadline)) || fail "group $group: '$expr' not true within ${secs}s: $status"
    sleep 0.2
  done
}

# Everything processed: the checkpoint is past the partition's last event, nothing in flight.
ALL_DONE='d["checkpoint"] == d["last_position"] + 1 and d["in_flight"] == 0 and d["pending"] == 0'

lines() { cat "$@" 2>/dev/null | wc -l; }

# ---- A. three members, one killed ------------------------------------------------------

produce --category User --streams 2 --events 10 >/dev/null
produce --category Order --streams 12 --events 180 >/dev/null
expect_ok "group create" group create g1 --category Order --ack-timeout-ms 5000 \
  --max-attempts 10 --member-timeout-ms 1500
jcheck 'd["source"] == "category:Order" and d["max_attempts"] == 10 and d["members"] == []' \
  "$OUT" "group create prints the new group's status"
expect_rc 2 "group create with another source" group create g1 --all
expect_rc 6 "status of a group that does not exist" group status nosuch

start_member m1 g1 --delay-ms 15
start_member m2 g1 --delay-ms 15
start_member m3 g1 --delay-ms 15
LAST_A=$(produce --category Order --streams 12 --events 90)
wait_group g1 'len(d["members"]) == 3' 20
deadline=$((SECONDS + 30))
until (($(lines "$T/m2.out") >= 15)); do
  ((SECONDS < deadline)) || fail "member m2 processed $(lines "$T/m2.out") events in 30 s"
  sleep 0.1
done
KILL_US=$(($(date +%s%N) / 1000))
kill -KILL "${MEMBER_PID[m2]}"
wait "${MEMBER_PID[m2]}" 2>/dev/null || true
log "member m2 killed after $(lines "$T/m2.out") events"
wait_group g1 "$ALL_DONE and d[\"last_position\"] >= $LAST_A" 60
wait_group g1 'len(d["members"]) == 2' 10

read_all_json >"$T/all.ndjson"
python3 "$IT_SRC_DIR/group_check.py" processed "$T/all.ndjson" Order "$T/m1.out" "$T/m3.out" \
  --killed "$T/m2.out" --kill-us "$KILL_US" >"$T/check.out" 2>&1 ||
  fail "phase A: $(cat "$T/check.out")"
pass
log "phase A: $(cat "$T/check.out")"
status=$(group_status g1)
jcheck 'd["parked"] == 0 and d["window"] == 0 and all(m["in_flight"] == 0 for m in d["members"])' \
  "$status" "phase A: nothing parked or held at the end"

# ---- B. retries, parking, replay -------------------------------------------------------

expect_ok "group create g2" group create g2 --category Retry --ack-timeout-ms 700 \
  --max-attempts 3 --member-timeout-ms 5000
expect_ok "append" append Retry-1 --type Nack --data '{}'
expect_ok "append" append Retry-2 --type Silent --data '{}'
expect_ok "append" append Retry-1 --type Work --data '{}'
expect_ok "append" append Retry-2 --type Work --data '{}'
expect_ok "append" append Retry-3 --type Work --data '{}'
start_member r1 g2
wait_group g2 "$ALL_DONE and d[\"parked\"] == 2" 30
stop_member r1
# Retry-1 v1 was nacked three times, Retry-2 v1 timed out three times; each stream went on
# only after its first event was parked.
jcheck '(
[(f[1], int(f[2]), int(f[4]), f[6]) for f in (l.split() for l in text.splitlines())
 if f[1] == "Retry-1"] == [("Retry-1", 1, 1, "Nack"), ("Retry-1", 1, 2, "Nack"),
                           ("Retry-1", 1, 3, "Nack"), ("Retry-1", 2, 1, "Work")]
and [(int(f[2]), int(f[4])) for f in (l.split() for l in text.splitlines())
     if f[1] == "Retry-2"] == [(1, 1), (1, 2), (1, 3), (2, 1)]
and [int(f[4]) for f in (l.split() for l in text.splitlines()) if f[1] == "Retry-3"] == [1]
)' "$(cat "$T/r1.out")" "phase B: attempts up to max_attempts, then the stream goes on"
expect_ok "group parked" group parked g2
jcheck '(len(L) == 2 and sorted((p["stream"], p["attempts"], p["reason"]) for p in L) ==
         [("Retry-1", 3, "nacked"), ("Retry-2", 3, "ack_timeout")])' \
  "$OUT" "phase B: evstore group parked lists both with their reasons"
PARKED_POSITIONS=$(jget 'sorted(p["position"] for p in L)' "$OUT")
expect_ok "group parked --limit 1" group parked g2 --limit 1
jcheck 'len(L) == 1' "$OUT" "group parked --limit 1 prints one"
REPLAY_US=$(($(date +%s%N) / 1000))
expect_ok "group replay-parked" group replay-parked g2
jcheck 'd == {"group": "g2", "replayed": 2}' "$OUT" "phase B: replay-parked replays both"
start_member r2 g2 --ack-all 1
wait_group g2 "$ALL_DONE and d[\"parked\"] == 0 and d[\"replaying\"] == 0" 20
stop_member r2
IT_E="{\"p\": $PARKED_POSITIONS, \"t\": $REPLAY_US}" jcheck '(
sorted((int(f[3]), int(f[4])) for f in (l.split() for l in text.splitlines())
       if int(f[0]) > E["t"]) == [(p, 1) for p in E["p"]])' \
  "$(cat "$T/r2.out")" "phase B: the replayed events were delivered again, and only they"
expect_ok "group parked (none)" group parked g2
assert_eq "$OUT" "" "phase B: nothing parked after the replay was acked"

# ---- C. projector restart (kill -9) while members work ---------------------------------

stop_member m1
stop_member m3
FROM_C=$(($(jget 'd["last_position"]' "$(group_status g1)") + 1))
LAST_C=$(produce --category Order --streams 12 --events 240)
start_member c1 g1 --delay-ms 25
start_member c2 g1 --delay-ms 25
wait_group g1 "d[\"checkpoint\"] >= $FROM_C + 40" 60
CHECKPOINT_BEFORE=$(jget 'd["checkpoint"]' "$(group_status g1)")
jcheck "d[\"checkpoint\"] <= $LAST_C" "$(group_status g1)" "phase C: still working at the kill"
OLD_URL=$P1_URL
kill9_projector p1
RESTART_US=$(($(date +%s%N) / 1000))
start_projector p1
if [[ "$P1_URL" != "$OLD_URL" ]]; then
  # The port was taken meanwhile: the members must be pointed at the new one.
  log "projector moved from $OLD_URL to $P1_URL: restarting the members"
  kill -TERM "${MEMBER_PID[c1]}" "${MEMBER_PID[c2]}" 2>/dev/null || true
  wait "${MEMBER_PID[c1]}" "${MEMBER_PID[c2]}" 2>/dev/null || true
  start_member c1 g1 --delay-ms 25
  start_member c2 g1 --delay-ms 25
fi
status=$(group_status g1)
jcheck "d[\"checkpoint\"] >= $CHECKPOINT_BEFORE" "$status" \
  "phase C: the restarted projector resumes at or after the checkpoint it had stored"
wait_group g1 "$ALL_DONE and d[\"last_position\"] >= $LAST_C" 60
wait_group g1 'len(d["members"]) == 2' 10
read_all_json >"$T/all.ndjson"
python3 "$IT_SRC_DIR/group_check.py" processed "$T/all.ndjson" Order "$T/c1.out" "$T/c2.out" \
  --from-position "$FROM_C" --restart-us "$RESTART_US" --checkpoint-before "$CHECKPOINT_BEFORE" \
  >"$T/check.out" 2>&1 || fail "phase C: $(cat "$T/check.out")"
pass
log "phase C: $(cat "$T/check.out")"
stop_member c1
stop_member c2
wait_group g1 'd["members"] == []' 10

# ---- The HTTP surface: errors ------------------------------------------------------------

http PUT /groups/g3 -d '{"source":"category:Bad-Name"}'
assert_eq "$HTTP_CODE" 400 "a category with '-' is refused"
http PUT /groups/g3 -d '{"source":"$all","max_attempts":0}'
assert_eq "$HTTP_CODE" 400 "max_attempts 0 is refused"
http GET "/groups/g1/members/0123456789abcdef0123456789abcdef/events"
assert_eq "$HTTP_CODE" 410 "a fetch by an unknown member answers 410"
http POST /groups/g1/ack -d '{"member_id":"x","positions":[]}'
assert_eq "$HTTP_CODE" 400 "an ack without positions is refused"
http POST /groups/g1/ack -d "{\"member_id\":\"x\",\"positions\":[$FROM_C]}"
jcheck "d[\"stale\"] == [$FROM_C] and d[\"acked\"] == []" "$HTTP_BODY" "an ack of a done event is stale"
http GET /groups
jcheck 'sorted(g["name"] for g in d["groups"]) == ["g1", "g2"]' "$HTTP_BODY" "GET /groups lists both"
expect_ok "group delete" group delete g2
expect_rc 6 "status of a deleted group" group status g2
