/**
 * Logs and traces through a real agent pair:
 *   - W3C traceparent propagates with each agent's hop as the new parent id,
 *     and each access log line records the trace id, the caller's span and
 *     its own span id, so the hops chain up; tracestate passes unchanged;
 *   - b3 headers (single and multi) pass through untouched;
 *   - POST /logging?level=debug reaches the component loggers created at
 *     start (a debug line appears that did not before).
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { connect } from 'node:net';
import { once } from 'node:events';
import pino from 'pino';
import { request } from 'undici';
import { startMeshPair } from '../support/mesh.ts';
import { startHttpUpstream } from '../support/upstreams.ts';

function capture(): { log: pino.Logger; lines: Array<Record<string, any>> } {
  const lines: Array<Record<string, any>> = [];
  const sink = new Writable({ write(chunk, _e, cb) { for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l)); cb(); } });
  return { log: pino({ level: 'info' }, sink), lines };
}

t.test('traceparent hops, access log span ids, tracestate and b3 untouched', async (t) => {
  const app = await startHttpUpstream();
  t.teardown(() => app.close());
  const { log, lines } = capture();
  const mesh = await startMeshPair({ appPort: app.port, log, extra: { log: { access_log: { enabled: true } } } });
  t.teardown(() => mesh.stop());
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const b3 = `${traceId}-00f067aa0ba902b7-1`;
  const r = await request(`http://127.0.0.1:${mesh.port}/v1/trace`, { headers: {
    'x-request-id': 'trace-1',
    traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
    tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
    b3,
    'x-b3-traceid': traceId, 'x-b3-spanid': 'a2fb4a1d1a96d312', 'x-b3-parentspanid': '0020000000000001', 'x-b3-sampled': '1',
  } });
  const seen = (await r.body.json() as { headers: Record<string, string> }).headers;
  await new Promise((res) => setTimeout(res, 50));
  const access = lines.filter((l) => l['access'] === true && l['request_id'] === 'trace-1');
  const out = access.find((l) => l['direction'] === 'outbound')!;
  const inb = access.find((l) => l['direction'] === 'inbound')!;
  t.ok(out && inb, 'one access line per agent');
  t.match(out, { trace_id: traceId, parent_span_id: '00f067aa0ba902b7', span_id: /^[0-9a-f]{16}$/ });
  t.match(inb, { trace_id: traceId, parent_span_id: out['span_id'], span_id: /^[0-9a-f]{16}$/ }, 'the inbound hop\'s parent is the outbound hop');
  t.not(inb['span_id'], out['span_id']);
  t.equal(seen['traceparent'], `00-${traceId}-${inb['span_id']}-01`, 'the app sees the inbound hop as its parent');
  t.equal(seen['tracestate'], 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7', 'tracestate unchanged');
  t.equal(seen['b3'], b3, 'b3 single header untouched');
  t.same([seen['x-b3-traceid'], seen['x-b3-spanid'], seen['x-b3-parentspanid'], seen['x-b3-sampled']], [traceId, 'a2fb4a1d1a96d312', '0020000000000001', '1'], 'b3 multi headers untouched');

  // An invalid traceparent is not forwarded; the access log still has this hop's span id.
  const bad = await request(`http://127.0.0.1:${mesh.port}/v1/trace`, { headers: { 'x-request-id': 'trace-2', traceparent: 'zz-not-a-trace' } });
  const badSeen = (await bad.body.json() as { headers: Record<string, string> }).headers;
  t.equal(badSeen['traceparent'], undefined);
  await new Promise((res) => setTimeout(res, 50));
  t.match(lines.find((l) => l['access'] && l['request_id'] === 'trace-2' && l['direction'] === 'outbound'), { trace_id: undefined, span_id: /^[0-9a-f]{16}$/ });
});

t.test('POST /logging?level=debug reaches loggers created at start', async (t) => {
  const app = await startHttpUpstream((req, res) => { if (req.url === '/slow') setTimeout(() => res.end('late'), 400); else res.end('ok'); });
  t.teardown(() => app.close());
  const { log, lines } = capture();
  const mesh = await startMeshPair({ appPort: app.port, log });
  t.teardown(() => mesh.stop());
  // A client that stops in the middle of its request body: the proxy logs it at debug (reason downstream_reset).
  const abandon = async (): Promise<void> => {
    const s = connect(mesh.port, '127.0.0.1');
    await once(s, 'connect');
    s.on('error', () => {});
    s.write('POST /slow HTTP/1.1\r\nhost: api\r\ncontent-length: 10\r\n\r\nabc');
    await new Promise((res) => setTimeout(res, 50));
    s.end();
    await new Promise((res) => setTimeout(res, 100));
    s.destroy();
  };
  const resets = (): Array<Record<string, any>> => lines.filter((l) => l['msg'] === 'request failed' && l['reason'] === 'downstream_reset' && l['listener'] === 'outbound:api');
  await abandon();
  t.equal(resets().length, 0, 'not logged at info');
  const a = await request(`http://127.0.0.1:${mesh.outbound.adminPort}/logging?level=debug`, { method: 'POST' });
  t.same(await a.body.json(), { level: 'debug', previous: 'info' });
  await abandon();
  t.equal(resets().length, 1, 'logged once the level is debug');
  t.match(resets()[0], { level: 20, component: 'proxy' }, 'by the proxy component logger made at start');
  await (await request(`http://127.0.0.1:${mesh.outbound.adminPort}/logging?level=info`, { method: 'POST' })).body.dump();
  await abandon();
  t.equal(resets().length, 1, 'back to info: quiet again');
});
