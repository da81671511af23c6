/**
 * Connect endpoints (SPEC §8): CA roots (server and agent-cached), leaf
 * certificates (blocking on renewal/rotation), and authorize.
 */
import { badRequest, type Req } from '../http.ts';
import { describe } from '../intentions.ts';
import { field } from '../service-def.ts';
import { authz, serverRead, type Ctx, type Route } from '../context.ts';

function roots(agentCache: boolean) {
  return (req: Req, ctx: Ctx) => serverRead(req, ctx, () => ({
    index: ctx.cluster.ca.index(), body: ctx.cluster.ca.body(), ...(agentCache ? { headers: { 'X-Cache': 'MISS' } } : {}),
  }), { agentCache }).then((reply) => {
    if (agentCache || req.get('pem') !== 'true') return reply;
    const pem = ctx.cluster.ca.roots.flatMap((r) => [r.RootCert, ...(r.IntermediateCerts ?? [])]).join('');
    return { ...reply, body: undefined, raw: { contentType: 'application/pem-certificate-chain', data: pem } };
  });
}

function leaf(req: Req, ctx: Ctx) {
  const svc = req.param;
  if (svc === '') throw badRequest('Missing service name');
  authz(req, ctx).require('service', svc, 'write');
  return serverRead(req, ctx, () => {
    const { leaf: l, hit } = ctx.leaves.get(svc);
    const { rootId: _r, notAfterMs: _n, renewAtMs: _a, ...wire } = l;
    const headers: Record<string, string> = { 'X-Cache': hit ? 'HIT' : 'MISS' };
    if (hit) headers['Age'] = String(Math.round((Date.now() - Date.parse(l.ValidAfter) - 60_000) / 1000));
    return { index: l.ModifyIndex, body: wire, headers };
  }, { agentCache: true });
}

/** Parse a SPIFFE URI the way agent/connect/uri.go does. */
function serviceOfUri(uri: string): string {
  let u: URL;
  try { u = new URL(uri); } catch { throw badRequest('ClientCertURI not a valid Connect identifier'); }
  if (u.protocol !== 'spiffe:') throw badRequest('ClientCertURI not a valid Connect identifier');
  const parts = u.pathname.split('/').map((p) => decodeURIComponent(p));
  const m = /^\/ns\/([^/]+)\/dc\/([^/]+)\/svc\/([^/]+)$/.exec(parts.join('/')) ?? /^\/ap\/[^/]+\/ns\/([^/]+)\/dc\/([^/]+)\/svc\/([^/]+)$/.exec(parts.join('/'));
  if (m) return m[3]!;
  if (/^\/agent\/(client|server)\//.test(u.pathname) || /^\/gateway\//.test(u.pathname)) throw badRequest('ClientCertURI not a valid Service identifier');
  throw badRequest('ClientCertURI not a valid Connect identifier');
}

async function authorize(req: Req, ctx: Ctx) {
  const body = await req.json();
  if (body === undefined) throw badRequest('Request decode failed: EOF');
  const target = String(field(body, 'Target') ?? '');
  if (target === '') throw badRequest('Target service must be specified');
  const source = serviceOfUri(String(field(body, 'ClientCertURI') ?? ''));
  authz(req, ctx).require('service', target, 'write');
  const { cluster } = ctx;
  const it = cluster.intentions.decide(source, target);
  let out: { Authorized: boolean; Reason: string };
  if (it && it.Permissions) out = { Authorized: false, Reason: `Matched L7 intention: ${describe(it)}` };
  else if (it) out = { Authorized: it.Action === 'allow', Reason: `Matched L4 intention: ${describe(it)}` };
  else if (cluster.defaultIntentionPolicy) out = { Authorized: cluster.defaultIntentionPolicy === 'allow', Reason: 'Default intention policy' };
  else out = { Authorized: !cluster.acl.enabled || cluster.acl.defaultPolicy === 'allow', Reason: 'Default behavior configured by ACLs' };
  return { body: out, headers: { 'X-Cache': 'MISS' } };
}

export const connectRoutes: Route[] = [
  { path: '/v1/connect/ca/roots', methods: ['GET'], handler: roots(false) },
  { path: '/v1/agent/connect/ca/roots', methods: ['GET'], handler: roots(true) },
  { path: '/v1/agent/connect/ca/leaf/', prefix: true, methods: ['GET'], handler: leaf },
  { path: '/v1/agent/connect/authorize', methods: ['POST'], handler: authorize },
];
