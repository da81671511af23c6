/**
 * Rate-limit response fields, IETF httpapi draft
 * (draft-ietf-httpapi-ratelimit-headers-09/-10), Structured Field lists:
 *
 *   RateLimit-Policy: "<name>";q=<quota>;w=<window seconds>
 *   RateLimit:        "<name>";r=<remaining>;t=<seconds until quota restores>
 *
 * For a token bucket the quota q is the burst and w the time the bucket
 * takes to refill completely (burst / rate, rounded up), so a client that
 * spreads q requests over w seconds never waits. On a 429, r is 0 and t
 * equals Retry-After (seconds until the next token).
 */

/** `"name";q=burst;w=window` */
export function policyField(name: string, burst: number, ratePerSecond: number): string {
  const w = Math.max(1, Math.ceil(burst / ratePerSecond));
  return `"${name}";q=${burst};w=${w}`;
}

/** `"name";r=remaining;t=seconds` */
export function rateLimitField(name: string, remaining: number, resetMs: number): string {
  return `"${name}";r=${Math.max(0, Math.floor(remaining))};t=${Math.max(0, Math.ceil(resetMs / 1000))}`;
}

/** Retry-After delta-seconds, at least 1 (0 would invite an immediate retry). */
export function retryAfterSeconds(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)));
}

/** The headers of a 429 for policy `name` with `waitMs` until the next token. */
export function rejectHeaders(name: string, policy: string, waitMs: number): Record<string, string> {
  const ra = retryAfterSeconds(waitMs);
  return { 'retry-after': ra, 'ratelimit-policy': policy, ratelimit: `"${name}";r=0;t=${ra}` };
}
