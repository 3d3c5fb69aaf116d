#!/usr/bin/env bash
# tests/bench/space.sh - what deleting streams gives back: the projector's live SST bytes
# before and after RocksDB compaction, once 90 % of the streams of a store are deleted.
#
#   bash tests/bench/space.sh
#
# On the broker at $EVSTORE_BROKERS (default 127.0.0.1:18092; deploy/kafka.sh start), with
# the binaries in build/bin (make build):
#  1. a fresh topic and a projector on a fresh state directory;
#  2. EVSTORE_SPACE_EVENTS events [1000000] in EVSTORE_SPACE_STREAMS streams [10000]
#     (evs_bench append-throughput: 4 writers, 100 events per append, 100-byte data);
#  3. stops the projector, compacts the store with RocksDB's ldb, and measures the SST bytes
#     (the store's live data: after a full compaction nothing dead is left in them);
#  4. starts it again and deletes 90 % of the streams (DELETE /streams/{stream}, 8 at a
#     time), then stops it and measures the SST bytes as they are, and again after ldb's
#     compaction.
# Prints the steps and one line {"bench":"space",...} with the numbers. A benchmark, not a
# test: it asserts nothing about sizes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${EVSTORE_BIN_DIR:-$ROOT/build/bin}
BROKERS=${EVSTORE_BROKERS:-127.0.0.1:18092}
EVENTS=${EVSTORE_SPACE_EVENTS:-1000000}
STREAMS=${EVSTORE_SPACE_STREAMS:-10000}
LDB=$(command -v ldb || command -v rocksdb_ldb || true)
[[ -n "$LDB" ]] || { echo "space.sh: RocksDB's ldb is missing (deploy/setup.sh installs rocksdb-tools)" >&2; exit 1; }
for b in evstore-projector evs_bench evs_it_topic; do
  [[ -x "$BIN/$b" ]] || { echo "space.sh: $BIN/$b is missing (make build)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/evstore-space.XXXXXX)
topic=evstore.bench.space.$(date +%s)-$$
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
url=http://127.0.0.1:$port
pid=
say() { printf '[space %s] %s\n' "$(date +%T)" "$*" >&2; }
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  for t in "$topic" "$topic.members" "$topic.state"; do
    "$BIN/evs_it_topic" delete "$BROKERS" "$t" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

start() {
  "$BIN/evstore-projector" --brokers "$BROKERS" --topic "$topic" --data-dir "$work/store" \
    --http "127.0.0.1:$port" --partitions 1 --replication-factor 1 >>"$work/projector.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    curl -sf "$url/health" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "space.sh: the projector did not start (log $work/projector.log)" >&2
  exit 1
}
stop() {
  kill -TERM "$pid"
  wait "$pid" || true
  pid=
}
# caught_up: waits until the projector has applied every record of the topic.
caught_up() {
  local ends
  ends=$("$BIN/evs_it_topic" end-offsets "$BROKERS" "$topic")
  until curl -s "$url/status" | IT_E=$ends python3 -c 'import json,os,sys; d=json.load(sys.stdin); e=json.loads(os.environ["IT_E"]); sys.exit(0 if all(p["next_offset"] >= e[str(p["partition"])] for p in d["partitions"]) else 1)'; do
    sleep 0.5
  done
}
sst_bytes() { find "$work/store" -name '*.sst' -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
compact() { "$LDB" --db="$work/store" compact >/dev/null; }

say "topic $topic, state $work/store"
start
appends=$(((EVENTS + 99) / 100))
"$BIN/evs_bench" --brokers "$BROKERS" --topic "$topic" --projector "$url" append-throughput \
  --writers 4 --count "$appends" --events-per-append 100 --streams "$STREAMS" \
  --stream-prefix Space- >"$work/fill.out"
caught_up
stop
compact
full=$(sst_bytes)
say "$EVENTS events in $STREAMS streams: $full SST bytes after compaction"

start
deleted=$((STREAMS * 9 / 10))
t0=$(date +%s%N)
seq 1 "$deleted" | xargs -P 8 -I{} curl -s -o /dev/null -w '%{http_code}\n' -X DELETE \
  "$url/streams/Space-{}" >"$work/deletes.out"
ms=$((($(date +%s%N) - t0) / 1000000))
ok=$(grep -c '^200$' "$work/deletes.out" || true)
caught_up
stop
before=$(sst_bytes)
compact
after=$(sst_bytes)
say "deleted $ok of $deleted streams in $ms ms ($((deleted * 1000 / (ms > 0 ? ms : 1))) deletes/s)"
say "SST bytes: $full before the deletes, $before after them, $after after compaction"
printf '{"bench":"space","events":%d,"streams":%d,"deleted_streams":%d,"deletes_ok":%d,"delete_ms":%d,"sst_bytes_full":%d,"sst_bytes_after_deletes":%d,"sst_bytes_after_compaction":%d}\n' \
  "$EVENTS" "$STREAMS" "$deleted" "$ok" "$ms" "$full" "$before" "$after"
