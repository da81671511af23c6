/**
 * One cell of the matrix: every measure of one scenario against one running
 * target, in a fixed order. Fixed-rate phases first (CPU per role sampled over
 * each, RSS read after the last), then the closed-loop max throughput (wrk, or
 * h2load for grpc), then the mTLS handshake rate. A scenario without fixed
 * rates (layers) warms up with the closed-loop tool and reads RSS after the
 * closed loop. Failures inside a measure are recorded, not thrown, so one
 * broken phase does not hide the others.
 */
import { request } from 'undici';
import type { Role, RunningTarget } from '../targets/types.ts';
import type { BenchArgs } from './args.ts';
import { driverFor, type Driver } from './drivers.ts';
import { grpcSmokeCheck } from './grpc-openloop.ts';
import type { H2loadResult } from './h2load-parse.ts';
import { runHandshakes, type HandshakeResult } from './handshake.ts';
import type { ToolPaths } from './install.ts';
import type { OpenLoopResult } from './openloop.ts';
import { coresBetween, cpuSnapshot, readRssBytes, schedSnapshot } from './procstat.ts';
import type { ProcessGroup } from './procs.ts';
import type { Progress } from './progress.ts';
import type { Scenario } from './scenario.ts';
import type { WrkResult } from './wrk-parse.ts';
import type { Slice } from './interleave.ts';

export interface RatePhase {
  readonly rate: number;
  readonly load: OpenLoopResult;
  /** Cores used per role over the measured phase (sum over the role's processes). */
  readonly cores: Partial<Record<Role, number>>;
  /** Cores used by the harness process itself (the generator), to show it was not the bottleneck. */
  readonly generatorCores: number;
  /** Per request answered, per role (main threads): µs spent runnable but waiting for a core, and times put on a core. */
  readonly waitUsPerReq?: Partial<Record<Role, number>>;
  readonly slicesPerReq?: Partial<Record<Role, number>>;
}

export interface CellResult {
  readonly rates: RatePhase[];
  readonly rssBytes: Partial<Record<Role, number>>;
  readonly wrk?: WrkResult;
  /** The grpc scenario's closed loop (in place of wrk). */
  readonly h2load?: H2loadResult;
  /** Failed requests in the closed-loop phase (socket errors, non-2xx, gRPC errors). */
  readonly closedLoopErrors?: number;
  /** CPU microseconds per request per role during the closed-loop phase (wrk or h2load): robust to a busy machine, unlike req/s. */
  readonly wrkCpuUsPerReq?: Partial<Record<Role, number>>;
  readonly wrkError?: string;
  readonly handshake?: HandshakeResult & { readonly inboundCpuMsPerConn?: number };
  readonly handshakeNote?: string;
  /** Interleaved scenarios (layers): each 1-second wrk slice, summed into `wrk` and `wrkCpuUsPerReq`. */
  readonly slices?: readonly Slice[];
}

export interface MeasureEnv {
  readonly procs: ProcessGroup;
  readonly args: BenchArgs;
  readonly tools: ToolPaths;
  /** Scratch directory for this target (h2load's request file). */
  readonly dir: string;
  readonly progress: Progress;
  /** e.g. "run 1/3 · haproxy · small" */
  readonly label: string;
}

export interface Phases {
  readonly warmupSec: number;
  readonly rateSec: number;
  /** Whole seconds (wrk and h2load take integers). */
  readonly closedSec: number;
}

/** The phase lengths of a scenario: its own phaseSec where set (no longer than the flags' under --quick), else the flags'. */
export function phasesFor(a: BenchArgs, s: Scenario): Phases {
  const own = s.phaseSec ?? {};
  const pick = (flag: number, mine: number | undefined): number => (mine === undefined ? flag : a.quick ? Math.min(flag, mine) : mine);
  return {
    warmupSec: pick(a.warmupSec, own.warmup),
    rateSec: pick(a.rateSec, own.rate),
    closedSec: Math.max(1, Math.round(pick(a.wrkSec, own.closed))),
  };
}

/** Planned seconds of one cell, for the progress ETA. */
export function plannedCellSec(a: BenchArgs, s: Scenario, withHandshake: boolean): number {
  const p = phasesFor(a, s);
  const warm = s.rates.length ? 0 : Math.max(1, Math.round(p.warmupSec));
  return s.rates.length * (p.warmupSec + p.rateSec) + warm + p.closedSec + (s.handshake && withHandshake ? a.handshakeSec : 0);
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

/** One request must succeed (HTTP/1: 200 with the scenario's body length; gRPC: status 0 with the message) before anything is measured. */
export async function smokeCheck(target: RunningTarget, s: Scenario): Promise<void> {
  if (s.kind === 'grpc') return grpcSmokeCheck(target.origin);
  const res = await request(`${target.origin}${s.path}`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  const body = Buffer.from(await res.body.arrayBuffer());
  if (res.statusCode !== 200 || body.length !== s.bodyBytes) {
    throw new Error(`smoke request ${s.path} got status ${res.statusCode} with ${body.length} bytes (expected 200 with ${s.bodyBytes}): ${body.subarray(0, 300).toString()}`);
  }
}

async function ratePhase(env: MeasureEnv, target: RunningTarget, s: Scenario, rate: number, driver: Driver, p: Phases): Promise<RatePhase> {
  const { progress } = env;
  const end = progress.phase(`${env.label} · ${rate.toLocaleString('en')} rps open loop (${p.warmupSec}s warm-up + ${p.rateSec}s)`, p.warmupSec + p.rateSec);
  const common = { path: s.path, rate, expectBytes: s.bodyBytes, drainMs: 5000 };
  await driver.openLoop({ ...common, durationMs: p.warmupSec * 1000 });
  const roles = target.roles();
  const pids = Object.values(roles).flat();
  const c0 = cpuSnapshot(pids);
  const s0 = schedSnapshot(pids);
  const g0 = process.cpuUsage();
  const load = await driver.openLoop({ ...common, durationMs: p.rateSec * 1000 });
  const g = process.cpuUsage(g0);
  const s1 = schedSnapshot(pids);
  const c1 = cpuSnapshot(pids);
  end();
  const per = coresBetween(c0, c1);
  const cores = sumByRole(roles, (pid) => per.get(pid), (acc, v) => acc + v);
  const n = Math.max(1, load.ok);
  const delta = (pid: number, k: 'waitNs' | 'slices'): number | undefined => {
    const a = s0.get(pid); const b = s1.get(pid);
    return a !== undefined && b !== undefined ? b[k] - a[k] : undefined;
  };
  const waitUsPerReq = sumByRole(roles, (pid) => delta(pid, 'waitNs'), (acc, v) => acc + v / 1000 / n);
  const slicesPerReq = sumByRole(roles, (pid) => delta(pid, 'slices'), (acc, v) => acc + v / n);
  const generatorCores = (g.user + g.system) / 1e6 / (c1.at - c0.at) * 1000;
  const l = load.latency;
  progress.note(`p50 ${ms(l.p50)} ms · p90 ${ms(l.p90)} · p99 ${ms(l.p99)} · p99.9 ${ms(l.p999)} · ${load.achievedRps.toFixed(0)} rps achieved` +
    `${load.errors ? ` · ${load.errors} errors (${load.firstError})` : ''}${load.timeouts ? ` · ${load.timeouts} timeouts` : ''}` +
    ` · cores ${Object.entries(cores).map(([r, c]) => `${r} ${c.toFixed(3)}`).join(', ')}` +
    ` · run-queue wait per request ${Object.entries(waitUsPerReq).map(([r, w]) => `${r} ${w.toFixed(0)} µs`).join(', ')}`);
  return { rate, load, cores, generatorCores, waitUsPerReq, slicesPerReq };
}

interface ClosedResult {
  readonly wrk?: WrkResult;
  readonly h2load?: H2loadResult;
  readonly closedLoopErrors?: number;
  readonly wrkCpuUsPerReq?: Partial<Record<Role, number>>;
  readonly wrkError?: string;
}

async function closedPhase(env: MeasureEnv, target: RunningTarget, driver: Driver, p: Phases): Promise<ClosedResult> {
  const { progress } = env;
  const endClosed = progress.phase(`${env.label} · ${driver.closedLabel(p.closedSec)}`, p.closedSec);
  try {
    const roles = target.roles();
    const w0 = cpuSnapshot(Object.values(roles).flat());
    const run = await driver.closedLoop(p.closedSec);
    const w1 = cpuSnapshot(Object.values(roles).flat());
    const per = coresBetween(w0, w1);
    const cpuSec = (w1.at - w0.at) / 1000;
    const us = sumByRole(roles, (pid) => per.get(pid), (acc, v) => acc + v);
    for (const r of Object.keys(us) as Role[]) us[r] = run.requests ? ((us[r] as number) * cpuSec * 1e6) / run.requests : Number.NaN;
    progress.note(`${run.requestsPerSec.toFixed(0)} req/s${run.errors ? ` · ${run.errors} errors` : ''} · CPU per request ` +
      Object.entries(us).map(([r, x]) => `${r} ${x.toFixed(1)} µs`).join(', '));
    return { ...(run.wrk ? { wrk: run.wrk } : {}), ...(run.h2load ? { h2load: run.h2load } : {}), closedLoopErrors: run.errors, wrkCpuUsPerReq: us };
  } catch (e) {
    progress.note(`closed loop failed: ${(e as Error).message}`);
    return { wrkError: (e as Error).message };
  } finally {
    endClosed();
  }
}

export async function measureCell(env: MeasureEnv, target: RunningTarget, s: Scenario): Promise<CellResult> {
  const { args: a, progress } = env;
  const p = phasesFor(a, s);
  const driver = await driverFor({ procs: env.procs, tools: env.tools, dir: env.dir, connections: a.connections, wrkThreads: a.wrkThreads }, s, target.origin);
  const rates: RatePhase[] = [];
  try {
    for (const rate of s.rates) rates.push(await ratePhase(env, target, s, rate, driver, p));
  } finally {
    await driver.closeOpenLoop(); // its idle connections stay out of the closed-loop phase
  }
  if (!s.rates.length) {
    const sec = Math.max(1, Math.round(p.warmupSec));
    const end = progress.phase(`${env.label} · warm-up, closed loop (${sec}s)`, sec);
    await driver.closedLoop(sec).catch(() => undefined);
    end();
  }
  let rssBytes = sumByRole(target.roles(), readRssBytes, (acc, v) => acc + v);
  const closed = await closedPhase(env, target, driver, p);
  if (!s.rates.length) rssBytes = sumByRole(target.roles(), readRssBytes, (acc, v) => acc + v);

  if (!s.handshake) return { rates, rssBytes, ...closed };
  if (!target.tlsHop) return { rates, rssBytes, ...closed, handshakeNote: target.tlsHopNote ?? 'no TLS hop' };
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
  return { rates, rssBytes, ...closed, handshake };
}
