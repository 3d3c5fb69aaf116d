#!/usr/bin/env bash
# run_all.sh - the long test tier (make test-long): every failover test of tests/failover/,
# one after the other, with the three-node cluster of deploy/cluster.sh running.
#
#   tests/failover/run_all.sh [BIN_DIR]      (default: <repo>/build/bin)
#
# Starts the cluster (deploy/cluster.sh start; the single local broker must be running
# too: make test-long starts it), runs each tests/failover/*.sh (not the helpers) with its
# output in a log, prints each test's summary line and a total:
#   failover: 6 tests: 6 passed, 0 failed; checks: 250 passed, 0 failed
# then stops the cluster (EVS_FO_KEEP_CLUSTER=1 leaves it running). Exit 0 if all passed.
# EVS_FO_TESTS="a b" runs only those (names without .sh).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${1:-$repo/build/bin}"
logs="$(mktemp -d "${TMPDIR:-/tmp}/evstore-failover.XXXXXX")"

if [[ -n "${EVS_FO_TESTS:-}" ]]; then
  read -r -a tests <<<"$EVS_FO_TESTS"
else
  tests=()
  for f in "$here"/*.sh; do
    n=${f##*/}
    n=${n%.sh}
    [[ "$n" == run_all || "$n" == failover_lib ]] || tests+=("$n")
  done
fi

say() { printf '[failover %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

say "starting the three-node cluster"
if ! bash "$repo/deploy/cluster.sh" start; then
  say "the cluster did not start"
  exit 1
fi

t_passed=0 t_failed=0 c_passed=0 c_failed=0 results=()
for t in "${tests[@]}"; do
  say "running $t (log $logs/$t.log)"
  t0=$SECONDS
  rc=0
  bash "$here/$t.sh" "$bin" >"$logs/$t.log" 2>&1 || rc=$?
  line=$(grep -a 'SUMMARY:' "$logs/$t.log" | tail -1)
  p=0 f=0
  if [[ "$line" =~ SUMMARY:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
    p=${BASH_REMATCH[1]}
    f=${BASH_REMATCH[2]}
  fi
  if [[ $rc -eq 0 ]]; then
    t_passed=$((t_passed + 1))
    verdict=PASS
  else
    t_failed=$((t_failed + 1))
    verdict="FAIL (exit $rc)"
    ((f > 0)) || f=1
    grep -a 'FAIL at' "$logs/$t.log" | head -10 | sed 's/^/    /'
  fi
  c_passed=$((c_passed + p))
  c_failed=$((c_failed + f))
  say "$t: $verdict in $((SECONDS - t0)) s: ${line#*SUMMARY: }"
  results+=("$t: $verdict, $p checks passed, $f failed")
done

if [[ "${EVS_FO_KEEP_CLUSTER:-0}" != 1 ]]; then
  bash "$repo/deploy/cluster.sh" stop >/dev/null
fi
printf '%s\n' "${results[@]}"
say "logs in $logs"
echo "failover: ${#tests[@]} tests: $t_passed passed, $t_failed failed; checks: $c_passed passed, $c_failed failed"
((t_failed == 0))
