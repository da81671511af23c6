/**
 * The subset of JSON Patch (RFC 6902) the injector produces: `add` only, with
 * JSON Pointers (RFC 6901). The webhook returns these operations to the API
 * server; `aim-mesh inject` applies the very same ones to YAML documents
 * (manifest-yaml.ts), which is why the two can never disagree.
 */

export interface AddOp {
  readonly op: 'add';
  readonly path: string;
  readonly value: unknown;
}

export type JsonPatch = AddOp[];

/** Escape one reference token: `~` → `~0`, `/` → `~1`. */
export function escapeToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function pointer(tokens: readonly (string | number)[]): string {
  return tokens.map((t) => `/${escapeToken(String(t))}`).join('');
}

export function parsePointer(p: string): string[] {
  if (p === '') return [];
  if (!p.startsWith('/')) throw new TypeError(`JSON pointer '${p}' does not start with '/'`);
  return p.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Re-root operations under a prefix, e.g. a Deployment's `/spec/template`. */
export function prefixPatch(prefix: string, ops: JsonPatch): JsonPatch {
  return ops.map((o) => ({ ...o, path: `${prefix}${o.path}` }));
}
