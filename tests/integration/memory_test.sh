#!/usr/bin/env bash
# memory_test.sh - the block cache bounds the projector's memory whichever threads read
# (docs/OPERATIONS.md, "Memory": --malloc-arenas).
#
#   1. A projector with an 8 MiB block cache (and 4 MiB memtables, so that the events are
#      in SST files) takes 40,000 events of about 1 KB (40 MB uncompressed, five times the
#      cache) in 8 streams. A scan of $all in pages of 1000
#      leaves the block cache's usage as it was (it grows by less than 1 MB: a scan's blocks
#      are read once and not cached); a read in pages of 100 fills it (more than half
#      full). The projector's resident memory (VmRSS) then is the baseline.
#   2. Three rounds of eight full reads at the same time, each on a connection (an HTTP
#      thread) of its own, of every stream in pages of 1000: every one evicts and reloads
#      the whole cache.
#   3. The projector grew by less than one cache (8 MB): measured 0-2 MB. With a malloc
#      arena for each thread (--malloc-arenas 16, glibc's own limit on 2 cores) every
#      reading thread keeps freed blocks of its own, and it grew by 24-33 MB.
#   4. Every read returned all 40,000 events.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init memory "$@"
# It measures glibc's malloc, which AddressSanitizer replaces: make test-asan leaves it out.

BATCH=500
BATCHES=80
TOTAL=$((BATCH * BATCHES))
CACHE_MB=8
GROWTH_MAX_KB=$((CACHE_MB * 1024))
ROUNDS=3

start_projector p1 --block-cache-mb "$CACHE_MB" --memtable-mb 4

python3 - "$T/batch.ndjson" "$BATCH" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(json.dumps({"type": "Big", "data": {"i": i, "pad": ("%04d" % i) * 250}}) + "\n")
EOF
for ((i = 0; i < BATCHES; i++)); do
  expect_ok "append batch $i" append "Big-$((i % 8))" --file "$T/batch.ndjson"
done
wait_caught_up p1 60

# read_all N: $all in pages of N on one connection (curl reuses it); prints the count.
# Pages of more than 100 events are scans, which leave the block cache as it was; smaller
# pages and stream reads fill it.
read_all() {
  local urls=() from
  for ((from = 1; from <= TOTAL; from += $1)); do
    urls+=("$P1_URL/all?from=$from&limit=$1&encoding=base64")
  done
  curl -sf --max-time 60 "${urls[@]}" | grep -o '"position":' | wc -l
}
# read_streams: every stream Big-K in pages of 1000 on one connection; prints the count.
read_streams() {
  local urls=() k from
  for ((k = 0; k < 8; k++)); do
    for ((from = 1; from <= TOTAL / 8; from += 1000)); do
      urls+=("$P1_URL/streams/Big-$k?from=$from&limit=1000&encoding=base64")
    done
  done
  curl -sf --max-time 60 "${urls[@]}" | grep -o '"version":' | wc -l
}

# cache_kb: the block cache's usage, from /metrics.
cache_kb() {
  curl -sf --max-time 10 "$P1_URL/metrics" |
    awk '$1 == "evstore_rocksdb_block_cache_usage_bytes" { printf "%d", $2 / 1024 }'
}
CACHE0_KB=$(cache_kb)
assert_eq "$(read_all 1000)" "$TOTAL" "a scan in pages of 1000 returns every event"
CACHE1_KB=$(cache_kb)
log "block cache ${CACHE0_KB} KB before the scan, ${CACHE1_KB} KB after it"
((CACHE1_KB < CACHE0_KB + 1024)) ||
  fail "a scan of \$all in pages of 1000 filled the block cache: ${CACHE0_KB} KB -> ${CACHE1_KB} KB"
pass

assert_eq "$(read_all 100)" "$TOTAL" "a read in pages of 100 returns every event"
CACHE2_KB=$(cache_kb)
((CACHE2_KB > CACHE_MB * 1024 / 2)) ||
  fail "reads in pages of 100 left the block cache at ${CACHE2_KB} KB: they should fill it"
pass
sleep 1
BASE_KB=$(rss_kb p1)
log "$TOTAL events read once; projector RSS $((BASE_KB / 1024)) MB"

# read_together N: N readers of every stream at the same time; asserts that each returned
# every event.
read_together() {
  local n=$1 k pids=()
  for ((k = 1; k <= n; k++)); do
    read_streams >"$T/streams.$k" &
    pids+=("$!")
  done
  wait "${pids[@]}"
  for ((k = 1; k <= n; k++)); do
    assert_eq "$(cat "$T/streams.$k")" "$TOTAL" "stream reads beside others return every event"
  done
}
for ((r = 1; r <= ROUNDS; r++)); do
  read_together 8
  log "after round $r: RSS $(($(rss_kb p1) / 1024)) MB"
done
sleep 1
END_KB=$(rss_kb p1)
GROWTH_KB=$((END_KB - BASE_KB))
log "projector RSS $((BASE_KB / 1024)) MB -> $((END_KB / 1024)) MB (growth $((GROWTH_KB / 1024)) MB, bound $((GROWTH_MAX_KB / 1024)) MB)"
((GROWTH_KB < GROWTH_MAX_KB)) ||
  fail "the projector grew by $((GROWTH_KB / 1024)) MB over $((ROUNDS * 8)) reads, eight at a time (bound $((GROWTH_MAX_KB / 1024)) MB with an $CACHE_MB MiB block cache)"
pass
stop_projector p1
