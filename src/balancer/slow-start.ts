/**
 * Slow start: a new endpoint's weight ramps up over a window instead of
 * taking its full share at once (cold caches, JIT, connection pools).
 *
 * Envoy's formula (`slow_start_config`): within the window,
 *
 *   factor = max(min_weight_percent / 100, (age / window) ^ (1 / aggression))
 *
 * where age = now − Endpoint.addedAt. Outside the window the factor is 1.
 * Aggression 1 is a linear ramp; > 1 ramps faster early. Balancers multiply
 * an endpoint's weight by this factor (weighted round robin, least request).
 * Endpoints that joined together (e.g. the first discovery set) share the
 * same factor, so the ramp only shifts load towards *older* endpoints.
 */
import type { Endpoint } from './endpoint.ts';

export interface SlowStartOptions {
  /** Ramp length in ms; 0 disables slow start. */
  readonly windowMs: number;
  /** > 0; 1 = linear. */
  readonly aggression?: number;
  /** Floor of the factor, in percent (Envoy default 10). */
  readonly minWeightPercent?: number;
}

export class SlowStart {
  readonly windowMs: number;
  readonly aggression: number;
  readonly minFactor: number;
  readonly #inv: number;

  constructor(opts: SlowStartOptions) {
    const aggression = opts.aggression ?? 1;
    const minPct = opts.minWeightPercent ?? 10;
    if (!(opts.windowMs >= 0)) throw new RangeError('slow start window must be >= 0');
    if (!(aggression > 0)) throw new RangeError('slow start aggression must be > 0');
    if (!(minPct >= 0 && minPct <= 100)) throw new RangeError('slow start min_weight_percent must be within 0..100');
    this.windowMs = opts.windowMs;
    this.aggression = aggression;
    this.minFactor = Math.max(minPct / 100, 1e-3);
    this.#inv = 1 / aggression;
  }

  /** Weight multiplier in (0, 1] for `ep` at time `now`. */
  factor(ep: Endpoint, now: number): number {
    const w = this.windowMs;
    if (w <= 0) return 1;
    const age = now - ep.addedAt;
    if (age >= w) return 1;
    const t = Math.max(age, 1) / w;
    const f = this.#inv === 1 ? t : Math.pow(t, this.#inv);
    return f > this.minFactor ? f : this.minFactor;
  }

  /** True while `ep` is still ramping. */
  active(ep: Endpoint, now: number): boolean {
    return this.windowMs > 0 && now - ep.addedAt < this.windowMs;
  }
}
