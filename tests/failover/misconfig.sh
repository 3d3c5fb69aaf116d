#!/usr/bin/env bash
# misconfig.sh - the projector refuses a topic that could lose events, and a topic whose
# partition count changed under its store (reliability.md promise 6; ARCHITECTURE.md,
# "Kafka settings the store relies on").
#
# Topics created by hand (evs_fo_kafka, librdkafka directly), each otherwise correct:
#   cleanup.policy=compact, cleanup.policy=compact,delete, retention.ms=86400000,
#   retention.bytes=1073741824, unclean.leader.election.enable=true,
#   max.message.bytes=524288 (below the append limit);
# and, when the three-node cluster of deploy/cluster.sh answers, a replicated topic with
# min.insync.replicas=1. For each, a projector on a fresh data dir must exit non-zero
# without serving, its stderr must name the setting, and the topic must be left as it was.
# A second projector (another topic, a fresh store) given the HTTP address of a running one
# must refuse to start, naming the address, and the address must keep answering for the
# first. A projector started with --rebuild on the data dir of one that just stopped, but on
# another topic, must apply only its own topic. Then the topic of a projector that built its
# store (two appends) gets a second partition
# (add-partitions): restarted on the same store, the projector must refuse, naming the
# partition counts, and its store must be unchanged (--hash).
# shellcheck source=tests/failover/failover_lib.sh
source "$(dirname "$0")/failover_lib.sh"
fo_init misconfig "$@"

GOOD=(cleanup.policy=delete retention.ms=-1 retention.bytes=-1
  unclean.leader.election.enable=false max.message.bytes=1048576)
MADE_TOPICS=()
REFUSALS=0

# with_setting NAME=VALUE: the good settings with one replaced.
with_setting() {
  local s out=()
  for s in "${GOOD[@]}"; do
    [[ "${s%%=*}" == "${1%%=*}" ]] || out+=("$s")
  done
  printf '%s\n' "${out[@]}" "$1"
}

# refused BROKERS TOPIC DATA_DIR REGEX DESCRIPTION: runs a projector on TOPIC; it must exit
# non-zero within 60 s, before serving, with REGEX (case-insensitive) on its stderr.
refused() {
  local brokers=$1 topic=$2 dir=$3 regex=$4 desc=$5 rc=0 port
  port=$(free_port)
  timeout -k 5 60 "$PROJECTOR_BIN" --brokers "$brokers" --topic "$topic" \
    --data-dir "$dir" \
    --http "127.0.0.1:$port" >"$T/refused.out" 2>"$T/refused.err" </dev/null || rc=$?
  log "$desc: exit $rc: $(tr '\n' ' ' <"$T/refused.err" | cut -c1-300)"
  [[ $rc -ne 124 && $rc -ne 137 ]] || fail "$desc: the projector was still running after 60 s"
  assert_ne "$rc" 0 "$desc: the projector's exit status"
  assert_imatch "$(cat "$T/refused.err")" "$regex" "$desc: stderr names the problem"
  if grep -q 'serving http' "$T/refused.err"; then
    fail "$desc: the projector served HTTP before refusing"
  fi
  pass
  REFUSALS=$((REFUSALS + 1))
}

# bad_topic SETTING REGEX: a topic with the good settings but SETTING; refused.
bad_topic() {
  local setting=$1 regex=$2 topic name value
  name=${setting%%=*}
  value=${setting#*=}
  topic="$TOPIC.${name//./_}.$((${#MADE_TOPICS[@]} + 1))"
  mapfile -t settings < <(with_setting "$setting")
  "$FO_KAFKA" create "$BROKERS" "$topic" 1 1 "${settings[@]}" ||
    fail "could not create topic $topic with $setting"
  MADE_TOPICS+=("$BROKERS $topic")
  refused "$BROKERS" "$topic" "$T/store.${#MADE_TOPICS[@]}" "$regex" "topic with $setting"
  assert_eq "$("$FO_KAFKA" config "$BROKERS" "$topic" "$name")" "$value" \
    "the projector left $name of $topic as it was"
}

bad_topic cleanup.policy=compact 'cleanup\.policy=compact'
bad_topic cleanup.policy=compact,delete 'cleanup\.policy=compact,delete'
bad_topic retention.ms=86400000 'retention\.ms=86400000'
bad_topic retention.bytes=1073741824 'retention\.bytes=1073741824'
bad_topic unclean.leader.election.enable=true 'unclean\.leader\.election\.enable=true'
bad_topic max.message.bytes=524288 'max\.message\.bytes=524288'

# A replicated topic with min.insync.replicas=1: only on the cluster (it has 3 brokers).
if bash "$CLUSTER_SH" status >/dev/null 2>&1; then
  topic="$TOPIC.min_isr_1"
  mapfile -t settings < <(with_setting min.insync.replicas=1)
  "$FO_KAFKA" create "$CLUSTER_BROKERS" "$topic" 1 3 "${settings[@]}" ||
    fail "could not create $topic on the cluster"
  MADE_TOPICS+=("$CLUSTER_BROKERS $topic")
  refused "$CLUSTER_BROKERS" "$topic" "$T/store.min_isr" 'min\.insync\.replicas=1' \
    "replicated topic (RF 3, cluster) with min.insync.replicas=1"
  MIN_ISR_CASE="min.insync.replicas=1 on RF 3 (cluster)"
else
  log "the three-node cluster is not running: the min.insync.replicas=1 case is skipped"
  MIN_ISR_CASE="min.insync.replicas=1 skipped (no cluster)"
fi

# Two projectors on one HTTP address: the second must refuse to start rather than share the
# port (SO_REUSEPORT would hand it half of the first one's connections).
mkdir -p "$T/second"
"$FO_KAFKA" create "$BROKERS" "$TOPIC.second" 1 1 "${GOOD[@]}" ||
  fail "could not create $TOPIC.second"
MADE_TOPICS+=("$BROKERS $TOPIC.second")
start_projector p3
rc=0
timeout -k 5 60 "$PROJECTOR_BIN" --brokers "$BROKERS" --topic "$TOPIC.second" \
  --data-dir "$T/second/store" \
  --http "127.0.0.1:$P3_PORT" >"$T/second.out" 2>"$T/second.err" </dev/null || rc=$?
log "a second projector on $P3_URL: exit $rc: $(tr '\n' ' ' <"$T/second.err" | cut -c1-300)"
[[ $rc -ne 124 && $rc -ne 137 ]] || fail "the second projector on $P3_URL was still running after 60 s"
assert_ne "$rc" 0 "a second projector on the first one's address: exit status"
assert_imatch "$(cat "$T/second.err")" "cannot listen on 127\.0\.0\.1:$P3_PORT" \
  "the second projector names the address it cannot listen on"
body=$(curl -sf --max-time 5 "$P3_URL/status") || fail "the first projector stopped answering"
assert_imatch "$body" "\"topic\":\"$TOPIC\"" "the address still answers for the first projector's topic"
stop_projector p3
REFUSALS=$((REFUSALS + 1))

# The same --data-dir, rebuilt for another topic, right after a projector of the first topic
# stopped: the projector must take only its own topic's partitions: its store holds its
# topic's events and none of the other's.
"$FO_KAFKA" create "$BROKERS" "$TOPIC.stale_a" 1 1 "${GOOD[@]}" || fail "could not create $TOPIC.stale_a"
"$FO_KAFKA" create "$BROKERS" "$TOPIC.stale_b" 1 1 "${GOOD[@]}" || fail "could not create $TOPIC.stale_b"
MADE_TOPICS+=("$BROKERS $TOPIC.stale_a" "$BROKERS $TOPIC.stale_b")
TOPIC_A=$TOPIC.stale_a TOPIC_B=$TOPIC.stale_b
TOPIC=$TOPIC_A start_projector p5
TOPIC=$TOPIC_A EVS_PROJ=p5 expect_ok "append to the first topic" append StaleA-1 --type A --data '{}'
# A record in the second topic; nobody judges it yet, so the CLI's verdict wait times out.
TOPIC=$TOPIC_B EVS_PROJ=p5 EVS_TIMEOUT_MS=1000 evs append StaleB-1 --type B --data '{}'
stop_projector p5
proj_set p6 DIR "$(proj_var p5 DIR)"
TOPIC=$TOPIC_B start_projector p6 --rebuild
TOPIC=$TOPIC_B wait_caught_up p6 60
TOPIC=$TOPIC_B EVS_PROJ=p6 expect_ok "read \$all of the second topic" read-all
assert_imatch "$OUT" '"stream":"StaleB-1"' "the projector applied its own topic's record"
if grep -q 'StaleA-1' <<<"$OUT"; then
  fail "the projector of $TOPIC_B applied a record of $TOPIC_A: $OUT"
fi
pass
log "the partitions served on start: $(grep -E 'serving partition' "$(proj_var p6 LOG)" | tr '\n' ' ' | cut -c1-400)"
stop_projector p6

# A partition count raised after the store was built.
start_projector p1
expect_ok "append 1" append Grow-1 --type A --data '{}' --expected no_stream
expect_ok "append 2" append Grow-2 --type A --data '{}' --expected no_stream
wait_caught_up p1 60
stop_projector p1
h1=$(projector_hash p1)
"$FO_KAFKA" add-partitions "$BROKERS" "$TOPIC" 2 || fail "could not raise the partition count of $TOPIC"
refused "$BROKERS" "$TOPIC" "$P1_DIR" '2 partitions.*had 1|partition' \
  "the store's topic grew from 1 to 2 partitions"
assert_imatch "$(cat "$T/refused.err")" 'it has 2 partitions but had 1' \
  "the refusal gives both partition counts"
h2=$(projector_hash p1)
IT_E=$h1 jcheck 'd == E' "$h2" "the refusing projector left its store unchanged"

for t in "${MADE_TOPICS[@]}"; do
  "$TOPIC_TOOL" delete "${t%% *}" "${t#* }" >/dev/null 2>&1 || true
done
fo_fact "misconfigurations refused: $REFUSALS (compact, compact+delete, retention.ms, retention.bytes, unclean election, max.message.bytes, $MIN_ISR_CASE, partitions 1 -> 2, a second projector on a used HTTP address)"
