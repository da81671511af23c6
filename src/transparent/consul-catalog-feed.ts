/**
 * Transparent mode with Consul discovery: the capture index is fed from a
 * catalog-wide watch (discovery/consul/catalog-watch.ts), so a captured
 * connection to ANY Consul service in the mesh (by an instance address, its
 * `consul-virtual` VIP, or a `<svc>.service|virtual.consul` Host) is
 * recognised, not only the configured upstreams. Loaded only in Consul mode.
 */
import type { ConsulClient } from '../discovery/consul/client.ts';
import type { ConsulSection } from '../discovery/consul/options.ts';
import { CatalogWatch, type CatalogWatchStatus } from '../discovery/consul/catalog-watch.ts';
import type { Logger } from '../telemetry/log.ts';
import { captureServicesFromCatalog } from './catalog-services.ts';
import type { CatalogFeed } from './index-feed.ts';

export interface ConsulCatalogFeed extends CatalogFeed {
  status(): CatalogWatchStatus;
}

export function consulCatalogFeed(client: ConsulClient, c: ConsulSection, o: { maxWatches: number; signal: AbortSignal; log: Logger; coalesceMs?: number }): ConsulCatalogFeed {
  const watch = new CatalogWatch({
    client, datacenter: c.datacenter, waitMs: c.wait, minQueryIntervalMs: c.discovery.min_query_interval,
    backoffInitialMs: c.discovery.backoff_initial, backoffMaxMs: c.discovery.backoff_max, maxWatches: o.maxWatches,
    log: o.log.child({ part: 'catalog' }), ...(o.coalesceMs === undefined ? {} : { coalesceMs: o.coalesceMs }),
  });
  // health_endpoint: service dials plain instances; otherwise only Connect-capable services are reachable through the mesh.
  const meshOnly = c.health_endpoint === 'connect';
  if (o.signal.aborted) return { subscribe() {}, status: () => watch.status() };
  watch.start();
  o.signal.addEventListener('abort', () => watch.stop(), { once: true });
  return {
    subscribe(fn) { watch.onChange((view) => fn(captureServicesFromCatalog(view, { meshOnly }))); },
    status: () => watch.status(),
  };
}
