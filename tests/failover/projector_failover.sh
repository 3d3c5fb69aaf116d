#!/usr/bin/env bash
# projector_failover.sh - two hot replicas of one topic; kill -9 the one the clients use,
# and the other answers at once, with nothing to replay (single local broker).
#
# p1 and p2 consume the topic by assignment (own --data-dir, own --http); GET /status says
# both serve partition 0. Writers: 2 evs_it_load x 2 threads append through p1 for a while
# (then stop, all settled); 2 CLI writers append all along, reading the projector URL from
# a file before each call. p1's verdicts of every append id so far are recorded. Then p1 is
# killed with SIGKILL and the URL file is pointed at p2. Asserts:
#   - p2 had applied the topic while p1 lived (it serves partition 0 and its lag is small
#     at the kill; it never restarts its consumer): it catches up with the topic's end at
#     once - the time is measured;
#   - the CLI writers go on: appends accepted through p2; every exit 5 gave its append id
#     and was settled;
#   - p2 answers the same verdict (status, stream, versions, positions, offset) for every
#     append id p1 had judged;
#   - verify_store.py --exact on p2: no accepted append lost, none twice;
#   - p1, restarted on its store, catches up; the two stores and a fresh --rebuild have the
#     same --hash.
# shellcheck source=tests/failover/failover_lib.sh
source "$(dirname "$0")/failover_lib.sh"
fo_init projector_failover "$@"

start_projector p1
start_projector p2
for n in p1 p2; do
  HTTP_PROJ=$n http GET /status
  jcheck 'd["partitions"][0]["assigned"] is True' "$HTTP_BODY" "$n serves partition 0"
done
OWNER=p1 STANDBY=p2
OWNER_URL=$P1_URL

echo "$OWNER_URL" >"$T/url"
fo_start_cli_writers 2 Cli "$T/url" 4000
fo_start_load 2 2 Load 6 "$OWNER_URL"
fo_wait_progress 0 60
sleep 6
fo_stop_load Load
fo_wait_progress "$(records_count)" 60

# The owner's verdicts of every append id so far (accepted, rejected, in any writer's log).
verdicts() { # URL OUT_FILE: verdicts of every append id in the writers' files
  python3 - "$1" "$2" "$T" <<'PY'
import glob, json, sys, urllib.error, urllib.request
url, out, t = sys.argv[1], sys.argv[2], sys.argv[3]
ids = set()
for f in glob.glob(t + "/load.*.txt") + glob.glob(t + "/cli.*.txt"):
    ids.update(line.split()[3] for line in open(f) if line.strip())
for f in glob.glob(t + "/cli.*.attempts"):
    for line in open(f):
        p = line.split()
        if len(p) == 4 and p[1] != "verdict" and p[2] in ("0", "3"):
            ids.add(p[0])
res = {}
for i in sorted(ids):
    try:
        with urllib.request.urlopen("%s/verdicts/%s?timeout_ms=20000" % (url, i), timeout=30) as r:
            res[i] = json.loads(r.read())
    except urllib.error.HTTPError as e:
        res[i] = {"http": e.code}
json.dump(res, open(out, "w"))
print(len(res))
PY
}
# Snapshot while the CLI writers still run: their newest appends may be judged after it.
N_BEFORE=$(verdicts "$OWNER_URL" "$T/verdicts.before.json") || fail "could not read the owner's verdicts"
log "$N_BEFORE verdicts recorded from the owner $OWNER"

before=$(records_count)
HTTP_PROJ=$STANDBY http GET /status
LAG_AT_KILL=$(jget 'd["partitions"][0]["lag"]' "$HTTP_BODY")
APPLIED_AT_KILL=$(jget 'd["partitions"][0]["next_offset"]' "$HTTP_BODY")
t0=$(now_ms)
kill9_projector "$OWNER"
proj_var "$STANDBY" URL >"$T/url"
ENDS=$(topic_end_offsets)
fo_wait_applied "$STANDBY" 120
T_CAUGHT=$(($(now_ms) - t0))
log "replica $STANDBY had applied $APPLIED_AT_KILL records (lag $LAG_AT_KILL) at the kill; applied the topic's end ($ENDS) ${T_CAUGHT} ms after it"
IT_E=$ENDS jcheck "$APPLIED_AT_KILL * 2 > E['0']" '{}' \
  "the replica had applied most of the topic before the kill (nothing to replay)"
assert_eq "$(grep -c 'serving partition 0' "$(proj_var "$STANDBY" LOG)")" 1 \
  "the replica took partition 0 once, at its start"
fo_wait_progress "$before" 120
T_PROGRESS=$(($(now_ms) - t0))
fo_wait_progress "$(records_count)" 60
sleep 3
fo_fact "fault: kill -9 of the replica $OWNER the clients used; replica $STANDBY had lag $LAG_AT_KILL at the kill, reached the topic's end ($(jget 'd["0"]' "$ENDS") records) $T_CAUGHT ms after it, CLI appends accepted again after $T_PROGRESS ms"

fo_stop_cli_writers
fo_fact "appends accepted: $FO_LOAD_APPENDS by evs_it_load, $FO_CLI_APPENDS by the CLI; exit 5 settled: $((FO_CLI_UNKNOWN + FO_CLI_UNAVAILABLE)) ($FO_CLI_ABSENT never applied)"
fo_wait_applied "$STANDBY" 120
fo_settle_late "$STANDBY"

# Same verdicts from the new owner.
verdicts "$(proj_var "$STANDBY" URL)" "$T/verdicts.after.json" >/dev/null ||
  fail "could not read the new owner's verdicts"
r=$(python3 - "$T/verdicts.before.json" "$T/verdicts.after.json" <<'PY'
import json, sys
before, after = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
keys = ("status", "stream", "partition", "offset", "first_version", "last_version",
        "first_position", "last_position", "current_version", "event_count", "reason")
diff = []
judged = 0
for aid, v in before.items():
    if "http" in v:
        continue  # not judged by the old owner at the snapshot (a CLI append in flight)
    judged += 1
    w = after.get(aid, {})
    if any(v.get(k) != w.get(k) for k in keys):
        diff.append((aid, v, w))
print(json.dumps({"judged_before": judged, "differ": len(diff), "examples": diff[:3]}))
PY
) || fail "comparing verdicts failed: $r"
log "verdicts: $r"
jcheck 'd["differ"] == 0 and d["judged_before"] > 1000' "$r" \
  "the new owner answers the same verdict as the old owner for every append id it had judged"
fo_verify "$STANDBY" Load 6 "$T"/load.Load.*.txt
LOAD_EVENTS=$FO_VERIFIED
fo_verify "$STANDBY" Cli 2 "$T"/cli.*.txt
fo_fact "verdicts compared: $(jget 'd["judged_before"]' "$r"); events verified on the new owner: $LOAD_EVENTS (evs_it_load) + $FO_VERIFIED (CLI)"

# The killed replica restarts on its store and catches up from where it stopped.
KILLED=$OWNER
start_projector "$KILLED"
fo_wait_applied "$KILLED" 120
fo_verify "$KILLED" Load 6 "$T"/load.Load.*.txt
stop_projector p1
stop_projector p2
start_projector p3 --rebuild
wait_caught_up p3 120
stop_projector p3
h3=$(projector_hash p3)
log "hash p3 (fresh dir, --rebuild): $h3"
for n in p1 p2; do
  h=$(projector_hash "$n")
  log "hash $n: $h"
  IT_E=$h3 jcheck 'd == E' "$h" "$n's store equals a rebuild from offset 0"
done
fo_fact "after the restart of $KILLED both replicas' stores equal a fresh rebuild"
