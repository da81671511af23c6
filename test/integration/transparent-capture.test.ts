/**
 * Interception with real kernel networking: two network namespaces this test
 * creates (A = the app's pod, B = a remote host) joined by a veth pair with
 * 10.200.7.0/24 and fd00:200:7::/64, both deleted in teardown.
 *
 * The rules are applied in A with applyRedirect(). Listeners in A (a child
 * process inside A) answer with the original destination that the orig-dst
 * addon recovers. Clients run inside A (or B) as root or as other UIDs via
 * setpriv, so the owner match is exercised for real.
 * Skips (saying why) when not root, when ip/iptables are absent, or when the
 * addon is not built.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { applyRedirect, cleanupRedirect, saveNat } from '../../src/transparent/apply.ts';
import { linkedNamespaces, netnsSkipReason, sh } from '../support/netns.ts';
import { defaultRedirectOptions, type RedirectOptions } from '../../src/transparent/rules.ts';

const skipReason = (): string | false => netnsSkipReason(['ip', 'iptables-restore', 'ip6tables-restore', 'nsenter', 'setpriv']);

const A = `aimt-cap-a-${process.pid}`;
const B = `aimt-cap-b-${process.pid}`;
const A4 = '10.200.7.1';
const B4 = '10.200.7.2';
const A6 = 'fd00:200:7::1';
const B6 = 'fd00:200:7::2';
const OUTBOUND = 15001;
const INBOUND = 25000;
const ADMIN = 19000;
const PROXY_UID = 5678;

const odModule = new URL('../../src/transparent/original-dst.ts', import.meta.url).href;

/** Listeners on `::` (dual stack) that answer one JSON line: where they are and what originalDst() says. */
const LISTENERS = `
import net from 'node:net';
import { originalDst } from ${JSON.stringify(odModule)};
const ports = JSON.parse(process.env.PORTS);
let up = 0;
for (const port of ports) {
  net.createServer((s) => {
    let od;
    try { od = originalDst(s) ?? null; } catch (e) { od = 'error: ' + e.message; }
    s.end(JSON.stringify({ at: process.env.NAME, port, od }) + '\\n');
  }).listen({ port, host: '::' }, () => { if (++up === ports.length) console.log('ready'); });
}
`;

const CLIENT = `
import net from 'node:net';
const [host, port] = [process.env.HOST, Number(process.env.PORT)];
let buf = '';
const s = net.connect({ host, port, timeout: 3000 });
s.setEncoding('utf8').on('data', (d) => { buf += d; });
s.on('end', () => console.log(buf.trim()));
s.on('timeout', () => { console.log(JSON.stringify({ error: 'timeout' })); s.destroy(); });
s.on('error', (e) => console.log(JSON.stringify({ error: e.code })));
`;

interface Reply { at?: string; port?: number; od?: { address: string; port: number; family: string } | null | string; error?: string }

async function inNs(t: { teardown(fn: () => unknown): void }, ns: string, name: string, ports: number[]): Promise<void> {
  const child: ChildProcess = spawn('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', LISTENERS], {
    env: { ...process.env, PORTS: JSON.stringify(ports), NAME: name },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => { child.kill(); });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => { if (d.includes('ready')) resolve(); });
    child.on('exit', (code) => reject(new Error(`listeners in ${ns} exited with ${code}`)));
  });
}

async function call(ns: string, host: string, port: number, uid?: number): Promise<Reply> {
  const asUid = uid === undefined ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];
  const { stdout } = await sh('ip', ['netns', 'exec', ns, ...asUid, process.execPath, '--input-type=module', '-e', CLIENT], {
    env: { ...process.env, HOST: host, PORT: String(port) },
  });
  return JSON.parse(stdout.trim()) as Reply;
}

const captured = (host: string, port: number, family = 'IPv4'): Reply => ({ at: 'A', port: OUTBOUND, od: { address: host, port, family } });
const direct = (at: string, port: number): Reply => ({ at, port, od: null });

t.test('outbound and inbound capture with original-destination recovery', { skip: skipReason() }, async (t) => {
  t.teardown(() => Promise.all([A, B].map((n) => sh('ip', ['netns', 'del', n]).catch(() => {}))));
  await linkedNamespaces(A, B, { a: [A4], b: [B4], a6: [A6], b6: [B6] });

  const netns = `/var/run/netns/${A}`;
  const before4 = await saveNat({ netns }, 4);

  // A: the agent's capture ports, the admin port, and two app ports (8081 is excluded inbound).
  await inNs(t, A, 'A', [OUTBOUND, INBOUND, ADMIN, 8080, 8081]);
  // B: a remote host with an app port, an excluded port and a DNS-over-TCP port.
  await inNs(t, B, 'B', [8080, 9090, 53]);

  t.same(await call(A, B4, 8080), direct('B', 8080), 'before the rules, A reaches B directly');

  const opts: RedirectOptions = {
    ...defaultRedirectOptions,
    proxyUid: PROXY_UID,
    proxyInboundPort: INBOUND,
    proxyOutboundPort: OUTBOUND,
    proxyAdminPort: ADMIN,
    excludeInboundPorts: [8081],
    excludeOutboundPorts: [9090],
    excludeUids: [4321],
  };
  await applyRedirect(opts, { netns, families: [4, 6] });

  // Outbound.
  t.same(await call(A, B4, 8080), captured(B4, 8080), 'root app: captured, original destination recovered');
  t.same(await call(A, B4, 8080, 1000), captured(B4, 8080), 'an unprivileged app UID is captured too');
  t.same(await call(A, B4, 8080, PROXY_UID), direct('B', 8080), 'the proxy UID is never captured (no loop)');
  t.same(await call(A, B4, 8080, 4321), direct('B', 8080), '--exclude-uid');
  t.same(await call(A, B4, 9090), direct('B', 9090), '--exclude-outbound-port');
  t.same(await call(A, B4, 53), direct('B', 53), 'DNS is left alone');
  t.same(await call(A, '127.0.0.1', 8080), direct('A', 8080), 'loopback is left alone');
  t.same(await call(A, '127.0.0.1', OUTBOUND), direct('A', OUTBOUND), 'a direct connection to the capture port has no original destination');
  t.same(await call(A, B6, 8080), captured(B6, 8080, 'IPv6'), 'IPv6: captured, IP6T_SO_ORIGINAL_DST recovered');

  // Inbound.
  t.same(await call(B, A4, 8080), { at: 'A', port: INBOUND, od: { address: A4, port: 8080, family: 'IPv4' } }, 'inbound to an app port goes to the inbound port');
  t.same(await call(B, A4, 8081), direct('A', 8081), '--exclude-inbound-port');
  t.same(await call(B, A4, ADMIN), direct('A', ADMIN), 'the admin port is left alone');
  t.same(await call(B, A4, INBOUND), direct('A', INBOUND), 'peers dialling the inbound port itself are not NATed');

  // Re-applying with a CIDR exclusion changes the rules in place.
  await applyRedirect({ ...opts, excludeOutboundCidrs: [`${B4}/32`] }, { netns, families: [4, 6] });
  t.same(await call(A, B4, 8080), direct('B', 8080), '--exclude-outbound-cidr');
  t.same(await call(A, B6, 8080), captured(B6, 8080, 'IPv6'), 'an IPv4 CIDR does not exclude IPv6');

  await cleanupRedirect({ netns, families: [4, 6] });
  t.same(await call(A, B6, 8080), direct('B', 8080), 'after cleanup, IPv6 goes direct');
  t.same(await call(A, B4, 8080), direct('B', 8080), 'after cleanup, IPv4 goes direct');
  const strip = (s: string) => s.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, '')).join('\n');
  t.equal(strip(await saveNat({ netns }, 4)), strip(before4), 'and the nat table is as before');
});
