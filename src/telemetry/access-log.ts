/**
 * The access log filter: one JSON line per request (pino), off by default,
 * sampled. Failures (a proxy reason, or a 5xx) are always logged.
 *
 * Fields: method, authority, path, status, reason, duration, bytes,
 * upstream endpoint, attempts, request id, peer identity, and the trace
 * context: `trace_id` and `parent_span_id` from the incoming W3C
 * `traceparent`, and `span_id`, this hop's span (the parent id the agent
 * sent upstream). Parsing the traceparent happens only for lines written.
 *
 * The line is built by hand (accessFields) and written through the logger
 * (pino-line.ts): the same JSON pino writes for the same fields object (keys
 * in this order, undefined ones left out), without pino's per-call
 * formatting of a 20-field object.
 *
 * The access log is switched by `log.access_log.enabled`, not by the log
 * level: its logger is pinned at `info`, so a runtime level change
 * (POST /logging?level=warn) quiets the agent's own logs, not the access
 * log. A logger that is `silent` when the filter is built stays silent.
 */
import type { Filter, RequestCtx } from '../core/filter.ts';
import { headerValue } from '../core/filter.ts';
import { jsonNumber as num, jsonString as str } from './json-string.ts';
import type { Logger } from './log.ts';
import { pinoLine } from './pino-line.ts';

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/** trace id and parent span id of a W3C traceparent value, or undefined when invalid. */
export function traceContext(value: string | undefined): { traceId: string; parentSpanId: string } | undefined {
  if (value === undefined) return undefined;
  const m = TRACEPARENT.exec(value.trim());
  return m ? { traceId: m[1]!, parentSpanId: m[2]! } : undefined;
}

/** The keys of an access line, in order. */
export const accessKeys = [
  'access', 'direction', 'protocol', 'method', 'authority', 'path', 'status', 'reason', 'duration_ms', 'bytes_in',
  'bytes_out', 'upstream', 'endpoint', 'attempts', 'request_id', 'peer', 'trace_id', 'parent_span_id', 'span_id',
] as const;

const opt = (key: string, v: string | undefined): string => (v === undefined ? '' : key + str(v));

/** The fields of `ctx`'s access line as JSON (`,"access":true,...`), in accessKeys order. */
export function accessFields(ctx: RequestCtx): string {
  const tc = ctx.protocol === 'tcp' ? undefined : traceContext(headerValue(ctx.headers, 'traceparent'));
  return ',"access":true,"direction":' + str(ctx.direction) + ',"protocol":' + str(ctx.protocol)
    + opt(',"method":', ctx.method || undefined) + opt(',"authority":', ctx.authority || undefined)
    + opt(',"path":', ctx.target || undefined) + ',"status":' + num(ctx.status) + opt(',"reason":', ctx.reason)
    + ',"duration_ms":' + num(Math.round((performance.now() - ctx.startedAt) * 1000) / 1000)
    + ',"bytes_in":' + num(ctx.bytesIn) + ',"bytes_out":' + num(ctx.bytesOut) + ',"upstream":' + str(ctx.upstream)
    + opt(',"endpoint":', ctx.endpoint?.key) + ',"attempts":' + num(ctx.attempts)
    + opt(',"request_id":', ctx.requestId || undefined) + opt(',"peer":', ctx.peerIdentity)
    + opt(',"trace_id":', tc?.traceId) + opt(',"parent_span_id":', tc?.parentSpanId) + opt(',"span_id":', ctx.spanId || undefined);
}

export function accessLogFilter(log: Logger, sample: number, random: () => number = Math.random): Filter {
  const out = log.child({});
  if (log.level !== 'silent') out.level = 'info'; // pinned: see the header comment
  const line = pinoLine(out, 'info', 'access', accessKeys);
  return {
    name: 'access_log',
    onRequest() { return 0; },
    onDone(ctx: RequestCtx) {
      if (ctx.reason === undefined && ctx.status < 500 && sample < 1 && random() >= sample) return;
      if (line.enabled()) line.write(accessFields(ctx));
    },
  };
}
