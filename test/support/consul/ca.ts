/**
 * The test server's Connect CA: an EC P-256 root (or several, during a
 * rotation) and SPIFFE leaf certificates, built the way Consul's built-in CA
 * builds them (agent/connect/ca/provider_consul.go, agent/connect/uri*.go):
 * root with URI SAN `spiffe://<trust-domain>`, leaf with URI SAN
 * `spiffe://<td>/ns/default/dc/<dc>/svc/<service>`, EKU serverAuth+clientAuth.
 * Roots and leaves are real certificates that node:tls accepts.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { bits, bool, cnName, explicit, implicit, octets, oid, seq, time, uint } from './der.ts';

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

export interface CaRoot {
  ID: string;
  Name: string;
  SerialNumber: number;
  SigningKeyID: string;
  ExternalTrustDomain: string;
  NotBefore: string;
  NotAfter: string;
  RootCert: string;
  IntermediateCerts: string[] | null;
  Active: boolean;
  PrivateKeyType: 'ec';
  PrivateKeyBits: 256;
  CreateIndex: number;
  ModifyIndex: number;
  /** Not on the wire. */
  key: KeyObject;
  keyId: Buffer;
  subject: Buffer;
}

export interface IssuedLeaf {
  SerialNumber: string;
  CertPEM: string;
  PrivateKeyPEM: string;
  Service: string;
  ServiceURI: string;
  ValidAfter: string;
  ValidBefore: string;
  Namespace: string;
  CreateIndex: number;
  ModifyIndex: number;
  /** Not on the wire: which root signed it, and when to renew. */
  rootId: string;
  notAfterMs: number;
  renewAtMs: number;
}

export function colonHex(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function keyId(pub: KeyObject): Buffer {
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest();
}

function ext(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

interface CertSpec {
  serial: Buffer;
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  publicKey: KeyObject;
  signingKey: KeyObject;
  extensions: Buffer[];
}

function buildCert(spec: CertSpec): string {
  const tbs = seq(
    explicit(0, uint(2)),
    uint(spec.serial),
    ECDSA_SHA256,
    spec.issuer,
    seq(time(spec.notBefore), time(spec.notAfter)),
    spec.subject,
    spec.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, seq(...spec.extensions)),
  );
  const sig = sign('sha256', tbs, spec.signingKey);
  const der = seq(tbs, ECDSA_SHA256, bits(sig));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

const sanUri = (uri: string): Buffer => seq(implicit(6, Buffer.from(uri, 'ascii')));

export function createRoot(opts: { trustDomain: string; serial: number; index: number; validMs?: number }): CaRoot {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const kid = keyId(publicKey);
  const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
  const notAfter = new Date(notBefore.getTime() + (opts.validMs ?? 10 * 365 * 86_400_000));
  const name = cnName(`Consul CA ${opts.serial}`);
  const pem = buildCert({
    serial: uint(opts.serial).subarray(2), issuer: name, subject: name, notBefore, notAfter,
    publicKey, signingKey: privateKey,
    extensions: [
      ext('2.5.29.15', true, bits(Buffer.from([0x86]), 1)), // digitalSignature, keyCertSign, cRLSign
      ext('2.5.29.19', true, seq(bool(true))),
      ext('2.5.29.14', false, octets(kid)),
      ext('2.5.29.35', false, seq(implicit(0, kid))),
      ext('2.5.29.17', false, sanUri(`spiffe://${opts.trustDomain}`)),
    ],
  });
  const x = new X509Certificate(pem);
  return {
    ID: colonHex(createHash('sha1').update(x.raw).digest()),
    Name: 'Consul CA Root Cert',
    SerialNumber: opts.serial,
    SigningKeyID: colonHex(kid),
    ExternalTrustDomain: opts.trustDomain.replace(/\.consul$/, ''),
    NotBefore: rfc3339(notBefore),
    NotAfter: rfc3339(notAfter),
    RootCert: pem,
    IntermediateCerts: null,
    Active: true,
    PrivateKeyType: 'ec',
    PrivateKeyBits: 256,
    CreateIndex: opts.index,
    ModifyIndex: opts.index,
    key: privateKey,
    keyId: kid,
    subject: name,
  };
}

export function issueLeaf(opts: {
  root: CaRoot; trustDomain: string; datacenter: string; service: string; ttlMs: number; index: number;
  /** Fraction of the lifetime after which the agent renews; Consul picks it at random in [0.6, 0.9]. */
  renewFraction?: number;
}): IssuedLeaf {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const serial = randomBytes(8);
  serial[0] = serial[0]! & 0x7f;
  const now = Math.floor(Date.now() / 1000) * 1000;
  const notBefore = new Date(now - 60_000);
  const notAfter = new Date(now + opts.ttlMs);
  const uri = `spiffe://${opts.trustDomain}/ns/default/dc/${opts.datacenter}/svc/${opts.service}`;
  const pem = buildCert({
    serial, issuer: opts.root.subject, subject: cnName(opts.service), notBefore, notAfter,
    publicKey, signingKey: opts.root.key,
    extensions: [
      ext('2.5.29.15', true, bits(Buffer.from([0xb8]), 3)), // digitalSignature, keyEncipherment, dataEncipherment, keyAgreement
      ext('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.2'), oid('1.3.6.1.5.5.7.3.1'))),
      ext('2.5.29.19', true, seq()),
      ext('2.5.29.14', false, octets(keyId(publicKey))),
      ext('2.5.29.35', false, seq(implicit(0, opts.root.keyId))),
      ext('2.5.29.17', false, sanUri(uri)),
    ],
  });
  const frac = opts.renewFraction ?? 0.6 + Math.random() * 0.3;
  return {
    SerialNumber: colonHex(serial),
    CertPEM: pem,
    PrivateKeyPEM: privateKey.export({ type: 'sec1', format: 'pem' }).toString(),
    Service: opts.service,
    ServiceURI: uri,
    ValidAfter: rfc3339(notBefore),
    ValidBefore: rfc3339(notAfter),
    Namespace: 'default',
    CreateIndex: opts.index,
    ModifyIndex: opts.index,
    rootId: opts.root.ID,
    notAfterMs: notAfter.getTime(),
    // Certificates carry whole seconds; renewal is timed from the real clock.
    renewAtMs: Date.now() + opts.ttlMs * frac,
  };
}

export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Build a trust domain from a cluster id the way Consul does: `<uuid>.consul`. */
export function trustDomainOf(clusterId: string): string {
  return `${clusterId.toLowerCase()}.consul`;
}

