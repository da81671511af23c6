/**
 * Issue 5 test 8, end to end over real sockets: an outbound (per-upstream)
 * token bucket with a tiny refill rate lets exactly `burst` requests through,
 * whether they come as 1,000 requests on one HTTP/1.1 keep-alive connection
 * or as 100 concurrent streams on one HTTP/2 connection (multiplexing must
 * not bypass the limit). Refused requests get 429 with Retry-After and the
 * IETF RateLimit-Policy / RateLimit fields, and never reach the upstream.
 */
import t, { type Test } from 'tap';
import { connect as h2connect, createServer as createH2Server, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { Client } from 'undici';
import { answer, closer, metricValue, startOutbound, startServer } from '../support/resilience.ts';

const BURST = 50;
/** One token per 1,000 s: nothing refills during the test. */
const RATE = 0.001;
const rateLimit = { global: { requests_per_second: RATE, burst: BURST } };
const POLICY = `"global";q=${BURST};w=${Math.ceil(BURST / RATE)}`;

interface Refusal { retryAfter: string | undefined; policy: string | undefined; ratelimit: string | undefined; reason: string | undefined }

function checkRefusals(t: Test, refusals: readonly Refusal[]): void {
  const bad = refusals.filter((r) => {
    const ra = Number(r.retryAfter);
    return !(Number.isInteger(ra) && ra >= 1 && ra <= 1000) || r.policy !== POLICY || r.ratelimit !== `"global";r=0;t=${r.retryAfter}` || r.reason !== 'rate_limited';
  });
  t.equal(bad.length, 0, `every 429 carries Retry-After, RateLimit-Policy ${POLICY}, RateLimit r=0;t=<Retry-After> and reason rate_limited`);
  if (bad.length > 0) t.comment(JSON.stringify(bad[0]));
}

t.test('HTTP/1.1 keep-alive: exactly `burst` of 1,000 requests pass, the rest get 429', async (t) => {
  const own = closer(t);
  const s = await startServer(answer(200, 'ok')); own(s);
  const o = await startOutbound([s.port], { rate_limit: rateLimit }); own(o);
  const client = new Client(`http://127.0.0.1:${o.port}`, { pipelining: 1 }); own(client);
  let ok = 0;
  const refusals: Refusal[] = [];
  for (let i = 0; i < 1000; i++) {
    const r = await client.request({ path: `/r/${i}`, method: 'GET' });
    await r.body.text();
    if (r.statusCode === 200) ok++;
    else if (r.statusCode === 429) {
      const h = r.headers;
      refusals.push({ retryAfter: h['retry-after'] as string, policy: h['ratelimit-policy'] as string, ratelimit: h.ratelimit as string, reason: h['x-aim-mesh-error'] as string });
    } else t.fail(`unexpected status ${r.statusCode}`);
  }
  t.equal(ok, BURST, `exactly ${BURST} passed`);
  t.equal(refusals.length, 1000 - BURST, `${1000 - BURST} got 429`);
  checkRefusals(t, refusals);
  t.equal(s.requests, BURST, 'refused requests never reached the upstream');
  t.equal(s.connections, 1, 'one upstream connection, kept alive');
  const listener = o.running.agent.listeners.find((l) => l.name === 'outbound:api')!;
  t.equal(listener.accepted, 1, 'the client used one keep-alive connection throughout');
  t.equal(o.res.rateLimit!.stats.limited, 1000 - BURST);
  t.equal(await metricValue(o.adminPort, 'ratelimit_rejected_total{direction="outbound",target="api"}'), 1000 - BURST, 'ratelimit_rejected_total');
});

t.test('HTTP/2: 100 concurrent streams on one connection, exactly `burst` pass', async (t) => {
  const own = closer(t);
  // The upstream speaks h2c: the agent forwards h2 streams as h2.
  let upstreamStreams = 0;
  const h2 = createH2Server();
  h2.on('stream', (stream) => { upstreamStreams++; stream.respond({ ':status': 200 }); stream.end('ok'); });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', () => r()));
  own({ close: () => new Promise<void>((r) => h2.close(() => r())) });
  const o = await startOutbound([(h2.address() as { port: number }).port], { rate_limit: rateLimit }); own(o);
  const session: ClientHttp2Session = h2connect(`http://127.0.0.1:${o.port}`);
  own({ close: () => new Promise<void>((r) => session.close(() => r())) });
  const one = (i: number): Promise<IncomingHttpHeaders> => new Promise((resolve, reject) => {
    const st = session.request({ ':path': `/s/${i}`, ':method': 'GET' });
    st.on('response', (h) => { st.resume(); st.on('end', () => resolve(h)); });
    st.on('error', reject);
    st.end();
  });
  const heads = await Promise.all(Array.from({ length: 100 }, (_, i) => one(i)));
  const ok = heads.filter((h) => Number(h[':status']) === 200).length;
  const refused = heads.filter((h) => Number(h[':status']) === 429);
  t.equal(ok, BURST, `exactly ${BURST} of 100 streams passed`);
  t.equal(refused.length, 100 - BURST, `${100 - BURST} got 429`);
  checkRefusals(t, refused.map((h) => ({ retryAfter: h['retry-after'] as string, policy: h['ratelimit-policy'] as string, ratelimit: h.ratelimit as string, reason: h['x-aim-mesh-error'] as string })));
  t.equal(upstreamStreams, BURST, 'refused streams never reached the upstream');
  const listener = o.running.agent.listeners.find((l) => l.name === 'outbound:api')!;
  t.equal(listener.accepted, 1, 'all streams rode one connection');
});
