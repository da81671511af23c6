/**
 * What both TLS sides build from an IdentityMaterial, and how their failures
 * are named. See tls-context.ts for the overall picture.
 */
import type { DetailedPeerCertificate, PeerCertificate, SecureContextOptions, TLSSocket } from 'node:tls';
import { ProxyError } from '../core/errors.ts';
import type { IdentityMaterial } from './types.ts';
import type { PeerRole, PeerVerifier, VerifyResult } from './verify.ts';

export const DEFAULT_ALPN: readonly string[] = ['h2', 'http/1.1'];

/** The SecureContext options for an identity: our leaf (+ chain), our key, the trust bundle, TLS 1.3 only. */
export function secureContextOptions(m: IdentityMaterial): SecureContextOptions {
  return {
    key: m.keyPem,
    cert: [m.certPem, ...m.chainPem].join(''),
    ca: [...m.rootsPem],
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
  };
}

/** A stable string for "did the trust bundle change?". */
export function rootsKey(m: IdentityMaterial): string {
  return `${m.trustDomain}\n${m.rootsPem.join('')}`;
}

/** Turn a failed verification into the error the rescue points understand. */
export function verifyError(r: Extract<VerifyResult, { ok: false }>): ProxyError {
  return new ProxyError('upstream_tls_identity', `${r.reason}: ${r.detail}`);
}

/** OpenSSL certificate-verification codes (Node sets them as err.code). */
const OPENSSL_VERIFY_CODES = new Set([
  'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'INVALID_CA', 'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_TLS_CERT_ALTNAME_FORMAT',
]);

/** True when a connect error means "the peer's certificate was refused" (by OpenSSL or by us). */
export function isIdentityError(err: unknown): boolean {
  if (err instanceof ProxyError) return err.reason === 'upstream_tls_identity';
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && OPENSSL_VERIFY_CODES.has(code);
}

/** DER of every certificate above the leaf in Node's detailed peer chain. */
export function intermediatesOf(leaf: PeerCertificate): Buffer[] {
  const out: Buffer[] = [];
  const seen = new Set<string>([leaf.fingerprint256]);
  let c = (leaf as Partial<DetailedPeerCertificate>).issuerCertificate;
  while (c !== undefined && c.raw !== undefined && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(c.raw);
    c = c.issuerCertificate;
  }
  return out;
}

/**
 * Verify the peer of an established TLS socket. On the server side the cached
 * fast path needs only the leaf's fingerprint, and the detailed chain is built
 * on a miss only. On the client side Node 24's `getPeerX509Certificate()`
 * empties the peer chain it reads from (a second call, and every later
 * `getPeerCertificate()`, sees nothing), so there we only use the detailed,
 * repeatable `getPeerCertificate(true)`. Never call `getPeerX509Certificate()`
 * on a client socket. On the server side the client's intermediates are not
 * visible at all, so OpenSSL's chain verdict (`authorized`) is passed along
 * for the case where the leaf does not chain directly to our bundle.
 */
export function verifySocketPeer(verifier: PeerVerifier, socket: TLSSocket, role: PeerRole, expected?: string): VerifyResult {
  if (role === 'server') {
    const detailed = socket.getPeerCertificate(true);
    if (detailed?.raw === undefined) return { ok: false, reason: 'no_certificate', detail: 'the peer sent no certificate' };
    return verifier.verify(detailed.raw, intermediatesOf(detailed), role, expected, detailed.fingerprint256);
  }
  const x = socket.getPeerX509Certificate();
  if (x === undefined) return { ok: false, reason: 'no_certificate', detail: 'the peer sent no certificate' };
  const hit = verifier.lookup(x.fingerprint256, role, expected);
  if (hit !== undefined) return hit;
  // Node hides the intermediates a client sent; OpenSSL saw them (see verify.ts).
  return verifier.verify(x.raw, intermediatesOf(socket.getPeerCertificate(true)), role, expected, x.fingerprint256, socket.authorized);
}
