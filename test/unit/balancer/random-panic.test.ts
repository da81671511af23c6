import t from 'tap';
import { ManualClock } from '../../../src/core/clock.ts';
import { RandomBalancer } from '../../../src/balancer/random.ts';
import { PanicBalancer } from '../../../src/balancer/panic.ts';
import { WeightedRoundRobin } from '../../../src/balancer/weighted-round-robin.ts';
import { seededRng } from '../../../src/balancer/rng.ts';
import { SlowStart } from '../../../src/balancer/slow-start.ts';
import { ctx, makeSet, spec, tally } from './fixtures.ts';

const c = ctx();

t.test('random spreads roughly uniformly and skips unavailable endpoints', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet(4, clock);
  const r = new RandomBalancer(set, { clock, rng: seededRng(11) });
  const n = tally(Array.from({ length: 4000 }, () => r.pick(c, undefined)!.key));
  for (const v of n.values()) t.ok(v > 850 && v < 1150, `share ${v}/4000`);
  set.list[0]!.breakerOpen = true;
  set.list[1]!.ejectedUntil = 9e9;
  set.list[2]!.breakerOpen = true;
  for (let i = 0; i < 50; i++) t.equal(r.pick(c, undefined), set.list[3]);
  t.equal(r.pick(c, set.list[3]), set.list[3], 'excluded one as the fallback');
  set.list[3]!.breakerOpen = true;
  t.equal(r.pick(c, undefined), undefined);
  t.equal(new RandomBalancer(makeSet(0, clock), { clock }).pick(c, undefined), undefined);
  t.equal(r.kind, 'random');
});

t.test('random: a retry avoids the previous endpoint', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet(2, clock);
  const r = new RandomBalancer(set, { clock, rng: seededRng(2) });
  for (let i = 0; i < 100; i++) t.equal(r.pick(c, set.list[0]), set.list[1]);
});

t.test('panic: below the threshold, load spreads over all live endpoints', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet(4, clock);
  const inner = new WeightedRoundRobin(set, { clock });
  const p = new PanicBalancer(inner, set, { thresholdPercent: 50, clock, rng: seededRng(4), recheckMs: 1000 });
  t.equal(p.kind, 'round_robin');
  set.list[0]!.ejectedUntil = 9e9; // 75% available: normal
  const normal = tally(Array.from({ length: 30 }, () => p.pick(c, undefined)!.key));
  t.notOk(normal.has(set.list[0]!.key));
  t.notOk(p.panicking);
  set.list[1]!.breakerOpen = true;
  set.list[2]!.ejectedUntil = 9e9; // 25% available
  clock.advance(999);
  t.equal(p.pick(c, undefined), set.list[3], 'not rechecked before recheckMs');
  clock.advance(1);
  const panic = tally(Array.from({ length: 400 }, () => p.pick(c, undefined)!.key));
  t.ok(p.panicking);
  t.equal(panic.size, 4, 'every endpoint gets traffic in panic');
  t.equal(p.stats.entered, 1);
  t.equal(p.stats.picks, 400);
  set.list[1]!.breakerOpen = false;
  set.list[2]!.ejectedUntil = 0;
  clock.advance(1000);
  p.pick(c, undefined);
  t.notOk(p.panicking, 'leaves panic when health returns');
});

t.test('panic: rechecks at once when the inner balancer finds nothing', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet([spec(1), spec(2)], clock);
  const p = new PanicBalancer(new WeightedRoundRobin(set, { clock }), set, { thresholdPercent: 50, clock, rng: seededRng(1) });
  t.ok(p.pick(c, undefined));
  set.list[0]!.breakerOpen = true;
  set.list[1]!.breakerOpen = true;
  t.ok(p.pick(c, undefined), 'all unavailable → panic picks one anyway');
  t.ok(p.panicking);
  const off = new PanicBalancer(new WeightedRoundRobin(set, { clock }), set, { thresholdPercent: 0, clock });
  t.equal(off.pick(c, undefined), undefined, 'threshold 0 disables panic');
  t.throws(() => new PanicBalancer(off, set, { thresholdPercent: 120 }), RangeError);
  t.equal(p.score(set.list[0]!), 1, 'score delegates');
});

t.test('slow start factor (Envoy formula)', async (t) => {
  const set = makeSet(1, new ManualClock(0));
  const ep = set.list[0]!; // addedAt = 0
  const lin = new SlowStart({ windowMs: 1000 });
  t.equal(lin.factor(ep, 0), 0.1, 'floored at min_weight_percent');
  t.equal(lin.factor(ep, 500), 0.5);
  t.equal(lin.factor(ep, 1000), 1);
  t.ok(lin.active(ep, 999));
  t.notOk(lin.active(ep, 1000));
  const agg = new SlowStart({ windowMs: 1000, aggression: 2, minWeightPercent: 0 });
  t.ok(Math.abs(agg.factor(ep, 250) - 0.5) < 1e-12, '(0.25)^(1/2)');
  t.equal(new SlowStart({ windowMs: 0 }).factor(ep, 0), 1, 'window 0 = off');
  t.throws(() => new SlowStart({ windowMs: 10, aggression: 0 }), RangeError);
  t.throws(() => new SlowStart({ windowMs: -1 }), RangeError);
  t.throws(() => new SlowStart({ windowMs: 10, minWeightPercent: 101 }), RangeError);
});
