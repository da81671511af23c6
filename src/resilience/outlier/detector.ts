/**
 * Outlier detection (Envoy `outlier_detection`): eject endpoints that behave
 * worse than they should, for a while, then let them back.
 *
 * Three detectors, fed with every attempt's result:
 *   consecutive_5xx             N 5xx in a row (local failures count: connect
 *                               refused/timeout, reset, per-try timeout)
 *   consecutive_gateway_failure N of 502/503/504 or local failures in a row
 *   success_rate                every `interval`, among endpoints with at
 *                               least `request_volume` requests (and at
 *                               least `minimum_hosts` of them), eject those
 *                               below mean − stdev_factor × stdev
 *
 * An ejection sets `Endpoint.ejectedUntil = now + base × k`, capped at
 * `max_ejection_time`, where k counts this endpoint's ejections: repeat
 * offenders stay out longer. k decays by one every interval the endpoint
 * stays in. Balancers skip it until then (Endpoint.available), so the
 * return needs no timer. An ejection is refused while ejected endpoints are
 * already ≥ `max_ejection_percent` of the set (the first one is always
 * allowed, as in Envoy), which keeps capacity when an upstream as a whole is
 * in trouble; the panic threshold of the balancer is the second safeguard.
 *
 * Pure: an injectable clock, no timers. `tick()` runs the interval work; the
 * observer adapter calls it lazily, and the agent may also call it from an
 * unref'd interval so success rates are judged on an idle upstream too.
 */
import type { Clock } from '../../core/clock.ts';
import { systemClock } from '../../core/clock.ts';
import type { Endpoint } from '../../balancer/endpoint.ts';
import type { EndpointSet } from '../../balancer/endpoint-set.ts';
import type { AttemptResult } from '../../balancer/types.ts';

export interface OutlierConfig {
  /** 0 disables. */
  readonly consecutive5xx: number;
  /** 0 disables. */
  readonly consecutiveGatewayFailure: number;
  readonly intervalMs: number;
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  readonly maxEjectionPercent: number;
  readonly successRate?: {
    readonly enabled: boolean;
    readonly minimumHosts: number;
    readonly requestVolume: number;
    readonly stdevFactor: number;
  };
}

export type EjectionCause = 'consecutive_5xx' | 'consecutive_gateway_failure' | 'success_rate';

interface State {
  consecutive5xx: number;
  consecutiveGateway: number;
  /** Ejections so far, decaying by one per clean interval (the multiplier). */
  ejections: number;
  ejected: boolean;
  requests: number;
  successes: number;
}

export class OutlierDetector {
  readonly stats = {
    ejections: 0,
    consecutive_5xx: 0,
    consecutive_gateway_failure: 0,
    success_rate: 0,
    /** Ejections refused by max_ejection_percent. */
    overflow: 0,
    returned: 0,
  };
  readonly #set: EndpointSet;
  readonly #cfg: OutlierConfig;
  readonly #clock: Clock;
  readonly #state = new Map<Endpoint, State>();
  #nextTick: number;

  constructor(set: EndpointSet, cfg: OutlierConfig, clock: Clock = systemClock) {
    if (!(cfg.intervalMs > 0)) throw new RangeError('outlier interval must be > 0');
    if (!(cfg.baseEjectionMs > 0)) throw new RangeError('outlier base_ejection_time must be > 0');
    if (!(cfg.maxEjectionPercent >= 0 && cfg.maxEjectionPercent <= 100)) throw new RangeError('outlier max_ejection_percent must be within 0..100');
    this.#set = set;
    this.#cfg = cfg;
    this.#clock = clock;
    this.#nextTick = clock.now() + cfg.intervalMs;
    set.onChange(({ removed }) => { for (const ep of removed) this.#state.delete(ep); });
  }

  /** Fold one attempt result in; may eject `ep`. */
  record(ep: Endpoint, r: AttemptResult): void {
    if (!ep.live) return;
    let s = this.#state.get(ep);
    if (s === undefined) {
      s = { consecutive5xx: 0, consecutiveGateway: 0, ejections: 0, ejected: false, requests: 0, successes: 0 };
      this.#state.set(ep, s);
    }
    const st = r.status;
    const local = st === 0 && !r.ok;
    const is5xx = local || st >= 500;
    const gateway = local || st === 502 || st === 503 || st === 504;
    s.requests++;
    if (!is5xx) {
      s.successes++;
      s.consecutive5xx = 0;
      s.consecutiveGateway = 0;
      return;
    }
    s.consecutive5xx++;
    if (gateway) s.consecutiveGateway++; else s.consecutiveGateway = 0;
    const now = this.#clock.now();
    const cfg = this.#cfg;
    if (cfg.consecutiveGatewayFailure > 0 && s.consecutiveGateway >= cfg.consecutiveGatewayFailure) {
      this.#eject(ep, s, now, 'consecutive_gateway_failure');
    } else if (cfg.consecutive5xx > 0 && s.consecutive5xx >= cfg.consecutive5xx) {
      this.#eject(ep, s, now, 'consecutive_5xx');
    }
  }

  /** Run the interval work if an interval has passed. Cheap when it has not. */
  maybeTick(): void {
    if (this.#clock.now() >= this.#nextTick) this.tick();
  }

  /** The interval work: returns, multiplier decay, success-rate analysis. */
  tick(): void {
    const now = this.#clock.now();
    this.#nextTick = now + this.#cfg.intervalMs;
    for (const [ep, s] of this.#state) {
      if (s.ejected && ep.ejectedUntil <= now) {
        s.ejected = false;
        s.consecutive5xx = 0;
        s.consecutiveGateway = 0;
        this.stats.returned++;
      } else if (!s.ejected && s.ejections > 0) {
        s.ejections--;
      }
    }
    this.#successRate(now);
    for (const s of this.#state.values()) { s.requests = 0; s.successes = 0; }
  }

  /** Endpoints ejected right now (metrics gauge). */
  activeEjections(): number {
    const now = this.#clock.now();
    let n = 0;
    for (const ep of this.#set.list) if (ep.ejectedUntil > now) n++;
    return n;
  }

  /** How many times `ep` has been ejected (the current multiplier). */
  ejectionCount(ep: Endpoint): number {
    return this.#state.get(ep)?.ejections ?? 0;
  }

  #successRate(now: number): void {
    const sr = this.#cfg.successRate;
    if (sr === undefined || !sr.enabled) return;
    const candidates: Array<[Endpoint, State, number]> = [];
    for (const [ep, s] of this.#state) {
      if (ep.ejectedUntil > now || s.requests < sr.requestVolume) continue;
      candidates.push([ep, s, s.successes / s.requests]);
    }
    if (candidates.length === 0 || candidates.length < sr.minimumHosts) return;
    let sum = 0;
    for (const c of candidates) sum += c[2];
    const mean = sum / candidates.length;
    let sq = 0;
    for (const c of candidates) sq += (c[2] - mean) ** 2;
    const stdev = Math.sqrt(sq / candidates.length);
    const threshold = mean - sr.stdevFactor * stdev;
    for (const [ep, s, rate] of candidates) if (rate < threshold) this.#eject(ep, s, now, 'success_rate');
  }

  #eject(ep: Endpoint, s: State, now: number, cause: EjectionCause): void {
    if (ep.ejectedUntil > now) return;
    const list = this.#set.list;
    let ejected = 0;
    for (let i = 0; i < list.length; i++) if (list[i]!.ejectedUntil > now) ejected++;
    if (list.length === 0 || (ejected * 100) / list.length >= this.#cfg.maxEjectionPercent) {
      this.stats.overflow++;
      return;
    }
    s.ejections++;
    const cfg = this.#cfg;
    const cap = Math.max(cfg.baseEjectionMs, cfg.maxEjectionMs);
    const ms = Math.min(cfg.baseEjectionMs * s.ejections, cap);
    ep.ejectedUntil = now + ms;
    s.ejected = true;
    s.consecutive5xx = 0;
    s.consecutiveGateway = 0;
    this.stats.ejections++;
    this.stats[cause]++;
  }
}
