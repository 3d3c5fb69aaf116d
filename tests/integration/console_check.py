"""console_check.py - the web console (/ui) in headless Chromium, driven by Selenium through
Debian's chromium-driver. Run by console_test.sh, which starts the projector and fills it:

  console_check.py URL CLI_BIN BROKERS TOPIC GROUP MEMBER

Opens /ui, finds a stream by prefix, opens it and sees its events (data pretty-printed,
correlation and causation ids as links), follows the live tail while the test appends
through the CLI, opens the group with a parked event and replays it, then checks that the
group delivers that event again. Fails on any error in the browser console. With
EVS_CONSOLE_SCREENSHOTS=DIR it saves console-*.png there (docs/ in the repository).
"""
import json
import os
import subprocess
import sys
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

URL, CLI, BROKERS, TOPIC, GROUP, MEMBER = sys.argv[1:7]
SHOTS = os.environ.get("EVS_CONSOLE_SCREENSHOTS")


def fail(msg):
    print("console_check: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def http(method, path, body=None):
    req = urllib.request.Request(URL + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def shot(driver, name):
    if SHOTS:
        driver.save_screenshot(os.path.join(SHOTS, name))


options = webdriver.ChromeOptions()
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
            "--window-size=1280,900", "--no-first-run", "--disable-extensions"):
    options.add_argument(arg)
options.binary_location = "/usr/bin/chromium"
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 20)
checks = 0
try:
    # Streams: a prefix finds exactly the streams that start with it.
    driver.get(URL + "/ui")
    box = wait.until(ec.presence_of_element_located((By.ID, "prefix")))
    wait.until(ec.text_to_be_present_in_element((By.ID, "health"), "healthy"))
    box.send_keys("Shop-")
    box.submit()
    wait.until(lambda d: "prefix=Shop-" in d.current_url and
               d.find_elements(By.CSS_SELECTOR, "#streams tbody a"))
    names = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#streams tbody a")]
    if names != ["Shop-1", "Shop-2"]:
        fail("prefix Shop- listed %r, expected Shop-1 and Shop-2" % names)
    checks += 1
    shot(driver, "console-streams.png")

    # A stream's events: type, data pretty-printed, the ids as links.
    driver.find_element(By.LINK_TEXT, "Shop-1").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#events .event")))
    cards = driver.find_elements(By.CSS_SELECTOR, "#events .event")
    if len(cards) != 3:
        fail("Shop-1 shows %d events, expected 3" % len(cards))
    first = cards[0]
    if "OrderPlaced" not in first.text or '"total": 12' not in first.find_element(By.CSS_SELECTOR, "pre.data").text:
        fail("the first event's type or pretty-printed data is missing: %r" % first.text)
    links = [a.get_attribute("href") for a in cards[1].find_elements(By.CSS_SELECTOR, ".event-head a.mono")]
    if not any(l.endswith("#/stream/corr-42") for l in links):
        fail("the correlation id is not a link to its stream: %r" % links)
    if driver.find_element(By.ID, "current-version").text != "version 3":
        fail("the stream's version is not shown")
    checks += 1
    shot(driver, "console-stream.png")

    # The live tail receives an append made while it is open.
    driver.get(URL + "/ui#/tail?source=stream:Shop-1")
    wait.until(ec.text_to_be_present_in_element((By.ID, "tail-state"), "live"))
    subprocess.run([CLI, "--brokers", BROKERS, "--topic", TOPIC, "--projector", URL, "append",
                    "Shop-1", "--type", "OrderShipped", "--data", '{"carrier":"post","parcel":7}'],
                   check=True, stdout=subprocess.DEVNULL, timeout=60)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#tail-log .event")))
    tailed = driver.find_element(By.CSS_SELECTOR, "#tail-log .event").text
    if "OrderShipped" not in tailed or "Shop-1 @ 4" not in tailed:
        fail("the live tail shows %r, expected the new OrderShipped at version 4" % tailed)
    checks += 1
    shot(driver, "console-tail.png")

    # $all, partitions and replicas render.
    driver.get(URL + "/ui#/all")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#events .event")))
    driver.get(URL + "/ui#/status")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#partitions tbody tr")))
    driver.get(URL + "/ui#/cluster")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#replicas tbody tr")))
    checks += 1

    # The group with a parked event: replay it.
    driver.get(URL + "/ui#/groups")
    wait.until(ec.presence_of_element_located((By.LINK_TEXT, GROUP))).click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "g-parked"), "1"))
    if "parked_by_member" not in driver.find_element(By.ID, "parked").text:
        fail("the parked event's reason is not listed")
    if MEMBER not in driver.find_element(By.ID, "members").text:
        fail("the group's member is not listed")
    shot(driver, "console-group.png")
    driver.find_element(By.ID, "replay").click()
    wait.until(ec.presence_of_element_located((By.ID, "replayed")))
    wait.until(ec.text_to_be_present_in_element((By.ID, "g-parked"), "0"))
    checks += 1
    got = http("GET", "/groups/%s/members/%s/events?max=10&wait_ms=10000" % (GROUP, MEMBER))
    # (Shop-1's later events are still to be delivered too: only Shop-2's was parked.)
    if ("Shop-2", 1, 1) not in [(e["stream"], e["version"], e["attempt"]) for e in got["events"]]:
        fail("after the replay the group delivered %r, expected Shop-2 version 1 again" % got)
    checks += 1

    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    if errors:
        fail("errors in the browser console: %r" % errors)
    checks += 1
    print("console_check: %d checks passed" % checks)
finally:
    driver.quit()
