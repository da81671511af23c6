import t from 'tap';
import { checkGoals } from '../../../bench/lib/goals.ts';
import type { CellResult } from '../../../bench/lib/measure.ts';
import { aggregate, cellMetrics } from '../../../bench/lib/metrics.ts';

const lat = (p50: number, p99: number) => ({ count: 100, min: p50 / 2, mean: p50, p50, p90: p50 * 1.5, p99, p999: p99 * 1.2, max: p99 * 2 });
const cell = (rps: number, p50: number, p99: number, cores?: { outbound: number; inbound: number }): CellResult => ({
  rates: [{
    rate: 1000, generatorCores: 0.1, cores: { ...(cores ?? {}), backend: 0.05 },
    load: { rate: 1000, durationMs: 3000, scheduled: 3000, ok: 3000, errors: 0, timeouts: 0, achievedRps: 1000, latency: lat(p50, p99), service: lat(p50, p99), sendLag: lat(0.5, 1) },
  }],
  rssBytes: cores ? { outbound: 40 * 1024 ** 2, inbound: 50 * 1024 ** 2 } : {},
  wrk: { requests: rps * 3, durationSec: 3, bytesRead: 0, requestsPerSec: rps, transferPerSec: 0, latencyMs: { avg: 1, stdev: 0, max: 2 }, distributionMs: {}, socketErrors: { connect: 0, read: 0, write: 0, timeout: 0 }, non2xx3xx: 0 },
});

t.test('added latency is taken against direct in the same run', async (t) => {
  const m = cellMetrics(cell(10_000, 1.3, 4), cell(40_000, 0.8, 2));
  t.equal(m.throughput_rps, 10_000);
  t.ok(Math.abs((m['added_p50_ms@1000'] as number) - 0.5) < 1e-12);
  t.equal(m['added_p99_ms@1000'], 2);
  t.equal(cellMetrics(cell(1, 1, 1), undefined)['added_p50_ms@1000'], undefined, 'no direct, no added latency');
});

t.test('ratios are per run, then the median of the ratios', async (t) => {
  // HAProxy's throughput swings between runs (a busy machine); the agent's tracks it at 0.5×.
  const runs = [[20_000, 10_000], [8_000, 4_000], [12_000, 6_400]].map(([h, a]) => new Map([
    ['direct', { throughput_rps: 40_000 }],
    ['haproxy', { throughput_rps: h as number }],
    ['aim-mesh', { throughput_rps: a as number }],
  ]));
  const f = aggregate(runs).get('aim-mesh')?.throughput_rps;
  t.equal(f?.value, 6_400, 'median of the values');
  t.equal(f?.vsHaproxy, 0.5, 'median of 0.5, 0.5, 0.533');
  t.equal(f?.vsDirect, 0.16);
  t.same(f?.runs, [10_000, 4_000, 6_400]);
  t.equal(aggregate(runs).get('haproxy')?.throughput_rps?.vsHaproxy, 1);
});

t.test('goals read the agent figures and say met, missed or n/a', async (t) => {
  const byTarget = (cells: Record<string, CellResult>) => {
    const m = new Map(Object.entries(cells).map(([k, c]) => [k, cellMetrics(c, cells.direct)]));
    return Object.fromEntries(aggregate([m]));
  };
  const figs = byTarget({
    direct: cell(40_000, 0.8, 2),
    haproxy: cell(10_000, 1.0, 3, { outbound: 0.05, inbound: 0.05 }),
    'aim-mesh': cell(7_000, 1.2, 4, { outbound: 0.12, inbound: 0.08 }),
  });
  const g = checkGoals(figs, 1000);
  const status = Object.fromEntries(g.map((x) => [x.goal, x.status]));
  t.same(status, {
    'Throughput vs HAProxy pair': 'met', // 7,000 / 10,000 = 0.7 >= 0.6
    'Added p50 vs HAProxy pair': 'missed', // (1.2 - 0.8) / (1.0 - 0.8) = 2.0 > 1.25
    'Added p99 vs HAProxy pair': 'missed', // (4 - 2) / (3 - 2) = 2.0 > 1.6
    'CPU per agent': 'missed', // outbound 0.12 > 0.10
    'RSS per agent': 'met', // 50 MB <= 64
  });
  t.same(checkGoals({ 'aim-mesh': {} }, 1000).map((x) => x.status), ['n/a', 'n/a', 'n/a', 'n/a', 'n/a']);
});
