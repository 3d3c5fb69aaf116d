#!/usr/bin/env bash
# tests/bench/run.sh - the evstore benchmark in one command: build, measure, print a table.
#
#   bash tests/bench/run.sh
#
# What it does (tests/bench/README.md says what each number means):
#  1. builds evs_bench and evstore-projector (cmake, into build/), unless
#     EVSTORE_BENCH_NO_BUILD=1;
#  2. uses the Kafka broker at $EVSTORE_BROKERS; starts the local one (deploy/kafka.sh) if it
#     does not answer, and stops it again at the end;
#  3. starts its own projector on a fresh topic evstore.bench.<timestamp>-<pid>, a fresh
#     state directory, a free port and a unique consumer group, and waits for /health = 200;
#  4. runs, one after another:
#       - one writer, exact expected versions: append-latency, with the library's default
#         producer linger (1 ms) and with --linger-ms 0;
#       - append-throughput: 16 writers sharing one client, 20000 appends over 1000 streams;
#       - read-latency: a 100-event stream written, then read whole N times through
#         evs_stream_read, and N times as raw HTTP GETs (no parsing);
#       - the fill: 4 writers appending 100 events per append (500k events), so that the
#         rebuild has something to chew on;
#       - subscribe-latency (S1): a subscription to $all from now, 4 writers appending 5000
#         events at a steady 1000 appends/s; latency from before each evs_append to the
#         event's delivery through the subscription, and every appended event must arrive;
#       - catch-up: a subscription to $all from the start without follow, read to the end
#         of the history (the whole filled topic): events/s and MB/s;
#       - the rebuild: SIGTERM to the projector, a new one with --rebuild on the same state
#         directory and topic, timed until it has applied the whole topic again (its /status)
#         and until its log prints "rebuild complete";
#  5. prints a summary table and writes it to build/bench/report-<timestamp>.txt (the raw
#     JSON lines of every run beside it, report-<timestamp>.jsonl);
#  6. on exit, whatever happened: stops the projector it started (and the broker, if it
#     started that), deletes the bench topic and the projector's state directory.
#
# A default run takes about 90 s on 2 cores. Sizes and switches (defaults in brackets):
#   EVSTORE_BROKERS                 [127.0.0.1:18092]
#   EVSTORE_BENCH_LATENCY_COUNT     [10000]   timed appends in each one-writer run
#   EVSTORE_BENCH_WRITERS           [16]      writers in the throughput run
#   EVSTORE_BENCH_THROUGHPUT_COUNT  [20000]   appends in the throughput run (all writers)
#   EVSTORE_BENCH_STREAMS           [1000]    streams in the throughput run
#   EVSTORE_BENCH_READ_COUNT        [5000]    timed reads in each read run
#   EVSTORE_BENCH_READ_EVENTS       [100]     events in the stream read (one read each)
#   EVSTORE_BENCH_FILL_EVENTS       [500000]  events appended before the rebuild (0: no fill)
#   EVSTORE_BENCH_FILL_WRITERS      [4]
#   EVSTORE_BENCH_FILL_BATCH        [100]     events per append in the fill
#   EVSTORE_BENCH_SUB_COUNT         [5000]    events appended in the subscribe run (0: no run)
#   EVSTORE_BENCH_SUB_RATE          [1000]    appends/s in the subscribe run (all writers)
#   EVSTORE_BENCH_SUB_WRITERS       [4]
#   EVSTORE_BENCH_CATCHUP           [1]       0: no catch-up run
#   EVSTORE_BENCH_EXTRA             [0]       1: also 16 writers with --exact on Zipf-skewed
#                                             streams (contention), and with a client each
#   EVSTORE_BENCH_KEEP              [0]       1: keep the topic, the projector's state and logs
#   EVSTORE_BENCH_OUT               [<repo>/build/bench]
#   EVSTORE_BENCH_NO_BUILD          [0]       1: use the binaries already in build/bin
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="$repo/build"
bin="$build/bin"

brokers_set="${EVSTORE_BROKERS:+yes}"
brokers="${EVSTORE_BROKERS:-127.0.0.1:${EVSTORE_KAFKA_PORT:-18092}}"
latency_count="${EVSTORE_BENCH_LATENCY_COUNT:-10000}"
writers="${EVSTORE_BENCH_WRITERS:-16}"
throughput_count="${EVSTORE_BENCH_THROUGHPUT_COUNT:-20000}"
streams="${EVSTORE_BENCH_STREAMS:-1000}"
read_count="${EVSTORE_BENCH_READ_COUNT:-5000}"
read_events="${EVSTORE_BENCH_READ_EVENTS:-100}"
fill_events="${EVSTORE_BENCH_FILL_EVENTS:-500000}"
fill_writers="${EVSTORE_BENCH_FILL_WRITERS:-4}"
fill_batch="${EVSTORE_BENCH_FILL_BATCH:-100}"
sub_count="${EVSTORE_BENCH_SUB_COUNT:-5000}"
sub_rate="${EVSTORE_BENCH_SUB_RATE:-1000}"
sub_writers="${EVSTORE_BENCH_SUB_WRITERS:-4}"
catchup="${EVSTORE_BENCH_CATCHUP:-1}"
extra="${EVSTORE_BENCH_EXTRA:-0}"
keep="${EVSTORE_BENCH_KEEP:-0}"
out_dir="${EVSTORE_BENCH_OUT:-$build/bench}"

for v in latency_count writers throughput_count streams read_count read_events fill_events \
  fill_writers fill_batch sub_count sub_rate sub_writers catchup; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "run.sh: $v must be a whole number, not '${!v}'" >&2; exit 2; }
done

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
topic="evstore.bench.$stamp-$$"
group="evstore-bench-$stamp-$$"
work="$(mktemp -d "${TMPDIR:-/tmp}/evstore-bench.XXXXXX")"
state="$work/projector"
report="$out_dir/report-$stamp.txt"
jsonl="$out_dir/report-$stamp.jsonl"

say() { printf 'run.sh: %s\n' "$*" >&2; }
die() { printf 'run.sh: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# ---- clean-up: everything this script started, by pid, and nothing else ----------------

projector_pid=""
bench_pid=""
broker_started=""
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

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$bench_pid" ]] && kill -0 "$bench_pid" 2>/dev/null; then
    kill -TERM "$bench_pid" 2>/dev/null || true
    wait "$bench_pid" 2>/dev/null || true
  fi
  stop_projector
  if [[ "$keep" == 1 ]]; then
    say "kept topic $topic and $work (EVSTORE_BENCH_KEEP=1)"
  else
    if [[ -n "$topic_used" ]]; then
      bash "$repo/deploy/kafka.sh" topics --delete --topic "$topic" >/dev/null 2>&1 ||
        say "could not delete topic $topic (delete it by hand if it matters)"
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
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- build, broker ----------------------------------------------------------------------

if [[ "${EVSTORE_BENCH_NO_BUILD:-0}" != 1 ]]; then
  say "building evs_bench and evstore-projector in $build"
  cmake -S "$repo" -B "$build" >/dev/null
  cmake --build "$build" -j2 --target evs_bench evstore-projector >/dev/null ||
    die "the build failed (run: cmake --build $build --target evs_bench evstore-projector)"
fi
[[ -x "$bin/evs_bench" && -x "$bin/evstore-projector" ]] ||
  die "$bin/evs_bench or $bin/evstore-projector is missing (build first)"

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

# start_projector LOG GROUP [ARGS...]: starts it in the background; sets projector_pid.
start_projector() {
  local log="$1" group_name="$2"
  shift 2
  "$bin/evstore-projector" --brokers "$brokers" --topic "$topic" --data-dir "$state" \
    --http "127.0.0.1:$port" --group "$group_name" "$@" >"$log" 2>&1 &
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

mkdir -p "$out_dir"
: >"$jsonl"
export EVSTORE_BROKERS="$brokers" EVSTORE_PROJECTOR="$projector_url" EVSTORE_TOPIC="$topic"

# bench LABEL ARGS...: runs evs_bench, shows its output, keeps its JSON line.
bench() {
  local label="$1" out
  shift
  say "--- $label: evs_bench $*"
  out="$work/bench.out"
  # In the background and waited for, so that a signal to this script is handled at once
  # (bash runs traps only between foreground commands); cleanup stops it.
  "$bin/evs_bench" --label "$label" "$@" >"$out" &
  bench_pid=$!
  if ! wait "$bench_pid"; then
    bench_pid=""
    cat "$out" >&2
    die "evs_bench $* failed"
  fi
  bench_pid=""
  grep -v '^{"bench"' "$out" >&2 || true
  grep '^{"bench"' "$out" >>"$jsonl"
}

# A field of the JSON line with the given label: numbers and the errors object.
field() {
  local line
  line="$({ grep -F "\"label\":\"$1\"" "$jsonl" || true; } | tail -n1)"
  if [[ "$2" == errors ]]; then
    sed -n 's/.*"errors":{\([^}]*\)}.*/\1/p' <<<"$line" | tr -d '"' | sed 's/^$/none/'
  else
    sed -n "s/.*\"$2\":\\([^,}]*\\).*/\\1/p" <<<"$line"
  fi
}

say "topic $topic, projector $projector_url, state $state"
start_projector "$work/projector.log" "$group"
wait_healthy "$work/projector.log"
started_all="$(now)"

bench w1-linger-default append-latency --count "$latency_count" --stream Bench-latency-1
bench w1-linger-0 append-latency --count "$latency_count" --stream Bench-latency-2 --linger-ms 0
bench "w$writers-uniform" append-throughput --writers "$writers" --count "$throughput_count" \
  --streams "$streams" --progress
if [[ "$extra" == 1 ]]; then
  bench "w$writers-zipf-exact" append-throughput --writers "$writers" \
    --count "$throughput_count" --streams "$streams" --zipf --exact --stream-prefix Hot- --progress
  bench "w$writers-client-each" append-throughput --writers "$writers" \
    --count "$throughput_count" --streams "$streams" --client-per-writer --stream-prefix Own- \
    --progress
fi
bench read-client read-latency --stream Bench-read --limit "$read_events" --prepare \
  --count "$read_count"
bench read-raw-http read-latency --stream Bench-read --limit "$read_events" --raw-http \
  --count "$read_count"
fill_appends=$(((fill_events + fill_batch - 1) / fill_batch))
if ((fill_appends > 0)); then
  bench fill append-throughput --writers "$fill_writers" --count "$fill_appends" \
    --events-per-append "$fill_batch" --streams 100 --stream-prefix Fill- --progress
fi
if ((sub_count > 0)); then
  bench "s1-w$sub_writers-$sub_rate" subscribe-latency --count "$sub_count" --rate "$sub_rate" \
    --writers "$sub_writers" --streams "$streams"
fi
if [[ "$catchup" != 0 ]]; then
  bench catch-up catch-up --progress
fi

# ---- the rebuild ------------------------------------------------------------------------

end_offset="$(status_field next_offset)"
end_events="$(status_field last_position)"
[[ -n "$end_offset" && -n "$end_events" ]] || die "cannot read the projector's /status"
say "--- rebuild: stopping the projector at offset $end_offset ($end_events events)"
stop_projector
rebuild_log="$work/projector-rebuild.log"
t0="$(now)"
start_projector "$rebuild_log" "$group-rebuild" --rebuild
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
projector_says="$(grep -o 'rebuild complete in [0-9.]* s' "$rebuild_log" | tail -n1)"
projector_rate="$(grep -o '[0-9]* events/s' "$rebuild_log" | tail -n1)"
# (The parentheses matter: a bare > in awk's printf arguments redirects the output.)
rebuild_rate="$(awk -v e="$rebuilt_events" -v s="$rebuild_s" 'BEGIN { printf "%.0f", (s > 0 ? e / s : 0) }')"
rebuild_record_rate="$(awk -v r="$end_offset" -v s="$rebuild_s" 'BEGIN { printf "%.0f", (s > 0 ? r / s : 0) }')"
[[ "$rebuilt_events" == "$end_events" ]] ||
  say "warning: the rebuild has $rebuilt_events events, the first projector had $end_events"
printf '{"bench":"rebuild","label":"rebuild","topic":"%s","records":%s,"events":%s,"seconds":%s,"seconds_to_log_line":%s,"events_per_s":%s,"records_per_s":%s}\n' \
  "$topic" "$end_offset" "$rebuilt_events" "$rebuild_s" "$rebuild_log_s" "$rebuild_rate" \
  "$rebuild_record_rate" >>"$jsonl"
total_s="$(elapsed "$started_all" "$(now)")"

# ---- the report -------------------------------------------------------------------------

# A number rounded to a whole one, or "-" when there is none.
whole() { awk -v v="$1" 'BEGIN { if (v == "") print "-"; else printf "%.0f\n", v }'; }

# row LABEL DESCRIPTION COUNT_FIELD RATE_FIELD [LATENCY_PREFIX]: one line of the table. The
# latency columns are the fields <prefix>p50_us ...; a prefix of "-" leaves them out.
row() {
  local l="$1" pre="${5:-}" lat=()
  grep -qF "\"label\":\"$l\"" "$jsonl" || return 0
  if [[ "$pre" == - ]]; then
    lat=(- - - - -)
  else
    lat=("$(field "$l" "${pre}p50_us")" "$(field "$l" "${pre}p95_us")" \
      "$(field "$l" "${pre}p99_us")" "$(field "$l" "${pre}p999_us")" "$(field "$l" "${pre}max_us")")
  fi
  printf '%-44s %8s %9s %9s %8s %8s %8s %9s %8s  %s\n' "$2" "$(field "$l" "$3")" \
    "$(whole "$(field "$l" "$4")")" "$(whole "$(field "$l" events_per_s)")" "${lat[@]}" \
    "$(field "$l" errors)"
}

{
  echo "evstore benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ) (tests/bench/run.sh; README.md there)"
  echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(uname -sr)"
  echo "kafka: one broker at $brokers (acks=all = the leader only), topic $topic, 1 partition"
  echo "evstore: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$repo" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes'); events of ~256 B JSON data + ~64 B JSON metadata"
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (load average at the end; other processes share these cores)"
  echo
  printf '%-44s %8s %9s %9s %8s %8s %8s %9s %8s  %s\n' run ops ops/s events/s p50_us p95_us p99_us p99.9_us max_us errors
  row w1-linger-default "W1 append, exact version (linger 1 ms)" appends appends_per_s
  row w1-linger-0 "W1 append, exact version (--linger-ms 0)" appends appends_per_s
  row "w$writers-uniform" "W$writers append, any, $streams streams, 1 client" appends appends_per_s
  row "w$writers-zipf-exact" "W$writers append, exact+retry, Zipf streams" appends appends_per_s
  row "w$writers-client-each" "W$writers append, any, a client per writer" appends appends_per_s
  row read-client "read $read_events events (evs_stream_read)" reads reads_per_s
  row read-raw-http "read $read_events events (raw HTTP, unparsed)" reads reads_per_s
  row fill "fill: W$fill_writers x $fill_batch events/append" appends appends_per_s
  s1="s1-w$sub_writers-$sub_rate"
  row "$s1" "S1 append->subscriber, W$sub_writers at $sub_rate/s" appends appends_per_s
  row "$s1" "S1 the same appends' append latency" appends appends_per_s append_
  row catch-up "catch-up \$all from start (no follow)" events events_per_s -
  echo
  if grep -qF "\"label\":\"$s1\"" "$jsonl"; then
    echo "S1: the subscriber received $(field "$s1" events_received) of the $(field "$s1" appends) appended events (from now, following); $(field "$s1" late_starts) appends started > 1 ms late"
  fi
  if grep -qF '"label":"catch-up"' "$jsonl"; then
    echo "catch-up: $(field catch-up events) events (positions $(field catch-up first_position)..$(field catch-up last_position)), $(awk -v b="$(field catch-up payload_bytes)" 'BEGIN { printf "%.1f", b / 1e6 }') MB of data and metadata, in $(field catch-up seconds) s = $(whole "$(field catch-up events_per_s)") events/s, $(field catch-up mb_per_s) MB/s;"
    if [[ "$(field catch-up ended)" == '"end"' ]]; then ended="the end of the history (EVS_EEND)"; else ended="$(field catch-up ended)"; fi
    echo "          first event after $(field catch-up first_event_ms) ms; read up to $ended"
  fi
  echo "rebuild: $end_offset records, $rebuilt_events events replayed in $rebuild_s s = $rebuild_rate events/s ($rebuild_record_rate records/s)"
  echo "         (start of the new projector until its /status showed the whole topic applied;"
  echo "          until its log said \"rebuild complete\": $rebuild_log_s s; the projector's own"
  echo "          account: \"$projector_says\", last reported rate $projector_rate)"
  echo
  echo "ops/s of W1 runs and reads: one call at a time, so ops/s = 1 / mean latency."
  echo "latency: per call, microseconds, from a log-linear histogram (<= 1.6 % above the true value)."
  echo "S1 latency: from just before evs_append to the event's delivery by evs_subscription_next;"
  echo "            S1 ops/s is the paced rate achieved. catch-up ops: events read."
  echo "total benchmark time: $total_s s. JSON lines of every run: $jsonl"
} >"$report"

echo
cat "$report"
say "report written to $report"
