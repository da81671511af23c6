/**
 * Keeping the capture index current: which services, addresses, virtual IPs
 * and host names the outbound capture listener maps to the mesh.
 *
 * The static registry lists every service: the index is rebuilt from it at
 * start and after each accepted reload (StaticResolver.onRegistry). Other
 * discovery kinds (Consul) answer per service and list no catalog here, so
 * only the configured upstreams are watched and indexed; other Consul
 * services are not recognised by address (a catalog watch would be needed).
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

/**
 * Build the index now and rebuild it on every update; `current()` is the
 * latest. Watches end when `signal` aborts.
 */
export function feedCaptureIndex(resolver: Resolver, upstreams: readonly string[], policy: CapturePolicy, signal: AbortSignal, log: Logger): { current(): CaptureIndex } {
  let index = buildCaptureIndex([], { policy });
  const rebuild = (services: CaptureService[]): void => {
    index = buildCaptureIndex(services, { policy });
    for (const c of index.conflicts) log.warn({ conflict: c }, 'transparent: ambiguous mapping ignored');
  };
  if (isRegistrySource(resolver)) {
    rebuild(servicesOfRegistry(resolver.registry));
    resolver.onRegistry((r) => rebuild(servicesOfRegistry(r)));
  } else {
    log.warn({ discovery: resolver.kind, services: upstreams }, 'transparent: only configured upstreams are matched by address (this discovery kind lists no catalog)');
    const sets = new Map<string, EndpointSetUpdate>();
    for (const name of upstreams) {
      void (async () => {
        for await (const s of resolver.watch(name, signal)) { sets.set(name, s); rebuild(captureServicesFromSets(sets.values())); }
      })().catch((err: Error) => { if (!signal.aborted) log.error({ upstream: name, err: err.message }, 'transparent: watch ended'); });
    }
  }
  return { current: () => index };
}
