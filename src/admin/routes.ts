/**
 * The admin API as one declarative route table (Envoy's admin handlers):
 * each entry has a path, a method, help text and whether it mutates state.
 * The index page, `aim-mesh admin --help` and the README table are generated
 * from it; the server enforces method and the mutating-route rules from it.
 */
import type { Agent } from '../agent/agent.ts';
import { version } from '../version.ts';

export interface AdminRequest {
  readonly url: URL;
  readonly method: string;
}

export interface AdminResponse {
  readonly status: number;
  readonly body: string | object;
  readonly contentType?: string;
}

export interface AdminContext {
  readonly agent: Agent;
  /** Ask the process to exit (after draining). */
  readonly quit: () => void;
}

export interface AdminRoute {
  readonly path: string;
  readonly method: 'GET' | 'POST';
  readonly help: string;
  readonly mutates: boolean;
  readonly handler: (req: AdminRequest, ctx: AdminContext) => AdminResponse | Promise<AdminResponse>;
}

export const adminRoutes: readonly AdminRoute[] = [
  {
    path: '/', method: 'GET', mutates: false, help: 'This index: every admin route with its help.',
    handler: () => ({ status: 200, contentType: 'text/plain; charset=utf-8', body: adminIndex() }),
  },
  {
    path: '/ready', method: 'GET', mutates: false, help: '200 when listeners are bound, identity is loaded and discovery has synced; else 503 with what is missing.',
    handler: (_r, { agent }) => {
      const missing = agent.notReady();
      return missing.length === 0 ? { status: 200, body: { ready: true } } : { status: 503, body: { ready: false, missing } };
    },
  },
  {
    path: '/live', method: 'GET', mutates: false, help: '200 while the process is alive (liveness probe).',
    handler: () => ({ status: 200, body: { live: true } }),
  },
  {
    path: '/metrics', method: 'GET', mutates: false, help: 'Prometheus metrics (text exposition format).',
    handler: async (_r, { agent }) => ({ status: 200, contentType: agent.metrics.registry.contentType, body: await agent.metrics.registry.metrics() }),
  },
  {
    path: '/server_info', method: 'GET', mutates: false, help: 'Version, uptime, node and service.',
    handler: (_r, { agent }) => ({ status: 200, body: {
      version, node: agent.config.node, service: agent.config.service.name, uptime_s: Math.round((Date.now() - agent.startedAt) / 1000),
      state: agent.draining ? 'draining' : agent.notReady().length === 0 ? 'live' : 'starting',
    } }),
  },
  {
    path: '/listeners', method: 'GET', mutates: false, help: 'Bound listeners: name, address, protocol, connections.',
    handler: (_r, { agent }) => ({ status: 200, body: agent.listeners.map((l) => ({
      name: l.name, address: `${l.o.bind.host}:${l.port}`, protocol: l.o.protocol, active_connections: l.conns.size, accepted_total: l.accepted, refused_total: l.refused,
    })) }),
  },
  {
    path: '/clusters', method: 'GET', mutates: false, help: 'Per upstream and endpoint: health, ejection, breaker, active requests, EWMA latency, totals, weight.',
    handler: (_r, { agent }) => ({ status: 200, body: [...agent.clusters.values(), ...(agent.inboundCluster ? [agent.inboundCluster] : [])].map((c) => ({
      name: c.name, balancer: c.balancer.kind, synced: c.endpoints.synced, source: c.endpoints.source,
      connections: { open: c.pool.open, idle: c.pool.idleCount(), connects_total: c.pool.connectsTotal, reuses_total: c.pool.reusesTotal },
      endpoints: c.endpoints.list.map((e) => ({
        address: e.key, health: e.spec.health, weight: e.spec.weight, tags: e.spec.tags, ejected: e.ejectedUntil > performance.now(),
        breaker_open: e.breakerOpen, active_requests: e.active, ewma_ms: Math.round(e.ewmaMs * 1000) / 1000,
        requests_total: e.requests, errors_total: e.failures, score: c.balancer.score?.(e),
      })),
    })) }),
  },
  {
    path: '/drain', method: 'POST', mutates: true, help: 'Start a graceful drain: /ready turns 503, listeners stop accepting, in-flight requests finish.',
    handler: (_r, { agent }) => { void agent.drain(); return { status: 202, body: { draining: true } }; },
  },
  {
    path: '/quitquitquit', method: 'POST', mutates: true, help: 'Drain, then exit the process.',
    handler: (_r, { quit }) => { quit(); return { status: 202, body: { quitting: true } }; },
  },
];

export function adminIndex(): string {
  const w = Math.max(...adminRoutes.map((r) => r.path.length));
  return ['aim-mesh admin', '', ...adminRoutes.map((r) => `${r.method.padEnd(4)} ${r.path.padEnd(w)}  ${r.help}${r.mutates ? ' (mutating: loopback or token)' : ''}`), ''].join('\n');
}
