/**
 * Handshake rate for new mTLS connections, measured against a pair's TLS hop
 * (its mTLS-in side). Closed loop: `concurrency` workers each open a brand-new
 * TLS connection (full handshake: no session is offered for resumption,
 * client certificate presented and verified), send one request with
 * `Connection: close`, read the whole response, and repeat until time is up.
 * The figure is completed connections per second; run.ts adds the TLS-in
 * process's CPU per handshake, which does not depend on the generator's speed.
 */
import { readFileSync } from 'node:fs';
import { connect, createSecureContext, type SecureContext } from 'node:tls';

export interface TlsHop {
  readonly host: string;
  readonly port: number;
  readonly servername: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly path: string;
  /**
   * Check the server certificate's DNS/IP name against `servername` (default true).
   * False for SPIFFE peers, whose leaves carry only a URI SAN: the chain is still verified.
   */
  readonly checkName?: boolean;
}

export interface HandshakeResult {
  readonly connections: number;
  readonly errors: number;
  readonly perSec: number;
  readonly firstError?: string;
}

function oneConnection(hop: TlsHop, ctx: SecureContext, request: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect({
      host: hop.host, port: hop.port, servername: hop.servername, secureContext: ctx, rejectUnauthorized: true,
      ...(hop.checkName === false ? { checkServerIdentity: () => undefined } : {}),
    });
    s.setTimeout(5000, () => s.destroy(new Error('handshake connection timed out')));
    s.once('secureConnect', () => s.write(request));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('error', reject);
    s.once('close', () => {
      const head = Buffer.concat(chunks).subarray(0, 16).toString('latin1');
      if (/^HTTP\/1\.[01] 200 /.test(head)) resolve();
      else reject(new Error(`unexpected response: ${JSON.stringify(head)}`));
    });
  });
}

export async function runHandshakes(hop: TlsHop, durationMs: number, concurrency = 4): Promise<HandshakeResult> {
  const ctx = createSecureContext({ ca: readFileSync(hop.caFile), cert: readFileSync(hop.certFile), key: readFileSync(hop.keyFile) });
  const request = `GET ${hop.path} HTTP/1.1\r\nHost: ${hop.servername}\r\nConnection: close\r\n\r\n`;
  let connections = 0;
  let errors = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  const deadline = t0 + durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      try {
        await oneConnection(hop, ctx, request);
        connections++;
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const sec = (performance.now() - t0) / 1000;
  return { connections, errors, perSec: connections / sec, ...(firstError ? { firstError } : {}) };
}
