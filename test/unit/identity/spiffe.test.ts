import fc from 'fast-check';
import t from 'tap';
import { formatSpiffeId, isValidTrustDomain, parseSpiffeId, splitSpiffeUri, trustDomainId } from '../../../src/identity/spiffe.ts';

t.test('parses the Consul service form', async (t) => {
  const r = parseSpiffeId('spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc1/svc/web');
  t.ok(r.ok);
  if (r.ok) t.same(r.id, { trustDomain: '11111111-2222-3333-4444-555555555555.consul', namespace: 'default', datacenter: 'dc1', service: 'web' });
  t.equal(formatSpiffeId({ trustDomain: 'aim.local', namespace: 'default', datacenter: 'dc1', service: 'api' }), 'spiffe://aim.local/ns/default/dc/dc1/svc/api');
  t.equal(trustDomainId('aim.local'), 'spiffe://aim.local');
});

t.test('refuses everything that is not strictly that form', async (t) => {
  const bad = [
    '', 'web', 'https://aim.local/ns/default/dc/dc1/svc/web', 'SPIFFE://aim.local/ns/default/dc/dc1/svc/web',
    'Spiffe://aim.local/ns/default/dc/dc1/svc/web', 'spiffe:/aim.local/ns/default/dc/dc1/svc/web',
    'spiffe://Aim.local/ns/default/dc/dc1/svc/web', 'spiffe://aim.local:443/ns/default/dc/dc1/svc/web',
    'spiffe://user@aim.local/ns/default/dc/dc1/svc/web', 'spiffe:///ns/default/dc/dc1/svc/web',
    'spiffe://aim.local', 'spiffe://aim.local/', 'spiffe://aim.local/ns/default/dc/dc1/svc/web/',
    'spiffe://aim.local/ns//dc/dc1/svc/web', 'spiffe://aim.local/ns/default/dc/dc1/svc/',
    'spiffe://aim.local/ns/default/dc/dc1/svc/we%2Fb', 'spiffe://aim.local/ns/default/dc/dc1/svc/web?x=1',
    'spiffe://aim.local/ns/default/dc/dc1/svc/web#f', 'spiffe://aim.local/ns/default/dc/dc1/svc/w b',
    'spiffe://aim.local/ns/default/dc/dc1/svc/web\r\nx: y', 'spiffe://aim.local/ns/default/dc/dc1/svc/web\0',
    'spiffe://aim.local/ns/../dc/dc1/svc/web', 'spiffe://aim.local/ns/./dc/dc1/svc/web',
    'spiffe://aim.local/agent/client/dc/dc1/id/abc', 'spiffe://aim.local/ap/part/ns/default/dc/dc1/svc/web',
    'spiffe://aim.local/ns/default/dc/dc1/svc/web/extra', 'spiffe://aim.local/svc/web/dc/dc1/ns/default',
    `spiffe://aim.local/ns/default/dc/dc1/svc/${'a'.repeat(2100)}`, `spiffe://${'a'.repeat(256)}/ns/d/dc/d/svc/w`,
  ];
  for (const s of bad) t.notOk(parseSpiffeId(s).ok, JSON.stringify(s.slice(0, 80)));
  t.throws(() => formatSpiffeId({ trustDomain: 'aim.local', namespace: 'default', datacenter: 'dc1', service: 'a/b' }), RangeError);
  t.throws(() => formatSpiffeId({ trustDomain: 'AIM', namespace: 'default', datacenter: 'dc1', service: 'a' }), RangeError);
  t.notOk(splitSpiffeUri('https://x').ok);
  const td = splitSpiffeUri('spiffe://aim.local');
  t.ok(td.ok && td.segments.length === 0);
});

const tdChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789.-_'.split(''));
const segChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_'.split(''));
const trustDomain = fc.string({ unit: tdChar, minLength: 1, maxLength: 60 });
const segment = fc.string({ unit: segChar, minLength: 1, maxLength: 30 }).filter((s) => s !== '.' && s !== '..');

t.test('property: format then parse gives back the same parts and the same string', async (t) => {
  fc.assert(fc.property(trustDomain, segment, segment, segment, (td, ns, dc, svc) => {
    const id = { trustDomain: td, namespace: ns, datacenter: dc, service: svc };
    const s = formatSpiffeId(id);
    const p = parseSpiffeId(s);
    return p.ok && p.id.trustDomain === td && p.id.namespace === ns && p.id.datacenter === dc && p.id.service === svc
      && formatSpiffeId(p.id) === s;
  }), { numRuns: 500 });
  t.pass('round trip holds');
});

t.test('property: anything accepted is canonical and free of CR, LF, NUL and spaces', async (t) => {
  const near = fc.tuple(trustDomain, segment, segment, fc.string({ maxLength: 12 }))
    .map(([td, ns, dc, svc]) => `spiffe://${td}/ns/${ns}/dc/${dc}/svc/${svc}`);
  fc.assert(fc.property(fc.oneof(fc.string(), near, fc.string({ unit: 'binary' })), (s) => {
    const p = parseSpiffeId(s);
    if (!p.ok) return true;
    return !/[\r\n\0\s%?#@:]/.test(s.slice('spiffe://'.length)) && formatSpiffeId(p.id) === s;
  }), { numRuns: 2000 });
  t.pass('no control characters get through');
});

t.test('property: trust domains are lower-case only', async (t) => {
  fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 20 }), (s) => {
    return isValidTrustDomain(s) === /^[a-z0-9._-]+$/.test(s);
  }), { numRuns: 1000 });
  t.pass('validity matches the spec alphabet');
});
