/**
 * The machine a run was measured on, printed with every result: ratios only
 * mean something next to the hardware and software that produced them.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface Machine {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly memGiB: number;
  readonly kernel: string;
  readonly os: string;
  readonly node: string;
  /** OpenSSL bundled in Node (the agent's TLS), next to the system one in `tools`. */
  readonly nodeOpenssl: string;
  /** 1-minute load average when the run started and ended: other work on the machine makes figures noisy. */
  loadAvgStart: number;
  loadAvgEnd: number;
  readonly tools: Readonly<Record<string, string>>;
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m ? (m[1] as string) : os.type();
  } catch {
    return os.type();
  }
}

export function describeMachine(tools: Readonly<Record<string, string>>): Machine {
  return {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    os: osName(),
    node: process.version,
    nodeOpenssl: process.versions.openssl ?? 'unknown',
    loadAvgStart: os.loadavg()[0] ?? 0,
    loadAvgEnd: Number.NaN,
    tools,
  };
}

export function machineLine(m: Machine): string {
  return `${m.nproc} × ${m.cpuModel}, ${m.memGiB} GiB, ${m.os}, ${m.kernel}, Node ${m.node} (OpenSSL ${m.nodeOpenssl})`;
}
