/**
 * From raw cells to headline figures. Each cell is flattened to named metrics
 * (added latency = the target's percentile minus direct's, same run and rate);
 * each metric is then reduced over the runs to a median value, plus the median
 * of the per-run ratios to direct and to the HAProxy pair. Pure.
 */
import type { CellResult } from './measure.ts';
import { median } from './percentiles.ts';
import type { Scenario } from './scenario.ts';

export interface MetricDef {
  readonly key: string;
  readonly label: string;
  readonly unit: 'req/s' | 'ms' | 'µs' | 'cores' | 'MB' | 'conn/s' | '';
  readonly better: 'higher' | 'lower';
}

export interface Figure {
  readonly value: number;
  readonly vsDirect: number;
  readonly vsHaproxy: number;
  /** The per-run values the median came from. */
  readonly runs: readonly number[];
}

export const PCTS = [['p50', 'p50'], ['p90', 'p90'], ['p99', 'p99'], ['p999', 'p99.9']] as const;

export function metricDefs(s: Scenario): MetricDef[] {
  const defs: MetricDef[] = [
    { key: 'throughput_rps', label: s.kind === 'grpc' ? 'Max throughput, h2load, gRPC calls' : 'Max throughput, wrk', unit: 'req/s', better: 'higher' },
    { key: 'closed_loop_errors', label: `Errors in the ${s.kind === 'grpc' ? 'h2load (incl. grpc-status ≠ 0)' : 'wrk'} phase`, unit: '', better: 'lower' },
    { key: 'cpu_us_per_req_outbound', label: 'CPU per request at max throughput, outbound proxy', unit: 'µs', better: 'lower' },
    { key: 'cpu_us_per_req_inbound', label: 'CPU per request at max throughput, inbound proxy', unit: 'µs', better: 'lower' },
  ];
  for (const r of s.rates) {
    const at = `@ ${r.toLocaleString('en')} rps`;
    for (const [k, name] of PCTS) defs.push({ key: `${k}_ms@${r}`, label: `${name} ${at}`, unit: 'ms', better: 'lower' });
    for (const [k, name] of PCTS) defs.push({ key: `added_${k}_ms@${r}`, label: `Added ${name} ${at}`, unit: 'ms', better: 'lower' });
    defs.push({ key: `cpu_outbound@${r}`, label: `CPU, outbound proxy ${at}`, unit: 'cores', better: 'lower' });
    defs.push({ key: `cpu_inbound@${r}`, label: `CPU, inbound proxy ${at}`, unit: 'cores', better: 'lower' });
    defs.push({ key: `cpu_backend@${r}`, label: `CPU, backend ${at}`, unit: 'cores', better: 'lower' });
    defs.push({ key: `wait_outbound@${r}`, label: `Run-queue wait per request, outbound proxy ${at}`, unit: 'µs', better: 'lower' });
    defs.push({ key: `wait_inbound@${r}`, label: `Run-queue wait per request, inbound proxy ${at}`, unit: 'µs', better: 'lower' });
    defs.push({ key: `wait_backend@${r}`, label: `Run-queue wait per request, backend ${at}`, unit: 'µs', better: 'lower' });
    defs.push({ key: `slices_outbound@${r}`, label: `Times scheduled per request, outbound proxy ${at}`, unit: '', better: 'lower' });
    defs.push({ key: `slices_inbound@${r}`, label: `Times scheduled per request, inbound proxy ${at}`, unit: '', better: 'lower' });
    defs.push({ key: `errors@${r}`, label: `Errors + timeouts ${at}`, unit: '', better: 'lower' });
  }
  const after = s.rates.length ? 'after rate phases' : 'after the wrk phase';
  defs.push({ key: 'rss_outbound_mb', label: `RSS, outbound proxy, ${after}`, unit: 'MB', better: 'lower' });
  defs.push({ key: 'rss_inbound_mb', label: `RSS, inbound proxy, ${after}`, unit: 'MB', better: 'lower' });
  if (s.handshake) {
    defs.push({ key: 'handshakes_per_s', label: 'New mTLS connections/s (full handshake)', unit: 'conn/s', better: 'higher' });
    defs.push({ key: 'handshake_cpu_ms', label: 'Inbound CPU per new mTLS connection', unit: 'ms', better: 'lower' });
  }
  return defs;
}

/** Flatten one cell to metric values; `direct` is the same run's direct cell (for added latency), if any. */
export function cellMetrics(cell: CellResult, direct: CellResult | undefined): Record<string, number> {
  const m: Record<string, number> = {};
  const closed = cell.wrk ?? cell.h2load;
  if (closed) m.throughput_rps = closed.requestsPerSec;
  if (cell.closedLoopErrors !== undefined) m.closed_loop_errors = cell.closedLoopErrors;
  const us = cell.wrkCpuUsPerReq;
  if (us?.outbound !== undefined) m.cpu_us_per_req_outbound = us.outbound;
  if (us?.inbound !== undefined) m.cpu_us_per_req_inbound = us.inbound;
  for (const ph of cell.rates) {
    const r = ph.rate;
    const d = direct?.rates.find((x) => x.rate === r);
    for (const [k] of PCTS) {
      m[`${k}_ms@${r}`] = ph.load.latency[k];
      if (d) m[`added_${k}_ms@${r}`] = ph.load.latency[k] - d.load.latency[k];
    }
    if (ph.cores.outbound !== undefined) m[`cpu_outbound@${r}`] = ph.cores.outbound;
    if (ph.cores.inbound !== undefined) m[`cpu_inbound@${r}`] = ph.cores.inbound;
    if (ph.cores.backend !== undefined) m[`cpu_backend@${r}`] = ph.cores.backend;
    for (const role of ['outbound', 'inbound', 'backend'] as const) {
      const w = ph.waitUsPerReq?.[role];
      if (w !== undefined) m[`wait_${role}@${r}`] = w;
      const sl = ph.slicesPerReq?.[role];
      if (sl !== undefined && role !== 'backend') m[`slices_${role}@${r}`] = sl;
    }
    m[`errors@${r}`] = ph.load.errors + ph.load.timeouts;
  }
  if (cell.rssBytes.outbound !== undefined) m.rss_outbound_mb = cell.rssBytes.outbound / 1024 ** 2;
  if (cell.rssBytes.inbound !== undefined) m.rss_inbound_mb = cell.rssBytes.inbound / 1024 ** 2;
  if (cell.handshake) {
    m.handshakes_per_s = cell.handshake.perSec;
    if (cell.handshake.inboundCpuMsPerConn !== undefined) m.handshake_cpu_ms = cell.handshake.inboundCpuMsPerConn;
  }
  return m;
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  // A negative value (an "added" latency below direct's, which is noise) has no meaningful ratio.
  return a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && a >= 0 && b > 0 ? a / b : undefined;
}

/**
 * Reduce per-run metric maps (run → target → metrics) to figures per target.
 * Ratios are taken within each run, then the median of those ratios is kept.
 */
export function aggregate(runs: readonly ReadonlyMap<string, Record<string, number>>[]): Map<string, Record<string, Figure>> {
  const out = new Map<string, Record<string, Figure>>();
  const targets = new Set(runs.flatMap((r) => [...r.keys()]));
  for (const t of targets) {
    const keys = new Set(runs.flatMap((r) => Object.keys(r.get(t) ?? {})));
    const figs: Record<string, Figure> = {};
    for (const k of keys) {
      const vals = runs.map((r) => r.get(t)?.[k]);
      figs[k] = {
        value: median(vals),
        vsDirect: median(runs.map((r) => ratio(r.get(t)?.[k], r.get('direct')?.[k]))),
        vsHaproxy: median(runs.map((r) => ratio(r.get(t)?.[k], r.get('haproxy')?.[k]))),
        runs: vals.filter((v): v is number => v !== undefined),
      };
    }
    out.set(t, figs);
  }
  return out;
}
