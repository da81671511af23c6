/**
 * Where the metrics that are not counted on the hot path come from: plain
 * stats objects that resilience, identity and discovery keep anyway (counters
 * in a `stats` field, a `status()` method). The registry reads them at
 * scrape time in `collect()` callbacks, so those modules never import
 * prom-client, and an unscraped agent pays nothing.
 *
 * The lead plugs a source in with `metrics.sources.addResilience(...)`,
 * `setIdentity(...)`, `addDiscovery(...)`; `resilienceStats()` adapts the
 * object `buildUpstreamResilience()` returns.
 *
 * Cumulative values read from a source are mirrored into prom-client
 * counters. `/reset_counters` cannot zero a source's own fields, so the
 * mirror keeps a baseline per series and reports `value - baseline`.
 */
import type { Direction } from '../core/filter.ts';
import type { UpstreamResilience } from '../resilience/upstream.ts';

export type OverflowKind = 'connections' | 'pending' | 'requests' | 'retries';
export const overflowKinds: readonly OverflowKind[] = ['connections', 'pending', 'requests', 'retries'];

/** One upstream's (or the inbound side's) resilience counters. Every reader is optional. */
export interface ResilienceStatsSource {
  readonly direction: Direction;
  readonly target: string;
  /** Cumulative retries made. */
  retries?(): number;
  /** Cumulative retries refused by the budget. */
  retryBudgetExhausted?(): number;
  /** Cumulative overflows by kind. */
  overflows?(): Readonly<Partial<Record<OverflowKind, number>>>;
  /** [endpoint key, 'open' | 'closed' | 'half_open'] for every endpoint with a breaker. */
  breakerStates?(): Iterable<readonly [string, string]>;
  /** Endpoints ejected now. */
  ejectionsActive?(): number;
  /** Cumulative requests refused by a rate limit. */
  rateLimited?(): number;
}

/** Same shape as identity/signals.ts `IdentitySignals`: pass `source.signals` as is. */
export interface IdentityStatsSource {
  readonly refresh: { readonly success: number; readonly failure: number };
  expirationTimestampSeconds(): number | undefined;
}

/** One upstream's discovery watch (Resolver.status(name) fits). */
export interface DiscoveryStatsSource {
  readonly target: string;
  status(): { readonly lastSuccessAt: number | undefined };
}

export class MetricSources {
  readonly resilience: ResilienceStatsSource[] = [];
  readonly discovery: DiscoveryStatsSource[] = [];
  identity: IdentityStatsSource | undefined;
  readonly #base = new Map<string, number>();
  readonly #last = new Map<string, number>();

  addResilience(s: ResilienceStatsSource): void {
    const i = this.resilience.findIndex((x) => x.direction === s.direction && x.target === s.target);
    if (i >= 0) this.resilience[i] = s; // a rebuilt upstream replaces its old source
    else this.resilience.push(s);
  }

  addDiscovery(s: DiscoveryStatsSource): void {
    const i = this.discovery.findIndex((x) => x.target === s.target);
    if (i >= 0) this.discovery[i] = s;
    else this.discovery.push(s);
  }

  setIdentity(s: IdentityStatsSource | undefined): void {
    this.identity = s;
  }

  /** Inbound request counts per caller identity (bounded; see peer-stats.ts). */
  peers: { readonly target: string; readonly counts: ReadonlyMap<string, number> } | undefined;
  setPeers(p: { readonly target: string; readonly counts: ReadonlyMap<string, number> } | undefined): void {
    this.peers = p;
  }

  /** A cumulative source value as the counter should show it (after /reset_counters baselines). */
  mirrored(key: string, value: number): number {
    this.#last.set(key, value);
    const base = this.#base.get(key) ?? 0;
    return value >= base ? value - base : value; // the source restarted from 0: no baseline applies
  }

  /** /reset_counters: what sources report now becomes zero. */
  resetBaselines(): void {
    for (const [k, v] of this.#last) this.#base.set(k, v);
  }
}

/** Adapt what `buildUpstreamResilience()` returns to a stats source. */
export function resilienceStats(direction: Direction, target: string,
  r: Pick<UpstreamResilience, 'retryStats' | 'limits' | 'breakers' | 'outlier' | 'rateLimit'>): ResilienceStatsSource {
  const { breakers, outlier, rateLimit } = r;
  return {
    direction, target,
    retries: () => r.retryStats.retries,
    retryBudgetExhausted: () => r.retryStats.budget_exhausted,
    overflows: () => {
      const s = r.limits.stats;
      return { connections: s.connections.overflows, pending: s.pending.overflows, requests: s.requests.overflows, retries: s.retries.overflows };
    },
    ...(breakers ? { breakerStates: () => breakers.states() } : {}),
    ...(outlier ? { ejectionsActive: () => outlier.activeEjections() } : {}),
    ...(rateLimit ? { rateLimited: () => rateLimit.stats.limited } : {}),
  };
}
