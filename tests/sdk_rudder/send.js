// send.js - sends track, identify, page, screen, group and alias calls through the real
// @rudderstack/rudder-sdk-node client (gzip on, its default) to a running `sluice serve`
// (SLUICE_URL, SLUICE_WRITE_KEY, SLUICE_RUN), then flushes. Prints one JSON line per call with
// the messageId the SDK gave it, and exits 1 when the SDK reported any error.
'use strict';
const Analytics = require('@rudderstack/rudder-sdk-node');

const url = process.env.SLUICE_URL;
const writeKey = process.env.SLUICE_WRITE_KEY || 'sdk-key';
const run = process.env.SLUICE_RUN || 'run';
if (!url) {
  console.error('SLUICE_URL is not set');
  process.exit(2);
}

let failed = 0;
const client = new Analytics(writeKey, {
  dataPlaneUrl: url, flushAt: 3, flushInterval: 300, retryCount: 0, logLevel: 'error',
  errorHandler: (err) => { failed++; console.error('sdk error:', err && (err.message || err)); },
});

const userId = `rudder-${run}`;
const calls = [
  ['track', { userId, event: 'Order Completed',
              properties: { revenue: 42.5, currency: 'EUR', items: [{ sku: 'A-1', qty: 2 }] } }],
  ['identify', { userId, traits: { name: 'Ada Lovelace', plan: 'pro' } }],
  ['page', { userId, category: 'Docs', name: 'Pricing', properties: { path: '/pricing' } }],
  ['screen', { userId, name: 'Home', properties: { tab: 'feed' } }],
  ['group', { userId, groupId: `g-${run}`, traits: { name: 'Acme', employees: 12 } }],
  ['alias', { userId, previousId: `anon-${run}` }],
];
let pending = calls.length;
const done = () => {
  if (--pending) return;
  client.flush(() => setTimeout(() => process.exit(failed ? 1 : 0), 50));
};
for (const [type, msg] of calls) {
  const m = Object.assign({ messageId: `${type}-${run}` }, msg);
  client[type](m, (err) => {
    if (err) { failed++; console.error(`${type} failed:`, err.message || err); }
    else console.log(JSON.stringify({ type, messageId: m.messageId }));
    done();
  });
}
