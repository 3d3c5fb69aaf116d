#!/usr/bin/env bash
# projector_failover.sh - two projectors in one consumer group; kill -9 the one that owns
# the partition, the other takes over (single local broker).
#
# p1 and p2 share --group (own --data-dir, own --http). GET /status "assigned" tells which
# one owns partition 0; the other is a standby that applies nothing. Writers:
# 2 evs_it_load x 2 threads append through the owner for a while (then stop, all settled);
# 2 CLI writers append all along, reading the projector URL from a file before each call.
# The owner's verdicts of every append id so far are recorded. Then the owner is killed
# with SIGKILL and the URL file is pointed at the standby. Asserts:
#   - the standby becomes the owner (assigned: true) and applies the whole backlog from
#     offset 0 (next_offset reaches the topic's end) - both times are measured;
#   - the CLI writers go on: appends accepted through the new owner; every exit 5 gave its
#     append id and was settled;
#   - the new owner answers the same verdict (status, stream, versions, positions,
#     offset) for every append id the old owner had judged;
#   - verify_store.py --exact on the new owner: no accepted append lost, none twice;
#   - the killed projector, restarted on its store, rejoins: one owner again, caught up;
#     the two stores and a fresh --rebuild have the same --hash.
# shellcheck source=tests/failover/failover_lib.sh
source "$(dirname "$0")/failover_lib.sh"
fo_init projector_failover "$@"

start_projector p1
# p2 joins p1's consumer group with its own store and port.
proj_set p2 DIR "$T/p2.data"
proj_set p2 GROUP "$P1_GROUP"
IT_PROJECTORS+=(p2)
start_projector p2

# owners: the projectors whose /status says they own partition 0 (space-separated).
owners() {
  local n out=""
  for n in p1 p2; do
    [[ -n "$(proj_var "$n" PID)" ]] || continue
    HTTP_PROJ=$n http GET /status
    [[ "$HTTP_CODE" == 200 && "$(jget 'd["partitions"][0]["assigned"]' "$HTTP_BODY" 2>/dev/null)" == true ]] &&
      out+="$n "
  done
  echo "${out% }"
}
# wait_one_owner SECONDS: until exactly one projector owns the partition, the same one in
# two samples a second apart; sets OWNER.
wait_one_owner() {
  local deadline=$((SECONDS + $1)) a b
  while :; do
    a=$(owners)
    sleep 1
    b=$(owners)
    if [[ -n "$a" && "$a" == "$b" && "$a" != *" "* ]]; then
      OWNER=$a
      pass
      return 0
    fi
    ((SECONDS < deadline)) || fail "no single owner of partition 0 within $1 s (owners: '$a' then '$b')"
  done
}

wait_one_owner 60
if [[ $OWNER == p1 ]]; then STANDBY=p2; else STANDBY=p1; fi
OWNER_URL=$(proj_var "$OWNER" URL)
log "owner $OWNER ($OWNER_URL), standby $STANDBY"
HTTP_PROJ=$STANDBY http GET /status
jcheck 'd["partitions"][0]["assigned"] is False and d["partitions"][0]["next_offset"] == 0' \
  "$HTTP_BODY" "the standby owns nothing and has applied nothing"

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
t0=$(now_ms)
kill9_projector "$OWNER"
proj_var "$STANDBY" URL >"$T/url"
# The standby must take the partition over.
deadline=$((SECONDS + 90))
until [[ "$(owners)" == "$STANDBY" ]]; do
  ((SECONDS < deadline)) || fail "the standby $STANDBY did not take partition 0 over within 90 s"
  sleep 0.2
done
pass
T_ASSIGNED=$(($(now_ms) - t0))
ENDS=$(topic_end_offsets)
fo_wait_applied "$STANDBY" 120
T_CAUGHT=$(($(now_ms) - t0))
log "standby $STANDBY owns partition 0 ${T_ASSIGNED} ms after the kill; applied the backlog ($ENDS) after ${T_CAUGHT} ms"
fo_wait_progress "$before" 120
T_PROGRESS=$(($(now_ms) - t0))
fo_wait_progress "$(records_count)" 60
sleep 3
fo_fact "fault: kill -9 of the owning projector $OWNER; standby $STANDBY assigned after $T_ASSIGNED ms, backlog of $(jget 'd["0"]' "$ENDS") records applied after $T_CAUGHT ms, CLI appends accepted again after $T_PROGRESS ms"

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

# The killed projector rejoins on its store: one owner again, caught up. (The partition
# may move back to it; a store that does not own the partition stays where it stopped.)
KILLED=$OWNER
start_projector "$KILLED"
wait_one_owner 90
log "after the restart of $KILLED the owner is $OWNER"
fo_wait_applied "$OWNER" 120
fo_verify "$OWNER" Load 6 "$T"/load.Load.*.txt
ENDS=$(topic_end_offsets)
declare -A COMPLETE=()
for n in p1 p2; do
  HTTP_PROJ=$n http GET /status
  COMPLETE[$n]=$(IT_E=$ENDS jget 'd["partitions"][0]["next_offset"] == E["0"]' "$HTTP_BODY")
done
stop_projector p1
stop_projector p2
start_projector p3 --rebuild
wait_caught_up p3 120
stop_projector p3
h3=$(projector_hash p3)
log "hash p3 (fresh dir, own group, --rebuild): $h3"
compared=""
for n in p1 p2; do
  h=$(projector_hash "$n")
  log "hash $n (applied everything: ${COMPLETE[$n]}): $h"
  if [[ ${COMPLETE[$n]} == true ]]; then
    IT_E=$h3 jcheck 'd == E' "$h" "$n's store equals a rebuild from offset 0"
    compared+="$n "
  fi
done
[[ -n "$compared" ]] || fail "neither projector had applied everything at the end"
fo_fact "after the restart of $KILLED the owner is $OWNER; stores equal to a fresh rebuild: ${compared% }"
