/**
 * A string as a JSON string literal, quoted and escaped. Most values on a log
 * line (methods, hosts, ids) need no escaping and are quoted as they are; a
 * string holding a quote, a backslash, a control character or a UTF-16
 * surrogate goes through JSON.stringify (which escapes the first three, keeps
 * well-formed surrogate pairs and escapes lone halves).
 */
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

export function jsonString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"';
}

/** A number as JSON: non-finite numbers are written as null (as JSON.stringify and pino do). */
export function jsonNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}
