/** Issue 2, test 6: opaque TCP through an agent pair, with half-close both ways. */
import t from 'tap';
import { connect } from 'node:net';
import { startTcpEcho } from '../support/upstreams.ts';
import { startMeshPair } from '../support/mesh.ts';

t.test('TCP echo with half-close', async (t) => {
  const echo = await startTcpEcho();
  const mesh = await startMeshPair({ appPort: echo.port, protocol: 'tcp', extra: { drain_timeout: '1s' } });
  t.teardown(async () => { await mesh.stop(); await echo.close(); });
  const payload = Buffer.alloc(3 * 1024 * 1024, 7);
  payload.write('hello through the mesh', 0);
  const got = await new Promise<Buffer>((resolve, reject) => {
    const s = connect({ port: mesh.port, host: '127.0.0.1', allowHalfOpen: true });
    const parts: Buffer[] = [];
    s.on('data', (b) => parts.push(b));
    s.on('end', () => { resolve(Buffer.concat(parts)); s.end(); });
    s.on('error', reject);
    // Write everything, then FIN our side; the echo must still flow back to us.
    s.end(payload);
  });
  t.equal(got.length, payload.length, 'every byte echoed after our FIN (half-close)');
  t.ok(got.equals(payload), 'byte-exact');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(echo.accepted, 1);
});

t.test('TCP: the upstream closes first; the client sees the close', async (t) => {
  const echo = await startTcpEcho();
  const mesh = await startMeshPair({ appPort: echo.port, protocol: 'tcp', extra: { drain_timeout: '1s' } });
  t.teardown(async () => { await mesh.stop(); await echo.close(); });
  const closed = await new Promise<boolean>((resolve) => {
    const s = connect({ port: mesh.port, host: '127.0.0.1' });
    s.on('error', () => {});
    s.on('close', () => resolve(true));
    s.on('data', () => { if (echo.accepted === 1) void echo.close(); });
    s.write('x');
  });
  t.ok(closed, 'client connection closed when the server went away');
});

t.test('TCP: the app is down; the client connection is closed, not left hanging', async (t) => {
  const echo = await startTcpEcho();
  const port = echo.port;
  await echo.close();
  const mesh = await startMeshPair({ appPort: port, protocol: 'tcp', extra: { drain_timeout: '1s' } });
  t.teardown(() => mesh.stop());
  const closedAt = await new Promise<number>((resolve) => {
    const start = Date.now();
    const s = connect({ port: mesh.port, host: '127.0.0.1' });
    s.on('error', () => {});
    s.on('close', () => resolve(Date.now() - start));
    s.write('anyone there?');
  });
  t.ok(closedAt < 5000, `closed after ${closedAt} ms`);
});
