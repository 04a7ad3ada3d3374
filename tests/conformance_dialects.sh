#!/usr/bin/env bash
# conformance_dialects.sh - the JSON-Schema-Test-Suite's required files of draft4, draft6, draft7,
# draft2019-09 and draft2020-12 through `sluice schema-test --dialect D --remotes DIR`, each draft
# with a floor (today's score) and, when node and tests/ajv/node_modules are there, Ajv 8's score
# on the same files in the same run (tests/ajv/suite.js): sluice must not be below it.
# The meta-schemas of every draft are built in (a subset that checks keyword value types), so the
# cases that $ref "http://json-schema.org/draft-07/schema#" and the others compile offline.
# The files come from the Debian package libtest-json-schema-acceptance-perl (scripts/deps.sh
# --test); without it the test is skipped (77). SLUICE_SUITE_DIR overrides where they are.
set -uo pipefail
sluice=$1
here="$(cd "$(dirname "$0")" && pwd)"
root=${SLUICE_SUITE_DIR:-/usr/share/perl5/auto/share/dist/Test-JSON-Schema-Acceptance}
if [[ ! -d "$root/tests/draft7" ]]; then
  echo "SKIP: no JSON-Schema-Test-Suite at $root (apt-get install libtest-json-schema-acceptance-perl)"
  exit 77
fi
declare -A floor=([draft4]=578 [draft6]=775 [draft7]=859 [draft2019-09]=1169 [draft2020-12]=1169)
declare -A dialect=([draft4]=draft-04 [draft6]=draft-06 [draft7]=draft-07 [draft2019-09]=2019-09
                    [draft2020-12]=2020-12)
declare -A known_gap=()
ajv=""
if command -v node >/dev/null && [[ -d "$here/ajv/node_modules/ajv-draft-04" ]]; then
  ajv="$here/ajv/suite.js"
elif command -v npm >/dev/null && (cd "$here/ajv" && npm ci --no-audit --no-fund >/dev/null 2>&1); then
  ajv="$here/ajv/suite.js"
else
  echo "note: Ajv not compared (needs node and npm ci in tests/ajv)"
fi
passed_of() { local last; last=$(tail -n 1 <<<"$1"); echo "${last%% passed*}"; }
rc=0
for d in draft4 draft6 draft7 draft2019-09 draft2020-12; do
  files=("$root/tests/$d"/*.json)
  out=$("$sluice" schema-test --dialect "${dialect[$d]}" --remotes "$root/remotes" "${files[@]}")
  got=$(passed_of "$out")
  [[ "$got" =~ ^[0-9]+$ ]] || { echo "FAIL: $d: unexpected output: $(tail -n 1 <<<"$out")"; rc=1; continue; }
  grep '^  FAIL' <<<"$out" | sed "s/^/$d:/" || true
  line="$d: sluice $(tail -n 1 <<<"$out") (floor ${floor[$d]})"
  ((got >= ${floor[$d]})) || { echo "FAIL: $line"; rc=1; continue; }
  if [[ -n "$ajv" ]]; then
    aout=$(node "$ajv" "$d" "$root/remotes" "${files[@]}")
    a=$(passed_of "$aout")
    [[ "$a" =~ ^[0-9]+$ ]] || { echo "FAIL: $d: Ajv output: $(tail -n 1 <<<"$aout")"; rc=1; continue; }
    line+="; Ajv $(tail -n 1 <<<"$aout")"
    if ((got < a)); then
      if [[ -n "${known_gap[$d]:-}" ]]; then
        line+=" (KNOWN GAP: below Ajv by $((a - got)), see the header)"
      else
        echo "FAIL: $line: below Ajv"; rc=1; continue
      fi
    fi
  fi
  echo "OK: $line"
done
exit $rc
