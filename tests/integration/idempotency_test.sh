#!/usr/bin/env bash
# idempotency_test.sh - a retry with the same event ids never stores them twice, however
# late it comes (reliability.md promise 4): before and after a clean restart, after a
# kill -9, and against a second projector rebuilt from the topic.
#
# Asserts, every time: the retry of a single-event append and of a three-event append
# answers duplicate:true with the original versions and positions, even with an
# expectation that would now fail and with different data; $all and the streams are
# unchanged; the stored data is the original; the original verdicts are still served;
# new appends continue at the next version (the version table survived); a partial
# duplicate still exits 4.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init idempotency "$@"

start_projector p1

E1=$(uuid) E2=$(uuid) E3=$(uuid) E4=$(uuid)
A1=$(uuid) A2=$(uuid)
expect_ok "first append" append Idem-1 --type Created --data '{"n":1}' --event-id "$E1" \
  --append-id "$A1" --expected no_stream
jcheck 'd["first_version"] == 1 and d["last_version"] == 1 and d["duplicate"] is False' "$OUT" "first append at version 1"
FIRST=$OUT
printf '%s\n' \
  "{\"type\":\"Changed\",\"data\":{\"n\":2},\"event_id\":\"$E2\"}" \
  "{\"type\":\"Changed\",\"data\":{\"n\":3},\"event_id\":\"$E3\"}" \
  "{\"type\":\"Changed\",\"data\":{\"n\":4},\"event_id\":\"$E4\"}" >"$T/three.ndjson"
expect_ok "three-event append" append Idem-1 --file "$T/three.ndjson" --expected 1 --append-id "$A2"
jcheck 'd["first_version"] == 2 and d["last_version"] == 4 and d["duplicate"] is False' "$OUT" "three-event append at 2..4"
SECOND=$OUT
# Another stream, so that positions of Idem-1 are not simply versions.
expect_ok "append to another stream" append Other-1 --type X --data '{}'

STREAM_BEFORE=$(read_stream Idem-1)
ALL_BEFORE=$(read_all_json)
NEXT_VERSION=5

# check_retries LABEL: retries both appends (with a stale expectation and changed data) and
# asserts the answers and that nothing changed; then appends one new event.
check_retries() {
  local label=$1 e
  expect_ok "$label: retry of the first append" append Idem-1 --type Created --data '{"n":1}' \
    --event-id "$E1" --expected no_stream
  IT_E=$FIRST jcheck 'd["duplicate"] is True and all(d[k] == E[k] for k in ("stream", "first_version", "last_version", "first_position", "last_position"))' \
    "$OUT" "$label: retry answers duplicate with the original versions and positions"
  expect_ok "$label: retry with different data" append Idem-1 --type Created --data '{"n":"changed"}' \
    --event-id "$E1" --expected 0
  IT_E=$FIRST jcheck 'd["duplicate"] is True and d["first_version"] == E["first_version"] and d["first_position"] == E["first_position"]' \
    "$OUT" "$label: a retry with other data is still a duplicate (the event id decides)"
  expect_ok "$label: retry of the three-event append" append Idem-1 --file "$T/three.ndjson" --expected 1
  IT_E=$SECOND jcheck 'd["duplicate"] is True and all(d[k] == E[k] for k in ("stream", "first_version", "last_version", "first_position", "last_position"))' \
    "$OUT" "$label: retry of three answers duplicate 2..4 with the original positions"
  e=$(uuid)
  printf '{"type":"X","data":{},"event_id":"%s"}\n{"type":"X","data":{},"event_id":"%s"}\n' "$E3" "$e" >"$T/partial.ndjson"
  expect_rc 4 "$label: partial duplicate" append Idem-1 --file "$T/partial.ndjson"

  assert_eq "$(read_stream Idem-1 --limit 1000 --from 1 | head -n 4)" "$STREAM_BEFORE" \
    "$label: the stream's first four events are unchanged, byte for byte"
  assert_eq "$(read_all_json | head -n "$(wc -l <<<"$ALL_BEFORE")")" "$ALL_BEFORE" \
    "$label: \$all is unchanged where it was"

  expect_ok "$label: verdict of the first append" verdict "$A1"
  IT_E=$FIRST jcheck 'd["first_version"] == E["first_version"] and d["last_version"] == E["last_version"] and d.get("status", "accepted") == "accepted"' \
    "$OUT" "$label: the first append's verdict is still accepted at version 1"
  expect_ok "$label: verdict of the three-event append" verdict "$A2"
  jcheck 'd["first_version"] == 2 and d["last_version"] == 4' "$OUT" "$label: the verdict of the three-event append is 2..4"

  # Nothing stored by the retries: the next new event gets the next version.
  expect_ok "$label: a new append" append Idem-1 --type New --data '{}' --expected $((NEXT_VERSION - 1))
  jcheck 'd["first_version"] == '"$NEXT_VERSION"' and d["duplicate"] is False' "$OUT" \
    "$label: a new append continues at version $NEXT_VERSION"
  NEXT_VERSION=$((NEXT_VERSION + 1))
  ALL_BEFORE=$(read_all_json)
}

check_retries "running"

# A repeated append id is skipped (rule A3; the first verdict stands) and counted in
# /status; the count covers the records skipped before a restart too.
evs append Idem-3 --type Again --data '{}' --append-id "$A1" # its answer: see HTTP-API.md
wait_caught_up p1 30
jcheck 'd["skipped_records"] == 1' "$(status_json)" "the repeated append id counts as one skipped record"
expect_rc 6 "the repeated append id stored nothing: Idem-3 does not exist" read Idem-3

stop_projector p1
start_projector p1
check_retries "after a clean restart"
jcheck 'd["skipped_records"] == 1' "$(status_json)" \
  "after a restart and new appends /status still counts the record skipped before it"

# Appends just before a kill -9 must survive it too.
E9=$(uuid)
expect_ok "append right before kill -9" append Idem-2 --type Y --data '{"k":9}' --event-id "$E9"
LAST=$OUT
kill9_projector p1
start_projector p1
check_retries "after kill -9"
expect_ok "retry of the append made right before kill -9" append Idem-2 --type Y --data '{"k":9}' --event-id "$E9"
IT_E=$LAST jcheck 'd["duplicate"] is True and d["first_version"] == E["first_version"] and d["first_position"] == E["first_position"]' \
  "$OUT" "the append made right before kill -9 answers duplicate after the restart"

# A second projector, rebuilt from the topic, gives the same answers.
wait_caught_up p1 30
start_projector p2 --rebuild
wait_caught_up p2 60
EVS_PROJ=p2 expect_ok "retry against a rebuilt projector" append Idem-1 --type Created --data '{"n":1}' --event-id "$E1"
IT_E=$FIRST jcheck 'd["duplicate"] is True and d["first_version"] == E["first_version"] and d["first_position"] == E["first_position"]' \
  "$OUT" "a rebuilt projector answers the retry with the original version and position"
wait_caught_up p1 30
assert_eq "$(EVS_PROJ=p2 read_stream Idem-1)" "$(read_stream Idem-1)" "both projectors serve the same Idem-1"
stop_projector p2
stop_projector p1
