/**
 * Alert rules over the aggregated view (pure), and the tracker that remembers
 * since when each alert has been firing.
 *
 *  - cert_renewal: a leaf inside its renewal window (the last `renewalWindow`
 *    fraction of its lifetime; agents renew at ~70%, so a leaf still in use
 *    there means renewal is late) — critical once expired;
 *  - breaker_open / endpoint_ejected: per edge, as seen by the source's agents;
 *  - slo_breach: a service's success rate under its objective, once the
 *    interval carried at least `minRequestsForSlo` requests (no alert on noise);
 *  - agent_stale: an agent that stopped reporting (until it is removed).
 */
import type { Alert, CertInfo, EdgeView, GoldenMetrics, InstanceView } from './model.ts';

export interface AlertRules {
  /** Fraction of a leaf's lifetime, counted back from notAfter. */
  readonly renewalWindow: number;
  /** Success-rate objective per service (0..1). */
  readonly objectives: Readonly<Record<string, number>>;
  readonly defaultObjective: number;
  readonly minRequestsForSlo: number;
}

export const defaultAlertRules: AlertRules = { renewalWindow: 0.3, objectives: {}, defaultObjective: 0.99, minRequestsForSlo: 20 };

export type PendingAlert = Omit<Alert, 'sinceMs'>;

export function objectiveOf(service: string, rules: AlertRules): number {
  return rules.objectives[service] ?? rules.defaultObjective;
}

export function certInRenewalWindow(cert: CertInfo, nowMs: number, renewalWindow: number): boolean {
  const life = cert.notAfterMs - cert.notBeforeMs;
  return nowMs >= cert.notAfterMs - renewalWindow * life;
}

const pct = (x: number): string => `${(x * 100).toFixed(x >= 0.999 && x < 1 ? 2 : 1)}%`;

export function evaluateAlerts(
  input: {
    readonly instances: ReadonlyMap<string, readonly InstanceView[]>;
    readonly edges: readonly EdgeView[];
    readonly serviceMetrics: ReadonlyMap<string, GoldenMetrics | null>;
  },
  nowMs: number,
  rules: AlertRules,
): PendingAlert[] {
  const out: PendingAlert[] = [];
  for (const [service, list] of input.instances) {
    for (const i of list) {
      if (i.status === 'stale') {
        out.push({ id: `agent_stale:${i.agentId}`, kind: 'agent_stale', severity: 'warning', service, agentId: i.agentId, message: `${service}/${i.instance} has not reported for ${Math.round(i.lastSeenAgoMs / 1000)} s` });
      }
      if (i.cert && certInRenewalWindow(i.cert, nowMs, rules.renewalWindow)) {
        const expired = nowMs >= i.cert.notAfterMs;
        out.push({
          id: `cert_renewal:${i.agentId}`, kind: 'cert_renewal', severity: expired ? 'critical' : 'warning', service, agentId: i.agentId,
          message: expired
            ? `${service}/${i.instance}: certificate expired ${Math.round((nowMs - i.cert.notAfterMs) / 1000)} s ago`
            : `${service}/${i.instance}: certificate expires in ${Math.round((i.cert.notAfterMs - nowMs) / 1000)} s and has not been renewed`,
        });
      }
    }
  }
  for (const e of input.edges) {
    if (e.breakersOpen > 0) {
      out.push({ id: `breaker_open:${e.source}>${e.destination}`, kind: 'breaker_open', severity: 'warning', service: e.source, upstream: e.destination, message: `${e.source} → ${e.destination}: breaker open on ${e.breakersOpen} of ${e.endpoints} endpoints` });
    }
    if (e.ejected > 0) {
      out.push({ id: `endpoint_ejected:${e.source}>${e.destination}`, kind: 'endpoint_ejected', severity: 'warning', service: e.source, upstream: e.destination, message: `${e.source} → ${e.destination}: ${e.ejected} of ${e.endpoints} endpoints ejected` });
    }
  }
  for (const [service, m] of input.serviceMetrics) {
    const objective = objectiveOf(service, rules);
    if (m && m.requests >= rules.minRequestsForSlo && m.successRate < objective) {
      out.push({ id: `slo_breach:${service}`, kind: 'slo_breach', severity: 'critical', service, message: `${service}: success rate ${pct(m.successRate)} is under its objective ${pct(objective)}` });
    }
  }
  return out;
}

/** Remembers when each alert id was first seen; forgets ids that stop firing. */
export class AlertTracker {
  readonly #since = new Map<string, number>();

  stamp(pending: readonly PendingAlert[], nowMs: number): Alert[] {
    const seen = new Set<string>();
    const out: Alert[] = [];
    for (const p of pending) {
      seen.add(p.id);
      let since = this.#since.get(p.id);
      if (since === undefined) {
        since = nowMs;
        this.#since.set(p.id, since);
      }
      out.push({ ...p, sinceMs: since });
    }
    for (const id of this.#since.keys()) if (!seen.has(id)) this.#since.delete(id);
    const rank = (a: Alert): number => (a.severity === 'critical' ? 0 : 1);
    return out.sort((a, b) => rank(a) - rank(b) || a.sinceMs - b.sinceMs || a.id.localeCompare(b.id));
  }
}
