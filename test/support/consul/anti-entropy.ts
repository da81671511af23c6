/**
 * Anti-entropy: how a test agent's local state appears in the catalog. The
 * catalog's view of the agent's node is made equal to the local services and
 * checks (unknown ones are removed), plus the node's `serfHealth` check.
 * Output-only check changes reach the catalog through `syncedOutput`
 * (deferred by check_update_interval, see agent-state.ts).
 */
import type { AgentSettings, LocalCheck } from './agent-state.ts';
import type { ServiceDef } from './service-def.ts';
import type { ConsulStore } from './store.ts';
import type { CheckRecord } from './types.ts';

export function syncToCatalog(store: ConsulStore, s: AgentSettings, services: Map<string, ServiceDef>, checks: Map<string, LocalCheck>): void {
  store.upsertNode({
    ID: s.nodeId, Node: s.nodeName, Address: s.address, Datacenter: store.datacenter,
    TaggedAddresses: { lan: s.address, wan: s.address }, Meta: s.nodeMeta,
  });
  for (const id of [...(store.services.get(s.nodeName)?.keys() ?? [])]) if (!services.has(id)) store.deleteService(s.nodeName, id);
  for (const d of services.values()) {
    store.upsertService({
      Node: s.nodeName, Kind: d.Kind, ID: d.ID, Service: d.Name, Tags: d.Tags, Address: d.Address,
      TaggedAddresses: d.TaggedAddresses, Meta: d.Meta, Port: d.Port, SocketPath: d.SocketPath, Weights: d.Weights,
      EnableTagOverride: d.EnableTagOverride, Proxy: d.Proxy, Connect: d.Connect,
    });
  }
  for (const id of [...(store.checks.get(s.nodeName)?.keys() ?? [])]) {
    if (id !== 'serfHealth' && !checks.has(id)) store.deleteCheck(s.nodeName, id);
  }
  store.upsertCheck(serfHealth(s.nodeName, true));
  for (const c of checks.values()) store.upsertCheck(checkRecord(s.nodeName, services, c, true));
}

/** A check as the catalog (synced) or the agent (local) shows it. */
export function checkRecord(node: string, services: Map<string, ServiceDef>, c: LocalCheck, synced: boolean): Omit<CheckRecord, 'CreateIndex' | 'ModifyIndex'> {
  const svc = c.def.ServiceID ? services.get(c.def.ServiceID) : undefined;
  return {
    Node: node, CheckID: c.def.CheckID, Name: c.def.Name, Status: c.status, Notes: c.def.Notes,
    Output: synced ? c.syncedOutput : c.output, ServiceID: c.def.ServiceID, ServiceName: svc?.Name ?? '',
    ServiceTags: [...(svc?.Tags ?? [])], Type: c.def.type, Interval: c.def.Interval, Timeout: c.def.Timeout,
    ExposedPort: 0, Definition: {},
  };
}

export function serfHealth(node: string, alive: boolean): Omit<CheckRecord, 'CreateIndex' | 'ModifyIndex'> {
  return {
    Node: node, CheckID: 'serfHealth', Name: 'Serf Health Status', Status: alive ? 'passing' : 'critical', Notes: '',
    Output: alive ? 'Agent alive and reachable' : 'Agent not live or unreachable', ServiceID: '', ServiceName: '',
    ServiceTags: [], Type: '', Interval: '', Timeout: '', ExposedPort: 0, Definition: {},
  };
}

