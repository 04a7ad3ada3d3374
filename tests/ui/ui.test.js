// ui.test.js - the /ui dashboard in headless Chromium (playwright-core, no browser download).
//
// Driven by tests/it_ui.py, which starts the server, sends the first events and writes a spec
// file. This script opens /ui, waits for the live tail to connect, sends the second events
// itself (so they must arrive over Server-Sent Events), and checks that every expected violation
// shows up in the top-violations table and in the live tail, that examples expand, that the
// charts, per-event counts and coverage render, that the page loads nothing from elsewhere and
// throws no error. Saves a screenshot. In the fake mode only it also checks that panels degrade
// to "not available" when their endpoints disappear.
//
// Env: SLUICE_UI_BASE (http://127.0.0.1:PORT), SLUICE_UI_SPEC (JSON file, see it_ui.py),
// SLUICE_CHROMIUM (default /usr/bin/chromium), SLUICE_UI_SCREENSHOT (PNG path),
// SLUICE_UI_TIMEOUT_MS (default 30000). Last line: "N passed, N failed".
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const base = process.env.SLUICE_UI_BASE;
const spec = JSON.parse(fs.readFileSync(process.env.SLUICE_UI_SPEC, 'utf8'));
const shot = process.env.SLUICE_UI_SCREENSHOT || 'ui-screenshot.png';
const timeout = Number(process.env.SLUICE_UI_TIMEOUT_MS || 30000);

let passed = 0;
let failed = 0;
function check(cond, what, detail) {
  if (cond) {
    passed++;
    console.log(`ok - ${what}`);
  } else {
    failed++;
    console.log(`not ok - ${what}${detail ? `\n    ${String(detail).replace(/\n/g, '\n    ')}` : ''}`);
  }
  return cond;
}

// The visible state of every panel, for failure messages.
async function panelStates(page) {
  return page.evaluate(() => {
    const out = {};
    document.querySelectorAll('section.panel').forEach((s) => {
      const st = s.querySelector('.panel-state');
      const n = s.querySelector('.notice');
      out[s.id] = `${st ? st.textContent : ''}${n && !n.hidden ? ` | ${n.textContent}` : ''}`;
    });
    return out;
  });
}

// Waits until fn(arg) holds in the page. stateIds: the panels it depends on; when one of them
// shows "not available" (its endpoint answered 404) the wait ends at once with a failure that
// names the endpoint, instead of running into the timeout.
async function waitFor(page, what, fn, arg, stateIds) {
  const ids = stateIds || [];
  const deadline = Date.now() + timeout;
  let err = null;
  for (;;) {
    try {
      // page.evaluate runs through the DevTools protocol, so the page's CSP (no eval) allows it.
      if (await page.evaluate(fn, arg === undefined ? null : arg)) return check(true, what);
      const gone = await page.evaluate((list) => list.filter((id) => {
        const e = document.getElementById(id);
        return e && e.getAttribute('data-state') === 'missing';
      }), ids);
      if (gone.length) {
        return check(false, what, `a panel it needs is not available; panels: ${JSON.stringify(await panelStates(page))}`);
      }
    } catch (e) {
      err = e; // e.g. the page is navigating: try again
    }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return check(false, what, `not seen within ${timeout} ms${err ? ` (last error: ${err.message})` : ''}; ` +
               `panels: ${JSON.stringify(await panelStates(page))}`);
}

// In-page predicates (serialised into the browser).
function tableHas(want) {
  const rows = Array.from(document.querySelectorAll('#viol-table tbody tr.group'));
  return rows.some((tr) => {
    const c = Array.from(tr.cells).map((td) => td.textContent.trim());
    return c[0] === want.event && c[1] === want.kind && (!want.path || c[2] === want.path) &&
           Number(c[3].replace(/[^0-9]/g, '')) >= (want.min_count || 1);
  });
}

function tailHas(want) {
  return Array.from(document.querySelectorAll('#tail-list .tail-item')).some((li) => {
    const ev = li.querySelector('.ev');
    if (!ev || ev.textContent.trim() !== want.event) return false;
    return Array.from(li.querySelectorAll('.tail-vios li')).some((v) => {
      const k = v.querySelector('.kind');
      const p = v.querySelector('code');
      return k && k.textContent.trim() === want.kind && (!want.path || (p && p.textContent.trim() === want.path));
    });
  });
}

async function post(req) {
  const r = await fetch(base + req.path, {
    method: 'POST',
    headers: Object.assign({ 'Content-Type': 'application/json' }, req.headers || {}),
    body: JSON.stringify(req.body),
  });
  return r.status;
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.SLUICE_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // Playwright gives the browser a fresh temporary profile (--user-data-dir) itself.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 60000,
  });
  try {
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    const page = await ctx.newPage();
    const pageErrors = [];
    const cspErrors = [];
    const foreign = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) cspErrors.push(m.text());
    });
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith(base + '/') && !u.startsWith('data:')) foreign.push(u);
    });

    const resp = await page.goto(base + '/ui', { waitUntil: 'load', timeout });
    const ctype = resp ? resp.headers()['content-type'] || '' : '';
    if (!check(resp && resp.status() === 200 && ctype.startsWith('text/html'),
               'GET /ui answers 200 text/html', resp ? `status ${resp.status()}, content-type ${ctype}` : 'no response')) {
      return;
    }

    // The live tail must be connected before the second events are sent.
    const live = await waitFor(page, 'live tail connected (GET /v1/violations/stream)',
      () => document.getElementById('tail-state').getAttribute('data-state') === 'open', null, ['tail-state']);
    for (const req of spec.phase2) {
      const st = await post(req);
      check(st === 200, `POST ${req.path} (${req.body.event || 'batch'}) after the page opened: 200`, `status ${st}`);
    }

    for (const want of spec.table) {
      await waitFor(page, `top violations table shows ${want.event} / ${want.kind}${want.path ? ` at ${want.path}` : ''}`,
        tableHas, want, ['viol-state']);
    }
    if (live) {
      for (const want of spec.tail) {
        await waitFor(page, `live tail shows ${want.event} / ${want.kind}${want.path ? ` at ${want.path}` : ''}`,
          tailHas, want, ['tail-state']);
      }
    }

    // Expand the example of the first expected group.
    const first = spec.table[0];
    const btn = page.locator('#viol-table tbody tr.group', { hasText: first.event })
      .filter({ hasText: first.kind }).first().locator('button');
    try {
      await btn.click({ timeout: 5000 });
      const exId = await btn.getAttribute('aria-controls');
      // Examples are newest first and two workers flush in either order: look at all of them.
      await page.locator(`#${exId} pre`).first().waitFor({ timeout: 5000 });
      const pre = (await page.locator(`#${exId} pre`).allTextContents()).join('\n');
      check(pre.includes(spec.example_contains) && pre.includes('\n  '),
            `example payload of ${first.event} expands, pretty-printed, with "${spec.example_contains}"`, pre.slice(0, 400));
      check((await btn.getAttribute('aria-expanded')) === 'true', 'example toggle sets aria-expanded');
      await btn.click({ timeout: 5000 }); // collapse again, so the screenshot shows every row
      check((await page.locator(`#${exId}`).isHidden()) && (await btn.getAttribute('aria-expanded')) === 'false',
            'example collapses again');
    } catch (e) {
      check(false, `example payload of ${first.event} expands`, e.message);
    }

    // Per-event counts, chart, coverage, alerts.
    for (const name of spec.valid_events) {
      await waitFor(page, `events table counts valid ${name}`, (n) =>
        Array.from(document.querySelectorAll('#events-table tbody tr')).some((tr) =>
          tr.cells.length === 4 && tr.cells[0].textContent === n && Number(tr.cells[1].textContent.replace(/[^0-9]/g, '')) >= 1), name, ['viol-state']);
    }
    await waitFor(page, 'rate chart draws invalid events in the current minutes',
      () => document.querySelectorAll('#rate-chart svg rect.invalid').length >= 1 &&
            document.querySelectorAll('#rate-chart svg rect.valid').length >= 1, null, ['rate-state']);
    await waitFor(page, 'coverage shows "N of M planned events seen"',
      () => /\d+ of \d+ planned events seen/.test(document.getElementById('cov-text').textContent), null,
      ['cov-state']);
    await waitFor(page, 'alerts panel loaded', () =>
      document.getElementById('alerts-state').getAttribute('data-state') === 'ok', null, ['alerts-state']);
    if (spec.alert_contains) {
      await waitFor(page, `fired alert shown: "${spec.alert_contains}"`, (t) =>
        document.getElementById('alerts-list').textContent.includes(t), spec.alert_contains, ['alerts-state']);
    }
    await waitFor(page, 'summary cards filled', () =>
      ['sum-valid', 'sum-invalid', 'sum-rate', 'sum-coverage', 'sum-alerts'].every((id) =>
        document.getElementById(id).textContent !== '–'), null,
      ['viol-state', 'rate-state', 'cov-state', 'alerts-state']);

    fs.mkdirSync(path.dirname(path.resolve(shot)), { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`# screenshot: ${path.resolve(shot)}`);

    if (spec.mode === 'fake') {
      // Degradation: endpoints disappear; their panels say so, the others keep working.
      const gone = ['/v1/alerts', '/v1/coverage', '/v1/stats/series', '/v1/violations/stream'];
      await post({ path: '/__fake/missing', body: { paths: gone } });
      await page.reload({ waitUntil: 'load' });
      for (const id of ['alerts', 'coverage', 'rate']) {
        await waitFor(page, `${id} panel says "Not available" when its endpoint is gone`, (i) => {
          const n = document.querySelector(`#${i} .notice`);
          return n && !n.hidden && /^Not available/.test(n.textContent);
        }, id);
      }
      await waitFor(page, 'live tail says "not available" when the stream is gone', () =>
        document.getElementById('tail-state').getAttribute('data-state') === 'missing');
      await waitFor(page, 'top violations still shown with the other endpoints gone', tableHas, spec.table[0],
        ['viol-state']);
      const degraded = shot.replace(/\.png$/, '') + '-degraded.png';
      await page.screenshot({ path: degraded, fullPage: true });
      console.log(`# screenshot: ${path.resolve(degraded)}`);
      await post({ path: '/__fake/missing', body: { paths: [] } });
    }

    check(pageErrors.length === 0, 'no JavaScript error on the page', pageErrors.join('\n'));
    check(cspErrors.length === 0, 'no Content-Security-Policy violation', cspErrors.join('\n'));
    check(foreign.length === 0, 'the page loads nothing from another origin', foreign.join('\n'));
  } finally {
    await browser.close();
  }
}

main()
  .catch((e) => check(false, 'browser test ran to the end', e && e.stack))
  .finally(() => {
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
  });
