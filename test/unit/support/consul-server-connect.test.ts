/**
 * Connect CA on the Consul-API test server (SPEC §8, §10): real EC P-256
 * roots and leaves with the SPIFFE URI SAN, good enough for a real mTLS
 * handshake; leaf caching and blocking renewal; root rotation; authorize
 * decided by intentions, the default intention policy or the ACL default.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { connect, createServer } from 'node:tls';
import { startConsulTestServer } from '../../support/consul/index.ts';
import { call } from './consul-http.ts';

interface Leaf { CertPEM: string; PrivateKeyPEM: string; ServiceURI: string; SerialNumber: string; ValidAfter: string; ValidBefore: string; ModifyIndex: number }
interface Roots { ActiveRootID: string; TrustDomain: string; Roots: Array<{ ID: string; RootCert: string; Active: boolean }> }

t.test('roots and leaf are real certificates with the SPIFFE identity', async (t) => {
  const consul = await startConsulTestServer({ jitter: false, clusterId: '11111111-2222-3333-4444-555555555555' });
  t.teardown(() => consul.close());
  const roots = (await call('GET', `${consul.url}/v1/agent/connect/ca/roots`)).json() as Roots;
  t.equal(roots.TrustDomain, '11111111-2222-3333-4444-555555555555.consul');
  t.equal(roots.Roots.length, 1);
  t.equal(roots.ActiveRootID, roots.Roots[0]!.ID);
  t.match(roots.ActiveRootID, /^([0-9a-f]{2}:){19}[0-9a-f]{2}$/);
  const root = new X509Certificate(roots.Roots[0]!.RootCert);
  t.ok(root.ca);
  t.equal(root.subjectAltName, 'URI:spiffe://11111111-2222-3333-4444-555555555555.consul');
  const res = await call('GET', `${consul.url}/v1/agent/connect/ca/leaf/web`);
  t.equal(res.headers['x-cache'], 'MISS');
  const leaf = res.json() as Leaf;
  t.equal(res.index, leaf.ModifyIndex, 'X-Consul-Index is the cert ModifyIndex');
  t.equal(leaf.ServiceURI, 'spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc1/svc/web');
  const x = new X509Certificate(leaf.CertPEM);
  t.equal(x.subjectAltName, `URI:${leaf.ServiceURI}`);
  t.ok(x.verify(root.publicKey), 'signed by the root');
  t.ok(x.checkIssued(root));
  t.same(x.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'EKU serverAuth + clientAuth');
  t.equal(x.serialNumber.toLowerCase(), leaf.SerialNumber.replace(/:/g, ''));
  t.match(leaf.PrivateKeyPEM, /^-----BEGIN EC PRIVATE KEY-----/);
  t.match(leaf.ValidBefore, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const again = await call('GET', `${consul.url}/v1/agent/connect/ca/leaf/web`);
  t.equal(again.headers['x-cache'], 'HIT');
  t.equal((again.json() as Leaf).SerialNumber, leaf.SerialNumber, 'served from the agent cache');
  const pem = await call('GET', `${consul.url}/v1/connect/ca/roots?pem=true`);
  t.equal(pem.headers['content-type'], 'application/pem-certificate-chain');
  t.match(pem.text, /^-----BEGIN CERTIFICATE-----/);
});

t.test('two leaves complete a real mTLS handshake and present their SPIFFE IDs', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  const roots = (await call('GET', `${consul.url}/v1/agent/connect/ca/roots`)).json() as Roots;
  const ca = roots.Roots.map((r) => r.RootCert);
  const web = (await call('GET', `${consul.url}/v1/agent/connect/ca/leaf/web`)).json() as Leaf;
  const db = (await call('GET', `${consul.url}/v1/agent/connect/ca/leaf/db`)).json() as Leaf;
  let peer = '';
  const server = createServer({ key: db.PrivateKeyPEM, cert: db.CertPEM, ca, requestCert: true, rejectUnauthorized: true }, (s) => {
    peer = s.getPeerCertificate().subjectaltname ?? '';
    s.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const got = await new Promise<string>((resolve, reject) => {
    const c = connect({
      port: (server.address() as { port: number }).port, host: '127.0.0.1', key: web.PrivateKeyPEM, cert: web.CertPEM, ca,
      checkServerIdentity: (_h, cert) => (cert.subjectaltname === `URI:${db.ServiceURI}` ? undefined : new Error(`unexpected ${cert.subjectaltname}`)),
    });
    let data = '';
    c.on('data', (d) => { data += d; });
    c.on('end', () => resolve(data));
    c.on('error', reject);
  });
  t.equal(got, 'ok');
  t.equal(peer, `URI:${web.ServiceURI}`);
});

t.test('a blocking leaf query returns when the leaf is renewed', async (t) => {
  const consul = await startConsulTestServer({ jitter: false, leafTtlMs: 1000, leafRenewFraction: 0.5 });
  t.teardown(() => consul.close());
  const first = await call('GET', `${consul.url}/v1/agent/connect/ca/leaf/web`);
  const started = Date.now();
  const next = await call('GET', `${consul.url}/v1/agent/connect/ca/leaf/web?index=${first.index}&wait=5s`);
  const took = Date.now() - started;
  t.ok(took >= 300 && took < 2000, `renewed at about half the lifetime (${took}ms)`);
  t.ok(next.index! > first.index!);
  t.not((next.json() as Leaf).SerialNumber, (first.json() as Leaf).SerialNumber);
});

t.test('root rotation: both roots listed, one active; blocked roots and leaf queries wake', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  const r0 = await call('GET', `${consul.url}/v1/connect/ca/roots`);
  const l0 = await call('GET', `${consul.url}/v1/agent/connect/ca/leaf/web`);
  const rootsWait = call('GET', `${consul.url}/v1/connect/ca/roots?index=${r0.index}&wait=5s`);
  const leafWait = call('GET', `${consul.url}/v1/agent/connect/ca/leaf/web?index=${l0.index}&wait=5s`);
  setTimeout(() => consul.ca.rotate(), 100);
  const r1 = (await rootsWait).json() as Roots;
  t.equal(r1.Roots.length, 2);
  t.equal(r1.Roots.filter((r) => r.Active).length, 1);
  t.not(r1.ActiveRootID, (r0.json() as Roots).ActiveRootID);
  const leaf = (await leafWait).json() as Leaf;
  const active = new X509Certificate(r1.Roots.find((r) => r.Active)!.RootCert);
  t.ok(new X509Certificate(leaf.CertPEM).verify(active.publicKey), 'new leaf signed by the new root');
  consul.ca.pruneInactive();
  t.equal(((await call('GET', `${consul.url}/v1/connect/ca/roots`)).json() as Roots).Roots.length, 1);
});

t.test('authorize: intentions by precedence, then default intention policy, then the ACL default', async (t) => {
  const consul = await startConsulTestServer({ jitter: false });
  t.teardown(() => consul.close());
  const td = consul.ca.trustDomain;
  const ask = async (src: string, target: string) => (await call('POST', `${consul.url}/v1/agent/connect/authorize`, {
    Target: target, ClientCertURI: `spiffe://${td}/ns/default/dc/dc1/svc/${src}`, ClientCertSerial: '01',
  })).json() as { Authorized: boolean; Reason: string };
  t.same(await ask('web', 'db'), { Authorized: true, Reason: 'Default behavior configured by ACLs' });
  consul.intentions.set('*', 'db', 'deny');
  consul.intentions.set('web', 'db', 'allow');
  t.same(await ask('web', 'db'), { Authorized: true, Reason: 'Matched L4 intention: default/web => default/db (Precedence: 9, Action: ALLOW)' });
  t.same(await ask('api', 'db'), { Authorized: false, Reason: 'Matched L4 intention: default/* => default/db (Precedence: 8, Action: DENY)' });
  await call('PUT', `${consul.url}/v1/connect/intentions/exact?source=api&destination=db`, { Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/' } }] });
  t.equal((await ask('api', 'db')).Authorized, false, 'L7 intentions never authorize at L4');
  consul.cluster.defaultIntentionPolicy = 'deny';
  t.same(await ask('web', 'other'), { Authorized: false, Reason: 'Default intention policy' });
  consul.cluster.defaultIntentionPolicy = undefined;
  consul.acl.enable('deny');
  consul.acl.setToken({ secretId: 'root', management: true });
  const r = await call('POST', `${consul.url}/v1/agent/connect/authorize`, { Target: 'other', ClientCertURI: `spiffe://${td}/ns/default/dc/dc1/svc/web` }, { 'X-Consul-Token': 'root' });
  t.same(r.json(), { Authorized: false, Reason: 'Default behavior configured by ACLs' });
  const bad = await call('POST', `${consul.url}/v1/agent/connect/authorize`, { Target: 'db', ClientCertURI: 'https://web' }, { 'X-Consul-Token': 'root' });
  t.equal(bad.status, 400);
  t.equal(bad.text, 'ClientCertURI not a valid Connect identifier');
  const agentUri = await call('POST', `${consul.url}/v1/agent/connect/authorize`, { Target: 'db', ClientCertURI: `spiffe://${td}/agent/client/dc/dc1/id/abc` }, { 'X-Consul-Token': 'root' });
  t.equal(agentUri.text, 'ClientCertURI not a valid Service identifier');
  const denied = await call('POST', `${consul.url}/v1/agent/connect/authorize`, { Target: 'db', ClientCertURI: `spiffe://${td}/ns/default/dc/dc1/svc/web` });
  t.equal(denied.status, 403, 'needs service:write on the target');
});
