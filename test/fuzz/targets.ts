/**
 * Fuzz targets: the parsers and sanitizers we own, each with the invariants
 * an input must never break (a broken one is a crash):
 *
 *  http1-request-head   only ProxyErrors with request-side reasons; an accepted
 *                       head has token names and safe values, and serialises
 *                       back to a head that parses the same
 *  http1-response-head  only upstream_protocol_error (never blame the client)
 *  chunked-body         only ProxyErrors; the verdict does not depend on how
 *                       the bytes are split across reads (streaming parser)
 *  spiffe-id            never throws; what parses formats back to itself and
 *                       carries no CR, LF, NUL, space, %, ?, #, @ or :
 *  header-sanitize      (input as UTF-16) the sanitized value's latin1 bytes
 *                       hold no CR, LF or NUL
 */
import { ProxyError } from '../../src/core/errors.ts';
import { BodyKind, defaultHeadLimits, findHeadEnd, parseRequestHead, parseResponseHead } from '../../src/proxy/http1/head-parser.ts';
import { BodyFraming } from '../../src/proxy/http1/body-framing.ts';
import { isSafeHeaderValue, sanitizeHeaderValue, serializeRequestHead } from '../../src/proxy/http1/headers.ts';
import { formatSpiffeId, parseSpiffeId } from '../../src/identity/spiffe.ts';
import { Crash, type FuzzTarget } from './engine.ts';

const REQUEST_REASONS = new Set(['bad_request', 'headers_too_large', 'uri_too_long', 'not_an_open_proxy']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const limits = { maxHeadBytes: 8192, maxHeaders: 64, maxUrlBytes: 2048 };
const b = (s: string): Buffer => Buffer.from(s, 'latin1');

const HTTP_DICT = ['\r\n', '\r\n\r\n', '\n', '\r', ' ', '\t', ':', ',', ';', 'GET ', 'POST ', 'OPTIONS ', 'CONNECT ', ' HTTP/1.1', ' HTTP/1.0', 'HTTP/1.1 ',
  'Host: a', 'Content-Length: ', 'Transfer-Encoding: ', 'chunked', 'gzip', 'Connection: ', 'close', 'keep-alive', 'upgrade', 'Upgrade: websocket',
  'Expect: 100-continue', '\x00', '\x7f', '\xff', 'http://', '*', '/'];

function expectProxyError(err: unknown, allowed: Set<string>, what: string): void {
  if (!(err instanceof ProxyError)) throw new Crash(`${what}: non-ProxyError thrown: ${String(err)}`);
  if (!allowed.has(err.reason)) throw new Crash(`${what}: unexpected reason ${err.reason} (${err.detail})`);
}

export const requestHead: FuzzTarget = {
  name: 'http1-request-head',
  covers: ['/src/proxy/http1/head-parser.ts'],
  dictionary: HTTP_DICT,
  seeds: [
    b('GET / HTTP/1.1\r\nHost: a\r\n\r\n'),
    b('POST /x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc'),
    b('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\nExpect: 100-continue\r\n\r\n'),
    b('GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'),
    b('OPTIONS * HTTP/1.0\r\n\r\n'),
  ],
  run(input) {
    let head;
    try {
      const end = findHeadEnd(input, limits);
      if (end === -1) return;
      head = parseRequestHead(input, end, limits);
    } catch (err) {
      expectProxyError(err, REQUEST_REASONS, 'request head');
      return;
    }
    for (let i = 0; i < head.headers.length; i += 2) {
      if (!TOKEN.test(head.headers[i]!)) throw new Crash(`accepted a header name that is not a token: ${JSON.stringify(head.headers[i])}`);
      if (!isSafeHeaderValue(head.headers[i + 1]!)) throw new Crash(`accepted an unsafe header value: ${JSON.stringify(head.headers[i + 1])}`);
    }
    if (head.bodyKind === BodyKind.Length && !(Number.isSafeInteger(head.contentLength) && head.contentLength >= 0)) throw new Crash('bad content length');
    if (!head.target.startsWith('/') && head.target !== '*') throw new Crash(`accepted a target that is not origin-form: ${head.target}`);
    // Serialise back (as the agent forwards) and parse again: the same fields.
    // (HTTP/1.0 without Host gets one: the agent forwards as HTTP/1.1.)
    const fields = head.version === 10 && !head.headers.includes('host') ? [...head.headers, 'host', 'api'] : head.headers;
    const again = serializeRequestHead(head.method, head.target, fields);
    const h2 = parseRequestHead(again, findHeadEnd(again, { ...limits, maxHeadBytes: 1 << 20 }), { ...limits, maxHeadBytes: 1 << 20 });
    if (JSON.stringify(h2.headers) !== JSON.stringify(fields) || h2.bodyKind !== head.bodyKind) throw new Crash('re-serialised head parses differently');
  },
};

export const responseHead: FuzzTarget = {
  name: 'http1-response-head',
  covers: ['/src/proxy/http1/head-parser.ts'],
  dictionary: [...HTTP_DICT, '200 OK', '101 Switching Protocols', '204', '304', '100 Continue'],
  seeds: [
    b('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
    b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n'),
    b('HTTP/1.0 304 Not Modified\r\n\r\n'),
    b('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'),
  ],
  run(input) {
    try {
      const end = findHeadEnd(input, defaultHeadLimits, 'upstream_protocol_error');
      if (end === -1) return;
      const head = parseResponseHead(input, end, 'GET', defaultHeadLimits);
      if (head.status < 100 || head.status > 999) throw new Crash(`status out of range: ${head.status}`);
      if (!isSafeHeaderValue(head.statusText)) throw new Crash('unsafe reason phrase accepted');
    } catch (err) {
      if (err instanceof Crash) throw err;
      expectProxyError(err, new Set(['upstream_protocol_error']), 'response head');
    }
  },
};

function frameAll(body: Buffer, splits: number[]): { n: number; done: boolean; err?: string } {
  const f = new BodyFraming('bad_request', { maxChunkExtBytes: 64, maxTrailerBytes: 256 });
  f.reset(BodyKind.Chunked, 0);
  let n = 0;
  let pos = 0;
  try {
    for (const cut of [...splits, body.length]) {
      if (cut <= pos || f.done) continue;
      const piece = body.subarray(pos, cut);
      const used = f.feed(piece, 0);
      if (used < 0 || used > piece.length) throw new Crash(`feed consumed ${used} of ${piece.length}`);
      n += used;
      if (!f.done && used !== piece.length) throw new Crash('stopped early without finishing');
      pos = cut;
    }
  } catch (err) {
    if (err instanceof Crash) throw err;
    expectProxyError(err, new Set(['bad_request']), 'chunked body');
    return { n: -1, done: false, err: (err as ProxyError).detail };
  }
  return { n, done: f.done };
}

export const chunkedBody: FuzzTarget = {
  name: 'chunked-body',
  covers: ['/src/proxy/http1/body-framing.ts'],
  dictionary: ['\r\n', '0\r\n\r\n', ';ext=1', ';a="b"', 'ffff', 'F', '\r\n0\r\n', 'X-Trailer: 1\r\n', '\n', '\r', ' '],
  seeds: [b('3\r\nabc\r\n0\r\n\r\n'), b('a;x=y\r\n0123456789\r\n0\r\nT: v\r\n\r\nNEXT'), b('0\r\n\r\n')],
  run(input) {
    const whole = frameAll(input, []);
    const cut = input.length > 1 ? 1 + (input[0]! % (input.length - 1)) : 0;
    const split = frameAll(input, [cut, Math.min(input.length, cut + 1 + (input[input.length - 1]! % 7))]);
    if (whole.n !== split.n || whole.done !== split.done || (whole.err === undefined) !== (split.err === undefined)) {
      throw new Crash(`split changes the verdict: whole ${JSON.stringify(whole)} vs split at ${cut} ${JSON.stringify(split)}`);
    }
  },
};

export const spiffeId: FuzzTarget = {
  name: 'spiffe-id',
  covers: ['/src/identity/spiffe.ts'],
  dictionary: ['spiffe://', '/ns/', '/dc/', '/svc/', 'default', 'dc1', '..', '.', '%2F', '@', ':8080', '?', '#', '//', 'A', '-', '_'],
  seeds: [b('spiffe://aim.local/ns/default/dc/dc1/svc/api'), b('spiffe://td/ns/a/dc/b/svc/c'), b('spiffe://td')],
  run(input) {
    const s = input.toString('latin1');
    const p = parseSpiffeId(s);
    if (!p.ok) return;
    if (/[\r\n\0 %?#@:]/.test(s.slice('spiffe://'.length))) throw new Crash(`accepted a dangerous character: ${JSON.stringify(s)}`);
    if (formatSpiffeId(p.id) !== s) throw new Crash(`not canonical: ${JSON.stringify(s)}`);
  },
};

export const headerSanitize: FuzzTarget = {
  name: 'header-sanitize',
  covers: ['/src/proxy/http1/headers.ts'],
  dictionary: ['\r\x00', '\n\x00', '\x00\x00', '\x0a\x01', '\x0d\x01', '\x00\x01', '\x00\xd8\x00\xdc'],
  seeds: [Buffer.from('request-id-1', 'utf16le'), Buffer.from('a\u010ab', 'utf16le')],
  run(input) {
    const v = input.subarray(0, input.length & ~1).toString('utf16le');
    const s = sanitizeHeaderValue(v);
    const wire = Buffer.from(s, 'latin1');
    if (wire.includes(13) || wire.includes(10) || wire.includes(0)) throw new Crash(`sanitized value writes CR/LF/NUL: ${JSON.stringify(v)}`);
    if (!isSafeHeaderValue(s)) throw new Crash('sanitized value judged unsafe');
    if (isSafeHeaderValue(v) && Buffer.from(v, 'latin1').some((c) => c === 10 || c === 13 || c === 0)) throw new Crash(`isSafeHeaderValue passed a value that writes CR/LF/NUL: ${JSON.stringify(v)}`);
  },
};

export const TARGETS: readonly FuzzTarget[] = [requestHead, responseHead, chunkedBody, spiffeId, headerSanitize];
