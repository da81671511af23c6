/**
 * Reading Consul request bodies: field lookup the way Go's JSON decoder plus
 * Consul's TranslateKeys match names (case-insensitive, snake_case accepted),
 * and the small coercions the decoders share.
 */
import { durationField } from './duration.ts';
import { badRequest } from './http.ts';

export type Obj = Record<string, unknown>;
export const norm = (k: string): string => k.replace(/_/g, '').toLowerCase();

/** Case- and underscore-insensitive field lookup, like Go's decoder + TranslateKeys. */
export function field(o: unknown, ...names: string[]): unknown {
  if (!o || typeof o !== 'object') return undefined;
  const want = new Set(names.map(norm));
  for (const [k, v] of Object.entries(o as Obj)) if (want.has(norm(k))) return v;
  return undefined;
}

export const str = (v: unknown): string => (typeof v === 'string' ? v : '');
export const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
export const obj = (v: unknown): Obj | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);

export function strMap(v: unknown): Record<string, string> | null {
  const o = obj(v);
  if (!o) return null;
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, String(x)]));
}

export function dur(o: unknown, name: string, label: string): number | undefined {
  const raw = field(o, name);
  const ms = durationField(raw);
  if (raw !== undefined && raw !== null && raw !== '' && ms === undefined) {
    throw badRequest(`Request decode failed: time: invalid duration "${String(raw)}" in ${label}`);
  }
  return ms;
}

