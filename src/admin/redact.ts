/**
 * Secret redaction for /config_dump. Three rules, applied to any config
 * shape (sections are added by other areas, so nothing here lists them):
 *
 *   1. a key that names a secret (token, secret, password, passphrase,
 *      private key, key material: `key`, `key_pem`, ...) has its value
 *      replaced, unless the key names a file or path (`token_file`,
 *      `key_path`: where a secret lives is not the secret);
 *   2. any string holding PEM private key material is replaced, whatever
 *      its key;
 *   3. credentials inside URLs (`redis://user:pass@host`) are replaced.
 */

export const REDACTED = '[redacted]';

const SECRET_KEY = /(^|_)(token|secret|password|passwd|passphrase|private_key|privatekey|api_key|apikey|key|key_pem|keypem|credentials?)$/i;
const PATH_KEY = /(_file|_path|_dir|_env)$/i;
const PEM_PRIVATE = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
const URL_CREDS = /^([a-z][a-z0-9+.-]*:\/\/)([^/@\s]+)@/i;

function redactString(v: string): string {
  if (PEM_PRIVATE.test(v)) return REDACTED;
  return v.replace(URL_CREDS, (_m, scheme: string) => `${scheme}${REDACTED}@`);
}

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key) && !PATH_KEY.test(key);
}

/** A deep copy of `value` with secrets replaced by "[redacted]". */
export function redact(value: unknown, key = ''): unknown {
  if (key !== '' && isSecretKey(key) && value !== undefined && value !== null && value !== '') return REDACTED;
  if (typeof value === 'string') return redactString(value);
  if (Array.isArray(value)) return value.map((v) => redact(v));
  if (value !== null && typeof value === 'object') {
    if (value instanceof Set) return [...value].map((v) => redact(v));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redact(v, k);
    return out;
  }
  return value;
}
