/**
 * V8 tiering for a long-running proxy. V8 optimizes a function with TurboFan
 * only after ~3,000 calls with stable feedback (`--invocation-count-for-turbofan`);
 * below that the hot path runs in Maglev, whose private-field stores and
 * property loads go through generic IC builtins. At a sidecar's usual rates
 * (hundreds to a few thousand requests a second) the data path then spends
 * seconds, and at 1,000 rps apparently for good, in the middle tier: measured
 * here, 600 calls cut the agent pair's CPU per request at 1,000 rps by 15–20%
 * (README "Performance"), with max throughput unchanged. A value the operator
 * passed to node itself wins.
 */
import { setFlagsFromString } from 'node:v8';

export const TURBOFAN_INVOCATIONS = 600;

export function tuneTiering(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((a) => a.startsWith('--invocation-count-for-turbofan') || a.startsWith('--invocation_count_for_turbofan'))) return false;
  setFlagsFromString(`--invocation-count-for-turbofan=${TURBOFAN_INVOCATIONS}`);
  return true;
}
