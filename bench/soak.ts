/**
 * `npm run soak` — a long mixed-traffic run against an mTLS agent pair,
 * watching for leaks. Default 10 minutes; `--duration 60s` for a short run.
 *
 *   load generator + app (this process) ──► outbound agent ══mTLS══► inbound agent ──► app
 *                                              (the agents run in a child process, sampled over IPC)
 *
 * Traffic, closed-loop and mixed: HTTP/1 (GET/POST, some aborted by the
 * client mid-response, some reset by the app mid-body), HTTP/2 streams (some
 * cancelled), gRPC unary calls (some trailers-only errors, some cancelled by
 * a short deadline) and WebSocket sessions (some terminated abruptly).
 *
 * Every sample reads the agents' heap (after a GC), RSS, open file
 * descriptors, open HTTP/2 sessions (upstream pools) and downstream
 * connections. After the load stops and idle connections time out, each
 * must be back at its baseline (with a stated slack). The table goes to
 * bench/results/soak.md; the exit code is 1 when something did not return
 * or too many requests failed unexpectedly.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { Pool } from 'undici';
import WebSocket, { WebSocketServer } from 'ws';
import * as grpc from '@grpc/grpc-js';

interface Stats { heapMB: number; rssMB: number; fds: number; h2Sessions: number; conns: number }
interface Row extends Stats { t: number; phase: string; requests: number; unexpected: number }

const ID = 'spiffe://aim.local/ns/default/dc/dc1/svc/api';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ======================= child: the two agents =======================

async function runAgents(spec: { appPort: number; ports: number[]; caDir: string }): Promise<void> {
  const { configFromObject } = await import('../src/config/load.ts');
  const { startAgent } = await import('../src/agent/run.ts');
  const { buildAgentTls } = await import('../src/agent/identity.ts');
  const { silentLogger } = await import('../src/telemetry/log.ts');
  const dir = mkdtempSync(join(tmpdir(), 'aim-soak-'));
  // Every upstream name resolves to the inbound agent, whose certificate names service api.
  const reg = (port: number): string => { const f = join(dir, `reg-${port}.yaml`); writeFileSync(f, `services:\n${['api', 'api-h2', 'api-grpc'].map((n) => `  ${n}:\n    identity: ${ID}\n    instances:\n      - { address: 127.0.0.1, port: ${port} }\n`).join('')}`); return f; };
  const common = { admin: { bind: '127.0.0.1:0' }, drain_timeout: '2s', limits: { keepalive_idle: '3s' } };
  const inRaw = { ...common, service: { name: 'api', address: `127.0.0.1:${spec.appPort}`, protocol: 'http' }, inbound: { listen: '127.0.0.1:0', mtls: true }, discovery: { registry: reg(1) } }; // (the inbound agent has no upstreams)
  const inCfg = configFromObject(inRaw, 'soak');
  const inbound = await startAgent(inCfg, { log: silentLogger, tls: await buildAgentTls(inCfg, { 'ca-dir': spec.caDir }, silentLogger) });
  const inPort = inbound.agent.listeners.find((l) => l.name === 'inbound')!.port;
  const up = { timeouts: { idle: '3s' }, identity: ID };
  const outCfg = configFromObject({ ...common, service: { name: 'web', address: '127.0.0.1:1' }, inbound: { listen: '127.0.0.1:0', mtls: true }, discovery: { registry: reg(inPort) },
    upstreams: [{ name: 'api', listen: `127.0.0.1:${spec.ports[0]}`, protocol: 'http', ...up }, { name: 'api-h2', listen: `127.0.0.1:${spec.ports[1]}`, protocol: 'http2', ...up },
      { name: 'api-grpc', listen: `127.0.0.1:${spec.ports[2]}`, protocol: 'grpc', ...up }] }, 'soak');
  const outbound = await startAgent(outCfg, { log: silentLogger, tls: await buildAgentTls(outCfg, { 'ca-dir': spec.caDir }, silentLogger) });
  const agents = [inbound.agent, outbound.agent];
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'stats') {
      (globalThis as { gc?: () => void }).gc?.();
      const s: Stats = {
        heapMB: process.memoryUsage().heapUsed / 2 ** 20,
        rssMB: process.memoryUsage().rss / 2 ** 20,
        fds: readdirSync('/proc/self/fd').length,
        h2Sessions: agents.reduce((n, a) => n + [...a.h2Pools.values()].reduce((k, p) => k + p.open, 0), 0),
        conns: agents.reduce((n, a) => n + a.listeners.reduce((k, l) => k + l.conns.size, 0), 0),
      };
      process.send!({ stats: s });
    } else if (m.cmd === 'stop') {
      void Promise.all([outbound.stop(), inbound.stop()]).then(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0)); // the parent went away
  process.send!({ ready: true });
}

// ======================= parent: app, load, samples =======================

/** One port for HTTP/1 (+ WebSocket) and h2c (+ gRPC): the first bytes decide, as the agent's own detection does. */
async function startApp(): Promise<{ port: number; close(): void }> {
  const h1 = http.createServer({ keepAliveTimeout: 3000 }, (req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; });
    req.on('end', () => {
      if (req.url === '/reset') { res.writeHead(200, { 'content-length': '100000' }); res.write(Buffer.alloc(5000)); setTimeout(() => req.socket.destroy(), 5); return; }
      const body = req.url === '/big' ? Buffer.alloc(256 * 1024, 97) : Buffer.from(JSON.stringify({ ok: true, n }));
      setTimeout(() => res.end(body), req.url === '/slow' ? 30 : 0);
    });
  });
  const wss = new WebSocketServer({ server: h1 });
  wss.on('connection', (ws) => { ws.on('message', (m) => ws.send(m)); ws.on('error', () => {}); });
  const h2 = http2.createServer();
  h2.on('session', (s) => { s.setTimeout(3000, () => s.close()); s.on('error', () => {}); });
  h2.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      if (stream.destroyed || stream.closed) return; // cancelled by the client
      if (String(headers['content-type']).startsWith('application/grpc')) {
        if (headers[':path'] === '/soak.Echo/Fail') { stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'trailers only' }, { endStream: true }); return; }
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(Buffer.concat(chunks));
        return;
      }
      stream.respond({ ':status': 200 });
      setTimeout(() => { if (!stream.destroyed) stream.end(headers[':path'] === '/big' ? Buffer.alloc(128 * 1024) : 'ok'); }, headers[':path'] === '/slow' ? 30 : 0);
    });
  });
  const preface = Buffer.from('PRI * HTTP/2.0');
  const server = net.createServer((s) => {
    s.once('readable', () => {
      const head = s.read(preface.length) as Buffer | null;
      if (head === null) { s.once('end', () => s.destroy()); return; }
      s.unshift(head);
      (head.equals(preface) ? h2 : h1).emit('connection', s);
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as net.AddressInfo).port, close: () => { server.close(); h1.closeAllConnections(); } };
}

interface Tally { ok: number; expected: number; unexpected: number; errors: Map<string, number> }
const tally: Tally = { ok: 0, expected: 0, unexpected: 0, errors: new Map() };
function unexpected(kind: string, err: unknown): void {
  tally.unexpected++;
  const k = `${kind}: ${(err as Error)?.message ?? String(err)}`.slice(0, 100);
  tally.errors.set(k, (tally.errors.get(k) ?? 0) + 1);
}

async function http1Loop(pool: Pool, stop: () => boolean, i: number): Promise<void> {
  for (let n = 0; !stop(); n++) {
    const pick = (n + i) % 40;
    const ac = new AbortController();
    try {
      if (pick === 0) { // upstream reset mid-body: an aborted response is the right answer
        const r = await pool.request({ path: '/reset', method: 'GET' });
        await r.body.arrayBuffer().then(() => unexpected('http1', new Error('a reset response looked complete')), () => tally.expected++);
      } else if (pick === 1) { // client aborts mid-response
        const r = await pool.request({ path: '/big', method: 'GET', signal: ac.signal });
        ac.abort();
        await r.body.dump().catch(() => {});
        tally.expected++;
      } else {
        const post = pick % 3 === 0;
        const r = await pool.request({ path: pick % 5 === 0 ? '/slow' : '/x', method: post ? 'POST' : 'GET', body: post ? Buffer.alloc(2048, 1) : undefined });
        await r.body.dump();
        if (r.statusCode === 200) tally.ok++; else unexpected('http1', new Error(`status ${r.statusCode} ${String(r.headers['x-aim-mesh-error'] ?? '')}`));
      }
    } catch (err) { if (ac.signal.aborted) tally.expected++; else unexpected('http1', err); }
  }
}

async function h2Loop(port: number, stop: () => boolean): Promise<void> {
  while (!stop()) {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    for (let n = 0; n < 200 && !stop(); n++) {
      const cancel = n % 25 === 0;
      await new Promise<void>((resolve) => {
        const req = session.request({ ':path': cancel ? '/big' : n % 4 === 0 ? '/slow' : '/h2' });
        let status = 0;
        req.on('response', (h) => { status = Number(h[':status']); if (cancel) { req.close(http2.constants.NGHTTP2_CANCEL); } });
        req.on('error', (e) => { if (!cancel) unexpected('h2', e); });
        let detail = '';
        req.on('data', (c: Buffer) => { if (status !== 200) detail += c.toString(); });
        req.on('close', () => { if (cancel) tally.expected++; else if (status === 200) tally.ok++; else if (status) unexpected('h2', new Error(`status ${status} ${detail.slice(0, 60)}`)); resolve(); });
        req.end();
      });
    }
    session.close();
  }
}

async function grpcLoop(port: number, stop: () => boolean): Promise<void> {
  const id = (b: Buffer): Buffer => b;
  const def = { path: '', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id };
  const Ctor = grpc.makeGenericClientConstructor({ Echo: { ...def, path: '/soak.Echo/Echo' }, Fail: { ...def, path: '/soak.Echo/Fail' } }, 'Echo');
  const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Record<string, (req: Buffer, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => void>;
  for (let n = 0; !stop(); n++) {
    const kind = n % 20 === 0 ? 'fail' : n % 20 === 1 ? 'deadline' : 'ok';
    await new Promise<void>((resolve) => {
      const deadline = new Date(Date.now() + (kind === 'deadline' ? 1 : 5000));
      client[kind === 'fail' ? 'Fail' : 'Echo']!(Buffer.alloc(512, 7), new grpc.Metadata(), { deadline }, (err) => {
        if (kind === 'ok') { if (err) unexpected('grpc', err); else tally.ok++; }
        else if (kind === 'fail') { if (err?.code === grpc.status.UNAVAILABLE) tally.expected++; else unexpected('grpc', err ?? new Error('no error')); }
        else tally.expected++;
        resolve();
      });
    });
  }
  (client as unknown as grpc.Client).close();
}

async function wsLoop(port: number, stop: () => boolean): Promise<void> {
  for (let n = 0; !stop(); n++) {
    await new Promise<void>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      let got = 0;
      const abrupt = n % 10 === 0;
      ws.on('open', () => { for (let i = 0; i < 5; i++) ws.send(`m${i}`); });
      ws.on('message', () => { if (++got === 5) { if (abrupt) ws.terminate(); else ws.close(); } });
      ws.on('error', (e) => { if (!abrupt) unexpected('ws', e); });
      ws.on('close', () => { if (got === 5) tally.ok++; else if (abrupt) tally.expected++; else unexpected('ws', new Error(`closed after ${got} echoes`)); resolve(); });
    });
  }
}

function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s);
  if (!m) throw new Error(`--duration: expected e.g. 60s, 10m (got ${s})`);
  return Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 }[m[2] ?? 's'] ?? 1000);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { duration: { type: 'string', default: '10m' }, role: { type: 'string' }, spec: { type: 'string' }, out: { type: 'string', default: join(import.meta.dirname, 'results', 'soak.md') } } });
  if (values.role === 'agents') { await runAgents(JSON.parse(values.spec!)); return; }
  const durationMs = parseDuration(values.duration!);
  const app = await startApp();
  const ports = await Promise.all([0, 1, 2].map(() => new Promise<number>((r) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => r(p)); }); })));
  const child: ChildProcess = fork(import.meta.filename, ['--role', 'agents', '--spec', JSON.stringify({ appPort: app.port, ports, caDir: mkdtempSync(join(tmpdir(), 'aim-soak-ca-')) })], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => { child.once('message', () => resolve()); child.once('exit', (c) => reject(new Error(`agents exited (${c})`))); });
  const stats = (): Promise<Stats> => new Promise((r) => { child.once('message', (m: { stats: Stats }) => r(m.stats)); child.send({ cmd: 'stats' }); });
  const t0 = performance.now();
  const rows: Row[] = [];
  const sample = async (phase: string): Promise<Row> => {
    const row = { t: Math.round((performance.now() - t0) / 1000), phase, ...(await stats()), requests: tally.ok + tally.expected + tally.unexpected, unexpected: tally.unexpected };
    rows.push(row);
    console.log(`[${String(row.t).padStart(4)}s] ${phase.padEnd(8)} heap ${row.heapMB.toFixed(1)} MB  rss ${row.rssMB.toFixed(0)} MB  fds ${row.fds}  h2 sessions ${row.h2Sessions}  conns ${row.conns}  requests ${row.requests}  unexpected ${row.unexpected}`);
    return row;
  };
  const runLoad = async (ms: number): Promise<void> => {
    const end = performance.now() + ms;
    const stop = (): boolean => performance.now() > end;
    const pool = new Pool(`http://127.0.0.1:${ports[0]}`, { connections: 8 });
    await Promise.all([...Array.from({ length: 8 }, (_, i) => http1Loop(pool, stop, i)), h2Loop(ports[1]!, stop), h2Loop(ports[1]!, stop), grpcLoop(ports[2]!, stop), wsLoop(ports[0]!, stop)]);
    await pool.close();
  };
  const settle = async (phase: string, maxMs: number, base?: Stats): Promise<Row> => {
    const end = performance.now() + maxMs;
    let row = await sample(phase);
    while (performance.now() < end && (row.conns > 0 || row.h2Sessions > (base?.h2Sessions ?? 0) || row.fds > (base?.fds ?? Infinity) + 2)) { await sleep(2000); row = await sample(phase); }
    return row;
  };
  console.log(`soak: ${values.duration} of mixed HTTP/1, h2, gRPC and WebSocket traffic through an mTLS agent pair`);
  await runLoad(4000); // warm-up: load every code path once
  const base = await settle('baseline', 30_000);
  const every = Math.max(2000, Math.min(30_000, durationMs / 20));
  const load = runLoad(durationMs);
  let done = false;
  void load.then(() => { done = true; });
  while (!done) { await Promise.race([load, sleep(every)]); if (!done) await sample('load'); }
  const peak = rows.filter((r) => r.phase === 'load').reduce((m, r) => (r.rssMB > m.rssMB ? r : m), base);
  const after = await settle('after', 45_000, base);
  child.send({ cmd: 'stop' });
  app.close();

  const checks: Array<[string, boolean, string]> = [
    ['heap', after.heapMB <= base.heapMB * 1.25 + 4, `${after.heapMB.toFixed(1)} MB vs baseline ${base.heapMB.toFixed(1)} MB (≤ +25% + 4 MB)`],
    ['RSS', after.rssMB <= base.rssMB * 1.5 + 32, `${after.rssMB.toFixed(0)} MB vs baseline ${base.rssMB.toFixed(0)} MB, peak ${peak.rssMB.toFixed(0)} MB (≤ +50% + 32 MB: freed memory is not always returned to the OS)`],
    ['file descriptors', after.fds <= base.fds + 2, `${after.fds} vs baseline ${base.fds} (≤ +2)`],
    ['HTTP/2 sessions', after.h2Sessions <= base.h2Sessions, `${after.h2Sessions} vs baseline ${base.h2Sessions}`],
    ['connections', after.conns === 0, `${after.conns} open downstream connections`],
    ['unexpected failures', tally.unexpected <= tally.ok * 0.001, `${tally.unexpected} of ${tally.ok + tally.expected + tally.unexpected} (≤ 0.1%)`],
  ];
  const pass = checks.every(([, ok]) => ok);
  const md = [
    `# Soak: ${values.duration} (${new Date().toISOString().slice(0, 10)})`, '',
    `Mixed traffic through an mTLS agent pair (HTTP/1 with client aborts and upstream resets, HTTP/2 with cancels, gRPC with trailers-only errors and deadlines, WebSocket with abrupt closes). Agents sampled after a GC. Result: **${pass ? 'PASS' : 'FAIL'}**.`, '',
    `Requests: ${tally.ok} ok, ${tally.expected} expected failures (aborts, resets, deadlines), ${tally.unexpected} unexpected.`, '',
    '| check | result | detail |', '| --- | --- | --- |',
    ...checks.map(([n, ok, d]) => `| ${n} | ${ok ? 'ok' : 'FAIL'} | ${d} |`), '',
    '| t (s) | phase | heap (MB) | RSS (MB) | fds | h2 sessions | connections | requests | unexpected |', '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.t} | ${r.phase} | ${r.heapMB.toFixed(1)} | ${r.rssMB.toFixed(0)} | ${r.fds} | ${r.h2Sessions} | ${r.conns} | ${r.requests} | ${r.unexpected} |`),
    ...(tally.errors.size ? ['', 'Unexpected errors:', '', ...[...tally.errors].map(([k, n]) => `- ${n} × ${k}`)] : []), '',
  ].join('\n');
  mkdirSync(join(values.out!, '..'), { recursive: true });
  writeFileSync(values.out!, md);
  console.log(`\n${checks.map(([n, ok, d]) => `${ok ? 'ok  ' : 'FAIL'} ${n}: ${d}`).join('\n')}\nwrote ${values.out}`);
  process.exit(pass ? 0 : 1);
}

void main().catch((err: Error) => { console.error(err.stack ?? err); process.exit(1); });
