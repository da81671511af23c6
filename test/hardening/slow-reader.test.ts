/**
 * Slow readers: Node never closes a client that stops reading, and a client
 * that reads a trickle keeps the socket's idle timer alive. limits.write_idle
 * and limits.min_send_rate (send-guard.ts) close them; a client that reads
 * at a normal pace is never affected.
 */
import t from 'tap';
import { connect, type Socket } from 'node:net';
import type { Reply } from '../support/recording-upstream.ts';
import { startHardened, watchProcess, sleep, type Hardened } from './harness.ts';

const proc = watchProcess();
const TOTAL = 48 * 1024 * 1024;

/** Stream a large body, respecting backpressure, until done or the agent goes away. */
const bigBody = (total = TOTAL): Reply => (s) => {
  s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${total}\r\n\r\n`);
  const chunk = Buffer.alloc(64 * 1024, 120);
  let sent = 0;
  const pump = (): void => {
    while (sent < total && !s.destroyed) {
      sent += chunk.length;
      if (!s.write(chunk)) { s.once('drain', pump); return; }
    }
  };
  pump();
};

/** A client that reads `bytesPerTick` every `tickMs` (0 = never reads). */
function slowClient(port: number, bytesPerTick: number, tickMs = 100): Promise<{ sock: Socket; read: () => number; closed: Promise<string> }> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let read = 0;
    const closed = new Promise<string>((r) => {
      let code = 'closed';
      sock.on('error', (e: NodeJS.ErrnoException) => { code = e.code ?? 'error'; });
      sock.on('close', () => { clearInterval(timer); r(code); });
    });
    const timer = setInterval(() => {
      if (bytesPerTick === 0) return;
      const n = Math.min(bytesPerTick, sock.readableLength);
      // read(0) only asks the stream to fill its buffer from the kernel.
      const b = sock.read(n) as Buffer | null;
      if (b !== null) read += b.length;
    }, tickMs);
    sock.on('connect', () => {
      sock.pause();
      sock.write('GET /big HTTP/1.1\r\nHost: api\r\n\r\n');
      resolve({ sock, read: () => read, closed });
    });
  });
}

/** Wait (up to `ms`) for the agent to abort a slow reader; the client itself only sees the reset once it reads its backlog. */
async function aborted(h: Hardened, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (h.lines.some((l) => l.msg === 'slow reader: connection aborted')) return true;
    await sleep(50);
  }
  return false;
}

t.test('a 1 KB/s reader is aborted and its resources freed; a normal reader gets every byte', async (t) => {
  const h = await startHardened({ reply: bigBody(), limits: { write_idle: '300ms', min_send_rate: 100_000 } });
  t.teardown(() => h.stop());
  const inbound = h.agent.agent.listeners.find((l) => l.name === 'inbound')!;

  const slow = await slowClient(h.port, 100);
  t.teardown(() => slow.sock.destroy());
  t.ok(await aborted(h, 8000), 'the agent aborts the slow reader');
  t.ok(h.lines.some((l) => l.msg === 'slow reader: connection aborted' && String(l.detail).includes('min_send_rate')), 'logged with the rule that fired');
  await sleep(100);
  t.equal(inbound.conns.size, 0, 'the agent holds no connection for it');
  t.equal(h.app.sockets.size, 0, 'and its upstream connection is gone too');
  t.equal(await h.reasonCount('downstream_reset'), 1, 'counted (reason downstream_reset)');

  // A normal client, same limits: the full body arrives.
  const got = await new Promise<number>((resolve, reject) => {
    const s = connect(h.port, '127.0.0.1', () => s.write('GET /big HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n'));
    let n = 0;
    s.on('data', (b: Buffer) => { n += b.length; });
    s.on('end', () => resolve(n));
    s.on('error', reject);
  });
  t.ok(got > TOTAL, `a normal reader received the whole body (${got} bytes with the head)`);
});

t.test('write_idle alone: a client that never reads is aborted', async (t) => {
  const h = await startHardened({ reply: bigBody(), limits: { write_idle: '500ms', min_send_rate: 0 } });
  t.teardown(() => h.stop());
  const stalled = await slowClient(h.port, 0);
  t.teardown(() => stalled.sock.destroy());
  t.ok(await aborted(h, 8000), 'a reader that reads nothing is aborted after write_idle');
  t.ok(h.lines.some((l) => String(l.detail).includes('write_idle')));
  await sleep(100);
  const inbound = h.agent.agent.listeners.find((l) => l.name === 'inbound')!;
  t.equal(inbound.conns.size, 0);
});

t.test('min_send_rate on top of write_idle: a reader that progresses in every window but below the floor is aborted', async (t) => {
  // 128 KiB every 100 ms (~1.3 MB/s): on loopback the kernel frees send buffer in ~1 MB steps, so there is progress in every 2 s window.
  const steady = { bytes: 128 * 1024, tick: 100 };
  const free = await startHardened({ reply: bigBody(), limits: { write_idle: '2s', min_send_rate: 0 } });
  t.teardown(() => free.stop());
  const a = await slowClient(free.port, steady.bytes, steady.tick);
  t.teardown(() => a.sock.destroy());
  t.notOk(await aborted(free, 3000), 'with no rate floor, a reader that keeps making progress is left alone');
  t.ok(a.read() > 1_000_000, `it read ${a.read()} bytes`);

  const floor = await startHardened({ reply: bigBody(), limits: { write_idle: '2s', min_send_rate: 20_000_000 } });
  t.teardown(() => floor.stop());
  const b = await slowClient(floor.port, steady.bytes, steady.tick);
  t.teardown(() => b.sock.destroy());
  t.ok(await aborted(floor, 6000), 'below min_send_rate (20 MB/s here): aborted');
  t.ok(floor.lines.some((l) => String(l.detail).includes('min_send_rate')));
});

t.test('write_idle 0 turns the guard off', async (t) => {
  const h = await startHardened({ reply: bigBody(), limits: { write_idle: 0 } });
  t.teardown(() => h.stop());
  const stalled = await slowClient(h.port, 0);
  t.teardown(() => stalled.sock.destroy());
  t.notOk(await aborted(h, 1000), 'never aborted');
  t.equal(h.agent.agent.listeners.find((l) => l.name === 'inbound')!.conns.size, 1);
});

t.test('no unhandled rejection', async (t) => { t.same(proc.problems, []); });
