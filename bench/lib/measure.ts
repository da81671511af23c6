/**
 * One cell of the matrix: every measure of one scenario against one running
 * target, in a fixed order. Fixed-rate phases first (CPU per role sampled over
 * each, RSS read after the last), then wrk's max throughput, then the mTLS
 * handshake rate. Failures inside a measure are recorded, not thrown, so one
 * broken phase does not hide the others.
 */
import { request } from 'undici';
import type { Role, RunningTarget } from '../targets/types.ts';
import type { BenchArgs } from './args.ts';
import { runHandshakes, type HandshakeResult } from './handshake.ts';
import { openLoopClient, runOpenLoop, type OpenLoopResult } from './openloop.ts';
import { coresBetween, cpuSnapshot, readRssBytes } from './procstat.ts';
import type { ProcessGroup } from './procs.ts';
import type { Progress } from './progress.ts';
import type { Scenario } from './scenario.ts';
import { runWrk } from './wrk.ts';
import type { WrkResult } from './wrk-parse.ts';

export interface RatePhase {
  readonly rate: number;
  readonly load: OpenLoopResult;
  /** Cores used per role over the measured phase (sum over the role's processes). */
  readonly cores: Partial<Record<Role, number>>;
  /** Cores used by the harness process itself (the generator), to show it was not the bottleneck. */
  readonly generatorCores: number;
}

export interface CellResult {
  readonly rates: RatePhase[];
  readonly rssBytes: Partial<Record<Role, number>>;
  readonly wrk?: WrkResult;
  /** CPU microseconds per request per role during the wrk phase: robust to a busy machine, unlike req/s. */
  readonly wrkCpuUsPerReq?: Partial<Record<Role, number>>;
  readonly wrkError?: string;
  readonly handshake?: HandshakeResult & { readonly inboundCpuMsPerConn?: number };
  readonly handshakeNote?: string;
}

export interface MeasureEnv {
  readonly procs: ProcessGroup;
  readonly args: BenchArgs;
  readonly wrk: string;
  readonly progress: Progress;
  /** e.g. "run 1/3 · haproxy · small" */
  readonly label: string;
}

/** Planned seconds of one cell, for the progress ETA. */
export function plannedCellSec(a: BenchArgs, s: Scenario, withHandshake: boolean): number {
  return s.rates.length * (a.warmupSec + a.rateSec) + a.wrkSec + (s.handshake && withHandshake ? a.handshakeSec : 0);
}

const ms = (x: number): string => (x >= 10 ? x.toFixed(1) : x.toFixed(2));

function sumByRole<T>(roles: Partial<Record<Role, number[]>>, per: (pid: number) => T | undefined, add: (acc: number, v: T) => number): Partial<Record<Role, number>> {
  const out: Partial<Record<Role, number>> = {};
  for (const [role, pids] of Object.entries(roles) as [Role, number[]][]) {
    let acc = 0;
    for (const pid of pids) {
      const v = per(pid);
      if (v !== undefined) acc = add(acc, v);
    }
    out[role] = acc;
  }
  return out;
}

/** One request must come back 200 with the scenario's body length before anything is measured. */
export async function smokeCheck(target: RunningTarget, s: Scenario): Promise<void> {
  const res = await request(`${target.origin}${s.path}`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  const body = Buffer.from(await res.body.arrayBuffer());
  if (res.statusCode !== 200 || body.length !== s.bodyBytes) {
    throw new Error(`smoke request ${s.path} got status ${res.statusCode} with ${body.length} bytes (expected 200 with ${s.bodyBytes}): ${body.subarray(0, 300).toString()}`);
  }
}

async function ratePhase(env: MeasureEnv, target: RunningTarget, s: Scenario, rate: number, pool: ReturnType<typeof openLoopClient>): Promise<RatePhase> {
  const { args: a, progress } = env;
  const end = progress.phase(`${env.label} · ${rate.toLocaleString('en')} rps open loop (${a.warmupSec}s warm-up + ${a.rateSec}s)`, a.warmupSec + a.rateSec);
  const common = { path: s.path, rate, expectBytes: s.bodyBytes, drainMs: 5000 };
  await runOpenLoop(pool, { ...common, durationMs: a.warmupSec * 1000 });
  const roles = target.roles();
  const pids = Object.values(roles).flat();
  const c0 = cpuSnapshot(pids);
  const g0 = process.cpuUsage();
  const load = await runOpenLoop(pool, { ...common, durationMs: a.rateSec * 1000 });
  const g = process.cpuUsage(g0);
  const c1 = cpuSnapshot(pids);
  end();
  const per = coresBetween(c0, c1);
  const cores = sumByRole(roles, (pid) => per.get(pid), (acc, v) => acc + v);
  const generatorCores = (g.user + g.system) / 1e6 / (c1.at - c0.at) * 1000;
  const l = load.latency;
  progress.note(`p50 ${ms(l.p50)} ms · p90 ${ms(l.p90)} · p99 ${ms(l.p99)} · p99.9 ${ms(l.p999)} · ${load.achievedRps.toFixed(0)} rps achieved` +
    `${load.errors ? ` · ${load.errors} errors (${load.firstError})` : ''}${load.timeouts ? ` · ${load.timeouts} timeouts` : ''}` +
    ` · cores ${Object.entries(cores).map(([r, c]) => `${r} ${c.toFixed(3)}`).join(', ')}`);
  return { rate, load, cores, generatorCores };
}

export async function measureCell(env: MeasureEnv, target: RunningTarget, s: Scenario): Promise<CellResult> {
  const { args: a, progress } = env;
  const pool = openLoopClient(target.origin, a.connections);
  const rates: RatePhase[] = [];
  try {
    for (const rate of s.rates) rates.push(await ratePhase(env, target, s, rate, pool));
  } finally {
    await pool.close();
  }
  const rssBytes = sumByRole(target.roles(), readRssBytes, (acc, v) => acc + v);

  let wrk: WrkResult | undefined;
  let wrkError: string | undefined;
  const endWrk = progress.phase(`${env.label} · max throughput, wrk closed loop (${a.wrkSec}s, ${s.wrkConnections} connections)`, a.wrkSec);
  let wrkCpuUsPerReq: Partial<Record<Role, number>> | undefined;
  try {
    const roles = target.roles();
    const w0 = cpuSnapshot(Object.values(roles).flat());
    wrk = await runWrk(env.procs, { wrk: env.wrk, url: `${target.origin}${s.path}`, durationSec: a.wrkSec, connections: s.wrkConnections, threads: a.wrkThreads });
    const w1 = cpuSnapshot(Object.values(roles).flat());
    const per = coresBetween(w0, w1);
    const reqs = wrk.requests;
    const cpuSec = (w1.at - w0.at) / 1000;
    wrkCpuUsPerReq = sumByRole(roles, (pid) => per.get(pid), (acc, v) => acc + v);
    for (const r of Object.keys(wrkCpuUsPerReq) as Role[]) wrkCpuUsPerReq[r] = reqs ? ((wrkCpuUsPerReq[r] as number) * cpuSec * 1e6) / reqs : Number.NaN;
    const bad = wrk.non2xx3xx + wrk.socketErrors.connect + wrk.socketErrors.read + wrk.socketErrors.write + wrk.socketErrors.timeout;
    progress.note(`${wrk.requestsPerSec.toFixed(0)} req/s${bad ? ` · ${bad} errors/non-2xx` : ''} · CPU per request ` +
      Object.entries(wrkCpuUsPerReq).map(([r, us]) => `${r} ${us.toFixed(1)} µs`).join(', '));
  } catch (e) {
    wrkError = (e as Error).message;
    progress.note(`wrk failed: ${wrkError}`);
  }
  endWrk();

  if (!s.handshake) return { rates, rssBytes, ...(wrk ? { wrk } : {}), ...(wrkCpuUsPerReq ? { wrkCpuUsPerReq } : {}), ...(wrkError ? { wrkError } : {}) };
  if (!target.tlsHop) {
    return { rates, rssBytes, ...(wrk ? { wrk } : {}), ...(wrkCpuUsPerReq ? { wrkCpuUsPerReq } : {}), ...(wrkError ? { wrkError } : {}), handshakeNote: target.tlsHopNote ?? 'no TLS hop' };
  }
  const endHs = progress.phase(`${env.label} · new mTLS connections, full handshake each (${a.handshakeSec}s)`, a.handshakeSec);
  const inPids = target.roles().inbound ?? [];
  const h0 = cpuSnapshot(inPids);
  const hs = await runHandshakes(target.tlsHop, a.handshakeSec * 1000);
  const h1 = cpuSnapshot(inPids);
  endHs();
  const inCpuSec = [...coresBetween(h0, h1).values()].reduce((x, y) => x + y, 0) * (h1.at - h0.at) / 1000;
  const handshake = { ...hs, ...(hs.connections ? { inboundCpuMsPerConn: (inCpuSec / hs.connections) * 1000 } : {}) };
  progress.note(`${hs.perSec.toFixed(0)} handshakes/s · inbound CPU ${handshake.inboundCpuMsPerConn?.toFixed(2) ?? '?'} ms each` +
    `${hs.errors ? ` · ${hs.errors} errors (${hs.firstError})` : ''}`);
  return { rates, rssBytes, ...(wrk ? { wrk } : {}), ...(wrkCpuUsPerReq ? { wrkCpuUsPerReq } : {}), ...(wrkError ? { wrkError } : {}), handshake };
}
