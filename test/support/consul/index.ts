/**
 * The Consul-API test server: a real node:http server that follows
 * ../shared/consul-api/SPEC.md and examples/ (one "client agent" on a node,
 * backed by a ConsulCluster that several test agents may share).
 *
 *   const consul = await startConsulTestServer({ jitter: false });
 *   t.teardown(() => consul.close());
 *   consul.faults.down(); consul.faults.up(); consul.faults.slow(2000);
 *   consul.faults.error500(); consul.faults.malformed('truncated'); consul.faults.resetIndex();
 *   consul.acl.enable('deny'); consul.acl.setToken({ secretId, rules: { service: { web: 'write' } } });
 *   consul.checks.expire('service:web'); consul.restart({ downtimeMs: 500 });
 *   consul.catalog.instances('web'); consul.countRequests({ path: '/v1/health/' });
 *
 * Timing knobs (Consul's defaults in brackets) make tests fast: reapIntervalMs
 * [30s], deregisterMinMs [1m], checkUpdateIntervalMs [5m], minCheckIntervalMs
 * [1s], leafTtlMs [72h], jitter [on, up to wait/16], maxWaitMs [10m].
 */
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentState, newNodeId, serfHealth } from './agent-state.ts';
import { LeafCache } from './connect-ca-state.ts';
import { ConsulCluster, type AgentConfig, type Ctx } from './context.ts';
import { Faults } from './faults.ts';
import { createHandler } from './handler.ts';
import { Router } from './router.ts';
import type { ConsulTestServer, ConsulTestServerOptions, InstanceView, RequestRecord } from './server-api.ts';
import type { CheckRecord, CheckStatus, ServiceRecord } from './types.ts';

export { ConsulCluster } from './context.ts';
export type { AclRules, AclTokenSpec } from './acl.ts';
export type { CheckRecord, CheckStatus, ServiceRecord } from './types.ts';
export type { ConsulTestServer, ConsulTestServerOptions, InstanceView, RequestRecord } from './server-api.ts';

const worst = (checks: CheckRecord[]): CheckStatus =>
  checks.some((c) => c.Status === 'critical') ? 'critical' : checks.some((c) => c.Status === 'warning') ? 'warning' : 'passing';

export async function startConsulTestServer(opts: ConsulTestServerOptions = {}): Promise<ConsulTestServer> {
  const cluster = opts.cluster ?? new ConsulCluster({
    datacenter: opts.datacenter ?? 'dc1',
    virtualIps: opts.virtualIps ?? true,
    ca: {
      leafTtlMs: opts.leafTtlMs ?? 72 * 3_600_000,
      ...(opts.clusterId !== undefined ? { clusterId: opts.clusterId } : {}),
      ...(opts.leafRenewFraction !== undefined ? { renewFraction: opts.leafRenewFraction } : {}),
    },
  });
  const ownsCluster = opts.cluster === undefined;
  const store = cluster.store;
  if (opts.acl) {
    cluster.acl.enable(opts.acl.defaultPolicy ?? 'deny');
    for (const t of opts.acl.tokens ?? []) cluster.acl.setToken(t);
    cluster.acl.agentDefaultToken = opts.acl.agentToken;
  }
  const config: AgentConfig = {
    nodeName: opts.nodeName ?? 'node1',
    nodeId: newNodeId(),
    address: opts.nodeAddress ?? '127.0.0.1',
    minCheckIntervalMs: opts.minCheckIntervalMs ?? 1000,
    version: opts.version ?? '1.20.0',
  };
  const makeAgent = (): AgentState => new AgentState(store, {
    nodeName: config.nodeName, nodeId: config.nodeId, address: config.address, nodeMeta: opts.nodeMeta ?? {},
    checkUpdateIntervalMs: opts.checkUpdateIntervalMs ?? 5 * 60_000,
    reapIntervalMs: opts.reapIntervalMs ?? 30_000,
    deregisterMinMs: opts.deregisterMinMs ?? 60_000,
    staggerChecks: opts.staggerChecks ?? true,
  });
  let ctx: Ctx = {
    cluster, agent: makeAgent(), leaves: new LeafCache(cluster.ca, store, store.datacenter),
    blocking: { jitter: opts.jitter ?? true, maxWaitMs: opts.maxWaitMs ?? 10 * 60_000 }, config,
  };
  ctx.agent.start();

  const faults = new Faults();
  const router = new Router();
  const requests: RequestRecord[] = [];
  const sockets = new Set<Socket>();
  const writeOpts = () => ({ aclDefaultPolicy: cluster.acl.enabled ? cluster.acl.defaultPolicy : 'allow' as const });

  const handle = createHandler({ faults, router, requests, store, ctx: () => ctx, writeOpts });

  const server: Server = createServer((q, s) => { void handle(q, s); });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, host, resolve));
  const port = (server.address() as { port: number }).port;
  let listening = true;

  const down = async (): Promise<void> => {
    if (!listening) return;
    listening = false;
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of sockets) s.destroy();
    await closed;
  };
  const up = async (): Promise<void> => {
    if (listening) return;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => { server.off('error', reject); resolve(); });
    });
    listening = true;
  };

  const view = (list: ServiceRecord[]): InstanceView[] => list.map((s) => {
    const checks = store.checksFor(s);
    return { node: s.Node, service: s, checks, status: worst(checks) };
  });

  const handleApi: ConsulTestServer = {
    url: `http://${host}:${port}`,
    port,
    host,
    nodeName: config.nodeName,
    cluster,
    store,
    async close() {
      ctx.agent.stop();
      ctx.leaves.close();
      if (ownsCluster) cluster.close();
      await down();
    },
    faults: {
      down, up,
      slow: (ms, scope) => faults.slow(ms, scope),
      error500: (m, scope) => faults.error500(m, scope),
      malformed: (k, scope) => faults.malformed(k, scope),
      resetIndex: (to) => store.resetIndex(to),
      clear: () => faults.clear(),
    },
    acl: {
      enable: (p) => cluster.acl.enable(p),
      disable: () => cluster.acl.disable(),
      setToken: (s) => cluster.acl.setToken(s),
      deleteToken: (s) => cluster.acl.deleteToken(s),
      setAnonymousRules: (r) => cluster.acl.setAnonymousRules(r),
    },
    checks: {
      expire: (id) => ctx.agent.expireTtl(id),
      setStatus: (id, status, output = '') => ctx.agent.setStatus(id, status, output),
      reap: () => ctx.agent.reap(),
      local: () => [...ctx.agent.checks.values()],
    },
    ca: {
      rotate: () => { cluster.ca.rotate(); ctx.leaves.reissueAll(); },
      pruneInactive: () => cluster.ca.pruneInactive(),
      get trustDomain() { return cluster.ca.trustDomain; },
    },
    intentions: {
      set: (s, d, action) => cluster.intentions.upsert(s, d, { Action: action }),
      delete: (s, d) => cluster.intentions.delete(s, d),
    },
    catalog: {
      services() {
        const out: Record<string, string[]> = {};
        for (const s of store.allServices()) {
          const tags = (out[s.Service] ??= []);
          for (const t of s.Tags ?? []) if (!tags.includes(t)) tags.push(t);
        }
        return out;
      },
      instances: (name) => view(store.serviceInstances(name)),
      connect: (name) => view(store.connectInstances(name)),
      virtualIp: (name) => store.virtualIps.get(name),
      register: (e) => store.transaction(() => {
        store.upsertNode({ ID: '', Node: e.node, Address: e.address, Datacenter: store.datacenter, TaggedAddresses: { lan: e.address, wan: e.address }, Meta: {} });
        if (e.service) {
          const s = e.service;
          store.upsertService({
            Node: e.node, Kind: s.Kind ?? '', ID: s.ID ?? s.Service, Service: s.Service, Tags: s.Tags ?? null, Address: s.Address ?? '',
            TaggedAddresses: s.TaggedAddresses, Meta: s.Meta ?? null, Port: s.Port ?? 0, SocketPath: s.SocketPath ?? '',
            Weights: s.Weights ?? { Passing: 1, Warning: 1 }, EnableTagOverride: s.EnableTagOverride ?? false,
            Proxy: s.Proxy, Connect: s.Connect,
          });
        }
        for (const c of e.checks ?? []) {
          const svc = c.ServiceID ? store.services.get(e.node)?.get(c.ServiceID) : undefined;
          store.upsertCheck({
            Node: e.node, CheckID: c.CheckID, Name: c.Name ?? c.CheckID, Status: c.Status, Notes: '', Output: c.Output ?? '',
            ServiceID: c.ServiceID ?? '', ServiceName: svc?.Service ?? '', ServiceTags: [...(svc?.Tags ?? [])], Type: '',
            Interval: '', Timeout: '', ExposedPort: 0, Definition: {},
          });
        }
      }),
      deregister(node, serviceId) {
        if (serviceId) store.deleteService(node, serviceId);
        else store.deleteNode(node);
      },
    },
    agentServices: () => [...ctx.agent.services.values()],
    async restart(r = {}) {
      await down();
      const old = ctx.agent;
      old.stop();
      ctx.leaves.close();
      if (r.graceful) store.deleteNode(config.nodeName);
      else store.upsertCheck(serfHealth(config.nodeName, false));
      if (r.downtimeMs) await sleep(r.downtimeMs);
      const agent = makeAgent();
      if (r.persist) {
        for (const d of old.services.values()) agent.services.set(d.ID, d);
        for (const [id, c] of old.checks) agent.checks.set(id, { ...c, timers: [], outputSync: undefined });
      }
      ctx = { ...ctx, agent, leaves: new LeafCache(cluster.ca, store, store.datacenter) };
      agent.start();
      await up();
    },
    async kill() {
      await down();
      ctx.agent.stop();
      store.upsertCheck(serfHealth(config.nodeName, false));
    },
    requests,
    countRequests(f = {}) {
      return requests.filter((r) =>
        (f.since === undefined || r.at >= f.since) &&
        (f.method === undefined || r.method === f.method) &&
        (f.path === undefined || (typeof f.path === 'string' ? r.path.startsWith(f.path) : f.path.test(r.path)))).length;
    },
  };
  return handleApi;
}
