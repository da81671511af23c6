/**
 * Intention endpoints (SPEC §9): list, exact (GET/PUT/DELETE), match, check.
 * Reads filter by `intention:read` on the destination; writes need `intention:write`.
 */
import { badRequest, HttpError, notFound, serverError, type Req } from '../http.ts';
import { compileFilter } from '../filter.ts';
import { field } from '../service-def.ts';
import { authz, serverRead, type Ctx, type Route } from '../context.ts';

function list(req: Req, ctx: Ctx) {
  const pred = compileFilter(req.get('filter'));
  return serverRead(req, ctx, () => {
    const a = authz(req, ctx);
    const all = ctx.cluster.intentions.list();
    const body = all.filter((i) => a.allowed('intention', i.DestinationName, 'read') && (!pred || pred(i)));
    return { index: ctx.cluster.intentions.index(), body, filtered: body.length < all.length && a.named };
  });
}

function pair(req: Req): { source: string; destination: string } {
  const source = req.get('source') ?? '';
  const destination = req.get('destination') ?? '';
  if (source === '') throw badRequest("required query parameter 'source' not set");
  if (destination === '') throw badRequest("required query parameter 'destination' not set");
  return { source, destination };
}

async function exact(req: Req, ctx: Ctx) {
  const { source, destination } = pair(req);
  const a = authz(req, ctx);
  const store = ctx.cluster.intentions;
  if (req.method === 'GET') {
    a.require('intention', destination, 'read');
    const it = store.get(source, destination);
    if (!it) throw notFound('Intention not found');
    return { body: it, meta: { index: store.index() } };
  }
  a.require('intention', destination, 'write');
  if (req.method === 'DELETE') { store.delete(source, destination); return { body: true }; }
  const body = await req.json();
  if (body === undefined) throw badRequest('Request decode failed: EOF');
  const action = String(field(body, 'Action') ?? '');
  const perms = field(body, 'Permissions');
  if (!(Array.isArray(perms) && perms.length > 0) && action !== 'allow' && action !== 'deny') {
    throw new HttpError(500, `Intention action must be set to 'allow' or 'deny'`);
  }
  store.upsert(source, destination, {
    Action: action, Description: String(field(body, 'Description') ?? ''),
    ...(Array.isArray(perms) ? { Permissions: perms } : {}),
    ...(field(body, 'Meta') ? { Meta: field(body, 'Meta') as Record<string, string> } : {}),
  });
  return { body: true };
}

function match(req: Req, ctx: Ctx) {
  const by = req.get('by');
  if (by === undefined || by === '') throw serverError("required query parameter 'by' not set");
  if (by !== 'source' && by !== 'destination') throw serverError("'by' parameter must be one of 'source' or 'destination'");
  const names = req.query.getAll('name');
  if (names.length === 0) throw serverError("required query parameter 'name' not set");
  return serverRead(req, ctx, () => {
    const a = authz(req, ctx);
    const body: Record<string, unknown> = {};
    for (const n of names) body[n] = ctx.cluster.intentions.match(by, n).filter((i) => a.allowed('intention', i.DestinationName, 'read'));
    return { index: ctx.cluster.intentions.index(), body };
  });
}

function check(req: Req, ctx: Ctx) {
  const { source, destination } = pair(req);
  authz(req, ctx).require('intention', destination, 'read');
  const it = ctx.cluster.intentions.decide(source, destination);
  const acl = ctx.cluster.acl;
  const def = ctx.cluster.defaultIntentionPolicy ?? (!acl.enabled || acl.defaultPolicy === 'allow' ? 'allow' : 'deny');
  return { body: { Allowed: it ? (it.Permissions ? false : it.Action === 'allow') : def === 'allow' } };
}

export const intentionRoutes: Route[] = [
  { path: '/v1/connect/intentions', methods: ['GET'], handler: list },
  { path: '/v1/connect/intentions/exact', methods: ['GET', 'PUT', 'DELETE'], handler: exact },
  { path: '/v1/connect/intentions/match', methods: ['GET'], handler: match },
  { path: '/v1/connect/intentions/check', methods: ['GET'], handler: check },
];
