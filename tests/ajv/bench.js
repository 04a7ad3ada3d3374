#!/usr/bin/env node
// bench.js - the Ajv side of loadtest/bench_check.sh: does what
// `sluice check --plan PLAN --format json FILE` does, with Ajv.
//
//   node tests/ajv/bench.js SCHEMAS.json FILE.ndjson > report.json
//
// SCHEMAS.json is the output of `sluice compile PLAN --emit json-schema` (compiling it is not
// timed by the caller's clock any differently than sluice's own plan load: both are included).
// Reads FILE, splits lines, JSON.parse each, dispatches (lib.js), validates with allErrors,
// collects every violation and prints {"summary":{...},"violations":[...]} like sluice does.
'use strict';

const fs = require('fs');
const lib = require('./lib');

const [schemasPath, file] = process.argv.slice(2);
if (!schemasPath || !file) {
  process.stderr.write('usage: bench.js SCHEMAS.json FILE.ndjson\n');
  process.exit(2);
}
const plan = lib.compilePlan(JSON.parse(fs.readFileSync(schemasPath, 'utf8')));
const text = fs.readFileSync(file, 'utf8');

let events = 0, valid = 0, invalid = 0, violations = 0;
const out = [];
let start = 0;
const n = text.length;
while (start < n) {
  let nl = text.indexOf('\n', start);
  if (nl < 0) nl = n;
  const line = text.slice(start, nl);
  start = nl + 1;
  if (line.trim() === '') continue;
  const index = events++;
  let ev;
  let r;
  try {
    ev = JSON.parse(line);
    r = lib.validateEvent(plan, ev);
  } catch (e) {
    ev = null;
    r = { valid: false, errors: [{ instancePath: '', keyword: 'json', message: 'malformed JSON' }] };
  }
  if (r.valid) {
    valid++;
    continue;
  }
  invalid++;
  const label = lib.labelOf(ev);
  for (const e of r.errors) {
    violations++;
    out.push(JSON.stringify({ index, event: label, kind: e.keyword, path: e.instancePath, keyword: e.keyword, message: e.message }));
  }
}
process.stdout.write(`{"summary":{"events":${events},"valid":${valid},"invalid":${invalid},"violations":${violations}},\n"violations":[\n`);
for (let i = 0; i < out.length; i += 10000) process.stdout.write(out.slice(i, i + 10000).join(',\n') + (i + 10000 < out.length ? ',\n' : ''));
process.stdout.write(']}\n');
process.exitCode = invalid ? 1 : 0;
