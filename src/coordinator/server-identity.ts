/**
 * The coordinator's own TLS identity: a leaf from its own CA with the SPIFFE
 * ID spiffe://<td>/ns/<ns>/dc/<dc>/svc/aim-mesh-coordinator (what agents check
 * instead of a host name, so any address behind a Kubernetes Service works),
 * plus DNS/IP SANs for ordinary TLS clients. Renewed at 70% of its lifetime
 * and hot-swapped into the gRPC server through the certificate provider.
 */
import { isIP } from 'node:net';
import forge from 'node-forge';
import type { Clock } from '../core/clock.ts';
import type { ServerTls, ServerTlsProvider } from './grpc-server.ts';
import { generateRsaKeyPem, type Signer } from './signer.ts';

export const COORDINATOR_SERVICE = 'aim-mesh-coordinator';

export function issueServerTls(signer: Signer, spiffeId: string, names: readonly string[], ttlMs: number, nowMs: number): ServerTls & { notAfterMs: number; notBeforeMs: number } {
  const { privateKeyPem, publicKeyPem } = generateRsaKeyPem();
  const dnsNames = [...new Set(['localhost', ...names.filter((n) => isIP(n) === 0)])];
  const ipAddresses = [...new Set(['127.0.0.1', '::1', ...names.filter((n) => isIP(n) !== 0)])];
  const leaf = signer.sign({ publicKey: forge.pki.publicKeyFromPem(publicKeyPem), spiffeId, commonName: COORDINATOR_SERVICE, ttlMs, dnsNames, ipAddresses, nowMs });
  return { keyPem: privateKeyPem, certPem: leaf.certPem, rootsPem: signer.rootsPem(), notAfterMs: leaf.notAfter.getTime(), notBeforeMs: leaf.notBefore.getTime() };
}

/** Keeps the server leaf fresh; returns a stop function. */
export function keepServerTlsFresh(opts: {
  provider: ServerTlsProvider;
  issue: () => ReturnType<typeof issueServerTls>;
  first: ReturnType<typeof issueServerTls>;
  clock: Clock;
  onError: (err: unknown) => void;
}): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = (cur: { notBeforeMs: number; notAfterMs: number }): void => {
    const at = cur.notBeforeMs + 0.7 * (cur.notAfterMs - cur.notBeforeMs);
    timer = setTimeout(() => {
      if (stopped) return;
      try {
        const next = opts.issue();
        opts.provider.update(next);
        schedule(next);
      } catch (err) {
        opts.onError(err);
        schedule({ notBeforeMs: opts.clock.now(), notAfterMs: opts.clock.now() + 10_000 });
      }
    }, Math.max(1000, at - opts.clock.now()));
    timer.unref();
  };
  schedule(opts.first);
  return () => { stopped = true; clearTimeout(timer); };
}
