/**
 * YAML + zod, with errors a person can act on: every problem names the file,
 * the key path, the value found (with its line) and what was expected.
 * All problems are collected and reported together, not just the first.
 */
import { isNode, LineCounter, parse, parseDocument } from 'yaml';
import type { z } from 'zod';

export interface ConfigIssue {
  readonly file: string;
  /** Dotted key path, e.g. `upstreams[1].port`. */
  readonly path: string;
  readonly line: number | undefined;
  /** The offending value, rendered short. */
  readonly value: string;
  readonly expected: string;
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export function formatIssue(i: ConfigIssue): string {
  const where = i.line === undefined ? i.file : `${i.file}:${i.line}`;
  return `${where}: ${i.path || '(top level)'}: ${i.expected} (found ${i.value})`;
}

export function pathString(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? String(p) : `.${String(p)}`;
  return s;
}

function render(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** Turn zod issues into ConfigIssues (shared by YAML files and CLI flags). */
export function zodIssues(err: z.ZodError, file: string, raw: unknown, lineOf: (path: readonly PropertyKey[]) => number | undefined = () => undefined): ConfigIssue[] {
  return err.issues.map((iss) => {
    let path = iss.path as PropertyKey[];
    let expected = iss.message;
    if (iss.code === 'unrecognized_keys') {
      const keys = (iss as { keys: string[] }).keys;
      return { file, path: pathString([...path, keys[0]!]), line: lineOf([...path, keys[0]!]), value: render(valueAt(raw, [...path, keys[0]!])), expected: `unknown key${keys.length > 1 ? `s ${keys.join(', ')}` : ''}: not a setting here` };
    }
    expected = expected.replace(/^Invalid input: /, '');
    return { file, path: pathString(path), line: lineOf(path), value: render(valueAt(raw, path)), expected };
  });
}

export function parseYamlWithSchema<S extends z.ZodType>(text: string, file: string, schema: S): z.infer<S> {
  // Fast path: plain parse + validate. The Document with its node tree and line counter (several times
  // the text's size; a 10,000-service registry made ~200 MB of garbage) is built only to explain errors.
  // JSON is YAML too, and JSON.parse makes ~100x less garbage than a YAML parser on big files
  // (a 10,000-service registry: ~2 MB of text, ~260 MB of transient parser objects as YAML).
  try {
    const isJson = text.trimStart().startsWith('{');
    const quick = schema.safeParse((isJson ? JSON.parse(text) : parse(text, { uniqueKeys: true, maxAliasCount: 100 })) ?? {});
    if (quick.success) return quick.data;
  } catch { /* invalid YAML: explained below */ }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => ({
      file, path: '', line: e.linePos?.[0]?.line, value: 'invalid YAML', expected: e.message.split('\n')[0]!,
    })));
  }
  let raw: unknown;
  try {
    // maxAliasCount bounds alias expansion ("billion laughs"); an unresolved alias throws here too.
    raw = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    throw new ConfigError([{ file, path: '', line: undefined, value: 'invalid YAML', expected: (err as Error).message.split('\n')[0]! }]);
  }
  const res = schema.safeParse(raw);
  if (res.success) return res.data;
  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true);
      if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
    }
    return undefined;
  };
  throw new ConfigError(zodIssues(res.error, file, raw, lineOf));
}
