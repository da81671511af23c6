/**
 * Issue 2, tests 2-5: header handling as the app sees it, keep-alive reuse,
 * an app that dies mid-response, and no endpoints — through a real agent pair.
 */
import t from 'tap';
import { connect } from 'node:net';
import { request, Agent as UndiciAgent, Client } from 'undici';
import { startHttpUpstream, echoHandler } from '../support/upstreams.ts';
import { startMeshPair, tempRegistry } from '../support/mesh.ts';
import { configFromObject } from '../../src/config/load.ts';
import { startAgent } from '../../src/agent/run.ts';
import { createLogger } from '../../src/telemetry/log.ts';
import { Writable } from 'node:stream';
import pino from 'pino';

interface Echo { method: string; url: string; headers: Record<string, string>; rawHeaders: string[]; bytes: number; httpVersion: string }

t.test('hop-by-hop removal and forwarded headers, as the app sees them', async (t) => {
  const app = await startHttpUpstream();
  const mesh = await startMeshPair({ appPort: app.port, extra: { drain_timeout: '1s' } });
  t.teardown(async () => { await mesh.stop(); await app.close(); });

  // Raw request so we control every header, including ones undici would refuse.
  const raw = await new Promise<string>((resolve, reject) => {
    const s = connect(mesh.port, '127.0.0.1');
    let data = '';
    s.on('data', (b) => { data += b.toString('latin1'); });
    s.on('end', () => resolve(data));
    s.on('error', reject);
    s.write('GET /p?q=1 HTTP/1.1\r\nHost: api\r\nConnection: close, X-Drop-Me\r\nX-Drop-Me: secret\r\nKeep-Alive: timeout=5\r\n'
      + 'Proxy-Connection: keep-alive\r\nTE: trailers\r\nX-Forwarded-For: 203.0.113.9\r\nX-Request-Id: req-42\r\n'
      + 'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\nx-aim-mesh-peer-identity: spiffe://evil/ns/x/dc/y/svc/admin\r\nX-Keep: yes\r\n\r\n');
  });
  const [head, body] = raw.split('\r\n\r\n');
  t.match(head, /^HTTP\/1\.1 200 OK/);
  t.match(head!.toLowerCase(), /connection: close/, 'close requested by the client is honoured');
  const echo = JSON.parse(body!) as Echo;
  const h = echo.headers;
  t.equal(h['x-drop-me'], undefined, 'field named in Connection removed');
  t.equal(h['keep-alive'], undefined, 'Keep-Alive removed');
  t.equal(h['proxy-connection'], undefined, 'Proxy-Connection removed');
  t.equal(h.te, undefined, 'TE removed');
  t.equal(h['x-keep'], 'yes', 'end-to-end header kept');
  t.equal(h['x-forwarded-for'], '203.0.113.9, 127.0.0.1, 127.0.0.1', 'x-forwarded-for appended at each hop');
  t.equal(h['x-forwarded-proto'], 'http, http');
  t.equal(h['x-request-id'], 'req-42', 'request id kept when present');
  t.match(h.traceparent, /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/, 'same trace id');
  t.not(h.traceparent!.split('-')[2], 'b7ad6b7169203331', 'new parent id');
  t.equal(h['x-aim-mesh-peer-identity'], undefined, 'identity header from downstream never trusted (plaintext pair sets none)');
  t.equal(echo.url, '/p?q=1');

  const gen = await request(`http://127.0.0.1:${mesh.port}/x`);
  const e2 = await gen.body.json() as Echo;
  t.match(e2.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'request id generated when absent');
});

t.test('keep-alive: many requests on one client connection reuse upstream connections', async (t) => {
  const app = await startHttpUpstream();
  const mesh = await startMeshPair({ appPort: app.port, extra: { drain_timeout: '1s' } });
  const client = new Client(`http://127.0.0.1:${mesh.port}`, { pipelining: 1 });
  t.teardown(async () => { await client.close(); await mesh.stop(); await app.close(); });
  for (let i = 0; i < 200; i++) {
    const r = await client.request({ path: `/r${i}`, method: 'GET' });
    await r.body.dump();
    t.equal(r.statusCode, 200, `request ${i}`, { diagnostic: false });
  }
  t.equal(app.requests, 200);
  t.ok(app.connections <= 2, `app saw ${app.connections} connection(s) for 200 requests`);
  const clusters = await (await request(`http://127.0.0.1:${mesh.outbound.adminPort}/clusters`)).body.json() as Array<{ name: string; connections: { connects_total: number } }>;
  const api = clusters.find((c) => c.name === 'api')!;
  t.ok(api.connections.connects_total <= 2, `outbound agent opened ${api.connections.connects_total} upstream connection(s)`);
});

t.test('the app closes mid-response: the client sees an aborted response, the log says upstream_reset', async (t) => {
  const app = await startHttpUpstream((req, res) => {
    res.writeHead(200, { 'content-length': '100000' });
    res.write(Buffer.alloc(1000, 120));
    setTimeout(() => req.socket.destroy(), 20);
  });
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(c: Buffer, _e, cb) { for (const l of c.toString().split('\n')) if (l) lines.push(JSON.parse(l)); cb(); } });
  const log = pino({ level: 'info' }, sink);
  const mesh = await startMeshPair({ appPort: app.port, log, extra: { drain_timeout: '1s' } });
  t.teardown(async () => { await mesh.stop(); await app.close(); });
  const r = await request(`http://127.0.0.1:${mesh.port}/big`);
  t.equal(r.statusCode, 200, 'the head had already been sent');
  await t.rejects(r.body.arrayBuffer(), 'the body is aborted, never complete-looking');
  await new Promise((res) => setTimeout(res, 100));
  t.ok(lines.some((l) => l.reason === 'upstream_reset'), 'a log line carries reason upstream_reset');
});

t.test('no endpoints: 503 with reason no_endpoints everywhere', async (t) => {
  const reg = tempRegistry('services:\n  api:\n    instances: []\n');
  const a = await startAgent(configFromObject({
    service: { name: 'web', address: '127.0.0.1:1' }, inbound: { listen: '127.0.0.1:0', mtls: false },
    upstreams: [{ name: 'api', listen: '127.0.0.1:0' }], discovery: { registry: reg }, admin: { bind: '127.0.0.1:0' }, drain_timeout: '1s',
  }), { log: createLogger({ level: 'silent' }) });
  t.teardown(() => a.stop());
  const port = a.agent.listeners.find((l) => l.name === 'outbound:api')!.port;
  const r = await request(`http://127.0.0.1:${port}/x`);
  t.equal(r.statusCode, 503);
  t.equal(r.headers['x-aim-mesh-error'], 'no_endpoints');
  const body = await r.body.json() as { error: string; detail: string };
  t.equal(body.error, 'no_endpoints');
  t.match(body.detail, /api/);
  const metrics = await (await request(`http://127.0.0.1:${a.adminPort}/metrics`)).body.text();
  t.match(metrics, /response_total\{direction="outbound",target="api",classification="failure",status_code="503",reason="no_endpoints"\} 1/);
});

t.test('echo handler sanity (keeps the support module honest)', async (t) => {
  const app = await startHttpUpstream(echoHandler);
  t.teardown(() => app.close());
  const r = await request(`http://127.0.0.1:${app.port}/z`, { method: 'POST', body: 'abc' });
  const e = await r.body.json() as Echo;
  t.equal(e.bytes, 3);
  const c = new UndiciAgent();
  await c.close();
});
