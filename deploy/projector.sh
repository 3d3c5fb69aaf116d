#!/usr/bin/env bash
# Run the evstore projector (build/bin/evstore-projector) in the background.
#
#   deploy/projector.sh start [--replicas N]
#                                start unless already healthy; wait for GET /health = 200.
#                                With --replicas N, N hot replicas of the topic (replica 1 as
#                                without it; replica i on the port of EVSTORE_PROJECTOR_HTTP
#                                plus i-1, state in projector-i/, log projector-i.log), and
#                                print the seed list for EVSTORE_PROJECTOR
#   deploy/projector.sh stop     every replica started here: SIGTERM, wait (SIGKILL after 60 s)
#   deploy/projector.sh status   exit 0 if every replica started here answers /health 200
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

http_host="${http%:*}"
http_port="${http##*:}"

# select_replica I: the settings of replica I (1 = the plain projector of old).
select_replica() {
  replica=$1
  if ((replica == 1)); then
    name=projector
    http="$http_host:$http_port"
  else
    name="projector-$replica"
    http="$http_host:$((http_port + replica - 1))"
  fi
  state_dir="$data_root/$name"
  logfile="$data_root/$name.log"
  pidfile="$data_root/$name.pid"
  health_url="http://$http/health"
}
select_replica 1

# The replicas this script has pid files for (1 always), ascending.
known_replicas() {
  local f n
  echo 1
  for f in "$data_root"/projector-*.pid; do
    [[ -e "$f" ]] || continue
    n="${f##*/projector-}"
    n="${n%.pid}"
    [[ "$n" =~ ^[0-9]+$ ]] && echo "$n"
  done | sort -n
}

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
  exec 9>"$data_root/.$name-start.lock"
  flock -w $((start_timeout + 30)) 9 || die "another start holds $data_root/.$name-start.lock"
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

usage() {
  echo "usage: $0 start [--replicas N] | stop | status" >&2
  exit 2
}

case "${1:-}" in
  start)
    replicas=1
    if (($# > 1)); then
      [[ "${2:-}" == --replicas && "${3:-}" =~ ^[1-9][0-9]?$ && $# -eq 3 ]] || usage
      replicas=$3
    fi
    seeds=""
    for ((r = 1; r <= replicas; r++)); do
      select_replica "$r"
      # Each start holds its own lock on fd 9 in a subshell, released when it returns.
      (cmd_start)
      seeds+="${seeds:+,}http://$http"
    done
    ((replicas == 1)) || say "replicas: EVSTORE_PROJECTOR=$seeds"
    ;;
  stop)
    [[ $# -eq 1 ]] || usage
    for r in $(known_replicas | sort -rn); do
      select_replica "$r"
      cmd_stop
    done
    ;;
  status)
    [[ $# -eq 1 ]] || usage
    rc=0
    for r in $(known_replicas); do
      select_replica "$r"
      cmd_status || rc=1
    done
    exit "$rc"
    ;;
  *) usage ;;
esac
