#!/usr/bin/env bash
# Run the evstore projector (build/bin/evstore-projector) in the background.
#
#   deploy/projector.sh start    start unless already healthy; wait for GET /health = 200
#   deploy/projector.sh stop     SIGTERM, wait (SIGKILL after 60 s)
#   deploy/projector.sh status   exit 0 if /health answers 200, 1 if not
#
# Environment (defaults in brackets):
#   EVSTORE_DATA_DIR         [<repo>/var]  projector state in $EVSTORE_DATA_DIR/projector,
#                                          log projector.log and projector.pid beside it
#   EVSTORE_BROKERS          [127.0.0.1:$EVSTORE_KAFKA_PORT, i.e. 127.0.0.1:18092]
#   EVSTORE_PROJECTOR_HTTP   [127.0.0.1:18080]  HOST:PORT of the query API
#   EVSTORE_PROJECTOR_ARGS   []            extra flags, e.g. "--topic T --partitions 3"
#   EVSTORE_PROJECTOR_BIN    [<repo>/build/bin/evstore-projector]
#   EVSTORE_PROJECTOR_START_TIMEOUT [60] seconds
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

data_root="${EVSTORE_DATA_DIR:-$repo/var}"
brokers="${EVSTORE_BROKERS:-127.0.0.1:${EVSTORE_KAFKA_PORT:-18092}}"
http="${EVSTORE_PROJECTOR_HTTP:-127.0.0.1:18080}"
bin="${EVSTORE_PROJECTOR_BIN:-$repo/build/bin/evstore-projector}"
start_timeout="${EVSTORE_PROJECTOR_START_TIMEOUT:-60}"
read -r -a extra_args <<<"${EVSTORE_PROJECTOR_ARGS:-}"

state_dir="$data_root/projector"
logfile="$data_root/projector.log"
pidfile="$data_root/projector.pid"
health_url="http://$http/health"

say() { printf 'projector.sh: %s\n' "$*"; }
die() { printf 'projector.sh: error: %s\n' "$*" >&2; exit 1; }

healthy() { curl -sf -o /dev/null --max-time 2 "$health_url"; }

# Pid from the pid file if that process is still the projector (not a reused pid).
our_pid() {
  local pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "evstore-projector" || return 1
  echo "$pid"
}

log_tail() {
  [[ -s "$logfile" ]] || return 0
  printf -- '--- last lines of %s ---\n' "$logfile" >&2
  tail -n 30 "$logfile" >&2
}

# wait_healthy PID [soft]: until /health answers 200. If the projector exits first: dies,
# or with "soft" returns 1 (the caller reads the log).
wait_healthy() {
  local pid="$1" soft="${2:-}" deadline=$((SECONDS + start_timeout)) body
  until healthy; do
    if ! kill -0 "$pid" 2>/dev/null; then
      [[ -z "$soft" ]] || return 1
      log_tail
      die "the projector exited during start-up (log $logfile)"
    fi
    if ((SECONDS >= deadline)); then
      # /health may answer 503 with the reason it refuses to run: show it.
      body="$(curl -s --max-time 2 "$health_url" || true)"
      log_tail
      die "GET $health_url did not answer 200 within ${start_timeout}s${body:+ (last answer: $body)}; pid $pid still running"
    fi
    sleep 0.3
  done
}

cmd_start() {
  local pid
  if healthy; then
    say "already running: $health_url answers 200"
    return 0
  fi
  # One start at a time: a second one waits, then finds the first one's projector.
  mkdir -p "$data_root"
  exec 9>"$data_root/.projector-start.lock"
  flock -w $((start_timeout + 30)) 9 || die "another start holds $data_root/.projector-start.lock"
  if healthy; then
    say "already running: $health_url answers 200"
    return 0
  fi
  if pid="$(our_pid)"; then
    say "projector (pid $pid) is starting; waiting"
    wait_healthy "$pid"
    say "ready on http://$http"
    return 0
  fi
  [[ -x "$bin" ]] || die "$bin not found: build first (make build)"
  mkdir -p "$state_dir"
  pid="$(launch)"
  if ! wait_healthy "$pid" soft; then
    # A store written by an older evstore (another store format) is derived state: rebuild
    # it from the topic, as the projector's message says. --rebuild keeps the local state
    # (checkpoints, snapshots, consumer groups).
    if tail -n 5 "$logfile" | grep -q 'but this projector reads format'; then
      say "the store in $state_dir has an older format; rebuilding it from the topic"
      pid="$(launch --rebuild)"
    fi
    wait_healthy "$pid"
  fi
  say "ready on http://$http"
}

# launch [ARGS...]: starts the projector in the background with the configured flags and
# ARGS; prints its pid.
launch() {
  local pid
  printf -- '==== %s start: --brokers %s --http %s --data-dir %s %s %s\n' \
    "$(date -u +%FT%TZ)" "$brokers" "$http" "$state_dir" "${extra_args[*]}" "$*" >>"$logfile"
  nohup setsid "$bin" --brokers "$brokers" --http "$http" --data-dir "$state_dir" \
    "${extra_args[@]}" "$@" >>"$logfile" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$pidfile"
  say "started pid $pid (state $state_dir, log $logfile)" >&2
  echo "$pid"
}

cmd_stop() {
  local pid i
  if ! pid="$(our_pid)"; then
    rm -f "$pidfile"
    say "not running"
    return 0
  fi
  say "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 120; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "still running after 60s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  say "stopped"
}

cmd_status() {
  local pid
  if healthy; then
    if pid="$(our_pid)"; then
      say "running: pid $pid, http://$http"
    else
      say "a projector answers on http://$http (not started by this script)"
    fi
    return 0
  fi
  if pid="$(our_pid)"; then
    say "pid $pid is running but $health_url does not answer 200"
  else
    say "not running"
  fi
  return 1
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
