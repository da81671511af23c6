import t from 'tap';
import fc from 'fast-check';
import { Backoff, parseRetryAfter } from '../../../../src/resilience/retry/backoff.ts';
import { seededRng } from '../../../../src/balancer/rng.ts';

const cfg = { baseMs: 25, maxMs: 250, retryAfterMaxMs: 10_000 };

t.test('exponential ceiling, capped', async (t) => {
  const b = new Backoff(cfg, () => 0.5);
  t.same([1, 2, 3, 4, 5, 6].map((n) => b.ceiling(n)), [25, 50, 100, 200, 250, 250]);
  t.equal(b.ceiling(0), 25);
  t.equal(b.ceiling(1000), 250);
  t.equal(b.delay(3), 50, 'full jitter: rng × ceiling');
  t.equal(new Backoff(cfg, () => 0).delay(4), 0);
});

t.test('property: 0 ≤ delay < min(max, base·2^(n−1))', async () => {
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 1, max: 200 }), fc.integer(),
    (base, extra, retry, seed) => {
      const b = new Backoff({ baseMs: base, maxMs: base + extra, retryAfterMaxMs: 0 }, seededRng(seed));
      const d = b.delay(retry);
      const cap = Math.min(base + extra, base * 2 ** (retry - 1));
      return d >= 0 && (cap === 0 ? d === 0 : d < cap);
    },
  ), { numRuns: 500 });
});

t.test('jitter spreads delays over the whole range', async (t) => {
  const b = new Backoff(cfg, seededRng(3));
  const ds = Array.from({ length: 2000 }, () => b.delay(3));
  t.ok(Math.min(...ds) < 5 && Math.max(...ds) > 95, 'covers [0, 100)');
  const mean = ds.reduce((a, x) => a + x, 0) / ds.length;
  t.ok(Math.abs(mean - 50) < 5, `mean ${mean}`);
});

t.test('Retry-After: seconds and HTTP-dates, capped, junk ignored', async (t) => {
  const now = Date.parse('Sun, 06 Nov 1994 08:49:37 GMT');
  t.equal(parseRetryAfter('120', now), 120_000);
  t.equal(parseRetryAfter(' 0 ', now), 0);
  t.equal(parseRetryAfter('Sun, 06 Nov 1994 08:49:47 GMT', now), 10_000, 'IMF-fixdate');
  t.equal(parseRetryAfter('Sunday, 06-Nov-94 08:49:47 GMT', now), 10_000, 'RFC 850');
  t.equal(parseRetryAfter('Sun Nov  6 08:49:47 1994', now + new Date(now).getTimezoneOffset() * 60_000), 10_000, 'asctime (local time in Date.parse)');
  t.equal(parseRetryAfter('Sun, 06 Nov 1994 08:49:00 GMT', now), 0, 'a past date is 0');
  for (const junk of ['', '5s', '-1', '1.5', 'soon', 'Mon, 99 Foo 1994', '99999999999999999999']) t.equal(parseRetryAfter(junk, now), -1, JSON.stringify(junk));
  const b = new Backoff(cfg, () => 0.5, () => now);
  t.equal(b.delayFor(1, '3'), 3000, 'the server’s wish wins over the jitter');
  t.equal(b.delayFor(1, '3600'), 10_000, 'capped at retry_after_max');
  t.equal(b.delayFor(1, 'Sun, 06 Nov 1994 08:49:39 GMT'), 2000);
  t.equal(b.delayFor(2, 'garbage'), 25, 'invalid → normal backoff');
  t.equal(b.delayFor(2, undefined), 25);
  t.throws(() => new Backoff({ baseMs: 10, maxMs: 5, retryAfterMaxMs: 0 }), RangeError);
});
