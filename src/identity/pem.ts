/**
 * PEM framing for certificates: split a bundle into single PEM blocks and
 * convert between PEM and DER. Only CERTIFICATE blocks are handled here; keys
 * stay PEM strings and are given to node:crypto as they are.
 */

const CERT_BLOCK_RE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every CERTIFICATE block in `text`, normalised to `\n` line ends and a trailing newline. */
export function splitPemCertificates(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(CERT_BLOCK_RE)) out.push(`${m[0].replace(/\r\n/g, '\n')}\n`);
  return out;
}

/** DER bytes of a single PEM certificate block. */
export function pemToDer(pem: string): Buffer {
  const body = pem
    .replace(/-----BEGIN CERTIFICATE-----/, '')
    .replace(/-----END CERTIFICATE-----[\s\S]*$/, '')
    .replace(/\s+/g, '');
  return Buffer.from(body, 'base64');
}

/** PEM block for DER certificate bytes (64-column base64, as OpenSSL writes it). */
export function derToPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
