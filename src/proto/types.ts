/**
 * TypeScript shapes of the control-plane messages as they travel through
 * grpc-js with the loader options of `load.ts` (camelCase, int64 as number,
 * enums as names, absent sub-messages as null). Hand-written to mirror
 * identity.proto and mesh.proto; keep the three files in step.
 */

// === identity.proto ===

export interface CertifyRequest {
  csrPem: string;
  joinToken?: string | null;
  spiffeId: string;
}

export interface CertifyResponse {
  leafPem: string;
  chainPem: string[];
  rootsPem: string[];
  /** Unix ms. */
  notAfter: number;
}

// === mesh.proto ===

export type WireEndpointState = 'ENDPOINT_STATE_UNSPECIFIED' | 'HEALTHY' | 'EJECTED' | 'BREAKER_OPEN';

export interface WireListener {
  name: string;
  direction: string;
  address: string;
  port: number;
  protocol: string;
  mtls: boolean;
}

export interface WireEndpoint {
  address: string;
  port: number;
  state: WireEndpointState;
}

export interface WireUpstream {
  service: string;
  endpoints: WireEndpoint[];
}

export interface WireGoldenMetrics {
  requests: number;
  rps: number;
  successRate: number;
  p50Ms: number;
  p99Ms: number;
}

export interface WireEdgeMetrics {
  upstream: string;
  metrics: WireGoldenMetrics | null;
  retries: number;
  retryBudgetRemaining: number;
  mtls: boolean;
}

export interface WireCertStatus {
  spiffeId: string;
  serial: string;
  notBeforeMs: number;
  notAfterMs: number;
}

export interface WireReadiness {
  ready: boolean;
  reasons: string[];
}

export interface AgentReport {
  agentId: string;
  snapshot: boolean;
  seq: number;
  intervalMs: number;
  sentAtMs: number;
  service: string;
  instance: string;
  version: string;
  /** null = unchanged since the previous report on this stream. */
  listeners: { items: WireListener[] } | null;
  upstreams: { items: WireUpstream[] } | null;
  edges: WireEdgeMetrics[];
  inbound: WireGoldenMetrics | null;
  cert: WireCertStatus | null;
  readiness: WireReadiness | null;
}

export interface WireAuthzRule {
  source: string;
  destination: string;
  action: string;
  pathPrefixes: string[];
  methods: string[];
}

export interface WireRateLimit {
  service: string;
  pathPrefix: string;
  requestsPerSecond: number;
  burst: number;
}

export interface WirePolicy {
  defaultAuthz: string;
  authz: WireAuthzRule[];
  rateLimits: WireRateLimit[];
}

export interface Directive {
  version: number;
  policy?: WirePolicy | null;
  rotateCertificate?: { reason: string } | null;
  /** Set by the loader on receipt (oneofs: true): which member is present. */
  kind?: 'policy' | 'rotateCertificate';
}
