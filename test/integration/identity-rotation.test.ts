/**
 * Rotation under continuous load, at the TLS level: two local-ca sources with
 * 5 s leaves (renewed at ~3.5 s) and ~30 s of requests through our server and
 * client contexts. New connections keep being made (full and resumed
 * handshakes) while two long-lived connections keep talking across every
 * rotation. Zero failures allowed; at least 4 leaf serials seen on each side.
 */
import tls from 'node:tls';
import t from 'tap';
import { initCa } from '../../src/identity/ca.ts';
import { LocalCaSource } from '../../src/identity/sources/local-ca.ts';
import { createClientTls, createServerTls } from '../../src/identity/tls-context.ts';
import { idOf, listen, quietLog, tempDir } from '../unit/identity/fixtures.ts';

const RUN_MS = 30_000;
const LEAF_MS = 5_000;
const WORKERS = 4;

/** Resolve with the next `\n`-terminated line, or reject after `ms`. */
function nextLine(socket: tls.TLSSocket, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => { cleanup(); reject(new Error('no answer in time')); }, ms);
    const onData = (c: Buffer) => {
      buf += c.toString();
      const i = buf.indexOf('\n');
      if (i >= 0) { cleanup(); resolve(buf.slice(0, i)); }
    };
    const onError = (e: Error) => { cleanup(); reject(e); };
    const onClose = () => { cleanup(); reject(new Error('closed before the answer')); };
    const cleanup = () => { clearTimeout(timer); socket.off('data', onData); socket.off('error', onError); socket.off('close', onClose); };
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
}

t.test('leaf rotation under load: no failed request, no dropped connection', async (t) => {
  const dir = await tempDir(t);
  await initCa(dir);
  const api = new LocalCaSource({ caDir: dir, spiffeId: idOf('api'), ttlMs: LEAF_MS, log: quietLog, watch: false });
  const web = new LocalCaSource({ caDir: dir, spiffeId: idOf('web'), ttlMs: LEAF_MS, log: quietLog, watch: false });
  await Promise.all([api.start(), web.start()]);
  t.teardown(() => Promise.all([api.close(), web.close()]));

  const st = createServerTls(api, { log: quietLog });
  const clientSerialsSeenByServer = new Set<string>();
  const server = tls.createServer(st.options, st.guard((socket, peer) => {
    clientSerialsSeenByServer.add(peer.serial);
    socket.on('data', (c) => { for (const _ of c.toString().split('\n').slice(1)) socket.write(`ok ${peer.serial}\n`); });
    socket.on('error', () => {});
  }));
  st.attach(server);
  const port = await listen(t, server);
  const ct = createClientTls(web);
  t.teardown(() => { st.close(); ct.close(); });

  const serverSerialsSeenByClient = new Set<string>();
  const failures: string[] = [];
  let requests = 0;
  const open = () => new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = ct.connect({ host: '127.0.0.1', port, expectedSpiffeId: idOf('api') });
    s.once('secureConnect', () => {
      if (!s.isSessionReused()) {
        // getPeerCertificate, not getPeerX509Certificate: the latter empties a client's peer chain (tls-material.ts).
        const serial = s.getPeerCertificate().serialNumber;
        if (serial) serverSerialsSeenByClient.add(serial.toLowerCase());
      }
      resolve(s);
    });
    s.once('error', reject);
  });
  const deadline = Date.now() + RUN_MS;

  const shortLived = async () => {
    while (Date.now() < deadline) {
      let s: tls.TLSSocket | undefined;
      try {
        s = await open();
        s.write('ping\n');
        const line = await nextLine(s, 5000);
        if (!line.startsWith('ok ')) throw new Error(`bad answer ${line}`);
        requests++;
      } catch (err) {
        failures.push(`short: ${(err as Error).message}`);
      } finally {
        s?.destroy();
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const longLived = async () => {
    let s: tls.TLSSocket;
    try {
      s = await open();
    } catch (err) {
      failures.push(`long: ${(err as Error).message}`);
      return;
    }
    while (Date.now() < deadline) {
      try {
        s.write('ping\n');
        await nextLine(s, 5000);
        requests++;
      } catch (err) {
        failures.push(`long: ${(err as Error).message}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    s.destroy();
  };

  await Promise.all([...Array.from({ length: WORKERS }, shortLived), longLived(), longLived()]);

  t.same(failures, [], 'zero failed requests');
  t.ok(requests > 200, `${requests} requests made`);
  t.ok(serverSerialsSeenByClient.size >= 4, `${serverSerialsSeenByClient.size} server leaf serials seen by the client`);
  t.ok(clientSerialsSeenByServer.size >= 4, `${clientSerialsSeenByServer.size} client leaf serials seen by the server`);
  t.ok(st.stats.rotations >= 4 && ct.stats.rotations >= 4, `contexts swapped (server ${st.stats.rotations}, client ${ct.stats.rotations})`);
  t.equal(st.stats.rejected, 0, 'the server rejected no peer');
  t.ok(ct.stats.resumed > 0, `${ct.stats.resumed} handshakes resumed`);
  t.equal(api.signals.refresh.failure + web.signals.refresh.failure, 0, 'no failed renewal');
});
