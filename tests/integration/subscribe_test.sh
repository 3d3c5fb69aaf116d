#!/usr/bin/env bash
# subscribe_test.sh - catch-up subscriptions under a steady append load (docs/HTTP-API.md,
# "Subscriptions"; evstore.h, "Subscriptions").
#
# Subscribers start from the beginning while the store is still empty: `evstore subscribe`
# on $all, a category, an event type and a stream, and evs_it_subscriber (subscriber.c,
# the C API with its contract checks) on $all and on a type. Then three writers append to
# streams of three categories with three event types: two evs_it_load processes (Order-*,
# Invoice-*, type Load) and a CLI loop (Ship-*, types Shipped and Billed). Midway the
# projector is restarted, so every subscriber loses its connection and must resume by
# itself; later a subscriber joins with --from now. When the load stops, the test asserts:
#   - each `evstore subscribe` printed exactly what `evstore read-all` / `read-category` /
#     `read-type` / `read` print afterwards, byte for byte: every accepted event once, in
#     order, across the switch from history to live events and across the restart;
#   - the --from now subscriber printed a contiguous tail of $all;
#   - the C subscribers saw no contract violation (gapless $all, caught-up exactly once,
#     position = last id) and exit cleanly on SIGTERM; the CLI ones exit 0 on SIGINT;
#   - a --no-follow subscription started at the end prints the same and exits 0.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init subscribe "$@"

LOAD_SECONDS=${EVS_IT_SUBSCRIBE_LOAD_S:-8}
SUBSCRIBER=$BIN_DIR/evs_it_subscriber
[[ -x "$SUBSCRIBER" ]] || fail "missing $SUBSCRIBER; build first"

start_projector p1

# cli_subscriber NAME ARGS...: `evstore subscribe ARGS` in the background into $T/NAME.out.
declare -A SUBS=()
cli_subscriber() {
  local name=$1
  shift
  "$CLI_BIN" --projector "$P1_URL" --topic "$TOPIC" subscribe "$@" \
    >"$T/$name.out" 2>"$T/$name.err" </dev/null &
  SUBS[$name]=$!
  track_pid "$!"
}
c_subscriber() {
  local name=$1
  shift
  EVSTORE_PROJECTOR=$P1_URL "$SUBSCRIBER" "$@" --out "$T/$name.txt" --timeout-s 300 \
    >"$T/$name.json" 2>"$T/$name.err" </dev/null &
  SUBS[$name]=$!
  track_pid "$!"
}

cli_subscriber all --all
cli_subscriber category --category Order
cli_subscriber type --type Shipped
cli_subscriber stream Order-1
c_subscriber c_all --all
c_subscriber c_type --type Load
sleep 1
for name in "${!SUBS[@]}"; do
  kill -0 "${SUBS[$name]}" 2>/dev/null || fail "subscriber $name exited early: $(cat "$T/$name.err")"
done
pass

LOADS=()
for prefix in Order Invoice; do
  EVSTORE_PROJECTOR=$P1_URL "$BIN_DIR/evs_it_load" --prefix "$prefix" --streams 3 --threads 2 \
    --stop-file "$T/stop" --out "$T/load.$prefix.txt" --any-every 3 --verdict-timeout-ms 3000 \
    >"$T/load.$prefix.json" 2>"$T/load.$prefix.err" </dev/null &
  LOADS+=($!)
  track_pid "$!"
done
(
  i=0
  while [[ ! -e "$T/stop" ]]; do
    type=Shipped
    ((i % 2)) && type=Billed
    "$CLI_BIN" --projector "$P1_URL" --topic "$TOPIC" --timeout-ms 20000 append "Ship-$((i % 3))" \
      --type "$type" --data "{\"i\":$i}" >/dev/null 2>>"$T/ship.err" || true
    i=$((i + 1))
  done
) </dev/null &
SHIP_LOOP=$!
track_pid "$SHIP_LOOP"

sleep "$((LOAD_SECONDS / 2))"
log "restarting the projector under load"
stop_projector p1
start_projector p1
[[ "$P1_URL" == "http://127.0.0.1:$(proj_var p1 PORT)" ]] || fail "p1 URL changed"
cli_subscriber from_now --all --from now
sleep "$((LOAD_SECONDS - LOAD_SECONDS / 2))"

touch "$T/stop"
for pid in "${LOADS[@]}" "$SHIP_LOOP"; do
  deadline=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && fail "writer $pid did not stop within 60 s"
  rc=0
  wait "$pid" || rc=$?
  assert_eq "$rc" 0 "exit status of writer $pid"
done
log "load stopped: $(cat "$T"/load.*.json | tr '\n' ' ')"
wait_caught_up p1 60

# The reference: what the reads print once everything is applied.
evs read-all
assert_eq "$RC" 0 "read-all: $ERR"
printf '%s\n' "$OUT" >"$T/all.expected"
TOTAL=$(wc -l <"$T/all.expected")
((TOTAL > 100)) || fail "the load accepted only $TOTAL events"
evs read-category Order
printf '%s\n' "$OUT" >"$T/category.expected"
evs read-type Shipped
printf '%s\n' "$OUT" >"$T/type.expected"
evs read Order-1
printf '%s\n' "$OUT" >"$T/stream.expected"
evs read-type Load
printf '%s\n' "$OUT" >"$T/load_type.expected"
log "$TOTAL events in \$all; $(wc -l <"$T/category.expected") in category Order," \
  "$(wc -l <"$T/type.expected") of type Shipped, $(wc -l <"$T/stream.expected") in Order-1"
for f in category type stream load_type; do
  (($(wc -l <"$T/$f.expected") > 5)) || fail "too few events in $f.expected for a meaningful test"
done

# wait_lines FILE N: until FILE has N lines (30 s).
wait_lines() {
  local file=$1 want=$2 deadline=$((SECONDS + 30))
  while (($(wc -l <"$file") < want)) && ((SECONDS < deadline)); do sleep 0.2; done
}

for name in all category type stream; do
  wait_lines "$T/$name.out" "$(wc -l <"$T/$name.expected")"
  kill -0 "${SUBS[$name]}" 2>/dev/null ||
    fail "subscribe $name is no longer running: $(cat "$T/$name.err")"
  if ! cmp -s "$T/$name.out" "$T/$name.expected"; then
    diff "$T/$name.expected" "$T/$name.out" | head -n 8 >&2
    fail "evstore subscribe ($name) printed $(wc -l <"$T/$name.out") lines that differ from" \
      "the $(wc -l <"$T/$name.expected") lines of the read (diff above)"
  fi
  pass
done

# The --from now subscriber joined midway: a contiguous tail of $all.
FROM_NOW_LINES=$(wc -l <"$T/from_now.out")
((FROM_NOW_LINES > 0)) || fail "the --from now subscriber received nothing: $(cat "$T/from_now.err")"
tail -n "$FROM_NOW_LINES" "$T/all.expected" | cmp -s - "$T/from_now.out" ||
  fail "the --from now subscriber's $FROM_NOW_LINES lines are not the tail of \$all"
pass

# SIGINT ends `evstore subscribe` with exit 0.
for name in all category type stream from_now; do
  kill -INT "${SUBS[$name]}"
  rc=0
  wait "${SUBS[$name]}" || rc=$?
  assert_eq "$rc" 0 "exit status of evstore subscribe ($name) after SIGINT (stderr: $(cat "$T/$name.err"))"
done

# The C subscribers: same events, no contract violation, caught up exactly once.
wait_lines "$T/c_all.txt" "$TOTAL"
wait_lines "$T/c_type.txt" "$(wc -l <"$T/load_type.expected")"
for name in c_all c_type; do
  kill -TERM "${SUBS[$name]}"
  rc=0
  wait "${SUBS[$name]}" || rc=$?
  assert_eq "$rc" 0 "exit status of evs_it_subscriber $name (stderr: $(cat "$T/$name.err"))"
  jcheck 'd["violations"] == 0 and d["caught_up"] == 1' "$(cat "$T/$name.json")" \
    "evs_it_subscriber $name kept the contract"
done
expected_ids() { jget '"\n".join("%d %s" % (e["position"], e["event_id"]) for e in L)' <"$1"; }
got_ids() { awk '{print $1, $4}' "$1"; }
assert_eq "$(got_ids "$T/c_all.txt")" "$(expected_ids "$T/all.expected")" \
  "the C API subscriber's \$all (position, event id) list"
assert_eq "$(got_ids "$T/c_type.txt")" "$(expected_ids "$T/load_type.expected")" \
  "the C API subscriber's type Load (position, event id) list"

# A --no-follow subscription at the end: the same, then exit 0.
expect_ok "subscribe --all --no-follow" subscribe --all --no-follow
assert_eq "$OUT" "$(cat "$T/all.expected")" "subscribe --all --no-follow output"
expect_ok "subscribe --category Order --no-follow" subscribe --category Order --no-follow
assert_eq "$OUT" "$(cat "$T/category.expected")" "subscribe --category --no-follow output"
