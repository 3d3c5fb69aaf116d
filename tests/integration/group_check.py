#!/usr/bin/env python3
"""group_check.py - checks the processing logs of group_test.sh's members.

Each member (group_member.c) writes one line per delivery, before it settles the event:
    TIME_US STREAM VERSION POSITION ATTEMPT MEMBER TYPE

    group_check.py processed ALL_NDJSON CATEGORY LOG... [--killed LOG --kill-us T]
        [--from-position P] [--restart-us T --checkpoint-before C]
Checks, over the logs given (each named by its file):
  - every event of CATEGORY in ALL_NDJSON (at or above --from-position) was processed at
    least once, and nothing else was;
  - per stream, in time order, versions never go back and grow by at most 1 (a repeat is a
    redelivery);
  - with --killed: a position processed twice was processed by the killed member (it was
    in flight at the kill) and again with attempt >= 2; every member processed something;
    a stream of the killed member went on with another member after the kill;
  - with --restart-us: nothing below the checkpoint stored before the restart was
    processed after it.
Prints each failed check and exits 1, else prints a summary and exits 0.
"""
import argparse
import json
import os
import sys


def read_rows(paths):
    rows = []
    for path in paths:
        name = os.path.basename(path).split(".")[0]
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) != 7:
                    continue  # a line cut by kill -9 cannot happen (one write), but be safe
                rows.append({"t": int(p[0]), "stream": p[1], "version": int(p[2]),
                             "position": int(p[3]), "attempt": int(p[4]), "member": name,
                             "type": p[6]})
    rows.sort(key=lambda r: r["t"])
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["processed"])
    ap.add_argument("all_ndjson")
    ap.add_argument("category")
    ap.add_argument("logs", nargs="+")
    ap.add_argument("--killed")
    ap.add_argument("--kill-us", type=int, default=0)
    ap.add_argument("--from-position", type=int, default=1)
    ap.add_argument("--restart-us", type=int, default=0)
    ap.add_argument("--checkpoint-before", type=int, default=0)
    a = ap.parse_args()

    errors = []
    events = [json.loads(l) for l in open(a.all_ndjson) if l.strip()]
    prefix = a.category + "-"
    expected = {e["position"]: e for e in events
                if e["stream"].startswith(prefix) and e["position"] >= a.from_position}
    rows = read_rows(a.logs + ([a.killed] if a.killed else []))
    rows = [r for r in rows if r["position"] >= a.from_position]
    done = {r["position"] for r in rows}

    missing = sorted(set(expected) - done)
    if missing:
        errors.append("%d events never processed, e.g. positions %s" % (len(missing), missing[:10]))
    extra = sorted(done - set(expected))
    if extra:
        errors.append("processed events that are not in category %s: %s" % (a.category, extra[:10]))
    for r in rows:
        e = expected.get(r["position"])
        if e and (e["stream"] != r["stream"] or e["version"] != r["version"]):
            errors.append("position %d delivered as %s v%d, stored as %s v%d" %
                          (r["position"], r["stream"], r["version"], e["stream"], e["version"]))
            break

    by_stream = {}
    for r in rows:
        by_stream.setdefault(r["stream"], []).append(r)
    for stream, rs in sorted(by_stream.items()):
        for x, y in zip(rs, rs[1:]):
            if not 0 <= y["version"] - x["version"] <= 1:
                errors.append("stream %s: v%d (%s, attempt %d) then v%d (%s, attempt %d)" %
                              (stream, x["version"], x["member"], x["attempt"], y["version"],
                               y["member"], y["attempt"]))
                break

    if a.killed:
        killed = os.path.basename(a.killed).split(".")[0]
        by_position = {}
        for r in rows:
            by_position.setdefault(r["position"], []).append(r)
        for p, rs in sorted(by_position.items()):
            if len(rs) > 1 and not (any(r["member"] == killed for r in rs) and
                                    max(r["attempt"] for r in rs) >= 2):
                errors.append("position %d processed %d times (%s) though %s did not hold it" %
                              (p, len(rs), [(r["member"], r["attempt"]) for r in rs], killed))
        members = {os.path.basename(p).split(".")[0] for p in a.logs} | {killed}
        idle = sorted(members - {r["member"] for r in rows})
        if idle:
            errors.append("members that processed nothing: %s" % idle)
        killed_streams = {r["stream"] for r in rows if r["member"] == killed}
        if not any(r["member"] != killed and r["t"] > a.kill_us and r["stream"] in killed_streams
                   for r in rows):
            errors.append("no stream of %s went on with another member after the kill" % killed)

    if a.restart_us:
        again = [r for r in rows if r["t"] > a.restart_us and r["position"] < a.checkpoint_before]
        if again:
            errors.append("%d events below the stored checkpoint %d were delivered again after "
                          "the restart, e.g. %s" % (len(again), a.checkpoint_before, again[:3]))

    for e in errors:
        print("group_check: " + e, file=sys.stderr)
    if errors:
        return 1
    print("group_check: %d deliveries of %d events over %d streams, %d redelivered" %
          (len(rows), len(expected), len(by_stream), len(rows) - len(done)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
