/**
 * Retry policy: *which* failed attempts may be tried again. Pure and
 * allocation-free; budgets, backoff, limits and deadlines are applied by
 * `decider.ts`, which is what the router asks.
 *
 * Outcome classes (`on`), as in Envoy's `retry_on`:
 *   connect-failure  connecting failed or timed out (nothing was sent)
 *   reset            the upstream closed/reset the connection mid-exchange
 *   gateway-error    502, 503, 504, and every local failure above plus a
 *                    per-try timeout (which the client would see as 504)
 *   5xx              any 5xx, and every local failure
 * plus `statuses` (extra HTTP statuses) and `grpc_codes` (grpc-status values).
 *
 * Method safety (RFC 9110 §9.2.2), the rule Istio users have asked for:
 * idempotent methods (GET HEAD OPTIONS TRACE PUT DELETE) may be retried;
 * others (POST, PATCH, …) only when no byte of the request was written to the
 * upstream, or when the request carries an `Idempotency-Key` header.
 */
import type { Reason } from '../../core/errors.ts';
import type { RequestCtx } from '../../core/filter.ts';
import type { AttemptResult } from '../../balancer/types.ts';

/** gRPC status names (lower-case, as in Envoy's retry_on) → codes. */
export const GrpcCodeNames: Readonly<Record<string, number>> = {
  ok: 0, cancelled: 1, unknown: 2, invalid_argument: 3, deadline_exceeded: 4, not_found: 5, already_exists: 6,
  permission_denied: 7, resource_exhausted: 8, failed_precondition: 9, aborted: 10, out_of_range: 11,
  unimplemented: 12, internal: 13, unavailable: 14, data_loss: 15, unauthenticated: 16,
};

/** What the router knows about a finished attempt, beyond the balancer's AttemptResult. */
export interface AttemptOutcome extends AttemptResult {
  /** grpc-status of the response when known (headers or trailers-only), else −1. */
  readonly grpcStatus: number;
  /** True once any byte of the request (head or body) was written to the upstream connection. */
  readonly requestSent: boolean;
  /** The response's Retry-After header value, if any. */
  readonly retryAfter: string | undefined;
}

export type RetryOn = 'connect-failure' | 'reset' | '5xx' | 'gateway-error';

export interface RetryPolicyOptions {
  /** Total attempts including the first. */
  readonly attempts: number;
  readonly on: readonly RetryOn[];
  readonly statuses?: readonly number[];
  readonly grpc_codes?: readonly number[];
}

const ON_CONNECT = 1;
const ON_RESET = 2;
const ON_5XX = 4;
const ON_GATEWAY = 8;
const FLAG: Record<RetryOn, number> = { 'connect-failure': ON_CONNECT, reset: ON_RESET, '5xx': ON_5XX, 'gateway-error': ON_GATEWAY };

/** Which `on` flags make a local failure reason retryable. */
function reasonMask(reason: Reason): number {
  switch (reason) {
    case 'upstream_connect_failed':
    case 'upstream_connect_timeout':
      return ON_CONNECT | ON_5XX | ON_GATEWAY;
    case 'upstream_reset':
      return ON_RESET | ON_5XX | ON_GATEWAY;
    case 'upstream_timeout': // per-try timeout; the overall deadline is checked by the decider
    case 'upstream_protocol_error':
      return ON_5XX | ON_GATEWAY;
    default:
      return 0;
  }
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export function isIdempotentMethod(method: string): boolean {
  return IDEMPOTENT.has(method);
}

/** The grpc-status header value as a number, −1 when absent or malformed. */
export function grpcStatusOf(headers: readonly string[]): number {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'grpc-status') continue;
    const v = headers[i + 1]!;
    if (v.length === 0 || v.length > 2) return -1;
    const n = Number(v);
    return Number.isInteger(n) && n >= 0 && n <= 16 ? n : -1;
  }
  return -1;
}

export class RetryPolicy {
  readonly maxAttempts: number;
  readonly #on: number;
  readonly #statuses = new Uint8Array(600);
  readonly #grpc = new Uint8Array(17);

  constructor(opts: RetryPolicyOptions) {
    if (!(Number.isInteger(opts.attempts) && opts.attempts >= 1)) throw new RangeError('retries.attempts must be an integer >= 1');
    this.maxAttempts = opts.attempts;
    let on = 0;
    for (const o of opts.on) {
      const f = FLAG[o];
      if (f === undefined) throw new RangeError(`unknown retry_on value: ${o}`);
      on |= f;
    }
    this.#on = on;
    for (const s of opts.statuses ?? []) {
      if (!(Number.isInteger(s) && s >= 100 && s <= 599)) throw new RangeError(`bad retryable status ${s}`);
      this.#statuses[s] = 1;
    }
    for (const g of opts.grpc_codes ?? []) {
      if (!(Number.isInteger(g) && g >= 0 && g <= 16)) throw new RangeError(`bad retryable grpc code ${g}`);
      this.#grpc[g] = 1;
    }
  }

  /** Is this outcome a failure worth another attempt (method safety aside)? */
  retryableOutcome(o: AttemptOutcome): boolean {
    return this.retryable(o.status, o.reason, o.grpcStatus);
  }

  /** The same, from the outcome's fields (status 0 = no response; grpcStatus −1 = none). */
  retryable(status: number, reason: Reason | undefined, grpcStatus: number): boolean {
    const on = this.#on;
    if (reason !== undefined && (reasonMask(reason) & on) !== 0) return true;
    const s = status;
    if (s >= 100 && s <= 599) {
      if (this.#statuses[s] === 1) return true;
      if (s >= 500 && (on & ON_5XX) !== 0) return true;
      if ((s === 502 || s === 503 || s === 504) && (on & ON_GATEWAY) !== 0) return true;
    }
    return grpcStatus >= 0 && grpcStatus <= 16 && this.#grpc[grpcStatus] === 1;
  }

  /** May this request be sent again, given whether any of it reached the upstream? */
  safeToRetry(ctx: RequestCtx, requestSent: boolean): boolean {
    if (IDEMPOTENT.has(ctx.method)) return true;
    if (!requestSent) return true;
    const h = ctx.headers;
    for (let i = 0; i < h.length; i += 2) if (h[i] === 'idempotency-key' && h[i + 1] !== '') return true;
    return false;
  }
}
