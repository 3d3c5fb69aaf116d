#!/usr/bin/env bash
# tests/bench/run.sh - the evstore benchmark in one command: evstore, Kafka's own ceiling and
# the classic PostgreSQL design, side by side on this machine; a report and a chart.
#
#   bash tests/bench/run.sh
#
# What it does (tests/bench/README.md and docs/BENCHMARKS.md say what each number means):
#  1. builds evs_bench, pg_bench and evstore-projector (cmake, into build/), unless
#     EVSTORE_BENCH_NO_BUILD=1; tests/bench/pg.sh installs PostgreSQL and libpq first if
#     they are missing;
#  2. uses the Kafka broker at $EVSTORE_BROKERS; starts the local one (deploy/kafka.sh) if it
#     does not answer, and stops it again at the end;
#  3. creates a fresh topic evstore.bench.<timestamp>-<pid> (1 partition; flush.messages=1
#     unless EVSTORE_BENCH_KAFKA_FSYNC=0: the broker fsyncs before it acknowledges), starts
#     its own projector on it (fresh state directory, free port);
#  4. evstore: pre-fills the store with EVSTORE_BENCH_PREFILL events (4 writers, 100 events
#     per append), then W1 (twice: producer linger 1 ms, the default, and 0), W2 and W3
#     (16 and 64 writers, 1 event per append, 10,000 streams, uniform and Zipf, exact
#     expected versions retried on conflict), W4 (4 writers, 100 events per append), W5 (the
#     OCC loop of a command handler on the W3 streams: read the stream's last 20 events,
#     append one at the version read, read again on a conflict; 1 writer and 16), R2 (a
#     100-event stream read through evs_stream_read and as raw HTTP), S1 (append-to-
#     subscriber latency at a steady 1000 appends/s), R1 ($all from the start to the end,
#     in pages of 1000 through evs_all_read, and again through a catch-up subscription) and
#     B1 (the projector rebuilt from the topic); the projector's resident memory after the
#     prefill and after R1 (the end of its life: the replica and feed runs restart it);
#  5. Kafka's ceiling: the same records through librdkafka alone (evs_bench kafka-ceiling),
#     the writers and records of W1, W2, W3 and W4, on a topic with the same settings;
#  6. PostgreSQL: its own server (tests/bench/pg.sh; fsync and synchronous_commit on), the
#     table pre-filled with as many events, then W1..W5, R1 and R2 through libpq;
#  7. writes build/bench/report-<timestamp>.md (the tables; tests/bench/report.py), the
#     chart build/bench/chart-<timestamp>.svg, the JSON line of every run (.jsonl) and
#     prints the report;
#  8. on exit, whatever happened: stops the projector (and the broker, and PostgreSQL, if it
#     started them), deletes the bench topic and the projector's state directory.
#
# A default run takes about 5 minutes on 2 cores. Sizes and switches (defaults in brackets):
#   EVSTORE_BROKERS                 [127.0.0.1:18092]
#   EVSTORE_KAFKA_CONFIG            []        librdkafka properties (SASL_SSL and the like)
#                                             for evs_bench and the projector, which both read
#                                             this variable (docs/SECURITY.md); the topic
#                                             set-up here still uses deploy/kafka.sh's tools
#   EVSTORE_BENCH_PREFILL           [1000000] events in each store before the timed runs
#   EVSTORE_BENCH_LATENCY_COUNT     [5000]    appends in each W1 run
#   EVSTORE_BENCH_THROUGHPUT_COUNT  [20000]   appends in each W2/W3 run (all writers)
#   EVSTORE_BENCH_STREAMS           [10000]   streams of W2/W3
#   EVSTORE_BENCH_W4_COUNT          [2000]    appends of 100 events in W4
#   EVSTORE_BENCH_W5_COUNT          [5000]    commands (read, then append) in each W5 run
#                                             (0: no W5)
#   EVSTORE_BENCH_READ_COUNT        [5000]    reads in each R2 run
#   EVSTORE_BENCH_SUB_COUNT         [5000]    events appended in S1 (0: no S1)
#   EVSTORE_BENCH_SUB_RATE          [1000]    appends/s in S1
#   EVSTORE_BENCH_KAFKA_FSYNC       [1]       0: the broker's default (acknowledged once in
#                                             the page cache; fsync left to the OS)
#   EVSTORE_BENCH_SYSTEMS           [evstore kafka postgresql]  which of the three to run
#   EVSTORE_BENCH_REBUILD           [1]       0: no B1
#   EVSTORE_BENCH_REPLICAS          [1]       0: no replica runs (C1, R3, J1, K1)
#   EVSTORE_BENCH_KILLS             [5]       replica kills in K1
#   EVSTORE_BENCH_FEED              [1]       0: no feed runs (F1 lag, W3/W4 with the feed)
#   EVSTORE_BENCH_SEALED            [1]       0: no personal-data runs (W3/W4 sealed, E1 forget)
#   EVSTORE_BENCH_KEEP              [0]       1: keep the topic, the projector's state and logs
#   EVSTORE_BENCH_OUT               [<repo>/build/bench]
#   EVSTORE_BENCH_NO_BUILD          [0]       1: use the binaries already in build/bin
#   EVSTORE_BENCH_BEFORE            []        the .jsonl of an earlier run: the report also
#                                             compares evstore's numbers with that run's
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="$repo/build"
bin="$build/bin"

brokers_set="${EVSTORE_BROKERS:+yes}"
brokers="${EVSTORE_BROKERS:-127.0.0.1:${EVSTORE_KAFKA_PORT:-18092}}"
prefill="${EVSTORE_BENCH_PREFILL:-1000000}"
latency_count="${EVSTORE_BENCH_LATENCY_COUNT:-5000}"
throughput_count="${EVSTORE_BENCH_THROUGHPUT_COUNT:-20000}"
streams="${EVSTORE_BENCH_STREAMS:-10000}"
w4_count="${EVSTORE_BENCH_W4_COUNT:-2000}"
w5_count="${EVSTORE_BENCH_W5_COUNT:-5000}"
read_count="${EVSTORE_BENCH_READ_COUNT:-5000}"
sub_count="${EVSTORE_BENCH_SUB_COUNT:-5000}"
sub_rate="${EVSTORE_BENCH_SUB_RATE:-1000}"
kafka_fsync="${EVSTORE_BENCH_KAFKA_FSYNC:-1}"
systems="${EVSTORE_BENCH_SYSTEMS:-evstore kafka postgresql}"
rebuild="${EVSTORE_BENCH_REBUILD:-1}"
replicas="${EVSTORE_BENCH_REPLICAS:-1}"
kills="${EVSTORE_BENCH_KILLS:-5}"
feed="${EVSTORE_BENCH_FEED:-1}"
sealed="${EVSTORE_BENCH_SEALED:-1}"
keep="${EVSTORE_BENCH_KEEP:-0}"
out_dir="${EVSTORE_BENCH_OUT:-$build/bench}"

for v in prefill latency_count throughput_count streams w4_count w5_count read_count sub_count \
  sub_rate kafka_fsync rebuild replicas kills feed sealed; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "run.sh: $v must be a whole number, not '${!v}'" >&2; exit 2; }
done
for s in $systems; do
  [[ "$s" =~ ^(evstore|kafka|postgresql)$ ]] ||
    { echo "run.sh: EVSTORE_BENCH_SYSTEMS: unknown system '$s'" >&2; exit 2; }
done
wants() { [[ " $systems " == *" $1 "* ]]; }

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
topic="evstore.bench.$stamp-$$"
work="$(mktemp -d "${TMPDIR:-/tmp}/evstore-bench.XXXXXX")"
state="$work/projector"
report="$out_dir/report-$stamp.md"
chart="$out_dir/chart-$stamp.svg"
jsonl="$out_dir/report-$stamp.jsonl"
meta="$out_dir/report-$stamp.meta.json"

say() { printf 'run.sh: %s\n' "$*" >&2; }
die() { printf 'run.sh: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# ---- clean-up: everything this script started, by pid, and nothing else ----------------

projector_pid=""
bench_pid=""
broker_started=""
pg_started=""
topic_used=""

stop_projector() {
  [[ -n "$projector_pid" ]] || return 0
  if kill -0 "$projector_pid" 2>/dev/null; then
    kill -TERM "$projector_pid" 2>/dev/null || true
    local deadline=$((SECONDS + 60))
    while kill -0 "$projector_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$projector_pid" 2>/dev/null; then
      say "projector $projector_pid did not stop in 60 s; killing it"
      kill -KILL "$projector_pid" 2>/dev/null || true
    fi
  fi
  wait "$projector_pid" 2>/dev/null || true
  projector_pid=""
}

# The second replica of the replica runs (J1, R3, K1): its own port and state.
replica_pid=""
stop_replica() {
  [[ -n "$replica_pid" ]] || return 0
  kill -TERM "$replica_pid" 2>/dev/null || true
  wait "$replica_pid" 2>/dev/null || true
  replica_pid=""
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$bench_pid" ]] && kill -0 "$bench_pid" 2>/dev/null; then
    kill -TERM "$bench_pid" 2>/dev/null || true
    wait "$bench_pid" 2>/dev/null || true
  fi
  stop_projector
  stop_replica
  if [[ "$keep" == 1 ]]; then
    say "kept topic $topic and $work (EVSTORE_BENCH_KEEP=1)"
  else
    if [[ -n "$topic_used" ]]; then
      for t in "$topic" "$topic.members" "$topic.state" "$topic.keys" "$topic.accepted"; do
        bash "$repo/deploy/kafka.sh" topics --delete --topic "$t" >/dev/null 2>&1 ||
          say "could not delete topic $t (delete it by hand if it matters)"
      done
    fi
    if ((rc != 0)) && [[ -d "$work" ]]; then
      # Keep the projector logs of a failed run where the report would have gone.
      mkdir -p "$out_dir"
      for f in "$work"/*.log; do [[ -f "$f" ]] && cp "$f" "$out_dir/failed-$stamp-${f##*/}"; done
      say "projector logs of the failed run: $out_dir/failed-$stamp-*.log"
    fi
    rm -rf "$work"
  fi
  if [[ -n "$broker_started" ]]; then
    bash "$repo/deploy/kafka.sh" stop >/dev/null 2>&1 || say "could not stop the broker"
  fi
  if [[ -n "$pg_started" ]]; then
    bash "$here/pg.sh" stop >/dev/null 2>&1 || say "could not stop PostgreSQL"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- build, broker ----------------------------------------------------------------------

targets=(evs_bench evs_bench_cluster evstore-projector)
if wants postgresql; then
  # PostgreSQL's server and libpq come from Debian; pg.sh installs them when missing (before
  # cmake runs, so that it finds libpq and builds pg_bench).
  bash "$here/pg.sh" install >&2
  targets+=(pg_bench)
fi
if [[ "${EVSTORE_BENCH_NO_BUILD:-0}" != 1 ]]; then
  say "building ${targets[*]} in $build"
  cmake -S "$repo" -B "$build" >/dev/null
  cmake --build "$build" -j2 --target "${targets[@]}" >/dev/null ||
    die "the build failed (run: cmake --build $build --target ${targets[*]})"
fi
for t in "${targets[@]}"; do
  [[ -x "$bin/$t" ]] || die "$bin/$t is missing (build first)"
done

if ! bash "$repo/deploy/kafka.sh" status >/dev/null 2>&1; then
  [[ -z "$brokers_set" ]] || die "no Kafka broker answers at $brokers (EVSTORE_BROKERS)"
  say "starting the local Kafka broker (deploy/kafka.sh start)"
  broker_started=1
  bash "$repo/deploy/kafka.sh" start >&2
fi

# ---- the projector ----------------------------------------------------------------------

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 20000))
    if port_free "$port"; then echo "$port"; return 0; fi
  done
  die "found no free TCP port on 127.0.0.1"
}

port="$(pick_port)"
projector_url="http://127.0.0.1:$port"

# start_projector LOG [ARGS...]: starts it in the background; sets projector_pid.
# Every projector holds the master key: it costs nothing until personal data is read.
master_key="$work/master.key"
start_projector() {
  local log="$1"
  shift
  [[ -f "$master_key" ]] || "$bin/evstore" keygen "$master_key" >/dev/null ||
    die "cannot make the master key $master_key"
  "$bin/evstore-projector" --brokers "$brokers" --topic "$topic" --data-dir "$state" \
    --http "127.0.0.1:$port" --master-key "$master_key" "$@" >"$log" 2>&1 &
  projector_pid=$!
  topic_used=1
}

wait_healthy() {
  local log="$1" deadline=$((SECONDS + 60))
  until curl -sf -o /dev/null --max-time 2 "$projector_url/health"; do
    if ! kill -0 "$projector_pid" 2>/dev/null; then
      tail -n 20 "$log" >&2
      die "the projector exited during start-up (log above)"
    fi
    ((SECONDS < deadline)) || { tail -n 20 "$log" >&2; die "the projector is not healthy after 60 s"; }
    sleep 0.1
  done
}

# A number from the projector's /status (one partition: the first match); "" if none.
status_field() {
  { curl -sf --max-time 5 "$projector_url/status" || true; } | { grep -o "\"$1\":[0-9]*" || true; } |
    head -n1 | cut -d: -f2
}

# ---- running the benchmarks ------------------------------------------------------------

# settle PID NAME: after a pre-fill the store flushes and compacts in the background for a
# while; the timed runs should not measure that. Waits (at most 120 s) until PID has used
# less than 5 % of a core over a second.
settle() {
  local pid="$1" name="$2" hz before after deadline=$((SECONDS + 120))
  hz="$(getconf CLK_TCK)"
  while ((SECONDS < deadline)); do
    before="$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null)" || return 0
    sleep 1
    after="$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null)" || return 0
    if (((after - before) * 100 < 5 * hz)); then
      say "the $name is idle after the pre-fill"
      return 0
    fi
  done
  say "the $name was still busy 120 s after the pre-fill; going on"
}

mkdir -p "$out_dir"
: >"$jsonl"
export EVSTORE_BROKERS="$brokers" EVSTORE_PROJECTOR="$projector_url" EVSTORE_TOPIC="$topic"

# run_bench PROGRAM LABEL ARGS...: runs evs_bench or pg_bench, shows its output, keeps its
# JSON line (labelled LABEL = SYSTEM/WORKLOAD, which report.py reads).
run_bench() {
  local prog="$1" label="$2" out
  shift 2
  say "--- $label: $prog $*"
  out="$work/bench.out"
  # In the background and waited for, so that a signal to this script is handled at once
  # (bash runs traps only between foreground commands); cleanup stops it.
  "$bin/$prog" --label "$label" "$@" >"$out" &
  bench_pid=$!
  if ! wait "$bench_pid"; then
    bench_pid=""
    cat "$out" >&2
    die "$prog $* failed"
  fi
  bench_pid=""
  grep -v '^{"bench"' "$out" >&2 || true
  grep '^{"bench"' "$out" >>"$jsonl"
}

# M1: the projector's memory now, as a JSON line with the given label: resident memory
# (VmRSS), its peak (VmHWM), and from /metrics the block cache's usage and the memtables.
memory_line() {
  local label="$1" rss hwm metrics cache memtables
  rss="$(awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$projector_pid/status" 2>/dev/null || true)"
  hwm="$(awk '/^VmHWM:/ { print $2 * 1024 }' "/proc/$projector_pid/status" 2>/dev/null || true)"
  metrics="$(curl -sf --max-time 5 "$projector_url/metrics" || true)"
  cache="$(awk '$1 == "evstore_rocksdb_block_cache_usage_bytes" { print $2 }' <<<"$metrics")"
  memtables="$(awk '$1 == "evstore_rocksdb_memtable_bytes" { print $2 }' <<<"$metrics")"
  printf '{"bench":"memory","label":"%s","events":%s,"rss_bytes":%s,"peak_rss_bytes":%s,"block_cache_bytes":%s,"memtable_bytes":%s,"errors":{},"completed":true}\n' \
    "$label" "$(status_field last_position)" "${rss:-null}" "${hwm:-null}" "${cache:-null}" \
    "${memtables:-null}" >>"$jsonl"
  say "$label: resident ${rss:-?} bytes (peak ${hwm:-?}), block cache ${cache:-?}, memtables ${memtables:-?}"
}

# A field of the JSON line with the given label (numbers and plain strings).
field() {
  { grep -F "\"label\":\"$1\"" "$jsonl" || true; } | tail -n1 |
    sed -n "s/.*\"$2\":\"\\{0,1\\}\\([^,}\"]*\\).*/\\1/p"
}

flush_args=()
flush_note="no flush.messages: the broker acknowledges once the records are in its page cache and leaves fsync to the OS"
if [[ "$kafka_fsync" != 0 ]]; then
  flush_args=(--flush-messages 1)
  flush_note="flush.messages=1 on the topics: the broker fsyncs the partition log before it acknowledges a write"
fi
fill_appends=$(((prefill + 99) / 100))
# The Zipf runs put ~10 % of all appends on one stream: with 64 writers an append may lose
# the race many times before it wins. Both systems get the same generous bounds, so the runs
# finish and report their conflicts instead of stopping at the default 50 retries.
zipf_args=(--max-retries 1000 --max-errors 100000)
started_all="$(now)"

# ---- replicas ---------------------------------------------------------------------------

replica_port="$(pick_port)"
replica_url="http://127.0.0.1:$replica_port"
replica_state="$work/replica"

start_replica() {
  "$bin/evstore-projector" --brokers "$brokers" --topic "$topic" --data-dir "$replica_state" \
    --http "127.0.0.1:$replica_port" >>"$work/replica.log" 2>&1 &
  replica_pid=$!
}

# caught_up URL END: 0 once the projector at URL is healthy and has applied offset END.
caught_up() {
  local next
  curl -sf -o /dev/null --max-time 2 "$1/health" || return 1
  next="$({ curl -sf --max-time 5 "$1/status" || true; } | { grep -o '"next_offset":[0-9]*' || true; } |
    head -n1 | cut -d: -f2)"
  [[ -n "$next" ]] && ((next >= $2))
}

# wait_caught_up URL END PID WHAT: waits (at most 30 minutes) for caught_up.
wait_caught_up() {
  local deadline=$((SECONDS + 1800))
  until caught_up "$1" "$2"; do
    kill -0 "$3" 2>/dev/null || die "$4 exited (log in $work)"
    ((SECONDS < deadline)) || die "$4 did not catch up in 30 minutes"
    sleep 0.1
  done
}

# C1, R3, J1 and K1 (tests/bench/README.md): checkpoint saves through the state topic;
# reads with one replica; a second replica joining the filled topic; reads with two; and
# K1: a replica killed (kill -9, one then the other) while clients knowing both append and
# read, the stall they see each time.
replica_runs() {
  run_bench evs_bench_cluster evstore/c1-checkpoint checkpoints --count 1000
  run_bench evs_bench_cluster evstore/r3-1-replica reads --readers 8 --seconds 10 \
    --streams 1000 --prefix Fill-
  local end t0 join_s events rate
  end="$(status_field next_offset)"
  events="$(status_field last_position)"
  say "--- evstore/j1: a second replica joins at offset $end ($events events)"
  t0="$(now)"
  start_replica
  wait_caught_up "$replica_url" "$end" "$replica_pid" "the joining replica"
  join_s="$(elapsed "$t0" "$(now)")"
  rate="$(awk -v e="$events" -v s="$join_s" 'BEGIN { printf "%.1f", (s > 0 ? e / s : 0) }')"
  printf '{"bench":"replica-join","label":"evstore/j1","topic":"%s","records":%s,"events":%s,"seconds":%s,"events_per_s":%s,"errors":{},"completed":true}\n' \
    "$topic" "$end" "$events" "$join_s" "$rate" >>"$jsonl"
  say "evstore/j1: serving after $join_s s ($rate events/s)"
  run_bench evs_bench_cluster evstore/r3-2-replicas --projector "$projector_url,$replica_url" \
    reads --readers 8 --seconds 10 --streams 1000 --prefix Fill-
  local k victim out
  for ((k = 1; k <= kills; k++)); do
    out="$work/stall.$k.out"
    victim=$((k % 2 ? 2 : 1)) # the joined replica first, then the first one, in turn
    say "--- evstore/k1 kill $k of $kills: replica $victim, under load"
    "$bin/evs_bench_cluster" --projector "$projector_url,$replica_url" --label "evstore/k1-$k" \
      stall --seconds 10 --writers 2 --readers 2 --streams 1000 --prefix Stall- >"$out" &
    bench_pid=$!
    sleep 4
    if ((victim == 2)); then kill -KILL "$replica_pid"; wait "$replica_pid" 2>/dev/null || true
    else kill -KILL "$projector_pid"; wait "$projector_pid" 2>/dev/null || true; fi
    wait "$bench_pid" || { cat "$out" >&2; die "the stall run failed"; }
    bench_pid=""
    grep -v '^{"bench"' "$out" >&2 || true
    grep '^{"bench"' "$out" >>"$jsonl"
    end="$(curl -sf --max-time 5 "$([[ $victim == 2 ]] && echo "$projector_url" || echo "$replica_url")/status" |
      grep -o '"next_offset":[0-9]*' | head -n1 | cut -d: -f2)"
    if ((victim == 2)); then
      start_replica
      wait_caught_up "$replica_url" "$end" "$replica_pid" "the restarted replica"
    else
      start_projector "$work/projector.log"
      wait_caught_up "$projector_url" "$end" "$projector_pid" "the restarted projector"
    fi
  done
  stop_replica
}

# F1 and the feed's cost (tests/bench/README.md): the projector again, with --feed; once it
# has published the whole history, the feed's lag behind the verdict at a steady rate, then
# W3 and W4 again with the feed on.
feed_runs() {
  stop_projector
  start_projector "$work/projector-feed.log" --feed
  wait_healthy "$work/projector-feed.log"
  local last deadline=$((SECONDS + 1800)) next
  last="$(status_field last_position)"
  say "--- evstore/f1: the feed publishes the history ($last events) first"
  until next="$({ curl -sf --max-time 5 "$projector_url/status" || true; } |
      { grep -o '"next_position":[0-9]*' || true; } | head -n1 | cut -d: -f2)" &&
    [[ -n "$next" ]] && ((next > last)); do
    ((SECONDS < deadline)) || die "the feed did not publish the history in 30 minutes"
    sleep 0.5
  done
  settle "$projector_pid" projector
  run_bench evs_bench_cluster evstore/f1-feed-lag feed-lag --count 2000 --rate 200 \
    --feed-topic "$topic.accepted"
  run_bench evs_bench evstore/w3-uniform-feed append-throughput --writers 64 \
    --count "$throughput_count" --streams "$streams" --exact --stream-prefix W3f- --progress
  run_bench evs_bench evstore/w4-feed append-throughput --writers 4 --count "$w4_count" \
    --events-per-append 100 --streams 100 --stream-prefix W4f- --progress
  stop_projector
  start_projector "$work/projector.log"
  wait_healthy "$work/projector.log"
}

# W3 and W4 with every event personal data (sealed by libevstore; 1000 subjects, which
# the client's key cache holds, so this measures sealing, not fetching keys), then E1: the
# time of a forget of each of 20 subjects that have a key (DELETE /keys/S through the
# projector: the tombstone, and this projector applying it).
sealed_runs() {
  run_bench evs_bench evstore/w3-uniform-sealed append-throughput --writers 64 \
    --count "$throughput_count" --streams "$streams" --exact --stream-prefix W3s- --progress \
    --master-key "$master_key" --subjects 1000
  run_bench evs_bench evstore/w4-sealed append-throughput --writers 4 --count "$w4_count" \
    --events-per-append 100 --streams 100 --stream-prefix W4s- --progress \
    --master-key "$master_key" --subjects 1000
  local i t times=()
  for i in $(seq 0 19); do
    t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -X DELETE \
      "$projector_url/keys/Bench-subject-$i") || die "DELETE /keys/Bench-subject-$i failed"
    [[ "$t" == "200 "* ]] || die "DELETE /keys/Bench-subject-$i answered $t"
    times+=("${t#* }")
  done
  printf '%s\n' "${times[@]}" | python3 -c '
import json, statistics, sys
ms = sorted(float(x) * 1000 for x in sys.stdin if x.strip())
print(json.dumps({"bench": "forget", "label": "evstore/e1-forget", "count": len(ms),
                  "p50_ms": round(statistics.median(ms), 2), "max_ms": round(ms[-1], 2)}))' \
    >>"$jsonl"
  say "E1 forget: $(tail -n1 "$jsonl")"
}

# w5_runs PROGRAM SYSTEM: W5 (tests/bench/README.md), the OCC loop of a command handler,
# through evs_bench or pg_bench, with 1 writer (latency) and 16 (throughput). It works on the
# streams of the uniform W3 run, W3u-1..W3u-<EVSTORE_BENCH_STREAMS>, which by then hold W3's
# appends: EVSTORE_BENCH_THROUGHPUT_COUNT / EVSTORE_BENCH_STREAMS events each on average (2
# by default, so a read of the last 20 gets them all; about 1 stream in 7 has none, and the
# first command on it appends at version 0). The 16-writer run also finds the 1-writer run's.
w5_runs() {
  local prog="$1" system="$2" n
  ((w5_count > 0)) || return 0
  for n in 1 16; do
    run_bench "$prog" "$system/w5-$n" occ-loop --writers "$n" --count "$w5_count" \
      --streams "$streams" --stream-prefix W3u- --read-limit 20 --progress
  done
}

# ---- evstore ----------------------------------------------------------------------------

if wants evstore; then
  # The topic is made here, not by the projector, to give it flush.messages; the other
  # settings are the ones the projector itself sets and checks (docs/ARCHITECTURE.md).
  topic_used=1
  topic_config=(--config cleanup.policy=delete --config retention.ms=-1 --config retention.bytes=-1
    --config unclean.leader.election.enable=false --config max.message.bytes=1048576)
  [[ "$kafka_fsync" == 0 ]] || topic_config+=(--config flush.messages=1)
  bash "$repo/deploy/kafka.sh" topics --create --topic "$topic" --partitions 1 \
    --replication-factor 1 "${topic_config[@]}" >&2 || die "cannot create topic $topic"
  say "topic $topic, projector $projector_url, state $state"
  start_projector "$work/projector.log"
  wait_healthy "$work/projector.log"

  if ((fill_appends > 0)); then
    run_bench evs_bench evstore/prefill append-throughput --writers 4 --count "$fill_appends" \
      --events-per-append 100 --streams 1000 --stream-prefix Fill- --progress
    settle "$projector_pid" projector
  fi
  memory_line evstore/memory-after-prefill
  run_bench evs_bench evstore/w1 append-latency --count "$latency_count" --stream W1-1
  run_bench evs_bench evstore/w1-linger-0 append-latency --count "$latency_count" \
    --stream W1-2 --linger-ms 0
  for w in 2 3; do
    n=$((w == 2 ? 16 : 64))
    run_bench evs_bench "evstore/w$w-uniform" append-throughput --writers "$n" \
      --count "$throughput_count" --streams "$streams" --exact --stream-prefix "W${w}u-" --progress
    run_bench evs_bench "evstore/w$w-zipf" append-throughput --writers "$n" \
      --count "$throughput_count" --streams "$streams" --exact --zipf --stream-prefix "W${w}z-" \
      "${zipf_args[@]}" --progress
  done
  run_bench evs_bench evstore/w4 append-throughput --writers 4 --count "$w4_count" \
    --events-per-append 100 --streams 100 --stream-prefix W4- --progress
  w5_runs evs_bench evstore
  ((sealed == 0)) || sealed_runs
  run_bench evs_bench evstore/r2 read-latency --stream R2-read --limit 100 --prepare \
    --count "$read_count"
  run_bench evs_bench evstore/r2-raw-http read-latency --stream R2-read --limit 100 --raw-http \
    --count "$read_count"
  if ((sub_count > 0)); then
    run_bench evs_bench evstore/s1 subscribe-latency --count "$sub_count" --rate "$sub_rate" \
      --writers 4 --streams 1000
  fi
  run_bench evs_bench evstore/r1 read-all --limit 1000 --progress
  run_bench evs_bench evstore/r1-subscription catch-up --progress
  # The replica and feed runs restart the projector: this is the end of its life.
  memory_line evstore/memory-after-run

  if [[ "$replicas" != 0 ]]; then
    replica_runs
  fi
  if [[ "$feed" != 0 ]]; then
    feed_runs
  fi

  if [[ "$rebuild" != 0 ]]; then
    end_offset="$(status_field next_offset)"
    end_events="$(status_field last_position)"
    [[ -n "$end_offset" && -n "$end_events" ]] || die "cannot read the projector's /status"
    say "--- evstore/b1: stopping the projector at offset $end_offset ($end_events events)"
    stop_projector
    rebuild_log="$work/projector-rebuild.log"
    t0="$(now)"
    start_projector "$rebuild_log" --rebuild
    caught_up=""
    deadline=$((SECONDS + 1800))
    until grep -q "rebuild complete" "$rebuild_log"; do
      kill -0 "$projector_pid" 2>/dev/null || { tail -n 20 "$rebuild_log" >&2; die "the rebuilding projector exited"; }
      ((SECONDS < deadline)) || die "the rebuild did not complete in 30 minutes"
      if [[ -z "$caught_up" ]]; then
        next="$(status_field next_offset)"
        if [[ -n "$next" ]] && ((next >= end_offset)); then caught_up="$(now)"; fi
      fi
      sleep 0.1
    done
    t_log="$(now)"
    [[ -n "$caught_up" ]] || caught_up="$t_log"
    grep "rebuild" "$rebuild_log" | tail -n 3 >&2
    rebuild_s="$(elapsed "$t0" "$caught_up")"
    rebuild_log_s="$(elapsed "$t0" "$t_log")"
    rebuilt_events="$(status_field last_position)"
    # (The parentheses matter: a bare > in awk's printf arguments redirects the output.)
    rebuild_rate="$(awk -v e="$rebuilt_events" -v s="$rebuild_s" 'BEGIN { printf "%.1f", (s > 0 ? e / s : 0) }')"
    rebuild_record_rate="$(awk -v r="$end_offset" -v s="$rebuild_s" 'BEGIN { printf "%.1f", (s > 0 ? r / s : 0) }')"
    [[ "$rebuilt_events" == "$end_events" ]] ||
      die "the rebuild has $rebuilt_events events, the first projector had $end_events"
    printf '{"bench":"rebuild","label":"evstore/b1","topic":"%s","records":%s,"events":%s,"seconds":%s,"seconds_to_log_line":%s,"events_per_s":%s,"records_per_s":%s,"errors":{},"completed":true}\n' \
      "$topic" "$end_offset" "$rebuilt_events" "$rebuild_s" "$rebuild_log_s" "$rebuild_rate" \
      "$rebuild_record_rate" >>"$jsonl"
    say "evstore/b1: $rebuilt_events events in $rebuild_s s = $rebuild_rate events/s"
  fi
  stop_projector
fi

# ---- Kafka's own ceiling ----------------------------------------------------------------

if wants kafka; then
  topic_used=1
  run_bench evs_bench kafka/w1 kafka-ceiling --count "$latency_count" --writers 1 \
    "${flush_args[@]}"
  run_bench evs_bench kafka/w2-uniform kafka-ceiling --count "$throughput_count" --writers 16 \
    --streams "$streams" "${flush_args[@]}"
  run_bench evs_bench kafka/w3-uniform kafka-ceiling --count "$throughput_count" --writers 64 \
    --streams "$streams" "${flush_args[@]}"
  run_bench evs_bench kafka/w4 kafka-ceiling --count "$w4_count" --writers 4 \
    --events-per-append 100 --streams 100 "${flush_args[@]}"
  # R1's ceiling: the consumer's pass over the W4 run's records (the same line, relabelled).
  grep -F '"label":"kafka/w4"' "$jsonl" | tail -n1 | sed 's/"label":"kafka\/w4"/"label":"kafka\/r1"/' >>"$jsonl"
fi

# ---- the PostgreSQL design --------------------------------------------------------------

if wants postgresql; then
  if ! bash "$here/pg.sh" status >/dev/null 2>&1; then
    pg_started=1
    bash "$here/pg.sh" start >&2
  fi
  export EVSTORE_PG_DSN="${EVSTORE_PG_DSN:-$(bash "$here/pg.sh" dsn)}"
  bash "$here/pg.sh" reset >&2
  if ((prefill > 0)); then
    run_bench pg_bench postgresql/prefill prefill --events "$prefill" --streams 1000 \
      --events-per-append 100
  fi
  run_bench pg_bench postgresql/w1 append-latency --count "$latency_count" --stream W1-1
  for w in 2 3; do
    n=$((w == 2 ? 16 : 64))
    run_bench pg_bench "postgresql/w$w-uniform" append-throughput --writers "$n" \
      --count "$throughput_count" --streams "$streams" --exact --stream-prefix "W${w}u-"
    run_bench pg_bench "postgresql/w$w-zipf" append-throughput --writers "$n" \
      --count "$throughput_count" --streams "$streams" --exact --zipf --stream-prefix "W${w}z-" \
      "${zipf_args[@]}"
  done
  run_bench pg_bench postgresql/w4 append-throughput --writers 4 --count "$w4_count" \
    --events-per-append 100 --streams 100 --stream-prefix W4-
  w5_runs pg_bench postgresql
  run_bench pg_bench postgresql/r2 read-latency --stream R2-read --limit 100 --prepare \
    --count "$read_count"
  run_bench pg_bench postgresql/r1 read-all
fi
total_s="$(elapsed "$started_all" "$(now)")"

# ---- the report -------------------------------------------------------------------------

pg_settings=""
if wants postgresql; then
  pg_settings="PostgreSQL $(field postgresql/w1 server_version) (Debian), its own server (tests/bench/pg.sh), fsync=$(field postgresql/w1 fsync), synchronous_commit=$(field postgresql/w1 synchronous_commit), wal_sync_method=$(field postgresql/w1 wal_sync_method); one connection per writer"
fi
python3 - "$meta" <<PY
import json, sys
meta = {
    "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
    "command": "bash tests/bench/run.sh",
    "machine": "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(uname -sr); everything on this one machine",
    "load": "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; total benchmark time $total_s s",
    "kafka": "Apache Kafka 4.1.1, one KRaft broker at $brokers, topics of 1 partition, replication 1, acks=all (= the leader alone); $flush_note",
    "evstore": "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$repo" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes'); libevstore with its defaults (idempotent producer, linger 1 ms); one projector",
    "postgresql": "$pg_settings",
    "events": "about 256 B of JSON data and 64 B of JSON metadata per event, fresh event ids",
    "prefill": "$prefill events in each store before the timed runs",
    "durability": "an acknowledged append is on disk on both sides: Kafka fsyncs before acknowledging (flush.messages=1) unless EVSTORE_BENCH_KAFKA_FSYNC=0, PostgreSQL commits with fsync and synchronous_commit on",
}
if "$kafka_fsync" == "0":
    meta["durability"] = "NOT equal: Kafka acknowledges from its page cache (EVSTORE_BENCH_KAFKA_FSYNC=0) while PostgreSQL fsyncs each commit"
json.dump(meta, open(sys.argv[1], "w"), indent=1)
PY
before=()
[[ -z "${EVSTORE_BENCH_BEFORE:-}" ]] || before=("$EVSTORE_BENCH_BEFORE")
python3 "$here/report.py" "$jsonl" "$meta" "$report" "$chart" "${before[@]}" ||
  die "report.py failed"
echo
cat "$report"
say "report: $report; chart: $chart; JSON lines: $jsonl"
