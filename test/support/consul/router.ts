/**
 * Path routing like Go's ServeMux as Consul uses it: exact patterns, and
 * patterns ending in `/` that match every path below them (the rest becomes
 * the route parameter); the longest matching pattern wins.
 */
import type { Route } from './context.ts';
import { agentCheckRoutes } from './routes/agent-check.ts';
import { agentMiscRoutes } from './routes/agent-misc.ts';
import { agentServiceRoutes } from './routes/agent-service.ts';
import { catalogRoutes } from './routes/catalog.ts';
import { connectRoutes } from './routes/connect.ts';
import { healthRoutes } from './routes/health.ts';
import { intentionRoutes } from './routes/intentions.ts';
import { kvRoutes } from './routes/kv.ts';
import { sessionRoutes } from './routes/session.ts';

export const allRoutes: Route[] = [
  ...agentServiceRoutes, ...agentCheckRoutes, ...agentMiscRoutes, ...catalogRoutes, ...healthRoutes,
  ...kvRoutes, ...connectRoutes, ...intentionRoutes, ...sessionRoutes,
];

export class Router {
  readonly #exact = new Map<string, Route>();
  readonly #prefixes: Route[];

  constructor(routes: Route[] = allRoutes) {
    for (const r of routes) if (!r.prefix) this.#exact.set(r.path, r);
    this.#prefixes = routes.filter((r) => r.prefix).sort((a, b) => b.path.length - a.path.length);
  }

  find(path: string): { route: Route; param: string } | undefined {
    const e = this.#exact.get(path);
    if (e) return { route: e, param: '' };
    for (const r of this.#prefixes) if (path.startsWith(r.path)) return { route: r, param: path.slice(r.path.length) };
    // `/v1/agent/service/` also matches `/v1/agent/service` in Go only via redirect; treat a missing trailing param as ''.
    for (const r of this.#prefixes) if (`${path}/` === r.path) return { route: r, param: '' };
    return undefined;
  }
}
