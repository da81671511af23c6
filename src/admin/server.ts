/**
 * The admin HTTP server (node:http: not a hot path). Routes come from the
 * table in routes.ts. A route's method is enforced (a GET on a mutating route
 * answers 405 and changes nothing). Mutating routes accept loopback callers,
 * or others presenting `Authorization: Bearer <admin.token>`.
 */
import { createServer, type Server } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from '../telemetry/log.ts';
import { adminRoutes, type AdminContext } from './routes.ts';

function isLoopbackAddr(a: string | undefined): boolean {
  return a !== undefined && (a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.'));
}

function tokenOk(header: string | undefined, token: string | undefined): boolean {
  if (token === undefined || header === undefined) return false;
  const want = Buffer.from(`Bearer ${token}`);
  const got = Buffer.from(header);
  return got.length === want.length && timingSafeEqual(got, want);
}

export function createAdminServer(ctx: AdminContext, token: string | undefined, log: Logger): Server {
  return createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const route = adminRoutes.find((r) => r.path === url.pathname);
    const send = (status: number, body: string | object, type?: string): void => {
      const text = typeof body === 'string' ? body : `${JSON.stringify(body, null, 2)}\n`;
      res.writeHead(status, { 'content-type': type ?? (typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json') });
      res.end(text);
    };
    if (!route) { send(404, { error: 'no_route', detail: `no admin route ${url.pathname}; GET / lists them` }); return; }
    if (req.method !== route.method && !(route.method === 'GET' && req.method === 'HEAD')) {
      res.setHeader('allow', route.method);
      send(405, { error: 'method_not_allowed', detail: `${route.path} accepts ${route.method} only` });
      return;
    }
    if (route.mutates && !isLoopbackAddr(req.socket.remoteAddress) && !tokenOk(req.headers.authorization, token)) {
      send(403, { error: 'forbidden', detail: 'mutating admin routes need a loopback caller or Authorization: Bearer <admin.token>' });
      return;
    }
    try {
      const out = await route.handler({ url, method: req.method ?? 'GET' }, ctx);
      send(out.status, out.body, out.contentType);
      if (route.mutates) log.info({ route: route.path, from: req.socket.remoteAddress }, 'admin action');
    } catch (err) {
      log.error({ route: route.path, err: (err as Error).message }, 'admin handler failed');
      send(500, { error: 'internal_error', detail: (err as Error).message });
    }
  });
}
