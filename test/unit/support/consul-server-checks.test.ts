/**
 * Agent checks on the Consul-API test server (SPEC §4–§5): TTL updates through
 * the npm client and raw PUTs, TTL expiry turning a check critical with
 * Consul's output, DeregisterCriticalServiceAfter removing the service,
 * output-only updates deferred from the catalog, sidecar registration, and
 * restart/kill semantics.
 */
import t from 'tap';
import Consul from 'consul';
import { createServer } from 'node:net';
import { ConsulCluster, startConsulTestServer } from '../../support/consul/index.ts';
import { call } from './consul-http.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean | Promise<boolean>, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await cond()) return true; await sleep(20); }
  return false;
}

t.test('TTL check: npm client pass/fail, then expiry → critical with "TTL expired"', async (t) => {
  const consul = await startConsulTestServer({ jitter: false, checkUpdateIntervalMs: 0 });
  t.teardown(() => consul.close());
  const client = new Consul({ host: '127.0.0.1', port: consul.port });
  t.teardown(() => client.destroy());
  await client.agent.service.register({ name: 'web', id: 'web-1', port: 8080, check: { ttl: '300ms', notes: 'app probe' } as never });
  let checks = (await client.agent.check.list()) as Record<string, { Status: string; Output: string; CheckID: string }>;
  t.equal(checks['service:web-1']!.Status, 'critical', 'a new check starts critical');
  await client.agent.check.pass({ id: 'service:web-1', note: 'all good' } as never);
  checks = (await client.agent.check.list()) as typeof checks;
  t.equal(checks['service:web-1']!.Status, 'passing');
  t.equal(checks['service:web-1']!.Output, 'all good', '?note becomes Output');
  t.ok(await until(async () => consul.catalog.instances('web')[0]!.status === 'critical', 1500), 'TTL expired');
  checks = (await client.agent.check.list()) as typeof checks;
  t.equal(checks['service:web-1']!.Output, 'TTL expired (last output before timeout follows): all good');
  const upd = await call('PUT', `${consul.url}/v1/agent/check/update/service:web-1`, { Status: 'warning', Output: 'slow' });
  t.equal(upd.status, 200);
  t.equal(upd.text, '', 'empty body');
  t.equal(consul.catalog.instances('web')[0]!.status, 'warning');
  consul.checks.expire('service:web-1');
  t.equal(consul.catalog.instances('web')[0]!.checks.find((c) => c.CheckID === 'service:web-1')!.Output, 'TTL expired (last output before timeout follows): slow');
});

t.test('check update errors: unknown ID 404, non-TTL 500, bad status 400', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  await call('PUT', `${consul.url}/v1/agent/service/register`, { Name: 'web', Port: 1, Check: { TCP: '127.0.0.1:1', Interval: '10s' } });
  const unknown = await call('PUT', `${consul.url}/v1/agent/check/pass/nope`);
  t.equal(unknown.status, 404);
  t.equal(unknown.text, 'Unknown check ID "nope". Ensure that the check ID is passed, not the check name.');
  const notTtl = await call('PUT', `${consul.url}/v1/agent/check/pass/service:web`);
  t.equal(notTtl.status, 500);
  t.equal(notTtl.text, 'CheckID "service:web" does not have associated TTL');
  const bad = await call('PUT', `${consul.url}/v1/agent/check/update/service:web`, { Status: 'ok' });
  t.equal(bad.status, 400);
  t.equal(bad.text, "Invalid check status: 'ok'");
  const garbage = await call('PUT', `${consul.url}/v1/agent/check/update/service:web`, '{nope');
  t.equal(garbage.status, 400);
  t.match(garbage.text, /^Request decode failed: /);
  const dereg = await call('PUT', `${consul.url}/v1/agent/service/deregister/nope`);
  t.equal(dereg.status, 404);
  t.equal(dereg.text, 'Unknown service ID "nope". Ensure that the service ID is passed, not the service name.');
});

t.test('DeregisterCriticalServiceAfter removes the service after it stays critical', async (t) => {
  const consul = await startConsulTestServer({ jitter: false, reapIntervalMs: 50, deregisterMinMs: 0 });
  t.teardown(() => consul.close());
  const r = await call('PUT', `${consul.url}/v1/agent/service/register`, {
    Name: 'web', ID: 'web-1', Port: 8080, Check: { CheckID: 'web-ttl', TTL: '200ms', Status: 'passing', DeregisterCriticalServiceAfter: '300ms' },
  });
  t.equal(r.status, 200);
  t.equal(consul.catalog.instances('web').length, 1);
  const started = Date.now();
  t.ok(await until(() => consul.catalog.instances('web').length === 0, 3000), 'service reaped');
  t.ok(Date.now() - started >= 450, 'not before TTL + deregister time');
  t.same(consul.agentServices(), [], 'gone from the agent too');
});

t.test('the deregister minimum (1m by default) is applied', async (t) => {
  const consul = await startConsulTestServer({ jitter: false, reapIntervalMs: 50, deregisterMinMs: 60_000 });
  t.teardown(() => consul.close());
  await call('PUT', `${consul.url}/v1/agent/service/register`, {
    Name: 'web', Port: 8080, Check: { TTL: '100ms', DeregisterCriticalServiceAfter: '100ms' },
  });
  await sleep(500);
  t.equal(consul.catalog.instances('web').length, 1, 'still there: 100ms was raised to the minimum');
});

t.test('output-only changes are deferred from the catalog (check_update_interval); status changes are not', async (t) => {
  const consul = await startConsulTestServer({ jitter: false, checkUpdateIntervalMs: 400 });
  t.teardown(() => consul.close());
  await call('PUT', `${consul.url}/v1/agent/service/register`, { Name: 'web', Port: 8080, Check: { TTL: '30s', Status: 'passing' } });
  const before = await call('GET', `${consul.url}/v1/health/service/web`);
  await call('PUT', `${consul.url}/v1/agent/check/pass/service:web?note=probe+1`);
  const same = await call('GET', `${consul.url}/v1/health/service/web`);
  t.equal(same.index, before.index, 'no catalog write for an output-only change');
  const local = (await call('GET', `${consul.url}/v1/agent/checks`)).json() as Record<string, { Output: string }>;
  t.equal(local['service:web']!.Output, 'probe 1', 'the agent view is current');
  t.ok(await until(async () => (await call('GET', `${consul.url}/v1/health/service/web`)).index! > before.index!, 2000), 'synced later');
  const idx = (await call('GET', `${consul.url}/v1/health/service/web`)).index!;
  await call('PUT', `${consul.url}/v1/agent/check/fail/service:web?note=down`);
  t.ok((await call('GET', `${consul.url}/v1/health/service/web`)).index! > idx, 'status change synced at once');
});

t.test('re-registering keeps the status of an existing check; replace-existing-checks drops others', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  const body = { Name: 'web', Port: 8080, Checks: [{ CheckID: 'a', TTL: '30s' }, { CheckID: 'b', TTL: '30s' }] };
  await call('PUT', `${consul.url}/v1/agent/service/register`, body);
  await call('PUT', `${consul.url}/v1/agent/check/pass/a`);
  await call('PUT', `${consul.url}/v1/agent/service/register`, body);
  let local = (await call('GET', `${consul.url}/v1/agent/checks`)).json() as Record<string, { Status: string }>;
  t.equal(local['a']!.Status, 'passing');
  t.ok(local['b']);
  await call('PUT', `${consul.url}/v1/agent/service/register?replace-existing-checks`, { ...body, Checks: [{ CheckID: 'a', TTL: '30s' }] });
  local = (await call('GET', `${consul.url}/v1/agent/checks`)).json() as typeof local;
  t.same(Object.keys(local), ['a']);
});

t.test('auto check IDs and names, registration 400s', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  await call('PUT', `${consul.url}/v1/agent/service/register`, { Name: 'redis', Port: 1, Checks: [{ TTL: '10s' }, { TTL: '10s' }] });
  const local = (await call('GET', `${consul.url}/v1/agent/checks`)).json() as Record<string, { Name: string }>;
  t.same(Object.keys(local).sort(), ['service:redis:1', 'service:redis:2']);
  t.equal(local['service:redis:1']!.Name, "Service 'redis' check");
  const cases: Array<[unknown, RegExp | string]> = [
    [{ Port: 1 }, 'Missing service name'],
    [{ Name: 'x', Address: '0.0.0.0' }, 'Invalid service address'],
    [{ Name: 'x', Weights: { Passing: 0, Warning: 1 } }, /^Invalid Weights: /],
    [{ Name: 'x', Check: { TTL: '10s', Status: 'up' } }, "Status for checks must 'passing', 'warning', 'critical'"],
    [{ Name: 'x', Check: { HTTP: 'http://x' } }, /^Invalid check: /],
    [{ Name: 'x', Kind: 'connect-proxy', Proxy: {} }, /^Validation failed: 2 errors occurred:\n\t\* Port or SocketPath must be set for a connect-proxy\n\t\* Proxy.DestinationServiceName must be non-empty for Connect proxy services\n\n$/],
    [{ Name: 'x', Connect: { SidecarService: { ID: 'no' } } }, 'Invalid SidecarService: A SidecarService cannot specify an ID as this is managed by the agent'],
    ['{not json', /^Request decode failed: /],
    ['', 'Request decode failed: EOF'],
  ];
  for (const [body, msg] of cases) {
    const r = await call('PUT', `${consul.url}/v1/agent/service/register`, body);
    t.equal(r.status, 400, JSON.stringify(body));
    t.match(String(r.headers['content-type']), /^text\/plain; charset=utf-8$/);
    if (typeof msg === 'string') t.equal(r.text, msg); else t.match(r.text, msg);
  }
});

t.test('Connect.SidecarService registers a connect-proxy with TCP + alias checks; deregistering the parent removes it', async (t) => {
  const listener = createServer((s) => s.destroy());
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  t.teardown(() => listener.close());
  const consul = await startConsulTestServer({ jitter: false, checkUpdateIntervalMs: 0, staggerChecks: false });
  t.teardown(() => consul.close());
  const port = (listener.address() as { port: number }).port;
  await call('PUT', `${consul.url}/v1/agent/service/register`, {
    Name: 'web', Port: 8080, Tags: ['v1'], Check: { TTL: '30s', Status: 'passing' },
    Connect: { SidecarService: { Port: port, Proxy: { Upstreams: [{ DestinationName: 'db', LocalBindPort: 9191 }] } } },
  });
  const svc = (await call('GET', `${consul.url}/v1/agent/service/web-sidecar-proxy`)).json() as Record<string, unknown>;
  t.equal(svc['Kind'], 'connect-proxy');
  t.equal(svc['Service'], 'web-sidecar-proxy');
  t.same(svc['Tags'], ['v1'], 'tags copied from the parent');
  t.match(svc['Proxy'], { DestinationServiceName: 'web', DestinationServiceID: 'web', LocalServiceAddress: '127.0.0.1', LocalServicePort: 8080 });
  const checks = consul.checks.local().filter((c) => c.def.ServiceID === 'web-sidecar-proxy').map((c) => c.def.Name).sort();
  t.same(checks, ['Connect Sidecar Aliasing web', 'Connect Sidecar Listening']);
  t.ok(await until(() => consul.catalog.connect('web')[0]?.status === 'passing', 3000), 'TCP check ran and the alias follows the parent');
  await call('PUT', `${consul.url}/v1/agent/check/fail/service:web`);
  t.equal(consul.catalog.connect('web')[0]!.status, 'critical', 'alias check follows the parent at once');
  await call('PUT', `${consul.url}/v1/agent/service/deregister/web`);
  t.same(consul.catalog.connect('web'), []);
  t.same(consul.agentServices(), []);
});

t.test('restart forgets agent-local services; anti-entropy removes them from the catalog', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  await call('PUT', `${consul.url}/v1/agent/service/register`, { Name: 'web', Port: 8080, Check: { TTL: '30s', Status: 'passing' } });
  consul.catalog.register({ node: 'remote', address: '10.0.0.9', service: { Service: 'web', ID: 'web-remote', Port: 9 } });
  const restarting = consul.restart({ downtimeMs: 300 });
  await sleep(100);
  await t.rejects(call('GET', `${consul.url}/v1/agent/services`), 'down while restarting');
  t.equal(consul.catalog.instances('web').find((i) => i.node === 'node1')?.checks.find((c) => c.CheckID === 'serfHealth')?.Status, 'critical', 'serfHealth critical while the agent is away');
  await restarting;
  t.same((await call('GET', `${consul.url}/v1/agent/services`)).json(), {});
  t.same(consul.catalog.instances('web').map((i) => i.node), ['remote'], 'only the remote instance remains');
  const pass = await call('PUT', `${consul.url}/v1/agent/check/pass/service:web`);
  t.equal(pass.status, 404, 'TTL update after the restart → Unknown check ID');
});

t.test('restart with persist keeps the services', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  await call('PUT', `${consul.url}/v1/agent/service/register`, { Name: 'web', Port: 8080, Check: { TTL: '30s', Status: 'passing' } });
  await consul.restart({ persist: true });
  t.equal(consul.catalog.instances('web').length, 1);
  t.equal((await call('PUT', `${consul.url}/v1/agent/check/pass/service:web`)).status, 200);
});

t.test('two test agents share one catalog; restarting one leaves the other node alone', async (t) => {
  const cluster = new ConsulCluster();
  t.teardown(() => cluster.close());
  const a = await startConsulTestServer({ jitter: false, cluster, nodeName: 'node-a' });
  const b = await startConsulTestServer({ jitter: false, cluster, nodeName: 'node-b', nodeAddress: '127.0.0.2' });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  await call('PUT', `${a.url}/v1/agent/service/register`, { Name: 'web', ID: 'web-a', Port: 1, Check: { TTL: '30s', Status: 'passing' } });
  await call('PUT', `${b.url}/v1/agent/service/register`, { Name: 'web', ID: 'web-b', Port: 2, Check: { TTL: '30s', Status: 'passing' } });
  const both = (await call('GET', `${b.url}/v1/health/service/web?passing`)).json() as Array<{ Node: { Node: string; Address: string } }>;
  t.same(both.map((e) => [e.Node.Node, e.Node.Address]), [['node-a', '127.0.0.1'], ['node-b', '127.0.0.2']]);
  t.same(Object.keys((await call('GET', `${a.url}/v1/agent/services`)).json() as object), ['web-a'], 'agent endpoints are per node');
  await a.restart();
  t.same(a.catalog.instances('web').map((i) => i.node), ['node-b']);
});
