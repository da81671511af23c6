/**
 * Every process the harness starts, tracked by PID and stopped by PID.
 * Nothing is ever killed by name: stop() signals the PID we spawned, then the
 * children it had (nginx workers), each checked against its recorded start
 * time so a reused PID is never hit. Output goes to a log file per process,
 * whose tail is quoted when a process fails to start.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { childPids, readProcStat } from './procstat.ts';

export interface Tracked {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Settles when the process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True until the process has exited. */
  running(): boolean;
  /** The PID plus its current children (e.g. nginx master + worker). */
  pids(): number[];
}

export interface SpawnOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export class ProcessGroup {
  readonly #dir: string;
  readonly #live = new Set<Tracked>();

  constructor(logDir: string) {
    this.#dir = logDir;
  }

  spawn(name: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): Tracked {
    const logPath = join(this.#dir, `${name}.log`);
    const fd = openSync(logPath, 'a');
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    let alive = child.pid !== undefined;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('error', () => {
        alive = false;
        resolve({ code: -1, signal: null });
      });
      child.once('exit', (code, signal) => {
        alive = false;
        resolve({ code, signal });
      });
    });
    const pid = child.pid ?? -1;
    const t: Tracked = {
      name,
      pid,
      logPath,
      exited,
      running: () => alive,
      pids: () => (alive ? [pid, ...childPids(pid)] : []),
    };
    this.#live.add(t);
    void exited.then(() => this.#live.delete(t));
    return t;
  }

  /** SIGTERM the PID, SIGKILL it after `graceMs`, then SIGKILL any of its children that outlived it. */
  async stop(t: Tracked, graceMs = 3000): Promise<void> {
    const kids = t.running() ? childPids(t.pid).map((pid) => ({ pid, start: readProcStat(pid)?.startTime })) : [];
    if (t.running()) {
      signal(t.pid, 'SIGTERM');
      const timer = setTimeout(() => signal(t.pid, 'SIGKILL'), graceMs);
      await t.exited;
      clearTimeout(timer);
    }
    for (const k of kids) {
      const st = readProcStat(k.pid);
      if (st && st.startTime === k.start) signal(k.pid, 'SIGKILL');
    }
    this.#live.delete(t);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#live].map((t) => this.stop(t)));
  }

  /** Synchronous last resort for process exit handlers: SIGKILL every tracked PID still running. */
  killAllNow(): void {
    for (const t of this.#live) {
      for (const pid of t.pids().reverse()) signal(pid, 'SIGKILL');
    }
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** The last `max` characters of a process log, for error messages. */
export function logTail(t: Tracked, max = 1500): string {
  try {
    const s = readFileSync(t.logPath, 'utf8').trim();
    return s.length > max ? `…${s.slice(-max)}` : s;
  } catch {
    return '';
  }
}
