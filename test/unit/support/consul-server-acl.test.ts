/**
 * ACLs on the Consul-API test server (SPEC §1): the 403 texts, token lookup
 * order, list filtering with X-Consul-Results-Filtered-By-Acls, and what the
 * npm client makes of a 403 (CLIENT.md: the body becomes err.message only when
 * it is text/plain and shorter than 80 bytes).
 */
import t, { type Test } from 'tap';
import Consul from 'consul';
import { startConsulTestServer } from '../../support/consul/index.ts';
import { call } from './consul-http.ts';

const WEB_TOKEN = 'aaaaaaaa-0000-0000-0000-000000000001';
const READ_TOKEN = 'aaaaaaaa-0000-0000-0000-000000000002';

async function aclServer(t: Test) {
  const consul = await startConsulTestServer({
    jitter: false,
    acl: {
      defaultPolicy: 'deny',
      tokens: [
        { secretId: WEB_TOKEN, accessorId: 'acc-web', rules: { service: { web: 'write', 'web-sidecar-proxy': 'write' }, service_prefix: { '': 'read' }, node_prefix: { '': 'read' } } },
        { secretId: READ_TOKEN, accessorId: 'acc-read', rules: { service: { web: 'read' }, node_prefix: { '': 'read' } } },
        { secretId: 'root', management: true },
      ],
    },
  });
  t.teardown(() => consul.close());
  return consul;
}

t.test('unknown token → 403 "ACL not found" (plain text)', async (t) => {
  const consul = await aclServer(t);
  const r = await call('GET', `${consul.url}/v1/agent/services`, undefined, { 'X-Consul-Token': 'nope' });
  t.equal(r.status, 403);
  t.equal(r.text, 'ACL not found');
  t.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
  t.equal(r.headers['x-consul-default-acl-policy'], 'deny');
});

t.test('missing right → 403 "Permission denied: token with AccessorID ... lacks permission ..."', async (t) => {
  const consul = await aclServer(t);
  const r = await call('PUT', `${consul.url}/v1/agent/service/register`, { Name: 'web', Port: 1 }, { 'X-Consul-Token': READ_TOKEN });
  t.equal(r.status, 403);
  t.equal(r.text, `Permission denied: token with AccessorID 'acc-read' lacks permission 'service:write' on "web"`);
  const anon = await call('PUT', `${consul.url}/v1/agent/service/register`, { Name: 'web', Port: 1 });
  t.equal(anon.status, 403);
  t.equal(anon.text, `Permission denied: anonymous token lacks permission 'service:write' on "web". The anonymous token is used implicitly when a request does not specify a token.`);
  const self = await call('GET', `${consul.url}/v1/agent/self`, undefined, { 'X-Consul-Token': WEB_TOKEN });
  t.equal(self.text, `Permission denied: token with AccessorID 'acc-web' lacks permission 'agent:read' on "node1"`);
  const leaf = await call('GET', `${consul.url}/v1/agent/connect/ca/leaf/db`, undefined, { 'X-Consul-Token': WEB_TOKEN });
  t.equal(leaf.status, 403);
  t.match(leaf.text, /^Permission denied: .* lacks permission 'service:write' on "db"$/);
  const roots = await call('GET', `${consul.url}/v1/agent/connect/ca/roots`);
  t.equal(roots.status, 200, 'CA roots need no ACL');
});

t.test('a connect-proxy needs service:write on its destination too', async (t) => {
  const consul = await aclServer(t);
  const body = { Kind: 'connect-proxy', Name: 'web-sidecar-proxy', Port: 21000, Proxy: { DestinationServiceName: 'db' } };
  const r = await call('PUT', `${consul.url}/v1/agent/service/register`, body, { 'X-Consul-Token': WEB_TOKEN });
  t.equal(r.status, 403);
  t.match(r.text, /lacks permission 'service:write' on "db"$/);
  const ok = await call('PUT', `${consul.url}/v1/agent/service/register`, { ...body, Proxy: { DestinationServiceName: 'web' } }, { 'X-Consul-Token': WEB_TOKEN });
  t.equal(ok.status, 200);
});

t.test('token lookup order: ?token > X-Consul-Token > Authorization: Bearer', async (t) => {
  const consul = await aclServer(t);
  const body = { Name: 'web', Port: 1 };
  t.equal((await call('PUT', `${consul.url}/v1/agent/service/register`, body, { Authorization: `Bearer ${WEB_TOKEN}` })).status, 200);
  t.equal((await call('PUT', `${consul.url}/v1/agent/service/register?token=${WEB_TOKEN}`, body, { 'X-Consul-Token': READ_TOKEN })).status, 200);
  t.equal((await call('PUT', `${consul.url}/v1/agent/service/register`, body, { 'X-Consul-Token': READ_TOKEN, Authorization: `Bearer ${WEB_TOKEN}` })).status, 403);
});

t.test('lists drop rows the token cannot read instead of 403ing', async (t) => {
  const consul = await aclServer(t);
  for (const name of ['web', 'db']) {
    t.equal((await call('PUT', `${consul.url}/v1/agent/service/register`, { Name: name, Port: 1 }, { 'X-Consul-Token': 'root' })).status, 200);
  }
  const r = await call('GET', `${consul.url}/v1/catalog/services`, undefined, { 'X-Consul-Token': READ_TOKEN });
  t.equal(r.status, 200);
  t.same(r.json(), { web: [] });
  t.equal(r.headers['x-consul-results-filtered-by-acls'], 'true');
  const anon = await call('GET', `${consul.url}/v1/health/service/db`);
  t.same(anon.json(), [], 'anonymous sees nothing, no 403');
  const all = await call('GET', `${consul.url}/v1/catalog/services`, undefined, { 'X-Consul-Token': 'root' });
  t.same(Object.keys(all.json() as object).sort(), ['db', 'web']);
  t.equal(all.headers['x-consul-results-filtered-by-acls'], undefined, 'header omitted when nothing was filtered');
});

t.test('the npm client surfaces short 403 bodies as err.message', async (t) => {
  const consul = await aclServer(t);
  const bad = new Consul({ host: '127.0.0.1', port: consul.port, defaults: { token: 'nope' } });
  t.teardown(() => bad.destroy());
  const e1 = await bad.agent.service.list().catch((e: Error & { statusCode?: number }) => e);
  t.equal((e1 as { statusCode?: number }).statusCode, 403);
  t.equal((e1 as Error).message, 'ACL not found');
  const anon = new Consul({ host: '127.0.0.1', port: consul.port });
  t.teardown(() => anon.destroy());
  const e2 = await anon.agent.service.register({ name: 'web', port: 1 }).catch((e: Error & { response?: { body?: unknown } }) => e);
  t.equal((e2 as Error).message, 'forbidden', 'long Permission denied text → status text in the message');
  t.match(String((e2 as { response?: { body?: unknown } }).response?.body), /^Permission denied: anonymous token lacks permission 'service:write'/);
});

t.test('ACLs disabled: tokens are ignored and the header says allow', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  const r = await call('GET', `${consul.url}/v1/agent/self`, undefined, { 'X-Consul-Token': 'whatever' });
  t.equal(r.status, 200);
  t.equal(r.headers['x-consul-default-acl-policy'], 'allow');
});
