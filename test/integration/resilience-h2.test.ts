/**
 * Issue 5 over HTTP/2 streams (h2c prior knowledge to the outbound listener,
 * h2c to the upstream): the outbound h2 codec runs the same filters, route
 * policies and retry decider per stream as the HTTP/1 router. Rate limits
 * over h2 are in resilience-ratelimit.test.ts.
 */
import t from 'tap';
import { connect as h2connect, createServer as createH2Server, type ClientHttp2Session, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { closer, startOutbound } from '../support/resilience.ts';

interface H2Upstream { readonly port: number; streams: number; readonly ids: string[]; close(): Promise<void> }

/** An h2c server; `answer(n)` gives the status (and headers) for the n-th stream (1-based). */
async function h2Upstream(answer: (n: number) => { status: number; headers?: Record<string, string> }): Promise<H2Upstream> {
  const server: Http2Server = createH2Server();
  const u = { port: 0, streams: 0, ids: [] as string[], close: () => new Promise<void>((r) => server.close(() => r())) };
  const sessions = new Set<import('node:http2').ServerHttp2Session>();
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
  server.on('stream', (stream: ServerHttp2Stream, h: IncomingHttpHeaders) => {
    const n = ++u.streams;
    u.ids.push(String(h['x-request-id']));
    const a = answer(n);
    stream.resume();
    stream.on('end', () => { stream.respond({ ':status': a.status, ...a.headers }); stream.end(String(a.status)); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  u.port = (server.address() as { port: number }).port;
  u.close = () => new Promise<void>((r) => { for (const s of sessions) s.destroy(); server.close(() => r()); });
  return u;
}

function h2client(port: number): { session: ClientHttp2Session; get(path: string): Promise<{ status: number; headers: IncomingHttpHeaders; ms: number }>; close(): Promise<void> } {
  const session = h2connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  return {
    session,
    get: (path) => new Promise((resolve, reject) => {
      const t0 = performance.now();
      const st = session.request({ ':path': path, ':method': 'GET' });
      st.on('response', (h) => { st.resume(); st.on('end', () => resolve({ status: Number(h[':status']), headers: h, ms: performance.now() - t0 })); });
      st.on('error', reject);
      st.end();
    }),
    close: () => new Promise<void>((r) => { session.close(() => r()); }),
  };
}

t.test('h2: a 503 is retried (same x-request-id on both attempts)', async (t) => {
  const own = closer(t);
  const u = await h2Upstream((n) => ({ status: n === 1 ? 503 : 200 })); own(u);
  const o = await startOutbound([u.port], { retries: { backoff: { base: '1ms', max: '2ms' } } }); own(o);
  const c = h2client(o.port); own(c);
  const r = await c.get('/a');
  t.equal(r.status, 200);
  t.equal(u.streams, 2);
  t.ok(u.ids[0] !== 'undefined' && u.ids[0] === u.ids[1], `same x-request-id on both attempts (${u.ids[0]})`);
  t.equal(o.res.retryStats.retries, 1);
});

t.test('h2: max_retries holds a unit per retry in flight', async (t) => {
  const own = closer(t);
  const u = await h2Upstream((n) => (n <= 3 ? { status: 503, headers: { 'retry-after': '1' } } : { status: 200 })); own(u);
  const o = await startOutbound([u.port], { limits: { max_retries: 2 } }); own(o);
  const c = h2client(o.port); own(c);
  const rs = await Promise.all([c.get('/r'), c.get('/r'), c.get('/r')]);
  t.same(rs.map((r) => r.status).sort(), [200, 200, 503]);
  t.equal(o.res.limits.stats.retries.overflows, 1);
});

t.test('h2: an injected delay runs under the request timeout', async (t) => {
  const own = closer(t);
  const u = await h2Upstream(() => ({ status: 200 })); own(u);
  const o = await startOutbound([u.port], { routes: [{ prefix: '/deadline', timeouts: { request: '200ms' }, retries: { attempts: 1 }, fault: { delay: { fixed: '3s' } } }] }); own(o);
  const c = h2client(o.port); own(c);
  const r = await c.get('/deadline');
  t.equal(r.status, 504);
  t.ok(r.ms < 2000, `answered at the deadline (${Math.round(r.ms)} ms), not after the 3 s delay`);
});
