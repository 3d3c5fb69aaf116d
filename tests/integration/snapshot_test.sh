#!/usr/bin/env bash
# snapshot_test.sh - snapshots and checkpoints through the CLI (so through libevstore) and
# with curl (docs/HTTP-API.md, "Snapshots" and "Checkpoints"):
#   - a snapshot saved at version N loads back byte for byte; the state folded from it plus
#     the events after N equals the state folded from the whole stream;
#   - the latest snapshot wins, ?version=V picks the latest at or below V, saving a version
#     again replaces it, only the 5 latest are kept;
#   - JSON data keeps its exact text; binary data with its content type and schema version
#     round-trips; the 4 MiB limit holds on both sides;
#   - invalid versions, streams and bodies are refused with the documented codes;
#   - checkpoints save, overwrite, load and delete, and both checkpoints and snapshots
#     survive a projector restart and a --rebuild.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init snapshot "$@"

start_projector p1

# Acc-1: 12 events {"amount": i}; Acc-2: 12 more, for the retention check.
python3 - "$T/acc.ndjson" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(1, 13):
        f.write(json.dumps({"type": "Deposited", "data": {"amount": i * 10 + i % 3}}) + "\n")
EOF
expect_ok "append Acc-1" append Acc-1 --file "$T/acc.ndjson"
expect_ok "append Acc-2" append Acc-2 --file "$T/acc.ndjson"

# fold NDJSON [STATE]: the state {"sum","count","version"} after applying the events of NDJSON.
fold() {
  IT_E=${2:-'{"sum": 0, "count": 0, "version": 0}'} jget '
(lambda s: ([s.update(sum=s["sum"] + e["data"]["amount"], count=s["count"] + 1,
                      version=e["version"]) for e in L], s)[1])(dict(E))' "$1"
}

# A snapshot at version 5, loaded back; then snapshot + the events after it = everything.
evs read Acc-1 --limit 5
STATE5=$(fold "$OUT")
jcheck 'd["version"] == 5 and d["count"] == 5' "$STATE5" "the state after 5 events"
expect_ok "snapshot save at 5" snapshot save Acc-1 --version 5 --data "$STATE5"
assert_eq "$OUT" "" "snapshot save prints nothing"
expect_ok "snapshot load" snapshot load Acc-1
LOADED=$OUT
jcheck 'd["stream"] == "Acc-1" and d["version"] == 5 and d["content_type"] == "application/json" and d["schema_version"] == 1 and re.match(r"^\d{4}-\d\d-\d\dT.*Z$", d["created"])' \
  "$LOADED" "the loaded snapshot's fields"
assert_eq "$(jget 'd["data"]' "$LOADED")" "$STATE5" "the loaded snapshot's data"
evs read Acc-1 --from "$(jget 'd["version"] + 1' "$LOADED")"
FROM_SNAPSHOT=$(fold "$OUT" "$(jget 'd["data"]' "$LOADED")")
evs read Acc-1
FROM_SCRATCH=$(fold "$OUT")
assert_eq "$FROM_SNAPSHOT" "$FROM_SCRATCH" "snapshot + events after it = all events"
jcheck 'd["count"] == 12 and d["version"] == 12' "$FROM_SCRATCH" "the folded state covers 12 events"

# Latest wins; ?version picks the latest at or below; saving a version again replaces it.
evs read Acc-1 --limit 9
STATE9=$(fold "$OUT")
expect_ok "snapshot save at 9" snapshot save Acc-1 --version 9 --data "$STATE9"
expect_ok "load latest" snapshot load Acc-1
jcheck 'd["version"] == 9' "$OUT" "the latest snapshot is version 9"
expect_ok "load at or below 8" snapshot load Acc-1 --version 8
jcheck 'd["version"] == 5' "$OUT" "--version 8 gives the snapshot at 5"
expect_ok "load at or below 100" snapshot load Acc-1 --version 100
jcheck 'd["version"] == 9' "$OUT" "--version 100 gives the snapshot at 9"
expect_rc 6 "no snapshot at or below 4" snapshot load Acc-1 --version 4
expect_ok "save at 9 again" snapshot save Acc-1 --version 9 --data '{"replaced": true}'
expect_ok "load after replacing" snapshot load Acc-1
jcheck 'd["version"] == 9 and d["data"] == {"replaced": True}' "$OUT" "saving version 9 again replaced it"

# Only the 5 latest are kept (saved in increasing version order, so "latest" is unambiguous).
for v in 1 2 3 4 5 6 7; do
  expect_ok "Acc-2 snapshot at $v" snapshot save Acc-2 --version "$v" --data "{\"v\":$v}"
done
expect_rc 6 "Acc-2 versions 1 and 2 were dropped" snapshot load Acc-2 --version 2
expect_ok "Acc-2 version 3 is kept" snapshot load Acc-2 --version 3
jcheck 'd["version"] == 3 and d["data"] == {"v": 3}' "$OUT" "Acc-2 at or below 3"

# JSON data keeps its exact text (no float or big-integer rewriting).
expect_ok "exact JSON" snapshot save Acc-1 --version 10 --data '{"s": 1.10, "big": 123456789012345678901234567890}'
expect_ok "load exact JSON" snapshot load Acc-1
assert_match "$OUT" '"data":\{"s":1\.10,"big":123456789012345678901234567890\}' "JSON data text kept"

# Binary data with its content type and schema version, up to exactly 4 MiB.
head -c 5000 /dev/urandom >"$T/bin.dat"
expect_ok "binary snapshot" snapshot save Acc-1 --version 11 --file "$T/bin.dat" \
  --content-type application/octet-stream --schema-version 3
expect_ok "load binary" snapshot load Acc-1
printf '%s' "$OUT" >"$T/bin.json"
jcheck "d['content_type'] == 'application/octet-stream' and d['schema_version'] == 3 and d['data_encoding'] == 'base64' and base64.b64decode(d['data']) == open('$T/bin.dat', 'rb').read()" \
  "$(cat "$T/bin.json")" "binary snapshot round-trips byte for byte"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$T/max.dat"
expect_ok "4 MiB snapshot" snapshot save Acc-1 --version 12 --file "$T/max.dat" \
  --content-type application/octet-stream
expect_ok "load 4 MiB" snapshot load Acc-1
printf '%s' "$OUT" >"$T/max.json"
python3 -c "import json, base64, sys
d = json.load(open('$T/max.json'))
sys.exit(0 if d['version'] == 12 and base64.b64decode(d['data']) == open('$T/max.dat', 'rb').read() else 1)" ||
  fail "the 4 MiB snapshot did not round-trip"
pass
head -c 1 /dev/urandom >>"$T/max.dat"
expect_rc 2 "4 MiB + 1 refused by the CLI" snapshot save Acc-1 --version 12 --file "$T/max.dat" \
  --content-type application/octet-stream
python3 -c "import base64, json
print(json.dumps({'version': 12, 'content_type': 'application/octet-stream',
                  'data_base64': base64.b64encode(open('$T/max.dat', 'rb').read()).decode()}))" >"$T/big.json"
http PUT /snapshots/Acc-1 -H 'Content-Type: application/json' --data-binary @"$T/big.json"
assert_match "$HTTP_CODE" '^4[0-9][0-9]$' "PUT of 4 MiB + 1 bytes of data: a 4xx ($HTTP_BODY)"

# Refusals.
expect_rc 2 "--version 0" snapshot save Acc-1 --version 0 --data '{}'
expect_rc 2 "a version beyond the stream" snapshot save Acc-1 --version 13 --data '{}'
assert_imatch "$ERR" '13' "the message names the version"
expect_rc 6 "a stream that does not exist" snapshot save Nope-1 --version 1 --data '{}'
expect_rc 6 "load from a stream without snapshots" snapshot load Nope-1
expect_rc 2 "invalid JSON data" snapshot save Acc-1 --version 1 --data '{nope'
expect_rc 2 "save without --version" snapshot save Acc-1 --data '{}'
expect_rc 2 "save without data" snapshot save Acc-1 --version 1
for body in '{"version": 0, "data": {}}' '{"version": 13, "data": {}}' '{"version": -1, "data": {}}' \
  '{"version": "3", "data": {}}' '{"data": {}}' '{"version": 3, "data_base64": "***"}' \
  '{"version": 3, "data": {}, "schema_version": -2}' 'not json'; do
  http PUT /snapshots/Acc-1 -H 'Content-Type: application/json' --data-binary "$body"
  assert_eq "$HTTP_CODE" 400 "PUT /snapshots/Acc-1 $body ($HTTP_BODY)"
done
http PUT /snapshots/Nope-1 -H 'Content-Type: application/json' --data-binary '{"version": 1, "data": {}}'
assert_eq "$HTTP_CODE" 404 "PUT a snapshot of a stream that does not exist"
http PUT /snapshots/Acc-2 -H 'Content-Type: application/json' \
  --data-binary '{"version": 8, "content_type": "application/json", "schema_version": 2, "data": {"k": [1, 2.50]}}'
assert_eq "$HTTP_CODE" 200 "PUT a snapshot with a JSON data member ($HTTP_BODY)"
expect_ok "load it with the CLI" snapshot load Acc-2
jcheck 'd["version"] == 8 and d["schema_version"] == 2 and d["data"] == {"k": [1, 2.5]}' "$OUT" \
  "a JSON data member snapshot"

http GET /snapshots/Acc-2
assert_match "$HTTP_BODY" '"data":\{"k":\[1,2\.50\]\}' "JSON snapshot data keeps its own text"

# Only the snapshots of the 5 latest versions are kept, whatever order they are saved in
# (regression: an out-of-order save once left 6, and later saves dropped only one each).
expect_ok "append Acc-3" append Acc-3 --file "$T/acc.ndjson"
for v in 3 4 5 6 7; do
  expect_ok "save Acc-3 at $v" snapshot save Acc-3 --version "$v" --data "{\"v\": $v}"
done
http PUT /snapshots/Acc-3 -H 'Content-Type: application/json' --data-binary '{"version": 1, "data": {}}'
jcheck 'd["kept"] is False' "$HTTP_BODY" "a snapshot older than the 5 kept is not stored"
expect_rc 6 "the older snapshot was not stored" snapshot load Acc-3 --version 2
expect_ok "save Acc-3 at 8" snapshot save Acc-3 --version 8 --data '{"v": 8}'
expect_rc 6 "version 3 dropped by the sixth" snapshot load Acc-3 --version 3
expect_ok "version 4 kept" snapshot load Acc-3 --version 4
jcheck 'd["version"] == 4' "$OUT" "version 4 kept"

# Checkpoints.
expect_rc 6 "load a checkpoint that does not exist" checkpoint load projection-a
expect_ok "save" checkpoint save projection-a 42
expect_ok "overwrite" checkpoint save projection-a 43
expect_ok "save another" checkpoint save projection-b 0
expect_ok "load" checkpoint load projection-a
assert_eq "$OUT" '{"name":"projection-a","position":43}' "checkpoint load output"
http GET /checkpoints/projection-a
jcheck 'd["name"] == "projection-a" and d["position"] == 43 and d["updated_us"] > 0' "$HTTP_BODY" "GET /checkpoints/projection-a"
expect_ok "delete" checkpoint delete projection-b
expect_rc 6 "delete again" checkpoint delete projection-b
expect_rc 6 "load deleted" checkpoint load projection-b
expect_rc 2 "invalid name" checkpoint save '$bad' 1
expect_rc 2 "position not a number" checkpoint save projection-c x
expect_rc 2 "negative position" checkpoint save projection-c -1
expect_rc 2 "missing position" checkpoint save projection-c
expect_rc 2 "unknown subcommand" checkpoint show projection-a
for body in '{"position": -1}' '{"position": "7"}' '{}' 'nope'; do
  http PUT /checkpoints/projection-c -H 'Content-Type: application/json' --data-binary "$body"
  assert_eq "$HTTP_CODE" 400 "PUT /checkpoints/projection-c $body ($HTTP_BODY)"
done

# Both survive a restart and a --rebuild.
check_saved_state() { # WHEN
  expect_ok "checkpoint after $1" checkpoint load projection-a
  assert_eq "$OUT" '{"name":"projection-a","position":43}' "checkpoint after $1"
  expect_rc 6 "deleted checkpoint after $1" checkpoint load projection-b
  expect_ok "snapshot at or below 9 after $1" snapshot load Acc-1 --version 9
  jcheck 'd["version"] == 9 and d["data"] == {"replaced": True}' "$OUT" "snapshot at 9 after $1"
  expect_ok "latest snapshot after $1" snapshot load Acc-1
  jcheck 'd["version"] == 12 and d["content_type"] == "application/octet-stream"' "$OUT" "latest snapshot after $1"
  expect_rc 6 "dropped snapshot after $1" snapshot load Acc-2 --version 2
}
stop_projector p1
start_projector p1
check_saved_state "a restart"
stop_projector p1
start_projector p1 --rebuild
wait_caught_up p1 60
check_saved_state "a rebuild"
evs read Acc-1
assert_eq "$(fold "$OUT")" "$FROM_SCRATCH" "Acc-1 after the rebuild"
expect_ok "delete after the rebuild" checkpoint delete projection-a
expect_rc 6 "deleted after the rebuild" checkpoint load projection-a
