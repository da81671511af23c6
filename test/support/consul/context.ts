/**
 * What every route handler of the Consul-API test server gets: the shared
 * cluster (catalog store, ACLs, CA, intentions, sessions), this agent's local
 * state and leaf cache, and the read helper that applies `?dc`, consistency
 * modes and blocking-query semantics uniformly.
 */
import { AclState, type Authorizer } from './acl.ts';
import { blockingQuery, type BlockingSettings } from './blocking.ts';
import type { AgentState } from './agent-state.ts';
import { ConnectCa, type CaSettings, type LeafCache } from './connect-ca-state.ts';
import { consistencyOf, serverError, type Reply, type Req } from './http.ts';
import { IntentionStore } from './intentions.ts';
import { SessionStore } from './sessions.ts';
import { ConsulStore } from './store.ts';

/** The "servers": state shared by every test agent of one datacenter. */
export class ConsulCluster {
  readonly store: ConsulStore;
  readonly acl = new AclState();
  readonly ca: ConnectCa;
  readonly intentions: IntentionStore;
  readonly sessions: SessionStore;
  /** Consul's `connect.default_intention_policy`-like switch; undefined = follow the ACL default. */
  defaultIntentionPolicy: 'allow' | 'deny' | undefined;

  constructor(opts: { datacenter?: string; ca?: Partial<CaSettings>; virtualIps?: boolean } = {}) {
    this.store = new ConsulStore(opts.datacenter ?? 'dc1', { virtualIps: opts.virtualIps ?? true });
    this.ca = new ConnectCa(this.store, { leafTtlMs: 72 * 3_600_000, ...opts.ca });
    this.intentions = new IntentionStore(this.store);
    this.sessions = new SessionStore(this.store);
  }

  close(): void {
    this.sessions.close();
  }
}

export interface AgentConfig {
  nodeName: string;
  nodeId: string;
  address: string;
  minCheckIntervalMs: number;
  version: string;
}

export interface Ctx {
  readonly cluster: ConsulCluster;
  readonly agent: AgentState;
  readonly leaves: LeafCache;
  readonly blocking: BlockingSettings;
  readonly config: AgentConfig;
}

export type Handler = (req: Req, ctx: Ctx) => Promise<Reply> | Reply;

export interface Route {
  /** Exact path, or a prefix when `prefix` (the rest becomes `req.param`). */
  path: string;
  prefix?: boolean;
  methods: readonly string[];
  handler: Handler;
}

export function authz(req: Req, ctx: Ctx): Authorizer {
  return ctx.cluster.acl.authorizer(req);
}

export interface ReadResult { index: number; body: unknown; status?: number; filtered?: boolean; headers?: Record<string, string> }

/**
 * A read backed by the servers: `?dc`, consistency, blocking, query metadata
 * headers. `agentCache` reads (leaf, agent roots) send only X-Consul-Index.
 */
export function serverRead(req: Req, ctx: Ctx, evaluate: () => ReadResult, opts: { agentCache?: boolean } = {}): Promise<Reply> {
  const dc = req.get('dc');
  if (dc !== undefined && dc !== '' && dc !== ctx.cluster.store.datacenter) throw serverError('No path to datacenter');
  const consistency = consistencyOf(req);
  return blockingQuery(req, ctx.cluster.store, ctx.blocking, () => {
    const r = evaluate();
    return {
      body: r.body,
      ...(r.status !== undefined ? { status: r.status } : {}),
      ...(r.headers ? { headers: r.headers } : {}),
      meta: { index: r.index, consistency, filtered: r.filtered ?? false, indexOnly: opts.agentCache ?? false },
    };
  });
}

export { AclState };
