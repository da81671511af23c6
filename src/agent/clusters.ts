/**
 * Building clusters from config, and keeping each one's endpoint set fed by
 * discovery. The watch loops run until the agent's abort signal fires.
 */
import { EndpointSet } from '../balancer/endpoint-set.ts';
import { RoundRobin } from '../balancer/round-robin.ts';
import { Cluster, ConnectFailureRetry } from '../proxy/cluster.ts';
import { buildUpstreamResilience } from '../resilience/upstream.ts';
import { ConnectionPool, type Dialer } from '../proxy/upstream/pool.ts';
import type { Resolver } from '../discovery/types.ts';
import type { Logger } from '../telemetry/log.ts';
import type { UpstreamConfig } from '../config/schema.ts';

/**
 * An outbound cluster. Its pooled upstream connections close after the upstream's
 * `timeouts.idle` without use (0 = never); `_idleMs` is no longer read (callers may drop it).
 */
export function upstreamCluster(u: UpstreamConfig, dialer: Dialer, _idleMs?: number): Cluster {
  const endpoints = new EndpointSet(u.name);
  // Balancer, observers (EWMA, breakers, outlier detection, retry state), limits, routes and the
  // resilience filters, all built once from the upstream's options.
  const res = buildUpstreamResilience(endpoints, u);
  const fallback = res.routes.fallback;
  return new Cluster({
    name: u.name,
    endpoints,
    balancer: res.balancer,
    pool: new ConnectionPool(dialer, { connectTimeoutMs: fallback.timeouts.connectMs, idleTimeoutMs: fallback.timeouts.idleMs, maxIdlePerEndpoint: 256, limits: res.limits }),
    observers: [...res.observers],
    // Each request uses its route's decider (ctx.route); this one serves requests without a route (TCP).
    retry: fallback.retry,
    timeouts: { requestMs: fallback.timeouts.requestMs },
    resilience: res,
  });
}

/** The inbound side's cluster: one endpoint, the local app. */
export function localAppCluster(name: string, address: { host: string; port: number }, dialer: Dialer, idleMs: number, requestMs: number): Cluster {
  const endpoints = new EndpointSet(name);
  endpoints.apply([{ address: address.host, port: address.port, weight: 1, tags: [], health: 'passing' }], 'config:service.address');
  return new Cluster({
    name,
    endpoints,
    balancer: new RoundRobin(endpoints),
    pool: new ConnectionPool(dialer, { connectTimeoutMs: 5_000, idleTimeoutMs: idleMs, maxIdlePerEndpoint: 256 }),
    retry: new ConnectFailureRetry(2),
    timeouts: { requestMs },
  });
}

/** Feed a cluster's endpoint set from a resolver until `signal` aborts. */
export async function feedFromDiscovery(cluster: Cluster, resolver: Resolver, signal: AbortSignal, log: Logger, identity?: string): Promise<void> {
  try {
    for await (const update of resolver.watch(cluster.name, signal)) {
      // upstreams[].identity: the SPIFFE ID expected of endpoints that discovery gives none for.
      const endpoints = identity === undefined ? update.endpoints : update.endpoints.map((e) => (e.identity === undefined ? { ...e, identity } : e));
      const change = cluster.endpoints.apply(endpoints, update.source);
      if (change.added.length || change.removed.length) {
        log.info({ upstream: cluster.name, endpoints: update.endpoints.length, added: change.added.map((e) => e.key), removed: change.removed.map((e) => e.key), source: update.source }, 'endpoints updated');
      }
    }
  } catch (err) {
    if (!signal.aborted) log.error({ upstream: cluster.name, err: (err as Error).message }, 'discovery watch ended with an error');
  }
}
