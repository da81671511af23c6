/**
 * The one catalogue of reasons the proxy itself can answer with.
 *
 * Layers never write status codes: they produce a `ProxyError` naming a reason
 * from this table, and the single rescue point of each protocol
 * (`proxy/http1/rescue.ts`, `proxy/tcp/forward.ts`, the h2/gRPC rescue) turns it
 * into wire behaviour: status code, `x-aim-mesh-error: <reason>` header, a small
 * JSON body, a metric label and a log field. Keeping the table in one place is
 * what keeps the `reason` label set bounded and documented.
 */

export interface ReasonSpec {
  /** HTTP status answered to HTTP clients. */
  readonly status: number;
  /** gRPC status code answered to gRPC clients (grpc-status). */
  readonly grpc: number;
  /** One line for the README and /explain. */
  readonly help: string;
}

// gRPC status codes we use (https://grpc.github.io/grpc/core/md_doc_statuscodes.html).
export const GrpcCode = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5,
  PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10,
  UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16,
} as const;

const G = GrpcCode;

export const Reasons = {
  bad_request: { status: 400, grpc: G.INTERNAL, help: 'The request could not be parsed or violates HTTP framing rules.' },
  uri_too_long: { status: 414, grpc: G.INTERNAL, help: 'The request target is longer than limits.max_url_bytes.' },
  headers_too_large: { status: 431, grpc: G.INTERNAL, help: 'The header block exceeds limits.max_header_bytes or limits.max_headers.' },
  request_header_timeout: { status: 408, grpc: G.DEADLINE_EXCEEDED, help: 'The request head did not arrive within limits.header_timeout.' },
  not_an_open_proxy: { status: 400, grpc: G.INTERNAL, help: 'Absolute-form or CONNECT targets are refused: the agent is never an open proxy.' },
  no_route: { status: 404, grpc: G.UNIMPLEMENTED, help: 'No route of this listener matched the request.' },
  no_endpoints: { status: 503, grpc: G.UNAVAILABLE, help: 'Discovery has no usable endpoint for the upstream.' },
  upstream_connect_failed: { status: 503, grpc: G.UNAVAILABLE, help: 'Connecting to the chosen endpoint failed (refused, unreachable, TLS).' },
  upstream_connect_timeout: { status: 504, grpc: G.UNAVAILABLE, help: 'Connecting to the chosen endpoint took longer than timeouts.connect.' },
  upstream_reset: { status: 502, grpc: G.UNAVAILABLE, help: 'The upstream closed or reset the connection before the response was complete.' },
  upstream_timeout: { status: 504, grpc: G.DEADLINE_EXCEEDED, help: 'The upstream did not answer within the request or per-try timeout.' },
  upstream_protocol_error: { status: 502, grpc: G.INTERNAL, help: 'The upstream sent an invalid response; the connection is not reused.' },
  upstream_tls_identity: { status: 502, grpc: G.UNAVAILABLE, help: 'The upstream presented a certificate whose SPIFFE identity is not the expected one.' },
  authz_denied: { status: 403, grpc: G.PERMISSION_DENIED, help: 'An intention or authorization rule denied the caller.' },
  rate_limited: { status: 429, grpc: G.RESOURCE_EXHAUSTED, help: 'A rate limit rejected the request; see Retry-After.' },
  overflow_connections: { status: 503, grpc: G.UNAVAILABLE, help: 'Circuit breaker: max upstream connections reached.' },
  overflow_pending: { status: 503, grpc: G.UNAVAILABLE, help: 'Circuit breaker: max pending requests reached.' },
  overflow_requests: { status: 503, grpc: G.UNAVAILABLE, help: 'Circuit breaker: max concurrent requests reached.' },
  overflow_retries: { status: 503, grpc: G.UNAVAILABLE, help: 'Circuit breaker: max active retries reached.' },
  overloaded: { status: 503, grpc: G.UNAVAILABLE, help: 'The overload manager is shedding load; see Retry-After.' },
  fault_abort: { status: 503, grpc: G.UNAVAILABLE, help: 'A configured fault injection aborted the request.' },
  loop_detected: { status: 508, grpc: G.ABORTED, help: 'The hop-count header shows the request looping through agents.' },
  draining: { status: 503, grpc: G.UNAVAILABLE, help: 'The agent is draining and takes no new requests.' },
  downstream_reset: { status: 499, grpc: G.CANCELLED, help: 'The client went away before the response was complete (logged, never sent).' },
  internal_error: { status: 500, grpc: G.INTERNAL, help: 'A bug in the agent. The log line carries the stack.' },
} as const satisfies Record<string, ReasonSpec>;

export type Reason = keyof typeof Reasons;

/** A typed error that travels outward to a rescue point. */
export class ProxyError extends Error {
  readonly reason: Reason;
  readonly detail: string;
  /** Extra response headers the rescue point adds (e.g. Retry-After). */
  readonly headers: Record<string, string> | undefined;

  constructor(reason: Reason, detail: string, opts?: { cause?: unknown; headers?: Record<string, string> }) {
    super(`${reason}: ${detail}`, opts?.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ProxyError';
    this.reason = reason;
    this.detail = detail;
    this.headers = opts?.headers;
  }

  get status(): number {
    return Reasons[this.reason].status;
  }
}

/** Wrap anything thrown into a ProxyError, keeping ProxyErrors as they are. */
export function asProxyError(err: unknown, fallback: Reason = 'internal_error'): ProxyError {
  if (err instanceof ProxyError) return err;
  const e = err as { message?: string } | undefined;
  return new ProxyError(fallback, e?.message ?? String(err), { cause: err });
}
