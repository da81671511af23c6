/**
 * The retry policy object the router asks after every failed attempt:
 * "try again, and after how long?" It combines, in this order,
 *
 *   1. the outcome class     (policy.ts: connect failure, reset, statuses…)
 *   2. the attempt count     (retries.attempts, total including the first)
 *   3. method safety         (POST/PATCH only if nothing was sent, or Idempotency-Key)
 *   4. body replayability    (replay-body.ts: bodies past max_replay_body)
 *   5. the deadline          (backoff must end before the request deadline)
 *   6. active retries limit  (limits.max_retries → overflow_retries)
 *   7. the retry budget      (budget.ts: 20% + 10/s per upstream)
 *
 * and returns a number, so nothing is allocated: ≥ 0 means "retry after
 * this many ms", < 0 is one of the `NoRetry` codes. Every decision is
 * counted in the upstream's shared RetryState (one decider per route, since
 * routes may override the policy and backoff; budget and limits are the
 * upstream's).
 *
 * `next(ctx, result, info)` is the router's interface (proxy/cluster.ts
 * RetryDecider): the attempt count is ctx.attempts, and `info` may carry
 * what the plain AttemptResult lacks (grpc-status, Retry-After, deadline).
 */
import type { Clock } from '../../core/clock.ts';
import { systemClock } from '../../core/clock.ts';
import type { Reason } from '../../core/errors.ts';
import type { RequestCtx } from '../../core/filter.ts';
import type { AttemptResult } from '../../balancer/types.ts';
import type { Backoff } from './backoff.ts';
import type { AttemptOutcome, RetryPolicy } from './policy.ts';
import { RetryState } from './state.ts';

export const NoRetry = {
  success: -1,
  not_retryable: -2,
  attempts_exhausted: -3,
  unsafe_method: -4,
  body_not_replayable: -5,
  deadline: -6,
  overflow: -7,
  budget_exhausted: -8,
} as const;
export type NoRetryCode = (typeof NoRetry)[keyof typeof NoRetry];

const NAMES: Record<number, keyof typeof NoRetry> = Object.fromEntries(
  Object.entries(NoRetry).map(([k, v]) => [v, k as keyof typeof NoRetry]),
);

/** The name of a NoRetry code (for logs and /explain). */
export function noRetryName(code: number): string {
  return NAMES[code] ?? 'retry';
}

/** What the router knows about the failed attempt beyond AttemptResult (proxy/cluster.ts AttemptInfo, extended). */
export interface RetryAttemptInfo {
  /** Did any byte of the request reach the upstream socket? */
  readonly requestBytesSent: boolean;
  /** Can the request be sent again (no body, or its body is buffered)? */
  readonly replayable: boolean;
  /** grpc-status of the response when known; −1 or absent = none. */
  readonly grpcStatus?: number;
  /** The response's Retry-After value. */
  readonly retryAfter?: string | undefined;
  /** The request deadline (absolute ms, timeout/deadline.ts); absent = none. */
  readonly deadline?: number;
}

export interface RetryDeciderOptions {
  readonly policy: RetryPolicy;
  readonly backoff: Backoff;
  /** The upstream's shared budget, limits and counters (default: none of them). */
  readonly state?: RetryState;
  readonly clock?: Clock;
}

export class RetryDecider {
  readonly policy: RetryPolicy;
  readonly backoff: Backoff;
  readonly state: RetryState;
  readonly #clock: Clock;

  constructor(opts: RetryDeciderOptions) {
    this.policy = opts.policy;
    this.backoff = opts.backoff;
    this.state = opts.state ?? new RetryState();
    this.#clock = opts.clock ?? systemClock;
  }

  get stats() {
    return this.state.stats;
  }

  /** The router's interface: after the failed attempt number ctx.attempts. */
  next(ctx: RequestCtx, r: AttemptResult, info: RetryAttemptInfo): number {
    return this.#decide(ctx, r.ok, r.status, r.reason, info.grpcStatus ?? -1, info.requestBytesSent, info.retryAfter,
      ctx.attempts, info.deadline ?? Infinity, info.replayable);
  }

  /**
   * After attempt number `attemptsMade` (1 = the first) ended with `o`.
   * `deadline` is the request deadline (absolute ms, Infinity = none);
   * `bodyReplayable` is false once a body past the replay buffer was read.
   */
  decide(ctx: RequestCtx, o: AttemptOutcome, attemptsMade: number, deadline: number, bodyReplayable: boolean): number {
    return this.#decide(ctx, o.ok, o.status, o.reason, o.grpcStatus, o.requestSent, o.retryAfter, attemptsMade, deadline, bodyReplayable);
  }

  #decide(
    ctx: RequestCtx, ok: boolean, status: number, reason: Reason | undefined, grpcStatus: number, requestSent: boolean,
    retryAfter: string | undefined, attemptsMade: number, deadline: number, bodyReplayable: boolean,
  ): number {
    const st = this.state;
    const s = st.stats;
    if (ok) return NoRetry.success;
    if (!this.policy.retryable(status, reason, grpcStatus)) { s.not_retryable++; return NoRetry.not_retryable; }
    if (attemptsMade >= this.policy.maxAttempts) { s.attempts_exhausted++; return NoRetry.attempts_exhausted; }
    if (!this.policy.safeToRetry(ctx, requestSent)) { s.unsafe_method++; return NoRetry.unsafe_method; }
    if (!bodyReplayable) { s.body_not_replayable++; return NoRetry.body_not_replayable; }
    const delay = this.backoff.delayFor(attemptsMade, retryAfter);
    if (this.#clock.now() + delay >= deadline) { s.deadline++; return NoRetry.deadline; }
    if (!st.acquire(ctx)) { s.overflow++; return NoRetry.overflow; }
    if (st.budget !== undefined && !st.budget.tryWithdraw()) {
      st.release(ctx);
      s.budget_exhausted++;
      return NoRetry.budget_exhausted;
    }
    s.retries++;
    return delay;
  }
}
