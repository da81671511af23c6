/**
 * The gRPC `grpc-timeout` header (gRPC over HTTP/2 spec): an ASCII integer
 * of at most 8 digits followed by a unit, H M S m u n. The agent honours it
 * as the call's deadline and forwards the time that remains, so the deadline
 * shrinks hop by hop (deadline propagation) instead of restarting.
 */

/** Units as a multiplier (coarse) or, for sub-millisecond units, a divisor (exact decimal results). */
const UNIT_MUL: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1 };
const UNIT_DIV: Record<string, number> = { u: 1000, n: 1_000_000 };

/** Milliseconds, or undefined when the value is malformed (then it is ignored, as grpc-go does). */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value.trim());
  if (m === null) return undefined;
  const n = Number(m[1]);
  const unit = m[2]!;
  return unit in UNIT_MUL ? n * UNIT_MUL[unit]! : n / UNIT_DIV[unit]!;
}

/** Encode a remaining time (ms, may be fractional) with the finest unit that fits in 8 digits. */
export function formatGrpcTimeout(ms: number): string {
  if (ms <= 0) return '0n';
  const max = 99_999_999;
  const ns = Math.ceil(ms * 1_000_000);
  if (ns <= max) return `${ns}n`;
  const us = Math.ceil(ms * 1000);
  if (us <= max) return `${us}u`;
  const whole = Math.ceil(ms);
  if (whole <= max) return `${whole}m`;
  const s = Math.ceil(ms / 1000);
  if (s <= max) return `${s}S`;
  const min = Math.ceil(ms / 60_000);
  if (min <= max) return `${min}M`;
  return `${Math.min(Math.ceil(ms / 3_600_000), max)}H`;
}
