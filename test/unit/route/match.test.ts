import t from 'tap';
import fc from 'fast-check';
import { RouteTable, type RouteSpec } from '../../../src/route/match.ts';
import { RouteFilter } from '../../../src/route/filter.ts';
import { Verdict } from '../../../src/core/filter.ts';
import { ctx } from '../balancer/fixtures.ts';

const routes: RouteSpec<string>[] = [
  { name: 'canary', prefix: '/api/', headers: [{ name: 'X-Canary', exact: '1' }], policy: 'canary' },
  { name: 'writes', prefix: '/api/', methods: ['post', 'PUT'], policy: 'writes' },
  { name: 'grpc', prefix: '/pkg.Service/', headers: [{ name: 'content-type', prefix: 'application/grpc' }], policy: 'grpc' },
  { name: 'ids', prefix: '/users', headers: [{ name: 'x-id', regex: '[0-9]+' }], policy: 'ids' },
  { name: 'anon', prefix: '/', headers: [{ name: 'authorization', present: false }], policy: 'anon' },
  { name: 'not-bot', prefix: '/x', headers: [{ name: 'user-agent', prefix: 'bot', invert: true }], policy: 'human' },
];
const table = new RouteTable(routes, 'default');
const m = (method: string, target: string, headers: string[] = ['authorization', 'x']) => table.match(ctx({ method, target, headers }));

t.test('first match wins; method, prefix and header rules', async (t) => {
  t.equal(m('GET', '/api/v1', ['x-canary', '1', 'authorization', 'x']), 'canary');
  t.equal(m('POST', '/api/v1', ['x-canary', '1']), 'canary', 'earlier route wins');
  t.equal(m('POST', '/api/v1'), 'writes');
  t.equal(m('PUT', '/api/v1?x=1'), 'writes');
  t.equal(m('GET', '/api/v1'), 'default');
  t.equal(m('POST', '/api'), 'default', 'the prefix is longer than the path');
  t.equal(m('POST', '/x?/api/'), 'human', 'the query is not part of the path');
  t.equal(m('POST', '/pkg.Service/Call', ['content-type', 'application/grpc+proto', 'authorization', 'x']), 'grpc');
  t.equal(m('GET', '/users/1', ['x-id', '123', 'authorization', 'x']), 'ids');
  t.equal(m('GET', '/users/1', ['x-id', '12a', 'authorization', 'x']), 'default', 'regex is anchored');
  t.equal(m('GET', '/anything', []), 'anon', 'present: false');
  t.equal(m('GET', '/x', ['user-agent', 'bot/1', 'authorization', 'x']), 'default', 'invert');
  t.equal(m('GET', '/x', ['user-agent', 'curl', 'authorization', 'x']), 'human');
  t.equal(m('GET', '/x', ['authorization', 'x']), 'human', 'missing header fails the rule, invert makes it hold');
  t.equal(m('GET', '/users/1', ['x-id', '1', 'x-id', 'zzz', 'authorization', 'x']), 'ids', 'first value of a repeated header');
  t.equal(table.size, routes.length);
  t.equal(table.nameOf(1), 'writes');
  t.equal(table.nameOf(-1), 'default');
});

t.test('property: a lone prefix route matches exactly the paths starting with it', async () => {
  fc.assert(fc.property(
    fc.string({ maxLength: 8 }).map((s) => `/${s.replace(/\?/g, '')}`),
    fc.string({ maxLength: 12 }).map((s) => `/${s}`),
    fc.option(fc.constantFrom('GET', 'POST', 'DELETE'), { nil: undefined }),
    fc.constantFrom('GET', 'POST', 'DELETE', 'PATCH'),
    (prefix, target, only, method) => {
      const tbl = new RouteTable([{ prefix, methods: only === undefined ? undefined : [only], policy: 'r' }], 'd');
      const path = target.split('?')[0]!;
      const expect = path.startsWith(prefix) && (only === undefined || only === method) ? 'r' : 'd';
      return tbl.match(ctx({ method, target })) === expect;
    },
  ), { numRuns: 2000 });
});

t.test('compile-time validation; the route filter sets ctx.route', async (t) => {
  t.throws(() => new RouteTable([{ prefix: 'api', policy: 1 }], 0), RangeError);
  t.throws(() => new RouteTable([{ prefix: '/', headers: [{ name: 'x' }], policy: 1 }], 0), RangeError);
  t.throws(() => new RouteTable([{ prefix: '/', headers: [{ name: 'x', exact: 'a', present: true }], policy: 1 }], 0), RangeError);
  t.throws(() => new RouteTable([{ prefix: '/', headers: [{ name: 'x', regex: '(' }], policy: 1 }], 0), SyntaxError);
  const f = new RouteFilter(table);
  const c = ctx({ method: 'POST', target: '/api/x', headers: ['authorization', 'x'] });
  t.equal(f.onRequest(c), Verdict.Continue);
  t.equal(c.route, 'writes');
  t.equal(f.name, 'route');
});
