/**
 * A rate-limit filter from its config section: used for each outbound
 * upstream (scope = the upstream) and for the inbound side (scope = the
 * service, per-source buckets keyed by the caller's SPIFFE ID).
 */
import type { Redis } from 'ioredis';
import type { Clock } from '../../core/clock.ts';
import type { RateLimitOptions } from '../options.ts';
import { RateLimitFilter, type RateLimitRule } from './filter.ts';
import { RedisBuckets, redisClient } from './redis-store.ts';

export interface BuiltRateLimit {
  /** undefined when no bucket is configured. */
  readonly filter: RateLimitFilter | undefined;
  close(): Promise<void>;
}

export function buildRateLimit(scope: string, rl: RateLimitOptions, deps: { clock?: Clock; redis?: Redis | undefined } = {}): BuiltRateLimit {
  const rules: RateLimitRule[] = [];
  if (rl.global) rules.push({ name: 'global', perSource: false, ratePerSecond: rl.global.requests_per_second, burst: rl.global.burst });
  if (rl.per_source) rules.push({ name: 'per_source', perSource: true, ratePerSecond: rl.per_source.requests_per_second, burst: rl.per_source.burst });
  if (rules.length === 0) return { filter: undefined, close: async () => {} };
  let redis = deps.redis;
  let own = false;
  if (rl.store === 'redis' && redis === undefined) { redis = redisClient(rl.redis.url, rl.redis.timeout); own = true; }
  const client = redis;
  const filter = new RateLimitFilter({
    scope,
    rules,
    clock: deps.clock,
    maxSources: rl.max_sources,
    onRedisError: rl.redis.on_error,
    ...(client === undefined || rl.store !== 'redis' ? {} : {
      redis: (rule: RateLimitRule) => new RedisBuckets(client, { ratePerSecond: rule.ratePerSecond, burst: rule.burst, keyPrefix: `${rl.redis.key_prefix}:${scope}:${rule.name}` }),
    }),
  });
  return {
    filter,
    async close() {
      if (own && client) await client.quit().catch(() => client.disconnect());
    },
  };
}
