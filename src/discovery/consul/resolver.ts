/**
 * The Consul resolver: `Resolver` (discovery/types.ts) backed by one
 * ServiceWatch per watched service, shared by every subscriber of that
 * service and stopped when the last one leaves.
 *
 * `status(service)` feeds /ready and the staleness gauge: `lastSuccessAt`
 * moves on every good answer; `staleMs` grows while Consul is unreachable,
 * during which the last known endpoints stay in use.
 */
import type { Logger } from '../../telemetry/log.ts';
import { silentLogger } from '../../telemetry/log.ts';
import type { EndpointSetUpdate, Resolver, WatchStatus } from '../types.ts';
import { LatestChannel } from '../watch-channel.ts';
import type { ConsulClient } from './client.ts';
import { serviceQuery, type ConsulSection } from './options.ts';
import { ServiceWatch, type ServiceWatchStatus } from './service-watch.ts';

export interface ConsulResolverOptions {
  readonly client: ConsulClient;
  readonly config: ConsulSection;
  /** Trust domain of the Connect CA, to fill EndpointSpec.identity (optional). */
  readonly trustDomain?: string | undefined;
  readonly log?: Logger;
  readonly random?: () => number;
}

export class ConsulResolver implements Resolver {
  readonly kind = 'consul';
  readonly #o: ConsulResolverOptions;
  readonly #log: Logger;
  readonly #watches = new Map<string, ServiceWatch>();
  #trustDomain: string | undefined;
  #closed = false;

  constructor(o: ConsulResolverOptions) {
    this.#o = o;
    this.#log = o.log ?? silentLogger;
    this.#trustDomain = o.trustDomain;
  }

  /** Set once the Connect trust domain is known; applies to watches started afterwards. */
  set trustDomain(td: string | undefined) { this.#trustDomain = td; }

  watch(service: string, signal: AbortSignal): AsyncIterable<EndpointSetUpdate> {
    const ch = new LatestChannel<EndpointSetUpdate>();
    if (this.#closed || signal.aborted) { ch.close(); return ch; }
    let w = this.#watches.get(service);
    if (!w) {
      const c = this.#o.config;
      w = new ServiceWatch({
        client: this.#o.client,
        query: serviceQuery(c, service),
        waitMs: c.wait,
        minQueryIntervalMs: c.discovery.min_query_interval,
        flapHolddownMs: c.discovery.flap_holddown,
        backoffInitialMs: c.discovery.backoff_initial,
        backoffMaxMs: c.discovery.backoff_max,
        trustDomain: this.#trustDomain,
        log: this.#log.child({ upstream: service }),
        ...(this.#o.random ? { random: this.#o.random } : {}),
      });
      this.#watches.set(service, w);
      w.start();
    }
    const watch = w;
    watch.subscribe(ch);
    signal.addEventListener('abort', () => {
      if (watch.unsubscribe(ch) === 0 && this.#watches.get(service) === watch) {
        watch.stop();
        this.#watches.delete(service);
      }
    }, { once: true });
    return ch;
  }

  status(service: string): WatchStatus {
    return this.detail(service);
  }

  /** status() plus staleness, panic flag, endpoint and query counts. */
  detail(service: string): ServiceWatchStatus {
    const w = this.#watches.get(service);
    if (w) return w.status();
    return { service, synced: false, lastSuccessAt: undefined, lastError: 'not watched', staleMs: undefined, panic: false, endpoints: 0, queries: 0 };
  }

  /** Every watched service's detail (for /ready and the staleness gauge). */
  all(): ServiceWatchStatus[] {
    return [...this.#watches.values()].map((w) => w.status());
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#watches.values()) w.stop();
    this.#watches.clear();
  }
}
