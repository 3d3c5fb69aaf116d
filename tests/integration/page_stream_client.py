#!/usr/bin/env python3
"""page_stream_client.py - reads a subscription's binary framing (docs/HTTP-API.md,
"Subscriptions", "The binary framing") independently of libevstore: the frames by hand,
each events frame's EventPage with fastavro and schemas/evstore.EventPage.avsc alone.

  page_stream_client.py parse --schema FILE BODY
      Prints one JSON object for a captured body:
      {"kinds": "EEC", "pages": [{"count", "next", "end", "stream", "category", "type",
       "partition", "current_version", "first_version", "ids"}], "events": [...],
       "caught_up": [next, ...], "heartbeats": N, "partial": true|false}
      Each event is its page's record with data and metadata as base64 (metadata null when
      null). Only complete frames are read; "partial" says whether bytes of an incomplete
      frame follow. A frame that breaks the format (unknown kind, wrong length, a page that
      does not decode or does not consume its body) is an error (exit 1).

  page_stream_client.py compare --schema FILE --binary BODY --sse BODY --target T [--name N]
                                [--partition P]
      Checks a binary answer against the SSE answer of the same request (fetched with
      encoding=base64): the same events in the same order, every member equal (SSE's
      base64 data is the page's bytes; "" metadata is null; an erased or sealed event has
      data null in JSON and empty bytes in the page; subject, erased and sealed absent in
      JSON are null and false), the same caught-up positions; and the framing's own rules:
      1 to 1000 events per page, ids increasing, each page's next = its last id + 1 and end
      false, the page naming the target (T = all, stream, category or type; N its name, P
      the partition). Prints {"events": N, "pages": N, "caught_up": [...]}; exit 1 with
      each problem printed when anything differs.
"""

import argparse
import base64
import io
import json
import struct
import sys

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

MAGIC = b"\xc3\x01"
HEAD = 5
BODY_MAX = 2 * 1024 * 1024
PAGE_EVENTS_MAX = 1000


class Broken(Exception):
    pass


def without_logical_types(schema):
    """The schema with every logicalType dropped, so that fastavro gives the values as they
    are on the wire (the UUID's text, created_us as a number), as the JSON shows them."""
    if isinstance(schema, dict):
        return {k: without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [without_logical_types(v) for v in schema]
    return schema


def load_schema(path):
    with open(path) as f:
        raw = json.load(f)
    parsed = fastavro.parse_schema(without_logical_types(raw))
    # The fingerprint is of the file as it is (the canonical form has no logical types).
    fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(raw), "CRC-64-AVRO"))
    return parsed, fp


def b64(b):
    return None if b is None else base64.b64encode(b).decode()


def parse(body, schema, fp, id_of):
    out = {"kinds": "", "pages": [], "events": [], "caught_up": [], "heartbeats": 0,
           "partial": False}
    at = 0
    while at < len(body):
        if len(body) - at < HEAD:
            out["partial"] = True
            break
        kind = body[at:at + 1]
        (length,) = struct.unpack(">I", body[at + 1:at + HEAD])
        if kind == b"E":
            if length < 10 or length > BODY_MAX:
                raise Broken("byte %d: an events frame of %d bytes" % (at, length))
        elif kind == b"C":
            if length != 8:
                raise Broken("byte %d: a caught-up frame of %d bytes" % (at, length))
        elif kind == b"H":
            if length != 0:
                raise Broken("byte %d: a heartbeat frame of %d bytes" % (at, length))
        else:
            raise Broken("byte %d: a frame of unknown kind %r" % (at, kind))
        if len(body) - at - HEAD < length:
            out["partial"] = True
            break
        frame = body[at + HEAD:at + HEAD + length]
        out["kinds"] += kind.decode()
        if kind == b"C":
            out["caught_up"].append(struct.unpack(">Q", frame)[0])
        elif kind == b"H":
            out["heartbeats"] += 1
        else:
            if frame[:2] != MAGIC or frame[2:10] != fp:
                raise Broken("byte %d: a page without the header of evstore.EventPage "
                             "(%s)" % (at, frame[:10].hex()))
            f = io.BytesIO(frame[10:])
            page = fastavro.schemaless_reader(f, schema)
            if f.tell() != length - 10:
                raise Broken("byte %d: the page ends at %d of %d bytes" % (at, f.tell() + 10,
                                                                          length))
            ids = [id_of(e) for e in page["events"]]
            out["pages"].append({k: page[k] for k in ("next", "end", "stream", "category",
                                                     "type", "partition", "current_version",
                                                     "first_version")})
            out["pages"][-1].update(count=len(ids), ids=ids)
            for e in page["events"]:
                e = dict(e, data=b64(e["data"]), metadata=b64(e["metadata"]))
                out["events"].append(e)
        at += HEAD + length
    return out


def sse_parse(text):
    """The events (JSON objects, with the SSE id as "_id") and caught-up positions."""
    events, caught_up = [], []
    data, kind, last_id = [], "", ""
    for line in text.replace("\r\n", "\n").split("\n"):
        if line == "":
            if data:
                payload = json.loads("\n".join(data))
                if kind == "event":
                    events.append(dict(payload, _id=int(last_id)))
                elif kind == "caught-up":
                    caught_up.append(payload["next"])
            data, kind = [], ""
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            elif name == "event":
                kind = value
            elif name == "id":
                last_id = value
    return events, caught_up


def compare(args, schema, fp):
    problems = []
    by_version = args.target == "stream"
    id_of = (lambda e: e["version"]) if by_version else (lambda e: e["position"])
    with open(args.binary, "rb") as f:
        got = parse(f.read(), schema, fp, id_of)
    with open(args.sse, encoding="utf-8") as f:
        want, want_caught_up = sse_parse(f.read())

    if got["partial"]:
        problems.append("the binary answer ends inside a frame")
    if not got["kinds"].endswith("C") or got["kinds"].count("C") != 1:
        problems.append("not one caught-up frame at the end: %s" % got["kinds"])
    if got["caught_up"] != want_caught_up:
        problems.append("caught-up %s, SSE says %s" % (got["caught_up"], want_caught_up))
    last = 0
    for i, p in enumerate(got["pages"]):
        if not 1 <= p["count"] <= PAGE_EVENTS_MAX:
            problems.append("page %d holds %d events" % (i, p["count"]))
        if p["ids"] and p["ids"][0] <= last or p["ids"] != sorted(set(p["ids"])):
            problems.append("page %d: ids do not increase: %s after %d" % (i, p["ids"][:3], last))
        last = p["ids"][-1] if p["ids"] else last
        if p["next"] != last + 1 or p["end"] is not False:
            problems.append("page %d: next %s, end %s after id %d" % (i, p["next"], p["end"],
                                                                     last))
        named = {"stream": None, "category": None, "type": None,
                 "partition": None if by_version else args.partition}
        if args.target != "all":
            named[args.target] = args.name
        for k, v in named.items():
            if p[k] != v:
                problems.append("page %d: %s is %r, not %r" % (i, k, p[k], v))
        if p["current_version"] is not None or p["first_version"] is not None:
            problems.append("page %d: a version member is set" % i)

    if len(got["events"]) != len(want):
        problems.append("%d events, SSE has %d" % (len(got["events"]), len(want)))
    for g, w in zip(got["events"], want):
        hidden = w.get("erased") or w.get("sealed")
        expect = {
            "event_id": w["event_id"], "stream": w["stream"], "type": w["type"],
            "version": w["version"], "position": w["position"], "partition": w["partition"],
            "created_us": w["created_us"], "content_type": w["content_type"],
            "data": "" if hidden else w["data"],
            "metadata": w["metadata"] or None,
            "correlation_id": w["correlation_id"], "causation_id": w["causation_id"],
            "subject": w.get("subject"), "erased": bool(w.get("erased")),
            "sealed": bool(w.get("sealed")),
        }
        if w["_id"] != id_of(w):
            problems.append("SSE id %d is not the event's" % w["_id"])
        for k, v in expect.items():
            if g[k] != v:
                problems.append("event %s: %s is %.80r in the page, %.80r in SSE" %
                                (w["_id"], k, g[k], v))
        if len(problems) > 20:
            break
    for p in problems:
        print("MISMATCH: " + p, file=sys.stderr)
    print(json.dumps({"events": len(got["events"]), "pages": len(got["pages"]),
                      "caught_up": got["caught_up"]}))
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("parse")
    p.add_argument("--schema", required=True)
    p.add_argument("--by-version", action="store_true", help="ids are versions (a stream)")
    p.add_argument("body")
    c = sub.add_parser("compare")
    c.add_argument("--schema", required=True)
    c.add_argument("--binary", required=True)
    c.add_argument("--sse", required=True)
    c.add_argument("--target", required=True, choices=["all", "stream", "category", "type"])
    c.add_argument("--name")
    c.add_argument("--partition", type=int, default=0)
    args = ap.parse_args()
    schema, fp = load_schema(args.schema)
    try:
        if args.cmd == "compare":
            return compare(args, schema, fp)
        with open(args.body, "rb") as f:
            body = f.read()
        key = "version" if args.by_version else "position"
        print(json.dumps(parse(body, schema, fp, lambda e: e[key])))
        return 0
    except Broken as e:
        print("BROKEN: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
