/**
 * Which mesh service a captured connection was meant for (pure).
 *
 * The outbound capture listener knows the connection's original destination
 * (original-dst.ts) and, for HTTP, the Host / :authority. This file maps them
 * to a service with an index built once per registry or catalog update, so
 * each connection costs a few Map lookups and allocates nothing: every
 * decision object is built with the index and shared.
 *
 * Lookup order (first hit wins):
 *   1. virtual IP               a VIP names exactly one service (Consul's tproxy VIPs)
 *   2. instance address:port    the exact endpoint of one service
 *   3. instance address         any port of an instance's address belongs to its
 *                               service, when only one service has that address
 *   4. Host / :authority        `api`, `api.service.consul`, `api.virtual.consul`,
 *                               `api.service.<dc>.consul`, `api.connect.consul`, extra names
 *   5. otherwise the policy:    passthrough (default) or block, with `why`:
 *                               `ambiguous_address` (several services share the address
 *                               and nothing else told them apart) or `not_mesh`.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { EndpointSetUpdate } from '../discovery/types.ts';

export type CapturePolicy = 'passthrough' | 'block';
export type MatchedBy = 'virtual_ip' | 'endpoint' | 'address' | 'host';
export type MissWhy = 'not_mesh' | 'ambiguous_address';

export type CaptureDecision =
  | { readonly kind: 'service'; readonly service: string; readonly by: MatchedBy }
  | { readonly kind: 'passthrough'; readonly why: MissWhy }
  | { readonly kind: 'blocked'; readonly why: MissWhy };

export interface CaptureService {
  readonly name: string;
  /** Instance addresses with the port discovery knows (the agent's or the app's). */
  readonly instances: readonly { readonly address: string; readonly port: number }[];
  /** Virtual IPs assigned to the service (Consul tproxy), if any. */
  readonly virtualIps?: readonly string[];
  /** Host names beyond the defaults, e.g. a Kubernetes service FQDN. */
  readonly hostnames?: readonly string[];
  readonly datacenter?: string;
}

export interface CaptureIndexOptions {
  /** What to do with destinations that are not mesh services. Default passthrough. */
  readonly policy?: CapturePolicy;
  /** The Consul DNS domain for default host names. Default 'consul'. */
  readonly domain?: string;
}

export interface CaptureIndex {
  readonly policy: CapturePolicy;
  readonly vips: ReadonlyMap<string, CaptureDecision>;
  readonly endpoints: ReadonlyMap<string, CaptureDecision | typeof AMBIGUOUS>;
  readonly addresses: ReadonlyMap<string, CaptureDecision | typeof AMBIGUOUS>;
  readonly hosts: ReadonlyMap<string, CaptureDecision | typeof AMBIGUOUS>;
  /** Build-time conflicts (a VIP or host name claimed by two services), for logs and /explain. */
  readonly conflicts: readonly string[];
  readonly miss: { readonly not_mesh: CaptureDecision; readonly ambiguous_address: CaptureDecision };
}

const AMBIGUOUS = Symbol('ambiguous');

// === normalisation ===

/** Canonical text of an IP: v4-mapped IPv6 becomes IPv4, IPv6 is lower-cased and compressed. */
export function canonicalAddress(address: string): string {
  if (isIPv4(address)) return address;
  const a = address.toLowerCase();
  if (a.startsWith('::ffff:') && isIPv4(a.slice(7))) return a.slice(7);
  if (!isIPv6(a)) return a;
  const zoneless = a.split('%')[0] ?? a;
  const host = new URL(`http://[${zoneless}]/`).hostname;
  const c = host.slice(1, -1);
  return c.startsWith('::ffff:') && /^::ffff:[0-9a-f]+:[0-9a-f]+$/.test(c) ? mappedToV4(c) : c;
}

function mappedToV4(c: string): string {
  const [hi = '0', lo = '0'] = c.slice(7).split(':');
  const h = parseInt(hi, 16);
  const l = parseInt(lo, 16);
  return `${h >> 8}.${h & 255}.${l >> 8}.${l & 255}`;
}

/** Host header / :authority without port or trailing dot, lower-cased; undefined for IP literals. */
export function canonicalHost(host: string): string | undefined {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) return undefined; // [v6]:port is an address, already covered by the destination
  const colon = h.lastIndexOf(':');
  if (colon !== -1) h = h.slice(0, colon);
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h === '' || isIPv4(h)) return undefined;
  return h;
}

const endpointKey = (address: string, port: number): string => `${address}|${port}`;

// === building ===

function claim<K>(m: Map<K, CaptureDecision | typeof AMBIGUOUS>, k: K, d: CaptureDecision, conflicts: string[] | undefined, label: string): void {
  const prev = m.get(k);
  if (prev === undefined) { m.set(k, d); return; }
  if (prev === AMBIGUOUS || (prev.kind === 'service' && prev.service !== (d as { service: string }).service)) {
    if (prev !== AMBIGUOUS && conflicts) conflicts.push(`${label} ${String(k)} is claimed by ${prev.kind === 'service' ? prev.service : '?'} and ${(d as { service: string }).service}`);
    m.set(k, AMBIGUOUS);
  }
}

/** Build the index once per registry update; resolveCaptured() then costs O(1) per connection. */
export function buildCaptureIndex(services: Iterable<CaptureService>, opts: CaptureIndexOptions = {}): CaptureIndex {
  const policy = opts.policy ?? 'passthrough';
  if (policy !== 'passthrough' && policy !== 'block') throw new RangeError(`capture policy: expected passthrough or block, got ${String(policy)}`);
  const domain = (opts.domain ?? 'consul').toLowerCase().replace(/^\.|\.$/g, '');
  const vips = new Map<string, CaptureDecision | typeof AMBIGUOUS>();
  const endpoints = new Map<string, CaptureDecision | typeof AMBIGUOUS>();
  const addresses = new Map<string, CaptureDecision | typeof AMBIGUOUS>();
  const hosts = new Map<string, CaptureDecision | typeof AMBIGUOUS>();
  const conflicts: string[] = [];

  for (const s of services) {
    const by = (b: MatchedBy): CaptureDecision => ({ kind: 'service', service: s.name, by: b });
    const vip = by('virtual_ip');
    const ep = by('endpoint');
    const addr = by('address');
    const host = by('host');
    for (const v of s.virtualIps ?? []) claim(vips, canonicalAddress(v), vip, conflicts, 'virtual IP');
    for (const i of s.instances) {
      const a = canonicalAddress(i.address);
      claim(endpoints, endpointKey(a, i.port), ep, undefined, 'endpoint');
      // Two services on one address is normal (one host, several ports): no conflict report.
      claim(addresses, a, addr, undefined, 'address');
    }
    const n = s.name.toLowerCase();
    const names = [n, `${n}.service.${domain}`, `${n}.virtual.${domain}`, `${n}.connect.${domain}`];
    if (s.datacenter) names.push(`${n}.service.${s.datacenter.toLowerCase()}.${domain}`);
    for (const h of s.hostnames ?? []) {
      const c = canonicalHost(h);
      if (c !== undefined) names.push(c);
    }
    for (const h of new Set(names)) claim(hosts, h, host, conflicts, 'host name');
  }

  const missKind = policy === 'block' ? 'blocked' : 'passthrough';
  return {
    policy,
    vips: new Map([...vips].filter((e): e is [string, CaptureDecision] => e[1] !== AMBIGUOUS)),
    endpoints,
    addresses,
    hosts,
    conflicts,
    miss: {
      not_mesh: { kind: missKind, why: 'not_mesh' },
      ambiguous_address: { kind: missKind, why: 'ambiguous_address' },
    },
  };
}

/** Adapter from discovery's endpoint sets (static registry or Consul) to capture services. */
export function captureServicesFromSets(sets: Iterable<EndpointSetUpdate>, extra?: ReadonlyMap<string, Pick<CaptureService, 'virtualIps' | 'hostnames'>>): CaptureService[] {
  const out: CaptureService[] = [];
  for (const u of sets) {
    const dc = u.endpoints.find((e) => e.datacenter !== undefined)?.datacenter;
    out.push({
      name: u.service,
      instances: u.endpoints.map((e) => ({ address: e.address, port: e.port })),
      ...extra?.get(u.service),
      ...(dc === undefined ? {} : { datacenter: dc }),
    });
  }
  return out;
}

// === resolving ===

/**
 * The decision for one captured connection. `hostHeader` is the HTTP Host or
 * :authority when the connection was detected as HTTP, else undefined.
 */
export function resolveCaptured(
  origDst: { readonly address: string; readonly port: number },
  hostHeader: string | undefined,
  index: CaptureIndex,
): CaptureDecision {
  const a = canonicalAddress(origDst.address);
  const vip = index.vips.get(a);
  if (vip !== undefined) return vip;
  const ep = index.endpoints.get(endpointKey(a, origDst.port));
  if (ep !== undefined && ep !== AMBIGUOUS) return ep;
  const addr = index.addresses.get(a);
  if (addr !== undefined && addr !== AMBIGUOUS) return addr;
  if (hostHeader !== undefined) {
    const h = canonicalHost(hostHeader);
    const byHost = h === undefined ? undefined : index.hosts.get(h);
    if (byHost !== undefined && byHost !== AMBIGUOUS) return byHost;
  }
  return addr === AMBIGUOUS || ep === AMBIGUOUS ? index.miss.ambiguous_address : index.miss.not_mesh;
}
