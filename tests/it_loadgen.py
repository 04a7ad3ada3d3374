#!/usr/bin/env python3
"""it_loadgen.py - the load generator (sluice-load) against a tiny counting HTTP server.

argv[1] is the sluice binary; sluice-load is expected next to it (exit 77 = skip when missing).
A stdlib HTTP/1.1 keep-alive server on 127.0.0.1 counts every request, decodes its body (gzip
too), records the messageIds it received and answers 200 (or 503 for every Nth request when
asked). Checks:
  - closed loop, batches, gzip, pipelining, 20% invalid: the generator's --json counts equal the
    server's; the ack log holds exactly the messageIds of the 2xx-answered requests, each once;
  - open loop at a fixed rate sends rate * duration requests, spread over the duration;
  - --body-file sends the file's bytes as is to --path; --help and bad usage exit 0 and 2;
  - --dump-events: unique messageIds, and (when `sluice check` works) valid events stay valid
    against specs/ecommerce.yaml and invalid ones are all invalid.
The last line is "N passed, N failed"."""
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLAN = os.path.join(ROOT, "specs", "ecommerce.yaml")

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what, flush=True)


class Counter:
    """What the server saw; shared by the handler threads under one lock."""

    def __init__(self, fail_every=0):
        self.lock = threading.Lock()
        self.fail_every = fail_every
        self.requests = 0
        self.status = {}
        self.paths = {}
        self.events = 0
        self.ids_ok = []  # messageIds of requests answered 2xx
        self.ids_all = []
        self.bodies = []
        self.times = []
        self.bad_json = 0
        self.gzip = 0


def make_handler(ctr):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(n)
            body = raw
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(raw)
            ids = []
            try:
                doc = json.loads(body)
                evs = doc["batch"] if isinstance(doc, dict) and "batch" in doc else [doc]
                ids = [e.get("messageId") for e in evs if isinstance(e, dict)]
            except ValueError:
                doc = None
            with ctr.lock:
                ctr.requests += 1
                k = ctr.requests
                code = 503 if ctr.fail_every and k % ctr.fail_every == 0 else 200
                ctr.status[code] = ctr.status.get(code, 0) + 1
                ctr.paths[self.path] = ctr.paths.get(self.path, 0) + 1
                ctr.times.append(time.monotonic())
                if self.headers.get("Content-Encoding") == "gzip":
                    ctr.gzip += 1
                if doc is None:
                    ctr.bad_json += 1
                    ctr.bodies.append(raw)
                ctr.events += len(ids)
                ctr.ids_all.extend(ids)
                if code == 200:
                    ctr.ids_ok.extend(ids)
            out = b'{"success":true}' if code == 200 else b'{"success":false}'
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    return Handler


class Server:
    def __init__(self, fail_every=0):
        self.ctr = Counter(fail_every)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.ctr))
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def run_load(load, args, timeout=60):
    p = subprocess.run([load] + args, capture_output=True, text=True, timeout=timeout)
    return p


def test_closed_loop(load, tmp):
    srv = Server(fail_every=7)
    ack = os.path.join(tmp, "ack.log")
    try:
        p = run_load(load, ["--url", srv.url, "--max", "--duration", "2", "--connections", "4",
                            "--pipeline", "2", "--batch", "5", "--invalid", "0.2", "--gzip",
                            "--write-key", "wk_test", "--ack-log", ack, "--json", "--seed", "3"])
    finally:
        time.sleep(0.1)
        srv.close()
    check(p.returncode == 0, "closed loop exit 0 (got %d: %s)" % (p.returncode, p.stderr))
    if p.returncode:
        return
    r = json.loads(p.stdout)
    c = srv.ctr
    rq = r["requests"]
    print("closed loop: %d requests, %d events, %.0f req/s" %
          (rq["completed"], r["events"]["sent"], r["throughput"]["requests_per_s"]))
    check(rq["completed"] > 50, "closed loop made progress (%d requests)" % rq["completed"])
    check(rq["sent"] == c.requests, "sent %d == server requests %d" % (rq["sent"], c.requests))
    check(rq["completed"] == c.requests,
          "completed %d == server requests %d" % (rq["completed"], c.requests))
    check(rq["ok"] == c.status.get(200, 0), "ok %d == server 200s %d" % (rq["ok"], c.status.get(200, 0)))
    check(r["status"].get("503", 0) == c.status.get(503, 0),
          "503s %s == server 503s %d" % (r["status"].get("503"), c.status.get(503, 0)))
    check(rq["non2xx"] == c.status.get(503, 0), "non2xx counts 503s")
    check(rq["failed"] == 0 and rq["timeouts"] == 0, "no failures or timeouts")
    check(r["events"]["sent"] == c.events, "events sent %d == server events %d" %
          (r["events"]["sent"], c.events))
    check(c.events == 5 * c.requests, "every request carries a batch of 5")
    check(c.gzip == c.requests, "every body was gzip'd (%d of %d)" % (c.gzip, c.requests))
    check(c.bad_json == 0, "every body parsed as JSON")
    check(set(c.paths) == {"/v1/batch"}, "batches go to /v1/batch: %s" % c.paths)
    inv = r["events"]["invalid_sent"] / max(1, r["events"]["sent"])
    check(0.12 < inv < 0.28, "about 20%% invalid events (%.3f)" % inv)
    check(len(set(c.ids_all)) == len(c.ids_all) and None not in c.ids_all,
          "every event has a unique messageId")
    with open(ack) as f:
        acked = [line.rstrip("\n") for line in f]
    check(len(acked) == r["events"]["acked"], "ack log lines %d == events acked %d" %
          (len(acked), r["events"]["acked"]))
    check(len(set(acked)) == len(acked), "ack log messageIds are unique")
    check(set(acked) == set(c.ids_ok),
          "ack log == messageIds of 2xx-answered requests (%d vs %d)" % (len(acked), len(c.ids_ok)))
    check(r["latency_ms"]["count"] == rq["completed"], "one latency sample per response")
    lat = r["latency_ms"]
    check(0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"],
          "percentiles are ordered: %s" % lat)


def test_open_loop(load):
    srv = Server()
    rate, dur = 200, 2.0
    try:
        t0 = time.monotonic()
        p = run_load(load, ["--url", srv.url, "--rate", str(rate), "--duration", str(dur),
                            "--connections", "4", "--json"])
    finally:
        time.sleep(0.1)
        srv.close()
    check(p.returncode == 0, "open loop exit 0 (%s)" % p.stderr)
    if p.returncode:
        return
    r = json.loads(p.stdout)
    c = srv.ctr
    want = int(rate * dur)
    print("open loop: server saw %d requests (want %d), gen p99 %.3f ms" %
          (c.requests, want, r["latency_ms"]["p99"]))
    check(r["requests"]["due"] == want, "due %d == rate*duration %d" % (r["requests"]["due"], want))
    check(abs(c.requests - want) <= want * 0.02, "server saw about rate*duration requests")
    check(r["requests"]["sent"] == c.requests and r["requests"]["completed"] == c.requests,
          "open loop counts match the server")
    check(r["requests"]["unsent"] == 0, "nothing left unsent at 200 req/s")
    if c.times:
        span = max(c.times) - min(c.times)
        check(dur * 0.9 <= span <= dur * 1.2, "requests spread over the run (%.2f s)" % span)
        # Evenly paced: no 0.25 s slice holds more than twice its share.
        first = min(c.times)
        slices = {}
        for t in c.times:
            slices[int((t - first) / 0.25)] = slices.get(int((t - first) / 0.25), 0) + 1
        share = rate * 0.25
        check(max(slices.values()) <= 2 * share, "paced, not bursty: %s" % sorted(slices.items()))
    paths = set(c.paths)
    check(paths <= {"/v1/track", "/v1/identify", "/v1/page"} and "/v1/track" in paths,
          "single events go to their endpoints: %s" % c.paths)


def test_body_file(load, tmp):
    body = b'{"hello":"nginx","n":1}'
    bf = os.path.join(tmp, "body.json")
    with open(bf, "wb") as f:
        f.write(body)
    srv = Server()
    try:
        p = run_load(load, ["--url", srv.url, "--max", "--duration", "0.5", "--connections", "2",
                            "--body-file", bf, "--path", "/anything", "--json"])
    finally:
        time.sleep(0.1)
        srv.close()
    check(p.returncode == 0, "body-file exit 0 (%s)" % p.stderr)
    if p.returncode:
        return
    r = json.loads(p.stdout)
    c = srv.ctr
    check(set(c.paths) == {"/anything"}, "body-file goes to --path: %s" % c.paths)
    check(r["requests"]["completed"] == c.requests, "body-file counts match")
    check(r["bytes"]["body"] == len(body) * c.requests, "body-file sends the file's bytes")


def test_usage(load):
    p = run_load(load, ["--help"])
    check(p.returncode == 0 and "--rate" in p.stdout and "--ack-log" in p.stdout, "--help")
    p = run_load(load, ["--bogus"])
    check(p.returncode == 2, "unknown option exits 2")
    p = run_load(load, ["--rate", "10", "--max"])
    check(p.returncode == 2, "--rate with --max exits 2")
    p = run_load(load, ["--url", "http://127.0.0.1:1", "--max", "--duration", "0.2",
                        "--connections", "1", "--connect-timeout", "1"])
    check(p.returncode == 1 and "connect" in p.stderr, "unreachable server exits 1 with a reason")


def test_dump(load, sluice, tmp):
    valid = os.path.join(tmp, "valid.ndjson")
    invalid = os.path.join(tmp, "invalid.ndjson")
    with open(valid, "w") as f:
        p = subprocess.run([load, "--dump-events", "3000", "--seed", "5"], stdout=f, timeout=60)
    check(p.returncode == 0, "--dump-events exit 0")
    with open(invalid, "w") as f:
        subprocess.run([load, "--dump-events", "3000", "--invalid", "1", "--seed", "6"], stdout=f,
                       timeout=60)
    evs = [json.loads(line) for line in open(valid)]
    check(len(evs) == 3000, "3000 events dumped")
    ids = [e["messageId"] for e in evs]
    check(len(set(ids)) == len(ids), "dumped messageIds are unique")
    mean = os.path.getsize(valid) / max(1, len(evs))
    check(450 <= mean <= 800, "events are about 600 bytes (%.0f)" % mean)
    kinds = {e.get("event", e["type"]) for e in evs}
    check({"Order Completed", "Product Viewed", "identify", "page"} <= kinds,
          "the mix has orders, product views, identify and page: %s" % sorted(kinds))
    if not os.path.exists(PLAN) or not os.access(sluice, os.X_OK):
        print("skip plan check: no plan or no sluice binary")
        return
    for path, want_valid in ((valid, True), (invalid, False)):
        p = subprocess.run([sluice, "check", "--plan", PLAN, "--format", "json", path],
                           capture_output=True, text=True, timeout=120)
        if "not implemented" in p.stderr or not p.stdout.startswith("{"):
            print("skip plan check: sluice check is not available (%s)" % p.stderr.strip())
            return
        summ = json.loads(p.stdout)["summary"]
        if want_valid:
            check(summ["valid"] == summ["events"] == 3000,
                  "generated valid events are valid against the plan: %s" % summ)
        else:
            check(summ["invalid"] == summ["events"] == 3000,
                  "generated invalid events are all invalid: %s" % summ)


def main():
    if len(sys.argv) < 2:
        print("usage: it_loadgen.py SLUICE_BINARY")
        return 2
    sluice = os.path.abspath(sys.argv[1])
    load = os.path.join(os.path.dirname(sluice), "sluice-load")
    if not os.access(load, os.X_OK):
        print("skip: %s is not built" % load)
        return 77
    tmp = tempfile.mkdtemp(prefix="it_loadgen.")
    try:
        test_usage(load)
        test_closed_loop(load, tmp)
        test_open_loop(load)
        test_body_file(load, tmp)
        test_dump(load, sluice, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
