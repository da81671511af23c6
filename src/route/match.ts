/**
 * Route matching: a request's path prefix, method and headers select the
 * per-route policy (timeouts, retries, fault injection overrides) of an
 * upstream. Compiled once at config time into plain arrays, a Set of methods
 * and anchored RegExps; a match is a walk over the routes in config order,
 * first match wins (Envoy, Istio), and requests matching none get the
 * upstream's own policy. No allocation per request.
 *
 * Semantics:
 * - `prefix` is a plain string prefix of the path (the target up to '?'),
 *   as Envoy's `prefix`: "/api" matches "/api", "/api/x" and "/apix";
 *   write "/api/" to stop at a segment.
 * - `methods`: upper-case names; absent = any method.
 * - headers (all must hold): `exact`, `prefix`, `regex` (anchored: the whole
 *   value must match, as Envoy's safe_regex) against the first value of
 *   the header, or `present: true|false`; `invert` negates the rule. A
 *   missing header fails every rule but `present: false`.
 *
 * Generic over the policy type, so this file knows nothing of resilience.
 */
import type { RequestCtx } from '../core/filter.ts';

export interface HeaderMatchSpec {
  readonly name: string;
  readonly exact?: string | undefined;
  readonly prefix?: string | undefined;
  readonly regex?: string | undefined;
  readonly present?: boolean | undefined;
  readonly invert?: boolean | undefined;
}

export interface RouteSpec<P> {
  readonly name?: string | undefined;
  readonly prefix: string;
  readonly methods?: readonly string[] | undefined;
  readonly headers?: readonly HeaderMatchSpec[] | undefined;
  readonly policy: P;
}

const EXACT = 0;
const PREFIX = 1;
const REGEX = 2;
const PRESENT = 3;

interface HeaderRule {
  readonly name: string;
  readonly kind: number;
  readonly value: string;
  readonly re: RegExp | undefined;
  readonly present: boolean;
  readonly invert: boolean;
}

interface CompiledRoute<P> {
  readonly name: string;
  readonly prefix: string;
  readonly methods: ReadonlySet<string> | undefined;
  readonly headers: readonly HeaderRule[];
  readonly policy: P;
}

function compileHeader(h: HeaderMatchSpec): HeaderRule {
  const name = h.name.toLowerCase();
  const invert = h.invert ?? false;
  const set = [h.exact, h.prefix, h.regex, h.present].filter((x) => x !== undefined).length;
  if (set !== 1) throw new RangeError(`header match on ${name} needs exactly one of exact, prefix, regex, present`);
  if (h.exact !== undefined) return { name, kind: EXACT, value: h.exact, re: undefined, present: true, invert };
  if (h.prefix !== undefined) return { name, kind: PREFIX, value: h.prefix, re: undefined, present: true, invert };
  if (h.regex !== undefined) return { name, kind: REGEX, value: h.regex, re: new RegExp(`^(?:${h.regex})$`), present: true, invert };
  return { name, kind: PRESENT, value: '', re: undefined, present: h.present!, invert };
}

function headerHolds(rule: HeaderRule, headers: readonly string[]): boolean {
  let v: string | undefined;
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === rule.name) { v = headers[i + 1]; break; }
  let ok: boolean;
  switch (rule.kind) {
    case EXACT: ok = v !== undefined && v === rule.value; break;
    case PREFIX: ok = v !== undefined && v.startsWith(rule.value); break;
    case REGEX: ok = v !== undefined && rule.re!.test(v); break;
    default: ok = (v !== undefined) === rule.present;
  }
  return ok !== rule.invert;
}

export class RouteTable<P> {
  readonly fallback: P;
  readonly #routes: readonly CompiledRoute<P>[];

  constructor(specs: readonly RouteSpec<P>[], fallback: P) {
    this.fallback = fallback;
    this.#routes = specs.map((s, i) => {
      if (!s.prefix.startsWith('/')) throw new RangeError(`route ${s.name ?? i}: prefix must start with '/'`);
      return {
        name: s.name ?? `route${i}`,
        prefix: s.prefix,
        methods: s.methods === undefined ? undefined : new Set(s.methods.map((m) => m.toUpperCase())),
        headers: (s.headers ?? []).map(compileHeader),
        policy: s.policy,
      };
    });
  }

  get size(): number {
    return this.#routes.length;
  }

  /** The policy for `ctx` (the fallback when no route matches). */
  match(ctx: RequestCtx): P {
    const i = this.matchIndex(ctx.method, ctx.target, ctx.headers);
    return i < 0 ? this.fallback : this.#routes[i]!.policy;
  }

  /** Index of the first matching route, or −1. */
  matchIndex(method: string, target: string, headers: readonly string[]): number {
    const routes = this.#routes;
    let pathLen = -2;
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i]!;
      if (r.methods !== undefined && !r.methods.has(method)) continue;
      if (r.prefix.length > 1) {
        if (pathLen === -2) { pathLen = target.indexOf('?'); if (pathLen < 0) pathLen = target.length; }
        if (r.prefix.length > pathLen || !target.startsWith(r.prefix)) continue;
      }
      let ok = true;
      for (let k = 0; k < r.headers.length; k++) if (!headerHolds(r.headers[k]!, headers)) { ok = false; break; }
      if (ok) return i;
    }
    return -1;
  }

  /** Name of route `i` (for /explain); 'default' for −1. */
  nameOf(i: number): string {
    return i < 0 ? 'default' : this.#routes[i]!.name;
  }
}
