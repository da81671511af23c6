/**
 * The access log: JSON lines with the trace context (trace id and the
 * caller's span from traceparent, this hop's span id), sampling that never
 * drops failures, a level pinned at info; and runtime level changes reaching
 * child loggers made before the change.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import pino from 'pino';
import { accessLogFilter, traceContext } from '../../../src/telemetry/access-log.ts';
import { setLogLevel } from '../../../src/telemetry/log.ts';
import { ctx } from '../balancer/fixtures.ts';

function capture(level = 'info'): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk, _e, cb) { for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l)); cb(); } });
  return { log: pino({ level }, sink), lines };
}

t.test('trace context fields', async (t) => {
  const { log, lines } = capture();
  const f = accessLogFilter(log, 1);
  const c = ctx({ requestId: 'r1', status: 200, spanId: 'b7ad6b7169203331', startedAt: performance.now(),
    headers: ['traceparent', '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01', 'tracestate', 'rojo=00f067aa0ba902b7'] });
  f.onDone!(c);
  await new Promise((r) => setImmediate(r));
  t.match(lines[0], { access: true, request_id: 'r1', status: 200, trace_id: '0af7651916cd43dd8448eb211c80319c', parent_span_id: '00f067aa0ba902b7', span_id: 'b7ad6b7169203331' });
  t.equal(traceContext('garbage'), undefined);
  t.equal(traceContext(undefined), undefined);
});

t.test('sampling keeps every failure', async (t) => {
  const { log, lines } = capture();
  const f = accessLogFilter(log, 0, () => 0.5);
  f.onDone!(ctx({ requestId: 'ok', status: 200 }));
  f.onDone!(ctx({ requestId: 'proxy-failure', status: 503, reason: 'no_endpoints' }));
  f.onDone!(ctx({ requestId: 'upstream-5xx', status: 500 }));
  await new Promise((r) => setImmediate(r));
  t.same(lines.map((l) => l['request_id']), ['proxy-failure', 'upstream-5xx']);
});

t.test('runtime level changes: children follow, the access log stays on', async (t) => {
  const { log, lines } = capture('info');
  const child = log.child({ component: 'proxy' });
  const grandchild = child.child({ listener: 'outbound:api' });
  const access = accessLogFilter(log.child({ component: 'access' }), 1);
  grandchild.debug('before');
  t.equal(setLogLevel(log, 'debug'), 'info', 'returns the previous level');
  grandchild.debug('after debug');
  setLogLevel(log, 'warn');
  child.info('muted');
  access.onDone!(ctx({ requestId: 'still-logged', status: 200 }));
  await new Promise((r) => setImmediate(r));
  t.same(lines.map((l) => l['msg']), ['after debug', 'access'], 'a child made before the change follows it; the access log is pinned at info');
  t.equal(child.level, 'warn');
});
