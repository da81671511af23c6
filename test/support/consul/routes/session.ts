/**
 * Session endpoints (SPEC §12): create, renew, destroy, info, list, node.
 * Writes need `session:write` on the node; reads filter by `session:read`.
 */
import { badRequest, type Req } from '../http.ts';
import { field } from '../service-def.ts';
import { authz, serverRead, type Ctx, type Route } from '../context.ts';

async function create(req: Req, ctx: Ctx) {
  const body = (await req.json()) ?? {};
  const node = String(field(body, 'Node') || ctx.config.nodeName);
  authz(req, ctx).require('session', node, 'write');
  return { body: { ID: ctx.cluster.sessions.create(body, ctx.config.nodeName) } };
}

function renew(req: Req, ctx: Ctx) {
  if (req.param === '') throw badRequest('Missing session');
  const s = ctx.cluster.sessions.get(req.param);
  if (s) authz(req, ctx).require('session', s.Node, 'write');
  return { body: ctx.cluster.sessions.renew(req.param) };
}

function destroy(req: Req, ctx: Ctx) {
  if (req.param === '') throw badRequest('Missing session');
  const s = ctx.cluster.sessions.get(req.param);
  if (s) authz(req, ctx).require('session', s.Node, 'write');
  ctx.cluster.sessions.destroy(req.param);
  return { body: true };
}

const read = (pick: (req: Req, ctx: Ctx) => ReturnType<Ctx['cluster']['sessions']['list']>) => (req: Req, ctx: Ctx) =>
  serverRead(req, ctx, () => {
    const a = authz(req, ctx);
    const body = pick(req, ctx).filter((s) => a.allowed('session', s.Node, 'read'));
    return { index: ctx.cluster.sessions.index(), body };
  });

export const sessionRoutes: Route[] = [
  { path: '/v1/session/create', methods: ['PUT'], handler: create },
  { path: '/v1/session/renew/', prefix: true, methods: ['PUT'], handler: renew },
  { path: '/v1/session/destroy/', prefix: true, methods: ['PUT'], handler: destroy },
  { path: '/v1/session/info/', prefix: true, methods: ['GET'], handler: read((req, ctx) => { const s = ctx.cluster.sessions.get(req.param); return s ? [s] : []; }) },
  { path: '/v1/session/list', methods: ['GET'], handler: read((_req, ctx) => ctx.cluster.sessions.list()) },
  { path: '/v1/session/node/', prefix: true, methods: ['GET'], handler: read((req, ctx) => ctx.cluster.sessions.list().filter((s) => s.Node === req.param)) },
];
