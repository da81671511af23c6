/**
 * Real mTLS handshakes on 127.0.0.1 with our server and client contexts:
 * good peers pass and learn each other's SPIFFE ID; every kind of bad peer is
 * rejected, in both directions; plaintext and silent clients get a clean
 * close; TLS 1.3 only; ALPN; session resumption.
 */
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { EKU_CLIENT_AUTH, EKU_SERVER_AUTH, KU } from '../../src/identity/cert-facts.ts';
import { createClientTls, createServerTls, isIdentityError } from '../../src/identity/tls-context.ts';
import type { VerifyResult } from '../../src/identity/verify.ts';
import { ProxyError } from '../../src/core/errors.ts';
import { TestSource, craftCert, exchange, idOf, leafMaterial, listen, makeCa, quietLog } from '../unit/identity/fixtures.ts';

const API = idOf('api');
const WEB = idOf('web');

t.test('mTLS between agents', async (t) => {
  const ca = await makeCa(t);
  const other = await makeCa(t);
  const serverSource = new TestSource(leafMaterial(ca, API));
  const clientSource = new TestSource(leafMaterial(ca, WEB));
  const rejected: Array<Extract<VerifyResult, { ok: false }>> = [];
  const st = createServerTls(serverSource, { log: quietLog, handshakeTimeoutMs: 400, onReject: (s, r) => { rejected.push(r); } });
  const server = tls.createServer(st.options, st.guard((socket, peer) => {
    socket.end(`hello ${peer.spiffeId} alpn=${socket.alpnProtocol} v=${socket.getProtocol()}`);
  }));
  st.attach(server);
  const port = await listen(t, server);
  const ct = createClientTls(clientSource);
  t.teardown(() => { st.close(); ct.close(); });

  await t.test('good peers: both sides see the other\'s SPIFFE ID', async (t) => {
    const out = await exchange(ct.connect({ host: '127.0.0.1', port, expectedSpiffeId: API }));
    t.ok(out.ok, 'request served');
    if (out.ok) t.equal(out.data, `hello ${WEB} alpn=h2 v=TLSv1.3`, 'server saw web; ALPN h2; TLS 1.3');
    const h1 = await exchange(ct.connect({ host: '127.0.0.1', port, expectedSpiffeId: API, alpn: ['http/1.1'] }));
    t.ok(h1.ok && h1.data.includes('alpn=http/1.1'), 'ALPN http/1.1 when that is all the client offers');
  });

  await t.test('session resumption: second connection resumes and is still authenticated', async (t) => {
    const before = ct.stats.resumed;
    await exchange(ct.connect({ host: '127.0.0.1', port, expectedSpiffeId: API, endpointKey: 'resume-test' }));
    const out = await exchange(ct.connect({ host: '127.0.0.1', port, expectedSpiffeId: API, endpointKey: 'resume-test' }));
    t.ok(out.ok && out.data.startsWith(`hello ${WEB}`), 'resumed connection served, server still verified the caller');
    t.equal(ct.stats.resumed, before + 1, 'the second handshake was resumed');
    const other = await exchange(ct.connect({ host: '127.0.0.1', port, expectedSpiffeId: idOf('db'), endpointKey: 'resume-test' }));
    t.notOk(other.ok, 'a session is never offered for a different expected identity: full handshake, and rejection');
  });

  await t.test('server rejects bad clients (our verification, with a reason)', async (t) => {
    const now = Date.now();
    const bad: Array<[string, { keyPem: string; certPem: string } | undefined, string]> = [
      ['peer from another CA', craftCert(other, { uris: [WEB] }), 'untrusted'],
      ['expired', craftCert(ca, { uris: [WEB], notBefore: new Date(now - 7200_000), notAfter: new Date(now - 3600_000) }), 'expired'],
      ['not yet valid', craftCert(ca, { uris: [WEB], notBefore: new Date(now + 3600_000), notAfter: new Date(now + 7200_000) }), 'not_yet_valid'],
      ['zero URI SANs', craftCert(ca, { dns: ['web.local'] }), 'no_spiffe_id'],
      ['two URI SANs', craftCert(ca, { uris: [WEB, idOf('db')] }), 'multiple_uri_sans'],
      ['non-spiffe URI', craftCert(ca, { uris: ['https://web.aim.local/'] }), 'not_spiffe'],
      ['wrong trust domain', craftCert(ca, { uris: [idOf('web', 'evil.local')] }), 'unknown_trust_domain'],
      ['CA:TRUE leaf', craftCert(ca, { uris: [WEB], isCa: true, keyUsage: KU.digitalSignature | KU.keyCertSign }), 'ca_certificate'],
      ['serverAuth-only EKU as a client', craftCert(ca, { uris: [WEB], eku: [EKU_SERVER_AUTH] }), 'ext_key_usage'],
      ['no client certificate', undefined, 'no_certificate'],
    ];
    for (const [name, cert, reason] of bad) {
      rejected.length = 0;
      const socket = tls.connect({
        host: '127.0.0.1', port, servername: 'api', rejectUnauthorized: false, minVersion: 'TLSv1.3',
        ...(cert ? { key: cert.keyPem, cert: cert.certPem } : {}),
      });
      const out = await exchange(socket);
      t.notOk(out.ok, `${name}: no response`);
      t.equal(rejected[0]?.reason, reason, `${name}: rejected as ${reason}`);
    }
    t.ok(st.stats.rejected >= bad.length);
  });

  await t.test('client rejects bad servers', async (t) => {
    const now = Date.now();
    const bad: Array<[string, { keyPem: string; certPem: string }, RegExp]> = [
      ['server from another CA', craftCert(other, { uris: [API] }), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|untrusted/],
      ['expired', craftCert(ca, { uris: [API], notBefore: new Date(now - 7200_000), notAfter: new Date(now - 3600_000) }), /CERT_HAS_EXPIRED|expired/],
      ['not yet valid', craftCert(ca, { uris: [API], notBefore: new Date(now + 3600_000), notAfter: new Date(now + 7200_000) }), /CERT_NOT_YET_VALID|not_yet_valid/],
      ['wrong SPIFFE ID', craftCert(ca, { uris: [idOf('db')] }), /unexpected_identity/],
      ['zero URI SANs', craftCert(ca, { dns: ['api.local'] }), /no_spiffe_id/],
      ['two URI SANs', craftCert(ca, { uris: [API, idOf('db')] }), /multiple_uri_sans/],
      ['non-spiffe URI', craftCert(ca, { uris: ['https://api.aim.local/'] }), /not_spiffe/],
      ['wrong trust domain', craftCert(ca, { uris: [idOf('api', 'evil.local')] }), /unknown_trust_domain/],
      ['CA:TRUE leaf', craftCert(ca, { uris: [API], isCa: true, keyUsage: KU.digitalSignature | KU.keyCertSign }), /ca_certificate|INVALID_CA/],
      ['clientAuth-only EKU as a server', craftCert(ca, { uris: [API], eku: [EKU_CLIENT_AUTH] }), /ext_key_usage|INVALID_PURPOSE/],
    ];
    for (const [name, cert, expect] of bad) {
      const badServer = tls.createServer({ key: cert.keyPem, cert: cert.certPem, minVersion: 'TLSv1.3' }, (s) => s.end('should never be read'));
      const badPort = await listen(t, badServer);
      const out = await exchange(ct.connect({ host: '127.0.0.1', port: badPort, expectedSpiffeId: API }));
      t.notOk(out.ok, `${name}: refused`);
      if (!out.ok) {
        t.match(`${out.err.code ?? ''} ${out.err.message}`, expect, `${name}: ${out.err.message}`);
        t.ok(isIdentityError(out.err), `${name}: classified as an identity failure`);
        if (out.err instanceof ProxyError) t.equal(out.err.reason, 'upstream_tls_identity');
      }
    }
  });

  await t.test('plaintext, silent and TLS 1.2 clients get a clean close; the port keeps working', async (t) => {
    const errorsBefore = st.stats.tlsClientErrors;
    const plain = await new Promise<{ bytes: Buffer; closedMs: number }>((resolve) => {
      const t0 = Date.now();
      const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: api\r\n\r\n'));
      const chunks: Buffer[] = [];
      s.on('data', (c) => chunks.push(c));
      s.on('error', () => {});
      s.on('close', () => resolve({ bytes: Buffer.concat(chunks), closedMs: Date.now() - t0 }));
    });
    t.ok(plain.closedMs < 2000, 'plaintext HTTP is closed promptly');
    t.notMatch(plain.bytes.toString('latin1'), /HTTP\/1\.1/, 'no HTTP answer, at most a TLS alert');
    if (plain.bytes.length > 0) t.equal(plain.bytes[0], 0x15, 'what was sent is a TLS alert record');

    const silent = await new Promise<number>((resolve) => {
      const t0 = Date.now();
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      s.on('close', () => resolve(Date.now() - t0));
    });
    t.ok(silent < 3000, `a silent client is closed after the handshake timeout (${silent} ms)`);

    const old = await exchange(tls.connect({ host: '127.0.0.1', port, maxVersion: 'TLSv1.2', rejectUnauthorized: false, servername: 'api' }));
    t.notOk(old.ok, 'TLS 1.2 is refused');
    t.ok(st.stats.tlsClientErrors > errorsBefore, 'client errors counted');

    const again = await exchange(ct.connect({ host: '127.0.0.1', port, expectedSpiffeId: API }));
    t.ok(again.ok, 'a good client is still served');
  });
});
