/**
 * HTTP/2 hostile input with a raw frame writer (test/support/h2-frames.ts),
 * against a real agent whose inbound h2c port fronts an h2c app that counts
 * the streams it sees: max concurrent streams at limit−1/limit/limit+1,
 * rapid reset (CVE-2023-44487: bounded work, and every reset cancels its
 * upstream stream), CONTINUATION and PING/SETTINGS/empty-frame floods,
 * window overflow, invalid pseudo-headers and connection-specific headers
 * (refused, the app sees nothing), and malformed HPACK over mTLS. For each:
 * the process stays up and keeps serving.
 */
import t from 'tap';
import http2 from 'node:http2';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Writable } from 'node:stream';
import { configFromObject } from '../../src/config/load.ts';
import { startAgent, type RunningAgent } from '../../src/agent/run.ts';
import { buildAgentTls } from '../../src/agent/identity.ts';
import { Endpoint } from '../../src/balancer/endpoint.ts';
import { silentLogger } from '../../src/telemetry/log.ts';
import { tempRegistry } from '../support/mesh.ts';
import { ErrorCode, Flag, FrameType, H2RawConnection, continuation, data, headersFrame, hpack, ping, requestBlock, rstStream, settings, Setting, windowUpdate } from '../support/h2-frames.ts';
import { watchProcess, sleep } from './harness.ts';

const proc = watchProcess();

interface App { port: number; streams: number; active: number; cancelled: number; headers: http2.IncomingHttpHeaders[]; close(): Promise<void> }

/** An h2c app: /hold keeps the stream open until the client goes; anything else answers 200 at once. */
async function startH2App(): Promise<App> {
  const server = http2.createServer();
  const app: App = { port: 0, streams: 0, active: 0, cancelled: 0, headers: [], close: async () => {} };
  server.on('stream', (s, h) => {
    app.streams++;
    app.headers.push(h);
    app.active++;
    s.on('error', () => {});
    s.on('close', () => { app.active--; if (s.rstCode !== 0) app.cancelled++; });
    if (h[':path'] === '/hold') { s.respond({ ':status': 200 }); s.write('x'); return; }
    s.respond({ ':status': 200 });
    s.end('ok');
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  app.port = (server.address() as { port: number }).port;
  app.close = () => new Promise<void>((r) => { for (const s of sessions) s.destroy(); server.close(() => r()); });
  return app;
}

async function startAgentFor(app: App, o: { limits?: Record<string, unknown>; mtls?: string } = {}): Promise<{ a: RunningAgent; port: number; lines: Array<Record<string, unknown>> }> {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(c: Buffer, _e, cb) { for (const l of c.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); cb(); } });
  const log = pino({ level: 'debug' }, sink);
  const cfg = configFromObject({
    service: { name: 'api', address: `127.0.0.1:${app.port}`, protocol: 'http2' },
    inbound: { listen: '127.0.0.1:0', mtls: o.mtls !== undefined },
    discovery: { registry: tempRegistry('services: {}\n') }, admin: { bind: '127.0.0.1:0' }, drain_timeout: '1s',
    limits: { ...o.limits },
  }, 'test');
  const tls = o.mtls !== undefined ? await buildAgentTls(cfg, { 'ca-dir': o.mtls }, log) : undefined;
  const a = await startAgent(cfg, { log, tls });
  return { a, port: a.agent.listeners.find((l) => l.name === 'inbound')!.port, lines };
}

/** A plain GET on a fresh raw connection: the agent still serves. */
async function stillServes(port: number): Promise<boolean> {
  const c = await H2RawConnection.open(port);
  c.write(headersFrame(1, requestBlock('/ok'), { endStream: true }));
  const f = await c.waitFor((x) => x.type === FrameType.HEADERS && x.streamId === 1, 3000);
  c.destroy();
  return f !== undefined && c.status(1) === 200;
}

let app: App;
t.before(async () => { app = await startH2App(); });
t.teardown(() => app.close());

t.test('baseline: a raw HEADERS frame is proxied', async (t) => {
  const { a, port } = await startAgentFor(app);
  t.teardown(() => a.stop());
  t.ok(await stillServes(port));
});

t.test('max concurrent streams at limit−1, limit, limit+1', async (t) => {
  const { a, port } = await startAgentFor(app, { limits: { max_concurrent_streams: 3 } });
  t.teardown(() => a.stop());
  const c = await H2RawConnection.open(port);
  t.teardown(() => c.destroy());
  const s = await c.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0);
  const adv = new Map<number, number>();
  for (let i = 0; s && i < s.payload.length; i += 6) adv.set(s.payload.readUInt16BE(i), s.payload.readUInt32BE(i + 2));
  t.equal(adv.get(Setting.MAX_CONCURRENT_STREAMS), 3, 'SETTINGS_MAX_CONCURRENT_STREAMS = 3 advertised');
  c.write(settings([], true));
  const before = app.streams;
  for (const id of [1, 3, 5]) c.write(headersFrame(id, requestBlock('/hold'), { endStream: true }));
  for (let i = 0; i < 50 && app.streams - before < 3; i++) await sleep(20);
  t.equal(app.streams - before, 3, 'streams 1, 3, 5 (up to the limit) are proxied');
  t.equal(c.goaway(), undefined, 'no error so far');
  c.write(headersFrame(7, requestBlock('/hold'), { endStream: true }));
  const f = await c.waitFor((x) => (x.type === FrameType.RST_STREAM && x.streamId === 7) || x.type === FrameType.GOAWAY, 3000);
  // RFC 9113 §5.1.2: a stream over an acknowledged limit is a PROTOCOL_ERROR or REFUSED_STREAM; nghttp2 ends the session.
  t.ok(f !== undefined, 'stream 7 (limit + 1) is refused');
  t.ok(c.rstCode(7) === ErrorCode.REFUSED_STREAM || c.goaway()?.code === ErrorCode.PROTOCOL_ERROR,
    `REFUSED_STREAM or GOAWAY PROTOCOL_ERROR (rst ${c.rstCode(7)}, goaway ${c.goaway()?.code})`);
  await sleep(100);
  t.equal(app.streams - before, 3, 'stream 7 never reached the app');
  c.destroy();
  await sleep(200);
  t.equal(app.active, 0, 'held upstream streams were cancelled when the session ended');
});

t.test('rapid reset (CVE-2023-44487): bounded, and each reset cancels its upstream stream', async (t) => {
  const before = { streams: app.streams };
  const { a, port } = await startAgentFor(app);
  t.teardown(() => a.stop());
  const c = await H2RawConnection.open(port);
  t.teardown(() => c.destroy());
  const N = 3000;
  const burst: Buffer[] = [];
  for (let i = 0; i < N; i++) { const id = 1 + 2 * i; burst.push(headersFrame(id, requestBlock('/hold'), { endStream: true }), rstStream(id)); }
  c.write(Buffer.concat(burst));
  await c.waitClosed(5000);
  const ga = c.goaway();
  t.ok(ga !== undefined || c.closed, `the session is ended (GOAWAY ${ga ? Object.entries(ErrorCode).find(([, v]) => v === ga.code)?.[0] : 'none'})`);
  await sleep(300);
  const reached = app.streams - before.streams;
  t.ok(reached < N, `far fewer upstream streams than resets (${reached} of ${N})`);
  t.equal(app.active, 0, 'every upstream stream was cancelled: none left open');
  t.ok(await stillServes(port), 'still serving');

  // A client reset cancels the upstream stream it started: 20 held streams, then RST_STREAM on each.
  const c2 = await H2RawConnection.open(port);
  t.teardown(() => c2.destroy());
  const s0 = app.streams, cancelled0 = app.cancelled;
  const ids = Array.from({ length: 20 }, (_, i) => 1 + 2 * i);
  for (const id of ids) c2.write(headersFrame(id, requestBlock('/hold'), { endStream: true }));
  for (let i = 0; i < 100 && app.streams - s0 < ids.length; i++) await sleep(20);
  t.equal(app.streams - s0, ids.length, 'the app holds 20 streams');
  for (const id of ids) c2.write(rstStream(id));
  for (let i = 0; i < 100 && app.cancelled - cancelled0 < ids.length; i++) await sleep(20);
  t.equal(app.cancelled - cancelled0, ids.length, 'each client RST_STREAM cancelled its upstream stream');
  t.equal(app.active, 0);
  t.equal(c2.goaway(), undefined, 'a handful of resets is not an attack: the session stays up');
});

t.test('CONTINUATION flood: refused before it grows without bound', async (t) => {
  const { a, port } = await startAgentFor(app);
  t.teardown(() => a.stop());
  const c = await H2RawConnection.open(port);
  t.teardown(() => c.destroy());
  c.write(headersFrame(1, requestBlock('/c'), { endHeaders: false }));
  const junk = hpack([['x-junk', 'j'.repeat(1000)]]);
  let sent = 0;
  while (!c.closed && sent < 20_000) {
    c.write(Buffer.concat(Array.from({ length: 200 }, () => continuation(1, junk, false))));
    sent += 200;
    await sleep(1);
  }
  t.ok(await c.waitClosed(5000), `the connection was closed after ${sent} CONTINUATION frames`);
  t.ok(await stillServes(port), 'still serving');
});

t.test('floods of PING, SETTINGS and empty DATA frames from a client that does not read', async (t) => {
  const { a, port } = await startAgentFor(app);
  t.teardown(() => a.stop());
  for (const [name, unit] of [
    ['PING', ping(Buffer.alloc(8, 1))],
    ['SETTINGS', settings([[Setting.INITIAL_WINDOW_SIZE, 65535]])],
  ] as Array<[string, Buffer]>) {
    const c = await H2RawConnection.open(port);
    c.sock.pause(); // never read the ACKs
    const blob = Buffer.concat(Array.from({ length: 1000 }, () => unit));
    for (let i = 0; i < 100 && !c.closed; i++) { c.write(blob); await sleep(2); }
    c.sock.resume();
    const closed = await c.waitClosed(5000);
    const ga = c.goaway();
    t.ok(closed || ga?.code === ErrorCode.ENHANCE_YOUR_CALM, `${name} flood: the session is ended (${ga ? `GOAWAY ${ga.code}` : closed ? 'closed' : 'still open'})`);
    c.destroy();
  }
  // Empty DATA frames on an open stream (CVE-2019-9518).
  const c = await H2RawConnection.open(port);
  t.teardown(() => c.destroy());
  c.write(headersFrame(1, requestBlock('/hold', [], 'POST'), { endStream: false }));
  const empties = Buffer.concat(Array.from({ length: 2000 }, () => data(1, Buffer.alloc(0))));
  for (let i = 0; i < 20 && !c.closed; i++) { c.write(empties); await sleep(2); }
  const closed = await c.waitClosed(5000);
  t.ok(closed || c.goaway() !== undefined, 'empty-frame flood: the session is ended');
  await sleep(200);
  t.equal(app.active, 0, 'no upstream stream left behind');
  t.ok(await stillServes(port), 'still serving');
});

t.test('window overflow: FLOW_CONTROL_ERROR', async (t) => {
  const { a, port } = await startAgentFor(app);
  t.teardown(() => a.stop());
  const c = await H2RawConnection.open(port);
  t.teardown(() => c.destroy());
  c.write(windowUpdate(0, 0x7fffffff));
  const ga = await c.waitFor((f) => f.type === FrameType.GOAWAY, 3000);
  t.ok(ga, 'GOAWAY');
  t.equal(c.goaway()?.code, ErrorCode.FLOW_CONTROL_ERROR, 'connection window over 2^31−1');
  const c2 = await H2RawConnection.open(port);
  t.teardown(() => c2.destroy());
  c2.write(headersFrame(1, requestBlock('/hold'), { endStream: true }));
  await c2.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === 1);
  c2.write(windowUpdate(1, 0x7fffffff));
  const rst = await c2.waitFor((f) => (f.type === FrameType.RST_STREAM && f.streamId === 1) || f.type === FrameType.GOAWAY, 3000);
  t.ok(rst, 'the stream (or session) is reset');
  t.equal(rst?.type === FrameType.RST_STREAM ? c2.rstCode(1) : c2.goaway()?.code, ErrorCode.FLOW_CONTROL_ERROR);
  await sleep(200);
  t.ok(await stillServes(port));
});

t.test('invalid pseudo-headers and connection-specific headers: refused, the app sees nothing', async (t) => {
  const { a, port } = await startAgentFor(app);
  t.teardown(() => a.stop());
  const base: Array<[string, string]> = [[':method', 'GET'], [':scheme', 'http'], [':path', '/p'], [':authority', 'api']];
  const cases: Array<[string, Array<[string, string]>]> = [
    ['missing :path', base.filter(([n]) => n !== ':path')],
    ['missing :method', base.filter(([n]) => n !== ':method')],
    ['unknown pseudo-header', [...base, [':evil', 'x']]],
    ['duplicate :path', [...base, [':path', '/q']]],
    ['pseudo-header after a regular one', [[':method', 'GET'], ['x-a', 'b'], [':scheme', 'http'], [':path', '/p'], [':authority', 'api']]],
    ['upper-case header name', [...base, ['X-Upper', 'v']]],
    ['connection header', [...base, ['connection', 'keep-alive']]],
    ['transfer-encoding header', [...base, ['transfer-encoding', 'chunked']]],
    ['keep-alive header', [...base, ['keep-alive', 'timeout=5']]],
    ['upgrade header', [...base, ['upgrade', 'websocket']]],
    ['te other than trailers', [...base, ['te', 'gzip']]],
    ['empty :path', [[':method', 'GET'], [':scheme', 'http'], [':path', ''], [':authority', 'api']]],
    ['CONNECT with :path', [[':method', 'CONNECT'], [':path', '/'], [':authority', 'evil:443']]],
  ];
  const before = app.streams;
  for (const [name, fields] of cases) {
    const c = await H2RawConnection.open(port);
    c.write(headersFrame(1, hpack(fields), { endStream: true }));
    const f = await c.waitFor((x) => (x.type === FrameType.RST_STREAM && x.streamId === 1) || x.type === FrameType.GOAWAY || (x.type === FrameType.HEADERS && x.streamId === 1), 3000);
    const outcome = f === undefined ? (c.closed ? 'closed' : 'nothing') : f.type === FrameType.RST_STREAM ? `RST_STREAM ${c.rstCode(1)}` : f.type === FrameType.GOAWAY ? `GOAWAY ${c.goaway()?.code}` : `HTTP ${c.status(1)}`;
    t.ok(f?.type === FrameType.RST_STREAM || f?.type === FrameType.GOAWAY || c.closed || (c.status(1) ?? 0) >= 400, `${name}: refused (${outcome})`);
    c.destroy();
  }
  await sleep(100);
  t.equal(app.streams, before, 'not one of them reached the app');
  // CR, LF or NUL inside a value: nghttp2 drops the field (RFC 9113 §8.2.1); it must never reach the app.
  for (const [name, v] of [['CR LF', 'a\r\nx-injected: 1'], ['LF', 'a\nb'], ['NUL', 'a\0b'], ['leading space', ' a']] as Array<[string, string]>) {
    const n = app.headers.length;
    const c = await H2RawConnection.open(port);
    c.write(headersFrame(1, hpack([...base, ['x-a', v]]), { endStream: true }));
    await c.waitFor((x) => x.streamId === 1 && (x.type === FrameType.HEADERS || x.type === FrameType.RST_STREAM) || x.type === FrameType.GOAWAY, 3000);
    c.destroy();
    const got = app.headers.slice(n);
    t.ok(got.every((h) => h['x-a'] === undefined && h['x-injected'] === undefined), `${name} in a value: the field never reaches the app (${got.length} stream(s))`);
  }
  for (const h of app.headers) for (const [k, v] of Object.entries(h)) t.notMatch(`${k}: ${String(v)}`, /[\r\n\0]/, 'no CR, LF or NUL in anything the app received', { diagnostic: false });
  t.ok(await stillServes(port));
});

t.test('malformed HPACK over mTLS: COMPRESSION_ERROR, nothing reaches the app', async (t) => {
  const caDir = mkdtempSync(join(tmpdir(), 'aim-hard-h2tls-'));
  const { a, port } = await startAgentFor(app, { mtls: caDir });
  t.teardown(() => a.stop());
  const web = await buildAgentTls(configFromObject({ service: { name: 'web', address: '127.0.0.1:1' }, discovery: { registry: tempRegistry('services: {}\n') }, admin: { bind: '127.0.0.1:0' } }, 'test'), { 'ca-dir': caDir }, silentLogger);
  t.teardown(() => web.close());
  const ep = new Endpoint({ address: '127.0.0.1', port, weight: 1, tags: [], health: 'passing' }, 0, 'api');
  const tlsOpts = { ...web.clientOptions(ep) };
  const ok = await H2RawConnection.open(port, { tls: tlsOpts });
  ok.write(headersFrame(1, requestBlock('/ok'), { endStream: true }));
  await ok.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === 1);
  t.equal(ok.status(1), 200, 'a well-formed request over mTLS + ALPN h2 is served');
  ok.destroy();
  const before = app.streams;
  for (const [name, block] of [
    ['indexed field 0', Buffer.from([0x80])],
    ['index past the tables', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])],
    ['truncated string length', Buffer.from([0x00, 0x7f, 0xff])],
    ['dynamic table size above the limit', Buffer.from([0x3f, 0xff, 0xff, 0xff, 0x0f])],
    ['invalid Huffman padding', Buffer.from([0x00, 0x81, 0x00, 0x81, 0xff])],
  ] as Array<[string, Buffer]>) {
    const c = await H2RawConnection.open(port, { tls: tlsOpts });
    c.write(headersFrame(1, block, { endStream: true }));
    const g = await c.waitFor((f) => f.type === FrameType.GOAWAY, 3000);
    t.ok(g !== undefined || c.closed, `${name}: session ended`);
    if (g) t.equal(c.goaway()?.code, ErrorCode.COMPRESSION_ERROR, `${name}: COMPRESSION_ERROR`);
    c.destroy();
  }
  await sleep(100);
  t.equal(app.streams, before, 'nothing reached the app');
});

t.test('no unhandled rejection', async (t) => { t.same(proc.problems, []); });
