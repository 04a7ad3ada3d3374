#!/usr/bin/env python3
"""it_rudder.py - RudderStack's wire protocol against `sluice serve`, with its real SDK.

1. @rudderstack/rudder-sdk-node (npm, tests/sdk_rudder) sends track, identify, page, screen, group
   and alias calls. It posts gzip-compressed JSON to /v1/batch labelled
   application/x-www-form-urlencoded with Basic auth: every call must be answered 2xx (the SDK
   reports no error) and arrive in sluice:events intact (messageId, originalTimestamp, channel,
   sentAt, traits, properties, library context).
2. The other RudderStack routes over real HTTP: /beacon/v1/batch?writeKey= (navigator.sendBeacon,
   text/plain), /v1/import, and the GET pixel API /pixel/v1/track and /pixel/v1/page (query
   parameters, answered with an uncached 1x1 GIF).
3. Label sniffing keeps its limits: a body that is neither JSON nor compressed JSON stays 415, and a
   gzip bomb sent with no Content-Encoding stops at max-batch-bytes.
Exit 77 (skipped) when node/npm are missing or `npm ci` cannot fetch the package."""
import gzip
import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "data", "serve"))
from harness import SKIP, Checks, Serve, start_redis, tmpdir  # noqa: E402

SDK = os.path.join(HERE, "sdk_rudder")
KEY = "rudder-key"
t = Checks()


def ensure_sdk():
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        print("node/npm not installed: skipping the RudderStack SDK test")
        sys.exit(SKIP)
    if os.path.isdir(os.path.join(SDK, "node_modules", "@rudderstack", "rudder-sdk-node")):
        return node
    try:
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=SDK, capture_output=True,
                           text=True, timeout=300)
    except subprocess.TimeoutExpired:
        print("npm ci timed out (no network?): skipping the RudderStack SDK test")
        sys.exit(SKIP)
    if r.returncode != 0:
        print("npm ci failed (no network or registry?): skipping\n" + r.stderr[-1500:])
        sys.exit(SKIP)
    return node


def stored(r):
    """messageId -> event, over both streams (valid and quarantined)."""
    out = {}
    for stream in ("sluice:events", "sluice:invalid"):
        for e in r.entries(stream):
            ev = json.loads(e["event"])
            out[ev.get("messageId")] = dict(ev, _stream=stream)
    return out


def test_sdk(node, s, r):
    run = uuid.uuid4().hex[:8]
    env = dict(os.environ, SLUICE_URL=f"http://127.0.0.1:{s.port}", SLUICE_WRITE_KEY=KEY,
               SLUICE_RUN=run)
    p = subprocess.run([node, "send.js"], cwd=SDK, env=env, capture_output=True, text=True,
                       timeout=60)
    t.eq(p.returncode, 0, f"rudder-sdk-node exit code (stderr: {p.stderr[-800:]})")
    t.ok("415" not in p.stderr and "error" not in p.stderr.lower(),
         f"the SDK logged no error: {p.stderr[-300:]!r}")
    sent = [json.loads(ln) for ln in p.stdout.splitlines() if ln.startswith("{")]
    types = ["alias", "group", "identify", "page", "screen", "track"]
    t.eq(sorted(x["type"] for x in sent), types, "SDK delivered all six calls")
    got = stored(r)
    uid = f"rudder-{run}"
    for typ in types:
        ev = got.get(f"{typ}-{run}")
        t.ok(ev is not None, f"rudder {typ} stored")
        if not ev:
            continue
        t.eq(ev.get("_stream"), "sluice:events", f"rudder {typ}: valid ({ev.get('_stream')})")
        t.eq(ev.get("type"), typ, f"rudder {typ}: type")
        t.eq(ev.get("userId"), uid, f"rudder {typ}: userId")
        t.eq(ev.get("channel"), "server", f"rudder {typ}: channel kept")
        t.ok(isinstance(ev.get("originalTimestamp"), str), f"rudder {typ}: originalTimestamp kept")
        t.ok(isinstance(ev.get("sentAt"), str), f"rudder {typ}: sentAt kept")
        lib = (ev.get("context") or {}).get("library") or {}
        t.eq(lib.get("name"), "analytics-node", f"rudder {typ}: context.library")
        t.ok(isinstance((ev.get("context") or {}).get("ip"), str), f"rudder {typ}: context.ip set")
    tr = got.get(f"track-{run}") or {}
    t.eq(tr.get("event"), "Order Completed", "rudder track: event")
    t.eq(tr.get("properties"), {"revenue": 42.5, "currency": "EUR",
                                "items": [{"sku": "A-1", "qty": 2}]}, "rudder track: properties")
    idf = got.get(f"identify-{run}") or {}
    t.eq(idf.get("traits"), {"name": "Ada Lovelace", "plan": "pro"}, "rudder identify: traits")
    t.eq((idf.get("context") or {}).get("traits"), {"name": "Ada Lovelace", "plan": "pro"},
         "rudder identify: context.traits")
    gr = got.get(f"group-{run}") or {}
    t.eq(gr.get("groupId"), f"g-{run}", "rudder group: groupId")
    al = got.get(f"alias-{run}") or {}
    t.eq(al.get("previousId"), f"anon-{run}", "rudder alias: previousId")
    pg = got.get(f"page-{run}") or {}
    t.eq(pg.get("name"), "Pricing", "rudder page: name")


def test_routes(s, r):
    # navigator.sendBeacon: text/plain (or no label), the write key in the query
    mid = "beacon-" + uuid.uuid4().hex[:8]
    batch = {"batch": [{"type": "track", "event": "Order Completed", "anonymousId": "a-1",
                        "messageId": mid, "rudderId": "r-1", "channel": "web",
                        "originalTimestamp": "2026-12-05T10:00:00.000Z",
                        "properties": {"revenue": 9.5, "currency": "USD"}}],
             "sentAt": "2026-12-05T10:00:00.100Z"}
    st, _, data = s.post(f"/beacon/v1/batch?writeKey={KEY}", json.dumps(batch), ctype="text/plain")
    t.eq(st, 200, f"beacon batch: status {data[:200]!r}")
    ev = stored(r).get(mid)
    t.ok(ev is not None and ev["_stream"] == "sluice:events", "beacon event stored valid")
    if ev:
        for k in ("rudderId", "channel", "originalTimestamp", "properties"):
            t.eq(ev.get(k), batch["batch"][0][k], f"beacon event: {k} intact")
        t.ok("writeKey" not in ev, "beacon: write key not stored")
    st, _, _ = s.post("/beacon/v1/batch?writeKey=nope", json.dumps(batch), ctype="text/plain")
    t.eq(st, 401, "beacon: an unknown write key in the query is refused")
    st, _, _ = s.post("/beacon/v1/batch", json.dumps(batch), ctype="text/plain")
    t.eq(st, 401, "beacon: no write key at all is refused")

    # /v1/import takes a batch too
    mid = "import-" + uuid.uuid4().hex[:8]
    imp = {"batch": [dict(batch["batch"][0], messageId=mid)]}
    st, _, _ = s.post("/v1/import", gzip.compress(json.dumps(imp).encode()), key=KEY, ctype=None)
    t.eq(st, 200, "import: unlabelled gzip batch accepted")
    t.ok(mid in stored(r), "import event stored")

    # Pixel API: GET, query parameters, a GIF back
    mid = "pixel-" + uuid.uuid4().hex[:8]
    q = urllib.parse.urlencode({"writeKey": KEY, "anonymousId": "px-1", "event": "Email Opened",
                                "messageId": mid, "properties.campaign": "winter sale",
                                "context.library.name": "RudderStack Pixel"})
    st, h, data = s.request("GET", "/pixel/v1/track?" + q)
    t.eq(st, 200, f"pixel track: status {data[:100]!r}")
    t.eq(h.get("content-type"), "image/gif", "pixel: image/gif")
    t.ok(data.startswith(b"GIF89a") and len(data) == 43, "pixel: a 1x1 GIF")
    t.ok("no-cache" in (h.get("cache-control") or ""), "pixel: not cached")
    ev = stored(r).get(mid)
    t.ok(ev is not None and ev["_stream"] == "sluice:events", "pixel track stored valid")
    if ev:
        t.eq(ev.get("type"), "track", "pixel track: type")
        t.eq(ev.get("properties"), {"campaign": "winter sale"}, "pixel track: dotted keys nest")
        t.eq(ev["context"].get("library"), {"name": "RudderStack Pixel"}, "pixel: context nests")
        t.ok("writeKey" not in ev, "pixel: write key not stored")
    mid = "pixel-" + uuid.uuid4().hex[:8]
    q = urllib.parse.urlencode({"writeKey": KEY, "anonymousId": "px-1", "name": "Home",
                                "messageId": mid, "context.page.path": "/"})
    st, h, _ = s.request("GET", "/pixel/v1/page?" + q)
    t.eq(st, 200, "pixel page: status")
    ev = stored(r).get(mid)
    t.ok(ev is not None and ev.get("type") == "page" and ev.get("name") == "Home",
         "pixel page stored")
    st, _, _ = s.request("GET", "/pixel/v1/track?writeKey=" + KEY + "&event=%zz")
    t.eq(st, 400, "pixel: a malformed escape is a 400")
    st, _, _ = s.post("/pixel/v1/track", "{}", key=KEY)
    t.eq(st, 405, "pixel: POST is a 405")

    st, _, data = s.request("GET", "/micro/all")
    t.eq(st, 404, f"the Micro QA API is off without --micro ({data[:80]!r})")

    # Sniffing keeps its limits
    st, _, data = s.post("/v1/batch", "a=1&b=2", key=KEY,
                         ctype="application/x-www-form-urlencoded")
    t.eq(st, 415, f"a real form body stays 415 ({data[:120]!r})")
    st, _, _ = s.post("/v1/batch", "<batch/>", key=KEY, ctype="application/xml")
    t.eq(st, 415, "an XML body stays 415")
    bomb = gzip.compress(b'{"batch":[' + b" " * 300000 + b"]}")
    st, _, data = s.post("/v1/batch", bomb, key=KEY, ctype="application/x-www-form-urlencoded")
    t.eq(st, 413, f"an unlabelled gzip bomb stops at max-batch-bytes ({data[:120]!r})")


def main():
    if len(sys.argv) < 2:
        print("usage: it_rudder.py path/to/sluice")
        return 2
    node = ensure_sdk()
    binary = os.path.abspath(sys.argv[1])
    tmp = tmpdir()
    rp, rport, r = start_redis(tmp)
    s = None
    try:
        s = Serve(binary, ["--plan", os.path.join(HERE, "data", "rudder", "plan.yaml"), "--redis",
                           f"redis://127.0.0.1:{rport}", "--workers", "2", "--write-key", KEY,
                           "--max-batch-bytes", "65536"], tmp)
        test_sdk(node, s, r)
        test_routes(s, r)
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
