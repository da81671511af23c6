/**
 * Fixtures for the coordinator tests (unit and integration): a coordinator on
 * 127.0.0.1 port 0 with an in-memory CA, simulated agents that report through
 * the real Reporter over real mTLS gRPC, and a polling wait.
 * Not a test file itself (tap runs *.test.ts only).
 */
import type { Test } from 'tap';
import { type Coordinator, startCoordinator } from '../../../src/coordinator/coordinator.ts';
import type { CoordinatorInput } from '../../../src/coordinator/options.ts';
import { type CaMaterial, createRootCa } from '../../../src/coordinator/signer.ts';
import { Reporter } from '../../../src/control/reporter.ts';
import type { AgentSnapshot, EdgeInfo, UpstreamInfo } from '../../../src/control/snapshot.ts';
import type { WirePolicy } from '../../../src/proto/types.ts';

let sharedCa: CaMaterial | undefined;
/** One root per test process: RSA key generation is the slow part. */
export function testCa(): CaMaterial {
  sharedCa ??= createRootCa('aim.local');
  return sharedCa;
}

export const JOIN_TOKEN = 'test-join-token-0123456789';

export async function startTestCoordinator(t: Test, over: Partial<CoordinatorInput> = {}): Promise<Coordinator> {
  const c = await startCoordinator({
    ca: testCa(),
    grpc: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    joinTokens: [{ service: '*', token: JOIN_TOKEN }],
    minPublishIntervalMs: 50,
    sweepIntervalMs: 50,
    ...over,
  });
  t.teardown(() => c.close());
  return c;
}

export async function waitFor<T>(what: string, fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface SimAgentOptions {
  readonly service: string;
  readonly instance?: string;
  readonly version?: string;
  readonly intervalMs?: number;
  readonly upstreams?: readonly UpstreamInfo[];
  readonly edges?: readonly EdgeInfo[];
  readonly inbound?: AgentSnapshot['inbound'];
  readonly mtls?: boolean;
  readonly certTtlMs?: number;
}

/** A simulated agent: a real Reporter whose snapshot tests can change at will. */
export class SimAgent {
  snap: AgentSnapshot;
  readonly reporter: Reporter;
  readonly policies: { version: number; policy: WirePolicy }[] = [];
  readonly rotations: string[] = [];

  constructor(c: Coordinator, o: SimAgentOptions) {
    const leaf = c.issueLeaf(o.service, o.certTtlMs);
    const instance = o.instance ?? `${o.service}-1`;
    const now = Date.now();
    this.snap = {
      agentId: `${instance}`,
      service: o.service,
      instance,
      version: o.version ?? 'v1',
      listeners: [{ name: 'inbound', direction: 'inbound', address: '127.0.0.1', port: 20000, protocol: 'http', mtls: o.mtls ?? true }],
      upstreams: o.upstreams ?? [],
      edges: o.edges ?? [],
      ...(o.inbound ? { inbound: o.inbound } : {}),
      cert: { spiffeId: leaf.spiffeId, serial: '01', notBeforeMs: now - 1000, notAfterMs: now + (o.certTtlMs ?? 3600_000) },
      readiness: { ready: true, reasons: [] },
    };
    this.reporter = new Reporter({
      target: c.grpcTarget,
      intervalMs: o.intervalMs ?? 200,
      coordinatorIdentity: { exact: c.spiffeId },
      tls: () => ({ rootsPem: c.rootsPem, keyPem: leaf.keyPem, certPem: leaf.certPem }),
      snapshot: () => this.snap,
      onPolicy: (policy, version) => this.policies.push({ policy, version }),
      onRotateCertificate: (reason) => this.rotations.push(reason),
    });
  }

  start(t: Test): this {
    this.reporter.start();
    t.teardown(() => this.reporter.stop());
    return this;
  }
}

export function edge(upstream: string, rps: number, successRate: number, extra: Partial<EdgeInfo> = {}): EdgeInfo {
  return {
    upstream,
    metrics: { requests: Math.round(rps * 5), rps, successRate, p50Ms: 4, p99Ms: 35 },
    retries: 0,
    retryBudgetRemaining: 1,
    mtls: true,
    ...extra,
  };
}

export function upstream(service: string, states: readonly ('healthy' | 'ejected' | 'breaker_open')[], basePort = 21000): UpstreamInfo {
  return { service, endpoints: states.map((state, i) => ({ address: '127.0.0.1', port: basePort + i, state })) };
}
