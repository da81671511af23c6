#!/usr/bin/env node
/**
 * Per-connection cost of original-destination recovery (issue 9).
 *
 *   node bench/origdst.ts [--conns 2000] [--calls 200000]
 *
 * What it measures, in one run:
 *   - originalDst(socket): the addon's getsockname() + getsockopt(SO_ORIGINAL_DST),
 *     a conntrack lookup in the kernel, plus the N-API call and the result object;
 *   - the peer: one uncached getsockname() through Node's own TCP handle
 *     (`socket._handle.getsockname`, what socket.address() does before it caches),
 *     i.e. the cost of the cheapest syscall-backed call Node makes on a socket;
 *   - for scale: connect + accept of one loopback TCP connection.
 * As root (with ip and iptables), it re-runs itself inside a throwaway network
 * namespace where a REDIRECT rule sends 127.0.0.2:9 to the listener, so every
 * call takes the real "redirected" path and returns a destination. Otherwise it
 * measures the same calls on un-NATed loopback connections, and says so.
 * The namespace is deleted by name when the run ends. Loopback only.
 */
import net from 'node:net';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { assertOriginalDstAvailable, originalDst } from '../src/transparent/original-dst.ts';

const { values } = parseArgs({
  options: { conns: { type: 'string', default: '2000' }, calls: { type: 'string', default: '200000' }, inner: { type: 'boolean' } },
});
const CONNS = Number(values.conns);
const CALLS = Number(values.calls);

const have = (bin: string) => ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].some((d) => existsSync(`${d}/${bin}`));
const canNetns = process.platform === 'linux' && process.getuid?.() === 0 && have('ip') && have('iptables');

function outer(): void {
  assertOriginalDstAvailable(); // fail early with "run npm run build:native"
  if (!canNetns) {
    console.log('note: not root (or no ip/iptables): measuring un-NATed loopback connections; the syscalls are the same, conntrack may hold no entry');
    void inner('direct');
    return;
  }
  const ns = `aimb-origdst-${process.pid}`;
  const del = () => { spawnSync('ip', ['netns', 'del', ns]); };
  process.on('SIGINT', () => { del(); process.exit(130); });
  try {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, fileURLToPath(import.meta.url), '--inner', '--conns', String(CONNS), '--calls', String(CALLS)], { stdio: 'inherit' });
    process.exitCode = r.status ?? 1;
  } finally {
    del();
  }
}

const nsPer = (start: bigint, n: number) => Number(process.hrtime.bigint() - start) / n;

async function inner(mode: 'redirected' | 'direct'): Promise<void> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => { accepted.push(s); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  let target = { host: '127.0.0.1', port };
  if (mode === 'redirected') {
    execFileSync('iptables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', '127.0.0.2', '--dport', '9', '-j', 'REDIRECT', '--to-ports', String(port)]);
    target = { host: '127.0.0.2', port: 9 };
  }

  // connect + accept, one at a time (for scale).
  const clients: net.Socket[] = [];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < CONNS; i++) {
    const want = accepted.length + 1;
    const c = net.connect(target);
    clients.push(c);
    await new Promise<void>((r) => c.once('connect', () => {
      const check = () => (accepted.length >= want ? r() : setImmediate(check));
      check();
    }));
  }
  const connectNs = nsPer(t0, CONNS);

  // First call per connection, as the capture listener makes it.
  let found = 0;
  const t1 = process.hrtime.bigint();
  for (const s of accepted) if (originalDst(s)) found++;
  const firstNs = nsPer(t1, accepted.length);

  // Hot loops, alternating, median of 5 rounds each: originalDst() vs the peer.
  type Handle = { getsockname(out: { port?: number }): number };
  const handles = accepted.map((s) => (s as unknown as { _handle: Handle })._handle);
  const out: { port?: number } = {};
  const per = Math.max(1, Math.floor(CALLS / 5));
  const od: number[] = [];
  const peer: number[] = [];
  let sink = 0;
  for (let round = 0; round < 5; round++) {
    const t2 = process.hrtime.bigint();
    for (let i = 0; i < per; i++) sink += originalDst(accepted[i % accepted.length] as net.Socket)?.port ?? 0;
    od.push(nsPer(t2, per));
    const t3 = process.hrtime.bigint();
    for (let i = 0; i < per; i++) { (handles[i % handles.length] as Handle).getsockname(out); sink += out.port ?? 0; }
    peer.push(nsPer(t3, per));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const odNs = median(od);
  const addrNs = median(peer);

  for (const c of clients) c.destroy();
  server.close();
  const us = (ns: number) => `${(ns / 1000).toFixed(2)} µs`;
  console.log(`origdst bench (${mode}${mode === 'redirected' ? ', REDIRECT 127.0.0.2:9 -> listener' : ''}), ${CONNS} connections, ${CALLS} calls, sink ${sink > 0 ? 'ok' : '0'}`);
  console.log(`| measure                              | per call   |`);
  console.log(`|--------------------------------------|------------|`);
  console.log(`| originalDst(), first call per conn   | ${us(firstNs).padEnd(10)} |`);
  console.log(`| originalDst(), hot loop (median)     | ${us(odNs).padEnd(10)} |`);
  console.log(`| getsockname (peer), hot (median)     | ${us(addrNs).padEnd(10)} |`);
  console.log(`| connect + accept of one connection   | ${us(connectNs).padEnd(10)} |`);
  console.log(`originalDst() is ${((firstNs / connectNs) * 100).toFixed(1)}% of a loopback connection setup; ${found}/${accepted.length} connections reported a redirected destination`);
  console.log(JSON.stringify({ mode, conns: CONNS, calls: CALLS, firstNs, odNs, addrNs, connectNs, found }));
}

if (values.inner) void inner('redirected');
else outer();
