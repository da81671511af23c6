/**
 * The process shell shared by the bench's Node peer pairs (raw-pipe-peer.ts,
 * lean-http-peer.ts): `out` listens plaintext and dials TLS, `in` listens TLS
 * (CERT, KEY) and dials plaintext; each accepted connection gets one upstream
 * connection, handed to `join`. Either side's error or close ends both.
 *
 *   node bench/lib/<peer>.ts out|in LISTEN_PORT TARGET_PORT [CERT KEY]
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

export function servePeer(join: (down: net.Socket, up: net.Socket) => void): void {
  const [role, listen, target, cert, key] = process.argv.slice(2);
  const pair = (down: net.Socket, up: net.Socket): void => {
    down.setNoDelay(true);
    up.setNoDelay(true);
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
    join(down, up);
  };
  const server = role === 'in'
    ? tls.createServer({ cert: readFileSync(cert!), key: readFileSync(key!) }, (c) => pair(c, net.connect(Number(target), '127.0.0.1')))
    : net.createServer((c) => pair(c, tls.connect({ port: Number(target), host: '127.0.0.1', rejectUnauthorized: false })));
  server.listen(Number(listen), '127.0.0.1');
  process.on('SIGTERM', () => process.exit(0));
}
