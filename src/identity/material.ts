/**
 * Build an IdentityMaterial from PEM text, refusing anything an agent could
 * not serve with. Every source goes through here, so "a usable leaf" means the
 * same thing whether it was signed locally, fetched from Consul or read from
 * files: the leaf parses, carries exactly one Consul-form SPIFFE ID, matches
 * the private key, chains to the given roots, and is not expired.
 */
import { createPrivateKey } from 'node:crypto';
import { readCertFacts } from './cert-facts.ts';
import { buildChain } from './chain.ts';
import { pemToDer, splitPemCertificates } from './pem.ts';
import { parseSpiffeId } from './spiffe.ts';
import type { IdentityMaterial } from './types.ts';

export interface MaterialInput {
  readonly keyPem: string;
  /** The leaf, optionally followed by intermediates (leaf-issuer first). */
  readonly certChainPem: string;
  /** The trust bundle: one or more PEM roots (one string may hold several). */
  readonly rootsPem: readonly string[];
  /** When set, the leaf's trust domain must be this one. */
  readonly trustDomain?: string | undefined;
  /** Epoch ms used as "now" (default Date.now). */
  readonly now?: number;
}

/** Validate and assemble. Throws an Error saying what is wrong. */
export function materialFromPem(input: MaterialInput): IdentityMaterial {
  const certs = splitPemCertificates(input.certChainPem);
  const leafPem = certs[0];
  if (leafPem === undefined) throw new Error('no certificate in the leaf PEM');
  const leaf = readCertFacts(pemToDer(leafPem));
  if (leaf.isCa) throw new Error('the leaf is a CA certificate');
  if (leaf.uris.length !== 1) throw new Error(`the leaf has ${leaf.uris.length} URI SANs, exactly one SPIFFE ID is required`);
  const spiffeId = leaf.uris[0]!;
  const parsed = parseSpiffeId(spiffeId);
  if (!parsed.ok) throw new Error(`the leaf's URI SAN is not a service SPIFFE ID: ${parsed.error}`);
  const trustDomain = parsed.id.trustDomain;
  if (input.trustDomain !== undefined && input.trustDomain !== trustDomain) {
    throw new Error(`the leaf is for trust domain ${trustDomain}, expected ${input.trustDomain}`);
  }
  let key;
  try {
    key = createPrivateKey(input.keyPem);
  } catch (err) {
    throw new Error(`the private key does not parse: ${(err as Error).message}`);
  }
  if (!leaf.x509.checkPrivateKey(key)) throw new Error('the private key does not match the leaf certificate');

  const rootsPem = input.rootsPem.flatMap((r) => splitPemCertificates(r));
  if (rootsPem.length === 0) throw new Error('the trust bundle holds no certificate');
  const roots = rootsPem.map((r) => readCertFacts(pemToDer(r)));
  const chainPem = certs.slice(1);
  const chain = buildChain(leaf, chainPem.map((c) => readCertFacts(pemToDer(c))), roots, trustDomain);
  if (!chain.ok) throw new Error(`the leaf does not chain to the trust bundle: ${chain.detail}`);
  const now = input.now ?? Date.now();
  if (leaf.notAfter <= now) throw new Error(`the leaf expired at ${new Date(leaf.notAfter).toISOString()}`);

  return {
    keyPem: input.keyPem,
    certPem: leafPem,
    chainPem,
    rootsPem,
    spiffeId,
    trustDomain,
    serial: leaf.serial,
    notBefore: new Date(leaf.notBefore),
    notAfter: new Date(leaf.notAfter),
  };
}
