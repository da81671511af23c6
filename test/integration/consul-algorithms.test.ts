/**
 * The pure parts of Consul discovery (no sockets): 403 parsing, health-entry
 * parsing and garbage detection, endpoint selection and the fail-open policy,
 * flap damping, query pacing and the index rules, registration bodies, and
 * the `consul:` config schema.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { parsePermissionDenied, ConsulApiError } from '../../src/discovery/consul/errors.ts';
import { GarbageError, parseHealthEntries, tagFilter, fingerprint } from '../../src/discovery/consul/health-entries.ts';
import { FlapDamper } from '../../src/discovery/consul/flap-damper.ts';
import { QueryPacer } from '../../src/discovery/consul/query-pacer.ts';
import { selectEndpoints } from '../../src/discovery/consul/select.ts';
import { appServiceBody, goDuration, proxyServiceBody, registrationIds } from '../../src/discovery/consul/registration-body.ts';
import { consulBaseUrl, consulDefaults, consulSectionSchema, serviceQuery } from '../../src/discovery/consul/options.ts';

const EX = '/work/shared/consul-api/examples';

t.test('parsePermissionDenied', async (t) => {
  t.same(parsePermissionDenied(`Permission denied: token with AccessorID 'abc' lacks permission 'service:write' on "web"`), { permission: 'service:write', resource: 'web', accessor: 'abc' });
  t.same(parsePermissionDenied(`Permission denied: anonymous token lacks permission 'node:read' on "n1". The anonymous token is used implicitly when a request does not specify a token.`), { permission: 'node:read', resource: 'n1', accessor: 'anonymous' });
  t.same(parsePermissionDenied(`Permission denied: token with AccessorID '' lacks permission 'service:read'`), { permission: 'service:read', resource: undefined, accessor: '' });
  t.same(parsePermissionDenied('Permission denied'), { permission: 'unknown', resource: undefined, accessor: undefined });
  t.equal(parsePermissionDenied('ACL not found'), undefined);
  const e = new ConsulApiError({ kind: 'http', method: 'PUT', path: '/v1/agent/check/update/x', status: 404, body: 'Unknown check ID "x". Ensure that the check ID is passed, not the check name.' });
  t.ok(e.unknownRegistration);
  t.notOk(e.retryable);
  t.ok(new ConsulApiError({ kind: 'http', method: 'PUT', path: '/', status: 500, body: 'CheckID "x" does not have associated TTL' }).unknownRegistration);
  t.ok(new ConsulApiError({ kind: 'http', method: 'GET', path: '/', status: 429, body: '' }).retryable);
});

t.test('parseHealthEntries reads the examples and rejects garbage', async (t) => {
  const connect = parseHealthEntries(JSON.parse(readFileSync(`${EX}/health-connect.json`, 'utf8')));
  t.match(connect[0], { key: '10.1.10.12:21000', address: '10.1.10.12', port: 21000, destination: 'web', health: 'passing', datacenter: 'dc1', node: 'foobar' });
  const svc = parseHealthEntries(JSON.parse(readFileSync(`${EX}/health-service.json`, 'utf8')));
  t.match(svc[0], { address: '10.1.10.12', port: 8000, weights: { passing: 10, warning: 1 }, tags: ['primary'], meta: { redis_version: '4.0' }, destination: 'redis' });
  t.same(parseHealthEntries([]), []);
  for (const bad of [{}, null, 'x', [{}], [{ Node: {}, Service: { Port: 0 }, Checks: [] }], [{ Node: {}, Service: { Port: 80 }, Checks: [] }], [{ Node: { Address: 'a' }, Service: { Port: 80 }, Checks: 'x' }]]) {
    t.throws(() => parseHealthEntries(bad), GarbageError, JSON.stringify(bad));
  }
  const mixed = parseHealthEntries([
    { Node: { Address: 'n', Datacenter: 'dc1' }, Service: { Port: 1 }, Checks: [{ Status: 'passing' }, { Status: 'warning' }] },
    { Node: { Address: 'n' }, Service: { Port: 2 }, Checks: [{ Status: 'warning' }, { Status: 'critical' }] },
    { Node: { Address: 'n' }, Service: { Port: 3 }, Checks: [{ Status: 'maintenance' }] },
  ]);
  t.same(mixed.map((i) => i.health), ['warning', 'critical', 'critical']);
  t.equal(tagFilter(['a', 'b"c']), '"a" in Service.Tags and "b\\"c" in Service.Tags');
  t.equal(tagFilter([]), undefined);
});

const inst = (port: number, health: 'passing' | 'warning' | 'critical', tags: string[] = [], warning = 1) => ({
  key: `10.0.0.1:${port}`, node: 'n', serviceId: `s${port}`, destination: 'db', address: '10.0.0.1', port, tags, meta: {},
  weights: { passing: 5, warning }, health, datacenter: 'dc1',
});

t.test('selectEndpoints: tags, weights, identity, fail-open', async (t) => {
  const all = [inst(1, 'passing', ['a']), inst(2, 'passing'), inst(3, 'critical', ['a'])];
  const s = selectEndpoints(all, { tags: ['a'], failOpen: false, trustDomain: 'td.consul' }, new FlapDamper(0), 0);
  t.same(s.endpoints.map((e) => e.port), [1]);
  t.equal(s.endpoints[0]!.weight, 5);
  t.equal(s.endpoints[0]!.identity, 'spiffe://td.consul/ns/default/dc/dc1/svc/db');
  const allBad = [inst(1, 'critical'), inst(2, 'warning', [], 0), inst(3, 'warning', [], 2)];
  t.same(selectEndpoints(allBad, { tags: [], failOpen: false }, new FlapDamper(0), 0).endpoints, [], 'fail-closed: empty');
  const open = selectEndpoints(allBad, { tags: [], failOpen: true }, new FlapDamper(0), 0);
  t.ok(open.panic);
  t.same(open.endpoints.map((e) => [e.port, e.weight, e.health]), [[1, 5, 'critical'], [3, 2, 'warning']], 'warning weight 0 dropped, Weights.Warning used');
  t.same(selectEndpoints([], { tags: [], failOpen: true }, new FlapDamper(0), 0).endpoints, [], 'no instances: empty even fail-open');
});

t.test('FlapDamper', async (t) => {
  const d = new FlapDamper(1000, 10_000);
  t.same([...d.apply(['a', 'b'], 0).admitted], ['a', 'b'], 'new instances admitted at once');
  t.same([...d.apply(['a'], 100).admitted], ['a'], 'removal at once');
  const held = d.apply(['a', 'b'], 200);
  t.same([...held.admitted], ['a'], 'b held down');
  t.equal(held.recheckAt, 1200);
  t.same([...d.apply(['a'], 300).admitted], ['a'], 'flapped out again');
  t.same([...d.apply(['a', 'b'], 400).admitted], ['a'], 'holddown restarts');
  t.same([...d.apply(['a', 'b'], 1399).admitted], ['a']);
  t.same([...d.apply(['a', 'b'], 1400).admitted], ['a', 'b'], 'readmitted after a full holddown');
  t.same([...d.apply(['a'], 2000).admitted], ['a']);
  t.same([...d.apply(['a', 'b'], 20_000).admitted], ['a', 'b'], 'gone longer than the window: admitted at once');
  t.same([...new FlapDamper(0).apply(['x'], 0).admitted], ['x']);
  const only = new FlapDamper(1000);
  only.apply(['a'], 0);
  only.apply([], 10);
  const sel = selectEndpoints([inst(1, 'passing')].map((i) => ({ ...i, key: 'a' })), { tags: [], failOpen: false }, only, 20);
  t.equal(sel.endpoints.length, 1, 'damping never empties the set');
});

t.test('QueryPacer: index rules and pacing', async (t) => {
  const p = new QueryPacer({ minIntervalMs: 100, waitMs: 10_000, backoffInitialMs: 200, backoffMaxMs: 5000 }, () => 0.5);
  t.equal(p.index, 0, 'first query answers at once');
  t.equal(p.observe(50), false);
  t.equal(p.index, 50);
  t.equal(p.delay(0, false, true, 5), 100);
  t.equal(p.observe(60), false);
  t.equal(p.delay(50, false, true, 2000), 100, 'a change: next query after min interval');
  t.equal(p.observe(60), false);
  t.equal(p.delay(60, false, false, 10_100), 100, 'a full wait: go again');
  t.equal(p.observe(60), false);
  t.equal(p.delay(60, false, false, 10), 1000, 'early with no change: back off from 1 s');
  t.equal(p.observe(60), false);
  t.equal(p.delay(60, false, false, 10), 2000, 'and double');
  t.equal(p.observe(7), true, 'index went backwards');
  t.equal(p.index, 0, 'reset to 0');
  t.equal(p.observe(0), false);
  t.equal(p.index, 1, 'index 0 from Consul is treated as 1');
  const e1 = p.onError();
  t.equal(p.index, 0, 'after an error the next query does not block');
  t.ok(e1 >= 100 && e1 <= 200);
  const e2 = p.onError();
  t.ok(e2 <= 400);
  t.equal(p.consecutiveErrors, 2);
  p.observe(1);
  t.equal(p.consecutiveErrors, 0);
  t.equal(p.index, 1);
});

t.test('registration bodies', async (t) => {
  const spec = {
    service: { name: 'web', address: '0.0.0.0', port: 8080, tags: ['v1'], meta: { a: 'b' }, weight: 2, warningWeight: 0 },
    proxy: { address: '0.0.0.0', port: 21000, upstreams: [{ name: 'db', localBindAddress: '127.0.0.1', localBindPort: 9191, datacenter: 'dc2' }] },
  };
  const ids = registrationIds(spec);
  t.same(ids, { service: 'web-21000', proxy: 'web-21000-sidecar-proxy', probeCheck: 'web-21000:probe', agentCheck: 'web-21000-sidecar-proxy:agent', aliasCheck: 'web-21000-sidecar-proxy:app' });
  const app = appServiceBody(spec, consulDefaults.check, { status: 'warning', output: '' });
  t.match(app, { ID: 'web-21000', Name: 'web', Address: '', Port: 8080, Weights: { Passing: 2, Warning: 0 }, Checks: [{ TTL: '30s', Status: 'warning', DeregisterCriticalServiceAfter: '1m' }] });
  const proxy = proxyServiceBody(spec, consulDefaults.check);
  t.match(proxy, { Kind: 'connect-proxy', Address: '', Port: 21000, Proxy: { DestinationServiceName: 'web', DestinationServiceID: 'web-21000', LocalServiceAddress: '127.0.0.1', Upstreams: [{ DestinationName: 'db', Datacenter: 'dc2', LocalBindPort: 9191 }] } });
  t.same((proxy['Checks'] as Array<{ CheckID: string }>).map((c) => c.CheckID), ['web-21000-sidecar-proxy:agent', 'web-21000-sidecar-proxy:app']);
  t.same([goDuration(30_000), goDuration(90_000), goDuration(3_600_000), goDuration(250)], ['30s', '90s', '1h', '250ms']);
});

t.test('consul: config section', async (t) => {
  t.match(consulDefaults, {
    address: '127.0.0.1:8500', scheme: 'http', token_env: 'CONSUL_HTTP_TOKEN', wait: 300_000, health_endpoint: 'connect', fail_open: false,
    check: { interval: 10_000, ttl: 30_000, deregister_critical_after: 60_000, probe: { kind: 'tcp', path: '/health', timeout: 2_000 } },
    discovery: { min_query_interval: 500, flap_holddown: 2_000 },
  });
  t.equal(consulBaseUrl(consulDefaults), 'http://127.0.0.1:8500');
  t.equal(consulBaseUrl(consulSectionSchema.parse({ address: 'https://consul.local:8501/' })), 'https://consul.local:8501');
  const bad = (v: unknown) => consulSectionSchema.safeParse(v);
  t.notOk(bad({ wait: '20m' }).success, 'wait capped at 10m');
  t.notOk(bad({ check: { interval: '10s', ttl: '5s' } }).success, 'ttl must exceed interval');
  t.notOk(bad({ address: 'not an address' }).success);
  t.notOk(bad({ health_endpoint: 'catalog' }).success);
  t.notOk(bad({ bogus: 1 }).success, 'strict');
  const c = consulSectionSchema.parse({ tags: ['x'], datacenter: 'dc1', services: { db: { tags: ['primary'], datacenter: 'dc2', fail_open: true } } });
  t.same(serviceQuery(c, 'db'), { service: 'db', endpoint: 'connect', tags: ['primary'], datacenter: 'dc2', failOpen: true });
  t.same(serviceQuery(c, 'api'), { service: 'api', endpoint: 'connect', tags: ['x'], datacenter: 'dc1', failOpen: false });
  t.not(fingerprint([{ address: 'a', port: 1, weight: 1, tags: [], health: 'passing' }]), fingerprint([{ address: 'a', port: 1, weight: 2, tags: [], health: 'passing' }]));
});
