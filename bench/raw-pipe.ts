/**
 * The ceiling for any Node L7 proxy on this machine: a raw pipe pair (plain in,
 * TLS between, plain out; bytes piped, nothing parsed) and a lean HTTP pair
 * (lib/lean-http-peer.ts: heads split and rebuilt, Content-Length framing, one
 * upstream connection per client connection, nothing else) against the HAProxy
 * pair and the aim-mesh pair, measured in the same run with wrk at max throughput.
 * Reported per proxy process: CPU per request (user + system, from
 * /proc/<pid>/stat over the wrk phase) and req/s, median of the rounds, with
 * ratios to the HAProxy pair. The README's performance section quotes it.
 *
 *   node bench/raw-pipe.ts [--rounds 3] [--secs 4]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildDist } from './lib/build.ts';
import { makeCerts } from './lib/certs.ts';
import { ensureTools } from './lib/install.ts';
import { freePort, HOST, waitForPort } from './lib/ports.ts';
import { ProcessGroup } from './lib/procs.ts';
import { readProcStat, clockTicks } from './lib/procstat.ts';
import { loadScenarios } from './lib/scenario.ts';
import { runWrk } from './lib/wrk.ts';
import { startBackend } from './targets/backend.ts';
import { pickTargets } from './targets/index.ts';
import type { RunningTarget } from './targets/types.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, secs: { type: 'string', default: '4' }, help: { type: 'boolean', default: false } } });
if (values.help) { process.stdout.write('Usage: node bench/raw-pipe.ts [--rounds 3] [--secs 4]\n'); process.exit(0); }
const ROUNDS = Number(values.rounds);
const SECS = Number(values.secs);
const REPO = fileURLToPath(new URL('..', import.meta.url));
const log = (s: string): void => { process.stdout.write(`${s}\n`); };

const tools = ensureTools(log);
buildDist(REPO, log);
const dir = mkdtempSync(join(tmpdir(), 'aim-raw-pipe-'));
const procs = new ProcessGroup(dir);
process.once('exit', () => procs.killAllNow());
const certs = makeCerts(dir);
const [small] = await loadScenarios(['small']);
const backend = await startBackend(procs, tools.nginx, dir, [small!]);

/** A pair of Node peers (`file`: out|in LISTEN TARGET [CERT KEY]), one process each. */
async function nodePair(name: string, file: string): Promise<RunningTarget> {
  const [outPort, inPort] = await Promise.all([freePort(), freePort()]);
  const peer = join(REPO, file);
  const inb = procs.spawn(`${name}-in`, process.execPath, ['--max-semi-space-size=2', peer, 'in', String(inPort), String(backend.port), certs.serverCert, certs.serverKey]);
  await waitForPort(inPort, inb, 10_000);
  const out = procs.spawn(`${name}-out`, process.execPath, ['--max-semi-space-size=2', peer, 'out', String(outPort), String(inPort)]);
  await waitForPort(outPort, out, 10_000);
  return { origin: `http://${HOST}:${outPort}`, roles: () => ({ outbound: out.pids(), inbound: inb.pids() }), async stop() { await Promise.all([procs.stop(out), procs.stop(inb)]); } };
}

const defs = pickTargets(['haproxy', 'aim-mesh']).filter((d) => (d.kind ?? 'http1') === 'http1');
const targets: Array<{ name: string; t: RunningTarget }> = [];
for (const d of defs) targets.push({ name: d.name, t: await d.start({ procs, dir: mkdtempSync(join(dir, `${d.name}-`)), certs, tools, backend, repo: REPO }) });
targets.push({ name: 'raw-pipe', t: await nodePair('raw', 'bench/lib/raw-pipe-peer.ts') });
targets.push({ name: 'lean-http', t: await nodePair('lean', 'bench/lib/lean-http-peer.ts') });

const ticks = (pids: readonly number[]): number => pids.reduce((a, p) => a + (readProcStat(p)?.cpuTicks ?? 0), 0);
const results = new Map<string, Array<{ rps: number; out: number; in: number }>>();
for (let r = 1; r <= ROUNDS; r++) {
  for (const { name, t } of r % 2 ? targets : [...targets].reverse()) {
    log(`round ${r}/${ROUNDS} · ${name}: wrk ${SECS}s`);
    const url = `${t.origin}${small!.path}`;
    await runWrk(procs, { wrk: tools.wrk, url, durationSec: 1, connections: 32, threads: 1 });
    const roles = t.roles();
    const a = { out: ticks(roles.outbound ?? []), in: ticks(roles.inbound ?? []) };
    const w = await runWrk(procs, { wrk: tools.wrk, url, durationSec: SECS, connections: 32, threads: 1 });
    const b = { out: ticks(roles.outbound ?? []), in: ticks(roles.inbound ?? []) };
    const us = (x: number): number => (x / clockTicks()) * 1e6 / w.requests;
    (results.get(name) ?? results.set(name, []).get(name)!).push({ rps: w.requestsPerSec, out: us(b.out - a.out), in: us(b.in - a.in) });
  }
}
for (const { t } of targets) await t.stop();
await procs.stop(backend.tracked);
rmSync(dir, { recursive: true, force: true });

const median = (xs: number[]): number => { const s = [...xs].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]!; };
const row = (name: string) => { const rs = results.get(name)!; return { rps: median(rs.map((x) => x.rps)), out: median(rs.map((x) => x.out)), in: median(rs.map((x) => x.in)) }; };
const h = row('haproxy');
log(`\n| Pair (median of ${ROUNDS}) | Max req/s | ×H | CPU µs/req, outbound | CPU µs/req, inbound | ×H |`);
log('|---|---:|---:|---:|---:|---:|');
for (const { name } of targets) {
  const x = row(name);
  log(`| ${name} | ${Math.round(x.rps).toLocaleString('en')} | ${(x.rps / h.rps).toFixed(2)} | ${x.out.toFixed(1)} | ${x.in.toFixed(1)} | ${((x.out + x.in) / (h.out + h.in)).toFixed(2)} |`);
}
