/**
 * A minimal ASN.1 DER encoder: just enough to build X.509 certificates for
 * the Consul-API test server's CA (roots and SPIFFE leaves) with node:crypto
 * doing the keys and signatures. @peculiar/x509 needs a reflect-metadata
 * polyfill that is not installed, and node-forge cannot sign with EC keys.
 */

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), len(content.length), content]);
}

export const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
export const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
export const nul = (): Buffer => Buffer.from([0x05, 0x00]);
export const bool = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));
export const octets = (b: Buffer): Buffer => tlv(0x04, b);
export const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
/** Context-specific explicit (constructed) tag [n]. */
export const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner);
/** Context-specific implicit primitive tag [n] (GeneralName uri = 6, dNSName = 2, keyIdentifier = 0). */
export const implicit = (n: number, raw: Buffer): Buffer => tlv(0x80 | n, raw);

/** Unsigned big-endian integer (serial numbers, versions). */
export function uint(b: Buffer | number): Buffer {
  let bytes = typeof b === 'number' ? Buffer.from(b.toString(16).padStart(2, '0').replace(/^(.(..)*)$/, '0$1'), 'hex') : b;
  while (bytes.length > 1 && bytes[0] === 0 && (bytes[1]! & 0x80) === 0) bytes = bytes.subarray(1);
  if ((bytes[0]! & 0x80) !== 0) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(0x02, bytes);
}

export function bits(b: Buffer, unused = 0): Buffer {
  return tlv(0x03, Buffer.concat([Buffer.from([unused]), b]));
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const stack: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) stack.unshift((v & 0x7f) | 0x80);
    out.push(...stack);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime before 2050, GeneralizedTime after (RFC 5280 §4.1.2.5). */
export function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  if (d.getUTCFullYear() < 2050) return tlv(0x17, Buffer.from(iso.slice(2), 'ascii'));
  return tlv(0x18, Buffer.from(iso, 'ascii'));
}

/** A Name with a single CN. */
export function cnName(cn: string): Buffer {
  return seq(set(seq(oid('2.5.4.3'), utf8(cn))));
}
