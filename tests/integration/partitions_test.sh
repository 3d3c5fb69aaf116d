#!/usr/bin/env bash
# partitions_test.sh - a topic of 3 partitions split over two shards, used end to end through
# the CLI (and so libevstore) without naming a partition (docs/ARCHITECTURE.md, "Replicas
# and shards"; evstore.h, "Across partitions").
#
# Set-up: projector a serves partitions 0 and 1, projectors b and b2 are two replicas of
# partition 2. Seeds: each projector alone, and lists in several orders.
#
# Asserts:
#  - every stream is appendable through every seed list, each append judged at the version
#    its --expected says, and readable through every seed list with the same events;
#  - the streams cover all three partitions, a stream's events all lie in one partition,
#    and there a partition's positions run 1..N without a gap;
#  - read-all, read-category and read-type without --partition give, through every seed
#    list, each partition's events exactly as its own one-partition read (per-partition
#    order held; lines name their partition), and nothing else; --from VECTOR goes on
#    where a vector says;
#  - `subscribe --all --count K` stops part-way and prints a resume vector that is, per
#    partition, after the last event it printed; events are appended while it is stopped;
#    `subscribe --all --from VECTOR --no-follow` (through other seeds) delivers the rest:
#    the union is every accepted event exactly once, each partition in position order;
#  - the same for a category subscription stopped by SIGINT while following live appends.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init partitions "$@"

start_projector a --partitions 3 --serve-partitions 0,1
start_projector b --serve-partitions 2
start_projector b2 --serve-partitions 2
for n in a b b2; do
  HTTP_PROJ=$n http GET /status
  want=$([[ $n == a ]] && echo '[True, True, False]' || echo '[False, False, True]')
  jcheck "[p['assigned'] for p in d['partitions']] == $want" "$HTTP_BODY" "$n serves its shard"
done
for _ in $(seq 1 60); do
  HTTP_PROJ=b http GET /cluster
  [[ "$(jget 'd["partitions"] == 3 and sum(m["live"] for m in d["members"]) == 3' "$HTTP_BODY")" == true ]] && break
  sleep 0.25
done
jcheck 'd["partitions"] == 3 and sum(m["live"] for m in d["members"]) == 3' "$HTTP_BODY" \
  "/cluster lists the three projectors live on a topic of 3 partitions"

SEEDS=("$A_URL" "$B_URL" "$B2_URL" "$A_URL,$B_URL" "$B_URL,$A_URL" "$B2_URL,$B_URL,$A_URL")
STREAMS=30

# ---- appends through every seed list, reads back through every seed list -----------------
for ((i = 0; i < STREAMS; i++)); do
  s=${SEEDS[$((i % ${#SEEDS[@]}))]}
  EVS_SEEDS=$s expect_ok "append Part-$i through $s" \
    append "Part-$i" --type Opened --data "{\"i\":$i}" --expected no_stream
  jcheck 'd["first_version"] == 1' "$OUT" "Part-$i's first event is version 1"
  s=${SEEDS[$(((i + 1) % ${#SEEDS[@]}))]}
  EVS_SEEDS=$s expect_ok "append Part-$i through $s" \
    append "Part-$i" --type Closed --data "{\"i\":$i}" --expected 1
  jcheck 'd["first_version"] == 2' "$OUT" "Part-$i's second event is version 2 (judged on the first)"
done
for ((i = 0; i < STREAMS; i++)); do
  first=""
  for s in "${SEEDS[@]}"; do
    EVS_SEEDS=$s expect_ok "read Part-$i through $s" read "Part-$i"
    IT_E="$i" jcheck 'len(L) == 2 and [e["version"] for e in L] == [1, 2] and [e["type"] for e in L] == ["Opened", "Closed"] and all(e["data"] == {"i": E} for e in L)' \
      "$OUT" "Part-$i read through $s"
    [[ -z "$first" ]] && first=$OUT
    assert_eq "$OUT" "$first" "Part-$i reads the same through $s as through ${SEEDS[0]}"
  done
done

# ---- each partition on its own, then across partitions ------------------------------------
CHECK="python3 $IT_SRC_DIR/partitions_check.py"
wait_caught_up a 60
wait_caught_up b 60
wait_caught_up b2 60

# per_partition NAME ARGS...: the one-partition reads `evstore ARGS --partition P` into
# $T/NAME.P.ndjson for P = 0, 1, 2 (through a alone: the router finds b for partition 2).
per_partition() {
  local name=$1 p
  shift
  for p in 0 1 2; do
    EVS_SEEDS=$A_URL expect_ok "$* --partition $p" "$@" --partition "$p"
    printf '%s\n' "$OUT" | grep -v '^$' >"$T/$name.$p.ndjson" || true
  done
}
per_partition all read-all
declare -A IN_PARTITION=()
for p in 0 1 2; do
  N=$(wc -l <"$T/all.$p.ndjson")
  jcheck '[e["position"] for e in L] == list(range(1, len(L) + 1)) and all("partition" not in e for e in L)' \
    "$(cat "$T/all.$p.ndjson")" "partition $p's \$all runs 1..$N without a gap, lines as a one-partition read prints them"
  ((N > 0)) || fail "no stream of the $STREAMS landed in partition $p"
  for s in $(jget '" ".join(sorted(set(e["stream"] for e in L)))' <"$T/all.$p.ndjson"); do
    [[ -z "${IN_PARTITION[$s]:-}" ]] || fail "stream $s has events in partitions ${IN_PARTITION[$s]} and $p"
    IN_PARTITION[$s]=$p
  done
done
assert_eq "${#IN_PARTITION[@]}" "$STREAMS" "every stream is in exactly one partition"
assert_eq "$(cat "$T"/all.?.ndjson | wc -l)" "$((2 * STREAMS))" "the partitions hold every accepted event"
log "events per partition: $(wc -l <"$T/all.0.ndjson") $(wc -l <"$T/all.1.ndjson") $(wc -l <"$T/all.2.ndjson")"

per_partition category read-category Part
per_partition type read-type Closed
for s in "${SEEDS[@]}"; do
  EVS_SEEDS=$s expect_ok "read-all through $s" read-all
  printf '%s\n' "$OUT" >"$T/across.ndjson"
  $CHECK read "$T"/all.{0,1,2}.ndjson "$T/across.ndjson" ||
    fail "read-all through $s is not every partition's \$all"
  pass
  EVS_SEEDS=$s expect_ok "read-category Part through $s" read-category Part
  printf '%s\n' "$OUT" >"$T/across.ndjson"
  $CHECK read "$T"/category.{0,1,2}.ndjson "$T/across.ndjson" ||
    fail "read-category Part through $s is not every partition's category"
  pass
  EVS_SEEDS=$s expect_ok "read-type Closed through $s" read-type Closed
  printf '%s\n' "$OUT" >"$T/across.ndjson"
  $CHECK read "$T"/type.{0,1,2}.ndjson "$T/across.ndjson" ||
    fail "read-type Closed through $s is not every partition's type"
  pass
done
assert_eq "$(wc -l <"$T/across.ndjson")" "$STREAMS" "one Closed event per stream"
# A page limit and a vector: from position 2 of partition 1 and the start of the others,
# the first 3 events are partition 0's first three; the rest of partition 1 follows them.
EVS_SEEDS=$B_URL expect_ok "read-all --limit 3 --from 1:2" read-all --limit 3 --from 1:2
IT_E=$(head -n 3 "$T/all.0.ndjson" | jget 'L') jcheck \
  '[(e["partition"], e["event_id"]) for e in L] == [(0, x["event_id"]) for x in E]' "$OUT" \
  "read-all --limit 3 --from 1:2 is the first 3 events of partition 0"
EVS_SEEDS=$B_URL expect_ok "read-all --from 0:999,1:2,2:999" read-all --from 0:999,1:2,2:999
IT_E=$(tail -n +2 "$T/all.1.ndjson" | jget 'L') jcheck \
  '[(e["partition"], e["event_id"]) for e in L] == [(1, x["event_id"]) for x in E]' "$OUT" \
  "read-all from a vector gives the rest of partition 1 only"
EVS_SEEDS=$A_URL expect_rc 2 "a vector with --partition is refused" read-all --from 0:1 --partition 0
EVS_SEEDS=$A_URL expect_rc 2 "a vector of a 4th partition is refused" read-all --from 3:1
assert_match "$ERR" "names partition 3, but the topic has 3 partitions" \
  "the refusal names the partition and the topic's count"

# ---- a subscription across partitions, stopped part-way and resumed from its vector --------
TOTAL=$((2 * STREAMS))
STOP=$((TOTAL / 2 + 3))
EVS_SEEDS="$B_URL,$A_URL" expect_ok "subscribe --all --count $STOP" subscribe --all --count "$STOP"
printf '%s\n' "$OUT" >"$T/first.ndjson"
assert_eq "$(grep -c . "$T/first.ndjson")" "$STOP" "subscribe --count $STOP printed $STOP events"
assert_match "$ERR" '^evstore: resume with --from [0-9]+:[0-9]+,[0-9]+:[0-9]+,[0-9]+:[0-9]+$' \
  "the stopped subscription prints its resume vector, and nothing else, on stderr"
VECTOR=${ERR#evstore: resume with --from }
log "stopped after $STOP of $TOTAL events at $VECTOR"
# Appended while no subscription runs: the resumed one must deliver these too.
for ((i = 0; i < 9; i++)); do
  EVS_SEEDS=${SEEDS[$((i % ${#SEEDS[@]}))]} expect_ok "append Part-$i while stopped" \
    append "Part-$i" --type Late --data "{\"late\":$i}" --expected 2
done
wait_caught_up a 60
wait_caught_up b 60
wait_caught_up b2 60
per_partition all read-all
EVS_SEEDS="$A_URL,$B2_URL" expect_ok "subscribe --all --from $VECTOR --no-follow" \
  subscribe --all --from "$VECTOR" --no-follow
printf '%s\n' "$OUT" >"$T/rest.ndjson"
assert_eq "$(grep -c . "$T/rest.ndjson")" "$((TOTAL + 9 - STOP))" \
  "the resumed subscription printed the rest, and the 9 appended since"
$CHECK union "$T"/all.{0,1,2}.ndjson "$T/first.ndjson" "$VECTOR" "$T/rest.ndjson" ||
  fail "the subscription and its resumption are not every event exactly once"
pass
assert_match "$ERR" '^evstore: resume with --from ' "the resumed one prints its vector too"
IT_E="\"${ERR#evstore: resume with --from }\"" jcheck \
  'E == ",".join("%d:%d" % (p, max([e["position"] for e in L if e["partition"] == p] + [0]) + 1) for p in range(3))' \
  "$(cat "$T/first.ndjson" "$T/rest.ndjson")" "its vector is after the last event of each partition"

# ---- a category subscription, following live appends, stopped by SIGINT mid-stream ------
"$CLI_BIN" --brokers "$BROKERS" --projector "$B2_URL,$A_URL" --topic "$TOPIC" \
  subscribe --category Part >"$T/live.ndjson" 2>"$T/live.err" </dev/null &
LIVE=$!
track_pid "$LIVE"
HISTORY=$((TOTAL + 9))
# Live appends go on while the subscription is interrupted: some arrive before, some after.
(
  for ((i = 0; i < 24; i++)); do
    EVS_SEEDS=${SEEDS[$((i % ${#SEEDS[@]}))]} evs append "Part-$i" --type Live --data "{\"live\":$i}"
    [[ $RC == 0 ]] || fail "append Part-$i while following exited $RC: $ERR"
    sleep 0.05
  done
) &
APPENDER=$!
deadline=$((SECONDS + 30))
while (($(grep -c . "$T/live.ndjson") < HISTORY + 4)) && ((SECONDS < deadline)); do sleep 0.05; done
kill -INT "$LIVE"
rc=0
wait "$LIVE" || rc=$?
assert_eq "$rc" 0 "subscribe --category Part exits 0 on SIGINT (stderr: $(cat "$T/live.err"))"
wait "$APPENDER" || fail "the live appends failed: $(cat "$T/failed" 2>/dev/null)"
LIVE_LINES=$(grep -c . "$T/live.ndjson")
((LIVE_LINES >= HISTORY + 4)) ||
  fail "the following subscription printed $LIVE_LINES lines, fewer than the $HISTORY of history and 4 live"
pass
LIVE_ERR=$(cat "$T/live.err")
assert_match "$LIVE_ERR" '^evstore: resume with --from [0-9]+:[0-9]+,[0-9]+:[0-9]+,[0-9]+:[0-9]+$' \
  "the interrupted subscription prints its resume vector"
VECTOR=${LIVE_ERR#evstore: resume with --from }
wait_caught_up a 60
wait_caught_up b 60
wait_caught_up b2 60
per_partition category read-category Part
EVS_SEEDS="$B_URL" expect_ok "subscribe --category Part --from $VECTOR --no-follow" \
  subscribe --category Part --from "$VECTOR" --no-follow
printf '%s\n' "$OUT" >"$T/live_rest.ndjson"
$CHECK union "$T"/category.{0,1,2}.ndjson "$T/live.ndjson" "$VECTOR" "$T/live_rest.ndjson" ||
  fail "the interrupted category subscription and its resumption are not every event once"
pass
assert_eq "$(cat "$T"/category.?.ndjson | grep -c .)" "$((HISTORY + 24))" \
  "the category holds every event appended"
log "the live subscription stopped at $VECTOR after $LIVE_LINES of $((HISTORY + 24)) events"

stop_projector a
stop_projector b
stop_projector b2
