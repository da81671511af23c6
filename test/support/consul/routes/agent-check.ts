/**
 * Agent check endpoints (SPEC §5): TTL updates (pass/warn/fail/update),
 * register/deregister, and the local check list.
 */
import { badRequest, type Req } from '../http.ts';
import { compileFilter } from '../filter.ts';
import { renderCheck } from '../render.ts';
import { decodeCheck, field } from '../service-def.ts';
import { unknownCheck } from '../agent-state.ts';
import { authz, type Ctx, type Route } from '../context.ts';
import { CHECK_STATUSES, type CheckStatus } from '../types.ts';

/** service:write on the check's service, node:write for node-level checks. */
function requireCheckWrite(req: Req, ctx: Ctx, id: string): void {
  const c = ctx.agent.checks.get(id);
  if (!c) throw unknownCheck(id);
  const a = authz(req, ctx);
  if (c.def.ServiceID === '') a.require('node', ctx.config.nodeName, 'write');
  else a.require('service', ctx.agent.services.get(c.def.ServiceID)?.Name ?? c.def.ServiceID, 'write');
}

const ttl = (status: CheckStatus) => (req: Req, ctx: Ctx) => {
  requireCheckWrite(req, ctx, req.param);
  ctx.agent.updateTtl(req.param, status, req.get('note') ?? '');
  return {};
};

async function update(req: Req, ctx: Ctx) {
  const body = await req.json();
  if (body === undefined) throw badRequest('Request decode failed: EOF');
  const status = String(field(body, 'Status') ?? '');
  if (!CHECK_STATUSES.includes(status)) throw badRequest(`Invalid check status: '${status}'`);
  requireCheckWrite(req, ctx, req.param);
  ctx.agent.updateTtl(req.param, status as CheckStatus, String(field(body, 'Output') ?? ''));
  return {};
}

async function register(req: Req, ctx: Ctx) {
  const body = await req.json();
  if (body === undefined) throw badRequest('Request decode failed: EOF');
  const def = decodeCheck(body, undefined, { minIntervalMs: ctx.config.minCheckIntervalMs });
  const a = authz(req, ctx);
  if (def.ServiceID === '') a.require('node', ctx.config.nodeName, 'write');
  else a.require('service', ctx.agent.services.get(def.ServiceID)?.Name ?? def.ServiceID, 'write');
  ctx.agent.addCheck(def);
  return {};
}

function deregister(req: Req, ctx: Ctx) {
  requireCheckWrite(req, ctx, req.param);
  ctx.agent.removeCheck(req.param);
  return {};
}

function list(req: Req, ctx: Ctx) {
  const a = authz(req, ctx);
  const pred = compileFilter(req.get('filter'));
  const out: Record<string, unknown> = {};
  let filtered = false;
  for (const c of ctx.agent.checks.values()) {
    const svc = c.def.ServiceID ? ctx.agent.services.get(c.def.ServiceID) : undefined;
    const ok = svc ? a.allowed('service', svc.Name, 'read') : a.allowed('node', ctx.config.nodeName, 'read');
    if (!ok) { filtered = true; continue; }
    const r = renderCheck(ctx.agent.checkRecord(c, false), false);
    delete r['Namespace'];
    if (pred && !pred(r)) continue;
    out[c.def.CheckID] = r;
  }
  return { body: out, ...(filtered && a.named ? { headers: { 'X-Consul-Results-Filtered-By-Acls': 'true' } } : {}) };
}

export const agentCheckRoutes: Route[] = [
  { path: '/v1/agent/check/pass/', prefix: true, methods: ['PUT'], handler: ttl('passing') },
  { path: '/v1/agent/check/warn/', prefix: true, methods: ['PUT'], handler: ttl('warning') },
  { path: '/v1/agent/check/fail/', prefix: true, methods: ['PUT'], handler: ttl('critical') },
  { path: '/v1/agent/check/update/', prefix: true, methods: ['PUT'], handler: update },
  { path: '/v1/agent/check/register', methods: ['PUT'], handler: register },
  { path: '/v1/agent/check/deregister/', prefix: true, methods: ['PUT'], handler: deregister },
  { path: '/v1/agent/checks', methods: ['GET'], handler: list },
];
