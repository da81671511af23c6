/**
 * The coordinator's certificate signer: signs workload leaves for the public
 * key of a verified CSR, with the CA of `--ca-dir`.
 *
 * The CA directory is the identity module's (src/identity/ca.ts, the same
 * layout `aim-mesh ca init --dir` writes: ca-key.pem, ca-cert.pem,
 * trust-bundle.pem, and ca-cross.pem during a root rotation), loaded with its
 * `loadCa` or created with `initCa` when absent, so agents and the coordinator
 * agree on the trust bundle and on rotations.
 *
 * Signing stays here (forge assembles, Node's crypto signs: native-rsa-sign.ts), because src/identity/issue.ts issues
 * only for keys it generates itself; the coordinator must certify a key it
 * never sees. forge handles RSA only, so CSRs must carry RSA keys (the
 * `coordinator` identity source generates RSA-2048). Once issue.ts can sign a
 * given public key, this file should delegate to it (ECDSA leaves included).
 * The leaf profile matches issue.ts: one URI SAN, CA:FALSE, digitalSignature +
 * keyEncipherment, serverAuth + clientAuth, SKI/AKI, notBefore backdated by
 * min(60 s, ttl/10), notAfter never past the CA's.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';
import { asForgeKey, nativeRsaKey } from '../control/native-rsa-sign.ts';
import { CA_KEY_FILE, initCa, loadCa } from '../identity/ca.ts';

export interface CaMaterial {
  /** The active root (signs leaves). */
  readonly certPem: string;
  readonly keyPem: string;
  /** Trust bundle handed to agents (default: the active root alone). */
  readonly rootsPem?: readonly string[];
  /** Intermediates sent after each leaf (the cross-signed root during a rotation). */
  readonly chainPem?: readonly string[];
}

export interface LeafRequest {
  /** The subject public key (from a verified CSR, or a key generated here). */
  readonly publicKey: forge.pki.PublicKey;
  readonly spiffeId: string;
  /** Common name; informational only (the URI SAN is the identity). */
  readonly commonName: string;
  readonly ttlMs: number;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** Wall clock, ms. */
  readonly nowMs: number;
}

export interface SignedLeaf {
  readonly certPem: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

function serialHex(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive INTEGER
  if (b[0] === 0) b[0] = 1; // no leading zero octet
  return b.toString('hex');
}

/** RSA-2048 key pair via Node's crypto, as PKCS#1 PEM that forge can read. */
export function generateRsaKeyPem(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** An in-memory root for `trustDomain` (tests, fixtures): Node's fast keygen. `--ca-dir` goes through initCa instead. */
export function createRootCa(trustDomain: string, nowMs = Date.now()): CaMaterial {
  const { privateKeyPem, publicKeyPem } = generateRsaKeyPem();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  cert.serialNumber = serialHex();
  cert.validity.notBefore = new Date(nowMs - 60_000);
  cert.validity.notAfter = new Date(nowMs + 10 * 365 * 24 * 3600_000);
  const attrs = [{ name: 'commonName', value: `aim-mesh root CA ${trustDomain}` }, { name: 'organizationName', value: 'aim-mesh' }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectAltName', altNames: [{ type: 6, value: `spiffe://${trustDomain}` }] },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(asForgeKey(nativeRsaKey(privateKeyPem)), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: privateKeyPem };
}

/** Load the CA in `dir` (src/identity/ca.ts layout), creating one for `trustDomain` when there is none. */
export async function loadOrCreateCa(dir: string, trustDomain: string): Promise<CaMaterial & { created: boolean }> {
  const created = !await exists(join(dir, CA_KEY_FILE));
  const ca = created ? await initCa(dir, { trustDomain }) : await loadCa(dir, { trustDomain });
  return { certPem: ca.certPem, keyPem: ca.keyPem, rootsPem: ca.rootsPem, chainPem: ca.chainPem, created };
}

export class Signer {
  readonly #caCert: forge.pki.Certificate;
  readonly #caKey: forge.pki.rsa.PrivateKey;
  readonly #rootsPem: readonly string[];
  readonly #chainPem: readonly string[];

  constructor(ca: CaMaterial) {
    this.#caCert = forge.pki.certificateFromPem(ca.certPem);
    this.#caKey = asForgeKey(nativeRsaKey(ca.keyPem));
    this.#rootsPem = ca.rootsPem?.length ? ca.rootsPem : [forge.pki.certificateToPem(this.#caCert)];
    this.#chainPem = ca.chainPem ?? [];
  }

  /** The trust bundle handed to agents (every root accepted now). */
  rootsPem(): readonly string[] { return this.#rootsPem; }

  /** Intermediates to send after each leaf. */
  chainPem(): readonly string[] { return this.#chainPem; }

  sign(req: LeafRequest): SignedLeaf {
    if (!(req.ttlMs >= 1000)) throw new RangeError('leaf ttl must be at least 1 s');
    const cert = forge.pki.createCertificate();
    cert.publicKey = req.publicKey;
    cert.serialNumber = serialHex();
    // Backdate a little for clock skew between coordinator and agents, but never
    // by more than a tenth of the lifetime (tests use leaves of a few seconds).
    const skew = Math.min(60_000, Math.floor(req.ttlMs / 10));
    // X.509 times have whole seconds; round here so what we report is what is encoded.
    cert.validity.notBefore = new Date(Math.floor((req.nowMs - skew) / 1000) * 1000);
    cert.validity.notAfter = new Date(Math.min(Math.floor((req.nowMs + req.ttlMs) / 1000) * 1000, this.#caCert.validity.notAfter.getTime()));
    cert.setSubject([{ name: 'commonName', value: req.commonName.slice(0, 64) }]);
    cert.setIssuer(this.#caCert.subject.attributes);
    const altNames: { type: number; value?: string; ip?: string }[] = [{ type: 6, value: req.spiffeId }];
    for (const d of req.dnsNames ?? []) altNames.push({ type: 2, value: d });
    for (const ip of req.ipAddresses ?? []) altNames.push({ type: 7, ip });
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames },
      { name: 'subjectKeyIdentifier' },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.#caCert.generateSubjectKeyIdentifier().getBytes() },
    ]);
    cert.sign(this.#caKey, forge.md.sha256.create());
    return {
      certPem: forge.pki.certificateToPem(cert),
      serial: cert.serialNumber,
      notBefore: cert.validity.notBefore,
      notAfter: cert.validity.notAfter,
    };
  }
}
