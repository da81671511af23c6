/**
 * The Consul-API test server's service virtual IPs, as Consul 1.11+ assigns
 * them (agent/consul/state/catalog.go): a Connect-capable instance (a
 * connect-proxy for its destination, or a Connect-native service) carries its
 * service's VIP as the `consul-virtual` tagged address with its own port, in
 * health/connect, health/service and catalog/service answers; VIPs start at
 * 240.0.0.1, are per service name, and are reused once the service's last
 * instance is gone. And /v1/catalog/services blocks until the catalog changes.
 */
import t from 'tap';
import { startConsulTestServer, type ConsulTestServer } from '../../support/consul/index.ts';
import { call } from './consul-http.ts';

type Tagged = Record<string, { address: string; port: number }>;

async function registerWithSidecar(consul: ConsulTestServer, name: string, port: number, proxyPort: number): Promise<void> {
  const put = (b: unknown) => call('PUT', `${consul.url}/v1/agent/service/register`, b);
  t.equal((await put({ Name: name, Port: port, Check: { TTL: '30s', Status: 'passing' } })).status, 200);
  t.equal((await put({
    Kind: 'connect-proxy', ID: `${name}-sidecar-proxy`, Name: `${name}-sidecar-proxy`, Port: proxyPort, Address: '10.0.0.5',
    Proxy: { DestinationServiceName: name, DestinationServiceID: name, LocalServicePort: port },
    Check: { TTL: '30s', Status: 'passing' },
  })).status, 200);
}

t.test('connect-proxies carry their destination\'s virtual IP as the consul-virtual tagged address', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  await registerWithSidecar(consul, 'api', 8080, 21000);
  await registerWithSidecar(consul, 'db', 5432, 21001);

  const connect = (await call('GET', `${consul.url}/v1/health/connect/api`)).json() as Array<{ Service: { TaggedAddresses?: Tagged } }>;
  t.same(connect[0]!.Service.TaggedAddresses, { 'consul-virtual': { address: '240.0.0.1', port: 21000 } }, 'health/connect: the first VIP, with the proxy\'s port');
  const proxies = (await call('GET', `${consul.url}/v1/catalog/service/db-sidecar-proxy`)).json() as Array<{ ServiceTaggedAddresses: Tagged; ServiceProxy: { DestinationServiceName: string } }>;
  t.same(proxies[0]!.ServiceTaggedAddresses['consul-virtual'], { address: '240.0.0.2', port: 21001 }, 'catalog/service: the next VIP for the next service');
  t.equal(proxies[0]!.ServiceProxy.DestinationServiceName, 'db');
  const app = (await call('GET', `${consul.url}/v1/catalog/service/api`)).json() as Array<{ ServiceTaggedAddresses: Tagged }>;
  t.same(app[0]!.ServiceTaggedAddresses, {}, 'the app instance itself has no VIP tag (it is not Connect-capable)');
  t.equal(consul.catalog.virtualIp('api'), '240.0.0.1');
  t.equal(consul.catalog.virtualIp('api-sidecar-proxy'), undefined, 'a proxy\'s own name gets none');

  // Re-registering (anti-entropy, a restart) keeps the VIP and does not bump the index.
  const before = (await call('GET', `${consul.url}/v1/catalog/services`)).index;
  await registerWithSidecar(consul, 'api', 8080, 21000);
  t.equal((await call('GET', `${consul.url}/v1/catalog/services`)).index, before, 'an unchanged registration is not a write');
  t.equal(consul.catalog.virtualIp('api'), '240.0.0.1');
});

t.test('Connect-native services get a VIP on themselves; plain services get none', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  const put = (b: unknown) => call('PUT', `${consul.url}/v1/agent/service/register`, b);
  await put({ Name: 'plain', Port: 80 });
  await put({ Name: 'native', Port: 9090, Connect: { Native: true } });
  const native = (await call('GET', `${consul.url}/v1/health/service/native`)).json() as Array<{ Service: { TaggedAddresses?: Tagged } }>;
  t.same(native[0]!.Service.TaggedAddresses, { 'consul-virtual': { address: '240.0.0.1', port: 9090 } });
  const plain = (await call('GET', `${consul.url}/v1/health/service/plain`)).json() as Array<{ Service: { TaggedAddresses?: Tagged } }>;
  t.equal(plain[0]!.Service.TaggedAddresses, undefined);
});

t.test('a VIP is freed with the service\'s last instance and reused, lowest first', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  for (const [i, n] of ['a', 'b', 'c'].entries()) {
    consul.catalog.register({ node: `n-${n}`, address: `10.0.1.${i + 1}`, service: { Service: n, Port: 80 } });
    consul.catalog.register({ node: `n-${n}`, address: `10.0.1.${i + 1}`, service: { Service: `${n}-sidecar-proxy`, Kind: 'connect-proxy', Port: 21000, Proxy: { DestinationServiceName: n } } });
  }
  t.same(['a', 'b', 'c'].map((n) => consul.catalog.virtualIp(n)), ['240.0.0.1', '240.0.0.2', '240.0.0.3']);
  consul.catalog.deregister('n-b', 'b-sidecar-proxy');
  t.equal(consul.catalog.virtualIp('b'), '240.0.0.2', 'kept while an instance named b is left');
  consul.catalog.deregister('n-b', 'b');
  t.equal(consul.catalog.virtualIp('b'), undefined, 'freed with the last instance');
  consul.catalog.deregister('n-a'); // the whole node
  t.equal(consul.catalog.virtualIp('a'), undefined, 'freed when its node goes');
  consul.catalog.register({ node: 'n-d', address: '10.0.1.4', service: { Service: 'd', Port: 80, Connect: { Native: true } } });
  t.equal(consul.catalog.virtualIp('d'), '240.0.0.1', 'the lowest freed VIP is reused first');
  consul.catalog.register({ node: 'n-e', address: '10.0.1.5', service: { Service: 'e', Port: 80, Connect: { Native: true } } });
  t.equal(consul.catalog.virtualIp('e'), '240.0.0.2');
  consul.catalog.register({ node: 'n-f', address: '10.0.1.6', service: { Service: 'f', Port: 80, Connect: { Native: true } } });
  t.equal(consul.catalog.virtualIp('f'), '240.0.0.4', 'then the counter moves on');
});

t.test('virtualIps: false (servers older than 1.11) assigns none', async (t) => {
  const consul = await startConsulTestServer({ jitter: false, virtualIps: false });
  t.teardown(() => consul.close());
  await registerWithSidecar(consul, 'api', 8080, 21000);
  const connect = (await call('GET', `${consul.url}/v1/health/connect/api`)).json() as Array<{ Service: { TaggedAddresses?: Tagged } }>;
  t.equal(connect[0]!.Service.TaggedAddresses, undefined);
});

t.test('/v1/catalog/services blocks until a service is added or removed', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  const first = await call('GET', `${consul.url}/v1/catalog/services`);
  t.same(first.json(), {});
  const blocked = call('GET', `${consul.url}/v1/catalog/services?index=${first.index}&wait=10s`);
  const started = Date.now();
  setTimeout(() => consul.catalog.register({ node: 'n1', address: '10.0.0.9', service: { Service: 'late', Port: 1, Tags: ['v1'] } }), 200);
  const r = await blocked;
  t.ok(Date.now() - started >= 150 && Date.now() - started < 5000, 'held, then answered on the change');
  t.ok(r.index! > first.index!, 'with a higher index');
  t.same(r.json(), { late: ['v1'] });
  const again = call('GET', `${consul.url}/v1/catalog/services?index=${r.index}&wait=10s`);
  setTimeout(() => consul.catalog.deregister('n1', 'late'), 100);
  t.same((await again).json(), {}, 'and on a removal');
});

t.test('PUT /v1/catalog/register is one raft entry: node, service and checks share one index', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  const first = await call('GET', `${consul.url}/v1/catalog/services`);
  const blocked = call('GET', `${consul.url}/v1/catalog/services?index=${first.index}&wait=10s`);
  const put = await call('PUT', `${consul.url}/v1/catalog/register`, {
    Node: 'ext-1', Address: '10.0.2.1', Service: { Service: 'ext', Port: 443 },
    Checks: [{ CheckID: 'ext-alive', Name: 'alive', Status: 'passing', ServiceID: 'ext' }],
  });
  t.equal(put.status, 200);
  const r = await blocked;
  t.same(r.json(), { ext: [] }, 'the woken query already sees the service, not just the node');
  t.equal(r.index, first.index! + 1, 'one index for the whole registration');
});
