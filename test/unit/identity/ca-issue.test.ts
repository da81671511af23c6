/**
 * The local CA (ca.ts), leaf issuance (issue.ts) and the `aim-mesh ca` CLI:
 * files and modes, the leaf profile for both key types, rotation and pruning.
 */
import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { usage } from '../../../src/cli/commands/ca.ts';
import { CA_CROSS_FILE, CA_KEY_FILE, TRUST_BUNDLE_FILE, initCa, loadCa, pruneCa, rotateCa } from '../../../src/identity/ca.ts';
import { EKU_CLIENT_AUTH, EKU_SERVER_AUTH, KU, readCertFacts } from '../../../src/identity/cert-facts.ts';
import { issueLeaf } from '../../../src/identity/issue.ts';
import { materialFromPem } from '../../../src/identity/material.ts';
import { pemToDer, splitPemCertificates } from '../../../src/identity/pem.ts';
import { idOf, tempDir } from './fixtures.ts';

const CLI = new URL('../../../src/cli/index.ts', import.meta.url).pathname;

t.test('ca init writes a root, a bundle, a 0600 key and a .gitignore; refuses to overwrite', async (t) => {
  const dir = await tempDir(t);
  const ca = await initCa(dir, { trustDomain: 'example.org' });
  t.equal(ca.trustDomain, 'example.org');
  t.equal((await stat(join(dir, CA_KEY_FILE))).mode & 0o777, 0o600, 'key is private');
  t.match(await readFile(join(dir, '.gitignore'), 'utf8'), /\*key\.pem/);
  const root = readCertFacts(pemToDer(ca.certPem));
  t.ok(root.isCa, 'root is a CA');
  t.ok((root.keyUsage! & KU.keyCertSign) !== 0, 'root can sign certificates');
  t.same(root.uris, ['spiffe://example.org'], 'root names its trust domain');
  t.equal(ca.rootsPem.length, 1);
  t.same(ca.chainPem, []);
  await t.rejects(initCa(dir), /already exists/);
  const again = await initCa(dir, { force: true, trustDomain: 'example.org' });
  t.not(again.serial, ca.serial, '--force replaces it');
  t.equal((await loadCa(dir)).trustDomain, 'example.org', 'loadCa reads the trust domain from the root');
  await t.rejects(loadCa(dir, { trustDomain: 'aim.local' }), /trust domain example\.org/);
});

t.test('loadCa refuses a key that does not match, and a bundle without the active root', async (t) => {
  const a = await initCa(await tempDir(t));
  const b = await initCa(await tempDir(t));
  await writeFile(join(a.dir, CA_KEY_FILE), b.keyPem);
  await t.rejects(loadCa(a.dir), /does not match/);
  const c = await initCa(await tempDir(t));
  await writeFile(join(c.dir, TRUST_BUNDLE_FILE), b.certPem);
  await t.rejects(loadCa(c.dir), /does not contain the active root/);
});

t.test('leaf profile: one SPIFFE URI, CA:FALSE, digitalSignature (+keyEncipherment for RSA), both EKUs, short life', async (t) => {
  const ca = await initCa(await tempDir(t));
  for (const keyType of ['ecdsa-p256', 'rsa-2048'] as const) {
    const now = Date.now();
    const leaf = issueLeaf(ca, { spiffeId: idOf('web'), ttlMs: 5_000, keyType, now });
    const f = readCertFacts(pemToDer(leaf.certPem));
    t.same(f.uris, [idOf('web')], `${keyType}: exactly the SPIFFE ID`);
    t.notOk(f.isCa, `${keyType}: not a CA`);
    t.equal(f.keyUsage, keyType === 'rsa-2048' ? KU.digitalSignature | KU.keyEncipherment : KU.digitalSignature, `${keyType}: key usage`);
    t.same([...f.extKeyUsage!].sort(), [EKU_SERVER_AUTH, EKU_CLIENT_AUTH].sort(), `${keyType}: serverAuth + clientAuth`);
    t.same(f.unknownCritical, []);
    t.equal(f.x509.publicKey.asymmetricKeyType, keyType === 'rsa-2048' ? 'rsa' : 'ec');
    t.ok(f.notAfter - f.notBefore <= 6_000 && f.notAfter <= now + 5_000, `${keyType}: lifetime about 5 s`);
    t.equal(leaf.serial, f.serial);
    t.ok(f.x509.verify(readCertFacts(pemToDer(ca.certPem)).x509.publicKey), `${keyType}: signed by the root`);
    const m = materialFromPem({ keyPem: leaf.keyPem, certChainPem: leaf.certPem, rootsPem: ca.rootsPem });
    t.equal(m.spiffeId, idOf('web'), `${keyType}: usable as identity material`);
  }
  const long = issueLeaf(ca, { spiffeId: idOf('web'), ttlMs: 100 * 365 * 86_400_000 });
  t.ok(long.notAfter.getTime() <= ca.notAfter.getTime(), 'never outlives the CA');
  t.throws(() => issueLeaf(ca, { spiffeId: idOf('web'), ttlMs: 500 }), RangeError);
  t.throws(() => issueLeaf(ca, { spiffeId: 'spiffe://aim.local/agent/x', ttlMs: 5000 }), RangeError);
});

t.test('rotate adds a root and a cross-signed bridge; prune ends the overlap', async (t) => {
  const dir = await tempDir(t);
  const first = await initCa(dir);
  const rotated = await rotateCa(dir);
  t.not(rotated.serial, first.serial);
  t.equal(rotated.rootsPem.length, 2, 'bundle has old and new');
  t.equal(rotated.chainPem.length, 1, 'bridge present');
  const bridge = readCertFacts(pemToDer(rotated.chainPem[0]!));
  t.ok(bridge.x509.publicKey.equals(readCertFacts(pemToDer(rotated.certPem)).x509.publicKey), 'bridge certifies the new key');
  t.ok(bridge.x509.verify(readCertFacts(pemToDer(first.certPem)).x509.publicKey), '... signed by the old root');
  const leaf = issueLeaf(rotated, { spiffeId: idOf('web'), ttlMs: 60_000 });
  t.ok(materialFromPem({ keyPem: leaf.keyPem, certChainPem: leaf.certPem + rotated.chainPem[0], rootsPem: [first.certPem] }),
    'a new leaf + bridge validates against the OLD bundle alone');
  const pruned = await pruneCa(dir);
  t.equal(pruned.rootsPem.length, 1);
  t.same(pruned.chainPem, []);
  await t.rejects(stat(join(dir, CA_CROSS_FILE)), 'bridge file removed');
  t.throws(() => materialFromPem({ keyPem: leaf.keyPem, certChainPem: issueLeaf(first, { spiffeId: idOf('x'), ttlMs: 60_000 }).certPem, rootsPem: pruned.rootsPem }),
    /does not match|does not chain/, 'old-root leaves no longer validate');
});

t.test('aim-mesh ca CLI (the real entry point, in a child process)', async (t) => {
  const dir = await tempDir(t);
  const out = await tempDir(t);
  const cli = (...args: string[]) => new Promise<{ code: number; out: string }>((resolve) => {
    execFile(process.execPath, [CLI, 'ca', ...args], (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
  t.equal((await cli('init', '--dir', dir, '--trust-domain', 'aim.local')).code, 0, 'init');
  const issued = await cli('issue', '--service', 'web', '--dir', dir, '--ttl', '90s', '--out', out);
  t.equal(issued.code, 0, 'issue');
  t.match(issued.out, `issued ${idOf('web')}`);
  // Refusals, in parallel: none of them writes anything.
  const [again, badTtl, badName, noDir, bogus, help] = await Promise.all([
    cli('init', '--dir', dir), cli('issue', '--service', 'web', '--dir', dir, '--ttl', 'soon'), cli('issue', '--service', 'we/b', '--dir', dir),
    cli('init'), cli('bogus', '--dir', dir), cli('--help'),
  ]);
  t.equal(again.code, 1, 'second init refused');
  t.equal(badTtl.code, 2, 'bad ttl');
  t.equal(badName.code, 1, 'bad service name');
  t.equal(noDir.code, 2, 'missing --dir');
  t.equal(bogus.code, 2, 'unknown subcommand');
  t.match(help.out, /ca init --dir DIR/);
  t.equal((await cli('rotate', '--dir', dir)).code, 0, 'rotate');
  t.equal((await cli('prune', '--dir', dir)).code, 0, 'prune');
  t.match(usage, /ca issue --service NAME/);
  const certPem = await readFile(join(out, 'web-cert.pem'), 'utf8');
  t.equal((await stat(join(out, 'web-key.pem'))).mode & 0o777, 0o600, 'issued key is private');
  const f = readCertFacts(pemToDer(splitPemCertificates(certPem)[0]!));
  t.same(f.uris, [idOf('web')]);
  t.ok(f.notAfter - Date.now() <= 91_000, '--ttl honoured');
  t.ok(materialFromPem({ keyPem: await readFile(join(out, 'web-key.pem'), 'utf8'), certChainPem: certPem, rootsPem: [await readFile(join(out, 'ca-bundle.pem'), 'utf8')] }),
    'the three files form usable identity material (files source)');
});
