/**
 * HTTP plumbing shared by every route of the Consul-API test server,
 * following Consul's `agent/http.go` `wrap()`:
 * - success: `Content-Type: application/json`, minified (`?pretty` indents with
 *   4 spaces plus a newline); a handler that returns nothing answers 200 with
 *   an empty body and no Content-Type;
 * - errors: status plus a plain-text body (`text/plain; charset=utf-8`);
 * - 405 carries `Allow: OPTIONS,<methods>` and `method X not allowed`;
 *   OPTIONS answers 200 with the Allow header;
 * - every response carries `X-Consul-Default-Acl-Policy`;
 * - reads backed by the servers carry X-Consul-Index (never 0),
 *   X-Consul-Knownleader, X-Consul-Lastcontact, X-Consul-Effective-Consistency.
 * Header names are written in Go's canonical form.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export class HttpError extends Error {
  readonly status: number;
  readonly allow: readonly string[] | undefined;
  readonly headers: Record<string, string> | undefined;
  constructor(status: number, message: string, opts?: { allow?: readonly string[]; headers?: Record<string, string> }) {
    super(message);
    this.status = status;
    this.allow = opts?.allow;
    this.headers = opts?.headers;
  }
}

export const badRequest = (msg: string): HttpError => new HttpError(400, msg);
export const notFound = (msg: string): HttpError => new HttpError(404, msg);
export const serverError = (msg: string): HttpError => new HttpError(500, msg);

export type Consistency = 'leader' | 'stale' | 'consistent';

/** What a handler answers. `body === undefined` → 200 with an empty body. */
export interface Reply {
  status?: number;
  body?: unknown;
  /** Raw bytes instead of JSON (kv ?raw, ca roots ?pem). */
  raw?: { contentType: string; data: Buffer | string; headers?: Record<string, string> };
  headers?: Record<string, string>;
  /** Query metadata for reads backed by the servers. */
  meta?: { index: number; consistency?: Consistency; filtered?: boolean; /** Agent-cache endpoints send only X-Consul-Index. */ indexOnly?: boolean };
}

export interface Req {
  readonly method: string;
  /** Decoded path, as Go's net/http routes on it. */
  readonly path: string;
  /** Path after the route prefix (decoded). */
  param: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  /** Aborts when the client goes away. */
  readonly signal: AbortSignal;
  readonly raw: IncomingMessage;
  has(name: string): boolean;
  get(name: string): string | undefined;
  body(): Promise<Buffer>;
  /** JSON body; 400 `Request decode failed: ...` on bad JSON. An empty body decodes to undefined. */
  json(): Promise<unknown>;
}

export function makeReq(raw: IncomingMessage, signal: AbortSignal): Req {
  const url = new URL(raw.url ?? '/', 'http://consul.test');
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    throw badRequest(`invalid URL escape "${url.pathname}"`);
  }
  let cached: Promise<Buffer> | undefined;
  const body = (): Promise<Buffer> => {
    cached ??= new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      raw.on('data', (c: Buffer) => parts.push(c));
      raw.on('end', () => resolve(Buffer.concat(parts)));
      raw.on('error', reject);
    });
    return cached;
  };
  return {
    method: raw.method ?? 'GET',
    path,
    param: '',
    query: url.searchParams,
    headers: raw.headers,
    signal,
    raw,
    has: (n) => url.searchParams.has(n),
    get: (n) => url.searchParams.get(n) ?? undefined,
    body,
    async json() {
      const b = await body();
      if (b.length === 0) return undefined;
      try {
        return JSON.parse(b.toString('utf8')) as unknown;
      } catch (e) {
        throw badRequest(`Request decode failed: ${(e as Error).message}`);
      }
    },
  };
}

export interface WriteOptions { aclDefaultPolicy: 'allow' | 'deny' }

export function writeError(res: ServerResponse, err: HttpError, opts: WriteOptions): void {
  if (res.headersSent) { res.destroy(); return; }
  res.setHeader('X-Consul-Default-Acl-Policy', opts.aclDefaultPolicy);
  if (err.allow) res.setHeader('Allow', err.allow.join(','));
  for (const [k, v] of Object.entries(err.headers ?? {})) res.setHeader(k, v);
  const body = Buffer.from(err.message, 'utf8');
  res.writeHead(err.status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
  res.end(body);
}

export function writeReply(res: ServerResponse, req: Req, reply: Reply, opts: WriteOptions): void {
  res.setHeader('X-Consul-Default-Acl-Policy', opts.aclDefaultPolicy);
  for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
  if (reply.meta) {
    res.setHeader('X-Consul-Index', String(Math.max(1, reply.meta.index)));
  }
  if (reply.meta && !reply.meta.indexOnly) {
    res.setHeader('X-Consul-Knownleader', 'true');
    res.setHeader('X-Consul-Lastcontact', '0');
    res.setHeader('X-Consul-Effective-Consistency', reply.meta.consistency ?? 'leader');
    if (reply.meta.filtered) res.setHeader('X-Consul-Results-Filtered-By-Acls', 'true');
  }
  const status = reply.status ?? 200;
  if (reply.raw) {
    for (const [k, v] of Object.entries(reply.raw.headers ?? {})) res.setHeader(k, v);
    const data = Buffer.from(reply.raw.data);
    res.writeHead(status, { 'Content-Type': reply.raw.contentType, 'Content-Length': data.length });
    res.end(data);
    return;
  }
  if (reply.body === undefined) {
    res.writeHead(status, { 'Content-Length': 0 });
    res.end();
    return;
  }
  const text = req.has('pretty') ? `${JSON.stringify(reply.body, null, 4)}\n` : JSON.stringify(reply.body);
  const data = Buffer.from(text, 'utf8');
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length });
  res.end(data);
}

/** Consistency mode of a read (SPEC §2); 400s on conflicting or bad values. */
export function consistencyOf(req: Req): Consistency {
  const stale = req.has('stale');
  const consistent = req.has('consistent');
  const maxStale = req.get('max_stale');
  if (stale && consistent) throw badRequest('Cannot specify ?stale with ?consistent, conflicting semantics.');
  if (maxStale !== undefined) {
    if (!/^\d+(\.\d+)?(ns|us|µs|ms|s|m|h)$/.test(maxStale)) throw badRequest(`Invalid max_stale value "${maxStale}"`);
    if (consistent) throw badRequest('Cannot specify ?stale with ?consistent, conflicting semantics.');
    return 'stale';
  }
  if (consistent) return 'consistent';
  if (stale) return 'stale';
  return 'leader';
}

/** `?key` bare = true; else strconv.ParseBool; undefined when absent. */
export function boolParam(req: Req, name: string, invalid: string): boolean | undefined {
  if (!req.has(name)) return undefined;
  const v = req.get(name) ?? '';
  if (v === '') return true;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw badRequest(invalid);
}
