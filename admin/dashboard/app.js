// The accelerator dashboard: polls caches.json and renders each cache. No library,
// no build step; every text is set with textContent.
'use strict';

const POLL_MS = 2000;
const WINDOW_MS = 10 * 60 * 1000;
const SVG = 'http://www.w3.org/2000/svg';
// The counters that count failures, shown per second.
const ERRORS = [
  ['remote_errors', 'remote call failed'], ['remote_rejected', 'rejected by breaker'],
  ['decode_errors', 'decode'], ['load_errors', 'load failed'], ['load_timeouts', 'load timeout'],
  ['load_panics', 'load panic'], ['publish_failures', 'publish failed'], ['receive_failures', 'subscription broken'],
];

const history = new Map(); // position/area -> [{t, counters}]
const cards = new Map(); // position/area -> section
let lastDoc = null;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function setStatus(text, bad) {
  const s = document.getElementById('status');
  s.textContent = text;
  s.classList.toggle('error', !!bad);
}

async function poll() {
  try {
    const res = await fetch('caches.json?probe=0', { cache: 'no-store' });
    if (!res.ok) throw new Error(res.status + ' ' + res.statusText);
    const doc = await res.json();
    render(doc, true);
    setStatus('updated ' + new Date(doc.taken_at).toLocaleTimeString() + ' · schema ' + doc.schema_version);
  } catch (e) {
    setStatus('cannot read caches.json: ' + e.message, true);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

// render draws doc; record adds it to the history first (a redraw after a resize
// does not).
function render(doc, record) {
  lastDoc = doc;
  const t = Date.parse(doc.taken_at);
  const main = document.getElementById('caches');
  doc.caches.forEach((c, i) => {
    // Two caches may share an area: the position tells them apart.
    const id = i + '/' + c.area;
    let h = history.get(id);
    if (!h) history.set(id, h = []);
    if (record) h.push({ t, counters: c.metrics.counters });
    while (h.length > 2 && h[0].t < t - WINDOW_MS) h.shift();
    let card = cards.get(id);
    if (!card) {
      card = el('section', { class: 'cache', 'data-area': c.area });
      cards.set(id, card);
      main.append(card);
    }
    const open = card.querySelector('details')?.open;
    // The chart is drawn at the card's width, so that its text keeps its size on a phone.
    const width = Math.min(900, Math.max(280, (card.clientWidth || 600) - 34));
    card.replaceChildren(...renderCache(c, h, width));
    if (open) card.querySelector('details').open = true;
  });
  if (doc.caches.length === 0) main.replaceChildren(el('p', { class: 'empty' }, 'No cache is served.'));
}

// rate returns the per-second rate of the counters named over the last interval.
function rate(h, ...names) {
  if (h.length < 2) return 0;
  const a = h[h.length - 2], b = h[h.length - 1];
  const dt = (b.t - a.t) / 1000;
  if (dt <= 0) return 0;
  let d = 0;
  for (const n of names) d += (b.counters[n] || 0) - (a.counters[n] || 0);
  return Math.max(0, d) / dt;
}

function fmtRate(v) { return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2); }
function fmtPct(v) { return (100 * v).toFixed(1) + '%'; }
function fmtTime(s) { return s ? new Date(s).toLocaleTimeString() : '—'; }

function tile(label, value, path) {
  const v = el('div', { class: 'value' }, String(value));
  if (path) v.setAttribute('data-path', path);
  return el('div', { class: 'tile' }, el('div', { class: 'label' }, label), v);
}

function badge(text, level) { return el('span', { class: 'badge ' + level }, text); }

function renderCache(c, h, width) {
  const m = c.metrics, d = c.diagnostics, k = m.counters;
  const remoteLevel = { ready: 'ok', unknown: 'off', disabled: 'off', failing: 'warn', unavailable: 'bad' }[d.remote.state] || 'off';
  const breakerLevel = { closed: 'ok', 'half-open': 'warn', open: 'bad' }[d.remote.breaker] || 'off';
  const subLevel = { subscribed: 'ok', disconnected: 'bad' }[d.invalidation.state] || 'off';
  const title = el('h2', {}, c.area, el('span', { class: 'mode' }, d.mode),
    badge('redis ' + d.remote.state, remoteLevel), badge('breaker ' + d.remote.breaker, breakerLevel),
    badge('invalidation ' + d.invalidation.state, subLevel));

  const out = [title, chart(h, d, width), legend(d)];
  out.push(el('div', { class: 'tiles' },
    tile('L1 hit ratio (interval)', ratioText(h, 'local_hits', 'local_misses')),
    tile('L2 hit ratio (interval)', d.remote.enabled ? ratioText(h, 'remote_hits', 'remote_misses') : '—'),
    tile('loader calls/s', fmtRate(rate(h, 'loads', 'm_loads'))),
    tile('keys loaded/s', fmtRate(rate(h, 'loaded_keys'))),
    tile('errors/s', fmtRate(rate(h, ...ERRORS.map(e => e[0])))),
    tile('L1 entries', d.local.entries, 'diagnostics.local.entries'),
    tile('L1 weight', d.local.weight, 'diagnostics.local.weight'),
    tile('loads in flight', d.loads.in_flight, 'diagnostics.loads.in_flight'),
    tile('refresh backoffs', d.loads.refresh_backoffs, 'diagnostics.loads.refresh_backoffs'),
    tile('loader calls', k.loads + k.m_loads),
    tile('L1 hit ratio (total)', fmtPct(m.local_hit_ratio)),
    tile('L2 hit ratio (total)', d.remote.enabled ? fmtPct(m.remote_hit_ratio) : '—'),
  ));

  const errRows = ERRORS.map(([n, label]) => el('tr', {}, el('td', {}, label),
    el('td', { class: 'num' }, fmtRate(rate(h, n))), el('td', { class: 'num', 'data-path': 'metrics.counters.' + n }, String(k[n]))));
  const errTable = el('table', {}, el('tr', {}, el('th', {}, 'kind'), el('th', { class: 'num' }, 'per s'), el('th', { class: 'num' }, 'total')), ...errRows);

  const remote = el('table', {},
    row('state', d.remote.state), row('breaker', d.remote.breaker),
    row('breaker opens', k.breaker_opens, 'metrics.counters.breaker_opens'),
    row('last success', fmtTime(d.remote.last_success)), row('last failure', fmtTime(d.remote.last_failure)),
    row('backend', d.remote.backend || '—'));

  const flushes = Object.entries(d.invalidation.flushes || {}).sort();
  const inv = el('table', {},
    row('state', d.invalidation.state), row('since', fmtTime(d.invalidation.since)),
    row('reconnects', d.invalidation.reconnects, 'diagnostics.invalidation.reconnects'),
    row('messages in/out', k.invalidations_received + ' / ' + k.invalidations_published),
    ...flushes.map(([reason, n]) => row('L1 flushes: ' + reason, n, 'diagnostics.invalidation.flushes.' + reason)));

  out.push(el('div', { class: 'cols' },
    el('div', {}, el('h3', {}, 'Errors by kind'), errTable),
    el('div', {}, el('h3', {}, 'Redis'), remote, el('h3', {}, 'Invalidation'), inv)));

  out.push(el('h3', {}, 'Last error of each kind'));
  if (!d.last_errors.length) {
    out.push(el('p', { class: 'empty' }, 'none since the cache started'));
  } else {
    out.push(el('table', {}, el('tr', {}, el('th', {}, 'kind'), el('th', {}, 'error kind'), el('th', { class: 'num' }, 'count'), el('th', {}, 'last')),
      ...d.last_errors.map((e, i) => el('tr', {}, el('td', {}, e.kind), el('td', {}, e.error_kind),
        el('td', { class: 'num', 'data-path': 'diagnostics.last_errors.' + i + '.count' }, String(e.count)), el('td', {}, fmtTime(e.last_at))))));
  }

  const counters = Object.keys(k).sort().map(n => row(n, k[n], 'metrics.counters.' + n));
  const det = el('details', {}, el('summary', {}, 'All counters'), el('table', {}, ...counters));
  out.push(det);
  return out;
}

function row(label, value, path) {
  const v = el('td', { class: 'num' }, String(value));
  if (path) v.setAttribute('data-path', path);
  return el('tr', {}, el('td', {}, label), v);
}

function ratioText(h, hits, misses) {
  if (h.length < 2) return '—';
  const a = h[h.length - 2].counters, b = h[h.length - 1].counters;
  const dh = b[hits] - a[hits], dm = b[misses] - a[misses];
  return dh + dm > 0 ? fmtPct(dh / (dh + dm)) : '—';
}

function legend(d) {
  const items = [el('span', {}, el('span', { class: 'sw l1' }), 'L1 hit ratio')];
  if (d.remote.enabled) items.push(el('span', {}, el('span', { class: 'sw l2' }), 'L2 hit ratio'));
  return el('div', { class: 'legend' }, ...items);
}

// chart draws the hit ratio of each layer per poll interval over the window.
function chart(h, d, W) {
  const H = 170, L = 40, R = 8, T = 8, B = 22;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'hit ratio per layer over the last minutes');
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
  const now = h.length ? h[h.length - 1].t : Date.now();
  // The x axis spans the history this page has, from one minute up to the window.
  const span = Math.min(WINDOW_MS, Math.max(60000, h.length ? now - h[0].t : 0));
  const x = t => L + (W - L - R) * (1 - (now - t) / span);
  const y = v => T + (H - T - B) * (1 - v);
  for (const v of [0, 0.5, 1]) {
    add('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) });
    add('text', { class: 'axis', x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, (v * 100) + '%');
  }
  const ago = ms => ms >= 120000 ? '−' + Math.round(ms / 60000) + ' min' : '−' + Math.round(ms / 1000) + ' s';
  add('text', { class: 'axis', x: L, y: H - 6, 'text-anchor': 'start' }, ago(span));
  add('text', { class: 'axis', x: x(now - span / 2), y: H - 6, 'text-anchor': 'middle' }, ago(span / 2));
  add('text', { class: 'axis', x: W - R, y: H - 6, 'text-anchor': 'end' }, 'now');
  const series = [['l1', 'local_hits', 'local_misses']];
  if (d.remote.enabled) series.push(['l2', 'remote_hits', 'remote_misses']);
  for (const [cls, hits, misses] of series) {
    let p = '', pen = 'M';
    for (let i = 1; i < h.length; i++) {
      const a = h[i - 1].counters, b = h[i].counters;
      const dh = b[hits] - a[hits], dm = b[misses] - a[misses];
      if (dh + dm <= 0) { pen = 'M'; continue; }
      p += `${pen}${x(h[i].t).toFixed(1)} ${y(dh / (dh + dm)).toFixed(1)} `;
      pen = 'L';
    }
    if (p) add('path', { class: cls, d: p.trim() });
  }
  return svg;
}

let resizeTimer;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => lastDoc && render(lastDoc, false), 150);
});

poll();
