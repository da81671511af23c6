/**
 * The coordinator's /metrics: mesh-level aggregates (per service and per edge,
 * read from the current view at scrape time) and the coordinator's own
 * counters. Label values are service names only, so cardinality is bounded by
 * the size of the mesh, never by traffic (no paths, no instance ids).
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { MeshView } from './model.ts';

export class CoordinatorMetrics {
  readonly registry = new Registry();
  readonly reports: Counter<'kind'>;
  readonly certify: Counter<'result' | 'via'>;
  readonly streams: Gauge;

  constructor(view: () => MeshView) {
    const r = this.registry;
    // Process CPU, memory, event-loop lag and GC of the coordinator itself.
    collectDefaultMetrics({ register: r });
    this.reports = new Counter({ name: 'aim_mesh_coordinator_reports_total', help: 'Agent reports received', labelNames: ['kind'], registers: [r] });
    this.certify = new Counter({ name: 'aim_mesh_coordinator_certify_total', help: 'Certify requests by outcome and credential used', labelNames: ['result', 'via'], registers: [r] });
    this.streams = new Gauge({ name: 'aim_mesh_coordinator_report_streams', help: 'Open agent report streams on this replica', registers: [r] });

    // Every mesh gauge is refreshed from one view per scrape.
    let scrape: MeshView | undefined;
    let scrapeAt = 0;
    const current = (): MeshView => {
      const now = Date.now();
      if (!scrape || now - scrapeAt > 100) { scrape = view(); scrapeAt = now; }
      return scrape;
    };
    const gauge = <L extends string>(name: string, help: string, labelNames: L[], fill: (g: Gauge<L>, v: MeshView) => void): void => {
      new Gauge<L>({ name, help, labelNames, registers: [r], collect() { this.reset(); fill(this, current()); } });
    };
    gauge('aim_mesh_agents', 'Agents in the view by status', ['status'], (g, v) => {
      g.set({ status: 'up' }, v.totals.agents - v.totals.staleAgents);
      g.set({ status: 'stale' }, v.totals.staleAgents);
    });
    gauge('aim_mesh_services', 'Services in the view', [], (g, v) => g.set(v.totals.services));
    gauge('aim_mesh_edges', 'Service-to-service edges in the view', [], (g, v) => g.set(v.totals.edges));
    gauge('aim_mesh_service_instances', 'Instances per service by status', ['service', 'status'], (g, v) => {
      for (const s of v.services) { g.set({ service: s.name, status: 'up' }, s.up); g.set({ service: s.name, status: 'stale' }, s.stale); }
    });
    gauge('aim_mesh_service_requests_per_second', 'Requests per second served by the service (last interval)', ['service'], (g, v) => {
      for (const s of v.services) if (s.metrics) g.set({ service: s.name }, s.metrics.rps);
    });
    gauge('aim_mesh_service_success_rate', 'Success rate served by the service (last interval, 0..1)', ['service'], (g, v) => {
      for (const s of v.services) if (s.metrics) g.set({ service: s.name }, s.metrics.successRate);
    });
    gauge('aim_mesh_service_latency_p99_seconds', 'Worst instance p99 latency of the service (last interval)', ['service'], (g, v) => {
      for (const s of v.services) if (s.metrics) g.set({ service: s.name }, s.metrics.p99Ms / 1000);
    });
    gauge('aim_mesh_edge_requests_per_second', 'Requests per second on an edge (last interval)', ['source', 'destination'], (g, v) => {
      for (const e of v.edges) if (e.metrics) g.set({ source: e.source, destination: e.destination }, e.metrics.rps);
    });
    gauge('aim_mesh_edge_success_rate', 'Success rate on an edge (last interval, 0..1)', ['source', 'destination'], (g, v) => {
      for (const e of v.edges) if (e.metrics) g.set({ source: e.source, destination: e.destination }, e.metrics.successRate);
    });
    gauge('aim_mesh_edge_latency_p99_seconds', 'Worst source-instance p99 latency on an edge (last interval)', ['source', 'destination'], (g, v) => {
      for (const e of v.edges) if (e.metrics) g.set({ source: e.source, destination: e.destination }, e.metrics.p99Ms / 1000);
    });
    gauge('aim_mesh_edge_breakers_open', 'Destination endpoints with an open breaker, as seen from the source', ['source', 'destination'], (g, v) => {
      for (const e of v.edges) g.set({ source: e.source, destination: e.destination }, e.breakersOpen);
    });
    gauge('aim_mesh_edge_endpoints_ejected', 'Destination endpoints ejected by the source', ['source', 'destination'], (g, v) => {
      for (const e of v.edges) g.set({ source: e.source, destination: e.destination }, e.ejected);
    });
    gauge('aim_mesh_alerts', 'Alerts firing by kind and severity', ['kind', 'severity'], (g, v) => {
      for (const a of v.alerts) g.inc({ kind: a.kind, severity: a.severity });
    });
  }
}
