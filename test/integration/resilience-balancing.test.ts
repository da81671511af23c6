/**
 * Issue 5 tests 9 and 10, end to end over real sockets: `least_request`
 * (P2C over peak-EWMA × active requests) moves load away from a slow
 * endpoint, and `ring_hash` keeps a key (a header) on one endpoint while the
 * set is stable and moves only the removed endpoint's keys (≈ 1/N) when
 * one endpoint leaves the registry.
 */
import t from 'tap';
import { Pool } from 'undici';
import { answer, closer, runPool, send, startOutbound, startServer, type TestServer } from '../support/resilience.ts';

t.test('9. least_request sends >= 80% of requests to the fast endpoints', async (t) => {
  const own = closer(t);
  const slow = await startServer((req, res, n) => { setTimeout(() => answer(200, 'slow')(req, res, n), 150); }); own(slow);
  const fast1 = await startServer(answer(200, 'fast1')); own(fast1);
  const fast2 = await startServer(answer(200, 'fast2')); own(fast2);
  const o = await startOutbound([slow.port, fast1.port, fast2.port], { lb: 'least_request' }); own(o);
  const pool = new Pool(`http://127.0.0.1:${o.port}`, { connections: 8 }); own(pool);
  const N = 400;
  const bodies = await runPool(N, 8, async () => (await send(`http://127.0.0.1:${o.port}/`, { dispatcher: pool })).body);
  const toFast = bodies.filter((b) => b.startsWith('fast')).length;
  t.equal(bodies.filter((b) => b === 'slow').length + toFast, N, 'every request succeeded');
  t.ok(toFast / N >= 0.8, `${toFast}/${N} (${Math.round((100 * toFast) / N)}%) went to the fast endpoints`);
  t.ok(fast1.requests > N / 10 && fast2.requests > N / 10, `both fast endpoints share the load (${fast1.requests}, ${fast2.requests})`);
});

t.test('10. ring_hash: a key stays on its endpoint; removing one endpoint moves only its keys (~1/N)', async (t) => {
  const own = closer(t);
  const servers: TestServer[] = [];
  for (let i = 0; i < 4; i++) { const s = await startServer(answer(200, `s${i}`)); own(s); servers.push(s); }
  const o = await startOutbound(servers.map((s) => s.port), { lb: { policy: 'ring_hash', ring_hash: { hash_on: 'header', name: 'x-user' } } }); own(o);
  const pool = new Pool(`http://127.0.0.1:${o.port}`, { connections: 8 }); own(pool);
  const KEYS = 200;
  const owners = async (): Promise<string[]> => runPool(KEYS, 8, async (i) => (await send(`http://127.0.0.1:${o.port}/`, { dispatcher: pool, headers: { 'x-user': `user-${i}` } })).body);

  const first = await owners();
  t.equal(new Set(first).size, 4, 'keys spread over all four endpoints');
  const second = await owners();
  t.same(second, first, 'with a stable set every key went to the same endpoint again');

  const removed = 's3';
  await o.setEndpoints(servers.slice(0, 3).map((s) => s.port));
  const before = servers[3]!.requests;
  const third = await owners();
  t.equal(servers[3]!.requests, before, 'the removed endpoint receives nothing');
  let moved = 0;
  let wrongMoves = 0;
  for (let i = 0; i < KEYS; i++) {
    if (third[i] === first[i]) continue;
    moved++;
    if (first[i] !== removed) wrongMoves++;
  }
  t.equal(wrongMoves, 0, 'no key of a remaining endpoint moved');
  t.equal(moved, first.filter((b) => b === removed).length, 'exactly the removed endpoint\'s keys moved');
  t.ok(moved / KEYS > 0.1 && moved / KEYS < 0.45, `${moved}/${KEYS} keys moved (about 1/4)`);
});
