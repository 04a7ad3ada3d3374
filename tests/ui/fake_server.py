#!/usr/bin/env python3
"""fake_server.py - a FAKE of the collector's dashboard endpoints, for developing the /ui page.

NOT the real server and not a test of it: `tests/it_ui.py --fake` uses it to exercise the page
(collector/ui/*, served from disk) when `sluice serve` cannot provide the endpoints yet. The real
test (`tests/it_ui.py SLUICE`) never touches this file.

It speaks the JSON contract written at the top of collector/ui/app.js:
  POST /v1/track, /v1/t, /v1/batch, /v1/b   events in (a toy validator, a handful of rules)
  GET  /v1/violations?since=N, /v1/stats/series?minutes=N, /v1/coverage, /v1/alerts
  GET  /v1/violations/stream                Server-Sent Events
  GET  /ui, /ui/, /ui/app.js, /ui/style.css the page, from collector/ui/
Test controls (fake only):
  POST /__fake/missing {"paths": ["/v1/alerts", ...]}  those endpoints answer 404 from now on
Usage: fake_server.py --port N [--plan specs/ecommerce.yaml] [--history] [--missing P1,P2]
(prints "ready PORT" once listening)."""
import argparse
import json
import os
import queue
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
UI_DIR = os.path.join(ROOT, "collector", "ui")
UI_FILES = {
    "/ui": ("index.html", "text/html; charset=utf-8"),
    "/ui/": ("index.html", "text/html; charset=utf-8"),
    "/ui/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/ui/style.css": ("style.css", "text/css; charset=utf-8"),
}

# The toy validator: just enough rules to produce each kind of row the page shows.
REQUIRED = {
    "Order Completed": ["order_id", "total", "currency", "products"],
    "Product Added": ["product_id", "cart_id"],
    "Product Viewed": ["product_id"],
    "Products Searched": ["query"],
}
MONEY = {"total", "revenue", "price", "subtotal", "value", "shipping", "tax", "discount"}
CURRENCIES = {"USD", "EUR", "GBP", "CAD", "AUD", "CHF", "SEK", "JPY"}
ALERT_THRESHOLD = 3  # invalid events of one name in the window


def planned_events(plan_path):
    """Event names under the top-level `events:` key (2-space indented keys)."""
    names, inside = [], False
    with open(plan_path, encoding="utf-8") as f:
        for line in f:
            if re.match(r"^\S", line):
                inside = line.startswith("events:")
                continue
            m = re.match(r"^  ([^\s#][^:]*):\s*$", line)
            if inside and m:
                names.append(m.group(1).strip())
    return names


def validate(ev, planned):
    vios = []
    name = ev.get("event")
    if not isinstance(name, str) or not name:
        return [{"kind": "Invalid-Envelope", "path": "/event", "keyword": "required",
                 "message": "a track call needs an event name"}]
    if name not in planned:
        vios.append({"kind": "Unplanned-Event", "path": "/event", "keyword": "event",
                     "message": f"'{name}' is not in the tracking plan"})
        return vios
    props = ev.get("properties") if isinstance(ev.get("properties"), dict) else {}
    for p in REQUIRED.get(name, []):
        if p not in props:
            vios.append({"kind": "Required-Missing", "path": f"/properties/{p}",
                         "keyword": "required", "message": f"required property '{p}' is missing"})
    for k, v in props.items():
        if k in MONEY and (not isinstance(v, (int, float)) or isinstance(v, bool)):
            vios.append({"kind": "Datatype-Mismatch", "path": f"/properties/{k}",
                         "keyword": "type",
                         "message": f"expected number, found {type(v).__name__}"})
        elif k == "currency" and v not in CURRENCIES:
            vios.append({"kind": "Enum-Mismatch", "path": "/properties/currency",
                         "keyword": "enum", "message": f"{json.dumps(v)} is not an allowed value"})
    src = ((ev.get("context") or {}).get("campaign") or {}).get("source")
    if isinstance(src, str) and not re.match(r"^[a-z0-9_.-]+$", src):
        vios.append({"kind": "Pattern-Mismatch", "path": "/context/campaign/source",
                     "keyword": "pattern", "message": "does not match ^[a-z0-9_.-]+$"})
    return vios


class State:
    def __init__(self, planned):
        self.lock = threading.Lock()
        self.planned = planned
        self.minutes = {}   # minute start -> [valid, invalid]
        self.groups = {}    # (event, kind, path) -> dict
        self.events = {}    # name -> [valid, invalid, last_ts]
        self.alerts = []
        self.subscribers = []
        self.missing = set()

    def record(self, ev, write_key):
        now = time.time()
        vios = validate(ev, self.planned)
        name = ev.get("event") if isinstance(ev.get("event"), str) else ""
        text = json.dumps(ev, separators=(",", ":"))
        with self.lock:
            m = self.minutes.setdefault(int(now // 60) * 60, [0, 0])
            m[1 if vios else 0] += 1
            e = self.events.setdefault(name, [0, 0, now])
            e[1 if vios else 0] += 1
            e[2] = now
            for v in vios:
                g = self.groups.setdefault((name, v["kind"], v["path"]), {
                    "event": name, "kind": v["kind"], "path": v["path"], "count": 0,
                    "first_seen": int(now), "last_seen": int(now), "examples": []})
                g["count"] += 1
                g["last_seen"] = int(now)
                if len(g["examples"]) < 3:
                    g["examples"].append(text)
            if vios and e[1] == ALERT_THRESHOLD:
                self.alerts.append({
                    "alert": "invalid_events", "event": name, "value": e[1],
                    "threshold": ALERT_THRESHOLD, "fired_at": int(now),
                    "text": f"{name}: {e[1]} invalid events in the last 60 minutes"})
            msg = {"ts": round(now, 3), "write_key": write_key, "event": name,
                   "session": ev.get("anonymousId") or ev.get("userId") or "",
                   "violations": vios, "example": text}
            subs = list(self.subscribers)
        if vios:
            for q in subs:
                q.put(msg)
        return vios

    def seed_history(self):
        """60 minutes of made-up traffic so the charts have a shape during page development."""
        now_min = int(time.time() // 60) * 60
        for i in range(1, 60):
            t = now_min - i * 60
            valid = 40 + (i * 7) % 23
            invalid = (i * 5) % 9 if i % 11 else 25
            self.minutes[t] = [valid, invalid]


class Handler(BaseHTTPRequestHandler):
    server_version = "sluice-fake-ui/0"
    state: State = None  # set in main

    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def not_found(self):
        self.send_json(404, {"success": False, "error": "no such endpoint"})

    def do_GET(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query)
        st = self.state
        if u.path in st.missing:
            return self.not_found()
        if u.path in UI_FILES:
            name, ctype = UI_FILES[u.path]
            with open(os.path.join(UI_DIR, name), "rb") as f:
                body = f.read()
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(body)
            return
        if u.path == "/healthz":
            return self.send_json(200, {"status": "ok"})
        if u.path == "/v1/violations":
            now = int(time.time())
            since = int(float(q.get("since", [now - 3600])[0]))
            with st.lock:
                groups = [dict(g) for g in st.groups.values() if g["last_seen"] >= since]
                events = [{"event": k, "valid": v[0], "invalid": v[1]}
                          for k, v in st.events.items() if v[2] >= since]
            groups.sort(key=lambda g: -g["count"])
            return self.send_json(200, {"since": since, "until": now, "groups": groups,
                                        "events": events})
        if u.path == "/v1/stats/series":
            n = int(q.get("minutes", ["60"])[0])
            now_min = int(time.time() // 60) * 60
            with st.lock:
                mins = [{"t": t, "valid": st.minutes.get(t, [0, 0])[0],
                         "invalid": st.minutes.get(t, [0, 0])[1]}
                        for t in range(now_min - (n - 1) * 60, now_min + 1, 60)]
            return self.send_json(200, {"minutes": mins})
        if u.path == "/v1/coverage":
            with st.lock:
                seen = {k for k, v in st.events.items() if v[0] + v[1] and k in st.planned}
            return self.send_json(200, {
                "events_planned": len(st.planned), "events_seen": len(seen),
                "events_unseen": [e for e in st.planned if e not in seen]})
        if u.path == "/v1/alerts":
            with st.lock:
                return self.send_json(200, {"alerts": list(st.alerts)})
        if u.path == "/v1/violations/stream":
            return self.stream()
        return self.not_found()

    def stream(self):
        q = queue.Queue()
        with self.state.lock:
            self.state.subscribers.append(q)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(b": hello\n\n")
            self.wfile.flush()
            while True:
                try:
                    msg = q.get(timeout=10)
                    data = b"data: " + json.dumps(msg).encode() + b"\n\n"
                except queue.Empty:
                    data = b": keep-alive\n\n"
                self.wfile.write(data)
                self.wfile.flush()
        except OSError:
            pass
        finally:
            with self.state.lock:
                self.state.subscribers.remove(q)

    def do_POST(self):
        u = urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return self.send_json(400, {"success": False, "error": "body is not JSON"})
        if u.path == "/__fake/missing":
            self.state.missing = set(body.get("paths", []))
            return self.send_json(200, {"success": True})
        if u.path in self.state.missing:
            return self.not_found()
        key = "fake-key"
        if u.path in ("/v1/track", "/v1/t"):
            items = [dict(body, type="track")]
        elif u.path in ("/v1/batch", "/v1/b"):
            items = [b for b in body.get("batch", []) if isinstance(b, dict)]
        else:
            return self.not_found()
        for ev in items:
            if ev.get("type", "track") == "track":
                self.state.record(ev, ev.get("writeKey") or key)
        return self.send_json(200, {"success": True})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--plan", default=os.path.join(ROOT, "specs", "ecommerce.yaml"))
    ap.add_argument("--history", action="store_true", help="seed 60 minutes of made-up traffic")
    ap.add_argument("--missing", default="", help="comma-separated paths that answer 404")
    a = ap.parse_args()
    Handler.state = State(planned_events(a.plan))
    Handler.state.missing = {p for p in a.missing.split(",") if p}
    if a.history:
        Handler.state.seed_history()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    print(f"ready {a.port}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
