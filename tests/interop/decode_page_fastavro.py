#!/usr/bin/env python3
"""decode_page_fastavro.py - proves that the projector's binary page of events is standard
Avro single-object encoding (docs/HTTP-API.md, "The binary page").

Decodes a page fetched with "Accept: application/vnd.evstore.page+avro" with Python's
fastavro, knowing nothing but schemas/evstore.EventPage.avsc, and compares it with the JSON
page of the same request (fetched with encoding=base64, so payloads are exact bytes):
  1. the single-object marker 0xC3 0x01;
  2. bytes 2..9 are the CRC-64-AVRO fingerprint, little-endian, of the schema's Parsing
     Canonical Form as fastavro computes it;
  3. fastavro.schemaless_reader decodes the rest and consumes every byte;
  4. every page member and every member of every event equals the JSON page's, payloads
     byte for byte (empty metadata is "" in JSON and null in the binary page), with the
     members of EventPage v2: the page's first_version (stream reads; null for the others)
     and each event's subject, erased and sealed (the JSON page has subject only for
     personal data, erased and sealed only when true, and data null where the binary page
     has empty bytes: an erased or sealed event).

Usage: decode_page_fastavro.py --schema FILE --binary FILE --json FILE [--min-events N]
Exit status 0 if everything matches, 1 otherwise (each problem is printed).
"""

import argparse
import base64
import io
import json
import sys

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

MAGIC = b"\xc3\x01"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--schema", required=True)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--min-events", type=int, default=1)
    args = ap.parse_args()
    problems = []

    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)
    canonical = to_parsing_canonical_form(schema)
    fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    raw_schema = fastavro.parse_schema(json.loads(canonical))
    with open(args.binary, "rb") as f:
        value = f.read()
    with open(args.json, encoding="utf-8") as f:
        want = json.load(f)

    if value[:2] != MAGIC:
        problems.append("no single-object marker (starts with %r)" % value[:2])
    elif value[2:10] != fp:
        problems.append("fingerprint %s, the schema's is %s" % (value[2:10].hex(), fp.hex()))
    else:
        fo = io.BytesIO(value[10:])
        page = fastavro.schemaless_reader(fo, raw_schema)
        if fo.tell() != len(value) - 10:
            problems.append("%d bytes follow the page" % (len(value) - 10 - fo.tell()))
        compare(page, want, problems)
        if len(page["events"]) < args.min_events:
            problems.append("%d events, expected at least %d" % (len(page["events"]),
                                                                  args.min_events))

    for p in problems:
        print("FAIL " + p, file=sys.stderr)
    n = len(want.get("events", []))
    print("fastavro %s decoded a %d-byte binary page (%d events) with %s: %s"
          % (fastavro.__version__, len(value), n, args.schema,
             "same as the JSON page" if not problems else "%d problems" % len(problems)))
    return 1 if problems else 0


def compare(page, want, problems):
    is_stream = "end_of_stream" in want
    expect = {
        "stream": want.get("stream") if is_stream else None,
        "current_version": want.get("current_version") if is_stream else None,
        "category": want.get("category"),
        "type": want.get("type"),
        "partition": None if is_stream else want.get("partition"),
        "next": want["next"],
        "end": want["end_of_stream"] if is_stream else want["end"],
        "first_version": want["first_version"] if is_stream else None,
    }
    if set(page) != set(expect) | {"events"}:
        problems.append("the page has members %s" % sorted(page))
    for key, value in expect.items():
        if page[key] != value:
            problems.append("page member %s: %r, JSON says %r" % (key, page[key], value))
    if len(page["events"]) != len(want["events"]):
        problems.append("%d events, JSON has %d" % (len(page["events"]), len(want["events"])))
    for i, (got, w) in enumerate(zip(page["events"], want["events"])):
        metadata = base64.b64decode(w["metadata"]) if w["metadata"] else None
        data = base64.b64decode(w["data"]) if w["data"] is not None else b""
        expect = {
            "event_id": w["event_id"], "stream": w["stream"], "type": w["type"],
            "version": w["version"], "position": w["position"], "partition": w["partition"],
            "created_us": w["created_us"], "content_type": w["content_type"],
            "data": data, "metadata": metadata,
            "correlation_id": w["correlation_id"], "causation_id": w["causation_id"],
            "subject": w.get("subject"), "erased": w.get("erased", False),
            "sealed": w.get("sealed", False),
        }
        if set(got) != set(expect):
            problems.append("event %d has members %s" % (i, sorted(got)))
        for key, value in expect.items():
            if got.get(key) != value:
                problems.append("event %d member %s: %r, JSON says %r"
                                % (i, key, got.get(key), value))


if __name__ == "__main__":
    sys.exit(main())
