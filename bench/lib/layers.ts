/**
 * The per-layer cost of the agent, from the `layers` scenario's cells: for
 * each toggle, the variant with the layer against the variant without it,
 * taken within each run and then the median over runs (as every ratio in the
 * report). Added CPU is CPU µs per request in each agent during the
 * closed-loop phase, which holds up on a busy machine far better than req/s;
 * the throughput ratio is with ÷ without (below 1 = the layer slows the pair).
 * Pure.
 */
import { median } from './percentiles.ts';

export interface LayerToggle {
  readonly layer: string;
  /** Target names of the two variants. */
  readonly with: string;
  readonly without: string;
  /** How the layer is switched (shown in the report). */
  readonly toggle: string;
}

export interface LayerCost extends LayerToggle {
  readonly addedUsOutbound: number;
  readonly addedUsInbound: number;
  /** Both agents together. */
  readonly addedUsPair: number;
  readonly throughputRatio: number;
  /** The per-run values of addedUsPair the median came from. */
  readonly runs: readonly number[];
  /**
   * One standard error of addedUsPair from the spread of the 1-second slices (both variants, all runs):
   * a difference within about twice this is noise.
   */
  readonly noiseUs: number;
}

/** Per-slice CPU of both agents, for the noise estimate (interleave.ts Slice, reduced). */
export interface PairSlice {
  readonly requests: number;
  readonly cpuUsOutbound: number;
  readonly cpuUsInbound: number;
}

/** Standard error of the mean per-request CPU over the slices (NaN with fewer than 2). */
function standardError(slices: readonly PairSlice[]): number {
  const v = slices.filter((x) => x.requests > 0).map((x) => (x.cpuUsOutbound + x.cpuUsInbound) / x.requests);
  if (v.length < 2) return Number.NaN;
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1));
  return sd / Math.sqrt(v.length);
}

type RunMetrics = ReadonlyMap<string, Readonly<Record<string, number>>>;

/** `slices`: target → its slices over all runs (empty when the scenario was not interleaved). */
export function layerCosts(toggles: readonly LayerToggle[], runs: readonly RunMetrics[], slices: ReadonlyMap<string, readonly PairSlice[]> = new Map()): LayerCost[] {
  const diff = (r: RunMetrics, t: LayerToggle, k: string): number | undefined => {
    const a = r.get(t.with)?.[k];
    const b = r.get(t.without)?.[k];
    return a !== undefined && b !== undefined ? a - b : undefined;
  };
  return toggles.map((t) => {
    const pair = runs.map((r) => {
      const o = diff(r, t, 'cpu_us_per_req_outbound');
      const i = diff(r, t, 'cpu_us_per_req_inbound');
      return o !== undefined && i !== undefined ? o + i : undefined;
    });
    const tp = runs.map((r) => {
      const a = r.get(t.with)?.throughput_rps;
      const b = r.get(t.without)?.throughput_rps;
      return a !== undefined && b !== undefined && b > 0 ? a / b : undefined;
    });
    return {
      ...t,
      addedUsOutbound: median(runs.map((r) => diff(r, t, 'cpu_us_per_req_outbound'))),
      addedUsInbound: median(runs.map((r) => diff(r, t, 'cpu_us_per_req_inbound'))),
      addedUsPair: median(pair),
      throughputRatio: median(tp),
      runs: pair.filter((v): v is number => v !== undefined),
      noiseUs: Math.hypot(standardError(slices.get(t.with) ?? []), standardError(slices.get(t.without) ?? [])),
    };
  });
}
