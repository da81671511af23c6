/**
 * The agent's Prometheus registry (prom-client), with Linkerd-style names and
 * a `direction` label. Names, help and labels come from the catalogue
 * (metrics-catalog.ts), which also documents every label's bounded value set.
 *
 * Three kinds of feeding:
 *   - hot path: the metrics filter and the listeners bump plain numbers in
 *     TrafficStats / ConnectionStats objects (one per direction and target),
 *     copied into prom-client metrics by `collect()` at scrape time; no
 *     label hashing per request (see traffic-stats.ts for why);
 *   - scrape time: resilience, identity and discovery metrics are read from
 *     plain stats objects (metric-sources.ts) in `collect()` callbacks;
 *   - process: prom-client's default metrics.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { metricSpec } from './metrics-catalog.ts';
import { MetricSources, overflowKinds } from './metric-sources.ts';
import { ConnectionStats } from './connection-metrics.ts';
import { StatsHistogram } from './stats-histogram.ts';
import { TrafficStats } from './traffic-stats.ts';

type DT = 'direction' | 'target';

export interface MeshMetrics {
  readonly registry: Registry;
  /** The hot-path request stats of (direction, target), created on first use; bump its fields. */
  traffic(direction: string, target: string): TrafficStats;
  /** The downstream connection stats of (direction, target), created on first use. */
  connections(direction: string, target: string): ConnectionStats;
  /** Stats objects read at scrape time (resilience, identity, discovery). */
  readonly sources: MetricSources;
  /** Zero the hot-path stats (part of resetCounters). */
  resetHotStats(): void;
}

/** Response latency buckets, ms (Linkerd's, trimmed). */
export const latencyBucketsMs: readonly number[] = [1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 5000, 10000];

function counter<L extends string>(registry: Registry, name: string, collect: (c: Counter<L>) => void): Counter<L> {
  const s = metricSpec(name);
  return new Counter<L>({ name, help: s.help, labelNames: s.labels as unknown as L[], registers: [registry], collect(this: Counter<L>) { collect(this); } });
}

function gauge<L extends string>(registry: Registry, name: string, collect: (g: Gauge<L>) => void): Gauge<L> {
  const s = metricSpec(name);
  return new Gauge<L>({ name, help: s.help, labelNames: s.labels as unknown as L[], registers: [registry], collect(this: Gauge<L>) { collect(this); } });
}

export function createMetrics(opts: { processMetrics?: boolean } = {}): MeshMetrics {
  const registry = new Registry();
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry });
  const sources = new MetricSources();
  const traffic = new Map<string, TrafficStats>();
  const conns = new Map<string, ConnectionStats>();
  const labels = (x: { direction: string; target: string }): Record<DT, string> => ({ direction: x.direction, target: x.target });

  const m: MeshMetrics = {
    registry, sources,
    traffic(direction, target) {
      const k = `${direction}|${target}`;
      let t = traffic.get(k);
      if (t === undefined) { t = new TrafficStats(direction, target, latencyBucketsMs); traffic.set(k, t); }
      return t;
    },
    connections(direction, target) {
      const k = `${direction}|${target}`;
      let c = conns.get(k);
      if (c === undefined) { c = new ConnectionStats(direction, target); conns.set(k, c); }
      return c;
    },
    resetHotStats() {
      for (const t of traffic.values()) t.reset();
      for (const x of conns.values()) x.reset();
    },
  };

  // --- traffic: copied from the hot-path stats at scrape time ---
  counter<DT>(registry, 'request_total', (c) => {
    c.reset();
    for (const t of traffic.values()) c.inc(labels(t), t.requests);
  });
  counter<DT | 'classification' | 'status_code' | 'reason'>(registry, 'response_total', (c) => {
    c.reset();
    for (const t of traffic.values()) {
      for (const s of t.series) c.inc({ ...labels(t), classification: s.classification, status_code: String(s.status), reason: s.reason }, s.count);
    }
  });
  const latency = metricSpec('response_latency_ms');
  new StatsHistogram({ name: latency.name, help: latency.help, stats: () => traffic.values(), registry });

  // --- connections ---
  counter<DT>(registry, 'tcp_open_total', (c) => { c.reset(); for (const x of conns.values()) c.inc(labels(x), x.opened); });
  counter<DT>(registry, 'tcp_close_total', (c) => { c.reset(); for (const x of conns.values()) c.inc(labels(x), x.closed); });
  gauge<DT>(registry, 'tcp_open_connections', (g) => { g.reset(); for (const x of conns.values()) g.set(labels(x), x.open); });
  counter<DT>(registry, 'tcp_read_bytes_total', (c) => { c.reset(); for (const x of conns.values()) { x.fold(); c.inc(labels(x), x.readBytes); } });
  counter<DT>(registry, 'tcp_write_bytes_total', (c) => { c.reset(); for (const x of conns.values()) { x.fold(); c.inc(labels(x), x.writtenBytes); } });

  // --- resilience: mirrored from the sources' cumulative stats ---
  const mirror = (name: string, read: (s: MetricSources['resilience'][number]) => number | undefined): void => {
    counter<DT>(registry, name, (c) => {
      c.reset();
      for (const s of sources.resilience) {
        const v = read(s);
        if (v !== undefined) c.inc({ direction: s.direction, target: s.target }, sources.mirrored(`${name}|${s.direction}|${s.target}`, v));
      }
    });
  };
  mirror('retry_total', (s) => s.retries?.());
  mirror('retry_budget_exhausted_total', (s) => s.retryBudgetExhausted?.());
  mirror('ratelimit_rejected_total', (s) => s.rateLimited?.());
  counter<DT | 'kind'>(registry, 'overflow_total', (c) => {
    c.reset();
    for (const s of sources.resilience) {
      const o = s.overflows?.();
      if (o === undefined) continue;
      for (const kind of overflowKinds) {
        const v = o[kind];
        if (v !== undefined) c.inc({ direction: s.direction, target: s.target, kind }, sources.mirrored(`overflow_total|${s.direction}|${s.target}|${kind}`, v));
      }
    }
  });
  gauge<DT | 'endpoint'>(registry, 'circuit_breaker_open', (g) => {
    g.reset();
    for (const s of sources.resilience) {
      const states = s.breakerStates?.();
      if (states === undefined) continue;
      for (const [endpoint, state] of states) g.set({ direction: s.direction, target: s.target, endpoint }, state === 'open' ? 1 : 0);
    }
  });
  gauge<DT>(registry, 'outlier_ejections_active', (g) => {
    g.reset();
    for (const s of sources.resilience) {
      const n = s.ejectionsActive?.();
      if (n !== undefined) g.set({ direction: s.direction, target: s.target }, n);
    }
  });

  counter<'target' | 'peer'>(registry, 'inbound_peer_requests_total', (c) => {
    c.reset();
    const p = sources.peers;
    if (p !== undefined) for (const [peer, n] of p.counts) c.inc({ target: p.target, peer }, sources.mirrored(`peer|${peer}`, n));
  });

  // --- identity ---
  gauge(registry, 'identity_cert_expiration_timestamp_seconds', (g) => {
    g.reset();
    const t = sources.identity?.expirationTimestampSeconds();
    if (t !== undefined) g.set(t);
  });
  counter<'result'>(registry, 'identity_cert_refresh_total', (c) => {
    c.reset();
    const id = sources.identity;
    if (id === undefined) return;
    c.inc({ result: 'success' }, sources.mirrored('identity_cert_refresh_total|success', id.refresh.success));
    c.inc({ result: 'failure' }, sources.mirrored('identity_cert_refresh_total|failure', id.refresh.failure));
  });

  // --- discovery ---
  gauge<'target'>(registry, 'discovery_staleness_seconds', (g) => {
    g.reset();
    const now = Date.now();
    for (const d of sources.discovery) {
      const at = d.status().lastSuccessAt;
      g.set({ target: d.target }, at === undefined ? Infinity : Math.max(0, (now - at) / 1000));
    }
  });
  return m;
}

/**
 * Admin /reset_counters (Envoy's): counters and histograms go back to zero;
 * gauges (open connections, breaker states) keep describing the present.
 */
export async function resetCounters(m: MeshMetrics): Promise<void> {
  // Read every source once, so the baselines are the values as of now.
  await m.registry.getMetricsAsJSON();
  m.sources.resetBaselines();
  m.resetHotStats();
  for (const metric of m.registry.getMetricsAsArray()) {
    if (metric instanceof Counter || metric instanceof Histogram) metric.reset();
  }
}
