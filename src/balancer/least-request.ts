/**
 * `least_request` (the default, as in Linkerd): power of two choices over
 * peak-EWMA latency × (active + 1).
 *
 * A pick draws two distinct endpoints at random and keeps the cheaper one,
 * where cost = rtt × (active + 1) / (weight × slow-start factor):
 *
 * - rtt is a *peak* EWMA of attempt latency (tower/linkerd `PeakEwma`,
 *   Finagle): a sample above the estimate replaces it at once (react to
 *   slowness immediately), a sample below it is blended in with weight
 *   1 − e^(−Δt/τ) (recover gradually). When read, the estimate decays
 *   towards 0 with the same τ, so an endpoint that was slow once gets probed
 *   again later. No sample yet → `defaultRttMs`.
 * - active is the number of attempts in flight (Endpoint.active).
 *
 * Comparing two random endpoints instead of scanning all keeps a pick O(1)
 * and avoids the herd behaviour of "always the global minimum" across many
 * agents. Unavailable endpoints and `exclude` are skipped; when the two
 * draws hit them, a scan from a random start finds usable ones (O(n), only
 * when many endpoints are down).
 *
 * The EWMA is fed by `PeakEwmaObserver`, an AttemptObserver the router calls.
 */
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import type { RequestCtx } from '../core/filter.ts';
import type { Endpoint } from './endpoint.ts';
import type { EndpointSet } from './endpoint-set.ts';
import { mathRandom, type Rng } from './rng.ts';
import type { SlowStart } from './slow-start.ts';
import type { AttemptObserver, AttemptResult, Balancer } from './types.ts';

export interface PeakEwmaOptions {
  readonly clock?: Clock;
  /** τ of the exponential decay, ms (Linkerd: 10 s). */
  readonly decayMs?: number;
  /** Estimate for an endpoint without samples, ms (Linkerd: 30 ms). */
  readonly defaultRttMs?: number;
}

export interface LeastRequestOptions extends PeakEwmaOptions {
  readonly rng?: Rng;
  readonly slowStart?: SlowStart;
}

/**
 * The decayed estimate of `ep` at `now` (read-only). Without samples it is
 * `defaultRttMs` decaying from the endpoint's arrival, as tower seeds its
 * estimate: otherwise, under low concurrency, a never-tried endpoint would
 * look slower than every sampled one forever and never be tried.
 */
export function ewmaEstimate(ep: Endpoint, now: number, decayMs: number, defaultRttMs: number): number {
  if (ep.ewmaAt === 0 && ep.ewmaMs === 0) {
    const age = now - ep.addedAt;
    return age > 0 ? defaultRttMs * Math.exp(-age / decayMs) : defaultRttMs;
  }
  const dt = now - ep.ewmaAt;
  return dt > 0 ? ep.ewmaMs * Math.exp(-dt / decayMs) : ep.ewmaMs;
}

/** Fold one latency sample into `ep`'s peak EWMA. */
export function updatePeakEwma(ep: Endpoint, rttMs: number, now: number, decayMs: number): void {
  const rtt = rttMs > 0 ? rttMs : 0;
  if ((ep.ewmaAt === 0 && ep.ewmaMs === 0) || rtt > ep.ewmaMs) {
    ep.ewmaMs = rtt;
  } else {
    const dt = now - ep.ewmaAt;
    const w = dt > 0 ? Math.exp(-dt / decayMs) : 1;
    ep.ewmaMs = ep.ewmaMs * w + rtt * (1 - w);
  }
  ep.ewmaAt = now;
}

export class LeastRequest implements Balancer {
  readonly kind = 'least_request';
  readonly #set: EndpointSet;
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #decayMs: number;
  readonly #defaultRtt: number;
  readonly #slowStart: SlowStart | undefined;

  constructor(set: EndpointSet, opts: LeastRequestOptions = {}) {
    this.#set = set;
    this.#clock = opts.clock ?? systemClock;
    this.#rng = opts.rng ?? mathRandom;
    this.#decayMs = opts.decayMs ?? 10_000;
    this.#defaultRtt = opts.defaultRttMs ?? 30;
    this.#slowStart = opts.slowStart;
    if (!(this.#decayMs > 0)) throw new RangeError('least_request decay must be > 0');
    if (!(this.#defaultRtt > 0)) throw new RangeError('least_request default_rtt must be > 0');
  }

  pick(_ctx: RequestCtx, exclude: Endpoint | undefined): Endpoint | undefined {
    const list = this.#set.list;
    const n = list.length;
    if (n === 0) return undefined;
    const now = this.#clock.now();
    let a: Endpoint | undefined;
    let b: Endpoint | undefined;
    if (n >= 2) {
      // Fast path: two distinct random indices.
      const i = (this.#rng() * n) | 0;
      let j = (this.#rng() * (n - 1)) | 0;
      if (j >= i) j++;
      const x = list[i]!;
      const y = list[j]!;
      if (x !== exclude && x.available(now)) a = x;
      if (y !== exclude && y.available(now)) { if (a === undefined) a = y; else b = y; }
    }
    if (b === undefined) {
      // Slow path: scan from a random start for up to two usable endpoints.
      const start = (this.#rng() * n) | 0;
      for (let k = 0; k < n; k++) {
        const ep = list[(start + k) % n]!;
        if (ep === exclude || ep === a || !ep.available(now)) continue;
        if (a === undefined) a = ep;
        else { b = ep; break; }
      }
    }
    if (a === undefined) return exclude !== undefined && exclude.available(now) ? exclude : undefined;
    if (b === undefined) return a;
    return this.#cost(b, now) < this.#cost(a, now) ? b : a;
  }

  score(ep: Endpoint): number {
    return this.#cost(ep, this.#clock.now());
  }

  #cost(ep: Endpoint, now: number): number {
    const rtt = ewmaEstimate(ep, now, this.#decayMs, this.#defaultRtt);
    const w = ep.spec.weight > 0 ? ep.spec.weight : 1;
    const f = this.#slowStart ? this.#slowStart.factor(ep, now) : 1;
    // A tiny floor keeps "active" meaningful when the estimate decayed to ~0.
    return ((rtt > 1e-3 ? rtt : 1e-3) * (ep.active + 1)) / (w * f);
  }
}

export interface PeakEwmaObserverOptions extends PeakEwmaOptions {
  /**
   * Maintain Endpoint.active (++ on attempt start, −− on end). Off by
   * default: the router (proxy/cluster.ts) keeps active, requests and
   * failures itself; simulations without it turn this on.
   */
  readonly trackActive?: boolean;
  /**
   * Latency charged for an attempt that got no response at all (connect
   * refused, reset): without it a fast-failing endpoint looks like the
   * fastest one and attracts load until outlier detection ejects it
   * (undici BalancedPool's errorPenalty plays the same role). 0 disables.
   */
  readonly failurePenaltyMs?: number;
}

/** Feeds the peak EWMA from attempt outcomes (and, optionally, Endpoint.active). */
export class PeakEwmaObserver implements AttemptObserver {
  readonly #clock: Clock;
  readonly #decayMs: number;
  readonly #trackActive: boolean;
  readonly #penalty: number;

  constructor(opts: PeakEwmaObserverOptions = {}) {
    this.#clock = opts.clock ?? systemClock;
    this.#decayMs = opts.decayMs ?? 10_000;
    this.#trackActive = opts.trackActive ?? false;
    this.#penalty = opts.failurePenaltyMs ?? 1_000;
  }

  onAttemptStart(ep: Endpoint): void {
    if (this.#trackActive) ep.active++;
  }

  onAttemptEnd(ep: Endpoint, _ctx: RequestCtx, result: AttemptResult): void {
    if (this.#trackActive && ep.active > 0) ep.active--;
    let rtt = result.latencyMs;
    if (!result.ok && result.status === 0 && rtt < this.#penalty) rtt = this.#penalty;
    updatePeakEwma(ep, rtt, this.#clock.now(), this.#decayMs);
  }
}
