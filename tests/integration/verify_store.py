#!/usr/bin/env python3
"""verify_store.py - checks a projector's streams and $all against the appends writers saw
accepted (the files evs_it_load writes: "stream version event_id append_id" per event).

    verify_store.py --url URL --prefix P --streams S [--exact] RECORD_FILE...

Asserts:
  - the writers' records never claim one (stream, version) or one event id twice;
  - every stream P-0..P-(S-1) has versions 1..n without gaps and names itself;
  - every recorded event is stored at its recorded stream and version with its event id;
  - no event id is stored twice (over all streams);
  - $all (partition 0) has positions 1..N without gaps, holds exactly the events of the
    streams (same event id, version and position as the stream reads), and each stream's
    versions rise by one along it;
  - with --exact: the stores hold no event that no writer saw accepted (every append was
    settled, so stored == recorded).
Prints a JSON summary; exit 0 if everything held, 1 otherwise (each failure printed).
"""
import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

failures = []


def fail(msg):
    failures.append(msg)
    if len(failures) <= 50:
        print("FAIL verify_store: " + msg, file=sys.stderr)


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        body = e.read().decode("utf-8", "replace")
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, body


def read_stream(base, stream):
    events, frm = [], 1
    while True:
        q = urllib.parse.urlencode({"from": frm, "limit": 10000})
        code, body = get("%s/streams/%s?%s" % (base, urllib.parse.quote(stream, safe=""), q))
        if code == 404:
            return None
        if code != 200:
            fail("GET /streams/%s answered %s: %s" % (stream, code, body))
            return events
        events += body["events"]
        if body.get("end_of_stream") or not body["events"]:
            return events
        frm = body["next"]


def read_all(base):
    events, frm = [], 1
    while True:
        q = urllib.parse.urlencode({"partition": 0, "from": frm, "limit": 10000})
        code, body = get("%s/all?%s" % (base, q))
        if code != 200:
            fail("GET /all answered %s: %s" % (code, body))
            return events
        events += body["events"]
        if body.get("end") or not body["events"]:
            return events
        frm = body["next"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--streams", type=int, required=True)
    ap.add_argument("--exact", action="store_true")
    ap.add_argument("records", nargs="*")
    a = ap.parse_args()

    recorded = {}  # (stream, version) -> event id
    recorded_ids = {}
    for path in a.records:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                parts = line.split()
                if len(parts) != 4:
                    fail("%s:%d: malformed record %r" % (path, n, line))
                    continue
                key = (parts[0], int(parts[1]))
                eid = parts[2].lower()
                if key in recorded:
                    fail("two writers saw %s version %d accepted (%s and %s)"
                         % (key[0], key[1], recorded[key], eid))
                recorded[key] = eid
                if eid in recorded_ids:
                    fail("event id %s recorded as accepted twice" % eid)
                recorded_ids[eid] = key

    stored = {}  # (stream, version) -> event
    stored_ids = {}
    for s in range(a.streams):
        name = "%s-%d" % (a.prefix, s)
        evs = read_stream(a.url, name)
        if evs is None:
            if any(k[0] == name for k in recorded):
                fail("stream %s does not exist, but writers saw appends to it accepted" % name)
            continue
        for i, e in enumerate(evs):
            if e["version"] != i + 1:
                fail("%s: event %d has version %s (gap or disorder)" % (name, i, e["version"]))
            if e["stream"] != name:
                fail("%s: event %d names stream %s" % (name, i, e["stream"]))
            eid = e["event_id"].lower()
            if eid in stored_ids:
                fail("event id %s stored twice: %s and %s v%d" % (eid, stored_ids[eid], name, e["version"]))
            stored_ids[eid] = (name, e["version"])
            stored[(name, e["version"])] = e

    for key, eid in recorded.items():
        e = stored.get(key)
        if e is None:
            fail("accepted %s version %d (event %s) is not stored" % (key[0], key[1], eid))
        elif e["event_id"].lower() != eid:
            fail("%s version %d holds event %s; the writer's accepted event was %s"
                 % (key[0], key[1], e["event_id"], eid))
    if a.exact:
        extra = [k for k in stored if k not in recorded]
        if extra:
            fail("%d stored events no writer saw accepted, e.g. %s" % (len(extra), sorted(extra)[:5]))

    all_events = read_all(a.url)
    last = {}
    for i, e in enumerate(all_events):
        if e["position"] != i + 1:
            fail("$all: event %d has position %s (gap or disorder)" % (i, e["position"]))
            break
        key = (e["stream"], e["version"])
        se = stored.get(key)
        if se is None:
            if e["stream"].startswith(a.prefix + "-"):
                fail("$all holds %s version %d, which the stream read does not" % key)
            continue
        if se["event_id"].lower() != e["event_id"].lower() or se["position"] != e["position"]:
            fail("$all and the stream read disagree on %s version %d" % key)
        if e["version"] != last.get(e["stream"], 0) + 1:
            fail("$all: %s version %d follows version %d" % (e["stream"], e["version"], last.get(e["stream"], 0)))
        last[e["stream"]] = e["version"]
    in_all = sum(1 for e in all_events if (e["stream"], e["version"]) in stored)
    if in_all != len(stored):
        fail("$all holds %d of the %d stored events" % (in_all, len(stored)))

    print(json.dumps({"recorded": len(recorded), "stored": len(stored), "all": len(all_events),
                      "failures": len(failures)}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
