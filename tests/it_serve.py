#!/usr/bin/env python3
"""it_serve.py - `sluice serve` end to end: a real redis-server and the real binary on 127.0.0.1.

Covers every endpoint, auth, gzip, CORS, each limit and error, dry-run validation, invalid-event
quarantine and forwarding, pipelining, X-Forwarded-For, SIGHUP reload, Redis outage (503), SIGTERM
drain with no event lost, and the embedded redis-server. argv[1] = the sluice binary."""
import base64
import gzip
import json
import os
import shutil
import stat
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "serve"))
from harness import (Checks, Redis, Serve, free_port, raw_exchange, start_redis,  # noqa: E402
                     tmpdir)

HERE = os.path.dirname(os.path.abspath(__file__))
PLANS = os.path.join(HERE, "data", "serve")
KEY = "wk_test_1"
KEY2 = "wk_test_2"
ORIGIN = "https://app.example.com"

t = Checks()


def body_json(data):
    try:
        return json.loads(data)
    except ValueError:
        return None


def last_event(r, key="sluice:events"):
    es = r.entries(key)
    return (json.loads(es[-1]["event"]), es[-1]) if es else (None, None)


def check_error(st, data, status, what, limit=None):
    j = body_json(data)
    t.eq(st, status, f"{what}: status")
    t.ok(isinstance(j, dict) and j.get("success") is False and isinstance(j.get("error"), str),
         f"{what}: JSON error body, got {data[:200]!r}")
    if limit:
        t.eq(j and j.get("limit"), limit, f"{what}: names the limit")
    return j


def test_track_and_shape(s, r):
    r.cmd("DEL", "sluice:events", "sluice:invalid")
    ev = {"userId": "u1", "event": "Order Completed",
          "properties": {"revenue": 12.5, "currency": "EUR"},
          "timestamp": "2024-01-02T03:04:05.000Z",
          "context": {"app": {"n": [1, 2, {"b": None}]}, "ip": "127.0.0.1"}}
    st, h, data = s.post("/v1/track", ev, key=KEY)
    t.eq(st, 200, "track: status")
    t.eq(body_json(data), {"success": True}, "track: body")
    t.ok(h.get("content-type", "").startswith("application/json"), "track: JSON content type")
    got, ent = last_event(r)
    t.ok(got is not None, "track: stored in sluice:events")
    if not got:
        return
    for k, v in ev.items():
        t.eq(got.get(k), v, f"track: field {k} intact")
    t.eq(got.get("type"), "track", "track: type from the path")
    t.ok(isinstance(got.get("messageId"), str) and len(got["messageId"]) == 36,
         "track: messageId added")
    t.eq(ent.get("message_id"), got.get("messageId"), "track: message_id stream field")
    t.ok(isinstance(got.get("receivedAt"), str) and got["receivedAt"].endswith("Z"),
         "track: receivedAt added")
    t.eq(got.get("context", {}).get("ip"), "127.0.0.1", "track: client ip recorded")
    t.ok("writeKey" not in got, "track: no write key stored")
    # Original bytes kept for members: the exact properties text appears in the stored event.
    raw = json.dumps(ev["properties"], separators=(",", ":"))
    body = ('{"userId":"u1","event":"Order Completed","properties":' + raw +
            ',"messageId":"m-fixed-1","receivedAt":"2020-01-01T00:00:00Z"}')
    st, _, _ = s.post("/v1/track", body, key=KEY)
    t.eq(st, 200, "track with own messageId: status")
    _, ent = last_event(r)
    t.ok(('"properties":' + raw) in ent["event"], "original member bytes kept verbatim")
    got = json.loads(ent["event"])
    t.eq(got["messageId"], "m-fixed-1", "client messageId kept")
    t.eq(got["receivedAt"], "2020-01-01T00:00:00Z", "client receivedAt kept")
    t.eq(ent.get("message_id"), "m-fixed-1", "message_id field = client messageId")


def test_paths(s, r):
    calls = {
        "identify": {"userId": "u1", "traits": {"email": "a@b.c"}},
        "page": {"userId": "u1", "name": "Home", "properties": {"path": "/"}},
        "screen": {"userId": "u1", "name": "Main"},
        "group": {"userId": "u1", "groupId": "g1", "traits": {"name": "Acme"}},
        "alias": {"userId": "u1", "previousId": "anon-1"},
        "track": {"userId": "u1", "event": "Product Viewed", "properties": {"sku": "S1"}},
    }
    for name, ev in calls.items():
        for path in (f"/v1/{name}", f"/v1/{name[0]}"):
            r.cmd("DEL", "sluice:events", "sluice:invalid")
            body = dict(ev, type="bogus")  # the path decides the type
            st, _, data = s.post(path, body, key=KEY)
            t.eq(st, 200, f"{path}: status ({data[:120]!r})")
            got, _ = last_event(r)
            if not got:
                got, _ = last_event(r, "sluice:invalid")
            t.eq(got and got.get("type"), name, f"{path}: stored with type {name}")


def test_batch(s, r):
    r.cmd("DEL", "sluice:events", "sluice:invalid")
    batch = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "Order Completed",
             "properties": {"revenue": 1}, "context": {"page": {"path": "/a"}, "locale": "fr"}},
            {"type": "identify", "userId": "u2", "traits": {"x": 1},
             "integrations": {"Mixpanel": False}},
            {"type": "page", "userId": "u3", "name": "P"},
        ],
        "context": {"library": {"name": "analytics-python", "version": "2"}, "locale": "en"},
        "integrations": {"All": True},
        "sentAt": "2024-01-01T00:00:00Z",
    }
    for path in ("/v1/batch", "/v1/b", "/v1/import"):
        r.cmd("DEL", "sluice:events")
        st, _, data = s.post(path, batch, key=KEY)
        t.eq(st, 200, f"{path}: status ({data[:120]!r})")
        es = [json.loads(e["event"]) for e in r.entries("sluice:events")]
        t.eq(len(es), 3, f"{path}: 3 events stored")
        if len(es) != 3:
            continue
        t.eq([e["type"] for e in es], ["track", "identify", "page"], f"{path}: order and types")
        c0 = es[0]["context"]
        t.eq(c0.get("locale"), "fr", f"{path}: item context wins")
        t.eq(c0.get("page"), {"path": "/a"}, f"{path}: item context kept")
        t.eq(c0.get("library"), batch["context"]["library"], f"{path}: batch context merged")
        t.eq(es[1]["context"].get("locale"), "en", f"{path}: batch context into item w/o context")
        t.eq(es[1]["integrations"], {"Mixpanel": False, "All": True}, f"{path}: integrations merged")
        t.eq(es[2]["integrations"], {"All": True}, f"{path}: batch integrations added")
        t.ok(all(e.get("messageId") and e.get("receivedAt") for e in es), f"{path}: ids added")
        t.ok(len({e["messageId"] for e in es}) == 3, f"{path}: distinct messageIds")
    # empty batch
    st, _, _ = s.post("/v1/batch", {"batch": []}, key=KEY)
    t.eq(st, 200, "empty batch: 200")
    st, _, data = s.post("/v1/batch", {"batch": {}}, key=KEY)
    check_error(st, data, 400, "batch not an array")
    st, _, data = s.post("/v1/batch", {"batch": [1]}, key=KEY)
    check_error(st, data, 400, "batch item not an object")


def test_auth(s, r):
    ev = {"userId": "u1", "event": "Product Viewed", "properties": {}}
    st, _, data = s.post("/v1/track", ev)
    check_error(st, data, 401, "no write key")
    st, _, data = s.post("/v1/track", ev, key="nope")
    check_error(st, data, 401, "unknown Basic write key")
    st, _, data = s.post("/v1/track", dict(ev, writeKey="nope"))
    check_error(st, data, 401, "unknown body writeKey")
    st, _, _ = s.post("/v1/track", ev, key=KEY2)
    t.eq(st, 200, "second configured key accepted")
    # analytics.js browser form: text/plain, writeKey in the body, short path
    r.cmd("DEL", "sluice:events")
    st, _, _ = s.post("/v1/t", json.dumps(dict(ev, writeKey=KEY)), ctype="text/plain")
    t.eq(st, 200, "text/plain + body writeKey on /v1/t")
    got, _ = last_event(r)
    t.ok(got is not None and got.get("event") == "Product Viewed", "text/plain event stored")
    t.ok(got is not None and "writeKey" not in got, "body writeKey not stored")
    st, _, data = s.post("/v1/track", "userId=u1&event=Product+Viewed", key=KEY,
                         ctype="application/x-www-form-urlencoded")
    check_error(st, data, 415, "a form body")
    st, _, data = s.post("/v1/track", ev, key=KEY, ctype="application/x-www-form-urlencoded")
    t.eq(st, 200, "JSON labelled as a form is read as JSON (rudder-sdk-node does this)")
    st, _, data = s.post("/v1/track", ev, key=KEY, ctype="text/plain; charset=utf-8")
    t.eq(st, 200, "text/plain with charset")


def test_gzip(s, r):
    r.cmd("DEL", "sluice:events")
    batch = {"batch": [{"type": "track", "userId": f"u{i}", "event": "Product Viewed",
                        "properties": {"sku": f"S{i}"}} for i in range(15)]}
    st, _, data = s.post("/v1/batch", gzip.compress(json.dumps(batch).encode()), key=KEY,
                         headers={"Content-Encoding": "gzip"})
    t.eq(st, 200, f"gzip batch: status {data[:100]!r}")
    t.eq(r.cmd("XLEN", "sluice:events"), 15, "gzip batch: 15 events stored")
    st, _, _ = s.post("/v1/track", zlib.compress(b'{"userId":"z","event":"Product Viewed"}'),
                      key=KEY, headers={"Content-Encoding": "deflate"})
    t.eq(st, 200, "deflate body")
    # A small gzip body that inflates past max-batch-bytes (64k in this server)
    bomb = gzip.compress(b'{"batch":[' + b" " * 200000 + b"]}")
    st, _, data = s.post("/v1/batch", bomb, key=KEY, headers={"Content-Encoding": "gzip"})
    check_error(st, data, 413, "gzip bomb", "max_batch_bytes")
    st, _, data = s.post("/v1/batch", b"\x1f\x8b\x08\x00garbage", key=KEY,
                         headers={"Content-Encoding": "gzip"})
    check_error(st, data, 400, "corrupt gzip")
    st, _, data = s.post("/v1/batch", b"{}", key=KEY, headers={"Content-Encoding": "br"})
    check_error(st, data, 415, "unsupported encoding")


def test_cors(s):
    st, h, _ = s.request("OPTIONS", "/v1/t", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    t.eq(st, 204, "preflight: 204")
    t.eq(h.get("access-control-allow-origin"), ORIGIN, "preflight: allow origin")
    t.ok("POST" in h.get("access-control-allow-methods", ""), "preflight: allow methods")
    t.eq(h.get("access-control-allow-headers"), "content-type", "preflight: allow headers")
    st, h, _ = s.request("OPTIONS", "/v1/t", headers={"Origin": "https://evil.example"})
    t.ok("access-control-allow-origin" not in h, "preflight: other origin not allowed")
    st, h, _ = s.post("/v1/t", json.dumps({"writeKey": KEY, "event": "Product Viewed",
                                           "userId": "c"}), ctype="text/plain",
                      headers={"Origin": ORIGIN})
    t.eq(st, 200, "CORS simple request")
    t.eq(h.get("access-control-allow-origin"), ORIGIN, "CORS header on the answer")
    st, h, _ = s.post("/v1/t", "{", ctype="text/plain", headers={"Origin": ORIGIN}, key=KEY)
    t.eq(h.get("access-control-allow-origin"), ORIGIN, "CORS header on an error answer")


def test_limits(s, r):
    # this server: --max-event-bytes 2k --max-batch-bytes 64k --max-batch-events 20 --max-depth 8
    big = {"userId": "u", "event": "Product Viewed", "properties": {"sku": "x" * 3000}}
    st, _, data = s.post("/v1/track", big, key=KEY)
    check_error(st, data, 413, "event over max-event-bytes", "max_event_bytes")
    st, _, data = s.post("/v1/batch", {"batch": [{"type": "track", "event": "E"}, dict(big, type="track")]},
                         key=KEY)
    j = check_error(st, data, 413, "batch item over max-event-bytes", "max_event_bytes")
    t.ok(j is not None and "batch[1]" in j.get("error", ""), "batch item error names the index")
    st, _, data = s.post("/v1/batch", {"batch": [{"type": "track", "event": "E"}] * 21}, key=KEY)
    check_error(st, data, 413, "batch over max-batch-events", "max_batch_events")
    items = [{"type": "track", "event": "E", "properties": {"p": "y" * 1500}}] * 20
    payload = json.dumps({"batch": items})
    payload = payload + " " * (70000 - len(payload))
    st, _, data = s.post("/v1/batch", payload, key=KEY)
    t.eq(st, 413, "body over max-body-bytes / max-batch-bytes: 413")
    deep = {"userId": "u", "event": "E", "properties": {"a": [[[[[[[[[1]]]]]]]]]}}
    st, _, data = s.post("/v1/track", deep, key=KEY)
    check_error(st, data, 413, "JSON deeper than max-depth", "max_depth")
    st, _, data = s.post("/v1/track", '{"userId": "u",\n "event": tru}', key=KEY)
    j = check_error(st, data, 400, "malformed JSON")
    t.ok(j is not None and "line 2" in j["error"] and "column" in j["error"],
         f"malformed JSON error says where: {j and j.get('error')}")
    st, _, data = s.post("/v1/track", "[1,2]", key=KEY)
    check_error(st, data, 400, "body not an object")
    st, _, data = s.post("/v1/track", '{"a":1} x', key=KEY)
    check_error(st, data, 400, "trailing garbage")
    # header block over max-header-bytes (4k here)
    resp = raw_exchange(s.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 6000 +
                        b"\r\n\r\n", expect_close=True)
    t.ok(resp.startswith(b"HTTP/1.1 431 "), f"431 for big headers: {resp[:40]!r}")
    t.ok(b'"limit":"max_header_bytes"' in resp, "431 body names the limit")
    resp = raw_exchange(s.port, b"BLAH / HTTP/1.1\r\n\r\n", expect_close=True)
    t.ok(resp.startswith(b"HTTP/1.1 400 ") and b'"success":false' in resp,
         f"400 JSON for malformed HTTP: {resp[:60]!r}")
    resp = raw_exchange(s.port, b"POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: "
                        b"application/json\r\nContent-Length: 900000\r\n\r\n", expect_close=True)
    t.ok(resp.startswith(b"HTTP/1.1 413 ") and b"max_body_bytes" in resp,
         f"413 from Content-Length before reading the body: {resp[:60]!r}")
    st, _, data = s.request("GET", "/nope")
    check_error(st, data, 404, "unknown path")
    st, h, data = s.request("GET", "/v1/track")
    check_error(st, data, 405, "GET on an ingest path")
    t.ok("POST" in h.get("allow", ""), "405 has Allow")
    st, _, data = s.post("/healthz", {}, key=KEY)
    check_error(st, data, 405, "POST on /healthz")


def test_validation(s, r):
    r.cmd("DEL", "sluice:events", "sluice:invalid")
    bad = {"userId": "u1", "event": "Order Completed", "properties": {"currency": "EUR"}}
    good = {"userId": "u1", "event": "Order Completed", "properties": {"revenue": 3}}
    # dry run on an ingest path: violations back, nothing stored
    st, _, data = s.post("/v1/track?dry_run=1", bad, key=KEY)
    t.eq(st, 200, "dry_run: 200")
    j = body_json(data) or {}
    t.eq((j.get("dry_run"), j.get("events"), j.get("valid"), j.get("invalid")), (True, 1, 0, 1),
         f"dry_run summary {data[:200]!r}")
    v = (j.get("results") or [{}])[0].get("violations") or [{}]
    t.eq((v[0].get("kind"), v[0].get("path")), ("Required-Missing", "/properties/revenue"),
         "dry_run: Required-Missing at /properties/revenue")
    t.eq(r.cmd("XLEN", "sluice:events") + r.cmd("XLEN", "sluice:invalid"), 0,
         "dry_run: nothing stored")
    # /v1/validate with a batch
    st, _, data = s.post("/v1/validate", {"batch": [dict(good, type="track"),
                                                    dict(bad, type="track"),
                                                    {"type": "track", "event": "Nope", "userId": "x"}]},
                         key=KEY)
    j = body_json(data) or {}
    t.eq(st, 200, "validate: 200")
    t.eq((j.get("events"), j.get("valid"), j.get("invalid")), (3, 1, 2), "validate: counts")
    res = j.get("results") or [{}, {}, {}]
    t.eq([x.get("valid") for x in res], [True, False, False], "validate: per-event validity")
    t.ok(any(v.get("kind") == "Unplanned-Event" for v in res[2].get("violations", [])),
         "validate: unplanned event reported")
    t.eq(r.cmd("XLEN", "sluice:events") + r.cmd("XLEN", "sluice:invalid"), 0,
         "validate: nothing stored")
    # the real thing: invalid event quarantined with its violations
    st, _, _ = s.post("/v1/track", bad, key=KEY)
    t.eq(st, 200, "invalid event: still 200 (quarantined)")
    t.eq(r.cmd("XLEN", "sluice:events"), 0, "invalid event: not in sluice:events")
    es = r.entries("sluice:invalid")
    t.eq(len(es), 1, "invalid event: in sluice:invalid")
    if es:
        vs = json.loads(es[0].get("violations", "[]"))
        t.ok(any(x.get("kind") == "Required-Missing" and x.get("path") == "/properties/revenue"
                 for x in vs), f"invalid event: violations field {vs}")
        t.eq(json.loads(es[0]["event"])["properties"], bad["properties"], "invalid event intact")
    st, _, _ = s.post("/v1/track", good, key=KEY)
    t.eq(r.cmd("XLEN", "sluice:events"), 1, "valid event: in sluice:events")


def test_health_metrics(s):
    st, _, data = s.request("GET", "/healthz")
    t.eq((st, body_json(data)), (200, {"status": "ok"}), "healthz")
    st, _, data = s.request("GET", "/readyz")
    t.eq(st, 200, f"readyz with Redis up: {data!r}")
    st, _, data = s.request("GET", "/readyz?spool=1")
    t.ok(st == 200 and b'"redis":"up"' in data, f"readyz?spool=1 with Redis up: {st} {data!r}")
    st, h, data = s.request("GET", "/metrics")
    t.eq(st, 200, "metrics: 200")
    t.ok(h.get("content-type", "").startswith("text/plain"), "metrics: text/plain")
    text = data.decode()
    for needle in ('sluice_http_requests_total{route="track",status="200"}',
                   'sluice_http_requests_total{route="track",status="413"}',
                   'sluice_events_total{result="valid"}', 'sluice_events_total{result="invalid"}',
                   'sluice_violations_total{kind="Required-Missing"}',
                   "sluice_redis_latency_seconds_count", "sluice_redis_inflight",
                   "sluice_http_body_bytes_total"):
        t.ok(needle in text, f"metrics has {needle}")
    inval = [ln for ln in text.splitlines() if ln.startswith('sluice_events_total{result="invalid"}')]
    t.ok(inval and int(inval[0].split()[-1]) >= 1, "metrics counted the invalid event")


def test_pipelining(s, r):
    r.cmd("DEL", "sluice:events")
    reqs = b""
    for i in range(3):
        b = json.dumps({"userId": f"p{i}", "event": "Product Viewed"}).encode()
        reqs += (b"POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Authorization: Basic " + base64.b64encode(KEY.encode() + b":") +
                 b"\r\nContent-Length: %d\r\n\r\n" % len(b) + b)
    reqs += b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    resp = raw_exchange(s.port, reqs, expect_close=True)
    t.eq(resp.count(b"HTTP/1.1 200 OK"), 4, f"pipelining: 4 answers {resp[:300]!r}")
    t.ok(resp.rfind(b'{"status":"ok"}') > resp.rfind(b'{"success":true}'), "pipelining: in order")
    users = [json.loads(e["event"])["userId"] for e in r.entries("sluice:events")]
    t.eq(users, ["p0", "p1", "p2"], "pipelining: stored in order")
    # keep-alive: many requests on one connection
    c = s.conn()
    codes = [s.post("/v1/track", {"userId": "k", "event": "Product Viewed"}, key=KEY, conn=c)[0]
             for _ in range(20)]
    c.close()
    t.eq(codes, [200] * 20, "keep-alive: 20 requests on one connection")


def test_xff(s, r):
    r.cmd("DEL", "sluice:events")
    ev = {"userId": "x", "event": "Product Viewed"}
    s.post("/v1/track", ev, key=KEY, headers={"X-Forwarded-For": "203.0.113.9, 10.1.2.3"})
    got, _ = last_event(r)
    t.eq(got and got["context"]["ip"], "203.0.113.9", "XFF from a trusted proxy honoured")
    s.post("/v1/track", dict(ev, context={"ip": "198.51.100.1"}), key=KEY)
    got, _ = last_event(r)
    t.eq(got and got["context"]["ip"], "198.51.100.1", "client-sent context.ip kept")


def test_untrusted_xff(s, r):
    r.cmd("DEL", "sluice:events")
    s.post("/v1/track", {"userId": "x", "event": "Product Viewed"}, key=KEY,
           headers={"X-Forwarded-For": "203.0.113.9"})
    got, _ = last_event(r)
    t.eq(got and got["context"]["ip"], "127.0.0.1", "XFF ignored from an untrusted peer")


def test_reload(s, r, plan_path):
    r.cmd("DEL", "sluice:events", "sluice:invalid")
    ev = {"type": "track", "userId": "u", "event": "Order Completed", "properties": {}}
    conn = s.conn()  # a keep-alive connection that must survive the reloads
    st, _, data = s.post("/v1/validate", ev, key=KEY, conn=conn)
    t.eq((body_json(data) or {}).get("valid"), 0, "before reload: revenue required")
    shutil.copy(os.path.join(PLANS, "plan_v2.yaml"), plan_path)
    s.signal(signal.SIGHUP)
    ok = False
    for _ in range(100):
        time.sleep(0.05)
        st, _, data = s.post("/v1/validate", ev, key=KEY, conn=conn)
        if (body_json(data) or {}).get("valid") == 1:
            ok = True
            break
    t.ok(ok, "SIGHUP: new plan in use on the same connection")
    t.ok("plan reloaded" in s.logtext(), "SIGHUP: reload logged")
    shutil.copy(os.path.join(PLANS, "plan_bad.yaml"), plan_path)
    s.signal(signal.SIGHUP)
    time.sleep(0.5)
    st, _, data = s.post("/v1/validate", ev, key=KEY, conn=conn)
    t.eq((st, (body_json(data) or {}).get("valid")), (200, 1), "bad plan rejected, old one kept")
    log = s.logtext()
    t.ok("reload rejected" in log and "plan_" not in log.split("reload rejected")[0][-5:],
         "bad plan: error logged")
    t.ok(":8:" in log or "line" in log, "bad plan: error has its position")
    conn.close()
    st, _, data = s.request("GET", "/metrics")
    t.ok('sluice_plan_reloads_total{result="failed"} 1' in data.decode(), "reload failure counted")
    shutil.copy(os.path.join(PLANS, "plan.yaml"), plan_path)


def test_redis_down(s, redis_proc, r):
    r.close()
    redis_proc.terminate()
    redis_proc.wait()
    time.sleep(0.3)
    st, h, data = s.post("/v1/track", {"userId": "u", "event": "Product Viewed"}, key=KEY)
    check_error(st, data, 503, "Redis down")
    t.ok(h.get("retry-after", "").isdigit(), "503 carries Retry-After")
    st, _, _ = s.request("GET", "/readyz")
    t.eq(st, 503, "readyz with Redis down")
    st, _, _ = s.request("GET", "/readyz?spool=1")
    t.eq(st, 503, "readyz?spool=1 with Redis down and no spool")


def load_until_stopped(port, stop, results, idx):
    import http.client
    ok = 0
    body = json.dumps({"userId": f"d{idx}", "event": "Product Viewed"}).encode()
    hdr = {"Content-Type": "application/json",
           "Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}
    c = None
    while not stop.is_set():
        try:
            if c is None:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("POST", "/v1/track", body=body, headers=hdr)
            resp = c.getresponse()
            resp.read()
            if resp.status == 200:
                ok += 1
            if resp.getheader("Connection", "").lower() == "close":
                c.close()
                c = None
        except (OSError, http.client.HTTPException):
            if c:
                c.close()
            c = None
            time.sleep(0.01)
    results[idx] = ok


def test_drain(binary, tmp):
    rp, rport, r = start_redis(tmp)
    try:
        s = Serve(binary, ["--plan", os.path.join(PLANS, "plan.yaml"), "--redis",
                           f"redis://127.0.0.1:{rport}", "--workers", "2", "--write-key", KEY],
                  tmp)
        stop = threading.Event()
        results = {}
        ths = [threading.Thread(target=load_until_stopped, args=(s.port, stop, results, i))
               for i in range(8)]
        for th in ths:
            th.start()
        time.sleep(1.0)
        s.signal(signal.SIGTERM)
        rc = s.p.wait(30)
        stop.set()
        for th in ths:
            th.join()
        acked = sum(results.values())
        stored = r.cmd("XLEN", "sluice:events")
        t.eq(rc, 0, "SIGTERM: exit 0")
        t.ok(acked > 100, f"drain: load ran ({acked} acknowledged)")
        t.ok(stored >= acked, f"drain: every acknowledged event stored ({stored} >= {acked})")
        t.ok(stored - acked <= 16, f"drain: at most the in-flight ones unacknowledged ({stored - acked})")
        log = open(s.log_path, "rb").read().decode(errors="replace")
        t.ok("draining" in log and "stopped" in log, "drain: logged")
    finally:
        r.close()
        rp.terminate()
        rp.wait()


def test_embedded(binary, tmp):
    if not shutil.which("redis-server"):
        return
    data_dir = os.path.join(tmp, "embedded-data")
    s = Serve(binary, ["--plan", os.path.join(PLANS, "plan.yaml"), "--data-dir", data_dir,
                       "--workers", "1"], tmp)
    try:
        st, _, _ = s.post("/v1/track", {"userId": "e", "event": "Product Viewed"})
        t.eq(st, 200, "embedded Redis: stored")
        log = s.logtext()
        t.ok("no write keys configured" in log, "no keys: warning logged")
        import re
        m = re.search(r"127\.0\.0\.1:(\d+)", log.split("embedded redis-server")[1]) \
            if "embedded redis-server" in log else None
        t.ok(m is not None, "embedded Redis: port logged")
        if m:
            r = Redis(int(m.group(1)))
            t.eq(r.cmd("XLEN", "sluice:events"), 1, "embedded Redis: event readable")
            t.eq(r.cmd("CONFIG", "GET", "appendonly")[1], b"yes", "embedded Redis: AOF on")
            r.close()
        # the collector talks to its own Redis over DATA/redis.sock (the port is for redis-cli)
        sock = os.path.join(os.path.realpath(data_dir), "redis.sock")
        t.ok(f"redis {sock}" in log, "embedded Redis: the collector uses the Unix socket")
        t.ok(os.path.exists(sock) and stat.S_ISSOCK(os.stat(sock).st_mode)
             and stat.S_IMODE(os.stat(sock).st_mode) == 0o700, "embedded Redis: socket mode 700")
        out = subprocess.run([binary, "report", "--redis", f"unix://{sock}", "--since", "1h"],
                             capture_output=True, text=True)
        t.eq(out.returncode, 0, f"report over unix:// {out.stderr.strip()}")
        out = subprocess.run([binary, "report", "--redis", "unix://relative.sock"],
                             capture_output=True, text=True)
        t.ok(out.returncode == 2 and "unix://" in out.stderr, "report: bad unix URL explained")
    finally:
        rc = s.stop()
    t.eq(rc, 0, "embedded: exit 0 after SIGTERM")
    t.ok(os.path.isdir(data_dir), "embedded: data dir created")


def test_forward(binary, tmp, rport, r):
    r.cmd("DEL", "sluice:events", "sluice:invalid")
    s = Serve(binary, ["--plan", os.path.join(PLANS, "plan_forward.yaml"), "--redis",
                       f"redis://127.0.0.1:{rport}", "--workers", "1"], tmp)
    try:
        st, _, _ = s.post("/v1/track", {"userId": "f", "event": "Order Completed",
                                        "properties": {}, "context": {"locale": "de"}})
        t.eq(st, 200, "forward: 200")
        es = r.entries("sluice:events")
        inv = r.entries("sluice:invalid")
        t.eq((len(es), len(inv)), (1, 1), "forward: in both streams")
        if es:
            ctx = json.loads(es[0]["event"]).get("context", {})
            t.ok(any(v.get("kind") == "Required-Missing" for v in ctx.get("violations", [])),
                 f"forward: violations under context.violations {ctx}")
            t.eq(ctx.get("locale"), "de", "forward: context kept")
    finally:
        s.stop()


def test_config_sources(binary, tmp, rport, r):
    cfg = os.path.join(tmp, "sluice.conf")
    with open(cfg, "w") as f:
        f.write(f"# test config\nplan = {os.path.join(PLANS, 'plan.yaml')}\n"
                f"redis = redis://127.0.0.1:{rport}\nworkers = 1\nwrite_key = filekey\n"
                f"max_event_bytes = 1k\ndata_dir = {os.path.join(tmp, 'data-config')}\n"
                f"redis_linger_us = 1000\n")
    s = Serve(binary, ["--config", cfg], tmp, env={"SLUICE_WRITE_KEY": "envkey"})
    try:
        ev = {"userId": "c", "event": "Product Viewed"}
        t.eq(s.post("/v1/track", ev, key="envkey")[0], 200, "config: env write key")
        # with a linger (redis_linger_us from the file) every acked event is in the stream
        r.cmd("DEL", "sluice:events")
        for i in range(5):
            t.eq(s.post("/v1/track", dict(ev, messageId=f"lg{i}"), key="envkey")[0], 200,
                 f"linger: event {i} acked")
        t.eq([e["message_id"] for e in r.entries("sluice:events")],
             [f"lg{i}" for i in range(5)], "linger: the 5 acked events are stored, in order")
        t.eq(s.post("/v1/track", ev, key="filekey")[0], 401, "config: env replaces file list")
        st, _, data = s.post("/v1/track", dict(ev, properties={"sku": "x" * 1500}), key="envkey")
        t.eq(st, 413, "config: max_event_bytes from the file")
        t.ok("wk_" not in s.logtext() and "envkey" not in s.logtext(), "log has no write key")
    finally:
        s.stop()
    out = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True)
    t.eq(out.returncode, 0, "--help exit 0")
    for opt in ("--max-event-bytes", "--max-batch-bytes", "--max-batch-events", "--max-depth",
                "--idle-timeout-ms", "--request-timeout-ms", "--redis-timeout-ms",
                "--trusted-proxy", "--cors-origin", "--write-key", "--config"):
        t.ok(opt in out.stdout, f"--help shows {opt}")
    out = subprocess.run([binary, "serve", "--plan", "x.yaml", "--bogus"], capture_output=True,
                         text=True)
    t.eq(out.returncode, 2, "unknown flag: exit 2")
    out = subprocess.run([binary, "serve", "--plan", "x.yaml", "--redis-linger-us", "2000000"],
                         capture_output=True, text=True)
    t.ok(out.returncode == 2 and "--redis-linger-us" in out.stderr, "linger over 1 s: exit 2")
    out = subprocess.run([binary, "serve", "--plan", os.path.join(PLANS, "plan_bad.yaml"),
                          "--redis", f"redis://127.0.0.1:{rport}"], capture_output=True, text=True)
    t.ok(out.returncode != 0 and "plan_bad.yaml:8" in out.stderr, "bad plan at start: error+pos")


def main():
    if len(sys.argv) < 2:
        print("usage: it_serve.py path/to/sluice")
        return 2
    binary = os.path.abspath(sys.argv[1])
    tmp = tmpdir()
    redis_proc, rport, r = start_redis(tmp)
    plan_path = os.path.join(tmp, "plan.yaml")
    shutil.copy(os.path.join(PLANS, "plan.yaml"), plan_path)
    args = ["--plan", plan_path, "--redis", f"redis://127.0.0.1:{rport}", "--workers", "2",
            "--write-key", KEY, "--write-key", KEY2, "--cors-origin", ORIGIN,
            "--trusted-proxy", "127.0.0.1/32", "--trusted-proxy", "10.0.0.0/8", "--max-event-bytes", "2k",
            "--max-batch-bytes", "64k", "--max-body-bytes", "64k", "--max-batch-events", "20",
            "--max-depth", "8", "--max-header-bytes", "4k",
            # spool off: this test checks the answer without one (503 while Redis is down);
            # it_durability covers the spool
            "--spool-max-bytes", "0"]
    s = None
    try:
        s = Serve(binary, args, tmp)
        for fn in (test_track_and_shape, test_paths, test_batch, test_auth, test_gzip,
                   test_limits, test_validation, test_pipelining, test_xff):
            fn(s, r)
        test_cors(s)
        test_health_metrics(s)
        test_reload(s, r, plan_path)
        s2 = Serve(binary, ["--plan", plan_path, "--redis", f"redis://127.0.0.1:{rport}",
                            "--workers", "1", "--write-key", KEY], tmp)
        test_untrusted_xff(s2, r)
        s2.stop()
        test_forward(binary, tmp, rport, r)
        test_config_sources(binary, tmp, rport, r)
        test_redis_down(s, redis_proc, r)
        t.eq(s.stop(), 0, "serve exits 0 on SIGTERM")
        s = None
        test_drain(binary, tmp)
        test_embedded(binary, tmp)
    except Exception as e:  # report, then fail
        import traceback
        traceback.print_exc()
        t.ok(False, f"exception: {e}")
        if s:
            print(s.logtext()[-3000:], file=sys.stderr)
    finally:
        if s:
            s.stop()
        if redis_proc.poll() is None:
            redis_proc.terminate()
            redis_proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
