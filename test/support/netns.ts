/**
 * Helpers for tests with real kernel networking in network namespaces the
 * test creates (transparent-capture, -e2e, -consul): why to skip, two linked namespaces, processes
 * inside a namespace (optionally as another UID), waiting for their output,
 * stopping them by PID, curl and /metrics reads from inside a namespace.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { originalDstAvailable } from '../../src/transparent/original-dst.ts';
import { configFromObject } from '../../src/config/load.ts';
import { buildAgentTls } from '../../src/agent/identity.ts';
import { silentLogger } from '../../src/telemetry/log.ts';

export const sh = promisify(execFile);
const have = (bin: string) => ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].some((d) => existsSync(`${d}/${bin}`));

/** Why a namespace test cannot run here (false when it can): not Linux, not root, tools or the addon missing. */
export function netnsSkipReason(bins: readonly string[] = ['ip', 'iptables-save', 'iptables-restore', 'ip6tables-restore', 'nsenter', 'setpriv', 'curl']): string | false {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces and write iptables rules';
  for (const b of bins) {
    if (!have(b)) return `${b} is not installed (Debian: apt-get install iproute2 iptables util-linux curl)`;
  }
  if (!originalDstAvailable()) return 'the orig-dst addon is not built: run npm run build:native';
  // Some sandboxes run as root but forbid namespaces: say so instead of failing.
  const probe = `aimt-probe-${process.pid}`;
  const made = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (made.status !== 0) return `cannot create network namespaces here: ${made.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return false;
}

/**
 * Two new namespaces joined by a veth pair (`va` in a, `vb` in b), loopback up in both, with
 * these addresses on the pair (IPv4 /24, IPv6 /64 without duplicate-address detection).
 */
export async function linkedNamespaces(a: string, b: string, addrs: { a: readonly string[]; b: readonly string[]; a6?: readonly string[]; b6?: readonly string[] }): Promise<void> {
  for (const n of [a, b]) {
    await sh('ip', ['netns', 'add', n]);
    await sh('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
  }
  await sh('ip', ['-n', a, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb', 'netns', b]);
  for (const [ns, dev, list, v6] of [[a, 'va', addrs.a, false], [b, 'vb', addrs.b, false], [a, 'va', addrs.a6 ?? [], true], [b, 'vb', addrs.b6 ?? [], true]] as const) {
    for (const x of list) await sh('ip', v6 ? ['-n', ns, '-6', 'addr', 'add', `${x}/64`, 'dev', dev, 'nodad'] : ['-n', ns, 'addr', 'add', `${x}/24`, 'dev', dev]);
  }
  await sh('ip', ['-n', a, 'link', 'set', 'va', 'up']);
  await sh('ip', ['-n', b, 'link', 'set', 'vb', 'up']);
}

export interface Proc { readonly child: ChildProcess; output: string }

/** Run argv inside namespace `ns` (as `uid` via setpriv when given), collecting stdout and stderr. */
export function spawnIn(ns: string, argv: string[], cwd: string, uid?: number, env?: NodeJS.ProcessEnv): Proc {
  const asUid = uid === undefined ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];
  const child = spawn('ip', ['netns', 'exec', ns, ...asUid, ...argv], { cwd, stdio: ['ignore', 'pipe', 'pipe'], ...(env === undefined ? {} : { env }) });
  const p: Proc = { child, output: '' };
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { p.output += d; });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { p.output += d; });
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
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** curl inside `ns`: status, body, and curl's exit code (7 = could not connect). */
export async function curl(ns: string, url: string, headers: string[] = [], extra: string[] = []): Promise<{ status: number; body: string; exit: number }> {
  const args = ['netns', 'exec', ns, 'curl', '-s', '-m', '5', '-o', '-', '-w', '\n%{http_code}', ...extra, ...headers.flatMap((h) => ['-H', h]), url];
  try {
    const { stdout } = await sh('ip', args);
    const i = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i), exit: 0 };
  } catch (e) {
    const err = e as { code: number; stdout: string };
    return { status: 0, body: err.stdout ?? '', exit: err.code };
  }
}

/** A TCP client run in a namespace: connect, optionally SEND, print what came back (JSON) at end, UNTIL a marker, or after WAIT ms. */
const TCP_CLIENT = `
import net from 'node:net';
let data = '';
const s = net.connect({ host: process.env.HOST, port: Number(process.env.PORT) });
const done = (how) => { console.log(JSON.stringify({ data, how })); s.destroy(); process.exit(0); };
s.setEncoding('utf8').on('data', (d) => { data += d; if (process.env.UNTIL && data.includes(process.env.UNTIL)) done('until'); });
s.on('connect', () => { if (process.env.SEND) s.write(process.env.SEND); });
s.on('end', () => done('end'));
s.on('error', (e) => done(e.code));
setTimeout(() => done('timeout'), Number(process.env.WAIT ?? 3000));
`;

/** Connect from inside `ns`: what came back, and how it ended ('end', 'until', 'timeout' or an error code). */
export async function tcp(ns: string, host: string, port: number, env: Record<string, string> = {}): Promise<{ data: string; how: string }> {
  const { stdout } = await sh('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', TCP_CLIENT],
    { env: { ...process.env, HOST: host, PORT: String(port), ...env } });
  return JSON.parse(stdout.trim()) as { data: string; how: string };
}

/** The value of the first /metrics line matching `re`, read from the admin port inside `ns` (0 when absent). */
export async function metric(ns: string, adminPort: number, re: RegExp): Promise<number> {
  const { stdout } = await sh('ip', ['netns', 'exec', ns, 'curl', '-s', '-m', '5', `http://127.0.0.1:${adminPort}/metrics`]);
  const m = stdout.split('\n').find((l) => re.test(l));
  return m === undefined ? 0 : Number(m.slice(m.lastIndexOf(' ') + 1));
}

/** Can the CLI build mTLS identities (src/agent/identity.ts) with a local CA in `dir`? Else the agents run plaintext. */
export async function mtlsAvailable(dir: string): Promise<boolean> {
  try {
    const cfg = configFromObject({ service: { name: 'probe', address: '127.0.0.1:1' } }, 'probe');
    const tls = await buildAgentTls(cfg, { identity: 'local-ca', 'ca-dir': dir }, silentLogger);
    await tls.close();
    return true;
  } catch {
    return false;
  }
}

/** Poll `fn` until it returns a value, or give up after `ms` (then the last error is thrown). */
export async function eventually<T>(fn: () => Promise<T | undefined>, ms = 15_000, everyMs = 200): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try { const v = await fn(); if (v !== undefined) return v; } catch (e) { last = e; }
    if (Date.now() > end) throw last instanceof Error ? last : new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
