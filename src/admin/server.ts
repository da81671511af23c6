/**
 * The admin HTTP server (node:http: not a hot path). Routes come from the
 * table in routes.ts, and the table's flags are enforced here, in one place:
 *
 *   - method: a request with another method answers 405 (with Allow) and
 *     never reaches the handler, so a GET on a mutating route changes nothing;
 *   - mutating routes: loopback callers, or others presenting
 *     `Authorization: Bearer <admin.token>` (compared in constant time);
 *     anyone else gets 403.
 *
 * The loopback test is injectable (`isLoopback`) so a test can exercise the
 * token path over a real loopback socket; the admin-remote test also runs it
 * for real from a network namespace.
 */
import type { Server } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from '../telemetry/log.ts';
import { adminRoutes, type AdminContext, type AdminRoute } from './routes.ts';
// node:http through process.getBuiltinModule, not an ESM import: importing it as ESM builds a
// namespace from every export, and its lazy WebSocket/MessageEvent getters load Node's bundled
// undici (~4 MB RSS per agent). README, Performance, Memory.
const { createServer } = process.getBuiltinModule('node:http');

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopbackAddress(a: string | undefined): boolean {
  return a !== undefined && (a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.'));
}

function tokenOk(header: string | undefined, token: string | undefined): boolean {
  if (token === undefined || token === '' || header === undefined) return false;
  const want = Buffer.from(`Bearer ${token}`);
  const got = Buffer.from(header);
  return got.length === want.length && timingSafeEqual(got, want);
}

export interface AdminServerOptions {
  /** Which callers count as local (default: isLoopbackAddress). */
  readonly isLoopback?: (remoteAddress: string | undefined) => boolean;
  /** The route table (default: adminRoutes). */
  readonly routes?: readonly AdminRoute[];
}

export function createAdminServer(ctx: AdminContext, token: string | undefined, log: Logger, opts: AdminServerOptions = {}): Server {
  const isLocal = opts.isLoopback ?? isLoopbackAddress;
  const routes = opts.routes ?? adminRoutes;
  return createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const send = (status: number, body: string | object, type?: string, headers: Record<string, string> = {}): void => {
      const text = typeof body === 'string' ? body : `${JSON.stringify(body, null, 2)}\n`;
      res.writeHead(status, { 'content-type': type ?? (typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json'), 'cache-control': 'no-store', ...headers });
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    const path = url.pathname.length > 1 && url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname;
    const route = routes.find((r) => r.path === path);
    if (!route) { send(404, { error: 'no_route', detail: `no admin route ${url.pathname}; GET / lists them` }); return; }
    if (req.method !== route.method && !(route.method === 'GET' && req.method === 'HEAD')) {
      send(405, { error: 'method_not_allowed', detail: `${route.path} accepts ${route.method} only` }, undefined, { allow: route.method === 'GET' ? 'GET, HEAD' : route.method });
      return;
    }
    const from = req.socket.remoteAddress;
    if (route.mutates && !isLocal(from) && !tokenOk(req.headers.authorization, token)) {
      log.warn({ route: route.path, from }, 'admin: refused a mutating call without a valid token');
      send(403, { error: 'forbidden', detail: 'mutating admin routes need a loopback caller or Authorization: Bearer <admin.token>' });
      return;
    }
    // Drain the request body (none is expected); the answer does not wait for it.
    req.resume();
    try {
      const out = await route.handler({ url, method: req.method ?? 'GET', remoteAddress: from }, ctx);
      send(out.status, out.body, out.contentType, out.headers);
      if (route.mutates) log.info({ route: route.path, from, query: url.search || undefined, status: out.status }, 'admin action');
    } catch (err) {
      log.error({ route: route.path, err: (err as Error).message }, 'admin handler failed');
      send(500, { error: 'internal_error', detail: (err as Error).message });
    }
  });
}
