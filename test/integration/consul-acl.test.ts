/**
 * ACL tokens and 403s: the token comes from config, a file (re-read when it
 * changes) or an environment variable; a 403 yields an error that names the
 * missing permission instead of a generic failure.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startConsulTestServer, type ConsulTestServer } from '../support/consul/index.ts';
import { sleep } from '../support/consul/testing.ts';
import { consulSectionSchema, type ConsulSectionInput } from '../../src/discovery/consul/options.ts';
import { ConsulApiError, createConsulDiscovery, type ConsulDiscovery } from '../../src/discovery/consul/index.ts';
import type { RegistrationSpec } from '../../src/discovery/consul/registration-body.ts';

const spec: RegistrationSpec = {
  service: { name: 'web', id: 'web-1', address: '127.0.0.1', port: 8080, tags: [], meta: {}, weight: 1, warningWeight: 1 },
  proxy: { address: '127.0.0.1', port: 21000, upstreams: [] },
};

const WRITER = { service: { web: 'write' as const, 'web-sidecar-proxy': 'write' as const }, service_prefix: { '': 'read' as const }, node_prefix: { '': 'read' as const } };

async function server(t: Test): Promise<ConsulTestServer> {
  const consul = await startConsulTestServer({
    jitter: false,
    acl: {
      defaultPolicy: 'deny',
      tokens: [
        { secretId: 'writer', accessorId: 'acc-writer', rules: WRITER },
        { secretId: 'app-only', accessorId: 'acc-app', rules: { service: { web: 'write' } } },
        { secretId: 'reader', accessorId: 'acc-reader', rules: { service_prefix: { '': 'read' } } },
      ],
    },
  });
  t.teardown(() => consul.close());
  return consul;
}

function agent(t: Test, consul: ConsulTestServer, cfg: ConsulSectionInput, env: NodeJS.ProcessEnv = {}): ConsulDiscovery {
  const d = createConsulDiscovery({
    consul: consulSectionSchema.parse({ address: consul.url, check: { interval: '200ms', ttl: '1s', probe: { kind: 'none', timeout: '100ms' } }, ...cfg }),
    registration: spec,
    probe: async () => ({ status: 'passing', output: 'ok' }),
    env,
  });
  t.teardown(async () => { await d.registration?.stop(); await d.close(); });
  return d;
}

t.test('403 names the missing permission', async (t) => {
  const consul = await server(t);
  const reader = agent(t, consul, { token: 'reader' });
  const err = await reader.registration!.start().then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof ConsulApiError);
  const e = err as ConsulApiError;
  t.equal(e.status, 403);
  t.same(e.denied, { permission: 'service:write', resource: 'web', accessor: 'acc-reader' });
  t.equal(e.message, `consul PUT /v1/agent/service/register: permission denied: token acc-reader lacks 'service:write' on "web"; grant it in the token's ACL policy`);
  t.notOk(e.retryable, 'not retried forever');

  const appOnly = agent(t, consul, { token: 'app-only' });
  const e2 = await appOnly.registration!.start().then(() => undefined, (x: ConsulApiError) => x);
  t.match(e2?.message, /lacks 'service:write' on "web-sidecar-proxy"/, 'the sidecar needs its own service:write');

  const anon = agent(t, consul, {});
  const e3 = await anon.registration!.start().then(() => undefined, (x: ConsulApiError) => x);
  t.match(e3?.message, /the anonymous token \(no token configured\) lacks 'service:write' on "web"/);
});

t.test('unknown token: "ACL not found" explained', async (t) => {
  const consul = await server(t);
  const d = agent(t, consul, { token: 'nope' });
  const e = await d.registration!.start().then(() => undefined, (x: ConsulApiError) => x);
  t.match(e?.message, /the ACL token is not known to Consul \(ACL not found\)/);
});

t.test('token from an environment variable; the README policy covers registration, discovery and deregistration', async (t) => {
  const consul = await server(t);
  consul.catalog.register({
    node: 'n2', address: '127.0.0.1',
    service: { Service: 'db-sidecar-proxy', ID: 'db-sidecar-proxy', Kind: 'connect-proxy', Port: 21002, Proxy: { DestinationServiceName: 'db' } },
    checks: [{ CheckID: 'serfHealth', Status: 'passing' }],
  });
  const d = agent(t, consul, { token_env: 'MY_CONSUL_TOKEN', wait: '2s' }, { MY_CONSUL_TOKEN: 'writer' });
  await d.registration!.start();
  t.equal(consul.catalog.connect('web').length, 1);
  t.equal(d.client.tokenOrigin, 'env:MY_CONSUL_TOKEN');
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  for await (const u of d.resolver.watch('db', ac.signal)) {
    t.same(u.endpoints.map((e) => e.port), [21002], 'discovery works with service_prefix/node_prefix read');
    break;
  }
  await d.registration!.stop();
  t.same(consul.catalog.connect('web'), [], 'deregistered');
});

t.test('token from a file, re-read when it changes; precedence token > file > env', async (t) => {
  const consul = await server(t);
  const dir = mkdtempSync(join(tmpdir(), 'aim-consul-token-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'token');
  writeFileSync(file, 'writer\n');
  const d = agent(t, consul, { token_file: file }, { CONSUL_HTTP_TOKEN: 'nope' });
  await d.registration!.start();
  t.equal(consul.catalog.connect('web').length, 1);
  t.equal(d.client.tokenOrigin, `file:${file}`);
  await sleep(1100);
  writeFileSync(file, 'revoked-token\n');
  await sleep(1500);
  t.match(d.registration!.status().lastError, /ACL not found/, 'the rotated (bad) token is in use');
  writeFileSync(file, 'writer\n');
  await sleep(1500);
  t.equal(d.registration!.status().lastError, undefined, 'and the good one again');
  t.throws(() => agent(t, consul, { token_file: join(dir, 'missing') }), /consul.token_file: cannot read/);
});
