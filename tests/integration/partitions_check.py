#!/usr/bin/env python3
"""partitions_check.py - the checks of partitions_test.sh on the CLI's NDJSON output.

Each EXPECTED file is one partition's own read (`evstore read-all --partition P`, or
read-category / read-type): that partition's events in position order, lines without a
"partition" member. Partition P is the P-th file.

  partitions_check.py read EXPECTED0 EXPECTED1 EXPECTED2 ACROSS
      ACROSS (a read across partitions) is every expected event once, each line naming its
      partition and otherwise equal to the partition's own line, partition 0 first: the
      pages come partition after partition.

  partitions_check.py union EXPECTED0 EXPECTED1 EXPECTED2 FIRST VECTOR REST
      FIRST is a subscription stopped part-way, VECTOR the resume vector it printed, REST
      the subscription resumed from it. Each of FIRST and REST holds each partition's events
      in position order; VECTOR is, per partition, the position after the last event FIRST
      printed there (1 where it printed none: it began at the start); FIRST then REST is
      every expected event exactly once: no gap, no duplicate.

Exits 0 when the check holds, else 1 with the reason on stderr.
"""
import json
import sys


def lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def fail(message):
    print("partitions_check: " + message, file=sys.stderr)
    sys.exit(1)


def without_partition(event):
    return {k: v for k, v in event.items() if k != "partition"}


def check_order(name, events, expected):
    """Every line names a partition we have; each partition's lines in position order."""
    last = {}
    for n, e in enumerate(events, 1):
        p = e.get("partition")
        if p not in range(len(expected)):
            fail("%s line %d: partition %r is not 0..%d: %s" % (name, n, p, len(expected) - 1, e))
        if e["position"] <= last.get(p, 0):
            fail("%s line %d: partition %d position %d after %d: out of order or repeated"
                 % (name, n, p, e["position"], last[p]))
        last[p] = e["position"]
    return last


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    expected = [lines(path) for path in args[:3]]
    by_key = {(p, e["position"]): e for p in range(3) for e in expected[p]}
    if mode == "read":
        across = lines(args[3])
        check_order("the read across partitions", across, expected)
        got = [(e["partition"], without_partition(e)) for e in across]
        if got != [(p, e) for p in range(3) for e in expected[p]]:
            fail("the read across partitions (%d lines) is not each partition's own read "
                 "(%s lines), partition after partition" % (len(across), [len(x) for x in expected]))
    elif mode == "union":
        first, vector, rest = lines(args[3]), args[4].strip(), lines(args[5])
        last = check_order("the first subscription", first, expected)
        check_order("the resumed subscription", rest, expected)
        want_vector = ",".join("%d:%d" % (p, last.get(p, 0) + 1) for p in range(3))
        if vector != want_vector:
            fail("the resume vector is %r, but the events printed say %r" % (vector, want_vector))
        seen = {}
        for e in first + rest:
            key = (e["partition"], e["position"])
            if key in seen:
                fail("partition %d position %d delivered twice" % key)
            if key not in by_key or without_partition(e) != by_key[key]:
                fail("partition %d position %d is not the event the partition's read has: %s"
                     % (key[0], key[1], e))
            seen[key] = e
        missing = sorted(set(by_key) - set(seen))
        if missing:
            fail("%d events never delivered (a gap), the first (partition, position) %s"
                 % (len(missing), missing[:5]))
    else:
        fail("unknown mode " + mode)


if __name__ == "__main__":
    main()
