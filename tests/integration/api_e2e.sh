#!/usr/bin/env bash
# api_e2e.sh - runs evs_it_api_e2e (api_e2e.c: the C API end to end) against a projector on
# a fresh topic, then checks that the broker holds exactly the records the program produced.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init api_e2e "$@"

start_projector p1
rc=0
EVSTORE_PROJECTOR=$P1_URL timeout -k 5 180 "$BIN_DIR/evs_it_api_e2e" || rc=$?
[[ $rc -eq 0 ]] || fail "evs_it_api_e2e exited $rc (its failed checks are above)"
pass
# The program checks the projector's view; ask the broker too: a clean shutdown and a
# projector that applied every record.
wait_caught_up p1 30
stop_projector p1
