/**
 * Connect CA state: the cluster's roots (the active one plus any kept during
 * a rotation) and each agent's leaf-certificate cache.
 *
 * Like Consul's agent cache, a leaf is issued on first request for a service
 * name and then served from cache (X-Cache: HIT) until it is due for renewal
 * (a random point between 60% and 90% of its lifetime), expires, or its root
 * is no longer active; a blocking leaf query wakes when a new leaf exists.
 */
import { randomUUID } from 'node:crypto';
import { createRoot, issueLeaf, trustDomainOf, type CaRoot, type IssuedLeaf } from './ca.ts';
import type { ConsulStore } from './store.ts';

export interface CaSettings {
  clusterId?: string;
  /** Leaf lifetime (Consul default LeafCertTTL 72h). */
  leafTtlMs: number;
  /** Fixed renewal point as a fraction of the lifetime (default random in [0.6, 0.9]). */
  renewFraction?: number;
}

export class ConnectCa {
  readonly clusterId: string;
  readonly trustDomain: string;
  roots: CaRoot[] = [];
  readonly settings: CaSettings;
  readonly #store: ConsulStore;
  #serial = 7;

  constructor(store: ConsulStore, settings: CaSettings) {
    this.#store = store;
    this.settings = settings;
    this.clusterId = (settings.clusterId ?? randomUUID()).toLowerCase();
    this.trustDomain = trustDomainOf(this.clusterId);
    this.rotate();
    store.onIndexReset((to) => {
      for (const r of this.roots) { r.CreateIndex = Math.min(r.CreateIndex, to); r.ModifyIndex = Math.min(r.ModifyIndex, to); }
    });
  }

  active(): CaRoot {
    return this.roots.find((r) => r.Active)!;
  }

  /** Make a new active root; the old ones stay listed (inactive) so both are trusted during the overlap. */
  rotate(): CaRoot {
    let root: CaRoot | undefined;
    this.#store.write(['ca'], (idx) => {
      for (const r of this.roots) { r.Active = false; r.ModifyIndex = idx; }
      root = createRoot({ trustDomain: this.trustDomain, serial: this.#serial++, index: idx });
      this.roots.push(root);
    });
    return root!;
  }

  /** Drop inactive roots (end of a rotation). */
  pruneInactive(): void {
    this.#store.write(['ca'], () => { this.roots = this.roots.filter((r) => r.Active); });
  }

  index(): number {
    return this.#store.maxIndex(['ca']);
  }

  body(): Record<string, unknown> {
    return {
      ActiveRootID: this.active().ID,
      TrustDomain: this.trustDomain,
      Roots: this.roots.map(({ key: _k, keyId: _i, subject: _s, ...wire }) => wire),
    };
  }
}

/** One agent's leaf cache. */
export class LeafCache {
  readonly #ca: ConnectCa;
  readonly #store: ConsulStore;
  readonly #datacenter: string;
  readonly #leaves = new Map<string, IssuedLeaf>();
  readonly #timers = new Map<string, NodeJS.Timeout>();

  constructor(ca: ConnectCa, store: ConsulStore, datacenter: string) {
    this.#ca = ca;
    this.#store = store;
    this.#datacenter = datacenter;
  }

  /** The cached leaf, re-issued when due; `hit` tells whether it came from the cache. */
  get(service: string): { leaf: IssuedLeaf; hit: boolean } {
    const cur = this.#leaves.get(service);
    const now = Date.now();
    if (cur && now < cur.renewAtMs && cur.rootId === this.#ca.active().ID) return { leaf: cur, hit: true };
    let leaf: IssuedLeaf | undefined;
    this.#store.write([`leaf:${service}`], (idx) => {
      leaf = issueLeaf({
        root: this.#ca.active(), trustDomain: this.#ca.trustDomain, datacenter: this.#datacenter, service,
        ttlMs: this.#ca.settings.leafTtlMs, index: idx,
        ...(this.#ca.settings.renewFraction !== undefined ? { renewFraction: this.#ca.settings.renewFraction } : {}),
      });
      this.#leaves.set(service, leaf);
    });
    clearTimeout(this.#timers.get(service));
    const t = setTimeout(() => { this.#timers.delete(service); this.get(service); }, Math.max(0, leaf!.renewAtMs - now));
    t.unref();
    this.#timers.set(service, t);
    return { leaf: leaf!, hit: false };
  }

  /** After a root rotation: re-issue every cached leaf so blocked leaf queries wake up. */
  reissueAll(): void {
    for (const s of [...this.#leaves.keys()]) this.get(s);
  }

  close(): void {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }
}
