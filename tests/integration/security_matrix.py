#!/usr/bin/env python3
"""security_matrix.py - every operation of docs/openapi.yaml refuses what it must.

Against a projector with a token file (integration.security, security_test.sh), for each
operation of the document but the open ones (/health, /ui), asks with:

  none        no Authorization header                        -> 401, WWW-Authenticate: Bearer
  malformed   "Basic ...", "Bearer" alone, "Bearer a b"        -> 401, error="invalid_request"
  unknown     a well-formed token that is not in the file      -> 401, error="invalid_token"
  scope       a valid token without the scope it needs         -> 403, error="insufficient_scope"
  prefix      a valid token of the right scope whose prefix does not cover the stream,
              category or name, or a prefixed token on what spans every stream ($all,
              types, the list of groups)                      -> 403

Every body is valid for the operation, so a missing check would read or write. The scope
each operation needs comes from docs/SECURITY.md ("Scopes"), written out here, not from the
server's table. Then, with the admin token, nothing was written: no offsets moved in the
events topic, and no stream, checkpoint, snapshot or group of the names used exists.
Positive controls show that the right token passes each class of route.
Exit 0 when every check passed.
"""
import argparse
import http.client
import json
import ssl
import sys
import urllib.parse
import uuid

import yaml

FAILS = []
CHECKS = [0]


def failed(msg):
    FAILS.append(msg)
    print("FAIL: " + msg, flush=True)


def call(base, ctx, method, path, token=None, header=None, body=None):
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)
    headers = {"Accept": "application/json"}
    if header is not None:
        headers["Authorization"] = header
    elif token is not None:
        headers["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    payload = r.read()
    www = r.getheader("WWW-Authenticate") or ""
    conn.close()
    return r.status, www, payload


# What each operation needs (docs/SECURITY.md, "Scopes"): the scope, and what a prefix must
# cover: "stream" (the {stream} or {name} parameter), "category", "any" (a prefix does not
# matter), "all" (spans every stream: only a scope without a prefix).
def needs(template, method):
    if template in ("/status", "/cluster"):
        return "any", "any"
    if template == "/metrics":
        return "read", "any"
    if template.startswith("/verdicts/") or template == "/verdicts":
        return "verdict", "any"
    # A subject's keys travel sealed by the master key: read or append with any prefix may
    # fetch or make them (like a verdict); forgetting needs admin without a prefix.
    if template == "/keys/{subject}":
        return ("admin", "all") if method == "delete" else ("verdict", "any")
    if template.startswith("/checkpoints/") or template.startswith("/snapshots/"):
        return "admin", "stream"
    if template == "/groups":
        return "admin", "all"
    if template.startswith("/groups/"):
        return "admin", "stream"
    if template == "/streams/{stream}" and method in ("post", "delete"):
        return "append", "stream"
    if template in ("/streams/{stream}/truncate", "/streams/{stream}/limits"):
        return "append", "stream"
    if template == "/streams/{stream}/metadata":
        return "read", "stream"
    if template in ("/streams/{stream}", "/subscriptions/streams/{stream}"):
        return "read", "stream"
    if template in ("/categories/{category}", "/subscriptions/categories/{category}"):
        return "read", "category"
    # /all, /types/{type}, /subscriptions/all, /subscriptions/types/{type}, GET /streams
    return "read", "all"


def fill(template, inside):
    """The path for template, with names inside or outside the prefixed tokens' prefixes."""
    names = {"stream": "Order-m1" if inside else "Invoice-m1",
             "category": "Order" if inside else "Invoice",
             "name": "Order-g1" if inside else "Invoice-g1",
             "type": "MatrixType", "append_id": str(uuid.uuid4()), "member_id": "m-1",
             "subject": "matrix:subject-1"}
    path = template
    for k, v in names.items():
        path = path.replace("{%s}" % k, v)
    return path


def body_of(template, method):
    if method == "post" and template == "/streams/{stream}":
        return {"expected": "any", "events": [{"type": "MatrixType", "data": {"x": 1}}]}
    if template == "/streams/{stream}/truncate":
        return {"before": 1}
    if template == "/streams/{stream}/limits":
        return {"max_count": 1}
    if method == "put" and template.startswith("/checkpoints/"):
        return {"position": 5}
    if method == "put" and template.startswith("/snapshots/"):
        return {"version": 1, "data": {"state": 1}}
    if method == "put" and template == "/groups/{name}":
        return {"source": "category:Order"}
    if template.endswith("/ack") or template.endswith("/nack"):
        return {"member_id": "m-1", "positions": [1]}
    if method == "post":
        return {}
    return None


def expect_refusal(what, got, status, challenge):
    CHECKS[0] += 1
    code, www, payload = got
    if code != status:
        failed("%s: status %d, expected %d: %.200r" % (what, code, status, payload))
        return
    try:
        doc = json.loads(payload)
        if not isinstance(doc, dict) or not isinstance(doc.get("error"), str) or len(doc) != 1:
            failed("%s: the body is not an Error object: %.200r" % (what, payload))
    except ValueError:
        failed("%s: the body is not JSON: %.200r" % (what, payload))
    if not www.startswith("Bearer"):
        failed("%s: WWW-Authenticate is %r, expected Bearer ..." % (what, www))
    if challenge and challenge not in www:
        failed("%s: WWW-Authenticate %r lacks %s" % (what, www, challenge))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--spec", required=True)
    # Tokens: admin+read+append; read:Order- append:Order-; read; append; admin:Order-
    ap.add_argument("--admin", required=True)
    ap.add_argument("--order", required=True)
    ap.add_argument("--reader", required=True)
    ap.add_argument("--appender", required=True)
    ap.add_argument("--admin-order", required=True)
    a = ap.parse_args()
    ctx = ssl.create_default_context(cafile=a.ca)
    spec = yaml.safe_load(open(a.spec))

    def status_offsets():
        code, _, payload = call(a.url, ctx, "GET", "/status", token=a.admin)
        if code != 200:
            failed("GET /status with the admin token: %d %.200r" % (code, payload))
            return None
        return [p["next_offset"] for p in json.loads(payload)["partitions"]]

    before = status_offsets()
    ops = 0
    for template, item in spec["paths"].items():
        for method, op in item.items():
            if method not in ("get", "put", "post", "delete"):
                continue
            if template in ("/health", "/ui", "/ui/{file}"):
                continue
            if "401" not in op.get("responses", {}) or "403" not in op["responses"]:
                failed("%s %s: 401 and 403 are not documented" % (method.upper(), template))
            ops += 1
            scope, cover = needs(template, method)
            path = fill(template, inside=True)
            body = body_of(template, method)
            what = "%s %s" % (method.upper(), path)
            M = method.upper()
            expect_refusal(what + " without a token",
                           call(a.url, ctx, M, path, body=body), 401, None)
            for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "Bearer\tx\ty"):
                expect_refusal("%s with Authorization %r" % (what, header),
                               call(a.url, ctx, M, path, header=header, body=body), 401,
                               'error="invalid_request"')
            expect_refusal(what + " with an unknown token",
                           call(a.url, ctx, M, path, token="evs_" + uuid.uuid4().hex * 2,
                                body=body), 401, 'error="invalid_token"')
            # The wrong scope: a token without the scope the operation needs.
            wrong = {"read": a.appender, "append": a.reader, "admin": a.order,
                     "verdict": a.admin_order, "any": None}[scope]
            if wrong:
                expect_refusal(what + " with a token of another scope",
                               call(a.url, ctx, M, path, token=wrong, body=body), 403,
                               'error="insufficient_scope"')
            # Outside the prefix.
            prefixed = a.admin_order if scope == "admin" else a.order
            if cover in ("stream", "category"):
                outside = fill(template, inside=False)
                expect_refusal("%s %s with a token whose prefix does not cover it" % (M, outside),
                               call(a.url, ctx, M, outside, token=prefixed, body=body), 403,
                               'error="insufficient_scope"')
            elif cover == "all":
                expect_refusal(what + " with a prefixed token (it spans every stream)",
                               call(a.url, ctx, M, path, token=prefixed, body=body), 403,
                               'error="insufficient_scope"')

    # Nothing was written.
    after = status_offsets()
    CHECKS[0] += 1
    if before != after:
        failed("the events topic's offsets moved during the matrix: %r -> %r" % (before, after))
    for path in ("/streams/Order-m1", "/streams/Invoice-m1", "/checkpoints/Order-g1",
                 "/checkpoints/Invoice-g1", "/snapshots/Order-m1", "/snapshots/Invoice-m1",
                 "/groups/Order-g1", "/groups/Invoice-g1"):
        CHECKS[0] += 1
        code, _, payload = call(a.url, ctx, "GET", path, token=a.admin)
        if code != 404:
            failed("GET %s with the admin token: %d, expected 404 (nothing written): %.200r"
                   % (path, code, payload))
    # No key was made for the matrix's subject (the projector has a master key: a POST that
    # passed would have made one).
    CHECKS[0] += 1
    code, _, payload = call(a.url, ctx, "GET", "/keys/matrix:subject-1", token=a.admin)
    if code != 404:
        failed("GET /keys/matrix:subject-1 with the admin token: %d, expected 404 (no key "
               "made): %.200r" % (code, payload))
    code, _, payload = call(a.url, ctx, "GET", "/groups", token=a.admin)
    CHECKS[0] += 1
    if code != 200 or {g["name"] for g in json.loads(payload)["groups"]} & {"Order-g1", "Invoice-g1"}:
        failed("GET /groups with the admin token: %d %.200r, expected neither Order-g1 nor "
               "Invoice-g1" % (code, payload))

    # Positive controls: the right token passes each class of check.
    controls = [("GET", "/status", a.reader, None, 200),
                ("GET", "/streams/Order-1", a.order, None, 200),
                ("GET", "/categories/Order?partition=0", a.reader, None, 200),
                ("GET", "/all?partition=0", a.reader, None, 200),
                ("GET", "/types/Placed?partition=0", a.reader, None, 200),
                ("GET", "/checkpoints/Order-none", a.admin_order, None, 404),
                ("GET", "/metrics", a.order, None, 200),
                ("GET", "/verdicts/" + str(uuid.uuid4()) + "?timeout_ms=0", a.appender, None, 404),
                # Many verdicts: read or append of any prefix (an empty list is a 400, so
                # the answer does not depend on what the topic holds).
                ("POST", "/verdicts", a.appender, {"verdicts": []}, 400),
                ("POST", "/verdicts", a.reader, {"verdicts": []}, 400),
                ("POST", "/verdicts", a.order, {"verdicts": []}, 400),
                ("GET", "/health", None, None, 200),
                # A subject's keys: made and fetched with read or append of any prefix,
                # forgotten with admin without a prefix.
                ("POST", "/keys/ctl:subject-1", a.order, {}, 201),
                ("POST", "/keys/ctl:subject-1", a.appender, {}, 200),
                ("GET", "/keys/ctl:subject-1", a.reader, None, 200),
                ("GET", "/keys/ctl:subject-1", a.order, None, 200),
                ("DELETE", "/keys/ctl:subject-1", a.admin_order, None, 403),
                ("DELETE", "/keys/ctl:subject-1", a.admin, None, 200),
                ("GET", "/keys/ctl:subject-1", a.appender, None, 404)]
    for method, path, token, body, status in controls:
        CHECKS[0] += 1
        code, _, payload = call(a.url, ctx, method, path, token=token, body=body)
        if code != status:
            failed("control %s %s: %d, expected %d: %.200r" % (method, path, code, status, payload))
    print("security matrix: %d operations, %d checks, %d failed" % (ops, CHECKS[0], len(FAILS)))
    return 1 if FAILS or ops < 25 else 0


if __name__ == "__main__":
    sys.exit(main())
