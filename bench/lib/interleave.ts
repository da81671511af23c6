/**
 * Interleaved closed-loop measurement of several targets started side by
 * side (the `layers` scenario's agent variants). Measuring variants one after
 * another on a shared 2-core machine compares each against a different
 * background load; here every variant is warmed up, then measured in 1-second
 * wrk slices taken in turn (A B C D E, then B C D E A, …), so slow drift in
 * the machine's load falls on all of them alike. Idle pairs cost nothing
 * while another is measured. Per target, the slices are summed: requests,
 * wall time and CPU per role, hence CPU µs per request and req/s; each
 * slice is kept so the report can state the noise.
 */
import type { Role, RunningTarget } from '../targets/types.ts';
import { phasesFor, type CellResult, type MeasureEnv } from './measure.ts';
import { coresBetween, cpuSnapshot, readRssBytes } from './procstat.ts';
import type { Scenario } from './scenario.ts';
import { runWrk } from './wrk.ts';
import type { WrkResult } from './wrk-parse.ts';

export interface Slice {
  readonly sec: number;
  readonly requests: number;
  /** CPU microseconds used per role during the slice. */
  readonly cpuUs: Partial<Record<Role, number>>;
}

const SLICE_SEC = 1;

/** Planned seconds for `n` targets measured together (warm-up + slices), for the ETA. */
export function plannedInterleavedSec(env: Pick<MeasureEnv, 'args'>, s: Scenario, n: number): number {
  const p = phasesFor(env.args, s);
  return n * (Math.max(1, Math.round(p.warmupSec)) + p.closedSec * SLICE_SEC);
}

function merge(results: readonly WrkResult[]): WrkResult {
  const sum = (f: (w: WrkResult) => number): number => results.reduce((a, w) => a + f(w), 0);
  const requests = sum((w) => w.requests);
  const sec = sum((w) => w.durationSec);
  return {
    requests, durationSec: sec, bytesRead: sum((w) => w.bytesRead),
    requestsPerSec: sec > 0 ? requests / sec : 0,
    transferPerSec: sec > 0 ? sum((w) => w.bytesRead) / sec : 0,
    latencyMs: { avg: requests ? sum((w) => w.latencyMs.avg * w.requests) / requests : Number.NaN, stdev: Number.NaN, max: Math.max(...results.map((w) => w.latencyMs.max)) },
    distributionMs: {},
    socketErrors: {
      connect: sum((w) => w.socketErrors.connect), read: sum((w) => w.socketErrors.read),
      write: sum((w) => w.socketErrors.write), timeout: sum((w) => w.socketErrors.timeout),
    },
    non2xx3xx: sum((w) => w.non2xx3xx),
  };
}

export async function measureInterleaved(env: MeasureEnv, targets: ReadonlyArray<{ name: string; running: RunningTarget }>, s: Scenario): Promise<Map<string, CellResult>> {
  const { args: a, progress } = env;
  const p = phasesFor(a, s);
  const wrk = (t: RunningTarget, sec: number): Promise<WrkResult> =>
    runWrk(env.procs, { wrk: env.tools.wrk, url: `${t.origin}${s.path}`, durationSec: sec, connections: s.wrkConnections, threads: a.wrkThreads });
  const warm = Math.max(1, Math.round(p.warmupSec));
  const endWarm = progress.phase(`${env.label} · warm-up, ${warm}s of wrk on each of ${targets.length} pairs in turn`, targets.length * warm);
  for (const t of targets) await wrk(t.running, warm).catch(() => undefined);
  endWarm();

  const slices = new Map<string, { wrk: WrkResult[]; slices: Slice[]; errors: string[] }>(targets.map((t) => [t.name, { wrk: [], slices: [], errors: [] }]));
  for (let round = 0; round < p.closedSec; round++) {
    const end = progress.phase(`${env.label} · round ${round + 1}/${p.closedSec}: ${SLICE_SEC}s of wrk (${s.wrkConnections} connections) on each pair in turn`, targets.length * SLICE_SEC);
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(k + round) % targets.length] as (typeof targets)[number];
      const acc = slices.get(t.name) as { wrk: WrkResult[]; slices: Slice[]; errors: string[] };
      try {
        const roles = t.running.roles();
        const c0 = cpuSnapshot(Object.values(roles).flat());
        const w = await wrk(t.running, SLICE_SEC);
        const c1 = cpuSnapshot(Object.values(roles).flat());
        const per = coresBetween(c0, c1);
        const sec = (c1.at - c0.at) / 1000;
        const cpuUs: Partial<Record<Role, number>> = {};
        for (const [role, pids] of Object.entries(roles) as [Role, number[]][]) cpuUs[role] = pids.reduce((x, pid) => x + (per.get(pid) ?? 0), 0) * sec * 1e6;
        acc.wrk.push(w);
        acc.slices.push({ sec: w.durationSec, requests: w.requests, cpuUs });
      } catch (e) {
        acc.errors.push((e as Error).message);
      }
    }
    end();
  }

  const out = new Map<string, CellResult>();
  for (const t of targets) {
    const acc = slices.get(t.name) as { wrk: WrkResult[]; slices: Slice[]; errors: string[] };
    const rssBytes: Partial<Record<Role, number>> = {};
    for (const [role, pids] of Object.entries(t.running.roles()) as [Role, number[]][]) rssBytes[role] = pids.reduce((x, pid) => x + (readRssBytes(pid) ?? 0), 0);
    if (!acc.wrk.length) {
      out.set(t.name, { rates: [], rssBytes, wrkError: acc.errors[0] ?? 'no slice measured' });
      continue;
    }
    const w = merge(acc.wrk);
    const us: Partial<Record<Role, number>> = {};
    for (const role of Object.keys(acc.slices[0]?.cpuUs ?? {}) as Role[]) {
      us[role] = w.requests ? acc.slices.reduce((x, sl) => x + (sl.cpuUs[role] ?? 0), 0) / w.requests : Number.NaN;
    }
    const errors = w.non2xx3xx + w.socketErrors.connect + w.socketErrors.read + w.socketErrors.write + w.socketErrors.timeout;
    progress.note(`${t.name}: ${w.requestsPerSec.toFixed(0)} req/s${errors ? ` · ${errors} errors` : ''} · CPU per request ` +
      Object.entries(us).map(([r, x]) => `${r} ${x.toFixed(1)} µs`).join(', '));
    out.set(t.name, { rates: [], rssBytes, wrk: w, closedLoopErrors: errors, wrkCpuUsPerReq: us, slices: acc.slices, ...(acc.errors.length ? { wrkError: acc.errors[0] } : {}) });
  }
  return out;
}
