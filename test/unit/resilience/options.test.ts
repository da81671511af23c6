import t from 'tap';
import { resilienceDefaults, resilienceSchema } from '../../../src/resilience/options.ts';

t.test('safe defaults', async (t) => {
  const d = resilienceDefaults;
  t.equal(d.lb.policy, 'least_request');
  t.equal(d.lb.panic_threshold, 50);
  t.equal(d.retries.attempts, 3);
  t.same(d.retries.on, ['connect-failure', 'reset', 'gateway-error']);
  t.same(d.retries.grpc_codes, [14]);
  t.same(d.retries.budget, { enabled: true, ratio: 0.2, min_per_second: 10, window: 10_000 });
  t.equal(d.retries.max_replay_body, 65536);
  t.same(d.retries.backoff, { base: 25, max: 250, retry_after_max: 10_000 });
  t.same(d.timeouts, { connect: 5000, request: 15_000, idle: 300_000 });
  t.same(d.limits, { max_connections: 1024, max_pending: 1024, max_requests: 1024, max_retries: 1024 });
  t.equal(d.breaker.enabled, true);
  t.equal(d.outlier.consecutive_5xx, 5);
  t.equal(d.outlier.max_ejection_percent, 10);
  t.equal(d.rate_limit.global, undefined, 'rate limits off by default');
  t.same(d.routes, []);
});

t.test('durations as strings or ms; grpc codes by name or number', async (t) => {
  const o = resilienceSchema.parse({
    timeouts: { connect: '250ms', request: '1m', idle: 0 },
    retries: { per_try_timeout: '1.5s', grpc_codes: ['unavailable', 'resource_exhausted', 4], budget: { window: '5s' } },
    breaker: { window: '20s', reset_timeout: 5000 },
    rate_limit: { global: { requests_per_second: 2.5 }, per_source: { requests_per_second: 10, burst: 50 } },
    routes: [{ prefix: '/api', methods: ['get', 'Post'], headers: [{ name: 'X-Canary', exact: '1' }], timeouts: { request: '2s' }, retries: { attempts: 1 }, fault: { abort: { status: 500, percentage: 10 }, delay: { fixed: '100ms' } } }],
  });
  t.same(o.timeouts, { connect: 250, request: 60_000, idle: 0 });
  t.equal(o.retries.per_try_timeout, 1500);
  t.same(o.retries.grpc_codes, [14, 8, 4]);
  t.equal(o.retries.budget.window, 5000);
  t.same(o.rate_limit.global, { requests_per_second: 2.5, burst: 3 }, 'burst defaults to one second’s worth');
  t.same(o.rate_limit.per_source, { requests_per_second: 10, burst: 50 });
  const r = o.routes[0]!;
  t.same(r.methods, ['GET', 'POST']);
  t.equal(r.headers[0]!.name, 'x-canary');
  t.same(r.timeouts, { request: 2000 });
  t.same(r.fault, { abort: { status: 500, reset: false, percentage: 10 }, delay: { fixed: 100, percentage: 100 } });
});

t.test('errors name the key path', async (t) => {
  const bad = [
    [{ timeouts: { connect: '5 seconds' } }, 'timeouts.connect'],
    [{ retries: { attempts: 0 } }, 'retries.attempts'],
    [{ retries: { on: ['5xx', 'sometimes'] } }, 'retries.on.1'],
    [{ retries: { backoff: { base: '1s', max: '10ms' } } }, 'retries.backoff.max'],
    [{ retries: { budget: { window: '2m' } } }, 'retries.budget.window'],
    [{ breaker: { window: '10s', buckets: 3 } }, 'breaker.buckets'],
    [{ routes: [{ prefix: 'api' }] }, 'routes.0.prefix'],
    [{ routes: [{ headers: [{ name: 'x', exact: 'a', prefix: 'b' }] }] }, 'routes.0.headers.0'],
    [{ routes: [{ headers: [{ name: 'x', regex: '(' }] }] }, 'routes.0.headers.0.regex'],
    [{ routes: [{ fault: { abort: { percentage: 5 } } }] }, 'routes.0.fault.abort'],
    [{ unknown_key: 1 }, ''],
    [{ rate_limit: { global: { requests_per_second: 0 } } }, 'rate_limit.global.requests_per_second'],
  ] as const;
  for (const [input, path] of bad) {
    const r = resilienceSchema.safeParse(input);
    t.notOk(r.success, JSON.stringify(input));
    t.ok(r.error?.issues.some((i) => i.path.join('.') === path), `${path}: ${JSON.stringify(r.error?.issues.map((i) => i.path.join('.')))}`);
  }
});
