/**
 * Memory against mesh size: one agent with one upstream, started against a
 * mesh of 10 services and of 10,000 services (3 instances each), in the same
 * run, for each discovery source:
 *   - the static registry file, as JSON and as YAML;
 *   - Consul: the project's Consul-API test server (test/support/consul/,
 *     in this process) loaded with the services; the agent watches only its
 *     upstream (health/service), so what it holds does not depend on the
 *     catalog's size.
 * Reports the agent's RSS and V8 heap after start and after 2,000 requests,
 * as a Markdown table (bench/results/registry-scale.md).
 *
 * Like the other benches, the agents run the pre-stripped build (buildDist(),
 * then dist/cli/index.js), each one a process tracked and stopped by PID
 * (bench/lib/procs.ts); everything listens on loopback.
 *
 *   node bench/registry-scale.ts [--services 10000]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { startConsulTestServer, type ConsulTestServer } from '../test/support/consul/index.ts';
import { buildDist } from './lib/build.ts';
import { freePort, HOST } from './lib/ports.ts';
import { logTail, ProcessGroup } from './lib/procs.ts';
import { Progress } from './lib/progress.ts';

const { values } = parseArgs({ options: { services: { type: 'string', default: '10000' }, help: { type: 'boolean', default: false } } });
if (values.help) { process.stdout.write('Usage: node bench/registry-scale.ts [--services 10000]\n'); process.exit(0); }
const big = Number(values.services) || 10_000;
const REQUESTS = 2000;
/** Idle time before the last sample: V8's memory reducer runs a full GC a few seconds after the heap stops growing. */
const IDLE_MS = 10_000;
const REPO = fileURLToPath(new URL('..', import.meta.url));
const log = (s: string): void => { process.stdout.write(`${s}\n`); };

buildDist(REPO, log);
const dir = mkdtempSync(join(tmpdir(), 'aim-regscale-'));
const procs = new ProcessGroup(dir);
const onSignal = (sig: NodeJS.Signals): void => {
  log(`\n${sig}: stopping every process this bench started`);
  void procs.stopAll().finally(() => process.exit(130));
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);
process.once('exit', () => procs.killAllNow());

const app = createServer((_q, s) => s.end('ok')).listen(0, HOST);
await new Promise((r) => app.once('listening', r));
const appPort = (app.address() as { port: number }).port;

/** `n` services: `api` (the agent's upstream, the local app) and n-1 others with 3 instances each. */
function services(n: number): Array<[string, Array<{ address: string; port: number; tags?: string[] }>]> {
  const out: Array<[string, Array<{ address: string; port: number; tags?: string[] }>]> = [['api', [{ address: HOST, port: appPort }]]];
  for (let i = 0; i < n - 1; i++) out.push([`svc-${i}`, [1, 2, 3].map((k) => ({ address: `10.${(i >> 8) & 255}.${i & 255}.${k}`, port: 8080, tags: ['v1'] }))]);
  return out;
}

function registry(n: number, json: boolean): string {
  const list = services(n);
  if (json) return JSON.stringify({ services: Object.fromEntries(list.map(([name, instances]) => [name, { instances }])) });
  const lines = ['services:'];
  for (const [name, instances] of list) {
    lines.push(`  ${name}:`, '    instances:');
    for (const i of instances) lines.push(`      - { address: ${i.address}, port: ${i.port}${i.tags ? ', tags: [v1]' : ''} }`);
  }
  return `${lines.join('\n')}\n`;
}

/** Register the services as plain (no sidecar) instances, spread over 100 nodes with a passing serfHealth. */
function loadConsul(consul: ConsulTestServer, n: number): void {
  const nodes = new Set<string>();
  let k = 0;
  for (const [name, instances] of services(n)) {
    for (const i of instances) {
      const node = `node-${k++ % 100}`;
      const checks = nodes.has(node) ? [] : [{ CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing' as const }];
      nodes.add(node);
      consul.catalog.register({ node, address: i.address, checks, service: { Service: name, ID: `${name}-${i.address}-${i.port}`, Address: i.address, Port: i.port, Tags: i.tags ?? [] } });
    }
  }
}

const rssOf = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

interface Row { source: string; services: number; size: string; rssStart: number; rssAfter: number; heapMb: number; rssIdle: number; heapIdleMb: number }

/** Start the built agent with `args`, wait for /ready, measure, stop it by PID. */
async function measure(name: string, source: string, n: number, size: string, args: string[], admin: number, up: number): Promise<Row> {
  // Plaintext to the app directly: this measures discovery state, not TLS.
  const agent = procs.spawn(name, process.execPath, ['--max-semi-space-size=2', 'dist/cli/index.js', 'agent', '--service', 'web', '--service-addr', '127.0.0.1:1',
    '--listen', '127.0.0.1:0', '--no-mtls', '--upstream', `api:${up}`, '--admin-bind', `${HOST}:${admin}`, '--log-level', 'error', ...args],
  { cwd: REPO, env: { ...process.env, NODE_ENV: 'production' } });
  try {
    let ready = false;
    for (let i = 0; i < 600 && !ready && agent.running(); i++) {
      try { const r = await request(`http://${HOST}:${admin}/ready`); await r.body.dump(); ready = r.statusCode === 200; } catch { /* starting */ }
      if (!ready) await new Promise((r) => setTimeout(r, 100));
    }
    if (!ready) throw new Error(`${name} did not become ready:\n${logTail(agent)}`);
    await new Promise((r) => setTimeout(r, 500)); // let the start settle (one idle GC window)
    const rssStart = rssOf(agent.pid);
    for (let i = 0; i < REQUESTS; i++) {
      const r = await request(`http://${HOST}:${up}/`);
      if (r.statusCode !== 200) throw new Error(`${name}: request ${i} answered ${r.statusCode}`);
      await r.body.dump();
    }
    const rssAfter = rssOf(agent.pid);
    const heapNow = async (): Promise<number> => {
      const m = await (await request(`http://${HOST}:${admin}/metrics`)).body.text();
      return Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(m)?.[1] ?? 0) / 1048576;
    };
    const heapMb = await heapNow();
    // Garbage (the parse of a big file) shows as heap in use until a full GC; what is retained stays after it.
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const rssIdle = rssOf(agent.pid);
    const heapIdleMb = await heapNow();
    return { source, services: n, size, rssStart, rssAfter, heapMb, rssIdle, heapIdleMb };
  } finally {
    await procs.stop(agent);
  }
}

async function staticRow(n: number, json: boolean): Promise<Row> {
  const file = join(dir, `registry-${n}.${json ? 'json' : 'yaml'}`);
  const text = registry(n, json);
  writeFileSync(file, text);
  const [up, admin] = [await freePort(), await freePort()];
  const retained = retainedMb(file);
  const row = await measure(`agent-static-${n}-${json ? 'json' : 'yaml'}`, `static, ${json ? 'JSON' : 'YAML'}`, n, `${(Buffer.byteLength(text) / 1048576).toFixed(2)} MB file`, ['--registry', file], admin, up);
  return { ...row, size: `${row.size}; resolver retains ${retained.toFixed(2)} MB after a full GC` };
}

/**
 * What the static resolver retains, without the garbage: a child process (--expose-gc) loads `file`
 * with the built StaticResolver, watches `api`, and compares the heap after two full GCs with the heap before.
 */
function retainedMb(file: string): number {
  const script = `const { StaticResolver } = await import(${JSON.stringify(join(REPO, 'dist/discovery/static/resolver.js'))});
const used = () => { gc(); gc(); return process.memoryUsage().heapUsed; };
const before = used();
const r = new StaticResolver({ file: ${JSON.stringify(file)}, pollMs: 0 });
r.watch('api', new AbortController().signal);
await new Promise((res) => setTimeout(res, 50));
process.stdout.write(String((used() - before) / 1048576));
await r.close();`;
  return Number(execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { cwd: REPO, encoding: 'utf8' }));
}

async function consulRow(n: number): Promise<Row> {
  const consul = await startConsulTestServer({ jitter: false });
  try {
    loadConsul(consul, n);
    const instances = consul.store.allServices().length;
    const [up, admin] = [await freePort(), await freePort()];
    const cfg = join(dir, `agent-consul-${n}.json`);
    writeFileSync(cfg, JSON.stringify({ consul: { address: `${HOST}:${consul.port}`, register: false, health_endpoint: 'service' } }));
    const before = consul.requests.length;
    const row = await measure(`agent-consul-${n}`, 'Consul', n, `${instances.toLocaleString('en-US')} instances in the catalog`, ['--config', cfg, '--discovery', 'consul'], admin, up);
    // What the agent asked Consul for: its upstream only, never a catalog listing.
    const paths = [...new Set(consul.requests.slice(before).map((q) => q.path))].filter((p) => p.startsWith('/v1/health/') || p.startsWith('/v1/catalog/'));
    return { ...row, size: `${row.size}; the agent read ${paths.map((p) => `\`${p}\``).join(', ') || 'nothing'}` };
  } finally {
    await consul.close();
  }
}

const plan: Array<[string, number, () => Promise<Row>]> = [
  ['static registry, 10 services (YAML)', 5, () => staticRow(10, false)],
  [`static registry, ${big} services (JSON)`, 8, () => staticRow(big, true)],
  [`static registry, ${big} services (YAML)`, 10, () => staticRow(big, false)],
  ['Consul, 10 services', 6, () => consulRow(10)],
  [`Consul, ${big} services`, 15, () => consulRow(big)],
];
const progress = new Progress(plan.reduce((a, [, s]) => a + s, 0));
log(`Memory against mesh size (1 upstream used; agents from dist/cli/index.js; logs in ${dir}):`);
const rows: Row[] = [];
try {
  for (const [label, sec, run] of plan) {
    const done = progress.phase(label, sec);
    const r = await run();
    progress.note(`RSS ${r.rssStart.toFixed(0)} MB after start, ${r.rssAfter.toFixed(0)} MB after ${REQUESTS} requests (heap ${r.heapMb.toFixed(1)} MB), ${r.rssIdle.toFixed(0)} MB after ${IDLE_MS / 1000} s idle (heap ${r.heapIdleMb.toFixed(1)} MB)`);
    rows.push(r);
    done();
  }
} finally {
  await procs.stopAll();
  app.close();
}
rmSync(dir, { recursive: true, force: true });

const [s10, sJson, sYaml, c10, cBig] = rows as [Row, Row, Row, Row, Row];
const fmt = (n: number): string => n.toLocaleString('en-US');
const row = (r: Row): string => `| ${r.source} | ${fmt(r.services)} | ${r.size} | ${r.rssStart.toFixed(0)} MB | ${r.rssAfter.toFixed(0)} MB | ${r.heapMb.toFixed(1)} MB | ${r.rssIdle.toFixed(0)} MB | ${r.heapIdleMb.toFixed(1)} MB |`;
const growth = (a: Row, b: Row): string => `${(b.rssAfter - a.rssAfter).toFixed(0)} MB RSS and ${(b.heapMb - a.heapMb).toFixed(1)} MB heap after the requests, ${(b.rssIdle - a.rssIdle).toFixed(0)} MB RSS and ${(b.heapIdleMb - a.heapIdleMb).toFixed(1)} MB heap after ${IDLE_MS / 1000} s idle`;
const md = [
  '# Memory against mesh size',
  '',
  `\`node bench/registry-scale.ts\`: one agent (the build in dist/) using one upstream, in a mesh of 10 and of ${fmt(big)} services (3 instances each), in one run: with a static registry file (JSON and YAML) and with Consul discovery against the project's Consul-API test server (test/support/consul/) holding the same services. RSS from /proc after start, after ${fmt(REQUESTS)} requests and after ${IDLE_MS / 1000} s idle; V8 heap in use (live objects plus garbage not yet collected) from /metrics.`,
  '',
  `| Discovery | Services in the mesh | Size | RSS after start | RSS after ${fmt(REQUESTS)} requests | V8 heap used | RSS after ${IDLE_MS / 1000} s idle | V8 heap used |`,
  '|---|---:|---|---:|---:|---:|---:|---:|',
  ...rows.map(row),
  '',
  `Growth for ${fmt(big / 10)}× the services: static JSON ${growth(s10, sJson)}; static YAML ${growth(s10, sYaml)}; Consul ${growth(c10, cBig)}.`,
  '',
  'The static resolver keeps only the endpoint sets of the services the agent watches and a SHA-256 of the file; the whole file is read and parsed at each (re)load and then dropped, so the heap growth in the table is the dead parse of a big file, still counted as heap in use because V8 has not run a full GC since (an idle agent allocates too little to start one), plus heap pages V8 keeps: the \"resolver retains\" figure (the built StaticResolver in a child process with --expose-gc: heap after two full GCs minus heap before) is what stays. YAML is read with js-yaml (core schema). With Consul the agent only ever asks for its upstreams (health/service/api here): the catalog\'s size never reaches it. Transparent mode is the exception: its capture index maps every service of the mesh, so it grows with the mesh by nature.',
  '',
].join('\n');
mkdirSync(join(REPO, 'bench/results'), { recursive: true });
writeFileSync(join(REPO, 'bench/results/registry-scale.md'), md);
log(`\n${md}`);
