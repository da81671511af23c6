/**
 * The local-ca source with real files and timers: renewal at ~70% of a short
 * lifetime, listeners, signals and /certs, a CA rotation picked up by the
 * directory watch, and a broken CA that keeps the last good leaf.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { CA_KEY_FILE, initCa, rotateCa } from '../../../src/identity/ca.ts';
import { LocalCaSource } from '../../../src/identity/sources/local-ca.ts';
import type { IdentityMaterial } from '../../../src/identity/types.ts';
import { captureLog, idOf, quietLog, tempDir } from './fixtures.ts';

const waitFor = async (cond: () => boolean, ms: number) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
  return cond();
};

t.test('renews at about 70% of a short lifetime and tells listeners', async (t) => {
  const dir = await tempDir(t);
  await initCa(dir);
  const log = captureLog();
  const s = new LocalCaSource({ caDir: dir, spiffeId: idOf('web'), ttlMs: 3000, log, watch: false });
  t.teardown(() => s.close());
  t.equal(s.current(), undefined, 'nothing before start');
  t.equal(s.signals.expirationTimestampSeconds(), undefined);
  const first = await s.start();
  t.equal(first.spiffeId, idOf('web'));
  t.equal(s.signals.expirationTimestampSeconds(), Math.floor(first.notAfter.getTime() / 1000));
  const seen: IdentityMaterial[] = [];
  const off = s.onUpdate((m) => seen.push(m));
  const t0 = Date.now();
  t.ok(await waitFor(() => seen.length >= 1, 4000), 'renewed on its own');
  const after = Date.now() - t0;
  t.ok(after < first.notAfter.getTime() - t0, `renewed before expiry (${after} ms)`);
  t.not(seen[0]!.serial, first.serial, 'new serial');
  t.equal(s.current(), seen[0]);
  off();
  t.ok(s.signals.refresh.success >= 2);
  t.equal(s.signals.refresh.failure, 0);
  const d = s.describe();
  t.equal(d.source, 'local-ca');
  t.equal(d.ready, true);
  t.equal(d.spiffeId, idOf('web'));
  t.equal(d.leaf?.serial, s.current()!.serial);
  t.equal(d.roots.length, 1);
  t.ok(d.renewAt, 'next renewal planned');
  t.same(d.details, { caDir: dir, ttl: '3s', keyType: 'ecdsa-p256' });
  t.notOk(JSON.stringify(d).includes('PRIVATE KEY'), 'no key material in /certs');
  t.ok(log.lines.some((l) => l.msg.includes('rotated')), 'rotation logged');
  const [a, b] = await Promise.all([s.renew(), s.renew()]);
  t.equal(a, b, 'concurrent renew() calls share one issuance');
});

t.test('a CA rotation in the directory is picked up by the watch', async (t) => {
  const dir = await tempDir(t);
  await initCa(dir);
  const s = new LocalCaSource({ caDir: dir, spiffeId: idOf('web'), ttlMs: 3_600_000, log: quietLog });
  t.teardown(() => s.close());
  const first = await s.start();
  await rotateCa(dir);
  t.ok(await waitFor(() => s.current()!.rootsPem.length === 2, 5000), 'new bundle in force without a renewal timer');
  t.not(s.current()!.serial, first.serial, 'and a leaf from the new root');
  t.equal(s.current()!.chainPem.length, 1, 'carrying the bridge');
});

t.test('a broken CA keeps the last good leaf, counts the failure and retries', async (t) => {
  const dir = await tempDir(t);
  await initCa(dir);
  const log = captureLog();
  const s = new LocalCaSource({ caDir: dir, spiffeId: idOf('web'), ttlMs: 3_600_000, log, watch: false });
  t.teardown(() => s.close());
  const first = await s.start();
  await writeFile(join(dir, CA_KEY_FILE), 'garbage');
  await t.rejects(s.renew());
  t.equal(s.current(), first, 'last good kept');
  t.equal(s.signals.refresh.failure, 1);
  t.match(s.describe().lastError, /issuing from/);
  t.ok(log.lines.some((l) => l.level === 'warn' && l.msg.includes('keeping the last good')), 'logged');
  await rm(dir, { recursive: true, force: true });
  await initCa(dir);
  t.ok(await waitFor(() => s.current() !== first, 3000), 'the retry succeeds once the CA is back');
  t.throws(() => new LocalCaSource({ caDir: dir, spiffeId: 'web', log: quietLog }), RangeError);
  t.throws(() => new LocalCaSource({ caDir: dir, spiffeId: idOf('web'), ttlMs: 10, log: quietLog }), RangeError);
});

t.test('start fails when there is no CA', async (t) => {
  const s = new LocalCaSource({ caDir: join(await tempDir(t), 'missing'), spiffeId: idOf('web'), log: quietLog, watch: false });
  t.teardown(() => s.close());
  await t.rejects(s.start(), /ENOENT/);
});
