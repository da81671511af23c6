/**
 * Consul discovery against the Consul-API test server: the resolver follows
 * the catalog through blocking queries; keeps the last good set when Consul
 * is down, answers 500 or garbage (static stability) and reports staleness;
 * survives an index reset and a flapping instance without a tight loop or
 * endpoint churn; honours tags, weights, datacenter, the fail-open policy and
 * the health/service endpoint.
 */
import t, { type Test } from 'tap';
import { startConsulTestServer, type ConsulTestServer } from '../support/consul/index.ts';
import { addRemoteProxy, ports, record, setRemoteStatus, sleep } from '../support/consul/testing.ts';
import { consulSectionSchema, type ConsulSectionInput } from '../../src/discovery/consul/options.ts';
import { createConsulDiscovery } from '../../src/discovery/consul/index.ts';

async function setup(t: Test, cfg: ConsulSectionInput = {}, serverOpts: Parameters<typeof startConsulTestServer>[0] = {}) {
  const consul = await startConsulTestServer({ jitter: false, ...serverOpts });
  t.teardown(() => consul.close());
  const config = consulSectionSchema.parse({
    address: consul.url, wait: '2s', discovery: { min_query_interval: '100ms', flap_holddown: '0s', backoff_initial: '100ms', backoff_max: '500ms' }, ...cfg,
  });
  const d = createConsulDiscovery({ consul: config, trustDomain: consul.ca.trustDomain });
  t.teardown(() => d.close());
  return { consul, resolver: d.resolver };
}

function seed(consul: ConsulTestServer, n: number, service = 'db'): string[] {
  return Array.from({ length: n }, (_, i) => addRemoteProxy(consul, { service, node: `n${i + 1}`, port: 21001 + i }));
}

t.test('follows the catalog: initial set, additions, a check going critical, removal', async (t) => {
  const { consul, resolver } = await setup(t);
  seed(consul, 2);
  const rec = record(resolver, 'db');
  t.teardown(() => rec.stop());
  const first = await rec.next((u) => u.endpoints.length === 2);
  t.same(ports(first), [21001, 21002]);
  t.equal(first.source, 'consul:health/connect');
  t.match(first.endpoints[0], { address: '127.0.0.1', weight: 1, health: 'passing', datacenter: 'dc1', identity: `spiffe://${consul.ca.trustDomain}/ns/default/dc/dc1/svc/db` });
  t.ok(resolver.status('db').synced);
  addRemoteProxy(consul, { service: 'db', node: 'n3', port: 21003 });
  t.same(ports(await rec.next((u) => u.endpoints.length === 3)), [21001, 21002, 21003]);
  const changedAt = Date.now();
  setRemoteStatus(consul, 'n2', 'db-n2-sidecar-proxy:agent', 'db-n2-sidecar-proxy', 'critical');
  const without = await rec.next((u) => !ports(u).includes(21002));
  t.ok(Date.now() - changedAt < 1000, 'a critical instance leaves the set within 1 s');
  t.same(ports(without), [21001, 21003]);
  consul.catalog.deregister('n3');
  t.same(ports(await rec.next((u) => u.endpoints.length === 1)), [21001]);
});

t.test('static stability: down, 500 and garbage keep the last set; staleness is reported; recovery', async (t) => {
  const { consul, resolver } = await setup(t, { wait: '1s' });
  seed(consul, 2);
  const rec = record(resolver, 'db');
  t.teardown(() => rec.stop());
  await rec.next((u) => u.endpoints.length === 2);
  await sleep(200);

  const yielded = rec.updates.length;

  await consul.faults.down();
  await sleep(700);
  let st = resolver.detail('db');
  t.ok(st.synced);
  t.match(st.lastError, /cannot reach the Consul agent|ECONNREFUSED|socket|other side closed/);
  t.ok(st.staleMs! >= 600, `staleness grows while Consul is down (${st.staleMs}ms)`);
  await consul.faults.up();
  await sleep(700);
  st = resolver.detail('db');
  t.equal(st.lastError, undefined, 'recovered at once: the first query after an error does not block');
  t.ok(st.staleMs! < 700);

  for (const fault of [() => consul.faults.error500(), () => consul.faults.malformed('truncated'), () => consul.faults.malformed('wrong-shape')]) {
    fault();
    await sleep(1300); // the blocked query (wait=1s) ends; the next one meets the fault
    t.ok(resolver.detail('db').lastError, 'error recorded');
    t.equal(rec.updates.length, yielded, 'nothing yielded: the last set stands');
    consul.faults.clear();
    await sleep(700);
    t.equal(resolver.detail('db').lastError, undefined, 'recovered');
  }
  t.equal(rec.updates.length, yielded, 'never an empty or partial set while Consul blinked');
  t.same(ports(rec.updates.at(-1)), [21001, 21002]);
});

t.test('Consul down before the first answer: nothing is yielded, status says not synced', async (t) => {
  const { consul, resolver } = await setup(t);
  await consul.faults.down();
  const rec = record(resolver, 'db');
  t.teardown(() => rec.stop());
  await sleep(400);
  t.equal(rec.updates.length, 0);
  t.notOk(resolver.status('db').synced);
  t.ok(resolver.status('db').lastError);
  seed(consul, 1);
  await consul.faults.up();
  t.same(ports(await rec.next((u) => u.endpoints.length === 1, 3000)), [21001]);
});

t.test('tags, weights and datacenter are honoured', async (t) => {
  const { consul, resolver } = await setup(t, { services: { db: { tags: ['primary'] }, api: { datacenter: 'dc2' } } });
  addRemoteProxy(consul, { service: 'db', node: 'n1', port: 21001, tags: ['primary', 'v2'], weights: { Passing: 7, Warning: 1 }, meta: { version: '2' } });
  addRemoteProxy(consul, { service: 'db', node: 'n2', port: 21002, tags: ['replica'] });
  const rec = record(resolver, 'db');
  t.teardown(() => rec.stop());
  const u = await rec.next((x) => x.endpoints.length > 0);
  t.same(ports(u), [21001], 'only instances with every required tag');
  t.equal(u.endpoints[0]!.weight, 7, 'Weights.Passing');
  t.same(u.endpoints[0]!.tags, ['primary', 'v2']);
  t.same(u.endpoints[0]!.meta, { version: '2' });
  t.ok(consul.requests.some((r) => r.path === '/v1/health/connect/db' && new URLSearchParams(r.query).get('filter') === '"primary" in Service.Tags'), 'tag filter sent to Consul');
  const api = record(resolver, 'api');
  t.teardown(() => api.stop());
  await sleep(400);
  t.ok(consul.requests.some((r) => r.path === '/v1/health/connect/api' && new URLSearchParams(r.query).get('dc') === 'dc2'), '?dc= sent');
  t.match(resolver.status('api').lastError, /No path to datacenter/, 'an unknown datacenter is an error, not an empty set');
  t.equal(api.updates.length, 0);
});

t.test('fail-open policy: all critical → all instances (panic); fail-closed → empty', async (t) => {
  const open = await setup(t, { fail_open: true });
  const closed = await setup(t, { fail_open: false });
  for (const { consul } of [open, closed]) {
    addRemoteProxy(consul, { service: 'db', node: 'n1', port: 21001 });
    addRemoteProxy(consul, { service: 'db', node: 'n2', port: 21002, status: 'critical' });
  }
  const ro = record(open.resolver, 'db');
  const rc = record(closed.resolver, 'db');
  t.teardown(() => { ro.stop(); rc.stop(); });
  t.same(ports(await ro.next((u) => u.endpoints.length > 0)), [21001], 'fail-open still prefers the healthy one');
  t.same(ports(await rc.next((u) => u.endpoints.length > 0)), [21001]);
  t.notOk(closed.consul.requests.some((r) => r.path === '/v1/health/connect/db' && !new URLSearchParams(r.query).has('passing')), 'fail-closed asks for ?passing');
  for (const { consul } of [open, closed]) setRemoteStatus(consul, 'n1', 'db-n1-sidecar-proxy:agent', 'db-n1-sidecar-proxy', 'critical');
  const panic = await ro.next((u) => u.endpoints.length === 2);
  t.same(panic.endpoints.map((e) => e.health), ['critical', 'critical']);
  t.ok(open.resolver.detail('db').panic);
  t.same((await rc.next((u) => u.endpoints.length === 0)).endpoints, [], 'fail-closed: empty, because Consul says none is healthy');
});

t.test('health_endpoint: service discovers plain services at their own address', async (t) => {
  const { consul, resolver } = await setup(t, { health_endpoint: 'service' });
  consul.catalog.register({ node: 'n1', address: '10.0.0.1', service: { Service: 'legacy', ID: 'legacy-1', Port: 9000 }, checks: [{ CheckID: 'serfHealth', Status: 'passing' }] });
  const rec = record(resolver, 'legacy');
  t.teardown(() => rec.stop());
  const u = await rec.next((x) => x.endpoints.length === 1);
  t.match(u.endpoints[0], { address: '10.0.0.1', port: 9000 }, 'empty Service.Address → Node.Address');
  t.equal(u.source, 'consul:health/service');
});

t.test('ACL: a token that sees nothing is an error, not an empty set', async (t) => {
  const { consul, resolver } = await setup(t, { token: 'reader' }, { acl: { defaultPolicy: 'deny', tokens: [{ secretId: 'reader', rules: { service: { other: 'read' } } }] } });
  seed(consul, 1);
  const rec = record(resolver, 'db');
  t.teardown(() => rec.stop());
  await sleep(500);
  t.equal(rec.updates.length, 0);
  t.match(resolver.status('db').lastError, /lacks 'service:read' on "db"/);
});
