#!/usr/bin/env bash
# sse_resume_test.sh - the projector's subscription endpoints read with curl, without
# libevstore (docs/HTTP-API.md, "Subscriptions"): resuming with Last-Event-ID loses and
# repeats nothing, for $all, a category and a stream, from history and from live events;
# from is inclusive, start / now; Last-Event-ID wins over from; follow=false ends after
# caught-up; the stream is text/event-stream; a heartbeat comment comes while idle.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init sse_resume "$@"

SSE=$IT_SRC_DIR/sse_client.py
start_projector p1
URL=$P1_URL

# 300 events: 100 in each of Order-1, Order-2 (category Order) and Pay-1, types A and B.
python3 - "$T" <<'EOF'
import json, sys
for name, base in (("o1", 0), ("o2", 100), ("p1", 200)):
    with open("%s/%s.ndjson" % (sys.argv[1], name), "w") as f:
        for i in range(100):
            f.write(json.dumps({"type": "A" if i % 2 == 0 else "B",
                                "data": {"n": base + i, "pad": "x" * (i % 7)}}) + "\n")
EOF
expect_ok "append to Order-1" append Order-1 --file "$T/o1.ndjson"
expect_ok "append to Order-2" append Order-2 --file "$T/o2.ndjson"
expect_ok "append to Pay-1" append Pay-1 --file "$T/p1.ndjson"

# sse PATH [CURL ARGS...]: GETs a subscription path (follow=false) into $T/sse.out, bounded.
sse() {
  local path=$1
  shift
  SSE_CODE=$(curl -sN -o "$T/sse.out" -D "$T/sse.head" -w '%{http_code}' --max-time 20 "$@" \
    "$URL$path") || fail "curl $path failed or did not end within 20 s"
  SSE_PARSED=$(python3 "$SSE" parse "$T/sse.out")
}
ids() { jget '" ".join(str(e[0]) for e in d["events"])' "$1"; }
seq_ids() { seq -s ' ' "$1" "$2"; }

# The whole history of $all, then the end.
sse "/subscriptions/all?follow=false&encoding=base64"
assert_eq "$SSE_CODE" 200 "GET /subscriptions/all status"
assert_imatch "$(cat "$T/sse.head")" '^content-type: text/event-stream' "content type of a subscription"
jcheck 'd["caught_up"] == [301] and not d["partial"]' "$SSE_PARSED" "all: one caught-up with next 301, at the end"
assert_eq "$(ids "$SSE_PARSED")" "$(seq_ids 1 300)" "ids of the whole \$all history"
jcheck 'all(e[0] == e[4] for e in d["events"])' "$SSE_PARSED" "an \$all event's id is its position"
FULL=$SSE_PARSED
# The events are those of read-all (event ids, in order), data byte for byte.
evs read-all
IT_E=$(jget '[[e[1], e[2], e[3]] for e in d["events"]]' "$FULL") \
  jcheck 'E == [[e["event_id"], e["stream"], e["version"]] for e in L]' "$OUT" \
  "subscription events equal read-all"
IT_E=$FULL jcheck 'all(base64.b64decode(s[5]) == json.dumps(r["data"], separators=(",", ":")).encode() for s, r in zip(E["events"], L))' \
  "$OUT" "encoding=base64 data is the stored bytes"

# Part of $all with follow=true, cut off mid-stream; then resume after the last complete id.
(curl -sN --max-time 10 "$URL/subscriptions/all?encoding=base64" || true) | head -c 30000 \
  >"$T/part.out" || true
PART=$(python3 "$SSE" parse "$T/part.out")
LAST=$(jget 'd["events"][-1][0]' "$PART")
((LAST > 10 && LAST < 300)) || fail "the cut-off read ended at id $LAST; expected mid-history"
assert_eq "$(ids "$PART")" "$(seq_ids 1 "$LAST")" "ids before the cut"
sse "/subscriptions/all?follow=false&encoding=base64" -H "Last-Event-ID: $LAST"
assert_eq "$(ids "$SSE_PARSED")" "$(seq_ids $((LAST + 1)) 300)" "ids after resuming at Last-Event-ID $LAST"
jcheck 'd["caught_up"] == [301]' "$SSE_PARSED" "resumed: caught-up with next 301"
COMBINED=$(python3 -c 'import json, sys
print(json.dumps([e[1] for a in sys.argv[1:] for e in json.loads(a)["events"]]))' "$PART" "$SSE_PARSED")
IT_E=$COMBINED jcheck 'E == [e[1] for e in d["events"]]' "$FULL" \
  "the cut read plus the resumed read are the whole history, event by event"

# Last-Event-ID wins over from; from is inclusive; start and now.
sse "/subscriptions/all?follow=false&from=5&encoding=base64" -H "Last-Event-ID: 290"
assert_eq "$(ids "$SSE_PARSED")" "$(seq_ids 291 300)" "Last-Event-ID 290 with from=5"
sse "/subscriptions/all?follow=false&from=298"
assert_eq "$(ids "$SSE_PARSED")" "298 299 300" "from=298 is inclusive"
sse "/subscriptions/all?follow=false&from=start"
assert_eq "$(ids "$SSE_PARSED")" "$(seq_ids 1 300)" "from=start"
sse "/subscriptions/all?follow=false&from=now"
jcheck 'd["events"] == [] and d["caught_up"] == [301]' "$SSE_PARSED" "from=now without follow: only caught-up"
sse "/subscriptions/all?follow=false" -H "Last-Event-ID: 300"
jcheck 'd["events"] == [] and d["caught_up"] == [301]' "$SSE_PARSED" "Last-Event-ID at the end: only caught-up"

# A category: ids are positions of its events only; resume mid-way.
sse "/subscriptions/categories/Order?follow=false&encoding=base64"
assert_eq "$(ids "$SSE_PARSED")" "$(seq_ids 1 200)" "category Order ids"
sse "/subscriptions/categories/Order?follow=false&encoding=base64" -H "Last-Event-ID: 150"
assert_eq "$(ids "$SSE_PARSED")" "$(seq_ids 151 200)" "category Order resumed after 150"
sse "/subscriptions/types/B?follow=false"
assert_eq "$(ids "$SSE_PARSED")" "$(seq -s ' ' 2 2 300)" "type B ids (every second position)"
sse "/subscriptions/types/B?follow=false" -H "Last-Event-ID: 250"
assert_eq "$(ids "$SSE_PARSED")" "$(seq -s ' ' 252 2 300)" "type B resumed after 250"

# A stream: ids are versions.
sse "/subscriptions/streams/Order-2?follow=false"
assert_eq "$(ids "$SSE_PARSED")" "$(seq_ids 1 100)" "stream Order-2 ids are its versions"
jcheck 'all(e[0] == e[3] and e[4] == e[3] + 100 for e in d["events"])' "$SSE_PARSED" \
  "stream Order-2: id = version, positions 101..200"
sse "/subscriptions/streams/Order-2?follow=false" -H "Last-Event-ID: 60"
assert_eq "$(ids "$SSE_PARSED")" "$(seq_ids 61 100)" "stream Order-2 resumed after version 60"
sse "/subscriptions/streams/Order-2?follow=false&from=99"
assert_eq "$(ids "$SSE_PARSED")" "99 100" "stream Order-2 from version 99"

# Live: a following reader cut off while events are appended, resumed by Last-Event-ID.
curl -sN --max-time 30 "$URL/subscriptions/all?from=280&encoding=base64" >"$T/live.out" &
LIVE=$!
track_pid "$LIVE"
sleep 0.5
for i in 1 2 3 4 5; do
  expect_ok "live append $i" append "Order-$((i % 2 + 1))" --file "$T/p1.ndjson"
  if ((i == 3)); then kill "$LIVE"; fi
done
wait "$LIVE" 2>/dev/null || true
LIVE_PARSED=$(python3 "$SSE" parse "$T/live.out")
LIVE_LAST=$(jget 'd["events"][-1][0]' "$LIVE_PARSED")
jcheck 'd["caught_up"] == [301]' "$LIVE_PARSED" "the live reader caught up at 301"
assert_eq "$(ids "$LIVE_PARSED")" "$(seq_ids 280 "$LIVE_LAST")" "live ids before the cut"
((LIVE_LAST > 300)) || fail "the live reader got no live event before the cut (last $LIVE_LAST)"
sse "/subscriptions/all?follow=false&encoding=base64" -H "Last-Event-ID: $LIVE_LAST"
assert_eq "$(ids "$SSE_PARSED")" "$(seq_ids $((LIVE_LAST + 1)) 800)" "live ids after resuming"

# Idle: a heartbeat comment within 12 s, and the connection stays open.
curl -sN --max-time 12 "$URL/subscriptions/all?from=now" >"$T/idle.out" || true
IDLE=$(python3 "$SSE" parse "$T/idle.out")
jcheck 'd["comments"] >= 1 and d["events"] == [] and d["caught_up"] == [801]' "$IDLE" \
  "an idle subscription gets caught-up, then a heartbeat comment"

# Refusals are JSON errors, not event streams.
http GET "/subscriptions/all?partition=7"
assert_eq "$HTTP_CODE" 400 "subscription to a partition the topic lacks"
http GET "/subscriptions/categories/Or-der"
assert_eq "$HTTP_CODE" 400 "subscription to a category with '-'"
http GET "/subscriptions/all?from=abc"
assert_eq "$HTTP_CODE" 400 "subscription with from=abc"
http GET "/subscriptions/streams/Order-2?follow=false&from=abc" -H "Last-Event-ID: 0"
assert_eq "$HTTP_CODE" 400 "a malformed from is refused even when Last-Event-ID overrides it"
jcheck '"from" in d["error"]' "$HTTP_BODY" "the refusal names from"
