import t from 'tap';
import { ManualClock } from '../../../../src/core/clock.ts';
import { RetryBudget } from '../../../../src/resilience/retry/budget.ts';

const linkerd = { ratio: 0.2, minPerSecond: 10, windowMs: 10_000 };

t.test('the reserve alone allows min_per_second × window retries', async (t) => {
  const clock = new ManualClock(0);
  const b = new RetryBudget(linkerd, clock);
  t.equal(b.balance(), 100);
  let n = 0;
  while (b.tryWithdraw()) n++;
  t.equal(n, 100);
  t.equal(b.stats.exhausted, 1);
  t.equal(b.balance(), 0);
});

t.test('each request adds ratio of a retry', async (t) => {
  const clock = new ManualClock(0);
  const b = new RetryBudget({ ratio: 0.2, minPerSecond: 0, windowMs: 10_000 }, clock);
  for (let i = 0; i < 4; i++) b.deposit();
  t.notOk(b.tryWithdraw(), '4 requests × 20% < 1 retry');
  b.deposit();
  t.ok(b.tryWithdraw(), '5 requests × 20% = 1 retry');
  t.notOk(b.tryWithdraw());
  for (let i = 0; i < 1000; i++) b.deposit();
  let n = 0;
  while (b.tryWithdraw()) n++;
  t.equal(n, 200);
  t.same(b.stats, { deposits: 1005, withdrawals: 201, exhausted: 3 });
});

t.test('deposits and withdrawals expire after the window', async (t) => {
  const clock = new ManualClock(0);
  const b = new RetryBudget({ ratio: 0.5, minPerSecond: 0, windowMs: 10_000 }, clock);
  for (let i = 0; i < 10; i++) b.deposit();
  t.equal(b.balance(), 5);
  clock.advance(9_000);
  t.equal(b.balance(), 5, 'still inside the window');
  clock.advance(1_000);
  t.equal(b.balance(), 0, 'expired after 10 s');
  for (let i = 0; i < 10; i++) b.deposit();
  for (let i = 0; i < 5; i++) t.ok(b.tryWithdraw());
  t.notOk(b.tryWithdraw());
  clock.advance(10_000);
  for (let i = 0; i < 2; i++) b.deposit();
  t.ok(b.tryWithdraw(), 'old withdrawals expired with their deposits');
  clock.advance(1e9);
  t.equal(b.balance(), 0, 'a long idle clears every slot');
});

t.test('ratio 0: only the reserve', async (t) => {
  const clock = new ManualClock(0);
  const b = new RetryBudget({ ratio: 0, minPerSecond: 1, windowMs: 5_000 }, clock);
  for (let i = 0; i < 100; i++) b.deposit();
  let n = 0;
  while (b.tryWithdraw()) n++;
  t.equal(n, 5);
  t.throws(() => new RetryBudget({ ratio: -1, minPerSecond: 0, windowMs: 10_000 }), RangeError);
  t.throws(() => new RetryBudget({ ratio: 0.2, minPerSecond: 0, windowMs: 10 }), RangeError);
  t.throws(() => new RetryBudget({ ratio: 0.2, minPerSecond: -1, windowMs: 10_000 }), RangeError);
});

t.test('total outage: upstream sees at most 1.2 × requests + budget, not 3×', async (t) => {
  // 60 s of 100 req/s against an upstream that fails everything; each request
  // may make 3 attempts. Count attempts that reach the upstream.
  const clock = new ManualClock(0);
  const b = new RetryBudget(linkerd, clock);
  const attemptsAllowed = 3;
  let requests = 0;
  let attempts = 0;
  const perWindow: number[] = [];
  let windowAttempts = 0;
  for (let ms = 0; ms < 60_000; ms += 10) {
    clock.set(ms);
    requests++;
    b.deposit();
    attempts++;
    windowAttempts++;
    for (let a = 1; a < attemptsAllowed; a++) {
      if (!b.tryWithdraw()) break;
      attempts++;
      windowAttempts++;
    }
    if ((ms + 10) % 10_000 === 0) { perWindow.push(windowAttempts); windowAttempts = 0; }
  }
  const reserve = 10 * 10; // min_per_second × window
  const windows = 60_000 / 10_000;
  t.ok(attempts <= 1.2 * requests + reserve * windows, `attempts ${attempts} for ${requests} requests`);
  t.ok(attempts <= 1.3 * requests, 'far from 3×');
  // Over any full window: ≤ 1.2 × that window's requests + the reserve.
  for (const w of perWindow) t.ok(w <= 1.2 * 1000 + reserve, `window attempts ${w}`);
});
