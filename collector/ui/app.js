/* app.js - the Sluice dashboard (/ui): rates, top violations, plan coverage, live tail, alerts.
 *
 * Plain browser JavaScript, no build step, no framework, no external resource. Every panel is
 * fed by one endpoint of the collector and fails on its own: a missing endpoint (404/405/501)
 * shows "not available" in that panel only; a transient error keeps the last data, marked stale.
 * Everything that comes from events (names, paths, payloads) is untrusted: it is only ever put
 * into the page with textContent / setAttribute, never parsed as HTML.
 *
 * The JSON this page consumes (times are epoch seconds; the server must answer exactly this):
 *
 *   GET /v1/violations?since=<epoch seconds>
 *     {"since":N,"until":N,
 *      "groups":[{"event":"Order Completed","kind":"Datatype-Mismatch","path":"/properties/revenue",
 *                 "count":N,"first_seen":N,"last_seen":N,"examples":["<event JSON text>",...]},...],
 *      "events":[{"event":"Order Completed","valid":N,"invalid":N},...]}
 *   GET /v1/stats/series?minutes=60
 *     {"minutes":[{"t":<epoch seconds, start of minute>,"valid":N,"invalid":N},...]}
 *     (sparse is fine: minutes without events may be left out)
 *   GET /v1/coverage
 *     {"events_planned":N,"events_seen":N,"events_unseen":["Event Name",...]}
 *   GET /v1/alerts
 *     {"alerts":[{"alert":"name","event":"Order Completed","value":N,"threshold":N,
 *                 "fired_at":N,"text":"human sentence"},...]}
 *   GET /v1/violations/stream   (text/event-stream; each `data:` line one JSON object)
 *     {"ts":N,"write_key":"...","event":"...","session":"...",
 *      "violations":[{"kind","path","keyword","message"},...],"example":"<event JSON text>"}
 *
 * "ts", "fired_at", "first_seen" and "last_seen" may also be epoch milliseconds or ISO-8601
 * strings; "example"/"examples" items may be JSON text or already-parsed objects. */
(function () {
  'use strict';

  var REFRESH_MS = 5000;
  var FETCH_TIMEOUT_MS = 4000;
  var WINDOW_MIN = 60;
  var TAIL_MAX = 200;
  var VIOL_ROWS_MAX = 100;
  var EXAMPLE_MAX_CHARS = 20000;
  var STREAM_RETRY_MS = 15000;

  /* ---- small helpers ------------------------------------------------------------------------ */

  function $(id) { return document.getElementById(id); }

  /* el('td', {class: 'num', title: 'x'}, child...) - children are nodes or text. */
  function el(tag, attrs) {
    var n = document.createElement(tag);
    setAttrs(n, attrs);
    for (var i = 2; i < arguments.length; i++) append(n, arguments[i]);
    return n;
  }

  var SVGNS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs) {
    var n = document.createElementNS(SVGNS, tag);
    setAttrs(n, attrs);
    for (var i = 2; i < arguments.length; i++) append(n, arguments[i]);
    return n;
  }

  function setAttrs(n, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      n.setAttribute(k, v === true ? '' : String(v));
    });
  }

  function append(n, c) {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { append(n, x); }); return; }
    n.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }

  function clear(n) { while (n.firstChild) n.removeChild(n.firstChild); }

  function str(v) { return v === null || v === undefined ? '' : String(v); }

  function num(v) {
    var x = Number(v);
    return isFinite(x) ? x : 0;
  }

  var nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
  function fmtNum(v) { return nf.format(num(v)); }

  function fmtPct(part, whole) {
    if (!whole) return '–';
    var p = 100 * part / whole;
    if (p === 0) return '0%';
    return (p > 0 && p < 0.1 ? '<0.1' : p.toFixed(p < 10 ? 1 : 0)) + '%';
  }

  /* Epoch seconds, epoch milliseconds or ISO text -> epoch milliseconds (NaN when unknown). */
  function toMs(v) {
    if (v === null || v === undefined || v === '') return NaN;
    if (typeof v === 'string' && !/^\s*-?\d+(\.\d+)?\s*$/.test(v)) return Date.parse(v);
    var x = Number(v);
    if (!isFinite(x)) return NaN;
    return x < 1e11 ? x * 1000 : x;
  }

  function fmtClock(ms, withSeconds) {
    if (!isFinite(ms)) return '–';
    var o = { hour: '2-digit', minute: '2-digit', hour12: false };
    if (withSeconds) o.second = '2-digit';
    return new Date(ms).toLocaleTimeString(undefined, o);
  }

  function fmtFull(ms) {
    return isFinite(ms) ? new Date(ms).toLocaleString(undefined, { hour12: false }) : 'unknown';
  }

  function fmtAgo(ms) {
    if (!isFinite(ms)) return '–';
    var s = Math.round((Date.now() - ms) / 1000);
    if (s < 5) return 'just now';
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ago';
    return fmtFull(ms);
  }

  /* Pretty-prints an example payload (JSON text or object); bounded in size. */
  function prettyExample(x) {
    var text;
    if (typeof x === 'string') {
      try { text = JSON.stringify(JSON.parse(x), null, 2); } catch (e) { text = x; }
    } else {
      try { text = JSON.stringify(x, null, 2); } catch (e) { text = String(x); }
    }
    if (text === undefined) text = String(x);
    if (text.length > EXAMPLE_MAX_CHARS)
      text = text.slice(0, EXAMPLE_MAX_CHARS) + '\n… (' + (text.length - EXAMPLE_MAX_CHARS) +
             ' more characters not shown)';
    return text;
  }

  /* A JSON Pointer as <code>, with line-break opportunities after each '/'. */
  function pathCode(path) {
    var parts = (str(path) || '/').split('/');
    var c = el('code', { class: 'path' });
    parts.forEach(function (seg, i) {
      if (i > 0) { c.appendChild(document.createTextNode('/')); c.appendChild(el('wbr')); }
      if (seg) c.appendChild(document.createTextNode(seg));
    });
    return c;
  }

  function kindClass(kind) {
    return 'kind kind-' + str(kind).toLowerCase().replace(/[^a-z0-9]+/g, '-');
  }

  /* ---- fetching and per-panel state ----------------------------------------------------------- */

  function FetchError(kind, message) {
    this.kind = kind; /* 'missing' | 'http' | 'network' | 'parse' */
    this.message = message;
  }

  /* Resolves with the parsed JSON object, rejects with a FetchError. */
  function fetchJSON(url) {
    var ctl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = setTimeout(function () { if (ctl) ctl.abort(); }, FETCH_TIMEOUT_MS);
    return fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store',
                        signal: ctl ? ctl.signal : undefined })
      .then(function (r) {
        if (r.status === 404 || r.status === 405 || r.status === 501)
          throw new FetchError('missing', 'GET ' + url.split('?')[0] + ' answered ' + r.status);
        if (!r.ok) throw new FetchError('http', 'GET ' + url.split('?')[0] + ' answered ' + r.status);
        return r.text();
      }, function (e) {
        throw new FetchError('network', ctl && ctl.signal.aborted ? 'timed out' :
                             'collector unreachable');
      })
      .then(function (text) {
        var j;
        try { j = JSON.parse(text); } catch (e) {
          throw new FetchError('parse', 'GET ' + url.split('?')[0] + ' did not return JSON');
        }
        if (!j || typeof j !== 'object') throw new FetchError('parse', 'unexpected response');
        return j;
      })
      .finally(function () { clearTimeout(timer); });
  }

  /* A panel: body is hidden and replaced by a notice while it has never had data. */
  function Panel(name, stateId, bodyId) {
    this.name = name;
    this.state = $(stateId);
    this.body = $(bodyId);
    this.notice = el('p', { class: 'notice', hidden: true });
    this.body.parentNode.insertBefore(this.notice, this.body);
    this.hasData = false;
    this.lastOk = NaN;
  }

  Panel.prototype.ok = function () {
    this.hasData = true;
    this.lastOk = Date.now();
    this.body.hidden = false;
    this.notice.hidden = true;
    this.setState('ok', 'updated ' + fmtClock(this.lastOk, true));
  };

  Panel.prototype.fail = function (err) {
    var missing = err && err.kind === 'missing';
    var msg = (err && err.message) || 'error';
    if (missing) {
      /* The endpoint does not exist on this server: say so instead of showing stale data. */
      this.hasData = false;
      this.body.hidden = true;
      this.notice.hidden = false;
      this.notice.className = 'notice na';
      this.notice.textContent = 'Not available: ' + msg + '.';
      this.setState('missing', 'not available');
    } else if (this.hasData) {
      this.setState('stale', 'stale since ' + fmtClock(this.lastOk, true) + ' (' + msg + ')');
    } else {
      this.body.hidden = true;
      this.notice.hidden = false;
      this.notice.className = 'notice err';
      this.notice.textContent = 'Could not load (' + msg + '); retrying.';
      this.setState('error', 'error');
    }
  };

  Panel.prototype.setState = function (kind, text) {
    this.state.setAttribute('data-state', kind);
    this.state.textContent = text;
  };

  /* ---- summary cards ---------------------------------------------------------------------- */

  var summary = { seriesValid: null, seriesInvalid: null, eventsValid: null, eventsInvalid: null };

  function renderSummary() {
    var v = summary.seriesValid !== null ? summary.seriesValid : summary.eventsValid;
    var inv = summary.seriesInvalid !== null ? summary.seriesInvalid : summary.eventsInvalid;
    $('sum-valid').textContent = v === null ? '–' : fmtNum(v);
    $('sum-invalid').textContent = inv === null ? '–' : fmtNum(inv);
    $('sum-rate').textContent = v === null || inv === null ? '–' : fmtPct(inv, v + inv);
  }

  /* ---- rate charts -------------------------------------------------------------------------- */

  var ratePanel = new Panel('rate', 'rate-state', 'rate-body');
  var lastSeries = null;

  /* Normalizes {"minutes":[...]} into exactly WINDOW_MIN consecutive minute slots. */
  function seriesSlots(data) {
    var pts = Array.isArray(data.minutes) ? data.minutes : [];
    var by = {};
    var maxT = -Infinity;
    pts.forEach(function (p) {
      var ms = toMs(p && p.t);
      if (!isFinite(ms)) return;
      var t = Math.floor(ms / 60000) * 60;
      var o = by[t] || (by[t] = { t: t, valid: 0, invalid: 0 });
      o.valid += num(p.valid);
      o.invalid += num(p.invalid);
      if (t > maxT) maxT = t;
    });
    var nowMin = Math.floor(Date.now() / 60000) * 60;
    /* Trust the browser clock unless the server's minutes are far from it (clock skew). */
    var end = isFinite(maxT) && Math.abs(maxT - nowMin) > 3600 ? maxT : Math.max(nowMin,
              isFinite(maxT) ? maxT : nowMin);
    var out = [];
    for (var i = WINDOW_MIN - 1; i >= 0; i--) {
      var t = end - i * 60;
      out.push(by[t] || { t: t, valid: 0, invalid: 0 });
    }
    return out;
  }

  /* Top of a 4-gridline axis covering x: 4 * a step of 1, 2, (2.5,) or 5 times a power of ten,
   * so every gridline label is round. minStep keeps counts integral. */
  function niceMax(x, minStep) {
    var want = Math.max(x / 4, minStep || 0);
    if (!(want > 0)) return 4 * (minStep || 1);
    var p = Math.pow(10, Math.floor(Math.log10(want)));
    var steps = p >= 10 ? [1, 2, 2.5, 5, 10] : [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= want) return 4 * steps[i] * p;
    return 40 * p;
  }

  function chartFrame(host, height, yMax, yFmt, slots) {
    var w = Math.max(320, Math.floor(host.clientWidth || 720));
    var m = { l: 48, r: 12, t: 10, b: 24 };
    var pw = w - m.l - m.r, ph = height - m.t - m.b;
    var root = svg('svg', { width: w, height: height, viewBox: '0 0 ' + w + ' ' + height,
                            role: 'img', focusable: 'false' });
    var grid = svg('g', { class: 'grid' });
    for (var i = 0; i <= 4; i++) {
      var y = m.t + ph - ph * i / 4;
      grid.appendChild(svg('line', { x1: m.l, x2: m.l + pw, y1: y, y2: y }));
      grid.appendChild(svg('text', { x: m.l - 6, y: y + 4, 'text-anchor': 'end' },
                           yFmt(yMax * i / 4)));
    }
    var n = slots.length;
    for (var k = 0; k < n; k++) {
      var left = n - 1 - k;
      if (left % 10 !== 0) continue;
      var x = m.l + pw * (k + 0.5) / n;
      grid.appendChild(svg('line', { class: 'tick', x1: x, x2: x, y1: m.t + ph, y2: m.t + ph + 4 }));
      grid.appendChild(svg('text', { x: x, y: height - 6, 'text-anchor': 'middle' },
                           left === 0 ? 'now' : fmtClock(slots[k].t * 1000)));
    }
    root.appendChild(grid);
    return { root: root, m: m, pw: pw, ph: ph, w: w };
  }

  function drawRate(slots) {
    var host = $('rate-chart');
    var maxTotal = 0, sumV = 0, sumI = 0, peak = null;
    slots.forEach(function (s) {
      var tot = s.valid + s.invalid;
      sumV += s.valid; sumI += s.invalid;
      if (tot > maxTotal) { maxTotal = tot; peak = s; }
    });
    var yMax = niceMax(maxTotal, 1);
    var f = chartFrame(host, 220, yMax, function (v) { return fmtNum(v); },
                       slots);
    var bw = f.pw / slots.length;
    var bars = svg('g', { class: 'bars' });
    slots.forEach(function (s, k) {
      var x = f.m.l + k * bw + 0.5;
      var hv = f.ph * s.valid / yMax, hi = f.ph * s.invalid / yMax;
      var base = f.m.t + f.ph;
      var g = svg('g', { class: 'bar' },
                  svg('title', null, fmtClock(s.t * 1000) + ': ' + fmtNum(s.valid) + ' valid, ' +
                      fmtNum(s.invalid) + ' invalid (' + fmtPct(s.invalid, s.valid + s.invalid) +
                      ')'),
                  svg('rect', { class: 'hit', x: x, y: f.m.t, width: Math.max(1, bw - 1),
                                height: f.ph }));
      if (hv > 0) g.appendChild(svg('rect', { class: 'valid', x: x, y: base - hv,
                                              width: Math.max(1, bw - 1), height: hv }));
      if (hi > 0) g.appendChild(svg('rect', { class: 'invalid', x: x, y: base - hv - hi,
                                              width: Math.max(1, bw - 1), height: hi }));
      bars.appendChild(g);
    });
    f.root.appendChild(bars);
    var label = 'Events per minute over the last ' + WINDOW_MIN + ' minutes: ' + fmtNum(sumV) +
                ' valid and ' + fmtNum(sumI) + ' invalid' +
                (peak ? '; peak ' + fmtNum(maxTotal) + ' events at ' + fmtClock(peak.t * 1000) : '') +
                '.';
    f.root.setAttribute('aria-label', label);
    clear(host);
    host.appendChild(f.root);

    /* invalid share per minute, as a line with gaps where there were no events */
    var share = $('share-chart');
    var maxShare = 0;
    slots.forEach(function (s) {
      var tot = s.valid + s.invalid;
      if (tot) maxShare = Math.max(maxShare, 100 * s.invalid / tot);
    });
    var sMax = Math.min(100, niceMax(Math.max(4, maxShare)));
    var g2 = chartFrame(share, 120, sMax, function (v) { return Math.round(v) + '%'; }, slots);
    var d = '', pen = false, dots = svg('g', { class: 'dots' });
    slots.forEach(function (s, k) {
      var tot = s.valid + s.invalid;
      if (!tot) { pen = false; return; }
      var x = g2.m.l + (k + 0.5) * bw;
      var y = g2.m.t + g2.ph - g2.ph * (100 * s.invalid / tot) / sMax;
      d += (pen ? 'L' : 'M') + x.toFixed(1) + ' ' + y.toFixed(1);
      pen = true;
      dots.appendChild(svg('circle', { cx: x, cy: y, r: 2.5 },
                           svg('title', null, fmtClock(s.t * 1000) + ': ' +
                               fmtPct(s.invalid, tot) + ' invalid')));
    });
    if (d) g2.root.appendChild(svg('path', { class: 'rateline', d: d }));
    g2.root.appendChild(dots);
    g2.root.setAttribute('aria-label', 'Share of invalid events per minute; highest ' +
                         (maxShare ? maxShare.toFixed(1) + '%' : 'none') + '.');
    clear(share);
    share.appendChild(g2.root);

    /* the same data as a table, for screen readers and copy-paste */
    var rows = slots.filter(function (s) { return s.valid + s.invalid > 0; });
    var tbl = el('table', { class: 'data' },
                 el('thead', null, el('tr', null, el('th', { scope: 'col' }, 'Minute'),
                                      el('th', { scope: 'col', class: 'num' }, 'Valid'),
                                      el('th', { scope: 'col', class: 'num' }, 'Invalid'),
                                      el('th', { scope: 'col', class: 'num' }, 'Invalid %'))),
                 el('tbody', null, rows.map(function (s) {
                   return el('tr', null, el('td', null, fmtClock(s.t * 1000)),
                             el('td', { class: 'num' }, fmtNum(s.valid)),
                             el('td', { class: 'num' }, fmtNum(s.invalid)),
                             el('td', { class: 'num' }, fmtPct(s.invalid, s.valid + s.invalid)));
                 })));
    var holder = $('rate-table');
    clear(holder);
    holder.appendChild(rows.length ? tbl : el('p', { class: 'empty' }, 'No events in the window.'));
  }

  function loadSeries() {
    return fetchJSON('/v1/stats/series?minutes=' + WINDOW_MIN).then(function (data) {
      var slots = seriesSlots(data);
      lastSeries = slots;
      summary.seriesValid = slots.reduce(function (a, s) { return a + s.valid; }, 0);
      summary.seriesInvalid = slots.reduce(function (a, s) { return a + s.invalid; }, 0);
      ratePanel.ok();
      drawRate(slots);
    }, function (err) {
      if (err.kind === 'missing') summary.seriesValid = summary.seriesInvalid = null;
      ratePanel.fail(err);
    });
  }

  /* ---- top violations and per-event counts ------------------------------------------------- */

  var violPanel = new Panel('violations', 'viol-state', 'viol-body');
  var eventsBody = document.querySelector('#events-table tbody');
  var lastGroups = [];
  var expanded = {}; /* group key -> true while its example row is open */
  var lastInvalidTotal = null;

  function groupKey(g) { return JSON.stringify([str(g.event), str(g.kind), str(g.path)]); }

  function renderGroups() {
    var tbody = document.querySelector('#viol-table tbody');
    var focusedKey = document.activeElement && document.activeElement.getAttribute &&
                     document.activeElement.getAttribute('data-key');
    var q = $('viol-filter').value.trim().toLowerCase();
    var rows = lastGroups.filter(function (g) {
      return !q || (str(g.event) + ' ' + str(g.kind) + ' ' + str(g.path)).toLowerCase()
                     .indexOf(q) >= 0;
    });
    clear(tbody);
    rows.slice(0, VIOL_ROWS_MAX).forEach(function (g, i) {
      var key = groupKey(g);
      var exId = 'ex-' + i;
      var examples = Array.isArray(g.examples) ? g.examples : [];
      var open = !!expanded[key];
      var last = toMs(g.last_seen), first = toMs(g.first_seen);
      var btn = el('button', { type: 'button', class: 'linkish', 'aria-expanded': open ? 'true' : 'false',
                               'aria-controls': exId, 'data-key': key },
                   (open ? 'Hide' : 'Show') + (examples.length ? ' (' + examples.length + ')' : ''));
      btn.addEventListener('click', function () {
        if (expanded[key]) delete expanded[key]; else expanded[key] = true;
        renderGroups();
      });
      tbody.appendChild(el('tr', { class: 'group' },
        el('td', { class: 'ev' }, str(g.event) || el('em', null, '(no event name)')),
        el('td', null, el('span', { class: kindClass(g.kind) }, str(g.kind))),
        el('td', null, pathCode(g.path)),
        el('td', { class: 'num' }, fmtNum(g.count)),
        el('td', { title: 'first seen ' + fmtFull(first) + ', last seen ' + fmtFull(last) },
           el('time', { datetime: isFinite(last) ? new Date(last).toISOString() : null },
              fmtAgo(last))),
        el('td', null, btn)));
      var exRow = el('tr', { class: 'example-row', id: exId, hidden: !open },
                     el('td', { colspan: 6 },
                        examples.length ? examples.slice(0, 3).map(function (x, j) {
                          return el('figure', null,
                                    el('figcaption', null, 'Example ' + (j + 1) + ' of ' +
                                       examples.length + ': ' + str(g.event) + ', ' + str(g.path)),
                                    el('pre', { tabindex: '0' }, prettyExample(x)));
                        }) : el('p', { class: 'empty' }, 'No example payload kept for this group.')));
      tbody.appendChild(exRow);
    });
    if (rows.length > VIOL_ROWS_MAX) {
      tbody.appendChild(el('tr', null, el('td', { colspan: 6, class: 'empty' },
        (rows.length - VIOL_ROWS_MAX) + ' more groups not shown; use the filter.')));
    }
    $('viol-empty').hidden = lastGroups.length > 0;
    if (lastGroups.length && !rows.length)
      tbody.appendChild(el('tr', null, el('td', { colspan: 6, class: 'empty' },
                                          'No violation matches the filter.')));
    if (focusedKey) {
      var b = tbody.querySelectorAll('button[data-key]');
      for (var k = 0; k < b.length; k++)
        if (b[k].getAttribute('data-key') === focusedKey) { b[k].focus(); break; }
    }
  }

  function renderEvents(events) {
    clear(eventsBody);
    var list = events.slice().sort(function (a, b) {
      return num(b.invalid) - num(a.invalid) || (num(b.valid) + num(b.invalid)) -
             (num(a.valid) + num(a.invalid)) || str(a.event).localeCompare(str(b.event));
    });
    list.forEach(function (e) {
      var v = num(e.valid), i = num(e.invalid);
      eventsBody.appendChild(el('tr', { class: i ? 'has-invalid' : null },
        el('td', null, str(e.event) || el('em', null, '(no event name)')),
        el('td', { class: 'num' }, fmtNum(v)),
        el('td', { class: 'num' }, fmtNum(i)),
        el('td', { class: 'num' }, fmtPct(i, v + i))));
    });
    if (!list.length)
      eventsBody.appendChild(el('tr', null, el('td', { colspan: 4, class: 'empty' },
                                              'No events in the window.')));
  }

  function loadViolations() {
    var since = Math.floor(Date.now() / 1000) - WINDOW_MIN * 60;
    return fetchJSON('/v1/violations?since=' + since).then(function (data) {
      var groups = Array.isArray(data.groups) ? data.groups.filter(function (g) {
        return g && typeof g === 'object';
      }) : [];
      groups.sort(function (a, b) {
        return num(b.count) - num(a.count) || toMs(b.last_seen) - toMs(a.last_seen) || 0;
      });
      lastGroups = groups;
      var events = Array.isArray(data.events) ? data.events.filter(function (e) {
        return e && typeof e === 'object';
      }) : [];
      summary.eventsValid = events.reduce(function (a, e) { return a + num(e.valid); }, 0);
      summary.eventsInvalid = events.reduce(function (a, e) { return a + num(e.invalid); }, 0);
      if (lastInvalidTotal !== null && summary.eventsInvalid > lastInvalidTotal)
        announce((summary.eventsInvalid - lastInvalidTotal) + ' new invalid events.');
      lastInvalidTotal = summary.eventsInvalid;
      violPanel.ok();
      renderGroups();
      renderEvents(events);
      eventsLoaded = true;
    }, function (err) {
      if (err.kind === 'missing') summary.eventsValid = summary.eventsInvalid = null;
      violPanel.fail(err);
    });
  }

  /* ---- coverage ------------------------------------------------------------------------------ */

  var covPanel = new Panel('coverage', 'cov-state', 'cov-body');
  var eventsLoaded = false;

  function loadCoverage() {
    return fetchJSON('/v1/coverage').then(function (data) {
      var planned = num(data.events_planned), seen = num(data.events_seen);
      var unseen = Array.isArray(data.events_unseen) ? data.events_unseen.map(str) : [];
      var pct = planned ? Math.round(100 * seen / planned) : 0;
      covPanel.ok();
      $('cov-main').hidden = false;
      $('cov-fill').style.width = Math.max(0, Math.min(100, pct)) + '%';
      $('cov-meter').setAttribute('aria-valuenow', String(pct));
      $('cov-meter').setAttribute('aria-valuetext', seen + ' of ' + planned + ' planned events seen');
      $('cov-text').textContent = fmtNum(seen) + ' of ' + fmtNum(planned) +
                                  ' planned events seen (' + (planned ? pct + '%' : '–') + ').';
      $('sum-coverage').textContent = planned ? seen + ' / ' + planned : '–';
      var ul = $('cov-unseen');
      clear(ul);
      unseen.sort(function (a, b) { return a.localeCompare(b); }).forEach(function (name) {
        ul.appendChild(el('li', null, name));
      });
      if (!unseen.length) ul.appendChild(el('li', { class: 'none' }, 'Every planned event was seen.'));
    }, function (err) {
      if (err.kind === 'missing') $('sum-coverage').textContent = '–';
      covPanel.fail(err);
      /* the per-event table comes from /v1/violations: keep it reachable when only coverage fails */
      if (eventsLoaded && err.kind === 'missing') {
        covPanel.body.hidden = false;
        $('cov-main').hidden = true;
      }
    });
  }

  /* ---- alerts ---------------------------------------------------------------------------------- */

  var alertsPanel = new Panel('alerts', 'alerts-state', 'alerts-body');

  function loadAlerts() {
    return fetchJSON('/v1/alerts').then(function (data) {
      var list = Array.isArray(data.alerts) ? data.alerts.filter(function (a) {
        return a && typeof a === 'object';
      }) : [];
      list.sort(function (a, b) { return toMs(b.fired_at) - toMs(a.fired_at) || 0; });
      alertsPanel.ok();
      var ul = $('alerts-list');
      clear(ul);
      list.slice(0, 100).forEach(function (a) {
        var at = toMs(a.fired_at);
        var recent = isFinite(at) && Date.now() - at < 5 * 60000;
        ul.appendChild(el('li', { class: 'alert' + (recent ? ' recent' : '') },
          el('div', { class: 'alert-head' },
             el('strong', null, str(a.alert) || 'alert'),
             a.event ? el('span', { class: 'alert-event' }, str(a.event)) : null,
             el('time', { datetime: isFinite(at) ? new Date(at).toISOString() : null,
                          title: fmtFull(at) }, fmtAgo(at))),
          a.text ? el('p', null, str(a.text)) : null,
          el('p', { class: 'alert-nums' }, 'value ' + fmtNum(a.value) + ', threshold ' +
             fmtNum(a.threshold))));
      });
      $('alerts-empty').hidden = list.length > 0;
      $('sum-alerts').textContent = fmtNum(list.length);
    }, function (err) {
      if (err.kind === 'missing') $('sum-alerts').textContent = '–';
      alertsPanel.fail(err);
    });
  }

  /* ---- live tail (Server-Sent Events) ---------------------------------------------------------- */

  var tailState = $('tail-state');
  var tailList = $('tail-list');
  var tailPaused = false;
  var tailQueue = [];
  var tailSeen = 0;
  var es = null;

  function setTail(state, text) {
    tailState.setAttribute('data-state', state);
    tailState.textContent = text;
    $('tail-empty').textContent = state === 'missing' ?
      'The live stream is not available on this server.' : 'Waiting for invalid events…';
  }

  function tailItem(m) {
    var at = toMs(m.ts);
    if (!isFinite(at)) at = Date.now();
    var vs = Array.isArray(m.violations) ? m.violations : [];
    var li = el('li', { class: 'tail-item' },
      el('div', { class: 'tail-head' },
         el('time', { datetime: new Date(at).toISOString(), title: fmtFull(at) }, fmtClock(at, true)),
         el('strong', { class: 'ev' }, str(m.event) || '(no event name)'),
         m.write_key ? el('span', { class: 'meta' }, 'key ' + str(m.write_key)) : null,
         m.session ? el('span', { class: 'meta' }, 'session ' + str(m.session)) : null),
      el('ul', { class: 'tail-vios' }, vs.slice(0, 20).map(function (v) {
        v = v && typeof v === 'object' ? v : {};
        return el('li', null,
                  el('span', { class: kindClass(v.kind) }, str(v.kind) || 'violation'), ' ',
                  pathCode(v.path),
                  v.keyword ? el('span', { class: 'meta' }, ' (' + str(v.keyword) + ')') : null,
                  v.message ? ' ' + str(v.message) : null);
      }), vs.length > 20 ? el('li', null, (vs.length - 20) + ' more') : null));
    if (m.example !== undefined && m.example !== null && m.example !== '') {
      li.appendChild(el('details', null, el('summary', null, 'Example payload'),
                        el('pre', { tabindex: '0' }, prettyExample(m.example))));
    }
    return li;
  }

  function tailPush(m) {
    tailSeen++;
    if (tailPaused) {
      tailQueue.push(m);
      if (tailQueue.length > TAIL_MAX) tailQueue.shift();
    } else {
      tailList.insertBefore(tailItem(m), tailList.firstChild);
      while (tailList.children.length > TAIL_MAX) tailList.removeChild(tailList.lastChild);
    }
    tailCount();
  }

  function tailCount() {
    $('tail-empty').hidden = tailList.children.length > 0;
    $('tail-count').textContent = tailSeen + ' received' +
      (tailPaused ? ', ' + tailQueue.length + ' waiting (paused)' : '');
  }

  function connectStream() {
    if (typeof EventSource !== 'function') {
      setTail('missing', 'not available (this browser has no EventSource)');
      return;
    }
    setTail('connecting', 'connecting…');
    es = new EventSource('/v1/violations/stream');
    es.onopen = function () { setTail('open', 'live'); };
    es.onmessage = function (ev) {
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m && typeof m === 'object') tailPush(m);
    };
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED) {
        /* Refused (404, wrong content type...): the browser will not retry by itself. */
        es.close();
        es = null;
        setTail('missing', 'not available (GET /v1/violations/stream refused); retrying in ' +
                STREAM_RETRY_MS / 1000 + ' s');
        setTimeout(connectStream, STREAM_RETRY_MS);
      } else {
        setTail('stale', 'reconnecting…');
      }
    };
  }

  $('tail-pause').addEventListener('click', function () {
    tailPaused = !tailPaused;
    this.setAttribute('aria-pressed', tailPaused ? 'true' : 'false');
    this.textContent = tailPaused ? 'Resume' : 'Pause';
    if (!tailPaused) {
      var q = tailQueue;
      tailQueue = [];
      q.forEach(function (m) { tailList.insertBefore(tailItem(m), tailList.firstChild); });
      while (tailList.children.length > TAIL_MAX) tailList.removeChild(tailList.lastChild);
    }
    tailCount();
  });

  $('tail-clear').addEventListener('click', function () {
    clear(tailList);
    tailQueue = [];
    tailCount();
  });

  /* ---- refresh loop ----------------------------------------------------------------------------- */

  var announcer = el('div', { class: 'sr-only', 'aria-live': 'polite', role: 'status' });
  document.body.appendChild(announcer);
  function announce(text) { announcer.textContent = text; }

  var inFlight = false;
  var timer = null;

  function refresh() {
    if (inFlight) return Promise.resolve();
    inFlight = true;
    $('refresh-status').textContent = 'Updating…';
    var all = [loadViolations(), loadSeries(), loadCoverage(), loadAlerts()];
    return Promise.all(all.map(function (p) { return p.catch(function () {}); }))
      .then(function () {
        renderSummary();
        var states = [violPanel, ratePanel, covPanel, alertsPanel].map(function (p) {
          return p.state.getAttribute('data-state');
        });
        var down = states.filter(function (s) { return s !== 'ok'; }).length;
        $('refresh-status').textContent = 'Updated ' + fmtClock(Date.now(), true) +
          (down ? ' (' + down + ' panel' + (down > 1 ? 's' : '') + ' without fresh data)' : '');
        document.body.setAttribute('data-refreshed', String(Date.now()));
      })
      .finally(function () { inFlight = false; });
  }

  function schedule() {
    if (timer) clearInterval(timer);
    timer = null;
    if ($('auto-refresh').checked) timer = setInterval(function () {
      if (!document.hidden) refresh();
    }, REFRESH_MS);
  }

  $('auto-refresh').addEventListener('change', schedule);
  $('refresh-now').addEventListener('click', function () { refresh(); });
  $('viol-filter').addEventListener('input', renderGroups);
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && $('auto-refresh').checked) refresh();
  });
  var resizeTimer = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { if (lastSeries) drawRate(lastSeries); }, 150);
  });

  tailCount();
  connectStream();
  refresh();
  schedule();
})();
