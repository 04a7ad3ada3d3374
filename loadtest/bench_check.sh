#!/usr/bin/env bash
# bench_check.sh - `sluice check` vs Ajv on the same large NDJSON corpus (a benchmark, not a test).
#
#   loadtest/bench_check.sh [SLUICE_BINARY] [EVENTS]      (default build/sluice, 300000)
#   env: PLAN (default specs/ecommerce.yaml), RUNS (default 3), INVALID (default 0.1),
#        SEED (default 42), KEEP=1 keeps the work directory.
#
# Builds nothing. Generates the corpus with loadtest/gen_events.js from the plan's emitted schemas,
# then times, best of RUNS each, parse included on both sides:
#   sluice check --plan PLAN --format json FILE >/dev/null
#   node tests/ajv/bench.js SCHEMAS.json FILE >/dev/null   (read, split lines, JSON.parse,
#                                 dispatch, Ajv allErrors, collect violations, print JSON)
# and prints events/s for both, the ratio sluice/Ajv (target >= 1.5) and peak RSS of both.
# Needs node, and Ajv in tests/ajv/node_modules (installed with `npm ci` when missing).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sluice="${1:-$root/build/sluice}"
events="${2:-300000}"
plan="${PLAN:-$root/specs/ecommerce.yaml}"
runs="${RUNS:-3}"
invalid="${INVALID:-0.1}"
seed="${SEED:-42}"

[ -x "$sluice" ] || { echo "bench_check: $sluice is not an executable (build it first)" >&2; exit 2; }
[ -f "$plan" ] || { echo "bench_check: no plan $plan" >&2; exit 2; }
command -v node >/dev/null || { echo "bench_check: node is required" >&2; exit 2; }
if [ ! -f "$root/tests/ajv/node_modules/ajv/dist/2020.js" ]; then
    (cd "$root/tests/ajv" && npm ci --no-audit --no-fund --loglevel=error)
fi

work="$(mktemp -d)"
if [ "${KEEP:-0}" = 1 ]; then echo "bench_check: work directory $work"; else trap 'rm -rf "$work"' EXIT; fi

"$sluice" compile "$plan" --emit json-schema >"$work/schemas.json"
node "$root/loadtest/gen_events.js" --schemas "$work/schemas.json" --count "$events" \
    --invalid "$invalid" --seed "$seed" --out "$work/events.ndjson"
bytes=$(wc -c <"$work/events.ndjson")
echo "corpus: $events events, $bytes bytes ($((bytes / events)) bytes/event), plan $(basename "$plan")"

# Both must agree on the counts, or the comparison means nothing.
set +e
"$sluice" check --plan "$plan" --format json "$work/events.ndjson" >"$work/sluice.json"
node "$root/tests/ajv/bench.js" "$work/schemas.json" "$work/events.ndjson" >"$work/ajv.json"
set -e
summary() { head -c 300 "$1" | tr -d '\n' | sed -E 's/.*"summary":(\{[^}]*\}).*/\1/'; }
echo "sluice summary: $(summary "$work/sluice.json")"
echo "Ajv summary:    $(summary "$work/ajv.json")"

have_time=0
[ -x /usr/bin/time ] && /usr/bin/time -v true >/dev/null 2>&1 && have_time=1

# measure NAME CMD...: sets best_s (seconds) and peak_kb over RUNS runs.
measure() {
    local name="$1"
    shift
    best_s=""
    peak_kb=0
    for ((r = 1; r <= runs; r++)); do
        local t0 t1 s kb
        t0=$(date +%s%N)
        if [ "$have_time" = 1 ]; then
            /usr/bin/time -v -o "$work/time.txt" "$@" >/dev/null 2>"$work/err.txt" || true
            kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
        else
            "$@" >/dev/null 2>"$work/err.txt" &
            local pid=$! k
            kb=0
            while kill -0 "$pid" 2>/dev/null; do
                k=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
                if [ "${k:-0}" -gt "$kb" ]; then kb=$k; fi
                sleep 0.05
            done
            wait "$pid" || true
        fi
        t1=$(date +%s%N)
        s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
        echo "  $name run $r: ${s}s, peak RSS $((kb / 1024)) MiB"
        if [ -z "$best_s" ] || awk -v a="$s" -v b="$best_s" 'BEGIN { exit !(a < b) }'; then best_s=$s; fi
        if [ "${kb:-0}" -gt "$peak_kb" ]; then peak_kb=$kb; fi
    done
}

measure sluice "$sluice" check --plan "$plan" --format json "$work/events.ndjson"
sl_s=$best_s sl_kb=$peak_kb
measure ajv node "$root/tests/ajv/bench.js" "$work/schemas.json" "$work/events.ndjson"
ajv_s=$best_s ajv_kb=$peak_kb

awk -v n="$events" -v a="$sl_s" -v b="$ajv_s" -v ka="$sl_kb" -v kb="$ajv_kb" 'BEGIN {
    printf "sluice check: %8.0f events/s (best of runs %.3fs), peak RSS %d MiB\n", n / a, a, ka / 1024
    printf "Ajv (node):   %8.0f events/s (best of runs %.3fs), peak RSS %d MiB\n", n / b, b, kb / 1024
    r = b / a
    printf "ratio sluice/Ajv: %.2fx (target >= 1.5x): %s\n", r, (r >= 1.5 ? "met" : "NOT met")
}'
