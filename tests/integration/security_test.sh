#!/usr/bin/env bash
# security_test.sh - evstore over SASL_SSL and HTTPS with tokens (docs/SECURITY.md):
#  1. the secure broker (deploy/kafka-secure.sh, started here unless it runs) takes its
#     SCRAM-SHA-512 user from Kafka's own tools, and libevstore's librdkafka logs in;
#  2. the core path over SASL_SSL + HTTPS with scoped tokens: appends with OCC, reads, a
#     subscription, an HTTP append, a consumer group, a checkpoint;
#  3. no secret in the projector's log, GET /status or `evstore status`;
#  4. a wrong password and an untrusted CA (Kafka's and the projector's) each give their
#     clear error, exit 5, without waiting for a timeout;
#  5. tokens: 401/403 from the CLI, a token added to and removed from the file takes effect
#     without a restart;
#  6. the safe default: a non-loopback --http without TLS and tokens is refused;
#  7. the route x credential matrix over docs/openapi.yaml (security_matrix.py), the
#     /keys routes included (read or append of any prefix makes and fetches a subject's
#     key; only admin without a prefix forgets it).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
secure="$repo/deploy/kafka-secure.sh"
export EVSTORE_SECURE_KAFKA_DIR=${EVSTORE_SECURE_KAFKA_DIR:-${EVSTORE_DATA_DIR:-$repo/var}/kafka-secure}
# The secure broker: its own ports and directory, never the shared one's. Left running, as
# make test leaves the shared broker (make stop stops both).
if ! bash "$secure" status >/dev/null 2>&1; then
  bash "$secure" start >&2 || { echo "[security] the secure broker did not start" >&2; exit 1; }
fi
# lib.sh's tools (topic offsets, deletion) use the plain listener; evstore uses SASL_SSL.
export EVSTORE_BROKERS=127.0.0.1:${EVSTORE_SECURE_KAFKA_PORT:-18192}
SASL=127.0.0.1:${EVSTORE_SECURE_KAFKA_SASL_PORT:-18193}
source "$here/lib.sh"
it_init security "$@"

KCONF=$(bash "$secure" client-config)
CERTS=$EVSTORE_SECURE_KAFKA_DIR/certs
CA=$CERTS/ca.pem
PASSWORD=$(sed -n 's/^sasl.password=//p' "$KCONF")
[[ -n "$PASSWORD" ]] || fail "no sasl.password in $KCONF"

# ---- 1. SCRAM-SHA-512 with Kafka's own client
log "SCRAM-SHA-512 login with Kafka's Java tools"
bash "$secure" run-class org.apache.kafka.tools.TopicCommand --bootstrap-server "$SASL" \
  --command-config "$(bash "$secure" java-config)" --list >"$T/scram.out" 2>&1 ||
  fail "Kafka's TopicCommand could not log in with SCRAM-SHA-512: $(tail -5 "$T/scram.out")"
pass
log "librdkafka logs in with $(sed -n 's/^sasl.mechanism=//p' "$KCONF") (deploy/kafka-secure.sh)"

# ---- tokens
token_new() { # VAR SCOPE...: makes a token, appends its line to the token file
  local var=$1 out
  shift
  out=$("$CLI_BIN" token new $(printf -- '--scope %s ' "$@")) || fail "evstore token new $*"
  printf -v "$var" '%s' "$(sed -n 1p <<<"$out")"
  sed -n 2p <<<"$out" >>"$T/tokens"
  [[ "$(sed -n 2p <<<"$out")" != *"${!var}"* ]] || fail "the token file line holds the token itself"
}
: >"$T/tokens"
token_new ADMIN admin read append
token_new ORDER read:Order- append:Order-
token_new READER read
token_new APPENDER append
token_new ADMIN_ORDER admin:Order-
assert_match "$ADMIN" '^evs_[0-9a-f]{64}$' "a token is evs_ and 64 hex digits"
expect_usage=$("$CLI_BIN" token new --scope write 2>&1) && fail "token new --scope write was accepted"
assert_match "$expect_usage" 'invalid scope' "a bad scope is named"

# ---- 2. the projector over SASL_SSL, with HTTPS and tokens
# With a master key, so that a POST /keys/{subject} that passed the token check would
# make a key (the matrix checks that none was made).
python3 -c 'import os; print(os.urandom(32).hex())' >"$T/master.key"
chmod 600 "$T/master.key"
IT_SCHEME=https
IT_CURL_OPTS=(--cacert "$CA")
start_projector p1 --brokers "$SASL" --kafka-config "$KCONF" --tls-cert "$CERTS/projector.pem" \
  --tls-key "$CERTS/projector.key" --token-file "$T/tokens" --master-key "$T/master.key"

# sevs TOKEN ARGS...: the CLI over SASL_SSL and HTTPS with TOKEN ("" for none).
sevs() {
  local token=$1
  shift
  RC=0
  EVSTORE_TOKEN=$token timeout -k 5 60 "$CLI_BIN" --brokers "$SASL" --kafka-config "$KCONF" \
    --projector "$P1_URL" --ca-file "$CA" --topic "$TOPIC" --timeout-ms 20000 "$@" \
    >"$T/cli.out" 2>"$T/cli.err" || RC=$?
  OUT=$(cat "$T/cli.out")
  ERR=$(cat "$T/cli.err")
}
sexpect() { # CODE DESCRIPTION TOKEN ARGS...
  local code=$1 desc=$2
  shift 2
  sevs "$@"
  [[ "$RC" == "$code" ]] || fail "$desc: exit $RC, expected $code (stdout: $OUT; stderr: $ERR)"
  pass
}

sexpect 0 "append with expected no_stream" "$ORDER" append Order-1 --type Placed --data '{"n":1}' --expected no_stream
sexpect 3 "a second no_stream append conflicts" "$ORDER" append Order-1 --type Placed --data '{"n":2}' --expected no_stream
assert_match "$ERR" 'expected' "the conflict names the expectation"
sexpect 0 "append with expected 1" "$ORDER" append Order-1 --type Paid --data '{"n":2}' --expected 1
sexpect 0 "read the stream" "$ORDER" read Order-1
assert_eq "$(wc -l <<<"$OUT")" 2 "two events read back over HTTPS"
sexpect 0 "subscribe without follow" "$ORDER" subscribe Order-1 --no-follow
assert_eq "$(grep -c '"stream":"Order-1"' <<<"$OUT")" 2 "the subscription delivers both events"
HTTP_PROJ=p1 http POST /streams/Order-2 -H "Authorization: Bearer $ORDER" -H 'Content-Type: application/json' \
  -d '{"expected":"no_stream","events":[{"type":"Placed","data":{"n":3}}]}'
assert_eq "$HTTP_CODE" 200 "an HTTP append (its verdict over the projector's own HTTPS): $HTTP_BODY"
sexpect 0 "a checkpoint" "$ADMIN" checkpoint save Order-reader 2
sexpect 0 "load the checkpoint" "$ADMIN" checkpoint load Order-reader
assert_match "$OUT" '2' "the checkpoint reads back"
RC=0
EVSTORE_TOKEN=$ADMIN timeout 60 "$CLI_BIN" --projector "$P1_URL" --ca-file "$CA" group create Order-workers \
  --category Order >"$T/group.out" 2>&1 || RC=$?
assert_eq "$RC" 0 "evstore group create over HTTPS: $(cat "$T/group.out")"
auth=(-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json')
http POST /groups/Order-workers/members "${auth[@]}" -d '{}'
assert_eq "$HTTP_CODE" 201 "a member joins: $HTTP_BODY"
MEMBER=$(jget 'd["member_id"]' "$HTTP_BODY")
delivered=0
for _ in 1 2 3 4 5; do
  http GET "/groups/Order-workers/members/$MEMBER/events?max=10&wait_ms=2000" "${auth[@]}"
  assert_eq "$HTTP_CODE" 200 "the member fetches: $HTTP_BODY"
  POSITIONS=$(jget 'json.dumps([e["position"] for e in d["events"]])' "$HTTP_BODY")
  [[ "$POSITIONS" == "[]" ]] && continue
  delivered=$((delivered + $(jget 'len(d["events"])' "$HTTP_BODY")))
  http POST /groups/Order-workers/ack "${auth[@]}" -d "{\"member_id\":\"$MEMBER\",\"positions\":$POSITIONS}"
  assert_eq "$HTTP_CODE" 200 "the member acks: $HTTP_BODY"
  [[ $delivered -ge 3 ]] && break
done
assert_eq "$delivered" 3 "the group delivers the three Order events"

# ---- 3. no secret anywhere
http GET /status -H "Authorization: Bearer $READER"
assert_eq "$HTTP_CODE" 200 "GET /status with a read token"
assert_eq "$(jget 'd["kafka_config"]["sasl.password"]' "$HTTP_BODY")" "[redacted]" "GET /status redacts sasl.password"
assert_eq "$(jget 'd["kafka_config"]["sasl.username"]' "$HTTP_BODY")" evstore "GET /status shows the other settings"
assert_eq "$(jget 'd["tls"] and d["tokens"]' "$HTTP_BODY")" true "GET /status says TLS and tokens are on"
sexpect 0 "evstore status" "$READER" status
[[ "$OUT$ERR" != *"$PASSWORD"* ]] || fail "evstore status shows the password"
[[ "$HTTP_BODY" != *"$PASSWORD"* ]] || fail "GET /status shows the password"
pass

# ---- 4. a wrong password, an untrusted CA: clear errors, not timeouts
sed "s/^sasl.password=.*/sasl.password=not-$PASSWORD/" "$KCONF" >"$T/wrong.properties"
start_s=$SECONDS
RC=0
EVSTORE_TOKEN=$ORDER timeout 60 "$CLI_BIN" --brokers "$SASL" --kafka-config "$T/wrong.properties" \
  --projector "$P1_URL" --ca-file "$CA" --topic "$TOPIC" --timeout-ms 30000 append Order-3 \
  --type Placed --data '{}' >"$T/wrong.out" 2>&1 || RC=$?
assert_eq "$RC" 5 "a wrong Kafka password exits 5: $(cat "$T/wrong.out")"
assert_imatch "$(cat "$T/wrong.out")" 'authentication' "a wrong password names authentication"
[[ "$(cat "$T/wrong.out")" != *"not-$PASSWORD"* ]] || fail "the wrong password is in the message"
log "wrong password refused after $((SECONDS - start_s)) s (produce timeout 30 s)"
grep -q "nothing was written" "$T/wrong.out" || fail "a refused login says nothing was written"
pass
sed "s|^ssl.ca.location=.*|ssl.ca.location=$CERTS/other-ca.pem|" "$KCONF" >"$T/other-ca.properties"
RC=0
EVSTORE_TOKEN=$ORDER timeout 60 "$CLI_BIN" --brokers "$SASL" --kafka-config "$T/other-ca.properties" \
  --projector "$P1_URL" --ca-file "$CA" --topic "$TOPIC" --timeout-ms 30000 append Order-3 \
  --type Placed --data '{}' >"$T/ca.out" 2>&1 || RC=$?
assert_eq "$RC" 5 "a broker certificate of an untrusted CA exits 5: $(cat "$T/ca.out")"
assert_imatch "$(cat "$T/ca.out")" 'ssl|certificate' "an untrusted broker CA names the certificate"
RC=0
EVSTORE_TOKEN=$ORDER timeout 60 "$CLI_BIN" --projector "$P1_URL" --ca-file "$CERTS/other-ca.pem" \
  --topic "$TOPIC" read Order-1 >"$T/hca.out" 2>&1 || RC=$?
assert_eq "$RC" 5 "a projector certificate of an untrusted CA exits 5: $(cat "$T/hca.out")"
assert_imatch "$(cat "$T/hca.out")" 'TLS|certificate' "an untrusted projector CA names TLS"
# The projector itself with the wrong password stops at start with the cause.
RC=0
timeout 90 "$PROJECTOR_BIN" --brokers "$SASL" --kafka-config "$T/wrong.properties" --topic "$TOPIC.wrong" \
  --data-dir "$T/wrong.data" --http "127.0.0.1:$(free_port)" >"$T/pwrong.log" 2>&1 || RC=$?
assert_eq "$RC" 3 "the projector with a wrong password exits 3: $(tail -3 "$T/pwrong.log")"
assert_imatch "$(cat "$T/pwrong.log")" 'authentication failed' "the projector names authentication"
[[ "$(cat "$T/pwrong.log" "$P1_LOG")" != *"$PASSWORD"* ]] || fail "a projector log holds the password"
pass

# ---- 5. tokens from the CLI, and a change of the token file without a restart
sexpect 5 "a read without a token" "" read Order-1
assert_imatch "$ERR" 'authentication needed' "no token: 401 named"
sexpect 5 "an append without a token" "" append Order-9 --type Placed --data '{}'
assert_match "$ERR" 'authentication needed.*nothing was written' "the append is refused before Kafka"
sexpect 6 "the refused append wrote nothing" "$ADMIN" read Order-9
sexpect 5 "a read outside the token's prefix" "$ORDER" read Invoice-1
assert_imatch "$ERR" 'not authorized' "outside the prefix: 403 named"
sexpect 5 "group status with a read token" "$READER" group status Order-workers
token_new LATE read
sleep 1.5 # the file is looked at at most once a second
sexpect 0 "a token added to the file works without a restart" "$LATE" read Order-1
grep -v "$(cut -d' ' -f1 <<<"$(tail -1 "$T/tokens")")" "$T/tokens" >"$T/tokens.new"
mv "$T/tokens.new" "$T/tokens"
sleep 1.5
sexpect 5 "a token removed from the file is refused" "$LATE" read Order-1

# ---- 6. the safe default
RC=0
timeout 90 "$PROJECTOR_BIN" --brokers "$SASL" --kafka-config "$KCONF" --topic "$TOPIC.open" \
  --data-dir "$T/open.data" --http "0.0.0.0:$(free_port)" >"$T/open.log" 2>&1 || RC=$?
assert_eq "$RC" 3 "a non-loopback --http without TLS and tokens is refused: $(tail -2 "$T/open.log")"
assert_match "$(cat "$T/open.log")" 'refusing to listen on 0\.0\.0\.0.*without TLS and tokens.*--insecure' \
  "the refusal says why and what to do"

# ---- 7. the matrix
python3 "$here/security_matrix.py" --url "$P1_URL" --ca "$CA" --spec "$repo/docs/openapi.yaml" \
  --admin "$ADMIN" --order "$ORDER" --reader "$READER" --appender "$APPENDER" \
  --admin-order "$ADMIN_ORDER" 2>&1 | sed 's/^/[security matrix] /' >&2
[[ ${PIPESTATUS[0]} -eq 0 ]] || fail "security_matrix.py found routes that do not refuse (above)"
pass

stop_projector p1
log "passed: $IT_CHECKS checks"
