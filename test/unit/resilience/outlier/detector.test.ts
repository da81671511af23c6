import t from 'tap';
import { ManualClock } from '../../../../src/core/clock.ts';
import type { Reason } from '../../../../src/core/errors.ts';
import { OutlierDetector, type OutlierConfig } from '../../../../src/resilience/outlier/detector.ts';
import { OutlierObserver } from '../../../../src/resilience/outlier/observer.ts';
import { WeightedRoundRobin } from '../../../../src/balancer/weighted-round-robin.ts';
import type { AttemptResult } from '../../../../src/balancer/types.ts';
import { ctx, makeSet, spec } from '../../balancer/fixtures.ts';

const r = (status: number, reason?: Reason): AttemptResult => ({ ok: status > 0 && status < 500, status, reason, latencyMs: 1 });
const cfg: OutlierConfig = {
  consecutive5xx: 5, consecutiveGatewayFailure: 3, intervalMs: 10_000,
  baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 50,
};

t.test('consecutive gateway failures (refused connections) eject; the endpoint returns after the ejection time', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet(3, clock);
  const [dead] = set.list;
  const d = new OutlierDetector(set, cfg, clock);
  const rr = new WeightedRoundRobin(set, { clock });
  d.record(dead!, r(0, 'upstream_connect_failed'));
  d.record(dead!, r(0, 'upstream_connect_failed'));
  t.equal(dead!.ejectedUntil, 0);
  d.record(dead!, r(0, 'upstream_connect_failed'));
  t.equal(dead!.ejectedUntil, 31_000, 'base ejection time');
  t.equal(d.activeEjections(), 1);
  t.equal(d.stats.consecutive_gateway_failure, 1);
  const during = new Set(Array.from({ length: 60 }, () => rr.pick(ctx(), undefined)));
  t.notOk(during.has(dead!), 'never picked while ejected');
  clock.set(30_999);
  t.notOk(dead!.available(clock.now()));
  clock.set(31_000);
  t.ok(dead!.available(clock.now()), 'back after the ejection time, no timer needed');
  t.equal(d.activeEjections(), 0);
  d.tick();
  t.equal(d.stats.returned, 1);
});

t.test('a success resets the streak; 5xx vs gateway streaks', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet(3, clock);
  const ep = set.list[0]!;
  const d = new OutlierDetector(set, cfg, clock);
  d.record(ep, r(503)); d.record(ep, r(502));
  d.record(ep, r(200));
  d.record(ep, r(504)); d.record(ep, r(503));
  t.equal(ep.ejectedUntil, 0, 'the streak restarted');
  d.record(ep, r(500)); // breaks the gateway streak, continues the 5xx streak (3)
  d.record(ep, r(503)); d.record(ep, r(501)); // 5xx streak 5
  t.equal(ep.ejectedUntil, 31_000, 'consecutive 5xx');
  t.equal(d.stats.consecutive_5xx, 1);
  const ep2 = set.list[1]!;
  for (let i = 0; i < 10; i++) d.record(ep2, r(404));
  d.record(ep2, r(429));
  t.equal(ep2.ejectedUntil, 0, '4xx are not failures');
});

t.test('ejection time grows with repeated ejections, capped, and the multiplier decays', async (t) => {
  const clock = new ManualClock(0);
  const set = makeSet(2, clock);
  const ep = set.list[0]!;
  const d = new OutlierDetector(set, { ...cfg, maxEjectionMs: 70_000 }, clock);
  const eject = () => { for (let i = 0; i < 3; i++) d.record(ep, r(503)); };
  eject();
  t.equal(ep.ejectedUntil - clock.now(), 30_000);
  clock.set(ep.ejectedUntil);
  eject();
  t.equal(ep.ejectedUntil - clock.now(), 60_000, '2 × base');
  clock.set(ep.ejectedUntil);
  eject();
  t.equal(ep.ejectedUntil - clock.now(), 70_000, 'capped at max_ejection_time');
  t.equal(d.ejectionCount(ep), 3);
  clock.set(ep.ejectedUntil);
  d.tick(); // returns it
  d.tick(); d.tick();
  t.equal(d.ejectionCount(ep), 1, 'one less per clean interval');
  eject();
  t.equal(ep.ejectedUntil - clock.now(), 60_000);
});

t.test('max ejection percent keeps capacity (the first ejection is always allowed)', async (t) => {
  const clock = new ManualClock(0);
  const set = makeSet(3, clock);
  const d = new OutlierDetector(set, { ...cfg, maxEjectionPercent: 10 }, clock);
  for (const ep of set.list) for (let i = 0; i < 3; i++) d.record(ep, r(503));
  t.equal(d.activeEjections(), 1, '0% < 10% allows one; 33% ≥ 10% refuses more');
  t.equal(d.stats.overflow, 2);
  const five = makeSet(Array.from({ length: 10 }, (_, i) => spec(7000 + i)), clock);
  const d5 = new OutlierDetector(five, { ...cfg, maxEjectionPercent: 30 }, clock);
  for (const ep of five.list) for (let i = 0; i < 3; i++) d5.record(ep, r(503));
  t.equal(d5.activeEjections(), 3, '0, 10, 20% < 30%: three of ten');
  const none = new OutlierDetector(makeSet(2, clock), { ...cfg, maxEjectionPercent: 0 }, clock);
  t.equal(none.activeEjections(), 0);
});

t.test('success rate: ejects endpoints far below the others', async (t) => {
  const clock = new ManualClock(0);
  const set = makeSet(6, clock);
  const d = new OutlierDetector(set, {
    ...cfg, consecutive5xx: 0, consecutiveGatewayFailure: 0, maxEjectionPercent: 50,
    successRate: { enabled: true, minimumHosts: 5, requestVolume: 100, stdevFactor: 1.9 },
  }, clock);
  const rates = [1, 0.99, 1, 0.98, 1, 0.6];
  set.list.forEach((ep, i) => {
    for (let k = 0; k < 200; k++) d.record(ep, r(k < rates[i]! * 200 ? 200 : 503));
  });
  clock.advance(10_000);
  d.tick();
  t.ok(set.list[5]!.ejectedUntil > clock.now(), 'the 60% endpoint is ejected');
  t.equal(d.activeEjections(), 1);
  t.equal(d.stats.success_rate, 1);
  // Too few hosts with enough volume: no analysis.
  const small = makeSet(6, clock);
  const d2 = new OutlierDetector(small, { ...cfg, consecutive5xx: 0, consecutiveGatewayFailure: 0, successRate: { enabled: true, minimumHosts: 5, requestVolume: 100, stdevFactor: 1.9 } }, clock);
  small.list.forEach((ep, i) => { for (let k = 0; k < (i < 2 ? 200 : 50); k++) d2.record(ep, r(i === 0 ? 503 : 200)); });
  d2.tick();
  t.equal(d2.activeEjections(), 0);
});

t.test('the observer adapter records and ticks lazily; removed endpoints are forgotten', async (t) => {
  const clock = new ManualClock(0);
  const set = makeSet(3, clock);
  const d = new OutlierDetector(set, cfg, clock);
  const obs = new OutlierObserver(d);
  const ep = set.list[0]!;
  for (let i = 0; i < 3; i++) obs.onAttemptEnd(ep, ctx(), r(0, 'upstream_reset'));
  t.ok(ep.ejectedUntil > 0);
  clock.set(40_000);
  obs.onAttemptEnd(set.list[1]!, ctx(), r(200));
  t.equal(d.stats.returned, 1, 'the interval work ran on the next observation');
  set.apply([spec(8002), spec(8003)]);
  t.equal(d.ejectionCount(ep), 0);
  d.record(ep, r(503)); // not live: ignored
  t.equal(d.ejectionCount(ep), 0);
  t.throws(() => new OutlierDetector(set, { ...cfg, intervalMs: 0 }), RangeError);
  t.throws(() => new OutlierDetector(set, { ...cfg, baseEjectionMs: 0 }), RangeError);
  t.throws(() => new OutlierDetector(set, { ...cfg, maxEjectionPercent: 200 }), RangeError);
});
