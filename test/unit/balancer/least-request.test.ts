import t from 'tap';
import { ManualClock } from '../../../src/core/clock.ts';
import { LeastRequest, PeakEwmaObserver, ewmaEstimate, updatePeakEwma } from '../../../src/balancer/least-request.ts';
import type { Endpoint } from '../../../src/balancer/endpoint.ts';
import { seededRng } from '../../../src/balancer/rng.ts';
import { SlowStart } from '../../../src/balancer/slow-start.ts';
import { ctx, makeSet, spec, tally } from './fixtures.ts';

const c = ctx();
const ok = (latencyMs: number) => ({ ok: true, status: 200, reason: undefined, latencyMs });

t.test('peak EWMA: a higher sample replaces, a lower one blends in, reads decay', async (t) => {
  const set = makeSet(1);
  const ep = set.list[0]!;
  t.equal(ewmaEstimate(ep, 1000, 10_000, 30), 30, 'no sample → default rtt');
  t.ok(Math.abs(ewmaEstimate(ep, 11_000, 10_000, 30) - 30 / Math.E) < 1e-9, 'which decays from the endpoint’s arrival, so it gets tried');
  updatePeakEwma(ep, 50, 1000, 10_000);
  t.equal(ep.ewmaMs, 50);
  updatePeakEwma(ep, 200, 1000, 10_000);
  t.equal(ep.ewmaMs, 200, 'peak: jumps to a higher sample at once');
  updatePeakEwma(ep, 100, 11_000, 10_000); // Δt = τ → w = e^-1
  t.ok(Math.abs(ep.ewmaMs - (200 / Math.E + 100 * (1 - 1 / Math.E))) < 1e-9, 'blend with w = e^(−Δt/τ)');
  const v = ep.ewmaMs;
  t.ok(Math.abs(ewmaEstimate(ep, 21_000, 10_000, 30) - v / Math.E) < 1e-9, 'read decays towards 0');
  t.equal(ewmaEstimate(ep, 11_000, 10_000, 30), v, 'no decay at Δt = 0');
  updatePeakEwma(ep, -5, 11_000, 10_000);
  t.ok(ep.ewmaMs >= 0, 'negative samples clamp to 0');
});

t.test('picks the cheaper of two: latency × (active + 1) / weight', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet(2, clock);
  const [a, b] = set.list as [Endpoint, Endpoint];
  const lr = new LeastRequest(set, { clock, rng: seededRng(1) });
  updatePeakEwma(a, 10, 1000, 10_000);
  updatePeakEwma(b, 50, 1000, 10_000);
  for (let i = 0; i < 10; i++) t.equal(lr.pick(c, undefined), a);
  a.active = 5; // 10 × 6 = 60 > 50 × 1
  t.equal(lr.pick(c, undefined), b, 'in-flight requests count');
  t.equal(lr.score(a), 60);
  const w = makeSet([spec(1, 1), spec(2, 4)], clock);
  for (const ep of w.list) updatePeakEwma(ep, 40, 1000, 10_000);
  const lw = new LeastRequest(w, { clock });
  t.equal(lw.pick(c, undefined)!.spec.port, 2, 'weight divides the cost');
});

t.test('skips unavailable and excluded endpoints', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet([spec(1), spec(2, 1, 'critical'), spec(3), spec(4)], clock);
  set.list[2]!.breakerOpen = true;
  set.list[3]!.ejectedUntil = 2000;
  const lr = new LeastRequest(set, { clock, rng: seededRng(3) });
  for (let i = 0; i < 50; i++) t.equal(lr.pick(c, undefined)!.spec.port, 1);
  t.equal(lr.pick(c, set.list[0]), set.list[0], 'the excluded one when nothing else is usable');
  set.list[0]!.ejectedUntil = 5000;
  t.equal(lr.pick(c, undefined), undefined, 'nothing usable');
  clock.set(2000);
  t.equal(lr.pick(c, undefined)!.spec.port, 4, 'ejection over');
  const three = makeSet(3, clock);
  const l3 = new LeastRequest(three, { clock, rng: seededRng(9) });
  for (let i = 0; i < 100; i++) {
    const first = l3.pick(c, undefined)!;
    t.not(l3.pick(c, first), first, 'a retry goes elsewhere');
  }
  t.equal(new LeastRequest(makeSet(0, clock), { clock }).pick(c, undefined), undefined);
  t.throws(() => new LeastRequest(three, { decayMs: 0 }), RangeError);
});

t.test('PeakEwmaObserver keeps the estimate (and active when asked), with a failure penalty', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet(1, clock);
  const ep = set.list[0]!;
  const obs = new PeakEwmaObserver({ clock, trackActive: true });
  obs.onAttemptStart(ep);
  obs.onAttemptStart(ep);
  t.equal(ep.active, 2);
  obs.onAttemptEnd(ep, c, ok(12));
  t.equal(ep.active, 1);
  t.equal(ep.ewmaMs, 12);
  obs.onAttemptEnd(ep, c, { ok: false, status: 0, reason: 'upstream_connect_failed', latencyMs: 1 });
  t.equal(ep.active, 0);
  t.equal(ep.ewmaMs, 1000, 'a fast failure is charged the penalty, not 1 ms');
  obs.onAttemptEnd(ep, c, ok(5));
  t.equal(ep.active, 0, 'never negative');
  const noTrack = new PeakEwmaObserver({ clock, failurePenaltyMs: 0 });
  noTrack.onAttemptStart(ep);
  t.equal(ep.active, 0, 'the router keeps active by default');
  const fresh = makeSet(1, clock).list[0]!;
  noTrack.onAttemptEnd(fresh, c, { ok: false, status: 0, reason: 'upstream_reset', latencyMs: 2 });
  t.equal(fresh.ewmaMs, 2, 'no penalty when disabled');
});

/**
 * Discrete-event simulation: 3 endpoints (one answers in 100 ms, two in
 * 10 ms), a request every 2 ms for 20 s, each pick reported through the
 * observer at start and completion.
 */
function simulate(slowMs: number, fastMs: number, seed: number): Map<string, number> {
  const clock = new ManualClock(1000);
  const set = makeSet(3, clock);
  const lr = new LeastRequest(set, { clock, rng: seededRng(seed) });
  const obs = new PeakEwmaObserver({ clock, trackActive: true });
  const latency = new Map(set.list.map((ep, i) => [ep, i === 0 ? slowMs : fastMs]));
  const pending: Array<{ at: number; ep: Endpoint; started: number }> = [];
  const picks: string[] = [];
  for (let now = 1000; now < 21_000; now += 2) {
    clock.set(now);
    pending.sort((x, y) => x.at - y.at);
    while (pending.length > 0 && pending[0]!.at <= now) {
      const p = pending.shift()!;
      obs.onAttemptEnd(p.ep, c, ok(p.at - p.started));
    }
    const ep = lr.pick(c, undefined)!;
    obs.onAttemptStart(ep);
    picks.push(ep.key);
    pending.push({ at: now + latency.get(ep)!, ep, started: now });
  }
  return tally(picks);
}

t.test('simulation: least_request moves ≥ 80% of load to the fast endpoints', async (t) => {
  for (const seed of [1, 2, 3]) {
    const n = simulate(100, 10, seed);
    const slow = n.get('10.0.0.1:8001') ?? 0;
    const total = [...n.values()].reduce((a, b) => a + b, 0);
    t.ok(slow / total < 0.2, `seed ${seed}: slow endpoint got ${(100 * slow / total).toFixed(1)}%`);
  }
});

t.test('slow start lowers a new endpoint’s share', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet(2, clock);
  clock.advance(60_000);
  set.apply([spec(8001), spec(8002), spec(8003)]);
  const lr = new LeastRequest(set, { clock, rng: seededRng(5), slowStart: new SlowStart({ windowMs: 30_000 }) });
  for (const ep of set.list) updatePeakEwma(ep, 20, clock.now(), 10_000);
  const n = tally(Array.from({ length: 600 }, () => lr.pick(c, undefined)!.key));
  t.ok((n.get('10.0.0.1:8003') ?? 0) < 100, `new endpoint got ${n.get('10.0.0.1:8003') ?? 0}/600`);
});
