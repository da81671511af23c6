/**
 * The access log filter: one JSON line per request (pino), off by default,
 * sampled; failures are always logged. Fields: method, authority, path,
 * status, reason, duration, bytes, upstream endpoint, request id, peer
 * identity, span id.
 */
import type { Filter, RequestCtx } from '../core/filter.ts';
import type { Logger } from './log.ts';

export function accessLogFilter(log: Logger, sample: number, random: () => number = Math.random): Filter {
  return {
    name: 'access_log',
    onRequest() { return 0; },
    onDone(ctx: RequestCtx) {
      if (ctx.reason === undefined && sample < 1 && random() >= sample) return;
      log.info({
        access: true, direction: ctx.direction, protocol: ctx.protocol, method: ctx.method || undefined,
        authority: ctx.authority || undefined, path: ctx.target || undefined, status: ctx.status,
        reason: ctx.reason, duration_ms: Math.round((performance.now() - ctx.startedAt) * 1000) / 1000,
        bytes_in: ctx.bytesIn, bytes_out: ctx.bytesOut, upstream: ctx.upstream, endpoint: ctx.endpoint?.key,
        attempts: ctx.attempts, request_id: ctx.requestId || undefined, peer: ctx.peerIdentity,
      }, 'access');
    },
  };
}
