#!/usr/bin/env bash
# forget_test.sh - crypto-shredding on two replicas (docs/ARCHITECTURE.md, "Erasure").
#
# p1 (with --feed) and p2 share a master key. Personal data of two subjects is appended
# through the CLI (sealed by libevstore) and through POST /streams (sealed by the
# projector's own client), each event carrying a marker string no other byte of the test
# has. Asserts:
#  - reads on both replicas show the plaintext (JSON pages, the CLI's binary pages), with
#    the subject; sealed metadata opens too;
#  - the raw events topic, the feed topic and every file of both stores hold none of the
#    markers (kcat, grep): only ciphertext left the client;
#  - a replica that lags on both topics shows a new subject's events only once it can open
#    them, never as erased first (keys/keyring.h, K3);
#  - a projector without the master key shows them sealed, not erased and not open;
#  - `evstore forget` destroys the subject's key: every read on both replicas, a
#    subscription from the start, a new replica and a --rebuild show its events erased
#    (no data, "erased": true) while the other subject's still open; forgetting again is a
#    no-op; a new append for the forgotten subject gets a new key and reads open;
#  - the key topic holds a tombstone for the key; both replicas' stores hash the same.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init forget "$@"
KCAT=$(command -v kcat || command -v kafkacat || true)
[[ -n "$KCAT" ]] || fail "kcat is missing (deploy/setup.sh installs it)"

MK=$T/master.key
expect_ok "evstore keygen writes a new master key" keygen "$MK"
[[ "$(stat -c %a "$MK")" == 600 ]] || fail "the master key file is not mode 600"
pass
expect_rc 2 "keygen refuses to overwrite a master key" keygen "$MK"
export EVSTORE_MASTER_KEY_FILE=$MK

start_projector p1 --feed
start_projector p2

M1=marker-alice-$(rand_hex 8)
M2=marker-alice-meta-$(rand_hex 8)
M3=marker-bob-$(rand_hex 8)
M4=marker-alice-http-$(rand_hex 8)

expect_ok "a sealed append for alice, metadata sealed too" \
  append Person-alice --type Registered --data "{\"name\":\"$M1\"}" \
  --metadata "{\"note\":\"$M2\"}" --subject alice --seal-metadata
expect_ok "a sealed append for bob" \
  append Person-bob --type Registered --data "{\"name\":\"$M3\"}" --subject bob
expect_ok "a plain event in alice's stream" \
  append Person-alice --type Visited --data '{"page":"home"}'
HTTP_PROJ=p2 http POST /streams/Person-alice -H 'Content-Type: application/json' \
  --data "{\"events\":[{\"type\":\"Renamed\",\"data\":{\"name\":\"$M4\"},\"subject\":\"alice\"}]}"
assert_eq "$HTTP_CODE" 200 "a sealed append through POST /streams: $HTTP_BODY"

# read_json NAME STREAM: the JSON page of STREAM through projector NAME.
read_json() {
  HTTP_PROJ=$1 http GET "/streams/$2?limit=100"
  [[ "$HTTP_CODE" == 200 ]] || fail "read of $2 through $1 answered $HTTP_CODE: $HTTP_BODY"
  printf '%s\n' "$HTTP_BODY"
}
for n in p1 p2; do
  wait_caught_up "$n" 60
  A=$(read_json "$n" Person-alice)
  IT_E="[\"$M1\",\"$M2\",\"$M4\"]" jcheck '[(e["type"], e.get("subject"), e.get("erased", False)) for e in d["events"]] == [("Registered", "alice", False), ("Visited", None, False), ("Renamed", "alice", False)] and d["events"][0]["data"]["name"] == E[0] and d["events"][0]["metadata"]["note"] == E[1] and d["events"][2]["data"]["name"] == E[2]' \
    "$A" "$n opens alice's events, data and metadata"
  B=$(read_json "$n" Person-bob)
  IT_E="\"$M3\"" jcheck 'd["events"][0]["data"]["name"] == E and d["events"][0]["subject"] == "bob"' \
    "$B" "$n opens bob's event"
done
EVS_PROJ=p2 expect_ok "the CLI reads alice's stream (binary pages)" read Person-alice
IT_E="\"$M1\"" jcheck 'E in json.dumps(d)' "$(head -1 <<<"$OUT")" "the CLI shows the plaintext"

# ---- nothing but ciphertext left the client ------------------------------------------------
# no_marker WHAT FILE...: none of the markers in the files.
no_marker() {
  local what=$1 m
  shift
  for m in "$M1" "$M2" "$M3" "$M4"; do
    if grep -rqaF -- "$m" "$@"; then fail "$what holds the plaintext $m"; fi
  done
  pass
}
"$KCAT" -b "$BROKERS" -C -t "$TOPIC" -o beginning -e -q -f '%k %s %h\n' >"$T/raw.txt" 2>/dev/null ||
  fail "kcat could not read $TOPIC"
[[ $(wc -l <"$T/raw.txt") -ge 4 ]] || fail "kcat read fewer records than appended from $TOPIC"
no_marker "the raw events topic" "$T/raw.txt"
deadline=$((SECONDS + 30))
while :; do
  "$KCAT" -b "$BROKERS" -C -t "$TOPIC.accepted" -o beginning -e -q -f '%s %h\n' >"$T/feed.txt" 2>/dev/null || true
  [[ $(wc -l <"$T/feed.txt") -ge 4 ]] && break
  ((SECONDS < deadline)) || fail "the feed did not publish the 4 events"
  sleep 0.5
done
grep -q 'evstore.subject=alice' "$T/feed.txt" || fail "the feed does not say which events are alice's"
no_marker "the feed topic" "$T/feed.txt"

# ---- a lagging replica waits for the key, it never shows the event erased first ------------
pause_projector p2
M5=marker-carol-$(rand_hex 8)
expect_ok "a sealed append for carol while p2 lags" \
  append Person-carol --type Registered --data "{\"name\":\"$M5\"}" --subject carol
resume_projector p2
deadline=$((SECONDS + 60))
while :; do
  HTTP_PROJ=p2 http GET /streams/Person-carol
  if [[ "$HTTP_CODE" == 200 ]]; then
    IT_E="\"$M5\"" jcheck 'd["events"][0]["data"]["name"] == E and "erased" not in d["events"][0]' \
      "$HTTP_BODY" "the first read of carol's event on the lagging replica opens it"
    break
  fi
  ((SECONDS < deadline)) || fail "p2 did not show carol's event: $HTTP_CODE $HTTP_BODY"
  sleep 0.02
done

# ---- a projector without the master key -------------------------------------------------------
EVSTORE_MASTER_KEY_FILE='' start_projector p4
wait_caught_up p4 60
A=$(read_json p4 Person-alice)
jcheck 'd["events"][0].get("sealed") is True and d["events"][0]["data"] is None and "erased" not in d["events"][0] and d["events"][1]["data"] == {"page": "home"}' \
  "$A" "without the master key personal data reads sealed, plain data open"
EVS_PROJ=p4 expect_ok "the CLI reads alice's stream through p4 (binary pages)" read Person-alice
jcheck 'd.get("sealed") is True and d["data"] is None and "erased" not in d' "$(head -1 <<<"$OUT")" \
  "the binary page says sealed"
stop_projector p4

# ---- forget ---------------------------------------------------------------------------------------
HTTP_PROJ=p1 http GET /keys/alice
assert_eq "$HTTP_CODE" 200 "alice has a key: $HTTP_BODY"
SEALED_KEY=$(jget 'd["keys"][0]["sealed_key"]' "$HTTP_BODY")
expect_ok "evstore forget alice" forget alice
# Usually one key; two replicas making alice's first key at once may have made two, of which
# the first won (K2): forget destroys every one.
jcheck 'd["subject"] == "alice" and len(d["forgotten"]) >= 1 and d["keys_destroyed"] == len(d["forgotten"])' \
  "$OUT" "forget names the keys destroyed"
erased_on() {
  local a b
  a=$(read_json "$1" Person-alice)
  b=$(read_json "$1" Person-bob)
  [[ "$(jget '[(e.get("erased", False), e["data"] is None) for e in d["events"]] == [(True, True), (False, False), (True, True)] and d["events"][0]["metadata"] is None and d["events"][1]["data"] == {"page": "home"}' "$a")" == true ]] &&
    [[ "$(IT_E="\"$M3\"" jget 'd["events"][0]["data"]["name"] == E' "$b")" == true ]]
}
deadline=$((SECONDS + 30))
until erased_on p1 && erased_on p2; do
  ((SECONDS < deadline)) || fail "alice's events do not read erased on both replicas (p1: $(read_json p1 Person-alice))"
  sleep 0.2
done
pass
EVS_PROJ=p2 expect_ok "the CLI reads alice's stream after forget" read Person-alice
jcheck 'd.get("erased") is True' "$(head -1 <<<"$OUT")" "the CLI shows the event erased"
expect_ok "forgetting again is a no-op" forget alice
jcheck 'd["forgotten"] == []' "$OUT" "nothing is left to forget"
HTTP_PROJ=p1 http GET /keys/alice
assert_eq "$HTTP_CODE" 404 "alice has no key left: $HTTP_BODY"
"$KCAT" -b "$BROKERS" -C -t "$TOPIC.keys" -o beginning -e -q -f '%k %S\n' >"$T/keys.txt" 2>/dev/null
grep -qE '^alice/[0-9a-f-]{36} -1$' "$T/keys.txt" || fail "the key topic has no tombstone for alice's key: $(cat "$T/keys.txt")"
pass

HTTP_PROJ=p2 http GET "/subscriptions/all?from=start&follow=false" --max-time 20
assert_eq "$HTTP_CODE" 200 "a subscription of \$all from the start"
cp "$T/http.body" "$T/sub.txt"
grep -c '"erased":true' "$T/sub.txt" | grep -qx 2 || fail "the subscription does not deliver alice's 2 events erased"
pass
for m in "$M1" "$M2" "$M4"; do
  ! grep -qaF -- "$m" "$T/sub.txt" || fail "the subscription holds alice's plaintext $m"
done
IT_E="\"$M3\"" jcheck 'E in text' "$(cat "$T/sub.txt")" "the subscription opens bob's event"

# A new replica, and a rebuild: the key is gone from the key topic's state, so erased too.
start_projector p3
wait_caught_up p3 60
erased_on p3 || fail "a new replica does not show alice's events erased"
pass
stop_projector p1
start_projector p1 --rebuild --feed
wait_caught_up p1 60
erased_on p1 || fail "a rebuild does not show alice's events erased"
pass

# A new append for the forgotten subject gets a new key.
M6=marker-alice-again-$(rand_hex 8)
expect_ok "a sealed append for alice after forget" \
  append Person-alice --type Returned --data "{\"name\":\"$M6\"}" --subject alice
wait_caught_up p2 60
A=$(read_json p2 Person-alice)
IT_E="\"$M6\"" jcheck 'd["events"][3]["data"]["name"] == E and d["events"][0].get("erased") is True' \
  "$A" "alice's new event opens, the old ones stay erased"

# ---- the stores --------------------------------------------------------------------------------
for n in p1 p2 p3; do stop_projector "$n"; done
no_marker "the stores' files" "$P1_DIR" "$P2_DIR" "$P3_DIR"
# The destroyed key itself (sealed, as the key topic held it) is gone from every store's
# files: each compacted its key table after the tombstone (keys/keyring.h, K1).
# has_key DIR...: true when a file below one of the DIRs holds alice's sealed key.
has_key() {
  python3 - "$SEALED_KEY" "$@" <<'PY'
import base64, os, sys
key = base64.b64decode(sys.argv[1])
for top in sys.argv[2:]:
    for root, _, files in os.walk(top):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                if key in f.read():
                    print("found in", os.path.join(root, name), file=sys.stderr)
                    sys.exit(0)
sys.exit(1)
PY
}
has_key "$P4_DIR" || fail "p4, stopped before the forget, does not hold alice's key (the check finds nothing)"
pass
! has_key "$P1_DIR" "$P2_DIR" "$P3_DIR" || fail "a store's files still hold alice's destroyed key"
pass
H1=$(projector_hash p1)
H2=$(projector_hash p2)
assert_eq "$H2" "$H1" "both replicas' stores hash the same"
soft_done
log "ok: $IT_CHECKS checks"
