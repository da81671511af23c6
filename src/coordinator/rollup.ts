/**
 * Rolling golden metrics up across instances. Counts and rates add up;
 * success rate and p50 are request-weighted means; p99 cannot be merged from
 * percentiles, so the roll-up reports the worst instance's p99 (an upper bound,
 * which is the safe side for a dashboard and an alert). Pure.
 */
import type { GoldenMetrics } from './model.ts';

export function rollup(parts: readonly GoldenMetrics[]): GoldenMetrics | null {
  if (parts.length === 0) return null;
  let requests = 0;
  let rps = 0;
  let ok = 0;
  let p50w = 0;
  let p99 = 0;
  for (const m of parts) {
    requests += m.requests;
    rps += m.rps;
    ok += m.successRate * m.requests;
    p50w += m.p50Ms * m.requests;
    if (m.requests > 0 && m.p99Ms > p99) p99 = m.p99Ms;
  }
  return {
    requests,
    rps,
    successRate: requests > 0 ? ok / requests : 1,
    p50Ms: requests > 0 ? p50w / requests : 0,
    p99Ms: p99,
  };
}
