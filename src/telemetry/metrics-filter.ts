/**
 * The metrics filter: first in every stack, so it sees every outcome,
 * including local replies. Label children are resolved once per listener and
 * cached per status code, so the hot path does no label hashing.
 */
import type { Filter, RequestCtx } from '../core/filter.ts';
import type { Counter } from 'prom-client';
import type { MeshMetrics } from './metrics.ts';

type Child = ReturnType<Counter['labels']>;

export function metricsFilter(m: MeshMetrics, direction: string, target: string): Filter {
  const requests = m.requestTotal.labels(direction, target);
  const latency = m.responseLatency.labels(direction, target);
  const read = m.tcpReadBytes.labels(direction, target);
  const written = m.tcpWriteBytes.labels(direction, target);
  const byKey = new Map<string, Child>();
  const response = (status: number, reason: string): Child => {
    const key = `${status}|${reason}`;
    let c = byKey.get(key);
    if (c === undefined) {
      const cls = status >= 500 || status === 0 || reason !== '' ? 'failure' : 'success';
      c = m.responseTotal.labels(direction, target, cls, String(status), reason);
      byKey.set(key, c);
    }
    return c;
  };
  return {
    name: 'metrics',
    onRequest(ctx: RequestCtx) {
      if (ctx.protocol !== 'tcp') requests.inc();
      return 0;
    },
    onDone(ctx: RequestCtx) {
      if (ctx.protocol === 'tcp') {
        if (ctx.bytesIn) read.inc(ctx.bytesIn);
        if (ctx.bytesOut) written.inc(ctx.bytesOut);
        return;
      }
      response(ctx.status, ctx.reason ?? '').inc();
      if (ctx.responseStartedAt > 0) latency.observe(ctx.responseStartedAt - ctx.startedAt);
    },
  };
}
