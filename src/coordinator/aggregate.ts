/**
 * Builds the mesh view from agent records: services with their instances,
 * edges (source service → destination service) with rolled-up golden metrics
 * and endpoint-state markers, and alerts. Pure apart from the AlertTracker it
 * is handed; the caller passes wall-clock `nowMs`.
 *
 * Stale agents stay listed (status 'stale') but their metrics and endpoint
 * states are left out of roll-ups: they describe a past the agent no longer
 * vouches for. Destinations nobody reports for (unmeshed or external
 * upstreams) still appear as services with zero instances.
 */
import { type AlertRules, type AlertTracker, certInRenewalWindow, evaluateAlerts, objectiveOf } from './alerts.ts';
import { type LivenessRule, livenessOf } from './liveness.ts';
import type { AgentRecord, EdgeView, GoldenMetrics, InstanceView, MeshView, MtlsStatus, ReplicaInfo, ServiceView } from './model.ts';
import { rollup } from './rollup.ts';

export interface AggregateOptions {
  readonly liveness: LivenessRule;
  readonly alerts: AlertRules;
  readonly replica: ReplicaInfo;
}

function mtlsOf(flags: readonly boolean[]): MtlsStatus {
  if (flags.length === 0) return 'unknown';
  const on = flags.filter(Boolean).length;
  return on === flags.length ? 'on' : on === 0 ? 'off' : 'mixed';
}

interface EdgeAcc {
  metrics: GoldenMetrics[];
  retries: number;
  budget: number;
  mtls: boolean[];
  breakers: Set<string>;
  ejected: Set<string>;
  endpoints: Set<string>;
}

function instanceOf(r: AgentRecord, status: 'up' | 'stale', nowMs: number): InstanceView {
  return {
    agentId: r.agentId, instance: r.instance, version: r.version, status, lastSeenAgoMs: Math.max(0, nowMs - r.lastSeenMs),
    replica: r.replica, spiffeId: r.spiffeId, ready: r.readiness.ready, readinessReasons: r.readiness.reasons,
    cert: r.cert, inbound: r.inbound, listeners: r.listeners, upstreams: r.upstreams, edges: r.edges,
  };
}

export function buildView(records: Iterable<AgentRecord>, nowMs: number, opts: AggregateOptions, tracker: AlertTracker): MeshView {
  const instances = new Map<string, InstanceView[]>();
  const live = new Map<string, AgentRecord[]>();
  const edges = new Map<string, EdgeAcc>();
  const edgeOf = (src: string, dst: string): EdgeAcc => {
    const k = `${src}\u0000${dst}`;
    let e = edges.get(k);
    if (!e) edges.set(k, e = { metrics: [], retries: 0, budget: 1, mtls: [], breakers: new Set(), ejected: new Set(), endpoints: new Set() });
    return e;
  };
  let agents = 0;
  let staleAgents = 0;
  for (const r of records) {
    const l = livenessOf(r, nowMs, opts.liveness);
    if (l === 'gone') continue;
    agents++;
    if (l === 'stale') staleAgents++;
    let list = instances.get(r.service);
    if (!list) instances.set(r.service, list = []);
    list.push(instanceOf(r, l, nowMs));
    for (const u of r.upstreams) {
      const e = edgeOf(r.service, u.service);
      for (const ep of u.endpoints) {
        const key = `${ep.address}:${ep.port}`;
        e.endpoints.add(key);
        if (l !== 'up') continue;
        if (ep.state === 'breaker_open') e.breakers.add(key);
        else if (ep.state === 'ejected') e.ejected.add(key);
      }
    }
    if (l !== 'up') continue;
    let ls = live.get(r.service);
    if (!ls) live.set(r.service, ls = []);
    ls.push(r);
    for (const m of r.edges) {
      const e = edgeOf(r.service, m.upstream);
      e.metrics.push(m.metrics);
      e.retries += m.retries;
      e.budget = Math.min(e.budget, m.retryBudgetRemaining);
      e.mtls.push(m.mtls);
    }
  }

  const edgeViews: EdgeView[] = [];
  for (const [k, e] of edges) {
    const [source, destination] = k.split('\u0000') as [string, string];
    if (!instances.has(destination)) instances.set(destination, []);
    edgeViews.push({
      source, destination, metrics: rollup(e.metrics), retries: e.retries, retryBudgetRemaining: e.budget,
      mtls: mtlsOf(e.mtls), breakersOpen: e.breakers.size, ejected: e.ejected.size, endpoints: e.endpoints.size,
    });
  }
  edgeViews.sort((a, b) => a.source.localeCompare(b.source) || a.destination.localeCompare(b.destination));

  const serviceMetrics = new Map<string, GoldenMetrics | null>();
  for (const name of instances.keys()) {
    const own = (live.get(name) ?? []).flatMap((r) => (r.inbound ? [r.inbound] : []));
    const incoming = edgeViews.filter((e) => e.destination === name && e.metrics).map((e) => e.metrics!);
    serviceMetrics.set(name, rollup(own.length > 0 ? own : incoming));
  }

  for (const list of instances.values()) list.sort((a, b) => a.instance.localeCompare(b.instance) || a.agentId.localeCompare(b.agentId));
  const alerts = tracker.stamp(evaluateAlerts({ instances, edges: edgeViews, serviceMetrics }, nowMs, opts.alerts), nowMs);
  const alertCount = new Map<string, number>();
  for (const a of alerts) alertCount.set(a.service, (alertCount.get(a.service) ?? 0) + 1);

  const services: ServiceView[] = [...instances.entries()].map(([name, list]) => {
    const certs = list.flatMap((i) => (i.cert ? [i.cert] : []));
    return {
      name,
      instances: list.length,
      up: list.filter((i) => i.status === 'up').length,
      stale: list.filter((i) => i.status === 'stale').length,
      ready: list.filter((i) => i.status === 'up' && i.ready).length,
      versions: [...new Set(list.map((i) => i.version))].sort(),
      metrics: serviceMetrics.get(name) ?? null,
      objective: objectiveOf(name, opts.alerts),
      mtls: mtlsOf(list.flatMap((i) => i.listeners.filter((l) => l.direction === 'inbound').map((l) => l.mtls))),
      certExpiresAtMs: certs.length ? Math.min(...certs.map((c) => c.notAfterMs)) : null,
      certInRenewalWindow: certs.some((c) => certInRenewalWindow(c, nowMs, opts.alerts.renewalWindow)),
      alerts: alertCount.get(name) ?? 0,
    };
  }).sort((a, b) => a.name.localeCompare(b.name));

  return {
    generatedAtMs: nowMs,
    replica: opts.replica,
    totals: { agents, staleAgents, services: services.length, edges: edgeViews.length, rps: services.reduce((s, v) => s + (v.metrics?.rps ?? 0), 0) },
    services,
    edges: edgeViews,
    alerts,
    instances,
  };
}

/** The view without instance lists: what the dashboard receives live. */
export function summaryOf(view: MeshView): Omit<MeshView, 'instances'> {
  const { instances: _omit, ...summary } = view;
  return summary;
}
