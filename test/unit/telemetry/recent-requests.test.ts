/**
 * The recent-requests ring: attempts recorded per request id through the
 * observer + filter pair, bounded by capacity and maxAttempts, with reused
 * contexts (HTTP/1 keep-alive) starting clean for each request.
 */
import t from 'tap';
import { ManualClock } from '../../../src/core/clock.ts';
import { RecentRequests } from '../../../src/telemetry/recent-requests.ts';
import { ctx, makeSet } from '../balancer/fixtures.ts';

const set = makeSet(3, new ManualClock(1000));
const [a, b, c] = set.list as [typeof set.list[0], typeof set.list[0], typeof set.list[0]];

t.test('attempts, endpoints, reasons and the final outcome of a request', async (t) => {
  const r = new RecentRequests();
  const x = ctx({ requestId: 'r1', startedAt: performance.now(), target: '/v1/x?secret=1', listener: 'outbound:api', spanId: '00f067aa0ba902b7' });
  x.route = { name: 'v1' };
  r.onAttemptEnd(a, x, { ok: false, status: 0, reason: 'upstream_connect_failed', latencyMs: 0.4 });
  r.onAttemptEnd(b, x, { ok: false, status: 503, reason: undefined, latencyMs: 2 });
  r.noteRetryDecision(x, 'budget_exhausted');
  x.status = 503; x.attempts = 2;
  r.onDone(x);
  const rec = r.get('r1')!;
  t.equal(rec.path, '/v1/x', 'the query string is not kept');
  t.equal(rec.route, 'v1');
  t.equal(rec.spanId, '00f067aa0ba902b7');
  t.equal(rec.attemptsMade, 2);
  t.same(rec.attempts.map((p) => [p.endpoint, p.status, p.reason]), [[a.key, 0, 'upstream_connect_failed'], [b.key, 503, undefined]]);
  t.equal(rec.retryDecision, 'budget_exhausted');
  t.equal(rec.status, 503);
});

t.test('a reused context starts clean; local replies have no attempts; no id, no record', async (t) => {
  const r = new RecentRequests();
  const x = ctx({ requestId: 'one', startedAt: 1 });
  r.onAttemptEnd(a, x, { ok: true, status: 200, reason: undefined, latencyMs: 1 });
  r.onDone(x);
  Object.assign(x, { requestId: 'two', startedAt: 2, reason: 'rate_limited', status: 429 });
  r.onDone(x); // refused by a filter before any attempt
  t.equal(r.get('one')!.attempts.length, 1);
  t.equal(r.get('two')!.attempts.length, 0, 'the previous request\'s attempt is not carried over');
  t.equal(r.get('two')!.reason, 'rate_limited');
  const anon = ctx({ requestId: '', startedAt: 3 });
  r.onAttemptEnd(a, anon, { ok: true, status: 200, reason: undefined, latencyMs: 1 });
  r.onDone(anon);
  t.equal(r.size, 2, 'requests without an id are not recorded');
});

t.test('bounded: capacity records, maxAttempts attempts each', async (t) => {
  t.throws(() => new RecentRequests({ capacity: 0 }), RangeError);
  const r = new RecentRequests({ capacity: 3, maxAttempts: 2 });
  for (let i = 0; i < 5; i++) {
    const x = ctx({ requestId: `id${i}`, startedAt: 10 + i });
    for (const ep of [a, b, c]) r.onAttemptEnd(ep, x, { ok: false, status: 502, reason: 'upstream_reset', latencyMs: 1 });
    r.onDone(x);
  }
  t.equal(r.size, 3);
  t.equal(r.get('id0'), undefined, 'the oldest were overwritten');
  t.equal(r.get('id1'), undefined);
  t.same(r.recent(3).map((x) => x.requestId), ['id4', 'id3', 'id2'], 'newest first');
  const last = r.get('id4')!;
  t.equal(last.attempts.length, 2, 'only maxAttempts attempts are kept');
  t.equal(last.attemptsMade, 3, 'but all are counted');
  // A duplicate id points at the newest record; overwriting an older slot does not unindex it.
  const dup = ctx({ requestId: 'id4', startedAt: 99, status: 200 });
  r.onDone(dup);
  t.equal(r.get('id4')!.status, 200);
});
