#!/usr/bin/env bash
# broker_failover.sh - kill -9 the leader of the events partition during a steady append
# load on the three-node cluster, later restart it (reliability.md, "Broker failover").
#
# The projector creates the topic on the cluster (replication 3, min ISR 2). Writers:
#   - 2 evs_it_load processes x 2 threads on Load-0..5 (exact expected versions, `any`
#     every 4th; every unknown outcome settled by append id; contract checks built in);
#   - 2 CLI writers (Cli-0, Cli-1) with --timeout-ms 4000, so that a failover turns some
#     appends into exit 5; every one is settled with `evstore verdict ID` and checked.
# EVS_FO_ROUNDS times (default 2): find the leader, kill -9 it, wait for a new leader and
# for the writers to get appends accepted again, run a while on two brokers, restart the
# killed node, wait until it is back in the ISR and the writers move on.
# Then: each writer settled every append with no contract violation; every exit 5 gave its
# append id and settled (accepted -> stored; not found -> still not found at the end,
# stored once through its retry); verify_store.py --exact: every event a writer saw
# accepted is stored exactly once at its version, nothing else is, streams and $all are
# gapless; a fresh projector rebuilding from offset 0 reaches the same --hash.
# shellcheck source=tests/failover/failover_lib.sh
source "$(dirname "$0")/failover_lib.sh"
fo_init broker_failover --cluster "$@"

ROUNDS=${EVS_FO_ROUNDS:-2}

start_projector p1 --replication-factor 3
isr=$(bash "$CLUSTER_SH" isr "$TOPIC") || fail "no ISR for $TOPIC"
assert_match "$isr" '^[123],[123],[123]$' "the projector created $TOPIC with 3 in-sync replicas"
assert_eq "$("$FO_KAFKA" config "$BROKERS" "$TOPIC" min.insync.replicas)" 2 \
  "the projector created $TOPIC with min.insync.replicas=2"
assert_eq "$("$FO_KAFKA" config "$BROKERS" "$TOPIC" unclean.leader.election.enable)" false \
  "the topic has unclean leader election off"

echo "$P1_URL" >"$T/url"
fo_start_load 2 2 Load 6 "$P1_URL"
fo_start_cli_writers 2 Cli "$T/url" 4000
fo_wait_progress 0 60
sleep 3

# wait_until SECONDS DESCRIPTION CMD...: polls CMD every 0.5 s.
wait_until() {
  local secs=$1 desc=$2 deadline=$(($(now_ms) + $1 * 1000))
  shift 2
  until "$@"; do
    (($(now_ms) < deadline)) || fail "$desc: not within ${secs}s"
    sleep 0.5
  done
  pass
}
new_leader() {
  local l
  l=$(bash "$CLUSTER_SH" leader "$TOPIC" 2>/dev/null) || return 1
  [[ -n "$l" && "$l" != "$1" ]]
}
full_isr() { [[ "$(bash "$CLUSTER_SH" isr "$TOPIC" 2>/dev/null)" =~ ^[123],[123],[123]$ ]]; }

T_LEADER=()
T_PROGRESS=()
T_ISR=()
KILLED=()
for ((round = 1; round <= ROUNDS; round++)); do
  leader=$(bash "$CLUSTER_SH" leader "$TOPIC") || fail "no leader for $TOPIC"
  before=$(records_count)
  log "round $round: kill -9 node $leader (leader of $TOPIC/0); $before events accepted so far"
  t0=$(now_ms)
  bash "$CLUSTER_SH" kill "$leader" >&2
  KILLED+=("$leader")
  wait_until 60 "a new leader for $TOPIC after node $leader was killed" new_leader "$leader"
  T_LEADER+=($(($(now_ms) - t0)))
  fo_wait_progress "$(records_count)" 120
  T_PROGRESS+=($(($(now_ms) - t0)))
  log "round $round: new leader $(bash "$CLUSTER_SH" leader "$TOPIC") after ${T_LEADER[-1]} ms; appends accepted again after ${T_PROGRESS[-1]} ms"
  fo_probe_end_offsets p1 "round $round, node $leader down"
  sleep 3
  log "round $round: restart node $leader"
  t1=$(now_ms)
  bash "$CLUSTER_SH" restart "$leader" >&2
  wait_until 120 "node $leader back in the ISR of $TOPIC" full_isr
  T_ISR+=($(($(now_ms) - t1)))
  log "round $round: ISR $(bash "$CLUSTER_SH" isr "$TOPIC") ${T_ISR[-1]} ms after the restart"
  fo_probe_end_offsets p1 "round $round, node $leader back"
  fo_wait_progress "$(records_count)" 60
  sleep 3
done
fo_fact "faults: $ROUNDS x (kill -9 of the partition leader, nodes ${KILLED[*]}, then restart)"
fo_fact "new leader after: $(fo_stats "${T_LEADER[@]}"); appends accepted again after: $(fo_stats "${T_PROGRESS[@]}"); back in ISR after restart: $(fo_stats "${T_ISR[@]}")"

fo_stop_load Load
fo_stop_cli_writers
fo_fact "unknown outcomes: evs_it_load $FO_LOAD_UNKNOWN (+$FO_LOAD_UNAVAILABLE unavailable), CLI $FO_CLI_UNKNOWN (+$FO_CLI_UNAVAILABLE unavailable; $FO_CLI_ABSENT settled as never applied and still absent; $FO_CLI_UNSETTLED not settled by evstore verdict while writing)"
if ((IT_SOFT_FAILS > 0)); then
  # Most likely the projector's end-offset queries broke with the leader change (each
  # failure is reported above); a restarted projector has a fresh Kafka client, so the
  # checks below can still run.
  log "restarting p1 so that the remaining checks can run"
  stop_projector p1
  start_projector p1
fi
fo_wait_applied p1 120
fo_settle_late p1
fo_verify p1 Load 6 "$T"/load.Load.*.txt
LOAD_EVENTS=$FO_VERIFIED
fo_verify p1 Cli 2 "$T"/cli.*.txt # with cli.late.txt
CLI_EVENTS=$FO_VERIFIED
fo_fact "appends accepted: $FO_LOAD_APPENDS by evs_it_load ($LOAD_EVENTS events verified), $FO_CLI_APPENDS by the CLI ($CLI_EVENTS events verified)"
fo_hash_equal_rebuild p1 p2

soft_done
