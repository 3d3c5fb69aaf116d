#!/usr/bin/env bash
# page_stream_test.sh - the binary framing of subscriptions read with curl, without
# libevstore (docs/HTTP-API.md, "Subscriptions", "The binary framing"): for $all, a
# category, a type and a stream, the frames (page_stream_client.py: by hand, each page with
# fastavro and the schema file alone) carry exactly the events of the SSE answer to the same
# request, member by member and payloads byte for byte, in pages of at most 1000 events,
# then one caught-up frame with the same position, and the answer ends (follow=false).
# Personal data reads as in SSE: opened on a projector with the master key, erased after
# forget, sealed on a projector without the key; removed (truncated) events are skipped.
# Resuming (Last-Event-ID or from) after a cut-off read loses and repeats nothing, from
# history and live; from=now sends only caught-up; an idle subscription gets heartbeat
# frames; only naming the media type (quality above 0) gets it; errors stay JSON.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init page_stream "$@"

PS=$IT_SRC_DIR/page_stream_client.py
SCHEMA=$IT_SRC_DIR/../../schemas/evstore.EventPage.avsc
MEDIA=application/vnd.evstore.page-stream
python3 -c 'import fastavro' 2>/dev/null ||
  fail "python3 cannot import fastavro (deploy/setup.sh installs it: pip install fastavro)"

MK=$T/master.key
expect_ok "evstore keygen" keygen "$MK"
export EVSTORE_MASTER_KEY_FILE=$MK
start_projector p1
EVSTORE_MASTER_KEY_FILE='' start_projector p2 # no master key: personal data reads sealed

# 2400 events in Order-1, Order-2 (category Order) and Pay-1, types A and B: more than two
# pages of $all; then binary payloads, personal data and a truncated stream.
python3 - "$T" <<'EOF'
import json, sys
for name, base in (("o1", 0), ("o2", 800), ("p1", 1600)):
    with open("%s/%s.ndjson" % (sys.argv[1], name), "w") as f:
        for i in range(800):
            f.write(json.dumps({"type": "A" if i % 2 == 0 else "B",
                                "data": {"n": base + i, "pad": "x" * (i % 7)},
                                "metadata": {"i": i} if i % 3 else None}) + "\n")
EOF
expect_ok "append to Order-1" append Order-1 --file "$T/o1.ndjson"
expect_ok "append to Order-2" append Order-2 --file "$T/o2.ndjson"
expect_ok "append to Pay-1" append Pay-1 --file "$T/p1.ndjson"
http POST /streams/Blob-1 -H 'Content-Type: application/json' --data \
  '{"events":[{"type":"A","data_base64":"AAEKDQD/","content_type":"application/octet-stream","correlation_id":"c-1","causation_id":"c-0"},{"type":"B","data_base64":"","content_type":"application/octet-stream"}]}'
assert_eq "$HTTP_CODE" 200 "append binary events: $HTTP_BODY"
expect_ok "personal data of alice" append Person-alice --type A --data '{"name":"alice"}' \
  --metadata '{"m":1}' --subject alice --seal-metadata
expect_ok "personal data of bob" append Person-bob --type A --data '{"name":"bob"}' --subject bob
expect_ok "forget alice" forget alice
for i in 1 2 3 4 5; do
  expect_ok "append Cut-1 $i" append Cut-1 --type B --data "{\"i\":$i}"
done
http POST /streams/Cut-1/truncate -H 'Content-Type: application/json' --data '{"before":4}'
assert_eq "$HTTP_CODE" 200 "truncate Cut-1 before 4: $HTTP_BODY"
LAST=2409 # the last position: 2400 + 2 + 2 + 5 (Cut-1's versions 1..3 at 2405..2407 removed)
for p in p1 p2; do wait_caught_up "$p" 60; done
# Both replicas show alice erased and Cut-1 truncated before anything is compared.
settled() {
  local url
  url=$(proj_var "$1" URL)
  curl -sf --max-time 5 "$url/streams/Person-alice" | grep -q '"erased":true' &&
    [[ "$(curl -sf --max-time 5 "$url/all?from=2405&limit=10" | grep -o '"stream":"Cut-1"' | wc -l)" == 2 ]]
}
deadline=$((SECONDS + 30))
until settled p1 && settled p2; do
  ((SECONDS < deadline)) || fail "alice's event is not erased or Cut-1 not truncated on both replicas"
  sleep 0.2
done

# get NAME PATH [CURL ARGS...]: GETs PATH (follow=false) from projector $PROJ (default p1)
# into $T/NAME.bin with the binary framing and into $T/NAME.sse as SSE, bounded.
get() {
  local name=$1 path=$2 url
  shift 2
  url=$(proj_var "${PROJ:-p1}" URL)
  CODE=$(curl -sN -o "$T/$name.bin" -D "$T/$name.head" -w '%{http_code}' --max-time 30 \
    -H "Accept: $MEDIA" "$@" "$url$path") || fail "curl $path (binary) failed or hung"
  assert_eq "$CODE" 200 "GET $path (binary)"
  assert_imatch "$(cat "$T/$name.head")" "^content-type: $MEDIA" "content type of $path (binary)"
  curl -sN -o "$T/$name.sse" --max-time 30 "$@" "$url$path" || fail "curl $path (SSE) failed"
}
# same NAME TARGET [--name N]: the binary answer equals the SSE one (page_stream_client.py).
same() {
  local name=$1 target=$2
  shift 2
  SUMMARY=$(python3 "$PS" compare --schema "$SCHEMA" --binary "$T/$name.bin" \
    --sse "$T/$name.sse" --target "$target" "$@" 2>"$T/$name.err") ||
    fail "$name: the binary framing differs from SSE: $(head -c 2000 "$T/$name.err")"
  pass
}
parsed() { python3 "$PS" parse --schema "$SCHEMA" "$@"; }
# fcheck EXPR MESSAGE FILE...: EXPR over the JSON files as F[0], F[1]... (parsed answers are
# too large for jcheck's environment).
fcheck() {
  local expr=$1 msg=$2
  shift 2
  python3 -c 'import json, sys
F = [json.load(open(f)) for f in sys.argv[2:]]
sys.exit(0 if eval(sys.argv[1]) else 1)' "$expr" "$@" || fail "$msg [check: $expr]"
  pass
}
ids() { jget '" ".join(str(e["position"]) for e in d["events"])' "$1"; }

# ---- the same events as SSE, for every kind of subscription ---------------------------------
get all "/subscriptions/all?follow=false&encoding=base64"
same all all
jcheck 'd["events"] == '"$((LAST - 3))"' and d["pages"] >= 3 and d["caught_up"] == ['"$((LAST + 1))"']' \
  "$SUMMARY" "\$all: every event, in at least 3 pages, then caught-up"
parsed "$T/all.bin" >"$T/all.json"
ALL=$(cat "$T/all.json")
jcheck 'all(p["count"] <= 1000 for p in d["pages"]) and d["kinds"].lstrip("E") == "C" and d["kinds"].count("E") == len(d["pages"])' \
  "$ALL" "\$all: pages of at most 1000 events, frames E...EC"
jcheck '[e["position"] for e in d["events"]] == [p for p in range(1, '"$((LAST + 1))"') if not 2405 <= p <= 2407]' \
  "$ALL" "\$all: every position but the removed ones"
jcheck 'not any(e["stream"] == "Cut-1" and e["version"] < 4 for e in d["events"])' "$ALL" \
  "\$all: the truncated events are skipped"
jcheck '[e["version"] for e in d["events"] if e["stream"] == "Cut-1"] == [4, 5]' "$ALL" \
  "\$all: Cut-1 from its first kept version"
jcheck '[e["data"] for e in d["events"] if e["stream"] == "Blob-1"] == ["AAEKDQD/", ""]' "$ALL" \
  "binary payloads byte for byte, an empty one empty"
jcheck '[(e["subject"], e["erased"], e["sealed"], e["data"], e["metadata"]) for e in d["events"] if e["stream"] == "Person-alice"] == [("alice", True, False, "", None)]' \
  "$ALL" "alice's forgotten event: erased, data and sealed metadata empty"
jcheck '[(e["subject"], e["erased"], base64.b64decode(e["data"])) for e in d["events"] if e["stream"] == "Person-bob"] == [("bob", False, b"{\"name\":\"bob\"}")]' \
  "$ALL" "bob's event opened by the master key"

PROJ=p2 get sealed "/subscriptions/all?follow=false&encoding=base64"
same sealed all
jcheck '[(e["subject"], e["sealed"], e["data"]) for e in d["events"] if e["stream"] == "Person-bob"] == [("bob", True, "")]' \
  "$(parsed "$T/sealed.bin")" "without the master key bob's event reads sealed"

get category "/subscriptions/categories/Order?follow=false&encoding=base64"
same category category --name Order
jcheck 'd["events"] == 1600' "$SUMMARY" "category Order: its 1600 events"
get type "/subscriptions/types/B?follow=false&encoding=base64&from=1000"
same type type --name B
get stream "/subscriptions/streams/Order-2?follow=false&encoding=base64"
same stream stream --name Order-2
jcheck 'd["events"] == 800 and d["caught_up"] == [801]' "$SUMMARY" \
  "stream Order-2: its 800 versions, caught-up at version 801"
get cut "/subscriptions/streams/Cut-1?follow=false&encoding=base64"
same cut stream --name Cut-1
get token "/subscriptions/all?follow=false&encoding=base64&token=0:0&from=2390"
same token all

# ---- resuming, from, now --------------------------------------------------------------------
# A following read cut off mid-history: its complete frames, then a resumption after the last
# event, by Last-Event-ID and by from, each the rest exactly.
(curl -sN --max-time 10 -H "Accept: $MEDIA" "$P1_URL/subscriptions/all" || true) |
  head -c 160000 >"$T/part.bin" || true
PART=$(parsed "$T/part.bin")
jcheck 'd["caught_up"] == []' "$PART" "the cut-off read ends mid-history"
CUT=$(jget 'd["events"][-1]["position"]' "$PART")
((CUT > 100 && CUT < LAST)) || fail "the cut-off read ended at $CUT; expected mid-history"
assert_eq "$(ids "$PART")" "$(seq -s ' ' 1 "$CUT")" "positions before the cut"
get rest "/subscriptions/all?follow=false" -H "Last-Event-ID: $CUT"
parsed "$T/rest.bin" >"$T/rest.json"
fcheck '[e["event_id"] for e in F[0]["events"]] == [e["event_id"] for e in F[1]["events"] if e["position"] > '"$CUT"']' \
  "resumed by Last-Event-ID $CUT: the rest of \$all, event by event" "$T/rest.json" "$T/all.json"
get from "/subscriptions/all?follow=false&from=$((CUT + 1))"
parsed "$T/from.bin" >"$T/from.json"
fcheck 'F[0]["events"] == F[1]["events"] and F[0]["caught_up"] == F[1]["caught_up"]' \
  "from=$((CUT + 1)) gives the same as Last-Event-ID $CUT" "$T/from.json" "$T/rest.json"
get now "/subscriptions/all?follow=false&from=now"
jcheck 'd["kinds"] == "C" and d["caught_up"] == ['"$((LAST + 1))"']' "$(parsed "$T/now.bin")" \
  "from=now without follow: one caught-up frame"
get end "/subscriptions/streams/Order-1?follow=false" -H "Last-Event-ID: 800"
jcheck 'd["kinds"] == "C" and d["caught_up"] == [801]' "$(parsed --by-version "$T/end.bin")" \
  "a stream resumed after its last version: only caught-up"

# ---- live events and heartbeats -------------------------------------------------------------
curl -sN --max-time 30 -H "Accept: $MEDIA" "$P1_URL/subscriptions/all?from=2408" >"$T/live.bin" &
LIVE=$!
track_pid "$LIVE"
sleep 0.5
for i in 1 2 3 4 5; do
  expect_ok "live append $i" append "Live-$i" --file "$T/p1.ndjson"
  if ((i == 3)); then kill "$LIVE"; fi
done
wait "$LIVE" 2>/dev/null || true
LIVE_PARSED=$(parsed "$T/live.bin")
LIVE_LAST=$(jget 'd["events"][-1]["position"]' "$LIVE_PARSED")
jcheck 'd["caught_up"] == ['"$((LAST + 1))"'] and d["kinds"].index("C") > 0' "$LIVE_PARSED" \
  "the live reader got its history, then caught-up"
((LIVE_LAST > LAST)) || fail "the live reader got no live event before the cut (last $LIVE_LAST)"
assert_eq "$(ids "$LIVE_PARSED")" "$(seq -s ' ' 2408 "$LIVE_LAST")" "live positions before the cut"
get after "/subscriptions/all?follow=false" -H "Last-Event-ID: $LIVE_LAST"
assert_eq "$(ids "$(parsed "$T/after.bin")")" "$(seq -s ' ' $((LIVE_LAST + 1)) $((LAST + 4000)))" \
  "live positions after resuming"

curl -sN --max-time 12 -H "Accept: $MEDIA" "$P1_URL/subscriptions/all?from=now" >"$T/idle.bin" || true
jcheck 'd["kinds"].startswith("CH") and d["heartbeats"] >= 1 and not d["partial"]' \
  "$(parsed "$T/idle.bin")" "an idle subscription: caught-up, then a heartbeat frame"

# ---- negotiation and errors -----------------------------------------------------------------
accept_type() {
  curl -s -o /dev/null -D - --max-time 10 -H "Accept: $1" \
    "$P1_URL/subscriptions/all?follow=false&from=now" | tr -d '\r' |
    awk 'tolower($1) == "content-type:" { print $2 }'
}
assert_eq "$(accept_type "text/html, $MEDIA")" "$MEDIA" "named among others: the binary framing"
assert_eq "$(accept_type "${MEDIA^^}")" "$MEDIA" "the media type's case does not matter"
assert_eq "$(accept_type "$MEDIA;q=0")" "text/event-stream" "q=0 declines it"
assert_eq "$(accept_type "*/*")" "text/event-stream" "a wildcard gets SSE"
assert_eq "$(accept_type "application/vnd.evstore.page+avro")" "text/event-stream" \
  "the page's own media type gets SSE: the framing is named by its own"
http GET "/subscriptions/all?partition=7" -H "Accept: $MEDIA"
assert_eq "$HTTP_CODE" 400 "a partition the topic lacks"
jcheck '"error" in d' "$HTTP_BODY" "the refusal is JSON"
http GET "/subscriptions/all" -H "Accept: $MEDIA" -H "Last-Event-ID: x"
assert_eq "$HTTP_CODE" 400 "a Last-Event-ID that is not a number"
jcheck '"error" in d' "$HTTP_BODY" "the refusal is JSON"

