// send.js - sends Snowplow events through the real @snowplow/node-tracker to a running
// `sluice serve` (SLUICE_HOST, SLUICE_PORT, SLUICE_METHOD post|get, SLUICE_BASE64 1|0, SLUICE_RUN,
// SLUICE_SESSION: sent as X-Sluice-Session, the test session of the Micro QA API),
// then flushes. Every event carries the run id as its user id (uid), so the test finds it in
// Redis. Prints one JSON line per tracked event ({tag}), and exits 1 when a request failed.
'use strict';
const sp = require('@snowplow/node-tracker');

const host = process.env.SLUICE_HOST || '127.0.0.1';
const port = Number(process.env.SLUICE_PORT);
const method = process.env.SLUICE_METHOD || 'post';
const run = process.env.SLUICE_RUN || 'run';
if (!port) {
  console.error('SLUICE_PORT is not set');
  process.exit(2);
}

let failed = 0;
let sent = 0;
const t = sp.newTracker(
  { namespace: 'it', appId: 'northwind-web', encodeBase64: process.env.SLUICE_BASE64 === '1' },
  {
    endpoint: host, port, protocol: 'http', eventMethod: method, bufferSize: method === 'post' ? 3 : 1,
    retryFailedRequests: false,
    customHeaders: process.env.SLUICE_SESSION ? { 'X-Sluice-Session': process.env.SLUICE_SESSION } : undefined,
    onRequestSuccess: (payloads) => { sent += payloads.length; },
    onRequestFailure: (f) => {
      failed++;
      console.error('request failed:', f && f.status, f && f.message);
    },
  });
t.setUserId(run);
t.setDomainUserId(`duid-${run}`);

const sd = (name, version, data) => ({ schema: `iglu:com.northwind/${name}/jsonschema/${version}`, data });
const product = sd('product', '1-0-1', { sku: 'NW-0042', name: 'Yirgacheffe', origin: 'ethiopia',
                                         roast: 'light', weight_g: 250 });
const user = sd('user', '1-0-0', { customer_id: 'C12345', tier: 'member' });
const tag = (name, ev, ctx) => {
  // The tag rides in the event's own data where the schema allows it (order_id, label, title).
  t.track(ev, ctx);
  console.log(JSON.stringify({ tag: name }));
};

tag('basket-ok', sp.buildSelfDescribingEvent({ event: sd('add_to_basket', '1-0-0', {
  sku: 'NW-0042', quantity: 2, unit_price: 12.5, currency: 'EUR', grind: 'filter' }) }),
    [product, user]);
tag('basket-bad', sp.buildSelfDescribingEvent({ event: sd('add_to_basket', '1-0-0', {
  sku: 'NW-42', quantity: 0, unit_price: 12.5, currency: 'eur' }) }), [product]);
tag('order-ok', sp.buildSelfDescribingEvent({ event: sd('order_completed', '1-0-0', {
  order_id: 'O-000123', total: 25, currency: 'EUR', coupon: null,
  items: [{ sku: 'NW-0042', quantity: 2 }] }) }), [user]);
tag('context-bad', sp.buildSelfDescribingEvent({ event: sd('checkout_step', '1-0-0', { step: 2 }) }),
    [sd('product', '1-0-0', { sku: 'NW-0042', roast: 'burnt' })]);
tag('unknown-version', sp.buildSelfDescribingEvent({ event: sd('checkout_step', '1-0-2', { step: 1 }) }));
tag('se-ok', sp.buildStructEvent({ category: 'engagement', action: 'newsletter_signup',
                                   label: 'footer', value: 1 }));
tag('se-bad', sp.buildStructEvent({ category: 'social', action: 'share_product', label: 'myspace',
                                    property: 'NW-0042' }));
tag('pv-ok', sp.buildPageView({ pageUrl: 'https://northwind.test/', pageTitle: 'Home',
                                referrer: 'https://search.test/' }), [user]);

t.flush().then(() => new Promise((r) => setTimeout(r, 300))).then(() => {
  console.log(JSON.stringify({ sent }));
  process.exit(failed ? 1 : 0);
});
