/**
 * Panic threshold (Envoy `healthy_panic_threshold`): when fewer than
 * `thresholdPercent` of an upstream's endpoints are available (healthy, not
 * ejected, breaker closed), the health signals themselves are probably what
 * is wrong (a bad deploy of health checks, a detector gone wild), and
 * concentrating all traffic on the few survivors would overload them. So the
 * balancer stops filtering and spreads load over *all* live endpoints.
 *
 * A decorator over any Balancer. Counting available endpoints is O(n), so
 * the mode is recomputed only when the set's version moves, every
 * `recheckMs`, or at once when the inner balancer finds nothing.
 */
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import type { RequestCtx } from '../core/filter.ts';
import type { Endpoint } from './endpoint.ts';
import type { EndpointSet } from './endpoint-set.ts';
import { pickRandom } from './random.ts';
import { mathRandom, type Rng } from './rng.ts';
import type { Balancer } from './types.ts';

export interface PanicOptions {
  /** Percent of available endpoints below which panic mode starts (0 disables; Envoy default 50). */
  readonly thresholdPercent: number;
  readonly recheckMs?: number;
  readonly clock?: Clock;
  readonly rng?: Rng;
}

export class PanicBalancer implements Balancer {
  readonly kind: string;
  readonly inner: Balancer;
  readonly stats = { entered: 0, picks: 0 };
  readonly #set: EndpointSet;
  readonly #threshold: number;
  readonly #recheckMs: number;
  readonly #clock: Clock;
  readonly #rng: Rng;
  #version = -1;
  #checkedAt = -Infinity;
  #panic = false;

  constructor(inner: Balancer, set: EndpointSet, opts: PanicOptions) {
    if (!(opts.thresholdPercent >= 0 && opts.thresholdPercent <= 100)) throw new RangeError('panic threshold must be within 0..100');
    this.inner = inner;
    this.kind = inner.kind;
    this.#set = set;
    this.#threshold = opts.thresholdPercent;
    this.#recheckMs = opts.recheckMs ?? 1_000;
    this.#clock = opts.clock ?? systemClock;
    this.#rng = opts.rng ?? mathRandom;
  }

  /** True while in panic mode (as of the last recheck). */
  get panicking(): boolean {
    return this.#panic;
  }

  pick(ctx: RequestCtx, exclude: Endpoint | undefined): Endpoint | undefined {
    if (this.#threshold <= 0) return this.inner.pick(ctx, exclude);
    const now = this.#clock.now();
    if (this.#version !== this.#set.version || now - this.#checkedAt >= this.#recheckMs) this.#recheck(now);
    if (!this.#panic) {
      const ep = this.inner.pick(ctx, exclude);
      if (ep !== undefined) return ep;
      this.#recheck(now);
      if (!this.#panic) return undefined;
    }
    this.stats.picks++;
    return pickRandom(this.#set.list, exclude, now, this.#rng, true);
  }

  score(ep: Endpoint): number {
    return this.inner.score ? this.inner.score(ep) : 0;
  }

  #recheck(now: number): void {
    const list = this.#set.list;
    let ok = 0;
    for (let i = 0; i < list.length; i++) if (list[i]!.available(now)) ok++;
    const panic = list.length > 0 && ok * 100 < this.#threshold * list.length;
    if (panic && !this.#panic) this.stats.entered++;
    this.#panic = panic;
    this.#version = this.#set.version;
    this.#checkedAt = now;
  }
}
