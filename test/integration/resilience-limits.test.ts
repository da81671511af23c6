/**
 * Issue 5 test 6, end to end over real sockets: circuit breaking as
 * resource limits trips at exactly the configured numbers. N requests that
 * hold a limit unit succeed; the N+1-th fails fast with 503 and
 * `x-aim-mesh-error: overflow_<kind>` (or, for max_retries, is answered
 * without its retry).
 *
 * max_pending needs connects that stay pending: a listener (python3) with
 * backlog 0 that never accepts, whose single queue slot the test fills, so
 * the kernel drops further SYNs and the agent's connects hang.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { Pool } from 'undici';
import { answer, closer, metricValue, send, startOutbound, startServer, until, type Reply, type TestServer } from '../support/resilience.ts';

/** A server that holds every request until `open()`. */
async function gated(): Promise<TestServer & { open(): void }> {
  const waiting: Array<() => void> = [];
  let isOpen = false;
  const s = await startServer((req, res) => {
    req.resume();
    const go = (): void => { res.end('done'); };
    if (isOpen) go(); else waiting.push(go);
  });
  return Object.assign(s, { open() { isOpen = true; for (const f of waiting.splice(0)) f(); } });
}

t.test('max_requests: N concurrent requests pass, the N+1-th gets 503 overflow_requests', async (t) => {
  const own = closer(t);
  const s = await gated(); own(s);
  const o = await startOutbound([s.port], { limits: { max_requests: 3 } }); own(o);
  const pool = new Pool(`http://127.0.0.1:${o.port}`, { connections: 8 }); own(pool);
  const url = `http://127.0.0.1:${o.port}/slow`;
  const held = [0, 1, 2].map(() => send(url, { dispatcher: pool }));
  t.ok(await until(() => s.inFlight === 3), 'three requests are at the upstream');
  const over = await send(url, { dispatcher: pool });
  t.equal(over.status, 503);
  t.equal(over.headers['x-aim-mesh-error'], 'overflow_requests');
  t.equal(s.requests, 3, 'the refused request never reached the upstream');
  s.open();
  t.same((await Promise.all(held)).map((r) => r.status), [200, 200, 200], 'the three held requests succeed');
  t.equal((await send(url, { dispatcher: pool })).status, 200, 'units were given back');
  t.equal(o.res.limits.stats.requests.overflows, 1);
  t.equal(await metricValue(o.adminPort, 'overflow_total{direction="outbound",target="api",kind="requests"}'), 1, 'overflow_total{kind="requests"} = 1');
});

t.test('max_connections: N busy upstream connections, the N+1-th request gets 503 overflow_connections', async (t) => {
  const own = closer(t);
  const s = await gated(); own(s);
  const o = await startOutbound([s.port], { limits: { max_connections: 2 } }); own(o);
  const pool = new Pool(`http://127.0.0.1:${o.port}`, { connections: 8 }); own(pool);
  const url = `http://127.0.0.1:${o.port}/slow`;
  const held = [0, 1].map(() => send(url, { dispatcher: pool }));
  t.ok(await until(() => s.inFlight === 2), 'two requests hold two upstream connections');
  const over = await send(url, { dispatcher: pool });
  t.equal(over.status, 503);
  t.equal(over.headers['x-aim-mesh-error'], 'overflow_connections');
  t.equal(s.connections, 2, 'no third connection was opened');
  s.open();
  t.same((await Promise.all(held)).map((r) => r.status), [200, 200]);
  // Idle connections are reused: sequential requests fit in the limit.
  for (let i = 0; i < 4; i++) t.equal((await send(url, { dispatcher: pool })).status, 200, `request ${i} reuses a connection`);
  t.equal(s.connections, 2);
  t.equal(o.res.limits.stats.connections.overflows, 1);
});

t.test('max_retries: N retries in flight; the request that would be the N+1-th is answered without retrying', async (t) => {
  const own = closer(t);
  // The first three requests get 503 with Retry-After: 1, so each retry waits a second holding its unit.
  const s = await startServer((req, res, n) => answer(n <= 3 ? 503 : 200, n <= 3 ? 'busy' : 'ok', n <= 3 ? { 'retry-after': '1' } : {})(req, res, n)); own(s);
  const o = await startOutbound([s.port], { limits: { max_retries: 2 } }); own(o);
  const pool = new Pool(`http://127.0.0.1:${o.port}`, { connections: 8 }); own(pool);
  const url = `http://127.0.0.1:${o.port}/r`;
  const t0 = performance.now();
  const timed = async (): Promise<Reply & { ms: number }> => { const r = await send(url, { dispatcher: pool }); return { ...r, ms: performance.now() - t0 }; };
  const replies = await Promise.all([0, 1, 2].map(timed));
  t.ok(replies.filter((r) => r.status === 200).every((r) => r.ms >= 900), 'the retries honoured Retry-After: 1');
  const statuses = replies.map((r) => r.status).sort();
  t.same(statuses, [200, 200, 503], 'two requests were retried and succeeded; the third got the upstream 503');
  t.equal(s.requests, 5, '3 first attempts + 2 retries');
  t.equal(o.res.limits.stats.retries.overflows, 1, 'one overflow of max_retries');
  t.equal(o.res.retryStats.overflow, 1);
  t.equal(o.res.limits.active('retries'), 0, 'every retry unit was given back');
  t.equal(await metricValue(o.adminPort, 'overflow_total{direction="outbound",target="api",kind="retries"}'), 1);
});

const python = spawnSync('python3', ['-c', 'print(1)']).status === 0;

t.test('max_pending: N requests waiting for a connection, the N+1-th gets 503 overflow_pending', { skip: python ? false : 'python3 is needed for a listener that never accepts' }, async (t) => {
  const own = closer(t);
  const py = spawn('python3', ['-c', [
    'import socket, sys, time',
    's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
    'print(s.getsockname()[1], flush=True)',
    'sys.stdin.read()',
  ].join('\n')], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => { py.stdin.end(); py.kill(); });
  const port = await new Promise<number>((resolve) => py.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
  // Fill the accept queue (backlog 0 = one slot): later SYNs are dropped and connects hang.
  const filler: Socket = await new Promise((resolve) => { const c = connect(port, '127.0.0.1', () => resolve(c)); });
  t.teardown(() => { filler.destroy(); });
  const o = await startOutbound([port], { limits: { max_pending: 2 }, timeouts: { connect: '2s' }, retries: { attempts: 1 } }); own(o);
  const pool = new Pool(`http://127.0.0.1:${o.port}`, { connections: 8 }); own(pool);
  const url = `http://127.0.0.1:${o.port}/p`;
  const held = [0, 1].map(() => send(url, { dispatcher: pool }));
  t.ok(await until(() => o.res.limits.active('pending') === 2), 'two requests wait for a connection');
  const over = await send(url, { dispatcher: pool });
  t.equal(over.status, 503);
  t.equal(over.headers['x-aim-mesh-error'], 'overflow_pending');
  const late = await Promise.all(held);
  t.same(late.map((r) => r.headers['x-aim-mesh-error']), ['upstream_connect_timeout', 'upstream_connect_timeout'], 'the pending ones time out connecting');
  t.equal(o.res.limits.active('pending'), 0, 'pending units were given back');
  t.equal(o.res.limits.stats.pending.overflows, 1);
});
