#!/usr/bin/env bash
# transfer_test.sh - `evstore export` and `evstore import` (docs/OPERATIONS.md, "Export and
# import") against real projectors, a real broker and a real PostgreSQL server:
#   - export of a 2-partition topic holds every event once (JSON, non-compact JSON, binary
#     data, metadata, correlation and causation ids, a 1600-event stream); --stream,
#     --category, --type, --partition and --from/--to give exactly their part;
#   - an import cut part-way (inside a run), then the whole file, into an empty topic gives
#     identical streams (ids, types, content types, data bytes, metadata, versions) with
#     nothing failed; a second import is all duplicates and stores nothing new;
#   - a malformed line stops the import naming its line number, and the lines before it
#     stay imported; a line that contradicts a stream fails visibly (exit 3);
#   - --from-pg imports a classic PostgreSQL events table (jsonb, the default names) and a
#     table with other names, text data and no metadata column, both read back equal to
#     the rows; again, nothing new; a bad row stops the import naming it.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init transfer "$@"
CHECK="python3 $IT_SRC_DIR/transfer_check.py"
PG_SH="$IT_SRC_DIR/../bench/pg.sh"
SRC_TOPIC=$TOPIC
EXTRA_TOPICS=()
PG_DIR=""

# The test's other topics and its PostgreSQL server go when it ends, like the first topic.
transfer_cleanup() {
  local t s
  if [[ -n "$PG_DIR" ]]; then
    EVSTORE_DATA_DIR=$PG_DIR EVSTORE_PG_PORT=$PG_PORT bash "$PG_SH" stop >/dev/null 2>&1
    [[ $1 -eq 0 ]] && rm -rf "$PG_DIR"
  fi
  if [[ $1 -eq 0 && -z "${EVS_IT_KEEP:-}" ]]; then
    for t in "${EXTRA_TOPICS[@]}"; do
      for s in "" .members .state; do "$TOPIC_TOOL" delete "$BROKERS" "$t$s" >/dev/null 2>&1; done
    done
  fi
}
trap 'rc=$?; transfer_cleanup $rc; it_cleanup $rc' EXIT

# on TOPIC_NAME PROJECTOR ARGS...: the CLI against another topic and its projector.
on() { local topic=$1 proj=$2; shift 2; TOPIC=$topic EVS_PROJ=$proj "$@"; }

# ---- the source store: 2 partitions ----------------------------------------------------
start_projector src --partitions 2
python3 - "$T" <<'PY'
import json, sys, uuid
t = sys.argv[1]
with open(t + "/big.ndjson", "w") as f:
    for i in range(800):
        f.write(json.dumps({"type": "Tick", "data": {"i": i, "pad": "x" * 40},
                            "metadata": {"n": i}}) + "\n")
with open(t + "/three.ndjson", "w") as f:
    for i in range(3):
        f.write(json.dumps({"type": "Line" if i < 2 else "Closed", "data": [i, 1.10],
                            "correlation_id": "corr-%d" % i, "causation_id": "cause-%d" % i}) + "\n")
PY
EVS_PROJ=src
for i in 1 2 3 4 5 6; do
  expect_ok "append Order-$i" append "Order-$i" --type OrderPlaced --data "{\"total\":$i}" \
    --metadata '{"user":"ann"}' --expected no_stream
  expect_ok "append Order-$i lines" append "Order-$i" --file "$T/three.ndjson" --expected 1
done
expect_ok "binary data" append Blob-1 --type Pdf --content-type application/pdf \
  --data $'%PDF-1.4 \x01\x02 not json'
expect_ok "non-compact JSON is kept byte for byte" append Blob-1 --type Spaced \
  --data '{ "a" : [1, 2] }' --metadata '{ "m" : 1 }' --correlation-id c-1 --causation-id c-0
expect_ok "Big-1 first 800" append Big-1 --file "$T/big.ndjson"
expect_ok "Big-1 next 800" append Big-1 --file "$T/big.ndjson"
TOTAL=$((6 * 4 + 2 + 1600))

expect_ok "export" export
printf '%s\n' "$OUT" >"$T/all.ndjson"
assert_eq "$ERR" "" "export prints nothing on a non-terminal stderr"
assert_eq "$(grep -c . "$T/all.ndjson")" "$TOTAL" "the export has one line per event"
jcheck 'sorted({e["partition"] for e in L}) == [0, 1] and all(L[i]["partition"] <= L[i+1]["partition"] for i in range(len(L)-1))' \
  "$OUT" "the export covers both partitions, partition 0 first"
jcheck 'all(set(e) >= {"stream","version","type","event_id","content_type","data","metadata","correlation_id","causation_id","position","created"} for e in L)' \
  "$OUT" "every line has what an append needs"
jcheck '[e for e in L if e["type"] == "Spaced"][0]["data_encoding"] == "base64" and base64.b64decode([e for e in L if e["type"] == "Spaced"][0]["data"]) == b"{ \"a\" : [1, 2] }"' \
  "$OUT" "non-compact JSON is exported as its exact bytes"
jcheck '[e for e in L if e["type"] == "Pdf"][0]["content_type"] == "application/pdf" and base64.b64decode([e for e in L if e["type"] == "Pdf"][0]["data"]) == b"%PDF-1.4 \x01\x02 not json"' \
  "$OUT" "binary data is exported as base64 with its content type"
jcheck '[(e["correlation_id"], e["causation_id"]) for e in L if e["stream"] == "Order-3" and e["version"] == 3] == [("corr-1", "cause-1")]' \
  "$OUT" "correlation and causation ids are exported"

expect_ok "export --stream" export --stream Order-2
jcheck '[e["version"] for e in L] == [1, 2, 3, 4] and {e["stream"] for e in L} == {"Order-2"}' "$OUT" "--stream gives that stream"
expect_ok "export --stream range" export --stream Big-1 --from 999 --to 1002
jcheck '[e["version"] for e in L] == [999, 1000, 1001, 1002]' "$OUT" "--stream --from/--to are versions, inclusive"
expect_ok "export --category" export --category Order
jcheck 'len(L) == 24 and {e["stream"].split("-")[0] for e in L} == {"Order"}' "$OUT" "--category gives its streams"
expect_ok "export --type" export --type Closed
jcheck 'len(L) == 6 and {e["type"] for e in L} == {"Closed"}' "$OUT" "--type gives its events"
P1_COUNT=$(jget 'len([e for e in L if e["partition"] == 1])' "$(cat "$T/all.ndjson")")
expect_ok "export --partition 1" export --partition 1
jcheck "len(L) == $P1_COUNT and {e['partition'] for e in L} == {1}" "$OUT" "--partition gives that partition"
expect_ok "export position range" export --partition 1 --from 2 --to 4
jcheck '[e["position"] for e in L] == [2, 3, 4]' "$OUT" "--from/--to bound positions"
expect_rc 2 "from after to" export --from 5 --to 4
expect_rc 2 "two sources" export --stream A-1 --type T
expect_rc 6 "export of a missing stream" export --stream Nope-1

# ---- import into an empty topic: cut part-way first, then the whole file -----------------
DST=$SRC_TOPIC.copy
EXTRA_TOPICS+=("$DST")
TOPIC=$DST start_projector dst
$CHECK partial "$T/all.ndjson" "$T/part.ndjson" Big-1 300 || fail "could not cut the export"
PART=$(grep -c . "$T/part.ndjson")
on "$DST" dst expect_ok "import the part" import "$T/part.ndjson"
jcheck "d == {'appended': $PART, 'duplicate': 0, 'failed': 0, 'events': $PART}" "$OUT" "the part is appended"
on "$DST" dst expect_ok "import the whole file" import "$T/all.ndjson"
jcheck "d == {'appended': $((TOTAL - PART)), 'duplicate': $PART, 'failed': 0, 'events': $TOTAL}" \
  "$OUT" "the rest is appended, the part is duplicate (a run cut in two included)"
on "$DST" dst expect_ok "export the copy" export
printf '%s\n' "$OUT" >"$T/copy.ndjson"
N=$($CHECK same "$T/all.ndjson" "$T/copy.ndjson") || fail "the copy differs from the source: $N"
assert_eq "$N" "$TOTAL" "the copy holds every event, identical"
LAST_POS=$(TOPIC=$DST jget 'sum(p["last_position"] for p in d["partitions"])' "$(status_json dst)")
assert_eq "$LAST_POS" "$TOTAL" "the copy stored each event once"

on "$DST" dst expect_ok "a second import" import - <"$T/all.ndjson"
jcheck "d == {'appended': 0, 'duplicate': $TOTAL, 'failed': 0, 'events': $TOTAL}" "$OUT" "a second import is all duplicates"
assert_eq "$(jget 'sum(p["last_position"] for p in d["partitions"])' "$(status_json dst)")" "$TOTAL" \
  "a second import stores nothing new"

# ---- bad input --------------------------------------------------------------------------
python3 - "$T/bad.ndjson" <<'PY'
import json, sys, uuid
def line(stream, version, data):
    return json.dumps({"stream": stream, "version": version, "type": "T", "event_id": str(uuid.uuid4()), "data": data}) + "\n"
with open(sys.argv[1], "w") as f:
    f.write(line("Bad-1", 1, {"a": 1}) + line("Bad-1", 2, {"a": 2}) + "\n" + line("Bad-2", 1, {}))
    f.write('{"stream": "Bad-3", "version": 1, "type": \n')
    f.write(line("Bad-4", 1, {}))
PY
on "$DST" dst expect_rc 2 "a malformed line" import "$T/bad.ndjson"
assert_match "$ERR" "bad.ndjson line 5: not valid JSON" "the error names the file and the line"
jcheck "d == {'appended': 3, 'duplicate': 0, 'failed': 0, 'events': 3}" "$OUT" "the lines before it are imported"
on "$DST" dst expect_ok "Bad-1 is there" read Bad-1
jcheck '[e["version"] for e in L] == [1, 2]' "$OUT" "Bad-1 holds the two lines before the bad one"
on "$DST" dst expect_ok "Bad-2 is there" read Bad-2
on "$DST" dst expect_rc 6 "nothing after the bad line" read Bad-4
printf '{"stream":"Order-1","version":1,"type":"X","event_id":"%s","data":{}}\n' "$(uuid)" >"$T/conflict.ndjson"
on "$DST" dst expect_rc 3 "a line that contradicts a stream" import "$T/conflict.ndjson"
assert_match "$ERR" "Order-1 versions 1..1 failed: .*expected 0, stream is at 4" "the failure names the stream and versions"
jcheck "d['failed'] == 1 and d['appended'] == 0" "$OUT" "it is counted failed"
printf '{"stream":"Ok-1","version":0,"type":"X","event_id":"%s","data":{}}\n' "$(uuid)" >"$T/v0.ndjson"
on "$DST" dst expect_rc 2 "version 0" import "$T/v0.ndjson"
assert_match "$ERR" "line 1: \"version\" must be a whole number from 1" "version 0 is refused"
on "$DST" dst expect_rc 2 "import needs a source" import
on "$DST" dst expect_rc 2 "a missing file" import "$T/none.ndjson"

# ---- --from-pg: a real PostgreSQL server ------------------------------------------------
# pg.sh runs a private server as the postgres user when we are root: its directory must be
# reachable by that user, so it is not under the 0700 temp dir.
PG_DIR=$(mktemp -d /tmp/evstore-it-pg.XXXXXX)
chmod 0755 "$PG_DIR"
PG_PORT=$(free_port)
pg() { EVSTORE_DATA_DIR=$PG_DIR EVSTORE_PG_PORT=$PG_PORT bash "$PG_SH" "$@"; }
pg start >"$T/pg.out" 2>&1 || fail "PostgreSQL did not start: $(tail -5 "$T/pg.out")"
DSN=$(pg dsn)
# The classic table of pg.sh (bench.events: stream_id, version, event_id, event_type, data
# jsonb, metadata jsonb): 30 streams of 40 events, metadata on every other one.
pg psql -c "INSERT INTO bench.events (stream_id, version, event_id, event_type, data, metadata)
  SELECT 'Pg-' || s, v, gen_random_uuid(), CASE WHEN v % 2 = 0 THEN 'Even' ELSE 'Odd' END,
         jsonb_build_object('s', s, 'v', v, 'price', 1.10, 'tags', jsonb_build_array('a', 'b')),
         CASE WHEN s % 2 = 0 THEN jsonb_build_object('by', 'pg') END
  FROM generate_series(1, 30) s, generate_series(1, 40) v" >/dev/null || fail "could not fill bench.events"
PGDST=$SRC_TOPIC.pg
EXTRA_TOPICS+=("$PGDST")
TOPIC=$PGDST start_projector pgdst --partitions 2
on "$PGDST" pgdst expect_ok "import --from-pg" import --from-pg "$DSN" --pg-table bench.events
jcheck "d == {'appended': 1200, 'duplicate': 0, 'failed': 0, 'events': 1200}" "$OUT" "every row is appended"
on "$PGDST" pgdst expect_ok "export the PostgreSQL copy" export
printf '%s\n' "$OUT" >"$T/pg-copy.ndjson"
pg psql -tA -F $'\t' -c "SELECT stream_id, version, event_id, event_type, data::text, coalesce(metadata::text, '\\N') FROM bench.events" \
  >"$T/pg-rows.tsv" || fail "could not read bench.events back"
N=$($CHECK pg "$T/pg-copy.ndjson" "$T/pg-rows.tsv") || fail "the import differs from the table: $N"
assert_eq "$N" 1200 "the imported streams equal the table's rows"
jcheck 'all(L[i]["version"] == L[i-1]["version"] + 1 for i in range(1, len(L)) if L[i]["stream"] == L[i-1]["stream"])' \
  "$(on "$PGDST" pgdst evs export --stream Pg-7; echo "$OUT")" "a stream keeps its versions"
on "$PGDST" pgdst expect_ok "import --from-pg again" import --from-pg "$DSN" --pg-table bench.events
jcheck "d == {'appended': 0, 'duplicate': 1200, 'failed': 0, 'events': 1200}" "$OUT" "a second --from-pg import stores nothing new"

# Other names, text data, no metadata column, and a bad row at the end (stream order).
pg psql -c "CREATE TABLE bench.legacy (stream text, seq int, kind text, body text, id uuid);
  INSERT INTO bench.legacy SELECT 'Legacy-' || s, v, 'Note', CASE WHEN v = 1 THEN 'plain text' ELSE '{\"v\": ' || v || '}' END, gen_random_uuid()
  FROM generate_series(1, 3) s, generate_series(1, 5) v;
  INSERT INTO bench.legacy VALUES ('Zz-1', 1, 'Note', '{}', gen_random_uuid()), ('Zz-1', 0, 'Note', '{}', gen_random_uuid())" \
  >/dev/null || fail "could not fill bench.legacy"
on "$PGDST" pgdst expect_rc 2 "a bad row" import --from-pg "$DSN" --pg-table bench.legacy \
  --pg-columns stream,seq,kind,body,-,id
assert_match "$ERR" "PostgreSQL row 16 \(stream \"Zz-1\", version 0\): version \"0\" is not a whole number from 1" \
  "the bad row is named"
jcheck "d['appended'] == 15 and d['failed'] == 0" "$OUT" "the rows before it are imported"
on "$PGDST" pgdst expect_ok "export Legacy" export --category Legacy
printf '%s\n' "$OUT" >"$T/legacy.ndjson"
pg psql -tA -F $'\t' -c "SELECT stream, seq, id, kind, body, '\\N' FROM bench.legacy WHERE stream LIKE 'Legacy-%'" \
  >"$T/legacy-rows.tsv" || fail "could not read bench.legacy back"
N=$($CHECK pg "$T/legacy.ndjson" "$T/legacy-rows.tsv" --text) || fail "the legacy import differs: $N"
assert_eq "$N" 15 "text data and custom names import equal to the rows"
on "$PGDST" pgdst expect_rc 2 "a table that does not exist" import --from-pg "$DSN" --pg-table bench.nope
assert_match "$ERR" 'PostgreSQL: .*"bench.nope" does not exist' "a missing table is named"
on "$PGDST" pgdst expect_rc 2 "bad --pg-columns" import --from-pg "$DSN" --pg-columns a,b
on "$PGDST" pgdst expect_rc 5 "PostgreSQL unreachable" import --from-pg "host=127.0.0.1 port=1 dbname=x user=y connect_timeout=2"
