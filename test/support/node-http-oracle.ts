/**
 * node:http (llhttp) as an oracle for differential parser tests: send raw
 * bytes on a fresh connection and report whether Node accepted the request
 * head, and what it parsed.
 */
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';

export type OracleResult =
  | { accepted: true; method: string; url: string; headers: string[]; httpVersion: string }
  | { accepted: false; code: string };

export interface Oracle { parse(raw: Buffer): Promise<OracleResult>; close(): Promise<void> }

export async function startOracle(maxHeaderSize = 64 * 1024): Promise<Oracle> {
  const pending = new Map<number, (r: OracleResult) => void>();
  const server: Server = createServer({ maxHeaderSize, requireHostHeader: true, joinDuplicateHeaders: false }, (req, res) => {
    const done = pending.get(req.socket.remotePort!);
    pending.delete(req.socket.remotePort!);
    done?.({ accepted: true, method: req.method!, url: req.url!, headers: req.rawHeaders, httpVersion: req.httpVersion });
    res.end();
    req.socket.destroy();
  });
  // Node answers an Expect other than 100-continue with 417 itself: the head was still accepted.
  server.on('checkExpectation', (req, res) => server.emit('request', req, res));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const done = pending.get(socket.remotePort!);
    pending.delete(socket.remotePort!);
    done?.({ accepted: false, code: err.code ?? 'ERR' });
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    parse: (raw) => new Promise<OracleResult>((resolve) => {
      const s = connect(port, '127.0.0.1');
      let settled = false;
      const finish = (r: OracleResult): void => { if (!settled) { settled = true; clearTimeout(timer); resolve(r); } };
      // Incomplete heads: Node waits for more bytes; we half-close so it must decide.
      const timer = setTimeout(() => { finish({ accepted: false, code: 'INCOMPLETE' }); s.destroy(); }, 2000);
      s.on('connect', () => { pending.set(s.localPort!, finish); s.end(raw); });
      s.on('error', () => {});
      s.on('close', () => setTimeout(() => finish({ accepted: false, code: 'CLOSED' }), 50));
    }),
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
