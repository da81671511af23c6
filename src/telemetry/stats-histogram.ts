/**
 * A Prometheus histogram whose observations live in plain TrafficStats
 * bucket arrays (filled on the hot path) and are only turned into exported
 * values when scraped. prom-client's own Histogram cannot be fed from
 * pre-counted buckets, so this is a registry metric of our own: it answers
 * `get()` in the shape prom-client's registry formats (`metricName` with
 * `_bucket`/`_sum`/`_count`, an `le` label), and `reset()`.
 */
import type { Registry } from 'prom-client';
import type { TrafficStats } from './traffic-stats.ts';

interface Value {
  value: number;
  labels: Record<string, string | number>;
  metricName: string;
}

export class StatsHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #stats: () => Iterable<TrafficStats>;

  constructor(o: { name: string; help: string; stats: () => Iterable<TrafficStats>; registry: Registry }) {
    this.name = o.name;
    this.help = o.help;
    this.#stats = o.stats;
    // The registry only calls get(), reset() and reads name/help/type/aggregator.
    o.registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Value[] }> {
    const values: Value[] = [];
    for (const t of this.#stats()) {
      if (!t.observed) continue;
      const base = { direction: t.direction, target: t.target };
      let acc = 0;
      t.bounds.forEach((le, i) => {
        acc += t.buckets[i]!;
        values.push({ value: acc, labels: { ...base, le }, metricName: `${this.name}_bucket` });
      });
      acc += t.buckets[t.bounds.length]!;
      values.push({ value: acc, labels: { ...base, le: '+Inf' }, metricName: `${this.name}_bucket` });
      values.push({ value: t.latencySum, labels: base, metricName: `${this.name}_sum` });
      values.push({ value: t.latencyCount, labels: base, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    // Owned by the TrafficStats objects; resetCounters() zeroes those.
  }
}
