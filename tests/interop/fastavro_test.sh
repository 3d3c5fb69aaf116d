#!/usr/bin/env bash
# fastavro_test.sh - interop.fastavro: the records the real programs write to Kafka are
# standard Avro that another implementation (Python's fastavro) decodes knowing only the
# schema files in schemas/.
#
# Usage: fastavro_test.sh [BIN_DIR]   (ctest passes build/bin)
# Runs against the broker in EVSTORE_BROKERS (tests/integration/lib.sh: a unique topic, a
# temp dir, a free HTTP port, cleanup on every exit, exit 77 = skipped when no broker answers).
# Steps: start evstore-projector on a fresh topic (it creates the topic), append events with
# the evstore CLI, dump the topic with evs_topic_dump (files + what the C decoder saw), decode
# the files with decode_fastavro.py and compare; then fetch pages of events from the projector
# in both forms (the binary page, application/vnd.evstore.page+avro, and JSON) and check with
# decode_page_fastavro.py that fastavro decodes the binary page with
# schemas/evstore.EventPage.avsc into the JSON page's events; stop the projector.

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../integration/lib.sh
source "$HERE/../integration/lib.sh"
it_init interop_fastavro "$@"
# lib.sh's exit trap runs a bare `wait`, which would also wait for its own watchdog (which
# only ends after this shell does): take the watchdog out of the job table. Harmless once
# lib.sh waits for specific pids only.
disown "${IT_WATCHDOG:-}" 2>/dev/null || true

SRC_DIR="$(cd "$HERE/../.." && pwd)"
DUMP_BIN=$BIN_DIR/evs_topic_dump
[[ -x "$DUMP_BIN" ]] || fail "missing program $DUMP_BIN; build the evs_topic_dump target"
python3 -c 'import fastavro' 2>/dev/null ||
  fail "python3 cannot import fastavro (deploy/setup.sh installs it: pip install fastavro)"

start_projector p1

# The events to append: stream, type, data, metadata. Payloads with escapes, non-ASCII text
# and nesting; one without metadata.
APPENDED=$T/appended.json
cat >"$APPENDED" <<'JSON'
[
  {"stream": "Order-1", "type": "OrderPlaced", "data": "{\"id\":1,\"lines\":[{\"sku\":\"A\",\"qty\":2}]}", "metadata": "{\"user\":\"u-1\"}"},
  {"stream": "Order-1", "type": "OrderPaid", "data": "{\"id\":1,\"amount\":12.5}", "metadata": "{\"user\":\"u-2\",\"note\":\"tab\\there\"}"},
  {"stream": "Customer.7:eu@x_y", "type": "customer/renamed", "data": "{\"name\":\"Zoë \\\"Z\\\" Müller\"}", "metadata": "{}"},
  {"stream": "Order-2", "type": "OrderPlaced", "data": "{\"id\":2}"}
]
JSON
count=$(jget 'len(d)' "$(cat "$APPENDED")")
for ((i = 0; i < count; i++)); do
  stream=$(jget "d[$i]['stream']" "$(cat "$APPENDED")")
  type=$(jget "d[$i]['type']" "$(cat "$APPENDED")")
  data=$(jget "d[$i]['data']" "$(cat "$APPENDED")")
  args=(append "$stream" --type "$type" --data "$data")
  if [[ "$(jget "'metadata' in d[$i]" "$(cat "$APPENDED")")" == true ]]; then
    args+=(--metadata "$(jget "d[$i]['metadata']" "$(cat "$APPENDED")")")
  fi
  evs "${args[@]}"
  [[ $RC -eq 0 ]] || fail "evstore ${args[*]} exited $RC: $ERR"
  pass
done
wait_caught_up p1

"$DUMP_BIN" --brokers "$BROKERS" --topic "$TOPIC" --out "$T/records" >"$T/dump.out" 2>&1 ||
  fail "evs_topic_dump exited $?: $(cat "$T/dump.out")"
dumped=$(find "$T/records" -name '*.bin' | wc -l)
assert_eq "$dumped" "$count" "records in the topic"

python3 "$HERE/decode_fastavro.py" --schemas "$SRC_DIR/schemas" --records "$T/records" \
  --appended "$APPENDED" >"$T/fastavro.out" 2>&1 ||
  fail "decode_fastavro.py: $(cat "$T/fastavro.out")"
pass
log "$(tail -n 1 "$T/fastavro.out")"

# A binary payload with NUL bytes and metadata, through POST /streams (no CLI flag for bytes).
blob=$(python3 -c 'import base64; print(base64.b64encode(bytes(range(256)) * 3).decode())')
code=$(curl -s -o "$T/post.out" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data "{\"events\":[{\"type\":\"Blob\",\"data_base64\":\"$blob\",\"metadata\":{\"m\":1},\"correlation_id\":\"c-1\",\"causation_id\":\"x-1\"}]}" \
  "$P1_URL/streams/Blob-1")
[[ "$code" == 200 ]] || fail "POST /streams/Blob-1 answered $code: $(cat "$T/post.out")"
pass

# page PATH MIN_EVENTS: fetches PATH (with encoding=base64) in both forms and compares them.
page() {
  local path=$1 min=$2 type
  type=$(curl -s -o "$T/page.bin" -w '%{content_type}' \
    -H 'Accept: application/vnd.evstore.page+avro' "$P1_URL$path") ||
    fail "GET $path (binary) failed"
  [[ "$type" == application/vnd.evstore.page+avro ]] || fail "GET $path (binary): content type $type"
  curl -sf -o "$T/page.json" "$P1_URL$path" || fail "GET $path (JSON) failed"
  python3 "$HERE/decode_page_fastavro.py" --schema "$SRC_DIR/schemas/evstore.EventPage.avsc" \
    --binary "$T/page.bin" --json "$T/page.json" --min-events "$min" >"$T/page.out" 2>&1 ||
    fail "decode_page_fastavro.py on GET $path: $(cat "$T/page.out")"
  log "GET $path: $(tail -n 1 "$T/page.out")"
  pass
}
page "/all?limit=10000&encoding=base64" $((count + 1))
page "/streams/Order-1?encoding=base64" 2
page "/streams/Order-1?direction=backwards&limit=1&encoding=base64" 1
page "/streams/Blob-1?encoding=base64" 1
page "/categories/Order?encoding=base64" 3
page "/types/OrderPlaced?encoding=base64" 2
page "/types/Nothing?encoding=base64" 0

stop_projector p1
