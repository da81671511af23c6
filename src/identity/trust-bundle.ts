/**
 * Trust bundles, one per trust domain: the roots a peer's chain must end in.
 *
 * A peer is only ever checked against the bundle of the trust domain named in
 * its own SPIFFE ID, so a root trusted for one domain can never vouch for an
 * identity in another. Today an agent knows one domain (its own, from its
 * IdentityMaterial); the map shape leaves room for federation.
 * During a root rotation a bundle simply holds both roots.
 */
import { readCertFacts, type CertFacts } from './cert-facts.ts';
import { pemToDer } from './pem.ts';
import type { IdentityMaterial } from './types.ts';

export class TrustBundles {
  readonly #byDomain = new Map<string, readonly CertFacts[]>();

  /** `domains`: trust domain → PEM roots. Throws when a root does not parse. */
  constructor(domains: Readonly<Record<string, readonly string[]>>) {
    for (const [td, pems] of Object.entries(domains)) {
      this.#byDomain.set(td, pems.map((p) => readCertFacts(pemToDer(p))));
    }
  }

  static fromMaterial(m: IdentityMaterial): TrustBundles {
    return new TrustBundles({ [m.trustDomain]: m.rootsPem });
  }

  /** The roots for `trustDomain`, or undefined when the domain is unknown. */
  roots(trustDomain: string): readonly CertFacts[] | undefined {
    return this.#byDomain.get(trustDomain);
  }

  domains(): string[] {
    return [...this.#byDomain.keys()];
  }

  /** Fingerprints of every root, per domain (for /certs and change detection). */
  describe(): Record<string, { fingerprint: string; serial: string; notAfter: string }[]> {
    const out: Record<string, { fingerprint: string; serial: string; notAfter: string }[]> = {};
    for (const [td, roots] of this.#byDomain) {
      out[td] = roots.map((r) => ({ fingerprint: r.fingerprint, serial: r.serial, notAfter: new Date(r.notAfter).toISOString() }));
    }
    return out;
  }
}
