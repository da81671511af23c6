/**
 * Response shapes of the Consul-API test server against
 * ../shared/consul-api/examples: every field an example shows is present in
 * our answer, with the same casing and JSON type (free-form maps such as Meta
 * excepted). Also the cross-cutting HTTP rules of SPEC §0: 405 with Allow,
 * OPTIONS, ?pretty, plain-text errors, empty-body writes, no X-Consul-Index on
 * agent-local endpoints.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { startConsulTestServer, type ConsulTestServer } from '../../support/consul/index.ts';
import { call, EXAMPLES } from './consul-http.ts';

const example = (f: string): unknown => JSON.parse(readFileSync(`${EXAMPLES}/${f}`, 'utf8'));
const FREE_FORM = new Set(['Meta', 'NodeMeta', 'ServiceMeta', 'Config', 'DebugConfig', 'Tags', 'TransparentProxy']);
const typeOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** Every key of `ex` is in `ours` with the same JSON type (null in either is accepted), recursively. */
function covers(t: Test, ex: unknown, ours: unknown, path: string): void {
  if (ex === null || ours === null) return;
  t.equal(typeOf(ours), typeOf(ex), `${path} type`);
  if (Array.isArray(ex) && Array.isArray(ours)) {
    if (ex.length > 0 && ours.length > 0) covers(t, ex[0], ours[0], `${path}[0]`);
    return;
  }
  if (typeOf(ex) !== 'object' || typeOf(ours) !== 'object') return;
  for (const [k, v] of Object.entries(ex as object)) {
    const o = ours as Record<string, unknown>;
    if (!(k in o)) { t.fail(`${path}.${k} missing`); continue; }
    if (FREE_FORM.has(k)) continue;
    covers(t, v, o[k], `${path}.${k}`);
  }
}

async function seeded(t: Test): Promise<ConsulTestServer> {
  const consul = await startConsulTestServer({ jitter: false, nodeName: 'foobar' });
  t.teardown(() => consul.close());
  const put = (p: string, b: unknown) => call('PUT', `${consul.url}${p}`, b);
  await put('/v1/agent/service/register', {
    ID: 'redis', Name: 'redis', Tags: ['primary'], Address: '10.1.10.12', Port: 8000, Meta: { redis_version: '4.0' },
    TaggedAddresses: { lan: { address: '10.1.10.12', port: 8000 }, wan: { address: '198.18.1.2', port: 80 } },
    Weights: { Passing: 10, Warning: 1 }, Check: { TTL: '30s', Status: 'passing' },
  });
  await put('/v1/agent/service/register', {
    Name: 'web', Port: 8080, Check: { TTL: '30s', Status: 'passing' },
  });
  await put('/v1/agent/service/register', {
    Kind: 'connect-proxy', ID: 'web-sidecar-proxy', Name: 'web-sidecar-proxy', Port: 18080,
    TaggedAddresses: { lan: { address: '127.0.0.1', port: 8000 }, wan: { address: '198.51.100.53', port: 80 } },
    Proxy: {
      DestinationServiceName: 'web', DestinationServiceID: 'web', LocalServiceAddress: '127.0.0.1', LocalServicePort: 8080,
      Mode: 'transparent', TransparentProxy: { OutboundListenerPort: 22500 }, Config: { foo: 'bar' },
      Upstreams: [{ DestinationType: 'service', DestinationName: 'db', LocalBindPort: 9191 }],
    },
    Checks: [{ Name: 'Connect Sidecar Listening', TTL: '30s', Status: 'passing' }, { Name: 'Connect Sidecar Aliasing web', AliasService: 'web' }],
  });
  return consul;
}

t.test('health, agent and catalog shapes match the examples', async (t) => {
  const consul = await seeded(t);
  const get = async (p: string) => (await call('GET', `${consul.url}${p}`)).json();
  covers(t, example('health-service.json'), await get('/v1/health/service/redis'), 'health-service');
  covers(t, example('health-connect.json'), await get('/v1/health/connect/web'), 'health-connect');
  covers(t, example('health-checks.json'), await get('/v1/health/checks/redis'), 'health-checks');
  covers(t, example('agent-services.json'), await get('/v1/agent/services'), 'agent-services');
  covers(t, example('agent-service-sidecar.json'), await get('/v1/agent/service/web-sidecar-proxy'), 'agent-service-sidecar');
  covers(t, example('agent-checks.json'), await get('/v1/agent/checks'), 'agent-checks');
  covers(t, example('agent-self.json'), await get('/v1/agent/self'), 'agent-self');
  covers(t, example('catalog-service.json'), await get('/v1/catalog/service/redis'), 'catalog-service');
  t.same(await get('/v1/catalog/services'), { redis: ['primary'], web: [], 'web-sidecar-proxy': [] });
  const health = (await get('/v1/health/service/redis')) as Array<{ Checks: Array<{ CheckID: string }>; Service: { Weights: unknown } }>;
  t.same(health[0]!.Service.Weights, { Passing: 10, Warning: 1 });
  t.same(health[0]!.Checks.map((c) => c.CheckID), ['serfHealth', 'service:redis'], 'node checks and the service checks');
  const one = (await get('/v1/agent/service/web')) as Record<string, unknown>;
  t.equal(one['Tags'], null, 'single service: unset Tags are null');
  t.equal(((await get('/v1/agent/services')) as Record<string, Record<string, unknown>>)['web']!['Tags'] instanceof Array, true, 'lists: []');
});

t.test('connect, intentions, kv and session shapes match the examples', async (t) => {
  const consul = await seeded(t);
  const get = async (p: string) => (await call('GET', `${consul.url}${p}`)).json();
  covers(t, example('connect-ca-roots.json'), await get('/v1/connect/ca/roots'), 'connect-ca-roots');
  covers(t, example('agent-connect-ca-roots.json'), await get('/v1/agent/connect/ca/roots'), 'agent-connect-ca-roots');
  covers(t, example('agent-connect-ca-leaf.json'), await get('/v1/agent/connect/ca/leaf/web'), 'leaf');
  const auth = await call('POST', `${consul.url}/v1/agent/connect/authorize`, example('agent-connect-authorize-request.json'));
  covers(t, example('agent-connect-authorize.json'), auth.json(), 'authorize');
  await call('PUT', `${consul.url}/v1/connect/intentions/exact?source=web&destination=db`, { Action: 'allow' });
  await call('PUT', `${consul.url}/v1/connect/intentions/exact?source=web&destination=*`, { Action: 'allow' });
  covers(t, example('connect-intentions.json'), await get('/v1/connect/intentions'), 'intentions');
  covers(t, example('connect-intentions-exact.json'), await get('/v1/connect/intentions/exact?source=web&destination=db'), 'exact');
  covers(t, example('connect-intentions-match.json'), await get('/v1/connect/intentions/match?by=source&name=web'), 'match');
  t.same(await get('/v1/connect/intentions/check?source=web&destination=db'), example('connect-intentions-check.json'));
  const sess = await call('PUT', `${consul.url}/v1/session/create`, { Name: 'my-service-lock', TTL: '30s', LockDelay: '15s' });
  covers(t, example('session-create.json'), sess.json(), 'session-create');
  const id = (sess.json() as { ID: string }).ID;
  const put = await call('PUT', `${consul.url}/v1/kv/zip?acquire=${id}`, 'test');
  t.same(put.json(), example('kv-put.json'));
  covers(t, example('kv-get.json'), await get('/v1/kv/zip'), 'kv-get');
  t.equal(((await get('/v1/kv/zip')) as Array<{ Value: string; LockIndex: number }>)[0]!.Value, 'dGVzdA==');
  t.equal(((await get('/v1/kv/zip')) as Array<{ LockIndex: number }>)[0]!.LockIndex, 1);
  await call('PUT', `${consul.url}/v1/kv/web/foo`, 'x');
  await call('PUT', `${consul.url}/v1/kv/web/subdir/x`, 'x');
  t.same(await get('/v1/kv/web/?keys&separator=/'), ['web/foo', 'web/subdir/']);
  covers(t, example('session-info.json'), await get(`/v1/session/info/${id}`), 'session-info');
  t.same((await call('DELETE', `${consul.url}/v1/kv/zip`)).json(), example('kv-delete.json'));
});

t.test('HTTP rules: 405 + Allow, OPTIONS, ?pretty, empty-body writes, plain-text 404, no index on agent-local', async (t) => {
  const consul = await seeded(t);
  const r405 = await call('GET', `${consul.url}/v1/agent/service/register`);
  t.equal(r405.status, 405);
  t.equal(r405.text, 'method GET not allowed');
  t.equal(r405.headers['allow'], 'OPTIONS,PUT');
  const r405b = await call('DELETE', `${consul.url}/v1/health/service/web`);
  t.equal(r405b.headers['allow'], 'OPTIONS,GET');
  const opt = await call('OPTIONS', `${consul.url}/v1/kv/x`);
  t.equal(opt.status, 200);
  t.equal(opt.headers['allow'], 'OPTIONS,GET,PUT,DELETE');
  const pretty = await call('GET', `${consul.url}/v1/catalog/services?pretty`);
  t.match(pretty.text, /^\{\n {4}"redis": \[/);
  t.ok(pretty.text.endsWith('\n'));
  const compact = await call('GET', `${consul.url}/v1/catalog/services`);
  t.notMatch(compact.text, /\n/);
  t.equal(compact.headers['content-type'], 'application/json');
  const write = await call('PUT', `${consul.url}/v1/agent/check/pass/service:web`);
  t.equal(write.status, 200);
  t.equal(write.text, '');
  t.equal(write.headers['content-type'], undefined, 'no Content-Type on an empty 200');
  const local = await call('GET', `${consul.url}/v1/agent/services`);
  t.equal(local.headers['x-consul-index'], undefined, 'agent-local endpoints send no X-Consul-Index');
  t.equal(local.headers['x-consul-default-acl-policy'], 'allow');
  const nf = await call('GET', `${consul.url}/v1/not/a/thing`);
  t.equal(nf.status, 404);
  t.equal(nf.headers['content-type'], 'text/plain; charset=utf-8');
  const miss = await call('GET', `${consul.url}/v1/health/service/`);
  t.equal(miss.status, 400);
  t.equal(miss.text, 'Missing service name');
  const badPassing = await call('GET', `${consul.url}/v1/health/service/web?passing=maybe`);
  t.equal(badPassing.text, 'Invalid value for ?passing');
  const match = await call('GET', `${consul.url}/v1/connect/intentions/match?name=web`);
  t.equal(match.status, 500);
  t.equal(match.text, "required query parameter 'by' not set");
  const kvMissing = await call('GET', `${consul.url}/v1/kv/nope`);
  t.equal(kvMissing.status, 404);
  t.equal(kvMissing.text, '');
  t.ok(Number(kvMissing.headers['x-consul-index']) >= 1, 'missing key: 404 with X-Consul-Index');
  const auth = await call('POST', `${consul.url}/v1/agent/connect/authorize`, { ClientCertURI: 'spiffe://x.consul/ns/default/dc/dc1/svc/web' });
  t.equal(auth.text, 'Target service must be specified');
});

t.test('?passing, ?tag, ?filter and percent-encoded path params', async (t) => {
  const consul = await seeded(t);
  await call('PUT', `${consul.url}/v1/agent/service/register`, { Name: 'redis', ID: 'redis-2', Tags: ['replica'], Port: 8001, Check: { TTL: '30s' } });
  const get = async (p: string) => (await call('GET', `${consul.url}${p}`)).json() as Array<{ Service: { ID: string } }>;
  t.same((await get('/v1/health/service/redis')).map((e) => e.Service.ID), ['redis', 'redis-2']);
  t.same((await get('/v1/health/service/redis?passing')).map((e) => e.Service.ID), ['redis'], 'critical instance dropped');
  t.same((await get('/v1/health/service/redis?passing=false')).length, 2);
  t.same((await get('/v1/health/service/redis?tag=replica')).map((e) => e.Service.ID), ['redis-2']);
  t.same((await get(`/v1/health/service/redis?filter=${encodeURIComponent('"primary" in Service.Tags')}`)).map((e) => e.Service.ID), ['redis']);
  t.same((await get(`/v1/health/service/redis?filter=${encodeURIComponent('Checks.Status == critical')}`)).map((e) => e.Service.ID), ['redis-2']);
  t.same((await get(`/v1/health/service/redis?filter=${encodeURIComponent('Service.Meta.redis_version == "4.0" and not (Service.Port == 8001)')}`)).map((e) => e.Service.ID), ['redis']);
  const bad = await call('GET', `${consul.url}/v1/health/service/redis?filter=${encodeURIComponent('Service.Port ==')}`);
  t.equal(bad.status, 400);
  t.match(bad.text, /^Failed to create boolean expression evaluator: /);
  const enc = await call('PUT', `${consul.url}/v1/agent/check/pass/service%3Aredis-2`);
  t.equal(enc.status, 200, 'route on the decoded path');
  t.equal((await get('/v1/health/service/redis?passing')).length, 2);
});
