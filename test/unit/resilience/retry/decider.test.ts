import t from 'tap';
import { ManualClock } from '../../../../src/core/clock.ts';
import type { Reason } from '../../../../src/core/errors.ts';
import { Backoff } from '../../../../src/resilience/retry/backoff.ts';
import { RetryBudget } from '../../../../src/resilience/retry/budget.ts';
import { NoRetry, RetryDecider, noRetryName } from '../../../../src/resilience/retry/decider.ts';
import { RetryState } from '../../../../src/resilience/retry/state.ts';
import { Verdict } from '../../../../src/core/filter.ts';
import type { RetryDecider as ClusterRetryDecider } from '../../../../src/proxy/cluster.ts';
import { RetryPolicy, type AttemptOutcome } from '../../../../src/resilience/retry/policy.ts';
import { ResourceLimits } from '../../../../src/resilience/limits/resource-limits.ts';
import { ctx } from '../../balancer/fixtures.ts';

function outcome(over: Partial<AttemptOutcome> = {}): AttemptOutcome {
  return { ok: false, status: 503, reason: undefined as Reason | undefined, latencyMs: 5, grpcStatus: -1, requestSent: true, retryAfter: undefined, ...over };
}

function setup(opts: { attempts?: number; budget?: boolean; maxRetries?: number } = {}) {
  const clock = new ManualClock(1000);
  const limits = new ResourceLimits('api', { max_connections: 10, max_pending: 10, max_requests: 10, max_retries: opts.maxRetries ?? 10 });
  const budget = opts.budget === false ? undefined : new RetryBudget({ ratio: 0.2, minPerSecond: 0, windowMs: 10_000 }, clock);
  const state = new RetryState(budget, limits);
  const d = new RetryDecider({
    policy: new RetryPolicy({ attempts: opts.attempts ?? 3, on: ['connect-failure', 'reset', 'gateway-error'], grpc_codes: [14] }),
    backoff: new Backoff({ baseMs: 25, maxMs: 250, retryAfterMaxMs: 10_000 }, () => 0.5, () => 0),
    state, clock,
  });
  return { clock, limits, budget, state, d };
}

t.test('a retryable failure with time, budget and slots left → retry after the backoff', async (t) => {
  const { d, limits, state } = setup({ budget: false });
  const c = ctx();
  t.equal(state.onRequest(c), Verdict.Continue);
  t.equal(d.decide(c, outcome(), 1, Infinity, true), 12.5, 'first retry: 0.5 × 25');
  t.equal(limits.active('retries'), 1, 'a retries unit is held');
  state.onAttemptEnd(undefined as never, c);
  t.equal(limits.active('retries'), 0, 'released when the retried attempt ends');
  t.equal(d.decide(c, outcome(), 2, Infinity, true), 25, 'second retry: 0.5 × 50');
  t.equal(d.decide(c, outcome({ retryAfter: '2' }), 2, Infinity, true), 2000, 'Retry-After honoured');
  t.equal(limits.active('retries'), 1, 'one unit per request at most');
  state.onDone(c);
  t.equal(limits.active('retries'), 0, 'released when the exchange ends (client left during backoff)');
  t.equal(d.stats.retries, 3);
  t.equal(d.stats.requests, 1);
});

t.test('next(): the router interface (attempts from ctx.attempts, extras from info)', async (t) => {
  const { d, clock } = setup({ budget: false });
  const fits: ClusterRetryDecider = d; // type-checks against proxy/cluster.ts
  t.equal(fits, d);
  const c = ctx({ attempts: 1 });
  const fail = { ok: false, status: 0, reason: 'upstream_connect_failed' as Reason, latencyMs: 3 };
  t.equal(d.next(c, fail, { requestBytesSent: false, replayable: true }), 12.5);
  t.equal(d.next(c, fail, { requestBytesSent: false, replayable: false }), NoRetry.body_not_replayable);
  t.equal(d.next(c, fail, { requestBytesSent: false, replayable: true, deadline: clock.now() + 5 }), NoRetry.deadline);
  t.equal(d.next(c, { ok: false, status: 200, reason: undefined, latencyMs: 1 }, { requestBytesSent: true, replayable: true, grpcStatus: 14 }), 12.5, 'grpc UNAVAILABLE');
  t.equal(d.next(c, { ok: false, status: 503, reason: undefined, latencyMs: 1 }, { requestBytesSent: true, replayable: true, retryAfter: '1' }), 1000);
  t.equal(d.next(ctx({ attempts: 3 }), fail, { requestBytesSent: false, replayable: true }), NoRetry.attempts_exhausted);
  t.equal(new RetryDecider({ policy: d.policy, backoff: d.backoff }).next(c, fail, { requestBytesSent: false, replayable: true }), 12.5, 'without budget or limits');
});

t.test('each refusal, in order, with its counter', async (t) => {
  const { d, clock } = setup({ budget: false });
  const c = ctx();
  t.equal(d.decide(c, outcome({ ok: true, status: 200 }), 1, Infinity, true), NoRetry.success);
  t.equal(d.decide(c, outcome({ status: 500 }), 1, Infinity, true), NoRetry.not_retryable);
  t.equal(d.decide(c, outcome(), 3, Infinity, true), NoRetry.attempts_exhausted, 'attempts = total tries');
  t.equal(d.decide(ctx({ method: 'POST' }), outcome(), 1, Infinity, true), NoRetry.unsafe_method);
  t.equal(d.decide(ctx({ method: 'POST' }), outcome({ status: 0, reason: 'upstream_connect_failed', requestSent: false }), 1, Infinity, true) >= 0, true, 'POST refused at connect is retried');
  t.equal(d.decide(ctx({ method: 'POST', headers: ['idempotency-key', 'abc'] }), outcome(), 1, Infinity, true) >= 0, true, 'POST with Idempotency-Key');
  t.equal(d.decide(c, outcome(), 1, Infinity, false), NoRetry.body_not_replayable);
  t.equal(d.decide(c, outcome(), 1, clock.now() + 12, true), NoRetry.deadline, 'backoff would end after the deadline');
  t.equal(d.decide(c, outcome({ status: 0, reason: 'upstream_timeout' }), 1, clock.now() + 1000, true) >= 0, true, 'a per-try timeout with time left is retried');
  t.same(d.stats, { requests: 0, retries: 3, not_retryable: 1, attempts_exhausted: 1, unsafe_method: 1, body_not_replayable: 1, deadline: 1, overflow: 0, budget_exhausted: 0 });
  t.equal(noRetryName(NoRetry.deadline), 'deadline');
  t.equal(noRetryName(5), 'retry');
});

t.test('max active retries → overflow; budget exhaustion gives the slot back', async (t) => {
  const { d, limits } = setup({ maxRetries: 2, budget: false });
  t.ok(d.decide(ctx(), outcome(), 1, Infinity, true) >= 0);
  t.ok(d.decide(ctx(), outcome(), 1, Infinity, true) >= 0);
  const third = ctx();
  t.equal(d.decide(third, outcome(), 1, Infinity, true), NoRetry.overflow, 'the third concurrent retry overflows');
  t.equal(limits.overflows('retries'), 1);
  const fourth = ctx();
  t.ok(d.decide(fourth, outcome(), 1, Infinity, true) < 0);
  const s = setup({ maxRetries: 1, budget: false });
  const a = ctx();
  t.ok(s.d.decide(a, outcome(), 1, Infinity, true) >= 0);
  t.equal(s.d.decide(ctx(), outcome(), 1, Infinity, true), NoRetry.overflow);
  s.state.onAttemptEnd(undefined as never, a);
  t.ok(s.d.decide(ctx(), outcome(), 1, Infinity, true) >= 0, 'a freed unit is available again');

  const b = setup({ budget: true });
  for (let i = 0; i < 5; i++) b.state.onRequest(ctx());
  t.ok(b.d.decide(ctx(), outcome(), 1, Infinity, true) >= 0, '5 requests pay for one retry');
  t.equal(b.d.decide(ctx(), outcome(), 1, Infinity, true), NoRetry.budget_exhausted);
  t.equal(b.limits.active('retries'), 1, 'the refused retry did not keep a slot');
  t.equal(b.d.stats.budget_exhausted, 1);
});
