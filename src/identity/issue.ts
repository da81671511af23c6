/**
 * Leaf issuance: a short-lived workload certificate carrying exactly one
 * SPIFFE URI SAN, signed by a CA key.
 *
 * Keys come from node:crypto and the certificate is assembled with
 * @peculiar/asn1-x509 and signed with `crypto.sign`, all synchronous and
 * native. node-forge (ca.ts) keeps the job it does well, the RSA root, but it
 * cannot put an EC key in a certificate, and ECDSA P-256 leaves make mutual
 * handshakes cheaper (see bench/identity-handshake.ts), so they are the default.
 *
 * The profile, the same for both key types:
 *   basicConstraints CA:FALSE (critical); keyUsage digitalSignature, plus
 *   keyEncipherment for RSA (critical); extKeyUsage serverAuth + clientAuth;
 *   subjectAltName = the SPIFFE ID (+ optional DNS names); SKI and AKI;
 *   subject CN = the service name; notBefore backdated by min(60 s, ttl/10);
 *   notAfter never beyond the CA's own notAfter.
 */
import { createHash, createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier, AttributeTypeAndValue, AttributeValue, AuthorityKeyIdentifier, BasicConstraints,
  Certificate, ExtendedKeyUsage, Extension, Extensions, GeneralName, KeyIdentifier, KeyUsage, Name,
  RelativeDistinguishedName, SubjectAlternativeName, SubjectKeyIdentifier, SubjectPublicKeyInfo,
  TBSCertificate, Validity, Version,
  id_ce_authorityKeyIdentifier, id_ce_basicConstraints, id_ce_extKeyUsage, id_ce_keyUsage,
  id_ce_subjectAltName, id_ce_subjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import { EKU_CLIENT_AUTH, EKU_SERVER_AUTH, KU, readCertFacts } from './cert-facts.ts';
import { randomSerialHex } from './ca.ts';
import { derToPem, pemToDer } from './pem.ts';
import { parseSpiffeId } from './spiffe.ts';

export type LeafKeyType = 'ecdsa-p256' | 'rsa-2048';

/** What signs a leaf: the CA's key and certificate (PEM). */
export interface CaSigner {
  readonly keyPem: string;
  readonly certPem: string;
}

export interface IssueOptions {
  /** The leaf's SPIFFE ID (Consul service form). */
  readonly spiffeId: string;
  /** Lifetime from now, in ms (at least 1000). */
  readonly ttlMs: number;
  readonly keyType?: LeafKeyType;
  /** Extra DNS SANs (off by default: agents verify the SPIFFE ID, not names). */
  readonly dnsNames?: readonly string[];
  /** Epoch ms used as "now" (tests). */
  readonly now?: number;
  /** Override notBefore / notAfter outright (tests that need expired or future certs). */
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

export interface IssuedLeaf {
  readonly keyPem: string;
  readonly certPem: string;
  readonly spiffeId: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

const OID_CN = '2.5.4.3';
const SIG_RSA_SHA256 = '1.2.840.113549.1.1.11';
const SIG_ECDSA_SHA256 = '1.2.840.10045.4.3.2';

function ext(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

function keyId(spki: SubjectPublicKeyInfo): ArrayBuffer {
  const digest = createHash('sha1').update(new Uint8Array(spki.subjectPublicKey)).digest();
  return digest.buffer.slice(digest.byteOffset, digest.byteOffset + digest.byteLength) as ArrayBuffer;
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

function signatureAlgorithm(key: KeyObject): AlgorithmIdentifier {
  if (key.asymmetricKeyType === 'rsa') return new AlgorithmIdentifier({ algorithm: SIG_RSA_SHA256, parameters: null });
  if (key.asymmetricKeyType === 'ec') return new AlgorithmIdentifier({ algorithm: SIG_ECDSA_SHA256 });
  throw new Error(`unsupported CA key type ${key.asymmetricKeyType}`);
}

/** Issue a leaf for `opts.spiffeId`, signed by `ca`. Throws on an invalid ID or TTL. */
export function issueLeaf(ca: CaSigner, opts: IssueOptions): IssuedLeaf {
  const parsed = parseSpiffeId(opts.spiffeId);
  if (!parsed.ok) throw new RangeError(`cannot issue for ${JSON.stringify(opts.spiffeId)}: ${parsed.error}`);
  if (!Number.isFinite(opts.ttlMs) || opts.ttlMs < 1000) throw new RangeError('leaf ttl must be at least 1s');
  const keyType = opts.keyType ?? 'ecdsa-p256';

  const caKey = createPrivateKey(ca.keyPem);
  const caDer = pemToDer(ca.certPem);
  const caCert = AsnConvert.parse(caDer, Certificate);
  const caFacts = readCertFacts(caDer);

  const now = opts.now ?? Date.now();
  const notBefore = opts.notBefore ?? new Date(now - Math.min(60_000, Math.floor(opts.ttlMs / 10)));
  const notAfter = opts.notAfter ?? new Date(Math.min(now + opts.ttlMs, caFacts.notAfter));

  const pair = keyType === 'ecdsa-p256'
    ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = AsnConvert.parse(pair.publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);

  const caSkiExt = caCert.tbsCertificate.extensions?.find((e) => e.extnID === id_ce_subjectKeyIdentifier);
  const caKeyId = caSkiExt
    ? AsnConvert.parse(caSkiExt.extnValue.buffer, SubjectKeyIdentifier).buffer
    : keyId(caCert.tbsCertificate.subjectPublicKeyInfo);

  const san = new SubjectAlternativeName([
    new GeneralName({ uniformResourceIdentifier: opts.spiffeId }),
    ...(opts.dnsNames ?? []).map((d) => new GeneralName({ dNSName: d })),
  ]);
  const usage = KU.digitalSignature | (keyType === 'rsa-2048' ? KU.keyEncipherment : 0);
  const alg = signatureAlgorithm(caKey);
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: toArrayBuffer(Buffer.from(randomSerialHex(), 'hex')),
    signature: alg,
    issuer: caCert.tbsCertificate.subject,
    validity: new Validity({ notBefore, notAfter }),
    subject: new Name([new RelativeDistinguishedName([
      new AttributeTypeAndValue({ type: OID_CN, value: new AttributeValue({ utf8String: parsed.id.service }) }),
    ])]),
    subjectPublicKeyInfo: spki,
    extensions: new Extensions([
      ext(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
      ext(id_ce_keyUsage, true, new KeyUsage(usage)),
      ext(id_ce_extKeyUsage, false, new ExtendedKeyUsage([EKU_SERVER_AUTH, EKU_CLIENT_AUTH])),
      ext(id_ce_subjectAltName, false, san),
      ext(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyId(spki))),
      ext(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(caKeyId) })),
    ]),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const signature = sign('sha256', tbsDer, caKey);
  const certDer = AsnConvert.serialize(new Certificate({
    tbsCertificate: tbs, signatureAlgorithm: alg, signatureValue: toArrayBuffer(signature),
  }));
  const certPem = derToPem(new Uint8Array(certDer));
  const facts = readCertFacts(pemToDer(certPem));
  return {
    keyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    certPem,
    spiffeId: opts.spiffeId,
    serial: facts.serial,
    notBefore: new Date(facts.notBefore),
    notAfter: new Date(facts.notAfter),
  };
}
