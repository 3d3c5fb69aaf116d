#!/usr/bin/env python3
"""sse_client.py - Server-Sent Events helpers of the integration tests, independent of
libevstore (so they check the projector, not our client).

  sse_client.py parse FILE
      Parses a captured text/event-stream body and prints one JSON object:
      {"events": [[id, event_id, stream, version, position, data_base64], ...],
       "caught_up": [next, ...], "comments": N, "partial": true|false}
      Only complete events (ended by an empty line) are listed; "partial" says whether
      bytes of an incomplete event follow the last one.

  sse_client.py stall --url URL --count N --ready FILE --go FILE --out FILE [--rcvbuf B]
      Sends GET URL on a socket with a small receive buffer, writes FILE --ready, then does
      not read until FILE --go exists (a stalled subscriber). Then reads until N events
      arrived (or 120 s passed) and writes the parsed result to --out: as for parse, but
      the events without their data, only the first N, plus "status" (the status line).
"""
import argparse
import json
import os
import socket
import sys
import time
import urllib.parse


def parse_stream(text):
    """The events, caught-up markers and comments of an event stream (LF, CRLF or CR)."""
    events, caught_up, comments = [], [], 0
    data, etype, last_id = [], "", ""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    partial = bool(lines and lines[-1])  # text not ending in a line end
    complete_lines = lines[:-1]
    pending = False
    for line in complete_lines:
        if line == "":
            if data:
                payload = "\n".join(data)
                if etype == "event":
                    e = json.loads(payload)
                    events.append([int(last_id), e["event_id"], e["stream"], e["version"],
                                   e["position"], e["data"]])
                elif etype == "caught-up":
                    caught_up.append(json.loads(payload).get("next"))
            data, etype, pending = [], "", False
            continue
        if line.startswith(":"):
            comments += 1
            continue
        pending = True
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "event":
            etype = value
        elif field == "id":
            last_id = value
    return {"events": events, "caught_up": caught_up, "comments": comments,
            "partial": partial or pending}


def stall(args):
    url = urllib.parse.urlsplit(args.url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small receive buffer keeps the kernel from absorbing what the server should hold.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
    sock.connect((url.hostname, url.port))
    path = url.path + ("?" + url.query if url.query else "")
    sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
                  "Connection: close\r\n\r\n" % (path, url.hostname, url.port)).encode())
    with open(args.ready, "w") as f:
        f.write("sent\n")
    while not os.path.exists(args.go):
        time.sleep(0.1)
    deadline = time.monotonic() + 120
    sock.settimeout(5)
    head = bytearray()
    decoder = Dechunker()
    # The server writes LF line ends: the last wanted event has the line "id: N".
    marker = b"\nid: %d\n" % args.count
    searched = 0
    at = -1
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 16)
        except socket.timeout:
            continue
        if not chunk:
            break
        if not decoder.started:
            head += chunk
            end = head.find(b"\r\n\r\n")
            if end < 0:
                continue
            decoder.started = True
            chunk = bytes(head[end + 4:])
            head = head[:end]
        decoder.feed(chunk)
        body = decoder.body
        if at < 0:
            at = body.find(marker, max(0, searched - len(marker)))
            searched = len(body)
        if at >= 0 and body.find(b"\n\n", at + 1) >= 0:
            break
    sock.close()
    result = parse_stream(bytes(decoder.body).decode("utf-8", "replace"))
    result["status"] = bytes(head.split(b"\r\n")[0]).decode("latin-1")
    del result["events"][args.count:]
    result["events"] = [e[:5] for e in result["events"]]  # no payloads: keep the file small
    with open(args.out, "w") as f:
        json.dump(result, f)


class Dechunker:
    """Decodes HTTP/1.1 chunked transfer encoding incrementally into self.body."""

    def __init__(self):
        self.started = False
        self.body = bytearray()
        self.pending = bytearray()
        self.remaining = 0  # bytes of the current chunk still to come
        self.need_crlf = False

    def feed(self, data):
        self.pending += data
        while True:
            if self.remaining > 0:
                take = min(self.remaining, len(self.pending))
                if take == 0:
                    return
                self.body += self.pending[:take]
                del self.pending[:take]
                self.remaining -= take
                if self.remaining == 0:
                    self.need_crlf = True
                continue
            if self.need_crlf:
                if len(self.pending) < 2:
                    return
                del self.pending[:2]
                self.need_crlf = False
            end = self.pending.find(b"\r\n")
            if end < 0:
                return
            size = int(bytes(self.pending[:end]).split(b";")[0], 16)
            del self.pending[:end + 2]
            if size == 0:
                return
            self.remaining = size


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("parse")
    p.add_argument("file")
    s = sub.add_parser("stall")
    s.add_argument("--url", required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--ready", required=True)
    s.add_argument("--go", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--rcvbuf", type=int, default=4096)
    args = parser.parse_args()
    if args.cmd == "parse":
        with open(args.file, encoding="utf-8", errors="replace") as f:
            print(json.dumps(parse_stream(f.read())))
    else:
        stall(args)


if __name__ == "__main__":
    sys.exit(main())
