/**
 * SPIFFE IDs in Consul's service form: `spiffe://<td>/ns/<ns>/dc/<dc>/svc/<service>`.
 *
 * Pure and strict, because these strings arrive from certificates and config
 * and end up in authz decisions, metric labels and headers:
 * - the scheme is exactly `spiffe://` (lower case);
 * - the trust domain uses only `a-z 0-9 . - _` (SPIFFE spec §2.1): no upper
 *   case, port, user info, or percent-encoding;
 * - path segments are non-empty, use only `A-Z a-z 0-9 . - _`, and are never
 *   `.` or `..` (spec §2.2); no query, fragment, or trailing slash;
 * - at most 2048 bytes in all (spec §2.3), trust domain at most 255.
 * So CR, LF, NUL, spaces, `%`, `?`, `#`, `@`, and `:` can never get through.
 *
 * Only the Consul service form is accepted by `parseSpiffeId`; the agent and
 * partition forms are refused with a reason instead of being half-understood.
 */
import type { SpiffeId } from './types.ts';

export type SpiffeParseResult =
  | { readonly ok: true; readonly id: SpiffeId }
  | { readonly ok: false; readonly error: string };

const SCHEME = 'spiffe://';
const MAX_ID_BYTES = 2048;
const MAX_TRUST_DOMAIN = 255;
const TRUST_DOMAIN_RE = /^[a-z0-9._-]+$/;
const SEGMENT_RE = /^[A-Za-z0-9._-]+$/;

/** True when `td` is a valid SPIFFE trust domain name. */
export function isValidTrustDomain(td: string): boolean {
  return td.length > 0 && td.length <= MAX_TRUST_DOMAIN && TRUST_DOMAIN_RE.test(td);
}

/** True when `s` is a valid SPIFFE path segment (also what ns, dc and service names must be). */
export function isValidSegment(s: string): boolean {
  return s.length > 0 && s !== '.' && s !== '..' && SEGMENT_RE.test(s);
}

/**
 * Split any SPIFFE ID into trust domain and path segments (no Consul form
 * required). Used by verification to tell "not a SPIFFE URI" apart from
 * "a SPIFFE ID we do not understand".
 */
export function splitSpiffeUri(uri: string):
  | { readonly ok: true; readonly trustDomain: string; readonly segments: readonly string[] }
  | { readonly ok: false; readonly error: string } {
  if (!uri.startsWith(SCHEME)) return { ok: false, error: 'scheme must be spiffe://' };
  if (Buffer.byteLength(uri) > MAX_ID_BYTES) return { ok: false, error: 'longer than 2048 bytes' };
  const rest = uri.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const td = slash === -1 ? rest : rest.slice(0, slash);
  if (!isValidTrustDomain(td)) return { ok: false, error: 'invalid trust domain' };
  if (slash === -1) return { ok: true, trustDomain: td, segments: [] };
  const segments = rest.slice(slash + 1).split('/');
  for (const s of segments) {
    if (!isValidSegment(s)) return { ok: false, error: 'invalid or empty path segment' };
  }
  return { ok: true, trustDomain: td, segments };
}

/** Parse a Consul-form service SPIFFE ID. Never throws. */
export function parseSpiffeId(uri: string): SpiffeParseResult {
  const split = splitSpiffeUri(uri);
  if (!split.ok) return split;
  const s = split.segments;
  if (s.length === 0) return { ok: false, error: 'no path: a trust-domain ID is not a workload identity' };
  if (s.length !== 6 || s[0] !== 'ns' || s[2] !== 'dc' || s[4] !== 'svc') {
    return { ok: false, error: 'path is not the service form /ns/<ns>/dc/<dc>/svc/<service>' };
  }
  return {
    ok: true,
    id: { trustDomain: split.trustDomain, namespace: s[1]!, datacenter: s[3]!, service: s[5]! },
  };
}

/** Format a SPIFFE ID; throws RangeError naming the bad part (config-time use only). */
export function formatSpiffeId(id: SpiffeId): string {
  if (!isValidTrustDomain(id.trustDomain)) throw new RangeError(`invalid SPIFFE trust domain: ${JSON.stringify(id.trustDomain)}`);
  for (const [part, v] of [['namespace', id.namespace], ['datacenter', id.datacenter], ['service', id.service]] as const) {
    if (!isValidSegment(v)) throw new RangeError(`invalid SPIFFE ${part}: ${JSON.stringify(v)}`);
  }
  const uri = `${SCHEME}${id.trustDomain}/ns/${id.namespace}/dc/${id.datacenter}/svc/${id.service}`;
  if (Buffer.byteLength(uri) > MAX_ID_BYTES) throw new RangeError('SPIFFE ID longer than 2048 bytes');
  return uri;
}

/** The trust-domain ID (`spiffe://<td>`) a CA root carries as its URI SAN, as Consul's roots do. */
export function trustDomainId(trustDomain: string): string {
  if (!isValidTrustDomain(trustDomain)) throw new RangeError(`invalid SPIFFE trust domain: ${JSON.stringify(trustDomain)}`);
  return `${SCHEME}${trustDomain}`;
}
