#!/usr/bin/env bash
# bench_rounds.sh - loadtest/bench.sh N times in a row, then the median of each ratio.
#
#   loadtest/bench_rounds.sh [ROUNDS]      (default 3; every bench.sh variable passes through)
#
# On a shared VM one bench.sh run can put nginx's ceiling anywhere between 135 k and 175 k req/s
# and Redis's XADD ceiling between 240 k and 650 k/s: each ratio is taken within one run (the
# ceiling and Sluice measured minutes apart), and the median over rounds is the figure to quote.
# Prints each round's ratios, then median, min and max; each round's full output is kept in the
# work directory it names.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rounds="${1:-3}"
case "$rounds" in '' | *[!0-9]* | 0) echo "usage: $0 [ROUNDS >= 1]" >&2; exit 2 ;; esac
command -v python3 >/dev/null || { echo "bench_rounds: python3 is required" >&2; exit 2; }
out="$(mktemp -d /tmp/sluice-rounds.XXXXXX)"
for i in $(seq "$rounds"); do
    echo "== round $i of $rounds ($(date -u +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))"
    JSON_OUT="$out/round$i.json" "$root/loadtest/bench.sh" >"$out/round$i.txt" 2>&1
    grep -E '^  (sluice single|sluice batch|p99 at|p99 of nginx|RSS with [0-9]+ idle connections, MB|CPU us)' "$out/round$i.txt"
done
python3 - "$out" "$rounds" <<'EOF'
import json, os, statistics, sys
out, n = sys.argv[1], int(sys.argv[2])
rows = []
for i in range(1, n + 1):
    try:
        rows.append(json.load(open(os.path.join(out, "round%d.json" % i))))
    except (OSError, ValueError):
        pass

def num(d, k):
    try:
        return float(d[k])
    except (KeyError, ValueError):
        return None

def ratio(d, a, b):
    x, y = num(d, a), num(d, b)
    return x / y if x is not None and y else None

figures = [
    ("sluice single req/s / nginx req/s", lambda d: ratio(d, "sluice_single.rps", "nginx_single.rps"), ">= 0.5"),
    ("sluice batch events/s / Redis XADD/s", lambda d: ratio(d, "sluice_batch.eps", "redis.xadd"), ">= 0.7"),
    ("p99 at 50% of max rate (single), ms", lambda d: num(d, "sluice_open50.p99"), "<= 2"),
    ("  the same from the actual send, ms", lambda d: num(d, "sluice_open50.svc99"), ""),
    ("nginx p99 at that rate (noise floor), ms", lambda d: num(d, "nginx_open_ref.p99"), ""),
    ("RSS, idle keep-alive connections, MB", lambda d: (num(d, "idle.rss_kb") or 0) / 1024 or None, "<= 64"),
    ("nginx single req/s", lambda d: num(d, "nginx_single.rps"), ""),
    ("sluice single req/s", lambda d: num(d, "sluice_single.rps"), ""),
    ("Redis XADD/s", lambda d: num(d, "redis.xadd"), ""),
    ("sluice batched events/s", lambda d: num(d, "sluice_batch.eps"), ""),
]
print("\n== %d rounds: median [min, max] (target)" % len(rows))
for name, f, target in figures:
    vals = [v for v in (f(d) for d in rows) if v is not None]
    if not vals:
        print("  %-42s n/a" % name)
        continue
    fmt = "%.0f" if max(vals) >= 1000 else "%.2f"
    print("  %-42s %s [%s, %s] %s" % (name, fmt % statistics.median(vals), fmt % min(vals),
                                      fmt % max(vals), "(%s)" % target if target else ""))
print("  outputs: %s" % out)
EOF
