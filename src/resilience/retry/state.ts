/**
 * The per-upstream side of retrying, shared by the deciders of all its
 * routes: the budget, the active-retries limit and the counters.
 *
 * It is also a Filter and an AttemptObserver, so the two pieces of per
 * request bookkeeping need no call from the router:
 *   onRequest       deposits into the budget once per request that got past
 *                   the earlier filters (rate limit, limits): refused
 *                   requests never reach the upstream and earn no retries;
 *   onAttemptEnd    a retry holds one `retries` unit of the limits from the
 *                   decision until its attempt ends; so a codec must report
 *                   the failed attempt's end *before* asking the decider,
 *                   or that end gives the new unit straight back;
 *   onDone          frees a unit still held (the client left during backoff).
 * Which contexts hold a unit is kept in a WeakSet (contexts are reused).
 */
import type { Filter, RequestCtx } from '../../core/filter.ts';
import { Verdict } from '../../core/filter.ts';
import type { Endpoint } from '../../balancer/endpoint.ts';
import type { AttemptObserver } from '../../balancer/types.ts';
import type { ResourceLimits } from '../limits/resource-limits.ts';
import type { RetryBudget } from './budget.ts';

export interface RetryStats {
  requests: number;
  retries: number;
  not_retryable: number;
  attempts_exhausted: number;
  unsafe_method: number;
  body_not_replayable: number;
  deadline: number;
  overflow: number;
  budget_exhausted: number;
}

export function newRetryStats(): RetryStats {
  return { requests: 0, retries: 0, not_retryable: 0, attempts_exhausted: 0, unsafe_method: 0, body_not_replayable: 0, deadline: 0, overflow: 0, budget_exhausted: 0 };
}

export class RetryState implements Filter, AttemptObserver {
  readonly name = 'retry-budget';
  readonly stats: RetryStats = newRetryStats();
  readonly budget: RetryBudget | undefined;
  readonly limits: ResourceLimits | undefined;
  readonly #holding = new WeakSet<RequestCtx>();

  constructor(budget?: RetryBudget, limits?: ResourceLimits) {
    this.budget = budget;
    this.limits = limits;
  }

  onRequest(_ctx: RequestCtx): Verdict {
    this.stats.requests++;
    this.budget?.deposit();
    return Verdict.Continue;
  }

  onAttemptEnd(_ep: Endpoint, ctx: RequestCtx): void {
    this.release(ctx);
  }

  onDone(ctx: RequestCtx): void {
    this.release(ctx);
  }

  /** Take an active-retry unit for `ctx` (at most one per context). */
  acquire(ctx: RequestCtx): boolean {
    if (this.limits === undefined || this.#holding.has(ctx)) return true;
    if (!this.limits.tryAcquire('retries')) return false;
    this.#holding.add(ctx);
    return true;
  }

  release(ctx: RequestCtx): void {
    if (this.limits !== undefined && this.#holding.delete(ctx)) this.limits.release('retries');
  }
}
