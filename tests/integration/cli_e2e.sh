#!/usr/bin/env bash
# cli_e2e.sh - the `evstore` CLI end to end against a real projector and broker.
#
# Asserts: a single append reads back with the same fields and equal data/metadata JSON;
# an NDJSON --file append is one atomic append (contiguous versions and positions, even with
# a concurrent writer; rejected as a whole); --expected no_stream / stream_exists / exact
# (exit 3 naming the expected and the current version, nothing stored); read --backwards /
# --from / --limit; read-all is in gapless position order and agrees with the stream reads;
# verdict of an earlier append; status names the topic with lag 0 and counts every record;
# reading a missing stream exits 6; an idempotent retry (same event ids) answers duplicate
# with the original versions and stores nothing; a partial duplicate exits 4 and stores
# nothing. At the end the broker holds exactly one record per append that reached it.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init cli_e2e "$@"

start_projector p1
RECORDS=0 # records this test put in the topic (every append that got a verdict)

# versions_of NDJSON: the "version" fields as a JSON list.
versions_of() { jget '[e["version"] for e in L]' "$1"; }

# ---- 1. one event, read back --------------------------------------------------------------
E1=$(uuid)
A1=$(uuid)
DATA1='{"total":12,"items":["a","b"],"nested":{"x":null,"ok":true,"text":"caf\u00e9 \"q\""},"n":-1.5}'
META1='{"user":"ann","trace":[1,2]}'
expect_ok "append one event" append Order-1 --type OrderPlaced --data "$DATA1" \
  --metadata "$META1" --event-id "$E1" --append-id "$A1"
RECORDS=$((RECORDS + 1))
jcheck 'd["stream"] == "Order-1" and d["first_version"] == 1 and d["last_version"] == 1 and d["first_position"] == 1 and d["last_position"] == 1 and d["append_id"].lower() == "'"$A1"'" and d["duplicate"] is False' \
  "$OUT" "append prints stream, versions 1..1, positions 1..1, our append id, duplicate false"

ev=$(read_stream Order-1)
jcheck 'len(L) == 1' "$ev" "Order-1 has exactly one event"
jcheck 'L[0]["event_id"].lower() == "'"$E1"'" and L[0]["stream"] == "Order-1" and L[0]["type"] == "OrderPlaced" and L[0]["version"] == 1 and L[0]["position"] == 1' \
  "$ev" "read returns the event id, stream, type, version and position that were appended"
jcheck 'L[0]["data"] == '"$(jget 'repr(d)' "$DATA1")" "$ev" "data reads back equal to the appended JSON"
jcheck 'L[0]["metadata"] == '"$(jget 'repr(d)' "$META1")" "$ev" "metadata reads back equal to the appended JSON"
jcheck '(isinstance(L[0]["created"], str) and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", L[0]["created"])) or (isinstance(L[0]["created"], int) and L[0]["created"] > 0)' \
  "$ev" "created is a timestamp"
for f in event_id stream type version position created data metadata; do
  jcheck '"'"$f"'" in L[0]' "$ev" "read output has the field $f"
done

# ---- 2. --file: one atomic multi-event append -------------------------------------------
E2=$(uuid) E3=$(uuid) E4=$(uuid)
cat >"$T/three.ndjson" <<EOF
{"type":"ItemAdded","data":{"sku":"A-1","qty":2},"metadata":{"user":"bob"},"event_id":"$E2"}
{"type":"ItemAdded","data":{"sku":"B-2","qty":1},"event_id":"$E3"}
{"type":"OrderConfirmed","data":{"ok":true},"metadata":{"n":3},"event_id":"$E4"}
EOF
expect_ok "--file append of three events with --expected 1" append Order-1 --file "$T/three.ndjson" --expected 1
RECORDS=$((RECORDS + 1))
jcheck 'd["first_version"] == 2 and d["last_version"] == 4 and d["first_position"] == 2 and d["last_position"] == 4 and d["duplicate"] is False' \
  "$OUT" "--file append gets versions 2..4 and positions 2..4"
ev=$(read_stream Order-1)
jcheck '[e["version"] for e in L] == [1, 2, 3, 4]' "$ev" "Order-1 versions are 1..4"
jcheck '[e["event_id"].lower() for e in L[1:]] == ["'"$E2"'", "'"$E3"'", "'"$E4"'"]' "$ev" \
  "the file's events are stored in file order"
jcheck '[e["type"] for e in L[1:]] == ["ItemAdded", "ItemAdded", "OrderConfirmed"] and L[1]["data"] == {"sku": "A-1", "qty": 2} and L[1]["metadata"] == {"user": "bob"} and L[3]["metadata"] == {"n": 3}' \
  "$ev" "each line's type, data and metadata are stored"
jcheck '[e["position"] for e in L] == [1, 2, 3, 4]' "$ev" "positions of Order-1 are 1..4"

# A rejected --file append stores none of its events.
E5=$(uuid) E6=$(uuid)
printf '{"type":"X","data":{"i":1},"event_id":"%s"}\n{"type":"X","data":{"i":2},"event_id":"%s"}\n' \
  "$E5" "$E6" >"$T/two.ndjson"
expect_rc 3 "--file append with a wrong expected version" append Order-1 --file "$T/two.ndjson" --expected 1
RECORDS=$((RECORDS + 1))
ev=$(read_stream Order-1)
jcheck 'len(L) == 4' "$ev" "a rejected --file append stores none of its events"

# A large --file append while another writer appends to another stream: its events get
# contiguous positions (one record, applied as a whole).
python3 -c '
import json, sys
for i in range(200):
    print(json.dumps({"type": "Tick", "data": {"i": i}}))' >"$T/big.ndjson"
(
  for i in 1 2 3 4 5 6; do
    "$CLI_BIN" --brokers "$BROKERS" --projector "$P1_URL" --topic "$TOPIC" append Other-1 \
      --type Ping --data "{\"i\":$i}" >/dev/null 2>>"$T/bg.err" || echo "bg append $i failed: $?" >>"$T/bg.err"
  done
) &
bg=$!
expect_ok "--file append of 200 events" append Big-1 --file "$T/big.ndjson" --expected no_stream
RECORDS=$((RECORDS + 1))
big=$OUT
wait "$bg" || true
[[ ! -s "$T/bg.err" ]] || fail "background appends to Other-1 failed: $(cat "$T/bg.err")"
RECORDS=$((RECORDS + 6))
jcheck 'd["first_version"] == 1 and d["last_version"] == 200 and d["last_position"] - d["first_position"] == 199' \
  "$big" "200-event append: versions 1..200 and 200 contiguous positions"
ev=$(read_stream Big-1 --limit 1000)
jcheck '[e["version"] for e in L] == list(range(1, 201)) and [e["data"]["i"] for e in L] == list(range(200))' \
  "$ev" "Big-1 holds the 200 events in order"
jcheck '[e["position"] for e in L] == list(range(L[0]["position"], L[0]["position"] + 200))' \
  "$ev" "Big-1's events have contiguous positions despite the concurrent writer"

# ---- 3. expected versions --------------------------------------------------------------
expect_ok "no_stream on a new stream" append Cust-1 --type Registered --data '{}' --expected no_stream
RECORDS=$((RECORDS + 1))
jcheck 'd["first_version"] == 1' "$OUT" "no_stream append gets version 1"
expect_rc 3 "no_stream on an existing stream" append Cust-1 --type Registered --data '{}' --expected no_stream
RECORDS=$((RECORDS + 1))
assert_imatch "$ERR" 'expect|version' "wrong-version message mentions the expectation"

A_SE=$(uuid)
expect_rc 3 "stream_exists on a missing stream" append Cust-2 --type Touched --data '{}' \
  --expected stream_exists --append-id "$A_SE"
RECORDS=$((RECORDS + 1))
expect_rc 6 "the stream_exists rejection created nothing" read Cust-2
expect_ok "stream_exists on an existing stream" append Cust-1 --type Touched --data '{}' --expected stream_exists
RECORDS=$((RECORDS + 1))
jcheck 'd["first_version"] == 2' "$OUT" "stream_exists append gets version 2"

expect_ok "exact 4 on Order-1 at version 4" append Order-1 --type Shipped --data '{"by":"ups"}' --expected 4
RECORDS=$((RECORDS + 1))
jcheck 'd["first_version"] == 5 and d["last_version"] == 5 and d["first_position"] == d["last_position"]' \
  "$OUT" "exact-version append gets version 5"
A_WRONG=$(uuid)
expect_rc 3 "exact 4 on Order-1 now at version 5" append Order-1 --type Shipped --data '{}' \
  --expected 4 --append-id "$A_WRONG"
RECORDS=$((RECORDS + 1))
assert_imatch "$ERR" 'expected[^0-9]{0,40}4([^0-9]|$)' "stderr names the expected version 4"
assert_match "$ERR" '(^|[^0-9])5([^0-9]|$)' "stderr names the current version 5"
expect_rc 3 "exact 99 on Order-1 at version 5" append Order-1 --type Shipped --data '{}' --expected 99
RECORDS=$((RECORDS + 1))
assert_match "$ERR" '(^|[^0-9])99([^0-9]|$)' "stderr names the expected version 99"
assert_match "$ERR" '(^|[^0-9])5([^0-9]|$)' "stderr names the current version 5"
expect_ok "exact 0 on a new stream" append Cust-3 --type Registered --data '{}' --expected 0
RECORDS=$((RECORDS + 1))
jcheck 'd["first_version"] == 1' "$OUT" "exact-0 append gets version 1"
expect_rc 3 "exact 0 on an existing stream" append Cust-3 --type Registered --data '{}' --expected 0
RECORDS=$((RECORDS + 1))
assert_match "$ERR" '(^|[^0-9])1([^0-9]|$)' "stderr names the current version 1"
expect_ok "any on an existing stream" append Cust-3 --type Note --data '{}' --expected any
RECORDS=$((RECORDS + 1))
jcheck 'd["first_version"] == 2' "$OUT" "expected any appends at version 2"

ev=$(read_stream Order-1)
jcheck '[e["version"] for e in L] == [1, 2, 3, 4, 5] and L[4]["type"] == "Shipped" and L[4]["data"] == {"by": "ups"}' \
  "$ev" "rejected appends stored nothing on Order-1"
ev=$(read_stream Cust-1)
jcheck '[e["version"] for e in L] == [1, 2]' "$ev" "Cust-1 has exactly the two accepted events"

# ---- 4. read options -------------------------------------------------------------------
ORDER=$(read_stream Order-1)
assert_eq "$(versions_of "$(read_stream Order-1 --backwards)")" "[5,4,3,2,1]" "read --backwards"
assert_eq "$(versions_of "$(read_stream Order-1 --from 3)")" "[3,4,5]" "read --from 3"
assert_eq "$(versions_of "$(read_stream Order-1 --from 3 --limit 2)")" "[3,4]" "read --from 3 --limit 2"
assert_eq "$(versions_of "$(read_stream Order-1 --limit 1)")" "[1]" "read --limit 1"
assert_eq "$(versions_of "$(read_stream Order-1 --backwards --from 3)")" "[3,2,1]" "read --backwards --from 3"
assert_eq "$(versions_of "$(read_stream Order-1 --backwards --limit 2)")" "[5,4]" "read --backwards --limit 2"
assert_eq "$(versions_of "$(read_stream Order-1 --backwards --from 2 --limit 5)")" "[2,1]" "read --backwards --from 2 --limit 5"
assert_eq "$(versions_of "$(read_stream Order-1 --from 6)")" "[]" "read --from past the end returns nothing"
bw=$(read_stream Order-1 --backwards)
IT_E=$(jget 'json.dumps(L)' "$ORDER") jcheck '[e["event_id"] for e in L] == [e["event_id"] for e in reversed(E)] and L == list(reversed(E))' \
  "$bw" "a backwards read returns the same events, in reverse"

# ---- 5. read-all ------------------------------------------------------------------------
ALL=$(read_all_json)
TOTAL_EVENTS=$((5 + 200 + 6 + 2 + 2))
jcheck 'len(L) == '"$TOTAL_EVENTS" "$ALL" "read-all returns every accepted event ($TOTAL_EVENTS)"
jcheck '[e["position"] for e in L] == list(range(1, len(L) + 1))' "$ALL" "read-all positions are 1..N in order, gapless"
jcheck 'len({e["event_id"] for e in L}) == len(L)' "$ALL" "no event id appears twice in \$all"
# Every event in $all is the event at (stream, version) of its stream, and each stream's
# versions rise by one along the global order.
for s in Order-1 Big-1 Other-1 Cust-1 Cust-3; do
  sj=$(read_stream "$s" --limit 1000)
  IT_E=$(jget 'json.dumps(L)' "$sj") jcheck '[(e["event_id"], e["version"], e["position"]) for e in L if e["stream"] == "'"$s"'"] == [(e["event_id"], e["version"], e["position"]) for e in E]' \
    "$ALL" "\$all and read $s agree on event ids, versions and positions"
done
part=$(expect_ok "read-all --from 3 --limit 2" read-all --from 3 --limit 2 && printf '%s' "$OUT")
jcheck '[e["position"] for e in L] == [3, 4]' "$part" "read-all --from 3 --limit 2 returns positions 3, 4"

# ---- 6. verdicts -----------------------------------------------------------------------
expect_ok "verdict of the first append" verdict "$A1"
jcheck 'd["append_id"].lower() == "'"$A1"'" and d["first_version"] == 1 and d["last_version"] == 1 and d.get("status", "accepted") == "accepted"' \
  "$OUT" "verdict of the first append: accepted at version 1"
evs verdict "$A_WRONG"
[[ $RC == 0 || $RC == 3 ]] || fail "verdict of a rejected append exited $RC (stderr: $ERR)"
assert_imatch "$OUT$ERR" 'wrong|expected' "verdict of a rejected append says wrong expected version"
evs verdict "$(uuid)"
assert_ne "$RC" 0 "verdict of an append id that was never written"
assert_eq "$RC" 6 "verdict of an unknown append id exits 6 (not found)"

# ---- 7. missing stream -----------------------------------------------------------------
expect_rc 6 "read of a missing stream" read No-Such-Stream
assert_imatch "$ERR" 'No-Such-Stream|not found|no such|not exist' "missing-stream message names the problem"

# ---- 8. idempotent retries -------------------------------------------------------------
before=$(read_all_json)
expect_ok "retry of the first append with the same event id" append Order-1 --type OrderPlaced \
  --data "$DATA1" --metadata "$META1" --event-id "$E1"
RECORDS=$((RECORDS + 1))
jcheck 'd["duplicate"] is True and d["first_version"] == 1 and d["last_version"] == 1 and d["first_position"] == 1 and d["last_position"] == 1' \
  "$OUT" "idempotent retry answers duplicate with the original version and position"
expect_ok "retry of the --file append" append Order-1 --file "$T/three.ndjson" --expected 1
RECORDS=$((RECORDS + 1))
jcheck 'd["duplicate"] is True and d["first_version"] == 2 and d["last_version"] == 4 and d["first_position"] == 2 and d["last_position"] == 4' \
  "$OUT" "retried --file append answers duplicate with versions 2..4 although --expected 1 no longer holds"
after=$(read_all_json)
assert_eq "$after" "$before" "idempotent retries stored nothing new (\$all unchanged)"

# ---- 9. partial duplicate --------------------------------------------------------------
E_NEW=$(uuid)
printf '{"type":"OrderPlaced","data":{"total":12},"event_id":"%s"}\n{"type":"Extra","data":{},"event_id":"%s"}\n' \
  "$E1" "$E_NEW" >"$T/partial.ndjson"
expect_rc 4 "append of one stored and one new event id" append Order-1 --file "$T/partial.ndjson"
RECORDS=$((RECORDS + 1))
assert_imatch "$ERR" 'idempot|already|event id' "idempotency-conflict message names the problem"
after=$(read_all_json)
assert_eq "$after" "$before" "a partial duplicate stored nothing"
jcheck 'not any(e["event_id"].lower() == "'"$E_NEW"'" for e in L)' "$after" "the new event of a partial duplicate is not stored"

# ---- 10. status and the topic ----------------------------------------------------------
wait_caught_up p1 30
expect_ok "status" status
jcheck 'd["topic"] == "'"$TOPIC"'"' "$OUT" "status names the topic"
jcheck 'len(d["partitions"]) == 1 and d["partitions"][0]["lag"] == 0 and d["partitions"][0]["next_offset"] == '"$RECORDS" \
  "$OUT" "status: one partition, lag 0, next_offset $RECORDS (one record per append)"
ends=$(topic_end_offsets)
assert_eq "$ends" "{\"0\":$RECORDS}" "the broker holds exactly one record per append"

stop_projector p1
