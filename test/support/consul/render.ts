/**
 * JSON shapes of the test server's answers, field for field as in
 * ../shared/consul-api/examples (health-service.json, health-connect.json,
 * agent-services.json, agent-service-sidecar.json, agent-checks.json,
 * catalog-service.json, health-checks.json), plus the fields SPEC.md lists.
 */
import type { ServiceDef } from './service-def.ts';
import type { CatalogNode, CheckRecord, ServiceRecord } from './types.ts';

export function renderNode(n: CatalogNode): Record<string, unknown> {
  return {
    ID: n.ID, Node: n.Node, Address: n.Address, Datacenter: n.Datacenter, TaggedAddresses: n.TaggedAddresses,
    Meta: n.Meta, CreateIndex: n.CreateIndex, ModifyIndex: n.ModifyIndex,
  };
}

function proxyOut(p: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  return p ? structuredClone(p) : undefined;
}

/** `Service` of a health entry. */
export function renderHealthService(s: ServiceRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (s.Kind) out['Kind'] = s.Kind;
  Object.assign(out, { ID: s.ID, Service: s.Service, Tags: s.Tags ?? [], Address: s.Address });
  if (s.TaggedAddresses) out['TaggedAddresses'] = s.TaggedAddresses;
  Object.assign(out, { Meta: s.Meta ?? {}, Port: s.Port });
  if (s.SocketPath) out['SocketPath'] = s.SocketPath;
  Object.assign(out, { Weights: s.Weights, EnableTagOverride: s.EnableTagOverride });
  if (s.Proxy) out['Proxy'] = proxyOut(s.Proxy);
  if (s.Connect) out['Connect'] = s.Connect;
  Object.assign(out, { Namespace: 'default', CreateIndex: s.CreateIndex, ModifyIndex: s.ModifyIndex });
  return out;
}

export function renderCheck(c: CheckRecord | Omit<CheckRecord, 'CreateIndex' | 'ModifyIndex'>, withIndex = true): Record<string, unknown> {
  const out: Record<string, unknown> = {
    Node: c.Node, CheckID: c.CheckID, Name: c.Name, Status: c.Status, Notes: c.Notes, Output: c.Output,
    ServiceID: c.ServiceID, ServiceName: c.ServiceName, ServiceTags: c.ServiceTags ?? [], Type: c.Type,
    Interval: c.Interval, Timeout: c.Timeout, ExposedPort: c.ExposedPort, Definition: c.Definition, Namespace: 'default',
  };
  if (withIndex && 'CreateIndex' in c) Object.assign(out, { CreateIndex: c.CreateIndex, ModifyIndex: c.ModifyIndex });
  return out;
}

export function renderHealthEntry(n: CatalogNode, s: ServiceRecord, checks: CheckRecord[]): Record<string, unknown> {
  return { Node: renderNode(n), Service: renderHealthService(s), Checks: checks.map((c) => renderCheck(c)) };
}

/** One flat ServiceNode of /v1/catalog/service/:s. */
export function renderServiceNode(n: CatalogNode, s: ServiceRecord): Record<string, unknown> {
  return {
    ID: n.ID, Node: n.Node, Address: n.Address, Datacenter: n.Datacenter, TaggedAddresses: n.TaggedAddresses,
    NodeMeta: n.Meta, ServiceKind: s.Kind, ServiceID: s.ID, ServiceName: s.Service, ServiceTags: s.Tags ?? [],
    ServiceAddress: s.Address, ServiceTaggedAddresses: s.TaggedAddresses ?? {}, ServiceWeights: s.Weights,
    ServiceMeta: s.Meta ?? {}, ServicePort: s.Port, ServiceSocketPath: s.SocketPath, ServiceEnableTagOverride: s.EnableTagOverride,
    ServiceProxy: s.Proxy ? proxyOut(s.Proxy) : {
      DestinationServiceName: '', DestinationServiceID: '', LocalServiceAddress: '', LocalServicePort: 0, Config: null, Upstreams: null,
    },
    ServiceConnect: { Native: s.Connect?.Native ?? false, Proxy: null },
    Namespace: 'default', CreateIndex: s.CreateIndex, ModifyIndex: s.ModifyIndex,
  };
}

/**
 * An agent-local service. Lists show Tags [] and Meta {} when unset; the
 * single-service endpoint shows null (agent-service-sidecar.json).
 */
export function renderAgentService(d: ServiceDef, datacenter: string, single: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (d.Kind) out['Kind'] = d.Kind;
  Object.assign(out, {
    ID: d.ID, Service: d.Name,
    Tags: d.Tags ?? (single ? null : []),
    Meta: d.Meta ?? (single ? null : {}),
    Namespace: 'default', Port: d.Port, Address: d.Address,
  });
  if (d.SocketPath) out['SocketPath'] = d.SocketPath;
  if (d.TaggedAddresses) out['TaggedAddresses'] = d.TaggedAddresses;
  Object.assign(out, { Weights: d.Weights, EnableTagOverride: d.EnableTagOverride, Datacenter: datacenter });
  if (d.Proxy) out['Proxy'] = proxyOut(d.Proxy);
  if (d.Connect) out['Connect'] = d.Connect;
  return out;
}
