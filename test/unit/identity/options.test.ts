import t from 'tap';
import { agentSpiffeId, createIdentitySource } from '../../../src/identity/create-source.ts';
import { identityDefaults, identitySchema } from '../../../src/identity/options.ts';
import { renewAt, renewDelay, retryDelay } from '../../../src/identity/renewal.ts';
import { SessionCache } from '../../../src/identity/session-cache.ts';
import { quietLog } from './fixtures.ts';

t.test('identity defaults: zero configuration', async (t) => {
  t.same(identityDefaults, {
    source: 'local-ca', trust_domain: 'aim.local', namespace: 'default', datacenter: 'dc1', ca_dir: 'certs',
    leaf_ttl: 86_400_000, key_type: 'ecdsa-p256', renew_fraction: 0.7, consul: { wait: 300_000 },
  });
  t.equal(agentSpiffeId(identityDefaults, 'web'), 'spiffe://aim.local/ns/default/dc/dc1/svc/web');
});

t.test('identity schema: durations, validation, files needs its three paths', async (t) => {
  t.equal(identitySchema.parse({ leaf_ttl: '5s' }).leaf_ttl, 5000);
  t.equal(identitySchema.parse({ leaf_ttl: '1h30m' }).leaf_ttl, 5_400_000);
  const bad = [
    { leaf_ttl: '500ms' }, { leaf_ttl: 'soon' }, { trust_domain: 'Aim.Local' }, { namespace: 'a/b' }, { source: 'vault' },
    { key_type: 'ed25519' }, { renew_fraction: 1 }, { consul: { address: 'consul:8500' } }, { unknown_key: 1 },
    { source: 'files', cert_file: 'c.pem' },
  ];
  for (const b of bad) t.notOk(identitySchema.safeParse(b).success, JSON.stringify(b));
  const files = identitySchema.safeParse({ source: 'files' });
  t.notOk(files.success);
  if (!files.success) t.same(files.error.issues.map((i) => i.path.join('.')).sort(), ['ca_file', 'cert_file', 'key_file']);
  t.ok(identitySchema.safeParse({ source: 'files', cert_file: 'c', key_file: 'k', ca_file: 'a' }).success);
  t.ok(identitySchema.safeParse({ source: 'coordinator', coordinator: { address: 'x:1', anything: true } }).success, 'coordinator options pass through');
});

t.test('createIdentitySource picks the source kind', async (t) => {
  const local = createIdentitySource(identityDefaults, { service: 'web', log: quietLog });
  t.equal(local.kind, 'local-ca');
  const files = createIdentitySource(identitySchema.parse({ source: 'files', cert_file: 'c', key_file: 'k', ca_file: 'a' }), { service: 'web', log: quietLog });
  t.equal(files.kind, 'files');
  t.throws(() => createIdentitySource(identitySchema.parse({ source: 'consul' }), { service: 'web' }), /address/);
  const consul = createIdentitySource(identitySchema.parse({ source: 'consul' }), { service: 'web', consul: { address: 'http://127.0.0.1:8500' }, log: quietLog });
  t.equal(consul.kind, 'consul');
  t.throws(() => createIdentitySource(identitySchema.parse({ source: 'coordinator' }), { service: 'web' }), /not wired/);
  await Promise.all([local.close(), files.close(), consul.close()]);
});

t.test('renewal arithmetic', async (t) => {
  t.equal(renewAt(0, 10_000), 7000);
  t.equal(renewAt(1000, 2000, 0.5), 1500);
  t.equal(renewDelay(0, 0, 10_000), 7000);
  t.equal(renewDelay(9000, 0, 10_000), 250, 'already past the renewal point: soon, but not a hot loop');
  t.equal(retryDelay(1, 0, undefined, 0), 250);
  t.equal(retryDelay(20, 0, undefined, 0.999_999) <= 30_000, true, 'capped at 30 s');
  t.equal(retryDelay(10, 0, 4000, 0), 1000, 'never later than a quarter of the remaining lifetime');
});

t.test('session cache: keyed, bounded, expires with the server leaf', async (t) => {
  const c = new SessionCache(2, 300_000);
  const s = Buffer.from('s');
  c.set('a', s, 0, 10_000);
  t.equal(c.get('a', 5000), s);
  t.equal(c.peerNotAfter('a'), 10_000);
  t.equal(c.get('a', 9500), undefined, 'expires a second before the server leaf');
  c.set('a', s, 0, 1e9);
  c.set('b', s, 0, 1e9);
  c.set('c', s, 0, 1e9);
  t.equal(c.size, 2, 'bounded');
  t.equal(c.get('a', 1), undefined, 'oldest evicted');
  t.equal(c.get('c', 300_001), undefined, 'ticket lifetime');
  c.clear();
  t.equal(c.size, 0);
  t.throws(() => new SessionCache(0));
});

t.test('expected identity of an upstream endpoint', async (t) => {
  const { expectedSpiffeId } = await import('../../../src/identity/expected-id.ts');
  const local = { trustDomain: 'aim.local', namespace: 'default', datacenter: 'dc1' };
  t.equal(expectedSpiffeId('api', {}, local), 'spiffe://aim.local/ns/default/dc/dc1/svc/api', 'derived from the service name');
  t.equal(expectedSpiffeId('api', { datacenter: 'dc2' }, local), 'spiffe://aim.local/ns/default/dc/dc2/svc/api', 'endpoint datacenter');
  t.equal(expectedSpiffeId('api', { identity: 'spiffe://x.consul/ns/default/dc/dc9/svc/api-v2' }, local), 'spiffe://x.consul/ns/default/dc/dc9/svc/api-v2', 'discovery wins');
});

t.test('agent-tls adapter satisfies the agent contract', async (t) => {
  const { createAgentTls } = await import('../../../src/identity/agent-tls.ts');
  type AgentTls = import('../../../src/agent/tls.ts').AgentTls;
  const { TestSource, leafMaterial, makeCa } = await import('./fixtures.ts');
  const ca = await makeCa(t);
  const a: AgentTls = createAgentTls(new TestSource(leafMaterial(ca, 'spiffe://aim.local/ns/default/dc/dc1/svc/web')), {
    scope: { trustDomain: 'aim.local', namespace: 'default', datacenter: 'dc1' }, log: quietLog,
  });
  t.ok(a.ready());
  await a.close();
});
