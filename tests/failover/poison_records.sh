#!/usr/bin/env bash
# poison_records.sh - records that are not ours, written straight into the events topic
# (reliability.md, "Poison records"; ARCHITECTURE.md rules A2..A4).
#
# The topic is created here, by hand, with the settings the projector requires and
# max.message.bytes raised to 2 MiB, so that records over evstore's append limit (900 KiB)
# reach the projector. One real record (a CLI append) is the raw material. Written with
# evs_fo_kafka (librdkafka, no evstore code):
#   garbage bytes; an empty value; a null value (tombstone); a real record cut in half; a
#   real record with an unknown schema fingerprint; the real header with a body of 0xFF
#   bytes; 950 KiB and 1.5 MiB values (over the append limit, under the topic's); the
#   real record again (its append id was judged before); a valid record whose key is
#   another stream; a valid record with a null key; a valid record whose stream name is
#   invalid. A 3 MiB value is refused by the broker itself (over the topic's limit).
# For each: the projector logs "skipped record at partition 0 offset O: reason" and
# GET /verdicts/{id}?partition=0&offset=O answers 422 naming it (undecodable, repeated), or
# the verdict is `invalid` with the reason (decodes, breaks a rule); /status counts the
# skipped ones; the partition keeps moving (normal appends after them are accepted at the
# right versions, the poison never shows up in any stream or in $all); and a second
# projector rebuilding from offset 0 skips the same records for the same reasons and
# reaches the same --hash.
# shellcheck source=tests/failover/failover_lib.sh
source "$(dirname "$0")/failover_lib.sh"
fo_init poison_records "$@"

"$FO_KAFKA" create "$BROKERS" "$TOPIC" 1 1 cleanup.policy=delete retention.ms=-1 \
  retention.bytes=-1 unclean.leader.election.enable=false max.message.bytes=2097152 ||
  fail "could not create $TOPIC"
start_projector p1

expect_ok "the seed append" append Poison-1 --type Seed --data '{"n":1}' --expected no_stream
SEED_AID=$(jget 'd["append_id"]' "$OUT")
mkdir -p "$T/dump" "$T/poison"
"$BIN_DIR/evs_topic_dump" --brokers "$BROKERS" --topic "$TOPIC" --out "$T/dump" >/dev/null ||
  fail "evs_topic_dump could not read the seed record"
REAL=$T/dump/0.bin
[[ -s "$REAL" ]] || fail "no record at offset 0 to take apart"

# Make the poison from the real record (python: exact bytes).
python3 - "$REAL" "$T/poison" <<'PY' || fail "could not make the poison records"
import os, re, sys, uuid
real = open(sys.argv[1], "rb").read()
out = sys.argv[2]
def w(name, data):
    open(os.path.join(out, name), "wb").write(data)
assert real[:2] == b"\xc3\x01", real[:10]
w("garbage", b"\x00" + os.urandom(199))
w("empty", b"")
w("truncated", real[: len(real) // 2])
w("fingerprint", real[:2] + bytes(b ^ 0xFF for b in real[2:10]) + real[10:])
w("badbody", real[:10] + b"\xff" * 64)
w("big950k", real[:10] + b"\x00" * (950 * 1024))
w("big1500k", real[:10] + b"\x00" * (1536 * 1024))
w("big3m", b"\x00" * (3 * 1024 * 1024))
w("repeat", real)
# A valid record with a new append id and new event ids: the record holds them as
# 36-character uuid strings, so a same-length replacement keeps it valid.
ids = re.findall(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", real)
assert len(ids) >= 2, ids
def renew(rec):
    for i in set(ids):
        rec = rec.replace(i, str(uuid.uuid4()).encode())
    return rec
w("otherkey", renew(real))
w("nullkey", renew(real))
assert b"Poison-1" in real
w("badname", renew(real).replace(b"Poison-1", b"Poison 1"))
PY

# produce NAME KEY: writes $T/poison/NAME with KEY (or -null); sets OFF to its offset.
produce() {
  local out rc=0
  out=$("$FO_KAFKA" produce "$BROKERS" "$TOPIC" 0 "$2" "$T/poison/$1" 2>"$T/produce.err") || rc=$?
  [[ $rc -eq 0 ]] || fail "producing poison $1 failed (exit $rc): $(cat "$T/produce.err")"
  OFF=$(jget 'd["offset"]' "$out")
  log "poison $1 ($(stat -c %s "$T/poison/$1" 2>/dev/null || echo null) bytes, key $2) at offset $OFF"
}

declare -A SKIP_OFF=() SKIP_RE=() INVALID_OFF=() INVALID_RE=() INVALID_AID=()
skip_case() { # NAME KEY REASON_REGEX
  produce "$1" "$2"
  SKIP_OFF[$1]=$OFF
  SKIP_RE[$1]=$3
}
invalid_case() { # NAME KEY REASON_REGEX
  produce "$1" "$2"
  INVALID_OFF[$1]=$OFF
  INVALID_RE[$1]=$3
  INVALID_AID[$1]=$(grep -aoE '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' \
    "$T/poison/$1" | head -1)
}

skip_case garbage Poison-1 'marker'
skip_case empty Poison-1 'marker|short|0 bytes'
produce_null() {
  local out rc=0
  out=$("$FO_KAFKA" produce "$BROKERS" "$TOPIC" 0 Poison-1 -null 2>"$T/produce.err") || rc=$?
  [[ $rc -eq 0 ]] || fail "producing a tombstone failed (exit $rc): $(cat "$T/produce.err")"
  SKIP_OFF[tombstone]=$(jget 'd["offset"]' "$out")
  SKIP_RE[tombstone]='marker|short|0 bytes'
  log "poison tombstone (null value) at offset ${SKIP_OFF[tombstone]}"
}
produce_null
skip_case truncated Poison-1 'malformed|truncat|end|short|body|bytes'
skip_case fingerprint Poison-1 'unknown writer schema'
skip_case badbody Poison-1 'malformed|body|varint|long|length|bytes'
skip_case big950k Poison-1 'more than the limit|larger'
skip_case big1500k Poison-1 'more than the limit|larger'
skip_case repeat Poison-1 'judged before'
invalid_case otherkey Other-9 'key is not the stream'
invalid_case nullkey -null 'key is not the stream'
invalid_case badname 'Poison 1' 'stream|name'

# A record over the topic's own limit: the broker refuses it, nothing reaches the log.
before=$(topic_end_offsets)
rc=0
"$FO_KAFKA" produce "$BROKERS" "$TOPIC" 0 Poison-1 "$T/poison/big3m" >/dev/null 2>"$T/produce.err" || rc=$?
assert_eq "$rc" 3 "a 3 MiB record on a topic with max.message.bytes=2 MiB is refused by the broker ($(cat "$T/produce.err"))"
assert_imatch "$(cat "$T/produce.err")" 'too large|TOO_LARGE' "the broker's refusal names the size"
assert_eq "$(topic_end_offsets)" "$before" "the refused record did not reach the log"

# The partition keeps moving: normal appends after the poison.
expect_ok "an append after the poison" append Poison-1 --type After --data '{"n":2}' --expected 1
jcheck 'd["first_version"] == 2 and d["duplicate"] is False' "$OUT" \
  "the append after the poison is accepted at version 2 (the poison changed nothing)"
AFTER_AID=$(jget 'd["append_id"]' "$OUT")
AFTER_OFF=$(record_offset "$AFTER_AID")
expect_ok "an append to another stream" append Poison-2 --type After --data '{}' --expected no_stream
wait_caught_up p1 60
NSKIP=${#SKIP_OFF[@]}

# check_projector NAME: every poison record is reported the same way by projector NAME.
check_projector() {
  local name=$1 k off body logf
  logf=$(proj_var "$name" LOG)
  for k in "${!SKIP_OFF[@]}"; do
    off=${SKIP_OFF[$k]}
    soft check_skip "$name" "$k" "$off" "$logf"
  done
  for k in "${!INVALID_OFF[@]}"; do
    soft check_invalid "$name" "$k"
  done
  HTTP_PROJ=$name http GET /status
  jcheck 'd["skipped_records"] == '"$NSKIP"' and d["state"] == "running"' "$HTTP_BODY" \
    "projector $name counts $NSKIP skipped records and keeps running"
  HTTP_PROJ=$name http GET /health
  assert_eq "$HTTP_CODE" 200 "projector $name is healthy after the poison"
}

check_skip() { # NAME CASE OFFSET LOGFILE
  local name=$1 k=$2 off=$3 logf=$4 line
  line=$(grep -a "skipped record at partition 0 offset $off: " "$logf" | tail -1)
  [[ -n "$line" ]] || fail "$name: no log line 'skipped record at partition 0 offset $off: ...' for the $k record"
  assert_imatch "$line" "${SKIP_RE[$k]}" "$name: the log names why the $k record was skipped"
  HTTP_PROJ=$name http GET "/verdicts/$(uuid)?partition=0&offset=$off&timeout_ms=10000"
  assert_eq "$HTTP_CODE" 422 "$name: GET /verdicts/{id}?partition=0&offset=$off for the $k record ($HTTP_BODY)"
  assert_match "$HTTP_BODY" "offset $off" "$name: the 422 answer names the offset of the $k record"
  assert_imatch "$HTTP_BODY" "${SKIP_RE[$k]}" "$name: the 422 answer gives the reason for the $k record"
}

check_invalid() { # NAME CASE
  local name=$1 k=$2 off=${INVALID_OFF[$2]} aid=${INVALID_AID[$2]}
  HTTP_PROJ=$name http GET "/verdicts/$aid?partition=0&offset=$off&timeout_ms=10000"
  assert_eq "$HTTP_CODE" 200 "$name: the verdict of the $k record ($HTTP_BODY)"
  jcheck 'd["status"] == "invalid" and d["offset"] == '"$off" "$HTTP_BODY" \
    "$name: the $k record's verdict is invalid"
  assert_imatch "$(jget 'd["reason"]' "$HTTP_BODY")" "${INVALID_RE[$k]}" \
    "$name: the invalid verdict of the $k record gives the reason"
}

check_projector p1

# The seed's verdict stands (the repeated record did not change it); no poison in any
# stream or in $all.
HTTP_PROJ=p1 http GET "/verdicts/$SEED_AID?timeout_ms=10000"
jcheck 'd["status"] == "accepted" and d["first_version"] == 1 and d["offset"] == 0' "$HTTP_BODY" \
  "the seed append's first verdict stands after its record was repeated"
S1=$(read_stream Poison-1)
jcheck 'len(L) == 2 and [e["version"] for e in L] == [1, 2] and [e["type"] for e in L] == ["Seed", "After"]' \
  "$S1" "stream Poison-1 holds exactly the two normal appends"
expect_rc 6 "the stream named by the key-mismatch record does not exist" read Other-9
ALL=$(read_all_json)
jcheck 'len(L) == 3 and [e["position"] for e in L] == [1, 2, 3] and all(e["type"] in ("Seed", "After") for e in L)' \
  "$ALL" "\$all holds only the three normal events, positions 1..3"
IT_E=$(printf '%s\n' "${SKIP_OFF[@]}" "${INVALID_OFF[@]}" | python3 -c 'import json,sys; print(json.dumps([int(x) for x in sys.stdin.read().split()]))') \
  jcheck 'all(o < d for o in E)' "$AFTER_OFF" "the normal append's offset is after every poison record"

# Every replica applies the rule the same way: a rebuild from offset 0.
start_projector p2 --rebuild
wait_caught_up p2 60
check_projector p2
stop_projector p1
stop_projector p2
h1=$(projector_hash p1)
h2=$(projector_hash p2)
log "hash p1: $h1"
log "hash p2 (fresh dir, --rebuild): $h2"
IT_E=$h1 jcheck 'd == E' "$h2" "a rebuild from offset 0 reaches the same --hash"
soft_done
fo_fact "poison records: $NSKIP skipped (garbage, empty, tombstone, truncated, unknown fingerprint, bad body, 950 KiB, 1.5 MiB, repeated append id), ${#INVALID_OFF[@]} judged invalid (key of another stream, null key, invalid stream name), 1 refused by the broker (3 MiB)"
fo_fact "appends checked: 3 normal appends around them"
