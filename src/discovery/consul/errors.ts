/**
 * Errors from talking to the Consul agent, classified so callers can decide:
 * retry with backoff (network, timeout, 5xx, 429, garbage), re-register
 * (404 Unknown check/service ID), or stop and tell the operator (403: the
 * message names the missing permission, parsed from Consul's text).
 *
 * These never become wire responses of the proxy (discovery trouble shows up
 * as `no_endpoints` only when there is truly nothing to route to), so they
 * are not ProxyErrors.
 */

export type ConsulErrorKind = 'network' | 'timeout' | 'http' | 'acl' | 'garbage';

export interface PermissionDenied {
  /** e.g. 'service:write' */
  readonly permission: string;
  /** e.g. 'web' (undefined when Consul did not say) */
  readonly resource: string | undefined;
  /** AccessorID of the token, or 'anonymous'. */
  readonly accessor: string | undefined;
}

/** Parse Consul's 403 texts (acl/errors.go). */
export function parsePermissionDenied(body: string): PermissionDenied | undefined {
  const m = /^Permission denied(?::\s*(?:token with AccessorID '([^']*)'|(anonymous) token)\s+lacks permission '([^']+)'(?: on "([^"]*)")?)?/.exec(body.trim());
  if (!m) return undefined;
  if (!m[3]) return { permission: 'unknown', resource: undefined, accessor: undefined };
  return { permission: m[3], resource: m[4], accessor: m[2] ?? m[1] };
}

export class ConsulApiError extends Error {
  readonly kind: ConsulErrorKind;
  readonly status: number | undefined;
  readonly method: string;
  readonly path: string;
  /** Consul's plain-text error body (trimmed). */
  readonly body: string;
  readonly denied: PermissionDenied | undefined;

  constructor(opts: { kind: ConsulErrorKind; method: string; path: string; status?: number; body?: string; message?: string; cause?: unknown }) {
    const body = (opts.body ?? '').trim().slice(0, 500);
    const denied = opts.status === 403 ? parsePermissionDenied(body) : undefined;
    super(opts.message ?? describe(opts.kind, opts.method, opts.path, opts.status, body, denied), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ConsulApiError';
    this.kind = opts.kind;
    this.status = opts.status;
    this.method = opts.method;
    this.path = opts.path;
    this.body = body;
    this.denied = denied;
  }

  /** Worth retrying later without changing anything. */
  get retryable(): boolean {
    if (this.kind === 'network' || this.kind === 'timeout' || this.kind === 'garbage') return true;
    return this.status !== undefined && (this.status >= 500 || this.status === 429);
  }

  /** Consul forgot the check or service (agent restart): re-register. */
  get unknownRegistration(): boolean {
    if (this.status === 404 && /^Unknown (check|service) ID/.test(this.body)) return true;
    // Older agents answer 500 "CheckID ... does not have associated TTL" for unknown IDs too.
    return this.status === 500 && /does not have associated TTL/.test(this.body);
  }
}

function describe(kind: ConsulErrorKind, method: string, path: string, status: number | undefined, body: string, denied: PermissionDenied | undefined): string {
  const what = `consul ${method} ${path}`;
  if (kind === 'acl' || status === 403) {
    if (body === 'ACL not found') return `${what}: the ACL token is not known to Consul (ACL not found); check consul.token, consul.token_file or the token environment variable`;
    if (denied && denied.permission !== 'unknown') {
      const who = denied.accessor === 'anonymous' || denied.accessor === undefined ? 'the anonymous token (no token configured)' : `token ${denied.accessor}`;
      const on = denied.resource !== undefined ? ` on "${denied.resource}"` : '';
      return `${what}: permission denied: ${who} lacks '${denied.permission}'${on}; grant it in the token's ACL policy`;
    }
    return `${what}: permission denied (${body})`;
  }
  if (kind === 'garbage') return `${what}: unusable answer: ${body}`;
  if (kind === 'timeout') return `${what}: timed out`;
  if (kind === 'network') return `${what}: cannot reach the Consul agent: ${body}`;
  return `${what}: HTTP ${status}: ${body}`;
}
