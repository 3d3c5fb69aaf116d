# shellcheck shell=bash
# shellcheck disable=SC2034  # FO_* results (FO_VERIFIED, FO_HASH, ...) are for the caller
# tests/failover/failover_lib.sh - shared helpers of the failover tests.
#
# Builds on tests/integration/lib.sh (own topic, temp dir, projectors on free ports, traps
# that stop everything a test started, assertions) and adds:
#   - fo_init NAME [--cluster] [BIN_DIR]: it_init, against the three-node cluster of
#     deploy/cluster.sh with --cluster (started when it is not running; left running);
#   - a summary line at exit, whatever the outcome:
#       [NAME] SUMMARY: <checks passed> passed, <checks failed> failed; <facts>
#     where facts are what fo_fact recorded (appends checked, faults injected, timings);
#   - the C load generator evs_it_load (fo_start_load / fo_stop_load / fo_wait_progress);
#   - a CLI writer (fo_cli_writer) that logs every attempt, settles every exit 5 by its
#     append id and checks the answers against the contract (fo_start_cli_writers,
#     fo_stop_cli_writers, fo_settle_late);
#   - checks of a projector: fo_verify (verify_store.py --exact), fo_hash_equal_rebuild,
#     fo_check_subscription (SSE history == read-all), fo_probe_end_offsets, fo_wait_applied;
#   - timed projector restarts (fo_restart_timed) and fo_stats (median, max).
#
# A test that needs the cluster: fo_init NAME --cluster "$@"; CLUSTER_SH is
# deploy/cluster.sh, CLUSTER_BROKERS its bootstrap list.

FO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FO_REPO="$(cd "$FO_DIR/../.." && pwd)"
CLUSTER_SH=$FO_REPO/deploy/cluster.sh
CLUSTER_BROKERS=127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092
# shellcheck source=tests/integration/lib.sh
source "$FO_DIR/../integration/lib.sh"

FO_FACTS=()
FO_SOFT_DONE_FAILED=0

# fo_fact TEXT: one fact for the summary line (appends checked, faults, timings).
fo_fact() { FO_FACTS+=("$*"); }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# soft_done, noting that its failure is the sum of the soft failures already counted.
soft_done() {
  if [[ $IT_SOFT_FAILS -ne 0 ]]; then
    FO_SOFT_DONE_FAILED=1
    fail "$IT_SOFT_FAILS checks failed (each reported above)"
  fi
}

fo_exit() {
  local rc=$1 failed=$IT_SOFT_FAILS facts=""
  [[ $rc -eq 0 && -s "$T/failed" ]] && rc=1 # a check failed in a subshell (lib.sh, fail)
  if [[ $rc -ne 0 && $FO_SOFT_DONE_FAILED -eq 0 && $rc -ne 77 ]]; then
    failed=$((failed + 1))
  fi
  if ((${#FO_FACTS[@]})); then
    facts="; $(printf '%s; ' "${FO_FACTS[@]}")"
    facts=${facts%; }
  fi
  printf '[%s] SUMMARY: %d passed, %d failed%s\n' "$IT_NAME" "$IT_CHECKS" "$failed" "$facts" >&2
  it_cleanup "$rc"
}

# fo_init NAME [--cluster] [BIN_DIR]
fo_init() {
  local name=$1
  shift
  if [[ "${1:-}" == --cluster ]]; then
    shift
    if ! bash "$CLUSTER_SH" status >/dev/null 2>&1; then
      echo "[$name] starting the three-node cluster (deploy/cluster.sh start)" >&2
      bash "$CLUSTER_SH" start >&2 || { echo "[$name] the cluster did not start" >&2; exit 1; }
    fi
    export EVSTORE_BROKERS=$CLUSTER_BROKERS
  fi
  it_init "$name" "$@"
  FO_KAFKA=$BIN_DIR/evs_fo_kafka
  LOAD_BIN=$BIN_DIR/evs_it_load
  local b
  for b in "$FO_KAFKA" "$LOAD_BIN"; do
    [[ -x "$b" ]] || fail "missing program $b; build first (make build)"
  done
  trap 'fo_exit $?' EXIT
}

# ---- the C load generator -----------------------------------------------------------------

LOADS=()
FO_LOAD_FILES=()

# fo_start_load PROCS THREADS PREFIX STREAMS URL [EXTRA ARGS]: evs_it_load processes appending
# to PREFIX-0..PREFIX-(STREAMS-1) (exact expected versions, `any` every 4th) through the
# projector at URL. Each records its accepted events in $T/load.<prefix>.<i>.txt.
fo_start_load() {
  local procs=$1 threads=$2 prefix=$3 streams=$4 url=$5 i base
  shift 5
  for ((i = 1; i <= procs; i++)); do
    base=$T/load.$prefix.$i
    EVSTORE_PROJECTOR=$url "$LOAD_BIN" --prefix "$prefix" --streams "$streams" \
      --threads "$threads" --stop-file "$T/stop.$prefix" --out "$base.txt" --any-every 4 \
      --verdict-timeout-ms 3000 "$@" >"$base.json" 2>"$base.err" </dev/null &
    LOADS+=("$!:$base")
    FO_LOAD_FILES+=("$base.txt")
    track_pid "$!"
  done
  log "load: $procs x evs_it_load x $threads threads on $prefix-0..$((streams - 1))"
}

# records_count: events the writers (load generators and CLI writers) have seen accepted.
records_count() { { cat "$T"/load.*.txt "$T"/cli.*.txt 2>/dev/null || true; } | wc -l; }

# fo_wait_progress N SECONDS: waits until more than N events are recorded, failing if a
# load generator died or nothing moved in time.
fo_wait_progress() {
  local base=$1 secs=$2 deadline=$((SECONDS + $2)) l
  while (($(records_count) <= base)); do
    for l in "${LOADS[@]}"; do
      kill -0 "${l%%:*}" 2>/dev/null ||
        fail "load generator ${l%%:*} died (stderr: $(cat "${l#*:}.err"))"
    done
    ((SECONDS < deadline)) || fail "the writers made no progress within ${secs}s (still $base events)"
    sleep 0.1
  done
  pass
}

FO_LOAD_APPENDS=0
FO_LOAD_UNKNOWN=0
FO_LOAD_UNAVAILABLE=0
FO_LOAD_LOOKUPS=0

# fo_stop_load PREFIX: stops the load generators of PREFIX and asserts each one settled
# every append with no contract violation; adds their counts to FO_LOAD_*.
fo_stop_load() {
  local prefix=$1 l pid base rc summary deadline keep=()
  touch "$T/stop.$prefix"
  for l in "${LOADS[@]}"; do
    pid=${l%%:*}
    base=${l#*:}
    if [[ "$base" != "$T/load.$prefix."* ]]; then
      keep+=("$l")
      continue
    fi
    deadline=$((SECONDS + 240))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && fail "load generator $pid did not stop within 240 s"
    rc=0
    wait "$pid" || rc=$?
    summary=$(cat "$base.json")
    log "load ${base##*/}: exit $rc $summary"
    [[ -s "$base.err" ]] && sed 's/^/    /' "$base.err" | head -20 >&2
    assert_eq "$rc" 0 "load generator ${base##*/} exit status (violations or unsettled appends)"
    jcheck 'd["violations"] == 0 and d["unsettled"] == 0 and d["appends"] > 0' "$summary" \
      "load generator ${base##*/} settled every append with no contract violation"
    jcheck 'd["other_codes"] == 0' "$summary" \
      "load generator ${base##*/}: every failed append answered unknown outcome or unavailable"
    FO_LOAD_APPENDS=$((FO_LOAD_APPENDS + $(jget 'd["appends"]' "$summary")))
    FO_LOAD_UNKNOWN=$((FO_LOAD_UNKNOWN + $(jget 'd["unknown_outcome"]' "$summary")))
    FO_LOAD_UNAVAILABLE=$((FO_LOAD_UNAVAILABLE + $(jget 'd["unavailable"]' "$summary")))
    FO_LOAD_LOOKUPS=$((FO_LOAD_LOOKUPS + $(jget 'd["lookups"]' "$summary")))
  done
  LOADS=("${keep[@]}")
}

# ---- the CLI writer -------------------------------------------------------------------------

# fo_cli_writer ID STREAM URL_FILE TIMEOUT_MS: appends one event at a time to STREAM with
# the CLI until $T/stop.cli exists; the projector URL is read from URL_FILE before every
# call (a test can point the writers at another projector). Each append has its own event
# id and append id; the expectation is the exact version every time but every third (`any`).
# Files ($T/cli.ID.*):
#   .txt       accepted events: "stream version event_id append_id" (verify_store.py format)
#   .attempts  every call: "append_id event_id exit_code ms", "append_id verdict exit_code ms"
#   .unknown   every exit 5: "append_id event_id unknown|unavailable", then how it settled:
#              "append_id accepted VERSION" | "append_id absent" |
#              "append_id unsettled STREAM EVENT_ID" (not settled within EVS_FO_SETTLE_S,
#              default 90 s: the writer moves on to a new event; fo_settle_late decides it)
#   .viol      contract violations, one per line
#   .json      the summary at exit
# It is run in the background (&) by the test; it never fails the test itself.
fo_cli_writer() {
  local id=$1 stream=$2 url_file=$3 tmo=$4
  local base=$T/cli.$id known=0 n=0 appends=0 unknown=0 unavailable=0 absent=0 settled=0
  local unsettled=0 viol=0 eid aid expected maybe rc out err v kind deadline src ms
  : >"$base.txt"
  : >"$base.attempts"
  : >"$base.unknown"
  : >"$base.viol"
  violation() { echo "$*" >>"$base.viol"; viol=$((viol + 1)); }
  cli() { # TIMEOUT_MS ARGS...: runs the CLI, sets rc, out, err, ms (its duration)
    local t0
    t0=$(now_ms)
    rc=0
    timeout -k 5 120 "$CLI_BIN" --brokers "$BROKERS" --projector "$(cat "$url_file")" \
      --topic "$TOPIC" --timeout-ms "$@" >"$base.out" 2>"$base.err" || rc=$?
    ms=$(($(now_ms) - t0))
    out=$(cat "$base.out")
    err=$(cat "$base.err")
  }
  while [[ ! -e "$T/stop.cli" ]]; do
    n=$((n + 1))
    eid=$(uuid)
    maybe=0
    while :; do
      aid=$(uuid)
      if ((n % 3 == 0)); then expected=any; else expected=$known; fi
      cli "$tmo" append "$stream" --type CliWrite --data "{\"writer\":$id,\"n\":$n}" \
        --event-id "$eid" --append-id "$aid" --expected "$expected"
      echo "$aid $eid $rc $ms" >>"$base.attempts"
      if [[ $rc -eq 5 ]]; then
        [[ "$err" == *"$aid"* ]] || violation "exit 5 without the append id $aid: $err"
        if [[ "$err" == *"nothing was written"* ]]; then kind=unavailable; else kind=unknown; fi
        [[ $kind == unknown ]] && unknown=$((unknown + 1)) || unavailable=$((unavailable + 1))
        echo "$aid $eid $kind" >>"$base.unknown"
        # Settle it by its append id: ask until the answer is definite.
        deadline=$((SECONDS + ${EVS_FO_SETTLE_S:-90}))
        while :; do
          cli 10000 verdict "$aid"
          echo "$aid verdict $rc $ms" >>"$base.attempts"
          [[ $rc -eq 5 ]] || break # 5: projector unreachable or not caught up yet
          if ((SECONDS >= deadline)); then rc=-1; break; fi
          sleep 0.5
        done
        if [[ $rc -eq 6 ]]; then
          echo "$aid absent" >>"$base.unknown"
          absent=$((absent + 1))
          maybe=1
          continue # never applied: the same event id again, with a new append id
        elif [[ $rc -eq 0 ]]; then
          [[ $kind == unavailable ]] &&
            violation "append $aid was reported as 'nothing was written' but its verdict is: $out"
          settled=$((settled + 1))
          src=verdict
        elif [[ $rc -eq 3 ]]; then
          violation "append $aid (only writer of $stream, expected $expected) settled as wrong version: $out $err"
          known=$({ "$CLI_BIN" --brokers "$BROKERS" --projector "$(cat "$url_file")" \
            --topic "$TOPIC" read "$stream" --backwards --limit 1 2>/dev/null || true; } |
            sed -n 's/.*"version":\([0-9]*\).*/\1/p')
          known=${known:-0}
          break
        elif [[ $rc -eq -1 ]]; then
          # Given up: the test settles it later (fo_settle_late); this event id is never
          # sent again, so it is stored once or not at all.
          echo "$aid unsettled $stream $eid" >>"$base.unknown"
          unsettled=$((unsettled + 1))
          break
        else
          violation "evstore verdict $aid exited $rc: $err"
          echo "$aid unsettled $stream $eid" >>"$base.unknown"
          unsettled=$((unsettled + 1))
          break
        fi
      else
        src=append
      fi
      if [[ $rc -eq 0 ]]; then
        if [[ "$out" =~ \"first_version\":([0-9]+) ]]; then v=${BASH_REMATCH[1]}; else v=""; fi
        if [[ -z "$v" ]]; then
          violation "exit 0 without a first_version: $out"
          break
        fi
        if [[ "$out" == *'"duplicate":true'* || "$out" == *'"status":"duplicate"'* ]]; then
          ((maybe)) || violation "duplicate answer for event $eid that no earlier attempt could have stored: $out"
        elif [[ $expected != any && $v -ne $((expected + 1)) ]]; then
          violation "expected $expected, accepted at $v ($src): $out"
        fi
        [[ $src == verdict ]] && echo "$aid accepted $v" >>"$base.unknown"
        echo "$stream $v $eid $aid" >>"$base.txt"
        known=$v
        appends=$((appends + 1))
        break
      fi
      if [[ $rc -eq 3 ]]; then
        violation "append $aid to $stream (its only writer, expected $expected) answered wrong version: $err"
        known=$(sed -n 's/.*stream is at \([0-9]*\).*/\1/p' <<<"$err" | head -1)
        known=${known:-0}
        break
      fi
      violation "append $aid answered exit $rc: $err"
      sleep 0.5
      break
    done
  done
  printf '{"appends":%d,"unknown_outcome":%d,"unavailable":%d,"settled_accepted":%d,"settled_absent":%d,"unsettled":%d,"violations":%d}\n' \
    "$appends" "$unknown" "$unavailable" "$settled" "$absent" "$unsettled" "$viol" >"$base.json"
}

CLI_WRITERS=()
FO_CLI_APPENDS=0
FO_CLI_UNKNOWN=0
FO_CLI_UNAVAILABLE=0
FO_CLI_ABSENT=0

# fo_start_cli_writers N PREFIX URL_FILE TIMEOUT_MS: N CLI writers on PREFIX-0..PREFIX-(N-1).
fo_start_cli_writers() {
  local n=$1 prefix=$2 url_file=$3 tmo=$4 i
  rm -f "$T/stop.cli"
  for ((i = 0; i < n; i++)); do
    fo_cli_writer "$i" "$prefix-$i" "$url_file" "$tmo" </dev/null >/dev/null 2>&1 &
    CLI_WRITERS+=("$!")
    track_pid "$!"
  done
  log "CLI writers: $n on $prefix-0..$((n - 1)), --timeout-ms $tmo"
}

# fo_stop_cli_writers: stops them, then checks every one's record:
#   - no contract violation (see fo_cli_writer);
#   - every exit 5 named its append id and was settled by `evstore verdict ID` while the
#     writers ran (a soft failure per writer whose appends could not all be settled:
#     fo_settle_late decides those afterwards); accepted ones are in the .txt records
#     (fo_verify checks them), absent ones are checked by fo_settle_late.
fo_stop_cli_writers() {
  local pid i s aid rest deadline n
  touch "$T/stop.cli"
  for pid in "${CLI_WRITERS[@]}"; do
    deadline=$((SECONDS + 400))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && fail "CLI writer $pid did not stop within 400 s"
    wait "$pid" 2>/dev/null || true
  done
  CLI_WRITERS=()
  FO_CLI_UNSETTLED=0
  for s in "$T"/cli.*.json; do
    i=${s%.json}
    log "CLI writer ${i##*/}: $(cat "$s")"
    if [[ -s "$i.viol" ]]; then
      sed 's/^/    VIOLATION: /' "$i.viol" | head -20 >&2
    fi
    jcheck 'd["violations"] == 0 and d["appends"] > 0' "$(cat "$s")" \
      "CLI writer ${i##*/} saw no contract violation"
    n=$(jget 'd["unsettled"]' "$(cat "$s")")
    FO_CLI_UNSETTLED=$((FO_CLI_UNSETTLED + n))
    if ((n > 0)); then
      soft fail "CLI writer ${i##*/}: $n appends answered exit 5 and \`evstore verdict ID\` did not settle them within ${EVS_FO_SETTLE_S:-90} s: $(grep -h ' unsettled' "$i.unknown" | cut -d' ' -f1 | tr '\n' ' ')"
    fi
    FO_CLI_APPENDS=$((FO_CLI_APPENDS + $(jget 'd["appends"]' "$(cat "$s")")))
    FO_CLI_UNKNOWN=$((FO_CLI_UNKNOWN + $(jget 'd["unknown_outcome"]' "$(cat "$s")")))
    FO_CLI_UNAVAILABLE=$((FO_CLI_UNAVAILABLE + $(jget 'd["unavailable"]' "$(cat "$s")")))
    FO_CLI_ABSENT=$((FO_CLI_ABSENT + $(grep -c ' absent$' "$i.unknown" || true)))
  done
}

# fo_settle_late NAME: through projector NAME, after the CLI writers stopped:
#   - an append settled as never applied is still unknown now (its record did not reach
#     the log later);
#   - the appends the writers gave up on are settled: accepted -> added to the records
#     ($T/cli.late.txt) that fo_verify checks; not found -> its event id must not be stored
#     (fo_verify --exact checks that).
fo_settle_late() {
  local name=$1 aid word stream eid v
  : >"$T/cli.late.txt"
  while read -r aid word stream eid; do
    if [[ "$word" == absent ]]; then
      EVS_PROJ=$name EVS_TIMEOUT_MS=10000 evs verdict "$aid"
      assert_eq "$RC" 6 "append $aid, settled as never applied, is still unknown to the projector (stdout $OUT $ERR)"
      continue
    fi
    [[ "$word" == unsettled ]] || continue
    EVS_PROJ=$name EVS_TIMEOUT_MS=20000 evs verdict "$aid"
    case $RC in
      0)
        v=$(jget 'd["first_version"]' "$OUT")
        echo "$stream $v $eid $aid" >>"$T/cli.late.txt"
        log "late settle: $aid accepted at $stream version $v"
        ;;
      6) log "late settle: $aid was never applied" ;;
      *) fail "late settle: evstore verdict $aid exited $RC even now: $ERR" ;;
    esac
    pass
  done < <(cat "$T"/cli.*.unknown 2>/dev/null)
}

# fo_probe_end_offsets NAME WHEN: soft checks that projector NAME can still read the
# topic's end offsets: GET /status gives a numeric lag, and GET /verdicts/{new id} without
# an offset answers 404 (both within 10 s).
fo_probe_end_offsets() {
  local name=$1 when=$2 url code body
  url=$(proj_var "$name" URL)
  body=$(curl -s --max-time 10 "$url/status" || true)
  soft jcheck 'isinstance(d, dict) and all(isinstance(p.get("lag"), int) for p in d["partitions"])' \
    "${body:-no answer within 10 s}" "$when: GET /status on $name reports the lag (reads the end offsets)"
  code=$(curl -s -o "$T/probe.body" -w '%{http_code}' --max-time 10 \
    "$url/verdicts/$(uuid)?timeout_ms=3000" || true)
  soft assert_eq "$code" 404 "$when: GET /verdicts/{unknown id}?timeout_ms=3000 (no offset) on $name within 10 s ($(cat "$T/probe.body" 2>/dev/null))"
}

# fo_wait_applied NAME [SECONDS]: waits until projector NAME has applied everything the
# brokers hold (next_offset >= end offset, asked of the brokers; the projector's own lag
# is not needed).
fo_wait_applied() {
  local name=${1:-p1} secs=${2:-120} deadline ends
  deadline=$((SECONDS + secs))
  ends=$(topic_end_offsets)
  while :; do
    HTTP_PROJ=$name http GET /status
    if [[ "$HTTP_CODE" == 200 ]] &&
      [[ "$(IT_E=$ends jget 'len(d["partitions"]) == len(E) and all(p["next_offset"] >= E[str(p["partition"])] for p in d["partitions"])' "$HTTP_BODY" 2>/dev/null)" == true ]]; then
      pass
      return 0
    fi
    ((SECONDS < deadline)) ||
      fail "projector $name did not apply up to the end offsets $ends within ${secs}s; last status $HTTP_CODE $HTTP_BODY"
    sleep 0.3
  done
}

# ---- checks of a projector's state ------------------------------------------------------

# fo_verify NAME PREFIX STREAMS FILES...: verify_store.py --exact on projector NAME.
fo_verify() {
  local name=$1 prefix=$2 streams=$3 v
  shift 3
  v=$(python3 "$IT_SRC_DIR/verify_store.py" --url "$(proj_var "$name" URL)" --prefix "$prefix" \
    --streams "$streams" --exact "$@") || fail "verify_store.py ($prefix) on projector $name: $v"
  log "verify $name $prefix: $v"
  jcheck 'd["failures"] == 0 and d["stored"] == d["recorded"]' "$v" \
    "projector $name stores exactly the accepted $prefix events, once each, gapless"
  FO_VERIFIED=$(jget 'd["recorded"]' "$v")
}

# fo_hash_equal_rebuild NAME OTHER: stops NAME, starts OTHER on a fresh data dir with its
# own group and --rebuild, waits until it caught up (FO_REBUILD_MS: start -> caught up),
# stops it; the two --hash digests must be equal (FO_HASH: the digest).
fo_hash_equal_rebuild() {
  local name=$1 other=$2 h1 h2
  stop_projector "$name"
  h1=$(projector_hash "$name")
  local t0
  t0=$(now_ms)
  start_projector "$other" --rebuild
  wait_caught_up "$other" 180
  FO_REBUILD_MS=$(($(now_ms) - t0))
  stop_projector "$other"
  h2=$(projector_hash "$other")
  log "hash $name: $h1"
  log "hash $other (fresh dir, --rebuild): $h2"
  IT_E=$h1 jcheck 'd == E' "$h2" "a rebuild from offset 0 reaches the same --hash as projector $name"
  FO_HASH=$h1
}

# fo_check_subscription NAME: the SSE history of $all (follow=false) equals GET /all.
fo_check_subscription() {
  local name=$1 url r
  url=$(proj_var "$name" URL)
  curl -sN --max-time 300 "$url/subscriptions/all?partition=0&follow=false&encoding=base64" \
    >"$T/sse.txt" || fail "GET /subscriptions/all?follow=false failed (curl exit $?)"
  r=$(python3 - "$url" "$T/sse.txt" <<'PY'
import json, sys, urllib.request
url, path = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8").read()
events, caught, problems = [], None, []
for block in text.split("\n\n"):
    fields = {}
    for line in block.split("\n"):
        if not line or line.startswith(":"):
            continue
        k, _, v = line.partition(":")
        fields.setdefault(k, []).append(v[1:] if v.startswith(" ") else v)
    if not fields:
        continue
    kind = fields.get("event", ["message"])[0]
    data = json.loads("\n".join(fields.get("data", [])))
    if kind == "event":
        if int(fields["id"][0]) != data["position"]:
            problems.append("SSE id %s is not the position %s" % (fields["id"][0], data["position"]))
        events.append(data)
    elif kind == "caught-up":
        caught = data
all_events, frm = [], 1
while True:
    with urllib.request.urlopen("%s/all?partition=0&from=%d&limit=10000&encoding=base64" % (url, frm), timeout=60) as r:
        body = json.loads(r.read())
    all_events += body["events"]
    if body.get("end") or not body["events"]:
        break
    frm = body["next"]
key = lambda e: (e["position"], e["event_id"], e["stream"], e["version"], e["type"], e["data"], e.get("metadata"))
if caught is None:
    problems.append("no caught-up event at the end of the history")
elif caught.get("next") != len(events) + 1:
    problems.append("caught-up next %s after %d events" % (caught.get("next"), len(events)))
if [key(e) for e in events] != [key(e) for e in all_events]:
    first = next((i for i, (a, b) in enumerate(zip(events, all_events)) if key(a) != key(b)), min(len(events), len(all_events)))
    problems.append("subscription (%d events) and read-all (%d) differ from index %d" % (len(events), len(all_events), first))
print(json.dumps({"subscription": len(events), "read_all": len(all_events), "problems": problems}))
PY
  ) || fail "comparing the subscription with read-all failed: $r"
  log "subscription vs read-all: $r"
  jcheck 'not d["problems"] and d["subscription"] == d["read_all"] and d["read_all"] > 0' "$r" \
    "the subscription's history of \$all equals read-all, event for event"
}

# ---- timed restarts -----------------------------------------------------------------------

# fo_restart_timed NAME [ARGS]: restarts projector NAME (stopped or killed) on its port and
# data dir and measures the recovery: FO_T_HEALTH_MS (start -> GET /health 200) and
# FO_T_CAUGHT_MS (start -> applied everything the topic held at the start, lag 0).
fo_restart_timed() {
  local name=$1 dir port url logf pid t0 code ends
  shift
  dir=$(proj_var "$name" DIR)
  port=$(proj_var "$name" PORT)
  url=$(proj_var "$name" URL)
  logf=$(proj_var "$name" LOG)
  ends=$(topic_end_offsets)
  printf -- '==== timed start %s: %s\n' "$(date +%T.%N)" "$*" >>"$logf"
  t0=$(now_ms)
  "$PROJECTOR_BIN" --brokers "$BROKERS" --topic "$TOPIC" --data-dir "$dir" \
    --http "127.0.0.1:$port" --partitions 1 --replication-factor 1 "$@" >>"$logf" 2>&1 </dev/null &
  pid=$!
  track_pid "$pid"
  proj_set "$name" PID "$pid"
  while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url/health" || true)
    [[ "$code" == 200 ]] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      log "timed restart of $name: the projector exited (port $port taken?); plain restart"
      start_projector "$name" "$@"
      FO_T_HEALTH_MS=-1
      FO_T_CAUGHT_MS=-1
      return 0
    fi
    (($(now_ms) - t0 < 60000)) || fail "projector $name did not answer /health 200 within 60 s"
    sleep 0.02
  done
  FO_T_HEALTH_MS=$(($(now_ms) - t0))
  while :; do
    HTTP_PROJ=$name http GET /status
    if [[ "$HTTP_CODE" == 200 ]] &&
      [[ "$(IT_E=$ends jget 'all(p["next_offset"] >= E[str(p["partition"])] for p in d["partitions"])' "$HTTP_BODY" 2>/dev/null)" == true ]]; then
      break
    fi
    (($(now_ms) - t0 < 120000)) || fail "projector $name did not catch up with $ends within 120 s: $HTTP_BODY"
    sleep 0.02
  done
  FO_T_CAUGHT_MS=$(($(now_ms) - t0))
}

# fo_stats LIST...: "median M ms, max X ms (n N)" of whole numbers.
fo_stats() {
  python3 -c 'import statistics, sys
v = [int(x) for x in sys.argv[1:] if int(x) >= 0]
print("median %d ms, max %d ms (n %d)" % (statistics.median(v), max(v), len(v)) if v else "no samples")' "$@"
}
