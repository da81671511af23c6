/**
 * YAML + zod, with errors a person can act on: every problem names the file,
 * the key path, the value found (with its line) and what was expected.
 * All problems are collected and reported together, not just the first.
 */
import { CORE_SCHEMA, load as loadYaml, YAMLException } from 'js-yaml';
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

/**
 * Above this size a failed file is explained without the `yaml` Document (its node tree and line counter
 * make ~100x the text in garbage: ~200 MB for a 10,000-service registry, which V8 then keeps as heap):
 * the issues still name the file and the key path (and the line for syntax errors), without schema-error lines.
 */
const EXPLAIN_WITH_DOCUMENT_MAX_CHARS = 512 * 1024;

/** An alias (`*name`) can only start a node: after whitespace or a flow indicator. False positives only cost speed. */
const MAY_HAVE_ALIAS = /(?:^|[\s[{,])\*/m;

/**
 * The fast read: JSON with JSON.parse; YAML with js-yaml (core schema: YAML 1.2's types, like the `yaml`
 * package's default), which builds the objects directly: ~20x faster and ~13x less RSS growth than `yaml` on a
 * 10,000-service registry (bench/results/registry-scale.md). js-yaml shares an aliased node instead of
 * copying it, so schema validation would walk an alias bomb exponentially: a text that may hold an alias is
 * read by `yaml`, whose maxAliasCount bounds the expansion.
 */
function readFast(text: string, file: string): unknown {
  if (text.trimStart().startsWith('{')) {
    try { return JSON.parse(text); } catch { /* a YAML flow mapping, or invalid: read as YAML below */ }
  }
  if (MAY_HAVE_ALIAS.test(text)) return parse(text, { uniqueKeys: true, maxAliasCount: 100 });
  return loadYaml(text, { schema: CORE_SCHEMA, filename: file });
}

function syntaxIssue(err: unknown, file: string): ConfigIssue {
  const e = err as { mark?: { line?: number }; reason?: string; linePos?: Array<{ line: number }>; message?: string };
  const line = e.mark?.line !== undefined ? e.mark.line + 1 : e.linePos?.[0]?.line;
  const expected = (err instanceof YAMLException ? e.reason : undefined) ?? String(e.message ?? err).split('\n')[0]!;
  return { file, path: '', line, value: 'invalid YAML', expected };
}

export function parseYamlWithSchema<S extends z.ZodType>(text: string, file: string, schema: S): z.infer<S> {
  // Fast path: read + validate. The `yaml` Document with its node tree and line counter (several times
  // the text's size) is built only to explain errors, and only for files up to EXPLAIN_WITH_DOCUMENT_MAX_CHARS.
  let quickRaw: unknown;
  let quickSyntax: ConfigIssue | undefined;
  try {
    quickRaw = readFast(text, file) ?? {};
  } catch (err) {
    quickSyntax = syntaxIssue(err, file);
  }
  if (quickSyntax === undefined) {
    const quick = schema.safeParse(quickRaw);
    if (quick.success) return quick.data;
    if (text.length > EXPLAIN_WITH_DOCUMENT_MAX_CHARS) throw new ConfigError(zodIssues(quick.error, file, quickRaw));
  } else if (text.length > EXPLAIN_WITH_DOCUMENT_MAX_CHARS) {
    throw new ConfigError([quickSyntax]);
  }
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
