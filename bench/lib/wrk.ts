/**
 * Closed-loop max throughput with Debian's `wrk`: a fixed number of keep-alive
 * connections, each sending its next request as soon as the last returned.
 * wrk is started through the ProcessGroup like every other process (tracked,
 * stopped by PID), and its report is parsed by wrk-parse.ts.
 */
import { readFileSync } from 'node:fs';
import type { ProcessGroup } from './procs.ts';
import { parseWrkOutput, type WrkResult } from './wrk-parse.ts';

export interface WrkOptions {
  readonly wrk: string;
  readonly url: string;
  readonly durationSec: number;
  readonly connections: number;
  readonly threads: number;
}

let seq = 0;

export async function runWrk(procs: ProcessGroup, o: WrkOptions): Promise<WrkResult> {
  const args = [`-t${o.threads}`, `-c${o.connections}`, `-d${o.durationSec}s`, '--latency', '--timeout', '10s', o.url];
  const t = procs.spawn(`wrk-${++seq}`, o.wrk, args);
  const killer = setTimeout(() => void procs.stop(t), (o.durationSec + 30) * 1000);
  const { code } = await t.exited;
  clearTimeout(killer);
  const text = readFileSync(t.logPath, 'utf8');
  if (code !== 0) throw new Error(`wrk exited with code ${code}: ${text.slice(-800)}`);
  return parseWrkOutput(text);
}
