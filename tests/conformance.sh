#!/usr/bin/env bash
# conformance.sh - runs the JSON-Schema-Test-Suite (draft 2020-12) through `sluice schema-test`.
# The suite lives outside the repo (../shared/conformance); without it the test is skipped (77).
# Fails below the floor we hold ourselves to (Ajv 8 scores 1181 of 1217).
set -uo pipefail
sluice=$1
dir=${SLUICE_SHARED_DIR:-../shared}/conformance/json-schema-test-suite/draft2020-12
if [[ ! -d "$dir" ]]; then
  echo "SKIP: JSON-Schema-Test-Suite not found at $dir (set SLUICE_SHARED_DIR)"
  exit 77
fi
floor=${SLUICE_CONFORMANCE_FLOOR:-1217}  # all of them; Ajv 8 scores 1181
out=$("$sluice" schema-test "$dir"/*.json)
echo "$out"
last=$(tail -n 1 <<<"$out")
passed=${last%% passed*}
[[ "$passed" =~ ^[0-9]+$ ]] || { echo "FAIL: unexpected last line: $last"; exit 1; }
if ((passed < floor)); then
  echo "FAIL: $passed cases passed, floor is $floor"
  exit 1
fi
echo "OK: $passed cases passed (floor $floor)"
