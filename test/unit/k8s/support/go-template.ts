/**
 * A small, strict renderer for the subset of Go templates (and Helm/Sprig
 * functions) that helm/aim-mesh uses, so the chart's templates can be rendered
 * and validated without a helm binary. It is deliberately strict: an unknown
 * function, or printing a value that does not exist, throws, so a typo in a
 * template fails the test instead of rendering "<no value>".
 *
 * Supported: {{- -}} trimming, comments, define/include, if/else if/else,
 * range, with, $var := / =, pipelines, parentheses, and the functions in FUNCS.
 * lookup always finds nothing (as in `helm template`); genCA/genSignedCert
 * return placeholder PEM text.
 */
import { stringify } from 'yaml';

type Value = unknown;
interface Scope { dot: Value; vars: Map<string, Value> }

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; src: string }
  | { kind: 'if'; branches: { cond: string | undefined; body: Node[] }[] }
  | { kind: 'range' | 'with'; expr: string; body: Node[]; elseBody: Node[] };

function lex(src: string): { text: string[]; actions: string[] } {
  const text: string[] = [];
  const actions: string[] = [];
  let i = 0;
  let trimNext = false;
  while (true) {
    const open = src.indexOf('{{', i);
    let chunk = src.slice(i, open === -1 ? undefined : open);
    if (trimNext) chunk = chunk.replace(/^\s+/, '');
    if (open === -1) { text.push(chunk); break; }
    const close = src.indexOf('}}', open);
    if (close === -1) throw new Error('unclosed {{');
    let inner = src.slice(open + 2, close);
    if (inner.startsWith('-') && /\s/.test(inner[1] ?? '')) { chunk = chunk.replace(/\s+$/, ''); inner = inner.slice(1); }
    trimNext = false;
    if (inner.endsWith('-') && /\s/.test(inner.at(-2) ?? '')) { trimNext = true; inner = inner.slice(0, -1); }
    text.push(chunk);
    actions.push(inner.trim());
    i = close + 2;
  }
  return { text, actions };
}

function parse(src: string, defines: Map<string, Node[]>): Node[] {
  const { text, actions } = lex(src);
  const root: Node[] = [];
  const stack: { nodes: Node[]; owner?: Node; word?: string }[] = [{ nodes: root }];
  const top = () => stack.at(-1)!;
  text.forEach((t, i) => {
    if (t !== '') top().nodes.push({ kind: 'text', text: t });
    const a = actions[i];
    if (a === undefined || a.startsWith('/*')) return;
    const [word] = a.split(/\s+/, 1);
    const rest = a.slice(word!.length).trim();
    if (word === 'if') {
      const node: Node = { kind: 'if', branches: [{ cond: rest, body: [] }] };
      top().nodes.push(node);
      stack.push({ nodes: node.branches[0]!.body, owner: node, word: 'if' });
    } else if (word === 'range' || word === 'with') {
      const node: Node = { kind: word, expr: rest, body: [], elseBody: [] };
      top().nodes.push(node);
      stack.push({ nodes: node.body, owner: node, word });
    } else if (word === 'define') {
      const body: Node[] = [];
      defines.set(JSON.parse(rest) as string, body);
      stack.push({ nodes: body, word: 'define' });
    } else if (word === 'else') {
      const frame = stack.pop()!;
      const owner = frame.owner!;
      if (owner.kind === 'if') {
        const cond = rest.startsWith('if ') ? rest.slice(3).trim() : undefined;
        const branch = { cond, body: [] as Node[] };
        owner.branches.push(branch);
        stack.push({ nodes: branch.body, owner, word: 'if' });
      } else if (owner.kind === 'range' || owner.kind === 'with') stack.push({ nodes: owner.elseBody, owner, word: owner.kind });
    } else if (word === 'end') {
      if (stack.length === 1) throw new Error('unexpected {{ end }}');
      stack.pop();
    } else top().nodes.push({ kind: 'action', src: a });
  });
  if (stack.length !== 1) throw new Error(`unclosed {{ ${top().word} }}`);
  return root;
}

// ---- expressions ----

type Tok = { t: 'str' | 'num' | 'ident' | 'field' | 'var' | 'punct'; v: string };

function tokenize(s: string): Tok[] {
  const out: Tok[] = [];
  const re = /\s*(?:("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?)|(\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)|(\.[A-Za-z0-9_.]*)|([A-Za-z_][A-Za-z0-9_]*)|(:=|=|\||\(|\)))/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < s.length && (m = re.exec(s))) {
    if (m[1]) out.push({ t: 'str', v: JSON.parse(m[1]) as string });
    else if (m[2]) out.push({ t: 'num', v: m[2] });
    else if (m[3]) out.push({ t: 'var', v: m[3] });
    else if (m[4]) out.push({ t: 'field', v: m[4] });
    else if (m[5]) out.push({ t: 'ident', v: m[5] });
    else if (m[6]) out.push({ t: 'punct', v: m[6] });
  }
  if (s.slice(re.lastIndex).trim() !== '') throw new Error(`cannot read '${s}' near '${s.slice(re.lastIndex)}'`);
  return out;
}

function path(base: Value, fields: string[], what: string): Value {
  let v = base;
  for (const f of fields) {
    if (v === null || typeof v !== 'object') return undefined;
    if (!(f in (v as object))) return undefined;
    v = (v as Record<string, Value>)[f];
  }
  void what;
  return v;
}

const truthy = (v: Value): boolean =>
  !(v === undefined || v === null || v === false || v === 0 || v === '' ||
    (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0));

const FAKE_CERT = '-----BEGIN CERTIFICATE-----\nRkFLRQ==\n-----END CERTIFICATE-----\n';
const FAKE_KEY = '-----BEGIN RSA PRIVATE KEY-----\nRkFLRQ==\n-----END RSA PRIVATE KEY-----\n';

export class Renderer {
  readonly defines = new Map<string, Node[]>();
  readonly #funcs: Record<string, (...a: Value[]) => Value>;

  constructor() {
    const indent = (n: Value, s: Value): string => String(s).split('\n').map((l) => ' '.repeat(Number(n)) + l).join('\n');
    this.#funcs = {
      include: (name, data) => {
        const body = this.defines.get(String(name));
        if (!body) throw new Error(`include: no template '${String(name)}'`);
        return this.#exec(body, { dot: data, vars: new Map([['$', data]]) });
      },
      indent, nindent: (n, s) => `\n${indent(n, s)}`,
      toYaml: (v) => stringify(v).replace(/\n$/, ''),
      quote: (v) => JSON.stringify(v === undefined || v === null ? '' : String(v)),
      default: (d, v) => (truthy(v) ? v : d),
      b64enc: (v) => Buffer.from(String(v)).toString('base64'),
      b64dec: (v) => Buffer.from(String(v), 'base64').toString(),
      printf: (fmt, ...args) => { let i = 0; return String(fmt).replace(/%[sdv]/g, () => String(args[i++])); },
      eq: (a, b) => a === b, ne: (a, b) => a !== b,
      and: (...a) => a.find((v) => !truthy(v)) ?? a.at(-1), or: (...a) => a.find(truthy) ?? a.at(-1),
      not: (v) => !truthy(v),
      list: (...a) => a, append: (l, v) => [...(l as Value[]), v],
      index: (o, k) => (o as Record<string, Value>)[String(k)],
      lookup: () => ({}),
      randAlphaNum: (n) => 'x'.repeat(Number(n)),
      genCA: () => ({ Cert: FAKE_CERT, Key: FAKE_KEY }),
      genSignedCert: () => ({ Cert: FAKE_CERT, Key: FAKE_KEY }),
      required: (msg, v) => { if (!truthy(v)) throw new Error(`required: ${String(msg)}`); return v; },
      fail: (msg) => { throw new Error(`fail: ${String(msg)}`); },
    };
  }

  addTemplate(src: string): Node[] {
    return parse(src, this.defines);
  }

  render(nodes: Node[], root: Value): string {
    return this.#exec(nodes, { dot: root, vars: new Map([['$', root]]) });
  }

  #exec(nodes: Node[], scope: Scope): string {
    let out = '';
    for (const n of nodes) {
      if (n.kind === 'text') out += n.text;
      else if (n.kind === 'action') {
        const assign = /^(\$[A-Za-z0-9_]+)\s*(:=|=)\s*(.*)$/s.exec(n.src);
        if (assign) {
          if (assign[2] === '=' && !scope.vars.has(assign[1]!)) throw new Error(`${assign[1]} assigned before :=`);
          scope.vars.set(assign[1]!, this.#eval(assign[3]!, scope));
          continue;
        }
        const v = this.#eval(n.src, scope);
        if (v === undefined) throw new Error(`{{ ${n.src} }} has no value`);
        if (v !== null && typeof v === 'object') throw new Error(`{{ ${n.src} }} prints an object`);
        out += v === null ? '' : String(v);
      } else if (n.kind === 'if') {
        const branch = n.branches.find((b) => b.cond === undefined || truthy(this.#eval(b.cond, scope)));
        if (branch) out += this.#exec(branch.body, scope);
      } else if (n.kind === 'with') {
        const v = this.#eval(n.expr, scope);
        out += truthy(v) ? this.#exec(n.body, { dot: v, vars: scope.vars }) : this.#exec(n.elseBody, scope);
      } else {
        const v = this.#eval(n.expr, scope);
        const items = Array.isArray(v) ? v : v && typeof v === 'object' ? Object.values(v) : [];
        if (items.length === 0) out += this.#exec(n.elseBody, scope);
        for (const item of items) out += this.#exec(n.body, { dot: item, vars: scope.vars });
      }
    }
    return out;
  }

  #eval(src: string, scope: Scope): Value {
    const toks = tokenize(src);
    let pos = 0;
    const pipeline = (): Value => {
      let piped: { v: Value } | undefined;
      while (true) {
        piped = { v: command(piped) };
        if (toks[pos]?.v === '|') pos++;
        else return piped.v;
      }
    };
    const operand = (): Value => {
      const tok = toks[pos++]!;
      if (tok.t === 'str') return tok.v;
      if (tok.t === 'num') return Number(tok.v);
      if (tok.t === 'field') return tok.v === '.' ? scope.dot : path(scope.dot, tok.v.slice(1).split('.'), tok.v);
      if (tok.t === 'var') {
        const [name, ...fields] = tok.v.split('.');
        if (!scope.vars.has(name!)) throw new Error(`undefined variable ${name}`);
        return path(scope.vars.get(name!), fields, tok.v);
      }
      if (tok.v === '(') { const v = pipeline(); if (toks[pos++]?.v !== ')') throw new Error(`missing ) in '${src}'`); return v; }
      if (tok.t === 'ident') {
        if (tok.v === 'true' || tok.v === 'false') return tok.v === 'true';
        if (tok.v === 'nil') return null;
      }
      throw new Error(`unexpected '${tok.v}' in '${src}'`);
    };
    const command = (piped: { v: Value } | undefined): Value => {
      const head = toks[pos];
      if (head?.t === 'ident' && !['true', 'false', 'nil'].includes(head.v)) {
        const fn = this.#funcs[head.v];
        if (!fn) throw new Error(`unknown function '${head.v}'`);
        pos++;
        const args: Value[] = [];
        while (pos < toks.length && toks[pos]!.v !== '|' && toks[pos]!.v !== ')') args.push(operand());
        if (piped) args.push(piped.v);
        return fn(...args);
      }
      if (piped) throw new Error(`cannot pipe into a value in '${src}'`);
      return operand();
    };
    const v = pipeline();
    if (pos !== toks.length) throw new Error(`trailing tokens in '${src}'`);
    return v;
  }
}
