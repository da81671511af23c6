/**
 * Loopback ports for the harness: pick a free one (bind port 0, read it, close)
 * and wait until a started process accepts on it, failing early with the
 * process's log if it exits first.
 */
import { connect, createServer } from 'node:net';
import { logTail, type Tracked } from './procs.ts';

export const HOST = '127.0.0.1';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: HOST, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Resolve once `port` accepts connections; reject if `proc` exits or `timeoutMs` passes. */
export async function waitForPort(port: number, proc: Tracked, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!proc.running()) {
      const { code, signal } = await proc.exited;
      throw new Error(`${proc.name} exited (code ${code}, signal ${signal}) before listening on ${HOST}:${port}\n${logTail(proc)}`);
    }
    if (await canConnect(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${proc.name} did not listen on ${HOST}:${port} within ${timeoutMs} ms\n${logTail(proc)}`);
}
