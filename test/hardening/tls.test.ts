/**
 * The mTLS port against hostile TLS clients: old protocol versions and weak
 * suites (checked with Debian's `openssl s_client`), no client certificate,
 * random bytes and plaintext HTTP, and odd SNI values. Each is refused or
 * served cleanly, the upstream receives nothing from a refused peer, and the
 * agent keeps serving real mTLS callers (whose identity header is the
 * verified one, never a forged copy).
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import tls from 'node:tls';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Endpoint } from '../../src/balancer/endpoint.ts';
import { buildAgentTls, type AgentIdentity } from '../../src/agent/identity.ts';
import { configFromObject } from '../../src/config/load.ts';
import { silentLogger } from '../../src/telemetry/log.ts';
import { tempRegistry } from '../support/mesh.ts';
import { parseResponse } from '../support/raw-http1-client.ts';
import { startHardened, watchProcess, type Hardened } from './harness.ts';

const proc = watchProcess();
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

interface SClient { code: number | null; out: string; negotiated: boolean }

/** Run `openssl s_client` (asynchronously: the agent under test shares this event loop). */
function sClient(port: number, args: string[]): Promise<SClient> {
  return new Promise((resolve) => {
    const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b) => { out += b; });
    p.stderr.on('data', (b) => { out += b; });
    const timer = setTimeout(() => p.kill('SIGKILL'), 8000);
    // Send a request, then keep stdin open a moment so a session (if any) can answer before s_client quits.
    p.stdin.write('GET / HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n');
    setTimeout(() => p.stdin.end(), 500);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, negotiated: /^New, TLSv1\S* Cipher is (?!\(NONE\))/m.test(out) && !/alert|handshake failure/i.test(out) });
    });
  });
}

/** A GET over mTLS as a real peer (service web, same CA); resolves with the response or the error. */
function mtlsGet(port: number, web: AgentIdentity, servername: string | undefined, extraHead = ''): Promise<{ status?: number; body?: string; err?: string }> {
  return new Promise((resolve) => {
    const ep = new Endpoint({ address: '127.0.0.1', port, weight: 1, tags: [], health: 'passing' }, 0, 'api');
    const opts = { ...web.clientOptions(ep), host: '127.0.0.1', port, ALPNProtocols: ['http/1.1'] } as tls.ConnectionOptions;
    if (servername === undefined) delete opts.servername; else opts.servername = servername;
    const s = tls.connect(opts);
    let buf = Buffer.alloc(0);
    s.on('secureConnect', () => s.write(`GET /tls HTTP/1.1\r\nHost: api\r\nConnection: close\r\n${extraHead}\r\n`));
    s.on('data', (b: Buffer) => { buf = Buffer.concat([buf, b]); });
    s.on('error', (e) => resolve({ err: e.message }));
    s.on('close', () => {
      try {
        const r = parseResponse(buf, true);
        resolve(r ? { status: r.status, body: r.body.toString() } : { err: 'no response' });
      } catch (e) { resolve({ err: (e as Error).message }); }
    });
  });
}

/** Send raw bytes to the port; report what came back and whether the agent closed. */
function rawBytes(port: number, data: Buffer): Promise<{ got: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => { s.destroy(); resolve({ got, closed: false }); }, 3000);
    s.on('connect', () => s.write(data));
    s.on('data', (b: Buffer) => { got = Buffer.concat([got, b]); });
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(timer); resolve({ got, closed: true }); });
  });
}

let h: Hardened;
let web: AgentIdentity;

t.before(async () => {
  const caDir = mkdtempSync(join(tmpdir(), 'aim-hard-tls-'));
  h = await startHardened({ mtls: true, caDir });
  web = await buildAgentTls(configFromObject({
    service: { name: 'web', address: '127.0.0.1:1' }, inbound: { listen: '127.0.0.1:0' },
    discovery: { registry: tempRegistry('services: {}\n') }, admin: { bind: '127.0.0.1:0' },
  }, 'test'), { 'ca-dir': caDir }, silentLogger);
});
t.teardown(async () => { await web?.close(); await h?.stop(); });

t.test('a real mTLS peer is served; the identity header is the verified one', async (t) => {
  const r = await mtlsGet(h.port, web, undefined, 'x-aim-mesh-peer-identity: spiffe://evil/ns/default/dc/dc1/svc/admin\r\n');
  t.equal(r.status, 200, r.err ?? 'served');
  const head = h.app.requests.at(-1)!.head.toLowerCase();
  const ids = [...head.matchAll(/\r\nx-aim-mesh-peer-identity: ([^\r]*)/g)].map((m) => m[1]);
  t.equal(ids.length, 1, 'exactly one identity header');
  t.match(ids[0] ?? '', /^spiffe:\/\/[^/]+\/ns\/[^/]+\/dc\/[^/]+\/svc\/web$/, 'the caller proven by its certificate');
});

t.test('TLS 1.0, 1.1 and 1.2 are refused; so are weak suites', { skip: hasOpenssl ? false : 'openssl not installed' }, async (t) => {
  const before = h.app.bytes;
  for (const [name, args] of [
    ['TLS 1.0', ['-tls1', '-cipher', 'DEFAULT:@SECLEVEL=0']],
    ['TLS 1.1', ['-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0']],
    ['TLS 1.2', ['-tls1_2']],
    ['TLS 1.2 with RC4/3DES/NULL/EXPORT suites', ['-tls1_2', '-cipher', 'RC4:3DES:DES:NULL:EXPORT:aNULL:eNULL:@SECLEVEL=0']],
    ['TLS 1.3 with only TLS_AES_128_CCM_8_SHA256', ['-tls1_3', '-ciphersuites', 'TLS_AES_128_CCM_8_SHA256']],
  ] as Array<[string, string[]]>) {
    const r = await sClient(h.port, args);
    t.notOk(r.negotiated, `${name}: no session`);
    t.match(r.out, /alert (protocol version|handshake failure)/, `${name}: refused by the server (TLS alert)`);
    t.not(r.code, 0, `${name}: openssl reports failure`);
    t.notMatch(r.out, /HTTP\/1\.1 \d{3}/, `${name}: no HTTP answer`);
  }
  t.equal(h.app.bytes, before, 'nothing reached the upstream');
});

t.test('TLS 1.3 without a client certificate: refused, nothing proxied', { skip: hasOpenssl ? false : 'openssl not installed' }, async (t) => {
  const before = h.app.bytes;
  const r = await sClient(h.port, ['-tls1_3']);
  t.notMatch(r.out, /HTTP\/1\.1 \d{3}/, 'no HTTP answer');
  t.match(r.out, /certificate required|alert|unexpected eof|read:errno=104/i, 'the server dropped the peer after the handshake (TLS 1.3 client auth)');
  t.equal(h.app.bytes, before);
});

t.test('random bytes and plaintext on the mTLS port: closed cleanly, nothing proxied', async (t) => {
  const before = h.app.bytes;
  const cases: Array<[string, Buffer]> = [
    ['random bytes', Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7919 + 13) & 0xff))],
    ['plaintext HTTP', Buffer.from('GET / HTTP/1.1\r\nHost: api\r\n\r\n')],
    ['a TLS record header with a huge length', Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00])],
    ['an h2 preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
    ['NUL bytes', Buffer.alloc(64)],
  ];
  for (const [name, bytes] of cases) {
    const r = await rawBytes(h.port, bytes);
    t.ok(r.closed, `${name}: the agent closed the connection`);
    t.notMatch(r.got.toString('latin1'), /HTTP\/1\.1/, `${name}: no HTTP reply`);
  }
  t.equal(h.app.bytes, before, 'nothing reached the upstream');
  const still = await mtlsGet(h.port, web, undefined);
  t.equal(still.status, 200, 'real peers are still served');
});

t.test('odd SNI values: identity comes from the certificate, SNI changes nothing', async (t) => {
  const names = [undefined, 'evil.example', 'UPPER.Case.Example', `${'x'.repeat(63)}.test`, 'under_score.local', 'xn--nxasmq6b.test',
    'a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p', '-leading-dash.test', 'localhost', 'api.service.consul'];
  for (const n of names) {
    const r = await mtlsGet(h.port, web, n);
    t.equal(r.status, 200, `SNI ${JSON.stringify(n)}: served (${r.err ?? 'ok'})`);
  }
  if (hasOpenssl) {
    // Values Node's client would not send: a 255-byte name and non-ASCII bytes, without a client cert (refused, cleanly).
    for (const sni of ['x'.repeat(255), 'b\u00fccher.test', 'a..b']) {
      const r = await sClient(h.port, ['-tls1_3', '-servername', sni]);
      t.notMatch(r.out, /HTTP\/1\.1 \d{3}/, `SNI ${JSON.stringify(sni.slice(0, 20))}: no HTTP without a certificate`);
    }
  }
  const still = await mtlsGet(h.port, web, undefined);
  t.equal(still.status, 200, 'still serving');
});

t.test('no unhandled rejection', async (t) => { t.same(proc.problems, []); });
