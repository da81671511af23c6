/**
 * The assembled per-upstream resilience, driven by a small simulated router
 * (the shape the real router takes: filters, pick, observers around each
 * attempt, then the retry decider). Pure: ManualClock, seeded RNG, no sockets.
 */
import t from 'tap';
import { ManualClock } from '../../../src/core/clock.ts';
import { Verdict, runDoneFilters, runRequestFilters, type RequestCtx } from '../../../src/core/filter.ts';
import type { Endpoint } from '../../../src/balancer/endpoint.ts';
import { seededRng, type Rng } from '../../../src/balancer/rng.ts';
import { resilienceSchema } from '../../../src/resilience/options.ts';
import { buildUpstreamResilience, type RoutePolicy, type UpstreamResilience } from '../../../src/resilience/upstream.ts';
import type { AttemptOutcome } from '../../../src/resilience/retry/policy.ts';
import { deadlineFor } from '../../../src/resilience/timeout/deadline.ts';
import { ABORT_RESET, NO_ABORT } from '../../../src/resilience/fault/injector.ts';
import { ctx, makeSet } from '../balancer/fixtures.ts';

type Behaviour = (ep: Endpoint) => { status: number; reason?: AttemptOutcome['reason']; latencyMs: number };

function outcome(b: ReturnType<Behaviour>, requestSent = true): AttemptOutcome {
  const ok = b.status > 0 && b.status < 500;
  return { ok, status: b.status, reason: b.reason, latencyMs: b.latencyMs, grpcStatus: -1, requestSent: b.status === 0 && b.reason === 'upstream_connect_failed' ? false : requestSent, retryAfter: undefined };
}

/** One request through the assembled pieces; returns the final status and the endpoints tried. */
function send(u: UpstreamResilience, clock: ManualClock, c: RequestCtx, behave: Behaviour): { status: number; tried: Endpoint[] } {
  const tried: Endpoint[] = [];
  c.startedAt = clock.now();
  if (runRequestFilters(u.filters, c) === Verdict.Reply) { runDoneFilters(u.filters, c); return { status: c.error!.status, tried }; }
  const policy = c.route as RoutePolicy;
  const deadline = deadlineFor(c, policy.timeouts.requestMs);
  let exclude: Endpoint | undefined;
  let status = 0;
  for (;;) {
    c.attempts++;
    const ep = u.balancer.pick(c, exclude);
    if (ep === undefined) { status = 503; break; }
    ep.active++; // as proxy/cluster.ts does
    for (const o of u.observers) o.onAttemptStart?.(ep, c);
    tried.push(ep);
    const fault = policy.fault?.abortCode() ?? NO_ABORT;
    const b = fault === NO_ABORT ? behave(ep) : fault === ABORT_RESET ? { status: 0, reason: 'upstream_reset' as const, latencyMs: 0 } : { status: fault, latencyMs: 0 };
    clock.advance(b.latencyMs);
    const o = outcome(b);
    ep.active--;
    for (const obs of u.observers) obs.onAttemptEnd(ep, c, o);
    status = b.status === 0 ? 502 : b.status;
    const d = policy.retry.next(c, o, { requestBytesSent: o.requestSent, replayable: true, deadline });
    if (d < 0) break;
    clock.advance(d);
    exclude = ep;
  }
  c.status = status;
  runDoneFilters(u.filters, c);
  return { status, tried };
}

function build(options: unknown, n = 3, rng: Rng = seededRng(1)) {
  const clock = new ManualClock(1000);
  const set = makeSet(n, clock);
  const u = buildUpstreamResilience(set, resilienceSchema.parse(options), { clock, rng });
  t.teardown(() => u.close());
  return { clock, set, u };
}

t.test('one endpoint failing half its requests with 503: ≥ 99.9% success over 2000 requests', async (t) => {
  // Round robin so the flaky endpoint keeps getting its third (least_request
  // would mostly avoid it, which is the point of it but not of this test).
  const { clock, set, u } = build({ lb: 'round_robin' });
  const rng = seededRng(9);
  const flaky = set.list[0]!;
  let ok = 0;
  for (let i = 0; i < 2000; i++) {
    clock.advance(5);
    const r = send(u, clock, ctx(), (ep) => (ep === flaky && rng() < 0.5 ? { status: 503, latencyMs: 2 } : { status: 200, latencyMs: 2 }));
    if (r.status === 200) ok++;
  }
  t.ok(ok / 2000 >= 0.999, `success ${ok}/2000`);
  t.ok(u.retryStats.retries > 0, `retries ${u.retryStats.retries}`);
  t.equal(u.retryStats.budget_exhausted, 0);
});

t.test('a dead endpoint is ejected, never tried during the ejection, and comes back', async (t) => {
  const { clock, set, u } = build({ lb: 'round_robin', outlier: { consecutive_gateway_failure: 3, base_ejection_time: '30s', max_ejection_percent: 50 } });
  const dead = set.list[1]!;
  const refuse: Behaviour = (ep) => (ep === dead ? { status: 0, reason: 'upstream_connect_failed', latencyMs: 1 } : { status: 200, latencyMs: 1 });
  let ejectedAt = -1;
  for (let i = 0; i < 30 && ejectedAt < 0; i++) {
    const r = send(u, clock, ctx(), refuse);
    t.equal(r.status, 200, 'connect failures are retried elsewhere');
    if (dead.ejectedUntil > clock.now()) ejectedAt = clock.now();
  }
  t.ok(ejectedAt > 0, 'ejected');
  t.equal(u.outlier!.activeEjections(), 1);
  while (clock.now() < dead.ejectedUntil - 10) {
    const r = send(u, clock, ctx(), refuse);
    if (r.tried.includes(dead)) { t.fail('tried during ejection'); break; }
    clock.advance(100);
  }
  clock.set(dead.ejectedUntil);
  const back = Array.from({ length: 6 }, () => send(u, clock, ctx(), () => ({ status: 200, latencyMs: 1 })).tried[0]);
  t.ok(back.includes(dead), 'back in rotation after the ejection time');
});

t.test('POST: not retried once sent, retried when refused at connect or with Idempotency-Key', async (t) => {
  const { clock, u } = build({ lb: 'round_robin', outlier: { enabled: false }, breaker: { enabled: false } });
  const fail503: Behaviour = () => ({ status: 503, latencyMs: 1 });
  t.equal(send(u, clock, ctx({ method: 'POST' }), fail503).tried.length, 1);
  t.equal(send(u, clock, ctx({ method: 'POST', headers: ['idempotency-key', 'k'] }), fail503).tried.length, 3);
  let first = true;
  const refusedOnce: Behaviour = () => (first ? (first = false, { status: 0, reason: 'upstream_connect_failed', latencyMs: 1 }) : { status: 201, latencyMs: 1 });
  const r = send(u, clock, ctx({ method: 'POST' }), refusedOnce);
  t.equal(r.status, 201);
  t.equal(r.tried.length, 2);
  t.not(r.tried[0], r.tried[1], 'the retry went to another endpoint');
  t.equal(u.retryStats.unsafe_method, 1);
});

t.test('total outage: attempts ≤ 1.2 × requests + budget', async (t) => {
  const { clock, u } = build({ outlier: { enabled: false }, breaker: { enabled: false }, lb: { panic_threshold: 0 } });
  let attempts = 0;
  const requests = 3000;
  const start = clock.now();
  for (let i = 0; i < requests; i++) {
    clock.advance(10); // 100 req/s for 30 s
    attempts += send(u, clock, ctx(), () => ({ status: 503, latencyMs: 1 })).tried.length;
  }
  // The reserve is 10/s × 10 s per window; backoff and latency stretch the run past 30 s.
  const windows = Math.ceil((clock.now() - start) / 10_000);
  const reserve = 10 * 10 * windows;
  t.ok(attempts <= 1.2 * requests + reserve, `${attempts} attempts for ${requests} requests over ${windows} windows`);
  t.ok(attempts < 1.5 * requests, 'nowhere near 3×');
  t.ok(u.retryStats.budget_exhausted > 0);
});

t.test('filters: rate limit and concurrency limit reply locally; routes pick the policy', async (t) => {
  const { clock, u } = build({
    rate_limit: { global: { requests_per_second: 1, burst: 5 } },
    limits: { max_requests: 2 },
    routes: [{ name: 'slow', prefix: '/reports', timeouts: { request: '60s' }, retries: { attempts: 1 } }, { name: 'chaos', prefix: '/chaos', fault: { abort: { status: 503, percentage: 100 } } }],
  });
  t.same(u.filters.map((f) => f.name), ['ratelimit', 'limits', 'route', 'retry-budget']);
  const c = ctx({ target: '/reports/1' });
  t.equal(runRequestFilters(u.filters, c), Verdict.Continue);
  const p = c.route as RoutePolicy;
  t.equal(p.name, 'slow');
  t.equal(p.timeouts.requestMs, 60_000);
  t.equal(p.timeouts.connectMs, 5_000, 'inherited from the upstream');
  t.equal(p.retry.policy.maxAttempts, 1);
  t.equal(u.routes.match(ctx({ target: '/other' })).name, 'default');
  const c2 = ctx();
  runRequestFilters(u.filters, c2);
  const c3 = ctx();
  t.equal(runRequestFilters(u.filters, c3), Verdict.Reply);
  t.equal(c3.error!.reason, 'overflow_requests', 'the third concurrent request overflows');
  runDoneFilters(u.filters, c3);
  runDoneFilters(u.filters, c);
  runDoneFilters(u.filters, c2);
  t.equal(u.limits.active('requests'), 0);
  t.equal(u.retryStats.requests, 2, 'only requests that got past the limits deposit into the budget');
  const r = send(u, clock, ctx(), () => ({ status: 200, latencyMs: 1 }));
  t.equal(r.status, 200);
  // Tokens so far: c, c2, c3 (refused later, by the concurrency limit), and r.
  t.equal(send(u, clock, ctx(), () => ({ status: 200, latencyMs: 1 })).status, 200, 'the 5th token');
  t.equal(send(u, clock, ctx(), () => ({ status: 200, latencyMs: 1 })).status, 429, 'the rate limit (burst 5) is spent');
  // Injected 503s are retried like real ones (retry policies absorb the fault).
  const chaos = send(u, clock, ctx({ target: '/chaos' }), () => ({ status: 200, latencyMs: 1 }));
  t.equal(chaos.status, 429, 'rate limited before any fault');
  clock.advance(10_000);
  const f = send(u, clock, ctx({ target: '/chaos' }), () => ({ status: 200, latencyMs: 1 }));
  t.equal(f.tried.length, 3, 'each injected abort was retried');
  t.equal(f.status, 503);
});

t.test('breakers and the EWMA observer are wired', async (t) => {
  const { clock, set, u } = build({ breaker: { volume_threshold: 5 }, outlier: { enabled: false }, retries: { attempts: 1 } });
  const bad = set.list[2]!;
  for (let i = 0; i < 200 && u.breakers!.state(bad) !== 'open'; i++) send(u, clock, ctx(), (ep) => (ep === bad ? { status: 500, latencyMs: 1 } : { status: 200, latencyMs: 3 }));
  t.equal(u.breakers!.state(bad), 'open');
  t.ok(bad.breakerOpen);
  t.ok(set.list.some((ep) => ep !== bad && ep.ewmaMs >= 3), 'latency samples reach the balancer');
  t.ok(set.list.every((ep) => ep.active === 0), 'in-flight counts return to 0');
  t.equal(u.limits.active('retries'), 0, 'no retry unit left held');
});
