/**
 * One half of the raw pipe pair (bench/raw-pipe.ts): the least an L7 proxy in
 * Node could do on the mesh path. `out`: plaintext in, TLS out; `in`: TLS in,
 * plaintext out. Each accepted connection gets one upstream connection and
 * bytes are piped both ways: no parsing, no pooling, no telemetry.
 *
 *   node bench/lib/raw-pipe-peer.ts out|in LISTEN_PORT TARGET_PORT [CERT KEY]
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

const [role, listen, target, cert, key] = process.argv.slice(2);
const join = (a: net.Socket, b: net.Socket): void => {
  a.setNoDelay(true);
  b.setNoDelay(true);
  a.pipe(b);
  b.pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.on('close', () => b.destroy());
  b.on('close', () => a.destroy());
};
const server = role === 'in'
  ? tls.createServer({ cert: readFileSync(cert!), key: readFileSync(key!) }, (c) => join(c, net.connect(Number(target), '127.0.0.1')))
  : net.createServer((c) => join(c, tls.connect({ port: Number(target), host: '127.0.0.1', rejectUnauthorized: false })));
server.listen(Number(listen), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
