/**
 * Catalog endpoints (SPEC §7): services, service/:s, connect/:s, nodes,
 * node/:n, datacenters (reads, blocking), and PUT register/deregister, which
 * is how tests (and Consul's API) put instances on nodes with no agent.
 */
import { badRequest, type Req } from '../http.ts';
import { compileFilter } from '../filter.ts';
import { renderHealthService, renderNode, renderServiceNode } from '../render.ts';
import { field } from '../service-def.ts';
import { authz, serverRead, type Ctx, type Route } from '../context.ts';
import { CHECK_STATUSES, type CheckStatus, type ServiceRecord } from '../types.ts';

function services(req: Req, ctx: Ctx) {
  const pred = compileFilter(req.get('filter'));
  return serverRead(req, ctx, () => {
    const { store } = ctx.cluster;
    const a = authz(req, ctx);
    const out: Record<string, string[]> = {};
    let filtered = false;
    for (const s of store.allServices()) {
      if (!a.allowed('service', s.Service, 'read')) { filtered = true; continue; }
      if (pred && !pred(renderServiceNode(store.nodes.get(s.Node)!, s))) continue;
      const tags = (out[s.Service] ??= []);
      for (const t of s.Tags ?? []) if (!tags.includes(t)) tags.push(t);
    }
    return { index: store.maxIndex(['services', 'nodes']), body: out, filtered: filtered && a.named };
  });
}

const serviceNodes = (connect: boolean) => (req: Req, ctx: Ctx) => {
  const name = req.param;
  if (name === '') throw badRequest('Missing service name');
  const tags = req.query.getAll('tag');
  const pred = compileFilter(req.get('filter'));
  return serverRead(req, ctx, () => {
    const { store } = ctx.cluster;
    const a = authz(req, ctx);
    const list = connect ? store.connectInstances(name) : store.serviceInstances(name);
    let filtered = false;
    const body: unknown[] = [];
    for (const s of list) {
      const n = store.nodes.get(s.Node);
      if (!n) continue;
      if (!a.allowed('service', s.Service, 'read') || !a.allowed('node', s.Node, 'read')) { filtered = true; continue; }
      if (tags.some((t) => !(s.Tags ?? []).includes(t))) continue;
      const r = renderServiceNode(n, s);
      if (!pred || pred(r)) body.push(r);
    }
    return { index: store.maxIndex([connect ? `connect:${name}` : `svc:${name}`], ['nodes', 'services']), body, filtered: filtered && a.named };
  });
};

function nodes(req: Req, ctx: Ctx) {
  return serverRead(req, ctx, () => {
    const a = authz(req, ctx);
    const body = [...ctx.cluster.store.nodes.values()].filter((n) => a.allowed('node', n.Node, 'read')).map(renderNode);
    return { index: ctx.cluster.store.maxIndex(['nodes']), body };
  });
}

function node(req: Req, ctx: Ctx) {
  return serverRead(req, ctx, () => {
    const { store } = ctx.cluster;
    const n = store.nodes.get(req.param);
    authz(req, ctx).require('node', req.param, 'read');
    const idx = store.maxIndex(['nodes', 'services']);
    if (!n) return { index: idx, body: null };
    const svcs = Object.fromEntries([...(store.services.get(n.Node)?.values() ?? [])].map((s) => [s.ID, renderHealthService(s)]));
    return { index: idx, body: { Node: renderNode(n), Services: svcs } };
  });
}

async function register(req: Req, ctx: Ctx) {
  const body = await req.json();
  if (body === undefined) throw badRequest('Request decode failed: EOF');
  const { store } = ctx.cluster;
  // One raft entry: node, service and checks share an index, and blocked queries wake once.
  return store.transaction(() => {
    const nodeName = String(field(body, 'Node') ?? '');
    if (nodeName === '') throw badRequest('Must provide node');
    const address = String(field(body, 'Address') ?? '');
    const skip = field(body, 'SkipNodeUpdate') === true;
    if (address === '' && !skip) throw badRequest('Must provide address if SkipNodeUpdate is not set');
    const a = authz(req, ctx);
    a.require('node', nodeName, 'write');
    const existing = store.nodes.get(nodeName);
    if (!skip || !existing) {
      const tagged = field(body, 'TaggedAddresses') as Record<string, string> | undefined;
      store.upsertNode({
        ID: String(field(body, 'ID') ?? existing?.ID ?? ''), Node: nodeName, Address: address || existing?.Address || '',
        Datacenter: store.datacenter, TaggedAddresses: tagged ?? { lan: address, wan: address },
        Meta: (field(body, 'NodeMeta') as Record<string, string> | undefined) ?? {},
      });
    }
    const svc = field(body, 'Service') as Record<string, unknown> | undefined;
    let svcRec: Omit<ServiceRecord, 'CreateIndex' | 'ModifyIndex'> | undefined;
    if (svc) {
      const name = String(field(svc, 'Service') ?? '');
      if (name === '') throw badRequest('Must provide service name (Service.Service) when registering a service');
      a.require('service', name, 'write');
      const w = field(svc, 'Weights') as Record<string, number> | undefined;
      const kind = String(field(svc, 'Kind') ?? '');
      const tags = field(svc, 'Tags');
      svcRec = {
        Node: nodeName, Kind: kind, ID: String(field(svc, 'ID') || name), Service: name,
        Tags: Array.isArray(tags) ? tags.map(String) : null, Address: String(field(svc, 'Address') ?? ''),
        TaggedAddresses: field(svc, 'TaggedAddresses') as ServiceRecord['TaggedAddresses'],
        Meta: (field(svc, 'Meta') as Record<string, string> | undefined) ?? null, Port: Number(field(svc, 'Port') ?? 0),
        SocketPath: String(field(svc, 'SocketPath') ?? ''),
        Weights: w ? { Passing: Number(field(w, 'Passing') ?? 1), Warning: Number(field(w, 'Warning') ?? 1) } : { Passing: 1, Warning: 1 },
        EnableTagOverride: field(svc, 'EnableTagOverride') === true,
        Proxy: kind === 'connect-proxy' ? (field(svc, 'Proxy') as Record<string, unknown>) : undefined,
        Connect: field(field(svc, 'Connect'), 'Native') === true ? { Native: true } : undefined,
      };
      store.upsertService(svcRec);
    }
    const checks: unknown[] = [];
    if (field(body, 'Check')) checks.push(field(body, 'Check'));
    const many = field(body, 'Checks');
    if (Array.isArray(many)) checks.push(...many);
    for (const c of checks) {
      const status = String(field(c, 'Status') || 'critical');
      if (!CHECK_STATUSES.includes(status)) throw badRequest(`Invalid check status: '${status}'`);
      const serviceId = String(field(c, 'ServiceID') ?? '');
      const s = serviceId ? store.services.get(nodeName)?.get(serviceId) : undefined;
      store.upsertCheck({
        Node: nodeName, CheckID: String(field(c, 'CheckID') ?? field(c, 'Name') ?? ''), Name: String(field(c, 'Name') ?? ''),
        Status: status as CheckStatus, Notes: String(field(c, 'Notes') ?? ''), Output: String(field(c, 'Output') ?? ''),
        ServiceID: serviceId, ServiceName: s?.Service ?? '', ServiceTags: [...(s?.Tags ?? [])], Type: '', Interval: '',
        Timeout: '', ExposedPort: 0, Definition: {},
      });
    }
    return { body: true };
  });
}

async function deregister(req: Req, ctx: Ctx) {
  const body = await req.json();
  if (body === undefined) throw badRequest('Request decode failed: EOF');
  const { store } = ctx.cluster;
  const nodeName = String(field(body, 'Node') ?? '');
  if (nodeName === '') throw badRequest('Must provide node');
  authz(req, ctx).require('node', nodeName, 'write');
  const sid = field(body, 'ServiceID');
  const cid = field(body, 'CheckID');
  if (typeof sid === 'string' && sid !== '') store.deleteService(nodeName, sid);
  else if (typeof cid === 'string' && cid !== '') store.deleteCheck(nodeName, cid);
  else store.deleteNode(nodeName);
  return { body: true };
}

export const catalogRoutes: Route[] = [
  { path: '/v1/catalog/services', methods: ['GET'], handler: services },
  { path: '/v1/catalog/service/', prefix: true, methods: ['GET'], handler: serviceNodes(false) },
  { path: '/v1/catalog/connect/', prefix: true, methods: ['GET'], handler: serviceNodes(true) },
  { path: '/v1/catalog/nodes', methods: ['GET'], handler: nodes },
  { path: '/v1/catalog/node/', prefix: true, methods: ['GET'], handler: node },
  { path: '/v1/catalog/datacenters', methods: ['GET'], handler: (_r, ctx) => ({ body: [ctx.cluster.store.datacenter] }) },
  { path: '/v1/catalog/register', methods: ['PUT'], handler: register },
  { path: '/v1/catalog/deregister', methods: ['PUT'], handler: deregister },
];
