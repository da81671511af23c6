/**
 * The server side of agent mTLS (see tls-context.ts for usage): options for
 * `tls.createServer`, hot-swap of the SecureContext on every rotation, and our
 * own verification of each client.
 *
 * Why rejectUnauthorized:false: OpenSSL would accept any leaf from the bundle
 * and knows nothing about SPIFFE IDs, so the decision must be ours anyway;
 * letting the handshake finish also means a rejected peer gets a clean close
 * and a log line with a reason instead of an opaque alert. The client still
 * proves possession of its key (TLS 1.3 CertificateVerify is always checked).
 */
import { randomBytes } from 'node:crypto';
import type { Server, TLSSocket, TlsOptions } from 'node:tls';
import { defaultIdentityLog, type IdentityLog } from './log.ts';
import { DEFAULT_ALPN, rootsKey, secureContextOptions, verifySocketPeer } from './tls-material.ts';
import { TrustBundles } from './trust-bundle.ts';
import type { IdentityMaterial, IdentitySource } from './types.ts';
import { PeerVerifier, type VerifyResult } from './verify.ts';

export type VerifiedPeer = Extract<VerifyResult, { ok: true }>;
export type RejectedPeer = Extract<VerifyResult, { ok: false }>;

export interface ServerTlsOptions {
  /** Wall clock for certificate validity, epoch ms (default Date.now). */
  readonly now?: () => number;
  /** Verdict cache size (default 1024). */
  readonly cacheSize?: number;
  readonly alpn?: readonly string[];
  /** Handshake timeout (default 10 s). */
  readonly handshakeTimeoutMs?: number;
  /** Session ticket lifetime (default 300 s). */
  readonly sessionTimeoutSec?: number;
  readonly log?: IdentityLog;
  /** Called when `guard` closes a connection (default: a warn log line). */
  readonly onReject?: (socket: TLSSocket, result: RejectedPeer) => void;
}

export interface ServerTls {
  /** Options for `tls.createServer`, from the identity in force now. */
  readonly options: TlsOptions;
  /**
   * Keep `server`'s SecureContext current, and close sockets whose handshake
   * failed or timed out (Node leaves those open). Required. Returns a detach function.
   */
  attach(server: Server): () => void;
  /** A 'secureConnection' listener that closes unverified peers and calls `handler` for the rest. */
  guard(handler: (socket: TLSSocket, peer: VerifiedPeer) => void): (socket: TLSSocket) => void;
  /** Verify the client of an established socket (peer role: client). */
  verifyPeer(socket: TLSSocket): VerifyResult;
  readonly verifier: PeerVerifier;
  readonly stats: { rotations: number; rotationErrors: number; rejected: number; tlsClientErrors: number };
  /** Stop following the source (attached servers keep their last context). */
  close(): void;
}

export function createServerTls(source: IdentitySource, opts: ServerTlsOptions = {}): ServerTls {
  const first = source.current();
  if (first === undefined) throw new Error('createServerTls: the identity source has not started');
  const log = opts.log ?? defaultIdentityLog();
  const sessionTimeout = opts.sessionTimeoutSec ?? 300;
  const verifier = new PeerVerifier({ bundles: TrustBundles.fromMaterial(first), now: opts.now, cacheSize: opts.cacheSize });
  const servers = new Set<Server>();
  const stats = { rotations: 0, rotationErrors: 0, rejected: 0, tlsClientErrors: 0 };
  let material: IdentityMaterial = first;
  let roots = rootsKey(first);
  // Kept across leaf rotations so sessions resume; replaced when the trust bundle changes,
  // so no session established under an old bundle outlives it.
  let ticketKeys = randomBytes(48);

  const contextOptions = (m: IdentityMaterial) => ({ ...secureContextOptions(m), ticketKeys, sessionTimeout });

  const unsubscribe = source.onUpdate((m) => {
    const newRoots = rootsKey(m);
    try {
      if (newRoots !== roots) {
        verifier.setBundles(TrustBundles.fromMaterial(m));
        ticketKeys = randomBytes(48);
      }
      for (const s of servers) s.setSecureContext(contextOptions(m));
      material = m;
      roots = newRoots;
      stats.rotations++;
    } catch (err) {
      stats.rotationErrors++;
      log.error({ err, serial: m.serial }, 'identity: could not apply the new certificate to the mTLS server; keeping the previous one');
    }
  });

  const verifyPeer = (socket: TLSSocket) => verifySocketPeer(verifier, socket, 'client');

  return {
    get options(): TlsOptions {
      return {
        ...contextOptions(material),
        requestCert: true,
        rejectUnauthorized: false,
        ALPNProtocols: [...(opts.alpn ?? DEFAULT_ALPN)],
        handshakeTimeout: opts.handshakeTimeoutMs ?? 10_000,
      };
    },
    attach(server) {
      servers.add(server);
      server.setSecureContext(contextOptions(material));
      // Node reports a failed or timed-out handshake here but leaves the socket open
      // (a silent client would hold it forever): count it and close it.
      const onClientError = (_err: Error, socket: TLSSocket) => {
        stats.tlsClientErrors++;
        socket.destroy();
      };
      server.on('tlsClientError', onClientError);
      return () => {
        servers.delete(server);
        server.off('tlsClientError', onClientError);
      };
    },
    guard(handler) {
      return (socket) => {
        const r = verifyPeer(socket);
        if (r.ok) {
          handler(socket, r);
          return;
        }
        stats.rejected++;
        if (opts.onReject) opts.onReject(socket, r);
        else log.warn({ reason: r.reason, detail: r.detail, remote: socket.remoteAddress }, 'identity: mTLS peer rejected');
        socket.destroy();
      };
    },
    verifyPeer,
    verifier,
    stats,
    close() {
      unsubscribe();
      servers.clear();
    },
  };
}
