/**
 * Helpers for tests with real kernel networking in network namespaces the
 * test creates (transparent-capture, -e2e, -consul): why to skip, two linked namespaces, processes
 * inside a namespace (optionally as another UID), waiting for their output,
 * stopping them by PID, curl and /metrics reads from inside a namespace. The
 * first few live in src/demo/netns.ts and are re-exported here.
 */
import { hostProbes, missingPrerequisite, sh } from '../../src/demo/netns.ts';
import { configFromObject } from '../../src/config/load.ts';
import { buildAgentTls } from '../../src/agent/identity.ts';
import { silentLogger } from '../../src/telemetry/log.ts';

// Shared with `aim-mesh demo --transparent` (production code cannot import from test/).
export { linkedNamespaces, sh, spawnIn, stop, waitFor, type Proc } from '../../src/demo/netns.ts';

/** Why a namespace test cannot run here (false when it can): not Linux, not root, tools or the addon missing. */
export function netnsSkipReason(bins: readonly string[] = ['ip', 'iptables-save', 'iptables-restore', 'ip6tables-restore', 'nsenter', 'setpriv', 'curl']): string | false {
  return missingPrerequisite(bins, hostProbes(`aimt-probe-${process.pid}`));
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
