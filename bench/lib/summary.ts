/**
 * From raw cells to what the report and the console show: per-run metric maps
 * (added latency against the same run's direct), the median figures per
 * scenario and target, the layers scenario's slices for the noise estimate,
 * and the closing console summary.
 */
import { fmtRatio, withUnit } from './format.ts';
import type { PairSlice } from './layers.ts';
import type { CellResult } from './measure.ts';
import { aggregate, cellMetrics, type Figure } from './metrics.ts';
import type { RawCell, Report } from './report.ts';
import type { Scenario } from './scenario.ts';

/** Per scenario, per run: target → flat metrics (added latency against the same run's direct). */
export function metricsByRun(s: Scenario, raw: readonly RawCell[], runs: number): Map<string, Record<string, number>>[] {
  return Array.from({ length: runs }, (_, i) => {
    const cells = new Map<string, CellResult>();
    for (const c of raw) if (c.run === i + 1 && c.scenario === s.name && c.cell) cells.set(c.target, c.cell);
    const m = new Map<string, Record<string, number>>();
    for (const [name, cell] of cells) m.set(name, cellMetrics(cell, name === 'direct' ? undefined : cells.get('direct')));
    return m;
  });
}

/** An interleaved scenario's slices per target, over all runs, for the per-layer noise estimate. */
export function pairSlices(s: Scenario, raw: readonly RawCell[]): Map<string, PairSlice[]> {
  const out = new Map<string, PairSlice[]>();
  for (const c of raw) {
    if (c.scenario !== s.name || !c.cell?.slices) continue;
    const list = out.get(c.target) ?? [];
    for (const sl of c.cell.slices) list.push({ requests: sl.requests, cpuUsOutbound: sl.cpuUs.outbound ?? 0, cpuUsInbound: sl.cpuUs.inbound ?? 0 });
    out.set(c.target, list);
  }
  return out;
}

export function figuresFor(scenarios: readonly Scenario[], raw: readonly RawCell[], runs: number): Report['figures'] {
  const out: Record<string, Record<string, Record<string, Figure>>> = {};
  for (const s of scenarios) out[s.name] = Object.fromEntries(aggregate(metricsByRun(s, raw, runs)));
  return out;
}

export function printSummary(r: Report, log: (line: string) => void): void {
  for (const sc of r.scenarios) {
    const rate = sc.rates[0] ?? 0;
    log(`\n${sc.name} (${sc.description})${rate ? `; latency at ${rate.toLocaleString('en')} rps` : ''}:`);
    for (const t of r.targets.filter((x) => x.scenarios.includes(sc.name))) {
      const f = r.figures[sc.name]?.[t.name];
      if (!t.available || !f) {
        log(`  ${t.name.padEnd(12)} unavailable: ${(t.error ?? '').split('\n')[0]}`);
        continue;
      }
      const tp = f.throughput_rps;
      const a50 = f[`added_p50_ms@${rate}`];
      const a99 = f[`added_p99_ms@${rate}`];
      log(`  ${t.name.padEnd(12)} ${withUnit(tp?.value ?? NaN, 'req/s').padStart(14)} (${fmtRatio(tp?.vsDirect ?? NaN)} direct, ${fmtRatio(tp?.vsHaproxy ?? NaN)} HAProxy)` +
        `  p50 ${withUnit(f[`p50_ms@${rate}`]?.value ?? NaN, 'ms')}  p99 ${withUnit(f[`p99_ms@${rate}`]?.value ?? NaN, 'ms')}` +
        (a50 ? `  added p50 ${withUnit(a50.value, 'ms')} (${fmtRatio(a50.vsHaproxy)} H), p99 ${withUnit(a99?.value ?? NaN, 'ms')} (${fmtRatio(a99?.vsHaproxy ?? NaN)} H)` : '') +
        (rate ? '' : `  CPU/request outbound ${withUnit(f.cpu_us_per_req_outbound?.value ?? NaN, 'µs')}, inbound ${withUnit(f.cpu_us_per_req_inbound?.value ?? NaN, 'µs')}`));
    }
  }
  if (r.layerCosts?.length) {
    log('\nPer-layer cost (with − without, same run, median):');
    for (const c of r.layerCosts) {
      log(`  ${c.layer.padEnd(34)} ${withUnit(c.addedUsPair, 'µs').padStart(9)} ± ${withUnit(c.noiseUs, 'µs')} CPU per request, both agents (outbound ${withUnit(c.addedUsOutbound, 'µs')}, inbound ${withUnit(c.addedUsInbound, 'µs')}); throughput ${fmtRatio(c.throughputRatio)}`);
    }
  }
}
