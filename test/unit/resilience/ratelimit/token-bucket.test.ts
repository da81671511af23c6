import t from 'tap';
import fc from 'fast-check';
import { ManualClock } from '../../../../src/core/clock.ts';
import { TokenBuckets } from '../../../../src/resilience/ratelimit/token-bucket.ts';
import { policyField, rateLimitField, rejectHeaders, retryAfterSeconds } from '../../../../src/resilience/ratelimit/headers.ts';

t.test('burst at once, then the sustained rate', async (t) => {
  const clock = new ManualClock(0);
  const b = new TokenBuckets({ ratePerSecond: 10, burst: 5 }, clock);
  for (let i = 0; i < 5; i++) t.equal(b.take('k'), 0, `burst #${i + 1}`);
  t.equal(b.lastRemaining, 0);
  t.equal(b.take('k'), 100, 'the 6th waits one interval (100 ms)');
  t.equal(b.wait('k'), 100);
  clock.advance(99);
  t.equal(b.take('k'), 1);
  clock.advance(1);
  t.equal(b.take('k'), 0, 'one token per 100 ms');
  t.equal(b.take('k'), 100);
  clock.advance(10_000);
  t.equal(b.remaining('k'), 5, 'refilled, never above the burst');
  t.equal(b.resetMs('k'), 0);
  t.equal(b.take('k'), 0);
  t.equal(b.lastRemaining, 4);
  t.equal(b.resetMs('k'), 100);
  t.equal(b.remaining('other'), 5, 'keys are independent');
  // The '' (global) key behaves the same, kept in a field.
  for (let i = 0; i < 5; i++) t.equal(b.take(''), 0);
  t.equal(b.take(''), 100);
  t.equal(b.wait(''), 100);
  t.equal(b.remaining(''), 0);
  t.equal(b.resetMs(''), 500);
  t.equal(b.size, 1, 'the global key is not in the map');
});

t.test('property: over any run, allowed ≤ burst + rate × elapsed, and exactly that when saturated', async () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 1000 }), fc.array(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 300 }),
    (burst, rate, gaps) => {
      const clock = new ManualClock(0);
      const b = new TokenBuckets({ ratePerSecond: rate, burst }, clock);
      let allowed = 0;
      for (const g of gaps) { clock.advance(g); if (b.take('k') === 0) allowed++; }
      return allowed <= burst + Math.floor((rate * clock.now()) / 1000) + 1e-9;
    },
  ), { numRuns: 300 });
  // Saturated: 1000 requests at one instant → exactly the burst.
  const clock = new ManualClock(0);
  const b = new TokenBuckets({ ratePerSecond: 3, burst: 7 }, clock);
  let n = 0;
  for (let i = 0; i < 1000; i++) if (b.take('k') === 0) n++;
  if (n !== 7) throw new Error(`expected 7, got ${n}`);
});

t.test('exact at fractional rates: 3/s refills exactly 3 per second (float sums of 333.3… ms)', async (t) => {
  const clock = new ManualClock(0);
  const b = new TokenBuckets({ ratePerSecond: 3, burst: 3 }, clock);
  for (let s = 0; s <= 600; s++) {
    clock.set(s * 1000);
    let n = 0;
    for (let i = 0; i < 5; i++) if (b.take('k') === 0) n++;
    if (n !== 3) { t.fail(`second ${s}: ${n} allowed`); return; }
  }
  const b7 = new TokenBuckets({ ratePerSecond: 7, burst: 1 }, clock);
  clock.set(0);
  let n = 0;
  for (let k = 0; k <= 7000; k++) { clock.set(k * (1000 / 7)); if (b7.take('k') === 0) n++; }
  t.equal(n, 7001, 'a request exactly on every emission time is allowed');
  t.pass('3 per second for 600 s');
});

t.test('the key map stays bounded', async (t) => {
  const clock = new ManualClock(0);
  const b = new TokenBuckets({ ratePerSecond: 1, burst: 2 }, clock, 100);
  for (let i = 0; i < 1000; i++) b.take(`k${i}`);
  t.ok(b.size <= 100, `size ${b.size}`);
  clock.advance(5000);
  b.take('fresh');
  t.ok(b.size <= 100);
  t.throws(() => new TokenBuckets({ ratePerSecond: 0, burst: 1 }), RangeError);
  t.throws(() => new TokenBuckets({ ratePerSecond: 1, burst: 0.5 }), RangeError);
  t.throws(() => new TokenBuckets({ ratePerSecond: 1, burst: 1 }, clock, 0), RangeError);
});

t.test('IETF RateLimit headers', async (t) => {
  t.equal(policyField('global', 100, 50), '"global";q=100;w=2');
  t.equal(policyField('per_source', 5, 10), '"per_source";q=5;w=1');
  t.equal(rateLimitField('global', 42.7, 1500), '"global";r=42;t=2');
  t.equal(rateLimitField('global', -1, -5), '"global";r=0;t=0');
  t.equal(retryAfterSeconds(1), '1');
  t.equal(retryAfterSeconds(0), '1', 'never 0');
  t.equal(retryAfterSeconds(2001), '3');
  t.same(rejectHeaders('global', '"global";q=10;w=1', 250), { 'retry-after': '1', 'ratelimit-policy': '"global";q=10;w=1', ratelimit: '"global";r=0;t=1' });
});
