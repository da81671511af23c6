/**
 * Peer certificate verification, written by us because Node checks DNS names
 * and never URI SANs. A peer's leaf is accepted only when:
 *   1. it parses, repeats no extension and has no critical extension we do not apply;
 *   2. it is not a CA (basicConstraints CA:TRUE is refused);
 *   3. it carries exactly one URI SAN, and that URI is a Consul-form SPIFFE ID;
 *   4. keyUsage is present with digitalSignature (and neither keyCertSign nor cRLSign);
 *   5. extKeyUsage has serverAuth for a server we dial, clientAuth for a client we accept;
 *   6. it chains, by signature, to the bundle of its own trust domain (chain.ts);
 *   7. it and every issuer on the path are valid now (injectable clock);
 *   8. outbound only: its SPIFFE ID equals the one expected for the endpoint.
 *
 * It runs per connection, so the expensive part (DER decoding, signature
 * checks: steps 1-6) is cached per leaf fingerprint in a bounded LRU and only
 * the cheap part (role, clock, expected ID) runs each time. The cache is
 * dropped whenever the trust bundles change. Chain failures are not cached,
 * so a peer that later sends the missing intermediate gets a fresh look.
 *
 * One exception to "written by us": on the server side Node never exposes the
 * intermediates a client sent (getPeerCertificate(true) shows only the leaf
 * and what it finds in our own store). When the leaf does not chain directly
 * to our bundle, the caller may pass `opensslChainOk` (the socket's
 * `authorized`, which OpenSSL computed against the same bundle, intermediates
 * included); steps 1-5, 7 (leaf) and 8 stay ours. Such verdicts are not cached.
 */
import { EKU_CLIENT_AUTH, EKU_SERVER_AUTH, KU, readCertFacts, type CertFacts } from './cert-facts.ts';
import { buildChain } from './chain.ts';
import { parseSpiffeId } from './spiffe.ts';
import type { TrustBundles } from './trust-bundle.ts';
import type { SpiffeId } from './types.ts';

/** The role the PEER plays: 'server' when we dial it, 'client' when we accept it. */
export type PeerRole = 'server' | 'client';

export type VerifyFailure =
  | 'no_certificate' | 'malformed' | 'critical_extension' | 'ca_certificate'
  | 'no_spiffe_id' | 'multiple_uri_sans' | 'not_spiffe' | 'bad_spiffe_id'
  | 'key_usage' | 'ext_key_usage' | 'unknown_trust_domain' | 'untrusted'
  | 'expired' | 'not_yet_valid' | 'unexpected_identity';

export type VerifyResult =
  | { readonly ok: true; readonly spiffeId: string; readonly id: SpiffeId; readonly serial: string; readonly notAfter: number }
  | { readonly ok: false; readonly reason: VerifyFailure; readonly detail: string };

export interface VerifierOptions {
  readonly bundles: TrustBundles;
  /** Wall clock, epoch ms (default Date.now). */
  readonly now?: () => number;
  /** Leaves remembered (default 1024). */
  readonly cacheSize?: number;
}

type Analysis =
  | {
    readonly ok: true; readonly spiffeId: string; readonly id: SpiffeId; readonly serial: string;
    readonly notBefore: number; readonly notAfter: number; readonly issuersNotBefore: number; readonly issuersNotAfter: number;
    readonly serverAuth: boolean; readonly clientAuth: boolean;
  }
  | { readonly ok: false; readonly reason: VerifyFailure; readonly detail: string };

const fail = (reason: VerifyFailure, detail: string) => ({ ok: false, reason, detail }) as const;

/** Steps 1-5 of the header: everything that depends on the leaf alone. */
function judgeLeaf(f: CertFacts): Analysis | { ok: true; id: SpiffeId; spiffeId: string; serverAuth: boolean; clientAuth: boolean } {
  if (f.duplicateExtension !== undefined) return fail('malformed', `extension ${f.duplicateExtension} appears twice`);
  if (f.unknownCritical.length > 0) return fail('critical_extension', `unsupported critical extension ${f.unknownCritical.join(',')}`);
  if (f.isCa) return fail('ca_certificate', 'leaf is a CA certificate (basicConstraints CA:TRUE)');
  if (f.uris.length === 0) return fail('no_spiffe_id', 'no URI SAN');
  if (f.uris.length > 1) return fail('multiple_uri_sans', `${f.uris.length} URI SANs, exactly one allowed`);
  const uri = f.uris[0]!;
  if (!uri.startsWith('spiffe://')) return fail('not_spiffe', 'the URI SAN is not a spiffe:// URI');
  const parsed = parseSpiffeId(uri);
  if (!parsed.ok) return fail('bad_spiffe_id', parsed.error);
  if (f.keyUsage === undefined || (f.keyUsage & KU.digitalSignature) === 0) return fail('key_usage', 'keyUsage lacks digitalSignature');
  if ((f.keyUsage & (KU.keyCertSign | KU.cRLSign)) !== 0) return fail('key_usage', 'a leaf must not have keyCertSign or cRLSign');
  if (f.extKeyUsage === undefined) return fail('ext_key_usage', 'no extKeyUsage');
  return {
    ok: true, id: parsed.id, spiffeId: uri,
    serverAuth: f.extKeyUsage.includes(EKU_SERVER_AUTH), clientAuth: f.extKeyUsage.includes(EKU_CLIENT_AUTH),
  };
}

export class PeerVerifier {
  #bundles: TrustBundles;
  readonly #now: () => number;
  readonly #max: number;
  readonly #cache = new Map<string, Analysis>();
  /** Cache statistics, for the admin /certs view. */
  readonly stats = { hits: 0, misses: 0 };

  constructor(opts: VerifierOptions) {
    this.#bundles = opts.bundles;
    this.#now = opts.now ?? Date.now;
    this.#max = opts.cacheSize ?? 1024;
    if (!Number.isInteger(this.#max) || this.#max < 1) throw new RangeError('cacheSize must be a positive integer');
  }

  get bundles(): TrustBundles { return this.#bundles; }

  /** Swap the trust bundles (root rotation); forgets every cached verdict. */
  setBundles(bundles: TrustBundles): void {
    this.#bundles = bundles;
    this.#cache.clear();
  }

  /** Fast path: the verdict for a leaf already seen, or undefined. */
  lookup(fingerprint: string, role: PeerRole, expected?: string): VerifyResult | undefined {
    const a = this.#cache.get(fingerprint);
    if (a === undefined) return undefined;
    this.stats.hits++;
    this.#cache.delete(fingerprint);
    this.#cache.set(fingerprint, a);
    return this.#decide(a, role, expected);
  }

  /**
   * Full verification of a peer chain (leaf first, DER). `fingerprint` is the
   * leaf's fingerprint256 when the caller already has it (sockets do).
   */
  verify(
    leafDer: Uint8Array | undefined, intermediatesDer: readonly Uint8Array[], role: PeerRole, expected?: string,
    fingerprint?: string, opensslChainOk = false,
  ): VerifyResult {
    if (leafDer === undefined || leafDer.length === 0) return fail('no_certificate', 'the peer sent no certificate');
    if (fingerprint !== undefined) {
      const hit = this.lookup(fingerprint, role, expected);
      if (hit !== undefined) return hit;
    }
    this.stats.misses++;
    let leaf: CertFacts;
    try {
      leaf = readCertFacts(leafDer);
    } catch (err) {
      return fail('malformed', `leaf does not parse: ${(err as Error).message}`);
    }
    const a = this.#analyse(leaf, intermediatesDer, opensslChainOk);
    if (a.cache) this.#remember(leaf.fingerprint, a.result);
    return this.#decide(a.result, role, expected);
  }

  #analyse(leaf: CertFacts, intermediatesDer: readonly Uint8Array[], opensslChainOk: boolean): { result: Analysis; cache: boolean } {
    const { analysis: a, noPath } = this.#analyseLeaf(leaf, intermediatesDer);
    if (a.ok || a.reason !== 'untrusted') return { result: a, cache: true };
    // Only "no issuer found" may be settled by OpenSSL; an issuer we saw and refused stays refused.
    if (!opensslChainOk || !noPath) return { result: a, cache: false };
    const j = judgeLeaf(leaf);
    if (!j.ok) return { result: j, cache: true };
    return {
      result: {
        ok: true, spiffeId: j.spiffeId, id: j.id, serial: leaf.serial, notBefore: leaf.notBefore, notAfter: leaf.notAfter,
        issuersNotBefore: -Infinity, issuersNotAfter: Infinity, serverAuth: j.serverAuth, clientAuth: j.clientAuth,
      },
      cache: false,
    };
  }

  #analyseLeaf(leaf: CertFacts, intermediatesDer: readonly Uint8Array[]): { analysis: Analysis; noPath: boolean } {
    const j = judgeLeaf(leaf);
    if (!j.ok) return { analysis: j, noPath: false };
    const roots = this.#bundles.roots(j.id.trustDomain);
    if (roots === undefined || roots.length === 0) return { analysis: fail('unknown_trust_domain', `no trust bundle for ${j.id.trustDomain}`), noPath: false };
    let intermediates: CertFacts[];
    try {
      intermediates = intermediatesDer.map((d) => readCertFacts(d));
    } catch (err) {
      // Reported as untrusted (not cached): the same leaf may come back with a good chain.
      return { analysis: fail('untrusted', `an intermediate does not parse: ${(err as Error).message}`), noPath: false };
    }
    const chain = buildChain(leaf, intermediates, roots, j.id.trustDomain);
    if (!chain.ok) return { analysis: fail('untrusted', chain.detail), noPath: chain.noPath };
    return {
      analysis: {
        ok: true, spiffeId: j.spiffeId, id: j.id, serial: leaf.serial,
        notBefore: leaf.notBefore, notAfter: leaf.notAfter,
        issuersNotBefore: chain.notBefore, issuersNotAfter: chain.notAfter,
        serverAuth: j.serverAuth, clientAuth: j.clientAuth,
      },
      noPath: false,
    };
  }

  #remember(fingerprint: string, a: Analysis): void {
    this.#cache.set(fingerprint, a);
    if (this.#cache.size > this.#max) this.#cache.delete(this.#cache.keys().next().value!);
  }

  /** Steps 5 (role), 7 (clock) and 8 (expected ID): cheap, run on every connection. */
  #decide(a: Analysis, role: PeerRole, expected: string | undefined): VerifyResult {
    if (!a.ok) return a;
    if (role === 'server' && !a.serverAuth) return fail('ext_key_usage', 'extKeyUsage lacks serverAuth');
    if (role === 'client' && !a.clientAuth) return fail('ext_key_usage', 'extKeyUsage lacks clientAuth');
    const now = this.#now();
    if (now < a.notBefore) return fail('not_yet_valid', `valid from ${new Date(a.notBefore).toISOString()}`);
    if (now > a.notAfter) return fail('expired', `expired at ${new Date(a.notAfter).toISOString()}`);
    if (now < a.issuersNotBefore || now > a.issuersNotAfter) return fail('untrusted', 'an issuer on the chain is not valid now');
    if (expected !== undefined && a.spiffeId !== expected) {
      return fail('unexpected_identity', `presented ${a.spiffeId}, expected ${expected}`);
    }
    return { ok: true, spiffeId: a.spiffeId, id: a.id, serial: a.serial, notAfter: a.notAfter };
  }
}
