#!/usr/bin/env bash
# console_test.sh - the web console at /ui in a real browser (headless Chromium through
# Selenium and Debian's chromium-driver; console_check.py does the browser's part), plus
# the routes it adds: GET /ui serves the embedded files with their types and GET /streams
# lists the version table by prefix, in name order, page by page.
# EVS_CONSOLE_SCREENSHOTS=DIR saves the screenshots (the README shows docs/console-stream.png):
#   EVS_CONSOLE_SCREENSHOTS=$PWD/docs ctest -R integration.console
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_init console "$@"
command -v chromium >/dev/null && command -v chromedriver >/dev/null ||
  fail "chromium and chromium-driver are needed (deploy/setup.sh installs them)"
python3 -c 'import selenium' 2>/dev/null || fail "python's selenium is needed (deploy/setup.sh installs it)"

start_projector p1
expect_ok "Shop-1" append Shop-1 --type OrderPlaced --data '{"total":12,"items":[{"sku":"A-1","qty":2}]}' \
  --metadata '{"user":"ann"}'
expect_ok "Shop-1 paid" append Shop-1 --type OrderPaid --data '{"amount":12}' \
  --correlation-id corr-42 --causation-id "$(jget 'L[0]["event_id"]' "$(read_stream Shop-1)")"
expect_ok "Shop-1 packed" append Shop-1 --type OrderPacked --data '{}'
expect_ok "Shop-2" append Shop-2 --type OrderPlaced --data '{"total":5}'
expect_ok "Shopper-1" append Shopper-1 --type Registered --data '{}'
expect_ok "Other-1" append Other-1 --type Registered --data '{}'

# GET /streams: prefix, name order, paging with after.
http GET '/streams?prefix=Shop'
assert_eq "$HTTP_CODE" 200 "GET /streams"
jcheck 'd == {"streams": [{"stream": "Shop-1", "version": 3}, {"stream": "Shop-2", "version": 1}, {"stream": "Shopper-1", "version": 1}], "next": None}' \
  "$HTTP_BODY" "the streams starting with Shop, in name order, with their versions"
http GET '/streams?limit=2'
jcheck '[s["stream"] for s in d["streams"]] == ["Other-1", "Shop-1"] and d["next"] == "Shop-1"' "$HTTP_BODY" "a first page of 2"
http GET '/streams?limit=2&after=Shop-1'
jcheck '[s["stream"] for s in d["streams"]] == ["Shop-2", "Shopper-1"] and d["next"] is None' "$HTTP_BODY" "the page after Shop-1"
http GET '/streams?prefix=$bad'
assert_eq "$HTTP_CODE" 400 "an invalid prefix"
http GET '/streams?limit=0'
assert_eq "$HTTP_CODE" 400 "limit 0"

# GET /ui: the embedded files, nothing fetched from elsewhere.
http GET /ui
assert_eq "$HTTP_CODE" 200 "GET /ui"
assert_match "$HTTP_BODY" '<script src="/ui/console.js">' "/ui is the console's page"
HDR=$(curl -s -D - -o /dev/null "$P1_URL/ui/console.css")
assert_imatch "$HDR" '^content-type: text/css' "console.css has its content type"
assert_imatch "$HDR" "^content-security-policy: default-src 'self'" "the console may load nothing from elsewhere"
if grep -qE 'https?://' "$IT_SRC_DIR/../../projector/ui/index.html"; then fail "index.html names an outside URL"; fi
http GET /ui/nope.js
assert_eq "$HTTP_CODE" 404 "an unknown console file"

# A group of category Shop with one parked event (Shop-2's), and its member.
http PUT /groups/shoppers -H 'Content-Type: application/json' -d '{"source":"category:Shop","max_attempts":3,"member_timeout_ms":600000}'
assert_eq "$HTTP_CODE" 201 "create the group: $HTTP_BODY"
http POST /groups/shoppers/members
MEMBER=$(jget 'd["member_id"]' "$HTTP_BODY")
parked=0
for _ in 1 2 3; do
  http GET "/groups/shoppers/members/$MEMBER/events?max=10&wait_ms=5000"
  FETCHED=$HTTP_BODY
  for pos in $(jget '" ".join(str(e["position"]) for e in d["events"] if e["stream"] == "Shop-2")' "$FETCHED"); do
    http POST /groups/shoppers/nack -H 'Content-Type: application/json' -d "{\"member_id\":\"$MEMBER\",\"positions\":[$pos],\"park\":true}"
    parked=1
  done
  for pos in $(jget '" ".join(str(e["position"]) for e in d["events"] if e["stream"] != "Shop-2")' "$FETCHED"); do
    http POST /groups/shoppers/ack -H 'Content-Type: application/json' -d "{\"member_id\":\"$MEMBER\",\"positions\":[$pos]}"
  done
  ((parked)) && break
done
http GET /groups/shoppers
jcheck 'd["parked"] == 1' "$HTTP_BODY" "the group has one parked event"

python3 "$IT_SRC_DIR/console_check.py" "$P1_URL" "$CLI_BIN" "$BROKERS" "$TOPIC" shoppers "$MEMBER" ||
  fail "the console in Chromium (console_check.py above)"
pass
