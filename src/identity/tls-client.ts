/**
 * The client side of agent mTLS (see tls-context.ts for usage): per-connect
 * options that share one SecureContext per rotation, our SPIFFE check of the
 * server in place of Node's hostname check, and session resumption keyed by
 * endpoint + expected identity.
 *
 * Resumption and verification: Node skips `checkServerIdentity` on a resumed
 * session, and a resumed client socket has no peer certificate to look at.
 * That is safe because a session is stored only after the full handshake that
 * created it passed our verification, under the key of the identity that was
 * expected; only the server holding that session's secret can resume it; and
 * the entry expires with the server's leaf (session-cache.ts). Tickets that
 * arrive on a resumed connection inherit the verdict of the one offered.
 */
import { connect as tlsConnect, createSecureContext, type ConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';
import { ProxyError } from '../core/errors.ts';
import { endpointKey as keyOf } from '../discovery/types.ts';
import { SessionCache } from './session-cache.ts';
import { parseSpiffeId } from './spiffe.ts';
import { DEFAULT_ALPN, intermediatesOf, rootsKey, secureContextOptions, verifyError, verifySocketPeer } from './tls-material.ts';
import { TrustBundles } from './trust-bundle.ts';
import type { IdentitySource } from './types.ts';
import { PeerVerifier, type VerifyResult } from './verify.ts';

export interface ClientTlsOptions {
  /** Wall clock for certificate validity and session expiry, epoch ms (default Date.now). */
  readonly now?: () => number;
  /** Verdict cache size (default 1024). */
  readonly cacheSize?: number;
  /** Sessions remembered (default 256) and for how long at most (default 300 s, the server's ticket lifetime). */
  readonly sessionCacheSize?: number;
  readonly sessionTtlMs?: number;
  /** Offer cached sessions (default true). */
  readonly resume?: boolean;
}

export interface ConnectTarget {
  readonly host: string;
  readonly port: number;
  /** The SPIFFE ID the endpoint must present (from discovery, or the upstream's default). */
  readonly expectedSpiffeId: string;
  /** ALPN to offer (default ['h2','http/1.1']; [] offers none). */
  readonly alpn?: readonly string[];
  /** Session-cache key (default `endpointKey({address: host, port})`). */
  readonly endpointKey?: string;
}

export interface ClientTls {
  /** Options for `tls.connect` (add host/port). Throws ProxyError when the expected ID is not a SPIFFE ID. */
  connectOptions(endpointKey: string, expectedSpiffeId: string, alpn?: readonly string[]): ConnectionOptions;
  /** Options that complete no handshake: our certificate is offered, but every server is refused with `detail`. */
  refuseOptions(detail: string): ConnectionOptions;
  /** Store the sessions a socket receives, for later resumption. */
  trackSession(socket: TLSSocket, endpointKey: string, expectedSpiffeId: string): void;
  /** tls.connect with everything wired: options and session tracking. */
  connect(target: ConnectTarget): TLSSocket;
  /** Verify the server of an established, non-resumed socket (peer role: server). */
  verifyServer(socket: TLSSocket, expectedSpiffeId: string): VerifyResult;
  readonly verifier: PeerVerifier;
  readonly sessions: SessionCache;
  readonly stats: { rotations: number; rejected: number; resumed: number };
  close(): void;
}

/** The SNI name for an expected identity: `<svc>.<ns>.<dc>.<td>` (a DNS-shaped name, never an IP). */
export function serverNameFor(spiffeId: string): string {
  const p = parseSpiffeId(spiffeId);
  if (!p.ok) throw new ProxyError('upstream_tls_identity', `expected identity ${JSON.stringify(spiffeId)} is not a service SPIFFE ID: ${p.error}`);
  return `${p.id.service}.${p.id.namespace}.${p.id.datacenter}.${p.id.trustDomain}`;
}

export function createClientTls(source: IdentitySource, opts: ClientTlsOptions = {}): ClientTls {
  const first = source.current();
  if (first === undefined) throw new Error('createClientTls: the identity source has not started');
  const now = opts.now ?? Date.now;
  const resume = opts.resume ?? true;
  const verifier = new PeerVerifier({ bundles: TrustBundles.fromMaterial(first), now, cacheSize: opts.cacheSize });
  const sessions = new SessionCache(opts.sessionCacheSize, opts.sessionTtlMs);
  const stats = { rotations: 0, rejected: 0, resumed: 0 };
  let context: SecureContext = createSecureContext(secureContextOptions(first));
  let roots = rootsKey(first);

  const unsubscribe = source.onUpdate((m) => {
    context = createSecureContext(secureContextOptions(m));
    const newRoots = rootsKey(m);
    if (newRoots !== roots) verifier.setBundles(TrustBundles.fromMaterial(m));
    roots = newRoots;
    // Our own leaf changed: a resumed session would still present the old one.
    sessions.clear();
    stats.rotations++;
  });

  const sessionKey = (endpoint: string, expected: string) => `${endpoint}|${expected}`;

  const connectOptions = (endpoint: string, expected: string, alpn?: readonly string[]): ConnectionOptions => {
    const protocols = alpn ?? DEFAULT_ALPN;
    const o: ConnectionOptions = {
      secureContext: context,
      servername: serverNameFor(expected),
      rejectUnauthorized: true,
      checkServerIdentity: (_host, cert) => {
        const r = verifier.verify(cert.raw, intermediatesOf(cert), 'server', expected, cert.fingerprint256);
        if (r.ok) return undefined;
        stats.rejected++;
        return verifyError(r);
      },
    };
    if (protocols.length > 0) o.ALPNProtocols = [...protocols];
    if (resume) {
      const session = sessions.get(sessionKey(endpoint, expected), now());
      if (session !== undefined) o.session = session;
    }
    return o;
  };

  const verifyServer = (socket: TLSSocket, expected: string) => verifySocketPeer(verifier, socket, 'server', expected);

  const trackSession = (socket: TLSSocket, endpoint: string, expected: string) => {
    if (!resume) return;
    const key = sessionKey(endpoint, expected);
    socket.on('session', (session: Buffer) => {
      if (socket.isSessionReused()) {
        const notAfter = sessions.peerNotAfter(key);
        if (notAfter !== undefined) sessions.set(key, session, now(), notAfter);
        return;
      }
      const r = verifyServer(socket, expected);
      if (r.ok) sessions.set(key, session, now(), r.notAfter);
    });
  };

  return {
    connectOptions,
    refuseOptions: (detail) => ({
      secureContext: context,
      servername: 'unknown.invalid',
      rejectUnauthorized: true,
      checkServerIdentity: () => new ProxyError('upstream_tls_identity', detail),
    }),
    trackSession,
    connect(t) {
      const endpoint = t.endpointKey ?? keyOf({ address: t.host, port: t.port });
      const socket = tlsConnect({ ...connectOptions(endpoint, t.expectedSpiffeId, t.alpn), host: t.host, port: t.port });
      trackSession(socket, endpoint, t.expectedSpiffeId);
      socket.once('secureConnect', () => { if (socket.isSessionReused()) stats.resumed++; });
      return socket;
    },
    verifyServer,
    verifier,
    sessions,
    stats,
    close() {
      unsubscribe();
      sessions.clear();
    },
  };
}
