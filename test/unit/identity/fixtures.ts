/**
 * Identity test fixtures: temporary CAs, well-formed and deliberately broken
 * certificates, an IdentitySource the test drives by hand, and small TLS
 * helpers (real sockets on 127.0.0.1, port 0). Keys are generated per run.
 */
import { createHash, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier, AttributeTypeAndValue, AttributeValue, AuthorityKeyIdentifier, BasicConstraints,
  Certificate, ExtendedKeyUsage, Extension, Extensions, GeneralName, KeyIdentifier, KeyUsage, Name,
  RelativeDistinguishedName, SubjectAlternativeName, SubjectKeyIdentifier, SubjectPublicKeyInfo,
  TBSCertificate, Validity, Version, id_ce_authorityKeyIdentifier, id_ce_basicConstraints,
  id_ce_extKeyUsage, id_ce_keyUsage, id_ce_subjectAltName, id_ce_subjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import { initCa, randomSerialHex, type LocalCa } from '../../../src/identity/ca.ts';
import { EKU_CLIENT_AUTH, EKU_SERVER_AUTH, KU } from '../../../src/identity/cert-facts.ts';
import { issueLeaf, type IssueOptions } from '../../../src/identity/issue.ts';
import type { IdentityLog } from '../../../src/identity/log.ts';
import { materialFromPem } from '../../../src/identity/material.ts';
import { derToPem, pemToDer } from '../../../src/identity/pem.ts';
import type { IdentityMaterial, IdentitySource } from '../../../src/identity/types.ts';

export const idOf = (svc: string, td = 'aim.local') => `spiffe://${td}/ns/default/dc/dc1/svc/${svc}`;

interface Teardown { teardown(fn: () => unknown): void }

export async function tempDir(t: Teardown, prefix = 'aim-id-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export async function makeCa(t: Teardown, trustDomain = 'aim.local'): Promise<LocalCa> {
  return initCa(await tempDir(t, 'aim-ca-'), { trustDomain });
}

/** A logger that records lines, for asserting "with a log line". */
export function captureLog(): IdentityLog & { lines: Array<{ level: string; msg: string; obj: object }> } {
  const lines: Array<{ level: string; msg: string; obj: object }> = [];
  return {
    lines,
    info: (obj, msg) => { lines.push({ level: 'info', msg, obj }); },
    warn: (obj, msg) => { lines.push({ level: 'warn', msg, obj }); },
    error: (obj, msg) => { lines.push({ level: 'error', msg, obj }); },
  };
}

export const quietLog: IdentityLog = { info() {}, warn() {}, error() {} };

/** A valid leaf + material for `spiffeId`, signed by `ca`. */
export function leafMaterial(ca: LocalCa, spiffeId: string, opts: Partial<IssueOptions> = {}): IdentityMaterial {
  const leaf = issueLeaf(ca, { spiffeId, ttlMs: 3_600_000, ...opts });
  return materialFromPem({ keyPem: leaf.keyPem, certChainPem: [leaf.certPem, ...ca.chainPem].join(''), rootsPem: ca.rootsPem });
}

export interface CraftSpec {
  uris?: readonly string[];
  dns?: readonly string[];
  isCa?: boolean;
  /** KU bits; null = no keyUsage extension. */
  keyUsage?: number | null;
  /** EKU OIDs; null = no extKeyUsage extension. */
  eku?: readonly string[] | null;
  notBefore?: Date;
  notAfter?: Date;
  /** Add an unknown extension marked critical. */
  unknownCritical?: boolean;
  /** Repeat the SAN extension. */
  duplicateSan?: boolean;
  commonName?: string;
}

/**
 * A certificate shaped exactly as `spec` says, signed by `signer`; nothing is
 * validated, so it can be as broken as a test needs. EC P-256 key.
 */
export function craftCert(signer: { keyPem: string; certPem: string }, spec: CraftSpec): { keyPem: string; certPem: string } {
  const ab = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  const ext = (id: string, critical: boolean, v: unknown) => new Extension({ extnID: id, critical, extnValue: new OctetString(AsnConvert.serialize(v)) });
  const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = AsnConvert.parse(pair.publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
  const issuer = AsnConvert.parse(pemToDer(signer.certPem), Certificate);
  const caKey = createPrivateKey(signer.keyPem);
  const alg = caKey.asymmetricKeyType === 'rsa'
    ? new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.11', parameters: null })
    : new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' });
  const now = Date.now();
  const exts: Extension[] = [ext(id_ce_basicConstraints, true, new BasicConstraints({ cA: spec.isCa ?? false }))];
  if (spec.keyUsage !== null) exts.push(ext(id_ce_keyUsage, true, new KeyUsage(spec.keyUsage ?? KU.digitalSignature)));
  if (spec.eku !== null) exts.push(ext(id_ce_extKeyUsage, false, new ExtendedKeyUsage([...(spec.eku ?? [EKU_SERVER_AUTH, EKU_CLIENT_AUTH])])));
  const names = [...(spec.uris ?? []).map((u) => new GeneralName({ uniformResourceIdentifier: u })), ...(spec.dns ?? []).map((d) => new GeneralName({ dNSName: d }))];
  if (names.length > 0) {
    exts.push(ext(id_ce_subjectAltName, false, new SubjectAlternativeName(names)));
    if (spec.duplicateSan) exts.push(ext(id_ce_subjectAltName, false, new SubjectAlternativeName(names)));
  }
  const skid = createHash('sha1').update(new Uint8Array(spki.subjectPublicKey)).digest();
  exts.push(ext(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(ab(skid))));
  const issuerSki = issuer.tbsCertificate.extensions?.find((e) => e.extnID === id_ce_subjectKeyIdentifier);
  if (issuerSki) {
    const kid = AsnConvert.parse(issuerSki.extnValue.buffer, SubjectKeyIdentifier);
    exts.push(ext(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(kid.buffer) })));
  }
  if (spec.unknownCritical) exts.push(ext('1.3.6.1.4.1.99999.1', true, new OctetString(new Uint8Array([1]))));
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: ab(Buffer.from(randomSerialHex(), 'hex')),
    signature: alg,
    issuer: issuer.tbsCertificate.subject,
    validity: new Validity({ notBefore: spec.notBefore ?? new Date(now - 60_000), notAfter: spec.notAfter ?? new Date(now + 3_600_000) }),
    subject: new Name([new RelativeDistinguishedName([
      new AttributeTypeAndValue({ type: '2.5.4.3', value: new AttributeValue({ utf8String: spec.commonName ?? 'crafted' }) }),
    ])]),
    subjectPublicKeyInfo: spki,
    extensions: new Extensions(exts),
  });
  const sig = sign('sha256', Buffer.from(AsnConvert.serialize(tbs)), caKey);
  const der = AsnConvert.serialize(new Certificate({ tbsCertificate: tbs, signatureAlgorithm: alg, signatureValue: ab(sig) }));
  return { keyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, certPem: derToPem(new Uint8Array(der)) };
}

/** An IdentitySource the test drives: `set()` publishes like a rotation. */
export class TestSource implements IdentitySource {
  readonly kind = 'test';
  #m: IdentityMaterial;
  readonly #listeners = new Set<(m: IdentityMaterial) => void>();
  constructor(m: IdentityMaterial) { this.#m = m; }
  async start() { return this.#m; }
  current() { return this.#m; }
  onUpdate(l: (m: IdentityMaterial) => void) { this.#listeners.add(l); return () => { this.#listeners.delete(l); }; }
  async renew() { return this.#m; }
  async close() { this.#listeners.clear(); }
  set(m: IdentityMaterial) { this.#m = m; for (const l of this.#listeners) l(m); }
}

/** Listen on 127.0.0.1:0; closed (with its connections) at teardown. */
export async function listen(t: Teardown, server: tls.Server): Promise<number> {
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => { sockets.add(s); s.once('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { server.close(() => r()); for (const s of sockets) s.destroy(); }));
  return (server.address() as AddressInfo).port;
}

export type DialOutcome = { ok: true; data: string; socket: tls.TLSSocket } | { ok: false; err: Error & { code?: string } };

/** Run one exchange on a TLS socket: wait for the server to end it, or for an error or a close. */
export function exchange(socket: tls.TLSSocket, send?: string, timeoutMs = 5000, untilLine = false): Promise<DialOutcome> {
  return new Promise((resolve) => {
    let data = '';
    const timer = setTimeout(() => { socket.destroy(); resolve({ ok: false, err: new Error('timeout') }); }, timeoutMs);
    const done = (o: DialOutcome) => { clearTimeout(timer); resolve(o); };
    socket.once('secureConnect', () => { if (send !== undefined) socket.write(send); });
    socket.on('data', (c) => {
      data += c;
      if (untilLine && data.includes('\n')) done({ ok: true, data, socket });
    });
    socket.once('end', () => done(data ? { ok: true, data, socket } : { ok: false, err: new Error('ended without data') }));
    socket.once('error', (err) => done({ ok: false, err }));
    socket.once('close', () => done(data ? { ok: true, data, socket } : { ok: false, err: new Error('closed without data') }));
  });
}
