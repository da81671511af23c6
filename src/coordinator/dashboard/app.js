// Dashboard controller: keeps a WebSocket to /api/v1/live (reconnecting with
// backoff), redraws the topology and the alerts list on every mesh update, and
// shows the selected service's instances from /api/v1/services/:name.
import { fmtDuration, fmtMs, fmtPct, fmtRps, healthClass, render } from './topology.js';

const $ = (id) => document.getElementById(id);
let summary = null;
let selected = null;
let detailFetchedAt = 0;
let retry = 500;

function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

function connect() {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/live`);
  ws.onopen = () => { retry = 500; setConn(true); };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type === 'mesh') update(msg.data);
  };
  ws.onclose = () => {
    setConn(false);
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 10000);
  };
  ws.onerror = () => ws.close();
}

function setConn(up) {
  const c = $('conn');
  c.textContent = up ? 'live' : 'reconnecting…';
  c.className = `conn ${up ? 'conn-up' : 'conn-down'}`;
}

function update(s) {
  summary = s;
  document.body.dataset.generatedAt = String(s.generatedAtMs);
  const t = s.totals;
  $('totals').textContent = `${t.services} services · ${t.edges} edges · ${t.agents} agents${t.staleAgents ? ` (${t.staleAgents} stale)` : ''} · ${fmtRps(t.rps)} rps`;
  const r = $('replica');
  r.textContent = `replica ${s.replica.id} · ${s.replica.sharing === 'consul' ? 'shared view' : 'local view only'}`;
  r.title = s.replica.note;
  r.className = `replica ${s.replica.sharing === 'consul' ? '' : 'replica-local'}`;
  $('empty').hidden = s.services.length > 0;
  render($('topology'), s, selected, select);
  renderAlerts(s.alerts);
  if (selected && Date.now() - detailFetchedAt > 1000) void loadDetail(selected);
}

function renderAlerts(alerts) {
  $('alert-count').textContent = String(alerts.length);
  const ul = $('alerts');
  ul.replaceChildren(...alerts.map((a) => h('li', { class: `alert ${a.severity}`, 'data-alert': a.kind },
    h('span', { class: 'alert-kind' }, a.kind.replace('_', ' ')),
    h('span', { class: 'alert-msg' }, a.message),
    h('span', { class: 'alert-since' }, `since ${fmtDuration(Date.now() - a.sinceMs)}`))));
  if (alerts.length === 0) ul.append(h('li', { class: 'alert none' }, 'No alerts.'));
}

function select(name) {
  selected = name;
  if (summary) render($('topology'), summary, selected, select);
  void loadDetail(name);
}

async function loadDetail(name) {
  detailFetchedAt = Date.now();
  const res = await fetch(`/api/v1/services/${encodeURIComponent(name)}`);
  if (name !== selected) return;
  const panel = $('detail');
  panel.hidden = false;
  if (!res.ok) {
    panel.replaceChildren(h('h2', {}, name), h('p', {}, 'This service is no longer in the mesh.'));
    return;
  }
  renderDetail(panel, await res.json());
}

function metricsCells(m) {
  if (!m || m.requests === 0) return [h('td', { colspan: 3, class: 'muted' }, 'no traffic')];
  return [h('td', {}, fmtRps(m.rps)), h('td', {}, fmtPct(m.successRate)), h('td', {}, fmtMs(m.p99Ms))];
}

function renderDetail(panel, d) {
  const s = d.service;
  // Per-instance golden metrics only when some instance measures its inbound traffic.
  const withMetrics = d.instances.some((i) => i.inbound);
  const close = h('button', { class: 'close', type: 'button', 'aria-label': 'close' }, '×');
  close.addEventListener('click', () => { selected = null; panel.hidden = true; if (summary) render($('topology'), summary, null, select); });
  const rows = d.instances.map((i) => {
    const certLeft = i.cert ? i.cert.notAfterMs - Date.now() : null;
    const endpoints = i.upstreams.flatMap((u) => {
      const bad = u.endpoints.filter((e) => e.state !== 'healthy');
      return bad.length ? [h('div', {}, h('b', {}, u.service), ' ', bad.map((e) => `${e.address}:${e.port} ${e.state.replace('_', ' ')}`).join(', '))] : [];
    });
    return h('tr', { class: `instance ${i.status}`, 'data-agent': i.agentId },
      h('td', {}, h('div', { class: 'inst-name' }, i.instance || i.agentId), h('div', { class: 'muted small' }, i.agentId)),
      h('td', {}, i.version || '–'),
      h('td', {}, h('span', { class: `pill ${i.status}` }, i.status), ' ', h('span', { class: `pill ${i.ready ? 'ready' : 'notready'}`, title: i.readinessReasons.join(', ') }, i.ready ? 'ready' : 'not ready')),
      ...(withMetrics ? metricsCells(i.inbound) : []),
      h('td', { class: certLeft !== null && certLeft < 0 ? 'bad-text' : '' }, certLeft === null ? '–' : certLeft < 0 ? 'expired' : fmtDuration(certLeft)),
      h('td', { class: 'small' }, endpoints.length ? endpoints : h('span', { class: 'muted' }, 'all healthy')));
  });
  const edgeRow = (e, other) => h('tr', {}, h('td', {}, other), ...metricsCells(e.metrics),
    h('td', {}, e.mtls), h('td', {}, `${e.breakersOpen} brk · ${e.ejected} ej · ${Math.round(e.retryBudgetRemaining * 100)}% rb`));
  panel.replaceChildren(
    h('div', { class: 'detail-head' }, h('h2', {}, s.name), close),
    h('p', { class: 'detail-sum' },
      h('span', { class: `pill ${healthClass(s.metrics, s.objective)}` }, s.metrics && s.metrics.requests ? fmtPct(s.metrics.successRate) : 'no traffic'),
      ` objective ${fmtPct(s.objective)} · ${s.up}/${s.instances} up · versions ${s.versions.join(', ') || '–'} · mTLS ${s.mtls}`),
    h('h3', {}, `Instances (${d.instances.length})`),
    d.instances.length === 0
      ? h('p', { class: 'muted' }, 'No agent reports for this service (an unmeshed or external upstream).')
      : h('table', { class: 'instances' },
        h('thead', {}, h('tr', {}, ['Instance', 'Version', 'Status', ...(withMetrics ? ['rps', 'Success', 'p99'] : []), 'Cert', 'Endpoints'].map((x) => h('th', {}, x)))),
        h('tbody', {}, rows)),
    d.outbound.length ? h('h3', {}, 'Calls') : null,
    d.outbound.length ? h('table', { class: 'edges-table' }, h('tbody', {}, d.outbound.map((e) => edgeRow(e, `→ ${e.destination}`)))) : null,
    d.inbound.length ? h('h3', {}, 'Called by') : null,
    d.inbound.length ? h('table', { class: 'edges-table' }, h('tbody', {}, d.inbound.map((e) => edgeRow(e, `← ${e.source}`)))) : null,
  );
}

let resizeTimer;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => { if (summary) render($('topology'), summary, selected, select); }, 100);
});

connect();
