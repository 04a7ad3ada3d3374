// suite.js - Ajv 8 over the JSON-Schema-Test-Suite's required files of one draft, the score
// tests/conformance_dialects.sh holds `sluice schema-test --dialect D` to, in the same run.
//
//   node tests/ajv/suite.js DRAFT REMOTES_DIR FILE...     (DRAFT: draft4 draft6 draft7
//                                                          draft2019-09 draft2020-12)
//
// Ajv's class for the draft (ajv-draft-04 for draft4, Ajv with the draft-06 meta-schema for
// draft6, Ajv for draft7, Ajv2019, Ajv2020), strict: false, formats as annotations (as the
// required suite expects), and the suite's remotes/ added under http://localhost:1234/ as the
// suite asks. A schema Ajv cannot compile fails all its cases. Prints "<file>: N passed,
// N failed" per file and "N passed, N failed" last; exit 0.
'use strict';

const path = require('path');
const fs = require('fs');

const [draft, remotes, ...files] = process.argv.slice(2);

function make() {
  const opts = { strict: false, logger: false, validateFormats: false };
  if (draft === 'draft4') return new (require('ajv-draft-04'))(opts);
  if (draft === 'draft2019-09') return new (require('ajv/dist/2019'))(opts);
  if (draft === 'draft2020-12') return new (require('ajv/dist/2020'))(opts);
  const ajv = new (require('ajv'))(opts);
  if (draft === 'draft6') ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json'));
  return ajv;
}

function walk(dir, rel, out) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, rel + e.name + '/', out);
    else if (e.name.endsWith('.json')) out.push([p, rel + e.name]);
  }
  return out;
}
const remoteDocs = remotes && fs.existsSync(remotes) ? walk(remotes, '', []) : [];

function withRemotes() {
  const ajv = make();
  for (const [p, rel] of remoteDocs) {
    try {
      ajv.addSchema(JSON.parse(fs.readFileSync(p, 'utf8')), 'http://localhost:1234/' + rel);
    } catch (e) { /* a remote of another draft: not for this class */ }
  }
  return ajv;
}

let passed = 0;
let failed = 0;
for (const file of files) {
  const groups = JSON.parse(fs.readFileSync(file, 'utf8'));
  let fp = 0;
  let ff = 0;
  for (const g of groups) {
    let validate = null;
    try {
      validate = withRemotes().compile(g.schema);
    } catch (e) {
      validate = null;
    }
    for (const t of g.tests) {
      let ok = false;
      try {
        ok = validate !== null && validate(t.data) === t.valid;
      } catch (e) {
        ok = false;
      }
      if (ok) fp++;
      else ff++;
      if (!ok && process.env.VERBOSE) console.log(`  FAIL ${g.description} / ${t.description}`);
    }
  }
  console.log(`${path.basename(file)}: ${fp} passed, ${ff} failed`);
  passed += fp;
  failed += ff;
}
console.log(`${passed} passed, ${failed} failed`);
