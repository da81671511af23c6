/**
 * Agent service endpoints (SPEC §4): register, deregister, list, one service
 * with hash blocking, maintenance, and the local health endpoints.
 */
import { createHash } from 'node:crypto';
import { parseGoDuration } from '../duration.ts';
import { badRequest, HttpError, notFound, type Req } from '../http.ts';
import { compileFilter } from '../filter.ts';
import { renderAgentService, renderCheck } from '../render.ts';
import { decodeService, type ServiceDef } from '../service-def.ts';
import { authz, type Ctx, type Route } from '../context.ts';

function sidecarPort(ctx: Ctx, parentId: string): (addr: string) => number {
  return () => {
    const existing = ctx.agent.services.get(`${parentId}-sidecar-proxy`);
    if (existing) return existing.Port;
    const used = new Set([...ctx.agent.services.values()].map((s) => s.Port));
    for (let p = 21000; p <= 21255; p++) if (!used.has(p)) return p;
    throw badRequest('Invalid SidecarService: no port available in range 21000-21255');
  };
}

async function register(req: Req, ctx: Ctx) {
  const body = await req.json();
  if (body === undefined) throw badRequest('Request decode failed: EOF');
  const id = String((body as Record<string, unknown>)?.['ID'] ?? (body as Record<string, unknown>)?.['id'] ?? (body as Record<string, unknown>)?.['Name'] ?? (body as Record<string, unknown>)?.['name'] ?? '');
  const defs = decodeService(body, { minIntervalMs: ctx.config.minCheckIntervalMs, sidecarPort: sidecarPort(ctx, id) });
  const a = authz(req, ctx);
  for (const d of defs) {
    a.require('service', d.Name, 'write');
    const dest = d.Proxy?.['DestinationServiceName'];
    if (d.Kind === 'connect-proxy' && typeof dest === 'string' && dest !== d.Name) a.require('service', dest, 'write');
  }
  const rec = req.get('replace-existing-checks');
  const replace = req.has('replace-existing-checks') && (rec === '' || rec?.toLowerCase() === 'true');
  ctx.agent.addService(defs, replace);
  return {};
}

function deregister(req: Req, ctx: Ctx) {
  const id = req.param;
  const svc = ctx.agent.services.get(id);
  if (!svc) throw notFound(`Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`);
  authz(req, ctx).require('service', svc.Name, 'write');
  ctx.agent.removeService(id);
  return {};
}

function list(req: Req, ctx: Ctx) {
  const a = authz(req, ctx);
  const pred = compileFilter(req.get('filter'));
  const out: Record<string, unknown> = {};
  let filtered = false;
  for (const d of ctx.agent.services.values()) {
    if (!a.allowed('service', d.Name, 'read')) { filtered = true; continue; }
    const r = renderAgentService(d, ctx.cluster.store.datacenter, false);
    if (pred && !pred(r)) continue;
    out[d.ID] = r;
  }
  return { body: out, ...(filtered && a.named ? { headers: { 'X-Consul-Results-Filtered-By-Acls': 'true' } } : {}) };
}

function contentHash(v: unknown): string {
  return createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 16);
}

function one(req: Req, ctx: Ctx) {
  const id = req.param;
  const current = (): Record<string, unknown> => {
    const d = ctx.agent.services.get(id);
    if (!d) throw notFound(`unknown service ID: ${id}`);
    authz(req, ctx).require('service', d.Name, 'read');
    const r = renderAgentService(d, ctx.cluster.store.datacenter, true);
    return { ...r, ContentHash: contentHash(r) };
  };
  const first = current();
  const hash = req.get('hash');
  const reply = (r: Record<string, unknown>) => ({ body: r, headers: { 'X-Consul-Contenthash': String(r['ContentHash']) } });
  if (!hash || hash !== first['ContentHash']) return reply(first);
  const w = req.get('wait');
  let waitMs = 5 * 60_000;
  if (w) {
    const ms = parseGoDuration(w);
    if (ms === undefined) throw badRequest('Invalid wait time');
    waitMs = Math.min(ms, ctx.blocking.maxWaitMs);
  }
  return new Promise<ReturnType<typeof reply>>((resolve, reject) => {
    const done = (fn: () => void): void => { clearTimeout(timer); off(); fn(); };
    const check = (force: boolean): void => {
      try {
        const r = current();
        if (force || r['ContentHash'] !== hash) done(() => resolve(reply(r)));
      } catch (e) { done(() => reject(e)); }
    };
    const off = ctx.cluster.store.onChange(() => check(false));
    const timer = setTimeout(() => check(true), waitMs);
    req.signal.addEventListener('abort', () => done(() => reject(new Error('client went away'))), { once: true });
  });
}

function maintenance(req: Req, ctx: Ctx) {
  const id = req.param;
  if (!req.has('enable')) throw badRequest('Missing value for enable');
  const v = req.get('enable')!;
  if (!['true', 'false', '1', '0'].includes(v)) throw badRequest(`Invalid value for enable: "${v}"`);
  const svc = ctx.agent.services.get(id);
  if (!svc) throw notFound(`Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`);
  authz(req, ctx).require('service', svc.Name, 'write');
  const checkId = `_service_maintenance:${id}`;
  if (v === 'true' || v === '1') {
    ctx.agent.addCheck({
      CheckID: checkId, Name: 'Service Maintenance Mode',
      Notes: req.get('reason') || 'Maintenance mode is enabled for this service, but no reason was provided. This is a default message.',
      Status: 'critical', statusGiven: true, ServiceID: id, type: 'maintenance', timeoutMs: 0, outputMaxSize: 4096, Interval: '', Timeout: '',
    });
  } else if (ctx.agent.checks.has(checkId)) {
    ctx.agent.removeCheck(checkId);
  }
  return {};
}

function aggregated(ctx: Ctx, d: ServiceDef): { status: string; code: number; checks: Record<string, unknown>[] } {
  const checks = [...ctx.agent.checks.values()].filter((c) => c.def.ServiceID === d.ID);
  let status = 'passing';
  if (checks.some((c) => c.def.CheckID.startsWith('_service_maintenance:'))) status = 'maintenance';
  else if (checks.some((c) => c.status === 'critical')) status = 'critical';
  else if (checks.some((c) => c.status === 'warning')) status = 'warning';
  const code = status === 'passing' ? 200 : status === 'warning' ? 429 : 503;
  return { status, code, checks: checks.map((c) => renderCheck(ctx.agent.checkRecord(c, false), false)) };
}

function healthById(req: Req, ctx: Ctx) {
  const d = ctx.agent.services.get(req.param);
  if (!d) throw notFound(`ServiceId ${req.param} not found`);
  authz(req, ctx).require('service', d.Name, 'read');
  const ag = aggregated(ctx, d);
  if (req.get('format') === 'text') return { status: ag.code, raw: { contentType: 'text/plain', data: ag.status } };
  return { status: ag.code, body: { AggregatedStatus: ag.status, Service: renderAgentService(d, ctx.cluster.store.datacenter, false), Checks: ag.checks } };
}

function healthByName(req: Req, ctx: Ctx) {
  const name = req.param;
  const defs = [...ctx.agent.services.values()].filter((d) => d.Name === name);
  if (defs.length === 0) throw new HttpError(404, `ServiceName ${name} Not Found`);
  authz(req, ctx).require('service', name, 'read');
  const all = defs.map((d) => ({ d, ag: aggregated(ctx, d) }));
  const rank = ['passing', 'warning', 'critical', 'maintenance'];
  const worst = all.reduce((w, x) => (rank.indexOf(x.ag.status) > rank.indexOf(w) ? x.ag.status : w), 'passing');
  const code = worst === 'passing' ? 200 : worst === 'warning' ? 429 : 503;
  if (req.get('format') === 'text') return { status: code, raw: { contentType: 'text/plain', data: worst } };
  return { status: code, body: all.map(({ d, ag }) => ({ AggregatedStatus: ag.status, Service: renderAgentService(d, ctx.cluster.store.datacenter, false), Checks: ag.checks })) };
}

export const agentServiceRoutes: Route[] = [
  { path: '/v1/agent/service/register', methods: ['PUT'], handler: register },
  { path: '/v1/agent/service/deregister/', prefix: true, methods: ['PUT'], handler: deregister },
  { path: '/v1/agent/service/maintenance/', prefix: true, methods: ['PUT'], handler: maintenance },
  { path: '/v1/agent/services', methods: ['GET'], handler: list },
  { path: '/v1/agent/service/', prefix: true, methods: ['GET'], handler: one },
  { path: '/v1/agent/health/service/id/', prefix: true, methods: ['GET'], handler: healthById },
  { path: '/v1/agent/health/service/name/', prefix: true, methods: ['GET'], handler: healthByName },
];
