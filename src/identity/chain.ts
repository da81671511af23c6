/**
 * Path building: from a leaf, through the intermediates the peer sent, to a
 * root of one trust bundle. Signatures are checked with Node's native
 * X509Certificate; everything else about the leaf is judged in verify.ts.
 *
 * Returns the window in which every issuer on the path is valid, so a cached
 * result can be re-checked against the clock without redoing signatures.
 */
import { KU, signedBy, type CertFacts } from './cert-facts.ts';
import { splitSpiffeUri } from './spiffe.ts';

/** At most this many intermediates between a leaf and a root. */
export const MAX_INTERMEDIATES = 3;

export type ChainResult =
  | { readonly ok: true; readonly notBefore: number; readonly notAfter: number; readonly root: CertFacts }
  | { readonly ok: false; readonly detail: string; /** true when no issuer was found at all (vs a bad one). */ readonly noPath: boolean };

function usableIntermediate(c: CertFacts, trustDomain: string): string | undefined {
  if (!c.isCa) return 'an intermediate is not a CA';
  if (c.keyUsage !== undefined && (c.keyUsage & KU.keyCertSign) === 0) return 'an intermediate lacks keyCertSign';
  if (c.duplicateExtension !== undefined) return 'an intermediate repeats an extension';
  if (c.unknownCritical.length > 0) return `an intermediate has unsupported critical extensions ${c.unknownCritical.join(',')}`;
  for (const uri of c.uris) {
    const s = splitSpiffeUri(uri);
    if (!s.ok || s.trustDomain !== trustDomain || s.segments.length > 0) return `an intermediate is for another trust domain (${uri})`;
  }
  return undefined;
}

export function buildChain(
  leaf: CertFacts,
  intermediates: readonly CertFacts[],
  roots: readonly CertFacts[],
  trustDomain: string,
): ChainResult {
  let cur = leaf;
  let notBefore = -Infinity;
  let notAfter = Infinity;
  const used = new Set<CertFacts>();
  for (let depth = 0; depth <= MAX_INTERMEDIATES; depth++) {
    for (const root of roots) {
      if (signedBy(cur, root)) {
        return { ok: true, root, notBefore: Math.max(notBefore, root.notBefore), notAfter: Math.min(notAfter, root.notAfter) };
      }
    }
    const next = intermediates.find((i) => !used.has(i) && i !== leaf && signedBy(cur, i));
    if (next === undefined) {
      return { ok: false, noPath: true, detail: `no chain to a root of trust domain ${trustDomain}` };
    }
    const bad = usableIntermediate(next, trustDomain);
    if (bad !== undefined) return { ok: false, noPath: false, detail: bad };
    used.add(next);
    notBefore = Math.max(notBefore, next.notBefore);
    notAfter = Math.min(notAfter, next.notAfter);
    cur = next;
  }
  return { ok: false, noPath: false, detail: `chain longer than ${MAX_INTERMEDIATES} intermediates` };
}
