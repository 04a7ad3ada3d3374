#!/usr/bin/env bash
# run.sh - the ajv_parity test: `sluice check` and Ajv (on the schemas printed by
# `sluice compile --emit json-schema`) must agree on every event of every corpus.
#
#   bash tests/ajv/run.sh [SLUICE_BINARY]      (from the repository root; default build/sluice)
#
# Corpora: tests/ajv/plan.yaml (+ plan-allow.yaml) with the hand-written tests/ajv/corpus.ndjson
# and a generated corpus (loadtest/gen_events.js); specs/ecommerce.yaml with
# specs/examples/ecommerce/*.ndjson and a generated corpus, when that plan exists. Then the format
# edge cases of tests/ajv/format_probes.json, reported (sluice vs Ajv vs a strict RFC reading)
# without failing the test.
# Needs node and npm: installs Ajv with `npm ci` into tests/ajv/node_modules when missing.
# Exit 0 = agreement, 1 = a disagreement (printed), 77 = skipped (no node/npm, install failed).
set -u
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
sluice="${1:-$root/build/sluice}"
gen_count="${AJV_PARITY_EVENTS:-3000}"

skip() { echo "ajv_parity: SKIPPED: $*"; exit 77; }

command -v node >/dev/null 2>&1 || skip "node is not installed (apt-get install nodejs npm)"
[ -x "$sluice" ] || { echo "ajv_parity: $sluice is not an executable"; exit 1; }
if [ ! -f "$here/node_modules/ajv/dist/2020.js" ] || [ ! -d "$here/node_modules/ajv-formats" ]; then
    command -v npm >/dev/null 2>&1 || skip "npm is not installed (apt-get install npm)"
    echo "ajv_parity: installing Ajv (npm ci in tests/ajv)"
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) ||
        skip "npm ci failed in tests/ajv (no registry access?)"
fi
node -e 'require(process.argv[1] + "/node_modules/ajv/dist/2020"); require(process.argv[1] + "/node_modules/ajv-formats")' "$here" 2>/dev/null ||
    skip "Ajv does not load with $(node --version) (node_modules broken?)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# pair LABEL PLAN FILE...: one parity run.
pair() {
    local label="$1" plan="$2"
    shift 2
    if node "$here/parity.js" --sluice "$sluice" --plan "$plan" --label "$label" "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
}

# generated PLAN OUT SEED COUNT: a generated corpus (from the plan's emitted schemas).
generated() {
    "$sluice" compile "$1" --emit json-schema >"$tmp/schemas.json" 2>"$tmp/err" || {
        echo "ajv_parity: sluice compile $1 --emit json-schema failed:"; cat "$tmp/err"; return 1; }
    node "$root/loadtest/gen_events.js" --schemas "$tmp/schemas.json" --count "$4" --seed "$3" \
        --invalid 0.3 --out "$2"
}

mini="$here/plan.yaml"
allow="$here/plan-allow.yaml"
pair "mini: hand-written corpus" "$mini" "$here/corpus.ndjson"
if generated "$mini" "$tmp/mini-gen.ndjson" 1 "$gen_count"; then
    pair "mini: generated corpus" "$mini" "$tmp/mini-gen.ndjson"
else
    failed=$((failed + 1))
fi
pair "mini-allow: hand-written corpus" "$allow" "$here/corpus.ndjson"
if generated "$allow" "$tmp/allow-gen.ndjson" 2 1000; then
    pair "mini-allow: generated corpus" "$allow" "$tmp/allow-gen.ndjson"
else
    failed=$((failed + 1))
fi

eplan="$root/specs/ecommerce.yaml"
if [ -f "$eplan" ]; then
    shopt -s nullglob
    corpora=("$root"/specs/examples/ecommerce/*.ndjson)
    shopt -u nullglob
    for f in "${corpora[@]}"; do
        pair "ecommerce: $(basename "$f")" "$eplan" "$f"
    done
    [ ${#corpora[@]} -gt 0 ] || echo "ajv_parity: note: no specs/examples/ecommerce/*.ndjson yet"
    if generated "$eplan" "$tmp/ecom-gen.ndjson" 3 "$gen_count"; then
        pair "ecommerce: generated corpus" "$eplan" "$tmp/ecom-gen.ndjson"
    else
        failed=$((failed + 1))
    fi
else
    echo "ajv_parity: note: specs/ecommerce.yaml does not exist yet; only the tests/ajv plans ran"
fi

# Format edge cases: reported, never fatal (see format_probes.json for the RFC reading).
node "$here/parity.js" --sluice "$sluice" --plan "$mini" --probes "$here/format_probes.json" ||
    failed=$((failed + 1))

echo "ajv_parity: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
