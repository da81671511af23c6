/**
 * Upstream faults and invalid upstream responses, against a real agent:
 *  - invalid responses (CL+TE, bad status lines, ...) → 502
 *    upstream_protocol_error, and that upstream connection is never reused;
 *  - reset after headers and a stall mid-body → the client sees an aborted
 *    response (never a complete-looking one), the reason is counted;
 *  - connect refused (loopback, and a real peer in a namespace) → 503, and
 *    connect timeout (an iptables DROP in a namespace the test creates) → 504;
 *  - keep-alive races: the upstream closes idle connections just as
 *    requests arrive → 0 failed idempotent requests.
 */
import t from 'tap';
import { Client } from 'undici';
import { configFromObject } from '../../src/config/load.ts';
import { startAgent, type RunningAgent } from '../../src/agent/run.ts';
import { silentLogger } from '../../src/telemetry/log.ts';
import { tempRegistry } from '../support/mesh.ts';
import { freePort } from '../support/ports.ts';
import { RawConnection, rawExchange, header } from '../support/raw-http1-client.ts';
import { ok, raw, resetAfterHeaders, stallMidBody, type Reply } from '../support/recording-upstream.ts';
import { startHardened, watchProcess, sleep } from './harness.ts';
import { createDropNamespace } from './netns.ts';

const proc = watchProcess();

const BAD_RESPONSES: Array<[string, string]> = [
  ['Content-Length with Transfer-Encoding', 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
  ['duplicate Content-Length', 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!'],
  ['malformed Content-Length', 'HTTP/1.1 200 OK\r\ncontent-length: 5x\r\n\r\nhello'],
  ['status code of 4 digits', 'HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n'],
  ['status code with letters', 'HTTP/1.1 2x0 OK\r\ncontent-length: 0\r\n\r\n'],
  ['status line without a version', '200 OK\r\ncontent-length: 0\r\n\r\n'],
  ['HTTP/2.0 status line', 'HTTP/2.0 200 OK\r\ncontent-length: 0\r\n\r\n'],
  ['lower-case version', 'http/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'],
  ['no space after the code', 'HTTP/1.1 200OK\r\ncontent-length: 0\r\n\r\n'],
  ['status below 100', 'HTTP/1.1 099 Odd\r\ncontent-length: 0\r\n\r\n'],
  ['NUL in a header', 'HTTP/1.1 200 OK\r\nx: a\x00b\r\ncontent-length: 0\r\n\r\n'],
  ['bare LF line ends', 'HTTP/1.1 200 OK\ncontent-length: 0\n\n'],
  ['obs-fold', 'HTTP/1.1 200 OK\r\nx: a\r\n b\r\ncontent-length: 0\r\n\r\n'],
  ['space before the colon', 'HTTP/1.1 200 OK\r\ncontent-length : 0\r\n\r\n'],
  ['chunked not last', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\n0\r\n\r\n'],
  ['101 to a request without Upgrade', 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n'],
];

t.test('invalid upstream responses → 502 upstream_protocol_error; that connection is never reused', async (t) => {
  const h = await startHardened();
  t.teardown(() => h.stop());
  const client = new Client(`http://127.0.0.1:${h.port}`, { pipelining: 1 });
  t.teardown(() => client.close());
  // Warm one pooled upstream connection.
  const warm = await client.request({ path: '/warm', method: 'GET' });
  await warm.body.dump();
  t.equal(warm.statusCode, 200);
  let expectedConns = 1;
  for (const [name, bytes] of BAD_RESPONSES) {
    h.app.queue(raw(bytes));
    const conn = h.app.connections;
    const r = await client.request({ path: '/bad', method: 'GET' });
    const body = await r.body.text();
    t.equal(r.statusCode, 502, `${name}: 502`);
    t.equal(r.headers['x-aim-mesh-error'], 'upstream_protocol_error', `${name}: reason`);
    t.match(body, /upstream_protocol_error/);
    t.equal(h.app.connections, conn, `${name}: answered on the reused connection`);
    const good = await client.request({ path: '/after', method: 'GET' });
    await good.body.dump();
    t.equal(good.statusCode, 200, `${name}: the next request is fine`);
    expectedConns++;
    t.equal(h.app.connections, expectedConns, `${name}: …and went on a new upstream connection (the bad one was not reused)`);
  }
  await sleep(50);
  t.equal(h.app.sockets.size, 1, 'only the last good connection is still open');
  t.equal(await h.reasonCount('upstream_protocol_error'), BAD_RESPONSES.length);
});

t.test('a framing error in the upstream body after the head went out: aborted downstream, counted, not reused', async (t) => {
  const h = await startHardened();
  t.teardown(() => h.stop());
  h.app.queue(raw('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n'));
  const c = await RawConnection.open(h.port);
  t.teardown(() => c.destroy());
  c.write('GET /chunk HTTP/1.1\r\nHost: api\r\n\r\n');
  await t.rejects(c.response(3000), /ended before a complete response/, 'the client never sees a complete-looking response');
  t.match(c.buffered.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/);
  await sleep(50);
  t.equal(await h.reasonCount('upstream_protocol_error'), 1);
  t.equal(h.app.sockets.size, 0, 'the upstream connection was closed, not pooled');
});

t.test('bytes after a complete upstream response poison that connection', async (t) => {
  const h = await startHardened();
  t.teardown(() => h.stop());
  h.app.queue(raw('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA'));
  const client = new Client(`http://127.0.0.1:${h.port}`, { pipelining: 1 });
  t.teardown(() => client.close());
  const a = await client.request({ path: '/a', method: 'GET' });
  t.equal(await a.body.text(), 'ok');
  const b = await client.request({ path: '/b', method: 'GET' });
  await b.body.dump();
  t.equal(b.statusCode, 200);
  t.equal(h.app.connections, 2, 'the connection that sent bytes past its response was dropped');
});

t.test('upstream reset after headers: the client sees an aborted response, reason upstream_reset', async (t) => {
  const h = await startHardened({ reply: resetAfterHeaders() });
  t.teardown(() => h.stop());
  const c = await RawConnection.open(h.port);
  t.teardown(() => c.destroy());
  c.write('GET /r HTTP/1.1\r\nHost: api\r\n\r\n');
  await t.rejects(c.response(3000), /ended before a complete response/, 'never a complete-looking response');
  t.match(c.buffered.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/, 'the head had been forwarded');
  await sleep(50);
  t.equal(await h.reasonCount('upstream_reset'), 1);
});

t.test('upstream stalls mid-body: stream_idle fires, the client sees an aborted response', async (t) => {
  const h = await startHardened({ reply: stallMidBody(10_000, 100), limits: { stream_idle: '400ms' } });
  t.teardown(() => h.stop());
  const c = await RawConnection.open(h.port);
  t.teardown(() => c.destroy());
  const started = Date.now();
  c.write('GET /s HTTP/1.1\r\nHost: api\r\n\r\n');
  await t.rejects(c.response(5000), /ended before a complete response/);
  t.ok(Date.now() - started >= 350, 'after stream_idle');
  t.ok(c.buffered.length > 100, 'the head and the first body bytes arrived');
  await sleep(50);
  t.equal(await h.reasonCount('upstream_timeout'), 1);
  t.equal(h.app.sockets.size, 0, 'the stalled upstream connection was closed');
});

async function outboundTo(address: string, port: number, upstream: Record<string, unknown>): Promise<{ a: RunningAgent; port: number }> {
  const reg = tempRegistry(`services:\n  api:\n    instances:\n      - { address: ${address}, port: ${port} }\n`);
  const a = await startAgent(configFromObject({
    service: { name: 'web', address: '127.0.0.1:1' }, inbound: { listen: '127.0.0.1:0', mtls: false },
    upstreams: [{ name: 'api', listen: '127.0.0.1:0', ...upstream }], discovery: { registry: reg }, admin: { bind: '127.0.0.1:0' }, drain_timeout: '1s',
  }, 'test'), { log: silentLogger });
  return { a, port: a.agent.listeners.find((l) => l.name === 'outbound:api')!.port };
}

t.test('connect refused on loopback → 503 upstream_connect_failed', async (t) => {
  const closed = await freePort();
  const o = await outboundTo('127.0.0.1', closed, { retries: { attempts: 1 } });
  t.teardown(() => o.a.stop());
  const r = await rawExchange(o.port, 'GET / HTTP/1.1\r\nHost: api\r\n\r\n');
  t.equal(r.response?.status, 503);
  t.equal(r.response && header(r.response, 'x-aim-mesh-error'), 'upstream_connect_failed');
});

t.test('connect timeout and refused from a real peer, in a network namespace with an iptables DROP', async (t) => {
  const ns = createDropNamespace(8080);
  if (ns === undefined) { t.pass('namespace case', { skip: 'needs root, iproute2 and iptables to build a namespace' }); return; }
  t.teardown(() => ns.remove());
  const o = await outboundTo(ns.address, ns.dropPort, { retries: { attempts: 1 }, timeouts: { connect: '300ms' } });
  t.teardown(() => o.a.stop());
  const started = Date.now();
  const r = await rawExchange(o.port, 'GET / HTTP/1.1\r\nHost: api\r\n\r\n');
  t.equal(r.response?.status, 504, 'a dropped SYN: 504');
  t.equal(r.response && header(r.response, 'x-aim-mesh-error'), 'upstream_connect_timeout');
  t.ok(Date.now() - started >= 250, 'after timeouts.connect');

  const o2 = await outboundTo(ns.address, 8081, { retries: { attempts: 1 }, timeouts: { connect: '2s' } });
  t.teardown(() => o2.a.stop());
  const r2 = await rawExchange(o2.port, 'GET / HTTP/1.1\r\nHost: api\r\n\r\n');
  t.equal(r2.response?.status, 503, 'a RST from the peer: 503');
  t.equal(r2.response && header(r2.response, 'x-aim-mesh-error'), 'upstream_connect_failed');
});

/** Answer the first request on each connection; close (FIN or RST) when a second one arrives on it: the keep-alive race. */
function closeOnReuse(rst: boolean): Reply {
  const answered = new Set<number>();
  return (s, req) => {
    if (answered.has(req.conn)) { if (rst) s.resetAndDestroy(); else s.destroy(); return; }
    answered.add(req.conn);
    ok('fine')(s, req);
  };
}

for (const rst of [false, true]) {
  t.test(`keep-alive race (${rst ? 'RST' : 'FIN'} as a request arrives): 0 failed idempotent requests`, async (t) => {
    const h = await startHardened({ reply: closeOnReuse(rst) });
    t.teardown(() => h.stop());
    const client = new Client(`http://127.0.0.1:${h.port}`, { pipelining: 1 });
    t.teardown(() => client.close());
    let failed = 0;
    const N = 150;
    for (let i = 0; i < N; i++) {
      const r = await client.request({ path: `/k${i}`, method: i % 3 === 0 ? 'HEAD' : 'GET' });
      await r.body.dump();
      if (r.statusCode !== 200) failed++;
    }
    t.equal(failed, 0, `${N} requests, none failed`);
    t.ok(h.app.connections >= N, `each request needed a fresh upstream connection (${h.app.connections})`);
    t.ok(h.app.requests.length > N, 'the stale connections were really tried first (and retried)');
  });
}

t.test('no unhandled rejection', async (t) => { t.same(proc.problems, []); });
