#!/usr/bin/env bash
# openapi_test.sh - docs/openapi.yaml describes the projector's HTTP API as it is: every
# answer the server gives, error answers included, is checked against the document by
# openapi_check.py (openapi-core), and the test fails on the first mismatch it reports.
#
# Phases (openapi_check.py): main (every endpoint and status one projector can give, the
# stream lifecycle commands and the reads of what they removed included, Server-Sent Events
# parsed and checked message by message, negative controls proving the validator rejects
# answers that do not match); not-saved (saves through a paused applier: 503);
# unknown-outcome (an append and each lifecycle command through the only projector, paused,
# so that no replica judges them: 504, settled once resumed); not-served (a shard of
# partition 1 asked about partition 0 on every route that can answer 421); no-master-key
# (the /keys routes of that shard, which runs without --master-key: POST answers 503
# no_master_key); unavailable (the
# append and the commands once the topic is gone: 503); report (every route of the server's table
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

# p1 has a master key, so that it can make subjects' data keys (POST /keys); the shard s
# below has none (phase no-master-key).
python3 -c 'import os; print(os.urandom(32).hex())' >"$T/master.key"
chmod 600 "$T/master.key"
# Saves wait 1 s, not 15, to be applied (the not-saved phase).
EVSTORE_TEST_STATE_WAIT_MS=1000 start_projector p1 --master-key "$T/master.key"
check main --url "$P1_URL" --brokers "$BROKERS" --topic "$TOPIC" --kcat "$(command -v kcat || true)"

# Saves through p1 with its state-topic applier paused: 503, nothing saved here.
check not-saved --url "$P1_URL" --pause-file "$P1_PAUSE"

# The only projector, paused, cannot judge the append it produces, and no other can: 504;
# the checker resumes it (removes the pause file) and settles the append id.
pause_projector p1
check unknown-outcome --url "$P1_URL" --owner-url "$P1_URL" --resume-file "$P1_PAUSE"

# A shard: partition 1 of a 2-partition topic, on a store that has a consumer group of
# partition 0 from when it served both. Every route about partition 0 answers 421.
MAIN_TOPIC=$TOPIC
TOPIC=$MAIN_TOPIC.shard
start_projector s --partitions 2
HTTP_PROJ=s http PUT /groups/zero -H 'Content-Type: application/json' \
  --data-binary '{"source":"$all","partition":0}'
[[ "$HTTP_CODE" == 201 || "$HTTP_CODE" == 200 ]] || fail "PUT /groups/zero answered $HTTP_CODE: $HTTP_BODY"
stop_projector s
EVSTORE_MASTER_KEY_FILE='' start_projector s --serve-partitions 1
check not-served --url "$S_URL" --group zero
# The /keys routes are not partitioned: s answers them, without a master key.
check no-master-key --url "$S_URL"
stop_projector s
"$TOPIC_TOOL" delete "$BROKERS" "$TOPIC" >/dev/null || fail "could not delete $TOPIC"
TOPIC=$MAIN_TOPIC

"$TOPIC_TOOL" delete "$BROKERS" "$TOPIC" >/dev/null || fail "could not delete the topic"
check unavailable --url "$P1_URL"
check report --routes "$IT_SRC_DIR/../../projector/http/http_api.c"
