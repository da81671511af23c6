/**
 * Identity.Certify over real TLS, and the `coordinator` identity source
 * against it: a valid CSR is signed; a CSR for another identity and a request
 * without credentials are refused; the source renews on schedule, keeps its
 * leaf while the coordinator is down, and renews on a rotate directive.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import forge from 'node-forge';
import t from 'tap';
import { asForgeKey, nativeRsaKey } from '../../src/control/native-rsa-sign.ts';
import { certFields } from '../../src/control/cert-fields.ts';
import { coordinatorChannelOptions, coordinatorCredentials } from '../../src/control/coordinator-channel.ts';
import { coordinatorSourceFactory, parseCoordinatorSourceConfig } from '../../src/control/coordinator-source-config.ts';
import { startAgentReporter } from '../../src/control/agent-reporter.ts';
import { createIdentitySource } from '../../src/identity/create-source.ts';
import { identitySchema } from '../../src/identity/options.ts';
import { generateRsaKeyPem } from '../../src/coordinator/signer.ts';
import { CoordinatorIdentitySource } from '../../src/identity/sources/coordinator.ts';
import { controlPlaneProtos } from '../../src/proto/load.ts';
import type { CertifyRequest, CertifyResponse } from '../../src/proto/types.ts';
import { JOIN_TOKEN, sleep, startTestCoordinator, waitFor } from '../unit/coordinator/support.ts';

const quiet = { info() {}, warn() {}, error() {} };
const WEB = 'spiffe://aim.local/ns/default/dc/dc1/svc/web';
const API = 'spiffe://aim.local/ns/default/dc/dc1/svc/api';

let csrKey: ReturnType<typeof generateRsaKeyPem> | undefined;
/** A CSR for one cached key (RSA key generation is the slow part of these tests). */
function csrFor(sanUri: string | undefined): { csrPem: string; keyPem: string } {
  const k = csrKey ??= generateRsaKeyPem();
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(k.publicKeyPem);
  csr.setSubject([{ name: 'commonName', value: 'x' }]);
  if (sanUri) csr.setAttributes([{ name: 'extensionRequest', extensions: [{ name: 'subjectAltName', altNames: [{ type: 6, value: sanUri }] }] }]);
  csr.sign(asForgeKey(nativeRsaKey(k.privateKeyPem)), forge.md.sha256.create());
  return { csrPem: forge.pki.certificationRequestToPem(csr), keyPem: k.privateKeyPem };
}

type Certify = (req: CertifyRequest, leaf?: { keyPem: string; certPem: string }) => Promise<CertifyResponse>;

function certifier(target: string, rootsPem: readonly string[], coordinatorId: string): Certify {
  return (req, leaf) => new Promise((resolve, reject) => {
    const { IdentityClient } = controlPlaneProtos();
    const client = new IdentityClient(target, coordinatorCredentials({ rootsPem, ...leaf }, { exact: coordinatorId }), coordinatorChannelOptions) as any;
    client.Certify(req, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, res: CertifyResponse) => {
      client.close();
      if (err) reject(err); else resolve(res);
    });
  });
}

t.test('Certify', async (t) => {
  const c = await startTestCoordinator(t, { joinTokens: [{ service: 'web', token: 'web-only-token' }, { service: '*', token: JOIN_TOKEN }] });
  const certify = certifier(c.grpcTarget, c.rootsPem, c.spiffeId);

  await t.test('accepts a valid CSR with a join token', async (t) => {
    const { csrPem, keyPem } = csrFor(WEB);
    const res = await certify({ csrPem, spiffeId: WEB, joinToken: 'web-only-token' });
    const leaf = new X509Certificate(res.leafPem);
    const root = new X509Certificate(res.rootsPem[0]!);
    t.ok(leaf.verify(root.publicKey), 'signed by the mesh root');
    t.ok(leaf.checkPrivateKey(createPrivateKey(keyPem)), 'for the key of the CSR');
    const f = certFields(leaf.raw);
    t.same(f.uris, [WEB], 'exactly the requested SPIFFE ID');
    t.equal(f.isCa, false);
    t.same(leaf.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'serverAuth and clientAuth');
    t.equal(res.notAfter, f.notAfterMs, 'not_after is the encoded notAfter');
    t.same(res.chainPem, []);

    // Renewal with the leaf just issued, no token.
    const again = csrFor(undefined);
    const renewed = await certify({ csrPem: again.csrPem, spiffeId: WEB }, { keyPem, certPem: res.leafPem });
    t.same(certFields(new X509Certificate(renewed.leafPem).raw).uris, [WEB], 'renewed by presenting the current leaf');
  });

  await t.test('rejects a CSR for another identity', async (t) => {
    const webLeaf = c.issueLeaf('web');
    const viaCert = await certify({ csrPem: csrFor(API).csrPem, spiffeId: API }, webLeaf).catch((e) => e);
    t.equal(viaCert.code, grpc.status.PERMISSION_DENIED, 'a web leaf cannot obtain api');
    t.match(viaCert.details, /may not obtain/);
    const viaToken = await certify({ csrPem: csrFor(API).csrPem, spiffeId: API, joinToken: 'web-only-token' }).catch((e) => e);
    t.equal(viaToken.code, grpc.status.PERMISSION_DENIED, 'a web-only token cannot obtain api');
    const smuggled = await certify({ csrPem: csrFor(API).csrPem, spiffeId: WEB, joinToken: 'web-only-token' }).catch((e) => e);
    t.equal(smuggled.code, grpc.status.PERMISSION_DENIED, 'a CSR naming api cannot ride on a web request');
    t.match(smuggled.details, /CSR names identity/);
    const otherDomain = await certify({ csrPem: csrFor(undefined).csrPem, spiffeId: 'spiffe://evil.test/ns/default/dc/dc1/svc/web', joinToken: JOIN_TOKEN }).catch((e) => e);
    t.equal(otherDomain.code, grpc.status.PERMISSION_DENIED, 'another trust domain');
  });

  await t.test('rejects a request without credentials', async (t) => {
    const none = await certify({ csrPem: csrFor(WEB).csrPem, spiffeId: WEB }).catch((e) => e);
    t.equal(none.code, grpc.status.UNAUTHENTICATED);
    t.match(none.details, /no credentials/);
    const unknown = await certify({ csrPem: csrFor(WEB).csrPem, spiffeId: WEB, joinToken: 'not-a-real-token' }).catch((e) => e);
    t.equal(unknown.code, grpc.status.UNAUTHENTICATED, 'unknown join token');
    const garbage = await certify({ csrPem: 'not a csr', spiffeId: WEB, joinToken: JOIN_TOKEN }).catch((e) => e);
    t.equal(garbage.code, grpc.status.INVALID_ARGUMENT, 'unparseable CSR');
    const badId = await certify({ csrPem: csrFor(undefined).csrPem, spiffeId: 'spiffe://aim.local/web', joinToken: JOIN_TOKEN }).catch((e) => e);
    t.equal(badId.code, grpc.status.INVALID_ARGUMENT, 'not a Consul-form SPIFFE ID');
  });

  const metrics = await (await fetch(`${c.httpUrl}/metrics`)).text();
  t.match(metrics, /aim_mesh_coordinator_certify_total\{result="issued",via="join_token"\} 1/);
  t.match(metrics, /aim_mesh_coordinator_certify_total\{result="issued",via="certificate"\} 1/);
});

t.test('the coordinator identity source', async (t) => {
  const c = await startTestCoordinator(t, { leafTtlMs: 5000 });
  const src = new CoordinatorIdentitySource({ target: c.grpcTarget, spiffeId: WEB, rootsPem: c.rootsPem, joinToken: JOIN_TOKEN, log: quiet });
  t.teardown(() => src.close());
  const first = await src.start();
  t.equal(first.spiffeId, WEB);
  t.equal(first.trustDomain, 'aim.local');
  t.same(first.rootsPem.map((r) => new X509Certificate(r).fingerprint256), c.rootsPem.map((r) => new X509Certificate(r).fingerprint256), 'trust bundle from the coordinator');
  t.ok(new X509Certificate(first.certPem).checkPrivateKey(createPrivateKey(first.keyPem)), 'the key stayed local and matches');
  const updates: { serial: string; at: number }[] = [];
  src.onUpdate((m) => updates.push({ serial: m.serial, at: Date.now() }));
  const renewed = await waitFor('renewal at ~70% of a 5 s leaf', () => updates[0], 10_000);
  t.not(renewed.serial, first.serial, 'a new serial');
  t.equal(src.current()!.serial, renewed.serial);
  t.ok(renewed.at < first.notAfter.getTime(), 'renewed before the first leaf expired');
  t.ok(renewed.at >= first.notBefore.getTime() + 0.5 * (first.notAfter.getTime() - first.notBefore.getTime()), 'not renewed early');
  t.equal(src.signals.refresh.success, 2);
  t.equal(src.describe().source, 'coordinator', '/certs description');

  // A refused claim fails start() at once (configuration error, not an outage).
  const wrong = new CoordinatorIdentitySource({ target: c.grpcTarget, spiffeId: WEB, rootsPem: c.rootsPem, joinToken: 'not-a-real-token', log: quiet });
  t.teardown(() => wrong.close());
  const err = await wrong.start().catch((e) => e);
  t.equal(err.code, grpc.status.UNAUTHENTICATED);
});

t.test('the source keeps its leaf while the coordinator is down and renews once it is back', async (t) => {
  const c1 = await startTestCoordinator(t, { leafTtlMs: 4000 });
  const port = c1.grpcPort;
  const src = new CoordinatorIdentitySource({ target: c1.grpcTarget, spiffeId: WEB, rootsPem: c1.rootsPem, joinToken: JOIN_TOKEN, log: quiet });
  t.teardown(() => src.close());
  const m = await src.start();
  await c1.close();
  const failed = await src.renew().catch((e) => e);
  t.equal(failed.code, grpc.status.UNAVAILABLE, 'renew fails while the coordinator is down');
  t.equal(src.current()!.serial, m.serial, 'the current leaf stays in force');
  await sleep(300);
  const c2 = await startTestCoordinator(t, { leafTtlMs: 4000, grpc: { host: '127.0.0.1', port } });
  t.ok(c2);
  await waitFor('renewed after the coordinator came back', () => src.current()!.serial !== m.serial, 6000);
  t.ok(src.current()!.notAfter.getTime() >= m.notAfter.getTime(), 'a fresh leaf (X.509 times have whole seconds)');
});

t.test('a rotate-certificate directive renews the leaf through the source (startAgentReporter)', async (t) => {
  const c = await startTestCoordinator(t);
  const src = new CoordinatorIdentitySource({ target: c.grpcTarget, spiffeId: WEB, rootsPem: c.rootsPem, joinToken: JOIN_TOKEN, log: quiet });
  t.teardown(() => src.close());
  const first = await src.start();
  const agent = startAgentReporter({ address: c.grpcTarget, interval: 200 }, {
    identity: src,
    snapshot: () => ({ agentId: 'web-1', service: 'web', instance: 'web-1', version: 'v1', listeners: [], upstreams: [], edges: [], readiness: { ready: true, reasons: [] } }),
  });
  t.teardown(() => agent.stop());
  const reporter = agent.reporter;
  await waitFor('reporter connected', () => reporter.status().state === 'connected');
  t.equal(c.directives.rotateCertificate({ agentId: 'web-1' }, 'test'), 1);
  await waitFor('new leaf', () => src.current()!.serial !== first.serial);
  await waitFor('reporter back on the new leaf', () => reporter.status().connects === 2 && reporter.status().state === 'connected');
});

t.test('identity.source: coordinator through the agent config and createIdentitySource', async (t) => {
  const c = await startTestCoordinator(t);
  const dir = await mkdtemp(join(tmpdir(), 'aim-mesh-idcfg-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'bundle.pem'), c.rootsPem.join(''));
  await writeFile(join(dir, 'token'), `${JOIN_TOKEN}\n`);
  const opts = identitySchema.parse({ source: 'coordinator', coordinator: { address: c.grpcTarget, ca_file: join(dir, 'bundle.pem'), join_token_file: join(dir, 'token') } });
  const src = createIdentitySource(opts, { service: 'web', log: quiet, coordinator: coordinatorSourceFactory(quiet) });
  t.teardown(() => src.close());
  t.equal(src.kind, 'coordinator');
  const m = await src.start();
  t.equal(m.spiffeId, WEB);
  t.match(src.describe(), { source: 'coordinator', ready: true, details: { coordinator: c.grpcTarget, bootstrap: 'join token' } });
  t.throws(() => parseCoordinatorSourceConfig({ address: 'nope', ca_file: 'x' }), /identity\.coordinator\.address: expected host:port/);
});
