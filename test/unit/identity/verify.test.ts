/**
 * PeerVerifier on DER, with an injected clock: every rule of verify.ts, the
 * per-fingerprint cache, intermediates, and bundle swaps.
 */
import t from 'tap';
import { EKU_CLIENT_AUTH, EKU_SERVER_AUTH, KU, readCertFacts } from '../../../src/identity/cert-facts.ts';
import { issueLeaf } from '../../../src/identity/issue.ts';
import { pemToDer } from '../../../src/identity/pem.ts';
import { TrustBundles } from '../../../src/identity/trust-bundle.ts';
import { PeerVerifier } from '../../../src/identity/verify.ts';
import { craftCert, idOf, makeCa } from './fixtures.ts';

const der = (pem: string) => pemToDer(pem);

t.test('verification rules', async (t) => {
  const ca = await makeCa(t);
  const other = await makeCa(t);
  const otherTd = await makeCa(t, 'other.local');
  let now = Date.now();
  const v = new PeerVerifier({ bundles: new TrustBundles({ 'aim.local': ca.rootsPem, 'other.local': [] }), now: () => now });
  const web = idOf('web');

  const good = issueLeaf(ca, { spiffeId: web, ttlMs: 60_000 });
  const ok = v.verify(der(good.certPem), [], 'client');
  t.ok(ok.ok, 'a leaf from our CA verifies');
  if (ok.ok) {
    t.equal(ok.spiffeId, web);
    t.same(ok.id, { trustDomain: 'aim.local', namespace: 'default', datacenter: 'dc1', service: 'web' });
    t.equal(ok.serial, good.serial);
  }
  t.ok(v.verify(der(good.certPem), [], 'server', web).ok, 'expected ID matches');

  const cases: Array<[string, string, string]> = [
    ['another CA', craftCert(other, { uris: [web] }).certPem, 'untrusted'],
    ['no URI SAN', craftCert(ca, { dns: ['web.local'] }).certPem, 'no_spiffe_id'],
    ['no SAN at all', craftCert(ca, {}).certPem, 'no_spiffe_id'],
    ['two URI SANs', craftCert(ca, { uris: [web, idOf('api')] }).certPem, 'multiple_uri_sans'],
    ['spiffe + https URI', craftCert(ca, { uris: [web, 'https://web.local'] }).certPem, 'multiple_uri_sans'],
    ['non-spiffe URI', craftCert(ca, { uris: ['https://web.local/'] }).certPem, 'not_spiffe'],
    ['upper-case scheme', craftCert(ca, { uris: ['SPIFFE://aim.local/ns/default/dc/dc1/svc/web'] }).certPem, 'not_spiffe'],
    ['agent-form ID', craftCert(ca, { uris: ['spiffe://aim.local/agent/client/dc/dc1/id/x'] }).certPem, 'bad_spiffe_id'],
    ['ID with CRLF', craftCert(ca, { uris: ['spiffe://aim.local/ns/default/dc/dc1/svc/web\r\nx'] }).certPem, 'bad_spiffe_id'],
    ['wrong trust domain, same CA', craftCert(ca, { uris: [idOf('web', 'evil.local')] }).certPem, 'unknown_trust_domain'],
    ['trust domain of another CA', craftCert(ca, { uris: [idOf('web', 'other.local')] }).certPem, 'unknown_trust_domain'],
    ['CA:TRUE leaf', craftCert(ca, { uris: [web], isCa: true, keyUsage: KU.digitalSignature | KU.keyCertSign }).certPem, 'ca_certificate'],
    ['no keyUsage', craftCert(ca, { uris: [web], keyUsage: null }).certPem, 'key_usage'],
    ['keyUsage without digitalSignature', craftCert(ca, { uris: [web], keyUsage: KU.keyEncipherment }).certPem, 'key_usage'],
    ['keyUsage with keyCertSign', craftCert(ca, { uris: [web], keyUsage: KU.digitalSignature | KU.keyCertSign }).certPem, 'key_usage'],
    ['no extKeyUsage', craftCert(ca, { uris: [web], eku: null }).certPem, 'ext_key_usage'],
    ['unknown critical extension', craftCert(ca, { uris: [web], unknownCritical: true }).certPem, 'critical_extension'],
    ['duplicate SAN extension', craftCert(ca, { uris: [web], duplicateSan: true }).certPem, 'malformed'],
    ['expired', craftCert(ca, { uris: [web], notBefore: new Date(now - 7200_000), notAfter: new Date(now - 3600_000) }).certPem, 'expired'],
    ['not yet valid', craftCert(ca, { uris: [web], notBefore: new Date(now + 3600_000), notAfter: new Date(now + 7200_000) }).certPem, 'not_yet_valid'],
  ];
  for (const [name, pem, reason] of cases) {
    const r = v.verify(der(pem), [], 'client');
    t.equal(r.ok ? 'ok' : r.reason, reason, name);
    if (!r.ok) t.ok(r.detail.length > 0, `${name} has a detail`);
  }
  t.equal((v.verify(Buffer.from('not a certificate'), [], 'client') as { reason: string }).reason, 'malformed');
  t.equal((v.verify(undefined, [], 'client') as { reason: string }).reason, 'no_certificate');
  t.equal((v.verify(der(issueLeaf(otherTd, { spiffeId: idOf('x', 'other.local'), ttlMs: 60_000 }).certPem), [], 'client') as { reason: string }).reason,
    'unknown_trust_domain', 'an empty bundle trusts nothing');

  const wrong = v.verify(der(good.certPem), [], 'server', idOf('api'));
  t.equal(wrong.ok ? 'ok' : wrong.reason, 'unexpected_identity', 'outbound: another service');
  const serverOnly = craftCert(ca, { uris: [web], eku: [EKU_SERVER_AUTH] }).certPem;
  t.ok(v.verify(der(serverOnly), [], 'server').ok, 'serverAuth-only leaf is fine as a server');
  t.equal((v.verify(der(serverOnly), [], 'client') as { reason: string }).reason, 'ext_key_usage', '... but not as a client');
  const clientOnly = craftCert(ca, { uris: [web], eku: [EKU_CLIENT_AUTH] }).certPem;
  t.equal((v.verify(der(clientOnly), [], 'server') as { reason: string }).reason, 'ext_key_usage', 'clientAuth-only leaf is no server');

  // The injected clock drives validity, also for cached verdicts.
  const fp = readCertFacts(der(good.certPem)).fingerprint;
  now += 120_000;
  t.equal((v.lookup(fp, 'client') as { reason: string }).reason, 'expired', 'cached verdict re-checks the clock');
  now -= 3_600_000;
  t.equal((v.lookup(fp, 'client') as { reason: string }).reason, 'not_yet_valid');
});

t.test('cache: hits by fingerprint, bounded, dropped on a bundle swap', async (t) => {
  const ca = await makeCa(t);
  const v = new PeerVerifier({ bundles: new TrustBundles({ 'aim.local': ca.rootsPem }), cacheSize: 2 });
  const leaves = ['a', 'b', 'c'].map((s) => issueLeaf(ca, { spiffeId: idOf(s), ttlMs: 60_000 }));
  const fps = leaves.map((l) => readCertFacts(der(l.certPem)).fingerprint);
  t.equal(v.lookup(fps[0]!, 'client'), undefined, 'unknown leaf: no verdict');
  for (const l of leaves) t.ok(v.verify(der(l.certPem), [], 'client').ok);
  t.equal(v.lookup(fps[0]!, 'client'), undefined, 'oldest entry evicted (size 2)');
  t.ok(v.lookup(fps[2]!, 'client')?.ok, 'recent entry served from cache');
  t.ok(v.verify(der(leaves[1]!.certPem), [], 'client', undefined, fps[1]).ok);
  t.ok(v.stats.hits >= 2);
  v.setBundles(new TrustBundles({ 'aim.local': (await makeCa(t)).rootsPem }));
  t.equal(v.lookup(fps[2]!, 'client'), undefined, 'bundle swap forgets verdicts');
  t.equal((v.verify(der(leaves[2]!.certPem), [], 'client') as { reason: string }).reason, 'untrusted', 'and the new bundle decides');
  t.throws(() => new PeerVerifier({ bundles: new TrustBundles({}), cacheSize: 0 }), RangeError);
});

t.test('intermediates: path through a CA the peer sends', async (t) => {
  const ca = await makeCa(t);
  const web = idOf('web');
  const inter = craftCert(ca, { isCa: true, keyUsage: KU.keyCertSign | KU.cRLSign, eku: null, uris: ['spiffe://aim.local'], commonName: 'intermediate' });
  const leaf = craftCert(inter, { uris: [web] });
  const v = new PeerVerifier({ bundles: new TrustBundles({ 'aim.local': ca.rootsPem }) });
  t.equal((v.verify(der(leaf.certPem), [], 'client') as { reason: string }).reason, 'untrusted', 'missing intermediate');
  t.ok(v.verify(der(leaf.certPem), [der(inter.certPem)], 'client').ok, 'intermediate supplied: chain found (chain failures are not cached)');

  const notCa = craftCert(ca, { uris: ['spiffe://aim.local'], keyUsage: KU.keyCertSign, commonName: 'not-a-ca' });
  const leaf2 = craftCert(notCa, { uris: [web] });
  t.match(v.verify(der(leaf2.certPem), [der(notCa.certPem)], 'client'), { ok: false, reason: 'untrusted', detail: /not a CA/ });

  const foreign = craftCert(ca, { isCa: true, keyUsage: KU.keyCertSign, eku: null, uris: ['spiffe://other.local'], commonName: 'foreign' });
  const leaf3 = craftCert(foreign, { uris: [web] });
  t.match(v.verify(der(leaf3.certPem), [der(foreign.certPem)], 'client'), { ok: false, reason: 'untrusted', detail: /another trust domain/ });

  const expiredInter = craftCert(ca, {
    isCa: true, keyUsage: KU.keyCertSign, eku: null, commonName: 'old', notBefore: new Date(Date.now() - 7200_000), notAfter: new Date(Date.now() - 3600_000),
  });
  const leaf4 = craftCert(expiredInter, { uris: [web] });
  t.match(v.verify(der(leaf4.certPem), [der(expiredInter.certPem)], 'client'), { ok: false, reason: 'untrusted', detail: /issuer/ });
});

t.test('server side: OpenSSL\'s chain verdict stands in for intermediates Node hides, never for the leaf rules', async (t) => {
  const ca = await makeCa(t);
  const inter = craftCert(ca, { isCa: true, keyUsage: KU.keyCertSign, eku: null, commonName: 'bridge' });
  const leaf = craftCert(inter, { uris: [idOf('web')] });
  const v = new PeerVerifier({ bundles: new TrustBundles({ 'aim.local': ca.rootsPem }) });
  const fp = readCertFacts(der(leaf.certPem)).fingerprint;
  t.equal((v.verify(der(leaf.certPem), [], 'client', undefined, fp, false) as { reason: string }).reason, 'untrusted', 'no intermediates, no vouching: untrusted');
  t.ok(v.verify(der(leaf.certPem), [], 'client', undefined, fp, true).ok, 'OpenSSL verified the chain: accepted');
  t.equal(v.lookup(fp, 'client'), undefined, 'such a verdict is not cached');
  const caLeaf = craftCert(inter, { uris: [idOf('web')], isCa: true, keyUsage: KU.digitalSignature | KU.keyCertSign });
  t.equal((v.verify(der(caLeaf.certPem), [], 'client', undefined, undefined, true) as { reason: string }).reason, 'ca_certificate', 'leaf rules still apply');
  const foreign = craftCert(ca, { isCa: true, keyUsage: KU.keyCertSign, eku: null, uris: ['spiffe://other.local'], commonName: 'foreign' });
  const viaForeign = craftCert(foreign, { uris: [idOf('web')] });
  t.match(v.verify(der(viaForeign.certPem), [der(foreign.certPem)], 'client', undefined, undefined, true), { ok: false, reason: 'untrusted', detail: /another trust domain/ },
    'an intermediate we saw and refused is not overridden');
  const other = craftCert(inter, { uris: [idOf('web', 'evil.local')] });
  t.equal((v.verify(der(other.certPem), [], 'client', undefined, undefined, true) as { reason: string }).reason, 'unknown_trust_domain', 'trust domain still ours');
});
