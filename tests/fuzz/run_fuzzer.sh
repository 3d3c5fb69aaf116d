#!/usr/bin/env bash
# run_fuzzer.sh [--replay] FUZZER WORK_DIR CORPUS_DIR...
#
# Fuzzes one libFuzzer target for EVS_FUZZ_SECONDS (default 30), starting from the
# committed corpora (CORPUS_DIRs: the seeds and the regression inputs, only read) and its
# own growing corpus WORK_DIR/corpus (where new inputs go), then prints libFuzzer's final
# stats, also kept in WORK_DIR/summary-fuzz.txt. With --replay it only runs every input of
# the CORPUS_DIRs once (no fuzzing, a few seconds; WORK_DIR/summary-replay.txt): the
# regression check.
#
# A crash, leak, timeout or failed check leaves its input in WORK_DIR/artifacts/ and makes
# this script fail with the end of the log. The full log is WORK_DIR/fuzz.log (replay.log).
# Used by the ctest tests fuzz.* (label fuzz; tests/fuzz/CMakeLists.txt).
#
#   reproduce a finding:   FUZZER WORK_DIR/artifacts/crash-...
#   keep new inputs:       FUZZER -merge=1 tests/fuzz/corpus/TARGET WORK_DIR/corpus
set -uo pipefail

replay=0
[[ "${1:-}" == --replay ]] && { replay=1; shift; }
(($# >= 3)) || { echo "usage: $0 [--replay] FUZZER WORK_DIR CORPUS_DIR..." >&2; exit 2; }
fuzzer="$1" work="$2"
shift 2
corpora=("$@")
seconds="${EVS_FUZZ_SECONDS:-30}"
name="$(basename "$fuzzer")"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

[[ -x "$fuzzer" ]] || { echo "run_fuzzer.sh: $fuzzer is not built" >&2; exit 1; }
for d in "${corpora[@]}"; do
  [[ -d "$d" ]] || { echo "run_fuzzer.sh: no corpus directory $d" >&2; exit 1; }
done
mkdir -p "$work/corpus" "$work/artifacts"

# Leaks are bugs (style.md); the suppressions cover uninstrumented libraries only.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$here/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

flags=(-timeout=60 -rss_limit_mb=3072 -print_final_stats=1 -artifact_prefix="$work/artifacts/")
[[ -f "$here/$name.dict" ]] && flags+=(-dict="$here/$name.dict")
inputs=$(find "${corpora[@]}" -type f | wc -l)
start=$SECONDS
summary_file="$work/summary-$( ((replay)) && echo replay || echo fuzz).txt"
rm -f "$summary_file"
if ((replay)); then
  log="$work/replay.log"
  "$fuzzer" "${flags[@]}" -runs=0 "${corpora[@]}" >"$log" 2>&1
  rc=$?
  summary="$name: replayed $inputs inputs: $(grep -E '^#[0-9]+' "$log" | tail -n 1)"
else
  log="$work/fuzz.log"
  kept=$(find "$work/corpus" -type f | wc -l)
  "$fuzzer" "${flags[@]}" -max_total_time="$seconds" "$work/corpus" "${corpora[@]}" >"$log" 2>&1
  rc=$?
  # The last coverage line, the run count and libFuzzer's final stats.
  summary="$name: ${seconds}s from $inputs committed + $kept kept inputs
$(grep -E '^#[0-9]+' "$log" | tail -n 1)
$(grep -E '^(Done [0-9]+ runs|stat::)' "$log")"
fi
if ((rc != 0)); then
  summary="$summary
$name: FAILED (exit $rc) after $((SECONDS - start)) s; inputs in $work/artifacts/"
  printf '%s\n' "$summary" >"$summary_file"
  echo "run_fuzzer.sh: end of $log:"
  tail -n 80 "$log"
  ls -l "$work/artifacts/"
  printf '%s\n' "$summary"
  exit 1
fi
printf '%s\n' "$summary" | tee "$summary_file"
