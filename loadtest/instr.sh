#!/usr/bin/env bash
# instr.sh - instructions per request of the whole `sluice serve` process, under callgrind.
#
#   loadtest/instr.sh batch|single SLUICE_BINARY [SLUICE_BINARY ...]
#
# Repeatable where wall-clock figures are not (a VM shared with other work moves them by 10-20%):
# for each binary, starts a redis-server and `sluice serve --workers 1 --report-window 0` under
# callgrind, zeroes the counters once /healthz answers (plan loading excluded), sends a fixed
# open-loop load with sluice-load (batch: 100 requests of 100 events on 4 connections; single:
# 2,000 single-event requests on 16 connections; 10% invalid, seed 1), dumps the counters and
# prints instructions per request. Compare two builds (e.g. a worktree of the previous commit)
# in one call. Needs valgrind, redis-server, python3, curl; sluice-load next to the first binary
# or in build-load/. KEEP=1 keeps each run's callgrind dump (for callgrind_annotate).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mode="${1:-}"
shift || true
{ [ "$mode" = batch ] || [ "$mode" = single ]; } && [ $# -ge 1 ] || {
    echo "usage: $0 batch|single SLUICE_BINARY [SLUICE_BINARY ...]" >&2
    exit 2
}
for t in valgrind callgrind_control callgrind_annotate redis-server python3 curl; do
    command -v "$t" >/dev/null || { echo "instr: $t is required" >&2; exit 2; }
done
LOAD="${LOAD:-$(dirname "$1")/sluice-load}"
[ -x "$LOAD" ] || LOAD="$root/build-load/sluice-load"
[ -x "$LOAD" ] || { echo "instr: no sluice-load (set LOAD=)" >&2; exit 2; }
PLAN="${PLAN:-$root/specs/ecommerce.yaml}"
if [ "$mode" = batch ]; then
    load_args=(--rate 20 --duration 5 --batch 100 --connections 4)
else
    load_args=(--rate 400 --duration 5 --connections 16)
fi
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

for bin in "$@"; do
    work="$(mktemp -d /tmp/sluice-instr.XXXXXX)"
    rport=$(free_port)
    hport=$(free_port)
    redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
    rpid=$!
    sleep 0.3
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$bin" serve --plan "$PLAN" \
        --redis "redis://127.0.0.1:$rport" --listen "127.0.0.1:$hport" --workers 1 \
        --report-window 0 --data-dir "$work/data" >"$work/serve.log" 2>&1 &
    spid=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$hport/healthz" && break
        sleep 0.2
    done
    callgrind_control -z "$spid" >/dev/null 2>&1
    "$LOAD" --url "http://127.0.0.1:$hport" --invalid 0.1 --seed 1 --json "${load_args[@]}" \
        >"$work/load.json" 2>"$work/load.err"
    callgrind_control -d "$spid" >/dev/null 2>&1
    sleep 0.5
    dump="$(ls "$work"/cg.out.* 2>/dev/null | head -n 1)"
    python3 - "$work/load.json" "$dump" "$bin" <<'EOF'
import json, re, subprocess, sys
d = json.load(open(sys.argv[1]))
n = sum(d["status"].values())
out = subprocess.run(["callgrind_annotate", sys.argv[2]], capture_output=True, text=True).stdout
m = re.search(r"^([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", out, re.M)
ir = int(m.group(1).replace(",", "")) if m else 0
print("%s: %d requests, %.1f k instructions per request" % (sys.argv[3], n, ir / max(n, 1) / 1e3))
EOF
    kill "$spid" "$rpid" 2>/dev/null
    wait 2>/dev/null
    [ "${KEEP:-0}" = 1 ] && echo "instr: kept $work" || rm -rf "$work"
done
