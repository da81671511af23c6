/**
 * The catalog reads behind the catalog-wide watch (catalog-watch.ts), and
 * their parsing (pure):
 *
 * - `GET /v1/catalog/services` → `{ "<name>": ["tag", …] }`: every service
 *   name the token can read. Its X-Consul-Index is the services table's: it
 *   moves on any instance registration, change or removal anywhere.
 * - `GET /v1/catalog/service/:name` → flat ServiceNodes: one per instance,
 *   healthy or not (capture maps addresses, it does not pick endpoints).
 *
 * Per instance we keep only what mapping a captured destination needs: the
 * dial address (`ServiceAddress || Address`, SPEC §7), the port, the kind,
 * the service a connect-proxy stands for, and the `consul-virtual` tagged
 * address, the service's virtual IP (Consul 1.11+ stores it on Connect-capable
 * instances: proxies and native services). Tagged addresses are read in
 * either casing (`address` in the API docs' samples, `Address` from Go).
 * A body of the wrong shape is garbage as a whole (GarbageError): the watch
 * keeps what it had.
 */
import type { BlockingAnswer, ConsulClient } from './client.ts';
import { GarbageError } from './health-entries.ts';

/** Consul's tagged-address key for a service's virtual IP (structs.TaggedAddressVirtualIP). */
export const VIRTUAL_IP_TAG = 'consul-virtual';

export interface CatalogInstance {
  /** The catalog name the instance is registered under. */
  readonly name: string;
  /** '' (typical), 'connect-proxy', or a gateway kind. */
  readonly kind: string;
  /** The service this instance stands for: the proxy's destination, else `name`. */
  readonly service: string;
  /** Can it take mTLS from the mesh (a connect-proxy, or Connect-native)? */
  readonly connect: boolean;
  readonly address: string;
  readonly port: number;
  readonly virtualIp: string | undefined;
  readonly datacenter: string | undefined;
}

export interface CatalogQueryOptions {
  readonly index: number;
  readonly waitMs: number;
  readonly datacenter?: string | undefined;
  readonly signal?: AbortSignal;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function blocking(client: ConsulClient, path: string, o: CatalogQueryOptions): Promise<BlockingAnswer> {
  const query = {
    dc: o.datacenter,
    index: o.index > 0 ? o.index : undefined,
    wait: o.index > 0 ? `${Math.ceil(o.waitMs / 1000)}s` : undefined,
  };
  // Consul may hold the request for wait + wait/16; allow that plus a margin (as client.health does).
  const timeoutMs = o.index > 0 ? o.waitMs + Math.ceil(o.waitMs / 16) + 5_000 : undefined;
  return client.json('GET', path, { query, signal: o.signal, ...(timeoutMs === undefined ? {} : { timeoutMs }) }).then(({ answer, body }) => {
    const h = answer.headers['x-consul-index'];
    const v = Array.isArray(h) ? h[0] : h;
    return { index: v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined, body, filtered: answer.headers['x-consul-results-filtered-by-acls'] === 'true' };
  });
}

/** GET /v1/catalog/services as a blocking query. */
export function catalogServices(client: ConsulClient, o: CatalogQueryOptions): Promise<BlockingAnswer> {
  return blocking(client, '/v1/catalog/services', o);
}

/** GET /v1/catalog/service/:name as a blocking query. */
export function catalogService(client: ConsulClient, name: string, o: CatalogQueryOptions): Promise<BlockingAnswer> {
  return blocking(client, `/v1/catalog/service/${encodeURIComponent(name)}`, o);
}

/** The names of a /v1/catalog/services answer. */
export function parseServiceNames(body: unknown): string[] {
  if (!isObj(body)) throw new GarbageError(`expected a JSON object of service names, got ${body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body}`);
  return Object.keys(body);
}

function taggedAddress(tagged: unknown, key: string): string | undefined {
  if (!isObj(tagged)) return undefined;
  const t = tagged[key];
  if (!isObj(t)) return undefined;
  const a = t['Address'] ?? t['address'];
  return typeof a === 'string' && a !== '' ? a : undefined;
}

/** The instances of a /v1/catalog/service/:name answer. */
export function parseCatalogService(name: string, body: unknown): CatalogInstance[] {
  if (!Array.isArray(body)) throw new GarbageError(`catalog/service/${name}: expected a JSON array, got ${body === null ? 'null' : typeof body}`);
  return body.map((e, i): CatalogInstance => {
    if (!isObj(e)) throw new GarbageError(`catalog/service/${name} entry ${i}: not an object`);
    const port = e['ServicePort'];
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw new GarbageError(`catalog/service/${name} entry ${i}: bad ServicePort`);
    const sa = e['ServiceAddress'];
    const address = typeof sa === 'string' && sa !== '' ? sa : e['Address'];
    if (typeof address !== 'string' || address === '') throw new GarbageError(`catalog/service/${name} entry ${i}: no ServiceAddress or Address`);
    const kind = typeof e['ServiceKind'] === 'string' ? e['ServiceKind'] : '';
    const proxy = isObj(e['ServiceProxy']) ? e['ServiceProxy'] : undefined;
    const dest = proxy?.['DestinationServiceName'];
    const native = isObj(e['ServiceConnect']) && e['ServiceConnect']['Native'] === true;
    const isProxy = kind === 'connect-proxy' && typeof dest === 'string' && dest !== '';
    const own = typeof e['ServiceName'] === 'string' && e['ServiceName'] !== '' ? e['ServiceName'] : name;
    return {
      name: own,
      kind,
      service: isProxy ? dest : own,
      connect: isProxy || native,
      address,
      port,
      virtualIp: taggedAddress(e['ServiceTaggedAddresses'], VIRTUAL_IP_TAG),
      datacenter: typeof e['Datacenter'] === 'string' ? e['Datacenter'] : undefined,
    };
  });
}

/** A stable fingerprint of an instance list, to tell a real change from an index bump. */
export function catalogFingerprint(list: readonly CatalogInstance[]): string {
  return list.map((i) => `${i.kind}|${i.service}|${i.address}|${i.port}|${i.virtualIp ?? ''}|${i.datacenter ?? ''}`).sort().join('\n');
}
