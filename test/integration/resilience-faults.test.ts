/**
 * Issue 5, end to end over real sockets: fault injection per route,
 * deadlines and the upstream idle timeout. Faults run inside the retry loop on the outbound side, so an
 * injected 503 is absorbed by retries and an injected delay runs under the
 * attempt's per-try and request timeouts; a client's grpc-timeout tightens
 * the request deadline and never loosens it.
 */
import t from 'tap';
import { Pool } from 'undici';
import type { RequestCtx } from '../../src/core/filter.ts';
import { answer, closer, runPool, send, startOutbound, startServer, until, type TestHandler } from '../support/resilience.ts';

/** Answers after `ms` (timers cleared on teardown). */
function slowly(t: { teardown(fn: () => void): void }, ms: number, body: string): TestHandler {
  const timers = new Set<NodeJS.Timeout>();
  t.teardown(() => { for (const x of timers) clearTimeout(x); });
  return (req, res, n) => { const x = setTimeout(() => { timers.delete(x); answer(200, body)(req, res, n); }, ms); timers.add(x); };
}

t.test('abort 503 at 50%: retries absorb it on one route, the client sees it on another', async (t) => {
  const own = closer(t);
  const s = await startServer(answer(200, 'ok')); own(s);
  const o = await startOutbound([s.port], {
    // A generous budget: this test is about the fault, not the budget.
    retries: { backoff: { base: '1ms', max: '2ms' }, budget: { ratio: 2, min_per_second: 100 } },
    routes: [
      { name: 'absorbed', prefix: '/absorbed', retries: { attempts: 10 }, fault: { abort: { status: 503, percentage: 50 } } },
      { name: 'raw', prefix: '/raw', retries: { attempts: 1 }, fault: { abort: { status: 503, percentage: 50 } } },
    ],
  }); own(o);
  const pool = new Pool(`http://127.0.0.1:${o.port}`, { connections: 4 }); own(pool);

  const absorbed = await runPool(100, 4, async () => (await send(`http://127.0.0.1:${o.port}/absorbed`, { dispatcher: pool })).status);
  const ok = absorbed.filter((x) => x === 200).length;
  t.ok(ok >= 95, `retries absorbed the injected 503s: ${ok}/100 succeeded (expected all but ~0.1%)`);
  t.equal(s.requests, ok, 'an injected abort never reaches the upstream');
  const aborts = o.res.routes.match({ method: 'GET', target: '/absorbed', headers: [] } as unknown as RequestCtx).fault!.stats.aborts;
  t.ok(aborts >= 20, `faults were injected (${aborts})`);

  const raw = await runPool(200, 4, async () => {
    const r = await send(`http://127.0.0.1:${o.port}/raw`, { dispatcher: pool });
    return r.status === 503 ? String(r.headers['x-aim-mesh-error']) : String(r.status);
  });
  const faulted = raw.filter((x) => x === 'fault_abort').length;
  t.equal(raw.filter((x) => x === '200').length + faulted, 200, 'each request either passed or got the injected 503');
  t.ok(faulted >= 50 && faulted <= 150, `about half were aborted (${faulted}/200) with x-aim-mesh-error fault_abort`);
});

t.test('abort reset: the client sees a connection reset, the upstream nothing', async (t) => {
  const own = closer(t);
  const s = await startServer(answer(200, 'ok')); own(s);
  const o = await startOutbound([s.port], { routes: [{ prefix: '/reset', fault: { abort: { reset: true } } }] }); own(o);
  const err = await send(`http://127.0.0.1:${o.port}/reset`).then(() => undefined, (e: Error & { code?: string; cause?: { code?: string } }) => e);
  t.ok(err !== undefined, 'the request failed at the socket');
  t.match(String(err?.code ?? err?.cause?.code ?? err?.message), /ECONNRESET|UND_ERR_SOCKET|other side closed/, `a reset (${err?.code ?? err?.message})`);
  t.equal(s.requests, 0);
  t.equal((await send(`http://127.0.0.1:${o.port}/other`)).status, 200, 'other routes are unaffected');
});

t.test('delay: holds the request; runs under the per-try timeout (retries absorb it) and the request timeout', async (t) => {
  const own = closer(t);
  const s = await startServer(answer(200, 'ok')); own(s);
  const o = await startOutbound([s.port], {
    retries: { backoff: { base: '1ms', max: '2ms' }, budget: { ratio: 2, min_per_second: 100 } },
    routes: [
      { prefix: '/delayed', fault: { delay: { fixed: '300ms' } } },
      // 30% of attempts are delayed 3 s; the per-try timeout cuts them off and a retry goes through.
      { prefix: '/pertry', retries: { attempts: 10, per_try_timeout: '100ms' }, fault: { delay: { fixed: '3s', percentage: 30 } } },
      // Every attempt is delayed past the request timeout: 504 when the deadline passes, not after the delay.
      { prefix: '/deadline', timeouts: { request: '200ms' }, retries: { attempts: 1 }, fault: { delay: { fixed: '3s' } } },
    ],
  }); own(o);
  const url = `http://127.0.0.1:${o.port}`;

  let t0 = performance.now();
  t.equal((await send(`${url}/delayed`)).status, 200);
  t.ok(performance.now() - t0 >= 290, 'the delayed request was held for the fixed delay');

  const statuses = await runPool(20, 4, async () => (await send(`${url}/pertry`)).status);
  t.same(statuses.filter((x) => x !== 200), [], 'every request succeeded: per-try timeouts cut the delays off and retries went through');
  t.ok(o.res.retryStats.retries >= 1, `delays were retried (${o.res.retryStats.retries})`);

  t0 = performance.now();
  const late = await send(`${url}/deadline`);
  const took = performance.now() - t0;
  t.equal(late.status, 504);
  t.equal(late.headers['x-aim-mesh-error'], 'upstream_timeout');
  t.ok(took < 2000, `answered at the request deadline (${Math.round(took)} ms), not after the 3 s delay`);
});

t.test('the request timeout on a keep-alive connection: each request gets its own full deadline', async (t) => {
  // One client connection, so every request runs on the same downstream connection (whose
  // attempt timer is re-armed per request, not re-created): an earlier request's deadline must
  // neither cut a later one short nor be forgotten by it.
  const own = closer(t);
  const s = await startServer((req, res, n) => {
    const wait = req.url === '/slow' ? 1_000 : req.url === '/medium' ? 250 : 0;
    setTimeout(() => answer(200, `r${n}`)(req, res, n), wait);
  }); own(s);
  const o = await startOutbound([s.port], { timeouts: { request: '400ms' }, retries: { attempts: 1 } }); own(o);
  const pool = new Pool(`http://127.0.0.1:${o.port}`, { connections: 1 }); own(pool);
  const url = `http://127.0.0.1:${o.port}`;
  t.equal((await send(`${url}/fast`, { dispatcher: pool })).status, 200);
  await new Promise((r) => setTimeout(r, 250));
  // Started 250 ms after the first: a deadline left over from it would fire 150 ms into this one.
  t.equal((await send(`${url}/medium`, { dispatcher: pool })).status, 200, 'a 250 ms answer within its own 400 ms deadline');
  const t0 = performance.now();
  const slow = await send(`${url}/slow`, { dispatcher: pool });
  const took = performance.now() - t0;
  t.equal(slow.status, 504, 'a 1 s answer is cut at the deadline');
  t.equal(slow.headers['x-aim-mesh-error'], 'upstream_timeout');
  t.ok(took >= 380 && took < 900, `at the 400 ms deadline (${Math.round(took)} ms)`);
  t.equal((await send(`${url}/medium`, { dispatcher: pool })).status, 200, 'the next request on the connection has a fresh deadline');
});

t.test('grpc-timeout tightens the request deadline and never loosens it (HTTP/1, gRPC content type)', async (t) => {
  const own = closer(t);
  const s = await startServer(slowly(t, 3000, 'late')); own(s);
  const o = await startOutbound([s.port], {
    timeouts: { request: '10s' },
    retries: { attempts: 1 },
    routes: [{ prefix: '/short', timeouts: { request: '200ms' } }],
  }); own(o);
  const url = `http://127.0.0.1:${o.port}`;
  const grpc = (timeout: string): Record<string, string> => ({ 'content-type': 'application/grpc', 'grpc-timeout': timeout, te: 'trailers' });

  let t0 = performance.now();
  const tightened = await send(`${url}/svc/Method`, { method: 'POST', body: '', headers: grpc('200m') });
  t.equal(tightened.status, 504, 'grpc-timeout 200m beats the 10 s route timeout');
  t.equal(tightened.headers['x-aim-mesh-error'], 'upstream_timeout');
  t.ok(performance.now() - t0 < 2000, 'answered at the client deadline, long before the 3 s upstream');

  t0 = performance.now();
  const notLoosened = await send(`${url}/short/Method`, { method: 'POST', body: '', headers: grpc('20S') });
  t.equal(notLoosened.status, 504, 'grpc-timeout 20S does not extend the 200 ms route timeout');
  t.ok(performance.now() - t0 < 2000, 'answered at the route deadline');
});

t.test('timeouts.idle closes pooled upstream connections left unused that long', async (t) => {
  const own = closer(t);
  const s = await startServer(answer(200, 'ok')); own(s);
  let closed = 0;
  s.server.on('connection', (c) => c.on('close', () => { closed++; }));
  const o = await startOutbound([s.port], { timeouts: { idle: '300ms' } }); own(o);
  t.equal((await send(`http://127.0.0.1:${o.port}/`)).status, 200);
  t.equal(o.cluster.pool.idleCount(), 1, 'the upstream connection went back to the pool');
  t.ok(await until(() => closed === 1 && o.cluster.pool.open === 0, 5000), 'the agent closed it after the idle timeout');
  t.equal((await send(`http://127.0.0.1:${o.port}/`)).status, 200, 'the next request dials afresh');
  t.equal(s.connections, 2);
});
