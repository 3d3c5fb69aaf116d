#!/usr/bin/env bash
# replicas_test.sh - every projector is a hot replica, and a shard serves only its own
# partitions (docs/ARCHITECTURE.md, "Replicas and shards").
#
# Replicas: p1 and p2 on one topic, each with its own store. Appends go through both (the
# CLI waits for the verdict of the projector it names, so each one judges while the other
# does too). Asserts: both serve partition 0 from the start; every append is readable
# through both with the same events; a verdict judged by one is answered by the other;
# GET /cluster on either lists both live with what they serve; a read through a paused
# replica with the causal token of an append judged by the other waits until the replica
# has applied it and then has the event (and answers 503 behind when it may not wait); a
# replica that stopped is listed as gone (stopped), one killed with -9 as gone once its
# lease ran out; stopped, their stores have the same --hash, equal to a fresh --rebuild's.
#
# Shards: a topic of 2 partitions, projector a serving both and projector b started with
# --serve-partitions 1. Asserts: b's /status serves partition 1 only; streams of partition 1
# (found through a's append answers, so the partitioner of libevstore decides) read the
# same through b as through a; every route of b asked about partition 0 (a stream read, an
# unknown stream, $all, a category, a verdict by id and by partition, a subscription, a
# snapshot, an HTTP append) answers 421 not_served naming partition 0 and serving [1], never
# 404 or a stale page; the refused append wrote nothing to the topic; a CLI given only b's
# URL appends to and reads a stream of partition 0 (routed to a by /cluster). A shard outside the
# topic (--serve-partitions 5) and a malformed one are refused at start, and so are a
# --member-id over 100 characters and an --advertise URL over 300.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init replicas "$@"

# ---- replicas ------------------------------------------------------------------------------
start_projector p1
start_projector p2
for n in p1 p2; do
  HTTP_PROJ=$n http GET /status
  jcheck 'd["partitions"] == [dict(d["partitions"][0], assigned=True)]' "$HTTP_BODY" \
    "$n serves partition 0"
done
for i in $(seq 1 20); do
  EVS_PROJ=p$((i % 2 + 1)) expect_ok "append $i through p$((i % 2 + 1))" \
    append "Rep-$((i % 4))" --type Step --data "{\"i\":$i}"
done
LAST_ID=$(jget 'd["append_id"]' "$OUT")
for n in p1 p2; do wait_caught_up "$n" 60; done
ALL1=$(EVS_PROJ=p1 read_all_json)
ALL2=$(EVS_PROJ=p2 read_all_json)
assert_eq "$(wc -l <<<"$ALL1")" 20 "p1 has all 20 events in \$all"
assert_eq "$ALL2" "$ALL1" "p2's \$all equals p1's, event for event"
for n in p1 p2; do
  HTTP_PROJ=$n http GET "/verdicts/$LAST_ID"
  assert_eq "$HTTP_CODE" 200 "$n answers the verdict of the last append"
  eval "V_$n=\$HTTP_BODY"
done
IT_E=$V_p1 jcheck 'd == E' "$V_p2" "both replicas give the same verdict"

# ---- membership: GET /cluster on either lists both, live, with what each serves and applied
ENDS=$(topic_end_offsets)
for n in p1 p2; do
  HTTP_PROJ=$n http GET /cluster
  assert_eq "$HTTP_CODE" 200 "GET /cluster on $n"
  IT_E="{\"ends\":$ENDS,\"u1\":\"$P1_URL\",\"u2\":\"$P2_URL\"}" jcheck \
    'd["partitions"] == 1 and sorted(m["url"] for m in d["members"] if m["live"]) == sorted([E["u1"], E["u2"]]) and all(m["partitions"] == [0] and m["applied"]["0"] <= E["ends"]["0"] and m["state"] == "running" for m in d["members"] if m["live"])' \
    "$HTTP_BODY" "$n lists both replicas live, serving partition 0"
done
HTTP_PROJ=p1 http GET /cluster
IT_E="\"$P1_URL\"" jcheck 'any(m["id"] == d["self"] and m["url"] == E for m in d["members"])' \
  "$HTTP_BODY" "self names the answering member"

# ---- causal reads: a replica that lags answers a read with the token of a verdict only
# once it has applied it; without the wait in time, 503 behind.
pause_projector p2
expect_ok "append through p1 while p2 is paused" append Rep-Late --type Late --data '{}'
LATE_ID=$(jget 'd["append_id"]' "$OUT")
HTTP_PROJ=p1 http GET "/verdicts/$LATE_ID"
TOKEN=$(jget '"%d:%d" % (d["partition"], d["offset"])' "$HTTP_BODY")
HTTP_PROJ=p2 http GET "/streams/Rep-Late"
assert_eq "$HTTP_CODE" 404 "without the token the paused replica does not have the event yet"
HTTP_PROJ=p2 http GET "/streams/Rep-Late?token=$TOKEN&token_wait_ms=300"
assert_eq "$HTTP_CODE" 503 "with the token and no time to wait: 503"
IT_E="\"$TOKEN\"" jcheck 'd["error_type"] == "behind" and "%d:%d" % (d["partition"], d["offset"]) == E and d["applied"] <= d["offset"]' \
  "$HTTP_BODY" "503 behind names the partition, the offset and how far it has applied"
( sleep 1.5; resume_projector p2 ) &
RESUMER=$!
t0=$(date +%s%N)
HTTP_PROJ=p2 http GET "/streams/Rep-Late?token=$TOKEN&token_wait_ms=10000"
waited=$(( ($(date +%s%N) - t0) / 1000000 ))
assert_eq "$HTTP_CODE" 200 "the read with the token waits for the lagging replica"
jcheck 'd["current_version"] == 1 and d["events"][0]["type"] == "Late"' "$HTTP_BODY" \
  "and answers with the event (read-your-writes through another replica)"
((waited >= 1000)) || fail "the read answered after $waited ms, before the replica resumed"
pass
log "read with the token through the paused replica answered after $waited ms"
wait "$RESUMER"

stop_projector p2
HTTP_PROJ=p1 http GET /cluster
IT_E="\"$P2_URL\"" jcheck '[(m["live"], m["state"]) for m in d["members"] if m["url"] == E] == [(False, "stopped")]' \
  "$HTTP_BODY" "a replica that stopped is listed as gone, state stopped"
start_projector p2
wait_caught_up p2 60
# until_member_is P1_VIEW_EXPR SECONDS DESCRIPTION: polls p1's /cluster until the member at
# P2's URL is (live, state) as given.
until_member_is() {
  local want=$1 secs=$2 desc=$3 deadline=$((SECONDS + $2))
  while :; do
    HTTP_PROJ=p1 http GET /cluster
    [[ "$(IT_E="\"$P2_URL\"" jget "[(m['live'], m['state']) for m in d['members'] if m['url'] == E] == [$want]" "$HTTP_BODY")" == true ]] && break
    ((SECONDS < deadline)) || fail "$desc: not so within $secs s: $HTTP_BODY"
    sleep 0.5
  done
  pass
}
until_member_is '(True, "running")' 15 "the restarted replica is listed live again"
kill -KILL "$P2_PID"
wait "$P2_PID" 2>/dev/null || true
until_member_is '(False, "running")' 15 "a replica killed with -9 is gone once its lease ran out"
log "the killed replica is listed as gone after its lease: $HTTP_BODY"
start_projector p2
wait_caught_up p2 60
stop_projector p1
stop_projector p2
H1=$(projector_hash p1)
H2=$(projector_hash p2)
IT_E=$H1 jcheck 'd == E' "$H2" "the replicas' stores have the same --hash"
start_projector p3 --rebuild
wait_caught_up p3 60
stop_projector p3
IT_E=$H1 jcheck 'd == E' "$(projector_hash p3)" "and a fresh rebuild has it too"

# ---- shards --------------------------------------------------------------------------------
MAIN_TOPIC=$TOPIC
TOPIC=$MAIN_TOPIC.shards
start_projector a --partitions 2
start_projector b --serve-partitions 1
HTTP_PROJ=b http GET /status
jcheck '[p["assigned"] for p in d["partitions"]] == [False, True]' "$HTTP_BODY" \
  "b serves partition 1 and not partition 0"
grep -q 'serving partition 1 from offset 0' "$B_LOG" && ! grep -q 'serving partition 0' "$B_LOG" ||
  fail "b's log does not say it serves partition 1 only: $(grep serving "$B_LOG")"
pass

# Streams until both partitions have one, appended through a (which serves both).
declare -A IN=()
for i in $(seq 0 40); do
  HTTP_PROJ=a http POST "/streams/Shard-$i" -H 'Content-Type: application/json' \
    --data-binary "{\"events\":[{\"type\":\"Made\",\"data\":{\"i\":$i}}]}"
  assert_eq "$HTTP_CODE" 200 "append to Shard-$i through a"
  part=$(jget 'd["partition"]' "$HTTP_BODY")
  [[ -n "${IN[$part]:-}" ]] || IN[$part]="Shard-$i $(jget 'd["append_id"]' "$HTTP_BODY")"
  [[ -n "${IN[0]:-}" && -n "${IN[1]:-}" ]] && break
done
[[ -n "${IN[0]:-}" && -n "${IN[1]:-}" ]] || fail "41 streams did not cover both partitions"
read -r S0 A0 <<<"${IN[0]}"
read -r S1 A1 <<<"${IN[1]}"
log "partition 0 holds $S0, partition 1 holds $S1"
wait_caught_up a 60
wait_caught_up b 60

HTTP_PROJ=a http GET "/streams/$S1"
FROM_A=$HTTP_BODY
HTTP_PROJ=b http GET "/streams/$S1"
assert_eq "$HTTP_CODE" 200 "b reads $S1 of its own partition"
IT_E=$FROM_A jcheck 'd == E' "$HTTP_BODY" "b's answer for $S1 equals a's"
HTTP_PROJ=b http GET "/verdicts/$A1"
assert_eq "$HTTP_CODE" 200 "b answers the verdict of an append to partition 1"
HTTP_PROJ=a http GET "/all?partition=1"
FROM_A=$HTTP_BODY
HTTP_PROJ=b http GET "/all?partition=1"
IT_E=$FROM_A jcheck 'd == E' "$HTTP_BODY" "b's \$all of partition 1 equals a's"

ENDS_BEFORE=$(topic_end_offsets)
# not_served DESCRIPTION METHOD PATH [CURL ARGS]: b answers 421 for partition 0.
not_served() {
  local desc=$1 method=$2 path=$3
  shift 3
  HTTP_PROJ=b http "$method" "$path" --max-time 5 "$@"
  assert_eq "$HTTP_CODE" 421 "b, $desc"
  jcheck 'd["error_type"] == "not_served" and d["partition"] == 0 and d["served"] == [1] and "partition 0 is not served" in d["error"]' \
    "$HTTP_BODY" "b, $desc: the answer names the partition and what b serves"
}
not_served "read of $S0" GET "/streams/$S0"
# A stream b has never seen, in partition 0: not a 404, which would claim it does not exist.
for i in $(seq 100 200); do
  HTTP_PROJ=a http GET "/streams/Unseen-$i"
  [[ "$HTTP_CODE" == 404 ]] || fail "a: GET /streams/Unseen-$i answered $HTTP_CODE"
  HTTP_PROJ=b http GET "/streams/Unseen-$i"
  if [[ "$HTTP_CODE" == 421 ]]; then
    not_served "read of the unknown stream Unseen-$i" GET "/streams/Unseen-$i"
    break
  fi
done
not_served "\$all of partition 0" GET "/all?partition=0"
not_served "\$all without a partition (0 by default)" GET "/all"
not_served "category Shard of partition 0" GET "/categories/Shard?partition=0"
not_served "verdict of an append to partition 0" GET "/verdicts/$A0"
not_served "verdict asked with partition 0" GET "/verdicts/$A0?partition=0&offset=0"
not_served "subscription to $S0" GET "/subscriptions/streams/$S0?follow=false"
not_served "snapshot of $S0" PUT "/snapshots/$S0" -H 'Content-Type: application/json' \
  --data-binary '{"version":1,"data":{}}'
not_served "append to $S0" POST "/streams/$S0" -H 'Content-Type: application/json' \
  --data-binary '{"events":[{"type":"Never","data":{}}]}'
assert_eq "$(topic_end_offsets)" "$ENDS_BEFORE" "the refused append wrote nothing to the topic"
HTTP_PROJ=a http GET "/streams/$S0"
jcheck 'd["current_version"] == 1' "$HTTP_BODY" "$S0 still has its one event"

# A client given only b's URL learns from b's /cluster that a serves partition 0: it
# appends to and reads a stream of partition 0 without an error, and reads a stream of
# partition 1 from b.
for _ in $(seq 1 40); do
  HTTP_PROJ=b http GET /cluster
  [[ "$(jget 'sum(m["live"] for m in d["members"]) == 2' "$HTTP_BODY")" == true ]] && break
  sleep 0.25
done
EVS_PROJ=b expect_ok "append to $S0 (partition 0) with only b as seed" \
  append "$S0" --type Routed --data '{}' --expected 1
jcheck 'd["first_version"] == 2' "$OUT" "the append through the seed b was judged at version 2"
EVS_PROJ=b expect_ok "read $S0 with only b as seed" read "$S0"
assert_eq "$(wc -l <<<"$OUT")" 2 "the read routed to a has both events of $S0"
EVS_PROJ=b expect_ok "read $S1 with only b as seed" read "$S1"
assert_eq "$(wc -l <<<"$OUT")" 1 "the read of $S1 has its event"

# refused_start ARGS...: starts a projector of the topic with ARGS, which must refuse to
# start; sets REFUSED to what it printed on stderr.
refused_start() {
  local rc=0
  timeout -k 5 60 "$PROJECTOR_BIN" --brokers "$BROKERS" --topic "$TOPIC" \
    --data-dir "$T/refused.data" --http "127.0.0.1:$(free_port)" "$@" \
    >"$T/refused.out" 2>"$T/refused.err" </dev/null || rc=$?
  REFUSED=$(cat "$T/refused.err")
  log "${1}: exit $rc: $(tr '\n' ' ' <<<"$REFUSED" | cut -c1-300)"
  assert_ne "$rc" 0 "$1 '${2:0:20}' (${#2} characters) is refused"
}
# Shards that cannot be served are refused before serving.
for spec in 5 1-x ""; do
  refused_start --serve-partitions "$spec"
  assert_imatch "$REFUSED" "serve-partitions" "the refusal names the flag"
done
# A member id or an advertised URL too long to keep is refused, not cut short (cut, it
# would name another member or a wrong address).
LONG_ID=$(printf 'm%.0s' $(seq 101))
LONG_URL="http://$(printf 'h%.0s' $(seq 300)):1"
for flag in --member-id --advertise; do
  [[ $flag == --member-id ]] && value=$LONG_ID || value=$LONG_URL
  refused_start "$flag" "$value"
  assert_match "$REFUSED" "is longer than (100|300) characters: .*$flag" \
    "the refusal says which is too long and names the flag"
done
stop_projector a
stop_projector b
"$TOPIC_TOOL" delete "$BROKERS" "$TOPIC" >/dev/null || fail "could not delete $TOPIC"
TOPIC=$MAIN_TOPIC
