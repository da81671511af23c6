/**
 * Metrics views: /metrics (Prometheus text) and /stats (Envoy-style flat
 * `name{labels}: value` lines, or JSON), both from the one registry.
 */
import type { AdminHandler, AdminResponse } from '../routes.ts';

export const metrics: AdminHandler = async (_r, { agent }) => {
  const reg = agent.metrics.registry;
  return { status: 200, contentType: reg.contentType, body: await reg.metrics() };
};

export interface StatLine {
  readonly name: string;
  readonly labels: Record<string, string | number>;
  readonly value: number;
}

function formatLabels(labels: Record<string, string | number>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

export const stats: AdminHandler = async (req, ctx): Promise<AdminResponse> => {
  const format = req.url.searchParams.get('format') ?? 'text';
  if (format === 'prometheus') return metrics(req, ctx);
  if (format !== 'text' && format !== 'json') return { status: 400, body: { error: 'bad_request', detail: `format must be text, json or prometheus (got ${format})` } };
  const filter = req.url.searchParams.get('filter') ?? '';
  const lines: StatLine[] = [];
  for (const m of await ctx.agent.metrics.registry.getMetricsAsJSON()) {
    for (const v of m.values as Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>) {
      const name = v.metricName ?? m.name;
      if (filter !== '' && !name.includes(filter)) continue;
      lines.push({ name, labels: v.labels, value: v.value });
    }
  }
  lines.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (format === 'json') return { status: 200, body: { stats: lines } };
  return { status: 200, body: lines.map((l) => `${l.name}${formatLabels(l.labels)}: ${l.value}`).join('\n') + '\n' };
};
