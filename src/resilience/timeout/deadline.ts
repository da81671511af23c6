/**
 * Timeout math, pure: every timeout becomes an absolute deadline on the
 * monotonic clock (performance.now() ms), and inner deadlines never exceed
 * outer ones:
 *
 *   request deadline  = startedAt + min(timeouts.request, grpc-timeout)
 *   attempt deadline  = min(request deadline, attemptStart + per_try_timeout)
 *   connect deadline  = min(attempt deadline, connectStart + timeouts.connect)
 *
 * 0 means "no timeout" in config; a missing deadline is +Infinity. The
 * router arms one timer per phase with `remaining(now, deadline)`. When an
 * attempt deadline fires, `attemptTimeoutIsFinal` tells a per-try timeout
 * (retryable: the request still has time) from the overall one (final,
 * reason upstream_timeout either way).
 *
 * The idle timeout is not a deadline: it restarts on every byte; the data
 * path keeps `lastActivity` and checks `idleExpired` from a coarse timer.
 */
import type { RequestCtx } from '../../core/filter.ts';
import { headerValue } from '../../core/filter.ts';
import { formatGrpcTimeout, parseGrpcTimeout } from './grpc-timeout.ts';

export interface TimeoutPolicy {
  readonly connectMs: number;
  /** Overall request timeout (0 = none). */
  readonly requestMs: number;
  /** Per-attempt timeout (0 = none). */
  readonly perTryMs: number;
  /** Idle timeout (0 = none). */
  readonly idleMs: number;
}

/** Absolute request deadline; grpcTimeoutMs < 0 means the client sent none. */
export function requestDeadline(startedAt: number, requestMs: number, grpcTimeoutMs: number): number {
  let d = requestMs > 0 ? startedAt + requestMs : Infinity;
  if (grpcTimeoutMs >= 0) {
    const g = startedAt + grpcTimeoutMs;
    if (g < d) d = g;
  }
  return d;
}

/** The request deadline for `ctx`, reading its grpc-timeout header when it is a gRPC request. */
export function deadlineFor(ctx: RequestCtx, requestMs: number): number {
  let g = -1;
  if (ctx.grpc) {
    const v = headerValue(ctx.headers, 'grpc-timeout');
    if (v !== undefined) g = parseGrpcTimeout(v);
  }
  return requestDeadline(ctx.startedAt, requestMs, g);
}

export function attemptDeadline(attemptStart: number, requestDeadline: number, perTryMs: number): number {
  if (perTryMs <= 0) return requestDeadline;
  const d = attemptStart + perTryMs;
  return d < requestDeadline ? d : requestDeadline;
}

export function connectDeadline(connectStart: number, attemptDeadline: number, connectMs: number): number {
  if (connectMs <= 0) return attemptDeadline;
  const d = connectStart + connectMs;
  return d < attemptDeadline ? d : attemptDeadline;
}

/** ms left until `deadline` (≤ 0 when passed; Infinity when none). */
export function remaining(now: number, deadline: number): number {
  return deadline - now;
}

/** When an attempt timed out at `now`: true if the overall request deadline is what expired. */
export function attemptTimeoutIsFinal(now: number, requestDeadline: number): boolean {
  return now >= requestDeadline;
}

export function idleExpired(lastActivity: number, now: number, idleMs: number): boolean {
  return idleMs > 0 && now - lastActivity >= idleMs;
}

/** The grpc-timeout to send upstream for the time left, or undefined when there is no deadline. */
export function grpcTimeoutHeader(now: number, deadline: number): string | undefined {
  return deadline === Infinity ? undefined : formatGrpcTimeout(deadline - now);
}
