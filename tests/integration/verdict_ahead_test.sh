#!/usr/bin/env bash
# verdict_ahead_test.sh - a verdict is answered once its record is judged, before the batch
# is written to RocksDB, and every read waits for that write (HTTP-API.md, "Verdicts and
# reads"; P4 in projector/judge/projector.c).
#
# The projector runs with EVSTORE_TEST_WRITE_DELAY_MS, so that each batch stays judged but
# unwritten for 1.5 s. Asserts: the append's answer comes while its record is judged but
# not written (/status: judged_offset past it, next_offset not); a read of the stream, of
# $all, of the category and by event type made right after the answer holds the event at
# the version and position of the verdict; the lookup of a verdict by append id alone
# answers during the write; a repeated append id gets the first verdict, not a second one.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init verdict_ahead "$@"

export EVSTORE_TEST_WRITE_DELAY_MS=1500
start_projector p1
unset EVSTORE_TEST_WRITE_DELAY_MS

# check_ahead LABEL APPEND_ID: asserts that the append's record is judged, not written.
check_ahead() {
  local offset status
  offset=$(record_offset "$2")
  status=$(status_json)
  IT_E=$offset jcheck 'd["partitions"][0]["judged_offset"] > int(E) >= d["partitions"][0]["next_offset"]' \
    "$status" "$1: answered while judged (judged_offset past offset $offset) but not written"
}

# Read right after the answer: each read waits for the write of what was judged before it.
A1=$(uuid)
expect_ok "append" append Ahead-1 --type Opened --data '{"n":1}' --append-id "$A1" --expected no_stream
FIRST=$OUT
check_ahead "append" "$A1"
read_stream Ahead-1 >"$T/stream.json"
IT_E=$FIRST jcheck 'd["version"] == 1 and d["position"] == E["first_position"] and d["type"] == "Opened"' \
  "$(cat "$T/stream.json")" "the stream read right after the verdict holds the event at its version and position"
jcheck 'd["partitions"][0]["next_offset"] > '"$(record_offset "$A1")" "$(status_json)" \
  "the read waited until the batch was written"

A2=$(uuid)
expect_ok "second append" append Ahead-1 --type Shipped --data '{"n":2}' --expected 1 --append-id "$A2"
SECOND=$OUT
check_ahead "second append" "$A2"
IT_E=$SECOND jcheck 'd["position"] == E["first_position"] and d["type"] == "Shipped"' \
  "$(read_all_json | tail -n 1)" "\$all read right after the verdict ends with the event"

expect_ok "third append" append Ahead-2 --type Shipped --data '{"n":3}'
THIRD=$OUT
expect_ok "read-category" read-category Ahead
IT_E=$THIRD jcheck 'd["stream"] == "Ahead-2" and d["position"] == E["first_position"]' \
  "$(tail -n 1 <<<"$OUT")" "the category read right after the verdict ends with the event"

expect_ok "fourth append" append Ahead-3 --type Closed --data '{}'
FOURTH=$OUT
expect_ok "read-type" read-type Closed
IT_E=$FOURTH jcheck 'd["stream"] == "Ahead-3" and d["position"] == E["first_position"]' \
  "$(tail -n 1 <<<"$OUT")" "the event-type read right after the verdict holds the event"

# The verdict by append id alone (no offset) while the batch is written.
A5=$(uuid)
expect_ok "fifth append" append Ahead-4 --type Opened --data '{}' --append-id "$A5"
expect_ok "verdict by append id during the write" verdict "$A5"
jcheck 'd["first_version"] == 1 and d.get("status", "accepted") == "accepted"' "$OUT" \
  "the verdict looked up by append id alone is the accepted one"

# A repeated append id: the first verdict stands, nothing is stored twice.
evs append Ahead-1 --type Again --data '{}' --append-id "$A1"
expect_ok "verdict of the repeated append id" verdict "$A1"
IT_E=$FIRST jcheck 'd["first_version"] == 1 and d["first_position"] == E["first_position"] and d["stream"] == "Ahead-1"' \
  "$OUT" "the first verdict stands for a repeated append id"
assert_eq "$(read_stream Ahead-1 | wc -l)" 2 "Ahead-1 holds its two events, no more"
