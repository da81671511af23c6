import fc from 'fast-check';
import t from 'tap';
import { Authorizer, type HttpFacts } from '../../../src/identity/authz.ts';
import { authzSchema } from '../../../src/identity/options.ts';
import type { SpiffeId } from '../../../src/identity/types.ts';

const peer = (service: string, namespace = 'default'): SpiffeId => ({ trustDomain: 'aim.local', namespace, datacenter: 'dc1', service });
const req = (method: string, path: string, headers: Record<string, string> = {}): HttpFacts => ({ method, path, header: (n) => headers[n] });
const authz = (cfg: unknown) => new Authorizer(authzSchema.parse(cfg));

t.test('default policy and L4 allow/deny by source', async (t) => {
  t.same(authz({}).check(peer('web')), { allowed: true, rule: 'default' }, 'zero config allows');
  const a = authz({
    default: 'deny',
    rules: [
      { name: 'web-in', source: 'web', action: 'allow' },
      { source: 'batch', action: 'deny' },
      { name: 'anyone', source: '*', action: 'allow', namespace: 'trusted' },
    ],
  });
  t.same(a.check(peer('web')), { allowed: true, rule: 'rules[0] web-in' });
  t.same(a.check(peer('batch')), { allowed: false, rule: 'rules[1]' });
  t.same(a.check(peer('other')), { allowed: false, rule: 'default' });
  t.same(a.check(peer('other', 'trusted')), { allowed: true, rule: 'rules[2] anyone' }, 'wildcard with a namespace');
  t.same(a.check(undefined), { allowed: false, rule: 'default' }, 'no verified peer: only the default applies');
  t.same(a.check(peer('web'), req('GET', '/')), { allowed: true, rule: 'rules[0] web-in' }, 'L4 rules also decide HTTP');
});

t.test('exact source beats "*" whatever the order; first match wins within a group', async (t) => {
  const a = authz({ rules: [
    { name: 'deny-all', source: '*', action: 'deny' },
    { name: 'web-ok', source: 'web', action: 'allow' },
    { name: 'web-late', source: 'web', action: 'deny' },
  ] });
  t.same(a.check(peer('web')), { allowed: true, rule: 'rules[1] web-ok' });
  t.same(a.check(peer('api')), { allowed: false, rule: 'rules[0] deny-all' });
});

t.test('L7 rules: path prefix, methods, headers', async (t) => {
  const a = authz({
    default: 'deny',
    rules: [
      { name: 'no-admin', source: 'web', action: 'deny', http: { path_prefix: '/admin' } },
      { name: 'reads', source: 'web', action: 'allow', http: { path_prefix: '/api/', methods: ['get', 'HEAD'] } },
      { name: 'canary', source: 'web', action: 'allow', http: { headers: [{ name: 'X-Canary', exact: '1' }, { name: 'x-debug', present: false }] } },
      { name: 'ua', source: '*', action: 'allow', http: { headers: [{ name: 'user-agent', prefix: 'curl/', invert: true }, { name: 'accept', suffix: 'json' }] } },
    ],
  });
  t.same(a.check(peer('web'), req('GET', '/admin/users')), { allowed: false, rule: 'rules[0] no-admin' });
  t.same(a.check(peer('web'), req('GET', '/api/items')), { allowed: true, rule: 'rules[1] reads' });
  t.same(a.check(peer('web'), req('HEAD', '/api/items')), { allowed: true, rule: 'rules[1] reads' }, 'methods normalised to upper case');
  t.same(a.check(peer('web'), req('POST', '/api/items')), { allowed: false, rule: 'default' }, 'method not listed');
  t.same(a.check(peer('web'), req('POST', '/x', { 'x-canary': '1' })), { allowed: true, rule: 'rules[2] canary' });
  t.same(a.check(peer('web'), req('POST', '/x', { 'x-canary': '1', 'x-debug': 'y' })), { allowed: false, rule: 'default' }, 'present:false');
  t.same(a.check(peer('web'), req('POST', '/x', { 'x-canary': '2' })), { allowed: false, rule: 'default' }, 'exact mismatch');
  t.same(a.check(peer('api'), req('GET', '/', { 'user-agent': 'Mozilla', accept: 'application/json' })), { allowed: true, rule: 'rules[3] ua' });
  t.same(a.check(peer('api'), req('GET', '/', { 'user-agent': 'curl/8', accept: 'application/json' })), { allowed: false, rule: 'default' }, 'inverted prefix');
  t.same(a.check(peer('api'), req('GET', '/', { accept: 'application/json' })), { allowed: true, rule: 'rules[3] ua' }, 'absent header: inverted match holds');
});

t.test('opaque TCP: an L7 rule that matches the source denies (it cannot be honoured on a byte stream)', async (t) => {
  const a = authz({ default: 'allow', rules: [{ name: 'web-reads', source: 'web', action: 'allow', http: { methods: ['GET'] } }] });
  t.same(a.check(peer('web')), { allowed: false, rule: 'rules[0] web-reads' });
  t.same(a.check(peer('api')), { allowed: true, rule: 'default' });
});

t.test('schema: strict, with readable errors', async (t) => {
  t.same(authzSchema.parse({}), { source: 'config', consul: { cache_ttl: 10_000, on_error: 'deny' }, default: 'allow', rules: [] });
  const bad = [
    { default: 'maybe' },
    { rules: [{ source: 'web' }] },
    { rules: [{ source: 'web', action: 'allow', http: { path_prefix: 'no-slash' } }] },
    { rules: [{ source: 'web', action: 'allow', http: { methods: [] } }] },
    { rules: [{ source: 'web', action: 'allow', http: { headers: [{ name: 'bad header', exact: 'x' }] } }] },
    { rules: [{ source: 'web', action: 'allow', http: { headers: [{ name: 'x', exact: 'a', prefix: 'b' }] } }] },
    { rules: [{ source: 'web', action: 'allow', path_prefix: '/typo-at-wrong-level' }] },
    { rules: [{ source: 'we/b', action: 'allow' }] },
  ];
  for (const b of bad) t.notOk(authzSchema.safeParse(b).success, JSON.stringify(b));
});

t.test('property: a check never throws and always names a rule that exists', async (t) => {
  const svc = fc.constantFrom('web', 'api', 'db', 'batch');
  const rule = fc.record({
    source: fc.oneof(svc, fc.constant('*')),
    action: fc.constantFrom('allow', 'deny'),
    http: fc.option(fc.record({ path_prefix: fc.constantFrom('/a', '/b', '/'), methods: fc.constantFrom(['GET'], ['POST', 'PUT']) }), { nil: undefined }),
  });
  fc.assert(fc.property(fc.array(rule, { maxLength: 6 }), fc.constantFrom('allow', 'deny'), svc, fc.boolean(), (rules, def, s, http) => {
    const a = authz({ default: def, rules: rules.map((r) => (r.http ? r : { source: r.source, action: r.action })) });
    const d = a.check(peer(s), http ? req('GET', '/a/b') : undefined);
    const named = d.rule === 'default' || /^rules\[(\d+)\]/.test(d.rule) && Number(/^rules\[(\d+)\]/.exec(d.rule)![1]) < rules.length;
    return typeof d.allowed === 'boolean' && named;
  }), { numRuns: 500 });
  t.pass('ok');
});
