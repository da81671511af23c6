/**
 * Does an ECDSA P-256 leaf make agent-to-agent mTLS handshakes cheaper than an
 * RSA-2048 leaf? Both run here, same RSA-2048 root, same code path
 * (createServerTls/createClientTls, TLS 1.3, our SPIFFE verification), on
 * loopback, client and server in this one process, so the CPU time measured is
 * what one full mutual handshake costs the mesh (both ends).
 *
 *   node bench/identity-handshake.ts [handshakes=600]
 *
 * Rows: full handshakes per key type (no resumption), then resumed handshakes
 * with the ECDSA leaf. Each row: handshakes/s (sequential), mean latency,
 * and process CPU per handshake.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { initCa } from '../src/identity/ca.ts';
import type { LeafKeyType } from '../src/identity/issue.ts';
import type { IdentityLog } from '../src/identity/log.ts';
import { LocalCaSource } from '../src/identity/sources/local-ca.ts';
import { createClientTls, createServerTls } from '../src/identity/tls-context.ts';

const N = Number(process.argv[2] ?? 600);
const WARMUP = 50;
const quiet: IdentityLog = { info() {}, warn() {}, error() {} };
const id = (svc: string) => `spiffe://aim.local/ns/default/dc/dc1/svc/${svc}`;

interface Row { name: string; perSec: number; meanMs: number; cpuUs: number }

async function run(dir: string, keyType: LeafKeyType, resume: boolean): Promise<Row> {
  const server = new LocalCaSource({ caDir: dir, spiffeId: id('api'), keyType, log: quiet, watch: false });
  const client = new LocalCaSource({ caDir: dir, spiffeId: id('web'), keyType, log: quiet, watch: false });
  await Promise.all([server.start(), client.start()]);
  const st = createServerTls(server, { log: quiet });
  const ct = createClientTls(client, { resume });
  const srv = tls.createServer(st.options, st.guard((s) => s.end('k')));
  st.attach(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  const once = () => new Promise<void>((resolve, reject) => {
    const s = ct.connect({ host: '127.0.0.1', port, expectedSpiffeId: id('api') });
    s.on('data', () => {});
    s.on('end', () => resolve());
    s.on('error', reject);
  });
  for (let i = 0; i < WARMUP; i++) await once();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await once();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  srv.close();
  st.close();
  ct.close();
  await Promise.all([server.close(), client.close()]);
  const name = `${keyType}${resume ? ' resumed' : ' full'}`;
  if (resume && ct.stats.resumed < N) throw new Error(`${name}: only ${ct.stats.resumed} of ${N} resumed`);
  return { name, perSec: (N * 1000) / ms, meanMs: ms / N, cpuUs: (cpu.user + cpu.system) / N };
}

const dir = await mkdtemp(join(tmpdir(), 'aim-bench-ca-'));
try {
  await initCa(dir);
  const rows: Row[] = [];
  // Interleave to spread any machine noise over both key types.
  for (let round = 0; round < 2; round++) {
    rows.push(await run(dir, 'rsa-2048', false));
    rows.push(await run(dir, 'ecdsa-p256', false));
  }
  rows.push(await run(dir, 'ecdsa-p256', true));
  console.log(`identity handshake bench: ${N} sequential mTLS handshakes per row, Node ${process.version}`);
  console.log('row                    handshakes/s   mean ms   CPU µs/handshake (both ends)');
  for (const r of rows) {
    console.log(`${r.name.padEnd(22)} ${r.perSec.toFixed(0).padStart(12)} ${r.meanMs.toFixed(3).padStart(9)} ${r.cpuUs.toFixed(0).padStart(10)}`);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
