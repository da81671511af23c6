/**
 * Circuit breaking as resource limits, per upstream (Envoy's
 * `ResourceManager`; *not* the per-endpoint breaker, which lives in
 * `breaker/`). Four counters, each with a maximum:
 *
 *   connections  upstream connections open (the pool acquires on connect)
 *   pending      requests waiting for a connection
 *   requests     requests in flight to the upstream
 *   retries      retries in flight
 *
 * `tryAcquire(kind)` succeeds while active < max, so overflow happens at
 * exactly max + 1; every acquire is paired with one `release(kind)`. An
 * overflow fails fast with the preallocated `ProxyError('overflow_<kind>')`
 * (503): under overload, building an Error with a stack per rejected
 * request is the last thing to spend CPU on.
 */
import { ProxyError } from '../../core/errors.ts';

export type LimitKind = 'connections' | 'pending' | 'requests' | 'retries';
export const limitKinds: readonly LimitKind[] = ['connections', 'pending', 'requests', 'retries'];

export interface LimitsConfig {
  readonly max_connections: number;
  readonly max_pending: number;
  readonly max_requests: number;
  readonly max_retries: number;
}

interface Counter {
  readonly max: number;
  active: number;
  overflows: number;
  readonly error: ProxyError;
}

export class ResourceLimits {
  readonly upstream: string;
  readonly #c: Record<LimitKind, Counter>;

  constructor(upstream: string, cfg: LimitsConfig) {
    const counter = (kind: LimitKind, max: number): Counter => {
      if (!(Number.isInteger(max) && max >= 1)) throw new RangeError(`limits.max_${kind} must be an integer >= 1`);
      return { max, active: 0, overflows: 0, error: new ProxyError(`overflow_${kind}`, `${upstream}: max_${kind} (${max}) reached`) };
    };
    this.upstream = upstream;
    this.#c = {
      connections: counter('connections', cfg.max_connections),
      pending: counter('pending', cfg.max_pending),
      requests: counter('requests', cfg.max_requests),
      retries: counter('retries', cfg.max_retries),
    };
  }

  /** Take one unit of `kind`; false (and counted) when at the maximum. */
  tryAcquire(kind: LimitKind): boolean {
    const c = this.#c[kind];
    if (c.active >= c.max) { c.overflows++; return false; }
    c.active++;
    return true;
  }

  /** Give one unit of `kind` back. Extra releases are ignored (never negative). */
  release(kind: LimitKind): void {
    const c = this.#c[kind];
    if (c.active > 0) c.active--;
  }

  active(kind: LimitKind): number {
    return this.#c[kind].active;
  }

  max(kind: LimitKind): number {
    return this.#c[kind].max;
  }

  /** Overflows so far of `kind` (a counter for metrics). */
  overflows(kind: LimitKind): number {
    return this.#c[kind].overflows;
  }

  /** The error a request refused for `kind` carries (reason `overflow_<kind>`). */
  overflowError(kind: LimitKind): ProxyError {
    return this.#c[kind].error;
  }

  /** Plain counters for metrics and /clusters. */
  get stats(): Record<LimitKind, { active: number; max: number; overflows: number }> {
    const out = {} as Record<LimitKind, { active: number; max: number; overflows: number }>;
    for (const k of limitKinds) { const c = this.#c[k]; out[k] = { active: c.active, max: c.max, overflows: c.overflows }; }
    return out;
  }
}
