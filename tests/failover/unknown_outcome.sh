#!/usr/bin/env bash
# unknown_outcome.sh - appends whose outcome is unknown, settled by append id
# (reliability.md, "Unknown outcome"), on the three-node cluster.
#
# Outages, each during a few CLI appends with --timeout-ms 4000 (one event with an exact
# expected version; three events from an NDJSON file, `any`):
#   projector  the projector is killed (kill -9): the record is written, the verdict
#              cannot be had;
#   followers  both followers of the partition are killed (kill -9): min ISR 2 cannot be
#              met and, with two of three controllers gone, the ISR cannot shrink;
#   paused     the leader and one follower are frozen (SIGSTOP), like hung machines.
# Every such append must exit 5 and name its append id on stderr. After the outage is over
# (nodes restarted or resumed, ISR complete again, projector back), `evstore verdict ID`
# must settle each: accepted -> every event of the append is stored once, contiguously, at
# the verdict's versions; not found (exit 6) -> none of its events is stored; an answer
# "nothing was written" must never turn out accepted. Then a retry with the same event ids
# (new append id) must answer duplicate with the same versions (if it was accepted) or be
# accepted (if not), and each event id is stored exactly once. A fresh --rebuild reaches
# the same --hash.
# shellcheck source=tests/failover/failover_lib.sh
source "$(dirname "$0")/failover_lib.sh"
fo_init unknown_outcome --cluster "$@"

start_projector p1 --replication-factor 3
expect_ok "a first append" append Uo-warm --type Warm --data '{}' --expected no_stream
full_isr() { [[ "$(bash "$CLUSTER_SH" isr "$TOPIC" 2>/dev/null)" =~ ^[123],[123],[123]$ ]]; }

N_APPENDS=0
N_ACCEPTED=0
N_ABSENT=0
N_UNKNOWN=0
N_UNAVAILABLE=0
CASES=()

# start_appends CASE: two appends in the background (one event with an exact expectation
# on stream Uo-CASE-1 (a new stream: expected 0), three events from a file on Uo-CASE-3),
# each with its own append id and event ids, recorded in $T/CASE.appends as
# "append_id stream event_id[,event_id...]".
start_appends() {
  local c=$1 aid e1 f i ids
  : >"$T/$c.appends"
  APPEND_PIDS=()
  aid=$(uuid)
  e1=$(uuid)
  echo "$aid Uo-$c-1 $e1" >>"$T/$c.appends"
  timeout -k 5 90 "$CLI_BIN" --brokers "$BROKERS" --projector "$P1_URL" --topic "$TOPIC" \
    --timeout-ms 4000 append "Uo-$c-1" --type One --data '{"n":1}' --expected 0 \
    --event-id "$e1" --append-id "$aid" >"$T/$aid.out" 2>"$T/$aid.err" &
  APPEND_PIDS+=("$!:$aid")
  aid=$(uuid)
  f=$T/$aid.ndjson
  ids=""
  for i in 1 2 3; do
    e1=$(uuid)
    ids+="${ids:+,}$e1"
    echo "{\"type\":\"Three\",\"data\":{\"i\":$i},\"event_id\":\"$e1\"}" >>"$f"
  done
  echo "$aid Uo-$c-3 $ids" >>"$T/$c.appends"
  timeout -k 5 90 "$CLI_BIN" --brokers "$BROKERS" --projector "$P1_URL" --topic "$TOPIC" \
    --timeout-ms 4000 append "Uo-$c-3" --file "$f" --expected any \
    --append-id "$aid" >"$T/$aid.out" 2>"$T/$aid.err" &
  APPEND_PIDS+=("$!:$aid")
}

# finish_appends CASE: waits for the appends; each must exit 5 and name its append id.
finish_appends() {
  local c=$1 p pid aid rc kind
  for p in "${APPEND_PIDS[@]}"; do
    pid=${p%%:*}
    aid=${p#*:}
    rc=0
    wait "$pid" || rc=$?
    log "$c: append $aid exit $rc: $(head -c 300 "$T/$aid.err")"
    assert_eq "$rc" 5 "$c: an append during the outage exits 5 (stdout $(cat "$T/$aid.out"))"
    assert_match "$(cat "$T/$aid.err")" "$aid" "$c: the exit-5 message names the append id"
    if grep -q 'nothing was written' "$T/$aid.err"; then
      kind=unavailable
      N_UNAVAILABLE=$((N_UNAVAILABLE + 1))
    else
      kind=unknown
      N_UNKNOWN=$((N_UNKNOWN + 1))
    fi
    echo "$aid $kind" >>"$T/$c.kinds"
    N_APPENDS=$((N_APPENDS + 1))
  done
}

# settle CASE: settles each append of CASE by its id, checks the store, retries it.
settle() {
  local c=$1 aid stream ids kind deadline status v first last n ev_json
  while read -r aid stream ids; do
    kind=$(awk -v a="$aid" '$1 == a {print $2}' "$T/$c.kinds")
    deadline=$((SECONDS + 90))
    while :; do
      EVS_TIMEOUT_MS=10000 evs verdict "$aid"
      [[ $RC -eq 5 ]] || break
      ((SECONDS < deadline)) || fail "$c: evstore verdict $aid still exits 5 after 90 s: $ERR"
      sleep 1
    done
    n=$(tr ',' '\n' <<<"$ids" | wc -l)
    if [[ $RC -eq 0 ]]; then
      status=$(jget 'd["status"]' "$OUT")
      assert_eq "$status" accepted "$c: the verdict of $aid"
      [[ $kind == unavailable ]] &&
        fail "$c: append $aid was reported as 'nothing was written' but its verdict is accepted"
      first=$(jget 'd["first_version"]' "$OUT")
      last=$(jget 'd["last_version"]' "$OUT")
      assert_eq "$((last - first + 1))" "$n" "$c: the accepted append $aid has all its $n events"
      N_ACCEPTED=$((N_ACCEPTED + 1))
      ev_json=$(read_stream "$stream")
      IT_E="{\"ids\":\"$ids\",\"first\":$first}" jcheck \
        '[e["event_id"] for e in L if e["event_id"] in E["ids"].split(",")] == E["ids"].split(",") and [e["version"] for e in L if e["event_id"] in E["ids"].split(",")] == list(range(E["first"], E["first"] + len(E["ids"].split(","))))' \
        "$ev_json" "$c: every event of the accepted append $aid is stored once, at its versions"
    else
      assert_eq "$RC" 6 "$c: evstore verdict $aid (accepted or not found) - stderr $ERR"
      N_ABSENT=$((N_ABSENT + 1))
      evs read "$stream"
      IT_E="{\"ids\":\"$ids\"}" jcheck 'L is not None and not [e for e in L if e["event_id"] in E["ids"].split(",")]' \
        "${OUT:-}" "$c: no event of the never-applied append $aid is stored"
      first=""
    fi
    # The retry: same event ids, new append id.
    if [[ "$stream" == *-1 ]]; then
      expect_rc 0 "$c: retry of $aid" append "$stream" --type One --data '{"n":1}' \
        --event-id "$ids" --expected any
    else
      expect_rc 0 "$c: retry of $aid" append "$stream" --file "$T/$aid.ndjson" --expected any
    fi
    if [[ -n "$first" ]]; then
      jcheck 'd["duplicate"] is True and d["first_version"] == '"$first" "$OUT" \
        "$c: the retry of the accepted append $aid answers duplicate with the original versions"
    else
      jcheck 'd["duplicate"] is False' "$OUT" "$c: the retry of the never-applied append $aid is stored now"
    fi
    ev_json=$(read_stream "$stream")
    IT_E="{\"ids\":\"$ids\"}" jcheck \
      'all(sum(1 for e in L if e["event_id"] == i) == 1 for i in E["ids"].split(",")) and [e["version"] for e in L] == list(range(1, len(L) + 1))' \
      "$ev_json" "$c: after the retry every event id of $aid is stored exactly once, versions gapless"
  done <"$T/$c.appends"
}

wait_isr() {
  local deadline=$((SECONDS + 120))
  until full_isr; do
    ((SECONDS < deadline)) || fail "the ISR of $TOPIC is not complete 120 s after the outage"
    sleep 0.5
  done
  pass
}

# --- projector: killed while the appends are made ------------------------------------------
kill9_projector p1
start_appends projector
finish_appends projector
start_projector p1
settle projector
CASES+=("projector killed")

# --- followers: both killed -------------------------------------------------------------------
leader=$(bash "$CLUSTER_SH" leader "$TOPIC")
mapfile -t followers < <(printf '%s\n' 1 2 3 | grep -vx "$leader")
log "followers: kill -9 nodes ${followers[*]} (leader $leader stays alone)"
for n in "${followers[@]}"; do bash "$CLUSTER_SH" kill "$n" >&2; done
start_appends followers
finish_appends followers
for n in "${followers[@]}"; do bash "$CLUSTER_SH" restart "$n" >&2; done
wait_isr
settle followers
CASES+=("followers ${followers[*]} killed (leader $leader alone, min ISR 2 unmet)")

# --- paused: leader and one follower frozen -------------------------------------------------
leader=$(bash "$CLUSTER_SH" leader "$TOPIC")
other=$(printf '%s\n' 1 2 3 | grep -vx "$leader" | head -1)
log "paused: SIGSTOP nodes $leader (leader) and $other"
bash "$CLUSTER_SH" pause "$leader" >&2
bash "$CLUSTER_SH" pause "$other" >&2
start_appends paused
finish_appends paused
bash "$CLUSTER_SH" resume "$leader" >&2
bash "$CLUSTER_SH" resume "$other" >&2
wait_isr
settle paused
CASES+=("nodes $leader (leader) and $other paused")

faults=$(printf '%s / ' "${CASES[@]}")
fo_fact "faults: ${faults% / }"
fo_fact "appends with exit 5: $N_APPENDS ($N_UNKNOWN 'may or may not have been stored', $N_UNAVAILABLE 'nothing was written'); settled: $N_ACCEPTED accepted, $N_ABSENT never applied; each retried with the same event ids, stored once"
fo_hash_equal_rebuild p1 p2
