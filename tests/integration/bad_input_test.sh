#!/usr/bin/env bash
# bad_input_test.sh - bad input at the CLI and at the HTTP API gets a clear error and
# changes nothing (reliability.md promise 5).
#
# CLI: missing arguments, unknown commands and options, invalid stream names (empty, 201
# bytes, bad characters, a leading $, non-UTF-8), invalid event types, invalid JSON data and
# metadata, data over 256 KiB and metadata over 16 KiB, --expected garbage, malformed event
# and append ids, NDJSON files with a bad line, too many lines or none, bad read arguments:
# each exits 2 with a message naming the problem. Nothing reaches the topic: the offsets of
# two sentinel appends around all of it are consecutive, and the broker's end offset and
# the projector's next_offset agree.
# HTTP: bad stream names, bad from/limit/partition/timeout values, malformed append ids,
# unknown paths (404), wrong methods (405), long URLs, raw garbage on the socket: each is a
# 4xx answer with a JSON {"error": "..."} body (the 100 KiB URL: a 4xx), and afterwards the
# projector still answers /health and serves reads, with its offsets unchanged.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init bad_input "$@"

start_projector p1

# ---- the limits themselves are accepted (so the checks below are not just "refuse all") ----
LONG200=$(printf 'a%.0s' $(seq 200))
expect_ok "200-byte stream name and event type" append "$LONG200" --type "${LONG200//a/T}" --data '{}'
python3 -c '
import json
print(json.dumps({"type": "T", "data": "d" * (256 * 1024 - 2)}, separators=(",", ":")))' >"$T/max.ndjson"
expect_ok "data of exactly 256 KiB" append Max-1 --file "$T/max.ndjson"
ev=$(read_stream Max-1)
jcheck 'len(L) == 1 and L[0]["data"] == "d" * (256 * 1024 - 2)' "$ev" "256 KiB of data reads back whole"
META_MAX=$(python3 -c 'print("\"" + "m" * (16 * 1024 - 2) + "\"")')
expect_ok "metadata of exactly 16 KiB" append Max-2 --type T --data '{}' --metadata "$META_MAX"
for i in $(seq 1000); do printf '{"type":"T","data":{"i":%d}}\n' "$i"; done >"$T/thousand.ndjson"
expect_ok "--file of 1000 events" append Max-3 --file "$T/thousand.ndjson"
jcheck 'd["first_version"] == 1 and d["last_version"] == 1000' "$OUT" "1000 events in one append"

expect_ok "sentinel before" append Sentinel-1 --type S --data '{"i":1}' --append-id "$(uuid)"
S1=$(jget 'd["append_id"]' "$OUT")
O1=$(record_offset "$S1")

# bad DESCRIPTION MESSAGE_REGEX ARGS...: the CLI must exit 2 with a stderr message matching
# MESSAGE_REGEX (case-insensitive) and print nothing on stdout.
bad() { soft bad_case "$@"; }
bad_case() {
  local desc=$1 re=$2
  shift 2
  expect_rc 2 "$desc" "$@"
  [[ -n "$ERR" ]] || fail "$desc: exit 2 but no message on stderr"
  grep -qiE -- "$re" <<<"$ERR" || fail "$desc: the message does not name the problem (/$re/): $ERR"
  [[ -z "$OUT" ]] || fail "$desc: printed on stdout: $(printf '%.300s' "$OUT")"
  pass
}

UUID_OK=$(uuid)
LONG201=$(printf 'a%.0s' $(seq 201))
# ---- usage ------------------------------------------------------------------------------
bad "no arguments" 'usage|command'
bad "unknown command" 'frobnicate|unknown|command' frobnicate
bad "append without a stream" 'stream|usage' append
bad "append without --type/--data/--file" 'type|data|file|usage' append Ok-1
bad "append without --data" 'data|usage' append Ok-1 --type T
bad "append without --type" 'type|usage' append Ok-1 --data '{}'
bad "unknown option" 'bogus|unknown|option' append Ok-1 --type T --data '{}' --bogus
bad "unknown option with a value" 'bogus|unknown|option' append Ok-1 --type T --data '{}' --bogus x
bad "option without its value" 'data|value|argument|missing' append Ok-1 --type T --data
bad "both --data and --file" 'file|data' append Ok-1 --type T --data '{}' --file /dev/null
bad "read without a stream" 'stream|usage' read
bad "verdict without an append id" 'append|id|usage' verdict

# ---- stream names and event types ----------------------------------------------------------
bad "empty stream name" 'stream' append '' --type T --data '{}'
bad "201-byte stream name" 'stream|200|long' append "$LONG201" --type T --data '{}'
bad "stream name with a space" 'stream' append 'bad name' --type T --data '{}'
bad "stream name with a slash" 'stream' append 'a/b' --type T --data '{}'
bad "stream name with a leading \$" 'stream|\$|reserved' append '$foo' --type T --data '{}'
bad "stream name \$all" 'stream|\$|reserved' append '$all' --type T --data '{}'
bad "non-UTF-8 stream name" 'stream' append $'\xff\xfeOrder' --type T --data '{}'
bad "stream name with a newline" 'stream' append $'Order-1\nx' --type T --data '{}'
bad "stream name with a non-ASCII letter" 'stream' append $'caf\xc3\xa9' --type T --data '{}'
bad "read of an invalid stream name" 'stream' read 'bad name'
bad "read of a non-UTF-8 stream name" 'stream' read $'\xff'
bad "empty event type" 'type' append Ok-1 --type '' --data '{}'
bad "event type with a space" 'type' append Ok-1 --type 'bad type' --data '{}'
bad "201-byte event type" 'type|200|long' append Ok-1 --type "$LONG201" --data '{}'
bad "non-UTF-8 event type" 'type' append Ok-1 --type $'T\xff' --data '{}'

# ---- data and metadata -----------------------------------------------------------------
bad "data that is not JSON" 'json|data' append Ok-1 --type T --data 'not json'
bad "truncated JSON data" 'json|data' append Ok-1 --type T --data '{"a":'
bad "JSON data with trailing garbage" 'json|data' append Ok-1 --type T --data '{"a":1} x'
bad "empty data" 'json|data|empty' append Ok-1 --type T --data ''
bad "non-UTF-8 data" 'json|data|utf' append Ok-1 --type T --data $'{"a":"\xff"}'
bad "metadata that is not JSON" 'json|metadata' append Ok-1 --type T --data '{}' --metadata 'nope'
META_BIG=$(python3 -c 'print("\"" + "m" * (16 * 1024 - 1) + "\"")') # 16 KiB + 1 bytes of JSON
bad "metadata over 16 KiB" 'metadata|large|size|limit|16|byte' append Ok-1 --type T --data '{}' --metadata "$META_BIG"
python3 -c '
import json
print(json.dumps({"type": "T", "data": "d" * (256 * 1024 - 1)}, separators=(",", ":")))' >"$T/big.ndjson"
bad "data over 256 KiB (257 KiB JSON string)" 'data|large|size|limit|256|262144|byte' append Ok-1 --file "$T/big.ndjson"

# ---- expected versions and ids ---------------------------------------------------------
for x in foo -1 1.5 '' 99999999999999999999999 ' 3' 3x 0x10 any,no_stream; do
  bad "--expected '$x'" 'expected' append Ok-1 --type T --data '{}' --expected "$x"
done
for x in not-a-uuid 1234 '' "${UUID_OK}0" "${UUID_OK:0:35}g" "${UUID_OK//-/}" "{$UUID_OK}"; do
  bad "--event-id '$x'" 'event.?id|uuid' append Ok-1 --type T --data '{}' --event-id "$x"
  bad "--append-id '$x'" 'append.?id|uuid' append Ok-1 --type T --data '{}' --append-id "$x"
done
bad "verdict of a malformed append id" 'append.?id|uuid' verdict not-a-uuid

# ---- NDJSON files ----------------------------------------------------------------------
good_line='{"type":"T","data":{"ok":1}}'
printf '%s\n%s\n%s\n' "$good_line" '{"type":"T","data":' "$good_line" >"$T/badline.ndjson"
bad "--file whose line 2 is not JSON" 'line[^0-9]*2|:2' append Ok-1 --file "$T/badline.ndjson"
printf '%s\n%s\n' "$good_line" '{"data":{}}' >"$T/notype.ndjson"
bad "--file with a line without a type" 'type' append Ok-1 --file "$T/notype.ndjson"
printf '%s\n%s\n' "$good_line" '[1,2]' >"$T/array.ndjson"
bad "--file with a line that is not an object" 'line|object' append Ok-1 --file "$T/array.ndjson"
printf '%s\n{"type":"T","data":{},"event_id":"nope"}\n' "$good_line" >"$T/badid.ndjson"
bad "--file with a malformed event id" 'event.?id|uuid' append Ok-1 --file "$T/badid.ndjson"
printf '%s\n{"type":"bad type","data":{}}\n' "$good_line" >"$T/badtype.ndjson"
bad "--file with an invalid event type" 'type' append Ok-1 --file "$T/badtype.ndjson"
: >"$T/empty.ndjson"
bad "--file that is empty" 'empty|no event|event' append Ok-1 --file "$T/empty.ndjson"
for i in $(seq 1001); do printf '%s\n' "$good_line"; done >"$T/many.ndjson"
bad "--file of 1001 events" '1000|1001|many|limit' append Ok-1 --file "$T/many.ndjson"
evs append Ok-1 --file "$T/does-not-exist.ndjson"
[[ $RC == 1 || $RC == 2 ]] || fail "--file of a missing file exited $RC"
assert_imatch "$ERR" 'does-not-exist|no such file' "a missing --file is named"

# ---- read arguments ----------------------------------------------------------------------
# (--limit above EVS_READ_LIMIT_MAX is fine for the CLI: it reads page by page.)
for x in 0 -1 abc 1.5 99999999999999999999; do
  bad "read --limit '$x'" 'limit' read Sentinel-1 --limit "$x"
  bad "read-all --limit '$x'" 'limit' read-all --limit "$x"
done
for x in -5 abc 1e3 99999999999999999999; do
  bad "read --from '$x'" 'from|version' read Sentinel-1 --from "$x"
  bad "read-all --from '$x'" 'from|position' read-all --from "$x"
done

# ---- nothing reached the topic -----------------------------------------------------------
expect_rc 6 "no invalid append created Ok-1" read Ok-1
expect_ok "sentinel after" append Sentinel-1 --type S --data '{"i":2}' --expected 1
S2=$(jget 'd["append_id"]' "$OUT")
O2=$(record_offset "$S2")
assert_eq "$O2" "$((O1 + 1))" "no invalid CLI input produced a record (sentinel offsets $O1, $O2)"
assert_eq "$(topic_end_offsets)" "{\"0\":$((O2 + 1))}" "the broker's end offset is right after the second sentinel"
wait_caught_up p1 30
jcheck 'd["partitions"][0]["next_offset"] == '"$((O2 + 1))"' and d["partitions"][0]["lag"] == 0' \
  "$(status_json)" "the projector's next_offset is right after the second sentinel"

# ---- HTTP ------------------------------------------------------------------------------
# http_err METHOD PATH CODE_REGEX DESCRIPTION: the answer's status matches CODE_REGEX and its
# body is a JSON object with a non-empty "error" string.
http_err() { soft http_err_case "$@"; }
http_err_case() {
  local method=$1 path=$2 codes=$3 desc=$4
  http "$method" "$path"
  [[ "$HTTP_CODE" =~ ^($codes)$ ]] ||
    fail "HTTP $desc: $method $(printf '%.120s' "$path") answered $HTTP_CODE, expected $codes (body: $(printf '%.300s' "$HTTP_BODY"))"
  jcheck 'isinstance(d, dict) and isinstance(d.get("error"), str) and len(d["error"]) > 0' \
    "$HTTP_BODY" "HTTP $desc: $method $(printf '%.80s' "$path") answers a JSON object with an error message"
}

U=$(uuid)
http_err GET "/streams/bad%20name" 400 "stream name with a space"
http_err GET "/streams/%24all" 400 "stream name \$all"
http_err GET "/streams/%24foo" 400 "stream name with a leading \$"
http_err GET "/streams/$LONG201" 400 "201-byte stream name"
http_err GET "/streams/%FF%FE" 400 "non-UTF-8 stream name"
http_err GET "/streams/caf%C3%A9" 400 "non-ASCII stream name"
http_err GET "/streams/a%2Fb" '400|404' "encoded slash in a stream name"
http_err GET "/streams/Sentinel-1%00x" 400 "NUL in a stream name (must not read stream Sentinel-1)"
http_err GET "/streams/" '400|404' "empty stream name"
for q in from=-1 from=abc from=1.5 from=99999999999999999999999 from=%FF limit=0 limit=-5 limit=abc \
  limit=10001 limit=99999999999999999999 direction=sideways encoding=rot13; do
  http_err GET "/streams/Sentinel-1?$q" 400 "stream read with $q"
done
for q in from=-1 from=abc limit=0 limit=10001 limit=abc partition=7 partition=-1 partition=abc; do
  http_err GET "/all?$q" 400 "\$all read with $q"
done
http_err GET "/verdicts/not-a-uuid" 400 "malformed append id"
http_err GET "/verdicts/${U}x" 400 "append id with an extra character"
http_err GET "/verdicts/${U:0:35}g" 400 "append id with a non-hex digit"
for q in timeout_ms=-1 timeout_ms=600000 timeout_ms=abc "partition=abc&offset=1" \
  "partition=0&offset=-5" "partition=0&offset=abc" "partition=9&offset=0"; do
  http_err GET "/verdicts/$U?$q" 400 "verdict with $q"
done
# Edge values that are valid must not be refused.
http_ok() { soft http_ok_case "$@"; }
http_ok_case() {
  http GET "$1"
  [[ "$HTTP_CODE" == "$2" ]] || fail "HTTP GET $1 answered $HTTP_CODE, expected $2 (body: $(printf '%.300s' "$HTTP_BODY"))"
}
http_ok "/streams/Sentinel-1?limit=10000" 200
http_ok "/streams/Sentinel-1?from=0" 200
http_ok "/streams/Sentinel-1?from=0&direction=backwards&limit=1" 200
http_ok "/streams/Sentinel-1?encoding=base64" 200
http_ok "/streams/$LONG200" 200
http_ok "/all?limit=10000&from=0" 200
http_ok "/verdicts/$U?timeout_ms=60000" 404
http_ok "/verdicts/$S1?partition=0&offset=$O1&timeout_ms=0" 200
http_err GET "/nope" 404 "unknown path"
http_err GET "/" 404 "root path"
http_err GET "/healthz" 404 "unknown path next to /health"
http_err GET "/status/extra" 404 "unknown sub-path"
http_err POST "/health" 405 "POST to /health"
http_err PATCH "/streams/Sentinel-1" 405 "PATCH to a stream (GET reads it, POST appends)"
http_err POST "/streams/Sentinel-1" 400 "POST to a stream without a body"
http_err DELETE "/status" 405 "DELETE /status"
http_err PUT "/all" 405 "PUT /all"
http_err POST "/verdicts/$U" 405 "POST to a verdict"
LONG8K=$(printf 'a%.0s' $(seq 8000))
http_err GET "/streams/$LONG8K" '400|414' "8000-byte stream name in the URL"
http GET "/all?from=1&junk=$LONG8K"
[[ "$HTTP_CODE" == 200 || "$HTTP_CODE" =~ ^4 ]] || fail "an 8 KiB query string answered $HTTP_CODE"
LONG100K=$(python3 -c 'print("a" * 100000)')
http GET "/streams/$LONG100K"
[[ "$HTTP_CODE" =~ ^4[0-9][0-9]$ ]] || fail "a 100 KiB URL answered $HTTP_CODE, expected a 4xx"
pass
if ! jget 'isinstance(d, dict) and "error" in d' "$HTTP_BODY" 2>/dev/null | grep -qx true; then
  log "note: the 100 KiB URL got $HTTP_CODE without a JSON error body: $(printf '%.120s' "$HTTP_BODY")"
fi

# Raw garbage on the socket: no valid request line, binary junk, a header without a colon.
port=$(proj_var p1 PORT)
for junk in 'GARBAGE\r\n\r\n' '\x00\xff\xfe\x01\r\n\r\n' 'GET /health HTTP/1.1\r\nBroken header\r\n\r\n' \
  'GET /health HTTP/9.9\r\n\r\n' 'GET /streams/x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n'; do
  timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf '$junk' >&3; timeout 2 cat <&3 >/dev/null" 2>/dev/null || true
done
# Half a request, then the connection closes.
timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf 'GET /stre' >&3" 2>/dev/null || true

# ---- still serving, nothing changed --------------------------------------------------------
http GET /health
assert_eq "$HTTP_CODE" 200 "the projector still answers /health after the bad requests"
kill -0 "$P1_PID" || fail "the projector died"
ev=$(read_stream Sentinel-1)
jcheck '[e["version"] for e in L] == [1, 2]' "$ev" "the projector still serves reads"
jcheck 'd["partitions"][0]["next_offset"] == '"$((O2 + 1))" "$(status_json)" \
  "bad HTTP requests changed no offset"
assert_eq "$(topic_end_offsets)" "{\"0\":$((O2 + 1))}" "bad HTTP requests produced nothing"
stop_projector p1
soft_done
