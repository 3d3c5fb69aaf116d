#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, broker + controller in one JVM) for evstore.
#
#   deploy/kafka.sh fetch     download the broker jars into deploy/kafka/lib (Maven Central)
#   deploy/kafka.sh start     format storage if new, start in the background, wait until ready
#   deploy/kafka.sh stop      SIGTERM, wait, SIGKILL as a last resort
#   deploy/kafka.sh status    exit 0 if the broker answers, 1 if not
#   deploy/kafka.sh topics …  org.apache.kafka.tools.TopicCommand against this broker
#   deploy/kafka.sh run-class CLASS [ARGS…]   any class from the jars (tools logging to stderr)
#
# Environment (defaults in brackets):
#   EVSTORE_DATA_DIR              [<repo>/var]   EVSTORE_KAFKA_DIR [$EVSTORE_DATA_DIR/kafka]
#   EVSTORE_KAFKA_PORT            [18092]        EVSTORE_KAFKA_CONTROLLER_PORT [18093]
#   EVSTORE_KAFKA_START_TIMEOUT   [60] seconds   KAFKA_HEAP_OPTS [-Xms512m -Xmx1g]
#   JAVA                          [java]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
kafka_home="$here/kafka"            # pom.xml, templates, lib/
lib="$kafka_home/lib"

data_root="${EVSTORE_DATA_DIR:-$repo/var}"
kdir="${EVSTORE_KAFKA_DIR:-$data_root/kafka}"
port="${EVSTORE_KAFKA_PORT:-18092}"
cport="${EVSTORE_KAFKA_CONTROLLER_PORT:-18093}"
start_timeout="${EVSTORE_KAFKA_START_TIMEOUT:-60}"
java="${JAVA:-java}"
heap_opts="${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}"

log_dir="$kdir/data"                 # Kafka's log.dirs: partitions + KRaft metadata
app_logs="$kdir/logs"                # log4j2 output (server.log, state-change.log)
props="$kdir/server.properties"
pidfile="$kdir/kafka.pid"
outfile="$kdir/kafka.out"            # JVM stdout/stderr (normally near empty)
stamp="$lib/.fetched"                # written after a complete fetch

say() { printf 'kafka.sh: %s\n' "$*"; }
die() { printf 'kafka.sh: error: %s\n' "$*" >&2; exit 1; }

# --- fetch -------------------------------------------------------------------------

# The stamp holds a checksum of pom.xml, so editing the POM (e.g. the version) refetches.
pom_sum() { sha256sum "$kafka_home/pom.xml" | cut -d' ' -f1; }

fetched() {
  [[ -f "$stamp" && "$(cat "$stamp")" == "$(pom_sum)" ]] &&
    compgen -G "$lib/kafka_2.13-*.jar" >/dev/null &&
    compgen -G "$lib/log4j-core-*.jar" >/dev/null
}

cmd_fetch() {
  if fetched; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (deploy/setup.sh installs maven)"
  say "fetching Kafka jars with Maven into $lib"
  rm -rf "$lib"
  local mvnlog="$kafka_home/target/fetch.log"
  mkdir -p "$kafka_home/target"
  # Output goes to a log (maven prints colour codes even with -q -B); shown on failure.
  if ! (cd "$kafka_home" && mvn -B -ntp dependency:copy-dependencies -DoutputDirectory=lib) \
    >"$mvnlog" 2>&1; then
    tail -n 40 "$mvnlog" >&2
    die "maven could not fetch the Kafka jars (full log: $mvnlog)"
  fi
  pom_sum >"$stamp"
  local jar
  for jar in "$lib"/kafka_2.13-*.jar; do say "fetched ${jar##*/}"; done
}

# --- probes ------------------------------------------------------------------------

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# True if a Kafka broker *answers* on the broker port. A bare TCP connect is not
# enough: the listening socket is bound long before the broker processes requests.
# Sends an ApiVersions v0 request (api_key 18, correlation id 1, client id "ping")
# and waits up to 2 s for a response: 4-byte size, then correlation id 1.
broker_answers() {
  # shellcheck disable=SC2016  # the inner script gets the port as $1
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "\x00\x00\x00\x0e\x00\x12\x00\x00\x00\x00\x00\x01\x00\x04ping" >&3
    [[ $(timeout 2 head -c 8 <&3 | od -An -tx1 | tr -d " \n") == ????????00000001 ]]' \
    _ "$port" 2>/dev/null
}

# Pid from the pid file if that process is our broker (guards against a reused pid).
our_pid() {
  local pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "kafka.Kafka $props" || return 1
  echo "$pid"
}

# Shows the JVM output and the broker log, skipping a log older than this start.
log_tail() {
  local f
  for f in "$outfile" "$app_logs/server.log"; do
    [[ -s "$f" ]] || continue
    [[ "$f" == "$outfile" || ! -e "$kdir/.started" || "$f" -nt "$kdir/.started" ]] || continue
    printf -- '--- last lines of %s ---\n' "$f" >&2
    tail -n 30 "$f" >&2
  done
}

# --- start -------------------------------------------------------------------------

# JVM flags shared by the broker and the tools (G1 settings as in Kafka's own scripts).
read -r -a heap <<<"$heap_opts"
jvm_opts=("${heap[@]}" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
  -Djava.awt.headless=true -cp "$lib/*")

# Run a Kafka command-line class with tools logging (warnings on stderr).
run_tool() {
  "$java" "${jvm_opts[@]}" -Dlog4j2.configurationFile="$kafka_home/tools-log4j2.properties" "$@"
}

render_config() {
  mkdir -p "$log_dir" "$app_logs"
  sed -e "s|@BROKER_PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$cport|g" \
    -e "s|@LOG_DIR@|$log_dir|g" "$kafka_home/server.properties.in" >"$props.tmp"
  mv "$props.tmp" "$props"
}

# KRaft storage must be formatted once, with a cluster id, before the first start.
format_storage() {
  [[ -f "$log_dir/meta.properties" ]] && return 0
  if [[ ! -s "$kdir/cluster.id" ]]; then
    run_tool kafka.tools.StorageTool random-uuid >"$kdir/cluster.id.tmp"
    mv "$kdir/cluster.id.tmp" "$kdir/cluster.id"
  fi
  say "formatting $log_dir (cluster id $(cat "$kdir/cluster.id"))"
  run_tool kafka.tools.StorageTool format --standalone --ignore-formatted \
    --cluster-id "$(cat "$kdir/cluster.id")" --config "$props" >>"$outfile" 2>&1 ||
    { log_tail; die "formatting the Kafka storage failed"; }
}

wait_ready() {
  local pid="$1" deadline=$((SECONDS + start_timeout))
  until broker_answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log_tail
      die "the broker exited during start-up (logs in $kdir)"
    fi
    if ((SECONDS >= deadline)); then
      log_tail
      die "the broker did not answer on 127.0.0.1:$port within ${start_timeout}s (pid $pid, logs in $kdir)"
    fi
    sleep 0.5
  done
}

cmd_start() {
  local pid t0=$SECONDS
  if broker_answers; then
    say "a broker already answers on 127.0.0.1:$port"
    return 0
  fi
  # One start at a time per data dir (e.g. two `make test` at once): the second waits
  # for the first, then finds the broker answering.
  mkdir -p "$kdir"
  exec 9>"$kdir/.start.lock"
  flock -w $((start_timeout + 120)) 9 || die "another start holds $kdir/.start.lock"
  if broker_answers; then
    say "a broker already answers on 127.0.0.1:$port"
    return 0
  fi
  cmd_fetch
  if pid="$(our_pid)"; then
    say "broker (pid $pid) is starting; waiting"
    wait_ready "$pid"
    say "ready on 127.0.0.1:$port"
    return 0
  fi
  port_open "$port" && die "127.0.0.1:$port is taken by something that is not a Kafka broker"
  port_open "$cport" && die "controller port 127.0.0.1:$cport is already in use"

  render_config
  format_storage
  : >"$outfile"
  touch "$kdir/.started"
  # setsid + nohup: the broker outlives the shell (and terminal) that started it.
  nohup setsid "$java" "${jvm_opts[@]}" -Dkafka.logs.dir="$app_logs" \
    -Dlog4j2.configurationFile="$kafka_home/log4j2.properties" \
    kafka.Kafka "$props" >>"$outfile" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$pidfile"
  say "started broker pid $pid (data $log_dir, logs $app_logs)"
  wait_ready "$pid"
  say "ready on 127.0.0.1:$port after $((SECONDS - t0))s"
}

# --- stop / status -----------------------------------------------------------------

cmd_stop() {
  local pid i
  if ! pid="$(our_pid)"; then
    rm -f "$pidfile"
    if broker_answers; then
      say "a broker answers on 127.0.0.1:$port but was not started from $kdir; leaving it alone"
    else
      say "not running"
    fi
    return 0
  fi
  say "stopping broker pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  # A clean shutdown flushes and closes every log; give it time before SIGKILL.
  for ((i = 0; i < 120; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "still running after 60s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
  fi
  rm -f "$pidfile"
  say "stopped"
}

cmd_status() {
  local pid
  if broker_answers; then
    if pid="$(our_pid)"; then
      say "running: pid $pid, 127.0.0.1:$port, data $log_dir"
    else
      say "a broker answers on 127.0.0.1:$port (not started from $kdir)"
    fi
    return 0
  fi
  if pid="$(our_pid)"; then
    say "starting (pid $pid) but not answering on 127.0.0.1:$port yet"
  else
    say "not running"
  fi
  return 1
}

usage() {
  sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 2
}

# deploy/cluster.sh sources this file for its functions (fetch, probes, stop); only a
# direct run dispatches a command.
[[ "${BASH_SOURCE[0]}" == "$0" ]] || return 0

case "${1:-}" in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  topics)
    shift
    cmd_fetch
    run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" "$@"
    ;;
  run-class)
    shift
    [[ $# -ge 1 ]] || usage
    cmd_fetch
    run_tool "$@"
    ;;
  *) usage ;;
esac
