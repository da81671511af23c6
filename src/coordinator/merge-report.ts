/**
 * Turns the stream of AgentReports of one agent into its current
 * AgentRecord: a snapshot replaces every section, a delta keeps the sections it
 * leaves out. Also the report's sanity checks (sizes, identity), so a
 * misbehaving agent cannot make the coordinator hold unbounded state. Pure.
 */
import { endpointStateFromWire } from '../control/snapshot.ts';
import type { AgentReport, WireGoldenMetrics } from '../proto/types.ts';
import type { AgentRecord, GoldenMetrics } from './model.ts';

export const reportLimits = {
  idChars: 253,
  listeners: 256,
  upstreams: 1024,
  endpointsPerUpstream: 4096,
  edges: 1024,
  reasons: 64,
} as const;

const NAME = /^[A-Za-z0-9._:@-]{1,253}$/;

/** A reason to refuse the report, or undefined when it is acceptable. */
export function reportProblem(r: AgentReport, peerService: string): string | undefined {
  if (!NAME.test(r.agentId)) return 'agent_id must be 1-253 characters of [A-Za-z0-9._:@-]';
  if (r.service !== peerService) return `service '${r.service}' does not match the caller's identity (service '${peerService}')`;
  if (r.instance.length > reportLimits.idChars || r.version.length > reportLimits.idChars) return 'instance or version too long';
  if (!(r.intervalMs >= 100 && r.intervalMs <= 3_600_000)) return 'interval_ms must be within 100 ms .. 1 h';
  if ((r.listeners?.items.length ?? 0) > reportLimits.listeners) return 'too many listeners';
  const ups = r.upstreams?.items ?? [];
  if (ups.length > reportLimits.upstreams) return 'too many upstreams';
  if (ups.some((u) => u.endpoints.length > reportLimits.endpointsPerUpstream)) return 'too many endpoints in an upstream';
  if (r.edges.length > reportLimits.edges) return 'too many edges';
  if ((r.readiness?.reasons.length ?? 0) > reportLimits.reasons) return 'too many readiness reasons';
  return undefined;
}

const finite = (n: number, lo = 0, hi = Number.MAX_SAFE_INTEGER): number => (Number.isFinite(n) ? Math.min(hi, Math.max(lo, n)) : lo);

function golden(m: WireGoldenMetrics | null): GoldenMetrics | null {
  if (!m) return null;
  return {
    requests: finite(m.requests), rps: finite(m.rps), successRate: finite(m.successRate, 0, 1),
    p50Ms: finite(m.p50Ms), p99Ms: finite(m.p99Ms),
  };
}

const EMPTY_METRICS: GoldenMetrics = { requests: 0, rps: 0, successRate: 1, p50Ms: 0, p99Ms: 0 };

export interface MergeContext {
  readonly spiffeId: string;
  readonly replica: string;
  readonly nowMs: number;
  readonly connectedAtMs: number;
}

export function mergeReport(prev: AgentRecord | undefined, r: AgentReport, ctx: MergeContext): AgentRecord {
  const base = r.snapshot ? undefined : prev;
  return {
    agentId: r.agentId,
    service: r.service,
    instance: r.instance,
    version: r.version,
    spiffeId: ctx.spiffeId,
    replica: ctx.replica,
    intervalMs: r.intervalMs,
    connectedAtMs: ctx.connectedAtMs,
    lastSeenMs: ctx.nowMs,
    lastSentAtMs: r.sentAtMs,
    seq: r.seq,
    listeners: r.listeners
      ? r.listeners.items.map((l) => ({ ...l, direction: l.direction === 'outbound' ? 'outbound' as const : 'inbound' as const }))
      : base?.listeners ?? [],
    upstreams: r.upstreams
      ? r.upstreams.items.map((u) => ({
        service: u.service,
        endpoints: u.endpoints.map((e) => ({ address: e.address, port: e.port, state: endpointStateFromWire(e.state) })),
      }))
      : base?.upstreams ?? [],
    edges: r.edges.map((e) => ({
      upstream: e.upstream,
      metrics: golden(e.metrics) ?? EMPTY_METRICS,
      retries: finite(e.retries),
      retryBudgetRemaining: finite(e.retryBudgetRemaining, 0, 1),
      mtls: e.mtls,
    })),
    inbound: golden(r.inbound),
    cert: r.cert ? (r.cert.spiffeId === '' ? null : { ...r.cert }) : base?.cert ?? null,
    readiness: r.readiness ? { ready: r.readiness.ready, reasons: [...r.readiness.reasons] } : base?.readiness ?? { ready: false, reasons: ['no readiness reported'] },
  };
}
