#!/usr/bin/env bash
# import_roundtrip.sh - `sluice import` end to end, per format, on the fixtures of
# tests/data/import (written from each format's public docs):
#   import -> exit 0 (nothing lost) -> `sluice lint` exit 0 -> `sluice check` on a corpus of valid
#   and broken events gives, event by event, the verdict Ajv gives on the ORIGINAL schemas
#   (tests/import/ajv_verdicts.js, Ajv in each schema's own dialect).
# Then the lossy fixture: import must exit 1 and list each part it could not carry over with its
# file:line:col, and a broken source must be an error (exit 2) that names the file.
# Needs node + Ajv (tests/ajv, `npm ci`) for the verdict comparison; without them the test is
# skipped (77) after the import/lint checks, which need nothing.
set -uo pipefail
sluice=$1
cd "$(dirname "$0")/.."
d=tests/data/import
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

ajv=1
if ! command -v node >/dev/null || [[ ! -d tests/ajv/node_modules/ajv-draft-04 ]]; then
  if command -v npm >/dev/null && (cd tests/ajv && npm ci --no-audit --no-fund >/dev/null 2>&1); then
    :
  else
    ajv=0
    echo "note: Ajv not available (node + npm ci in tests/ajv): verdicts not compared"
  fi
fi

verdicts() { # sluice check --format json -> one 1/0 line per event
  python3 -c '
import json, sys
d = json.load(sys.stdin)
bad = {v["index"] for v in d["violations"] if v.get("severity") != "warning"}
print("\n".join("0" if i in bad else "1" for i in range(d["summary"]["events"])))'
}

# case LABEL FORMAT EVENTS CHECK_FLAGS SOURCE...
case_() {
  local label=$1 fmt=$2 events=$3 flags=$4
  shift 4
  local plan="$tmp/$label.yaml"
  "$sluice" import "$fmt" "$@" -o "$plan" 2>"$tmp/$label.err"
  local rc=$?
  [[ $rc == 0 ]] || { bad "$label: import exit $rc"; cat "$tmp/$label.err"; return; }
  grep -q '^ *# from ' "$plan" || bad "$label: the plan has no provenance comments"
  "$sluice" lint "$plan" >"$tmp/$label.lint" 2>&1 || { bad "$label: lint"; cat "$tmp/$label.lint"; }
  [[ $ajv == 1 ]] || return
  # shellcheck disable=SC2086
  "$sluice" check --plan "$plan" $flags --format json "$events" | verdicts >"$tmp/$label.sluice"
  node tests/import/ajv_verdicts.js "$fmt" "$events" "$@" >"$tmp/$label.ajv" ||
    { bad "$label: ajv_verdicts.js failed"; return; }
  local n valid
  n=$(wc -l <"$tmp/$label.ajv")
  valid=$(grep -c '^1$' "$tmp/$label.ajv")
  if diff "$tmp/$label.ajv" "$tmp/$label.sluice" >"$tmp/$label.diff"; then
    echo "ok: $label: $n events ($valid valid, $((n - valid)) invalid), sluice == Ajv on the original schemas"
  else
    bad "$label: verdicts differ from Ajv (line = event index + 1; < Ajv, > sluice):"
    cat "$tmp/$label.diff"
  fi
  # both kinds must be in the corpus, or the comparison proves little
  [[ $valid -ge 5 && $((n - valid)) -ge 5 ]] || bad "$label: corpus needs >= 5 valid and >= 5 invalid events"
}

case_ segment segment $d/segment/events.ndjson "" $d/segment/rules-page1.json $d/segment/rules-page2.json
case_ segment-config-api segment $d/segment/legacy-events.ndjson "" $d/segment/legacy-config-api.json
case_ rudderstack rudderstack $d/rudderstack/events.ndjson "" $d/rudderstack/tracking-plan.json
case_ iglu iglu $d/iglu/events.ndjson --self-describing $d/iglu
case_ jsonschema jsonschema $d/jsonschema-events.ndjson "" $d/jsonschema

# rudder-cli YAML projects (rudder/v1 and rudder/0.1): no JSON Schema to give Ajv here, so the
# oracle is a hand-labelled corpus: tests/data/import/rudder-cli/V-expected.txt says, line by line,
# the verdict RudderStack's documented rules give and why.
rcli_case() {
  local v=$1 src=$d/rudder-cli/$1
  "$sluice" import rudderstack "$src" -o "$tmp/rcli-$v.yaml" 2>"$tmp/rcli-$v.err" ||
    { bad "rudder-cli $v: import exit $?"; cat "$tmp/rcli-$v.err"; return; }
  grep -q '^ *# from .*rudder-cli tracking plan' "$tmp/rcli-$v.yaml" || bad "rudder-cli $v: no provenance"
  "$sluice" lint "$tmp/rcli-$v.yaml" >/dev/null 2>&1 || bad "rudder-cli $v: lint"
  "$sluice" check --plan "$tmp/rcli-$v.yaml" --format json "$src-events.ndjson" | verdicts >"$tmp/rcli-$v.got"
  if cut -c1 "$src-expected.txt" | diff - "$tmp/rcli-$v.got" >"$tmp/rcli-$v.diff"; then
    echo "ok: rudder-cli $v: $(wc -l <"$tmp/rcli-$v.got") events, verdicts as labelled"
  else
    bad "rudder-cli $v: verdicts differ from the labels (< expected, > sluice):"; cat "$tmp/rcli-$v.diff"
  fi
}
rcli_case v1
rcli_case v0.1
# the discriminator's case: a card payment without card_brand is Required-Missing at that path
sed -n 13p $d/rudder-cli/v1-events.ndjson | "$sluice" check --plan "$tmp/rcli-v1.yaml" --format json >"$tmp/rcli-case.json"
grep -q '"kind":"Required-Missing","path":"/properties/card_brand"' "$tmp/rcli-case.json" || bad "rudder-cli: variant case message"
# a reference to nothing is an error at the reference
mkdir -p "$tmp/rc"; cp $d/rudder-cli/v0.1/*.yaml "$tmp/rc/"
sed -i 's|#/properties/app_props/position|#/properties/app_props/positon|' "$tmp/rc/tp.yaml"
"$sluice" import rudderstack "$tmp/rc" -o "$tmp/rc.yaml" 2>"$tmp/e4"
[[ $? == 2 ]] || bad "rudder-cli: a dangling reference must fail the import"
grep -q 'tp.yaml:[0-9]*:[0-9]*: error: property reference #/properties/app_props/positon: no such property' "$tmp/e4" ||
  { bad "rudder-cli: dangling reference message"; cat "$tmp/e4"; }

# Versions: the Segment plan keeps both versions of Order Completed, chosen as Segment does.
grep -q 'default_version\|versions:' "$tmp/segment.yaml" || bad "segment: versions not kept"
grep -q 'deprecated: "deprecated in Segment on 2026-03-01' "$tmp/segment.yaml" ||
  bad "segment: deprecatedAt not carried"

# Lossy: every part not carried over is listed with file:line:col; exit 1; the plan still lints.
"$sluice" import segment $d/lossy/segment-rules.json -o "$tmp/lossy.yaml" 2>"$tmp/lossy.err"
rc=$?
[[ $rc == 1 ]] || bad "lossy: exit $rc, want 1"
for want in ':15:15: warning: not carried over: format "phone"' \
            ':19:15: warning: not carried over: pattern "^[^]{2}$"' \
            ':34:3: warning: not carried over: PAGE rule 1 has no "key"' \
            ':51:5: warning: not carried over: rule type "ALIAS"' \
            'note: "deprecatedReason" is not a JSON Schema keyword' \
            '4 not carried over'; do
  grep -qF -- "$want" "$tmp/lossy.err" || bad "lossy: missing message: $want"
done
"$sluice" lint "$tmp/lossy.yaml" >/dev/null || bad "lossy: the plan does not lint"

# Errors: not a plan of that format, malformed JSON, an Iglu self that contradicts its path.
echo '{"hello": 1}' >"$tmp/notaplan.json"
"$sluice" import rudderstack "$tmp/notaplan.json" -o "$tmp/x.yaml" 2>"$tmp/e1" && bad "not-a-plan accepted"
grep -q 'notaplan.json:1:1: error: not a RudderStack tracking plan' "$tmp/e1" || { bad "not-a-plan message"; cat "$tmp/e1"; }
[[ -e "$tmp/x.yaml" ]] && bad "a plan was written despite errors"
printf '[{"type": "TRACK", "key": "A",\n  "jsonSchema": {]\n' >"$tmp/broken.json"
"$sluice" import segment "$tmp/broken.json" 2>"$tmp/e2" >/dev/null
[[ $? == 2 ]] || bad "malformed JSON: exit code"
grep -q 'broken.json:2:' "$tmp/e2" || { bad "malformed JSON: no position"; cat "$tmp/e2"; }
mkdir -p "$tmp/ig/schemas/com.acme/a/jsonschema"
echo '{"self": {"vendor": "com.acme", "name": "b", "format": "jsonschema", "version": "1-0-0"}, "type": "object"}' \
  >"$tmp/ig/schemas/com.acme/a/jsonschema/1-0-0"
"$sluice" import iglu "$tmp/ig" 2>"$tmp/e3" >/dev/null
grep -q 'self says com.acme/b/jsonschema/1-0-0 but the file is' "$tmp/e3" || { bad "iglu path check"; cat "$tmp/e3"; }
"$sluice" import bogus x 2>/dev/null; [[ $? == 2 ]] || bad "unknown format: exit code"

[[ $fail == 0 ]] || exit 1
[[ $ajv == 1 ]] || { echo "SKIP: verdicts not compared with Ajv"; exit 77; }
echo "import_roundtrip: all passed"
