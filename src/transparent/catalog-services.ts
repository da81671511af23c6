/**
 * From the Consul catalog (discovery/consul/catalog-watch.ts) to the services
 * the capture index maps (pure).
 *
 * Per service S:
 *   - its virtual IP: the `consul-virtual` tagged address of any Connect-capable
 *     instance for S (S's connect-proxies, or S itself when Connect-native);
 *   - its instance addresses: S's own instances (the app, `Service.Address ||
 *     Node.Address`) and S's proxies (the sidecars that take mTLS for S), each
 *     with its port; a connection to any port of such an address is S's when
 *     only S has it (capture.ts).
 * Only services the mesh can reach are mapped (`meshOnly`, for
 * health_endpoint: connect): those with a connect-proxy or a native instance.
 * A plain service with no sidecar would have no endpoint to dial over mTLS, so
 * it is left to the passthrough/block policy like any non-mesh destination.
 * Loopback and unspecified addresses name the remote node's own interfaces,
 * never a destination here: they are skipped. Gateways are not destinations.
 */
import type { CatalogInstance } from '../discovery/consul/catalog-queries.ts';
import type { CaptureService } from './capture.ts';

export interface CatalogMappingOptions {
  /** Map only services with Connect-capable instances (true unless discovery uses health/service). */
  readonly meshOnly: boolean;
}

interface Acc {
  readonly instances: { address: string; port: number }[];
  readonly vips: Set<string>;
  mesh: boolean;
  datacenter: string | undefined;
}

const isLocal = (a: string): boolean => a.startsWith('127.') || a === '::1' || a === '0.0.0.0' || a === '::' || a === 'localhost';

export function captureServicesFromCatalog(catalog: ReadonlyMap<string, readonly CatalogInstance[]>, o: CatalogMappingOptions): CaptureService[] {
  const by = new Map<string, Acc>();
  const acc = (name: string): Acc => {
    let a = by.get(name);
    if (a === undefined) { a = { instances: [], vips: new Set(), mesh: false, datacenter: undefined }; by.set(name, a); }
    return a;
  };
  for (const list of catalog.values()) {
    for (const i of list) {
      if (i.kind !== '' && i.kind !== 'connect-proxy') continue; // gateways
      if (i.kind === 'connect-proxy' && !i.connect) continue; // a proxy with no destination
      const a = acc(i.service);
      if (i.connect) a.mesh = true;
      if (i.virtualIp !== undefined) a.vips.add(i.virtualIp);
      a.datacenter ??= i.datacenter;
      if (!isLocal(i.address)) a.instances.push({ address: i.address, port: i.port });
    }
  }
  const out: CaptureService[] = [];
  for (const [name, a] of by) {
    if (o.meshOnly && !a.mesh) continue;
    out.push({ name, instances: a.instances, virtualIps: [...a.vips], ...(a.datacenter === undefined ? {} : { datacenter: a.datacenter }) });
  }
  return out;
}
