/**
 * Fixtures for the resilience integration tests (test/integration/resilience-*):
 * an outbound agent whose upstream `api` points straight at test servers
 * through a temp static registry (plaintext; these tests are about the
 * outbound side), HTTP servers that can be started on a chosen port (to
 * restart a "dead" endpoint on the same port and count what reaches it),
 * and small polling/request helpers. Everything binds 127.0.0.1.
 */
import { writeFileSync, renameSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Pool, request } from 'undici';
import { configFromObject } from '../../src/config/load.ts';
import { startAgent, type RunningAgent } from '../../src/agent/run.ts';
import type { Cluster } from '../../src/proxy/cluster.ts';
import type { UpstreamResilience } from '../../src/resilience/upstream.ts';
import { silentLogger } from '../../src/telemetry/log.ts';
import { tempRegistry } from './mesh.ts';

export interface OutboundAgent {
  readonly running: RunningAgent;
  /** The outbound listener of upstream `api`. */
  readonly port: number;
  readonly adminPort: number;
  readonly cluster: Cluster;
  readonly res: UpstreamResilience;
  readonly registryFile: string;
  /** Rewrite the registry with these ports and wait until the cluster has exactly them. */
  setEndpoints(ports: readonly number[]): Promise<void>;
  stop(): Promise<void>;
}

export function registryYaml(ports: readonly number[]): string {
  return `services:\n  api:\n    instances:\n${ports.map((p) => `      - { address: 127.0.0.1, port: ${p} }\n`).join('')}`;
}

/** An agent with one HTTP upstream `api` over `ports`; `upstream` is merged into the upstream's config. */
export async function startOutbound(ports: readonly number[], upstream: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<OutboundAgent> {
  const registryFile = tempRegistry(registryYaml(ports));
  const running = await startAgent(configFromObject({
    service: { name: 'web', address: '127.0.0.1:1' },
    inbound: { listen: '127.0.0.1:0', mtls: false },
    upstreams: [{ name: 'api', listen: '127.0.0.1:0', ...upstream }],
    discovery: { kind: 'static', registry: registryFile },
    admin: { bind: '127.0.0.1:0' },
    drain_timeout: '1s',
    ...extra,
  }, 'test'), { log: silentLogger });
  const cluster = running.agent.clusters.get('api')!;
  await until(() => cluster.endpoints.list.length === ports.length, 5000);
  const port = running.agent.listeners.find((l) => l.name === 'outbound:api')!.port;
  return {
    running, port, adminPort: running.adminPort, cluster, res: cluster.resilience!, registryFile,
    async setEndpoints(next) {
      writeFileSync(`${registryFile}.tmp`, registryYaml(next));
      renameSync(`${registryFile}.tmp`, registryFile);
      const want = next.map((p) => `127.0.0.1:${p}`).sort().join(',');
      const ok = await until(() => cluster.endpoints.list.map((e) => e.key).sort().join(',') === want, 8000);
      if (!ok) throw new Error(`registry reload did not reach ${want}`);
    },
    stop: () => running.stop(),
  };
}

/** Teardown in reverse order of creation: `own(x)` registers a client, agent or server to close. */
export function closer(t: { teardown(fn: () => unknown): void }): (c: { close(): Promise<unknown> } | { stop(): Promise<void> }) => void {
  const list: Array<() => Promise<unknown>> = [];
  t.teardown(async () => { for (const f of list.reverse()) await f(); });
  return (c) => { list.push('stop' in c ? () => c.stop() : () => c.close()); };
}

/** Poll `cond` every 10 ms until true or `ms` passed. */
export async function until(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await sleep(10);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface TestServer {
  readonly port: number;
  readonly server: Server;
  /** Requests seen. */
  requests: number;
  /** TCP connections accepted. */
  connections: number;
  /** Requests in the handler now (not yet answered). */
  inFlight: number;
  close(): Promise<void>;
}

export type TestHandler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

/** An HTTP/1.1 server on `port` (0 = any) that counts connections and requests. `n` is the 1-based request number. */
export async function startServer(handler: TestHandler, port = 0): Promise<TestServer> {
  const server = createServer({ keepAliveTimeout: 30_000 });
  const s: TestServer = {
    port: 0, server, requests: 0, connections: 0, inFlight: 0,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
  server.on('connection', () => { s.connections++; });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const n = ++s.requests;
    s.inFlight++;
    res.on('close', () => { s.inFlight--; });
    handler(req, res, n);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  (s as { port: number }).port = (server.address() as { port: number }).port;
  return s;
}

/** Reads the body, then answers `status` with `body`. */
export function answer(status: number, body: string, headers: Record<string, string> = {}): TestHandler {
  return (req, res) => {
    req.resume();
    req.on('end', () => { res.writeHead(status, { 'content-type': 'text/plain', ...headers }); res.end(body); });
  };
}

/** A port nothing listens on (connection refused): bind, note the port, close. */
export async function deadPort(): Promise<number> {
  const s = await startServer(answer(200, 'x'));
  await s.close();
  return s.port;
}

export interface Reply { status: number; body: string; headers: Record<string, string | string[] | undefined> }

/** One request through a dispatcher (default: a fresh keep-alive request via undici's global agent). */
export async function send(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; dispatcher?: Pool } = {}): Promise<Reply> {
  const r = await request(url, { method: (opts.method ?? 'GET') as 'GET', headers: opts.headers, body: opts.body, dispatcher: opts.dispatcher });
  const body = await r.body.text();
  return { status: r.statusCode, body, headers: r.headers };
}

/** `n` sequential GETs; their statuses. */
export async function statuses(url: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await send(url)).status);
  return out;
}

/** Run `n` jobs with at most `concurrency` at once. */
export async function runPool<T>(n: number, concurrency: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) { const i = next++; out[i] = await job(i); }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}

/** GET /clusters of an agent's admin port: the `api` cluster's endpoints by address. */
export async function clusterEndpoints(adminPort: number): Promise<Map<string, { state: string; breaker?: string; breaker_open: boolean; ejected: boolean; requests_total: number }>> {
  const r = await request(`http://127.0.0.1:${adminPort}/clusters`);
  const all = await r.body.json() as Array<{ name: string; direction: string; endpoints: Array<{ address: string; state: string; breaker?: string; breaker_open: boolean; ejected: boolean; requests_total: number }> }>;
  const api = all.find((c) => c.name === 'api' && c.direction === 'outbound')!;
  return new Map(api.endpoints.map((e) => [e.address, e]));
}

/** GET /metrics: the value of the first series whose line starts with `prefix` (NaN when absent). */
export async function metricValue(adminPort: number, prefix: string): Promise<number> {
  const r = await request(`http://127.0.0.1:${adminPort}/metrics`);
  const text = await r.body.text();
  for (const line of text.split('\n')) if (line.startsWith(prefix)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  return Number.NaN;
}
