/**
 * A node-forge signing key backed by Node's native crypto. forge assembles
 * certificates and CSRs well but signs in pure JavaScript (~50 ms per RSA-2048
 * signature); this object has the one method forge calls, `sign(md)`, and
 * produces the same RSASSA-PKCS1-v1_5 signature natively in well under 1 ms:
 * DigestInfo(SHA-256, digest) padded with block type 1 and raised to the
 * private exponent, which is exactly what `privateEncrypt` with PKCS#1 padding
 * does.
 */
import { constants, createPrivateKey, type KeyObject, privateEncrypt } from 'node:crypto';
import type forge from 'node-forge';

// DER prefix of DigestInfo { AlgorithmIdentifier sha256, OCTET STRING (32 bytes) } (RFC 8017 §9.2 note 1).
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

export interface NativeRsaKey {
  sign(md: forge.md.MessageDigest): string;
}

/** Wrap an RSA private key (PEM or KeyObject) for forge's `cert.sign(key, sha256)` / `csr.sign(...)`. */
export function nativeRsaKey(key: string | KeyObject): NativeRsaKey {
  const k = typeof key === 'string' ? createPrivateKey(key) : key;
  if (k.asymmetricKeyType !== 'rsa') throw new TypeError(`native forge signing needs an RSA key, got ${k.asymmetricKeyType}`);
  return {
    sign(md) {
      if (md.algorithm !== 'sha256') throw new TypeError(`only SHA-256 is supported, got ${md.algorithm}`);
      const digest = Buffer.from(md.digest().getBytes(), 'binary');
      const sig = privateEncrypt({ key: k, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([SHA256_DIGEST_INFO, digest]));
      return sig.toString('binary');
    },
  };
}

/** forge's sign() takes its own key type; ours quacks the same for the one method it calls. */
export const asForgeKey = (k: NativeRsaKey): forge.pki.rsa.PrivateKey => k as unknown as forge.pki.rsa.PrivateKey;
