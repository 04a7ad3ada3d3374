#!/usr/bin/env python3
"""it_report.py - `sluice report` and `sluice tail` through the real binary, against events sent
to a real `sluice serve`: a tester's session sees exactly its own violations live, and the grouped
report (table and JSON) counts them. argv[1] is the sluice binary; exit 77 without redis-server."""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "serve"))
from harness import Checks, Serve, start_redis, tmpdir  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLAN = os.path.join(ROOT, "specs", "ecommerce.yaml")


def order(session, total):
    return {"type": "track", "event": "Order Completed", "userId": "u1",
            "properties": {"order_id": "AO-12345678", "total": total, "currency": "EUR",
                           "products": [{"product_id": "p1", "sku": "AO-1", "name": "x",
                                         "price": 1.0, "quantity": 1}]},
            "context": {"sluice": {"session": session}}}


def main():
    if not shutil.which("redis-server"):
        print("SKIP: redis-server not installed")
        return 77
    binary = os.path.abspath(sys.argv[1])
    t = Checks()
    tmp = tmpdir()
    redis_proc, rport, r = start_redis(tmp)
    url = f"redis://127.0.0.1:{rport}"
    s = tail = None
    try:
        s = Serve(binary, ["--plan", PLAN, "--redis", url, "--workers", "2"], tmp)
        tail = subprocess.Popen([binary, "tail", "--redis", url, "--session", "qa-42",
                                 "--format", "json", "--count", "2", "--timeout", "20"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # wait until the subscriber is attached (agg + sse + tail subscribe to the channel)
        for _ in range(100):
            subs = r.cmd("PUBSUB", "NUMSUB", "sluice:violations")
            if int(subs[1]) >= 3:
                break
            time.sleep(0.05)
        t.ok(s.post("/v1/track", order("qa-42", "12.5"))[0] == 200, "invalid event of qa-42")
        t.ok(s.post("/v1/track", order("other", "9"))[0] == 200, "invalid event of another session")
        t.ok(s.post("/v1/track", order("qa-42", 12.5))[0] == 200, "valid event of qa-42")
        t.ok(s.post("/v1/track", order("qa-42", "7"))[0] == 200, "second invalid event of qa-42")
        out, err = tail.communicate(timeout=30)
        t.eq(tail.returncode, 0, f"tail got its 2 messages ({err.decode()[:200]})")
        lines = [json.loads(x) for x in out.decode().splitlines() if x.strip()]
        t.eq(len(lines), 2, "tail printed exactly the 2 invalid events of session qa-42")
        t.ok(all(m.get("session") == "qa-42" for m in lines), "only qa-42's events")
        t.ok(all(any(v.get("path") == "/properties/total" for v in m.get("violations", []))
                 for m in lines), "each carries the /properties/total violation")

        time.sleep(1.5)  # the aggregator flushes every second
        rep = subprocess.run([binary, "report", "--redis", url, "--since", "1h", "--format",
                              "json"], capture_output=True, timeout=30)
        t.eq(rep.returncode, 0, "report exits 0")
        doc = json.loads(rep.stdout or b"{}")
        groups = {(g["event"], g["kind"], g["path"]): g for g in doc.get("groups", [])}
        g = groups.get(("Order Completed", "Datatype-Mismatch", "/properties/total"))
        t.ok(g is not None, "report groups the Datatype-Mismatch on /properties/total")
        if g:
            t.eq(g["count"], 3, "three invalid events counted")
            t.ok(1 <= len(g.get("examples", [])) <= 3, "examples are kept, bounded")
        ev = {e["event"]: e for e in doc.get("events", [])}
        t.eq((ev.get("Order Completed") or {}).get("valid"), 1, "one valid Order Completed")
        t.eq((ev.get("Order Completed") or {}).get("invalid"), 3, "three invalid")
        txt = subprocess.run([binary, "report", "--redis", url, "--since", "1h"],
                             capture_output=True, timeout=30)
        t.eq(txt.returncode, 0, "report table exits 0")
        t.ok(b"Datatype-Mismatch" in txt.stdout and b"/properties/total" in txt.stdout,
             "the table shows the group")
        bad = subprocess.run([binary, "report", "--redis", url, "--since", "yesterday-ish"],
                             capture_output=True, timeout=30)
        t.eq(bad.returncode, 2, "a bad --since is a usage error")
        down = subprocess.run([binary, "report", "--redis", "redis://127.0.0.1:1"],
                              capture_output=True, timeout=30)
        t.eq(down.returncode, 1, "unreachable Redis: exit 1")
        st, _, body = s.request("GET", "/v1/violations?event=Order%20Completed")
        t.eq(st, 200, "GET /v1/violations")
        t.ok(b"/properties/total" in body, "the endpoint returns the same groups")
    except Exception as e:  # noqa: BLE001
        t.ok(False, f"exception: {e}")
    finally:
        if tail and tail.poll() is None:
            tail.kill()
        if s:
            s.stop()
        redis_proc.terminate()
        redis_proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
