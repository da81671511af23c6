import t from 'tap';
import { ManualClock } from '../../../../src/core/clock.ts';
import { Verdict } from '../../../../src/core/filter.ts';
import { RateLimitFilter } from '../../../../src/resilience/ratelimit/filter.ts';
import type { RedisBuckets } from '../../../../src/resilience/ratelimit/redis-store.ts';
import { isAsyncFilter } from '../../../../src/resilience/async-filter.ts';
import { ctx } from '../../balancer/fixtures.ts';

t.test('global limit: exact count over 1000 requests, 429 with the headers', async (t) => {
  const clock = new ManualClock(0);
  const f = new RateLimitFilter({ scope: 'api', rules: [{ name: 'global', perSource: false, ratePerSecond: 100, burst: 50 }], clock });
  let passed = 0;
  let last;
  for (let i = 0; i < 1000; i++) {
    const c = ctx();
    if (f.onRequest(c) === Verdict.Continue) passed++; else last = c;
  }
  t.equal(passed, 50, 'exactly the burst at one instant');
  t.equal(f.stats.allowed, 50);
  t.equal(f.stats.limited, 950);
  t.equal(last!.error!.reason, 'rate_limited');
  t.equal(last!.error!.status, 429);
  t.same(last!.error!.headers, { 'retry-after': '1', 'ratelimit-policy': '"global";q=50;w=1', ratelimit: '"global";r=0;t=1' });
  t.equal(f.onRequestAsync(ctx()), null, 'memory store: nothing to await');
  clock.advance(1000);
  passed = 0;
  for (let i = 0; i < 1000; i++) if (f.onRequest(ctx()) === Verdict.Continue) passed++;
  t.equal(passed, 50, '100/s refills, capped at the burst');
});

t.test('per source: one caller cannot starve another; a refusal spends no global token', async (t) => {
  const clock = new ManualClock(0);
  const f = new RateLimitFilter({
    scope: 'svc', clock,
    rules: [{ name: 'global', perSource: false, ratePerSecond: 1, burst: 10 }, { name: 'per_source', perSource: true, ratePerSecond: 1, burst: 3 }],
  });
  const alice = () => ctx({ peerIdentity: 'spiffe://mesh/ns/default/sa/alice' });
  const bob = () => ctx({ remoteAddress: '10.0.0.9' });
  const run = (mk: () => ReturnType<typeof ctx>, n: number) => { let ok = 0; for (let i = 0; i < n; i++) if (f.onRequest(mk()) === Verdict.Continue) ok++; return ok; };
  t.equal(run(alice, 100), 3, 'alice gets her burst');
  t.equal(run(bob, 100), 3, 'bob still gets his');
  t.equal(f.stats.limitedBy.per_source, 194);
  t.equal(f.stats.limitedBy.global, 0);
  t.equal(run(() => ctx({ remoteAddress: '10.0.0.10' }), 3), 3);
  t.equal(run(() => ctx({ remoteAddress: '10.0.0.11' }), 3), 1, 'global burst of 10 = 3 + 3 + 3 + 1: refused requests spent nothing');
  t.equal(f.stats.limitedBy.global, 2);
});

t.test('Redis store: decisions come from the async hook; on_error policies', async (t) => {
  const clock = new ManualClock(0);
  const calls: string[] = [];
  let fail = false;
  const remote = (waits: number[]) => ({
    take: async (key: string) => { calls.push(key); if (fail) throw new Error('ECONNREFUSED'); return waits.shift() ?? 0; },
  }) as unknown as RedisBuckets;
  const mk = (onRedisError: 'local' | 'allow' | 'deny', waits: number[]) => new RateLimitFilter({
    scope: 'api', clock, onRedisError,
    rules: [{ name: 'global', perSource: false, ratePerSecond: 1, burst: 1 }],
    redis: () => remote(waits),
  });
  const f = mk('local', [0, 700]);
  t.ok(isAsyncFilter(f));
  const c = ctx();
  t.equal(f.onRequest(c), Verdict.Continue, 'the sync pass defers to Redis');
  t.equal(await f.onRequestAsync(c), Verdict.Continue);
  const c2 = ctx();
  t.equal(await f.onRequestAsync(c2), Verdict.Reply);
  t.equal(c2.error!.headers!['retry-after'], '1');
  t.same(calls, ['', '']);
  fail = true;
  t.equal(await f.onRequestAsync(ctx()), Verdict.Continue, 'local fallback: first token');
  t.equal(await f.onRequestAsync(ctx()), Verdict.Reply, 'local fallback: bucket of 1');
  t.equal(f.stats.redisErrors, 2);
  t.equal(await mk('allow', []).onRequestAsync(ctx()), Verdict.Continue);
  t.equal(await mk('deny', []).onRequestAsync(ctx()), Verdict.Reply);
});
