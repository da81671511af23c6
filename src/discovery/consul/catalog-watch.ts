/**
 * Every service in the Consul catalog, with its instances' addresses and its
 * virtual IP: what transparent mode needs to recognise a captured connection
 * to any Consul service, not only the configured upstreams.
 *
 * State machine:
 *   listing   one blocking query on /v1/catalog/services (X-Consul-Index),
 *             always open. New names get a state; gone names are dropped.
 *   watched   up to `maxWatches` names hold a blocking query of their own on
 *             /v1/catalog/service/:name: their changes arrive as they happen.
 *   swept     names beyond that hold no query. The listing's index moves on
 *             every instance change anywhere in the catalog, so each move
 *             triggers a sweep: one non-blocking read per swept name,
 *             `sweepConcurrency` at a time; moves during a sweep coalesce
 *             into one more sweep. A gone watched name frees its slot for a
 *             swept one.
 * So a mesh of N services holds min(N, maxWatches) + 1 requests open to the
 * local agent (Consul limits a client to http_max_conns_per_client, 200 by
 * default), and memory is the parsed instances only.
 *
 * Static stability, as ServiceWatch: errors, timeouts and garbage never
 * change what is known (the watch retries with backoff); an empty listing
 * right after the index went backwards is held until Consul confirms it.
 * Consumers get the whole view from `onChange`, coalesced (`coalesceMs`).
 * Consul's own service (`consul`, the servers) is never a mesh destination
 * and is not read.
 */
import type { Logger } from '../../telemetry/log.ts';
import { Backoff } from '../../control/backoff.ts';
import type { ConsulClient } from './client.ts';
import { ConsulApiError } from './errors.ts';
import { GarbageError } from './health-entries.ts';
import { pacedLoop, QueryPacer } from './query-pacer.ts';
import { catalogFingerprint, catalogService, catalogServices, parseCatalogService, parseServiceNames, type CatalogInstance } from './catalog-queries.ts';
import { Sweeper } from './catalog-sweep.ts';
import { assignWatches, reconcileNames, type NameState } from './catalog-names.ts';

export interface CatalogWatchOptions {
  readonly client: ConsulClient;
  readonly datacenter?: string | undefined;
  readonly waitMs: number;
  readonly minQueryIntervalMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** Per-service blocking queries open at once; the other services are swept. */
  readonly maxWatches: number;
  /** Non-blocking reads in flight during a sweep (default 4). */
  readonly sweepConcurrency?: number;
  /** Changes within this long reach `onChange` as one view (default 50 ms). */
  readonly coalesceMs?: number;
  readonly log: Logger;
  readonly random?: () => number;
}

export type CatalogView = ReadonlyMap<string, readonly CatalogInstance[]>;

export interface CatalogWatchStatus {
  /** The listing answered and every name was read at least once. */
  readonly synced: boolean;
  readonly lastError: string | undefined;
  readonly services: number;
  readonly watched: number;
  readonly swept: number;
  readonly sweeps: number;
  readonly queries: number;
}

const SKIP = new Set(['consul']);

export class CatalogWatch {
  readonly #o: CatalogWatchOptions;
  readonly #abort = new AbortController();
  readonly #names = new Map<string, NameState>();
  readonly #listeners = new Set<(view: CatalogView) => void>();
  #listed = false;
  #listIndex = 0;
  #holdingEmpty = false;
  #lastError: string | undefined;
  #queries = 0;
  readonly #sweeper: Sweeper<NameState>;
  #emitTimer: NodeJS.Timeout | undefined;
  #warnedAcl = false;

  constructor(o: CatalogWatchOptions) {
    if (!(o.maxWatches >= 0)) throw new RangeError('catalog watch: maxWatches must be >= 0');
    this.#o = o;
    const signal = this.#abort.signal;
    this.#sweeper = new Sweeper<NameState>({
      items: () => [...this.#names.values()].filter((s) => !s.watch),
      read: async (s) => {
        if (s.watch || this.#names.get(s.name) !== s) return; // got a watch of its own, or dropped, meanwhile
        try {
          this.#set(s, (await this.#read(s.name, 0, signal)).instances);
        } catch (err) {
          if (!signal.aborted) this.#failed(`catalog/service/${s.name}`, err);
          throw err;
        }
      },
      concurrency: o.sweepConcurrency ?? 4,
      minIntervalMs: o.minQueryIntervalMs,
      backoff: new Backoff({ initialMs: o.backoffInitialMs, maxMs: Math.max(o.backoffInitialMs, o.backoffMaxMs) }, o.random),
      signal,
    });
  }

  start(): void { void this.#listLoop(); }

  stop(): void {
    this.#abort.abort();
    clearTimeout(this.#emitTimer);
    for (const s of this.#names.values()) s.watch?.abort();
  }

  /** Called with the whole view after changes (names never read yet are left out). Returns an unsubscribe. */
  onChange(fn: (view: CatalogView) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  get view(): CatalogView {
    const out = new Map<string, readonly CatalogInstance[]>();
    for (const s of this.#names.values()) if (s.instances !== undefined) out.set(s.name, s.instances);
    return out;
  }

  status(): CatalogWatchStatus {
    let watched = 0;
    let read = 0;
    for (const s of this.#names.values()) { if (s.watch) watched++; if (s.instances !== undefined) read++; }
    return {
      synced: this.#listed && read === this.#names.size, lastError: this.#lastError, services: this.#names.size,
      watched, swept: this.#names.size - watched, sweeps: this.#sweeper.sweeps, queries: this.#queries,
    };
  }

  // === the listing ===

  #listLoop(): Promise<void> {
    const o = this.#o;
    const signal = this.#abort.signal;
    return pacedLoop(this.#pacing(), signal, (err) => this.#failed('catalog/services', err), async (index) => {
      this.#queries++;
      const ans = await catalogServices(o.client, { index, waitMs: o.waitMs, datacenter: o.datacenter, signal });
      const got = ans.index;
      if (got === undefined) throw new GarbageError('catalog/services: no X-Consul-Index header');
      const names = parseServiceNames(ans.body).filter((n) => !SKIP.has(n));
      if (ans.filtered && !this.#warnedAcl) {
        this.#warnedAcl = true;
        o.log.warn({ reason: 'acl_filtered' }, "consul hid some services from our token (X-Consul-Results-Filtered-By-Acls): transparent mode cannot recognise them; grant service_prefix \"\" { policy = \"read\" }");
      }
      return {
        index: got,
        apply: (reset, blocking) => {
          // The listing's index moves on any instance change in the catalog: the swept names may have changed.
          const moved = got !== this.#listIndex;
          this.#listIndex = got;
          const changed = this.#applyNames(names, reset, blocking);
          if (this.#lastError !== undefined && !this.#holdingEmpty) o.log.info({ services: this.#names.size }, 'consul catalog watch recovered');
          if (!this.#holdingEmpty) this.#lastError = undefined;
          if (moved || changed) this.#sweeper.trigger();
          return moved || changed;
        },
      };
    });
  }

  /** Apply a well-formed listing; true when the set of names changed. */
  #applyNames(names: string[], reset: boolean, blocking: boolean): boolean {
    if (names.length === 0 && this.#names.size > 0 && (reset || (this.#holdingEmpty && !blocking))) {
      if (!this.#holdingEmpty) this.#o.log.warn({ keeping: this.#names.size }, 'consul index went backwards and the catalog is empty; keeping the last known services until Consul confirms');
      this.#holdingEmpty = true;
      this.#lastError = 'index went backwards with an empty catalog; holding the last known services until confirmed';
      return false;
    }
    this.#holdingEmpty = false;
    this.#listed = true;
    const changed = reconcileNames(this.#names, names);
    if (changed) {
      // Free watch slots (a gone watched name's, or never used) go to swept names.
      assignWatches(this.#names, this.#o.maxWatches, (s, watch) => void this.#detailLoop(s, AbortSignal.any([this.#abort.signal, watch.signal])));
      this.#emitSoon();
    }
    return changed;
  }

  // === one name ===

  #detailLoop(s: NameState, signal: AbortSignal): Promise<void> {
    return pacedLoop(this.#pacing(), signal, (err) => this.#failed(`catalog/service/${s.name}`, err), async (index) => {
      const list = await this.#read(s.name, index, signal);
      // An empty answer right after the index went backwards is not believed (static stability).
      return { index: list.index, apply: (reset) => (reset && list.instances.length === 0 && (s.instances?.length ?? 0) > 0 ? false : this.#set(s, list.instances)) };
    });
  }

  async #read(name: string, index: number, signal: AbortSignal): Promise<{ index: number; instances: CatalogInstance[] }> {
    this.#queries++;
    const ans = await catalogService(this.#o.client, name, { index, waitMs: this.#o.waitMs, datacenter: this.#o.datacenter, signal });
    if (ans.index === undefined) throw new GarbageError(`catalog/service/${name}: no X-Consul-Index header`);
    return { index: ans.index, instances: parseCatalogService(name, ans.body) };
  }

  #set(s: NameState, instances: readonly CatalogInstance[]): boolean {
    if (this.#names.get(s.name) !== s) return false; // dropped meanwhile
    const print = catalogFingerprint(instances);
    if (s.instances !== undefined && print === s.print) return false;
    s.instances = instances;
    s.print = print;
    this.#emitSoon();
    return true;
  }

  // === plumbing ===

  #failed(what: string, err: unknown): void {
    const msg = err instanceof ConsulApiError || err instanceof GarbageError ? err.message : `consul ${what} failed: ${(err as Error).message}`;
    if (this.#lastError === undefined) this.#o.log.warn({ err: msg, keeping: this.#names.size }, 'consul catalog query failed; keeping what is known');
    else this.#o.log.debug({ err: msg }, 'consul catalog query failed again');
    this.#lastError = msg;
  }

  #emitSoon(): void {
    if (this.#emitTimer !== undefined || this.#abort.signal.aborted) return;
    this.#emitTimer = setTimeout(() => {
      this.#emitTimer = undefined;
      const view = this.view;
      for (const fn of this.#listeners) fn(view);
    }, this.#o.coalesceMs ?? 50);
    this.#emitTimer.unref();
  }

  #pacing(): QueryPacer {
    const o = this.#o;
    return new QueryPacer({ minIntervalMs: o.minQueryIntervalMs, waitMs: o.waitMs, backoffInitialMs: o.backoffInitialMs, backoffMaxMs: o.backoffMaxMs }, o.random);
  }
}
