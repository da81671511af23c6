/**
 * Header rewriting between hops, and serialising heads back to bytes.
 *
 * - Hop-by-hop fields are removed (RFC 9110 §7.6.1): Connection, Keep-Alive,
 *   Proxy-Connection, TE, Upgrade (unless tunnelling), Proxy-Authorization/-Authenticate,
 *   and every field named in Connection. Transfer-Encoding is hop-by-hop too,
 *   but bodies pass through byte for byte, so the framing header is re-emitted
 *   to match the bytes we forward.
 * - Internal fields (`x-aim-mesh-*`, except the hop counter which is checked
 *   separately) are never trusted from downstream: always stripped first.
 * - x-forwarded-for / -proto are appended; x-request-id kept or generated;
 *   W3C traceparent gets a new parent id (our hop's span id).
 *
 * Every value the agent writes is checked for CR/LF/NUL (header injection).
 */
import { randomFillSync, randomUUID } from 'node:crypto';

export const INTERNAL_PREFIX = 'x-aim-mesh-';
export const PEER_IDENTITY_HEADER = 'x-aim-mesh-peer-identity';
export const HOPS_HEADER = 'x-aim-mesh-hops';
export const ERROR_HEADER = 'x-aim-mesh-error';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade', 'transfer-encoding',
  'proxy-authorization', 'proxy-authenticate']);

/**
 * True when a value the agent generates is safe to write: no CR, LF or NUL, and no UTF-16 code unit
 * above 0xFF — heads are written as latin1, which keeps only the low byte, so U+010A would become LF.
 */
export function isSafeHeaderValue(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 13 || c === 10 || c === 0 || c > 0xff) return false;
  }
  return true;
}

/**
 * Replace CR, LF, NUL and other CTLs except HTAB, and code units above 0xFF (see isSafeHeaderValue),
 * with a space: for values we echo back (e.g. the request id in an error reply).
 */
export function sanitizeHeaderValue(v: string): string {
  // eslint-disable-next-line no-control-regex
  return v.replace(/[\x00-\x08\x0a-\x1f\x7f\u0100-\uffff]/g, ' ');
}

// Span ids come from a pool of random bytes refilled 512 ids at a time: one
// CSPRNG call per 512 requests instead of one per request (measured: 2% of CPU).
const ID_POOL = Buffer.alloc(8 * 512);
let idPos = ID_POOL.length;
/** A fresh 16-hex-digit span id. */
export function newSpanId(): string {
  if (idPos === ID_POOL.length) { randomFillSync(ID_POOL); idPos = 0; }
  const s = ID_POOL.toString('hex', idPos, idPos + 8);
  idPos += 8;
  return s;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A traceparent with our span as the new parent, or undefined when the input is invalid. */
export function nextTraceparent(value: string, spanId: string): string | undefined {
  const m = TRACEPARENT.exec(value.trim());
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2]!) ) return undefined;
  return `${m[1]}-${m[2]}-${spanId}-${m[4]}`;
}

export interface ForwardInfo {
  remoteAddress: string;
  /** 'http' | 'https' */
  proto: string;
  /** Keep Upgrade/Connection: upgrade (WebSocket tunnelling). */
  upgrade: boolean;
  /** Set x-request-id when absent; the id used is returned via `out.requestId`. */
  requestId: boolean;
}

export interface RewriteOut {
  requestId: string;
  spanId: string;
  traceparent: string;
  hops: number;
}

/**
 * Rewrite request headers for the next hop. Returns a new flat list; `out`
 * receives the request id, the span id and the incoming hop count.
 */
export function rewriteRequestHeaders(headers: readonly string[], connectionTokens: readonly string[], info: ForwardInfo, out: RewriteOut): string[] {
  const res: string[] = [];
  let xff: string | undefined, xfp: string | undefined, reqId: string | undefined, tp: string | undefined;
  out.hops = 0;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    if (HOP_BY_HOP.has(name) || connectionTokens.includes(name)) continue;
    if (name.startsWith(INTERNAL_PREFIX)) {
      if (name === HOPS_HEADER) { const h = Number(value); out.hops = Number.isInteger(h) && h > 0 ? h : 0; }
      continue;
    }
    switch (name) {
      case 'x-forwarded-for': xff = xff === undefined ? value : `${xff}, ${value}`; continue;
      case 'x-forwarded-proto': xfp = xfp === undefined ? value : `${xfp}, ${value}`; continue;
      case 'x-request-id': if (reqId === undefined) reqId = value; continue;
      case 'traceparent': if (tp === undefined) tp = value; continue;
    }
    res.push(name, value);
  }
  const remote = info.remoteAddress.startsWith('::ffff:') ? info.remoteAddress.slice(7) : info.remoteAddress;
  res.push('x-forwarded-for', xff === undefined ? remote : `${xff}, ${remote}`);
  res.push('x-forwarded-proto', xfp === undefined ? info.proto : `${xfp}, ${info.proto}`);
  if (reqId !== undefined) res.push('x-request-id', reqId);
  else if (info.requestId) { reqId = randomUUID(); res.push('x-request-id', reqId); }
  out.requestId = reqId ?? '';
  out.spanId = newSpanId();
  out.traceparent = '';
  if (tp !== undefined) {
    const next = nextTraceparent(tp, out.spanId);
    if (next !== undefined) { out.traceparent = next; res.push('traceparent', next); }
  }
  if (info.upgrade) {
    const up = headerOf(headers, 'upgrade');
    if (up !== undefined) res.push('connection', 'upgrade', 'upgrade', up);
  }
  return res;
}

/** Strip hop-by-hop and internal fields from a response (keeping Upgrade on a 101). */
export function rewriteResponseHeaders(headers: readonly string[], connectionTokens: readonly string[], keepUpgrade: boolean): string[] {
  const res: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (HOP_BY_HOP.has(name) || connectionTokens.includes(name)) {
      if (keepUpgrade && name === 'upgrade') res.push(name, headers[i + 1]!);
      continue;
    }
    res.push(name, headers[i + 1]!);
  }
  if (keepUpgrade) res.push('connection', 'upgrade');
  return res;
}

export function headerOf(headers: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === lowerName) return headers[i + 1];
  return undefined;
}

/**
 * A request head as a latin1 string (one char per byte). Sockets write it
 * with `write(s, 'latin1')`, which encodes straight into the outgoing buffer:
 * no intermediate Buffer per request.
 */
export function requestHeadString(method: string, target: string, headers: readonly string[]): string {
  // Plain `+`, not template literals: measured ~30% cheaper here (fewer intermediate strings).
  let s = method + ' ' + target + ' HTTP/1.1\r\n';
  for (let i = 0; i < headers.length; i += 2) s = s + headers[i]! + ': ' + headers[i + 1]! + '\r\n';
  return s + '\r\n';
}

/** A response head as a latin1 string (always HTTP/1.1 on the status line, as RFC 9110 allows). */
export function responseHeadString(status: number, statusText: string, headers: readonly string[]): string {
  let s = 'HTTP/1.1 ' + status + ' ' + statusText + '\r\n';
  for (let i = 0; i < headers.length; i += 2) s = s + headers[i]! + ': ' + headers[i + 1]! + '\r\n';
  return s + '\r\n';
}

/** Serialise a request head. */
export function serializeRequestHead(method: string, target: string, headers: readonly string[]): Buffer {
  return Buffer.from(requestHeadString(method, target, headers), 'latin1');
}

/** Serialise a response head. */
export function serializeResponseHead(status: number, statusText: string, headers: readonly string[]): Buffer {
  return Buffer.from(responseHeadString(status, statusText, headers), 'latin1');
}

/**
 * A head and the body bytes that came with it, as one buffer: one write, so one
 * syscall (and one TLS record) for a small response instead of a gathered write.
 */
export function headWithBody(head: string, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(head.length + body.length);
  out.write(head, 0, 'latin1');
  body.copy(out, head.length);
  return out;
}
