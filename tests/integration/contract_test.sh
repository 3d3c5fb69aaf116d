#!/usr/bin/env bash
# contract_test.sh - the API contract, checked by someone else's tool: schemathesis
# (PyPI) generates requests from docs/openapi.yaml, valid and invalid ones, sends them to a
# live projector on the real broker and checks every answer against the document: no 5xx
# but a documented 503/504 wait, only documented statuses, the documented content types, bodies and headers matching their
# schemas, a 405 with an `Allow` header for every method a path does not take, and `Allow`
# naming exactly the documented methods, and every request the document calls invalid
# refused with a 4xx. The test fails on any failure schemathesis reports.
#
# openapi_test.sh checks answers to requests we chose; this one checks answers to requests
# we did not think of. The projector holds a little of everything (streams of JSON and of
# binary events, a checkpoint, a snapshot, a consumer group with a member and a parked
# event, a subject with its data key: p1 has a master key), and schemathesis draws path parameters from those names half of the time, so that
# the operations answer 200 and not only 404.
#
# EVS_CONTRACT_EXAMPLES (default 15) bounds the generated requests per operation and phase;
# EVS_CONTRACT_SEED fixes hypothesis's seed (default: a random one, printed, so that a
# failure can be replayed). The report (schemathesis's JUnit XML and NDJSON) lands in the
# kept temp dir when the test fails.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init contract "$@"

SPEC=$IT_SRC_DIR/../../docs/openapi.yaml
python3 -c 'import schemathesis' 2>/dev/null ||
  fail "python3 cannot import schemathesis (deploy/setup.sh installs it: pip install schemathesis)"

# A master key, so that POST /keys/{subject} makes keys (201) rather than answering 503.
python3 -c 'import os; print(os.urandom(32).hex())' >"$T/master.key"
chmod 600 "$T/master.key"
start_projector p1 --master-key "$T/master.key"

# ---- data the document's examples name ------------------------------------------------
expect_ok "Order-42 placed" append Order-42 --type OrderPlaced --data '{"total":12}' \
  --metadata '{"user":"ann"}' --expected no_stream
expect_ok "Order-42 paid" append Order-42 --type OrderPaid --data '{"amount":12}' \
  --correlation-id c-1 --causation-id c-0
expect_ok "Order-7" append Order-7 --type OrderPlaced --data '{"total":3}'
# An event whose data is not JSON: answers carry it as base64 with data_encoding.
http POST /streams/Invoice-1 -H 'Content-Type: application/json' \
  --data-binary '{"events":[{"type":"InvoiceIssued","data_base64":"JVBERi0xLjQK","content_type":"application/pdf"}]}'
assert_eq "$HTTP_CODE" 200 "append a binary event to Invoice-1: $HTTP_BODY"
APPEND_ID=$(jget 'd["append_id"]' "$HTTP_BODY")
expect_ok "checkpoint" checkpoint save billing 2
expect_ok "snapshot" snapshot save Order-42 --version 2 --data '{"total":12,"paid":true}'
http PUT /groups/billing -H 'Content-Type: application/json' \
  --data-binary '{"source":"category:Order","member_timeout_ms":600000}'
[[ "$HTTP_CODE" == 201 ]] || fail "PUT /groups/billing answered $HTTP_CODE: $HTTP_BODY"
pass
http POST /groups/billing/members
assert_eq "$HTTP_CODE" 201 "join billing: $HTTP_BODY"
MEMBER=$(jget 'd["member_id"]' "$HTTP_BODY")
# One event delivered and nacked with park: the group has a parked event to list.
http GET "/groups/billing/members/$MEMBER/events?max=1&wait_ms=5000"
POS=$(jget 'd["events"][0]["position"]' "$HTTP_BODY")
http POST /groups/billing/nack -H 'Content-Type: application/json' \
  --data-binary "{\"member_id\":\"$MEMBER\",\"positions\":[$POS],\"park\":true}"
IT_E="{\"pos\":$POS}" jcheck 'd["parked"] == [E["pos"]]' "$HTTP_BODY" "one event of billing parked"
# A subject with its data key.
http POST /keys/customer:7f3c
assert_eq "$HTTP_CODE" 201 "POST /keys/customer:7f3c: $HTTP_BODY"

# ---- what schemathesis found, asserted directly ---------------------------------------
# Every 405 names the methods of its path in Allow (RFC 9110), HEAD with GET: the routing
# table's for most paths, the group handler's for a group's paths.
allow_of() { # METHOD PATH: prints the status and the Allow header of the answer
  curl -s -o /dev/null -X "$1" -D - --max-time 10 "$P1_URL$2" |
    tr -d '\r' | awk 'NR == 1 {s = $2} tolower($1) == "allow:" {sub(/^[^:]*: */, ""); a = $0}
      END {print s " " a}'
}
assert_eq "$(allow_of PATCH /streams/Order-42)" "405 GET, HEAD, POST, DELETE" "PATCH on a stream"
# The lifecycle paths under a stream take one method each (GET with HEAD for the metadata).
assert_eq "$(allow_of POST /streams/Order-42/metadata)" "405 GET, HEAD" "POST on a stream's metadata"
assert_eq "$(allow_of GET /streams/Order-42/truncate)" "405 POST" "GET on a stream's truncate"
assert_eq "$(allow_of DELETE /streams/Order-42/limits)" "405 PUT" "DELETE on a stream's limits"
assert_eq "$(allow_of POST /health)" "405 GET, HEAD" "POST /health"
assert_eq "$(allow_of DELETE /snapshots/Order-42)" "405 GET, HEAD, PUT" "DELETE on a snapshot"
assert_eq "$(allow_of OPTIONS /checkpoints/billing)" "405 GET, HEAD, PUT, DELETE" "OPTIONS on a checkpoint"
assert_eq "$(allow_of POST /groups/billing)" "405 GET, HEAD, PUT, DELETE" "POST on a group"
assert_eq "$(allow_of TRACE /groups/billing/members)" "405 POST" "TRACE on a group's members"
assert_eq "$(allow_of GET "/groups/billing/members/$MEMBER")" "405 DELETE" "GET on a member"
assert_eq "$(allow_of PUT /groups/billing/parked)" "405 GET, HEAD" "PUT on the parked list"
# A subject's keys: two entries of the table (GET and POST, DELETE), one Allow.
assert_eq "$(allow_of PUT /keys/customer:7f3c)" "405 GET, HEAD, POST, DELETE" "PUT on a subject's keys"
assert_eq "$(allow_of PATCH /keys/Nobody)" "405 GET, HEAD, POST, DELETE" "PATCH on a subject without keys"
# A position above 2^53 is refused, not rounded to 2^53 and stored (it went through a double).
http PUT /checkpoints/big -H 'Content-Type: application/json' --data-binary '{"position":9007199254740993}'
assert_eq "$HTTP_CODE" 400 "a checkpoint at 2^53 + 1: $HTTP_BODY"
http PUT /checkpoints/big -H 'Content-Type: application/json' --data-binary '{"position":9007199254740992}'
jcheck 'd["position"] == 2**53' "$HTTP_BODY" "a checkpoint at 2^53 is stored as given"

# ---- schemathesis ---------------------------------------------------------------------
# The configuration (schemathesis.toml): path parameters are drawn half of the time from
# what the store holds, so that the operations answer 200 and not only 404; the waits
# that are the point of a parameter are pinned short, since a generated request could
# otherwise hold a worker for a minute:
# - follow=false: a live subscription (follow=true, the default) never ends by design;
#   its live part is tested by subscribe_test.sh and sse_resume_test.sh. The history and
#   the caught-up message it sends first are the same with follow=false.
# - timeout_ms (a verdict waits for an offset that may never come), token_wait_ms (a read
#   waits for a token's offset), wait_ms (a member's long poll): 200 ms.
cat >"$T/schemathesis.toml" <<EOF
[dictionaries.streams]
values = ["Order-42", "Order-7", "Invoice-1"]
[dictionaries.names]
values = ["billing"]
[dictionaries.categories]
values = ["Order", "Invoice"]
[dictionaries.types]
values = ["OrderPlaced", "OrderPaid", "InvoiceIssued"]
[dictionaries.append_ids]
values = ["$APPEND_ID"]
[dictionaries.members]
values = ["$MEMBER"]
[dictionaries.subjects]
values = ["customer:7f3c"]

[parameters]
"path.stream" = { dictionary = "streams", probability = 0.5 }
"path.name" = { dictionary = "names", probability = 0.5 }
"path.category" = { dictionary = "categories", probability = 0.5 }
"path.type" = { dictionary = "types", probability = 0.5 }
"path.append_id" = { dictionary = "append_ids", probability = 0.5 }
"path.member_id" = { dictionary = "members", probability = 0.5 }
"path.subject" = { dictionary = "subjects", probability = 0.5 }
"query.follow" = "false"
"query.timeout_ms" = 200
"query.token_wait_ms" = 200
"query.wait_ms" = 200

# A 503 (a token not applied in time, a save not applied) or 504 (a verdict not judged in
# time) is the documented end of a wait, not a failure of the server: status_code_conformance
# still fails it where the operation does not document it. A 500 always fails.
[checks.not_a_server_error]
expected-statuses = ["2xx", "3xx", "4xx", "503", "504"]
EOF
SEED=${EVS_CONTRACT_SEED:-$((RANDOM * 32768 + RANDOM))}
log "schemathesis $(python3 -m schemathesis.cli --version 2>/dev/null | awk '{print $NF}'), seed $SEED"
# The checks: every one that judges an answer against the document, and
# negative_data_rejection (a request the document calls invalid must get a 4xx). Not run:
# positive_data_acceptance, since a valid request may rightly be refused for what the
# store holds, which no schema states: a partition beyond the topic's count (400, the
# count is only known at run time), a snapshot above the stream's version (400), a member
# that never joined (410), base64 data that is not JSON under a JSON content type (400);
# and the checks that need links or security schemes (use_after_free,
# ensure_resource_availability, ignored_auth; tokens are off on 127.0.0.1).
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance
CHECKS+=,response_headers_conformance,response_schema_conformance,missing_required_header
CHECKS+=,unsupported_method,allow_header_conformance,negative_data_rejection
CHECKS=${EVS_CONTRACT_CHECKS:-$CHECKS}
rc=0
(
  cd "$T" &&
    timeout -k 10 240 python3 -m schemathesis.cli --no-color --config-file "$T/schemathesis.toml" \
      run "$SPEC" --url "$P1_URL" \
      --checks "$CHECKS" --phases examples,coverage,fuzzing \
      --max-examples "${EVS_CONTRACT_EXAMPLES:-15}" --seed "$SEED" --workers 1 \
      --request-timeout 20 --suppress-health-check all \
      --report junit,ndjson --report-dir "$T/report"
) >"$T/schemathesis.out" 2>&1 || rc=$?
sed 's/^/[schemathesis] /' "$T/schemathesis.out" >&2
[[ $rc -ne 124 && $rc -ne 137 ]] || fail "schemathesis did not finish within 240 s"
assert_eq "$rc" 0 "schemathesis exit status (its failures are listed above; seed $SEED)"
