/**
 * The metrics filter: first in every stack, so it sees every outcome,
 * including local replies of later filters. Per request it bumps three plain
 * numbers in the listener's TrafficStats (requests, the response series, a
 * latency bucket); the registry turns them into `request_total`,
 * `response_total` and `response_latency_ms` when scraped.
 *
 * Opaque TCP connections are not requests: they are counted by the
 * listener's ConnectionStats (tcp_* metrics) only.
 */
import type { Filter, RequestCtx } from '../core/filter.ts';
import type { MeshMetrics } from './metrics.ts';

export function metricsFilter(m: MeshMetrics, direction: string, target: string): Filter {
  const t = m.traffic(direction, target);
  return {
    name: 'metrics',
    onRequest(ctx: RequestCtx) {
      if (ctx.protocol !== 'tcp') t.requests++;
      return 0;
    },
    onDone(ctx: RequestCtx) {
      if (ctx.protocol === 'tcp') return;
      t.response(ctx.status, ctx.reason);
      if (ctx.responseStartedAt > 0) t.latency(ctx.responseStartedAt - ctx.startedAt);
    },
  };
}
