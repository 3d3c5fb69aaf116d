#!/usr/bin/env bash
# http_append_test.sh - POST /streams/{stream}: appends over HTTP, every answer it has
# (docs/HTTP-API.md, "Appending events").
#
# Asserts:
#  - 200: an append of one and of three events (versions, positions, the append id given);
#    a retry with the same event ids answers duplicate:true with the original versions and
#    positions, even with an expectation that no longer holds, and stores nothing;
#  - 409 wrong_expected_version with the expectation and the stream's current version, for
#    N, no_stream and stream_exists; 409 idempotency_conflict (some ids stored before; an id
#    stored in another stream); neither stores anything;
#  - 400 invalid_input for each kind of invalid input (body, members, names, ids, limits,
#    base64, payloads that do not fit their content type): the broker's end offset and the
#    projector's next_offset are unchanged afterwards, so nothing was written;
#  - bytes: data_base64 reads back byte for byte (encoding=base64); JSON data and metadata
#    are stored as their compact text, numbers as written (1.10 stays 1.10, integers beyond
#    64 bits stay whole), member order and string escapes kept; a JSON payload given as
#    data_base64 is stored uncompacted; a string for a non-JSON content type is stored as its
#    UTF-8 bytes;
#  - 405 for another method on /streams/{stream}, 413 for a body over 8 MiB;
#  - 504 unknown_outcome from a projector that does not own the stream's partition (its
#    verdict wait times out), with the append id that GET /verdicts/{id} settles on the owner;
#  - 503 unavailable once the topic is gone (nothing can be written).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init http_append "$@"

start_projector p1

# post STREAM JSON [CURL ARGS...]: POST /streams/STREAM with the body JSON; sets HTTP_CODE
# and HTTP_BODY.
post() {
  local stream=$1 body=$2
  shift 2
  printf '%s' "$body" >"$T/body.json"
  http POST "/streams/$stream" -H 'Content-Type: application/json' --data-binary @"$T/body.json" "$@"
}

# expect_post CODE DESCRIPTION STREAM JSON: post, and assert the status.
expect_post() {
  local code=$1 desc=$2
  post "$3" "$4"
  [[ "$HTTP_CODE" == "$code" ]] ||
    fail "$desc: POST /streams/$3 answered $HTTP_CODE, expected $code: $(printf '%.600s' "$HTTP_BODY")"
  pass
}

# stored_bytes STREAM VERSION: the stored data bytes of one event, as hex.
stored_bytes() {
  http GET "/streams/$1?from=$2&limit=1&encoding=base64"
  [[ "$HTTP_CODE" == 200 ]] || fail "GET /streams/$1 answered $HTTP_CODE: $HTTP_BODY"
  jget 'base64.b64decode(d["events"][0]["data"]).hex()' "$HTTP_BODY"
}
stored_metadata() {
  http GET "/streams/$1?from=$2&limit=1&encoding=base64"
  [[ "$HTTP_CODE" == 200 ]] || fail "GET /streams/$1 answered $HTTP_CODE: $HTTP_BODY"
  jget 'base64.b64decode(d["events"][0]["metadata"]).hex()' "$HTTP_BODY"
}
hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }

# ---- 200: accepted ----------------------------------------------------------------------
E1=$(uuid) E2=$(uuid) E3=$(uuid) E4=$(uuid) A1=$(uuid)
expect_post 200 "first append" Http-1 \
  "{\"expected\":\"no_stream\",\"append_id\":\"$A1\",\"events\":[{\"event_id\":\"$E1\",\"type\":\"Created\",\"data\":{\"n\":1},\"correlation_id\":\"corr-1\",\"causation_id\":\"cause-1\"}]}"
FIRST=$HTTP_BODY
IT_E="{\"a\":\"$A1\"}" jcheck 'd == {"stream": "Http-1", "first_version": 1, "last_version": 1, "first_position": 1, "last_position": 1, "partition": 0, "append_id": E["a"], "duplicate": False}' \
  "$FIRST" "the first append is at version 1, position 1, with the append id given"
THREE="[{\"event_id\":\"$E2\",\"type\":\"Changed\",\"data\":{\"n\":2}},{\"event_id\":\"$E3\",\"type\":\"Changed\",\"data\":{\"n\":3}},{\"event_id\":\"$E4\",\"type\":\"Changed\",\"data\":{\"n\":4}}]"
expect_post 200 "three events at once" Http-1 "{\"expected\":1,\"events\":$THREE}"
SECOND=$HTTP_BODY
jcheck 'd["first_version"] == 2 and d["last_version"] == 4 and d["first_position"] == 2 and d["last_position"] == 4 and d["duplicate"] is False and re.fullmatch("[0-9a-f-]{36}", d["append_id"])' \
  "$SECOND" "three events at versions 2..4 with a generated append id"
http GET "/verdicts/$A1"
jcheck 'd["status"] == "accepted" and d["first_version"] == 1' "$HTTP_BODY" "the verdict of the given append id is accepted"
http GET "/streams/Http-1"
jcheck '[e["type"] for e in d["events"]] == ["Created", "Changed", "Changed", "Changed"] and d["events"][0]["correlation_id"] == "corr-1" and d["events"][0]["causation_id"] == "cause-1" and d["events"][0]["content_type"] == "application/json" and d["events"][1]["data"] == {"n": 2}' \
  "$HTTP_BODY" "the stream holds the four events with their ids and content type"
STREAM_BEFORE=$HTTP_BODY
expect_post 200 "default expectation any" Http-2 '{"events":[{"type":"X","data":null}]}'
jcheck 'd["first_version"] == 1 and d["first_position"] == 5' "$HTTP_BODY" "expected any by default; data null is the JSON value null"

# ---- 200: duplicates ---------------------------------------------------------------------
expect_post 200 "retry of the first append" Http-1 \
  "{\"expected\":\"no_stream\",\"events\":[{\"event_id\":\"$E1\",\"type\":\"Created\",\"data\":{\"n\":\"other\"}}]}"
IT_E=$FIRST jcheck 'd["duplicate"] is True and all(d[k] == E[k] for k in ("stream", "first_version", "last_version", "first_position", "last_position"))' \
  "$HTTP_BODY" "a retry answers duplicate with the original versions and positions"
expect_post 200 "retry of the three-event append" Http-1 "{\"expected\":0,\"events\":$THREE}"
IT_E=$SECOND jcheck 'd["duplicate"] is True and all(d[k] == E[k] for k in ("first_version", "last_version", "first_position", "last_position"))' \
  "$HTTP_BODY" "the retry of three answers duplicate 2..4"

# ---- 409 ---------------------------------------------------------------------------------
expect_post 409 "expected 7 on a stream at 4" Http-1 '{"expected":7,"events":[{"type":"X","data":{}}]}'
jcheck 'd["error_type"] == "wrong_expected_version" and d["expected"] == 7 and d["current_version"] == 4 and d["stream"] == "Http-1" and len(d["append_id"]) == 36 and "expected 7" in d["error"]' \
  "$HTTP_BODY" "409 names the expectation and the current version"
expect_post 409 "no_stream on an existing stream" Http-1 '{"expected":"no_stream","events":[{"type":"X","data":{}}]}'
jcheck 'd["error_type"] == "wrong_expected_version" and d["expected"] == "no_stream" and d["current_version"] == 4' "$HTTP_BODY" "409 for no_stream"
expect_post 409 "stream_exists on a new stream" Http-New '{"expected":"stream_exists","events":[{"type":"X","data":{}}]}'
jcheck 'd["error_type"] == "wrong_expected_version" and d["expected"] == "stream_exists" and d["current_version"] == 0' "$HTTP_BODY" "409 for stream_exists"
expect_post 409 "some event ids stored before" Http-1 \
  "{\"events\":[{\"event_id\":\"$E4\",\"type\":\"X\",\"data\":{}},{\"event_id\":\"$(uuid)\",\"type\":\"X\",\"data\":{}}]}"
jcheck 'd["error_type"] == "idempotency_conflict" and len(d["append_id"]) == 36 and d["stream"] == "Http-1"' "$HTTP_BODY" "409 idempotency_conflict"
expect_post 409 "an event id stored in another stream" Http-3 \
  "{\"events\":[{\"event_id\":\"$E1\",\"type\":\"Created\",\"data\":{\"n\":1}}]}"
jcheck 'd["error_type"] == "idempotency_conflict"' "$HTTP_BODY" "409 idempotency_conflict across streams"
http GET "/streams/Http-1"
assert_eq "$HTTP_BODY" "$STREAM_BEFORE" "retries and refused appends left the stream as it was"
http GET "/streams/Http-3"
assert_eq "$HTTP_CODE" 404 "the conflicting append created no stream"
expect_post 200 "the next append" Http-1 '{"expected":4,"events":[{"type":"X","data":{}}]}'
jcheck 'd["first_version"] == 5' "$HTTP_BODY" "the next append continues at version 5"

# ---- 400: invalid input, nothing written ----------------------------------------------------
wait_caught_up p1
ENDS_BEFORE=$(topic_end_offsets)
NEXT_BEFORE=$(jget '[p["next_offset"] for p in d["partitions"]]' "$(status_json)")

# bad DESCRIPTION STREAM JSON MESSAGE_REGEX: 400 invalid_input naming the problem.
bad() { soft bad_case "$@"; }
bad_case() {
  local desc=$1 stream=$2 body=$3 re=$4
  expect_post 400 "$desc" "$stream" "$body"
  jcheck 'd["error_type"] == "invalid_input" and isinstance(d["error"], str)' "$HTTP_BODY" "$desc: a 400 invalid_input answer"
  grep -qiE -- "$re" <<<"$HTTP_BODY" || fail "$desc: the message does not name the problem (/$re/): $HTTP_BODY"
  pass
}
OK_EVENT='{"type":"T","data":{}}'
LONG201=$(printf 'a%.0s' $(seq 201))
py() { python3 -c "$1"; }

bad "an empty body" Bad-1 '' 'not valid JSON'
bad "a body that is not JSON" Bad-1 'events please' 'not valid JSON'
bad "truncated JSON" Bad-1 '{"events":[{"type":"T","data":{}}' 'not valid JSON'
bad "a JSON array body" Bad-1 "[$OK_EVENT]" 'JSON object'
bad "duplicate keys" Bad-1 '{"events":[{"type":"T","type":"U","data":{}}]}' 'duplicate'
bad "an unknown member" Bad-1 "{\"event\":[$OK_EVENT]}" 'unknown member ..event'
bad "no events member" Bad-1 '{"expected":"any"}' 'events.*missing'
bad "events is not an array" Bad-1 "{\"events\":$OK_EVENT}" 'not an array'
bad "no events" Bad-1 '{"events":[]}' 'empty'
bad "1001 events" Bad-1 "$(py 'import json; print(json.dumps({"events": [{"type": "T", "data": i} for i in range(1001)]}))')" '1 to 1000'
bad "an event that is not an object" Bad-1 '{"events":[42]}' 'event 1 is not a JSON object'
bad "an unknown event member" Bad-1 '{"events":[{"type":"T","data":{},"datum":1}]}' 'unknown member ..datum'
bad "no type" Bad-1 '{"events":[{"data":{}}]}' 'type is missing'
bad "a type that is not a string" Bad-1 '{"events":[{"type":5,"data":{}}]}' 'type must be a string'
bad "a type with a space" Bad-1 '{"events":[{"type":"Order Placed","data":{}}]}' 'type'
bad "a type of 201 bytes" Bad-1 "{\"events\":[{\"type\":\"$LONG201\",\"data\":{}}]}" 'type'
bad "an empty type" Bad-1 '{"events":[{"type":"","data":{}}]}' 'type'
bad "a stream name with \$" '%24all' "{\"events\":[$OK_EVENT]}" 'stream name'
bad "a stream name with a space" 'Bad%20name' "{\"events\":[$OK_EVENT]}" 'stream name'
bad "a stream name of 201 bytes" "$LONG201" "{\"events\":[$OK_EVENT]}" 'stream name'
bad "a malformed event id" Bad-1 '{"events":[{"type":"T","data":{},"event_id":"12345"}]}' 'not a UUID'
bad "an event id that is not a string" Bad-1 '{"events":[{"type":"T","data":{},"event_id":7}]}' 'event_id must be a string'
E_DUP=$(uuid)
bad "the same event id twice" Bad-1 "{\"events\":[{\"type\":\"T\",\"data\":1,\"event_id\":\"$E_DUP\"},{\"type\":\"T\",\"data\":2,\"event_id\":\"$E_DUP\"}]}" 'event id'
bad "a malformed append id" Bad-1 "{\"append_id\":\"nope\",\"events\":[$OK_EVENT]}" 'append id.*not a UUID'
bad "expected garbage" Bad-1 "{\"expected\":\"maybe\",\"events\":[$OK_EVENT]}" 'expected must be'
bad "expected negative" Bad-1 "{\"expected\":-1,\"events\":[$OK_EVENT]}" 'expected must be'
bad "expected a fraction" Bad-1 "{\"expected\":1.5,\"events\":[$OK_EVENT]}" 'expected must be'
bad "expected beyond 2^63-1" Bad-1 "{\"expected\":9223372036854775808,\"events\":[$OK_EVENT]}" 'expected must be'
bad "expected as an object" Bad-1 "{\"expected\":{},\"events\":[$OK_EVENT]}" 'expected must be'
bad "data and data_base64" Bad-1 '{"events":[{"type":"T","data":{},"data_base64":"AA=="}]}' 'not both'
bad "neither data nor data_base64" Bad-1 '{"events":[{"type":"T","metadata":{}}]}' 'data.*missing'
bad "data_base64 that is not base64" Bad-1 '{"events":[{"type":"T","data_base64":"not base64!"}]}' 'not standard base64'
bad "data_base64 that is not a string" Bad-1 '{"events":[{"type":"T","data_base64":[1]}]}' 'data_base64 must be a string'
bad "data_base64 that is not JSON with a JSON content type" Bad-1 \
  '{"events":[{"type":"T","data_base64":"AAEC","content_type":"application/json"}]}' 'not JSON'
bad "data_base64 that is not JSON with a +json content type" Bad-1 \
  '{"events":[{"type":"T","data_base64":"e30K","content_type":"application/vnd.x+json"},{"type":"T","data_base64":"e3x9","content_type":"application/vnd.x+json"}]}' 'event 2.*not JSON'
bad "an object as data with a non-JSON content type" Bad-1 \
  '{"events":[{"type":"T","data":{"a":1},"content_type":"text/plain"}]}' 'must be a string'
bad "data of 256 KiB + 1" Bad-1 "$(py 'import json; print(json.dumps({"events": [{"type": "T", "data": "d" * (256 * 1024 - 1)}]}))')" 'data'
bad "data_base64 of 256 KiB + 1 bytes" Bad-1 "$(py 'import json, base64; print(json.dumps({"events": [{"type": "T", "data_base64": base64.b64encode(bytes(256 * 1024 + 1)).decode()}]}))')" 'data'
bad "metadata of 16 KiB + 1" Bad-1 "$(py 'import json; print(json.dumps({"events": [{"type": "T", "data": {}, "metadata": "m" * (16 * 1024 - 1)}]}))')" 'metadata'
bad "an append over 900 KiB" Bad-1 "$(py 'import json; print(json.dumps({"events": [{"type": "T", "data": "d" * (250 * 1024)} for i in range(4)]}))')" 'limit|bytes'
bad "a content type of 101 bytes" Bad-1 "{\"events\":[{\"type\":\"T\",\"data\":\"x\",\"content_type\":\"text/$(printf 'p%.0s' $(seq 96))\"}]}" 'content type'
bad "an empty content type" Bad-1 '{"events":[{"type":"T","data":"x","content_type":""}]}' 'content type'
bad "a correlation id of 101 bytes" Bad-1 "{\"events\":[{\"type\":\"T\",\"data\":{},\"correlation_id\":\"$(printf 'c%.0s' $(seq 101))\"}]}" 'correlation'
bad "a causation id that is not a string" Bad-1 '{"events":[{"type":"T","data":{},"causation_id":{}}]}' 'causation_id must be a string'
bad "a type with a NUL" Bad-1 '{"events":[{"type":"T\u0000U","data":{}}]}' 'NUL'
bad "a number JSON cannot hold" Bad-1 '{"events":[{"type":"T","data":1e999}]}' 'not valid JSON'
soft_done

wait_caught_up p1
assert_eq "$(topic_end_offsets)" "$ENDS_BEFORE" "no invalid append reached the topic (broker end offsets)"
assert_eq "$(jget '[p["next_offset"] for p in d["partitions"]]' "$(status_json)")" "$NEXT_BEFORE" \
  "the projector's next_offset did not move"
http GET "/streams/Bad-1"
assert_eq "$HTTP_CODE" 404 "no stream Bad-1 was created"

# ---- 405, 413 -----------------------------------------------------------------------------
http PATCH "/streams/Http-1"
assert_eq "$HTTP_CODE" 405 "PATCH /streams/{stream}"
jcheck 'all(m in d["error"] for m in ("GET", "POST", "DELETE")) and "PUT" not in d["error"]' \
  "$HTTP_BODY" "the 405 answer names GET, POST and DELETE (PUT is for .../limits only)"
http PUT "/streams/Http-1" --data-binary '{}'
assert_eq "$HTTP_CODE" 405 "PUT /streams/{stream} (only .../limits takes PUT)"
head -c $((8 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$T/huge.json"
http POST "/streams/Bad-2" --data-binary @"$T/huge.json"
assert_eq "$HTTP_CODE" 413 "a body over 8 MiB"
http POST "/streams/" --data-binary "{\"events\":[$OK_EVENT]}"
assert_eq "$HTTP_CODE" 404 "POST /streams/ without a stream name"

# ---- bytes ----------------------------------------------------------------------------------
# data_base64: any bytes, exactly.
BIN_B64=$(head -c 4096 /dev/urandom | base64 -w0)
expect_post 200 "binary data" Bytes-1 "{\"events\":[{\"type\":\"Blob\",\"data_base64\":\"$BIN_B64\"},{\"type\":\"Empty\",\"data_base64\":\"\"}]}"
assert_eq "$(stored_bytes Bytes-1 1)" "$(base64 -d <<<"$BIN_B64" | od -An -v -tx1 | tr -d ' \n')" \
  "4096 random bytes read back byte for byte"
assert_eq "$(stored_bytes Bytes-1 2)" "" "empty data_base64 reads back empty"
http GET "/streams/Bytes-1"
jcheck 'd["events"][0]["content_type"] == "application/octet-stream" and d["events"][0]["data_encoding"] == "base64"' \
  "$HTTP_BODY" "data_base64 defaults to application/octet-stream"

# JSON data: compact text, numbers and strings as written.
DATA_IN='{ "price" : 1.10, "big": 123456789012345678901234567890, "neg": -0.0, "exp": 1E+2,
  "small": 1.5e-10, "zeros": 0.1000, "text": "a  b \u00e9\ud83d\ude00 \"q\" \\ /", "raw": "é",
  "nested": {"z": [1, 2.50, {"y": null}], "a": true, "m": false}, "empty": {}, "list": [ ] }'
DATA_EXPECT='{"price":1.10,"big":123456789012345678901234567890,"neg":-0.0,"exp":1E+2,"small":1.5e-10,"zeros":0.1000,"text":"a  b \u00e9\ud83d\ude00 \"q\" \\ /","raw":"é","nested":{"z":[1,2.50,{"y":null}],"a":true,"m":false},"empty":{},"list":[]}'
META_IN='{ "user" : "ann",  "ratio": 0.30000000000000004, "n": 10000000000000000000001 }'
META_EXPECT='{"user":"ann","ratio":0.30000000000000004,"n":10000000000000000000001}'
expect_post 200 "JSON data with numbers jansson would change" Bytes-2 \
  "{\"events\":[{\"type\":\"Priced\",\"data\":$DATA_IN,\"metadata\":$META_IN},{\"type\":\"Num\",\"data\":1.10},{\"type\":\"Str\",\"data\":\"1.10\"}]}"
assert_eq "$(stored_bytes Bytes-2 1)" "$(hex "$DATA_EXPECT")" "data is stored as its compact text, numbers as written"
assert_eq "$(stored_metadata Bytes-2 1)" "$(hex "$META_EXPECT")" "metadata is stored as its compact text"
assert_eq "$(stored_bytes Bytes-2 2)" "$(hex '1.10')" "a top-level number is stored as written"
assert_eq "$(stored_bytes Bytes-2 3)" "$(hex '"1.10"')" "a top-level string is stored as JSON text"
http GET "/streams/Bytes-2?limit=1"
assert_match "$HTTP_BODY" '"data":\{"price":1\.10,"big":123456789012345678901234567890,' \
  "the JSON read shows the numbers as written"

# A JSON payload given as data_base64 is stored as given (not compacted).
PRETTY=$'{ "a" : 1.10,\n  "b": [ 1 , 2 ] }\n'
PRETTY_B64=$(printf '%s' "$PRETTY" | base64 -w0)
expect_post 200 "JSON bytes as data_base64" Bytes-3 \
  "{\"events\":[{\"type\":\"T\",\"data_base64\":\"$PRETTY_B64\",\"content_type\":\"application/json\"}]}"
assert_eq "$(stored_bytes Bytes-3 1)" "$(hex "$PRETTY")" "JSON given as data_base64 is stored byte for byte"
# A string for a non-JSON content type is stored as its UTF-8 bytes.
expect_post 200 "text data" Bytes-4 '{"events":[{"type":"Note","data":"h\u00e9llo\nworld","content_type":"text/plain; charset=utf-8"}]}'
assert_eq "$(stored_bytes Bytes-4 1)" "$(printf 'h\xc3\xa9llo\nworld' | od -An -v -tx1 | tr -d ' \n')" \
  "a string for text/plain is stored as its UTF-8 bytes"
http GET "/streams/Bytes-4"
jcheck 'd["events"][0]["content_type"] == "text/plain; charset=utf-8"' "$HTTP_BODY" "the content type is stored"

# ---- 504: no replica judges the append in time -----------------------------------------------
# p1, the only projector, paused: it produces the append but does not judge it, so the
# verdict wait times out and no other replica can answer: unknown outcome. Resumed, it
# settles the append id.
pause_projector p1
post Http-4 '{"events":[{"type":"Lost","data":{}}]}'
assert_eq "$HTTP_CODE" 504 "an append that no replica judges in time"
jcheck 'd["error_type"] == "unknown_outcome" and len(d["append_id"]) == 36 and d["append_id"] in d["error"]' \
  "$HTTP_BODY" "504 unknown_outcome with the append id to look up"
LOST=$(jget 'd["append_id"]' "$HTTP_BODY")
resume_projector p1
http GET "/verdicts/$LOST?timeout_ms=20000"
assert_eq "$HTTP_CODE" 200 "the resumed projector knows the verdict"
jcheck 'd["status"] == "accepted" and d["stream"] == "Http-4" and d["first_version"] == 1' "$HTTP_BODY" \
  "the append of unknown outcome was accepted"

# ---- a replica that cannot judge in time: the verdict comes from another --------------------
# p2 is a second replica, paused: it produces the append, its own verdict wait times out,
# and its client (libevstore, routing over GET /cluster) asks p1, which judged it.
start_projector p2
wait_caught_up p2 60
for _ in $(seq 1 40); do # until p2's view lists p1 live
  HTTP_PROJ=p2 http GET /cluster
  [[ "$(IT_E="\"$P1_URL\"" jget 'any(m["url"] == E and m["live"] for m in d["members"])' "$HTTP_BODY")" == true ]] && break
  sleep 0.25
done
pause_projector p2
HTTP_PROJ=p2 post Http-6 '{"events":[{"type":"Routed","data":{}}]}'
assert_eq "$HTTP_CODE" 200 "an append through a paused replica gets its verdict from the other"
jcheck 'd["stream"] == "Http-6" and d["first_version"] == 1 and d["duplicate"] is False' "$HTTP_BODY" \
  "the verdict of the append through the paused replica"
ROUTED=$(jget 'd["append_id"]' "$HTTP_BODY")
resume_projector p2
HTTP_PROJ=p2 http GET "/verdicts/$ROUTED?timeout_ms=20000"
jcheck 'd["status"] == "accepted" and d["stream"] == "Http-6"' "$HTTP_BODY" \
  "the resumed replica reaches the same verdict"
stop_projector p2

# ---- 503: nothing can be written ------------------------------------------------------------
# Without the topic (and the broker does not create topics), Kafka cannot take the record.
"$TOPIC_TOOL" delete "$BROKERS" "$TOPIC" >/dev/null || fail "could not delete the topic"
post Http-5 '{"events":[{"type":"Nowhere","data":{}}]}'
assert_eq "$HTTP_CODE" 503 "an append while the topic does not exist"
jcheck 'd["error_type"] == "unavailable" and "nothing was written" in d["error"]' "$HTTP_BODY" \
  "503 unavailable says nothing was written"
