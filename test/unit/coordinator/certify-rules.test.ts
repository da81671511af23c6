/** The Certify decision, join tokens, SPIFFE parsing and DER field reading, without sockets. */
import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import t from 'tap';
import { asForgeKey, nativeRsaKey } from '../../../src/control/native-rsa-sign.ts';
import { certFields } from '../../../src/control/cert-fields.ts';
import { formatSpiffeId, parseSpiffeId } from '../../../src/control/spiffe-id.ts';
import { authorizeCertify, checkCsr } from '../../../src/coordinator/certify.ts';
import { JoinTokens, parseJoinTokenFlag } from '../../../src/coordinator/join-tokens.ts';
import type { PeerCheck } from '../../../src/coordinator/peer-identity.ts';
import { generateRsaKeyPem, Signer } from '../../../src/coordinator/signer.ts';
import { testCa } from './support.ts';

const WEB = 'spiffe://aim.local/ns/default/dc/dc1/svc/web';
const API = 'spiffe://aim.local/ns/default/dc/dc1/svc/api';
const tokens = new JoinTokens([{ token: 'web-token-1', service: 'web' }, { token: 'any-token-1', service: '*' }]);
const noPeer: PeerCheck = { ok: false, why: 'none', presented: false };
const peer = (spiffeId: string): PeerCheck => ({ ok: true, peer: { spiffeId, id: parseSpiffeId(spiffeId)!, notAfterMs: Infinity } });

t.test('authorizeCertify', async (t) => {
  const d = (req: { spiffeId: string; joinToken?: string }, p: PeerCheck) => authorizeCertify(req, p, tokens, 'aim.local');
  t.match(d({ spiffeId: WEB }, peer(WEB)), { ok: true, via: 'certificate' });
  t.match(d({ spiffeId: API }, peer(WEB)), { ok: false, code: grpc.status.PERMISSION_DENIED });
  t.match(d({ spiffeId: API, joinToken: 'any-token-1' }, peer(WEB)), { ok: true, via: 'join_token' }, 'a token can still vouch');
  t.match(d({ spiffeId: WEB, joinToken: 'web-token-1' }, noPeer), { ok: true, via: 'join_token', service: 'web' });
  t.match(d({ spiffeId: API, joinToken: 'web-token-1' }, noPeer), { ok: false, code: grpc.status.PERMISSION_DENIED });
  t.match(d({ spiffeId: WEB, joinToken: 'nope-nope-nope' }, noPeer), { ok: false, code: grpc.status.UNAUTHENTICATED });
  t.match(d({ spiffeId: WEB }, noPeer), { ok: false, code: grpc.status.UNAUTHENTICATED });
  t.match(d({ spiffeId: 'spiffe://other/ns/default/dc/dc1/svc/web', joinToken: 'any-token-1' }, noPeer), { ok: false, code: grpc.status.PERMISSION_DENIED });
  t.match(d({ spiffeId: 'https://x' }, noPeer), { ok: false, code: grpc.status.INVALID_ARGUMENT });
});

t.test('checkCsr', async (t) => {
  const k = generateRsaKeyPem();
  const make = (uri?: string, tamper = false) => {
    const csr = forge.pki.createCertificationRequest();
    csr.publicKey = forge.pki.publicKeyFromPem(k.publicKeyPem);
    csr.setSubject([{ name: 'commonName', value: 'w' }]);
    if (uri) csr.setAttributes([{ name: 'extensionRequest', extensions: [{ name: 'subjectAltName', altNames: [{ type: 6, value: uri }] }] }]);
    csr.sign(asForgeKey(nativeRsaKey(k.privateKeyPem)), forge.md.sha256.create());
    if (tamper) csr.signature = `${csr.signature.slice(0, -1)}${csr.signature.endsWith('x') ? 'y' : 'x'}`;
    return forge.pki.certificationRequestToPem(csr);
  };
  t.match(checkCsr(make(), WEB), { ok: true });
  t.match(checkCsr(make(WEB), WEB), { ok: true });
  t.match(checkCsr(make(API), WEB), { ok: false, code: grpc.status.PERMISSION_DENIED });
  t.match(checkCsr(make(undefined, true), WEB), { ok: false, code: grpc.status.INVALID_ARGUMENT, message: /signature/ });
  t.match(checkCsr('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----', WEB), { ok: false, code: grpc.status.INVALID_ARGUMENT });
});

t.test('join tokens', async (t) => {
  t.same(tokens.check('web-token-1', 'web'), { ok: true, service: 'web' });
  t.same(tokens.check('web-token-1', 'api'), { ok: false, why: 'service_not_allowed' });
  t.same(tokens.check('any-token-1', 'anything'), { ok: true, service: 'anything' });
  t.same(tokens.check('zzz', 'web'), { ok: false, why: 'unknown_token' });
  t.throws(() => new JoinTokens([{ token: 'short', service: 'web' }]), /shorter than 8/);
  t.same(parseJoinTokenFlag('*=abc=def'), { service: '*', token: 'abc=def' });
  t.throws(() => parseJoinTokenFlag('novalue'));
});

t.test('SPIFFE IDs in Consul form', async (t) => {
  t.same(parseSpiffeId(WEB), { trustDomain: 'aim.local', namespace: 'default', datacenter: 'dc1', service: 'web' });
  t.equal(formatSpiffeId(parseSpiffeId(WEB)!), WEB);
  for (const bad of ['spiffe://aim.local/ns/default/dc/dc1/svc/', 'spiffe://AIM/ns/a/dc/b/svc/c', 'spiffe://aim.local/ns/a/dc/b/svc/c/d', 'spiffe://aim.local/ns/../dc/b/svc/c', 'http://aim.local/ns/a/dc/b/svc/c', 'spiffe://aim.local/ns/a/xx/b/svc/c']) {
    t.equal(parseSpiffeId(bad), undefined, bad);
  }
});

t.test('certFields reads SANs, CA flag and validity from DER', async (t) => {
  const ca = testCa();
  const root = certFields(new X509Certificate(ca.certPem).raw);
  t.equal(root.isCa, true);
  const k = generateRsaKeyPem();
  const leaf = new Signer(ca).sign({ publicKey: forge.pki.publicKeyFromPem(k.publicKeyPem), spiffeId: WEB, commonName: 'web', ttlMs: 60_000, nowMs: 1_800_000_000_500, dnsNames: ['a.test'], ipAddresses: ['10.0.0.1'] });
  const f = certFields(new X509Certificate(leaf.certPem).raw);
  t.same(f.uris, [WEB], 'only URI SANs, not DNS or IP');
  t.equal(f.isCa, false);
  t.equal(f.notAfterMs, 1_800_000_060_000, 'whole seconds');
  t.equal(f.notBeforeMs, 1_800_000_000_500 - 6000 - 500, 'backdated by a tenth of a short lifetime');
  t.equal(f.notAfterMs, leaf.notAfter.getTime());
  t.throws(() => certFields(Buffer.from('not der')));
});
