/**
 * The /explain choice: exact where the balancer can be asked without side
 * effects (ring hash), the balancer's own rule otherwise, and never a moved
 * rotation: round robin picks the same sequence with or without explain.
 */
import t from 'tap';
import { ManualClock } from '../../../src/core/clock.ts';
import { RingHash } from '../../../src/balancer/ring-hash.ts';
import { WeightedRoundRobin } from '../../../src/balancer/weighted-round-robin.ts';
import { LeastRequest } from '../../../src/balancer/least-request.ts';
import { PanicBalancer } from '../../../src/balancer/panic.ts';
import { seededRng } from '../../../src/balancer/rng.ts';
import { chooseEndpoint } from '../../../src/admin/explain/choice.ts';
import { ctx, makeSet, spec } from '../balancer/fixtures.ts';

t.test('round robin: explain does not advance the rotation', async (t) => {
  const clock = new ManualClock(1000);
  const a = makeSet(3, clock);
  const b = makeSet(3, clock);
  const ra = new WeightedRoundRobin(a, { clock, rng: () => 0 });
  const rb = new WeightedRoundRobin(b, { clock, rng: () => 0 });
  const seqA: string[] = [];
  const seqB: string[] = [];
  for (let i = 0; i < 9; i++) {
    seqA.push(ra.pick(ctx(), undefined)!.key);
    const c = chooseEndpoint(rb, b.list, ctx(), clock.now());
    t.equal(c.rule, 'round_robin');
    seqB.push(rb.pick(ctx(), undefined)!.key);
  }
  t.same(seqB, seqA, 'same picks with explain calls in between');
});

t.test('ring hash: the exact endpoint of the request key', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet(5, clock);
  const rh = new RingHash(set, { hashOn: { kind: 'header', name: 'x-user' }, clock });
  for (const u of ['alice', 'bob', 'carol']) {
    const c = ctx({ headers: ['x-user', u] });
    const choice = chooseEndpoint(rh, set.list, c, clock.now());
    t.equal(choice.exact, true);
    t.equal(choice.endpoint, rh.pick(c, undefined)!.key, `${u}: what the balancer picks`);
  }
});

t.test('least request: the lowest cost; unavailable endpoints skipped; none left', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet([spec(8001), spec(8002, 1, 'critical'), spec(8003)], clock);
  const lr = new LeastRequest(set, { clock, rng: seededRng(1) });
  set.list[0]!.active = 5; // 8001 is busy: 8003 is cheaper
  const c = chooseEndpoint(lr, set.list, ctx(), clock.now());
  t.match(c, { endpoint: '10.0.0.1:8003', exact: false, rule: 'least_request', why: /1 unavailable endpoint is skipped/ });
  set.list[2]!.ejectedUntil = clock.now() + 1000;
  t.match(chooseEndpoint(lr, set.list, ctx(), clock.now()), { endpoint: '10.0.0.1:8001', exact: true }, 'the only one left');
  set.list[0]!.breakerOpen = true;
  t.match(chooseEndpoint(lr, set.list, ctx(), clock.now()), { endpoint: null, reason: 'no_endpoints', why: /all 3 endpoints are unavailable/ });
});

t.test('panic mode is looked through and said', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet([spec(8001, 1, 'critical'), spec(8002, 1, 'critical'), spec(8003)], clock);
  const p = new PanicBalancer(new LeastRequest(set, { clock }), set, { thresholdPercent: 50, clock });
  p.pick(ctx(), undefined); // the decorator notices panic on a pick
  t.equal(p.panicking, true);
  const c = chooseEndpoint(p, set.list, ctx(), clock.now());
  t.match(c.why, /Panic mode/);
  t.equal(c.rule, 'least_request');
});
