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
 * The access log is switched by `log.access_log.enabled`, not by the log
 * level: its logger is pinned at `info`, so a runtime level change
 * (POST /logging?level=warn) quiets the agent's own logs, not the access
 * log. A logger that is `silent` when the filter is built stays silent.
 */
import type { Filter, RequestCtx } from '../core/filter.ts';
import { headerValue } from '../core/filter.ts';
import type { Logger } from './log.ts';

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/** trace id and parent span id of a W3C traceparent value, or undefined when invalid. */
export function traceContext(value: string | undefined): { traceId: string; parentSpanId: string } | undefined {
  if (value === undefined) return undefined;
  const m = TRACEPARENT.exec(value.trim());
  return m ? { traceId: m[1]!, parentSpanId: m[2]! } : undefined;
}

export function accessLogFilter(log: Logger, sample: number, random: () => number = Math.random): Filter {
  const out = log.child({});
  if (log.level !== 'silent') out.level = 'info'; // pinned: see the header comment
  return {
    name: 'access_log',
    onRequest() { return 0; },
    onDone(ctx: RequestCtx) {
      if (ctx.reason === undefined && ctx.status < 500 && sample < 1 && random() >= sample) return;
      const tc = ctx.protocol === 'tcp' ? undefined : traceContext(headerValue(ctx.headers, 'traceparent'));
      out.info({
        access: true, direction: ctx.direction, protocol: ctx.protocol, method: ctx.method || undefined,
        authority: ctx.authority || undefined, path: ctx.target || undefined, status: ctx.status,
        reason: ctx.reason, duration_ms: Math.round((performance.now() - ctx.startedAt) * 1000) / 1000,
        bytes_in: ctx.bytesIn, bytes_out: ctx.bytesOut, upstream: ctx.upstream, endpoint: ctx.endpoint?.key,
        attempts: ctx.attempts, request_id: ctx.requestId || undefined, peer: ctx.peerIdentity,
        trace_id: tc?.traceId, parent_span_id: tc?.parentSpanId, span_id: ctx.spanId || undefined,
      }, 'access');
    },
  };
}
