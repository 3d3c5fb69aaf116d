#!/usr/bin/env bash
# memory_test.sh - the block cache bounds the projector's memory whichever threads read
# (docs/OPERATIONS.md, "Memory": --malloc-arenas).
#
#   1. A projector with an 8 MiB block cache takes 40,000 events of about 1 KB (40 MB
#      uncompressed, five times the cache), and reads them once through a subscription
#      (follow=false), so that the cache is full; its resident memory (VmRSS) is the
#      baseline.
#   2. Three rounds of eight full reads at the same time, each on a connection (an HTTP
#      thread) of its own, four as pages of $all and four as subscriptions: every one evicts
#      and reloads the whole cache.
#   3. The projector grew by less than one cache (8 MB): measured 2 MB. With a malloc arena
#      for each thread (--malloc-arenas 16, glibc's own limit on 2 cores) every reading
#      thread keeps freed blocks of its own, and it grew by 20 MB.
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

start_projector p1 --block-cache-mb "$CACHE_MB"
PID=$(proj_var p1 PID)
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }

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

# read_sub: the whole history through one subscription; prints the number of events.
read_sub() {
  curl -sfN --max-time 60 "$P1_URL/subscriptions/all?follow=false&encoding=base64" |
    grep -c '^id: ' || true
}
# read_pages: $all in pages of 1000 on one connection (curl reuses it); prints the count.
read_pages() {
  local urls=() from
  for ((from = 1; from <= TOTAL; from += 1000)); do
    urls+=("$P1_URL/all?from=$from&limit=1000&encoding=base64")
  done
  curl -sf --max-time 60 "${urls[@]}" | grep -o '"position":' | wc -l
}

assert_eq "$(read_sub)" "$TOTAL" "the first read returns every event"
sleep 1
BASE_KB=$(rss_kb)
log "$TOTAL events read once; projector RSS $((BASE_KB / 1024)) MB"

# read_both N: pages of $all and a subscription at the same time, N of each; asserts that
# each returned every event.
read_both() {
  local n=$1 k pids=()
  for ((k = 1; k <= n; k++)); do
    read_pages >"$T/pages.$k" &
    pids+=("$!")
    read_sub >"$T/sub.$k" &
    pids+=("$!")
  done
  wait "${pids[@]}"
  for ((k = 1; k <= n; k++)); do
    assert_eq "$(cat "$T/pages.$k")" "$TOTAL" "pages of \$all read beside others return every event"
    assert_eq "$(cat "$T/sub.$k")" "$TOTAL" "a subscription read beside others returns every event"
  done
}
for ((r = 1; r <= ROUNDS; r++)); do
  read_both 4
  log "after round $r: RSS $(($(rss_kb) / 1024)) MB"
done
sleep 1
END_KB=$(rss_kb)
GROWTH_KB=$((END_KB - BASE_KB))
log "projector RSS $((BASE_KB / 1024)) MB -> $((END_KB / 1024)) MB (growth $((GROWTH_KB / 1024)) MB, bound $((GROWTH_MAX_KB / 1024)) MB)"
((GROWTH_KB < GROWTH_MAX_KB)) ||
  fail "the projector grew by $((GROWTH_KB / 1024)) MB over $((ROUNDS * 8)) reads, eight at a time (bound $((GROWTH_MAX_KB / 1024)) MB with an $CACHE_MB MiB block cache)"
pass
stop_projector p1
