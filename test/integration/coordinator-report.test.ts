/**
 * Agents report over real mTLS gRPC and the coordinator aggregates them;
 * directives (policy, rotate-certificate) flow back down the same streams.
 */
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { request } from 'undici';
import WebSocket from 'ws';
import { coordinatorChannelOptions, coordinatorCredentials } from '../../src/control/coordinator-channel.ts';
import { controlPlaneProtos } from '../../src/proto/load.ts';
import type { AgentReport, Directive } from '../../src/proto/types.ts';
import { edge, SimAgent, startTestCoordinator, upstream, waitFor } from '../unit/coordinator/support.ts';

async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await request(url);
  return { status: res.statusCode, body: await res.body.json() };
}

t.test('agents connect, report and are aggregated', async (t) => {
  const c = await startTestCoordinator(t);
  const web1 = new SimAgent(c, { service: 'web', instance: 'web-1', edges: [edge('api', 30, 1)], upstreams: [upstream('api', ['healthy', 'healthy'])] }).start(t);
  new SimAgent(c, { service: 'web', instance: 'web-2', edges: [edge('api', 10, 0.9)], upstreams: [upstream('api', ['healthy', 'healthy'])] }).start(t);
  new SimAgent(c, { service: 'api', instance: 'api-1', inbound: { requests: 200, rps: 40, successRate: 0.995, p50Ms: 5, p99Ms: 50 } }).start(t);

  const mesh = await waitFor('three agents', async () => {
    const m = await getJson(`${c.httpUrl}/api/v1/mesh`);
    return m.body.totals.agents === 3 ? m.body : undefined;
  });
  t.same(mesh.services.map((s: any) => [s.name, s.instances, s.up]), [['api', 1, 1], ['web', 2, 2]]);
  t.equal(mesh.edges.length, 1);
  const e = mesh.edges[0];
  t.match(e, { source: 'web', destination: 'api', endpoints: 2, breakersOpen: 0, mtls: 'on' });
  t.equal(e.metrics.rps, 40, 'edge rps is the sum over instances');
  t.equal(e.metrics.requests, 200);
  t.ok(Math.abs(e.metrics.successRate - 0.975) < 1e-9, 'edge success rate is request-weighted');
  t.equal(mesh.services[0].metrics.rps, 40, 'api metrics come from its own inbound report');
  t.equal(mesh.replica.sharing, 'local');
  t.match(mesh.replica.note, /only the agents that report to it/);

  const svc = await getJson(`${c.httpUrl}/api/v1/services/web`);
  t.equal(svc.status, 200);
  t.same(svc.body.instances.map((i: any) => i.instance), ['web-1', 'web-2']);
  t.equal(svc.body.instances[0].spiffeId, 'spiffe://aim.local/ns/default/dc/dc1/svc/web', 'identity from the mTLS leaf');
  const agent = await getJson(`${c.httpUrl}/api/v1/agents/web-1`);
  t.equal(agent.status, 200);
  t.equal(agent.body.service, 'web');
  t.equal(agent.body.edges[0].metrics.rps, 30);
  t.equal((await getJson(`${c.httpUrl}/api/v1/services/nope`)).status, 404);
  t.equal((await getJson(`${c.httpUrl}/api/v1/agents/nope`)).status, 404);

  // A delta: web-1 now sees one api endpoint with an open breaker and another ejected.
  const ws = new WebSocket(`${c.httpUrl.replace('http', 'ws')}/api/v1/live`);
  t.teardown(() => ws.terminate());
  const messages: any[] = [];
  ws.on('message', (d) => messages.push(JSON.parse(String(d))));
  await waitFor('first live message', () => messages.length > 0);
  t.equal(messages[0].type, 'mesh');
  t.equal(messages[0].data.totals.agents, 3);
  web1.snap = { ...web1.snap, upstreams: [upstream('api', ['breaker_open', 'ejected'])] };
  const live = await waitFor('live update with the open breaker', () => messages.find((m) => m.data.edges[0]?.breakersOpen === 1));
  t.equal(live.data.edges[0].ejected, 1);
  t.same(live.data.alerts.map((a: any) => a.kind).sort(), ['breaker_open', 'endpoint_ejected']);
  t.equal((await getJson(`${c.httpUrl}/api/v1/alerts`)).body.alerts.length, 2);

  const metrics = await (await request(`${c.httpUrl}/metrics`)).body.text();
  t.match(metrics, /aim_mesh_coordinator_reports_total\{kind="snapshot"\} 3/, 'one snapshot per agent');
  t.match(metrics, /aim_mesh_coordinator_reports_total\{kind="delta"\} [1-9]/, 'then deltas');
  t.match(metrics, /aim_mesh_edge_requests_per_second\{source="web",destination="api"\} 40/);
  t.match(metrics, /aim_mesh_edge_breakers_open\{source="web",destination="api"\} 1/);
  t.match(metrics, /aim_mesh_agents\{status="up"\} 3/);
});

t.test('a directive reaches the agents', async (t) => {
  const c = await startTestCoordinator(t);
  const a = new SimAgent(c, { service: 'web', instance: 'web-1' }).start(t);
  const b = new SimAgent(c, { service: 'api', instance: 'api-1' }).start(t);
  const b2 = new SimAgent(c, { service: 'api', instance: 'api-2' }).start(t);
  await waitFor('initial policy on every stream', () => [a, b, b2].every((x) => x.policies.length === 1));
  t.equal(a.policies[0]!.version, 1);
  t.equal(a.policies[0]!.policy.defaultAuthz, 'allow');

  const put = await request(`${c.httpUrl}/api/v1/policy`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ default_authz: 'deny', authz: [{ source: 'web', destination: 'api', action: 'allow', methods: ['GET'] }], rate_limits: [{ service: 'api', requests_per_second: 50, burst: 10 }] }),
  });
  t.same(await put.body.json(), { version: 2, reached: 3 });
  await waitFor('policy v2 everywhere', () => [a, b, b2].every((x) => x.policies.at(-1)?.version === 2));
  t.match(b.policies.at(-1)!.policy, { defaultAuthz: 'deny', authz: [{ source: 'web', destination: 'api', action: 'allow', methods: ['GET'] }], rateLimits: [{ service: 'api', requestsPerSecond: 50, burst: 10 }] });
  const bad = await request(`${c.httpUrl}/api/v1/policy`, { method: 'PUT', body: JSON.stringify({ default_authz: 'maybe' }) });
  t.equal(bad.statusCode, 400);
  t.match(await bad.body.json(), { error: 'bad_request', detail: /default_authz/ });
  t.equal(c.directives.version, 2, 'an invalid policy changes nothing');

  const one = await request(`${c.httpUrl}/api/v1/agents/web-1/rotate-certificate`, { method: 'POST' });
  t.same(await one.body.json(), { reached: 1 });
  await waitFor('web-1 told to rotate', () => a.rotations.length === 1);
  const svc = await request(`${c.httpUrl}/api/v1/services/api/rotate-certificate`, { method: 'POST' });
  t.same(await svc.body.json(), { reached: 2 });
  await waitFor('both api agents told to rotate', () => b.rotations.length === 1 && b2.rotations.length === 1);
  t.equal(a.rotations.length, 1, 'web-1 was not told twice');
  t.equal((await request(`${c.httpUrl}/api/v1/policy`, { method: 'GET' })).statusCode, 200);
  t.equal((await request(`${c.httpUrl}/api/v1/policy`, { method: 'DELETE' })).statusCode, 405);
});

t.test('report streams need a mesh certificate naming the reported service', async (t) => {
  const c = await startTestCoordinator(t);
  const { MeshClient } = controlPlaneProtos();
  const report = (service: string): AgentReport => ({
    agentId: 'x-1', snapshot: true, seq: 1, intervalMs: 1000, sentAtMs: Date.now(), service, instance: 'x-1', version: 'v1',
    listeners: { items: [] }, upstreams: { items: [] }, edges: [], inbound: null, cert: null, readiness: { ready: true, reasons: [] },
  });
  const attempt = (creds: grpc.ChannelCredentials, service: string): Promise<grpc.ServiceError> => new Promise((resolve, reject) => {
    const client = new MeshClient(c.grpcTarget, creds, coordinatorChannelOptions);
    const call = (client as any).Report() as grpc.ClientDuplexStream<AgentReport, Directive>;
    call.on('data', () => reject(new Error('directive received')));
    call.on('error', (err: grpc.ServiceError) => { client.close(); resolve(err); });
    call.write(report(service));
  });
  const noCert = await attempt(coordinatorCredentials({ rootsPem: c.rootsPem }, { exact: c.spiffeId }), 'web');
  t.equal(noCert.code, grpc.status.UNAUTHENTICATED);
  t.match(noCert.details, /valid mesh certificate is required/);
  const leaf = c.issueLeaf('web');
  const wrong = await attempt(coordinatorCredentials({ rootsPem: c.rootsPem, ...leaf }, { exact: c.spiffeId }), 'api');
  t.equal(wrong.code, grpc.status.PERMISSION_DENIED);
  t.match(wrong.details, /does not match the caller's identity/);
  t.equal(c.state.view().totals.agents, 0, 'nothing was recorded');
});
