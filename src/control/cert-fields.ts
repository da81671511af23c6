/**
 * The certificate fields the control plane decides on (URI SANs, CA flag,
 * validity), read from the DER by the identity module's parser
 * (src/identity/cert-facts.ts; never Node's SAN string). Used on both sides:
 * the coordinator reads client leaves, the agent reads the coordinator's
 * server leaf and the leaf it was issued.
 */
import { readCertFacts } from '../identity/cert-facts.ts';

export interface CertFields {
  readonly uris: readonly string[];
  readonly isCa: boolean;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  /** Lower-case hex. */
  readonly serial: string;
}

/** Throws on malformed DER. */
export function certFields(der: Uint8Array): CertFields {
  const f = readCertFacts(der);
  return { uris: f.uris, isCa: f.isCa, notBeforeMs: f.notBefore, notAfterMs: f.notAfter, serial: f.serial };
}
