/**
 * A subset of go-bexpr, the `?filter=` language of Consul list endpoints:
 * `==`, `!=`, `in`, `not in`, `contains`, `not contains`, `is empty`,
 * `is not empty`, `matches`, `not matches`, `and`, `or`, `not`, parentheses;
 * dotted selectors (`Service.Meta.version`, `Checks.Status`); selectors that
 * cross a list match when ANY element matches. Values are quoted strings,
 * numbers, booleans or bare words. A bad expression → 400.
 */
import { badRequest } from './http.ts';

type Tok = { t: 'id' | 'str' | 'num' | 'op' | 'lp' | 'rp'; v: string };
type Node =
  | { k: 'and'; a: Node; b: Node }
  | { k: 'or'; a: Node; b: Node }
  | { k: 'not'; a: Node }
  | { k: 'match'; op: string; sel: string[]; val: string };

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '(') { out.push({ t: 'lp', v: c }); i++; continue; }
    if (c === ')') { out.push({ t: 'rp', v: c }); i++; continue; }
    if (src.startsWith('==', i) || src.startsWith('!=', i)) { out.push({ t: 'op', v: src.slice(i, i + 2) }); i += 2; continue; }
    if (c === '"' || c === '`') {
      let j = i + 1;
      let s = '';
      while (j < src.length && src[j] !== c) {
        if (c === '"' && src[j] === '\\' && j + 1 < src.length) { s += src[j + 1]; j += 2; continue; }
        s += src[j];
        j++;
      }
      if (j >= src.length) throw new Error(`1:${i + 1}: unterminated string`);
      out.push({ t: 'str', v: s });
      i = j + 1;
      continue;
    }
    const m = /^[A-Za-z0-9_.\-:/*]+/.exec(src.slice(i));
    if (!m) throw new Error(`1:${i + 1}: no match found, expected: "(", "not" or [A-Za-z_]`);
    out.push({ t: /^-?\d+(\.\d+)?$/.test(m[0]) ? 'num' : 'id', v: m[0] });
    i += m[0].length;
  }
  return out;
}

class Parser {
  readonly #toks: Tok[];
  #i = 0;
  constructor(toks: Tok[]) { this.#toks = toks; }
  peek(o = 0): Tok | undefined { return this.#toks[this.#i + o]; }
  next(): Tok {
    const t = this.#toks[this.#i++];
    if (!t) throw new Error('unexpected end of expression');
    return t;
  }
  kw(v: string, o = 0): boolean { const t = this.peek(o); return t?.t === 'id' && t.v === v; }
  parse(): Node {
    const n = this.or();
    if (this.peek()) throw new Error(`unexpected token "${this.peek()!.v}"`);
    return n;
  }
  or(): Node {
    let a = this.and();
    while (this.kw('or')) { this.next(); a = { k: 'or', a, b: this.and() }; }
    return a;
  }
  and(): Node {
    let a = this.unary();
    while (this.kw('and')) { this.next(); a = { k: 'and', a, b: this.unary() }; }
    return a;
  }
  unary(): Node {
    if (this.kw('not') && !this.kw('in', 1)) { this.next(); return { k: 'not', a: this.unary() }; }
    if (this.peek()?.t === 'lp') {
      this.next();
      const n = this.or();
      if (this.next().t !== 'rp') throw new Error('expected ")"');
      return n;
    }
    return this.match();
  }
  match(): Node {
    const first = this.next();
    // value (not) in selector
    if (first.t === 'str' || first.t === 'num' || this.kw('in') || (this.kw('not') && this.kw('in', 1))) {
      let op = 'in';
      if (this.kw('not')) { this.next(); op = 'not in'; }
      if (!this.kw('in')) throw new Error(`expected "in" after value "${first.v}"`);
      this.next();
      return { k: 'match', op, val: first.v, sel: this.selector() };
    }
    if (first.t !== 'id') throw new Error(`unexpected token "${first.v}"`);
    const sel = first.v.split('.');
    const t = this.next();
    if (t.t === 'op') return { k: 'match', op: t.v, sel, val: this.value() };
    if (t.t === 'id' && t.v === 'is') {
      if (this.kw('not')) { this.next(); this.expect('empty'); return { k: 'match', op: 'is not empty', sel, val: '' }; }
      this.expect('empty');
      return { k: 'match', op: 'is empty', sel, val: '' };
    }
    if (t.t === 'id' && (t.v === 'contains' || t.v === 'matches')) return { k: 'match', op: t.v, sel, val: this.value() };
    if (t.t === 'id' && t.v === 'not') {
      const w = this.next();
      if (w.v === 'contains' || w.v === 'matches') return { k: 'match', op: `not ${w.v}`, sel, val: this.value() };
    }
    throw new Error(`unexpected token "${t.v}" after selector "${first.v}"`);
  }
  expect(v: string): void { if (this.next().v !== v) throw new Error(`expected "${v}"`); }
  value(): string {
    const t = this.next();
    if (t.t === 'lp' || t.t === 'rp' || t.t === 'op') throw new Error(`expected a value, got "${t.v}"`);
    return t.v;
  }
  selector(): string[] {
    const t = this.next();
    if (t.t !== 'id') throw new Error(`expected a selector, got "${t.v}"`);
    return t.v.split('.');
  }
}

/** Resolve a selector; crossing arrays collects every element. */
function resolve(v: unknown, path: string[]): { many: boolean; values: unknown[] } {
  let cur: unknown[] = [v];
  let many = false;
  for (const key of path) {
    const next: unknown[] = [];
    for (const x of cur) {
      if (Array.isArray(x)) { many = true; for (const e of x) if (e && typeof e === 'object') next.push((e as Record<string, unknown>)[key]); continue; }
      if (x && typeof x === 'object') next.push((x as Record<string, unknown>)[key]);
    }
    cur = next;
  }
  return { many, values: cur };
}

const eq = (x: unknown, val: string): boolean => (x === null || x === undefined ? val === '' : String(x) === val);

function holds(container: unknown, val: string): boolean {
  if (Array.isArray(container)) return container.some((e) => eq(e, val));
  if (typeof container === 'string') return container.includes(val);
  if (container && typeof container === 'object') return Object.hasOwn(container, val);
  return false;
}

const isEmpty = (x: unknown): boolean =>
  x === undefined || x === null || x === '' || (Array.isArray(x) && x.length === 0) ||
  (typeof x === 'object' && !Array.isArray(x) && Object.keys(x as object).length === 0);

function evalNode(n: Node, v: unknown): boolean {
  if (n.k === 'and') return evalNode(n.a, v) && evalNode(n.b, v);
  if (n.k === 'or') return evalNode(n.a, v) || evalNode(n.b, v);
  if (n.k === 'not') return !evalNode(n.a, v);
  const { many, values } = resolve(v, n.sel);
  const any = (f: (x: unknown) => boolean): boolean => values.some(f);
  switch (n.op) {
    case '==': return any((x) => eq(x, n.val));
    case '!=': return many ? !any((x) => eq(x, n.val)) : !any((x) => eq(x, n.val));
    case 'in': case 'contains': return any((x) => holds(x, n.val));
    case 'not in': case 'not contains': return !any((x) => holds(x, n.val));
    case 'is empty': return values.every(isEmpty);
    case 'is not empty': return !values.every(isEmpty);
    case 'matches': return any((x) => new RegExp(n.val).test(String(x ?? '')));
    case 'not matches': return !any((x) => new RegExp(n.val).test(String(x ?? '')));
    default: return false;
  }
}

export type Predicate = (v: unknown) => boolean;

/** Compile ?filter; undefined when absent. 400 on a bad expression. */
export function compileFilter(expr: string | undefined): Predicate | undefined {
  if (expr === undefined || expr === '') return undefined;
  let ast: Node;
  try {
    ast = new Parser(lex(expr)).parse();
  } catch (e) {
    throw badRequest(`Failed to create boolean expression evaluator: ${(e as Error).message}`);
  }
  return (v) => evalNode(ast, v);
}
