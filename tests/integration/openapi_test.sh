#!/usr/bin/env bash
# openapi_test.sh - docs/openapi.yaml describes the projector's HTTP API as it is: every
# answer the server gives, error answers included, is checked against the document by
# openapi_check.py (openapi-core), and the test fails on the first mismatch it reports.
#
# Phases (openapi_check.py): main (every endpoint and status one projector can give, Server-
# Sent Events parsed and checked message by message, negative controls proving the
# validator rejects answers that do not match); unknown-outcome (POST through a second
# projector of the group that does not own the partition: 504, settled by the owner);
# unavailable (POST once the topic is gone: 503); report (every route of the server's table
# is documented, and every operation and every documented status but the unreachable ones
# was exercised).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init openapi "$@"

SPEC=$IT_SRC_DIR/../../docs/openapi.yaml
python3 -c 'import openapi_core, openapi_spec_validator, yaml' 2>/dev/null ||
  fail "python3 cannot import openapi_core and yaml (deploy/setup.sh installs them: pip install openapi-core)"
STATE=$T/coverage.json

# check PHASE ARGS...: runs one phase of openapi_check.py; its output goes to the log.
check() {
  local phase=$1 rc=0
  shift
  python3 "$IT_SRC_DIR/openapi_check.py" "$phase" --spec "$SPEC" --state "$STATE" "$@" \
    >"$T/check.$phase.out" 2>&1 || rc=$?
  sed "s/^/[openapi $phase] /" "$T/check.$phase.out" >&2
  [[ $rc -eq 0 ]] || fail "openapi_check.py $phase found answers that do not match docs/openapi.yaml (above)"
  pass
}

start_projector p1
check main --url "$P1_URL" --brokers "$BROKERS" --topic "$TOPIC" --kcat "$(command -v kcat || true)"

start_projector p2 --group "$(proj_var p1 GROUP)"
wait_sole_owner p1 p2
check unknown-outcome --url "$(proj_var "$OTHER" URL)" --owner-url "$(proj_var "$OWNER" URL)"
stop_projector p2

"$TOPIC_TOOL" delete "$BROKERS" "$TOPIC" >/dev/null || fail "could not delete the topic"
check unavailable --url "$P1_URL"
check report --routes "$IT_SRC_DIR/../../projector/http/http_api.c"
