#!/usr/bin/env bash
# race_test.sh - the concurrency rule under a race (reliability.md, "Concurrency race").
#
# Runs evs_it_race (race.c) twice against one projector: 16 writer threads on 4 streams,
# 50 events each, exact expected versions, retrying on EVS_EWRONG_VERSION; once with one
# shared evs_client and once with one client per thread (each run on its own streams).
# race.c asserts exactly one winner per version, gapless versions, every accepted append
# stored once at its version with its event id, accepted == stored, and the lookups.
# Then a fresh projector (new data dir and group, --rebuild) replays the topic from offset 0
# and must reach a byte-identical state: the --hash of both data dirs must be equal.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init race "$@"

WRITERS=${EVS_IT_RACE_WRITERS:-16}
STREAMS=${EVS_IT_RACE_STREAMS:-4}
EVENTS=${EVS_IT_RACE_EVENTS:-50}

start_projector p1
for mode in shared per-thread; do
  rc=0
  EVSTORE_PROJECTOR=$P1_URL timeout -k 5 240 "$BIN_DIR/evs_it_race" --mode "$mode" \
    --prefix "Race_${mode//-/_}" --writers "$WRITERS" --streams "$STREAMS" --events "$EVENTS" \
    >"$T/race.$mode.json" || rc=$?
  log "race $mode: $(cat "$T/race.$mode.json")"
  [[ $rc -eq 0 ]] || fail "evs_it_race --mode $mode exited $rc (its failed checks are above)"
  jcheck 'd["accepted_events"] == '"$((WRITERS * EVENTS))"' and d["stored_events"] == d["accepted_events"] and d["failures"] == 0' \
    "$(cat "$T/race.$mode.json")" "race $mode: every writer got all its events accepted and stored"
done

wait_caught_up p1 60
stop_projector p1
h1=$(projector_hash p1)
log "hash p1: $h1"
jcheck 'd["events"] == '"$((2 * WRITERS * EVENTS))"' and d["streams_count"] == '"$((2 * STREAMS))" \
  "$h1" "the hash counts every raced event and stream"
IT_E=$(topic_end_offsets) jcheck 'd["next_offsets"] == {k: v for k, v in E.items()}' "$h1" \
  "p1's stored next offsets are the topic's end offsets"

start_projector p2 --rebuild
wait_caught_up p2 120
stop_projector p2
h2=$(projector_hash p2)
log "hash p2 (rebuilt): $h2"
IT_E=$h1 jcheck 'd == E' "$h2" "a rebuild from offset 0 reaches the same hash (version table, streams, counts, offsets) as p1"
