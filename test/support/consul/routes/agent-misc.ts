/**
 * Agent self/members and status endpoints (SPEC §6). `/v1/agent/self` needs
 * `agent:read` on the node name.
 */
import type { Req } from '../http.ts';
import { authz, type Ctx, type Route } from '../context.ts';

function self(req: Req, ctx: Ctx) {
  authz(req, ctx).require('agent', ctx.config.nodeName, 'read');
  const dc = ctx.cluster.store.datacenter;
  const c = ctx.config;
  return {
    body: {
      Config: {
        Datacenter: dc, PrimaryDatacenter: dc, NodeName: c.nodeName, NodeID: c.nodeId, Server: true,
        Revision: 'aimmesh0', Version: c.version, BuildDate: '2024-01-01T00:00:00Z',
      },
      DebugConfig: {},
      Coord: { Adjustment: 0, Error: 1.5, Height: 1e-5, Vec: [0, 0, 0, 0, 0, 0, 0, 0] },
      Member: member(ctx),
      Stats: { agent: { check_monitors: '0', check_ttls: String([...ctx.agent.checks.values()].filter((x) => x.def.type === 'ttl').length), checks: String(ctx.agent.checks.size), services: String(ctx.agent.services.size) } },
      Meta: { 'consul-network-segment': '' },
      xDS: { SupportedProxies: { envoy: ['1.28.0'] }, Port: 8502, Ports: { Plaintext: 8502, TLS: -1 } },
    },
  };
}

function member(ctx: Ctx): Record<string, unknown> {
  return {
    Name: ctx.config.nodeName, Addr: ctx.config.address, Port: 8301,
    Tags: { dc: ctx.cluster.store.datacenter, id: ctx.config.nodeId, role: 'consul', port: '8300', vsn: '2', vsn_max: '3', vsn_min: '2' },
    Status: 1, ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2, DelegateMin: 2, DelegateMax: 5, DelegateCur: 4,
  };
}

function members(req: Req, ctx: Ctx) {
  authz(req, ctx).require('node', ctx.config.nodeName, 'read');
  return { body: [member(ctx)] };
}

export const agentMiscRoutes: Route[] = [
  { path: '/v1/agent/self', methods: ['GET'], handler: self },
  { path: '/v1/agent/members', methods: ['GET'], handler: members },
  { path: '/v1/status/leader', methods: ['GET'], handler: () => ({ body: '127.0.0.1:8300' }) },
  { path: '/v1/status/peers', methods: ['GET'], handler: () => ({ body: ['127.0.0.1:8300'] }) },
];
