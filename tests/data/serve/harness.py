"""harness.py - shared helpers for the `sluice serve` integration tests (tests/it_serve*.py).

Starts a real redis-server and `sluice serve` on 127.0.0.1 free ports, talks RESP to Redis
(stdlib only), and counts checks so each test ends with "N passed, N failed"."""
import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL: {what}", file=sys.stderr, flush=True)
        return cond

    def eq(self, got, want, what):
        return self.ok(got == want, f"{what}: got {got!r}, want {want!r}")

    def done(self):
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Redis:
    """A minimal RESP client."""

    def __init__(self, port):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.f = self.sock.makefile("rb")

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass

    def cmd(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._read() for _ in range(n)]
        raise RuntimeError(f"bad RESP: {line!r}")

    def entries(self, key):
        """XRANGE key - + as a list of dicts {field: str}."""
        res = []
        for _id, fields in self.cmd("XRANGE", key, "-", "+"):
            d = {}
            for i in range(0, len(fields), 2):
                d[fields[i].decode()] = fields[i + 1].decode()
            d["_id"] = _id.decode()
            res.append(d)
        return res


def start_redis(tmp):
    exe = shutil.which("redis-server")
    if not exe:
        print("redis-server not found: skipping")
        sys.exit(SKIP)
    port = free_port()
    p = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", tmp],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            r = Redis(port)
            r.cmd("PING")
            return p, port, r
        except OSError:
            time.sleep(0.05)
    p.kill()
    raise RuntimeError("redis-server did not start")


class Serve:
    """A running `sluice serve`; stderr goes to a log file in tmp."""

    def __init__(self, binary, args, tmp, env=None, port=None):
        self.port = port or free_port()
        self.log_path = os.path.join(tmp, f"serve-{self.port}.log")
        self.log = open(self.log_path, "wb")
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("SLUICE_") and k != "SLUICE_SHARED_DIR":
                del e[k]
        if env:
            e.update(env)
        if "--data-dir" not in args and "--config" not in args:
            # Each server gets its own data dir (embedded Redis, spool): tests never share one.
            args = args + ["--data-dir", os.path.join(tmp, f"data-{self.port}")]
        self.argv = [binary, "serve", "--listen", f"127.0.0.1:{self.port}"] + args
        self.p = subprocess.Popen(self.argv, stdout=self.log, stderr=self.log, env=e)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"sluice serve exited with {self.p.returncode}:\n{self.logtext()}")
            try:
                st, _, _ = self.request("GET", "/healthz")
                if st == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("sluice serve did not become healthy:\n" + self.logtext())

    def logtext(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def request(self, method, path, body=None, headers=None, conn=None):
        c = conn or self.conn()
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        h = dict(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if conn is None:
            c.close()
        return r.status, hdrs, data

    def post(self, path, body, key=None, ctype="application/json", headers=None, conn=None):
        h = {"Content-Type": ctype} if ctype else {}
        if key is not None:
            h["Authorization"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        h.update(headers or {})
        return self.request("POST", path, body, h, conn)

    def signal(self, sig):
        self.p.send_signal(sig)

    def metrics(self):
        """The unlabelled samples of /metrics as {name: int}; {} when the server does not answer."""
        try:
            st, _, data = self.request("GET", "/metrics")
        except OSError:
            return {}
        if st != 200:
            return {}
        return {m.group(1): int(m.group(2))
                for m in re.finditer(r"^(sluice_[a-z_]+) (\d+)$", data.decode(), re.M)}

    def wait_metrics(self, pred, seconds=6):
        """Polls metrics() until pred(snapshot) holds or `seconds` pass (workers refresh their
        figures once a second); returns the last snapshot."""
        deadline = time.time() + seconds
        while True:
            m = self.metrics()
            if pred(m) or time.time() > deadline:
                return m
            time.sleep(0.1)

    def stop(self, timeout=30):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        return self.p.returncode


def raw_exchange(port, data, timeout=5, expect_close=False):
    """Sends raw bytes, returns everything read until the peer closes or timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    chunks = []
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
            if not expect_close and b"".join(chunks).count(b"HTTP/1.1 ") >= 1 and len(chunks) > 0:
                # keep reading briefly for pipelined answers
                s.settimeout(0.5)
    except socket.timeout:
        pass
    s.close()
    return b"".join(chunks)


def tmpdir():
    return tempfile.mkdtemp(prefix="sluice-it-")
