/**
 * Root rotation with overlap, over real mTLS handshakes. Three local-ca agents
 * (api, web, db) share a CA directory; each renews only when the test says so,
 * so every mixed state of a rotation is exercised:
 *   1. rotateCa: api and db renew (new root, cross-signed bridge, both roots in
 *      their bundle); web has not (old root only). All pairs still connect.
 *   2. pruneCa after everyone renewed: the old root is gone; a leaf from it is
 *      now rejected. A connection opened before the rotation is still alive.
 */
import tls from 'node:tls';
import t from 'tap';
import { initCa, pruneCa, rotateCa } from '../../src/identity/ca.ts';
import { LocalCaSource } from '../../src/identity/sources/local-ca.ts';
import { createClientTls, createServerTls, type ClientTls } from '../../src/identity/tls-context.ts';
import type { IdentitySource } from '../../src/identity/types.ts';
import type { VerifyResult } from '../../src/identity/verify.ts';
import { exchange, idOf, listen, quietLog, tempDir } from '../unit/identity/fixtures.ts';

t.test('root rotation: old and new roots accepted during the overlap, old one refused after', async (t) => {
  const dir = await tempDir(t);
  await initCa(dir);
  const src = (svc: string) => new LocalCaSource({ caDir: dir, spiffeId: idOf(svc), ttlMs: 3_600_000, log: quietLog, watch: false });
  const api = src('api');
  const web = src('web');
  const db = src('db');
  await Promise.all([api.start(), web.start(), db.start()]);
  t.teardown(() => Promise.all([api.close(), web.close(), db.close()]));

  const rejected: Array<Extract<VerifyResult, { ok: false }>> = [];
  const serve = async (source: IdentitySource) => {
    const st = createServerTls(source, { log: quietLog, onReject: (_s, r) => { rejected.push(r); } });
    const server = tls.createServer(st.options, st.guard((socket, peer) => {
      socket.on('data', () => socket.write(`hello ${peer.id.service}\n`));
      socket.on('error', () => {});
    }));
    st.attach(server);
    t.teardown(() => st.close());
    return listen(t, server);
  };
  const apiPort = await serve(api);
  const webPort = await serve(web);
  const clients = new Map<string, ClientTls>();
  for (const [name, s] of [['api', api], ['web', web], ['db', db]] as const) {
    const c = createClientTls(s);
    clients.set(name, c);
    t.teardown(() => c.close());
  }
  const call = async (from: string, port: number, to: string) => {
    const out = await exchange(clients.get(from)!.connect({ host: '127.0.0.1', port, expectedSpiffeId: idOf(to) }), 'hi\n', 3000, true);
    if (out.ok) out.socket.destroy();
    return out.ok ? out.data.trim() : `error: ${out.err.message}`;
  };

  t.equal(await call('web', apiPort, 'api'), 'hello web', 'before: web → api');

  // A connection made before the rotation, kept open throughout.
  const early = clients.get('web')!.connect({ host: '127.0.0.1', port: apiPort, expectedSpiffeId: idOf('api') });
  await new Promise((r) => early.once('secureConnect', r));
  const oldWebLeaf = web.current()!;

  await t.test('overlap: mixed old and new leaves and bundles all interoperate', async (t) => {
    await rotateCa(dir);
    await Promise.all([api.renew(), db.renew()]);
    t.equal(api.current()!.rootsPem.length, 2, 'api trusts both roots');
    t.equal(api.current()!.chainPem.length, 1, 'api\'s new leaf carries the cross-signed root');
    t.equal(web.current()!.rootsPem.length, 1, 'web still knows only the old root');
    t.equal(await call('web', apiPort, 'api'), 'hello web', 'old-root client → new-root server (client verifies via the bridge)');
    t.equal(await call('db', apiPort, 'api'), 'hello db', 'new-root client → new-root server');
    t.equal(await call('api', webPort, 'web'), 'hello api', 'new-root client → old-root server (server verifies via the bridge)');
    t.equal(await call('db', webPort, 'web'), 'hello db', 'another new-root client → old-root server');
    t.same(rejected, [], 'nobody rejected');
  });

  await t.test('end of overlap: the old root is refused', async (t) => {
    await web.renew();
    t.equal(await call('web', apiPort, 'api'), 'hello web', 'web renewed: still fine');
    await pruneCa(dir);
    await Promise.all([api.renew(), db.renew()]);
    t.equal(api.current()!.rootsPem.length, 1, 'api now trusts only the new root');
    t.equal(api.current()!.chainPem.length, 0, 'and sends no bridge');
    t.equal(await call('db', apiPort, 'api'), 'hello db', 'new-root peers keep working');
    t.equal(await call('web', apiPort, 'api'), 'hello web', 'web (bundle still has both) keeps working');
    const stale = tls.connect({
      host: '127.0.0.1', port: apiPort, servername: 'api', rejectUnauthorized: false,
      key: oldWebLeaf.keyPem, cert: oldWebLeaf.certPem,
    });
    t.notOk((await exchange(stale, 'hi\n', 3000, true)).ok, 'a leaf from the removed root gets no answer');
    t.equal(rejected.at(-1)?.reason, 'untrusted', 'rejected as untrusted');
  });

  early.write('still there?\n');
  const answer = await new Promise<string>((resolve) => {
    early.once('data', (d) => resolve(String(d).trim()));
    early.once('error', (e) => resolve(`error: ${e.message}`));
  });
  t.equal(answer, 'hello web', 'the connection opened before the rotation survived it');
  early.destroy();
});
