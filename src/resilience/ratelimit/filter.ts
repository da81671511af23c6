/**
 * Rate limiting as a hot-path Filter: one or two token buckets, `global`
 * (the whole upstream outbound, the whole service inbound) and `per_source`
 * (one per caller: its SPIFFE ID over mTLS, else its address). A request
 * needs a token from every bucket that applies; it is counted once per
 * request head, so HTTP/2 streams count like HTTP/1 requests (the codec
 * runs the stack per stream) and multiplexing cannot bypass the limit.
 *
 * Memory store: fully synchronous. All buckets are checked first and only
 * then consumed, so a request refused by one bucket does not spend a token
 * of another, and counts are exact.
 *
 * Redis store: the sync pass lets the request on, and `onRequestAsync`
 * (see async-filter.ts) asks Redis, per bucket in order (per_source, then
 * global). Each bucket is one atomic script, but two buckets are two round
 * trips: a request the global bucket refuses has spent a per_source token.
 * A Redis error applies `on_error`: the local bucket, allow, or deny.
 *
 * A refused request gets ProxyError('rate_limited') → 429 with Retry-After,
 * RateLimit-Policy and RateLimit (headers.ts).
 */
import type { Clock } from '../../core/clock.ts';
import { systemClock } from '../../core/clock.ts';
import { ProxyError } from '../../core/errors.ts';
import type { RequestCtx } from '../../core/filter.ts';
import { Verdict } from '../../core/filter.ts';
import type { AsyncFilter } from '../async-filter.ts';
import { policyField, rejectHeaders } from './headers.ts';
import type { RedisBuckets } from './redis-store.ts';
import { TokenBuckets } from './token-bucket.ts';

export interface RateLimitRule {
  /** 'global' | 'per_source': the policy name in the headers and stats. */
  readonly name: string;
  readonly perSource: boolean;
  readonly ratePerSecond: number;
  readonly burst: number;
}

interface Rule extends RateLimitRule {
  readonly local: TokenBuckets;
  readonly remote: RedisBuckets | undefined;
  readonly policy: string;
}

export type OnRedisError = 'local' | 'allow' | 'deny';

export interface RateLimitFilterOptions {
  /** For error details (upstream or service name). */
  readonly scope: string;
  readonly rules: readonly RateLimitRule[];
  readonly clock?: Clock;
  readonly maxSources?: number;
  /** Build a Redis-backed bucket per rule (redis-store.ts); absent = memory store. */
  readonly redis?: (rule: RateLimitRule) => RedisBuckets;
  readonly onRedisError?: OnRedisError;
}

export interface RateLimitStats {
  allowed: number;
  limited: number;
  /** By rule name. */
  limitedBy: Record<string, number>;
  redisErrors: number;
}

export function sourceKey(ctx: RequestCtx): string {
  return ctx.peerIdentity ?? ctx.remoteAddress;
}

export class RateLimitFilter implements AsyncFilter {
  readonly name = 'ratelimit';
  readonly stats: RateLimitStats;
  readonly #scope: string;
  readonly #rules: Rule[];
  readonly #redis: boolean;
  readonly #onError: OnRedisError;

  constructor(opts: RateLimitFilterOptions) {
    const clock = opts.clock ?? systemClock;
    // per_source first: it is the one a single noisy caller trips.
    const ordered = [...opts.rules].sort((a, b) => Number(b.perSource) - Number(a.perSource));
    this.#rules = ordered.map((r) => ({
      ...r,
      local: new TokenBuckets({ ratePerSecond: r.ratePerSecond, burst: r.burst }, clock, r.perSource ? (opts.maxSources ?? 100_000) : 1),
      remote: opts.redis?.(r),
      policy: policyField(r.name, r.burst, r.ratePerSecond),
    }));
    this.#scope = opts.scope;
    this.#redis = opts.redis !== undefined;
    this.#onError = opts.onRedisError ?? 'local';
    this.stats = { allowed: 0, limited: 0, limitedBy: Object.fromEntries(ordered.map((r) => [r.name, 0])), redisErrors: 0 };
  }

  onRequest(ctx: RequestCtx): Verdict {
    if (this.#redis) return Verdict.Continue;
    return this.#local(ctx);
  }

  onRequestAsync(ctx: RequestCtx): Promise<Verdict> | null {
    if (!this.#redis) return null;
    return this.#remote(ctx);
  }

  /** Check every bucket, then consume from every bucket. */
  #local(ctx: RequestCtx): Verdict {
    const rules = this.#rules;
    let src = '';
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      if (r.perSource && src === '') src = sourceKey(ctx);
      const wait = r.local.wait(r.perSource ? src : '');
      if (wait > 0) return this.#reject(ctx, r, wait);
    }
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      r.local.take(r.perSource ? src : '');
    }
    this.stats.allowed++;
    return Verdict.Continue;
  }

  async #remote(ctx: RequestCtx): Promise<Verdict> {
    const src = sourceKey(ctx);
    for (const r of this.#rules) {
      const key = r.perSource ? src : '';
      let wait: number;
      try {
        wait = await r.remote!.take(key);
      } catch {
        this.stats.redisErrors++;
        if (this.#onError === 'allow') continue;
        wait = this.#onError === 'deny' ? 1000 : r.local.take(key);
      }
      if (wait > 0) return this.#reject(ctx, r, wait);
    }
    this.stats.allowed++;
    return Verdict.Continue;
  }

  #reject(ctx: RequestCtx, r: Rule, waitMs: number): Verdict {
    this.stats.limited++;
    this.stats.limitedBy[r.name]!++;
    ctx.error = new ProxyError('rate_limited', `${r.name} rate limit of ${this.#scope} (${r.ratePerSecond}/s, burst ${r.burst})`, {
      headers: rejectHeaders(r.name, r.policy, waitMs),
    });
    return Verdict.Reply;
  }
}
