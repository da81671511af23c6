/**
 * The injection webhook over real TLS: a CA and server certificate made at
 * test time with node-forge, the server on 127.0.0.1:0, and undici as the
 * client (standing in for the API server, which also trusts only the
 * caBundle). Also runs the real `aim-mesh inject-webhook` command.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import t from 'tap';
import forge from 'node-forge';
import { Agent, request } from 'undici';
import jsonpatch from 'fast-json-patch';
import { Pod } from 'kubernetes-models/v1';
import { injectorConfig } from '../../src/k8s/config.ts';
import { startWebhook } from '../../src/k8s/webhook-server.ts';
import { silentLogger } from '../../src/telemetry/log.ts';

const pki = forge.pki;

function makeCert(cn: string, opts: { issuer?: { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey }; ca?: boolean; serial: string }) {
  // Native key generation (node-forge's pure-JS RSA keygen takes seconds).
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const key = pki.privateKeyFromPem(privateKey);
  const keys = { privateKey: key, publicKey: pki.setRsaPublicKey(key.n, key.e) };
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = opts.serial;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 3600_000);
  cert.setSubject([{ name: 'commonName', value: cn }]);
  cert.setIssuer(opts.issuer ? opts.issuer.cert.subject.attributes : [{ name: 'commonName', value: cn }]);
  cert.setExtensions(opts.ca
    ? [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }]
    : [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames: [{ type: 2, value: 'aim-mesh-injector.aim-mesh.svc' }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
      ]);
  cert.sign(opts.issuer?.key ?? keys.privateKey, forge.md.sha256.create());
  return { cert, key: keys.privateKey, certPem: pki.certificateToPem(cert), keyPem: pki.privateKeyToPem(keys.privateKey) };
}

const dir = mkdtempSync(join(tmpdir(), 'aim-mesh-webhook-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const ca = makeCert('aim-mesh-injector-ca', { ca: true, serial: '01' });
const leaf1 = makeCert('aim-mesh-injector.aim-mesh.svc', { issuer: ca, serial: '0a' });
const leaf2 = makeCert('aim-mesh-injector.aim-mesh.svc', { issuer: ca, serial: '0b' });
const certFile = join(dir, 'tls.crt');
const keyFile = join(dir, 'tls.key');
writeFileSync(certFile, leaf1.certPem);
writeFileSync(keyFile, leaf1.keyPem);

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/k8s/${name}`, import.meta.url), 'utf8');
const serialSeen = (port: number): Promise<string> => new Promise((resolve, reject) => {
  const s = connect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'localhost' }, () => {
    const serial = new X509Certificate(s.getPeerCertificate(true).raw).serialNumber;
    s.end();
    resolve(serial);
  });
  s.on('error', reject);
});

t.test('webhook over TLS, called with undici', async (t) => {
  const hook = await startWebhook({
    host: '127.0.0.1', port: 0, certFile, keyFile, config: injectorConfig(), version: '0.1.0',
    log: silentLogger, reloadIntervalMs: 25,
  });
  t.teardown(() => hook.close());
  const agent = new Agent({ connect: { ca: ca.certPem, servername: 'localhost' } });
  t.teardown(() => agent.close());
  const base = `https://127.0.0.1:${hook.address.port}`;
  const post = (path: string, body: string, type = 'application/json') =>
    request(`${base}${path}`, { method: 'POST', body, headers: { 'content-type': type }, dispatcher: agent });

  const health = await request(`${base}/healthz`, { dispatcher: agent });
  t.equal(health.statusCode, 200);
  t.equal(await health.body.text(), 'ok\n');

  // Every fixture, through the path the chart's webhook configuration would pick.
  const cases: [string, string, boolean][] = [
    ['review-deployment-pod.json', '/inject/enabled', true],
    ['review-job-pod.json', '/inject', true],
    ['review-existing-init-pod.json', '/inject/enabled', true],
    ['review-already-injected-pod.json', '/inject/enabled', false],
    ['review-opted-out-pod.json', '/inject/enabled', false],
    ['review-deployment-pod.json', '/inject', false],
  ];
  for (const [name, path, injected] of cases) {
    const text = fixture(name);
    const res = await post(path, text);
    t.equal(res.statusCode, 200, `${name} ${path}`);
    t.match(res.headers['content-type'], /application\/json/);
    const review = await res.body.json() as { apiVersion: string; kind: string; response: { uid: string; allowed: boolean; patch?: string } };
    const sent = JSON.parse(text);
    t.equal(review.apiVersion, 'admission.k8s.io/v1');
    t.equal(review.kind, 'AdmissionReview');
    t.equal(review.response.uid, sent.request.uid);
    t.equal(review.response.allowed, true);
    t.equal(review.response.patch !== undefined, injected, `${name} via ${path}: injected=${injected}`);
    if (review.response.patch !== undefined) {
      const ops = JSON.parse(Buffer.from(review.response.patch, 'base64').toString());
      const pod = jsonpatch.applyPatch(sent.request.object, ops, true, false).newDocument;
      new Pod(pod).validate();
      t.ok(pod.spec.initContainers.some((c: { name: string }) => c.name === 'aim-mesh-proxy'));
    }
  }

  t.equal((await post('/inject', '{not json')).statusCode, 400);
  const notReview = await post('/inject', '{"kind":"Pod"}');
  t.equal(notReview.statusCode, 400);
  t.match(await notReview.body.text(), /not an AdmissionReview/);
  t.equal((await request(`${base}/inject`, { dispatcher: agent })).statusCode, 405);
  t.equal((await post('/nope', '{}')).statusCode, 404);
  const big = await post('/inject', 'x'.repeat(9 * 1024 * 1024));
  t.equal(big.statusCode, 413);
  await big.body.dump();

  // A client that does not trust the CA is refused at the handshake.
  const stranger = new Agent({ connect: { servername: 'localhost' } });
  t.teardown(() => stranger.close());
  await t.rejects(request(`${base}/healthz`, { dispatcher: stranger }), /certificate/);

  // The certificate is rotated on disk: new connections get the new one.
  t.equal(await serialSeen(hook.address.port), '0A');
  writeFileSync(keyFile, leaf2.keyPem);
  writeFileSync(certFile, leaf2.certPem);
  const deadline = Date.now() + 5000;
  let serial = '';
  while (Date.now() < deadline && (serial = await serialSeen(hook.address.port)) !== '0B') await new Promise((r) => setTimeout(r, 25));
  t.equal(serial, '0B', 'reloaded without a restart');
  const after = await request(`${base}/healthz`, { dispatcher: agent });
  t.equal(after.statusCode, 200, 'still serving after the swap');
  await after.body.dump();

  // A broken pair on disk is refused and the current one kept.
  writeFileSync(certFile, 'not a certificate');
  t.equal(hook.reloadTls(), false);
  t.equal(await serialSeen(hook.address.port), '0B');
  writeFileSync(certFile, leaf2.certPem);
});

t.test('the aim-mesh inject-webhook command serves and stops on SIGTERM', async (t) => {
  const cfgFile = join(dir, 'injector.yaml');
  writeFileSync(cfgFile, 'image: registry.example/aim-mesh:9.9.9\nidentity: consul\nconsul:\n  enabled: true\n');
  const child = spawn(process.execPath, [
    'bin/aim-mesh.js', 'inject-webhook', '--listen', '127.0.0.1:0', '--tls-cert', certFile, '--tls-key', keyFile, '--config', cfgFile,
  ], { cwd: new URL('../..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"address":\{[^}]*"port":(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', () => reject(new Error(`exited early: ${out}`)));
  });
  const agent = new Agent({ connect: { ca: ca.certPem, servername: 'localhost' } });
  const res = await request(`https://127.0.0.1:${port}/inject/enabled`, {
    method: 'POST', body: fixture('review-deployment-pod.json'), headers: { 'content-type': 'application/json' }, dispatcher: agent,
  });
  const review = await res.body.json() as { response: { patch: string } };
  const ops = JSON.parse(Buffer.from(review.response.patch, 'base64').toString()) as { path: string; value: { image?: string; args?: string[] }[] }[];
  const containers = ops.find((o) => o.path === '/spec/initContainers')!.value;
  t.equal(containers[0]!.image, 'registry.example/aim-mesh:9.9.9', 'config file applied');
  t.ok(containers[0]!.args!.includes('--discovery'));
  await agent.close();
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'clean exit on SIGTERM');
  t.match(out, /"msg":"admission review"/);
});

t.test('inject-webhook refuses bad flags and missing certificates', async (t) => {
  const run = (args: string[]) => new Promise<{ code: number | null; err: string }>((resolve) => {
    const c = spawn(process.execPath, ['bin/aim-mesh.js', 'inject-webhook', ...args], { cwd: new URL('../..', import.meta.url).pathname });
    let err = '';
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('exit', (code) => resolve({ code, err }));
  });
  const a = await run(['--listen', 'nowhere']);
  t.equal(a.code, 2);
  t.match(a.err, /expected HOST:PORT/);
  const b = await run(['--listen', '127.0.0.1:0', '--tls-cert', join(dir, 'missing.crt'), '--tls-key', keyFile]);
  t.equal(b.code, 1);
  t.match(b.err, /cannot start: .*missing\.crt/);
});
