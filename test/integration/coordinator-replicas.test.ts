/**
 * Replicas: with Consul configured, two coordinators behind one "Service"
 * share their agents through Consul KV and both show the whole mesh; without
 * Consul each shows only its own agents and says so. The Consul side is a
 * minimal stand-in of the KV HTTP API (PUT, recursive GET, DELETE) on a real
 * socket.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { edge, SimAgent, startTestCoordinator, waitFor } from '../unit/coordinator/support.ts';

async function consulKv(t: Test): Promise<{ url: string; kv: Map<string, Buffer>; fail: { on: boolean } }> {
  const kv = new Map<string, Buffer>();
  const fail = { on: false };
  const server = createServer(async (req, res) => {
    const u = new URL(req.url!, 'http://x');
    if (!u.pathname.startsWith('/v1/kv/')) { res.writeHead(404).end(); return; }
    if (fail.on) { res.writeHead(500).end('injected'); return; }
    const key = decodeURIComponent(u.pathname.slice('/v1/kv/'.length));
    if (req.method === 'PUT') {
      const parts: Buffer[] = [];
      for await (const c of req) parts.push(c as Buffer);
      kv.set(key, Buffer.concat(parts));
      res.writeHead(200, { 'content-type': 'application/json' }).end('true');
    } else if (req.method === 'GET') {
      const keys = [...kv.keys()].filter((k) => (u.searchParams.has('recurse') ? k.startsWith(key) : k === key)).sort();
      if (keys.length === 0) { res.writeHead(404).end(); return; }
      res.writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify(keys.map((k, i) => ({ Key: k, Value: kv.get(k)!.toString('base64'), ModifyIndex: i + 1 }))));
    } else if (req.method === 'DELETE') {
      for (const k of [...kv.keys()]) if (u.searchParams.has('recurse') ? k.startsWith(key) : k === key) kv.delete(k);
      res.writeHead(200).end('true');
    } else res.writeHead(405).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, kv, fail };
}

t.test('replicas share the view through Consul KV', async (t) => {
  const consul = await consulKv(t);
  const opts = (id: string) => ({ replicaId: id, consul: { address: consul.url }, shareIntervalMs: 100 });
  const r1 = await startTestCoordinator(t, opts('replica-a'));
  const r2 = await startTestCoordinator(t, opts('replica-b'));
  new SimAgent(r1, { service: 'web', instance: 'web-1', edges: [edge('api', 10, 1)] }).start(t);
  new SimAgent(r2, { service: 'api', instance: 'api-1' }).start(t);

  for (const r of [r1, r2]) {
    await waitFor(`${r.replicaId} sees both agents`, () => r.state.view().totals.agents === 2);
    const v = r.state.view();
    t.equal(v.replica.sharing, 'consul');
    t.match(v.replica.note, /share their agents through Consul KV/);
    t.same(v.services.map((s) => s.name), ['api', 'web']);
  }
  const web = r2.state.view().instances.get('web')![0]!;
  t.equal(web.replica, 'replica-a', 'the record says which replica the agent reports to');
  t.ok([...consul.kv.keys()].some((k) => k.startsWith('aim-mesh/coordinator/v1/agents/replica-a/')), 'written under the replica prefix');

  // Consul failing: the last peer records are kept (static stability) and the note says why.
  consul.fail.on = true;
  await waitFor('the sharing error noted', () => /Last sharing error/.test(r1.state.view().replica.note));
  t.equal(r1.state.view().totals.agents, 2, 'peer agents kept while Consul is failing');
  consul.fail.on = false;
  await waitFor('the error cleared', () => !/Last sharing error/.test(r1.state.view().replica.note));
});

t.test('without Consul each replica shows only its own agents and says so', async (t) => {
  const r1 = await startTestCoordinator(t, { replicaId: 'solo-a' });
  const r2 = await startTestCoordinator(t, { replicaId: 'solo-b' });
  new SimAgent(r1, { service: 'web', instance: 'web-1' }).start(t);
  new SimAgent(r2, { service: 'api', instance: 'api-1' }).start(t);
  await waitFor('each has its agent', () => r1.state.view().totals.agents === 1 && r2.state.view().totals.agents === 1);
  const mesh = await (await fetch(`${r1.httpUrl}/api/v1/mesh`)).json() as { replica: { id: string; sharing: string; note: string }; services: { name: string }[] };
  t.same(mesh.services.map((s) => s.name), ['web']);
  t.match(mesh.replica, { id: 'solo-a', sharing: 'local', note: /Consul is not configured/ });
});
