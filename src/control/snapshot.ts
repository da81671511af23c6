/**
 * What an agent tells the coordinator about itself, and how a report is cut
 * from it: the first report on a stream carries everything, later ones carry
 * only the sections that changed (plus the per-interval metrics, which are
 * new every time). Pure: the reporter owns the timers and the stream.
 */
import type { AgentReport, WireEndpointState, WireGoldenMetrics } from '../proto/types.ts';

export type EndpointState = 'healthy' | 'ejected' | 'breaker_open';

export interface ListenerInfo {
  readonly name: string;
  readonly direction: 'inbound' | 'outbound';
  readonly address: string;
  readonly port: number;
  readonly protocol: string;
  readonly mtls: boolean;
}

export interface EndpointInfo {
  readonly address: string;
  readonly port: number;
  readonly state: EndpointState;
}

export interface UpstreamInfo {
  readonly service: string;
  readonly endpoints: readonly EndpointInfo[];
}

/** Golden metrics over one report interval. */
export interface GoldenMetrics {
  readonly requests: number;
  readonly rps: number;
  /** 0..1; 1 when there were no requests. */
  readonly successRate: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface EdgeInfo {
  /** Destination service. */
  readonly upstream: string;
  readonly metrics: GoldenMetrics;
  readonly retries: number;
  /** 0..1 left of the retry budget. */
  readonly retryBudgetRemaining: number;
  readonly mtls: boolean;
}

export interface CertInfo {
  readonly spiffeId: string;
  readonly serial: string;
  /** Unix ms. */
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

export interface ReadinessInfo {
  readonly ready: boolean;
  readonly reasons: readonly string[];
}

/** Everything the agent knows about itself at one instant (the reporter's input). */
export interface AgentSnapshot {
  readonly agentId: string;
  readonly service: string;
  readonly instance: string;
  readonly version: string;
  readonly listeners: readonly ListenerInfo[];
  readonly upstreams: readonly UpstreamInfo[];
  /** Outbound metrics per upstream over the last interval. */
  readonly edges: readonly EdgeInfo[];
  /** Inbound metrics over the last interval (undefined = the agent does not measure it). */
  readonly inbound?: GoldenMetrics;
  readonly cert?: CertInfo;
  readonly readiness: ReadinessInfo;
}

const toWireState: Record<EndpointState, WireEndpointState> = {
  healthy: 'HEALTHY', ejected: 'EJECTED', breaker_open: 'BREAKER_OPEN',
};

const fromWire: Record<WireEndpointState, EndpointState> = {
  ENDPOINT_STATE_UNSPECIFIED: 'healthy', HEALTHY: 'healthy', EJECTED: 'ejected', BREAKER_OPEN: 'breaker_open',
};

export function endpointStateFromWire(s: WireEndpointState): EndpointState {
  return fromWire[s] ?? 'healthy';
}

function wireGolden(m: GoldenMetrics): WireGoldenMetrics {
  return { requests: m.requests, rps: m.rps, successRate: m.successRate, p50Ms: m.p50Ms, p99Ms: m.p99Ms };
}

/** Sections compared between reports; their JSON is cheap next to the interval. */
export interface SentSections {
  readonly listeners: string;
  readonly upstreams: string;
  readonly cert: string;
  readonly readiness: string;
}

export interface CutReport {
  readonly report: AgentReport;
  /** Remember these once the report was actually written; pass them as `previous` next time. */
  readonly sections: SentSections;
}

/**
 * Cut the report for `snap`. With `previous` undefined the report is a full
 * snapshot; otherwise each section equal to what was last sent is left out.
 */
export function cutReport(
  snap: AgentSnapshot,
  previous: SentSections | undefined,
  meta: { seq: number; intervalMs: number; sentAtMs: number },
): CutReport {
  const sections: SentSections = {
    listeners: JSON.stringify(snap.listeners),
    upstreams: JSON.stringify(snap.upstreams),
    cert: JSON.stringify(snap.cert ?? null),
    readiness: JSON.stringify(snap.readiness),
  };
  const full = previous === undefined;
  const changed = (k: keyof SentSections): boolean => full || previous[k] !== sections[k];
  const report: AgentReport = {
    agentId: snap.agentId,
    snapshot: full,
    seq: meta.seq,
    intervalMs: meta.intervalMs,
    sentAtMs: meta.sentAtMs,
    service: snap.service,
    instance: snap.instance,
    version: snap.version,
    listeners: changed('listeners') ? { items: snap.listeners.map((l) => ({ ...l })) } : null,
    upstreams: changed('upstreams')
      ? {
        items: snap.upstreams.map((u) => ({
          service: u.service,
          endpoints: u.endpoints.map((e) => ({ address: e.address, port: e.port, state: toWireState[e.state] })),
        })),
      }
      : null,
    edges: snap.edges.map((e) => ({
      upstream: e.upstream,
      metrics: wireGolden(e.metrics),
      retries: e.retries,
      retryBudgetRemaining: e.retryBudgetRemaining,
      mtls: e.mtls,
    })),
    inbound: snap.inbound ? wireGolden(snap.inbound) : null,
    // An agent that lost its cert sends an empty CertStatus (spiffeId '') so the change is visible.
    cert: changed('cert') ? (snap.cert ? { ...snap.cert } : { spiffeId: '', serial: '', notBeforeMs: 0, notAfterMs: 0 }) : null,
    readiness: changed('readiness') ? { ready: snap.readiness.ready, reasons: [...snap.readiness.reasons] } : null,
  };
  return { report, sections };
}
