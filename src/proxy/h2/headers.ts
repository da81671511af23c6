/**
 * HTTP/2 request and response heads at the proxy boundary.
 *
 * Validation (RFC 9113 §8.2–8.3), on top of what nghttp2 already enforces
 * (lower-case names, pseudo-headers first, no duplicate pseudo-headers):
 * only the four request pseudo-headers; `:method`, `:scheme` and `:path`
 * present; `:path` in origin form (or `*` for OPTIONS); no CONNECT (the agent
 * is never an open proxy, and extended CONNECT is not offered); no
 * connection-specific fields (`connection`, `keep-alive`, `proxy-connection`,
 * `transfer-encoding`, `upgrade`, and `te` other than `trailers`); `host` and
 * `:authority` must agree when both are sent.
 *
 * Rewriting reuses the HTTP/1 rules (`http1/headers.ts`): internal fields
 * stripped, x-forwarded-*, x-request-id and traceparent handled the same way,
 * so filters and apps see one shape whatever the protocol.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { ProxyError } from '../../core/errors.ts';

const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

export interface H2RequestHead {
  readonly method: string;
  readonly scheme: string;
  /** :authority, or the host field when :authority is absent. */
  readonly authority: string;
  readonly path: string;
  /** Regular fields, flat [name, value, ...], names lower-case, pseudo-headers removed. */
  readonly headers: string[];
  /** The client sent `te: trailers` (gRPC does); it is forwarded. */
  readonly teTrailers: boolean;
}

/** Validate and split the raw request fields from the `stream` event. Throws ProxyError. */
export function parseH2RequestHead(raw: readonly string[], maxUrlBytes: number): H2RequestHead {
  let method: string | undefined, scheme: string | undefined, authority: string | undefined, path: string | undefined;
  let host: string | undefined;
  let teTrailers = false;
  const headers: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name.charCodeAt(0) === 58 /* : */) {
      switch (name) {
        case ':method': method = value; continue;
        case ':scheme': scheme = value; continue;
        case ':authority': authority = value; continue;
        case ':path': path = value; continue;
        default: throw new ProxyError('bad_request', `pseudo-header ${name} is not allowed in a request`);
      }
    }
    if (CONNECTION_SPECIFIC.has(name)) throw new ProxyError('bad_request', `connection-specific field "${name}" is not allowed in HTTP/2`);
    if (name === 'te') {
      if (value.trim().toLowerCase() !== 'trailers') throw new ProxyError('bad_request', 'te other than "trailers" is not allowed in HTTP/2');
      teTrailers = true;
      continue;
    }
    if (name === 'host') {
      if (host !== undefined) throw new ProxyError('bad_request', 'more than one host field');
      host = value;
    }
    headers.push(name, value);
  }
  if (method === undefined || method === '') throw new ProxyError('bad_request', 'missing :method');
  if (method === 'CONNECT') throw new ProxyError('not_an_open_proxy', 'CONNECT is refused');
  if (scheme === undefined || scheme === '') throw new ProxyError('bad_request', 'missing :scheme');
  if (path === undefined || path === '') throw new ProxyError('bad_request', 'missing :path');
  if (path.charCodeAt(0) !== 47 /* / */ && !(path === '*' && method === 'OPTIONS')) {
    throw new ProxyError('not_an_open_proxy', ':path must be in origin form');
  }
  if (path.length > maxUrlBytes) throw new ProxyError('uri_too_long', `:path is ${path.length} bytes (limit ${maxUrlBytes})`);
  if (authority !== undefined && host !== undefined && authority !== host) {
    throw new ProxyError('bad_request', ':authority and host disagree');
  }
  return { method, scheme, authority: authority ?? host ?? '', path, headers, teTrailers };
}

/** Build the header object for the upstream request from the rewritten regular fields. */
export function upstreamRequestHeaders(head: H2RequestHead, regular: readonly string[]): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {
    ':method': head.method,
    ':scheme': head.scheme,
    ':path': head.path,
  };
  if (head.authority !== '') out[':authority'] = head.authority;
  addFlat(out, regular);
  if (head.teTrailers) out.te = 'trailers';
  return out;
}

/** Add a flat [name, value, ...] list to a header object; repeated names become arrays. */
export function addFlat(out: OutgoingHttpHeaders, flat: readonly string[]): void {
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    if (name === 'host') continue; // :authority carries it
    const value = flat[i + 1]!;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [String(prev), value];
  }
}

/**
 * Copy a response (or trailer) header object from upstream for downstream:
 * pseudo-headers other than :status and connection-specific fields dropped.
 */
export function downstreamHeaders(h: IncomingHttpHeaders, keepStatus: boolean): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name of Object.keys(h)) {
    if (name.charCodeAt(0) === 58) {
      if (keepStatus && name === ':status') out[name] = h[name];
      continue;
    }
    if (CONNECTION_SPECIFIC.has(name) || name === 'te') continue;
    out[name] = h[name];
  }
  return out;
}

/** Content-type application/grpc, application/grpc+proto, application/grpc-web... */
export function isGrpcContentType(v: string | undefined): boolean {
  return v !== undefined && v.startsWith('application/grpc');
}
