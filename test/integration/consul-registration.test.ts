/**
 * Registration with the Consul-API test server over the whole lifecycle:
 * register (app service + connect-proxy sidecar, as the catalog shows them),
 * TTL checks kept current from the injected probe (critical within one probe
 * interval, and another agent's resolver stops routing within 1 s),
 * deregistration sidecar-first, recovery when the Consul agent restarts
 * without its state (404 Unknown check ID → re-register, no crash loop), and
 * Consul unreachable at start.
 */
import t, { type Test } from 'tap';
import { startConsulTestServer, type ConsulTestServer } from '../support/consul/index.ts';
import { record, sleep } from '../support/consul/testing.ts';
import { consulSectionSchema, type ConsulSectionInput } from '../../src/discovery/consul/options.ts';
import { createConsulDiscovery, type ConsulDiscovery } from '../../src/discovery/consul/index.ts';
import type { RegistrationSpec } from '../../src/discovery/consul/registration-body.ts';
import type { Health } from '../../src/discovery/types.ts';

const spec: RegistrationSpec = {
  service: { name: 'web', id: 'web-1', address: '127.0.0.1', port: 8080, tags: ['v1'], meta: { version: '1' }, weight: 3, warningWeight: 1 },
  proxy: { address: '127.0.0.1', port: 21000, upstreams: [{ name: 'db', localBindAddress: '127.0.0.1', localBindPort: 9191 }] },
};

function agent(t: Test, consul: ConsulTestServer, cfg: ConsulSectionInput = {}, health: { status: Health } = { status: 'passing' }): ConsulDiscovery {
  const config = consulSectionSchema.parse({
    address: consul.url, wait: '2s',
    check: { interval: '200ms', ttl: '1s', deregister_critical_after: '1s', probe: { kind: 'none', timeout: '100ms' } },
    discovery: { min_query_interval: '100ms', flap_holddown: '0s', backoff_initial: '100ms', backoff_max: '300ms' },
    ...cfg,
  });
  const d = createConsulDiscovery({ consul: config, registration: spec, probe: async () => ({ status: health.status, output: `app is ${health.status}` }) });
  t.teardown(async () => { await d.registration?.stop(); await d.close(); });
  return d;
}

async function until(cond: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (cond()) return true; await sleep(20); }
  return cond();
}

t.test('register, keep checks current, deregister sidecar first', async (t) => {
  const consul = await startConsulTestServer({ jitter: false, checkUpdateIntervalMs: 0 });
  t.teardown(() => consul.close());
  const d = agent(t, consul);
  await d.registration!.start();
  const app = consul.catalog.instances('web');
  t.equal(app.length, 1);
  t.match(app[0]!.service, { ID: 'web-1', Service: 'web', Address: '127.0.0.1', Port: 8080, Tags: ['v1'], Meta: { version: '1' }, Weights: { Passing: 3, Warning: 1 } });
  t.same(app[0]!.checks.map((c) => [c.CheckID, c.Status]), [['serfHealth', 'passing'], ['web-1:probe', 'passing']]);
  const proxy = consul.catalog.connect('web');
  t.equal(proxy.length, 1);
  t.match(proxy[0]!.service, {
    Kind: 'connect-proxy', ID: 'web-1-sidecar-proxy', Service: 'web-sidecar-proxy', Port: 21000, Tags: ['v1'], Weights: { Passing: 3, Warning: 1 },
    Proxy: {
      DestinationServiceName: 'web', DestinationServiceID: 'web-1', LocalServiceAddress: '127.0.0.1', LocalServicePort: 8080,
      Upstreams: [{ DestinationType: 'service', DestinationName: 'db', LocalBindAddress: '127.0.0.1', LocalBindPort: 9191 }],
    },
  });
  t.same(proxy[0]!.checks.map((c) => c.CheckID).sort(), ['serfHealth', 'web-1-sidecar-proxy:agent', 'web-1-sidecar-proxy:app']);
  t.equal(proxy[0]!.status, 'passing');
  const check = consul.checks.local().find((c) => c.def.CheckID === 'web-1:probe')!;
  t.equal(check.def.ttlMs, 1000);
  t.equal(check.def.deregisterAfterMs, 1000);
  await sleep(600);
  t.match(consul.checks.local().find((c) => c.def.CheckID === 'web-1:probe')!.output, 'app is passing', 'output from the probe');
  t.ok(consul.countRequests({ path: '/v1/agent/check/update/web-1:probe' }) >= 2, 'updated every interval');
  await sleep(1200);
  t.equal(consul.catalog.connect('web')[0]!.status, 'passing', 'TTL never expires while the agent runs');

  const since = Date.now();
  await d.registration!.stop();
  t.same(consul.catalog.instances('web'), []);
  t.same(consul.catalog.connect('web'), []);
  const order = consul.requests.filter((r) => r.at >= since && r.path.startsWith('/v1/agent/service/deregister/')).map((r) => r.path);
  t.same(order, ['/v1/agent/service/deregister/web-1-sidecar-proxy', '/v1/agent/service/deregister/web-1'], 'sidecar first');
  t.equal(consul.countRequests({ path: '/v1/agent/service/register' }), 2, 'two registrations, each with the undici client (Kind, Weights kept)');
});

t.test('the app goes unhealthy: TTL check critical within one probe interval; other agents stop routing within 1 s', async (t) => {
  const consul = await startConsulTestServer({ jitter: false, checkUpdateIntervalMs: 0 });
  t.teardown(() => consul.close());
  const health: { status: Health } = { status: 'passing' };
  const d = agent(t, consul, {}, health);
  await d.registration!.start();
  const other = createConsulDiscovery({ consul: consulSectionSchema.parse({ address: consul.url, wait: '5s', discovery: { min_query_interval: '100ms', flap_holddown: '0s' } }) });
  t.teardown(() => other.close());
  const rec = record(other.resolver, 'web');
  t.teardown(() => rec.stop());
  t.same((await rec.next((u) => u.endpoints.length === 1)).endpoints.map((e) => e.port), [21000], 'peers dial the sidecar port');
  const changedAt = Date.now();
  health.status = 'critical';
  t.ok(await until(() => consul.checks.local().find((c) => c.def.CheckID === 'web-1:probe')?.status === 'critical', 400), 'critical within one interval (200ms)');
  await rec.next((u) => u.endpoints.length === 0, 2000);
  const took = Date.now() - changedAt;
  t.ok(took < 200 + 1000, `removed from the peer's set ${took}ms after the app failed`);
  t.equal(consul.catalog.connect('web')[0]!.checks.find((c) => c.CheckID === 'web-1-sidecar-proxy:app')!.Status, 'critical', 'the alias check carries the app health to the sidecar');
  health.status = 'passing';
  await rec.next((u) => u.endpoints.length === 1, 2000);
});

t.test('Consul agent restarts without its state: re-registered, no crash loop', async (t) => {
  const consul = await startConsulTestServer({ jitter: false, checkUpdateIntervalMs: 0 });
  t.teardown(() => consul.close());
  const d = agent(t, consul);
  await d.registration!.start();
  await consul.restart({ downtimeMs: 500 });
  // The catalog holds the entries as soon as the test server has taken the PUTs; the agent counts the
  // re-registration when their answers come back: wait for both, then it must be exactly one.
  t.ok(await until(() => consul.catalog.instances('web').length === 1 && consul.catalog.connect('web').length === 1
    && d.registration!.status().reRegistrations >= 1, 3000), 're-registered');
  t.equal(d.registration!.status().reRegistrations, 1);
  await sleep(200);
  t.equal(consul.catalog.connect('web')[0]!.status, 'passing', 'statuses pushed right after re-registering');
  const before = consul.countRequests({ path: '/v1/agent/service/register' });
  await sleep(1000);
  t.equal(consul.countRequests({ path: '/v1/agent/service/register' }), before, 'no further registrations once recovered');
  t.equal(d.registration!.status().lastError, undefined);
});

t.test('Consul keeps rejecting the registration: re-registration is backed off', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  const d = agent(t, consul);
  await d.registration!.start();
  consul.faults.error500('rpc error making call: No cluster leader', { path: '/v1/agent/service/register' });
  await consul.restart();
  const since = Date.now();
  await sleep(2500);
  const attempts = consul.countRequests({ path: '/v1/agent/service/register', since });
  t.ok(attempts >= 1 && attempts <= 6, `${attempts} registration attempts in 2.5 s with a 200ms interval (backoff 1s, 2s, ...)`);
  t.match(d.registration!.status().lastError, /No cluster leader/);
  consul.faults.clear();
  t.ok(await until(() => consul.catalog.connect('web').length === 1, 5000), 'registered once Consul accepts again');
});

t.test('Consul unreachable at start: start() retries until it is back', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  await consul.faults.down();
  const d = agent(t, consul);
  let done = false;
  const started = d.registration!.start().then(() => { done = true; });
  await sleep(500);
  t.notOk(done);
  t.match(d.registration!.status().lastError, /cannot reach the Consul agent/);
  await consul.faults.up();
  await started;
  t.equal(consul.catalog.connect('web').length, 1);
});

t.test('stop() during start() retries returns promptly', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  await consul.faults.down();
  const d = agent(t, consul);
  const started = d.registration!.start();
  await sleep(200);
  await d.registration!.stop();
  await started;
  t.pass('start() resolved after stop()');
});
