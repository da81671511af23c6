/**
 * The hot-path filter contract (STYLE.md §7).
 *
 * A filter is an object built once, at config time. Its hooks are synchronous
 * and see the request *head* only; bodies stream past untouched. The stack is
 * a plain array walked by index, and each request carries one `RequestCtx`.
 *
 *   onRequest(ctx)   → Verdict.Continue, or Verdict.Reply after setting ctx.error
 *                      (a ProxyError; the rescue point turns it into a response)
 *   onResponse(ctx)  → the response head is known (ctx.status), before it is sent
 *   onDone(ctx)      → the exchange is over: status, reason, bytes, durations;
 *                      feeds metrics, access logs, budgets
 *
 * Per-attempt outcomes (feeding EWMA, breakers and outlier detection) go to
 * the `AttemptObserver`s of the router, not to filters: one request may make
 * several attempts.
 */
import type { ProxyError, Reason } from './errors.ts';
import type { Endpoint } from '../balancer/endpoint.ts';

export const Verdict = { Continue: 0, Reply: 1 } as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

export type Direction = 'inbound' | 'outbound';
export type WireProtocol = 'http/1.0' | 'http/1.1' | 'h2' | 'tcp';

export interface RequestCtx {
  // --- set by the listener/codec before the filters run ---
  direction: Direction;
  /** Listener name (for logs and metrics). */
  listener: string;
  /** Upstream service (outbound) or the local app's service name (inbound). */
  upstream: string;
  protocol: WireProtocol;
  method: string;
  /** Request target as sent (origin-form: path and query). */
  target: string;
  /** Host header or :authority. */
  authority: string;
  /** Request headers, flat [name, value, name, value, ...]; names lower-case. */
  headers: string[];
  /** True when content-type is application/grpc*. */
  grpc: boolean;
  /** The caller's SPIFFE ID (inbound over mTLS), else undefined. */
  peerIdentity: string | undefined;
  /** Downstream socket address, for source-based hashing and logs. */
  remoteAddress: string;
  /** x-request-id (kept or generated). */
  requestId: string;
  /** performance.now() at request-head arrival. */
  startedAt: number;

  // --- set by filters ---
  /** A local reply: set together with returning Verdict.Reply. */
  error: ProxyError | undefined;
  /** Extra request headers to add upstream, flat [name, value, ...]. */
  addRequestHeaders: string[];
  /** Extra response headers to add downstream, flat [name, value, ...]. */
  addResponseHeaders: string[];
  /** Free slot for the route filter: the policy that applies to this request. */
  route: unknown;

  // --- set by the router as the exchange proceeds ---
  endpoint: Endpoint | undefined;
  attempts: number;
  status: number;
  /** Set when the proxy itself failed the request (local reply or broken stream). */
  reason: Reason | undefined;
  /** performance.now() when the response head was sent downstream (0 = not yet). */
  responseStartedAt: number;
  bytesIn: number;
  bytesOut: number;
  /** This hop's span id (16 hex digits), the parent id we send in traceparent; '' when unknown. For access logs. */
  spanId: string;
}

export interface Filter {
  /** Shows up in /explain and logs. */
  readonly name: string;
  onRequest(ctx: RequestCtx): Verdict;
  onResponse?(ctx: RequestCtx): void;
  onDone?(ctx: RequestCtx): void;
  /**
   * For admin /explain: what this filter would do with `ctx`, without side
   * effects (no tokens taken, no counters moved). It may write ctx fields
   * that later filters read (the route filter sets ctx.route). Returning
   * `{ verdict: 'reply', reason }` says the request would be answered here.
   */
  explain?(ctx: RequestCtx): Record<string, unknown> | undefined;
}

/** Fresh context, with every field present so V8 keeps one hidden class. */
export function newRequestCtx(): RequestCtx {
  return {
    direction: 'outbound', listener: '', upstream: '', protocol: 'http/1.1', method: '', target: '',
    authority: '', headers: [], grpc: false, peerIdentity: undefined, remoteAddress: '', requestId: '',
    startedAt: 0, error: undefined, addRequestHeaders: [], addResponseHeaders: [], route: undefined,
    endpoint: undefined, attempts: 0, status: 0, reason: undefined, responseStartedAt: 0, bytesIn: 0, bytesOut: 0,
    spanId: '',
  };
}

/** Run the request hooks in order; stops at the first Reply. Returns the index reached. */
export function runRequestFilters(filters: readonly Filter[], ctx: RequestCtx): Verdict {
  for (let i = 0; i < filters.length; i++) {
    if (filters[i]!.onRequest(ctx) === Verdict.Reply) return Verdict.Reply;
  }
  return Verdict.Continue;
}

export function runResponseFilters(filters: readonly Filter[], ctx: RequestCtx): void {
  for (let i = filters.length - 1; i >= 0; i--) filters[i]!.onResponse?.(ctx);
}

export function runDoneFilters(filters: readonly Filter[], ctx: RequestCtx): void {
  for (let i = filters.length - 1; i >= 0; i--) filters[i]!.onDone?.(ctx);
}

/** Case-insensitive lookup in a flat header list (names already lower-case). */
export function headerValue(headers: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === lowerName) return headers[i + 1];
  return undefined;
}
