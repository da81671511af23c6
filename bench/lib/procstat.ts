/**
 * Reading /proc for the harness: CPU time (utime + stime) and resident memory
 * of a process, and its children (nginx's workers). Linux only, like the
 * harness. CPU is turned into "cores used" = CPU seconds / wall seconds.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

let clkTck = 0;
/** Kernel clock ticks per second (USER_HZ), almost always 100. */
export function clockTicks(): number {
  if (!clkTck) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

export interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime, in clock ticks. */
  readonly cpuTicks: number;
  /** Start time after boot, in clock ticks: with the pid, identifies a process across pid reuse. */
  readonly startTime: number;
}

/** Parse the text of /proc/<pid>/stat. The command name may hold spaces and ')', so split after the last ')'. */
export function parseProcStat(text: string): ProcStat {
  const pid = Number(text.slice(0, text.indexOf(' ')));
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state); field n is f[n - 3].
  return { pid, ppid: Number(f[1]), cpuTicks: Number(f[11]) + Number(f[12]), startTime: Number(f[19]) };
}

export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** VmRSS in bytes, or undefined when the process is gone. */
export function readRssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Direct children of `pid`, found by scanning /proc (works without CONFIG_PROC_CHILDREN). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readProcStat(Number(name));
    if (st && st.ppid === pid) out.push(st.pid);
  }
  return out;
}

/** CPU ticks at one instant for a set of pids; `coresSince` turns two snapshots into cores used. */
export interface CpuSnapshot {
  readonly at: number;
  readonly ticks: ReadonlyMap<number, number>;
}

export function cpuSnapshot(pids: readonly number[]): CpuSnapshot {
  const ticks = new Map<number, number>();
  for (const pid of pids) {
    const st = readProcStat(pid);
    if (st) ticks.set(pid, st.cpuTicks);
  }
  return { at: performance.now(), ticks };
}

/**
 * The scheduler's view of a process's main thread (/proc/<pid>/task/<pid>/schedstat): nanoseconds
 * it waited on a run queue while runnable, and how many times it was put on a CPU. On a shared
 * machine this is where latency goes that no CPU profile shows: a request that arrives while
 * the process waits for a core waits with it.
 */
export interface SchedStat {
  readonly waitNs: number;
  readonly slices: number;
}

export function readSchedStat(pid: number): SchedStat | undefined {
  try {
    const f = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(' ');
    return { waitNs: Number(f[1]), slices: Number(f[2]) };
  } catch {
    return undefined;
  }
}

export function schedSnapshot(pids: readonly number[]): Map<number, SchedStat> {
  const out = new Map<number, SchedStat>();
  for (const pid of pids) {
    const st = readSchedStat(pid);
    if (st) out.set(pid, st);
  }
  return out;
}

/** Cores used by each pid between two snapshots (pids missing from either are left out). */
export function coresBetween(a: CpuSnapshot, b: CpuSnapshot): Map<number, number> {
  const wallSec = (b.at - a.at) / 1000;
  const out = new Map<number, number>();
  if (wallSec <= 0) return out;
  for (const [pid, t1] of b.ticks) {
    const t0 = a.ticks.get(pid);
    if (t0 !== undefined) out.set(pid, (t1 - t0) / clockTicks() / wallSec);
  }
  return out;
}
