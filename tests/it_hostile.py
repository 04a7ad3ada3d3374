#!/usr/bin/env python3
"""it_hostile.py - `sluice serve` against hostile clients: a real redis-server (with a password) and
the real binary on 127.0.0.1.

1. Slowloris: hundreds of connections trickling headers, trickling bodies or sending nothing, while
   wrk sends normal traffic; the throughput with them must stay >= 50% of the same run without
   them (both measured here, numbers printed), and the slow connections must be closed (408) by
   the header / body timeouts. A slow but steady upload above --min-body-rate still succeeds.
2. Bad input: every refused case answers its status with a JSON error saying what and where.
3. Per-write-key rate limit: 429 + Retry-After + JSON error, shared across workers, metrics.
4. The log never holds a write key or the Redis password.
After all of it the server still answers /healthz and stores events. argv[1] = the sluice binary."""
import base64
import gzip
import json
import os
import re
import selectors
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "serve"))
from harness import Checks, Redis, Serve, free_port, raw_exchange, tmpdir  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PLAN = os.path.join(HERE, "data", "serve", "plan.yaml")
KEY = "wk_hostile_main_7f3a"
KEY_RL = "wk_hostile_limited_91c2"
PASSWORD = "pw-hostile-5d8e0b"
HEADER_TIMEOUT_MS = 1500
BODY_TIMEOUT_MS = 1500
SLOW_CONNS = 300
WRK_SECONDS = 4

t = Checks()


def auth(key):
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def body_json(data):
    try:
        return json.loads(data)
    except ValueError:
        return None


def check_error(st, data, status, what, needles=(), limit=None):
    j = body_json(data)
    t.eq(st, status, f"{what}: status ({data[:160]!r})")
    ok = isinstance(j, dict) and j.get("success") is False and isinstance(j.get("error"), str)
    t.ok(ok, f"{what}: JSON error body, got {data[:200]!r}")
    err = j.get("error", "") if ok else ""
    for n in needles:
        t.ok(n in err, f"{what}: error mentions {n!r}: {err!r}")
    if limit:
        t.eq(j and j.get("limit"), limit, f"{what}: names the limit")
    return j


def raw_response(data):
    """(status, headers dict, body) of one raw HTTP/1.1 answer."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return None, {}, data
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        hdrs[k.strip().lower().decode()] = v.strip().decode()
    return status, hdrs, body


def start_redis_pw(tmp):
    exe = shutil.which("redis-server")
    if not exe:
        print("redis-server not found: skipping")
        sys.exit(77)
    port = free_port()
    p = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", tmp, "--requirepass", PASSWORD],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            r = Redis(port)
            r.cmd("AUTH", PASSWORD)
            return p, port, r
        except (OSError, RuntimeError, ConnectionError):
            time.sleep(0.05)
    p.kill()
    raise RuntimeError("redis-server did not start")


# ---- 1. slow clients ---------------------------------------------------------------------------

def wrk_run(port, seconds, tmp):
    """Requests/s of 200 answers for POST /v1/track over keep-alive connections."""
    lua = os.path.join(tmp, "track.lua")
    body = json.dumps({"userId": "u1", "event": "Product Viewed", "properties": {"sku": "A-1"}})
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\n')
        f.write(f"wrk.body = {json.dumps(body)}\n")
        f.write('wrk.headers["Content-Type"] = "application/json"\n')
        f.write(f'wrk.headers["Authorization"] = "{auth(KEY)}"\n')
    out = subprocess.run(["wrk", "-t1", "-c16", f"-d{seconds}s", "-s", lua,
                          f"http://127.0.0.1:{port}/v1/track"],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    m = re.search(r"(\d+) requests in ([\d.]+)s", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: (.*)", out)
    if not m:
        print(out, file=sys.stderr)
        return 0.0, 0, out
    n, secs = int(m.group(1)), float(m.group(2))
    nbad = int(bad.group(1)) if bad else 0
    return (n - nbad) / secs, nbad, errs.group(1) if errs else ""


class Slowloris:
    """SLOW_CONNS connections in three kinds, kept up (a closed one is reopened) until stop():
    'head' trickles header bytes, 'body' sends headers then trickles the body, 'mute' sends
    nothing. Records how long each lasted and what the server answered."""

    KINDS = ("head", "body", "mute")

    def __init__(self, port, n):
        self.port = port
        self.n = n
        self.sel = selectors.DefaultSelector()
        self.conns = {}
        self.closed = []  # (kind, lifetime s, first answer bytes)
        self.opened = 0

    def _open(self, kind):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", self.port))
        except BlockingIOError:
            pass
        st = {"kind": kind, "t0": time.time(), "next": time.time(), "sent": 0, "resp": b"",
              "sock": s}
        if kind == "head":
            st["data"] = (b"POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"X-Slow: " + b"a" * 3000 + b"\r\n\r\n")
        elif kind == "body":
            st["data"] = (b"POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 60000\r\n\r\n")
            st["body_left"] = 60000
        self.conns[s.fileno()] = st
        self.sel.register(s, selectors.EVENT_READ, st)
        self.opened += 1

    def _close(self, st):
        self.sel.unregister(st["sock"])
        del self.conns[st["sock"].fileno()]
        st["sock"].close()
        self.closed.append((st["kind"], time.time() - st["t0"], st["resp"]))

    def step(self, keep_open=True):
        now = time.time()
        for st in list(self.conns.values()):
            if now < st["next"] or st["kind"] == "mute":
                continue
            try:
                if st["kind"] == "head" and st["sent"] < len(st["data"]):
                    st["sock"].send(st["data"][st["sent"]:st["sent"] + 2])
                    st["sent"] += 2
                    st["next"] = now + 0.2
                elif st["kind"] == "body":
                    if st["sent"] < len(st["data"]):
                        st["sock"].send(st["data"])
                        st["sent"] = len(st["data"])
                    elif st["body_left"] > 0:
                        st["sock"].send(b" " * 8)  # 40 B/s, far below --min-body-rate
                        st["body_left"] -= 8
                    st["next"] = now + 0.2
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                pass  # reset: the read side reports it
        for key, _ in self.sel.select(timeout=0.05):
            st = key.data
            try:
                b = st["sock"].recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                b = b""
            if b:
                st["resp"] += b
                continue
            self._close(st)
        while keep_open and len(self.conns) < self.n:
            self._open(self.KINDS[self.opened % 3])

    def run_for(self, seconds, keep_open=True):
        end = time.time() + seconds
        while time.time() < end:
            self.step(keep_open)

    def stop(self):
        for st in list(self.conns.values()):
            self.sel.unregister(st["sock"])
            st["sock"].close()
        self.conns.clear()


def test_slowloris(s, tmp):
    base, base_bad, base_err = wrk_run(s.port, WRK_SECONDS, tmp)
    print(f"baseline: {base:.0f} req/s (non-2xx {base_bad}, socket errors: {base_err or 'none'})")
    t.ok(base > 100, f"baseline throughput is plausible: {base:.0f} req/s")

    import threading
    sl = Slowloris(s.port, SLOW_CONNS)
    sl.run_for(1.0)  # all connections up before the measured run
    stop = threading.Event()

    def pump():
        while not stop.is_set():
            sl.step()

    th = threading.Thread(target=pump)
    th.start()
    under, under_bad, under_err = wrk_run(s.port, WRK_SECONDS, tmp)
    stop.set()
    th.join()
    # let the last generation of slow connections run into their timeouts, without reopening
    sl.run_for((max(HEADER_TIMEOUT_MS, BODY_TIMEOUT_MS) + 2500) / 1000.0, keep_open=False)
    left = len(sl.conns)
    sl.stop()
    ratio = under / base if base else 0
    print(f"with {SLOW_CONNS} slowloris connections: {under:.0f} req/s (non-2xx {under_bad}, "
          f"socket errors: {under_err or 'none'}); ratio {ratio:.2f}; slow connections opened "
          f"{sl.opened}, closed by the server {len(sl.closed)}, still open {left}")
    t.ok(ratio >= 0.5, f"throughput under slowloris >= 50% of baseline: {ratio:.2f}")
    t.eq(under_bad, 0, "normal traffic under slowloris: no non-2xx answers")
    t.eq(left, 0, "every slow connection was closed by the server")
    for kind, limit_s in (("head", HEADER_TIMEOUT_MS), ("body", BODY_TIMEOUT_MS),
                          ("mute", HEADER_TIMEOUT_MS)):
        ks = [c for c in sl.closed if c[0] == kind]
        t.ok(len(ks) >= SLOW_CONNS // 3, f"{kind}: slow connections closed: {len(ks)}")
        if not ks:
            continue
        longest = max(c[1] for c in ks)
        print(f"  {kind}: {len(ks)} closed, lifetime max {longest:.2f}s "
              f"(timeout {limit_s / 1000:.1f}s)")
        t.ok(longest < limit_s / 1000.0 + 2.0, f"{kind}: closed soon after its timeout: "
             f"{longest:.2f}s")
        if kind == "mute":
            t.ok(all(c[2] == b"" for c in ks), "mute: closed without an answer")
            continue
        want = b'"limit":"header_timeout_ms"' if kind == "head" else b'"limit":"body_timeout_ms"'
        n408 = sum(1 for c in ks if c[2].startswith(b"HTTP/1.1 408 ") and want in c[2])
        t.ok(n408 == len(ks), f"{kind}: every one answered 408 naming the limit ({n408}/{len(ks)})")

    # a slow but steady upload (4 KB/s, above --min-body-rate 1k) is not cut off
    body = json.dumps({"userId": "u", "event": "Product Viewed",
                       "properties": {"sku": "S-1", "pad": "p" * 5500}}).encode()
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    sock.sendall(b"POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Authorization: " + auth(KEY).encode() + b"\r\nContent-Length: " +
                 str(len(body)).encode() + b"\r\n\r\n")
    t0 = time.time()
    for i in range(0, len(body), 400):
        sock.sendall(body[i:i + 400])
        time.sleep(0.1)
    resp = sock.recv(4096)
    sock.close()
    print(f"steady slow upload: {len(body)} bytes in {time.time() - t0:.1f}s -> {resp[:12]!r}")
    t.ok(resp.startswith(b"HTTP/1.1 200 "), f"steady slow upload accepted: {resp[:60]!r}")


# ---- 2. bad input ------------------------------------------------------------------------------

def post_raw(port, path, body, ctype=b"application/json", extra=b""):
    req = (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth(KEY).encode() +
           b"\r\n" + (b"Content-Type: " + ctype + b"\r\n" if ctype else b"") + extra +
           b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    return raw_response(raw_exchange(port, req, expect_close=True))


def test_bad_input(s):
    port = s.port
    # HTTP layer
    st, _, b = raw_response(raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                         b"a" * 6000 + b"\r\n\r\n", expect_close=True))
    check_error(st, b, 431, "oversized headers", limit="max_header_bytes")
    st, _, b = raw_response(raw_exchange(port, b"POST /v1/track HTTP/1.1\r\nHost: x\r\n"
                                         b"Content-Type: application/json\r\n"
                                         b"Content-Length: 900000\r\n\r\n", expect_close=True))
    check_error(st, b, 413, "Content-Length over max-body-bytes", limit="max_body_bytes")
    chunk = b"%x\r\n%s\r\n" % (8000, b" " * 8000)
    st, _, b = raw_response(raw_exchange(port, b"POST /v1/track HTTP/1.1\r\nHost: x\r\n"
                                         b"Content-Type: application/json\r\n"
                                         b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 10,
                                         expect_close=True))
    check_error(st, b, 413, "chunked body over max-body-bytes", limit="max_body_bytes")
    st, _, b = raw_response(raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b"
                                         b"\r\n\r\n", expect_close=True))
    check_error(st, b, 400, "NUL byte in a header", ["malformed HTTP"])
    st, _, b = raw_response(raw_exchange(port, b"BLAH / HTTP/1.1\r\n\r\n", expect_close=True))
    check_error(st, b, 400, "malformed request line", ["malformed HTTP"])

    # compression
    bomb = gzip.compress(b'{"batch":[' + b" " * (20 << 20) + b"]}", 9)
    print(f"gzip bomb: {len(bomb)} bytes -> {20 << 20} bytes inflated")
    st, _, b = post_raw(port, b"/v1/batch", bomb, extra=b"Content-Encoding: gzip\r\n")
    check_error(st, b, 413, "gzip bomb stops at max-batch-bytes", ["inflated"], "max_batch_bytes")
    st, _, b = post_raw(port, b"/v1/batch", gzip.compress(b'{"batch":[]}')[:-6],
                        extra=b"Content-Encoding: gzip\r\n")
    check_error(st, b, 400, "truncated gzip", ["corrupt"])
    st, _, b = post_raw(port, b"/v1/batch", b"{}", extra=b"Content-Encoding: br\r\n")
    check_error(st, b, 415, "unknown Content-Encoding", ["Content-Encoding"])

    # content types
    # The body decides, not the label (real SDKs mislabel JSON): a body that is neither JSON nor
    # compressed JSON is a 415 under any label but JSON's own.
    for ct in (b"application/xml", b"application/x-www-form-urlencoded", b"application/jsonx",
               None):
        st, _, b = post_raw(port, b"/v1/track", b'userId=u&event=E', ctype=ct)
        check_error(st, b, 415, f"Content-Type {ct!r}, a form body", ["Content-Type"])

    # JSON: what and where
    cases = [
        ("deep nesting", b'{"userId":"u","event":"E","properties":{"a":' + b"[" * 40 +
         b"]" * 40 + b"}}", 413, ["max-depth", "/properties/a"], "max_depth"),
        ("invalid UTF-8", b'{"userId":"u","event":"Caf\xc3\x28"}', 400,
         ["invalid UTF-8", "column 27 (byte 26)", "/event"], None),
        ("overlong UTF-8", b'{"userId":"u","event":"E","properties":{"p":"\xc0\xaf"}}', 400,
         ["invalid UTF-8", "/properties/p"], None),
        ("UTF-8 encoded surrogate", b'{"userId":"\xed\xa0\x80"}', 400,
         ["invalid UTF-8", "/userId"], None),
        ("truncated UTF-8 at the end of a string", b'{"userId":"ab\xe2\x82"}', 400,
         ["invalid UTF-8"], None),
        ("unpaired surrogate escape", b'{"userId":"u","event":"\\ud800x"}', 400,
         ["surrogate", "/event"], None),
        ("NUL byte in a string", b'{"userId":"u\x00","event":"E"}', 400,
         ["NUL", "/userId"], None),
        ("NUL byte between values", b'{"userId":"u",\x00"event":"E"}', 400, ["NUL"], None),
        ("\\u0000 in a string", b'{"userId":"u","event":"a\\u0000b"}', 400,
         ["NUL", "\\u0000", "/event"], None),
        ("duplicate top-level key", b'{"userId":"u","event":"E","userId":"v"}', 400,
         ['duplicate key "userId"', "column 27"], None),
        ("duplicate key spelled with an escape",
         b'{"userId":"u","event":"E","properties":{"revenue":1,"rev\\u0065nue":-5}}', 400,
         ["duplicate key", "/properties"], None),
        ("duplicate key in a batch item",
         b'{"batch":[{"type":"track","event":"E","userId":"u"},'
         b'{"type":"track","event":"E","event":"F","userId":"u"}]}', 400,
         ['duplicate key "event"', "/batch/1"], None),
        ("number out of range", b'{"userId":"u","event":"E","properties":{"n":1e400}}', 400,
         ["out of range", "/properties/n"], None),
        ("negative number out of range", b'{"userId":"u","event":"E","properties":{"n":[1,-2E+999]}}',
         400, ["out of range", "/properties/n/1"], None),
        ("integer out of range", b'{"userId":"u","event":"E","properties":{"n":' + b"9" * 320 +
         b"}}", 400, ["out of range"], None),
        ("malformed JSON", b'{"userId": "u",\n "event": tru}', 400, ["line 2", "column"], None),
    ]
    for what, body, status, needles, limit in cases:
        path = b"/v1/batch" if b'"batch"' in body else b"/v1/track"
        st, _, b = post_raw(port, path, body)
        j = check_error(st, b, status, what, needles, limit)
        if j and what == "invalid UTF-8":
            print(f"  example error: {j['error']}")
    # accepted edge cases: valid UTF-8, paired surrogates, tiny and big-but-finite numbers
    st, _, b = post_raw(port, b"/v1/track", '{"userId":"ü€𝄞","event":"Product Viewed","properties"'
                        ':{"e":"\\ud834\\udd1e","n":1e-400,"m":1.7e308,"sku":"S"}}'.encode())
    t.eq(st, 200, f"valid UTF-8, surrogate pair and finite numbers accepted ({b[:120]!r})")


# ---- 3. rate limits ----------------------------------------------------------------------------

def test_rate_limit(s):
    # KEY_RL: 5 events/s, burst 5, shared by both workers: a new connection per request spreads
    # the requests over the workers (SO_REUSEPORT).
    statuses = []
    for _ in range(10):
        st, h, b = s.post("/v1/track", {"userId": "u", "event": "Product Viewed"}, key=KEY_RL)
        statuses.append((st, h, b))
    ok = sum(1 for st, _, _ in statuses if st == 200)
    limited = [(h, b) for st, h, b in statuses if st == 429]
    print(f"rate limit 5/s burst 5: {ok} of 10 accepted, {len(limited)} refused")
    t.ok(5 <= ok <= 6, f"burst of 5 across workers: {ok} accepted")
    t.eq(ok + len(limited), 10, "the others answered 429")
    if limited:
        h, b = limited[0]
        check_error(429, b, 429, "rate limited", ["rate limit"], "rate_limit")
        ra = h.get("retry-after", "")
        t.ok(ra.isdigit() and int(ra) >= 1, f"429 has Retry-After: {ra!r}")
    # a batch is charged per event
    time.sleep(1.3)  # ~6 tokens back, capped at 5
    batch = {"batch": [{"type": "track", "userId": "u", "event": "Product Viewed"}] * 4}
    st, _, _ = s.post("/v1/batch", batch, key=KEY_RL)
    t.eq(st, 200, "batch of 4 within a refilled bucket")
    st, _, b = s.post("/v1/batch", batch, key=KEY_RL)
    check_error(st, b, 429, "second batch of 4 exceeds the bucket", limit="rate_limit")
    # other keys are not limited
    for _ in range(20):
        st, _, _ = s.post("/v1/track", {"userId": "u", "event": "Product Viewed"}, key=KEY)
        if st != 200:
            break
    t.eq(st, 200, "an unlimited key is not affected")
    st, _, m = s.request("GET", "/metrics")
    text = m.decode()
    mm = re.search(r"^sluice_rate_limited_requests_total (\d+)", text, re.M)
    t.ok(mm is not None and int(mm.group(1)) >= len(limited) + 1,
         f"metrics count rate-limited requests: {mm and mm.group(0)}")
    t.ok('sluice_http_requests_total{route="track",status="429"}' in text,
         "metrics count 429 answers by route")


# ---- main --------------------------------------------------------------------------------------

def main():
    if len(sys.argv) < 2:
        print("usage: it_hostile.py path/to/sluice")
        return 2
    if not shutil.which("wrk"):
        print("wrk not found: skipping")
        return 77
    binary = os.path.abspath(sys.argv[1])
    tmp = tmpdir()
    redis_proc, rport, r = start_redis_pw(tmp)
    args = ["--plan", PLAN, "--redis", f"redis://:{PASSWORD}@127.0.0.1:{rport}",
            "--workers", "2", "--write-key", KEY, "--write-key", KEY_RL,
            "--rate-limit-key", f"{KEY_RL}=5/s", "--rate-burst", "5",
            "--header-timeout-ms", str(HEADER_TIMEOUT_MS), "--body-timeout-ms",
            str(BODY_TIMEOUT_MS), "--min-body-rate", "1k", "--request-timeout-ms", "20000",
            "--max-header-bytes", "4k", "--max-body-bytes", "64k", "--max-batch-bytes", "64k",
            "--max-event-bytes", "8k", "--max-depth", "16"]
    s = None
    try:
        s = Serve(binary, args, tmp)
        test_bad_input(s)
        test_rate_limit(s)
        test_slowloris(s, tmp)
        # still healthy and storing
        st, _, b = s.request("GET", "/healthz")
        t.eq((st, body_json(b)), (200, {"status": "ok"}), "healthz after everything")
        r.cmd("DEL", "sluice:events")
        st, _, b = s.post("/v1/track", {"userId": "after", "event": "Product Viewed",
                                        "properties": {"sku": "Z-1"}}, key=KEY)
        t.eq(st, 200, f"events accepted after everything ({b[:100]!r})")
        es = r.entries("sluice:events")
        t.ok(any(json.loads(e["event"]).get("userId") == "after" for e in es),
             "the event is in Redis")
        t.eq(s.stop(), 0, "serve exits 0 on SIGTERM")
        with open(s.log_path, "rb") as f:
            log = f.read().decode(errors="replace")
        t.ok("listening on" in log and "redis 127.0.0.1" in log, "the log has the start line")
        for secret, what in ((KEY, "write key"), (KEY_RL, "rate-limited write key"),
                             (PASSWORD, "Redis password")):
            t.ok(secret not in log, f"the log never holds the {what}")
        s = None
    except Exception as e:  # report, then fail
        import traceback
        traceback.print_exc()
        t.ok(False, f"exception: {e}")
        if s:
            print(s.logtext()[-3000:], file=sys.stderr)
    finally:
        if s:
            s.stop()
        r.close()
        redis_proc.terminate()
        redis_proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
