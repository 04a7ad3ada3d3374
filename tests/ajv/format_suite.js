// format_suite.js - Ajv 8 + ajv-formats (every format it has, full mode) over JSON-Schema-Test-
// Suite files, the score tests/format_suite.sh holds `sluice schema-test --assert-formats` to.
//
//   node tests/ajv/format_suite.js FILE...      (files of <draft>/optional/format/)
//
// The draft comes from the file's folder (draft2020-12 -> Ajv2020, draft2019-09 -> Ajv2019, else
// Ajv's draft-07 class; the schemas are format-only, so `$schema` is dropped). strict: false, so
// a format Ajv does not know (idn-hostname, idn-email, iri, iri-reference) is ignored, as Ajv
// users get it. A schema Ajv cannot compile fails all its cases. Prints "<file>: N passed,
// N failed" per file and "N passed, N failed" last; exit 0.
'use strict';

const path = require('path');
const fs = require('fs');
const Ajv = require('ajv');
const Ajv2019 = require('ajv/dist/2019');
const Ajv2020 = require('ajv/dist/2020');
const addFormats = require('ajv-formats');

function ajvFor(file) {
  const dir = path.resolve(file);
  const Cls = dir.includes('draft2020-12') ? Ajv2020 : dir.includes('draft2019-09') ? Ajv2019 : Ajv;
  const ajv = new Cls({ strict: false, logger: false });
  addFormats(ajv);
  return ajv;
}

let passed = 0;
let failed = 0;
for (const file of process.argv.slice(2)) {
  const groups = JSON.parse(fs.readFileSync(file, 'utf8'));
  const ajv = ajvFor(file);
  let fp = 0;
  let ff = 0;
  for (const g of groups) {
    let validate = null;
    const schema = typeof g.schema === 'object' && g.schema !== null ? { ...g.schema } : g.schema;
    if (schema && typeof schema === 'object') delete schema.$schema;
    try {
      validate = ajv.compile(schema);
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
