/**
 * The consul identity source against the Consul-API test server
 * (test/support/consul): first identity, leaf renewal and root rotation via
 * blocking queries, real mTLS between two Consul-issued identities through our
 * TLS contexts, an outage that keeps the last good identity, and ACLs.
 */
import tls from 'node:tls';
import t from 'tap';
import { ConsulSource } from '../../../src/identity/sources/consul.ts';
import { createClientTls, createServerTls } from '../../../src/identity/tls-context.ts';
import { startConsulTestServer } from '../../support/consul/index.ts';
import { exchange, listen, quietLog } from './fixtures.ts';

const waitFor = async (cond: () => boolean, ms: number) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
  return cond();
};

t.test('identity from Consul: renewal, root rotation, mTLS, outage', async (t) => {
  const consul = await startConsulTestServer({ jitter: false, leafTtlMs: 4000, leafRenewFraction: 0.6 });
  t.teardown(() => consul.close());
  const td = consul.ca.trustDomain;
  const web = new ConsulSource({ address: consul.url, service: 'web', waitSeconds: 10, log: quietLog });
  const db = new ConsulSource({ address: consul.url, service: 'db', waitSeconds: 10, log: quietLog });
  t.teardown(() => Promise.all([web.close(), db.close()]));
  const first = await web.start();
  await db.start();
  t.equal(first.spiffeId, `spiffe://${td}/ns/default/dc/dc1/svc/web`);
  t.equal(first.trustDomain, td);
  t.equal(first.rootsPem.length, 1);
  t.match(first.keyPem, /PRIVATE KEY/);

  await t.test('leaf renewal arrives through the blocking query', async (t) => {
    t.ok(await waitFor(() => web.current()!.serial !== first.serial, 6000), 'new leaf before the old one expired');
    t.ok(web.current()!.notAfter > first.notAfter);
  });

  await t.test('mTLS between two Consul identities through our contexts', async (t) => {
    const st = createServerTls(db, { log: quietLog });
    const server = tls.createServer(st.options, st.guard((s, peer) => s.end(`hi ${peer.id.service}`)));
    st.attach(server);
    const port = await listen(t, server);
    const ct = createClientTls(web);
    t.teardown(() => { st.close(); ct.close(); });
    const out = await exchange(ct.connect({ host: '127.0.0.1', port, expectedSpiffeId: `spiffe://${td}/ns/default/dc/dc1/svc/db` }));
    t.ok(out.ok && out.data === 'hi web', 'verified both ways');
  });

  await t.test('root rotation: both roots trusted, then a leaf from the new root', async (t) => {
    const before = web.current()!;
    consul.ca.rotate();
    t.ok(await waitFor(() => web.current()!.rootsPem.length === 2 && web.current()!.serial !== before.serial, 6000),
      'bundle grew to two roots and the leaf was re-issued');
    consul.ca.pruneInactive();
    t.ok(await waitFor(() => web.current()!.rootsPem.length === 1, 6000), 'pruned root dropped from the bundle');
  });

  await t.test('Consul down: last good identity kept, failures counted, recovery', async (t) => {
    const kept = web.current()!;
    const failuresBefore = web.signals.refresh.failure;
    await consul.faults.down();
    await t.rejects(web.renew(), 'renew fails while Consul is away');
    t.equal(web.current(), kept, 'identity kept');
    t.ok(web.signals.refresh.failure > failuresBefore);
    t.ok(web.describe().lastError);
    await consul.faults.up();
    t.ok(await waitFor(() => web.current()!.serial !== kept.serial, 8000), 'renewals resume after the outage');
    t.equal(web.describe().details.service, 'web');
  });
});

t.test('the Consul index going backwards (restored snapshot) resets the blocking queries', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  const s = new ConsulSource({ address: consul.url, service: 'web', waitSeconds: 1, log: quietLog });
  t.teardown(() => s.close());
  const first = await s.start();
  consul.faults.resetIndex(1);
  consul.ca.rotate();
  t.ok(await waitFor(() => s.current()!.rootsPem.length === 2 && s.current()!.serial !== first.serial, 8000), 'change seen after the reset');
});

t.test('ACLs: a token without service:write cannot fetch the leaf', async (t) => {
  const consul = await startConsulTestServer({ jitter: false, acl: { defaultPolicy: 'deny' } });
  t.teardown(() => consul.close());
  const s = new ConsulSource({ address: consul.url, service: 'web', token: 'nope', startTimeoutMs: 300, log: quietLog });
  t.teardown(() => s.close());
  await t.rejects(s.start(), /403/);
  const { secretId } = consul.acl.setToken({ secretId: 'web-writer', rules: { service: { web: 'write' } } });
  const ok = new ConsulSource({ address: consul.url, service: 'web', token: secretId, startTimeoutMs: 2000, log: quietLog });
  t.teardown(() => ok.close());
  t.match((await ok.start()).spiffeId, /\/svc\/web$/);
  t.throws(() => new ConsulSource({ address: 'consul:8500', service: 'web' }), RangeError);
});
