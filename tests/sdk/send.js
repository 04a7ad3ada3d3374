// send.js - sends identify, track and page calls through the real @segment/analytics-node client
// to a running `sluice serve` (SLUICE_URL, SLUICE_WRITE_KEY, SLUICE_RUN), then flushes.
// Prints one JSON line per call the SDK reported as delivered, or exits 1 on any error.
'use strict';
const { Analytics } = require('@segment/analytics-node');

const host = process.env.SLUICE_URL;
const writeKey = process.env.SLUICE_WRITE_KEY || 'sdk-key';
const run = process.env.SLUICE_RUN || 'run';
if (!host) {
  console.error('SLUICE_URL is not set');
  process.exit(2);
}

const analytics = new Analytics({ writeKey, host, path: '/v1/batch', flushAt: 3, maxRetries: 2,
                                  flushInterval: 500, httpRequestTimeout: 5000 });
let failed = 0;
analytics.on('error', (err) => {
  failed++;
  console.error('sdk error:', err && (err.reason || err.message || err.code || err));
});

const userId = `sdk-${run}`;
analytics.identify({ userId, traits: { name: 'Ada Lovelace', email: 'ada@example.com', plan: 'pro' } },
  (err, ctx) => { if (!err) console.log(JSON.stringify({ type: 'identify', messageId: ctx.event.messageId })); });
analytics.track({ userId, event: 'Order Completed',
                  properties: { revenue: 42.5, currency: 'EUR', items: [{ sku: 'A-1', qty: 2 }] } },
  (err, ctx) => { if (!err) console.log(JSON.stringify({ type: 'track', messageId: ctx.event.messageId })); });
analytics.page({ userId, name: 'Pricing', properties: { path: '/pricing', title: 'Pricing' } },
  (err, ctx) => { if (!err) console.log(JSON.stringify({ type: 'page', messageId: ctx.event.messageId })); });

analytics.closeAndFlush({ timeout: 10000 }).then(() => {
  process.exit(failed ? 1 : 0);
});
