/**
 * Latency percentiles for the bench harness: exact nearest-rank percentiles over
 * every sample of a phase (a phase holds at most a few tens of thousands, so we
 * sort rather than keep a histogram and lose the tail to bucket widths).
 */

export interface LatencySummary {
  readonly count: number;
  readonly min: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/**
 * Nearest-rank percentile of ascending `sorted` values: the smallest value
 * such that at least p% of the samples are <= it. p = 0 gives the minimum.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile: p must be within 0..100, got ${p}`);
  // The epsilon keeps float error (99.9 / 100 * 1000 = 999.0000000000001) from moving up a rank.
  const rank = Math.ceil((p * n) / 100 - 1e-9);
  const i = Math.min(n - 1, Math.max(0, rank - 1));
  return sorted[i] as number;
}

/** Summarise latency samples (milliseconds). The input array is sorted in place. */
export function summarize(samples: Float64Array): LatencySummary {
  samples.sort();
  const n = samples.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += samples[i] as number;
  return {
    count: n,
    min: n ? (samples[0] as number) : Number.NaN,
    mean: n ? sum / n : Number.NaN,
    p50: percentile(samples, 50),
    p90: percentile(samples, 90),
    p99: percentile(samples, 99),
    p999: percentile(samples, 99.9),
    max: n ? (samples[n - 1] as number) : Number.NaN,
  };
}

/** Median of the finite numbers given (NaN when there are none); used for the median-of-N-runs figures. */
export function median(values: readonly (number | null | undefined)[]): number {
  const xs = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  const n = xs.length;
  if (n === 0) return Number.NaN;
  const mid = n >> 1;
  return n % 2 ? (xs[mid] as number) : ((xs[mid - 1] as number) + (xs[mid] as number)) / 2;
}
