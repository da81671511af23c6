import t from 'tap';
import { ManualClock } from '../../../src/core/clock.ts';
import { createBalancer } from '../../../src/balancer/factory.ts';
import { LeastRequest, PeakEwmaObserver } from '../../../src/balancer/least-request.ts';
import { PanicBalancer } from '../../../src/balancer/panic.ts';
import { RandomBalancer } from '../../../src/balancer/random.ts';
import { RingHash } from '../../../src/balancer/ring-hash.ts';
import { WeightedRoundRobin } from '../../../src/balancer/weighted-round-robin.ts';
import { seededRng } from '../../../src/balancer/rng.ts';
import { lbSchema } from '../../../src/resilience/options.ts';
import { ctx, makeSet } from './fixtures.ts';

const clock = new ManualClock(1000);
const rng = seededRng(1);

t.test('defaults: least_request inside the panic decorator, with the EWMA observer', async (t) => {
  const set = makeSet(3, clock);
  const b = createBalancer(set, lbSchema.parse(undefined), { clock, rng });
  t.ok(b.balancer instanceof PanicBalancer);
  t.ok((b.balancer as PanicBalancer).inner instanceof LeastRequest);
  t.equal(b.balancer.kind, 'least_request');
  t.equal(b.observers.length, 1);
  t.ok(b.observers[0] instanceof PeakEwmaObserver);
  t.ok(b.balancer.pick(ctx(), undefined));
});

t.test('each policy by name; panic off at 0', async (t) => {
  const set = makeSet(3, clock);
  const cases = [
    ['round_robin', WeightedRoundRobin],
    ['random', RandomBalancer],
    ['least_request', LeastRequest],
  ] as const;
  for (const [policy, cls] of cases) {
    const b = createBalancer(set, lbSchema.parse({ policy, panic_threshold: 0, slow_start: { window: '30s' } }), { clock, rng });
    t.ok(b.balancer instanceof cls, policy);
    t.equal(b.panic, undefined);
    t.ok(b.balancer.pick(ctx(), undefined));
  }
  const rr = createBalancer(set, lbSchema.parse('round_robin'), { clock, rng });
  t.equal(rr.balancer.kind, 'round_robin', 'string shorthand');
  const rh = createBalancer(set, lbSchema.parse({ policy: 'ring_hash', ring_hash: { hash_on: 'header', name: 'x-user' }, panic_threshold: 0 }), { clock, rng });
  t.ok(rh.balancer instanceof RingHash);
  const a = rh.balancer.pick(ctx({ headers: ['x-user', 'u1'] }), undefined);
  t.equal(rh.balancer.pick(ctx({ headers: ['x-user', 'u1'] }), undefined), a);
  const rs = createBalancer(set, lbSchema.parse({ policy: 'ring_hash' }), { clock, rng });
  t.equal(rs.balancer.kind, 'ring_hash', 'source_ip by default');
});

t.test('ring_hash on a header or cookie needs a name', async (t) => {
  const r = lbSchema.safeParse({ policy: 'ring_hash', ring_hash: { hash_on: 'cookie' } });
  t.notOk(r.success);
  t.match(JSON.stringify(r.error?.issues), /needs a cookie name/);
  t.notOk(lbSchema.safeParse({ policy: 'weighted' }).success);
});
