/**
 * A strict parser for HTTP/1.x message *heads* (request line or status line,
 * then header fields), working on raw bytes. Bodies are never parsed here:
 * `body-framing.ts` tracks where they end while they stream past.
 *
 * Strictness (the hardening suite and a differential test against node:http
 * hold us to it): CRLF line endings only (bare CR or LF rejected), no NUL or
 * other CTLs, no obs-fold, no whitespace before the colon, header names are
 * tokens, exactly one Host in HTTP/1.1, a single valid Content-Length,
 * Transfer-Encoding together with Content-Length rejected, Transfer-Encoding
 * must end in `chunked` on requests, only HTTP/1.0 and HTTP/1.1, origin-form
 * (or `*` for OPTIONS) targets only: the agent is never an open proxy.
 *
 * `findHeadEnd` scans the bytes once in JS (checking CR/LF as it goes). The
 * parsers then decode the head once as latin1 (byte-preserving) and work on
 * that string: names and values are slices, names are lower-cased only when
 * they have an upper-case letter: about 4x cheaper than a native
 * Buffer.indexOf and toString per field (README, Performance).
 */
import { ProxyError, type Reason } from '../../core/errors.ts';
// node:http through process.getBuiltinModule, not an ESM import: importing it as ESM builds a
// namespace from every export, and its lazy WebSocket/MessageEvent getters load Node's bundled
// undici (~4 MB RSS per agent). README, Performance, Memory.
const { METHODS } = process.getBuiltinModule('node:http');

export interface HeadLimits {
  /** Max bytes of the whole head (request line + headers + CRLFCRLF). */
  readonly maxHeadBytes: number;
  readonly maxHeaders: number;
  readonly maxUrlBytes: number;
}

export const defaultHeadLimits: HeadLimits = { maxHeadBytes: 64 * 1024, maxHeaders: 100, maxUrlBytes: 8 * 1024 };

export const BodyKind = { None: 0, Length: 1, Chunked: 2, UntilClose: 3 } as const;
export type BodyKind = (typeof BodyKind)[keyof typeof BodyKind];

export interface MessageHead {
  /** 10 for HTTP/1.0, 11 for HTTP/1.1 */
  version: 10 | 11;
  /** Flat [name, value, ...] with lower-case names, in arrival order. */
  headers: string[];
  bodyKind: BodyKind;
  /** Valid when bodyKind is Length. */
  contentLength: number;
  /** The peer wants the connection kept open after this message. */
  keepAlive: boolean;
  /** Tokens of the Connection header, lower-case (for hop-by-hop removal). */
  connectionTokens: string[];
  /** Upgrade requested (request) or accepted (101 response). */
  upgrade: boolean;
}

export interface RequestHead extends MessageHead {
  method: string;
  target: string;
  host: string;
  expectContinue: boolean;
}

export interface ResponseHead extends MessageHead {
  status: number;
  statusText: string;
}

const KNOWN_METHODS = new Set(METHODS);

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
const TCHAR = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const ch = String.fromCharCode(c);
  TCHAR[c] = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(ch) ? 1 : 0;
}
// Field value bytes: HTAB, SP, VCHAR, obs-text. Everything else (CTLs incl. NUL, CR, LF, DEL) is refused.
const VALUE_OK = new Uint8Array(256);
for (let c = 0; c < 256; c++) VALUE_OK[c] = c === 9 || (c >= 32 && c !== 127) ? 1 : 0;
// Request-target bytes: visible ASCII only (no SP, no CTL, no obs-text).
const TARGET_OK = new Uint8Array(256);
for (let c = 0; c < 256; c++) TARGET_OK[c] = c > 32 && c < 127 ? 1 : 0;

const CR = 13, LF = 10;

function fail(reason: Reason, detail: string): never {
  throw new ProxyError(reason, detail);
}

/**
 * Where the head ends in `buf` (index just past CRLFCRLF), -1 if not yet
 * complete. Throws on a bare LF or CR seen so far, and when the head is over
 * the size limit, so a hostile peer cannot make us buffer without bound.
 * `from`: bytes before it were scanned by an earlier call on a shorter prefix
 * of the same head (pass that call's buffer length), so a head arriving in
 * many pieces is scanned once, not once per piece.
 */
export function findHeadEnd(buf: Buffer, limits: HeadLimits, reason: Reason = 'headers_too_large', from = 0): number {
  const n = buf.length;
  // One pass in JS: for heads of a few hundred bytes this beats several native indexOf calls.
  // A CR that ended the previous piece is checked again, now that its next byte is here.
  for (let i = from > 0 ? from - 1 : 0; i < n; i++) {
    const b = buf[i]!;
    if (b > CR) continue;
    if (b === LF) {
      if (i === 0 || buf[i - 1] !== CR) badFraming(reason, 'bare LF in message head');
    } else if (b === CR && i + 1 < n) {
      if (buf[i + 1] !== LF) badFraming(reason, 'bare CR in message head');
      if (i >= 2 && buf[i - 1] === LF && buf[i - 2] === CR) {
        if (i + 2 > limits.maxHeadBytes) fail(reason, `message head larger than ${limits.maxHeadBytes} bytes`);
        return i + 2;
      }
    }
  }
  if (n > limits.maxHeadBytes) fail(reason, `message head larger than ${limits.maxHeadBytes} bytes`);
  return -1;
}

/** On the upstream side every error is the upstream's (502), never the client's (400). */
function badFraming(reason: Reason, detail: string): never {
  fail(reason === 'upstream_protocol_error' ? reason : 'bad_request', detail);
}

interface FieldFacts { host: string; hostCount: number; te: string | undefined; expect: boolean; upgradeHdr: boolean }

/**
 * Parse header lines in s[pos, end) (end = index of the final CRLFCRLF + 2).
 * `s` is the head decoded as latin1 (one byte, one char): names and values
 * are slices of it, so the whole head costs one native decode.
 */
function parseFields(s: string, pos: number, end: number, limits: HeadLimits, head: MessageHead, isRequest: boolean): FieldFacts {
  const headers = head.headers;
  let host = '', hostCount = 0, te: string | undefined, clSeen = false, expect = false, upgradeHdr = false;
  let count = 0;
  while (pos < end) {
    const eol = s.indexOf('\r\n', pos);
    // eol < end is guaranteed: the head ends with CRLFCRLF.
    const first = s.charCodeAt(pos);
    if (first === 32 || first === 9) fail('bad_request', 'obsolete line folding (obs-fold) is not accepted');
    let colon = pos;
    let upper = false;
    for (; colon < eol; colon++) {
      const c = s.charCodeAt(colon);
      if (TCHAR[c] !== 1) break;
      if (c >= 65 && c <= 90) upper = true;
    }
    if (colon === pos) fail('bad_request', 'empty or invalid header name');
    if (colon === eol || s.charCodeAt(colon) !== 58 /* : */) {
      const c = s.charCodeAt(colon);
      fail('bad_request', c === 32 || c === 9 ? 'whitespace before the colon in a header field' : 'invalid character in header name');
    }
    let vs = colon + 1;
    while (vs < eol && (s.charCodeAt(vs) === 32 || s.charCodeAt(vs) === 9)) vs++;
    let ve = eol;
    while (ve > vs && (s.charCodeAt(ve - 1) === 32 || s.charCodeAt(ve - 1) === 9)) ve--;
    for (let k = vs; k < ve; k++) if (VALUE_OK[s.charCodeAt(k)] !== 1) fail('bad_request', 'invalid character in header value');
    if (++count > limits.maxHeaders) fail('headers_too_large', `more than ${limits.maxHeaders} header fields`);
    const name = upper ? s.slice(pos, colon).toLowerCase() : s.slice(pos, colon);
    const value = s.slice(vs, ve);
    headers.push(name, value);
    switch (name) {
      case 'content-length': {
        if (clSeen) fail('bad_request', 'duplicate Content-Length');
        clSeen = true;
        head.contentLength = decimal(value);
        break;
      }
      case 'transfer-encoding':
        te = te === undefined ? value : `${te}, ${value}`;
        break;
      case 'connection':
        connectionTokens(value, head.connectionTokens);
        break;
      case 'host':
        hostCount++;
        host = value;
        break;
      case 'expect':
        if (isRequest && value.toLowerCase() === '100-continue') expect = true;
        break;
      case 'upgrade':
        upgradeHdr = true;
        break;
    }
    pos = eol + 2;
  }
  if (clSeen && te !== undefined) fail('bad_request', 'both Content-Length and Transfer-Encoding');
  if (clSeen) head.bodyKind = BodyKind.Length;
  return { host, hostCount, te, expect, upgradeHdr };
}

/** A Content-Length value: 1 to 15 ASCII digits, nothing else. */
function decimal(v: string): number {
  const n = v.length;
  if (n === 0 || n > 15) fail('bad_request', 'malformed Content-Length');
  let x = 0;
  for (let i = 0; i < n; i++) {
    const d = v.charCodeAt(i) - 48;
    if (d < 0 || d > 9) fail('bad_request', 'malformed Content-Length');
    x = x * 10 + d;
  }
  return x;
}

/** The comma-separated tokens of a Connection value, trimmed and lower-cased, appended to `out`. */
function connectionTokens(value: string, out: string[]): void {
  if (value.indexOf(',') === -1) {
    const t = value.trim();
    if (t) out.push(t.toLowerCase());
    return;
  }
  for (const tok of value.split(',')) {
    const t = tok.trim().toLowerCase();
    if (t) out.push(t);
  }
}

function applyTransferEncoding(head: MessageHead, te: string, isRequest: boolean): void {
  const codings = te.split(',').map((s) => s.trim().toLowerCase());
  for (const c of codings) if (!/^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(c)) fail('bad_request', 'malformed Transfer-Encoding');
  const chunkedAt = codings.indexOf('chunked');
  if (chunkedAt !== -1 && chunkedAt !== codings.length - 1) fail('bad_request', 'chunked must be the final transfer coding, and only once');
  if (chunkedAt === -1) {
    // RFC 9112 §6.3: a request whose final coding is not chunked cannot be framed.
    if (isRequest) fail('bad_request', 'Transfer-Encoding without chunked as final coding');
    head.bodyKind = BodyKind.UntilClose;
    return;
  }
  head.bodyKind = BodyKind.Chunked;
}

function keepAliveOf(head: MessageHead): boolean {
  const t = head.connectionTokens;
  if (head.version === 11) return !t.includes('close');
  return t.includes('keep-alive') && !t.includes('close');
}

function newHead(): MessageHead {
  return { version: 11, headers: [], bodyKind: BodyKind.None, contentLength: 0, keepAlive: true, connectionTokens: [], upgrade: false };
}

/** Parse a complete request head: buf[0, headEnd) as found by findHeadEnd. */
export function parseRequestHead(buf: Buffer, headEnd: number, limits: HeadLimits = defaultHeadLimits): RequestHead {
  const s = buf.toString('latin1', 0, headEnd);
  const lineEnd = s.indexOf('\r\n');
  const sp1 = s.indexOf(' ');
  if (sp1 <= 0 || lineEnd === -1 || sp1 > lineEnd) fail('bad_request', 'malformed request line');
  const method = s.slice(0, sp1);
  if (!KNOWN_METHODS.has(method)) fail('bad_request', 'unknown or malformed method');
  const sp2 = s.indexOf(' ', sp1 + 1);
  if (sp2 === -1 || sp2 > lineEnd) fail('bad_request', 'HTTP/0.9 or malformed request line (no HTTP version)');
  if (sp2 - sp1 - 1 > limits.maxUrlBytes) fail('uri_too_long', `request target longer than ${limits.maxUrlBytes} bytes`);
  for (let k = sp1 + 1; k < sp2; k++) if (TARGET_OK[s.charCodeAt(k)] !== 1) fail('bad_request', 'invalid character in request target');
  if (sp2 === sp1 + 1) fail('bad_request', 'empty request target');
  const target = s.slice(sp1 + 1, sp2);
  const ver = s.slice(sp2 + 1, lineEnd);
  const head = newHead() as RequestHead;
  if (ver === 'HTTP/1.1') head.version = 11;
  else if (ver === 'HTTP/1.0') head.version = 10;
  else fail('bad_request', 'unsupported HTTP version');
  if (method === 'CONNECT') fail('not_an_open_proxy', 'CONNECT is not accepted');
  if (target.charCodeAt(0) !== 47 /* / */) {
    if (target === '*' && method === 'OPTIONS') { /* asterisk-form */ }
    else if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(target)) fail('not_an_open_proxy', 'absolute-form request targets are not accepted');
    else fail('bad_request', 'request target must be origin-form');
  }
  head.method = method;
  head.target = target;
  const f = parseFields(s, lineEnd + 2, headEnd - 2, limits, head, true);
  if (f.hostCount > 1) fail('bad_request', 'duplicate Host header');
  if (head.version === 11 && f.hostCount === 0) fail('bad_request', 'missing Host header in HTTP/1.1 request');
  if (f.te !== undefined) {
    if (head.version === 10) fail('bad_request', 'Transfer-Encoding in an HTTP/1.0 request');
    applyTransferEncoding(head, f.te, true);
  }
  head.host = f.host;
  head.expectContinue = f.expect;
  head.keepAlive = keepAliveOf(head);
  head.upgrade = f.upgradeHdr && head.connectionTokens.includes('upgrade');
  return head;
}

/**
 * Parse a complete response head. `requestMethod` decides bodilessness
 * (HEAD) per RFC 9112 §6.3.
 */
export function parseResponseHead(buf: Buffer, headEnd: number, requestMethod: string, limits: HeadLimits = defaultHeadLimits): ResponseHead {
  const s = buf.toString('latin1', 0, headEnd);
  const lineEnd = s.indexOf('\r\n');
  // "HTTP/1.1 200 OK" — the reason phrase may be empty ("HTTP/1.1 200 ").
  if (lineEnd < 12 || s.charCodeAt(8) !== 32 || (lineEnd > 12 && s.charCodeAt(12) !== 32)) fail('upstream_protocol_error', 'malformed status line');
  const head = newHead() as ResponseHead;
  if (s.startsWith('HTTP/1.1')) head.version = 11;
  else if (s.startsWith('HTTP/1.0')) head.version = 10;
  else fail('upstream_protocol_error', 'unsupported HTTP version in status line');
  let status = 0;
  for (let k = 9; k < 12; k++) {
    const d = s.charCodeAt(k) - 48;
    if (d < 0 || d > 9) fail('upstream_protocol_error', 'malformed status code');
    status = status * 10 + d;
  }
  if (status < 100) fail('upstream_protocol_error', 'malformed status code');
  for (let k = 13; k < lineEnd; k++) if (VALUE_OK[s.charCodeAt(k)] !== 1) fail('upstream_protocol_error', 'invalid character in reason phrase');
  head.status = status;
  head.statusText = lineEnd > 13 ? s.slice(13, lineEnd) : '';
  let f;
  try {
    f = parseFields(s, lineEnd + 2, headEnd - 2, limits, head, false);
    if (f.te !== undefined) applyTransferEncoding(head, f.te, false);
  } catch (err) {
    // The same framing errors, but on the upstream's side: a 502, never reused.
    const e = err as ProxyError;
    fail('upstream_protocol_error', e.detail ?? String(err));
  }
  head.keepAlive = keepAliveOf(head);
  head.upgrade = status === 101;
  if (status < 200 || status === 204 || status === 304 || requestMethod === 'HEAD') {
    head.bodyKind = BodyKind.None;
  } else if (head.bodyKind === BodyKind.None) {
    // No Content-Length and no Transfer-Encoding: the body runs until close.
    head.bodyKind = BodyKind.UntilClose;
  }
  if (head.bodyKind === BodyKind.UntilClose) head.keepAlive = false;
  return head;
}
