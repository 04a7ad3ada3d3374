#!/usr/bin/env node
// parity.js - do `sluice check` and Ajv agree, event by event?
//
//   node tests/ajv/parity.js --sluice BIN --plan PLAN [--label TEXT] FILE...
//       Runs `sluice compile PLAN --emit json-schema`, compiles every schema with Ajv (2020-12,
//       strict: false, allErrors, ajv-formats), validates every event of FILE... with the dispatch
//       rule (lib.js), runs `sluice check --plan PLAN --format json FILE...` and compares verdicts
//       by event index. Exit 0 = full agreement, 1 = any disagreement (each printed with the event,
//       both verdicts and both error lists), 2 = could not run.
//   node tests/ajv/parity.js --sluice BIN --plan PLAN --probes PROBES.json
//       Format edge cases: PROBES.json is [{format, value, rfc: true|false, note}]; each becomes a
//       "Format Probe" track event (the plan needs that event with one property per format, named
//       after the format with '-' -> '_'). Prints where sluice, Ajv and a strict RFC reading
//       differ. Informational: exit 0 unless the tools could not run (2).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const lib = require('./lib');

function die(msg) {
  process.stderr.write(`parity: ${msg}\n`);
  process.exit(2);
}

function args(argv) {
  const a = { files: [] };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--sluice') a.sluice = argv[++i];
    else if (k === '--plan') a.plan = argv[++i];
    else if (k === '--label') a.label = argv[++i];
    else if (k === '--probes') a.probes = argv[++i];
    else if (k.startsWith('--')) die(`unknown option ${k}`);
    else a.files.push(k);
  }
  if (!a.sluice || !a.plan) die('usage: parity.js --sluice BIN --plan PLAN (FILE... | --probes FILE)');
  return a;
}

function run(bin, argv, okCodes) {
  const r = spawnSync(bin, argv, { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.error) die(`${bin} ${argv.join(' ')}: ${r.error.message}`);
  if (!okCodes.includes(r.status))
    die(`\`${path.basename(bin)} ${argv.join(' ')}\` exited ${r.status}:\n${(r.stderr || '').slice(0, 2000)}${(r.stdout || '').slice(0, 500)}`);
  return r.stdout;
}

function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (e) {
    die(`${what} is not JSON (${e.message}):\n${text.slice(0, 500)}`);
  }
}

// Sluice's verdicts: index -> {errors: [...], warnings: [...]}, plus the summary.
function sluiceCheck(a, files) {
  const out = run(a.sluice, ['check', '--plan', a.plan, '--format', 'json', ...files], [0, 1]);
  const rep = parseJson(out, '`sluice check --format json` output');
  if (!rep.summary || !Array.isArray(rep.violations)) die('`sluice check --format json`: no summary/violations');
  const byIndex = new Map();
  for (const v of rep.violations) {
    if (!byIndex.has(v.index)) byIndex.set(v.index, { errors: [], warnings: [] });
    const isWarn = v.severity === 'warning' || v.kind === 'Deprecated-Event';
    byIndex.get(v.index)[isWarn ? 'warnings' : 'errors'].push(v);
  }
  return { summary: rep.summary, byIndex };
}

function ajvVerdicts(plan, files) {
  const res = [];
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    lib.splitEvents(text, f, (ev, malformed) => {
      if (malformed) res.push({ ev: null, raw: malformed, valid: false, schema: null, errors: [{ instancePath: '', keyword: 'json', message: malformed, schemaPath: '(parse)' }] });
      else res.push({ ev, ...lib.validateEvent(plan, ev) });
    });
  }
  return res;
}

const fmtSluice = (list) => list.map((v) => `${v.path || '/'}  ${v.kind} (${v.keyword}): ${v.message}`);

function compileEmitted(a) {
  const emitted = parseJson(run(a.sluice, ['compile', a.plan, '--emit', 'json-schema'], [0]),
    '`sluice compile --emit json-schema` output');
  try {
    return { emitted, plan: lib.compilePlan(emitted) };
  } catch (e) {
    die(`Ajv cannot compile the emitted schemas: ${e.message}`);
  }
}

function parity(a) {
  const { emitted, plan } = compileEmitted(a);
  const label = a.label || `${path.basename(a.plan)} [${a.files.map((f) => path.basename(f)).join(', ')}]`;
  const ajv = ajvVerdicts(plan, a.files);
  const sl = sluiceCheck(a, a.files);
  let bad = 0;
  const n = Math.max(ajv.length, sl.summary.events);
  if (ajv.length !== sl.summary.events)
    console.log(`DISAGREE ${label}: event count: sluice ${sl.summary.events}, Ajv ${ajv.length} (input splitting differs)`);
  let ajvInvalid = 0;
  for (let i = 0; i < n; i++) {
    const x = ajv[i];
    const s = sl.byIndex.get(i) || { errors: [], warnings: [] };
    const sValid = s.errors.length === 0;
    if (x && !x.valid) ajvInvalid++;
    if (x && x.valid === sValid) continue;
    bad++;
    if (bad > 25) continue;
    console.log(`\nDISAGREE ${label}: event #${i}${x ? ` (${x.schema || 'no schema'})` : ''}`);
    console.log(`  event:  ${x ? (x.ev === null ? x.raw : JSON.stringify(x.ev)) : '(Ajv saw no such event)'}`);
    console.log(`  sluice: ${sValid ? 'valid' : 'INVALID'}`);
    for (const l of fmtSluice(s.errors.concat(s.warnings))) console.log(`    ${l}`);
    console.log(`  Ajv:    ${x ? (x.valid ? 'valid' : 'INVALID') : '-'}`);
    if (x) for (const l of lib.formatAjvErrors(x.errors)) console.log(`    ${l}`);
  }
  if (bad > 25) console.log(`... and ${bad - 25} more disagreements`);
  const count = bad + (ajv.length !== sl.summary.events ? 1 : 0);
  console.log(`${count ? 'FAIL' : 'ok  '} ${label}: plan ${emitted.plan} ${emitted.version}, ${ajv.length} events, ` +
    `Ajv invalid ${ajvInvalid}, sluice invalid ${sl.summary.invalid}, disagreements ${bad}`);
  return count ? 1 : 0;
}

function probes(a) {
  const { plan } = compileEmitted(a);
  if (!plan.events['Format Probe']) die(`${a.plan} has no "Format Probe" event`);
  const list = parseJson(fs.readFileSync(a.probes, 'utf8'), a.probes);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-probes-'));
  const file = path.join(tmp, 'probes.ndjson');
  const events = list.map((p, i) => ({
    type: 'track', event: 'Format Probe', userId: `probe-${i}`,
    properties: { [p.format.replace(/-/g, '_')]: p.value },
  }));
  fs.writeFileSync(file, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const sl = sluiceCheck(a, [file]);
  fs.rmSync(tmp, { recursive: true, force: true });
  const rows = [];
  const tally = { agree: 0, sluiceVsRfc: 0, ajvVsRfc: 0, sluiceVsAjv: 0 };
  events.forEach((ev, i) => {
    const p = list[i];
    const ajvOk = lib.validateEvent(plan, ev).valid;
    const slOk = !(sl.byIndex.get(i) && sl.byIndex.get(i).errors.length);
    if (slOk !== ajvOk) tally.sluiceVsAjv++;
    if (slOk !== p.rfc) tally.sluiceVsRfc++;
    if (ajvOk !== p.rfc) tally.ajvVsRfc++;
    if (slOk === ajvOk && ajvOk === p.rfc) { tally.agree++; return; }
    const v = (b) => (b ? 'valid  ' : 'invalid');
    rows.push(`  ${p.format.padEnd(9)} ${JSON.stringify(p.value).padEnd(40)} RFC ${v(p.rfc)}  sluice ${v(slOk)}  Ajv ${v(ajvOk)}` +
      `  ${slOk === ajvOk ? '' : '<- sluice != Ajv  '}${p.note || ''}`);
  });
  console.log(`format probes (${list.length}, ${a.probes}): all three agree on ${tally.agree}; ` +
    `sluice != Ajv: ${tally.sluiceVsAjv}, sluice != RFC: ${tally.sluiceVsRfc}, Ajv != RFC: ${tally.ajvVsRfc}`);
  if (rows.length) {
    console.log('  format    value                                    verdicts');
    for (const r of rows) console.log(r);
  }
  return 0;
}

const a = args(process.argv);
process.exit(a.probes ? probes(a) : parity(a));
