/**
 * The `grpc-timeout` request header (gRPC over HTTP/2 spec):
 *
 *   grpc-timeout = TimeoutValue TimeoutUnit
 *   TimeoutValue = 1*8DIGIT            (a positive integer, at most 8 digits)
 *   TimeoutUnit  = "H" / "M" / "S" / "m" / "u" / "n"
 *
 * A client's grpc-timeout *tightens* the request timeout of the route and
 * never loosens it (`deadline.ts` takes the minimum); when the agent
 * forwards the request it sends the remaining time, so the upstream sees
 * the deadline the client set minus the time already spent.
 */

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
const MAX_VALUE = 99_999_999;

/** Parse a grpc-timeout value to ms (fractional for u/n); −1 when malformed. */
export function parseGrpcTimeout(v: string): number {
  const n = v.length;
  if (n < 2 || n > 9) return -1;
  const unit = UNIT_MS[v[n - 1]!];
  if (unit === undefined) return -1;
  let value = 0;
  for (let i = 0; i < n - 1; i++) {
    const c = v.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    value = value * 10 + c;
  }
  return value * unit;
}

/**
 * Format ms as a grpc-timeout value, rounding up, in the finest unit that
 * fits 8 digits. Anything ≤ 0 becomes the smallest positive value ("1n"):
 * callers should not forward a request whose deadline has passed.
 */
export function formatGrpcTimeout(ms: number): string {
  if (!(ms > 0)) return '1n';
  if (ms < 100) {
    const us = Math.ceil(ms * 1000);
    return `${us}u`;
  }
  const m = Math.ceil(ms);
  if (m <= MAX_VALUE) return `${m}m`;
  const s = Math.ceil(ms / 1000);
  if (s <= MAX_VALUE) return `${s}S`;
  const min = Math.ceil(ms / 60_000);
  if (min <= MAX_VALUE) return `${min}M`;
  return `${Math.min(MAX_VALUE, Math.ceil(ms / 3_600_000))}H`;
}
