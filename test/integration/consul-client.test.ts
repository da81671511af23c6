/**
 * The thin Consul client against the test server: the calls routed through
 * the npm `consul` client (self, services, checks, deregister) and through
 * undici (register with Kind/Weights, check update, health, agent service,
 * CA roots, leaf, authorize), and how failures are classified.
 */
import t from 'tap';
import { createServer } from 'node:http';
import { startConsulTestServer } from '../support/consul/index.ts';
import { ConsulClient } from '../../src/discovery/consul/client.ts';
import { ConsulApiError } from '../../src/discovery/consul/errors.ts';
import { TokenSource } from '../../src/discovery/consul/token.ts';

const client = (baseUrl: string, token?: string) => new ConsulClient({ baseUrl, token: new TokenSource({ token, token_env: 'NOPE' }, {}), timeoutMs: 500 });

t.test('npm-covered and undici calls', async (t) => {
  const consul = await startConsulTestServer({ jitter: false, nodeName: 'n1' });
  t.teardown(() => consul.close());
  const c = client(consul.url);
  t.teardown(() => c.close());
  await c.registerService({ Kind: 'connect-proxy', ID: 'p', Name: 'web-sidecar-proxy', Port: 21000, Weights: { Passing: 4, Warning: 0 }, Proxy: { DestinationServiceName: 'web' }, Check: { CheckID: 'p:ttl', TTL: '30s' } });
  t.same(await c.agentSelf(), { datacenter: 'dc1', nodeName: 'n1' });
  const services = await c.agentServices();
  t.match(services['p'], { Kind: 'connect-proxy', Weights: { Passing: 4, Warning: 0 } }, 'Kind and Weights arrived (undici)');
  await c.updateCheck('p:ttl', 'warning', 'slow');
  t.match((await c.agentChecks())['p:ttl'], { Status: 'warning', Output: 'slow' });
  const h = await c.health('connect', 'web', { passing: false, index: 0, waitMs: 1000 });
  t.ok(h.index! >= 1);
  t.equal((h.body as unknown[]).length, 1);
  const one = await c.agentService('p');
  t.equal(one?.['Service'], 'web-sidecar-proxy');
  t.equal(await c.agentService('nope'), undefined);
  const started = Date.now();
  const same = await c.agentService('p', { hash: String(one?.['ContentHash']), waitMs: 1000 });
  t.ok(Date.now() - started >= 900, 'hash blocking held until the wait ended');
  t.equal(same?.['ContentHash'], one?.['ContentHash']);
  const roots = await c.caRoots();
  t.equal((roots.body as { TrustDomain: string }).TrustDomain, consul.ca.trustDomain);
  const leaf = await c.leaf('web');
  t.match((leaf.body as { ServiceURI: string }).ServiceURI, /\/svc\/web$/);
  t.same(await c.authorize({ target: 'web', clientCertUri: `spiffe://${consul.ca.trustDomain}/ns/default/dc/dc1/svc/api`, clientCertSerial: '01' }), { authorized: true, reason: 'Default behavior configured by ACLs' });
  await c.deregisterService('p');
  t.same(await c.agentServices(), {});
  const gone = await c.deregisterService('p').then(() => undefined, (e: ConsulApiError) => e);
  t.equal(gone?.status, 404, 'npm client errors become ConsulApiError');
  t.match(gone?.body, /^Unknown service ID "p"/);
  t.ok(gone?.unknownRegistration);
});

t.test('failures are classified', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  const url = consul.url;
  await consul.close();
  const down = client(url);
  t.teardown(() => down.close());
  const net = await down.agentSelf().then(() => undefined, (e: ConsulApiError) => e);
  t.equal(net?.kind, 'network');
  t.ok(net?.retryable);
  const net2 = await down.health('service', 'x', { passing: true, index: 0, waitMs: 1000 }).then(() => undefined, (e: ConsulApiError) => e);
  t.equal(net2?.kind, 'network');
  t.match(net2?.message, /cannot reach the Consul agent: ECONNREFUSED/);

  const hang = createServer(() => {});
  await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
  t.teardown(() => { hang.closeAllConnections(); hang.close(); });
  const slow = client(`http://127.0.0.1:${(hang.address() as { port: number }).port}`);
  t.teardown(() => slow.close());
  const to = await slow.registerService({ Name: 'x' }).then(() => undefined, (e: ConsulApiError) => e);
  t.equal(to?.kind, 'timeout');

  const live = await startConsulTestServer({ jitter: false });
  t.teardown(() => live.close());
  live.faults.malformed('not-json');
  const c = client(live.url);
  t.teardown(() => c.close());
  const g = await c.health('service', 'x', { passing: true, index: 0, waitMs: 1000 }).then(() => undefined, (e: ConsulApiError) => e);
  t.equal(g?.kind, 'garbage');
  t.ok(g?.retryable);
});
