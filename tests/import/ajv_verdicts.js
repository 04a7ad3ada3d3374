// ajv_verdicts.js - what the source system says about each event, computed with Ajv on the
// ORIGINAL schemas (not on anything sluice wrote): the reference tests/import_roundtrip.sh holds
// `sluice import` + `sluice check` to.
//
//   node tests/import/ajv_verdicts.js FORMAT EVENTS.ndjson SOURCE...
//
// FORMAT: segment | rudderstack | iglu | jsonschema. Prints one line per event: "1" valid,
// "0" invalid. Each schema is compiled by the Ajv class of its own $schema (ajv-draft-04 for
// draft-04 and Iglu, Ajv for draft-06/07, Ajv2019, Ajv2020), strict: false, with ajv-formats.
// Selection rules follow the source system:
//   segment     track: rule by event name and context.protocols.event_version (default 1);
//               identify/group: their rule; page/screen: the rule with that name; COMMON for
//               all; an event without a rule is invalid (unplanned).
//   rudderstack the same without versions.
//   jsonschema  track: the schema whose title (else file name) is the event, on .properties.
//   iglu        {schema, data}: the schema with that exact iglu: key, on .data; unknown = invalid.
'use strict';
const fs = require('fs');
const path = require('path');
const mods = path.join(__dirname, '..', 'ajv', 'node_modules');
const req = (m) => require(path.join(mods, m));
const addFormats = req('ajv-formats');

const [format, eventsFile, ...sources] = process.argv.slice(2);
const opts = { strict: false, logger: false, allErrors: false };
const classes = {};
function ajvFor(uri) {
  let k = 'draft7';
  if (/draft-04|iglucentral/.test(uri || '')) k = 'draft4';
  else if (/draft-06/.test(uri || '')) k = 'draft6';
  else if (/2019-09/.test(uri || '')) k = '2019';
  else if (/2020-12/.test(uri || '')) k = '2020';
  if (!classes[k]) {
    let a;
    if (k === 'draft4') a = new (req('ajv-draft-04'))(opts);
    else if (k === '2019') a = new (req('ajv/dist/2019'))(opts);
    else if (k === '2020') a = new (req('ajv/dist/2020'))(opts);
    else {
      a = new (req('ajv'))(opts);
      if (k === 'draft6') a.addMetaSchema(req('ajv/dist/refs/json-schema-draft-06.json'));
    }
    addFormats(a);
    classes[k] = a;
  }
  return classes[k];
}
// Ajv 8 throws on a string `id` in a draft-06+ schema ("NOT SUPPORTED: keyword id"), which
// Segment puts on property nodes; there it is no keyword and means nothing, so it goes.
function dropIds(s) {
  if (Array.isArray(s)) s.forEach(dropIds);
  else if (s && typeof s === 'object') {
    if (typeof s.id === 'string') delete s.id;
    Object.values(s).forEach(dropIds);
  }
}
function compile(schema, dflt) {
  const s = JSON.parse(JSON.stringify(schema));
  const uri = s.$schema || dflt;
  if (!/draft-04|iglucentral/.test(uri || '')) dropIds(s);
  if (/iglucentral/.test(uri || '')) delete s.$schema; // ajv-draft-04 reads it as draft-04
  delete s.self;
  return ajvFor(uri).compile(s);
}
function files(p, test) {
  if (!fs.statSync(p).isDirectory()) return [p];
  return fs.readdirSync(p).sort().flatMap((e) => {
    const q = path.join(p, e);
    return fs.statSync(q).isDirectory() ? files(q, test) : test(e) ? [q] : [];
  });
}

const track = {}; // name -> version -> fn
const calls = {}; // identify / group -> fn
const pages = {};
const common = [];
const iglu = {};
function addTrack(name, v, fn) { (track[name] = track[name] || {})[v] = fn; }

for (const src of sources) {
  if (format === 'segment') {
    const doc = JSON.parse(fs.readFileSync(src, 'utf8'));
    let rules = Array.isArray(doc) ? doc : doc.data ? doc.data.rules : doc.rules;
    if (rules && !Array.isArray(rules)) { // legacy Config API
      if (rules.global) common.push(compile(rules.global, 'http://json-schema.org/draft-04/schema#'));
      for (const c of ['identify', 'group'])
        if (rules[c]) calls[c] = compile(rules[c], 'http://json-schema.org/draft-04/schema#');
      for (const e of rules.events || [])
        addTrack(e.name, e.version || 1, compile(e.rules, 'http://json-schema.org/draft-04/schema#'));
      continue;
    }
    for (const r of rules) {
      const fn = compile(r.jsonSchema || {}, 'http://json-schema.org/draft-07/schema#');
      if (r.type === 'TRACK') addTrack(r.key, r.version || 1, fn);
      else if (r.type === 'IDENTIFY') calls.identify = fn;
      else if (r.type === 'GROUP') calls.group = fn;
      else if (r.type === 'PAGE' || r.type === 'SCREEN') pages[r.key] = fn;
      else if (r.type === 'COMMON') common.push(fn);
    }
  } else if (format === 'rudderstack') {
    const doc = JSON.parse(fs.readFileSync(src, 'utf8'));
    for (const e of doc.events || (doc.rules || {}).events || []) {
      const fn = compile(e.rules || {}, 'http://json-schema.org/draft-07/schema#');
      const t = e.eventType || 'track';
      if (t === 'track') addTrack(e.name, 1, fn);
      else if (t === 'identify' || t === 'group') calls[t] = fn;
      else if (t === 'page' || t === 'screen') pages[e.name] = fn;
    }
  } else if (format === 'jsonschema') {
    for (const f of files(src, (n) => n.endsWith('.json'))) {
      const s = JSON.parse(fs.readFileSync(f, 'utf8'));
      addTrack(s.title || path.basename(f, '.json'), 1, compile(s, 'http://json-schema.org/draft-07/schema#'));
    }
  } else if (format === 'iglu') {
    for (const f of files(src, (n) => /^\d+-\d+-\d+$/.test(n))) {
      const s = JSON.parse(fs.readFileSync(f, 'utf8'));
      const k = `iglu:${s.self.vendor}/${s.self.name}/${s.self.format}/${s.self.version}`;
      iglu[k] = compile(s, 'http://json-schema.org/draft-04/schema#');
    }
  } else {
    throw new Error('unknown format ' + format);
  }
}

function verdict(ev) {
  if (format === 'iglu') {
    const fn = iglu[ev.schema];
    return !!fn && fn(ev.data);
  }
  if (format === 'jsonschema') {
    const fn = track[ev.event] && track[ev.event][1];
    return !!fn && fn(ev.properties || {});
  }
  if (!common.every((fn) => fn(ev))) return false;
  if (ev.type === 'track') {
    const vs = track[ev.event];
    if (!vs) return false; // unplanned
    const v = (((ev.context || {}).protocols || {}).event_version) || 1;
    return !!vs[v] && vs[v](ev);
  }
  if (ev.type === 'identify' || ev.type === 'group') return !calls[ev.type] || calls[ev.type](ev);
  if (ev.type === 'page' || ev.type === 'screen') return !pages[ev.name] || pages[ev.name](ev);
  return true;
}

const lines = fs.readFileSync(eventsFile, 'utf8').split('\n').filter((l) => l.trim());
process.stdout.write(lines.map((l) => (verdict(JSON.parse(l)) ? '1' : '0')).join('\n') + '\n');
