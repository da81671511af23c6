/**
 * The local CA: a root key and self-signed root certificate made with
 * node-forge, kept in a directory together with the trust bundle.
 *
 * Directory layout (what `aim-mesh ca init --dir certs/` writes):
 *   ca-key.pem        the active root's private key (mode 0600, never committed)
 *   ca-cert.pem       the active root certificate
 *   trust-bundle.pem  every root accepted now: the active one, plus the previous
 *                     ones during a root rotation (`rotateCa`), until `pruneCa`
 *   ca-cross.pem      during a rotation only: the active root cross-signed by the
 *                     previous root. Leaves carry it as an intermediate, so a peer
 *                     that has not yet seen the new bundle still verifies them
 *                     (leaf → cross → old root), as Consul's CA rotation does.
 *   .gitignore        ignores `*key.pem`, so a key cannot be committed by accident
 *
 * A rotation therefore has no failure window: old leaves chain to the old root
 * (still in every bundle), new leaves chain to either root. `pruneCa` ends it
 * once every leaf has been renewed (one leaf lifetime later).
 *
 * The root carries the trust-domain ID `spiffe://<td>` as its URI SAN (as
 * Consul's roots do), which is how `loadCa` learns the trust domain.
 * Files are written to a temporary name and renamed, so a reader (the local-ca
 * source watches the directory) never sees half a file.
 */
import { createPrivateKey, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as Forge from 'node-forge';
import { CA_CERT_FILE, CA_CROSS_FILE, CA_KEY_FILE, TRUST_BUNDLE_FILE } from './ca-files.ts';
import { readCertFacts } from './cert-facts.ts';
import { pemToDer, splitPemCertificates } from './pem.ts';
import { splitSpiffeUri, trustDomainId } from './spiffe.ts';

/**
 * node-forge (~0.9 MB of module source, kept in every process that loads it) is
 * required on first use: only creating or rotating a root needs it, and an agent
 * that loads an existing CA signs its leaves with node:crypto (issue.ts).
 */
let forgeModule: typeof Forge | undefined;
const forge = (): typeof Forge => (forgeModule ??= createRequire(import.meta.url)('node-forge') as typeof Forge);

export { CA_CERT_FILE, CA_CROSS_FILE, CA_KEY_FILE, TRUST_BUNDLE_FILE } from './ca-files.ts';

export interface LocalCa {
  readonly dir: string;
  /** PEM private key of the active root. */
  readonly keyPem: string;
  /** PEM certificate of the active root. */
  readonly certPem: string;
  /** The trust bundle, active root included. */
  readonly rootsPem: readonly string[];
  /** Intermediates to send after each leaf: the cross-signed active root during a rotation, else empty. */
  readonly chainPem: readonly string[];
  readonly trustDomain: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface CreateRootOptions {
  readonly trustDomain?: string;
  /** Root lifetime in days (default 3650). */
  readonly validityDays?: number;
  /** RSA modulus size (default 2048). */
  readonly keyBits?: number;
  /** Epoch ms used as "now" (tests). */
  readonly now?: number;
}

export interface InitCaOptions extends CreateRootOptions {
  /** Overwrite an existing CA in `dir` (default false: refuse). */
  readonly force?: boolean;
}

/** A positive 128-bit serial in hex (high bit cleared, never a leading zero byte). */
export function randomSerialHex(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b.toString('hex');
}

/** Generate a root key and self-signed root certificate (pure apart from randomness). */
export function createRoot(opts: CreateRootOptions = {}): { keyPem: string; certPem: string } {
  const td = opts.trustDomain ?? 'aim.local';
  const now = opts.now ?? Date.now();
  const { pki, md } = forge();
  const keys = pki.rsa.generateKeyPair({ bits: opts.keyBits ?? 2048, e: 0x10001 });
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = new Date(now - 60_000);
  cert.validity.notAfter = new Date(now + (opts.validityDays ?? 3650) * 86_400_000);
  const name = [
    { name: 'organizationName', value: 'aim-mesh' },
    { name: 'commonName', value: `aim-mesh root CA ${td} ${cert.serialNumber.slice(0, 8)}` },
  ];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'subjectAltName', altNames: [{ type: 6, value: trustDomainId(td) }] },
  ]);
  cert.sign(keys.privateKey, md.sha256.create());
  return { keyPem: pki.privateKeyToPem(keys.privateKey), certPem: pki.certificateToPem(cert) };
}

/** The new root's key and name, certified by the old root: the bridge peers with the old bundle use. */
export function crossSign(newRootPem: string, oldRoot: { keyPem: string; certPem: string }): string {
  const { pki, md } = forge();
  const nr = pki.certificateFromPem(newRootPem);
  const or = pki.certificateFromPem(oldRoot.certPem);
  const cert = pki.createCertificate();
  cert.publicKey = nr.publicKey;
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = nr.validity.notBefore;
  cert.validity.notAfter = new Date(Math.min(nr.validity.notAfter.getTime(), or.validity.notAfter.getTime()));
  cert.setSubject(nr.subject.attributes);
  cert.setIssuer(or.subject.attributes);
  const san = nr.getExtension('subjectAltName') as { altNames?: Array<{ type: number; value: string }> } | null;
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: or.generateSubjectKeyIdentifier().getBytes() },
    ...(san?.altNames ? [{ name: 'subjectAltName', altNames: san.altNames }] : []),
  ]);
  cert.sign(pki.privateKeyFromPem(oldRoot.keyPem), md.sha256.create());
  return pki.certificateToPem(cert);
}

async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, path);
}

async function exists(path: string): Promise<boolean> {
  try { await readFile(path); return true; } catch { return false; }
}

/** Create a new CA in `dir`. Refuses to overwrite an existing key unless `force`. */
export async function initCa(dir: string, opts: InitCaOptions = {}): Promise<LocalCa> {
  await mkdir(dir, { recursive: true });
  if (!opts.force && await exists(join(dir, CA_KEY_FILE))) {
    throw new Error(`a CA already exists in ${dir} (${CA_KEY_FILE}); use --force to replace it`);
  }
  const root = createRoot(opts);
  if (!await exists(join(dir, '.gitignore'))) await writeAtomic(join(dir, '.gitignore'), '*key.pem\n*.tmp\n', 0o644);
  await writeAtomic(join(dir, TRUST_BUNDLE_FILE), root.certPem, 0o644);
  await writeAtomic(join(dir, CA_KEY_FILE), root.keyPem, 0o600);
  await writeAtomic(join(dir, CA_CERT_FILE), root.certPem, 0o644);
  return loadCa(dir, { trustDomain: opts.trustDomain });
}

/**
 * Start a root rotation: a new root becomes active and is added to the bundle,
 * which keeps the old roots so leaves they signed stay valid during the overlap.
 * The bundle is written first, so every reader that sees the new root trusts it.
 */
export async function rotateCa(dir: string, opts: CreateRootOptions = {}): Promise<LocalCa> {
  const current = await loadCa(dir, { trustDomain: opts.trustDomain });
  const root = createRoot({ ...opts, trustDomain: current.trustDomain });
  const cross = crossSign(root.certPem, current);
  await writeAtomic(join(dir, TRUST_BUNDLE_FILE), [...current.rootsPem, root.certPem].join(''), 0o644);
  await writeAtomic(join(dir, CA_CROSS_FILE), cross, 0o644);
  await writeAtomic(join(dir, CA_KEY_FILE), root.keyPem, 0o600);
  await writeAtomic(join(dir, CA_CERT_FILE), root.certPem, 0o644);
  return loadCa(dir);
}

/** End a root rotation: the bundle keeps only the active root. */
export async function pruneCa(dir: string): Promise<LocalCa> {
  const current = await loadCa(dir);
  await writeAtomic(join(dir, TRUST_BUNDLE_FILE), current.certPem, 0o644);
  await rm(join(dir, CA_CROSS_FILE), { force: true });
  return loadCa(dir);
}

/**
 * Read a CA directory. The trust domain comes from the root's `spiffe://<td>`
 * URI SAN, else from `opts.trustDomain`. Throws when files are missing, the key
 * does not match the certificate, or the bundle lacks the active root.
 */
export async function loadCa(dir: string, opts: { trustDomain?: string | undefined } = {}): Promise<LocalCa> {
  const [keyPem, certText, bundleText, crossText] = await Promise.all([
    readFile(join(dir, CA_KEY_FILE), 'utf8'),
    readFile(join(dir, CA_CERT_FILE), 'utf8'),
    readFile(join(dir, TRUST_BUNDLE_FILE), 'utf8'),
    readFile(join(dir, CA_CROSS_FILE), 'utf8').catch(() => ''),
  ]);
  const certPem = splitPemCertificates(certText)[0];
  if (certPem === undefined) throw new Error(`${join(dir, CA_CERT_FILE)} holds no certificate`);
  const facts = readCertFacts(pemToDer(certPem));
  if (!facts.isCa) throw new Error(`${join(dir, CA_CERT_FILE)} is not a CA certificate`);
  if (!facts.x509.checkPrivateKey(createPrivateKey(keyPem))) {
    throw new Error(`${join(dir, CA_KEY_FILE)} does not match ${CA_CERT_FILE}`);
  }
  const rootsPem = splitPemCertificates(bundleText);
  if (!rootsPem.some((r) => readCertFacts(pemToDer(r)).fingerprint === facts.fingerprint)) {
    throw new Error(`${join(dir, TRUST_BUNDLE_FILE)} does not contain the active root`);
  }
  // A cross-signed copy only helps while it certifies the active root's key; a stale one is ignored.
  const chainPem = splitPemCertificates(crossText).filter((c) => {
    const f = readCertFacts(pemToDer(c));
    return f.isCa && f.x509.publicKey.equals(facts.x509.publicKey);
  });
  let trustDomain: string | undefined;
  for (const uri of facts.uris) {
    const s = splitSpiffeUri(uri);
    if (s.ok && s.segments.length === 0) trustDomain = s.trustDomain;
  }
  trustDomain ??= opts.trustDomain;
  if (trustDomain === undefined) throw new Error(`${join(dir, CA_CERT_FILE)} names no trust domain; configure identity.trust_domain`);
  if (opts.trustDomain !== undefined && opts.trustDomain !== trustDomain) {
    throw new Error(`CA in ${dir} is for trust domain ${trustDomain}, not ${opts.trustDomain}`);
  }
  return {
    dir, keyPem, certPem, rootsPem, chainPem, trustDomain,
    serial: facts.serial, notBefore: new Date(facts.notBefore), notAfter: new Date(facts.notAfter),
  };
}
