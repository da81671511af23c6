/**
 * Parsing an /explain query into the request it describes:
 *   upstream=NAME     an outbound upstream, or this service's name (inbound)
 *   listener=NAME     pick a listener explicitly (optional)
 *   method=GET  path=/v1/x?q=1  header=name:value (repeatable)
 *   peer=spiffe://…   the caller's identity (inbound authorization)
 *   source=10.0.0.7   the caller's address (per-source limits, source_ip hashing)
 */

export interface ExplainQuery {
  readonly upstream: string | undefined;
  readonly listener: string | undefined;
  readonly method: string;
  readonly path: string;
  /** Flat [name, value, ...], names lower-case. */
  readonly headers: string[];
  readonly peer: string | undefined;
  readonly source: string | undefined;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function parseExplainQuery(p: URLSearchParams): ExplainQuery | { error: string } {
  const method = (p.get('method') ?? 'GET').toUpperCase();
  if (!TOKEN.test(method)) return { error: `method must be an HTTP token (got ${method})` };
  const path = p.get('path') ?? '/';
  if (!path.startsWith('/')) return { error: `path must start with / (got ${path})` };
  const headers: string[] = [];
  for (const h of p.getAll('header')) {
    const i = h.indexOf(':');
    if (i <= 0) return { error: `header must be name:value (got ${h})` };
    const name = h.slice(0, i).trim().toLowerCase();
    if (!TOKEN.test(name)) return { error: `header name must be an HTTP token (got ${name})` };
    headers.push(name, h.slice(i + 1).trim());
  }
  const peer = p.get('peer') ?? undefined;
  if (peer !== undefined && !peer.startsWith('spiffe://')) return { error: `peer must be a SPIFFE ID (got ${peer})` };
  return {
    upstream: p.get('upstream') ?? undefined,
    listener: p.get('listener') ?? undefined,
    method, path, headers, peer,
    source: p.get('source') ?? undefined,
  };
}
