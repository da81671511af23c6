/**
 * Health endpoints (SPEC §7): /v1/health/service/:s and /v1/health/connect/:s
 * (blocking, `passing`, `tag`, `filter`, `node-meta`, `near`, `cached`),
 * /v1/health/checks/:s, /v1/health/state/:state, /v1/health/node/:node.
 * Rows the token cannot read are dropped, not 403'd.
 */
import { badRequest, boolParam, type Req } from '../http.ts';
import { compileFilter } from '../filter.ts';
import { renderCheck, renderHealthEntry } from '../render.ts';
import { authz, serverRead, type Ctx, type Route } from '../context.ts';
import type { CheckRecord, ServiceRecord } from '../types.ts';

function nodeMetaFilter(req: Req): Array<[string, string]> {
  return req.query.getAll('node-meta').map((kv) => {
    const i = kv.indexOf(':');
    return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)];
  });
}

const byNodeThenId = (a: ServiceRecord, b: ServiceRecord): number =>
  a.Node < b.Node ? -1 : a.Node > b.Node ? 1 : a.ID < b.ID ? -1 : a.ID > b.ID ? 1 : 0;

const serviceHealth = (connect: boolean) => (req: Req, ctx: Ctx) => {
  const name = req.param;
  if (name === '') throw badRequest('Missing service name');
  const passing = boolParam(req, 'passing', 'Invalid value for ?passing') ?? false;
  const tags = req.query.getAll('tag');
  const pred = compileFilter(req.get('filter'));
  const meta = nodeMetaFilter(req);
  const cached = req.has('cached');
  return serverRead(req, ctx, () => {
    const { store } = ctx.cluster;
    const a = authz(req, ctx);
    const instances = (connect ? store.connectInstances(name) : store.serviceInstances(name)).sort(byNodeThenId);
    const index = store.maxIndex([connect ? `connect:${name}` : `svc:${name}`], ['nodes', 'services']);
    let filtered = false;
    const body: unknown[] = [];
    for (const s of instances) {
      const node = store.nodes.get(s.Node);
      if (!node) continue;
      if (!a.allowed('service', s.Service, 'read') || !a.allowed('node', s.Node, 'read')) { filtered = true; continue; }
      const checks = store.checksFor(s);
      if (passing && checks.some((c) => c.Status !== 'passing')) continue;
      if (tags.some((t) => !(s.Tags ?? []).includes(t))) continue;
      if (meta.some(([k, v]) => node.Meta[k] !== v)) continue;
      const entry = renderHealthEntry(node, s, checks);
      if (pred && !pred(entry)) continue;
      body.push(entry);
    }
    return { index, body, filtered: filtered && a.named, ...(cached ? { headers: { 'X-Cache': 'MISS' } } : {}) };
  });
};

function checksOf(req: Req, ctx: Ctx) {
  const name = req.param;
  if (name === '') throw badRequest('Missing service name');
  const pred = compileFilter(req.get('filter'));
  return serverRead(req, ctx, () => {
    const { store } = ctx.cluster;
    const a = authz(req, ctx);
    const out: unknown[] = [];
    let filtered = false;
    for (const m of store.checks.values()) {
      for (const c of m.values()) {
        if (c.ServiceName !== name) continue;
        if (!a.allowed('service', name, 'read') || !a.allowed('node', c.Node, 'read')) { filtered = true; continue; }
        const r = renderCheck(c);
        if (!pred || pred(r)) out.push(r);
      }
    }
    return { index: store.maxIndex([`svc:${name}`], ['nodes', 'services']), body: out, filtered: filtered && a.named };
  });
}

function visibleChecks(req: Req, ctx: Ctx, keep: (c: CheckRecord) => boolean): { out: unknown[]; filtered: boolean } {
  const a = authz(req, ctx);
  const pred = compileFilter(req.get('filter'));
  const out: unknown[] = [];
  let filtered = false;
  for (const m of ctx.cluster.store.checks.values()) {
    for (const c of m.values()) {
      if (!keep(c)) continue;
      const ok = c.ServiceID === '' ? a.allowed('node', c.Node, 'read') : a.allowed('service', c.ServiceName, 'read') && a.allowed('node', c.Node, 'read');
      if (!ok) { filtered = true; continue; }
      const r = renderCheck(c);
      if (!pred || pred(r)) out.push(r);
    }
  }
  return { out, filtered: filtered && a.named };
}

function state(req: Req, ctx: Ctx) {
  const s = req.param;
  if (s === '') throw badRequest('Missing check state');
  if (!['any', 'passing', 'warning', 'critical'].includes(s)) throw badRequest(`Invalid check state: '${s}'`);
  return serverRead(req, ctx, () => {
    const { out, filtered } = visibleChecks(req, ctx, (c) => s === 'any' || c.Status === s);
    return { index: ctx.cluster.store.maxIndex(['checks']), body: out, filtered };
  });
}

function node(req: Req, ctx: Ctx) {
  const n = req.param;
  if (n === '') throw badRequest('Missing node name');
  return serverRead(req, ctx, () => {
    const { out, filtered } = visibleChecks(req, ctx, (c) => c.Node === n);
    return { index: ctx.cluster.store.maxIndex(['checks', 'nodes']), body: out, filtered };
  });
}

export const healthRoutes: Route[] = [
  { path: '/v1/health/service/', prefix: true, methods: ['GET'], handler: serviceHealth(false) },
  { path: '/v1/health/connect/', prefix: true, methods: ['GET'], handler: serviceHealth(true) },
  { path: '/v1/health/checks/', prefix: true, methods: ['GET'], handler: checksOf },
  { path: '/v1/health/state/', prefix: true, methods: ['GET'], handler: state },
  { path: '/v1/health/node/', prefix: true, methods: ['GET'], handler: node },
];
