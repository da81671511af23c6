/**
 * The agent-to-agent transport over TLS: the client's protocol picks the
 * ALPN between agents (h2 for HTTP/2 and gRPC, http/1.1 for HTTP/1, none
 * for opaque TCP), and the inbound agent serves each accepted TLS socket by
 * its ALPN. Uses a small AgentTls over node:tls with an openssl-made CA and
 * SPIFFE leaves, so it tests the transport wiring independently of how the
 * identity layer issues certificates; then the same over the agent's real
 * identity (local CA, SPIFFE verification).
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { request } from 'undici';
import * as grpc from '@grpc/grpc-js';
import { configFromObject } from '../../src/config/load.ts';
import { startAgent, type RunningAgent } from '../../src/agent/run.ts';
import type { AgentTls } from '../../src/agent/tls.ts';
import { silentLogger } from '../../src/telemetry/log.ts';
import { startMeshPair, tempRegistry } from '../support/mesh.ts';
import { echoClient, startEchoApp, unary, type Msg } from '../fixtures/protos/echo-app.ts';

const run = promisify(execFile);

function makeIdentities(): { dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'aim-h2tls-'));
  const ossl = (args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' }); };
  ossl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=test-ca', '-days', '1', '-keyout', 'ca.key', '-out', 'ca.crt']);
  for (const name of ['api', 'web']) {
    ossl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`]);
    ossl(['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${name}`, '-out', `${name}.csr`]);
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=URI:spiffe://test/${name},DNS:agent.test\nextendedKeyUsage=serverAuth,clientAuth\n`);
    ossl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
  }
  return { dir };
}

type TestTls = AgentTls & { readonly alpns: Array<string | false> };

/** A minimal AgentTls: mutual TLS with the test CA; ALPN h2 and http/1.1 offered, like the real one. */
function testTls(dir: string, name: string): TestTls {
  const key = readFileSync(join(dir, `${name}.key`));
  const cert = readFileSync(join(dir, `${name}.crt`));
  const ca = readFileSync(join(dir, 'ca.crt'));
  const alpns: Array<string | false> = [];
  return {
    alpns,
    ready: () => true,
    createServer(onSocket) {
      return tls.createServer({ key, cert, ca, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2', 'http/1.1'], allowHalfOpen: true }, (s) => {
        alpns.push(s.alpnProtocol ?? false);
        onSocket(s);
      });
    },
    peerIdentity(s) {
      const san = (s as tls.TLSSocket).getPeerCertificate().subjectaltname ?? '';
      return /URI:(spiffe:\/\/[^,\s]+)/.exec(san)?.[1];
    },
    clientOptions() { return { key, cert, ca, servername: 'agent.test', ALPNProtocols: ['h2', 'http/1.1'] }; },
    close: async () => {},
  };
}

interface Pair { port: number; outbound: RunningAgent; inbound: RunningAgent; inTls: TestTls }

async function startTlsPair(t: Test, dir: string, appPort: number, protocol = 'http'): Promise<Pair> {
  const inTls = testTls(dir, 'api');
  const inbound = await startAgent(configFromObject({
    service: { name: 'api', address: `127.0.0.1:${appPort}`, protocol },
    inbound: { listen: '127.0.0.1:0', mtls: true },
    discovery: { kind: 'static', registry: tempRegistry('services: {}\n') },
    admin: { bind: '127.0.0.1:0' },
  }, 'test'), { log: silentLogger, tls: inTls });
  const inboundPort = inbound.agent.listeners.find((l) => l.name === 'inbound')!.port;
  const outbound = await startAgent(configFromObject({
    service: { name: 'web', address: '127.0.0.1:1' },
    inbound: { listen: '127.0.0.1:0', mtls: true },
    upstreams: [{ name: 'api', listen: '127.0.0.1:0', protocol }],
    discovery: { kind: 'static', registry: tempRegistry(`services:\n  api:\n    instances:\n      - { address: 127.0.0.1, port: ${inboundPort} }\n`) },
    admin: { bind: '127.0.0.1:0' },
  }, 'test'), { log: silentLogger, tls: testTls(dir, 'web') });
  t.teardown(async () => { await Promise.all([outbound.stop(), inbound.stop()]); });
  return { port: outbound.agent.listeners.find((l) => l.name === 'outbound:api')!.port, outbound, inbound, inTls };
}

t.test('the client protocol picks the ALPN between agents', async (t) => {
  const { dir } = makeIdentities();
  // An app speaking HTTP/1.1 and h2c on one port, answering with what it saw.
  const seen: Array<{ version: string; peer: unknown }> = [];
  const answer = (version: string, headers: http.IncomingHttpHeaders): string => {
    seen.push({ version, peer: headers['x-aim-mesh-peer-identity'] });
    return JSON.stringify(seen.at(-1));
  };
  const h1 = http.createServer((req, res) => res.end(answer(req.httpVersion, req.headers)));
  const h2 = http2.createServer((req, res) => res.end(answer(req.httpVersion, req.headers)));
  const app = net.createServer((s) => s.once('data', (d: Buffer) => {
    s.pause(); s.unshift(d);
    if (d.toString('latin1', 0, 3) === 'PRI') h2.emit('connection', s);
    else { h1.emit('connection', s); s.resume(); }
  }));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => { app.close(() => r()); h1.closeAllConnections(); }));
  const pair = await startTlsPair(t, dir, (app.address() as net.AddressInfo).port);

  await t.test('HTTP/1.1 client: ALPN http/1.1 between agents, HTTP/1.1 at the app', async (t) => {
    const res = await request(`http://127.0.0.1:${pair.port}/h1`);
    t.same(JSON.parse(await res.body.text()), { version: '1.1', peer: 'spiffe://test/web' });
    t.same(pair.inTls.alpns, ['http/1.1']);
  });

  await t.test('h2c client: ALPN h2 between agents, HTTP/2 at the app, caller identity forwarded', async (t) => {
    const { stdout } = await run('curl', ['-sS', '--http2-prior-knowledge', `http://127.0.0.1:${pair.port}/h2`]);
    t.same(JSON.parse(stdout), { version: '2.0', peer: 'spiffe://test/web' });
    t.same(pair.inTls.alpns, ['http/1.1', 'h2']);
  });
});

t.test('gRPC over the mTLS pair: one h2 session, all shapes', async (t) => {
  const { dir } = makeIdentities();
  const app = await startEchoApp('tls-app');
  t.teardown(() => app.close());
  const pair = await startTlsPair(t, dir, app.port, 'grpc');
  const c = echoClient(pair.port);
  t.teardown(() => c.close());
  const r = await unary<Msg>(c, 'Unary', { text: 'over mtls' });
  t.equal(r.text, 'over mtls');
  t.equal(app.metadata.at(-1)!.get('x-aim-mesh-peer-identity')[0], 'spiffe://test/web', 'the app learns the caller');
  const got = await new Promise<number>((resolve, reject) => {
    const call = c.Bidi();
    let n = 0;
    call.on('data', () => { n++; });
    call.on('end', () => resolve(n));
    call.on('error', reject);
    for (let i = 0; i < 1000; i++) call.write({ n: i, text: 'x' });
    call.end();
  });
  t.equal(got, 1000, 'bidi 1,000 echoes');
  const err = await unary(c, 'Unary', { text: 'x', delay_ms: 2000 }, { deadline: Date.now() + 200 }).catch((e: grpc.ServiceError) => e) as grpc.ServiceError;
  t.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
  t.same(pair.inTls.alpns, ['h2'], 'one TLS connection, ALPN h2, for every call');
  t.equal(pair.outbound.agent.h2Pools.get('outbound:api')!.connectsTotal, 1);
});

t.test('an agent that does not offer h2 fails the handshake cleanly: UNAVAILABLE, not garbage', async (t) => {
  const { dir } = makeIdentities();
  const app = await startEchoApp('x');
  t.teardown(() => app.close());
  // The "inbound" side here only speaks http/1.1 over TLS.
  const key = readFileSync(join(dir, 'api.key')), cert = readFileSync(join(dir, 'api.crt')), ca = readFileSync(join(dir, 'ca.crt'));
  const old = tls.createServer({ key, cert, ca, requestCert: true, ALPNProtocols: ['http/1.1'] }, (s) => s.end());
  await new Promise<void>((r) => old.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => old.close());
  const outbound = await startAgent(configFromObject({
    service: { name: 'web', address: '127.0.0.1:1' },
    inbound: { listen: '127.0.0.1:0', mtls: true },
    upstreams: [{ name: 'api', listen: '127.0.0.1:0', protocol: 'grpc' }],
    discovery: { kind: 'static', registry: tempRegistry(`services:\n  api:\n    instances:\n      - { address: 127.0.0.1, port: ${(old.address() as net.AddressInfo).port} }\n`) },
    admin: { bind: '127.0.0.1:0' },
  }, 'test'), { log: silentLogger, tls: testTls(dir, 'web') });
  t.teardown(() => outbound.stop());
  const c = echoClient(outbound.agent.listeners.find((l) => l.name === 'outbound:api')!.port);
  t.teardown(() => c.close());
  const err = await unary(c, 'Unary', { text: 'x' }).catch((e: grpc.ServiceError) => e) as grpc.ServiceError;
  t.equal(err.code, grpc.status.UNAVAILABLE);
  t.match(err.details, /^upstream_connect_failed: .*(ALPN|application protocol)/i);
});

t.test('gRPC with the agent\'s real identity (local CA, SPIFFE verification)', async (t) => {
  const app = await startEchoApp('real-id');
  t.teardown(() => app.close());
  const pair = await startMeshPair({ appPort: app.port, mtls: true });
  t.teardown(() => pair.stop());
  const c = echoClient(pair.port);
  t.teardown(() => c.close());
  const r = await unary<Msg>(c, 'Unary', { text: 'spiffe' });
  t.equal(r.text, 'spiffe');
  t.match(String(app.metadata.at(-1)!.get('x-aim-mesh-peer-identity')[0]), /^spiffe:\/\/.+\/svc\/web$/, 'the app learns the verified caller');
  const n = await new Promise<number>((resolve, reject) => {
    const call = c.Bidi();
    let got = 0;
    call.on('data', () => { got++; });
    call.on('end', () => resolve(got));
    call.on('error', reject);
    for (let i = 0; i < 1000; i++) call.write({ n: i });
    call.end();
  });
  t.equal(n, 1000, 'bidi 1,000 each way over the verified h2 session');
  const err = await unary(c, 'Unary', { text: 'x', delay_ms: 2000 }, { deadline: Date.now() + 200 }).catch((e: grpc.ServiceError) => e) as grpc.ServiceError;
  t.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
  t.equal(pair.outbound.agent.h2Pools.get('outbound:api')!.connectsTotal, 1, 'one mTLS h2 session carried every call');
});
