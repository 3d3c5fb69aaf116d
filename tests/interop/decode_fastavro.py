#!/usr/bin/env python3
"""decode_fastavro.py - proves that evstore records are standard Avro single-object encoding.

Decodes record values (one binary file per record) with Python's fastavro, knowing nothing
about evstore but the schema files in schemas/, and compares the result with the
expectation file the C side wrote (the fields evs_record_decode saw; format in
tests/interop/interop_json.h).

For every record it checks, independently of the C code:
  1. the single-object marker 0xC3 0x01;
  2. that bytes 2..9 are the CRC-64-AVRO fingerprint, little-endian, of the Parsing
     Canonical Form of one of the schemas/*.avsc files, as fastavro computes them
     (fastavro.schema.to_parsing_canonical_form and fastavro.schema.fingerprint);
  3. that fastavro.schemaless_reader decodes the rest with that schema and consumes every
     byte (no trailing garbage);
  4. that every decoded field equals the expectation, byte for byte for payloads;
  5. that decoding with the full schema (logical types on) gives the same UUIDs and times.

Usage:
  decode_fastavro.py --schemas DIR --records DIR [--expect FILE] [--appended FILE]
--expect defaults to RECORDS/expect.json. --appended names a JSON list of events the test
appended ({"stream", "type", "data", "metadata"?}); each must be found among the records
(payloads compared as bytes, or as JSON values when both sides are JSON).
Exit status 0 if everything matches, 1 otherwise (each problem is printed), 2 on usage.
"""

import argparse
import datetime
import glob
import io
import json
import os
import sys
import uuid

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

MAGIC = b"\xc3\x01"


def load_schemas(schema_dir):
    """Maps fingerprint bytes (as in the header) to (file name, raw schema, full schema)."""
    known = {}
    for path in sorted(glob.glob(os.path.join(schema_dir, "*.avsc"))):
        with open(path, encoding="utf-8") as f:
            text = json.load(f)
        canonical = to_parsing_canonical_form(text)
        fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))  # little-endian bytes
        # The canonical form has no logical types: decoding with it yields the raw Avro
        # values (uuid as text, timestamp as a long) to compare byte for byte.
        raw = fastavro.parse_schema(json.loads(canonical))
        full = fastavro.parse_schema(text)
        known[fp] = (os.path.basename(path), raw, full)
    return known


def decode_file(path, known):
    """Returns (schema file name, raw record, full record) or raises ValueError."""
    with open(path, "rb") as f:
        value = f.read()
    if value[:2] != MAGIC:
        raise ValueError("no single-object marker (starts with %r)" % value[:2])
    if len(value) < 10:
        raise ValueError("shorter than the 10-byte header")
    fp = value[2:10]
    if fp not in known:
        raise ValueError("fingerprint %s matches no schema in schemas/" % fp.hex())
    name, raw_schema, full_schema = known[fp]
    body = value[10:]
    records = []
    for schema in (raw_schema, full_schema):
        fo = io.BytesIO(body)
        try:
            records.append(fastavro.schemaless_reader(fo, schema))
        except (ValueError, OverflowError) as e:
            if schema is full_schema:  # a timestamp outside Python's datetime range
                records.append(e)
                continue
            raise
        if fo.tell() != len(body):
            raise ValueError("%d trailing bytes after the body" % (len(body) - fo.tell()))
    return name, records[0], records[1]


def compare(raw, full, want, problems, where):
    def check(what, got, expected):
        if got != expected:
            problems.append("%s: %s is %r, the C decoder saw %r" % (where, what, got, expected))

    for key in ("append_id", "stream", "expected_kind", "expected_version"):
        check(key, raw[key], want[key])
    check("event count", len(raw["events"]), len(want["events"]))
    for i, (ev, wev) in enumerate(zip(raw["events"], want["events"])):
        w = "event %d" % (i + 1)
        for key in ("event_id", "type", "content_type", "correlation_id", "causation_id",
                    "created"):
            check("%s %s" % (w, key), ev[key], wev[key])
        check(w + " data", ev["data"], bytes.fromhex(wev["data_hex"]))
        check(w + " metadata", ev["metadata"], bytes.fromhex(wev["metadata_hex"]))
    # With logical types: the same values seen as uuid.UUID and datetime.
    if isinstance(full, Exception):
        return
    check("append_id as UUID", full["append_id"], uuid.UUID(want["append_id"]))
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    for i, (ev, wev) in enumerate(zip(full["events"], want["events"])):
        check("event %d event_id as UUID" % (i + 1), ev["event_id"], uuid.UUID(wev["event_id"]))
        micros = (ev["created"] - epoch) // datetime.timedelta(microseconds=1)
        check("event %d created as timestamp-micros" % (i + 1), micros, wev["created"])


def same_payload(got, expected_text):
    if got == expected_text.encode("utf-8"):
        return True
    try:
        return json.loads(got) == json.loads(expected_text)
    except ValueError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--schemas", required=True)
    ap.add_argument("--records", required=True)
    ap.add_argument("--expect")
    ap.add_argument("--appended")
    args = ap.parse_args()

    known = load_schemas(args.schemas)
    if not known:
        print("no .avsc files in %s" % args.schemas, file=sys.stderr)
        return 2
    with open(args.expect or os.path.join(args.records, "expect.json"), encoding="utf-8") as f:
        expect = {r["file"]: r for r in json.load(f)["records"]}

    problems = []
    files = sorted(glob.glob(os.path.join(args.records, "*.bin")))
    decoded = []
    for path in files:
        name = os.path.basename(path)
        want = expect.get(name)
        if want is None:
            problems.append("%s: no expectation from the C side" % name)
            continue
        if "error" in want:
            problems.append("%s: the C decoder failed: %s" % (name, want["error"]))
            continue
        try:
            schema_file, raw, full = decode_file(path, known)
        except Exception as e:  # any fastavro failure is a finding, reported per file
            problems.append("%s: fastavro cannot decode it: %s: %s" % (name, type(e).__name__, e))
            continue
        compare(raw, full, want, problems, "%s (%s)" % (name, schema_file))
        decoded.append(raw)
    for name in sorted(set(expect) - {os.path.basename(p) for p in files}):
        problems.append("%s: expected but missing" % name)

    if args.appended:
        with open(args.appended, encoding="utf-8") as f:
            appended = json.load(f)
        events = [(r["stream"], e) for r in decoded for e in r["events"]]
        for a in appended:
            found = any(
                stream == a["stream"] and e["type"] == a["type"]
                and same_payload(e["data"], a["data"])
                and ("metadata" not in a or same_payload(e["metadata"], a["metadata"]))
                for stream, e in events)
            if not found:
                problems.append("appended event %r not found in the topic" % (a,))

    n_events = sum(len(r["events"]) for r in decoded)
    for p in problems:
        print("FAIL " + p, file=sys.stderr)
    print("fastavro %s decoded %d of %d records (%d events) with %d schema(s) from %s: %s"
          % (fastavro.__version__, len(decoded), len(files), n_events, len(known),
             args.schemas, "all match" if not problems else "%d problems" % len(problems)))
    if not files:
        print("FAIL no records to check", file=sys.stderr)
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
