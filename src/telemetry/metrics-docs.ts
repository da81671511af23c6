/**
 * The README tables of metrics and label value sets, generated from the
 * catalogue (metrics-catalog.ts). A test checks README-metrics.md holds
 * exactly this output; `node src/admin/readme.ts` rewrites it.
 */
import { labelValues, metricsCatalog, processMetricPrefixes } from './metrics-catalog.ts';

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

export function metricsMarkdown(): string {
  return [
    '| Metric | Type | Labels | Fed by | Help |',
    '|---|---|---|---|---|',
    ...metricsCatalog.map((m) => `| \`${m.name}\` | ${m.type} | ${m.labels.length ? m.labels.map((l) => `\`${l}\``).join(', ') : '-'} | ${m.source} | ${cell(m.help)} |`),
    `| ${processMetricPrefixes.map((p) => `\`${p}*\``).join(', ')} | various | - | prom-client defaults | Process CPU, memory, file descriptors, event-loop lag, GC, heap spaces |`,
  ].join('\n');
}

export function labelsMarkdown(): string {
  return [
    '| Label | Values (bounded) |',
    '|---|---|',
    ...Object.entries(labelValues).map(([k, v]) => `| \`${k}\` | ${cell(v)} |`),
  ].join('\n');
}
