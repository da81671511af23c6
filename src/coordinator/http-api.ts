/**
 * The coordinator's HTTP side: the JSON API, /metrics, the dashboard's static
 * files and its WebSocket (/api/v1/live), from one declarative route table.
 * Routes that change state (policy, certificate rotation) are accepted only
 * from loopback peers.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Asset, dashboardCsp } from './dashboard-assets.ts';
import type { DirectiveHub } from './directives.ts';
import type { LiveHub } from './live-hub.ts';
import type { MeshState } from './mesh-state.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import { summaryOf } from './aggregate.ts';
import { parsePolicy, policyToJson } from './policy.ts';

export interface HttpApiDeps {
  readonly state: MeshState;
  readonly directives: DirectiveHub;
  readonly metrics: CoordinatorMetrics;
  readonly live: LiveHub;
  readonly assets: ReadonlyMap<string, Asset>;
}

interface Ctx {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly params: Record<string, string>;
  readonly deps: HttpApiDeps;
}

interface Route {
  readonly method: 'GET' | 'PUT' | 'POST';
  readonly path: string;
  readonly help: string;
  readonly mutates: boolean;
  readonly handle: (c: Ctx) => void | Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(s), 'cache-control': 'no-store' });
  res.end(s);
}

async function readJson(req: IncomingMessage, limit = 1 << 20): Promise<unknown> {
  let size = 0;
  const parts: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new TypeError('body too large');
    parts.push(c as Buffer);
  }
  return JSON.parse(Buffer.concat(parts).toString('utf8') || '{}');
}

const routes: readonly Route[] = [
  { method: 'GET', path: '/api/v1/mesh', help: 'Services, edges, alerts and totals', mutates: false,
    handle: ({ res, deps }) => json(res, 200, summaryOf(deps.state.view())) },
  { method: 'GET', path: '/api/v1/services/:name', help: 'One service with its instances and edges', mutates: false,
    handle: ({ res, params, deps }) => {
      const v = deps.state.view();
      const service = v.services.find((s) => s.name === params.name);
      if (!service) return json(res, 404, { error: 'not_found', detail: `no service '${params.name}'` });
      json(res, 200, {
        service,
        instances: v.instances.get(service.name) ?? [],
        outbound: v.edges.filter((e) => e.source === service.name),
        inbound: v.edges.filter((e) => e.destination === service.name),
        alerts: v.alerts.filter((a) => a.service === service.name),
      });
    } },
  { method: 'GET', path: '/api/v1/agents/:id', help: 'One agent as last reported', mutates: false,
    handle: ({ res, params, deps }) => {
      const v = deps.state.view();
      for (const [service, list] of v.instances) {
        const instance = list.find((i) => i.agentId === params.id);
        if (instance) return json(res, 200, { service, ...instance, alerts: v.alerts.filter((a) => a.agentId === instance.agentId) });
      }
      json(res, 404, { error: 'not_found', detail: `no agent '${params.id}'` });
    } },
  { method: 'GET', path: '/api/v1/alerts', help: 'Alerts firing now', mutates: false,
    handle: ({ res, deps }) => json(res, 200, { alerts: deps.state.view().alerts }) },
  { method: 'GET', path: '/api/v1/policy', help: 'The authorization and rate-limit policy pushed to agents', mutates: false,
    handle: ({ res, deps }) => json(res, 200, { version: deps.directives.version, policy: policyToJson(deps.directives.policy()) }) },
  { method: 'PUT', path: '/api/v1/policy', help: 'Replace the policy and push it to every agent (loopback only)', mutates: true,
    handle: async ({ req, res, deps }) => {
      const policy = parsePolicy(await readJson(req), 'body');
      const reached = deps.directives.setPolicy(policy);
      json(res, 200, { version: deps.directives.version, reached });
    } },
  { method: 'POST', path: '/api/v1/agents/:id/rotate-certificate', help: 'Ask one agent to renew its certificate now (loopback only)', mutates: true,
    handle: ({ res, params, deps }) => json(res, 200, { reached: deps.directives.rotateCertificate({ agentId: params.id }, 'requested via API') }) },
  { method: 'POST', path: '/api/v1/services/:name/rotate-certificate', help: 'Ask every agent of a service to renew now (loopback only)', mutates: true,
    handle: ({ res, params, deps }) => json(res, 200, { reached: deps.directives.rotateCertificate({ service: params.name }, 'requested via API') }) },
  { method: 'GET', path: '/metrics', help: 'Prometheus metrics: mesh aggregates and coordinator counters', mutates: false,
    handle: async ({ res, deps }) => {
      const body = await deps.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
      res.end(body);
    } },
  { method: 'GET', path: '/healthz', help: 'Liveness of the coordinator process', mutates: false,
    handle: ({ res }) => json(res, 200, { ok: true }) },
  { method: 'GET', path: '/api/v1', help: 'This route table', mutates: false,
    handle: ({ res }) => json(res, 200, { routes: routes.map((r) => ({ method: r.method, path: r.path, help: r.help, mutates: r.mutates })), live: '/api/v1/live (WebSocket)' }) },
];

function match(pattern: string, path: string): Record<string, string> | undefined {
  const p = pattern.split('/');
  const s = path.split('/');
  if (p.length !== s.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i]!.startsWith(':')) {
      if (s[i] === '') return undefined;
      try { params[p[i]!.slice(1)] = decodeURIComponent(s[i]!); } catch { return undefined; }
    } else if (p[i] !== s[i]) return undefined;
  }
  return params;
}

const isLoopback = (a: string | undefined): boolean =>
  a !== undefined && (a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.'));

async function dispatch(req: IncomingMessage, res: ServerResponse, deps: HttpApiDeps): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const asset = req.method === 'GET' || req.method === 'HEAD' ? deps.assets.get(path) : undefined;
  if (asset) {
    res.writeHead(200, {
      'content-type': asset.type, 'content-length': asset.body.length, 'cache-control': 'no-cache',
      'content-security-policy': dashboardCsp, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer',
    });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
    return;
  }
  const allowed: string[] = [];
  for (const r of routes) {
    const params = match(r.path, path);
    if (!params) continue;
    if (r.method !== req.method) { allowed.push(r.method); continue; }
    if (r.mutates && !isLoopback(req.socket.remoteAddress)) return json(res, 403, { error: 'forbidden', detail: 'state-changing routes are accepted from loopback only' });
    try {
      await r.handle({ req, res, params, deps });
    } catch (err) {
      if (!res.headersSent) json(res, 400, { error: 'bad_request', detail: (err as Error).message });
      else res.destroy();
    }
    return;
  }
  if (allowed.length) { res.setHeader('allow', allowed.join(', ')); return json(res, 405, { error: 'method_not_allowed' }); }
  json(res, 404, { error: 'not_found', detail: `no route for ${path}` });
}

export interface HttpApiHandle {
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

export async function startHttpApi(host: string, port: number, deps: HttpApiDeps): Promise<HttpApiHandle> {
  const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => { void dispatch(req, res, deps); });
  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://x').pathname === '/api/v1/live') deps.live.handleUpgrade(req, socket, head);
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
