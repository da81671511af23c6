import t from 'tap';
import { mock } from 'node:test';
import { ManualClock } from '../../../../src/core/clock.ts';
import { BreakerRegistry } from '../../../../src/resilience/breaker/registry.ts';
import { WeightedRoundRobin } from '../../../../src/balancer/weighted-round-robin.ts';
import type { AttemptResult } from '../../../../src/balancer/types.ts';
import { ctx, makeSet, spec } from '../../balancer/fixtures.ts';

const okR: AttemptResult = { ok: true, status: 200, reason: undefined, latencyMs: 3 };
const bad: AttemptResult = { ok: false, status: 503, reason: undefined, latencyMs: 3 };
const cfg = { errorThresholdPercentage: 50, volumeThreshold: 4, windowMs: 10_000, buckets: 10, resetTimeoutMs: 5_000 };

// opossum's reset timeout is its own setTimeout: drive it with Node's mock timers.
t.beforeEach(() => { mock.timers.enable({ apis: ['setTimeout', 'Date'] }); });
t.afterEach(() => { mock.timers.reset(); });

function attempt(reg: BreakerRegistry, ep: Parameters<BreakerRegistry['onAttemptEnd']>[0], r: AttemptResult, c = ctx()) {
  reg.onAttemptStart(ep, c);
  reg.onAttemptEnd(ep, c, r);
}

t.test('closed → open → half-open → (probe fails) open → half-open → (probe ok) closed', async (t) => {
  const clock = new ManualClock(0);
  const set = makeSet(2, clock);
  const reg = new BreakerRegistry(set, cfg, clock);
  const [ep, other] = set.list;
  t.teardown(() => reg.close());
  for (let i = 0; i < 3; i++) attempt(reg, ep!, bad);
  t.equal(reg.state(ep!), 'closed', '3 failures < volume threshold 4');
  attempt(reg, ep!, bad);
  t.equal(reg.state(ep!), 'open', 'the 4th failure opens it (100% > 50%)');
  t.ok(ep!.breakerOpen, 'the balancer will skip it');
  t.equal(reg.stats.opened, 1);
  const rr = new WeightedRoundRobin(set, { clock });
  for (let i = 0; i < 6; i++) t.equal(rr.pick(ctx(), undefined), other, 'picks avoid the open endpoint');

  reg.onAttemptEnd(ep!, ctx(), okR);
  t.equal(reg.stats.ignored, 1, 'a late result while open is not fired');

  mock.timers.tick(4_999);
  t.equal(reg.state(ep!), 'open');
  mock.timers.tick(1);
  t.equal(reg.state(ep!), 'half_open', 'after reset_timeout');
  t.notOk(ep!.breakerOpen, 'one probe may go');
  t.equal(reg.stats.half_opened, 1);

  const probe = ctx();
  reg.onAttemptStart(ep!, probe);
  t.ok(ep!.breakerOpen, 'only one probe at a time');
  const straggler = ctx();
  reg.onAttemptEnd(ep!, straggler, okR);
  t.equal(reg.state(ep!), 'half_open', 'a non-probe result does not decide');
  reg.onAttemptEnd(ep!, probe, bad);
  t.equal(reg.state(ep!), 'open', 'a failed probe re-opens at once');
  t.equal(reg.stats.opened, 2);

  mock.timers.tick(5_000);
  t.equal(reg.state(ep!), 'half_open');
  const probe2 = ctx();
  reg.onAttemptStart(ep!, probe2);
  reg.onAttemptEnd(ep!, probe2, okR);
  t.equal(reg.state(ep!), 'closed', 'a successful probe closes it, synchronously');
  t.notOk(ep!.breakerOpen);
  t.same(reg.stats, { opened: 2, half_opened: 2, closed: 1, ignored: 2 });

  attempt(reg, ep!, bad);
  t.equal(reg.state(ep!), 'closed', 'the window was emptied on close: one failure does not reopen');
  t.same([...reg.states()], [[ep!.key, 'closed'], [other!.key, 'closed']]);
});

t.test('error percentage over the rolling window, on the injected clock', async (t) => {
  const clock = new ManualClock(0);
  const set = makeSet(1, clock);
  const ep = set.list[0]!;
  const reg = new BreakerRegistry(set, { ...cfg, volumeThreshold: 10 }, clock);
  t.teardown(() => reg.close());
  for (let i = 0; i < 10; i++) attempt(reg, ep, okR);
  t.equal(reg.breakerOf(ep)!.stats.successes, 10, 'successes counted by opossum’s Status');
  for (let i = 0; i < 10; i++) attempt(reg, ep, bad);
  t.equal(reg.state(ep), 'closed', '10/20 = 50% is not above 50%');
  attempt(reg, ep, bad);
  t.equal(reg.state(ep), 'open', '11/21 > 50%');
  t.equal(reg.breakerOf(ep)!.stats.failures, 11);

  // Old failures roll out of the window.
  const set2 = makeSet(1, clock);
  const ep2 = set2.list[0]!;
  const reg2 = new BreakerRegistry(set2, cfg, clock);
  t.teardown(() => reg2.close());
  for (let i = 0; i < 3; i++) attempt(reg2, ep2, bad);
  clock.advance(10_000);
  attempt(reg2, ep2, bad);
  t.equal(reg2.state(ep2), 'closed', 'failures older than the window do not count');
  t.equal(reg2.breakerOf(ep2)!.stats.fires, 1);
  clock.advance(3_000);
  for (let i = 0; i < 3; i++) attempt(reg2, ep2, bad);
  t.equal(reg2.state(ep2), 'open', 'four failures inside one window');
});

t.test('follows the endpoint set; options are validated', async (t) => {
  const clock = new ManualClock(0);
  const set = makeSet(2, clock);
  const reg = new BreakerRegistry(set, cfg, clock);
  t.teardown(() => reg.close());
  const gone = set.list[0]!;
  set.apply([spec(8002), spec(8003)]);
  t.equal(reg.state(gone), undefined, 'a removed endpoint’s breaker is shut down');
  t.equal(reg.state(set.list[1]!), 'closed', 'a new endpoint gets one');
  reg.onAttemptEnd(gone, ctx(), bad); // no throw for unknown endpoints
  reg.onAttemptStart(gone, ctx());
  t.throws(() => new BreakerRegistry(set, { ...cfg, buckets: 3 }, clock), RangeError);
  t.throws(() => new BreakerRegistry(set, { ...cfg, errorThresholdPercentage: 101 }, clock), RangeError);
  t.throws(() => new BreakerRegistry(set, { ...cfg, resetTimeoutMs: 0 }, clock), RangeError);
});
