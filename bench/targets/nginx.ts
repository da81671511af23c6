/**
 * nginx: the same path built from two nginx instances (Debian's), one worker
 * each, HTTP proxying with upstream keep-alive. A: plaintext in, mTLS out
 * (proxy_ssl_certificate, proxy_ssl_verify against the CA and inbound.bench).
 * B: mTLS in (ssl_verify_client on), plaintext out to the backend. Response
 * buffering stays on but never spills to disk (proxy_max_temp_file_size 0).
 * The grpc build is the same pair with `grpc_pass`: h2c in (`listen … http2`),
 * grpcs:// over the mTLS hop, grpc:// to the gRPC peer. nginx sends each gRPC
 * call upstream on a connection of its own (kept alive, not multiplexed).
 */
import { join } from 'node:path';
import { SERVER_NAME, type CertSet } from '../lib/certs.ts';
import { startNginx } from '../lib/nginx.ts';
import { freePort, HOST } from '../lib/ports.ts';
import type { TargetDef } from './types.ts';
import { proxyPair } from './pair.ts';

const PROXY = `
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_max_temp_file_size 0;`;

/** The mTLS-in side of a pair: client certificates verified, each request handed to `location` (upstream `app`). */
function inboundConf(c: CertSet, inPort: number, backendPort: number, listenExtra: string, location: string): string {
  return `
  upstream app { server ${HOST}:${backendPort}; keepalive 128; keepalive_requests 10000000; }
  server {
    listen ${HOST}:${inPort} ssl${listenExtra} backlog=4096;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate ${c.serverCert};
    ssl_certificate_key ${c.serverKey};
    ssl_client_certificate ${c.caCert};
    ssl_verify_client on;
    ssl_verify_depth 2;
    location / {${location}
    }
  }`;
}

export const nginx: TargetDef = {
  name: 'nginx',
  description: 'client → nginx (plain in, mTLS out) → nginx (mTLS in, plain out) → backend',
  async start(ctx) {
    const [outPort, inPort] = [await freePort(), await freePort()];
    const c = ctx.certs;
    return proxyPair(ctx, { inPort, outPort }, () => startNginx(ctx.procs, ctx.tools.nginx, 'nginx-inbound', join(ctx.dir, 'nginx-inbound'),
      inboundConf(c, inPort, ctx.backend.port, '', `
      proxy_pass http://app;${PROXY}`), inPort),
      () => startNginx(ctx.procs, ctx.tools.nginx, 'nginx-outbound', join(ctx.dir, 'nginx-outbound'), `
  upstream mesh { server ${HOST}:${inPort}; keepalive 128; keepalive_requests 10000000; }
  server {
    listen ${HOST}:${outPort} backlog=4096;
    location / {
      proxy_pass https://mesh;${PROXY}
      proxy_ssl_protocols TLSv1.2 TLSv1.3;
      proxy_ssl_certificate ${c.clientCert};
      proxy_ssl_certificate_key ${c.clientKey};
      proxy_ssl_trusted_certificate ${c.caCert};
      proxy_ssl_verify on;
      proxy_ssl_verify_depth 2;
      proxy_ssl_name ${SERVER_NAME};
      proxy_ssl_server_name on;
      proxy_ssl_session_reuse on;
    }
  }`, outPort));
  },
};

const GRPC_SSL = `
      grpc_ssl_protocols TLSv1.2 TLSv1.3;
      grpc_ssl_verify on;
      grpc_ssl_verify_depth 2;
      grpc_ssl_name ${SERVER_NAME};
      grpc_ssl_server_name on;
      grpc_ssl_session_reuse on;`;

export const nginxGrpc: TargetDef = {
  name: 'nginx',
  kind: 'grpc',
  description: 'gRPC: client → nginx (h2c in, grpc_pass grpcs:// with mTLS) → nginx (h2 + mTLS in, grpc_pass grpc://) → gRPC peer',
  async start(ctx) {
    const [outPort, inPort] = [await freePort(), await freePort()];
    const c = ctx.certs;
    return proxyPair(ctx, { inPort, outPort }, () => startNginx(ctx.procs, ctx.tools.nginx, 'nginx-grpc-inbound', join(ctx.dir, 'nginx-grpc-inbound'),
      inboundConf(c, inPort, ctx.backend.port, ' http2', `
      grpc_pass grpc://app;`), inPort),
      () => startNginx(ctx.procs, ctx.tools.nginx, 'nginx-grpc-outbound', join(ctx.dir, 'nginx-grpc-outbound'), `
  upstream mesh { server ${HOST}:${inPort}; keepalive 128; keepalive_requests 10000000; }
  server {
    listen ${HOST}:${outPort} http2 backlog=4096;
    location / {
      grpc_pass grpcs://mesh;
      grpc_ssl_certificate ${c.clientCert};
      grpc_ssl_certificate_key ${c.clientKey};
      grpc_ssl_trusted_certificate ${c.caCert};${GRPC_SSL}
    }
  }`, outPort));
  },
};
