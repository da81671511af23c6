/**
 * Turning a /v1/health/{connect,service}/:service answer into endpoints
 * (pure). A body that is not an array of well-formed entries is garbage as a
 * whole: the caller keeps its last good set rather than acting on part of it.
 *
 * Per entry: dial `Service.Address || Node.Address` : `Service.Port`; health
 * is the worst of all its checks (node checks such as serfHealth included);
 * weight is Weights.Passing (Weights.Warning when warning; an instance whose
 * weight is 0 is not used); the expected identity is the SPIFFE ID of the
 * destination service (a connect-proxy stands for Proxy.DestinationServiceName).
 */
import { endpointKey, type EndpointSpec, type Health } from '../types.ts';

export interface HealthInstance {
  readonly key: string;
  readonly node: string;
  readonly serviceId: string;
  /** The logical service the instance serves (the proxy's destination). */
  readonly destination: string;
  readonly address: string;
  readonly port: number;
  readonly tags: readonly string[];
  readonly meta: Readonly<Record<string, string>>;
  readonly weights: { readonly passing: number; readonly warning: number };
  readonly health: Health;
  readonly datacenter: string | undefined;
}

export class GarbageError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'GarbageError';
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseHealthEntries(body: unknown): HealthInstance[] {
  if (!Array.isArray(body)) throw new GarbageError(`expected a JSON array of health entries, got ${body === null ? 'null' : typeof body}`);
  return body.map((e, i) => {
    if (!isObj(e) || !isObj(e['Service']) || !isObj(e['Node'])) throw new GarbageError(`entry ${i}: missing Node or Service`);
    const svc = e['Service'];
    const node = e['Node'];
    const port = svc['Port'];
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw new GarbageError(`entry ${i}: bad Service.Port`);
    const address = (typeof svc['Address'] === 'string' && svc['Address'] !== '' ? svc['Address'] : node['Address']);
    if (typeof address !== 'string' || address === '') throw new GarbageError(`entry ${i}: no Service.Address or Node.Address`);
    const checks = e['Checks'];
    if (!Array.isArray(checks) || checks.some((c) => !isObj(c) || typeof c['Status'] !== 'string')) throw new GarbageError(`entry ${i}: bad Checks`);
    const statuses = checks.map((c) => (c as Obj)['Status'] as string);
    const health: Health = statuses.every((s) => s === 'passing') ? 'passing' : statuses.some((s) => s === 'critical' || (s !== 'passing' && s !== 'warning')) ? 'critical' : 'warning';
    const w = isObj(svc['Weights']) ? svc['Weights'] : {};
    const tags = Array.isArray(svc['Tags']) ? svc['Tags'].filter((t): t is string => typeof t === 'string') : [];
    const meta = isObj(svc['Meta']) ? Object.fromEntries(Object.entries(svc['Meta']).filter(([, v]) => typeof v === 'string')) as Record<string, string> : {};
    const proxy = isObj(svc['Proxy']) ? svc['Proxy'] : undefined;
    const dest = svc['Kind'] === 'connect-proxy' && typeof proxy?.['DestinationServiceName'] === 'string' ? proxy['DestinationServiceName'] : String(svc['Service'] ?? '');
    return {
      key: endpointKey({ address, port }),
      node: String(node['Node'] ?? ''),
      serviceId: String(svc['ID'] ?? ''),
      destination: dest,
      address,
      port,
      tags,
      meta,
      weights: {
        passing: typeof w['Passing'] === 'number' ? w['Passing'] : 1,
        warning: typeof w['Warning'] === 'number' ? w['Warning'] : 1,
      },
      health,
      datacenter: typeof node['Datacenter'] === 'string' ? node['Datacenter'] : undefined,
    };
  });
}

/** The SPIFFE ID a Connect instance presents: spiffe://<td>/ns/default/dc/<dc>/svc/<service>. */
export function spiffeIdOf(trustDomain: string, datacenter: string, service: string): string {
  return `spiffe://${trustDomain}/ns/default/dc/${datacenter}/svc/${service}`;
}

export function toEndpoint(i: HealthInstance, trustDomain: string | undefined): EndpointSpec {
  const weight = i.health === 'warning' ? i.weights.warning : i.weights.passing;
  return {
    address: i.address,
    port: i.port,
    weight: Math.max(1, weight),
    tags: i.tags,
    health: i.health,
    ...(trustDomain && i.datacenter ? { identity: spiffeIdOf(trustDomain, i.datacenter, i.destination) } : {}),
    ...(Object.keys(i.meta).length > 0 ? { meta: i.meta } : {}),
    ...(i.datacenter !== undefined ? { datacenter: i.datacenter } : {}),
  };
}

/** The bexpr `filter` for "has all these tags" (Consul evaluates it server-side). */
export function tagFilter(tags: readonly string[]): string | undefined {
  if (tags.length === 0) return undefined;
  return tags.map((t) => `${JSON.stringify(t)} in Service.Tags`).join(' and ');
}

/** A stable fingerprint of a set, to tell a real change from an index bump. */
export function fingerprint(endpoints: readonly EndpointSpec[]): string {
  return JSON.stringify([...endpoints].map((e) => [endpointKey(e), e.weight, e.health, e.identity ?? '', [...e.tags].sort(), e.meta ?? {}, e.datacenter ?? '']).sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1)));
}
