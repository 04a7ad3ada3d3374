#!/usr/bin/env python3
"""it_serve_sdk.py - real clients against `sluice serve`.

1. @segment/analytics-node (npm, tests/sdk) sends identify, track and page calls; they must arrive
   in sluice:events intact (same messageIds, traits, properties, library context).
2. The analytics.js browser form: POST /v1/t and /v1/p with Content-Type text/plain and the
   writeKey in the JSON body, from a page origin (CORS).
Exit 77 (skipped) when node/npm are missing or `npm ci` cannot fetch the package."""
import json
import os
import shutil
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "serve"))
from harness import SKIP, Checks, Serve, start_redis, tmpdir  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SDK = os.path.join(HERE, "sdk")
KEY = "sdk-key"
t = Checks()


def ensure_sdk():
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        print("node/npm not installed: skipping the SDK test")
        sys.exit(SKIP)
    if os.path.isdir(os.path.join(SDK, "node_modules", "@segment", "analytics-node")):
        return node
    try:
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=SDK, capture_output=True,
                           text=True, timeout=300)
    except subprocess.TimeoutExpired:
        print("npm ci timed out (no network?): skipping the SDK test")
        sys.exit(SKIP)
    if r.returncode != 0:
        print("npm ci failed (no network or registry?): skipping the SDK test\n" + r.stderr[-1500:])
        sys.exit(SKIP)
    return node


def events_by_mid(r):
    out = {}
    for e in r.entries("sluice:events"):
        ev = json.loads(e["event"])
        out[ev.get("messageId")] = (ev, e)
    return out


def test_node_sdk(node, s, r):
    run = uuid.uuid4().hex[:8]
    env = dict(os.environ, SLUICE_URL=f"http://127.0.0.1:{s.port}", SLUICE_WRITE_KEY=KEY,
               SLUICE_RUN=run)
    p = subprocess.run([node, "send.js"], cwd=SDK, env=env, capture_output=True, text=True,
                       timeout=60)
    t.eq(p.returncode, 0, f"analytics-node exit code (stderr: {p.stderr[-500:]})")
    sent = [json.loads(ln) for ln in p.stdout.splitlines() if ln.startswith("{")]
    t.eq(sorted(x["type"] for x in sent), ["identify", "page", "track"], "SDK delivered 3 calls")
    stored = events_by_mid(r)
    uid = f"sdk-{run}"
    want = {
        "identify": ("traits", {"name": "Ada Lovelace", "email": "ada@example.com", "plan": "pro"}),
        "track": ("properties", {"revenue": 42.5, "currency": "EUR",
                                 "items": [{"sku": "A-1", "qty": 2}]}),
        "page": ("properties", {"path": "/pricing", "title": "Pricing"}),
    }
    for x in sent:
        ev, ent = stored.get(x["messageId"], (None, None))
        t.ok(ev is not None, f"SDK {x['type']}: stored in sluice:events under its messageId")
        if not ev:
            continue
        t.eq(ev.get("type"), x["type"], f"SDK {x['type']}: type")
        t.eq(ev.get("userId"), uid, f"SDK {x['type']}: userId")
        field, val = want[x["type"]]
        t.eq(ev.get(field), val, f"SDK {x['type']}: {field} intact")
        t.eq(ev.get("context", {}).get("library", {}).get("name"), "@segment/analytics-node",
             f"SDK {x['type']}: library context")
        t.ok(ev.get("timestamp") and ev.get("receivedAt"), f"SDK {x['type']}: timestamps")
        t.eq(ent.get("message_id"), x["messageId"], f"SDK {x['type']}: message_id field")
    t.eq(r.cmd("XLEN", "sluice:invalid"), 0, "SDK calls are valid against the plan")
    if x and x["type"] == "page":
        ev = stored.get(x["messageId"], ({}, None))[0]
        t.eq(ev.get("name"), "Pricing", "SDK page: name")


def test_browser_form(s, r):
    origin = "https://shop.example.com"
    mid = "ajs-next-" + uuid.uuid4().hex
    body = {
        "timestamp": "2024-05-01T10:00:00.000Z",
        "integrations": {},
        "type": "track",
        "event": "Product Viewed",
        "properties": {"sku": "B-7"},
        "context": {"page": {"path": "/p/b-7", "url": "https://shop.example.com/p/b-7",
                             "title": "B7", "referrer": ""},
                    "userAgent": "Mozilla/5.0", "locale": "en-US",
                    "library": {"name": "analytics.js", "version": "npm:next-1.70.0"}},
        "messageId": mid,
        "anonymousId": "0f0e6a2c-1111-4e3b-9d7a-2a1b6c3d4e5f",
        "writeKey": KEY,
        "userId": None,
        "sentAt": "2024-05-01T10:00:00.010Z",
        "_metadata": {"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []},
    }
    raw = json.dumps(body)
    st, h, data = s.post("/v1/t", raw, ctype="text/plain", headers={"Origin": origin})
    t.eq(st, 200, f"analytics.js /v1/t text/plain: status {data[:200]!r}")
    t.eq(h.get("access-control-allow-origin"), origin, "analytics.js: CORS header")
    ev = events_by_mid(r).get(mid, (None, None))[0]
    t.ok(ev is not None, "analytics.js track stored")
    if ev:
        for k in ("event", "properties", "anonymousId", "timestamp", "sentAt", "_metadata"):
            t.eq(ev.get(k), body[k], f"analytics.js track: {k} intact")
        t.eq({k: v for k, v in ev["context"].items() if k != "ip"}, body["context"],
             "analytics.js track: context intact")
        t.ok("writeKey" not in ev, "analytics.js track: writeKey not stored")
    page = dict(body, type="page", name="B7", properties={"path": "/p/b-7"},
                messageId="ajs-next-" + uuid.uuid4().hex)
    del page["event"]
    st, _, _ = s.post("/v1/p", json.dumps(page), ctype="text/plain", headers={"Origin": origin})
    t.eq(st, 200, "analytics.js /v1/p: status")
    ev = events_by_mid(r).get(page["messageId"], (None, None))[0]
    t.eq(ev and ev.get("type"), "page", "analytics.js page stored")


def main():
    if len(sys.argv) < 2:
        print("usage: it_serve_sdk.py path/to/sluice")
        return 2
    node = ensure_sdk()
    binary = os.path.abspath(sys.argv[1])
    tmp = tmpdir()
    rp, rport, r = start_redis(tmp)
    s = None
    try:
        s = Serve(binary, ["--plan", os.path.join(HERE, "data", "serve", "plan.yaml"), "--redis",
                           f"redis://127.0.0.1:{rport}", "--workers", "2", "--write-key", KEY],
                  tmp)
        test_node_sdk(node, s, r)
        test_browser_form(s, r)
        t.eq(s.stop(), 0, "serve exit 0")
        s = None
    except Exception as e:
        import traceback
        traceback.print_exc()
        t.ok(False, f"exception: {e}")
    finally:
        if s:
            print(s.logtext()[-2000:], file=sys.stderr)
            s.stop()
        r.close()
        rp.terminate()
        rp.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
