/**
 * The overload manager (src/listeners/overload.ts): above the connection or
 * heap threshold new requests get 503 `overloaded` with Retry-After and the
 * connection closes (HTTP/2: the stream gets the 503); opaque TCP connections are closed at accept; when the
 * load stops the agent serves again. The manager's state machine is tested
 * on its own with fake probes (heap hysteresis, transitions, validation).
 */
import t from 'tap';
import { Writable } from 'node:stream';
import pino from 'pino';
import { connect } from 'node:net';
import { OverloadManager } from '../../src/listeners/overload.ts';
import { configFromObject } from '../../src/config/load.ts';
import { startAgent } from '../../src/agent/run.ts';
import { tempRegistry } from '../support/mesh.ts';
import { startTcpEcho } from '../support/upstreams.ts';
import { RawConnection, rawExchange, header } from '../support/raw-http1-client.ts';
import { startHardened, watchProcess, sleep } from './harness.ts';

const proc = watchProcess();

function capture(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(c: Buffer, _e, cb) { for (const l of c.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); cb(); } });
  return { log: pino({ level: 'info' }, sink), lines };
}

t.test('manager: heap trigger with hysteresis, connection trigger, one log line per transition', async (t) => {
  let heap = 0.5;
  let conns = 0;
  const { log, lines } = capture();
  const m = new OverloadManager({ heapFraction: 0.8, maxConnections: 10, retryAfterMs: 2500, checkIntervalMs: 1000 },
    { heapUsedFraction: () => heap, connections: () => conns }, log);
  m.check();
  t.notOk(m.overloaded);
  heap = 0.79; m.check();
  t.notOk(m.overloaded, 'limit − ε: fine');
  heap = 0.8; m.check();
  t.ok(m.overloaded, 'at the heap limit: overloaded');
  t.equal(m.trigger(), 'heap');
  heap = 0.77; m.check();
  t.ok(m.overloaded, 'still overloaded within the hysteresis margin');
  heap = 0.74; m.check();
  t.notOk(m.overloaded, 'recovered below limit − 0.05');
  conns = 10;
  t.notOk(m.overloaded, 'connections at the limit: fine');
  conns = 11;
  t.ok(m.overloaded, 'connections above the limit: overloaded');
  t.equal(m.trigger(), 'connections');
  const e = m.error();
  t.equal(e.reason, 'overloaded');
  t.equal(e.status, 503);
  t.same(e.headers, { 'retry-after': '3' }, 'Retry-After rounded up to whole seconds');
  conns = 3;
  t.notOk(m.overloaded);
  t.equal(m.stats.entered, 2);
  t.equal(m.stats.shedRequests, 1);
  t.equal(lines.filter((l) => l.msg === 'overload: shedding new requests').length, 2, 'a warn line per entry');
  t.equal(lines.filter((l) => l.msg === 'overload: recovered, accepting requests again').length, 2, 'an info line per recovery');
  t.throws(() => new OverloadManager({ heapFraction: 2, maxConnections: 0, retryAfterMs: 1, checkIntervalMs: 1 }, { heapUsedFraction: () => 0, connections: () => 0 }, log), RangeError);
  t.throws(() => new OverloadManager({ heapFraction: 0.5, maxConnections: -1, retryAfterMs: 1, checkIntervalMs: 1 }, { heapUsedFraction: () => 0, connections: () => 0 }, log), RangeError);
});

t.test('connection threshold: 503 overloaded + Retry-After above it, served again when the load stops', async (t) => {
  const h = await startHardened({ limits: { overload: { max_active_connections: 3, retry_after: '2s' } } });
  t.teardown(() => h.stop());
  const idle: RawConnection[] = [];
  t.teardown(() => { for (const c of idle) c.destroy(); });
  for (let i = 0; i < 2; i++) idle.push(await RawConnection.open(h.port));
  await sleep(50);
  const atLimit = await rawExchange(h.port, 'GET /3 HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n');
  t.equal(atLimit.response?.status, 200, '3 connections (the limit): served');
  idle.push(await RawConnection.open(h.port));
  await sleep(50);
  const over = await rawExchange(h.port, 'GET /4 HTTP/1.1\r\nHost: api\r\n\r\n');
  t.equal(over.response?.status, 503, '4 connections: 503');
  t.equal(over.response && header(over.response, 'x-aim-mesh-error'), 'overloaded');
  t.equal(over.response && header(over.response, 'retry-after'), '2');
  t.equal(over.response && header(over.response, 'connection'), 'close');
  t.ok(over.closed, 'the shed connection is closed');
  t.equal(h.app.requests.length, 1, 'the shed request never reached the upstream');
  t.equal(await h.reasonCount('overloaded'), 1, 'counted as response_total{reason="overloaded"}');
  t.ok(h.lines.some((l) => l.msg === 'overload: shedding new requests' && l.trigger === 'connections'));
  // The load stops: idle connections go away.
  for (const c of idle) c.destroy();
  await sleep(100);
  const after = await rawExchange(h.port, 'GET /5 HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n');
  t.equal(after.response?.status, 200, 'recovered');
  t.equal(h.agent.agent.overload.stats.shedRequests, 1);
});

t.test('heap threshold: every new request is shed while the heap is over it', async (t) => {
  const h = await startHardened({ limits: { overload: { heap_fraction: 0.000001, retry_after: '1500ms' } } });
  t.teardown(() => h.stop());
  for (let i = 0; i < 3; i++) {
    const r = await rawExchange(h.port, `GET /h${i} HTTP/1.1\r\nHost: api\r\n\r\n`);
    t.equal(r.response?.status, 503);
    t.equal(r.response && header(r.response, 'retry-after'), '2');
    t.ok(r.closed);
  }
  t.equal(h.app.bytes, 0, 'nothing reached the upstream');
  t.equal(await h.reasonCount('overloaded'), 3);
  t.equal(h.agent.agent.overload.trigger(), 'heap');
});

t.test('opaque TCP listeners close new connections while overloaded', async (t) => {
  const echo = await startTcpEcho();
  const { log } = capture();
  const a = await startAgent(configFromObject({
    service: { name: 'db', address: `127.0.0.1:${echo.port}`, protocol: 'tcp' }, inbound: { listen: '127.0.0.1:0', mtls: false },
    discovery: { registry: tempRegistry('services: {}\n') }, admin: { bind: '127.0.0.1:0' }, drain_timeout: '1s',
    limits: { overload: { max_active_connections: 1 } },
  }, 'test'), { log });
  t.teardown(async () => { await a.stop(); await echo.close(); });
  const port = a.agent.listeners.find((l) => l.name === 'inbound')!.port;
  const first = connect(port, '127.0.0.1');
  first.on('error', () => {});
  t.teardown(() => first.destroy());
  const echoed = await new Promise<string>((r) => { first.once('data', (b) => r(b.toString())); first.write('ping'); });
  t.equal(echoed, 'ping', 'one connection: proxied');
  const second = connect(port, '127.0.0.1');
  second.on('error', () => {});
  t.teardown(() => second.destroy());
  // One open connection is the limit: a second is still accepted (it makes 2), a third arrives above it.
  const third = connect(port, '127.0.0.1');
  third.on('error', () => {});
  t.teardown(() => third.destroy());
  const closed = await new Promise<boolean>((r) => { third.once('close', () => r(true)); setTimeout(() => r(false), 2000); });
  t.ok(closed, 'a connection accepted while overloaded is closed at once');
  const inbound = a.agent.listeners.find((l) => l.name === 'inbound')!;
  t.ok(inbound.shed >= 1, `listener shed counter: ${inbound.shed}`);
  t.ok(a.agent.overload.stats.shedConnections >= 1);
});


t.test('HTTP/2 streams are shed too: 503 overloaded with Retry-After, served again when the load stops', async (t) => {
  const { connect: h2connect, createServer: h2server } = await import('node:http2');
  // An h2c app: the agent forwards h2 streams to the app as h2c (prior knowledge).
  const seen: string[] = [];
  const app = h2server((req, res) => { seen.push(req.url); res.end('ok'); });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => app.close(() => r())));
  const appPort = (app.address() as { port: number }).port;
  const h = await startHardened({ limits: { overload: { max_active_connections: 1, retry_after: '2s' } },
    extra: { service: { name: 'api', address: `127.0.0.1:${appPort}`, protocol: 'http' } } });
  t.teardown(() => h.stop());
  const ask = (s: import('node:http2').ClientHttp2Session, path: string): Promise<{ status: number; error?: string; retryAfter?: string }> => new Promise((resolve, reject) => {
    const r = s.request({ ':path': path });
    r.on('response', (hd) => { r.resume(); r.on('end', () => resolve({ status: Number(hd[':status']), error: hd['x-aim-mesh-error'] as string | undefined, retryAfter: hd['retry-after'] as string | undefined })); });
    r.on('error', reject);
    r.end();
  });
  const s = h2connect(`http://127.0.0.1:${h.port}`);
  t.teardown(() => s.destroy());
  t.equal((await ask(s, '/one')).status, 200, 'one connection (the limit): served over h2c');
  const extra = await RawConnection.open(h.port);
  t.teardown(() => extra.destroy());
  await sleep(50);
  const shed = await ask(s, '/two');
  t.equal(shed.status, 503, 'two connections: the next stream gets 503');
  t.equal(shed.error, 'overloaded');
  t.equal(shed.retryAfter, '2');
  t.notOk(seen.includes('/two'), 'the shed stream never reached the app');
  extra.destroy();
  await sleep(50);
  t.equal((await ask(s, '/three')).status, 200, 'served again once the load is gone');
});

t.test('no unhandled rejection', async (t) => { t.same(proc.problems, []); });
