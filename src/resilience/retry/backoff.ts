/**
 * Backoff between attempts: exponential with full jitter (AWS architecture
 * blog, "Exponential Backoff and Jitter"; Envoy's retry back-off):
 *
 *   delay(n) = random(0, min(max, base × 2^(n−1)))     n = 1 for the first retry
 *
 * Full jitter spreads retries from many clients instead of having them
 * collide in waves. When the failed response carried `Retry-After`
 * (delta-seconds or an HTTP-date, RFC 9110 §10.2.3), the server's wish wins
 * over the jitter, capped at `retryAfterMaxMs` so one header cannot park a
 * request for an hour; the decider then also checks it fits the deadline.
 */
import { mathRandom, type Rng } from '../../balancer/rng.ts';

export interface BackoffConfig {
  readonly baseMs: number;
  readonly maxMs: number;
  readonly retryAfterMaxMs: number;
}

export class Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
  readonly retryAfterMaxMs: number;
  readonly #rng: Rng;
  readonly #wallNow: () => number;

  /** `wallNow` is Date.now (HTTP-dates are wall-clock times), injectable for tests. */
  constructor(cfg: BackoffConfig, rng: Rng = mathRandom, wallNow: () => number = Date.now) {
    if (!(cfg.baseMs >= 0 && cfg.maxMs >= cfg.baseMs && cfg.retryAfterMaxMs >= 0)) {
      throw new RangeError('backoff needs 0 <= base <= max and retry_after_max >= 0');
    }
    this.baseMs = cfg.baseMs;
    this.maxMs = cfg.maxMs;
    this.retryAfterMaxMs = cfg.retryAfterMaxMs;
    this.#rng = rng;
    this.#wallNow = wallNow;
  }

  /** Upper bound of the jittered delay before retry number `retry` (1-based). */
  ceiling(retry: number): number {
    const n = retry < 1 ? 0 : retry - 1;
    const exp = this.baseMs === 0 ? 0 : this.baseMs * 2 ** Math.min(n, 1000);
    return exp < this.maxMs ? exp : this.maxMs;
  }

  /** Full-jitter delay before retry number `retry` (1-based), in ms. */
  delay(retry: number): number {
    return this.#rng() * this.ceiling(retry);
  }

  /** The delay before retry `retry`, honouring a Retry-After header value when valid. */
  delayFor(retry: number, retryAfter: string | undefined): number {
    if (retryAfter !== undefined) {
      const ra = parseRetryAfter(retryAfter, this.#wallNow());
      if (ra >= 0) return ra < this.retryAfterMaxMs ? ra : this.retryAfterMaxMs;
    }
    return this.delay(retry);
  }
}

const DIGITS = /^\d+$/;

/**
 * Retry-After → ms from now (≥ 0), or −1 when malformed. Accepts
 * delta-seconds and HTTP-dates (IMF-fixdate and the obsolete RFC 850 /
 * asctime forms, which Date.parse understands). A date in the past is 0.
 */
export function parseRetryAfter(value: string, wallNowMs: number): number {
  const v = value.trim();
  if (v.length === 0) return -1;
  if (DIGITS.test(v)) {
    const s = Number(v);
    return Number.isSafeInteger(s) ? s * 1000 : -1;
  }
  // HTTP-dates always name a weekday; refuse bare numbers-with-junk like "5s".
  if (!/^[A-Za-z]{3}/.test(v)) return -1;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return -1;
  return t > wallNowMs ? t - wallNowMs : 0;
}
