#!/usr/bin/env python3
"""it_durability.py - "nothing lost, nothing let in": Redis outages and collector crashes under load.

Real processes on 127.0.0.1: redis-server (AOF, appendfsync always, so stopping it with SIGTERM loses
nothing), `sluice serve` with its disk spool, and sluice-load recording every acknowledged messageId
(--ack-log). After each scenario every acknowledged messageId must be in Redis (sluice:events +
sluice:invalid, field message_id); duplicates (at-least-once) are counted and printed.

- outage: Redis hung (SIGSTOP: timeouts) then down (SIGTERM: refused) under load; requests keep
  getting 2xx through the spool; Redis back; the spool is replayed; SIGTERM drain exits 0.
- crash, Redis up: kill -9 the collector at random moments, restart it (same spool, same Redis).
- crash, Redis down: the same with Redis stopped (every event goes through the spool), a SIGTERM
  drain with Redis down, then Redis back and the spools replayed.
argv[1] = the sluice binary; sluice-load is next to it. SLUICE_SEED=n replays the kill moments."""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "serve"))
from harness import SKIP, Checks, Redis, Serve, free_port, tmpdir  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PLAN = os.path.join(HERE, "..", "specs", "ecommerce.yaml")
STREAMS = ("sluice:events", "sluice:invalid")

t = Checks()


class RedisServer:
    """A redis-server that keeps its data across restarts (AOF fsynced on every write)."""

    def __init__(self, exe, tmp):
        self.exe, self.dir, self.port, self.p = exe, os.path.join(tmp, "redis"), free_port(), None
        os.makedirs(self.dir, exist_ok=True)
        self.start()

    def start(self):
        self.p = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                r = Redis(self.port)
                r.cmd("PING")
                r.close()
                return
            except (OSError, RuntimeError, ConnectionError):
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGCONT)
            self.p.terminate()
            self.p.wait(20)

    def message_ids(self):
        """All message_id fields of both streams (with repeats), read in pages."""
        r = Redis(self.port)
        ids = []
        try:
            for key in STREAMS:
                start = "-"
                while True:
                    page = r.cmd("XRANGE", key, start, "+", "COUNT", 5000)
                    if not page:
                        break
                    for _id, fields in page:
                        d = {fields[i]: fields[i + 1] for i in range(0, len(fields), 2)}
                        mid = d.get(b"message_id")
                        if mid is None and b"event" in d:
                            mid = json.loads(d[b"event"]).get("messageId", "").encode()
                        ids.append(mid.decode())
                    last = page[-1][0].decode()
                    ms, seq = last.split("-")
                    start = f"{ms}-{int(seq) + 1}"
        finally:
            r.close()
        return ids


def start_load(load_bin, port, ack, seconds, rate, batch, tmp, name):
    out = open(os.path.join(tmp, f"load-{name}.json"), "w")
    args = [load_bin, "--url", f"http://127.0.0.1:{port}", "--rate", str(rate), "--duration",
            str(seconds), "--connections", "8", "--ack-log", ack, "--json", "--drain", "10",
            "--invalid", "0.05"]
    if batch:
        args += ["--batch", str(batch)]
    return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT), out


def finish_load(p, out, what):
    p.wait(60)
    out.close()
    with open(out.name) as f:
        text = f.read()
    try:
        return json.loads(text[text.index("{"):])
    except ValueError:
        t.ok(False, f"{what}: sluice-load report: {text[-500:]!r}")
        return {}


def read_acks(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [x.strip() for x in f if x.strip()]


def check_nothing_lost(rs, acked, what, wait_s=25):
    """Waits (replay) until every acked id is in Redis; returns (stored ids, duplicates)."""
    want = set(acked)
    deadline = time.time() + wait_s
    while True:
        ids = rs.message_ids()
        missing = want - set(ids)
        if not missing or time.time() > deadline:
            break
        time.sleep(0.5)
    t.eq(len(want), len(acked), f"{what}: acked messageIds are unique")
    t.ok(not missing, f"{what}: every acknowledged event is in Redis ({len(missing)} missing of "
                      f"{len(want)}, e.g. {sorted(missing)[:3]})")
    dups = len(ids) - len(set(ids))
    return ids, dups


def serve_args(rs, data, workers=2):
    return ["--plan", PLAN, "--redis", f"redis://127.0.0.1:{rs.port}", "--data-dir", data,
            "--workers", str(workers), "--redis-timeout-ms", "400", "--drain-timeout-ms", "5000"]


def wait_backlog_empty(s, what, wait_s=20, workers=2):
    """Waits until the replay emptied every worker's spool (metrics are snapshots taken once a
    second, so first wait for a snapshot of both workers)."""
    deadline = time.time() + wait_s
    m = {}
    while time.time() < deadline:
        m = s.metrics()
        if (m.get("sluice_spool_workers") == workers and m.get("sluice_spool_bytes") == 0 and
                m.get("sluice_spool_backlog_events") == 0):
            break
        time.sleep(0.2)
    t.eq((m.get("sluice_spool_bytes"), m.get("sluice_spool_backlog_events")), (0, 0),
         f"{what}: spool drained")
    return m


# ---- scenarios ------------------------------------------------------------------------------

def test_outage(binary, load_bin, redis_exe, tmp):
    d = os.path.join(tmp, "outage")
    os.makedirs(d)
    rs = RedisServer(redis_exe, d)
    s = Serve(binary, serve_args(rs, os.path.join(d, "data")), d)
    ack = os.path.join(d, "acked.txt")
    try:
        lp, lo = start_load(load_bin, s.port, ack, 8, 400, 3, d, "outage")
        time.sleep(1.5)
        rs.p.send_signal(signal.SIGSTOP)  # hung Redis: groups time out
        time.sleep(2.0)
        rs.p.send_signal(signal.SIGCONT)
        time.sleep(0.5)
        rs.stop()  # Redis down: connections refused
        mid = s.wait_metrics(lambda m: m.get("sluice_redis_up") == 0, 3)
        t.eq(mid.get("sluice_redis_up"), 0, "outage: sluice_redis_up is 0 while Redis is down")
        time.sleep(1.5)
        during = s.metrics()
        st, _, body = s.request("GET", "/readyz")
        t.ok(st == 503 and b"spooled to disk" in body,
             f"outage: /readyz is 503 (Redis down) and says events are spooled ({st} {body!r})")
        st, _, body = s.request("GET", "/readyz?spool=1")
        t.ok(st == 200 and b'"redis":"down"' in body and b'"spool":"accepting"' in body,
             f"outage: /readyz?spool=1 is 200 while the spool takes events ({st} {body!r})")
        t.ok(during.get("sluice_spool_backlog_events", 0) > 0,
             f"outage: events wait in the spool while Redis is down "
             f"({during.get('sluice_spool_backlog_events')})")
        rs.start()
        rep = finish_load(lp, lo, "outage")
        m = wait_backlog_empty(s, "outage")
        acked = read_acks(ack)
        req = rep.get("requests", {})
        t.ok(len(acked) > 1000, f"outage: load ran ({len(acked)} events acked)")
        t.eq(req.get("non2xx"), 0, "outage: no request refused (the spool took them)")
        t.eq(req.get("failed"), 0, "outage: no request failed")
        t.ok(m.get("sluice_spool_appends_total", 0) > 0, "outage: events went through the spool")
        t.ok(m.get("sluice_spool_fallback_events_total", 0) > 0,
             "outage: events the sink failed (timeout/disconnect) were spooled")
        t.eq(m.get("sluice_spool_replayed_total"), m.get("sluice_spool_appends_total"),
             "outage: every spooled event replayed")
        ids, dups = check_nothing_lost(rs, acked, "outage")
        print(f"outage: acked {len(acked)} events; {m.get('sluice_spool_appends_total')} went "
              f"through the spool ({m.get('sluice_spool_fallback_events_total')} after a sink "
              f"failure), {m.get('sluice_spool_replayed_total')} replayed; {len(ids)} stream "
              f"entries, {dups} duplicates", flush=True)
        # Backpressure: a hung and then dead Redis must not make memory grow with the load
        # (in-flight groups are bounded; the rest is on disk). Peak RSS, not a timing.
        hwm_kb = 0
        with open(f"/proc/{s.p.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm_kb = int(line.split()[1])
        print(f"outage: collector peak RSS {hwm_kb // 1024} MB", flush=True)
        t.ok(0 < hwm_kb < 256 * 1024, f"outage: peak RSS bounded ({hwm_kb} kB < 256 MB)")
        t.eq(s.stop(), 0, "outage: SIGTERM drain exits 0")
    finally:
        if s.p.poll() is None:
            s.p.kill()
        rs.stop()


def crash_round(binary, load_bin, redis_exe, tmp, redis_up, rng):
    name = "crash-redis-up" if redis_up else "crash-redis-down"
    d = os.path.join(tmp, name)
    os.makedirs(d)
    rs = RedisServer(redis_exe, d)
    data = os.path.join(d, "data")
    if not redis_up:
        rs.stop()
    s = Serve(binary, serve_args(rs, data), d)
    port = s.port
    ack = os.path.join(d, "acked.txt")
    kills = 4
    lp, lo = start_load(load_bin, port, ack, 7, 300, 2, d, name)
    logs = []
    try:
        for _ in range(kills):
            time.sleep(rng.uniform(0.5, 1.5))
            s.p.kill()  # SIGKILL at a random moment
            s.p.wait()
            s.log.close()
            logs.append(open(s.log_path, errors="replace").read())
            s = Serve(binary, serve_args(rs, data), d, port=port)
        rep = finish_load(lp, lo, name)
        if not redis_up:
            # drain with Redis down: in-flight requests end in the spool, exit 0, spool kept
            t.eq(s.stop(), 0, f"{name}: SIGTERM drain with Redis down exits 0")
            logs.append(open(s.log_path, errors="replace").read())
            rs.start()
            s = Serve(binary, serve_args(rs, data), d, port=port)
            time.sleep(rng.uniform(0.0, 0.3))
            s.p.kill()  # once more, in the middle of the replay
            s.p.wait()
            s.log.close()
            logs.append(open(s.log_path, errors="replace").read())
            s = Serve(binary, serve_args(rs, data), d, port=port)
        wait_backlog_empty(s, name)
        t.eq(s.stop(), 0, f"{name}: final SIGTERM exits 0")
        logs.append(open(s.log_path, errors="replace").read())
        acked = read_acks(ack)
        t.ok(len(acked) > 500, f"{name}: load ran ({len(acked)} events acked)")
        ids, dups = check_nothing_lost(rs, acked, name)
        text = "".join(logs)
        recovered = sum(int(x) for x in re.findall(r"(\d+) events from an earlier run", text))
        torn = len(re.findall(r"cut a torn tail", text))
        req = rep.get("requests", {})
        print(f"{name}: {kills + (0 if redis_up else 1)} kill -9; acked {len(acked)} events; requests 2xx {req.get('ok')}, "
              f"non-2xx {req.get('non2xx')}, failed (connection lost) {req.get('failed')}; "
              f"{recovered} spooled events recovered at restarts, {torn} torn tails cut; "
              f"{len(ids)} stream entries, {dups} duplicates", flush=True)
    finally:
        if s.p.poll() is None:
            s.p.kill()
        if lp.poll() is None:
            lp.kill()
        rs.stop()


def test_fewer_workers(binary, load_bin, redis_exe, tmp):
    """Redis down, 3 workers spool what they acknowledge; the next run has 1 worker: it must
    replay the spools of workers 1 and 2 as well as its own."""
    name = "fewer-workers"
    d = os.path.join(tmp, name)
    os.makedirs(d)
    rs = RedisServer(redis_exe, d)
    rs.stop()
    data = os.path.join(d, "data")
    s = Serve(binary, serve_args(rs, data, workers=3), d)
    ack = os.path.join(d, "acked.txt")
    try:
        # 8 connections over 3 SO_REUSEPORT sockets: several workers get some of them
        lp, lo = start_load(load_bin, s.port, ack, 2, 200, 2, d, name)
        finish_load(lp, lo, name)
        t.eq(s.stop(), 0, f"{name}: SIGTERM drain with Redis down exits 0")
        spools = os.path.join(data, "spool")
        used = sorted(x for x in os.listdir(spools)
                      if any(os.path.getsize(os.path.join(spools, x, f)) > 0
                             for f in os.listdir(os.path.join(spools, x))))
        t.ok(any(x != "worker-0" for x in used),
             f"{name}: workers other than worker-0 spooled events ({used})")
        rs.start()
        s = Serve(binary, serve_args(rs, data, workers=1), d)
        wait_backlog_empty(s, name, workers=1)
        log = s.logtext()
        t.eq(s.stop(), 0, f"{name}: final SIGTERM exits 0")
        t.ok("also replays" in log, f"{name}: the log names the spools replayed for gone workers")
        acked = read_acks(ack)
        t.ok(len(acked) > 100, f"{name}: load ran ({len(acked)} events acked)")
        ids, dups = check_nothing_lost(rs, acked, name)
        print(f"{name}: acked {len(acked)} events with 3 workers and Redis down (spools used: "
              f"{', '.join(used)}); 1 worker replayed them: {len(ids)} stream entries, "
              f"{dups} duplicates", flush=True)
    finally:
        if s.p.poll() is None:
            s.p.kill()
        rs.stop()


def main():
    if len(sys.argv) < 2:
        print("usage: it_durability.py SLUICE_BINARY")
        return 2
    binary = os.path.abspath(sys.argv[1])
    load_bin = os.path.join(os.path.dirname(binary), "sluice-load")
    redis_exe = shutil.which("redis-server")
    if not redis_exe:
        print("redis-server not found: skipping")
        return SKIP
    if not os.access(load_bin, os.X_OK):
        print(f"{load_bin} not built: skipping")
        return SKIP
    seed = int(os.environ.get("SLUICE_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (SLUICE_SEED={seed} replays the kill moments)", flush=True)
    rng = random.Random(seed)
    tmp = tmpdir()
    try:
        test_outage(binary, load_bin, redis_exe, tmp)
        test_fewer_workers(binary, load_bin, redis_exe, tmp)
        crash_round(binary, load_bin, redis_exe, tmp, True, rng)
        crash_round(binary, load_bin, redis_exe, tmp, False, rng)
    finally:
        if not t.failed:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp} for inspection", file=sys.stderr)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
