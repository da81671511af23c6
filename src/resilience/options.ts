/**
 * The per-upstream resilience section of the config, with every default in
 * one place. Mounted by `config/schema.ts` under each upstream.
 *
 * Durations are strings ('250ms', '5s', '1m') or numbers of ms and come out
 * as ms numbers. Per-route overrides (`routes[]`) use the same field types
 * without defaults: a field a route leaves out is inherited from the
 * upstream (merged once, at compile time, by `route/match.ts`).
 *
 * The defaults are the safe ones: least-request balancing, retries only on
 * connect failures, resets and 502/503/504, at most 3 attempts, a Linkerd-
 * style budget (20% + 10/s over 10 s), a 64 KiB replay buffer, outlier
 * detection and per-endpoint breakers on, rate limits off.
 */
import { z } from 'zod';
import { duration } from '../config/duration.ts';
import { GrpcCodeNames } from './retry/policy.ts';

// === balancing ===

export const lbPolicies = ['least_request', 'round_robin', 'random', 'ring_hash'] as const;

const lbObject = z.object({
  policy: z.enum(lbPolicies).default('least_request'),
  least_request: z.object({
    /** τ of the peak-EWMA decay. */
    decay: duration.default(10_000),
    /** Latency assumed for an endpoint without samples. */
    default_rtt: duration.default(30),
    /** Latency charged for an attempt that got no response (refused/reset). 0 = off. */
    failure_penalty: duration.default(1_000),
  }).strict().prefault({}),
  ring_hash: z.object({
    hash_on: z.enum(['header', 'cookie', 'source_ip']).default('source_ip'),
    /** Header or cookie name (required for those). */
    name: z.string().min(1).optional(),
    /** Ring points per unit of weight. */
    vnodes: z.number().int().min(1).max(10_000).default(160),
    max_ring_size: z.number().int().min(1).max(1 << 23).default(1 << 20),
  }).strict().prefault({}).superRefine((r, ctx) => {
    if (r.hash_on !== 'source_ip' && r.name === undefined) {
      ctx.addIssue({ code: 'custom', path: ['name'], message: `hash_on: ${r.hash_on} needs a ${r.hash_on} name` });
    }
  }),
  slow_start: z.object({
    /** Ramp length for new endpoints; 0 = off. */
    window: duration.default(0),
    aggression: z.number().positive().default(1),
    min_weight_percent: z.number().min(0).max(100).default(10),
  }).strict().prefault({}),
  /** Below this % of available endpoints, spread over all of them (0 = off). */
  panic_threshold: z.number().min(0).max(100).default(50),
}).strict();

/** `lb: round_robin` is shorthand for `lb: { policy: round_robin }`. */
export const lbSchema = z.preprocess((v) => (typeof v === 'string' ? { policy: v } : v), lbObject.prefault({}));

// === retries ===

export const retryOnValues = ['connect-failure', 'reset', '5xx', 'gateway-error'] as const;
const retryOn = z.enum(retryOnValues);
const statusCode = z.number().int().min(100).max(599);
const grpcName = z.enum(Object.keys(GrpcCodeNames) as [string, ...string[]]);
/** A gRPC status code by number (0..16) or lower-case name ('unavailable'); output is the number. */
const grpcCode = z.union([z.number().int().min(0).max(16), grpcName]).transform((v) => (typeof v === 'number' ? v : GrpcCodeNames[v]!));

export const backoffSchema = z.object({
  /** First retry waits up to this long (full jitter). */
  base: duration.default(25),
  /** Cap of the exponential backoff. */
  max: duration.default(250),
  /** Retry-After from the upstream is honoured up to this long. */
  retry_after_max: duration.default(10_000),
}).strict().superRefine((b, ctx) => {
  if (b.max < b.base) ctx.addIssue({ code: 'custom', path: ['max'], message: 'backoff.max must be >= backoff.base' });
});

export const budgetSchema = z.object({
  enabled: z.boolean().default(true),
  /** Retries may add at most this fraction on top of requests. */
  ratio: z.number().min(0).max(10).default(0.2),
  /** … plus this many retries per second. */
  min_per_second: z.number().min(0).default(10),
  /** … over this sliding window. */
  window: duration.default(10_000).refine((ms) => ms >= 1000 && ms <= 60_000, 'expected a window within 1s..60s'),
}).strict();

const retriesObject = z.object({
  /** Total attempts including the first (1 = no retries). */
  attempts: z.number().int().min(1).max(10).default(3),
  on: z.array(retryOn).default(['connect-failure', 'reset', 'gateway-error']),
  /** Extra retryable statuses (e.g. 409, 429). */
  statuses: z.array(statusCode).default([]),
  /** Retryable grpc-status codes. */
  grpc_codes: z.array(grpcCode).default([14]),
  /** Timeout of each attempt, inside timeouts.request (0 = none). */
  per_try_timeout: duration.default(0),
  backoff: backoffSchema.prefault({}),
  budget: budgetSchema.prefault({}),
  /** Request bodies up to this size are buffered for replay; larger ones are never retried. */
  max_replay_body: z.number().int().min(0).max(64 * 1024 * 1024).default(64 * 1024),
}).strict();

// === timeouts, limits ===

const timeoutsObject = z.object({
  /** TCP (+TLS) connect to an endpoint. */
  connect: duration.default(5_000),
  /** Overall, across all attempts, to the end of the response head (0 = none). grpc-timeout only tightens it. */
  request: duration.default(15_000),
  /** No bytes either way on a connection for this long → close (0 = none). */
  idle: duration.default(300_000),
}).strict();

export const limitsSchema = z.object({
  max_connections: z.number().int().min(1).default(1024),
  max_pending: z.number().int().min(1).default(1024),
  max_requests: z.number().int().min(1).default(1024),
  max_retries: z.number().int().min(1).default(1024),
}).strict();

// === breaker, outlier ===

export const breakerSchema = z.object({
  enabled: z.boolean().default(true),
  /** Open when the failure % in the rolling window exceeds this. */
  error_threshold_percentage: z.number().min(0).max(100).default(50),
  /** … and at least this many attempts were seen in the window. */
  volume_threshold: z.number().int().min(0).default(20),
  window: duration.default(10_000),
  buckets: z.number().int().min(1).max(100).default(10),
  /** Open → half-open (one probe) after this long. */
  reset_timeout: duration.default(10_000),
}).strict().superRefine((b, ctx) => {
  if (b.window % b.buckets !== 0) ctx.addIssue({ code: 'custom', path: ['buckets'], message: 'window must divide evenly into buckets' });
});

export const outlierSchema = z.object({
  enabled: z.boolean().default(true),
  /** Eject after this many consecutive 5xx or local failures (0 = off). */
  consecutive_5xx: z.number().int().min(0).default(5),
  /** Eject after this many consecutive 502/503/504 or local failures (0 = off). */
  consecutive_gateway_failure: z.number().int().min(0).default(5),
  /** Success-rate analysis period. */
  interval: duration.default(10_000),
  base_ejection_time: duration.default(30_000),
  max_ejection_time: duration.default(300_000),
  /** Never eject once this % of endpoints is ejected. */
  max_ejection_percent: z.number().min(0).max(100).default(10),
  success_rate: z.object({
    enabled: z.boolean().default(true),
    minimum_hosts: z.number().int().min(1).default(5),
    request_volume: z.number().int().min(1).default(100),
    stdev_factor: z.number().positive().default(1.9),
  }).strict().prefault({}),
}).strict();

// === rate limits ===

const bucketSchema = z.object({
  requests_per_second: z.number().positive(),
  /** Bucket size; defaults to one second's worth (at least 1). */
  burst: z.number().int().min(1).optional(),
}).strict().transform((b) => ({ requests_per_second: b.requests_per_second, burst: b.burst ?? Math.max(1, Math.ceil(b.requests_per_second)) }));

export const rateLimitSchema = z.object({
  /** One bucket for everything this section covers (outbound: the upstream; inbound: the service). */
  global: bucketSchema.optional(),
  /** One bucket per caller (SPIFFE ID over mTLS, else source address). */
  per_source: bucketSchema.optional(),
  /** Bound on tracked callers (full buckets are dropped first). */
  max_sources: z.number().int().min(1).default(100_000),
  store: z.enum(['memory', 'redis']).default('memory'),
  redis: z.object({
    url: z.string().default('redis://127.0.0.1:6379'),
    key_prefix: z.string().default('aim-mesh:rl'),
    /** A Redis answer slower than this counts as an error. */
    timeout: duration.default(50),
    /** On Redis errors: use a local bucket ('local'), let requests through ('allow') or refuse them ('deny'). */
    on_error: z.enum(['local', 'allow', 'deny']).default('local'),
  }).strict().prefault({}),
}).strict();

// === fault injection, routes ===

const percentage = z.number().min(0).max(100);

export const faultSchema = z.object({
  abort: z.object({
    /** Answer with this status … */
    status: statusCode.optional(),
    /** … or reset the connection. */
    reset: z.boolean().default(false),
    percentage: percentage.default(100),
  }).strict().superRefine((a, ctx) => {
    if ((a.status === undefined) === !a.reset) ctx.addIssue({ code: 'custom', message: 'fault.abort needs exactly one of status or reset: true' });
  }).optional(),
  delay: z.object({
    fixed: duration,
    percentage: percentage.default(100),
  }).strict().optional(),
}).strict();

const headerMatchSchema = z.object({
  name: z.string().min(1).transform((s) => s.toLowerCase()),
  exact: z.string().optional(),
  prefix: z.string().optional(),
  regex: z.string().optional(),
  present: z.boolean().optional(),
  /** Match when the rule does NOT hold. */
  invert: z.boolean().default(false),
}).strict().superRefine((h, ctx) => {
  const n = [h.exact, h.prefix, h.regex, h.present].filter((x) => x !== undefined).length;
  if (n !== 1) ctx.addIssue({ code: 'custom', message: 'a header match needs exactly one of exact, prefix, regex, present' });
  if (h.regex !== undefined) {
    try { new RegExp(h.regex); } catch (e) { ctx.addIssue({ code: 'custom', path: ['regex'], message: `invalid regex: ${(e as Error).message}` }); }
  }
});

export const routeSchema = z.object({
  /** For /explain and metrics. */
  name: z.string().optional(),
  /** Path prefix (plain string prefix of the path, query excluded). */
  prefix: z.string().startsWith('/').default('/'),
  /** Methods this route applies to (default: all). */
  methods: z.array(z.string().min(1).transform((m) => m.toUpperCase())).optional(),
  headers: z.array(headerMatchSchema).default([]),
  // Only the request timeout is per route: connect and idle belong to the upstream's pooled connections.
  timeouts: z.object({ request: duration.optional() }).strict().optional(),
  retries: z.object({
    attempts: z.number().int().min(1).max(10).optional(),
    on: z.array(retryOn).optional(),
    statuses: z.array(statusCode).optional(),
    grpc_codes: z.array(grpcCode).optional(),
    per_try_timeout: duration.optional(),
    backoff: backoffSchema.optional(),
  }).strict().optional(),
  fault: faultSchema.optional(),
}).strict();

// === the section ===

export const resilienceSchema = z.object({
  lb: lbSchema,
  retries: retriesObject.prefault({}),
  timeouts: timeoutsObject.prefault({}),
  limits: limitsSchema.prefault({}),
  breaker: breakerSchema.prefault({}),
  outlier: outlierSchema.prefault({}),
  rate_limit: rateLimitSchema.prefault({}),
  /** First match wins; requests matching none use the upstream's settings. */
  routes: z.array(routeSchema).default([]),
}).strict();

export type ResilienceOptions = z.output<typeof resilienceSchema>;
export type LbOptions = z.output<typeof lbObject>;
export type RetryOptions = z.output<typeof retriesObject>;
export type BackoffOptions = z.output<typeof backoffSchema>;
export type BudgetOptions = z.output<typeof budgetSchema>;
export type TimeoutOptions = z.output<typeof timeoutsObject>;
export type LimitOptions = z.output<typeof limitsSchema>;
export type BreakerOptions = z.output<typeof breakerSchema>;
export type OutlierOptions = z.output<typeof outlierSchema>;
export type RateLimitOptions = z.output<typeof rateLimitSchema>;
export type BucketOptions = z.output<typeof bucketSchema>;
export type FaultOptions = z.output<typeof faultSchema>;
export type RouteOptions = z.output<typeof routeSchema>;
export type HeaderMatchOptions = z.output<typeof headerMatchSchema>;

/** Every default, resolved (for /config_dump and the README table). */
export const resilienceDefaults: ResilienceOptions = resilienceSchema.parse({});
