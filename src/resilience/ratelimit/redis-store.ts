/**
 * The Redis store: a limit shared by every replica, through
 * rate-limiter-flexible's `RateLimiterRedis` (ioredis client).
 *
 * rate-limiter-flexible counts fixed windows by default; its documented
 * `customIncrTtlLuaScript` option lets us keep its plumbing (key prefixing,
 * script loading via ioredis defineCommand, result parsing, readiness
 * checks) while the script itself runs the same GCRA token bucket as the
 * memory store (token-bucket.ts), atomically, on Redis's own clock (TIME),
 * so replicas with skewed clocks still share one bucket exactly.
 *
 * The script answers rate-limiter-flexible's contract {consumed, ttl ms}:
 * consumed = burst − tokens left (≤ burst: allowed), or burst + cost when
 * refused, with ttl = ms until a token is free (→ Retry-After).
 */
import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type * as Rlf from 'rate-limiter-flexible';
import type { RateLimiterRes } from 'rate-limiter-flexible';

// ioredis and rate-limiter-flexible (~0.6 MB of module source) are required on
// first use: build.ts imports this file for every agent, and only `store: redis` needs them.
const require = createRequire(import.meta.url);
let rlfModule: typeof Rlf | undefined;
const rlf = (): typeof Rlf => (rlfModule ??= require('rate-limiter-flexible') as typeof Rlf);

export interface RedisBucketConfig {
  readonly ratePerSecond: number;
  readonly burst: number;
  /** Redis key prefix, e.g. 'aim-mesh:rl:api:global'. */
  readonly keyPrefix: string;
}

/** GCRA in Lua. ARGV (from rate-limiter-flexible): cost, key ttl s, points (= burst), duration. */
function gcraScript(intervalMs: number): string {
  return `
local T = ${intervalMs}
local cost = tonumber(ARGV[1])
local burst = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nexttat = tat + cost * T
local over = nexttat - now - burst * T
if over > 0.000001 then
  return {burst + cost, math.ceil(over)}
end
redis.call('SET', KEYS[1], string.format('%.6f', nexttat), 'PX', math.ceil(nexttat - now) + 1000)
local left = math.floor(burst - (nexttat - now) / T + 0.000001)
return {burst - left, math.ceil(nexttat - now)}
`;
}

export class RedisBuckets {
  readonly burst: number;
  readonly ratePerSecond: number;
  readonly #limiter: InstanceType<typeof Rlf.RateLimiterRedis>;

  constructor(client: Redis, cfg: RedisBucketConfig) {
    if (!(cfg.ratePerSecond > 0)) throw new RangeError('rate limit requests_per_second must be > 0');
    if (!(Number.isInteger(cfg.burst) && cfg.burst >= 1)) throw new RangeError('rate limit burst must be an integer >= 1');
    this.burst = cfg.burst;
    this.ratePerSecond = cfg.ratePerSecond;
    const intervalMs = 1000 / cfg.ratePerSecond;
    this.#limiter = new (rlf().RateLimiterRedis)({
      storeClient: client,
      keyPrefix: cfg.keyPrefix,
      points: cfg.burst,
      // Only the key's safety TTL for rate-limiter-flexible; the script sets its own PX.
      duration: Math.max(1, Math.ceil((cfg.burst * intervalMs) / 1000)),
      customIncrTtlLuaScript: gcraScript(intervalMs),
      rejectIfRedisNotReady: true,
    });
  }

  /** 0 when a token was taken, else ms until one is free. Rejects on Redis errors. */
  async take(key: string): Promise<number> {
    try {
      await this.#limiter.consume(key, 1);
      return 0;
    } catch (e) {
      if (e instanceof rlf().RateLimiterRes) return Math.max(1, (e as RateLimiterRes).msBeforeNext);
      throw e;
    }
  }
}

/**
 * An ioredis client tuned for a rate-limit check on the request path:
 * commands time out after `timeoutMs`, are not queued while disconnected and
 * not retried, so an unreachable Redis turns into `on_error` at once instead
 * of stalling requests.
 */
export function redisClient(url: string, timeoutMs: number): Redis {
  const { Redis } = require('ioredis') as typeof import('ioredis');
  return new Redis(url, {
    commandTimeout: timeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    lazyConnect: false,
  });
}
