import t from 'tap';
import { ProxyError } from '../../../../src/core/errors.ts';
import { Verdict, runDoneFilters, runRequestFilters, type Filter } from '../../../../src/core/filter.ts';
import { ResourceLimits, limitKinds } from '../../../../src/resilience/limits/resource-limits.ts';
import { ConcurrencyLimitFilter } from '../../../../src/resilience/limits/filter.ts';
import { ctx } from '../../balancer/fixtures.ts';

const cfg = { max_connections: 3, max_pending: 4, max_requests: 5, max_retries: 2 };

t.test('every kind overflows at exactly max + 1', async (t) => {
  const l = new ResourceLimits('api', cfg);
  const max = { connections: 3, pending: 4, requests: 5, retries: 2 };
  for (const kind of limitKinds) {
    for (let i = 0; i < max[kind]; i++) t.ok(l.tryAcquire(kind), `${kind} #${i + 1}`);
    t.notOk(l.tryAcquire(kind), `${kind} #${max[kind] + 1} overflows`);
    t.equal(l.overflows(kind), 1);
    t.equal(l.active(kind), max[kind]);
    l.release(kind);
    t.ok(l.tryAcquire(kind), 'a released unit can be taken again');
    const e = l.overflowError(kind);
    t.ok(e instanceof ProxyError);
    t.equal(e.reason, `overflow_${kind}`);
    t.equal(e.status, 503);
    t.equal(l.overflowError(kind), e, 'preallocated');
    t.equal(l.max(kind), max[kind]);
  }
  for (let i = 0; i < 10; i++) l.release('retries');
  t.equal(l.active('retries'), 0, 'never negative');
  t.same(l.stats.requests, { active: 5, max: 5, overflows: 1 });
  t.throws(() => new ResourceLimits('x', { ...cfg, max_pending: 0 }), RangeError);
});

t.test('the concurrent-requests filter: overflow reply, release in onDone only when held', async (t) => {
  const l = new ResourceLimits('api', { ...cfg, max_requests: 2 });
  const f = new ConcurrencyLimitFilter(l);
  const a = ctx(); const b = ctx(); const c = ctx();
  t.equal(f.onRequest(a), Verdict.Continue);
  t.equal(f.onRequest(b), Verdict.Continue);
  t.equal(f.onRequest(c), Verdict.Reply);
  t.equal(c.error?.reason, 'overflow_requests');
  f.onDone(c);
  t.equal(l.active('requests'), 2, 'a refused request releases nothing');
  f.onDone(a);
  f.onDone(a);
  t.equal(l.active('requests'), 1, 'a double onDone releases once');
  // A request refused by an earlier filter never reached this one.
  const deny: Filter = { name: 'deny', onRequest: () => Verdict.Reply };
  const d = ctx();
  t.equal(runRequestFilters([deny, f], d), Verdict.Reply);
  runDoneFilters([deny, f], d);
  t.equal(l.active('requests'), 1);
  f.onDone(b);
  t.equal(l.active('requests'), 0);
});
