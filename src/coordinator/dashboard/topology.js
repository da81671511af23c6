// Topology drawing for the dashboard: a layered left-to-right layout of
// services (callers left of callees) and an SVG rendering of nodes, edges and
// their markers. No dependencies; DOM work only in render().

const SVG = 'http://www.w3.org/2000/svg';
const NODE_W = 188;
const NODE_H = 74;
const COL_GAP = 250;
const ROW_GAP = 34;
const MARGIN = 30;
const MAX_COLS = 8;
const BACK_DIP = 90;

/**
 * Layer = longest path from a caller-less service, over the call graph with
 * its cycles cut: a depth-first walk drops every edge back into the current
 * path, the rest is a DAG ranked in topological order.
 */
export function layout(services, edges) {
  const names = services.map((s) => s.name).sort();
  const out = new Map(names.map((n) => [n, []]));
  const indeg = new Map(names.map((n) => [n, 0]));
  for (const e of edges) {
    if (e.source === e.destination || !out.has(e.source) || !out.has(e.destination)) continue;
    out.get(e.source).push(e.destination);
    indeg.set(e.destination, indeg.get(e.destination) + 1);
  }
  const state = new Map(); // 1 = on the current path, 2 = done
  const dag = new Map(names.map((n) => [n, []]));
  const order = [];
  const visit = (root) => {
    const stack = [[root, 0]];
    state.set(root, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const next = out.get(top[0])[top[1]++];
      if (next === undefined) { state.set(top[0], 2); order.push(top[0]); stack.pop(); continue; }
      if (state.get(next) === 1) continue; // back edge: cut
      dag.get(top[0]).push(next);
      if (!state.has(next)) { state.set(next, 1); stack.push([next, 0]); }
    }
  };
  // Walk from entry points first: services nobody calls, then those that send
  // more traffic than they receive (so in a cycle the caller-most end is left).
  const flow = new Map(names.map((n) => [n, 0]));
  for (const e of edges) {
    const rps = (e.metrics && e.metrics.rps) || 0;
    if (flow.has(e.source)) flow.set(e.source, flow.get(e.source) - rps - 1e-3);
    if (flow.has(e.destination)) flow.set(e.destination, flow.get(e.destination) + rps + 1e-3);
  }
  const called = (n) => (indeg.get(n) === 0 ? 0 : 1);
  const roots = [...names].sort((a, b) => called(a) - called(b) || flow.get(a) - flow.get(b) || (a < b ? -1 : 1));
  for (const n of roots) if (!state.has(n)) visit(n);
  const rank = new Map(names.map((n) => [n, 0]));
  for (const n of order.reverse()) for (const m of dag.get(n)) rank.set(m, Math.max(rank.get(m), rank.get(n) + 1));
  const cols = [];
  for (const n of names) {
    const r = rank.get(n);
    (cols[r] ??= []).push(n);
  }
  let dense = cols.filter(Boolean);
  // A long chain (a large cycle cut once) would make a strip too wide to read:
  // past MAX_COLS layers, wrap the services, still in layer order, into a grid.
  if (dense.length > MAX_COLS) {
    const flat = dense.flat();
    const per = Math.ceil(flat.length / MAX_COLS);
    dense = Array.from({ length: MAX_COLS }, (_, i) => flat.slice(i * per, (i + 1) * per)).filter((c) => c.length);
  }
  const pos = new Map();
  const rows = Math.max(1, ...dense.map((c) => c.length));
  const height = MARGIN * 2 + rows * NODE_H + (rows - 1) * ROW_GAP;
  dense.forEach((col, ci) => {
    const colH = col.length * NODE_H + (col.length - 1) * ROW_GAP;
    const top = (height - colH) / 2;
    col.forEach((n, i) => pos.set(n, { x: MARGIN + ci * (NODE_W + COL_GAP), y: top + i * (NODE_H + ROW_GAP) }));
  });
  const width = MARGIN * 2 + dense.length * NODE_W + Math.max(0, dense.length - 1) * COL_GAP;
  const col = new Map();
  dense.forEach((c, i) => c.forEach((n) => col.set(n, i)));
  const loops = edges.some((e) => col.has(e.source) && col.has(e.destination) && e.source !== e.destination && col.get(e.destination) <= col.get(e.source));
  return { pos, width: Math.max(width, 400), height: Math.max(height + (loops ? BACK_DIP + 30 : 0), 200) };
}

export function healthClass(metrics, objective) {
  if (!metrics || metrics.requests === 0) return 'idle';
  if (metrics.successRate >= objective) return 'ok';
  if (metrics.successRate >= objective - 0.05) return 'warn';
  return 'bad';
}

export const fmtPct = (x) => `${(x * 100).toFixed(x >= 0.999 && x < 1 ? 2 : 1)}%`;
export const fmtRps = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
export const fmtMs = (x) => (x >= 100 ? `${x.toFixed(0)} ms` : `${x.toFixed(1)} ms`);
export function fmtDuration(ms) {
  const s = Math.round(ms / 1000);
  if (Math.abs(s) < 120) return `${s} s`;
  if (Math.abs(s) < 7200) return `${Math.round(s / 60)} min`;
  if (Math.abs(s) < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

function el(name, attrs = {}, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function badges(parent, x, y, list) {
  let dx = 0;
  for (const b of list) {
    const w = 8 + b.text.length * 6.4;
    const g = el('g', { class: `badge-g ${b.cls}`, transform: `translate(${x + dx},${y})` });
    g.append(el('rect', { width: w, height: 16, rx: 4 }), el('text', { x: w / 2, y: 12, 'text-anchor': 'middle' }, b.text));
    if (b.title) g.append(el('title', {}, b.title));
    parent.append(g);
    dx += w + 4;
  }
  return dx;
}

function edgeBadges(e) {
  const list = [];
  list.push(e.mtls === 'off' ? { cls: 'b-plain', text: 'plain', title: 'traffic is not mTLS' }
    : e.mtls === 'mixed' ? { cls: 'b-plain', text: 'mTLS?', title: 'some instances send plaintext' }
    : e.mtls === 'on' ? { cls: 'b-tls', text: 'mTLS', title: 'mutual TLS' } : null);
  if (e.breakersOpen > 0) list.push({ cls: 'b-brk', text: `BRK ${e.breakersOpen}`, title: `${e.breakersOpen} of ${e.endpoints} endpoints with an open breaker` });
  if (e.ejected > 0) list.push({ cls: 'b-ej', text: `EJ ${e.ejected}`, title: `${e.ejected} of ${e.endpoints} endpoints ejected` });
  if (e.retryBudgetRemaining < 0.5) list.push({ cls: 'b-rb', text: `RB ${Math.round(e.retryBudgetRemaining * 100)}%`, title: `retry budget left: ${fmtPct(e.retryBudgetRemaining)} (${e.retries} retries)` });
  return list.filter(Boolean);
}

/** Draw the whole topology into `svg`; `onSelect(name)` is called when a service is clicked. */
export function render(svg, summary, selected, onSelect) {
  const { pos, width, height } = layout(summary.services, summary.edges);
  const objective = new Map(summary.services.map((s) => [s.name, s.objective]));
  svg.replaceChildren();
  // Shrink to fit the pane, but never below 70% so text stays readable; past
  // that the pane scrolls.
  const box = svg.parentElement;
  const scale = Math.max(0.7, Math.min(1, (box.clientWidth - 8) / width, (box.clientHeight - 8) / height));
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('width', String(Math.round(width * scale)));
  svg.setAttribute('height', String(Math.round(height * scale)));
  const defs = el('defs');
  for (const c of ['ok', 'warn', 'bad', 'idle']) {
    const m = el('marker', { id: `arrow-${c}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerUnits: 'userSpaceOnUse', markerWidth: 11, markerHeight: 11, orient: 'auto-start-reverse' });
    m.append(el('path', { d: 'M0,0 L10,5 L0,10 z', class: `arrowhead ${c}` }));
    defs.append(m);
  }
  svg.append(defs);

  const edgeLayer = el('g', { class: 'edges' });
  const labelLayer = el('g', { class: 'edge-labels' });
  for (const e of summary.edges) {
    const a = pos.get(e.source);
    const b = pos.get(e.destination);
    if (!a || !b) continue;
    const cls = healthClass(e.metrics, objective.get(e.destination) ?? 0.99);
    // Forward edges leave the right side and enter the left; edges to a column
    // at or left of the source (cycles, wrapped grids) loop below the nodes.
    const back = b.x <= a.x;
    const x1 = back ? a.x + NODE_W / 2 : a.x + NODE_W;
    const y1 = back ? a.y + NODE_H + 20 : a.y + NODE_H / 2;
    const x2 = back ? b.x + NODE_W / 2 : b.x;
    const y2 = back ? b.y + NODE_H + 20 : b.y + NODE_H / 2;
    const dx = Math.max(60, Math.abs(x2 - x1) / 2);
    const dip = Math.max(y1, y2) + BACK_DIP;
    const d = back
      ? `M${x1},${y1} C${x1},${dip} ${x2},${dip} ${x2},${y2}`
      : `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
    const width = e.metrics ? Math.min(7, 1.5 + Math.log10(1 + e.metrics.rps) * 1.6) : 1.5;
    const path = el('path', { d, class: `edge ${cls}${e.mtls === 'off' || e.mtls === 'mixed' ? ' plain' : ''}`, 'stroke-width': width.toFixed(1), 'marker-end': `url(#arrow-${cls})`, 'data-edge': `${e.source}>${e.destination}` });
    path.append(el('title', {}, `${e.source} → ${e.destination}`));
    edgeLayer.append(path);
    const mx = (x1 + x2) / 2;
    const my = back ? (Math.max(y1, y2) + dip * 3) / 4 + 10 : (y1 + y2) / 2;
    const text = e.metrics && e.metrics.requests > 0
      ? `${fmtRps(e.metrics.rps)} rps · ${fmtPct(e.metrics.successRate)} · p99 ${fmtMs(e.metrics.p99Ms)}`
      : 'no traffic';
    const lw = 10 + text.length * 6.1;
    const label = el('g', { class: 'edge-label', transform: `translate(${mx - lw / 2},${my - 20})`, 'data-edge-label': `${e.source}>${e.destination}` });
    label.append(el('rect', { class: 'label-bg', x: 0, y: 0, width: lw, height: 18, rx: 4 }));
    label.append(el('text', { x: lw / 2, y: 13, 'text-anchor': 'middle', class: `edge-text ${cls}` }, text));
    const bl = edgeBadges(e);
    const bw = bl.reduce((w, b) => w + 12 + b.text.length * 6.4, -4);
    badges(label, (lw - bw) / 2, 21, bl);
    labelLayer.append(label);
  }
  svg.append(edgeLayer);

  const nodeLayer = el('g', { class: 'nodes' });
  for (const s of summary.services) {
    const p = pos.get(s.name);
    const cls = healthClass(s.metrics, s.objective);
    const g = el('g', {
      class: `node ${cls}${s.name === selected ? ' selected' : ''}${s.instances === 0 ? ' external' : ''}`,
      transform: `translate(${p.x},${p.y})`, 'data-service': s.name, role: 'button', tabindex: 0,
      'aria-label': `service ${s.name}`,
    });
    g.append(el('rect', { width: NODE_W, height: NODE_H, rx: 10, class: 'node-box' }));
    g.append(el('rect', { width: 6, height: NODE_H, rx: 3, class: `node-health ${cls}` }));
    g.append(el('text', { x: 16, y: 22, class: 'node-name' }, s.name.length > 22 ? `${s.name.slice(0, 21)}…` : s.name));
    const inst = s.instances === 0 ? 'not meshed' : `${s.up}/${s.instances} up${s.stale ? ` · ${s.stale} stale` : ''}`;
    g.append(el('text', { x: 16, y: 40, class: 'node-sub' }, inst));
    const m = s.metrics && s.metrics.requests > 0 ? `${fmtRps(s.metrics.rps)} rps · ${fmtPct(s.metrics.successRate)}` : 'no traffic';
    g.append(el('text', { x: 16, y: 57, class: `node-metrics ${cls}` }, m));
    const list = [];
    if (s.instances > 0) list.push(s.mtls === 'on' ? { cls: 'b-tls', text: 'mTLS' } : s.mtls === 'unknown' ? null : { cls: 'b-plain', text: s.mtls === 'off' ? 'plain' : 'mTLS?' });
    if (s.certInRenewalWindow) list.push({ cls: 'b-cert', text: 'cert', title: 'a leaf is inside its renewal window' });
    else if (s.certExpiresAtMs) list.push({ cls: 'b-cert-ok', text: `cert ${fmtDuration(s.certExpiresAtMs - summary.generatedAtMs)}`, title: 'earliest certificate expiry' });
    if (s.alerts > 0) list.push({ cls: 'b-alert', text: `! ${s.alerts}`, title: `${s.alerts} alerts` });
    badges(g, 16, NODE_H - 6 + 8, list.filter(Boolean));
    g.addEventListener('click', () => onSelect(s.name));
    g.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); onSelect(s.name); } });
    nodeLayer.append(g);
  }
  svg.append(nodeLayer, labelLayer);
}
