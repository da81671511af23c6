/**
 * What telemetry costs on the hot path: the per-request work of the metrics
 * filter, the recent-requests ring (/explain?request_id=) and the access log,
 * measured as filter-stack runs per second against an empty stack.
 *
 *   node bench/metrics-cost.ts [--secs 1] [--rounds 3]
 *
 * Each "request" is what the HTTP/1 connection does around filters: one
 * reused RequestCtx (as on a keep-alive connection), the request hooks, one
 * attempt reported to the cluster observers, the response hooks and the done
 * hooks. Rows: requests/s (median of the rounds), ns per request, and the
 * telemetry's added ns per request over the empty stack. The last row runs a
 * filter calling prom-client's labelled inc()/observe() per request, the
 * design the hot path avoids (see src/telemetry/traffic-stats.ts).
 *
 * Single process, single core, no sockets: it isolates the CPU cost of the
 * filters; at 30k requests/s, 100 ns per request is 0.3% of a core.
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { Counter, Histogram, Registry } from 'prom-client';
import { newRequestCtx, runDoneFilters, runRequestFilters, runResponseFilters, type Filter } from '../src/core/filter.ts';
import { EndpointSet } from '../src/balancer/endpoint-set.ts';
import type { AttemptObserver } from '../src/balancer/types.ts';
import { createMetrics, latencyBucketsMs } from '../src/telemetry/metrics.ts';
import { metricsFilter } from '../src/telemetry/metrics-filter.ts';
import { accessLogFilter } from '../src/telemetry/access-log.ts';
import { RecentRequests } from '../src/telemetry/recent-requests.ts';

const { values } = parseArgs({ options: { secs: { type: 'string', default: '1' }, rounds: { type: 'string', default: '3' }, help: { type: 'boolean', default: false } } });
if (values.help) { process.stdout.write('Usage: node bench/metrics-cost.ts [--secs 1] [--rounds 3]\n'); process.exit(0); }
const SECS = Number(values.secs);
const ROUNDS = Number(values.rounds);

const set = new EndpointSet('api');
set.apply([{ address: '10.0.0.1', port: 8080, weight: 1, tags: [], health: 'passing' }], 'bench');
const ep = set.list[0]!;
const devnull = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: true }));

/** The per-request prom-client design, for comparison. */
function promClientFilter(): Filter {
  const registry = new Registry();
  const req = new Counter({ name: 'request_total', help: 'h', labelNames: ['direction', 'target'], registers: [registry] }).labels('outbound', 'api');
  const res = new Counter({ name: 'response_total', help: 'h', labelNames: ['direction', 'target', 'classification', 'status_code', 'reason'], registers: [registry] });
  const lat = new Histogram({ name: 'response_latency_ms', help: 'h', labelNames: ['direction', 'target'], buckets: [...latencyBucketsMs], registers: [registry] }).labels('outbound', 'api');
  const byStatus = new Map<number, ReturnType<typeof res.labels>>();
  return {
    name: 'prom-client',
    onRequest() { req.inc(); return 0; },
    onDone(ctx) {
      let c = byStatus.get(ctx.status);
      if (c === undefined) { c = res.labels('outbound', 'api', 'success', String(ctx.status), ''); byStatus.set(ctx.status, c); }
      c.inc();
      lat.observe(ctx.responseStartedAt - ctx.startedAt);
    },
  };
}

interface Variant { name: string; build: () => { filters: Filter[]; observers: AttemptObserver[] } }

const variants: Variant[] = [
  { name: 'empty stack (baseline)', build: () => ({ filters: [], observers: [] }) },
  { name: 'metrics', build: () => ({ filters: [metricsFilter(createMetrics({ processMetrics: false }), 'outbound', 'api')], observers: [] }) },
  { name: 'metrics + recent requests', build: () => {
    const r = new RecentRequests();
    return { filters: [metricsFilter(createMetrics({ processMetrics: false }), 'outbound', 'api'), r], observers: [r] };
  } },
  { name: 'metrics + recent + access log (sample 1%)', build: () => {
    const r = new RecentRequests();
    return { filters: [metricsFilter(createMetrics({ processMetrics: false }), 'outbound', 'api'), accessLogFilter(devnull, 0.01), r], observers: [r] };
  } },
  { name: 'metrics + recent + access log (every request)', build: () => {
    const r = new RecentRequests();
    return { filters: [metricsFilter(createMetrics({ processMetrics: false }), 'outbound', 'api'), accessLogFilter(devnull, 1), r], observers: [r] };
  } },
  { name: 'prom-client inc/observe per request (not used)', build: () => ({ filters: [promClientFilter()], observers: [] }) },
];

const ids = Array.from({ length: 4096 }, (_, i) => `req-${i.toString(16).padStart(8, '0')}`);
const headers = ['host', 'api', 'user-agent', 'bench', 'traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'];
const result = { ok: true, status: 200, reason: undefined, latencyMs: 1.2 } as const;

/** A runner for one variant: its own stack and context, warmed up once; each call measures SECS seconds. */
function runner(v: Variant): () => number {
  const { filters, observers } = v.build();
  const ctx = newRequestCtx();
  Object.assign(ctx, { direction: 'outbound', listener: 'outbound:api', upstream: 'api', method: 'GET', target: '/v1/items?page=2', authority: 'api', headers, remoteAddress: '127.0.0.1', spanId: 'b7ad6b7169203331' });
  let i = 0;
  const one = (): void => {
    ctx.requestId = ids[i++ & 4095]!;
    ctx.startedAt = performance.now();
    ctx.status = 0; ctx.reason = undefined; ctx.attempts = 0; ctx.endpoint = undefined; ctx.responseStartedAt = 0;
    runRequestFilters(filters, ctx);
    ctx.attempts = 1; ctx.endpoint = ep;
    for (let k = 0; k < observers.length; k++) observers[k]!.onAttemptEnd(ep, ctx, result);
    ctx.status = 200;
    runResponseFilters(filters, ctx);
    ctx.responseStartedAt = performance.now();
    ctx.bytesIn = 0; ctx.bytesOut = 512;
    runDoneFilters(filters, ctx);
  };
  for (let w = 0; w < 200_000; w++) one(); // warm up (JIT)
  return () => {
    const end = performance.now() + SECS * 1000;
    let n = 0;
    const t0 = performance.now();
    while (performance.now() < end) { for (let k = 0; k < 1000; k++) one(); n += 1000; }
    return n / ((performance.now() - t0) / 1000);
  };
}

// Rounds interleave the variants, so a noisy moment of the machine hits all of them alike.
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const runners = variants.map(runner);
const samples: number[][] = variants.map(() => []);
for (let r = 0; r < ROUNDS; r++) runners.forEach((run, i) => samples[i]!.push(run()));
const rows = variants.map((v, i) => ({ name: v.name, perSec: median(samples[i]!) }));
const baseNs = 1e9 / rows[0]!.perSec;
const w = Math.max(...rows.map((r) => r.name.length));
process.stdout.write(`Telemetry cost per request (node ${process.version}, ${SECS}s x ${ROUNDS} rounds, median)\n\n`);
process.stdout.write(`${'stack'.padEnd(w)}  ${'requests/s'.padStart(12)}  ${'ns/request'.padStart(10)}  ${'added ns'.padStart(9)}\n`);
for (const r of rows) {
  const ns = 1e9 / r.perSec;
  process.stdout.write(`${r.name.padEnd(w)}  ${Math.round(r.perSec).toLocaleString('en-US').padStart(12)}  ${ns.toFixed(0).padStart(10)}  ${(ns - baseNs).toFixed(0).padStart(9)}\n`);
}
