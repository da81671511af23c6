/**
 * /clusters and /listeners: what the agent is connected to and listening on.
 * Every upstream cluster plus the inbound one (the local app), with each
 * endpoint's state as /explain sees it (explain/endpoints.ts).
 */
import type { AdminHandler } from '../routes.ts';
import { endpointView, readersOf } from '../explain/endpoints.ts';

export const clusters: AdminHandler = (_r, { agent }) => {
  const now = performance.now();
  const all = [...agent.clusters.values(), ...(agent.inboundCluster ? [agent.inboundCluster] : [])];
  return {
    status: 200,
    body: all.map((c) => {
      const readers = readersOf(c);
      return {
        name: c.name,
        direction: c === agent.inboundCluster ? 'inbound' : 'outbound',
        balancer: c.balancer.kind,
        synced: c.endpoints.synced,
        source: c.endpoints.source,
        active_requests: c.active,
        connections: { open: c.pool.open, idle: c.pool.idleCount(), connects_total: c.pool.connectsTotal, reuses_total: c.pool.reusesTotal },
        endpoints: c.endpoints.list.map((e) => endpointView(c, e, now, readers)),
      };
    }),
  };
};

export const listeners: AdminHandler = (_r, { agent }) => ({
  status: 200,
  body: agent.listeners.map((l) => ({
    name: l.name, address: `${l.o.bind.host}:${l.port}`, protocol: l.o.protocol, draining: l.draining,
    active_connections: l.conns.size, accepted_total: l.accepted, refused_total: l.refused,
  })),
});
