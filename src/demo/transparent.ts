/**
 * `aim-mesh demo --transparent` (`sudo npm start -- --transparent`): transparent
 * interception with real kernel networking, the README's by-hand recipe done in Node.
 *
 *   namespace B   the sample app `api` on 127.0.0.1 only, behind its agent (mTLS) on B's address
 *   namespace A   redirect-traffic's rules; an agent with --transparent running as the proxy
 *                 UID; a client running as another UID, which calls http://<B>:8080/ — a plain
 *                 address it could not reach without the mesh — and is captured
 *
 * A veth pair joins A and B; a local dev CA and a static registry live in a temp dir. Every
 * few seconds a line shows the client's count, `transparent_capture_total` in A and the
 * caller identity B's agent verified (`inbound_peer_requests_total`). Stopping (the signal,
 * or `durationS`) stops each process by PID, removes the rules and deletes the namespaces.
 * Only the namespaces created here are touched, never the host's own.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCa } from '../identity/ca.ts';
import { PROXY_UID } from '../k8s/defaults.ts';
import { applyRedirect, cleanupRedirect } from '../transparent/apply.ts';
import { defaultRedirectOptions } from '../transparent/rules.ts';
import { hostProbes, linkedNamespaces, missingPrerequisite, sh, spawnIn, stop, waitFor, type Proc } from './netns.ts';

/** What the machine must have; `demoPrerequisite` says which one is missing. */
export const DEMO_BINS = ['ip', 'iptables-save', 'iptables-restore', 'nsenter', 'setpriv'] as const;
export const demoPrerequisite = (): string | false => missingPrerequisite(DEMO_BINS, hostProbes(`aim-demo-probe-${process.pid}`));

const NET = '10.200.50'; // the namespace tests use 10.200.7, .9, .11 and .99
const A_ADDR = `${NET}.1`;
const B_ADDR = `${NET}.2`;
const APP_PORT = 8080;
const R = defaultRedirectOptions; // inbound 20000, outbound capture 15001, admin 19000
const CLIENT_UID = 1000;

export interface TransparentDemoOptions {
  /** The CLI entry the child agents run (default: the script this process runs). */
  readonly cli?: string;
  /** Stop by itself after this many seconds (default: run until the signal). */
  readonly durationS?: number;
  readonly signal?: AbortSignal;
  readonly logLevel?: string;
  readonly out?: (s: string) => void;
  readonly requestEveryMs?: number;
  readonly statusEveryMs?: number;
}

/** The app in B: the sample `api` app (src/demo/sample-apps.ts), loopback only. */
const APP = `
import { startApi } from ${JSON.stringify(new URL('./sample-apps.ts', import.meta.url).href)};
await startApi('api', ${APP_PORT}, 0);
console.log('ready');
process.on('SIGTERM', () => process.exit(0));
`;

/**
 * The client in A: one GET every EVERY ms, each on a new connection (so each is captured and
 * counted by the capture, not only the first of a keep-alive connection); after each
 * answer, a JSON line of the counts so far.
 */
const CLIENT = `
import http from 'node:http';
const c = { sent: 0, ok: 0, failed: 0, last: null };
const print = () => console.log(JSON.stringify(c));
const call = () => {
  c.sent++;
  const r = http.get(process.env.URL, { agent: false, timeout: 3000 }, (res) => {
    res.resume();
    res.on('end', () => { if (res.statusCode === 200) c.ok++; else { c.failed++; c.last = 'HTTP ' + res.statusCode; } print(); });
  });
  r.on('timeout', () => r.destroy(new Error('timeout')));
  r.on('error', (e) => { c.failed++; c.last = e.code ?? e.message; print(); });
};
call();
setInterval(call, Number(process.env.EVERY));
process.on('SIGTERM', () => process.exit(0));
`;

/** GET a URL from inside `ns` (with Node's fetch: no curl needed). */
const FETCH = 'process.stdout.write(await (await fetch(process.env.URL, { signal: AbortSignal.timeout(3000) })).text())';
async function fetchIn(ns: string, url: string): Promise<string> {
  const { stdout } = await sh('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', FETCH], { env: { ...process.env, URL: url } });
  return stdout;
}

/** `name{labels} value` lines of one metric, as [labels, value]. */
export function metricLines(text: string, name: string): Array<[Record<string, string>, number]> {
  const out: Array<[Record<string, string>, number]> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const end = line.lastIndexOf('}');
    const labels = Object.fromEntries([...line.slice(name.length + 1, end).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    out.push([labels, Number(line.slice(end + 1).trim())]);
  }
  return out;
}

/** Runs until `signal` or `durationS`; the exit code (0 clean, 1 a step failed). */
export async function runTransparentDemo(opts: TransparentDemoOptions = {}): Promise<number> {
  const out = opts.out ?? ((s: string) => process.stdout.write(s));
  const cli = opts.cli ?? process.argv[1]!;
  const signal = opts.signal ?? new AbortController().signal;
  const aborted = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error('stopped')), { once: true }));
  aborted.catch(() => {});
  const until = <T>(p: Promise<T>): Promise<T> => Promise.race([p, aborted]);
  const A = `aim-demo-a-${process.pid}`;
  const B = `aim-demo-b-${process.pid}`;
  const netns = `/var/run/netns/${A}`;
  const dir = mkdtempSync(join(tmpdir(), 'aim-demo-transparent-'));
  chmodSync(dir, 0o755); // the agent in A runs as the proxy UID and reads the registry and CA here
  const procs: Proc[] = [];
  let created = false;
  let rules = false;
  const N = 6;
  const step = (i: number, what: string): void => out(`[${i}/${N}] ${what}\n`);
  const agent = (service: string, appAddr: string, listen: string, extra: string[] = []): string[] => [process.execPath, cli, 'agent',
    '--service', service, '--service-addr', appAddr, '--listen', listen, '--registry', join(dir, 'registry.yaml'),
    '--admin-bind', `127.0.0.1:${R.proxyAdminPort}`, '--identity', 'local-ca', '--ca-dir', join(dir, 'ca'),
    '--drain-timeout', '1', '--log-level', ['trace', 'debug'].includes(opts.logLevel ?? '') ? opts.logLevel! : 'info', ...extra]; // info at least: start-up is seen in the log
  const started = (p: Proc, what: string): Promise<void> => until(waitFor(p, what === 'app' ? 'ready' : 'admin listening', what, 30_000));

  let code = 0;
  try {
    step(1, `creating network namespaces ${A} (${A_ADDR}) and ${B} (${B_ADDR}), joined by a veth pair`);
    created = true;
    await linkedNamespaces(A, B, { a: [A_ADDR], b: [B_ADDR], devs: ['aim-demo-a', 'aim-demo-b'] }); // quick: not raced with the signal, so cleanup sees it whole

    step(2, `creating a local dev CA in ${join(dir, 'ca')} and a static registry: api = ${B_ADDR}:${R.proxyInboundPort}`);
    await initCa(join(dir, 'ca'));
    await sh('chmod', ['-R', 'a+rX', join(dir, 'ca')]);
    writeFileSync(join(dir, 'registry.yaml'), `services:\n  api:\n    instances: [{ address: ${B_ADDR}, port: ${R.proxyInboundPort} }]\n`, { mode: 0o644 });

    step(3, `namespace B: the sample app api on 127.0.0.1:${APP_PORT} (loopback only) and its agent (mTLS) on ${B_ADDR}:${R.proxyInboundPort}`);
    const app = spawnIn(B, [process.execPath, '--input-type=module', '-e', APP], dir);
    const inbound = spawnIn(B, agent('api', `127.0.0.1:${APP_PORT}`, `${B_ADDR}:${R.proxyInboundPort}`), dir);
    procs.push(app, inbound);
    await Promise.all([started(app, 'app'), started(inbound, "api's agent in B")]);

    step(4, `namespace A: redirect-traffic rules (outbound TCP → ${R.proxyOutboundPort}, inbound → ${R.proxyInboundPort}, UID ${PROXY_UID} not captured)`);
    rules = true;
    await applyRedirect({ ...R, proxyUid: PROXY_UID }, { netns });

    step(5, `namespace A: the agent as UID ${PROXY_UID} with --transparent (capture port ${R.proxyOutboundPort})`);
    const outbound = spawnIn(A, agent('web', '127.0.0.1:8081', `${A_ADDR}:${R.proxyInboundPort}`, ['--transparent', '--outbound-port', String(R.proxyOutboundPort)]), dir, PROXY_UID);
    procs.push(outbound);
    await started(outbound, "web's agent in A");

    const url = `http://${B_ADDR}:${APP_PORT}/`;
    const every = opts.requestEveryMs ?? 500;
    step(6, `namespace A: a client as UID ${CLIENT_UID} calling ${url} every ${every} ms (a plain address: no mesh port, no proxy setting)`);
    const client = spawnIn(A, [process.execPath, '--input-type=module', '-e', CLIENT], dir, CLIENT_UID, { ...process.env, URL: url, EVERY: String(every) });
    procs.push(client);

    out(`
Transparent demo running${opts.durationS === undefined ? '; Ctrl-C stops it and removes everything' : ` for ${opts.durationS} s`}. Try:
  ip netns exec ${A} curl -s ${url}                  # captured; the app answers with the caller it saw
  ip netns exec ${A} iptables-save -t nat                           # the rules
  ip netns exec ${A} curl -s 127.0.0.1:${R.proxyAdminPort}/metrics | grep transparent_capture

`);
    const t0 = Date.now();
    const status = async (): Promise<void> => {
      const secs = String(Math.round((Date.now() - t0) / 1000)).padStart(3);
      for (const p of procs) p.output = p.output.slice(-65_536); // bounded, however long it runs
      const last = client.output.split('\n').findLast((l) => l.startsWith('{') && l.endsWith('}')); // a whole line
      const c = (last === undefined ? { sent: 0, ok: 0, failed: 0, last: null } : JSON.parse(last)) as { sent: number; ok: number; failed: number; last: string | null };
      const [ma, mb] = await Promise.all([A, B].map((ns) => fetchIn(ns, `http://127.0.0.1:${R.proxyAdminPort}/metrics`).catch(() => '')));
      const cap = metricLines(ma!, 'transparent_capture_total').filter(([, v]) => v > 0).map(([l, v]) => `${l.result} ${v}`);
      const peers = metricLines(mb!, 'inbound_peer_requests_total').filter(([, v]) => v > 0).map(([l, v]) => `${v} from ${l.peer}`);
      out(`[${secs}s] client: ${c.sent} sent, ${c.ok} ok${c.failed > 0 ? `, ${c.failed} failed (last: ${c.last})` : ''}`
        + ` | connections captured in A: ${cap.join(', ') || 'none yet'}`
        + ` | api's agent in B, over mTLS: ${peers.join(', ') || 'no requests yet'}\n`);
    };
    const every2 = opts.statusEveryMs ?? 3000;
    const deadline = opts.durationS === undefined ? Infinity : t0 + opts.durationS * 1000;
    while (!signal.aborted && Date.now() < deadline) {
      await new Promise<void>((r) => {
        const timer = setTimeout(r, Math.min(every2, deadline - Date.now()));
        signal.addEventListener('abort', () => { clearTimeout(timer); r(); }, { once: true });
      });
      await status();
    }
  } catch (err) {
    if (!signal.aborted) {
      out(`aim-mesh demo --transparent: ${(err as Error).message}\n`);
      code = 1;
    }
  } finally {
    out('stopping: processes by PID, then the rules and the namespaces\n');
    await Promise.all(procs.map(stop));
    const left: string[] = [];
    if (rules) await cleanupRedirect({ netns }).catch((e: Error) => left.push(`the rules in ${A} (${e.message.trim()})`));
    if (created) {
      for (const ns of [A, B]) {
        await sh('ip', ['netns', 'del', ns]).catch((e: Error) => {
          if (!/No such file/.test(e.message)) left.push(`namespace ${ns}: ip netns del ${ns} (${e.message.trim()})`);
        });
      }
    }
    rmSync(dir, { recursive: true, force: true });
    out(left.length === 0 ? 'stopped; nothing left behind\n' : `stopped, but could not remove: ${left.join('; ')}\n`);
    if (left.length > 0) code = 1;
  }
  return code;
}
