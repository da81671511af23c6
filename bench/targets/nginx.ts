/**
 * nginx: the same path built from two nginx instances (Debian's), one worker
 * each, HTTP proxying with upstream keep-alive. A: plaintext in, mTLS out
 * (proxy_ssl_certificate, proxy_ssl_verify against the CA and inbound.bench).
 * B: mTLS in (ssl_verify_client on), plaintext out to the backend. Response
 * buffering stays on but never spills to disk (proxy_max_temp_file_size 0).
 */
import { join } from 'node:path';
import { SERVER_NAME } from '../lib/certs.ts';
import { startNginx } from '../lib/nginx.ts';
import { freePort, HOST } from '../lib/ports.ts';
import type { TargetDef } from './types.ts';
import { proxyPair } from './pair.ts';

const PROXY = `
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_max_temp_file_size 0;`;

export const nginx: TargetDef = {
  name: 'nginx',
  description: 'client → nginx (plain in, mTLS out) → nginx (mTLS in, plain out) → backend',
  async start(ctx) {
    const [outPort, inPort] = [await freePort(), await freePort()];
    const c = ctx.certs;
    return proxyPair(ctx, { inPort, outPort }, () => startNginx(ctx.procs, ctx.tools.nginx, 'nginx-inbound', join(ctx.dir, 'nginx-inbound'), `
  upstream app { server ${HOST}:${ctx.backend.port}; keepalive 128; keepalive_requests 10000000; }
  server {
    listen ${HOST}:${inPort} ssl backlog=4096;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate ${c.serverCert};
    ssl_certificate_key ${c.serverKey};
    ssl_client_certificate ${c.caCert};
    ssl_verify_client on;
    ssl_verify_depth 2;
    location / {
      proxy_pass http://app;${PROXY}
    }
  }`, inPort),
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
