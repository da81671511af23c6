/**
 * Issue 5, end to end over real sockets: retries (tests 1, 3, 4, 5 of the
 * issue) through an outbound agent whose upstream points at test servers
 * that misbehave on purpose.
 */
import t from 'tap';
import { Pool } from 'undici';
import { answer, closer, deadPort, metricValue, runPool, send, startOutbound, startServer, type TestServer } from '../support/resilience.ts';

t.test('1. one endpoint failing half its requests: >= 99.9% success over 2,000 GETs', async (t) => {
  const own = closer(t);
  const a = await startServer(answer(200, 'a')); own(a);
  const b = await startServer(answer(200, 'b')); own(b);
  // Deterministic: every other request it sees is a 503.
  const flaky = await startServer((req, res, n) => answer(n % 2 === 0 ? 503 : 200, 'f')(req, res, n)); own(flaky);
  const o = await startOutbound([a.port, b.port, flaky.port], { retries: { backoff: { base: '1ms', max: '5ms' } } }); own(o);
  const pool = new Pool(`http://127.0.0.1:${o.port}`, { connections: 16 }); own(pool);
  const statuses = await runPool(2000, 16, async () => (await send(`http://127.0.0.1:${o.port}/item`, { dispatcher: pool })).status);
  const ok = statuses.filter((s) => s === 200).length;
  t.ok(ok / 2000 >= 0.999, `client success ${ok}/2000`);
  t.ok(flaky.requests > 0, `the flaky endpoint took part (${flaky.requests} requests)`);
  t.ok(o.res.retryStats.retries > 0, `retries absorbed its 503s (${o.res.retryStats.retries} retries)`);
});

t.test('3a. a POST whose body reached the upstream is not retried (reset after reading the body)', async (t) => {
  const own = closer(t);
  let bodies = 0;
  const s = await startServer((req) => { req.on('data', () => {}); req.on('end', () => { bodies++; req.socket.destroy(); }); }); own(s);
  const o = await startOutbound([s.port], { retries: { backoff: { base: '1ms', max: '5ms' } } }); own(o);
  const r = await send(`http://127.0.0.1:${o.port}/orders`, { method: 'POST', body: 'x'.repeat(1000), headers: { 'content-type': 'text/plain' } });
  t.equal(r.status, 502, 'the reset is answered 502');
  t.equal(r.headers['x-aim-mesh-error'], 'upstream_reset');
  t.equal(s.requests, 1, 'the upstream saw the POST exactly once');
  t.equal(bodies, 1);
  t.equal(o.res.retryStats.unsafe_method, 1, 'counted as an unsafe retry refused');
  // The same failure on a GET is retried (the retry reaches the only endpoint again).
  await send(`http://127.0.0.1:${o.port}/orders`);
  t.equal(s.requests, 1 + 3, 'a GET is retried up to attempts (3)');
});

t.test('3b. a POST answered 503 after its body was read is not retried; with Idempotency-Key it is', async (t) => {
  const own = closer(t);
  const seen: number[] = [];
  // The first two requests get 503, later ones 200; each reads the whole body first and records its size.
  const s = await startServer((req, res, n) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => { bytes += c.length; });
    req.on('end', () => { seen.push(bytes); res.writeHead(n <= 2 ? 503 : 200); res.end(n <= 2 ? 'busy' : 'created'); });
  }); own(s);
  const o = await startOutbound([s.port], { retries: { backoff: { base: '1ms', max: '5ms' } } }); own(o);
  const url = `http://127.0.0.1:${o.port}/orders`;
  const body = 'y'.repeat(4096);
  const plain = await send(url, { method: 'POST', body });
  t.equal(plain.status, 503, 'the upstream 503 reaches the client');
  t.equal(plain.body, 'busy');
  t.equal(s.requests, 1, 'no retry without Idempotency-Key');
  const keyed = await send(url, { method: 'POST', body, headers: { 'idempotency-key': 'k-1' } });
  t.equal(keyed.status, 200, 'retried: the second attempt succeeded');
  t.equal(keyed.body, 'created');
  t.equal(s.requests, 3, 'the keyed POST reached the upstream twice');
  t.same(seen, [4096, 4096, 4096], 'the replayed body arrived whole');
  t.equal(o.res.retryStats.unsafe_method, 1);
});

t.test('3c. a POST refused at connect is retried on another endpoint', async (t) => {
  const own = closer(t);
  const good = await startServer(answer(200, 'good')); own(good);
  const dead = await deadPort();
  const o = await startOutbound([dead, good.port], { lb: 'round_robin', retries: { backoff: { base: '1ms', max: '5ms' } }, outlier: { enabled: false } }); own(o);
  for (let i = 0; i < 4; i++) {
    const r = await send(`http://127.0.0.1:${o.port}/orders`, { method: 'POST', body: 'z'.repeat(2000) });
    t.equal(r.status, 200, `POST ${i} succeeded`);
  }
  t.equal(good.requests, 4, 'each POST reached the good endpoint exactly once');
  t.ok(o.res.retryStats.retries >= 1, `connect refusals were retried (${o.res.retryStats.retries})`);
  t.equal(o.res.retryStats.unsafe_method, 0);
});

t.test('a retried request carries the same x-request-id on every attempt', async (t) => {
  const own = closer(t);
  const ids: string[] = [];
  const s = await startServer((req, res, n) => { ids.push(String(req.headers['x-request-id'])); answer(n === 1 || n === 3 ? 503 : 200, 'ok')(req, res, n); }); own(s);
  const o = await startOutbound([s.port], { retries: { backoff: { base: '1ms', max: '5ms' } } }); own(o);
  const generated = await send(`http://127.0.0.1:${o.port}/a`);
  t.equal(generated.status, 200);
  t.equal(ids.length, 2);
  t.ok(ids[0] !== 'undefined' && ids[0] === ids[1], `the agent's generated id is kept across attempts (${ids[0]})`);
  const given = await send(`http://127.0.0.1:${o.port}/b`, { headers: { 'x-request-id': 'client-chosen-42' } });
  t.equal(given.status, 200);
  t.same(ids.slice(2), ['client-chosen-42', 'client-chosen-42'], "the client's id is kept across attempts");
});

t.test('4. total outage: the retry budget prevents a retry storm', async (t) => {
  const own = closer(t);
  const servers: TestServer[] = [];
  for (let i = 0; i < 3; i++) { const s = await startServer(answer(503, 'down')); own(s); servers.push(s); }
  // Outlier detection and breakers off: the endpoints stay in rotation, so only the budget limits retries.
  const o = await startOutbound(servers.map((s) => s.port), {
    retries: { attempts: 3, backoff: { base: '1ms', max: '2ms' } },
    outlier: { enabled: false }, breaker: { enabled: false },
  }); own(o);
  const pool = new Pool(`http://127.0.0.1:${o.port}`, { connections: 8 }); own(pool);
  const before = await metricValue(o.adminPort, 'retry_budget_exhausted_total{');
  const N = 500;
  const t0 = performance.now();
  const statuses = await runPool(N, 8, async () => (await send(`http://127.0.0.1:${o.port}/x`, { dispatcher: pool })).status);
  // The budget's allowance (min_per_second 10 × window 10 s = 100 retries) renews with each window the run spans.
  const windows = Math.ceil((performance.now() - t0) / 10_000);
  t.ok(statuses.every((s) => s === 503), 'every request failed (the outage is total)');
  const upstream = servers.reduce((n, s) => n + s.requests, 0);
  const bound = 1.2 * N + 100 * windows;
  t.ok(upstream <= bound, `upstream saw ${upstream} requests, at most 1.2 × ${N} + 100 × ${windows} window(s) = ${bound} (not ${3 * N})`);
  t.ok(upstream >= N, 'every request reached an upstream at least once');
  t.ok(o.res.retryStats.budget_exhausted > 0, `budget exhausted ${o.res.retryStats.budget_exhausted} times`);
  const after = await metricValue(o.adminPort, 'retry_budget_exhausted_total{');
  t.ok(after - (Number.isNaN(before) ? 0 : before) > 0, `retry_budget_exhausted_total moved (${before} → ${after})`);
});

t.test('5. a per-try timeout on a slow endpoint: the retry succeeds on a fast one within the overall timeout', async (t) => {
  const own = closer(t);
  const timers = new Set<NodeJS.Timeout>();
  t.teardown(() => { for (const x of timers) clearTimeout(x); });
  const slow = await startServer((req, res) => {
    req.resume();
    const x = setTimeout(() => { timers.delete(x); res.end('slow'); }, 3000);
    timers.add(x);
  }); own(slow);
  const fast = await startServer(answer(200, 'fast')); own(fast);
  const o = await startOutbound([slow.port, fast.port], {
    lb: 'round_robin', timeouts: { request: '2500ms' },
    retries: { per_try_timeout: '150ms', backoff: { base: '1ms', max: '5ms' } },
    outlier: { enabled: false },
  }); own(o);
  for (let i = 0; i < 4; i++) {
    const r = await send(`http://127.0.0.1:${o.port}/p`);
    t.equal(r.status, 200, `request ${i}: 200`);
    t.equal(r.body, 'fast', `request ${i}: answered by the fast endpoint`);
  }
  t.ok(slow.requests >= 1, `the slow endpoint was tried (${slow.requests})`);
  t.equal(o.res.retryStats.retries, slow.requests, 'each per-try timeout led to one retry');
});
