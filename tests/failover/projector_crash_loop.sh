#!/usr/bin/env bash
# projector_crash_loop.sh - kill -9 the projector at random moments under a steady append
# load, many times (reliability.md, "Projector crash"), on the single local broker.
#
# 2 evs_it_load processes x 2 threads append to Load-0..5 (exact expected versions, `any`
# every 4th, every unknown outcome settled by append id). Meanwhile the projector is killed
# with SIGKILL EVS_FO_CRASH_KILLS times (default 50) and restarted at once on the same
# data dir and port: mostly at a random moment 0.1..1.5 s after the writers got appends
# accepted again, and every tenth time right after /health answered (during its
# catch-up). Each restart is timed: start -> GET /health 200, and start -> applied all
# that the topic held at the restart.
# Then the load stops and the test asserts:
#   - the writers settled every append with no contract violation;
#   - verify_store.py --exact: every accepted event stored once, nothing else, gapless;
#   - a subscriber's view (GET /subscriptions/all?follow=false, SSE) equals read-all;
#   - the recovery time after kill -9 with the store at its final size (3 more kills, no
#     load), printed with the store's size;
#   - the crashed projector's --hash equals that of a fresh projector rebuilt from offset 0.
# shellcheck source=tests/failover/failover_lib.sh
source "$(dirname "$0")/failover_lib.sh"
fo_init projector_crash_loop "$@"

KILLS=${EVS_FO_CRASH_KILLS:-50}
rand_sleep() { python3 -c "import random; print(random.uniform($1, $2))"; }

start_projector p1
fo_start_load 2 2 Load 6 "$P1_URL"
fo_wait_progress 0 60

T_HEALTH=()
T_CAUGHT=()
for ((k = 1; k <= KILLS; k++)); do
  if ((k % 10 != 5)); then
    fo_wait_progress "$(records_count)" 60
    sleep "$(rand_sleep 0.1 1.5)"
  fi
  kill9_projector p1
  sleep "$(rand_sleep 0 0.3)"
  fo_restart_timed p1
  T_HEALTH+=("$FO_T_HEALTH_MS")
  T_CAUGHT+=("$FO_T_CAUGHT_MS")
  if ((k % 10 == 0)); then
    log "kill $k/$KILLS: $(records_count) events accepted so far; recovery: health ${FO_T_HEALTH_MS} ms, caught up ${FO_T_CAUGHT_MS} ms"
  fi
done
fo_wait_progress "$(records_count)" 60
fo_fact "faults: $KILLS x kill -9 of the projector under load, each followed by a restart"
fo_fact "recovery under load (start -> /health 200): $(fo_stats "${T_HEALTH[@]}"); (start -> caught up): $(fo_stats "${T_CAUGHT[@]}")"

fo_stop_load Load
fo_fact "appends accepted: $FO_LOAD_APPENDS ($FO_LOAD_UNKNOWN unknown outcomes settled by append id, $FO_LOAD_LOOKUPS lookups)"
fo_wait_applied p1 120
fo_verify p1 Load 6 "$T"/load.Load.*.txt
EVENTS=$FO_VERIFIED
fo_check_subscription p1

# Recovery at the final store size, without load.
ENDS=$(topic_end_offsets)
SIZE=$(du -sh "$P1_DIR" | cut -f1)
F_HEALTH=()
F_CAUGHT=()
for i in 1 2 3; do
  kill9_projector p1
  fo_restart_timed p1
  F_HEALTH+=("$FO_T_HEALTH_MS")
  F_CAUGHT+=("$FO_T_CAUGHT_MS")
  HTTP_PROJ=p1 http GET /status
  jcheck 'd["partitions"][0]["lag"] == 0' "$HTTP_BODY" "after kill -9 and restart the projector reports lag 0"
done
log "recovery at $EVENTS events ($ENDS records, $SIZE on disk): health $(fo_stats "${F_HEALTH[@]}"), caught up $(fo_stats "${F_CAUGHT[@]}")"
fo_fact "recovery after kill -9 at $EVENTS events / $(jget 'd["0"]' "$ENDS") records / $SIZE RocksDB, no load: start -> /health 200 $(fo_stats "${F_HEALTH[@]}"), start -> lag 0 $(fo_stats "${F_CAUGHT[@]}")"

fo_hash_equal_rebuild p1 p2
IT_E=$ENDS jcheck 'd["events"] == '"$EVENTS"' and d["next_offsets"] == E' "$FO_HASH" \
  "the crashed projector's hash counts every accepted event; its next offset is the topic's end"
fo_fact "a fresh projector's --rebuild of the topic: $FO_REBUILD_MS ms (start -> caught up)"
