/**
 * First-run setup: the peers the harness measures against (nginx, HAProxy),
 * the closed-loop load tools (wrk; h2load for gRPC) and openssl come from Debian's packages.
 * Missing ones are installed with `apt-get install -y`, and the user is told
 * which and why. While installing, a temporary policy-rc.d (exit 101, the
 * Debian convention for containers) keeps the packages' maintainer scripts
 * from starting system nginx/haproxy daemons that the harness would not own.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, unlinkSync, writeFileSync } from 'node:fs';

interface Tool {
  readonly bin: string;
  readonly pkg: string;
  readonly why: string;
}

const TOOLS: readonly Tool[] = [
  { bin: 'nginx', pkg: 'nginx', why: 'the backend, and the nginx pair' },
  { bin: 'haproxy', pkg: 'haproxy', why: 'the HAProxy pair' },
  { bin: 'wrk', pkg: 'wrk', why: 'closed-loop max throughput' },
  { bin: 'h2load', pkg: 'nghttp2-client', why: 'closed-loop gRPC max throughput' },
  { bin: 'openssl', pkg: 'openssl', why: 'run-time CA and leaf certificates' },
];

const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of a tool, or undefined. Looks in PATH and the sbin dirs (nginx and haproxy live in /usr/sbin). */
export function findTool(bin: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SEARCH];
  for (const d of dirs) {
    const p = `${d}/${bin}`;
    if (existsSync(p)) return p;
  }
  return undefined;
}

function apt(args: string[]): number {
  const flock = findTool('flock');
  const [cmd, argv] = flock ? [flock, ['/tmp/apt.lock', 'apt-get', ...args]] : ['apt-get', args];
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return r.status ?? 1;
}

export type ToolPaths = Readonly<Record<'nginx' | 'haproxy' | 'wrk' | 'h2load' | 'openssl', string>>;

/** Make sure every tool is there, installing from Debian if needed. Throws with advice when it cannot. */
export function ensureTools(log: (line: string) => void): ToolPaths {
  const missing = TOOLS.filter((t) => !findTool(t.bin));
  if (missing.length) {
    const list = missing.map((t) => `${t.pkg} (${t.why})`).join(', ');
    if (process.getuid?.() !== 0) {
      throw new Error(`missing tools: ${list}. Install them with: sudo apt-get install -y ${missing.map((t) => t.pkg).join(' ')}`);
    }
    log(`First run: installing from Debian's packages: ${list}`);
    const policy = '/usr/sbin/policy-rc.d';
    const ownPolicy = !existsSync(policy);
    if (ownPolicy) writeFileSync(policy, '#!/bin/sh\n# written by aim-mesh bench while installing; removed after\nexit 101\n', { mode: 0o755 });
    try {
      const pkgs = missing.map((t) => t.pkg);
      if (apt(['install', '-y', '-q', '--no-install-recommends', ...pkgs]) !== 0) {
        log('apt-get install failed; refreshing the package lists (apt-get update) and trying again');
        apt(['update', '-q']);
        if (apt(['install', '-y', '-q', '--no-install-recommends', ...pkgs]) !== 0) throw new Error(`apt-get install ${pkgs.join(' ')} failed`);
      }
    } finally {
      if (ownPolicy) unlinkSync(policy);
    }
  }
  const out: Record<string, string> = {};
  for (const t of TOOLS) {
    const p = findTool(t.bin);
    if (!p) throw new Error(`${t.bin} is still missing after installing ${t.pkg}`);
    out[t.bin] = p;
  }
  return out as ToolPaths;
}

/** One-line version of each tool, for the machine description. */
export function toolVersions(paths: ToolPaths): Record<string, string> {
  const v = (cmd: string, args: string[]): string => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    const text = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    return (text.split('\n').find((l) => /\d+\.\d+/.test(l)) ?? text.split('\n')[0] ?? '').trim();
  };
  return {
    nginx: v(paths.nginx, ['-v']),
    haproxy: v(paths.haproxy, ['-v']),
    wrk: v(paths.wrk, ['-v']),
    h2load: v(paths.h2load, ['--version']),
    openssl: execFileSync(paths.openssl, ['version'], { encoding: 'utf8' }).trim(),
  };
}
