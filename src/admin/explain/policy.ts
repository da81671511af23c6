/**
 * The route and policies that would apply to a request: timeouts, the retry
 * policy and what is left of the retry budget, resource limits.
 *
 * Sources, first that answers wins:
 *   1. `cluster.describePolicy(ctx)`, when whoever built the cluster set one
 *      (a provider the agent wiring may attach to any Cluster);
 *   2. the route policy a route filter put in `ctx.route` (resilience's
 *      RoutePolicy: timeouts, a RetryDecider with its budget and limits);
 *   3. the foundation cluster's own fields (request timeout, retry decider).
 */
import type { RequestCtx } from '../../core/filter.ts';
import type { Cluster } from '../../proxy/cluster.ts';

/** A provider the agent wiring may attach to a Cluster for /explain. */
export interface PolicyDescriber {
  describePolicy?(ctx: RequestCtx): Record<string, unknown>;
}

interface BudgetShape { balance(): number; stats?: Record<string, number> }
interface LimitsShape { stats: Record<string, { active: number; max: number; overflows: number }> }

/** resilience's RetryDecider: its upstream-wide budget and limits sit in `state` (RetryState). */
interface RetryDeciderShape {
  policy?: { maxAttempts?: number };
  state?: { budget?: BudgetShape | undefined; limits?: LimitsShape | undefined; stats?: Record<string, number> };
  stats?: Record<string, number>;
}

interface RoutePolicyShape {
  name?: string;
  timeouts?: { connectMs?: number; requestMs?: number; perTryMs?: number; idleMs?: number };
  retry?: RetryDeciderShape;
  fault?: unknown;
  maxReplayBody?: number;
}

function retryView(d: RetryDeciderShape | undefined): Record<string, unknown> {
  if (d === undefined) return { enabled: false };
  const out: Record<string, unknown> = {};
  const whyNot: string[] = [];
  if (d.policy?.maxAttempts !== undefined) {
    out['max_attempts'] = d.policy.maxAttempts;
    if (d.policy.maxAttempts <= 1) whyNot.push('retries.attempts is 1');
  }
  const budget = d.state?.budget;
  if (budget !== undefined) {
    const remaining = budget.balance();
    out['budget'] = { remaining, ...(budget.stats ? { stats: { ...budget.stats } } : {}) };
    if (remaining <= 0) whyNot.push('retry budget exhausted: no retry is allowed until requests refill it');
  } else {
    out['budget'] = 'none';
  }
  const r = d.state?.limits?.stats['retries'];
  if (r !== undefined) {
    out['active_retries'] = { active: r.active, max: r.max };
    if (r.active >= r.max) whyNot.push('max_retries reached (overflow_retries)');
  }
  out['would_retry_a_failure'] = whyNot.length === 0;
  if (whyNot.length > 0) out['why_not'] = whyNot.join('; ');
  const stats = d.state?.stats ?? d.stats;
  if (stats !== undefined) out['stats'] = { ...stats };
  return out;
}

export function describePolicy(cluster: Cluster, ctx: RequestCtx): Record<string, unknown> {
  const own = (cluster as Cluster & PolicyDescriber).describePolicy?.(ctx);
  if (own !== undefined) return own;
  const route = ctx.route as RoutePolicyShape | undefined;
  if (route !== undefined && route !== null && typeof route === 'object' && route.timeouts !== undefined) {
    const t = route.timeouts;
    return {
      route: route.name ?? 'unnamed',
      timeouts: { connect_ms: t.connectMs, request_ms: t.requestMs, per_try_ms: t.perTryMs, idle_ms: t.idleMs },
      retry: retryView(route.retry),
      limits: route.retry?.state?.limits?.stats,
      fault_injection: route.fault !== undefined,
      max_replay_body: route.maxReplayBody,
    };
  }
  const retry = cluster.retry as unknown as { maxAttempts?: number; retries?: number };
  return {
    route: 'none (this listener has no route filter: the upstream\'s own settings apply)',
    timeouts: { request_ms: cluster.timeouts.requestMs },
    retry: {
      ...(retry.maxAttempts !== undefined ? { max_attempts: retry.maxAttempts } : {}),
      on: 'connection failures before any byte reached the upstream',
      budget: 'none',
      ...(retry.retries !== undefined ? { retries_total: retry.retries } : {}),
    },
  };
}
