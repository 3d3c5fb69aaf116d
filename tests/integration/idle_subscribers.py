#!/usr/bin/env python3
"""idle_subscribers.py - holds N idle subscriptions open against a projector.

  idle_subscribers.py URL N READY_FILE [--expect-refused K]

Opens N connections to GET /subscriptions/streams/Idle-<i> (follow), reads each one's
answer up to the caught-up event, then writes "open N" to READY_FILE and keeps every
connection open, reading nothing, until SIGTERM (or standard input closes). On SIGTERM it
counts the connections still open (none closed by the projector) and prints
"still-open M". With --expect-refused K, the last K of the N must be refused with 503 and
a message naming subscriptions; it prints what they said. Exit 0 when every connection did
what was expected.
"""
import signal
import socket
import sys
import time
import urllib.parse


def open_one(host, port, path, timeout=30):
    s = socket.create_connection((host, port), timeout=timeout)
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n\r\n"
               % (path, host, port)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise OSError("closed before the answer's head")
        buf += chunk
    status = int(buf.split(b" ", 2)[1])
    if status != 200:
        head, _, body = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            body += chunk
        s.close()
        return status, None, (head + b"\r\n\r\n" + body).decode(errors="replace")
    while b"caught-up" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise OSError("closed before caught-up")
        buf += chunk
    return status, s, ""


def main():
    url, n, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    refused = int(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[4] == "--expect-refused" else 0
    u = urllib.parse.urlsplit(url)
    socks, bad = [], 0
    t0 = time.monotonic()
    for i in range(n):
        status, s, text = open_one(u.hostname, u.port, "/subscriptions/streams/Idle-%d" % i)
        expect_refused = i >= n - refused
        if s:
            socks.append(s)
            if expect_refused:
                print("subscription %d was accepted, expected 503" % i, flush=True)
                bad += 1
        elif not expect_refused or status != 503 or "subscriptions" not in text:
            print("subscription %d: HTTP %d: %s" % (i, status, text[-300:]), flush=True)
            bad += 1
        else:
            print("refused as expected: %s" % text.split("\r\n\r\n", 1)[-1][:300], flush=True)
    print("open %d subscriptions in %.1f s" % (len(socks), time.monotonic() - t0), flush=True)
    with open(ready, "w") as f:
        f.write("open %d\n" % len(socks))
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    while not stop:
        time.sleep(0.2)
    alive = 0
    for s in socks:
        s.setblocking(False)
        try:
            data = s.recv(65536, socket.MSG_PEEK)
            alive += 1 if data else 0
        except BlockingIOError:
            alive += 1  # nothing to read, not closed
        except OSError:
            pass
        s.close()
    print("still-open %d" % alive, flush=True)
    return 0 if bad == 0 and alive == len(socks) else 1


if __name__ == "__main__":
    sys.exit(main())
