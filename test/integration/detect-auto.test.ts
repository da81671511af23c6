/**
 * Protocol detection. The classifier on byte prefixes (pure), then `auto`
 * ports through an outbound → inbound agent pair in front of an app that
 * itself speaks HTTP/1.1, h2c, TLS and two opaque protocols on one port:
 * each protocol is routed correctly end to end (TLS passes through, never
 * terminated by the agents), a server-speaks-first protocol works after the
 * detection timeout, an opaque port skips the wait, and the detection
 * metrics count all of it.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import WebSocket, { WebSocketServer } from 'ws';
import { request } from 'undici';
import { configFromObject } from '../../src/config/load.ts';
import { startAgent, type RunningAgent } from '../../src/agent/run.ts';
import { silentLogger } from '../../src/telemetry/log.ts';
import { classify } from '../../src/listeners/detect.ts';
import { tempRegistry } from '../support/mesh.ts';

const run = promisify(execFile);

t.test('classify: first bytes → protocol', async (t) => {
  const c = (s: string | number[]): string | undefined => classify(typeof s === 'string' ? Buffer.from(s, 'latin1') : Buffer.from(s));
  t.equal(c('GET / HTTP/1.1\r\n'), 'http1');
  t.equal(c('POST '), 'http1');
  t.equal(c('M-SEARCH * HTTP/1.1'), 'http1');
  t.equal(c('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), 'h2c');
  t.equal(c([0x16, 0x03, 0x01, 0x02, 0x00]), 'tls');
  t.equal(c([0x16, 0x01]), 'tcp', '0x16 without a TLS version byte');
  t.equal(c('\x00\x00\x00\x08hello'), 'tcp');
  t.equal(c('SSH-2.0-OpenSSH_9.2\r\n'), 'tcp');
  t.equal(c('get / HTTP/1.1'), 'tcp', 'methods are case-sensitive');
  t.equal(c('GETX / HTTP/1.1'), 'tcp');
  t.equal(c('PRI * HTTP/1.1\r\n'), 'tcp', 'a broken preface is not h2');
  t.equal(c('G'), undefined, 'prefix of a method: need more');
  t.equal(c('DELET'), undefined);
  t.equal(c('PRI * HTTP/2'), undefined, 'prefix of the preface: need more');
  t.equal(c([0x16]), undefined);
  t.equal(c(''), undefined);
});

interface MultiApp { port: number; certPem: string; seen: string[] }

/**
 * An app that speaks, on ONE port: HTTP/1.1, h2c, TLS (echo), an opaque
 * client-first protocol (echo with "echo:" prefix), and a server-first one
 * (it greets when the client stays silent for 150 ms).
 */
async function startMultiApp(t: Test): Promise<MultiApp> {
  const dir = mkdtempSync(join(tmpdir(), 'aim-detect-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=app.local',
    '-addext', 'subjectAltName=DNS:app.local', '-days', '1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const certPem = readFileSync(join(dir, 'cert.pem'), 'utf8');
  const seen: string[] = [];
  const h1 = http.createServer((req, res) => { seen.push(`http/${req.httpVersion}`); res.end(`h1 ${req.url}`); });
  const wss = new WebSocketServer({ server: h1 });
  wss.on('connection', (ws) => { seen.push('ws'); ws.on('message', (d, b) => ws.send(d, { binary: b })); });
  const h2 = http2.createServer((req, res) => { seen.push(`http/${req.httpVersion}`); res.end(`h2 ${req.url}`); });
  const tlsServer = tls.createServer({ key: readFileSync(join(dir, 'key.pem')), cert: certPem }, (s) => { seen.push('tls'); s.on('data', (d) => s.write(d)); s.on('error', () => {}); });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    const greet = setTimeout(() => {
      seen.push('server-first');
      sock.write('220 greetings\r\n');
      sock.on('data', (d) => sock.write(`221 ${d.toString().trim()} ok\r\n`));
    }, 150);
    sock.once('data', (first: Buffer) => {
      if (sock.listenerCount('data') > 0) return; // the greeting path owns it
      clearTimeout(greet);
      sock.pause();
      sock.unshift(first);
      const head = first.toString('latin1', 0, 4);
      if (head === 'PRI ') { h2.emit('connection', sock); return; }
      if (first[0] === 0x16) { tlsServer.emit('connection', sock); return; }
      if (/^[A-Z]+ /.test(first.toString('latin1', 0, 8))) { h1.emit('connection', sock); sock.resume(); return; }
      seen.push('opaque');
      sock.on('data', (d) => sock.write(Buffer.concat([Buffer.from('echo:'), d])));
      sock.resume();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  return { port: (server.address() as net.AddressInfo).port, certPem, seen };
}

interface Pair { port: number; outbound: RunningAgent; inbound: RunningAgent }

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

async function startAutoPair(t: Test, appPort: number, detect: Record<string, unknown>, outboundPort = 0): Promise<Pair> {
  const inbound = await startAgent(configFromObject({
    service: { name: 'api', address: `127.0.0.1:${appPort}`, protocol: 'auto' },
    inbound: { listen: '127.0.0.1:0', mtls: false },
    discovery: { kind: 'static', registry: tempRegistry('services: {}\n') },
    admin: { bind: '127.0.0.1:0' },
    detect,
  }, 'test'), { log: silentLogger });
  const inboundPort = inbound.agent.listeners.find((l) => l.name === 'inbound')!.port;
  const outbound = await startAgent(configFromObject({
    service: { name: 'web', address: '127.0.0.1:1' },
    inbound: { listen: '127.0.0.1:0', mtls: false },
    upstreams: [{ name: 'api', listen: `127.0.0.1:${outboundPort}`, protocol: 'auto' }],
    discovery: { kind: 'static', registry: tempRegistry(`services:\n  api:\n    instances:\n      - { address: 127.0.0.1, port: ${inboundPort} }\n`) },
    admin: { bind: '127.0.0.1:0' },
    detect,
  }, 'test'), { log: silentLogger });
  t.teardown(async () => { await Promise.all([outbound.stop(), inbound.stop()]); });
  return { port: outbound.agent.listeners.find((l) => l.name === 'outbound:api')!.port, outbound, inbound };
}

async function metric(a: RunningAgent, name: string, labels = ''): Promise<number> {
  const text = await a.agent.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

/** Write `send`, collect what comes back until `until` matches (or the socket closes). */
function talk(port: number, send: Buffer | string | undefined, until: RegExp, then?: (s: net.Socket, got: string) => boolean): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (until.test(got) && (then === undefined || then(s, got))) { s.destroy(); resolve({ text: got, ms: Date.now() - started }); }
    });
    s.on('error', reject);
    s.on('close', () => resolve({ text: got, ms: Date.now() - started }));
    if (send !== undefined) s.write(send);
  });
}

t.test('auto ports route each protocol end to end', async (t) => {
  const app = await startMultiApp(t);
  const pair = await startAutoPair(t, app.port, { timeout: '400ms' });
  const base = `http://127.0.0.1:${pair.port}`;

  await t.test('HTTP/1.1 (undici) reaches the app as HTTP/1.1', async (t) => {
    const res = await request(`${base}/one`);
    t.equal(await res.body.text(), 'h1 /one');
    t.equal(app.seen.at(-1), 'http/1.1');
  });

  await t.test('h2c prior knowledge (curl) reaches the app as HTTP/2', async (t) => {
    const { stdout } = await run('curl', ['-sS', '--http2-prior-knowledge', `${base}/two`]);
    t.equal(stdout, 'h2 /two');
    t.equal(app.seen.at(-1), 'http/2.0');
  });

  await t.test('WebSocket (detected as HTTP/1, then tunnelled)', async (t) => {
    const ws = new WebSocket(`ws://127.0.0.1:${pair.port}/ws`);
    t.teardown(() => ws.terminate());
    await new Promise<void>((r, j) => { ws.once('open', () => r()); ws.once('error', j); });
    ws.send('over auto');
    const echo = await new Promise<string>((r) => ws.once('message', (d: Buffer) => r(d.toString())));
    t.equal(echo, 'over auto');
  });

  await t.test('TLS passes through opaque: the client sees the app\'s own certificate', async (t) => {
    const s = tls.connect({ port: pair.port, host: '127.0.0.1', servername: 'app.local', ca: app.certPem });
    t.teardown(() => s.destroy());
    await new Promise<void>((r, j) => { s.once('secureConnect', () => r()); s.once('error', j); });
    t.ok(s.authorized, 'verified against the app\'s self-signed cert');
    s.write('through tls');
    const echo = await new Promise<string>((r) => s.once('data', (d: Buffer) => r(d.toString())));
    t.equal(echo, 'through tls');
    t.equal(app.seen.at(-1), 'tls');
  });

  await t.test('unknown bytes are opaque TCP', async (t) => {
    const out = await talk(pair.port, Buffer.from([0, 0, 0, 5, 0x68, 0x65, 0x6c, 0x6c, 0x6f]), /hello/);
    t.equal(out.text, 'echo:\u0000\u0000\u0000\u0005hello');
    t.equal(app.seen.at(-1), 'opaque');
  });

  await t.test('server speaks first: served as opaque TCP after the detection timeout', async (t) => {
    const before = await metric(pair.outbound, 'protocol_detect_timeout_total');
    const out = await talk(pair.port, undefined, /220 greetings\r\n/, (s, got) => {
      if (!got.includes('221')) { if (!got.includes('QUIT')) s.write('QUIT\r\n'); return false; }
      return true;
    });
    t.match(out.text, /^220 greetings\r\n221 QUIT ok\r\n$/);
    t.ok(out.ms >= 400, `greeting after the timeouts (${out.ms} ms)`);
    t.equal(await metric(pair.outbound, 'protocol_detect_timeout_total'), before + 1, 'outbound counted a timeout');
    t.ok(await metric(pair.inbound, 'protocol_detect_timeout_total') >= 1, 'inbound counted one too');
  });

  await t.test('a client that closes before a decision is dropped and counted', async (t) => {
    const before = await metric(pair.outbound, 'protocol_detect_total', '{result="closed"}');
    const s = net.connect(pair.port, '127.0.0.1');
    s.end('GE');
    await new Promise<void>((r) => s.on('close', () => r()));
    t.ok(await metric(pair.outbound, 'protocol_detect_total', '{result="closed"}') > before);
  });

  await t.test('metrics count each result, with a duration histogram', async (t) => {
    for (const result of ['http1', 'h2c', 'tls', 'tcp']) {
      t.ok(await metric(pair.outbound, 'protocol_detect_total', `{result="${result}"}`) >= 1, `result="${result}" counted`);
    }
    t.ok(await metric(pair.outbound, 'protocol_detect_duration_ms_count', '{result="http1"}') >= 1, 'duration observed');
  });
});

t.test('opaque ports skip detection (server-first protocols answer at once)', async (t) => {
  const app = await startMultiApp(t);
  const outPort = await freePort();
  const pair = await startAutoPair(t, app.port, { timeout: '5s', opaque_ports: [outPort, app.port] }, outPort);
  const out = await talk(pair.port, undefined, /220 greetings\r\n/);
  t.match(out.text, /^220 greetings/);
  t.ok(out.ms < 2000, `greeted in ${out.ms} ms, without waiting for the 5 s detection timeout`);
  t.equal(await metric(pair.outbound, 'protocol_detect_total', '{result="opaque_port"}'), 1, 'outbound: opaque port');
  t.equal(await metric(pair.inbound, 'protocol_detect_total', '{result="opaque_port"}'), 1, 'inbound: the app\'s port is opaque');
  t.equal(await metric(pair.outbound, 'protocol_detect_timeout_total'), 0);
});

t.test('an http port never falls back to opaque TCP', async (t) => {
  const app = await startMultiApp(t);
  const inbound = await startAgent(configFromObject({
    service: { name: 'api', address: `127.0.0.1:${app.port}` },
    inbound: { listen: '127.0.0.1:0', mtls: false },
    discovery: { kind: 'static', registry: tempRegistry('services: {}\n') },
    admin: { bind: '127.0.0.1:0' },
  }, 'test'), { log: silentLogger });
  t.teardown(() => inbound.stop());
  const port = inbound.agent.listeners.find((l) => l.name === 'inbound')!.port;
  const out = await talk(port, '\u0000\u0001garbage\r\n\r\n', /\r\n\r\n/);
  t.match(out.text, /^HTTP\/1\.1 400 /, 'unknown bytes get the HTTP/1 parser\'s 400');
  t.match(out.text, /x-aim-mesh-error: bad_request/);
});
