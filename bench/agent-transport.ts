#!/usr/bin/env node
/**
 * Which transport between two aim-mesh agents for HTTP/1 clients: keep
 * HTTP/1.1 (pooled keep-alive TLS connections), or upgrade to HTTP/2 (one
 * multiplexed TLS connection per endpoint, as Linkerd does)?
 *
 *   wrk (HTTP/1.1) → outbound agent → [TLS: transport] → inbound agent → backend (HTTP/1.1)
 *
 * Three variants, each a pair of processes, measured in the same run:
 *   raw-h1   the shipped agents (raw-socket HTTP/1 path), HTTP/1.1 over TLS (ALPN http/1.1)
 *   node-h1  node:http edges, HTTP/1.1 over TLS between them (https.Agent keep-alive)
 *   node-h2  node:http edges, HTTP/2 over TLS between them (our H2SessionPool: one session)
 * The two node-* variants share their edge code and differ only in the
 * transport, so they isolate its cost; raw-h1 shows what is actually shipped
 * (HTTP/1 clients cannot stay on the raw path if the hop in between is h2:
 * both agents must then translate, which needs request/response objects).
 *
 * Reported per variant and client concurrency: requests/s, p50 and p99
 * latency (wrk), and agent CPU per 1,000 requests (both agents, from /proc).
 * TLS uses a run-time openssl CA; loopback only; every process is tracked and
 * stopped by PID (bench/lib/procs.ts).
 *
 *   node bench/agent-transport.ts [--duration 10] [--connections 1,16,64] [--body 128] [--out DIR]
 */
import { readFileSync, mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeCerts, SERVER_NAME, type CertSet } from './lib/certs.ts';
import { findTool } from './lib/install.ts';
import { startNginx } from './lib/nginx.ts';
import { freePort, HOST, waitForPort } from './lib/ports.ts';
import { ProcessGroup, type Tracked } from './lib/procs.ts';
import { clockTicks, readProcStat } from './lib/procstat.ts';
import { runWrk } from './lib/wrk.ts';

const SELF = fileURLToPath(import.meta.url);
const REPO = fileURLToPath(new URL('..', import.meta.url));
const VARIANTS = ['raw-h1', 'node-h1', 'node-h2'] as const;
type Variant = (typeof VARIANTS)[number];
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'host', 'http2-settings']);

// ============ child roles: one process per agent ============

interface RoleArgs { role: string; port: number; target: number; certs: string }

function tlsFiles(dir: string) {
  const r = (f: string): Buffer => readFileSync(join(dir, f));
  return { ca: r('ca.crt'), serverKey: r('server.key'), serverCert: r('server.crt'), clientKey: r('client.key'), clientCert: r('client.crt') };
}

/** The shipped agents, given mTLS through a minimal AgentTls over the run's CA. */
async function roleAgent(a: RoleArgs, inbound: boolean): Promise<void> {
  // The Agent itself, without the admin server (not on the data path).
  const [{ configFromObject }, { Agent }, { silentLogger }] = await Promise.all([
    import('../src/config/load.ts'), import('../src/agent/agent.ts'), import('../src/telemetry/log.ts')]);
  const f = tlsFiles(a.certs);
  const agentTls = {
    ready: () => true,
    createServer: (onSocket: (s: tls.TLSSocket) => void) => tls.createServer({ key: f.serverKey, cert: f.serverCert, ca: f.ca, requestCert: true, rejectUnauthorized: true,
      ALPNProtocols: ['h2', 'http/1.1'], allowHalfOpen: true }, onSocket),
    peerIdentity: (s: tls.TLSSocket) => /URI:(spiffe:\/\/[^,\s]+)/.exec(s.getPeerCertificate().subjectaltname ?? '')?.[1],
    clientOptions: () => ({ key: f.clientKey, cert: f.clientCert, ca: f.ca, servername: SERVER_NAME }),
    close: async () => {},
  };
  const registry = join(a.certs, `registry-${a.port}.yaml`);
  writeFileSync(registry, inbound ? 'services: {}\n' : `services:\n  bench-backend:\n    instances:\n      - { address: ${HOST}, port: ${a.target} }\n`);
  const cfg = configFromObject({
    service: inbound ? { name: 'bench-backend', address: `${HOST}:${a.target}` } : { name: 'bench-client', address: `${HOST}:1` },
    inbound: { listen: inbound ? `${HOST}:${a.port}` : `${HOST}:0`, mtls: true },
    upstreams: inbound ? [] : [{ name: 'bench-backend', listen: `${HOST}:${a.port}` }],
    discovery: { kind: 'static', registry },
    admin: { bind: `${HOST}:0` },
    drain_timeout: '1s',
  }, 'bench');
  const agent = new Agent(cfg, { log: silentLogger, tls: agentTls as never });
  await agent.start();
  process.once('SIGTERM', () => { void agent.drain().then(() => process.exit(0)); });
}

/** node:http edges; `transport` between them. Inbound: TLS server → http.request to the backend. */
function roleNodeInbound(a: RoleArgs, transport: 'h1' | 'h2'): void {
  const f = tlsFiles(a.certs);
  const backend = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const forward = (method: string, path: string, headers: http.OutgoingHttpHeaders, body: NodeJS.ReadableStream,
    onHead: (status: number, h: http.IncomingHttpHeaders) => NodeJS.WritableStream, onFail: () => void): void => {
    const up = http.request({ host: HOST, port: a.target, method, path, headers, agent: backend }, (res) => {
      res.pipe(onHead(res.statusCode ?? 502, res.headers));
    });
    up.on('error', onFail);
    body.pipe(up);
  };
  const tlsOpts = { key: f.serverKey, cert: f.serverCert, ca: f.ca, requestCert: true, rejectUnauthorized: true };
  if (transport === 'h1') {
    https.createServer({ ...tlsOpts, ALPNProtocols: ['http/1.1'] }, (req, res) => {
      forward(req.method!, req.url!, stripHops(req.headers), req, (status, h) => { res.writeHead(status, stripHops(h)); return res; }, () => res.destroy());
    }).listen(a.port, HOST);
    return;
  }
  const server = http2.createSecureServer({ ...tlsOpts, settings: { maxConcurrentStreams: 1000 } });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const h: http.OutgoingHttpHeaders = { host: String(headers[':authority'] ?? '') };
    for (const k of Object.keys(headers)) if (k[0] !== ':') h[k] = headers[k];
    forward(String(headers[':method']), String(headers[':path']), h, stream, (status, rh) => {
      stream.respond({ ':status': status, ...stripHops(rh) });
      return stream;
    }, () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
  });
  server.listen(a.port, HOST);
}

/** Outbound: plain HTTP/1 server for wrk → the inbound node edge over `transport`. */
async function roleNodeOutbound(a: RoleArgs, transport: 'h1' | 'h2'): Promise<void> {
  const f = tlsFiles(a.certs);
  const clientTls = { key: f.clientKey, cert: f.clientCert, ca: f.ca, servername: SERVER_NAME };
  let handler: http.RequestListener;
  if (transport === 'h1') {
    const agent = new https.Agent({ keepAlive: true, maxSockets: Infinity, ...clientTls, ALPNProtocols: ['http/1.1'] });
    handler = (req, res) => {
      const up = https.request({ host: HOST, port: a.target, method: req.method, path: req.url, headers: stripHops(req.headers), agent }, (r) => {
        res.writeHead(r.statusCode ?? 502, stripHops(r.headers));
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
  } else {
    // The real upstream h2 code: H2SessionPool over TLS with ALPN h2, one session to the endpoint.
    const [{ H2SessionPool }, { h2TlsDialer }, { EndpointSet }, { silentLogger }] = await Promise.all([
      import('../src/proxy/h2/session-pool.ts'), import('../src/proxy/h2/cluster-sessions.ts'),
      import('../src/balancer/endpoint-set.ts'), import('../src/telemetry/log.ts')]);
    const set = new EndpointSet('bench-backend');
    set.apply([{ address: HOST, port: a.target, weight: 1, tags: [], health: 'passing' }]);
    const ep = set.list[0]!;
    const pool = new H2SessionPool(h2TlsDialer(() => clientTls), { connectTimeoutMs: 5000, idleTimeoutMs: 60_000, log: silentLogger });
    handler = (req, res) => {
      pool.acquire(ep, (err, up) => {
        if (err !== null || up === null) { res.writeHead(503).end(); return; }
        const h: http2.OutgoingHttpHeaders = { ':method': req.method, ':path': req.url, ':authority': req.headers.host ?? HOST, ':scheme': 'https', ...stripHops(req.headers) };
        const noBody = req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined;
        const s = up.request(h, { endStream: noBody });
        s.on('response', (rh) => {
          const out: http.OutgoingHttpHeaders = {};
          for (const k of Object.keys(rh)) if (k[0] !== ':') out[k] = rh[k];
          res.writeHead(Number(rh[':status']), stripHops(out));
          s.pipe(res);
        });
        s.on('error', () => res.destroy());
        if (!noBody) req.pipe(s);
      });
    };
  }
  http.createServer({ keepAliveTimeout: 120_000 }, handler).listen(a.port, HOST);
}

function stripHops(h: http.IncomingHttpHeaders | http.OutgoingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const k of Object.keys(h)) if (!HOP_BY_HOP.has(k)) out[k] = h[k];
  return out;
}

// ============ the parent: start pairs, drive wrk, report ============

interface Row { variant: Variant; connections: number; rps: number; p50: number; p99: number; cpuMsPer1k: number; errors: number }

function cpuTicks(ts: readonly Tracked[]): number {
  let n = 0;
  for (const t of ts) for (const pid of t.pids()) n += readProcStat(pid)?.cpuTicks ?? 0;
  return n;
}

async function startPair(procs: ProcessGroup, v: Variant, certs: CertSet, backendPort: number): Promise<{ port: number; procs: Tracked[] }> {
  const [outPort, inPort] = await Promise.all([freePort(), freePort()]);
  const spawn = (name: string, role: string, port: number, target: number): Tracked =>
    procs.spawn(`${v}-${name}`, process.execPath, [SELF, '--role', role, '--port', String(port), '--target', String(target), '--certs', certs.dir],
      { cwd: REPO, env: { ...process.env, NODE_ENV: 'production' } });
  const [inRole, outRole] = v === 'raw-h1' ? ['agent-in', 'agent-out'] : [`node-in-${v.slice(5)}`, `node-out-${v.slice(5)}`];
  const inbound = spawn('inbound', inRole, inPort, backendPort);
  await waitForPort(inPort, inbound, 20_000);
  const outbound = spawn('outbound', outRole, outPort, inPort);
  await waitForPort(outPort, outbound, 20_000);
  return { port: outPort, procs: [inbound, outbound] };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    role: { type: 'string' }, port: { type: 'string' }, target: { type: 'string' }, certs: { type: 'string' },
    duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '1,16,64' },
    body: { type: 'string', default: '128' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  } });
  if (values.role !== undefined) {
    const a: RoleArgs = { role: values.role, port: Number(values.port), target: Number(values.target), certs: values.certs! };
    if (a.role === 'agent-in' || a.role === 'agent-out') await roleAgent(a, a.role === 'agent-in');
    else if (a.role.startsWith('node-in-')) roleNodeInbound(a, a.role.endsWith('h2') ? 'h2' : 'h1');
    else if (a.role.startsWith('node-out-')) await roleNodeOutbound(a, a.role.endsWith('h2') ? 'h2' : 'h1');
    else if (a.role === 'backend') startNodeBackend(a.port, Number(values.body));
    else throw new Error(`unknown role ${a.role}`);
    return;
  }
  if (values.help) { process.stdout.write(`${readFileSync(SELF, 'utf8').split('*/')[0]}*/\n`); return; }
  const wrk = findTool('wrk');
  if (wrk === undefined) throw new Error('wrk is needed: apt-get install -y wrk');
  const duration = Number(values.duration);
  const conns = values.connections.split(',').map(Number);
  const bodyBytes = Number(values.body);
  const dir = mkdtempSync(join(tmpdir(), 'aim-transport-'));
  const outDir = values.out ?? join(dir, 'out');
  mkdirSync(outDir, { recursive: true });
  const certDir = join(dir, 'certs');
  mkdirSync(certDir);
  const certs = makeCerts(certDir);
  const procs = new ProcessGroup(dir);
  const bye = (): void => procs.killAllNow();
  process.once('exit', bye);
  const rows: Row[] = [];
  try {
    const backendPort = await freePort();
    const nginx = findTool('nginx');
    if (nginx !== undefined) {
      const www = join(dir, 'backend', 'www');
      mkdirSync(www, { recursive: true });
      writeFileSync(join(www, 'small'), Buffer.alloc(bodyBytes, 'a'));
      await startNginx(procs, nginx, 'backend-nginx', join(dir, 'backend'), `server { listen ${HOST}:${backendPort} backlog=4096; root ${www}; location / { try_files $uri =404; } }`, backendPort);
    } else {
      const b = procs.spawn('backend-node', process.execPath, [SELF, '--role', 'backend', '--port', String(backendPort), '--body', String(bodyBytes), '--target', '0', '--certs', certDir]);
      await waitForPort(backendPort, b);
    }
    log(`backend: ${nginx !== undefined ? 'nginx' : 'node:http'} on ${backendPort}, body ${bodyBytes} B; ${duration} s per cell; connections ${conns.join(', ')}`);
    for (const v of VARIANTS) {
      const pair = await startPair(procs, v, certs, backendPort);
      const url = `http://${HOST}:${pair.port}/small`;
      const check = await fetch(url);
      if (check.status !== 200 || (await check.arrayBuffer()).byteLength !== bodyBytes) throw new Error(`${v}: smoke request failed (${check.status})`);
      await runWrk(procs, { wrk, url, durationSec: 2, connections: 16, threads: 1 }); // warm-up (JIT, TLS sessions)
      for (const c of conns) {
        const before = cpuTicks(pair.procs);
        const r = await runWrk(procs, { wrk, url, durationSec: duration, connections: c, threads: 1 });
        const cpuMs = ((cpuTicks(pair.procs) - before) / clockTicks()) * 1000;
        const e = r.socketErrors;
        const row: Row = { variant: v, connections: c, rps: r.requestsPerSec, p50: r.distributionMs['50'] ?? NaN, p99: r.distributionMs['99'] ?? NaN,
          cpuMsPer1k: r.requests > 0 ? (cpuMs / r.requests) * 1000 : NaN, errors: e.connect + e.read + e.write + e.timeout + r.non2xx3xx };
        rows.push(row);
        log(`${v.padEnd(8)} c=${String(c).padEnd(3)} ${row.rps.toFixed(0).padStart(7)} req/s  p50 ${row.p50.toFixed(2)} ms  p99 ${row.p99.toFixed(2)} ms  cpu ${row.cpuMsPer1k.toFixed(1)} ms/1k req${row.errors ? `  errors ${row.errors}` : ''}`);
      }
      await Promise.all(pair.procs.map((p) => procs.stop(p)));
    }
  } finally {
    await procs.stopAll();
    process.removeListener('exit', bye);
  }
  const md = report(rows, duration, bodyBytes);
  writeFileSync(join(outDir, 'agent-transport.json'), `${JSON.stringify({ date: new Date().toISOString(), duration, bodyBytes, rows }, null, 2)}\n`);
  writeFileSync(join(outDir, 'agent-transport.md'), md);
  log(`\n${md}\nwritten to ${outDir}`);
}

function report(rows: readonly Row[], duration: number, body: number): string {
  const lines = [
    `| variant | transport between agents | clients | req/s | p50 ms | p99 ms | agent CPU ms / 1k req |`,
    '|---|---|---:|---:|---:|---:|---:|',
  ];
  const what: Record<Variant, string> = { 'raw-h1': 'HTTP/1.1 over TLS (shipped path)', 'node-h1': 'HTTP/1.1 over TLS (node:http edges)', 'node-h2': 'HTTP/2 over TLS (node:http edges)' };
  for (const r of rows) {
    lines.push(`| ${r.variant} | ${what[r.variant]} | ${r.connections} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.cpuMsPer1k.toFixed(1)} |`);
  }
  const get = (v: Variant, c: number): Row | undefined => rows.find((r) => r.variant === v && r.connections === c);
  const summary: string[] = [];
  for (const c of new Set(rows.map((r) => r.connections))) {
    const h1 = get('node-h1', c), h2 = get('node-h2', c), raw = get('raw-h1', c);
    if (h1 && h2 && raw) {
      summary.push(`- ${c} client connection(s): h2 between agents gives ${(h2.rps / h1.rps).toFixed(2)}× the throughput of HTTP/1.1 with the same edges; the shipped path gives ${(raw.rps / h2.rps).toFixed(2)}× the h2 variant.`);
    }
  }
  return `### Agent-to-agent transport for HTTP/1 clients (${duration} s per cell, ${body} B responses)\n\n${lines.join('\n')}\n\n${summary.join('\n')}\n`;
}

function startNodeBackend(port: number, bodyBytes: number): void {
  const body = Buffer.alloc(bodyBytes, 'a');
  http.createServer({ keepAliveTimeout: 120_000 }, (_req, res) => { res.writeHead(200, { 'content-length': body.length }).end(body); }).listen(port, HOST);
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

await main();
