/**
 * Hostile HTTP/1 requests, as raw bytes, against a real agent in front of a
 * byte-recording upstream. For every case: the exact status and reason, the
 * connection closed, the reason counted in /metrics `response_total`, the
 * upstream received 0 bytes, and the process stays up with no unhandled
 * rejection. (Envoy's and HAProxy's raw-bytes regression tests, in spirit.)
 */
import t from 'tap';
import { rawExchange, header } from '../support/raw-http1-client.ts';
import { startHardened, watchProcess } from './harness.ts';

const proc = watchProcess();

interface Case { name: string; raw: string; status: number; reason: string }

const H = 'Host: api\r\n';
const CASES: Case[] = [
  { name: 'Content-Length with Transfer-Encoding', raw: `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'Transfer-Encoding before Content-Length', raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc`, status: 400, reason: 'bad_request' },
  { name: 'duplicate Content-Length, same value', raw: `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc`, status: 400, reason: 'bad_request' },
  { name: 'duplicate Content-Length, different values', raw: `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`, status: 400, reason: 'bad_request' },
  { name: 'Content-Length list', raw: `POST / HTTP/1.1\r\n${H}Content-Length: 3, 3\r\n\r\nabc`, status: 400, reason: 'bad_request' },
  { name: 'negative Content-Length', raw: `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'Content-Length with a sign', raw: `POST / HTTP/1.1\r\n${H}Content-Length: +3\r\n\r\nabc`, status: 400, reason: 'bad_request' },
  { name: 'hex Content-Length', raw: `POST / HTTP/1.1\r\n${H}Content-Length: 0x3\r\n\r\nabc`, status: 400, reason: 'bad_request' },
  { name: 'exponent Content-Length', raw: `POST / HTTP/1.1\r\n${H}Content-Length: 1e1\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'empty Content-Length', raw: `POST / HTTP/1.1\r\n${H}Content-Length:\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'huge Content-Length (16 digits)', raw: `POST / HTTP/1.1\r\n${H}Content-Length: 1000000000000000\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'Transfer-Encoding: chunked, gzip (chunked not last)', raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'Transfer-Encoding: gzip (no chunked)', raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'Transfer-Encoding: identity', raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'Transfer-Encoding: xchunked', raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'Transfer-Encoding: chunked twice', raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'Transfer-Encoding with a vertical tab', raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'Transfer-Encoding: "chunked" quoted', raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'Transfer-Encoding in HTTP/1.0', raw: `POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'obs-fold (SP)', raw: `GET / HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'obs-fold (HTAB)', raw: `GET / HTTP/1.1\r\n${H}X-A: a\r\n\tb\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'obs-fold on Transfer-Encoding', raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'bare LF line ends', raw: 'GET / HTTP/1.1\nHost: api\n\n', status: 400, reason: 'bad_request' },
  { name: 'bare LF inside the head', raw: `GET / HTTP/1.1\r\n${H}X: a\nTransfer-Encoding: chunked\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'bare CR inside the head', raw: `GET / HTTP/1.1\r\n${H}X: a\rY: b\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'NUL in a header value', raw: `GET / HTTP/1.1\r\n${H}X: a\x00b\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'NUL in a header name', raw: `GET / HTTP/1.1\r\n${H}X\x00Y: a\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'NUL in the request target', raw: `GET /a\x00b HTTP/1.1\r\n${H}\r\n`, status: 400, reason: 'bad_request' },
  { name: 'DEL in a header value', raw: `GET / HTTP/1.1\r\n${H}X: a\x7fb\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'space before the colon', raw: `GET / HTTP/1.1\r\nHost : api\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'tab before the colon', raw: `GET / HTTP/1.1\r\n${H}Content-Length\t: 0\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'empty header name', raw: `GET / HTTP/1.1\r\n${H}: x\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'duplicate Host', raw: 'GET / HTTP/1.1\r\nHost: api\r\nHost: evil\r\n\r\n', status: 400, reason: 'bad_request' },
  { name: 'missing Host in HTTP/1.1', raw: 'GET / HTTP/1.1\r\nX: y\r\n\r\n', status: 400, reason: 'bad_request' },
  { name: 'HTTP/0.9 request line', raw: 'GET /\r\n\r\n', status: 400, reason: 'bad_request' },
  { name: 'HTTP/2.0 on an HTTP/1 head', raw: `GET / HTTP/2.0\r\n${H}\r\n`, status: 400, reason: 'bad_request' },
  { name: 'HTTP/1.2', raw: `GET / HTTP/1.2\r\n${H}\r\n`, status: 400, reason: 'bad_request' },
  { name: 'lower-case method', raw: `get / HTTP/1.1\r\n${H}\r\n`, status: 400, reason: 'bad_request' },
  { name: 'two spaces in the request line', raw: `GET  / HTTP/1.1\r\n${H}\r\n`, status: 400, reason: 'bad_request' },
  { name: 'absolute-form target', raw: 'GET http://evil.example/ HTTP/1.1\r\nHost: evil.example\r\n\r\n', status: 400, reason: 'not_an_open_proxy' },
  { name: 'absolute-form https target', raw: 'GET https://api/ HTTP/1.1\r\nHost: api\r\n\r\n', status: 400, reason: 'not_an_open_proxy' },
  { name: 'CONNECT', raw: 'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n', status: 400, reason: 'not_an_open_proxy' },
  { name: 'authority-form with GET', raw: 'GET evil.example:80 HTTP/1.1\r\nHost: evil.example\r\n\r\n', status: 400, reason: 'bad_request' },
  { name: 'asterisk-form with GET', raw: `GET * HTTP/1.1\r\n${H}\r\n`, status: 400, reason: 'bad_request' },
  // Body framing errors in the same packet as the head: caught before the upstream is dialled.
  { name: 'chunk size not hex', raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'negative chunk size', raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'chunk size with 0x prefix', raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'chunk size of 16 hex digits', raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n1000000000000000\r\nabc\r\n`, status: 400, reason: 'bad_request' },
  { name: 'chunk size with a space', raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'chunk size ended by a bare LF', raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'chunk data longer than its size', raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'huge chunk extension', raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;${'x'.repeat(5000)}\r\nabc\r\n0\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'NUL in a chunk extension', raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;a=\x00\r\nabc\r\n0\r\n\r\n`, status: 400, reason: 'bad_request' },
  { name: 'obs-fold in the trailer section', raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n`, status: 400, reason: 'bad_request' },
];

t.test('every hostile head: exact answer, connection closed, counted, upstream untouched', async (t) => {
  const h = await startHardened();
  t.teardown(() => h.stop());
  const expected = new Map<string, number>();
  for (const c of CASES) {
    const r = await rawExchange(h.port, c.raw);
    t.ok(r.response, `${c.name}: a complete response`);
    t.equal(r.response?.status, c.status, `${c.name}: status ${c.status}`);
    t.equal(r.response && header(r.response, 'x-aim-mesh-error'), c.reason, `${c.name}: reason ${c.reason}`);
    t.match(r.response?.headers['content-type']?.[0] ?? '', /application\/json/, `${c.name}: JSON error body`);
    t.equal(r.response && header(r.response, 'connection'), 'close', `${c.name}: connection: close`);
    t.ok(r.closed, `${c.name}: the agent closed the connection`);
    expected.set(c.reason, (expected.get(c.reason) ?? 0) + 1);
    t.equal(h.app.bytes, 0, `${c.name}: the upstream received 0 bytes`);
  }
  for (const [reason, n] of expected) t.equal(await h.reasonCount(reason), n, `response_total{reason="${reason}"} = ${n}`);
  t.equal(h.app.connections, 0, 'the upstream was never even dialled');
  // Still serving: a clean request goes through.
  const ok = await rawExchange(h.port, 'GET /fine HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n');
  t.equal(ok.response?.status, 200, 'the agent still serves good requests');
  t.equal(h.app.requests.length, 1);
  t.same(proc.problems, [], 'no unhandled rejection or uncaught exception');
});

t.test('a bad chunk after the head was forwarded: 400, the upstream never sees a complete request', async (t) => {
  const h = await startHardened();
  t.teardown(() => h.stop());
  const r = await rawExchange(h.port, [`POST /up HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n`, 'zz\r\n'], { gapMs: 100 });
  t.equal(r.response?.status, 400);
  t.equal(r.response && header(r.response, 'x-aim-mesh-error'), 'bad_request');
  t.ok(r.closed);
  t.equal(h.app.requests.length, 0, 'no complete request reached the upstream');
  t.equal(await h.reasonCount('bad_request'), 1);
});

t.test('HTTP/1.0 without Host is valid and forwarded', async (t) => {
  const h = await startHardened();
  t.teardown(() => h.stop());
  const r = await rawExchange(h.port, 'GET /old HTTP/1.0\r\n\r\n');
  t.equal(r.response?.status, 200);
  t.equal(h.app.requests.length, 1);
  // Forwarded as HTTP/1.1, which requires Host: the agent names the upstream service.
  t.match(h.app.requests[0]!.head, /^GET \/old HTTP\/1\.1\r\n/);
  t.match(h.app.requests[0]!.head, /\r\nhost: api(\r\n|$)/);
});

t.test('internal headers from downstream are stripped and never trusted', async (t) => {
  const h = await startHardened();
  t.teardown(() => h.stop());
  const r = await rawExchange(h.port, 'GET /i HTTP/1.1\r\nHost: api\r\nConnection: close\r\n'
    + 'x-aim-mesh-peer-identity: spiffe://evil/ns/default/dc/dc1/svc/admin\r\nX-AIM-MESH-ERROR: forged\r\nx-aim-mesh-anything: 1\r\n'
    + 'x-aim-mesh-hops: 2\r\n\r\n');
  t.equal(r.response?.status, 200);
  const head = h.app.requests[0]!.head.toLowerCase();
  t.notMatch(head, /x-aim-mesh-peer-identity/, 'no identity header on a plaintext port, and never the forged one');
  t.notMatch(head, /x-aim-mesh-error|x-aim-mesh-anything|forged|evil/, 'other internal headers stripped');
  t.match(head, /\r\nx-aim-mesh-hops: 3(\r\n|$)/, 'the hop count is our own (incoming + 1), only ever used to refuse loops');
  // A forged hop count can only get a request refused, never let one through.
  const loop = await rawExchange(h.port, 'GET /l HTTP/1.1\r\nHost: api\r\nx-aim-mesh-hops: 99\r\n\r\n');
  t.equal(loop.response?.status, 508);
  t.equal(loop.response && header(loop.response, 'x-aim-mesh-error'), 'loop_detected');
  t.equal(h.app.requests.length, 1, 'the looping request never reached the upstream');
});

t.test('responses the agent generates carry only safe header values', async (t) => {
  const h = await startHardened();
  t.teardown(() => h.stop());
  // A request id with obs-text and a traceparent that is not one: kept only when valid.
  const r = await rawExchange(h.port, 'GET /g HTTP/1.1\r\nHost: api\r\nConnection: close\r\nX-Request-Id: a\xffb\r\ntraceparent: 00-zz\r\n\r\n');
  t.equal(r.response?.status, 200);
  const head = h.app.requests[0]!.head;
  t.notMatch(head, /traceparent/i, 'an invalid traceparent is dropped, not forwarded');
  for (const line of head.split('\r\n')) t.notMatch(line, /[\r\n\0]/, 'no CR, LF or NUL inside any forwarded line');
  const loop = await rawExchange(h.port, 'GET /l HTTP/1.1\r\nHost: api\r\nX-Request-Id: id-1\r\nx-aim-mesh-hops: 99\r\n\r\n');
  t.equal(loop.response && header(loop.response, 'x-request-id'), 'id-1', 'the error reply echoes the request id');
});
