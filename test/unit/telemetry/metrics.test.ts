/**
 * The registry: hot-path stats exported with exact values and label sets,
 * resilience/identity/discovery read from real stats objects at scrape time,
 * /reset_counters semantics, and the catalogue matching the registry both ways.
 */
import t from 'tap';
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { ManualClock } from '../../../src/core/clock.ts';
import { createMetrics, resetCounters } from '../../../src/telemetry/metrics.ts';
import { metricsFilter } from '../../../src/telemetry/metrics-filter.ts';
import { isCatalogued, metricsCatalog } from '../../../src/telemetry/metrics-catalog.ts';
import { resilienceStats } from '../../../src/telemetry/metric-sources.ts';
import { detectMetrics } from '../../../src/listeners/detect.ts';
import { resilienceSchema } from '../../../src/resilience/options.ts';
import { buildUpstreamResilience } from '../../../src/resilience/upstream.ts';
import { ctx, makeSet } from '../balancer/fixtures.ts';

async function lines(m: ReturnType<typeof createMetrics>, prefix: string): Promise<string[]> {
  return (await m.registry.metrics()).split('\n').filter((l) => l.startsWith(prefix));
}

t.test('the metrics filter: exact request, response and latency series', async (t) => {
  const m = createMetrics({ processMetrics: false });
  const f = metricsFilter(m, 'outbound', 'api');
  const run = (status: number, reason: undefined | 'no_endpoints', ttfbMs: number): void => {
    const c = ctx({ startedAt: 100 });
    f.onRequest(c);
    c.status = status; c.reason = reason; c.responseStartedAt = 100 + ttfbMs;
    f.onDone!(c);
  };
  run(200, undefined, 3); run(200, undefined, 7); run(503, 'no_endpoints', 0.5); run(502, undefined, 20_000);
  const tcp = ctx({ protocol: 'tcp' }); f.onRequest(tcp); f.onDone!(tcp); // connections are not requests
  t.same(await lines(m, 'request_total'), ['request_total{direction="outbound",target="api"} 4']);
  t.same(await lines(m, 'response_total'), [
    'response_total{direction="outbound",target="api",classification="success",status_code="200",reason=""} 2',
    'response_total{direction="outbound",target="api",classification="failure",status_code="503",reason="no_endpoints"} 1',
    'response_total{direction="outbound",target="api",classification="failure",status_code="502",reason=""} 1',
  ]);
  const h = await lines(m, 'response_latency_ms');
  t.ok(h.includes('response_latency_ms_bucket{direction="outbound",target="api",le="1"} 1'), 'the 0.5 ms reply');
  t.ok(h.includes('response_latency_ms_bucket{direction="outbound",target="api",le="3"} 2'), 'le is inclusive');
  t.ok(h.includes('response_latency_ms_bucket{direction="outbound",target="api",le="10"} 3'));
  t.ok(h.includes('response_latency_ms_bucket{direction="outbound",target="api",le="10000"} 3'));
  t.ok(h.includes('response_latency_ms_bucket{direction="outbound",target="api",le="+Inf"} 4'));
  t.ok(h.includes('response_latency_ms_sum{direction="outbound",target="api"} 20010.5'));
  t.ok(h.includes('response_latency_ms_count{direction="outbound",target="api"} 4'));

  await resetCounters(m);
  t.same(await lines(m, 'request_total'), ['request_total{direction="outbound",target="api"} 0'], 'reset keeps the series at 0');
  t.ok((await lines(m, 'response_latency_ms_count')).includes('response_latency_ms_count{direction="outbound",target="api"} 0'));
  run(200, undefined, 1);
  t.same(await lines(m, 'request_total'), ['request_total{direction="outbound",target="api"} 1'], 'counts resume after a reset');
});

t.test('connections: opened, closed, open now, bytes both ways (folded in while live)', async (t) => {
  const m = createMetrics({ processMetrics: false });
  const stats = m.connections('inbound', 'api');
  const server = createServer((s) => { stats.track(s); s.on('data', (b) => s.write(Buffer.concat([b, b]))); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const c: Socket = connect((server.address() as { port: number }).port, '127.0.0.1');
  await once(c, 'connect');
  c.write('hello');
  let got = 0;
  c.on('data', (b: Buffer) => { got += b.length; });
  while (got < 10) await new Promise((r) => setTimeout(r, 5));
  t.same(await lines(m, 'tcp_'), [
    'tcp_open_total{direction="inbound",target="api"} 1',
    'tcp_close_total{direction="inbound",target="api"} 0',
    'tcp_open_connections{direction="inbound",target="api"} 1',
    'tcp_read_bytes_total{direction="inbound",target="api"} 5',
    'tcp_write_bytes_total{direction="inbound",target="api"} 10',
  ], 'a live connection\'s bytes show before it closes');
  c.end('abc');
  await once(c, 'close');
  while (stats.closed === 0) await new Promise((r) => setTimeout(r, 5));
  t.same(await lines(m, 'tcp_'), [
    'tcp_open_total{direction="inbound",target="api"} 1',
    'tcp_close_total{direction="inbound",target="api"} 1',
    'tcp_open_connections{direction="inbound",target="api"} 0',
    'tcp_read_bytes_total{direction="inbound",target="api"} 8',
    'tcp_write_bytes_total{direction="inbound",target="api"} 16',
  ], 'bytes are folded in once more at close');
});

t.test('resilience counters come from the real resilience objects, at scrape time', async (t) => {
  const clock = new ManualClock(1000);
  const set = makeSet(2, clock);
  const opts = resilienceSchema.parse({
    limits: { max_requests: 1 },
    retries: { budget: { ratio: 0, min_per_second: 0 } },
    breaker: { volume_threshold: 2, error_threshold_percentage: 50 },
    outlier: { consecutive_5xx: 2, max_ejection_percent: 100 },
    rate_limit: { global: { requests_per_second: 1, burst: 1 } },
  });
  const res = buildUpstreamResilience(set, opts, { clock });
  t.teardown(() => res.close());
  const m = createMetrics({ processMetrics: false });
  m.sources.addResilience(resilienceStats('outbound', 'api', res));

  // Rate limit: burst 1, so the second request is refused (429).
  const first = ctx();
  t.equal(res.rateLimit!.onRequest(first), 0);
  t.equal(res.rateLimit!.onRequest(ctx()), 1);
  // Concurrency limit: max_requests 1 → one overflow.
  t.ok(res.limits.tryAcquire('requests'));
  t.notOk(res.limits.tryAcquire('requests'));
  // Two failures on endpoint 0: the outlier detector ejects it and its breaker opens.
  const ep = set.list[0]!;
  for (let i = 0; i < 2; i++) {
    const c = ctx({ attempts: 1 });
    for (const o of res.observers) o.onAttemptStart?.(ep, c);
    for (const o of res.observers) o.onAttemptEnd(ep, c, { ok: false, status: 503, reason: undefined, latencyMs: 1 });
  }
  // The budget (ratio 0, no reserve) refuses the retry of a failed idempotent request.
  const c = ctx({ attempts: 1 });
  res.routes.fallback.retry.next(c, { ok: false, status: 0, reason: 'upstream_connect_failed', latencyMs: 1 }, { requestBytesSent: false, replayable: true });

  t.same(await lines(m, 'ratelimit_rejected_total'), ['ratelimit_rejected_total{direction="outbound",target="api"} 1']);
  t.same(await lines(m, 'retry_budget_exhausted_total'), ['retry_budget_exhausted_total{direction="outbound",target="api"} 1']);
  t.same(await lines(m, 'retry_total'), ['retry_total{direction="outbound",target="api"} 0']);
  t.same(await lines(m, 'overflow_total'), [
    'overflow_total{direction="outbound",target="api",kind="connections"} 0',
    'overflow_total{direction="outbound",target="api",kind="pending"} 0',
    'overflow_total{direction="outbound",target="api",kind="requests"} 1',
    'overflow_total{direction="outbound",target="api",kind="retries"} 0',
  ]);
  t.same(await lines(m, 'outlier_ejections_active'), ['outlier_ejections_active{direction="outbound",target="api"} 1']);
  t.same(await lines(m, 'circuit_breaker_open'), [
    'circuit_breaker_open{direction="outbound",target="api",endpoint="10.0.0.1:8001"} 1',
    'circuit_breaker_open{direction="outbound",target="api",endpoint="10.0.0.1:8002"} 0',
  ]);

  // /reset_counters: the sources keep their own totals; the exported counters restart from 0.
  await resetCounters(m);
  t.same(await lines(m, 'ratelimit_rejected_total'), ['ratelimit_rejected_total{direction="outbound",target="api"} 0']);
  t.notOk(res.limits.tryAcquire('requests'));
  t.same(await lines(m, 'overflow_total{direction="outbound",target="api",kind="requests"}'), ['overflow_total{direction="outbound",target="api",kind="requests"} 1'], 'one more overflow after the reset');
  t.same(await lines(m, 'outlier_ejections_active'), ['outlier_ejections_active{direction="outbound",target="api"} 1'], 'gauges are not reset');
  clock.advance(31_000);
  t.same(await lines(m, 'outlier_ejections_active'), ['outlier_ejections_active{direction="outbound",target="api"} 0'], 'the ejection ended');
});

t.test('identity and discovery gauges', async (t) => {
  const m = createMetrics({ processMetrics: false });
  t.same(await lines(m, 'identity_cert_expiration_timestamp_seconds '), ['identity_cert_expiration_timestamp_seconds 0'], '0 before any identity');
  t.same(await lines(m, 'identity_cert_refresh_total'), [], 'no refresh series without an identity source');
  const signals = { refresh: { success: 2, failure: 1 }, expirationTimestampSeconds: () => 1_900_000_000 };
  m.sources.setIdentity(signals);
  let at: number | undefined;
  m.sources.addDiscovery({ target: 'api', status: () => ({ lastSuccessAt: at }) });
  t.same(await lines(m, 'identity_cert_expiration_timestamp_seconds '), ['identity_cert_expiration_timestamp_seconds 1900000000']);
  t.same(await lines(m, 'identity_cert_refresh_total'), ['identity_cert_refresh_total{result="success"} 2', 'identity_cert_refresh_total{result="failure"} 1']);
  t.same(await lines(m, 'discovery_staleness_seconds'), ['discovery_staleness_seconds{target="api"} +Inf'], 'never synced');
  at = Date.now() - 90_000;
  const [line] = await lines(m, 'discovery_staleness_seconds');
  const v = Number(line!.split(' ')[1]);
  t.ok(v >= 90 && v < 95, `about 90 s stale (${v})`);
});

t.test('the catalogue matches the registry, both ways', async (t) => {
  const m = createMetrics();
  detectMetrics(m.registry);
  const names = (await m.registry.getMetricsAsJSON()).map((x) => x.name);
  for (const n of names) t.ok(isCatalogued(n), `${n} is documented in the catalogue`);
  for (const spec of metricsCatalog) {
    t.ok(names.includes(spec.name), `${spec.name} is registered`);
    const reg = m.registry.getSingleMetric(spec.name) as unknown as { labelNames?: string[]; type?: string };
    if (reg.labelNames !== undefined) t.same([...reg.labelNames].sort(), [...spec.labels].sort(), `${spec.name} labels`);
    const json = (await m.registry.getMetricsAsJSON()).find((x) => x.name === spec.name)!;
    t.equal(String(json.type), spec.type, `${spec.name} type`);
  }
});
