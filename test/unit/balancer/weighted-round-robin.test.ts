import t from 'tap';
import { ManualClock } from '../../../src/core/clock.ts';
import { RoundRobin } from '../../../src/balancer/round-robin.ts';
import { WeightedRoundRobin } from '../../../src/balancer/weighted-round-robin.ts';
import { SlowStart } from '../../../src/balancer/slow-start.ts';
import { seededRng } from '../../../src/balancer/rng.ts';
import { ctx, makeSet, spec, tally } from './fixtures.ts';

const c = ctx();

t.test('equal weights rotate through every endpoint in order', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet(3, clock);
  const rr = new RoundRobin(set, clock);
  const picks = Array.from({ length: 6 }, () => rr.pick(c, undefined)!.spec.port);
  t.same(picks, [8001, 8002, 8003, 8001, 8002, 8003], 'RoundRobin keeps its original start and order');
  t.equal(rr.kind, 'round_robin');
});

t.test('weights give exact proportions, interleaved (smooth)', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet([spec(1, 3), spec(2, 1)], clock);
  const rr = new WeightedRoundRobin(set, { clock, rng: () => 0 });
  const seq = Array.from({ length: 400 }, () => rr.pick(c, undefined)!.spec.port);
  const n = tally(seq.map(String));
  t.equal(n.get('1'), 300);
  t.equal(n.get('2'), 100);
  // Smooth: the light endpoint appears once in every window of 4.
  for (let i = 0; i + 4 <= seq.length; i += 4) t.equal(seq.slice(i, i + 4).filter((p) => p === 2).length, 1, `window ${i}`);
  // Never more than 3 heavy picks in a row.
  let run = 0; let maxRun = 0;
  for (const p of seq) { run = p === 1 ? run + 1 : 0; maxRun = Math.max(maxRun, run); }
  t.ok(maxRun <= 3, `longest run ${maxRun}`);
});

t.test('weights 5:3:2 over 1000 picks', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet([spec(1, 5), spec(2, 3), spec(3, 2)], clock);
  const rr = new WeightedRoundRobin(set, { clock, rng: seededRng(7) });
  const n = tally(Array.from({ length: 1000 }, () => String(rr.pick(c, undefined)!.spec.port)));
  t.same([n.get('1'), n.get('2'), n.get('3')], [500, 300, 200]);
});

t.test('skips unavailable endpoints: critical, ejected, breaker open', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet([spec(1), spec(2, 1, 'critical'), spec(3), spec(4)], clock);
  set.list[2]!.ejectedUntil = 5000;
  set.list[3]!.breakerOpen = true;
  const rr = new WeightedRoundRobin(set, { clock });
  for (let i = 0; i < 20; i++) t.equal(rr.pick(c, undefined)!.spec.port, 1);
  clock.set(5000); // ejection over
  const n = tally(Array.from({ length: 20 }, () => String(rr.pick(c, undefined)!.spec.port)));
  t.same([...n.keys()].sort(), ['1', '3']);
  t.ok(Math.abs(n.get('1')! - n.get('3')!) <= 2, 'a returning endpoint does not get a burst');
});

t.test('exclude picks another endpoint, or the excluded one when it is the only one', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet(3, clock);
  const rr = new WeightedRoundRobin(set, { clock });
  for (let i = 0; i < 30; i++) {
    const first = rr.pick(c, undefined)!;
    const retry = rr.pick(c, first)!;
    t.not(retry, first);
  }
  const one = makeSet(1, clock);
  const rr1 = new WeightedRoundRobin(one, { clock });
  t.equal(rr1.pick(c, one.list[0]), one.list[0]);
  t.equal(new WeightedRoundRobin(makeSet(0, clock), { clock }).pick(c, undefined), undefined);
  const down = makeSet([spec(1, 1, 'critical')], clock);
  t.equal(new WeightedRoundRobin(down, { clock }).pick(c, undefined), undefined);
});

t.test('follows set changes (rebuild on version)', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet(2, clock);
  const rr = new WeightedRoundRobin(set, { clock });
  rr.pick(c, undefined);
  set.apply([spec(8001), spec(8002), spec(8003)]);
  const ports = new Set(Array.from({ length: 9 }, () => rr.pick(c, undefined)!.spec.port));
  t.same([...ports].sort(), [8001, 8002, 8003]);
  set.apply([spec(8003)]);
  t.equal(rr.pick(c, undefined)!.spec.port, 8003);
});

t.test('slow start: a new endpoint ramps up over the window', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet(2, clock);
  const slowStart = new SlowStart({ windowMs: 10_000, aggression: 1, minWeightPercent: 10 });
  const rr = new WeightedRoundRobin(set, { clock, slowStart });
  clock.advance(20_000);
  set.apply([spec(8001), spec(8002), spec(8003)]); // 8003 joins now
  const share = () => {
    const n = tally(Array.from({ length: 300 }, () => String(rr.pick(c, undefined)!.spec.port)));
    return (n.get('8003') ?? 0) / 300;
  };
  const early = share();
  clock.advance(5_000);
  const mid = share();
  clock.advance(6_000);
  const late = share();
  t.ok(early < 0.1, `early share ${early}`);
  t.ok(mid > early && mid < 0.3, `mid share ${mid}`);
  t.ok(Math.abs(late - 1 / 3) < 0.02, `full share after the window ${late}`);
});
