/**
 * The stale-agent rule: an agent that has not reported for
 * `staleAfterIntervals` of its own report intervals is stale (kept in the view,
 * greyed out, its metrics no longer counted); after `removeAfterIntervals` it
 * is gone. Pure; the caller passes wall-clock ms.
 */
export interface LivenessRule {
  readonly staleAfterIntervals: number;
  readonly removeAfterIntervals: number;
}

export const defaultLiveness: LivenessRule = { staleAfterIntervals: 3, removeAfterIntervals: 12 };

export type Liveness = 'up' | 'stale' | 'gone';

export function validateLiveness(r: LivenessRule): LivenessRule {
  if (!(r.staleAfterIntervals >= 1)) throw new RangeError('staleAfterIntervals must be >= 1');
  if (!(r.removeAfterIntervals > r.staleAfterIntervals)) throw new RangeError('removeAfterIntervals must be greater than staleAfterIntervals');
  return r;
}

export function livenessOf(rec: { lastSeenMs: number; intervalMs: number }, nowMs: number, rule: LivenessRule): Liveness {
  const silent = nowMs - rec.lastSeenMs;
  if (silent > rule.removeAfterIntervals * rec.intervalMs) return 'gone';
  if (silent > rule.staleAfterIntervals * rec.intervalMs) return 'stale';
  return 'up';
}
