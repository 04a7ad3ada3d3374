#!/usr/bin/env python3
"""it_sse.py - GET /v1/violations/stream (Server-Sent Events) against a real redis-server and
`sluice serve --plan specs/ecommerce.yaml` with two workers.

Checks: response headers and the `retry:` preamble; fan-out with filters (messages PUBLISHed to
sluice:violations with redis-cli-style RESP, and end to end: invalid and valid events through
POST /v1/track and /v1/batch); keep-alive comments; bad requests; clients that disconnect are
cleaned up; a consumer that stops reading is dropped while the others keep receiving; SIGTERM
with open streams exits 0 promptly and ends the streams.
Usage: it_sse.py path/to/sluice"""
import json
import os
import queue
import signal
import socket
import sys
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "serve"))
import harness  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLAN = os.path.join(ROOT, "specs", "ecommerce.yaml")
CHANNEL = "sluice:violations"


class Stream:
    """One SSE client on a raw socket; a reader thread puts ("data", dict|str) and
    ("comment", text) items on a queue, and ("eof", None) when the server closes."""

    def __init__(self, port, query="", origin=None, rcvbuf=None, read=True):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        hdrs = "Accept: text/event-stream\r\n"
        if origin:
            hdrs += f"Origin: {origin}\r\n"
        self.sock.sendall(f"GET /v1/violations/stream{query} HTTP/1.1\r\nHost: x\r\n{hdrs}\r\n"
                          .encode())
        self.q = queue.Queue()
        self.head = None
        self.status = None
        self.headers = {}
        self.raw_start = b""
        if read:
            self.read_head()
            self.t = threading.Thread(target=self._run, daemon=True)
            self.t.start()

    def read_head(self):
        buf = b""
        while b"\r\n\r\n" not in buf:
            b = self.sock.recv(4096)
            if not b:
                break
            buf += b
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.pending = rest
        self.raw_start = rest

    def _run(self):
        buf = self.pending
        try:
            while True:
                while b"\n\n" in buf:
                    block, _, buf = buf.partition(b"\n\n")
                    self._block(block.decode(errors="replace"))
                b = self.sock.recv(65536)
                if not b:
                    break
                if len(self.raw_start) < 64:
                    self.raw_start += b
                buf += b
        except OSError:
            pass
        self.q.put(("eof", None))

    def _block(self, block):
        data = []
        for ln in block.split("\n"):
            if ln.startswith(":"):
                self.q.put(("comment", ln[1:].strip()))
            elif ln.startswith("data:"):
                data.append(ln[5:].lstrip(" "))
            elif ln.startswith("retry:"):
                self.q.put(("retry", ln[6:].strip()))
        if data:
            text = "\n".join(data)
            try:
                self.q.put(("data", json.loads(text)))
            except ValueError:
                self.q.put(("data", text))

    def collect(self, seconds, want=None):
        """Items for `seconds`, or until `want` data items arrived (then 0.3 s more for extras)."""
        out = []
        end = time.time() + seconds
        while time.time() < end:
            try:
                it = self.q.get(timeout=max(0.01, end - time.time()))
            except queue.Empty:
                break
            out.append(it)
            if it[0] == "eof":
                break
            if want is not None and sum(1 for k, _ in out if k == "data") >= want:
                end = min(end, time.time() + 0.3)
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def datas(items):
    return [v for k, v in items if k == "data"]


def publish(r, msg):
    return r.cmd("PUBLISH", CHANNEL, json.dumps(msg, separators=(",", ":")))


def wait_subscribers(r, n, seconds=10):
    end = time.time() + seconds
    while time.time() < end:
        got = r.cmd("PUBSUB", "NUMSUB", CHANNEL)
        if int(got[1]) >= n:
            return True
        time.sleep(0.05)
    return False


def main():
    if len(sys.argv) < 2:
        print("usage: it_sse.py path/to/sluice", file=sys.stderr)
        return 2
    binary = sys.argv[1]
    ck = harness.Checks()
    tmp = harness.tmpdir()
    rp, rport, r = harness.start_redis(tmp)
    srv = None
    streams = []
    try:
        srv = harness.Serve(binary, ["--plan", PLAN, "--redis", f"redis://127.0.0.1:{rport}",
                                     "--workers", "2", "--cors-origin", "https://dash.example",
                                     "--data-dir", tmp], tmp)
        ck.ok(wait_subscribers(r, 2), "both workers SUBSCRIBEd to sluice:violations")

        run = uuid.uuid4().hex[:8]
        sess = f"it-sse-{run}"
        ev_q = "?event=" + urllib.parse.quote("Order Completed") + "&keepalive=1"
        a = Stream(srv.port, ev_q, origin="https://dash.example")
        b = Stream(srv.port, "?session=" + urllib.parse.quote(sess) + "&_=123")
        streams += [a, b]

        # ---- headers and preamble
        ck.eq(a.status, 200, "stream status")
        ck.ok(a.headers.get("content-type", "").startswith("text/event-stream"),
              f"content-type: {a.headers.get('content-type')}")
        ck.eq(a.headers.get("cache-control"), "no-cache", "cache-control")
        ck.eq(a.headers.get("access-control-allow-origin"), "https://dash.example", "CORS origin")
        ck.ok("content-length" not in a.headers, "no content-length")
        first = a.collect(1.0)
        ck.ok(first and first[0] == ("retry", "2000"), f"retry: 2000 first, got {first[:2]}")
        b.collect(0.3)

        # ---- fan-out of PUBLISHed messages
        msgs = [
            {"event": "Order Completed", "session": "someone-else", "n": 1},  # a
            {"event": "Product Added", "session": sess, "n": 2},               # b
            {"event": "Order Completed", "session": sess, "n": 3},             # a, b
            {"event": "Product Added", "session": "other", "n": 4},            # nobody
            {"event": None, "session": None, "n": 5},                          # nobody
        ]
        for m in msgs:
            publish(r, m)
        got_a = datas(a.collect(5, want=2))
        got_b = datas(b.collect(5, want=2))
        ck.eq([m.get("n") for m in got_a], [1, 3], "event-filtered client got its messages")
        ck.eq([m.get("n") for m in got_b], [2, 3], "session-filtered client got its messages")

        # ---- keep-alive (a asked for 1 s)
        ka = [v for k, v in a.collect(2.5) if k == "comment"]
        ck.ok("keep-alive" in ka, f"keep-alive comment within 2.5 s: {ka}")

        # ---- bad requests
        st, _, _ = srv.request("POST", "/v1/violations/stream", b"{}",
                               {"Content-Type": "application/json"})
        ck.eq(st, 405, "POST to the stream")
        st, _, _ = srv.request("GET", "/v1/violations/stream?keepalive=0")
        ck.eq(st, 400, "keepalive=0")
        st, _, _ = srv.request("GET", "/v1/violations/stream?event=%zz")
        ck.eq(st, 400, "bad percent escape")

        # ---- end to end: events -> agg -> PUBLISH -> stream
        ctx = {"sluice": {"session": sess}, "library": {"name": "it_sse", "version": "1"}}
        product = {"product_id": "65f1c0a2b7e4d93a1c8f2e55", "sku": "AO-JKT-310-L", "price": 89.0}
        order = {"order_id": "AO-20240412", "total": 112.31, "currency": "USD",
                 "products": [{"product_id": "65f1c0a2b7e4d93a1c8f2e55", "quantity": 1}]}

        def ev(name, props, context):
            return {"type": "track", "event": name, "properties": props,
                    "anonymousId": f"anon-{run}", "context": context,
                    "messageId": str(uuid.uuid4())}

        other_ctx = {"sluice": {"session": f"other-{run}"}}
        st, _, body = srv.post("/v1/track", ev("Order Completed", dict(order, total="1"), ctx))
        ck.eq(st, 200, f"track invalid: {body!r}")
        st, _, body = srv.post("/v1/track", ev("Product Viewed", dict(product), ctx))
        ck.eq(st, 200, f"track valid: {body!r}")
        batch = {"batch": [
            ev("Product Added", dict(product), ctx),                                # b (invalid)
            ev("Order Completed", dict(order, currency="EURO"), other_ctx),       # a (invalid)
            ev("Products Searched", {"query": "boots", "results_count": 3}, ctx),  # valid
        ]}
        st, _, body = srv.post("/v1/batch", batch)
        ck.eq(st, 200, f"batch: {body!r}")
        got_a = datas(a.collect(6, want=2))
        got_b = datas(b.collect(6, want=2))
        ck.eq(sorted((m.get("event"), m.get("session")) for m in got_a if isinstance(m, dict)),
              sorted([("Order Completed", sess), ("Order Completed", f"other-{run}")]),
              "end to end: event-filtered client (needs agg wired into serve)")
        ck.eq(sorted((m.get("event"), m.get("session")) for m in got_b if isinstance(m, dict)),
              sorted([("Order Completed", sess), ("Product Added", sess)]),
              "end to end: session-filtered client (needs agg wired into serve)")
        ck.ok(all(m.get("violations") for m in got_a + got_b if isinstance(m, dict)),
              "every streamed message lists violations")
        ck.ok(all(m.get("event") not in ("Product Viewed", "Products Searched")
                  for m in got_a + got_b if isinstance(m, dict)), "nothing for valid events")

        # ---- clients that go away are cleaned up; the server stays healthy
        gone = [Stream(srv.port, "?keepalive=1") for _ in range(20)]
        for g in gone:
            g.collect(0.2)
            g.close()
        half = [Stream(srv.port, "", read=False) for _ in range(5)]  # close before the answer
        for h in half:
            h.close()
        time.sleep(0.3)
        publish(r, {"event": "Order Completed", "session": "after-close", "n": 6})
        got_a = datas(a.collect(3, want=1))
        ck.eq([m.get("n") for m in got_a], [6], "still streaming after clients disconnected")
        st, _, _ = srv.request("GET", "/healthz")
        ck.eq(st, 200, "healthy after disconnects")
        st, _, metrics = srv.request("GET", "/metrics")
        ck.eq(st, 200, "metrics after disconnects")

        # ---- a consumer that stops reading is dropped; the others keep receiving
        slow = Stream(srv.port, "", rcvbuf=4096, read=False)
        slow.read_head()
        big = "x" * 4000
        pipe = []
        for i in range(2500):  # ~10 MB, unmatched by a and b
            m = json.dumps({"event": "Big", "session": "none", "n": i, "pad": big})
            pipe.append(b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                        % (len(CHANNEL), CHANNEL.encode(), len(m), m.encode()))
        r.sock.sendall(b"".join(pipe))
        for _ in range(2500):
            r._read()
        time.sleep(1.0)
        slow.sock.settimeout(5)
        total, eof = 0, False
        try:
            while True:
                d = slow.sock.recv(1 << 20)
                if not d:
                    eof = True
                    break
                total += len(d)
        except OSError:
            pass
        ck.ok(eof, f"slow consumer was disconnected (read {total} bytes before EOF)")
        ck.ok(total < 2500 * 4000, f"slow consumer did not get everything ({total} bytes)")
        slow.close()
        publish(r, {"event": "Order Completed", "session": "after-slow", "n": 7})
        got_a = datas(a.collect(3, want=1))
        ck.eq([m.get("n") for m in got_a], [7], "others still streaming after a slow consumer")
        st, _, _ = srv.request("GET", "/healthz")
        ck.eq(st, 200, "healthy after a slow consumer")
        # /metrics: the stream counters (snapshots taken once a second)
        mv = srv.wait_metrics(lambda m: m.get("sluice_sse_dropped_total", 0) >= 1)
        ck.ok(mv.get("sluice_sse_dropped_total", 0) >= 1, f"metrics count the dropped consumer {mv}")
        ck.ok(mv.get("sluice_sse_streams_total", 0) >= 3, f"metrics count the streams started {mv}")
        ck.ok(mv.get("sluice_sse_sent_total", 0) >= 3, f"metrics count messages sent {mv}")
        ck.ok(mv.get("sluice_sse_clients", 0) >= 1, f"metrics count the open streams {mv}")

        # ---- SIGTERM with open streams: prompt exit 0, streams end
        c = Stream(srv.port, "")
        streams.append(c)
        c.collect(0.3)
        t0 = time.time()
        srv.signal(signal.SIGTERM)
        try:
            rc = srv.p.wait(8)
        except Exception:  # noqa: BLE001
            rc = None
        took = time.time() - t0
        ck.eq(rc, 0, "SIGTERM exit code")
        ck.ok(took < 3, f"SIGTERM with open streams exits promptly ({took:.2f} s)")
        for s in (a, b, c):
            items = s.collect(2)
            ck.ok(items and items[-1][0] == "eof", "stream ended by the drain")
    finally:
        for s in streams:
            s.close()
        if srv:
            if srv.p.poll() is None:
                srv.stop()
            else:
                srv.log.close()
            if ck.failed:
                print(srv.logtext()[-3000:], file=sys.stderr)
        r.close()
        rp.terminate()
        rp.wait()
    return ck.done()


if __name__ == "__main__":
    sys.exit(main())
