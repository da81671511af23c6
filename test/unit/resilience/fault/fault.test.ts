import t from 'tap';
import { Verdict } from '../../../../src/core/filter.ts';
import { ABORT_RESET, FaultAbortError, FaultInjector, NO_ABORT } from '../../../../src/resilience/fault/injector.ts';
import { FaultFilter } from '../../../../src/resilience/fault/filter.ts';
import { seededRng } from '../../../../src/balancer/rng.ts';
import { ctx } from '../../balancer/fixtures.ts';

t.test('percentages hold over many draws; decisions are numbers', async (t) => {
  const f = new FaultInjector({ abort: { status: 500, reset: false, percentage: 25 }, delay: { fixed: 100, percentage: 10 } }, seededRng(42));
  let aborts = 0; let delays = 0;
  for (let i = 0; i < 10_000; i++) {
    const a = f.abortCode();
    if (a !== NO_ABORT) { t.equal(a, 500); aborts++; }
    const d = f.delayMs();
    if (d !== 0) { t.equal(d, 100); delays++; }
  }
  t.ok(Math.abs(aborts / 10_000 - 0.25) < 0.02, `aborts ${aborts}`);
  t.ok(Math.abs(delays / 10_000 - 0.1) < 0.02, `delays ${delays}`);
  t.same(f.stats, { delays, aborts, resets: 0 });
  const always = new FaultInjector({ abort: { reset: true, percentage: 100 } }, () => 0.999);
  t.equal(always.abortCode(), ABORT_RESET);
  t.equal(always.stats.resets, 1);
  t.equal(always.delayMs(), 0, 'no delay configured');
  const never = new FaultInjector({ abort: { status: 503, reset: false, percentage: 0 }, delay: { fixed: 5, percentage: 0 } }, () => 0);
  t.equal(never.abortCode(), NO_ABORT);
  t.equal(never.delayMs(), 0);
});

t.test('validation', async (t) => {
  t.throws(() => new FaultInjector({ abort: { reset: false, percentage: 5 } }), RangeError);
  t.throws(() => new FaultInjector({ abort: { status: 500, reset: true, percentage: 5 } }), RangeError);
  t.throws(() => new FaultInjector({ abort: { status: 700, reset: false, percentage: 5 } }), RangeError);
  t.throws(() => new FaultInjector({ abort: { status: 500, reset: false, percentage: 101 } }), RangeError);
  t.throws(() => new FaultInjector({ delay: { fixed: -1, percentage: 5 } }), RangeError);
  t.throws(() => new FaultInjector({ delay: { fixed: 1, percentage: -5 } }), RangeError);
});

t.test('FaultAbortError carries the configured status and the reset flag', async (t) => {
  const e = new FaultAbortError(418, false);
  t.equal(e.reason, 'fault_abort');
  t.equal(e.status, 418);
  t.notOk(e.reset);
  const r = new FaultAbortError(503, true);
  t.ok(r.reset);
  t.match(r.detail, /reset/);
});

t.test('the request-level filter: abort in the sync pass, delay through the async hook', async (t) => {
  const filter = new FaultFilter();
  const none = ctx({ route: { fault: undefined } });
  t.equal(filter.onRequest(none), Verdict.Continue);
  t.equal(filter.onRequestAsync(none), null);
  t.equal(filter.onRequest(ctx()), Verdict.Continue, 'no route policy at all');

  const abort = ctx({ route: { fault: new FaultInjector({ abort: { status: 429, reset: false, percentage: 100 } }) } });
  t.equal(filter.onRequest(abort), Verdict.Reply);
  t.ok(abort.error instanceof FaultAbortError);
  t.equal(abort.error!.status, 429);

  const delayed = ctx({ route: { fault: new FaultInjector({ delay: { fixed: 30, percentage: 100 } }) } });
  t.equal(filter.onRequest(delayed), Verdict.Continue);
  const started = performance.now();
  const p = filter.onRequestAsync(delayed);
  t.ok(p instanceof Promise);
  t.equal(await p, Verdict.Continue);
  t.ok(performance.now() - started >= 25, 'held for the delay');
});
