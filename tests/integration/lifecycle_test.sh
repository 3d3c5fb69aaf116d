#!/usr/bin/env bash
# lifecycle_test.sh - stream lifecycle commands on two replicas (docs/ARCHITECTURE.md,
# "Lifecycle").
#
# p1 and p2 apply one topic; commands go through either. Asserts, on both replicas:
#  - soft delete: the stream reads 410 stream_deleted (soft); an append recreates it and its
#    versions continue; only what came after the delete is readable; no_stream holds on the
#    deleted stream and stream_exists does not;
#  - hard delete: 410 (hard); every later append, truncate, delete and limit gets 410
#    stream_deleted and changes nothing;
#  - truncate: reads start at the first kept version (first_version), also from below it,
#    and $all no longer has the removed events; a truncate below the first version changes
#    nothing; a command whose expectation fails is 409 and changes nothing;
#  - max count: reads keep the newest N, exactly, also right after more appends;
#  - max age: events placed in log time with evs_it_produce (Kafka timestamps the test sets)
#    go once the partition's log time passes their age, and not before;
#  - a consumer group whose window held a category's events when a delete and a truncate
#    removed some: it never delivers those afterwards, delivers the rest and what came
#    later, and reaches the end of its source (no stall);
#  - a subscription of $all from the start, opened after the removals, delivers none of the
#    removed events (max count's too: the sweeps at the later records' new log seconds
#    removed them from $all) and reaches caught-up (no stall on the holes);
#  - metadata (GET /streams/{stream}/metadata) tells the version, first version and limits;
#  - a replica started with --feed after the removals publishes exactly $all (it steps over
#    the holes in the positions);
#  - stopped, both stores have the same --hash, equal to a --rebuild's.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init lifecycle "$@"
PRODUCE_BIN=$BIN_DIR/evs_it_produce

start_projector p1
start_projector p2

# append_n STREAM N: appends N events of type Step (data {"i":k}), one call each.
append_n() {
  local k
  for ((k = 1; k <= $2; k++)); do
    expect_ok "append $k to $1" append "$1" --type Step --data "{\"i\":$k}"
  done
}
# versions NAME STREAM: the versions a read through NAME returns, as "a b c".
versions() {
  HTTP_PROJ=$1 http GET "/streams/$2?limit=1000"
  [[ "$HTTP_CODE" == 200 ]] || fail "read of $2 through $1 answered $HTTP_CODE: $HTTP_BODY"
  jget '" ".join(str(e["version"]) for e in d["events"])' "$HTTP_BODY"
}
# on_both DESCRIPTION CHECK: waits until both replicas caught up, then runs CHECK NAME for
# each of them.
on_both() {
  local desc=$1 n
  shift
  for n in p1 p2; do wait_caught_up "$n" 60; done
  for n in p1 p2; do "$@" "$n" || fail "$desc ($n)"; done
}
# run_command NAME METHOD PATH BODY: a lifecycle command through projector NAME.
run_command() {
  HTTP_PROJ=$1 http "$2" "$3" -H 'Content-Type: application/json' --data "$4"
}

# ---- soft delete -----------------------------------------------------------------------
append_n Life-soft 3
run_command p1 DELETE /streams/Life-soft '{"expected":3}'
assert_eq "$HTTP_CODE" 200 "a soft delete with the right expected version: $HTTP_BODY"
jcheck 'd["operation"] == "delete" and d["current_version"] == 3' "$HTTP_BODY" \
  "the answer names the operation and the version"
soft_deleted() {
  HTTP_PROJ=$1 http GET /streams/Life-soft
  [[ "$HTTP_CODE" == 410 ]] &&
    [[ "$(jget 'd["error_type"] == "stream_deleted" and d["deleted"] == "soft" and d["current_version"] == 3' "$HTTP_BODY")" == true ]]
}
on_both "a soft-deleted stream reads 410 stream_deleted (soft)" soft_deleted
pass
expect_rc 3 "stream_exists does not hold on a soft-deleted stream" \
  append Life-soft --type Step --data '{}' --expected stream_exists
expect_ok "no_stream holds on a soft-deleted stream: it recreates it" \
  append Life-soft --type Step --data '{"i":4}' --expected no_stream
jcheck 'd["first_version"] == 4' "$OUT" "versions continue after a soft delete"
recreated() { [[ "$(versions "$1" Life-soft)" == "4" ]]; }
on_both "the recreated stream reads only what came after the delete" recreated
pass
HTTP_PROJ=p2 http GET /streams/Life-soft/metadata
jcheck 'd["deleted"] is None and d["first_version"] == 4 and d["current_version"] == 4' \
  "$HTTP_BODY" "metadata of the recreated stream"

# ---- hard delete -------------------------------------------------------------------------
append_n Life-hard 2
run_command p2 DELETE /streams/Life-hard '{"hard":true}'
assert_eq "$HTTP_CODE" 200 "a hard delete: $HTTP_BODY"
jcheck 'd["operation"] == "hard_delete"' "$HTTP_BODY" "the answer says hard_delete"
hard_deleted() {
  HTTP_PROJ=$1 http GET /streams/Life-hard
  [[ "$HTTP_CODE" == 410 ]] && [[ "$(jget 'd["deleted"] == "hard"' "$HTTP_BODY")" == true ]]
}
on_both "a hard-deleted stream reads 410 (hard)" hard_deleted
pass
HTTP_PROJ=p1 http POST /streams/Life-hard -H 'Content-Type: application/json' \
  --data '{"events":[{"type":"Step","data":{"i":3}}]}'
assert_eq "$HTTP_CODE" 410 "an append to a hard-deleted stream is 410: $HTTP_BODY"
jcheck 'd["error_type"] == "stream_deleted"' "$HTTP_BODY" "its error type is stream_deleted"
for cmd in "DELETE /streams/Life-hard {}" "POST /streams/Life-hard/truncate {\"before\":2}" \
  "PUT /streams/Life-hard/limits {\"max_count\":1}"; do
  read -r method path body <<<"$cmd"
  run_command p1 "$method" "$path" "$body"
  assert_eq "$HTTP_CODE" 410 "$method $path on a hard-deleted stream is 410: $HTTP_BODY"
done
on_both "the tombstone still stands after the rejected records" hard_deleted
pass

# ---- truncate ------------------------------------------------------------------------------
append_n Life-trunc 10
run_command p1 POST /streams/Life-trunc/truncate '{"before":6,"expected":9}'
assert_eq "$HTTP_CODE" 409 "a truncate with a wrong expectation is 409: $HTTP_BODY"
run_command p2 POST /streams/Life-trunc/truncate '{"before":6,"expected":10}'
assert_eq "$HTTP_CODE" 200 "truncate before 6: $HTTP_BODY"
truncated() {
  [[ "$(versions "$1" Life-trunc)" == "6 7 8 9 10" ]] || return 1
  HTTP_PROJ=$1 http GET "/streams/Life-trunc?from=2"
  [[ "$(jget 'd["first_version"] == 6 and d["events"][0]["version"] == 6' "$HTTP_BODY")" == true ]] || return 1
  HTTP_PROJ=$1 http GET "/all?limit=10000"
  [[ "$(jget 'sorted(e["version"] for e in d["events"] if e["stream"] == "Life-trunc") == [6, 7, 8, 9, 10]' "$HTTP_BODY")" == true ]]
}
on_both "after truncate-before 6: versions 6..10, from 2 starts at 6, \$all has only those" truncated
pass
run_command p1 POST /streams/Life-trunc/truncate '{"before":3}'
assert_eq "$HTTP_CODE" 200 "a truncate below the first version is accepted: $HTTP_BODY"
on_both "and changes nothing" truncated
pass

# ---- max count -------------------------------------------------------------------------------
append_n Life-count 5
run_command p2 PUT /streams/Life-count/limits '{"max_count":3}'
assert_eq "$HTTP_CODE" 200 "max_count 3: $HTTP_BODY"
count3() { [[ "$(versions "$1" Life-count)" == "3 4 5" ]]; }
on_both "max count 3 keeps versions 3..5" count3
pass
append_n Life-count 2
count3b() { [[ "$(versions "$1" Life-count)" == "5 6 7" ]]; }
on_both "two more appends: versions 5..7, read exactly" count3b
pass
HTTP_PROJ=p1 http GET /streams/Life-count/metadata
jcheck 'd["max_count"] == 3 and d["max_age_ms"] is None and d["current_version"] == 7' \
  "$HTTP_BODY" "metadata names the limit"

# ---- max age, in log time ----------------------------------------------------------------------
now=$(($(date +%s%3N)))
run_command p1 PUT /streams/Life-age/limits '{"max_age_ms":300000}'
assert_eq "$HTTP_CODE" 200 "max_age_ms 300000 on a stream not written yet: $HTTP_BODY"
# at OFFSET_S TYPE: one event of Life-age at now + OFFSET_S seconds of Kafka timestamp.
at() {
  "$PRODUCE_BIN" "$BROKERS" "$TOPIC" Life-age $((now + $1 * 1000)) "$2" '{}' >/dev/null ||
    fail "evs_it_produce at $1 s failed"
}
at -600 Old
at -60 Recent
at 1 Fresh
# A record of another stream two seconds on: a new second of log time, so a sweep.
"$PRODUCE_BIN" "$BROKERS" "$TOPIC" Life-tick $((now + 3000)) Tick '{}' >/dev/null
age1() { [[ "$(versions "$1" Life-age)" == "2 3" ]]; }
on_both "the event 10 minutes old is gone, the ones 1 minute old and fresh stay" age1
pass
at 400 Future
# Log time is now 400 s on: Recent (-60 s) and Fresh (+1 s) are older than 300 s; the sweep
# before the next new second removes them.
"$PRODUCE_BIN" "$BROKERS" "$TOPIC" Life-tick $((now + 402000)) Tick '{}' >/dev/null
age2() { [[ "$(versions "$1" Life-age)" == "4" ]]; }
on_both "log time 400 s on: only the event written then is left" age2
pass

# ---- a subscription from the start skips what was removed, without stalling ----------------
HTTP_PROJ=p2 http GET "/subscriptions/all?from=start&follow=false" --max-time 20
assert_eq "$HTTP_CODE" 200 "a subscription of \$all from the start"
cp "$T/http.body" "$T/sub.txt" # as sent: the event stream ends with a blank line
SUB=$(python3 "$(dirname "$0")/sse_client.py" parse "$T/sub.txt")
jcheck 'len(d["caught_up"]) == 1' "$SUB" "it reaches caught-up"
HTTP_PROJ=p2 http GET "/all?limit=10000"
IT_E=$HTTP_BODY jcheck '[(e[2], e[3]) for e in d["events"]] == [(e["stream"], e["version"]) for e in E["events"]]' \
  "$SUB" "it delivers exactly what \$all holds"
jcheck 'not any(s == "Life-trunc" and v < 6 or s == "Life-hard" or s == "Life-soft" and v < 4 or s == "Life-count" and v < 5 or s == "Life-age" and v < 4 for (_, _, s, v, _, _) in d["events"])' \
  "$SUB" "none of the removed events"

# ---- a consumer group across a delete and a truncate ------------------------------------------
# The group's window holds every event of the category before the commands are judged; what
# they removed is never delivered after that, the rest is, in order, and the group reaches
# the end (no stall on the removed events its window held).
GP=p1
HTTP_PROJ=$GP http PUT /groups/life-g -H 'Content-Type: application/json' \
  --data '{"source": "category:Gr", "ack_timeout_ms": 2000}'
if [[ "$HTTP_CODE" == 421 ]]; then
  GP=p2
  HTTP_PROJ=$GP http PUT /groups/life-g -H 'Content-Type: application/json' \
    --data '{"source": "category:Gr", "ack_timeout_ms": 2000}'
fi
assert_eq "$HTTP_CODE" 201 "a consumer group of category Gr: $HTTP_BODY"
append_n Gr-a 3
append_n Gr-b 3
HTTP_PROJ=$GP http POST /groups/life-g/members
assert_eq "$HTTP_CODE" 201 "a member joins: $HTTP_BODY"
MEMBER_ID=$(jget 'd["member_id"]' "$HTTP_BODY")
# fetch: one fetch of up to 10 events (waiting up to 1 s); prints "stream:version position"
# per event and acks them.
fetch() {
  local got positions
  HTTP_PROJ=$GP http GET "/groups/life-g/members/$MEMBER_ID/events?max=10&wait_ms=1000"
  [[ "$HTTP_CODE" == 200 ]] || fail "fetch answered $HTTP_CODE: $HTTP_BODY"
  got=$(jget '"\n".join("%s:%d" % (e["stream"], e["version"]) for e in d["events"])' "$HTTP_BODY")
  positions=$(jget '[e["position"] for e in d["events"]]' "$HTTP_BODY")
  if [[ "$positions" != "[]" ]]; then
    HTTP_PROJ=$GP http POST /groups/life-g/ack -H 'Content-Type: application/json' \
      --data "{\"member_id\": \"$MEMBER_ID\", \"positions\": $positions}"
    [[ "$HTTP_CODE" == 200 ]] || fail "ack answered $HTTP_CODE: $HTTP_BODY"
  fi
  [[ -z "$got" ]] || printf '%s\n' "$got"
}
HTTP_PROJ=$GP http GET "/groups/life-g/members/$MEMBER_ID/events?max=1&wait_ms=5000"
jcheck '[(e["stream"], e["version"]) for e in d["events"]] == [("Gr-a", 1)]' "$HTTP_BODY" \
  "the first fetch delivers Gr-a's first event (the window now holds all six)"
FIRST_POS=$(jget 'd["events"][0]["position"]' "$HTTP_BODY")
run_command p1 DELETE /streams/Gr-a '{"expected":3}'
assert_eq "$HTTP_CODE" 200 "Gr-a deleted under the group: $HTTP_BODY"
run_command p2 POST /streams/Gr-b/truncate '{"before":3,"expected":3}'
assert_eq "$HTTP_CODE" 200 "Gr-b truncated before 3 under the group: $HTTP_BODY"
for n in p1 p2; do wait_caught_up "$n" 60; done
HTTP_PROJ=$GP http POST /groups/life-g/ack -H 'Content-Type: application/json' \
  --data "{\"member_id\": \"$MEMBER_ID\", \"positions\": [$FIRST_POS]}"
jcheck "d[\"acked\"] == [$FIRST_POS]" "$HTTP_BODY" "what was delivered before the delete is acked"
expect_ok "an append after the commands" append Gr-c --type Step --data '{"i":1}'
wait_caught_up "$GP" 60
DELIVERED=""
for _ in $(seq 1 20); do
  DELIVERED+=$(fetch)$'\n'
  grep -q '^Gr-c:1$' <<<"$DELIVERED" && grep -q '^Gr-b:3$' <<<"$DELIVERED" && break
done
# Streams are delivered in version order each, not in one order across streams.
DELIVERED=$(grep -v '^$' <<<"$DELIVERED" | sort | tr '\n' ' ')
assert_eq "$DELIVERED" "Gr-b:3 Gr-c:1 " "after the commands the group delivers only what they left"
HTTP_PROJ=$GP http GET /groups/life-g
jcheck 'd["checkpoint"] == d["last_position"] + 1 and d["window"] == 0' "$HTTP_BODY" \
  "the group reaches the end of its source (no stall on removed events)"
HTTP_PROJ=$GP http DELETE /groups/life-g

# ---- the feed steps over removed events ------------------------------------------------------
# A replica started with --feed after the removals publishes from position 1 over the holes
# they left: the feed is then exactly $all, each event once, in position order.
KCAT=$(command -v kcat || command -v kafkacat || true)
[[ -n "$KCAT" ]] || fail "kcat is missing (deploy/setup.sh installs it)"
# It catches up first without the feed: while it replays, a feed would publish events that
# the replay removes only later (the feed does not take back what it published).
start_projector p3
wait_caught_up p3 60
stop_projector p3
start_projector p3 --feed
wait_caught_up p3 60
HTTP_PROJ=p3 http GET "/all?limit=10000"
WANT=$(jget '[e["position"] for e in d["events"]]' "$HTTP_BODY")
deadline=$((SECONDS + 60))
while :; do
  GOT=$("$KCAT" -b "$BROKERS" -C -t "$TOPIC.accepted" -o beginning -e -q -f '%h\n' 2>/dev/null |
    python3 -c 'import json, sys; print(json.dumps([int(dict(kv.split("=", 1) for kv in l.strip().split(","))["evstore.position"]) for l in sys.stdin if l.strip()], separators=(",", ":")))')
  [[ "$GOT" == "$WANT" ]] && break
  ((SECONDS < deadline)) || fail "the feed holds positions $GOT, \$all $WANT"
  sleep 0.5
done
pass
log "the feed holds the positions of \$all: $GOT"
stop_projector p3

# ---- both replicas and a rebuild agree ---------------------------------------------------------
for n in p1 p2; do wait_caught_up "$n" 60; done
stop_projector p1
stop_projector p2
H1=$(projector_hash p1)
H2=$(projector_hash p2)
assert_eq "$H2" "$H1" "both replicas' stores hash the same"
start_projector p1 --rebuild
wait_caught_up p1 60
for n in Life-trunc Life-count Life-age; do
  HTTP_PROJ=p1 http GET "/streams/$n?limit=1000"
  log "rebuilt $n: $(jget '[e["version"] for e in d["events"]]' "$HTTP_BODY")"
done
stop_projector p1
H3=$(projector_hash p1)
assert_eq "$H3" "$H1" "a rebuild from offset 0 hashes the same"
log "hash: $H1"
