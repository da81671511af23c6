/**
 * Keeping the capture index current: which services, addresses, virtual IPs
 * and host names the outbound capture listener maps to the mesh.
 *
 * The static registry lists every service: the index is rebuilt from it at
 * start and after each accepted reload (StaticResolver.onRegistry). With
 * Consul, a catalog feed (consul-catalog-feed.ts: a blocking watch on
 * /v1/catalog/services plus bounded per-service reads) lists every service
 * with its addresses and virtual IPs; the configured upstreams are watched
 * too, so an upstream the catalog does not show (another datacenter) is
 * still mapped. Without a catalog feed only the upstreams are mapped.
 * Each rebuild costs O(mesh size), off the connection path; a connection
 * then costs a few Map lookups (capture.ts).
 */
import type { EndpointSetUpdate, Resolver } from '../discovery/types.ts';
import type { Registry } from '../discovery/static/registry-file.ts';
import type { Logger } from '../telemetry/log.ts';
import { buildCaptureIndex, captureServicesFromSets, type CaptureIndex, type CapturePolicy, type CaptureService } from './capture.ts';

/** What the static resolver offers beyond Resolver. */
interface RegistrySource {
  readonly registry: Registry;
  onRegistry(fn: (r: Registry) => void): void;
}

const isRegistrySource = (r: Resolver): r is Resolver & RegistrySource =>
  'registry' in r && typeof (r as Partial<RegistrySource>).onRegistry === 'function';

export function servicesOfRegistry(r: Registry): CaptureService[] {
  return Object.entries(r.services).map(([name, s]) => {
    const dc = s.instances.find((i) => i.datacenter !== undefined)?.datacenter;
    return { name, instances: s.instances, virtualIps: s.virtual_ips, ...(dc === undefined ? {} : { datacenter: dc }) };
  });
}

/** Every service of a catalog (Consul's), pushed whole after each change. */
export interface CatalogFeed {
  subscribe(fn: (services: readonly CaptureService[]) => void): void;
}

/**
 * Build the index now and rebuild it on every update; `current()` is the
 * latest. Watches end when `signal` aborts.
 */
export function feedCaptureIndex(resolver: Resolver, upstreams: readonly string[], policy: CapturePolicy, signal: AbortSignal, log: Logger, catalog?: CatalogFeed): { current(): CaptureIndex } {
  let index = buildCaptureIndex([], { policy });
  const rebuild = (services: CaptureService[]): void => {
    index = buildCaptureIndex(services, { policy });
    for (const c of index.conflicts) log.warn({ conflict: c }, 'transparent: ambiguous mapping ignored');
  };
  if (isRegistrySource(resolver)) {
    rebuild(servicesOfRegistry(resolver.registry));
    resolver.onRegistry((r) => rebuild(servicesOfRegistry(r)));
  } else {
    if (catalog === undefined) log.warn({ discovery: resolver.kind, services: upstreams }, 'transparent: only configured upstreams are matched by address (no catalog feed)');
    const sets = new Map<string, EndpointSetUpdate>();
    let listed: readonly CaptureService[] = [];
    const rebuildAll = (): void => {
      const known = new Set(listed.map((s) => s.name));
      rebuild([...listed, ...captureServicesFromSets([...sets.values()].filter((u) => !known.has(u.service)))]);
    };
    catalog?.subscribe((services) => { listed = services; rebuildAll(); });
    for (const name of upstreams) {
      void (async () => {
        for await (const s of resolver.watch(name, signal)) { sets.set(name, s); rebuildAll(); }
      })().catch((err: Error) => { if (!signal.aborted) log.error({ upstream: name, err: err.message }, 'transparent: watch ended'); });
    }
  }
  return { current: () => index };
}
