/**
 * The files source with real files and fs.watch: reload on change (in place,
 * by rename, and by a Kubernetes-style symlink swap), last good kept with a
 * log line on a bad or half-written file, and start() waiting for the files.
 */
import { mkdir, rename, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { initCa } from '../../../src/identity/ca.ts';
import { issueLeaf } from '../../../src/identity/issue.ts';
import { FilesSource } from '../../../src/identity/sources/files.ts';
import type { IdentityMaterial } from '../../../src/identity/types.ts';
import { captureLog, idOf, quietLog, tempDir } from './fixtures.ts';

const waitFor = async (cond: () => boolean, ms: number) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
  return cond();
};

t.test('reloads on change; keeps the last good identity on a bad file, with a log line', async (t) => {
  const caDir = await tempDir(t);
  const ca = await initCa(caDir);
  const dir = await tempDir(t);
  const paths = { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), caFile: join(dir, 'ca.crt') };
  const write = async (leaf: { certPem: string; keyPem: string }) => {
    await writeFile(paths.keyFile, leaf.keyPem);
    await writeFile(paths.certFile, leaf.certPem);
  };
  await writeFile(paths.caFile, ca.rootsPem.join(''));
  await write(issueLeaf(ca, { spiffeId: idOf('web'), ttlMs: 3_600_000 }));
  const log = captureLog();
  const s = new FilesSource({ ...paths, trustDomain: 'aim.local', debounceMs: 50, pollMs: 0, log });
  t.teardown(() => s.close());
  const first = await s.start();
  t.equal(first.spiffeId, idOf('web'));
  const seen: IdentityMaterial[] = [];
  s.onUpdate((m) => seen.push(m));

  const second = issueLeaf(ca, { spiffeId: idOf('web'), ttlMs: 3_600_000 });
  await write(second);
  t.ok(await waitFor(() => s.current()!.serial === second.serial, 3000), 'in-place rewrite picked up');

  // Half-written: a new cert whose key has not arrived yet. Must not replace the good identity.
  const third = issueLeaf(ca, { spiffeId: idOf('web'), ttlMs: 3_600_000 });
  await writeFile(paths.certFile, third.certPem);
  t.ok(await waitFor(() => log.lines.some((l) => l.level === 'warn'), 3000), 'a warning is logged');
  t.equal(s.current()!.serial, second.serial, 'last good kept while the pair is inconsistent');
  t.match(s.describe().lastError, /does not match/);
  t.ok(s.signals.refresh.failure >= 1);
  await writeFile(paths.keyFile, third.keyPem);
  t.ok(await waitFor(() => s.current()!.serial === third.serial, 3000), 'recovers once the key follows');

  await writeFile(paths.certFile, 'not a pem');
  await new Promise((r) => setTimeout(r, 300));
  t.equal(s.current()!.serial, third.serial, 'garbage ignored');

  // Atomic replace by rename, as cert-manager and editors do.
  const fourth = issueLeaf(ca, { spiffeId: idOf('web'), ttlMs: 3_600_000 });
  await writeFile(`${paths.keyFile}.tmp`, fourth.keyPem);
  await writeFile(`${paths.certFile}.tmp`, fourth.certPem);
  await rename(`${paths.keyFile}.tmp`, paths.keyFile);
  await rename(`${paths.certFile}.tmp`, paths.certFile);
  t.ok(await waitFor(() => s.current()!.serial === fourth.serial, 3000), 'rename picked up');

  const other = issueLeaf(ca, { spiffeId: idOf('web', 'other.local'), ttlMs: 3_600_000 });
  await write(other);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(s.current()!.serial, fourth.serial, 'a leaf from another trust domain is refused');
  t.ok(seen.length >= 3, `${seen.length} updates published`);
  t.same(s.describe().details, paths);
});

t.test('Kubernetes-style secret volume: a ..data symlink swap', async (t) => {
  const ca = await initCa(await tempDir(t));
  const vol = await tempDir(t);
  const publish = async (name: string, leaf: { certPem: string; keyPem: string }) => {
    const d = join(vol, name);
    await mkdir(d);
    await writeFile(join(d, 'tls.crt'), leaf.certPem);
    await writeFile(join(d, 'tls.key'), leaf.keyPem);
    await writeFile(join(d, 'ca.crt'), ca.rootsPem.join(''));
    await symlink(name, join(vol, '..data_tmp'));
    await rename(join(vol, '..data_tmp'), join(vol, '..data'));
  };
  const a = issueLeaf(ca, { spiffeId: idOf('api'), ttlMs: 3_600_000 });
  await publish('..2024_01', a);
  for (const f of ['tls.crt', 'tls.key', 'ca.crt']) await symlink(join('..data', f), join(vol, f));
  const s = new FilesSource({ certFile: join(vol, 'tls.crt'), keyFile: join(vol, 'tls.key'), caFile: join(vol, 'ca.crt'), debounceMs: 50, pollMs: 0, log: quietLog });
  t.teardown(() => s.close());
  t.equal((await s.start()).serial, a.serial);
  const b = issueLeaf(ca, { spiffeId: idOf('api'), ttlMs: 3_600_000 });
  await publish('..2024_02', b);
  t.ok(await waitFor(() => s.current()!.serial === b.serial, 3000), 'symlink swap picked up');
});

t.test('start waits for the files to appear, and gives up after startTimeoutMs', async (t) => {
  const ca = await initCa(await tempDir(t));
  const dir = await tempDir(t);
  const paths = { certFile: join(dir, 'c.pem'), keyFile: join(dir, 'k.pem'), caFile: join(dir, 'ca.pem') };
  const s = new FilesSource({ ...paths, debounceMs: 20, pollMs: 0, startTimeoutMs: 5000, log: quietLog });
  t.teardown(() => s.close());
  const started = s.start();
  await new Promise((r) => setTimeout(r, 200));
  const leaf = issueLeaf(ca, { spiffeId: idOf('db'), ttlMs: 3_600_000 });
  await writeFile(paths.caFile, ca.certPem);
  await writeFile(paths.keyFile, leaf.keyPem);
  await writeFile(paths.certFile, leaf.certPem);
  t.equal((await started).serial, leaf.serial, 'resolved once usable');

  const never = new FilesSource({ ...paths, certFile: join(dir, 'missing.pem'), pollMs: 0, startTimeoutMs: 300, log: quietLog });
  t.teardown(() => never.close());
  await t.rejects(never.start(), /no usable certificate after 300 ms/);
  await unlink(paths.certFile);
  await t.rejects(s.renew(), /ENOENT/, 'renew() reports a missing file');
  t.equal(s.current()!.serial, leaf.serial, 'and keeps the identity');
});
