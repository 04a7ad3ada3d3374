#!/usr/bin/env bash
# format_suite.sh - the JSON-Schema-Test-Suite's optional/format files of draft2020-12,
# draft2019-09, draft7, draft6 and draft4 through `sluice schema-test --assert-formats`, each draft
# with a floor (every case today: 2020-12 467, 2019-09 460, draft7 414, draft6 207, draft4 146),
# and never below Ajv 8 + ajv-formats on the same files in the same run (tests/ajv/format_suite.js,
# when node and tests/ajv/node_modules are there; Ajv scores 425, 423, 377, 207, 146).
# The files come from the Debian package libtest-json-schema-acceptance-perl (scripts/deps.sh
# --test); without it the test is skipped (77). SLUICE_FORMAT_SUITE_DIR overrides where they are.
set -uo pipefail
sluice=$1
here="$(cd "$(dirname "$0")" && pwd)"
dir=${SLUICE_FORMAT_SUITE_DIR:-/usr/share/perl5/auto/share/dist/Test-JSON-Schema-Acceptance/tests}
if [[ ! -d "$dir/draft2020-12/optional/format" ]]; then
  echo "SKIP: no optional/format suite at $dir (apt-get install libtest-json-schema-acceptance-perl)"
  exit 77
fi
declare -A floor=([draft2020-12]=467 [draft2019-09]=460 [draft7]=414 [draft6]=207 [draft4]=146)
ajv=""
if command -v node >/dev/null && [[ -d "$here/ajv/node_modules/ajv-formats" ]]; then
  ajv="$here/ajv/format_suite.js"
else
  echo "note: Ajv not compared (needs node and npm ci in tests/ajv)"
fi
passed_of() { local last; last=$(tail -n 1 <<<"$1"); echo "${last%% passed*}"; }
rc=0
for d in draft2020-12 draft2019-09 draft7 draft6 draft4; do
  files=("$dir/$d"/optional/format/*.json)
  [[ -e "${files[0]}" ]] || { echo "FAIL: $d: no files"; rc=1; continue; }
  out=$("$sluice" schema-test --assert-formats "${files[@]}")
  grep -v ' 0 failed$' <<<"$out" | grep -v '^[0-9]* passed' || true
  got=$(passed_of "$out")
  [[ "$got" =~ ^[0-9]+$ ]] || { echo "FAIL: $d: unexpected output: $(tail -n 1 <<<"$out")"; rc=1; continue; }
  line="$d: sluice $(tail -n 1 <<<"$out") (floor ${floor[$d]})"
  ((got >= ${floor[$d]})) || { echo "FAIL: $line"; rc=1; continue; }
  if [[ -n "$ajv" ]]; then
    aout=$(node "$ajv" "${files[@]}")
    a=$(passed_of "$aout")
    line+="; Ajv $(tail -n 1 <<<"$aout")"
    [[ "$a" =~ ^[0-9]+$ ]] || { echo "FAIL: $d: Ajv output: $(tail -n 1 <<<"$aout")"; rc=1; continue; }
    ((got >= a)) || { echo "FAIL: $line: below Ajv"; rc=1; continue; }
  fi
  echo "OK: $line"
done
exit $rc
