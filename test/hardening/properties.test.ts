/**
 * Property tests (fast-check) for the parsers and sanitizers we own:
 * SPIFFE ID parsing, header sanitizing and generation (no CR, LF or NUL can
 * ever reach the wire from a value the agent writes), config loading and
 * durations, and route matching against a naive reference. Run counts are
 * kept small enough for CI (well under a second each).
 */
import t from 'tap';
import fc from 'fast-check';
import { formatSpiffeId, isValidSegment, parseSpiffeId } from '../../src/identity/spiffe.ts';
import { isSafeHeaderValue, nextTraceparent, newSpanId, rewriteRequestHeaders, rewriteResponseHeaders, sanitizeHeaderValue, serializeRequestHead, serializeResponseHead, type RewriteOut } from '../../src/proxy/http1/headers.ts';
import { errorResponse } from '../../src/proxy/http1/rescue.ts';
import { findHeadEnd, parseRequestHead, parseResponseHead, defaultHeadLimits } from '../../src/proxy/http1/head-parser.ts';
import { ProxyError, Reasons, type Reason } from '../../src/core/errors.ts';
import { configFromObject } from '../../src/config/load.ts';
import { ConfigError, parseYamlWithSchema } from '../../src/config/yaml-schema.ts';
import { agentConfigSchema } from '../../src/config/schema.ts';
import { formatDuration, parseDuration } from '../../src/config/duration.ts';
import { RouteTable, type HeaderMatchSpec, type RouteSpec } from '../../src/route/match.ts';

const RUNS = { numRuns: 300 };
const BAD = /[\r\n\0]/;

// === SPIFFE ===

const segment = fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/).filter(isValidSegment);
const trustDomain = fc.stringMatching(/^[a-z0-9._-]{1,30}$/);

t.test('SPIFFE: format/parse round-trip for every valid service ID', async (t) => {
  fc.assert(fc.property(trustDomain, segment, segment, segment, (td, ns, dc, svc) => {
    const id = { trustDomain: td, namespace: ns, datacenter: dc, service: svc };
    const uri = formatSpiffeId(id);
    const p = parseSpiffeId(uri);
    return p.ok && p.id.trustDomain === td && p.id.namespace === ns && p.id.datacenter === dc && p.id.service === svc;
  }), RUNS);
  t.pass();
});

t.test('SPIFFE: parse never throws, and what it accepts is canonical and carries no dangerous byte', async (t) => {
  const noisy = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 120 }),
    fc.tuple(trustDomain, segment, segment, segment, fc.string({ unit: 'binary', maxLength: 3 }), fc.nat(60))
      .map(([td, ns, dc, s, ins, at]) => { const u = `spiffe://${td}/ns/${ns}/dc/${dc}/svc/${s}`; const i = at % (u.length + 1); return u.slice(0, i) + ins + u.slice(i); }),
  );
  fc.assert(fc.property(noisy, (uri) => {
    const p = parseSpiffeId(uri);
    if (!p.ok) return typeof p.error === 'string';
    return !/[\r\n\0 %?#@:]/.test(uri.slice('spiffe://'.length)) && formatSpiffeId(p.id) === uri;
  }), { numRuns: 1000 });
  t.pass();
});

// === header sanitizing and generation ===

const anyText = fc.string({ unit: 'binary', maxLength: 80 });
// Values the head parser lets through: HTAB, SP, VCHAR, obs-text (latin1), no leading/trailing whitespace.
const fieldValue = fc.string({ unit: fc.integer({ min: 0, max: 255 }).filter((c) => c === 9 || (c >= 32 && c !== 127)).map((c) => String.fromCharCode(c)), maxLength: 40 })
  .map((s) => s.replace(/^[ \t]+|[ \t]+$/g, ''));
const token = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9a-z]{1,16}$/);
const fieldName = fc.oneof(token, fc.constantFrom('x-forwarded-for', 'x-forwarded-proto', 'x-request-id', 'traceparent', 'connection',
  'x-aim-mesh-hops', 'x-aim-mesh-peer-identity', 'x-aim-mesh-error', 'upgrade', 'te', 'keep-alive', 'transfer-encoding'));

t.test('a sanitized header value never contains CR, LF or NUL', async (t) => {
  // Heads go out as latin1: check the bytes, since a code unit like U+010A would otherwise become LF.
  const wire = (s: string): string => Buffer.from(s, 'latin1').toString('latin1');
  fc.assert(fc.property(fc.oneof(anyText, fc.string({ unit: 'grapheme', maxLength: 20 }), fc.constantFrom('a\u010ab', '\u{fac00}', 'x\u0d0ay')), (v) => {
    const s = sanitizeHeaderValue(v);
    return !BAD.test(s) && !BAD.test(wire(s)) && isSafeHeaderValue(s) && s.length === v.length;
  }), { numRuns: 1000 });
  fc.assert(fc.property(anyText, (v) => isSafeHeaderValue(v) === !/[\r\n\0\u0100-\uffff]/.test(v)), RUNS);
  t.pass();
});

t.test('every header the agent generates on a request is safe and parses back as sent', async (t) => {
  fc.assert(fc.property(fc.array(fc.tuple(fieldName, fieldValue), { maxLength: 12 }), fc.boolean(), fc.boolean(), (fields, upgrade, genId) => {
    const flat = fields.flatMap(([n, v]) => [n, v]);
    const tokens = fields.filter(([n]) => n === 'connection').flatMap(([, v]) => v.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean));
    const out: RewriteOut = { requestId: '', spanId: '', traceparent: '', hops: 0 };
    const res = rewriteRequestHeaders(flat, tokens, { remoteAddress: '::ffff:127.0.0.1', proto: 'https', upgrade, requestId: genId }, out);
    res.push('x-aim-mesh-hops', String(out.hops + 1));
    if (!res.every((x) => isSafeHeaderValue(x))) return false;
    if (res.some((x, i) => i % 2 === 0 && x.startsWith('x-aim-mesh-') && x !== 'x-aim-mesh-hops')) return false;
    // The bytes we would send parse back to the same fields, one line per field.
    const head = serializeRequestHead('GET', '/p', ['host', 'api', ...res]);
    const parsed = parseRequestHead(head, findHeadEnd(head, defaultHeadLimits), { ...defaultHeadLimits, maxHeaders: 1000 });
    return JSON.stringify(parsed.headers) === JSON.stringify(['host', 'api', ...res]);
  }), RUNS);
  t.pass();
});

t.test('traceparent: the next hop value is a strict W3C value or nothing', async (t) => {
  fc.assert(fc.property(fc.oneof(anyText, fc.stringMatching(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/)), (v) => {
    const next = nextTraceparent(v, newSpanId());
    return next === undefined || /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(next);
  }), RUNS);
  t.pass();
});

t.test('error replies: no injected line, whatever the request id, detail or extra headers', async (t) => {
  const reasons = Object.keys(Reasons) as Reason[];
  fc.assert(fc.property(fc.constantFrom(...reasons), anyText, anyText, fc.dictionary(token, anyText, { maxKeys: 3 }), fc.boolean(), (reason, detail, reqIdRaw, extra, close) => {
    const reqId = reqIdRaw + (reqIdRaw.length % 2 ? '\u010a' : '');
    const bytes = errorResponse(new ProxyError(reason, detail, { headers: extra }), close, reqId);
    const end = bytes.indexOf('\r\n\r\n');
    const lines = bytes.toString('latin1', 0, end).split('\r\n');
    const want = 1 + 3 + (reqId ? 1 : 0) + Object.keys(extra).length + (close ? 1 : 0);
    if (lines.length !== want || lines.some((l) => BAD.test(l))) return false; // (decoded as latin1: exactly the bytes sent)
    const r = parseResponseHead(bytes, end + 4, 'GET');
    return r.status === Reasons[reason].status;
  }), RUNS);
  t.pass();
});

t.test('response rewriting keeps every field line intact', async (t) => {
  fc.assert(fc.property(fc.array(fc.tuple(fieldName, fieldValue), { maxLength: 10 }), fc.boolean(), (fields, up) => {
    const res = rewriteResponseHeaders(fields.flatMap(([n, v]) => [n, v]), [], up);
    const head = serializeResponseHead(200, 'OK', res);
    const parsed = parseResponseHead(head, findHeadEnd(head, defaultHeadLimits, 'upstream_protocol_error'), 'GET', { ...defaultHeadLimits, maxHeaders: 1000 });
    return JSON.stringify(parsed.headers) === JSON.stringify(res);
  }), RUNS);
  t.pass();
});

// === config loading ===

const base = { service: { name: 'api', address: '127.0.0.1:9000' } };

t.test('config: any limits object either loads within bounds or fails with a ConfigError naming the key', async (t) => {
  const val = fc.oneof(fc.integer({ min: -10, max: 2_000_000 }), fc.double({ noNaN: false }), fc.string({ maxLength: 8 }), fc.constantFrom('5s', '250ms', '1m30s', '0', 'x', '-1s', null, true));
  const keys = fc.constantFrom('max_header_bytes', 'max_headers', 'max_url_bytes', 'header_timeout', 'stream_idle', 'write_idle', 'min_send_rate', 'max_connections', 'bogus');
  fc.assert(fc.property(fc.dictionary(keys, val, { maxKeys: 4 }), (limits) => {
    try {
      const c = configFromObject({ ...base, limits }, 'prop');
      const l = c.limits;
      return l.max_header_bytes >= 1024 && l.max_headers >= 1 && l.max_url_bytes >= 64 && l.header_timeout >= 0 && l.write_idle >= 0 && l.min_send_rate >= 0
        && Number.isFinite(l.stream_idle) && !('bogus' in limits);
    } catch (err) {
      return err instanceof ConfigError && err.message.includes('limits');
    }
  }), RUNS);
  t.pass();
});

t.test('config: arbitrary YAML text fails only with a ConfigError', async (t) => {
  const yamlish = fc.oneof(fc.string({ maxLength: 200 }), fc.array(fc.constantFrom('limits:\n', '  max_headers: ', '5\n', 'service: {name: a, address: "x:1"}\n', ': :\n', '- a\n', '  ', '"', '{', '[', 'admin:\n  bind: 0.0.0.0:1\n'), { maxLength: 12 }).map((a) => a.join('')));
  // Aliases are left out here: see the todo below.
  fc.assert(fc.property(yamlish.filter((x) => !x.includes('*')), (text) => {
    try { parseYamlWithSchema(text, 'prop.yaml', agentConfigSchema); return true; } catch (err) { return err instanceof ConfigError; }
  }), RUNS);
  t.pass();
});

// Found by the property above: yaml's toJS() threw a ReferenceError (not a ConfigError) for an unresolved
// alias or an alias bomb, so `aim-mesh check-config` printed a stack trace. yaml-schema.ts now reports a
// ConfigError and bounds alias expansion.
t.test('config: YAML aliases fail with a ConfigError', async (t) => {
  for (const text of ['*!', 'a: *x', `a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [${'*a,'.repeat(20)}*a]\nc: [${'*b,'.repeat(20)}*b]\n`]) {
    let err: unknown;
    try { parseYamlWithSchema(text, 'alias.yaml', agentConfigSchema); } catch (e) { err = e; }
    t.ok(err instanceof ConfigError, `${JSON.stringify(text.slice(0, 12))}: ${(err as Error | undefined)?.constructor.name}`);
  }
});

t.test('durations: parse never throws; format/parse round-trips', async (t) => {
  fc.assert(fc.property(fc.string({ maxLength: 20 }), (s) => { const v = parseDuration(s); return v === undefined || (Number.isFinite(v) && v >= 0); }), RUNS);
  fc.assert(fc.property(fc.nat(10 * 86_400_000), (ms) => parseDuration(formatDuration(ms)) === ms), RUNS);
  t.pass();
});

// === route matching ===

interface Req { method: string; target: string; headers: string[] }

function reference(routes: RouteSpec<number>[], r: Req): number {
  const path = r.target.split('?')[0]!;
  for (let i = 0; i < routes.length; i++) {
    const rt = routes[i]!;
    if (rt.methods && !rt.methods.map((m) => m.toUpperCase()).includes(r.method)) continue;
    if (rt.prefix !== '/' && !path.startsWith(rt.prefix)) continue;
    const ok = (rt.headers ?? []).every((h) => {
      const idx = r.headers.findIndex((x, k) => k % 2 === 0 && x === h.name.toLowerCase());
      const v = idx === -1 ? undefined : r.headers[idx + 1];
      let res: boolean;
      if (h.exact !== undefined) res = v === h.exact;
      else if (h.prefix !== undefined) res = v !== undefined && v.startsWith(h.prefix);
      else if (h.regex !== undefined) res = v !== undefined && new RegExp(`^(?:${h.regex})$`).test(v);
      else res = (v !== undefined) === h.present;
      return res !== (h.invert ?? false);
    });
    if (ok) return i;
  }
  return -1;
}

t.test('route matching agrees with a naive reference, first match wins', async (t) => {
  const seg = fc.constantFrom('api', 'v1', 'v2', 'users', 'a', 'x');
  const prefix = fc.array(seg, { maxLength: 3 }).chain((s) => fc.constantFrom(`/${s.join('/')}`, `/${s.join('/')}/`)).map((p) => p.replace(/\/+/g, '/'));
  const hname = fc.constantFrom('x-env', 'x-user', 'content-type');
  const hval = fc.constantFrom('prod', 'canary', 'p', 'application/grpc', 'json');
  const hmatch: fc.Arbitrary<HeaderMatchSpec> = fc.tuple(hname, fc.nat(3), hval, fc.boolean(), fc.boolean()).map(([name, k, v, b, invert]) =>
    k === 0 ? { name, exact: v, invert } : k === 1 ? { name, prefix: v.slice(0, 2), invert } : k === 2 ? { name, regex: `${v.slice(0, 1)}.*`, invert } : { name, present: b, invert });
  const route: fc.Arbitrary<RouteSpec<number>> = fc.record({
    prefix,
    methods: fc.option(fc.subarray(['GET', 'post', 'PUT']), { nil: undefined }),
    headers: fc.option(fc.array(hmatch, { maxLength: 2 }), { nil: undefined }),
    policy: fc.constant(0),
  });
  const req: fc.Arbitrary<Req> = fc.record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
    target: fc.tuple(prefix, fc.constantFrom('', 'z', '/q', '?a=1', 'x?b')).map(([p, s]) => p + s),
    headers: fc.array(fc.tuple(hname, hval), { maxLength: 3 }).map((a) => a.flatMap(([n, v]) => [n, v])),
  });
  fc.assert(fc.property(fc.array(route, { maxLength: 5 }), req, (routes, r) => {
    const specs = routes.map((x, i) => ({ ...x, policy: i }));
    const table = new RouteTable(specs, -1);
    return table.matchIndex(r.method, r.target, r.headers) === reference(specs, r);
  }), { numRuns: 500 });
  t.pass();
});
