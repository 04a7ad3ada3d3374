// lib.js - what the Ajv parity test and the Ajv benchmark share: Ajv set up the way the parity
// contract says (JSON Schema 2020-12, strict: false, allErrors, ajv-formats for the formats plans
// use), the compiled plan (every schema of `sluice compile --emit json-schema`), the dispatch rule
// for a Segment call, and an input splitter that reads events the way `sluice check` does.
'use strict';

const Ajv2020 = require('ajv/dist/2020');
const addFormats = require('ajv-formats');

const FORMATS = ['date-time', 'date', 'time', 'email', 'uri', 'uuid', 'ipv4', 'ipv6', 'hostname'];
const CALLS = new Set(['track', 'identify', 'page', 'screen', 'group', 'alias']);
const has = (o, k) => o != null && Object.prototype.hasOwnProperty.call(o, k);

function newAjv() {
  const ajv = new Ajv2020({ strict: false, allErrors: true, logger: false });
  addFormats(ajv, FORMATS);
  return ajv;
}

// Compiles every schema of an emitted plan. Returns {name, version, reject, events, pages, calls}
// with validate functions in place of schemas.
function compilePlan(emitted, ajv = newAjv()) {
  const compileMap = (m) => {
    const out = Object.create(null);
    for (const [k, s] of Object.entries(m || {})) out[k] = ajv.compile(s);
    return out;
  };
  const calls = compileMap(emitted.calls);
  for (const c of ['track', 'identify', 'page', 'group', 'alias'])
    if (!calls[c]) throw new Error(`emitted schemas have no calls.${c}`);
  if (emitted.unplanned_events !== 'reject' && emitted.unplanned_events !== 'allow')
    throw new Error(`emitted schemas: unplanned_events is ${JSON.stringify(emitted.unplanned_events)}`);
  return {
    name: emitted.plan,
    version: emitted.version,
    reject: emitted.unplanned_events === 'reject',
    events: compileMap(emitted.events),
    pages: compileMap(emitted.pages),
    calls,
  };
}

const err = (keyword, instancePath, message) => ({ instancePath, keyword, message, schemaPath: '(dispatch)' });

// The dispatch rule: returns {valid, errors, schema} for one event (errors as Ajv reports them,
// plus dispatch errors with schemaPath "(dispatch)").
function validateEvent(plan, ev) {
  if (ev === null || typeof ev !== 'object' || Array.isArray(ev))
    return { valid: false, schema: null, errors: [err('type', '', 'an event must be a JSON object')] };
  const type = ev.type;
  if (typeof type !== 'string')
    return { valid: false, schema: null, errors: [err('required', '/type', '"type" must be a string')] };
  if (!CALLS.has(type))
    return { valid: false, schema: null, errors: [err('enum', '/type', `unknown call type "${type}"`)] };
  let fn;
  let schema;
  const pre = [];
  if (type === 'track') {
    const name = ev.event;
    if (typeof name === 'string' && name !== '' && has(plan.events, name)) {
      fn = plan.events[name];
      schema = `events[${JSON.stringify(name)}]`;
    } else {
      fn = plan.calls.track;
      schema = 'calls.track';
      if (typeof name === 'string' && name !== '' && plan.reject)
        pre.push(err('events', '/event', `event "${name}" is not in the tracking plan`));
    }
  } else if (type === 'page' || type === 'screen') {
    const name = ev.name;
    if (typeof name === 'string' && has(plan.pages, name)) {
      fn = plan.pages[name];
      schema = `pages[${JSON.stringify(name)}]`;
    } else {
      fn = plan.calls.page;
      schema = 'calls.page';
    }
  } else {
    fn = plan.calls[type];
    schema = `calls.${type}`;
  }
  const ok = fn(ev);
  const errors = pre.concat(ok ? [] : fn.errors || []);
  return { valid: errors.length === 0, schema, errors };
}

// Label used by `sluice check` for an event (track: the event name, else the call type).
function labelOf(ev) {
  if (ev === null || typeof ev !== 'object' || Array.isArray(ev)) return '(no type)';
  if (ev.type === 'track' && typeof ev.event === 'string') return ev.event;
  if (typeof ev.type === 'string') return ev.type;
  return '(no type)';
}

// Finds the end of the JSON value starting at text[p] (a non-space): brackets and strings are
// matched; a scalar ends at whitespace or a delimiter. Returns the index just past it (or
// text.length when the value is unterminated).
function valueEnd(text, p) {
  const n = text.length;
  const c = text.charCodeAt(p);
  if (c === 0x7b || c === 0x5b) { // { [
    let depth = 0;
    for (let i = p; i < n; i++) {
      const ch = text.charCodeAt(i);
      if (ch === 0x22) {
        for (i++; i < n; i++) {
          const d = text.charCodeAt(i);
          if (d === 0x5c) i++;
          else if (d === 0x22) break;
        }
      } else if (ch === 0x7b || ch === 0x5b) depth++;
      else if (ch === 0x7d || ch === 0x5d) {
        if (--depth === 0) return i + 1;
      }
    }
    return n;
  }
  if (c === 0x22) {
    for (let i = p + 1; i < n; i++) {
      const d = text.charCodeAt(i);
      if (d === 0x5c) i++;
      else if (d === 0x22) return i + 1;
    }
    return n;
  }
  let i = p;
  while (i < n && !/[\s,\]}{[]/.test(text[i])) i++;
  return Math.max(i, p + 1);
}

function mergeBatchLevel(item, batch, key) {
  const outer = batch[key];
  if (!outer || typeof outer !== 'object' || Array.isArray(outer)) return;
  if (!item || typeof item !== 'object' || Array.isArray(item)) return;
  if (!has(item, key)) {
    item[key] = JSON.parse(JSON.stringify(outer));
    return;
  }
  const inner = item[key];
  if (!inner || typeof inner !== 'object' || Array.isArray(inner)) return;
  for (const k of Object.keys(outer)) if (!has(inner, k)) inner[k] = JSON.parse(JSON.stringify(outer[k]));
}

// Splits one input the way `sluice check` does: a stream of JSON values (NDJSON, arrays of
// events, Segment batch bodies with batch-level context/integrations merged into each item).
// Calls onEvent(ev, malformed) per event; a malformed value yields onEvent(null, message) and
// reading resumes at the line after the point where parsing failed.
function splitEvents(text, name, onEvent) {
  const n = text.length;
  let p = 0;
  while (p < n) {
    while (p < n && (text[p] === ' ' || text[p] === '\t' || text[p] === '\r' || text[p] === '\n')) p++;
    if (p >= n) break;
    const end = valueEnd(text, p);
    let v;
    try {
      v = JSON.parse(text.slice(p, end));
    } catch (e) {
      const m = /position (\d+)/.exec(e.message);
      const at = p + (m ? parseInt(m[1], 10) : 0);
      const line = text.slice(0, at).split('\n').length;
      onEvent(null, `${name}:${line}: malformed JSON (${e.message})`);
      const nl = text.indexOf('\n', at);
      p = nl < 0 ? n : nl;
      continue;
    }
    p = end;
    if (Array.isArray(v)) {
      for (const e of v) onEvent(e, null);
    } else if (v && typeof v === 'object' && Array.isArray(v.batch)) {
      for (const e of v.batch) {
        mergeBatchLevel(e, v, 'context');
        mergeBatchLevel(e, v, 'integrations');
        onEvent(e, null);
      }
    } else {
      onEvent(v, null);
    }
  }
}

function formatAjvErrors(errors) {
  return (errors || []).map((e) => `${e.instancePath || '/'}  ${e.keyword}: ${e.message}` +
    (e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : '') + `  [${e.schemaPath}]`);
}

module.exports = { FORMATS, newAjv, compilePlan, validateEvent, labelOf, splitEvents, formatAjvErrors };
