/**
 * The access line built by hand (access-log.ts, pino-line.ts): hostile header-derived
 * values come back intact through JSON.parse, and the line is the one pino writes for the
 * same fields object (same keys, order and values; only the time differs), for a plain pino
 * logger, for the agent's logger options, and for options the hand-built line defers to pino.
 */
import t from 'tap';
import pino from 'pino';
import { accessFields, accessLogFilter, traceContext } from '../../../src/telemetry/access-log.ts';
import { isoTimeAt } from '../../../src/telemetry/iso-time.ts';
import { headerValue, type RequestCtx } from '../../../src/core/filter.ts';
import { ctx } from '../balancer/fixtures.ts';

/** The fields object the access log gave pino before the hand-built line. */
function pinoFields(c: RequestCtx, durationMs: number): Record<string, unknown> {
  const tc = c.protocol === 'tcp' ? undefined : traceContext(headerValue(c.headers, 'traceparent'));
  return {
    access: true, direction: c.direction, protocol: c.protocol, method: c.method || undefined,
    authority: c.authority || undefined, path: c.target || undefined, status: c.status,
    reason: c.reason, duration_ms: durationMs,
    bytes_in: c.bytesIn, bytes_out: c.bytesOut, upstream: c.upstream, endpoint: c.endpoint?.key,
    attempts: c.attempts, request_id: c.requestId || undefined, peer: c.peerIdentity,
    trace_id: tc?.traceId, parent_span_id: tc?.parentSpanId, span_id: c.spanId || undefined,
  };
}

function sink(): { lines: string[]; write(s: string): void } {
  const lines: string[] = [];
  return { lines, write(s: string) { for (const l of s.split('\n')) if (l) lines.push(l); } };
}

/** performance.now() fixed, so the duration on both lines is the same. */
function freezeNow(t: { teardown(fn: () => void): void }, now: number): void {
  const real = performance.now;
  performance.now = () => now;
  t.teardown(() => { performance.now = real; });
}

const hostile = ['quote " and \\ backslash', 'new\nline\r\ttab', 'nul \u0000 and \u001f \u007f', 'unicode é ✓ 😀 \u2028 \u2029', 'lone \ud800 half', '</script>{"a":1}'];

const cases: Array<[string, Partial<RequestCtx>]> = [
  ['minimal', {}],
  ['full', {
    method: 'POST', authority: 'api.service.consul:8080', target: '/v1/items?x=1', status: 503, reason: 'no_endpoints',
    bytesIn: 10, bytesOut: 2048, attempts: 3, requestId: 'r-1', peerIdentity: 'spiffe://cluster.local/ns/default/sa/web',
    endpoint: { key: '10.0.0.1:8001' } as RequestCtx['endpoint'], spanId: 'b7ad6b7169203331', direction: 'inbound', protocol: 'h2',
    headers: ['traceparent', '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01'],
  }],
  ['tcp', { protocol: 'tcp', method: '', target: '', upstream: 'db', headers: ['traceparent', '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01'] }],
  ['empty strings', { upstream: '', peerIdentity: '', method: '', target: '', authority: '' }],
  ['non-finite duration', { startedAt: NaN }],
  // Without the lone surrogate: pino on Node 24 writes one raw (the UTF-8 encoder then makes it U+FFFD); this line
  // writes \ud800 as JSON.stringify does (and pino on Node 25+).
  ['hostile', { authority: hostile[0], target: hostile[1], requestId: hostile[2], peerIdentity: hostile[3], upstream: hostile[5], method: hostile[5] }],
];

t.test('hostile header values survive JSON.parse', async (t) => {
  freezeNow(t, 5000);
  const s = sink();
  const f = accessLogFilter(pino({ level: 'info' }, s), 1);
  for (const v of hostile) f.onDone!(ctx({ authority: v, target: v, requestId: v, peerIdentity: v, method: v, status: 200, startedAt: 4998.5 }));
  t.equal(s.lines.length, hostile.length, 'one line per request: no raw newline splits a line');
  s.lines.forEach((line, i) => {
    const v = hostile[i]!; // a lone surrogate half is escaped (\ud800), so it parses back as it was
    const o = JSON.parse(line) as Record<string, unknown>;
    const got = { authority: o['authority'], path: o['path'], request_id: o['request_id'], peer: o['peer'], method: o['method'] };
    t.same(got, { authority: v, path: v, request_id: v, peer: v, method: v }, `hostile value ${i}`);
    t.match(o, { msg: 'access', access: true, duration_ms: 1.5, status: 200 });
  });
});

const loggers: Array<[string, (dest: pino.DestinationStream) => pino.Logger]> = [
  ['plain pino (numeric level, epoch time, pid and hostname)', (d) => pino({ level: 'info' }, d)],
  ['the agent options (label level, ISO time, base bindings)', (d) => pino({
    level: 'info', base: { pid: process.pid, service: 'api', component: 'access' },
    timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) },
  }, d).child({ listener: 'outbound:api' })],
  ['a mixin (deferred to pino)', (d) => pino({ level: 'info', mixin: () => ({ mixed: 1 }) }, d)],
  ['redaction of a field (deferred to pino)', (d) => pino({ level: 'info', redact: ['authority', 'peer'] }, d)],
  ['a serializer for a field (deferred to pino)', (d) => pino({ level: 'info', serializers: { path: (p: string) => p.length } }, d)],
  ['crlf line ends', (d) => pino({ level: 'info', crlf: true }, d)],
];

for (const [name, make] of loggers) {
  t.test(`the line is pino's: ${name}`, async (t) => {
    freezeNow(t, 10_000);
    for (const [label, over] of cases) {
      const ours = sink();
      const theirs = sink();
      const c = ctx({ status: 200, startedAt: 9_987.654_321, ...over });
      accessLogFilter(make(ours), 1).onDone!(c);
      make(theirs).info(pinoFields(c, Math.round((performance.now() - c.startedAt) * 1000) / 1000), 'access');
      const noTime = (l: string): string => l.replace(/,"time":("[^"]*"|\d+)/, ',"time":T');
      t.equal(ours.lines.length, 1, label);
      t.equal(noTime(ours.lines[0]!), noTime(theirs.lines[0]!), `${label}: same text but the time`);
      const [a, b] = [JSON.parse(ours.lines[0]!) as Record<string, unknown>, JSON.parse(theirs.lines[0]!) as Record<string, unknown>];
      t.same(Object.keys(a), Object.keys(b), `${label}: same keys, same order`);
      t.ok(Math.abs(new Date(a['time'] as string | number).getTime() - new Date(b['time'] as string | number).getTime()) < 1000, `${label}: time`);
    }
  });
}

t.test('access fields are the pino fields object as JSON', async (t) => {
  freezeNow(t, 100);
  const c = ctx({ status: 200, startedAt: 99 });
  t.same(JSON.parse('{' + accessFields(c).slice(1) + '}'), JSON.parse(JSON.stringify(pinoFields(c, 1))));
});

t.test('ISO time: the text of pino.stdTimeFunctions.isoTime, across ms and second boundaries', async (t) => {
  const real = Date.now;
  t.teardown(() => { Date.now = real; });
  const base = Date.UTC(2025, 11, 31, 23, 59, 58);
  for (const now of [base, base + 5, base + 50, base + 999, base + 1000, base + 1001, base + 2000, base + 2000 + 7, base - 1, 0, 1, 951_782_400_000]) {
    Date.now = () => now;
    t.equal(isoTimeAt(now), pino.stdTimeFunctions.isoTime(), new Date(now).toISOString());
  }
});
