/**
 * Real kernel networking in network namespaces: what `aim-mesh demo --transparent`
 * and the namespace tests (test/support/netns.ts re-exports these) share.
 *
 *   missingPrerequisite  why namespaces + iptables cannot be used here (false when they can),
 *                        decided from injectable probes so it can be unit-tested as root
 *   linkedNamespaces     two new namespaces joined by a veth pair
 *   spawnIn / waitFor / stop   processes inside a namespace (optionally as another UID),
 *                        waiting for their output, stopping them by PID
 *
 * Loopback and the namespaces this creates only: nothing here touches the host's own
 * network namespace.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { originalDstAvailable } from '../transparent/original-dst.ts';

export const sh = promisify(execFile);

/** Where each binary comes from on Debian/Ubuntu, for the "how to get it" half of a message. */
const PACKAGE: Readonly<Record<string, string>> = {
  ip: 'iproute2', 'iptables-save': 'iptables', 'iptables-restore': 'iptables', 'ip6tables-restore': 'iptables',
  'ip6tables-save': 'iptables', nsenter: 'util-linux', setpriv: 'util-linux', curl: 'curl',
};

/** What missingPrerequisite asks of the machine; the defaults ask the real one. */
export interface PrerequisiteProbes {
  readonly platform: string;
  /** The effective UID (undefined where there is none, e.g. Windows). */
  readonly uid: number | undefined;
  has(bin: string): boolean;
  addonBuilt(): boolean;
  /** Try to create (and delete) a namespace: undefined when it works, else the error text. */
  tryNetns(): string | undefined;
}

const SBIN = ['/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/sbin', '/usr/local/bin'];

export function hostProbes(probeName = `aim-probe-${process.pid}`): PrerequisiteProbes {
  return {
    platform: process.platform,
    uid: process.getuid?.(),
    has: (bin) => SBIN.some((d) => existsSync(`${d}/${bin}`)),
    addonBuilt: originalDstAvailable,
    tryNetns: () => {
      const made = spawnSync('ip', ['netns', 'add', probeName], { encoding: 'utf8' });
      if (made.status !== 0) return (made.stderr || made.error?.message || `exit ${made.status}`).trim();
      spawnSync('ip', ['netns', 'del', probeName]);
      return undefined;
    },
  };
}

/**
 * Why namespaces and iptables rules cannot be used here, as one sentence naming what is
 * missing and how to get it; false when they can. Checks are cheapest first, and the
 * namespace probe runs last (some sandboxes are root but forbid namespaces).
 */
export function missingPrerequisite(bins: readonly string[], probes: PrerequisiteProbes = hostProbes()): string | false {
  if (probes.platform !== 'linux') return `network namespaces need Linux (this is ${probes.platform})`;
  if (probes.uid !== 0) return 'needs root to create network namespaces and write iptables rules (run it with sudo)';
  const missing = bins.filter((b) => !probes.has(b));
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((b) => PACKAGE[b] ?? b))];
    return `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not installed (Debian/Ubuntu: apt-get install ${pkgs.join(' ')})`;
  }
  if (!probes.addonBuilt()) return 'the orig-dst addon is not built (run npm run build:native; it needs node-gyp, make and a C compiler)';
  const err = probes.tryNetns();
  if (err !== undefined) return `cannot create network namespaces here: ${err}`;
  return false;
}

export interface LinkedAddrs {
  readonly a: readonly string[]; readonly b: readonly string[];
  readonly a6?: readonly string[]; readonly b6?: readonly string[];
  /** The veth ends' names, inside a and b (default va, vb). */
  readonly devs?: readonly [string, string];
}

/**
 * Two new namespaces joined by a veth pair (`va` in a, `vb` in b unless `devs` names them),
 * loopback up in both, with these addresses on the pair (IPv4 /24, IPv6 /64 without
 * duplicate-address detection).
 */
export async function linkedNamespaces(a: string, b: string, addrs: LinkedAddrs): Promise<void> {
  const [va, vb] = addrs.devs ?? ['va', 'vb'];
  for (const n of [a, b]) {
    await sh('ip', ['netns', 'add', n]);
    await sh('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
  }
  await sh('ip', ['-n', a, 'link', 'add', va, 'type', 'veth', 'peer', 'name', vb, 'netns', b]);
  for (const [ns, dev, list, v6] of [[a, va, addrs.a, false], [b, vb, addrs.b, false], [a, va, addrs.a6 ?? [], true], [b, vb, addrs.b6 ?? [], true]] as const) {
    for (const x of list) await sh('ip', v6 ? ['-n', ns, '-6', 'addr', 'add', `${x}/64`, 'dev', dev, 'nodad'] : ['-n', ns, 'addr', 'add', `${x}/24`, 'dev', dev]);
  }
  await sh('ip', ['-n', a, 'link', 'set', va, 'up']);
  await sh('ip', ['-n', b, 'link', 'set', vb, 'up']);
}

export interface Proc { readonly child: ChildProcess; output: string }

/**
 * Run argv inside namespace `ns` (as `uid` via setpriv when given), collecting stdout and
 * stderr. `ip netns exec` and `setpriv` exec the command, so the child's PID is argv's own.
 */
export function spawnIn(ns: string, argv: string[], cwd: string, uid?: number, env?: NodeJS.ProcessEnv): Proc {
  const asUid = uid === undefined ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];
  const child = spawn('ip', ['netns', 'exec', ns, ...asUid, ...argv], { cwd, stdio: ['ignore', 'pipe', 'pipe'], ...(env === undefined ? {} : { env }) });
  const p: Proc = { child, output: '' };
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { p.output += d; });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { p.output += d; });
  child.on('error', (e) => { p.output += `${e.message}\n`; });
  return p;
}

/** Resolves when `marker` shows up in the output; rejects with the output if the process exits first. */
export function waitFor(p: Proc, marker: string | RegExp, what: string, ms = 15_000): Promise<void> {
  const seen = (): boolean => (typeof marker === 'string' ? p.output.includes(marker) : marker.test(p.output));
  return new Promise((resolve, reject) => {
    const check = (): void => { if (seen()) { cleanup(); resolve(); } };
    const onExit = (code: number | null): void => { cleanup(); reject(new Error(`${what} exited (${code}) before '${String(marker)}':\n${p.output}`)); };
    const timer = setTimeout(() => { cleanup(); reject(new Error(`${what}: no '${String(marker)}' within ${ms / 1000} s:\n${p.output}`)); }, ms);
    const cleanup = (): void => { clearTimeout(timer); p.child.stdout?.removeListener('data', check); p.child.stderr?.removeListener('data', check); p.child.removeListener('exit', onExit); };
    p.child.stdout?.on('data', check);
    p.child.stderr?.on('data', check);
    p.child.once('exit', onExit);
    check();
  });
}

/** SIGTERM by PID, SIGKILL if it is still there after 3 s. */
export async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null || p.child.pid === undefined) return;
  const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}
