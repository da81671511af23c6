/**
 * When to renew a leaf, and how long to wait after a failed attempt. Pure.
 *
 * A leaf is renewed at `fraction` (default 0.7) of its lifetime, measured from
 * notBefore, as Consul and Linkerd do; never sooner than `minDelayMs` from now,
 * so a leaf that is already past its renewal point (an old file, a slow CA)
 * does not cause a hot loop. Failures back off exponentially with jitter, but
 * never past the point where the current leaf expires.
 */

export function renewAt(notBefore: number, notAfter: number, fraction = 0.7): number {
  return notBefore + fraction * (notAfter - notBefore);
}

export function renewDelay(now: number, notBefore: number, notAfter: number, fraction = 0.7, minDelayMs = 250): number {
  return Math.max(minDelayMs, renewAt(notBefore, notAfter, fraction) - now);
}

/** Delay before retry number `attempt` (1-based); `random` in [0,1) for jitter. */
export function retryDelay(attempt: number, now: number, notAfter: number | undefined, random = Math.random()): number {
  const base = Math.min(30_000, 500 * 2 ** Math.min(attempt - 1, 10));
  const jittered = base * (0.5 + random / 2);
  if (notAfter === undefined) return jittered;
  const left = notAfter - now;
  return left > 0 ? Math.max(100, Math.min(jittered, left / 4)) : jittered;
}

/** setTimeout clamps delays above 2^31-1 ms; cap them (a 30-day leaf re-arms its timer). */
export const MAX_TIMER_MS = 2 ** 31 - 1;
