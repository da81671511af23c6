import t from 'tap';
import fc from 'fast-check';
import { ManualClock } from '../../../src/core/clock.ts';
import { RingHash, cookieHash } from '../../../src/balancer/ring-hash.ts';
import { murmur3 } from '../../../src/balancer/murmur3.ts';
import { seededRng } from '../../../src/balancer/rng.ts';
import type { EndpointSpec } from '../../../src/discovery/types.ts';
import { ctx, makeSet, spec } from './fixtures.ts';

const byHeader = (v: string) => ctx({ headers: ['x-user', v] });
const keys = Array.from({ length: 5000 }, (_, i) => `user-${i}`);

t.test('murmur3: deterministic, slices hash like substrings, spreads', async (t) => {
  t.equal(murmur3('hello'), murmur3('hello'));
  t.not(murmur3('hello'), murmur3('hellp'));
  t.equal(murmur3('xxhelloyy', 2, 7), murmur3('hello'));
  t.equal(murmur3('abc', 0, 3, 1) === murmur3('abc'), false, 'seed matters');
  const buckets = new Array(16).fill(0);
  for (let i = 0; i < 16000; i++) buckets[murmur3(`k${i}`) >>> 28]++;
  for (const b of buckets) t.ok(b > 800 && b < 1200, `bucket ${b}`);
});

t.test('the same key stays on the same endpoint while the set is stable', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet(5, clock);
  const rh = new RingHash(set, { hashOn: { kind: 'header', name: 'X-User' }, clock });
  const first = keys.map((k) => rh.pick(byHeader(k), undefined)!.key);
  const again = keys.map((k) => rh.pick(byHeader(k), undefined)!.key);
  t.same(again, first);
  t.equal(rh.builds, 1, 'ring built once, not per pick');
  set.apply(set.list.map((e) => e.spec)); // same endpoints, new version
  t.same(keys.map((k) => rh.pick(byHeader(k), undefined)!.key), first, 'a rebuild with the same endpoints changes nothing');
  t.equal(rh.builds, 2);
  // All five endpoints get a fair share.
  const counts = new Map<string, number>();
  for (const k of first) counts.set(k, (counts.get(k) ?? 0) + 1);
  t.equal(counts.size, 5);
  for (const v of counts.values()) t.ok(v > 700 && v < 1300, `share ${v}/5000`);
  t.equal(rh.ringSize, 5 * 160);
});

t.test('removing one of N endpoints moves about 1/N of the keys, and only its own', async (t) => {
  const clock = new ManualClock(1000);
  const specs = Array.from({ length: 10 }, (_, i) => spec(9000 + i));
  const set = makeSet(specs, clock);
  const rh = new RingHash(set, { hashOn: { kind: 'header', name: 'x-user' }, clock });
  const before = keys.map((k) => rh.pick(byHeader(k), undefined)!.key);
  const removed = set.list[3]!.key;
  set.apply(specs.filter((_, i) => i !== 3));
  const after = keys.map((k) => rh.pick(byHeader(k), undefined)!.key);
  let moved = 0;
  for (let i = 0; i < keys.length; i++) {
    if (before[i] !== after[i]) {
      moved++;
      if (before[i] !== removed) t.fail(`${keys[i]} moved from a surviving endpoint`);
    }
  }
  t.ok(moved / keys.length > 0.05 && moved / keys.length < 0.15, `moved ${(100 * moved / keys.length).toFixed(1)}% (≈ 10%)`);
  // Adding it back restores the original mapping.
  set.apply(specs);
  t.same(keys.map((k) => rh.pick(byHeader(k), undefined)!.key), before);
});

t.test('property: only keys owned by a removed endpoint move', async () => {
  fc.assert(fc.property(
    fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: 2, maxLength: 12 }),
    fc.array(fc.string({ maxLength: 20 }), { minLength: 1, maxLength: 50 }),
    fc.nat(),
    (ports, ks, which) => {
      const clock = new ManualClock(1000);
      const specs: EndpointSpec[] = ports.map((p) => spec(p, 1 + (p % 3)));
      const set = makeSet(specs, clock);
      const rh = new RingHash(set, { hashOn: { kind: 'header', name: 'x-user' }, vnodes: 20, clock });
      const before = ks.map((k) => rh.pick(byHeader(k), undefined)!.key);
      const drop = which % specs.length;
      const gone = set.list[drop]!.key;
      set.apply(specs.filter((_, i) => i !== drop));
      const after = ks.map((k) => rh.pick(byHeader(k), undefined)!.key);
      return ks.every((_, i) => before[i] === gone || before[i] === after[i]);
    },
  ), { numRuns: 200 });
});

t.test('hash on cookie, source address; missing key → random', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet(8, clock);
  const rc = new RingHash(set, { hashOn: { kind: 'cookie', name: 'sid' }, clock, rng: seededRng(1) });
  const a = rc.pick(ctx({ headers: ['cookie', 'a=1; sid=abc; z=2'] }), undefined);
  const b = rc.pick(ctx({ headers: ['cookie', 'sid=abc'] }), undefined);
  const c2 = rc.pick(ctx({ headers: ['cookie', 'x=1', 'cookie', 'sid=abc;y=2'] }), undefined);
  t.equal(a, b);
  t.equal(b, c2, 'split cookie headers (h2)');
  t.equal(cookieHash(['cookie', 'sid=abc'], 'sid'), murmur3('abc'));
  t.equal(cookieHash(['cookie', 'xsid=abc; sid=q'], 'sid'), murmur3('q'), 'a name inside another name does not match');
  t.equal(cookieHash(['cookie', 'sidx=abc'], 'sid'), -1);
  t.equal(cookieHash(['cookie', 'sid='], 'sid'), murmur3(''));
  t.equal(cookieHash(['x', 'sid=1'], 'sid'), -1);
  const rs = new RingHash(set, { hashOn: { kind: 'source_ip' }, clock });
  const s1 = rs.pick(ctx({ remoteAddress: '10.1.2.3' }), undefined);
  for (let i = 0; i < 10; i++) t.equal(rs.pick(ctx({ remoteAddress: '10.1.2.3' }), undefined), s1);
  const noKey = new Set(Array.from({ length: 200 }, () => rc.pick(ctx(), undefined)!.key));
  t.ok(noKey.size > 4, 'requests without the cookie spread randomly');
  t.equal(rs.pick(ctx({ remoteAddress: '' }), undefined) !== undefined, true);
});

t.test('unavailable owner or a retry walks clockwise to the next usable endpoint', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet(4, clock);
  const rh = new RingHash(set, { hashOn: { kind: 'header', name: 'x-user' }, clock });
  for (const k of keys.slice(0, 200)) {
    const owner = rh.pick(byHeader(k), undefined)!;
    const retry = rh.pick(byHeader(k), owner)!;
    t.not(retry, owner);
    t.equal(rh.pick(byHeader(k), owner), retry, 'deterministic retry target');
    owner.ejectedUntil = 2000;
    t.equal(rh.pick(byHeader(k), undefined), retry, 'ejected owner → same next endpoint');
    owner.ejectedUntil = 0;
  }
  for (const ep of set.list) ep.breakerOpen = true;
  t.equal(rh.pick(byHeader('x'), undefined), undefined);
  set.list[1]!.breakerOpen = false;
  t.equal(rh.pick(byHeader('x'), set.list[1]), set.list[1], 'the excluded one when it is the only usable');
  t.equal(new RingHash(makeSet(0, clock), { hashOn: { kind: 'source_ip' } }).pick(ctx(), undefined), undefined);
});

t.test('weights scale points; max ring size caps them', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet([spec(1, 1), spec(2, 3)], clock);
  const rh = new RingHash(set, { hashOn: { kind: 'header', name: 'x-user' }, vnodes: 100, clock });
  rh.pickByHash(0, undefined);
  t.equal(rh.ringSize, 400);
  const n = new Map<number, number>();
  for (const k of keys) { const p = rh.pick(byHeader(k), undefined)!.spec.port; n.set(p, (n.get(p) ?? 0) + 1); }
  t.ok(n.get(2)! / keys.length > 0.65 && n.get(2)! / keys.length < 0.85, `weight 3 share ${n.get(2)}`);
  const capped = new RingHash(set, { hashOn: { kind: 'source_ip' }, vnodes: 100, maxRingSize: 40, clock });
  capped.pickByHash(0, undefined);
  t.equal(capped.ringSize, 40);
  t.throws(() => new RingHash(set, { hashOn: { kind: 'source_ip' }, vnodes: 0 }), RangeError);
});
