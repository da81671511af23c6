/**
 * The shared "server" state of the Consul-API test server: catalog (nodes,
 * service instances, checks), KV, sessions, intentions and the CA, all under
 * one raft-like index.
 *
 * Every write takes the next global index and stamps it on the records it
 * touches and on named index keys (Consul's "index table"): `nodes`,
 * `services`, `checks`, `kvs`, `sessions`, `intentions`, `ca`,
 * `svc:<name>` (anything about instances of a service, including their
 * checks and node checks) and `connect:<name>` (connect-proxies for, or
 * native instances of, a service). A blocking query's index is the max of the
 * keys it reads, never below 1. Several test agents (HTTP servers) may share
 * one store, as Consul client agents share the servers' catalog.
 * Connect-capable instances get their service's virtual IP as the
 * `consul-virtual` tagged address (virtual-ips.ts).
 */
import type { CatalogNode, CheckRecord, KvEntry, ServiceRecord } from './types.ts';
import { VIRTUAL_IP_TAG, VirtualIpTable } from './virtual-ips.ts';

export type ChangeListener = () => void;

export class ConsulStore {
  readonly datacenter: string;
  #index = 1;
  readonly #keys = new Map<string, number>();
  readonly #listeners = new Set<ChangeListener>();

  readonly nodes = new Map<string, CatalogNode>();
  /** node name → service ID → instance */
  readonly services = new Map<string, Map<string, ServiceRecord>>();
  /** node name → check ID → check */
  readonly checks = new Map<string, Map<string, CheckRecord>>();
  readonly kv = new Map<string, KvEntry>();
  /** Service virtual IPs (virtual-ips.ts); off = servers older than 1.11 (no `consul-virtual` tagged addresses). */
  readonly virtualIps = new VirtualIpTable();
  readonly virtualIpsEnabled: boolean;

  constructor(datacenter = 'dc1', opts: { virtualIps?: boolean } = {}) {
    this.datacenter = datacenter;
    this.virtualIpsEnabled = opts.virtualIps ?? true;
  }

  get index(): number { return this.#index; }

  /** Index of one key, 0 when never written. */
  keyIndex(key: string): number { return this.#keys.get(key) ?? 0; }

  /** Max index over keys; if none was ever written, the max over `fallback` keys; never below 1. */
  maxIndex(keys: readonly string[], fallback: readonly string[] = []): number {
    let max = 0;
    for (const k of keys) max = Math.max(max, this.keyIndex(k));
    if (max === 0) for (const k of fallback) max = Math.max(max, this.keyIndex(k));
    return Math.max(1, max);
  }

  /** Run one write: takes the next index, stamps `keys`, notifies blocked queries. Returns the index. */
  write(keys: Iterable<string>, fn: (index: number) => void): number {
    const b = this.#txn;
    const idx = b === undefined ? ++this.#index : (b.index ||= ++this.#index);
    fn(idx);
    for (const k of keys) this.#keys.set(k, idx);
    if (b === undefined) this.notify();
    return idx;
  }

  #txn: { index: number } | undefined;
  /**
   * Several writes as one raft entry (PUT /v1/catalog/register: node, service
   * and checks): they share one index and blocked queries wake once, after all of them.
   */
  transaction<T>(fn: () => T): T {
    if (this.#txn !== undefined) return fn();
    const b = { index: 0 };
    this.#txn = b;
    try {
      return fn();
    } finally {
      this.#txn = undefined;
      if (b.index !== 0) this.notify();
    }
  }

  onChange(l: ChangeListener): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  notify(): void {
    for (const l of [...this.#listeners]) l();
  }

  /**
   * Make the index go backwards, as after a snapshot restore or a fresh test
   * server: the global counter and every stored index drop to at most `to`.
   * Data is kept. Blocked queries asking for a higher index keep blocking
   * until their wait ends and then get the lower index.
   */
  resetIndex(to = 1): void {
    this.#index = Math.max(1, to);
    const clamp = (r: { CreateIndex: number; ModifyIndex: number }): void => {
      r.CreateIndex = Math.min(r.CreateIndex, this.#index);
      r.ModifyIndex = Math.min(r.ModifyIndex, this.#index);
    };
    for (const n of this.nodes.values()) clamp(n);
    for (const m of this.services.values()) for (const s of m.values()) clamp(s);
    for (const m of this.checks.values()) for (const c of m.values()) clamp(c);
    for (const e of this.kv.values()) { clamp(e); e.LockIndex = Math.min(e.LockIndex, this.#index); }
    for (const [k, v] of this.#keys) this.#keys.set(k, Math.min(v, this.#index));
    this.#resetHooks.forEach((h) => h(this.#index));
    this.notify();
  }

  readonly #resetHooks = new Set<(to: number) => void>();
  /** Other tables (sessions, intentions, CA) clamp their own indexes on reset. */
  onIndexReset(h: (to: number) => void): void { this.#resetHooks.add(h); }

  // === catalog ===

  /** Index keys touched by a change to this instance. */
  serviceKeys(s: Pick<ServiceRecord, 'Service' | 'Kind' | 'Proxy' | 'Connect'>): string[] {
    const keys = ['services', `svc:${s.Service}`];
    const dest = s.Proxy?.['DestinationServiceName'];
    if (s.Kind === 'connect-proxy' && typeof dest === 'string') keys.push(`connect:${dest}`);
    if (s.Connect?.Native) keys.push(`connect:${s.Service}`);
    return keys;
  }

  /** Keys for every instance on a node (a node check or node field changed). */
  nodeKeys(node: string): string[] {
    const keys = ['nodes'];
    for (const s of this.services.get(node)?.values() ?? []) keys.push(...this.serviceKeys(s));
    return keys;
  }

  upsertNode(n: Omit<CatalogNode, 'CreateIndex' | 'ModifyIndex'>): void {
    const old = this.nodes.get(n.Node);
    if (old && sameRecord(old, n)) return;
    this.write(this.nodeKeys(n.Node), (idx) => {
      this.nodes.set(n.Node, { ...n, CreateIndex: old?.CreateIndex ?? idx, ModifyIndex: idx });
    });
  }

  deleteNode(node: string): void {
    if (!this.nodes.has(node)) return;
    const names = [...(this.services.get(node)?.values() ?? [])].map((s) => s.Service);
    this.write([...this.nodeKeys(node), 'checks', 'services'], () => {
      this.nodes.delete(node);
      this.services.delete(node);
      this.checks.delete(node);
      for (const n of names) this.#freeVirtualIp(n);
    });
  }

  /**
   * Consul's ensureServiceTxn: a connect-proxy (for its destination) or a
   * Connect-native instance (for itself) gets the service's virtual IP as the
   * `consul-virtual` tagged address, with the instance's own port.
   */
  #withVirtualIp(s: Omit<ServiceRecord, 'CreateIndex' | 'ModifyIndex'>): Omit<ServiceRecord, 'CreateIndex' | 'ModifyIndex'> {
    if (!this.virtualIpsEnabled) return s;
    const dest = s.Kind === 'connect-proxy' ? s.Proxy?.['DestinationServiceName'] : s.Connect?.Native ? s.Service : undefined;
    if (typeof dest !== 'string' || dest === '') return s;
    const vip = this.virtualIps.assign(dest);
    return { ...s, TaggedAddresses: { ...s.TaggedAddresses, [VIRTUAL_IP_TAG]: { address: vip, port: s.Port } } };
  }

  /** Consul's freeServiceVirtualIP: once no instance named `service` is left, its VIP goes back to the pool. */
  #freeVirtualIp(service: string): void {
    for (const m of this.services.values()) for (const x of m.values()) if (x.Service === service) return;
    this.virtualIps.free(service);
  }

  upsertService(input: Omit<ServiceRecord, 'CreateIndex' | 'ModifyIndex'>): void {
    const s = this.#withVirtualIp(input);
    const m = this.services.get(s.Node) ?? new Map<string, ServiceRecord>();
    this.services.set(s.Node, m);
    const old = m.get(s.ID);
    if (old && sameRecord(old, s)) return;
    const keys = this.serviceKeys(s);
    if (old) keys.push(...this.serviceKeys(old));
    this.write(keys, (idx) => {
      m.set(s.ID, { ...s, CreateIndex: old?.CreateIndex ?? idx, ModifyIndex: idx });
      // Service checks carry the service name and tags.
      for (const c of this.checks.get(s.Node)?.values() ?? []) {
        if (c.ServiceID === s.ID && (c.ServiceName !== s.Service || JSON.stringify(c.ServiceTags) !== JSON.stringify(s.Tags ?? []))) {
          c.ServiceName = s.Service;
          c.ServiceTags = [...(s.Tags ?? [])];
          c.ModifyIndex = idx;
        }
      }
    });
  }

  /** Removes the instance and its checks. */
  deleteService(node: string, id: string): boolean {
    const s = this.services.get(node)?.get(id);
    if (!s) return false;
    this.write([...this.serviceKeys(s), 'checks'], () => {
      this.services.get(node)!.delete(id);
      const cm = this.checks.get(node);
      for (const [cid, c] of cm ?? []) if (c.ServiceID === id) cm!.delete(cid);
      this.#freeVirtualIp(s.Service);
    });
    return true;
  }

  upsertCheck(c: Omit<CheckRecord, 'CreateIndex' | 'ModifyIndex'>): void {
    const m = this.checks.get(c.Node) ?? new Map<string, CheckRecord>();
    this.checks.set(c.Node, m);
    const old = m.get(c.CheckID);
    if (old && sameRecord(old, c)) return;
    this.write(['checks', ...this.checkKeys(c)], (idx) => {
      m.set(c.CheckID, { ...c, CreateIndex: old?.CreateIndex ?? idx, ModifyIndex: idx });
    });
  }

  deleteCheck(node: string, id: string): boolean {
    const c = this.checks.get(node)?.get(id);
    if (!c) return false;
    this.write(['checks', ...this.checkKeys(c)], () => { this.checks.get(node)!.delete(id); });
    return true;
  }

  checkKeys(c: Pick<CheckRecord, 'Node' | 'ServiceID'>): string[] {
    if (c.ServiceID === '') return this.nodeKeys(c.Node);
    const s = this.services.get(c.Node)?.get(c.ServiceID);
    return s ? this.serviceKeys(s) : [];
  }

  // === reads ===

  allServices(): ServiceRecord[] {
    const out: ServiceRecord[] = [];
    for (const m of this.services.values()) out.push(...m.values());
    return out;
  }

  /** Checks that apply to an instance: its node's checks, then its own. */
  checksFor(s: ServiceRecord): CheckRecord[] {
    const all = [...(this.checks.get(s.Node)?.values() ?? [])];
    return [...all.filter((c) => c.ServiceID === ''), ...all.filter((c) => c.ServiceID === s.ID)];
  }

  serviceInstances(name: string): ServiceRecord[] {
    return this.allServices().filter((s) => s.Service === name);
  }

  /** Connect-capable endpoints for a service: proxies targeting it and native instances. */
  connectInstances(name: string): ServiceRecord[] {
    return this.allServices().filter((s) =>
      (s.Kind === 'connect-proxy' && s.Proxy?.['DestinationServiceName'] === name) ||
      (s.Connect?.Native === true && s.Service === name));
  }
}

/** Equal ignoring CreateIndex/ModifyIndex and key order. */
export function sameRecord(a: object, b: object): boolean {
  return stableJson(a) === stableJson(b);
}

function stableJson(v: unknown): string {
  return JSON.stringify(v, (k, x: unknown) => {
    if (k === 'CreateIndex' || k === 'ModifyIndex') return undefined;
    if (x && typeof x === 'object' && !Array.isArray(x) && !Buffer.isBuffer(x)) {
      return Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0)));
    }
    return x;
  });
}
