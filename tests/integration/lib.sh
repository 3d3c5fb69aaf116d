# shellcheck shell=bash
# tests/integration/lib.sh - shared helpers of the integration tests.
#
# Every integration test runs the real programs (build/bin/evstore-projector, build/bin/evstore
# and the C test programs) against the real Kafka broker named by EVSTORE_BROKERS. A test is
# isolated from every other test run at the same time:
#   - its own events topic  evstore.it.<test>.<pid>.<random>  (deleted when the test passes),
#   - its own temporary directory (projector data dirs, logs, captured output), removed when
#     the test passes and kept (its path printed) when it fails,
#   - its own HTTP port per projector (a free port chosen at start),
#   - its own consumer group per projector instance.
# Every process a test starts is stopped when the test exits, however it exits: an EXIT trap
# stops them, and a watchdog kills them if the test itself is killed (e.g. by a ctest
# timeout), so nothing outlives a test.
#
# Usage in a test script:
#   source "$(dirname "$0")/lib.sh"
#   it_init NAME "$@"            # arguments: BIN_DIR (default: ../../build/bin)
#   start_projector p1           # sets P1_URL ... see start_projector
#   evs append S --type T --data '{}'    # CLI against p1's topic and URL
#
# JSON checks use python3 (always present here); jq is not required.
#
# Exit codes: 0 pass, 1 fail, 77 skipped (no broker answering and EVS_IT_ALLOW_SKIP=1).

set -euo pipefail

# ---- reporting ------------------------------------------------------------------------

IT_NAME=${IT_NAME:-it}
IT_CHECKS=0

log() { printf '[%s %s] %s\n' "$IT_NAME" "$(date +%H:%M:%S)" "$*" >&2; }

# fail MESSAGE...: reports a failed assertion (with the caller's line) and ends the test.
fail() {
  local where="${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}"
  if [[ "${FUNCNAME[1]:-}" == assert_* || "${FUNCNAME[1]:-}" == expect_* ||
    "${FUNCNAME[1]:-}" == jcheck ]]; then
    where="${BASH_SOURCE[2]##*/}:${BASH_LINENO[1]}"
  fi
  printf '[%s] FAIL at %s: %s\n' "$IT_NAME" "$where" "$*" >&2
  # Inside $(...) or ( ) this exit ends only the subshell: the mark makes it_cleanup fail
  # the test all the same.
  [[ -n "${T:-}" && -d "$T" ]] && printf '%s: %s\n' "$where" "$*" >>"$T/failed"
  exit 1
}

pass() { IT_CHECKS=$((IT_CHECKS + 1)); }

# soft CMD ARGS...: runs CMD in a subshell; a failed assertion in it is reported and counted,
# and the test goes on (so that one run lists every failing case). soft_done fails the
# test if any soft check failed. Variables CMD sets are not seen by the caller.
IT_SOFT_FAILS=0
soft() {
  if ("$@"); then
    IT_CHECKS=$((IT_CHECKS + 1))
  else
    IT_SOFT_FAILS=$((IT_SOFT_FAILS + 1))
  fi
}
soft_done() {
  [[ $IT_SOFT_FAILS -eq 0 ]] || fail "$IT_SOFT_FAILS checks failed (each reported above)"
}

# ---- set-up and tear-down -------------------------------------------------------------

# it_init NAME [BIN_DIR]: sets up the test: binaries, broker, topic, temp dir, traps.
it_init() {
  IT_NAME=$1
  local here
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  # shellcheck disable=SC2034 # used by the test scripts
  IT_SRC_DIR=$here
  BIN_DIR=${2:-${EVS_BIN_DIR:-$here/../../build/bin}}
  BIN_DIR="$(cd "$BIN_DIR" 2>/dev/null && pwd)" || {
    echo "[$IT_NAME] bin dir ${2:-$here/../../build/bin} does not exist; build first" >&2
    exit 1
  }
  PROJECTOR_BIN=$BIN_DIR/evstore-projector
  CLI_BIN=$BIN_DIR/evstore
  TOPIC_TOOL=$BIN_DIR/evs_it_topic
  local b
  for b in "$PROJECTOR_BIN" "$CLI_BIN" "$TOPIC_TOOL"; do
    [[ -x "$b" ]] || { echo "[$IT_NAME] missing program $b; build first" >&2; exit 1; }
  done

  BROKERS=${EVSTORE_BROKERS:-${EVS_IT_DEFAULT_BROKERS:-127.0.0.1:18092}}
  export EVSTORE_BROKERS=$BROKERS
  # Without a broker the test fails: `make test` starts one. EVS_IT_ALLOW_SKIP=1 turns this
  # into a skip for a developer who only wants the unit tests to count.
  broker_reachable || {
    echo "[$IT_NAME] no Kafka broker answers at $BROKERS (start one: deploy/kafka.sh start," \
      "or run make test)" >&2
    [[ ${EVS_IT_ALLOW_SKIP:-0} == 1 ]] && exit 77
    exit 1
  }

  IT_RUN_ID="$$.$(rand_hex 4)"
  TOPIC="evstore.it.${IT_NAME}.${IT_RUN_ID}"
  export EVSTORE_TOPIC=$TOPIC
  T="$(mktemp -d "${TMPDIR:-/tmp}/evstore-it.${IT_NAME}.XXXXXX")"
  : >"$T/pids"
  IT_PROJECTORS=()
  trap 'it_cleanup $?' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  start_watchdog
  log "topic $TOPIC, temp dir $T, brokers $BROKERS"
}

rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

uuid() { cat /proc/sys/kernel/random/uuid; }

# True if the first broker of $BROKERS accepts a TCP connection.
broker_reachable() {
  local first=${BROKERS%%,*}
  local host=${first%:*} port=${first##*:}
  timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}

# The watchdog kills every pid listed in $T/pids once the test's shell has gone, so that a
# test killed with SIGKILL (ctest timeout) leaves no projector or load generator behind.
start_watchdog() {
  local parent=$$ pids=$T/pids
  (
    trap '' INT TERM
    while kill -0 "$parent" 2>/dev/null; do sleep 1; done
    [[ -f "$pids" ]] && xargs -r kill -KILL <"$pids" 2>/dev/null
    exit 0
  ) </dev/null >/dev/null 2>&1 &
  IT_WATCHDOG=$!
  disown "$IT_WATCHDOG" # not a job: `wait` does not wait for it, no "Killed" notice
}

track_pid() { echo "$1" >>"$T/pids"; }

it_cleanup() {
  local rc=$1 name pid
  trap - EXIT INT TERM
  set +e
  kill -KILL "$IT_WATCHDOG" 2>/dev/null
  for name in "${IT_PROJECTORS[@]}"; do
    pid=$(proj_var "$name" PID)
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null
    fi
  done
  # Everything else this test started (load generators, ...).
  if [[ -f "$T/pids" ]]; then
    while read -r pid; do kill -TERM "$pid" 2>/dev/null; done <"$T/pids"
    sleep 0.5
    while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$T/pids"
  fi
  wait 2>/dev/null
  if [[ $rc -eq 0 && -s "$T/failed" ]]; then
    log "a check failed in a subshell: $(head -n 1 "$T/failed" | cut -c1-300)"
    rc=1
  fi
  if [[ $rc -eq 0 ]]; then
    if [[ -z "${EVS_IT_KEEP:-}" ]]; then
      "$TOPIC_TOOL" delete "$BROKERS" "$TOPIC" >/dev/null 2>&1 || true
      "$TOPIC_TOOL" delete "$BROKERS" "$TOPIC.members" >/dev/null 2>&1 || true
      "$TOPIC_TOOL" delete "$BROKERS" "$TOPIC.state" >/dev/null 2>&1 || true
      "$TOPIC_TOOL" delete "$BROKERS" "$TOPIC.accepted" >/dev/null 2>&1 || true
      "$TOPIC_TOOL" delete "$BROKERS" "$TOPIC.keys" >/dev/null 2>&1 || true
      rm -rf "$T"
    fi
    log "PASS ($IT_CHECKS checks)"
  else
    for name in "${IT_PROJECTORS[@]}"; do
      local lf
      lf=$(proj_var "$name" LOG)
      [[ -f "$lf" ]] || continue
      printf -- '--- last lines of projector %s log (%s) ---\n' "$name" "$lf" >&2
      tail -n 25 "$lf" >&2
    done
    log "FAILED (exit $rc); topic $TOPIC and temp dir $T kept for inspection"
  fi
  exit "$rc"
}

# ---- JSON ------------------------------------------------------------------------------

# The Python side of jget/jcheck. d = the text parsed as one JSON value (None if it is not
# one JSON value), L = its non-empty lines parsed as NDJSON (None if a line does not parse),
# E = the JSON in $IT_E (default {}). jget prints the value: strings raw, booleans
# true/false, None null, anything else as compact JSON. jcheck (IT_JMODE=check) exits 0 if the
# value is true, else 1 with the value (or the exception) on stderr.
IT_PY_JSON='
import json, os, sys, re, base64
expr = sys.argv[1]
text = sys.stdin.read()
try:
    d = json.loads(text)
except Exception:
    d = None
try:
    L = [json.loads(l) for l in text.splitlines() if l.strip()]
except Exception:
    L = None
E = json.loads(os.environ.get("IT_E") or "{}")
env = {"d": d, "L": L, "E": E, "json": json, "re": re, "base64": base64, "text": text}
check = os.environ.get("IT_JMODE") == "check"
try:
    v = eval(expr, env)
except Exception as e:
    print("%s raised %s: %s" % (expr, type(e).__name__, e), file=sys.stderr)
    sys.exit(1 if check else 3)
if check:
    if v:
        sys.exit(0)
    print("value: %r" % (v,), file=sys.stderr)
    sys.exit(1)
if isinstance(v, bool):
    print("true" if v else "false")
elif v is None:
    print("null")
elif isinstance(v, str):
    print(v)
else:
    print(json.dumps(v, sort_keys=True, separators=(",", ":")))
'

# jget EXPR [JSON]: prints the Python expression EXPR over the JSON text (argument or stdin).
# The text goes through stdin: an argument is limited to 128 KiB.
jget() {
  if (($# > 1)); then
    python3 -c "$IT_PY_JSON" "$1" <<<"$2"
  else
    python3 -c "$IT_PY_JSON" "$1"
  fi
}

# jcheck EXPR JSON MESSAGE: fails the test unless EXPR is true for the JSON text.
jcheck() {
  local expr=$1 json=$2 msg=$3 err
  if err=$(IT_JMODE=check python3 -c "$IT_PY_JSON" "$expr" 2>&1 <<<"$json"); then
    pass
    return 0
  fi
  fail "$msg [check: $expr -> $err] in: $(printf '%.1500s' "$json")"
}

# ---- assertions ------------------------------------------------------------------------

assert_eq() { # ACTUAL EXPECTED MESSAGE
  [[ "$1" == "$2" ]] || fail "$3: got '$1', expected '$2'"
  pass
}
assert_ne() { # ACTUAL UNEXPECTED MESSAGE
  [[ "$1" != "$2" ]] || fail "$3: got '$1'"
  pass
}
assert_match() { # TEXT REGEX(ERE) MESSAGE
  [[ "$1" =~ $2 ]] || fail "$3: '$(printf '%.800s' "$1")' does not match /$2/"
  pass
}
assert_imatch() { # TEXT REGEX(ERE, case-insensitive) MESSAGE
  grep -qiE -- "$2" <<<"$1" || fail "$3: '$(printf '%.800s' "$1")' does not match /$2/i"
  pass
}

# ---- projectors ------------------------------------------------------------------------
#
# A projector instance has a NAME (e.g. p1); its settings live in variables
# <NAME>_PID, _PORT, _URL, _DIR, _LOG, _PAUSE (NAME upper-cased). Every projector started
# here is a hot replica of the test's topic (its own data dir and port).

proj_var() { local v="${1^^}_$2"; printf '%s' "${!v:-}"; }
proj_set() { printf -v "${1^^}_$2" '%s' "$3"; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# IT_SCHEME (default http) and the array IT_CURL_OPTS (e.g. --cacert CA.pem) serve a test of
# projectors with HTTPS (integration.security).
# start_projector NAME [--fresh] [EXTRA ARGS...]: starts (or restarts) projector NAME on the
# test's topic and waits (bounded) until GET /health answers 200. The data dir is kept
# across restarts of the same NAME; --fresh is not needed for the first start. A restart
# reuses the previous port when it is still free. Sets ${NAME}_URL etc. While the file
# ${NAME}_PAUSE exists (pause_projector), the projector consumes nothing.
start_projector() {
  local name=$1
  shift
  local dir port logf attempt pid
  dir=$(proj_var "$name" DIR)
  if [[ -z "$dir" ]]; then
    dir=$T/$name.data
    proj_set "$name" DIR "$dir"
    proj_set "$name" PAUSE "$T/$name.pause"
    IT_PROJECTORS+=("$name")
  fi
  logf=$T/$name.log
  proj_set "$name" LOG "$logf"
  for attempt in 1 2 3; do
    port=$(proj_var "$name" PORT)
    if [[ -z "$port" || $attempt -gt 1 ]]; then port=$(free_port); fi
    proj_set "$name" PORT "$port"
    proj_set "$name" URL "${IT_SCHEME:-http}://127.0.0.1:$port"
    printf -- '==== start %s (attempt %s): %s\n' "$(date +%T.%N)" "$attempt" "$*" >>"$logf"
    EVSTORE_TEST_PAUSE_FILE=$(proj_var "$name" PAUSE) \
      "$PROJECTOR_BIN" --brokers "$BROKERS" --topic "$TOPIC" \
      --data-dir "$dir" --http "127.0.0.1:$port" --partitions 1 --replication-factor 1 \
      "$@" >>"$logf" 2>&1 </dev/null &
    pid=$!
    track_pid "$pid"
    proj_set "$name" PID "$pid"
    if wait_healthy "$name" 60; then
      log "projector $name up: pid $pid, $(proj_var "$name" URL), dir $dir"
      return 0
    fi
    if kill -0 "$pid" 2>/dev/null; then
      fail "projector $name (pid $pid) did not answer GET /health with 200 within 60 s"
    fi
    # It exited: a port taken between free_port and bind is worth another try.
    wait "$pid" 2>/dev/null || true
    grep -qiE 'address already in use|bind' "$logf" || break
  done
  fail "projector $name exited during start-up (log $logf)"
}

# wait_healthy NAME SECONDS: true once GET /health answers 200; false if the process died or
# the time ran out.
wait_healthy() {
  local name=$1 secs=$2 pid url code deadline
  pid=$(proj_var "$name" PID)
  url=$(proj_var "$name" URL)
  deadline=$((SECONDS + secs))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || return 1
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 ${IT_CURL_OPTS[@]+"${IT_CURL_OPTS[@]}"} \
      "$url/health" || true)
    [[ "$code" == 200 ]] && return 0
    sleep 0.2
  done
  return 1
}

# stop_projector NAME: SIGTERM, then asserts a clean exit 0 within 30 s.
stop_projector() {
  local name=$1 pid rc=0 i
  pid=$(proj_var "$name" PID)
  [[ -n "$pid" ]] || fail "projector $name was never started"
  kill -TERM "$pid" 2>/dev/null || fail "projector $name (pid $pid) was not running at stop"
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
    fail "projector $name did not exit within 30 s of SIGTERM"
  fi
  wait "$pid" || rc=$?
  proj_set "$name" PID ""
  assert_eq "$rc" 0 "projector $name exit status after SIGTERM"
  log "projector $name stopped cleanly"
}

# rss_kb NAME: projector NAME's resident memory (VmRSS) in KiB.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$(proj_var "$1" PID)/status"; }

# kill9_projector NAME: SIGKILL, no questions asked.
kill9_projector() {
  local name=$1 pid
  pid=$(proj_var "$name" PID)
  [[ -n "$pid" ]] || fail "projector $name was never started"
  kill -0 "$pid" 2>/dev/null || fail "projector $name (pid $pid) died before kill -9"
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  proj_set "$name" PID ""
  log "projector $name killed with SIGKILL"
}

# projector_hash NAME: prints the --hash line of NAME's (stopped) data dir.
projector_hash() {
  local name=$1 out rc=0
  out=$("$PROJECTOR_BIN" --data-dir "$(proj_var "$name" DIR)" --hash 2>"$T/hash.err") || rc=$?
  [[ $rc -eq 0 ]] || fail "evstore-projector --hash on $name's data dir exited $rc: $(cat "$T/hash.err")"
  jcheck 'isinstance(d, dict) and all(k in d for k in ("version_table","streams","events","streams_count","next_offsets"))' \
    "$out" "--hash prints one JSON object with version_table, streams, events, streams_count, next_offsets"
  printf '%s\n' "$out"
}

# http GET|POST... PATH [CURL ARGS...] against projector NAME (default p1): sets HTTP_CODE
# and HTTP_BODY.
http() {
  local method=$1 path=$2
  shift 2
  local url
  url=$(proj_var "${HTTP_PROJ:-p1}" URL)
  HTTP_CODE=$(curl -s -g -X "$method" -o "$T/http.body" -w '%{http_code}' --max-time 30 \
    ${IT_CURL_OPTS[@]+"${IT_CURL_OPTS[@]}"} "$@" "$url$path") || HTTP_CODE=000
  HTTP_BODY=$(cat "$T/http.body" 2>/dev/null || true)
}

# status_json [NAME]: the projector's GET /status body.
status_json() {
  HTTP_PROJ=${1:-p1} http GET /status
  [[ "$HTTP_CODE" == 200 ]] || fail "GET /status answered $HTTP_CODE: $HTTP_BODY"
  printf '%s\n' "$HTTP_BODY"
}

# topic_end_offsets: the topic's end offset per partition as JSON {"0":N,...}, asked of the
# broker directly (not of the projector).
topic_end_offsets() {
  "$TOPIC_TOOL" end-offsets "$BROKERS" "$TOPIC" ||
    fail "could not read the end offsets of $TOPIC from the broker"
}

# wait_caught_up [NAME] [SECONDS]: waits until projector NAME has applied everything the
# broker holds (next_offset >= the broker's end offset, lag 0) on every partition it serves.
wait_caught_up() {
  local name=${1:-p1} secs=${2:-60} deadline ends
  deadline=$((SECONDS + secs))
  ends=$(topic_end_offsets)
  while :; do
    HTTP_PROJ=$name http GET /status
    if [[ "$HTTP_CODE" == 200 ]] &&
      [[ "$(IT_E=$ends jget 'len(d["partitions"]) == len(E) and all(p["next_offset"] >= E[str(p["partition"])] and p["lag"] == 0 for p in d["partitions"] if p["assigned"])' "$HTTP_BODY" 2>/dev/null)" == true ]]; then
      return 0
    fi
    ((SECONDS < deadline)) ||
      fail "projector $name did not catch up with end offsets $ends within ${secs}s; last status $HTTP_CODE $HTTP_BODY"
    sleep 0.2
  done
}

# ---- the CLI ---------------------------------------------------------------------------

# evs ARGS...: runs the CLI against the test's topic and projector p1 (or $EVS_PROJ, or the
# comma-separated seed URLs $EVS_SEEDS when set), with
# --timeout-ms $EVS_TIMEOUT_MS (default 30000: a projector restarted after kill -9 replays
# what it had not written), bounded to 60 s in all. Sets RC, OUT, ERR; fails the test only if the CLI hangs.
evs() {
  local url
  url=${EVS_SEEDS:-$(proj_var "${EVS_PROJ:-p1}" URL)}
  RC=0
  timeout -k 5 60 "$CLI_BIN" --brokers "$BROKERS" --projector "$url" --topic "$TOPIC" \
    --timeout-ms "${EVS_TIMEOUT_MS:-30000}" "$@" \
    >"$T/cli.out" 2>"$T/cli.err" || RC=$?
  OUT=$(cat "$T/cli.out")
  ERR=$(cat "$T/cli.err")
  if [[ $RC -eq 124 || $RC -eq 137 ]]; then
    fail "evstore $* did not finish within 60 s (stderr: $ERR)"
  fi
}

# expect_rc CODE DESCRIPTION ARGS...: runs evs ARGS and asserts its exit status.
expect_rc() {
  local code=$1 desc=$2
  shift 2
  evs "$@"
  [[ "$RC" == "$code" ]] ||
    fail "$desc: evstore $(printf '%q ' "$@" | cut -c1-300) exited $RC, expected $code (stdout: $(printf '%.500s' "$OUT"); stderr: $(printf '%.500s' "$ERR"))"
  pass
}

# expect_ok DESCRIPTION ARGS...: expect_rc 0.
expect_ok() { local d=$1; shift; expect_rc 0 "$d" "$@"; }

# read_stream STREAM [ARGS...]: prints the NDJSON of `evstore read STREAM ARGS` (must exit 0).
read_stream() {
  expect_ok "read $1" read "$@"
  printf '%s\n' "$OUT"
}

# read_all_json: every event of $all (partition 0) as NDJSON.
read_all_json() {
  expect_ok "read-all" read-all --limit 10000
  printf '%s\n' "$OUT"
}

# record_offset APPEND_ID: the Kafka offset of an append's record, from its verdict.
record_offset() {
  http GET "/verdicts/$1?timeout_ms=10000"
  [[ "$HTTP_CODE" == 200 ]] || fail "GET /verdicts/$1 answered $HTTP_CODE: $HTTP_BODY"
  jget 'd["offset"]' "$HTTP_BODY"
}

# pause_projector NAME / resume_projector NAME: the projector stops consuming (it keeps
# serving what it has applied, and its verdict waits time out) until resumed: a replica
# that lags on purpose (EVSTORE_TEST_PAUSE_FILE, docs/TESTING.md).
# The projector looks for the file before each poll of at most 100 ms, so pause_projector
# returns after 0.5 s, when it has surely seen it.
pause_projector() { touch "$(proj_var "$1" PAUSE)"; sleep 0.5; }
resume_projector() { rm -f "$(proj_var "$1" PAUSE)"; }
