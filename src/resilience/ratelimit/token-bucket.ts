/**
 * A synchronous token bucket for the hot path, kept as GCRA (the "virtual
 * scheduling" form of a token bucket, as in redis-cell and many gateways).
 *
 * Why not rate-limiter-flexible's RateLimiterMemory here: its `consume()`
 * returns a Promise (filters are synchronous), it counts *fixed windows*
 * (a burst can straddle a window edge and pass 2× the limit — not a token
 * bucket), it reads Date.now() (not injectable) and arms a setTimeout per
 * key. Its synchronous core (MemoryStorage.incrby) has the same fixed-window
 * semantics. So the memory store is this class; the Redis store
 * (`redis-store.ts`) runs rate-limiter-flexible's RateLimiterRedis with a
 * Lua script implementing *this same algorithm*, so both stores agree.
 *
 * GCRA: with emission interval T = 1000 / rate ms and capacity `burst`, each
 * key stores one number, its theoretical arrival time (TAT). A request at
 * `now` is allowed iff max(TAT, now) + T − now ≤ burst × T, and then TAT
 * advances by T. That is exactly a bucket of `burst` tokens refilled at
 * `rate`/s, but with one float per key instead of (tokens, timestamp), and
 * no refill loop. A key whose TAT ≤ now is a full bucket, equivalent to no
 * entry, so the key map stays bounded by dropping those first.
 */
import type { Clock } from '../../core/clock.ts';
import { systemClock } from '../../core/clock.ts';

export interface BucketConfig {
  /** Sustained rate, tokens per second (> 0). */
  readonly ratePerSecond: number;
  /** Capacity: the largest burst (integer ≥ 1). */
  readonly burst: number;
}

/** Tolerance for float sums of T at exact boundaries (ms). */
const EPS = 1e-6;

export class TokenBuckets {
  readonly burst: number;
  readonly ratePerSecond: number;
  /** Emission interval, ms per token. */
  readonly intervalMs: number;
  readonly maxKeys: number;
  readonly #clock: Clock;
  readonly #tat = new Map<string, number>();
  /** The '' key (a global bucket) lives in a field: no Map lookup, no boxed number per request. */
  #globalTat: number | undefined;
  /** Tokens left after the last successful take (for the RateLimit header). */
  lastRemaining = 0;

  constructor(cfg: BucketConfig, clock: Clock = systemClock, maxKeys = 100_000) {
    if (!(cfg.ratePerSecond > 0)) throw new RangeError('rate limit requests_per_second must be > 0');
    if (!(Number.isInteger(cfg.burst) && cfg.burst >= 1)) throw new RangeError('rate limit burst must be an integer >= 1');
    if (!(Number.isInteger(maxKeys) && maxKeys >= 1)) throw new RangeError('rate limit max keys must be an integer >= 1');
    this.burst = cfg.burst;
    this.ratePerSecond = cfg.ratePerSecond;
    this.intervalMs = 1000 / cfg.ratePerSecond;
    this.maxKeys = maxKeys;
    this.#clock = clock;
  }

  /** ms until `key` has a token (0 = one is available now). Does not consume. */
  wait(key: string): number {
    const now = this.#clock.now();
    const tat = key === '' ? this.#globalTat : this.#tat.get(key);
    const start = tat !== undefined && tat > now ? tat : now;
    const over = start + this.intervalMs - now - this.burst * this.intervalMs;
    return over > EPS ? over : 0;
  }

  /** Take one token if there is one: returns 0, else the ms until there will be one. */
  take(key: string): number {
    const now = this.#clock.now();
    const map = this.#tat;
    const global = key === '';
    const tat = global ? this.#globalTat : map.get(key);
    const start = tat !== undefined && tat > now ? tat : now;
    const next = start + this.intervalMs;
    const over = next - now - this.burst * this.intervalMs;
    if (over > EPS) return over;
    if (global) this.#globalTat = next;
    else {
      if (tat === undefined && map.size >= this.maxKeys) this.#evict(now);
      map.set(key, next);
    }
    this.lastRemaining = Math.floor(this.burst - (next - now) / this.intervalMs + EPS);
    return 0;
  }

  /** Tokens available to `key` now. */
  remaining(key: string): number {
    const now = this.#clock.now();
    const tat = key === '' ? this.#globalTat : this.#tat.get(key);
    if (tat === undefined || tat <= now) return this.burst;
    return Math.max(0, Math.floor(this.burst - (tat - now) / this.intervalMs + EPS));
  }

  /** ms until `key`'s bucket is full again. */
  resetMs(key: string): number {
    const tat = key === '' ? this.#globalTat : this.#tat.get(key);
    const now = this.#clock.now();
    return tat === undefined || tat <= now ? 0 : tat - now;
  }

  get size(): number {
    return this.#tat.size;
  }

  /** Drop full buckets; if still at the bound, the oldest-inserted (lenient: they start full). */
  #evict(now: number): void {
    const map = this.#tat;
    for (const [k, tat] of map) if (tat <= now) map.delete(k);
    if (map.size < this.maxKeys) return;
    let drop = map.size - this.maxKeys + 1 + (this.maxKeys >> 4);
    for (const k of map.keys()) { if (drop-- <= 0) break; map.delete(k); }
  }
}
