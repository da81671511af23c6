/**
 * Every HTTP/1 limit at limit−1, limit and limit+1 (small values set in
 * config for the test), and the timeouts on either side of their deadline:
 * header block size and count → 431, URL length → 414, the header timeout
 * (slowloris) → 408 then close, body idle → the exchange is cut, max
 * connections per listener → refused with a log line and a counter.
 */
import t from 'tap';
import { request } from 'undici';
import { limitsSchema } from '../../src/config/schema.ts';
import { RawConnection, rawExchange, header } from '../support/raw-http1-client.ts';
import { startHardened, watchProcess, sleep } from './harness.ts';

const proc = watchProcess();

/** A GET whose head (request line to the final CRLFCRLF) is exactly n bytes. */
function headOfSize(n: number): string {
  const base = 'GET / HTTP/1.1\r\nHost: api\r\nConnection: close\r\nX-Pad: \r\n\r\n';
  return base.replace('X-Pad: ', `X-Pad: ${'a'.repeat(n - base.length)}`);
}

function withHeaders(count: number): string {
  let s = 'GET / HTTP/1.1\r\nHost: api\r\nConnection: close\r\n';
  for (let i = 2; i < count; i++) s += `X-H${i}: v\r\n`;
  return `${s}\r\n`;
}

t.test('documented defaults', async (t) => {
  const d = limitsSchema.parse({});
  t.same({ ...d, overload: undefined }, {
    max_header_bytes: 65536, max_headers: 100, max_url_bytes: 8192, max_chunk_ext_bytes: 4096, max_trailer_bytes: 16384,
    header_timeout: 10_000, keepalive_idle: 60_000, stream_idle: 300_000, max_connections: 10_000, max_concurrent_streams: 100,
    write_idle: 60_000, min_send_rate: 0, overload: undefined,
  });
  t.same(d.overload, { heap_fraction: 0.9, max_active_connections: 20_000, retry_after: 5000, check_interval: 1000 });
});

t.test('header block size, header count and URL length at limit−1, limit, limit+1', async (t) => {
  const h = await startHardened({ limits: { max_header_bytes: 1024, max_headers: 10, max_url_bytes: 64 } });
  t.teardown(() => h.stop());
  for (const [n, want] of [[1023, 200], [1024, 200], [1025, 431]] as const) {
    const raw = headOfSize(n);
    t.equal(Buffer.byteLength(raw, 'latin1'), n);
    const r = await rawExchange(h.port, raw);
    t.equal(r.response?.status, want, `head of ${n} bytes → ${want}`);
    if (want === 431) {
      t.equal(r.response && header(r.response, 'x-aim-mesh-error'), 'headers_too_large');
      t.ok(r.closed, 'closed after 431');
    }
  }
  // A head that never ends is refused as soon as it passes the limit, without waiting for CRLFCRLF.
  const endless = await rawExchange(h.port, `GET / HTTP/1.1\r\nHost: api\r\nX: ${'a'.repeat(1100)}`);
  t.equal(endless.response?.status, 431, 'an unterminated head over the limit → 431 at once');

  for (const [n, want] of [[9, 200], [10, 200], [11, 431]] as const) {
    const r = await rawExchange(h.port, withHeaders(n));
    t.equal(r.response?.status, want, `${n} header fields → ${want}`);
    if (want === 431) t.equal(r.response && header(r.response, 'x-aim-mesh-error'), 'headers_too_large');
  }
  for (const [n, want] of [[63, 200], [64, 200], [65, 414]] as const) {
    const target = `/${'u'.repeat(n - 1)}`;
    const r = await rawExchange(h.port, `GET ${target} HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n`);
    t.equal(r.response?.status, want, `URL of ${n} bytes → ${want}`);
    if (want === 414) { t.equal(r.response && header(r.response, 'x-aim-mesh-error'), 'uri_too_long'); t.ok(r.closed); }
  }
  t.equal(await h.reasonCount('headers_too_large'), 3);
  t.equal(await h.reasonCount('uri_too_long'), 1);
  t.equal(h.app.requests.length, 6, 'only the requests within limits reached the upstream');
});

t.test('header timeout (slowloris): 408 then close, even while bytes trickle in', async (t) => {
  const h = await startHardened({ limits: { header_timeout: '400ms' } });
  t.teardown(() => h.stop());
  // Within the deadline: a head sent in pieces over ~150 ms is served.
  const quick = await rawExchange(h.port, ['GET / HTTP/1.1\r\n', 'Host: api\r\n', 'Connection: close\r\n\r\n'], { gapMs: 50 });
  t.equal(quick.response?.status, 200, 'a head completed before the deadline is served');

  // Past it: one byte every 50 ms keeps the socket busy, but the deadline counts from the first byte.
  const c = await RawConnection.open(h.port);
  t.teardown(() => c.destroy());
  const started = Date.now();
  const slow = 'GET / HTTP/1.1\r\nHost: api\r\nX-Slow: ' + 'a'.repeat(200);
  let i = 0;
  const drip = setInterval(() => { if (i < slow.length && !c.ended) c.write(slow[i++]!); }, 50);
  t.teardown(() => clearInterval(drip));
  const r = await c.response(3000);
  clearInterval(drip);
  const took = Date.now() - started;
  t.equal(r.status, 408);
  t.equal(header(r, 'x-aim-mesh-error'), 'request_header_timeout');
  t.equal(header(r, 'connection'), 'close');
  t.ok(await c.closed(1000), 'closed after the 408');
  t.ok(took >= 350, `not before the deadline (${took} ms)`);
  t.equal(await h.reasonCount('request_header_timeout'), 1);
  t.equal(h.app.requests.length, 1, 'the slow head never reached the upstream');
});

t.test('body idle (stream_idle): a request body that stalls ends the exchange and the connection', async (t) => {
  const h = await startHardened({ limits: { stream_idle: '400ms' } });
  t.teardown(() => h.stop());
  const c = await RawConnection.open(h.port);
  t.teardown(() => c.destroy());
  const started = Date.now();
  c.write('POST /b HTTP/1.1\r\nHost: api\r\nContent-Length: 10\r\n\r\nabc');
  const r = await c.response(3000);
  t.equal(r.status, 504, 'no response had started: a 504');
  t.equal(header(r, 'x-aim-mesh-error'), 'upstream_timeout');
  t.ok(await c.closed(1000), 'connection closed');
  t.ok(Date.now() - started >= 350, 'after stream_idle');
  t.equal(h.app.requests.length, 0, 'the upstream never saw a complete request');
  // Within the limit: body pieces 100 ms apart are fine.
  const ok = await rawExchange(h.port, ['POST /b HTTP/1.1\r\nHost: api\r\nConnection: close\r\nContent-Length: 6\r\n\r\n', 'abc', 'def'], { gapMs: 100 });
  t.equal(ok.response?.status, 200);
});

t.test('two idle limits on one connection: keepalive_idle between exchanges, stream_idle during one', async (t) => {
  // keepalive_idle shorter than stream_idle: a response pausing longer than keepalive_idle (but
  // less than stream_idle) must survive, and an idle keep-alive connection still closes on time.
  const h = await startHardened({ limits: { keepalive_idle: '300ms', stream_idle: '900ms' } });
  t.teardown(() => h.stop());
  h.app.queue((s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc');
    setTimeout(() => { if (!s.destroyed) s.write('def'); }, 600);
  });
  const c = await RawConnection.open(h.port);
  t.teardown(() => c.destroy());
  c.write('GET /pause HTTP/1.1\r\nHost: api\r\n\r\n');
  const r = await c.response(3000);
  t.equal(r.status, 200);
  t.equal(r.body.toString(), 'abcdef', 'a 600 ms pause mid-body is within stream_idle (900 ms), though over keepalive_idle');
  const idleFrom = Date.now();
  t.ok(await c.closed(2000), 'then, idle between requests, the connection closes');
  const idle = Date.now() - idleFrom;
  t.ok(idle >= 250 && idle < 800, `after keepalive_idle (300 ms), not stream_idle: ${idle} ms`);

  // The other way round: stream_idle shorter than keepalive_idle cuts a stalled response.
  const h2 = await startHardened({ limits: { keepalive_idle: '1s', stream_idle: '300ms' } });
  t.teardown(() => h2.stop());
  h2.app.queue((s) => { s.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc'); });
  const c2 = await RawConnection.open(h2.port);
  t.teardown(() => c2.destroy());
  const started = Date.now();
  c2.write('GET /stall HTTP/1.1\r\nHost: api\r\n\r\n');
  await t.rejects(c2.response(3000), /ended before a complete response/, 'the stalled response is cut');
  const cut = Date.now() - started;
  t.ok(cut >= 250 && cut < 900, `after stream_idle (300 ms): ${cut} ms`);
});

t.test('max connections per listener: limit−1 and limit accepted, limit+1 refused, logged and counted', async (t) => {
  const h = await startHardened({ limits: { max_connections: 3 } });
  t.teardown(() => h.stop());
  const conns: RawConnection[] = [];
  t.teardown(() => { for (const c of conns) c.destroy(); });
  for (let i = 0; i < 2; i++) conns.push(await RawConnection.open(h.port));
  await sleep(50);
  conns.push(await RawConnection.open(h.port)); // the limit itself
  conns[2]!.write('GET /at-limit HTTP/1.1\r\nHost: api\r\n\r\n');
  t.equal((await conns[2]!.response()).status, 200, 'the connection at the limit is served');
  const extra = await RawConnection.open(h.port); // limit + 1: accepted by the kernel, dropped by the server
  conns.push(extra);
  t.ok(await extra.closed(2000), 'the connection over the limit is closed at once');
  const inbound = h.agent.agent.listeners.find((l) => l.name === 'inbound')!;
  t.equal(inbound.refused, 1, 'counted in the listener refused counter');
  const listeners = await (await request(`http://127.0.0.1:${h.agent.adminPort}/listeners`)).body.text();
  t.match(listeners, /"refused_total":\s*1/, '/listeners shows refused_total');
  t.ok(h.lines.some((l) => l.reason === 'overflow_connections' && l.listener === 'inbound'), 'a log line with reason overflow_connections');
  // Room again once one closes.
  conns[0]!.destroy();
  await sleep(100);
  const again = await rawExchange(h.port, 'GET /again HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n');
  t.equal(again.response?.status, 200, 'accepted again below the limit');
});

t.test('the process stayed healthy', async (t) => {
  t.same(proc.problems, []);
});
