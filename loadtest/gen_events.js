#!/usr/bin/env node
// gen_events.js - realistic Segment events for a tracking plan, with a fraction of mutated ones.
//
// Reads the schemas that `sluice compile PLAN --emit json-schema` prints (or runs it), builds
// realistic track/page/screen/identify/group/alias calls whose properties and traits follow the
// planned schemas (types, enums, ranges, lengths, patterns, formats, arrays, $refs, examples), and
// mutates a fraction of them in ways whose JSON Schema verdict is unambiguous: a dropped required
// property, a wrong type, an enum typo, a negative amount, an extra property, a bad format, an
// unplanned event name, a missing userId/anonymousId, a bad timestamp, an unknown call type.
// A mutation only targets something the schema constrains, so mutated events are (almost always)
// invalid; which ones are is decided by the validators, never by this script.
//
// usage: node loadtest/gen_events.js (--schemas FILE | --sluice BIN --plan PLAN)
//          [--count N] [--invalid FRACTION] [--seed N] [--out FILE] [--no-pad]
// Output: NDJSON, one event per line (stdout or --out). Deterministic for a given seed and plan.
'use strict';

const fs = require('fs');
const { execFileSync } = require('child_process');

// ---- arguments -------------------------------------------------------------------------------

function parseArgs(argv) {
  const a = { count: 1000, invalid: 0.1, seed: 1, pad: true };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--schemas') a.schemas = v();
    else if (k === '--sluice') a.sluice = v();
    else if (k === '--plan') a.plan = v();
    else if (k === '--count') a.count = parseInt(v(), 10);
    else if (k === '--invalid') a.invalid = parseFloat(v());
    else if (k === '--seed') a.seed = parseInt(v(), 10);
    else if (k === '--out') a.out = v();
    else if (k === '--no-pad') a.pad = false;
    else if (k === '-h' || k === '--help') {
      process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 17)
        .map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${k}`);
  }
  if (!a.schemas && !(a.sluice && a.plan)) throw new Error('need --schemas FILE or --sluice BIN --plan PLAN');
  return a;
}

// ---- deterministic randomness ------------------------------------------------------------------

function mulberry32(seed) {
  let s = seed >>> 0;
  return function () {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
let rnd = mulberry32(1);
const chance = (p) => rnd() < p;
const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
const pick = (arr) => arr[Math.floor(rnd() * arr.length)];
const hex = (n) => { let s = ''; for (let i = 0; i < n; i++) s += '0123456789abcdef'[int(0, 15)]; return s; };
const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-${pick(['8', '9', 'a', 'b'])}${hex(3)}-${hex(12)}`;
const pad2 = (n) => String(n).padStart(2, '0');

// ---- realistic vocabulary ----------------------------------------------------------------------

const WORDS = ['blue', 'linen', 'shirt', 'summer', 'running', 'shoes', 'leather', 'wallet', 'coffee',
  'grinder', 'wool', 'scarf', 'desk', 'lamp', 'garden', 'hose', 'travel', 'mug', 'kids', 'jacket'];
const FIRST = ['Ada', 'Grace', 'Linus', 'Margaret', 'Alan', 'Barbara', 'Ken', 'Frances', 'Dennis', 'Radia'];
const LAST = ['Lovelace', 'Hopper', 'Torvalds', 'Hamilton', 'Turing', 'Liskov', 'Thompson', 'Allen'];
const DOMAINS = ['example.com', 'shop.example.org', 'mail.example.net', 'acme.io'];
const CATEGORIES = ['Apparel', 'Shoes', 'Home & Garden', 'Electronics', 'Kitchen', 'Toys'];
const UAS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
];
const words = (n) => Array.from({ length: n }, () => pick(WORDS)).join(' ');
const isoTime = (ms) => new Date(ms).toISOString();
const BASE_MS = Date.UTC(2024, 4, 1);
const someTime = () => isoTime(BASE_MS + int(0, 60 * 86400) * 1000 + int(0, 999));

// ---- string formats ------------------------------------------------------------------------------

function formatValue(fmt, name) {
  switch (fmt) {
    case 'date-time': return someTime();
    case 'date': return someTime().slice(0, 10);
    case 'time': return `${pad2(int(0, 23))}:${pad2(int(0, 59))}:${pad2(int(0, 59))}Z`;
    case 'email': return `${pick(FIRST).toLowerCase()}.${pick(LAST).toLowerCase()}${int(1, 999)}@${pick(DOMAINS)}`;
    case 'uri': case 'uri-reference': case 'iri': case 'iri-reference':
      return `https://${pick(DOMAINS)}/${/image/.test(name || '') ? 'img' : 'p'}/${pick(WORDS)}-${int(1, 9999)}`;
    case 'uuid': return uuid();
    case 'ipv4': return `${int(1, 223)}.${int(0, 255)}.${int(0, 255)}.${int(1, 254)}`;
    case 'ipv6': return `2001:db8:${hex(4)}:${hex(4)}::${hex(3)}`;
    case 'hostname': case 'idn-hostname': return `${pick(WORDS)}.${pick(DOMAINS)}`;
    default: return null;
  }
}

// Values that are invalid for a format under any reasonable reading of its RFC.
const BAD_FORMAT = {
  'date-time': ['yesterday', '2024-13-45T10:00:00Z', '2024-05-01', '05/01/2024 10:00'],
  date: ['2024-02-30', '2024/05/01', 'May 1st', '20240501'],
  time: ['25:61:00Z', 'noon', '10h30'],
  email: ['not-an-email', 'ada.lovelace@', '@example.com', 'ada lovelace@example.com'],
  uri: ['not a uri', '//no-scheme', 'example.com/path with spaces'],
  uuid: ['1234', 'g0000000-0000-4000-8000-000000000000', '0f8fad5b-d9cb-469f-a165'],
  ipv4: ['256.1.1.1', '10.0.0', '1.2.3.4.5', 'localhost'],
  ipv6: ['2001:db8::g1', '1:2:3:4:5:6:7:8:9', ':::1'],
  hostname: ['-bad-.example.com', 'under_score..example', 'a'.repeat(64) + '.example.com'],
};

// ---- a tiny regex-to-string generator (enough for plan patterns) --------------------------------

function genFromPattern(src) {
  let i = 0;
  const s = src;
  function parseAlt() {
    const branches = [[]];
    while (i < s.length && s[i] !== ')') {
      if (s[i] === '|') { branches.push([]); i++; continue; }
      const atom = parseAtom();
      if (atom) branches[branches.length - 1].push(parseQuant(atom));
    }
    return { t: 'alt', branches };
  }
  function parseClass() {
    // s[i] === '['
    i++;
    let neg = false;
    if (s[i] === '^') { neg = true; i++; }
    const chars = [];
    let first = true;
    while (i < s.length && (s[i] !== ']' || first)) {
      first = false;
      let c = s[i++];
      if (c === '\\') {
        const e = s[i++];
        if (e === 'd') { for (let k = 48; k <= 57; k++) chars.push(String.fromCharCode(k)); continue; }
        if (e === 'w') { chars.push(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_'); continue; }
        if (e === 's') { chars.push(' '); continue; }
        c = e;
      }
      if (s[i] === '-' && s[i + 1] !== ']' && i + 1 < s.length) {
        i++;
        let hi = s[i++];
        if (hi === '\\') hi = s[i++];
        for (let k = c.charCodeAt(0); k <= hi.charCodeAt(0); k++) chars.push(String.fromCharCode(k));
      } else chars.push(c);
    }
    i++; // ]
    if (neg) {
      const pool = 'abcdefghijklmnopqrstuvwxyz0123456789'.split('').filter((c) => !chars.includes(c));
      return { t: 'set', chars: pool };
    }
    return { t: 'set', chars };
  }
  function parseAtom() {
    const c = s[i];
    if (c === '^' || c === '$') { i++; return null; }
    if (c === '(') {
      i++;
      if (s[i] === '?') { i++; if (s[i] === ':') i++; else throw new Error('lookaround'); }
      const g = parseAlt();
      i++; // )
      return g;
    }
    if (c === '[') return parseClass();
    if (c === '.') { i++; return { t: 'set', chars: 'abcdefghijklmnopqrstuvwxyz'.split('') }; }
    if (c === '\\') {
      i++;
      const e = s[i++];
      if (e === 'd') return { t: 'set', chars: '0123456789'.split('') };
      if (e === 'w') return { t: 'set', chars: 'abcdefghijklmnopqrstuvwxyz0123456789_'.split('') };
      if (e === 's') return { t: 'set', chars: [' '] };
      if (/[bBDWS]/.test(e)) throw new Error('unsupported escape');
      return { t: 'lit', c: e };
    }
    i++;
    return { t: 'lit', c };
  }
  function parseQuant(atom) {
    let lo = 1, hi = 1;
    const c = s[i];
    if (c === '*') { lo = 0; hi = 3; i++; }
    else if (c === '+') { lo = 1; hi = 4; i++; }
    else if (c === '?') { lo = 0; hi = 1; i++; }
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(s.slice(i));
      if (m) {
        lo = parseInt(m[1], 10);
        hi = m[2] ? (m[3] ? parseInt(m[3], 10) : lo + 4) : lo;
        i += m[0].length;
      }
    }
    if (s[i] === '?' || s[i] === '+') i++; // lazy / possessive
    return { t: 'rep', atom, lo, hi };
  }
  function emit(n) {
    switch (n.t) {
      case 'alt': return pick(n.branches).map(emit).join('');
      case 'set': return pick(n.chars);
      case 'lit': return n.c;
      case 'rep': { let r = ''; const k = int(n.lo, Math.min(n.hi, n.lo + 6)); for (let j = 0; j < k; j++) r += emit(n.atom); return r; }
    }
    return '';
  }
  const tree = parseAlt();
  if (i < s.length) throw new Error('unbalanced');
  const anchoredStart = s.startsWith('^');
  const anchoredEnd = s.endsWith('$') && !s.endsWith('\\$');
  let out = emit(tree);
  // an unanchored pattern matches anywhere: wrap it in realistic text now and then
  if (!anchoredStart && chance(0.3)) out = pick(WORDS) + out;
  if (!anchoredEnd && chance(0.3)) out = out + pick(WORDS);
  return out;
}

// ---- schema walking --------------------------------------------------------------------------

function resolve(root, ref) {
  if (!ref.startsWith('#')) return true;
  let node = root;
  for (const raw of ref.slice(1).split('/').slice(1)) {
    const seg = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (node == null || typeof node !== 'object') return true;
    node = node[seg];
  }
  return node === undefined ? true : node;
}

// Flattens $ref and allOf into one schema (good enough to generate from, not to validate with).
function flatten(schema, root, depth = 0) {
  if (schema === true || schema === undefined) return {};
  if (schema === false) return { not: {} };
  if (depth > 20) return {};
  const out = {};
  const merge = (s, flat = true) => {
    if (flat) s = flatten(s, root, depth + 1);
    for (const [k, v] of Object.entries(s)) {
      if (k === 'properties') out.properties = { ...(out.properties || {}), ...v };
      else if (k === 'required') out.required = [...new Set([...(out.required || []), ...v])];
      else if (!(k in out)) out[k] = v;
    }
  };
  const own = { ...schema };
  const ref = own.$ref; delete own.$ref;
  const all = own.allOf; delete own.allOf;
  merge(own, false);
  if (ref) merge(resolve(root, ref));
  if (Array.isArray(all)) for (const s of all) merge(s);
  return out;
}

function typeOf(s) {
  let t = s.type;
  if (Array.isArray(t)) t = t.find((x) => x !== 'null') || t[0];
  if (t) return t;
  if (s.properties || s.required) return 'object';
  if (s.items || s.prefixItems) return 'array';
  if ('minimum' in s || 'maximum' in s || 'exclusiveMinimum' in s || 'multipleOf' in s) return 'number';
  if (s.format || s.pattern || 'minLength' in s || 'maxLength' in s) return 'string';
  return 'string';
}

function genNumber(s, integer, name) {
  let lo = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + (integer ? 1 : 0.01) : undefined);
  let hi = s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - (integer ? 1 : 0.01) : undefined);
  const money = /price|revenue|total|value|amount|tax|shipping|discount|subtotal/i.test(name || '');
  if (lo === undefined) lo = money || integer ? 0 : -100;
  if (hi === undefined) hi = Math.max(lo, 0) + (money ? 500 : integer ? 100 : 1000);
  if (integer) {
    lo = Math.ceil(lo); hi = Math.floor(hi);
    if (/quantity|count|position/i.test(name || '') && hi > lo + 10) hi = lo + 10;
    let v = int(lo, Math.max(lo, hi));
    if (s.multipleOf) v = Math.ceil(v / s.multipleOf) * s.multipleOf;
    return v;
  }
  if (s.multipleOf) return Math.ceil(lo / s.multipleOf + int(0, 10)) * s.multipleOf;
  let v = Math.round((lo + rnd() * (hi - lo)) * 100) / 100;
  if (v < lo || (s.exclusiveMinimum !== undefined && v <= s.exclusiveMinimum)) v = lo;
  if (v > hi) v = hi;
  return v;
}

function genString(s, name) {
  const n = (name || '').toLowerCase();
  let v = null;
  if (s.format) v = formatValue(s.format, n);
  if (v === null && s.pattern) {
    try { v = genFromPattern(s.pattern); } catch { v = null; }
  }
  if (v === null) {
    if (/currency/.test(n)) v = pick(['EUR', 'USD', 'GBP']);
    else if (/email/.test(n)) v = formatValue('email');
    else if (/url|uri|link/.test(n)) v = formatValue('uri', n);
    else if (/(^|_)id$|_id|id$/.test(n)) v = `${n.replace(/_?id$/, '') || 'id'}_${hex(10)}`;
    else if (/name|title/.test(n)) v = /first/.test(n) ? pick(FIRST) : /last/.test(n) ? pick(LAST) : words(int(2, 3)).replace(/^./, (c) => c.toUpperCase());
    else if (/category/.test(n)) v = pick(CATEGORIES);
    else if (/query|search|term/.test(n)) v = words(int(1, 3));
    else if (/path/.test(n)) v = `/${pick(WORDS)}/${pick(WORDS)}`;
    else if (/sku/.test(n)) v = `SKU-${int(1000, 999999)}`;
    else if (/coupon|code/.test(n)) v = `${pick(WORDS).toUpperCase()}${int(5, 50)}`;
    else v = words(int(1, 3));
  }
  const min = s.minLength ?? 0, max = s.maxLength ?? Infinity;
  if (!s.format && !s.pattern) {
    while ([...v].length < min) v += ' ' + pick(WORDS);
    if ([...v].length > max) v = [...v].slice(0, max).join('');
  }
  return v;
}

function gen(schema, root, name, depth = 0) {
  const s = flatten(schema, root);
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length) return pick(s.enum);
  if (Array.isArray(s.examples) && s.examples.length && chance(0.5)) return pick(s.examples);
  for (const k of ['anyOf', 'oneOf']) {
    if (Array.isArray(s[k]) && s[k].length) {
      const rest = { ...s }; delete rest[k];
      return gen({ allOf: [rest, k === 'oneOf' ? s[k][0] : pick(s[k])] }, root, name, depth);
    }
  }
  const t = typeOf(s);
  if (depth > 8) return t === 'object' ? {} : t === 'array' ? [] : null;
  switch (t) {
    case 'null': return null;
    case 'boolean': return chance(0.5);
    case 'integer': return genNumber(s, true, name);
    case 'number': return genNumber(s, false, name);
    case 'string': return genString(s, name);
    case 'array': {
      const lo = s.minItems ?? 0;
      const hi = Math.min(s.maxItems ?? lo + 3, lo + 3);
      const pre = Array.isArray(s.prefixItems) ? s.prefixItems : [];
      const k = Math.max(int(Math.max(lo, lo === 0 ? 1 : lo), Math.max(lo, hi)), pre.length);
      const out = [];
      for (let j = 0; j < k; j++) {
        const v = gen(j < pre.length ? pre[j] : (s.items ?? {}), root, name, depth + 1);
        if (s.uniqueItems && out.some((x) => JSON.stringify(x) === JSON.stringify(v))) continue;
        out.push(v);
      }
      return out;
    }
    case 'object': default: {
      const out = {};
      const props = s.properties || {};
      const req = new Set(s.required || []);
      for (const [k, ps] of Object.entries(props)) {
        if (ps === false) continue;
        if (req.has(k) || chance(0.55)) out[k] = gen(ps, root, k, depth + 1);
      }
      for (const k of req) if (!(k in out)) out[k] = gen({}, root, k, depth + 1);
      if (s.dependentRequired) {
        for (const [k, deps] of Object.entries(s.dependentRequired))
          if (k in out) for (const d of deps) if (!(d in out)) out[d] = gen(props[d] ?? {}, root, d, depth + 1);
      }
      return out;
    }
  }
}

// ---- events ----------------------------------------------------------------------------------------

function contextFor(root, size) {
  const cs = root.properties && root.properties.context;
  let planned = cs ? gen(cs, root, 'context') : {};
  if (!planned || typeof planned !== 'object' || Array.isArray(planned)) planned = {};
  const ctx = {
    library: { name: 'analytics.js', version: `5.${int(0, 9)}.${int(0, 20)}` },
    page: {
      path: `/${pick(WORDS)}/${pick(WORDS)}`,
      title: words(3),
      url: `https://${pick(DOMAINS)}/${pick(WORDS)}`,
    },
    userAgent: pick(UAS),
    locale: pick(['en-US', 'de-DE', 'fr-FR']),
    ip: `${int(1, 223)}.${int(0, 255)}.${int(0, 255)}.${int(1, 254)}`,
  };
  if (chance(0.4)) ctx.page.referrer = `https://www.${pick(DOMAINS)}/`;
  if (size > 0 && chance(0.25)) ctx.campaign = { source: 'newsletter', medium: 'email', name: `spring_${int(1, 9)}` };
  // planned context keys win (they must satisfy the plan's context schema)
  for (const [k, v] of Object.entries(planned || {})) {
    if (v && typeof v === 'object' && !Array.isArray(v) && ctx[k] && typeof ctx[k] === 'object') {
      const allowExtra = (() => {
        const cps = flatten(cs, root).properties || {};
        const sub = flatten(cps[k] ?? {}, root);
        return sub.additionalProperties !== false && sub.unevaluatedProperties !== false;
      })();
      ctx[k] = allowExtra ? { ...ctx[k], ...v } : v;
    } else ctx[k] = v;
  }
  const top = cs ? flatten(cs, root) : {};
  if (top.additionalProperties === false || top.unevaluatedProperties === false) {
    for (const k of Object.keys(ctx)) if (!(top.properties && k in top.properties)) delete ctx[k];
  }
  return ctx;
}

function envelope(type, ids) {
  const ev = { type, messageId: uuid() };
  if (ids === 'user' || ids === 'both') ev.userId = `user_${int(1, 200000)}`;
  if (ids === 'anon' || ids === 'both') ev.anonymousId = uuid();
  const t = BASE_MS + int(0, 60 * 86400) * 1000;
  ev.timestamp = isoTime(t);
  ev.sentAt = isoTime(t + int(0, 3000));
  return ev;
}

function makeEvent(sch) {
  const ids = pick(['user', 'anon', 'both', 'both']);
  const r = rnd();
  const eventNames = Object.keys(sch.events || {});
  const pageNames = Object.keys(sch.pages || {});
  let ev, root;
  if (r < 0.72 && eventNames.length) {
    const name = pick(eventNames);
    root = sch.events[name];
    ev = envelope('track', ids);
    ev.event = name;
    ev.properties = gen(root.properties && root.properties.properties || { type: 'object' }, root, 'properties');
  } else if (r < 0.86) {
    const screen = chance(0.2);
    const name = pageNames.length && chance(0.8) ? pick(pageNames) : pick(['Checkout', 'Account', 'Help']);
    root = (sch.pages && sch.pages[name]) || sch.calls.page;
    ev = envelope(screen ? 'screen' : 'page', ids);
    ev.name = name;
    const ps = root.properties && root.properties.properties;
    ev.properties = ps ? gen(ps, root, 'properties') : { path: `/${name.toLowerCase()}`, title: name };
  } else if (r < 0.95) {
    root = sch.calls.identify;
    ev = envelope('identify', ids === 'anon' ? 'both' : ids);
    const ts = root.properties && root.properties.traits;
    ev.traits = ts ? gen(ts, root, 'traits') : { email: formatValue('email'), name: `${pick(FIRST)} ${pick(LAST)}` };
  } else if (r < 0.985) {
    root = sch.calls.group;
    ev = envelope('group', ids);
    ev.groupId = `grp_${hex(8)}`;
    const ts = root.properties && root.properties.traits;
    ev.traits = ts ? gen(ts, root, 'traits') : { name: `${pick(LAST)} Inc.` };
  } else {
    root = sch.calls.alias;
    ev = envelope('alias', 'both');
    ev.previousId = uuid();
  }
  ev.context = contextFor(root, 600);
  return { ev, root };
}

// Reorders keys so that the envelope reads naturally (type first, context last).
function tidy(ev) {
  const order = ['type', 'event', 'name', 'userId', 'anonymousId', 'groupId', 'previousId', 'properties', 'traits'];
  const out = {};
  for (const k of order) if (k in ev) out[k] = ev[k];
  for (const k of Object.keys(ev)) if (!(k in out)) out[k] = ev[k];
  return out;
}

// ---- mutations --------------------------------------------------------------------------------------

// Candidate (container, key, schema) triples for the event's payload object, one level deep plus
// array-of-object items, so that mutations land where the schema says something definite.
function payloadTargets(ev, root) {
  const part = ev.properties && root.properties && root.properties.properties ? 'properties'
    : ev.traits && root.properties && root.properties.traits ? 'traits' : null;
  if (!part) return [];
  const out = [];
  const walk = (obj, schema, depth) => {
    const s = flatten(schema, root);
    const props = s.properties || {};
    for (const [k, ps] of Object.entries(props)) {
      const f = flatten(ps, root);
      out.push({ obj, key: k, s: f, parent: s, present: k in obj });
      if (depth < 2 && obj[k] && typeof obj[k] === 'object') {
        if (Array.isArray(obj[k]) && obj[k].length && f.items && typeof obj[k][0] === 'object' && obj[k][0])
          walk(obj[k][0], f.items, depth + 1);
        else if (!Array.isArray(obj[k])) walk(obj[k], f, depth + 1);
      }
    }
    if (s.additionalProperties === false || s.unevaluatedProperties === false) out.push({ obj, closed: true });
  };
  walk(ev[part], root.properties[part], 0);
  return out;
}

const typo = (v) => (typeof v === 'string' && v.length ? (chance(0.5) ? v.toLowerCase() === v ? v.toUpperCase() : v.toLowerCase() : v + 'x') : 'bogus');

const MUTATIONS = [
  ['drop-required', (ev, t) => {
    const c = t.filter((x) => x.present && x.parent.required && x.parent.required.includes(x.key));
    if (!c.length) return false;
    const x = pick(c); delete x.obj[x.key]; return true;
  }],
  ['wrong-type', (ev, t) => {
    const c = t.filter((x) => x.present && x.s.type && !Array.isArray(x.s.type));
    if (!c.length) return false;
    const x = pick(c);
    const v = x.obj[x.key];
    x.obj[x.key] = typeof v === 'string' ? (chance(0.5) ? 42 : true) : typeof v === 'number' ? String(v) : typeof v === 'boolean' ? 'yes' : Array.isArray(v) ? { items: v } : String(pick(WORDS));
    return true;
  }],
  ['enum-typo', (ev, t) => {
    const c = t.filter((x) => x.present && Array.isArray(x.s.enum) && x.s.enum.every((e) => typeof e === 'string'));
    if (!c.length) return false;
    const x = pick(c);
    let v = typo(x.obj[x.key]);
    if (x.s.enum.includes(v)) v = v + '_x';
    x.obj[x.key] = v; return true;
  }],
  ['negative-number', (ev, t) => {
    const c = t.filter((x) => x.present && typeof x.obj[x.key] === 'number' && ((x.s.minimum ?? -1) >= 0 || (x.s.exclusiveMinimum ?? -1) >= 0));
    if (!c.length) return false;
    const x = pick(c); x.obj[x.key] = -Math.abs(x.obj[x.key]) - int(1, 50); return true;
  }],
  ['extra-property', (ev, t) => {
    const c = t.filter((x) => x.closed);
    if (!c.length) return false;
    const x = pick(c); x.obj[pick(['promo_code', 'utm_source', 'debug', 'color_hex'])] = pick(['yes', 1, true]); return true;
  }],
  ['bad-format', (ev, t) => {
    const c = t.filter((x) => x.present && typeof x.obj[x.key] === 'string' && BAD_FORMAT[x.s.format]);
    if (!c.length) return false;
    const x = pick(c); x.obj[x.key] = pick(BAD_FORMAT[x.s.format]); return true;
  }],
  ['too-long', (ev, t) => {
    const c = t.filter((x) => x.present && typeof x.obj[x.key] === 'string' && x.s.maxLength !== undefined && !x.s.format && !x.s.pattern && !x.s.enum);
    if (!c.length) return false;
    const x = pick(c); x.obj[x.key] = 'z'.repeat(x.s.maxLength + int(1, 5)); return true;
  }],
  ['pattern', (ev, t) => {
    const c = t.filter((x) => x.present && typeof x.obj[x.key] === 'string' && x.s.pattern && /^\^.*\$$/.test(x.s.pattern));
    if (!c.length) return false;
    const x = pick(c); x.obj[x.key] = ' ' + x.obj[x.key] + ' !'; return true;
  }],
  ['unplanned-name', (ev) => {
    if (ev.type !== 'track') return false;
    ev.event = pick(['Order Complete', 'product viewed', 'Checkout Started v2', 'Button Clicked']) + (chance(0.5) ? '' : ` ${int(2, 9)}`);
    return true;
  }],
  ['missing-ids', (ev) => { delete ev.userId; delete ev.anonymousId; return true; }],
  ['empty-id', (ev) => { delete ev.userId; ev.anonymousId = ''; return true; }],
  ['bad-timestamp', (ev) => { ev.timestamp = pick(['1714521600', '2024-05-01 10:00', 'yesterday', '2024-05-01T25:00:00Z']); return true; }],
  ['wrong-call-type', (ev) => { ev.type = pick(['Track', 'trak', 'event', 'pageview']); return true; }],
  ['missing-event', (ev) => { if (ev.type !== 'track') return false; delete ev.event; return true; }],
  ['properties-not-object', (ev) => { if (!ev.properties) return false; ev.properties = pick([[], 'n/a', 7]); return true; }],
];

function mutate(ev, root) {
  const targets = payloadTargets(ev, root);
  // prefer payload mutations (most realistic), fall back to envelope ones
  for (let tries = 0; tries < 8; tries++) {
    const [name, fn] = tries < 5 ? pick(MUTATIONS.slice(0, 8)) : pick(MUTATIONS.slice(8));
    if (fn(ev, targets)) return name;
  }
  delete ev.userId; delete ev.anonymousId;
  return 'missing-ids';
}

// ---- main ------------------------------------------------------------------------------------------

function main() {
  const a = parseArgs(process.argv);
  rnd = mulberry32(a.seed);
  const text = a.schemas
    ? fs.readFileSync(a.schemas, 'utf8')
    : execFileSync(a.sluice, ['compile', a.plan, '--emit', 'json-schema'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const sch = JSON.parse(text);
  if (!sch.calls || !sch.calls.track) throw new Error('schemas: no "calls" (is this `sluice compile --emit json-schema` output?)');
  const out = a.out ? fs.openSync(a.out, 'w') : 1;
  let buf = '';
  const stats = {};
  for (let n = 0; n < a.count; n++) {
    const { ev, root } = makeEvent(sch);
    if (chance(a.invalid)) {
      const m = mutate(ev, root);
      stats[m] = (stats[m] || 0) + 1;
    }
    buf += JSON.stringify(tidy(ev)) + '\n';
    if (buf.length > 1 << 20) { fs.writeSync(out, buf); buf = ''; }
  }
  fs.writeSync(out, buf);
  if (a.out) fs.closeSync(out);
  process.stderr.write(`gen_events: ${a.count} events, mutated: ${JSON.stringify(stats)}\n`);
}

try {
  main();
} catch (e) {
  process.stderr.write(`gen_events: ${e.message}\n`);
  process.exit(2);
}
