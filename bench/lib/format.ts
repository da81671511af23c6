/**
 * Number formatting shared by the Markdown table, the SVG chart and the
 * console: one place decides how many digits each unit gets.
 */
import type { MetricDef } from './metrics.ts';

export function fmtValue(v: number, unit: MetricDef['unit']): string {
  if (!Number.isFinite(v)) return 'n/a';
  switch (unit) {
    case 'req/s':
    case 'conn/s':
      return Math.round(v).toLocaleString('en');
    case 'ms':
      return Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
    case 'µs':
      return v.toFixed(1);
    case 'cores':
      return v.toFixed(3);
    case 'MB':
      return v.toFixed(1);
    default:
      // counts stay whole; ratios of counts (times scheduled per request) keep two decimals
      return Number.isInteger(v) || Math.abs(v) >= 100 ? String(Math.round(v)) : v.toFixed(2);
  }
}

export function fmtRatio(r: number): string {
  return Number.isFinite(r) ? `${r.toFixed(2)}×` : 'n/a';
}

export function withUnit(v: number, unit: MetricDef['unit']): string {
  const s = fmtValue(v, unit);
  return unit && s !== 'n/a' ? `${s} ${unit}` : s;
}
