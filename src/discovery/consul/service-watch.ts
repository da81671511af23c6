/**
 * One service's discovery loop against Consul: blocking queries on
 * /v1/health/connect/:service (or health/service), paced by QueryPacer, parsed
 * by health-entries.ts, chosen by select.ts, published to subscribers only
 * when the endpoint set really changed.
 *
 * Static stability: network errors, HTTP errors, timeouts and garbage (not
 * JSON, wrong shape, no X-Consul-Index) never change the published set; the
 * watch keeps the last good set, records the error and retries with backoff.
 * One more guard: an EMPTY answer right after the index went backwards (a
 * restored or restarted Consul that has not caught up) does not replace a
 * non-empty set until a later blocking answer confirms it.
 */
import type { Logger } from '../../telemetry/log.ts';
import type { EndpointSetUpdate, WatchStatus } from '../types.ts';
import type { LatestChannel } from '../watch-channel.ts';
import type { ConsulClient } from './client.ts';
import { ConsulApiError } from './errors.ts';
import { FlapDamper } from './flap-damper.ts';
import { fingerprint, GarbageError, parseHealthEntries, tagFilter, type HealthInstance } from './health-entries.ts';
import type { ServiceQuery } from './options.ts';
import { QueryPacer } from './query-pacer.ts';
import { selectEndpoints } from './select.ts';

export interface ServiceWatchOptions {
  readonly client: ConsulClient;
  readonly query: ServiceQuery;
  readonly waitMs: number;
  readonly minQueryIntervalMs: number;
  readonly flapHolddownMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly trustDomain?: string | undefined;
  readonly log: Logger;
  readonly random?: () => number;
}

export interface ServiceWatchStatus extends WatchStatus {
  /** ms since the last successful answer (undefined before the first). */
  readonly staleMs: number | undefined;
  /** Fail-open engaged: no healthy instance, all instances in use. */
  readonly panic: boolean;
  readonly endpoints: number;
  readonly queries: number;
}

export class ServiceWatch {
  readonly service: string;
  readonly #o: ServiceWatchOptions;
  readonly #pacer: QueryPacer;
  readonly #damper: FlapDamper;
  readonly #abort = new AbortController();
  readonly #subscribers = new Set<LatestChannel<EndpointSetUpdate>>();
  #current: EndpointSetUpdate | undefined;
  #currentPrint = '';
  #instances: HealthInstance[] = [];
  #lastSuccessAt: number | undefined;
  #lastError: string | undefined;
  #panic = false;
  #holdingEmpty = false;
  #queries = 0;
  #recheck: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;

  constructor(o: ServiceWatchOptions) {
    this.service = o.query.service;
    this.#o = o;
    this.#pacer = new QueryPacer({
      minIntervalMs: o.minQueryIntervalMs, waitMs: o.waitMs, backoffInitialMs: o.backoffInitialMs, backoffMaxMs: o.backoffMaxMs,
    }, o.random);
    this.#damper = new FlapDamper(o.flapHolddownMs);
  }

  get source(): string { return `consul:health/${this.#o.query.endpoint}`; }

  start(): void {
    void this.#loop();
  }

  subscribe(ch: LatestChannel<EndpointSetUpdate>): void {
    this.#subscribers.add(ch);
    if (this.#current) ch.put(this.#current);
  }

  /** Returns how many subscribers remain. */
  unsubscribe(ch: LatestChannel<EndpointSetUpdate>): number {
    this.#subscribers.delete(ch);
    ch.close();
    return this.#subscribers.size;
  }

  stop(): void {
    this.#abort.abort();
    clearTimeout(this.#recheck);
    this.#wake?.();
    for (const ch of this.#subscribers) ch.close();
    this.#subscribers.clear();
  }

  status(): ServiceWatchStatus {
    return {
      service: this.service,
      synced: this.#current !== undefined,
      lastSuccessAt: this.#lastSuccessAt,
      lastError: this.#lastError,
      staleMs: this.#lastSuccessAt === undefined ? undefined : Date.now() - this.#lastSuccessAt,
      panic: this.#panic,
      endpoints: this.#current?.endpoints.length ?? 0,
      queries: this.#queries,
    };
  }

  async #loop(): Promise<void> {
    const { client, query, log } = this.#o;
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      const started = Date.now();
      const sent = this.#pacer.index;
      let delay: number;
      try {
        this.#queries++;
        const ans = await client.health(query.endpoint, query.service, {
          passing: !query.failOpen, datacenter: query.datacenter, filter: tagFilter(query.tags),
          index: sent, waitMs: this.#o.waitMs, signal,
        });
        if (ans.index === undefined) throw new GarbageError('no X-Consul-Index header');
        const instances = parseHealthEntries(ans.body);
        if (ans.filtered && instances.length === 0) {
          throw new ConsulApiError({
            kind: 'acl', method: 'GET', path: `/v1/health/${query.endpoint}/${query.service}`, status: 403,
            message: `consul hid every instance of ${query.service} from our token (X-Consul-Results-Filtered-By-Acls): the token lacks 'service:read' on "${query.service}"${query.endpoint === 'connect' ? ` or "${query.service}-sidecar-proxy"` : ''}, or 'node:read'`,
          });
        }
        const reset = this.#pacer.observe(ans.index);
        const changed = this.#apply(instances, { reset, blocking: sent > 0 });
        this.#lastSuccessAt = Date.now();
        if (!this.#holdingEmpty) {
          if (this.#lastError !== undefined) log.info({ service: this.service, endpoints: this.#current?.endpoints.length ?? 0 }, 'consul discovery recovered');
          this.#lastError = undefined;
        }
        delay = this.#pacer.delay(sent, reset, changed, Date.now() - started);
      } catch (err) {
        if (signal.aborted) break;
        const msg = err instanceof ConsulApiError || err instanceof GarbageError ? err.message : `consul health query failed: ${(err as Error).message}`;
        if (this.#lastError === undefined) {
          log.warn({ service: this.service, err: msg, keeping: this.#current?.endpoints.length ?? 0 }, 'consul discovery query failed; keeping the last known endpoints');
        } else {
          log.debug({ service: this.service, err: msg }, 'consul discovery query failed again');
        }
        this.#lastError = msg;
        delay = this.#pacer.onError();
        await this.#sleep(delay);
        continue;
      }
      await this.#sleep(Math.max(0, started + delay - Date.now()));
    }
  }

  /** Apply a well-formed answer; returns whether the published set changed. */
  #apply(instances: HealthInstance[], a: { reset: boolean; blocking: boolean }): boolean {
    this.#instances = instances;
    const q = this.#o.query;
    const sel = selectEndpoints(instances, { tags: q.tags, failOpen: q.failOpen, trustDomain: this.#o.trustDomain }, this.#damper, Date.now());
    this.#scheduleRecheck(sel.recheckAt);
    const hadEndpoints = (this.#current?.endpoints.length ?? 0) > 0;
    if (sel.endpoints.length === 0 && hadEndpoints && (a.reset || (this.#holdingEmpty && !a.blocking))) {
      if (!this.#holdingEmpty) this.#o.log.warn({ service: this.service, keeping: this.#current!.endpoints.length }, 'consul index went backwards and the answer is empty; keeping the last known endpoints until Consul confirms');
      this.#holdingEmpty = true;
      this.#lastError = 'index went backwards with an empty answer; holding the last known endpoints until confirmed';
      return false;
    }
    this.#holdingEmpty = false;
    if (sel.panic !== this.#panic) {
      this.#panic = sel.panic;
      if (sel.panic) this.#o.log.warn({ service: this.service, instances: sel.total }, 'no healthy instance: fail-open uses all instances');
      else this.#o.log.info({ service: this.service }, 'healthy instances are back: fail-open off');
    }
    return this.#publish(sel.endpoints);
  }

  #publish(endpoints: EndpointSetUpdate['endpoints']): boolean {
    const print = fingerprint(endpoints);
    if (this.#current && print === this.#currentPrint) return false;
    this.#current = { service: this.service, endpoints, source: this.source };
    this.#currentPrint = print;
    for (const ch of this.#subscribers) ch.put(this.#current);
    return true;
  }

  /** Flap damping: re-run the selection when a held-down instance becomes admissible. */
  #scheduleRecheck(at: number | undefined): void {
    clearTimeout(this.#recheck);
    this.#recheck = undefined;
    if (at === undefined || this.#abort.signal.aborted) return;
    this.#recheck = setTimeout(() => {
      this.#recheck = undefined;
      if (this.#holdingEmpty) return;
      const q = this.#o.query;
      const sel = selectEndpoints(this.#instances, { tags: q.tags, failOpen: q.failOpen, trustDomain: this.#o.trustDomain }, this.#damper, Date.now());
      this.#publish(sel.endpoints);
      this.#scheduleRecheck(sel.recheckAt);
    }, Math.max(0, at - Date.now()) + 5);
    this.#recheck.unref();
  }

  #sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.#abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void { clearTimeout(t); resolve(); }
      this.#wake = done;
    });
  }
}
