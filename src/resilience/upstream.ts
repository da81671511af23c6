/**
 * Everything resilience builds for one upstream from its validated options,
 * in one object the router and the outbound listener wire:
 *
 *   balancer + observers   pick per attempt; call observers around attempts
 *   limits                 connections/pending (pool), requests (filter), retries (decider)
 *   routes                 RouteTable → RoutePolicy: timeouts, retry decider, fault
 *   breakers, outlier      AttemptObservers that take endpoints out
 *   filters                [ratelimit, limits, route, retry budget] in stack order
 *
 * Per-upstream state (budget, limits, breakers, outlier detector, EWMA) is
 * shared by all routes; a route only overrides timeouts, the retry policy
 * and backoff, and adds fault injection. Fields a route leaves out are
 * inherited from the upstream here, once.
 */
import type { Redis } from 'ioredis';
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import type { Filter } from '../core/filter.ts';
import type { EndpointSet } from '../balancer/endpoint-set.ts';
import { createBalancer } from '../balancer/factory.ts';
import type { PanicBalancer } from '../balancer/panic.ts';
import { mathRandom, type Rng } from '../balancer/rng.ts';
import type { AttemptObserver, Balancer } from '../balancer/types.ts';
import { RouteFilter } from '../route/filter.ts';
import { RouteTable } from '../route/match.ts';
import { BreakerRegistry } from './breaker/registry.ts';
import { FaultInjector } from './fault/injector.ts';
import { ConcurrencyLimitFilter } from './limits/filter.ts';
import { ResourceLimits } from './limits/resource-limits.ts';
import type { BackoffOptions, ResilienceOptions, RouteOptions } from './options.ts';
import { OutlierDetector } from './outlier/detector.ts';
import { OutlierObserver } from './outlier/observer.ts';
import type { RateLimitFilter } from './ratelimit/filter.ts';
import { buildRateLimit } from './ratelimit/build.ts';
import { Backoff } from './retry/backoff.ts';
import { RetryBudget } from './retry/budget.ts';
import { RetryDecider } from './retry/decider.ts';
import { RetryState, type RetryStats } from './retry/state.ts';
import { RetryPolicy } from './retry/policy.ts';
import type { TimeoutPolicy } from './timeout/deadline.ts';

/** What ctx.route holds for a request of this upstream. */
export interface RoutePolicy {
  readonly name: string;
  readonly timeouts: TimeoutPolicy;
  readonly retry: RetryDecider;
  readonly fault: FaultInjector | undefined;
  readonly maxReplayBody: number;
}

export interface UpstreamResilience {
  readonly balancer: Balancer;
  /** Call onAttemptStart right after the pick, onAttemptEnd after every attempt. */
  readonly observers: readonly AttemptObserver[];
  readonly panic: PanicBalancer | undefined;
  readonly limits: ResourceLimits;
  readonly budget: RetryBudget | undefined;
  /** Budget deposits, active-retry units and the retry counters (a Filter and an observer, both wired below). */
  readonly retryState: RetryState;
  readonly retryStats: RetryStats;
  readonly routes: RouteTable<RoutePolicy>;
  readonly breakers: BreakerRegistry | undefined;
  readonly outlier: OutlierDetector | undefined;
  readonly rateLimit: RateLimitFilter | undefined;
  /** Outbound stack order: rate limit, concurrency limit, route, retry budget. */
  readonly filters: readonly Filter[];
  /** Stop breakers' timers and the Redis client. */
  close(): Promise<void>;
}

export interface UpstreamDeps {
  readonly clock?: Clock;
  readonly rng?: Rng;
  /** Date.now, for Retry-After HTTP-dates. */
  readonly wallNow?: () => number;
  /** A shared ioredis client for the Redis rate-limit store (else one is made from the options). */
  readonly redis?: Redis;
}

function backoffOf(b: BackoffOptions, rng: Rng, wallNow: () => number): Backoff {
  return new Backoff({ baseMs: b.base, maxMs: b.max, retryAfterMaxMs: b.retry_after_max }, rng, wallNow);
}

export function buildUpstreamResilience(set: EndpointSet, opts: ResilienceOptions, deps: UpstreamDeps = {}): UpstreamResilience {
  const clock = deps.clock ?? systemClock;
  const rng = deps.rng ?? mathRandom;
  const wallNow = deps.wallNow ?? Date.now;
  const name = set.service;

  const { balancer, observers: lbObservers, panic } = createBalancer(set, opts.lb, { clock, rng });
  const observers: AttemptObserver[] = [...lbObservers];

  const limits = new ResourceLimits(name, opts.limits);
  const b = opts.retries.budget;
  const budget = b.enabled ? new RetryBudget({ ratio: b.ratio, minPerSecond: b.min_per_second, windowMs: b.window }, clock) : undefined;
  const retryState = new RetryState(budget, limits);
  observers.push(retryState);

  const r = opts.retries;
  const t = opts.timeouts;
  const policyFor = (route: RouteOptions | undefined, label: string): RoutePolicy => {
    const rr = route?.retries;
    const rt = route?.timeouts;
    const policy = new RetryPolicy({
      attempts: rr?.attempts ?? r.attempts,
      on: rr?.on ?? r.on,
      statuses: rr?.statuses ?? r.statuses,
      grpc_codes: rr?.grpc_codes ?? r.grpc_codes,
    });
    return {
      name: label,
      timeouts: {
        connectMs: t.connect,
        requestMs: rt?.request ?? t.request,
        perTryMs: rr?.per_try_timeout ?? r.per_try_timeout,
        idleMs: t.idle,
      },
      retry: new RetryDecider({ policy, backoff: backoffOf(rr?.backoff ?? r.backoff, rng, wallNow), state: retryState, clock }),
      fault: route?.fault !== undefined ? new FaultInjector(route.fault, rng) : undefined,
      maxReplayBody: r.max_replay_body,
    };
  };
  const routes = new RouteTable<RoutePolicy>(
    opts.routes.map((ro, i) => ({ name: ro.name, prefix: ro.prefix, methods: ro.methods, headers: ro.headers, policy: policyFor(ro, ro.name ?? `route${i}`) })),
    policyFor(undefined, 'default'),
  );

  const bo = opts.breaker;
  const breakers = bo.enabled
    ? new BreakerRegistry(set, { errorThresholdPercentage: bo.error_threshold_percentage, volumeThreshold: bo.volume_threshold, windowMs: bo.window, buckets: bo.buckets, resetTimeoutMs: bo.reset_timeout }, clock)
    : undefined;
  if (breakers) observers.push(breakers);

  const oo = opts.outlier;
  const outlier = oo.enabled
    ? new OutlierDetector(set, {
      consecutive5xx: oo.consecutive_5xx,
      consecutiveGatewayFailure: oo.consecutive_gateway_failure,
      intervalMs: oo.interval,
      baseEjectionMs: oo.base_ejection_time,
      maxEjectionMs: oo.max_ejection_time,
      maxEjectionPercent: oo.max_ejection_percent,
      successRate: { enabled: oo.success_rate.enabled, minimumHosts: oo.success_rate.minimum_hosts, requestVolume: oo.success_rate.request_volume, stdevFactor: oo.success_rate.stdev_factor },
    }, clock)
    : undefined;
  if (outlier) observers.push(new OutlierObserver(outlier));

  const rl = buildRateLimit(name, opts.rate_limit, { clock, redis: deps.redis });
  const rateLimit = rl.filter;

  const filters: Filter[] = [];
  if (rateLimit) filters.push(rateLimit);
  // The budget deposit comes last: requests refused above never reach the upstream.
  filters.push(new ConcurrencyLimitFilter(limits), new RouteFilter(routes), retryState);

  return {
    balancer, observers, panic, limits, budget, retryState, retryStats: retryState.stats, routes, breakers, outlier, rateLimit, filters,
    async close() {
      breakers?.close();
      await rl.close();
    },
  };
}
