/**
 * The coordinator's data model: one AgentRecord per reporting agent (the
 * merged result of its snapshot and deltas), and the views built from them
 * for the HTTP API, the dashboard and /metrics. Everything here is plain JSON
 * so records can be shared between replicas through Consul KV unchanged.
 */
import type { CertInfo, EdgeInfo, GoldenMetrics, ListenerInfo, ReadinessInfo, UpstreamInfo } from '../control/snapshot.ts';

export type { CertInfo, EdgeInfo, GoldenMetrics, ListenerInfo, ReadinessInfo, UpstreamInfo };

export interface AgentRecord {
  readonly agentId: string;
  readonly service: string;
  readonly instance: string;
  readonly version: string;
  /** The SPIFFE ID the agent authenticated with. */
  readonly spiffeId: string;
  /** The coordinator replica the agent reports to. */
  readonly replica: string;
  readonly intervalMs: number;
  /** Coordinator wall clock (ms) when the current stream started. */
  readonly connectedAtMs: number;
  /** Coordinator wall clock (ms) of the last report. */
  readonly lastSeenMs: number;
  /** The agent's wall clock when it sent the last report. */
  readonly lastSentAtMs: number;
  readonly seq: number;
  readonly listeners: readonly ListenerInfo[];
  readonly upstreams: readonly UpstreamInfo[];
  readonly edges: readonly EdgeInfo[];
  readonly inbound: GoldenMetrics | null;
  readonly cert: CertInfo | null;
  readonly readiness: ReadinessInfo;
}

export type InstanceStatus = 'up' | 'stale';
/** 'on' = every instance/edge uses mTLS, 'off' = none, 'mixed' = some. */
export type MtlsStatus = 'on' | 'off' | 'mixed' | 'unknown';

export interface InstanceView {
  readonly agentId: string;
  readonly instance: string;
  readonly version: string;
  readonly status: InstanceStatus;
  readonly lastSeenAgoMs: number;
  readonly replica: string;
  readonly spiffeId: string;
  readonly ready: boolean;
  readonly readinessReasons: readonly string[];
  readonly cert: CertInfo | null;
  readonly inbound: GoldenMetrics | null;
  readonly listeners: readonly ListenerInfo[];
  readonly upstreams: readonly UpstreamInfo[];
  /** This instance's outbound metrics per upstream over its last interval. */
  readonly edges: readonly EdgeInfo[];
}

export interface ServiceView {
  readonly name: string;
  readonly instances: number;
  readonly up: number;
  readonly stale: number;
  readonly ready: number;
  readonly versions: readonly string[];
  /** Golden metrics of traffic served by the service (instances' inbound, else edges into it). */
  readonly metrics: GoldenMetrics | null;
  /** Success-rate objective (0..1) used by the slo alert. */
  readonly objective: number;
  readonly mtls: MtlsStatus;
  /** Earliest notAfter (Unix ms) among the instances' leaves. */
  readonly certExpiresAtMs: number | null;
  readonly certInRenewalWindow: boolean;
  readonly alerts: number;
}

export interface EdgeView {
  readonly source: string;
  readonly destination: string;
  /** Rolled up over the source's live instances; null when none reported traffic. */
  readonly metrics: GoldenMetrics | null;
  readonly retries: number;
  /** Lowest retry budget left among the source's instances (0..1). */
  readonly retryBudgetRemaining: number;
  readonly mtls: MtlsStatus;
  /** Distinct destination endpoints some source instance sees with an open breaker. */
  readonly breakersOpen: number;
  /** Distinct destination endpoints some source instance has ejected. */
  readonly ejected: number;
  readonly endpoints: number;
}

export type AlertKind = 'cert_renewal' | 'breaker_open' | 'endpoint_ejected' | 'slo_breach' | 'agent_stale';

export interface Alert {
  /** Stable across evaluations: kind + subject. */
  readonly id: string;
  readonly kind: AlertKind;
  readonly severity: 'warning' | 'critical';
  readonly service: string;
  readonly agentId?: string;
  readonly upstream?: string;
  readonly message: string;
  /** Wall ms when this alert was first seen by this replica. */
  readonly sinceMs: number;
}

export interface ReplicaInfo {
  readonly id: string;
  /** 'consul' = the view merges every replica's agents; 'local' = only this replica's. */
  readonly sharing: 'consul' | 'local';
  readonly note: string;
}

/** The topology and alerts: what /api/v1/mesh returns and the dashboard receives live. */
export interface MeshSummary {
  readonly generatedAtMs: number;
  readonly replica: ReplicaInfo;
  readonly totals: { readonly agents: number; readonly staleAgents: number; readonly services: number; readonly edges: number; readonly rps: number };
  readonly services: readonly ServiceView[];
  readonly edges: readonly EdgeView[];
  readonly alerts: readonly Alert[];
}

/** The summary plus per-service instance lists (for /api/v1/services/:name and /agents/:id). */
export interface MeshView extends MeshSummary {
  readonly instances: ReadonlyMap<string, readonly InstanceView[]>;
}
