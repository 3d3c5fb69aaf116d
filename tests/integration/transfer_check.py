"""transfer_check.py - helpers of transfer_test.sh for `evstore export` / `import`.

  transfer_check.py same A.ndjson B.ndjson
      exit 0 when the two exports hold the same events: per (stream, version) the same
      event id, type, content type, data and metadata (as exported: embedded JSON or
      base64 of the exact bytes) and correlation and causation ids; prints the count.
  transfer_check.py partial FULL.ndjson OUT.ndjson STREAM KEEP
      writes the lines of STREAM up to version KEEP and the first half of every other
      stream's lines: an import that stopped part-way, cut inside a run.
  transfer_check.py pg EXPORT.ndjson PG_ROWS.tsv [--text]
      exit 0 when the export holds exactly the rows psql printed (stream, version, event id,
      type, data, metadata, tab-separated, \\N for NULL), data and metadata equal as JSON
      (or, with --text, data that is not JSON equal as text with content type text/plain).
"""
import json
import sys

KEYS = ("event_id", "type", "content_type", "data", "data_encoding", "metadata",
        "metadata_encoding", "correlation_id", "causation_id")


def load(path):
    events = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            e = json.loads(line)
            key = (e["stream"], e["version"])
            if key in events:
                sys.exit("%s line %d: %s version %d twice" % (path, n, *key))
            events[key] = tuple(json.dumps(e.get(k), sort_keys=True) for k in KEYS)
    return events


def same(a, b):
    ea, eb = load(a), load(b)
    if ea != eb:
        only_a = sorted(set(ea) - set(eb))[:5]
        only_b = sorted(set(eb) - set(ea))[:5]
        diff = [k for k in ea if k in eb and ea[k] != eb[k]][:3]
        sys.exit("exports differ: only in first %s, only in second %s, different %s"
                 % (only_a, only_b, [(k, ea[k], eb[k]) for k in diff]))
    print(len(ea))


def partial(full, out, stream, keep):
    lines = [l for l in open(full) if l.strip()]
    by_stream = {}
    for l in lines:
        by_stream.setdefault(json.loads(l)["stream"], []).append(l)
    with open(out, "w") as f:
        for s, ls in by_stream.items():
            if s == stream:
                f.writelines(l for l in ls if json.loads(l)["version"] <= int(keep))
            else:
                f.writelines(ls[: len(ls) // 2])


def pg(export, rows, text_mode):
    exported = {}
    for line in open(export):
        if line.strip():
            e = json.loads(line)
            exported[(e["stream"], e["version"])] = e
    seen = 0
    for line in open(rows):
        line = line.rstrip("\n")
        if not line:
            continue
        stream, version, event_id, etype, data, metadata = line.split("\t")
        e = exported.get((stream, int(version)))
        if e is None:
            sys.exit("row %s %s not imported" % (stream, version))
        if e["event_id"] != event_id or e["type"] != etype:
            sys.exit("row %s %s: id/type %s %s, imported %s %s"
                     % (stream, version, event_id, etype, e["event_id"], e["type"]))
        try:
            want = json.loads(data)
            ok = e["content_type"] == "application/json" and e["data"] == want
        except ValueError:
            ok = text_mode and e["content_type"].startswith("text/plain") and \
                e.get("data_encoding") == "base64" and \
                __import__("base64").b64decode(e["data"]).decode() == data
        if not ok:
            sys.exit("row %s %s: data %r, imported %r" % (stream, version, data, e))
        want_meta = None if metadata == "\\N" else json.loads(metadata)
        if e["metadata"] != want_meta:
            sys.exit("row %s %s: metadata %r, imported %r" % (stream, version, metadata,
                                                              e["metadata"]))
        seen += 1
    if seen != len(exported):
        sys.exit("%d rows, %d events imported" % (seen, len(exported)))
    print(seen)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "same":
        same(sys.argv[2], sys.argv[3])
    elif cmd == "partial":
        partial(*sys.argv[2:6])
    elif cmd == "pg":
        pg(sys.argv[2], sys.argv[3], "--text" in sys.argv[4:])
    else:
        sys.exit(__doc__)
