#!/usr/bin/env python3
"""it_snowplow.py - Snowplow's tracker protocol against `sluice serve`, with its real tracker.

1. @snowplow/node-tracker (npm, tests/sdk_snowplow) sends self-describing events with contexts,
   structured events and a page view against specs/snowplow.yaml: once over POST tp2 with plain
   JSON (ue_pr, co), once over GET /i with base64url (ue_px, cx). Every request is answered 2xx;
   valid events land in sluice:events, broken ones in sluice:invalid with the violations Snowplow
   users expect (schemaKey and data path in the message), an unknown schema version is
   Unknown-Schema.
2. Over raw HTTP: /health, /ice.png, CORS as the JS tracker needs it (origin echoed, credentials,
   SP-Anonymous allowed), SP-Anonymous keeping no IP, tracker-protocol violations (missing
   parameters, unknown codes, non-numeric fields, a broken ue_px), Iglu Central's own entities
   passing, malformed bodies refused with a location.
3. The Micro-style QA API (--micro): /micro/all, /micro/good and /micro/bad with their filters,
   scoped to a test session (X-Sluice-Session from the tracker, context.sluice.session from a
   Segment call), /micro/reset of one session and of all.
Exit 77 (skipped) when node/npm are missing or `npm ci` cannot fetch the package."""
import base64
import json
import os
import shutil
import subprocess
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "data", "serve"))
from harness import SKIP, Checks, Serve, start_redis, tmpdir  # noqa: E402

SDK = os.path.join(HERE, "sdk_snowplow")
TP2 = "/com.snowplowanalytics.snowplow/tp2"
PD = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
UE = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"
CX = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"
NW = "iglu:com.northwind/{}/jsonschema/{}"
t = Checks()


def ensure_sdk():
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        print("node/npm not installed: skipping the Snowplow tracker test")
        sys.exit(SKIP)
    if os.path.isdir(os.path.join(SDK, "node_modules", "@snowplow", "node-tracker")):
        return node
    try:
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=SDK, capture_output=True,
                           text=True, timeout=300)
    except subprocess.TimeoutExpired:
        print("npm ci timed out (no network?): skipping the Snowplow tracker test")
        sys.exit(SKIP)
    if r.returncode != 0:
        print("npm ci failed (no network or registry?): skipping\n" + r.stderr[-1500:])
        sys.exit(SKIP)
    return node


def stored(r):
    """Every stored event, with the stream it is in and its violations."""
    out = []
    for stream in ("sluice:events", "sluice:invalid"):
        for e in r.entries(stream):
            ev = json.loads(e["event"])
            ev["_stream"] = stream
            ev["_vio"] = json.loads(e["violations"]) if e.get("violations") else []
            out.append(ev)
    return out


def vios(ev):
    return {(v["kind"], v["path"]) for v in ev["_vio"]}


def test_tracker(node, s, r, method, b64):
    run = f"{method}-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, SLUICE_PORT=str(s.port), SLUICE_METHOD=method,
               SLUICE_BASE64="1" if b64 else "0", SLUICE_RUN=run, SLUICE_SESSION=f"qa-{method}")
    p = subprocess.run([node, "send.js"], cwd=SDK, env=env, capture_output=True, text=True,
                       timeout=60)
    what = f"node-tracker {method}{' base64' if b64 else ''}"
    t.eq(p.returncode, 0, f"{what}: exit code (stderr: {p.stderr[-800:]})")
    lines = [json.loads(ln) for ln in p.stdout.splitlines() if ln.startswith("{")]
    t.eq(lines[-1] if lines else None, {"sent": 8}, f"{what}: all 8 events acknowledged")
    mine = [e for e in stored(r) if e.get("userId") == run]
    t.eq(len(mine), 8, f"{what}: 8 events stored, one per tracker event")

    def pick(name, pred=lambda e: True):
        got = [e for e in mine if e.get("event", e.get("name")) == name and pred(e)]
        t.eq(len(got), 1, f"{what}: one stored {name}")
        return got[0] if got else {"_stream": None, "_vio": [], "snowplow": {}}

    sku = lambda v: lambda e: ((e["snowplow"].get("unstruct_event") or {}).get("data", {})
                               .get("data", {}).get("sku") == v)
    ok = pick(NW.format("add_to_basket", "1-0-0"), sku("NW-0042"))
    t.eq(ok["_stream"], "sluice:events", f"{what}: valid add_to_basket stored valid {ok['_vio']}")
    t.eq(ok["snowplow"].get("unstruct_event", {}).get("schema"), UE, f"{what}: ue wrapper kept")
    ents = (ok["snowplow"].get("contexts") or {}).get("data") or []
    t.eq([x.get("schema") for x in ents], [NW.format("product", "1-0-1"), NW.format("user", "1-0-0")],
         f"{what}: both contexts decoded and kept")
    t.eq(ok["snowplow"]["params"].get("ue_px" if b64 else "ue_pr") is not None, True,
         f"{what}: the raw {'ue_px' if b64 else 'ue_pr'} parameter kept")
    t.eq(ok["snowplow"].get("platform"), "srv", f"{what}: platform")
    t.ok(str(ok["snowplow"].get("tracker", "")).startswith("node-"), f"{what}: tracker version")
    t.eq(ok.get("anonymousId"), f"duid-{run}", f"{what}: anonymousId = domain user id")
    t.ok(isinstance(ok.get("context", {}).get("ip"), str), f"{what}: client IP recorded")
    t.ok(isinstance(ok.get("timestamp"), str) and ok["timestamp"].endswith("Z"),
         f"{what}: dtm as an ISO timestamp")
    t.eq(ok.get("context", {}).get("app"), {"name": "northwind-web"}, f"{what}: app id")

    bad = pick(NW.format("add_to_basket", "1-0-0"), sku("NW-42"))
    t.eq(bad["_stream"], "sluice:invalid", f"{what}: broken add_to_basket quarantined")
    base = "/snowplow/unstruct_event/data/data"
    t.eq(vios(bad), {("Pattern-Mismatch", base + "/sku"), ("Range-Violation", base + "/quantity"),
                     ("Enum-Mismatch", base + "/currency")}, f"{what}: add_to_basket violations")
    msgs = [v["message"] for v in bad["_vio"]]
    t.ok(any(m.startswith(NW.format("add_to_basket", "1-0-0") + ": $.quantity: ") for m in msgs),
         f"{what}: message names the schemaKey and the data path: {msgs}")

    order = pick(NW.format("order_completed", "1-0-0"))
    t.eq(order["_stream"], "sluice:events", f"{what}: order_completed valid {order['_vio']}")
    cb = pick(NW.format("checkout_step", "1-0-0"))
    t.eq(cb["_stream"], "sluice:invalid", f"{what}: a broken context quarantines its event")
    t.eq(vios(cb), {("Enum-Mismatch", "/snowplow/contexts/data/0/data/roast"),
                    ("Required-Missing", "/snowplow/contexts/data/0/data/name")},
         f"{what}: context violations at their entity")
    unk = pick(NW.format("checkout_step", "1-0-2"))
    t.eq(vios(unk), {("Unknown-Schema", "/snowplow/unstruct_event/data/schema")},
         f"{what}: an unknown version is Unknown-Schema")
    t.eq(unk["_stream"], "sluice:invalid", f"{what}: ... and quarantined")

    se = pick("newsletter_signup")
    t.eq(se["_stream"], "sluice:events", f"{what}: structured event valid {se['_vio']}")
    t.eq(se.get("properties"), {"category": "engagement", "action": "newsletter_signup",
                                "label": "footer", "value": 1}, f"{what}: se_* as properties")
    sb = pick("share_product")
    t.eq(vios(sb), {("Enum-Mismatch", "/properties/label")}, f"{what}: se checked by the plan")
    pv = pick("Home", lambda e: e.get("type") == "page")
    t.eq(pv["_stream"], "sluice:events", f"{what}: page view valid {pv['_vio']}")
    t.eq(pv.get("properties", {}).get("url"), "https://northwind.test/", f"{what}: pv url")
    t.eq(pv.get("context", {}).get("page", {}).get("referrer"), "https://search.test/",
         f"{what}: pv referrer in context.page")


def tp2(*events):
    return json.dumps({"schema": PD, "data": list(events)})


def ev_by_id(r, eid):
    got = [e for e in stored(r) if e.get("messageId") == eid]
    return got[0] if len(got) == 1 else None


def test_http(s, r):
    st, h, data = s.request("GET", "/health")
    t.eq((st, data), (200, b"OK"), "GET /health")
    st, h, data = s.request("GET", "/ice.png?e=pv&p=web&tv=js-3&url=https%3A%2F%2Fn.test%2F&page=Home"
                            "&eid=ice-1")
    t.eq((st, h.get("content-type")), (200, "image/gif"), "GET /ice.png: a GIF")
    t.ok(data.startswith(b"GIF89a") and "no-store" in h.get("cache-control", ""),
         "GET /ice.png: 1x1, not cached")
    t.ok((ev_by_id(r, "ice-1") or {}).get("_stream") == "sluice:events", "/ice.png event stored")

    # CORS, as the JS tracker's fetch with credentials needs it
    st, h, _ = s.request("OPTIONS", TP2, headers={
        "Origin": "https://northwind.test", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, sp-anonymous"})
    t.eq(st, 204, "preflight: 204")
    t.eq(h.get("access-control-allow-origin"), "https://northwind.test", "preflight: origin echoed")
    t.eq(h.get("access-control-allow-credentials"), "true", "preflight: credentials allowed")
    t.ok("sp-anonymous" in h.get("access-control-allow-headers", "").lower(),
         "preflight: SP-Anonymous allowed")
    body = tp2({"e": "pv", "p": "web", "tv": "js-3", "eid": "anon-1", "url": "https://n.test/",
                "page": "Home", "ip": "203.0.113.9", "nuid": "nu-1"})
    st, h, data = s.post(TP2, body, ctype="application/json; charset=UTF-8",
                         headers={"Origin": "https://northwind.test", "SP-Anonymous": "*"})
    t.eq((st, data), (200, b"ok"), "POST tp2: 200 ok")
    t.eq(h.get("access-control-allow-credentials"), "true", "POST tp2: credentials allowed")
    ev = ev_by_id(r, "anon-1") or {}
    t.ok("ip" not in ev.get("context", {}), f"SP-Anonymous: no IP kept {ev.get('context')}")
    t.ok("ip" not in ev.get("snowplow", {}).get("params", {}) and
         "nuid" not in ev.get("snowplow", {}).get("params", {}), "SP-Anonymous: no ip/nuid param")
    t.ok("203.0.113.9" not in json.dumps(ev), "SP-Anonymous: the address appears nowhere")

    # The tracker protocol itself
    body = tp2({"e": "zz", "p": "toaster", "eid": "proto-1", "dtm": "soon", "res": "wide"},
               {"e": "se", "p": "web", "tv": "js-3", "eid": "proto-2", "se_ac": "share_product",
                "se_la": "x", "se_va": "ten"},
               {"e": "ue", "p": "web", "tv": "js-3", "eid": "proto-3", "ue_px": "!!not-base64!!"},
               {"e": "pv", "p": "web", "tv": "js-3", "eid": "proto-4", "url": "https://n.test/",
                "page": "Home", "co": json.dumps({"schema": CX, "data": [
                    {"schema": "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0",
                     "data": {"id": "9f0a"}}]})})
    st, _, data = s.post(TP2, body)
    t.eq(st, 200, f"protocol violations are stored, not refused ({data[:120]!r})")
    p = "/snowplow/params/"
    e1 = ev_by_id(r, "proto-1") or {"_vio": []}
    t.eq({(k, pa) for k, pa in vios(e1)}, {("Invalid-Envelope", p + "tv"), ("Invalid-Envelope", p + "e"),
                                           ("Invalid-Envelope", p + "p"),
                                           ("Invalid-Envelope", p + "dtm"),
                                           ("Invalid-Envelope", p + "res")},
         "missing tv, unknown e and p, non-numeric dtm and res")
    e2 = ev_by_id(r, "proto-2") or {"_vio": []}
    t.ok(("Invalid-Envelope", p + "se_ca") in vios(e2) and ("Invalid-Envelope", p + "se_va") in vios(e2),
         f"se without category, se_va not a number: {vios(e2)}")
    e3 = ev_by_id(r, "proto-3") or {"_vio": []}
    t.eq(vios(e3), {("Invalid-Envelope", p + "ue_px")}, "a ue_px that is not base64url")
    e4 = ev_by_id(r, "proto-4") or {}
    t.eq(e4.get("_stream"), "sluice:events", "Iglu Central's own web_page entity passes")

    # Bodies that are not the protocol: refused with a location
    st, _, data = s.post(TP2, '{"schema": "%s", "data": [{"e": "pv",}]}' % PD)
    t.eq(st, 400, "malformed tp2 JSON: 400")
    t.ok(b"line 1, column" in data, f"... with its position: {data[:160]!r}")
    st, _, data = s.post(TP2, json.dumps({"schema": "iglu:com.acme/x/jsonschema/1-0-0", "data": []}))
    t.eq(st, 400, f"a body that is not payload_data: 400 ({data[:100]!r})")
    st, _, _ = s.post(TP2, json.dumps({"schema": PD, "data": ["e=pv"]}))
    t.eq(st, 400, "payload_data with a non-object event: 400")
    st, _, _ = s.request("GET", TP2)
    t.eq(st, 405, "GET tp2: 405")
    st, _, _ = s.post("/i", "{}")
    t.eq(st, 405, "POST /i: 405")
    st, _, _ = s.request("GET", "/i?e=pv&url=%zz")
    t.eq(st, 400, "GET /i with a broken escape: 400")


def jget(s, path, body=None):
    if body is None:
        st, _, data = s.request("GET", path)
    else:
        st, _, data = s.post(path, json.dumps(body))
    try:
        return st, json.loads(data)
    except ValueError:
        return st, data


def test_micro(s):
    st, j = jget(s, "/micro/all?session=qa-post")
    t.eq((st, j), (200, {"total": 8, "good": 4, "bad": 4}), "micro/all of the POST session")
    st, j = jget(s, "/micro/all", {"session": "qa-get"})
    t.eq(j, {"total": 8, "good": 4, "bad": 4}, "micro/all of the GET session (POST body filter)")
    st, j = jget(s, "/micro/good?session=qa-post&event_type=unstruct")
    t.eq(st, 200, "micro/good: 200")
    t.eq(sorted(x["schema"] for x in j),
         [NW.format("add_to_basket", "1-0-0"), NW.format("order_completed", "1-0-0")],
         "micro/good event_type=unstruct")
    st, j = jget(s, "/micro/good", {"session": "qa-post", "schema": NW.format("add_to_basket", "1-0-0"),
                                    "contexts": [NW.format("product", "1-0-1")]})
    t.eq(len(j), 1, "micro/good schema + contexts filter")
    if j:
        t.eq(j[0]["eventType"], "unstruct", "micro/good: eventType")
        t.eq(j[0]["contexts"], [NW.format("product", "1-0-1"), NW.format("user", "1-0-0")],
             "micro/good: contexts")
        t.eq(j[0]["event"]["snowplow"]["unstruct_event"]["data"]["data"]["sku"], "NW-0042",
             "micro/good: the stored event")
    st, j = jget(s, "/micro/good?session=qa-post&event_type=page_view")
    t.eq([x["event"].get("name") for x in j], ["Home"], "micro/good event_type=page_view")
    st, j = jget(s, "/micro/good?session=qa-post&limit=1")
    t.eq(len(j), 1, "micro/good limit=1")
    st, j = jget(s, "/micro/bad?session=qa-post&vendor=com.northwind&name=add_to_basket")
    t.eq(len(j), 1, "micro/bad vendor + name")
    if j:
        t.ok(any(e.startswith("Range-Violation at /snowplow/unstruct_event/data/data/quantity: ")
                 for e in j[0]["errors"]), f"micro/bad errors: {j[0]['errors']}")
        t.eq(len(j[0]["violations"]), 3, "micro/bad: the violations")
    st, j = jget(s, "/micro/bad?session=qa-post")
    t.eq(len(j), 4, "micro/bad of the session")

    # Any protocol: a Segment call in its own session
    st, _, _ = s.post("/v1/track", json.dumps({
        "event": "newsletter_signup", "anonymousId": "seg-1",
        "properties": {"category": "engagement", "action": "newsletter_signup"},
        "context": {"sluice": {"session": "qa-seg"}}}))
    t.eq(st, 200, "segment track accepted")
    st, j = jget(s, "/micro/good?session=qa-seg")
    t.eq([(x["eventType"], x["event"]["event"]) for x in j], [("track", "newsletter_signup")],
         "micro/good sees a Segment call too")

    st, j = jget(s, "/micro/reset?session=qa-post")
    t.eq(j, {"total": 0, "good": 0, "bad": 0}, "micro/reset of one session")
    st, j = jget(s, "/micro/all?session=qa-get")
    t.eq(j["total"], 8, "... the other session is kept")
    st, j = jget(s, "/micro/all", {"limit": "x"})
    t.eq(st, 400, f"micro: a malformed filter is a 400 ({j})")
    st, j = jget(s, "/micro/nope")
    t.eq(st, 404, "micro: unknown route 404")
    st, j = jget(s, "/micro/reset", {})
    st, j = jget(s, "/micro/all")
    t.eq(j, {"total": 0, "good": 0, "bad": 0}, "micro/reset of all")


def main():
    if len(sys.argv) < 2:
        print("usage: it_snowplow.py path/to/sluice")
        return 2
    node = ensure_sdk()
    binary = os.path.abspath(sys.argv[1])
    tmp = tmpdir()
    rp, rport, r = start_redis(tmp)
    s = None
    try:
        s = Serve(binary, ["--plan", os.path.join(ROOT, "specs", "snowplow.yaml"), "--redis",
                           f"redis://127.0.0.1:{rport}", "--workers", "2", "--micro", "1000"], tmp)
        test_tracker(node, s, r, "post", False)
        test_tracker(node, s, r, "get", True)
        test_micro(s)
        test_http(s, r)
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
