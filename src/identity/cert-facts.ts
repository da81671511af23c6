/**
 * What verification needs to know about one certificate, read from its DER.
 *
 * The extensions are decoded with @peculiar/asn1-x509, never from Node's
 * `subjectAltName` string (which flattens names into a comma-joined string an
 * attacker can shape). Signature checks use Node's native X509Certificate,
 * kept alongside. Reading is the expensive part of verification, so callers
 * cache the result per fingerprint (verify.ts).
 */
import { X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  BasicConstraints, Certificate, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
  id_ce_authorityKeyIdentifier, id_ce_basicConstraints, id_ce_extKeyUsage, id_ce_keyUsage,
  id_ce_nameConstraints, id_ce_subjectAltName, id_ce_subjectKeyIdentifier,
} from '@peculiar/asn1-x509';

export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** KeyUsage bits, as numbered by @peculiar/asn1-x509's KeyUsageFlags. */
export const KU = { digitalSignature: 1, keyEncipherment: 4, keyCertSign: 32, cRLSign: 64 } as const;

/** Extensions whose meaning we apply; any other extension marked critical makes a leaf or intermediate unusable. */
const UNDERSTOOD = new Set([
  id_ce_basicConstraints, id_ce_keyUsage, id_ce_extKeyUsage, id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier, id_ce_authorityKeyIdentifier,
]);

export interface CertFacts {
  /** Native handle for issuer and signature checks. */
  readonly x509: X509Certificate;
  /** SHA-256 of the DER in Node's `fingerprint256` form (upper-case, colon-separated). */
  readonly fingerprint: string;
  /** Serial number, lower-case hex without separators. */
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** basicConstraints cA (false when the extension is absent). */
  readonly isCa: boolean;
  /** KeyUsage bits (see KU), or undefined when the extension is absent. */
  readonly keyUsage: number | undefined;
  /** EKU OIDs, or undefined when the extension is absent. */
  readonly extKeyUsage: readonly string[] | undefined;
  /** Every uniformResourceIdentifier SAN, in order. */
  readonly uris: readonly string[];
  /** OIDs of critical extensions we do not apply. */
  readonly unknownCritical: readonly string[];
  /** An extension OID that appears more than once (RFC 5280 §4.2 forbids it), if any. */
  readonly duplicateExtension: string | undefined;
  /** nameConstraints present (we do not evaluate them, so a constrained intermediate is refused). */
  readonly hasNameConstraints: boolean;
}

/** Decode one DER certificate. Throws on anything that is not a well-formed X.509 certificate. */
export function readCertFacts(der: Uint8Array): CertFacts {
  const x509 = new X509Certificate(der);
  const cert = AsnConvert.parse(der, Certificate);
  const tbs = cert.tbsCertificate;
  let isCa = false;
  let keyUsage: number | undefined;
  let extKeyUsage: string[] | undefined;
  const uris: string[] = [];
  const unknownCritical: string[] = [];
  const seen = new Set<string>();
  let duplicateExtension: string | undefined;
  let hasNameConstraints = false;

  for (const ext of tbs.extensions ?? []) {
    const oid = ext.extnID;
    if (seen.has(oid)) duplicateExtension ??= oid;
    seen.add(oid);
    const value = ext.extnValue.buffer;
    switch (oid) {
      case id_ce_basicConstraints:
        isCa = AsnConvert.parse(value, BasicConstraints).cA;
        break;
      case id_ce_keyUsage:
        keyUsage = AsnConvert.parse(value, KeyUsage).toNumber();
        break;
      case id_ce_extKeyUsage:
        extKeyUsage = [...AsnConvert.parse(value, ExtendedKeyUsage)];
        break;
      case id_ce_subjectAltName:
        for (const name of AsnConvert.parse(value, SubjectAlternativeName)) {
          if (name.uniformResourceIdentifier !== undefined) uris.push(name.uniformResourceIdentifier);
        }
        break;
      case id_ce_nameConstraints:
        hasNameConstraints = true;
        break;
      default:
        break;
    }
    if (ext.critical && !UNDERSTOOD.has(oid)) unknownCritical.push(oid);
  }

  return {
    x509,
    fingerprint: x509.fingerprint256,
    serial: x509.serialNumber.toLowerCase(),
    notBefore: tbs.validity.notBefore.getTime().getTime(),
    notAfter: tbs.validity.notAfter.getTime().getTime(),
    isCa,
    keyUsage,
    extKeyUsage,
    uris,
    unknownCritical,
    duplicateExtension,
    hasNameConstraints,
  };
}

/** True when `child` names `issuer` as its issuer and `issuer`'s key verifies `child`'s signature. */
export function signedBy(child: CertFacts, issuer: CertFacts): boolean {
  return child.x509.checkIssued(issuer.x509) && child.x509.verify(issuer.x509.publicKey);
}
