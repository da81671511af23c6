/**
 * What an identity source tells the rest of the agent about itself:
 *   - `identity_cert_expiration_timestamp_seconds` (gauge): `expirationTimestampSeconds()`;
 *   - `identity_cert_refresh_total{result="success"|"failure"}` (counter): `refresh`;
 *   - the admin `/certs` document: `describe()`.
 * Plain numbers and functions: the telemetry module owns prom-client and reads
 * these on scrape, so the identity code has no metrics dependency.
 */
import { readCertFacts } from './cert-facts.ts';
import { pemToDer } from './pem.ts';
import type { IdentityMaterial, IdentitySource } from './types.ts';

export interface IdentitySignals {
  /** Counter values behind identity_cert_refresh_total{result}. */
  readonly refresh: { success: number; failure: number };
  /** Value of identity_cert_expiration_timestamp_seconds (undefined before the first leaf). */
  expirationTimestampSeconds(): number | undefined;
}

export interface CertInfo {
  readonly serial: string;
  readonly fingerprint: string;
  readonly subject: string;
  readonly notBefore: string;
  readonly notAfter: string;
}

/** The admin /certs view of one source. */
export interface IdentityDescription {
  readonly source: string;
  readonly ready: boolean;
  readonly spiffeId: string | undefined;
  readonly trustDomain: string | undefined;
  readonly leaf: (CertInfo & { readonly expiresInSeconds: number }) | undefined;
  readonly chain: readonly CertInfo[];
  readonly roots: readonly CertInfo[];
  /** When the next renewal is planned (ISO), if the source schedules renewals. */
  readonly renewAt: string | undefined;
  readonly lastRefreshAt: string | undefined;
  readonly lastError: string | undefined;
  readonly refresh: { readonly success: number; readonly failure: number };
  /** Source-specific facts (CA dir, file paths, Consul address). Never secrets. */
  readonly details: Readonly<Record<string, string>>;
}

/** An IdentitySource that also exposes its signals and /certs description (all of ours do). */
export interface ManagedIdentitySource extends IdentitySource {
  readonly signals: IdentitySignals;
  describe(): IdentityDescription;
}

export function certInfo(pem: string): CertInfo {
  const f = readCertFacts(pemToDer(pem));
  return {
    serial: f.serial, fingerprint: f.fingerprint, subject: f.x509.subject.replace(/\n/g, ', '),
    notBefore: new Date(f.notBefore).toISOString(), notAfter: new Date(f.notAfter).toISOString(),
  };
}

export function describeMaterial(m: IdentityMaterial | undefined, now: number): Pick<IdentityDescription, 'spiffeId' | 'trustDomain' | 'leaf' | 'chain' | 'roots'> {
  if (m === undefined) return { spiffeId: undefined, trustDomain: undefined, leaf: undefined, chain: [], roots: [] };
  return {
    spiffeId: m.spiffeId,
    trustDomain: m.trustDomain,
    leaf: { ...certInfo(m.certPem), expiresInSeconds: Math.round((m.notAfter.getTime() - now) / 1000) },
    chain: m.chainPem.map(certInfo),
    roots: m.rootsPem.map(certInfo),
  };
}
