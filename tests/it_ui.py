#!/usr/bin/env python3
"""it_ui.py - the /ui dashboard in headless Chromium against the real `sluice serve`.

  it_ui.py SLUICE          the ctest entry: a real redis-server and the real binary on 127.0.0.1.
                           POSTs valid and invalid events (specs/ecommerce.yaml), then
                           tests/ui/ui.test.js opens /ui, sends more events once the live tail is
                           connected, and waits for all of them in the top-violations table and
                           the live tail. An endpoint the server lacks fails the test by name.
  it_ui.py SLUICE --fake   page development only: the same browser test against
                           tests/ui/fake_server.py (a FAKE of the endpoints, page served from
                           collector/ui/ on disk), plus the "not available" degradation checks.

Screenshot: $SLUICE_ARTIFACTS_DIR/ui-screenshot.png (default build/ui-screenshot.png; the fake
mode writes ui-screenshot-fake.png). Exit 77 (skipped) when Chromium, node/npm, redis-server or
the collector are missing, or `npm ci` cannot fetch playwright-core. Last line: N passed, N failed.
"""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
UI_TEST = os.path.join(HERE, "ui")
sys.path.insert(0, os.path.join(HERE, "data", "serve"))
from harness import SKIP, Checks, Serve, free_port, start_redis, tmpdir  # noqa: E402

PLAN = os.path.join(ROOT, "specs", "ecommerce.yaml")
t = Checks()

# The dashboard endpoints the page consumes (see the contract at the top of collector/ui/app.js).
ENDPOINTS = ["/v1/violations?since=0", "/v1/stats/series?minutes=60", "/v1/coverage",
             "/v1/alerts"]
STREAM = "/v1/violations/stream"


def skip(why):
    print(f"skipped: {why}")
    sys.exit(SKIP)


def find_chromium():
    for c in (os.environ.get("SLUICE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
              shutil.which("chromium-browser")):
        if c and os.access(c, os.X_OK):
            return c
    return None


def ensure_playwright():
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        skip("node/npm not installed (apt-get install nodejs npm)")
    if os.path.isdir(os.path.join(UI_TEST, "node_modules", "playwright-core")):
        return node
    try:
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=UI_TEST,
                           capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        skip("npm ci timed out (no registry?) in tests/ui")
    if r.returncode != 0:
        skip("npm ci failed in tests/ui (no registry?):\n" + r.stderr[-1500:])
    return node


def http_get(base, path, timeout=5):
    """(status, content-type, body bytes); status 0 when the connection failed."""
    try:
        with urllib.request.urlopen(base + path, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()
    except OSError as e:
        return 0, "", str(e).encode()


def stream_status(base):
    """Opens the SSE endpoint and returns (status, content-type) without reading the stream."""
    req = urllib.request.Request(base + STREAM, headers={"Accept": "text/event-stream"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", "")
    except OSError:
        return 0, ""


def post(base, path, body):
    data = json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return 0, str(e).encode()


def make_events(run):
    """Events against specs/ecommerce.yaml. Unplanned names carry the run id, so what the page
    shows was sent by this run."""
    ctx = {"library": {"name": "it_ui", "version": "1"}, "locale": "en-US"}
    sess = f"ui-{run}"

    def ev(name, props, **extra):
        e = {"type": "track", "event": name, "properties": props, "anonymousId": sess,
             "userId": f"user-{run}", "context": dict(ctx), "messageId": str(uuid.uuid4())}
        e.update(extra)
        return e

    product = {"product_id": "65f1c0a2b7e4d93a1c8f2e55", "sku": "AO-JKT-310-L", "price": 89.0}
    valid = [
        ev("Product Viewed", dict(product, currency="EUR")),
        ev("Products Searched", {"query": "rain jacket", "results_count": 12}),
        ev("Product Viewed", dict(product)),
    ]
    typo = f"Checkout Startd {run}"
    order = {"order_id": "AO-20240412", "total": 112.31, "currency": "USD",
             "products": [{"product_id": "65f1c0a2b7e4d93a1c8f2e55", "quantity": 1}]}
    invalid1 = [
        ev("Order Completed", dict(order, total="112.31")),            # string where money goes
        ev(typo, {"step": 1}),                                          # unplanned (a typo)
        ev("Product Added", dict(product)),                             # cart_id missing
        ev("Products Searched", {"query": "boots"},
           context=dict(ctx, campaign={"source": "Google", "medium": "cpc"})),  # not lowercase
        ev("Order Completed", dict(order, total="99.00")),
    ]
    live_typo = f"Coupon Aplied {run}"
    invalid2 = [
        ev(live_typo, {"coupon": "SPRING25"}),
        ev("Order Completed", dict(order, currency="EURO")),
    ]
    table = [
        {"event": "Order Completed", "kind": "Datatype-Mismatch", "path": "/properties/total",
         "min_count": 2},
        {"event": typo, "kind": "Unplanned-Event"},
        {"event": "Product Added", "kind": "Required-Missing"},
        {"event": "Products Searched", "kind": "Pattern-Mismatch",
         "path": "/context/campaign/source"},
        {"event": live_typo, "kind": "Unplanned-Event"},
        {"event": "Order Completed", "kind": "Enum-Mismatch", "path": "/properties/currency"},
    ]
    tail = [
        {"event": live_typo, "kind": "Unplanned-Event"},
        {"event": "Order Completed", "kind": "Enum-Mismatch", "path": "/properties/currency"},
    ]
    spec = {
        "run": run,
        "table": table,
        "tail": tail,
        "phase2": [{"path": "/v1/track", "body": e} for e in invalid2],
        "valid_events": ["Product Viewed", "Products Searched"],
        "example_contains": "112.31",
    }
    return valid, invalid1, spec


def check_endpoints(base):
    """Names each dashboard endpoint the server lacks; the browser test still runs, so the
    screenshot shows how the page copes."""
    st, ct, body = http_get(base, "/ui")
    t.ok(st == 200 and ct.startswith("text/html") and b"/ui/app.js" in body,
         f"GET /ui: 200 text/html with the page (got {st} {ct!r})")
    for p in ("/ui/", "/ui/app.js", "/ui/style.css"):
        st, ct, _ = http_get(base, p)
        t.eq(st, 200, f"GET {p}: status")
    for p in ENDPOINTS:
        st, ct, body = http_get(base, p)
        ok = st == 200 and ct.startswith("application/json")
        try:
            json.loads(body)
        except ValueError:
            ok = False
        t.ok(ok, f"GET {p.split('?')[0]}: 200 JSON (got {st} {ct!r}: {body[:120]!r})"
             + ("; the server does not provide this dashboard endpoint yet" if st == 404 else ""))
    st, ct = stream_status(base)
    t.ok(st == 200 and ct.startswith("text/event-stream"),
         f"GET {STREAM}: 200 text/event-stream (got {st} {ct!r})"
         + ("; the server does not provide the live stream yet" if st == 404 else ""))


def run_browser(node, chromium, base, spec, tmp, shot):
    spec_path = os.path.join(tmp, "ui-spec.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    env = dict(os.environ, SLUICE_UI_BASE=base, SLUICE_UI_SPEC=spec_path, SLUICE_CHROMIUM=chromium,
               SLUICE_UI_SCREENSHOT=shot)
    try:
        p = subprocess.run([node, "ui.test.js"], cwd=UI_TEST, env=env, capture_output=True,
                           text=True, timeout=420)
    except subprocess.TimeoutExpired as e:
        t.ok(False, f"ui.test.js finished in time (output: {(e.stdout or '')[-2000:]})")
        return
    out = p.stdout.strip().splitlines()
    for ln in out[:-1]:
        print("  " + ln)
    if p.stderr.strip():
        print("  stderr: " + p.stderr.strip()[-3000:])
    t.eq(p.returncode, 0, f"ui.test.js ({out[-1] if out else 'no output'})")


def send_first_events(base, valid, invalid):
    for e in valid + invalid:
        st, body = post(base, "/v1/track", e)
        t.eq(st, 200, f"POST /v1/track {e['event']!r}: status ({body[:120]!r})")
    # and the same shape once more through /v1/batch
    st, body = post(base, "/v1/batch", {"batch": [valid[0], invalid[0]]})
    t.eq(st, 200, f"POST /v1/batch: status ({body[:120]!r})")


def artifacts_dir():
    d = os.environ.get("SLUICE_ARTIFACTS_DIR") or os.path.join(ROOT, "build")
    os.makedirs(d, exist_ok=True)
    return d


def main_real(binary, node, chromium):
    probe = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, timeout=30)
    if "no collector" in (probe.stdout + probe.stderr):
        skip("this sluice build has no collector (libuv/hiredis/llhttp missing)")
    tmp = tmpdir()
    rp, rport, r = start_redis(tmp)
    s = None
    try:
        s = Serve(binary, ["--plan", PLAN, "--redis", f"redis://127.0.0.1:{rport}"], tmp)
        base = f"http://127.0.0.1:{s.port}"
        run = uuid.uuid4().hex[:8]
        valid, invalid, spec = make_events(run)
        spec["mode"] = "real"
        check_endpoints(base)
        send_first_events(base, valid, invalid)
        run_browser(node, chromium, base, spec, tmp, os.path.join(artifacts_dir(),
                                                                  "ui-screenshot.png"))
    finally:
        if s:
            rc = s.stop()
            with open(s.log_path, "rb") as f:
                log = f.read().decode(errors="replace")
            t.eq(rc, 0, "sluice serve exit code after SIGTERM (log tail:\n" + log[-2000:] + ")")
        r.close()
        rp.kill()
        rp.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main_fake(node, chromium):
    print("FAKE MODE: the page against tests/ui/fake_server.py, not the real collector")
    tmp = tmpdir()
    port = free_port()
    fp = subprocess.Popen([sys.executable, os.path.join(UI_TEST, "fake_server.py"), "--port",
                           str(port), "--plan", PLAN, "--history"],
                          stdout=subprocess.PIPE, text=True)
    try:
        line = fp.stdout.readline()
        if not line.startswith("ready"):
            t.ok(False, f"fake server started (said {line!r})")
            return
        base = f"http://127.0.0.1:{port}"
        run = uuid.uuid4().hex[:8]
        valid, invalid, spec = make_events(run)
        spec["mode"] = "fake"
        spec["alert_contains"] = "Order Completed: 3 invalid events"
        check_endpoints(base)
        send_first_events(base, valid, invalid)
        run_browser(node, chromium, base, spec, tmp, os.path.join(artifacts_dir(),
                                                                  "ui-screenshot-fake.png"))
    finally:
        fp.terminate()
        try:
            fp.wait(10)
        except subprocess.TimeoutExpired:
            fp.kill()
            fp.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    args = sys.argv[1:]
    fake = "--fake" in args
    args = [a for a in args if a != "--fake"]
    if not args and not fake:
        print("usage: it_ui.py path/to/sluice [--fake]")
        return 2
    # The embedded copy of the page must match collector/ui/ (no browser needed for this one).
    emb = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "embed_ui.py"), "--check"],
                         capture_output=True, text=True)
    if not t.ok(emb.returncode == 0, "collector/ui_assets.c matches collector/ui/ "
                f"(scripts/embed_ui.py --check: {(emb.stdout + emb.stderr).strip()})"):
        return t.done()
    chromium = find_chromium()
    if not chromium:
        skip("Chromium not found (apt-get install chromium, or set SLUICE_CHROMIUM)")
    node = ensure_playwright()
    started = time.time()
    if fake:
        main_fake(node, chromium)
    else:
        main_real(args[0], node, chromium)
    print(f"it_ui: {time.time() - started:.1f} s")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
