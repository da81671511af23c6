/**
 * The Consul-API test server's public surface: its options (timing knobs,
 * ACLs, a shared cluster) and the handle tests get back — URL, close(), fault
 * injection, ACL control, check control, CA rotation, intentions, catalog
 * inspection, agent restart/kill and the request log.
 */
import type { AclRules, AclTokenSpec } from './acl.ts';
import type { LocalCheck } from './agent-state.ts';
import type { ConsulCluster } from './context.ts';
import type { FaultScope, MalformedKind } from './faults.ts';
import type { ServiceDef } from './service-def.ts';
import type { ConsulStore } from './store.ts';
import type { CheckRecord, CheckStatus, ServiceRecord } from './types.ts';

export interface ConsulTestServerOptions {
  /** Share the catalog with other test agents (one node each). */
  cluster?: ConsulCluster;
  datacenter?: string;
  nodeName?: string;
  nodeAddress?: string;
  nodeMeta?: Record<string, string>;
  /** Listen port (default 0 = any free port). */
  port?: number;
  /** Listen address (default 127.0.0.1), e.g. a network namespace's address for agents in other namespaces. */
  host?: string;
  /** Service virtual IPs (`consul-virtual` tagged addresses), as Consul 1.11+ assigns them; false = older servers. Default true. */
  virtualIps?: boolean;
  acl?: { defaultPolicy?: 'allow' | 'deny'; tokens?: AclTokenSpec[]; agentToken?: string };
  jitter?: boolean;
  maxWaitMs?: number;
  checkUpdateIntervalMs?: number;
  reapIntervalMs?: number;
  deregisterMinMs?: number;
  minCheckIntervalMs?: number;
  /** Random first-run stagger of interval checks (Consul: on). */
  staggerChecks?: boolean;
  leafTtlMs?: number;
  leafRenewFraction?: number;
  clusterId?: string;
  version?: string;
}

export interface RequestRecord { method: string; path: string; query: string; at: number; status: number }

export interface InstanceView { node: string; service: ServiceRecord; checks: CheckRecord[]; status: CheckStatus }

export interface ConsulTestServer {
  readonly url: string;
  readonly port: number;
  readonly host: string;
  readonly nodeName: string;
  readonly cluster: ConsulCluster;
  readonly store: ConsulStore;
  close(): Promise<void>;
  faults: {
    /** Stop listening and drop every connection: clients get ECONNREFUSED. */
    down(): Promise<void>;
    up(): Promise<void>;
    slow(ms: number, scope?: FaultScope): void;
    error500(message?: string, scope?: FaultScope): void;
    malformed(kind?: MalformedKind, scope?: FaultScope): void;
    /** Make the raft index go backwards (snapshot restore / fresh servers). */
    resetIndex(to?: number): void;
    clear(): void;
  };
  acl: {
    enable(defaultPolicy?: 'allow' | 'deny'): void;
    disable(): void;
    setToken(spec: AclTokenSpec): { secretId: string; accessorId: string };
    deleteToken(secretId: string): void;
    setAnonymousRules(rules: AclRules): void;
  };
  checks: {
    expire(checkId: string): void;
    setStatus(checkId: string, status: CheckStatus, output?: string): void;
    reap(): void;
    local(): LocalCheck[];
  };
  ca: { rotate(): void; pruneInactive(): void; readonly trustDomain: string };
  intentions: { set(source: string, destination: string, action: 'allow' | 'deny'): void; delete(source: string, destination: string): void };
  catalog: {
    services(): Record<string, string[]>;
    instances(name: string): InstanceView[];
    connect(name: string): InstanceView[];
    /** The service's virtual IP (240.0.0.0/4), as `<name>.virtual.consul` would answer; undefined when it has none. */
    virtualIp(name: string): string | undefined;
    /** PUT /v1/catalog/register semantics, for instances on nodes with no agent. */
    register(entry: { node: string; address: string; service?: Partial<ServiceRecord> & { Service: string }; checks?: Array<{ CheckID: string; Name?: string; Status: CheckStatus; ServiceID?: string; Output?: string }> }): void;
    deregister(node: string, serviceId?: string): void;
  };
  agentServices(): ServiceDef[];
  /** Agent process restart: local state is forgotten unless `persist`; anti-entropy then cleans the catalog. */
  restart(opts?: { persist?: boolean; graceful?: boolean; downtimeMs?: number }): Promise<void>;
  /** Agent crash: stops listening, serfHealth goes critical, timers stop. */
  kill(): Promise<void>;
  readonly requests: readonly RequestRecord[];
  countRequests(filter?: { path?: string | RegExp; since?: number; method?: string }): number;
}

