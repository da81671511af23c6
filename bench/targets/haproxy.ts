/**
 * haproxy: the same path as the mesh, built from two HAProxy processes (Debian's
 * 2.6), one thread each, in HTTP mode. A: plaintext in, mTLS out (client cert,
 * server cert verified against the CA and the name inbound.bench). B: mTLS in
 * (client cert required and verified), plaintext out to the backend.
 * Connection reuse to the next hop is HAProxy's default (`http-reuse safe`).
 * The grpc build is the same pair in HTTP/2: h2c in (`proto h2`), h2 over the
 * mTLS hop (ALPN h2 on both ends), h2c out to the gRPC peer (`proto h2`);
 * HTTP/2 connections to the next hop carry many streams.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVER_NAME } from '../lib/certs.ts';
import { freePort, HOST, waitForPort } from '../lib/ports.ts';
import type { ProcessGroup, Tracked } from '../lib/procs.ts';
import type { TargetDef } from './types.ts';
import { proxyPair } from './pair.ts';

const GLOBAL = `global
  nbthread 1
  maxconn 4000
defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
`;

async function start(procs: ProcessGroup, bin: string, dir: string, name: string, cfg: string, port: number): Promise<Tracked> {
  const file = join(dir, `${name}.cfg`);
  writeFileSync(file, `# written by aim-mesh bench\n${GLOBAL}${cfg}`);
  const t = procs.spawn(name, bin, ['-db', '-f', file]);
  await waitForPort(port, t);
  return t;
}

export const haproxy: TargetDef = {
  name: 'haproxy',
  description: 'client → HAProxy (plain in, mTLS out) → HAProxy (mTLS in, plain out) → backend',
  async start(ctx) {
    const dir = join(ctx.dir, 'haproxy');
    mkdirSync(dir, { recursive: true });
    const [outPort, inPort] = [await freePort(), await freePort()];
    const c = ctx.certs;
    return proxyPair(ctx, { inPort, outPort }, () => start(ctx.procs, ctx.tools.haproxy, dir, 'haproxy-inbound', `
frontend mtls_in
  bind ${HOST}:${inPort} ssl crt ${c.serverPem} ca-file ${c.caCert} verify required
  default_backend app
backend app
  server app1 ${HOST}:${ctx.backend.port}
`, inPort),
      () => start(ctx.procs, ctx.tools.haproxy, dir, 'haproxy-outbound', `
frontend plain_in
  bind ${HOST}:${outPort}
  default_backend mesh
backend mesh
  server peer1 ${HOST}:${inPort} ssl crt ${c.clientPem} ca-file ${c.caCert} verify required sni str(${SERVER_NAME}) verifyhost ${SERVER_NAME}
`, outPort));
  },
};

export const haproxyGrpc: TargetDef = {
  name: 'haproxy',
  kind: 'grpc',
  description: 'gRPC: client → HAProxy (h2c in, h2 + mTLS out) → HAProxy (h2 + mTLS in, h2c out) → gRPC peer',
  async start(ctx) {
    const dir = join(ctx.dir, 'haproxy');
    mkdirSync(dir, { recursive: true });
    const [outPort, inPort] = [await freePort(), await freePort()];
    const c = ctx.certs;
    return proxyPair(ctx, { inPort, outPort }, () => start(ctx.procs, ctx.tools.haproxy, dir, 'haproxy-grpc-inbound', `
frontend mtls_in
  bind ${HOST}:${inPort} ssl crt ${c.serverPem} ca-file ${c.caCert} verify required alpn h2
  default_backend app
backend app
  server app1 ${HOST}:${ctx.backend.port} proto h2
`, inPort),
      () => start(ctx.procs, ctx.tools.haproxy, dir, 'haproxy-grpc-outbound', `
frontend plain_in
  bind ${HOST}:${outPort} proto h2
  default_backend mesh
backend mesh
  server peer1 ${HOST}:${inPort} ssl crt ${c.clientPem} ca-file ${c.caCert} verify required sni str(${SERVER_NAME}) verifyhost ${SERVER_NAME} alpn h2
`, outPort));
  },
};
