#!/usr/bin/env bash
# golden.sh - data-driven CLI tests: outputs of `sluice check`, `lint`, `diff` and `compile --dump` compared
# byte for byte with files under tests/golden/, and every broken plan under tests/data/bad/ must
# produce the error line its .expected file names. SLUICE_GOLDEN_UPDATE=1 rewrites the golden files
# (review the diff before committing!).
set -uo pipefail
sluice=$1
fail=0 pass=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# golden NAME EXPECTED_EXIT CMD...: stdout of CMD must equal tests/golden/NAME.
golden() {
  local name=$1 want=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [[ "$rc" != "$want" ]]; then bad "$name: exit $rc, expected $want"; echo "$out" | head -20; return; fi
  if [[ "${SLUICE_GOLDEN_UPDATE:-0}" == 1 ]]; then printf '%s\n' "$out" >"tests/golden/$name"; ok; return; fi
  if [[ ! -f "tests/golden/$name" ]]; then bad "$name: tests/golden/$name missing"; return; fi
  if diff -u "tests/golden/$name" <(printf '%s\n' "$out") >/tmp/golden.$$.diff; then ok
  else bad "$name differs:"; head -40 /tmp/golden.$$.diff; fi
  rm -f /tmp/golden.$$.diff
}

plan=specs/ecommerce.yaml
ex=specs/examples/ecommerce
if [[ -f $plan ]]; then
  golden ecommerce-lint.txt 0 "$sluice" lint $plan
  golden ecommerce-valid.txt 0 "$sluice" check --plan $plan $ex/valid.ndjson
  golden ecommerce-invalid.txt 1 "$sluice" check --plan $plan $ex/invalid.ndjson
  golden ecommerce-invalid.json 1 "$sluice" check --plan $plan --format json $ex/invalid.ndjson
  golden ecommerce-invalid.junit.xml 1 "$sluice" check --plan $plan --format junit $ex/invalid.ndjson
  golden ecommerce-batch.txt 0 "$sluice" check --plan $plan $ex/batch.json
  golden ecommerce-coverage.txt 0 "$sluice" check --plan $plan --coverage $ex/valid.ndjson
fi
# The Snowplow shop: Iglu schemas, checked as self-describing JSONs (the collector checks the same
# through Snowplow's tracker protocol, tests/it_snowplow.py)
sp=specs/examples/snowplow
if [[ -f specs/snowplow.yaml ]]; then
  golden snowplow-lint.txt 0 "$sluice" lint specs/snowplow.yaml
  golden snowplow-valid.txt 0 "$sluice" check --plan specs/snowplow.yaml --self-describing $sp/valid.ndjson
  golden snowplow-invalid.txt 1 "$sluice" check --plan specs/snowplow.yaml --self-describing $sp/invalid.ndjson
  golden snowplow-invalid.json 1 "$sluice" check --plan specs/snowplow.yaml --self-describing --format json $sp/invalid.ndjson
fi
# sluice diff: the fixtures of test_plandiff.c, text and JSON; exit 1 on breaking changes
golden diff-demo.txt 1 "$sluice" diff tests/data/diff/old.yaml tests/data/diff/new.yaml
golden diff-demo.json 1 "$sluice" diff --format json tests/data/diff/old.yaml tests/data/diff/new.yaml
golden diff-same.txt 0 "$sluice" diff tests/data/diff/new.yaml tests/data/diff/new.yaml
"$sluice" diff tests/data/diff/old.yaml >/dev/null 2>&1; [[ $? == 2 ]] && ok || bad "diff with one plan must exit 2"
"$sluice" diff tests/data/diff/old.yaml tests/data/bad/bad-regex.yaml >/dev/null 2>&1
[[ $? == 2 ]] && ok || bad "diff with a broken plan must exit 2"
for p in tests/data/plans/*.yaml; do
  [[ -f $p ]] || continue
  golden "dump-$(basename "$p" .yaml).txt" 0 "$sluice" compile "$p" --dump
done

# Broken plans: exactly the error the .expected file names (a substring of one output line).
for p in tests/data/bad/*.yaml; do
  [[ -f $p ]] || continue
  exp="${p%.yaml}.expected"
  out=$(cd "$(dirname "$p")" && "$sluice" lint "$(basename "$p")" 2>&1); rc=$?
  if [[ $rc != 1 ]]; then bad "$p: lint exit $rc, expected 1"; echo "$out"; continue; fi
  if [[ ! -f $exp ]]; then bad "$p: no $exp"; continue; fi
  want=$(head -n 1 "$exp")
  if grep -qF -- "$want" <<<"$out"; then ok; else bad "$p: expected '$want' in:"; echo "$out"; fi
  # ... and `check` refuses the plan with exit 2
  "$sluice" check --plan "$p" </dev/null >/dev/null 2>&1; rc=$?
  if [[ $rc == 2 ]]; then ok; else bad "$p: check exit $rc, expected 2"; fi
done

# Usage errors exit 2 with a message.
"$sluice" check </dev/null >/dev/null 2>&1; [[ $? == 2 ]] && ok || bad "check without --plan must exit 2"
"$sluice" nope >/dev/null 2>&1; [[ $? == 2 ]] && ok || bad "unknown command must exit 2"
"$sluice" check --plan does-not-exist.yaml </dev/null >/dev/null 2>&1; [[ $? == 2 ]] && ok || bad "missing plan must exit 2"

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
